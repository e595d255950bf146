//! The `[clickhouse]` section: where the tables are and how points are
//! batched into them.

use std::time::Duration;

use serde::Deserialize;

use crate::config::parse_duration;

/// `[clickhouse]` as written in the config file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// The HTTP interface of the server (or of the node in front of a
    /// cluster's Distributed tables).
    pub url: String,
    /// The database holding the tables.
    pub database: String,
    /// carbon-clickhouse's points table (GraphiteMergeTree).
    pub points_table: String,
    /// carbon-clickhouse's index table (daily, reversed and tree rows).
    pub index_table: String,
    /// carbon-clickhouse's tagged table.
    pub tagged_table: String,
    /// Most points in one insert.
    pub batch_size: usize,
    /// Longest wait before a partial batch is inserted.
    pub batch_interval: String,
    /// Most points waiting to be inserted; past it UDP/StatsD points are
    /// refused (counted) and TCP receivers stop reading.
    pub max_queue_points: usize,
    /// Whole-request timeout of inserts and queries.
    pub timeout: String,
    /// Connect timeout.
    pub connect_timeout: String,
    /// Optional user ("" = ClickHouse's default user).
    pub user: String,
    /// Optional password.
    pub password: String,
    /// Send inserts gzip-compressed.
    pub compress: bool,
    /// For `ferrograph clickhouse init`: a cluster from the server's
    /// `remote_servers`; local tables `<table>_local` plus Distributed
    /// tables sharded by `cityHash64(Path)`. "" = plain tables.
    pub cluster: String,
    /// How often `serve` runs `OPTIMIZE … PARTITION … FINAL` on old
    /// partitions of the points table; "" = never.
    pub optimize_interval: String,
    /// Most distinct (metric, day) pairs the index cache remembers; past it
    /// the cache starts again (rows are re-sent, which ReplacingMergeTree
    /// absorbs).
    pub index_cache_size: usize,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "default".into(),
            points_table: "graphite".into(),
            index_table: "graphite_index".into(),
            tagged_table: "graphite_tagged".into(),
            batch_size: 500_000,
            batch_interval: "1s".into(),
            max_queue_points: 5_000_000,
            timeout: "60s".into(),
            connect_timeout: "5s".into(),
            user: String::new(),
            password: String::new(),
            compress: false,
            cluster: String::new(),
            optimize_interval: "1h".into(),
            index_cache_size: 10_000_000,
        }
    }
}

/// Validated `[clickhouse]` settings.
#[derive(Clone, Debug)]
pub struct ClickHouseSettings {
    /// Base URL without a trailing slash.
    pub url: String,
    /// Database name.
    pub database: String,
    /// Points table.
    pub points_table: String,
    /// Index table.
    pub index_table: String,
    /// Tagged table.
    pub tagged_table: String,
    /// Most points per insert.
    pub batch_size: usize,
    /// Longest wait of a partial batch.
    pub batch_interval: Duration,
    /// Most points queued.
    pub max_queue_points: usize,
    /// Request timeout.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// User, if any.
    pub user: Option<String>,
    /// Password, if any.
    pub password: Option<String>,
    /// gzip inserts.
    pub compress: bool,
    /// Cluster for `init`, if any.
    pub cluster: Option<String>,
    /// Scheduled OPTIMIZE, if any.
    pub optimize_interval: Option<Duration>,
    /// Index cache bound.
    pub index_cache_size: usize,
}

impl Default for ClickHouseSettings {
    fn default() -> Self {
        ClickHouseConfig::default()
            .validate()
            .unwrap_or_else(|e| panic!("the default [clickhouse] settings are valid: {e:?}"))
    }
}

/// A bad `[clickhouse]` key: the key and why.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyProblem {
    /// The key.
    pub key: &'static str,
    /// Why its value is refused.
    pub reason: String,
}

fn bad(key: &'static str, reason: impl Into<String>) -> KeyProblem {
    KeyProblem {
        key,
        reason: reason.into(),
    }
}

/// A SQL identifier ClickHouse takes unquoted.
fn identifier(key: &'static str, value: &str) -> Result<String, KeyProblem> {
    let ok = !value.is_empty()
        && !value.starts_with(|c: char| c.is_ascii_digit())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(value.to_string())
    } else {
        Err(bad(
            key,
            "must be a plain identifier (letters, digits, '_', not starting with a digit)",
        ))
    }
}

fn duration(key: &'static str, value: &str) -> Result<Duration, KeyProblem> {
    parse_duration(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| bad(key, "is not a duration above zero, such as \"1s\""))
}

impl ClickHouseConfig {
    /// Checks every value.
    pub fn validate(&self) -> Result<ClickHouseSettings, KeyProblem> {
        let url = self.url.trim_end_matches('/').to_string();
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("url", "must start with http:// (TLS is not supported)"))?;
        if rest.is_empty() || rest.contains(['/', '?', '#']) {
            return Err(bad(
                "url",
                "must be http://HOST:PORT, without a path or query",
            ));
        }
        if self.batch_size == 0 {
            return Err(bad("batch_size", "must be at least 1"));
        }
        if self.max_queue_points < self.batch_size {
            return Err(bad(
                "max_queue_points",
                format!("must be at least batch_size ({})", self.batch_size),
            ));
        }
        let optimize_interval = if self.optimize_interval.is_empty() {
            None
        } else {
            Some(duration("optimize_interval", &self.optimize_interval)?)
        };
        let cluster = if self.cluster.is_empty() {
            None
        } else {
            Some(identifier("cluster", &self.cluster)?)
        };
        Ok(ClickHouseSettings {
            url,
            database: identifier("database", &self.database)?,
            points_table: identifier("points_table", &self.points_table)?,
            index_table: identifier("index_table", &self.index_table)?,
            tagged_table: identifier("tagged_table", &self.tagged_table)?,
            batch_size: self.batch_size,
            batch_interval: duration("batch_interval", &self.batch_interval)?,
            max_queue_points: self.max_queue_points,
            timeout: duration("timeout", &self.timeout)?,
            connect_timeout: duration("connect_timeout", &self.connect_timeout)?,
            user: Some(self.user.clone()).filter(|u| !u.is_empty()),
            password: Some(self.password.clone()).filter(|p| !p.is_empty()),
            compress: self.compress,
            cluster,
            optimize_interval,
            index_cache_size: self.index_cache_size.max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_carbon_clickhouse_tables_on_the_local_server() {
        let s = ClickHouseConfig::default().validate().unwrap();
        assert_eq!(s.url, "http://127.0.0.1:8123");
        assert_eq!(s.database, "default");
        assert_eq!(
            (
                s.points_table.as_str(),
                s.index_table.as_str(),
                s.tagged_table.as_str()
            ),
            ("graphite", "graphite_index", "graphite_tagged")
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                ClickHouseConfig {
                    url: "https://x:8123".into(),
                    ..Default::default()
                },
                "url",
            ),
            (
                ClickHouseConfig {
                    url: "http://x:8123/db".into(),
                    ..Default::default()
                },
                "url",
            ),
            (
                ClickHouseConfig {
                    database: "a-b".into(),
                    ..Default::default()
                },
                "database",
            ),
            (
                ClickHouseConfig {
                    points_table: "x; DROP".into(),
                    ..Default::default()
                },
                "points_table",
            ),
            (
                ClickHouseConfig {
                    batch_size: 0,
                    ..Default::default()
                },
                "batch_size",
            ),
            (
                ClickHouseConfig {
                    batch_interval: "0s".into(),
                    ..Default::default()
                },
                "batch_interval",
            ),
            (
                ClickHouseConfig {
                    max_queue_points: 10,
                    ..Default::default()
                },
                "max_queue_points",
            ),
        ];
        for (config, key) in cases {
            assert_eq!(config.validate().unwrap_err().key, key, "{config:?}");
        }
    }
}
