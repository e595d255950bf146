//! Aggregation of a window of finer slots into one coarser value, with
//! whisper's exact arithmetic (left-to-right float sums, first-wins ties,
//! Python's NaN comparison behaviour), and the xFilesFactor test.

use super::format::AggregationMethod;

/// Aggregates one window. `neighbors[i]` is the value of the i-th finer slot
/// of the window, `None` where the slot is not valid. Returns `None` when no
/// value is known or the known fraction is below `xff` (the stored f32
/// widened to f64); then nothing propagates.
pub fn aggregate_window(
    method: AggregationMethod,
    xff: f64,
    neighbors: &[Option<f64>],
) -> Option<f64> {
    let known = neighbors.iter().filter(|v| v.is_some()).count();
    if known == 0 {
        return None;
    }
    let fraction = known as f64 / neighbors.len() as f64;
    if fraction < xff || fraction.is_nan() {
        return None;
    }
    let mut values = neighbors.iter().flatten().copied();
    Some(match method {
        AggregationMethod::Average => py_sum(values) / known as f64,
        AggregationMethod::Sum => py_sum(values),
        AggregationMethod::Last => values.last().unwrap_or(f64::NAN),
        AggregationMethod::Max => py_best(values, |v, best| v > best),
        AggregationMethod::Min => py_best(values, |v, best| v < best),
        AggregationMethod::AvgZero => {
            // Python's `x or 0`: None and 0.0 become 0, NaN stays.
            py_sum(neighbors.iter().map(|v| v.unwrap_or(0.0))) / neighbors.len() as f64
        }
        AggregationMethod::AbsMax => {
            let first = values.next().unwrap_or(f64::NAN);
            values.fold(first, |best, v| if v.abs() > best.abs() { v } else { best })
        }
        AggregationMethod::AbsMin => {
            let first = values.next().unwrap_or(f64::NAN);
            values.fold(first, |best, v| if v.abs() < best.abs() { v } else { best })
        }
    })
}

/// Python's `sum()` of floats before 3.12: plain left-to-right addition
/// starting from integer 0 (so a lone -0.0 sums to 0.0).
fn py_sum(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, |acc, v| acc + v)
}

/// Python's `max`/`min`: keep the first item, replace it only when the
/// comparison with the current best is true (so NaN never replaces and a
/// NaN seen first is kept).
fn py_best(mut values: impl Iterator<Item = f64>, better: impl Fn(f64, f64) -> bool) -> f64 {
    let first = values.next().unwrap_or(f64::NAN);
    values.fold(first, |best, v| if better(v, best) { v } else { best })
}

#[cfg(test)]
mod tests {
    use super::*;
    use AggregationMethod::*;

    fn agg(m: AggregationMethod, xff: f64, w: &[Option<f64>]) -> Option<f64> {
        aggregate_window(m, xff, w)
    }

    #[test]
    fn methods() {
        let w = [Some(1.0), None, Some(-4.0), Some(2.0)];
        assert_eq!(agg(Average, 0.5, &w), Some(-1.0 / 3.0));
        assert_eq!(agg(Sum, 0.5, &w), Some(-1.0));
        assert_eq!(agg(Last, 0.5, &w), Some(2.0));
        assert_eq!(agg(Max, 0.5, &w), Some(2.0));
        assert_eq!(agg(Min, 0.5, &w), Some(-4.0));
        assert_eq!(agg(AvgZero, 0.5, &w), Some(-0.25));
        assert_eq!(agg(AbsMax, 0.5, &w), Some(-4.0));
        assert_eq!(agg(AbsMin, 0.5, &w), Some(1.0));
    }

    #[test]
    fn ties_keep_the_first() {
        let w = [Some(-3.0), Some(3.0)];
        assert_eq!(agg(AbsMax, 0.0, &w), Some(-3.0));
        assert_eq!(agg(AbsMin, 0.0, &w), Some(-3.0));
    }

    #[test]
    fn nan_behaves_like_python() {
        assert!(agg(Max, 0.0, &[Some(f64::NAN), Some(1.0)])
            .unwrap()
            .is_nan());
        assert_eq!(agg(Max, 0.0, &[Some(1.0), Some(f64::NAN)]), Some(1.0));
    }

    #[test]
    fn xff_is_compared_as_widened_f32() {
        let mut w = vec![None; 10];
        w[3] = Some(5.0);
        assert_eq!(agg(Average, f64::from(0.1f32), &w), None);
        assert_eq!(agg(Average, 0.1, &w), Some(5.0));
        assert_eq!(agg(Average, 0.0, &[None, None]), None, "nothing known");
    }
}
