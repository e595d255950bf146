//! The `[render]` configuration section: raw keys with their defaults
//! ([`RenderConfig`], decoded by serde over [`Default`]) and the validated
//! [`RenderSettings`] the server runs with.

use std::net::SocketAddr;

use chrono_tz::Tz;
use serde::Deserialize;

use storage::api::parse_duration;

use crate::eval::{Limits, ReadOptions};
use crate::time::parse_tz;

/// `[render]` as written in the config file; every key has a default.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RenderConfig {
    /// Listen address of the HTTP API (`host:port`).
    pub http: String,
    /// Time zone for requests without `tz` (graphite's `TIME_ZONE`).
    pub time_zone: String,
    /// Most series one `/render` request may fetch (all targets together).
    pub max_series_per_request: usize,
    /// Most values one `/render` request may fetch.
    pub max_points_per_request: usize,
    /// Longest evaluation of one request, e.g. `"30s"`.
    pub request_timeout: String,
    /// Most nodes one `/metrics/find` or `/metrics/expand` may return.
    pub max_find_results: usize,
    /// Largest accepted request body (POST forms), in bytes.
    pub max_body_bytes: usize,
    /// Opt-in: consolidate fetched series (`maxDataPoints`, mixed steps)
    /// with their storage aggregation method instead of average.
    pub consolidation_from_storage: bool,
    /// Opt-in: fill the coarse archive's buckets from finer archives where
    /// they cover them, instead of one archive for the whole range.
    pub stitch_archives: bool,
    /// A request's line and headers must arrive within this, or the
    /// connection is closed (slowloris; idle keep-alive connections too).
    pub read_timeout: String,
    /// Open connections at most; more are closed at once and counted.
    pub max_connections: usize,
    /// Largest request line plus headers, bytes (431 beyond).
    pub max_header_bytes: usize,
    /// Requests evaluated at once (0 = twice the CPU cores, at least 4);
    /// others wait up to `queue_timeout`, then get 503 with `Retry-After`.
    pub max_concurrent_requests: usize,
    /// How long a request may wait for an evaluation slot.
    pub queue_timeout: String,
    /// When set, every request but `/health` needs
    /// `Authorization: Bearer <read_token>` (401 otherwise).
    pub read_token: String,
    /// When set, writes (events POST/DELETE, dashboard save/delete, the
    /// tag-writing endpoints) need `Authorization: Bearer <write_token>`
    /// (401 otherwise); "" = open, as graphite-web.
    pub write_token: String,
    /// PEM certificate chain for HTTPS ("" = plain HTTP); with `tls_key`.
    pub tls_cert: String,
    /// PEM private key for HTTPS; with `tls_cert`.
    pub tls_key: String,
    /// Widest graph (`/render` png/svg/pdf `width`), pixels.
    pub max_graph_width: u32,
    /// Tallest graph (`height`), pixels.
    pub max_graph_height: u32,
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig {
            http: "0.0.0.0:8080".into(),
            time_zone: "UTC".into(),
            max_series_per_request: 50_000,
            max_points_per_request: 200_000_000,
            request_timeout: "60s".into(),
            max_find_results: 100_000,
            max_body_bytes: 8 * 1024 * 1024,
            consolidation_from_storage: false,
            stitch_archives: false,
            read_timeout: "10s".into(),
            max_connections: 1024,
            max_header_bytes: 64 * 1024,
            max_concurrent_requests: 0,
            queue_timeout: "5s".into(),
            read_token: String::new(),
            write_token: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            max_graph_width: 4096,
            max_graph_height: 4096,
        }
    }
}

/// The HTTP server's own limits (validated).
#[derive(Clone, Debug, PartialEq)]
pub struct HttpLimits {
    /// Deadline for a request's line and headers.
    pub read_timeout: std::time::Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Largest request head, bytes.
    pub max_header_bytes: usize,
    /// Requests evaluated at once.
    pub max_concurrent_requests: usize,
    /// Longest wait for an evaluation slot.
    pub queue_timeout: std::time::Duration,
    /// Bearer token every request needs, if set.
    pub read_token: Option<String>,
    /// Bearer token every write needs, if set.
    pub write_token: Option<String>,
    /// Certificate chain and key files for HTTPS, if set.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            read_timeout: std::time::Duration::from_secs(10),
            max_connections: 1024,
            max_header_bytes: 64 * 1024,
            max_concurrent_requests: default_concurrency(),
            queue_timeout: std::time::Duration::from_secs(5),
            read_token: None,
            write_token: None,
            tls: None,
        }
    }
}

/// Twice the CPU cores, at least 4: evaluations are CPU-bound, and a few
/// more than the cores keep the cores busy while others wait on disk.
fn default_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() * 2)
        .unwrap_or(4)
        .max(4)
}

/// Validated `[render]` settings.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderSettings {
    /// Listen address; `None` switches the API off.
    pub http: Option<SocketAddr>,
    /// Default time zone.
    pub time_zone: Tz,
    /// Per-request evaluation limits.
    pub limits: Limits,
    /// Most find results.
    pub max_find_results: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// How `/render` reads series (the opt-ins beyond graphite-web).
    pub read_options: ReadOptions,
    /// The HTTP server's limits.
    pub http_limits: HttpLimits,
    /// Largest graph width in pixels.
    pub max_graph_width: u32,
    /// Largest graph height in pixels.
    pub max_graph_height: u32,
}

impl Default for RenderSettings {
    fn default() -> Self {
        RenderConfig::default()
            .validate()
            .unwrap_or_else(|_| unreachable_defaults())
    }
}

/// The defaults are constants that validate; this exists only so that
/// `Default` needs no `expect`.
fn unreachable_defaults() -> RenderSettings {
    RenderSettings {
        http: None,
        time_zone: Tz::UTC,
        limits: Limits::default(),
        max_find_results: 100_000,
        max_body_bytes: 8 * 1024 * 1024,
        read_options: ReadOptions::default(),
        http_limits: HttpLimits::default(),
        max_graph_width: 4096,
        max_graph_height: 4096,
    }
}

/// A `[render]` value that does not validate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The key (`render.http`).
    pub key: String,
    /// The offending value.
    pub value: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[render] {} = {:?}: {}",
            self.key, self.value, self.message
        )
    }
}

impl std::error::Error for ConfigError {}

impl RenderConfig {
    /// Checks every key and builds the settings.
    pub fn validate(&self) -> Result<RenderSettings, ConfigError> {
        let err = |key: &str, value: &str, message: &str| ConfigError {
            key: key.into(),
            value: value.into(),
            message: message.into(),
        };
        let http = storage::api::parse_listen_addr(&self.http)
            .map_err(|why| err("http", &self.http, &why))?;
        let time_zone = parse_tz(&self.time_zone)
            .ok_or_else(|| err("time_zone", &self.time_zone, "unknown IANA time zone"))?;
        let timeout = parse_duration(&self.request_timeout)
            .map_err(|e| err("request_timeout", &self.request_timeout, &e))?;
        for (key, v) in [
            ("max_series_per_request", self.max_series_per_request),
            ("max_points_per_request", self.max_points_per_request),
            ("max_find_results", self.max_find_results),
            ("max_body_bytes", self.max_body_bytes),
            ("max_connections", self.max_connections),
            ("max_header_bytes", self.max_header_bytes),
            ("max_graph_width", self.max_graph_width as usize),
            ("max_graph_height", self.max_graph_height as usize),
        ] {
            if v == 0 {
                return Err(err(key, "0", "must be at least 1"));
            }
        }
        let read_timeout = parse_duration(&self.read_timeout)
            .map_err(|e| err("read_timeout", &self.read_timeout, &e))?;
        if read_timeout.is_zero() {
            return Err(err(
                "read_timeout",
                &self.read_timeout,
                "must be greater than 0",
            ));
        }
        let queue_timeout = parse_duration(&self.queue_timeout)
            .map_err(|e| err("queue_timeout", &self.queue_timeout, &e))?;
        let http_limits = HttpLimits {
            read_timeout,
            max_connections: self.max_connections,
            max_header_bytes: self.max_header_bytes,
            max_concurrent_requests: match self.max_concurrent_requests {
                0 => default_concurrency(),
                n => n,
            },
            queue_timeout,
            read_token: (!self.read_token.is_empty()).then(|| self.read_token.clone()),
            write_token: (!self.write_token.is_empty()).then(|| self.write_token.clone()),
            tls: match (self.tls_cert.is_empty(), self.tls_key.is_empty()) {
                (true, true) => None,
                (false, false) => {
                    crate::http::tls::acceptor(self.tls_cert.as_ref(), self.tls_key.as_ref())
                        .map_err(|why| err("tls_cert", &self.tls_cert, &why))?;
                    Some((self.tls_cert.clone().into(), self.tls_key.clone().into()))
                }
                (true, false) => {
                    return Err(err("tls_cert", "", "is needed with tls_key"));
                }
                (false, true) => {
                    return Err(err("tls_key", "", "is needed with tls_cert"));
                }
            },
        };
        Ok(RenderSettings {
            http_limits,
            http,
            time_zone,
            limits: Limits {
                max_series: self.max_series_per_request,
                max_points: self.max_points_per_request,
                timeout,
            },
            max_find_results: self.max_find_results,
            max_body_bytes: self.max_body_bytes,
            read_options: ReadOptions {
                consolidation_from_storage: self.consolidation_from_storage,
                stitch_archives: self.stitch_archives,
            },
            max_graph_width: self.max_graph_width,
            max_graph_height: self.max_graph_height,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn defaults_validate() {
        let s = RenderConfig::default().validate().unwrap();
        assert_eq!(s.http, Some("0.0.0.0:8080".parse().unwrap()));
        assert_eq!(s.limits.timeout, Duration::from_secs(60));
        assert_eq!(s, RenderSettings::default());
    }

    #[test]
    fn shipped_example_holds_the_defaults() {
        let text = include_str!("../../deploy/ferrograph.example.toml");
        let doc: toml::Table = toml::from_str(text).unwrap();
        let render: RenderConfig = doc["render"].clone().try_into().unwrap();
        assert_eq!(render, RenderConfig::default());
    }

    #[test]
    fn bad_values_name_the_key() {
        let c = RenderConfig {
            time_zone: "Mars/Base".into(),
            ..RenderConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().key, "time_zone");
        let c = RenderConfig {
            request_timeout: "soon".into(),
            ..RenderConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().key, "request_timeout");
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    }
}
