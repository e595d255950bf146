//! Shared pieces of the StatsD end-to-end tests: a Graphite capture server,
//! and starting `ferrograph statsd` or Etsy StatsD with a flush to it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::{self, ChildGuard};

/// One line received by the capture server and when it arrived.
#[derive(Clone, Debug)]
pub struct Captured {
    pub at: Instant,
    pub name: String,
    pub value: String,
    pub ts: i64,
}

/// A TCP server standing in for carbon's plaintext port: records every line
/// of every connection.
pub struct Capture {
    pub addr: SocketAddr,
    pub lines: Arc<Mutex<Vec<Captured>>>,
}

impl Capture {
    pub fn start() -> Capture {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind capture");
        let addr = listener.local_addr().expect("capture addr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let sink = sink.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(conn).split(b'\n') {
                        let Ok(line) = line else { return };
                        let text = String::from_utf8_lossy(&line).into_owned();
                        // name may itself contain spaces (keyNameSanitize
                        // off): split the last two fields off.
                        let mut parts = text.rsplitn(3, ' ');
                        let ts = parts.next().unwrap_or("");
                        let value = parts.next().unwrap_or("").to_string();
                        let name = parts.next().unwrap_or("").to_string();
                        sink.lock().unwrap().push(Captured {
                            at: Instant::now(),
                            name,
                            value,
                            ts: ts.parse().unwrap_or(-1),
                        });
                    }
                });
            }
        });
        Capture { addr, lines }
    }

    /// The lines so far, grouped into flushes: a gap of more than `gap`
    /// between two lines starts a new flush.
    pub fn flushes(&self, gap: Duration) -> Vec<Vec<Captured>> {
        let lines = self.lines.lock().unwrap().clone();
        let mut out: Vec<Vec<Captured>> = Vec::new();
        for l in lines {
            match out.last_mut() {
                Some(f) if l.at.duration_since(f.last().unwrap().at) <= gap => f.push(l),
                _ => out.push(vec![l]),
            }
        }
        out
    }

    /// Time of the newest line.
    pub fn last_arrival(&self) -> Option<Instant> {
        self.lines.lock().unwrap().last().map(|l| l.at)
    }
}

/// How packets reach the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Udp,
    /// On the current TCP connection.
    Tcp,
    /// On a new TCP connection (the previous one is closed).
    TcpNew,
}

/// A started daemon under test.
pub struct Daemon {
    pub child: ChildGuard,
    pub udp: SocketAddr,
    pub tcp: Option<SocketAddr>,
    #[allow(dead_code)] // used by the admin console tests
    pub admin: Option<SocketAddr>,
    #[allow(dead_code)] // kept for failure messages
    pub stderr: Arc<Mutex<Vec<String>>>,
}

/// Starts `ferrograph statsd --config DIR/ferrograph.toml` with `toml` as the
/// [statsd] section (udp/tcp/admin on 127.0.0.1:0 unless `toml` sets them),
/// and reads the bound addresses from its log.
pub fn start_ferrograph(dir: &Path, toml: &str) -> Daemon {
    let path = dir.join("ferrograph.toml");
    let mut text = String::from("[statsd]\n");
    for (key, default) in [
        ("udp", "\"127.0.0.1:0\""),
        ("tcp", "\"127.0.0.1:0\""),
        ("admin", "\"127.0.0.1:0\""),
        ("udp_threads", "2"),
    ] {
        if !toml
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{key} ")))
        {
            text.push_str(&format!("{key} = {default}\n"));
        }
    }
    text.push_str(toml);
    std::fs::write(&path, text).expect("write config");
    let child = util::ferrograph()
        .args(["statsd", "--config"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferrograph statsd");
    let mut guard = ChildGuard(child);
    let stderr = guard.0.stderr.take().expect("stderr");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let log2 = log.clone();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if !sent && line.contains("ferrograph statsd listening") {
                let _ = tx.send(line.clone());
                sent = true;
            }
            log2.lock().unwrap().push(line);
        }
    });
    let Ok(ready) = rx.recv_timeout(Duration::from_secs(20)) else {
        panic!(
            "ferrograph statsd did not start; log:\n{}",
            log.lock().unwrap().join("\n")
        );
    };
    let field = |name: &str| -> Option<SocketAddr> {
        let start = ready.find(&format!("{name}="))? + name.len() + 1;
        let rest = &ready[start..];
        let end = rest.find(' ').unwrap_or(rest.len());
        rest[..end].trim_matches('"').parse().ok()
    };
    Daemon {
        udp: field("udp").expect("udp address in the log"),
        tcp: field("tcp"),
        admin: field("admin"),
        child: guard,
        stderr: log,
    }
}

/// Starts Etsy StatsD (node stats.js) with `extra` merged into a config that
/// flushes to `graphite` every `flush_ms`; UDP (and TCP when `tcp`) on free
/// loopback ports. Ready when its admin port accepts.
pub fn start_etsy(
    dir: &Path,
    graphite: SocketAddr,
    flush_ms: u64,
    tcp: bool,
    extra: &serde_json::Value,
) -> Daemon {
    let udp_port = util::free_udp_port();
    let tcp_port = util::free_tcp_port();
    let mgmt_port = util::free_tcp_port();
    let mut cfg = serde_json::json!({
        "port": udp_port,
        "address": "127.0.0.1",
        "mgmt_port": mgmt_port,
        "mgmt_address": "127.0.0.1",
        "backends": ["./backends/graphite"],
        "graphiteHost": "127.0.0.1",
        "graphitePort": graphite.port(),
        "flushInterval": flush_ms,
        "automaticConfigReload": false,
    });
    if tcp {
        cfg["servers"] = serde_json::json!([
            {"server": "./servers/udp", "address": "127.0.0.1", "port": udp_port},
            {"server": "./servers/tcp", "address": "127.0.0.1", "port": tcp_port},
        ]);
    }
    if let (Some(obj), Some(more)) = (cfg.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            obj.insert(k.clone(), v.clone());
        }
    }
    let path = dir.join("statsd-config.js");
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    let log_path = dir.join("statsd.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new("node")
        .arg("stats.js")
        .arg(&path)
        .current_dir(util::ref_statsd_dir())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn node stats.js (is node installed?)");
    let mut guard = ChildGuard(child);
    let mgmt: SocketAddr = format!("127.0.0.1:{mgmt_port}").parse().unwrap();
    let up = util::wait_until(Duration::from_secs(20), || {
        if let Ok(Some(_)) = guard.0.try_wait() {
            return true;
        }
        TcpStream::connect_timeout(&mgmt, Duration::from_millis(200)).is_ok()
    });
    if !up || guard.0.try_wait().ok().flatten().is_some() {
        panic!(
            "Etsy statsd did not start:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
    }
    Daemon {
        child: guard,
        udp: format!("127.0.0.1:{udp_port}").parse().unwrap(),
        tcp: tcp.then(|| format!("127.0.0.1:{tcp_port}").parse().unwrap()),
        admin: Some(mgmt),
        stderr: Arc::new(Mutex::new(Vec::new())),
    }
}

/// Sends packets: UDP datagrams paced a little so a small default receive
/// buffer never overflows; TCP pieces written on one connection in order.
pub fn send(daemon: &Daemon, packets: &[(Via, Vec<u8>)]) {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut tcp: Option<TcpStream> = None;
    for (i, (via, bytes)) in packets.iter().enumerate() {
        match via {
            Via::Udp => {
                udp.send_to(bytes, daemon.udp).unwrap();
                if i % 16 == 15 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Via::Tcp | Via::TcpNew => {
                if *via == Via::TcpNew {
                    tcp = None;
                }
                let conn = tcp.get_or_insert_with(|| {
                    TcpStream::connect(daemon.tcp.expect("a TCP listener")).unwrap()
                });
                conn.write_all(bytes).unwrap();
                conn.flush().unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    // Let the last TCP bytes be read before the connection closes.
    std::thread::sleep(Duration::from_millis(20));
}

/// name -> value of one flush.
pub type Flush = BTreeMap<String, String>;

/// Waits for a first flush, sends `packets`, and returns the `after`
/// flushes that follow the sending (flush 0 holds the packets).
pub fn capture_flushes(
    daemon: &Daemon,
    capture: &Capture,
    packets: &[(Via, Vec<u8>)],
    after: usize,
    flush_ms: u64,
) -> Vec<Flush> {
    let gap = Duration::from_millis(flush_ms / 3);
    let first = util::wait_until(Duration::from_millis(flush_ms * 4 + 5000), || {
        capture.last_arrival().is_some()
    });
    assert!(first, "no first flush arrived");
    // Right after a flush has arrived completely, so the sending lands
    // inside one interval.
    util::wait_until(Duration::from_secs(5), || {
        capture
            .last_arrival()
            .is_some_and(|t| t.elapsed() > Duration::from_millis(30))
    });
    let sent_at = Instant::now();
    send(daemon, packets);
    let done = util::wait_until(
        Duration::from_millis(flush_ms * (after as u64 + 3) + 5000),
        || {
            let n = capture
                .flushes(gap)
                .iter()
                .filter(|f| f[0].at > sent_at)
                .count();
            n > after || (n == after && capture.last_arrival().is_some_and(|t| t.elapsed() > gap))
        },
    );
    assert!(done, "fewer than {after} flushes after sending");
    capture
        .flushes(gap)
        .into_iter()
        .filter(|f| f[0].at > sent_at)
        .take(after)
        .map(|f| f.into_iter().map(|l| (l.name, l.value)).collect())
        .collect()
}

/// Renders flushes as `K name value` lines for messages.
pub fn render(flushes: &[Flush]) -> String {
    let mut out = String::new();
    for (k, f) in flushes.iter().enumerate() {
        for (n, v) in f {
            out.push_str(&format!("{k} {n} {v}\n"));
        }
    }
    out
}
