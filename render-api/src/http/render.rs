//! `/render`: parameters as graphite-web's `parseOptions`, evaluation, and
//! the json/csv/raw/pickle formats and graphs (png, the default, svg, pdf;
//! `graphType=line|pie`, see [`crate::graph`]).

use crate::error::ApiError;
use crate::eval::{Context, Evaluator};
use crate::format::{self, json::JsonOptions};
use crate::graph::{self, params::GraphParams, GraphOptions, OutputFormat};
use crate::target::parse_target;
use crate::time::{parse_at_time, parse_tz};

use super::{now_epoch, Params, Reply, Req};

/// The time window of a request: `(start, end, now)` in epoch seconds,
/// from `from`/`until`/`now`/`tz` as graphite-web reads them (default
/// `from=-1d`, `until=now`; reversed ranges are swapped; equal ones are an
/// error).
pub(crate) fn time_window(
    p: &Params,
    tz: chrono_tz::Tz,
    wall_now: i64,
) -> Result<(i64, i64, i64), ApiError> {
    let now = match p.get("now") {
        Some(text) => parse_at_time(text, tz, wall_now)?,
        None => wall_now,
    };
    let until = match p.get("until") {
        Some(text) => parse_at_time(text, tz, now)?,
        None => now,
    };
    let from = match p.get("from") {
        Some(text) => parse_at_time(text, tz, now)?,
        None => parse_at_time("-1d", tz, now)?,
    };
    let (start, end) = (from.min(until), from.max(until));
    if start == end {
        return Err(ApiError::BadRequest("Invalid empty time range".into()));
    }
    Ok((start, end, now))
}

pub(crate) fn render(req: &Req<'_>) -> Result<Reply, ApiError> {
    let p = req.params;
    let targets: Vec<&str> = p
        .list("target")
        .into_iter()
        .filter(|t| !t.trim().is_empty())
        .collect();
    let format = if let Some(f) = p.get("format") {
        f
    } else if p.has("rawData") {
        "raw"
    } else if p.has("pickle") {
        "pickle"
    } else {
        "png"
    };
    let jsonp = if p.has("format") {
        p.get("jsonp")
    } else {
        None
    };
    if matches!(format, "dygraph" | "rickshaw" | "msgpack") {
        return Err(ApiError::BadRequest(format!(
            "format={format} is not supported: use json, csv, raw, pickle, png, svg or pdf"
        )));
    }
    // like graphite-web, every other format falls through to the image
    // renderer, which draws a PNG unless svg or pdf was asked for
    let image = (!matches!(format, "json" | "csv" | "raw" | "pickle")).then(|| {
        p.get("outputFormat")
            .and_then(OutputFormat::parse)
            .or_else(|| OutputFormat::parse(format))
            .unwrap_or(OutputFormat::Png)
    });
    let graph_type = p.get("graphType").unwrap_or("line");
    if !matches!(graph_type, "line" | "pie") {
        return Err(ApiError::BadRequest(format!(
            "Invalid graphType '{graph_type}', must be one of ['line', 'pie']"
        )));
    }
    let tz = p
        .get("tz")
        .and_then(parse_tz)
        .unwrap_or(req.settings.time_zone);
    let wall_clock = now_epoch();
    let (start, end, now) = time_window(req.params, tz, wall_clock)?;
    let x_files_factor = match p.get("xFilesFactor") {
        Some(v) => v.trim().parse::<f64>().map_err(|_| {
            ApiError::BadRequest(format!("xFilesFactor must be a number, not {v:?}"))
        })?,
        None => 0.0,
    };
    let template = p
        .pairs()
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("template[")?.strip_suffix(']')?;
            Some((name.to_string(), v.clone()))
        })
        .collect();
    // a pie's `name:value` targets are constants, not expressions
    let constant = |t: &str| graph_type == "pie" && image.is_some() && t.contains(':');
    let mut trees = Vec::with_capacity(targets.len());
    for t in targets.iter().filter(|t| !constant(t)) {
        trees.push(parse_target(t)?);
    }
    let ctx = Context {
        start,
        end,
        now,
        wall_clock,
        tz,
        x_files_factor,
        template,
    };
    let mut ev = Evaluator::new(req.read, req.settings.limits.clone())
        .with_read_options(req.settings.read_options)
        .with_events(req.state.map(|s| s as &dyn crate::functions::EventSource));
    if let Some(out) = image {
        let opts = GraphOptions {
            params: GraphParams::from_request(p, graph_type == "pie"),
            format: out,
            tz: p
                .get("tz")
                .and_then(parse_tz)
                .unwrap_or(req.settings.time_zone),
            max_size: (req.settings.max_graph_width, req.settings.max_graph_height),
        };
        let body = if graph_type == "pie" {
            let mode = p.get("pieMode").unwrap_or("average");
            let mut slices = Vec::new();
            let mut parsed = trees.iter();
            for t in &targets {
                if constant(t) {
                    let (name, value) = t.split_once(':').unwrap_or((t, ""));
                    let value = value
                        .trim()
                        .parse::<f64>()
                        .map_err(|_| ApiError::BadRequest(format!("Invalid target '{t}'")))?;
                    slices.push((name.to_string(), value));
                    continue;
                }
                let Some(tree) = parsed.next() else { break };
                for s in ev.evaluate_targets(&ctx, std::slice::from_ref(tree))? {
                    let v = graph::pie_value(mode, &s)?;
                    slices.push((s.name, v));
                }
            }
            graph::render_pie(&slices, opts)?
        } else {
            graph::render_line(ev.evaluate_targets(&ctx, &trees)?, opts)?
        };
        if out == OutputFormat::Svg {
            if let Some(cb) = jsonp {
                let text = String::from_utf8_lossy(&body).into_owned();
                let quoted = serde_json::Value::String(text).to_string();
                return Ok(Reply::ok("text/javascript", format!("{cb}({quoted})")));
            }
        }
        return Ok(Reply::ok(out.content_type(), body));
    }
    let mut series = ev.evaluate_targets(&ctx, &trees)?;
    Ok(match format {
        "json" => {
            if let Some(max) = p
                .get("maxDataPoints")
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok())
            {
                format::consolidate_for_max_data_points(&mut series, max);
            }
            let body = format::json::render(
                &series,
                JsonOptions {
                    no_null_points: p.has("noNullPoints"),
                    pretty: p.get("pretty").is_some_and(|v| !v.is_empty()),
                },
            );
            Reply::json(body, jsonp)
        }
        "csv" => Reply::ok("text/csv", format::csv::render(&series, tz)),
        "raw" => Reply::ok("text/plain", format::raw::render(&series)),
        _ => Reply::ok("application/pickle", format::pickle::render(&series)),
    })
}
