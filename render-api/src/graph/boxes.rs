//! Exact coverage for the axis-aligned shapes graphs are full of (grid
//! lines, borders, legend boxes, event lines): cairo/pixman cover such
//! boxes by their exact area, so a 0.4 px grid line darkens one pixel row by
//! 40%. tiny-skia's 4x4 supersampling would round that to 50% or spread it;
//! these boxes are composited directly instead.

use super::canvas::{Clip, El, Op};
use super::colors::Rgba;

/// An axis-aligned box `[x0, x1) x [y0, y1)` in device pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Box2 {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Box2 {
    pub fn intersect(self, o: Box2) -> Box2 {
        Box2 {
            x0: self.x0.max(o.x0),
            y0: self.y0.max(o.y0),
            x1: self.x1.min(o.x1),
            y1: self.y1.min(o.y1),
        }
    }
}

/// The box a closed 4-corner axis-aligned rectangle subpath encloses.
fn rect_of(path: &[El]) -> Option<Box2> {
    let mut pts = Vec::with_capacity(4);
    for (i, el) in path.iter().enumerate() {
        match *el {
            El::Move(x, y) if i == 0 => pts.push((x, y)),
            El::Line(x, y) if i > 0 => pts.push((x, y)),
            El::Close if i == path.len() - 1 => {}
            _ => return None,
        }
    }
    if pts.len() != 4 {
        return None;
    }
    let (xs, ys): (Vec<f64>, Vec<f64>) = pts.iter().copied().unzip();
    let (x0, x1) = (
        xs.iter().copied().fold(f64::MAX, f64::min),
        xs.iter().copied().fold(f64::MIN, f64::max),
    );
    let (y0, y1) = (
        ys.iter().copied().fold(f64::MAX, f64::min),
        ys.iter().copied().fold(f64::MIN, f64::max),
    );
    // consecutive corners differ in exactly one coordinate
    let aligned = (0..4).all(|i| {
        let (a, b) = (pts[i], pts[(i + 1) % 4]);
        (a.0 == b.0) != (a.1 == b.1)
    });
    aligned.then_some(Box2 { x0, y0, x1, y1 })
}

/// The clip as one box (`None` = no clip), or `Err` when it is not a box.
pub fn clip_box(clip: &Clip) -> Result<Option<Box2>, ()> {
    match clip.as_slice() {
        [] => Ok(None),
        [one] => rect_of(one).map(Some).ok_or(()),
        _ => Err(()),
    }
}

/// The boxes `op` covers when it is made of axis-aligned boxes only: a
/// filled rectangle, or a butt-capped undashed stroke of horizontal and
/// vertical single segments. `None` sends it to the path rasteriser.
pub fn boxes(op: &Op) -> Option<(Vec<Box2>, Rgba, Option<Box2>)> {
    match op {
        Op::Fill { path, color, clip } => {
            let b = rect_of(path)?;
            Some((vec![b], *color, clip_box(clip).ok()?))
        }
        Op::Stroke {
            path,
            color,
            style,
            clip,
        } => {
            if style.dash.is_some() || path.len() % 2 != 0 {
                return None;
            }
            let h = style.width / 2.0;
            let mut out = Vec::with_capacity(path.len() / 2);
            for pair in path.chunks(2) {
                let (El::Move(ax, ay), El::Line(bx, by)) = (pair[0], pair[1]) else {
                    return None;
                };
                if ay == by && ax != bx {
                    out.push(Box2 {
                        x0: ax.min(bx),
                        x1: ax.max(bx),
                        y0: ay - h,
                        y1: ay + h,
                    });
                } else if ax == bx && ay != by {
                    out.push(Box2 {
                        x0: ax - h,
                        x1: ax + h,
                        y0: ay.min(by),
                        y1: ay.max(by),
                    });
                } else {
                    return None;
                }
            }
            Some((out, *color, clip_box(clip).ok()?))
        }
        Op::Header(_) => None,
    }
}

/// How much of pixel `[p, p + 1)` lies in `[a, b)`.
pub fn overlap(p: i64, a: f64, b: f64) -> f64 {
    ((p as f64 + 1.0).min(b) - (p as f64).max(a)).max(0.0)
}

/// Source-over of `color` through the exact coverage of `b` onto
/// premultiplied RGBA8 `pixels` of `width` x `height`.
pub fn composite(pixels: &mut [u8], width: u32, height: u32, b: Box2, color: Rgba) {
    let b = b.intersect(Box2 {
        x0: 0.0,
        y0: 0.0,
        x1: width as f64,
        y1: height as f64,
    });
    if b.x0 >= b.x1 || b.y0 >= b.y1 {
        return;
    }
    let a = color.a.clamp(0.0, 1.0);
    let src = [
        color.r.clamp(0.0, 1.0) * 255.0,
        color.g.clamp(0.0, 1.0) * 255.0,
        color.b.clamp(0.0, 1.0) * 255.0,
        255.0,
    ];
    // opaque pixels take the colour itself (the background, solid boxes)
    let solid = src.map(|c| (c + 0.5) as u8);
    let (px0, px1) = (b.x0 as i64, ceil(b.x1));
    let (py0, py1) = (b.y0 as i64, ceil(b.y1));
    // the columns every row covers whole
    let (full0, full1) = (ceil(b.x0), b.x1 as i64);
    for y in py0..py1 {
        let cy = overlap(y, b.y0, b.y1);
        let row = y as usize * width as usize;
        let mut x = px0;
        while x < px1 {
            let alpha = a * cy * overlap(x, b.x0, b.x1);
            if alpha >= 1.0 && x == full0 && full0 < full1 {
                // a fully covered run of an opaque box (the background,
                // the plot area): a plain fill
                if let Some(run) =
                    pixels.get_mut((row + x as usize) * 4..(row + full1 as usize) * 4)
                {
                    for px in run.chunks_exact_mut(4) {
                        px.copy_from_slice(&solid);
                    }
                }
                x = full1;
                continue;
            }
            let i = (row + x as usize) * 4;
            if let Some(px) = pixels.get_mut(i..i + 4) {
                blend_pixel(px, alpha, &src, &solid);
            }
            x += 1;
        }
    }
}

/// One pixel of [`composite`]: `alpha` of the colour over it.
fn blend_pixel(px: &mut [u8], alpha: f64, src: &[f64; 4], solid: &[u8; 4]) {
    if alpha <= 0.0 {
        return;
    }
    if alpha >= 1.0 {
        px.copy_from_slice(solid);
        return;
    }
    for (c, s) in px.iter_mut().zip(src) {
        // `as` truncates: +0.5 rounds these non-negative values
        *c = (s * alpha + *c as f64 * (1.0 - alpha) + 0.5).min(255.0) as u8;
    }
}

/// `x.ceil()` for the non-negative coordinates here, without a libm call.
fn ceil(x: f64) -> i64 {
    let t = x as i64;
    if (t as f64) < x {
        t + 1
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thin_line_covers_its_area() {
        let mut px = vec![255u8; 4 * 4 * 4];
        let red = Rgba {
            r: 1.0,
            g: 0.0,
            b: 0.0,
            a: 1.0,
        };
        composite(
            &mut px,
            4,
            4,
            Box2 {
                x0: 0.0,
                x1: 4.0,
                y0: 1.3,
                y1: 1.7,
            },
            red,
        );
        // row 1 is 40% red, rows 0 and 2 untouched
        assert_eq!(&px[16..20], &[255, 153, 153, 255]);
        assert_eq!(&px[0..4], &[255, 255, 255, 255]);
        assert_eq!(&px[32..36], &[255, 255, 255, 255]);
    }
}
