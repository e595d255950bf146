//! StatsD aggregation for ferrograph: lines in, flushed Graphite points out
//! through storage's [`storage::Ingest`] handle.
#![deny(missing_docs)]
