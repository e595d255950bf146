//! The StatsD end-to-end harness: a Graphite capture server, starting
//! `ferrograph statsd` with a flush to it (Etsy StatsD is started by
//! `refs::start_etsy`), sending packets, grouping what arrives into flushes,
//! and the differential runner that sends one run's cases to both daemons
//! and compares every flushed line.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::refs::start_etsy;
use super::{ferrograph, mismatch, wait_until, ChildGuard};

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
    let child = ferrograph()
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
    let first = wait_until(Duration::from_millis(flush_ms * 4 + 5000), || {
        capture.last_arrival().is_some()
    });
    assert!(first, "no first flush arrived");
    // Right after a flush has arrived completely, so the sending lands
    // inside one interval.
    wait_until(Duration::from_secs(5), || {
        capture
            .last_arrival()
            .is_some_and(|t| t.elapsed() > Duration::from_millis(30))
    });
    let sent_at = Instant::now();
    send(daemon, packets);
    let done = wait_until(
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

/// Time between two flushes of both daemons in the differential runs.
pub const FLUSH_MS: u64 = 1000;

/// One named case: its packets.
pub struct Case {
    pub name: &'static str,
    pub packets: Vec<(Via, Vec<u8>)>,
}

/// A case of UDP datagrams.
pub fn udp(name: &'static str, datagrams: &[&[u8]]) -> Case {
    Case {
        name,
        packets: datagrams.iter().map(|d| (Via::Udp, d.to_vec())).collect(),
    }
}

/// A case of writes on one new TCP connection.
pub fn tcp(name: &'static str, chunks: &[&[u8]]) -> Case {
    Case {
        name,
        packets: chunks
            .iter()
            .enumerate()
            .map(|(i, d)| (if i == 0 { Via::TcpNew } else { Via::Tcp }, d.to_vec()))
            .collect(),
    }
}

/// A case of UDP datagrams built at run time.
pub fn owned(name: &'static str, datagrams: Vec<String>) -> Case {
    Case {
        name,
        packets: datagrams
            .into_iter()
            .map(|d| (Via::Udp, d.into_bytes()))
            .collect(),
    }
}

/// One configuration (the same on both daemons) and the cases sent to it.
pub struct Run {
    pub name: &'static str,
    /// Etsy StatsD's config keys.
    pub etsy: serde_json::Value,
    /// The same configuration as ferrograph's [statsd] keys.
    pub toml: String,
    /// Whether Etsy StatsD also listens on TCP.
    pub tcp: bool,
    /// How many flushes after the sending are compared.
    pub flushes: usize,
    pub cases: Vec<Case>,
    /// The self-metric that counts received lines (proves the packets
    /// landed in flush 0).
    pub received_key: &'static str,
}

impl Run {
    /// A run of the default legacy configuration plus `toml`, flushed once,
    /// for ferrograph alone (its cases differ from Etsy StatsD on purpose).
    pub fn ferrograph_only(name: &'static str, toml: &str, cases: Vec<Case>) -> Run {
        Run {
            name,
            etsy: serde_json::json!({}),
            toml: toml.to_string(),
            tcp: false,
            flushes: 1,
            cases,
            received_key: "stats_counts.statsd.metrics_received",
        }
    }
}

/// Lines (non-empty, after splitting on \n) in a list of packets, as the
/// reference counts `metrics_received`.
fn line_count(packets: &[(Via, Vec<u8>)]) -> usize {
    let mut tcp_text = Vec::new();
    let mut n = 0;
    for (via, bytes) in packets {
        match via {
            Via::Udp => {
                n += bytes
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count()
            }
            Via::Tcp | Via::TcpNew => tcp_text.extend_from_slice(bytes),
        }
    }
    n + tcp_text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
}

/// Self-metrics whose values depend on timing; their names still count.
fn volatile(name: &str) -> bool {
    name.contains("graphiteStats.")
        || name.contains("processing_time")
        || name.contains("timestamp_lag")
}

fn normalise(flushes: &[Flush]) -> Vec<Flush> {
    flushes
        .iter()
        .map(|f| {
            f.iter()
                .map(|(n, v)| {
                    let v = if volatile(n) {
                        "*".to_string()
                    } else {
                        v.clone()
                    };
                    (n.clone(), v)
                })
                .collect()
        })
        .collect()
}

/// Sends every case of `run` to a daemon `start` starts and returns the
/// run's flushes.
fn run_one(run: &Run, start: impl Fn(&Path, &Capture) -> Daemon) -> Vec<Flush> {
    let packets: Vec<(Via, Vec<u8>)> = run
        .cases
        .iter()
        .flat_map(|c| c.packets.iter().cloned())
        .collect();
    let expected_lines = line_count(&packets).to_string();
    let mut last = Vec::new();
    // A run is retried once if the sending straddled a flush boundary.
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let capture = Capture::start();
        let mut daemon = start(dir.path(), &capture);
        let flushes = capture_flushes(&daemon, &capture, &packets, run.flushes, FLUSH_MS);
        daemon.child.terminate(Duration::from_secs(5));
        let received = flushes[0]
            .get(run.received_key)
            .cloned()
            .unwrap_or_default();
        if received == expected_lines {
            return flushes;
        }
        eprintln!(
            "run {}: flush 0 saw {received} lines of {expected_lines}; retrying",
            run.name
        );
        last = flushes;
    }
    panic!(
        "run {}: the packets never landed in one flush:\n{}",
        run.name,
        render(&last)
    );
}

/// Runs `run` against `ferrograph statsd` alone.
fn run_ferrograph(run: &Run) -> Vec<Flush> {
    run_one(run, |dir, cap| {
        start_ferrograph(
            dir,
            &format!(
                "flush_interval = \"{FLUSH_MS}ms\"\ngraphite = \"{}\"\n{}\n",
                cap.addr, run.toml
            ),
        )
    })
}

fn run_etsy(run: &Run) -> Vec<Flush> {
    run_one(run, |dir, cap| {
        start_etsy(dir, cap.addr, FLUSH_MS, run.tcp, &run.etsy)
    })
}

fn compare(run: &Run, etsy: &[Flush], ours: &[Flush]) -> Result<(), String> {
    let (etsy, ours) = (normalise(etsy), normalise(ours));
    if etsy == ours {
        return Ok(());
    }
    // Only the differing lines, for a readable message.
    let mut want = String::new();
    let mut got = String::new();
    for k in 0..etsy.len().max(ours.len()) {
        let empty = BTreeMap::new();
        let e = etsy.get(k).unwrap_or(&empty);
        let o = ours.get(k).unwrap_or(&empty);
        for (n, v) in e {
            if o.get(n) != Some(v) {
                want.push_str(&format!("{k} {n} {v}\n"));
            }
        }
        for (n, v) in o {
            if e.get(n) != Some(v) {
                got.push_str(&format!("{k} {n} {v}\n"));
            }
        }
    }
    let cases: Vec<&str> = run.cases.iter().map(|c| c.name).collect();
    Err(mismatch(
        &format!(
            "run {} (cases: {}): ferrograph differs from Etsy StatsD (only differing lines shown; K name value)",
            run.name,
            cases.join(", ")
        ),
        &want,
        &got,
    ))
}

/// Runs every run on Etsy StatsD and on ferrograph, all in parallel, and
/// returns one report per run whose flushes differ.
pub fn differences_from_etsy(runs: &[Run]) -> Vec<String> {
    std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .map(|run| {
                s.spawn(move || {
                    let (etsy, ours) = std::thread::scope(|s2| {
                        let e = s2.spawn(|| run_etsy(run));
                        let o = s2.spawn(|| run_ferrograph(run));
                        (e.join().unwrap(), o.join().unwrap())
                    });
                    compare(run, &etsy, &ours)
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap().err())
            .collect()
    })
}

/// Runs `run` against ferrograph alone and asserts that the lines of its
/// first flush that `keep` selects are exactly `want` (name, value).
pub fn assert_first_flush(
    run: &Run,
    what: &str,
    keep: impl Fn(&str) -> bool,
    want: &[(&str, &str)],
) {
    let flushes = run_ferrograph(run);
    let got: Flush = flushes[0]
        .iter()
        .filter(|(n, _)| keep(n))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let want: Flush = want
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert!(
        got == want,
        "{}",
        mismatch(
            what,
            &render(std::slice::from_ref(&want)),
            &render(std::slice::from_ref(&got))
        )
    );
}
