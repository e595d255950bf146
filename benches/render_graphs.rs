//! Graphs: a PNG of 10 series x 1 day (10 s steps) at 800x600 through
//! `/render`, ours against graphite-web 1.1.10 (its Django view drawing
//! with cairo) on the same Whisper files and the same request. Two
//! datasets: `daily` (a day's wave with noise, a dashboard's usual line)
//! and `sawtooth` (every series swinging over the whole plot every ~9 px,
//! the rasteriser's worst case).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use render_api::http::{Method, Params};
use render_api::{router, RenderSettings};

const NOW: i64 = 1_700_000_000;
const SERIES: usize = 10;

fn refs() -> PathBuf {
    std::env::var_os("FERROGRAPH_REFS")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/opt/ferrograph-refs".into())
}

/// The datasets: `whisper_fixture.py bench --shape` and their series.
const SHAPES: [(&str, &str); 2] = [("daily", "d.*"), ("sawtooth", "a.*")];

fn query(target: &str) -> Vec<(String, String)> {
    [
        ("target", target),
        ("from", "-1d"),
        ("now", "1700000000"),
        ("width", "800"),
        ("height", "600"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The `bench` Whisper preset (a.m0000.., 10s:1d) made by the real whisper
/// module, or `None` without the references.
fn fixture(dir: &Path) -> Option<()> {
    let python = refs().join("bin/ref-python");
    if !python.exists() {
        return None;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/refs/whisper_fixture.py");
    for (shape, _) in SHAPES {
        let out = Command::new(&python)
            .args([script, dir.to_str()?, "bench", "--now", &NOW.to_string()])
            .args(["--count", &SERIES.to_string(), "--shape", shape])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
    }
    Some(())
}

fn graphite_timing(dir: &Path, target: &str, iters: u64) -> Duration {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/refs/graphite_render_bench.py"
    );
    let query: Vec<String> = query(target)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let out = Command::new(refs().join("bin/ref-python"))
        .args([script, dir.to_str().unwrap_or("."), &query.join("&")])
        .arg(iters.to_string())
        .output()
        .expect("runs the reference python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secs: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("seconds");
    Duration::from_secs_f64(secs)
}

/// `render_api::graph`
pub fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    if fixture(dir.path()).is_none() {
        eprintln!("render_graphs bench: no references, skipped");
        return;
    }
    let read = storage::open_read_only(dir.path(), Default::default()).expect("opens");
    let api = router(read, RenderSettings::default());
    let mut g = c.benchmark_group("render_api::graph::png");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    for (label, target) in SHAPES {
        let params = Params::from_pairs(query(target));
        let label = format!("{label}/series={SERIES}/points=8640/800x600");
        g.bench_function(BenchmarkId::new("impl=ferrograph", &label), |b| {
            b.iter(|| {
                let reply = api.handle_blocking(&Method::GET, "/render", &params, None);
                assert_eq!(reply.status, 200);
                assert!(reply.body.starts_with(b"\x89PNG"));
            })
        });
        g.bench_function(BenchmarkId::new("impl=graphite-web", &label), |b| {
            b.iter_custom(|iters| graphite_timing(dir.path(), target, iters))
        });
    }
    g.finish();
}
