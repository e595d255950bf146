//! One interval's state, sharded by key hash so receive threads rarely
//! meet on a lock and a flush holds each lock only briefly.
//!
//! Apply rules follow Etsy StatsD's `stats.js` exactly (counter `+= v/rate`
//! with a NaN reset, gauge delta only onto a non-zero value, set members as
//! text). A flush *takes* the counters, timers and sets maps of a shard and,
//! under the same lock, puts the kept keys back with reset values unless the
//! `delete_*` settings say otherwise; gauges carry over, so they are copied.
//! The points are computed outside the lock.
//!
//! `max_keys` is exact: the key count only changes under a shard's lock
//! together with its maps (a new key reserves its place before it is
//! inserted; a flush releases only the keys it deletes), so no interleaving
//! of receivers and flushes lets one key more in. The daemon's own keys
//! (`bad_lines_seen`, `timestamp_lag`, ...) are outside the limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::hdr::{HdrSpec, HdrTimer, TimerMode};
use crate::idle::IdleFlushes;
use crate::key::Key;
use crate::keymap::key_hash;
use crate::sample::Sample;

/// A timer's interval: the raw values and the rate-weighted count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimerState {
    /// Every value received (exact percentiles need them all); in hdr mode
    /// only until the key switches to its histogram.
    pub values: Vec<f64>,
    /// Σ 1/rate.
    pub count: f64,
    /// hdr mode, past `hdr_exact_values`: the values are in here instead
    /// (boxed: exact-mode keys pay one pointer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdr: Option<Box<HdrTimer>>,
}

impl TimerState {
    /// Values held in `values` (what `max_timer_values` limits).
    pub fn held(&self) -> usize {
        self.values.len()
    }

    /// Moves the held values into a new histogram of `spec`; false (and
    /// nothing changed) if the histogram cannot be built.
    fn switch_to_hdr(&mut self, spec: HdrSpec) -> bool {
        let Some(mut h) = HdrTimer::new(spec) else {
            return false;
        };
        for v in self.values.drain(..) {
            h.record(v);
        }
        self.values = Vec::new();
        self.hdr = Some(Box::new(h));
        true
    }

    /// Adds `other`'s interval (a restored state file) to this one.
    fn merge(&mut self, other: TimerState) {
        self.count += other.count;
        match (self.hdr.as_deref_mut(), other.hdr) {
            (Some(h), Some(o)) => {
                h.merge(&o);
                other.values.iter().for_each(|v| h.record(*v));
            }
            (Some(h), None) => other.values.iter().for_each(|v| h.record(*v)),
            (None, Some(mut o)) => {
                self.values.drain(..).for_each(|v| o.record(v));
                other.values.iter().for_each(|v| o.record(*v));
                self.values = Vec::new();
                self.hdr = Some(o);
            }
            (None, None) => self.values.extend(other.values),
        }
    }
}

/// A gauge's value and, with `delete_gauges`, the flushes it has left.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GaugeState {
    /// Current value.
    pub value: f64,
    /// Remaining flushes before deletion; None = never deleted.
    pub ttl: Option<u32>,
}

/// Hashing of set members: foldhash, seeded per process (SipHash was
/// about a tenth of the per-metric cost; the storage crate hashes names the
/// same way). Keys are hashed by [`key_hash`].
pub type KeyHasher = foldhash::fast::RandomState;

pub use crate::keymap::KeyMap;

/// A set's members.
pub type MemberSet = hashbrown::HashSet<Key, KeyHasher>;

/// The maps of one shard.
#[derive(Debug, Default)]
pub struct Shard {
    /// Counter totals of the open interval.
    pub counters: KeyMap<f64>,
    /// Timer values of the open interval.
    pub timers: KeyMap<TimerState>,
    /// Gauges (carried across intervals).
    pub gauges: KeyMap<GaugeState>,
    /// Set members of the open interval.
    pub sets: KeyMap<MemberSet>,
    /// Idle runs of kept counters, timers and sets (`idle_zero_flushes`).
    idle: [IdleFlushes; 3],
}

impl Shard {
    /// Starts loading the slot a sample of the key with this [`key_hash`]
    /// will change ([`KeyMap::prefetch`]): a receive batch prefetches all
    /// its samples of a shard, then applies them.
    pub fn prefetch(&self, hash: u64, sample: &Sample<'_>) {
        match sample {
            Sample::Counter { .. } => self.counters.prefetch(hash),
            Sample::Timer { .. } => self.timers.prefetch(hash),
            Sample::Gauge { .. } => self.gauges.prefetch(hash),
            Sample::Set { .. } => self.sets.prefetch(hash),
        }
    }

    fn len(&self) -> usize {
        self.counters.len() + self.timers.len() + self.gauges.len() + self.sets.len()
    }
}

/// Indexes of [`Shard`]'s idle runs: counters, timers, sets.
const IDLE_SLOTS: [usize; 3] = [0, 1, 2];

/// What became of one applied sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Aggregated.
    Ok,
    /// Dropped: a new key while `max_keys` keys are held.
    KeyLimit,
    /// Dropped: `max_timer_values` timer values are held this interval.
    TimerLimit,
}

/// What a flush took out of one shard.
#[derive(Debug, Default)]
pub struct Taken {
    /// Counters of the interval.
    pub counters: KeyMap<f64>,
    /// Timers of the interval.
    pub timers: KeyMap<TimerState>,
    /// Gauge values at the flush.
    pub gauges: Vec<(Key, f64)>,
    /// Sets of the interval.
    pub sets: KeyMap<MemberSet>,
}

/// Reset rules applied after a flush.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResetRules {
    /// `delete_counters`.
    pub delete_counters: bool,
    /// `delete_timers`.
    pub delete_timers: bool,
    /// `delete_sets`.
    pub delete_sets: bool,
    /// `delete_gauges`.
    pub delete_gauges: bool,
    /// `idle_zero_flushes`: kept keys idle this many flushes in a row go
    /// (0 = never).
    pub idle_zero_flushes: u32,
}

/// All shards plus the limits.
#[derive(Debug)]
pub struct Buckets {
    shards: Box<[Mutex<Shard>]>,
    /// User keys held (the daemon's own are in `internal`).
    keys: AtomicUsize,
    /// The daemon's own keys held: they never count against `max_keys`.
    internal: AtomicUsize,
    timer_values: AtomicUsize,
    max_keys: usize,
    max_timer_values: usize,
    delete_gauges_ttl: Option<u32>,
    timer_mode: TimerMode,
}

/// Counter keys the reference never deletes (a substring test, so user keys
/// containing them are kept too).
pub const INTERNAL_COUNTER_MARKERS: [&str; 3] =
    ["packets_received", "metrics_received", "bad_lines_seen"];

impl Buckets {
    /// `shards` empty shards; `gauge_ttl` is `Some(gauges_max_ttl)` when
    /// gauges are deleted when idle.
    pub fn new(
        shards: usize,
        max_keys: usize,
        max_timer_values: usize,
        gauge_ttl: Option<u32>,
    ) -> Self {
        Buckets {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Shard::default()))
                .collect(),
            keys: AtomicUsize::new(0),
            internal: AtomicUsize::new(0),
            timer_values: AtomicUsize::new(0),
            max_keys,
            max_timer_values,
            delete_gauges_ttl: gauge_ttl,
            timer_mode: TimerMode::Exact,
        }
    }

    /// Keeps timers as `mode` says (default [`TimerMode::Exact`]).
    pub fn with_timer_mode(mut self, mode: TimerMode) -> Self {
        self.timer_mode = mode;
        self
    }

    fn reserve_timer_value(&self) -> bool {
        if self.timer_values.fetch_add(1, Ordering::Relaxed) >= self.max_timer_values {
            self.timer_values.fetch_sub(1, Ordering::Relaxed);
            false
        } else {
            true
        }
    }

    /// In hdr mode, moves a timer past `exact_values` held values into its
    /// histogram, releasing them from the `max_timer_values` count.
    fn maybe_switch(&self, t: &mut TimerState) {
        if let TimerMode::Hdr { spec, exact_values } = self.timer_mode {
            let held = t.held();
            if t.hdr.is_none() && held > exact_values && t.switch_to_hdr(spec) {
                self.timer_values.fetch_sub(held, Ordering::Relaxed);
            }
        }
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub(crate) fn shard_of(&self, key: &str) -> usize {
        self.shard_of_hash(key_hash(key))
    }

    /// The shard of a key with this [`key_hash`]: from the hash's upper
    /// half, since a shard's table picks slots with its lowest bits.
    pub(crate) fn shard_of_hash(&self, hash: u64) -> usize {
        ((hash >> 32) as usize) % self.shards.len()
    }

    /// Locks shard `i`; a poisoned lock (a panicked holder) is taken over,
    /// since the maps stay structurally valid.
    pub fn lock(&self, i: usize) -> MutexGuard<'_, Shard> {
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Locks the shard that owns `key`.
    pub fn lock_key(&self, key: &str) -> MutexGuard<'_, Shard> {
        self.lock(self.shard_of(key))
    }

    /// Reserves a place for a new key; false when `max_keys` are held.
    /// Never lets the count past the limit, even for a moment, so two
    /// receivers racing for the last place cannot both get it.
    fn new_key_allowed(&self) -> bool {
        self.keys
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max_keys).then_some(n + 1)
            })
            .is_ok()
    }

    /// Applies one sample of `key`.
    pub fn apply(&self, key: &str, sample: &Sample<'_>) -> Applied {
        let hash = key_hash(key);
        let mut shard = self.lock(self.shard_of_hash(hash));
        self.apply_locked(&mut shard, hash, key, sample)
    }

    /// [`Buckets::apply`] on an already locked shard (which must own `key`),
    /// `hash` being `key`'s [`key_hash`].
    pub fn apply_locked(
        &self,
        shard: &mut Shard,
        hash: u64,
        key: &str,
        sample: &Sample<'_>,
    ) -> Applied {
        match *sample {
            Sample::Counter { value, rate } => {
                let add = value * (1.0 / rate);
                if let Some(c) = shard.counters.get_mut_hashed(hash, key) {
                    if c.is_nan() {
                        *c = 0.0;
                    }
                    *c += add;
                } else {
                    if !self.new_key_allowed() {
                        return Applied::KeyLimit;
                    }
                    shard.counters.insert_hashed(hash, key.into(), add);
                }
            }
            Sample::Timer { value, rate } => {
                if let Some(t) = shard.timers.get_mut_hashed(hash, key) {
                    if let Some(h) = t.hdr.as_deref_mut() {
                        // The histogram has a fixed size: no value limit.
                        h.record(value);
                        t.count += 1.0 / rate;
                        return Applied::Ok;
                    }
                    if !self.reserve_timer_value() {
                        return Applied::TimerLimit;
                    }
                    t.values.push(value);
                    t.count += 1.0 / rate;
                    self.maybe_switch(t);
                } else {
                    if !self.reserve_timer_value() {
                        return Applied::TimerLimit;
                    }
                    if !self.new_key_allowed() {
                        self.timer_values.fetch_sub(1, Ordering::Relaxed);
                        return Applied::KeyLimit;
                    }
                    let mut t = TimerState {
                        values: vec![value],
                        count: 1.0 / rate,
                        hdr: None,
                    };
                    self.maybe_switch(&mut t);
                    shard.timers.insert_hashed(hash, key.into(), t);
                }
            }
            Sample::Gauge { value, delta } => {
                let ttl = self.delete_gauges_ttl;
                if let Some(g) = shard.gauges.get_mut_hashed(hash, key) {
                    // JS truthiness: 0 and NaN are false.
                    if delta && g.value != 0.0 && !g.value.is_nan() {
                        g.value += value;
                    } else {
                        g.value = value;
                    }
                    if ttl.is_some() {
                        g.ttl = ttl;
                    }
                } else {
                    if !self.new_key_allowed() {
                        return Applied::KeyLimit;
                    }
                    shard
                        .gauges
                        .insert_hashed(hash, key.into(), GaugeState { value, ttl });
                }
            }
            Sample::Set { member } => {
                if let Some(s) = shard.sets.get_mut_hashed(hash, key) {
                    // One hash and one probe, and a key made only when new.
                    s.get_or_insert_with(member, |m| Key::from(m));
                } else {
                    if !self.new_key_allowed() {
                        return Applied::KeyLimit;
                    }
                    let mut s = MemberSet::default();
                    s.insert(member.into());
                    shard.sets.insert_hashed(hash, key.into(), s);
                }
            }
        }
        Applied::Ok
    }

    /// Adds `value` to counter `key`, creating it without the key limit:
    /// the daemon's own counters (`internal`, kept outside `max_keys`) and
    /// counters restored from the state file (counted by
    /// [`Buckets::recount`]).
    pub fn add_counter(&self, key: &str, value: f64, internal: bool) {
        let mut shard = self.lock_key(key);
        match shard.counters.get_mut(key) {
            Some(c) => {
                if c.is_nan() {
                    *c = 0.0;
                }
                *c += value;
            }
            None => {
                self.count_created(internal);
                shard.counters.insert(key.into(), value);
            }
        }
    }

    fn count_created(&self, internal: bool) {
        let count = if internal { &self.internal } else { &self.keys };
        count.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the daemon's gauge `key` without a TTL (`timestamp_lag`),
    /// outside the key limit.
    pub fn set_internal_gauge(&self, key: &str, value: f64) {
        let mut shard = self.lock_key(key);
        match shard.gauges.get_mut(key) {
            Some(g) => g.value = value,
            None => {
                self.count_created(true);
                shard
                    .gauges
                    .insert(key.into(), GaugeState { value, ttl: None });
            }
        }
    }

    /// Takes shard `i`'s interval for a flush, applying the gauge TTL rule,
    /// and in the same locked step puts the kept keys back reset, as the
    /// reference resets them (counters 0, timers and sets empty) unless
    /// deleted. Done under one lock so the key count never lags the maps: a
    /// key taken out and put back later could otherwise be replaced by a
    /// new one meanwhile and push the count past `max_keys`.
    pub fn take(&self, i: usize, rules: &ResetRules) -> Taken {
        let mut shard = self.lock(i);
        let before = shard.len();
        let counters = std::mem::take(&mut shard.counters);
        let timers = std::mem::take(&mut shard.timers);
        let sets = std::mem::take(&mut shard.sets);
        let gauges: Vec<(Key, f64)> = shard
            .gauges
            .iter()
            .map(|(k, g)| (k.clone(), g.value))
            .collect();
        if rules.delete_gauges {
            shard.gauges.retain(|_, g| match g.ttl.as_mut() {
                None => true,
                Some(t) => {
                    *t = t.saturating_sub(1);
                    *t >= 1
                }
            });
        }
        let limit = rules.idle_zero_flushes;
        let [idle_counters, idle_timers, idle_sets] = IDLE_SLOTS;
        shard.counters.reserve(counters.len());
        for (k, v) in &counters {
            let internal = INTERNAL_COUNTER_MARKERS.iter().any(|m| k.contains(m));
            if internal
                || (!rules.delete_counters && shard.idle[idle_counters].keep(k, *v == 0.0, limit))
            {
                shard.counters.insert(k.clone(), 0.0);
            }
        }
        if !rules.delete_timers {
            shard.timers.reserve(timers.len());
            for (k, t) in &timers {
                let idle = t.count == 0.0 && t.values.is_empty() && t.hdr.is_none();
                if shard.idle[idle_timers].keep(k, idle, limit) {
                    shard.timers.insert(k.clone(), TimerState::default());
                }
            }
        }
        if !rules.delete_sets {
            shard.sets.reserve(sets.len());
            for (k, members) in &sets {
                if shard.idle[idle_sets].keep(k, members.is_empty(), limit) {
                    shard.sets.insert(k.clone(), MemberSet::default());
                }
            }
        }
        let removed = before - shard.len();
        drop(shard);
        // the daemon's keys are never deleted: what went is user keys
        self.keys.fetch_sub(removed, Ordering::Relaxed);
        let values: usize = timers.values().map(TimerState::held).sum();
        self.timer_values.fetch_sub(values, Ordering::Relaxed);
        Taken {
            counters,
            timers,
            gauges,
            sets,
        }
    }

    /// Removes `key` of one kind (admin `del*`); true if it was there.
    pub fn remove(&self, kind: Kind, key: &str) -> bool {
        let mut shard = self.lock_key(key);
        let [idle_counters, idle_timers, idle_sets] = IDLE_SLOTS;
        match kind {
            Kind::Counter => shard.idle[idle_counters].forget(key),
            Kind::Timer => shard.idle[idle_timers].forget(key),
            Kind::Set => shard.idle[idle_sets].forget(key),
            Kind::Gauge => {}
        }
        let gone = match kind {
            Kind::Counter => shard.counters.remove(key).is_some(),
            Kind::Timer => match shard.timers.remove(key) {
                Some(t) => {
                    self.timer_values.fetch_sub(t.held(), Ordering::Relaxed);
                    true
                }
                None => false,
            },
            Kind::Gauge => shard.gauges.remove(key).is_some(),
            Kind::Set => shard.sets.remove(key).is_some(),
        };
        if gone {
            self.keys.fetch_sub(1, Ordering::Relaxed);
        }
        gone
    }

    /// Every key of one kind, sorted.
    pub fn keys_of(&self, kind: Kind) -> Vec<String> {
        let mut out = Vec::new();
        for i in 0..self.shards.len() {
            let shard = self.lock(i);
            match kind {
                Kind::Counter => out.extend(shard.counters.keys().map(|k| k.to_string())),
                Kind::Timer => out.extend(shard.timers.keys().map(|k| k.to_string())),
                Kind::Gauge => out.extend(shard.gauges.keys().map(|k| k.to_string())),
                Kind::Set => out.extend(shard.sets.keys().map(|k| k.to_string())),
            }
        }
        out.sort();
        out
    }

    /// Adds a saved timer interval to `key` (state file restore; bypasses
    /// the limits, [`Buckets::recount`] afterwards fixes the totals).
    pub fn merge_timer(&self, key: &str, saved: TimerState) {
        let mut shard = self.lock_key(key);
        let t = shard.timers.get_or_insert_default(key);
        t.merge(saved);
        if let TimerMode::Hdr { spec, exact_values } = self.timer_mode {
            if t.hdr.is_none() && t.held() > exact_values {
                t.switch_to_hdr(spec);
            }
        }
    }

    /// Recomputes the key and timer-value totals from the maps (after a
    /// bulk load that bypassed [`Buckets::apply`]; it may have held more
    /// keys than the limit, which then lets no new key in until flushes
    /// delete enough).
    pub fn recount(&self) {
        let (mut keys, mut values) = (0, 0);
        for i in 0..self.shards.len() {
            let shard = self.lock(i);
            keys += shard.len();
            values += shard.timers.values().map(TimerState::held).sum::<usize>();
        }
        let internal = self.internal.load(Ordering::Relaxed);
        self.keys
            .store(keys.saturating_sub(internal), Ordering::Relaxed);
        self.timer_values.store(values, Ordering::Relaxed);
    }

    /// Distinct user keys held now, all kinds (what `max_keys` limits).
    pub fn key_count(&self) -> usize {
        self.keys.load(Ordering::Relaxed)
    }
}

/// The four metric kinds, for admin commands and listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Counters.
    Counter,
    /// Timers.
    Timer,
    /// Gauges.
    Gauge,
    /// Sets.
    Set,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(value: f64, rate: f64) -> Sample<'static> {
        Sample::Counter { value, rate }
    }

    #[test]
    fn gauge_delta_only_onto_non_zero() {
        let b = Buckets::new(2, 100, 100, None);
        let g = |value, delta| Sample::Gauge { value, delta };
        b.apply("g", &g(-5.0, true));
        b.apply("g", &g(10.0, false));
        b.apply("g", &g(-5.0, true));
        let t = b.take(b.shard_of("g"), &ResetRules::default());
        assert_eq!(t.gauges, vec![("g".into(), 5.0)]);
        b.apply("z", &g(0.0, false));
        b.apply("z", &g(-5.0, true));
        let t = b.take(b.shard_of("z"), &ResetRules::default());
        assert!(t.gauges.contains(&("z".into(), -5.0)));
    }

    #[test]
    fn counters_multiply_by_reciprocal_rate() {
        let b = Buckets::new(1, 100, 100, None);
        b.apply("c", &counter(1.0, 0.1));
        b.apply("c", &counter(1.0, 2.0));
        let t = b.take(0, &ResetRules::default());
        assert_eq!(t.counters["c"], 1.0 * (1.0 / 0.1) + 0.5);
    }

    #[test]
    fn key_limit_counts_new_keys_only() {
        let b = Buckets::new(4, 2, 100, None);
        assert_eq!(b.apply("a", &counter(1.0, 1.0)), Applied::Ok);
        assert_eq!(b.apply("b", &counter(1.0, 1.0)), Applied::Ok);
        assert_eq!(b.apply("c", &counter(1.0, 1.0)), Applied::KeyLimit);
        assert_eq!(b.apply("a", &counter(1.0, 1.0)), Applied::Ok);
        assert_eq!(b.key_count(), 2);
    }

    /// Receivers racing each other and a flusher for the last places never
    /// get one key past `max_keys` (56,205 keys got into 50,000 when a
    /// flush took keys out and put them back later).
    #[test]
    fn key_limit_is_exact_under_concurrent_flushes() {
        const MAX: usize = 500;
        let b = Buckets::new(8, MAX, 100_000, None);
        let stop = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for t in 0..3 {
                let b = &b;
                scope.spawn(move || {
                    for i in 0..20_000 {
                        b.apply(&format!("k{t}.{i}"), &counter(1.0, 1.0));
                    }
                });
            }
            scope.spawn(|| {
                while stop.load(Ordering::Relaxed) == 0 {
                    let mut held = 0;
                    for i in 0..b.shard_count() {
                        held += b.take(i, &ResetRules::default()).counters.len();
                    }
                    assert!(held <= MAX, "{held} keys flushed");
                    assert!(b.key_count() <= MAX);
                }
            });
            std::thread::sleep(std::time::Duration::from_millis(200));
            stop.store(1, Ordering::Relaxed);
        });
        let held: usize = (0..b.shard_count()).map(|i| b.lock(i).len()).sum();
        assert_eq!((held, b.key_count()), (MAX, MAX));
    }

    #[test]
    fn restore_keeps_or_deletes_as_configured() {
        let b = Buckets::new(1, 100, 100, None);
        b.apply("c", &counter(1.0, 1.0));
        b.add_counter("statsd.bad_lines_seen", 0.0, true);
        let rules = ResetRules {
            delete_counters: true,
            ..ResetRules::default()
        };
        b.take(0, &rules);
        assert_eq!(b.keys_of(Kind::Counter), vec!["statsd.bad_lines_seen"]);
        // the daemon's own counter is outside the limit's count
        assert_eq!(b.key_count(), 0);
    }

    #[test]
    fn idle_keys_go_after_idle_zero_flushes_and_free_their_place() {
        let b = Buckets::new(1, 100, 100, None);
        let rules = ResetRules {
            idle_zero_flushes: 2,
            ..ResetRules::default()
        };
        b.apply("c", &counter(1.0, 1.0));
        b.apply(
            "t",
            &Sample::Timer {
                value: 5.0,
                rate: 1.0,
            },
        );
        b.apply("busy", &counter(1.0, 1.0));
        b.take(0, &rules); // the interval with samples: all kept
        assert_eq!(b.key_count(), 3);
        b.apply("busy", &counter(1.0, 1.0));
        b.take(0, &rules); // first idle flush: zeros sent, kept
        assert_eq!(b.key_count(), 3);
        b.apply("busy", &counter(1.0, 1.0));
        let taken = b.take(0, &rules); // second idle flush: zeros sent, then gone
        assert_eq!(taken.counters.get("c"), Some(&0.0));
        assert_eq!(taken.timers.get("t").map(|t| t.count), Some(0.0));
        assert_eq!(b.keys_of(Kind::Counter), vec!["busy"]);
        assert!(b.keys_of(Kind::Timer).is_empty());
        assert_eq!(b.key_count(), 1);
        // its next sample brings it back as a new key
        b.apply("c", &counter(2.0, 1.0));
        assert_eq!(b.take(0, &rules).counters.get("c"), Some(&2.0));
    }

    #[test]
    fn hdr_mode_switches_past_exact_values_and_frees_the_value_budget() {
        let spec = HdrSpec::new(3, 0.001, 1000.0).unwrap();
        let b = Buckets::new(1, 100, 3, None).with_timer_mode(TimerMode::Hdr {
            spec,
            exact_values: 2,
        });
        let timer = |value| Sample::Timer { value, rate: 0.5 };
        assert_eq!(b.apply("t", &timer(1.0)), Applied::Ok);
        assert_eq!(b.apply("t", &timer(2.0)), Applied::Ok);
        assert_eq!(b.lock(0).timers["t"].held(), 2);
        assert_eq!(b.apply("t", &timer(3.0)), Applied::Ok);
        {
            let shard = b.lock(0);
            let t = &shard.timers["t"];
            assert_eq!((t.held(), t.count), (0, 6.0));
            assert_eq!(t.hdr.as_ref().map(|h| h.len()), Some(3));
        }
        // The histogram is not limited by max_timer_values (3): the budget
        // is free for other keys' held values.
        for v in 0..100 {
            assert_eq!(b.apply("t", &timer(f64::from(v))), Applied::Ok);
        }
        for k in ["u", "v", "w"] {
            assert_eq!(b.apply(k, &timer(1.0)), Applied::Ok);
        }
        assert_eq!(b.apply("x", &timer(1.0)), Applied::TimerLimit);
        let t = b.take(0, &ResetRules::default());
        assert_eq!(t.timers["t"].hdr.as_ref().map(|h| h.len()), Some(103));
        // After the flush the key starts exact again, the budget is whole.
        assert_eq!(b.lock(0).timers["t"], TimerState::default());
        for k in ["a", "b", "c"] {
            assert_eq!(b.apply(k, &timer(1.0)), Applied::Ok);
        }
    }

    #[test]
    fn merged_timers_keep_every_value() {
        let spec = HdrSpec::new(3, 0.001, 1000.0).unwrap();
        let b = Buckets::new(1, 100, 100, None).with_timer_mode(TimerMode::Hdr {
            spec,
            exact_values: 4,
        });
        let mut saved = TimerState {
            values: vec![1.0, 2.0, 3.0],
            count: 3.0,
            hdr: None,
        };
        b.merge_timer("t", saved.clone());
        assert_eq!(b.lock(0).timers["t"], saved);
        // Exact + exact past the threshold: switched.
        b.merge_timer("t", saved.clone());
        saved.switch_to_hdr(spec);
        // hdr + hdr, and exact + hdr.
        b.merge_timer("t", saved.clone());
        b.merge_timer("u", TimerState::default());
        b.apply(
            "u",
            &Sample::Timer {
                value: 9.0,
                rate: 1.0,
            },
        );
        b.merge_timer("u", saved);
        let shard = b.lock(0);
        let t = shard.timers["t"].hdr.as_ref().unwrap();
        assert_eq!((t.len(), t.sum(), shard.timers["t"].count), (9, 18.0, 9.0));
        let u = shard.timers["u"].hdr.as_ref().unwrap();
        assert_eq!((u.len(), u.min(), u.max()), (4, 1.0, 9.0));
    }
}
