//! graphite-web's "Filter Series" group: keep or drop whole series by an
//! aggregate of their values (filterSeries and its shorthands, highest*,
//! lowest*, mostDeviant, percentile bands), by name (grep, exclude,
//! unique) or by position (limit).

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::series::Series;
use crate::target::{parse_target, Expr};

use super::alias::PyRegex;
use super::sorting::{agg_func_arg, agg_sort_key, sort_by_keys};
use super::{
    percentile, py_slice, xff_ok, AggFunc, Args, FunctionDef, Lit, Param, ParamType, Registry,
};

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[
        &FILTER_SERIES,
        &MAXIMUM_ABOVE,
        &MINIMUM_ABOVE,
        &MAXIMUM_BELOW,
        &MINIMUM_BELOW,
        &CURRENT_ABOVE,
        &CURRENT_BELOW,
        &AVERAGE_ABOVE,
        &AVERAGE_BELOW,
        &HIGHEST,
        &LOWEST,
        &HIGHEST_CURRENT,
        &HIGHEST_MAX,
        &HIGHEST_AVERAGE,
        &LOWEST_CURRENT,
        &LOWEST_AVERAGE,
        &AVERAGE_OUTSIDE_PERCENTILE,
        &REMOVE_BETWEEN_PERCENTILE,
        &LIMIT,
        &USE_SERIES_ABOVE,
        &MOST_DEVIANT,
        &EXCLUDE,
        &GREP,
        &REMOVE_EMPTY_SERIES,
        &UNIQUE,
    ]);
    r.python_signature("highest", "(seriesList, n=1, func='average')");
    r.python_signature("lowest", "(seriesList, n=1, func='average')");
}

const SERIES_LIST: Param = Param::new("seriesList", ParamType::SeriesList).required();

/// `(seriesList, n: float)`, the shape of every `*Above`/`*Below`.
const THRESHOLD_PARAMS: &[Param] = &[SERIES_LIST, Param::new("n", ParamType::Float).required()];

/// `(seriesList, n: integer)`, the shape of `highest*`/`lowest*`.
const COUNT_PARAMS: &[Param] = &[SERIES_LIST, Param::new("n", ParamType::Integer).required()];

/// graphite's `operatorFuncs`: how an aggregate compares to the threshold.
/// A missing aggregate (all nulls) fails `=`, `>`, `>=` and passes `!=`,
/// `<`, `<=`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Operator {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Operator {
    fn parse(s: &str) -> Option<Operator> {
        Some(match s {
            "=" => Operator::Eq,
            "!=" => Operator::Ne,
            ">" => Operator::Gt,
            ">=" => Operator::Ge,
            "<" => Operator::Lt,
            "<=" => Operator::Le,
            _ => return None,
        })
    }

    fn keeps(self, value: Option<f64>, threshold: f64) -> bool {
        match (self, value) {
            (Operator::Eq | Operator::Gt | Operator::Ge, None) => false,
            (Operator::Ne | Operator::Lt | Operator::Le, None) => true,
            (Operator::Eq, Some(v)) => v == threshold,
            (Operator::Ne, Some(v)) => v != threshold,
            (Operator::Gt, Some(v)) => v > threshold,
            (Operator::Ge, Some(v)) => v >= threshold,
            (Operator::Lt, Some(v)) => v < threshold,
            (Operator::Le, Some(v)) => v <= threshold,
        }
    }
}

fn filter(list: Vec<Series>, func: AggFunc, op: Operator, threshold: f64) -> Vec<Series> {
    list.into_iter()
        .filter(|s| op.keeps(func.apply(&s.points()), threshold))
        .collect()
}

static FILTER_SERIES: FunctionDef =
    FunctionDef::new("filterSeries", "Filter Series", filter_series)
        .description(
            "Keeps the series whose aggregate (func) compares true against the \
             threshold with the operator (=, !=, >, >=, <, <=). An all-null series \
             passes !=, < and <= only.",
        )
        .params(&[
            SERIES_LIST,
            Param::new("func", ParamType::AggFunc).required(),
            Param::new("operator", ParamType::String)
                .required()
                .options(&[
                    Lit::Str("!="),
                    Lit::Str("<"),
                    Lit::Str("<="),
                    Lit::Str("="),
                    Lit::Str(">"),
                    Lit::Str(">="),
                ]),
            Param::new("threshold", ParamType::Float).required(),
        ]);

fn filter_series(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let func = agg_func_arg(&args, 1)?;
    let operator = args.string(2)?;
    let op = Operator::parse(&operator)
        .ok_or_else(|| ApiError::BadRequest(format!("Unsupported operator: {operator}")))?;
    let threshold = args.float(3)?;
    Ok(Value::SeriesList(filter(list, func, op, threshold)))
}

/// Declares a shorthand of `filterSeries` or of `highest`/`lowest`: the
/// series list, `n` read with `args.$read_n(1)` (`float` for a threshold,
/// `int` for a count), and the series `$keep(list, n)` picks.
macro_rules! shorthand_filter {
    ($static:ident, $fn:ident, $name:literal, $params:ident, $read_n:ident, $keep:expr, $doc:literal) => {
        static $static: FunctionDef = FunctionDef::new($name, "Filter Series", $fn)
            .description($doc)
            .params($params);

        fn $fn(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
            let list = args.series_list(0)?;
            let n = args.$read_n(1)?;
            Ok(Value::SeriesList(($keep)(list, n)))
        }
    };
}

shorthand_filter!(
    MAXIMUM_ABOVE,
    maximum_above,
    "maximumAbove",
    THRESHOLD_PARAMS,
    float,
    |list, n| filter(list, AggFunc::Max, Operator::Gt, n),
    "Keeps the series whose maximum is above n."
);
shorthand_filter!(
    MINIMUM_ABOVE,
    minimum_above,
    "minimumAbove",
    THRESHOLD_PARAMS,
    float,
    |list, n| filter(list, AggFunc::Min, Operator::Gt, n),
    "Keeps the series whose minimum is above n."
);
shorthand_filter!(
    MAXIMUM_BELOW,
    maximum_below,
    "maximumBelow",
    THRESHOLD_PARAMS,
    float,
    |list, n| filter(list, AggFunc::Max, Operator::Le, n),
    "Keeps the series whose maximum is n or below (all-null series too)."
);
shorthand_filter!(
    MINIMUM_BELOW,
    minimum_below,
    "minimumBelow",
    THRESHOLD_PARAMS,
    float,
    |list, n| filter(list, AggFunc::Min, Operator::Le, n),
    "Keeps the series whose minimum is n or below (all-null series too)."
);
shorthand_filter!(
    CURRENT_ABOVE,
    current_above,
    "currentAbove",
    THRESHOLD_PARAMS,
    float,
    |list, n| filter(list, AggFunc::Last, Operator::Gt, n),
    "Keeps the series whose last non-null value is above n."
);
shorthand_filter!(
    CURRENT_BELOW,
    current_below,
    "currentBelow",
    THRESHOLD_PARAMS,
    float,
    |list, n| filter(list, AggFunc::Last, Operator::Le, n),
    "Keeps the series whose last non-null value is n or below (all-null series too)."
);
shorthand_filter!(
    AVERAGE_ABOVE,
    average_above,
    "averageAbove",
    THRESHOLD_PARAMS,
    float,
    |list, n| filter(list, AggFunc::Average, Operator::Gt, n),
    "Keeps the series whose average is above n."
);
shorthand_filter!(
    AVERAGE_BELOW,
    average_below,
    "averageBelow",
    THRESHOLD_PARAMS,
    float,
    |list, n| filter(list, AggFunc::Average, Operator::Le, n),
    "Keeps the series whose average is n or below (all-null series too)."
);

/// graphite's `highest`/`lowest`: sort by the aggregate (all-null series
/// as −∞, stable) and take the first `n` (Python slicing: a negative `n`
/// drops that many from the end).
fn top(list: Vec<Series>, n: i64, func: AggFunc, highest: bool) -> Vec<Series> {
    let keys: Vec<f64> = list.iter().map(|s| agg_sort_key(func, s)).collect();
    let mut sorted = sort_by_keys(list, &keys, highest);
    let keep = py_slice(sorted.len(), None, Some(n));
    sorted.truncate(keep.end);
    sorted
}

/// `(seriesList, n, func='average')` of `highest` and `lowest`.
const TOP_PARAMS: &[Param] = &[
    SERIES_LIST,
    Param::new("n", ParamType::Integer).required(),
    Param::new("func", ParamType::AggFunc).default(Lit::Str("average")),
];

static HIGHEST: FunctionDef =
    FunctionDef::new("highest", "Filter Series", |_, _, args| top_by(args, true))
        .description("The n series with the highest aggregate (func, default average).")
        .params(TOP_PARAMS);

static LOWEST: FunctionDef =
    FunctionDef::new("lowest", "Filter Series", |_, _, args| top_by(args, false))
        .description(
            "The n series with the lowest aggregate (func, default average); all-null \
             series come first.",
        )
        .params(TOP_PARAMS);

/// `highest` or `lowest`: [`top`] by the aggregate the arguments name.
fn top_by(mut args: Args, highest: bool) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let n = args.int(1)?;
    let func = agg_func_arg(&args, 2)?;
    Ok(Value::SeriesList(top(list, n, func, highest)))
}

shorthand_filter!(
    HIGHEST_CURRENT,
    highest_current,
    "highestCurrent",
    COUNT_PARAMS,
    int,
    |list, n| top(list, n, AggFunc::Last, true),
    "The n series with the highest last non-null value."
);
shorthand_filter!(
    HIGHEST_MAX,
    highest_max,
    "highestMax",
    COUNT_PARAMS,
    int,
    |list, n| top(list, n, AggFunc::Max, true),
    "The n series with the highest maximum."
);
shorthand_filter!(
    HIGHEST_AVERAGE,
    highest_average,
    "highestAverage",
    COUNT_PARAMS,
    int,
    |list, n| top(list, n, AggFunc::Average, true),
    "The n series with the highest average."
);
shorthand_filter!(
    LOWEST_CURRENT,
    lowest_current,
    "lowestCurrent",
    COUNT_PARAMS,
    int,
    |list, n| top(list, n, AggFunc::Last, false),
    "The n series with the lowest last non-null value (all-null series first)."
);
shorthand_filter!(
    LOWEST_AVERAGE,
    lowest_average,
    "lowestAverage",
    COUNT_PARAMS,
    int,
    |list, n| top(list, n, AggFunc::Average, false),
    "The n series with the lowest average (all-null series first)."
);

/// averageOutsidePercentile and removeBetweenPercentile: the series
/// `keep` picks from the list argument, given the band of `n` (argument 1).
fn band_filter(
    mut args: Args,
    keep: impl FnOnce(Vec<Series>, &Band<'_>) -> Result<Vec<Series>, ApiError>,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let n = args.float(1)?;
    // graphite's band is [100 - n, n] with n >= 50
    let n = if n < 50.0 { 100.0 - n } else { n };
    let band = Band {
        args: &args,
        low: 100.0 - n,
        high: n,
    };
    keep(list, &band).map(Value::SeriesList)
}

/// The percentile band of the band filters: from the `low`-th to the
/// `high`-th percentile of a group of values.
struct Band<'a> {
    args: &'a Args,
    low: f64,
    high: f64,
}

impl Band<'_> {
    /// The band's `(low, high)` bounds among `values`.
    fn bounds(&self, values: &[Option<f64>]) -> Result<(Option<f64>, Option<f64>), ApiError> {
        let at = |n: f64| percentile(values, n, false).map_err(|e| self.args.error(e));
        Ok((at(self.low)?, at(self.high)?))
    }
}

/// `not low < v < high`, where a missing bound or value never counts as
/// outside (graphite-web fails with a TypeError there; see docs).
fn outside(low: Option<f64>, v: Option<f64>, high: Option<f64>) -> bool {
    match (low, v, high) {
        (Some(lo), Some(v), Some(hi)) => !(lo < v && v < hi),
        _ => false,
    }
}

static AVERAGE_OUTSIDE_PERCENTILE: FunctionDef =
    FunctionDef::new("averageOutsidePercentile", "Filter Series", average_outside)
        .description(
            "Keeps the series whose average lies outside the band between the \
             (100 - n)-th and n-th percentiles of all the series' averages.",
        )
        .params(THRESHOLD_PARAMS);

fn average_outside(_ev: &mut Evaluator<'_>, _ctx: &Context, args: Args) -> Result<Value, ApiError> {
    band_filter(args, |list, band| {
        let averages: Vec<Option<f64>> = list
            .iter()
            .map(|s| AggFunc::Average.apply(&s.points()))
            .collect();
        let (low, high) = band.bounds(&averages)?;
        Ok(list
            .into_iter()
            .zip(averages)
            .filter(|(_, avg)| outside(low, *avg, high))
            .map(|(s, _)| s)
            .collect())
    })
}

static REMOVE_BETWEEN_PERCENTILE: FunctionDef =
    FunctionDef::new("removeBetweenPercentile", "Filter Series", remove_between)
        .description(
            "Keeps the series that have at least one value outside the band between \
             the (100 - n)-th and n-th percentiles of all series at that timestamp.",
        )
        .params(THRESHOLD_PARAMS);

fn remove_between(_ev: &mut Evaluator<'_>, _ctx: &Context, args: Args) -> Result<Value, ApiError> {
    band_filter(args, |list, band| {
        let columns: Vec<Vec<Option<f64>>> = list.iter().map(|s| s.points().into_owned()).collect();
        // zip(*seriesList): only as many timestamps as the shortest series
        let rows = columns.iter().map(Vec::len).min().unwrap_or(0);
        let mut bounds = Vec::with_capacity(rows);
        let mut column = Vec::with_capacity(columns.len());
        for i in 0..rows {
            column.clear();
            column.extend(columns.iter().map(|c| c[i]));
            bounds.push(band.bounds(&column)?);
        }
        Ok(list
            .into_iter()
            .zip(&columns)
            .filter(|(_, values)| {
                bounds
                    .iter()
                    .zip(values.iter())
                    .any(|((lo, hi), v)| outside(*lo, *v, *hi))
            })
            .map(|(s, _)| s)
            .collect())
    })
}

static LIMIT: FunctionDef = FunctionDef::new("limit", "Filter Series", limit)
    .description("The first n series of the list.")
    .params(COUNT_PARAMS);

fn limit(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let keep = py_slice(list.len(), Some(0), Some(args.int(1)?));
    list.truncate(keep.end);
    Ok(Value::SeriesList(list))
}

static USE_SERIES_ABOVE: FunctionDef =
    FunctionDef::new("useSeriesAbove", "Filter Series", use_series_above)
        .description(
            "For each series whose maximum is above value, fetches instead the series \
             named by a regular-expression search and replace on its name (e.g. from \
             a .reqs metric to the matching .time metric).",
        )
        .params(&[
            SERIES_LIST,
            Param::new("value", ParamType::Float).required(),
            Param::new("search", ParamType::String).required(),
            Param::new("replace", ParamType::String).required(),
        ]);

fn use_series_above(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let value = args.float(1)?;
    let re = PyRegex::new(&args.string(2)?).map_err(|e| args.error(e))?;
    let template = re.template(&args.string(3)?).map_err(|e| args.error(e))?;
    let names: Vec<String> = list
        .iter()
        .filter(|s| AggFunc::Max.apply(&s.points()).is_some_and(|m| m > value))
        .map(|s| re.sub(&template, &s.name))
        .collect();
    if names.is_empty() {
        return Ok(Value::SeriesList(Vec::new()));
    }
    // graphite evaluates the text `group(<names joined by ,>)`: parsing
    // that text decides what the names become (a comma inside one splits
    // it), and group() concatenates its arguments' series.
    let target = format!("group({})", names.join(","));
    let members = match parse_target(&target)? {
        Expr::Call(call) => call.args,
        other => vec![other],
    };
    let mut found = Vec::new();
    for member in &members {
        found.extend(ev.evaluate_with(ctx, member, None)?);
    }
    Ok(Value::SeriesList(
        found.into_iter().filter(|s| !s.values.is_empty()).collect(),
    ))
}

static MOST_DEVIANT: FunctionDef = FunctionDef::new("mostDeviant", "Filter Series", most_deviant)
    .description(
        "The n series with the largest variance of their own values; all-null \
         series are dropped.",
    )
    .params(COUNT_PARAMS);

fn most_deviant(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let n = args.int(1)?;
    let mut kept = Vec::with_capacity(list.len());
    let mut sigmas = Vec::with_capacity(list.len());
    for s in list {
        let points = s.points();
        let Some(mean) = AggFunc::Average.apply(&points) else {
            continue;
        };
        let non_null: Vec<f64> = points.iter().flatten().copied().collect();
        let square_sum = non_null
            .iter()
            .fold(0.0, |acc, v| acc + (v - mean) * (v - mean));
        let sigma = square_sum / non_null.len() as f64;
        drop(points);
        sigmas.push(sigma);
        kept.push(s);
    }
    let mut sorted = sort_by_keys(kept, &sigmas, true);
    let keep = py_slice(sorted.len(), None, Some(n));
    sorted.truncate(keep.end);
    Ok(Value::SeriesList(sorted))
}

const PATTERN_PARAMS: &[Param] = &[
    SERIES_LIST,
    Param::new("pattern", ParamType::String).required(),
];

static EXCLUDE: FunctionDef =
    FunctionDef::new("exclude", "Filter Series", |_, _, args| grep(args, false))
        .description(
            "Drops the series whose name matches the regular expression (anywhere in \
             the name).",
        )
        .params(PATTERN_PARAMS);

static GREP: FunctionDef = FunctionDef::new("grep", "Filter Series", |_, _, args| grep(args, true))
    .description(
        "Keeps the series whose name matches the regular expression (anywhere in \
         the name).",
    )
    .params(PATTERN_PARAMS);

/// `grep` (`keep_matching`) or `exclude`: the series whose name matches
/// the pattern, or those whose name does not.
fn grep(mut args: Args, keep_matching: bool) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let re = PyRegex::new(&args.string(1)?).map_err(|e| args.error(e))?;
    Ok(Value::SeriesList(
        list.into_iter()
            .filter(|s| re.is_match(&s.name) == keep_matching)
            .collect(),
    ))
}

static REMOVE_EMPTY_SERIES: FunctionDef =
    FunctionDef::new("removeEmptySeries", "Filter Series", remove_empty_series)
        .description(
            "Drops the series without values: those whose fraction of non-null values \
             is below xFilesFactor (default 0: only all-null series are dropped).",
        )
        .params(&[SERIES_LIST, Param::new("xFilesFactor", ParamType::Float)]);

fn remove_empty_series(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let xff = args.opt_float(1)?.unwrap_or(0.0);
    Ok(Value::SeriesList(
        list.into_iter()
            .filter(|s| {
                let non_null = s.points().iter().filter(|v| v.is_some()).count();
                !s.values.is_empty() && xff_ok(non_null, s.values.len(), xff)
            })
            .collect(),
    ))
}

static UNIQUE: FunctionDef = FunctionDef::new("unique", "Filter Series", unique)
    .description("Concatenates the lists, keeping only the first series of each name.")
    .params(&[Param::new("seriesLists", ParamType::SeriesList)
        .required()
        .multiple()]);

fn unique(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for list in args.rest_series_lists()? {
        for s in list {
            if seen.insert(s.name.clone()) {
                out.push(s);
            }
        }
    }
    Ok(Value::SeriesList(out))
}

#[cfg(test)]
mod tests {
    use crate::testing::{eval_one, MemoryRead};

    fn read() -> MemoryRead {
        MemoryRead::new()
            .with("s.a", 0, 10, &[Some(1.0), Some(2.0), Some(3.0)])
            .with("s.b", 0, 10, &[Some(10.0), None, Some(0.0)])
            .with("s.c", 0, 10, &[None, None, None])
            .with("s.d", 0, 10, &[Some(-5.0), Some(5.0), Some(4.0)])
            .with("t.a", 0, 10, &[Some(7.0), Some(7.0), Some(7.0)])
    }

    fn names(target: &str) -> Vec<String> {
        eval_one(&read(), target, -10, 20)
            .into_iter()
            .map(|s| s.name)
            .collect()
    }

    #[test]
    fn threshold_filters_and_nulls() {
        assert_eq!(names("currentAbove(s.*, 3)"), ["s.d"]);
        assert_eq!(names("currentBelow(s.*, 3)"), ["s.a", "s.b", "s.c"]);
        assert_eq!(names("averageAbove(s.*, 1.5)"), ["s.a", "s.b"]);
        assert_eq!(names("averageBelow(s.*, 2)"), ["s.a", "s.c", "s.d"]);
        assert_eq!(names("maximumAbove(s.*, 4)"), ["s.b", "s.d"]);
        assert_eq!(names("maximumBelow(s.*, 3)"), ["s.a", "s.c"]);
        assert_eq!(names("minimumAbove(s.*, 0)"), ["s.a"]);
        assert_eq!(names("minimumBelow(s.*, 0)"), ["s.b", "s.c", "s.d"]);
        assert_eq!(
            names("filterSeries(s.*, 'sum', '!=', 6)"),
            ["s.b", "s.c", "s.d"]
        );
        assert_eq!(names("filterSeries(s.*, 'count', '>=', 3)"), ["s.a", "s.d"]);
    }

    #[test]
    fn highest_lowest_and_limit() {
        assert_eq!(names("highestAverage(s.*, 2)"), ["s.b", "s.a"]);
        assert_eq!(names("highestCurrent(s.*, 1)"), ["s.d"]);
        assert_eq!(names("highestMax(s.*, 1)"), ["s.b"]);
        assert_eq!(names("highest(s.*, 2, 'min')"), ["s.a", "s.b"]);
        assert_eq!(names("lowestAverage(s.*, 2)"), ["s.c", "s.d"]);
        assert_eq!(names("lowestCurrent(s.*, 2)"), ["s.c", "s.b"]);
        assert_eq!(names("lowest(s.*, -3)"), ["s.c"]);
        assert_eq!(names("limit(s.*, 2)"), ["s.a", "s.b"]);
        assert_eq!(names("limit(s.*, -1)"), ["s.a", "s.b", "s.c"]);
        assert_eq!(names("mostDeviant(s.*, 2)"), ["s.b", "s.d"]);
    }

    #[test]
    fn by_name_and_uniqueness() {
        assert_eq!(names("grep(s.*, '[ab]$')"), ["s.a", "s.b"]);
        assert_eq!(names("exclude(s.*, 'a|c')"), ["s.b", "s.d"]);
        assert_eq!(
            names("unique(s.a, s.*, t.a)"),
            ["s.a", "s.b", "s.c", "s.d", "t.a"]
        );
        assert_eq!(names("removeEmptySeries(s.*)"), ["s.a", "s.b", "s.d"]);
        assert_eq!(names("removeEmptySeries(s.*, 0.9)"), ["s.a", "s.d"]);
    }

    #[test]
    fn percentile_bands() {
        // averages: 2, 5, None, 4/3
        assert_eq!(
            names("averageOutsidePercentile(s.*, 60)"),
            ["s.a", "s.b", "s.d"]
        );
        assert_eq!(
            names("removeBetweenPercentile(s.{a,d,b}, 70)"),
            ["s.a", "s.b", "s.d"]
        );
    }

    #[test]
    fn use_series_above_refetches_renamed_series() {
        assert_eq!(
            names(r#"useSeriesAbove(s.*, 4, "^s\.[bd]", "t.a")"#),
            ["t.a", "t.a"]
        );
        assert!(names(r#"useSeriesAbove(s.*, 100, "s", "t")"#).is_empty());
    }
}
