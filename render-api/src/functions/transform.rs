//! graphite-web's "Transform" group: functions that change each series'
//! values (scale, offset, derivative, ...), re-bucket them (summarize,
//! hitcount, smartSummarize), move them in time (timeShift, timeStack,
//! delay), or generate series (time, sin).
//!
//! graphite rewrites values in place while iterating a series; a series
//! that carries lazy consolidation (`values_per_point > 1`) is iterated
//! consolidated and the results land in the first slots of the raw list.
//! [`map_in_place`] and [`replace_values`] reproduce that, so results stay
//! identical even in that corner.

use chrono::{Datelike, NaiveDate, Offset, TimeZone, Timelike};
use chrono_tz::{OffsetComponents, Tz};

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::pyfmt::{float_repr, format_g};
use crate::series::{py_max, py_min, Series};
use crate::time::{parse_at_time, parse_offset};

use super::aggfunc::{safe_pow, AggFunc};
use super::{Args, FunctionDef, Lit, Param, ParamType, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add(&ABSOLUTE);
    r.add(&ADD);
    r.add(&COMPRESS_PERIODIC_GAPS);
    r.add(&DELAY);
    r.add(&DERIVATIVE);
    r.add(&EXP);
    r.add(&HITCOUNT);
    r.add(&INTEGRAL);
    r.add(&INTEGRAL_BY_INTERVAL);
    r.add(&INTERPOLATE);
    r.add(&INVERT);
    r.add(&IS_NON_NULL);
    r.add(&KEEP_LAST_VALUE);
    r.add(&LOG);
    r.add(&LOGIT);
    r.add(&MIN_MAX);
    r.add(&NON_NEGATIVE_DERIVATIVE);
    r.add(&OFFSET);
    r.add(&OFFSET_TO_ZERO);
    r.add(&PER_SECOND);
    r.add(&POW);
    r.add(&ROUND);
    r.add(&SCALE);
    r.add(&SCALE_TO_SECONDS);
    r.add(&SIGMOID);
    r.add(&SIN_FUNCTION);
    r.alias("sin", &SIN_FUNCTION);
    r.add(&SMART_SUMMARIZE);
    r.add(&SQUARE_ROOT);
    r.add(&SUMMARIZE);
    r.add(&TIME_FUNCTION);
    r.alias("time", &TIME_FUNCTION);
    r.add(&TIME_SHIFT);
    r.add(&TIME_SLICE);
    r.add(&TIME_STACK);
    r.add(&TRANSFORM_NULL);
}

const SERIES_LIST: Param = Param::new("seriesList", ParamType::SeriesList).required();
const ONLY_SERIES_LIST: &[Param] = &[SERIES_LIST];
const SUMMARIZE_SUGGESTIONS: &[Lit] = &[Lit::Str("10min"), Lit::Str("1h"), Lit::Str("1d")];
const SHIFT_SUGGESTIONS: &[Lit] = &[
    Lit::Str("1h"),
    Lit::Str("6h"),
    Lit::Str("12h"),
    Lit::Str("1d"),
    Lit::Str("2d"),
    Lit::Str("7d"),
    Lit::Str("14d"),
    Lit::Str("30d"),
];

/// graphite's `for i, v in enumerate(series): series[i] = f(v)`.
fn map_in_place(s: &mut Series, mut f: impl FnMut(Option<f64>) -> Option<f64>) {
    if s.values_per_point <= 1 {
        s.values.iter_mut().for_each(|v| *v = f(*v));
    } else {
        let points = s.points().into_owned();
        for (slot, v) in s.values.iter_mut().zip(points) {
            *slot = f(v);
        }
    }
}

/// Like [`map_in_place`] for functions whose step can fail (graphite
/// raises mid-loop).
fn try_map_in_place(
    s: &mut Series,
    mut f: impl FnMut(Option<f64>) -> Result<Option<f64>, ApiError>,
) -> Result<(), ApiError> {
    let points = s.points().into_owned();
    for (slot, v) in s.values.iter_mut().zip(points) {
        *slot = f(v)?;
    }
    Ok(())
}

/// graphite's `series.extend(values); del series[:len(values)]`: the whole
/// raw list replaced, lazy consolidation kept.
fn replace_values(s: &mut Series, values: Vec<Option<f64>>) {
    s.values = values;
}

/// Sets the display name and path expression, as most transforms do.
fn rename(s: &mut Series, name: String) {
    s.path_expression.clone_from(&name);
    s.name = name;
}

/// Python's `'%d' % x` of a float (truncates toward zero).
fn percent_d(args: &Args, x: f64) -> Result<String, ApiError> {
    if !x.is_finite() {
        return Err(args.error(format!("cannot format {} as an integer", float_repr(x))));
    }
    Ok(format!("{}", x.trunc() as i64))
}

/// 10⁰ … 10¹⁵, all exact in binary64.
const POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Python's `round(x, ndigits)` of a float: the exact binary value rounded
/// to `ndigits` decimals, ties to even.
pub(crate) fn py_round(x: f64, ndigits: i64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    if ndigits > 308 {
        return x;
    }
    if (0..POWERS_OF_TEN.len() as i64).contains(&ndigits) {
        // Fast path: away from a tie, the nearest integer to x·10ⁿ (computed
        // with at most a few ulps of error) is the exactly rounded decimal,
        // and dividing it by the exact 10ⁿ is correctly rounded.
        let p = POWERS_OF_TEN[ndigits as usize];
        let y = x * p;
        if y.abs() < 4_503_599_627_370_496.0 {
            let r = y.round();
            let margin = y.abs() * 8.0 * f64::EPSILON + f64::MIN_POSITIVE;
            if ((y - r).abs() - 0.5).abs() > margin {
                return r / p;
            }
        }
    }
    if ndigits >= 0 {
        // Rust's fixed-precision formatting is exact with ties to even, as
        // CPython's dtoa-based round()
        return format!("{:.*}", ndigits as usize, x).parse().unwrap_or(x);
    }
    let k = (-ndigits) as usize;
    let digits = format!("{:.0}", x.abs().trunc());
    if digits.len() < k {
        // |x| < 10^(k-1) < half a unit: rounds to (signed) zero
        return 0.0_f64.copysign(x);
    }
    let frac_nonzero = x.fract() != 0.0;
    let (keep, dropped) = digits.split_at(digits.len() - k);
    let mut head: u128 = if keep.is_empty() {
        0
    } else {
        keep.parse().unwrap_or(0)
    };
    let first = dropped.as_bytes()[0] - b'0';
    let rest_nonzero = dropped[1..].bytes().any(|b| b != b'0') || frac_nonzero;
    let round_up = first > 5 || (first == 5 && (rest_nonzero || head % 2 == 1));
    if round_up {
        head += 1;
    }
    let value: f64 = format!("{head}e{k}").parse().unwrap_or(x);
    value.copysign(x)
}

/// Python's `math.exp`, which raises on overflow.
fn py_exp(args: &Args, x: f64) -> Result<f64, ApiError> {
    let r = x.exp();
    if r.is_infinite() && x.is_finite() {
        return Err(args.error("math range error"));
    }
    Ok(r)
}

/// Python's `//` on integers (rounds toward negative infinity).
fn floor_div(a: i64, b: i64) -> i64 {
    let q = a / b;
    if a % b != 0 && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

// ---------------------------------------------------------------------------
// Value-by-value transforms

static SCALE: FunctionDef = FunctionDef {
    name: "scale",
    group: "Transform",
    description: "Multiplies every value by a constant factor; nulls stay null.",
    params: &[
        SERIES_LIST,
        Param::new("factor", ParamType::Float).required(),
    ],
    aggregator: false,
    streamable: None,
    implementation: scale,
};

fn scale(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let factor = args.float(1)?;
    for s in &mut list {
        s.tags.insert("scale".into(), float_repr(factor));
        rename(s, format!("scale({},{})", s.name, format_g(factor)));
        map_in_place(s, |v| v.map(|x| x * factor));
    }
    Ok(Value::SeriesList(list))
}

static SCALE_TO_SECONDS: FunctionDef = FunctionDef {
    name: "scaleToSeconds",
    group: "Transform",
    description: "Turns per-step values into per-`seconds` values (value × seconds / step), \
                  rounded to 6 decimals.",
    params: &[
        SERIES_LIST,
        Param::new("seconds", ParamType::Float).required(),
    ],
    aggregator: false,
    streamable: None,
    implementation: scale_to_seconds,
};

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

static EXP: FunctionDef = FunctionDef {
    name: "exp",
    group: "Transform",
    description: "Raises e to the power of every value.",
    params: ONLY_SERIES_LIST,
    aggregator: false,
    streamable: None,
    implementation: exp,
};

fn exp(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    for s in &mut list {
        s.tags.insert("exp".into(), "e".into());
        rename(s, format!("exp({})", s.name));
        try_map_in_place(s, |v| v.map(|x| py_exp(&args, x)).transpose())?;
    }
    Ok(Value::SeriesList(list))
}

static ADD: FunctionDef = FunctionDef {
    name: "add",
    group: "Transform",
    description: "Adds a constant to every non-null value.",
    params: &[
        SERIES_LIST,
        Param::new("constant", ParamType::Float).required(),
    ],
    aggregator: false,
    streamable: None,
    implementation: add,
};

fn add(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let constant = args.float(1)?;
    let shown = percent_d(&args, constant)?;
    for s in &mut list {
        s.tags.insert("add".into(), float_repr(constant));
        rename(s, format!("add({},{shown})", s.name));
        map_in_place(s, |v| v.map(|x| x + constant));
    }
    Ok(Value::SeriesList(list))
}

static SIGMOID: FunctionDef = FunctionDef {
    name: "sigmoid",
    group: "Transform",
    description: "Applies the sigmoid function 1 / (1 + exp(-x)) to every value.",
    params: ONLY_SERIES_LIST,
    aggregator: false,
    streamable: None,
    implementation: sigmoid,
};

fn sigmoid(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    for s in &mut list {
        s.tags.insert("sigmoid".into(), "sigmoid".into());
        rename(s, format!("sigmoid({})", s.name));
        try_map_in_place(s, |v| match v {
            None => Ok(None),
            Some(x) => Ok(Some(1.0 / (1.0 + py_exp(&args, -x)?))),
        })?;
    }
    Ok(Value::SeriesList(list))
}

static LOGIT: FunctionDef = FunctionDef {
    name: "logit",
    group: "Transform",
    description: "Applies the logit function log(x / (1 - x)) to every value; values outside \
                  (0, 1) become null.",
    params: ONLY_SERIES_LIST,
    aggregator: false,
    streamable: None,
    implementation: logit,
};

fn logit(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    for s in &mut list {
        s.tags.insert("logit".into(), "logit".into());
        rename(s, format!("logit({})", s.name));
        map_in_place(s, |v| {
            let x = v?;
            if x == 1.0 {
                return None;
            }
            let q = x / (1.0 - x);
            // math.log raises (graphite: null) for q <= 0
            (q > 0.0 || q.is_nan()).then(|| q.ln())
        });
    }
    Ok(Value::SeriesList(list))
}

static POW: FunctionDef = FunctionDef {
    name: "pow",
    group: "Transform",
    description: "Raises every value to a constant power; impossible powers become null.",
    params: &[
        SERIES_LIST,
        Param::new("factor", ParamType::Float).required(),
    ],
    aggregator: false,
    streamable: None,
    implementation: pow,
};

fn pow(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let factor = args.float(1)?;
    for s in &mut list {
        s.tags.insert("pow".into(), float_repr(factor));
        rename(s, format!("pow({},{})", s.name, format_g(factor)));
        map_in_place(s, |v| safe_pow(v, Some(factor)));
    }
    Ok(Value::SeriesList(list))
}

/// A transform with a fixed tag value and `name(series)` naming.
macro_rules! simple_transform {
    ($static:ident, $fn:ident, $name:literal, $tag:expr, $description:literal, $f:expr) => {
        static $static: FunctionDef = FunctionDef {
            name: $name,
            group: "Transform",
            description: $description,
            params: ONLY_SERIES_LIST,
            aggregator: false,
            streamable: None,
            implementation: $fn,
        };

        fn $fn(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
            let mut list = args.series_list(0)?;
            for s in &mut list {
                if let Some(tag) = $tag {
                    s.tags.insert($name.into(), String::from(tag));
                }
                rename(s, format!(concat!($name, "({})"), s.name));
                map_in_place(s, $f);
            }
            Ok(Value::SeriesList(list))
        }
    };
}

simple_transform!(
    SQUARE_ROOT,
    square_root,
    "squareRoot",
    Some("1"),
    "The square root of every value; negative values become null.",
    |v| safe_pow(v, Some(0.5))
);
simple_transform!(
    INVERT,
    invert,
    "invert",
    Some("1"),
    "1 / x of every value; zero becomes null.",
    |v| safe_pow(v, Some(-1.0))
);
simple_transform!(
    ABSOLUTE,
    absolute,
    "absolute",
    Some("1"),
    "The absolute value of every value.",
    |v: Option<f64>| v.map(f64::abs)
);

static OFFSET: FunctionDef = FunctionDef {
    name: "offset",
    group: "Transform",
    description: "Adds a constant to every non-null value.",
    params: &[
        SERIES_LIST,
        Param::new("factor", ParamType::Float).required(),
    ],
    aggregator: false,
    streamable: None,
    implementation: offset,
};

fn offset(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let factor = args.float(1)?;
    for s in &mut list {
        s.tags.insert("offset".into(), float_repr(factor));
        rename(s, format!("offset({},{})", s.name, format_g(factor)));
        map_in_place(s, |v| v.map(|x| x + factor));
    }
    Ok(Value::SeriesList(list))
}

static OFFSET_TO_ZERO: FunctionDef = FunctionDef {
    name: "offsetToZero",
    group: "Transform",
    description: "Subtracts the series' own minimum from every value, so that its lowest \
                  point is 0.",
    params: ONLY_SERIES_LIST,
    aggregator: false,
    streamable: None,
    implementation: offset_to_zero,
};

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

static ROUND: FunctionDef = FunctionDef {
    name: "round",
    group: "Transform",
    description: "Rounds every value to the given number of decimals (default 0), halves to \
                  even as Python does.",
    params: &[
        SERIES_LIST,
        Param::new("precision", ParamType::Integer)
            .default(Lit::Int(0))
            .python("precision=None"),
    ],
    aggregator: false,
    streamable: None,
    implementation: round,
};

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

static LOG: FunctionDef = FunctionDef {
    name: "log",
    group: "Transform",
    description: "The logarithm of every value in the given base (default 10); values <= 0 \
                  become null.",
    params: &[
        SERIES_LIST,
        Param::new("base", ParamType::Integer).default(Lit::Int(10)),
    ],
    aggregator: false,
    streamable: None,
    implementation: logarithm,
};

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

static MIN_MAX: FunctionDef = FunctionDef {
    name: "minMax",
    group: "Transform",
    description: "Min-max normalization: (value - min) / (max - min) of the series; a flat \
                  series becomes 0.",
    params: ONLY_SERIES_LIST,
    aggregator: false,
    streamable: None,
    implementation: min_max,
};

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

static IS_NON_NULL: FunctionDef = FunctionDef {
    name: "isNonNull",
    group: "Transform",
    description: "1 where the series has a value, 0 where it is null (sum the result to count \
                  live series).",
    params: ONLY_SERIES_LIST,
    aggregator: false,
    streamable: None,
    implementation: is_non_null,
};

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

static TRANSFORM_NULL: FunctionDef = FunctionDef {
    name: "transformNull",
    group: "Transform",
    description: "Replaces nulls with a default value (0 by default); with referenceSeries, \
                  only at timestamps where at least one reference series has a value.",
    params: &[
        SERIES_LIST,
        Param::new("default", ParamType::Float).default(Lit::Int(0)),
        Param::new("referenceSeries", ParamType::SeriesList),
    ],
    aggregator: false,
    streamable: None,
    implementation: transform_null,
};

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

static KEEP_LAST_VALUE: FunctionDef = FunctionDef {
    name: "keepLastValue",
    group: "Transform",
    description: "Fills runs of nulls with the last value before them, for runs of at most \
                  `limit` nulls (default: any length); leading nulls stay.",
    params: &[
        SERIES_LIST,
        Param::new("limit", ParamType::IntOrInf)
            .default(Lit::Inf)
            .python("limit=inf"),
    ],
    aggregator: false,
    streamable: None,
    implementation: keep_last_value,
};

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

static INTERPOLATE: FunctionDef = FunctionDef {
    name: "interpolate",
    group: "Transform",
    description: "Fills runs of nulls between two values linearly, for runs of at most \
                  `limit` nulls (default: any length); leading and trailing nulls stay.",
    params: &[
        SERIES_LIST,
        Param::new("limit", ParamType::IntOrInf)
            .default(Lit::Inf)
            .python("limit=inf"),
    ],
    aggregator: false,
    streamable: None,
    implementation: interpolate,
};

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

// ---------------------------------------------------------------------------
// Derivatives and integrals: new series via `series.copy(name, values)`

static DERIVATIVE: FunctionDef = FunctionDef {
    name: "derivative",
    group: "Transform",
    description: "The difference between each value and the previous one (null when either \
                  is null); no division by time, see perSecond.",
    params: ONLY_SERIES_LIST,
    aggregator: false,
    streamable: None,
    implementation: derivative,
};

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

static NON_NEGATIVE_DERIVATIVE: FunctionDef = FunctionDef {
    name: "nonNegativeDerivative",
    group: "Transform",
    description: "The difference between each value and the previous one, for counters: a \
                  decrease (reset or wrap) gives null, unless maxValue (wrap at maxValue) or \
                  minValue (restart from minValue) says how the counter wrapped. A null input \
                  also nulls the next point.",
    params: COUNTER_PARAMS,
    aggregator: false,
    streamable: None,
    implementation: non_negative_derivative,
};

fn non_negative_derivative(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let max_value = args.opt_float(1)?;
    let min_value = args.opt_float(2)?;
    let mut out = Vec::with_capacity(list.len());
    for s in &mut list {
        let mut prev = None;
        let values = s
            .points()
            .iter()
            .map(|v| {
                let (delta, p) = non_negative_delta(*v, prev, max_value, min_value);
                prev = p;
                delta
            })
            .collect();
        s.tags.insert("nonNegativeDerivative".into(), "1".into());
        out.push(s.copy_with(
            format!("nonNegativeDerivative({})", s.name),
            s.start,
            values,
        ));
    }
    Ok(Value::SeriesList(out))
}

static PER_SECOND: FunctionDef = FunctionDef {
    name: "perSecond",
    group: "Transform",
    description: "nonNegativeDerivative divided by the step: the per-second rate of a \
                  counter, rounded to 6 decimals (maxValue/minValue as in \
                  nonNegativeDerivative).",
    params: COUNTER_PARAMS,
    aggregator: false,
    streamable: None,
    implementation: per_second,
};

fn per_second(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
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
                delta.map(|d| py_round(d / step, 6))
            })
            .collect();
        s.tags.insert("perSecond".into(), "1".into());
        out.push(s.copy_with(format!("perSecond({})", s.name), s.start, values));
    }
    Ok(Value::SeriesList(out))
}

static DELAY: FunctionDef = FunctionDef {
    name: "delay",
    group: "Transform",
    description: "Shifts the values later by a number of steps (earlier when negative), \
                  padding with nulls; timestamps stay.",
    params: &[
        SERIES_LIST,
        Param::new("steps", ParamType::Integer).required(),
    ],
    aggregator: false,
    streamable: None,
    implementation: delay,
};

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

static INTEGRAL: FunctionDef = FunctionDef {
    name: "integral",
    group: "Transform",
    description: "The running sum of the values from the start of the range; nulls stay null \
                  and do not reset the sum.",
    params: ONLY_SERIES_LIST,
    aggregator: false,
    streamable: None,
    implementation: integral,
};

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

static INTEGRAL_BY_INTERVAL: FunctionDef = FunctionDef {
    name: "integralByInterval",
    group: "Transform",
    description: "Like integral, but the sum restarts at 0 every intervalUnit counted from \
                  the start of the requested range; a null repeats the current sum.",
    params: &[
        SERIES_LIST,
        Param::new("intervalUnit", ParamType::String).required(),
    ],
    aggregator: false,
    streamable: None,
    implementation: integral_by_interval,
};

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

static COMPRESS_PERIODIC_GAPS: FunctionDef = FunctionDef {
    name: "compressPeriodicGaps",
    group: "Transform",
    description: "Detects nulls that recur regularly between values (data written less often \
                  than the storage step) and re-steps the series to that period, keeping the \
                  last value of each period.",
    params: ONLY_SERIES_LIST,
    aggregator: false,
    streamable: None,
    implementation: compress_periodic_gaps,
};

fn compress_periodic_gaps(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let mut out = Vec::with_capacity(list.len());
    for mut s in list {
        let name = format!("compressPeriodicGaps({})", s.name);
        rename(&mut s, name);
        out.push(compress_gaps(s)?);
    }
    Ok(Value::SeriesList(out))
}

/// graphite's `_compressPeriodicGaps`. Its "seen" test is Python truthiness,
/// so zeros count as missing, and a value at index 0 is skipped over.
fn compress_gaps(s: Series) -> Result<Series, ApiError> {
    let truthy = |v: Option<f64>| v.is_some_and(|x| x != 0.0);
    let points = s.points().into_owned();
    let (mut first, mut second) = (0usize, 0usize);
    for (i, v) in points.iter().enumerate() {
        if truthy(*v) {
            if first > 0 {
                second = i;
                break;
            }
            first = i;
        }
    }
    let guess = second as i64 - first as i64;
    let third = second as i64 + guess;
    let raw = &s.values;
    let mut interval = None;
    if guess > 1 && third <= raw.len() as i64 - 2 {
        let third = third as usize;
        if truthy(raw[third]) && raw[third - 1].is_none() && raw[third + 1].is_none() {
            interval = Some(guess * s.step);
        }
    }
    let Some(interval) = interval else {
        return Ok(s);
    };
    let new_start = s.start + first as i64 * s.step;
    let (values, _) = summarize_values(&s, AggFunc::Last, interval, new_start, s.end);
    let new_end = new_start + interval * (values.len() as i64 - 1);
    let mut out = s.copy_with(s.name.clone(), new_start, values);
    out.end = new_end;
    out.step = interval;
    out.path_expression = s.path_expression.clone();
    Ok(out)
}

// ---------------------------------------------------------------------------
// Re-bucketing

/// graphite's `_summarizeValues`: buckets of `interval` from `start` while
/// below `end`; each bucket aggregates the points from the last one at or
/// before its start up to its end, if enough of them are non-null (the
/// series' xFilesFactor over `interval / step` expected points). Returns the
/// values and the end of the last bucket.
fn summarize_values(
    s: &Series,
    func: AggFunc,
    interval: i64,
    start: i64,
    end: i64,
) -> (Vec<Option<f64>>, i64) {
    let points = s.points();
    let count = if s.step > 0 && s.end > s.start {
        ((s.end - s.start + s.step - 1) / s.step) as usize
    } else {
        0
    };
    let n = count.min(points.len());
    let expected = interval as f64 / s.step as f64;
    let mut values = Vec::new();
    let mut i = 0usize;
    let mut t = start;
    if interval <= 0 {
        return (values, t);
    }
    while t < end {
        let mut first = i;
        let mut non_null = 0usize;
        while i < n {
            let ts = s.start + i as i64 * s.step;
            if ts >= t + interval {
                break;
            }
            if ts <= t {
                first = i;
            }
            if ts >= t && points[i].is_some() {
                non_null += 1;
            }
            i += 1;
        }
        let enough =
            non_null > 0 && expected != 0.0 && non_null as f64 / expected >= s.x_files_factor;
        values.push(if enough {
            func.apply(&points[first..i])
        } else {
            None
        });
        t += interval;
    }
    (values, t)
}

/// How many `interval` buckets `[start, end)` holds (rounded up).
fn bucket_count(start: i64, end: i64, interval: i64) -> usize {
    ((end - start).max(0) / interval + 1) as usize
}

/// A bucket interval in seconds; graphite loops forever on one that is not
/// positive, so it is refused here.
fn positive_interval(args: &Args, text: &str) -> Result<i64, ApiError> {
    let interval = parse_offset(text)?;
    if interval <= 0 {
        return Err(args.error(format!("interval {text:?} must be positive")));
    }
    Ok(interval)
}

/// The aggregation function named `func` (no `Series` suffix allowed here).
fn agg(args: &Args, func: &str) -> Result<AggFunc, ApiError> {
    AggFunc::parse(func)
        .ok_or_else(|| args.error(format!("Unsupported aggregation function: {func}")))
}

static SUMMARIZE: FunctionDef = FunctionDef {
    name: "summarize",
    group: "Transform",
    description: "Re-buckets each series into intervals (e.g. '1h') with an aggregation \
                  function (default sum). Buckets are aligned to multiples of the interval \
                  since the epoch (UTC), so the first and last may be partial; with \
                  alignToFrom they start at the series' start instead.",
    params: &[
        SERIES_LIST,
        Param::new("intervalString", ParamType::Interval)
            .required()
            .suggestions(SUMMARIZE_SUGGESTIONS),
        Param::new("func", ParamType::AggFunc).default(Lit::Str("sum")),
        Param::new("alignToFrom", ParamType::Boolean).default(Lit::Bool(false)),
    ],
    aggregator: false,
    streamable: None,
    implementation: summarize,
};

fn summarize(ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let interval_text = args.string(1)?;
    let func_name = args.string(2)?;
    let align = args.bool(3)?;
    if list.is_empty() {
        return Ok(Value::SeriesList(list));
    }
    let func = agg(&args, &func_name)?;
    let interval = positive_interval(&args, &interval_text)?;
    let mut out = Vec::with_capacity(list.len());
    let mut built = 0usize;
    for s in &mut list {
        let (start, mut end) = if align {
            (s.start, s.end)
        } else {
            (
                s.start - s.start.rem_euclid(interval),
                s.end - s.end.rem_euclid(interval) + interval,
            )
        };
        built = built.saturating_add(bucket_count(start, end, interval));
        ev.check_points(built)?;
        let (values, aligned_end) = summarize_values(s, func, interval, start, end);
        if align {
            end = aligned_end;
        }
        s.tags.insert("summarize".into(), interval_text.clone());
        s.tags.insert("summarizeFunction".into(), func_name.clone());
        let name = format!(
            "summarize({}, \"{interval_text}\", \"{func_name}\"{})",
            s.name,
            if align { ", true" } else { "" }
        );
        let mut r = s.copy_with(name, start, values);
        r.end = end;
        r.step = interval;
        out.push(r);
    }
    Ok(Value::SeriesList(out))
}

/// `ctx.start` as a wall-clock time in `ctx.tz` and that instant's UTC
/// offset (graphite builds aligned starts with the start's own tzinfo, so a
/// DST change between the aligned start and the start is not applied).
fn local_start(ctx: &Context) -> Result<(chrono::NaiveDateTime, i64), ApiError> {
    let dt = ctx
        .tz
        .timestamp_opt(ctx.start, 0)
        .single()
        .ok_or_else(|| ApiError::BadRequest(format!("start {} is out of range", ctx.start)))?;
    Ok((dt.naive_local(), dt.offset().fix().local_minus_utc() as i64))
}

/// Epoch seconds of a wall-clock time at a fixed UTC offset.
fn at_offset(local: chrono::NaiveDateTime, offset: i64) -> i64 {
    local.and_utc().timestamp() - offset
}

/// The context with `start` moved back to the start of its unit (graphite's
/// alignment for smartSummarize and hitcount).
fn aligned_start(ctx: &Context, unit: AlignUnit) -> Result<i64, ApiError> {
    let (local, offset) = local_start(ctx)?;
    let date = local.date();
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or(local);
    let truncated = match unit {
        AlignUnit::Years => midnight(NaiveDate::from_ymd_opt(date.year(), 1, 1).unwrap_or(date)),
        AlignUnit::Months => {
            midnight(NaiveDate::from_ymd_opt(date.year(), date.month(), 1).unwrap_or(date))
        }
        AlignUnit::Weeks(iso_day) => {
            let mut back = date.weekday().number_from_monday() as i64 - iso_day;
            if back < 0 {
                back += 7;
            }
            return Ok(at_offset(midnight(date), offset) - back * 86_400);
        }
        AlignUnit::Days => midnight(date),
        AlignUnit::Hours => local
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .unwrap_or(local),
        AlignUnit::Minutes => local.with_second(0).unwrap_or(local),
        AlignUnit::Seconds => local,
    };
    Ok(at_offset(truncated, offset))
}

/// Units smartSummarize's `alignTo` understands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum AlignUnit {
    Years,
    Months,
    /// ISO weekday to align to (1 = Monday).
    Weeks(i64),
    Days,
    Hours,
    Minutes,
    Seconds,
}

/// graphite's `getUnitString` prefixes, plus `weeksN` for the weekday.
fn align_unit(text: &str) -> Option<AlignUnit> {
    Some(if text.starts_with('s') {
        AlignUnit::Seconds
    } else if text.starts_with("min") {
        AlignUnit::Minutes
    } else if text.starts_with('h') {
        AlignUnit::Hours
    } else if text.starts_with('d') {
        AlignUnit::Days
    } else if text.starts_with('w') {
        let day = text
            .chars()
            .last()
            .and_then(|c| c.to_digit(10))
            .map_or(1, i64::from);
        AlignUnit::Weeks(day)
    } else if text.starts_with("mon") {
        AlignUnit::Months
    } else if text.starts_with('y') {
        AlignUnit::Years
    } else {
        return None;
    })
}

const ALIGN_TO_OPTIONS: &[Lit] = &[
    Lit::None,
    Lit::Str("years"),
    Lit::Str("months"),
    Lit::Str("weeks"),
    Lit::Str("days"),
    Lit::Str("hours"),
    Lit::Str("minutes"),
    Lit::Str("seconds"),
    Lit::Bool(true),
    Lit::Bool(false),
];

static SMART_SUMMARIZE: FunctionDef = FunctionDef {
    name: "smartSummarize",
    group: "Transform",
    description: "Like summarize, but buckets start at the start of the range; with alignTo \
                  (years, months, weeks[1-7], days, hours, minutes, seconds) the range start is \
                  first moved back to the start of that unit in the request's time zone and \
                  the data fetched again.",
    params: &[
        SERIES_LIST,
        Param::new("intervalString", ParamType::Interval)
            .required()
            .suggestions(SUMMARIZE_SUGGESTIONS),
        Param::new("func", ParamType::AggFunc).default(Lit::Str("sum")),
        Param::new("alignTo", ParamType::String).options(ALIGN_TO_OPTIONS),
    ],
    aggregator: false,
    streamable: None,
    implementation: smart_summarize,
};

fn smart_summarize(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let interval_text = args.string(1)?;
    let func_name = args.string(2)?;
    // a boolean alignTo is the deprecated alignToFrom: ignored
    if let Value::Str(align_to) = args.value(3) {
        let unit = align_unit(&align_to)
            .ok_or_else(|| args.error(format!("Invalid offset unit '{align_to}'")))?;
        let mut aligned = ctx.clone();
        aligned.start = aligned_start(ctx, unit)?;
        list = ev.evaluate_with(&aligned, args.raw()?, args.replacements())?;
    }
    if list.is_empty() {
        return Ok(Value::SeriesList(list));
    }
    let func = agg(&args, &func_name)?;
    let interval = positive_interval(&args, &interval_text)?;
    let mut out = Vec::with_capacity(list.len());
    let mut built = 0usize;
    for s in &mut list {
        built = built.saturating_add(bucket_count(s.start, s.end, interval));
        ev.check_points(built)?;
        let (values, aligned_end) = summarize_values(s, func, interval, s.start, s.end);
        s.tags
            .insert("smartSummarize".into(), interval_text.clone());
        s.tags
            .insert("smartSummarizeFunction".into(), func_name.clone());
        let name = format!(
            "smartSummarize({}, \"{interval_text}\", \"{func_name}\")",
            s.name
        );
        let mut r = s.copy_with(name, s.start, values);
        r.end = aligned_end;
        r.step = interval;
        out.push(r);
    }
    Ok(Value::SeriesList(out))
}

static HITCOUNT: FunctionDef = FunctionDef {
    name: "hitcount",
    group: "Transform",
    description: "Treats the values as rates per second and counts the hits per interval \
                  (value × seconds, split across buckets in proportion); buckets are laid out \
                  backwards from the end of the series. alignToInterval moves the range start \
                  back to the day, hour or minute and fetches again.",
    params: &[
        SERIES_LIST,
        Param::new("intervalString", ParamType::Interval)
            .required()
            .suggestions(SUMMARIZE_SUGGESTIONS),
        Param::new("alignToInterval", ParamType::Boolean).default(Lit::Bool(false)),
    ],
    aggregator: false,
    streamable: None,
    implementation: hitcount,
};

fn hitcount(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let interval_text = args.string(1)?;
    let align = args.bool(2)?;
    let interval = positive_interval(&args, &interval_text)?;
    if align {
        let mut aligned = ctx.clone();
        if interval >= 86_400 {
            aligned.start = aligned_start(ctx, AlignUnit::Days)?;
        } else if interval >= 3600 {
            aligned.start = aligned_start(ctx, AlignUnit::Hours)?;
        } else if interval >= 60 {
            aligned.start = aligned_start(ctx, AlignUnit::Minutes)?;
        }
        list = ev.evaluate_with(&aligned, args.raw()?, args.replacements())?;
        for s in &mut list {
            let count = floor_div(s.end - s.start, interval);
            s.end = s.start + count * interval + interval;
        }
    }
    let mut out = Vec::with_capacity(list.len());
    let mut built = 0usize;
    for s in &mut list {
        let step = s.step;
        let buckets_len = ((s.end - s.start) as f64 / interval as f64).ceil().max(0.0) as i64;
        built = built.saturating_add(buckets_len as usize);
        ev.check_points(built)?;
        let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); buckets_len as usize];
        let new_start = s.end - buckets_len * interval;
        for (i, v) in s.points().iter().enumerate() {
            let Some(value) = *v else {
                continue;
            };
            let start_time = s.start + i as i64 * step;
            let (start_bucket, start_mod) = (
                floor_div(start_time - new_start, interval),
                (start_time - new_start).rem_euclid(interval),
            );
            let end_time = start_time + step;
            let (mut end_bucket, mut end_mod) = (
                floor_div(end_time - new_start, interval),
                (end_time - new_start).rem_euclid(interval),
            );
            if end_bucket >= buckets_len {
                end_bucket = buckets_len - 1;
                end_mod = interval;
            }
            // buckets start at or before the series, so indices stay in range
            let mut put = |b: i64, x: f64| {
                if (0..buckets_len).contains(&b) {
                    buckets[b as usize].push(x);
                }
            };
            if start_bucket == end_bucket {
                if start_bucket >= 0 {
                    put(start_bucket, value * (end_mod - start_mod) as f64);
                }
            } else {
                if start_bucket >= 0 {
                    put(start_bucket, value * (interval - start_mod) as f64);
                }
                let per_bucket = value * interval as f64;
                for j in start_bucket + 1..end_bucket {
                    put(j, per_bucket);
                }
                if end_mod > 0 {
                    put(end_bucket, value * end_mod as f64);
                }
            }
        }
        let values = buckets
            .iter()
            .map(|b| (!b.is_empty()).then(|| b.iter().fold(0.0, |acc, x| acc + x)))
            .collect();
        s.tags.insert("hitcount".into(), interval_text.clone());
        let name = format!(
            "hitcount({}, \"{interval_text}\"{})",
            s.name,
            if align { ", true" } else { "" }
        );
        let mut r = s.copy_with(name, new_start, values);
        r.step = interval;
        out.push(r);
    }
    Ok(Value::SeriesList(out))
}

// ---------------------------------------------------------------------------
// Time shifts (refetch the first argument over another window)

/// graphite's default sign for shifts: no sign means backwards.
fn backwards_by_default(shift: &str) -> String {
    if shift.starts_with(|c: char| c.is_ascii_digit()) {
        format!("-{shift}")
    } else {
        shift.to_string()
    }
}

/// Whether `t` is in daylight saving time in `tz`.
fn is_dst(tz: Tz, t: i64) -> bool {
    tz.timestamp_opt(t, 0)
        .single()
        .is_some_and(|dt| !dt.offset().dst_offset().is_zero())
}

static TIME_SHIFT: FunctionDef = FunctionDef {
    name: "timeShift",
    group: "Transform",
    description: "Fetches the series again for a window shifted by an interval (backwards \
                  unless it starts with +) and draws it over the current window. resetEnd \
                  (default) cuts it at the current series' end; alignDST adds or removes an \
                  hour when the two windows are wholly on different sides of a DST change.",
    params: &[
        SERIES_LIST,
        Param::new("timeShift", ParamType::Interval)
            .required()
            .suggestions(SHIFT_SUGGESTIONS),
        Param::new("resetEnd", ParamType::Boolean).default(Lit::Bool(true)),
        Param::new("alignDst", ParamType::Boolean)
            .default(Lit::Bool(false))
            .python("alignDST=False"),
    ],
    aggregator: false,
    streamable: None,
    implementation: time_shift,
};

fn time_shift(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let shift = backwards_by_default(&args.string(1)?);
    let reset_end = args.bool(2)?;
    let align_dst = args.bool(3)?;
    let delta = parse_offset(&shift)?;
    let mut shifted = ctx.clone();
    shifted.start = ctx.start + delta;
    shifted.end = ctx.end + delta;
    if align_dst {
        let req = (is_dst(ctx.tz, ctx.start), is_dst(ctx.tz, ctx.end));
        let mine = (is_dst(ctx.tz, shifted.start), is_dst(ctx.tz, shifted.end));
        let dst_offset = match (req, mine) {
            ((true, true), (false, false)) => 3600,
            ((false, false), (true, true)) => -3600,
            _ => 0,
        };
        shifted.start += dst_offset;
        shifted.end += dst_offset;
    }
    let Some(first) = list.first() else {
        return Ok(Value::SeriesList(list));
    };
    let (start, end) = (first.start, first.end);
    let mut out = ev.evaluate_with(&shifted, args.raw()?, args.replacements())?;
    for s in &mut out {
        s.tags.insert("timeShift".into(), shift.clone());
        s.name = format!("timeShift({}, \"{shift}\")", s.name);
        s.end = if reset_end {
            end
        } else {
            s.end - s.start + start
        };
        s.start = start;
    }
    Ok(Value::SeriesList(out))
}

static TIME_SLICE: FunctionDef = FunctionDef {
    name: "timeSlice",
    group: "Transform",
    description: "Keeps the values between two times (inclusive) and nulls the rest. The \
                  times are from/until specifications read as graphite-web does: relative ones \
                  against the server's clock, not the request's `now`.",
    params: &[
        SERIES_LIST,
        Param::new("startSliceAt", ParamType::Date).required(),
        Param::new("endSliceAt", ParamType::Date).default(Lit::Str("now")),
    ],
    aggregator: false,
    streamable: None,
    implementation: time_slice,
};

fn time_slice(_ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let start_text = args.string(1)?;
    let end_text = args.string(2)?;
    // graphite calls parseATTime without `now`: the wall clock, not the request's
    let start = parse_at_time(&start_text, ctx.tz, ctx.wall_clock)?;
    let end = parse_at_time(&end_text, ctx.tz, ctx.wall_clock)?;
    for s in &mut list {
        s.tags.insert("timeSliceStart".into(), start.to_string());
        s.tags.insert("timeSliceEnd".into(), end.to_string());
        // the display name only; graphite keeps the path expression here
        s.name = format!("timeSlice({}, {start}, {end})", s.name);
        // graphite counts time from the requested start, not the series' first point
        let mut t = ctx.start;
        let step = s.step;
        map_in_place(s, |v| {
            let keep = v.filter(|_| t >= start && t <= end);
            t += step;
            keep
        });
    }
    Ok(Value::SeriesList(list))
}

static TIME_STACK: FunctionDef = FunctionDef {
    name: "timeStack",
    group: "Transform",
    description: "The series fetched again for each shift k × timeShiftUnit, k from \
                  timeShiftStart up to (not including) timeShiftEnd, all drawn over the \
                  current window (e.g. the same hour on each of the last 7 days).",
    params: &[
        SERIES_LIST,
        Param::new("timeShiftUnit", ParamType::Interval)
            .default(Lit::Str("1d"))
            .suggestions(SHIFT_SUGGESTIONS),
        Param::new("timeShiftStart", ParamType::Integer).default(Lit::Int(0)),
        Param::new("timeShiftEnd", ParamType::Integer).default(Lit::Int(7)),
    ],
    aggregator: false,
    streamable: None,
    implementation: time_stack,
};

fn time_stack(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let unit = backwards_by_default(&args.string(1)?);
    let first_shift = args.int(2)?;
    let last_shift = args.int(3)?;
    let delta = parse_offset(&unit)?;
    let Some(first) = list.first() else {
        return Ok(Value::SeriesList(list));
    };
    let (start, end) = (first.start, first.end);
    let mut out = Vec::new();
    for k in first_shift..last_shift {
        ev.check_deadline()?;
        let mut shifted = ctx.clone();
        shifted.start = ctx.start + delta * k;
        shifted.end = ctx.end + delta * k;
        for mut s in ev.evaluate_with(&shifted, args.raw()?, args.replacements())? {
            s.tags.insert("timeShiftUnit".into(), unit.clone());
            s.tags.insert("timeShift".into(), k.to_string());
            let name = format!("timeShift({}, {unit}, {k})", s.name);
            rename(&mut s, name);
            s.start = start;
            s.end = end;
            out.push(s);
        }
    }
    Ok(Value::SeriesList(out))
}

// ---------------------------------------------------------------------------
// Generators

static TIME_FUNCTION: FunctionDef = FunctionDef {
    name: "timeFunction",
    group: "Transform",
    description: "A series whose value at each point is its timestamp (seconds since the \
                  epoch), every `step` seconds from the start of the range.",
    params: &[
        Param::new("name", ParamType::String).required(),
        Param::new("step", ParamType::Integer).default(Lit::Int(60)),
    ],
    aggregator: false,
    streamable: None,
    implementation: time_function,
};

/// Timestamps `start, start + step, ...` below `end`.
fn ticks(ev: &Evaluator<'_>, args: &Args, ctx: &Context, step: i64) -> Result<Vec<i64>, ApiError> {
    if step <= 0 {
        return Err(args.error("step must be positive"));
    }
    ev.check_points(bucket_count(ctx.start, ctx.end, step))?;
    Ok((ctx.start..ctx.end).step_by(step as usize).collect())
}

fn time_function(ev: &mut Evaluator<'_>, ctx: &Context, args: Args) -> Result<Value, ApiError> {
    let name = args.string(0)?;
    let step = args.int(1)?;
    let values = ticks(ev, &args, ctx, step)?
        .into_iter()
        .map(|t| Some(t as f64))
        .collect();
    Ok(Value::SeriesList(vec![Series::new(
        name,
        ctx.start,
        ctx.end,
        step,
        values,
        ctx.x_files_factor,
    )]))
}

static SIN_FUNCTION: FunctionDef = FunctionDef {
    name: "sinFunction",
    group: "Transform",
    description: "A sine wave of the timestamp (amplitude × sin(t)), every `step` seconds \
                  from the start of the range.",
    params: &[
        Param::new("name", ParamType::String).required(),
        Param::new("amplitude", ParamType::Integer).default(Lit::Int(1)),
        Param::new("step", ParamType::Integer).default(Lit::Int(60)),
    ],
    aggregator: false,
    streamable: None,
    implementation: sin_function,
};

fn sin_function(ev: &mut Evaluator<'_>, ctx: &Context, args: Args) -> Result<Value, ApiError> {
    let name = args.string(0)?;
    // graphite validates an integer but multiplies by whatever it was given
    let amplitude = args.float(1)?;
    let step = args.int(2)?;
    let values = ticks(ev, &args, ctx, step)?
        .into_iter()
        .map(|t| Some((t as f64).sin() * amplitude))
        .collect();
    Ok(Value::SeriesList(vec![Series::new(
        name,
        ctx.start,
        ctx.end,
        step,
        values,
        ctx.x_files_factor,
    )]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{eval_one, MemoryRead};

    fn read() -> MemoryRead {
        MemoryRead::new()
            .with("a.b", 0, 10, &[Some(1.5), None, Some(-2.0), Some(4.0)])
            .with(
                "c.n",
                0,
                10,
                &[Some(1.0), Some(3.0), None, Some(10.0), Some(2.0), Some(5.0)],
            )
            .with(
                "g.x",
                0,
                10,
                &[None, Some(1.0), None, None, Some(4.0), None],
            )
    }

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

    proptest::proptest! {
        #[test]
        fn python_round_fast_path_is_exact(x in proptest::num::f64::NORMAL, n in 0i64..16) {
            let exact: f64 = format!("{:.*}", n as usize, x).parse().unwrap();
            proptest::prop_assert_eq!(py_round(x, n).to_bits(), exact.to_bits());
        }

        #[test]
        fn python_round_near_ties_is_exact(units in -10_000_000i64..10_000_000, n in 0i64..8) {
            // decimal ties like 0.0000125 are not exact in binary: the exact
            // path decides, and the fast path must not get in its way
            let x = (units as f64 + 0.5) / POWERS_OF_TEN[n as usize];
            let exact: f64 = format!("{:.*}", n as usize, x).parse().unwrap();
            proptest::prop_assert_eq!(py_round(x, n).to_bits(), exact.to_bits());
        }
    }

    #[test]
    fn python_round_halves_to_even() {
        assert_eq!(py_round(2.5, 0), 2.0);
        assert_eq!(py_round(3.5, 0), 4.0);
        assert_eq!(py_round(-0.4, 0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(py_round(0.125, 2), 0.12);
        assert_eq!(py_round(2.675, 2), 2.67);
        assert_eq!(py_round(150.0, -2), 200.0);
        assert_eq!(py_round(250.0, -2), 200.0);
        assert_eq!(py_round(250.5, -2), 300.0);
        assert_eq!(py_round(-1234.0, -1), -1230.0);
        assert_eq!(py_round(4.0, -1), 0.0);
    }

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

    #[test]
    fn summarize_buckets_on_epoch_multiples() {
        let out = eval_one(&read(), "summarize(c.n, '20s')", -10, 50);
        assert_eq!(out[0].name, "summarize(c.n, \"20s\", \"sum\")");
        assert_eq!((out[0].start, out[0].step), (0, 20));
        // the end (60) rounds up to one more, empty bucket
        assert_eq!(out[0].values, vec![Some(4.0), Some(10.0), Some(7.0), None]);
        let out = eval_one(&read(), "summarize(c.n, '20s', 'max', true)", -10, 50);
        assert_eq!(out[0].name, "summarize(c.n, \"20s\", \"max\", true)");
        assert_eq!(out[0].values, vec![Some(3.0), Some(10.0), Some(5.0)]);
    }

    #[test]
    fn hitcount_spreads_rates_over_buckets() {
        let out = eval_one(&read(), "hitcount(c.n, '20s')", -10, 50);
        assert_eq!(out[0].name, "hitcount(c.n, \"20s\")");
        assert_eq!(out[0].start, 0);
        assert_eq!(out[0].values, vec![Some(40.0), Some(100.0), Some(70.0)]);
    }

    #[test]
    fn time_shift_refetches() {
        let values: Vec<Option<f64>> = (0..20).map(|i| Some(i as f64)).collect();
        let read = MemoryRead::new().with("m", 0, 10, &values);
        let out = eval_one(&read, "timeShift(m, '30s')", 100, 130);
        assert_eq!(out[0].name, "timeShift(m, \"-30s\")");
        assert_eq!(out[0].start, 110);
        assert_eq!(out[0].values, vec![Some(8.0), Some(9.0), Some(10.0)]);
        let out = eval_one(&read, "timeStack(m, '10s', 0, 2)", 100, 130);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].name, "timeShift(m, -10s, 1)");
        assert_eq!(out[1].values[0], Some(10.0));
    }

    #[test]
    fn time_slice_reads_relative_times_from_the_context_clock() {
        let values: Vec<Option<f64>> = (0..10).map(|i| Some(i as f64)).collect();
        let read = MemoryRead::new().with("m", 0, 10, &values);
        let mut ctx = Context::new(-10, 90);
        for (clock, name) in [
            (60, "timeSlice(m, 30, 50)"),
            (1_000_080, "timeSlice(m, 1000050, 1000070)"),
        ] {
            ctx.wall_clock = clock;
            let out = crate::testing::eval_in(&read, "timeSlice(m, '-30s', '-10s')", &ctx);
            assert_eq!(out[0].name, name);
        }
        // the request's `now` does not move them
        ctx.now = 5;
        let out = crate::testing::eval_in(&read, "timeSlice(m, '-30s', '-10s')", &ctx);
        assert_eq!(out[0].name, "timeSlice(m, 1000050, 1000070)");
    }

    #[test]
    fn built_points_are_bounded_by_the_request_limit() {
        let read = read();
        let limits = crate::eval::Limits {
            max_points: 1000,
            ..Default::default()
        };
        for target in [
            "time('t', 1)",
            "summarize(c.n, '1s')",
            "hitcount(c.n, '1s')",
        ] {
            let expr = crate::target::parse_target(target).unwrap();
            let mut ev = Evaluator::new(&read, limits.clone());
            let err = ev
                .evaluate_targets(&Context::new(-10, 3600), &[expr])
                .expect_err(target);
            assert!(matches!(err, ApiError::Limit(_)), "{target}: {err}");
        }
    }

    #[test]
    fn generators() {
        let out = eval_one(&read(), "time('t', 20)", 0, 60);
        assert_eq!(out[0].values, vec![Some(0.0), Some(20.0), Some(40.0)]);
        let out = eval_one(&read(), "sin('s', 2)", 0, 120);
        assert_eq!(out[0].values, vec![Some(0.0), Some(60f64.sin() * 2.0)]);
    }
}
