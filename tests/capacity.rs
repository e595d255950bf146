//! Capacity planning end to end: `ferrograph export` (CSV byte-equal to
//! `/render?format=csv`, JSON lines and Parquet, read back with pyarrow,
//! holding `/render`'s points; `--step` equal to graphite's summarize),
//! `GET /export` streamed, `ferrograph forecast` on synthetic trends, and
//! `GET /check`'s statuses, all against `ferrograph web` over the same
//! Whisper directory.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::Value;
use storage::whisper::{self, AggregationMethod, Allocation, WhisperFile};

use crate::util::refs::{ref_python, references_available};
use crate::util::run_ferrograph;
use crate::util::serve::{encode, http_request};
use crate::util::web::Web;

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// The wall clock rounded down to the hour: the CLI and the server read
/// Whisper relative to it, so the data ends there.
fn now_hour() -> i64 {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    wall - wall % HOUR
}

/// `dir/<name with dots as folders>.wsp`, hourly for 400 days, then
/// minutely-free: one archive, `points` written.
fn write_series(dir: &Path, name: &str, points: &[(i64, f64)], now: i64) {
    let path = dir.join(format!("{}.wsp", name.replace('.', "/")));
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    whisper::create(
        &path,
        &[(HOUR as u32, 400 * 24)],
        0.0,
        AggregationMethod::Average,
        Allocation::Sparse,
    )
    .expect("create");
    let mut file = WhisperFile::open_rw(&path).expect("open");
    file.update_many(points, now).expect("update");
}

fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn get(addr: SocketAddr, path: &str, pairs: &[(&str, &str)]) -> (u16, String) {
    http_request(addr, "GET", &format!("{path}?{}", query(pairs)), None)
}

/// Runs `ferrograph ARGS` and returns its stdout, which must succeed.
fn cli(args: &[&str]) -> Vec<u8> {
    let out = run_ferrograph(args);
    assert!(
        out.status.success(),
        "ferrograph {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `(series, time, value)` rows of `/render?format=json`, in order.
type Rows = Vec<(String, i64, Option<f64>)>;

fn render_rows(addr: SocketAddr, targets: &[&str], from: &str, until: &str) -> Rows {
    let mut pairs: Vec<(&str, &str)> = targets.iter().map(|t| ("target", *t)).collect();
    pairs.extend([("from", from), ("until", until), ("format", "json")]);
    let (status, body) = get(addr, "/render", &pairs);
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).expect("render json");
    let mut rows = Vec::new();
    for s in json.as_array().expect("list") {
        let name = s["target"].as_str().expect("target");
        for p in s["datapoints"].as_array().expect("datapoints") {
            rows.push((
                name.to_string(),
                p[1].as_i64().expect("time"),
                p[0].as_f64(),
            ));
        }
    }
    rows
}

fn jsonl_rows(text: &str) -> Rows {
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("a JSON line");
            let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
            assert_eq!(keys.len(), 3, "{line}");
            (
                v["series"].as_str().expect("series").to_string(),
                v["time"].as_i64().expect("time"),
                v["value"].as_f64(),
            )
        })
        .collect()
}

/// Reads a Parquet file with pyarrow (an independent reader): checks the
/// columns, their Arrow types as recorded in the file, and returns the rows.
fn parquet_rows(path: &Path) -> Rows {
    let code = r#"
import base64, json, sys
import pyarrow as pa, pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1])
# the Arrow schema the writer recorded (parquet has no seconds unit, so
# pyarrow reads the stored INT64 seconds as integers)
ipc = base64.b64decode(f.metadata.metadata[b"ARROW:schema"])
recorded = pa.ipc.read_schema(pa.py_buffer(ipc))
types = {x.name: str(x.type) for x in recorded}
assert types == {"series": "string", "time": "timestamp[s, tz=UTC]", "value": "double"}, types
assert f.metadata.num_row_groups >= 1
t = f.read()
assert t.column_names == ["series", "time", "value"], t.column_names
series = t.column("series").to_pylist()
times = [x if isinstance(x, int) else int(x.timestamp()) for x in t.column("time").to_pylist()]
values = t.column("value").to_pylist()
print(json.dumps([series, times, values]))
"#;
    let out = std::process::Command::new(ref_python())
        .arg("-c")
        .arg(code)
        .arg(path)
        .output()
        .expect("run pyarrow");
    assert!(
        out.status.success(),
        "pyarrow: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let series = v[0].as_array().expect("series");
    (0..series.len())
        .map(|i| {
            (
                series[i].as_str().expect("name").to_string(),
                v[1][i].as_i64().expect("time"),
                v[2][i].as_f64(),
            )
        })
        .collect()
}

/// Five disks over 20 days, hourly, with gaps; written once per test.
fn disks(dir: &Path, now: i64) {
    for d in 0..5 {
        let points: Vec<(i64, f64)> = (0..20 * 24)
            .filter(|h| (h + d) % 17 != 0)
            .map(|h| {
                let t = now - 20 * DAY + h * HOUR;
                (
                    t,
                    10.0 * d as f64 + h as f64 * 0.25 + ((h * 7 + d) % 5) as f64 / 3.0,
                )
            })
            .collect();
        write_series(dir, &format!("servers.host{d}.disk.used"), &points, now);
    }
}

#[test]
fn export_holds_exactly_renders_points_in_every_format() {
    if !references_available() {
        return;
    }
    let now = now_hour();
    let dir = tempfile::tempdir().expect("temp dir");
    disks(dir.path(), now);
    let web = Web::start(dir.path(), None);
    let addr = web.addr;
    let data = dir.path().to_str().expect("utf-8 path");
    let (from, until) = ((now - 15 * DAY).to_string(), (now - DAY).to_string());
    let targets = [
        "servers.*.disk.used",
        "sumSeries(servers.host[12].disk.used)",
    ];
    let base = |format: &'static str| -> Vec<String> {
        let mut args: Vec<String> = vec!["export".into(), "--data-dir".into(), data.into()];
        for t in targets {
            args.extend(["--target".into(), t.into()]);
        }
        args.extend([
            "--from".into(),
            from.clone(),
            "--until".into(),
            until.clone(),
            "--format".into(),
            format.into(),
        ]);
        args
    };
    let run = |args: Vec<String>| cli(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // CSV: byte for byte /render?format=csv
    let csv = run(base("csv"));
    let mut pairs: Vec<(&str, &str)> = targets.iter().map(|t| ("target", *t)).collect();
    pairs.extend([
        ("from", from.as_str()),
        ("until", until.as_str()),
        ("format", "csv"),
    ]);
    let (status, render_csv) = get(addr, "/render", &pairs);
    assert_eq!(status, 200);
    assert!(
        render_csv.lines().count() > 5 * 14 * 24,
        "{}",
        render_csv.len()
    );
    assert_eq!(String::from_utf8_lossy(&csv), render_csv);

    // JSON lines and Parquet: /render's JSON points, in order
    let expected = render_rows(addr, &targets, &from, &until);
    let lines = run(base("jsonl"));
    assert_eq!(jsonl_rows(&String::from_utf8_lossy(&lines)), expected);
    let parquet = dir.path().join("out.parquet");
    let mut args = base("parquet");
    args.extend(["--out".into(), parquet.to_str().expect("path").into()]);
    run(args);
    assert_eq!(parquet_rows(&parquet), expected);

    // --step 1h --func max is summarize(T,'1h','max',true); a coarser
    // step shows the buckets differ from the raw points
    for step in ["1h", "1d"] {
        let mut args = base("jsonl");
        args.extend(["--step".into(), step.into(), "--func".into(), "max".into()]);
        let summarized: Vec<String> = targets
            .iter()
            .map(|t| format!("summarize({t},'{step}','max',true)"))
            .collect();
        let summarized: Vec<&str> = summarized.iter().map(String::as_str).collect();
        assert_eq!(
            jsonl_rows(&String::from_utf8_lossy(&run(args))),
            render_rows(addr, &summarized, &from, &until),
            "step {step}"
        );
    }

    // over HTTP, streamed: the same bytes
    let mut pairs: Vec<(&str, &str)> = targets.iter().map(|t| ("target", *t)).collect();
    pairs.extend([("from", from.as_str()), ("until", until.as_str())]);
    let mut csv_pairs = pairs.clone();
    csv_pairs.push(("format", "csv"));
    let (status, body) = get(addr, "/export", &csv_pairs);
    assert_eq!((status, body.as_str()), (200, render_csv.as_str()));
    let mut jsonl_pairs = pairs.clone();
    jsonl_pairs.push(("format", "jsonl"));
    let (status, body) = get(addr, "/export", &jsonl_pairs);
    assert_eq!(status, 200);
    assert_eq!(jsonl_rows(&body), expected);
    let mut parquet_pairs = pairs.clone();
    parquet_pairs.push(("format", "parquet"));
    let fetched = dir.path().join("http.parquet");
    let curl = std::process::Command::new("curl")
        .args(["-sf", "-o"])
        .arg(&fetched)
        .arg(format!("http://{addr}/export?{}", query(&parquet_pairs)))
        .status()
        .expect("curl");
    assert!(curl.success());
    assert_eq!(parquet_rows(&fetched), expected);

    // bad targets and times: /render's errors, from the CLI and over HTTP
    for (target, from) in [("sumSeries(servers.*", "-1d"), ("servers.*", "-1x")] {
        let out = run_ferrograph(&[
            "export",
            "--data-dir",
            data,
            "--target",
            target,
            "--from",
            from,
            "--until",
            "now",
            "--format",
            "csv",
        ]);
        assert!(!out.status.success());
        let (status, render_error) = get(
            addr,
            "/render",
            &[("target", target), ("from", from), ("format", "csv")],
        );
        assert_eq!(status, 400);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(render_error.trim()),
            "{}: {render_error}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (status, body) = get(addr, "/export", &[("target", target), ("from", from)]);
        assert_eq!((status, body.trim()), (400, render_error.trim()));
    }
}

/// `50 + slope/day + amplitude * sin(day) + noise` hourly over 30 days
/// ending at `now`; the trend reaches `threshold` `remaining` days on.
fn trend_with_daily_wave(dir: &Path, name: &str, now: i64, slope: f64, seed: u64) {
    let mut state = seed;
    let points: Vec<(i64, f64)> = (0..30 * 24)
        .map(|h| {
            let t = now - 30 * DAY + (h + 1) * HOUR;
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let noise = ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 4.0;
            let day = (t - now) as f64 / DAY as f64;
            let wave = 8.0 * (std::f64::consts::TAU * day).sin();
            (t, 50.0 + slope * day + wave + noise)
        })
        .collect();
    write_series(dir, name, &points, now);
}

#[test]
fn forecast_finds_each_disks_crossing_within_five_percent() {
    let now = now_hour();
    let dir = tempfile::tempdir().expect("temp dir");
    // level 50 at now; threshold 90: 40 / slope days to go
    let slopes = [("disks.a", 0.5), ("disks.b", 2.0), ("disks.c", 1.0)];
    for (i, (name, slope)) in slopes.iter().enumerate() {
        trend_with_daily_wave(dir.path(), name, now, *slope, i as u64 + 1);
    }
    trend_with_daily_wave(dir.path(), "disks.flat", now, 0.0, 9);
    let data = dir.path().to_str().expect("path");
    let plot = dir.path().join("plot.svg");
    let (from, until) = ((now - 30 * DAY).to_string(), now.to_string());
    for model in ["linear", "holt-winters"] {
        let mut args = vec![
            "forecast",
            "--data-dir",
            data,
            "--target",
            "disks.*",
            "--threshold",
            "90",
            "--from",
            &from,
            "--until",
            &until,
            "--model",
            model,
        ];
        let plot_path = plot.to_str().expect("path");
        if model == "linear" {
            args.extend(["--plot", plot_path]);
        }
        let out: Value = serde_json::from_slice(&cli(&args)).expect("forecast JSON");
        let list = out.as_array().expect("a list");
        let names: Vec<&str> = list.iter().map(|f| f["series"].as_str().unwrap()).collect();
        // soonest first, the flat disk (never) last
        assert_eq!(
            names,
            ["disks.b", "disks.c", "disks.a", "disks.flat"],
            "{model}"
        );
        assert!(list[3]["crosses_at"].is_null(), "{model}: {}", list[3]);
        // Holt-Winters' slope settles slowly (graphite's beta): 10% there
        let tolerance = if model == "linear" { 0.05 } else { 0.10 };
        for (name, slope) in slopes {
            let f = list.iter().find(|f| f["series"] == name).expect(name);
            let remaining = 40.0 / slope * DAY as f64;
            let truth = now as f64 + remaining;
            let at = f["crosses_at"].as_f64().expect("crosses_at");
            let error = (at - truth).abs() / remaining;
            eprintln!(
                "{model} {name}: crossing off by {:.2}% of the remaining time",
                error * 100.0
            );
            assert!(error < tolerance, "{model} {name}: {f}");
            let (lo, hi) = (&f["crosses_interval"][0], &f["crosses_interval"][1]);
            assert!(lo.as_f64().unwrap() <= truth, "{model} {name}: {f}");
            assert!(
                hi.is_null() || hi.as_f64().unwrap() >= truth,
                "{model} {name}: {f}"
            );
            assert_eq!(f["model"], model);
            let per_day = f["slope_per_day"].as_f64().expect("slope");
            assert!(
                (per_day - slope).abs() < tolerance * slope,
                "{model} {name}: {f}"
            );
            assert!(f["residual_error"].as_f64().expect("residual") > 0.0);
        }
    }
    let svg = std::fs::read_to_string(&plot).expect("the plot");
    assert!(svg.starts_with("<svg") && svg.contains("polygon") && svg.contains("threshold"));

    // the same over HTTP
    let web = Web::start(dir.path(), None);
    let addr = web.addr;
    let (status, body) = get(
        addr,
        "/forecast",
        &[("target", "disks.b"), ("threshold", "90"), ("from", "-30d")],
    );
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json[0]["series"], "disks.b");
    let (status, _) = get(addr, "/forecast", &[("target", "disks.b")]);
    assert_eq!(status, 400);
}

#[test]
fn check_answers_umpires_statuses() {
    let now = now_hour();
    let dir = tempfile::tempdir().expect("temp dir");
    // the last hour holds 10 and 20 (avg 15); older points are 1000
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let path = dir.path().join("app/latency.wsp");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    whisper::create(
        &path,
        &[(60, 24 * 60)],
        0.0,
        AggregationMethod::Average,
        Allocation::Sparse,
    )
    .expect("create");
    let mut file = WhisperFile::open_rw(&path).expect("open");
    file.update_many(
        &[
            (wall - 3 * HOUR, 1000.0),
            (wall - 600, 10.0),
            (wall - 300, 20.0),
        ],
        wall,
    )
    .expect("update");
    write_series(dir.path(), "app.empty", &[(now - 10 * DAY, 1.0)], now);
    let web = Web::start(dir.path(), None);
    let addr = web.addr;
    let check = |pairs: &[(&str, &str)]| -> (u16, Value) {
        let (status, body) = get(addr, "/check", pairs);
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    };
    let (status, body) = check(&[
        ("metric", "app.latency"),
        ("range", "3600"),
        ("min", "5"),
        ("max", "20"),
    ]);
    assert_eq!(
        (status, body["value"].as_f64()),
        (200, Some(15.0)),
        "{body}"
    );
    let (status, body) = check(&[("target", "app.latency"), ("range", "3600")]);
    assert_eq!(
        (status, body["value"].as_f64()),
        (200, Some(15.0)),
        "{body}"
    );
    let (status, body) = check(&[("metric", "app.latency"), ("range", "3600"), ("max", "12")]);
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        (body["value"].as_f64(), &body["failed"]),
        (Some(15.0), &Value::from("max"))
    );
    let (status, body) = check(&[("metric", "app.latency"), ("range", "3600"), ("min", "16")]);
    assert_eq!(
        (status, &body["failed"]),
        (500, &Value::from("min")),
        "{body}"
    );
    let (status, _) = check(&[("metric", "app.empty"), ("range", "3600"), ("min", "0")]);
    assert_eq!(status, 404);
    let (status, _) = check(&[("metric", "app.nothing.*"), ("range", "3600")]);
    assert_eq!(status, 404);
    let (status, body) = check(&[
        ("metric", "app.empty"),
        ("range", "3600"),
        ("empty_ok", "true"),
    ]);
    assert_eq!(status, 200, "{body}");
    for bad in [
        vec![("range", "3600")],
        vec![("metric", "app.latency")],
        vec![("metric", "app.latency"), ("range", "soon")],
        vec![("metric", "app.latency"), ("range", "3600"), ("min", "low")],
        vec![("metric", "sumSeries(app.latency"), ("range", "3600")],
    ] {
        let (status, body) = check(&bad);
        assert_eq!(status, 400, "{bad:?}: {body}");
    }
}
