//! The store a pipeline runs on: Whisper files or ClickHouse tables, behind
//! the same handles, so the stages in front of it never know which.

use std::sync::Arc;

use crate::api::{Ingest, Read};
use crate::clickhouse::{ClickHouseSettings, ClickHouseStore};
use crate::config::{BackendKind, StoreSettings};
use crate::flow::Backpressure;
use crate::schema::SchemaRule;
use crate::store::{StatsSource, Store};

/// A running store.
pub enum Backend {
    /// Whisper files under the data directory.
    Whisper(Store),
    /// carbon-clickhouse's tables.
    ClickHouse(ClickHouseStore),
}

impl Backend {
    /// Opens the backend `settings.backend` names; `clickhouse` is needed
    /// (and only read) for the ClickHouse backend. The data directory is
    /// created either way: it holds the StatsD state.
    pub fn open(
        settings: StoreSettings,
        clickhouse: Option<ClickHouseSettings>,
    ) -> std::io::Result<Backend> {
        match settings.backend {
            BackendKind::Whisper => Store::open(settings).map(Backend::Whisper),
            BackendKind::ClickHouse => {
                std::fs::create_dir_all(&settings.data_dir)?;
                let clickhouse = clickhouse.unwrap_or_default();
                ClickHouseStore::open(settings, clickhouse).map(Backend::ClickHouse)
            }
        }
    }

    /// The handle producers write through.
    pub fn ingest_handle(&self) -> Arc<dyn Ingest> {
        match self {
            Backend::Whisper(s) => s.ingest_handle(),
            Backend::ClickHouse(s) => s.ingest_handle(),
        }
    }

    /// The handle producers that can wait offer points through.
    pub fn backpressure_handle(&self) -> Arc<dyn Backpressure> {
        match self {
            Backend::Whisper(s) => s.backpressure_handle(),
            Backend::ClickHouse(s) => s.backpressure_handle(),
        }
    }

    /// The handle the render API reads through.
    pub fn read_handle(&self) -> Arc<dyn Read> {
        match self {
            Backend::Whisper(s) => s.read_handle(),
            Backend::ClickHouse(s) => s.read_handle(),
        }
    }

    /// The store's self-metrics, readable from anywhere.
    pub fn stats_handle(&self) -> StatsSource {
        match self {
            Backend::Whisper(s) => s.stats_handle(),
            Backend::ClickHouse(s) => s.stats_handle(),
        }
    }

    /// Adds a source whose counters are written with the store's own.
    pub fn add_stats_source(&self, source: StatsSource) {
        match self {
            Backend::Whisper(s) => s.add_stats_source(source),
            Backend::ClickHouse(s) => s.add_stats_source(source),
        }
    }

    /// The retention rule of a series called `name`.
    pub fn schema_for(&self, name: &str) -> SchemaRule {
        match self {
            Backend::Whisper(s) => s.schema_for(name),
            Backend::ClickHouse(s) => s.schema_for(name),
        }
    }

    /// The one handle through which a reload replaces the schemas and
    /// aggregation rules (new files, or ClickHouse's query-time roll-up).
    pub fn rules_handle(&self) -> crate::LiveRules {
        match self {
            Backend::Whisper(s) => s.rules_handle(),
            Backend::ClickHouse(s) => s.rules_handle(),
        }
    }

    /// Points held in memory, not yet in files or tables.
    pub fn pending_points(&self) -> usize {
        match self {
            Backend::Whisper(s) => s.cache_size(),
            Backend::ClickHouse(s) => s.queued_points(),
        }
    }

    /// Writes what is held and stops.
    pub fn shutdown(self) {
        match self {
            Backend::Whisper(s) => s.shutdown(),
            Backend::ClickHouse(s) => s.shutdown(),
        }
    }
}
