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
//! The helpers they share ([`map_in_place`], [`rename`], ...)
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
