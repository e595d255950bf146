//! l2met log metrics around the binary: the `[logs]` section, the sink that
//! `POST /logs` feeds into the running StatsD aggregator, the optional
//! syslog UDP listener, and `ferrograph logs` (stdin lines to StatsD).
//! The parsing is the aggregator's (`aggregator::l2met`).

use std::io::BufRead;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use aggregator::l2met::{self, LogInput, LogOptions};
use anyhow::Context;
use render_api::{LogAccepted, LogFormat, LogSink};
use serde::Deserialize;

/// `[logs]` as written in the config file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogsConfig {
    /// Serve `POST /logs` (a Heroku-style log drain) on the HTTP listener.
    pub drain: bool,
    /// Largest `POST /logs` body, in bytes; a larger one gets 413.
    pub max_body: usize,
    /// `source=x` becomes the tag `;source=x` (off: ignored).
    pub source_tag: bool,
    /// Syslog (RFC 5424) over UDP, "host:port"; "" = off.
    pub syslog: String,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            drain: true,
            max_body: 1 << 20,
            source_tag: false,
            syslog: String::new(),
        }
    }
}

impl LogsConfig {
    /// How log metrics are named.
    pub fn options(&self) -> LogOptions {
        LogOptions {
            source_tag: self.source_tag,
        }
    }
}

/// The `/logs` sink of `ferrograph serve`: the HTTP API starts before the
/// aggregator, so the aggregator's input is set once it runs; until then
/// (while `/health` still answers 503) bodies are read and dropped.
#[derive(Default)]
pub struct PipelineLogSink {
    input: OnceLock<LogInput>,
}

impl PipelineLogSink {
    /// Connects the sink to the running aggregator.
    pub fn connect(&self, input: LogInput) {
        if self.input.set(input).is_err() {
            tracing::error!("the log sink was connected twice");
        }
    }
}

impl LogSink for PipelineLogSink {
    fn accept(&self, format: LogFormat, body: &[u8]) -> LogAccepted {
        let Some(input) = self.input.get() else {
            return LogAccepted::default();
        };
        let report = match format {
            LogFormat::Logplex => input.logplex(body),
            LogFormat::Lines => input.lines(&String::from_utf8_lossy(body)),
        };
        LogAccepted {
            lines: report.lines,
            metrics: report.metrics,
            bad_frames: report.bad_frames,
            bad_fields: report.bad_fields,
        }
    }

    fn too_large(&self) {
        if let Some(input) = self.input.get() {
            input.count_too_large();
        }
    }
}

/// The syslog UDP listener: one datagram is one RFC 5424 message.
pub struct SyslogListener {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SyslogListener {
    /// Binds `addr` and feeds every datagram to `input`.
    pub fn start(addr: SocketAddr, input: LogInput) -> anyhow::Result<SyslogListener> {
        let socket = UdpSocket::bind(addr)
            .with_context(|| format!("[logs] syslog: cannot listen on {addr}"))?;
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .context("[logs] syslog: setting the read timeout")?;
        let local = socket
            .local_addr()
            .context("[logs] syslog: local address")?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("statsd-syslog".into())
            .spawn(move || {
                let mut buf = vec![0u8; 65_536];
                while !stopped.load(Ordering::Relaxed) {
                    match socket.recv_from(&mut buf) {
                        Ok((n, _)) => {
                            input.syslog(&buf[..n]);
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "syslog receive failed");
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
            })
            .context("[logs] syslog: starting the thread")?;
        Ok(SyslogListener {
            addr: local,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops and joins the thread.
    pub fn shutdown(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SyslogListener {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// `ferrograph logs`: l2met lines from stdin to a StatsD server.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The StatsD server (UDP).
    #[arg(long, default_value = "127.0.0.1:8125")]
    pub statsd: String,
    /// Send `source=x` as the DogStatsD tag `source:x` (off: ignored).
    #[arg(long)]
    pub source_tag: bool,
}

/// Largest datagram sent: safe below common MTUs.
const MAX_DATAGRAM: usize = 1400;

/// Reads stdin to its end, sending the metrics of every line as StatsD
/// over UDP; bad fields are reported on stderr (the first ten, then a
/// count) and skipped.
pub fn run(args: LogsArgs) -> anyhow::Result<()> {
    use std::net::ToSocketAddrs;
    let to = args
        .statsd
        .to_socket_addrs()
        .with_context(|| format!("--statsd {}: cannot resolve", args.statsd))?
        .next()
        .with_context(|| format!("--statsd {}: no address", args.statsd))?;
    let bind = if to.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" };
    let socket = UdpSocket::bind(bind).context("binding a UDP socket")?;
    let (mut lines, mut metrics, mut bad) = (0u64, 0u64, 0u64);
    let mut datagram = String::new();
    let mut text = String::new();
    let send = |datagram: &mut String| -> anyhow::Result<()> {
        if !datagram.is_empty() {
            socket
                .send_to(datagram.trim_end().as_bytes(), to)
                .with_context(|| format!("sending to {to}"))?;
            datagram.clear();
        }
        Ok(())
    };
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading stdin")?;
        lines += 1;
        let parsed = l2met::parse_line(&line);
        for e in &parsed.errors {
            bad += 1;
            if bad <= 10 {
                eprintln!("line {lines}: {:?} ignored: {}", e.field, e.reason);
            }
        }
        metrics += parsed.metrics.len() as u64;
        text.clear();
        l2met::statsd_lines(&parsed, args.source_tag, &mut text);
        for statsd_line in text.lines() {
            if datagram.len() + statsd_line.len() + 1 > MAX_DATAGRAM {
                send(&mut datagram)?;
            }
            datagram.push_str(statsd_line);
            datagram.push('\n');
        }
        // sent per input line: `tail -F` never ends stdin
        send(&mut datagram)?;
    }
    eprintln!("{lines} lines, {metrics} metrics sent to {to}, {bad} bad fields skipped");
    Ok(())
}
