//! graphite-web's aggregation functions (`functions/aggfuncs.py` over
//! `functions/safe.py`): what `aggregate`, `groupByNode`, `movingWindow`,
//! `summarize`, `highest`, ... apply to a row or window of values.
//! Nulls are skipped unless stated; an empty input gives `None`.

use crate::series::{py_max, py_min, py_sum};

/// One aggregation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    /// Mean of non-null values.
    Average,
    /// Mean with nulls counted as zeros.
    AvgZero,
    /// Median of non-null values (mean of the two middle ones when even).
    Median,
    /// Sum of non-null values.
    Sum,
    /// Smallest non-null value.
    Min,
    /// Largest non-null value.
    Max,
    /// First non-null value minus the others.
    Diff,
    /// Population standard deviation of non-null values.
    Stddev,
    /// Number of non-null values (0 for none).
    Count,
    /// Max minus min.
    Range,
    /// Product; any null makes it null.
    Multiply,
    /// Last non-null value.
    Last,
}

impl AggFunc {
    /// Every accepted name, aliases included (the options `/functions`
    /// lists for `aggFunc` parameters).
    pub const NAMES: [&'static str; 16] = [
        "average", "avg_zero", "median", "sum", "min", "max", "diff", "stddev", "count", "range",
        "multiply", "last", "rangeOf", "avg", "total", "current",
    ];

    /// The function for a name or alias (`avg`, `total`, `rangeOf`,
    /// `current`).
    pub fn parse(name: &str) -> Option<AggFunc> {
        Some(match name {
            "average" | "avg" => AggFunc::Average,
            "avg_zero" => AggFunc::AvgZero,
            "median" => AggFunc::Median,
            "sum" | "total" => AggFunc::Sum,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "diff" => AggFunc::Diff,
            "stddev" => AggFunc::Stddev,
            "count" => AggFunc::Count,
            "range" | "rangeOf" => AggFunc::Range,
            "multiply" => AggFunc::Multiply,
            "last" | "current" => AggFunc::Last,
            _ => return None,
        })
    }

    /// Applies the function to a row that may contain nulls.
    pub fn apply(self, row: &[Option<f64>]) -> Option<f64> {
        match self {
            AggFunc::AvgZero => {
                if row.is_empty() {
                    return None;
                }
                let total = row.iter().fold(0.0, |acc, v| acc + v.unwrap_or(0.0));
                Some(total / row.len() as f64)
            }
            AggFunc::Multiply => {
                let mut product: Option<f64> = None;
                for v in row {
                    let v = (*v)?;
                    product = Some(match product {
                        None => v,
                        Some(p) => p * v,
                    });
                }
                product
            }
            AggFunc::Count => Some(row.iter().filter(|v| v.is_some()).count() as f64),
            _ => {
                let values: Vec<f64> = row.iter().flatten().copied().collect();
                self.apply_non_null(&values)
            }
        }
    }

    /// Applies the function to values already known to be non-null.
    pub fn apply_non_null(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return match self {
                AggFunc::Count => Some(0.0),
                _ => None,
            };
        }
        Some(match self {
            AggFunc::Average | AggFunc::AvgZero => py_sum(values) / values.len() as f64,
            AggFunc::Median => {
                // Python's sorted() is stable and treats -0.0 == 0.0
                let mut sorted = values.to_vec();
                sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
                let mid = sorted.len() / 2;
                if sorted.len() % 2 == 0 {
                    (sorted[mid - 1] + sorted[mid]) / 2.0
                } else {
                    sorted[mid]
                }
            }
            AggFunc::Sum => py_sum(values),
            AggFunc::Min => values.iter().copied().fold(f64::NAN, py_min),
            AggFunc::Max => values.iter().copied().fold(f64::NAN, py_max),
            // Python's sum() starts from integer 0, so a lone -0.0 becomes 0.0
            AggFunc::Diff => values[1..].iter().fold(0.0 + values[0], |acc, v| acc + -v),
            AggFunc::Stddev => {
                let n = values.len() as f64;
                let avg = py_sum(values) / n;
                let sq = values
                    .iter()
                    .fold(0.0, |acc, v| acc + (v - avg) * (v - avg));
                (sq / n).sqrt()
            }
            AggFunc::Count => values.len() as f64,
            AggFunc::Range => {
                let max = values.iter().copied().fold(f64::NAN, py_max);
                let min = values.iter().copied().fold(f64::NAN, py_min);
                max - min
            }
            AggFunc::Multiply => values[1..].iter().fold(values[0], |acc, v| acc * v),
            AggFunc::Last => values[values.len() - 1],
        })
    }
}

/// graphite's `safeDiv`: `None` when `a` is null or `b` is null or zero.
pub fn safe_div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

/// graphite's `safeMul` of two factors: `None` when either is null.
pub fn safe_mul(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? * b?)
}

/// graphite's `safePow` (Python's `math.pow`): `None` when either side is
/// null or Python raises (domain error such as a negative base with a
/// fractional exponent or zero to a negative power, or overflow).
pub fn safe_pow(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    let (a, b) = (a?, b?);
    let r = a.powf(b);
    if a.is_finite() && b.is_finite() && !r.is_finite() {
        None
    } else {
        Some(r)
    }
}

/// graphite's `_getPercentile` (the NIST rank method): the `n`-th
/// percentile of the non-null values, an actual value unless
/// `interpolate`; `Ok(None)` when there is no value. `Err` where graphite's
/// rank falls outside the values (it raises there, e.g. for `n > 100`).
pub fn percentile(
    values: &[Option<f64>],
    n: f64,
    interpolate: bool,
) -> Result<Option<f64>, String> {
    let mut sorted: Vec<f64> = values.iter().flatten().copied().collect();
    if sorted.is_empty() {
        return Ok(None);
    }
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let len = sorted.len() as i64;
    let fractional_rank = (n / 100.0) * (len + 1) as f64;
    if !fractional_rank.is_finite() || fractional_rank.abs() > 1e15 {
        return Err(format!("percentile {n} is out of range"));
    }
    let mut rank = fractional_rank.trunc() as i64;
    let rank_fraction = fractional_rank - rank as f64;
    if !interpolate {
        rank += rank_fraction.ceil() as i64;
    }
    let out_of_range = || format!("percentile {n} is out of range for {len} values");
    let mut value = if rank == 0 {
        sorted[0]
    } else if rank - 1 == len {
        sorted[sorted.len() - 1]
    } else {
        *super::py_index(&sorted, rank - 1).ok_or_else(out_of_range)?
    };
    if interpolate && rank != len {
        let next = *super::py_index(&sorted, rank).ok_or_else(out_of_range)?;
        value += rank_fraction * (next - value);
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_handling_per_function() {
        let row = [Some(4.0), None, Some(1.0), Some(2.0)];
        let f = |name: &str| AggFunc::parse(name).unwrap().apply(&row);
        assert_eq!(f("sum"), Some(7.0));
        assert_eq!(f("total"), Some(7.0));
        assert_eq!(f("average"), Some(7.0 / 3.0));
        assert_eq!(f("avg_zero"), Some(7.0 / 4.0));
        assert_eq!(f("median"), Some(2.0));
        assert_eq!(f("min"), Some(1.0));
        assert_eq!(f("max"), Some(4.0));
        assert_eq!(f("diff"), Some(1.0));
        assert_eq!(f("count"), Some(3.0));
        assert_eq!(f("range"), Some(3.0));
        assert_eq!(f("multiply"), None);
        assert_eq!(f("last"), Some(2.0));
        assert_eq!(AggFunc::Multiply.apply(&[Some(2.0), Some(3.0)]), Some(6.0));
        assert_eq!(AggFunc::Sum.apply(&[None, None]), None);
        assert_eq!(AggFunc::Count.apply(&[None]), Some(0.0));
        let sd = AggFunc::Stddev.apply(&[Some(2.0), Some(4.0)]).unwrap();
        assert!((sd - 1.0).abs() < 1e-12);
        assert_eq!(AggFunc::Diff.apply(&[Some(-0.0)]), Some(0.0));
        for name in AggFunc::NAMES {
            assert!(AggFunc::parse(name).is_some(), "{name}");
        }
    }

    #[test]
    fn percentile_follows_nist_ranks() {
        let v: Vec<Option<f64>> = [15.0, 20.0, 35.0, 40.0, 50.0]
            .iter()
            .map(|x| Some(*x))
            .collect();
        assert_eq!(percentile(&v, 50.0, false), Ok(Some(35.0)));
        assert_eq!(percentile(&v, 40.0, false), Ok(Some(35.0)));
        assert_eq!(percentile(&v, 100.0, false), Ok(Some(50.0)));
        assert_eq!(percentile(&v, 1.0, false), Ok(Some(15.0)));
        // 0.4 * 6 = 2.4: 20 + 0.4 * (35 - 20)
        let p = percentile(&v, 40.0, true).unwrap().unwrap();
        assert!((p - 26.0).abs() < 1e-12);
        assert_eq!(percentile(&[None, Some(3.0)], 90.0, false), Ok(Some(3.0)));
        assert_eq!(percentile(&[None], 50.0, false), Ok(None));
        assert!(percentile(&v, 150.0, false).is_err());
        assert!(percentile(&v, f64::INFINITY, false).is_err());
    }
}
