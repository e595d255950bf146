//! `ferrograph send`: a small client for the tour and for scripts, so no
//! `nc` is needed. StatsD lines go over UDP (one datagram per line, as most
//! StatsD clients send them) or TCP; carbon plaintext lines over TCP.
//!
//! `ferrograph wait-ready`: polls `GET /health` until the daemon answers
//! that every listener is bound, so a script can send right after start.

use std::io::{BufRead, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Arguments of `ferrograph send`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// Lines to send, e.g. 'deploys:1|c'; `-` reads lines from stdin.
    #[arg(required = true)]
    pub lines: Vec<String>,
    /// Where to send (default 127.0.0.1:8125, or 127.0.0.1:2003 with --carbon).
    #[arg(long)]
    pub to: Option<String>,
    /// StatsD over TCP (newline-separated) instead of UDP.
    #[arg(long, conflicts_with = "carbon")]
    pub tcp: bool,
    /// carbon plaintext lines (`path value [timestamp]`) over TCP; a line
    /// without a timestamp gets the current time.
    #[arg(long)]
    pub carbon: bool,
}

/// Sends every line; fails (non-zero exit) if the destination cannot be
/// resolved or a TCP connection is refused.
pub fn run(args: SendArgs) -> anyhow::Result<()> {
    let default = if args.carbon {
        "127.0.0.1:2003"
    } else {
        "127.0.0.1:8125"
    };
    let to = args.to.as_deref().unwrap_or(default);
    let addr = resolve(to)?;
    let mut lines = Vec::new();
    for line in &args.lines {
        if line == "-" {
            for l in std::io::stdin().lock().lines() {
                lines.push(l.context("reading lines from stdin")?);
            }
        } else {
            lines.push(line.clone());
        }
    }
    let lines: Vec<String> = lines
        .into_iter()
        .map(|l| l.trim_end_matches(['\r', '\n']).to_string())
        .filter(|l| !l.trim().is_empty())
        .collect();
    if args.carbon {
        let now = unix_now();
        let lines: Vec<String> = lines.iter().map(|l| with_timestamp(l, now)).collect();
        send_tcp(addr, &lines)
    } else if args.tcp {
        send_tcp(addr, &lines)
    } else {
        send_udp(addr, &lines)
    }
}

fn resolve(to: &str) -> anyhow::Result<SocketAddr> {
    to.to_socket_addrs()
        .with_context(|| format!("--to {to:?} is not host:port"))?
        .next()
        .with_context(|| format!("--to {to:?} resolves to no address"))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// carbon needs `path value timestamp`; `path value` gets `now`.
fn with_timestamp(line: &str, now: i64) -> String {
    if line.split_whitespace().count() == 2 {
        format!("{} {now}", line.trim())
    } else {
        line.trim().to_string()
    }
}

fn send_udp(addr: SocketAddr, lines: &[String]) -> anyhow::Result<()> {
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let socket = UdpSocket::bind(bind).context("opening a UDP socket")?;
    for line in lines {
        socket
            .send_to(line.as_bytes(), addr)
            .with_context(|| format!("sending to udp://{addr}"))?;
    }
    Ok(())
}

fn send_tcp(addr: SocketAddr, lines: &[String]) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("connecting to tcp://{addr}"))?;
    let mut payload = String::new();
    for line in lines {
        payload.push_str(line);
        payload.push('\n');
    }
    stream
        .write_all(payload.as_bytes())
        .with_context(|| format!("sending to tcp://{addr}"))?;
    stream.flush().ok();
    // Half-close and wait for the peer to close, so every byte is read
    // before this process exits.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = std::io::Read::read(&mut stream, &mut [0u8; 64]);
    Ok(())
}

/// Arguments of `ferrograph wait-ready`.
#[derive(Debug, clap::Args)]
pub struct WaitReadyArgs {
    /// The HTTP API's address (host:port), as in `[render] http`.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: String,
    /// How long to wait before giving up (exit 1), e.g. "60s".
    #[arg(long, default_value = "120s")]
    pub timeout: String,
}

/// Polls `GET /health` until it answers 200.
pub fn wait_ready(args: WaitReadyArgs) -> anyhow::Result<()> {
    let timeout = storage::api::parse_duration(&args.timeout)
        .map_err(|e| anyhow::anyhow!("--timeout: {e}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        let last = match resolve(&args.http).and_then(health) {
            Ok(200) => {
                println!("ready");
                return Ok(());
            }
            Ok(status) => format!("/health answered {status}"),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("not ready after {}: {last}", args.timeout);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One `GET /health`; returns the status code.
fn health(addr: SocketAddr) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("connecting to http://{addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut status_line = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut status_line)
        .context("reading the answer to /health")?;
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP answer: {status_line:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carbon_lines_without_a_timestamp_get_now() {
        assert_eq!(with_timestamp("a.b 1", 100), "a.b 1 100");
        assert_eq!(with_timestamp(" a.b 1 7 ", 100), "a.b 1 7");
    }

    #[test]
    fn udp_lines_arrive_one_datagram_each() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        send_udp(addr, &["a:1|c".into(), "b:2|ms".into()]).unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"a:1|c");
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"b:2|ms");
    }
}
