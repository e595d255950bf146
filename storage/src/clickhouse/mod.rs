//! ClickHouse as the store, in the tables of the Graphite-on-ClickHouse
//! stack (carbon-clickhouse writes them, graphite-clickhouse reads them),
//! behind the same [`Ingest`]/[`Read`] handles as Whisper.
//!
//! - `queue.rs`: the bounded queue of points and index rows, and the
//!   per-day index cache;
//! - `writer.rs`: the thread that batches them into RowBinary inserts and
//!   retries;
//! - `read.rs`: find, render and tags with graphite-clickhouse's queries,
//!   then dedup and roll-up in Rust (`rollup.rs`, which also writes the
//!   server's `<graphite_rollup>`);
//! - `ddl.rs`: carbon-clickhouse's tables and the periodic OPTIMIZE;
//! - `journaling.rs`: the write-ahead journal in front of the queue;
//! - `names.rs`, `rowbinary.rs`, `client.rs`, `config.rs`: the formats,
//!   the HTTP client and the `[clickhouse]` section.

pub mod client;
pub mod config;
pub mod ddl;
mod journaling;
pub mod names;
pub mod queue;
mod read;
pub mod rollup;
pub mod rowbinary;
mod writer;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::api::{Ingest, IngestError, IngestReport, MetricPoint, Read};
use crate::config::StoreSettings;
use crate::flow::{Backpressure, Offered};
use crate::journal::Journal;
use crate::live_rules::LiveRules;
use crate::store::{normalize, self_metric_path, StatsSource};

pub use client::{ClickHouseError, Client};
pub use config::{ClickHouseConfig, ClickHouseSettings};
use queue::{IndexCache, IndexEntry, Queue, Row};

/// Counters of the ClickHouse backend (self-metrics).
#[derive(Default)]
pub struct Stats {
    points_received: AtomicU64,
    points_rejected: AtomicU64,
    queue_overflow: AtomicU64,
    points_inserted: AtomicU64,
    index_rows_queued: AtomicU64,
    inserts: AtomicU64,
    insert_errors: AtomicU64,
    points_lost_at_stop: AtomicU64,
    query_errors: AtomicU64,
    optimize_runs: AtomicU64,
    optimize_errors: AtomicU64,
}

pub(crate) struct Shared {
    settings: ClickHouseSettings,
    store: StoreSettings,
    /// The schemas and aggregation rules of the query-time roll-up (a
    /// reload replaces them; `store`'s are only their first value).
    rules: LiveRules,
    client: Client,
    queue: Mutex<Queue>,
    /// Wakes the writer (a full batch, a stop) and, the other way, producers
    /// waiting for room.
    wake: Condvar,
    index_cache: Mutex<IndexCache>,
    stats: Stats,
    sources: Mutex<Vec<StatsSource>>,
    accepting: AtomicBool,
    /// The write-ahead journal, unless `[storage] wal = false`.
    journal: Option<Journal>,
    /// A refusal by the journal was logged (once per run of refusals).
    journal_warned: AtomicBool,
}

/// Points and reads on ClickHouse.
pub struct ClickHouseStore {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
    ticker: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    journal_thread: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

impl ClickHouseStore {
    /// Replays the journal into the queue, then starts the writer and the
    /// periodic tasks. The server need not be up: points wait in the queue
    /// (up to its bound) until it is.
    pub fn open(
        store: StoreSettings,
        settings: ClickHouseSettings,
    ) -> std::io::Result<ClickHouseStore> {
        let (journal, replayed) = match &store.journal {
            Some(js) => {
                let (journal, replayed) = Journal::open(&store.data_dir, js.clone())?;
                (Some(journal), replayed)
            }
            None => (None, Vec::new()),
        };
        let client = Client::new(&settings);
        let shared = Arc::new(Shared {
            index_cache: Mutex::new(IndexCache::new(settings.index_cache_size)),
            client,
            settings,
            rules: LiveRules::new(store.schemas.clone(), store.aggregation.clone()),
            store,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            stats: Stats::default(),
            sources: Mutex::new(Vec::new()),
            accepting: AtomicBool::new(true),
            journal,
            journal_warned: AtomicBool::new(false),
        });
        shared.replay(replayed);
        let writer = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("clickhouse-writer".into())
                .spawn(move || writer::run(&shared))?
        };
        let ticker = spawn_ticker(&shared)?;
        let journal_thread = journaling::spawn(&shared)?;
        Ok(ClickHouseStore {
            shared,
            writer: Some(writer),
            ticker,
            journal_thread,
        })
    }

    /// The handle producers write through.
    pub fn ingest_handle(&self) -> Arc<dyn Ingest> {
        Arc::clone(&self.shared) as Arc<dyn Ingest>
    }

    /// The handle TCP receivers offer points through.
    pub fn backpressure_handle(&self) -> Arc<dyn Backpressure> {
        Arc::clone(&self.shared) as Arc<dyn Backpressure>
    }

    /// The handle the render API reads through.
    pub fn read_handle(&self) -> Arc<dyn Read> {
        Arc::clone(&self.shared) as Arc<dyn Read>
    }

    /// Self-metric counters.
    pub fn stats(&self) -> Vec<(String, f64)> {
        self.shared.stats()
    }

    /// [`ClickHouseStore::stats`] from anywhere.
    pub fn stats_handle(&self) -> StatsSource {
        let shared = Arc::clone(&self.shared);
        Arc::new(move || shared.stats())
    }

    /// Adds a source whose counters are written with the store's own.
    pub fn add_stats_source(&self, source: StatsSource) {
        self.shared
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(source);
    }

    /// The retention rule of a series called `name`.
    pub fn schema_for(&self, name: &str) -> crate::schema::SchemaRule {
        self.shared.rules.schema_for(name)
    }

    /// The handle a reload replaces the roll-up's rules through.
    pub fn rules_handle(&self) -> LiveRules {
        self.shared.rules.clone()
    }

    /// Points waiting for their insert.
    pub fn queued_points(&self) -> usize {
        self.shared.lock_queue().points.len()
    }

    /// Stops accepting, inserts what is queued (retrying until
    /// `[storage] stop_timeout`), and joins the threads. Points still
    /// queued then are counted and logged as lost.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some((tx, handle)) = self.ticker.take() {
            let _ = tx.send(());
            let _ = handle.join();
            if let Some((prefix, _)) = &self.shared.store.self_metrics {
                self.shared.write_self_metrics(prefix);
            }
        }
        self.shared.accepting.store(false, Ordering::SeqCst);
        self.shared.lock_queue().stopping = true;
        self.shared.wake.notify_all();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        if let Some((tx, handle)) = self.journal_thread.take() {
            let _ = tx.send(());
            let _ = handle.join();
            self.shared.finish_journal();
        }
    }
}

impl Drop for ClickHouseStore {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Self-metrics and the scheduled OPTIMIZE, on one thread.
fn spawn_ticker(
    shared: &Arc<Shared>,
) -> std::io::Result<Option<(mpsc::Sender<()>, JoinHandle<()>)>> {
    let self_metrics = shared.store.self_metrics.clone();
    let optimize = shared.settings.optimize_interval;
    if self_metrics.is_none() && optimize.is_none() {
        return Ok(None);
    }
    let (tx, rx) = mpsc::channel::<()>();
    let shared = Arc::clone(shared);
    let handle = std::thread::Builder::new()
        .name("clickhouse-tasks".into())
        .spawn(move || {
            let tick = self_metrics
                .as_ref()
                .map(|(_, every)| *every)
                .into_iter()
                .chain(optimize)
                .min()
                .unwrap_or(Duration::from_secs(60));
            let start = std::time::Instant::now();
            let mut next_metrics = self_metrics.as_ref().map(|(_, every)| start + *every);
            let mut next_optimize = optimize.map(|every| start + every);
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(tick.min(Duration::from_secs(1))) {
                let now = std::time::Instant::now();
                if let (Some(at), Some((prefix, every))) = (next_metrics, &self_metrics) {
                    if now >= at {
                        shared.write_self_metrics(prefix);
                        next_metrics = Some(at + *every);
                    }
                }
                if let (Some(at), Some(every)) = (next_optimize, optimize) {
                    if now >= at {
                        shared.stats.optimize_runs.fetch_add(1, Ordering::Relaxed);
                        if let Err(e) = ddl::optimize(&shared.client, &shared.settings, ddl::Partitions::Old) {
                            shared.stats.optimize_errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(error = %e, "scheduled OPTIMIZE of the points table failed");
                        }
                        next_optimize = Some(now + every);
                    }
                }
            }
        })?;
    Ok(Some((tx, handle)))
}

/// Whether a producer may wait for room (TCP) or must be answered now
/// (UDP, StatsD): offers leave 5 % of the queue to the latter.
#[derive(Clone, Copy, PartialEq)]
enum Room {
    All,
    LeaveHeadroom,
}

impl Shared {
    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stats(&self) -> Vec<(String, f64)> {
        let s = &self.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        let (queued, index_queued) = {
            let q = self.lock_queue();
            (q.points.len(), q.index.len())
        };
        let mut out = vec![
            (
                "clickhouse.pointsReceived".to_string(),
                get(&s.points_received),
            ),
            ("clickhouse.pointsRejected".into(), get(&s.points_rejected)),
            ("clickhouse.queueOverflow".into(), get(&s.queue_overflow)),
            ("clickhouse.pointsInserted".into(), get(&s.points_inserted)),
            (
                "clickhouse.indexRowsQueued".into(),
                get(&s.index_rows_queued),
            ),
            ("clickhouse.inserts".into(), get(&s.inserts)),
            ("clickhouse.insertErrors".into(), get(&s.insert_errors)),
            (
                "clickhouse.pointsLostAtStop".into(),
                get(&s.points_lost_at_stop),
            ),
            ("clickhouse.queryErrors".into(), get(&s.query_errors)),
            ("clickhouse.optimizeRuns".into(), get(&s.optimize_runs)),
            ("clickhouse.optimizeErrors".into(), get(&s.optimize_errors)),
            ("clickhouse.queuedPoints".into(), queued as f64),
            ("clickhouse.queuedIndexEntries".into(), index_queued as f64),
        ];
        let sources = self
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(journal) = &self.journal {
            out.extend(journal.stats());
        }
        for source in sources {
            out.extend(source());
        }
        out
    }

    fn write_self_metrics(&self, prefix: &str) {
        let now = i64::from(unix_now());
        let points = self
            .stats()
            .into_iter()
            .map(|(k, v)| MetricPoint::new(self_metric_path(prefix, &k), now, v))
            .collect();
        let _ = self.accept(points, Room::All);
    }

    /// Validates and names the points, then queues what fits; the rest is
    /// handed back (offers) or refused and counted (ingest).
    fn accept(&self, points: Vec<MetricPoint>, room: Room) -> (IngestReport, Vec<MetricPoint>) {
        let mut report = IngestReport::default();
        self.stats
            .points_received
            .fetch_add(points.len() as u64, Ordering::Relaxed);
        if !self.accepting.load(Ordering::SeqCst) {
            report.overflowed = points.len();
            self.stats
                .queue_overflow
                .fetch_add(points.len() as u64, Ordering::Relaxed);
            return (report, Vec::new());
        }
        let received = unix_now();
        let mut rows = Vec::with_capacity(points.len());
        let mut originals = Vec::with_capacity(points.len());
        let mut new_entries = Vec::new();
        {
            let mut cache = self.index_cache.lock().unwrap_or_else(|e| e.into_inner());
            let mut last: Option<(String, Arc<str>)> = None;
            for point in points {
                let time = match u32::try_from(point.timestamp) {
                    Ok(t) if !point.value.is_nan() => t,
                    _ => {
                        report.rejected += 1;
                        continue;
                    }
                };
                let path = match &last {
                    Some((name, path)) if *name == point.name => Arc::clone(path),
                    _ => match normalize(&point.name) {
                        Ok((canonical, _)) => {
                            let path: Arc<str> = Arc::from(names::to_stored(&canonical));
                            last = Some((point.name.clone(), Arc::clone(&path)));
                            path
                        }
                        Err(_) => {
                            report.rejected += 1;
                            continue;
                        }
                    },
                };
                let day = names::day_of(time);
                if cache.first_time(day, &path) {
                    new_entries.push(IndexEntry {
                        path: Arc::clone(&path),
                        day,
                    });
                }
                rows.push(Row {
                    path,
                    time,
                    value: point.value,
                    received,
                });
                originals.push(point);
            }
        }
        let limit = match room {
            Room::All => self.settings.max_queue_points,
            Room::LeaveHeadroom => {
                self.settings.max_queue_points - self.settings.max_queue_points / 20
            }
        };
        let mut rest = Vec::new();
        {
            let mut queue = self.lock_queue();
            let fits = limit.saturating_sub(queue.points.len()).min(rows.len());
            self.stats
                .index_rows_queued
                .fetch_add(new_entries.len() as u64, Ordering::Relaxed);
            queue.index.extend(new_entries);
            // Write-ahead: what fits is journaled before it is queued; a
            // journal that cannot take it refuses it all.
            let fits = match self.journal.as_ref().map(|j| j.append(&originals[..fits])) {
                Some(Err(e)) => {
                    if self.journal_warned.swap(true, Ordering::Relaxed) {
                        tracing::debug!(error = %e, "points refused: the journal cannot take them");
                    } else {
                        tracing::warn!(error = %e, "points refused: the journal cannot take them");
                    }
                    0
                }
                _ => {
                    self.journal_warned.store(false, Ordering::Relaxed);
                    fits
                }
            };
            let mut rows = rows.into_iter();
            queue.points.extend(rows.by_ref().take(fits));
            report.accepted = fits;
            let refused = rows.len();
            if refused > 0 {
                match room {
                    Room::LeaveHeadroom => rest = originals.split_off(fits),
                    Room::All => report.overflowed = refused,
                }
            }
            if queue.points.len() >= self.settings.batch_size {
                self.wake.notify_all();
            }
        }
        self.stats
            .points_rejected
            .fetch_add(report.rejected as u64, Ordering::Relaxed);
        self.stats
            .queue_overflow
            .fetch_add(report.overflowed as u64, Ordering::Relaxed);
        (report, rest)
    }
}

impl Shared {
    /// Puts the journal's points back in the queue, beyond its bound (they
    /// were accepted once) and without journaling them again (their
    /// segments stay until the first checkpoint).
    fn replay(&self, points: Vec<MetricPoint>) {
        if points.is_empty() {
            return;
        }
        let received = unix_now();
        let mut cache = self.index_cache.lock().unwrap_or_else(|e| e.into_inner());
        let mut queue = self.lock_queue();
        let mut skipped = 0usize;
        for point in points {
            let (Ok(time), Ok((canonical, _))) =
                (u32::try_from(point.timestamp), normalize(&point.name))
            else {
                skipped += 1;
                continue;
            };
            let path: Arc<str> = Arc::from(names::to_stored(&canonical));
            let day = names::day_of(time);
            if cache.first_time(day, &path) {
                queue.index.push_back(IndexEntry {
                    path: Arc::clone(&path),
                    day,
                });
            }
            queue.points.push_back(Row {
                path,
                time,
                value: point.value,
                received,
            });
        }
        if skipped > 0 {
            tracing::warn!(
                skipped,
                "journal points without a valid name or time were dropped"
            );
        }
        self.wake.notify_all();
    }
}

impl Ingest for Shared {
    fn ingest(&self, points: Vec<MetricPoint>) -> Result<IngestReport, IngestError> {
        Ok(self.accept(points, Room::All).0)
    }
}

impl Backpressure for Shared {
    fn offer(&self, points: Vec<MetricPoint>) -> Result<Offered, IngestError> {
        if !self.accepting.load(Ordering::SeqCst) {
            return Err(IngestError::ShuttingDown);
        }
        let (report, rest) = self.accept(points, Room::LeaveHeadroom);
        Ok(Offered { report, rest })
    }
}
