//! UDP (and Unix datagram) receive: one SO_REUSEPORT socket per thread so
//! the kernel spreads datagrams over them, `recvmmsg` batches with
//! `MSG_WAITFORONE` (a lone datagram is returned at once, never held for a
//! full batch), a large SO_RCVBUF, and kernel drop accounting through
//! `SO_RXQ_OVFL`, reported as the `udp_kernel_drops` self-metric.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::listen::POLL;
use crate::server::{Core, Running};

/// Largest UDP payload; a buffer this size never truncates.
const MAX_DATAGRAM: usize = 65536;

/// How long a receive thread waits after a partial batch before reading
/// again, when its receive buffer is at least [`ROOMY_BUFFER`]. At 100,000
/// datagrams/s it turns one wake-up per datagram into one per ~200 (the
/// daemon's CPU per metric at that rate: 1.28 CPU-s per million against 1.58
/// with 0.5 ms). 2 ms of a 100,000/s stream of small datagrams is ~200
/// buffers of about 1 KB of kernel memory each: far inside 4 MB.
const BATCH_WAIT: std::time::Duration = std::time::Duration::from_micros(2000);

/// The wait when the kernel granted less than [`ROOMY_BUFFER`] (an
/// `rmem_max` cap, e.g. the 208 KB default without root): 0.5 ms of that
/// stream is ~50 buffers, inside even the capped default.
const SHORT_BATCH_WAIT: std::time::Duration = std::time::Duration::from_micros(500);

/// A receive buffer this large absorbs [`BATCH_WAIT`] of a heavy stream.
const ROOMY_BUFFER: usize = 4 << 20;

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

fn new_socket(addr: SocketAddr, rcvbuf: usize) -> io::Result<Socket> {
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
    if let Err(e) = set_int_opt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1) {
        tracing::warn!(error = %e, "SO_RXQ_OVFL unavailable: kernel drops will not be counted");
    }
    sock.set_read_timeout(Some(POLL))?;
    sock.bind(&addr.into())?;
    Ok(sock)
}

/// The sender of a datagram, turned into text only when a log line needs it.
struct Peer<'a>(&'a libc::sockaddr_storage, libc::socklen_t);

impl std::fmt::Display for Peer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // SAFETY: the storage was filled by the kernel for this datagram and
        // `self.1` is the length it reported (at most the storage size).
        let addr = unsafe { SockAddr::new(*self.0, self.1) };
        match addr.as_socket() {
            Some(a) => write!(f, "udp:{a}"),
            None => f.write_str("udp:?"),
        }
    }
}

/// Buffers for one `recvmmsg` call; the pointers inside `hdrs` point into
/// the other vectors, which are never resized after construction.
struct Batch {
    bufs: Vec<u8>,
    names: Vec<libc::sockaddr_storage>,
    ctrl: Vec<u64>,
    ctrl_len: usize,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl Batch {
    fn new(n: usize) -> Batch {
        // SAFETY: CMSG_SPACE is a pure size computation.
        let ctrl_len = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u32>() as u32) } as usize;
        let ctrl_words = ctrl_len.div_ceil(8);
        let mut b = Batch {
            bufs: vec![0u8; n * MAX_DATAGRAM],
            // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
            names: vec![unsafe { std::mem::zeroed() }; n],
            ctrl: vec![0u64; n * ctrl_words],
            ctrl_len: ctrl_words * 8,
            iovs: Vec::with_capacity(n),
            hdrs: Vec::with_capacity(n),
        };
        for i in 0..n {
            b.iovs.push(libc::iovec {
                iov_base: b.bufs[i * MAX_DATAGRAM..].as_mut_ptr().cast(),
                iov_len: MAX_DATAGRAM,
            });
        }
        for i in 0..n {
            // SAFETY: mmsghdr is plain old data; all-zero is valid and every
            // pointer field is set right below.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = (&mut b.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_iov = &mut b.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = b.ctrl[i * ctrl_words..].as_mut_ptr().cast();
            b.hdrs.push(h);
        }
        b
    }

    fn reset(&mut self) {
        for h in &mut self.hdrs {
            h.msg_hdr.msg_namelen =
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_controllen = self.ctrl_len as _;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
    }

    /// The SO_RXQ_OVFL drop counter attached to message `i`, if any.
    fn drops(&self, i: usize) -> Option<u32> {
        let mhdr = &self.hdrs[i].msg_hdr;
        // SAFETY: `mhdr` describes our control buffer, filled by the kernel
        // with `msg_controllen` valid bytes; the CMSG_* helpers stay inside
        // it, and the u32 payload is read unaligned.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(mhdr);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_RXQ_OVFL {
                    return Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u32>()));
                }
                c = libc::CMSG_NXTHDR(mhdr, c);
            }
        }
        None
    }
}

fn recv_loop(core: &Core, sock: &Socket, drops: &AtomicU64) {
    let n = core.settings.udp_batch.max(1);
    let batch_wait = match sock.recv_buffer_size() {
        Ok(granted) if granted >= ROOMY_BUFFER => BATCH_WAIT,
        _ => SHORT_BATCH_WAIT,
    };
    let mut batch = Batch::new(n);
    let fd = sock.as_raw_fd();
    loop {
        let stopping = core.stop.load(Ordering::Relaxed);
        batch.reset();
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
            if stopping {
                return;
            }
            continue;
        }
        let got = got as usize;
        let mut metrics = 0;
        for i in 0..got {
            let h = &batch.hdrs[i];
            let len = (h.msg_len as usize).min(MAX_DATAGRAM);
            if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                core.stats.udp_truncated.fetch_add(1, Ordering::Relaxed);
            }
            let data = &batch.bufs[i * MAX_DATAGRAM..i * MAX_DATAGRAM + len];
            let text = utf8_text(data);
            let peer = Peer(&batch.names[i], h.msg_hdr.msg_namelen);
            metrics += core.aggregate_packet(&text, &peer);
        }
        // The kernel's drop count is cumulative per socket: the batch's
        // last message carries the newest figure.
        if let Some(d) = got.checked_sub(1).and_then(|last| batch.drops(last)) {
            drops.fetch_max(d as u64, Ordering::Relaxed);
        }
        if got > 0 {
            core.count_received(got as u64, metrics);
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

/// The datagram as text, invalid UTF-8 replaced as the reference's
/// `toString()` does. Valid text (nearly always) is checked by the std
/// validator's ASCII fast path and borrowed.
fn utf8_text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(data) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(data),
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
                    Ok(len) => {
                        let text = utf8_text(&buf[..len]);
                        core.handle_packet(&text, &"unix");
                    }
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
