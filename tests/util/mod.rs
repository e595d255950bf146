//! Shared harness for the end-to-end tests: processes, ports and polling
//! here; the reference implementations in `refs`, the render differential
//! harness in `render` (pickle decoding in `pickle`), `ferrograph serve` in
//! `serve`, the StatsD capture server and differential runner in `statsd`,
//! `ferrograph statsd-proxy` in `proxy`, headless Chromium in `chromium`.
//! Modules use what they need, so not every helper is used by every build
//! of the test binary.
#![allow(dead_code)]

pub mod chromium;
pub mod clickhouse;
pub mod pickle;
pub mod proxy;
pub mod refs;
pub mod render;
pub mod serve;
pub mod statsd;
pub mod web;

use std::net::{TcpListener, UdpSocket};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The `ferrograph` binary built for this test run.
pub fn ferrograph() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferrograph"))
}

/// Runs `ferrograph ARGS...` to completion.
pub fn run_ferrograph(args: &[&str]) -> Output {
    ferrograph()
        .args(args)
        .output()
        .expect("the ferrograph binary runs")
}

/// A loopback TCP port that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral TCP port");
    listener.local_addr().expect("local addr").port()
}

/// A loopback UDP port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral UDP port");
    socket.local_addr().expect("local addr").port()
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process that is killed when the guard goes out of scope, so a
/// failing test never leaves a daemon behind.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Sends SIGTERM and waits up to `timeout` for the process to exit;
    /// returns its exit status if it did.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        // Only a child not yet reaped may be signalled by pid: once reaped,
        // its pid may belong to another process.
        if let Ok(Some(status)) = self.0.try_wait() {
            return Some(status);
        }
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Formats an expected/actual mismatch as two fenced blocks.
pub fn mismatch(what: &str, expected: &str, actual: &str) -> String {
    format!("{what}\nexpected:\n```\n{expected}\n```\nactual:\n```\n{actual}\n```")
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Sends carbon plaintext lines over one TCP connection.
pub fn send_carbon(to: std::net::SocketAddr, lines: &[String]) {
    use std::io::Write as _;
    let mut stream = std::net::TcpStream::connect(to).expect("connect carbon");
    let mut text = lines.join("\n");
    text.push('\n');
    stream.write_all(text.as_bytes()).expect("send carbon");
}
