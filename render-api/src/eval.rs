//! Evaluation of target trees against storage's [`Read`] handle.
//!
//! [`Evaluator::evaluate_targets`] walks all targets of a request: first it
//! registers every path expression the way graphite-web's prefetch does
//! (positional arguments only — a path inside a keyword argument is never
//! prefetched in graphite-web and so evaluates to an empty list, reproduced
//! here), then it evaluates each tree, calling functions from the
//! [`crate::functions`] registry. Paths are fetched from storage on first
//! use and memoised per time range, so functions that re-evaluate their
//! first argument over another range (`timeShift`, `moving*`,
//! `holtWinters*`) fetch just that range ([`Evaluator::evaluate_with`]).
//!
//! Limits (matched series, fetched points, wall time) are enforced here and
//! reported as [`ApiError::Limit`].

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use chrono_tz::Tz;
use regex::Regex;
use storage::{FetchOptions, FetchRange, Read, TagExpr, Timestamp};

use crate::error::ApiError;
use crate::functions::{registry, Aggregator, Args, FunctionDef};
use crate::pyfmt::float_repr;
use crate::series::{Consolidation, Series};
use crate::target::{parse_target, Expr};

/// What a request may evaluate: the time window, "now", the server's clock,
/// the time zone, the request's default xFilesFactor and `template[...]`
/// values. Functions that need another window copy it and change
/// `start`/`end`.
#[derive(Clone, Debug, PartialEq)]
pub struct Context {
    /// Window start (exclusive for Whisper, as in graphite).
    pub start: Timestamp,
    /// Window end (inclusive).
    pub end: Timestamp,
    /// Reference time; decides Whisper's archive choice.
    pub now: Timestamp,
    /// The server's clock when the request arrived, read once by the HTTP
    /// layer. graphite-web parses some function arguments (timeSlice,
    /// linearRegression, verticalLine) without the request's `now`, so
    /// relative times there count from this clock; carrying it here keeps
    /// functions free of clock reads and lets tests pin it.
    pub wall_clock: Timestamp,
    /// Time zone for calendar-aligned functions.
    pub tz: Tz,
    /// Default xFilesFactor for fetched series and aggregations
    /// (`xFilesFactor` request parameter; graphite's default is 0).
    pub x_files_factor: f64,
    /// `template[name]=value` request parameters, in request order.
    pub template: Vec<(String, String)>,
}

impl Context {
    /// A context for `[start, end]` with `now = wall_clock = end`, UTC,
    /// xff 0.
    pub fn new(start: Timestamp, end: Timestamp) -> Context {
        Context {
            start,
            end,
            now: end,
            wall_clock: end,
            tz: Tz::UTC,
            x_files_factor: 0.0,
            template: Vec::new(),
        }
    }
}

/// Per-request budgets; reaching one aborts evaluation with
/// [`ApiError::Limit`].
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Most series fetched from storage in one request (all paths and
    /// refetches together).
    pub max_series: usize,
    /// Most values fetched from storage in one request.
    pub max_points: usize,
    /// Longest evaluation time.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_series: 50_000,
            max_points: 200_000_000,
            timeout: Duration::from_secs(60),
        }
    }
}

/// How series are read from storage; the default is graphite-web's
/// behaviour, each `true` an opt-in beyond it (`[render]` keys of the same
/// names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// A fetched series' consolidation (`maxDataPoints`, LCM normalisation)
    /// follows its storage aggregation method instead of `average`
    /// ([`Consolidation::from_storage`]); `consolidateBy()` still wins.
    pub consolidation_from_storage: bool,
    /// Fetches stitch archives ([`FetchOptions::stitch_archives`]).
    pub stitch_archives: bool,
}

/// A function argument or result after evaluation.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A list of series (a path, a function result).
    SeriesList(Vec<Series>),
    /// A string literal (escapes as written).
    Str(String),
    /// An integer literal.
    Int(i64),
    /// A float literal or `inf`.
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `None`.
    None,
}

impl Value {
    /// Python's `str()` of the value, as graphite puts arguments into
    /// series names (`movingAverage(a.b,5)`, `...,"5min")` is formatted by
    /// the caller) and tags.
    pub fn py_str(&self) -> String {
        match self {
            Value::SeriesList(list) => format!("<{} series>", list.len()),
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Float(x) => float_repr(*x),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::None => "None".into(),
        }
    }

    /// A short description for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::SeriesList(_) => "a series list",
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::None => "None",
        }
    }
}

/// `template()` bindings in graphite's order: keyword values, then
/// positional ones as `1`, `2`, ..., then request `template[...]` values
/// (which replace same-named ones in place).
pub type Replacements = Vec<(String, Value)>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FetchKey {
    start: Timestamp,
    end: Timestamp,
    now: Timestamp,
    pattern: String,
}

/// A registered path expression: how many evaluations will still read it,
/// and its data once fetched.
#[derive(Default)]
struct Prefetched {
    uses: usize,
    data: Option<Vec<Series>>,
}

/// Evaluates targets for one request. Not shared between requests.
pub struct Evaluator<'r> {
    read: &'r dyn Read,
    limits: Limits,
    deadline: Instant,
    series_fetched: usize,
    points_fetched: usize,
    prefetched: HashMap<FetchKey, Prefetched>,
    /// Request-wide state graphite keeps in its `requestContext` and that
    /// functions change for the rest of the request: the xFilesFactor set
    /// by `setXFilesFactor`, and `stacked`'s running totals per stack name.
    request_xff: Option<f64>,
    stacks: HashMap<String, Vec<f64>>,
    read_options: ReadOptions,
    /// Where `events()` reads events (none: it finds none).
    events: Option<&'r dyn crate::functions::EventSource>,
}

impl<'r> Evaluator<'r> {
    /// An evaluator reading through `read`, with the clock for
    /// `limits.timeout` starting now.
    pub fn new(read: &'r dyn Read, limits: Limits) -> Evaluator<'r> {
        Evaluator {
            read,
            deadline: Instant::now() + limits.timeout,
            limits,
            series_fetched: 0,
            points_fetched: 0,
            prefetched: HashMap::new(),
            request_xff: None,
            stacks: HashMap::new(),
            read_options: ReadOptions::default(),
            events: None,
        }
    }

    /// Gives `events()` its events.
    pub fn with_events(
        mut self,
        events: Option<&'r dyn crate::functions::EventSource>,
    ) -> Evaluator<'r> {
        self.events = events;
        self
    }

    /// The events source `events()` reads, if any.
    pub fn events(&self) -> Option<&'r dyn crate::functions::EventSource> {
        self.events
    }

    /// The same evaluator reading with `options`.
    pub fn with_read_options(mut self, options: ReadOptions) -> Evaluator<'r> {
        self.read_options = options;
        self
    }

    /// How the series `pattern` matched are read: a glob's answer skips a
    /// file that cannot be read (logged and counted by storage) instead of
    /// failing as a whole; a single named series that cannot be read fails
    /// with an error naming it.
    fn fetch_options(&self, pattern: &str) -> FetchOptions {
        FetchOptions {
            stitch_archives: self.read_options.stitch_archives,
            skip_unreadable: pattern.contains(['*', '?', '[', '{']),
        }
    }

    /// Fails with [`ApiError::Limit`] when a function is about to build
    /// more values than one request may fetch (`limits.max_points`): for
    /// series whose size does not follow from the data read, such as
    /// `summarize` buckets or `time()` points.
    pub fn check_points(&self, points: usize) -> Result<(), ApiError> {
        if points > self.limits.max_points {
            return Err(ApiError::Limit(format!(
                "a function would build more than {} points",
                self.limits.max_points
            )));
        }
        Ok(())
    }

    /// Sets the request's xFilesFactor for every function evaluated from
    /// now on (graphite's `setXFilesFactor` writes it into the shared
    /// `requestContext`; series fetched earlier keep theirs).
    pub fn set_request_x_files_factor(&mut self, x_files_factor: f64) {
        self.request_xff = Some(x_files_factor);
    }

    /// The running per-position totals of the stack `name`, shared by
    /// every `stacked()` call of the request (graphite's
    /// `requestContext['totalStack']`).
    pub fn stack_totals(&mut self, name: &str) -> &mut Vec<f64> {
        self.stacks.entry(name.to_string()).or_default()
    }

    /// Series fetched from storage so far (refetches included).
    pub fn series_fetched(&self) -> usize {
        self.series_fetched
    }

    /// Evaluates the targets of one request, in order, and concatenates
    /// their series (graphite's `evaluateTarget`).
    pub fn evaluate_targets(
        &mut self,
        ctx: &Context,
        targets: &[Expr],
    ) -> Result<Vec<Series>, ApiError> {
        for target in targets {
            self.register_paths(ctx, target, None);
        }
        let mut out = Vec::new();
        for target in targets {
            match self.eval(ctx, target, None)? {
                Value::SeriesList(list) => out.extend(list),
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "target {target} evaluates to {}, not to series",
                        other.kind()
                    )))
                }
            }
        }
        Ok(out)
    }

    /// Re-evaluates `expr` (usually a function's first argument, see
    /// [`Args::raw`]) in another context, keeping the template bindings it
    /// was written under. graphite-web's `evaluateTarget(newContext,
    /// requestContext['args'][0])`.
    pub fn evaluate_with(
        &mut self,
        ctx: &Context,
        expr: &Expr,
        replacements: Option<&Replacements>,
    ) -> Result<Vec<Series>, ApiError> {
        self.register_paths(ctx, expr, replacements);
        match self.eval(ctx, expr, replacements)? {
            Value::SeriesList(list) => Ok(list),
            other => Err(ApiError::BadRequest(format!(
                "{expr} evaluates to {}, not to series",
                other.kind()
            ))),
        }
    }

    /// Fails with [`ApiError::Limit`] once the request ran past its time.
    pub fn check_deadline(&self) -> Result<(), ApiError> {
        if Instant::now() > self.deadline {
            return Err(ApiError::Limit(format!(
                "evaluation took longer than {:?}",
                self.limits.timeout
            )));
        }
        Ok(())
    }

    /// Evaluates one node.
    pub fn eval(
        &mut self,
        ctx: &Context,
        expr: &Expr,
        replacements: Option<&Replacements>,
    ) -> Result<Value, ApiError> {
        match expr {
            Expr::Path(path) => match substitute(path, replacements) {
                Substituted::Path(expression) => {
                    Ok(Value::SeriesList(self.fetch(ctx, &expression)?))
                }
                Substituted::Whole(value) => template_value(value),
            },
            Expr::Template(t) => {
                let bindings = template_bindings(ctx, &t.args, &t.kwargs);
                self.eval(ctx, &t.inner, Some(&bindings))
            }
            Expr::Call(call) => {
                if call.name == "seriesByTag" {
                    let raw = call.raw.clone().unwrap_or_else(|| expr.to_string());
                    return Ok(Value::SeriesList(self.fetch(ctx, &raw)?));
                }
                let def = registry()
                    .get(&call.name)
                    .ok_or_else(|| ApiError::UnknownFunction(call.name.clone()))?;
                self.check_deadline()?;
                if let Some(result) = self.try_stream_aggregate(ctx, call, def, replacements)? {
                    return Ok(Value::SeriesList(result));
                }
                let mut args = Vec::with_capacity(call.args.len());
                for a in &call.args {
                    args.push(self.eval(ctx, a, replacements)?);
                }
                let mut kwargs = Vec::with_capacity(call.kwargs.len());
                for (k, a) in &call.kwargs {
                    kwargs.push((k.clone(), self.eval(ctx, a, replacements)?));
                }
                let bound = Args::bind(
                    def,
                    &call.name,
                    args,
                    kwargs,
                    call.args.first().cloned(),
                    replacements.cloned(),
                )?;
                match self.request_xff {
                    Some(xff) if xff != ctx.x_files_factor => {
                        let ctx = Context {
                            x_files_factor: xff,
                            ..ctx.clone()
                        };
                        (def.implementation)(self, &ctx, bound)
                    }
                    _ => (def.implementation)(self, ctx, bound),
                }
            }
            Expr::Str(s) => Ok(Value::Str(s.value.clone())),
            Expr::Int(i) => Ok(Value::Int(*i)),
            Expr::Float(x) => Ok(Value::Float(*x)),
            Expr::Bool(b) => Ok(Value::Bool(*b)),
            Expr::None => Ok(Value::None),
        }
    }

    /// graphite-web's `extractPathExpressions`: registers every path (with
    /// template substitutions) and `seriesByTag` call reachable through
    /// positional arguments, for `ctx`'s window.
    fn register_paths(&mut self, ctx: &Context, expr: &Expr, replacements: Option<&Replacements>) {
        match expr {
            Expr::Path(path) => {
                // a whole-path `$var` is a value, never fetched
                if let Substituted::Path(expression) = substitute(path, replacements) {
                    self.prefetched
                        .entry(fetch_key(ctx, &expression))
                        .or_default()
                        .uses += 1;
                }
            }
            Expr::Template(t) => {
                let bindings = template_bindings(ctx, &t.args, &t.kwargs);
                self.register_paths(ctx, &t.inner, Some(&bindings));
            }
            Expr::Call(call) if call.name == "seriesByTag" => {
                let raw = call.raw.clone().unwrap_or_else(|| expr.to_string());
                self.prefetched
                    .entry(fetch_key(ctx, &raw))
                    .or_default()
                    .uses += 1;
            }
            Expr::Call(call) => {
                for a in &call.args {
                    self.register_paths(ctx, a, replacements);
                }
            }
            _ => {}
        }
    }

    /// The series of one path expression (or `seriesByTag(...)` text) over
    /// `ctx`'s window, sorted by name; empty when the expression was not
    /// registered for this window (graphite's `fetchData` without a
    /// prefetch entry).
    pub fn fetch(&mut self, ctx: &Context, pattern: &str) -> Result<Vec<Series>, ApiError> {
        let key = fetch_key(ctx, pattern);
        let Some(entry) = self.prefetched.get(&key) else {
            return Ok(Vec::new());
        };
        if entry.data.is_none() {
            let data = self.load(ctx, pattern)?;
            if let Some(entry) = self.prefetched.get_mut(&key) {
                entry.data = Some(data);
            }
        }
        let Some(entry) = self.prefetched.get_mut(&key) else {
            return Ok(Vec::new());
        };
        entry.uses = entry.uses.saturating_sub(1);
        // The last registered use takes the data; earlier ones copy it,
        // as graphite builds fresh series objects on every fetchData.
        Ok(if entry.uses == 0 {
            entry.data.take().unwrap_or_default()
        } else {
            entry.data.clone().unwrap_or_default()
        })
    }

    /// `sumSeries(a.*, b.*)` / `averageSeries(...)` over plain paths that
    /// nothing else in the request reads: fetches the series in chunks and
    /// folds them into the result as they arrive, so memory stays at one
    /// chunk plus the result however many series match. Gives up (`None`,
    /// nothing consumed) when the series turn out to have different steps,
    /// which needs graphite's LCM normalisation over all of them.
    fn try_stream_aggregate(
        &mut self,
        ctx: &Context,
        call: &crate::target::Call,
        def: &FunctionDef,
        replacements: Option<&Replacements>,
    ) -> Result<Option<Vec<Series>>, ApiError> {
        const CHUNK: usize = 64;
        let Aggregator::Streaming(stream) = def.aggregator else {
            return Ok(None);
        };
        if replacements.is_some() || !call.kwargs.is_empty() || call.args.is_empty() {
            return Ok(None);
        }
        let mut patterns = Vec::with_capacity(call.args.len());
        for a in &call.args {
            let Expr::Path(p) = a else { return Ok(None) };
            let key = fetch_key(ctx, p);
            match self.prefetched.get(&key) {
                Some(entry) if entry.uses == 1 && entry.data.is_none() => patterns.push(p),
                _ => return Ok(None),
            }
        }
        let mut fold = stream.fold();
        let (series_before, points_before) = (self.series_fetched, self.points_fetched);
        let range = FetchRange {
            from: ctx.start,
            until: ctx.end,
            now: ctx.now,
        };
        let mut step: Option<i64> = None;
        let (mut start, mut end) = (i64::MAX, i64::MIN);
        let mut tags: Option<std::collections::BTreeMap<String, String>> = None;
        let mut expressions: Vec<&str> = Vec::new();
        // Reused by every chunk: storage decodes into the same buffers.
        let mut buffers = Vec::with_capacity(CHUNK);
        for pattern in &patterns {
            let mut paths: Vec<String> = self
                .read
                .find(pattern)?
                .into_iter()
                .filter(|n| n.is_leaf)
                .map(|n| n.path)
                .collect();
            paths.sort();
            paths.dedup();
            self.series_fetched += paths.len();
            if self.series_fetched > self.limits.max_series {
                return Err(ApiError::Limit(format!(
                    "more than {} series matched (at {pattern:?})",
                    self.limits.max_series
                )));
            }
            for chunk in paths.chunks(CHUNK) {
                self.check_deadline()?;
                self.read.fetch_many_into(
                    chunk,
                    range,
                    self.fetch_options(pattern),
                    &mut buffers,
                )?;
                let mut fetched: Vec<&storage::FetchedSeries> = buffers.iter().flatten().collect();
                fetched.sort_by(|a, b| a.path.cmp(&b.path));
                for f in fetched {
                    if *step.get_or_insert(f.step) != f.step {
                        self.series_fetched = series_before;
                        self.points_fetched = points_before;
                        return Ok(None);
                    }
                    self.points_fetched += f.values.len();
                    if self.points_fetched > self.limits.max_points {
                        return Err(ApiError::Limit(format!(
                            "more than {} points fetched (at {pattern:?})",
                            self.limits.max_points
                        )));
                    }
                    if !expressions.contains(&pattern.as_str()) {
                        expressions.push(pattern);
                    }
                    start = start.min(f.start);
                    end = end.max(f.end);
                    let own = crate::series::tags_from_name(&f.path);
                    tags = Some(match tags {
                        None => own,
                        Some(mut shared) => {
                            shared.retain(|k, v| own.get(k) == Some(v));
                            shared
                        }
                    });
                    fold.add(&f.values);
                }
            }
        }
        for pattern in &patterns {
            if let Some(entry) = self.prefetched.get_mut(&fetch_key(ctx, pattern)) {
                entry.uses = 0;
            }
        }
        let Some(step) = step else {
            return Ok(Some(Vec::new()));
        };
        if step > 0 {
            end -= (end - start).rem_euclid(step);
        }
        let xff = ctx.x_files_factor;
        Ok(Some(vec![stream.series(
            &expressions.join(","),
            tags.unwrap_or_default(),
            (start, end, step),
            fold,
            xff,
        )]))
    }

    fn load(&mut self, ctx: &Context, pattern: &str) -> Result<Vec<Series>, ApiError> {
        self.check_deadline()?;
        let paths = self.matching_paths(pattern)?;
        self.load_paths(ctx, pattern, &paths)
    }

    /// The stored series a path expression (or `seriesByTag(...)` text)
    /// matches, sorted and without repeats, unfetched: a caller that
    /// streams many series (`ferrograph export`) fetches them in chunks
    /// with [`Evaluator::load_paths`].
    pub fn matching_paths(&self, pattern: &str) -> Result<Vec<String>, ApiError> {
        let mut paths: Vec<String> = if pattern.starts_with("seriesByTag(") {
            let exprs = series_by_tag_exprs(pattern)?;
            self.read.find_tagged(&exprs)?
        } else {
            self.read
                .find(pattern)?
                .into_iter()
                .filter(|n| n.is_leaf)
                .map(|n| n.path)
                .collect()
        };
        paths.sort();
        paths.dedup();
        Ok(paths)
    }

    /// Fetches `paths` (matched by `pattern`) over `ctx`'s window as a
    /// path expression's series, sorted by name, counting them against
    /// the request's limits.
    pub fn load_paths(
        &mut self,
        ctx: &Context,
        pattern: &str,
        paths: &[String],
    ) -> Result<Vec<Series>, ApiError> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        self.series_fetched += paths.len();
        if self.series_fetched > self.limits.max_series {
            return Err(ApiError::Limit(format!(
                "more than {} series matched (at {pattern:?})",
                self.limits.max_series
            )));
        }
        let range = FetchRange {
            from: ctx.start,
            until: ctx.end,
            now: ctx.now,
        };
        let mut fetched = Vec::new();
        self.read
            .fetch_many_into(paths, range, self.fetch_options(pattern), &mut fetched)?;
        let mut series: Vec<Series> = Vec::with_capacity(fetched.len());
        for f in fetched.into_iter().flatten() {
            self.points_fetched += f.values.len();
            if self.points_fetched > self.limits.max_points {
                return Err(ApiError::Limit(format!(
                    "more than {} points fetched (at {pattern:?})",
                    self.limits.max_points
                )));
            }
            let method = f.aggregation;
            let mut s = Series::from_fetched(f, pattern, ctx.x_files_factor);
            if let (true, Some(m)) = (self.read_options.consolidation_from_storage, method) {
                s.consolidation = Consolidation::from_storage(m);
            }
            series.push(s);
        }
        series.sort_by(|a, b| a.name.cmp(&b.name));
        series.dedup_by(|a, b| a.name == b.name);
        Ok(series)
    }
}

fn fetch_key(ctx: &Context, pattern: &str) -> FetchKey {
    FetchKey {
        start: ctx.start,
        end: ctx.end,
        now: ctx.now,
        pattern: pattern.to_string(),
    }
}

/// The tag expressions of a `seriesByTag(...)` call text: its string
/// arguments without quotes (graphite's `t.string[1:-1]`).
fn series_by_tag_exprs(raw: &str) -> Result<Vec<TagExpr>, ApiError> {
    let Expr::Call(call) = parse_target(raw)? else {
        return Err(ApiError::BadRequest(format!(
            "not a seriesByTag call: {raw}"
        )));
    };
    let mut exprs = Vec::new();
    for a in &call.args {
        if let Expr::Str(s) = a {
            exprs.push(TagExpr::parse(&s.value)?);
        }
    }
    Ok(exprs)
}

fn literal_value(expr: &Expr) -> Value {
    match expr {
        Expr::Str(s) => Value::Str(s.value.clone()),
        Expr::Int(i) => Value::Int(*i),
        Expr::Float(x) => Value::Float(*x),
        Expr::Bool(b) => Value::Bool(*b),
        _ => Value::None,
    }
}

fn template_bindings(ctx: &Context, args: &[Expr], kwargs: &[(String, Expr)]) -> Replacements {
    let mut out: Replacements = Vec::new();
    let mut set = |name: String, value: Value| match out.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = value,
        None => out.push((name, value)),
    };
    for (k, v) in kwargs {
        set(k.clone(), literal_value(v));
    }
    for (i, v) in args.iter().enumerate() {
        set((i + 1).to_string(), literal_value(v));
    }
    for (k, v) in &ctx.template {
        set(k.clone(), Value::Str(v.clone()));
    }
    out
}

/// A path after `template()` substitution.
enum Substituted<'a> {
    /// The path expression to fetch.
    Path(String),
    /// The path was exactly `$name`: that binding's value.
    Whole(&'a Value),
}

/// Replaces each bound `$name` in `path`, in binding order (graphite's
/// evaluateTokens); a path that is (or becomes) exactly one `$name` is that
/// binding's value instead.
fn substitute<'a>(path: &str, replacements: Option<&'a Replacements>) -> Substituted<'a> {
    let mut expression = path.to_string();
    for (name, value) in replacements.into_iter().flatten() {
        let var = format!("${name}");
        if expression == var {
            return Substituted::Whole(value);
        }
        expression = expression.replace(&var, &value.py_str());
    }
    Substituted::Path(expression)
}

/// A whole-path `$var`: numbers stay numbers, numeric-looking strings
/// become floats, other strings stay strings (graphite's evaluateTokens).
fn template_value(value: &Value) -> Result<Value, ApiError> {
    static NUMERIC: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^-?[\d.]+$").expect("static regex"));
    match value {
        Value::Str(s) if NUMERIC.is_match(s) => s
            .parse::<f64>()
            .map(Value::Float)
            .map_err(|_| ApiError::BadRequest(format!("template value {s:?} is not a number"))),
        other => Ok(other.clone()),
    }
}
