//! graphite-web's "Combine" group: functions that merge several series
//! into fewer (sumSeries, averageSeries, aggregate, asPercent, groupBy*,
//! map/reduce, ...).
//!
//! Most of them are `aggregate` with a fixed function: the inputs are
//! normalized to the LCM of their steps (each consolidated lazily with its
//! own consolidation function) and combined row by row, rows padded with
//! nulls to the longest series. graphite mutates its inputs while doing so
//! (`normalize` sets `valuesPerPoint` on them); where that is observable
//! (asPercent's results keep the input's step but hold consolidated values)
//! it is reproduced.

use std::collections::{BTreeSet, HashMap};

use std::collections::BTreeMap;

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::pyfmt::format_g;
use crate::series::{tags_from_name, Series};
use crate::target::parse_target;

use super::aggfunc::{safe_div, safe_mul, safe_pow};
use super::{
    agg_key, format_path_expressions, normalize, normalize_refs, percentile, py_index, registry,
    xff_ok, AggFunc, Args, FunctionDef, Lit, Param, ParamType, Registry,
};

pub(super) fn register(r: &mut Registry) {
    r.add(&AGGREGATE);
    r.add(&AGGREGATE_SERIES_LISTS);
    r.add(&AGGREGATE_WITH_WILDCARDS);
    r.add(&APPLY_BY_NODE);
    r.add(&AS_PERCENT);
    r.alias("pct", &AS_PERCENT);
    r.add(&AVERAGE_SERIES);
    r.alias("avg", &AVERAGE_SERIES);
    r.add(&AVERAGE_SERIES_WITH_WILDCARDS);
    r.add(&COUNT_SERIES);
    r.add(&DIFF_SERIES);
    r.add(&DIFF_SERIES_LISTS);
    r.add(&DIVIDE_SERIES);
    r.add(&DIVIDE_SERIES_LISTS);
    r.add(&GROUP);
    r.add(&GROUP_BY_NODE);
    r.add(&GROUP_BY_NODES);
    r.add(&GROUP_BY_TAGS);
    r.add(&MAP_SERIES);
    r.alias("map", &MAP_SERIES);
    r.add(&MAX_SERIES);
    r.add(&MIN_SERIES);
    r.add(&MULTIPLY_SERIES);
    r.add(&MULTIPLY_SERIES_LISTS);
    r.add(&MULTIPLY_SERIES_WITH_WILDCARDS);
    r.add(&PERCENTILE_OF_SERIES);
    r.add(&POW_SERIES);
    r.add(&RANGE_OF_SERIES);
    r.add(&REDUCE_SERIES);
    r.alias("reduce", &REDUCE_SERIES);
    r.add(&STDDEV_SERIES);
    r.add(&SUM_SERIES);
    r.alias("sum", &SUM_SERIES);
    r.add(&SUM_SERIES_LISTS);
    r.add(&SUM_SERIES_WITH_WILDCARDS);
    r.add(&WEIGHTED_AVERAGE);
}

const SERIES_LISTS: &[Param] = &[Param::new("seriesLists", ParamType::SeriesList)
    .required()
    .multiple()];

const OPTIONAL_SERIES_LISTS: &[Param] =
    &[Param::new("seriesLists", ParamType::SeriesList).multiple()];

const TWO_LISTS: &[Param] = &[
    Param::new("seriesListFirstPos", ParamType::SeriesList).required(),
    Param::new("seriesListSecondPos", ParamType::SeriesList).required(),
];

const WILDCARD_PARAMS: &[Param] = &[
    Param::new("seriesList", ParamType::SeriesList).required(),
    Param::new("position", ParamType::Node).multiple(),
];

/// A function that is `aggregate(seriesLists, FUNC)`.
macro_rules! aggregate_alias {
    ($static:ident, $fn:ident, $name:literal, $func:literal, $description:literal) => {
        static $static: FunctionDef = FunctionDef {
            name: $name,
            group: "Combine",
            description: $description,
            params: SERIES_LISTS,
            aggregator: true,
            implementation: $fn,
        };

        fn $fn(_ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
            aggregate_lists(ctx, args.rest_series_lists()?, $func, None).map(Value::SeriesList)
        }
    };
}

aggregate_alias!(
    SUM_SERIES,
    sum_series,
    "sumSeries",
    "sum",
    "Adds the series together per timestamp (nulls are skipped; a timestamp where every series \
     is null stays null). Series with different steps are first consolidated to the least \
     common multiple of their steps."
);
aggregate_alias!(
    AVERAGE_SERIES,
    average_series,
    "averageSeries",
    "average",
    "Averages the series per timestamp, over the non-null values only."
);
aggregate_alias!(
    DIFF_SERIES,
    diff_series,
    "diffSeries",
    "diff",
    "Subtracts the other series from the first one per timestamp; nulls are skipped, so where \
     the first series is null the first non-null value takes its place."
);
aggregate_alias!(
    STDDEV_SERIES,
    stddev_series,
    "stddevSeries",
    "stddev",
    "The population standard deviation of the non-null values per timestamp."
);
aggregate_alias!(
    MIN_SERIES,
    min_series,
    "minSeries",
    "min",
    "The smallest non-null value per timestamp."
);
aggregate_alias!(
    MAX_SERIES,
    max_series,
    "maxSeries",
    "max",
    "The largest non-null value per timestamp."
);
aggregate_alias!(
    RANGE_OF_SERIES,
    range_of_series,
    "rangeOfSeries",
    "rangeOf",
    "The largest minus the smallest non-null value per timestamp."
);

static AGGREGATE: FunctionDef = FunctionDef {
    name: "aggregate",
    group: "Combine",
    description: "Aggregates all series into one with the given function (average, avg_zero, \
                  median, sum, min, max, diff, stddev, count, range, multiply, last or their \
                  aliases), per timestamp after aligning steps to their least common multiple.",
    params: &[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("func", ParamType::AggFunc).required(),
        Param::new("xFilesFactor", ParamType::Float),
    ],
    aggregator: false,
    implementation: aggregate,
};

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
pub(crate) struct ColumnFold {
    agg: AggFunc,
    acc: Vec<f64>,
    count: Vec<u32>,
    series: usize,
}

impl ColumnFold {
    /// A fold for `sum`, `average`, `min`, `max` or `count`; `None` for the
    /// other functions, which need whole rows.
    pub(crate) fn new(agg: AggFunc) -> Option<ColumnFold> {
        matches!(
            agg,
            AggFunc::Sum | AggFunc::Average | AggFunc::Min | AggFunc::Max | AggFunc::Count
        )
        .then(|| ColumnFold {
            agg,
            acc: Vec::new(),
            count: Vec::new(),
            series: 0,
        })
    }

    /// Adds the next series' (consolidated) values.
    pub(crate) fn add(&mut self, values: &[Option<f64>]) {
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
    pub(crate) fn finish(self, xff: f64) -> Vec<Option<f64>> {
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

/// The aggregation of the functions whose plain-path arguments the
/// evaluator may stream from storage instead of loading them all
/// (`sumSeries(a.*)` over thousands of series in bounded memory), with the
/// name graphite puts before `Series(`.
pub(crate) fn streamable(function: &str) -> Option<(AggFunc, &'static str)> {
    match function {
        "sumSeries" | "sum" => Some((AggFunc::Sum, "sum")),
        "averageSeries" | "avg" => Some((AggFunc::Average, "average")),
        _ => None,
    }
}

/// The aggregate series graphite's `aggregate()` builds from folded values.
pub(crate) fn aggregate_series(
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

/// graphite's `[safeSum(row) for row in izip_longest(*columns)]`, added up
/// column by column: each row still sums left to right from 0, so the
/// results are bit-identical, without building rows.
fn row_sums(columns: &[&[Option<f64>]]) -> Vec<Option<f64>> {
    let len = columns.iter().map(|c| c.len()).max().unwrap_or(0);
    let mut sums: Vec<Option<f64>> = vec![None; len];
    for column in columns {
        for (sum, v) in sums.iter_mut().zip(column.iter()) {
            if let Some(x) = v {
                *sum = Some(sum.unwrap_or(0.0) + x);
            }
        }
    }
    sums
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

/// Pairs of two value columns, padded with nulls to the longer one.
fn pairs<'a>(
    a: &'a [Option<f64>],
    b: &'a [Option<f64>],
) -> impl Iterator<Item = (Option<f64>, Option<f64>)> + 'a {
    (0..a.len().max(b.len()))
        .map(move |i| (a.get(i).copied().flatten(), b.get(i).copied().flatten()))
}

/// graphite's `safeMul(safeDiv(a, b), 100.0)`.
fn percent(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    safe_mul(safe_div(a, b), Some(100.0))
}

static AGGREGATE_SERIES_LISTS: FunctionDef = FunctionDef {
    name: "aggregateSeriesLists",
    group: "Combine",
    description: "Aggregates the two lists pairwise by position (first with first, second with \
                  second, ...) with the given aggregation function; the lists must have the \
                  same length.",
    params: &[
        Param::new("seriesListFirstPos", ParamType::SeriesList).required(),
        Param::new("seriesListSecondPos", ParamType::SeriesList).required(),
        Param::new("func", ParamType::AggFunc).required(),
        Param::new("xFilesFactor", ParamType::Float),
    ],
    aggregator: false,
    implementation: aggregate_series_lists_fn,
};

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

macro_rules! series_lists_alias {
    ($static:ident, $fn:ident, $name:literal, $func:literal, $description:literal) => {
        static $static: FunctionDef = FunctionDef {
            name: $name,
            group: "Combine",
            description: $description,
            params: TWO_LISTS,
            aggregator: true,
            implementation: $fn,
        };

        fn $fn(_ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
            let first = args.series_list(0)?;
            let second = args.series_list(1)?;
            aggregate_series_lists(ctx, first, second, $func, None).map(Value::SeriesList)
        }
    };
}

series_lists_alias!(
    SUM_SERIES_LISTS,
    sum_series_lists,
    "sumSeriesLists",
    "sum",
    "Adds the two lists pairwise by position; the lists must have the same length."
);
series_lists_alias!(
    DIFF_SERIES_LISTS,
    diff_series_lists,
    "diffSeriesLists",
    "diff",
    "Subtracts the second list from the first pairwise by position; the lists must have the \
     same length."
);
series_lists_alias!(
    MULTIPLY_SERIES_LISTS,
    multiply_series_lists,
    "multiplySeriesLists",
    "multiply",
    "Multiplies the two lists pairwise by position; the lists must have the same length."
);

static AGGREGATE_WITH_WILDCARDS: FunctionDef = FunctionDef {
    name: "aggregateWithWildcards",
    group: "Combine",
    description: "Groups the series by their names with the given node positions removed and \
                  aggregates each group with the given function; each result is named by its \
                  group's remaining nodes.",
    params: &[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("func", ParamType::AggFunc).required(),
        Param::new("position", ParamType::Node)
            .multiple()
            .python("*positions"),
    ],
    aggregator: false,
    implementation: aggregate_with_wildcards_fn,
};

fn aggregate_with_wildcards_fn(
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

/// Groups in first-seen order of their keys.
struct Groups {
    keys: Vec<String>,
    members: HashMap<String, Vec<Series>>,
}

impl Groups {
    fn new() -> Groups {
        Groups {
            keys: Vec::new(),
            members: HashMap::new(),
        }
    }

    fn push(&mut self, key: String, series: Series) {
        match self.members.get_mut(&key) {
            Some(list) => list.push(series),
            None => {
                self.keys.push(key.clone());
                self.members.insert(key, vec![series]);
            }
        }
    }

    /// `(key, members)` in first-seen order.
    fn into_ordered(mut self) -> Vec<(String, Vec<Series>)> {
        self.keys
            .into_iter()
            .map(|k| {
                let members = self.members.remove(&k).unwrap_or_default();
                (k, members)
            })
            .collect()
    }
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

macro_rules! wildcards_alias {
    ($static:ident, $fn:ident, $name:literal, $func:literal, $description:literal) => {
        static $static: FunctionDef = FunctionDef {
            name: $name,
            group: "Combine",
            description: $description,
            params: WILDCARD_PARAMS,
            aggregator: true,
            implementation: $fn,
        };

        fn $fn(_ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
            let list = args.series_list(0)?;
            let positions = positions(&args, args.rest())?;
            aggregate_with_wildcards(ctx, list, $func, &positions).map(Value::SeriesList)
        }
    };
}

wildcards_alias!(
    SUM_SERIES_WITH_WILDCARDS,
    sum_series_with_wildcards,
    "sumSeriesWithWildcards",
    "sum",
    "Groups the series by their names with the given node positions removed and adds up each \
     group."
);
wildcards_alias!(
    AVERAGE_SERIES_WITH_WILDCARDS,
    average_series_with_wildcards,
    "averageSeriesWithWildcards",
    "average",
    "Groups the series by their names with the given node positions removed and averages each \
     group."
);
wildcards_alias!(
    MULTIPLY_SERIES_WITH_WILDCARDS,
    multiply_series_with_wildcards,
    "multiplySeriesWithWildcards",
    "multiply",
    "Groups the series by their names with the given node positions removed and multiplies \
     each group."
);

static MULTIPLY_SERIES: FunctionDef = FunctionDef {
    name: "multiplySeries",
    group: "Combine",
    description: "Multiplies the series per timestamp; a null in any series makes the product \
                  null. A single series is returned unchanged.",
    params: SERIES_LISTS,
    aggregator: true,
    implementation: multiply_series,
};

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

static PERCENTILE_OF_SERIES: FunctionDef = FunctionDef {
    name: "percentileOfSeries",
    group: "Combine",
    description: "The n-th percentile of the non-null values across the series at each \
                  timestamp: an actual value of one of the series unless interpolate is true.",
    params: &[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("n", ParamType::Float).required(),
        Param::new("interpolate", ParamType::Boolean).default(Lit::Bool(false)),
    ],
    aggregator: false,
    implementation: percentile_of_series,
};

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
    let Some((list, start, end, step)) = normalize(vec![list]) else {
        return Ok(Value::SeriesList(Vec::new()));
    };
    let columns: Vec<_> = list.iter().map(|s| s.points()).collect();
    let refs: Vec<&[Option<f64>]> = columns.iter().map(|c| c.as_ref()).collect();
    let values = rows(&refs)
        .map(|row| percentile(&row, n, interpolate).map_err(|e| args.error(e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::SeriesList(vec![Series::new(
        name,
        start,
        end,
        step,
        values,
        ctx.x_files_factor,
    )]))
}

static POW_SERIES: FunctionDef = FunctionDef {
    name: "powSeries",
    group: "Combine",
    description: "Raises the first series to the power of the second, the result to the power \
                  of the third, and so on, per timestamp; a null or an impossible power gives \
                  null.",
    params: &[Param::new("seriesList", ParamType::SeriesList)
        .required()
        .multiple()
        .python("*seriesLists")],
    aggregator: true,
    implementation: pow_series,
};

fn pow_series(_ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let Some((list, start, end, step)) = normalize(args.rest_series_lists()?) else {
        return Ok(Value::SeriesList(Vec::new()));
    };
    let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
    let name = format!("powSeries({})", names.join(","));
    let columns: Vec<_> = list.iter().map(|s| s.points()).collect();
    let refs: Vec<&[Option<f64>]> = columns.iter().map(|c| c.as_ref()).collect();
    let values = rows(&refs)
        .map(|row| {
            let mut it = row.into_iter();
            let first = it.next().flatten();
            it.fold(first, safe_pow)
        })
        .collect();
    Ok(Value::SeriesList(vec![Series::new(
        name,
        start,
        end,
        step,
        values,
        ctx.x_files_factor,
    )]))
}

static COUNT_SERIES: FunctionDef = FunctionDef {
    name: "countSeries",
    group: "Combine",
    description: "A constant line at the number of series given (nulls do not matter); with no \
                  argument at all, a line at 0.",
    params: OPTIONAL_SERIES_LISTS,
    aggregator: true,
    implementation: count_series,
};

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

static GROUP: FunctionDef = FunctionDef {
    name: "group",
    group: "Combine",
    description: "Concatenates the series lists into one list, to pass several lists where \
                  one is expected.",
    params: OPTIONAL_SERIES_LISTS,
    aggregator: false,
    implementation: group,
};

fn group(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    Ok(Value::SeriesList(
        args.rest_series_lists()?.into_iter().flatten().collect(),
    ))
}

static AS_PERCENT: FunctionDef = FunctionDef {
    name: "asPercent",
    group: "Combine",
    description: "Each series as a percentage of a total: by default the sum of all the series; \
                  or a number; or one total series; or a list of as many totals, matched by \
                  sorted name. With nodes, series and totals are matched by those nodes or tags \
                  (groups without a match give all-null series named with MISSING).",
    params: &[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("total", ParamType::Any),
        Param::new("nodes", ParamType::NodeOrTag).multiple(),
    ],
    aggregator: true,
    implementation: as_percent,
};

fn as_percent(_ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let total = match args.value(1) {
        Value::SeriesList(_) => Value::SeriesList(args.series_list(1)?),
        other => other,
    };
    let nodes = args.rest().to_vec();
    // normalize([seriesList]): an empty list ends the function with no result
    {
        let mut refs: Vec<&mut Series> = list.iter_mut().collect();
        if normalize_refs(&mut refs).is_none() {
            return Ok(Value::SeriesList(Vec::new()));
        }
    }
    let xff = ctx.x_files_factor;
    if !nodes.is_empty() {
        return as_percent_by_nodes(&args, list, total, &nodes, xff).map(Value::SeriesList);
    }
    let (totals, total_text): (Vec<Option<f64>>, String) = match total {
        Value::None => {
            let columns: Vec<_> = list.iter().map(|s| s.points().into_owned()).collect();
            let refs: Vec<&[Option<f64>]> = columns.iter().map(Vec::as_slice).collect();
            (
                row_sums(&refs),
                format!("sumSeries({})", format_path_expressions(&list)),
            )
        }
        Value::SeriesList(mut totals) => {
            if totals.len() != 1 && totals.len() != list.len() {
                return Err(args.error(
                    "asPercent second argument must be missing, a single digit, reference \
                     exactly 1 series or reference the same number of series as the first \
                     argument",
                ));
            }
            if totals.len() == list.len() {
                return Ok(Value::SeriesList(as_percent_matched(list, totals, xff)));
            }
            {
                let mut refs: Vec<&mut Series> = list.iter_mut().chain(totals.iter_mut()).collect();
                normalize_refs(&mut refs);
            }
            (totals[0].points().into_owned(), totals[0].name.clone())
        }
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
            let x = args.float(1)?;
            (vec![Some(x); list[0].values.len()], total.py_str())
        }
        other => {
            return Err(args.error(format!(
                "total must be a number or a series list, not {}",
                other.kind()
            )))
        }
    };
    let mut out = Vec::with_capacity(list.len());
    for s in &list {
        let values = pairs(&s.points(), &totals)
            .map(|(v, t)| percent(v, t))
            .collect();
        let text = if total_text.is_empty() {
            s.path_expression.as_str()
        } else {
            total_text.as_str()
        };
        let name = format!("asPercent({},{text})", s.name);
        // graphite keeps the series' own step even though the values were
        // consolidated by the normalization above
        out.push(Series::new(name, s.start, s.end, s.step, values, xff));
    }
    Ok(Value::SeriesList(out))
}

/// One percent series of `part` over `total`, both normalized together.
fn percent_pair(part: &mut Series, total: &mut Series, xff: f64) -> (Series, (i64, i64, i64)) {
    let name = format!("asPercent({},{})", part.name, total.name);
    let window = normalize_refs(&mut [&mut *part, &mut *total]).unwrap_or((0, 0, 0));
    let values = pairs(&part.points(), &total.points())
        .map(|(v, t)| percent(v, t))
        .collect();
    let (start, end, step) = window;
    (Series::new(name, start, end, step, values, xff), window)
}

/// asPercent with as many totals as series: pairs matched by sorted name.
fn as_percent_matched(mut list: Vec<Series>, mut totals: Vec<Series>, xff: f64) -> Vec<Series> {
    list.sort_by(|a, b| a.name.cmp(&b.name));
    totals.sort_by(|a, b| a.name.cmp(&b.name));
    list.iter_mut()
        .zip(totals.iter_mut())
        .map(|(part, total)| percent_pair(part, total, xff).0)
        .collect()
}

/// A sum of a group as asPercent builds it (safeSum per row, no xff).
fn sum_group(group: &mut [Series], xff: f64) -> (Series, (i64, i64, i64)) {
    let name = format!("sumSeries({})", format_path_expressions(group));
    let mut refs: Vec<&mut Series> = group.iter_mut().collect();
    let window = normalize_refs(&mut refs).unwrap_or((0, 0, 0));
    let columns: Vec<_> = group.iter().map(|s| s.points().into_owned()).collect();
    let refs: Vec<&[Option<f64>]> = columns.iter().map(Vec::as_slice).collect();
    let values = row_sums(&refs);
    let (start, end, step) = window;
    (Series::new(name, start, end, step, values, xff), window)
}

/// asPercent with nodes: series and totals grouped by `agg_key`. graphite
/// gives unmatched series the window of the last normalization it did
/// (its `start, end, step` variables), reproduced with `last`.
fn as_percent_by_nodes(
    args: &Args,
    list: Vec<Series>,
    total: Value,
    nodes: &[Value],
    xff: f64,
) -> Result<Vec<Series>, ApiError> {
    let mut last: Option<(i64, i64, i64)> = None;
    let mut groups = Groups::new();
    for s in list {
        let key = agg_key(&s, nodes)?;
        groups.push(key, s);
    }
    let mut keys = groups.keys.clone();
    let mut groups = groups.members;
    let mut totals: HashMap<String, Series> = HashMap::new();
    match total {
        Value::None => {
            for key in &keys {
                let Some(group) = groups.get_mut(key) else {
                    continue;
                };
                if group.len() == 1 {
                    totals.insert(key.clone(), group[0].clone());
                } else {
                    let (sum, window) = sum_group(group, xff);
                    last = Some(window);
                    totals.insert(key.clone(), sum);
                }
            }
        }
        Value::SeriesList(list) => {
            let mut total_groups = Groups::new();
            for s in list {
                let key = agg_key(&s, nodes)?;
                if !keys.contains(&key) {
                    keys.push(key.clone());
                }
                total_groups.push(key, s);
            }
            for (key, mut group) in total_groups.into_ordered() {
                if group.len() == 1 {
                    totals.insert(key, group.remove(0));
                } else {
                    let (sum, window) = sum_group(&mut group, xff);
                    last = Some(window);
                    totals.insert(key, sum);
                }
            }
        }
        _ => return Err(args.error("total must be None or a seriesList")),
    }
    let missing_window = |last: Option<(i64, i64, i64)>| {
        last.ok_or_else(|| {
            args.error("cannot place a series without a match (graphite fails here)")
        })
    };
    let mut out = Vec::new();
    for key in keys {
        let Some(group) = groups.get_mut(&key) else {
            if let Some(total) = totals.get(&key) {
                let (start, end, step) = missing_window(last)?;
                let values = vec![None; total.points().len()];
                let name = format!("asPercent(MISSING,{})", total.name);
                out.push(Series::new(name, start, end, step, values, xff));
            }
            continue;
        };
        for part in group.iter_mut() {
            match totals.get_mut(&key) {
                None => {
                    let (start, end, step) = missing_window(last)?;
                    let values = vec![None; part.points().len()];
                    let name = format!("asPercent({},MISSING)", part.name);
                    out.push(Series::new(name, start, end, step, values, xff));
                }
                Some(total) => {
                    let (series, window) = percent_pair(part, total, xff);
                    last = Some(window);
                    out.push(series);
                }
            }
        }
    }
    Ok(out)
}

static DIVIDE_SERIES: FunctionDef = FunctionDef {
    name: "divideSeries",
    group: "Combine",
    description: "Divides each series of the first list by the single series of the second \
                  (null where either is null or the divisor is 0). Without a divisor every \
                  dividend becomes all-null, named with MISSING.",
    params: &[
        Param::new("dividendSeriesList", ParamType::SeriesList).required(),
        Param::new("divisorSeries", ParamType::SeriesList).required(),
    ],
    aggregator: false,
    implementation: divide_series,
};

fn divide_series(
    _ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let mut dividends = args.series_list(0)?;
    let mut divisors = args.series_list(1)?;
    if divisors.is_empty() {
        for s in &mut dividends {
            s.name = format!("divideSeries({},MISSING)", s.name);
            s.path_expression = s.name.clone();
            s.values.iter_mut().for_each(|v| *v = None);
        }
        return Ok(Value::SeriesList(dividends));
    }
    if divisors.len() > 1 {
        return Err(args.error(format!(
            "divideSeries second argument must reference exactly 1 series (got {})",
            divisors.len()
        )));
    }
    let mut divisor = divisors.remove(0);
    let out = dividends
        .iter_mut()
        .map(|d| quotient(d, &mut divisor, ctx.x_files_factor))
        .collect();
    Ok(Value::SeriesList(out))
}

/// `divideSeries(a,b)` of one pair, normalized together.
fn quotient(dividend: &mut Series, divisor: &mut Series, xff: f64) -> Series {
    let name = format!("divideSeries({},{})", dividend.name, divisor.name);
    let (start, end, step) =
        normalize_refs(&mut [&mut *dividend, &mut *divisor]).unwrap_or((0, 0, 0));
    let values = pairs(&dividend.points(), &divisor.points())
        .map(|(a, b)| safe_div(a, b))
        .collect();
    Series::new(name, start, end, step, values, xff)
}

static DIVIDE_SERIES_LISTS: FunctionDef = FunctionDef {
    name: "divideSeriesLists",
    group: "Combine",
    description: "Divides the first list by the second pairwise by position; the lists must \
                  have the same length.",
    params: &[
        Param::new("dividendSeriesList", ParamType::SeriesList).required(),
        Param::new("divisorSeriesList", ParamType::SeriesList).required(),
    ],
    aggregator: false,
    implementation: divide_series_lists,
};

fn divide_series_lists(
    _ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let mut dividends = args.series_list(0)?;
    let mut divisors = args.series_list(1)?;
    if dividends.len() != divisors.len() {
        return Err(
            args.error("dividendSeriesList and divisorSeriesList argument must have equal length")
        );
    }
    let out = dividends
        .iter_mut()
        .zip(divisors.iter_mut())
        .map(|(a, b)| quotient(a, b, ctx.x_files_factor))
        .collect();
    Ok(Value::SeriesList(out))
}

static WEIGHTED_AVERAGE: FunctionDef = FunctionDef {
    name: "weightedAverage",
    group: "Combine",
    description: "The average of the first list weighted by the second: series are matched by \
                  the given nodes or tags, and each timestamp gives sum(value × weight) / \
                  sum(weight). Both lists must have the same length.",
    params: &[
        Param::new("seriesListAvg", ParamType::SeriesList).required(),
        Param::new("seriesListWeight", ParamType::SeriesList).required(),
        Param::new("nodes", ParamType::NodeOrTag).multiple(),
    ],
    aggregator: false,
    implementation: weighted_average,
};

fn weighted_average(
    _ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let averages = args.series_list(0)?;
    let weights = args.series_list(1)?;
    let nodes = args.rest().to_vec();
    if averages.len() != weights.len() {
        return Err(args.error(format!(
            "weightedAverage must receive the same number of series for seriesListAvg and \
             seriesListWeight but received respectively {} and {}",
            averages.len(),
            weights.len()
        )));
    }
    let xff = ctx.x_files_factor;
    // key -> (average index, weight index), in first-seen order
    let mut order: Vec<String> = Vec::new();
    let mut matched: HashMap<String, (Option<usize>, Option<usize>)> = HashMap::new();
    for (i, (a, w)) in averages.iter().zip(&weights).enumerate() {
        for (key, is_weight) in [(agg_key(a, &nodes)?, false), (agg_key(w, &nodes)?, true)] {
            if !matched.contains_key(&key) {
                order.push(key.clone());
            }
            let entry = matched.entry(key).or_default();
            if is_weight {
                entry.1 = Some(i);
            } else {
                entry.0 = Some(i);
            }
        }
    }
    let mut products = Vec::new();
    for key in &order {
        let Some((Some(ai), Some(wi))) = matched.get(key).copied() else {
            continue;
        };
        let (a, w) = (&averages[ai], &weights[wi]);
        let values = pairs(&a.points(), &w.points())
            .map(|(x, y)| safe_mul(x, y))
            .collect();
        let name = format!("product({},{})", w.name, a.name);
        products.push(Series::new(name, a.start, a.end, a.step, values, xff));
    }
    if products.is_empty() {
        return Ok(Value::SeriesList(Vec::new()));
    }
    let path_list = |list: &[Series]| {
        let set: BTreeSet<&str> = list.iter().map(|s| s.path_expression.as_str()).collect();
        set.into_iter().collect::<Vec<_>>().join(",")
    };
    let name = format!(
        "weightedAverage({}, {}, {})",
        path_list(&averages),
        path_list(&weights),
        nodes
            .iter()
            .map(Value::py_str)
            .collect::<Vec<_>>()
            .join(",")
    );
    let sum_products = aggregate_lists(ctx, vec![products], "sum", None)?;
    let sum_weights = aggregate_lists(ctx, vec![weights], "sum", None)?;
    let (Some(p), Some(w)) = (sum_products.first(), sum_weights.first()) else {
        return Ok(Value::SeriesList(Vec::new()));
    };
    let values = pairs(&p.points(), &w.points())
        .map(|(x, y)| safe_div(x, y))
        .collect();
    Ok(Value::SeriesList(vec![Series::new(
        name, p.start, p.end, p.step, values, xff,
    )]))
}

static MAP_SERIES: FunctionDef = FunctionDef {
    name: "mapSeries",
    group: "Combine",
    description: "Groups the series by the given nodes or tags, for reduceSeries. (graphite \
                  returns a list of lists; here the groups come back one after another, which \
                  is all reduceSeries reads.)",
    params: &[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("mapNodes", ParamType::NodeOrTag)
            .required()
            .multiple(),
    ],
    aggregator: false,
    implementation: map_series,
};

fn map_series(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let nodes = args.rest().to_vec();
    let mut groups = Groups::new();
    for s in list {
        let key = agg_key(&s, &nodes)?;
        groups.push(key, s);
    }
    Ok(Value::SeriesList(
        groups
            .into_ordered()
            .into_iter()
            .flat_map(|(_, members)| members)
            .collect(),
    ))
}

static REDUCE_SERIES: FunctionDef = FunctionDef {
    name: "reduceSeries",
    group: "Combine",
    description: "For the output of mapSeries: the series whose node reduceNode equals one of \
                  the matchers are passed, in matcher order, to reduceFunction (one call per \
                  distinct name prefix), and each result is named \
                  <prefix>.reduce.<reduceFunction>.",
    params: &[
        Param::new("seriesLists", ParamType::SeriesLists).required(),
        Param::new("reduceFunction", ParamType::String).required(),
        Param::new("reduceNode", ParamType::Node).required(),
        Param::new("reduceMatchers", ParamType::String)
            .required()
            .multiple(),
    ],
    aggregator: false,
    implementation: reduce_series,
};

fn reduce_series(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let function = args.string(1)?;
    let node = args.int(2)?;
    let matchers: Vec<Option<String>> = args
        .rest()
        .iter()
        .map(|v| match v {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let mut keys: Vec<String> = Vec::new();
    let mut slots: HashMap<String, Vec<Option<Series>>> = HashMap::new();
    for s in list {
        let nodes: Vec<&str> = s.name.split('.').collect();
        let value = py_index(&nodes, node)
            .ok_or_else(|| args.error(format!("{} has no node {node}", s.name)))?;
        let Some(i) = matchers.iter().position(|m| m.as_deref() == Some(*value)) else {
            continue;
        };
        let key = format!("{}.reduce.{function}", py_slice_to(&nodes, node).join("."));
        let entry = slots.entry(key.clone()).or_insert_with(|| {
            keys.push(key);
            vec![None; matchers.len()]
        });
        entry[i] = Some(s);
    }
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        ev.check_deadline()?;
        let members = slots.remove(&key).unwrap_or_default();
        let mut call_args = Vec::with_capacity(members.len());
        for (m, matcher) in members.into_iter().zip(&matchers) {
            let s = m.ok_or_else(|| {
                args.error(format!(
                    "no series matches {} for {key}",
                    matcher.as_deref().unwrap_or("?")
                ))
            })?;
            call_args.push(Value::SeriesList(vec![s]));
        }
        let mut result = call_series_function(ev, ctx, &function, call_args)?
            .ok_or_else(|| ApiError::UnknownFunction(function.clone()))?;
        if result.is_empty() {
            return Err(args.error(format!("{function} returned no series for {key}")));
        }
        let mut first = result.swap_remove(0);
        first.name = key;
        out.push(first);
    }
    Ok(Value::SeriesList(out))
}

/// `items[:stop]` with Python's slice rules (negative counts from the end).
fn py_slice_to<T: Clone>(items: &[T], stop: i64) -> Vec<T> {
    let len = items.len() as i64;
    let stop = if stop < 0 {
        (stop + len).max(0)
    } else {
        stop.min(len)
    };
    items[..stop as usize].to_vec()
}

/// Calls the registry function `name` with positional `args`; `None` when
/// there is no such function.
fn call_series_function(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    name: &str,
    args: Vec<Value>,
) -> Result<Option<Vec<Series>>, ApiError> {
    let Some(def) = registry().get(name) else {
        return Ok(None);
    };
    let bound = Args::bind(def, name, args, Vec::new(), None, None)?;
    match (def.implementation)(ev, ctx, bound)? {
        Value::SeriesList(list) => Ok(Some(list)),
        other => Err(ApiError::bad_argument(
            name,
            format!("returned {}, not series", other.kind()),
        )),
    }
}

/// graphite's group callback: a series function by name (its first
/// result), else an aggregation function.
fn apply_callback(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    callback: &str,
    members: Vec<Series>,
) -> Result<Series, ApiError> {
    let result = if registry().get(callback).is_some() {
        call_series_function(ev, ctx, callback, vec![Value::SeriesList(members)])?
            .unwrap_or_default()
    } else {
        aggregate_lists(ctx, vec![members], callback, None)?
    };
    result
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::bad_argument(callback, "returned no series for a group"))
}

static APPLY_BY_NODE: FunctionDef = FunctionDef {
    name: "applyByNode",
    group: "Combine",
    description: "For each distinct name prefix up to node nodeNum, evaluates templateFunction \
                  with every % replaced by the prefix (a new target, fetched anew); results are \
                  renamed by newName with % replaced, when given.",
    params: &[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("nodeNum", ParamType::Node).required(),
        Param::new("templateFunction", ParamType::String).required(),
        Param::new("newName", ParamType::String),
    ],
    aggregator: false,
    implementation: apply_by_node,
};

fn apply_by_node(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let node = args.int(1)?;
    let template = args.string(2)?;
    let new_name = args.opt_string(3)?.filter(|n| !n.is_empty());
    let prefixes: BTreeSet<String> = list
        .iter()
        .map(|s| {
            let nodes: Vec<&str> = s.name.split('.').collect();
            py_slice_to(&nodes, node.saturating_add(1)).join(".")
        })
        .collect();
    // graphite takes the window of the last input series (a leaked loop variable)
    let window = list.last().map(|s| (s.start, s.end));
    let mut out = Vec::new();
    for prefix in prefixes {
        let target = template.replace('%', &prefix);
        let expr = parse_target(&target)?;
        for mut s in ev.evaluate_with(ctx, &expr, None)? {
            if let Some(n) = &new_name {
                s.name = n.replace('%', &prefix);
            }
            s.path_expression.clone_from(&prefix);
            if let Some((start, end)) = window {
                s.start = start;
                s.end = end;
            }
            out.push(s);
        }
    }
    Ok(Value::SeriesList(out))
}

static GROUP_BY_NODE: FunctionDef = FunctionDef {
    name: "groupByNode",
    group: "Combine",
    description: "Groups the series by one node (or tag) and combines each group with the \
                  callback (an aggregation name such as sum, or a series function such as \
                  sumSeries); each result is named by its node value.",
    params: &[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("nodeNum", ParamType::NodeOrTag).required(),
        Param::new("callback", ParamType::AggOrSeriesFunc).default(Lit::Str("average")),
    ],
    aggregator: false,
    implementation: group_by_node,
};

fn group_by_node(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let node = args.value(1);
    let callback = args.string(2)?;
    group_by_nodes_impl(ev, ctx, list, &callback, &[node]).map(Value::SeriesList)
}

static GROUP_BY_NODES: FunctionDef = FunctionDef {
    name: "groupByNodes",
    group: "Combine",
    description: "Groups the series by several nodes (or tags) and combines each group with \
                  the callback; each result is named by its nodes joined with dots.",
    params: &[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("callback", ParamType::AggOrSeriesFunc).required(),
        Param::new("nodes", ParamType::NodeOrTag).multiple(),
    ],
    aggregator: false,
    implementation: group_by_nodes,
};

fn group_by_nodes(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let callback = args.string(1)?;
    let nodes = args.rest().to_vec();
    group_by_nodes_impl(ev, ctx, list, &callback, &nodes).map(Value::SeriesList)
}

fn group_by_nodes_impl(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    list: Vec<Series>,
    callback: &str,
    nodes: &[Value],
) -> Result<Vec<Series>, ApiError> {
    let mut groups = Groups::new();
    for s in list {
        let key = agg_key(&s, nodes)?;
        groups.push(key, s);
    }
    let mut out = Vec::new();
    for (key, members) in groups.into_ordered() {
        ev.check_deadline()?;
        let mut result = apply_callback(ev, ctx, callback, members)?;
        result.name = key;
        out.push(result);
    }
    Ok(out)
}

static GROUP_BY_TAGS: FunctionDef = FunctionDef {
    name: "groupByTags",
    group: "Combine",
    description: "Groups the series by the values of the given tags and combines each group \
                  with the callback; each result is named and tagged \
                  <name>;tag1=value1;... (name is the common name tag, else the callback).",
    params: &[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("callback", ParamType::AggOrSeriesFunc).required(),
        Param::new("tags", ParamType::Tag).required().multiple(),
    ],
    aggregator: false,
    implementation: group_by_tags,
};

fn group_by_tags(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let callback = args.string(1)?;
    let tags: Vec<String> = args
        .rest()
        .iter()
        .map(|v| match v {
            Value::Str(s) => Ok(s.clone()),
            other => Err(args.error(format!("tags must be strings, not {}", other.kind()))),
        })
        .collect::<Result<_, _>>()?;
    if tags.is_empty() {
        return Err(args.error("groupByTags(): no tags specified"));
    }
    let by_name = tags.iter().any(|t| t == "name");
    let common_name = {
        let names: BTreeSet<&str> = list
            .iter()
            .map(|s| s.tags.get("name").map_or("", String::as_str))
            .collect();
        if names.len() == 1 {
            names.into_iter().next().unwrap_or_default().to_string()
        } else {
            callback.clone()
        }
    };
    let mut groups = Groups::new();
    for s in list {
        let mut parts: Vec<String> = tags
            .iter()
            .filter(|t| !by_name || t.as_str() != "name")
            .map(|t| format!("{t}={}", s.tags.get(t).map_or("", String::as_str)))
            .collect();
        parts.sort();
        let head = if by_name {
            s.tags.get("name").cloned().unwrap_or_default()
        } else {
            common_name.clone()
        };
        parts.insert(0, head);
        groups.push(parts.join(";"), s);
    }
    let mut out = Vec::new();
    for (key, members) in groups.into_ordered() {
        ev.check_deadline()?;
        let mut result = apply_callback(ev, ctx, &callback, members)?;
        let tags = tags_from_name(&key);
        if key.contains(';') && tags.get("name") == Some(&key) {
            return Err(args.error(format!("cannot parse {key:?} as a tagged series name")));
        }
        result.name.clone_from(&key);
        result.path_expression = key;
        result.tags = tags;
        out.push(result);
    }
    Ok(Value::SeriesList(out))
}

#[cfg(test)]
mod tests {
    use crate::testing::{eval_one, MemoryRead};

    fn hosts() -> MemoryRead {
        MemoryRead::new()
            .with("h.web1.cpu", 0, 10, &[Some(1.0), Some(2.0), None])
            .with("h.web2.cpu", 0, 10, &[Some(3.0), None, None])
            .with("h.db1.cpu", 0, 10, &[Some(5.0), Some(6.0), Some(7.0)])
            .with("t.web1.cpu", 0, 10, &[Some(10.0), Some(10.0), Some(10.0)])
            .with("t.web2.cpu", 0, 10, &[Some(20.0), Some(0.0), Some(10.0)])
    }

    #[test]
    fn sum_skips_nulls_and_names_by_path_expression() {
        let read = MemoryRead::new()
            .with("a.x", 0, 10, &[Some(1.0), None, Some(3.0)])
            .with("a.y", 0, 10, &[Some(10.0), None, None]);
        let out = eval_one(&read, "sumSeries(a.*)", -10, 20);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, "sumSeries(a.*)");
        assert_eq!(out[0].values, vec![Some(11.0), None, Some(3.0)]);
        assert_eq!(out[0].tags["aggregatedBy"], "sum");
        assert_eq!(out[0].tags["name"], "sumSeries(a.*)");
        let out = eval_one(&read, "sum(a.x, a.y)", -10, 20);
        assert_eq!(out[0].name, "sumSeries(a.x,a.y)");
        assert!(eval_one(&read, "sumSeries()", -10, 20).is_empty());
    }

    #[test]
    fn different_steps_average_into_the_lcm() {
        let fine: Vec<Option<f64>> = (1..=6).map(|i| Some(i as f64)).collect();
        let read = MemoryRead::new().with("fine", 0, 10, &fine).with(
            "coarse",
            0,
            30,
            &[Some(100.0), Some(200.0)],
        );
        let out = eval_one(&read, "sumSeries(fine, coarse)", -10, 50);
        assert_eq!(out[0].step, 30);
        assert_eq!(out[0].values, vec![Some(102.0), Some(205.0)]);
    }

    #[test]
    fn aggregate_and_average() {
        let read = MemoryRead::new()
            .with("a.x", 0, 10, &[Some(1.0), None])
            .with("a.y", 0, 10, &[Some(3.0), Some(4.0)]);
        assert_eq!(
            eval_one(&read, "avg(a.*)", -10, 10)[0].values,
            vec![Some(2.0), Some(4.0)]
        );
        let out = eval_one(&read, "aggregate(a.*, 'maxSeries')", -10, 10);
        assert_eq!(out[0].name, "maxSeries(a.*)");
        assert_eq!(out[0].values, vec![Some(3.0), Some(4.0)]);
        let out = eval_one(&read, "aggregate(a.*, 'sum', 0.6)", -10, 10);
        assert_eq!(out[0].values, vec![Some(4.0), None]);
        assert!(eval_one(&read, "sumSeries(nothing.*)", -10, 10).is_empty());
        let out = eval_one(&read, "diffSeries(a.x, a.y)", -10, 10);
        assert_eq!(out[0].values, vec![Some(-2.0), Some(4.0)]);
        let out = eval_one(&read, "multiplySeries(a.x, a.y)", -10, 10);
        assert_eq!(out[0].values, vec![Some(3.0), None]);
        let out = eval_one(&read, "multiplySeries(a.x)", -10, 10);
        assert_eq!(out[0].name, "a.x");
        let out = eval_one(&read, "rangeOfSeries(a.*)", -10, 10);
        assert_eq!(out[0].name, "rangeOfSeries(a.*)");
        assert_eq!(out[0].values, vec![Some(2.0), Some(0.0)]);
    }

    #[test]
    fn series_lists_pair_by_position() {
        let out = eval_one(&hosts(), "sumSeriesLists(h.web*.cpu, t.web*.cpu)", -10, 20);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].name, "sumSeries(h.web1.cpu,t.web1.cpu)");
        assert_eq!(out[0].values, vec![Some(11.0), Some(12.0), Some(10.0)]);
        let out = eval_one(
            &hosts(),
            "divideSeriesLists(h.web*.cpu, t.web*.cpu)",
            -10,
            20,
        );
        assert_eq!(out[1].name, "divideSeries(h.web2.cpu,t.web2.cpu)");
        assert_eq!(out[1].values, vec![Some(0.15), None, None]);
    }

    #[test]
    fn wildcards_group_by_remaining_nodes() {
        let out = eval_one(&hosts(), "sumSeriesWithWildcards(*.web1.cpu, 0)", -10, 20);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, "web1.cpu");
        assert_eq!(out[0].values, vec![Some(11.0), Some(12.0), Some(10.0)]);
        let out = eval_one(
            &hosts(),
            "aggregateWithWildcards(h.*.cpu, 'max', 1)",
            -10,
            20,
        );
        assert_eq!(out[0].name, "h.cpu");
        assert_eq!(out[0].values, vec![Some(5.0), Some(6.0), Some(7.0)]);
    }

    #[test]
    fn group_by_node_and_nodes() {
        let out = eval_one(&hosts(), "groupByNode(*.*.cpu, 1, 'sum')", -10, 20);
        let names: Vec<&str> = out.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db1", "web1", "web2"]);
        assert_eq!(out[1].values, vec![Some(11.0), Some(12.0), Some(10.0)]);
        let out = eval_one(
            &hosts(),
            "groupByNodes(*.*.cpu, 'maxSeries', 0, 2)",
            -10,
            20,
        );
        let names: Vec<&str> = out.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["h.cpu", "t.cpu"]);
        let out = eval_one(&hosts(), "groupByNode(scale(h.*.cpu, 2), 1)", -10, 20);
        assert_eq!(out[0].name, "db1");
        assert_eq!(out[0].values[0], Some(10.0));
    }

    #[test]
    fn as_percent_forms() {
        let out = eval_one(&hosts(), "asPercent(h.web*.cpu)", -10, 20);
        assert_eq!(out[0].name, "asPercent(h.web1.cpu,sumSeries(h.web*.cpu))");
        assert_eq!(out[0].values, vec![Some(25.0), Some(100.0), None]);
        let out = eval_one(&hosts(), "asPercent(h.web1.cpu, 4)", -10, 20);
        assert_eq!(out[0].name, "asPercent(h.web1.cpu,4)");
        assert_eq!(out[0].values, vec![Some(25.0), Some(50.0), None]);
        let out = eval_one(&hosts(), "asPercent(h.web*.cpu, t.web*.cpu)", -10, 20);
        assert_eq!(out[1].name, "asPercent(h.web2.cpu,t.web2.cpu)");
        assert_eq!(out[1].values, vec![Some(15.0), None, None]);
        let out = eval_one(
            &hosts(),
            "asPercent(group(h.web1.cpu, h.db1.cpu), t.*.cpu, 1)",
            -10,
            20,
        );
        let names: Vec<&str> = out.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "asPercent(h.web1.cpu,t.web1.cpu)",
                "asPercent(h.db1.cpu,MISSING)",
                "asPercent(MISSING,t.web2.cpu)"
            ]
        );
        assert_eq!(out[0].values, vec![Some(10.0), Some(20.0), None]);
        assert_eq!(out[1].values, vec![None; 3]);
        assert_eq!((out[2].start, out[2].step), (0, 10));
        // graphite fails when the first group has no total: nothing was
        // normalized yet to take a window from
        let expr = crate::target::parse_target("asPercent(h.*.cpu, t.*.cpu, 1)").unwrap();
        let read = hosts();
        let mut ev = crate::eval::Evaluator::new(&read, Default::default());
        assert!(ev
            .evaluate_targets(&crate::eval::Context::new(-10, 20), &[expr])
            .is_err());
    }

    #[test]
    fn count_percentile_pow_and_group() {
        let out = eval_one(&hosts(), "countSeries(h.*.cpu)", -10, 20);
        assert_eq!(out[0].values, vec![Some(3.0); 3]);
        let out = eval_one(&hosts(), "countSeries()", -10, 20);
        assert_eq!(out[0].name, "0");
        assert_eq!(out[0].path_expression, "countSeries()");
        let out = eval_one(&hosts(), "percentileOfSeries(h.*.cpu, 50)", -10, 20);
        assert_eq!(out[0].name, "percentileOfSeries(h.*.cpu,50)");
        assert_eq!(out[0].values, vec![Some(3.0), Some(6.0), Some(7.0)]);
        let out = eval_one(&hosts(), "powSeries(h.db1.cpu, t.web1.cpu)", -10, 20);
        assert_eq!(out[0].values[0], Some(5f64.powf(10.0)));
        let out = eval_one(&hosts(), "group(h.db1.cpu, t.*.cpu)", -10, 20);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn map_reduce_and_weighted_average() {
        let read = MemoryRead::new()
            .with("srv.s1.disk.used", 0, 10, &[Some(1.0), None])
            .with("srv.s1.disk.total", 0, 10, &[Some(4.0), Some(4.0)])
            .with("srv.s2.disk.used", 0, 10, &[Some(3.0), Some(1.0)])
            .with("srv.s2.disk.total", 0, 10, &[Some(6.0), Some(0.0)]);
        let out = eval_one(
            &read,
            "reduceSeries(mapSeries(srv.*.disk.*, 1), 'asPercent', 3, 'used', 'total')",
            -10,
            10,
        );
        let names: Vec<&str> = out.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "srv.s1.disk.reduce.asPercent",
                "srv.s2.disk.reduce.asPercent"
            ]
        );
        assert_eq!(out[0].values, vec![Some(25.0), None]);
        assert_eq!(out[1].values, vec![Some(50.0), None]);
        let out = eval_one(
            &hosts(),
            "weightedAverage(h.web*.cpu, t.web*.cpu, 1)",
            -10,
            20,
        );
        assert_eq!(out[0].name, "weightedAverage(h.web*.cpu, t.web*.cpu, 1)");
        // (1*10 + 3*20) / 30
        assert_eq!(out[0].values[0], Some(70.0 / 30.0));
    }
}
