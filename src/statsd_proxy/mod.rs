//! `ferrograph statsd-proxy`: a consistent-hash StatsD router, the
//! counterpart of Etsy StatsD's `proxy.js`. StatsD lines come in over UDP
//! (and TCP); each line goes to the node its key hashes to on the ring
//! ([`ring`]), so one key is always aggregated on one node and counters are
//! never split; nodes whose admin port stops answering `health: up` leave
//! the ring until they recover ([`health`]). Lines leave over UDP, batched
//! into packets of up to `max_packet_size`.
//!
//! Threads: one UDP receiver, one per TCP connection, one sender and one
//! health checker per node, the admin console. Receivers never wait on a
//! node: each node has a bounded queue and what does not fit is dropped
//! and counted. SIGTERM stops the receivers, then the senders drain their
//! queues (bounded by `shutdown_timeout`).

pub mod admin;
pub mod config;
pub mod health;
pub mod listen;
pub mod ring;
pub mod route;
pub mod send;
pub mod stats;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::Loaded;
use route::Shared;

/// Arguments of `ferrograph statsd-proxy`.
#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// TOML configuration file; reads its [statsd_proxy] section.
    #[arg(long, short)]
    pub config: PathBuf,
}

/// Runs the proxy until SIGTERM or SIGINT.
pub fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let loaded = Loaded::from_file(&args.config)?;
    let settings = loaded.statsd_proxy()?;
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .context("cannot install the SIGTERM/SIGINT handler")?;

    // Bind everything first: a taken port fails the start, not later.
    let udp = match settings.udp {
        Some(addr) => Some(listen::bind_udp(addr, settings.udp_receive_buffer)?),
        None => None,
    };
    let tcp = match settings.tcp {
        Some(addr) => {
            Some(TcpListener::bind(addr).with_context(|| format!("cannot bind TCP {addr}"))?)
        }
        None => None,
    };
    let admin = match settings.admin {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .with_context(|| format!("cannot bind the admin port {addr}"))?,
        ),
        None => None,
    };
    let show = |a: Option<std::net::SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
    let udp_addr = show(udp.as_ref().and_then(|s| s.local_addr().ok()));
    let tcp_addr = show(tcp.as_ref().and_then(|s| s.local_addr().ok()));
    let admin_addr = show(admin.as_ref().and_then(|s| s.local_addr().ok()));

    let shutdown_timeout = settings.shutdown_timeout;
    let log_interval = settings.log_interval;
    let (shared, queues) = Shared::new(settings);
    let drain_deadline = Arc::new(OnceLock::new());
    let mut senders = Vec::new();
    for (node, queue) in queues.into_iter().enumerate() {
        senders.push(send::spawn(
            shared.clone(),
            node,
            queue,
            drain_deadline.clone(),
        )?);
    }
    for node in 0..shared.ids.len() {
        // Checkers end with the process; each check is bounded by
        // check_interval, so they are not joined.
        health::spawn(shared.clone(), node)?;
    }
    let mut receivers = Vec::new();
    if let Some(socket) = udp {
        receivers.push(listen::spawn_udp(shared.clone(), socket)?);
    }
    if let Some(listener) = tcp {
        receivers.push(listen::spawn_tcp(shared.clone(), listener)?);
    }
    let admin_thread = match admin {
        Some(listener) => Some(admin::spawn(shared.clone(), listener)?),
        None => None,
    };
    tracing::info!(
        udp = %udp_addr,
        tcp = %tcp_addr,
        admin = %admin_addr,
        nodes = %shared.ids.join(","),
        "ferrograph statsd-proxy listening"
    );

    let stopper = shared.clone();
    std::thread::Builder::new()
        .name("proxy-signals".into())
        .spawn(move || {
            let signal = signals.forever().next();
            tracing::info!(?signal, "stopping: draining the node queues");
            stopper.stop.store(true, Ordering::Release);
        })
        .context("cannot start the signal thread")?;

    // Quiet logs: a line only when lines were lost in the last interval.
    let mut lost_before = 0;
    let mut next_log = Instant::now() + log_interval;
    let mut self_metrics = SelfMetrics::new(&shared);
    while !shared.stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(50));
        self_metrics.tick(false);
        if Instant::now() >= next_log {
            next_log += log_interval;
            let lost = shared.stats.lost();
            if lost > lost_before {
                tracing::warn!(
                    lost = lost - lost_before,
                    "lines not forwarded in the last interval (see the admin `stats` command)"
                );
            }
            lost_before = lost;
        }
    }

    for r in receivers {
        let _ = r.join();
    }
    // The last deltas, counting everything received.
    self_metrics.tick(true);
    let _ = drain_deadline.set(Instant::now() + shutdown_timeout);
    shared.draining.store(true, Ordering::Release);
    for s in senders {
        let _ = s.join();
    }
    if let Some(a) = admin_thread {
        let _ = a.join();
    }
    let st = &shared.stats;
    let forwarded: u64 = st
        .nodes
        .iter()
        .map(|n| n.lines_forwarded.load(Ordering::Relaxed))
        .sum();
    tracing::info!(
        received = st.lines_udp.load(Ordering::Relaxed) + st.lines_tcp.load(Ordering::Relaxed),
        forwarded,
        not_forwarded = st.lost(),
        "stopped"
    );
    Ok(())
}

/// The proxy's counters sent as StatsD counter deltas through its own ring
/// (`[statsd_proxy] self_metrics_prefix`), so the nodes aggregate and store
/// them; several proxies with one prefix add up.
struct SelfMetrics {
    dispatcher: Option<route::Dispatcher>,
    shared: Arc<Shared>,
    last: Vec<u64>,
    next: Instant,
}

impl SelfMetrics {
    fn new(shared: &Arc<Shared>) -> SelfMetrics {
        let enabled = shared.settings.self_metrics_prefix.is_some();
        SelfMetrics {
            dispatcher: enabled.then(|| route::Dispatcher::new(shared.clone())),
            last: shared
                .stats
                .counters(&shared.ids)
                .iter()
                .map(|c| c.1)
                .collect(),
            next: Instant::now() + shared.settings.self_metrics_interval,
            shared: shared.clone(),
        }
    }

    /// Sends the deltas when the interval is over (or `now`).
    fn tick(&mut self, now: bool) {
        let (Some(dispatcher), Some(prefix)) = (
            self.dispatcher.as_mut(),
            self.shared.settings.self_metrics_prefix.as_deref(),
        ) else {
            return;
        };
        if !now && Instant::now() < self.next {
            return;
        }
        self.next = Instant::now() + self.shared.settings.self_metrics_interval;
        let counters = self.shared.stats.counters(&self.shared.ids);
        let mut text = String::new();
        for ((name, value), last) in counters.iter().zip(self.last.iter_mut()) {
            let delta = value.saturating_sub(*last);
            *last = *value;
            if delta > 0 {
                // `node.127.0.0.1:8127.x` -> `node.127_0_0_1_8127.x`: one
                // path segment per node, no ':' (the StatsD separator).
                let name = match name.strip_prefix("node.").and_then(|r| r.rsplit_once('.')) {
                    Some((id, counter)) => {
                        format!("node.{}.{counter}", id.replace(['.', ':'], "_"))
                    }
                    None => name.clone(),
                };
                text.push_str(&format!("{prefix}.{name}:{delta}|c\n"));
            }
        }
        dispatcher.refresh();
        dispatcher.lines(text.as_bytes());
        dispatcher.flush();
    }
}
