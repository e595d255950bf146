//! Generated series: timeFunction (`time`) and sinFunction (`sin`).

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::functions::{Args, FunctionDef, Lit, Param, ParamType, Registry};
use crate::series::Series;

use super::summarize::bucket_count;

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[&SIN_FUNCTION, &TIME_FUNCTION]);
    r.alias("sin", &SIN_FUNCTION);
    r.alias("time", &TIME_FUNCTION);
}

// ---------------------------------------------------------------------------
// Generators

static TIME_FUNCTION: FunctionDef = FunctionDef::new("timeFunction", "Transform", time_function)
    .description(
        "A series whose value at each point is its timestamp (seconds since the \
         epoch), every `step` seconds from the start of the range.",
    )
    .params(&[
        Param::new("name", ParamType::String).required(),
        Param::new("step", ParamType::Integer).default(Lit::Int(60)),
    ]);

/// A series named `name` with `value(t)` at `t = start, start + step, ...`
/// below `end`, over the request's window.
fn generated(
    ev: &Evaluator<'_>,
    args: &Args,
    ctx: &Context,
    name: String,
    step: i64,
    value: impl Fn(i64) -> f64,
) -> Result<Value, ApiError> {
    if step <= 0 {
        return Err(args.error("step must be positive"));
    }
    ev.check_points(bucket_count(ctx.start, ctx.end, step))?;
    let values = (ctx.start..ctx.end)
        .step_by(step as usize)
        .map(|t| Some(value(t)))
        .collect();
    let series = Series::new(name, ctx.start, ctx.end, step, values, ctx.x_files_factor);
    Ok(Value::SeriesList(vec![series]))
}

fn time_function(ev: &mut Evaluator<'_>, ctx: &Context, args: Args) -> Result<Value, ApiError> {
    let name = args.string(0)?;
    let step = args.int(1)?;
    generated(ev, &args, ctx, name, step, |t| t as f64)
}

static SIN_FUNCTION: FunctionDef = FunctionDef::new("sinFunction", "Transform", sin_function)
    .description(
        "A sine wave of the timestamp (amplitude × sin(t)), every `step` seconds \
         from the start of the range.",
    )
    .params(&[
        Param::new("name", ParamType::String).required(),
        Param::new("amplitude", ParamType::Integer).default(Lit::Int(1)),
        Param::new("step", ParamType::Integer).default(Lit::Int(60)),
    ]);

fn sin_function(ev: &mut Evaluator<'_>, ctx: &Context, args: Args) -> Result<Value, ApiError> {
    let name = args.string(0)?;
    // graphite validates an integer but multiplies by whatever it was given
    let amplitude = args.float(1)?;
    let step = args.int(2)?;
    generated(ev, &args, ctx, name, step, |t| (t as f64).sin() * amplitude)
}

#[cfg(test)]
mod tests {

    use crate::functions::transform::tests::read;
    use crate::testing::eval_one;

    #[test]
    fn generators() {
        let out = eval_one(&read(), "time('t', 20)", 0, 60);
        assert_eq!(out[0].values, vec![Some(0.0), Some(20.0), Some(40.0)]);
        let out = eval_one(&read(), "sin('s', 2)", 0, 120);
        assert_eq!(out[0].values, vec![Some(0.0), Some(60f64.sin() * 2.0)]);
    }
}
