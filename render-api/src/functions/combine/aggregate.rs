//! `aggregate` and the functions that are `aggregate` with a fixed
//! function (sumSeries, averageSeries, ...), pairwise (`*SeriesLists`) or
//! per wildcard group (`*WithWildcards`); the column folds that compute
//! them, also while the evaluator streams series from storage
//! ([`Streamable`]); and the other row-wise combiners (multiplySeries,
//! percentileOfSeries, powSeries, countSeries).

use std::collections::BTreeMap;

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::functions::aggfunc::safe_pow;
use crate::functions::{
    format_path_expressions, normalize, percentile, xff_ok, AggFunc, Aggregator, Args, FunctionDef,
    Lit, Param, ParamType, Registry,
};
use crate::pyfmt::format_g;
use crate::series::Series;

use super::{Groups, OPTIONAL_SERIES_LISTS, SERIES_LISTS, TWO_LISTS, WILDCARD_PARAMS};

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[
        &AGGREGATE,
        &AGGREGATE_SERIES_LISTS,
        &AGGREGATE_WITH_WILDCARDS,
        &AVERAGE_SERIES,
        &AVERAGE_SERIES_WITH_WILDCARDS,
        &COUNT_SERIES,
        &DIFF_SERIES,
        &DIFF_SERIES_LISTS,
        &MAX_SERIES,
        &MIN_SERIES,
        &MULTIPLY_SERIES,
        &MULTIPLY_SERIES_LISTS,
        &MULTIPLY_SERIES_WITH_WILDCARDS,
        &PERCENTILE_OF_SERIES,
        &POW_SERIES,
        &RANGE_OF_SERIES,
        &STDDEV_SERIES,
        &SUM_SERIES,
        &SUM_SERIES_LISTS,
        &SUM_SERIES_WITH_WILDCARDS,
    ]);
    r.alias("avg", &AVERAGE_SERIES);
    r.alias("sum", &SUM_SERIES);
}

/// Declares a function that is one of the generic combiners with a fixed
/// aggregation function: `sumSeries(...)` is `aggregate(..., 'sum')` over
/// all its lists ([`of_series_lists`]), `sumSeriesLists` is
/// `aggregateSeriesLists(..., 'sum')` ([`pairwise`]) and
/// `sumSeriesWithWildcards` is `aggregateWithWildcards(..., 'sum')`
/// ([`by_wildcards`]).
macro_rules! fixed_aggregation {
    (
        $static:ident,
        $fn:ident,
        $name:literal,
        $params:expr,
        $combine:ident($func:literal),
        $aggregator:expr,
        $description:literal
    ) => {
        static $static: FunctionDef = FunctionDef::new($name, "Combine", $fn)
            .description($description)
            .params($params)
            .aggregator($aggregator);

        fn $fn(_ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
            $combine(ctx, &mut args, $func).map(Value::SeriesList)
        }
    };
}

/// `aggregate(lists, func)` over all the `*seriesLists` arguments.
fn of_series_lists(ctx: &Context, args: &mut Args, func: &str) -> Result<Vec<Series>, ApiError> {
    aggregate_lists(ctx, args.rest_series_lists()?, func, None)
}

/// `aggregateSeriesLists(first, second, func)` of the two list arguments.
fn pairwise(ctx: &Context, args: &mut Args, func: &str) -> Result<Vec<Series>, ApiError> {
    let first = args.series_list(0)?;
    let second = args.series_list(1)?;
    aggregate_series_lists(ctx, first, second, func, None)
}

/// `aggregateWithWildcards(list, func, *positions)` of the arguments.
fn by_wildcards(ctx: &Context, args: &mut Args, func: &str) -> Result<Vec<Series>, ApiError> {
    let list = args.series_list(0)?;
    let positions = positions(args, args.rest())?;
    aggregate_with_wildcards(ctx, list, func, &positions)
}

fixed_aggregation!(
    SUM_SERIES,
    sum_series,
    "sumSeries",
    SERIES_LISTS,
    of_series_lists("sum"),
    Aggregator::Streaming(Streamable::SUM),
    "Adds the series together per timestamp (nulls are skipped; a timestamp where every series \
     is null stays null). Series with different steps are first consolidated to the least \
     common multiple of their steps."
);
fixed_aggregation!(
    AVERAGE_SERIES,
    average_series,
    "averageSeries",
    SERIES_LISTS,
    of_series_lists("average"),
    Aggregator::Streaming(Streamable::AVERAGE),
    "Averages the series per timestamp, over the non-null values only."
);
fixed_aggregation!(
    DIFF_SERIES,
    diff_series,
    "diffSeries",
    SERIES_LISTS,
    of_series_lists("diff"),
    Aggregator::Yes,
    "Subtracts the other series from the first one per timestamp; nulls are skipped, so where \
     the first series is null the first non-null value takes its place."
);
fixed_aggregation!(
    STDDEV_SERIES,
    stddev_series,
    "stddevSeries",
    SERIES_LISTS,
    of_series_lists("stddev"),
    Aggregator::Yes,
    "The population standard deviation of the non-null values per timestamp."
);
fixed_aggregation!(
    MIN_SERIES,
    min_series,
    "minSeries",
    SERIES_LISTS,
    of_series_lists("min"),
    Aggregator::Yes,
    "The smallest non-null value per timestamp."
);
fixed_aggregation!(
    MAX_SERIES,
    max_series,
    "maxSeries",
    SERIES_LISTS,
    of_series_lists("max"),
    Aggregator::Yes,
    "The largest non-null value per timestamp."
);
fixed_aggregation!(
    RANGE_OF_SERIES,
    range_of_series,
    "rangeOfSeries",
    SERIES_LISTS,
    of_series_lists("rangeOf"),
    Aggregator::Yes,
    "The largest minus the smallest non-null value per timestamp."
);

static AGGREGATE: FunctionDef = FunctionDef::new("aggregate", "Combine", aggregate)
    .description(
        "Aggregates all series into one with the given function (average, avg_zero, \
         median, sum, min, max, diff, stddev, count, range, multiply, last or their \
         aliases), per timestamp after aligning steps to their least common multiple.",
    )
    .params(&[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("func", ParamType::AggFunc).required(),
        Param::new("xFilesFactor", ParamType::Float),
    ]);

fn aggregate(_ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let func = args.string(1)?;
    let xff = args.opt_float(2)?;
    aggregate_lists(ctx, vec![list], &func, xff).map(Value::SeriesList)
}

/// The aggregation function for a name that may carry graphite's
/// deprecated `Series` suffix (`sumSeries`), with the short name.
fn agg_func(func: &str) -> Result<(AggFunc, &str), ApiError> {
    let short = func.strip_suffix("Series").unwrap_or(func);
    let agg = AggFunc::parse(short)
        .ok_or_else(|| ApiError::BadRequest(format!("Unsupported aggregation function: {func}")))?;
    Ok((agg, short))
}

/// graphite's `aggregate()`: `func` may carry a `Series` suffix
/// (`sumSeries`); the result is one series named `<func>Series(<path
/// expressions>)` with the tags all inputs share plus `aggregatedBy`, or an
/// empty list when there is no input.
pub(crate) fn aggregate_lists(
    ctx: &Context,
    lists: Vec<Vec<Series>>,
    func: &str,
    x_files_factor: Option<f64>,
) -> Result<Vec<Series>, ApiError> {
    let (agg, short) = agg_func(func)?;
    let Some((inputs, start, end, step)) = normalize(lists) else {
        return Ok(Vec::new());
    };
    let xff = x_files_factor.unwrap_or(ctx.x_files_factor);
    let values = match ColumnFold::new(agg) {
        Some(fold) => fold_columns(&inputs, fold, xff),
        None => {
            let columns: Vec<_> = inputs.iter().map(|s| s.points()).collect();
            let rows = columns.iter().map(|c| c.len()).max().unwrap_or(0);
            let mut values = Vec::with_capacity(rows);
            let mut row = Vec::with_capacity(columns.len());
            for i in 0..rows {
                row.clear();
                row.extend(columns.iter().map(|c| c.get(i).copied().flatten()));
                let non_null = row.iter().filter(|v| v.is_some()).count();
                values.push(if xff_ok(non_null, row.len(), xff) {
                    agg.apply(&row)
                } else {
                    None
                });
            }
            values
        }
    };
    let mut tags = inputs[0].tags.clone();
    for s in &inputs[1..] {
        tags.retain(|k, v| s.tags.get(k) == Some(v));
    }
    let out = aggregate_series(
        short,
        &format_path_expressions(&inputs),
        tags,
        (start, end, step),
        values,
        xff,
    );
    Ok(vec![out])
}

/// Row-wise aggregation computed series by series (cache-friendly for
/// thousands of series, and usable while streaming them from storage).
/// Adding each series in order gives exactly the additions Python's
/// `sum(row)` makes, so results are bit-identical to the row-wise path.
pub struct ColumnFold {
    agg: AggFunc,
    acc: Vec<f64>,
    count: Vec<u32>,
    series: usize,
}

impl ColumnFold {
    /// A fold for `sum`, `average`, `min`, `max` or `count`; `None` for the
    /// other functions, which need whole rows.
    fn new(agg: AggFunc) -> Option<ColumnFold> {
        matches!(
            agg,
            AggFunc::Sum | AggFunc::Average | AggFunc::Min | AggFunc::Max | AggFunc::Count
        )
        .then(|| ColumnFold::with(agg))
    }

    /// An empty fold for `agg`, which [`ColumnFold::new`] accepts.
    fn with(agg: AggFunc) -> ColumnFold {
        ColumnFold {
            agg,
            acc: Vec::new(),
            count: Vec::new(),
            series: 0,
        }
    }

    /// Adds the next series' (consolidated) values.
    pub fn add(&mut self, values: &[Option<f64>]) {
        if values.len() > self.acc.len() {
            self.acc.resize(values.len(), 0.0);
            self.count.resize(values.len(), 0);
        }
        let rows = self.acc.iter_mut().zip(self.count.iter_mut()).zip(values);
        // One loop per function so that the hot loop has no branch on it.
        match self.agg {
            AggFunc::Max => {
                for ((a, n), v) in rows {
                    if let Some(x) = *v {
                        if *n == 0 || x > *a {
                            *a = x;
                        }
                        *n += 1;
                    }
                }
            }
            AggFunc::Min => {
                for ((a, n), v) in rows {
                    if let Some(x) = *v {
                        if *n == 0 || x < *a {
                            *a = x;
                        }
                        *n += 1;
                    }
                }
            }
            _ => {
                // Branch-free: adding 0.0 for a null leaves the sum's bits
                // unchanged (the sum starts at +0.0 and can never become
                // -0.0, the only value `+ 0.0` would alter).
                for ((a, n), v) in rows {
                    *a += v.unwrap_or(0.0);
                    *n += u32::from(v.is_some());
                }
            }
        }
        self.series += 1;
    }

    /// One value per row: null unless the row passes the xFilesFactor test
    /// over all series (shorter series count as nulls).
    fn finish(self, xff: f64) -> Vec<Option<f64>> {
        let total = self.series;
        let agg = self.agg;
        self.acc
            .into_iter()
            .zip(self.count)
            .map(|(a, n)| {
                let n = n as usize;
                xff_ok(n, total, xff).then(|| match agg {
                    AggFunc::Average => a / n as f64,
                    AggFunc::Count => n as f64,
                    _ => a,
                })
            })
            .collect()
    }
}

fn fold_columns(inputs: &[Series], fold: ColumnFold, xff: f64) -> Vec<Option<f64>> {
    let mut fold = fold;
    for s in inputs {
        fold.add(&s.points());
    }
    fold.finish(xff)
}

/// How the evaluator may compute a function while streaming its plain-path
/// arguments from storage instead of loading them all (`sumSeries(a.*)`
/// over thousands of series in bounded memory): a [`ColumnFold`] fed with
/// the fetched values, then the series graphite's `aggregate()` builds.
/// Set as [`Aggregator::Streaming`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Streamable {
    agg: AggFunc,
    /// The name graphite puts before `Series(`.
    short: &'static str,
}

impl Streamable {
    const SUM: Streamable = Streamable {
        agg: AggFunc::Sum,
        short: "sum",
    };
    const AVERAGE: Streamable = Streamable {
        agg: AggFunc::Average,
        short: "average",
    };

    /// An empty fold to [`ColumnFold::add`] the series' values to.
    pub fn fold(&self) -> ColumnFold {
        ColumnFold::with(self.agg)
    }

    /// The aggregate series of the folded values, as [`aggregate_lists`]
    /// names and tags it.
    pub fn series(
        &self,
        path_expressions: &str,
        tags: BTreeMap<String, String>,
        window: (i64, i64, i64),
        fold: ColumnFold,
        xff: f64,
    ) -> Series {
        let values = fold.finish(xff);
        aggregate_series(self.short, path_expressions, tags, window, values, xff)
    }
}

/// The aggregate series graphite's `aggregate()` builds from folded values.
fn aggregate_series(
    short: &str,
    path_expressions: &str,
    tags: BTreeMap<String, String>,
    (start, end, step): (i64, i64, i64),
    values: Vec<Option<f64>>,
    xff: f64,
) -> Series {
    let name = format!("{short}Series({path_expressions})");
    let mut tags = tags;
    tags.entry("name".into()).or_insert_with(|| name.clone());
    tags.insert("aggregatedBy".into(), short.to_string());
    let mut out = Series::new(name, start, end, step, values, xff);
    out.tags = tags;
    out
}

/// Rows of several value columns, padded with nulls to the longest
/// (Python's `izip_longest`).
fn rows<'a>(columns: &'a [&'a [Option<f64>]]) -> impl Iterator<Item = Vec<Option<f64>>> + 'a {
    let len = columns.iter().map(|c| c.len()).max().unwrap_or(0);
    (0..len).map(move |i| {
        columns
            .iter()
            .map(|c| c.get(i).copied().flatten())
            .collect()
    })
}

static AGGREGATE_SERIES_LISTS: FunctionDef =
    FunctionDef::new("aggregateSeriesLists", "Combine", aggregate_series_lists_fn)
        .description(
            "Aggregates the two lists pairwise by position (first with first, second with \
             second, ...) with the given aggregation function; the lists must have the \
             same length.",
        )
        .params(&[
            Param::new("seriesListFirstPos", ParamType::SeriesList).required(),
            Param::new("seriesListSecondPos", ParamType::SeriesList).required(),
            Param::new("func", ParamType::AggFunc).required(),
            Param::new("xFilesFactor", ParamType::Float),
        ]);

fn aggregate_series_lists_fn(
    _ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let first = args.series_list(0)?;
    let second = args.series_list(1)?;
    let func = args.string(2)?;
    let xff = args.opt_float(3)?;
    aggregate_series_lists(ctx, first, second, &func, xff).map(Value::SeriesList)
}

/// graphite's `aggregateSeriesLists`: `aggregate` of each positional pair,
/// renamed `<func>Series(<first name>,<second name>)`.
fn aggregate_series_lists(
    ctx: &Context,
    first: Vec<Series>,
    second: Vec<Series>,
    func: &str,
    xff: Option<f64>,
) -> Result<Vec<Series>, ApiError> {
    if first.len() != second.len() {
        return Err(ApiError::BadRequest(
            "seriesListFirstPos and seriesListSecondPos argument must have equal length".into(),
        ));
    }
    let mut out = Vec::with_capacity(first.len());
    for (a, b) in first.into_iter().zip(second) {
        let name = format!("({},{})", a.name, b.name);
        for mut result in aggregate_lists(ctx, vec![vec![a, b]], func, xff)? {
            let prefix = result.name.find("Series(").unwrap_or(result.name.len());
            result.name = format!("{}Series{name}", &result.name[..prefix]);
            out.push(result);
        }
    }
    Ok(out)
}

fixed_aggregation!(
    SUM_SERIES_LISTS,
    sum_series_lists,
    "sumSeriesLists",
    TWO_LISTS,
    pairwise("sum"),
    Aggregator::Yes,
    "Adds the two lists pairwise by position; the lists must have the same length."
);
fixed_aggregation!(
    DIFF_SERIES_LISTS,
    diff_series_lists,
    "diffSeriesLists",
    TWO_LISTS,
    pairwise("diff"),
    Aggregator::Yes,
    "Subtracts the second list from the first pairwise by position; the lists must have the \
     same length."
);
fixed_aggregation!(
    MULTIPLY_SERIES_LISTS,
    multiply_series_lists,
    "multiplySeriesLists",
    TWO_LISTS,
    pairwise("multiply"),
    Aggregator::Yes,
    "Multiplies the two lists pairwise by position; the lists must have the same length."
);

static AGGREGATE_WITH_WILDCARDS: FunctionDef =
    FunctionDef::new("aggregateWithWildcards", "Combine", aggregate_wildcards_fn)
        .description(
            "Groups the series by their names with the given node positions removed and \
             aggregates each group with the given function; each result is named by its \
             group's remaining nodes.",
        )
        .params(&[
            Param::new("seriesList", ParamType::SeriesList).required(),
            Param::new("func", ParamType::AggFunc).required(),
            Param::new("position", ParamType::Node)
                .multiple()
                .python("*positions"),
        ]);

fn aggregate_wildcards_fn(
    _ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let func = args.string(1)?;
    let positions = positions(&args, args.rest())?;
    aggregate_with_wildcards(ctx, list, &func, &positions).map(Value::SeriesList)
}

/// Node positions given as integers (graphite compares them with `in`, so
/// integral floats and booleans count too).
fn positions(args: &Args, values: &[Value]) -> Result<Vec<i64>, ApiError> {
    values
        .iter()
        .map(|v| match v {
            Value::Int(i) => Ok(*i),
            Value::Bool(b) => Ok(*b as i64),
            Value::Float(x) if x.fract() == 0.0 && x.abs() < 1e15 => Ok(*x as i64),
            Value::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| args.error(format!("position must be an integer, not {s:?}"))),
            other => Err(args.error(format!("position must be an integer, not {}", other.kind()))),
        })
        .collect()
}

fn aggregate_with_wildcards(
    ctx: &Context,
    list: Vec<Series>,
    func: &str,
    positions: &[i64],
) -> Result<Vec<Series>, ApiError> {
    let mut groups = Groups::new();
    for s in list {
        let key = s
            .name
            .split('.')
            .enumerate()
            .filter(|(i, _)| !positions.contains(&(*i as i64)))
            .map(|(_, node)| node)
            .collect::<Vec<_>>()
            .join(".");
        groups.push(key, s);
    }
    let mut out = Vec::new();
    for (key, members) in groups.into_ordered() {
        for mut result in aggregate_lists(ctx, vec![members], func, None)? {
            result.name = key.clone();
            out.push(result);
        }
    }
    Ok(out)
}

fixed_aggregation!(
    SUM_SERIES_WITH_WILDCARDS,
    sum_series_with_wildcards,
    "sumSeriesWithWildcards",
    WILDCARD_PARAMS,
    by_wildcards("sum"),
    Aggregator::Yes,
    "Groups the series by their names with the given node positions removed and adds up each \
     group."
);
fixed_aggregation!(
    AVERAGE_SERIES_WITH_WILDCARDS,
    average_series_with_wildcards,
    "averageSeriesWithWildcards",
    WILDCARD_PARAMS,
    by_wildcards("average"),
    Aggregator::Yes,
    "Groups the series by their names with the given node positions removed and averages each \
     group."
);
fixed_aggregation!(
    MULTIPLY_SERIES_WITH_WILDCARDS,
    multiply_series_with_wildcards,
    "multiplySeriesWithWildcards",
    WILDCARD_PARAMS,
    by_wildcards("multiply"),
    Aggregator::Yes,
    "Groups the series by their names with the given node positions removed and multiplies \
     each group."
);

static MULTIPLY_SERIES: FunctionDef =
    FunctionDef::new("multiplySeries", "Combine", multiply_series)
        .description(
            "Multiplies the series per timestamp; a null in any series makes the product \
             null. A single series is returned unchanged.",
        )
        .params(SERIES_LISTS)
        .aggregator(Aggregator::Yes);

fn multiply_series(
    _ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let mut lists = args.rest_series_lists()?;
    if lists.len() == 1 && lists[0].len() == 1 {
        return Ok(Value::SeriesList(lists.remove(0)));
    }
    aggregate_lists(ctx, lists, "multiply", None).map(Value::SeriesList)
}

static PERCENTILE_OF_SERIES: FunctionDef =
    FunctionDef::new("percentileOfSeries", "Combine", percentile_of_series)
        .description(
            "The n-th percentile of the non-null values across the series at each \
             timestamp: an actual value of one of the series unless interpolate is true.",
        )
        .params(&[
            Param::new("seriesList", ParamType::SeriesList).required(),
            Param::new("n", ParamType::Float).required(),
            Param::new("interpolate", ParamType::Boolean).default(Lit::Bool(false)),
        ]);

fn percentile_of_series(
    _ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let n = args.float(1)?;
    let interpolate = args.bool(2)?;
    if n <= 0.0 {
        return Err(args.error("The requested percent is required to be greater than 0"));
    }
    if list.is_empty() {
        return Ok(Value::SeriesList(list));
    }
    let name = format!(
        "percentileOfSeries({},{})",
        list[0].path_expression,
        format_g(n)
    );
    let Some(normalized) = normalize(vec![list]) else {
        return Ok(Value::SeriesList(Vec::new()));
    };
    row_series(ctx, name, normalized, |row| {
        percentile(&row, n, interpolate).map_err(|e| args.error(e))
    })
}

/// One series named `name` over the window of the normalized series whose
/// values are `fold` of each row (the values of all series at one time).
fn row_series(
    ctx: &Context,
    name: String,
    (list, start, end, step): (Vec<Series>, i64, i64, i64),
    fold: impl FnMut(Vec<Option<f64>>) -> Result<Option<f64>, ApiError>,
) -> Result<Value, ApiError> {
    let columns: Vec<_> = list.iter().map(|s| s.points()).collect();
    let refs: Vec<&[Option<f64>]> = columns.iter().map(|c| c.as_ref()).collect();
    let values = rows(&refs).map(fold).collect::<Result<Vec<_>, _>>()?;
    let xff = ctx.x_files_factor;
    Ok(Value::SeriesList(vec![Series::new(
        name, start, end, step, values, xff,
    )]))
}

static POW_SERIES: FunctionDef = FunctionDef::new("powSeries", "Combine", pow_series)
    .description(
        "Raises the first series to the power of the second, the result to the power \
         of the third, and so on, per timestamp; a null or an impossible power gives \
         null.",
    )
    .params(&[Param::new("seriesList", ParamType::SeriesList)
        .required()
        .multiple()
        .python("*seriesLists")])
    .aggregator(Aggregator::Yes);

fn pow_series(_ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let Some(normalized) = normalize(args.rest_series_lists()?) else {
        return Ok(Value::SeriesList(Vec::new()));
    };
    let names: Vec<&str> = normalized.0.iter().map(|s| s.name.as_str()).collect();
    let name = format!("powSeries({})", names.join(","));
    row_series(ctx, name, normalized, |row| {
        let mut it = row.into_iter();
        let first = it.next().flatten();
        Ok(it.fold(first, safe_pow))
    })
}

static COUNT_SERIES: FunctionDef = FunctionDef::new("countSeries", "Combine", count_series)
    .description(
        "A constant line at the number of series given (nulls do not matter); with no \
         argument at all, a line at 0.",
    )
    .params(OPTIONAL_SERIES_LISTS)
    .aggregator(Aggregator::Yes);

fn count_series(_ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let lists = args.rest_series_lists()?;
    if lists.is_empty() {
        // graphite's constantLine(0): named "0", three points across the window
        let step = (ctx.end - ctx.start) / 2;
        let mut s = Series::new(
            "0",
            ctx.start,
            ctx.end,
            step,
            vec![Some(0.0); 3],
            ctx.x_files_factor,
        );
        s.path_expression = "countSeries()".into();
        return Ok(Value::SeriesList(vec![s]));
    }
    let Some((list, start, end, step)) = normalize(lists) else {
        return Ok(Value::SeriesList(Vec::new()));
    };
    let name = format!("countSeries({})", format_path_expressions(&list));
    let len = list.iter().map(|s| s.points().len()).max().unwrap_or(0);
    let values = vec![Some(list.len() as f64); len];
    Ok(Value::SeriesList(vec![Series::new(
        name,
        start,
        end,
        step,
        values,
        ctx.x_files_factor,
    )]))
}
