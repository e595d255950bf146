//! The sharded, size-bounded point cache between ingest and the Whisper
//! writers.
//!
//! Each metric has a *queued* list (received, not yet taken by a writer) and
//! an *in-flight* list (taken by a writer, not yet confirmed on disk). Both
//! stay visible to reads, so a point can be queried as soon as it is
//! received. A point for a timestamp already queued replaces the value
//! without growing the cache (carbon: last received wins). The limit counts
//! queued plus in-flight points; what does not fit is refused and counted by
//! the caller, never dropped silently.
//!
//! Names are shared (`Arc<str>`) between the cache and the writers' work
//! lists, and both lists of a metric live in one slot of its shard. Ingest
//! adds a batch as runs of one metric's points, one hash and one lookup per
//! run; writers address slots directly and take and confirm many metrics of
//! a shard under one lock. Nothing on these paths copies a name.
//!
//! An entry whose points are all on disk stays for [`IDLE_TTL`] as an *idle*
//! entry without buffers: a metric reported every interval then finds its
//! entry at once, skipping the index lookup and the name allocation a new
//! entry costs. Idle entries are bounded (a tenth of the point limit) and
//! swept by the writers.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::api::MetricPoint;

/// One metric's points: `(timestamp, value)`.
pub type Points = Vec<(i64, f64)>;

type NameHasher = foldhash::fast::RandomState;

/// Consecutive points of one metric, as [`Cache::add`] takes them: one
/// name lookup serves them all.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Run<'a> {
    /// The metric's stored name.
    pub name: &'a str,
    /// Its points in arrival order (their own names are not read).
    pub points: &'a [MetricPoint],
}

/// A batch as runs of consecutive points with the same name: clients and
/// relays send a metric's points together.
pub fn runs(points: &[MetricPoint]) -> impl Iterator<Item = Run<'_>> {
    points.chunk_by(|a, b| a.name == b.name).map(|chunk| Run {
        name: &chunk[0].name,
        points: chunk,
    })
}

/// How long an emptied entry is kept for its metric's next points.
pub const IDLE_TTL: Duration = Duration::from_secs(60);

/// `Entry::idle_since` of an entry holding points.
const BUSY: u32 = u32::MAX;

struct Entry {
    /// Seconds on the cache's clock when the entry became empty, or [`BUSY`].
    idle_since: u32,
    queued: Points,
    /// Newest timestamp in `queued`: a point newer than it cannot replace a
    /// queued one, so in-order arrivals append without scanning the list.
    queued_newest: i64,
    inflight: Points,
}

impl Entry {
    fn new() -> Entry {
        Entry {
            idle_since: BUSY,
            queued: Vec::new(),
            queued_newest: i64::MIN,
            inflight: Vec::new(),
        }
    }

    /// Inserts or replaces a queued point; returns true if the list grew.
    fn queue(&mut self, ts: i64, value: f64) -> bool {
        if ts > self.queued_newest {
            self.queued_newest = ts;
            self.queued.push((ts, value));
            return true;
        }
        upsert(&mut self.queued, ts, value)
    }

    /// Whether a point at `ts` would replace a queued one.
    fn replaces(&self, ts: i64) -> bool {
        ts <= self.queued_newest && self.queued.iter().any(|p| p.0 == ts)
    }

    fn set_queued(&mut self, points: Points) {
        self.queued_newest = points.iter().map(|p| p.0).max().unwrap_or(i64::MIN);
        self.queued = points;
    }

    fn is_empty(&self) -> bool {
        self.queued.is_empty() && self.inflight.is_empty()
    }
}

/// A metric's entry as a writer found it in a scan: its shard, its slot
/// there and its name. Writers address entries (and their own mapped files)
/// by slot, so a write touches neither the name nor a hash table; the name
/// (compared by pointer) tells a slot reused for another metric meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricRef {
    /// The cache shard.
    pub shard: usize,
    /// The entry's slot in its shard.
    pub slot: u32,
    /// The metric.
    pub name: Arc<str>,
}

struct Slot {
    /// `None` while the slot is free.
    name: Option<Arc<str>>,
    /// Whether the slot is in [`Shard::listed`]. It survives the slot's
    /// reuse for another metric, as the list entry does.
    listed: bool,
    entry: Entry,
}

struct Shard {
    slot_of: HashMap<Arc<str>, u32, NameHasher>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Slots that may have queued points, each once: a writer's scan visits
    /// these instead of every slot, so with many idle entries a scan costs
    /// what is queued, not what is cached.
    listed: Vec<u32>,
    /// When the idle entries were last swept (seconds on the cache's clock).
    swept: u32,
}

impl Shard {
    fn entry(&self, name: &str) -> Option<&Entry> {
        let slot = *self.slot_of.get(name)?;
        Some(&self.slots[slot as usize].entry)
    }

    /// The entry `metric` points at, unless its slot now holds another.
    fn entry_at(&mut self, metric: &MetricRef) -> Option<&mut Entry> {
        let slot = self.slots.get_mut(metric.slot as usize)?;
        match &slot.name {
            Some(name) if Arc::ptr_eq(name, &metric.name) => Some(&mut slot.entry),
            _ => None,
        }
    }

    fn insert(&mut self, name: Arc<str>, entry: Entry) -> u32 {
        let slot = match self.free.pop() {
            Some(free) => {
                let reused = &mut self.slots[free as usize];
                reused.name = Some(Arc::clone(&name));
                reused.entry = entry;
                free
            }
            None => {
                self.slots.push(Slot {
                    name: Some(Arc::clone(&name)),
                    listed: false,
                    entry,
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.slot_of.insert(name, slot);
        slot
    }

    fn remove(&mut self, slot: u32) {
        if let Some(name) = self.slots[slot as usize].name.take() {
            self.slot_of.remove(&name);
            self.slots[slot as usize].entry = Entry::new();
            self.free.push(slot);
        }
    }

    /// Records that `slot` has queued points.
    fn list(&mut self, slot: u32) {
        let s = &mut self.slots[slot as usize];
        if !s.listed {
            s.listed = true;
            self.listed.push(slot);
        }
    }

    fn live(&self) -> impl Iterator<Item = (u32, &Arc<str>, &Entry)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.name.as_ref().map(|n| (i as u32, n, &s.entry)))
    }
}

/// What [`Cache::add`] did with a batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Added {
    /// Points that grew the cache (a replaced timestamp does not).
    pub grew: usize,
    /// Points refused because the cache was full.
    pub refused: usize,
}

/// Whose room a batch of [`Cache::add`] uses.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// Refuse what does not fit under the cache's limit.
    Limited,
    /// Room was taken beforehand with [`Cache::reserve`]: refuse nothing.
    Reserved,
}

/// Makes [`Cache::add`] take only names already cached or for which
/// `is_known` says yes; other runs go to `out`, untouched, for the caller
/// to normalise and index before adding them again.
pub struct Unknown<'a, 'p> {
    /// Whether a name not in the cache is a stored, indexed name.
    pub is_known: &'a dyn Fn(&str) -> bool,
    /// Where the other runs go.
    pub out: &'a mut Vec<Run<'p>>,
}

/// The cache.
///
/// Shards and the counters written on every batch or write each have their
/// own cache line: shared, the ingest thread and every writer kept stealing
/// the line from one another (a third of a confirm went to it).
pub struct Cache {
    shards: Vec<CachePadded<Mutex<Shard>>>,
    hasher: NameHasher,
    size: CachePadded<AtomicUsize>,
    max_points: usize,
    idle: CachePadded<AtomicUsize>,
    max_idle: usize,
    clock: Instant,
    /// Seconds on `clock`, as of the writers' last scan: confirms, one per
    /// write, read this instead of the clock.
    scanned_at: CachePadded<AtomicU32>,
    /// Points arrived since a writer last looked: lets [`Cache::notify`]
    /// skip the condition variable while writers are busy anyway.
    pending: CachePadded<AtomicBool>,
    wake: (Mutex<()>, Condvar),
}

/// Inserts or replaces `(ts, value)` in `points`; returns true if it grew.
fn upsert(points: &mut Points, ts: i64, value: f64) -> bool {
    // recent timestamps are usually at the end
    if let Some(p) = points.iter_mut().rev().find(|p| p.0 == ts) {
        p.1 = value;
        false
    } else {
        points.push((ts, value));
        true
    }
}

impl Cache {
    /// A cache of `shards` shards holding at most `max_points` points.
    pub fn new(shards: usize, max_points: usize) -> Cache {
        let hasher = NameHasher::default();
        Cache {
            shards: (0..shards.max(1))
                .map(|_| {
                    CachePadded::new(Mutex::new(Shard {
                        slot_of: HashMap::with_hasher(hasher.clone()),
                        slots: Vec::new(),
                        free: Vec::new(),
                        listed: Vec::new(),
                        swept: 0,
                    }))
                })
                .collect(),
            hasher,
            size: CachePadded::new(AtomicUsize::new(0)),
            max_points,
            idle: CachePadded::new(AtomicUsize::new(0)),
            max_idle: max_points / 10,
            clock: Instant::now(),
            scanned_at: CachePadded::new(AtomicU32::new(0)),
            pending: CachePadded::new(AtomicBool::new(false)),
            wake: (Mutex::new(()), Condvar::new()),
        }
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The shard a name lives in.
    pub fn shard_of(&self, name: &str) -> usize {
        // the high bits: the map inside the shard uses the low ones
        ((self.hasher.hash_one(name) >> 32) % self.shards.len() as u64) as usize
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        self.shards[shard].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Points held (queued and in flight).
    pub fn size(&self) -> usize {
        self.size.load(Ordering::Relaxed)
    }

    /// The configured limit.
    pub fn max_points(&self) -> usize {
        self.max_points
    }

    /// Adds runs of points whose names all belong to `shard`, in the room
    /// `room` says; with `unknown`, only those of known names.
    pub fn add<'p>(
        &self,
        shard: usize,
        runs: &[Run<'p>],
        room: Room,
        mut unknown: Option<Unknown<'_, 'p>>,
    ) -> Added {
        let mut added = Added::default();
        let limited = room == Room::Limited;
        {
            let mut s = self.lock(shard);
            for run in runs {
                // The limit is read once per run: per point, the load
                // missed the cache line every writer's confirm writes.
                let mut room_left = if limited {
                    self.max_points
                        .saturating_sub(self.size.load(Ordering::Relaxed) + added.grew)
                } else {
                    usize::MAX
                };
                let slot = match s.slot_of.get(run.name) {
                    Some(&slot) => slot,
                    None => {
                        if let Some(u) = unknown.as_mut() {
                            if !(u.is_known)(run.name) {
                                u.out.push(*run);
                                continue;
                            }
                        }
                        if room_left == 0 {
                            added.refused += run.points.len();
                            continue;
                        }
                        s.insert(Arc::from(run.name), Entry::new())
                    }
                };
                let entry = &mut s.slots[slot as usize].entry;
                if entry.idle_since != BUSY {
                    if room_left == 0 {
                        added.refused += run.points.len();
                        continue;
                    }
                    entry.idle_since = BUSY;
                    self.idle.fetch_sub(1, Ordering::Relaxed);
                }
                entry.queued.reserve(run.points.len());
                for p in run.points {
                    if room_left == 0 && !entry.replaces(p.timestamp) {
                        added.refused += 1;
                    } else if entry.queue(p.timestamp, p.value) {
                        added.grew += 1;
                        room_left = room_left.saturating_sub(usize::from(limited));
                    }
                }
                if !entry.queued.is_empty() {
                    s.list(slot);
                }
            }
        }
        if limited && added.grew > 0 {
            self.size.fetch_add(added.grew, Ordering::Relaxed);
        }
        if added.grew > 0 {
            self.notify();
        }
        added
    }

    /// Reserves room for up to `n` new points while the cache holds fewer
    /// than `limit` (at most the cache's own limit) and returns how many
    /// slots were granted (0 when full). Flow-controlled producers reserve
    /// before they add, so a batch is taken whole or in part but never
    /// refused after the fact; what was not granted stays with the producer.
    pub fn reserve(&self, n: usize, limit: usize) -> usize {
        let limit = limit.min(self.max_points);
        let mut granted = 0;
        let _ = self
            .size
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |size| {
                granted = n.min(limit.saturating_sub(size));
                Some(size + granted)
            });
        granted
    }

    /// Gives back reserved slots that were not used (a point replacing a
    /// cached timestamp does not grow the cache).
    pub fn release(&self, n: usize) {
        if n > 0 {
            self.size.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// Wakes writers waiting for work.
    pub fn notify(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            // Taking the lock orders this after a writer's check of
            // `pending`: a writer about to wait is either already waiting
            // (and woken) or sees the flag.
            let _guard = self.wake.0.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.1.notify_all();
        }
    }

    /// Waits until points arrive or `timeout` passes; true if points
    /// arrived.
    pub fn wait(&self, timeout: Duration) -> bool {
        let guard = self.wake.0.lock().unwrap_or_else(|e| e.into_inner());
        if self.pending.swap(false, Ordering::AcqRel) {
            return true;
        }
        let _ = self.wake.1.wait_timeout(guard, timeout);
        self.pending.swap(false, Ordering::AcqRel)
    }

    /// Appends the queued metrics of `shard` with their point counts to
    /// `out`. Also sweeps the shard's expired idle entries, once a second.
    pub fn queued_counts_into(&self, shard: usize, out: &mut Vec<(MetricRef, usize)>) {
        let mut s = self.lock(shard);
        let now = self.seconds();
        self.scanned_at.store(now, Ordering::Relaxed);
        if now != s.swept {
            s.swept = now;
            let ttl = IDLE_TTL.as_secs() as u32;
            let expired: Vec<u32> = s
                .live()
                .filter(|(_, _, e)| e.idle_since != BUSY && now.saturating_sub(e.idle_since) >= ttl)
                .map(|(slot, _, _)| slot)
                .collect();
            for &slot in &expired {
                s.remove(slot);
            }
            self.idle.fetch_sub(expired.len(), Ordering::Relaxed);
        }
        let Shard { slots, listed, .. } = &mut *s;
        listed.retain(|&slot| {
            let s = &mut slots[slot as usize];
            match &s.name {
                Some(name) if !s.entry.queued.is_empty() => {
                    let metric = MetricRef {
                        shard,
                        slot,
                        name: Arc::clone(name),
                    };
                    out.push((metric, s.entry.queued.len()));
                    // listed until a scan finds it empty
                    true
                }
                _ => {
                    s.listed = false;
                    false
                }
            }
        });
    }

    /// The entry of a cached metric, as a writer's scan would find it.
    #[cfg(test)]
    pub fn lookup(&self, name: &str) -> Option<MetricRef> {
        let shard = self.shard_of(name);
        let s = self.lock(shard);
        let slot = *s.slot_of.get(name)?;
        let name = Arc::clone(s.slots[slot as usize].name.as_ref()?);
        Some(MetricRef { shard, slot, name })
    }

    /// Moves a metric's queued points in flight and copies them into `out`;
    /// false if nothing was queued.
    pub fn take_into(&self, metric: &MetricRef, out: &mut Points) -> bool {
        out.clear();
        let mut s = self.lock(metric.shard);
        let start = out.len();
        self.take_locked(&mut s, metric, out);
        out.len() > start
    }

    /// [`Cache::take_into`] for several metrics of `shard` under one lock:
    /// appends their points to `out` and, per metric, where its points end
    /// in `out` to `ends` (an empty range if nothing was queued).
    pub fn take_many<'m>(
        &self,
        shard: usize,
        metrics: impl IntoIterator<Item = &'m MetricRef>,
        out: &mut Points,
        ends: &mut Vec<usize>,
    ) {
        out.clear();
        ends.clear();
        let mut s = self.lock(shard);
        for metric in metrics {
            debug_assert_eq!(metric.shard, shard);
            self.take_locked(&mut s, metric, out);
            ends.push(out.len());
        }
    }

    fn take_locked(&self, s: &mut Shard, metric: &MetricRef, out: &mut Points) {
        let Some(entry) = s.entry_at(metric) else {
            return;
        };
        if entry.queued.is_empty() {
            return;
        }
        out.extend_from_slice(&entry.queued);
        if entry.inflight.is_empty() {
            std::mem::swap(&mut entry.inflight, &mut entry.queued);
        } else {
            let before = entry.inflight.len() + entry.queued.len();
            for (t, v) in entry.queued.drain(..) {
                upsert(&mut entry.inflight, t, v);
            }
            self.size
                .fetch_sub(before - entry.inflight.len(), Ordering::Relaxed);
        }
        entry.queued_newest = i64::MIN;
    }

    /// Moves a metric's queued points in flight and returns them.
    #[cfg(test)]
    fn take(&self, metric: &MetricRef) -> Option<Points> {
        let mut out = Vec::new();
        self.take_into(metric, &mut out).then_some(out)
    }

    /// The in-flight points are on disk: forget them.
    pub fn confirm(&self, metric: &MetricRef) {
        self.confirm_many(metric.shard, std::slice::from_ref(metric));
    }

    /// [`Cache::confirm`] for several metrics of `shard` under one lock,
    /// with one update of the shared counters: per metric, these cost more
    /// than the rest of the confirm.
    pub fn confirm_many<'m>(&self, shard: usize, metrics: impl IntoIterator<Item = &'m MetricRef>) {
        let mut s = self.lock(shard);
        let mut freed = 0;
        let idle_before = self.idle.load(Ordering::Relaxed);
        let mut went_idle = 0;
        let now = self.scanned_at.load(Ordering::Relaxed);
        for metric in metrics {
            debug_assert_eq!(metric.shard, shard);
            let Some(entry) = s.entry_at(metric) else {
                continue;
            };
            if entry.idle_since != BUSY {
                // confirmed before, nothing in flight
                continue;
            }
            freed += entry.inflight.len();
            if !entry.queued.is_empty() {
                entry.inflight.clear();
                continue;
            }
            if idle_before + went_idle >= self.max_idle {
                s.remove(metric.slot);
                continue;
            }
            // the buffers go: an idle entry costs its name and a slot
            entry.inflight = Vec::new();
            entry.queued = Vec::new();
            entry.idle_since = now;
            went_idle += 1;
        }
        drop(s);
        self.size.fetch_sub(freed, Ordering::Relaxed);
        if went_idle > 0 {
            self.idle.fetch_add(went_idle, Ordering::Relaxed);
        }
    }

    fn seconds(&self) -> u32 {
        // BUSY is never reached: 136 years
        u32::try_from(self.clock.elapsed().as_secs()).unwrap_or(BUSY - 1)
    }

    /// The write failed: queue the in-flight points again (points received
    /// meanwhile win on equal timestamps).
    pub fn put_back(&self, metric: &MetricRef) {
        let mut s = self.lock(metric.shard);
        let Some(entry) = s.entry_at(metric) else {
            return;
        };
        if entry.inflight.is_empty() {
            return;
        }
        let mut merged = std::mem::take(&mut entry.inflight);
        let before = merged.len() + entry.queued.len();
        for (t, v) in entry.queued.drain(..) {
            upsert(&mut merged, t, v);
        }
        self.size
            .fetch_sub(before - merged.len(), Ordering::Relaxed);
        entry.set_queued(merged);
        s.list(metric.slot);
    }

    /// Every point of `shard` not yet confirmed on disk (in flight, then
    /// queued), appended to `out`: what a journal checkpoint must keep.
    pub fn pending_into(&self, shard: usize, out: &mut Vec<MetricPoint>) {
        let s = self.lock(shard);
        for (_, name, entry) in s.live() {
            for &(t, v) in entry.inflight.iter().chain(&entry.queued) {
                out.push(MetricPoint::new(name.to_string(), t, v));
            }
        }
    }

    /// All cached points of a metric (in flight, overlaid by queued), sorted
    /// by timestamp.
    pub fn get(&self, name: &str) -> Points {
        let s = self.lock(self.shard_of(name));
        let Some(entry) = s.entry(name) else {
            return Vec::new();
        };
        let mut out = entry.inflight.clone();
        for &(t, v) in &entry.queued {
            upsert(&mut out, t, v);
        }
        out.sort_by_key(|p| p.0);
        out
    }

    /// Number of metrics with queued or in-flight points.
    pub fn metric_count(&self) -> usize {
        (0..self.shards.len())
            .map(|i| {
                self.lock(i)
                    .live()
                    .filter(|(_, _, e)| !e.is_empty())
                    .count()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(name: &str, list: &[(i64, f64)]) -> Vec<MetricPoint> {
        list.iter()
            .map(|&(t, v)| MetricPoint::new(name, t, v))
            .collect()
    }

    fn add<'p>(
        c: &Cache,
        shard: usize,
        points: &'p [MetricPoint],
        room: Room,
        unknown: Option<Unknown<'_, 'p>>,
    ) -> Added {
        c.add(shard, &runs(points).collect::<Vec<_>>(), room, unknown)
    }

    /// The points of `runs` as `(name, timestamp, value)`.
    fn flat(runs: &[Run<'_>]) -> Vec<(String, i64, f64)> {
        runs.iter()
            .flat_map(|r| {
                r.points
                    .iter()
                    .map(|p| (r.name.to_string(), p.timestamp, p.value))
            })
            .collect()
    }

    #[test]
    fn last_received_wins_and_limit_counts() {
        let c = Cache::new(4, 3);
        let s = c.shard_of("a");
        let added = add(
            &c,
            s,
            &pts("a", &[(10, 1.0), (10, 2.0), (20, 3.0)]),
            Room::Limited,
            None,
        );
        assert_eq!(
            added,
            Added {
                grew: 2,
                refused: 0
            }
        );
        assert_eq!(c.size(), 2);
        assert_eq!(c.get("a"), vec![(10, 2.0), (20, 3.0)]);
        let added = add(
            &c,
            s,
            &pts("a", &[(30, 1.0), (40, 1.0), (20, 9.0)]),
            Room::Limited,
            None,
        );
        assert_eq!(
            added,
            Added {
                grew: 1,
                refused: 1
            }
        );
        assert_eq!(c.size(), 3);
        assert_eq!(c.get("a"), vec![(10, 2.0), (20, 9.0), (30, 1.0)]);
    }

    #[test]
    fn out_of_order_points_replace_by_timestamp() {
        let c = Cache::new(1, 100);
        add(
            &c,
            0,
            &pts(
                "o",
                &[(30, 1.0), (10, 2.0), (20, 3.0), (10, 4.0), (30, 5.0)],
            ),
            Room::Limited,
            None,
        );
        assert_eq!(c.size(), 3);
        assert_eq!(c.get("o"), vec![(10, 4.0), (20, 3.0), (30, 5.0)]);
        assert!(c.take(&c.lookup("o").unwrap()).is_some());
        // after a take, the queue starts over: 10 is queued again, not lost
        add(&c, 0, &pts("o", &[(10, 6.0)]), Room::Limited, None);
        assert_eq!(c.get("o"), vec![(10, 6.0), (20, 3.0), (30, 5.0)]);
    }

    #[test]
    fn reservations_never_exceed_the_limit() {
        let c = Cache::new(2, 5);
        let s = c.shard_of("r");
        assert_eq!(c.reserve(3, 5), 3);
        let added = add(
            &c,
            s,
            &pts("r", &[(10, 1.0), (10, 2.0), (20, 3.0)]),
            Room::Reserved,
            None,
        );
        assert_eq!(added.grew, 2);
        c.release(3 - added.grew);
        assert_eq!(c.size(), 2);
        assert_eq!(c.reserve(10, 4), 2);
        c.release(2);
        assert_eq!(c.reserve(10, 99), 3);
        assert_eq!(c.reserve(1, 99), 0);
        // a plain add sees the reservation and refuses
        let q = c.shard_of("q");
        assert_eq!(
            add(&c, q, &pts("q", &[(1, 1.0)]), Room::Limited, None).refused,
            1
        );
        c.release(3);
        assert_eq!(c.size(), 2);
        assert_eq!(c.get("r"), vec![(10, 2.0), (20, 3.0)]);
    }

    #[test]
    fn unknown_names_are_handed_back_untouched() {
        let c = Cache::new(1, 100);
        add(&c, 0, &pts("cached", &[(1, 1.0)]), Room::Limited, None);
        let mut unknown = Vec::new();
        let is_known = |n: &str| n == "indexed";
        let mut batch = pts("cached", &[(2, 2.0)]);
        batch.extend(pts("indexed", &[(1, 1.0)]));
        batch.extend(pts("new", &[(1, 1.0), (2, 2.0)]));
        let added = add(
            &c,
            0,
            &batch,
            Room::Limited,
            Some(Unknown {
                is_known: &is_known,
                out: &mut unknown,
            }),
        );
        assert_eq!(
            added,
            Added {
                grew: 2,
                refused: 0
            }
        );
        assert_eq!(
            flat(&unknown),
            flat(&runs(&pts("new", &[(1, 1.0), (2, 2.0)])).collect::<Vec<_>>())
        );
        assert_eq!(c.metric_count(), 2);
    }

    #[test]
    fn in_flight_points_stay_visible_and_can_be_put_back() {
        let c = Cache::new(2, 100);
        let s = c.shard_of("m");
        add(
            &c,
            s,
            &pts("m", &[(10, 1.0), (20, 2.0)]),
            Room::Limited,
            None,
        );
        assert_eq!(c.take(&c.lookup("m").unwrap()).unwrap().len(), 2);
        add(
            &c,
            s,
            &pts("m", &[(20, 5.0), (30, 3.0)]),
            Room::Limited,
            None,
        );
        assert_eq!(c.get("m"), vec![(10, 1.0), (20, 5.0), (30, 3.0)]);
        assert_eq!(c.size(), 4);
        let mut work = Vec::new();
        c.queued_counts_into(s, &mut work);
        assert_eq!(work, vec![(c.lookup("m").unwrap(), 2)]);
        assert_eq!(work[0].0.shard, s);
        c.put_back(&c.lookup("m").unwrap());
        assert_eq!(c.size(), 3);
        assert_eq!(c.get("m"), vec![(10, 1.0), (20, 5.0), (30, 3.0)]);
        let taken = c.take(&c.lookup("m").unwrap()).unwrap();
        assert_eq!(taken.len(), 3);
        c.confirm(&c.lookup("m").unwrap());
        assert_eq!(c.size(), 0);
        assert!(c.get("m").is_empty());
        assert_eq!(c.metric_count(), 0);
    }

    #[test]
    fn emptied_entries_stay_known_up_to_a_bound() {
        // room for 20 points: at most 2 idle entries
        let c = Cache::new(1, 20);
        for name in ["a", "b", "c"] {
            add(&c, 0, &pts(name, &[(1, 1.0)]), Room::Limited, None);
            assert!(c.take(&c.lookup(name).unwrap()).is_some());
            c.confirm(&c.lookup(name).unwrap());
        }
        assert_eq!((c.size(), c.metric_count()), (0, 0));
        let mut unknown = Vec::new();
        let nothing_indexed = |_: &str| false;
        let mut batch = pts("a", &[(2, 2.0)]);
        batch.extend(pts("c", &[(2, 2.0)]));
        let added = add(
            &c,
            0,
            &batch,
            Room::Limited,
            Some(Unknown {
                is_known: &nothing_indexed,
                out: &mut unknown,
            }),
        );
        // "a" was kept idle; "c" came when two were idle and was dropped
        assert_eq!(added.grew, 1);
        assert_eq!(
            flat(&unknown),
            flat(&runs(&pts("c", &[(2, 2.0)])).collect::<Vec<_>>())
        );
        assert_eq!(c.get("a"), vec![(2, 2.0)]);
        assert_eq!(c.metric_count(), 1);
    }

    #[test]
    fn a_reused_slot_does_not_answer_for_its_old_metric() {
        // room for 10 points: one idle entry at most
        let c = Cache::new(1, 10);
        for name in ["a", "b"] {
            add(&c, 0, &pts(name, &[(1, 1.0)]), Room::Limited, None);
        }
        let (a, b) = (c.lookup("a").unwrap(), c.lookup("b").unwrap());
        for m in [&a, &b] {
            assert!(c.take(m).is_some());
            c.confirm(m);
        }
        // "a" stays idle, "b" was removed and its slot freed
        assert!(c.lookup("b").is_none());
        add(&c, 0, &pts("d", &[(1, 4.0)]), Room::Limited, None);
        let d = c.lookup("d").unwrap();
        assert_eq!(d.slot, b.slot);
        assert!(c.take(&b).is_none());
        c.confirm(&b);
        c.put_back(&b);
        assert_eq!(c.size(), 1);
        assert_eq!(c.take(&d), Some(vec![(1, 4.0)]));
    }

    #[test]
    fn batched_take_and_confirm_match_one_by_one() {
        let c = Cache::new(1, 100);
        add(&c, 0, &pts("a", &[(1, 1.0), (2, 2.0)]), Room::Limited, None);
        add(&c, 0, &pts("b", &[(1, 3.0)]), Room::Limited, None);
        add(&c, 0, &pts("idle", &[(1, 1.0)]), Room::Limited, None);
        let idle = c.lookup("idle").unwrap();
        assert!(c.take(&idle).is_some());
        c.confirm(&idle);
        let (a, b) = (c.lookup("a").unwrap(), c.lookup("b").unwrap());
        let (mut out, mut ends) = (Vec::new(), Vec::new());
        c.take_many(0, [&a, &idle, &b], &mut out, &mut ends);
        assert_eq!(out, vec![(1, 1.0), (2, 2.0), (1, 3.0)]);
        assert_eq!(ends, vec![2, 2, 3], "nothing queued: an empty range");
        assert_eq!(
            c.get("a"),
            vec![(1, 1.0), (2, 2.0)],
            "in flight, still read"
        );
        // a metric confirmed twice, or already idle, changes nothing more
        c.confirm_many(0, [&a, &b, &a, &idle]);
        assert_eq!((c.size(), c.metric_count()), (0, 0));
        assert_eq!(c.idle.load(Ordering::Relaxed), 3);
        // idle entries answer for their metrics at once
        add(&c, 0, &pts("a", &[(3, 1.0)]), Room::Limited, None);
        assert_eq!(c.lookup("a"), Some(a));
        assert_eq!(c.idle.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn scans_list_each_queued_metric_once() {
        let scan = |c: &Cache| {
            let mut work = Vec::new();
            c.queued_counts_into(0, &mut work);
            work.into_iter()
                .map(|(m, n)| (m.name.to_string(), n))
                .collect::<Vec<_>>()
        };
        // room for 10 points: one idle entry at most
        let c = Cache::new(1, 10);
        add(&c, 0, &pts("a", &[(1, 1.0)]), Room::Limited, None);
        add(&c, 0, &pts("a", &[(2, 1.0)]), Room::Limited, None);
        add(&c, 0, &pts("b", &[(1, 1.0)]), Room::Limited, None);
        assert_eq!(scan(&c), vec![("a".into(), 2), ("b".into(), 1)]);
        assert_eq!(scan(&c), vec![("a".into(), 2), ("b".into(), 1)]);
        let (a, b) = (c.lookup("a").unwrap(), c.lookup("b").unwrap());
        for m in [&a, &b] {
            assert!(c.take(m).is_some());
        }
        assert_eq!(scan(&c), vec![]);
        // a failed write queues its points again
        c.put_back(&a);
        assert_eq!(scan(&c), vec![("a".into(), 2)]);
        assert!(c.take(&a).is_some());
        c.confirm_many(0, [&a, &b]);
        // "b" was removed; its slot, reused, is listed once, under its new name
        add(&c, 0, &pts("d", &[(1, 1.0)]), Room::Limited, None);
        assert_eq!(c.lookup("d").unwrap().slot, b.slot);
        add(&c, 0, &pts("d", &[(2, 1.0)]), Room::Limited, None);
        assert_eq!(scan(&c), vec![("d".into(), 2)]);
    }

    #[test]
    fn runs_split_where_the_name_changes() {
        let mut batch = pts("a", &[(1, 1.0), (2, 2.0)]);
        batch.extend(pts("b", &[(1, 1.0)]));
        batch.extend(pts("a", &[(3, 3.0)]));
        let got: Vec<(&str, usize)> = runs(&batch).map(|r| (r.name, r.points.len())).collect();
        assert_eq!(got, vec![("a", 2), ("b", 1), ("a", 1)]);
        let c = Cache::new(1, 100);
        add(&c, 0, &batch, Room::Limited, None);
        assert_eq!(c.get("a"), vec![(1, 1.0), (2, 2.0), (3, 3.0)]);
        assert_eq!(c.size(), 4);
    }
}
