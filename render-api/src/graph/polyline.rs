//! Solid strokes of straight polylines (every series line, grid and axis
//! line) as cairo draws them, butt caps and miter joins with its limit 10,
//! without building the stroke's outline: each segment is its own box and
//! each joint its own wedge (the miter, or the bevel past the limit), all
//! wound the same way and summed by [`Rasterizer::sweep_summed`]. A series
//! of 700 points swinging over the whole plot height crosses each pixel row
//! ~170 times; filling the outline exactly (joins overlapping, inner joins
//! folding back) cost ~5 ms a series, the sum costs a tenth of it.

use super::canvas::El;
use super::coverage::Rasterizer;

/// cairo's default miter limit: a joint whose miter would be longer than
/// 10 line widths is bevelled.
const MITER_LIMIT: f64 = 10.0;

/// Whether [`add_stroke`] draws `path`: straight segments only (curves and
/// closed subpaths keep the exact outline).
pub fn drawable(path: &[El]) -> bool {
    path.iter()
        .all(|el| matches!(el, El::Move(..) | El::Line(..)))
}

/// Adds the stroke of `path` (of `drawable` elements) with `width` to `r`.
pub fn add_stroke(r: &mut Rasterizer, path: &[El], width: f64) {
    let half = width / 2.0;
    if half.is_nan() || half <= 0.0 {
        return;
    }
    let mut sub = Subpath::default();
    for el in path {
        match *el {
            El::Move(x, y) => {
                sub = Subpath::default();
                sub.last = Some((x, y));
            }
            El::Line(x, y) => sub.line_to(r, half, x, y),
            _ => {}
        }
    }
}

/// The walk along one subpath: its current point and the direction of the
/// last segment of non-zero length (the joint with the next one).
#[derive(Default)]
struct Subpath {
    last: Option<(f64, f64)>,
    heading: Option<(f64, f64)>,
    /// The last segment's box: the next one's overlap with it is taken
    /// off again, so that their union is counted once.
    previous: Option<[(f64, f64); 4]>,
}

impl Subpath {
    fn line_to(&mut self, r: &mut Rasterizer, half: f64, x: f64, y: f64) {
        let Some((px, py)) = self.last else {
            self.last = Some((x, y));
            return;
        };
        let (dx, dy) = (x - px, y - py);
        let len = dx.hypot(dy);
        if !len.is_finite() {
            return;
        }
        if len == 0.0 {
            // zero-length pieces draw nothing with butt caps and do not
            // turn the line
            return;
        }
        let d = (dx / len, dy / len);
        let n = (-d.1 * half, d.0 * half);
        if let Some(d0) = self.heading {
            joint(r, (px, py), d0, d, half);
        }
        let segment = [
            (px + n.0, py + n.1),
            (x + n.0, y + n.1),
            (x - n.0, y - n.1),
            (px - n.0, py - n.1),
        ];
        polygon(r, &segment, 1.0);
        if let Some(previous) = &self.previous {
            let overlap = intersection(previous, &segment);
            if overlap.len() >= 3 {
                polygon(r, &overlap, -1.0);
            }
        }
        self.previous = Some(segment);
        self.heading = Some(d);
        self.last = Some((x, y));
    }
}

/// The wedge filling the outer side of the joint at `p` between unit
/// directions `d0` (in) and `d1` (out): a miter, or a bevel where the
/// miter would pass cairo's limit (cairo's test `2 <= limit² (1 + d0·d1)`).
fn joint(r: &mut Rasterizer, p: (f64, f64), d0: (f64, f64), d1: (f64, f64), half: f64) {
    let cross = d0.0 * d1.1 - d0.1 * d1.0;
    let dot = d0.0 * d1.0 + d0.1 * d1.1;
    if cross == 0.0 && dot > 0.0 {
        return;
    }
    // the outer side: a turn to the left (negative cross with y down)
    // opens the right-hand side, the normal's
    let side = if cross < 0.0 { 1.0 } else { -1.0 };
    let n0 = (-d0.1 * half * side, d0.0 * half * side);
    let n1 = (-d1.1 * half * side, d1.0 * half * side);
    let a = (p.0 + n0.0, p.1 + n0.1);
    let b = (p.0 + n1.0, p.1 + n1.1);
    if 2.0 <= MITER_LIMIT * MITER_LIMIT * (1.0 + dot) {
        let k = 1.0 / (1.0 + dot);
        let tip = (p.0 + (n0.0 + n1.0) * k, p.1 + (n0.1 + n1.1) * k);
        polygon(r, &[p, a, tip, b], 1.0);
    } else {
        polygon(r, &[p, a, b], 1.0);
    }
}

/// Adds a closed polygon that counts `sign` (+1 adds its area, -1 takes
/// it off): wound clockwise on screen (positive shoelace area with y down)
/// for +1, the other way for -1, whatever the order of `pts`.
fn polygon(r: &mut Rasterizer, pts: &[(f64, f64)], sign: f64) {
    let twice_area = twice_area(pts);
    if twice_area == 0.0 || !twice_area.is_finite() {
        return;
    }
    let mut add = |(x, y): (f64, f64), first: bool| {
        if first {
            r.move_to(x, y)
        } else {
            r.line_to(x, y)
        }
    };
    if twice_area * sign > 0.0 {
        for (k, p) in pts.iter().enumerate() {
            add(*p, k == 0);
        }
    } else {
        for (k, p) in pts.iter().rev().enumerate() {
            add(*p, k == 0);
        }
    }
    r.close();
}

fn twice_area(pts: &[(f64, f64)]) -> f64 {
    let mut sum = 0.0;
    for (k, p) in pts.iter().enumerate() {
        let q = pts[(k + 1) % pts.len()];
        sum += p.0 * q.1 - q.0 * p.1;
    }
    sum
}

/// The intersection of two convex quadrilaterals (Sutherland-Hodgman: `a`
/// cut by each side of `b`).
fn intersection(a: &[(f64, f64); 4], b: &[(f64, f64); 4]) -> Vec<(f64, f64)> {
    let orientation = twice_area(b).signum();
    let mut poly: Vec<(f64, f64)> = a.to_vec();
    let mut next = Vec::with_capacity(8);
    for k in 0..4 {
        let (p, q) = (b[k], b[(k + 1) % 4]);
        let inside =
            |v: (f64, f64)| orientation * ((q.0 - p.0) * (v.1 - p.1) - (q.1 - p.1) * (v.0 - p.0));
        next.clear();
        for i in 0..poly.len() {
            let (u, v) = (poly[i], poly[(i + 1) % poly.len()]);
            let (su, sv) = (inside(u), inside(v));
            if su >= 0.0 {
                next.push(u);
            }
            if (su >= 0.0) != (sv >= 0.0) {
                let t = su / (su - sv);
                next.push((u.0 + (v.0 - u.0) * t, u.1 + (v.1 - u.1) * t));
            }
        }
        std::mem::swap(&mut poly, &mut next);
        if poly.len() < 3 {
            return Vec::new();
        }
    }
    poly
}

#[cfg(test)]
mod tests {
    use super::super::coverage::Window;
    use super::*;

    fn summed(w: u32, h: u32, path: &[El], width: f64) -> Vec<f32> {
        let mut r = Rasterizer::new();
        r.reset(Window {
            x0: 0,
            y0: 0,
            x1: w,
            y1: h,
        });
        add_stroke(&mut r, path, width);
        let mut out = vec![0.0; (w * h) as usize];
        r.sweep_summed(|y, x, row| {
            let at = (y * w + x) as usize;
            out[at..at + row.len()].copy_from_slice(row);
        });
        out
    }

    #[test]
    fn a_horizontal_line_covers_its_rows_by_area() {
        // 1.2 wide around y = 2.5: rows 1 and 3 get 0.1, row 2 all of it
        let c = summed(6, 5, &[El::Move(1.0, 2.5), El::Line(5.0, 2.5)], 1.2);
        assert!((c[2 * 6 + 2] - 1.0).abs() < 1e-5, "{c:?}");
        assert!((c[6 + 2] - 0.1).abs() < 1e-5);
        assert!((c[3 * 6 + 3] - 0.1).abs() < 1e-5);
        assert!(c[2 * 6].abs() < 1e-6 && c[2 * 6 + 5].abs() < 1e-6);
    }

    #[test]
    fn a_right_angle_gets_its_miter_corner() {
        // right then down: the outer corner (top right) is filled square
        let c = summed(
            8,
            8,
            &[El::Move(1.0, 2.0), El::Line(5.0, 2.0), El::Line(5.0, 7.0)],
            2.0,
        );
        // pixel (5, 1) is the miter's corner square, (4, 1) the segment's
        assert!((c[8 + 5] - 1.0).abs() < 1e-5, "{c:?}");
        assert!((c[8 + 4] - 1.0).abs() < 1e-5);
        // nothing beyond the miter
        assert!(c[8 + 6].abs() < 1e-6 && c[6].abs() < 1e-6);
    }
}
