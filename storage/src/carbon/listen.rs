//! Socket loops for the carbon receivers: frame, parse, count, forward.
//! They run on their own small tokio runtime so the binary can stop them
//! before it drains the store.

use std::net::{SocketAddr, TcpListener as StdTcpListener, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;

use super::pickle::{self, Element};
use super::plaintext::{self, excerpt, Parsed};
use super::CarbonConfig;
use crate::api::{Ingest, MetricPoint};
use crate::flow::Backpressure;
use crate::store::StatsSource;

/// Where the receivers listen (after binding, so port 0 is resolved).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiverAddrs {
    /// Plaintext TCP.
    pub plaintext: Option<SocketAddr>,
    /// Pickle TCP.
    pub pickle: Option<SocketAddr>,
    /// Plaintext UDP.
    pub udp: Option<SocketAddr>,
}

/// Counters of the receivers.
#[derive(Default)]
pub struct ReceiverStats {
    /// Plaintext lines (TCP and UDP), blank ones excluded.
    pub lines: AtomicU64,
    /// Plaintext lines refused.
    pub bad_lines: AtomicU64,
    /// UDP datagrams.
    pub datagrams: AtomicU64,
    /// Pickle messages.
    pub pickle_messages: AtomicU64,
    /// Pickle messages refused whole (not the subset, too long, truncated).
    pub bad_pickles: AtomicU64,
    /// Pickle elements skipped (not `(path, (ts, value))`).
    pub bad_pickle_elements: AtomicU64,
    /// NaN values dropped (carbon drops them silently).
    pub nan_dropped: AtomicU64,
    /// Points handed to the store.
    pub points: AtomicU64,
    /// Points the store refused as invalid.
    pub rejected: AtomicU64,
    /// Points the store refused because its cache was full.
    pub overflow: AtomicU64,
    /// TCP connections accepted.
    pub connections: AtomicU64,
    /// Times a TCP connection stopped reading because the cache was full
    /// (flow control).
    pub flow_control_pauses: AtomicU64,
}

impl ReceiverStats {
    /// `(name, value)` pairs under `receivers.`.
    pub fn snapshot(&self) -> Vec<(String, f64)> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        vec![
            ("receivers.lines".into(), g(&self.lines)),
            ("receivers.badLines".into(), g(&self.bad_lines)),
            ("receivers.udpDatagrams".into(), g(&self.datagrams)),
            ("receivers.pickleMessages".into(), g(&self.pickle_messages)),
            ("receivers.badPickles".into(), g(&self.bad_pickles)),
            (
                "receivers.badPickleElements".into(),
                g(&self.bad_pickle_elements),
            ),
            ("receivers.nanDropped".into(), g(&self.nan_dropped)),
            ("receivers.points".into(), g(&self.points)),
            ("receivers.rejected".into(), g(&self.rejected)),
            ("receivers.overflow".into(), g(&self.overflow)),
            ("receivers.connections".into(), g(&self.connections)),
            (
                "receivers.flowControlPauses".into(),
                g(&self.flow_control_pauses),
            ),
        ]
    }
}

/// At most one log line per interval per kind of event, with the number of
/// events that were not logged.
struct RateLimitedLog {
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl RateLimitedLog {
    fn new() -> Self {
        RateLimitedLog {
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    fn log(&self, f: impl FnOnce(u64)) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let due = last
            .map(|t| t.elapsed() >= Duration::from_secs(10))
            .unwrap_or(true);
        if due {
            *last = Some(Instant::now());
            f(self.suppressed.swap(0, Ordering::Relaxed));
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How long a connection still waits for room after the stop signal
/// without any point being taken before it gives up (and counts the rest
/// as overflow), so a stalled disk cannot hang shutdown forever.
const STOP_WAIT_WITHOUT_PROGRESS: Duration = Duration::from_secs(10);

struct Shared {
    ingest: Arc<dyn Ingest>,
    /// Set when TCP receivers pause instead of dropping (flow control).
    flow: Option<Arc<dyn Backpressure>>,
    flow_log: RateLimitedLog,
    stats: Arc<ReceiverStats>,
    bad_line_log: RateLimitedLog,
    bad_pickle_log: RateLimitedLog,
    max_pickle_length: usize,
}

impl Shared {
    fn forward(&self, points: Vec<MetricPoint>) {
        if points.is_empty() {
            return;
        }
        let n = points.len() as u64;
        self.stats.points.fetch_add(n, Ordering::Relaxed);
        match self.ingest.ingest(points) {
            Ok(report) => report.count_refused(&self.stats.rejected, &self.stats.overflow),
            Err(e) => {
                self.stats.overflow.fetch_add(n, Ordering::Relaxed);
                self.bad_line_log
                    .log(|_| tracing::warn!(error = %e, points = n, "store refused points"));
            }
        }
    }

    /// Forwards points read from a TCP connection. With flow control, what
    /// does not fit in the cache is offered again until it does; meanwhile
    /// the connection reads nothing, so the kernel's receive buffer fills
    /// and the sender's TCP window closes: back pressure, nothing lost.
    async fn forward_tcp(
        &self,
        points: Vec<MetricPoint>,
        peer: &SocketAddr,
        stopped: &watch::Receiver<bool>,
    ) {
        let Some(flow) = &self.flow else {
            return self.forward(points);
        };
        let mut rest = points;
        let mut last_progress = Instant::now();
        let mut paused = false;
        let mut backoff = Duration::from_millis(1);
        while !rest.is_empty() {
            let n = rest.len();
            match flow.offer(rest) {
                Ok(o) => {
                    let taken = o.report.accepted + o.report.rejected;
                    self.stats.points.fetch_add(taken as u64, Ordering::Relaxed);
                    self.stats
                        .rejected
                        .fetch_add(o.report.rejected as u64, Ordering::Relaxed);
                    rest = o.rest;
                    if taken > 0 {
                        last_progress = Instant::now();
                        backoff = Duration::from_millis(1);
                    }
                }
                Err(e) => {
                    self.stats.points.fetch_add(n as u64, Ordering::Relaxed);
                    self.stats.overflow.fetch_add(n as u64, Ordering::Relaxed);
                    self.bad_line_log
                        .log(|_| tracing::warn!(error = %e, points = n, "store refused points"));
                    return;
                }
            }
            if rest.is_empty() {
                break;
            }
            if !paused {
                paused = true;
                self.stats
                    .flow_control_pauses
                    .fetch_add(1, Ordering::Relaxed);
                self.flow_log.log(|suppressed| {
                    tracing::warn!(%peer, suppressed, "cache full: carbon TCP receivers paused until the writers make room (flow control)")
                });
            }
            if *stopped.borrow() && last_progress.elapsed() >= STOP_WAIT_WITHOUT_PROGRESS {
                // shutting down and the writers make no room: count the
                // rest as overflow rather than hang
                let left = std::mem::take(&mut rest);
                self.stats
                    .points
                    .fetch_add(left.len() as u64, Ordering::Relaxed);
                self.stats
                    .overflow
                    .fetch_add(left.len() as u64, Ordering::Relaxed);
                break;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(50));
        }
    }

    /// Parses complete lines, appending points to `out`.
    fn lines(&self, data: &[u8], peer: &SocketAddr, out: &mut Vec<MetricPoint>) {
        let now = unix_now();
        for line in data.split(|&b| b == b'\n') {
            match plaintext::parse_line(line, now) {
                Ok(Parsed::Point(name, t, v)) => {
                    self.stats.lines.fetch_add(1, Ordering::Relaxed);
                    out.push(MetricPoint::new(name, t, v));
                }
                Ok(Parsed::NanDropped) => {
                    self.stats.lines.fetch_add(1, Ordering::Relaxed);
                    self.stats.nan_dropped.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Parsed::Blank) => {}
                Err(e) => {
                    self.stats.lines.fetch_add(1, Ordering::Relaxed);
                    self.stats.bad_lines.fetch_add(1, Ordering::Relaxed);
                    self.bad_line_log.log(|suppressed| {
                        tracing::warn!(%peer, error = %e, suppressed, "invalid carbon line ignored")
                    });
                }
            }
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Running receivers.
pub struct Receivers {
    runtime: Option<tokio::runtime::Runtime>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    addrs: ReceiverAddrs,
    stats: Arc<ReceiverStats>,
}

fn parse_addr(key: &str, text: &str) -> std::io::Result<Option<SocketAddr>> {
    crate::config::parse_listen_addr(text).map_err(|why| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("[carbon] {key} = {text:?}: {why}"),
        )
    })
}

impl Receivers {
    /// Binds every configured listener (errors name the key and address) and
    /// starts serving into `ingest`. Nothing pushes back: a full cache
    /// refuses points and they are counted (`receivers.overflow`); see
    /// [`Receivers::start_with_backpressure`].
    pub fn start(cfg: &CarbonConfig, ingest: Arc<dyn Ingest>) -> std::io::Result<Receivers> {
        Self::start_inner(cfg, ingest, None)
    }

    /// Like [`Receivers::start`], but with `cfg.flow_control` the TCP
    /// receivers offer points through `flow` and stop reading while it has
    /// no room; UDP still goes through `ingest` (drops and counts).
    pub fn start_with_backpressure(
        cfg: &CarbonConfig,
        ingest: Arc<dyn Ingest>,
        flow: Arc<dyn Backpressure>,
    ) -> std::io::Result<Receivers> {
        let flow = cfg.flow_control.then_some(flow);
        Self::start_inner(cfg, ingest, flow)
    }

    fn start_inner(
        cfg: &CarbonConfig,
        ingest: Arc<dyn Ingest>,
        flow: Option<Arc<dyn Backpressure>>,
    ) -> std::io::Result<Receivers> {
        let bind_err = |key: &str, addr: SocketAddr, e: std::io::Error| {
            std::io::Error::new(
                e.kind(),
                format!("[carbon] {key}: cannot listen on {addr}: {e}"),
            )
        };
        let plaintext = match parse_addr("plaintext", &cfg.plaintext)? {
            Some(a) => Some(StdTcpListener::bind(a).map_err(|e| bind_err("plaintext", a, e))?),
            None => None,
        };
        let pickle = match parse_addr("pickle", &cfg.pickle)? {
            Some(a) => Some(StdTcpListener::bind(a).map_err(|e| bind_err("pickle", a, e))?),
            None => None,
        };
        let udp = match parse_addr("udp", &cfg.udp)? {
            Some(a) => Some(StdUdpSocket::bind(a).map_err(|e| bind_err("udp", a, e))?),
            None => None,
        };
        let addrs = ReceiverAddrs {
            plaintext: plaintext.as_ref().and_then(|l| l.local_addr().ok()),
            pickle: pickle.as_ref().and_then(|l| l.local_addr().ok()),
            udp: udp.as_ref().and_then(|s| s.local_addr().ok()),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("carbon-receiver")
            .enable_all()
            .build()?;
        let stats = Arc::new(ReceiverStats::default());
        let shared = Arc::new(Shared {
            ingest,
            flow,
            flow_log: RateLimitedLog::new(),
            stats: Arc::clone(&stats),
            bad_line_log: RateLimitedLog::new(),
            bad_pickle_log: RateLimitedLog::new(),
            max_pickle_length: cfg.max_pickle_length,
        });
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let _guard = runtime.enter();
        for (listener, is_pickle) in [(plaintext, false), (pickle, true)] {
            if let Some(l) = listener {
                l.set_nonblocking(true)?;
                let l = TcpListener::from_std(l)?;
                tasks.push(runtime.spawn(accept_loop(
                    l,
                    is_pickle,
                    Arc::clone(&shared),
                    stopped.clone(),
                )));
            }
        }
        if let Some(s) = udp {
            s.set_nonblocking(true)?;
            let s = UdpSocket::from_std(s)?;
            tasks.push(runtime.spawn(udp_loop(s, Arc::clone(&shared), stopped.clone())));
        }
        drop(_guard);
        tracing::info!(plaintext = ?addrs.plaintext, pickle = ?addrs.pickle, udp = ?addrs.udp, "carbon receivers listening");
        Ok(Receivers {
            runtime: Some(runtime),
            stop,
            tasks,
            addrs,
            stats,
        })
    }

    /// The bound addresses.
    pub fn local_addrs(&self) -> ReceiverAddrs {
        self.addrs
    }

    /// Counter snapshot.
    pub fn stats(&self) -> Vec<(String, f64)> {
        self.stats.snapshot()
    }

    /// A source for [`crate::Store::add_stats_source`].
    pub fn stats_source(&self) -> StatsSource {
        let stats = Arc::clone(&self.stats);
        Arc::new(move || stats.snapshot())
    }

    /// Stops accepting, lets open connections hand over what they already
    /// sent (until they go quiet for a moment), and joins every task.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        let _ = self.stop.send(true);
        if let Some(rt) = self.runtime.take() {
            for t in self.tasks.drain(..) {
                let _ = rt.block_on(t);
            }
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for Receivers {
    fn drop(&mut self) {
        self.stop_all();
    }
}

async fn accept_loop(
    listener: TcpListener,
    is_pickle: bool,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    let mut accept_errors = crate::net::AcceptErrors::new(if is_pickle {
        "carbon pickle"
    } else {
        "carbon plaintext"
    });
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
                    let shared = Arc::clone(&shared);
                    let stopped = stopped.clone();
                    if is_pickle {
                        connections.spawn(pickle_connection(stream, peer, shared, stopped));
                    } else {
                        connections.spawn(line_connection(stream, peer, shared, stopped));
                    }
                }
                Err(e) => tokio::time::sleep(accept_errors.pause_after(&e)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // connections that arrived before the stop but were not accepted yet
    // still hand over what they sent
    while let Ok(Ok((stream, peer))) =
        tokio::time::timeout(Duration::from_millis(20), listener.accept()).await
    {
        shared.stats.connections.fetch_add(1, Ordering::Relaxed);
        let (shared, stopped) = (Arc::clone(&shared), stopped.clone());
        if is_pickle {
            connections.spawn(pickle_connection(stream, peer, shared, stopped));
        } else {
            connections.spawn(line_connection(stream, peer, shared, stopped));
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Reads into `buf`; after the stop signal, keeps reading only while data
/// keeps coming (a quiet peer for 200 ms ends the connection).
async fn read_some(
    stream: &mut TcpStream,
    buf: &mut [u8],
    stopped: &mut watch::Receiver<bool>,
) -> Option<usize> {
    if *stopped.borrow() {
        return match tokio::time::timeout(Duration::from_millis(200), stream.read(buf)).await {
            Ok(Ok(n)) if n > 0 => Some(n),
            _ => None,
        };
    }
    tokio::select! {
        r = stream.read(buf) => match r { Ok(n) if n > 0 => Some(n), _ => None },
        _ = stopped.changed() => match tokio::time::timeout(Duration::from_millis(200), stream.read(buf)).await {
            Ok(Ok(n)) if n > 0 => Some(n),
            _ => None,
        },
    }
}

async fn line_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    // inside an over-long line: drop bytes up to its newline
    let mut skipping = false;
    while let Some(n) = read_some(&mut stream, &mut chunk, &mut stopped).await {
        pending.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        if skipping {
            match pending.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    start = i + 1;
                    skipping = false;
                }
                None => {
                    pending.clear();
                    continue;
                }
            }
        }
        let mut points = Vec::new();
        if let Some(last) = pending[start..].iter().rposition(|&b| b == b'\n') {
            shared.lines(&pending[start..start + last], &peer, &mut points);
            start += last + 1;
        }
        pending.drain(..start);
        if pending.len() > plaintext::MAX_LINE_LENGTH {
            shared.stats.lines.fetch_add(1, Ordering::Relaxed);
            shared.stats.bad_lines.fetch_add(1, Ordering::Relaxed);
            let text = String::from_utf8_lossy(&pending[..400]).into_owned();
            shared.bad_line_log.log(|suppressed| {
                tracing::warn!(%peer, excerpt = %excerpt(&text), suppressed, "carbon line longer than 16384 bytes ignored")
            });
            pending.clear();
            skipping = true;
        }
        shared.forward_tcp(points, &peer, &stopped).await;
    }
    // a last line without its newline still counts at EOF
    if !pending.is_empty() && !skipping {
        let mut points = Vec::new();
        shared.lines(&pending, &peer, &mut points);
        shared.forward_tcp(points, &peer, &stopped).await;
    }
}

async fn pickle_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // complete frames first
        while buf.len() >= 4 {
            let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            if len > shared.max_pickle_length {
                shared.stats.bad_pickles.fetch_add(1, Ordering::Relaxed);
                shared.bad_pickle_log.log(|suppressed| {
                    tracing::warn!(%peer, length = len, limit = shared.max_pickle_length, suppressed, "pickle message too long; connection dropped")
                });
                return;
            }
            if buf.len() < 4 + len {
                break;
            }
            let message: Vec<u8> = buf.drain(..4 + len).skip(4).collect();
            let points = handle_pickle(&message, &peer, &shared);
            shared.forward_tcp(points, &peer, &stopped).await;
        }
        match read_some(&mut stream, &mut chunk, &mut stopped).await {
            Some(n) => buf.extend_from_slice(&chunk[..n]),
            None => break,
        }
    }
    if !buf.is_empty() {
        shared.stats.bad_pickles.fetch_add(1, Ordering::Relaxed);
        shared.bad_pickle_log.log(|suppressed| {
            tracing::warn!(%peer, bytes = buf.len(), suppressed, "connection closed inside a pickle message")
        });
    }
}

/// Decodes one pickle message into the points to forward (counting what is
/// refused).
fn handle_pickle(message: &[u8], peer: &SocketAddr, shared: &Shared) -> Vec<MetricPoint> {
    shared.stats.pickle_messages.fetch_add(1, Ordering::Relaxed);
    let elements = match pickle::parse_message(message) {
        Ok(e) => e,
        Err(e) => {
            shared.stats.bad_pickles.fetch_add(1, Ordering::Relaxed);
            shared.bad_pickle_log.log(|suppressed| tracing::warn!(%peer, error = %e, suppressed, "invalid pickle ignored"));
            return Vec::new();
        }
    };
    let now = unix_now();
    let mut points = Vec::with_capacity(elements.len());
    for el in elements {
        match el {
            Element::Point(name, ts, value) => {
                if value.is_nan() {
                    shared.stats.nan_dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                match plaintext::resolve_timestamp(ts, now) {
                    Some(t) => points.push(MetricPoint::new(name, t, value)),
                    None => {
                        shared
                            .stats
                            .bad_pickle_elements
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Element::Bad(why) => {
                shared
                    .stats
                    .bad_pickle_elements
                    .fetch_add(1, Ordering::Relaxed);
                shared.bad_pickle_log.log(|suppressed| tracing::warn!(%peer, error = %why, suppressed, "pickle element ignored"));
            }
        }
    }
    points
}

async fn udp_loop(socket: UdpSocket, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, peer)) => {
                    shared.stats.datagrams.fetch_add(1, Ordering::Relaxed);
                    let mut points = Vec::new();
                    shared.lines(&buf[..n], &peer, &mut points);
                    shared.forward(points);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "udp receive failed");
                }
            }
        }
    }
    // datagrams already queued in the socket still count
    while let Ok((n, peer)) = socket.try_recv_from(&mut buf) {
        let mut points = Vec::new();
        shared.lines(&buf[..n], &peer, &mut points);
        shared.forward(points);
    }
}
