//! All criterion benchmarks in one binary (`cargo bench --bench main`).
//! Each module holds the groups of one part; group names follow module
//! paths (`aggregator::statsd::parse`).

use criterion::{criterion_group, criterion_main};

/// The binary's allocator, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// StatsD line parsing.
mod statsd_parse;

/// Aggregation of one interval plus its flush, at 10k / 100k / 1M names;
/// timer floods in exact and hdr mode.
mod aggregate_flush;

/// Render API: target parsing, evaluation of sumSeries, JSON encoding.
mod render_eval;

/// Ingest rules (carbon aggregation/rewrite) in front of storage; l2met parsing.
mod ingest_rules;
/// Render functions of the Combine and Transform groups over 1,000 series.
mod render_functions;
/// Graphs: a PNG of 10 series x 1 day at 800x600, ours vs graphite-web.
mod render_graphs;
/// Storage: the read path, fetching 1,000 series of one day at 10 s.
mod storage_read;
/// Storage: points/s through cache+writers vs Python whisper, fetch latency.
mod storage_write;

criterion_group!(
    benches,
    statsd_parse::parse,
    aggregate_flush::aggregate_and_flush,
    aggregate_flush::timers,
    render_eval::parse,
    render_eval::evaluate,
    render_eval::encode,
    render_functions::combine,
    render_functions::transform,
    render_graphs::bench,
    storage_write::bench,
    storage_read::bench,
    ingest_rules::ingest,
    ingest_rules::l2met
);
criterion_main!(benches);
