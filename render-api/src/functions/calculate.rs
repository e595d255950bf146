//! graphite-web's "Calculate" group: moving windows (movingWindow and
//! its shorthands, exponentialMovingAverage, stdev), percentiles,
//! linear regression, aggregate lines and identity (Holt-Winters forecasts
//! are in [`super::holt_winters`]).
//!
//! Functions that need points before the requested range (moving*,
//! exponentialMovingAverage, holtWinters*) re-evaluate their first
//! argument from an earlier start, as graphite does.

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::pyfmt::{float_repr, format_g};
use crate::series::Series;
use crate::time::{parse_at_time, parse_offset};

use super::special::constant_line;
use super::{
    percentile, py_round, py_slice, xff_ok, AggFunc, Args, FunctionDef, Lit, Param, ParamType,
    Registry, INT_OR_INTERVAL_SUGGESTIONS,
};

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[
        &MOVING_WINDOW,
        &MOVING_AVERAGE,
        &MOVING_MEDIAN,
        &MOVING_SUM,
        &MOVING_MIN,
        &MOVING_MAX,
        &EXPONENTIAL_MOVING_AVERAGE,
        &N_PERCENTILE,
        &STDEV,
        &LINEAR_REGRESSION,
        &AGGREGATE_LINE,
        &IDENTITY,
    ]);
}

pub(super) const SERIES_LIST: Param = Param::new("seriesList", ParamType::SeriesList).required();

const WINDOW_SIZE: Param = Param::new("windowSize", ParamType::IntOrInterval)
    .required()
    .suggestions(INT_OR_INTERVAL_SUGGESTIONS);

/// `(seriesList, windowSize, xFilesFactor=None)`: the moving* shorthands.
const MOVING_PARAMS: &[Param] = &[
    SERIES_LIST,
    WINDOW_SIZE,
    Param::new("xFilesFactor", ParamType::Float),
];

static MOVING_WINDOW: FunctionDef = FunctionDef::new("movingWindow", "Calculate", moving_window_fn)
    .description(
        "Applies an aggregation function (default average) to a window of the \
         preceding points ending at each point; the window is a number of points or \
         an interval such as '5min'. Data before the requested range is fetched so \
         that the first points have full windows.",
    )
    .params(&[
        SERIES_LIST,
        WINDOW_SIZE,
        Param::new("func", ParamType::AggFunc).default(Lit::Str("average")),
        Param::new("xFilesFactor", ParamType::Float),
    ]);

fn moving_window_fn(ev: &mut Evaluator<'_>, ctx: &Context, args: Args) -> Result<Value, ApiError> {
    let func = args.string(2)?;
    let xff = args.opt_float(3)?;
    moving_window(ev, ctx, args, &func, xff)
}

/// Declares a movingWindow shorthand with a fixed aggregation function.
macro_rules! moving {
    ($static:ident, $fn:ident, $name:literal, $func:literal, $doc:literal) => {
        static $static: FunctionDef = FunctionDef::new($name, "Calculate", $fn)
            .description($doc)
            .params(MOVING_PARAMS);

        fn $fn(ev: &mut Evaluator<'_>, ctx: &Context, args: Args) -> Result<Value, ApiError> {
            let xff = args.opt_float(2)?;
            moving_window(ev, ctx, args, $func, xff)
        }
    };
}

moving!(
    MOVING_AVERAGE,
    moving_average,
    "movingAverage",
    "average",
    "The average of the window of points ending at each point (a number of points or an \
     interval such as '5min'); see movingWindow."
);
moving!(
    MOVING_MEDIAN,
    moving_median,
    "movingMedian",
    "median",
    "The median of the window of points ending at each point; see movingWindow."
);
moving!(
    MOVING_SUM,
    moving_sum,
    "movingSum",
    "sum",
    "The sum of the window of points ending at each point; see movingWindow."
);
moving!(
    MOVING_MIN,
    moving_min,
    "movingMin",
    "min",
    "The minimum of the window of points ending at each point; see movingWindow."
);
moving!(
    MOVING_MAX,
    moving_max,
    "movingMax",
    "max",
    "The maximum of the window of points ending at each point; see movingWindow."
);

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
    let (preview_seconds, window_points) = window_size(&args, &window, &list)?;
    drop(list);
    let previews = preview(ev, ctx, &args, preview_seconds)?;
    let tag_name = format!("moving{}", capitalize(func));
    let mut result = Vec::with_capacity(previews.len());
    for mut series in previews {
        ev.check_deadline()?;
        let (name, points) =
            windowed_name(&tag_name, &series, &window, preview_seconds, window_points);
        series.tags.insert(tag_name.clone(), window.py_str());
        let xff = x_files_factor.unwrap_or(series.x_files_factor);
        let values = moving_values(&series.values, points, agg, xff);
        result.push(series.copy_with(name, series.start.saturating_add(preview_seconds), values));
    }
    Ok(Value::SeriesList(result))
}

/// graphite's moving-window loop: output `k` aggregates the non-null
/// values of `values[k + 1 .. k + 1 + points]` (the window ending at raw
/// index `k + points`; index 0, one window before the range, is never
/// used), null unless `non-null / points >= xff`.
///
/// Windows of plain data (no NaN, no −0.0) take exact shortcuts: a running
/// count, monotonic deques for min/max/range, a sorted window for the
/// median, the last non-null index for last; sums and averages still add
/// each window left to right, as Python does, so every result is
/// bit-identical to [`moving_values_generic`].
fn moving_values(values: &[Option<f64>], points: i64, agg: AggFunc, xff: f64) -> Vec<Option<f64>> {
    let plain = values
        .iter()
        .flatten()
        .all(|v| !(v.is_nan() || (*v == 0.0 && v.is_sign_negative())));
    let Ok(w) = usize::try_from(points) else {
        return moving_values_generic(values, points, agg, xff);
    };
    if !plain || w == 0 || values.len() <= w {
        return moving_values_generic(values, points, agg, xff);
    }
    let outputs = values.len() - w;
    let mut out = Vec::with_capacity(outputs);
    // the window of output k is [k + 1, k + 1 + w)
    let mut count = values[1..=w].iter().filter(|v| v.is_some()).count();
    let keep = |count: usize| count > 0 && xff_ok(count, w, xff);
    match agg {
        AggFunc::Average | AggFunc::AvgZero | AggFunc::Sum | AggFunc::Count => {
            for k in 0..outputs {
                if k > 0 {
                    count += usize::from(values[k + w].is_some());
                    count -= usize::from(values[k].is_some());
                }
                out.push(if keep(count) {
                    Some(match agg {
                        AggFunc::Count => count as f64,
                        _ => {
                            let sum = values[k + 1..k + 1 + w]
                                .iter()
                                .flatten()
                                .fold(0.0, |acc, v| acc + v);
                            if agg == AggFunc::Sum {
                                sum
                            } else {
                                sum / count as f64
                            }
                        }
                    })
                } else {
                    None
                });
            }
        }
        AggFunc::Min | AggFunc::Max | AggFunc::Range => {
            // fronts hold the earliest minimum / maximum of the window
            let mut mins: std::collections::VecDeque<usize> = Default::default();
            let mut maxs: std::collections::VecDeque<usize> = Default::default();
            let value = |i: usize| values[i].unwrap_or(f64::NAN);
            for i in 1..values.len() {
                if let Some(v) = values[i] {
                    while mins.back().is_some_and(|&j| value(j) > v) {
                        mins.pop_back();
                    }
                    mins.push_back(i);
                    while maxs.back().is_some_and(|&j| value(j) < v) {
                        maxs.pop_back();
                    }
                    maxs.push_back(i);
                }
                let Some(k) = slide_count(&mut count, values, i, w) else {
                    continue;
                };
                while mins.front().is_some_and(|&j| j <= k) {
                    mins.pop_front();
                }
                while maxs.front().is_some_and(|&j| j <= k) {
                    maxs.pop_front();
                }
                let min = mins.front().map(|&j| value(j));
                let max = maxs.front().map(|&j| value(j));
                out.push(match (keep(count), agg, min, max) {
                    (true, AggFunc::Min, Some(min), _) => Some(min),
                    (true, AggFunc::Max, _, Some(max)) => Some(max),
                    (true, _, Some(min), Some(max)) => Some(max - min),
                    _ => None,
                });
            }
        }
        AggFunc::Median => {
            let mut sorted: Vec<f64> = values[1..=w].iter().flatten().copied().collect();
            sorted.sort_by(f64::total_cmp);
            for k in 0..outputs {
                if k > 0 {
                    if let Some(old) = values[k] {
                        let at = sorted.partition_point(|x| *x < old);
                        sorted.remove(at);
                    }
                    if let Some(new) = values[k + w] {
                        let at = sorted.partition_point(|x| *x <= new);
                        sorted.insert(at, new);
                    }
                }
                out.push(if keep(sorted.len()) {
                    let mid = sorted.len() / 2;
                    Some(if sorted.len() % 2 == 0 {
                        (sorted[mid - 1] + sorted[mid]) / 2.0
                    } else {
                        sorted[mid]
                    })
                } else {
                    None
                });
            }
        }
        AggFunc::Last => {
            let mut last: Option<usize> = None;
            for i in 1..values.len() {
                if values[i].is_some() {
                    last = Some(i);
                }
                let Some(k) = slide_count(&mut count, values, i, w) else {
                    continue;
                };
                out.push(match last {
                    Some(j) if j > k && keep(count) => values[j],
                    _ => None,
                });
            }
        }
        AggFunc::Diff | AggFunc::Stddev | AggFunc::Multiply => {
            return moving_values_generic(values, points, agg, xff)
        }
    }
    out
}

/// [`moving_values`] the way graphite writes it: each window's non-null
/// values collected and aggregated.
fn moving_values_generic(
    values: &[Option<f64>],
    points: i64,
    agg: AggFunc,
    xff: f64,
) -> Vec<Option<f64>> {
    let len = values.len() as i64;
    let mut out = Vec::with_capacity(values.len());
    let mut window = Vec::new();
    let mut i = points + 1;
    while i <= len {
        let lo = (i - points).clamp(0, len) as usize;
        let hi = i.clamp(0, len) as usize;
        window.clear();
        if lo < hi {
            window.extend(values[lo..hi].iter().flatten());
        }
        out.push(
            if !window.is_empty() && xff_ok(window.len(), points.max(0) as usize, xff) {
                agg.apply_non_null(&window)
            } else {
                None
            },
        );
        i += 1;
    }
    out
}

/// graphite's window arithmetic for moving* and exponentialMovingAverage:
/// an interval string gives `(abs(seconds), None)`; a number of points
/// gives `(largest step × points, Some(points))`.
fn window_size(
    args: &Args,
    window: &Value,
    list: &[Series],
) -> Result<(i64, Option<i64>), ApiError> {
    Ok(match window {
        Value::Str(interval) => (parse_offset(interval)?.abs(), None),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
            let n = match window {
                Value::Int(n) => *n,
                Value::Float(x) => x.trunc() as i64,
                Value::Bool(b) => i64::from(*b),
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
    })
}

/// Moves the running non-null `count` to the window that ends at raw
/// index `i` and returns that window's output index `k = i - w`; `None`
/// while the first window is still filling.
fn slide_count(count: &mut usize, values: &[Option<f64>], i: usize, w: usize) -> Option<usize> {
    let k = i.checked_sub(w)?;
    if k > 0 {
        *count += usize::from(values[i].is_some());
        *count -= usize::from(values[k].is_some());
    }
    Some(k)
}

/// A moving-window result's name, `function(<series>,<window>)` (an
/// interval quoted, a number of points as given), and its window in
/// points: for an interval, `preview_seconds` over the series' own step.
fn windowed_name(
    function: &str,
    series: &Series,
    window: &Value,
    preview_seconds: i64,
    window_points: Option<i64>,
) -> (String, i64) {
    match window {
        Value::Str(interval) => (
            format!("{function}({},\"{interval}\")", series.name),
            if series.step > 0 {
                preview_seconds / series.step
            } else {
                0
            },
        ),
        other => (
            format!("{function}({},{})", series.name, other.py_str()),
            window_points.unwrap_or(0),
        ),
    }
}

/// Re-evaluates parameter 0 from `preview_seconds` before the request.
pub(super) fn preview(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    args: &Args,
    preview_seconds: i64,
) -> Result<Vec<Series>, ApiError> {
    let mut preview_ctx = ctx.clone();
    preview_ctx.start = ctx.start.saturating_sub(preview_seconds);
    ev.evaluate_with(&preview_ctx, args.raw()?, args.replacements())
}

static EXPONENTIAL_MOVING_AVERAGE: FunctionDef =
    FunctionDef::new("exponentialMovingAverage", "Calculate", exp_moving_average)
        .description(
            "Exponential moving average with smoothing constant 2 / (windowSize + 1); \
             an interval window uses its number of seconds in the constant. Seeded with \
             the average of the first window (fetched before the requested range); \
             values rounded to 6 decimals, nulls stay null.",
        )
        .params(&[SERIES_LIST, WINDOW_SIZE]);

fn exp_moving_average(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    if list.is_empty() {
        return Ok(Value::SeriesList(list));
    }
    let window = args.value(1);
    let (preview_seconds, window_points) = window_size(&args, &window, &list)?;
    let constant = 2.0 / (window_points.unwrap_or(preview_seconds) as f64 + 1.0);
    drop(list);
    let previews = preview(ev, ctx, &args, preview_seconds)?;
    let mut result = Vec::with_capacity(previews.len());
    for mut series in previews {
        let (name, points) = windowed_name(
            "exponentialMovingAverage",
            &series,
            &window,
            preview_seconds,
            window_points,
        );
        series
            .tags
            .insert("exponentialMovingAverage".into(), window.py_str());
        let seed_range = py_slice(series.values.len(), None, Some(points));
        let mut ema = AggFunc::Average
            .apply(&series.values[seed_range])
            .unwrap_or(0.0);
        let mut values = vec![Some(py_round(ema, 6))];
        let first = usize::try_from(points).unwrap_or(0);
        for v in series.values.iter().skip(first) {
            values.push(v.map(|x| {
                ema = constant * x + (1.0 - constant) * ema;
                py_round(ema, 6)
            }));
        }
        result.push(series.copy_with(name, series.start.saturating_add(preview_seconds), values));
    }
    Ok(Value::SeriesList(result))
}

static N_PERCENTILE: FunctionDef = FunctionDef::new("nPercentile", "Calculate", n_percentile)
    .description(
        "A constant line per series at the n-th percentile of its own values \
         (all-null series are dropped).",
    )
    .params(&[SERIES_LIST, Param::new("n", ParamType::Float).required()]);

fn n_percentile(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let n = args.float(1)?;
    if n == 0.0 {
        return Err(args.error("The requested percent is required to be greater than 0"));
    }
    let mut out = Vec::with_capacity(list.len());
    for mut s in list {
        let Some(p) = percentile(&s.points(), n, false).map_err(|e| args.error(e))? else {
            continue;
        };
        s.tags.insert("nPercentile".into(), float_repr(n));
        let count = if s.step > 0 {
            usize::try_from((s.end - s.start) / s.step).unwrap_or(0)
        } else {
            0
        };
        let name = format!("nPercentile({}, {})", s.name, format_g(n));
        out.push(s.copy_with(name, s.start, vec![Some(p); count]));
    }
    Ok(Value::SeriesList(out))
}

static STDEV: FunctionDef = FunctionDef::new("stdev", "Calculate", stdev)
    .description(
        "Rolling standard deviation over the last `points` values (no data before \
         the range is fetched); null where the window's fraction of non-null values \
         is below windowTolerance.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("points", ParamType::Integer).required(),
        Param::new("windowTolerance", ParamType::Float).default(Lit::Float(0.1)),
    ]);

fn stdev(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let points = args.int(1)?;
    let tolerance = args.float(2)?;
    if points <= 0 {
        return Err(args.error("points must be a positive number of values"));
    }
    let window = usize::try_from(points).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(list.len());
    for mut s in list {
        s.tags.insert("stdev".into(), points.to_string());
        let name = format!("stdev({},{points})", s.name);
        // running sums updated in graphite's order, so rounding matches
        let mut valid: i64 = 0;
        let mut sum = 0.0;
        let mut sum_sq = 0.0;
        let mut values = Vec::with_capacity(s.values.len());
        for (index, new) in s.values.iter().enumerate() {
            let dropped = if index < window {
                None
            } else {
                s.values[index - window]
            };
            if dropped.is_some() {
                valid -= 1;
            }
            if new.is_some() {
                valid += 1;
            }
            if let Some(d) = dropped {
                sum -= d;
                sum_sq -= d * d;
            }
            if let Some(v) = new {
                sum += v;
                sum_sq += v * v;
            }
            values.push(if valid > 0 && valid as f64 / points as f64 >= tolerance {
                let radicand = valid as f64 * sum_sq - sum * sum;
                (radicand >= 0.0).then(|| radicand.sqrt() / valid as f64)
            } else {
                None
            });
        }
        let start = s.start;
        out.push(s.copy_with(name, start, values));
    }
    Ok(Value::SeriesList(out))
}

/// A new series as graphite's `TimeSeries(name, start, end, step, values,
/// tags=..., xFilesFactor=...)`: default consolidation, path expression
/// = name.
pub(super) fn new_series_like(
    like: &Series,
    name: String,
    start: i64,
    values: Vec<Option<f64>>,
) -> Series {
    let mut s = Series::new(
        name,
        start,
        like.end,
        like.step,
        values,
        like.x_files_factor,
    );
    s.tags = like.tags.clone();
    s
}

static LINEAR_REGRESSION: FunctionDef =
    FunctionDef::new("linearRegression", "Calculate", linear_regression)
        .description(
            "The least-squares line through each series' values between startSourceAt \
             and endSourceAt (default: the requested range), drawn over the requested \
             range.",
        )
        .params(&[
            SERIES_LIST,
            Param::new("startSourceAt", ParamType::Date),
            Param::new("endSourceAt", ParamType::Date),
        ]);

fn linear_regression(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let mut source_ctx = ctx.clone();
    // graphite parses these without the request's `now`: relative times
    // count from the wall clock
    let date = |i: usize| -> Result<Option<i64>, ApiError> {
        match args.value(i) {
            Value::None => Ok(None),
            Value::Int(t) => Ok(Some(t)),
            other => Ok(Some(parse_at_time(
                &other.py_str(),
                ctx.tz,
                ctx.wall_clock,
            )?)),
        }
    };
    if let Some(start) = date(1)? {
        source_ctx.start = start;
    }
    if let Some(end) = date(2)? {
        source_ctx.end = end;
    }
    let sources = ev.evaluate_with(&source_ctx, args.raw()?, args.replacements())?;
    let window = format!("{}, {}", source_ctx.start, source_ctx.end);
    let mut out = Vec::with_capacity(list.len());
    for (source, mut series) in sources.iter().zip(list) {
        series
            .tags
            .insert("linearRegressions".into(), window.clone());
        let name = format!("linearRegression({}, {window})", series.name);
        let Some((factor, offset)) = least_squares(&source.points(), source.step, source.start)
        else {
            continue;
        };
        let values = (0..series.values.len())
            .map(|i| Some(offset + (series.start + i as i64 * series.step) as f64 * factor))
            .collect();
        let start = series.start;
        out.push(new_series_like(&series, name, start, values));
    }
    Ok(Value::SeriesList(out))
}

/// graphite's `_linearRegressionAnalysis`: `(factor, offset)` of the line
/// `value = offset + timestamp * factor` fitted to the non-null values by
/// index, `None` when fewer than two values make it undefined. Index sums
/// are exact integers, as Python's.
fn least_squares(values: &[Option<f64>], step: i64, start: i64) -> Option<(f64, f64)> {
    let mut n: i128 = 0;
    let mut sum_i: i128 = 0;
    let mut sum_ii: i128 = 0;
    let mut sum_v = 0.0;
    let mut sum_iv = 0.0;
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v {
            let i = i as i128;
            n += 1;
            sum_i += i;
            sum_ii += i * i;
            sum_v += v;
            sum_iv += i as f64 * v;
        }
    }
    let denominator = (n * sum_ii - sum_i * sum_i) as f64;
    if denominator == 0.0 {
        return None;
    }
    let factor = (n as f64 * sum_iv - sum_i as f64 * sum_v) / denominator / step as f64;
    let offset =
        (sum_ii as f64 * sum_v - sum_iv * sum_i as f64) / denominator - factor * start as f64;
    Some((factor, offset))
}

static AGGREGATE_LINE: FunctionDef = FunctionDef::new("aggregateLine", "Calculate", aggregate_line)
    .description(
        "A horizontal line per series at an aggregate of its values (func, default \
         average): three points over the range, or the series' own points with \
         keepStep.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("func", ParamType::AggFunc).default(Lit::Str("average")),
        Param::new("keepStep", ParamType::Boolean).default(Lit::Bool(false)),
    ]);

fn aggregate_line(
    _ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let func = super::sorting::agg_func_arg(&args, 1)?;
    let keep_step = args.bool(2)?;
    let mut out = Vec::with_capacity(list.len());
    for s in list {
        let value = func.apply(&s.points());
        let name = match value {
            Some(v) => format!("aggregateLine({}, {})", s.name, format_g(v)),
            None => format!("aggregateLine({}, None)", s.name),
        };
        if keep_step {
            let values = vec![value; s.values.len()];
            out.push(s.copy_with(name, s.start, values));
        } else {
            let mut line = constant_line(ctx, value);
            if func == AggFunc::Count {
                // str() of the int count has no ".0"
                let shown = value.map_or_else(|| "None".into(), |v| format!("{}", v as i64));
                line.tags.insert("name".into(), shown);
            }
            line.name.clone_from(&name);
            line.path_expression = name;
            out.push(line);
        }
    }
    Ok(Value::SeriesList(out))
}

static IDENTITY: FunctionDef = FunctionDef::new("identity", "Calculate", identity)
    .description("A series whose value is its own timestamp, every 60 seconds over the range.")
    .params(&[Param::new("name", ParamType::String).required()]);

fn identity(_ev: &mut Evaluator<'_>, ctx: &Context, args: Args) -> Result<Value, ApiError> {
    let name = args.string(0)?;
    const STEP: i64 = 60;
    let count = super::special::generated_points(ctx, STEP)?;
    let values = (0..count)
        .map(|i| Some((ctx.start + i as i64 * STEP) as f64))
        .collect();
    let mut s = Series::new(
        name.clone(),
        ctx.start,
        ctx.end,
        STEP,
        values,
        ctx.x_files_factor,
    );
    s.path_expression = format!("identity(\"{name}\")");
    Ok(Value::SeriesList(vec![s]))
}

#[cfg(test)]
mod tests {
    use super::{least_squares, AggFunc};
    use crate::testing::{eval_one, MemoryRead};

    proptest::proptest! {
        /// The shortcuts of moving windows give exactly graphite's results.
        #[test]
        fn moving_shortcuts_are_exact(
            values in proptest::collection::vec(
                proptest::option::weighted(0.8, -50i32..50), 0..60),
            points in 0i64..12,
            xff in proptest::sample::select(vec![0.0, 0.3, 0.75, 1.0]),
            scale in proptest::sample::select(vec![1.0, 0.1, 1e-3]),
        ) {
            let values: Vec<Option<f64>> =
                values.iter().map(|v| v.map(|x| f64::from(x) * scale)).collect();
            for agg in [
                AggFunc::Average, AggFunc::AvgZero, AggFunc::Sum, AggFunc::Count,
                AggFunc::Min, AggFunc::Max, AggFunc::Range, AggFunc::Median, AggFunc::Last,
            ] {
                let fast = super::moving_values(&values, points, agg, xff);
                let slow = super::moving_values_generic(&values, points, agg, xff);
                let bits = |v: &[Option<f64>]| -> Vec<Option<u64>> {
                    v.iter().map(|x| x.map(f64::to_bits)).collect()
                };
                proptest::prop_assert_eq!(bits(&fast), bits(&slow), "{:?}", agg);
            }
        }
    }

    #[test]
    fn linear_regression_fits_a_line() {
        let (factor, offset) =
            least_squares(&[Some(1.0), None, Some(5.0), Some(7.0)], 10, 100).expect("defined");
        assert!((factor - 0.2).abs() < 1e-12 && (offset + 19.0).abs() < 1e-9);
        assert_eq!(least_squares(&[None, Some(1.0)], 10, 0), None);
        let out = eval_one(&read(), "linearRegression(a.b)", 100, 150);
        assert_eq!(out[0].name, "linearRegression(a.b, 100, 150)");
        assert_eq!(out[0].tags["linearRegressions"], "100, 150");
        assert_eq!(
            out[0].values,
            vec![Some(11.0), Some(12.0), Some(13.0), Some(14.0), Some(15.0)]
        );
        let out = eval_one(&read(), "linearRegression(a.b, 10, 40)", 100, 120);
        assert_eq!(out[0].values, vec![Some(11.0), Some(12.0)]);
    }

    #[test]
    fn ema_stdev_percentile_and_lines() {
        let out = eval_one(&read(), "exponentialMovingAverage(a.b, 3)", 100, 130);
        // seed = mean of 8, 9, 10 (fetched from 70); then 11, 12, 13 with c = 0.5
        assert_eq!(out[0].name, "exponentialMovingAverage(a.b,3)");
        assert_eq!(
            out[0].values,
            vec![Some(9.0), Some(10.0), Some(11.0), Some(12.0)]
        );
        assert_eq!(out[0].start, 110);
        let out = eval_one(&read(), "stdev(a.b, 2)", 100, 130);
        assert_eq!(out[0].name, "stdev(a.b,2)");
        assert_eq!(out[0].values, vec![Some(0.0), Some(0.5), Some(0.5)]);
        let out = eval_one(&read(), "nPercentile(a.b, 50)", 100, 150);
        assert_eq!(out[0].name, "nPercentile(a.b, 50)");
        assert_eq!(out[0].values, vec![Some(13.0); 5]);
        let out = eval_one(&read(), "aggregateLine(a.b, 'max')", 100, 150);
        assert_eq!(out[0].name, "aggregateLine(a.b, 15)");
        assert_eq!(out[0].tags["name"], "15.0");
        let out = eval_one(&read(), "identity('t')", 0, 150);
        assert_eq!(out[0].values.len(), 3);
        assert_eq!(out[0].values[2], Some(120.0));
    }

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
