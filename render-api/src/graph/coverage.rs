//! Anti-aliased polygon scan conversion with *exact* area coverage and the
//! non-zero winding rule, as cairo's image backend computes it (pixman and
//! cairo's "tor" converter cover each pixel by the area of the shape inside
//! it). tiny-skia's 4x4 supersampling differed from cairo by more than 24
//! levels on the edges of steep lines, and filled the long thin outlines of
//! stroked polylines slowly.
//!
//! Per pixel row, each edge crossing the row is a *piece*. Pieces whose
//! x-extents overlap (or touch) form a *cluster*; between clusters the
//! winding number is constant over the whole row height. A cluster of one
//! edge running through the whole row is a plain boundary: when it switches
//! the winding between zero and non-zero, its signed area goes into the
//! row's accumulation cells (`area` for the pixels it passes, `cover` for
//! everything right of it; coverage is `area + prefix sum of cover`, as
//! font rasterisers do). Other clusters (vertices, joins, crossings) are cut
//! into horizontal bands at every piece end and crossing, so that inside a
//! band no piece starts, ends or crosses another; each band is then walked
//! left to right with the winding number and only the pieces switching
//! between zero and non-zero add their area. That is exact for overlapping
//! stroke outlines too, where summing all signed areas would count the
//! overlap of a join twice. Clusters of many pieces (long runs of short
//! edges inside one row) use 16 equal bands instead, sampling the winding
//! in the middle of each: bounded work, cairo's own approach.

/// A path segment after flattening, oriented top to bottom.
#[derive(Clone, Copy, Debug)]
struct Edge {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
    /// Change of x per unit of y (0 for horizontal edges).
    dxdy: f64,
    /// +1 when the path ran downwards, -1 upwards, 0 horizontal.
    dir: i32,
}

/// An edge's part inside the current pixel row.
#[derive(Clone, Copy, Debug)]
struct Piece {
    edge: u32,
    xa: f64,
    ya: f64,
    xb: f64,
    yb: f64,
    lo: f64,
    hi: f64,
    dir: i32,
}

impl Piece {
    fn x_at(&self, y: f64) -> f64 {
        if self.yb <= self.ya || y <= self.ya {
            self.xa
        } else if y >= self.yb {
            self.xb
        } else {
            self.xa + (y - self.ya) * (self.xb - self.xa) / (self.yb - self.ya)
        }
    }
}

/// Above this many pieces a cluster is sampled in equal bands.
const EXACT_CLUSTER: usize = 16;
/// Bands of a sampled cluster.
const SAMPLED_BANDS: usize = 16;
/// Curves are flattened to chords within this distance (pixels); cairo's
/// default tolerance is 0.1.
const TOLERANCE: f64 = 0.05;

/// The area a pixel window `[x0, x1) x [y0, y1)` (whole pixels) limits
/// drawing to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

/// A reusable scan converter: add closed polygons, then [`Rasterizer::sweep`].
#[derive(Default)]
pub struct Rasterizer {
    edges: Vec<Edge>,
    active: Vec<u32>,
    pieces: Vec<Piece>,
    area: Vec<f64>,
    cover: Vec<f64>,
    row: Vec<f32>,
    /// [`Rasterizer::sweep_summed`]'s cells, a row of `width + 2` per
    /// window row, and per row a bit for each [`BLOCK`] of cells touched.
    cells: Vec<f32>,
    marks: Vec<u64>,
    /// The row's runs of touched columns, `[start, end]`.
    spans: Vec<(usize, usize)>,
    events: Vec<f64>,
    band: Vec<(f64, f64, i32)>,
    window: Option<Window>,
    start: Option<(f64, f64)>,
    last: Option<(f64, f64)>,
}

impl Rasterizer {
    pub fn new() -> Rasterizer {
        Rasterizer::default()
    }

    /// Starts a new shape limited to `window`.
    pub fn reset(&mut self, window: Window) {
        self.edges.clear();
        self.window = Some(window);
        self.start = None;
        self.last = None;
    }

    /// Starts a subpath (closing the previous one, as a fill does).
    pub fn move_to(&mut self, x: f64, y: f64) {
        self.close();
        self.start = Some((x, y));
        self.last = Some((x, y));
    }

    pub fn line_to(&mut self, x: f64, y: f64) {
        match self.last {
            Some((lx, ly)) => self.edge(lx, ly, x, y),
            None => self.start = Some((x, y)),
        }
        self.last = Some((x, y));
    }

    pub fn quad_to(&mut self, cx: f64, cy: f64, x: f64, y: f64) {
        let Some((x0, y0)) = self.last else {
            self.move_to(x, y);
            return;
        };
        // Wang's formula for the number of chords within TOLERANCE
        let d = ((x0 - 2.0 * cx + x).hypot(y0 - 2.0 * cy + y) * 0.25 / TOLERANCE).sqrt();
        let n = (d.ceil() as usize).clamp(1, 256);
        for i in 1..=n {
            let t = i as f64 / n as f64;
            let u = 1.0 - t;
            self.line_to(
                u * u * x0 + 2.0 * u * t * cx + t * t * x,
                u * u * y0 + 2.0 * u * t * cy + t * t * y,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn cubic_to(&mut self, ax: f64, ay: f64, bx: f64, by: f64, x: f64, y: f64) {
        let Some((x0, y0)) = self.last else {
            self.move_to(x, y);
            return;
        };
        let m = (x0 - 2.0 * ax + bx)
            .hypot(y0 - 2.0 * ay + by)
            .max((ax - 2.0 * bx + x).hypot(ay - 2.0 * by + y));
        let n = ((m * 0.75 / TOLERANCE).sqrt().ceil() as usize).clamp(1, 256);
        for i in 1..=n {
            let t = i as f64 / n as f64;
            let u = 1.0 - t;
            let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
            self.line_to(
                a * x0 + b * ax + c * bx + d * x,
                a * y0 + b * ay + c * by + d * y,
            );
        }
    }

    /// Closes the current subpath with a line back to its start.
    pub fn close(&mut self) {
        if let (Some((sx, sy)), Some((lx, ly))) = (self.start, self.last) {
            if (sx, sy) != (lx, ly) {
                self.edge(lx, ly, sx, sy);
            }
            self.last = Some((sx, sy));
        }
    }

    /// Adds one polygon edge, clipped to the window: parts above or below
    /// it are dropped, parts left or right of it are moved onto its side
    /// (which keeps the winding number of everything inside).
    fn edge(&mut self, x0: f64, y0: f64, x1: f64, y1: f64) {
        let Some(w) = self.window else { return };
        if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
            return;
        }
        let (dir, mut a, mut b) = match y0.partial_cmp(&y1) {
            Some(std::cmp::Ordering::Less) => (1, (x0, y0), (x1, y1)),
            Some(std::cmp::Ordering::Greater) => (-1, (x1, y1), (x0, y0)),
            _ => (0, (x0.min(x1), y0), (x0.max(x1), y0)),
        };
        let (top, bottom) = (w.y0 as f64, w.y1 as f64);
        if b.1 < top || a.1 > bottom || (dir != 0 && (b.1 == top || a.1 == bottom)) {
            return;
        }
        if dir != 0 {
            let lerp =
                |p: (f64, f64), q: (f64, f64), y: f64| p.0 + (y - p.1) * (q.0 - p.0) / (q.1 - p.1);
            if a.1 < top {
                a = (lerp(a, b, top), top);
            }
            if b.1 > bottom {
                b = (lerp(a, b, bottom), bottom);
            }
        }
        let (left, right) = (w.x0 as f64, w.x1 as f64);
        if dir != 0 && a.0.min(b.0) >= left && a.0.max(b.0) <= right {
            // inside the window's sides, as nearly every edge is
            if b.1 > a.1 {
                self.edges.push(Edge {
                    x0: a.0,
                    y0: a.1,
                    x1: b.0,
                    y1: b.1,
                    dxdy: (b.0 - a.0) / (b.1 - a.1),
                    dir,
                });
            }
            return;
        }
        // split where the edge crosses the window's sides, then clamp
        let mut cuts = [a, a, a, b];
        let mut n = 1;
        for side in [left, right] {
            let (p, q) = (a, b);
            if (p.0 - side) * (q.0 - side) < 0.0 {
                let t = (side - p.0) / (q.0 - p.0);
                cuts[n] = (side, p.1 + t * (q.1 - p.1));
                n += 1;
            }
        }
        cuts[n] = b;
        let inner = &mut cuts[1..n];
        inner.sort_by(|p, q| p.1.total_cmp(&q.1).then(p.0.total_cmp(&q.0)));
        for i in 0..n {
            let (p, q) = (cuts[i], cuts[i + 1]);
            let mut e = Edge {
                x0: p.0.clamp(left, right),
                y0: p.1,
                x1: q.0.clamp(left, right),
                y1: q.1,
                dxdy: 0.0,
                dir,
            };
            if dir != 0 {
                if e.y1 <= e.y0 {
                    continue;
                }
                e.dxdy = (e.x1 - e.x0) / (e.y1 - e.y0);
            }
            self.edges.push(e);
        }
    }

    /// Computes the coverage (0..=1) of the shape, calling
    /// `emit(y, x, coverage)` for each row with the run of pixels starting
    /// at column `x` that the shape touches.
    pub fn sweep(&mut self, mut emit: impl FnMut(u32, u32, &[f32])) {
        self.close();
        let Some(w) = self.window else { return };
        if self.edges.is_empty() || w.x1 <= w.x0 || w.y1 <= w.y0 {
            return;
        }
        self.edges.sort_by(|a, b| a.y0.total_cmp(&b.y0));
        let width = (w.x1 - w.x0) as usize;
        self.area.clear();
        self.area.resize(width + 2, 0.0);
        self.cover.clear();
        self.cover.resize(width + 2, 0.0);
        self.row.clear();
        self.row.resize(width, 0.0);
        self.active.clear();
        let first = (self.edges[0].y0.floor() as i64).max(w.y0 as i64) as u32;
        let mut next = 0usize;
        for y in first..w.y1 {
            let (top, bottom) = (y as f64, y as f64 + 1.0);
            let edges = &self.edges;
            self.active.retain(|&i| {
                let e = &edges[i as usize];
                if e.dir == 0 {
                    e.y0 > top
                } else {
                    e.y1 > top
                }
            });
            while next < edges.len() && edges[next].y0 < bottom {
                let e = &edges[next];
                // horizontal edges matter inside a row only
                if e.dir != 0 || e.y0 > top {
                    self.active.push(next as u32);
                }
                next += 1;
            }
            if self.active.is_empty() {
                if next >= edges.len() {
                    break;
                }
                continue;
            }
            let left = w.x0 as f64;
            self.pieces.clear();
            self.pieces.extend(self.active.iter().map(|&i| {
                let e = &edges[i as usize];
                let (ya, yb) = (e.y0.max(top), e.y1.min(bottom));
                let (xa, xb) = if e.dir == 0 {
                    (e.x0, e.x1)
                } else {
                    (
                        if ya <= e.y0 {
                            e.x0
                        } else {
                            e.x0 + (ya - e.y0) * e.dxdy
                        },
                        if yb >= e.y1 {
                            e.x1
                        } else {
                            e.x0 + (yb - e.y0) * e.dxdy
                        },
                    )
                };
                let (xa, xb) = (xa - left, xb - left);
                Piece {
                    edge: i,
                    xa,
                    ya,
                    xb,
                    yb,
                    lo: xa.min(xb),
                    hi: xa.max(xb),
                    dir: e.dir,
                }
            }));
            // nearly sorted from the previous row: insertion sort that
            // shifts the few pieces out of place; a row whose order changed
            // a lot (many crossing lines) is sorted in O(n log n) instead
            let pieces = &mut self.pieces;
            let mut budget = 8 * pieces.len() + 64;
            for i in 1..pieces.len() {
                if pieces[i - 1].lo <= pieces[i].lo {
                    continue;
                }
                let p = pieces[i];
                let mut j = i;
                while j > 0 && pieces[j - 1].lo > p.lo && budget > 0 {
                    pieces[j] = pieces[j - 1];
                    j -= 1;
                    budget -= 1;
                }
                pieces[j] = p;
                if budget == 0 {
                    pieces.sort_unstable_by(|a, b| a.lo.total_cmp(&b.lo));
                    break;
                }
            }
            for (slot, p) in self.active.iter_mut().zip(&self.pieces) {
                *slot = p.edge;
            }
            self.row_cells(top, bottom);
            // coverage = area + running sum of cover, run by run: between
            // runs the winding is zero and every cover sums to nothing
            let spans = std::mem::take(&mut self.spans);
            for &(start, end) in &spans {
                let stop = (end + 1).min(width);
                if start < stop {
                    let mut acc = 0.0;
                    let cells = self.area[start..stop].iter().zip(&self.cover[start..stop]);
                    for (out, (area, cover)) in self.row[..stop - start].iter_mut().zip(cells) {
                        acc += cover;
                        *out = (area + acc).clamp(0.0, 1.0) as f32;
                    }
                }
                let clear = (end + 2).min(width + 2);
                self.cover[start..clear].fill(0.0);
                self.area[start..clear].fill(0.0);
                if start < stop {
                    emit(y, w.x0 + start as u32, &self.row[..stop - start]);
                }
            }
            self.spans = spans;
        }
    }

    /// Like [`Rasterizer::sweep`], but each pixel's coverage is the sum of
    /// the signed areas of every edge, clamped to 0..=1: no active edge
    /// list, no sorting, one pass per edge. That is the non-zero coverage
    /// wherever the pieces are wound the same way and a pixel is either
    /// left by their overlaps or filled by them; where same-wound pieces
    /// overlap inside a partly covered pixel it counts the overlap twice.
    /// [`super::polyline`] feeds it a stroke as same-wound segment boxes
    /// and join wedges, whose overlaps lie around the joints.
    pub fn sweep_summed(&mut self, mut emit: impl FnMut(u32, u32, &[f32])) {
        self.close();
        let Some(w) = self.window else { return };
        if self.edges.is_empty() || w.x1 <= w.x0 || w.y1 <= w.y0 {
            return;
        }
        let width = (w.x1 - w.x0) as usize;
        let rows = (w.y1 - w.y0) as usize;
        let stride = width + 2;
        // the cells are all zero between sweeps (each row is cleared after
        // use): only growing costs a fill
        if self.cells.len() < stride * rows {
            self.cells.resize(stride * rows, 0.0);
        }
        let words = stride.div_ceil(BLOCK).div_ceil(64);
        self.marks.clear();
        self.marks.resize(rows * words, 0);
        let mut grid = Cells {
            cells: &mut self.cells,
            marks: &mut self.marks,
            stride,
            words,
        };
        let (left, top) = (w.x0 as f64, w.y0 as f64);
        for e in &self.edges {
            if e.dir != 0 {
                grid.add_edge(e, left, top);
            }
        }
        self.row.clear();
        self.row.resize(width, 0.0);
        for r in 0..rows {
            let marks = &self.marks[r * words..(r + 1) * words];
            let Some(first) = marks.iter().position(|&m| m != 0) else {
                continue;
            };
            let first = first * 64 + marks[first].trailing_zeros() as usize;
            let last = marks.iter().rposition(|&m| m != 0).unwrap_or(0);
            let last = last * 64 + 63 - marks[last].leading_zeros() as usize;
            let cells = &mut self.cells[r * stride..(r + 1) * stride];
            let mut acc = 0.0f32;
            let mut run: Option<usize> = None;
            for b in first..=last {
                let (x0, x1) = (b * BLOCK, ((b + 1) * BLOCK).min(width));
                // an untouched block outside the shape has no coverage:
                // strokes leave most blocks of a row untouched
                if marks[b / 64] >> (b % 64) & 1 == 0 && acc.abs() < 1e-4 {
                    acc = 0.0;
                    if let Some(start) = run.take() {
                        let end = x0.min(width);
                        emit(w.y0 + r as u32, w.x0 + start as u32, &self.row[start..end]);
                    }
                    continue;
                }
                if x0 < x1 {
                    run.get_or_insert(x0);
                    for (o, cell) in self.row[x0..x1].iter_mut().zip(&cells[x0..x1]) {
                        acc += cell;
                        *o = acc.abs().min(1.0);
                    }
                }
                cells[x0.min(stride)..((b + 1) * BLOCK).min(stride)].fill(0.0);
            }
            if let Some(start) = run {
                let end = ((last + 1) * BLOCK).min(width);
                emit(w.y0 + r as u32, w.x0 + start as u32, &self.row[start..end]);
            }
        }
    }

    /// Accumulates the row's boundary areas into the cells and lists the
    /// runs of columns they touch (joined where the shape fills a gap).
    fn row_cells(&mut self, top: f64, bottom: f64) {
        self.spans.clear();
        let mut winding = 0i32;
        let mut i = 0;
        let pieces = std::mem::take(&mut self.pieces);
        while i < pieces.len() {
            let mut j = i + 1;
            let mut hi = pieces[i].hi;
            while j < pieces.len() && pieces[j].lo <= hi {
                hi = hi.max(pieces[j].hi);
                j += 1;
            }
            let cluster = &pieces[i..j];
            let before = winding;
            let after;
            if let [p] = cluster {
                after = before + p.dir;
                if p.ya <= top && p.yb >= bottom {
                    if (before != 0) != (after != 0) {
                        let s = if after != 0 { 1.0 } else { -1.0 };
                        self.accumulate(p.xa, p.ya, p.xb, p.yb, s);
                    }
                } else {
                    self.exact_cluster(cluster, before, top, bottom);
                }
            } else {
                let mut turned = 0.0;
                for p in cluster {
                    turned += p.dir as f64 * (p.yb - p.ya);
                }
                after = before + turned.round() as i32;
                if cluster.len() <= EXACT_CLUSTER {
                    self.exact_cluster(cluster, before, top, bottom);
                } else {
                    self.sampled_cluster(cluster, before, top, bottom);
                }
            }
            // x is relative to the window and never negative: `as` floors
            let (c0, c1) = (pieces[i].lo as usize, hi as usize);
            match self.spans.last_mut() {
                Some(last) if before != 0 || last.1 + 1 >= c0 => last.1 = last.1.max(c1),
                _ => self.spans.push((c0, c1)),
            }
            winding = after;
            i = j;
        }
        self.pieces = pieces;
    }

    /// Bands cut at every piece end and crossing: exact.
    fn exact_cluster(&mut self, cluster: &[Piece], before: i32, top: f64, bottom: f64) {
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        events.push(top);
        events.push(bottom);
        for (k, p) in cluster.iter().enumerate() {
            if p.dir == 0 {
                continue;
            }
            events.push(p.ya);
            events.push(p.yb);
            for q in &cluster[k + 1..] {
                if q.dir == 0 {
                    continue;
                }
                let (s0, s1) = (p.ya.max(q.ya), p.yb.min(q.yb));
                if s1 <= s0 {
                    continue;
                }
                let d0 = p.x_at(s0) - q.x_at(s0);
                let d1 = p.x_at(s1) - q.x_at(s1);
                if d0 * d1 < 0.0 {
                    events.push(s0 + (s1 - s0) * d0 / (d0 - d1));
                }
            }
        }
        events.sort_by(f64::total_cmp);
        events.dedup();
        for k in 1..events.len() {
            let (s0, s1) = (events[k - 1], events[k]);
            if s1 <= s0 {
                continue;
            }
            self.band.clear();
            for p in cluster {
                if p.dir != 0 && p.ya <= s0 && p.yb >= s1 {
                    self.band.push((p.x_at(s0), p.x_at(s1), p.dir));
                }
            }
            self.walk_band(before, s0, s1);
        }
        self.events = events;
    }

    /// Equal bands sampled in their middle: bounded work for long runs.
    fn sampled_cluster(&mut self, cluster: &[Piece], before: i32, top: f64, bottom: f64) {
        let h = (bottom - top) / SAMPLED_BANDS as f64;
        for k in 0..SAMPLED_BANDS {
            let s0 = top + h * k as f64;
            let mid = s0 + h / 2.0;
            self.band.clear();
            for p in cluster {
                if p.dir != 0 && p.ya <= mid && p.yb > mid {
                    let x = p.x_at(mid);
                    self.band.push((x, x, p.dir));
                }
            }
            self.walk_band(before, s0, s0 + h);
        }
    }

    /// Walks the band's pieces left to right from winding `before`; the
    /// ones switching between zero and non-zero bound the filled parts.
    fn walk_band(&mut self, before: i32, s0: f64, s1: f64) {
        let mut band = std::mem::take(&mut self.band);
        band.sort_by(|a, b| (a.0 + a.1).total_cmp(&(b.0 + b.1)));
        let mut w = before;
        for &(xa, xb, dir) in &band {
            let next = w + dir;
            if (w != 0) != (next != 0) {
                let s = if next != 0 { 1.0 } else { -1.0 };
                self.accumulate(xa, s0, xb, s1, s);
            }
            w = next;
        }
        self.band = band;
    }

    /// Adds the signed area right of the segment `(xa, ya)-(xb, yb)`
    /// (`ya < yb`, inside one row, x relative to the window) to the cells.
    #[inline]
    fn accumulate(&mut self, xa: f64, ya: f64, xb: f64, yb: f64, s: f64) {
        let dy = yb - ya;
        if dy <= 0.0 {
            return;
        }
        let last = self.cover.len() - 2;
        let (lo, hi) = if xa <= xb { (xa, xb) } else { (xb, xa) };
        // x is never negative here: `as` floors
        let (c0, c1) = ((lo as usize).min(last), (hi as usize).min(last));
        if c0 == c1 || hi - lo < 1e-12 {
            self.area[c0] += s * dy * (c0 as f64 + 1.0 - (xa + xb) / 2.0);
            self.cover[c0 + 1] += s * dy;
            return;
        }
        let per_x = dy / (hi - lo);
        let mut x = lo;
        for c in c0..=c1 {
            let end = (c as f64 + 1.0).min(hi);
            let h = per_x * (end - x);
            self.area[c] += s * h * (c as f64 + 1.0 - (x + end) / 2.0);
            self.cover[c + 1] += s * h;
            x = end;
        }
    }
}

/// Columns per bit of [`Rasterizer::sweep_summed`]'s touched marks.
const BLOCK: usize = 16;

/// [`Rasterizer::sweep_summed`]'s accumulation cells and touched marks.
struct Cells<'a> {
    cells: &'a mut [f32],
    marks: &'a mut [u64],
    stride: usize,
    words: usize,
}

impl Cells<'_> {
    /// Accumulates one edge (x relative to the window's left, never
    /// negative after clipping; `dir != 0`): per row it crosses, the signed
    /// area right of it goes into the row's cells as a pair (`part` into its
    /// cell, the rest into the next one, so that the row's running sum is
    /// the coverage), and the touched blocks are marked.
    fn add_edge(&mut self, e: &Edge, left: f64, top: f64) {
        let stride = self.stride;
        let rows = self.marks.len() / self.words.max(1);
        let last = stride - 2;
        let s = e.dir as f32;
        let (y0, y1) = (e.y0 - top, e.y1 - top);
        let first = y0.floor().max(0.0) as usize;
        let end = (y1.ceil() as usize).min(rows);
        let x_at = |y: f64| e.x0 - left + (y - y0) * e.dxdy;
        let mut xa = x_at(y0.max(first as f64));
        for r in first..end {
            let (ya, yb) = (y0.max(r as f64), y1.min(r as f64 + 1.0));
            let xb = if yb >= y1 { e.x1 - left } else { x_at(yb) };
            let dy = yb - ya;
            let (lo, hi) = if xa <= xb { (xa, xb) } else { (xb, xa) };
            let (from, to) = (xa, xb);
            xa = xb;
            if dy <= 0.0 {
                continue;
            }
            // `as` floors the non-negative x
            let (c0, c1) = ((lo as usize).min(last), (hi as usize).min(last));
            let marks = &mut self.marks[r * self.words..(r + 1) * self.words];
            for b in c0 / BLOCK..=(c1 + 1) / BLOCK {
                marks[b / 64] |= 1 << (b % 64);
            }
            let row = &mut self.cells[r * stride..r * stride + stride];
            if c0 == c1 || hi - lo < 1e-9 {
                let h = s * dy as f32;
                let part = h * (c0 as f32 + 1.0 - ((from + to) * 0.5) as f32);
                row[c0] += part;
                row[c0 + 1] += h - part;
                continue;
            }
            let per_x = dy / (hi - lo);
            let mut x = lo;
            for c in c0..=c1 {
                let end = (c as f64 + 1.0).min(hi);
                let h = (per_x * (end - x)) as f32 * s;
                let part = h * (c as f32 + 1.0 - ((x + end) * 0.5) as f32);
                row[c] += part;
                row[c + 1] += h - part;
                x = end;
            }
        }
    }
}

/// Test helpers shared by the graph modules' tests.
#[cfg(test)]
pub(super) mod testing {
    use super::{Rasterizer, Window};

    /// The coverage of a `w` x `h` window after `draw`, by the exact sweep
    /// or (`summed`) by [`Rasterizer::sweep_summed`].
    pub fn coverage_grid(
        w: u32,
        h: u32,
        summed: bool,
        draw: impl FnOnce(&mut Rasterizer),
    ) -> Vec<f32> {
        let mut r = Rasterizer::new();
        r.reset(Window {
            x0: 0,
            y0: 0,
            x1: w,
            y1: h,
        });
        draw(&mut r);
        let mut out = vec![0.0; (w * h) as usize];
        let keep = |y: u32, x: u32, row: &[f32]| {
            let at = (y * w + x) as usize;
            out[at..at + row.len()].copy_from_slice(row);
        };
        if summed {
            r.sweep_summed(keep);
        } else {
            r.sweep(keep);
        }
        out
    }

    /// A seeded generator of numbers in [0, 1) (64-bit LCG).
    pub fn unit_rng(mut seed: u64) -> impl FnMut() -> f64 {
        move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::unit_rng;
    use super::*;

    fn coverage(w: u32, h: u32, draw: impl FnOnce(&mut Rasterizer)) -> Vec<f32> {
        super::testing::coverage_grid(w, h, false, draw)
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-5
    }

    #[test]
    fn a_box_is_covered_by_its_area() {
        let c = coverage(4, 4, |r| {
            r.move_to(0.5, 1.25);
            r.line_to(3.0, 1.25);
            r.line_to(3.0, 2.0);
            r.line_to(0.5, 2.0);
        });
        assert!(close(c[4], 0.375), "{c:?}");
        assert!(close(c[5], 0.75));
        assert!(close(c[7], 0.0));
        assert!(close(c[9], 0.0));
    }

    #[test]
    fn a_triangle_halves_its_pixels() {
        // the diagonal of a 2x2 square: each pixel it crosses half covered
        let c = coverage(2, 2, |r| {
            r.move_to(0.0, 0.0);
            r.line_to(2.0, 2.0);
            r.line_to(0.0, 2.0);
        });
        assert!(close(c[0], 0.5), "{c:?}");
        assert!(close(c[1], 0.0));
        assert!(close(c[2], 1.0));
        assert!(close(c[3], 0.5));
    }

    #[test]
    fn overlaps_count_once_under_the_non_zero_rule() {
        // the same half-pixel box twice, and a crossing bow tie
        let twice = coverage(2, 1, |r| {
            for _ in 0..2 {
                r.move_to(0.0, 0.0);
                r.line_to(0.5, 0.0);
                r.line_to(0.5, 1.0);
                r.line_to(0.0, 1.0);
                r.close();
            }
        });
        assert!(close(twice[0], 0.5), "{twice:?}");
        let opposite = coverage(1, 1, |r| {
            // a box wound the other way is also filled
            r.move_to(0.0, 0.0);
            r.line_to(0.0, 1.0);
            r.line_to(0.25, 1.0);
            r.line_to(0.25, 0.0);
        });
        assert!(close(opposite[0], 0.25), "{opposite:?}");
        let bow = coverage(1, 1, |r| {
            r.move_to(0.0, 0.0);
            r.line_to(1.0, 1.0);
            r.line_to(1.0, 0.0);
            r.line_to(0.0, 1.0);
        });
        assert!(close(bow[0], 0.5), "{bow:?}");
    }

    #[test]
    fn shapes_outside_the_window_keep_their_winding() {
        // a box from x=-5 to x=1.5: the left part is moved onto the side
        let c = coverage(3, 1, |r| {
            r.move_to(-5.0, 0.0);
            r.line_to(1.5, 0.0);
            r.line_to(1.5, 1.0);
            r.line_to(-5.0, 1.0);
        });
        assert!(
            close(c[0], 1.0) && close(c[1], 0.5) && close(c[2], 0.0),
            "{c:?}"
        );
    }

    /// Non-zero coverage by brute force: 64 x 64 samples per pixel.
    fn sampled(w: u32, h: u32, pts: &[(f64, f64)]) -> Vec<f32> {
        const N: usize = 64;
        let mut out = vec![0.0; (w * h) as usize];
        for py in 0..h {
            for px in 0..w {
                let mut inside = 0;
                for sy in 0..N {
                    let y = py as f64 + (sy as f64 + 0.5) / N as f64;
                    for sx in 0..N {
                        let x = px as f64 + (sx as f64 + 0.5) / N as f64;
                        let mut winding = 0;
                        for k in 0..pts.len() {
                            let (a, b) = (pts[k], pts[(k + 1) % pts.len()]);
                            if (a.1 <= y) != (b.1 <= y) {
                                let cx = a.0 + (y - a.1) * (b.0 - a.0) / (b.1 - a.1);
                                if cx < x {
                                    winding += if b.1 > a.1 { 1 } else { -1 };
                                }
                            }
                        }
                        if winding != 0 {
                            inside += 1;
                        }
                    }
                }
                out[(py * w + px) as usize] = inside as f32 / (N * N) as f32;
            }
        }
        out
    }

    #[test]
    fn self_overlapping_polygons_match_brute_force_sampling() {
        let mut rnd = unit_rng(12345);
        for _ in 0..12 {
            // 7 random points in and around a 5x5 canvas: crossings,
            // overlaps, parts outside the window
            let pts: Vec<(f64, f64)> = (0..7)
                .map(|_| (rnd() * 7.0 - 1.0, rnd() * 7.0 - 1.0))
                .collect();
            let exact = coverage(5, 5, |r| {
                r.move_to(pts[0].0, pts[0].1);
                for p in &pts[1..] {
                    r.line_to(p.0, p.1);
                }
            });
            let brute = sampled(5, 5, &pts);
            for (k, (a, b)) in exact.iter().zip(&brute).enumerate() {
                assert!((a - b).abs() < 0.04, "pixel {k}: {a} vs {b} for {pts:?}");
            }
        }
    }

    #[test]
    fn long_runs_of_short_edges_are_sampled() {
        // a flat zigzag top of 40 edges inside one row over a filled area
        let c = coverage(10, 3, |r| {
            r.move_to(0.0, 1.4);
            for k in 1..=40 {
                let y = if k % 2 == 0 { 1.4 } else { 1.6 };
                r.line_to(k as f64 * 0.25, y);
            }
            r.line_to(10.0, 3.0);
            r.line_to(0.0, 3.0);
        });
        assert!((c[13] - 0.5).abs() < 0.05, "{:?}", &c[10..20]);
        assert!(close(c[23], 1.0));
        assert!(close(c[3], 0.0));
    }
}
