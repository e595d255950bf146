//! The Holt-Winters forecast: graphite's seasonal model
//! ([`holt_winters_model`], the code behind `holtWintersForecast`), run
//! over the history and extrapolated from its last level and season. Over
//! the history its one-step predictions are `holtWintersForecast`'s; past
//! it, the band spans the last season's terms plus or minus graphite's
//! confidence of three smoothed deviations. The slope ahead is the rate at which the
//! model's level grew over the second half of the history: graphite's own
//! slope term learns with beta 0.0035, so after a month of hourly points
//! it still holds only about 90% of the real slope, which would put every
//! crossing a tenth too late.

use crate::functions::holt_winters::holt_winters_model;

use super::Model;

/// graphite's `holtWintersConfidenceBands` default `delta`.
const DELTA: f64 = 3.0;

/// The model's state after the last value, in days relative to `until`.
pub(super) struct HoltFit {
    level: f64,
    slope_per_step: f64,
    step_days: f64,
    /// Day of the last value with a level (`<= 0`).
    last_day: f64,
    /// Lowest and highest seasonal term minus / plus three deviations
    /// over the last season.
    envelope: (f64, f64),
    /// One-step predictions over the history (`holtWintersForecast`'s
    /// values; the tests compare them).
    #[cfg_attr(not(test), allow(dead_code))]
    pub predictions: Vec<Option<f64>>,
    /// Root mean square of value minus prediction over the history.
    pub residual_error: f64,
}

impl Model for HoltFit {
    fn trend(&self, days: f64) -> f64 {
        self.level + self.slope_per_step * self.steps_ahead(days)
    }

    fn band(&self, _days: f64) -> (f64, f64) {
        self.envelope
    }

    fn slope_per_day(&self) -> f64 {
        self.slope_per_step / self.step_days
    }
}

impl HoltFit {
    fn steps_ahead(&self, days: f64) -> f64 {
        ((days - self.last_day) / self.step_days).round().max(1.0)
    }
}

/// The least-squares slope of the known levels, per step.
fn level_growth(levels: &[Option<f64>]) -> Option<f64> {
    let known: Vec<(f64, f64)> = levels
        .iter()
        .enumerate()
        .filter_map(|(i, l)| Some((i as f64, (*l)?)))
        .collect();
    if known.len() < 2 {
        return None;
    }
    let n = known.len() as f64;
    let (mx, my) = known
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let sxx: f64 = known.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    let sxy: f64 = known.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// Fits `values` (one per `step` seconds, the last at `last_day`) with
/// seasons of `season_steps` values.
pub(super) fn fit(
    values: &[Option<f64>],
    step: i64,
    last_day: f64,
    season_steps: i64,
) -> Result<Option<HoltFit>, String> {
    let model = holt_winters_model(values, season_steps)?;
    let Some(last) = model.intercepts.iter().rposition(Option::is_some) else {
        return Ok(None);
    };
    let level = model.intercepts[last].unwrap_or(0.0);
    let n = last + 1;
    let len = usize::try_from(season_steps).unwrap_or(0).min(n);
    let envelope = (n - len..n)
        .map(|i| {
            let (seasonal, deviation) = (model.seasonals[i], model.deviations[i]);
            (seasonal - DELTA * deviation, seasonal + DELTA * deviation)
        })
        .fold((0.0f64, 0.0f64), |(lo, hi), (l, h)| (lo.min(l), hi.max(h)));
    let errors: Vec<f64> = values
        .iter()
        .zip(&model.predictions)
        .filter_map(|(v, p)| Some(v.as_ref()? - p.as_ref()?))
        .collect();
    let residual_error = if errors.is_empty() {
        0.0
    } else {
        (errors.iter().map(|e| e * e).sum::<f64>() / errors.len() as f64).sqrt()
    };
    let step_days = step as f64 / 86_400.0;
    let slope_per_step = level_growth(&model.intercepts[n / 2..n]).unwrap_or(model.slopes[last]);
    Ok(Some(HoltFit {
        level,
        slope_per_step,
        step_days,
        last_day: last_day - (values.len() - n) as f64 * step_days,
        envelope,
        predictions: model.predictions,
        residual_error,
    }))
}
