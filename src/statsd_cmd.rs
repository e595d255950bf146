//! `ferrograph statsd`: the standalone StatsD daemon, a drop-in for Etsy
//! StatsD. Flushes go to the Graphite plaintext backend named by
//! `[statsd] graphite` (or are computed and discarded when it is "").
//! SIGTERM/SIGINT stop the listeners, flush (or save) the open interval and
//! deliver what is queued before exiting.

use std::path::PathBuf;
use std::sync::Arc;

use aggregator::{Aggregator, BackendStatus, Forwarder};
use anyhow::Context;
use storage::{Ingest, IngestError, IngestReport, MetricPoint};

use crate::config::Loaded;

/// Arguments of `ferrograph statsd`.
#[derive(Debug, clap::Args)]
pub struct StatsdArgs {
    /// TOML configuration file (reads its [statsd] section); none = defaults.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

/// The reference's behaviour without `graphiteHost`: compute, then discard.
struct Discard;

impl Ingest for Discard {
    fn ingest(&self, points: Vec<MetricPoint>) -> Result<IngestReport, IngestError> {
        Ok(IngestReport {
            accepted: points.len(),
            ..IngestReport::default()
        })
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(args: StatsdArgs) -> anyhow::Result<()> {
    let loaded = Loaded::from_option(args.config.as_deref())?;
    let settings = loaded.statsd()?;
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .context("cannot install the SIGTERM/SIGINT handler")?;
    let shutdown_timeout = settings.graphite_shutdown_timeout;
    let forwarder = match &settings.graphite {
        Some(target) => Some(
            Forwarder::start(target, settings.graphite_queue)
                .context("cannot start the Graphite forwarder")?,
        ),
        None => None,
    };
    let (sink, backend): (Arc<dyn Ingest>, Option<Arc<dyn BackendStatus>>) = match &forwarder {
        Some(f) => (f.clone(), Some(f.clone())),
        None => (Arc::new(Discard), None),
    };
    let running = Aggregator::start_with_backend(settings, sink, backend)?;
    let a = running.local_addrs();
    let show = |a: Option<std::net::SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(
        udp = %show(a.udp),
        tcp = %show(a.tcp),
        admin = %show(a.admin),
        unix = %a.unix.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        "ferrograph statsd listening"
    );
    let signal = signals.forever().next();
    tracing::info!(?signal, "stopping: flushing the open interval");
    running.shutdown();
    if let Some(f) = forwarder {
        f.shutdown(shutdown_timeout);
    }
    tracing::info!("stopped");
    Ok(())
}
