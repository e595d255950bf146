//! One sender thread per node: takes packets off the node's bounded queue,
//! joins consecutive small ones up to `max_packet_size` (so a burst of
//! one-line datagrams leaves as few full ones) and sends them over UDP, as
//! proxy.js does.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::route::{Packet, Shared};

/// How often an idle sender looks at the drain flag.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// Starts node `node`'s sender. It exits when the proxy is draining and its
/// queue is empty, or at `drain_deadline` (what is still queued then is
/// counted as dropped).
pub fn spawn(
    shared: Arc<Shared>,
    node: usize,
    queue: Receiver<Packet>,
    drain_deadline: Arc<std::sync::OnceLock<Instant>>,
) -> anyhow::Result<JoinHandle<()>> {
    let to = shared.settings.nodes[node].statsd;
    let local: SocketAddr = if to.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let socket = UdpSocket::bind(local).context("cannot open a UDP socket to send to the nodes")?;
    // Connected: an ICMP "port unreachable" from a stopped node surfaces as
    // a failed send (counted) instead of vanishing.
    socket
        .connect(to)
        .with_context(|| format!("cannot address node {to}"))?;
    let name = format!("proxy-send-{node}");
    std::thread::Builder::new()
        .name(name)
        .spawn(move || run(&shared, node, &queue, &socket, &drain_deadline))
        .context("cannot start a sender thread")
}

fn run(
    shared: &Shared,
    node: usize,
    queue: &Receiver<Packet>,
    socket: &UdpSocket,
    drain_deadline: &std::sync::OnceLock<Instant>,
) {
    let max = shared.settings.max_packet_size;
    let stats = &shared.stats.nodes[node];
    let mut held: Option<Packet> = None;
    loop {
        if let Some(deadline) = drain_deadline.get() {
            if Instant::now() >= *deadline {
                let left: u64 = held
                    .take()
                    .into_iter()
                    .chain(queue.try_iter())
                    .map(|p| u64::from(p.lines))
                    .sum();
                stats
                    .lines_dropped_queue_full
                    .fetch_add(left, Ordering::Relaxed);
                return;
            }
        }
        let first = match held.take() {
            Some(p) => p,
            None => match queue.recv_timeout(IDLE_POLL) {
                Ok(p) => p,
                Err(RecvTimeoutError::Timeout) => {
                    if shared.draining.load(Ordering::Acquire) && queue.is_empty() {
                        return;
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            },
        };
        let mut bytes = first.bytes;
        let mut lines = first.lines;
        while let Ok(next) = queue.try_recv() {
            if bytes.len() + 1 + next.bytes.len() > max {
                held = Some(next);
                break;
            }
            bytes.push(b'\n');
            bytes.extend_from_slice(&next.bytes);
            lines += next.lines;
        }
        match socket.send(&bytes) {
            Ok(_) => {
                stats.packets_sent.fetch_add(1, Ordering::Relaxed);
                stats
                    .lines_forwarded
                    .fetch_add(u64::from(lines), Ordering::Relaxed);
            }
            Err(_) => {
                stats
                    .lines_send_failed
                    .fetch_add(u64::from(lines), Ordering::Relaxed);
            }
        }
    }
}
