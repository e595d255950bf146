//! UDP (and Unix datagram) receive: one SO_REUSEPORT socket per thread so
//! the kernel spreads datagrams over them, `recvmmsg` batches with
//! `MSG_WAITFORONE` (a lone datagram is returned at once, never held for a
//! full batch), a large SO_RCVBUF, and kernel drop accounting through
//! `SO_MEMINFO`, reported as the `udp_kernel_drops` self-metric.
//!
//! The kernel is asked for nothing per datagram but its bytes: no sender
//! address (`msg_name`) and no control message (`SO_RXQ_OVFL`). Each cost
//! a copy to user space per datagram (together about a tenth of the
//! receive thread's time at one metric per datagram); the drop counter
//! they carried is read with `getsockopt(SO_MEMINFO)` at most every 100 ms
//! instead (`DropsPoll`), and the bad-line log names the listener, not
//! the sender (Etsy's "Bad line" log does not print the sender either).
//!
//! An io_uring receive path (multishot receive into provided buffers) was
//! measured against this one and dropped: no cheaper at 100,000
//! datagrams/s once the buffers were spaced (below), and it lost up to
//! 1% at 4M metrics/s where `recvmmsg` lost nothing (docs/statsd.md,
//! "Receive path").

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};

use crate::listen::POLL;
use crate::server::{Core, Running};

/// Largest UDP payload; a buffer this size never truncates.
pub const MAX_DATAGRAM: usize = 65536;

/// Distance between the starts of two receive buffers: one cache line more
/// than a buffer. At exactly 64 KB apart every buffer's first line (all a
/// small datagram touches) falls in the same set of the CPU's caches, so a
/// batch evicts itself between the kernel's copy and our parse; shifted by
/// a line each, they spread over the sets.
pub const BUFFER_STRIDE: usize = MAX_DATAGRAM + 64;

/// Kernel memory one small datagram holds while it waits in a receive
/// queue (its `truesize`), measured on loopback: 832 bytes for a 15-byte
/// datagram, 1,280 for a 600-byte one (20 metrics).
const QUEUED_DATAGRAM_BYTES: usize = 1280;

/// The stream a wait must absorb, datagrams per second: above the
/// ceiling of one sending core (about 300,000 small datagrams/s here).
const FASTEST_STREAM: usize = 400_000;

/// Bounds of [`batch_wait`].
const MIN_BATCH_WAIT: std::time::Duration = std::time::Duration::from_micros(500);
const MAX_BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(10);

/// How long a receive thread waits after a partial batch before reading
/// again, given the receive buffer the kernel `granted`: the time a
/// [`FASTEST_STREAM`] takes to fill half of it, within 0.5–10 ms.
///
/// Every wake-up costs a context switch and a timer, about 10 µs on this
/// machine's VM, so the wait sets how many datagrams share one: at
/// 100,000/s, 0.5 ms gave 1.58 CPU-s per million metrics and 2 ms 1.28;
/// 10 ms (the wait of the 16 MB buffer root is granted by default) ~1,000
/// datagrams per wake-up, 2.6–4.4% less CPU again in two runs, and 16 ms
/// no less than 10 (docs/statsd.md). A full
/// batch loops at once, so the wait never slows a flood, and a stream
/// faster than any one sender fits in the buffer meanwhile. Latency: a
/// datagram waits in the kernel up to the wait, far below any flush
/// interval.
pub fn batch_wait(granted: usize) -> std::time::Duration {
    let absorbed = granted / 2 / QUEUED_DATAGRAM_BYTES;
    let micros = absorbed as u64 * 1_000_000 / FASTEST_STREAM as u64;
    std::time::Duration::from_micros(micros).clamp(MIN_BATCH_WAIT, MAX_BATCH_WAIT)
}

/// Binds `udp_threads` sockets on `addr` and starts one receive thread per
/// socket. Returns the bound address.
pub(crate) fn start(
    core: &Arc<Core>,
    addr: SocketAddr,
    running: &mut Running,
) -> io::Result<SocketAddr> {
    let threads = core.settings.udp_threads.max(1);
    let first = new_socket(addr, core.settings.udp_receive_buffer)?;
    let bound = first
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("bound UDP socket has no IP address"))?;
    let mut sockets = vec![first];
    for _ in 1..threads {
        sockets.push(new_socket(bound, core.settings.udp_receive_buffer)?);
    }
    for (i, sock) in sockets.into_iter().enumerate() {
        let drops = Arc::new(AtomicU64::new(0));
        core.kernel_drops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(drops.clone());
        let core = core.clone();
        let handle = std::thread::Builder::new()
            .name(format!("statsd-udp-{i}"))
            .spawn(move || recv_loop(&core, &sock, &drops))?;
        running.add_listener(handle);
    }
    Ok(bound)
}

fn set_int_opt(fd: i32, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `fd` is an open socket owned by the caller; the option value
    // points to a live i32 whose size is passed alongside.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A bound UDP receive socket as the listener makes it: `SO_REUSEPORT`,
/// dual-stack on `[::]`, a receive buffer of `rcvbuf` (forced past
/// `rmem_max` where allowed) and the listener's read timeout.
pub fn new_socket(addr: SocketAddr, rcvbuf: usize) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // "[::]:8125" takes IPv4 too, like a dual-stack listener should.
        sock.set_only_v6(false)?;
    }
    sock.set_reuse_port(true)?;
    sock.set_recv_buffer_size(rcvbuf)?;
    // Linux reports the doubled value; below the request means rmem_max
    // capped it. Root may exceed the cap with SO_RCVBUFFORCE.
    if sock.recv_buffer_size()? < rcvbuf {
        let want = i32::try_from(rcvbuf).unwrap_or(i32::MAX);
        let _ = set_int_opt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            want,
        );
        let got = sock.recv_buffer_size()?;
        if got < rcvbuf {
            tracing::warn!(
                requested = rcvbuf,
                granted = got,
                "UDP receive buffer capped by the kernel; raise net.core.rmem_max to avoid drops in bursts"
            );
        }
    }
    if socket_drops(sock.as_raw_fd()).is_none() {
        tracing::warn!("SO_MEMINFO unavailable: kernel drops will not be counted");
    }
    sock.set_read_timeout(Some(POLL))?;
    sock.bind(&addr.into())?;
    Ok(sock)
}

/// The socket's count of datagrams the kernel dropped (receive buffer
/// full), cumulative since the socket was created: `SK_MEMINFO_DROPS` of
/// `SO_MEMINFO`, the same `sk_drops` counter `SO_RXQ_OVFL` would attach to
/// every datagram. `None` when the kernel does not report it.
pub(crate) fn socket_drops(fd: i32) -> Option<u64> {
    const DROPS: usize = libc::SK_MEMINFO_DROPS as usize;
    let mut info = [0u32; DROPS + 1];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: `fd` is an open socket owned by the caller; the kernel writes
    // at most `len` bytes into `info`, a live array of that size, and
    // stores the length it wrote in `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    (rc == 0 && len as usize >= std::mem::size_of_val(&info)).then(|| u64::from(info[DROPS]))
}

/// Buffers for one `recvmmsg` call; the pointers inside `hdrs` point into
/// the other vectors, which are never resized after construction. No
/// address and no control buffer: the kernel fills only `msg_len` and
/// `msg_flags`, both rewritten for every message it returns, so the
/// headers need no reset between calls.
struct Batch {
    bufs: Vec<u8>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl Batch {
    fn new(n: usize) -> Batch {
        let mut b = Batch {
            bufs: vec![0u8; n * BUFFER_STRIDE],
            iovs: Vec::with_capacity(n),
            hdrs: Vec::with_capacity(n),
        };
        for i in 0..n {
            b.iovs.push(libc::iovec {
                iov_base: b.bufs[i * BUFFER_STRIDE..].as_mut_ptr().cast(),
                iov_len: MAX_DATAGRAM,
            });
        }
        for i in 0..n {
            // SAFETY: mmsghdr is plain old data; all-zero is valid (a null
            // name and control buffer ask the kernel for neither) and the
            // iovec pointer is set right below.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = &mut b.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            b.hdrs.push(h);
        }
        b
    }
}

fn recv_loop(core: &Core, sock: &Socket, drops: &AtomicU64) {
    let batch_wait = batch_wait(sock.recv_buffer_size().unwrap_or(0));
    recvmmsg_loop(
        core,
        sock,
        drops,
        core.settings.udp_batch.max(1),
        batch_wait,
    );
}

/// Reads the socket's kernel drop counter (a syscall) at most every
/// [`DropsPoll::PERIOD`] while datagrams arrive, and once more when the
/// socket goes idle or the listener stops, so the figure a flush reports
/// is never more than that period behind, and a burst's drops are counted
/// even if nothing follows it. Drops happen only while datagrams arrive.
#[derive(Default)]
struct DropsPoll {
    last_read: Option<std::time::Instant>,
    /// Datagrams were received since the last read.
    unread: bool,
}

impl DropsPoll {
    const PERIOD: std::time::Duration = std::time::Duration::from_millis(100);

    /// After a batch that received datagrams.
    fn after_batch(&mut self, fd: i32, drops: &AtomicU64) {
        let now = std::time::Instant::now();
        match self.last_read {
            Some(t) if now.duration_since(t) < Self::PERIOD => self.unread = true,
            _ => {
                self.last_read = Some(now);
                self.read(fd, drops);
            }
        }
    }

    /// After a wait that received nothing, and at stop.
    fn idle(&mut self, fd: i32, drops: &AtomicU64) {
        if self.unread {
            self.read(fd, drops);
        }
    }

    fn read(&mut self, fd: i32, drops: &AtomicU64) {
        self.unread = false;
        if let Some(d) = socket_drops(fd) {
            drops.fetch_max(d, Ordering::Relaxed);
        }
    }
}

fn recvmmsg_loop(
    core: &Core,
    sock: &Socket,
    drops: &AtomicU64,
    n: usize,
    batch_wait: std::time::Duration,
) {
    let mut batch = Batch::new(n);
    let mut drops_poll = DropsPoll::default();
    let fd = sock.as_raw_fd();
    loop {
        let stopping = core.stop.load(Ordering::Relaxed);
        // While stopping, drain what the kernel holds without blocking.
        let flags = if stopping {
            libc::MSG_DONTWAIT
        } else {
            libc::MSG_WAITFORONE
        };
        // SAFETY: `batch.hdrs` holds `n` headers whose pointers reference
        // buffers owned by `batch`, alive and unmoved for this call.
        let got = unsafe {
            libc::recvmmsg(
                fd,
                batch.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                flags,
                std::ptr::null_mut(),
            )
        };
        if got < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted => {}
                _ => {
                    core.stats.udp_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "UDP receive error");
                }
            }
            drops_poll.idle(fd, drops);
            if stopping {
                return;
            }
            continue;
        }
        let got = got as usize;
        let datagram = |i: usize| {
            let len = (batch.hdrs[i].msg_len as usize).min(MAX_DATAGRAM);
            &batch.bufs[i * BUFFER_STRIDE..i * BUFFER_STRIDE + len]
        };
        for i in 0..got {
            if batch.hdrs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                core.stats.udp_truncated.fetch_add(1, Ordering::Relaxed);
            }
        }
        let metrics = core.aggregate_datagrams((0..got).map(datagram), &"udp");
        if got > 0 {
            core.count_received(got as u64, metrics);
            drops_poll.after_batch(fd, drops);
        }
        // A batch that was not full means the socket is drained: rather
        // than wake up (and pay a syscall and a context switch) for every
        // datagram of a moderate stream, let a few more arrive first. A
        // full batch loops at once, so this never slows a flood; the wait
        // is far below any flush interval and the receive buffer holds
        // what arrives meanwhile.
        if got < n && !stopping {
            std::thread::sleep(batch_wait);
        }
    }
}

/// Binds a Unix datagram socket at `path` (replacing a stale socket file)
/// and starts its receive thread; the file is removed when it stops.
pub(crate) fn start_unix(core: &Arc<Core>, path: &Path, running: &mut Running) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::net::UnixDatagram;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            std::fs::remove_file(path)?;
        } else {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "path exists and is not a socket",
            ));
        }
    }
    let sock = UnixDatagram::bind(path)?;
    sock.set_read_timeout(Some(POLL))?;
    let core = core.clone();
    let path = path.to_path_buf();
    let handle = std::thread::Builder::new()
        .name("statsd-unix".into())
        .spawn(move || {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                let stopping = core.stop.load(Ordering::Relaxed);
                if stopping {
                    let _ = sock.set_nonblocking(true);
                }
                match sock.recv(&mut buf) {
                    Ok(len) => core.handle_datagram(&buf[..len], &"unix"),
                    Err(e) => {
                        if !matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                        ) {
                            core.stats.udp_errors.fetch_add(1, Ordering::Relaxed);
                        }
                        if stopping {
                            break;
                        }
                    }
                }
            }
            let _ = std::fs::remove_file(&path);
        })?;
    running.add_listener(handle);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_lets_a_fast_stream_fill_at_most_half_the_buffer() {
        use std::time::Duration;
        // Root's forced 8 MiB (reported doubled): capped at the longest wait.
        assert_eq!(batch_wait(16 << 20), Duration::from_millis(10));
        // 8 MiB granted: 3,276 queued datagrams, 8.19 ms at 400,000/s.
        assert_eq!(batch_wait(8 << 20), Duration::from_micros(8190));
        // The kernel's default without root, and nothing known: the shortest.
        assert_eq!(batch_wait(425_984), Duration::from_micros(500));
        assert_eq!(batch_wait(0), Duration::from_micros(500));
        for granted in [1 << 20, 4 << 20, 8 << 20, 16 << 20, 64 << 20] {
            let wait = batch_wait(granted);
            let queued = wait.as_secs_f64() * FASTEST_STREAM as f64 * QUEUED_DATAGRAM_BYTES as f64;
            assert!(queued <= granted as f64 / 2.0, "{granted}: {wait:?}");
        }
    }

    #[test]
    fn socket_drops_counts_what_a_full_receive_buffer_refused() {
        // The smallest buffer the kernel grants holds a few 1 KB datagrams;
        // loopback delivers in the sender's call, so once the sends return
        // every datagram is either queued or dropped.
        let sock = new_socket("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        let addr = sock.local_addr().unwrap().as_socket().unwrap();
        let fd = sock.as_raw_fd();
        assert_eq!(socket_drops(fd), Some(0));
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sent = 200u64;
        for _ in 0..sent {
            sender.send_to(&[b'x'; 1024], addr).unwrap();
        }
        sock.set_nonblocking(true).unwrap();
        let mut queued = 0u64;
        let mut buf = [std::mem::MaybeUninit::new(0u8); 2048];
        while sock.recv(&mut buf).is_ok() {
            queued += 1;
        }
        let drops = socket_drops(fd).unwrap();
        assert!(drops > 0, "a {queued}-datagram buffer dropped nothing");
        assert_eq!(drops + queued, sent);
    }

    struct Collect(std::sync::Mutex<Vec<storage::MetricPoint>>);

    impl storage::Ingest for Collect {
        fn ingest(
            &self,
            p: Vec<storage::MetricPoint>,
        ) -> Result<storage::IngestReport, storage::IngestError> {
            self.0.lock().unwrap().extend(p);
            Ok(storage::IngestReport::default())
        }
    }

    fn stat(core: &Core, name: &str) -> u64 {
        core.stats
            .snapshot(&[])
            .into_iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| v)
    }

    /// Sends a trickle (waiting until each part is counted), then a burst
    /// that is still in the socket when the stop comes; every datagram
    /// must be aggregated, the burst by the drain at stop.
    #[test]
    fn receives_every_datagram_and_drains_at_stop() {
        let raw = crate::config::RawConfig {
            udp: String::new(),
            tcp: String::new(),
            admin: String::new(),
            ..crate::config::RawConfig::default()
        };
        let sink = Arc::new(Collect(std::sync::Mutex::new(Vec::new())));
        let core = Arc::new(Core::new(raw.validate().unwrap(), sink.clone(), None));
        let sock = new_socket("127.0.0.1:0".parse().unwrap(), 8 << 20).unwrap();
        let addr = sock.local_addr().unwrap().as_socket().unwrap();
        let drops = Arc::new(AtomicU64::new(0));
        let receiver = {
            let (core, drops) = (core.clone(), drops.clone());
            std::thread::spawn(move || recv_loop(&core, &sock, &drops))
        };
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (mut packets, mut metrics) = (0u64, 0u64);
        let wait_counted = |packets: u64| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while stat(&core, "packets_received") < packets {
                assert!(
                    std::time::Instant::now() < deadline,
                    "datagrams not received"
                );
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        };
        // Empty datagrams are datagrams received, with no metric.
        for round in 0..3 {
            for i in 0..100 {
                sender
                    .send_to(format!("hits:1|c\nk{i}:{round}|g").as_bytes(), addr)
                    .unwrap();
                sender.send_to(b"", addr).unwrap();
                packets += 2;
                metrics += 2;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // The largest datagram arrives whole.
        let line = b"big:1|c\n";
        let big: Vec<u8> = line
            .iter()
            .copied()
            .cycle()
            .take(65_000 / line.len() * line.len())
            .collect();
        sender.send_to(&big, addr).unwrap();
        packets += 1;
        metrics += (big.len() / line.len()) as u64;
        wait_counted(packets);
        for i in 0..3000 {
            sender
                .send_to(format!("hits:1|c\nburst{i}:1|ms").as_bytes(), addr)
                .unwrap();
            packets += 1;
            metrics += 2;
        }
        core.stop.store(true, Ordering::SeqCst);
        receiver.join().unwrap();
        assert_eq!(stat(&core, "packets_received"), packets);
        assert_eq!(stat(&core, "metrics_received"), metrics);
        assert_eq!(stat(&core, "bad_lines_seen"), 0);
        assert_eq!(drops.load(Ordering::Relaxed), 0);
        core.flush(1_000);
        let points = sink.0.lock().unwrap();
        let value = |name: &str| points.iter().find(|p| p.name == name).map(|p| p.value);
        assert_eq!(value("stats_counts.hits"), Some(300.0 + 3000.0));
        assert_eq!(
            value("stats_counts.big"),
            Some((big.len() / line.len()) as f64)
        );
        assert_eq!(value("stats.gauges.k99"), Some(2.0));
    }
}
