//! The first hour as a new user: config errors that agree between
//! `check-config` and `serve`, `ferrograph send`, `/metrics` as Prometheus
//! expects it, and a metric tree without the pipeline's own internals.

use std::process::Command;
use std::time::Duration;

use crate::util::refs::{ref_python, references_available};
use crate::util::serve::{write_config, Serve};
use crate::util::{ferrograph, wait_until};

const WAIT: Duration = Duration::from_secs(20);

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_bad_listen_address_is_refused_alike_by_check_config_and_serve() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[carbon]\nplaintext = \"0.0.0.0:abc\"\n").expect("write");
    let file = config.display().to_string();

    let check = ferrograph()
        .args(["check-config", &file])
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run check-config");
    let check_err = stderr_of(&check);
    assert!(!check.status.success(), "check-config accepted it");
    assert!(check_err.contains(&file), "names the file: {check_err}");
    assert!(
        check_err.contains("[carbon] plaintext = \"0.0.0.0:abc\""),
        "{check_err}"
    );
    assert!(
        !check_err.to_lowercase().contains("backtrace"),
        "{check_err}"
    );

    let data = dir.path().join("data");
    let serve = ferrograph()
        .args(["serve", "--config", &file, "--data-dir"])
        .arg(&data)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run serve");
    let serve_err = stderr_of(&serve);
    assert!(!serve.status.success(), "serve started with it");
    assert!(serve_err.contains(&file), "names the file: {serve_err}");
    assert!(
        !serve_err.to_lowercase().contains("backtrace"),
        "{serve_err}"
    );
    assert!(
        !data.exists(),
        "a refused start left {} behind",
        data.display()
    );
}

#[test]
fn listeners_take_names_in_every_section_and_errors_name_the_section_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[statsd]\nudp = \"localhost:8125\"\n[carbon]\nplaintext = \"localhost:2003\"\n\
         [render]\nhttp = \"localhost:8080\"\n",
    )
    .expect("write");
    let out = ferrograph()
        .arg("check-config")
        .arg(&good)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr_of(&out));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[render]\nrequest_timeout = \"1 fortnight\"\n").expect("write");
    let out = ferrograph()
        .arg("check-config")
        .arg(&bad)
        .output()
        .expect("run");
    let err = stderr_of(&out);
    assert!(!out.status.success());
    assert_eq!(err.matches("[render]").count(), 1, "{err}");
    assert!(err.contains("request_timeout = \"1 fortnight\""), "{err}");
}

/// Starts serve on the test config; the StatsD and HTTP addresses are
/// printed on its first line.
fn serve(dir: &std::path::Path) -> Serve {
    let config = write_config(dir, "", "");
    Serve::start(&config, &dir.join("data"))
}

#[test]
fn send_reaches_serve_over_udp_tcp_and_carbon() {
    let dir = tempfile::tempdir().expect("temp dir");
    let serve = serve(dir.path());
    let udp = serve.statsd_udp.expect("udp").to_string();
    let tcp = serve.statsd_tcp.expect("tcp").to_string();
    let carbon = serve.carbon_plaintext.expect("carbon").to_string();
    for args in [
        vec!["send", "hour.udp:3|c", "--to", udp.as_str()],
        vec!["send", "--tcp", "--to", tcp.as_str(), "hour.tcp:4|c"],
        vec!["send", "--carbon", "--to", carbon.as_str(), "hour.carbon 5"],
    ] {
        let out = ferrograph().args(&args).output().expect("run send");
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
    }
    let mut stdin_send = ferrograph()
        .args(["send", "--to", udp.as_str(), "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run send -");
    {
        use std::io::Write as _;
        let mut input = stdin_send.stdin.take().expect("stdin");
        input
            .write_all(b"hour.stdin:1|c\nhour.stdin:2|c\n")
            .expect("write");
    }
    assert!(stdin_send.wait().expect("wait").success());

    for (target, want) in [
        ("stats_counts.hour.udp", 3.0),
        ("stats_counts.hour.tcp", 4.0),
        ("hour.carbon", 5.0),
        ("stats_counts.hour.stdin", 3.0),
    ] {
        let got = serve.wait_for_sum(target, "-5min", want, WAIT);
        assert_eq!(got, want, "{target}; log:\n{}", serve.log());
    }
}

#[test]
fn wait_ready_returns_once_serve_answers_health() {
    let dir = tempfile::tempdir().expect("temp dir");
    let serve = serve(dir.path());
    let http = serve.http.expect("http").to_string();
    let out = ferrograph()
        .args(["wait-ready", "--http", http.as_str(), "--timeout", "20s"])
        .output()
        .expect("run wait-ready");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (status, body) = serve.http_get("/health");
    assert_eq!((status, body.trim()), (200, "ok"));

    // Nothing listens on a fresh port: it gives up with a reason.
    let closed = crate::util::free_tcp_port();
    let out = ferrograph()
        .args(["wait-ready", "--http"])
        .arg(format!("127.0.0.1:{closed}"))
        .args(["--timeout", "1s"])
        .output()
        .expect("run wait-ready");
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("not ready"), "{}", stderr_of(&out));
}

#[test]
fn metrics_are_typed_prometheus_families_with_reason_labels() {
    if !references_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let serve = serve(dir.path());
    serve.send_statsd(&["good:1|c", "no_type_here:1", "bad:x|c"]);
    assert!(wait_until(WAIT, || {
        serve
            .http_get("/metrics")
            .1
            .contains("reason=\"missing_type\"} 1")
    }));
    let (status, body) = serve.http_get("/metrics");
    assert_eq!(status, 200);
    assert!(!body.contains("untyped"), "{body}");
    // Parsed by the Prometheus project's own client library.
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(sys.stdin.read()))
assert families, "no families"
for f in families:
    assert f.type in ("counter", "gauge", "summary", "histogram"), (f.name, f.type)
reasons = {s.labels.get("reason") for f in families if f.name == "ferrograph_bad_lines" for s in f.samples}
assert {"missing_type", "bad_value"} <= reasons, reasons
print(len(families))
"#;
    let mut child = Command::new(ref_python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the reference python");
    {
        use std::io::Write as _;
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(body.as_bytes()).expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "prometheus_client refused /metrics: {}\n{body}",
        stderr_of(&out)
    );
}

#[test]
fn self_metrics_stay_out_of_the_top_level_tree() {
    let dir = tempfile::tempdir().expect("temp dir");
    let serve = serve(dir.path());
    serve.send_statsd(&["tree.check:1|c"]);
    serve.wait_for_sum("stats_counts.tree.check", "-5min", 1.0, WAIT);
    // Let the self-metrics (every second here) be written a few times.
    std::thread::sleep(Duration::from_secs(3));
    let (status, body) = serve.http_get("/metrics/find?query=*");
    assert_eq!(status, 200);
    let nodes: serde_json::Value = serde_json::from_str(&body).expect("json");
    let names: Vec<&str> = nodes
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|n| n["text"].as_str())
        .collect();
    assert!(!names.contains(&"_tagged"), "{names:?}");
    assert!(names.contains(&"stats_counts"), "{names:?}");
}
