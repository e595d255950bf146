//! The daemon's own counters: what it received, refused and dropped.
//!
//! Two views: the per-interval counts that become the reference's
//! `statsd.packets_received`/`metrics_received`/`bad_lines_seen` counters,
//! and process-lifetime totals by reason for [`crate::Running::stats`]
//! (exported by the binary, e.g. in Prometheus format).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{ParseError, ParseErrorKind};

/// Lifetime and per-interval counters, all lock-free.
#[derive(Debug)]
pub struct Stats {
    /// Datagrams and TCP chunks handed to the parser.
    pub packets_received: AtomicU64,
    /// Non-empty lines seen.
    pub metrics_received: AtomicU64,
    bad_lines: [AtomicU64; ParseErrorKind::ALL.len()],
    /// New keys refused because `max_keys` keys were held.
    pub keys_over_limit: AtomicU64,
    /// Timer values refused because `max_timer_values` were held.
    pub timer_values_over_limit: AtomicU64,
    /// hdr mode: timer values outside `[0, hdr_max_value]`, clamped to the
    /// range for the rank-based fields (counted at the flush).
    pub timer_values_clamped: AtomicU64,
    /// Datagrams longer than the receive buffer (cut by the kernel).
    pub udp_truncated: AtomicU64,
    /// UDP socket errors other than timeouts.
    pub udp_errors: AtomicU64,
    /// TCP connections refused at `tcp_max_connections`.
    pub tcp_connections_refused: AtomicU64,
    /// Admin `del*` commands refused from remote peers.
    pub admin_refused: AtomicU64,
    /// Flushes done.
    pub flushes: AtomicU64,
    /// Time spent computing flushes, in microseconds (with `flushes`, the
    /// flush latency summary of `/metrics`).
    pub flush_micros: AtomicU64,
    /// Flushed values dropped because they were NaN or infinite.
    pub flush_non_finite: AtomicU64,
    /// Points the sink refused because its buffer was full.
    pub sink_overflowed: AtomicU64,
    /// Points the sink refused as invalid.
    pub sink_rejected: AtomicU64,
    /// Whole flushes the sink refused.
    pub sink_errors: AtomicU64,
    /// Unix seconds of the last datagram or line (admin `stats`).
    pub last_msg_seen: AtomicI64,
    interval_packets: AtomicU64,
    interval_metrics: AtomicU64,
    interval_bad: AtomicU64,
    bad_log: Mutex<RateLimit>,
}

/// At most one log line per period; counts what it held back.
#[derive(Debug)]
struct RateLimit {
    last: Option<Instant>,
    suppressed: u64,
}

const BAD_LINE_LOG_PERIOD: Duration = Duration::from_secs(60);

impl Default for Stats {
    fn default() -> Self {
        Stats {
            packets_received: AtomicU64::new(0),
            metrics_received: AtomicU64::new(0),
            bad_lines: std::array::from_fn(|_| AtomicU64::new(0)),
            keys_over_limit: AtomicU64::new(0),
            timer_values_over_limit: AtomicU64::new(0),
            timer_values_clamped: AtomicU64::new(0),
            udp_truncated: AtomicU64::new(0),
            udp_errors: AtomicU64::new(0),
            tcp_connections_refused: AtomicU64::new(0),
            admin_refused: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            flush_micros: AtomicU64::new(0),
            flush_non_finite: AtomicU64::new(0),
            sink_overflowed: AtomicU64::new(0),
            sink_rejected: AtomicU64::new(0),
            sink_errors: AtomicU64::new(0),
            last_msg_seen: AtomicI64::new(crate::time::unix_now_secs()),
            interval_packets: AtomicU64::new(0),
            interval_metrics: AtomicU64::new(0),
            interval_bad: AtomicU64::new(0),
            bad_log: Mutex::new(RateLimit {
                last: None,
                suppressed: 0,
            }),
        }
    }
}

/// The per-interval counts taken at a flush.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IntervalCounts {
    /// `packets_received`.
    pub packets: u64,
    /// `metrics_received`.
    pub metrics: u64,
    /// `bad_lines_seen`.
    pub bad: u64,
}

impl Stats {
    /// `n` datagrams or TCP chunks.
    pub fn packets(&self, n: u64) {
        self.packets_received.fetch_add(n, Ordering::Relaxed);
        self.interval_packets.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` non-empty lines.
    pub fn metrics(&self, n: u64) {
        self.metrics_received.fetch_add(n, Ordering::Relaxed);
        self.interval_metrics.fetch_add(n, Ordering::Relaxed);
    }

    /// One refused sample; logged at most once a minute.
    pub fn bad_line(&self, err: &ParseError, peer: &dyn std::fmt::Display) {
        self.bad_lines[err.kind.index()].fetch_add(1, Ordering::Relaxed);
        self.interval_bad.fetch_add(1, Ordering::Relaxed);
        let mut log = self.bad_log.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match log.last {
            Some(t) if now.duration_since(t) < BAD_LINE_LOG_PERIOD => log.suppressed += 1,
            _ => {
                tracing::warn!(
                    reason = err.kind.as_str(),
                    excerpt = %err.excerpt,
                    %peer,
                    suppressed_since_last = log.suppressed,
                    "bad StatsD line (logged at most once a minute; see bad_lines counters)"
                );
                log.last = Some(now);
                log.suppressed = 0;
            }
        }
    }

    /// The per-interval counts so far, left in place (for a snapshot).
    pub fn peek_interval(&self) -> IntervalCounts {
        IntervalCounts {
            packets: self.interval_packets.load(Ordering::Relaxed),
            metrics: self.interval_metrics.load(Ordering::Relaxed),
            bad: self.interval_bad.load(Ordering::Relaxed),
        }
    }

    /// Takes and resets the per-interval counts.
    pub fn take_interval(&self) -> IntervalCounts {
        IntervalCounts {
            packets: self.interval_packets.swap(0, Ordering::Relaxed),
            metrics: self.interval_metrics.swap(0, Ordering::Relaxed),
            bad: self.interval_bad.swap(0, Ordering::Relaxed),
        }
    }

    /// Lifetime total of bad lines, all reasons.
    pub fn bad_lines_total(&self) -> u64 {
        self.bad_lines
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Lifetime bad lines of one reason.
    pub fn bad_lines(&self, kind: ParseErrorKind) -> u64 {
        self.bad_lines[kind.index()].load(Ordering::Relaxed)
    }

    /// Every lifetime counter as (name, value); `extra` adds listener
    /// figures (kernel drops) computed elsewhere.
    pub fn snapshot(&self, extra: &[(&str, u64)]) -> Vec<(String, u64)> {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = vec![
            ("packets_received".to_string(), l(&self.packets_received)),
            ("metrics_received".to_string(), l(&self.metrics_received)),
            ("bad_lines_seen".to_string(), self.bad_lines_total()),
        ];
        for kind in ParseErrorKind::ALL {
            out.push((
                format!("bad_lines{{reason=\"{}\"}}", kind.as_str()),
                self.bad_lines(kind),
            ));
        }
        out.extend([
            ("keys_over_limit".to_string(), l(&self.keys_over_limit)),
            (
                "timer_values_over_limit".to_string(),
                l(&self.timer_values_over_limit),
            ),
            (
                "timer_values_clamped".to_string(),
                l(&self.timer_values_clamped),
            ),
            ("udp_truncated".to_string(), l(&self.udp_truncated)),
            ("udp_errors".to_string(), l(&self.udp_errors)),
            (
                "tcp_connections_refused".to_string(),
                l(&self.tcp_connections_refused),
            ),
            ("admin_refused".to_string(), l(&self.admin_refused)),
            ("flushes".to_string(), l(&self.flushes)),
            ("flush_micros".to_string(), l(&self.flush_micros)),
            ("flush_non_finite".to_string(), l(&self.flush_non_finite)),
            ("sink_overflowed".to_string(), l(&self.sink_overflowed)),
            ("sink_rejected".to_string(), l(&self.sink_rejected)),
            ("sink_errors".to_string(), l(&self.sink_errors)),
        ]);
        out.extend(extra.iter().map(|(n, v)| (n.to_string(), *v)));
        out
    }
}
