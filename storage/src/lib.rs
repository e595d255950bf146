//! Whisper-compatible storage for ferrograph.
//!
//! Data flow, left to right:
//!
//! * **in**: points arrive through the [`Ingest`] handle (StatsD flushes,
//!   carbon receivers, [`carbon`]) into a sharded cache (`cache.rs`), from
//!   which writer threads (`store/writer.rs`) move them to disk;
//! * **on disk**: one Whisper 1.x file per series ([`whisper`]: the byte
//!   layout in [`whisper::format`], whisper's update/fetch algorithms in
//!   [`whisper::ops`], mmap'd files with atomic creation in
//!   [`whisper::file`], the `whisper-resize`/`-merge`/`-fill` tools in
//!   [`whisper::tools`]); tagged series live under `_tagged/` as
//!   graphite-web expects (`tagged.rs`, its vocabulary re-exported in
//!   [`api`]);
//! * **out**: the [`Read`] handle answers `find` (Graphite globs matched per
//!   component, `glob.rs`, walking the tree, `finder.rs`, or the store's
//!   in-memory index, `index.rs`), `fetch`, and the tag queries (`tags.rs`).
//!   [`WhisperTree`] is the read-only implementation over an existing
//!   directory; [`Store`] the writable one.
//!
//! The two traits and their data types in [`api`] are the crate's boundary.
//! Producers that can wait (the carbon TCP receivers) also use
//! [`Backpressure`] (`flow.rs`): the store takes what fits in its cache and
//! hands the rest back instead of dropping it.
//!
//! ```
//! use storage::{FetchRange, Read, WhisperTree};
//! use storage::whisper::{self, AggregationMethod, Allocation, WhisperFile};
//!
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::create_dir_all(dir.path().join("a")).unwrap();
//! let file = dir.path().join("a/b.wsp");
//! whisper::create(&file, &[(10, 360)], 0.5, AggregationMethod::Average, Allocation::Sparse).unwrap();
//! WhisperFile::open_rw(&file).unwrap().update_many(&[(1_000, 4.0), (1_010, 5.0)], 1_015).unwrap();
//!
//! let tree = WhisperTree::open(dir.path(), Default::default()).unwrap();
//! assert_eq!(tree.find("a.*").unwrap()[0].path, "a.b");
//! let s = tree.fetch("a.b", FetchRange { from: 990, until: 1_015, now: 1_015 }).unwrap().unwrap();
//! assert_eq!((s.start, s.step), (1_000, 10));
//! assert_eq!(s.values, vec![Some(4.0), Some(5.0)]);
//! ```
#![deny(missing_docs)]

pub mod api;
mod backend;
mod cache;
pub mod carbon;
pub mod clickhouse;
mod config;
mod finder;
mod flow;
mod glob;
mod index;
pub mod journal;
pub mod live_rules;
pub mod net;
pub mod pyfmt;
mod read;
pub mod refusals;
pub mod rules;
pub mod schema;
mod store;
pub mod sys;
mod tagged;
mod tags;
pub mod whisper;

pub use api::{
    AggregationMethod, FetchOptions, FetchRange, FetchedSeries, FindNode, Ingest, IngestError,
    IngestReport, MetricPoint, Read, ReadError, TagExpr, TagOp, Timestamp,
};
pub use backend::Backend;
pub use config::{BackendKind, CorruptFiles, StorageConfig, StoreSettings};
pub use flow::{Backpressure, Offered};
pub use live_rules::{LiveRules, RetentionRules};
pub use read::{ReadLimits, WhisperTree};
pub use store::{merge_cached, StatsSource, Store, StoreStats};

/// Reads every `.wsp` header under `data_dir` on a background thread and
/// warns once about each file that is not valid Whisper (at most 100 named,
/// then one summary line), so `ferrograph web` reports damage at start as
/// `serve` does. Ends early once `stop()` is true.
pub fn check_files_in_background(
    data_dir: impl Into<std::path::PathBuf>,
    stop: impl Fn() -> bool + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    store::verify::spawn(data_dir.into(), stop)
}

/// Opens an existing Whisper directory tree read-only (no cache, no
/// writers): the handle `ferrograph web --data-dir DIR` serves from.
pub fn open_read_only(
    data_dir: impl Into<std::path::PathBuf>,
    limits: ReadLimits,
) -> std::io::Result<std::sync::Arc<dyn Read>> {
    Ok(std::sync::Arc::new(WhisperTree::open(data_dir, limits)?))
}
