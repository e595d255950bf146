//! Capacity forecasts (`ferrograph forecast`, `GET /forecast`): for each
//! series of a target, when its trend crosses a threshold — "which of our
//! 300 disks fill first".
//!
//! The history is the target evaluated over `[from, until]` as `/render`
//! would (so it comes from the archive that covers the range, as graphite
//! reads it). Each series is fitted by a [`Model`]: a robust line with the
//! season's harmonics ([`linear`]) or graphite's Holt-Winters ([`holt`]).
//! `crosses_at` is when the model's trend (the level without its seasonal
//! wave) reaches the threshold; the interval around it is where the trend
//! plus the seasonal swing and the prediction uncertainty first and last
//! reach it. Results are sorted by soonest crossing.

mod holt;
mod linear;
pub mod plot;

use chrono_tz::Tz;

use crate::error::ApiError;
use crate::eval::{Context, Evaluator};
use crate::format::json::{write_str, write_value};
use crate::http::{time_window, Params};
use crate::target::{parse_target, Expr};
use crate::time::{parse_offset, parse_tz};

/// Seconds per day.
const DAY: f64 = 86_400.0;

/// Samples when searching for where a band reaches the threshold.
const SEARCH_SAMPLES: usize = 8192;

/// A fitted series, in days relative to the end of the history.
pub trait Model {
    /// The level without seasonal wave at `days`.
    fn trend(&self, days: f64) -> f64;
    /// The lowest and highest offsets from the trend a value at `days` is
    /// expected within (seasonal swing and uncertainty).
    fn band(&self, days: f64) -> (f64, f64);
    /// How much the trend moves per day.
    fn slope_per_day(&self) -> f64;
}

/// Which model fits the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// Robust least squares with seasonal harmonics.
    Linear,
    /// graphite's Holt-Winters.
    HoltWinters,
}

impl ModelKind {
    /// The name in requests and output.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Linear => "linear",
            ModelKind::HoltWinters => "holt-winters",
        }
    }
}

/// What to forecast.
#[derive(Clone, Debug, PartialEq)]
pub struct ForecastRequest {
    /// The targets.
    pub targets: Vec<Expr>,
    /// The history window.
    pub ctx: Context,
    /// The level whose crossing is forecast.
    pub threshold: f64,
    /// The model.
    pub model: ModelKind,
    /// The season, in seconds.
    pub season: i64,
    /// How far past `until` a crossing is looked for, in seconds.
    pub horizon: i64,
}

impl ForecastRequest {
    /// Reads a forecast from request parameters: `target` (repeatable),
    /// `threshold`, `from` (default `-30d`), `until`, `now`, `tz` as
    /// `/render` reads them, `model` (`linear` or `holt-winters`),
    /// `season` (default `1d`) and `horizon` (default `365d`).
    pub fn from_params(
        p: &Params,
        default_tz: Tz,
        wall_clock: i64,
    ) -> Result<ForecastRequest, ApiError> {
        let mut targets = Vec::new();
        for t in p.list("target") {
            if !t.trim().is_empty() {
                targets.push(parse_target(t)?);
            }
        }
        if targets.is_empty() {
            return Err(ApiError::BadRequest("a forecast needs a target".into()));
        }
        let threshold_text = p
            .get("threshold")
            .ok_or_else(|| ApiError::BadRequest("threshold is required".into()))?;
        let threshold = threshold_text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "threshold must be a number, not {threshold_text:?}"
                ))
            })?;
        let model = match p.get("model").unwrap_or("linear") {
            "linear" => ModelKind::Linear,
            "holt-winters" | "holtwinters" | "holtWinters" => ModelKind::HoltWinters,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "model={other} is unknown: use linear or holt-winters"
                )))
            }
        };
        let positive = |key: &str, default: &str| -> Result<i64, ApiError> {
            let text = p.get(key).unwrap_or(default);
            match parse_offset(text)? {
                s if s > 0 => Ok(s),
                _ => Err(ApiError::BadRequest(format!(
                    "{key}={text} must be a positive interval"
                ))),
            }
        };
        let season = positive("season", "1d")?;
        let horizon = positive("horizon", "365d")?;
        let tz = p.get("tz").and_then(parse_tz).unwrap_or(default_tz);
        let mut window = p.clone();
        if !p.has("from") {
            window = Params::from_pairs(
                p.pairs()
                    .iter()
                    .cloned()
                    .chain([("from".to_string(), "-30d".to_string())]),
            );
        }
        let (start, end, now) = time_window(&window, tz, wall_clock)?;
        Ok(ForecastRequest {
            targets,
            ctx: Context {
                now,
                wall_clock,
                tz,
                ..Context::new(start, end)
            },
            threshold,
            model,
            season,
            horizon,
        })
    }
}

/// The forecast of one series.
pub struct Forecast {
    /// The series' name.
    pub series: String,
    /// The model used.
    pub model: ModelKind,
    /// The threshold.
    pub threshold: f64,
    /// The end of the history (`days = 0`).
    pub until: i64,
    /// The fitted model; `None` with too few points.
    pub fit: Option<Box<dyn Model>>,
    /// When the trend reaches the threshold (may be in the past: already
    /// crossed); `None` if never within the horizon.
    pub crosses_at: Option<i64>,
    /// Earliest and latest crossing the band allows (`None`: not within
    /// the horizon).
    pub interval: (Option<i64>, Option<i64>),
    /// Residual error of the fit, in the series' units.
    pub residual_error: Option<f64>,
    /// The history's non-null points.
    pub history: Vec<(i64, f64)>,
}

/// Forecasts every series of the request's targets, soonest crossing first.
pub fn forecast(
    ev: &mut Evaluator<'_>,
    request: &ForecastRequest,
) -> Result<Vec<Forecast>, ApiError> {
    let series = ev.evaluate_targets(&request.ctx, &request.targets)?;
    let until = request.ctx.end;
    let horizon_days = request.horizon as f64 / DAY;
    let mut out = Vec::with_capacity(series.len());
    for s in series {
        ev.check_deadline()?;
        let history: Vec<(i64, f64)> = s
            .datapoints()
            .into_iter()
            .filter_map(|(v, t)| Some((t, v.filter(|x| x.is_finite())?)))
            .collect();
        let (fit, residual_error): (Option<Box<dyn Model>>, Option<f64>) = match request.model {
            ModelKind::Linear => {
                let days: Vec<f64> = history
                    .iter()
                    .map(|(t, _)| (t - until) as f64 / DAY)
                    .collect();
                let values: Vec<f64> = history.iter().map(|(_, v)| *v).collect();
                match linear::fit(&days, &values, Some(request.season as f64 / DAY)) {
                    Some(f) => {
                        let sigma = f.sigma;
                        (Some(Box::new(f)), Some(sigma))
                    }
                    None => (None, None),
                }
            }
            ModelKind::HoltWinters => {
                let step = s.step.max(1) * s.values_per_point as i64;
                let points = s.points().into_owned();
                let last_day = (s.start + (points.len() as i64 - 1) * step - until) as f64 / DAY;
                match holt::fit(&points, step, last_day, request.season / step)
                    .map_err(|e| ApiError::BadRequest(format!("{}: {e}", s.name)))?
                {
                    Some(f) => {
                        let error = f.residual_error;
                        (Some(Box::new(f)), Some(error))
                    }
                    None => (None, None),
                }
            }
        };
        let (crosses_at, interval) = match &fit {
            Some(model) => crossing(
                model.as_ref(),
                request.threshold,
                horizon_days,
                history
                    .first()
                    .map_or(0.0, |(t, _)| (t - until) as f64 / DAY),
            ),
            None => (None, (None, None)),
        };
        let to_epoch = |d: f64| until + (d * DAY).round() as i64;
        out.push(Forecast {
            series: s.name.clone(),
            model: request.model,
            threshold: request.threshold,
            until,
            fit,
            crosses_at: crosses_at.map(to_epoch),
            interval: (interval.0.map(to_epoch), interval.1.map(to_epoch)),
            residual_error,
            history,
        });
    }
    out.sort_by(|a, b| match (a.crosses_at, b.crosses_at) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.series.cmp(&b.series)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.series.cmp(&b.series),
    });
    Ok(out)
}

/// Days until the trend reaches `threshold` (negative: it did already),
/// and the earliest and latest days the band allows, all within
/// `horizon_days`; `first_day` is where the history starts.
type Crossing = (Option<f64>, (Option<f64>, Option<f64>));

fn crossing(model: &dyn Model, threshold: f64, horizon_days: f64, first_day: f64) -> Crossing {
    let slope = model.slope_per_day();
    if slope == 0.0 || !slope.is_finite() {
        return (None, (None, None));
    }
    let at = (threshold - model.trend(0.0)) / slope;
    // A crossing before the history began was not seen: the series moves
    // away from the threshold.
    if at > horizon_days || at < first_day.min(0.0) || !at.is_finite() {
        return (None, (None, None));
    }
    let up = slope > 0.0;
    let lo = at.min(first_day).min(0.0);
    let early = first_reach(
        |d| {
            let (low, high) = model.band(d);
            model.trend(d) + if up { high } else { low }
        },
        threshold,
        up,
        lo,
        horizon_days,
    );
    let late = first_reach(
        |d| {
            let (low, high) = model.band(d);
            model.trend(d) + if up { low } else { high }
        },
        threshold,
        up,
        lo,
        horizon_days,
    );
    (Some(at), (early, late))
}

/// The first day in `[lo, hi]` where `f` reaches `threshold` going up (or
/// down), by sampling then bisection.
fn first_reach(f: impl Fn(f64) -> f64, threshold: f64, up: bool, lo: f64, hi: f64) -> Option<f64> {
    let reached = |d: f64| {
        let v = f(d);
        if up {
            v >= threshold
        } else {
            v <= threshold
        }
    };
    if reached(lo) {
        return Some(lo);
    }
    let width = (hi - lo) / SEARCH_SAMPLES as f64;
    let mut before = lo;
    for i in 1..=SEARCH_SAMPLES {
        let d = lo + width * i as f64;
        if reached(d) {
            let mut after = d;
            for _ in 0..60 {
                let mid = (before + after) / 2.0;
                if reached(mid) {
                    after = mid;
                } else {
                    before = mid;
                }
            }
            return Some(after);
        }
        before = d;
    }
    None
}

/// The forecasts as a JSON list of objects (`series`, `model`,
/// `slope_per_day`, `level`, `threshold`, `crosses_at`,
/// `crosses_interval`, `already_crossed`, `residual_error`, `points`).
pub fn to_json(forecasts: &[Forecast]) -> String {
    let mut out = String::from("[");
    for (i, f) in forecasts.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let number = |x: Option<f64>| {
            let mut s = String::new();
            write_value(&mut s, x);
            s
        };
        let epoch = |t: Option<i64>| t.map_or("null".to_string(), |t| t.to_string());
        let mut name = String::new();
        write_str(&mut name, &f.series);
        let slope = f.fit.as_ref().map(|m| m.slope_per_day());
        let level = f.fit.as_ref().map(|m| m.trend(0.0));
        out.push_str(&format!(
            "{{\"series\": {name}, \"model\": \"{}\", \"slope_per_day\": {}, \"level\": {}, \
             \"threshold\": {}, \"crosses_at\": {}, \"crosses_interval\": [{}, {}], \
             \"already_crossed\": {}, \"residual_error\": {}, \"points\": {}}}",
            f.model.name(),
            number(slope),
            number(level),
            number(Some(f.threshold)),
            epoch(f.crosses_at),
            epoch(f.interval.0),
            epoch(f.interval.1),
            f.crosses_at.is_some_and(|t| t <= f.until),
            number(f.residual_error),
            f.history.len(),
        ));
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryRead;
    use crate::Limits;

    const HOUR: i64 = 3600;
    const UNTIL: i64 = 1_700_000_000 - 1_700_000_000 % HOUR;

    /// 30 days of hourly `50 + slope*day + wave*sin(day) + noise`.
    fn synthetic(slope: f64, wave: f64, noise: f64) -> MemoryRead {
        let start = UNTIL - 30 * 86_400;
        let mut seed = 7u64;
        let values: Vec<Option<f64>> = (0..=30 * 24)
            .map(|h| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                let day = h as f64 / 24.0;
                Some(
                    50.0 + slope * day
                        + wave * (std::f64::consts::TAU * day).sin()
                        + noise * 2.0 * u,
                )
            })
            .collect();
        MemoryRead::new().with("disk.a", start, HOUR, &values)
    }

    fn run(read: &MemoryRead, pairs: &[(&str, &str)]) -> Vec<Forecast> {
        let req = ForecastRequest::from_params(&Params::from_pairs(pairs.to_vec()), Tz::UTC, UNTIL)
            .unwrap();
        let mut ev = Evaluator::new(read, Limits::default());
        forecast(&mut ev, &req).unwrap()
    }

    #[test]
    fn linear_finds_the_crossing_of_a_trend_under_a_wave() {
        let read = synthetic(1.0, 5.0, 2.0);
        let until = UNTIL.to_string();
        let f = run(
            &read,
            &[
                ("target", "disk.*"),
                ("threshold", "120"),
                ("until", &until),
            ],
        );
        // level at until is 80, so 40 more days at 1/day
        let truth = UNTIL + 40 * 86_400;
        let got = f[0].crosses_at.unwrap();
        assert!(
            ((got - truth) as f64).abs() < 0.05 * 40.0 * 86_400.0,
            "{got} vs {truth}"
        );
        let (lo, hi) = f[0].interval;
        assert!(
            lo.unwrap() <= truth && truth <= hi.unwrap(),
            "{lo:?} {hi:?}"
        );
    }

    #[test]
    fn holt_winters_agrees_with_holt_winters_forecast_in_sample() {
        let read = synthetic(1.0, 5.0, 0.5);
        let from = (UNTIL - 30 * 86_400).to_string();
        let until = UNTIL.to_string();
        let f = run(
            &read,
            &[
                ("target", "disk.a"),
                ("threshold", "120"),
                ("from", &from),
                ("until", &until),
                ("model", "holt-winters"),
            ],
        );
        let truth = UNTIL + 40 * 86_400;
        let got = f[0].crosses_at.unwrap();
        assert!(
            ((got - truth) as f64).abs() < 0.1 * 40.0 * 86_400.0,
            "{got} vs {truth}"
        );
        // holtWintersForecast over the last 23 days trains on the 7 before
        let mut ev = Evaluator::new(&read, Limits::default());
        let ctx = Context::new(UNTIL - 23 * 86_400, UNTIL);
        let graphite = ev
            .evaluate_targets(
                &ctx,
                &[parse_target("holtWintersForecast(disk.a)").unwrap()],
            )
            .unwrap();
        let req = ForecastRequest::from_params(
            &Params::from_pairs([
                ("target", "disk.a"),
                ("threshold", "120"),
                ("from", from.as_str()),
                ("until", until.as_str()),
            ]),
            Tz::UTC,
            UNTIL,
        )
        .unwrap();
        let series = ev.evaluate_targets(&req.ctx, &req.targets).unwrap();
        let points = series[0].points().into_owned();
        let fit = holt::fit(&points, HOUR, 0.0, 24).unwrap().unwrap();
        let ours = &fit.predictions[fit.predictions.len() - graphite[0].values.len()..];
        assert_eq!(ours, &graphite[0].values[..]);
    }

    #[test]
    fn sorted_by_soonest_crossing_and_json() {
        let values = |slope: f64| -> Vec<Option<f64>> {
            (0..=240)
                .map(|h| Some(10.0 + slope * h as f64 / 24.0))
                .collect()
        };
        let start = UNTIL - 10 * 86_400;
        let read = MemoryRead::new()
            .with("d.slow", start, HOUR, &values(1.0))
            .with("d.fast", start, HOUR, &values(5.0))
            .with("d.flat", start, HOUR, &values(0.0));
        let until = UNTIL.to_string();
        let f = run(
            &read,
            &[
                ("target", "d.*"),
                ("threshold", "100"),
                ("until", &until),
                ("from", "-10d"),
            ],
        );
        let names: Vec<&str> = f.iter().map(|x| x.series.as_str()).collect();
        assert_eq!(names, ["d.fast", "d.slow", "d.flat"]);
        let json: serde_json::Value = serde_json::from_str(&to_json(&f)).unwrap();
        // from 60 at until, 5 a day: 8 days to 100
        let fast = json[0]["crosses_at"].as_i64().unwrap();
        assert!((fast - (UNTIL + 8 * 86_400)).abs() <= 1, "{fast}");
        assert_eq!(json[2]["crosses_at"], serde_json::Value::Null);
        assert!((json[1]["slope_per_day"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    }
}
