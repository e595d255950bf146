//! carbon's flow control: with the writers held and a small cache, TCP
//! senders (plaintext and pickle) are paused instead of dropped, and every
//! point arrives once the writers resume; they leave 5 % of the cache to
//! producers that cannot wait; UDP, which cannot push back, and TCP with
//! `flow_control = false` still refuse and count once that is full too.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use storage::carbon::{CarbonConfig, Receivers};
use storage::Read as _;
use storage::{FetchRange, ReadLimits, Store, StoreSettings, WhisperTree};

const CACHE: usize = 500;
/// What flow-controlled senders may fill: 95 %.
const FLOW_LIMIT: usize = 475;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stat(stats: &[(String, f64)], key: &str) -> f64 {
    stats
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no counter {key}"))
}

fn config(flow_control: bool) -> CarbonConfig {
    CarbonConfig {
        plaintext: "127.0.0.1:0".into(),
        pickle: "127.0.0.1:0".into(),
        udp: "127.0.0.1:0".into(),
        max_pickle_length: 1 << 20,
        flow_control,
        ..CarbonConfig::default()
    }
}

/// One pickle message (protocol 2) with `points`, length-prefixed.
fn pickle_frame(points: &[(String, i64, f64)]) -> Vec<u8> {
    let mut p = vec![0x80, 2, b']', b'('];
    for (name, ts, value) in points {
        p.push(b'X');
        p.extend_from_slice(&(name.len() as u32).to_le_bytes());
        p.extend_from_slice(name.as_bytes());
        p.push(b'J');
        p.extend_from_slice(&(*ts as i32).to_le_bytes());
        p.push(b'G');
        p.extend_from_slice(&value.to_be_bytes());
        p.extend_from_slice(&[0x86, 0x86]);
    }
    p.extend_from_slice(b"e.");
    let mut frame = (p.len() as u32).to_be_bytes().to_vec();
    frame.extend(p);
    frame
}

/// `(name, timestamp, value)` for `metrics` metrics × `per_metric` minutes.
fn series(prefix: &str, metrics: usize, per_metric: i64, base: i64) -> Vec<(String, i64, f64)> {
    (0..metrics)
        .flat_map(|m| {
            (0..per_metric).map(move |k| {
                (
                    format!("{prefix}.m{m}"),
                    base + k * 60,
                    (m * 1000) as f64 + k as f64,
                )
            })
        })
        .collect()
}

fn send_plaintext(addr: SocketAddr, points: Vec<(String, i64, f64)>) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut text = String::new();
    for (n, t, v) in &points {
        text.push_str(&format!("{n} {v} {t}\n"));
    }
    // blocks once the receiver stops reading and the kernel buffers fill
    s.write_all(text.as_bytes()).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
}

fn send_pickle(addr: SocketAddr, points: Vec<(String, i64, f64)>) {
    let mut s = TcpStream::connect(addr).unwrap();
    for chunk in points.chunks(50) {
        s.write_all(&pickle_frame(chunk)).unwrap();
    }
    s.shutdown(std::net::Shutdown::Write).unwrap();
}

#[test]
fn tcp_senders_wait_while_the_cache_is_full_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = StoreSettings::new(dir.path());
    settings.self_metrics = None;
    settings.allocation = storage::whisper::Allocation::Sparse;
    settings.max_cache_points = CACHE;
    settings.max_creates_per_second = None;
    let store = Store::open(settings).unwrap();
    store.pause_writers(true);
    let flowing = Receivers::start_with_backpressure(
        &config(true),
        store.ingest_handle(),
        store.backpressure_handle(),
    )
    .unwrap();
    let dropping = Receivers::start_with_backpressure(
        &config(false),
        store.ingest_handle(),
        store.backpressure_handle(),
    )
    .unwrap();
    let addrs = flowing.local_addrs();

    let base = now() - now() % 60 - 3600;
    let plain = series("flow.plain", 150, 20, base);
    let pickled = series("flow.pickle", 100, 20, base);
    let sent = plain.len() + pickled.len();
    assert!(sent > 5 * CACHE);
    let senders = [
        std::thread::spawn({
            let (a, p) = (addrs.plaintext.unwrap(), plain.clone());
            move || send_plaintext(a, p)
        }),
        std::thread::spawn({
            let (a, p) = (addrs.pickle.unwrap(), pickled.clone());
            move || send_pickle(a, p)
        }),
    ];

    // the cache fills and the TCP receivers pause; a receiver counts what
    // the cache took just after its offer returns, so wait for that too
    wait_until("a full cache and paused receivers", || {
        let s = flowing.stats();
        store.cache_size() == FLOW_LIMIT
            && stat(&s, "receivers.flowControlPauses") >= 1.0
            && stat(&s, "receivers.points") == FLOW_LIMIT as f64
    });
    let taken = stat(&flowing.stats(), "receivers.points");
    assert_eq!(taken, FLOW_LIMIT as f64, "points taken by a full cache");
    assert_eq!(stat(&flowing.stats(), "receivers.overflow"), 0.0);

    // UDP cannot push back: it gets the headroom, then is refused and counted
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let lines: String = (0..CACHE - FLOW_LIMIT + 3)
        .map(|i| format!("udp.m{i} {i} {base}\n"))
        .collect();
    udp.send_to(lines.as_bytes(), addrs.udp.unwrap()).unwrap();
    wait_until("UDP overflow counted", || {
        stat(&flowing.stats(), "receivers.overflow") == 3.0
    });
    assert_eq!(store.cache_size(), CACHE);
    // flow_control = false: TCP refuses and counts as before
    send_plaintext(
        dropping.local_addrs().plaintext.unwrap(),
        series("flow.off", 4, 1, base),
    );
    wait_until("TCP overflow counted without flow control", || {
        stat(&dropping.stats(), "receivers.overflow") == 4.0
    });
    assert_eq!(stat(&store.stats(), "cache.overflow"), 7.0);

    store.pause_writers(false);
    for s in senders {
        s.join().unwrap();
    }
    wait_until("every TCP point taken", || {
        stat(&flowing.stats(), "receivers.points") == (sent + CACHE - FLOW_LIMIT + 3) as f64
    });
    flowing.shutdown();
    dropping.shutdown();
    let stats = store.stats();
    store.shutdown();
    assert_eq!(
        stat(&stats, "cache.overflow"),
        7.0,
        "only UDP and flow_control = false overflowed"
    );
    assert_eq!(stat(&stats, "rejectedPoints"), 0.0);

    let tree = WhisperTree::open(dir.path(), ReadLimits::default()).unwrap();
    let range = FetchRange {
        from: base - 60,
        until: base + 20 * 60,
        now: now(),
    };
    let mut missing = Vec::new();
    for (name, t, v) in plain.iter().chain(&pickled) {
        let s = tree.fetch(name, range).unwrap();
        let got = s.and_then(|s| s.values[((t - s.start) / s.step) as usize]);
        if got != Some(*v) {
            missing.push(format!("{name} at {t}: {got:?}, sent {v}"));
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {sent} points lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}
