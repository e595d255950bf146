//! Bounded-memory timers (`timer_mode = "hdr"`), for timer floods.
//!
//! The reference keeps every timer value of an interval, so one hot key
//! receiving a million values holds 8 MB until the flush. In hdr mode a
//! key keeps its first `hdr_exact_values` values exactly (so quiet keys
//! cost no more than in exact mode and stay bit-identical to the
//! reference); beyond that it switches to an [`HdrTimer`]: an HDR
//! histogram of fixed size plus exact running figures.
//!
//! Why the fields stay within a known error:
//!
//! * count, `count_ps`, `count_N`, `upper`, `lower` are exact (count and
//!   min/max are kept beside the histogram);
//! * sum, sum of squares, mean and std come from running sums (std by
//!   Welford's method, which does not cancel), so they are exact up to
//!   float rounding: the reference adds in sorted order, we in arrival
//!   order;
//! * rank-based fields (`upper_N`, `lower_topN`, median, and the sums of a
//!   percentile's values) pick the exact rank, but each value in it is the
//!   midpoint of its histogram cell. A value `v` is first rounded to a
//!   multiple of `resolution` (error ≤ resolution/2), and a cell is at most
//!   `v · 10^-digits` wide, so each value read back is off by at most
//!   [`HdrSpec::value_error`]`(v) = v · 10^-digits / 2 + resolution`.
//!   Sums of values add those bounds; a histogram bin may count a value
//!   that close to its bound in the neighbouring bin.
//! * values outside `[0, max_value]` are clamped to the nearer end for the
//!   rank-based fields only, and counted (`timer_values_clamped`).

use std::fmt;

use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How timers keep an interval's values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimerMode {
    /// Every value, as the reference (exact percentiles).
    Exact,
    /// Exact up to `exact_values` values per key and interval, then an
    /// HDR histogram of the given shape.
    Hdr {
        /// The histogram's shape.
        spec: HdrSpec,
        /// Values a key keeps exactly before switching (0 = histogram from
        /// the first value).
        exact_values: usize,
    },
}

/// A bigger histogram per key than this is refused at start.
pub const MAX_HISTOGRAM_BYTES: usize = 16 << 20;

/// The shape of one timer histogram, validated: every [`HdrSpec`] builds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HdrSpec {
    digits: u8,
    resolution: f64,
    max_value: f64,
    /// Units per millisecond: a value `v` is recorded as `round(v · scale)`.
    scale: f64,
    /// `max_value` in units.
    high: u64,
}

/// Highest scaled value: integers up to 2^53 convert to f64 and back exactly.
const MAX_UNITS: u64 = 1 << 53;

impl HdrSpec {
    /// Checks the three settings; the error names the key at fault.
    pub fn new(
        significant_digits: u8,
        resolution: f64,
        max_value: f64,
    ) -> Result<HdrSpec, (&'static str, String)> {
        if !(1..=5).contains(&significant_digits) {
            return Err((
                "hdr_significant_digits",
                format!("{significant_digits} is not in 1..=5"),
            ));
        }
        if !(resolution.is_finite() && resolution > 0.0) {
            return Err((
                "hdr_resolution",
                format!("{resolution} is not a positive number of milliseconds"),
            ));
        }
        let scale = 1.0 / resolution;
        let units = (max_value * scale).ceil();
        if !(max_value.is_finite() && units >= 2.0) {
            return Err((
                "hdr_max_value",
                format!("{max_value} must be at least twice hdr_resolution ({resolution})"),
            ));
        }
        if units > MAX_UNITS as f64 {
            return Err((
                "hdr_max_value",
                format!(
                    "{max_value} / hdr_resolution {resolution} exceeds 2^53 units; \
                     raise hdr_resolution or lower hdr_max_value"
                ),
            ));
        }
        let spec = HdrSpec {
            digits: significant_digits,
            resolution,
            max_value,
            scale,
            high: units as u64,
        };
        let bytes = spec
            .histogram()
            .map_err(|e| ("hdr_max_value", e))?
            .distinct_values()
            * std::mem::size_of::<u32>();
        if bytes > MAX_HISTOGRAM_BYTES {
            return Err((
                "hdr_significant_digits",
                format!(
                    "a histogram of {significant_digits} digits over [0, {max_value}] ms at \
                     {resolution} ms needs {bytes} bytes per timer key (limit \
                     {MAX_HISTOGRAM_BYTES}); use fewer digits or a smaller range"
                ),
            ));
        }
        Ok(spec)
    }

    fn histogram(&self) -> Result<Histogram<u32>, String> {
        Histogram::new_with_bounds(1, self.high, self.digits)
            .map_err(|e| format!("cannot build the histogram: {e:?}"))
    }

    /// Significant decimal digits of a recorded value.
    pub fn significant_digits(&self) -> u8 {
        self.digits
    }

    /// Smallest distinguishable difference, milliseconds.
    pub fn resolution(&self) -> f64 {
        self.resolution
    }

    /// Largest value recorded without clamping, milliseconds.
    pub fn max_value(&self) -> f64 {
        self.max_value
    }

    /// Heap bytes of one key's histogram counts.
    pub fn histogram_bytes(&self) -> usize {
        self.histogram()
            .map(|h| h.distinct_values() * std::mem::size_of::<u32>())
            .unwrap_or(0)
    }

    /// The documented bound on how far a value read back from the
    /// histogram is from `v` (for `v` in `[0, max_value]`).
    pub fn value_error(&self, v: f64) -> f64 {
        v.abs() * 10f64.powi(-i32::from(self.digits)) / 2.0 + self.resolution
    }
}

/// One key's interval in hdr mode: the histogram and the exact figures.
#[derive(Clone, PartialEq)]
pub struct HdrTimer {
    spec: HdrSpec,
    hist: Histogram<u32>,
    n: u64,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
    /// Welford's running mean and sum of squared deviations.
    mean: f64,
    m2: f64,
    clamped: u64,
}

impl fmt::Debug for HdrTimer {
    // The counts array has thousands of entries: summarise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HdrTimer")
            .field("n", &self.n)
            .field("min", &self.min)
            .field("max", &self.max)
            .field("sum", &self.sum)
            .field("clamped", &self.clamped)
            .finish_non_exhaustive()
    }
}

impl HdrTimer {
    /// An empty timer; None only if `spec` cannot build a histogram, which
    /// [`HdrSpec::new`] rules out (the caller then stays exact).
    pub fn new(spec: HdrSpec) -> Option<HdrTimer> {
        Some(HdrTimer {
            spec,
            hist: spec.histogram().ok()?,
            n: 0,
            sum: 0.0,
            sum_sq: 0.0,
            min: 0.0,
            max: 0.0,
            mean: 0.0,
            m2: 0.0,
            clamped: 0,
        })
    }

    /// The cell index value of `v`, clamped (and counted) into range.
    fn units(&mut self, v: f64) -> u64 {
        let u = (v * self.spec.scale).round();
        if u >= 0.0 && u <= self.spec.high as f64 {
            u as u64
        } else {
            self.clamped += 1;
            if u > 0.0 {
                self.spec.high
            } else {
                0
            }
        }
    }

    /// Adds one value.
    pub fn record(&mut self, v: f64) {
        self.n += 1;
        if self.n == 1 {
            self.sum = v;
            self.sum_sq = v * v;
            self.min = v;
            self.max = v;
            self.mean = v;
            self.m2 = 0.0;
        } else {
            self.sum += v;
            self.sum_sq += v * v;
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            let d = v - self.mean;
            self.mean += d / self.n as f64;
            self.m2 += d * (v - self.mean);
        }
        let u = self.units(v);
        self.hist.saturating_record(u);
    }

    /// Adds another timer's values (a restored state file; shapes may
    /// differ, cells are then re-recorded by their midpoints).
    pub fn merge(&mut self, other: &HdrTimer) {
        if other.n == 0 {
            return;
        }
        for (mid, count) in other.cells() {
            let u = self.units(mid);
            self.hist.saturating_record_n(u, count);
        }
        self.clamped += other.clamped;
        if self.n == 0 {
            (self.sum, self.sum_sq, self.min, self.max) =
                (other.sum, other.sum_sq, other.min, other.max);
            (self.mean, self.m2, self.n) = (other.mean, other.m2, other.n);
            return;
        }
        // Chan et al.'s pairwise update of mean and M2.
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        let d = other.mean - self.mean;
        self.mean += d * nb / n;
        self.m2 += other.m2 + d * d * na * nb / n;
        self.n += other.n;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Non-empty cells, ascending: (midpoint in ms, count).
    fn cells(&self) -> impl Iterator<Item = (f64, u32)> + '_ {
        self.hist.iter_recorded().map(|it| {
            let mid = self.hist.median_equivalent(it.value_iterated_to());
            (mid as f64 / self.spec.scale, it.count_at_value())
        })
    }

    /// Values recorded.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Smallest value (exact).
    pub fn min(&self) -> f64 {
        self.min
    }

    /// Largest value (exact).
    pub fn max(&self) -> f64 {
        self.max
    }

    /// Σ v, in arrival order.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Σ v², in arrival order.
    pub fn sum_sq(&self) -> f64 {
        self.sum_sq
    }

    /// Population standard deviation (Welford).
    pub fn std(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            (self.m2 / self.n as f64).max(0.0).sqrt()
        }
    }

    /// Values clamped into `[0, max_value]` so far.
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// The histogram's shape.
    pub fn spec(&self) -> &HdrSpec {
        &self.spec
    }

    /// The cells read back for rank-based fields: midpoints kept inside
    /// the exact `[min, max]` (which only brings them closer to the truth).
    pub fn ranked(&self) -> Ranked {
        let (lo, hi) = (self.min, self.max);
        let cells: Vec<(f64, u64)> = self
            .cells()
            .map(|(mid, c)| (mid.max(lo).min(hi), u64::from(c)))
            .collect();
        let total = cells.iter().map(|(_, c)| c).sum();
        Ranked {
            cells,
            total,
            min: lo,
            max: hi,
            sum: self.sum,
            sum_sq: self.sum_sq,
        }
    }
}

/// An [`HdrTimer`] read for a flush: cells in ascending order.
#[derive(Clone, Debug)]
pub struct Ranked {
    cells: Vec<(f64, u64)>,
    total: u64,
    min: f64,
    max: f64,
    sum: f64,
    sum_sq: f64,
}

impl Ranked {
    /// Values in the cells.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The `rank`-th smallest value (1-based); the ends are exact.
    pub fn nth(&self, rank: u64) -> f64 {
        if rank <= 1 {
            return self.min;
        }
        if rank >= self.total {
            return self.max;
        }
        let mut seen = 0;
        for (v, c) in &self.cells {
            seen += c;
            if seen >= rank {
                return *v;
            }
        }
        self.max
    }

    /// (Σ v, Σ v²) of the `k` smallest values.
    pub fn lowest(&self, k: u64) -> (f64, f64) {
        if k >= self.total {
            return (self.sum, self.sum_sq);
        }
        take_sums(self.cells.iter(), k)
    }

    /// (Σ v, Σ v²) of the `k` largest values.
    pub fn highest(&self, k: u64) -> (f64, f64) {
        if k >= self.total {
            return (self.sum, self.sum_sq);
        }
        take_sums(self.cells.iter().rev(), k)
    }

    /// How many values fall in each bin of ascending exclusive upper
    /// `bounds` (a cell counts where its midpoint falls).
    pub fn bin_counts(&self, bounds: impl Iterator<Item = f64>) -> Vec<u64> {
        let mut out = Vec::new();
        let mut i = 0;
        for bound in bounds {
            let mut freq = 0;
            while i < self.cells.len() && (bound.is_infinite() || self.cells[i].0 < bound) {
                freq += self.cells[i].1;
                i += 1;
            }
            out.push(freq);
        }
        out
    }
}

fn take_sums<'a>(cells: impl Iterator<Item = &'a (f64, u64)>, k: u64) -> (f64, f64) {
    let (mut sum, mut sum_sq, mut left) = (0.0, 0.0, k);
    for (v, c) in cells {
        if left == 0 {
            break;
        }
        let take = (*c).min(left) as f64;
        sum += v * take;
        sum_sq += v * v * take;
        left -= (*c).min(left);
    }
    (sum, sum_sq)
}

/// The state-file form: shape, exact figures, and (cell value, count)
/// pairs in histogram units.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HdrRepr {
    significant_digits: u8,
    resolution: f64,
    max_value: f64,
    n: u64,
    #[serde(with = "any_float")]
    sum: f64,
    #[serde(with = "any_float")]
    sum_sq: f64,
    min: f64,
    max: f64,
    mean: f64,
    #[serde(with = "any_float")]
    m2: f64,
    clamped: u64,
    cells: Vec<(u64, u32)>,
}

impl Serialize for HdrTimer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        HdrRepr {
            significant_digits: self.spec.digits,
            resolution: self.spec.resolution,
            max_value: self.spec.max_value,
            n: self.n,
            sum: self.sum,
            sum_sq: self.sum_sq,
            min: self.min,
            max: self.max,
            mean: self.mean,
            m2: self.m2,
            clamped: self.clamped,
            cells: self
                .hist
                .iter_recorded()
                .map(|it| (it.value_iterated_to(), it.count_at_value()))
                .collect(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for HdrTimer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let r = HdrRepr::deserialize(d)?;
        let spec = HdrSpec::new(r.significant_digits, r.resolution, r.max_value)
            .map_err(|(key, why)| D::Error::custom(format!("timer histogram {key}: {why}")))?;
        let mut t = HdrTimer::new(spec)
            .ok_or_else(|| D::Error::custom("timer histogram cannot be built"))?;
        for (units, count) in r.cells {
            t.hist.saturating_record_n(units.min(spec.high), count);
        }
        (t.n, t.sum, t.sum_sq, t.min, t.max) = (r.n, r.sum, r.sum_sq, r.min, r.max);
        (t.mean, t.m2, t.clamped) = (r.mean, r.m2, r.clamped);
        Ok(t)
    }
}

/// Running sums may overflow to infinity; JSON has no such number, so
/// non-finite values are written as strings ("inf", "-inf", "nan").
mod any_float {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("nan")
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        N(f64),
        S(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        use serde::de::Error;
        match Num::deserialize(d)? {
            Num::N(v) => Ok(v),
            Num::S(s) => match s.as_str() {
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                "nan" => Ok(f64::NAN),
                other => Err(D::Error::custom(format!("{other:?} is not a number"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> HdrSpec {
        HdrSpec::new(3, 0.001, 3_600_000.0).unwrap()
    }

    #[test]
    fn spec_validation_names_the_key() {
        assert_eq!(
            HdrSpec::new(0, 0.001, 1.0).unwrap_err().0,
            "hdr_significant_digits"
        );
        assert_eq!(
            HdrSpec::new(6, 0.001, 1.0).unwrap_err().0,
            "hdr_significant_digits"
        );
        assert_eq!(HdrSpec::new(3, 0.0, 1.0).unwrap_err().0, "hdr_resolution");
        assert_eq!(
            HdrSpec::new(3, f64::NAN, 1.0).unwrap_err().0,
            "hdr_resolution"
        );
        assert_eq!(HdrSpec::new(3, 1.0, 1.0).unwrap_err().0, "hdr_max_value");
        assert_eq!(HdrSpec::new(3, 1e-9, 1e9).unwrap_err().0, "hdr_max_value");
        let sizes: Vec<usize> = (1..=4)
            .map(|d| {
                HdrSpec::new(d, 0.001, 3_600_000.0)
                    .unwrap()
                    .histogram_bytes()
            })
            .collect();
        // As documented in deploy/ferrograph.example.toml.
        assert_eq!(sizes, [1856, 13312, 94208, 1245184]);
        let big = HdrSpec::new(5, 1e-6, 1e9).unwrap_err();
        assert_eq!(big.0, "hdr_significant_digits", "{big:?}");
        assert!(
            spec().histogram_bytes() < 100_000,
            "{}",
            spec().histogram_bytes()
        );
    }

    #[test]
    fn exact_figures_and_clamping() {
        let mut t = HdrTimer::new(HdrSpec::new(2, 1.0, 1000.0).unwrap()).unwrap();
        for v in [5.0, -3.0, 2000.0, 7.25] {
            t.record(v);
        }
        assert_eq!(t.len(), 4);
        assert_eq!(t.clamped(), 2);
        assert_eq!((t.min(), t.max()), (-3.0, 2000.0));
        assert_eq!(t.sum(), 5.0 - 3.0 + 2000.0 + 7.25);
        let r = t.ranked();
        assert_eq!(r.len(), 4);
        // -3 is read back as 0 (clamped), 2000 as the exact max.
        assert_eq!(r.nth(1), -3.0);
        assert_eq!(r.nth(2), 5.0);
        assert_eq!(r.nth(3), 7.0);
        assert_eq!(r.nth(4), 2000.0);
        assert_eq!(r.lowest(2).0, 0.0 + 5.0);
        assert_eq!(r.highest(4).0, t.sum());
    }

    #[test]
    fn merge_adds_cells_and_moments() {
        let (mut a, mut b, mut all) = (
            HdrTimer::new(spec()).unwrap(),
            HdrTimer::new(spec()).unwrap(),
            HdrTimer::new(spec()).unwrap(),
        );
        for i in 0..1000 {
            let v = f64::from(i) * 0.37;
            if i % 3 == 0 { &mut a } else { &mut b }.record(v);
            all.record(v);
        }
        a.merge(&b);
        assert_eq!(a.len(), all.len());
        assert_eq!(a.hist, all.hist);
        assert_eq!((a.min(), a.max()), (all.min(), all.max()));
        assert!((a.std() - all.std()).abs() < 1e-9 * all.std());
        assert!((a.sum() - all.sum()).abs() < 1e-9 * all.sum());
    }

    #[test]
    fn serde_round_trip_keeps_everything() {
        let mut t = HdrTimer::new(spec()).unwrap();
        for v in [0.5, 12.0, 12.001, 99999.5, 1e300] {
            t.record(v);
        }
        assert!(t.sum_sq().is_infinite());
        let json = serde_json::to_string(&t).unwrap();
        let back: HdrTimer = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        let bad = json.replace("\"significant_digits\":3", "\"significant_digits\":9");
        let e = serde_json::from_str::<HdrTimer>(&bad).unwrap_err();
        assert!(e.to_string().contains("hdr_significant_digits"), "{e}");
    }
}
