//! The receiving side: one UDP thread and a TCP listener with a thread per
//! connection. Neither ever waits on a node: a full node queue drops (and
//! counts) the lines, so senders are never blocked by the proxy.

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::config::MAX_DATAGRAM;
use super::route::{Dispatcher, Shared};

/// How long a blocked read waits before looking at the stop flag.
pub const STOP_POLL: Duration = Duration::from_millis(100);
/// At stop, how long a receiver keeps reading what was sent before it (a
/// sender that keeps sending cannot hold the shutdown).
const STOP_DRAIN: Duration = Duration::from_secs(1);
/// Datagrams read back to back before the packets being filled are handed
/// to the node queues.
const UDP_BURST: usize = 256;

/// Binds the UDP listener (SO_RCVBUF as configured).
pub fn bind_udp(addr: SocketAddr, receive_buffer: usize) -> anyhow::Result<UdpSocket> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, None)
        .context("cannot create the UDP socket")?;
    if let Err(e) = socket.set_recv_buffer_size(receive_buffer) {
        tracing::warn!(error = %e, receive_buffer, "cannot set the UDP receive buffer size");
    }
    socket
        .bind(&addr.into())
        .with_context(|| format!("cannot bind UDP {addr}"))?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(STOP_POLL))?;
    Ok(socket)
}

/// Starts the UDP receiving thread.
pub fn spawn_udp(shared: Arc<Shared>, socket: UdpSocket) -> anyhow::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("proxy-udp".into())
        .spawn(move || udp_loop(&shared, &socket))
        .context("cannot start the UDP thread")
}

fn udp_loop(shared: &Arc<Shared>, socket: &UdpSocket) {
    let mut dispatcher = Dispatcher::new(shared.clone());
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let stats = &shared.stats;
    let mut error_logged = false;
    while !shared.stop.load(Ordering::Relaxed) {
        // Wait (bounded) for one datagram, then drain what is already
        // queued without blocking, so a burst fills whole packets and an
        // idle moment sends what there is at once.
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => {
                // Unexpected (e.g. ENOMEM): no busy loop, no log flood.
                if !error_logged {
                    tracing::warn!(error = %e, "UDP receive failed; retrying");
                    error_logged = true;
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        dispatcher.refresh();
        let mut packets = 1u64;
        let mut lines = dispatcher.lines(&buf[..n]);
        if socket.set_nonblocking(true).is_ok() {
            while (packets as usize) < UDP_BURST {
                match socket.recv(&mut buf) {
                    Ok(n) => {
                        packets += 1;
                        lines += dispatcher.lines(&buf[..n]);
                    }
                    Err(_) => break,
                }
            }
            let _ = socket.set_nonblocking(false);
        }
        dispatcher.flush();
        stats.packets_udp.fetch_add(packets, Ordering::Relaxed);
        stats.lines_udp.fetch_add(lines, Ordering::Relaxed);
    }
    // Stopping: what the kernel already holds was sent before the stop,
    // so it is routed too (bounded: the receive buffer's contents).
    let until = Instant::now() + STOP_DRAIN;
    if socket.set_nonblocking(true).is_ok() {
        dispatcher.refresh();
        while Instant::now() < until {
            let Ok(n) = socket.recv(&mut buf) else { break };
            stats.packets_udp.fetch_add(1, Ordering::Relaxed);
            let lines = dispatcher.lines(&buf[..n]);
            stats.lines_udp.fetch_add(lines, Ordering::Relaxed);
        }
    }
    dispatcher.flush();
}

/// Starts the TCP accept thread; it joins its connections at stop.
pub fn spawn_tcp(shared: Arc<Shared>, listener: TcpListener) -> anyhow::Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("proxy-tcp".into())
        .spawn(move || accept_loop(&shared, &listener))
        .context("cannot start the TCP thread")
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let stopping = shared.stop.load(Ordering::Relaxed);
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            // At stop, connections already in the backlog are still read
            // (their handlers see the stop and only drain what was sent).
            Err(e) if e.kind() == ErrorKind::WouldBlock && stopping => break,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(_) if stopping => break,
            // e.g. EMFILE: wait for descriptors to free up, no busy loop.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        connections.retain(|h| !h.is_finished());
        if active.load(Ordering::Relaxed) >= shared.settings.tcp_max_connections {
            shared.stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        active.fetch_add(1, Ordering::Relaxed);
        let (shared2, active2) = (shared.clone(), active.clone());
        match std::thread::Builder::new()
            .name("proxy-tcp-conn".into())
            .spawn(move || {
                connection(&shared2, stream);
                active2.fetch_sub(1, Ordering::Relaxed);
            }) {
            Ok(h) => connections.push(h),
            Err(_) => {
                active.fetch_sub(1, Ordering::Relaxed);
                shared.stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    for h in connections {
        let _ = h.join();
    }
}

/// Reads newline-terminated lines until EOF or stop. As Etsy's TCP server,
/// only terminated lines count: an unterminated tail at EOF is ignored.
fn connection(shared: &Arc<Shared>, mut stream: TcpStream) {
    if stream.set_nonblocking(false).is_err() || stream.set_read_timeout(Some(STOP_POLL)).is_err() {
        return;
    }
    let mut dispatcher = Dispatcher::new(shared.clone());
    let mut pending: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut buf = vec![0u8; 64 << 10];
    // Inside a line too long to forward: skip to its end.
    let mut skipping = false;
    let stats = &shared.stats;
    // At stop, what the socket already holds is still read (without
    // waiting for more), then the connection ends.
    let mut stopping = false;
    let mut until = Instant::now();
    loop {
        if !stopping && shared.stop.load(Ordering::Relaxed) {
            stopping = stream.set_nonblocking(true).is_ok();
            until = Instant::now() + STOP_DRAIN;
            if !stopping {
                break;
            }
        }
        if stopping && Instant::now() >= until {
            break;
        }
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Err(e) if stopping && e.kind() == ErrorKind::WouldBlock => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(_) => break,
        };
        let mut data = &buf[..n];
        if skipping {
            match data.iter().position(|b| *b == b'\n') {
                Some(at) => {
                    skipping = false;
                    data = &data[at + 1..];
                }
                None => continue,
            }
        }
        pending.extend_from_slice(data);
        if let Some(last) = pending.iter().rposition(|b| *b == b'\n') {
            dispatcher.refresh();
            let lines = dispatcher.lines(&pending[..last]);
            dispatcher.flush();
            stats.lines_tcp.fetch_add(lines, Ordering::Relaxed);
            pending.drain(..=last);
        }
        if pending.len() > MAX_DATAGRAM {
            stats.lines_too_long.fetch_add(1, Ordering::Relaxed);
            stats.lines_tcp.fetch_add(1, Ordering::Relaxed);
            pending.clear();
            skipping = true;
        }
    }
    dispatcher.flush();
}
