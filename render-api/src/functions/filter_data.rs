//! graphite-web's "Filter Data" group: null out points above or below a
//! value or a percentile of the series' own points.

use crate::error::ApiError;
use crate::eval::Value;
use crate::pyfmt::{float_repr, format_g};
use crate::series::Series;

use super::{percentile, Args, FunctionDef, Param, ParamType, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[
        &REMOVE_ABOVE_VALUE,
        &REMOVE_BELOW_VALUE,
        &REMOVE_ABOVE_PERCENTILE,
        &REMOVE_BELOW_PERCENTILE,
    ]);
}

const PARAMS: &[Param] = &[
    Param::new("seriesList", ParamType::SeriesList).required(),
    Param::new("n", ParamType::Float).required(),
];

/// Declares the `static` [`FunctionDef`] of each Filter Data function:
/// `name(seriesList, n)`, which nulls the values `drop(value, limit)`
/// selects, the limit being `n` itself or, with `by_percentile`, the
/// series' n-th percentile (see [`remove`]). One line a function:
/// `STATIC = "name", by_percentile, drop, "description";`.
macro_rules! remove_values {
    ($($def:ident = $name:literal, $by_percentile:literal, $drop:expr, $description:literal;)*) => {
        $(
            static $def: FunctionDef = FunctionDef::new($name, "Filter Data", |_, _, args| {
                remove(args, $name, $by_percentile, $drop)
            })
            .description($description)
            .params(PARAMS);
        )*
    };
}

remove_values! {
    REMOVE_ABOVE_VALUE = "removeAboveValue", false, |v, n| v > n,
        "Replaces the values above n with null.";
    REMOVE_BELOW_VALUE = "removeBelowValue", false, |v, n| v < n,
        "Replaces the values below n with null.";
    REMOVE_ABOVE_PERCENTILE = "removeAbovePercentile", true, |v, p| v > p,
        "Replaces the values above the n-th percentile of each series' own values with null.";
    REMOVE_BELOW_PERCENTILE = "removeBelowPercentile", true, |v, p| v < p,
        "Replaces the values below the n-th percentile of each series' own values with null.";
}

/// Renames each series `<function>(<name>, <n %g>)` and nulls the values
/// for which `drop(value, limit)` holds; the limit is `n` itself or, with
/// `by_percentile`, the series' n-th percentile (graphite computes it
/// through nPercentile, which also tags the series `nPercentile`; a series
/// without values is left as it is).
fn remove(
    mut args: Args,
    function: &str,
    by_percentile: bool,
    drop: fn(f64, f64) -> bool,
) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let n = args.float(1)?;
    if by_percentile && n == 0.0 {
        return Err(args.error("The requested percent is required to be greater than 0"));
    }
    for s in &mut list {
        s.name = format!("{function}({}, {})", s.name, format_g(n));
        s.path_expression = s.name.clone();
        let limit = if by_percentile {
            match series_percentile(s, n).map_err(|e| args.error(e))? {
                Some(p) => p,
                None => continue,
            }
        } else {
            n
        };
        for v in s.values.iter_mut() {
            if v.is_some_and(|x| drop(x, limit)) {
                *v = None;
            }
        }
    }
    Ok(Value::SeriesList(list))
}

/// The first value `nPercentile([s], n)` would return, with its side
/// effect on the series' tags; `None` when it returns nothing.
fn series_percentile(s: &mut Series, n: f64) -> Result<Option<f64>, String> {
    let Some(p) = percentile(&s.points(), n, false)? else {
        return Ok(None);
    };
    s.tags.insert("nPercentile".into(), float_repr(n));
    let points = if s.step > 0 {
        (s.end - s.start) / s.step
    } else {
        0
    };
    Ok((points > 0).then_some(p))
}

#[cfg(test)]
mod tests {
    use crate::testing::{eval_one, MemoryRead};

    fn read() -> MemoryRead {
        MemoryRead::new().with(
            "a.b",
            0,
            10,
            &[Some(1.0), Some(5.0), None, Some(3.0), Some(4.0), Some(2.0)],
        )
    }

    #[test]
    fn by_value() {
        let out = eval_one(&read(), "removeAboveValue(a.b, 3)", -10, 50);
        assert_eq!(out[0].name, "removeAboveValue(a.b, 3)");
        assert_eq!(
            out[0].values,
            [Some(1.0), None, None, Some(3.0), None, Some(2.0)]
        );
        let out = eval_one(&read(), "removeBelowValue(a.b, 2.5)", -10, 50);
        assert_eq!(out[0].name, "removeBelowValue(a.b, 2.5)");
        assert_eq!(
            out[0].values,
            [None, Some(5.0), None, Some(3.0), Some(4.0), None]
        );
    }

    #[test]
    fn by_percentile_tags_like_graphite() {
        let out = eval_one(&read(), "removeAbovePercentile(a.b, 50)", -10, 50);
        assert_eq!(out[0].name, "removeAbovePercentile(a.b, 50)");
        assert_eq!(
            out[0].values,
            [Some(1.0), None, None, Some(3.0), None, Some(2.0)]
        );
        assert_eq!(out[0].tags["nPercentile"], "50.0");
        let out = eval_one(&read(), "removeBelowPercentile(a.b, 80)", -10, 50);
        assert_eq!(out[0].values, [None, Some(5.0), None, None, None, None]);
    }
}
