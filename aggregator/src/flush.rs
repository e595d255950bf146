//! The interval boundary: taken [`crate::bucket::Taken`] maps in, Graphite
//! points out, with exactly the reference's names and values
//! (`lib/process_metrics.js` and `backends/graphite.js` of Etsy StatsD
//! 0.9.0): counter rate and count, every timer field, gauges, set counts,
//! and the daemon's own metrics.

use std::borrow::Cow;

use storage::MetricPoint;

use crate::bucket::{TimerState, INTERNAL_COUNTER_MARKERS};
use crate::config::Settings;
use crate::hdr::Ranked;
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
        let whole = crate::config::WHOLE_TIMER_METRICS
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
    /// An empty sink with room for `points` points.
    pub fn with_capacity(points: usize) -> Self {
        PointSink {
            points: Vec::with_capacity(points),
            non_finite: 0,
        }
    }

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

    /// Timer `key`: every derived field of `lib/process_metrics.js`, from
    /// its values or (hdr mode) its histogram.
    pub fn timer(&self, out: &mut PointSink, key: &str, timer: &mut TimerState) {
        if let Some(h) = timer.hdr.as_deref() {
            if !h.is_empty() {
                self.timer_fields(out, key, &h.ranked(), h.std(), timer.count);
                return;
            }
        } else if !timer.values.is_empty() {
            let sorted = Sorted::new(&mut timer.values);
            let std = sorted.std();
            self.timer_fields(out, key, &sorted, std, timer.count);
            return;
        }
        for (name, keep) in &self.plan.whole {
            if *keep && (*name == "count" || *name == "count_ps") {
                out.push(self.namer.timer(key, &[name]), self.timestamp, 0.0);
            }
        }
    }

    fn timer_fields(
        &self,
        out: &mut PointSink,
        key: &str,
        values: &impl TimerValues,
        std: f64,
        count: f64,
    ) {
        let ts = self.timestamp;
        let plan = self.plan;
        let emit = |out: &mut PointSink, field: &[&str], v: f64| {
            out.push(self.namer.timer(key, field), ts, v);
        };
        let n = values.len();
        let min = values.nth(1);
        let max = values.nth(n);
        for p in &plan.percentiles {
            let (k, bound, (sum, sum_sq));
            if n > 1 {
                let kf = js_round(p.value.abs() / 100.0 * n as f64);
                if kf == 0.0 {
                    continue;
                }
                k = (kf as u64).min(n);
                if p.value > 0.0 {
                    bound = values.nth(k);
                    (sum, sum_sq) = values.lowest(k);
                } else {
                    bound = values.nth(n - k + 1);
                    (sum, sum_sq) = values.highest(k);
                }
            } else {
                k = 1;
                bound = max;
                (sum, sum_sq) = (min, min * min);
            }
            let mean = if n > 1 { sum / k as f64 } else { min };
            let vals = [k as f64, mean, bound, sum, sum_sq];
            for (name, v) in p.names.iter().zip(vals) {
                if let Some(name) = name {
                    emit(out, &[name], v);
                }
            }
        }
        let (sum, sum_sq) = values.lowest(n);
        let mean = sum / n as f64;
        let mid = n / 2;
        let median = if n % 2 == 1 {
            values.nth(mid + 1)
        } else {
            (values.nth(mid) + values.nth(mid + 1)) / 2.0
        };
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
                let freqs = values.bin_counts(h.bins.iter().map(|(b, _)| *b));
                for ((_, name), freq) in h.bins.iter().zip(freqs) {
                    emit(out, &["histogram", name], freq as f64);
                }
            }
        }
    }
}

/// What the timer fields need from one interval's values: exact
/// ([`Sorted`]) or from a histogram ([`Ranked`]). Ranks are 1-based and
/// `len() >= 1`.
trait TimerValues {
    fn len(&self) -> u64;
    /// The `rank`-th smallest value.
    fn nth(&self, rank: u64) -> f64;
    /// (Σ v, Σ v²) of the `k` smallest values (`k == len()`: all).
    fn lowest(&self, k: u64) -> (f64, f64);
    /// (Σ v, Σ v²) of the `k` largest values.
    fn highest(&self, k: u64) -> (f64, f64);
    /// Values per bin of ascending exclusive upper bounds.
    fn bin_counts(&self, bounds: impl Iterator<Item = f64>) -> Vec<u64>;
}

/// Every value, sorted, with running sums added in the reference's order
/// so the float results are identical.
struct Sorted<'a> {
    values: &'a [f64],
    cumul: Vec<f64>,
    cumul_sq: Vec<f64>,
}

impl<'a> Sorted<'a> {
    fn new(values: &'a mut [f64]) -> Self {
        values.sort_unstable_by(|a, b| a.total_cmp(b));
        let n = values.len();
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
        Sorted {
            values,
            cumul,
            cumul_sq,
        }
    }

    /// The reference's population std: deviations from the mean, in order.
    fn std(&self) -> f64 {
        let n = self.values.len();
        let mean = self.cumul[n - 1] / n as f64;
        let mut diffs = 0.0;
        for v in self.values {
            diffs += (v - mean) * (v - mean);
        }
        (diffs / n as f64).sqrt()
    }
}

impl TimerValues for Sorted<'_> {
    fn len(&self) -> u64 {
        self.values.len() as u64
    }

    fn nth(&self, rank: u64) -> f64 {
        self.values[rank as usize - 1]
    }

    fn lowest(&self, k: u64) -> (f64, f64) {
        let i = k as usize - 1;
        (self.cumul[i], self.cumul_sq[i])
    }

    fn highest(&self, k: u64) -> (f64, f64) {
        let (n, k) = (self.values.len(), k as usize);
        // The reference reads index -1 when k == n and writes NaN; the
        // top-100% sum is the whole sum.
        if k == n {
            (self.cumul[n - 1], self.cumul_sq[n - 1])
        } else {
            (
                self.cumul[n - 1] - self.cumul[n - k - 1],
                self.cumul_sq[n - 1] - self.cumul_sq[n - k - 1],
            )
        }
    }

    fn bin_counts(&self, bounds: impl Iterator<Item = f64>) -> Vec<u64> {
        let n = self.values.len();
        let mut out = Vec::new();
        let mut i = 0;
        for bound in bounds {
            let mut freq = 0u64;
            while i < n && (bound.is_infinite() || self.values[i] < bound) {
                freq += 1;
                i += 1;
            }
            out.push(freq);
        }
        out
    }
}

impl TimerValues for Ranked {
    fn len(&self) -> u64 {
        Ranked::len(self)
    }

    fn nth(&self, rank: u64) -> f64 {
        Ranked::nth(self, rank)
    }

    fn lowest(&self, k: u64) -> (f64, f64) {
        Ranked::lowest(self, k)
    }

    fn highest(&self, k: u64) -> (f64, f64) {
        Ranked::highest(self, k)
    }

    fn bin_counts(&self, bounds: impl Iterator<Item = f64>) -> Vec<u64> {
        Ranked::bin_counts(self, bounds)
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

    /// The points timer "t" flushes under `raw`.
    fn flush_timer(raw: RawConfig, state: &mut TimerState, interval_s: f64) -> Vec<(String, f64)> {
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
        ctx.timer(&mut out, "t", state);
        out.points.into_iter().map(|p| (p.name, p.value)).collect()
    }

    fn run_timer(raw: RawConfig, values: &[f64], interval_s: f64) -> Vec<(String, f64)> {
        let mut t = TimerState {
            values: values.to_vec(),
            count: values.len() as f64,
            hdr: None,
        };
        flush_timer(raw, &mut t, interval_s)
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

    mod hdr_error {
        use std::collections::BTreeMap;

        use proptest::prelude::*;

        use super::super::*;
        use crate::config::{RawBin, RawConfig, RawHistogram};
        use crate::hdr::{HdrSpec, HdrTimer};

        const PCTS: [f64; 9] = [90.0, -10.0, 99.9, 50.0, 100.0, -100.0, 1.0, -50.0, 75.5];
        const BINS: [f64; 5] = [0.5, 10.0, 100.0, 1000.0, 50_000.0];

        fn flush(state: &mut TimerState) -> BTreeMap<String, f64> {
            let raw = RawConfig {
                percentiles: PCTS.to_vec(),
                histogram: vec![RawHistogram {
                    metric: "t".into(),
                    bins: BINS
                        .iter()
                        .map(|b| RawBin::Number(*b))
                        .chain([RawBin::Text("inf".into())])
                        .collect(),
                }],
                ..RawConfig::default()
            };
            super::flush_timer(raw, state, 10.0)
                .into_iter()
                .map(|(name, value)| (name["stats.timers.t.".len()..].to_string(), value))
                .collect()
        }

        /// The documented bound of every field, from the exact sorted
        /// values: None = must be equal; Some(e) = |hdr − exact| ≤ e.
        fn bound(field: &str, sorted: &[f64], spec: &HdrSpec) -> Option<f64> {
            // Float slack: our sums run in arrival order, the reference's
            // in sorted order.
            let slack = |x: f64| 1e-9 * x.abs() + 1e-12;
            let d = |v: f64| spec.value_error(v) + slack(v);
            let n = sorted.len();
            let all_sum: f64 = sorted.iter().sum();
            let all_sq: f64 = sorted.iter().map(|v| v * v).sum();
            match field {
                "count" | "count_ps" | "upper" | "lower" => return None,
                "sum" | "mean" => return Some(slack(all_sum)),
                "sum_squares" => return Some(slack(all_sq)),
                "std" => return Some(1e-6 * (all_sq / n as f64).sqrt() + 1e-12),
                "median" if n % 2 == 1 => return Some(d(sorted[n / 2])),
                "median" => return Some((d(sorted[n / 2 - 1]) + d(sorted[n / 2])) / 2.0),
                _ => {}
            }
            let (p, kind) = PCTS.iter().find_map(|p| {
                let suffix = crate::config::percentile_suffix(*p);
                ["count", "mean", "upper", "lower", "sum", "sum_squares"]
                    .into_iter()
                    .find(|kind| field == format!("{kind}_{suffix}"))
                    .map(|kind| (*p, kind))
            })?;
            let k = (crate::jsnum::js_round(p.abs() / 100.0 * n as f64) as usize).min(n);
            let set = if n == 1 {
                sorted
            } else if p > 0.0 {
                &sorted[..k]
            } else {
                &sorted[n - k..]
            };
            let k = set.len().max(1);
            let sum_err: f64 = set.iter().map(|v| d(*v)).sum();
            Some(match kind {
                "count" => return None,
                "upper" => d(set[set.len() - 1]),
                "lower" => d(set[0]),
                "sum" => sum_err,
                "mean" => sum_err / k as f64,
                "sum_squares" => set.iter().map(|v| d(*v) * (2.0 * v.abs() + d(*v))).sum(),
                other => panic!("unexpected timer field {other}"),
            })
        }

        fn values() -> impl Strategy<Value = Vec<f64>> {
            let one = prop_oneof![
                0.0..2.0f64,
                0.0..100.0f64,
                (0u32..5000).prop_map(f64::from),
                0.0..1e6f64,
            ];
            proptest::collection::vec(one, 1..300)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]
            #[test]
            fn every_hdr_field_is_within_the_documented_error(
                values in values(),
                digits in 1u8..=4,
                resolution in prop_oneof![Just(0.001), Just(0.01), Just(1.0)],
            ) {
                let spec = HdrSpec::new(digits, resolution, 3_600_000.0).unwrap();
                let mut h = HdrTimer::new(spec).unwrap();
                values.iter().for_each(|v| h.record(*v));
                let count = values.len() as f64 * 1.5;
                let mut hdr = TimerState { values: Vec::new(), count, hdr: Some(Box::new(h)) };
                let mut exact = TimerState { values: values.clone(), count, hdr: None };
                let got = flush(&mut hdr);
                let want = flush(&mut exact);
                prop_assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
                let mut sorted = values.clone();
                sorted.sort_by(f64::total_cmp);
                for (field, w) in &want {
                    if field.starts_with("histogram.") {
                        continue;
                    }
                    let g = got[field];
                    match bound(field, &sorted, &spec) {
                        None => prop_assert_eq!(g, *w, "{}", field),
                        Some(e) => prop_assert!(
                            (g - w).abs() <= e,
                            "{field}: hdr {g} exact {w} allowed ±{e}"
                        ),
                    }
                }
                // Bins, in bound order: a value counts below bound `b` if
                // its midpoint does, so the cumulative hdr count lies
                // between the values certainly below (`v + δ(v) < b`) and
                // the values possibly below (`v − δ(v) < b`).
                let d = |v: f64| spec.value_error(v) + 1e-9 * v.abs();
                let mut below = 0u64;
                for b in BINS {
                    let name = format!(
                        "histogram.bin_{}",
                        crate::jsnum::js_format(b).replacen('.', "_", 1)
                    );
                    below += got[&name] as u64;
                    let surely = sorted.iter().filter(|v| **v + d(**v) < b).count() as u64;
                    let maybe = sorted.iter().filter(|v| **v - d(**v) < b).count() as u64;
                    prop_assert!(
                        surely <= below && below <= maybe,
                        "{name}: {below} values below, expected {surely}..={maybe}"
                    );
                }
                below += got["histogram.bin_inf"] as u64;
                prop_assert_eq!(below, values.len() as u64);
            }
        }
    }
}
