//! `ferrograph web` started for a test, and plain HTTP/1.1 exchanges with
//! it (one connection per request, `Connection: close`).

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::{ferrograph, ChildGuard};

/// `ferrograph web` on a free loopback port; killed when dropped.
pub struct Web {
    pub guard: ChildGuard,
    pub addr: SocketAddr,
}

impl Web {
    /// Starts it over `data_dir` (with `--config` when given) and waits for
    /// the first stdout line, which names the bound address.
    pub fn start(data_dir: &Path, config: Option<&Path>) -> Web {
        let mut cmd = ferrograph();
        cmd.args(["web", "--data-dir"])
            .arg(data_dir)
            .args(["--http", "127.0.0.1:0"]);
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ferrograph web");
        let stdout = child.stdout.take().expect("stdout");
        let guard = ChildGuard(child);
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Web { guard, addr }
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGTERM; fails the test if it does not exit within 10 s.
    pub fn stop(mut self) {
        assert!(
            self.guard.terminate(Duration::from_secs(10)).is_some(),
            "ferrograph web did not stop on SIGTERM"
        );
    }
}

/// Sends `request` (a whole HTTP/1.1 request) to `addr` and returns the
/// status, the content type (lower case) and the body.
pub fn exchange(addr: impl std::net::ToSocketAddrs, request: &[u8]) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream.write_all(request).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    (status, content_type, body.to_string())
}
