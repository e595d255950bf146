//! The function registry: every render function by name, with the metadata
//! `/functions` serves (signature, group, parameters with graphite-web's
//! types, defaults and options) and its implementation.
//!
//! # How to add a function
//!
//! 1. Find its graphite-web group (`.group` in graphite-web's
//!    `render/functions.py`) and open that group's module here:
//!    `combine/` = "Combine" (`aggregate.rs`, `percent.rs`, `group.rs`),
//!    `transform/` = "Transform" (`pointwise.rs`, `derivative.rs`,
//!    `summarize.rs`, `time_shift.rs`, `generate.rs`), `calculate.rs` and
//!    `holt_winters.rs` = "Calculate", `alias.rs` = "Alias", and
//!    `filter_series.rs`, `filter_data.rs`, `sorting.rs`, `graph.rs`,
//!    `special.rs` for the others; create the file and add its `register`
//!    to [`build_registry`] (or to its folder's `mod.rs`) if it does not
//!    exist yet.
//! 2. Write the implementation as
//!    `fn name(ev: &mut Evaluator, ctx: &Context, mut args: Args) -> Result<Value, ApiError>`.
//!    Read times from the [`Context`] (`ctx.now`, and `ctx.wall_clock`
//!    where graphite uses the server's clock), never from the system.
//!    Read arguments by parameter position with the typed getters of
//!    [`Args`] (`args.series_list(0)?`, `args.float(1)?`,
//!    `args.opt_float(2)?`, `args.rest_series_lists()?`, ...); missing
//!    optional arguments come back as the parameter's default. Mutate and
//!    return the input series where graphite does, build new ones with
//!    [`Series::copy_with`] or [`Series::new`], and name them exactly as
//!    graphite does (`%g` → [`crate::pyfmt::format_g`], `str()` →
//!    [`Value::py_str`] / [`crate::pyfmt::float_repr`]).
//! 3. Declare a `static` [`FunctionDef`]:
//!    `FunctionDef::new("name", "Group", implementation)` then
//!    `.description(..)`, `.params(..)` and, for an aggregator,
//!    `.aggregator(..)`. graphite's parameter list — names,
//!    [`ParamType`]s, `required`, defaults, `multiple`, options and
//!    suggestions — must match graphite-web 1.1.10 because Grafana's
//!    editor reads it; share a `const` [`Param`] or param list with the
//!    file's other functions where graphite repeats one. Add the
//!    definition to the file's `register` (`r.add_all(&[..])`, aliases
//!    with [`Registry::alias`]). Where graphite's Python signature disagrees
//!    with its declared params, register the Python one with
//!    [`Registry::python_signature`] (`/functions` shows it).
//! 4. Functions that need data over another window (timeShift, moving*,
//!    holtWinters*) re-evaluate their first argument with
//!    [`Evaluator::evaluate_with`]`(&new_ctx, args.raw(), args.replacements())`.
//! 5. Shared machinery lives here: [`normalize`] (LCM step alignment),
//!    [`AggFunc`] (graphite's aggFuncs), [`xff_ok`], [`format_path_expressions`],
//!    [`agg_key`] (node/tag keys of `aliasByNode`, `groupByNode`, ...),
//!    [`percentile`] (graphite's `_getPercentile`), [`py_round`] and
//!    [`py_slice`]. Add to it rather than copying.
//! 6. Test: unit tests next to the function (with [`crate::testing`]) and
//!    at least two differential cases against graphite-web: in the group's
//!    `tests/render_functions_*.rs` (`combine_transform`, `filter_alias`)
//!    or in `tests/render_diff.rs` for the other groups.

mod aggfunc;
mod alias;
mod args;
mod calculate;
mod combine;
mod events;
mod filter_data;
mod filter_series;
mod graph;
pub(crate) mod holt_winters;
mod sorting;
mod special;
mod transform;

use std::collections::BTreeMap;
use std::sync::LazyLock;

pub use aggfunc::{percentile, AggFunc};
pub use args::Args;
pub use combine::{ColumnFold, Streamable};
pub use events::EventSource;

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::format::json::{dumps, PyJson};
use crate::series::Series;
use crate::target::Expr;

/// A function implementation.
pub type Implementation = fn(&mut Evaluator<'_>, &Context, Args) -> Result<Value, ApiError>;

/// graphite-web's parameter types (`functions/params.py`), as `/functions`
/// names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    /// `boolean`
    Boolean,
    /// `date`
    Date,
    /// `float`
    Float,
    /// `integer`
    Integer,
    /// `interval` (`'5min'`)
    Interval,
    /// `intOrInterval` (`5` or `'5min'`)
    IntOrInterval,
    /// `intOrInf`
    IntOrInf,
    /// `node` (an integer node index)
    Node,
    /// `nodeOrTag`
    NodeOrTag,
    /// `series`
    Series,
    /// `seriesList`
    SeriesList,
    /// `seriesLists`
    SeriesLists,
    /// `string`
    String,
    /// `tag`
    Tag,
    /// `any`
    Any,
    /// `aggFunc` (options: the aggregation function names)
    AggFunc,
    /// `aggOrSeriesFunc` (aggregation names plus aggregator functions)
    AggOrSeriesFunc,
}

impl ParamType {
    /// The name `/functions` reports.
    pub fn name(self) -> &'static str {
        match self {
            ParamType::Boolean => "boolean",
            ParamType::Date => "date",
            ParamType::Float => "float",
            ParamType::Integer => "integer",
            ParamType::Interval => "interval",
            ParamType::IntOrInterval => "intOrInterval",
            ParamType::IntOrInf => "intOrInf",
            ParamType::Node => "node",
            ParamType::NodeOrTag => "nodeOrTag",
            ParamType::Series => "series",
            ParamType::SeriesList => "seriesList",
            ParamType::SeriesLists => "seriesLists",
            ParamType::String => "string",
            ParamType::Tag => "tag",
            ParamType::Any => "any",
            ParamType::AggFunc => "aggFunc",
            ParamType::AggOrSeriesFunc => "aggOrSeriesFunc",
        }
    }
}

/// A literal in parameter metadata: a default, an option or a suggestion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lit {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(&'static str),
    /// A boolean.
    Bool(bool),
    /// Positive infinity (`1e9999` in JSON, `inf` in signatures).
    Inf,
    /// Python's `None` (`null` in JSON), e.g. among smartSummarize's
    /// `alignTo` options.
    None,
}

impl Lit {
    fn to_value(self) -> Value {
        match self {
            Lit::Int(i) => Value::Int(i),
            Lit::Float(x) => Value::Float(x),
            Lit::Str(s) => Value::Str(s.to_string()),
            Lit::Bool(b) => Value::Bool(b),
            Lit::Inf => Value::Float(f64::INFINITY),
            Lit::None => Value::None,
        }
    }

    /// The JSON value (infinity prints as `1e9999`, never `Infinity`).
    fn to_json(self) -> PyJson {
        match self {
            Lit::Int(i) => PyJson::Int(i),
            Lit::Float(x) => PyJson::Float(x),
            Lit::Str(s) => PyJson::Str(s.to_string()),
            Lit::Bool(b) => PyJson::Bool(b),
            Lit::Inf => PyJson::Float(f64::INFINITY),
            Lit::None => PyJson::Null,
        }
    }

    /// Python `repr()` as in a signature (`'average'`, `None`, `inf`).
    fn py_repr(self) -> String {
        match self {
            Lit::Int(i) => i.to_string(),
            Lit::Float(x) => crate::pyfmt::float_repr(x),
            Lit::Str(s) => format!("'{s}'"),
            Lit::Bool(true) => "True".into(),
            Lit::Bool(false) => "False".into(),
            Lit::Inf => "inf".into(),
            Lit::None => "None".into(),
        }
    }
}

/// One parameter of a function, as graphite-web's `Param`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Param {
    /// Python parameter name (keyword arguments use it).
    pub name: &'static str,
    /// Declared type.
    pub ty: ParamType,
    /// Must be given.
    pub required: bool,
    /// Value when not given.
    pub default: Option<Lit>,
    /// Takes all remaining positional arguments (`*name`); only the last.
    pub multiple: bool,
    /// Allowed values (in addition to the type's own options).
    pub options: &'static [Lit],
    /// Values the editor suggests.
    pub suggestions: &'static [Lit],
    /// The parameter as graphite's Python signature spells it, where that
    /// differs from the metadata (`precision=None`, `*positions`,
    /// `alignDST=False`): the text `/functions` shows in `function`, and
    /// (up to `=`) the keyword name it binds.
    pub python: Option<&'static str>,
}

impl Param {
    /// An optional parameter without default.
    pub const fn new(name: &'static str, ty: ParamType) -> Param {
        Param {
            name,
            ty,
            required: false,
            default: None,
            multiple: false,
            options: &[],
            suggestions: &[],
            python: None,
        }
    }

    /// Sets the Python spelling (see [`Param::python`]).
    pub const fn python(mut self, spelling: &'static str) -> Param {
        self.python = Some(spelling);
        self
    }

    /// The keyword name this parameter binds: the Python name.
    pub fn keyword(&self) -> &'static str {
        match self.python {
            Some(py) => {
                let py = py.trim_start_matches('*');
                py.split_once('=').map_or(py, |(name, _)| name)
            }
            None => self.name,
        }
    }

    /// Marks the parameter required.
    pub const fn required(mut self) -> Param {
        self.required = true;
        self
    }

    /// Sets the default.
    pub const fn default(mut self, value: Lit) -> Param {
        self.default = Some(value);
        self
    }

    /// Marks the parameter as `*name`.
    pub const fn multiple(mut self) -> Param {
        self.multiple = true;
        self
    }

    /// Sets the allowed values.
    pub const fn options(mut self, options: &'static [Lit]) -> Param {
        self.options = options;
        self
    }

    /// Sets the suggested values.
    pub const fn suggestions(mut self, suggestions: &'static [Lit]) -> Param {
        self.suggestions = suggestions;
        self
    }
}

/// graphite's `intOrIntervalSuggestions`.
pub const INT_OR_INTERVAL_SUGGESTIONS: &[Lit] = &[
    Lit::Int(5),
    Lit::Int(7),
    Lit::Int(10),
    Lit::Str("1min"),
    Lit::Str("5min"),
    Lit::Str("10min"),
    Lit::Str("30min"),
    Lit::Str("1hour"),
];

/// Whether a function combines series (graphite's `.aggregator`: usable as
/// a `groupByNode` callback, listed among `aggOrSeriesFunc` options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregator {
    /// Not an aggregator.
    No,
    /// An aggregator that needs all its series loaded.
    Yes,
    /// An aggregator the evaluator may compute while streaming plain-path
    /// arguments from storage (sumSeries, averageSeries).
    Streaming(Streamable),
}

/// A render function: metadata plus implementation.
#[derive(Debug)]
pub struct FunctionDef {
    /// Canonical name (aliases are registered separately).
    pub name: &'static str,
    /// graphite-web group (`Combine`, `Transform`, `Calculate`, `Filter
    /// Series`, `Filter Data`, `Sorting`, `Alias`, `Graph`, `Special`).
    pub group: &'static str,
    /// One-paragraph description for `/functions` (our wording).
    pub description: &'static str,
    /// Parameters, without graphite's leading `requestContext`.
    pub params: &'static [Param],
    /// Whether it combines series (graphite's `.aggregator`), and whether
    /// the evaluator may compute it while streaming them from storage.
    pub aggregator: Aggregator,
    /// The code.
    pub implementation: Implementation,
}

impl FunctionDef {
    /// A function called `name` in graphite-web's `group`, run by
    /// `implementation`; give its description and parameters with the
    /// builder methods below. Not an aggregator unless
    /// [`FunctionDef::aggregator`] says so.
    pub const fn new(
        name: &'static str,
        group: &'static str,
        implementation: Implementation,
    ) -> FunctionDef {
        FunctionDef {
            name,
            group,
            description: "",
            params: &[],
            aggregator: Aggregator::No,
            implementation,
        }
    }

    /// Sets the `/functions` description.
    pub const fn description(mut self, description: &'static str) -> FunctionDef {
        self.description = description;
        self
    }

    /// Sets the parameters (graphite's `.params`).
    pub const fn params(mut self, params: &'static [Param]) -> FunctionDef {
        self.params = params;
        self
    }

    /// Marks the function as an aggregator (graphite's `.aggregator`).
    pub const fn aggregator(mut self, aggregator: Aggregator) -> FunctionDef {
        self.aggregator = aggregator;
        self
    }

    /// graphite's `function` string for `/functions`: `name(a, b=None, *c)`.
    pub fn signature(&self, name: &str) -> String {
        let parts: Vec<String> = self
            .params
            .iter()
            .map(|p| {
                if let Some(py) = p.python {
                    py.to_string()
                } else if p.multiple {
                    format!("*{}", p.name)
                } else if p.required {
                    p.name.to_string()
                } else {
                    let d = p.default.map(Lit::py_repr).unwrap_or_else(|| "None".into());
                    format!("{}={d}", p.name)
                }
            })
            .collect();
        format!("{name}({})", parts.join(", "))
    }

    /// The `/functions` info object for this function under `name`, keys
    /// in graphite's order.
    pub fn info(&self, name: &str, registry: &Registry) -> PyJson {
        let params: Vec<PyJson> = self
            .params
            .iter()
            .map(|p| {
                let mut o: Vec<(String, PyJson)> = vec![
                    ("name".into(), p.name.into()),
                    ("type".into(), p.ty.name().into()),
                ];
                if p.required {
                    o.push(("required".into(), PyJson::Bool(true)));
                }
                if let Some(d) = p.default {
                    o.push(("default".into(), d.to_json()));
                }
                if p.multiple {
                    o.push(("multiple".into(), PyJson::Bool(true)));
                }
                let options = registry.options_of(p);
                if !options.is_empty() {
                    o.push(("options".into(), PyJson::List(options)));
                }
                if !p.suggestions.is_empty() {
                    o.push((
                        "suggestions".into(),
                        PyJson::List(p.suggestions.iter().map(|l| l.to_json()).collect()),
                    ));
                }
                PyJson::Dict(o)
            })
            .collect();
        PyJson::Dict(vec![
            ("name".into(), name.into()),
            ("function".into(), registry.signature_of(name, self).into()),
            ("description".into(), self.description.into()),
            ("module".into(), "graphite.render.functions".into()),
            ("group".into(), self.group.into()),
            ("params".into(), PyJson::List(params)),
        ])
    }
}

/// All functions by name (aliases included).
pub struct Registry {
    by_name: BTreeMap<&'static str, &'static FunctionDef>,
    python_args: BTreeMap<&'static str, &'static str>,
}

impl Registry {
    fn new() -> Registry {
        Registry {
            by_name: BTreeMap::new(),
            python_args: BTreeMap::new(),
        }
    }

    /// Overrides the argument list `/functions` shows in `function` for
    /// `name` (`"(seriesList, n=1, func='average')"`): graphite prints the
    /// Python signature, which for a few functions disagrees with their
    /// declared params (`highest`'s `n` is required but defaults to 1).
    pub fn python_signature(&mut self, name: &'static str, args: &'static str) {
        self.python_args.insert(name, args);
    }

    /// The `function` text `/functions` shows for `def` under `name`.
    pub fn signature_of(&self, name: &str, def: &FunctionDef) -> String {
        match self.python_args.get(name) {
            Some(args) => format!("{name}{args}"),
            None => def.signature(name),
        }
    }

    /// Registers `def` under its own name.
    pub fn add(&mut self, def: &'static FunctionDef) {
        self.by_name.insert(def.name, def);
    }

    /// Registers each of `defs` under its own name.
    pub fn add_all(&mut self, defs: &[&'static FunctionDef]) {
        for def in defs {
            self.add(def);
        }
    }

    /// Registers `def` under another name too (`sum` for `sumSeries`).
    pub fn alias(&mut self, name: &'static str, def: &'static FunctionDef) {
        self.by_name.insert(name, def);
    }

    /// The function called `name`.
    pub fn get(&self, name: &str) -> Option<&'static FunctionDef> {
        self.by_name.get(name).copied()
    }

    /// Every (name, function), sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &'static FunctionDef)> + '_ {
        self.by_name.iter().map(|(n, d)| (*n, *d))
    }

    /// A parameter's options as `/functions` lists them: its own plus its
    /// type's, sorted by their string form (graphite's `Param.options`).
    fn options_of(&self, p: &Param) -> Vec<PyJson> {
        let mut names: Vec<(String, PyJson)> = p
            .options
            .iter()
            .map(|l| (lit_sort_key(l), l.to_json()))
            .collect();
        let mut add = |s: &str| names.push((s.to_string(), s.into()));
        match p.ty {
            ParamType::AggFunc => AggFunc::NAMES.iter().for_each(|n| add(n)),
            ParamType::AggOrSeriesFunc => {
                AggFunc::NAMES.iter().for_each(|n| add(n));
                for (name, def) in self.iter() {
                    if def.aggregator != Aggregator::No {
                        add(name);
                    }
                }
            }
            _ => {}
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        names.dedup_by(|a, b| a.0 == b.0);
        names.into_iter().map(|(_, j)| j).collect()
    }
}

fn lit_sort_key(l: &Lit) -> String {
    match l {
        Lit::Str(s) => s.to_string(),
        other => other.py_repr(),
    }
}

fn build_registry() -> Registry {
    let mut r = Registry::new();
    combine::register(&mut r);
    transform::register(&mut r);
    calculate::register(&mut r);
    holt_winters::register(&mut r);
    alias::register(&mut r);
    filter_series::register(&mut r);
    filter_data::register(&mut r);
    sorting::register(&mut r);
    graph::register(&mut r);
    special::register(&mut r);
    events::register(&mut r);
    r
}

/// The registry of all render functions.
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(build_registry);
    &REGISTRY
}

/// `/functions` as JSON text: `{name: info}` (or `{group: {name: info}}`
/// when `grouped`), optionally only one group. Infinite defaults print as
/// `1e9999`, so the text is always valid JSON. With `pretty`, indented and
/// key-sorted as graphite-web's `jsonResponse` does.
pub fn functions_json_text(grouped: bool, group: Option<&str>, pretty: bool) -> String {
    let r = registry();
    let mut out: Vec<(String, PyJson)> = Vec::new();
    for (name, def) in r.iter() {
        if group.is_some_and(|g| g != def.group) {
            continue;
        }
        let info = def.info(name, r);
        if grouped {
            match out.iter_mut().find(|(g, _)| g == def.group) {
                Some((_, PyJson::Dict(m))) => m.push((name.to_string(), info)),
                _ => out.push((
                    def.group.to_string(),
                    PyJson::Dict(vec![(name.to_string(), info)]),
                )),
            }
        } else {
            out.push((name.to_string(), info));
        }
    }
    dumps(&PyJson::Dict(out), pretty, true, pretty)
}

/// One function's `/functions/<name>` JSON text, if it exists.
pub fn function_json_text(name: &str, pretty: bool) -> Option<String> {
    let r = registry();
    r.get(name)
        .map(|def| dumps(&def.info(name, r), pretty, true, pretty))
}

/// Greatest common divisor.
pub fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Least common multiple, as graphite's `lcm`.
pub fn lcm(a: i64, b: i64) -> i64 {
    if a == b {
        return a;
    }
    let (a, b) = if a < b { (b, a) } else { (a, b) };
    a / gcd(a, b) * b
}

/// graphite's `normalize`: concatenates the lists, sets every series to
/// consolidate to the LCM of all steps (lazily, see [`Series::points`]),
/// and returns the common `(start, end, step)` with `end` trimmed to a
/// whole number of steps from `start`. `None` when there is no series.
pub fn normalize(lists: Vec<Vec<Series>>) -> Option<(Vec<Series>, i64, i64, i64)> {
    let mut all: Vec<Series> = lists.into_iter().flatten().collect();
    let mut refs: Vec<&mut Series> = all.iter_mut().collect();
    let (start, end, step) = normalize_refs(&mut refs)?;
    Some((all, start, end, step))
}

/// [`normalize`] over series held elsewhere (graphite normalizes pairs and
/// groups of the same objects it later reads, e.g. in `asPercent`).
pub fn normalize_refs(series: &mut [&mut Series]) -> Option<(i64, i64, i64)> {
    let step = series.iter().map(|s| s.step).reduce(lcm)?;
    for s in series.iter_mut() {
        if s.step > 0 {
            s.consolidate((step / s.step) as usize);
        }
    }
    let start = series.iter().map(|s| s.start).min()?;
    let mut end = series.iter().map(|s| s.end).max()?;
    if step > 0 {
        end -= (end - start).rem_euclid(step);
    }
    Some((start, end, step))
}

/// graphite's `xff(nonNull, total, xFilesFactor)`: at least one value and
/// `nonNull / total >= xff`.
pub fn xff_ok(non_null: usize, total: usize, x_files_factor: f64) -> bool {
    non_null > 0 && total > 0 && non_null as f64 / total as f64 >= x_files_factor
}

/// Python's `seq[start:stop]` bounds (`None` = omitted), clamped, as a
/// range that may be empty.
pub fn py_slice(len: usize, start: Option<i64>, stop: Option<i64>) -> std::ops::Range<usize> {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let fix = |v: i64| -> usize {
        let v = if v < 0 {
            (len_i + v).max(0)
        } else {
            v.min(len_i)
        };
        v as usize
    };
    let lo = start.map(fix).unwrap_or(0);
    let hi = stop.map(fix).unwrap_or(len);
    lo..hi.max(lo)
}

/// 10⁰ … 10¹⁵, all exact in binary64.
const POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Python's `round(x, ndigits)` of a float: the exact binary value rounded
/// to `ndigits` decimals, ties to even.
pub fn py_round(x: f64, ndigits: i64) -> f64 {
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

/// graphite's `formatPathExpressions`: the distinct path expressions of the
/// series in first-seen order, joined by `,` (`sumSeries(a.*,b.*)`).
pub fn format_path_expressions(series: &[Series]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for s in series {
        if !seen.contains(&s.path_expression.as_str()) {
            seen.push(&s.path_expression);
        }
    }
    seen.join(",")
}

/// graphite's `aggKey`: the values of `nodes` (node indices or tag names,
/// see [`node_or_tag`]) joined by `.`; for a function-like name (ending in
/// `)`) the nodes are taken from its first path expression.
pub fn agg_key(series: &Series, nodes: &[Value]) -> Result<String, ApiError> {
    let first = if series.name.ends_with(')') {
        first_path_expression(&series.name)
    } else {
        None
    };
    let parts: Result<Vec<String>, ApiError> = nodes
        .iter()
        .map(|n| node_or_tag(series, n, first.as_deref()))
        .collect();
    Ok(parts?.join("."))
}

/// graphite's `getNodeOrTag`: an integer `n` picks node `n` (Python
/// indexing, so -1 is the last) of the name without its tags; anything
/// else, or an index out of range, is looked up as a tag (missing: `""`).
pub fn node_or_tag(
    series: &Series,
    n: &Value,
    path_expression: Option<&str>,
) -> Result<String, ApiError> {
    let index = match n {
        Value::Int(i) => Some(*i),
        Value::Bool(b) => Some(*b as i64),
        Value::Float(x) if x.fract() == 0.0 => {
            return Err(ApiError::BadRequest(format!(
                "node {} must be an integer or a tag name",
                crate::pyfmt::float_repr(*x)
            )))
        }
        Value::None | Value::SeriesList(_) => {
            return Err(ApiError::BadRequest(format!(
                "node must be an integer or a tag name, not {}",
                n.kind()
            )))
        }
        _ => None,
    };
    if let Some(i) = index {
        let name = path_expression.unwrap_or(&series.name);
        let metric = name.split(';').next().unwrap_or("");
        let nodes: Vec<&str> = metric.split('.').collect();
        if let Some(node) = py_index(&nodes, i) {
            return Ok(node.to_string());
        }
    }
    Ok(series.tags.get(&n.py_str()).cloned().unwrap_or_default())
}

/// `list[i]` with Python's negative indexing; `None` when out of range.
pub fn py_index<T>(items: &[T], i: i64) -> Option<&T> {
    let len = items.len() as i64;
    let i = if i < 0 { i + len } else { i };
    if (0..len).contains(&i) {
        items.get(i as usize)
    } else {
        None
    }
}

/// graphite's `_getFirstPathExpression`: the first metric path of an
/// expression, following first arguments down (`None` when the name does
/// not parse or leads to a non-path).
pub fn first_path_expression(name: &str) -> Option<String> {
    let mut expr = crate::target::parse_target(name).ok()?;
    loop {
        match expr {
            Expr::Path(p) => return Some(p),
            Expr::Call(mut call) if !call.args.is_empty() => expr = call.args.swap_remove(0),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_has_a_consistent_signature() {
        for (name, def) in registry().iter() {
            let multiple: Vec<_> = def.params.iter().filter(|p| p.multiple).collect();
            assert!(multiple.len() <= 1, "{name}: one multiple param at most");
            if let Some(m) = multiple.first() {
                assert_eq!(def.params.last().map(|p| p.name), Some(m.name), "{name}");
            }
            assert!(!def.description.is_empty(), "{name} has a description");
        }
    }

    #[test]
    fn functions_json_is_valid_and_uses_1e9999() {
        let text = functions_json_text(false, None, false);
        // 1e9999 is valid JSON but beyond serde_json's range: quote it
        let parsed: serde_json::Value =
            serde_json::from_str(&text.replace("1e9999", "\"1e9999\"")).expect("valid JSON");
        assert!(parsed.get("sumSeries").is_some());
        assert!(!text.contains("Infinity"));
        assert_eq!(
            parsed["sum"]["function"].as_str(),
            Some("sum(*seriesLists)")
        );
        let grouped: serde_json::Value = serde_json::from_str(
            &functions_json_text(true, None, true).replace("1e9999", "\"1e9999\""),
        )
        .unwrap();
        assert!(grouped["Combine"]["sumSeries"].is_object());
    }

    #[test]
    fn agg_key_nodes_tags_and_function_names() {
        let plain = Series::new("a.b.c", 0, 10, 10, vec![], 0.0);
        let key = |s: &Series, n: &[Value]| agg_key(s, n).unwrap();
        assert_eq!(key(&plain, &[Value::Int(1)]), "b");
        assert_eq!(key(&plain, &[Value::Int(-1), Value::Int(0)]), "c.a");
        assert_eq!(key(&plain, &[Value::Int(7)]), "");
        assert_eq!(key(&plain, &[Value::Str("name".into())]), "a.b.c");
        let tagged = Series::new("disk.used;dc=eu;host=h1", 0, 10, 10, vec![], 0.0);
        assert_eq!(key(&tagged, &[Value::Int(1)]), "used");
        assert_eq!(
            key(
                &tagged,
                &[Value::Str("host".into()), Value::Str("dc".into())]
            ),
            "h1.eu"
        );
        let mut wrapped = plain.clone();
        wrapped.name = "scale(sumSeries(x.y.z),2)".into();
        assert_eq!(key(&wrapped, &[Value::Int(2)]), "z");
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
        assert_eq!(py_round(0.1234565, 6), 0.123456);
    }

    #[test]
    fn python_slicing() {
        assert_eq!(py_slice(5, Some(-2), None), 3..5);
        assert_eq!(py_slice(5, Some(1), Some(-1)), 1..4);
        assert_eq!(py_slice(5, Some(4), Some(2)), 4..4);
        assert_eq!(py_slice(5, None, Some(99)), 0..5);
    }

    #[test]
    fn lcm_and_normalize() {
        assert_eq!(lcm(10, 60), 60);
        assert_eq!(lcm(15, 10), 30);
        let a = Series::new("a", 0, 60, 10, vec![Some(1.0); 6], 0.0);
        let b = Series::new("b", 0, 60, 30, vec![Some(2.0); 2], 0.0);
        let (all, start, end, step) = normalize(vec![vec![a], vec![b]]).unwrap();
        assert_eq!((start, end, step), (0, 60, 30));
        assert_eq!(all[0].values_per_point, 3);
        assert_eq!(all[1].values_per_point, 1);
    }
}
