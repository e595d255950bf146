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

/// mimalloc's `mi_option_purge_delay` (its `mimalloc.h`, v3 enum order;
/// the Rust bindings leave this one out): how long freed memory stays
/// mapped before it goes back to the OS.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays mapped. mimalloc's default (1 s) returned
/// what every StatsD flush frees (the names and values of every point,
/// megabytes at 10,000 keys) to the OS before the next flush, which faulted
/// the same amount back in, page by page; at 100,000 metrics/s with a
/// one-second flush that was a third of the flush thread's time. 30 s
/// outlasts the default 10 s flush interval twice over; memory freed for
/// good still goes back, 30 s later.
const FREED_MEMORY_KEPT_MS: std::os::raw::c_long = 30_000;

fn keep_freed_memory() {
    // SAFETY: sets one option of the allocator in use; mimalloc allows
    // options to be set at any time (each is one atomic value).
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, FREED_MEMORY_KEPT_MS) };
}

/// Errors are printed as one chain of causes, never through anyhow's
/// `Debug` (which appends a backtrace whenever `RUST_BACKTRACE` is set):
/// a bad config file is the user's mistake, not a crash. Backtraces are for
/// panics.
fn main() -> std::process::ExitCode {
    keep_freed_memory();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The option number is mimalloc's purge delay: its documented
    /// default, then the value set.
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // SAFETY: reads and sets one allocator option (atomic values).
        unsafe {
            let before = libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY);
            assert!(before == 1000 || before == FREED_MEMORY_KEPT_MS, "{before}");
            keep_freed_memory();
            assert_eq!(
                libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY),
                FREED_MEMORY_KEPT_MS
            );
            // Its neighbours keep their defaults (eager-commit delay 1, NUMA nodes 0).
            assert_eq!(libmimalloc_sys::mi_option_get(14), 1);
            assert_eq!(libmimalloc_sys::mi_option_get(16), 0);
        }
    }
}
