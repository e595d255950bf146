//! Reload without restart: `SIGHUP` to `ferrograph serve`, `ferrograph
//! reload --pidfile FILE` (which sends it), or `ferrograph reload --admin
//! ADDR` (the StatsD admin console's `reload` command, which answers with
//! the outcome) re-reads the config file `serve`
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
    /// setting as it was, and its reason is also returned (for the admin
    /// console's answer).
    pub fn reload_logged(&self) -> Result<(), String> {
        let origin = self.config.as_ref().map_or_else(
            || "built-in defaults".to_string(),
            |p| p.display().to_string(),
        );
        match self.reload() {
            Ok(()) => {
                self.stats.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(config = %origin, "configuration reloaded");
                Ok(())
            }
            Err(e) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(config = %origin, "reload refused, the running configuration is kept: {e:#}");
                Err(format!(
                    "reload refused, the running configuration is kept: {e:#}"
                ))
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

/// Arguments of `ferrograph reload`: exactly one of `--pidfile` and
/// `--admin`.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct ReloadArgs {
    /// The pid file `ferrograph serve --pidfile` wrote: sends it `SIGHUP`.
    #[arg(long)]
    pub pidfile: Option<PathBuf>,
    /// The StatsD admin console of a running `serve` (`[statsd] admin`):
    /// sends `reload` and prints the answer; exits 1 when it was refused.
    #[arg(long)]
    pub admin: Option<String>,
}

/// Runs `ferrograph reload`.
pub fn run(args: ReloadArgs) -> anyhow::Result<()> {
    match (&args.pidfile, &args.admin) {
        (_, Some(admin)) => reload_through_admin(admin),
        (Some(pidfile), None) => signal_pidfile(pidfile),
        (None, None) => anyhow::bail!("give --pidfile FILE or --admin HOST:PORT"),
    }
}

/// Sends `reload` to the admin console at `addr` and reports its answer.
fn reload_through_admin(addr: &str) -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::Duration;
    let target = addr
        .to_socket_addrs()
        .with_context(|| format!("--admin {addr}: not an address"))?
        .next()
        .with_context(|| format!("--admin {addr}: resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(5))
        .with_context(|| format!("cannot connect to the admin console at {addr}"))?;
    // A reload re-reads and checks every file; a large schemas file may take
    // a while, but never this long.
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .context("setting the admin connection's timeout")?;
    stream
        .write_all(b"reload\n")
        .with_context(|| format!("sending reload to {addr}"))?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .with_context(|| format!("reading the answer of {addr}"))?;
    let _ = stream.write_all(b"quit\n");
    let answer = answer.trim_end();
    if answer == "reloaded" {
        println!("{addr}: configuration reloaded");
        Ok(())
    } else if answer.is_empty() {
        anyhow::bail!("{addr}: the admin console closed without an answer")
    } else {
        anyhow::bail!("{addr}: {}", answer.trim_start_matches("ERROR: "))
    }
}

/// Sends `SIGHUP` to the `serve` process of `pidfile`. The outcome is in
/// its log and in its self-metrics (`config.reloads`, `config.reloadErrors`).
fn signal_pidfile(pidfile: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(pidfile)
        .with_context(|| format!("cannot read the pid file {}", pidfile.display()))?;
    let pid: libc::pid_t = text.trim().parse().map_err(|_| {
        anyhow::anyhow!(
            "{}: {:?} is not a process id",
            pidfile.display(),
            text.trim()
        )
    })?;
    if pid <= 0 {
        anyhow::bail!("{}: {pid} is not a process id", pidfile.display());
    }
    // SAFETY: kill(2) takes two integers and touches no memory of ours; a
    // positive pid names exactly one process (never a group).
    let sent = unsafe { libc::kill(pid, libc::SIGHUP) };
    if sent != 0 {
        let e = std::io::Error::last_os_error();
        anyhow::bail!(
            "cannot signal process {pid} (from {}): {e}",
            pidfile.display()
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
