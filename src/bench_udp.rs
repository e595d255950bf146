//! `ferrograph bench-udp`: a bounded StatsD load generator over loopback
//! UDP that measures loss, for ferrograph and for Etsy StatsD in the same
//! run.
//!
//! For each rate it starts a fresh daemon (`--daemon ferrograph` runs this
//! binary's `statsd`, `--daemon etsy` runs `node stats.js` from
//! `--etsy-dir`) flushing to a built-in Graphite capture server, sends the
//! configured mix for `--duration`, waits for the flushes that follow, and
//! prints one JSON line: metrics sent, metrics the daemon counted
//! (`stats_counts.statsd.metrics_received` summed over flushes), loss, and
//! the kernel's UDP receive-buffer drops (`/proc/net/snmp` RcvbufErrors)
//! over the trial, and the CPU seconds the daemon used from the first
//! datagram to the last flush (the sum of its threads' `schedstat` run time), per million metrics sent
//! and received. The sender is one thread (`sendmmsg` batches, `--flows`
//! source ports); its own CPU is reported too. `--daemon none --target
//! ADDR` only sends. Traffic goes to
//! 127.0.0.0/8 or ::1 only; count and time are bounded, and a trial's
//! daemon gets SIGTERM if the bench itself is killed.
//!
//! `--daemon drain` is the floor under every daemon: a bare receiver (this
//! binary again, `--drain-at`) that takes the datagrams off the socket the
//! way `ferrograph statsd` does (`recvmmsg` batches of 32 into buffers one
//! cache line more than 64 KB apart, the same wait after a partial batch, an 8 MB receive
//! buffer) and reads one byte of each, nothing more: its CPU per million
//! is what the kernel's receive path costs, so a daemon's distance above
//! it is its own work. It flushes nothing: its metrics received are the
//! metrics sent less the kernel's drops over the trial.
//!
//! `--daemon serve` measures the whole pipeline instead: `ferrograph serve`
//! in a temp data dir (one-second Whisper slots, so every flush owns its
//! slot), StatsD lines in, SIGTERM right after the sending, then the points
//! actually on disk are read back: the counters' sum over every
//! `stats_counts.bench.*` file against the counter lines sent, the non-null
//! points in all files, the drain time from SIGTERM to exit, and the peak
//! resident memory of the daemon.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Arguments of `ferrograph bench-udp`.
#[derive(Debug, clap::Args)]
pub struct BenchUdpArgs {
    /// Which daemon to start for each trial: ferrograph (`statsd`), serve
    /// (the whole pipeline to disk), etsy, drain (the bare receive floor),
    /// or none.
    #[arg(long, default_value = "ferrograph")]
    pub daemon: String,
    /// Target for `--daemon none` (loopback only).
    #[arg(long)]
    pub target: Option<SocketAddr>,
    /// Comma-separated rates in metrics per second, one trial each.
    #[arg(long, default_value = "100000")]
    pub rates: String,
    /// Seconds of sending per trial (at most 120).
    #[arg(long, default_value_t = 5)]
    pub duration: u64,
    /// Metrics per datagram (joined with newlines).
    #[arg(long, default_value_t = 1)]
    pub per_packet: usize,
    /// Distinct metric names, visited round-robin.
    #[arg(long, default_value_t = 10_000)]
    pub names: usize,
    /// Type mix in percent, e.g. c=70,ms=20,g=5,s=5.
    #[arg(long, default_value = "c=70,ms=20,g=5,s=5")]
    pub mix: String,
    /// Flush interval of the daemons under test, milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub flush_ms: u64,
    /// Etsy StatsD package directory (holds stats.js).
    #[arg(
        long,
        default_value = "/opt/ferrograph-refs/statsd/node_modules/statsd"
    )]
    pub etsy_dir: PathBuf,
    /// SO_RCVBUF for Etsy's UDP socket in bytes (0 = its default, no tuning).
    #[arg(long, default_value_t = 0)]
    pub etsy_rcvbuf: usize,
    /// Extra TOML lines for ferrograph's [statsd] section.
    #[arg(long, default_value = "")]
    pub ferrograph_toml: String,
    /// Sender sockets (distinct source ports, as distinct clients), all
    /// driven by the one sending thread; SO_REUSEPORT spreads flows over
    /// the daemon's receive threads.
    #[arg(long, default_value_t = 1)]
    pub flows: usize,
    /// Run as the bare receiver of `--daemon drain` on this address until
    /// killed (started by the bench itself).
    #[arg(long, hide = true)]
    pub drain_at: Option<SocketAddr>,
    /// The ferrograph binary to start for `--daemon ferrograph`/`serve`
    /// (default: this one), to compare two builds under the same sender.
    #[arg(long)]
    pub ferrograph_bin: Option<PathBuf>,
}

const MAX_DURATION_S: u64 = 120;
/// How long a `serve` trial waits for the daemon to drain after SIGTERM.
const SERVE_DRAIN_LIMIT_S: u64 = 600;

fn kernel_rcvbuf_errors() -> u64 {
    // Two "Udp:" lines: names, then values.
    let Ok(text) = std::fs::read_to_string("/proc/net/snmp") else {
        return 0;
    };
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("Udp:")).collect();
    if rows.len() < 2 {
        return 0;
    }
    let names = rows[0].split_whitespace();
    let values = rows[1].split_whitespace();
    names
        .zip(values)
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Builds the datagrams of one round over all names.
fn payloads(names: usize, per_packet: usize, mix: &[(String, u32)]) -> Vec<Payload> {
    let total: u32 = mix.iter().map(|(_, p)| p).sum::<u32>().max(1);
    let kind_of = |i: usize| {
        let slot = (i as u32 * 7919) % total;
        let mut acc = 0;
        for (k, p) in mix {
            acc += p;
            if slot < acc {
                return k.as_str();
            }
        }
        "c"
    };
    let mut lines = Vec::with_capacity(names);
    for i in 0..names {
        let line = match kind_of(i) {
            "ms" => format!("bench.t{i}:{}|ms", i % 100),
            "g" => format!("bench.g{i}:{}|g", i % 1000),
            "s" => format!("bench.s{i}:{}|s", i % 50),
            _ => format!("bench.c{i}:1|c"),
        };
        lines.push(line);
    }
    lines
        .chunks(per_packet.max(1))
        .map(|c| Payload::new(c.join("\n").into_bytes()))
        .collect()
}

struct Capture {
    addr: SocketAddr,
    received: Arc<AtomicU64>,
    last: Arc<std::sync::Mutex<Instant>>,
    flushes: Arc<AtomicU64>,
}

fn capture() -> anyhow::Result<Capture> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let received = Arc::new(AtomicU64::new(0));
    let flushes = Arc::new(AtomicU64::new(0));
    let last = Arc::new(std::sync::Mutex::new(Instant::now()));
    let (r, f, l) = (received.clone(), flushes.clone(), last.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (r, f, l) = (r.clone(), f.clone(), l.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(conn).lines() {
                    let Ok(line) = line else { return };
                    if let Some(rest) = line.strip_prefix("stats_counts.statsd.metrics_received ") {
                        let v: f64 = rest
                            .split(' ')
                            .next()
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0.0);
                        r.fetch_add(v as u64, Ordering::Relaxed);
                        f.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut t) = l.lock() {
                            *t = Instant::now();
                        }
                    }
                }
            });
        }
    });
    Ok(Capture {
        addr,
        received,
        last,
        flushes,
    })
}

fn free_udp_port() -> anyhow::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

struct Started {
    child: Child,
    udp: SocketAddr,
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ferrograph_bin(args: &BenchUdpArgs) -> anyhow::Result<PathBuf> {
    match &args.ferrograph_bin {
        Some(p) => Ok(p.clone()),
        None => Ok(std::env::current_exe()?),
    }
}

/// Starts `command` so that it gets SIGTERM if the bench dies first
/// (killed by a signal, say): a trial's daemon never outlives its bench.
/// The daemons are started by the bench's main thread, which lives as
/// long as the bench (the signal follows the thread that forked).
fn spawn_tied(command: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: the closure runs in the forked child before exec and only
    // calls prctl(2), which is async-signal-safe and touches no memory of
    // the parent's.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    command.spawn()
}

fn start_daemon(
    args: &BenchUdpArgs,
    graphite: SocketAddr,
    dir: &std::path::Path,
) -> anyhow::Result<Started> {
    let port = free_udp_port()?;
    let udp: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let mut command = match args.daemon.as_str() {
        "ferrograph" => {
            let cfg = dir.join("bench.toml");
            std::fs::write(
                &cfg,
                format!(
                    "[statsd]\nudp = \"{udp}\"\ntcp = \"\"\nadmin = \"\"\nflush_interval = \"{}ms\"\ngraphite = \"{graphite}\"\n{}\n",
                    args.flush_ms, args.ferrograph_toml
                ),
            )?;
            let mut command = Command::new(ferrograph_bin(args)?);
            command
                .args(["statsd", "--config"])
                .arg(&cfg)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            command
        }
        "serve" => {
            let schemas = dir.join("schemas.conf");
            std::fs::write(&schemas, "[all]\npattern = .*\nretentions = 1s:1h\n")?;
            // No restart follows the trial: the open interval is flushed to
            // disk at SIGTERM instead of being saved in a state file.
            let cfg = dir.join("serve.toml");
            std::fs::write(
                &cfg,
                format!(
                    "[statsd]\nudp = \"{udp}\"\ntcp = \"\"\nadmin = \"\"\nflush_interval = \"{}ms\"\nstate_file = \"\"\n{}\n\n\
                     [carbon]\nplaintext = \"\"\npickle = \"\"\nudp = \"\"\n\n\
                     [storage]\nschemas = \"{}\"\nself_metrics_interval = \"1s\"\n\n\
                     [render]\nhttp = \"\"\n",
                    args.flush_ms,
                    args.ferrograph_toml,
                    schemas.display()
                ),
            )?;
            // the daemon's log is kept for the trial's report
            let log = std::fs::File::create(dir.join("serve.log"))?;
            let mut command = Command::new(ferrograph_bin(args)?);
            command
                .args(["serve", "--config"])
                .arg(&cfg)
                .arg("--data-dir")
                .arg(dir.join("data"))
                .stdout(Stdio::null())
                .stderr(log);
            command
        }
        "etsy" => {
            let mut cfg = format!(
                "{{port: {port}, address: \"127.0.0.1\", mgmt_port: {}, mgmt_address: \"127.0.0.1\", backends: [\"./backends/graphite\"], graphiteHost: \"127.0.0.1\", graphitePort: {}, flushInterval: {}, automaticConfigReload: false",
                free_udp_port()?,
                graphite.port(),
                args.flush_ms
            );
            if args.etsy_rcvbuf > 0 {
                // Etsy's documented `servers` option with a tiny server
                // module: its stock UDP server plus dgram's recvBufferSize.
                let module = dir.join("udp_rcvbuf.js");
                std::fs::write(
                    &module,
                    "const dgram = require('dgram');\nexports.start = function(config, callback) {\n  const s = dgram.createSocket({type: 'udp4', recvBufferSize: config.rcvbuf}, callback);\n  s.bind(config.port, config.address);\n  return true;\n};\n",
                )?;
                cfg.push_str(&format!(
                    ", servers: [{{server: \"{}\", port: {port}, address: \"127.0.0.1\", rcvbuf: {}}}]",
                    module.display(),
                    args.etsy_rcvbuf
                ));
            }
            cfg.push('}');
            let path = dir.join("etsy.js");
            std::fs::write(&path, cfg)?;
            let mut command = Command::new("node");
            command
                .arg("stats.js")
                .arg(&path)
                .current_dir(&args.etsy_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            command
        }
        "drain" => {
            let mut command = Command::new(std::env::current_exe()?);
            command
                .args(["bench-udp", "--drain-at", &udp.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            command
        }
        other => bail!("unknown --daemon {other:?} (ferrograph, serve, etsy, drain, none)"),
    };
    let child =
        spawn_tied(&mut command).with_context(|| format!("starting the {} daemon", args.daemon))?;

    // Ready when the daemon's UDP port is bound: binding it ourselves fails.
    let deadline = Instant::now() + Duration::from_secs(20);
    while UdpSocket::bind(udp).is_ok() {
        if Instant::now() > deadline {
            bail!("{} did not bind {udp}", args.daemon);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Etsy binds UDP before loading its backend: give it a moment.
    std::thread::sleep(Duration::from_millis(300));
    Ok(Started { child, udp })
}

/// What one trial sent.
struct Sent {
    metrics: u64,
    packets: u64,
    /// Lines of type `c`, each `:1`: what the counters on disk must sum to.
    counters: u64,
    seconds: f64,
    /// CPU seconds the sending thread used (user + system).
    sender_cpu_s: f64,
}

/// One datagram of the round with its line counts, computed once so the
/// sending loop does nothing per datagram but hand it to the kernel.
pub(crate) struct Payload {
    bytes: Vec<u8>,
    lines: u64,
    counters: u64,
}

impl Payload {
    fn new(bytes: Vec<u8>) -> Payload {
        let lines = (bytes.iter().filter(|b| **b == b'\n').count() + 1) as u64;
        let counters = bytes
            .split(|b| *b == b'\n')
            .filter(|l| l.ends_with(b"|c"))
            .count() as u64;
        Payload {
            bytes,
            lines,
            counters,
        }
    }
}

/// Datagrams handed to the kernel per `sendmmsg` call at most.
const SEND_BATCH: usize = 64;

/// CPU seconds (user + system) the calling thread has used.
fn thread_cpu_s() -> f64 {
    // SAFETY: getrusage only writes the rusage struct we pass; all-zero is
    // a valid value of it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD with a valid pointer to our struct.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU seconds (user + system) process `pid` has used: the sum of its
/// threads' run time in `/proc/PID/task/TID/schedstat` (nanoseconds,
/// exact), else `/proc/PID/stat` (clock ticks). The tick figure is sampled:
/// a thread that runs in bursts of a few milliseconds is charged by the
/// ticks that happen to land in a burst, ±10% over a 5 s trial, which hid
/// the differences between builds. A thread that exits between two
/// readings takes its time with it; the daemons measured keep theirs.
fn process_cpu_s(pid: u32) -> Option<f64> {
    threads_run_time_s(pid).or_else(|| stat_cpu_s(pid))
}

fn threads_run_time_s(pid: u32) -> Option<f64> {
    let mut ns = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(text) = std::fs::read_to_string(task.ok()?.path().join("schedstat")) else {
            // the thread ended meanwhile
            continue;
        };
        ns += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(ns as f64 / 1e9)
}

fn stat_cpu_s(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses:
    // state is field 3, utime 14, stime 15.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| (utime + stime) / ticks as f64)
}

/// Sends `rate` metrics/s for `duration` from one thread, spreading the
/// datagrams over `flows` sockets (distinct source ports, as many clients
/// would; the kernel's SO_REUSEPORT spreads flows, not datagrams, over the
/// daemon's receive threads). Due datagrams go out in `sendmmsg` batches.
fn send(
    target: SocketAddr,
    packets: &[Payload],
    per_packet: usize,
    rate: u64,
    duration: Duration,
    flows: usize,
) -> anyhow::Result<Sent> {
    if !target.ip().is_loopback() {
        bail!("bench-udp sends to loopback addresses only, not {target}");
    }
    if packets.is_empty() {
        bail!("no datagrams to send");
    }
    let mut socks = Vec::new();
    for _ in 0..flows.max(1) {
        let sock = UdpSocket::bind(if target.is_ipv4() {
            "127.0.0.1:0"
        } else {
            "[::1]:0"
        })?;
        sock.connect(target)?;
        socks.push(sock);
    }
    let cpu_before = thread_cpu_s();
    let start = Instant::now();
    let packet_rate = (rate as f64 / per_packet.max(1) as f64).max(1.0);
    let max_packets = (packet_rate * duration.as_secs_f64()).ceil() as u64;
    let mut sent_packets = 0u64;
    let mut sent_metrics = 0u64;
    let mut sent_counters = 0u64;
    let mut iovs: Vec<libc::iovec> = Vec::with_capacity(SEND_BATCH);
    let mut hdrs: Vec<libc::mmsghdr> = Vec::with_capacity(SEND_BATCH);
    let mut i = 0usize;
    let mut flow = 0usize;
    while sent_packets < max_packets {
        let now = start.elapsed();
        if now > duration + Duration::from_secs(1) {
            break;
        }
        let due_total = ((now.as_secs_f64() * packet_rate) as u64 + 1).min(max_packets);
        if due_total <= sent_packets {
            let next = Duration::from_secs_f64(sent_packets as f64 / packet_rate);
            std::thread::sleep(next.saturating_sub(now));
            continue;
        }
        let k = ((due_total - sent_packets) as usize).min(SEND_BATCH);
        iovs.clear();
        hdrs.clear();
        for j in 0..k {
            let p = &packets[(i + j) % packets.len()];
            iovs.push(libc::iovec {
                // The kernel only reads from a send buffer.
                iov_base: p.bytes.as_ptr() as *mut libc::c_void,
                iov_len: p.bytes.len(),
            });
        }
        for iov in iovs.iter_mut() {
            // SAFETY: mmsghdr is plain old data; all-zero is valid (no
            // address: the socket is connected) and the iovec is set below.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            hdrs.push(h);
        }
        let fd = std::os::fd::AsRawFd::as_raw_fd(&socks[flow]);
        flow = (flow + 1) % socks.len();
        // SAFETY: `hdrs` holds `k` headers pointing at `iovs` and at the
        // payloads, all alive and unmoved for the call.
        let done = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), k as libc::c_uint, 0) };
        if done <= 0 {
            // ECONNREFUSED from an earlier ICMP, ENOBUFS: skip a datagram
            // (not counted as sent) so the loop cannot spin on it.
            i += 1;
            continue;
        }
        for j in 0..done as usize {
            let p = &packets[(i + j) % packets.len()];
            sent_packets += 1;
            sent_metrics += p.lines;
            sent_counters += p.counters;
        }
        i += done as usize;
    }
    Ok(Sent {
        metrics: sent_metrics,
        packets: sent_packets,
        counters: sent_counters,
        seconds: start.elapsed().as_secs_f64(),
        sender_cpu_s: thread_cpu_s() - cpu_before,
    })
}

/// Runs the trials and prints one JSON line each.
pub fn run(args: BenchUdpArgs) -> anyhow::Result<()> {
    if let Some(addr) = args.drain_at {
        return drain(addr);
    }
    let duration = Duration::from_secs(args.duration.clamp(1, MAX_DURATION_S));
    let mix: Vec<(String, u32)> = args
        .mix
        .split(',')
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .context("--mix wants type=percent pairs")?;
            Ok((k.trim().to_string(), v.trim().parse()?))
        })
        .collect::<anyhow::Result<_>>()?;
    let packets = payloads(args.names.max(1), args.per_packet, &mix);
    let rates: Vec<u64> = args
        .rates
        .split(',')
        .map(|r| r.trim().parse().context("--rates wants numbers"))
        .collect::<anyhow::Result<_>>()?;
    for rate in rates {
        if args.daemon == "none" {
            let target = args.target.context("--daemon none needs --target")?;
            let Sent {
                metrics: m,
                packets: p,
                seconds: secs,
                sender_cpu_s,
                ..
            } = send(
                target,
                &packets,
                args.per_packet,
                rate,
                duration,
                args.flows,
            )?;
            println!(
                "{{\"daemon\":\"none\",\"rate\":{rate},\"sent_metrics\":{m},\"sent_packets\":{p},\"seconds\":{secs:.3},\"sender_cpu_s\":{sender_cpu_s:.3},\"achieved_rate\":{:.0}}}",
                m as f64 / secs.max(1e-9)
            );
            continue;
        }
        let dir = std::env::temp_dir().join(format!("ferrograph-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        if args.daemon == "serve" {
            let result = serve_trial(&args, &dir, &packets, rate, duration);
            let _ = std::fs::remove_dir_all(&dir);
            println!("{}", result?);
            continue;
        }
        let cap = capture()?;
        let daemon = start_daemon(&args, cap.addr, &dir)?;
        let flushes = args.daemon != "drain";
        // Start right after a flush so the intervals are comparable.
        let first = Instant::now();
        while flushes
            && cap.flushes.load(Ordering::Relaxed) == 0
            && first.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let base = cap.received.load(Ordering::Relaxed);
        let drops_before = kernel_rcvbuf_errors();
        let pid = daemon.child.id();
        let cpu_before = process_cpu_s(pid);
        let Sent {
            metrics: m,
            packets: p,
            seconds: secs,
            sender_cpu_s,
            ..
        } = send(
            daemon.udp,
            &packets,
            args.per_packet,
            rate,
            duration,
            args.flows,
        )?;
        let sent_done = Instant::now();
        // Wait for two flushes after the sending, then for quiet.
        let flushes_at_end = cap.flushes.load(Ordering::Relaxed);
        let wait_deadline = sent_done + Duration::from_millis(args.flush_ms * 4 + 5000);
        if !flushes {
            // The drain empties the socket within a batch wait or two.
            std::thread::sleep(Duration::from_millis(200));
        }
        while flushes && Instant::now() < wait_deadline {
            if cap.flushes.load(Ordering::Relaxed) >= flushes_at_end + 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let drops = kernel_rcvbuf_errors().saturating_sub(drops_before);
        let received = if flushes {
            cap.received.load(Ordering::Relaxed) - base
        } else {
            m.saturating_sub(drops * args.per_packet.max(1) as u64)
        };
        // The daemon's CPU from the first datagram until its last flush of
        // them: receiving, aggregating and flushing.
        let cpu = match (cpu_before, process_cpu_s(pid)) {
            (Some(a), Some(b)) => b - a,
            _ => f64::NAN,
        };
        drop(daemon);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = cap.last.lock().map(|t| *t);
        let loss = if m == 0 {
            0.0
        } else {
            1.0 - (received.min(m) as f64 / m as f64)
        };
        let per_million = |n: u64| {
            if n == 0 {
                "null".to_string()
            } else {
                format!("{:.3}", cpu / (n as f64 / 1e6))
            }
        };
        println!(
            "{{\"daemon\":\"{}\",\"rate\":{rate},\"per_packet\":{},\"names\":{},\"flows\":{},\"seconds\":{secs:.3},\"sent_metrics\":{m},\"sent_packets\":{p},\"received_metrics\":{received},\"loss\":{loss:.6},\"kernel_rcvbuf_errors\":{drops},\"achieved_rate\":{:.0},\"daemon_cpu_s\":{cpu:.3},\"cpu_s_per_million_sent\":{},\"cpu_s_per_million_received\":{},\"sender_cpu_s\":{sender_cpu_s:.3}}}",
            args.daemon,
            args.per_packet,
            args.names,
            args.flows,
            m as f64 / secs.max(1e-9),
            per_million(m),
            per_million(received),
        );
    }
    Ok(())
}

/// `VmHWM` (peak resident set, KiB) of a live process.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// What a finished `serve` trial left in its data directory.
#[derive(Default)]
struct OnDisk {
    files: u64,
    points: u64,
    counter_sum: f64,
    /// The daemon's own `metrics_received` count, summed over flushes.
    received: f64,
}

fn read_back(
    dir: &std::path::Path,
    counters_dir: &std::path::Path,
    on: &mut OnDisk,
) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            read_back(&path, counters_dir, on)?;
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("wsp") {
            continue;
        }
        let file = storage::whisper::WhisperFile::open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as i64;
        let fetched = file
            .fetch(now - 3000, now + 60, now, None)
            .with_context(|| format!("fetching {}", path.display()))?;
        on.files += 1;
        let values = fetched.map(|f| f.values).unwrap_or_default();
        on.points += values.iter().flatten().count() as u64;
        if path.starts_with(counters_dir) {
            on.counter_sum += values.iter().flatten().sum::<f64>();
        } else if path.ends_with("stats_counts/statsd/metrics_received.wsp") {
            on.received += values.iter().flatten().sum::<f64>();
        }
    }
    Ok(())
}

/// One whole-pipeline trial; returns its JSON line.
fn serve_trial(
    args: &BenchUdpArgs,
    dir: &std::path::Path,
    packets: &[Payload],
    rate: u64,
    duration: Duration,
) -> anyhow::Result<String> {
    let mut daemon = start_daemon(args, "127.0.0.1:9".parse()?, dir)?;
    let drops_before = kernel_rcvbuf_errors();
    let sent = send(
        daemon.udp,
        packets,
        args.per_packet,
        rate,
        duration,
        args.flows,
    )?;
    let peak_rss = peak_rss_kib(daemon.child.id());
    let term = Instant::now();
    let pid = daemon.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status()?;
    let deadline = term + Duration::from_secs(SERVE_DRAIN_LIMIT_S);
    while daemon.child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            bail!("ferrograph serve did not exit within {SERVE_DRAIN_LIMIT_S} s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let drain = term.elapsed().as_secs_f64();
    // warnings and errors are the daemon's own account of any loss
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
    for line in log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
    {
        eprintln!("serve: {line}");
    }
    let drops = kernel_rcvbuf_errors().saturating_sub(drops_before);
    let data = dir.join("data");
    let mut on = OnDisk::default();
    read_back(&data, &data.join("stats_counts").join("bench"), &mut on)?;
    let loss = if sent.counters == 0 {
        0.0
    } else {
        1.0 - (on.counter_sum.min(sent.counters as f64) / sent.counters as f64)
    };
    Ok(format!(
        "{{\"daemon\":\"serve\",\"rate\":{rate},\"per_packet\":{},\"names\":{},\"seconds\":{:.3},\"sent_metrics\":{},\"sent_packets\":{},\"sent_counters\":{},\"received_by_daemon\":{},\"counters_on_disk\":{},\"counter_loss\":{loss:.6},\"files\":{},\"points_on_disk\":{},\"drain_seconds\":{drain:.3},\"peak_rss_kib\":{peak_rss},\"kernel_rcvbuf_errors\":{drops},\"achieved_rate\":{:.0}}}",
        args.per_packet,
        args.names,
        sent.seconds,
        sent.metrics,
        sent.packets,
        sent.counters,
        on.received,
        on.counter_sum,
        on.files,
        on.points,
        sent.metrics as f64 / sent.seconds.max(1e-9)
    ))
}

/// The receiver of `--daemon drain`: `ferrograph statsd`'s socket setup and
/// receive pattern (aggregator/src/listen/udp.rs) without the parsing, so
/// its CPU is the kernel's share of receiving. Runs until killed.
fn drain(addr: SocketAddr) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    // The daemon's defaults: udp_batch, udp_receive_buffer, the buffer
    // spacing; its socket setup and its wait after a partial batch.
    use aggregator::listen::udp::{BUFFER_STRIDE as STRIDE, MAX_DATAGRAM};
    const BATCH: usize = 32;
    const RECEIVE_BUFFER: usize = 8 << 20;
    let sock = aggregator::listen::udp::new_socket(addr, RECEIVE_BUFFER)?;
    let wait = aggregator::listen::udp::batch_wait(sock.recv_buffer_size()?);
    let mut bufs = vec![0u8; BATCH * STRIDE];
    let mut iovs: Vec<libc::iovec> = (0..BATCH)
        .map(|i| libc::iovec {
            iov_base: bufs[i * STRIDE..].as_mut_ptr().cast(),
            iov_len: MAX_DATAGRAM,
        })
        .collect();
    let mut hdrs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: mmsghdr is plain old data; all-zero is valid (no name,
            // no control buffer) and the iovec pointer is set right below.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect();
    let mut checksum = 0u64;
    loop {
        // SAFETY: `hdrs` holds BATCH headers whose iovecs point into `bufs`;
        // both live, unmoved, for the whole loop.
        let got = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        let got = usize::try_from(got).unwrap_or(0);
        for i in 0..got {
            checksum = checksum.wrapping_add(u64::from(bufs[i * STRIDE]));
        }
        std::hint::black_box(checksum);
        if got < BATCH {
            std::thread::sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt as _;

    /// The death signal follows the thread that started the child: a
    /// thread that starts one and ends stands in for a bench that dies.
    #[test]
    fn a_tied_child_is_stopped_when_its_starter_goes() {
        let mut child = std::thread::spawn(|| spawn_tied(Command::new("sleep").arg("30")))
            .join()
            .expect("the starting thread")
            .expect("sleep starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the child outlived the thread that started it");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }
}
