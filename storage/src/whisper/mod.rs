//! Whisper 1.x files, byte-compatible with graphite-project/whisper.
//!
//! [`format`] is the byte layout (read `storage/docs/format/whisper.md`
//! first), [`ops`] the reference algorithms over a file's bytes, [`rollup`]
//! the aggregation of a window, [`file`] the mmap'd file with atomic
//! creation, [`retention`] the retention-string parsers and whisper's
//! archive-list validation, and [`tools`] the resize, merge and fill tools.

pub mod file;
pub mod format;
pub mod ops;
pub mod pyset;
pub mod retention;
pub mod rollup;
pub mod tools;

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use file::{
    build_header_for, create, info, update_many_unmapped, Allocation, FileBuffers, WhisperFile,
    WhisperReader,
};
pub use format::{AggregationMethod, ArchiveInfo, Header};
pub use ops::{FetchResult, Fetched};
pub use retention::{parse_retention_def, validate_archive_list, RetentionSyntax};

/// What can go wrong with a Whisper file or a Whisper operation.
#[derive(Debug)]
#[non_exhaustive]
pub enum WhisperError {
    /// An I/O call on `path` failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done (`open`, `mmap`, `write`, ...).
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not a valid Whisper file.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the bad field.
        offset: u64,
        /// What a valid file has there.
        expected: String,
        /// What this file has there.
        found: String,
    },
    /// `create` refuses to overwrite.
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// An archive list that whisper's `validateArchiveList` rejects, or a
    /// retention string that does not parse.
    InvalidConfiguration(String),
    /// An xFilesFactor outside [0, 1].
    InvalidXFilesFactor(f64),
    /// An unknown aggregation method name.
    InvalidAggregationMethod(String),
    /// `update` of a point outside `0 ≤ now − t < maxRetention`.
    TimestampNotCovered {
        /// The point's timestamp.
        timestamp: i64,
        /// The reference time.
        now: i64,
    },
    /// A timestamp that does not fit Whisper's unsigned 32-bit field.
    TimestampOutOfRange {
        /// The timestamp (aligned to the archive step).
        timestamp: i64,
    },
    /// `fetch` with `from > until`.
    InvalidTimeInterval {
        /// Requested start.
        from: i64,
        /// Requested end.
        until: i64,
    },
    /// `fetch` with a granularity no archive has.
    InvalidGranularity {
        /// The requested step in seconds.
        seconds: u32,
    },
    /// `merge`/`diff` of files with different archive layouts.
    ArchivesUnalike {
        /// Source file.
        from: PathBuf,
        /// Destination file.
        to: PathBuf,
    },
}

impl WhisperError {
    /// True when the error is the disk being full (the caller keeps the
    /// points and retries later).
    pub fn is_storage_full(&self) -> bool {
        matches!(self, WhisperError::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC) || source.raw_os_error() == Some(libc::EDQUOT))
    }

    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        WhisperError::Io {
            path: path.into(),
            op,
            source,
        }
    }
}

impl WhisperError {
    /// What went wrong without the file's path, for answers to clients
    /// that must not learn the server's file layout.
    pub fn reason(&self) -> String {
        match self {
            WhisperError::Io { op, source, .. } => format!("{op} failed: {source}"),
            WhisperError::Corrupt {
                offset,
                expected,
                found,
                ..
            } => {
                format!("corrupt file at byte offset {offset}: expected {expected}, found {found}")
            }
            WhisperError::AlreadyExists { .. } => "the file already exists".into(),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for WhisperError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WhisperError::Io { path, op, source } => {
                write!(f, "{}: {op} failed: {source}", path.display())
            }
            WhisperError::Corrupt {
                path,
                offset,
                expected,
                found,
            } => write!(
                f,
                "corrupt whisper file {}: at byte offset {offset}: expected {expected}, found {found}",
                path.display()
            ),
            WhisperError::AlreadyExists { path } => {
                write!(f, "File {} already exists!", path.display())
            }
            WhisperError::InvalidConfiguration(msg) => f.write_str(msg),
            WhisperError::InvalidXFilesFactor(x) => {
                write!(f, "Invalid xFilesFactor {x}, not between 0 and 1")
            }
            WhisperError::InvalidAggregationMethod(m) => {
                write!(f, "Unrecognized aggregation method: {m}")
            }
            WhisperError::TimestampNotCovered { timestamp, now } => write!(
                f,
                "Timestamp not covered by any archives in this database (timestamp {timestamp}, now {now})."
            ),
            WhisperError::TimestampOutOfRange { timestamp } => write!(
                f,
                "timestamp {timestamp} does not fit whisper's unsigned 32-bit field"
            ),
            WhisperError::InvalidTimeInterval { from, until } => write!(
                f,
                "Invalid time interval: from time '{from}' is after until time '{until}'"
            ),
            WhisperError::InvalidGranularity { seconds } => {
                write!(f, "Invalid granularity: {seconds}")
            }
            WhisperError::ArchivesUnalike { from, to } => write!(
                f,
                "{} and {} archive configurations are unalike. Resize the input before merging",
                from.display(),
                to.display()
            ),
        }
    }
}

impl std::error::Error for WhisperError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WhisperError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
