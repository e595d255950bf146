//! Flow control between producers that can wait (TCP receivers) and the
//! bounded cache: instead of refusing what does not fit, the sink takes what
//! it has room for and hands the rest back, so the producer can stop reading
//! its socket until room returns (carbon's `USE_FLOW_CONTROL`). Producers
//! that cannot wait (UDP) keep using [`Ingest`](crate::api::Ingest), where
//! overflow is refused and counted.

use crate::api::{IngestError, IngestReport, MetricPoint};

/// The answer to [`Backpressure::offer`].
#[derive(Debug, Default)]
pub struct Offered {
    /// What happened to the points taken (`overflowed` is always 0).
    pub report: IngestReport,
    /// Valid points not taken because the cache is full, in their original
    /// order (names already normalised); offer them again later.
    pub rest: Vec<MetricPoint>,
}

/// A sink that pushes back instead of dropping.
pub trait Backpressure: Send + Sync {
    /// Takes as many points as there is room for, in order; invalid points
    /// are rejected and counted as by `Ingest::ingest`. The store keeps
    /// some headroom (5 % of its cache) that offers never fill, for
    /// producers that cannot wait.
    fn offer(&self, points: Vec<MetricPoint>) -> Result<Offered, IngestError>;
}
