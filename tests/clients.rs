//! Real StatsD client libraries (PyPI `statsd`, npm `hot-shots`) talking to
//! `ferrograph serve`; what they send comes back through `/render`.

use std::process::Command;
use std::time::Duration;

use crate::util::serve::{write_config, Serve};
use crate::util::{ref_python, references_available, refs_prefix, wait_until};

const WAIT: Duration = Duration::from_secs(15);

fn script(name: &str) -> String {
    format!("{}/tests/refs/{name}", env!("CARGO_MANIFEST_DIR"))
}

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

#[test]
fn python_statsd_client() {
    if !references_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "", "");
    let serve = Serve::start(&config, &dir.path().join("data"));
    let udp = serve.statsd_udp.expect("udp");
    let out = Command::new(ref_python())
        .arg(script("python_statsd_client.py"))
        .arg(udp.ip().to_string())
        .arg(udp.port().to_string())
        .arg("py")
        .output()
        .expect("run the python client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        serve.wait_for_sum("stats_counts.py.hits", "-5min", 12.0, WAIT),
        12.0
    );
    assert_eq!(
        serve.wait_for_sum("stats_counts.py.piped", "-5min", 2.0, WAIT),
        2.0
    );
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
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "", "");
    let serve = Serve::start(&config, &dir.path().join("data"));
    let udp = serve.statsd_udp.expect("udp");
    let out = Command::new("node")
        .arg(script("node_hot_shots_client.js"))
        .arg(udp.ip().to_string())
        .arg(udp.port().to_string())
        .arg("js")
        .env("FERROGRAPH_REFS", refs_prefix())
        .output()
        .expect("run the node client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        serve.wait_for_sum("stats_counts.js.hits", "-5min", 10.0, WAIT),
        10.0
    );
    wait_last(&serve, "stats.gauges.js.temp", 21.5);
    wait_last(&serve, "stats.timers.js.rt.upper_90", 25.0);
    wait_last(&serve, "stats.timers.js.rt.lower", 5.0);
    wait_last(&serve, "stats.sets.js.ids.count", 2.0);
    assert_eq!(
        serve.wait_for_sum(
            "seriesByTag('name=stats_counts.js.tagged','env=prod','region=eu')",
            "-5min",
            3.0,
            WAIT
        ),
        3.0
    );
    serve.stop(WAIT);
}
