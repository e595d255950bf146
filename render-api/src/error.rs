//! Errors of evaluation and of the HTTP API, and how they map to status
//! codes: everything the user can fix (bad target, bad time, unknown
//! function, bad argument, limit hit) is a 4xx with a plain message; storage
//! failures are 500 with a generic message (the detail goes to the log).

use std::fmt;

use storage::ReadError;

use crate::target::ParseError;
use crate::time::TimeError;

/// Why a request could not be answered.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApiError {
    /// The target did not parse.
    Parse(ParseError),
    /// A from/until/now/interval value did not parse.
    Time(TimeError),
    /// `Received request for unknown function: X`.
    UnknownFunction(String),
    /// A function was called with arguments it cannot use.
    BadArgument {
        /// The function.
        function: String,
        /// What was wrong.
        message: String,
    },
    /// Any other input problem (missing parameter, bad format, ...).
    BadRequest(String),
    /// A per-request limit was reached (series, points, time, results).
    Limit(String),
    /// The requested thing does not exist (`/functions/<name>`).
    NotFound(String),
    /// The backend failed; the message is for the log, not the client.
    Storage(String),
    /// The backend server (ClickHouse) cannot be reached: 503. The message
    /// names the server and what the connection said.
    BackendUnavailable(String),
    /// The backend server answered with an error: 502, with the server's
    /// own message.
    BackendError(String),
    /// A stored series cannot be read (corrupt or unreadable file). The
    /// client is told which series and why, never the file's path.
    Unreadable {
        /// The series.
        series: String,
        /// What is wrong, without the path.
        reason: String,
    },
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Parse(_)
            | ApiError::Time(_)
            | ApiError::UnknownFunction(_)
            | ApiError::BadArgument { .. }
            | ApiError::BadRequest(_) => 400,
            ApiError::NotFound(_) => 404,
            ApiError::Limit(_) => 422,
            ApiError::Storage(_) | ApiError::Unreadable { .. } => 500,
            ApiError::BackendError(_) => 502,
            ApiError::BackendUnavailable(_) => 503,
        }
    }

    /// The text sent to the client: the message itself for user errors, a
    /// generic sentence for storage failures.
    pub fn client_message(&self) -> String {
        match self {
            ApiError::Storage(_) => "internal error while reading the metric store".to_string(),
            other => other.to_string(),
        }
    }

    /// Shorthand for [`ApiError::BadArgument`].
    pub fn bad_argument(function: &str, message: impl Into<String>) -> ApiError {
        ApiError::BadArgument {
            function: function.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Parse(e) => write!(f, "{e}"),
            ApiError::Time(e) => write!(f, "{e}"),
            ApiError::UnknownFunction(name) => {
                write!(f, "Received request for unknown function: {name}")
            }
            ApiError::BadArgument { function, message } => {
                write!(f, "invalid arguments for {function}(): {message}")
            }
            ApiError::BadRequest(m) => f.write_str(m),
            ApiError::Limit(m) => write!(f, "request limit reached: {m}"),
            ApiError::NotFound(m) => f.write_str(m),
            ApiError::Storage(m) => write!(f, "storage error: {m}"),
            ApiError::Unreadable { series, reason } => {
                write!(f, "series {series} cannot be read: {reason}")
            }
            ApiError::BackendUnavailable(m) | ApiError::BackendError(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ApiError {}

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        ApiError::Parse(e)
    }
}

impl From<TimeError> for ApiError {
    fn from(e: TimeError) -> Self {
        ApiError::Time(e)
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::BadRequest(m) => ApiError::BadRequest(m),
            ReadError::LimitExceeded(m) => ApiError::Limit(m),
            ReadError::Storage(m) => ApiError::Storage(m),
            ReadError::Whisper(e) => ApiError::Storage(e.reason()),
            ReadError::Unreadable { series, source } => ApiError::Unreadable {
                series,
                reason: source.reason(),
            },
            ReadError::Unavailable(m) => ApiError::BackendUnavailable(m),
            ReadError::Upstream(m) => ApiError::BackendError(m),
            other => ApiError::Storage(other.to_string()),
        }
    }
}
