//! The writable store: [`Ingest`] into the sharded cache, writer threads
//! that move each metric's cached points into its Whisper file with one
//! `update_many`, and a [`Read`] that merges the cache into every answer.
//!
//! Writers each own a fixed subset of the cache's shards, so no metric is
//! ever written by two threads. In every pass a writer snapshots its queued
//! metrics, sorts them by point count (most first; each metric once per
//! pass, so none starves) and writes them. A metric without a file needs a
//! create token; without one it keeps its points queued and waits for a
//! later pass (carbon's dropped-creates bug cannot happen). A full disk puts
//! the points back and backs off; a corrupt file drops only that metric's
//! points and counts them.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::api::{Ingest, IngestError, IngestReport, MetricPoint, Read};
use crate::cache::{self, Added, Cache, Room, Run, Unknown};
use crate::config::{CorruptFiles, StoreSettings};
use crate::flow::{Backpressure, Offered};
use crate::index::MetricIndex;
use crate::journal::Journal;
use crate::live_rules::LiveRules;
use crate::read::index_dot_files;
use crate::tagged::{self, is_tagged, TAGGED_DIR};
use crate::tags::TagIndex;
use crate::whisper::{self, WhisperError};

use admission::{Admission, Gate};

mod admission;
mod journaling;
mod read;
mod resize;
pub(crate) mod verify;
mod writer;

pub use read::merge_cached;

/// Tagged names of hash-form files, one per line, appended on create.
const TAG_LIST_FILE: &str = ".ferrograph-tags";
/// Longest path component a file system takes (bytes, with `.wsp`).
const MAX_COMPONENT: usize = 250;

/// Counters of the store; read with [`Store::stats`].
#[derive(Default)]
pub struct StoreStats {
    /// Points handed to ingest.
    pub points_received: AtomicU64,
    /// Points refused as invalid (bad name, NaN, timestamp out of range).
    pub points_rejected: AtomicU64,
    /// Points refused because the cache was full.
    pub cache_overflow: AtomicU64,
    /// Points written to files.
    pub committed_points: AtomicU64,
    /// `update_many` calls.
    pub update_operations: AtomicU64,
    /// Files created.
    pub creates: AtomicU64,
    /// Creates that failed (retried later).
    pub create_errors: AtomicU64,
    /// Writes that failed for lack of space (points kept, retried).
    pub write_errors: AtomicU64,
    /// Points dropped because their file is corrupt or unwritable.
    pub dropped_points: AtomicU64,
    /// Corrupt files met by the writers (each counted once).
    pub corrupt_files: AtomicU64,
    /// Corrupt files moved aside (`corrupt_files = "quarantine"`).
    pub quarantined_files: AtomicU64,
}

impl StoreStats {
    /// Records `updates` `update_many` calls that wrote `points` points.
    fn count_writes(&self, updates: usize, points: usize) {
        if updates > 0 {
            self.update_operations
                .fetch_add(updates as u64, Ordering::Relaxed);
            self.committed_points
                .fetch_add(points as u64, Ordering::Relaxed);
        }
    }
}

/// A source of extra self-metrics (e.g. the carbon receivers' counters).
pub type StatsSource = Arc<dyn Fn() -> Vec<(String, f64)> + Send + Sync>;

struct Inner {
    /// The settings it was opened with; the rules in them are only the
    /// first value of `rules`, which a reload replaces.
    settings: StoreSettings,
    /// The schemas and aggregation rules of new files, swappable.
    rules: LiveRules,
    /// Writers against background resizes replacing files.
    file_swap: resize::FileSwap,
    /// Progress of background resizes.
    resize_stats: resize::ResizeStats,
    cache: Cache,
    index: MetricIndex,
    tags: TagIndex,
    stats: StoreStats,
    creates: Mutex<TokenBucket>,
    accepting: AtomicBool,
    stopping: AtomicBool,
    writers_paused: AtomicBool,
    tag_list: Mutex<()>,
    sources: Mutex<Vec<StatsSource>>,
    last_error_log: Mutex<Option<Instant>>,
    /// Corrupt files already logged, so each is named once (bounded).
    corrupt_logged: Mutex<HashSet<PathBuf>>,
    /// The write-ahead journal, unless `[storage] wal = false`.
    journal: Option<Journal>,
    /// When a stop gives up waiting for the writers (set at stop).
    stop_deadline: Mutex<Option<Instant>>,
    /// The limits of new series.
    admission: Admission,
}

/// A token bucket: `rate` tokens per second, burst of one second's worth.
struct TokenBucket {
    rate: Option<f64>,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn refill(&mut self, rate: f64) {
        let now = Instant::now();
        let capacity = rate.max(1.0);
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(capacity);
        self.last = now;
    }

    /// Whether [`TokenBucket::take`] would succeed now.
    fn available(&mut self) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        self.refill(rate);
        self.tokens >= 1.0
    }

    fn take(&mut self) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        self.refill(rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The writable store.
pub struct Store {
    inner: Arc<Inner>,
    writers: Vec<JoinHandle<()>>,
    self_metrics: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    verify: Option<JoinHandle<()>>,
    journal_thread: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    /// The background resizer (`resize_on_schema_change`); dropping the
    /// sender stops it.
    resizer: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// How full flow-controlled producers may fill the cache: 95 % (carbon
/// resumes its paused receivers below 95 % too). The rest is headroom for
/// producers that cannot wait (StatsD flushes, UDP, self-metrics), so a
/// stream of TCP senders kept at the limit does not make them overflow.
fn flow_control_limit(max_points: usize) -> usize {
    max_points - max_points / 20
}

/// What the cache took of a batch.
#[derive(Default)]
struct Taken {
    /// Points stored (new or replacing a cached timestamp).
    taken: usize,
    /// Points that grew the cache.
    grew: usize,
    /// Points refused because the cache was full.
    refused: usize,
    /// Points of new series refused by [`Admission`].
    refused_new: usize,
}

/// Points in `runs`.
fn run_points(runs: &[Run<'_>]) -> usize {
    runs.iter().map(|r| r.points.len()).sum()
}

/// A name already in its stored form: a plain (untagged) series of
/// non-empty dot-separated components, nothing for [`normalize`] to rewrite.
fn is_stored_form(name: &str) -> bool {
    !name.is_empty()
        && !name.contains(['\0', '\n', '\r', '/'])
        && !is_tagged(name)
        && name
            .split('.')
            .all(|c| !c.is_empty() && c.len() <= MAX_COMPONENT)
}

/// What a name is stored as: `(canonical name, index components)`, or why
/// it is refused. Untagged names lose empty components (`a..b` is `a.b`, as
/// the file system maps it); tagged names are canonicalised.
pub(crate) fn normalize(name: &str) -> Result<(String, Vec<String>), String> {
    if name.is_empty() || name.contains(['\0', '\n', '\r']) {
        return Err(format!("invalid name {name:?}"));
    }
    if name.contains(';') || tagged::is_tagged(name) {
        let canonical = tagged::canonicalize(name);
        let rel = tagged::relative_file_path(&canonical, true);
        let comps = rel
            .iter()
            .map(|c| c.to_string_lossy().trim_end_matches(".wsp").to_string())
            .collect();
        return Ok((canonical, comps));
    }
    if name.contains('/') {
        return Err(format!("name {name:?} contains '/'"));
    }
    let comps: Vec<String> = name
        .split('.')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    if comps.is_empty() {
        return Err(format!("name {name:?} has no components"));
    }
    if let Some(c) = comps.iter().find(|c| c.len() > MAX_COMPONENT) {
        return Err(format!(
            "component of {} bytes in {name:?} is too long",
            c.len()
        ));
    }
    Ok((comps.join("."), comps))
}

impl Store {
    /// Opens (creating if needed) the data directory, indexes it and starts
    /// the writers.
    pub fn open(settings: StoreSettings) -> std::io::Result<Store> {
        std::fs::create_dir_all(&settings.data_dir)?;
        let started = Instant::now();
        let (index, series, temp) = MetricIndex::build_collecting_temp_files(&settings.data_dir)?;
        for t in &temp {
            let _ = std::fs::remove_file(t);
        }
        if !temp.is_empty() {
            tracing::info!(
                files = temp.len(),
                "removed temporary files of interrupted creates"
            );
        }
        let tags = TagIndex::new();
        index_dot_files(&settings.data_dir, &tags);
        if let Ok(list) =
            std::fs::read_to_string(settings.data_dir.join(TAGGED_DIR).join(TAG_LIST_FILE))
        {
            for line in list.lines().filter(|l| !l.is_empty()) {
                let _ = tags.add(line);
            }
        }
        tracing::info!(
            data_dir = %settings.data_dir.display(),
            series,
            tagged = tags.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "storage index built"
        );
        let (journal, replayed) = match &settings.journal {
            Some(js) => {
                let (journal, replayed) = Journal::open(&settings.data_dir, js.clone())?;
                (Some(journal), replayed)
            }
            None => (None, Vec::new()),
        };
        let shards = (settings.writers * 16).max(16);
        let inner = Arc::new(Inner {
            cache: Cache::new(shards, settings.max_cache_points)
                .with_max_awaiting_points(settings.max_pending_create_points),
            index,
            tags,
            stats: StoreStats::default(),
            creates: Mutex::new(TokenBucket {
                rate: settings.max_creates_per_second,
                tokens: settings.max_creates_per_second.unwrap_or(0.0).max(1.0),
                last: Instant::now(),
            }),
            accepting: AtomicBool::new(true),
            stopping: AtomicBool::new(false),
            writers_paused: AtomicBool::new(false),
            tag_list: Mutex::new(()),
            sources: Mutex::new(Vec::new()),
            last_error_log: Mutex::new(None),
            corrupt_logged: Mutex::new(HashSet::new()),
            journal,
            stop_deadline: Mutex::new(None),
            admission: Admission::new(settings.max_new_series_per_minute),
            rules: LiveRules::new(settings.schemas.clone(), settings.aggregation.clone()),
            file_swap: resize::FileSwap::default(),
            resize_stats: resize::ResizeStats::default(),
            settings,
        });
        inner.replay(&replayed);
        drop(replayed);
        let writers = (0..inner.settings.writers)
            .map(|w| {
                let inner = Arc::clone(&inner);
                std::thread::Builder::new()
                    .name(format!("whisper-writer-{w}"))
                    .spawn(move || writer::writer_loop(&inner, w))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let self_metrics = match inner.settings.self_metrics.clone() {
            None => None,
            Some((prefix, every)) => {
                let (tx, rx) = mpsc::channel::<()>();
                let inner = Arc::clone(&inner);
                let handle = std::thread::Builder::new()
                    .name("storage-self-metrics".into())
                    .spawn(move || {
                        while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                            inner.write_self_metrics(&prefix);
                        }
                    })?;
                Some((tx, handle))
            }
        };
        let journal_thread = journaling::spawn(Arc::clone(&inner))?;
        let resizer = resize::spawn(&inner)?;
        let weak = Arc::downgrade(&inner);
        let verify = verify::spawn(inner.settings.data_dir.clone(), move || {
            weak.upgrade()
                .map_or(true, |inner| inner.stopping.load(Ordering::Relaxed))
        })?;
        Ok(Store {
            inner,
            writers,
            self_metrics,
            verify: Some(verify),
            journal_thread,
            resizer,
        })
    }

    /// The handle producers write through.
    pub fn ingest_handle(&self) -> Arc<dyn Ingest> {
        Arc::clone(&self.inner) as Arc<dyn Ingest>
    }

    /// The handle producers that can wait (TCP receivers) offer points
    /// through: what does not fit in the cache is handed back, not dropped.
    pub fn backpressure_handle(&self) -> Arc<dyn Backpressure> {
        Arc::clone(&self.inner) as Arc<dyn Backpressure>
    }

    /// Holds the writers (points accumulate in the cache up to its limit) or
    /// lets them go again: for maintenance windows such as a file-system
    /// snapshot, and for tests of what happens when the cache fills.
    /// Shutdown drains the cache even while paused.
    pub fn pause_writers(&self, paused: bool) {
        self.inner.writers_paused.store(paused, Ordering::SeqCst);
        self.inner.cache.notify();
    }

    /// The handle the render API reads through.
    pub fn read_handle(&self) -> Arc<dyn Read> {
        Arc::clone(&self.inner) as Arc<dyn Read>
    }

    /// Self-metric counters as `(name, value)` pairs.
    pub fn stats(&self) -> Vec<(String, f64)> {
        self.inner.stats()
    }

    /// A handle that reads [`Store::stats`] from anywhere (e.g. an HTTP
    /// exporter), valid as long as it is held.
    pub fn stats_handle(&self) -> StatsSource {
        let inner = Arc::clone(&self.inner);
        Arc::new(move || inner.stats())
    }

    /// Adds a source whose counters are written with the store's own.
    pub fn add_stats_source(&self, source: StatsSource) {
        self.inner
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(source);
    }

    /// The retention rule a new series called `name` would get, e.g. to warn
    /// when the StatsD flush interval differs from its finest precision.
    pub fn schema_for(&self, name: &str) -> crate::schema::SchemaRule {
        self.inner.rules.schema_for(name)
    }

    /// The handle a reload replaces the schemas and aggregation rules
    /// through; new files follow the replacement.
    pub fn rules_handle(&self) -> LiveRules {
        self.inner.rules.clone()
    }

    /// Points currently cached.
    pub fn cache_size(&self) -> usize {
        self.inner.cache.size()
    }

    /// Stops accepting points, drains the cache to disk, stops the writers
    /// and the self-metrics thread, and joins them.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some((tx, handle)) = self.resizer.take() {
            // it finishes the file it is on (atomic), then stops
            drop(tx);
            let _ = handle.join();
        }
        if let Some((tx, handle)) = self.self_metrics.take() {
            let _ = tx.send(());
            let _ = handle.join();
            // the final counters, drained with everything else
            if let Some((prefix, _)) = &self.inner.settings.self_metrics {
                self.inner.write_self_metrics(prefix);
            }
        }
        self.inner.accepting.store(false, Ordering::SeqCst);
        *self
            .inner
            .stop_deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner()) =
            Some(Instant::now() + self.inner.settings.stop_timeout);
        self.inner.stopping.store(true, Ordering::SeqCst);
        if let Some(verify) = self.verify.take() {
            let _ = verify.join();
        }
        self.inner.cache.notify();
        for w in self.writers.drain(..) {
            let _ = w.join();
        }
        if let Some((tx, handle)) = self.journal_thread.take() {
            let _ = tx.send(());
            let _ = handle.join();
        }
        journaling::finish(&self.inner);
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Inner {
    fn stats(&self) -> Vec<(String, f64)> {
        let s = &self.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        let updates = get(&s.update_operations);
        let mut out = vec![
            ("metricsReceived".to_string(), get(&s.points_received)),
            ("rejectedPoints".to_string(), get(&s.points_rejected)),
            ("cache.overflow".to_string(), get(&s.cache_overflow)),
            ("committedPoints".to_string(), get(&s.committed_points)),
            ("updateOperations".to_string(), updates),
            (
                "pointsPerUpdate".to_string(),
                if updates > 0.0 {
                    get(&s.committed_points) / updates
                } else {
                    0.0
                },
            ),
            ("creates".to_string(), get(&s.creates)),
            ("errors.create".to_string(), get(&s.create_errors)),
            ("errors.write".to_string(), get(&s.write_errors)),
            ("droppedPoints".to_string(), get(&s.dropped_points)),
            ("errors.corrupt".to_string(), get(&s.corrupt_files)),
            ("quarantined".to_string(), get(&s.quarantined_files)),
            ("cache.size".to_string(), self.cache.size() as f64),
            ("cache.queues".to_string(), self.cache.metric_count() as f64),
            (
                "creates.backlog".to_string(),
                self.cache.awaiting_series() as f64,
            ),
            (
                "creates.pendingPoints".to_string(),
                self.cache.awaiting_points() as f64,
            ),
        ];
        out.extend(self.admission.stats());
        if self.settings.resize_files_per_second.is_some() {
            out.extend(self.resize_stats.snapshot());
        }
        if let Some(journal) = &self.journal {
            out.extend(journal.stats());
        }
        let sources = self
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for source in sources {
            out.extend(source());
        }
        out
    }

    /// Writes every stage's figures under `prefix`, untagged as carbon
    /// does, so they stay in the branch the user configured and never add
    /// a `_tagged` node to the tree.
    fn write_self_metrics(&self, prefix: &str) {
        let now = unix_now();
        let points = self
            .stats()
            .into_iter()
            .map(|(k, v)| MetricPoint::new(self_metric_path(prefix, &k), now, v))
            .collect();
        let _ = self.accept(points);
    }

    /// The one place where points are accepted into the store (a write-ahead
    /// log would go here).
    fn accept(&self, mut points: Vec<MetricPoint>) -> IngestReport {
        let mut report = IngestReport::default();
        self.stats
            .points_received
            .fetch_add(points.len() as u64, Ordering::Relaxed);
        self.plausible(&mut points, &mut report.rejected);
        let _journaled = match self.journal.as_ref().map(|j| j.append(&points)) {
            Some(Err(e)) => {
                report.overflowed = points.len();
                report.count_refused(&self.stats.points_rejected, &self.stats.cache_overflow);
                self.log_error(|| tracing::warn!(error = %e, refused = points.len(), "points refused: the journal cannot take them"));
                return report;
            }
            Some(Ok(guard)) => Some(guard),
            None => None,
        };
        let added = self.add_points(&points, Room::Limited, Gate::Limits, &mut report.rejected);
        report.accepted = added.taken;
        report.overflowed = added.refused + added.refused_new;
        report.count_refused(&self.stats.points_rejected, &self.stats.cache_overflow);
        // new series refused by their limits are logged by `admission`
        if added.refused > 0 {
            self.log_error(|| {
                tracing::warn!(
                    refused = added.refused,
                    limit = self.cache.max_points(),
                    "cache full: points refused"
                )
            });
        }
        report
    }

    /// Keeps the points whose value and timestamp the store can keep (not
    /// NaN, within whisper's u32 field); the others are counted in
    /// `rejected`.
    fn plausible(&self, points: &mut Vec<MetricPoint>, rejected: &mut usize) {
        let before = points.len();
        points.retain(|p| !p.value.is_nan() && (0..=i64::from(u32::MAX)).contains(&p.timestamp));
        *rejected += before - points.len();
    }

    /// Whether a name not in the cache is a series already indexed under
    /// its stored form, so it needs neither normalisation's allocations nor
    /// the index's write lock.
    fn is_known(&self, name: &str) -> bool {
        is_stored_form(name) && self.index.contains_dotted(name)
    }

    /// Adds plausible points to the cache. Names the cache or the index
    /// already know go straight in; the others are normalised (refusals
    /// counted in `rejected`), admitted as new series unless `gate` is
    /// open, and indexed first.
    fn add_points(
        &self,
        points: &[MetricPoint],
        room: Room,
        gate: Gate,
        rejected: &mut usize,
    ) -> Taken {
        let mut taken = Taken::default();
        let mut unknown = Vec::new();
        let is_known = |name: &str| self.is_known(name);
        for (shard, runs) in self.group_by_shard(cache::runs(points)).iter().enumerate() {
            if runs.is_empty() {
                continue;
            }
            let before = unknown.len();
            let added = self.cache.add(
                shard,
                runs,
                room,
                Some(Unknown {
                    is_known: &is_known,
                    out: &mut unknown,
                }),
            );
            let offered = run_points(runs) - run_points(&unknown[before..]);
            self.add_taken(&mut taken, offered, &added);
        }
        if unknown.is_empty() {
            return taken;
        }
        let (mut known, mut new) = (Vec::new(), Vec::new());
        for run in unknown {
            let (name, comps) = match normalize(run.name) {
                Ok(stored) => stored,
                Err(_) => {
                    *rejected += run.points.len();
                    continue;
                }
            };
            let refs: Vec<&str> = comps.iter().map(String::as_str).collect();
            if gate == Gate::Open || self.index.contains(&refs) {
                self.index_name(&name, &refs);
                known.push((name, run.points));
                continue;
            }
            if self
                .admission
                .admit(&name, run.points.len(), self.cache.awaiting_room())
                .is_some()
            {
                taken.refused_new += run.points.len();
                continue;
            }
            self.index_name(&name, &refs);
            new.push((name, run.points));
        }
        for (list, new_series) in [(known, false), (new, true)] {
            let runs = list.iter().map(|(name, points)| Run { name, points });
            for (shard, runs) in self.group_by_shard(runs).iter().enumerate() {
                if runs.is_empty() {
                    continue;
                }
                let added = if new_series {
                    self.cache.add_new_series(shard, runs, room)
                } else {
                    self.cache.add(shard, runs, room, None)
                };
                self.add_taken(&mut taken, run_points(runs), &added);
            }
        }
        taken
    }

    /// Counts what the cache did with `offered` points, recording the
    /// points of series awaiting their files that their bound refused.
    fn add_taken(&self, taken: &mut Taken, offered: usize, added: &Added) {
        let mut refused_awaiting = 0;
        for (name, n) in &added.refused_awaiting {
            self.admission.awaiting_refusals.record(name, *n as u64);
            refused_awaiting += n;
        }
        taken.taken += offered - added.refused - refused_awaiting;
        taken.grew += added.grew;
        taken.refused += added.refused;
        taken.refused_new += refused_awaiting;
    }

    fn group_by_shard<'p>(&self, runs: impl Iterator<Item = Run<'p>>) -> Vec<Vec<Run<'p>>> {
        let mut groups = vec![Vec::new(); self.cache.shard_count()];
        for run in runs {
            groups[self.cache.shard_of(run.name)].push(run);
        }
        groups
    }

    fn index_name(&self, name: &str, comps: &[&str]) {
        if self.index.insert(comps) && is_tagged(name) {
            let _ = self.tags.add(name);
        }
    }

    /// [`Backpressure::offer`]: like [`Inner::accept`], but room is reserved
    /// first and the points beyond it are handed back instead of refused.
    fn offer_points(&self, mut points: Vec<MetricPoint>) -> Offered {
        let mut out = Offered::default();
        self.plausible(&mut points, &mut out.report.rejected);
        let granted = self
            .cache
            .reserve(points.len(), flow_control_limit(self.cache.max_points()));
        out.rest = points.split_off(granted);
        let _journaled = match self.journal.as_ref().map(|j| j.append(&points)) {
            Some(Err(e)) => {
                // handed back whole: the TCP receiver waits and offers again
                self.cache.release(granted);
                self.log_error(|| tracing::warn!(error = %e, "the journal cannot take points; carbon TCP input waits"));
                points.append(&mut out.rest);
                out.rest = points;
                return out;
            }
            Some(Ok(guard)) => Some(guard),
            None => None,
        };
        let mut late_rejects = 0;
        let added = self.add_points(&points, Room::Reserved, Gate::Limits, &mut late_rejects);
        self.cache.release(granted - added.grew);
        out.report.accepted = added.taken;
        // refused, not handed back: the sender would retry them forever
        out.report.rejected += late_rejects + added.refused_new;
        // handed-back points are counted when they are finally taken
        self.stats.points_received.fetch_add(
            (out.report.accepted + out.report.rejected) as u64,
            Ordering::Relaxed,
        );
        self.stats
            .points_rejected
            .fetch_add(out.report.rejected as u64, Ordering::Relaxed);
        out
    }

    /// Whether a create would be allowed now (without taking its token).
    fn create_token_available(&self) -> bool {
        self.creates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .available()
    }

    /// Whether a stop has waited `stop_timeout` for the writers.
    fn past_stop_deadline(&self) -> bool {
        self.stop_deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Runs `log` at most once every 10 seconds.
    fn log_error(&self, log: impl FnOnce()) {
        let mut last = self
            .last_error_log
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if last.is_none_or_elapsed(Duration::from_secs(10)) {
            *last = Some(Instant::now());
            log();
        }
    }

    /// A writer met `path`, which is not valid Whisper, for `metric`.
    /// Quarantine moves it aside so the next pass creates a new file
    /// (returns true: keep the points); refuse names it in the log once
    /// (returns false: the caller drops its points).
    fn corrupt_file(&self, metric: &str, path: &Path, error: &WhisperError) -> bool {
        let first = {
            let mut logged = self
                .corrupt_logged
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            logged.len() < 100_000 && logged.insert(path.to_path_buf())
        };
        if first {
            self.stats.corrupt_files.fetch_add(1, Ordering::Relaxed);
        }
        if self.settings.corrupt_files == CorruptFiles::Quarantine {
            let mut aside = path.as_os_str().to_owned();
            aside.push(".corrupt");
            match std::fs::rename(path, &aside) {
                Ok(()) => {
                    self.stats.quarantined_files.fetch_add(1, Ordering::Relaxed);
                    self.corrupt_logged
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(path);
                    tracing::warn!(metric, file = %path.display(), moved_to = %Path::new(&aside).display(), %error, "corrupt whisper file quarantined; a new file will be created");
                    return true;
                }
                Err(e) => {
                    tracing::error!(metric, file = %path.display(), error = %e, "cannot quarantine a corrupt whisper file; its points are dropped");
                    return false;
                }
            }
        }
        if first {
            tracing::error!(metric, file = %path.display(), %error, "corrupt whisper file: writes to it are refused and its points dropped (set [storage] corrupt_files = \"quarantine\" to replace it)");
        }
        false
    }

    /// The file a series is written to: the hash form for tagged names
    /// unless a `_DOT_`-form file already exists.
    fn file_for(&self, name: &str) -> PathBuf {
        let root = &self.settings.data_dir;
        if name.contains(';') {
            let hashed = root.join(tagged::relative_file_path(name, true));
            if !hashed.exists() {
                let dotted = root.join(tagged::relative_file_path(name, false));
                if dotted.exists() {
                    return dotted;
                }
            }
            hashed
        } else {
            root.join(tagged::relative_file_path(name, false))
        }
    }

    fn create(&self, name: &str, path: &Path) -> Result<(), WhisperError> {
        let rules = self.rules.current();
        let schema = rules.schemas.lookup(name);
        let agg = rules.aggregation.lookup(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| WhisperError::Io {
                path: dir.to_path_buf(),
                op: "mkdir",
                source: e,
            })?;
        }
        match whisper::create(
            path,
            &schema.archives,
            agg.xff(),
            agg.aggregation(),
            self.settings.allocation,
        ) {
            Ok(_) | Err(WhisperError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
        self.stats.creates.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(metric = name, schema = %schema.name, retentions = %schema.retentions(), "created");
        if name.contains(';') {
            let _ = self.tags.add(name);
            let _guard = self.tag_list.lock().unwrap_or_else(|e| e.into_inner());
            let list = self.settings.data_dir.join(TAGGED_DIR).join(TAG_LIST_FILE);
            let appended = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&list)
                .and_then(|mut f| writeln!(f, "{name}"));
            if let Err(e) = appended {
                tracing::warn!(file = %list.display(), error = %e, "cannot record tagged series name");
            }
        }
        Ok(())
    }
}

trait ElapsedExt {
    fn is_none_or_elapsed(&self, d: Duration) -> bool;
}

impl ElapsedExt for Option<Instant> {
    fn is_none_or_elapsed(&self, d: Duration) -> bool {
        match self {
            None => true,
            Some(t) => t.elapsed() >= d,
        }
    }
}

impl Ingest for Inner {
    fn ingest(&self, points: Vec<MetricPoint>) -> Result<IngestReport, IngestError> {
        if !self.accepting.load(Ordering::Relaxed) {
            return Err(IngestError::ShuttingDown);
        }
        Ok(self.accept(points))
    }
}

impl Backpressure for Inner {
    fn offer(&self, points: Vec<MetricPoint>) -> Result<Offered, IngestError> {
        if !self.accepting.load(Ordering::Relaxed) {
            return Err(IngestError::ShuttingDown);
        }
        Ok(self.offer_points(points))
    }
}

/// The Graphite path of one self-metric: a figure's labels
/// (`bad_lines{reason="bad_value"}`, as `/metrics` shows them) become path
/// nodes (`bad_lines.bad_value`), in the order written.
pub(crate) fn self_metric_path(prefix: &str, figure: &str) -> String {
    let Some((base, labels)) = figure.split_once('{') else {
        return format!("{prefix}.{figure}");
    };
    let mut path = format!("{prefix}.{base}");
    for pair in labels.trim_end_matches('}').split(',') {
        if let Some((_, value)) = pair.split_once('=') {
            path.push('.');
            path.push_str(value.trim().trim_matches('"'));
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_metric_labels_become_path_nodes() {
        assert_eq!(self_metric_path("p", "cache.size"), "p.cache.size");
        assert_eq!(
            self_metric_path("p", "statsd.bad_lines{reason=\"bad_value\"}"),
            "p.statsd.bad_lines.bad_value"
        );
    }

    proptest::proptest! {
        /// The ingest shortcut skips `normalize` only for names it would
        /// leave as they are.
        #[test]
        fn stored_form_names_normalise_to_themselves(name in "[a-z_.;=/{}\"]{0,24}") {
            if is_stored_form(&name) {
                let (stored, comps) = normalize(&name).expect("a stored-form name is valid");
                proptest::prop_assert_eq!(&stored, &name);
                proptest::prop_assert_eq!(comps, name.split('.').map(str::to_string).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn names_are_normalised_like_the_file_system() {
        assert_eq!(normalize("a..b.").unwrap().0, "a.b");
        assert_eq!(normalize(".a").unwrap().1, vec!["a"]);
        assert!(normalize("a/b").is_err());
        assert!(normalize("..").is_err());
        assert_eq!(normalize("x;b=1;a=2").unwrap().0, "x;a=2;b=1");
        assert_eq!(normalize("x;b=1;a=2").unwrap().1[0], "_tagged");
    }
}
