//! Value-by-value transforms: each value replaced by a function of itself
//! (scale, offset, pow, log, round, ...) or of its neighbours (transformNull,
//! keepLastValue, interpolate), in place as graphite does.

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::functions::aggfunc::safe_pow;
use crate::functions::{py_round, Args, FunctionDef, Lit, Param, ParamType, Registry};
use crate::pyfmt::{float_repr, format_g};
use crate::series::{py_max, py_min};

use super::{
    map_in_place, percent_d, py_exp, rename, replace_values, transform_each, try_transform_each,
    ONLY_SERIES_LIST, SERIES_LIST,
};

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[
        &ABSOLUTE,
        &ADD,
        &EXP,
        &INTERPOLATE,
        &INVERT,
        &IS_NON_NULL,
        &KEEP_LAST_VALUE,
        &LOG,
        &LOGIT,
        &MIN_MAX,
        &OFFSET,
        &OFFSET_TO_ZERO,
        &POW,
        &ROUND,
        &SCALE,
        &SCALE_TO_SECONDS,
        &SIGMOID,
        &SQUARE_ROOT,
        &TRANSFORM_NULL,
    ]);
}

// ---------------------------------------------------------------------------
// Value-by-value transforms

/// `(seriesList, factor)` of scale, pow and offset.
const FACTOR_PARAMS: &[Param] = &[
    SERIES_LIST,
    Param::new("factor", ParamType::Float).required(),
];

/// scale, pow, offset and add: `function(seriesList, constant)` maps every
/// value by `f(value, constant)`, tags the series `function=repr(constant)`
/// and names it `function(<name>,<constant>)` with the constant shown by
/// `show` (`%g`, or `%d` for add).
fn with_constant(
    mut args: Args,
    function: &str,
    show: fn(&Args, f64) -> Result<String, ApiError>,
    f: fn(Option<f64>, f64) -> Option<f64>,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let constant = args.float(1)?;
    let shown = show(&args, constant)?;
    Ok(transform_each(
        list,
        (function, &float_repr(constant)),
        |name| format!("{function}({name},{shown})"),
        |v| f(v, constant),
    ))
}

/// Python's `'%g' % x`, as a [`with_constant`] `show`.
fn percent_g(_args: &Args, x: f64) -> Result<String, ApiError> {
    Ok(format_g(x))
}

static SCALE: FunctionDef = FunctionDef::new("scale", "Transform", scale)
    .description("Multiplies every value by a constant factor; nulls stay null.")
    .params(FACTOR_PARAMS);

fn scale(_ev: &mut Evaluator<'_>, _ctx: &Context, args: Args) -> Result<Value, ApiError> {
    with_constant(args, "scale", percent_g, |v, factor| v.map(|x| x * factor))
}

static SCALE_TO_SECONDS: FunctionDef =
    FunctionDef::new("scaleToSeconds", "Transform", scale_to_seconds)
        .description(
            "Turns per-step values into per-`seconds` values (value × seconds / step), \
             rounded to 6 decimals.",
        )
        .params(&[
            SERIES_LIST,
            Param::new("seconds", ParamType::Float).required(),
        ]);

fn scale_to_seconds(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let seconds = args.float(1)?;
    let shown = percent_d(&args, seconds)?;
    for s in &mut list {
        s.tags.insert("scaleToSeconds".into(), float_repr(seconds));
        rename(s, format!("scaleToSeconds({},{shown})", s.name));
        let factor = seconds / s.step as f64;
        map_in_place(s, |v| v.map(|x| py_round(x * factor, 6)));
    }
    Ok(Value::SeriesList(list))
}

static EXP: FunctionDef = FunctionDef::new("exp", "Transform", exp)
    .description("Raises e to the power of every value.")
    .params(ONLY_SERIES_LIST);

fn exp(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    try_transform_each(list, ("exp", "e"), "exp", |v| {
        v.map(|x| py_exp(&args, x)).transpose()
    })
}

static ADD: FunctionDef = FunctionDef::new("add", "Transform", add)
    .description("Adds a constant to every non-null value.")
    .params(&[
        SERIES_LIST,
        Param::new("constant", ParamType::Float).required(),
    ]);

fn add(_ev: &mut Evaluator<'_>, _ctx: &Context, args: Args) -> Result<Value, ApiError> {
    with_constant(args, "add", percent_d, |v, constant| {
        v.map(|x| x + constant)
    })
}

static SIGMOID: FunctionDef = FunctionDef::new("sigmoid", "Transform", sigmoid)
    .description("Applies the sigmoid function 1 / (1 + exp(-x)) to every value.")
    .params(ONLY_SERIES_LIST);

fn sigmoid(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    try_transform_each(list, ("sigmoid", "sigmoid"), "sigmoid", |v| match v {
        None => Ok(None),
        Some(x) => Ok(Some(1.0 / (1.0 + py_exp(&args, -x)?))),
    })
}

static POW: FunctionDef = FunctionDef::new("pow", "Transform", pow)
    .description("Raises every value to a constant power; impossible powers become null.")
    .params(FACTOR_PARAMS);

fn pow(_ev: &mut Evaluator<'_>, _ctx: &Context, args: Args) -> Result<Value, ApiError> {
    with_constant(args, "pow", percent_g, |v, factor| {
        safe_pow(v, Some(factor))
    })
}

/// A transform with a fixed tag value and `name(series)` naming.
macro_rules! simple_transform {
    ($static:ident, $fn:ident, $name:literal, $tag:literal, $description:literal, $f:expr) => {
        static $static: FunctionDef = FunctionDef::new($name, "Transform", $fn)
            .description($description)
            .params(ONLY_SERIES_LIST);

        fn $fn(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
            let list = args.series_list(0)?;
            Ok(transform_each(
                list,
                ($name, $tag),
                |name| format!(concat!($name, "({})"), name),
                $f,
            ))
        }
    };
}

simple_transform!(
    LOGIT,
    logit,
    "logit",
    "logit",
    "Applies the logit function log(x / (1 - x)) to every value; values outside \
                  (0, 1) become null.",
    |v| {
        let x = v?;
        if x == 1.0 {
            return None;
        }
        let q = x / (1.0 - x);
        // math.log raises (graphite: null) for q <= 0
        (q > 0.0 || q.is_nan()).then(|| q.ln())
    }
);
simple_transform!(
    SQUARE_ROOT,
    square_root,
    "squareRoot",
    "1",
    "The square root of every value; negative values become null.",
    |v| safe_pow(v, Some(0.5))
);
simple_transform!(
    INVERT,
    invert,
    "invert",
    "1",
    "1 / x of every value; zero becomes null.",
    |v| safe_pow(v, Some(-1.0))
);
simple_transform!(
    ABSOLUTE,
    absolute,
    "absolute",
    "1",
    "The absolute value of every value.",
    |v: Option<f64>| v.map(f64::abs)
);

static OFFSET: FunctionDef = FunctionDef::new("offset", "Transform", offset)
    .description("Adds a constant to every non-null value.")
    .params(FACTOR_PARAMS);

fn offset(_ev: &mut Evaluator<'_>, _ctx: &Context, args: Args) -> Result<Value, ApiError> {
    with_constant(args, "offset", percent_g, |v, factor| v.map(|x| x + factor))
}

static OFFSET_TO_ZERO: FunctionDef = FunctionDef::new("offsetToZero", "Transform", offset_to_zero)
    .description(
        "Subtracts the series' own minimum from every value, so that its lowest \
         point is 0.",
    )
    .params(ONLY_SERIES_LIST);

fn offset_to_zero(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    for s in &mut list {
        let minimum = s.points().iter().flatten().copied().fold(f64::NAN, py_min);
        let minimum = (!s.points().iter().all(Option::is_none)).then_some(minimum);
        s.tags.insert(
            "offsetToZero".into(),
            minimum.map_or_else(|| "None".into(), float_repr),
        );
        rename(s, format!("offsetToZero({})", s.name));
        if let Some(m) = minimum {
            map_in_place(s, |v| v.map(|x| x - m));
        }
    }
    Ok(Value::SeriesList(list))
}

static ROUND: FunctionDef = FunctionDef::new("round", "Transform", round)
    .description(
        "Rounds every value to the given number of decimals (default 0), halves to \
         even as Python does.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("precision", ParamType::Integer)
            .default(Lit::Int(0))
            .python("precision=None"),
    ]);

fn round(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let precision = if args.given(1) {
        Some(args.int(1)?)
    } else {
        None
    };
    let digits = precision.unwrap_or(0);
    for s in &mut list {
        s.tags.insert("round".into(), digits.to_string());
        let name = match precision {
            None => format!("round({})", s.name),
            Some(p) => format!("round({},{})", s.name, format_g(p as f64)),
        };
        rename(s, name);
        map_in_place(s, |v| v.map(|x| py_round(x, digits)));
    }
    Ok(Value::SeriesList(list))
}

static LOG: FunctionDef = FunctionDef::new("log", "Transform", logarithm)
    .description(
        "The logarithm of every value in the given base (default 10); values <= 0 \
         become null.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("base", ParamType::Integer).default(Lit::Int(10)),
    ]);

fn logarithm(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    // graphite validates an integer but uses whatever it was given
    let base_value = args.value(1);
    let base = match &base_value {
        Value::Int(i) => *i as f64,
        Value::Float(x) => *x,
        Value::Bool(b) => *b as i64 as f64,
        other => return Err(args.error(format!("base must be a number, not {}", other.kind()))),
    };
    let shown = base_value.py_str();
    if base <= 0.0 || base == 1.0 {
        return Err(args.error(format!("invalid logarithm base {shown}")));
    }
    let ln_base = base.ln();
    let mut out = Vec::with_capacity(list.len());
    for s in &mut list {
        let values = s
            .points()
            .iter()
            .map(|v| match v {
                Some(x) if *x > 0.0 => Some(x.ln() / ln_base),
                _ => None,
            })
            .collect();
        s.tags.insert("log".into(), shown.clone());
        out.push(s.copy_with(format!("log({}, {shown})", s.name), s.start, values));
    }
    Ok(Value::SeriesList(out))
}

static MIN_MAX: FunctionDef = FunctionDef::new("minMax", "Transform", min_max)
    .description(
        "Min-max normalization: (value - min) / (max - min) of the series; a flat \
         series becomes 0.",
    )
    .params(ONLY_SERIES_LIST);

fn min_max(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    for s in &mut list {
        rename(s, format!("minMax({})", s.name));
        let points = s.points().into_owned();
        let non_null: Vec<f64> = points.iter().flatten().copied().collect();
        let lo = non_null.iter().copied().fold(f64::NAN, py_min);
        let hi = non_null.iter().copied().fold(f64::NAN, py_max);
        let (lo, hi) = if non_null.is_empty() {
            (0.0, 0.0)
        } else {
            (lo, hi)
        };
        // graphite tests the raw slot for null but transforms the iterated value
        for (i, v) in points.into_iter().enumerate() {
            if s.values.get(i).is_some_and(Option::is_some) {
                s.values[i] = v.map(|x| {
                    if hi - lo == 0.0 {
                        0.0
                    } else {
                        (x - lo) / (hi - lo)
                    }
                });
            }
        }
    }
    Ok(Value::SeriesList(list))
}

static IS_NON_NULL: FunctionDef = FunctionDef::new("isNonNull", "Transform", is_non_null)
    .description(
        "1 where the series has a value, 0 where it is null (sum the result to count \
         live series).",
    )
    .params(ONLY_SERIES_LIST);

fn is_non_null(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    for s in &mut list {
        s.tags.insert("isNonNull".into(), "1".into());
        rename(s, format!("isNonNull({})", s.name));
        let values = s
            .points()
            .iter()
            .map(|v| Some(if v.is_some() { 1.0 } else { 0.0 }))
            .collect();
        replace_values(s, values);
    }
    Ok(Value::SeriesList(list))
}

static TRANSFORM_NULL: FunctionDef = FunctionDef::new("transformNull", "Transform", transform_null)
    .description(
        "Replaces nulls with a default value (0 by default); with referenceSeries, \
         only at timestamps where at least one reference series has a value.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("default", ParamType::Float).default(Lit::Int(0)),
        Param::new("referenceSeries", ParamType::SeriesList),
    ]);

fn transform_null(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let default = args.float(1)?;
    let reference = match args.value(2) {
        Value::SeriesList(_) => args.series_list(2)?,
        _ => Vec::new(),
    };
    let defaults: Vec<Option<f64>> = if reference.is_empty() {
        Vec::new()
    } else {
        let columns: Vec<_> = reference.iter().map(|s| s.points().into_owned()).collect();
        let len = columns.iter().map(Vec::len).max().unwrap_or(0);
        (0..len)
            .map(|i| {
                columns
                    .iter()
                    .any(|c| c.get(i).copied().flatten().is_some())
                    .then_some(default)
            })
            .collect()
    };
    // graphite's Python default is the integer 0 (validation converts only
    // given values to float), so the tag reads "0" unless a default was given
    let default_tag = if args.given(1) {
        float_repr(default)
    } else {
        "0".to_string()
    };
    for s in &mut list {
        s.tags.insert("transformNull".into(), default_tag.clone());
        let name = if reference.is_empty() {
            format!("transformNull({},{})", s.name, format_g(default))
        } else {
            s.tags.insert("referenceSeries".into(), "1".into());
            format!(
                "transformNull({},{},referenceSeries)",
                s.name,
                format_g(default)
            )
        };
        rename(s, name);
        let points = s.points().into_owned();
        let values = if defaults.is_empty() {
            points.iter().map(|v| v.or(Some(default))).collect()
        } else {
            (0..points.len().max(defaults.len()))
                .map(|i| {
                    points
                        .get(i)
                        .copied()
                        .flatten()
                        .or(defaults.get(i).copied().flatten())
                })
                .collect()
        };
        replace_values(s, values);
    }
    Ok(Value::SeriesList(list))
}

/// An `intOrInf` limit: an integer, or infinity for "no limit".
fn limit(args: &Args, i: usize) -> Result<f64, ApiError> {
    match args.value(i) {
        Value::Int(n) => Ok(n as f64),
        Value::Float(x) => Ok(x),
        Value::Bool(b) => Ok(b as i64 as f64),
        Value::None => Ok(f64::INFINITY),
        other => Err(args.error(format!("limit must be a number, not {}", other.kind()))),
    }
}

static KEEP_LAST_VALUE: FunctionDef =
    FunctionDef::new("keepLastValue", "Transform", keep_last_value)
        .description(
            "Fills runs of nulls with the last value before them, for runs of at most \
             `limit` nulls (default: any length); leading nulls stay.",
        )
        .params(&[
            SERIES_LIST,
            Param::new("limit", ParamType::IntOrInf)
                .default(Lit::Inf)
                .python("limit=inf"),
        ]);

fn keep_last_value(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let limit = limit(&args, 1)?;
    for s in &mut list {
        rename(s, format!("keepLastValue({})", s.name));
        let points = s.points().into_owned();
        let mut nones = 0usize;
        let mut last: Option<f64> = None;
        for (i, v) in points.iter().enumerate() {
            match v {
                None => nones += 1,
                Some(x) => {
                    if nones > 0 && nones as f64 <= limit {
                        if let Some(l) = last {
                            s.values[i - nones..i].iter_mut().for_each(|v| *v = Some(l));
                        }
                    }
                    nones = 0;
                    last = Some(*x);
                }
            }
        }
        if nones > 0 && nones as f64 <= limit {
            if let Some(l) = last {
                // graphite fills the raw list's tail
                let len = s.values.len();
                s.values[len.saturating_sub(nones)..]
                    .iter_mut()
                    .for_each(|v| *v = Some(l));
            }
        }
    }
    Ok(Value::SeriesList(list))
}

static INTERPOLATE: FunctionDef = FunctionDef::new("interpolate", "Transform", interpolate)
    .description(
        "Fills runs of nulls between two values linearly, for runs of at most \
         `limit` nulls (default: any length); leading and trailing nulls stay.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("limit", ParamType::IntOrInf)
            .default(Lit::Inf)
            .python("limit=inf"),
    ]);

fn interpolate(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let limit = limit(&args, 1)?;
    for s in &mut list {
        rename(s, format!("interpolate({})", s.name));
        // graphite writes every iterated value back before reading earlier slots
        let mut buf = s.points().into_owned();
        let mut nones = 0usize;
        for i in 1..buf.len() {
            match buf[i] {
                None => nones += 1,
                Some(_) if nones == 0 => {}
                Some(value) => {
                    let base = i - nones - 1;
                    match buf[base] {
                        None => nones = 0,
                        Some(first) => {
                            if nones as f64 <= limit {
                                for (k, slot) in buf[i - nones..i].iter_mut().enumerate() {
                                    let distance = (i - nones + k - base) as f64;
                                    *slot = Some(
                                        first + (distance * (value - first)) / (nones + 1) as f64,
                                    );
                                }
                            }
                            nones = 0;
                        }
                    }
                }
            }
        }
        for (slot, v) in s.values.iter_mut().zip(buf) {
            *slot = v;
        }
    }
    Ok(Value::SeriesList(list))
}

#[cfg(test)]
mod tests {

    use crate::functions::transform::tests::read;
    use crate::testing::eval_one;

    #[test]
    fn scale_multiplies_and_names_with_percent_g() {
        let out = eval_one(&read(), "scale(a.b, 2)", -10, 30);
        assert_eq!(out[0].name, "scale(a.b,2)");
        assert_eq!(out[0].values, vec![Some(3.0), None, Some(-4.0), Some(8.0)]);
        assert_eq!(out[0].tags["scale"], "2.0");
        let out = eval_one(&read(), "scale(a.b, 0.5)", -10, 30);
        assert_eq!(out[0].name, "scale(a.b,0.5)");
        assert_eq!(out[0].path_expression, "scale(a.b,0.5)");
    }

    #[test]
    fn value_transforms_name_and_tag() {
        let out = eval_one(&read(), "offset(a.b, -1.5)", -10, 30);
        assert_eq!(out[0].name, "offset(a.b,-1.5)");
        assert_eq!(out[0].values, vec![Some(0.0), None, Some(-3.5), Some(2.5)]);
        let out = eval_one(&read(), "add(a.b, 2.9)", -10, 30);
        assert_eq!(out[0].name, "add(a.b,2)");
        assert_eq!(out[0].tags["add"], "2.9");
        let out = eval_one(&read(), "absolute(a.b)", -10, 30);
        assert_eq!(out[0].values[2], Some(2.0));
        assert_eq!(out[0].tags["absolute"], "1");
        let out = eval_one(&read(), "squareRoot(a.b)", -10, 30);
        assert_eq!(
            out[0].values,
            vec![Some(1.5f64.sqrt()), None, None, Some(2.0)]
        );
        let out = eval_one(&read(), "invert(a.b)", -10, 30);
        assert_eq!(out[0].values[3], Some(0.25));
        let out = eval_one(&read(), "pow(a.b, 2)", -10, 30);
        assert_eq!(out[0].values[2], Some(4.0));
        let out = eval_one(&read(), "log(c.n, 10)", -10, 50);
        assert_eq!(out[0].name, "log(c.n, 10)");
        assert_eq!(out[0].values[0], Some(0.0));
        let out = eval_one(&read(), "offsetToZero(a.b)", -10, 30);
        assert_eq!(out[0].values, vec![Some(3.5), None, Some(0.0), Some(6.0)]);
        assert_eq!(out[0].tags["offsetToZero"], "-2.0");
        let out = eval_one(&read(), "round(a.b)", -10, 30);
        assert_eq!(out[0].name, "round(a.b)");
        assert_eq!(out[0].values[0], Some(2.0));
        let out = eval_one(&read(), "isNonNull(a.b)", -10, 30);
        assert_eq!(
            out[0].values,
            vec![Some(1.0), Some(0.0), Some(1.0), Some(1.0)]
        );
        let out = eval_one(&read(), "transformNull(a.b, -1)", -10, 30);
        assert_eq!(out[0].name, "transformNull(a.b,-1)");
        assert_eq!(out[0].values[1], Some(-1.0));
        assert_eq!(out[0].tags["transformNull"], "-1.0");
        let out = eval_one(&read(), "minMax(a.b)", -10, 30);
        assert_eq!(
            out[0].values,
            vec![Some(0.5833333333333334), None, Some(0.0), Some(1.0)]
        );
    }

    #[test]
    fn gaps_fill() {
        let out = eval_one(&read(), "keepLastValue(g.x)", -10, 50);
        assert_eq!(out[0].name, "keepLastValue(g.x)");
        assert_eq!(
            out[0].values,
            vec![None, Some(1.0), Some(1.0), Some(1.0), Some(4.0), Some(4.0)]
        );
        let out = eval_one(&read(), "keepLastValue(g.x, 1)", -10, 50);
        assert_eq!(
            out[0].values,
            vec![None, Some(1.0), None, None, Some(4.0), Some(4.0)]
        );
        let out = eval_one(&read(), "interpolate(g.x)", -10, 50);
        assert_eq!(
            out[0].values,
            vec![None, Some(1.0), Some(2.0), Some(3.0), Some(4.0), None]
        );
        let out = eval_one(&read(), "interpolate(g.x, 1)", -10, 50);
        assert_eq!(
            out[0].values,
            vec![None, Some(1.0), None, None, Some(4.0), None]
        );
    }
}
