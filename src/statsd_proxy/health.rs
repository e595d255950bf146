//! Health checks, as proxy.js does them: every `check_interval` each node's
//! admin port is sent `health`; an answer containing `up` keeps (or puts)
//! the node on the ring; a refused connection, a timeout or another answer
//! takes it off, so its keys go to the other nodes until it recovers. Each
//! change is logged once.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::route::Shared;

/// Starts node `node`'s checker thread (it ends at stop).
pub fn spawn(shared: Arc<Shared>, node: usize) -> anyhow::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("proxy-health-{node}"))
        .spawn(move || run(&shared, node))
        .context("cannot start a health check thread")
}

fn run(shared: &Shared, node: usize) {
    let interval = shared.settings.check_interval;
    let admin = shared.settings.nodes[node].admin;
    let id = &shared.ids[node];
    while !shared.stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let verdict = check(admin, interval);
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let up = verdict.is_ok();
        if shared.set_health(node, up) {
            let on_ring = shared.ring().members().len();
            match verdict {
                Ok(()) => tracing::warn!(node = %id, on_ring, "node up: adding it to the ring"),
                Err(reason) => {
                    tracing::warn!(node = %id, %reason, on_ring, "node down: removing it from the ring, its keys go to the other nodes")
                }
            }
            if on_ring == 0 {
                tracing::error!("no node is up: lines are dropped (counted as lines_unroutable)");
            }
        }
        // Sleep out the interval in short steps so stop is prompt.
        while started.elapsed() < interval && !shared.stop.load(Ordering::Relaxed) {
            let left = interval.saturating_sub(started.elapsed());
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

/// Asks `admin` for `health`; Ok when the answer contains `up` (as
/// proxy.js's `indexOf('up')`), else why not.
pub fn check(admin: SocketAddr, timeout: Duration) -> Result<(), String> {
    let mut conn = TcpStream::connect_timeout(&admin, timeout).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(timeout))
        .and_then(|()| conn.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    conn.write_all(b"health\r\n").map_err(|e| e.to_string())?;
    let mut answer = Vec::with_capacity(32);
    let mut buf = [0u8; 64];
    // Read to the first line's end (the admin console keeps the
    // connection open for more commands).
    while !answer.contains(&b'\n') && answer.len() < 256 {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("no answer to health: {e}")),
        }
    }
    let _ = conn.write_all(b"quit\r\n");
    let text = String::from_utf8_lossy(&answer);
    if text.contains("up") {
        Ok(())
    } else {
        Err(format!("answered {:?}", text.trim_end()))
    }
}
