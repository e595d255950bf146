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
//!
//! An entry made for a series new to the store is *awaiting its file* until
//! a writer has created the file and written it: such entries' points count
//! against their own bound ([`Cache::with_max_awaiting_points`]), so a burst
//! of new names waits in that bound, not in the room of the series that
//! already have files.

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
    /// A series new to the store whose file is not written yet.
    awaiting_file: bool,
}

impl Entry {
    fn new() -> Entry {
        Entry {
            idle_since: BUSY,
            queued: Vec::new(),
            queued_newest: i64::MIN,
            inflight: Vec::new(),
            awaiting_file: false,
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
    /// Whether it is a new series waiting for its file (writers create
    /// these after the series that have files are written).
    pub awaiting_file: bool,
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
    /// Points of series awaiting their file refused because those series
    /// hold their bound, by series (empty unless that bound is reached).
    pub refused_awaiting: Vec<(Arc<str>, usize)>,
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
    /// Points held by entries awaiting their file, and their bound.
    awaiting_points: CachePadded<AtomicUsize>,
    max_awaiting_points: usize,
    /// Entries awaiting their file: the create backlog.
    awaiting_series: AtomicUsize,
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
            awaiting_points: CachePadded::new(AtomicUsize::new(0)),
            max_awaiting_points: max_points,
            awaiting_series: AtomicUsize::new(0),
            wake: (Mutex::new(()), Condvar::new()),
        }
    }

    /// Bounds the points of series awaiting their file (at most the cache's
    /// own limit).
    pub fn with_max_awaiting_points(mut self, max: usize) -> Cache {
        self.max_awaiting_points = max.min(self.max_points);
        self
    }

    /// Points held for series awaiting their file.
    pub fn awaiting_points(&self) -> usize {
        self.awaiting_points.load(Ordering::Relaxed)
    }

    /// Series awaiting their file (the create backlog).
    pub fn awaiting_series(&self) -> usize {
        self.awaiting_series.load(Ordering::Relaxed)
    }

    /// Whether series awaiting their file may take more points.
    pub fn awaiting_room(&self) -> bool {
        self.awaiting_points() < self.max_awaiting_points
    }

    /// `n` points of an entry awaiting its file left the cache or were
    /// merged away.
    fn awaiting_freed(&self, entry: &Entry, n: usize) {
        if entry.awaiting_file && n > 0 {
            self.awaiting_points.fetch_sub(n, Ordering::Relaxed);
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
        unknown: Option<Unknown<'_, 'p>>,
    ) -> Added {
        self.add_runs(shard, runs, room, unknown, false)
    }

    /// [`Cache::add`] for series new to the store: entries made for them
    /// await their file.
    pub fn add_new_series(&self, shard: usize, runs: &[Run<'_>], room: Room) -> Added {
        self.add_runs(shard, runs, room, None, true)
    }

    fn add_runs<'p>(
        &self,
        shard: usize,
        runs: &[Run<'p>],
        room: Room,
        mut unknown: Option<Unknown<'_, 'p>>,
        new_series: bool,
    ) -> Added {
        let mut added = Added::default();
        let limited = room == Room::Limited;
        let mut awaiting_grew = 0;
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
                        let mut entry = Entry::new();
                        if new_series {
                            entry.awaiting_file = true;
                            self.awaiting_series.fetch_add(1, Ordering::Relaxed);
                        }
                        s.insert(Arc::from(run.name), entry)
                    }
                };
                let target = &mut s.slots[slot as usize];
                // Read once per run, as the limit: the bound may be passed
                // by at most one run.
                if target.entry.awaiting_file
                    && limited
                    && self.awaiting_points.load(Ordering::Relaxed) + awaiting_grew
                        >= self.max_awaiting_points
                {
                    if let Some(name) = &target.name {
                        added
                            .refused_awaiting
                            .push((Arc::clone(name), run.points.len()));
                    }
                    continue;
                }
                let entry = &mut target.entry;
                let grew_before = added.grew;
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
                if entry.awaiting_file {
                    awaiting_grew += added.grew - grew_before;
                }
                if !entry.queued.is_empty() {
                    s.list(slot);
                }
            }
        }
        if awaiting_grew > 0 {
            self.awaiting_points
                .fetch_add(awaiting_grew, Ordering::Relaxed);
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
                        awaiting_file: s.entry.awaiting_file,
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
        let entry = &s.slots[slot as usize];
        let name = Arc::clone(entry.name.as_ref()?);
        let awaiting_file = entry.entry.awaiting_file;
        Some(MetricRef {
            shard,
            slot,
            name,
            awaiting_file,
        })
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
            let merged = before - entry.inflight.len();
            self.size.fetch_sub(merged, Ordering::Relaxed);
            self.awaiting_freed(entry, merged);
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
            if entry.awaiting_file {
                // written (or dropped): the series no longer waits
                let held = entry.inflight.len() + entry.queued.len();
                self.awaiting_freed(entry, held);
                entry.awaiting_file = false;
                self.awaiting_series.fetch_sub(1, Ordering::Relaxed);
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
        let dropped = before - merged.len();
        self.size.fetch_sub(dropped, Ordering::Relaxed);
        self.awaiting_freed(entry, dropped);
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
mod tests;
