//! The whole configuration file: one section per stage, unknown sections
//! and keys refused with the file, section and key named.
//!
//! `[statsd]` is decoded into [`aggregator::RawConfig`] and validated by
//! the aggregator crate; `[carbon]` and `[storage]` into the storage crate's
//! `CarbonConfig` and `StorageConfig`. Sections owned by other stages are
//! listed here as they land; until then they are accepted as opaque tables
//! so the shipped example validates.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// Every section of `ferrograph.toml`, each with its defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// StatsD listeners, aggregation and flush (the aggregator crate).
    pub statsd: aggregator::RawConfig,
    /// carbon receivers (the storage crate).
    pub carbon: storage::carbon::CarbonConfig,
    /// Whisper storage: schemas, cache, writers, self-metrics.
    pub storage: storage::StorageConfig,
    /// Render API: listen address, time zone, limits.
    pub render: render_api::RenderConfig,
    /// l2met log metrics: `POST /logs`, the syslog listener.
    pub logs: crate::logs_cmd::LogsConfig,
    /// The ClickHouse backend's server and tables (`[storage] backend =
    /// "clickhouse"`), also read by `ferrograph clickhouse`.
    pub clickhouse: storage::clickhouse::ClickHouseConfig,
    /// `ferrograph statsd-proxy`: listeners, nodes, health checks.
    pub statsd_proxy: crate::statsd_proxy::config::RawProxyConfig,
    /// The log level (reloadable).
    pub log: crate::logging::LogConfig,
}

/// A loaded file: its path (for messages) and contents.
#[derive(Debug)]
pub struct Loaded {
    /// Where it came from; None for the built-in defaults.
    pub path: Option<PathBuf>,
    /// The decoded sections.
    pub config: FileConfig,
    /// The file as a plain table, to tell set keys from defaults.
    raw: Option<toml::Table>,
}

impl Loaded {
    /// The built-in defaults (no file).
    pub fn defaults() -> Loaded {
        Loaded {
            path: None,
            config: FileConfig::default(),
            raw: None,
        }
    }

    /// Reads and decodes `path`; unknown sections or keys are errors.
    pub fn from_file(path: &Path) -> anyhow::Result<Loaded> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let config: FileConfig = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        let raw = toml::from_str::<toml::Table>(&text).ok();
        Ok(Loaded {
            path: Some(path.to_path_buf()),
            config,
            raw,
        })
    }

    /// `path` if given, else the defaults.
    pub fn from_option(path: Option<&Path>) -> anyhow::Result<Loaded> {
        match path {
            Some(p) => Self::from_file(p),
            None => Ok(Self::defaults()),
        }
    }

    fn origin(&self) -> String {
        self.path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "built-in defaults".into())
    }

    /// The one shape of every config error:
    /// `FILE: [section] key = value: reason`, the value as written in the
    /// file (or `fallback_value` when the key was left at its default).
    fn key_error(
        &self,
        section: &str,
        key: &str,
        fallback_value: Option<&str>,
        reason: &str,
    ) -> anyhow::Error {
        let written = self
            .raw
            .as_ref()
            .and_then(|t| t.get(section))
            .and_then(|s| s.get(key))
            .map(|v| v.to_string());
        let value = written.or_else(|| fallback_value.map(|v| format!("{v:?}")));
        match value {
            Some(v) => anyhow::anyhow!("{}: [{section}] {key} = {v}: {reason}", self.origin()),
            None => anyhow::anyhow!("{}: [{section}] {key}: {reason}", self.origin()),
        }
    }

    /// The validated `[statsd]` settings.
    pub fn statsd(&self) -> anyhow::Result<aggregator::Settings> {
        self.config
            .statsd
            .validate()
            .map_err(|e| self.key_error("statsd", &e.key, None, &e.reason))
    }

    /// The validated `[storage]` settings for `data_dir`; relative schema
    /// paths are resolved against the config file's directory. Reads the
    /// schema files, writes nothing.
    pub fn storage(&self, data_dir: &Path) -> anyhow::Result<storage::StoreSettings> {
        let config_dir = self.path.as_deref().and_then(Path::parent);
        self.config
            .storage
            .validate(data_dir.to_path_buf(), config_dir)
            .map_err(|e| {
                // A problem of a key of this file is "key: reason"; one in
                // a schema or aggregation file names that file and line.
                match (e.file.as_str(), e.message.split_once(": ")) {
                    ("config", Some((key, reason))) => self.key_error("storage", key, None, reason),
                    _ => anyhow::anyhow!("{}: [storage] {e}", self.origin()),
                }
            })
    }

    /// The validated `[render]` settings.
    pub fn render(&self) -> anyhow::Result<render_api::RenderSettings> {
        self.config
            .render
            .validate()
            .map_err(|e| self.key_error("render", &e.key, Some(&e.value), &e.message))
    }

    /// The validated `[clickhouse]` settings.
    pub fn clickhouse(&self) -> anyhow::Result<storage::clickhouse::ClickHouseSettings> {
        let section = &self.config.clickhouse;
        section.validate().map_err(|e| {
            let default = storage::clickhouse::ClickHouseConfig::default();
            let fallback = match e.key {
                "url" => Some(default.url),
                _ => None,
            };
            self.key_error("clickhouse", e.key, fallback.as_deref(), &e.reason)
        })
    }

    /// The `[carbon]` listen addresses, checked with the parser every
    /// listener uses (the receivers bind exactly these).
    pub fn carbon(&self) -> anyhow::Result<()> {
        let carbon = &self.config.carbon;
        for (key, addr) in [
            ("plaintext", &carbon.plaintext),
            ("pickle", &carbon.pickle),
            ("udp", &carbon.udp),
        ] {
            storage::api::parse_listen_addr(addr)
                .map_err(|why| self.key_error("carbon", key, Some(addr), &why))?;
        }
        Ok(())
    }

    /// The validated `[logs]` settings: the syslog address, if any.
    pub fn logs(&self) -> anyhow::Result<Option<std::net::SocketAddr>> {
        let logs = &self.config.logs;
        if logs.max_body == 0 {
            return Err(self.key_error("logs", "max_body", None, "must be at least 1 byte"));
        }
        storage::api::parse_listen_addr(&logs.syslog)
            .map_err(|why| self.key_error("logs", "syslog", Some(&logs.syslog), &why))
    }

    /// `[carbon] aggregation_rules` and `rewrite_rules` read and parsed
    /// (relative paths from the config file's directory); `None` when
    /// neither is set. A file that cannot be read is an error; lines that
    /// do not parse are in the rules' `problems` (serve logs and skips
    /// them, `check-config` fails on them).
    pub fn ingest_rules(&self) -> anyhow::Result<Option<storage::rules::IngestRules>> {
        let carbon = &self.config.carbon;
        let config_dir = self.path.as_deref().and_then(Path::parent);
        let resolve = |text: &str| -> Option<PathBuf> {
            if text.is_empty() {
                return None;
            }
            let path = Path::new(text);
            Some(match config_dir {
                Some(dir) if path.is_relative() => dir.join(path),
                _ => path.to_path_buf(),
            })
        };
        let aggregation = resolve(&carbon.aggregation_rules);
        let rewrite = resolve(&carbon.rewrite_rules);
        if aggregation.is_none() && rewrite.is_none() {
            return Ok(None);
        }
        if carbon.aggregation_max_intervals == 0 {
            return Err(self.key_error(
                "carbon",
                "aggregation_max_intervals",
                None,
                "must be at least 1",
            ));
        }
        let mut rules =
            storage::rules::IngestRules::load(aggregation.as_deref(), rewrite.as_deref()).map_err(
                |e| {
                    let key = if aggregation
                        .as_deref()
                        .is_some_and(|p| p.display().to_string() == e.file)
                    {
                        "aggregation_rules"
                    } else {
                        "rewrite_rules"
                    };
                    let reason = match e.line {
                        0 => format!("{}: {}", e.file, e.message),
                        _ => e.to_string(),
                    };
                    self.key_error("carbon", key, None, &reason)
                },
            )?;
        rules.keep_inputs = carbon.aggregation_keep_inputs;
        rules.max_intervals = carbon.aggregation_max_intervals;
        rules.max_values = carbon.aggregation_max_values;
        Ok(Some(rules))
    }

    /// The validated `[statsd_proxy]` settings (node errors name the
    /// entry: `nodes[1].port`).
    pub fn statsd_proxy(&self) -> anyhow::Result<crate::statsd_proxy::config::ProxySettings> {
        self.config.statsd_proxy.validate().map_err(|e| {
            anyhow::anyhow!(
                "{}: [statsd_proxy] {} = {}: {}",
                self.origin(),
                e.key,
                e.value,
                e.reason
            )
        })
    }

    /// The validated `[log]` filter.
    pub fn log_filter(&self) -> anyhow::Result<tracing_subscriber::EnvFilter> {
        self.config
            .log
            .filter()
            .map_err(|why| self.key_error("log", "level", None, &why))
    }

    /// True when the file sets `[section] key` itself (so a mode-specific
    /// default must not override it).
    pub fn sets(&self, section: &str, key: &str) -> bool {
        self.raw
            .as_ref()
            .and_then(|t| t.get(section))
            .and_then(|s| s.as_table())
            .is_some_and(|s| s.contains_key(key))
    }

    /// Validates every section, exactly as `serve` does before it touches
    /// the data directory (`check-config` runs this).
    pub fn check(&self, data_dir: &Path) -> anyhow::Result<()> {
        self.statsd()?;
        self.carbon()?;
        self.ingest_rules()?;
        self.logs()?;
        self.storage(data_dir)?;
        self.clickhouse()?;
        self.render()?;
        self.log_filter()?;
        // Only a file that configures the proxy must have nodes.
        if self
            .raw
            .as_ref()
            .is_some_and(|t| t.contains_key("statsd_proxy"))
        {
            self.statsd_proxy()?;
        }
        Ok(())
    }
}
