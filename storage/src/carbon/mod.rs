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
}

impl Default for CarbonConfig {
    fn default() -> Self {
        CarbonConfig {
            plaintext: "0.0.0.0:2003".into(),
            pickle: "0.0.0.0:2004".into(),
            udp: String::new(),
            max_pickle_length: 1 << 20,
            flow_control: true,
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
