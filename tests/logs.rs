//! l2met log metrics end to end: `POST /logs` (logplex frames) and
//! `ferrograph logs` (stdin to StatsD) through `serve`, rendered after a
//! flush under the StatsD names; bad bodies answered, counted, survived.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::Duration;

use crate::util::serve::{write_config, Serve};
use crate::util::{ferrograph, wait_until};

const WAIT: Duration = Duration::from_secs(20);

/// One POST with a content type; returns (status, body).
fn post(to: SocketAddr, path: &str, content_type: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(to).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).expect("send head");
    // a refused body may be answered before it is all read
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

/// Heroku's framing: each RFC 5424 message prefixed with its octet count.
fn logplex(messages: &[&str]) -> Vec<u8> {
    let mut body = String::new();
    for m in messages {
        let frame = format!("<190>1 2024-05-01T10:00:00.000000+00:00 host app web.1 - {m}");
        body.push_str(&format!("{} {frame}", frame.len()));
    }
    body.into_bytes()
}

/// Non-null values of the first series `target` renders.
fn values(serve: &Serve, target: &str) -> Vec<f64> {
    let v = serve.render(target, "-5min");
    v.get(0)
        .and_then(|s| s["datapoints"].as_array())
        .map(|d| d.iter().filter_map(|p| p[0].as_f64()).collect())
        .unwrap_or_default()
}

/// Polls until `check` holds for `target`'s values; returns them.
fn wait_values(serve: &Serve, target: &str, check: impl Fn(&[f64]) -> bool) -> Vec<f64> {
    let mut got = Vec::new();
    wait_until(WAIT, || {
        got = values(serve, target);
        check(&got)
    });
    got
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::min)
}

#[test]
fn logplex_drain_and_logs_command_through_serve() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        dir.path(),
        "",
        "[logs]\nmax_body = 4096\nsource_tag = true\nsyslog = \"127.0.0.1:0\"\n",
    );
    let serve = Serve::start(&config, &dir.path().join("data"));
    let http = serve.http.expect("http");

    let body = logplex(&[
        "at=info count#logs.requests=3 measure#logs.latency=50ms sample#logs.depth=7",
        "count#logs.requests=2 measure#logs.latency=1.5s measure#logs.bad=abc",
        "measure#logs.size=200MB sample#logs.depth=9 ordinary log text",
        "source=web.1 count#logs.tagged=4",
    ]);
    let (status, answer) = post(http, "/logs", Some("application/logplex-1"), &body);
    assert_eq!(status, 200, "POST /logs: {answer}");

    // after a flush, under the StatsD names
    let counts = wait_values(&serve, "stats_counts.logs.requests", |v| {
        v.iter().sum::<f64>() == 5.0
    });
    assert_eq!(counts.iter().sum::<f64>(), 5.0, "count# -> counter");
    let upper = wait_values(&serve, "stats.timers.logs.latency.upper", |v| {
        max(v) == 1500.0
    });
    assert_eq!(max(&upper), 1500.0, "measure# in s -> ms");
    let lower = wait_values(&serve, "stats.timers.logs.latency.lower", |v| {
        min(v) == 50.0
    });
    assert_eq!(min(&lower), 50.0, "measure# in ms kept");
    let size = wait_values(&serve, "stats.timers.logs.size.upper", |v| max(v) == 200.0);
    assert_eq!(max(&size), 200.0, "other units: the raw value");
    let depth = wait_values(&serve, "stats.gauges.logs.depth", |v| {
        v.last() == Some(&9.0)
    });
    assert_eq!(depth.last(), Some(&9.0), "sample# -> gauge, last value");
    // source= as a tag (source_tag = true)
    let mut tagged = serde_json::Value::Null;
    wait_until(WAIT, || {
        tagged = serve.render("seriesByTag('name=stats_counts.logs.tagged')", "-5min");
        tagged.get(0).is_some()
    });
    assert_eq!(tagged[0]["target"], "stats_counts.logs.tagged;source=web.1");

    // bad input: answered, counted, survived
    assert_eq!(
        post(http, "/logs", Some("application/logplex-1"), &[b'x'; 5000]).0,
        413
    );
    assert_eq!(post(http, "/logs", Some("application/json"), b"{}").0, 415);
    assert_eq!(
        post(http, "/logs", Some("application/logplex-1"), b"hello there").0,
        400
    );
    assert_eq!(post(http, "/logs", None, b"99 <1>1 too short").0, 400);
    assert_eq!(
        post(
            http,
            "/logs",
            Some("text/plain"),
            b"count#logs.plain=1\ncount#logs.plain=1\n"
        )
        .0,
        200
    );
    let plain = wait_values(&serve, "stats_counts.logs.plain", |v| {
        v.iter().sum::<f64>() == 2.0
    });
    assert_eq!(plain.iter().sum::<f64>(), 2.0, "text/plain lines");
    let mut metrics = String::new();
    wait_until(WAIT, || {
        metrics = serve.http_get("/metrics").1;
        metrics.contains("log_bad_input_total") && metrics.contains("reason=\"too_large\"")
    });
    for family in [
        "log_bad_input_total",
        "log_metrics_total",
        "log_lines_total",
    ] {
        assert!(
            metrics.contains(family),
            "/metrics lacks {family}:\n{metrics}"
        );
    }

    // [logs] syslog: one RFC 5424 message per UDP datagram
    let syslog: SocketAddr = serve.addrs["logs_syslog"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("the syslog listener's address");
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    for message in [
        "<14>1 2024-05-01T10:00:00Z host app proc - - count#sys.hits=2 sample#sys.level=3",
        "<14>1 2024-05-01T10:00:00Z host app proc - [meta k=\"v\"] count#sys.hits=1",
        "not syslog at all count#sys.hits=100",
    ] {
        udp.send_to(message.as_bytes(), syslog)
            .expect("send syslog");
    }
    let hits = wait_values(&serve, "stats_counts.sys.hits", |v| {
        v.iter().sum::<f64>() == 3.0
    });
    assert_eq!(
        hits.iter().sum::<f64>(),
        3.0,
        "syslog datagrams (the one without a header skipped)"
    );

    // ferrograph logs: stdin lines to StatsD over UDP
    let mut child = ferrograph()
        .args(["logs", "--statsd"])
        .arg(serve.statsd_udp.expect("statsd udp").to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ferrograph logs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"count#cli.hits=2 measure#cli.t=2s sample#cli.g=-4\nnothing here\ncount#cli.hits=1 count#cli.bad=x\n")
        .expect("write stdin");
    let out = child.wait_with_output().expect("ferrograph logs exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ferrograph logs failed: {stderr}");
    assert!(stderr.contains("3 lines, 4 metrics"), "summary: {stderr}");
    assert!(
        stderr.contains("count#cli.bad=x"),
        "bad field reported: {stderr}"
    );
    let hits = wait_values(&serve, "stats_counts.cli.hits", |v| {
        v.iter().sum::<f64>() == 3.0
    });
    assert_eq!(hits.iter().sum::<f64>(), 3.0);
    let t = wait_values(&serve, "stats.timers.cli.t.upper", |v| max(v) == 2000.0);
    assert_eq!(max(&t), 2000.0);
    let g = wait_values(&serve, "stats.gauges.cli.g", |v| v.last() == Some(&-4.0));
    assert_eq!(
        g.last(),
        Some(&-4.0),
        "a negative sample is a value, not a delta"
    );
    serve.stop(WAIT);
}
