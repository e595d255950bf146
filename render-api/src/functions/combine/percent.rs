//! Ratios of series: asPercent (of a sum, a number, one total or matched
//! totals, optionally grouped by nodes), divideSeries, divideSeriesLists
//! and weightedAverage.

use std::collections::{BTreeSet, HashMap};

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::functions::aggfunc::{safe_div, safe_mul};
use crate::functions::{
    agg_key, format_path_expressions, normalize_refs, Aggregator, Args, FunctionDef, Param,
    ParamType, Registry,
};
use crate::series::Series;

use super::aggregate::aggregate_lists;
use super::Groups;

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[
        &AS_PERCENT,
        &DIVIDE_SERIES,
        &DIVIDE_SERIES_LISTS,
        &WEIGHTED_AVERAGE,
    ]);
    r.alias("pct", &AS_PERCENT);
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

static AS_PERCENT: FunctionDef = FunctionDef::new("asPercent", "Combine", as_percent)
    .description(
        "Each series as a percentage of a total: by default the sum of all the series; \
         or a number; or one total series; or a list of as many totals, matched by \
         sorted name. With nodes, series and totals are matched by those nodes or tags \
         (groups without a match give all-null series named with MISSING).",
    )
    .params(&[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("total", ParamType::Any),
        Param::new("nodes", ParamType::NodeOrTag).multiple(),
    ])
    .aggregator(Aggregator::Yes);

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

/// `dividendSeriesList`, the first parameter of divideSeries and
/// divideSeriesLists.
const DIVIDENDS: Param = Param::new("dividendSeriesList", ParamType::SeriesList).required();

static DIVIDE_SERIES: FunctionDef = FunctionDef::new("divideSeries", "Combine", divide_series)
    .description(
        "Divides each series of the first list by the single series of the second \
         (null where either is null or the divisor is 0). Without a divisor every \
         dividend becomes all-null, named with MISSING.",
    )
    .params(&[
        DIVIDENDS,
        Param::new("divisorSeries", ParamType::SeriesList).required(),
    ]);

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

static DIVIDE_SERIES_LISTS: FunctionDef =
    FunctionDef::new("divideSeriesLists", "Combine", divide_series_lists)
        .description(
            "Divides the first list by the second pairwise by position; the lists must \
             have the same length.",
        )
        .params(&[
            DIVIDENDS,
            Param::new("divisorSeriesList", ParamType::SeriesList).required(),
        ]);

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

static WEIGHTED_AVERAGE: FunctionDef =
    FunctionDef::new("weightedAverage", "Combine", weighted_average)
        .description(
            "The average of the first list weighted by the second: series are matched by \
             the given nodes or tags, and each timestamp gives sum(value × weight) / \
             sum(weight). Both lists must have the same length.",
        )
        .params(&[
            Param::new("seriesListAvg", ParamType::SeriesList).required(),
            Param::new("seriesListWeight", ParamType::SeriesList).required(),
            Param::new("nodes", ParamType::NodeOrTag).multiple(),
        ]);

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
