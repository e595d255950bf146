//! The `[statsd]` configuration: [`RawConfig`] is what the TOML file says
//! (every key with its default, unknown keys refused), [`RawConfig::validate`]
//! turns it into [`Settings`], the only form the rest of the crate reads.
//!
//! Contract keys (scripts and tests rely on them): `udp`, `tcp`, `admin`,
//! `flush_interval`, `percentiles`, `legacy_namespace`, `delete_idle_stats`,
//! `graphite`. Every other Etsy StatsD option uses the snake_case form of its
//! reference name (`prefixStats` → `prefix_stats`). Keys of our own say so
//! in `deploy/ferrograph.example.toml`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use storage::api::parse_duration;

use crate::error::ConfigError;
use crate::hdr::{HdrSpec, TimerMode};
use crate::jsnum::js_format;
use crate::statsd::ParseOptions;

/// The `[statsd]` section as written, with defaults for absent keys.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// UDP listener, "host:port"; "" disables it.
    pub udp: String,
    /// TCP listener (newline-separated lines); "" disables it.
    pub tcp: String,
    /// Unix datagram socket path; "" (default) disables it.
    pub unix: String,
    /// Admin console (Etsy `mgmt_port`); "" disables it.
    pub admin: String,
    /// Aggregation interval ("10s", "500ms", "1m").
    pub flush_interval: String,
    /// Timer percentiles (Etsy `percentThreshold`); negative = top.
    pub percentiles: Vec<f64>,
    /// Etsy `graphite.legacyNamespace`.
    pub legacy_namespace: bool,
    /// Etsy `deleteIdleStats`: default for the four `delete_*` keys.
    pub delete_idle_stats: bool,
    /// Etsy `deleteCounters` (default: `delete_idle_stats`).
    pub delete_counters: Option<bool>,
    /// Etsy `deleteTimers` (default: `delete_idle_stats`).
    pub delete_timers: Option<bool>,
    /// Etsy `deleteSets` (default: `delete_idle_stats`).
    pub delete_sets: Option<bool>,
    /// Etsy `deleteGauges` (default: `delete_idle_stats`).
    pub delete_gauges: Option<bool>,
    /// Etsy `gaugesMaxTTL`: flushes a deleted-when-idle gauge is still sent.
    pub gauges_max_ttl: i64,
    /// Ours: flushes a kept counter, timer or set that receives nothing
    /// still sends its zeros before it is removed (0 = forever, as Etsy).
    pub idle_zero_flushes: u32,
    /// Graphite plaintext backend "host:port" ("" = compute and discard).
    pub graphite: String,
    /// Etsy `graphite.globalPrefix` (non-legacy namespace only).
    pub global_prefix: String,
    /// Etsy `graphite.prefixCounter`.
    pub prefix_counter: String,
    /// Etsy `graphite.prefixTimer`.
    pub prefix_timer: String,
    /// Etsy `graphite.prefixGauge`.
    pub prefix_gauge: String,
    /// Etsy `graphite.prefixSet`.
    pub prefix_set: String,
    /// Etsy `prefixStats`: namespace of the daemon's own metrics.
    pub prefix_stats: String,
    /// Etsy `graphite.globalSuffix` ("" = none).
    pub global_suffix: String,
    /// Etsy `flush_counts`: also send `stats_counts.X` / `X.count`.
    pub flush_counts: bool,
    /// Etsy `keyNameSanitize`.
    pub key_name_sanitize: bool,
    /// Etsy `calculatedTimerMetrics` ([] = all).
    pub calculated_timer_metrics: Vec<String>,
    /// Etsy `histogram`: timer bins, first matching entry wins.
    pub histogram: Vec<RawHistogram>,
    /// Ours: treat `h` and `d` as timers (the reference sums them).
    pub hd_as_timers: bool,
    /// Ours: sort a key's tags as Graphite does before aggregating (the
    /// reference keeps them as sent).
    pub canonicalize_tags: bool,
    /// Ours: flush at wall-clock multiples of the interval.
    pub align_flush: bool,
    /// Ours: file that keeps the open interval across a restart ("" = off).
    pub state_file: String,
    /// Ours: UDP receive threads, one SO_REUSEPORT socket each (0 = one
    /// per CPU).
    pub udp_threads: usize,
    /// Ours: SO_RCVBUF per UDP socket, bytes.
    pub udp_receive_buffer: usize,
    /// Ours: datagrams read per `recvmmsg` call.
    pub udp_batch: usize,
    /// Ours: concurrent TCP connections (StatsD and admin each).
    pub tcp_max_connections: usize,
    /// Ours: accept the admin console's destructive commands (`delcounters`
    /// and the other `del*`) from peers other than loopback.
    pub admin_allow_remote: bool,
    /// Ours: longest TCP line kept, bytes.
    pub tcp_max_line: usize,
    /// Ours: aggregation shards (0 = automatic).
    pub shards: usize,
    /// Ours: distinct keys held, all types together; new keys beyond it are
    /// dropped and counted.
    pub max_keys: usize,
    /// Ours: timer values held per interval (exact mode, and hdr-mode keys
    /// not yet switched); values beyond it are dropped and counted.
    pub max_timer_values: usize,
    /// Ours: "exact" (every value, as the reference) or "hdr" (bounded
    /// memory per key: an HDR histogram past `hdr_exact_values` values).
    pub timer_mode: String,
    /// Ours, hdr mode: significant decimal digits of recorded values (1-5).
    pub hdr_significant_digits: u8,
    /// Ours, hdr mode: smallest distinguishable timer value difference, ms.
    pub hdr_resolution: f64,
    /// Ours, hdr mode: largest value recorded without clamping, ms.
    pub hdr_max_value: f64,
    /// Ours, hdr mode: values a key keeps exactly per interval before
    /// switching to its histogram (0 = histogram from the first value).
    pub hdr_exact_values: usize,
    /// Ours: points the Graphite forwarder queues while the backend is
    /// slow or down; beyond it points are dropped and counted.
    pub graphite_queue: usize,
    /// Ours: how long shutdown waits for the forwarder to deliver.
    pub graphite_shutdown_timeout: String,
}

/// One `histogram` entry: timers whose key contains `metric` get `bins`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHistogram {
    /// Substring of the timer key ("" matches every key).
    pub metric: String,
    /// Exclusive upper bounds, ascending; the string "inf" catches the rest.
    pub bins: Vec<RawBin>,
}

/// A bin bound: a number or "inf".
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RawBin {
    /// A finite bound.
    Number(f64),
    /// Must be "inf".
    Text(String),
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            udp: "0.0.0.0:8125".into(),
            tcp: "0.0.0.0:8125".into(),
            unix: String::new(),
            admin: "0.0.0.0:8126".into(),
            flush_interval: "10s".into(),
            percentiles: vec![90.0],
            legacy_namespace: true,
            delete_idle_stats: false,
            delete_counters: None,
            delete_timers: None,
            delete_sets: None,
            delete_gauges: None,
            gauges_max_ttl: 1,
            idle_zero_flushes: 0,
            graphite: String::new(),
            global_prefix: "stats".into(),
            prefix_counter: "counters".into(),
            prefix_timer: "timers".into(),
            prefix_gauge: "gauges".into(),
            prefix_set: "sets".into(),
            prefix_stats: "statsd".into(),
            global_suffix: String::new(),
            flush_counts: true,
            key_name_sanitize: true,
            calculated_timer_metrics: Vec::new(),
            histogram: Vec::new(),
            hd_as_timers: false,
            canonicalize_tags: false,
            align_flush: false,
            state_file: String::new(),
            udp_threads: 0,
            udp_receive_buffer: 8 << 20,
            udp_batch: 32,
            tcp_max_connections: 1024,
            admin_allow_remote: false,
            tcp_max_line: 1 << 20,
            shards: 0,
            max_keys: 4_000_000,
            max_timer_values: 20_000_000,
            timer_mode: "exact".into(),
            hdr_significant_digits: 3,
            hdr_resolution: 0.001,
            hdr_max_value: 3_600_000.0,
            hdr_exact_values: 1024,
            graphite_queue: 2_000_000,
            graphite_shutdown_timeout: "5s".into(),
        }
    }
}

/// A timer percentile with its Graphite key suffix.
#[derive(Clone, Debug, PartialEq)]
pub struct Percentile {
    /// As configured: 90, 99.9, -10 ...
    pub value: f64,
    /// `90`, `99_9`, `top10`: JS `String(p)` with the first `.` → `_` and
    /// the first `-` → `top`.
    pub suffix: String,
}

/// Timer histogram bins for keys containing `metric`.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramBins {
    /// Substring of the key.
    pub metric: String,
    /// Upper bounds (`f64::INFINITY` for "inf") with their key names
    /// (`bin_2_5`, `bin_inf`).
    pub bins: Vec<(f64, String)>,
}

/// Validated settings: everything the aggregator reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// UDP listener address.
    pub udp: Option<SocketAddr>,
    /// TCP listener address.
    pub tcp: Option<SocketAddr>,
    /// Unix datagram socket path.
    pub unix: Option<PathBuf>,
    /// Admin console address.
    pub admin: Option<SocketAddr>,
    /// Aggregation interval.
    pub flush_interval: Duration,
    /// Timer percentiles, in configured order.
    pub percentiles: Vec<Percentile>,
    /// Legacy namespace (`stats.X`, `stats_counts.X`).
    pub legacy_namespace: bool,
    /// Delete counters that saw nothing in an interval.
    pub delete_counters: bool,
    /// Delete idle timers.
    pub delete_timers: bool,
    /// Delete idle sets.
    pub delete_sets: bool,
    /// Delete gauges `gauges_max_ttl` flushes after their last update.
    pub delete_gauges: bool,
    /// See [`RawConfig::gauges_max_ttl`].
    pub gauges_max_ttl: u32,
    /// See [`RawConfig::idle_zero_flushes`].
    pub idle_zero_flushes: u32,
    /// Graphite backend "host:port" for the standalone daemon.
    pub graphite: Option<String>,
    /// Non-legacy global prefix ("" drops the segment).
    pub global_prefix: String,
    /// Non-legacy counter prefix.
    pub prefix_counter: String,
    /// Non-legacy timer prefix.
    pub prefix_timer: String,
    /// Non-legacy gauge prefix.
    pub prefix_gauge: String,
    /// Non-legacy set prefix.
    pub prefix_set: String,
    /// Namespace of the daemon's own metrics.
    pub prefix_stats: String,
    /// Suffix appended after the metric path (None = none).
    pub global_suffix: Option<String>,
    /// Send raw counts as well as rates.
    pub flush_counts: bool,
    /// Parser switches.
    pub parse: ParseOptions,
    /// Timer keys kept (`None` = all); percentile keys are matched in their
    /// `_percent` form, as the reference does.
    pub calculated_timer_metrics: Option<Vec<String>>,
    /// Timer histogram bins.
    pub histogram: Vec<HistogramBins>,
    /// Flush at wall-clock multiples of the interval.
    pub align_flush: bool,
    /// Where the open interval is kept across a restart.
    pub state_file: Option<PathBuf>,
    /// With `state_file`: also write it every this often while running,
    /// with the last flush's points, so a crash loses at most this much of
    /// the open interval and never counts a flushed one twice (set by
    /// `serve` to the storage journal's sync interval; not a file key).
    pub snapshot_interval: Option<Duration>,
    /// UDP receive threads (resolved, ≥ 1).
    pub udp_threads: usize,
    /// SO_RCVBUF bytes.
    pub udp_receive_buffer: usize,
    /// Datagrams per `recvmmsg`.
    pub udp_batch: usize,
    /// Concurrent TCP connections per listener.
    pub tcp_max_connections: usize,
    /// Destructive admin commands from non-loopback peers.
    pub admin_allow_remote: bool,
    /// Longest TCP line, bytes.
    pub tcp_max_line: usize,
    /// Aggregation shards (resolved, ≥ 1).
    pub shards: usize,
    /// Distinct keys held.
    pub max_keys: usize,
    /// Timer values held per interval.
    pub max_timer_values: usize,
    /// How timers keep their values.
    pub timer_mode: TimerMode,
    /// Forwarder queue, points.
    pub graphite_queue: usize,
    /// Forwarder drain time at shutdown.
    pub graphite_shutdown_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        RawConfig::default()
            .validate()
            .unwrap_or_else(|e| panic!("the built-in defaults are valid: {e}"))
    }
}

/// The timer keys computed over a timer's whole interval, in the order
/// Etsy's flush emits them.
pub const WHOLE_TIMER_METRICS: [&str; 9] = [
    "std",
    "upper",
    "lower",
    "count",
    "count_ps",
    "sum",
    "sum_squares",
    "mean",
    "median",
];

/// The timer keys `calculated_timer_metrics` may name besides
/// [`WHOLE_TIMER_METRICS`]: the histogram and the per-percentile forms.
pub const OTHER_TIMER_METRICS: [&str; 7] = [
    "histogram",
    "count_percent",
    "mean_percent",
    "upper_percent",
    "lower_percent",
    "sum_percent",
    "sum_squares_percent",
];

fn listen_addr(key: &str, text: &str) -> Result<Option<SocketAddr>, ConfigError> {
    storage::api::parse_listen_addr(text).map_err(|why| ConfigError::new(key, why))
}

/// `String(p)` with the first `.` → `_` and the first `-` → `top`.
pub fn percentile_suffix(p: f64) -> String {
    js_format(p).replacen('.', "_", 1).replacen('-', "top", 1)
}

impl RawConfig {
    /// Checks every value and resolves defaults into [`Settings`].
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        let flush_interval = parse_duration(&self.flush_interval)
            .map_err(|e| ConfigError::new("flush_interval", e))?;
        if flush_interval.is_zero() {
            return Err(ConfigError::new("flush_interval", "must be greater than 0"));
        }
        if self.align_flush && flush_interval.subsec_nanos() != 0 {
            return Err(ConfigError::new(
                "flush_interval",
                "must be whole seconds when align_flush = true (points carry whole-second timestamps)",
            ));
        }
        if self.percentiles.is_empty() {
            return Err(ConfigError::new("percentiles", "needs at least one value"));
        }
        let mut percentiles = Vec::new();
        for &p in &self.percentiles {
            if !p.is_finite() || p == 0.0 || !(-100.0..=100.0).contains(&p) {
                return Err(ConfigError::new(
                    "percentiles",
                    format!("{p} is not in [-100, 100] without 0"),
                ));
            }
            percentiles.push(Percentile {
                value: p,
                suffix: percentile_suffix(p),
            });
        }
        if self.gauges_max_ttl < 1 {
            return Err(ConfigError::new(
                "gauges_max_ttl",
                format!("{} must be an integer >= 1", self.gauges_max_ttl),
            ));
        }
        let gauges_max_ttl = u32::try_from(self.gauges_max_ttl)
            .map_err(|_| ConfigError::new("gauges_max_ttl", "too large"))?;
        let graphite = if self.graphite.is_empty() {
            None
        } else {
            listen_addr("graphite", &self.graphite)?;
            Some(self.graphite.clone())
        };
        let calculated_timer_metrics = if self.calculated_timer_metrics.is_empty() {
            None
        } else {
            for m in &self.calculated_timer_metrics {
                let known = WHOLE_TIMER_METRICS.iter().chain(&OTHER_TIMER_METRICS);
                if !known.clone().any(|k| k == m) {
                    return Err(ConfigError::new(
                        "calculated_timer_metrics",
                        format!(
                            "unknown timer metric {m:?} (known: {})",
                            known.copied().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
            Some(self.calculated_timer_metrics.clone())
        };
        let mut histogram = Vec::new();
        for h in &self.histogram {
            let mut bins = Vec::new();
            let mut last = f64::NEG_INFINITY;
            for b in &h.bins {
                let (bound, name) = match b {
                    RawBin::Number(n) if n.is_finite() => {
                        (*n, format!("bin_{}", js_format(*n).replacen('.', "_", 1)))
                    }
                    RawBin::Text(t) if t == "inf" => (f64::INFINITY, "bin_inf".to_string()),
                    other => {
                        return Err(ConfigError::new(
                            "histogram",
                            format!("bin {other:?} is neither a finite number nor \"inf\""),
                        ))
                    }
                };
                if bound <= last {
                    return Err(ConfigError::new(
                        "histogram",
                        format!("bins of {:?} must be ascending", h.metric),
                    ));
                }
                last = bound;
                bins.push((bound, name));
            }
            histogram.push(HistogramBins {
                metric: h.metric.clone(),
                bins,
            });
        }
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let positive = |key: &str, v: usize| {
            if v == 0 {
                Err(ConfigError::new(key, "must be greater than 0"))
            } else {
                Ok(v)
            }
        };
        let graphite_shutdown_timeout = parse_duration(&self.graphite_shutdown_timeout)
            .map_err(|e| ConfigError::new("graphite_shutdown_timeout", e))?;
        let delete = |v: Option<bool>| v.unwrap_or(self.delete_idle_stats);
        let timer_mode = match self.timer_mode.as_str() {
            "exact" => TimerMode::Exact,
            "hdr" => TimerMode::Hdr {
                spec: HdrSpec::new(
                    self.hdr_significant_digits,
                    self.hdr_resolution,
                    self.hdr_max_value,
                )
                .map_err(|(key, why)| ConfigError::new(key, why))?,
                exact_values: self.hdr_exact_values,
            },
            other => {
                return Err(ConfigError::new(
                    "timer_mode",
                    format!("{other:?} is neither \"exact\" nor \"hdr\""),
                ))
            }
        };
        Ok(Settings {
            udp: listen_addr("udp", &self.udp)?,
            tcp: listen_addr("tcp", &self.tcp)?,
            unix: (!self.unix.is_empty()).then(|| PathBuf::from(&self.unix)),
            admin: listen_addr("admin", &self.admin)?,
            flush_interval,
            percentiles,
            legacy_namespace: self.legacy_namespace,
            delete_counters: delete(self.delete_counters),
            delete_timers: delete(self.delete_timers),
            delete_sets: delete(self.delete_sets),
            delete_gauges: delete(self.delete_gauges),
            gauges_max_ttl,
            idle_zero_flushes: self.idle_zero_flushes,
            graphite,
            global_prefix: self.global_prefix.clone(),
            prefix_counter: self.prefix_counter.clone(),
            prefix_timer: self.prefix_timer.clone(),
            prefix_gauge: self.prefix_gauge.clone(),
            prefix_set: self.prefix_set.clone(),
            prefix_stats: self.prefix_stats.clone(),
            global_suffix: (!self.global_suffix.is_empty()).then(|| self.global_suffix.clone()),
            flush_counts: self.flush_counts,
            parse: ParseOptions {
                sanitize: self.key_name_sanitize,
                hd_as_timers: self.hd_as_timers,
                canonicalize_tags: self.canonicalize_tags,
            },
            calculated_timer_metrics,
            histogram,
            align_flush: self.align_flush,
            state_file: (!self.state_file.is_empty()).then(|| PathBuf::from(&self.state_file)),
            snapshot_interval: None,
            udp_threads: if self.udp_threads == 0 {
                cpus
            } else {
                self.udp_threads
            },
            udp_receive_buffer: positive("udp_receive_buffer", self.udp_receive_buffer)?,
            udp_batch: positive("udp_batch", self.udp_batch)?.min(1024),
            tcp_max_connections: positive("tcp_max_connections", self.tcp_max_connections)?,
            admin_allow_remote: self.admin_allow_remote,
            tcp_max_line: positive("tcp_max_line", self.tcp_max_line)?,
            shards: if self.shards == 0 {
                (cpus * 4).next_power_of_two()
            } else {
                self.shards
            },
            max_keys: positive("max_keys", self.max_keys)?,
            max_timer_values: positive("max_timer_values", self.max_timer_values)?,
            timer_mode,
            graphite_queue: positive("graphite_queue", self.graphite_queue)?,
            graphite_shutdown_timeout,
        })
    }
}

impl Settings {
    /// `key: value` lines for the admin `config` command.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let addr = |a: &Option<SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
        vec![
            ("udp", addr(&self.udp)),
            ("tcp", addr(&self.tcp)),
            ("admin", addr(&self.admin)),
            ("admin_allow_remote", self.admin_allow_remote.to_string()),
            (
                "unix",
                self.unix
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            ("flush_interval", format!("{:?}", self.flush_interval)),
            (
                "percentiles",
                self.percentiles
                    .iter()
                    .map(|p| js_format(p.value))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("legacy_namespace", self.legacy_namespace.to_string()),
            ("delete_counters", self.delete_counters.to_string()),
            ("delete_timers", self.delete_timers.to_string()),
            ("delete_sets", self.delete_sets.to_string()),
            ("delete_gauges", self.delete_gauges.to_string()),
            ("gauges_max_ttl", self.gauges_max_ttl.to_string()),
            ("idle_zero_flushes", self.idle_zero_flushes.to_string()),
            ("graphite", self.graphite.clone().unwrap_or_default()),
            ("prefix_stats", self.prefix_stats.clone()),
            ("flush_counts", self.flush_counts.to_string()),
            ("key_name_sanitize", self.parse.sanitize.to_string()),
            (
                "canonicalize_tags",
                self.parse.canonicalize_tags.to_string(),
            ),
            ("align_flush", self.align_flush.to_string()),
            (
                "state_file",
                self.state_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            ("udp_threads", self.udp_threads.to_string()),
            ("shards", self.shards.to_string()),
            ("max_keys", self.max_keys.to_string()),
            (
                "timer_mode",
                match &self.timer_mode {
                    TimerMode::Exact => "exact".to_string(),
                    TimerMode::Hdr { spec, exact_values } => format!(
                        "hdr (digits {}, resolution {} ms, max {} ms, exact up to {} values, \
                         {} bytes per histogram)",
                        spec.significant_digits(),
                        js_format(spec.resolution()),
                        js_format(spec.max_value()),
                        exact_values,
                        spec.histogram_bytes()
                    ),
                },
            ),
        ]
    }
}
