//! `ferrograph serve` as a child process on port 0 in a temp data dir.

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{ferrograph, wait_until, ChildGuard};

/// Schemas for tests: one slot per second for StatsD series (the flush
/// interval is 1 s), so every flush owns a slot.
pub const TEST_SCHEMAS: &str = "\
[carbon]\npattern = ^carbon\\.\nretentions = 1s:1h\n\
[statsd]\npattern = ^(stats|stats_counts|statsd)\\.\nretentions = 1s:1h,10s:1d\n\
[default]\npattern = .*\nretentions = 1s:1h,1m:1d\n";

/// A running `ferrograph serve`.
pub struct Serve {
    /// The process (killed on drop).
    pub child: ChildGuard,
    /// Bound StatsD UDP address.
    pub statsd_udp: Option<SocketAddr>,
    /// Bound StatsD TCP address.
    pub statsd_tcp: Option<SocketAddr>,
    /// Bound HTTP address.
    pub http: Option<SocketAddr>,
    /// Bound carbon plaintext TCP address.
    pub carbon_plaintext: Option<SocketAddr>,
    /// Bound carbon pickle address.
    pub carbon_pickle: Option<SocketAddr>,
    /// Bound carbon plaintext UDP address.
    pub carbon_udp: Option<SocketAddr>,
    /// Every other address the daemon printed, by name.
    pub addrs: Value,
    /// The data directory.
    pub data_dir: PathBuf,
    stderr: PathBuf,
}

/// Writes `dir/ferrograph.toml`: every listener on 127.0.0.1:0, 1 s flush,
/// [`TEST_SCHEMAS`], plus `extra` TOML appended (later keys of a section
/// must not repeat earlier ones, so `extra` adds whole sections or keys
/// not set here).
pub fn write_config(dir: &Path, statsd_extra: &str, extra: &str) -> PathBuf {
    std::fs::write(dir.join("schemas.conf"), TEST_SCHEMAS).expect("write schemas");
    let text = format!(
        "[statsd]\nudp = \"127.0.0.1:0\"\ntcp = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
         flush_interval = \"1s\"\n{statsd_extra}\n\
         [carbon]\nplaintext = \"127.0.0.1:0\"\npickle = \"127.0.0.1:0\"\nudp = \"127.0.0.1:0\"\n\n\
         [storage]\nschemas = \"schemas.conf\"\nself_metrics_interval = \"1s\"\n\n\
         [render]\nhttp = \"127.0.0.1:0\"\n\n{extra}\n"
    );
    let path = dir.join("ferrograph.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn addr(v: &Value, key: &str) -> Option<SocketAddr> {
    v.get(key)?.as_str()?.parse().ok()
}

impl Serve {
    /// Starts `ferrograph serve --config CONFIG --data-dir DATA` and waits
    /// for its address line.
    pub fn start(config: &Path, data_dir: &Path) -> Serve {
        Self::start_with(config, data_dir, &[])
    }

    /// [`Serve::start`] with more arguments for `serve` (e.g. `--pidfile`).
    pub fn start_with(config: &Path, data_dir: &Path, args: &[&std::ffi::OsStr]) -> Serve {
        let stderr = data_dir.with_extension("stderr.log");
        let log = std::fs::File::create(&stderr).expect("create the stderr log");
        let mut child: Child = ferrograph()
            .args(["serve", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start ferrograph serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the address line");
        let child = ChildGuard(child);
        let addrs: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "ferrograph serve printed no address line ({e}): {line:?}\nstderr:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            )
        });
        Serve {
            child,
            statsd_udp: addr(&addrs, "statsd_udp"),
            statsd_tcp: addr(&addrs, "statsd_tcp"),
            http: addr(&addrs, "http"),
            carbon_plaintext: addr(&addrs, "carbon_plaintext"),
            carbon_pickle: addr(&addrs, "carbon_pickle"),
            carbon_udp: addr(&addrs, "carbon_udp"),
            addrs,
            data_dir: data_dir.to_path_buf(),
            stderr,
        }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends each payload as one UDP datagram to the StatsD listener.
    pub fn send_statsd(&self, payloads: &[&str]) {
        let to = self.statsd_udp.expect("StatsD UDP is on");
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        for p in payloads {
            socket.send_to(p.as_bytes(), to).expect("send");
        }
    }

    /// GET `path_and_query` from the HTTP API; returns (status, body).
    pub fn http_get(&self, path_and_query: &str) -> (u16, String) {
        http_request(self.http.expect("HTTP is on"), "GET", path_and_query, None)
    }

    /// `/render` of `target` as JSON from `from` to now (epoch or relative).
    pub fn render(&self, target: &str, from: &str) -> Value {
        let (status, body) = self.http_get(&format!(
            "/render?target={}&from={}&format=json",
            encode(target),
            encode(from)
        ));
        assert_eq!(status, 200, "render {target}: {body}");
        serde_json::from_str(&body).expect("render JSON")
    }

    /// Sum of the non-null values of the first series `target` renders.
    pub fn render_sum(&self, target: &str, from: &str) -> f64 {
        let v = self.render(target, from);
        v.get(0)
            .and_then(|s| s["datapoints"].as_array())
            .map(|points| points.iter().filter_map(|p| p[0].as_f64()).sum())
            .unwrap_or(0.0)
    }

    /// Polls until `target`'s sum over the last `from` equals `expected`.
    pub fn wait_for_sum(&self, target: &str, from: &str, expected: f64, timeout: Duration) -> f64 {
        let mut last = f64::NAN;
        wait_until(timeout, || {
            last = self.render_sum(target, from);
            last == expected
        });
        last
    }

    /// SIGTERM; asserts a clean exit within `timeout`.
    pub fn stop(mut self, timeout: Duration) {
        let status = self.child.terminate(timeout);
        assert!(
            status.is_some_and(|s| s.success()),
            "ferrograph serve did not exit cleanly after SIGTERM ({status:?}); log:\n{}",
            self.log()
        );
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A minimal HTTP/1.1 client (one request per connection).
pub fn http_request(to: SocketAddr, method: &str, path: &str, form: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(to).expect("connect to the HTTP API");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let body = form.unwrap_or("");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    if form.is_some() {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(req.as_bytes()).expect("send the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
