//! graphite-web's Holt-Winters functions (group "Calculate"):
//! holtWintersForecast, holtWintersConfidenceBands,
//! holtWintersConfidenceArea and holtWintersAberration. Each fetches its
//! first argument again from `bootstrapInterval` before the requested
//! start to train the model, as graphite does.

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::series::Series;
use crate::time::parse_offset;

use super::calculate::{new_series_like, preview, SERIES_LIST};
use super::graph::area_between;
use super::{Args, FunctionDef, Lit, Param, ParamType, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[&FORECAST, &CONFIDENCE_BANDS, &ABERRATION, &CONFIDENCE_AREA]);
}

/// `bootstrapInterval='7d'`: how much data before the requested range
/// trains the model.
const BOOTSTRAP_INTERVAL: Param = Param::new("bootstrapInterval", ParamType::Interval)
    .default(Lit::Str("7d"))
    .suggestions(&[Lit::Str("7d"), Lit::Str("30d")]);

/// `seasonality='1d'`: the length of a season.
const SEASONALITY: Param = Param::new("seasonality", ParamType::Interval)
    .default(Lit::Str("1d"))
    .suggestions(&[Lit::Str("1d"), Lit::Str("7d")]);

/// `(seriesList, delta=3, bootstrapInterval='7d', seasonality='1d')`.
const BAND_PARAMS: &[Param] = &[
    SERIES_LIST,
    Param::new("delta", ParamType::Integer).default(Lit::Int(3)),
    BOOTSTRAP_INTERVAL,
    SEASONALITY,
];

static FORECAST: FunctionDef = FunctionDef::new("holtWintersForecast", "Calculate", forecast)
    .description(
        "Holt-Winters (triple exponential smoothing) forecast of each series, trained \
         on bootstrapInterval of data before the requested range, with the given \
         seasonality.",
    )
    .params(&[SERIES_LIST, BOOTSTRAP_INTERVAL, SEASONALITY]);

static CONFIDENCE_BANDS: FunctionDef =
    FunctionDef::new("holtWintersConfidenceBands", "Calculate", confidence_bands)
        .description(
            "The lower and upper Holt-Winters confidence bands of each series: the \
             forecast minus and plus delta times the predicted deviation.",
        )
        .params(BAND_PARAMS);

static ABERRATION: FunctionDef = FunctionDef::new("holtWintersAberration", "Calculate", aberration)
    .description(
        "How far each value lies outside its Holt-Winters confidence bands (positive \
         above, negative below, 0 inside or null).",
    )
    .params(BAND_PARAMS);

static CONFIDENCE_AREA: FunctionDef =
    FunctionDef::new("holtWintersConfidenceArea", "Calculate", confidence_area)
        .description(
            "The Holt-Winters confidence bands of one series, drawn as an area between \
             them.",
        )
        .params(BAND_PARAMS);

/// One value per point, null where missing.
pub(crate) type Column = Vec<Option<f64>>;

/// graphite's Holt-Winters model after reading a series: per value, the
/// one-step prediction, smoothed deviation, level (intercept), slope and
/// seasonal term. `ferrograph forecast` extrapolates from its last values.
pub(crate) struct HoltWintersModel {
    /// One-step predictions (graphite's `predictions`).
    pub predictions: Column,
    /// Smoothed absolute deviations (graphite's `deviations`).
    pub deviations: Vec<f64>,
    /// Levels; `None` where the value was missing.
    pub intercepts: Column,
    /// Slopes per step (0 where the value was missing).
    pub slopes: Vec<f64>,
    /// Seasonal terms (0 where the value was missing).
    pub seasonals: Vec<f64>,
}

/// graphite's `holtWintersAnalysis`: one-step predictions and smoothed
/// deviations for every value of `values`, with seasons of
/// `season_length` values.
fn holt_winters_analysis(
    values: &[Option<f64>],
    season_length: i64,
) -> Result<(Column, Column), String> {
    let model = holt_winters_model(values, season_length)?;
    Ok((
        model.predictions,
        model.deviations.into_iter().map(Some).collect(),
    ))
}

/// graphite's `holtWintersAnalysis` with the whole state kept (see
/// [`HoltWintersModel`]).
pub(crate) fn holt_winters_model(
    values: &[Option<f64>],
    season_length: i64,
) -> Result<HoltWintersModel, String> {
    const ALPHA: f64 = 0.1;
    const GAMMA: f64 = 0.1;
    const BETA: f64 = 0.0035;
    let n = values.len();
    let mut intercepts: Vec<Option<f64>> = Vec::with_capacity(n);
    let mut slopes: Vec<f64> = Vec::with_capacity(n);
    let mut seasonals: Vec<f64> = Vec::with_capacity(n);
    let mut predictions: Vec<Option<f64>> = Vec::with_capacity(n);
    let mut deviations: Vec<f64> = Vec::with_capacity(n);
    // graphite reads `seasonals[i - seasonLength]`; an index at or past the
    // end (a season of one step or less) raises IndexError there
    let back = |list: &[f64], i: usize| -> Result<f64, String> {
        let j = i as i64 - season_length;
        if j < 0 {
            return Ok(0.0);
        }
        list.get(j as usize).copied().ok_or_else(|| {
            format!("seasonality of {season_length} steps is too short for Holt-Winters")
        })
    };
    let mut next_pred: Option<f64> = None;
    for (i, actual) in values.iter().enumerate() {
        let Some(actual) = *actual else {
            intercepts.push(None);
            slopes.push(0.0);
            seasonals.push(0.0);
            predictions.push(next_pred);
            deviations.push(0.0);
            next_pred = None;
            continue;
        };
        let (last_intercept, last_slope, prediction) = if i == 0 {
            (actual, 0.0, Some(actual))
        } else {
            let last = intercepts.last().copied().flatten().unwrap_or(actual);
            (last, slopes.last().copied().unwrap_or(0.0), next_pred)
        };
        let last_seasonal = back(&seasonals, i)?;
        let next_last_seasonal = back(&seasonals, i + 1)?;
        let last_seasonal_dev = back(&deviations, i)?;
        let intercept =
            ALPHA * (actual - last_seasonal) + (1.0 - ALPHA) * (last_intercept + last_slope);
        let slope = BETA * (intercept - last_intercept) + (1.0 - BETA) * last_slope;
        let seasonal = GAMMA * (actual - intercept) + (1.0 - GAMMA) * last_seasonal;
        next_pred = Some(intercept + slope + next_last_seasonal);
        let deviation =
            GAMMA * (actual - prediction.unwrap_or(0.0)).abs() + (1.0 - GAMMA) * last_seasonal_dev;
        intercepts.push(Some(intercept));
        slopes.push(slope);
        seasonals.push(seasonal);
        predictions.push(prediction);
        deviations.push(deviation);
    }
    Ok(HoltWintersModel {
        predictions,
        deviations,
        intercepts,
        slopes,
        seasonals,
    })
}

/// The refetched series of a holtWinters* call, each with its predictions
/// and deviations for the requested range (the bootstrap part cut off):
/// `(series, start, predictions, deviations)`. The series' tags carry
/// graphite's `holtWintersForecast` and `holtWintersDeviation` marks.
type HoltWintersFit = (Series, i64, Column, Column);

fn holt_winters_fit(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    args: &Args,
    bootstrap: &str,
    seasonality: &str,
) -> Result<Vec<HoltWintersFit>, ApiError> {
    let preview_seconds = parse_offset(bootstrap)?;
    let season_seconds = parse_offset(seasonality)?;
    let previews = preview(ev, ctx, args, preview_seconds)?;
    let mut out = Vec::with_capacity(previews.len());
    for mut series in previews {
        ev.check_deadline()?;
        let step = series.step.max(1);
        let (predictions, deviations) =
            holt_winters_analysis(&series.points(), season_seconds.div_euclid(step))
                .map_err(|e| args.error(e))?;
        series.tags.insert("holtWintersForecast".into(), "1".into());
        series
            .tags
            .insert("holtWintersDeviation".into(), "1".into());
        let skip = usize::try_from(preview_seconds.div_euclid(step)).unwrap_or(0);
        let cut = |v: Vec<Option<f64>>| v.into_iter().skip(skip).collect::<Vec<_>>();
        let start = series.start.saturating_add(preview_seconds);
        out.push((series, start, cut(predictions), cut(deviations)));
    }
    Ok(out)
}

fn forecast(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    args.series_list(0)?;
    let bootstrap = args.string(1)?;
    let seasonality = args.string(2)?;
    let fits = holt_winters_fit(ev, ctx, &args, &bootstrap, &seasonality)?;
    Ok(Value::SeriesList(
        fits.into_iter()
            .map(|(series, start, predictions, _)| {
                let name = format!("holtWintersForecast({})", series.name);
                new_series_like(&series, name, start, predictions)
            })
            .collect(),
    ))
}

/// graphite's `holtWintersConfidenceBands`: for each refetched series,
/// its lower then upper band, both tagged with every Holt-Winters mark
/// (graphite's tag dicts are shared) and keeping the series' path
/// expression.
fn bands(ev: &mut Evaluator<'_>, ctx: &Context, args: &Args) -> Result<Vec<Series>, ApiError> {
    let delta = args.float(1)?;
    let bootstrap = args.string(2)?;
    let seasonality = args.string(3)?;
    let fits = holt_winters_fit(ev, ctx, args, &bootstrap, &seasonality)?;
    let mut out = Vec::with_capacity(fits.len() * 2);
    for (mut series, start, forecast, deviation) in fits {
        let (lower, upper): (Vec<_>, Vec<_>) = forecast
            .iter()
            .zip(&deviation)
            .map(|(f, d)| match (f, d) {
                (Some(f), Some(d)) => {
                    let scaled = delta * d;
                    (Some(f - scaled), Some(f + scaled))
                }
                _ => (None, None),
            })
            .unzip();
        series
            .tags
            .insert("holtWintersConfidenceUpper".into(), "1".into());
        series
            .tags
            .insert("holtWintersConfidenceLower".into(), "1".into());
        for (kind, values) in [("Lower", lower), ("Upper", upper)] {
            let name = format!("holtWintersConfidence{kind}({})", series.name);
            let mut band = new_series_like(&series, name, start, values);
            band.path_expression.clone_from(&series.path_expression);
            out.push(band);
        }
    }
    Ok(out)
}

fn confidence_bands(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    args.series_list(0)?;
    bands(ev, ctx, &args).map(Value::SeriesList)
}

fn confidence_area(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    args.series_list(0)?;
    let bands = bands(ev, ctx, &args)?;
    let mut area = area_between(bands).map_err(|e| args.error(e))?;
    for s in &mut area {
        s.tags.remove("areaBetween");
        s.tags
            .insert("holtWintersConfidenceArea".into(), "1".into());
        s.name = s.name.replace("areaBetween", "holtWintersConfidenceArea");
        s.path_expression.clone_from(&s.name);
    }
    Ok(Value::SeriesList(area))
}

fn aberration(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let bands = bands(ev, ctx, &args)?;
    let band = |kind: &str, name: &str| -> Result<&Series, ApiError> {
        let wanted = format!("holtWintersConfidence{kind}({name})");
        // graphite builds a dict by name: the last band of a name wins
        bands
            .iter()
            .rev()
            .find(|b| b.name == wanted)
            .ok_or_else(|| ApiError::BadRequest(format!("no confidence band {wanted}")))
    };
    let mut out = Vec::with_capacity(list.len());
    for mut series in list {
        let lower = band("Lower", &series.name)?;
        let upper = band("Upper", &series.name)?;
        let points = series.points().into_owned();
        let mut aberration = Vec::with_capacity(points.len());
        for (i, v) in points.iter().enumerate() {
            let Some(v) = *v else {
                aberration.push(Some(0.0));
                continue;
            };
            let (Some(up), Some(low)) = (upper.values.get(i), lower.values.get(i)) else {
                return Err(args.error(format!(
                    "the confidence bands of {} are shorter than the series",
                    series.name
                )));
            };
            aberration.push(Some(match (up, low) {
                (Some(up), _) if v > *up => v - up,
                (_, Some(low)) if v < *low => v - low,
                _ => 0.0,
            }));
        }
        series
            .tags
            .insert("holtWintersAberration".into(), "1".into());
        let name = format!("holtWintersAberration({})", series.name);
        let start = series.start;
        out.push(new_series_like(&series, name, start, aberration));
    }
    Ok(Value::SeriesList(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holt_winters_forecast_tracks_a_constant() {
        let flat: Vec<Option<f64>> = vec![Some(5.0); 40];
        let (pred, dev) = holt_winters_analysis(&flat, 4).unwrap();
        assert!(pred.iter().all(|p| (p.unwrap() - 5.0).abs() < 1e-9));
        assert!(dev.iter().all(|d| d.unwrap().abs() < 1e-9));
        assert!(holt_winters_analysis(&flat, 1).is_err());
    }
}
