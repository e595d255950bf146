//! graphite-web's "Calculate" group: moving windows, forecasts and other
//! computed series.

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::time::parse_offset;

use super::{
    xff_ok, AggFunc, Args, FunctionDef, Lit, Param, ParamType, Registry,
    INT_OR_INTERVAL_SUGGESTIONS,
};

pub(super) fn register(r: &mut Registry) {
    r.add(&MOVING_WINDOW);
    r.add(&MOVING_AVERAGE);
}

static MOVING_WINDOW: FunctionDef = FunctionDef {
    name: "movingWindow",
    group: "Calculate",
    description: "Applies an aggregation function (default average) to a window of the \
                  preceding points ending at each point; the window is a number of points or \
                  an interval such as '5min'. Data before the requested range is fetched so \
                  that the first points have full windows.",
    params: &[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("windowSize", ParamType::IntOrInterval)
            .required()
            .suggestions(INT_OR_INTERVAL_SUGGESTIONS),
        Param::new("func", ParamType::AggFunc).default(Lit::Str("average")),
        Param::new("xFilesFactor", ParamType::Float),
    ],
    aggregator: false,
    implementation: moving_window_fn,
};

fn moving_window_fn(ev: &mut Evaluator<'_>, ctx: &Context, args: Args) -> Result<Value, ApiError> {
    let func = args.string(2)?;
    let xff = args.opt_float(3)?;
    moving_window(ev, ctx, args, &func, xff)
}

static MOVING_AVERAGE: FunctionDef = FunctionDef {
    name: "movingAverage",
    group: "Calculate",
    description: "The average of the window of points ending at each point (a number of \
                  points or an interval such as '5min'); see movingWindow.",
    params: &[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("windowSize", ParamType::IntOrInterval)
            .required()
            .suggestions(INT_OR_INTERVAL_SUGGESTIONS),
        Param::new("xFilesFactor", ParamType::Float),
    ],
    aggregator: false,
    implementation: moving_average,
};

fn moving_average(ev: &mut Evaluator<'_>, ctx: &Context, args: Args) -> Result<Value, ApiError> {
    let xff = args.opt_float(2)?;
    moving_window(ev, ctx, args, "average", xff)
}

/// Python's `str.capitalize()`.
fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// graphite's `movingWindow`, shared by `movingAverage`, `movingSum`,
/// `movingMin`, `movingMax` and `movingMedian`: parameter 0 is the series
/// list, parameter 1 the window size.
pub(crate) fn moving_window(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
    func: &str,
    x_files_factor: Option<f64>,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    if list.is_empty() {
        return Ok(Value::SeriesList(list));
    }
    let window = args.value(1);
    let agg = AggFunc::parse(func)
        .ok_or_else(|| ApiError::BadRequest(format!("Unsupported aggregation function: {func}")))?;
    let (preview_seconds, window_points) = match &window {
        Value::Str(interval) => (parse_offset(interval)?.abs(), None),
        Value::Int(_) | Value::Float(_) => {
            let n = match window {
                Value::Int(n) => n,
                Value::Float(x) => x.trunc() as i64,
                _ => 0,
            };
            let max_step = list.iter().map(|s| s.step).max().unwrap_or(0);
            (max_step.saturating_mul(n), Some(n))
        }
        other => {
            return Err(args.error(format!(
                "windowSize must be a number of points or an interval, not {}",
                other.kind()
            )))
        }
    };
    drop(list);
    let mut preview_ctx = ctx.clone();
    preview_ctx.start = ctx.start - preview_seconds;
    let preview = ev.evaluate_with(&preview_ctx, args.raw()?, args.replacements())?;
    let tag_name = format!("moving{}", capitalize(func));
    let mut result = Vec::with_capacity(preview.len());
    for mut series in preview {
        ev.check_deadline()?;
        let (name, points) = match &window {
            Value::Str(interval) => (
                format!("{tag_name}({},\"{interval}\")", series.name),
                if series.step > 0 {
                    preview_seconds / series.step
                } else {
                    0
                },
            ),
            other => (
                format!("{tag_name}({},{})", series.name, other.py_str()),
                window_points.unwrap_or(0),
            ),
        };
        series.tags.insert(tag_name.clone(), window.py_str());
        let xff = x_files_factor.unwrap_or(series.x_files_factor);
        let len = series.values.len() as i64;
        let mut values = Vec::with_capacity(series.values.len());
        let mut window_values = Vec::new();
        let mut i = points + 1;
        while i <= len {
            let lo = (i - points).clamp(0, len) as usize;
            let hi = i.clamp(0, len) as usize;
            window_values.clear();
            if lo < hi {
                window_values.extend(series.values[lo..hi].iter().flatten());
            }
            values.push(
                if !window_values.is_empty()
                    && xff_ok(window_values.len(), points.max(0) as usize, xff)
                {
                    agg.apply_non_null(&window_values)
                } else {
                    None
                },
            );
            i += 1;
        }
        result.push(series.copy_with(name, series.start + preview_seconds, values));
    }
    Ok(Value::SeriesList(result))
}

#[cfg(test)]
mod tests {
    use crate::testing::{eval_one, MemoryRead};

    fn read() -> MemoryRead {
        let values: Vec<Option<f64>> = (0..20).map(|i| Some(i as f64)).collect();
        MemoryRead::new().with("a.b", 0, 10, &values)
    }

    #[test]
    fn window_in_points_ends_at_each_point_and_prefetches() {
        // Range (100, 150]: points 110..150; the window reaches back to 80.
        let out = eval_one(&read(), "movingAverage(a.b, 3)", 100, 150);
        assert_eq!(out[0].name, "movingAverage(a.b,3)");
        assert_eq!(out[0].start, 110);
        assert_eq!(
            out[0].values,
            vec![Some(10.0), Some(11.0), Some(12.0), Some(13.0), Some(14.0)]
        );
        assert_eq!(out[0].tags["movingAverage"], "3");
    }

    #[test]
    fn window_as_interval_is_quoted_in_the_name() {
        let out = eval_one(&read(), "movingAverage(a.b, '20s')", 100, 130);
        assert_eq!(out[0].name, "movingAverage(a.b,\"20s\")");
        assert_eq!(out[0].values, vec![Some(10.5), Some(11.5), Some(12.5)]);
        let out = eval_one(&read(), "movingWindow(a.b, 2, 'sum')", 100, 120);
        assert_eq!(out[0].name, "movingSum(a.b,2)");
        assert_eq!(out[0].values, vec![Some(21.0), Some(23.0)]);
    }

    #[test]
    fn window_before_the_data_is_null() {
        let out = eval_one(&read(), "movingAverage(a.b, 2)", -20, 20);
        assert_eq!(out[0].values, vec![None, Some(0.0), Some(0.5), Some(1.5)]);
    }
}
