//! graphite-web's "Sorting" group: reorder a series list by name or by an
//! aggregate of each series (sortBy, sortByName, sortByTotal,
//! sortByMaxima, sortByMinima).

use std::cmp::Ordering;
use std::sync::LazyLock;

use regex::Regex;

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::series::Series;

use super::{AggFunc, Args, FunctionDef, Lit, Param, ParamType, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[
        &SORT_BY,
        &SORT_BY_NAME,
        &SORT_BY_TOTAL,
        &SORT_BY_MAXIMA,
        &SORT_BY_MINIMA,
    ]);
}

const SERIES_LIST: Param = Param::new("seriesList", ParamType::SeriesList).required();

/// graphite's `keyFunc`: an aggregate of the series' points, a missing one
/// (all nulls) sorting as −∞.
pub(super) fn agg_sort_key(func: AggFunc, series: &Series) -> f64 {
    func.apply(&series.points()).unwrap_or(f64::NEG_INFINITY)
}

/// The aggregation function named by parameter `i`, or graphite's error.
pub(super) fn agg_func_arg(args: &Args, i: usize) -> Result<AggFunc, ApiError> {
    let name = args.string(i)?;
    AggFunc::parse(&name)
        .ok_or_else(|| ApiError::BadRequest(format!("Unsupported aggregation function: {name}")))
}

/// Python's stable `list.sort(key=..., reverse=...)`: equal keys (and
/// float keys that do not compare, NaN) keep their order in both
/// directions.
pub(super) fn sort_by_keys<K: PartialOrd>(
    list: Vec<Series>,
    keys: &[K],
    reverse: bool,
) -> Vec<Series> {
    let mut order: Vec<usize> = (0..list.len()).collect();
    order.sort_by(|&a, &b| {
        let o = keys[a].partial_cmp(&keys[b]).unwrap_or(Ordering::Equal);
        if reverse {
            o.reverse()
        } else {
            o
        }
    });
    let mut slots: Vec<Option<Series>> = list.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

static SORT_BY: FunctionDef = FunctionDef::new("sortBy", "Sorting", sort_by)
    .description(
        "Sorts the series by an aggregate of their values (default average), \
         ascending unless reverse; all-null series count as the smallest.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("func", ParamType::AggFunc).default(Lit::Str("average")),
        Param::new("reverse", ParamType::Boolean).default(Lit::Bool(false)),
    ]);

fn sort_by(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let func = agg_func_arg(&args, 1)?;
    let reverse = args.bool(2)?;
    let keys: Vec<f64> = list.iter().map(|s| agg_sort_key(func, s)).collect();
    Ok(Value::SeriesList(sort_by_keys(list, &keys, reverse)))
}

/// The series sorted by `func` of their values, largest first.
fn largest_first(mut args: Args, func: AggFunc) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let keys: Vec<f64> = list.iter().map(|s| agg_sort_key(func, s)).collect();
    Ok(Value::SeriesList(sort_by_keys(list, &keys, true)))
}

static SORT_BY_TOTAL: FunctionDef = FunctionDef::new("sortByTotal", "Sorting", sort_by_total)
    .description("Sorts the series by the sum of their values, largest first.")
    .params(&[SERIES_LIST]);

fn sort_by_total(_ev: &mut Evaluator<'_>, _ctx: &Context, args: Args) -> Result<Value, ApiError> {
    largest_first(args, AggFunc::Sum)
}

static SORT_BY_MAXIMA: FunctionDef = FunctionDef::new("sortByMaxima", "Sorting", sort_by_maxima)
    .description("Sorts the series by their maximum value, largest first.")
    .params(&[SERIES_LIST]);

fn sort_by_maxima(_ev: &mut Evaluator<'_>, _ctx: &Context, args: Args) -> Result<Value, ApiError> {
    largest_first(args, AggFunc::Max)
}

static SORT_BY_MINIMA: FunctionDef = FunctionDef::new("sortByMinima", "Sorting", sort_by_minima)
    .description(
        "Drops the series whose maximum is not above 0, then sorts the rest by \
         their minimum value, smallest first.",
    )
    .params(&[SERIES_LIST]);

fn sort_by_minima(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list: Vec<Series> = args
        .series_list(0)?
        .into_iter()
        .filter(|s| AggFunc::Max.apply(&s.points()).unwrap_or(0.0) > 0.0)
        .collect();
    let keys: Vec<f64> = list.iter().map(|s| agg_sort_key(AggFunc::Min, s)).collect();
    Ok(Value::SeriesList(sort_by_keys(list, &keys, false)))
}

static SORT_BY_NAME: FunctionDef = FunctionDef::new("sortByName", "Sorting", sort_by_name)
    .description(
        "Sorts the series by name; natural sorting compares digit runs as numbers \
         (host2 before host10).",
    )
    .params(&[
        SERIES_LIST,
        Param::new("natural", ParamType::Boolean).default(Lit::Bool(false)),
        Param::new("reverse", ParamType::Boolean).default(Lit::Bool(false)),
    ]);

fn sort_by_name(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let natural = args.bool(1)?;
    let reverse = args.bool(2)?;
    let keys: Vec<String> = list
        .iter()
        .map(|s| {
            if natural {
                natural_key(&s.name)
            } else {
                s.name.clone()
            }
        })
        .collect();
    Ok(Value::SeriesList(sort_by_keys(list, &keys, reverse)))
}

/// graphite's natural sort key: every run of digits zero-padded to at
/// least 10 digits (`"{0:010}".format(int(run))`).
fn natural_key(name: &str) -> String {
    static DIGITS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+").expect("static regex"));
    DIGITS
        .replace_all(name, |caps: &regex::Captures<'_>| {
            let run = &caps[0];
            if !run.bytes().all(|b| b.is_ascii_digit()) {
                return run.to_string();
            }
            let trimmed = run.trim_start_matches('0');
            let digits = if trimmed.is_empty() { "0" } else { trimmed };
            format!("{digits:0>10}")
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{eval_one, MemoryRead};

    fn read() -> MemoryRead {
        MemoryRead::new()
            .with("h.host10", 0, 10, &[Some(5.0), Some(-1.0)])
            .with("h.host2", 0, 10, &[Some(1.0), Some(9.0)])
            .with("h.host3", 0, 10, &[None, None])
            .with("h.host1", 0, 10, &[Some(-4.0), Some(4.0)])
    }

    fn names(target: &str) -> Vec<String> {
        eval_one(&read(), target, -10, 10)
            .into_iter()
            .map(|s| s.name)
            .collect()
    }

    /// Each target and the names it sorts `read()` into, space-separated.
    fn assert_sorts(cases: &[(&str, &str)]) {
        for (target, expected) in cases {
            assert_eq!(names(target).join(" "), *expected, "{target}");
        }
    }

    #[test]
    fn by_name_plain_natural_and_reversed() {
        assert_sorts(&[
            ("sortByName(h.*)", "h.host1 h.host10 h.host2 h.host3"),
            ("sortByName(h.*, true)", "h.host1 h.host2 h.host3 h.host10"),
            (
                "sortByName(h.*, natural=true, reverse=true)",
                "h.host10 h.host3 h.host2 h.host1",
            ),
        ]);
        assert_eq!(natural_key("a007b12345678901"), "a0000000007b12345678901");
    }

    #[test]
    fn by_aggregates_with_nulls_smallest() {
        assert_sorts(&[
            ("sortBy(h.*)", "h.host3 h.host1 h.host10 h.host2"),
            (
                "sortBy(h.*, 'max', true)",
                "h.host2 h.host10 h.host1 h.host3",
            ),
            ("sortByTotal(h.*)", "h.host2 h.host10 h.host1 h.host3"),
            ("sortByMaxima(h.*)", "h.host2 h.host10 h.host1 h.host3"),
            ("sortByMinima(h.*)", "h.host1 h.host10 h.host2"),
        ]);
    }

    #[test]
    fn equal_keys_keep_their_order_both_ways() {
        let read =
            MemoryRead::new()
                .with("e.a", 0, 10, &[Some(1.0)])
                .with("e.b", 0, 10, &[Some(1.0)]);
        let out = eval_one(&read, "sortBy(e.*, 'sum', true)", -10, 0);
        assert_eq!(out[0].name, "e.a");
        let out = eval_one(&read, "sortBy(e.*, 'sum')", -10, 0);
        assert_eq!(out[0].name, "e.a");
    }
}
