//! Command-line interface. Each subcommand's arguments and entry point live
//! in their own module under `src/`; this file only lists them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::logging::LogFormat;

/// The example configuration, every key with its default and a comment.
/// `ferrograph default-config` prints it; deploy/ holds the same file.
pub const DEFAULT_CONFIG: &str = include_str!("../deploy/ferrograph.example.toml");

/// StatsD + carbon + Whisper + graphite-web in one binary.
#[derive(Debug, Parser)]
#[command(name = "ferrograph", version, about)]
pub struct Cli {
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole pipeline: StatsD, carbon, Whisper storage, HTTP API.
    Serve(crate::serve_cmd::ServeArgs),
    /// Make a running `serve` re-read its config file (sends SIGHUP via --pidfile).
    Reload(crate::reload::ReloadArgs),
    /// Print the full commented configuration with every default.
    DefaultConfig,
    /// Serve graphite-web's HTTP API over an existing Whisper directory.
    Web(crate::web_cmd::WebArgs),
    /// Validate a configuration file; exits non-zero with the reason.
    CheckConfig {
        /// The TOML file to check.
        file: PathBuf,
    },
    /// Run the standalone StatsD daemon (Etsy StatsD drop-in).
    Statsd(crate::statsd_cmd::StatsdArgs),
    /// Consistent-hash StatsD router in front of several nodes (Etsy's proxy.js).
    StatsdProxy(crate::statsd_proxy::ProxyArgs),
    /// StatsD load generator over loopback UDP: sent vs received vs kernel drops.
    BenchUdp(crate::bench_udp::BenchUdpArgs),
    /// Run a carbon-cache drop-in: carbon plaintext/pickle in, Whisper files out.
    Carbon(crate::carbon_cmd::CarbonArgs),
    /// The classic whisper-*.py tools: info, dump, fetch, create, update, resize, merge, fill, set-aggregation.
    Whisper(crate::whisper_cmd::WhisperArgs),
    /// Send StatsD lines (UDP, or --tcp) or carbon lines (--carbon); `-` reads stdin.
    Send(crate::send_cmd::SendArgs),
    /// Wait until a running daemon's listeners are all bound (GET /health answers 200).
    WaitReady(crate::send_cmd::WaitReadyArgs),
    /// Export targets over a long window as CSV, JSON lines or Parquet.
    Export(crate::export_cmd::ExportArgs),
    /// Forecast when each series of a target crosses a threshold.
    Forecast(crate::forecast_cmd::ForecastArgs),
    /// l2met log lines from stdin (count#, measure#, sample#) to StatsD over UDP.
    Logs(crate::logs_cmd::LogsArgs),
    /// The ClickHouse backend: rollup-xml, init, optimize, import.
    Clickhouse(crate::clickhouse_cmd::ClickHouseArgs),
    /// Copy events and dashboards from a graphite-web SQLite database.
    ImportGraphiteDb(crate::import_db_cmd::ImportDbArgs),
}

/// Runs the chosen subcommand to completion.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => crate::serve_cmd::run(args),
        Command::Reload(args) => crate::reload::run(args),
        Command::DefaultConfig => {
            print!("{DEFAULT_CONFIG}");
            Ok(())
        }
        Command::Web(args) => crate::web_cmd::run(args),
        Command::ImportGraphiteDb(args) => crate::import_db_cmd::run(args),
        Command::CheckConfig { file } => {
            let loaded = crate::config::Loaded::from_file(&file)?;
            loaded.check(std::path::Path::new("data"))?;
            // serve skips bad lines of the rules files and runs with the
            // others; a check fails on them.
            if let Some(rules) = loaded.ingest_rules()? {
                if !rules.problems.is_empty() {
                    let lines: Vec<String> = rules.problems.iter().map(|p| p.to_string()).collect();
                    anyhow::bail!(
                        "{}: [carbon] rules files: {} line(s) would be skipped:\n{}",
                        file.display(),
                        lines.len(),
                        lines.join("\n")
                    );
                }
            }
            println!("{}: ok", file.display());
            Ok(())
        }
        Command::Statsd(args) => crate::statsd_cmd::run(args),
        Command::StatsdProxy(args) => crate::statsd_proxy::run(args),
        Command::BenchUdp(args) => crate::bench_udp::run(args),
        Command::Carbon(args) => crate::carbon_cmd::run(args),
        Command::Whisper(args) => crate::whisper_cmd::run(args),
        Command::Send(args) => crate::send_cmd::run(args),
        Command::WaitReady(args) => crate::send_cmd::wait_ready(args),
        Command::Export(args) => crate::export_cmd::run(args),
        Command::Forecast(args) => crate::forecast_cmd::run(args),
        Command::Logs(args) => crate::logs_cmd::run(args),
        Command::Clickhouse(args) => crate::clickhouse_cmd::run(args),
    }
}
