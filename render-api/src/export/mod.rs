//! Long-term export of render targets (`ferrograph export`, `GET
//! /export`): the points `/render` gives for the same targets and window,
//! or with a step those of graphite's `summarize(T, step, func, true)`,
//! written as graphite's CSV, JSON lines or Parquet.
//!
//! Memory stays bounded however many series a glob matches and however
//! long the window: a target that is a plain path expression (or
//! `seriesByTag(...)`) is fetched in chunks of series sized by their
//! length, each chunk written and dropped before the next is read. Any
//! other target (`sumSeries(...)`, `scale(...)`) is evaluated whole by the
//! [`Evaluator`], as `/render` does, and so holds its result in memory.

mod parquet;

use std::io::Write;

/// The time zone type of requests (chrono-tz's), for callers that build
/// one without depending on chrono-tz.
pub use chrono_tz::Tz;

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::format;
use crate::functions::{registry, AggFunc, Args};
use crate::http::{time_window, Params};
use crate::series::Series;
use crate::target::{parse_target, Expr};
use crate::time::{parse_offset, parse_tz};

/// About this many values are fetched at once when streaming a glob
/// (4 MiB of `Option<f64>`): a year of hourly points is 8,760 values, so
/// about thirty such series go per chunk, while years of minutely points
/// go one at a time. Larger chunks were no faster (1,000 hourly series over
/// a year: 3.0 s either way) but doubled the peak memory.
const VALUES_PER_CHUNK: usize = 1 << 18;

/// The most series fetched at once, whatever their length (one storage
/// call per chunk; larger chunks bring nothing).
const MAX_SERIES_PER_CHUNK: usize = 256;

/// The file format of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// graphite's CSV, byte for byte as `/render?format=csv`.
    Csv,
    /// One JSON object per point: `{"series": ..., "time": ..., "value": ...}`.
    Jsonl,
    /// Parquet with columns `series`, `time` (seconds, UTC), `value`.
    Parquet,
}

impl ExportFormat {
    /// Parses `csv`, `jsonl` or `parquet`.
    pub fn parse(name: &str) -> Option<ExportFormat> {
        Some(match name {
            "csv" => ExportFormat::Csv,
            "jsonl" => ExportFormat::Jsonl,
            "parquet" => ExportFormat::Parquet,
            _ => return None,
        })
    }

    /// The HTTP `Content-Type` of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv",
            ExportFormat::Jsonl => "application/x-ndjson",
            ExportFormat::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// The re-bucketing of `--step S --func f`: graphite's
/// `summarize(T, 'S', 'f', true)` (buckets aligned to the window's start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The interval as written (`1h`, `1d`).
    pub interval: String,
    /// `avg`, `sum`, `min`, `max` or `last`.
    pub func: String,
}

/// What to export.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportRequest {
    /// The targets, parsed, in request order.
    pub targets: Vec<Expr>,
    /// The window, clock and time zone (CSV timestamps use its `tz`).
    pub ctx: Context,
    /// `--step`/`--func`, if given.
    pub step: Option<Step>,
    /// The output format.
    pub format: ExportFormat,
}

impl ExportRequest {
    /// Reads an export from request parameters: `target` (repeatable),
    /// `from`, `until`, `now`, `tz` as `/render` reads them (so bad targets
    /// and times are the same errors), `format` (`csv` when absent), and
    /// optional `step` with `func` (`avg` when absent).
    pub fn from_params(
        p: &Params,
        default_tz: Tz,
        wall_clock: i64,
    ) -> Result<ExportRequest, ApiError> {
        let format = match p.get("format") {
            None => ExportFormat::Csv,
            Some(f) => ExportFormat::parse(f).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "format={f} is not an export format: use csv, jsonl or parquet"
                ))
            })?,
        };
        let tz = p.get("tz").and_then(parse_tz).unwrap_or(default_tz);
        let (start, end, now) = time_window(p, tz, wall_clock)?;
        let mut targets = Vec::new();
        for t in p.list("target") {
            if !t.trim().is_empty() {
                targets.push(parse_target(t)?);
            }
        }
        if targets.is_empty() {
            return Err(ApiError::BadRequest(
                "an export needs at least one target".into(),
            ));
        }
        let step = match p.get("step").filter(|s| !s.is_empty()) {
            None => None,
            Some(interval) => Some(Step::new(interval, p.get("func").unwrap_or("avg"))?),
        };
        Ok(ExportRequest {
            targets,
            ctx: Context {
                now,
                wall_clock,
                tz,
                ..Context::new(start, end)
            },
            step,
            format,
        })
    }
}

impl Step {
    /// A step of `interval` (positive) aggregated with `func`.
    pub fn new(interval: &str, func: &str) -> Result<Step, ApiError> {
        if !matches!(func, "avg" | "sum" | "min" | "max" | "last") {
            return Err(ApiError::BadRequest(format!(
                "func={func} is not an export function: use avg, sum, min, max or last"
            )));
        }
        if parse_offset(interval)? <= 0 || interval.contains(['\'', '"', '\\']) {
            return Err(ApiError::BadRequest(format!(
                "step={interval} must be a positive interval such as 1h or 1d"
            )));
        }
        Ok(Step {
            interval: interval.to_string(),
            func: func.to_string(),
        })
    }

    /// `summarize(expr, 'interval', 'func', true)`.
    fn wrap(&self, expr: &Expr) -> Result<Expr, ApiError> {
        Ok(parse_target(&format!(
            "summarize({expr},'{}','{}',true)",
            self.interval, self.func
        ))?)
    }

    /// Applies graphite's summarize to series already fetched, through the
    /// registry's implementation (the one `/render` runs).
    fn apply(
        &self,
        ev: &mut Evaluator<'_>,
        ctx: &Context,
        series: Vec<Series>,
    ) -> Result<Vec<Series>, ApiError> {
        let def = registry()
            .get("summarize")
            .ok_or_else(|| ApiError::UnknownFunction("summarize".into()))?;
        debug_assert!(AggFunc::parse(&self.func).is_some());
        let args = Args::bind(
            def,
            "summarize",
            vec![
                Value::SeriesList(series),
                Value::Str(self.interval.clone()),
                Value::Str(self.func.clone()),
                Value::Bool(true),
            ],
            Vec::new(),
            None,
            None,
        )?;
        match (def.implementation)(ev, ctx, args)? {
            Value::SeriesList(list) => Ok(list),
            other => Err(ApiError::BadRequest(format!(
                "summarize gave {}, not series",
                other.kind()
            ))),
        }
    }
}

/// Progress of an export, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// This many more series are known to come.
    Found(usize),
    /// This many more series were written.
    Written(usize),
}

/// Why an export stopped.
#[derive(Debug)]
pub enum ExportError {
    /// The request or the store (same meaning as for `/render`).
    Api(ApiError),
    /// Writing the output failed.
    Io(std::io::Error),
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Api(e) => write!(f, "{}", e.client_message()),
            ExportError::Io(e) => write!(f, "writing the export: {e}"),
        }
    }
}

impl std::error::Error for ExportError {}

impl From<ApiError> for ExportError {
    fn from(e: ApiError) -> Self {
        ExportError::Api(e)
    }
}

impl From<std::io::Error> for ExportError {
    fn from(e: std::io::Error) -> Self {
        ExportError::Io(e)
    }
}

/// Writes `request`'s points to `out` and returns it, flushed.
pub fn export<W: Write + Send>(
    ev: &mut Evaluator<'_>,
    request: &ExportRequest,
    out: W,
    progress: &mut dyn FnMut(Progress),
) -> Result<W, ExportError> {
    let mut sink = Sink::new(request.format, request.ctx.tz, out)?;
    for target in &request.targets {
        match fetched_pattern(target) {
            Some(pattern) => export_streamed(ev, request, &pattern, &mut sink, progress)?,
            None => {
                let tree = match &request.step {
                    Some(step) => step.wrap(target)?,
                    None => target.clone(),
                };
                let series = ev.evaluate_targets(&request.ctx, std::slice::from_ref(&tree))?;
                progress(Progress::Found(series.len()));
                sink.write(&series)?;
                progress(Progress::Written(series.len()));
            }
        }
    }
    sink.finish()
}

/// The fetch pattern of a target that is only a fetch: a path expression
/// or a `seriesByTag(...)` call (whose text is its pattern).
fn fetched_pattern(target: &Expr) -> Option<String> {
    match target {
        Expr::Path(p) => Some(p.clone()),
        Expr::Call(call) if call.name == "seriesByTag" => {
            Some(call.raw.clone().unwrap_or_else(|| target.to_string()))
        }
        _ => None,
    }
}

/// One fetched target, chunk by chunk: the same series, in the same order,
/// as `/render` gives for it.
fn export_streamed<W: Write + Send>(
    ev: &mut Evaluator<'_>,
    request: &ExportRequest,
    pattern: &str,
    sink: &mut Sink<W>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), ExportError> {
    let paths = ev.matching_paths(pattern)?;
    progress(Progress::Found(paths.len()));
    // The first chunk is one series; its length sizes the others.
    let mut chunk = 1usize;
    let mut done = 0usize;
    while done < paths.len() {
        ev.check_deadline()?;
        let until = (done + chunk).min(paths.len());
        let mut series = ev.load_paths(&request.ctx, pattern, &paths[done..until])?;
        let longest = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
        chunk = (VALUES_PER_CHUNK / longest.max(1)).clamp(1, MAX_SERIES_PER_CHUNK);
        if let Some(step) = &request.step {
            series = step.apply(ev, &request.ctx, series)?;
        }
        sink.write(&series)?;
        progress(Progress::Written(until - done));
        done = until;
    }
    Ok(())
}

/// An output being written.
enum Sink<W: Write + Send> {
    Csv(W, Tz),
    Jsonl(W),
    Parquet(Box<parquet::ParquetSink<W>>),
}

impl<W: Write + Send> Sink<W> {
    fn new(format: ExportFormat, tz: Tz, out: W) -> Result<Sink<W>, ExportError> {
        Ok(match format {
            ExportFormat::Csv => Sink::Csv(out, tz),
            ExportFormat::Jsonl => Sink::Jsonl(out),
            ExportFormat::Parquet => Sink::Parquet(Box::new(parquet::ParquetSink::new(out)?)),
        })
    }

    fn write(&mut self, series: &[Series]) -> Result<(), ExportError> {
        match self {
            // graphite's CSV is one row per value, series after series, so
            // the rows of consecutive chunks concatenate to the whole.
            Sink::Csv(out, tz) => out.write_all(format::csv::render(series, *tz).as_bytes())?,
            Sink::Jsonl(out) => {
                let mut line = String::new();
                for s in series {
                    let mut name = String::new();
                    format::json::write_str(&mut name, &s.name);
                    for (value, time) in s.datapoints() {
                        line.clear();
                        line.push_str("{\"series\": ");
                        line.push_str(&name);
                        line.push_str(", \"time\": ");
                        line.push_str(&time.to_string());
                        line.push_str(", \"value\": ");
                        format::json::write_value(&mut line, value);
                        line.push_str("}\n");
                        out.write_all(line.as_bytes())?;
                    }
                }
            }
            Sink::Parquet(sink) => sink.write(series)?,
        }
        Ok(())
    }

    fn finish(self) -> Result<W, ExportError> {
        Ok(match self {
            Sink::Csv(mut out, _) | Sink::Jsonl(mut out) => {
                out.flush()?;
                out
            }
            Sink::Parquet(sink) => sink.finish()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryRead;
    use crate::Limits;

    fn request(pairs: &[(&str, &str)]) -> Result<ExportRequest, ApiError> {
        ExportRequest::from_params(&Params::from_pairs(pairs.to_vec()), Tz::UTC, 2000)
    }

    fn run(read: &MemoryRead, pairs: &[(&str, &str)]) -> String {
        let req = request(pairs).unwrap();
        let mut ev = Evaluator::new(read, Limits::default());
        let out = export(&mut ev, &req, Vec::new(), &mut |_| {}).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn streamed_globs_match_render_csv_and_json_lines() {
        let values: Vec<Option<f64>> = (0..6).map(|i| Some(i as f64 / 2.0)).collect();
        let mut read = MemoryRead::new();
        for i in 0..300 {
            read = read.with(&format!("d.s{i:03}"), 1000, 10, &values);
        }
        let csv = run(
            &read,
            &[("target", "d.*"), ("from", "1000"), ("until", "1030")],
        );
        let mut ev = Evaluator::new(&read, Limits::default());
        let whole = ev
            .evaluate_targets(&Context::new(1000, 1030), &[parse_target("d.*").unwrap()])
            .unwrap();
        assert_eq!(csv, format::csv::render(&whole, Tz::UTC));
        let lines = run(
            &read,
            &[
                ("target", "d.s001"),
                ("from", "1000"),
                ("until", "1020"),
                ("format", "jsonl"),
            ],
        );
        assert_eq!(
            lines,
            "{\"series\": \"d.s001\", \"time\": 1010, \"value\": 0.5}\n\
             {\"series\": \"d.s001\", \"time\": 1020, \"value\": 1.0}\n"
        );
    }

    #[test]
    fn a_step_is_summarize_aligned_to_from() {
        let values: Vec<Option<f64>> = (0..12).map(|i| Some(i as f64)).collect();
        let read = MemoryRead::new().with("a.b", 1000, 10, &values);
        let pairs = [("from", "1000"), ("until", "1120"), ("step", "30s")];
        let streamed = run(
            &read,
            &[
                pairs[0],
                pairs[1],
                pairs[2],
                ("func", "max"),
                ("target", "a.*"),
            ],
        );
        let evaluated = run(
            &read,
            &[
                pairs[0],
                pairs[1],
                ("target", "summarize(a.*,'30s','max',true)"),
            ],
        );
        assert_eq!(streamed, evaluated);
        assert!(streamed.starts_with("\"summarize(a.b, \"\"30s\"\", \"\"max\"\", true)\""));
    }

    #[test]
    fn bad_input_is_a_render_error() {
        assert!(matches!(
            request(&[("target", "a.b(")]),
            Err(ApiError::Parse(_))
        ));
        assert!(matches!(
            request(&[("target", "a.b"), ("from", "yesterdayish")]),
            Err(ApiError::Time(_))
        ));
        assert!(request(&[("target", "a.b"), ("format", "png")]).is_err());
        assert!(request(&[("target", "a.b"), ("step", "1h"), ("func", "p99")]).is_err());
        assert!(request(&[("from", "-1h")]).is_err());
    }
}
