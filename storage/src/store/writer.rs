//! The writer threads: each owns a fixed subset of the cache's shards and,
//! in every pass, moves each queued metric's points into its Whisper file
//! with one `update_many`. Files stay mapped ([`OpenFiles`], within a budget
//! derived from `vm.max_map_count`); metrics of one shard whose files are
//! mapped are taken from and confirmed to the cache in batches.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cache::{MetricRef, Points};
use crate::whisper::{self, FileBuffers, WhisperError, WhisperFile};

use super::{unix_now, Inner};

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
    /// The [`super::resize::FileSwap`] generation it was checked in: a
    /// mapping older than the last file replacement is checked again.
    generation: u64,
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
    /// The file-swap generation of the batch being written.
    generation: u64,
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
            generation: 0,
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
        let generation = self.generation;
        let path = match self.slot(metric) {
            Some(open) if Arc::ptr_eq(&open.name, &metric.name) => {
                if now.duration_since(open.checked) < REVALIDATE_AFTER
                    && open.generation == generation
                {
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
                open.generation = generation;
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
                    generation,
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
    if metric.awaiting_file && !stopping && !inner.create_token_available() {
        // no create possible this pass: spare the stat of a missing file
        return Outcome::Deferred;
    }
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
            if let WhisperError::Corrupt { path, .. } = &e {
                if inner.corrupt_file(&metric.name, path, &e) {
                    files.forget(metric);
                    return Outcome::Deferred;
                }
            }
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

pub(super) fn writer_loop(inner: &Inner, writer: usize) {
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
        // Series with files first, so a burst of new names waiting for
        // creates never delays them; then most points first; metrics with
        // as many points grouped by shard.
        work.sort_unstable_by_key(|w| (w.0.awaiting_file, std::cmp::Reverse(w.1), w.0.shard));
        let mut pass_time = (Instant::now(), unix_now());
        let mut progress = false;
        let mut full = false;
        let mut since_clock = 0;
        'pass: for batch in work.chunk_by(|a, b| a.0.shard == b.0.shard) {
            for batch in batch.chunks(WRITE_BATCH) {
                // the clocks (whisper's `now`, mapping revalidation) are
                // read per group of writes: per write they cost more than
                // a write
                since_clock += batch.len();
                if since_clock >= 1024 {
                    since_clock = 0;
                    pass_time = (Instant::now(), unix_now());
                }
                // no file is replaced under a batch (see store::resize)
                let (swap, generation) = inner.file_swap.writing();
                files.generation = generation;
                let (wrote, disk_full) =
                    write_batch(inner, &mut files, &mut scratch, batch, stopping, pass_time);
                drop(swap);
                progress |= wrote;
                full = disk_full;
                if full {
                    break;
                }
                // A stop's drain creates files without the rate limit: a
                // pass over a burst of new names can outlast stop_timeout
                // by minutes, so the deadline is checked per batch too.
                if stopping && inner.past_stop_deadline() {
                    break 'pass;
                }
            }
            if full {
                break;
            }
        }
        if full {
            inner.log_error(|| tracing::error!("disk full: points kept in the cache, retrying"));
        }
        if stopping && inner.past_stop_deadline() {
            // what is left stays in the journal (see journaling::finish)
            break;
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
    // No msync per file: the pages are in the page cache, which a process
    // crash keeps; the journal covers a power loss until the stop's one
    // syncfs (journaling::finish).
}
