//! Shared harness for the end-to-end tests. Modules use what they need, so
//! not every helper is used by every build of the test binary.
#![allow(dead_code)]

pub mod graphite;
pub mod serve;

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
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

/// Where `scripts/install-references.sh` put the reference implementations.
pub fn refs_prefix() -> PathBuf {
    std::env::var_os("FERROGRAPH_REFS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/ferrograph-refs"))
}

/// The python that imports the reference `whisper`, `graphite` and `statsd`.
pub fn ref_python() -> PathBuf {
    refs_prefix().join("bin").join("ref-python")
}

/// The Etsy StatsD package directory (holds `stats.js`).
pub fn ref_statsd_dir() -> PathBuf {
    refs_prefix().join("statsd/node_modules/statsd")
}

/// Returns true when the reference implementations are installed. When they
/// are not, the test fails with instructions, unless the developer opted out
/// with `FERROGRAPH_SKIP_REFERENCE_TESTS=1` (then the caller returns early).
/// CI never sets that variable, so differential tests always run there.
pub fn references_available() -> bool {
    if ref_python().exists() && ref_statsd_dir().join("stats.js").exists() {
        return true;
    }
    if std::env::var_os("FERROGRAPH_SKIP_REFERENCE_TESTS").is_some() {
        eprintln!("skipping: reference implementations not installed");
        return false;
    }
    panic!(
        "reference implementations not found under {}: run scripts/install-references.sh \
         (or set FERROGRAPH_SKIP_REFERENCE_TESTS=1 to skip differential tests locally)",
        refs_prefix().display()
    );
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
