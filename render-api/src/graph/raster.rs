//! Replays a [`Canvas`] display list onto a tiny-skia pixmap and encodes
//! the PNG (cairo image surface: anti-aliased fills and strokes, non-zero
//! winding, butt caps, miter joins with cairo's limit 10).

use std::collections::HashMap;

use tiny_skia::{
    Color, FillRule, LineCap, LineJoin, Mask, Paint, PathBuilder, Pixmap, Stroke, StrokeDash,
    Transform,
};

use crate::error::ApiError;

use super::boxes::{self, Box2};
use super::canvas::{Canvas, Clip, El, Op};
use super::colors::Rgba;

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

fn paint(c: Rgba) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color(
        Color::from_rgba(
            c.r.clamp(0.0, 1.0) as f32,
            c.g.clamp(0.0, 1.0) as f32,
            c.b.clamp(0.0, 1.0) as f32,
            c.a.clamp(0.0, 1.0) as f32,
        )
        .unwrap_or(Color::BLACK),
    );
    p.anti_alias = true;
    p
}

/// The intersection of the clip's paths as a coverage mask.
fn clip_mask(clip: &Clip, width: u32, height: u32) -> Option<Mask> {
    let mut mask = Mask::new(width, height)?;
    let mut first = true;
    for p in clip.iter() {
        let Some(path) = to_path(p) else {
            // an empty clip path clips everything away
            mask.clear();
            return Some(mask);
        };
        if first {
            mask.fill_path(&path, FillRule::Winding, true, Transform::identity());
            first = false;
        } else {
            mask.intersect_path(&path, FillRule::Winding, true, Transform::identity());
        }
    }
    Some(mask)
}

/// Renders the canvas into RGBA pixels.
pub fn render(canvas: &Canvas, width: u32, height: u32) -> Result<Pixmap, ApiError> {
    let mut pixmap = Pixmap::new(width, height)
        .ok_or_else(|| ApiError::BadRequest(format!("cannot draw a {width}x{height} graph")))?;
    // one mask per distinct clip, built before drawing so that ops borrow it
    let mut masks: HashMap<*const Vec<Vec<El>>, Option<Mask>> = HashMap::new();
    for op in &canvas.ops {
        let (Op::Fill { clip, .. } | Op::Stroke { clip, .. }) = op else {
            continue;
        };
        if clip.is_empty() {
            continue;
        }
        masks
            .entry(std::rc::Rc::as_ptr(clip))
            .or_insert_with(|| clip_mask(clip, width, height));
    }
    let mask_for = |clip: &Clip| -> Option<Option<&Mask>> {
        if clip.is_empty() {
            return Some(None);
        }
        masks
            .get(&std::rc::Rc::as_ptr(clip))
            .and_then(|m| m.as_ref())
            .map(Some)
    };
    for op in &canvas.ops {
        if let Some((list, color, clip_box)) = boxes::boxes(op) {
            for b in list {
                let b = match clip_box {
                    Some(c) => Box2 {
                        x0: b.x0.max(c.x0),
                        y0: b.y0.max(c.y0),
                        x1: b.x1.min(c.x1),
                        y1: b.y1.min(c.y1),
                    },
                    None => b,
                };
                boxes::composite(pixmap.data_mut(), width, height, b, color);
            }
            continue;
        }
        match op {
            Op::Fill { path, color, clip } => {
                let (Some(p), Some(mask)) = (to_path(path), mask_for(clip)) else {
                    continue;
                };
                pixmap.fill_path(
                    &p,
                    &paint(*color),
                    FillRule::Winding,
                    Transform::identity(),
                    mask,
                );
            }
            Op::Stroke {
                path,
                color,
                style,
                clip,
            } => {
                let (Some(p), Some(mask)) = (to_path(path), mask_for(clip)) else {
                    continue;
                };
                let stroke = Stroke {
                    width: style.width as f32,
                    line_cap: LineCap::Butt,
                    line_join: LineJoin::Miter,
                    miter_limit: 10.0,
                    dash: None,
                };
                let mut p = p;
                if let Some((dashes, offset)) = &style.dash {
                    let mut d: Vec<f32> = dashes.iter().map(|x| *x as f32).collect();
                    if d.len() % 2 == 1 {
                        d.extend(d.clone());
                    }
                    match StrokeDash::new(d, *offset as f32).and_then(|dash| p.dash(&dash, 1.0)) {
                        Some(dashed) => p = dashed,
                        None => continue,
                    }
                }
                // cairo covers thin lines by their area; tiny-skia's own
                // stroking draws widths below 1 as hairlines, which spreads
                // them differently, so outline the stroke and fill that
                let Some(outline) = p.stroke(&stroke, 1.0) else {
                    continue;
                };
                pixmap.fill_path(
                    &outline,
                    &paint(*color),
                    FillRule::Winding,
                    Transform::identity(),
                    mask,
                );
            }
            Op::Header(_) => {}
        }
    }
    Ok(pixmap)
}

/// The PNG bytes of a rendered canvas.
pub fn png(canvas: &Canvas, width: u32, height: u32) -> Result<Vec<u8>, ApiError> {
    render(canvas, width, height)?
        .encode_png()
        .map_err(|e| ApiError::Storage(format!("encoding the PNG: {e}")))
}
