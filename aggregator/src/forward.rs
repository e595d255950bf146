//! Standalone mode's sink: flushed points written as Graphite plaintext
//! (`name value timestamp\n`, values formatted as the reference formats
//! them) to a carbon endpoint over TCP.
//!
//! [`Forwarder::ingest`] only formats and queues, so a flush never waits on
//! the network. One writer thread keeps a connection open, reconnects with
//! exponential backoff (100 ms doubling to 10 s), and re-sends a batch
//! whose write failed. The queue is bounded (`graphite_queue` points);
//! points beyond it are refused, reported as overflow and counted.

use std::collections::VecDeque;
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use storage::{Ingest, IngestError, IngestReport, MetricPoint};

use crate::jsnum::js_format_into;
use crate::server::BackendStatus;
use crate::time::{unix_now_ms, unix_now_secs};

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

struct Batch {
    bytes: Vec<u8>,
    points: usize,
}

#[derive(Default)]
struct Queue {
    batches: VecDeque<Batch>,
    /// The buffer of the last batch written, emptied: the next flush's text
    /// goes into memory already mapped instead of megabytes of fresh pages
    /// faulted in at every flush.
    spare: Vec<u8>,
    points: usize,
    draining: bool,
    stopped: bool,
}

struct Inner {
    target: String,
    capacity: usize,
    queue: Mutex<Queue>,
    cv: Condvar,
    overflowed: AtomicU64,
    sent_points: AtomicU64,
    connect_failures: AtomicU64,
    write_failures: AtomicU64,
    last_flush: AtomicU64,
    last_exception: AtomicU64,
    flush_time_ms: AtomicU64,
    flush_length: AtomicU64,
    connected: AtomicBool,
}

/// Graphite plaintext forwarder; see the module docs.
pub struct Forwarder {
    inner: Arc<Inner>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("target", &self.inner.target)
            .finish_non_exhaustive()
    }
}

/// Formats points as plaintext lines, values as JavaScript prints them. The
/// points of a flush share one timestamp: its digits are formatted once.
pub fn format_lines(points: &[MetricPoint], out: &mut String) {
    let mut digits = itoa::Buffer::new();
    let mut last: Option<(i64, &str)> = None;
    for p in points {
        out.push_str(&p.name);
        out.push(' ');
        js_format_into(p.value, out);
        out.push(' ');
        let ts = match last {
            Some((ts, text)) if ts == p.timestamp => text,
            _ => {
                let text = digits.format(p.timestamp);
                last = Some((p.timestamp, text));
                text
            }
        };
        out.push_str(ts);
        out.push('\n');
    }
}

impl Forwarder {
    /// Starts the writer thread for `target` ("host:port"), queueing at most
    /// `capacity` points.
    pub fn start(target: &str, capacity: usize) -> std::io::Result<Arc<Forwarder>> {
        let inner = Arc::new(Inner {
            target: target.to_string(),
            capacity,
            queue: Mutex::new(Queue::default()),
            cv: Condvar::new(),
            overflowed: AtomicU64::new(0),
            sent_points: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            write_failures: AtomicU64::new(0),
            last_flush: AtomicU64::new(unix_now_secs() as u64),
            last_exception: AtomicU64::new(0),
            flush_time_ms: AtomicU64::new(0),
            flush_length: AtomicU64::new(0),
            connected: AtomicBool::new(false),
        });
        let w = inner.clone();
        let handle = std::thread::Builder::new()
            .name("graphite-forward".into())
            .spawn(move || writer(&w))?;
        Ok(Arc::new(Forwarder {
            inner,
            writer: Mutex::new(Some(handle)),
        }))
    }

    /// Delivers what is queued (waiting at most `timeout`), then stops the
    /// writer. Returns the number of points left undelivered.
    pub fn shutdown(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        {
            let mut q = self.inner.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.draining = true;
            self.inner.cv.notify_all();
            while q.points > 0 && Instant::now() < deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                q = self
                    .inner
                    .cv
                    .wait_timeout(q, left.min(Duration::from_millis(50)))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            q.stopped = true;
            self.inner.cv.notify_all();
        }
        if let Some(h) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = h.join();
        }
        let q = self.inner.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.points > 0 {
            tracing::warn!(
                points = q.points,
                target = %self.inner.target,
                "Graphite backend unreachable at shutdown; points not delivered"
            );
        }
        q.points
    }

    /// Forwarder counters as (name, value) for the self-metrics.
    pub fn stats(&self) -> Vec<(String, u64)> {
        let i = &self.inner;
        let queued = i.queue.lock().map(|q| q.points).unwrap_or(0) as u64;
        vec![
            (
                "graphite_points_sent".into(),
                i.sent_points.load(Ordering::Relaxed),
            ),
            (
                "graphite_points_overflowed".into(),
                i.overflowed.load(Ordering::Relaxed),
            ),
            ("graphite_points_queued".into(), queued),
            (
                "graphite_connect_failures".into(),
                i.connect_failures.load(Ordering::Relaxed),
            ),
            (
                "graphite_write_failures".into(),
                i.write_failures.load(Ordering::Relaxed),
            ),
            (
                "graphite_connected".into(),
                i.connected.load(Ordering::Relaxed) as u64,
            ),
        ]
    }
}

impl Ingest for Forwarder {
    fn ingest(&self, points: Vec<MetricPoint>) -> Result<IngestReport, IngestError> {
        let (free, spare) = {
            let mut q = self.inner.queue.lock().unwrap_or_else(|p| p.into_inner());
            if q.stopped {
                return Err(IngestError::ShuttingDown);
            }
            (
                self.inner.capacity.saturating_sub(q.points),
                std::mem::take(&mut q.spare),
            )
        };
        let accepted = points.len().min(free);
        let overflowed = points.len() - accepted;
        if overflowed > 0 {
            self.inner
                .overflowed
                .fetch_add(overflowed as u64, Ordering::Relaxed);
            tracing::warn!(
                dropped = overflowed,
                target = %self.inner.target,
                "Graphite forward queue full; points dropped (backend slow or down)"
            );
        }
        if accepted > 0 {
            // The spare buffer is kept empty, so it is valid text.
            let mut text = String::from_utf8(spare).unwrap_or_default();
            text.reserve(accepted * 48);
            format_lines(&points[..accepted], &mut text);
            let mut q = self.inner.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.points += accepted;
            q.batches.push_back(Batch {
                bytes: text.into_bytes(),
                points: accepted,
            });
            self.inner.cv.notify_all();
        }
        Ok(IngestReport {
            accepted,
            overflowed,
            rejected: 0,
        })
    }
}

impl BackendStatus for Forwarder {
    fn status(&self) -> Vec<(&'static str, f64)> {
        let i = &self.inner;
        vec![
            (
                "last_exception",
                i.last_exception.load(Ordering::Relaxed) as f64,
            ),
            ("last_flush", i.last_flush.load(Ordering::Relaxed) as f64),
            ("flush_time", i.flush_time_ms.load(Ordering::Relaxed) as f64),
            (
                "flush_length",
                i.flush_length.load(Ordering::Relaxed) as f64,
            ),
        ]
    }
}

fn connect(target: &str) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in target.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no address")))
}

fn writer(inner: &Inner) {
    let mut conn: Option<TcpStream> = None;
    let mut backoff = BACKOFF_MIN;
    let mut logged_down = false;
    loop {
        // Wait for work.
        let batch = {
            let mut q = inner.queue.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if q.stopped {
                    return;
                }
                if let Some(b) = q.batches.pop_front() {
                    break b;
                }
                if q.draining {
                    // Nothing left: tell shutdown() and wait for `stopped`.
                    inner.cv.notify_all();
                }
                q = inner
                    .cv
                    .wait_timeout(q, Duration::from_millis(500))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        };
        let stream = match conn.as_mut() {
            Some(s) => Ok(s),
            None => connect(&inner.target).map(|s| conn.insert(s)),
        };
        let started = Instant::now();
        let result = stream.and_then(|s| s.write_all(&batch.bytes).and_then(|_| s.flush()));
        match result {
            Ok(()) => {
                inner.connected.store(true, Ordering::Relaxed);
                inner
                    .flush_time_ms
                    .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                inner
                    .flush_length
                    .store(batch.bytes.len() as u64, Ordering::Relaxed);
                inner
                    .last_flush
                    .store(unix_now_ms() / 1000, Ordering::Relaxed);
                inner
                    .sent_points
                    .fetch_add(batch.points as u64, Ordering::Relaxed);
                let mut bytes = batch.bytes;
                bytes.clear();
                let mut q = inner.queue.lock().unwrap_or_else(|p| p.into_inner());
                q.points -= batch.points;
                if bytes.capacity() > q.spare.capacity() {
                    q.spare = bytes;
                }
                inner.cv.notify_all();
                drop(q);
                if logged_down {
                    tracing::info!(target = %inner.target, "Graphite backend reachable again");
                    logged_down = false;
                }
                backoff = BACKOFF_MIN;
            }
            Err(e) => {
                if conn.is_some() {
                    inner.write_failures.fetch_add(1, Ordering::Relaxed);
                } else {
                    inner.connect_failures.fetch_add(1, Ordering::Relaxed);
                }
                conn = None;
                inner.connected.store(false, Ordering::Relaxed);
                inner
                    .last_exception
                    .store(unix_now_secs() as u64, Ordering::Relaxed);
                if !logged_down {
                    tracing::warn!(
                        target = %inner.target,
                        error = %e,
                        "Graphite backend unreachable; queueing and retrying with backoff"
                    );
                    logged_down = true;
                }
                // Put the batch back first and wait out the backoff, waking
                // early only to stop.
                let mut q = inner.queue.lock().unwrap_or_else(|p| p.into_inner());
                q.batches.push_front(batch);
                let deadline = Instant::now() + backoff;
                while !q.stopped && Instant::now() < deadline {
                    let left = deadline.saturating_duration_since(Instant::now());
                    q = inner
                        .cv
                        .wait_timeout(q, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn point(name: &str, value: f64, timestamp: i64) -> MetricPoint {
        MetricPoint {
            name: name.into(),
            timestamp,
            value,
        }
    }

    #[test]
    fn flushes_arrive_as_plaintext_lines_in_order() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let target = listener.local_addr().expect("addr").to_string();
        let forwarder = Forwarder::start(&target, 1000).expect("start");
        // Two flushes: the second is written into the first one's buffer;
        // the timestamps change within and between them.
        let first = vec![
            point("a", 1.0, 100),
            point("b", 0.5, 100),
            point("c", 2.0, 101),
        ];
        let second = vec![point("d", 1e21, 110), point("e", -3.25, 110)];
        forwarder.ingest(first).expect("first");
        // The writer connects when it has something to write.
        let (mut conn, _) = listener.accept().expect("accept");
        let want_first = "a 1 100\nb 0.5 100\nc 2 101\n";
        let mut got = vec![0u8; want_first.len()];
        conn.read_exact(&mut got).expect("first read");
        assert_eq!(String::from_utf8_lossy(&got), want_first);
        forwarder.ingest(second).expect("second");
        assert_eq!(forwarder.shutdown(Duration::from_secs(5)), 0);
        let mut rest = String::new();
        conn.read_to_string(&mut rest).expect("rest");
        assert_eq!(rest, "d 1e+21 110\ne -3.25 110\n");
    }
}
