//! Whisper-compatible storage for ferrograph.
//!
//! Data enters through the [`Ingest`] handle (StatsD flushes, carbon
//! receivers) and leaves through the [`Read`] handle (the render API). Those
//! two traits and their data types in [`api`] are the crate's boundary.
#![deny(missing_docs)]

pub mod api;

pub use api::{
    FetchRange, FetchedSeries, FindNode, Ingest, IngestError, IngestReport, MetricPoint, Read,
    ReadError, TagExpr, TagOp, Timestamp,
};
