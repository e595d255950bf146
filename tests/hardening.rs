//! Game days as tests: descriptor exhaustion, slow clients, oversized
//! heads, tokens, corrupt files. Loopback only, each bounded in time.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::serve::{http_request, write_config, Serve};
use crate::util::{free_tcp_port, run_ferrograph, wait_until, ChildGuard};

/// `ferrograph web` on `dir`, started through bash so `ulimit -n` applies;
/// stderr goes to `log`.
fn web(
    dir: &Path,
    ulimit: Option<u32>,
    extra_config: &str,
    log: &Path,
) -> (ChildGuard, SocketAddr) {
    let port = free_tcp_port();
    let config = dir.with_extension("web.toml");
    std::fs::write(&config, format!("[render]\n{extra_config}\n")).expect("write config");
    let limit = ulimit
        .map(|n| format!("ulimit -n {n}; "))
        .unwrap_or_default();
    let child = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{limit}exec \"$0\" web --data-dir \"$1\" --http 127.0.0.1:{port} --config \"$2\""
        ))
        .arg(env!("CARGO_BIN_EXE_ferrograph"))
        .arg(dir)
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("start ferrograph web");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    assert!(
        wait_until(Duration::from_secs(10), || TcpStream::connect(addr).is_ok()),
        "web did not listen"
    );
    (ChildGuard(child), addr)
}

/// A Whisper tree with `gd.good1`, `gd.good2` (a point each) and a corrupt
/// `gd.bad`.
fn tree_with_a_corrupt_file(dir: &Path) {
    std::fs::create_dir_all(dir.join("gd")).expect("mkdir");
    for (name, value) in [("good1", "1"), ("good2", "2")] {
        let file = dir.join(format!("gd/{name}.wsp"));
        let f = file.to_str().expect("utf-8 path");
        assert!(run_ferrograph(&["whisper", "create", f, "60:1440"])
            .status
            .success());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let point = format!("{}:{value}", now - 120);
        let out = run_ferrograph(&["whisper", "update", f, &point]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::write(dir.join("gd/bad.wsp"), b"this is not a whisper file at all").expect("write");
}

const RANGE: &str = "from=-1h";

#[test]
fn a_corrupt_file_in_a_glob_is_skipped_and_a_named_one_is_an_error_without_its_path() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("whisper");
    tree_with_a_corrupt_file(&data);
    let log = tmp.path().join("web.log");
    let (_web, addr) = web(&data, None, "", &log);

    let (status, body) = http_request(
        addr,
        "GET",
        &format!("/render?target=gd.*&format=json&{RANGE}"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let series: serde_json::Value = serde_json::from_str(&body).expect("json");
    let names: Vec<&str> = series
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["target"].as_str())
        .collect();
    assert_eq!(names, ["gd.good1", "gd.good2"]);

    let (status, body) = http_request(
        addr,
        "GET",
        &format!("/render?target=gd.bad&format=json&{RANGE}"),
        None,
    );
    assert!(status >= 500, "{status} {body}");
    assert!(body.contains("gd.bad"), "{body}");
    assert!(
        !body.contains(data.to_str().expect("utf-8")),
        "leaks the path: {body}"
    );
    assert!(!body.contains("bad.wsp"), "leaks the file name: {body}");
    // the log names the file, once
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(log_text.contains("bad.wsp"), "{log_text}");
}

/// `ferrograph web` names a corrupt file at start, before any request
/// reads it, as `serve` does.
#[test]
fn web_names_corrupt_files_at_start() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("whisper");
    tree_with_a_corrupt_file(&data);
    let log = tmp.path().join("web.log");
    let (_web, _addr) = web(&data, None, "", &log);
    let named = crate::util::wait_until(std::time::Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("corrupt whisper file found at start") && text.contains("bad.wsp")
    });
    assert!(
        named,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !text.contains("good1.wsp"),
        "only the corrupt file is named: {text}"
    );
}

#[test]
fn descriptor_exhaustion_is_quiet_and_the_api_recovers() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("whisper");
    tree_with_a_corrupt_file(&data);
    let log = tmp.path().join("web.log");
    let (_web, addr) = web(&data, Some(256), "", &log);

    let mut idle = Vec::new();
    for _ in 0..300 {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => idle.push(s),
            Err(_) => break,
        }
    }
    std::thread::sleep(Duration::from_secs(5));
    let lines = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .count();
    assert!(lines < 100, "{lines} log lines in 5 s");
    drop(idle);
    let answered = wait_until(Duration::from_secs(10), || {
        http_request(
            addr,
            "GET",
            &format!("/render?target=gd.good1&format=json&{RANGE}"),
            None,
        )
        .0 == 200
    });
    assert!(
        answered,
        "no /render answer once the idle connections closed"
    );
}

#[test]
fn slow_and_oversized_requests_are_cut_off() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("whisper");
    tree_with_a_corrupt_file(&data);
    let log = tmp.path().join("web.log");
    let (_web, addr) = web(&data, None, "read_timeout = \"2s\"", &log);

    // half a request line, then nothing: closed after read_timeout
    let mut slow = TcpStream::connect(addr).expect("connect");
    slow.write_all(b"GET /rend").expect("write");
    slow.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let n = slow.read(&mut buf).unwrap_or(0);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "held {:?}",
        started.elapsed()
    );
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || head.starts_with("HTTP/1.1 408"), "{head}");

    // a head over max_header_bytes: 431
    let mut big = TcpStream::connect(addr).expect("connect");
    let request = format!(
        "GET /render?target=gd.good1 HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(80_000)
    );
    let _ = big.write_all(request.as_bytes());
    let mut answer = String::new();
    let _ = big.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.80}");
}

#[test]
fn a_read_token_guards_everything_but_health() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("whisper");
    tree_with_a_corrupt_file(&data);
    let log = tmp.path().join("web.log");
    let (_web, addr) = web(&data, None, "read_token = \"s3cret\"", &log);
    let path = format!("/render?target=gd.good1&format=json&{RANGE}");
    assert_eq!(http_request(addr, "GET", &path, None).0, 401);
    assert_eq!(http_request(addr, "GET", "/health", None).0, 200);
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.80}");
}

#[test]
fn quarantine_moves_a_corrupt_file_aside_and_writes_a_new_one() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = write_config(tmp.path(), "", "");
    let text = std::fs::read_to_string(&config).expect("read config");
    std::fs::write(
        &config,
        text.replace("[storage]\n", "[storage]\ncorrupt_files = \"quarantine\"\n"),
    )
    .expect("write config");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("q")).expect("mkdir");
    std::fs::write(data.join("q/bad.wsp"), b"garbage").expect("write");
    let serve = Serve::start(&config, &data);
    let carbon = serve.carbon_plaintext.expect("carbon");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let mut stream = TcpStream::connect(carbon).expect("connect");
    writeln!(stream, "q.bad 7 {now}").expect("write");
    drop(stream);
    let aside = data.join("q/bad.wsp.corrupt");
    assert!(
        wait_until(Duration::from_secs(20), || aside.exists()),
        "not quarantined; log:\n{}",
        serve.log()
    );
    let value = serve.wait_for_sum("q.bad", "-5min", 7.0, Duration::from_secs(20));
    assert_eq!(value, 7.0, "log:\n{}", serve.log());
    assert_eq!(
        std::fs::read(&aside).expect("the corrupt file kept aside"),
        b"garbage"
    );
    assert!(serve.log().contains("quarantined"), "{}", serve.log());
}

#[test]
fn https_with_a_configured_certificate() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (scripts/ci-prerequisites.sh installs it)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let data = tmp.path().join("whisper");
    tree_with_a_corrupt_file(&data);
    let log = tmp.path().join("web.log");
    let config = format!("tls_cert = {:?}\ntls_key = {:?}", cert, key);
    let (_web, addr) = web(&data, None, &config, &log);
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "10"])
        .arg(format!(
            "https://{addr}/render?target=gd.good1&format=json&{RANGE}"
        ))
        .output()
        .expect("curl");
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("\"target\": \"gd.good1\""), "{body}");
}

#[test]
fn evaluations_past_the_slots_get_503_with_retry_after() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("whisper");
    std::fs::create_dir_all(data.join("h")).expect("mkdir");
    // 40 files of a year at one minute: each sum reads a few MB.
    for i in 0..40 {
        let file = data.join(format!("h/m{i}.wsp"));
        let out = run_ferrograph(&[
            "whisper",
            "create",
            file.to_str().expect("utf-8"),
            "60:525600",
        ]);
        assert!(out.status.success());
    }
    let log = tmp.path().join("web.log");
    let (_web, addr) = web(
        &data,
        None,
        "max_concurrent_requests = 1\nqueue_timeout = \"0s\"",
        &log,
    );
    let path = "/render?target=sumSeries(h.*)&format=json&from=-365d".to_string();
    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|_| s.spawn(|| raw_request(addr, &path)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(
        answers.iter().any(|(status, _)| *status == 200),
        "none answered"
    );
    let busy: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status == 503)
        .collect();
    assert!(
        !busy.is_empty(),
        "no 503 among {:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert!(busy
        .iter()
        .all(|(_, head)| head.to_lowercase().contains("retry-after: 1")));
}

/// GET `path`; returns the status and the response head.
fn raw_request(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap_or("").to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head)
}

#[test]
fn render_keeps_answering_during_a_udp_flood() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = write_config(tmp.path(), "", "");
    let serve = Serve::start(&config, &tmp.path().join("data"));
    let statsd = serve.statsd_udp.expect("statsd");
    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flood = {
        let flooding = flooding.clone();
        std::thread::spawn(move || {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
            // 20 metrics a datagram over 100,000 names, as fast as one
            // sender thread goes, for at most 6 s
            let started = Instant::now();
            let mut sent = 0u64;
            let mut i = 0u32;
            while flooding.load(std::sync::atomic::Ordering::Relaxed)
                && started.elapsed() < Duration::from_secs(6)
            {
                let datagram: String = (0..20)
                    .map(|k| format!("flood.k{}:1|c\n", (i + k) % 100_000))
                    .collect();
                let _ = socket.send_to(datagram.as_bytes(), statsd);
                i = i.wrapping_add(20);
                sent += 20;
            }
            sent
        })
    };
    let mut answered = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        let (status, body) =
            serve.http_get("/render?target=stats_counts.flood.k1&from=-1min&format=json");
        assert_eq!(status, 200, "{body}");
        answered += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    let sent = flood.join().expect("flood thread");
    eprintln!("UDP flood: {sent} metrics sent in about 5 s; /render answered {answered} times");
    assert!(answered >= 10, "only {answered} answers in 5 s");
}
