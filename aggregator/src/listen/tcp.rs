//! StatsD over TCP, framed as the reference's `servers/tcp.js`: bytes are
//! decoded as Node's `ascii` (high bit cleared), buffered up to the *last*
//! newline of each read, and that text is one packet. Unlike the reference
//! a line is bounded (`tcp_max_line`): a longer one is discarded up to its
//! newline and counted as a bad line. Connections are bounded too.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::error::{ParseError, ParseErrorKind};
use crate::listen::{wake_addr, POLL};
use crate::server::{Core, Running};

/// Binds `addr` and starts an accept thread named `thread_name` that serves
/// each connection with `handler` (see [`serve`]); the StatsD TCP listener
/// and the admin console both start this way.
pub(crate) fn start_accepting(
    core: &Arc<Core>,
    addr: SocketAddr,
    running: &mut Running,
    (thread_name, connection_thread_name): (&str, &'static str),
    handler: fn(&Core, TcpStream, SocketAddr),
) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    let accept_core = core.clone();
    let handle = std::thread::Builder::new()
        .name(thread_name.into())
        .spawn(move || serve(&accept_core, listener, connection_thread_name, handler))?;
    running.add_listener(handle);
    running.add_waker(Box::new(move || {
        let _ = TcpStream::connect_timeout(&wake_addr(bound), POLL);
    }));
    Ok(bound)
}

/// What one read of a connection gave.
pub(crate) enum Received {
    /// This many bytes.
    Bytes(usize),
    /// Nothing within the poll interval (the caller checks for a stop).
    Nothing,
    /// The peer closed, or the connection failed.
    Closed,
}

/// One read with the poll timeout set at accept: timeouts and interrupts
/// are [`Received::Nothing`], so the caller can look at the stop flag.
pub(crate) fn read_some(stream: &mut TcpStream, buf: &mut [u8]) -> Received {
    match stream.read(buf) {
        Ok(0) => Received::Closed,
        Ok(n) => Received::Bytes(n),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
            ) =>
        {
            Received::Nothing
        }
        Err(_) => Received::Closed,
    }
}

/// Accept loop shared by the StatsD TCP listener and the admin console:
/// at most `tcp_max_connections` connection threads, all joined on stop.
pub(crate) fn serve(
    core: &Arc<Core>,
    listener: TcpListener,
    thread_name: &'static str,
    handler: fn(&Core, TcpStream, SocketAddr),
) {
    let open = Arc::new(AtomicUsize::new(0));
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    let mut accept_errors = storage::net::AcceptErrors::new(thread_name);
    for incoming in listener.incoming() {
        if core.stop.load(Ordering::SeqCst) {
            break;
        }
        conns.retain(|h| !h.is_finished());
        let stream = match incoming {
            Ok(s) => s,
            Err(e) => {
                std::thread::sleep(accept_errors.pause_after(&e));
                continue;
            }
        };
        if open.load(Ordering::SeqCst) >= core.settings.tcp_max_connections {
            core.stats
                .tcp_connections_refused
                .fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let peer = stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let _ = stream.set_read_timeout(Some(POLL));
        open.fetch_add(1, Ordering::SeqCst);
        let core = core.clone();
        let open2 = open.clone();
        match std::thread::Builder::new()
            .name(thread_name.into())
            .spawn(move || {
                handler(&core, stream, peer);
                open2.fetch_sub(1, Ordering::SeqCst);
            }) {
            Ok(h) => conns.push(h),
            Err(e) => {
                open.fetch_sub(1, Ordering::SeqCst);
                tracing::warn!(error = %e, "cannot start a connection thread");
            }
        }
    }
    for h in conns {
        let _ = h.join();
    }
}

/// Frames one StatsD TCP stream.
pub(crate) fn connection(core: &Core, mut stream: TcpStream, peer: SocketAddr) {
    let max_line = core.settings.tcp_max_line;
    let mut pending: Vec<u8> = Vec::new();
    let mut discarding = false;
    let mut buf = vec![0u8; 64 * 1024];
    let peer_text = format!("tcp:{peer}");
    loop {
        let stopping = core.stop.load(Ordering::Relaxed);
        if stopping {
            // Drain what already arrived, then stop.
            let _ = stream.set_nonblocking(true);
        }
        let n = match read_some(&mut stream, &mut buf) {
            Received::Bytes(n) => n,
            Received::Nothing if !stopping => continue,
            Received::Nothing | Received::Closed => return,
        };
        // Node's 'ascii' decoding clears the high bit of every byte.
        let chunk = buf[..n].iter().map(|b| b & 0x7f);
        let start = pending.len();
        pending.extend(chunk);
        let Some(last_nl) = pending[start..]
            .iter()
            .rposition(|b| *b == b'\n')
            .map(|i| i + start)
        else {
            if pending.len() > max_line {
                if !discarding {
                    core.bad(
                        &ParseError::new(
                            ParseErrorKind::LineTooLong,
                            &String::from_utf8_lossy(&pending[..64.min(pending.len())]),
                        ),
                        &peer_text,
                    );
                }
                discarding = true;
                pending.clear();
            }
            continue;
        };
        let mut packet = &pending[..=last_nl];
        if discarding {
            // Skip the rest of the over-long line.
            let first_nl = packet.iter().position(|b| *b == b'\n').unwrap_or(0);
            packet = &packet[first_nl + 1..];
            discarding = false;
        }
        if !packet.is_empty() {
            core.handle_datagram(packet, &peer_text);
        }
        pending.drain(..=last_nl);
    }
}
