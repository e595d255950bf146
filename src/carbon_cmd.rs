//! `ferrograph carbon --config FILE --data-dir DIR`: a drop-in for
//! carbon-cache (or, with `[storage] backend = "clickhouse"`, for
//! carbon-clickhouse). Reads `[carbon]` and `[storage]`, opens the store, starts
//! the receivers, and on SIGTERM/SIGINT stops in flow order: listeners
//! first, then the cache is drained to the Whisper files.

use std::path::PathBuf;

use clap::Args;
use storage::carbon::Receivers;

use crate::config::Loaded;

/// Arguments of `ferrograph carbon`.
#[derive(Debug, Args)]
pub struct CarbonArgs {
    /// Config file (TOML); its [carbon] and [storage] sections are used.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where the Whisper files live.
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,
}

/// Runs until SIGTERM or SIGINT.
pub fn run(args: CarbonArgs) -> anyhow::Result<()> {
    let loaded = Loaded::from_option(args.config.as_deref())?;
    let settings = loaded.storage(&args.data_dir)?;
    for w in settings
        .schemas
        .warnings
        .iter()
        .chain(&settings.aggregation.warnings)
    {
        tracing::warn!("{w}");
    }
    let store = crate::pipeline::open_store(&loaded, settings)?;
    // [carbon] aggregation/rewrite rules, as carbon-aggregator-cache runs them
    let rules = crate::pipeline::start_ingest_rules(&loaded, &store)?;
    let (ingest, flow) = match &rules {
        Some(r) => (r.ingest_handle(), r.backpressure_handle()),
        None => (store.ingest_handle(), store.backpressure_handle()),
    };
    let receivers = Receivers::start_with_backpressure(&loaded.config.carbon, ingest, flow)?;
    store.add_stats_source(receivers.stats_source());
    let addrs = receivers.local_addrs();
    tracing::info!(
        data_dir = %args.data_dir.display(),
        plaintext = ?addrs.plaintext,
        pickle = ?addrs.pickle,
        udp = ?addrs.udp,
        "ferrograph carbon running"
    );
    wait_for_signal()?;
    tracing::info!("stopping: listeners first, then draining the cache");
    receivers.shutdown();
    if let Some(rules) = rules {
        rules.shutdown();
    }
    let left = store.pending_points();
    store.shutdown();
    tracing::info!(drained = left, "stopped");
    Ok(())
}

fn wait_for_signal() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok::<(), std::io::Error>(())
    })?;
    Ok(())
}
