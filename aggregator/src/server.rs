//! The running daemon: shared [`Core`] state, the flush scheduler, and
//! [`Aggregator::start`] / [`Running`] that own every thread.

use std::borrow::Cow;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use storage::refusals::Refusals;
use storage::{Ingest, MetricPoint};

use crate::bucket::{Buckets, ResetRules};
use crate::config::Settings;
use crate::error::ParseError;
use crate::flush::{FlushContext, Namer, PointSink, TimerPlan};
use crate::keymap::key_hash;
use crate::listen;
use crate::sample::Sample;
use crate::stats::Stats;
use crate::statsd::{parse_line, parse_plain_line};
use crate::time::{unix_now_ms, unix_now_secs};

/// Status figures of the backend the flushes go to, sent with every flush
/// as `<prefix>.graphiteStats.<name>` (the reference's Graphite backend
/// reports `last_exception`, `last_flush`, `flush_time`, `flush_length`).
pub trait BackendStatus: Send + Sync {
    /// (name, value) pairs; names starting with `last_` are Unix seconds.
    fn status(&self) -> Vec<(&'static str, f64)>;
}

/// State shared by listeners, the flusher and the admin console.
pub struct Core {
    pub(crate) settings: Settings,
    pub(crate) buckets: Buckets,
    pub(crate) stats: Stats,
    namer: Namer,
    plan: TimerPlan,
    sink: Arc<dyn Ingest>,
    pub(crate) backend: Option<Arc<dyn BackendStatus>>,
    keys: InternalKeys,
    rules: ResetRules,
    last_flush_ts: Mutex<Option<i64>>,
    /// The last flush's points, kept for the state file's snapshots.
    pub(crate) last_flush: Mutex<Vec<MetricPoint>>,
    /// How many points the last flush made: the next one allocates its
    /// points vector at that size once instead of growing it by doubling
    /// (each doubling copied the points and faulted in fresh pages; 4% of
    /// the flush thread's CPU at 10,000 keys). The sink keeps the vector,
    /// so it cannot be reused; a burst's size lasts one flush.
    points_hint: AtomicUsize,
    /// Held while the state file is written (flush and snapshot timer).
    pub(crate) state_write: Mutex<()>,
    pub(crate) started_secs: i64,
    pub(crate) healthy: AtomicBool,
    pub(crate) stop: AtomicBool,
    pub(crate) kernel_drops: Mutex<Vec<Arc<std::sync::atomic::AtomicU64>>>,
    /// New keys refused by `max_keys`, per prefix, logged once a minute.
    key_refusals: Refusals,
    /// What the admin console's `reload` runs, once the process set it.
    pub(crate) admin_reload: Mutex<Option<crate::listen::admin::ReloadHook>>,
}

/// One valid sample of a receive batch: its key's [`key_hash`], the shard
/// that owns the key, and the key's index in the batch's keys.
struct Pending<'a> {
    hash: u64,
    shard: usize,
    key: usize,
    sample: Sample<'a>,
}

/// Buffers [`Core::aggregate_datagrams`] reuses from batch to batch. The
/// borrowing ones are kept empty between batches ([`recycle`]).
#[derive(Default)]
struct BatchScratch {
    keys: Vec<Cow<'static, str>>,
    pending: Vec<Pending<'static>>,
    /// Indexes into the pending samples, grouped by shard, in order.
    order: Vec<u32>,
    /// Where each shard's group starts in `order` (one more than shards).
    starts: Vec<u32>,
}

impl BatchScratch {
    /// Samples a thread keeps room for between batches: a full `recvmmsg`
    /// batch (32 datagrams of 20 lines) fits; a larger TCP chunk allocates
    /// for itself, so 1,024 connection threads hold at most ~40 MB.
    const KEPT_SAMPLES: usize = 1024;

    /// Frees buffers a large batch grew past [`Self::KEPT_SAMPLES`].
    fn keep_bounded(&mut self) {
        if self.pending.capacity() > Self::KEPT_SAMPLES {
            *self = BatchScratch::default();
        }
    }

    /// A stable counting sort of the pending samples by shard.
    fn group_by_shard(&mut self, pending: &[Pending<'_>], shards: usize) {
        self.starts.clear();
        self.starts.resize(shards + 1, 0);
        for p in pending {
            self.starts[p.shard + 1] += 1;
        }
        for s in 1..=shards {
            self.starts[s] += self.starts[s - 1];
        }
        self.order.clear();
        self.order.resize(pending.len(), 0);
        // `starts[s]` serves as shard s's cursor, then is put back below.
        for (i, p) in pending.iter().enumerate() {
            let at = &mut self.starts[p.shard];
            self.order[*at as usize] = i as u32;
            *at += 1;
        }
        for s in (1..=shards).rev() {
            self.starts[s] = self.starts[s - 1];
        }
        self.starts[0] = 0;
    }

    /// The shards the grouped batch reaches, with their samples' indexes.
    fn groups(&self) -> impl Iterator<Item = (usize, &[u32])> {
        self.starts
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[1] > w[0])
            .map(|(shard, w)| (shard, &self.order[w[0] as usize..w[1] as usize]))
    }
}

thread_local! {
    /// The batch buffers of this thread, kept between batches so that a
    /// receive batch allocates nothing (up to [`BatchScratch::KEPT_SAMPLES`]).
    static SCRATCH: RefCell<BatchScratch> = RefCell::new(BatchScratch::default());
}

/// An empty vector with the allocation of `v` (cleared), for elements of
/// another lifetime: the batch buffers borrow from each batch's datagrams
/// yet keep their capacity across batches. The element types have one
/// layout, so the collect reuses the allocation in place.
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

struct InternalKeys {
    bad: String,
    packets: String,
    metrics: String,
    lag: String,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Core {
    pub(crate) fn new(
        settings: Settings,
        sink: Arc<dyn Ingest>,
        backend: Option<Arc<dyn BackendStatus>>,
    ) -> Core {
        let gauge_ttl = settings.delete_gauges.then_some(settings.gauges_max_ttl);
        let buckets = Buckets::new(
            settings.shards,
            settings.max_keys,
            settings.max_timer_values,
            gauge_ttl,
        )
        .with_timer_mode(settings.timer_mode);
        let namer = Namer::new(&settings);
        let keys = InternalKeys {
            bad: namer.internal_key("bad_lines_seen"),
            packets: namer.internal_key("packets_received"),
            metrics: namer.internal_key("metrics_received"),
            lag: namer.internal_key("timestamp_lag"),
        };
        // The reference starts with its three counters at 0, so they are
        // flushed even before the first packet.
        for k in [&keys.bad, &keys.packets, &keys.metrics] {
            buckets.add_counter(k, 0.0, true);
        }
        let rules = ResetRules {
            delete_counters: settings.delete_counters,
            delete_timers: settings.delete_timers,
            delete_sets: settings.delete_sets,
            delete_gauges: settings.delete_gauges,
            idle_zero_flushes: settings.idle_zero_flushes,
        };
        Core {
            plan: TimerPlan::new(&settings),
            namer,
            buckets,
            stats: Stats::default(),
            sink,
            backend,
            keys,
            rules,
            last_flush_ts: Mutex::new(None),
            last_flush: Mutex::new(Vec::new()),
            points_hint: AtomicUsize::new(0),
            state_write: Mutex::new(()),
            started_secs: unix_now_secs(),
            healthy: AtomicBool::new(true),
            stop: AtomicBool::new(false),
            kernel_drops: Mutex::new(Vec::new()),
            key_refusals: Refusals::new("[statsd] max_keys"),
            admin_reload: Mutex::new(None),
            settings,
        }
    }

    /// One datagram or TCP chunk: split, parse, aggregate, count.
    pub(crate) fn handle_packet(&self, packet: &str, peer: &dyn std::fmt::Display) {
        self.handle_datagram(packet.as_bytes(), peer);
    }

    /// [`Core::handle_packet`] for a datagram's bytes, which may hold
    /// invalid UTF-8 (read as the reference's `toString()` reads it).
    pub(crate) fn handle_datagram(&self, datagram: &[u8], peer: &dyn std::fmt::Display) {
        let n = self.aggregate_datagrams([datagram], peer);
        self.count_received(1, n);
    }

    /// Counts `packets` datagrams holding `metrics` non-empty lines. The UDP
    /// listener calls it once per receive batch, not per datagram: the
    /// shared counters are atomics every receive thread writes.
    pub(crate) fn count_received(&self, packets: u64, metrics: u64) {
        self.stats.packets(packets);
        self.stats.metrics(metrics);
        self.stats
            .last_msg_seen
            .store(unix_now_secs(), Ordering::Relaxed);
    }

    /// Splits, parses and aggregates a batch of datagrams as received (a
    /// receive batch, one TCP chunk, or in-process text as bytes) without
    /// counting them as received ([`Core::count_received`] does); returns
    /// their non-empty lines. The bytes are valid UTF-8 nearly always; a
    /// line that is not is read as the reference's `toString()` reads it.
    ///
    /// Every line is parsed first and its key hashed once ([`key_hash`]
    /// picks both the shard and the slot). Then each shard the batch
    /// reaches is locked once: the slots of all its samples are prefetched
    /// ([`Shard::prefetch`]), then the samples applied. At one metric per
    /// datagram nearly every slot is a cache miss (a key comes back only
    /// after megabytes of socket buffers went through the cache); started
    /// together, the misses overlap. Samples of one key keep their order
    /// (one key, one shard, and the grouping is stable).
    pub(crate) fn aggregate_datagrams<'a>(
        &self,
        datagrams: impl IntoIterator<Item = &'a [u8]>,
        peer: &dyn std::fmt::Display,
    ) -> u64 {
        let datagrams = datagrams.into_iter();
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => self.aggregate_batch(datagrams, peer, &mut scratch),
            // Only a re-entrant call could find it borrowed.
            Err(_) => self.aggregate_batch(datagrams, peer, &mut BatchScratch::default()),
        })
    }

    fn aggregate_batch<'a>(
        &self,
        datagrams: impl Iterator<Item = &'a [u8]>,
        peer: &dyn std::fmt::Display,
        scratch: &mut BatchScratch,
    ) -> u64 {
        let mut keys: Vec<Cow<'a, str>> = recycle(std::mem::take(&mut scratch.keys));
        let mut pending: Vec<Pending<'a>> = recycle(std::mem::take(&mut scratch.pending));
        let mut lines_seen = 0;
        let options = &self.settings.parse;
        for bytes in datagrams {
            let mut at = 0;
            while at < bytes.len() {
                // The plain line is read from the bytes where it starts (it
                // is ASCII, so a packet of plain lines needs no UTF-8 check),
                // without looking for its end first.
                if let Some(plain) = parse_plain_line(&bytes[at..], options) {
                    at += plain.len;
                    lines_seen += 1;
                    keys.push(Cow::Borrowed(plain.key));
                    pending.push(self.pending(key_hash(plain.key), keys.len() - 1, plain.sample));
                    continue;
                }
                let start = at;
                let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
                at = end + 1;
                if end == start {
                    continue;
                }
                lines_seen += 1;
                match simdutf8::basic::from_utf8(&bytes[start..end]) {
                    Ok(line) => self.parse_full_line(line, peer, &mut keys, &mut pending),
                    Err(_) => {
                        // Invalid UTF-8 (rare): the samples before it are
                        // applied first, so every key's samples keep their
                        // order; then the line as the reference's
                        // `toString()` reads it, replacement characters and all.
                        self.apply_pending(scratch, &keys, &pending);
                        keys.clear();
                        pending.clear();
                        let line = String::from_utf8_lossy(&bytes[start..end]);
                        let (mut line_keys, mut line_pending) = (Vec::new(), Vec::new());
                        self.parse_full_line(&line, peer, &mut line_keys, &mut line_pending);
                        self.apply_pending(scratch, &line_keys, &line_pending);
                    }
                }
            }
        }
        self.apply_pending(scratch, &keys, &pending);
        scratch.keys = recycle(keys);
        scratch.pending = recycle(pending);
        scratch.keep_bounded();
        lines_seen
    }

    /// Parses a non-empty line with the full parser into the batch's keys
    /// and pending samples, counting its bad samples.
    fn parse_full_line<'a>(
        &self,
        line: &'a str,
        peer: &dyn std::fmt::Display,
        keys: &mut Vec<Cow<'a, str>>,
        pending: &mut Vec<Pending<'a>>,
    ) {
        let parsed = parse_line(line, &self.settings.parse);
        let samples = parsed.samples();
        let mut key = Some(parsed.key);
        let mut held = None;
        for sample in samples {
            match sample {
                Ok(sample) => {
                    let (index, hash) = *held.get_or_insert_with(|| {
                        let k = key.take().unwrap_or_default();
                        let hash = key_hash(&k);
                        keys.push(k);
                        (keys.len() - 1, hash)
                    });
                    pending.push(self.pending(hash, index, sample));
                }
                Err(e) => self.bad(&e, peer),
            }
        }
    }

    /// Applies a batch's pending samples, a shard at a time: its samples'
    /// slots prefetched first, then the samples in order.
    fn apply_pending(
        &self,
        scratch: &mut BatchScratch,
        keys: &[Cow<'_, str>],
        pending: &[Pending<'_>],
    ) {
        scratch.group_by_shard(pending, self.buckets.shard_count());
        for (shard, group) in scratch.groups() {
            let mut guard = self.buckets.lock(shard);
            for &i in group {
                let p = &pending[i as usize];
                guard.prefetch(p.hash, &p.sample);
            }
            for &i in group {
                let p = &pending[i as usize];
                self.apply_locked(&mut guard, p.hash, &keys[p.key], &p.sample);
            }
        }
    }

    /// A batch's sample of the key at `key` in its keys, whose
    /// [`key_hash`] is `hash`.
    fn pending<'a>(&self, hash: u64, key: usize, sample: Sample<'a>) -> Pending<'a> {
        Pending {
            hash,
            shard: self.buckets.shard_of_hash(hash),
            key,
            sample,
        }
    }

    /// Aggregates one sample of `key` (whose [`key_hash`] is `hash`) into
    /// its locked shard, counting what the limits refuse.
    fn apply_locked(
        &self,
        shard: &mut crate::bucket::Shard,
        hash: u64,
        key: &str,
        sample: &Sample<'_>,
    ) {
        match self.buckets.apply_locked(shard, hash, key, sample) {
            crate::bucket::Applied::Ok => {}
            crate::bucket::Applied::KeyLimit => {
                self.stats.keys_over_limit.fetch_add(1, Ordering::Relaxed);
                self.key_refusals.record(key, 1);
            }
            crate::bucket::Applied::TimerLimit => {
                self.stats
                    .timer_values_over_limit
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// One sample from an in-process producer (log metrics): aggregated
    /// and counted exactly like a parsed StatsD line's.
    pub(crate) fn apply_sample(&self, key: &str, sample: &Sample<'_>) {
        let hash = key_hash(key);
        let mut shard = self.buckets.lock(self.buckets.shard_of_hash(hash));
        self.apply_locked(&mut shard, hash, key, sample);
        drop(shard);
        self.stats.metrics(1);
        self.stats
            .last_msg_seen
            .store(unix_now_secs(), Ordering::Relaxed);
    }

    pub(crate) fn bad(&self, e: &ParseError, peer: &dyn std::fmt::Display) {
        self.stats.bad_line(e, peer);
    }

    /// Where flushes go.
    pub(crate) fn sink(&self) -> &dyn Ingest {
        self.sink.as_ref()
    }

    fn interval_s(&self) -> f64 {
        self.settings.flush_interval.as_millis() as f64 / 1000.0
    }

    /// One flush: compute every point of the interval with timestamp `ts`
    /// and hand them to the sink. Returns the number of points.
    pub(crate) fn flush(&self, ts: i64) -> usize {
        let start = Instant::now();
        {
            let mut last = self.last_flush_ts.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(prev) = *last {
                self.buckets
                    .set_internal_gauge(&self.keys.lag, (ts - prev) as f64 - self.interval_s());
            }
            *last = Some(ts);
        }
        let counts = self.stats.take_interval();
        self.buckets
            .add_counter(&self.keys.bad, counts.bad as f64, true);
        self.buckets
            .add_counter(&self.keys.packets, counts.packets as f64, true);
        self.buckets
            .add_counter(&self.keys.metrics, counts.metrics as f64, true);

        let ctx = FlushContext {
            namer: &self.namer,
            plan: &self.plan,
            settings: &self.settings,
            timestamp: ts,
            interval_s: self.interval_s(),
        };
        // The daemon's own points (num_stats, timings, backend status) come
        // on top of the keys' points.
        const OWN_POINTS: usize = 16;
        let mut out =
            PointSink::with_capacity(self.points_hint.load(Ordering::Relaxed) + OWN_POINTS);
        let mut num_stats = 0usize;
        for i in 0..self.buckets.shard_count() {
            let mut taken = self.buckets.take(i, &self.rules);
            num_stats +=
                taken.counters.len() + taken.timers.len() + taken.gauges.len() + taken.sets.len();
            for (k, v) in &taken.counters {
                ctx.counter(&mut out, k, *v);
            }
            for (k, t) in taken.timers.iter_mut() {
                ctx.timer(&mut out, k, t);
                if let Some(h) = &t.hdr {
                    self.stats
                        .timer_values_clamped
                        .fetch_add(h.clamped(), Ordering::Relaxed);
                }
            }
            for (k, v) in &taken.gauges {
                ctx.gauge(&mut out, k, *v);
            }
            for (k, s) in &taken.sets {
                ctx.set(&mut out, k, s.len());
            }
        }
        let processing_ms = start.elapsed().as_millis() as f64;
        out.push(self.namer.num_stats(), ts, num_stats as f64);
        out.push(
            self.namer.daemon(&["graphiteStats", "calculationtime"]),
            ts,
            processing_ms,
        );
        out.push(self.namer.daemon(&["processing_time"]), ts, processing_ms);
        if let Some(b) = &self.backend {
            for (name, v) in b.status() {
                out.push(self.namer.backend(name), ts, v);
            }
        }
        self.stats
            .flush_non_finite
            .fetch_add(out.non_finite, Ordering::Relaxed);
        self.stats.flushes.fetch_add(1, Ordering::Relaxed);
        let flush_micros = start.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
        self.stats
            .flush_micros
            .fetch_add(flush_micros, Ordering::Relaxed);
        let n = out.points.len();
        self.points_hint.store(n, Ordering::Relaxed);
        if self.settings.snapshot_interval.is_some() {
            // The new interval and this flush's points are on disk before
            // the points go to the store: a crash in between re-applies the
            // same points at the next start instead of losing them or
            // counting the interval twice.
            *self.last_flush.lock().unwrap_or_else(|p| p.into_inner()) = out.points.clone();
            crate::persist::snapshot(self);
        }
        match self.sink.ingest(out.points) {
            Ok(report) => {
                report.count_refused(&self.stats.sink_rejected, &self.stats.sink_overflowed)
            }
            Err(e) => {
                self.stats.sink_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, points = n, "flush refused by the sink; points lost");
            }
        }
        n
    }

    /// Timestamp of a flush happening now: the interval's start when
    /// aligned, else `Math.round(now / 1000)` as the reference.
    pub(crate) fn flush_timestamp(&self, aligned_start_ms: Option<u64>) -> i64 {
        match aligned_start_ms {
            Some(ms) => (ms / 1000) as i64,
            None => unix_now_secs(),
        }
    }

    /// Kernel drops summed over UDP sockets.
    pub(crate) fn kernel_drops(&self) -> u64 {
        self.kernel_drops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .sum()
    }
}

/// The aggregation engine without listeners or a timer: feed packets and
/// flush on demand. Benchmarks and embedders use it; [`Aggregator::start`]
/// wraps the same engine with sockets and a schedule.
pub struct Engine {
    core: Arc<Core>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine flushing into `sink` (listener addresses in `settings` are
    /// ignored).
    pub fn new(settings: Settings, sink: Arc<dyn Ingest>) -> Engine {
        Engine {
            core: Arc::new(Core::new(settings, sink, None)),
        }
    }

    /// One datagram's text, exactly as a listener hands it over.
    pub fn handle_packet(&self, packet: &str) {
        self.core.handle_packet(packet, &"engine");
    }

    /// One receive batch of datagrams, exactly as the UDP listener hands
    /// over what one `recvmmsg` call returned.
    pub fn handle_batch(&self, datagrams: &[&[u8]]) {
        let metrics = self
            .core
            .aggregate_datagrams(datagrams.iter().copied(), &"engine");
        self.core.count_received(datagrams.len() as u64, metrics);
    }

    /// Flushes the open interval with point timestamp `ts`; returns the
    /// number of points handed to the sink.
    pub fn flush(&self, ts: i64) -> usize {
        self.core.flush(ts)
    }

    /// Every self-metric counter, as [`Running::stats`].
    pub fn stats(&self) -> Vec<(String, u64)> {
        let keys = self.core.buckets.key_count() as u64;
        let mut out = self.core.stats.snapshot(&[("keys", keys)]);
        out.extend(self.core.key_refusals.by_prefix(KEYS_REFUSED_BY_PREFIX));
        out
    }
}

/// Builds and starts the aggregator.
#[derive(Debug)]
pub struct Aggregator;

/// Addresses the listeners actually bound (port 0 resolved).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalAddrs {
    /// UDP listener.
    pub udp: Option<SocketAddr>,
    /// TCP listener.
    pub tcp: Option<SocketAddr>,
    /// Admin console.
    pub admin: Option<SocketAddr>,
    /// Unix datagram socket.
    pub unix: Option<PathBuf>,
}

/// Why the aggregator could not start.
#[derive(Debug)]
pub struct StartError {
    /// What was being set up ("udp 0.0.0.0:8125", "state file ...").
    pub what: String,
    /// The underlying error.
    pub source: std::io::Error,
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot start {}: {}", self.what, self.source)
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The stop signal of the flusher, waking it at once.
#[derive(Default)]
struct Wakeup {
    stopped: Mutex<bool>,
    cv: Condvar,
}

/// A started aggregator. Dropping it without [`Running::shutdown`] stops
/// the threads too, but loses the open interval.
pub struct Running {
    core: Arc<Core>,
    addrs: LocalAddrs,
    listeners: Vec<JoinHandle<()>>,
    wakers: Vec<Box<dyn Fn() + Send>>,
    flusher: Option<JoinHandle<()>>,
    wakeup: Arc<Wakeup>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

impl Aggregator {
    /// Binds every configured listener, starts receiving and flushing into
    /// `sink`. Returns once all sockets are bound.
    pub fn start(settings: Settings, sink: Arc<dyn Ingest>) -> Result<Running, StartError> {
        Self::start_with_backend(settings, sink, None)
    }

    /// [`Aggregator::start`], also reporting `backend`'s status figures
    /// with every flush (the standalone daemon passes its forwarder).
    pub fn start_with_backend(
        settings: Settings,
        sink: Arc<dyn Ingest>,
        backend: Option<Arc<dyn BackendStatus>>,
    ) -> Result<Running, StartError> {
        let core = Arc::new(Core::new(settings, sink, backend));
        crate::persist::restore(&core)?;
        let mut running = Running {
            addrs: LocalAddrs::default(),
            listeners: Vec::new(),
            wakers: Vec::new(),
            flusher: None,
            wakeup: Arc::new(Wakeup::default()),
            core: core.clone(),
        };
        if let Err(e) = listen::start_all(&core, &mut running) {
            running.stop_threads();
            return Err(e);
        }
        let wakeup = running.wakeup.clone();
        let flush_core = core.clone();
        running.flusher = Some(
            std::thread::Builder::new()
                .name("statsd-flush".into())
                .spawn(move || flush_loop(&flush_core, &wakeup))
                .map_err(|e| StartError {
                    what: "flush thread".into(),
                    source: e,
                })?,
        );
        Ok(running)
    }
}

impl Running {
    /// Lets the admin console's `reload` command run `hook` (the process's
    /// configuration reload); without one, `reload` answers an error.
    pub fn on_admin_reload(&self, hook: crate::listen::admin::ReloadHook) {
        let mut slot = self
            .core
            .admin_reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Some(hook);
    }

    pub(crate) fn add_listener(&mut self, handle: JoinHandle<()>) {
        self.listeners.push(handle);
    }

    pub(crate) fn add_waker(&mut self, waker: Box<dyn Fn() + Send>) {
        self.wakers.push(waker);
    }

    pub(crate) fn addrs_mut(&mut self) -> &mut LocalAddrs {
        &mut self.addrs
    }

    /// The bound addresses.
    pub fn local_addrs(&self) -> LocalAddrs {
        self.addrs.clone()
    }

    /// Every self-metric counter as (name, value): packets, lines, bad
    /// lines by reason, kernel drops, limits hit, sink overflow.
    pub fn stats(&self) -> Vec<(String, u64)> {
        core_stats(&self.core)
    }

    /// A handle that reads [`Running::stats`] from another thread (the
    /// pipeline's self-metrics and `/metrics`); it keeps the counters alive,
    /// not the listeners.
    pub fn stats_handle(&self) -> Arc<dyn Fn() -> Vec<(String, u64)> + Send + Sync> {
        let core = Arc::clone(&self.core);
        Arc::new(move || core_stats(&core))
    }

    /// A handle feeding l2met log metrics into this aggregator in-process
    /// (`POST /logs`, `[logs] syslog`); it keeps the aggregation state
    /// alive, not the listeners.
    pub fn log_input(&self, options: crate::l2met::LogOptions) -> crate::l2met::LogInput {
        crate::l2met::LogInput::new(Arc::clone(&self.core), options)
    }

    /// Flushes now, outside the schedule (tests, admin). Returns the number
    /// of points handed to the sink.
    pub fn flush_now(&self) -> usize {
        let ts = self.core.flush_timestamp(None);
        self.core.flush(ts)
    }

    fn stop_threads(&mut self) {
        self.core.stop.store(true, Ordering::SeqCst);
        for w in &self.wakers {
            w();
        }
        for h in self.listeners.drain(..) {
            let _ = h.join();
        }
        {
            let mut stopped = self
                .wakeup
                .stopped
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            *stopped = true;
            self.wakeup.cv.notify_all();
        }
        if let Some(h) = self.flusher.take() {
            let _ = h.join();
        }
    }

    /// Stops the listeners, then either flushes the open interval into the
    /// sink or, with `state_file`, saves it for the next start; joins every
    /// thread before returning.
    pub fn shutdown(mut self) {
        self.stop_threads();
        if self.core.settings.state_file.is_some() {
            if let Err(e) = crate::persist::save(&self.core) {
                tracing::error!(error = %e, "could not save the open interval; flushing it instead");
                self.final_flush();
            }
        } else {
            self.final_flush();
        }
    }

    fn final_flush(&self) {
        let aligned = self
            .core
            .settings
            .align_flush
            .then(|| interval_start_ms(&self.core.settings, unix_now_ms()));
        let ts = self.core.flush_timestamp(aligned);
        self.core.flush(ts);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.listeners.is_empty() || self.flusher.is_some() {
            self.stop_threads();
        }
    }
}

/// The figure of `max_keys` refusals per prefix (`{prefix="..."}`).
const KEYS_REFUSED_BY_PREFIX: &str = "keys_over_limit_by_prefix";

fn core_stats(core: &Core) -> Vec<(String, u64)> {
    let keys = core.buckets.key_count() as u64;
    let mut out = core
        .stats
        .snapshot(&[("udp_kernel_drops", core.kernel_drops()), ("keys", keys)]);
    out.extend(core.key_refusals.by_prefix(KEYS_REFUSED_BY_PREFIX));
    out
}

/// Start (Unix ms) of the aligned interval containing `now_ms`.
pub(crate) fn interval_start_ms(settings: &Settings, now_ms: u64) -> u64 {
    let i = settings.flush_interval.as_millis().max(1) as u64;
    now_ms - now_ms % i
}

fn flush_loop(core: &Core, wakeup: &Wakeup) {
    let interval = core.settings.flush_interval;
    let interval_ms = interval.as_millis().max(1) as u64;
    let origin = Instant::now();
    loop {
        // Deadline of the next flush: on the grid origin + k·interval as the
        // reference (`getFlushTimeout`), or on wall-clock multiples.
        let (wait, aligned_start) = if core.settings.align_flush {
            let now = unix_now_ms();
            let start = now - now % interval_ms;
            (
                Duration::from_millis(start + interval_ms - now),
                Some(start),
            )
        } else {
            let elapsed = origin.elapsed().as_millis() as u64;
            let attempt = (elapsed as f64 / interval_ms as f64).round() as u64 + 1;
            let due = attempt * interval_ms;
            (Duration::from_millis(due.saturating_sub(elapsed)), None)
        };
        // With snapshots, wake at least every snapshot interval to write
        // one; the flush's deadline is computed again after.
        let snapshot_due = core
            .settings
            .snapshot_interval
            .filter(|every| *every < wait);
        let wait = snapshot_due.unwrap_or(wait);
        let stopped = wakeup.stopped.lock().unwrap_or_else(|p| p.into_inner());
        let (stopped, timeout) = wakeup
            .cv
            .wait_timeout_while(stopped, wait, |s| !*s)
            .unwrap_or_else(|p| p.into_inner());
        if *stopped {
            return;
        }
        drop(stopped);
        if !timeout.timed_out() {
            continue;
        }
        if snapshot_due.is_some() {
            crate::persist::snapshot(core);
            continue;
        }
        let ts = core.flush_timestamp(aligned_start);
        core.flush(ts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Discard;

    impl Ingest for Discard {
        fn ingest(
            &self,
            _: Vec<MetricPoint>,
        ) -> Result<storage::IngestReport, storage::IngestError> {
            Ok(storage::IngestReport::default())
        }
    }

    fn core() -> Core {
        let raw = crate::config::RawConfig {
            udp: String::new(),
            tcp: String::new(),
            admin: String::new(),
            ..crate::config::RawConfig::default()
        };
        Core::new(raw.validate().unwrap(), Arc::new(Discard), None)
    }

    /// One batch spread over every shard: each key's samples apply in the
    /// order sent (gauge deltas, timer values), every key of every shard
    /// gets its samples, and a bad line costs only itself.
    #[test]
    fn a_batch_applies_in_order_per_key_across_shards() {
        let core = core();
        let mut packets: Vec<String> = ["g:1|g", "t:3|ms", "g:+2|g", "t:1|ms\ng:-10|g"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        packets.extend((0..1000).map(|i| format!("c.{i}:1|c")));
        packets.push("bad line\n\ng:7|g\nt:2|ms".into());
        packets.extend((0..1000).map(|i| format!("c.{i}:2|c|@0.5")));
        packets.push("g:+1|g".into());
        let lines = core.aggregate_datagrams(packets.iter().map(String::as_bytes), &"test");
        assert_eq!(lines, 5 + 1000 + 3 + 1000 + 1);
        let held = |key: &str| core.buckets.lock(core.buckets.shard_of(key));
        assert_eq!(held("g").gauges["g"].value, 8.0, "1, +2, -10, 7, +1");
        assert_eq!(held("t").timers["t"].values, [3.0, 1.0, 2.0]);
        assert!((0..1000).all(|i| {
            let key = format!("c.{i}");
            held(&key).counters.get(&key) == Some(&5.0)
        }));
        let touched: std::collections::HashSet<usize> = (0..1000)
            .map(|i| core.buckets.shard_of(&format!("c.{i}")))
            .collect();
        assert_eq!(
            touched.len(),
            core.buckets.shard_count(),
            "keys reach every shard"
        );
        assert_eq!(core.stats.take_interval().bad, 1);
        // 2,009 samples were more than a thread keeps room for.
        SCRATCH.with(|s| assert!(s.borrow().pending.capacity() <= BatchScratch::KEPT_SAMPLES));
    }

    /// Datagrams as received: plain lines read from the bytes, and a
    /// datagram with invalid UTF-8 read as the reference reads it (the bad
    /// bytes replaced) in its place in the batch, so a gauge's writes keep
    /// their order across it and the good lines beside the bad bytes count.
    #[test]
    fn invalid_utf8_in_a_batch_keeps_the_order_and_the_good_lines() {
        let core = core();
        let datagrams: [&[u8]; 5] = [
            b"g:1|g\nu:a|s",
            b"g:+2|g\nu:b\xff|s\ng:+4|g",
            b"u:\xc3\xa9|s\ng:+8|g",
            b"bad\xfe line",
            b"g:+16|g\nc:1|c",
        ];
        let lines = core.aggregate_datagrams(datagrams, &"test");
        assert_eq!(lines, 2 + 3 + 2 + 1 + 2);
        let held = |key: &str| core.buckets.lock(core.buckets.shard_of(key));
        assert_eq!(held("g").gauges["g"].value, 31.0, "1, +2, +4, +8, +16");
        let mut members: Vec<String> = held("u").sets["u"]
            .iter()
            .map(|k| k.as_str().to_string())
            .collect();
        members.sort();
        assert_eq!(members, ["a", "b\u{fffd}", "\u{e9}"]);
        assert_eq!(held("c").counters.get("c"), Some(&1.0));
        assert_eq!(core.stats.take_interval().bad, 1);
    }
}
