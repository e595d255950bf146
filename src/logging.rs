//! Log output: quiet human-readable lines by default, JSON on request.
//!
//! The level (an `EnvFilter` directive such as `info` or
//! `info,storage=debug`) comes from `[log] level` in the config file when it
//! is set, else from `RUST_LOG`, else `info`. It sits behind a reload
//! handle so that `serve` can change it on `SIGHUP` without a restart.

use std::sync::OnceLock;

use clap::ValueEnum;
use serde::Deserialize;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{reload, EnvFilter, Layer as _, Registry};

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event, for log shippers.
    Json,
}

/// `[log]`: what is logged.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// An `EnvFilter` directive (`warn`, `info,storage=debug`); "" =
    /// `RUST_LOG`, or `info` without it. A reload applies a new value.
    pub level: String,
}

impl LogConfig {
    /// The filter this section asks for, or why its `level` is not one.
    pub fn filter(&self) -> Result<EnvFilter, String> {
        if self.level.trim().is_empty() {
            return Ok(default_filter());
        }
        EnvFilter::try_new(self.level.trim()).map_err(|e| format!("not a log filter: {e}"))
    }
}

fn default_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The handle [`set_filter`] swaps the level through.
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Installs the global subscriber; call once at start.
pub fn init(format: LogFormat) {
    let (filter, handle) = reload::Layer::new(default_filter());
    // Colour codes only on a terminal: log files and journald get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    tracing_subscriber::registry().with(filter).with(fmt).init();
    let _ = FILTER.set(handle);
}

/// Puts `filter` in force for every following event; false when no
/// subscriber of ours is installed (tests that call no `init`).
pub fn set_filter(filter: EnvFilter) -> bool {
    FILTER
        .get()
        .is_some_and(|handle| handle.reload(filter).is_ok())
}
