//! Real StatsD client libraries (PyPI `statsd`, npm `hot-shots`) talking to
//! `ferrograph serve`; what they send comes back through `/render`.

use std::path::Path;
use std::time::Duration;

use crate::util::refs::{ref_python, references_available, run_client};
use crate::util::serve::{write_config, Serve};
use crate::util::wait_until;

const WAIT: Duration = Duration::from_secs(15);

fn last_non_null(serve: &Serve, target: &str) -> Option<f64> {
    let v = serve.render(target, "-5min");
    v.get(0)?["datapoints"]
        .as_array()?
        .iter()
        .rev()
        .find_map(|p| p[0].as_f64())
}

fn wait_last(serve: &Serve, target: &str, expected: f64) {
    let mut got = None;
    wait_until(WAIT, || {
        got = last_non_null(serve, target);
        got == Some(expected)
    });
    assert_eq!(got, Some(expected), "{target}");
}

/// Starts `ferrograph serve` in a fresh directory and runs a client library
/// (`program SCRIPT HOST PORT PREFIX`) against its StatsD UDP port.
fn serve_and_run_client(program: &Path, script: &str, prefix: &str) -> (tempfile::TempDir, Serve) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "", "");
    let serve = Serve::start(&config, &dir.path().join("data"));
    let udp = serve.statsd_udp.expect("udp");
    run_client(program, script, udp, prefix);
    (dir, serve)
}

/// Waits for the sum of `target` over the last five minutes to reach `expected`.
fn wait_sum(serve: &Serve, target: &str, expected: f64) {
    assert_eq!(
        serve.wait_for_sum(target, "-5min", expected, WAIT),
        expected,
        "{target}"
    );
}

#[test]
fn python_statsd_client() {
    if !references_available() {
        return;
    }
    let (_dir, serve) = serve_and_run_client(&ref_python(), "python_statsd_client.py", "py");
    wait_sum(&serve, "stats_counts.py.hits", 12.0);
    wait_sum(&serve, "stats_counts.py.piped", 2.0);
    wait_last(&serve, "stats.gauges.py.queue", 42.0);
    wait_last(&serve, "stats.timers.py.latency.upper_90", 90.0);
    wait_last(&serve, "stats.timers.py.latency.mean", 55.0);
    wait_last(&serve, "stats.timers.py.latency.count", 10.0);
    wait_last(&serve, "stats.sets.py.users.count", 3.0);
    serve.stop(WAIT);
}

#[test]
fn node_hot_shots_client() {
    if !references_available() {
        return;
    }
    let (_dir, serve) = serve_and_run_client(Path::new("node"), "node_hot_shots_client.js", "js");
    wait_sum(&serve, "stats_counts.js.hits", 10.0);
    wait_last(&serve, "stats.gauges.js.temp", 21.5);
    wait_last(&serve, "stats.timers.js.rt.upper_90", 25.0);
    wait_last(&serve, "stats.timers.js.rt.lower", 5.0);
    wait_last(&serve, "stats.sets.js.ids.count", 2.0);
    wait_sum(
        &serve,
        "seriesByTag('name=stats_counts.js.tagged','env=prod','region=eu')",
        3.0,
    );
    serve.stop(WAIT);
}
