//! StatsD aggregation for ferrograph: lines in, flushed Graphite points out
//! through storage's [`storage::Ingest`] handle.
//!
//! Data flows left to right:
//!
//! ```text
//! listen::{udp,tcp}  --bytes-->  statsd (parse)  --Sample-->  bucket (shards)
//!      --flush timer-->  flush (derived values, Graphite names)  --MetricPoint-->  sink
//! ```
//!
//! * [`listen`] frames datagrams and TCP streams into packets (UDP with
//!   SO_REUSEPORT sockets and `recvmmsg`), and serves the admin console.
//! * [`statsd`] is the pure parser: a line becomes a key and [`Sample`]s or
//!   [`ParseError`]s, exactly as Etsy StatsD 0.9.0 reads it; with
//!   `canonicalize_tags` the key's tags are then sorted as Graphite sorts
//!   them ([`tags`]).
//! * [`bucket`] holds one interval per key, sharded by key hash; timers
//!   keep every value, or with `timer_mode = "hdr"` switch to a
//!   fixed-size histogram ([`hdr`]) past `hdr_exact_values` values.
//! * [`flush`] turns an interval into points with the reference's names and
//!   values; [`Aggregator::start`] runs the schedule and hands every flush
//!   to an `Arc<dyn Ingest>`: storage's cache in `ferrograph serve`, the
//!   [`Forwarder`] (Graphite plaintext over TCP) in `ferrograph statsd`.
//! * [`persist`](crate::Settings::state_file) keeps the open interval across
//!   a restart; [`Running::stats`] lists every self-metric.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use aggregator::{Aggregator, RawConfig};
//! use storage::{Ingest, IngestError, IngestReport, MetricPoint};
//!
//! struct Collect(Mutex<Vec<MetricPoint>>);
//! impl Ingest for Collect {
//!     fn ingest(&self, p: Vec<MetricPoint>) -> Result<IngestReport, IngestError> {
//!         let accepted = p.len();
//!         self.0.lock().unwrap().extend(p);
//!         Ok(IngestReport { accepted, ..Default::default() })
//!     }
//! }
//!
//! let raw = RawConfig {
//!     udp: "127.0.0.1:0".into(), tcp: String::new(), admin: String::new(),
//!     ..RawConfig::default()
//! };
//! let sink = Arc::new(Collect(Mutex::new(Vec::new())));
//! let running = Aggregator::start(raw.validate().unwrap(), sink.clone()).unwrap();
//! let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
//! udp.send_to(b"hits:1|c\nhits:2|c|@0.5\nlatency:10|ms", running.local_addrs().udp.unwrap()).unwrap();
//! # while running.stats().iter().all(|(n, v)| n != "metrics_received" || *v < 3) {
//! #     std::thread::sleep(std::time::Duration::from_millis(5));
//! # }
//! running.shutdown(); // final flush of the open interval
//! let points = sink.0.lock().unwrap();
//! let value = |name: &str| points.iter().find(|p| p.name == name).map(|p| p.value);
//! assert_eq!(value("stats_counts.hits"), Some(5.0));
//! assert_eq!(value("stats.timers.latency.upper_90"), Some(10.0));
//! ```
#![deny(missing_docs)]

pub mod bucket;
pub mod config;
pub mod error;
pub mod flush;
pub mod forward;
pub mod hdr;
pub mod idle;
pub mod jsnum;
pub mod key;
pub mod keymap;
pub mod l2met;
pub mod listen;
mod persist;
pub mod sample;
mod server;
pub mod stats;
pub mod statsd;
pub mod tags;
pub mod time;

pub use config::{RawConfig, Settings};
pub use error::{ConfigError, ParseError, ParseErrorKind};
pub use forward::Forwarder;
pub use sample::Sample;
pub use server::{Aggregator, BackendStatus, Engine, LocalAddrs, Running, StartError};
