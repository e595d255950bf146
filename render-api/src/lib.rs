//! graphite-web's HTTP API for ferrograph, reading through storage's
//! [`storage::Read`] handle.
//!
//! Data flows through these types, in order:
//!
//! 1. a request's `target` text is parsed by [`target::parse_target`] into
//!    an [`Expr`] tree (pure; errors carry the column);
//! 2. an [`Evaluator`] walks the trees for a [`Context`] (time window, now,
//!    time zone, xFilesFactor, template values): path expressions are
//!    fetched through [`storage::Read`] into [`Series`], and calls go to the
//!    [`functions`] registry, which also describes every function for
//!    `/functions`;
//! 3. the resulting series are formatted (JSON, CSV, raw, pickle) by the
//!    HTTP layer.
//!
//! Per-request [`Limits`] bound the series, points and time one request may
//! use; user mistakes become [`ApiError`]s with a 4xx status.
//!
//! ```
//! use render_api::{parse_target, functions::registry};
//!
//! let tree = parse_target("a.b.*|sumSeries()|alias('total')").unwrap();
//! assert_eq!(tree.to_string(), "alias(sumSeries(a.b.*),'total')");
//! assert!(registry().get("movingAverage").is_some());
//! ```
#![deny(missing_docs)]

pub mod config;
pub mod error;
pub mod eval;
pub mod export;
pub mod forecast;
pub mod format;
pub mod functions;
mod graph;
pub mod http;
pub mod pyfmt;
pub mod series;
pub mod state;
pub mod target;
pub mod time;

#[cfg(test)]
pub(crate) mod testing;

pub use config::{RenderConfig, RenderSettings};
pub use error::ApiError;
pub use eval::{Context, Evaluator, Limits, ReadOptions, Value};
pub use http::{router, serve, Api, LogAccepted, LogFormat, LogSink, MetricsExporter, RenderStats};
pub use series::{Consolidation, Series};
pub use target::{parse_target, Expr, ParseError};
