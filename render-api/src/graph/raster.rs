//! Replays a [`Canvas`] display list onto an RGBA pixmap and encodes the
//! PNG (cairo image surface: anti-aliased fills and strokes with exact area
//! coverage and non-zero winding, butt caps, miter joins with cairo's limit
//! 10). tiny-skia outlines the strokes; [`coverage`](super::coverage)
//! scan-converts every shape.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use tiny_skia::{LineCap, LineJoin, PathBuilder, Pixmap, Stroke, StrokeDash};

use crate::error::ApiError;

use super::boxes::{self, Box2};
use super::canvas::{Canvas, Clip, El, Op};
use super::colors::Rgba;
use super::coverage::{Rasterizer, Window};
use super::polyline;

/// Builds a tiny-skia path; `None` when nothing drawable remains.
pub fn to_path(path: &[El]) -> Option<tiny_skia::Path> {
    let mut pb = PathBuilder::new();
    for el in path {
        match *el {
            El::Move(x, y) => pb.move_to(x as f32, y as f32),
            El::Line(x, y) => pb.line_to(x as f32, y as f32),
            El::Quad(a, b, x, y) => pb.quad_to(a as f32, b as f32, x as f32, y as f32),
            El::Cubic(a, b, c, d, x, y) => {
                pb.cubic_to(a as f32, b as f32, c as f32, d as f32, x as f32, y as f32)
            }
            El::Close => pb.close(),
        }
    }
    pb.finish()
}

/// What a clip leaves of the canvas.
enum ClipCoverage {
    /// One axis-aligned box: pixels are covered by their overlap with it.
    Box(Box2),
    /// Anything else: a coverage mask of the whole canvas.
    Mask(Vec<f32>),
}

/// The clip's coverage: an intersection of paths (cairo multiplies the
/// masks of successive clips, as `IN` does).
fn clip_coverage(clip: &Clip, r: &mut Rasterizer, width: u32, height: u32) -> ClipCoverage {
    if let Ok(Some(b)) = boxes::clip_box(clip) {
        return ClipCoverage::Box(b);
    }
    let mut mask: Option<Vec<f32>> = None;
    for p in clip.iter() {
        let mut layer = vec![0.0f32; width as usize * height as usize];
        r.reset(Window {
            x0: 0,
            y0: 0,
            x1: width,
            y1: height,
        });
        add_path(r, p);
        r.sweep(|y, x, cov| {
            let at = y as usize * width as usize + x as usize;
            if let Some(out) = layer.get_mut(at..at + cov.len()) {
                out.copy_from_slice(cov);
            }
        });
        mask = Some(match mask {
            None => layer,
            Some(mut m) => {
                for (a, b) in m.iter_mut().zip(&layer) {
                    *a *= *b;
                }
                m
            }
        });
    }
    ClipCoverage::Mask(mask.unwrap_or_default())
}

/// Feeds a recorded path to the rasteriser.
fn add_path(r: &mut Rasterizer, path: &[El]) {
    for el in path {
        match *el {
            El::Move(x, y) => r.move_to(x, y),
            El::Line(x, y) => r.line_to(x, y),
            El::Quad(a, b, x, y) => r.quad_to(a, b, x, y),
            El::Cubic(a, b, c, d, x, y) => r.cubic_to(a, b, c, d, x, y),
            El::Close => r.close(),
        }
    }
}

/// Feeds a tiny-skia path (a stroke's outline) to the rasteriser.
fn add_skia_path(r: &mut Rasterizer, path: &tiny_skia::Path) {
    use tiny_skia::PathSegment as S;
    let f = |p: tiny_skia::Point| (p.x as f64, p.y as f64);
    for seg in path.segments() {
        match seg {
            S::MoveTo(p) => {
                let (x, y) = f(p);
                r.move_to(x, y)
            }
            S::LineTo(p) => {
                let (x, y) = f(p);
                r.line_to(x, y)
            }
            S::QuadTo(c, p) => {
                let ((a, b), (x, y)) = (f(c), f(p));
                r.quad_to(a, b, x, y)
            }
            S::CubicTo(c, d, p) => {
                let ((a, b), (cx, cy), (x, y)) = (f(c), f(d), f(p));
                r.cubic_to(a, b, cx, cy, x, y)
            }
            S::Close => r.close(),
        }
    }
}

/// The outline cairo fills for a stroke: butt caps, miter joins with
/// cairo's limit 10, dashes (an odd dash list repeats, as in cairo).
fn stroke_outline(path: &[El], style: &super::canvas::StrokeStyle) -> Option<tiny_skia::Path> {
    let mut p = to_path(path)?;
    let stroke = Stroke {
        width: style.width as f32,
        line_cap: LineCap::Butt,
        line_join: LineJoin::Miter,
        miter_limit: 10.0,
        dash: None,
    };
    if let Some((dashes, offset)) = &style.dash {
        let mut d: Vec<f32> = dashes.iter().map(|x| *x as f32).collect();
        if d.len() % 2 == 1 {
            d.extend(d.clone());
        }
        p = StrokeDash::new(d, *offset as f32).and_then(|dash| p.dash(&dash, 1.0))?;
    }
    p.stroke(&stroke, 1.0)
}

/// Source-over of `src` (8-bit, opaque) onto a run of premultiplied RGBA8
/// pixels with opacity (0..=255) coverage `cov` times `scale` (times
/// `factors`, a clip's, when given), in pixman's 8-bit arithmetic: each
/// channel becomes (src * m + dst * (255 - m) + 127) / 255. No branch per
/// pixel, so that it vectorises: an opacity of 0 leaves a pixel as it is and
/// 255 replaces it by that formula too. The division is computed as
/// (x + (x >> 8)) >> 8 with x = ... + 128, equal for every value up to
/// 255 * 255, in 16-bit lanes.
fn blend_run(pixels: &mut [u8], src: &[u32; 4], cov: &[f32], scale: f32, factors: Option<&[f32]>) {
    let src = src.map(|c| c as u16);
    let opacity = |c: f32| (c * scale + 0.5).clamp(0.0, 255.0) as u16;
    let mix = |px: &mut [u8], m: u16| {
        let keep = 255 - m;
        for (c, s) in px.iter_mut().zip(&src) {
            let x = s * m + *c as u16 * keep + 128;
            *c = ((x + (x >> 8)) >> 8) as u8;
        }
    };
    let pixels = pixels.chunks_exact_mut(4);
    match factors {
        None => {
            for (px, &c) in pixels.zip(cov) {
                mix(px, opacity(c));
            }
        }
        Some(f) => {
            for ((px, &c), &f) in pixels.zip(cov).zip(f) {
                mix(px, opacity(c * f));
            }
        }
    }
}

/// What a drawing operation fills, worked out once for all bands.
enum Shape {
    /// Axis-aligned boxes composited directly ([`boxes::boxes`]): the
    /// boxes, their colour and the clip's box.
    Boxes(Vec<Box2>, Rgba, Option<Box2>),
    /// A fill's own path, or an operation drawing nothing.
    AsRecorded,
    /// A solid polyline's stroke: polygons summed.
    Summed(polyline::Polygons),
    /// Any other stroke's outline, filled exactly.
    Outline(tiny_skia::Path),
}

impl Shape {
    fn of(op: &Op) -> Shape {
        if let Some((list, color, clip_box)) = boxes::boxes(op) {
            return Shape::Boxes(list, color, clip_box);
        }
        match op {
            Op::Stroke { path, style, .. } if style.dash.is_none() && polyline::drawable(path) => {
                Shape::Summed(polyline::stroke(path, style.width))
            }
            Op::Stroke { path, style, .. } => match stroke_outline(path, style) {
                Some(outline) => Shape::Outline(outline),
                None => Shape::AsRecorded,
            },
            _ => Shape::AsRecorded,
        }
    }
}

/// Below this many pixels a graph is drawn on one thread.
const BANDED_PIXELS: u64 = 200_000;

/// Renders the canvas into straight (not premultiplied) RGBA pixels, as a
/// PNG holds them. A large graph is cut into one band
/// of rows per core (at most 4), each drawing every operation inside its
/// rows on its own thread: the pixels are the same as one pass, since
/// coverage is computed per pixel row and each band owns its rows.
fn render(canvas: &Canvas, width: u32, height: u32) -> Result<Vec<u8>, ApiError> {
    let mut pixmap = Pixmap::new(width, height)
        .ok_or_else(|| ApiError::BadRequest(format!("cannot draw a {width}x{height} graph")))?;
    // one coverage per distinct clip (keyed by its address), shared by the
    // bands
    let mut clips: HashMap<usize, ClipCoverage> = HashMap::new();
    let mut r = Rasterizer::new();
    for op in &canvas.ops {
        if let Op::Fill { clip, .. } | Op::Stroke { clip, .. } = op {
            if !clip.is_empty() {
                if let Entry::Vacant(slot) = clips.entry(std::sync::Arc::as_ptr(clip) as usize) {
                    slot.insert(clip_coverage(clip, &mut r, width, height));
                }
            }
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bands = if (width as u64) * (height as u64) < BANDED_PIXELS {
        1
    } else {
        cores.clamp(1, 4) as u32
    };
    let shapes = if bands > 1 {
        shapes_on_two_threads(&canvas.ops)
    } else {
        canvas.ops.iter().map(Shape::of).collect()
    };
    let shapes = &shapes;
    let rows_per_band = height.div_ceil(bands).max(1);
    let row_bytes = width as usize * 4;
    let data = pixmap.data_mut();
    if bands == 1 {
        draw_band(canvas, shapes, width, height, 0, data, &clips, &mut r);
    } else {
        std::thread::scope(|scope| {
            let mut rest = data;
            let mut y0 = 0;
            let clips = &clips;
            while y0 < height {
                let rows = rows_per_band.min(height - y0);
                let (band, after) = rest.split_at_mut(rows as usize * row_bytes);
                rest = after;
                let first = y0;
                scope.spawn(move || {
                    draw_band(
                        canvas,
                        shapes,
                        width,
                        height,
                        first,
                        band,
                        clips,
                        &mut Rasterizer::new(),
                    )
                });
                y0 += rows;
            }
        });
    }
    Ok(pixmap.take())
}

/// [`Shape::of`] every operation, the later half of the path elements on a
/// second thread (the series' strokes are most of them).
fn shapes_on_two_threads(ops: &[Op]) -> Vec<Shape> {
    let size = |op: &Op| match op {
        Op::Fill { path, .. } | Op::Stroke { path, .. } => path.len(),
        Op::Header(_) => 0,
    };
    let total: usize = ops.iter().map(size).sum();
    let mut seen = 0;
    let split = ops
        .iter()
        .position(|op| {
            seen += size(op);
            seen * 2 >= total
        })
        .map_or(ops.len(), |k| k + 1);
    let (first, second) = ops.split_at(split);
    std::thread::scope(|scope| {
        let later = scope.spawn(|| second.iter().map(Shape::of).collect::<Vec<_>>());
        let mut shapes: Vec<Shape> = first.iter().map(Shape::of).collect();
        shapes.extend(
            later
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
        );
        shapes
    })
}

/// Draws every operation of `canvas` inside the rows of `band` (RGBA8, the
/// canvas's rows from `first` on).
#[allow(clippy::too_many_arguments)]
fn draw_band(
    canvas: &Canvas,
    shapes: &[Shape],
    width: u32,
    height: u32,
    first: u32,
    band: &mut [u8],
    clips: &HashMap<usize, ClipCoverage>,
    r: &mut Rasterizer,
) {
    let row_bytes = width as usize * 4;
    let rows = (band.len() / row_bytes.max(1)) as u32;
    let end = first + rows;
    let band_box = Box2 {
        x0: 0.0,
        y0: first as f64,
        x1: width as f64,
        y1: end as f64,
    };
    for (op, shape) in canvas.ops.iter().zip(shapes) {
        if let Shape::Boxes(list, color, clip_box) = shape {
            for &b in list {
                let b = match *clip_box {
                    Some(c) => b.intersect(c),
                    None => b,
                }
                .intersect(band_box);
                let local = Box2 {
                    y0: b.y0 - first as f64,
                    y1: b.y1 - first as f64,
                    ..b
                };
                boxes::composite(band, width, rows, local, *color);
            }
            continue;
        }
        let (color, clip) = match op {
            Op::Fill { color, clip, .. } | Op::Stroke { color, clip, .. } => (*color, clip),
            Op::Header(_) => continue,
        };
        let clip_cov = if clip.is_empty() {
            None
        } else {
            clips.get(&(std::sync::Arc::as_ptr(clip) as usize))
        };
        // the pixels drawing may touch: the band, or its part in the clip's box
        let area = match clip_cov {
            Some(ClipCoverage::Box(b)) => b.intersect(band_box),
            _ => band_box,
        };
        if area.x0 >= area.x1 || area.y0 >= area.y1 {
            continue;
        }
        r.reset(Window {
            x0: area.x0.max(0.0).floor() as u32,
            y0: area.y0.max(first as f64).floor() as u32,
            x1: (area.x1.ceil() as u32).min(width),
            y1: (area.y1.ceil() as u32).min(end).min(height),
        });
        let summed = matches!(shape, Shape::Summed(_));
        match (op, shape) {
            (Op::Fill { path, .. }, _) => add_path(r, path),
            (_, Shape::Summed(polygons)) => polygons.feed(r),
            (_, Shape::Outline(outline)) => add_skia_path(r, outline),
            _ => continue,
        }
        let a = color.a.clamp(0.0, 1.0) as f32;
        if a <= 0.0 {
            continue;
        }
        let src = [
            (color.r.clamp(0.0, 1.0) * 255.0 + 0.5) as u32,
            (color.g.clamp(0.0, 1.0) * 255.0 + 0.5) as u32,
            (color.b.clamp(0.0, 1.0) * 255.0 + 0.5) as u32,
            255,
        ];
        // a box clip covers the window's columns by their overlap with it
        let column_clip: Vec<f32> = match clip_cov {
            Some(ClipCoverage::Box(b)) => (0..width)
                .map(|x| boxes::overlap(x as i64, b.x0, b.x1) as f32)
                .collect(),
            _ => Vec::new(),
        };
        let w = width as usize;
        let mut paint = |y: u32, x0: u32, cov: &[f32]| {
            let row_alpha = 255.0
                * a
                * match clip_cov {
                    Some(ClipCoverage::Box(b)) => boxes::overlap(y as i64, b.y0, b.y1) as f32,
                    _ => 1.0,
                };
            // the pixel's index in the canvas (masks) and in the band
            let at = y as usize * w + x0 as usize;
            let local = at - first as usize * w;
            let Some(pixels) = band.get_mut(local * 4..(local + cov.len()) * 4) else {
                return;
            };
            // the clip's factor per pixel of the run: none, the box's
            // columns, or the mask's row
            let factors: Option<&[f32]> = match clip_cov {
                None => None,
                Some(ClipCoverage::Box(_)) => column_clip.get(x0 as usize..x0 as usize + cov.len()),
                Some(ClipCoverage::Mask(m)) => m.get(at..at + cov.len()),
            };
            match factors {
                None if clip_cov.is_none() => blend_run(pixels, &src, cov, row_alpha, None),
                None => {}
                Some(f) => blend_run(pixels, &src, cov, row_alpha, Some(f)),
            }
        };
        if summed {
            r.sweep_summed(&mut paint);
        } else {
            r.sweep(&mut paint);
        }
    }
    unpremultiply(band);
}

/// Premultiplied RGBA8 to straight alpha, rounded.
fn unpremultiply(rgba: &mut [u8]) {
    for px in rgba.chunks_exact_mut(4) {
        let a = px[3];
        if a != 255 && a != 0 {
            for c in &mut px[..3] {
                *c = ((*c as u32 * 255 + a as u32 / 2) / a as u32).min(255) as u8;
            }
        }
    }
}

/// The PNG bytes of a rendered canvas: 8-bit RGBA like cairo's, written
/// with the `png` crate's fast (fdeflate) compression and the Up filter.
/// A graph is mostly flat colour, so that costs a few percent in size and
/// saves most of the encoding time (the pixels are the same).
pub fn png(canvas: &Canvas, width: u32, height: u32) -> Result<Vec<u8>, ApiError> {
    let rgba = render(canvas, width, height)?;
    let err = |e: png::EncodingError| ApiError::Storage(format!("encoding the PNG: {e}"));
    let mut out = Vec::with_capacity(rgba.len() / 8);
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    enc.set_filter(png::FilterType::Up);
    let mut writer = enc.write_header().map_err(err)?;
    writer.write_image_data(&rgba).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::canvas::StrokeStyle;
    use super::super::coverage::testing::{coverage_grid, unit_rng};
    use super::*;

    fn coverage(w: u32, h: u32, path: &[El], width: f64, summed: bool) -> Vec<f32> {
        coverage_grid(w, h, summed, |r| {
            if summed {
                polyline::stroke(path, width).feed(r);
            } else if let Some(outline) = stroke_outline(path, &StrokeStyle { width, dash: None }) {
                add_skia_path(r, &outline);
            }
        })
    }

    /// Series-like polylines (x rising, y anywhere: steep swings, hairpin
    /// turns, flat runs) stroked by the summed segment boxes and joints
    /// cover every pixel as the exact fill of the stroke's outline does.
    #[test]
    fn summed_polyline_strokes_match_the_exact_outline() {
        let mut rnd = unit_rng(99);
        let (w, h) = (60u32, 40u32);
        let mut worst = 0.0f32;
        for case in 0..40 {
            let width = [1.0, 1.2, 2.0, 3.0, 0.5, 8.0][case % 6];
            // x steps of 3..9 px keep each segment longer than the line is
            // wide; hairpins come from the big swings of y
            let mut path = vec![El::Move(2.0, 5.0 + rnd() * 30.0)];
            let mut x = 2.0;
            while x < 55.0 {
                x += 3.0 + rnd() * 6.0;
                let y = if rnd() < 0.2 {
                    20.0
                } else {
                    2.0 + rnd() * 36.0
                };
                path.push(El::Line(x, y));
            }
            let fast = coverage(w, h, &path, width, true);
            let exact = coverage(w, h, &path, width, false);
            for (k, (a, b)) in fast.iter().zip(&exact).enumerate() {
                let d = (a - b).abs();
                worst = worst.max(d);
                // lines wider than a segment is long also overlap the
                // segments two away, which the sum counts twice
                let bound = if width <= 3.0 { 0.002 } else { 0.05 };
                assert!(d < bound, "case {case}, pixel {k}: {a} vs {b} for {path:?}");
            }
        }
        eprintln!("worst difference {worst}");
    }
}
