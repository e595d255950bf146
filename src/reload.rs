//! Reload without restart: `SIGHUP` to `ferrograph serve`, or `ferrograph
//! reload --pidfile FILE` (which sends it), re-reads the config file `serve`
//! was started with and puts in force what can change while running:
//!
//! - the schemas and aggregation rules, for series created from now on
//!   (Whisper) or the query-time roll-up (ClickHouse), through the store's
//!   one rules handle ([`storage::LiveRules`]); with `[storage]
//!   resize_on_schema_change` existing files follow in the background;
//! - the render API's per-request settings (limits, time zone, read
//!   options, token), from the next request on;
//! - the log level (`[log] level`).
//!
//! Everything is validated first; a file with any error changes nothing,
//! and the error (file, line, reason) is logged and counted. Listeners,
//! the data directory, cache and writer settings need a restart.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;

use crate::config::Loaded;

/// Counts of reloads, for the self-metrics.
#[derive(Default)]
struct ReloadStats {
    reloads: AtomicU64,
    failed: AtomicU64,
}

/// What a reload replaces, in the running pipeline.
pub struct Reloader {
    /// The file `serve` was started with; `None` = built-in defaults (a
    /// reload then only re-applies them).
    config: Option<PathBuf>,
    data_dir: PathBuf,
    rules: storage::LiveRules,
    render: Option<render_api::Api>,
    stats: Arc<ReloadStats>,
}

impl Reloader {
    /// A reloader for the pipeline's pieces; its counters go into the
    /// self-metrics through `add_stats_source`.
    pub fn new(
        config: Option<PathBuf>,
        data_dir: &Path,
        rules: storage::LiveRules,
        render: Option<render_api::Api>,
        add_stats_source: impl FnOnce(storage::StatsSource),
    ) -> Reloader {
        let stats = Arc::new(ReloadStats::default());
        let source = Arc::clone(&stats);
        add_stats_source(Arc::new(move || {
            vec![
                (
                    "config.reloads".to_string(),
                    source.reloads.load(Ordering::Relaxed) as f64,
                ),
                (
                    "config.reloadErrors".to_string(),
                    source.failed.load(Ordering::Relaxed) as f64,
                ),
            ]
        }));
        Reloader {
            config,
            data_dir: data_dir.to_path_buf(),
            rules,
            render,
            stats,
        }
    }

    /// Reloads, logging and counting the outcome; a failure keeps every
    /// setting as it was.
    pub fn reload_logged(&self) {
        let origin = self.config.as_ref().map_or_else(
            || "built-in defaults".to_string(),
            |p| p.display().to_string(),
        );
        match self.reload() {
            Ok(()) => {
                self.stats.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(config = %origin, "configuration reloaded");
            }
            Err(e) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(config = %origin, "reload refused, the running configuration is kept: {e:#}");
            }
        }
    }

    fn reload(&self) -> anyhow::Result<()> {
        let loaded = Loaded::from_option(self.config.as_deref())?;
        // All of it validated before any of it is applied.
        let storage = loaded.storage(&self.data_dir)?;
        let render = loaded.render()?;
        let filter = loaded.log_filter()?;
        for problem in storage
            .schemas
            .warnings
            .iter()
            .chain(&storage.aggregation.warnings)
        {
            tracing::warn!("{problem}");
        }
        crate::logging::set_filter(filter);
        self.rules.replace(storage.schemas, storage.aggregation);
        if let Some(api) = &self.render {
            let fixed = api.reload_settings(render);
            if !fixed.is_empty() {
                tracing::warn!(
                    keys = ?fixed,
                    "[render] keys changed that only a restart applies; they keep their running values"
                );
            }
        }
        Ok(())
    }
}

/// Arguments of `ferrograph reload`.
#[derive(Debug, clap::Args)]
pub struct ReloadArgs {
    /// The pid file `ferrograph serve --pidfile` wrote.
    #[arg(long)]
    pub pidfile: PathBuf,
}

/// Sends `SIGHUP` to the `serve` process of `--pidfile`. The outcome is in
/// its log and in its self-metrics (`config.reloads`, `config.reloadErrors`).
pub fn run(args: ReloadArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.pidfile)
        .with_context(|| format!("cannot read the pid file {}", args.pidfile.display()))?;
    let pid: libc::pid_t = text.trim().parse().map_err(|_| {
        anyhow::anyhow!(
            "{}: {:?} is not a process id",
            args.pidfile.display(),
            text.trim()
        )
    })?;
    if pid <= 0 {
        anyhow::bail!("{}: {pid} is not a process id", args.pidfile.display());
    }
    // SAFETY: kill(2) takes two integers and touches no memory of ours; a
    // positive pid names exactly one process (never a group).
    let sent = unsafe { libc::kill(pid, libc::SIGHUP) };
    if sent != 0 {
        let e = std::io::Error::last_os_error();
        anyhow::bail!(
            "cannot signal process {pid} (from {}): {e}",
            args.pidfile.display()
        );
    }
    println!("sent SIGHUP to ferrograph serve (pid {pid}); its log says how the reload went");
    Ok(())
}

/// The pid file of a running `serve`: written at start, removed at stop.
pub struct PidFile(PathBuf);

impl PidFile {
    /// Writes this process's id to `path` (atomically, via a temporary file).
    pub fn create(path: &Path) -> anyhow::Result<PidFile> {
        let mut temp = path.as_os_str().to_owned();
        temp.push(".tmp");
        let temp = PathBuf::from(temp);
        std::fs::write(&temp, format!("{}\n", std::process::id()))
            .and_then(|()| std::fs::rename(&temp, path))
            .with_context(|| format!("cannot write the pid file {}", path.display()))?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
