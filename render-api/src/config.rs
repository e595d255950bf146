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
        }
    }
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
        ] {
            if v == 0 {
                return Err(err(key, "0", "must be at least 1"));
            }
        }
        Ok(RenderSettings {
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
