//! graphite-web's "Special" group: consolidation settings (consolidateBy,
//! cumulative, setXFilesFactor), generated series (constantLine,
//! randomWalk), renaming helpers (substr, cactiStyle), changed,
//! fallbackSeries and seriesByTag's registry entry.

use std::hash::{BuildHasher, Hasher};

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::pyfmt::{float_repr, format_f};
use crate::series::{Consolidation, Series};
use crate::target::{Call, Expr, StrLit};

use super::alias::format_units;
use super::{py_slice, Args, FunctionDef, Lit, Param, ParamType, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[
        &CHANGED,
        &CUMULATIVE,
        &CONSOLIDATE_BY,
        &SET_X_FILES_FACTOR,
        &CACTI_STYLE,
        &SUBSTR,
        &FALLBACK_SERIES,
        &CONSTANT_LINE,
        &RANDOM_WALK,
        &SERIES_BY_TAG,
    ]);
    r.alias("xFilesFactor", &SET_X_FILES_FACTOR);
    r.alias("randomWalk", &RANDOM_WALK);
}

const SERIES_LIST: Param = Param::new("seriesList", ParamType::SeriesList).required();

static CHANGED: FunctionDef = FunctionDef::new("changed", "Special", changed)
    .description(
        "1 where the value differs from the previous non-null value, else 0 (nulls \
         and the first point give 0).",
    )
    .params(&[SERIES_LIST]);

fn changed(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    for s in &mut list {
        s.name = format!("changed({})", s.name);
        s.path_expression = s.name.clone();
        // graphite keeps the first value as "previous" even when it is
        // null, so leading nulls keep resetting it.
        let mut previous: Option<f64> = None;
        for v in s.values.iter_mut() {
            let value = *v;
            *v = Some(match (previous, value) {
                (None, _) => {
                    previous = value;
                    0.0
                }
                (Some(p), Some(x)) if p != x => {
                    previous = value;
                    1.0
                }
                _ => 0.0,
            });
        }
    }
    Ok(Value::SeriesList(list))
}

static CUMULATIVE: FunctionDef = FunctionDef::new("cumulative", "Special", cumulative)
    .description("Sets the consolidation function to sum, as consolidateBy(seriesList, 'sum').")
    .params(&[SERIES_LIST]);

fn cumulative(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    Ok(Value::SeriesList(consolidate_by(list, "sum", &args)?))
}

static CONSOLIDATE_BY: FunctionDef =
    FunctionDef::new("consolidateBy", "Special", consolidate_by_fn)
        .description(
            "Sets how the series is consolidated when several values share one output \
             point (maxDataPoints, step alignment): sum, average, avg, avg_zero, min, \
             max, first or last.",
        )
        .params(&[
            SERIES_LIST,
            Param::new("consolidationFunc", ParamType::String)
                .required()
                .options(&[
                    Lit::Str("sum"),
                    Lit::Str("average"),
                    Lit::Str("avg"),
                    Lit::Str("avg_zero"),
                    Lit::Str("min"),
                    Lit::Str("max"),
                    Lit::Str("first"),
                    Lit::Str("last"),
                ]),
        ]);

fn consolidate_by_fn(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let func = args.string(1)?;
    Ok(Value::SeriesList(consolidate_by(list, &func, &args)?))
}

fn consolidate_by(mut list: Vec<Series>, func: &str, args: &Args) -> Result<Vec<Series>, ApiError> {
    let consolidation = Consolidation::parse(func)
        .ok_or_else(|| args.error(format!("Invalid consolidation function: '{func}'")))?;
    for s in &mut list {
        s.consolidation = consolidation;
        s.tags.insert("consolidateBy".into(), func.to_string());
        s.name = format!("consolidateBy({},\"{func}\")", s.name);
        s.path_expression = s.name.clone();
    }
    Ok(list)
}

static SET_X_FILES_FACTOR: FunctionDef =
    FunctionDef::new("setXFilesFactor", "Special", set_x_files_factor)
        .description(
            "Sets the xFilesFactor (the fraction of non-null values a consolidated point \
             needs) of the series, and of every function evaluated later in the request.",
        )
        .params(&[
            SERIES_LIST,
            Param::new("xFilesFactor", ParamType::Float).required(),
        ]);

fn set_x_files_factor(
    ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let xff = args.float(1)?;
    ev.set_request_x_files_factor(xff);
    for s in &mut list {
        s.x_files_factor = xff;
        s.tags.insert("xFilesFactor".into(), float_repr(xff));
    }
    Ok(Value::SeriesList(list))
}

static CACTI_STYLE: FunctionDef = FunctionDef::new("cactiStyle", "Special", cacti_style)
    .description(
        "Renames each series to a column-aligned legend with its current, maximum \
         and minimum values ('name Current:1.00 Max:2.00 Min:0.00 '), optionally \
         with si or binary unit prefixes and a unit name.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("system", ParamType::String).options(&[Lit::Str("si"), Lit::Str("binary")]),
        Param::new("units", ParamType::String),
    ]);

fn cacti_style(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    if list.is_empty() {
        return Ok(Value::SeriesList(list));
    }
    let system = args.opt_string(1)?.filter(|s| !s.is_empty());
    let units = args.opt_string(2)?.filter(|s| !s.is_empty());
    let fmt = |x: f64| -> Result<String, ApiError> {
        Ok(match (&system, &units) {
            (Some(system), units) => {
                let (v, prefix) = format_units(x, system, units.as_deref())
                    .ok_or_else(|| args.error(format!("unknown unit system {system}")))?;
                if units.is_some() {
                    format!("{} {prefix}", format_f(v, 2))
                } else {
                    format!("{}{prefix}", format_f(v, 2))
                }
            }
            (None, Some(units)) => format!("{} {units}", format_f(x, 2)),
            (None, None) => format_f(x, 2),
        })
    };
    // graphite sizes the columns from int(value or 3)
    let width_of = |v: Option<f64>| -> Result<usize, ApiError> {
        let v = v.filter(|x| *x != 0.0).unwrap_or(3.0);
        if !v.is_finite() {
            return Err(args.error(format!("cannot convert {} to an integer", float_repr(v))));
        }
        Ok(fmt(v.trunc())?.chars().count())
    };
    let stats: Vec<[Option<f64>; 3]> = list
        .iter()
        .map(|s| {
            let points = s.points();
            let non_null = || points.iter().flatten().copied();
            [
                points.iter().rev().find_map(|v| *v),
                non_null().reduce(crate::series::py_max),
                non_null().reduce(crate::series::py_min),
            ]
        })
        .collect();
    let name_len = list
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0);
    let mut widths = [0usize; 3];
    for st in &stats {
        for (w, v) in widths.iter_mut().zip(st) {
            *w = (*w).max(width_of(*v)? + 3);
        }
    }
    for (s, st) in list.iter_mut().zip(&stats) {
        let [last, max, min] = st.map(|v| v.map_or_else(|| Ok("nan".to_string()), fmt));
        s.name = format!(
            "{:<name_len$} Current:{:<w0$} Max:{:<w1$} Min:{:<w2$} ",
            s.name,
            last?,
            max?,
            min?,
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
        );
    }
    Ok(Value::SeriesList(list))
}

static SUBSTR: FunctionDef = FunctionDef::new("substr", "Special", substr)
    .description(
        "Names each series by a slice of its metric path's nodes, start included and \
         stop excluded (Python slicing, 0 = to the end); for function results the \
         innermost path is used.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("start", ParamType::Node).default(Lit::Int(0)),
        Param::new("stop", ParamType::Node).default(Lit::Int(0)),
    ]);

fn substr(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let start = args.int(1)?;
    let stop = args.int(2)?;
    for s in &mut list {
        s.name = substr_name(&s.name, start, stop);
    }
    Ok(Value::SeriesList(list))
}

/// graphite's `substr` on one name: the text between the last `(` and the
/// first `)`, its nodes sliced `[start:stop]` (`stop == 0` = to the end),
/// cut at the first comma.
pub(super) fn substr_name(name: &str, start: i64, stop: i64) -> String {
    let left = name.rfind('(').map_or(0, |i| i + 1);
    let right = name.find(')').unwrap_or(name.len());
    let clean = if right > left { &name[left..right] } else { "" };
    let nodes: Vec<&str> = clean.split('.').collect();
    let range = py_slice(nodes.len(), Some(start), (stop != 0).then_some(stop));
    let joined = nodes[range].join(".");
    match joined.find(',') {
        Some(comma) => joined[..comma].to_string(),
        None => joined,
    }
}

static FALLBACK_SERIES: FunctionDef =
    FunctionDef::new("fallbackSeries", "Special", fallback_series)
        .description("Returns the series list, or the fallback list when the first one is empty.")
        .params(&[
            SERIES_LIST,
            Param::new("fallback", ParamType::SeriesList).required(),
        ]);

fn fallback_series(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    if !list.is_empty() {
        return Ok(Value::SeriesList(list));
    }
    Ok(Value::SeriesList(args.series_list(1)?))
}

static CONSTANT_LINE: FunctionDef = FunctionDef::new("constantLine", "Special", constant_line_fn)
    .description(
        "A horizontal line at the value over the requested range (three points: \
         start, middle and end).",
    )
    .params(&[Param::new("value", ParamType::Float).required()]);

fn constant_line_fn(_ev: &mut Evaluator<'_>, ctx: &Context, args: Args) -> Result<Value, ApiError> {
    let value = args.float(0)?;
    Ok(Value::SeriesList(vec![constant_line(ctx, Some(value))]))
}

/// graphite's `constantLine(value)`: named `str(value)`, path expression
/// `constantLine(<value>)`, three points over the request window at a
/// step of half its length.
pub(super) fn constant_line(ctx: &Context, value: Option<f64>) -> Series {
    let text = value.map_or_else(|| "None".to_string(), float_repr);
    let step = (ctx.end - ctx.start) / 2;
    let mut s = Series::new(
        text.clone(),
        ctx.start,
        ctx.end,
        step,
        vec![value; 3],
        ctx.x_files_factor,
    );
    s.path_expression = format!("constantLine({text})");
    s
}

static RANDOM_WALK: FunctionDef = FunctionDef::new("randomWalkFunction", "Special", random_walk)
    .description(
        "Test data: a random walk starting at 0 that moves by a uniform random amount \
         in [-0.5, 0.5) every step seconds over the requested range.",
    )
    .params(&[
        Param::new("name", ParamType::String).required(),
        Param::new("step", ParamType::Integer).default(Lit::Int(60)),
    ]);

fn random_walk(_ev: &mut Evaluator<'_>, ctx: &Context, args: Args) -> Result<Value, ApiError> {
    let name = args.string(0)?;
    let step = args.int(1)?;
    if step <= 0 {
        return Err(args.error("step must be a positive number of seconds"));
    }
    let count = generated_points(ctx, step)?;
    // std's RandomState is keyed from the OS RNG per instance: hashing a
    // counter with it gives independent uniform bits without another crate.
    let state = std::collections::hash_map::RandomState::new();
    let mut current = 0.0;
    let mut values = Vec::with_capacity(count);
    for i in 0..count {
        values.push(Some(current));
        let mut h = state.build_hasher();
        h.write_usize(i);
        let unit = (h.finish() >> 11) as f64 / (1u64 << 53) as f64;
        current += unit - 0.5;
    }
    Ok(Value::SeriesList(vec![Series::new(
        name,
        ctx.start,
        ctx.end,
        step,
        values,
        ctx.x_files_factor,
    )]))
}

/// Most points a generating function (randomWalk, identity) may make.
const MAX_GENERATED_POINTS: i64 = 10_000_000;

/// How many points of `step` seconds a generated series has over the
/// request window (graphite's `while t < end`), bounded by
/// [`MAX_GENERATED_POINTS`].
pub(super) fn generated_points(ctx: &Context, step: i64) -> Result<usize, ApiError> {
    let span = ctx.end.saturating_sub(ctx.start).max(0);
    let count = span / step + i64::from(span % step != 0);
    if count > MAX_GENERATED_POINTS {
        return Err(ApiError::Limit(format!(
            "a generated series of {count} points (at most {MAX_GENERATED_POINTS})"
        )));
    }
    Ok(usize::try_from(count).unwrap_or(0))
}

static SERIES_BY_TAG: FunctionDef = FunctionDef::new("seriesByTag", "Special", series_by_tag)
    .description(
        "Fetches the tagged series matching every tag expression: 'tag=value', \
         'tag!=value', 'tag=~regex' (anchored at the start) or 'tag!=~regex'. At \
         least one expression must require a non-empty value.",
    )
    .params(&[Param::new("tagExpressions", ParamType::String)
        .required()
        .multiple()]);

/// The evaluator fetches `seriesByTag(...)` calls itself (their text is the
/// path expression); this entry only runs when the function is reached in
/// another way, and rebuilds the call so the evaluator can fetch it.
fn series_by_tag(ev: &mut Evaluator<'_>, ctx: &Context, args: Args) -> Result<Value, ApiError> {
    let mut exprs = Vec::with_capacity(args.rest().len());
    for v in args.rest() {
        match v {
            Value::Str(s) => exprs.push(Expr::Str(StrLit {
                value: s.clone(),
                quote: '\'',
            })),
            other => {
                return Err(args.error(format!(
                    "tag expressions must be strings, not {}",
                    other.kind()
                )))
            }
        }
    }
    let mut call = Call {
        name: "seriesByTag".into(),
        args: exprs,
        kwargs: Vec::new(),
        raw: None,
    };
    call.raw = Some(Expr::Call(call.clone()).to_string());
    ev.evaluate_with(ctx, &Expr::Call(call), None)
        .map(Value::SeriesList)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{eval_one, MemoryRead};

    fn read() -> MemoryRead {
        MemoryRead::new()
            .with(
                "a.x",
                0,
                10,
                &[None, Some(1.0), Some(1.0), None, Some(2.0), Some(1.0)],
            )
            .with(
                "a.y",
                0,
                10,
                &[Some(1500.0), Some(-3.0), None, None, None, Some(12.5)],
            )
            .with("a.z", 0, 10, &[None; 6])
    }

    #[test]
    fn changed_marks_changes_and_keeps_leading_nulls_as_previous() {
        let out = eval_one(&read(), "changed(a.x)", -10, 50);
        assert_eq!(out[0].name, "changed(a.x)");
        let ones: Vec<_> = out[0].values.iter().map(|v| v.unwrap()).collect();
        assert_eq!(ones, [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]);
    }

    #[test]
    fn consolidate_by_renames_and_sets_the_function() {
        let out = eval_one(&read(), "consolidateBy(a.x, 'max')", -10, 50);
        assert_eq!(out[0].name, "consolidateBy(a.x,\"max\")");
        assert_eq!(out[0].consolidation, Consolidation::Max);
        assert_eq!(out[0].tags["consolidateBy"], "max");
        let out = eval_one(&read(), "cumulative(a.x)", -10, 50);
        assert_eq!(out[0].name, "consolidateBy(a.x,\"sum\")");
    }

    #[test]
    fn x_files_factor_applies_to_later_functions() {
        let read = read();
        let exprs = [
            crate::parse_target("setXFilesFactor(a.x, 0.9)").unwrap(),
            crate::parse_target("constantLine(1)").unwrap(),
        ];
        let mut ev = Evaluator::new(&read, Default::default());
        let out = ev.evaluate_targets(&Context::new(-10, 50), &exprs).unwrap();
        assert_eq!(out[0].x_files_factor, 0.9);
        assert_eq!(out[0].tags["xFilesFactor"], "0.9");
        assert_eq!(out[1].x_files_factor, 0.9);
    }

    #[test]
    fn substr_and_names() {
        assert_eq!(substr_name("a.b.c.d", 1, 3), "b.c");
        assert_eq!(substr_name("a.b.c.d", -2, 0), "c.d");
        assert_eq!(substr_name("movingAverage(scale(a.b.c,2),5)", 1, 0), "b.c");
        assert_eq!(substr_name("sumSeries(a.b)", 0, 0), "a.b");
        assert_eq!(substr_name("x)y(z", 0, 0), "");
        let out = eval_one(&read(), "substr(scale(a.x, 2), 1)", -10, 50);
        assert_eq!(out[0].name, "x");
    }

    #[test]
    fn cacti_style_aligns_columns() {
        let out = eval_one(&read(), "cactiStyle(a.{x,y})", -10, 50);
        assert_eq!(
            out[0].name,
            "a.x Current:1.00     Max:2.00       Min:1.00     "
        );
        assert_eq!(
            out[1].name,
            "a.y Current:12.50    Max:1500.00    Min:-3.00    "
        );
        let out = eval_one(&read(), "cactiStyle(a.{y,z}, 'si', 'B')", -10, 50);
        assert_eq!(
            out[0].name,
            "a.y Current:12.50 B    Max:1.50 kB    Min:-3.00 B    "
        );
        assert_eq!(
            out[1].name,
            "a.z Current:nan        Max:nan        Min:nan        "
        );
    }

    #[test]
    fn constant_line_and_fallback() {
        let out = eval_one(&read(), "constantLine(42)", 0, 61);
        assert_eq!(out[0].name, "42.0");
        assert_eq!(out[0].path_expression, "constantLine(42.0)");
        assert_eq!(out[0].step, 30);
        assert_eq!(out[0].datapoints().len(), 3);
        let out = eval_one(&read(), "fallbackSeries(nothing.*, constantLine(1))", 0, 60);
        assert_eq!(out[0].name, "1.0");
        let out = eval_one(&read(), "fallbackSeries(a.x, constantLine(1))", 0, 60);
        assert_eq!(out[0].name, "a.x");
    }

    #[test]
    fn random_walk_shape() {
        let out = eval_one(&read(), "randomWalk('rw', 7)", 0, 60);
        assert_eq!(out[0].name, "rw");
        assert_eq!(out[0].values.len(), 9);
        assert_eq!(out[0].values[0], Some(0.0));
        assert!(out[0]
            .values
            .windows(2)
            .all(|w| (w[1].unwrap() - w[0].unwrap()).abs() <= 0.5));
    }
}
