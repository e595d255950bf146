//! graphite-web's "Graph" group: styling functions. They set options the
//! PNG renderer reads (kept in [`Series::options`], invisible in JSON) and
//! rename series where graphite does; only `stacked` changes values.

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::pyfmt::{float_repr, format_g};
use crate::series::Series;

use super::special::constant_line;
use super::{Args, FunctionDef, Lit, Param, ParamType, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[
        &STACKED,
        &AREA_BETWEEN,
        &ALPHA,
        &COLOR,
        &SECOND_Y_AXIS,
        &DRAW_AS_INFINITE,
        &LINE_WIDTH,
        &DASHED,
        &THRESHOLD,
        &VERTICAL_LINE,
    ]);
    // graphite declares (seriesList, stack) for Python's (seriesLists, stackName)
    r.python_signature("stacked", "(seriesLists, stackName='__DEFAULT__')");
}

const SERIES_LIST: Param = Param::new("seriesList", ParamType::SeriesList).required();

/// The stack `stacked()` uses when none is named; only it renames.
const DEFAULT_STACK: &str = "__DEFAULT__";

static STACKED: FunctionDef = FunctionDef::new("stacked", "Graph", stacked)
    .description(
        "Stacks the series: each becomes the running per-timestamp total of the \
         stack so far (nulls stay null and add nothing). Stacks are shared by all \
         targets of a request; a named stack keeps the series names.",
    )
    .params(&[SERIES_LIST, Param::new("stack", ParamType::String)]);

fn stacked(ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let stack = args
        .opt_string(1)?
        .unwrap_or_else(|| DEFAULT_STACK.to_string());
    let totals = ev.stack_totals(&stack);
    let mut out = Vec::with_capacity(list.len());
    for mut series in list {
        let mut values = Vec::with_capacity(series.values.len());
        for (i, v) in series.values.iter().enumerate() {
            if totals.len() <= i {
                totals.push(0.0);
            }
            values.push(v.map(|x| {
                totals[i] += x;
                totals[i]
            }));
        }
        let name = if stack == DEFAULT_STACK {
            series.tags.insert("stacked".into(), stack.clone());
            format!("stacked({})", series.name)
        } else {
            series.name.clone()
        };
        let start = series.start;
        let mut copy = series.copy_with(name, start, values);
        copy.options.insert("stacked".into(), "True".into());
        out.push(copy);
    }
    Ok(Value::SeriesList(out))
}

static AREA_BETWEEN: FunctionDef = FunctionDef::new("areaBetween", "Graph", area_between_fn)
    .description(
        "Draws the area between exactly two series (lower first); both are renamed \
         areaBetween(<path expression of the upper one>).",
    )
    .params(&[SERIES_LIST]);

fn area_between_fn(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    area_between(list)
        .map(Value::SeriesList)
        .map_err(|e| args.error(e))
}

/// graphite's `areaBetween` on a list of exactly two series.
pub(super) fn area_between(mut list: Vec<Series>) -> Result<Vec<Series>, String> {
    let [lower, upper] = list.as_mut_slice() else {
        return Err(format!(
            "areaBetween series argument must reference *exactly* 2 series, not {}",
            list.len()
        ));
    };
    lower.options.insert("stacked".into(), "True".into());
    lower.options.insert("invisible".into(), "True".into());
    upper.options.insert("stacked".into(), "True".into());
    upper.tags.insert("areaBetween".into(), "1".into());
    // graphite makes both series share one tags dict
    lower.tags = upper.tags.clone();
    let name = format!("areaBetween({})", upper.path_expression);
    lower.name.clone_from(&name);
    upper.name = name;
    Ok(list)
}

static ALPHA: FunctionDef = FunctionDef::new("alpha", "Graph", alpha)
    .description(
        "Sets the opacity (0 to 1) the series is drawn with; names and values are \
         unchanged.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("alpha", ParamType::Float).required(),
    ]);

fn alpha(_ev: &mut Evaluator<'_>, _ctx: &Context, args: Args) -> Result<Value, ApiError> {
    let value = float_repr(args.float(1)?);
    set_option(args, "alpha", value)
}

static COLOR: FunctionDef = FunctionDef::new("color", "Graph", color)
    .description(
        "Sets the colour the series is drawn with (a name or hex code); names and \
         values are unchanged.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("theColor", ParamType::String).required(),
    ]);

fn color(_ev: &mut Evaluator<'_>, _ctx: &Context, args: Args) -> Result<Value, ApiError> {
    let value = args.string(1)?;
    set_option(args, "color", value)
}

static LINE_WIDTH: FunctionDef = FunctionDef::new("lineWidth", "Graph", line_width)
    .description(
        "Sets the line width the series is drawn with; names and values are \
         unchanged.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("width", ParamType::Float).required(),
    ]);

fn line_width(_ev: &mut Evaluator<'_>, _ctx: &Context, args: Args) -> Result<Value, ApiError> {
    let value = float_repr(args.float(1)?);
    set_option(args, "lineWidth", value)
}

/// Sets one graph option on every series of parameter 0.
fn set_option(mut args: Args, key: &str, value: String) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    for s in &mut list {
        s.options.insert(key.to_string(), value.clone());
    }
    Ok(Value::SeriesList(list))
}

static SECOND_Y_AXIS: FunctionDef = FunctionDef::new("secondYAxis", "Graph", second_y_axis)
    .description(
        "Draws the series against a second Y axis on the right; renames it \
         secondYAxis(<name>).",
    )
    .params(&[SERIES_LIST]);

fn second_y_axis(_ev: &mut Evaluator<'_>, _ctx: &Context, args: Args) -> Result<Value, ApiError> {
    flag_and_rename(args, "secondYAxis")
}

static DRAW_AS_INFINITE: FunctionDef =
    FunctionDef::new("drawAsInfinite", "Graph", draw_as_infinite)
        .description(
            "Draws a vertical line at every non-zero value (for events); renames the \
             series drawAsInfinite(<name>), values unchanged.",
        )
        .params(&[SERIES_LIST]);

fn draw_as_infinite(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    args: Args,
) -> Result<Value, ApiError> {
    flag_and_rename(args, "drawAsInfinite")
}

/// graphite's pattern for boolean styles: option and tag set, name
/// wrapped as `<flag>(<name>)`.
fn flag_and_rename(mut args: Args, flag: &str) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    for s in &mut list {
        s.options.insert(flag.to_string(), "True".into());
        s.tags.insert(flag.to_string(), "1".into());
        s.name = format!("{flag}({})", s.name);
    }
    Ok(Value::SeriesList(list))
}

static DASHED: FunctionDef = FunctionDef::new("dashed", "Graph", dashed)
    .description(
        "Draws the series dashed with the given dash length; renames it \
         dashed(<name>, <length>).",
    )
    .params(&[
        SERIES_LIST,
        Param::new("dashLength", ParamType::Integer).default(Lit::Int(5)),
    ]);

fn dashed(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let (tag, shown) = match args.value(1) {
        Value::Int(i) => (i.to_string(), i.to_string()),
        Value::None => ("5".to_string(), "5".to_string()),
        other => {
            let x = args.float(1)?;
            let tag = match other {
                Value::Float(_) => float_repr(x),
                other => other.py_str(),
            };
            (tag, format_g(x))
        }
    };
    for s in &mut list {
        s.tags.insert("dashed".into(), tag.clone());
        s.name = format!("dashed({}, {shown})", s.name);
        s.options.insert("dashed".into(), tag.clone());
    }
    Ok(Value::SeriesList(list))
}

static THRESHOLD: FunctionDef = FunctionDef::new("threshold", "Graph", threshold)
    .description(
        "A horizontal line at the value over the requested range, like \
         constantLine, optionally named by label and drawn in a colour.",
    )
    .params(&[
        Param::new("value", ParamType::Float).required(),
        Param::new("label", ParamType::String),
        Param::new("color", ParamType::String),
    ]);

fn threshold(_ev: &mut Evaluator<'_>, ctx: &Context, args: Args) -> Result<Value, ApiError> {
    let value = args.float(0)?;
    let mut line = constant_line(ctx, Some(value));
    if let Some(label) = args.opt_string(1)?.filter(|l| !l.is_empty()) {
        line.name = label;
    }
    if let Some(color) = args.opt_string(2)?.filter(|c| !c.is_empty()) {
        line.options.insert("color".into(), color);
    }
    Ok(Value::SeriesList(vec![line]))
}

static VERTICAL_LINE: FunctionDef = FunctionDef::new("verticalLine", "Graph", vertical_line)
    .description(
        "A vertical line at the time ts (any from/until form), optionally named by \
         label and drawn in a colour; the time must lie within the requested range.",
    )
    .params(&[
        Param::new("ts", ParamType::Date).required(),
        Param::new("label", ParamType::String),
        Param::new("color", ParamType::String),
    ]);

fn vertical_line(_ev: &mut Evaluator<'_>, ctx: &Context, args: Args) -> Result<Value, ApiError> {
    // graphite parses ts in the request's zone but relative to the wall
    // clock, not the request's `now`
    let ts = match args.value(0) {
        Value::Int(t) => t,
        other => crate::time::parse_at_time(&other.py_str(), ctx.tz, ctx.wall_clock)?,
    };
    if ts < ctx.start {
        return Err(args.error(format!("timestamp {ts} exists before start of range")));
    }
    if ts > ctx.end {
        return Err(args.error(format!("timestamp {ts} exists after end of range")));
    }
    // graphite names the series by the label as given: Python's None
    // without one (JSON null there; the string "None" here, see docs)
    let label = args.opt_string(1)?.unwrap_or_else(|| "None".to_string());
    let mut line = Series::new(
        label,
        ts,
        ts,
        1,
        vec![Some(1.0), Some(1.0)],
        ctx.x_files_factor,
    );
    line.options.insert("drawAsInfinite".into(), "True".into());
    if let Some(color) = args.opt_string(2)?.filter(|c| !c.is_empty()) {
        line.options.insert("color".into(), color);
    }
    Ok(Value::SeriesList(vec![line]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{eval_one, MemoryRead};

    fn read() -> MemoryRead {
        MemoryRead::new()
            .with("a.x", 0, 10, &[Some(1.0), None, Some(3.0)])
            .with("a.y", 0, 10, &[Some(10.0), Some(20.0), None])
    }

    #[test]
    fn stacked_accumulates_across_series_and_targets() {
        let out = eval_one(&read(), "stacked(a.*)", -10, 20);
        assert_eq!(out[0].name, "stacked(a.x)");
        assert_eq!(out[0].values, [Some(1.0), None, Some(3.0)]);
        assert_eq!(out[1].values, [Some(11.0), Some(20.0), None]);
        assert_eq!(out[1].tags["stacked"], "__DEFAULT__");
        let read = read();
        let exprs = [
            crate::parse_target("stacked(a.x, 'mine')").unwrap(),
            crate::parse_target("stacked(a.y, 'mine')").unwrap(),
        ];
        let mut ev = Evaluator::new(&read, Default::default());
        let out = ev.evaluate_targets(&Context::new(-10, 20), &exprs).unwrap();
        assert_eq!(out[1].name, "a.y");
        assert_eq!(out[1].values, [Some(11.0), Some(20.0), None]);
    }

    #[test]
    fn styles_keep_data_and_rename_where_graphite_does() {
        let r = read();
        let out = eval_one(&r, "color(lineWidth(alpha(a.x, 0.5), 2), 'red')", -10, 20);
        assert_eq!(out[0].name, "a.x");
        assert_eq!(out[0].options["color"], "red");
        assert_eq!(out[0].options["alpha"], "0.5");
        assert_eq!(
            eval_one(&r, "secondYAxis(drawAsInfinite(a.x))", -10, 20)[0].name,
            "secondYAxis(drawAsInfinite(a.x))"
        );
        let out = eval_one(&r, "dashed(a.x)", -10, 20);
        assert_eq!(
            (out[0].name.as_str(), out[0].tags["dashed"].as_str()),
            ("dashed(a.x, 5)", "5")
        );
        assert_eq!(
            eval_one(&r, "dashed(a.x, 2.5)", -10, 20)[0].name,
            "dashed(a.x, 2.5)"
        );
    }

    #[test]
    fn area_between_needs_two_series() {
        let out = eval_one(&read(), "areaBetween(a.*)", -10, 20);
        assert!(out.iter().all(|s| s.name == "areaBetween(a.*)"));
        assert_eq!(out[0].tags, out[1].tags);
        assert_eq!(out[0].options["invisible"], "True");
        let read = read();
        let expr = crate::parse_target("areaBetween(a.x)").unwrap();
        let mut ev = Evaluator::new(&read, Default::default());
        assert!(ev
            .evaluate_targets(&Context::new(-10, 20), &[expr])
            .is_err());
    }

    #[test]
    fn vertical_line_inside_the_range_only() {
        let out = eval_one(&read(), "verticalLine(50, 'deploy', 'blue')", 0, 100);
        assert_eq!(out[0].name, "deploy");
        assert_eq!(out[0].datapoints(), vec![(Some(1.0), 50)]);
        assert_eq!(out[0].options["drawAsInfinite"], "True");
        let read = read();
        for target in ["verticalLine(101)", "verticalLine(-1)"] {
            let expr = crate::parse_target(target).unwrap();
            let mut ev = Evaluator::new(&read, Default::default());
            assert!(ev.evaluate_targets(&Context::new(0, 100), &[expr]).is_err());
        }
    }

    #[test]
    fn threshold_is_a_labelled_constant_line() {
        let out = eval_one(&read(), "threshold(5, 'limit', 'red')", 0, 100);
        assert_eq!(out[0].name, "limit");
        assert_eq!(out[0].path_expression, "constantLine(5.0)");
        assert_eq!(out[0].values, [Some(5.0); 3]);
    }
}
