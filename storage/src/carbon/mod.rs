//! carbon-compatible receivers: plaintext over TCP and UDP (port 2003) and
//! the pickle protocol over TCP (port 2004), feeding an [`Ingest`] handle.
//!
//! [`plaintext`] and [`pickle`] are pure parsers; [`listen`] frames bytes
//! from sockets, calls them, counts, and forwards batches. Receivers are
//! started apart from the store so the pipeline can stop them first.
//!
//! [`Ingest`]: crate::api::Ingest

pub mod listen;
pub mod pickle;
pub mod plaintext;

use serde::Deserialize;

pub use listen::{ReceiverAddrs, ReceiverStats, Receivers};

/// `[carbon]` as written in the config file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CarbonConfig {
    /// Plaintext over TCP, "host:port"; "" = off.
    pub plaintext: String,
    /// Pickle over TCP; "" = off.
    pub pickle: String,
    /// Plaintext over UDP; "" = off.
    pub udp: String,
    /// Largest pickle message accepted (bytes); a larger length prefix drops
    /// the connection, as carbon does.
    pub max_pickle_length: usize,
    /// carbon's `USE_FLOW_CONTROL`: while the cache is full, TCP receivers
    /// stop reading (the senders' TCP windows close) instead of dropping.
    /// UDP cannot push back: it still drops and counts.
    pub flow_control: bool,
    /// carbon's `aggregation-rules.conf` applied to every point entering
    /// storage (`storage::rules`); "" = none.
    pub aggregation_rules: String,
    /// carbon's `rewrite-rules.conf` (`[pre]`, `[post]`); "" = none.
    pub rewrite_rules: String,
    /// Store the inputs of aggregation rules too (carbon's `FORWARD_ALL`).
    pub aggregation_keep_inputs: bool,
    /// carbon's `MAX_AGGREGATION_INTERVALS`: buckets kept this many
    /// frequencies after the current one, for late points.
    pub aggregation_max_intervals: u32,
    /// Values held in all aggregation buckets at most; more are refused
    /// and counted (`rules.valuesRefused`).
    pub aggregation_max_values: usize,
}

impl Default for CarbonConfig {
    fn default() -> Self {
        CarbonConfig {
            plaintext: "0.0.0.0:2003".into(),
            pickle: "0.0.0.0:2004".into(),
            udp: String::new(),
            max_pickle_length: 1 << 20,
            flow_control: true,
            aggregation_rules: String::new(),
            rewrite_rules: String::new(),
            aggregation_keep_inputs: true,
            aggregation_max_intervals: crate::rules::DEFAULT_MAX_INTERVALS,
            aggregation_max_values: 10_000_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_lists_every_key_with_its_default() {
        let text = include_str!("../../../deploy/ferrograph.example.toml");
        let value: toml::Value = toml::from_str(text).unwrap();
        let carbon: CarbonConfig = value["carbon"].clone().try_into().unwrap();
        assert_eq!(carbon, CarbonConfig::default());
    }
}
