use std::sync::Arc;

use aggregator::{Engine, RawConfig};
use criterion::{BenchmarkId, Criterion, Throughput};
use storage::{Ingest, IngestError, IngestReport, MetricPoint};

/// Counts points and drops them, so the bench measures the aggregator.
struct CountingSink;

impl Ingest for CountingSink {
    fn ingest(&self, points: Vec<MetricPoint>) -> Result<IngestReport, IngestError> {
        Ok(IngestReport {
            accepted: points.len(),
            ..IngestReport::default()
        })
    }
}

/// Datagrams of 20 lines covering `names` names, mix 70% c / 20% ms /
/// 5% g / 5% s (the load tool's default mix).
fn datagrams(names: usize) -> Vec<String> {
    let line = |i: usize| match i % 20 {
        0..=13 => format!("bench.c{i}:1|c"),
        14..=17 => format!("bench.t{i}:{}|ms", i % 100),
        18 => format!("bench.g{i}:{i}|g"),
        _ => format!("bench.s{i}:{}|s", i % 7),
    };
    (0..names)
        .collect::<Vec<_>>()
        .chunks(20)
        .map(|c| c.iter().map(|i| line(*i)).collect::<Vec<_>>().join("\n"))
        .collect()
}

/// One interval: every name receives one sample, then the flush computes
/// every derived value and hands the points to a sink. The flush returns
/// the point count, checked inside the loop.
pub fn aggregate_and_flush(c: &mut Criterion) {
    let mut group = c.benchmark_group("aggregator::flush::aggregate_and_flush");
    group.sample_size(10);
    for names in [10_000usize, 100_000, 1_000_000] {
        let packets = datagrams(names);
        let raw = RawConfig {
            udp: String::new(),
            tcp: String::new(),
            admin: String::new(),
            delete_idle_stats: true,
            ..RawConfig::default()
        };
        let engine = Engine::new(raw.validate().expect("valid"), Arc::new(CountingSink));
        group.throughput(Throughput::Elements(names as u64));
        group.bench_function(BenchmarkId::from_parameter(format!("names={names}")), |b| {
            b.iter(|| {
                for p in &packets {
                    engine.handle_packet(p);
                }
                let points = engine.flush(1_700_000_000);
                // counters: 2 points, timers: 14, gauges and sets: 1
                assert!(points > names * 2, "{points} points for {names} names");
                points
            })
        });
    }
    group.finish();
    steady_state(c);
    one_per_datagram(c);
    cold_maps(c);
}

/// The receive path's per-metric cost once the keys exist (the steady
/// state of a daemon: every flush keeps its keys): 20-line datagrams of
/// 10,000 known names parsed and aggregated, no flush inside the loop.
/// Throughput in metrics; the inverse is the user-space cost per metric
/// that `bench-udp` measures with the kernel's share added. Each round is
/// flushed untimed.
fn steady_state(c: &mut Criterion) {
    let mut group = c.benchmark_group("aggregator::flush::steady_state");
    let names = 10_000usize;
    let packets = datagrams(names);
    let raw = RawConfig {
        udp: String::new(),
        tcp: String::new(),
        admin: String::new(),
        ..RawConfig::default()
    };
    let engine = Engine::new(raw.validate().expect("valid"), Arc::new(CountingSink));
    for p in &packets {
        engine.handle_packet(p);
    }
    engine.flush(1_700_000_000);
    let metrics_received = |e: &Engine| {
        e.stats()
            .into_iter()
            .find(|(k, _)| k == "metrics_received")
            .map_or(0, |(_, v)| v)
    };
    group.throughput(Throughput::Elements(names as u64));
    group.bench_function(
        BenchmarkId::from_parameter("names=10000,per_datagram=20"),
        |b| {
            // Timed: the datagrams only. Each round is flushed outside the
            // timing so timer values do not pile up across rounds.
            b.iter_custom(|rounds| {
                let mut spent = std::time::Duration::ZERO;
                for _ in 0..rounds {
                    let before = metrics_received(&engine);
                    let start = std::time::Instant::now();
                    for p in &packets {
                        engine.handle_packet(p);
                    }
                    spent += start.elapsed();
                    assert_eq!(metrics_received(&engine) - before, names as u64);
                    engine.flush(1_700_000_000);
                }
                spent
            })
        },
    );
    group.finish();
}

/// One line per name in `bench-udp`'s default mix (70% c, 20% ms, 5% g,
/// 5% s, spread over the names the way the load tool spreads them).
fn bench_udp_lines(names: usize) -> Vec<String> {
    (0..names)
        .map(|i| match (i * 7919) % 100 {
            0..=69 => format!("bench.c{i}:1|c"),
            70..=89 => format!("bench.t{i}:{}|ms", i % 100),
            90..=94 => format!("bench.g{i}:{}|g", i % 1000),
            _ => format!("bench.s{i}:{}|s", i % 50),
        })
        .collect()
}

/// `lines` as one-line datagrams, `batch` per receive batch.
fn handle_in_batches<'a>(
    engine: &Engine,
    lines: impl IntoIterator<Item = &'a String>,
    batch: usize,
) {
    let mut datagrams: Vec<&[u8]> = Vec::with_capacity(batch);
    for line in lines {
        datagrams.push(line.as_bytes());
        if datagrams.len() == batch {
            engine.handle_batch(&datagrams);
            datagrams.clear();
        }
    }
    if !datagrams.is_empty() {
        engine.handle_batch(&datagrams);
    }
}

/// A default engine that already holds every key of `lines` (kept after a
/// flush, as a running daemon's are): the steady state.
fn engine_holding(lines: &[String], batch: usize) -> Engine {
    let raw = RawConfig {
        udp: String::new(),
        tcp: String::new(),
        admin: String::new(),
        ..RawConfig::default()
    };
    let engine = Engine::new(raw.validate().expect("valid"), Arc::new(CountingSink));
    handle_in_batches(&engine, lines, batch);
    engine.flush(1_700_000_000);
    engine
}

/// What `bench-udp`'s default load costs the receive thread and the flush
/// outside the kernel: 10,000 names in its mix, one metric per datagram,
/// received in batches of 32 datagrams (the UDP listener's `recvmmsg`
/// batch), flushed after every 100,000 metrics (its 100,000/s with a
/// one-second flush: 10 samples per key per interval). Timed: the batches
/// and the flushes. Throughput in metrics; the inverse is what the daemon
/// spends above the kernel's receive floor (`bench-udp --daemon drain`).
fn one_per_datagram(c: &mut Criterion) {
    let mut group = c.benchmark_group("aggregator::receive::one_per_datagram");
    let names = 10_000usize;
    let per_interval = 100_000usize;
    let batch = 32usize;
    let lines = bench_udp_lines(names);
    let engine = engine_holding(&lines, batch);
    group.throughput(Throughput::Elements(per_interval as u64));
    group.sample_size(20);
    group.bench_function(
        BenchmarkId::from_parameter("names=10000,batch=32,per_flush=100000"),
        |b| {
            b.iter(|| {
                handle_in_batches(&engine, lines.iter().cycle().take(per_interval), batch);
                engine.flush(1_700_000_000)
            })
        },
    );
    group.finish();
}

/// The same batches over 300,000 names, whose map slots (~10 MB) do not
/// stay in L2, as in the daemon, where the kernel's receive path streams
/// its buffers through the cache between two batches: what the batch-wide
/// prefetch of map slots is for (without it this group ran ~20% slower).
/// Timed: the batches only (the flush of 300,000 keys each round is not).
fn cold_maps(c: &mut Criterion) {
    let mut group = c.benchmark_group("aggregator::receive::cold_maps");
    let names = 300_000usize;
    let batch = 32usize;
    let lines = bench_udp_lines(names);
    let engine = engine_holding(&lines, batch);
    group.throughput(Throughput::Elements(names as u64));
    group.sample_size(10);
    group.bench_function("names=300000", |b| {
        b.iter_custom(|rounds| {
            let mut spent = std::time::Duration::ZERO;
            for _ in 0..rounds {
                let start = std::time::Instant::now();
                handle_in_batches(&engine, &lines, batch);
                spent += start.elapsed();
                engine.flush(1_700_000_000);
            }
            spent
        })
    });
    group.finish();
}

/// A timer flood: `keys` timer keys receiving `per_key` values each in one
/// interval, then the flush; exact mode (every value kept and sorted)
/// against hdr mode (a histogram per key past `hdr_exact_values`).
/// Throughput in timer values.
pub fn timers(c: &mut Criterion) {
    let mut group = c.benchmark_group("aggregator::flush::timers");
    group.sample_size(10);
    for (keys, per_key) in [(10usize, 100_000usize), (1_000, 1_000)] {
        let lines: Vec<String> = (0..keys * per_key)
            .map(|i| format!("flood.t{}:{}|ms", i % keys, (i % 9973) as f64 * 0.37))
            .collect();
        let packets: Vec<String> = lines.chunks(20).map(|c| c.join("\n")).collect();
        for mode in ["exact", "hdr"] {
            let raw = RawConfig {
                udp: String::new(),
                tcp: String::new(),
                admin: String::new(),
                delete_idle_stats: true,
                percentiles: vec![50.0, 90.0, 99.0, 99.9],
                timer_mode: mode.into(),
                ..RawConfig::default()
            };
            let engine = Engine::new(raw.validate().expect("valid"), Arc::new(CountingSink));
            group.throughput(Throughput::Elements((keys * per_key) as u64));
            let id = BenchmarkId::new(mode, format!("keys={keys},values_per_key={per_key}"));
            group.bench_function(id, |b| {
                b.iter(|| {
                    for p in &packets {
                        engine.handle_packet(p);
                    }
                    let points = engine.flush(1_700_000_000);
                    assert!(points > keys * 20, "{points} points for {keys} timers");
                    points
                })
            });
        }
    }
    group.finish();
}
