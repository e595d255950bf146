//! `ferrograph serve` end to end: StatsD in, Whisper on disk, /render out,
//! through real sockets, processes and files.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::refs::{ref_python, ref_script, references_available};
use crate::util::serve::{write_config, Serve};
use crate::util::wait_until;

const WAIT: Duration = Duration::from_secs(15);

fn prometheus_value(serve: &Serve, name: &str) -> f64 {
    let (status, body) = serve.http_get("/metrics");
    assert_eq!(status, 200, "/metrics: {body}");
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (n, v) = l.split_once(' ')?;
            (n == name).then(|| v.parse().ok())?
        })
        .unwrap_or(0.0)
}

/// Waits until the aggregator has read `lines` StatsD lines in total.
fn wait_received(serve: &Serve, lines: f64) {
    let ok = wait_until(WAIT, || {
        prometheus_value(serve, "ferrograph_metrics_received_total{stage=\"statsd\"}") >= lines
    });
    assert!(
        ok,
        "the daemon did not receive {lines} lines; log:\n{}",
        serve.log()
    );
}

fn last_value(v: &Value) -> Option<f64> {
    v.get(0)?["datapoints"]
        .as_array()?
        .iter()
        .rev()
        .find_map(|p| p[0].as_f64())
}

#[test]
fn statsd_lines_come_back_from_render() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "percentiles = [90, 50]", "");
    let serve = Serve::start(&config, &dir.path().join("data"));
    serve.send_statsd(&[
        "hits:1|c\nhits:2|c\nhits:1|c|@0.5",
        "temp:20|g\ntemp:+5|g",
        "lat:10|ms\nlat:20|ms\nlat:30|ms\nlat:40|ms\nlat:50|ms",
        "users:alice|s\nusers:bob|s\nusers:alice|s",
        "tagged:3|c|#env:prod,region:eu",
        // serve turns canonicalize_tags on: same series, one key
        "tagged:4|c|#region:eu,env:prod",
    ]);
    wait_received(&serve, 15.0);
    assert_eq!(
        serve.wait_for_sum("stats_counts.hits", "-60s", 5.0, WAIT),
        5.0
    );
    let wait_last = |target: &str, expected: f64| {
        let mut got = None;
        wait_until(WAIT, || {
            got = last_value(&serve.render(target, "-60s"));
            got == Some(expected)
        });
        assert_eq!(got, Some(expected), "{target}");
    };
    wait_last("stats.gauges.temp", 25.0);
    wait_last("stats.timers.lat.upper_90", 50.0);
    wait_last("stats.timers.lat.upper_50", 30.0);
    wait_last("stats.timers.lat.mean_90", 30.0);
    wait_last("stats.timers.lat.lower", 10.0);
    wait_last("stats.timers.lat.sum", 150.0);
    wait_last("stats.sets.users.count", 2.0);
    // DogStatsD tags become Graphite tags, queryable by tag.
    assert_eq!(
        serve.wait_for_sum(
            "seriesByTag('name=stats_counts.tagged','env=prod')",
            "-60s",
            7.0,
            WAIT
        ),
        7.0
    );
    let tagged = serve.render("seriesByTag('region=eu')", "-60s");
    let names: Vec<&str> = tagged
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["target"].as_str())
        .collect();
    assert!(
        names.contains(&"stats_counts.tagged;env=prod;region=eu"),
        "{names:?}"
    );
    // The daemon's own health is in its own store and at /metrics.
    assert!(
        prometheus_value(
            &serve,
            "ferrograph_packets_received_total{stage=\"statsd\"}"
        ) >= 5.0
    );
    let found = {
        let mut ok = false;
        wait_until(WAIT, || {
            let (_, body) = serve.http_get("/metrics/find?query=carbon.agents.*.statsd.*");
            ok = body.contains("packets_received");
            ok
        });
        ok
    };
    assert!(found, "self-metrics are not in the store");
    serve.stop(WAIT);
}

#[test]
fn sigterm_and_restart_lose_nothing_at_any_point_of_the_interval() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "", "");
    let mut serve = Serve::start(&config, &dir.path().join("data"));
    let mut expected_count = 0.0;
    let mut expected_timer_values = Vec::new();
    let mut lines_received = 0.0;
    // Stop early, mid-way and late in an interval: the saved interval is
    // either still open at restart or has closed and is flushed with its
    // own timestamp; both must give every increment exactly once.
    for (round, at_ms) in [50u64, 500, 950].into_iter().enumerate() {
        let first_timer = 100 * (round as u32 + 1);
        for burst in 0..8 {
            let mut lines = vec!["restart.count:1|c"; 25].join("\n");
            lines.push_str(&format!("\nrestart.timer:{}|ms", first_timer + burst));
            serve.send_statsd(&[&lines]);
            expected_timer_values.push(f64::from(first_timer + burst));
            std::thread::sleep(Duration::from_millis(130));
        }
        expected_count += 200.0;
        lines_received += 208.0;
        wait_received(&serve, lines_received);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        let into = now % 1000;
        let wait = if into <= at_ms {
            at_ms - into
        } else {
            1000 - into + at_ms
        };
        std::thread::sleep(Duration::from_millis(wait));
        serve.stop(WAIT);
        serve = Serve::start(&config, &dir.path().join("data"));
        // The restarted daemon's counters start from zero.
        lines_received = 0.0;
    }
    let got = serve.wait_for_sum("stats_counts.restart.count", "-5min", expected_count, WAIT);
    assert_eq!(got, expected_count, "counter increments lost or doubled");
    let timer_total: f64 = expected_timer_values.iter().sum();
    let got = serve.wait_for_sum("stats.timers.restart.timer.sum", "-5min", timer_total, WAIT);
    assert_eq!(got, timer_total, "timer values lost or doubled");
    let count = serve.render_sum("stats.timers.restart.timer.count", "-5min");
    assert_eq!(count, expected_timer_values.len() as f64);
    let upper = serve.render("stats.timers.restart.timer.upper", "-5min");
    let max_upper = upper[0]["datapoints"]
        .as_array()
        .expect("points")
        .iter()
        .filter_map(|p| p[0].as_f64())
        .fold(f64::MIN, f64::max);
    assert_eq!(max_upper, 307.0);
    serve.stop(WAIT);
}

#[test]
fn start_and_stop_ten_times_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "", "");
    for round in 0..10 {
        let started = Instant::now();
        let serve = Serve::start(&config, &dir.path().join("data"));
        serve.send_statsd(&[&format!("cycle:{round}|g")]);
        serve.stop(WAIT);
        assert!(started.elapsed() < WAIT, "round {round} took too long");
    }
    // The last gauge value survives the restarts.
    let serve = Serve::start(&config, &dir.path().join("data"));
    let mut last = None;
    wait_until(WAIT, || {
        last = last_value(&serve.render("stats.gauges.cycle", "-5min"));
        last == Some(9.0)
    });
    assert_eq!(last, Some(9.0));
    serve.stop(WAIT);
}

#[test]
fn kill_9_under_load_leaves_every_file_valid() {
    if !references_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "", "");
    let data = dir.path().join("data");
    let serve = Serve::start(&config, &data);
    let deadline = Instant::now() + Duration::from_millis(2500);
    let mut i = 0u64;
    while Instant::now() < deadline {
        let batch: Vec<String> = (0..50)
            .map(|k| format!("load.m{}:{}|c", (i * 50 + k) % 500, k))
            .collect();
        serve.send_statsd(&[&batch.join("\n")]);
        i += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    serve.kill9();
    let out = std::process::Command::new(ref_python())
        .arg(ref_script("validate_tree.py"))
        .arg(&data)
        .output()
        .expect("run validate_tree.py");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(
        out.status.success(),
        "whisper rejects files after kill -9: {summary}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(summary["files"].as_u64().unwrap_or(0) > 100, "{summary}");
    // And the daemon starts again on the same directory.
    let serve = Serve::start(&config, &data);
    let (status, _) = serve.http_get("/metrics/find?query=load.*");
    assert_eq!(status, 200);
    serve.stop(WAIT);
}

/// The pipeline load trial accounts for every line it sends: at a rate any
/// machine sustains, the counters read back from the Whisper files equal
/// the counter lines sent, and the daemon counted every line.
#[test]
fn pipeline_load_trial_finds_every_counter_on_disk() {
    let out = crate::util::run_ferrograph(&[
        "bench-udp",
        "--daemon",
        "serve",
        "--rates",
        "400",
        "--duration",
        "2",
        "--names",
        "40",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().expect("one JSON line");
    let v: Value = serde_json::from_str(line).expect("JSON");
    let sent = v["sent_counters"].as_f64().expect("sent_counters");
    assert!(sent >= 400.0, "{line}");
    assert_eq!(v["counters_on_disk"].as_f64(), Some(sent), "{line}");
    assert_eq!(
        v["received_by_daemon"].as_f64(),
        v["sent_metrics"].as_f64(),
        "{line}"
    );
    assert!(v["files"].as_u64().unwrap_or(0) >= 40, "{line}");
    assert!(v["peak_rss_kib"].as_u64().unwrap_or(0) > 0, "{line}");
}
