//! `GET /check`: Umpire's contract for uptime checkers. `metric=<target>`
//! (or `target`), `range=<seconds>`, optional `min`, `max` and `empty_ok`.
//! The value is the mean of every non-null point of the target's series
//! over the last `range` seconds: 200 with `{"value": v}` when it lies in
//! `[min, max]`, 500 with the value and the bound it broke when not, 404
//! when there is no point at all (200 with `empty_ok=true`). Bad
//! parameters are a 400.

use std::sync::atomic::Ordering;

use crate::error::ApiError;
use crate::eval::{Context, Evaluator};
use crate::format::json::{write_str, write_value};
use crate::target::parse_target;

use super::{now_epoch, Params, Reply, Req};

fn float(p: &Params, key: &str) -> Result<Option<f64>, ApiError> {
    match p.get(key).filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| !x.is_nan())
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest(format!("{key} must be a number, not {v:?}"))),
    }
}

pub(crate) fn check(req: &Req<'_>) -> Result<Reply, ApiError> {
    req.stats.checks.fetch_add(1, Ordering::Relaxed);
    let p = req.params;
    let metric = p
        .get("metric")
        .or_else(|| p.get("target"))
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("metric is required".into()))?;
    let range_text = p
        .get("range")
        .ok_or_else(|| ApiError::BadRequest("range (seconds) is required".into()))?;
    let range = range_text
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|r| *r > 0)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "range must be a positive number of seconds, not {range_text:?}"
            ))
        })?;
    let (min, max) = (float(p, "min")?, float(p, "max")?);
    let empty_ok = match p.get("empty_ok") {
        None | Some("") | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(v) => {
            return Err(ApiError::BadRequest(format!(
                "empty_ok must be true or false, not {v:?}"
            )))
        }
    };
    let tree = parse_target(metric)?;
    let now = now_epoch();
    let ctx = Context {
        tz: req.settings.time_zone,
        ..Context::new(now - range, now)
    };
    let mut ev = Evaluator::new(req.read, req.settings.limits.clone())
        .with_read_options(req.settings.read_options);
    let series = ev.evaluate_targets(&ctx, std::slice::from_ref(&tree))?;
    let (mut sum, mut count) = (0.0, 0usize);
    for s in &series {
        for v in s.points().iter().flatten().filter(|v| !v.is_nan()) {
            sum += v;
            count += 1;
        }
    }
    let json = |status: u16, fields: &[(&str, String)]| {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| {
                let mut key = String::new();
                write_str(&mut key, k);
                format!("{key}: {v}")
            })
            .collect();
        Reply {
            status,
            ..Reply::ok("application/json", format!("{{{}}}", body.join(", ")))
        }
        .no_cache()
    };
    let number = |x: Option<f64>| {
        let mut out = String::new();
        write_value(&mut out, x);
        out
    };
    if count == 0 {
        let mut error = String::new();
        write_str(&mut error, "no data points for the metric in range");
        let status = if empty_ok { 200 } else { 404 };
        return Ok(json(status, &[("value", "null".into()), ("error", error)]));
    }
    let value = sum / count as f64;
    let failed = match (min, max) {
        (Some(lo), _) if value < lo => Some(("min", lo)),
        (_, Some(hi)) if value > hi => Some(("max", hi)),
        _ => None,
    };
    let mut fields = vec![
        ("value", number(Some(value))),
        ("num_points", count.to_string()),
    ];
    Ok(match failed {
        None => json(200, &fields),
        Some((bound, limit)) => {
            let mut error = String::new();
            let side = if bound == "min" { "below" } else { "above" };
            write_str(
                &mut error,
                &format!(
                    "value {} is {side} {bound} {}",
                    number(Some(value)),
                    number(Some(limit))
                ),
            );
            let mut name = String::new();
            write_str(&mut name, bound);
            fields.push(("failed", name));
            fields.push((bound, number(Some(limit))));
            fields.push(("error", error));
            json(500, &fields)
        }
    })
}
