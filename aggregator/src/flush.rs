//! The interval boundary: taken [`crate::bucket::Taken`] maps in, Graphite
//! points out, with exactly the reference's names and values
//! (`lib/process_metrics.js` and `backends/graphite.js` of Etsy StatsD
//! 0.9.0): counter rate and count, every timer field, gauges, set counts,
//! and the daemon's own metrics.

use std::borrow::Cow;

use storage::MetricPoint;

use crate::bucket::{TimerState, INTERNAL_COUNTER_MARKERS};
use crate::config::Settings;
use crate::jsnum::js_round;
use crate::statsd::sanitize_key;

/// Builds Graphite names as the reference's Graphite backend does.
#[derive(Clone, Debug)]
pub struct Namer {
    legacy: bool,
    sanitize_here: bool,
    suffix: String,
    counter_ns: String,
    counts_ns: String,
    timer_ns: String,
    gauge_ns: String,
    set_ns: String,
    global_ns: String,
    prefix_stats: String,
}

fn ns(parts: &[&str]) -> String {
    let mut s = String::new();
    for p in parts.iter().filter(|p| !p.is_empty()) {
        s.push_str(p);
        s.push('.');
    }
    s
}

impl Namer {
    /// The namespaces of `settings`.
    pub fn new(settings: &Settings) -> Self {
        let suffix = settings
            .global_suffix
            .as_ref()
            .map(|s| format!(".{s}"))
            .unwrap_or_default();
        let g = settings.global_prefix.as_str();
        if settings.legacy_namespace {
            Namer {
                legacy: true,
                sanitize_here: !settings.parse.sanitize,
                suffix,
                counter_ns: "stats.".into(),
                counts_ns: "stats_counts.".into(),
                timer_ns: "stats.timers.".into(),
                gauge_ns: "stats.gauges.".into(),
                set_ns: "stats.sets.".into(),
                global_ns: "stats.".into(),
                prefix_stats: settings.prefix_stats.clone(),
            }
        } else {
            Namer {
                legacy: false,
                sanitize_here: !settings.parse.sanitize,
                suffix,
                counter_ns: ns(&[g, &settings.prefix_counter]),
                counts_ns: ns(&[g, &settings.prefix_counter]),
                timer_ns: ns(&[g, &settings.prefix_timer]),
                gauge_ns: ns(&[g, &settings.prefix_gauge]),
                set_ns: ns(&[g, &settings.prefix_set]),
                global_ns: ns(&[g]),
                prefix_stats: settings.prefix_stats.clone(),
            }
        }
    }

    /// `namespace.name[.extra...]` + suffix + `;tags`, where the key is
    /// split at its first `;` and only the name part is prefixed.
    fn format(&self, namespace: &str, key: &str, extra: &[&str]) -> String {
        let (name, tags) = match key.split_once(';') {
            Some((n, t)) => (n, Some(t)),
            None => (key, None),
        };
        let name: Cow<'_, str> = if self.sanitize_here {
            sanitize_key(name)
        } else {
            Cow::Borrowed(name)
        };
        let mut out = String::with_capacity(namespace.len() + key.len() + 24);
        out.push_str(namespace);
        out.push_str(&name);
        for e in extra {
            out.push('.');
            out.push_str(e);
        }
        out.push_str(&self.suffix);
        if let Some(t) = tags {
            out.push(';');
            out.push_str(t);
        }
        out
    }

    /// Names of a counter: (rate, count).
    pub fn counter(&self, key: &str) -> (String, String) {
        if self.legacy {
            (
                self.format(&self.counter_ns, key, &[]),
                self.format(&self.counts_ns, key, &[]),
            )
        } else {
            (
                self.format(&self.counter_ns, key, &["rate"]),
                self.format(&self.counts_ns, key, &["count"]),
            )
        }
    }

    /// Name of a timer field (`["upper_90"]`, `["histogram", "bin_10"]`).
    pub fn timer(&self, key: &str, field: &[&str]) -> String {
        self.format(&self.timer_ns, key, field)
    }

    /// Name of a gauge.
    pub fn gauge(&self, key: &str) -> String {
        self.format(&self.gauge_ns, key, &[])
    }

    /// Name of a set's count.
    pub fn set(&self, key: &str) -> String {
        self.format(&self.set_ns, key, &["count"])
    }

    /// `statsd.numStats` (legacy) or `stats.statsd.numStats`.
    pub fn num_stats(&self) -> String {
        if self.legacy {
            format!("{}.numStats{}", self.prefix_stats, self.suffix)
        } else {
            self.format(&self.global_ns, &self.prefix_stats, &["numStats"])
        }
    }

    /// A daemon metric under the stats prefix: `processing_time`,
    /// `graphiteStats.calculationtime`.
    pub fn daemon(&self, field: &[&str]) -> String {
        if self.legacy {
            format!(
                "stats.{}.{}{}",
                self.prefix_stats,
                field.join("."),
                self.suffix
            )
        } else {
            self.format(&self.global_ns, &self.prefix_stats, field)
        }
    }

    /// A backend status metric: `<global>.<prefixStats>.graphiteStats.X`,
    /// joined as the reference's `post_stats` does (no tag split).
    pub fn backend(&self, stat: &str) -> String {
        format!(
            "{}{}.graphiteStats.{}{}",
            self.global_ns, self.prefix_stats, stat, self.suffix
        )
    }

    /// Key of an internal counter (`statsd.bad_lines_seen`).
    pub fn internal_key(&self, what: &str) -> String {
        format!("{}.{}", self.prefix_stats, what)
    }
}

/// Precomputed timer field names for the configured percentiles, filtered
/// by `calculated_timer_metrics`.
#[derive(Clone, Debug)]
pub struct TimerPlan {
    percentiles: Vec<PercentilePlan>,
    whole: Vec<(&'static str, bool)>,
    histogram: bool,
}

#[derive(Clone, Debug)]
struct PercentilePlan {
    value: f64,
    /// count_, mean_, upper_/lower_, sum_, sum_squares_ names; None when
    /// filtered out.
    names: [Option<String>; 5],
}

/// The reference's `_(top)?\d+$` → `_percent` normalisation.
fn percent_form(field: &str) -> Cow<'_, str> {
    if let Some(i) = field.rfind('_') {
        let tail = &field[i + 1..];
        let digits = tail.strip_prefix("top").unwrap_or(tail);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Cow::Owned(format!("{}_percent", &field[..i]));
        }
    }
    Cow::Borrowed(field)
}

impl TimerPlan {
    /// The plan for `settings`.
    pub fn new(settings: &Settings) -> Self {
        let keep = |name: &str| match &settings.calculated_timer_metrics {
            None => true,
            Some(list) => list.iter().any(|m| *m == percent_form(name)),
        };
        let percentiles = settings
            .percentiles
            .iter()
            .map(|p| {
                let s = &p.suffix;
                let bound = if p.value > 0.0 { "upper" } else { "lower" };
                let names = [
                    format!("count_{s}"),
                    format!("mean_{s}"),
                    format!("{bound}_{s}"),
                    format!("sum_{s}"),
                    format!("sum_squares_{s}"),
                ]
                .map(|n| keep(&n).then_some(n));
                PercentilePlan {
                    value: p.value,
                    names,
                }
            })
            .collect();
        let whole = [
            "std",
            "upper",
            "lower",
            "count",
            "count_ps",
            "sum",
            "sum_squares",
            "mean",
            "median",
        ]
        .map(|n| (n, keep(n)))
        .to_vec();
        TimerPlan {
            percentiles,
            whole,
            histogram: keep("histogram"),
        }
    }
}

/// Everything one flush needs besides the data.
#[derive(Debug)]
pub struct FlushContext<'a> {
    /// Names.
    pub namer: &'a Namer,
    /// Timer fields.
    pub plan: &'a TimerPlan,
    /// Settings (histogram bins, flush counts, interval).
    pub settings: &'a Settings,
    /// Point timestamp.
    pub timestamp: i64,
    /// Interval in seconds, as the reference divides (`ms / 1000`).
    pub interval_s: f64,
}

/// Collects points, dropping non-finite values (counted).
#[derive(Debug, Default)]
pub struct PointSink {
    /// The points so far.
    pub points: Vec<MetricPoint>,
    /// Values dropped because they were NaN or infinite.
    pub non_finite: u64,
}

impl PointSink {
    /// Adds one point unless its value is not finite.
    pub fn push(&mut self, name: String, timestamp: i64, value: f64) {
        if value.is_finite() {
            self.points.push(MetricPoint {
                name,
                timestamp,
                value,
            });
        } else {
            self.non_finite += 1;
        }
    }
}

impl FlushContext<'_> {
    /// Counter `key` with interval total `value`.
    pub fn counter(&self, out: &mut PointSink, key: &str, value: f64) {
        let (rate_name, count_name) = self.namer.counter(key);
        out.push(rate_name, self.timestamp, value / self.interval_s);
        if self.settings.flush_counts {
            out.push(count_name, self.timestamp, value);
        }
    }

    /// Gauge `key`.
    pub fn gauge(&self, out: &mut PointSink, key: &str, value: f64) {
        out.push(self.namer.gauge(key), self.timestamp, value);
    }

    /// Set `key` with `members` distinct members.
    pub fn set(&self, out: &mut PointSink, key: &str, members: usize) {
        out.push(self.namer.set(key), self.timestamp, members as f64);
    }

    /// Timer `key`: every derived field of `lib/process_metrics.js`.
    pub fn timer(&self, out: &mut PointSink, key: &str, timer: &mut TimerState) {
        let ts = self.timestamp;
        let plan = self.plan;
        let emit = |out: &mut PointSink, field: &[&str], v: f64| {
            out.push(self.namer.timer(key, field), ts, v);
        };
        let values = &mut timer.values;
        if values.is_empty() {
            for (name, keep) in &plan.whole {
                if *keep && (*name == "count" || *name == "count_ps") {
                    emit(out, &[name], 0.0);
                }
            }
            return;
        }
        values.sort_unstable_by(|a, b| a.total_cmp(b));
        let n = values.len();
        let min = values[0];
        let max = values[n - 1];
        // Running sums over the sorted values, added in the reference's
        // order so the float results are identical.
        let mut cumul = Vec::with_capacity(n);
        let mut cumul_sq = Vec::with_capacity(n);
        let (mut s, mut sq) = (0.0f64, 0.0f64);
        for (i, v) in values.iter().enumerate() {
            if i == 0 {
                s = *v;
                sq = v * v;
            } else {
                s += v;
                sq += v * v;
            }
            cumul.push(s);
            cumul_sq.push(sq);
        }
        for p in &plan.percentiles {
            let (k, bound, sum, sum_sq);
            if n > 1 {
                let kf = js_round(p.value.abs() / 100.0 * n as f64);
                if kf == 0.0 {
                    continue;
                }
                k = (kf as usize).min(n);
                if p.value > 0.0 {
                    bound = values[k - 1];
                    sum = cumul[k - 1];
                    sum_sq = cumul_sq[k - 1];
                } else {
                    bound = values[n - k];
                    // The reference reads index -1 when k == n and writes
                    // NaN; the top-100% sum is the whole sum.
                    if k == n {
                        sum = cumul[n - 1];
                        sum_sq = cumul_sq[n - 1];
                    } else {
                        sum = cumul[n - 1] - cumul[n - k - 1];
                        sum_sq = cumul_sq[n - 1] - cumul_sq[n - k - 1];
                    }
                }
            } else {
                k = 1;
                bound = max;
                sum = min;
                sum_sq = min * min;
            }
            let mean = if n > 1 { sum / k as f64 } else { min };
            let vals = [k as f64, mean, bound, sum, sum_sq];
            for (name, v) in p.names.iter().zip(vals) {
                if let Some(name) = name {
                    emit(out, &[name], v);
                }
            }
        }
        let sum = cumul[n - 1];
        let sum_sq = cumul_sq[n - 1];
        let mean = sum / n as f64;
        let mut diffs = 0.0;
        for v in values.iter() {
            diffs += (v - mean) * (v - mean);
        }
        let mid = n / 2;
        let median = if n % 2 == 1 {
            values[mid]
        } else {
            (values[mid - 1] + values[mid]) / 2.0
        };
        let std = (diffs / n as f64).sqrt();
        let count = timer.count;
        let whole = [
            std,
            max,
            min,
            count,
            count / self.interval_s,
            sum,
            sum_sq,
            mean,
            median,
        ];
        for ((name, keep), v) in plan.whole.iter().zip(whole) {
            if *keep {
                emit(out, &[name], v);
            }
        }
        if let Some(h) = self
            .settings
            .histogram
            .iter()
            .find(|h| key.contains(h.metric.as_str()))
        {
            if plan.histogram {
                let mut i = 0;
                for (bound, name) in &h.bins {
                    let mut freq = 0u64;
                    while i < n && (bound.is_infinite() || values[i] < *bound) {
                        freq += 1;
                        i += 1;
                    }
                    emit(out, &["histogram", name], freq as f64);
                }
            }
        }
    }
}

/// True for counter keys that survive `delete_counters`.
pub fn is_internal_counter(key: &str) -> bool {
    INTERNAL_COUNTER_MARKERS.iter().any(|m| key.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawConfig;

    fn run_timer(raw: RawConfig, values: &[f64], interval_s: f64) -> Vec<(String, f64)> {
        let settings = raw.validate().unwrap();
        let namer = Namer::new(&settings);
        let plan = TimerPlan::new(&settings);
        let ctx = FlushContext {
            namer: &namer,
            plan: &plan,
            settings: &settings,
            timestamp: 0,
            interval_s,
        };
        let mut out = PointSink::default();
        let mut t = TimerState {
            values: values.to_vec(),
            count: values.len() as f64,
        };
        ctx.timer(&mut out, "t", &mut t);
        out.points.into_iter().map(|p| (p.name, p.value)).collect()
    }

    #[test]
    fn spec_example_one_to_ten() {
        let raw = RawConfig {
            percentiles: vec![90.0, -10.0, 99.9, 50.0, 100.0, -100.0],
            ..RawConfig::default()
        };
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        let got = run_timer(raw, &values, 2.0);
        let get = |n: &str| {
            got.iter()
                .find(|(k, _)| k == &format!("stats.timers.t.{n}"))
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("{n} missing in {got:?}"))
        };
        assert_eq!(get("count_90"), 9.0);
        assert_eq!(get("mean_90"), 5.0);
        assert_eq!(get("upper_90"), 9.0);
        assert_eq!(get("sum_90"), 45.0);
        assert_eq!(get("sum_squares_90"), 285.0);
        assert_eq!(get("lower_top10"), 10.0);
        assert_eq!(get("mean_top10"), 10.0);
        assert_eq!(get("upper_99_9"), 10.0);
        assert_eq!(get("upper_50"), 5.0);
        assert_eq!(get("mean_50"), 3.0);
        assert_eq!(get("std"), 2.8722813232690143);
        assert_eq!(get("median"), 5.5);
        assert_eq!(get("count_ps"), 5.0);
        // documented difference: the reference writes NaN here
        assert_eq!(get("sum_top100"), 55.0);
        assert_eq!(get("mean_top100"), 5.5);
    }

    #[test]
    fn percent_form_matches_reference_regex() {
        assert_eq!(percent_form("mean_90"), "mean_percent");
        assert_eq!(percent_form("mean_99_9"), "mean_99_percent");
        assert_eq!(percent_form("lower_top10"), "lower_percent");
        assert_eq!(percent_form("count_ps"), "count_ps");
        assert_eq!(percent_form("sum_squares_90"), "sum_squares_percent");
    }
}
