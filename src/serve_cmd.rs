//! `ferrograph serve`: the whole pipeline in one process (see
//! [`crate::pipeline`]). Runs until SIGTERM or SIGINT, then shuts down in
//! flow order so nothing received is lost.

use std::path::PathBuf;

use anyhow::Context;

use crate::config::Loaded;
use crate::pipeline::Pipeline;

/// Arguments of `ferrograph serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file; none = every default (see `default-config`).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Where Whisper files live (created if missing).
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,
}

/// Runs the pipeline until a stop signal.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let loaded = Loaded::from_option(args.config.as_deref())?;
    // Install the handler before any listener exists, so an early SIGTERM
    // still goes through the orderly shutdown.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .context("cannot install the SIGTERM/SIGINT handler")?;
    let pipeline = Pipeline::start(&loaded, &args.data_dir)?;
    let addrs = pipeline.addrs();
    tracing::info!(
        data_dir = %addrs.data_dir.display(),
        statsd_udp = ?addrs.statsd_udp,
        statsd_tcp = ?addrs.statsd_tcp,
        statsd_admin = ?addrs.statsd_admin,
        carbon_plaintext = ?addrs.carbon_plaintext,
        carbon_pickle = ?addrs.carbon_pickle,
        carbon_udp = ?addrs.carbon_udp,
        http = ?addrs.http,
        "ferrograph serve listening"
    );
    // One JSON line on stdout with the bound addresses, for scripts and
    // tests that start it on port 0.
    println!(
        "{}",
        serde_json::to_string(addrs).context("encoding the listening addresses")?
    );
    let signal = signals.forever().next();
    tracing::info!(?signal, "stopping");
    pipeline.shutdown();
    tracing::info!("stopped");
    Ok(())
}
