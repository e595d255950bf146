//! Derivatives, integrals and delay: new series built with
//! `series.copy(name, values)` from the previous values.

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::functions::{py_round, Args, FunctionDef, Param, ParamType, Registry};
use crate::time::parse_offset;

use super::{floor_div, ONLY_SERIES_LIST, SERIES_LIST};

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[
        &DELAY,
        &DERIVATIVE,
        &INTEGRAL,
        &INTEGRAL_BY_INTERVAL,
        &NON_NEGATIVE_DERIVATIVE,
        &PER_SECOND,
    ]);
}

// ---------------------------------------------------------------------------
// Derivatives and integrals: new series via `series.copy(name, values)`

static DERIVATIVE: FunctionDef = FunctionDef::new("derivative", "Transform", derivative)
    .description(
        "The difference between each value and the previous one (null when either \
         is null); no division by time, see perSecond.",
    )
    .params(ONLY_SERIES_LIST);

fn derivative(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let mut out = Vec::with_capacity(list.len());
    for s in &mut list {
        let mut prev: Option<f64> = None;
        let values = s
            .points()
            .iter()
            .map(|v| {
                let d = match (prev, *v) {
                    (Some(p), Some(x)) => Some(x - p),
                    _ => None,
                };
                prev = *v;
                d
            })
            .collect();
        s.tags.insert("derivative".into(), "1".into());
        out.push(s.copy_with(format!("derivative({})", s.name), s.start, values));
    }
    Ok(Value::SeriesList(out))
}

/// graphite's `_nonNegativeDelta`: `(delta, new previous value)`.
///
/// graphite-web 1.1.10 compares a null value with `maxValue`/`minValue`
/// and fails (a Python 3 TypeError, graphite-web #2384, fixed by #2912);
/// here a null value then gives no delta and clears the previous value,
/// which is what the fixed version does.
fn non_negative_delta(
    val: Option<f64>,
    prev: Option<f64>,
    max_value: Option<f64>,
    min_value: Option<f64>,
) -> (Option<f64>, Option<f64>) {
    if max_value.is_some() || min_value.is_some() {
        let Some(v) = val else {
            return (None, None);
        };
        if max_value.is_some_and(|m| v > m) || min_value.is_some_and(|m| v < m) {
            return (None, None);
        }
    }
    let (Some(p), Some(v)) = (prev, val) else {
        return (None, val);
    };
    if v >= p {
        return (Some(v - p), val);
    }
    if let Some(max) = max_value {
        return (Some(max + 1.0 + v - p - min_value.unwrap_or(0.0)), val);
    }
    if let Some(min) = min_value {
        return (Some(v - min), val);
    }
    (None, val)
}

const COUNTER_PARAMS: &[Param] = &[
    SERIES_LIST,
    Param::new("maxValue", ParamType::Float),
    Param::new("minValue", ParamType::Float),
];

static NON_NEGATIVE_DERIVATIVE: FunctionDef =
    FunctionDef::new("nonNegativeDerivative", "Transform", non_negative_deriv)
        .description(
            "The difference between each value and the previous one, for counters: a \
             decrease (reset or wrap) gives null, unless maxValue (wrap at maxValue) or \
             minValue (restart from minValue) says how the counter wrapped. A null input \
             also nulls the next point.",
        )
        .params(COUNTER_PARAMS);

fn non_negative_deriv(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    args: Args,
) -> Result<Value, ApiError> {
    counter_deltas(args, "nonNegativeDerivative", |delta, _| delta)
}

/// nonNegativeDerivative and perSecond: each series' deltas as
/// [`non_negative_delta`] computes them with the maxValue/minValue
/// arguments, mapped by `per_step(delta, step)`, tagged `function=1` and
/// named `function(<name>)`.
fn counter_deltas(
    mut args: Args,
    function: &str,
    per_step: fn(f64, f64) -> f64,
) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let max_value = args.opt_float(1)?;
    let min_value = args.opt_float(2)?;
    let mut out = Vec::with_capacity(list.len());
    for s in &mut list {
        let step = s.step as f64;
        let mut prev = None;
        let values = s
            .points()
            .iter()
            .map(|v| {
                let (delta, p) = non_negative_delta(*v, prev, max_value, min_value);
                prev = p;
                delta.map(|d| per_step(d, step))
            })
            .collect();
        s.tags.insert(function.into(), "1".into());
        out.push(s.copy_with(format!("{function}({})", s.name), s.start, values));
    }
    Ok(Value::SeriesList(out))
}

static PER_SECOND: FunctionDef = FunctionDef::new("perSecond", "Transform", per_second)
    .description(
        "nonNegativeDerivative divided by the step: the per-second rate of a \
         counter, rounded to 6 decimals (maxValue/minValue as in \
         nonNegativeDerivative).",
    )
    .params(COUNTER_PARAMS);

fn per_second(_ev: &mut Evaluator<'_>, _ctx: &Context, args: Args) -> Result<Value, ApiError> {
    counter_deltas(args, "perSecond", |delta, step| py_round(delta / step, 6))
}

static DELAY: FunctionDef = FunctionDef::new("delay", "Transform", delay)
    .description(
        "Shifts the values later by a number of steps (earlier when negative), \
         padding with nulls; timestamps stay.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("steps", ParamType::Integer).required(),
    ]);

fn delay(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let steps = args.int(1)?;
    let mut out = Vec::with_capacity(list.len());
    for s in &mut list {
        // graphite slices the raw list: series[-steps:] / series[:-steps]
        let len = s.values.len();
        let n = steps.unsigned_abs().min(len as u64) as usize;
        let values: Vec<Option<f64>> = if steps < 0 {
            let mut v = s.values[n..].to_vec();
            v.extend(std::iter::repeat(None).take(n));
            v
        } else {
            // series[:-0] is empty: delay(x, 0) has no values in graphite
            let mut v = vec![None; n];
            if steps > 0 {
                v.extend_from_slice(&s.values[..len - n]);
            }
            v
        };
        s.tags.insert("delay".into(), steps.to_string());
        out.push(s.copy_with(format!("delay({},{steps})", s.name), s.start, values));
    }
    Ok(Value::SeriesList(out))
}

static INTEGRAL: FunctionDef = FunctionDef::new("integral", "Transform", integral)
    .description(
        "The running sum of the values from the start of the range; nulls stay null \
         and do not reset the sum.",
    )
    .params(ONLY_SERIES_LIST);

fn integral(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let mut out = Vec::with_capacity(list.len());
    for s in &mut list {
        let mut current = 0.0;
        let values = s
            .points()
            .iter()
            .map(|v| {
                v.map(|x| {
                    current += x;
                    current
                })
            })
            .collect();
        s.tags.insert("integral".into(), "1".into());
        out.push(s.copy_with(format!("integral({})", s.name), s.start, values));
    }
    Ok(Value::SeriesList(out))
}

static INTEGRAL_BY_INTERVAL: FunctionDef =
    FunctionDef::new("integralByInterval", "Transform", integral_by_interval)
        .description(
            "Like integral, but the sum restarts at 0 every intervalUnit counted from \
             the start of the requested range; a null repeats the current sum.",
        )
        .params(&[
            SERIES_LIST,
            Param::new("intervalUnit", ParamType::String).required(),
        ]);

fn integral_by_interval(
    _ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let unit = args.string(1)?;
    let duration = parse_offset(&unit)?.abs();
    if duration == 0 {
        return Err(args.error(format!("interval {unit:?} is empty")));
    }
    let start = ctx.start;
    let mut out = Vec::with_capacity(list.len());
    for s in &mut list {
        let mut time = s.start;
        let mut current = 0.0;
        let values = s
            .points()
            .iter()
            .map(|v| {
                if floor_div(time - start, duration) != floor_div(time - start - s.step, duration) {
                    current = 0.0;
                }
                if let Some(x) = v {
                    current += x;
                }
                time += s.step;
                Some(current)
            })
            .collect();
        s.tags.insert("integralByInterval".into(), unit.clone());
        out.push(s.copy_with(
            format!("integralByInterval({},'{unit}')", s.name),
            s.start,
            values,
        ));
    }
    Ok(Value::SeriesList(out))
}

#[cfg(test)]
mod tests {

    use crate::functions::transform::tests::read;
    use crate::testing::eval_one;

    #[test]
    fn derivatives_and_counters() {
        let out = eval_one(&read(), "derivative(c.n)", -10, 50);
        assert_eq!(
            out[0].values,
            vec![None, Some(2.0), None, None, Some(-8.0), Some(3.0)]
        );
        let out = eval_one(&read(), "nonNegativeDerivative(c.n)", -10, 50);
        assert_eq!(
            out[0].values,
            vec![None, Some(2.0), None, None, None, Some(3.0)]
        );
        let out = eval_one(&read(), "nonNegativeDerivative(c.n, 10)", -10, 50);
        // 2 after 10 wraps at 10: 10 + 1 + 2 - 10
        assert_eq!(
            out[0].values,
            vec![None, Some(2.0), None, None, Some(3.0), Some(3.0)]
        );
        let out = eval_one(&read(), "nonNegativeDerivative(c.n, None, 0)", -10, 50);
        assert_eq!(out[0].values[4], Some(2.0));
        let out = eval_one(&read(), "perSecond(c.n)", -10, 50);
        assert_eq!(out[0].values[1], Some(0.2));
        let out = eval_one(&read(), "integral(c.n)", -10, 50);
        assert_eq!(out[0].values[3], Some(14.0));
        assert_eq!(out[0].values[2], None);
        let out = eval_one(&read(), "integralByInterval(c.n, '20s')", -10, 50);
        // window starts at -10: resets at 10, 30, 50
        assert_eq!(
            out[0].values,
            vec![
                Some(1.0),
                Some(3.0),
                Some(3.0),
                Some(10.0),
                Some(12.0),
                Some(5.0)
            ]
        );
    }

    #[test]
    fn delay_shifts_raw_values() {
        let out = eval_one(&read(), "delay(a.b, 1)", -10, 30);
        assert_eq!(out[0].name, "delay(a.b,1)");
        assert_eq!(out[0].values, vec![None, Some(1.5), None, Some(-2.0)]);
        let out = eval_one(&read(), "delay(a.b, -3)", -10, 30);
        assert_eq!(out[0].values, vec![Some(4.0), None, None, None]);
        assert!(eval_one(&read(), "delay(a.b, 0)", -10, 30)[0]
            .values
            .is_empty());
    }
}
