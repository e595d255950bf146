//! The two handles at storage's edge: [`Ingest`] (points in) and [`Read`]
//! (find and fetch out).
//!
//! Every other crate talks to storage only through these traits and the
//! plain data types next to them. The StatsD aggregator and the carbon
//! receivers hold an `Arc<dyn Ingest>`; the render API holds an
//! `Arc<dyn Read>`. Nothing outside `storage` constructs a cache, a writer or
//! a Whisper file. Another backend (a ClickHouse GraphiteMergeTree, a
//! write-ahead log in front of the cache, a Graphite-line forwarder) fits
//! behind the same two traits.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::config::{parse_duration, parse_listen_addr};
pub use crate::tagged::{canonicalize, is_tagged, relative_file_path, TagError, TaggedSeries};
pub use crate::whisper::{AggregationMethod, WhisperError};

/// Seconds since the Unix epoch. Whisper stores `u32`; the API uses `i64` so
/// that arithmetic on ranges never wraps and bad input can be rejected
/// explicitly instead of being truncated.
pub type Timestamp = i64;

/// One value of one named series at one second.
///
/// `name` is a Graphite path (`a.b.c`) or a Graphite 1.1 tagged name
/// (`a.b;k=v;k2=v2`); tagged names are canonicalised by storage on ingest.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricPoint {
    /// Graphite path, optionally with `;tag=value` pairs.
    pub name: String,
    /// When the value was measured.
    pub timestamp: Timestamp,
    /// The value; producers never send NaN (carbon drops it at ingest).
    pub value: f64,
}

impl MetricPoint {
    /// A point for `name` at `timestamp`.
    pub fn new(name: impl Into<String>, timestamp: Timestamp, value: f64) -> Self {
        Self {
            name: name.into(),
            timestamp,
            value,
        }
    }
}

/// What happened to a batch handed to [`Ingest::ingest`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Points now held by the backend (cache, queue or socket buffer).
    pub accepted: usize,
    /// Points refused because a bounded buffer was full. The backend has
    /// already counted them in its own overflow metric; the caller may count
    /// them again under its own name.
    pub overflowed: usize,
    /// Points refused as invalid (bad name, NaN, timestamp out of range).
    pub rejected: usize,
}

impl IngestReport {
    /// Adds the points this report refused to a caller's counters: the
    /// invalid ones to `rejected`, those that did not fit to `overflowed`.
    pub fn count_refused(&self, rejected: &AtomicU64, overflowed: &AtomicU64) {
        rejected.fetch_add(self.rejected as u64, Ordering::Relaxed);
        overflowed.fetch_add(self.overflowed as u64, Ordering::Relaxed);
    }
}

/// Why a whole batch was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The backend is stopping and accepts nothing more.
    #[error("storage is shutting down")]
    ShuttingDown,
    /// Anything else; its text is the operator's message.
    #[error(transparent)]
    Other(#[from] Box<dyn std::error::Error + Send + Sync>),
}

/// Accepts points. Implementations must return quickly: they buffer and
/// never wait on disk, so a listener calling them is never blocked by I/O.
pub trait Ingest: Send + Sync {
    /// Hand over a batch of points. Points the backend cannot hold are
    /// counted and reported, never silently lost.
    fn ingest(&self, points: Vec<MetricPoint>) -> Result<IngestReport, IngestError>;
}

/// One node returned by [`Read::find`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FindNode {
    /// Full dotted path of the node (`a.b.c`).
    pub path: String,
    /// True for a series (a Whisper file), false for a branch (a directory).
    /// A name can be both; then two nodes are returned.
    pub is_leaf: bool,
}

/// The time window of a fetch, as graphite-web hands it to its readers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchRange {
    /// Start of the window (Whisper excludes the slot containing it).
    pub from: Timestamp,
    /// End of the window (Whisper includes the slot containing it).
    pub until: Timestamp,
    /// The reference "now": it decides Whisper's archive choice and clamps
    /// the window, exactly like `whisper.fetch(path, from, until, now)`.
    pub now: Timestamp,
}

/// The answer of [`Read::fetch`] for one series: `values[i]` belongs to
/// `start + i * step`; `None` is a missing point.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchedSeries {
    /// The series' path (canonical form for tagged series).
    pub path: String,
    /// Timestamp of the first value.
    pub start: Timestamp,
    /// Exclusive end: `start + values.len() * step`.
    pub end: Timestamp,
    /// Seconds between values.
    pub step: Timestamp,
    /// One entry per step; `None` where nothing was stored.
    pub values: Vec<Option<f64>>,
    /// How the series' coarser archives are rolled up (its storage
    /// aggregation method), when the backend knows it. The render API can
    /// take its default consolidation from it (`[render]
    /// consolidation_from_storage`).
    pub aggregation: Option<AggregationMethod>,
}

/// How a fetch reads a series; the default is exactly graphite-web's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FetchOptions {
    /// Stitch archives: where whisper would answer the whole window from one
    /// coarse archive (the one whose retention covers `now − from`), take
    /// each coarse bucket that a finer archive covers from the finest such
    /// archive instead, rolled up with the file's own method and
    /// xFilesFactor (slots after `until` not counted). The step and the
    /// timestamps stay those of the coarse archive.
    pub stitch_archives: bool,
    /// Answer `None` for a series whose file cannot be read (corrupt,
    /// truncated, unreadable) instead of failing the whole fetch: a glob
    /// that matches one bad file still answers with the others. Each such
    /// file is logged once and counted
    /// ([`crate::api::unreadable_series_skipped`]).
    pub skip_unreadable: bool,
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The request itself is wrong (bad glob, from > until); maps to HTTP 400.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The request matched more than a configured limit allows; maps to 4xx.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The backend failed for a reason only a message describes (a fetch
    /// thread panicked); maps to HTTP 500.
    #[error("storage error: {0}")]
    Storage(String),
    /// A Whisper file could not be read (corrupt file, I/O); maps to HTTP 500.
    #[error("storage error: {0}")]
    Whisper(#[source] WhisperError),
    /// The backend server cannot be reached (ClickHouse down); maps to
    /// HTTP 503.
    #[error("{0}")]
    Unavailable(String),
    /// The backend server answered with an error, or an answer that cannot
    /// be read; maps to HTTP 502 with the server's message.
    #[error("{0}")]
    Upstream(String),
    /// A stored series could not be read (corrupt file, I/O); maps to HTTP
    /// 500. The message names the series and the file, for logs; answers
    /// to clients use [`WhisperError::reason`], which leaves the path out.
    #[error("series {series} cannot be read: {source}")]
    Unreadable {
        /// The series as the request named it.
        series: String,
        /// What failed, with the file's path.
        #[source]
        source: WhisperError,
    },
}

/// One `seriesByTag` expression: `tag=value`, `tag!=value`, `tag=~regex`,
/// `tag!=~regex`. Regexes are anchored at the start only, as graphite-web's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagExpr {
    /// The tag name; `name` is the series' path.
    pub tag: String,
    /// How `value` is compared.
    pub op: TagOp,
    /// The literal value or the regex text.
    pub value: String,
}

impl TagExpr {
    /// Parses `tag=value`, `tag!=value`, `tag=~regex` or `tag!=~regex`, the
    /// argument form of `seriesByTag` and of the `/tags` endpoints' `expr`.
    /// The tag is the text before the first `=`/`!=`; the value may itself
    /// contain `=`.
    pub fn parse(text: &str) -> Result<TagExpr, ReadError> {
        let Some(eq) = text.find('=') else {
            return Err(ReadError::BadRequest(format!(
                "invalid tag expression {text:?}: expected tag=value, tag!=value, tag=~regex or tag!=~regex"
            )));
        };
        let (tag, negated) = match text[..eq].strip_suffix('!') {
            Some(tag) => (tag, true),
            None => (&text[..eq], false),
        };
        let rest = &text[eq + 1..];
        let (op, value) = match (negated, rest.strip_prefix('~')) {
            (false, Some(re)) => (TagOp::Match, re),
            (true, Some(re)) => (TagOp::NotMatch, re),
            (false, None) => (TagOp::Eq, rest),
            (true, None) => (TagOp::NotEq, rest),
        };
        if tag.is_empty() {
            return Err(ReadError::BadRequest(format!(
                "invalid tag expression {text:?}: empty tag name"
            )));
        }
        Ok(TagExpr {
            tag: tag.to_string(),
            op,
            value: value.to_string(),
        })
    }
}

impl fmt::Display for TagExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            TagOp::Eq => "=",
            TagOp::NotEq => "!=",
            TagOp::Match => "=~",
            TagOp::NotMatch => "!=~",
        };
        write!(f, "{}{}{}", self.tag, op, self.value)
    }
}

/// The comparison in a [`TagExpr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagOp {
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `=~`
    Match,
    /// `!=~`
    NotMatch,
}

/// Reads series: the only handle the render API holds.
///
/// Points still in the cache (received but not yet on disk) are merged into
/// every answer, so a point is visible as soon as it is received.
pub trait Read: Send + Sync {
    /// Nodes matching a Graphite glob (`*`, `?`, `[a-z]`, `[!a]`, `{a,b}`,
    /// matched per dot-separated component), sorted by path.
    fn find(&self, pattern: &str) -> Result<Vec<FindNode>, ReadError>;

    /// One series over a window; `Ok(None)` if `path` is not a stored series
    /// or the window lies wholly outside its retention.
    fn fetch(&self, path: &str, range: FetchRange) -> Result<Option<FetchedSeries>, ReadError>;

    /// Several series over the same window, in the order given. Backends may
    /// read them in parallel.
    fn fetch_many(
        &self,
        paths: &[String],
        range: FetchRange,
    ) -> Result<Vec<Option<FetchedSeries>>, ReadError> {
        paths.iter().map(|p| self.fetch(p, range)).collect()
    }

    /// [`Read::fetch_many`] with [`FetchOptions`], into `out` (resized to
    /// `paths.len()`), reusing the value buffers of the series already
    /// there: a caller fetching many series in chunks (a streamed
    /// `sumSeries`) allocates them once instead of once per chunk. Backends
    /// that cannot honour an option answer as with the default options.
    fn fetch_many_into(
        &self,
        paths: &[String],
        range: FetchRange,
        options: FetchOptions,
        out: &mut Vec<Option<FetchedSeries>>,
    ) -> Result<(), ReadError> {
        let _ = options;
        *out = self.fetch_many(paths, range)?;
        Ok(())
    }

    /// Canonical names of the tagged series matching every expression.
    fn find_tagged(&self, exprs: &[TagExpr]) -> Result<Vec<String>, ReadError>;

    /// Every tag name in the tag index, sorted (`name` included).
    fn tag_names(&self) -> Result<Vec<String>, ReadError>;

    /// Every value of `tag` with the number of series carrying it, sorted by value.
    fn tag_values(&self, tag: &str) -> Result<Vec<(String, usize)>, ReadError>;

    /// Adds a tagged series to the tag index (graphite-web's `/tags/tagSeries`)
    /// and returns its canonical name.
    fn tag_series(&self, path: &str) -> Result<String, ReadError>;

    /// Removes a tagged series from the tag index (`/tags/delSeries`); true
    /// if it was there. Data on disk is left alone, as graphite-web does.
    fn del_series(&self, path: &str) -> Result<bool, ReadError>;
}

/// Series skipped by fetches with [`FetchOptions::skip_unreadable`] since
/// the process started.
pub fn unreadable_series_skipped() -> u64 {
    crate::read::UNREADABLE_SKIPPED.load(std::sync::atomic::Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (String, TagOp, String) {
        let e = TagExpr::parse(text).expect(text);
        assert_eq!(e.to_string(), text, "Display round-trips");
        (e.tag, e.op, e.value)
    }

    #[test]
    fn tag_expression_operators() {
        assert_eq!(parsed("dc=eu"), ("dc".into(), TagOp::Eq, "eu".into()));
        assert_eq!(parsed("dc!=eu"), ("dc".into(), TagOp::NotEq, "eu".into()));
        assert_eq!(parsed("dc=~e.*"), ("dc".into(), TagOp::Match, "e.*".into()));
        assert_eq!(
            parsed("dc!=~e.*"),
            ("dc".into(), TagOp::NotMatch, "e.*".into())
        );
        assert_eq!(
            parsed("name=a.b=c"),
            ("name".into(), TagOp::Eq, "a.b=c".into())
        );
        assert_eq!(parsed("dc="), ("dc".into(), TagOp::Eq, "".into()));
    }

    #[test]
    fn tag_expression_errors() {
        assert!(TagExpr::parse("dc").is_err());
        assert!(TagExpr::parse("=eu").is_err());
        assert!(TagExpr::parse("!=eu").is_err());
    }
}
