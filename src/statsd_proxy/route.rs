//! From lines to node queues: the ring shared by every receiving thread,
//! and each thread's [`Dispatcher`] (key → node cache, one packet being
//! filled per node).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use aggregator::statsd::{parse_line, ParseOptions};
use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::config::{ProxySettings, RouteKey, MAX_DATAGRAM};
use super::ring::Ring;
use super::stats::Stats;

/// A datagram's worth of whole lines for one node.
#[derive(Debug)]
pub struct Packet {
    /// Lines joined by `\n`.
    pub bytes: Vec<u8>,
    /// How many lines (for the counters).
    pub lines: u32,
}

/// State every thread of the proxy shares.
pub struct Shared {
    /// The validated configuration.
    pub settings: ProxySettings,
    /// The counters.
    pub stats: Stats,
    /// `host:port` of each node, configured order.
    pub ids: Vec<String>,
    ring: RwLock<Arc<Ring>>,
    /// Bumped on every ring change; dispatchers reload when it moves.
    generation: AtomicU64,
    /// Node health that the ring was built from.
    health: Mutex<Vec<bool>>,
    queues: Vec<Sender<Packet>>,
    /// Set at SIGTERM: receivers stop reading.
    pub stop: AtomicBool,
    /// Set once every receiver has stopped: node senders exit when their
    /// queue is empty.
    pub draining: AtomicBool,
    /// When the proxy started (admin `status` uptime).
    pub started: std::time::Instant,
}

impl Shared {
    /// Builds the shared state and returns each node's queue receiver.
    pub fn new(settings: ProxySettings) -> (Arc<Shared>, Vec<Receiver<Packet>>) {
        let ids: Vec<String> = settings.nodes.iter().map(|n| n.id.clone()).collect();
        let (queues, receivers): (Vec<_>, Vec<_>) = ids
            .iter()
            .map(|_| crossbeam_channel::bounded(settings.queue_packets))
            .unzip();
        let health = vec![true; ids.len()];
        let shared = Shared {
            stats: Stats::new(ids.len()),
            ring: RwLock::new(Arc::new(build_ring(&ids, &health))),
            generation: AtomicU64::new(0),
            health: Mutex::new(health),
            queues,
            stop: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            started: std::time::Instant::now(),
            ids,
            settings,
        };
        (Arc::new(shared), receivers)
    }

    /// The current ring.
    pub fn ring(&self) -> Arc<Ring> {
        match self.ring.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Records a health check result; on a change rebuilds the ring (the
    /// node leaves or rejoins it, as proxy.js's `ring.remove`/`ring.add`)
    /// and returns true.
    pub fn set_health(&self, node: usize, up: bool) -> bool {
        let mut health = match self.health.lock() {
            Ok(h) => h,
            Err(poisoned) => poisoned.into_inner(),
        };
        if health[node] == up {
            return false;
        }
        health[node] = up;
        let ring = Arc::new(build_ring(&self.ids, &health));
        match self.ring.write() {
            Ok(mut r) => *r = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
        self.generation.fetch_add(1, Ordering::Release);
        let s = &self.stats.nodes[node];
        s.up.store(up, Ordering::Relaxed);
        if up {
            s.came_up.fetch_add(1, Ordering::Relaxed);
        } else {
            s.went_down.fetch_add(1, Ordering::Relaxed);
        }
        true
    }
}

fn build_ring(ids: &[String], health: &[bool]) -> Ring {
    let members: Vec<(u16, &str)> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| health[*i])
        .map(|(i, id)| (i as u16, id.as_str()))
        .collect();
    Ring::new(&members)
}

/// One receiving thread's router: validates lines, picks their node and
/// fills one packet per node, handing full packets to the node's queue.
pub struct Dispatcher {
    shared: Arc<Shared>,
    ring: Arc<Ring>,
    generation: u64,
    cache: HashMap<Vec<u8>, u16>,
    batches: Vec<Vec<u8>>,
    batch_lines: Vec<u32>,
    options: ParseOptions,
}

impl Dispatcher {
    /// A router over `shared`'s ring.
    pub fn new(shared: Arc<Shared>) -> Dispatcher {
        let n = shared.ids.len();
        Dispatcher {
            ring: shared.ring(),
            generation: shared.generation.load(Ordering::Acquire),
            cache: HashMap::new(),
            batches: vec![Vec::new(); n],
            batch_lines: vec![0; n],
            // The most merging reading: keys nodes may merge must meet.
            options: ParseOptions {
                sanitize: true,
                hd_as_timers: false,
                canonicalize_tags: true,
            },
            shared,
        }
    }

    /// Picks up a ring change (call before each packet or chunk).
    pub fn refresh(&mut self) {
        let now = self.shared.generation.load(Ordering::Acquire);
        if now != self.generation {
            self.generation = now;
            self.ring = self.shared.ring();
            if !self.cache.is_empty() {
                self.cache.clear();
                self.shared
                    .stats
                    .cache_resets
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Splits `data` on `\n` and routes every non-empty line; returns the
    /// number of lines seen.
    pub fn lines(&mut self, data: &[u8]) -> u64 {
        let mut seen = 0;
        for line in data.split(|b| *b == b'\n') {
            if !line.is_empty() {
                seen += 1;
                self.line(line);
            }
        }
        seen
    }

    /// Routes one non-empty line.
    pub fn line(&mut self, line: &[u8]) {
        let stats = &self.shared.stats;
        if line.len() > MAX_DATAGRAM {
            stats.lines_too_long.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // A line no node could use is refused here, counted, and the
        // packet's other lines go on.
        let Ok(text) = std::str::from_utf8(line) else {
            stats.bad_lines.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let parsed = parse_line(text, &self.options);
        if !parsed.samples().any(|s| s.is_ok()) {
            stats.bad_lines.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let key: &[u8] = match self.shared.settings.route_key {
            // proxy.js: `metric.split(':').shift()`.
            RouteKey::Name => text.split_once(':').map_or(line, |(k, _)| k.as_bytes()),
            RouteKey::Aggregated => parsed.key.as_bytes(),
        };
        let node = match self.cache.get(key) {
            Some(node) => *node,
            None => {
                let Some(node) = self.ring.get(key) else {
                    stats.lines_unroutable.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                let limit = self.shared.settings.cache_size;
                if limit > 0 {
                    if self.cache.len() >= limit {
                        self.cache.clear();
                        stats.cache_resets.fetch_add(1, Ordering::Relaxed);
                    }
                    self.cache.insert(key.to_vec(), node);
                }
                node
            }
        };
        let node = usize::from(node);
        let max = self.shared.settings.max_packet_size;
        let batch = &self.batches[node];
        if !batch.is_empty() && batch.len() + 1 + line.len() > max {
            self.push(node);
        }
        let batch = &mut self.batches[node];
        if !batch.is_empty() {
            batch.push(b'\n');
        } else {
            batch.reserve(max.max(line.len()));
        }
        batch.extend_from_slice(line);
        self.batch_lines[node] += 1;
    }

    /// Hands every partly filled packet to its node's queue (end of an
    /// input datagram or chunk: nothing waits in a receiver).
    pub fn flush(&mut self) {
        for node in 0..self.batches.len() {
            if !self.batches[node].is_empty() {
                self.push(node);
            }
        }
    }

    fn push(&mut self, node: usize) {
        let packet = Packet {
            bytes: std::mem::take(&mut self.batches[node]),
            lines: std::mem::take(&mut self.batch_lines[node]),
        };
        match self.shared.queues[node].try_send(packet) {
            Ok(()) => {}
            Err(TrySendError::Full(p)) | Err(TrySendError::Disconnected(p)) => {
                self.shared.stats.nodes[node]
                    .lines_dropped_queue_full
                    .fetch_add(u64::from(p.lines), Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statsd_proxy::config::{RawNode, RawProxyConfig};

    fn shared(route_key: &str, max_packet_size: usize) -> (Arc<Shared>, Vec<Receiver<Packet>>) {
        let raw = RawProxyConfig {
            nodes: (0..2)
                .map(|i| RawNode {
                    host: "127.0.0.1".into(),
                    port: 8127 + 2 * i,
                    adminport: 8128 + 2 * i,
                })
                .collect(),
            route_key: route_key.into(),
            max_packet_size,
            queue_packets: 4,
            ..RawProxyConfig::default()
        };
        Shared::new(raw.validate().expect("valid"))
    }

    /// Every line received per node, in order.
    fn drained(queues: &[Receiver<Packet>]) -> Vec<Vec<String>> {
        queues
            .iter()
            .map(|q| {
                q.try_iter()
                    .flat_map(|p| {
                        let text = String::from_utf8(p.bytes).unwrap();
                        assert_eq!(text.split('\n').count() as u32, p.lines);
                        text.split('\n').map(str::to_string).collect::<Vec<_>>()
                    })
                    .collect()
            })
            .collect()
    }

    fn node_of(per_node: &[Vec<String>], line: &str) -> usize {
        let found: Vec<usize> = (0..per_node.len())
            .filter(|n| per_node[*n].iter().any(|l| l == line))
            .collect();
        assert_eq!(found.len(), 1, "{line} on nodes {found:?}");
        found[0]
    }

    #[test]
    fn bad_lines_are_counted_and_the_rest_of_the_packet_goes_on() {
        let (shared, queues) = shared("name", 1432);
        let mut d = Dispatcher::new(shared.clone());
        let seen = d.lines(b"a:1|c\nno_colon\n\nb:x|c\nc:2|ms\n\xff\xfe:1|c\nd:1|c:2|c");
        d.flush();
        assert_eq!(seen, 6);
        assert_eq!(shared.stats.bad_lines.load(Ordering::Relaxed), 3);
        let per_node = drained(&queues);
        let mut all: Vec<&String> = per_node.iter().flatten().collect();
        all.sort();
        assert_eq!(all, ["a:1|c", "c:2|ms", "d:1|c:2|c"]);
    }

    #[test]
    fn name_routing_keeps_dogstatsd_tags_with_their_name() {
        let (shared, queues) = shared("name", 1432);
        let mut d = Dispatcher::new(shared);
        let mut lines = Vec::new();
        for i in 0..200 {
            lines.push(format!("k{i}:1|c"));
            lines.push(format!("k{i}:1|c|#env:prod"));
        }
        d.lines(lines.join("\n").as_bytes());
        d.flush();
        let per_node = drained(&queues[..]);
        for i in 0..200 {
            assert_eq!(
                node_of(&per_node, &format!("k{i}:1|c")),
                node_of(&per_node, &format!("k{i}:1|c|#env:prod"))
            );
        }
    }

    #[test]
    fn aggregated_routing_joins_spellings_nodes_merge() {
        let (shared, queues) = shared("aggregated", 65_507);
        let mut d = Dispatcher::new(shared);
        let mut lines = Vec::new();
        for i in 0..100 {
            lines.push(format!("m{i};b=2;a=1:1|c"));
            lines.push(format!("m{i};a=1;b=2:1|c"));
            lines.push(format!("n {i}:1|c"));
            lines.push(format!("n_{i}:1|c"));
        }
        d.lines(lines.join("\n").as_bytes());
        d.flush();
        let per_node = drained(&queues[..]);
        for i in 0..100 {
            let a = node_of(&per_node, &format!("m{i};b=2;a=1:1|c"));
            assert_eq!(a, node_of(&per_node, &format!("m{i};a=1;b=2:1|c")));
            let b = node_of(&per_node, &format!("n {i}:1|c"));
            assert_eq!(b, node_of(&per_node, &format!("n_{i}:1|c")));
        }
    }

    #[test]
    fn packets_stay_within_max_size_and_full_queues_count_drops() {
        let (shared, queues) = shared("name", 100);
        let mut d = Dispatcher::new(shared.clone());
        let lines: Vec<String> = (0..400).map(|i| format!("key.number.{i}:1|c")).collect();
        d.lines(lines.join("\n").as_bytes());
        d.flush();
        let mut kept = 0u64;
        for q in &queues {
            for p in q.try_iter() {
                assert!(p.bytes.len() <= 100, "{} bytes", p.bytes.len());
                kept += u64::from(p.lines);
            }
        }
        let dropped: u64 = shared
            .stats
            .nodes
            .iter()
            .map(|n| n.lines_dropped_queue_full.load(Ordering::Relaxed))
            .sum();
        // Queues hold 4 packets each: most of the 400 lines were dropped,
        // and every line is either queued or counted.
        assert!(dropped > 0);
        assert_eq!(kept + dropped, 400);
    }

    #[test]
    fn a_node_that_goes_down_leaves_the_ring_and_returns() {
        let (shared, queues) = shared("name", 1432);
        let mut d = Dispatcher::new(shared.clone());
        assert!(shared.set_health(1, false));
        assert!(!shared.set_health(1, false), "no change, no rebuild");
        d.refresh();
        d.lines(b"a:1|c\nb:1|c\nc:1|c\nd:1|c\ne:1|c");
        d.flush();
        let per_node = drained(&queues);
        assert_eq!(per_node[0].len(), 5);
        assert!(shared.set_health(0, false));
        d.refresh();
        d.lines(b"a:1|c");
        assert_eq!(shared.stats.lines_unroutable.load(Ordering::Relaxed), 1);
        assert!(shared.set_health(1, true));
        d.refresh();
        d.lines(b"a:1|c");
        d.flush();
        assert_eq!(drained(&queues)[1], ["a:1|c"]);
        assert_eq!(shared.stats.nodes[1].went_down.load(Ordering::Relaxed), 1);
        assert_eq!(shared.stats.nodes[1].came_up.load(Ordering::Relaxed), 1);
    }
}
