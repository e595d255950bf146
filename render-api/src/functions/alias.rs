//! graphite-web's "Alias" group: functions that rename series (alias,
//! aliasByNode, aliasByTags, aliasByMetric, aliasSub, aliasQuery,
//! legendValue, upper, lower).
//!
//! Also home of the Python-compatibility helpers renaming needs, shared
//! with the other groups of this family: [`PyRegex`] (a Python `re` pattern
//! with `re.sub` semantics and `\1` replacements), [`percent_format`]
//! (Python's `fmt % value`), [`format_units`] (graphite's si/binary
//! prefixes) and [`agg_value_str`] (`str()` of an aggregation result).

use regex::Regex;

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::pyfmt::{float_repr, format_f, format_g_precision};
use crate::series::Series;
use crate::target::parse_target;

use super::{agg_key, py_index, AggFunc, Args, FunctionDef, Param, ParamType, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[
        &ALIAS,
        &ALIAS_BY_NODE,
        &ALIAS_BY_TAGS,
        &ALIAS_BY_METRIC,
        &ALIAS_SUB,
        &ALIAS_QUERY,
        &LEGEND_VALUE,
        &UPPER,
        &LOWER,
    ]);
    // the Python argument is *valueTypes, the declared param valuesTypes
    r.python_signature("legendValue", "(seriesList, *valueTypes)");
}

const SERIES_LIST: Param = Param::new("seriesList", ParamType::SeriesList).required();

static ALIAS: FunctionDef = FunctionDef::new("alias", "Alias", alias)
    .description("Gives every series of the list the same new name.")
    .params(&[
        SERIES_LIST,
        Param::new("newName", ParamType::String).required(),
    ]);

fn alias(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let name = args.string(1)?;
    rename_each(list, |_| Ok(name.clone()))
}

/// Renames every series of `list` to `name(series)`: the loop of the
/// Alias functions, once they have read their arguments.
fn rename_each(
    mut list: Vec<Series>,
    mut name: impl FnMut(&Series) -> Result<String, ApiError>,
) -> Result<Value, ApiError> {
    for s in &mut list {
        s.name = name(s)?;
    }
    Ok(Value::SeriesList(list))
}

static ALIAS_BY_NODE: FunctionDef = FunctionDef::new("aliasByNode", "Alias", alias_by_node)
    .description(
        "Names each series by one or more of its nodes (0-based, negative counts \
         from the end) or tag values, joined by dots. Names of function results \
         use the first metric path inside them.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("nodes", ParamType::NodeOrTag)
            .required()
            .multiple(),
    ]);

static ALIAS_BY_TAGS: FunctionDef = FunctionDef::new("aliasByTags", "Alias", alias_by_node)
    .description(
        "Names each series by the values of the given tags (or nodes), joined by \
         dots; the same as aliasByNode.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("tags", ParamType::NodeOrTag)
            .required()
            .multiple(),
    ]);

fn alias_by_node(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let nodes = args.rest().to_vec();
    rename_each(list, |s| agg_key(s, &nodes))
}

static ALIAS_BY_METRIC: FunctionDef = FunctionDef::new("aliasByMetric", "Alias", alias_by_metric)
    .description(
        "Names each series by the last node of its metric path (for function \
         results, of the innermost path), as substr(seriesList, -1).",
    )
    .params(&[SERIES_LIST]);

fn alias_by_metric(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    rename_each(list, |s| Ok(super::special::substr_name(&s.name, -1, 0)))
}

static ALIAS_SUB: FunctionDef = FunctionDef::new("aliasSub", "Alias", alias_sub)
    .description(
        "Renames each series with a regular-expression search and replace \
         (Python re.sub: the replacement may use \\1 or \\g<name> for groups).",
    )
    .params(&[
        SERIES_LIST,
        Param::new("search", ParamType::String).required(),
        Param::new("replace", ParamType::String).required(),
    ]);

fn alias_sub(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let re = PyRegex::new(&args.string(1)?).map_err(|e| args.error(e))?;
    let replace = args.string(2)?;
    let template = re.template(&replace).map_err(|e| args.error(e))?;
    rename_each(list, |s| Ok(re.sub(&template, &s.name)))
}

static ALIAS_QUERY: FunctionDef = FunctionDef::new("aliasQuery", "Alias", alias_query)
    .description(
        "Renames each series from another query: the name is rewritten with a \
         regular-expression search and replace into a target, that target is \
         evaluated, and the last non-null value of its first series is formatted \
         into newName with Python's % operator (for example 'Channel %d MHz').",
    )
    .params(&[
        SERIES_LIST,
        Param::new("search", ParamType::String).required(),
        Param::new("replace", ParamType::String).required(),
        Param::new("newName", ParamType::String).required(),
    ]);

fn alias_query(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let re = PyRegex::new(&args.string(1)?).map_err(|e| args.error(e))?;
    let template = re.template(&args.string(2)?).map_err(|e| args.error(e))?;
    let new_name = args.string(3)?;
    for s in &mut list {
        let query = re.sub(&template, &s.name);
        let expr = parse_target(&query)?;
        let found = ev.evaluate_with(ctx, &expr, None)?;
        let first = found
            .first()
            .ok_or_else(|| ApiError::BadRequest(format!("No series found with query: {query}")))?;
        let current = first
            .points()
            .iter()
            .rev()
            .find_map(|v| *v)
            .ok_or_else(|| {
                ApiError::BadRequest(format!("Cannot get last value of series: {}", first.name))
            })?;
        s.name = percent_format(&new_name, current).map_err(|e| args.error(e))?;
    }
    Ok(Value::SeriesList(list))
}

static LEGEND_VALUE: FunctionDef = FunctionDef::new("legendValue", "Alias", legend_value)
    .description(
        "Appends aggregate values to each series name, e.g. ' (avg: 4.5)'; a last \
         argument 'si' or 'binary' switches to unit-prefixed, column-aligned values.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("valuesTypes", ParamType::String)
            .multiple()
            .options(LEGEND_OPTIONS),
    ]);

/// graphite's `getAllValidAggFuncs() + ['si', 'binary']`: every
/// aggregation name, the same with a `Series` suffix, and the unit systems.
const LEGEND_OPTIONS: &[super::Lit] = &{
    use super::Lit::Str;
    [
        Str("average"),
        Str("avg_zero"),
        Str("median"),
        Str("sum"),
        Str("min"),
        Str("max"),
        Str("diff"),
        Str("stddev"),
        Str("count"),
        Str("range"),
        Str("multiply"),
        Str("last"),
        Str("rangeOf"),
        Str("avg"),
        Str("total"),
        Str("current"),
        Str("averageSeries"),
        Str("avg_zeroSeries"),
        Str("medianSeries"),
        Str("sumSeries"),
        Str("minSeries"),
        Str("maxSeries"),
        Str("diffSeries"),
        Str("stddevSeries"),
        Str("countSeries"),
        Str("rangeSeries"),
        Str("multiplySeries"),
        Str("lastSeries"),
        Str("rangeOfSeries"),
        Str("avgSeries"),
        Str("totalSeries"),
        Str("currentSeries"),
        Str("si"),
        Str("binary"),
    ]
};

fn legend_value(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let mut types: Vec<String> = args.rest().iter().map(Value::py_str).collect();
    let Some(last) = types.last() else {
        return Err(args.error("needs at least one value type"));
    };
    let system = match last.as_str() {
        "si" | "binary" => types.pop(),
        _ => None,
    };
    for value_type in &types {
        let func = AggFunc::parse(value_type);
        for s in &mut list {
            let value = func.map(|f| (f, f.apply(&s.points())));
            s.name = match (&system, value) {
                (None, None) => format!("{} ({value_type}: (?))", s.name),
                (None, Some((f, v))) => {
                    let text = v.map_or_else(|| "None".to_string(), |v| agg_value_str(f, v));
                    format!("{} ({value_type}: {text})", s.name)
                }
                (Some(system), value) => {
                    let formatted = match value {
                        None => "(?)".to_string(),
                        Some((_, None)) => "None".to_string(),
                        Some((_, Some(v))) => {
                            let (v, prefix) = format_units(v, system, None).ok_or_else(|| {
                                args.error(format!("unknown unit system {system}"))
                            })?;
                            format!("{}{prefix}", format_f(v, 2))
                        }
                    };
                    format!("{:<20}{value_type:<5}{formatted:<10}", s.name)
                }
            };
        }
    }
    Ok(Value::SeriesList(list))
}

/// `(seriesList, *pos)` of upper and lower.
const CASE_PARAMS: &[Param] = &[
    SERIES_LIST,
    Param::new("pos", ParamType::Integer).multiple(),
];

/// Declares upper or lower: the same function and description but for the
/// case.
macro_rules! change_case_function {
    ($static:ident, $name:literal, $upper:literal, $case:literal) => {
        static $static: FunctionDef =
            FunctionDef::new($name, "Alias", |_, _, args| change_case(args, $upper))
                .description(concat!(
                    $case,
                    "-cases each series name, or only the characters at the given \
                     positions (negative positions count from the end)."
                ))
                .params(CASE_PARAMS);
    };
}

change_case_function!(UPPER, "upper", true, "Upper");
change_case_function!(LOWER, "lower", false, "Lower");

fn change_case(mut args: Args, upper: bool) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let mut positions = Vec::with_capacity(args.rest().len());
    for v in args.rest() {
        match v {
            Value::Int(i) => positions.push(*i),
            other => {
                return Err(args.error(format!("positions must be integers, not {}", other.kind())))
            }
        }
    }
    let convert = |s: &str| {
        if upper {
            s.to_uppercase()
        } else {
            s.to_lowercase()
        }
    };
    for s in &mut list {
        if positions.is_empty() {
            s.name = convert(&s.name);
            continue;
        }
        // Python works on a list of code points; a converted character may
        // become several (ß → SS), which later positions then see.
        let mut chars: Vec<String> = s.name.chars().map(String::from).collect();
        for &p in &positions {
            if py_index(&chars, p).is_some() {
                let k = if p < 0 { p + chars.len() as i64 } else { p } as usize;
                chars[k] = convert(&chars[k]);
            }
        }
        s.name = chars.concat();
    }
    Ok(Value::SeriesList(list))
}

/// `str()` of what an aggregation function returns: `count` gives a Python
/// int, the others floats.
pub(super) fn agg_value_str(func: AggFunc, value: f64) -> String {
    if func == AggFunc::Count && value.fract() == 0.0 && value.abs() < 1e18 {
        format!("{}", value as i64)
    } else {
        float_repr(value)
    }
}

/// graphite's `format_units(v, system=..., units=...)` (render/glyph.py):
/// scales `v` by the largest prefix of `system` (`si`, `binary`, `sec`,
/// `msec`, `none`) not above it and returns the scaled value and the
/// prefix (with `units` appended). `None` for an unknown system.
pub(super) fn format_units(v: f64, system: &str, units: Option<&str>) -> Option<(f64, String)> {
    const SI: &[(&str, f64)] = &[("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)];
    const BINARY: &[(&str, f64)] = &[
        ("Pi", 1_125_899_906_842_624.0),
        ("Ti", 1_099_511_627_776.0),
        ("Gi", 1_073_741_824.0),
        ("Mi", 1_048_576.0),
        ("Ki", 1024.0),
    ];
    const SEC: &[(&str, f64)] = &[
        ("Y", 31_536_000.0),
        ("M", 2_592_000.0),
        ("D", 86_400.0),
        ("H", 3600.0),
        ("m", 60.0),
    ];
    const MSEC: &[(&str, f64)] = &[
        ("Y", 31_536_000_000.0),
        ("M", 2_592_000_000.0),
        ("D", 86_400_000.0),
        ("H", 3_600_000.0),
        ("m", 60_000.0),
        ("s", 1000.0),
    ];
    let prefixes = match system {
        "si" => SI,
        "binary" => BINARY,
        "sec" => SEC,
        "msec" => MSEC,
        "none" => &[],
        _ => return None,
    };
    let snap = |x: f64| {
        if x - x.floor() < 0.000_000_000_01 && x > 1.0 {
            x.floor()
        } else {
            x
        }
    };
    for (prefix, size) in prefixes {
        if v.abs() >= *size {
            // graphite tests `v > 1` here, not the scaled value
            let mut scaled = v / size;
            if scaled - scaled.floor() < 0.000_000_000_01 && v > 1.0 {
                scaled = scaled.floor();
            }
            return Some((scaled, format!("{prefix}{}", units.unwrap_or(""))));
        }
    }
    Some((snap(v), units.unwrap_or("").to_string()))
}

/// Python's `fmt % value` for one float argument: `%d %i %u %f %F %e %E %g
/// %G %s %r %a` with flags `-+ 0#`, width and precision, and `%%`. Errors
/// as Python raises them (no or more than one conversion, a conversion a
/// float cannot take).
pub(super) fn percent_format(fmt: &str, value: f64) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut used = false;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut left = false;
        let mut plus = false;
        let mut space = false;
        let mut zero = false;
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '+' => plus = true,
                ' ' => space = true,
                '0' => zero = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = 0usize;
        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            width = width.saturating_mul(10).saturating_add(d as usize);
            chars.next();
        }
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = 0usize;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                p = p.saturating_mul(10).saturating_add(d as usize);
                chars.next();
            }
            precision = Some(p);
        }
        while matches!(chars.peek(), Some('h' | 'l' | 'L')) {
            chars.next();
        }
        let Some(conv) = chars.next() else {
            return Err("incomplete format".into());
        };
        if conv == '%' {
            out.push('%');
            continue;
        }
        if used {
            return Err("not enough arguments for format string".into());
        }
        used = true;
        let numeric = !matches!(conv, 's' | 'r' | 'a');
        let (negative, body) = match conv {
            'd' | 'i' | 'u' => {
                if !value.is_finite() {
                    return Err(format!(
                        "cannot convert float {} to integer",
                        float_repr(value)
                    ));
                }
                let t = value.trunc();
                (t < 0.0, format!("{}", t.abs()))
            }
            'f' | 'F' => (
                value.is_sign_negative() && !value.is_nan(),
                format_f(value.abs(), precision.unwrap_or(6)),
            ),
            'e' | 'E' => (
                value.is_sign_negative() && !value.is_nan(),
                python_exp(value.abs(), precision.unwrap_or(6)),
            ),
            'g' | 'G' => (
                value.is_sign_negative() && !value.is_nan(),
                format_g_precision(value.abs(), precision.unwrap_or(6)),
            ),
            's' | 'r' | 'a' => {
                let s = float_repr(value);
                let s = match precision {
                    Some(p) => s.chars().take(p).collect(),
                    None => s,
                };
                (false, s)
            }
            other => {
                return Err(format!(
                    "unsupported format character {other:?} for a float value"
                ))
            }
        };
        let body = if conv.is_ascii_uppercase() {
            body.to_uppercase()
        } else {
            body
        };
        let sign = if !numeric {
            ""
        } else if negative {
            "-"
        } else if plus {
            "+"
        } else if space {
            " "
        } else {
            ""
        };
        let len = sign.chars().count() + body.chars().count();
        let pad = width.saturating_sub(len);
        if left {
            out.push_str(sign);
            out.push_str(&body);
            out.extend(std::iter::repeat(' ').take(pad));
        } else if zero && numeric && value.is_finite() {
            out.push_str(sign);
            out.extend(std::iter::repeat('0').take(pad));
            out.push_str(&body);
        } else {
            out.extend(std::iter::repeat(' ').take(pad));
            out.push_str(sign);
            out.push_str(&body);
        }
    }
    if !used {
        return Err("not all arguments converted during string formatting".into());
    }
    Ok(out)
}

/// Python's `'%.<p>e' % x` for `x >= 0`: mantissa, `e`, sign, at least two
/// exponent digits.
fn python_exp(x: f64, precision: usize) -> String {
    if !x.is_finite() {
        return float_repr(x);
    }
    let text = format!("{x:.precision$e}");
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
}

/// A Python `re` pattern compiled for Rust's `regex` (the syntax both share:
/// no look-around or back-references; `\Z` is translated), used with
/// Python's `re.sub` and `re.search` semantics.
pub(super) struct PyRegex {
    re: Regex,
}

/// One piece of a parsed `re.sub` replacement.
#[derive(Debug, PartialEq)]
pub(super) enum Piece {
    /// Literal text.
    Text(String),
    /// A group by number.
    Group(usize),
    /// A group by name.
    Named(String),
}

impl PyRegex {
    /// Compiles a Python pattern.
    pub(super) fn new(pattern: &str) -> Result<PyRegex, String> {
        let translated = pattern.replace("\\Z", "\\z");
        Regex::new(&translated)
            .map(|re| PyRegex { re })
            .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))
    }

    /// Python's `re.search(pattern, text) is not None`.
    pub(super) fn is_match(&self, text: &str) -> bool {
        self.re.is_match(text)
    }

    /// Parses a `re.sub` replacement (`\1`, `\g<1>`, `\g<name>`, `\n`-style
    /// escapes, octal `\0`; unknown escapes of other characters kept).
    pub(super) fn template(&self, repl: &str) -> Result<Vec<Piece>, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let chars: Vec<char> = repl.chars().collect();
        let mut i = 0;
        let groups = self.re.captures_len();
        let push_group = |pieces: &mut Vec<Piece>, text: &mut String, g: usize| {
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(text)));
            }
            pieces.push(Piece::Group(g));
        };
        while i < chars.len() {
            let c = chars[i];
            if c != '\\' {
                text.push(c);
                i += 1;
                continue;
            }
            let Some(&next) = chars.get(i + 1) else {
                return Err("bad escape (end of pattern)".into());
            };
            i += 2;
            let octal = |c: Option<&char>| c.is_some_and(|c| ('0'..='7').contains(c));
            match next {
                'g' => {
                    if chars.get(i) != Some(&'<') {
                        return Err("missing < in \\g<...>".into());
                    }
                    let end = chars[i..]
                        .iter()
                        .position(|c| *c == '>')
                        .ok_or("missing > in \\g<...>")?;
                    let name: String = chars[i + 1..i + end].iter().collect();
                    i += end + 1;
                    if let Ok(g) = name.parse::<usize>() {
                        if g >= groups {
                            return Err(format!("invalid group reference {g}"));
                        }
                        push_group(&mut pieces, &mut text, g);
                    } else if self.re.capture_names().any(|n| n == Some(name.as_str())) {
                        if !text.is_empty() {
                            pieces.push(Piece::Text(std::mem::take(&mut text)));
                        }
                        pieces.push(Piece::Named(name));
                    } else {
                        return Err(format!("unknown group name {name:?}"));
                    }
                }
                '0' => {
                    let mut v = 0u32;
                    let mut k = 0;
                    while k < 2 && octal(chars.get(i)) {
                        v = v * 8 + chars[i].to_digit(8).unwrap_or(0);
                        i += 1;
                        k += 1;
                    }
                    text.push(char::from_u32(v).unwrap_or('\0'));
                }
                '1'..='9' => {
                    let d1 = next.to_digit(10).unwrap_or(0) as usize;
                    if chars.get(i).is_some_and(char::is_ascii_digit) {
                        if octal(Some(&next)) && octal(chars.get(i)) && octal(chars.get(i + 1)) {
                            let v = chars[i - 1..i + 2]
                                .iter()
                                .fold(0u32, |a, c| a * 8 + c.to_digit(8).unwrap_or(0));
                            if v > 0o377 {
                                return Err("octal escape value outside of range 0-0o377".into());
                            }
                            text.push(char::from_u32(v).unwrap_or('\0'));
                            i += 2;
                            continue;
                        }
                        let g = d1 * 10 + chars[i].to_digit(10).unwrap_or(0) as usize;
                        i += 1;
                        if g >= groups {
                            return Err(format!("invalid group reference {g}"));
                        }
                        push_group(&mut pieces, &mut text, g);
                    } else {
                        if d1 >= groups {
                            return Err(format!("invalid group reference {d1}"));
                        }
                        push_group(&mut pieces, &mut text, d1);
                    }
                }
                'a' => text.push('\x07'),
                'b' => text.push('\x08'),
                'f' => text.push('\x0c'),
                'n' => text.push('\n'),
                'r' => text.push('\r'),
                't' => text.push('\t'),
                'v' => text.push('\x0b'),
                '\\' => text.push('\\'),
                c if c.is_ascii_alphabetic() => return Err(format!("bad escape \\{c}")),
                c => {
                    text.push('\\');
                    text.push(c);
                }
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(pieces)
    }

    /// Python's `re.sub(pattern, template, text)`: every match replaced,
    /// empty matches included, an empty match right after another empty
    /// match's position skipped (Python ≥ 3.7 rules); unmatched groups
    /// expand to nothing.
    pub(super) fn sub(&self, template: &[Piece], text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut pos = 0;
        let mut must_advance = false;
        let mut locs = self.re.capture_locations();
        while pos <= text.len() {
            let Some(mut m) = self.re.captures_read_at(&mut locs, text, pos) else {
                break;
            };
            if must_advance && m.is_empty() && m.start() == pos {
                let Some(c) = text[pos..].chars().next() else {
                    break;
                };
                match self
                    .re
                    .captures_read_at(&mut locs, text, pos + c.len_utf8())
                {
                    Some(next) => m = next,
                    None => break,
                }
            }
            out.push_str(&text[copied..m.start()]);
            for piece in template {
                match piece {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Group(g) => {
                        if let Some((a, b)) = locs.get(*g) {
                            out.push_str(&text[a..b]);
                        }
                    }
                    Piece::Named(name) => {
                        let index = self
                            .re
                            .capture_names()
                            .position(|n| n == Some(name.as_str()));
                        if let Some((a, b)) = index.and_then(|g| locs.get(g)) {
                            out.push_str(&text[a..b]);
                        }
                    }
                }
            }
            copied = m.end();
            must_advance = m.is_empty();
            pos = m.end();
        }
        out.push_str(&text[copied..]);
        out
    }
}

/// Series names as a test sees them.
#[cfg(test)]
fn names(list: &[crate::series::Series]) -> Vec<&str> {
    list.iter().map(|s| s.name.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{eval_one, MemoryRead};

    fn read() -> MemoryRead {
        MemoryRead::new()
            .with("a.x", 0, 10, &[Some(1.0), Some(3.0)])
            .with("a.y", 0, 10, &[Some(2.0), None])
            .with("web.host-1.cpu", 0, 10, &[Some(7.0), Some(9.0)])
            .with("disk.used;dc=eu;host=h1", 0, 10, &[Some(1.0), Some(2.0)])
            .with("freq.1", 0, 10, &[Some(5.0), Some(2412.7)])
    }

    #[test]
    fn alias_renames_every_series_and_keeps_the_path_expression() {
        let out = eval_one(&read(), "alias(a.*, 'total')", -10, 10);
        assert_eq!(names(&out), ["total", "total"]);
        assert!(out.iter().all(|s| s.path_expression == "a.*"));
        let piped = eval_one(&read(), "a.x|alias(\"p\")", -10, 10);
        assert_eq!(piped[0].name, "p");
    }

    #[test]
    fn by_node_tags_and_metric() {
        let r = read();
        assert_eq!(
            names(&eval_one(&r, "aliasByNode(a.*, 1)", -10, 10)),
            ["x", "y"]
        );
        assert_eq!(
            names(&eval_one(&r, "aliasByNode(web.*.cpu, 1, -1)", -10, 10)),
            ["host-1.cpu"]
        );
        assert_eq!(
            names(&eval_one(&r, "aliasByNode(scale(a.x, 2), 0, 1)", -10, 10)),
            ["a.x"]
        );
        assert_eq!(
            names(&eval_one(
                &r,
                "aliasByTags(seriesByTag('dc=eu'), 'host', 1, 'nope')",
                -10,
                10
            )),
            ["h1.used."]
        );
        assert_eq!(
            names(&eval_one(&r, "aliasByMetric(scale(a.x,2))", -10, 10)),
            ["x"]
        );
    }

    #[test]
    fn sub_uses_python_replacement_rules() {
        let r = read();
        assert_eq!(
            names(&eval_one(
                &r,
                r#"aliasSub(web.*.cpu, "^web\.([^.]+)\..*", "\1 busy")"#,
                -10,
                10
            )),
            ["host-1 busy"]
        );
        // Grafana's refId wrapper
        assert_eq!(
            names(&eval_one(&r, r#"aliasSub(a.x, "(^.*$)", "\1 A")"#, -10, 10)),
            ["a.x A"]
        );
        let re = PyRegex::new("x*").unwrap();
        let t = re.template("-").unwrap();
        assert_eq!(re.sub(&t, "abxd"), "-a-b--d-");
        let re = PyRegex::new("(?P<n>b)|(c)").unwrap();
        let t = re.template(r"[\g<n>\2\g<0>]\t\.").unwrap();
        assert_eq!(re.sub(&t, "abc"), "a[bb]\t\\.[cc]\t\\.");
        assert!(re.template(r"\3").is_err());
        assert!(re.template(r"\q").is_err());
    }

    #[test]
    fn query_formats_the_last_value_of_another_series() {
        let out = eval_one(
            &read(),
            r#"aliasQuery(a.x, "a\.x", "freq.1", "Channel %d MHz")"#,
            -10,
            10,
        );
        assert_eq!(names(&out), ["Channel 2412 MHz"]);
    }

    #[test]
    fn percent_format_like_python() {
        for (fmt, v, want) in [
            ("%d", 2412.7, "2412"),
            ("%5.1f|", -2.25, " -2.2|"),
            ("%-6g|", 0.5, "0.5   |"),
            ("%+.3e", 12345.0, "+1.234e+04"),
            ("%s", 3.0, "3.0"),
            ("%07.2f", 12.3456, "0012.35"),
            ("%d%%", 50.0, "50%"),
            ("%i", -0.5, "0"),
        ] {
            assert_eq!(percent_format(fmt, v).unwrap(), want, "{fmt}");
        }
        assert!(percent_format("plain", 1.0).is_err());
        assert!(percent_format("%d %d", 1.0).is_err());
        assert!(percent_format("%x", 1.0).is_err());
    }

    #[test]
    fn legend_value_plain_and_units() {
        let out = eval_one(
            &read(),
            "legendValue(a.x, 'avg', 'count', 'bogus')",
            -10,
            10,
        );
        assert_eq!(out[0].name, "a.x (avg: 2.0) (count: 2) (bogus: (?))");
        let out = eval_one(&read(), "legendValue(freq.1, 'last', 'si')", -10, 10);
        assert_eq!(
            out[0].name,
            format!("{:<20}{:<5}{:<10}", "freq.1", "last", "2.41k")
        );
        assert_eq!(
            format_units(2048.0, "binary", None),
            Some((2.0, "Ki".into()))
        );
        assert_eq!(
            format_units(999.5, "si", Some("B")),
            Some((999.5, "B".into()))
        );
    }

    proptest::proptest! {
        /// User-supplied patterns, replacements, format strings and names
        /// never panic, whatever they hold.
        #[test]
        fn python_helpers_never_panic(
            pattern in "\\PC{0,12}",
            repl in "\\PC{0,16}",
            text in "\\PC{0,24}",
            fmt in "\\PC{0,16}",
            value in proptest::num::f64::ANY,
        ) {
            if let Ok(re) = PyRegex::new(&pattern) {
                if let Ok(template) = re.template(&repl) {
                    let _ = re.sub(&template, &text);
                }
                let _ = re.is_match(&text);
            }
            let _ = percent_format(&fmt, value);
            let _ = format_units(value, "si", Some("B"));
            let _ = super::super::special::substr_name(&text, -2, 3);
            let series = crate::series::Series::new(text.clone(), 0, 10, 10, vec![], 0.0);
            let _ = super::super::agg_key(&series, &[Value::Int(-1), Value::Str(pattern.clone())]);
        }
    }

    #[test]
    fn upper_and_lower() {
        let r = read();
        assert_eq!(names(&eval_one(&r, "upper(a.x)", -10, 10)), ["A.X"]);
        assert_eq!(
            names(&eval_one(&r, "upper(a.x, 0, -1, 9)", -10, 10)),
            ["A.X"]
        );
        assert_eq!(
            names(&eval_one(&r, "lower(upper(a.x), 2)", -10, 10)),
            ["A.x"]
        );
    }
}
