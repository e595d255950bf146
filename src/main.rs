//! The `ferrograph` binary: parses the command line and wires the crates
//! together. It holds no pipeline logic of its own.

mod bench_udp;
mod carbon_cmd;
mod cli;
mod clickhouse_cmd;
mod config;
mod export_cmd;
mod forecast_cmd;
mod import_db_cmd;
mod logging;
mod logs_cmd;
mod pipeline;
mod reload;
mod selfstats;
mod send_cmd;
mod serve_cmd;
mod statsd_cmd;
mod statsd_proxy;
mod web_cmd;
mod whisper_cmd;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Errors are printed as one chain of causes, never through anyhow's
/// `Debug` (which appends a backtrace whenever `RUST_BACKTRACE` is set):
/// a bad config file is the user's mistake, not a crash. Backtraces are for
/// panics.
fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    logging::init(cli.log_format);
    match cli::run(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
