//! `POST /logs`: a Heroku-style HTTPS log drain. The render API only frames
//! the request (method, content type, body size); what the body holds is
//! the [`LogSink`]'s business (in `ferrograph serve`, l2met metrics fed to
//! the StatsD aggregator), so this crate does not depend on the aggregator.
//!
//! * `Content-Type: application/logplex-1` (or none): octet-counted RFC 5424
//!   frames, as Heroku's logplex sends them;
//! * `Content-Type: text/plain`: plain log lines, one per line.
//!
//! Answers: 200 once read (bad frames and fields are counted by the sink,
//! not refused, so a drain never retries a body forever); 400 when nothing
//! in the body could be read; 413 over the configured size; 415 for other
//! content types; 405 for other methods.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Body;
use hyper::header::CONTENT_TYPE;
use hyper::Response;

use super::{to_response, Api, Method, Reply, ResponseBody};

/// How a body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// `application/logplex-1`: octet-counted syslog frames.
    Logplex,
    /// `text/plain`: one log line per line.
    Lines,
}

/// What a sink read from one body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogAccepted {
    /// Log lines read.
    pub lines: usize,
    /// Metrics taken from them.
    pub metrics: usize,
    /// Frames that could not be read.
    pub bad_frames: usize,
    /// Metric fields that could not be read.
    pub bad_fields: usize,
}

/// Where `POST /logs` bodies go.
pub trait LogSink: Send + Sync {
    /// Reads one body. Called on a blocking thread.
    fn accept(&self, format: LogFormat, body: &[u8]) -> LogAccepted;

    /// A body was refused as larger than the limit (for the sink's counters).
    fn too_large(&self) {}
}

/// The configured drain: its sink and body limit.
#[derive(Clone)]
pub(crate) struct LogDrain {
    pub sink: Arc<dyn LogSink>,
    pub max_body_bytes: usize,
}

/// Answers `POST /logs`.
pub(crate) async fn handle<B>(
    api: &Api,
    drain: &LogDrain,
    parts: hyper::http::request::Parts,
    body: B,
) -> Response<ResponseBody>
where
    B: Body + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stats = api.stats();
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let refuse = |status: u16, message: &str| {
        stats.bad_requests.fetch_add(1, Ordering::Relaxed);
        to_response(Reply::error(status, message))
    };
    if parts.method != Method::POST {
        return refuse(405, "POST log frames to /logs");
    }
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let format = match content_type.as_deref() {
        None | Some("application/logplex-1") => LogFormat::Logplex,
        Some("text/plain") => LogFormat::Lines,
        Some(other) => {
            return refuse(
                415,
                &format!("content type {other:?} is not application/logplex-1 or text/plain"),
            )
        }
    };
    let limit = drain.max_body_bytes;
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            drain.sink.too_large();
            return refuse(413, &format!("log body larger than {limit} bytes"));
        }
    };
    let sink = Arc::clone(&drain.sink);
    let read = tokio::task::spawn_blocking(move || sink.accept(format, &body)).await;
    match read {
        Ok(accepted) if accepted.lines == 0 && accepted.bad_frames > 0 => {
            refuse(400, "no log frame in the body could be read")
        }
        Ok(_) => to_response(Reply::ok("text/plain", "")),
        Err(_) => to_response(Reply::error(500, "internal error")),
    }
}
