//! The `ferrograph` binary: parses the command line and wires the crates
//! together. It holds no pipeline logic of its own.

mod bench_udp;
mod carbon_cmd;
mod cli;
mod config;
mod logging;
mod pipeline;
mod selfstats;
mod serve_cmd;
mod statsd_cmd;
mod web_cmd;
mod whisper_cmd;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    logging::init(cli.log_format);
    cli::run(cli.command)
}
