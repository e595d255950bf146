//! `ferrograph web`: graphite-web's HTTP API over an existing Whisper
//! directory (carbon's or ours), read-only.

use std::path::PathBuf;

use anyhow::Context as _;
use render_api::{router, serve};

use crate::config::Loaded;

/// Arguments of `ferrograph web`.
#[derive(Debug, clap::Args)]
pub struct WebArgs {
    /// Whisper directory to serve (carbon's `STORAGE_DIR/whisper` or ours).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Listen address, host:port (default: [render] http, 0.0.0.0:8080).
    #[arg(long)]
    pub http: Option<String>,
    /// TOML configuration file (reads its [render] section); none = defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The events and dashboards database (default:
    /// DATA_DIR/ferrograph.sqlite; give another path when the Whisper tree
    /// is read-only).
    #[arg(long)]
    pub state_db: Option<PathBuf>,
}

/// Serves until SIGINT or SIGTERM.
pub fn run(args: WebArgs) -> anyhow::Result<()> {
    let mut loaded = Loaded::from_option(args.config.as_deref())?;
    if let Some(http) = args.http {
        loaded.config.render.http = http;
    }
    let settings = loaded.render()?;
    let addr = settings
        .http
        .context("[render] http is empty: nothing to listen on")?;
    let read = storage::open_read_only(
        &args.data_dir,
        storage::ReadLimits {
            max_find_results: settings.max_find_results,
        },
    )
    .with_context(|| format!("opening {}", args.data_dir.display()))?;
    // Corrupt files are named in the log at start, as `serve` does.
    let stopping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let verify = {
        let stopping = std::sync::Arc::clone(&stopping);
        storage::check_files_in_background(&args.data_dir, move || {
            stopping.load(std::sync::atomic::Ordering::Relaxed)
        })
        .context("starting the corrupt-file check")?
    };
    let state_path = args
        .state_db
        .clone()
        .unwrap_or_else(|| args.data_dir.join(render_api::state::DB_FILE));
    let state = render_api::state::StateStore::open(&state_path)
        .map(std::sync::Arc::new)
        .with_context(|| {
            format!(
                "opening the state database {} (use --state-db PATH when the data directory is read-only)",
                state_path.display()
            )
        })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the render API to {addr}"))?;
        let local = listener.local_addr().context("reading the bound address")?;
        // The first stdout line tells scripts and tests where we listen.
        println!("ferrograph web listening on http://{local}");
        tracing::info!(%local, data_dir = %args.data_dir.display(), "render API listening");
        serve(
            listener,
            router(read, settings).with_state(state),
            shutdown_signal(),
        )
        .await?;
        tracing::info!("render API stopped");
        Ok::<(), anyhow::Error>(())
    })?;
    stopping.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = verify.join();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; stop with SIGINT");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
