//! A small cairo-like drawing context that records what graphite-web's
//! `glyph.py` asks cairo to do (path building, fill, stroke, clip,
//! save/restore, text as filled glyph outlines) as a display list, which
//! the PNG, SVG and PDF writers then replay.

use std::sync::Arc;

use super::colors::Rgba;
use super::fonts::{Face, FontExtents, GlyphEl};

/// One path element in device pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum El {
    Move(f64, f64),
    Line(f64, f64),
    Quad(f64, f64, f64, f64),
    Cubic(f64, f64, f64, f64, f64, f64),
    Close,
}

/// A path (cairo's current path).
pub type Path = Vec<El>;

/// The clip: an intersection of paths (non-zero winding); empty = none.
pub type Clip = Arc<Vec<Path>>;

/// How a stroke is drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct StrokeStyle {
    pub width: f64,
    /// Dash lengths (cairo repeats an odd list) and offset.
    pub dash: Option<(Vec<f64>, f64)>,
}

/// One recorded drawing operation.
#[derive(Clone, Debug)]
pub enum Op {
    Fill {
        path: Path,
        color: Rgba,
        clip: Clip,
    },
    Stroke {
        path: Path,
        color: Rgba,
        style: StrokeStyle,
        clip: Clip,
    },
    /// graphite's `encodeHeader`: starts a named group in the SVG.
    Header(String),
}

#[derive(Clone, Debug)]
struct State {
    color: Rgba,
    line_width: f64,
    dash: Option<(Vec<f64>, f64)>,
    clip: Clip,
}

/// Font selection as graphite's `setFont` keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct FontSpec {
    pub bold: bool,
    pub italic: bool,
    pub size: f64,
}

/// The recording context.
pub struct Canvas {
    pub width: f64,
    pub height: f64,
    /// Raster output: hinted font metrics (cairo image surface).
    hinted: bool,
    state: State,
    saved: Vec<State>,
    path: Path,
    current: Option<(f64, f64)>,
    subpath_start: Option<(f64, f64)>,
    pub ops: Vec<Op>,
    font: FontSpec,
    faces: Vec<(FontSpec, Face)>,
}

impl Canvas {
    pub fn new(width: f64, height: f64, hinted: bool) -> Canvas {
        Canvas {
            width,
            height,
            hinted,
            state: State {
                color: Rgba {
                    r: 0.0,
                    g: 0.0,
                    b: 0.0,
                    a: 1.0,
                },
                line_width: 2.0,
                dash: None,
                clip: Arc::new(Vec::new()),
            },
            saved: Vec::new(),
            path: Vec::new(),
            current: None,
            subpath_start: None,
            ops: Vec::new(),
            font: FontSpec {
                bold: false,
                italic: false,
                size: 10.0,
            },
            faces: Vec::new(),
        }
    }

    pub fn set_color(&mut self, c: Rgba) {
        self.state.color = c;
    }

    pub fn set_line_width(&mut self, w: f64) {
        self.state.line_width = w;
    }

    pub fn line_width(&self) -> f64 {
        self.state.line_width
    }

    /// cairo `set_dash(dashes, offset)`; an empty list switches dashing off.
    pub fn set_dash(&mut self, dashes: &[f64], offset: f64) {
        self.state.dash = if dashes.is_empty() || dashes.iter().all(|d| *d <= 0.0) {
            None
        } else {
            Some((dashes.to_vec(), offset))
        };
    }

    pub fn save(&mut self) {
        self.saved.push(self.state.clone());
    }

    pub fn restore(&mut self) {
        if let Some(s) = self.saved.pop() {
            self.state = s;
        }
    }

    pub fn move_to(&mut self, x: f64, y: f64) {
        self.path.push(El::Move(x, y));
        self.current = Some((x, y));
        self.subpath_start = Some((x, y));
    }

    /// cairo's `line_to`: without a current point it is a `move_to`.
    pub fn line_to(&mut self, x: f64, y: f64) {
        if self.current.is_none() {
            self.move_to(x, y);
            return;
        }
        self.path.push(El::Line(x, y));
        self.current = Some((x, y));
    }

    pub fn curve_to(&mut self, a: f64, b: f64, c: f64, d: f64, x: f64, y: f64) {
        if self.current.is_none() {
            self.move_to(a, b);
        }
        self.path.push(El::Cubic(a, b, c, d, x, y));
        self.current = Some((x, y));
    }

    pub fn close_path(&mut self) {
        if self.current.is_some() {
            self.path.push(El::Close);
            self.current = self.subpath_start;
        }
    }

    pub fn rectangle(&mut self, x: f64, y: f64, w: f64, h: f64) {
        self.move_to(x, y);
        self.line_to(x + w, y);
        self.line_to(x + w, y + h);
        self.line_to(x, y + h);
        self.close_path();
    }

    /// cairo's `arc` (angles increasing clockwise in device space), as
    /// cubic Béziers of at most a quarter turn each.
    pub fn arc(&mut self, cx: f64, cy: f64, r: f64, a1: f64, a2: f64) {
        let mut a2 = a2;
        while a2 < a1 {
            a2 += 2.0 * std::f64::consts::PI;
        }
        let (sx, sy) = (cx + r * a1.cos(), cy + r * a1.sin());
        self.line_to(sx, sy);
        let segments = ((a2 - a1) / (std::f64::consts::PI / 2.0)).ceil().max(1.0) as usize;
        let step = (a2 - a1) / segments as f64;
        let k = 4.0 / 3.0 * (step / 4.0).tan();
        let mut a = a1;
        for _ in 0..segments {
            let b = a + step;
            let (c0, s0) = (a.cos(), a.sin());
            let (c1, s1) = (b.cos(), b.sin());
            self.curve_to(
                cx + r * (c0 - k * s0),
                cy + r * (s0 + k * c0),
                cx + r * (c1 + k * s1),
                cy + r * (s1 - k * c1),
                cx + r * c1,
                cy + r * s1,
            );
            a = b;
        }
    }

    /// The current path (cairo `copy_path`).
    pub fn copy_path(&self) -> Path {
        self.path.clone()
    }

    /// cairo `append_path`.
    pub fn append_path(&mut self, p: &Path) {
        for el in p {
            match *el {
                El::Move(x, y) => self.move_to(x, y),
                El::Line(x, y) => self.line_to(x, y),
                El::Cubic(a, b, c, d, x, y) => self.curve_to(a, b, c, d, x, y),
                El::Quad(a, b, x, y) => {
                    self.path.push(El::Quad(a, b, x, y));
                    self.current = Some((x, y));
                }
                El::Close => self.close_path(),
            }
        }
    }

    fn take_path(&mut self) -> Path {
        self.current = None;
        self.subpath_start = None;
        std::mem::take(&mut self.path)
    }

    pub fn fill(&mut self) {
        let path = self.take_path();
        if !path.is_empty() {
            self.ops.push(Op::Fill {
                path,
                color: self.state.color,
                clip: self.state.clip.clone(),
            });
        }
    }

    pub fn stroke(&mut self) {
        let path = self.take_path();
        if !path.is_empty() {
            self.ops.push(Op::Stroke {
                path,
                color: self.state.color,
                style: StrokeStyle {
                    width: self.state.line_width,
                    dash: self.state.dash.clone(),
                },
                clip: self.state.clip.clone(),
            });
        }
    }

    /// Intersects the clip with the current path and clears it.
    pub fn clip(&mut self) {
        let path = self.take_path();
        let mut clips: Vec<Path> = (*self.state.clip).clone();
        clips.push(path);
        self.state.clip = Arc::new(clips);
    }

    pub fn header(&mut self, name: &str) {
        self.ops.push(Op::Header(name.to_string()));
    }

    /// `select_font_face` + `set_font_size`.
    pub fn set_font(&mut self, spec: FontSpec) {
        self.font = spec;
    }

    fn face(&mut self) -> Option<&mut Face> {
        let spec = self.font.clone();
        let hinted = self.hinted;
        let pos = match self.faces.iter().position(|(s, _)| *s == spec) {
            Some(p) => p,
            None => {
                let face = Face::new(spec.bold, spec.italic, spec.size, hinted)?;
                self.faces.push((spec, face));
                self.faces.len() - 1
            }
        };
        self.faces.get_mut(pos).map(|(_, f)| f)
    }

    pub fn font_extents(&mut self) -> FontExtents {
        self.face().map_or(
            FontExtents {
                ascent: 0.0,
                descent: 0.0,
                height: 0.0,
            },
            |f| f.extents,
        )
    }

    pub fn text_width(&mut self, text: &str) -> f64 {
        self.face().map_or(0.0, |f| f.width(text))
    }

    /// `text_path(text)` at `(x, y)` rotated by `angle`, then `fill()`.
    pub fn fill_text(&mut self, text: &str, x: f64, y: f64, angle: f64) {
        let outline = match self.face() {
            Some(f) => f.text_path(text, x, y, angle),
            None => return,
        };
        for el in outline {
            match el {
                GlyphEl::Move(a, b) => self.move_to(a, b),
                GlyphEl::Line(a, b) => self.line_to(a, b),
                GlyphEl::Quad(a, b, c, d) => {
                    self.path.push(El::Quad(a, b, c, d));
                    self.current = Some((c, d));
                }
                GlyphEl::Cubic(a, b, c, d, e, f) => self.curve_to(a, b, c, d, e, f),
                GlyphEl::Close => self.close_path(),
            }
        }
        self.fill();
    }
}
