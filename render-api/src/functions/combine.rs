//! graphite-web's "Combine" group: functions that merge several series
//! into fewer (sumSeries, averageSeries, aggregate, ...).

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::series::Series;

use super::{
    format_path_expressions, normalize, xff_ok, AggFunc, Args, FunctionDef, Param, ParamType,
    Registry,
};

pub(super) fn register(r: &mut Registry) {
    r.add(&AGGREGATE);
    r.add(&SUM_SERIES);
    r.alias("sum", &SUM_SERIES);
    r.add(&AVERAGE_SERIES);
    r.alias("avg", &AVERAGE_SERIES);
}

const SERIES_LISTS: &[Param] = &[Param::new("seriesLists", ParamType::SeriesList)
    .required()
    .multiple()];

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

static SUM_SERIES: FunctionDef = FunctionDef {
    name: "sumSeries",
    group: "Combine",
    description: "Adds the series together per timestamp (nulls are skipped; a timestamp where \
                  every series is null stays null). Series with different steps are first \
                  averaged to the coarsest common step.",
    params: SERIES_LISTS,
    aggregator: true,
    implementation: sum_series,
};

fn sum_series(_ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    aggregate_lists(ctx, args.rest_series_lists()?, "sum", None).map(Value::SeriesList)
}

static AVERAGE_SERIES: FunctionDef = FunctionDef {
    name: "averageSeries",
    group: "Combine",
    description: "Averages the series per timestamp, over the non-null values only.",
    params: SERIES_LISTS,
    aggregator: true,
    implementation: average_series,
};

fn average_series(
    _ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    aggregate_lists(ctx, args.rest_series_lists()?, "average", None).map(Value::SeriesList)
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
    let short = func.strip_suffix("Series").unwrap_or(func);
    let agg = AggFunc::parse(short)
        .ok_or_else(|| ApiError::BadRequest(format!("Unsupported aggregation function: {func}")))?;
    let Some((inputs, start, end, step)) = normalize(lists) else {
        return Ok(Vec::new());
    };
    let xff = x_files_factor.unwrap_or(ctx.x_files_factor);
    let name = format!("{short}Series({})", format_path_expressions(&inputs));
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
    let mut tags = inputs[0].tags.clone();
    for s in &inputs[1..] {
        tags.retain(|k, v| s.tags.get(k) == Some(v));
    }
    tags.entry("name".into()).or_insert_with(|| name.clone());
    tags.insert("aggregatedBy".into(), short.to_string());
    let mut out = Series::new(name, start, end, step, values, xff);
    out.tags = tags;
    Ok(vec![out])
}

#[cfg(test)]
mod tests {
    use crate::testing::{eval_one, MemoryRead};

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
    }

    #[test]
    fn different_steps_average_into_the_lcm() {
        let read = MemoryRead::new()
            .with(
                "fine",
                0,
                10,
                &[
                    Some(1.0),
                    Some(2.0),
                    Some(3.0),
                    Some(4.0),
                    Some(5.0),
                    Some(6.0),
                ],
            )
            .with("coarse", 0, 30, &[Some(100.0), Some(200.0)]);
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
    }
}
