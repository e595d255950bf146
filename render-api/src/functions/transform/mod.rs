//! graphite-web's "Transform" group: functions that change each series'
//! values (scale, offset, derivative, ...), re-bucket them (summarize,
//! hitcount, smartSummarize), move them in time (timeShift, timeStack,
//! delay), or generate series (time, sin).
//!
//! graphite rewrites values in place while iterating a series; a series
//! that carries lazy consolidation (`values_per_point > 1`) is iterated
//! consolidated and the results land in the first slots of the raw list.
//! [`map_in_place`] and [`replace_values`] reproduce that, so results stay
//! identical even in that corner.
//!
//! - [`pointwise`]: value-by-value transforms (scale, offset, log, round,
//!   transformNull, keepLastValue, interpolate, ...);
//! - [`derivative`]: derivative, nonNegativeDerivative, perSecond, delay,
//!   integral, integralByInterval;
//! - [`summarize`]: summarize, smartSummarize, hitcount,
//!   compressPeriodicGaps;
//! - [`time_shift`]: timeShift, timeStack, timeSlice;
//! - [`generate`]: timeFunction, sinFunction.
//!
//! The helpers they share ([`map_in_place`], [`rename`], [`py_round`], ...)
//! live here.

mod derivative;
mod generate;
mod pointwise;
mod summarize;
mod time_shift;

use crate::error::ApiError;
use crate::eval::Value;
use crate::pyfmt::float_repr;
use crate::series::Series;

use super::{Args, Lit, Param, ParamType, Registry};
pub(super) fn register(r: &mut Registry) {
    pointwise::register(r);
    derivative::register(r);
    summarize::register(r);
    time_shift::register(r);
    generate::register(r);
}

const SERIES_LIST: Param = Param::new("seriesList", ParamType::SeriesList).required();
const ONLY_SERIES_LIST: &[Param] = &[SERIES_LIST];
const SUMMARIZE_SUGGESTIONS: &[Lit] = &[Lit::Str("10min"), Lit::Str("1h"), Lit::Str("1d")];
const SHIFT_SUGGESTIONS: &[Lit] = &[
    Lit::Str("1h"),
    Lit::Str("6h"),
    Lit::Str("12h"),
    Lit::Str("1d"),
    Lit::Str("2d"),
    Lit::Str("7d"),
    Lit::Str("14d"),
    Lit::Str("30d"),
];

/// graphite's `for i, v in enumerate(series): series[i] = f(v)`.
fn map_in_place(s: &mut Series, mut f: impl FnMut(Option<f64>) -> Option<f64>) {
    if s.values_per_point <= 1 {
        s.values.iter_mut().for_each(|v| *v = f(*v));
    } else {
        let points = s.points().into_owned();
        for (slot, v) in s.values.iter_mut().zip(points) {
            *slot = f(v);
        }
    }
}

/// Like [`map_in_place`] for functions whose step can fail (graphite
/// raises mid-loop).
fn try_map_in_place(
    s: &mut Series,
    mut f: impl FnMut(Option<f64>) -> Result<Option<f64>, ApiError>,
) -> Result<(), ApiError> {
    let points = s.points().into_owned();
    for (slot, v) in s.values.iter_mut().zip(points) {
        *slot = f(v)?;
    }
    Ok(())
}

/// graphite's most common transform: every series gets the tag
/// `tag=value`, is renamed `name(its name)` (display name and path
/// expression) and has its values mapped in place by `f`.
fn transform_each(
    mut list: Vec<Series>,
    (tag, value): (&str, &str),
    name: impl Fn(&str) -> String,
    mut f: impl FnMut(Option<f64>) -> Option<f64>,
) -> Value {
    for s in &mut list {
        s.tags.insert(tag.into(), value.into());
        rename(s, name(&s.name));
        map_in_place(s, &mut f);
    }
    Value::SeriesList(list)
}

/// [`transform_each`] for a step that can fail (graphite raises mid-loop),
/// named `function(its name)`.
fn try_transform_each(
    mut list: Vec<Series>,
    (tag, value): (&str, &str),
    function: &str,
    mut f: impl FnMut(Option<f64>) -> Result<Option<f64>, ApiError>,
) -> Result<Value, ApiError> {
    for s in &mut list {
        s.tags.insert(tag.into(), value.into());
        rename(s, format!("{function}({})", s.name));
        try_map_in_place(s, &mut f)?;
    }
    Ok(Value::SeriesList(list))
}

/// graphite's `series.extend(values); del series[:len(values)]`: the whole
/// raw list replaced, lazy consolidation kept.
fn replace_values(s: &mut Series, values: Vec<Option<f64>>) {
    s.values = values;
}

/// Sets the display name and path expression, as most transforms do.
fn rename(s: &mut Series, name: String) {
    s.path_expression.clone_from(&name);
    s.name = name;
}

/// Python's `'%d' % x` of a float (truncates toward zero).
fn percent_d(args: &Args, x: f64) -> Result<String, ApiError> {
    if !x.is_finite() {
        return Err(args.error(format!("cannot format {} as an integer", float_repr(x))));
    }
    Ok(format!("{}", x.trunc() as i64))
}

/// 10⁰ … 10¹⁵, all exact in binary64.
const POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Python's `round(x, ndigits)` of a float: the exact binary value rounded
/// to `ndigits` decimals, ties to even.
pub(crate) fn py_round(x: f64, ndigits: i64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    if ndigits > 308 {
        return x;
    }
    if (0..POWERS_OF_TEN.len() as i64).contains(&ndigits) {
        // Fast path: away from a tie, the nearest integer to x·10ⁿ (computed
        // with at most a few ulps of error) is the exactly rounded decimal,
        // and dividing it by the exact 10ⁿ is correctly rounded.
        let p = POWERS_OF_TEN[ndigits as usize];
        let y = x * p;
        if y.abs() < 4_503_599_627_370_496.0 {
            let r = y.round();
            let margin = y.abs() * 8.0 * f64::EPSILON + f64::MIN_POSITIVE;
            if ((y - r).abs() - 0.5).abs() > margin {
                return r / p;
            }
        }
    }
    if ndigits >= 0 {
        // Rust's fixed-precision formatting is exact with ties to even, as
        // CPython's dtoa-based round()
        return format!("{:.*}", ndigits as usize, x).parse().unwrap_or(x);
    }
    let k = (-ndigits) as usize;
    let digits = format!("{:.0}", x.abs().trunc());
    if digits.len() < k {
        // |x| < 10^(k-1) < half a unit: rounds to (signed) zero
        return 0.0_f64.copysign(x);
    }
    let frac_nonzero = x.fract() != 0.0;
    let (keep, dropped) = digits.split_at(digits.len() - k);
    let mut head: u128 = if keep.is_empty() {
        0
    } else {
        keep.parse().unwrap_or(0)
    };
    let first = dropped.as_bytes()[0] - b'0';
    let rest_nonzero = dropped[1..].bytes().any(|b| b != b'0') || frac_nonzero;
    let round_up = first > 5 || (first == 5 && (rest_nonzero || head % 2 == 1));
    if round_up {
        head += 1;
    }
    let value: f64 = format!("{head}e{k}").parse().unwrap_or(x);
    value.copysign(x)
}

/// Python's `math.exp`, which raises on overflow.
fn py_exp(args: &Args, x: f64) -> Result<f64, ApiError> {
    let r = x.exp();
    if r.is_infinite() && x.is_finite() {
        return Err(args.error("math range error"));
    }
    Ok(r)
}

/// Python's `//` on integers (rounds toward negative infinity).
fn floor_div(a: i64, b: i64) -> i64 {
    let q = a / b;
    if a % b != 0 && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{Context, Evaluator};
    use crate::testing::MemoryRead;

    pub(super) fn read() -> MemoryRead {
        MemoryRead::new()
            .with("a.b", 0, 10, &[Some(1.5), None, Some(-2.0), Some(4.0)])
            .with(
                "c.n",
                0,
                10,
                &[Some(1.0), Some(3.0), None, Some(10.0), Some(2.0), Some(5.0)],
            )
            .with(
                "g.x",
                0,
                10,
                &[None, Some(1.0), None, None, Some(4.0), None],
            )
    }

    proptest::proptest! {
        #[test]
        fn python_round_fast_path_is_exact(x in proptest::num::f64::NORMAL, n in 0i64..16) {
            let exact: f64 = format!("{:.*}", n as usize, x).parse().unwrap();
            proptest::prop_assert_eq!(py_round(x, n).to_bits(), exact.to_bits());
        }

        #[test]
        fn python_round_near_ties_is_exact(units in -10_000_000i64..10_000_000, n in 0i64..8) {
            // decimal ties like 0.0000125 are not exact in binary: the exact
            // path decides, and the fast path must not get in its way
            let x = (units as f64 + 0.5) / POWERS_OF_TEN[n as usize];
            let exact: f64 = format!("{:.*}", n as usize, x).parse().unwrap();
            proptest::prop_assert_eq!(py_round(x, n).to_bits(), exact.to_bits());
        }
    }

    #[test]
    fn python_round_halves_to_even() {
        assert_eq!(py_round(2.5, 0), 2.0);
        assert_eq!(py_round(3.5, 0), 4.0);
        assert_eq!(py_round(-0.4, 0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(py_round(0.125, 2), 0.12);
        assert_eq!(py_round(2.675, 2), 2.67);
        assert_eq!(py_round(150.0, -2), 200.0);
        assert_eq!(py_round(250.0, -2), 200.0);
        assert_eq!(py_round(250.5, -2), 300.0);
        assert_eq!(py_round(-1234.0, -1), -1230.0);
        assert_eq!(py_round(4.0, -1), 0.0);
    }

    #[test]
    fn built_points_are_bounded_by_the_request_limit() {
        let read = read();
        let limits = crate::eval::Limits {
            max_points: 1000,
            ..Default::default()
        };
        for target in [
            "time('t', 1)",
            "summarize(c.n, '1s')",
            "hitcount(c.n, '1s')",
        ] {
            let expr = crate::target::parse_target(target).unwrap();
            let mut ev = Evaluator::new(&read, limits.clone());
            let err = ev
                .evaluate_targets(&Context::new(-10, 3600), &[expr])
                .expect_err(target);
            assert!(matches!(err, ApiError::Limit(_)), "{target}: {err}");
        }
    }
}
