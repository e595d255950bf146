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

    /// The validated `[statsd]` settings.
    pub fn statsd(&self) -> anyhow::Result<aggregator::Settings> {
        self.config
            .statsd
            .validate()
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.origin()))
    }

    /// The validated `[storage]` settings for `data_dir`; relative schema
    /// paths are resolved against the config file's directory.
    pub fn storage(&self, data_dir: &Path) -> anyhow::Result<storage::StoreSettings> {
        let config_dir = self.path.as_deref().and_then(Path::parent);
        self.config
            .storage
            .validate(data_dir.to_path_buf(), config_dir)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.origin()))
    }

    /// The validated `[render]` settings.
    pub fn render(&self) -> anyhow::Result<render_api::RenderSettings> {
        self.config
            .render
            .validate()
            .map_err(|e| anyhow::anyhow!("{}: [render] {e}", self.origin()))
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

    /// Validates every section that has a validator.
    pub fn check(&self) -> anyhow::Result<()> {
        self.statsd()?;
        self.storage(Path::new("data"))?;
        self.render()?;
        for (key, addr) in [
            ("plaintext", &self.config.carbon.plaintext),
            ("pickle", &self.config.carbon.pickle),
            ("udp", &self.config.carbon.udp),
        ] {
            if !addr.is_empty() && !addr.contains(':') {
                anyhow::bail!(
                    "{}: [carbon] {key} = {addr:?} is not \"host:port\"",
                    self.origin()
                );
            }
        }
        Ok(())
    }
}
