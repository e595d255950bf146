//! The `[storage]` section: raw keys with their defaults (deserialised from
//! the config file), validated into [`StoreSettings`] with the schema files
//! loaded and every value checked; errors name the key and the value.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::schema::{AggregationRules, ConfigProblem, Schemas};
use crate::whisper::Allocation;

/// `[storage]` as written in the config file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Where points are kept: "whisper" (files under the data directory)
    /// or "clickhouse" (the `[clickhouse]` section's server).
    pub backend: String,
    /// carbon-format storage-schemas.conf; "" = built-in defaults.
    pub schemas: String,
    /// carbon-format storage-aggregation.conf; "" = built-in defaults.
    pub aggregation: String,
    /// Most points the cache holds; more are refused and counted.
    pub max_cache_points: usize,
    /// Writer threads.
    pub writers: usize,
    /// New files per second (0 = unlimited). Metrics waiting for creation
    /// keep their points in the cache.
    pub max_creates_per_second: f64,
    /// How new files are allocated: "fallocate", "zeroed" or "sparse".
    pub create_mode: String,
    /// Where self-metrics go; `{host}` is the short host name.
    pub self_metrics_prefix: String,
    /// How often self-metrics are written; "" = never.
    pub self_metrics_interval: String,
    /// Most nodes one find may return.
    pub max_find_results: usize,
    /// What writes do with a file that is not valid Whisper: "refuse"
    /// (drop its points, log the path once, count) or "quarantine" (rename
    /// it to `NAME.wsp.corrupt` and start a new file).
    pub corrupt_files: String,
    /// The write-ahead journal under DATA_DIR/.journal (on by default).
    pub wal: bool,
    /// How often journal appends are made durable (fdatasync): what a power
    /// loss can take at most.
    pub wal_sync_interval: String,
    /// Most bytes the journal may hold; past it new points are refused.
    pub wal_max_size: u64,
    /// Longest stop: points not in files by then stay in the journal and
    /// are written after the next start.
    pub stop_timeout: String,
    /// Series new to the store admitted per minute (0 = unlimited); points
    /// of the others are refused and counted per prefix. Series with files
    /// are never refused by it.
    pub max_new_series_per_minute: u64,
    /// Most points waiting for files not yet created; past it points of new
    /// series are refused and counted, never those of series with files.
    /// 0 = a quarter of `max_cache_points`.
    pub max_pending_create_points: usize,
    /// Resize existing files whose archives differ from their schema's
    /// (whisper-resize semantics) in the background, after start and after
    /// each reload. Off by default, as in carbon.
    pub resize_on_schema_change: bool,
    /// Most files that background resize rewrites per second.
    pub resize_files_per_second: f64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: "whisper".into(),
            schemas: String::new(),
            aggregation: String::new(),
            max_cache_points: 10_000_000,
            writers: 2,
            max_creates_per_second: 500.0,
            create_mode: "fallocate".into(),
            self_metrics_prefix: "carbon.agents.{host}".into(),
            self_metrics_interval: "60s".into(),
            max_find_results: 100_000,
            corrupt_files: "refuse".into(),
            wal: true,
            wal_sync_interval: "1s".into(),
            wal_max_size: 1024 * 1024 * 1024,
            stop_timeout: "30s".into(),
            max_new_series_per_minute: 100_000,
            max_pending_create_points: 0,
            resize_on_schema_change: false,
            resize_files_per_second: 10.0,
        }
    }
}

/// What writes do with a corrupt file (`[storage] corrupt_files`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CorruptFiles {
    /// Drop the points meant for it; log its path once; count them.
    #[default]
    Refuse,
    /// Move it aside as `NAME.wsp.corrupt` and create a new file.
    Quarantine,
}

/// Where points are kept (`[storage] backend`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendKind {
    /// Whisper files under the data directory.
    #[default]
    Whisper,
    /// carbon-clickhouse's tables on a ClickHouse server.
    ClickHouse,
}

/// Validated store settings.
#[derive(Clone, Debug)]
pub struct StoreSettings {
    /// Where points are kept.
    pub backend: BackendKind,
    /// The data directory (created if missing).
    pub data_dir: PathBuf,
    /// Retention rules for new files.
    pub schemas: Schemas,
    /// Aggregation rules for new files.
    pub aggregation: AggregationRules,
    /// Cache limit in points.
    pub max_cache_points: usize,
    /// Writer threads.
    pub writers: usize,
    /// Creates per second; `None` = unlimited.
    pub max_creates_per_second: Option<f64>,
    /// Allocation of new files.
    pub allocation: Allocation,
    /// Self-metrics prefix (host substituted) and interval, if enabled.
    pub self_metrics: Option<(String, Duration)>,
    /// Most nodes one find may return.
    pub max_find_results: usize,
    /// Files the writers keep mapped together; `None`: half of the
    /// kernel's `vm.max_map_count`, at most 524 288.
    pub max_mapped_files: Option<usize>,
    /// What writes do with a corrupt file.
    pub corrupt_files: CorruptFiles,
    /// The journal's settings; `None` without a journal.
    pub journal: Option<crate::journal::JournalSettings>,
    /// Longest stop.
    pub stop_timeout: Duration,
    /// New series per minute; `None` = unlimited.
    pub max_new_series_per_minute: Option<u64>,
    /// Points waiting for files not yet created (resolved, ≥ 1).
    pub max_pending_create_points: usize,
    /// Files resized per second when existing files follow schema changes;
    /// `None` = they keep their archives (`resize_on_schema_change = false`).
    pub resize_files_per_second: Option<f64>,
}

impl StoreSettings {
    /// Defaults for `data_dir` (built-in schemas, two writers, ...).
    pub fn new(data_dir: impl Into<PathBuf>) -> StoreSettings {
        StorageConfig::default()
            .validate(data_dir.into(), None)
            .unwrap_or_else(|e| panic!("the default storage settings are valid: {e}"))
    }
}

/// Parses the duration strings of every config section: `"10s"`,
/// `"500ms"`, `"1.5s"`, `"2m"` (or `"2min"`), `"1h"`, `"1d"`, or a bare
/// number of seconds. The one parser the aggregator, storage and render
/// configs share, so a value means the same in every section.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "{text:?} is not a duration: a number with an optional unit, such as \"10s\", \
             \"500ms\", \"1.5m\" (units: ms, s, m or min, h, d; a bare number is seconds)"
        )
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

/// Parses a listen address of any section: `"host:port"`, the host a
/// literal IP or a name resolved by the system (`localhost:8080`), the
/// first address wins; `""` switches the listener off (`None`). The one
/// parser every listener shares, so an address means the same everywhere
/// and `check-config` refuses exactly what `serve` would.
pub fn parse_listen_addr(text: &str) -> Result<Option<std::net::SocketAddr>, String> {
    use std::net::ToSocketAddrs;
    if text.is_empty() {
        return Ok(None);
    }
    let mut addrs = text.to_socket_addrs().map_err(|e| {
        let why = match text.rsplit_once(':') {
            None => "missing \":port\"".to_string(),
            Some((_, port)) if port.parse::<u16>().is_err() => {
                format!("{port:?} is not a port number (0-65535)")
            }
            Some(_) => e.to_string(),
        };
        format!("not \"host:port\": {why}")
    })?;
    addrs
        .next()
        .map(Some)
        .ok_or_else(|| "resolves to no address".to_string())
}

/// The short host name (up to the first dot), as carbon uses it.
pub fn short_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    name.split('.')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("localhost")
        .to_string()
}

fn problem(key: &str, message: String) -> ConfigProblem {
    ConfigProblem {
        file: "config".into(),
        section: Some("storage".into()),
        line: 0,
        message: format!("{key}: {message}"),
    }
}

impl StorageConfig {
    /// Checks every value and loads the schema files. Relative schema paths
    /// are resolved against `config_dir` when given.
    pub fn validate(
        &self,
        data_dir: PathBuf,
        config_dir: Option<&Path>,
    ) -> Result<StoreSettings, ConfigProblem> {
        let resolve = |p: &str| -> PathBuf {
            let path = PathBuf::from(p);
            match config_dir {
                Some(d) if path.is_relative() => d.join(path),
                _ => path,
            }
        };
        let schemas = if self.schemas.is_empty() {
            Schemas::builtin()
        } else {
            Schemas::load(&resolve(&self.schemas))?
        };
        let aggregation = if self.aggregation.is_empty() {
            AggregationRules::builtin()
        } else {
            AggregationRules::load(&resolve(&self.aggregation))?
        };
        if self.max_cache_points == 0 {
            return Err(problem("max_cache_points", "must be at least 1".into()));
        }
        if self.writers == 0 || self.writers > 64 {
            return Err(problem(
                "writers",
                format!("{} is not in 1..=64", self.writers),
            ));
        }
        if !(self.max_creates_per_second >= 0.0 && self.max_creates_per_second.is_finite()) {
            return Err(problem(
                "max_creates_per_second",
                format!(
                    "{} is not a non-negative number",
                    self.max_creates_per_second
                ),
            ));
        }
        let allocation = match self.create_mode.as_str() {
            "fallocate" => Allocation::Fallocate,
            "zeroed" => Allocation::Zeroed,
            "sparse" => Allocation::Sparse,
            other => {
                return Err(problem(
                    "create_mode",
                    format!("{other:?} is not \"fallocate\", \"zeroed\" or \"sparse\""),
                ))
            }
        };
        let backend = match self.backend.as_str() {
            "whisper" => BackendKind::Whisper,
            "clickhouse" => BackendKind::ClickHouse,
            other => {
                return Err(problem(
                    "backend",
                    format!("{other:?} is not \"whisper\" or \"clickhouse\""),
                ))
            }
        };
        let corrupt_files = match self.corrupt_files.as_str() {
            "refuse" => CorruptFiles::Refuse,
            "quarantine" => CorruptFiles::Quarantine,
            other => {
                return Err(problem(
                    "corrupt_files",
                    format!("{other:?} is not \"refuse\" or \"quarantine\""),
                ))
            }
        };
        let wal_sync_interval = parse_duration(&self.wal_sync_interval)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                problem(
                    "wal_sync_interval",
                    format!("{:?} is not a duration above zero", self.wal_sync_interval),
                )
            })?;
        if self.wal_max_size < 1024 * 1024 {
            return Err(problem(
                "wal_max_size",
                format!("{} is below 1 MiB", self.wal_max_size),
            ));
        }
        let stop_timeout =
            parse_duration(&self.stop_timeout).map_err(|e| problem("stop_timeout", e))?;
        let self_metrics = if self.self_metrics_interval.is_empty() {
            None
        } else {
            let every = parse_duration(&self.self_metrics_interval)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    problem(
                        "self_metrics_interval",
                        format!(
                            "{:?} is not a duration such as \"60s\"",
                            self.self_metrics_interval
                        ),
                    )
                })?;
            let prefix = self
                .self_metrics_prefix
                .replace("{host}", &short_hostname());
            if prefix.is_empty() || prefix.ends_with('.') {
                return Err(problem(
                    "self_metrics_prefix",
                    format!(
                        "{:?} must be a non-empty dotted prefix",
                        self.self_metrics_prefix
                    ),
                ));
            }
            Some((prefix, every))
        };
        if !(self.resize_files_per_second > 0.0 && self.resize_files_per_second.is_finite()) {
            return Err(problem(
                "resize_files_per_second",
                format!("{} is not a positive rate", self.resize_files_per_second),
            ));
        }
        Ok(StoreSettings {
            resize_files_per_second: (self.resize_on_schema_change
                && backend == BackendKind::Whisper)
                .then_some(self.resize_files_per_second),
            backend,
            data_dir,
            schemas,
            aggregation,
            max_cache_points: self.max_cache_points,
            writers: self.writers,
            max_creates_per_second: (self.max_creates_per_second > 0.0)
                .then_some(self.max_creates_per_second),
            allocation,
            self_metrics,
            max_find_results: self.max_find_results.max(1),
            max_mapped_files: None,
            corrupt_files,
            journal: self.wal.then_some(crate::journal::JournalSettings {
                sync_interval: wal_sync_interval,
                max_size: self.wal_max_size,
            }),
            stop_timeout,
            max_new_series_per_minute: (self.max_new_series_per_minute > 0)
                .then_some(self.max_new_series_per_minute),
            max_pending_create_points: match self.max_pending_create_points {
                0 => (self.max_cache_points / 4).max(1),
                n => n.min(self.max_cache_points),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("1e400s").is_err());
        assert_eq!(parse_duration("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn validation_names_key_and_value() {
        let mut c = StorageConfig {
            create_mode: "lazy".into(),
            ..Default::default()
        };
        let e = c.validate("/tmp".into(), None).unwrap_err().to_string();
        assert!(e.contains("create_mode") && e.contains("lazy"), "{e}");
        c.create_mode = "sparse".into();
        c.schemas = "/nonexistent/storage-schemas.conf".into();
        let e = c.validate("/tmp".into(), None).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/storage-schemas.conf"), "{e}");
        let s = StoreSettings::new("/tmp/x");
        assert_eq!(s.writers, 2);
        assert!(s
            .self_metrics
            .as_ref()
            .is_some_and(|(p, _)| p.starts_with("carbon.agents.")));
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn the_shipped_example_lists_every_key_with_its_default() {
        let text = include_str!("../../deploy/ferrograph.example.toml");
        let value: toml::Value = toml::from_str(text).unwrap();
        let storage: StorageConfig = value["storage"].clone().try_into().unwrap();
        assert_eq!(storage, StorageConfig::default());
    }
}
