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

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::api::{
    FetchOptions, FetchRange, FetchedSeries, FindNode, Ingest, IngestError, IngestReport,
    MetricPoint, Read, ReadError, TagExpr,
};
use crate::cache::{self, Added, Cache, MetricRef, Points, Room, Run, Unknown};
use crate::config::StoreSettings;
use crate::flow::{Backpressure, Offered};
use crate::glob::Glob;
use crate::index::MetricIndex;
use crate::read::{
    check_name, fetch_file, index_dot_files, parallel_fetch_into, read_error, recycled_values,
    to_series,
};
use crate::tagged::{self, is_tagged, TaggedSeries, TAGGED_DIR};
use crate::tags::TagIndex;
use crate::whisper::ops::{empty_fetch, plan_fetch, Fetched};
use crate::whisper::{
    self, build_header_for, AggregationMethod, FileBuffers, WhisperError, WhisperFile,
    WhisperReader,
};

/// Tagged names of hash-form files, one per line, appended on create.
const TAG_LIST_FILE: &str = ".ferrograph-tags";
/// Longest path component a file system takes (bytes, with `.wsp`).
const MAX_COMPONENT: usize = 250;
/// Files kept mapped by all writers together: half of the process's
/// `vm.max_map_count` areas (65 530 on many kernels, 1 048 576 on recent
/// distributions), the other half left to reads and everything else, and at
/// most [`MAX_MAPPED_FILES`]. A writer whose metrics do not all fit remaps
/// files, which costs far more than the write itself (mmap, page faults,
/// munmap's TLB shootdowns): at 100 000 metrics under the 65 530 default,
/// writes run at an eighth of the 10 000-metric rate.
fn mapped_files_budget() -> usize {
    let max_map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(65_530);
    (max_map_count / 2).clamp(1_024, MAX_MAPPED_FILES)
}

/// Each mapping also costs the kernel an area and page tables: past this
/// many, remapping is the cheaper evil.
const MAX_MAPPED_FILES: usize = 1 << 19;

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
    settings: StoreSettings,
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
}

/// A token bucket: `rate` tokens per second, burst of one second's worth.
struct TokenBucket {
    rate: Option<f64>,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn take(&mut self) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        let now = Instant::now();
        let capacity = rate.max(1.0);
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(capacity);
        self.last = now;
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
}

/// Points in `runs`.
fn run_points(runs: &[Run<'_>]) -> usize {
    runs.iter().map(|r| r.points.len()).sum()
}

impl Taken {
    fn add(&mut self, offered: usize, added: &Added) {
        self.taken += offered - added.refused;
        self.grew += added.grew;
        self.refused += added.refused;
    }
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
fn normalize(name: &str) -> Result<(String, Vec<String>), String> {
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
        let shards = (settings.writers * 16).max(16);
        let inner = Arc::new(Inner {
            cache: Cache::new(shards, settings.max_cache_points),
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
            settings,
        });
        let writers = (0..inner.settings.writers)
            .map(|w| {
                let inner = Arc::clone(&inner);
                std::thread::Builder::new()
                    .name(format!("whisper-writer-{w}"))
                    .spawn(move || writer_loop(&inner, w))
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
        Ok(Store {
            inner,
            writers,
            self_metrics,
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
    pub fn schema_for(&self, name: &str) -> &crate::schema::SchemaRule {
        self.inner.settings.schemas.lookup(name)
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
        if let Some((tx, handle)) = self.self_metrics.take() {
            let _ = tx.send(());
            let _ = handle.join();
            // the final counters, drained with everything else
            if let Some((prefix, _)) = &self.inner.settings.self_metrics {
                self.inner.write_self_metrics(prefix);
            }
        }
        self.inner.accepting.store(false, Ordering::SeqCst);
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.cache.notify();
        for w in self.writers.drain(..) {
            let _ = w.join();
        }
        let left = self.inner.cache.size();
        if left > 0 {
            tracing::error!(
                points = left,
                "storage stopped with points it could not write"
            );
        }
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
            ("cache.size".to_string(), self.cache.size() as f64),
            ("cache.queues".to_string(), self.cache.metric_count() as f64),
        ];
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

    fn write_self_metrics(&self, prefix: &str) {
        let now = unix_now();
        let points = self
            .stats()
            .into_iter()
            .map(|(k, v)| MetricPoint::new(format!("{prefix}.{k}"), now, v))
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
        let added = self.add_points(&points, Room::Limited, &mut report.rejected);
        report.accepted = added.taken;
        report.overflowed = added.refused;
        self.stats
            .points_rejected
            .fetch_add(report.rejected as u64, Ordering::Relaxed);
        self.stats
            .cache_overflow
            .fetch_add(report.overflowed as u64, Ordering::Relaxed);
        if report.overflowed > 0 {
            self.log_error(|| {
                tracing::warn!(
                    refused = report.overflowed,
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
    /// counted in `rejected`) and indexed first.
    fn add_points(&self, points: &[MetricPoint], room: Room, rejected: &mut usize) -> Taken {
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
            taken.add(offered, &added);
        }
        if unknown.is_empty() {
            return taken;
        }
        let mut normalized = Vec::with_capacity(unknown.len());
        for run in unknown {
            match normalize(run.name) {
                Ok((name, comps)) => {
                    self.index_name(&name, &comps);
                    normalized.push((name, run.points));
                }
                Err(_) => *rejected += run.points.len(),
            }
        }
        let runs = normalized.iter().map(|(name, points)| Run { name, points });
        for (shard, runs) in self.group_by_shard(runs).iter().enumerate() {
            if !runs.is_empty() {
                taken.add(run_points(runs), &self.cache.add(shard, runs, room, None));
            }
        }
        taken
    }

    fn group_by_shard<'p>(&self, runs: impl Iterator<Item = Run<'p>>) -> Vec<Vec<Run<'p>>> {
        let mut groups = vec![Vec::new(); self.cache.shard_count()];
        for run in runs {
            groups[self.cache.shard_of(run.name)].push(run);
        }
        groups
    }

    fn index_name(&self, name: &str, comps: &[String]) {
        let refs: Vec<&str> = comps.iter().map(String::as_str).collect();
        if self.index.insert(&refs) && is_tagged(name) {
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
        let mut late_rejects = 0;
        let added = self.add_points(&points, Room::Reserved, &mut late_rejects);
        self.cache.release(granted - added.grew);
        out.report.accepted = added.taken;
        out.report.rejected += late_rejects;
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
        let schema = self.settings.schemas.lookup(name);
        let agg = self.settings.aggregation.lookup(name);
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

    /// graphite-web's fetch of `name`: the file (or, for a series still
    /// waiting for its file, the empty answer its schema implies) with the
    /// cached points merged in.
    fn fetch_merged(
        &self,
        name: &str,
        range: FetchRange,
        options: FetchOptions,
        previous: Option<FetchedSeries>,
    ) -> Result<Option<FetchedSeries>, ReadError> {
        let cached = self.cache.get(name);
        let path = self.file_for(name);
        let (fetched, method, raw_step) = match WhisperReader::open(&path) {
            Ok(file) => {
                let header = file.header();
                let raw_step = header
                    .archives
                    .first()
                    .map(|a| i64::from(a.seconds_per_point));
                let method = header.aggregation;
                (
                    fetch_file(&file, range, options, recycled_values(previous))
                        .map_err(read_error)?,
                    method,
                    raw_step,
                )
            }
            Err(WhisperError::Io { ref source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                if cached.is_empty() && !self.known(name) {
                    return Ok(None);
                }
                let schema = self.settings.schemas.lookup(name);
                let agg = self.settings.aggregation.lookup(name);
                let header = build_header_for(&schema.archives, agg.xff(), agg.aggregation())
                    .map_err(read_error)?;
                let raw_step = header
                    .archives
                    .first()
                    .map(|a| i64::from(a.seconds_per_point));
                let planned = plan_fetch(&header, range.from, range.until, range.now, None)
                    .map_err(read_error)?;
                (
                    planned.map(|(a, f, u)| empty_fetch(a, f, u)),
                    agg.aggregation(),
                    raw_step,
                )
            }
            Err(e) => return Err(read_error(e)),
        };
        Ok(fetched.map(|mut f| {
            merge_cached(&mut f, &cached, method, raw_step);
            to_series(name, f, method)
        }))
    }

    fn fetch_reusing(
        &self,
        path: &str,
        range: FetchRange,
        options: FetchOptions,
        previous: Option<FetchedSeries>,
    ) -> Result<Option<FetchedSeries>, ReadError> {
        check_name(path)?;
        let Ok((name, _)) = normalize(path) else {
            return Ok(None);
        };
        self.fetch_merged(&name, range, options, previous)
    }

    fn known(&self, name: &str) -> bool {
        match normalize(name) {
            Ok((_, comps)) => {
                let refs: Vec<&str> = comps.iter().map(String::as_str).collect();
                self.index.contains(&refs)
            }
            Err(_) => false,
        }
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

/// graphite-web's `merge_with_cache`: cached points are reduced to one per
/// finest step (last wins); when the fetched step is coarser they are
/// consolidated per fetched step with the file's method and replace the
/// fetched value; then each lands at its index.
pub fn merge_cached(
    f: &mut Fetched,
    cached: &[(i64, f64)],
    method: AggregationMethod,
    raw_step: Option<i64>,
) {
    if cached.is_empty() {
        return;
    }
    let mut points: Vec<(i64, f64)> = cached.to_vec();
    if let Some(raw) = raw_step.filter(|&r| r > 1) {
        let mut by_interval: Vec<(i64, f64)> = Vec::with_capacity(points.len());
        for (t, v) in points {
            let interval = t - t.rem_euclid(raw);
            match by_interval.iter_mut().find(|p| p.0 == interval) {
                Some(p) => p.1 = v,
                None => by_interval.push((interval, v)),
            }
        }
        points = by_interval;
    }
    if Some(f.step) != raw_step {
        let mut groups: Vec<(i64, Vec<f64>)> = Vec::new();
        for (t, v) in points {
            let interval = t - t.rem_euclid(f.step);
            match groups.iter_mut().find(|g| g.0 == interval) {
                Some(g) => g.1.push(v),
                None => groups.push((interval, vec![v])),
            }
        }
        points = groups
            .into_iter()
            .map(|(i, vals)| {
                let window: Vec<Option<f64>> = vals.into_iter().map(Some).collect();
                let v = crate::whisper::rollup::aggregate_window(method, 0.0, &window)
                    .unwrap_or(f64::NAN);
                (i, v)
            })
            .collect();
    }
    for (interval, value) in points {
        let i = (interval - f.start).div_euclid(f.step);
        if i >= 0 && (i as usize) < f.values.len() {
            f.values[i as usize] = Some(value);
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

impl Read for Inner {
    fn find(&self, pattern: &str) -> Result<Vec<FindNode>, ReadError> {
        if is_tagged(pattern) && !pattern.starts_with("_tagged.") {
            let name = tagged::canonicalize(pattern);
            let known = self.known(&name) || self.file_for(&name).is_file();
            return Ok(if known {
                vec![FindNode {
                    path: name,
                    is_leaf: true,
                }]
            } else {
                Vec::new()
            });
        }
        let glob = Glob::new(pattern).map_err(|e| ReadError::BadRequest(e.0))?;
        self.index.find(&glob, self.settings.max_find_results)
    }

    fn fetch(&self, path: &str, range: FetchRange) -> Result<Option<FetchedSeries>, ReadError> {
        self.fetch_reusing(path, range, FetchOptions::default(), None)
    }

    fn fetch_many(
        &self,
        paths: &[String],
        range: FetchRange,
    ) -> Result<Vec<Option<FetchedSeries>>, ReadError> {
        let mut out = Vec::new();
        self.fetch_many_into(paths, range, FetchOptions::default(), &mut out)?;
        Ok(out)
    }

    fn fetch_many_into(
        &self,
        paths: &[String],
        range: FetchRange,
        options: FetchOptions,
        out: &mut Vec<Option<FetchedSeries>>,
    ) -> Result<(), ReadError> {
        parallel_fetch_into(paths, out, |p, previous| {
            self.fetch_reusing(p, range, options, previous)
        })
    }

    fn find_tagged(&self, exprs: &[TagExpr]) -> Result<Vec<String>, ReadError> {
        self.tags.find(exprs)
    }

    fn tag_names(&self) -> Result<Vec<String>, ReadError> {
        Ok(self.tags.tag_names())
    }

    fn tag_values(&self, tag: &str) -> Result<Vec<(String, usize)>, ReadError> {
        Ok(self.tags.tag_values(tag))
    }

    fn tag_series(&self, path: &str) -> Result<String, ReadError> {
        TaggedSeries::parse(path).map_err(|e| ReadError::BadRequest(e.0))?;
        self.tags.add(path)
    }

    fn del_series(&self, path: &str) -> Result<bool, ReadError> {
        self.tags.remove(path)
    }
}

/// How long a writer trusts a mapping before checking that its path still
/// names the same file (a resize renames a new file over the old one). A
/// `stat` per write was the largest cost of writing a known file; with this
/// a file written many times a second is checked once a second. Writes in
/// that second land in the replaced file, as a Python carbon's do while a
/// `whisper-resize` is copying.
const REVALIDATE_AFTER: Duration = Duration::from_secs(1);

/// How long a writer woken by new points waits for more before its pass.
const WRITER_GATHER: Duration = Duration::from_micros(500);

/// Metrics of one shard a writer takes and confirms under one lock each:
/// per metric, the lock and the shared counters cost more than the write
/// (the ingest thread keeps taking the same locks).
const WRITE_BATCH: usize = 64;

struct OpenFile {
    /// Whose file this is: a cache slot reused for another metric no
    /// longer matches it.
    name: Arc<str>,
    file: WhisperFile,
    path: PathBuf,
    ino: u64,
    checked: Instant,
}

/// A writer's mapped files, by the cache slot of their metric.
struct OpenFiles {
    /// `[shard][slot]`; only this writer's shards are filled.
    files: Vec<Vec<Option<OpenFile>>>,
    mapped: usize,
    /// This writer's share of [`mapped_files_budget`].
    limit: usize,
    /// `(shard, slot)` of the file [`OpenFiles::get`] returned last.
    last_used: Option<(usize, usize)>,
}

/// See [`OpenFiles::prefetch`].
#[derive(Clone, Copy)]
enum Stage {
    Entry,
    File,
}

enum Opened<'a> {
    File(&'a mut WhisperFile),
    /// A small file while the writer's mappings are all in use: written
    /// with [`whisper::update_many_unmapped`].
    Unmapped(PathBuf),
    Missing(PathBuf),
}

/// Files up to this size are written without a mapping once a writer's
/// mapping budget is spent (carbon's default 60 s × 1 day is 17 KiB); larger
/// ones evict a mapping, as reading and writing them whole would cost more.
const UNMAPPED_WRITE_MAX_BYTES: u64 = 64 * 1024;

impl OpenFiles {
    fn new(shards: usize, limit: usize) -> OpenFiles {
        OpenFiles {
            files: (0..shards).map(|_| Vec::new()).collect(),
            mapped: 0,
            limit,
            last_used: None,
        }
    }

    fn slot(&mut self, metric: &MetricRef) -> &mut Option<OpenFile> {
        let shard = &mut self.files[metric.shard];
        let slot = metric.slot as usize;
        if shard.len() <= slot {
            shard.resize_with(slot + 1, || None);
        }
        &mut shard[slot]
    }

    /// The mapping of `metric`'s file; `now` is the writer's pass time.
    fn get(
        &mut self,
        inner: &Inner,
        metric: &MetricRef,
        now: Instant,
    ) -> Result<Opened<'_>, WhisperError> {
        let path = match self.slot(metric) {
            Some(open) if Arc::ptr_eq(&open.name, &metric.name) => {
                if now.duration_since(open.checked) < REVALIDATE_AFTER {
                    return Ok(self.open_file(metric));
                }
                open.path.clone()
            }
            _ => inner.file_for(&metric.name),
        };
        let (ino, len) = match std::fs::metadata(&path) {
            Ok(m) => (m.ino(), m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.forget(metric);
                return Ok(Opened::Missing(path));
            }
            Err(e) => {
                return Err(WhisperError::Io {
                    path,
                    op: "stat",
                    source: e,
                })
            }
        };
        match self.slot(metric) {
            Some(open)
                if Arc::ptr_eq(&open.name, &metric.name)
                    && open.ino == ino
                    && open.path == path =>
            {
                open.checked = now;
            }
            _ => {
                self.forget(metric);
                if self.mapped >= self.limit {
                    if len <= UNMAPPED_WRITE_MAX_BYTES {
                        // the mapped set stays as it is: no remapping churn
                        return Ok(Opened::Unmapped(path));
                    }
                    self.evict_one();
                }
                let file = WhisperFile::open_rw(&path)?;
                *self.slot(metric) = Some(OpenFile {
                    name: Arc::clone(&metric.name),
                    file,
                    path,
                    ino,
                    checked: now,
                });
                self.mapped += 1;
            }
        }
        Ok(self.open_file(metric))
    }

    fn open_file(&mut self, metric: &MetricRef) -> Opened<'_> {
        self.last_used = Some((metric.shard, metric.slot as usize));
        match self.slot(metric) {
            Some(open) => Opened::File(&mut open.file),
            None => Opened::Missing(PathBuf::new()),
        }
    }

    /// Unmaps one file, not all: writers visit every queued metric in each
    /// pass, so clearing the whole set would make a writer with more metrics
    /// than the limit reopen every file on every pass. The victim is the
    /// file used last: passes visit metrics in much the same order every
    /// time, and for such cycles evicting the most recent keeps a fixed set
    /// of files mapped (about limit/metrics of the writes hit), where any
    /// older-first order would unmap exactly the files needed next.
    /// No msync: the dirty pages are in the page cache and reach the disk as
    /// whisper's own write()s do; a synchronous msync of thousands of files
    /// here made the writers slower than Python whisper.
    fn evict_one(&mut self) {
        if let Some((shard, slot)) = self.last_used.take() {
            if let Some(open) = self.files[shard].get_mut(slot) {
                if open.take().is_some() {
                    self.mapped -= 1;
                    return;
                }
            }
        }
        for table in &mut self.files {
            if let Some(open) = table.iter_mut().find(|open| open.is_some()) {
                *open = None;
                self.mapped -= 1;
                return;
            }
        }
    }

    /// Starts loading what writing `metric` reads first. `Stage::Entry`
    /// fetches the slot's entry, so that `Stage::File`, issued a write
    /// later, finds the mapping's address at once.
    fn prefetch(&self, metric: &MetricRef, stage: Stage) {
        if let Some(open) = self.files[metric.shard].get(metric.slot as usize) {
            match stage {
                Stage::Entry => crate::sys::prefetch(open),
                Stage::File => {
                    if let Some(open) = open {
                        open.file.prefetch_for_update();
                    }
                }
            }
        }
    }

    /// Whether `metric`'s file is mapped (it may still need its once a
    /// second check).
    fn is_mapped(&self, metric: &MetricRef) -> bool {
        matches!(
            self.files[metric.shard].get(metric.slot as usize),
            Some(Some(open)) if Arc::ptr_eq(&open.name, &metric.name)
        )
    }

    fn forget(&mut self, metric: &MetricRef) {
        if self.slot(metric).take().is_some() {
            self.mapped -= 1;
        }
    }

    fn flush_all(&self) {
        for open in self.files.iter().flatten().flatten() {
            if let Err(e) = open.file.flush() {
                tracing::warn!(error = %e, "msync failed");
            }
        }
    }
}

enum Outcome {
    Written,
    Deferred,
    StorageFull,
    Dropped,
}

fn write_metric(
    inner: &Inner,
    files: &mut OpenFiles,
    points: &mut Points,
    buffers: &mut FileBuffers,
    metric: &MetricRef,
    stopping: bool,
    pass_time: (Instant, i64),
) -> Outcome {
    let mut opened = files.get(inner, metric, pass_time.0);
    if let Ok(Opened::Missing(path)) = &opened {
        // creates are rate limited, except while draining at shutdown
        let allowed = stopping
            || inner
                .creates
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
        if !allowed {
            return Outcome::Deferred;
        }
        if let Err(e) = inner.create(&metric.name, path) {
            inner.stats.create_errors.fetch_add(1, Ordering::Relaxed);
            let full = e.is_storage_full();
            inner.log_error(|| tracing::error!(metric = &*metric.name, error = %e, "cannot create whisper file; points kept in the cache"));
            return if full {
                Outcome::StorageFull
            } else {
                Outcome::Deferred
            };
        }
        opened = files.get(inner, metric, pass_time.0);
    }
    let opened = match opened {
        Ok(Opened::Missing(_)) => return Outcome::Deferred,
        Ok(opened) => opened,
        Err(e) => {
            // corrupt or unreadable: only this metric's points are lost
            let dropped = if inner.cache.take_into(metric, points) {
                points.len()
            } else {
                0
            };
            inner.cache.confirm(metric);
            inner
                .stats
                .dropped_points
                .fetch_add(dropped as u64, Ordering::Relaxed);
            inner.log_error(|| tracing::error!(metric = &*metric.name, error = %e, dropped, "cannot open whisper file; points dropped"));
            return Outcome::Dropped;
        }
    };
    if !inner.cache.take_into(metric, points) {
        return Outcome::Deferred;
    }
    let result = match opened {
        Opened::File(file) => file.update_many(points, pass_time.1),
        Opened::Unmapped(path) => {
            whisper::update_many_unmapped(&path, points, pass_time.1, buffers)
        }
        Opened::Missing(_) => {
            inner.cache.put_back(metric);
            return Outcome::Deferred;
        }
    };
    let outcome = settle(inner, files, metric, points.len(), result);
    if let Outcome::Written = outcome {
        inner.stats.count_writes(1, points.len());
    }
    if let Outcome::Written | Outcome::Dropped = outcome {
        inner.cache.confirm(metric);
    }
    outcome
}

/// What becomes of `taken` in-flight points of `metric` after their update:
/// a full disk puts them back in the queue, another error drops them. The
/// caller confirms the written and the dropped and counts the written.
fn settle(
    inner: &Inner,
    files: &mut OpenFiles,
    metric: &MetricRef,
    taken: usize,
    result: Result<(), WhisperError>,
) -> Outcome {
    match result {
        Ok(()) => Outcome::Written,
        Err(e) if e.is_storage_full() => {
            inner.cache.put_back(metric);
            inner.stats.write_errors.fetch_add(1, Ordering::Relaxed);
            Outcome::StorageFull
        }
        Err(e) => {
            inner
                .stats
                .dropped_points
                .fetch_add(taken as u64, Ordering::Relaxed);
            inner.log_error(|| tracing::error!(metric = &*metric.name, error = %e, "whisper update failed; points dropped"));
            files.forget(metric);
            Outcome::Dropped
        }
    }
}

/// A writer's reused buffers for [`write_batch`].
#[derive(Default)]
struct BatchScratch {
    /// Indices in the batch of the metrics whose files are mapped.
    mapped: Vec<usize>,
    file_buffers: FileBuffers,
    points: Points,
    ends: Vec<usize>,
    done: Vec<usize>,
}

/// Writes metrics of one shard. Those whose files are mapped (the steady
/// state) are taken and confirmed together, under one lock each; the
/// others, which may need a file opened or created, go one by one through
/// [`write_metric`]. Returns whether any points left the cache and whether
/// the disk is full (the writer then stops its pass).
fn write_batch(
    inner: &Inner,
    files: &mut OpenFiles,
    scratch: &mut BatchScratch,
    batch: &[(MetricRef, usize)],
    stopping: bool,
    pass_time: (Instant, i64),
) -> (bool, bool) {
    let mut progress = false;
    scratch.mapped.clear();
    for (i, (metric, _)) in batch.iter().enumerate() {
        if files.is_mapped(metric) {
            scratch.mapped.push(i);
            continue;
        }
        match write_metric(
            inner,
            files,
            &mut scratch.points,
            &mut scratch.file_buffers,
            metric,
            stopping,
            pass_time,
        ) {
            Outcome::Written | Outcome::Dropped => progress = true,
            Outcome::Deferred => {}
            Outcome::StorageFull => return (progress, true),
        }
    }
    let Some(&first) = scratch.mapped.first() else {
        return (progress, false);
    };
    let shard = batch[first].0.shard;
    let BatchScratch {
        mapped,
        file_buffers,
        points,
        ends,
        done,
    } = scratch;
    let metric_at = |k: usize| &batch[mapped[k]].0;
    for k in 0..mapped.len().min(2) {
        files.prefetch(metric_at(k), Stage::Entry);
    }
    inner
        .cache
        .take_many(shard, mapped.iter().map(|&i| &batch[i].0), points, ends);
    done.clear();
    let (mut written, mut committed) = (0, 0);
    let mut full = false;
    let mut start = 0;
    for k in 0..mapped.len() {
        let metric = metric_at(k);
        let taken = &points[start..ends[k]];
        start = ends[k];
        if taken.is_empty() {
            continue;
        }
        // memory latency, not arithmetic, is what a write costs
        if k + 2 < mapped.len() {
            files.prefetch(metric_at(k + 2), Stage::Entry);
        }
        if k + 1 < mapped.len() {
            files.prefetch(metric_at(k + 1), Stage::File);
        }
        if full {
            // the disk filled up earlier in this batch
            inner.cache.put_back(metric);
            continue;
        }
        let result = match files.get(inner, metric, pass_time.0) {
            Ok(Opened::File(file)) => file.update_many(taken, pass_time.1),
            Ok(Opened::Unmapped(path)) => {
                whisper::update_many_unmapped(&path, taken, pass_time.1, file_buffers)
            }
            Ok(Opened::Missing(_)) => {
                // removed since it was mapped: created again next pass
                inner.cache.put_back(metric);
                continue;
            }
            Err(e) => Err(e),
        };
        match settle(inner, files, metric, taken.len(), result) {
            Outcome::Written => {
                written += 1;
                committed += taken.len();
                done.push(k);
            }
            Outcome::Dropped => done.push(k),
            Outcome::StorageFull => full = true,
            Outcome::Deferred => {}
        }
    }
    inner
        .cache
        .confirm_many(shard, done.iter().map(|&k| metric_at(k)));
    inner.stats.count_writes(written, committed);
    (progress || !done.is_empty(), full)
}

fn writer_loop(inner: &Inner, writer: usize) {
    let writers = inner.settings.writers;
    let shards: Vec<usize> = (0..inner.cache.shard_count())
        .filter(|s| s % writers == writer)
        .collect();
    let mut files = OpenFiles::new(
        inner.cache.shard_count(),
        (inner
            .settings
            .max_mapped_files
            .unwrap_or_else(mapped_files_budget)
            / writers.max(1))
        .max(1),
    );
    let mut work: Vec<(MetricRef, usize)> = Vec::new();
    let mut scratch = BatchScratch::default();
    let mut fruitless_drain_passes = 0;
    loop {
        let stopping = inner.stopping.load(Ordering::SeqCst);
        if !stopping && inner.writers_paused.load(Ordering::SeqCst) {
            inner.cache.wait(Duration::from_millis(50));
            continue;
        }
        work.clear();
        for &s in &shards {
            inner.cache.queued_counts_into(s, &mut work);
        }
        if work.is_empty() {
            if stopping {
                break;
            }
            if inner.cache.wait(Duration::from_millis(200)) {
                // Let the arrivals that woke us gather: one pass per
                // ingest call would cost a wake-up (two context switches)
                // each, more than the writes themselves under load.
                std::thread::sleep(WRITER_GATHER);
            }
            continue;
        }
        // most points first; metrics with as many points grouped by shard
        work.sort_unstable_by_key(|w| (std::cmp::Reverse(w.1), w.0.shard));
        let mut pass_time = (Instant::now(), unix_now());
        let mut progress = false;
        let mut full = false;
        let mut since_clock = 0;
        for batch in work.chunk_by(|a, b| a.0.shard == b.0.shard) {
            for batch in batch.chunks(WRITE_BATCH) {
                // the clocks (whisper's `now`, mapping revalidation) are
                // read per group of writes: per write they cost more than
                // a write
                since_clock += batch.len();
                if since_clock >= 1024 {
                    since_clock = 0;
                    pass_time = (Instant::now(), unix_now());
                }
                let (wrote, disk_full) =
                    write_batch(inner, &mut files, &mut scratch, batch, stopping, pass_time);
                progress |= wrote;
                full = disk_full;
                if full {
                    break;
                }
            }
            if full {
                break;
            }
        }
        if full {
            inner.log_error(|| tracing::error!("disk full: points kept in the cache, retrying"));
        }
        if !progress {
            if stopping {
                fruitless_drain_passes += 1;
                if fruitless_drain_passes >= 50 {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(if full { 1000 } else { 50 }));
        } else {
            fruitless_drain_passes = 0;
        }
    }
    files.flush_all();
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn merge_follows_graphite_web() {
        let mut f = Fetched {
            start: 60,
            end: 120,
            step: 60,
            values: vec![Some(1.0)],
        };
        // coarser step: the cache replaces the fetched value with its own aggregate
        merge_cached(
            &mut f,
            &[(60, 5.0), (65, 6.0), (70, 7.0)],
            AggregationMethod::Sum,
            Some(10),
        );
        assert_eq!(
            f.values,
            vec![Some(13.0)],
            "65 and 60 share a 10 s slot; last wins"
        );
        let mut f = Fetched {
            start: 100,
            end: 130,
            step: 10,
            values: vec![None, Some(2.0), None],
        };
        merge_cached(
            &mut f,
            &[(90, 1.0), (121, 4.0)],
            AggregationMethod::Average,
            Some(10),
        );
        assert_eq!(f.values, vec![None, Some(2.0), Some(4.0)]);
    }
}
