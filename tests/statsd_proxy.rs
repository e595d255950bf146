//! `ferrograph statsd-proxy` as a process in front of two `ferrograph
//! statsd` nodes (each flushing to its own capture server): every key's
//! count lands on exactly one node with nothing split or lost, over UDP and
//! TCP; bad lines are counted and do not take the packet's good lines with
//! them; a stopped node leaves the ring (its keys go to the other node) and
//! takes its keys back when it returns; SIGTERM stops the proxy cleanly.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Duration;

use crate::util::proxy::Proxy;
use crate::util::statsd::{start_ferrograph, Capture, Daemon};
use crate::util::{ferrograph, free_tcp_port, free_udp_port, wait_until};

/// One node: its fixed ports (so a restart comes back on them) and the
/// capture server its flushes go to.
struct Node {
    udp_port: u16,
    admin_port: u16,
    capture: Capture,
    daemon: Option<Daemon>,
}

impl Node {
    fn start(dir: &Path) -> Node {
        let mut node = Node {
            udp_port: free_udp_port(),
            admin_port: free_tcp_port(),
            capture: Capture::start(),
            daemon: None,
        };
        node.restart(dir);
        node
    }

    fn restart(&mut self, dir: &Path) {
        let toml = format!(
            "udp = \"127.0.0.1:{}\"\ntcp = \"\"\nadmin = \"127.0.0.1:{}\"\n\
             flush_interval = \"1s\"\ndelete_idle_stats = true\ngraphite = \"{}\"\n",
            self.udp_port, self.admin_port, self.capture.addr
        );
        self.daemon = Some(start_ferrograph(dir, &toml));
    }

    fn ports(&self) -> (u16, u16) {
        (self.udp_port, self.admin_port)
    }

    fn stop(&mut self) {
        let mut daemon = self.daemon.take().expect("node running");
        let status = daemon.child.terminate(Duration::from_secs(10));
        assert!(status.is_some_and(|s| s.success()), "node stopped cleanly");
    }

    /// Sum of `stats_counts.KEY` per key for keys starting with `prefix`,
    /// zero flushes left out.
    fn counts(&self, prefix: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for line in self.capture.lines.lock().unwrap().iter() {
            let Some(key) = line.name.strip_prefix("stats_counts.") else {
                continue;
            };
            if !key.starts_with(prefix) {
                continue;
            }
            let v: f64 = line.value.parse().unwrap_or(0.0);
            if v != 0.0 {
                *out.entry(key.to_string()).or_insert(0.0) += v;
            }
        }
        out
    }
}

fn id(n: &Node) -> String {
    format!("127.0.0.1:{}", n.udp_port)
}

/// Sends every key of `keys` `count` times as `KEY:1|c` over UDP, in
/// packets of 20 lines, each packet also carrying two bad lines; returns
/// the number of bad lines sent.
fn send_udp(to: SocketAddr, keys: &[String], count: usize) -> u64 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut bad = 0;
    let lines: Vec<String> = (0..count)
        .flat_map(|_| keys.iter().map(|k| format!("{k}:1|c")))
        .collect();
    for (i, chunk) in lines.chunks(20).enumerate() {
        let mut packet = chunk.join("\n");
        packet.push_str("\nno_colon_here\nbad.value:abc|c");
        bad += 2;
        socket.send_to(packet.as_bytes(), to).unwrap();
        if i % 8 == 7 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    bad
}

/// Sends every key `count` times as `KEY:2|c` on one TCP connection.
fn send_tcp(to: SocketAddr, keys: &[String], count: usize) {
    let mut conn = TcpStream::connect(to).unwrap();
    for _ in 0..count {
        let text: String = keys.iter().map(|k| format!("{k}:2|c\n")).collect();
        conn.write_all(text.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    conn.flush().unwrap();
}

/// Waits until the two nodes together hold `total` for `prefix`'s keys.
fn wait_total(nodes: &[&Node], prefix: &str, total: f64) -> Vec<BTreeMap<String, f64>> {
    let mut last = Vec::new();
    let reached = wait_until(Duration::from_secs(30), || {
        last = nodes.iter().map(|n| n.counts(prefix)).collect();
        last.iter().flat_map(|m| m.values()).sum::<f64>() >= total
    });
    // One more flush interval, so a late duplicate would show.
    std::thread::sleep(Duration::from_millis(1500));
    let now: Vec<_> = nodes.iter().map(|n| n.counts(prefix)).collect();
    let sum: f64 = now.iter().flat_map(|m| m.values()).sum();
    assert!(
        reached && sum == total,
        "expected {total} for {prefix}*, got {sum}: {last:?}"
    );
    now
}

/// For each key, the one node holding it and its count; panics when a key
/// is split across nodes.
fn placement(per_node: &[BTreeMap<String, f64>]) -> BTreeMap<String, (usize, f64)> {
    let mut out = BTreeMap::new();
    for (node, counts) in per_node.iter().enumerate() {
        for (key, v) in counts {
            if let Some((other, _)) = out.insert(key.clone(), (node, *v)) {
                panic!("{key} was aggregated on node {other} and on node {node}");
            }
        }
    }
    out
}

#[test]
fn each_key_is_counted_on_exactly_one_node_udp_and_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let (da, db, dp) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("p"),
    );
    for d in [&da, &db, &dp] {
        std::fs::create_dir_all(d).unwrap();
    }
    let a = Node::start(&da);
    let b = Node::start(&db);
    let mut proxy = Proxy::start(&dp, &[a.ports(), b.ports()]);
    assert!(wait_until(Duration::from_secs(10), || proxy.ring().len() == 2));

    let keys: Vec<String> = (0..500).map(|i| format!("px.k{i}")).collect();
    // Per key: 3 × 1 over UDP + 2 × 2 over TCP = 7.
    let bad = send_udp(proxy.udp, &keys, 3);
    send_tcp(proxy.tcp, &keys, 2);
    let per_node = wait_total(&[&a, &b], "px.", 7.0 * keys.len() as f64);
    let placed = placement(&per_node);
    assert_eq!(placed.len(), keys.len(), "every key arrived");
    for (key, (_, v)) in &placed {
        assert_eq!(*v, 7.0, "{key}: count split or lost");
    }
    let on_a = placed.values().filter(|(n, _)| *n == 0).count();
    assert!(
        on_a > 100 && on_a < 400,
        "both nodes take a share of 500 keys, node a has {on_a}"
    );

    let stats = proxy.stats();
    assert_eq!(stats["bad_lines"], bad, "{stats:?}");
    assert_eq!(stats["lines_udp"], 3 * 500 + bad, "{stats:?}");
    assert_eq!(stats["lines_tcp"], 2 * 500, "{stats:?}");
    let forwarded = stats[&format!("node.{}.lines_forwarded", id(&a))]
        + stats[&format!("node.{}.lines_forwarded", id(&b))];
    assert_eq!(forwarded, 5 * 500, "{stats:?}");
    // Batching: far fewer packets than lines.
    let packets = stats[&format!("node.{}.packets_sent", id(&a))]
        + stats[&format!("node.{}.packets_sent", id(&b))];
    assert!(
        packets < forwarded / 4,
        "{packets} packets for {forwarded} lines"
    );

    let status = proxy.child.terminate(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "proxy stops cleanly on SIGTERM: {:?}",
        proxy.log.lock().unwrap()
    );
    let log = proxy.log.lock().unwrap().join("\n");
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn a_stopped_node_leaves_the_ring_and_takes_its_keys_back() {
    let dir = tempfile::tempdir().unwrap();
    let (da, db, dp) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("p"),
    );
    for d in [&da, &db, &dp] {
        std::fs::create_dir_all(d).unwrap();
    }
    let a = Node::start(&da);
    let mut b = Node::start(&db);
    let proxy = Proxy::start(&dp, &[a.ports(), b.ports()]);
    assert!(wait_until(Duration::from_secs(10), || proxy.ring().len() == 2));
    let keys: Vec<String> = (0..200).map(|i| format!("rr.k{i}")).collect();

    // Round 1, both up: the reference placement.
    send_udp(proxy.udp, &keys, 1);
    let before = placement(&wait_total(&[&a, &b], "rr.", 200.0));
    assert!(
        before.values().any(|(n, _)| *n == 1),
        "node b owns some keys"
    );

    // Node b stops: after a health check it is off the ring and every
    // key goes to a.
    b.stop();
    assert!(
        wait_until(Duration::from_secs(10), || proxy.ring() == vec![id(&a)]),
        "node b left the ring: {:?}",
        proxy.ring()
    );
    let a_before: f64 = a.counts("rr.").values().sum();
    send_udp(proxy.udp, &keys, 1);
    assert!(
        wait_until(Duration::from_secs(30), || a
            .counts("rr.")
            .values()
            .sum::<f64>()
            == a_before + 200.0),
        "all 200 lines rerouted to node a"
    );
    let stats = proxy.stats();
    assert_eq!(stats[&format!("node.{}.went_down", id(&b))], 1, "{stats:?}");
    assert_eq!(stats[&format!("node.{}.up", id(&b))], 0, "{stats:?}");
    let log = proxy.log.lock().unwrap().join("\n");
    assert_eq!(
        log.matches("node down").count(),
        1,
        "one log line per change:\n{log}"
    );

    // Node b returns: back on the ring, and its keys go back to it.
    b.restart(&db);
    assert!(
        wait_until(Duration::from_secs(10), || proxy.ring().len() == 2),
        "node b rejoined the ring"
    );
    let a_mid = a.counts("rr.");
    let b_mid = b.counts("rr.");
    send_udp(proxy.udp, &keys, 1);
    let total_mid: f64 = a_mid.values().chain(b_mid.values()).sum();
    wait_total(&[&a, &b], "rr.", total_mid + 200.0);
    let (a_end, b_end) = (a.counts("rr."), b.counts("rr."));
    for (key, (node, _)) in &before {
        let delta = |end: &BTreeMap<String, f64>, mid: &BTreeMap<String, f64>| {
            end.get(key).copied().unwrap_or(0.0) - mid.get(key).copied().unwrap_or(0.0)
        };
        let (da_, db_) = (delta(&a_end, &a_mid), delta(&b_end, &b_mid));
        let expected = if *node == 0 { (1.0, 0.0) } else { (0.0, 1.0) };
        assert_eq!((da_, db_), expected, "{key} went back to node {node}");
    }
    let stats = proxy.stats();
    assert_eq!(stats[&format!("node.{}.came_up", id(&b))], 1, "{stats:?}");
}

#[test]
fn check_config_names_the_bad_node_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy.toml");
    let node = "[[statsd_proxy.nodes]]\nhost = \"127.0.0.1\"\nport = 8127\nadminport = 8128\n";
    std::fs::write(&path, format!("[statsd_proxy]\n{node}{node}")).unwrap();
    let out = ferrograph()
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(
            "proxy.toml: [statsd_proxy] nodes[1].port = 8127: node 127.0.0.1:8127 is listed twice"
        ),
        "{stderr}"
    );
    // A file without the section does not need nodes.
    std::fs::write(&path, "[statsd]\nflush_interval = \"1s\"\n").unwrap();
    let out = ferrograph()
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn sigterm_forwards_what_was_sent_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (da, db, dp) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("p"),
    );
    for d in [&da, &db, &dp] {
        std::fs::create_dir_all(d).unwrap();
    }
    let a = Node::start(&da);
    let b = Node::start(&db);
    // Self-metrics on: the proxy's counters reach the nodes as counters.
    let mut proxy = Proxy::start_with(
        &dp,
        &[a.ports(), b.ports()],
        "self_metrics_prefix = \"pxself\"\nself_metrics_interval = \"300ms\"\n",
    );
    assert!(wait_until(Duration::from_secs(10), || proxy.ring().len() == 2));
    let keys: Vec<String> = (0..300).map(|i| format!("st.k{i}")).collect();
    // TCP first (written to the kernel, maybe not yet read), then UDP,
    // then SIGTERM at once: every line must still reach its node.
    let mut conn = TcpStream::connect(proxy.tcp).unwrap();
    let text: String = keys.iter().map(|k| format!("{k}:2|c\n")).collect();
    conn.write_all(text.as_bytes()).unwrap();
    let bad = send_udp(proxy.udp, &keys, 1);
    let status = proxy.child.terminate(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "{:?}",
        proxy.log.lock().unwrap()
    );
    drop(conn);
    let placed = placement(&wait_total(&[&a, &b], "st.", 3.0 * keys.len() as f64));
    assert!(placed.values().all(|(_, v)| *v == 3.0), "{placed:?}");
    // The last self-metrics deltas were sent at SIGTERM: received counts
    // are complete.
    let mut own: BTreeMap<String, f64> = BTreeMap::new();
    for per_node in [a.counts("pxself."), b.counts("pxself.")] {
        for (k, v) in per_node {
            *own.entry(k).or_insert(0.0) += v;
        }
    }
    assert_eq!(
        own.get("pxself.lines_udp"),
        Some(&(300.0 + bad as f64)),
        "{own:?}"
    );
    assert_eq!(own.get("pxself.lines_tcp"), Some(&300.0), "{own:?}");
    assert_eq!(own.get("pxself.bad_lines"), Some(&(bad as f64)), "{own:?}");
    let node_key = format!("pxself.node.127_0_0_1_{}.lines_forwarded", a.udp_port);
    assert!(own.contains_key(&node_key), "{node_key} in {own:?}");
}
