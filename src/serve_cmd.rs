//! `ferrograph serve`: the whole pipeline in one process (see
//! [`crate::pipeline`]). Runs until SIGTERM or SIGINT, then shuts down in
//! flow order so nothing received is lost. SIGHUP reloads what can change
//! while running (see [`crate::reload`]).

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
    /// Write the process id here (removed at exit), for `ferrograph reload
    /// --pidfile` and init scripts.
    #[arg(long)]
    pub pidfile: Option<PathBuf>,
}

/// Runs the pipeline until a stop signal.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let loaded = Loaded::from_option(args.config.as_deref())?;
    // Install the handler before any listener exists, so an early SIGTERM
    // still goes through the orderly shutdown.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])
    .context("cannot install the SIGTERM/SIGINT/SIGHUP handler")?;
    crate::logging::set_filter(loaded.log_filter()?);
    let pipeline = Pipeline::start(&loaded, &args.data_dir)?;
    let reloader = std::sync::Arc::new(pipeline.reloader(args.config.clone()));
    pipeline.on_admin_reload(&reloader);
    let pidfile = args
        .pidfile
        .as_deref()
        .map(crate::reload::PidFile::create)
        .transpose()?;
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
    let mut signal = None;
    for received in signals.forever() {
        if received == signal_hook::consts::SIGHUP {
            tracing::info!("SIGHUP: reloading the configuration");
            // The outcome is logged and counted; nobody waits for it here.
            let _ = reloader.reload_logged();
            continue;
        }
        signal = Some(received);
        break;
    }
    tracing::info!(?signal, "stopping");
    drop(reloader);
    pipeline.shutdown();
    drop(pidfile);
    tracing::info!("stopped");
    Ok(())
}
