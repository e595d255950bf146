//! Storage throughput: points/s through the cache and writer threads into
//! Whisper files (10k and 100k metrics, 10 points per metric per batch), with
//! the same workload through the real Python `whisper.update_many` in the
//! same group as the baseline; and fetch latency, with the real
//! `whisper.fetch` on the same file and ranges as its baseline.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{BenchmarkId, Criterion, Throughput};
use storage::whisper::{self, AggregationMethod, Allocation, WhisperFile};
use storage::{FetchRange, MetricPoint, Store, StoreSettings};

const POINTS: usize = 10;
/// Small archives keep 100k files at one disk block each.
const ARCHIVES: &[(u32, u32)] = &[(10, 240)];

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn prepare(dir: &Path, metrics: usize) {
    std::fs::create_dir_all(dir.join("m")).unwrap();
    for i in 0..metrics {
        whisper::create(
            &dir.join(format!("m/{i}.wsp")),
            ARCHIVES,
            0.5,
            AggregationMethod::Average,
            Allocation::Sparse,
        )
        .unwrap();
    }
}

fn ref_python() -> std::path::PathBuf {
    std::env::var_os("FERROGRAPH_REFS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/opt/ferrograph-refs".into())
        .join("bin/ref-python")
}

/// Runs a baseline script under the reference Python; it prints the
/// seconds it spent in the measured calls.
fn python_timing(args: &[&str]) -> Duration {
    let out = std::process::Command::new(ref_python())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    Duration::from_secs_f64(secs)
}

/// `cargo bench` passes `--bench`; under `cargo test --all-targets` the
/// benches only run as a quick smoke test on a small workload.
fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("storage::store::write");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(1));
    let sizes: &[usize] = if full_run() {
        &[10_000, 100_000]
    } else {
        &[200]
    };
    for &metrics in sizes {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path(), metrics);
        let mut settings = StoreSettings::new(dir.path());
        settings.self_metrics = None;
        settings.max_cache_points = metrics * POINTS * 2;
        settings.schemas =
            storage::schema::Schemas::parse("[all]\npattern = .\nretentions = 10s:40m\n", "bench")
                .unwrap();
        let store = Store::open(settings).unwrap();
        let ingest = store.ingest_handle();
        let names: Vec<Arc<str>> = (0..metrics).map(|i| Arc::from(format!("m.{i}"))).collect();
        let mut round = 0i64;
        group.throughput(Throughput::Elements((metrics * POINTS) as u64));
        group.bench_function(
            BenchmarkId::new(
                "impl=ferrograph",
                format!("metrics={metrics}/points_per_metric={POINTS}"),
            ),
            |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        round += 1;
                        let base = now() - 600 + (round % 30) * POINTS as i64;
                        // what a receiver hands over: batches of owned points
                        let batches: Vec<Vec<MetricPoint>> = names
                            .chunks(5000 / POINTS)
                            .map(|chunk| {
                                chunk
                                    .iter()
                                    .flat_map(|n| {
                                        (0..POINTS).map(move |k| {
                                            MetricPoint::new(
                                                n.to_string(),
                                                base + k as i64 * 10,
                                                k as f64,
                                            )
                                        })
                                    })
                                    .collect()
                            })
                            .collect();
                        let start = Instant::now();
                        for batch in batches {
                            let len = batch.len();
                            let r = ingest.ingest(batch).unwrap();
                            assert_eq!(r.accepted, len);
                        }
                        while store.cache_size() > 0 {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        total += start.elapsed();
                    }
                    total
                })
            },
        );
        if (metrics == 10_000 || !full_run()) && ref_python().exists() {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/refs/whisper_bench.py");
            group.bench_function(
                BenchmarkId::new(
                    "impl=python-whisper",
                    format!("metrics={metrics}/points_per_metric={POINTS}"),
                ),
                |b| {
                    b.iter_custom(|iters| {
                        python_timing(&[
                            script,
                            dir.path().to_str().unwrap(),
                            &metrics.to_string(),
                            &POINTS.to_string(),
                            &iters.to_string(),
                            &now().to_string(),
                        ])
                    })
                },
            );
        }
        store.shutdown();
    }
    group.finish();

    let mut group = c.benchmark_group("storage::whisper::fetch");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.wsp");
    whisper::create(
        &path,
        &[(10, 2160), (60, 10080), (600, 262_800)],
        0.5,
        AggregationMethod::Average,
        Allocation::Sparse,
    )
    .unwrap();
    let n = now();
    let pts: Vec<(i64, f64)> = (0..2160).map(|i| (n - 21_600 + i * 10, i as f64)).collect();
    let mut f = WhisperFile::open_rw(&path).unwrap();
    f.update_many(&pts, n).unwrap();
    drop(f);
    let tree = storage::WhisperTree::open(dir.path(), Default::default()).unwrap();
    use storage::Read as _;
    for (label, secs) in [
        ("range=1h", 3600),
        ("range=6h", 21_600),
        ("range=7d", 604_800),
    ] {
        group.bench_function(BenchmarkId::new("impl=ferrograph", label), |b| {
            b.iter(|| {
                let s = tree
                    .fetch(
                        "f",
                        FetchRange {
                            from: n - secs,
                            until: n,
                            now: n,
                        },
                    )
                    .unwrap()
                    .unwrap();
                assert!(!s.values.is_empty());
                s
            })
        });
        if ref_python().exists() {
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/refs/whisper_fetch_bench.py"
            );
            group.bench_function(BenchmarkId::new("impl=python-whisper", label), |b| {
                b.iter_custom(|iters| {
                    python_timing(&[
                        script,
                        path.to_str().unwrap(),
                        &n.to_string(),
                        &secs.to_string(),
                        &iters.to_string(),
                    ])
                })
            });
        }
    }
    group.finish();
}
