//! Graphs: `/render` as PNG (graphite's default answer), SVG with
//! graphite-web's metadata script, and PDF, for `graphType=line` and
//! `pie` — a port of graphite-web 1.1.10's `graphite/render/glyph.py`.
//!
//! [`params`] types the request's graph options as graphite's
//! `parseOptions` does; [`line`]/[`lines`] and [`pie`] lay the graph out and
//! draw it on a recording [`canvas`] (with [`axes`], [`base`] for title,
//! legend and text, [`fonts`] for DejaVu Sans metrics and outlines,
//! [`colors`]); [`raster`], [`svg`] and [`pdf`] write the result.

pub mod axes;
pub mod base;
mod boxes;
pub mod canvas;
pub mod colors;
mod coverage;
pub mod fonts;
pub mod line;
mod lines;
pub mod params;
pub mod pdf;
pub mod pie;
mod polyline;
pub mod raster;
pub mod svg;

use chrono_tz::Tz;

use crate::error::ApiError;
use crate::series::Series;

use base::Graph;
use line::LineGraph;
use params::GraphParams;

/// The image format asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Png,
    Svg,
    Pdf,
}

impl OutputFormat {
    /// graphite's `outputFormat` names (`png` for anything else that
    /// reaches the image renderer).
    pub fn parse(name: &str) -> Option<OutputFormat> {
        match name.to_lowercase().as_str() {
            "png" => Some(OutputFormat::Png),
            "svg" => Some(OutputFormat::Svg),
            "pdf" => Some(OutputFormat::Pdf),
            _ => None,
        }
    }

    /// The response's content type (graphite-web's).
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Png => "image/png",
            OutputFormat::Svg => "image/svg+xml",
            OutputFormat::Pdf => "application/x-pdf",
        }
    }
}

/// What every graph request needs besides its data.
#[derive(Clone, Debug)]
pub struct GraphOptions {
    pub params: GraphParams,
    pub format: OutputFormat,
    /// The request's zone (graphite's `tz` or `TIME_ZONE`).
    pub tz: Tz,
    /// `[render] max_graph_width`, `max_graph_height`.
    pub max_size: (u32, u32),
}

fn pixel_size(opts: &GraphOptions) -> Result<(u32, u32), ApiError> {
    let w = opts.params.int("width", 330)?;
    let h = opts.params.int("height", 250)?;
    Ok((
        w.clamp(1, u32::MAX as i64) as u32,
        h.clamp(1, u32::MAX as i64) as u32,
    ))
}

fn with_default_size(mut opts: GraphOptions) -> GraphOptions {
    // parseOptions starts from {'width': 330, 'height': 250}
    if !opts.params.has("width") {
        opts.params.set("width", params::PVal::Int(330));
    }
    if !opts.params.has("height") {
        opts.params.set("height", params::PVal::Int(250));
    }
    opts
}

fn finish(g: &Graph, line: Option<&LineGraph>, opts: &GraphOptions) -> Result<Vec<u8>, ApiError> {
    let (w, h) = pixel_size(opts)?;
    Ok(match opts.format {
        OutputFormat::Png => raster::png(&g.c, w, h)?,
        OutputFormat::Svg => svg::svg(&g.c, w, h, &svg::metadata(line)),
        OutputFormat::Pdf => pdf::pdf(&g.c),
    })
}

/// Draws a line graph of `series`.
pub fn render_line(series: Vec<Series>, opts: GraphOptions) -> Result<Vec<u8>, ApiError> {
    let opts = with_default_size(opts);
    let g = Graph::new(opts.params.clone(), opts.format, opts.max_size)?;
    let lg = LineGraph::draw(g, series, opts.tz)?;
    finish(&lg.g, Some(&lg), &opts)
}

/// Draws a pie of `(name, value)` slices.
pub fn render_pie(data: &[(String, f64)], opts: GraphOptions) -> Result<Vec<u8>, ApiError> {
    let opts = with_default_size(opts);
    let mut g = Graph::new(opts.params.clone(), opts.format, opts.max_size)?;
    pie::draw(&mut g, data)?;
    finish(&g, None, &opts)
}

/// graphite's `PieFunctions[mode](series) or 0`: the average, maximum or
/// minimum of the non-null values.
pub fn pie_value(mode: &str, series: &Series) -> Result<f64, ApiError> {
    let values: Vec<f64> = series.points().iter().flatten().copied().collect();
    let v = match mode {
        "average" => {
            if values.is_empty() {
                None
            } else {
                Some(values.iter().sum::<f64>() / values.len() as f64)
            }
        }
        "maximum" => values.iter().copied().reduce(f64::max),
        "minimum" => values.iter().copied().reduce(f64::min),
        other => {
            return Err(ApiError::BadRequest(format!(
                "pieMode {other:?} is not one of average, maximum, minimum"
            )))
        }
    };
    Ok(v.filter(|x| *x != 0.0).unwrap_or(0.0))
}
