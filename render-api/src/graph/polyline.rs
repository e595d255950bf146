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

/// Closed polygons, recorded once and fed to each band's rasteriser.
#[derive(Default)]
pub struct Polygons {
    points: Vec<(f64, f64)>,
    /// Where each polygon's points end in `points`.
    ends: Vec<usize>,
}

impl Polygons {
    /// Adds every polygon to `r` (as closed subpaths).
    pub fn feed(&self, r: &mut Rasterizer) {
        let mut start = 0;
        for &end in &self.ends {
            if let Some(((x, y), rest)) = self.points[start..end].split_first() {
                r.move_to(*x, *y);
                for &(x, y) in rest {
                    r.line_to(x, y);
                }
                r.close();
            }
            start = end;
        }
    }
}

/// cairo's default miter limit: a joint whose miter would be longer than
/// 10 line widths is bevelled.
const MITER_LIMIT: f64 = 10.0;

/// Whether [`stroke`] draws `path`: straight segments only (curves and
/// closed subpaths keep the exact outline).
pub fn drawable(path: &[El]) -> bool {
    path.iter()
        .all(|el| matches!(el, El::Move(..) | El::Line(..)))
}

/// The stroke of `path` (of `drawable` elements) with `width`, as
/// polygons to sum.
pub fn stroke(path: &[El], width: f64) -> Polygons {
    let mut out = Polygons::default();
    let half = width / 2.0;
    if half.is_nan() || half <= 0.0 {
        return out;
    }
    let mut points: Vec<(f64, f64)> = Vec::new();
    for el in path {
        match *el {
            El::Move(x, y) => {
                subpath(&mut out, &points, half);
                points.clear();
                points.push((x, y));
            }
            // zero-length pieces draw nothing with butt caps and do not
            // turn the line
            El::Line(x, y) if points.last() != Some(&(x, y)) && x.is_finite() && y.is_finite() => {
                points.push((x, y));
            }
            _ => {}
        }
    }
    subpath(&mut out, &points, half);
    out
}

/// One segment of a subpath: its unit direction, length and normal (half
/// the line width long, to the left of the direction on screen).
#[derive(Clone, Copy)]
struct Segment {
    from: (f64, f64),
    to: (f64, f64),
    d: (f64, f64),
    len: f64,
    n: (f64, f64),
}

impl Segment {
    fn new(from: (f64, f64), to: (f64, f64), half: f64) -> Segment {
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let len = (dx * dx + dy * dy).sqrt();
        let d = (dx / len, dy / len);
        Segment {
            from,
            to,
            d,
            len,
            n: (-d.1 * half, d.0 * half),
        }
    }

    /// Its butt-capped box.
    fn rect(&self) -> [(f64, f64); 4] {
        let (p, q, n) = (self.from, self.to, self.n);
        [
            (p.0 + n.0, p.1 + n.1),
            (q.0 + n.0, q.1 + n.1),
            (q.0 - n.0, q.1 - n.1),
            (p.0 - n.0, p.1 - n.1),
        ]
    }
}

/// How the two sides of the stroke pass a joint, where the offset lines
/// of the two segments meet inside both: the points on the left (normal)
/// side and on the right side.
struct Pass {
    left: [(f64, f64); 2],
    left_len: usize,
    right: [(f64, f64); 2],
    right_len: usize,
    /// How much of each neighbouring segment's left and right side the
    /// joint takes (the inner side's, up to where the sides cross).
    cut: (f64, f64),
}

/// The joint at `a.to == b.from` when the stroke's outline can pass it as
/// two offset polylines (the inner sides cross within both segments);
/// `None` for a turn too sharp for its segments (a hairpin), drawn as two
/// boxes, a wedge and their overlap taken off. [`subpath`] also drops the
/// joints whose cuts would fold a segment's side over itself.
fn pass(a: &Segment, b: &Segment) -> Option<Pass> {
    let p = a.to;
    let cross = a.d.0 * b.d.1 - a.d.1 * b.d.0;
    let dot = a.d.0 * b.d.0 + a.d.1 * b.d.1;
    if cross == 0.0 && dot > 0.0 {
        let at = |n: (f64, f64), s: f64| (p.0 + s * n.0, p.1 + s * n.1);
        return Some(Pass {
            left: [at(a.n, 1.0); 2],
            left_len: 1,
            right: [at(a.n, -1.0); 2],
            right_len: 1,
            cut: (0.0, 0.0),
        });
    }
    if 1.0 + dot < 1e-9 {
        return None;
    }
    // +1: the outer side is the normal's (left); -1: the right
    let side = if cross < 0.0 { 1.0 } else { -1.0 };
    let k = 1.0 / (1.0 + dot);
    let bisect = ((a.n.0 + b.n.0) * k, (a.n.1 + b.n.1) * k);
    let inner = (p.0 - side * bisect.0, p.1 - side * bisect.1);
    // how far back along `a` (and on along `b`) the inner sides meet
    let reach = ((p.0 - inner.0) * a.d.0 + (p.1 - inner.1) * a.d.1).abs();
    if !reach.is_finite() || reach > a.len.min(b.len) {
        return None;
    }
    let outer_a = (p.0 + side * a.n.0, p.1 + side * a.n.1);
    let outer_b = (p.0 + side * b.n.0, p.1 + side * b.n.1);
    let (outer, outer_len) = if 2.0 <= MITER_LIMIT * MITER_LIMIT * (1.0 + dot) {
        let tip = (p.0 + side * bisect.0, p.1 + side * bisect.1);
        ([tip, tip], 1)
    } else {
        ([outer_a, outer_b], 2)
    };
    Some(if side > 0.0 {
        Pass {
            left: outer,
            left_len: outer_len,
            right: [inner; 2],
            right_len: 1,
            cut: (0.0, reach),
        }
    } else {
        Pass {
            left: [inner; 2],
            left_len: 1,
            right: outer,
            right_len: outer_len,
            cut: (reach, 0.0),
        }
    })
}

/// Adds the stroke of one subpath: runs of segments whose joints [`pass`]
/// are one polygon each (both offset polylines and the butt caps), and the
/// joints between runs are a wedge plus the boxes' overlap taken off.
fn subpath(out: &mut Polygons, points: &[(f64, f64)], half: f64) {
    if points.len() < 2 {
        return;
    }
    let segments: Vec<Segment> = points
        .windows(2)
        .map(|w| Segment::new(w[0], w[1], half))
        .collect();
    let mut left: Vec<(f64, f64)> = Vec::new();
    let mut right: Vec<(f64, f64)> = Vec::new();
    let start = |s: &Segment, left: &mut Vec<(f64, f64)>, right: &mut Vec<(f64, f64)>| {
        left.clear();
        right.clear();
        left.push((s.from.0 + s.n.0, s.from.1 + s.n.1));
        right.push((s.from.0 - s.n.0, s.from.1 - s.n.1));
    };
    // joint k sits between segments k - 1 and k; a segment's side must
    // keep some length after the cuts of the joints at both its ends
    let mut passes: Vec<Option<Pass>> = (0..=segments.len())
        .map(|k| match k {
            0 => None,
            k if k == segments.len() => None,
            k => pass(&segments[k - 1], &segments[k]),
        })
        .collect();
    let cut = |p: &Option<Pass>| p.as_ref().map_or((0.0, 0.0), |p| p.cut);
    loop {
        let mut folded = false;
        for (k, s) in segments.iter().enumerate() {
            let (head, tail) = (cut(&passes[k]), cut(&passes[k + 1]));
            if head.0 + tail.0 > s.len || head.1 + tail.1 > s.len {
                // give up the joint with the longer cut
                let at = if head.0.max(head.1) >= tail.0.max(tail.1) {
                    k
                } else {
                    k + 1
                };
                passes[at] = None;
                folded = true;
            }
        }
        if !folded {
            break;
        }
    }
    start(&segments[0], &mut left, &mut right);
    for k in 1..segments.len() {
        let (a, b) = (&segments[k - 1], &segments[k]);
        match passes[k].take() {
            Some(p) => {
                left.extend_from_slice(&p.left[..p.left_len]);
                right.extend_from_slice(&p.right[..p.right_len]);
            }
            None => {
                finish_run(out, a, &mut left, &mut right);
                joint(out, a.to, a.d, b.d, half);
                let overlap = intersection(&a.rect(), &b.rect());
                if overlap.len() >= 3 {
                    polygon(out, &overlap, -1.0);
                }
                start(b, &mut left, &mut right);
            }
        }
    }
    if let Some(last) = segments.last() {
        finish_run(out, last, &mut left, &mut right);
    }
}

/// Closes a run at the end of `last` (a butt cap) and adds it.
fn finish_run(
    out: &mut Polygons,
    last: &Segment,
    left: &mut Vec<(f64, f64)>,
    right: &mut Vec<(f64, f64)>,
) {
    left.push((last.to.0 + last.n.0, last.to.1 + last.n.1));
    right.push((last.to.0 - last.n.0, last.to.1 - last.n.1));
    left.extend(right.iter().rev());
    polygon(out, left, 1.0);
}

/// The wedge filling the outer side of the joint at `p` between unit
/// directions `d0` (in) and `d1` (out): a miter, or a bevel where the
/// miter would pass cairo's limit (cairo's test `2 <= limit² (1 + d0·d1)`).
fn joint(r: &mut Polygons, p: (f64, f64), d0: (f64, f64), d1: (f64, f64), half: f64) {
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
fn polygon(r: &mut Polygons, pts: &[(f64, f64)], sign: f64) {
    let twice_area = twice_area(pts);
    if twice_area == 0.0 || !twice_area.is_finite() {
        return;
    }
    if twice_area * sign > 0.0 {
        r.points.extend_from_slice(pts);
    } else {
        r.points.extend(pts.iter().rev());
    }
    r.ends.push(r.points.len());
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
    use super::super::coverage::testing::coverage_grid;
    use super::*;

    fn summed(w: u32, h: u32, path: &[El], width: f64) -> Vec<f32> {
        coverage_grid(w, h, true, |r| stroke(path, width).feed(r))
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
