//! The proxy's counters: what came in, what each node was sent, what was
//! dropped and why, node state changes. Read by the admin console's
//! `stats` command and by the periodic trouble log.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counters of one node.
#[derive(Debug, Default)]
pub struct NodeStats {
    /// Lines handed to the node's socket.
    pub lines_forwarded: AtomicU64,
    /// Datagrams sent to the node.
    pub packets_sent: AtomicU64,
    /// Lines dropped because the node's queue was full.
    pub lines_dropped_queue_full: AtomicU64,
    /// Lines lost because a send failed (e.g. no route).
    pub lines_send_failed: AtomicU64,
    /// Health transitions up → down.
    pub went_down: AtomicU64,
    /// Health transitions down → up.
    pub came_up: AtomicU64,
    /// Current health (on the ring).
    pub up: AtomicBool,
}

/// All counters.
#[derive(Debug)]
pub struct Stats {
    /// Lines received over UDP.
    pub lines_udp: AtomicU64,
    /// Lines received over TCP.
    pub lines_tcp: AtomicU64,
    /// UDP datagrams received.
    pub packets_udp: AtomicU64,
    /// Lines with no valid sample (not forwarded).
    pub bad_lines: AtomicU64,
    /// Lines longer than one datagram can carry (not forwarded).
    pub lines_too_long: AtomicU64,
    /// Lines dropped because no node was up.
    pub lines_unroutable: AtomicU64,
    /// TCP connections refused at `tcp_max_connections`.
    pub tcp_refused: AtomicU64,
    /// Key → node cache resets (full, or the ring changed).
    pub cache_resets: AtomicU64,
    /// Per node, in configured order.
    pub nodes: Vec<NodeStats>,
}

impl Stats {
    /// Zeroed counters for `nodes` nodes, every node up (as proxy.js
    /// starts: all on the ring until a check says otherwise).
    pub fn new(nodes: usize) -> Stats {
        let nodes = (0..nodes)
            .map(|_| {
                let n = NodeStats::default();
                n.up.store(true, Ordering::Relaxed);
                n
            })
            .collect();
        Stats {
            lines_udp: AtomicU64::new(0),
            lines_tcp: AtomicU64::new(0),
            packets_udp: AtomicU64::new(0),
            bad_lines: AtomicU64::new(0),
            lines_too_long: AtomicU64::new(0),
            lines_unroutable: AtomicU64::new(0),
            tcp_refused: AtomicU64::new(0),
            cache_resets: AtomicU64::new(0),
            nodes,
        }
    }

    /// Lines not forwarded for any reason: the counters the trouble log
    /// watches.
    pub fn lost(&self) -> u64 {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        r(&self.bad_lines)
            + r(&self.lines_too_long)
            + r(&self.lines_unroutable)
            + self
                .nodes
                .iter()
                .map(|n| r(&n.lines_dropped_queue_full) + r(&n.lines_send_failed))
                .sum::<u64>()
    }

    /// Every counter as (name, value), node counters as
    /// `node.HOST:PORT.name`; `up` (a state, not a count) is left out.
    pub fn counters(&self, ids: &[String]) -> Vec<(String, u64)> {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = Vec::new();
        for (name, c) in [
            ("lines_udp", &self.lines_udp),
            ("lines_tcp", &self.lines_tcp),
            ("packets_udp", &self.packets_udp),
            ("bad_lines", &self.bad_lines),
            ("lines_too_long", &self.lines_too_long),
            ("lines_unroutable", &self.lines_unroutable),
            ("tcp_refused", &self.tcp_refused),
            ("cache_resets", &self.cache_resets),
        ] {
            out.push((name.to_string(), r(c)));
        }
        for (id, n) in ids.iter().zip(&self.nodes) {
            for (name, c) in [
                ("lines_forwarded", &n.lines_forwarded),
                ("packets_sent", &n.packets_sent),
                ("lines_dropped_queue_full", &n.lines_dropped_queue_full),
                ("lines_send_failed", &n.lines_send_failed),
                ("went_down", &n.went_down),
                ("came_up", &n.came_up),
            ] {
                out.push((format!("node.{id}.{name}"), r(c)));
            }
        }
        out
    }

    /// `name: value` lines (the admin `stats` answer), with each node's
    /// `up` state.
    pub fn render(&self, ids: &[String]) -> String {
        let mut out = String::new();
        for (id, n) in ids.iter().zip(&self.nodes) {
            let up = u8::from(n.up.load(Ordering::Relaxed));
            let _ = writeln!(out, "node.{id}.up: {up}");
        }
        for (name, value) in self.counters(ids) {
            let _ = writeln!(out, "{name}: {value}");
        }
        out
    }
}
