//! Text metrics and outlines from DejaVu Sans, shipped inside the binary
//! (graphite-web's cairo "Sans" is DejaVu Sans on Debian; licence in
//! `render-api/assets/fonts/LICENSE-DejaVu.txt`).
//!
//! cairo measures text two ways and graphite-web's layout follows them:
//! image surfaces (PNG) hint metrics — FreeType's TrueType bytecode hinter
//! at the integer pixel size, mono target because graphite sets
//! `ANTIALIAS_NONE`, advances whole pixels, ascent/descent rounded up and
//! height rounded — while vector surfaces (SVG, PDF) use the unhinted,
//! linearly scaled design metrics. skrifa's interpreter reproduces
//! FreeType's hinted advances; [`Face`] gives both kinds. Outlines are the
//! unhinted ones in both modes, as cairo's `text_path` fills them.

use std::collections::HashMap;

use skrifa::instance::{LocationRef, Size};
use skrifa::outline::{DrawSettings, Engine, HintingInstance, HintingOptions, OutlinePen, Target};
use skrifa::{FontRef, GlyphId, MetadataProvider};

static REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");
static OBLIQUE: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Oblique.ttf");
static BOLD_OBLIQUE: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-BoldOblique.ttf");

/// cairo's `font_extents()`: what graphite-web's `getExtents` reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FontExtents {
    pub ascent: f64,
    pub descent: f64,
    pub height: f64,
}

/// One path element of a glyph outline, in pixels, y down, origin at the
/// pen position on the baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GlyphEl {
    Move(f64, f64),
    Line(f64, f64),
    Quad(f64, f64, f64, f64),
    Cubic(f64, f64, f64, f64, f64, f64),
    Close,
}

struct Glyph {
    advance: f64,
    outline: Vec<GlyphEl>,
}

/// A face at one size in one mode, with a glyph cache.
pub struct Face {
    font: FontRef<'static>,
    size: f64,
    hinted: Option<HintingInstance>,
    cache: HashMap<char, Glyph>,
    pub extents: FontExtents,
}

struct Pen(Vec<GlyphEl>);

impl OutlinePen for Pen {
    fn move_to(&mut self, x: f32, y: f32) {
        self.0.push(GlyphEl::Move(x as f64, -y as f64));
    }
    fn line_to(&mut self, x: f32, y: f32) {
        self.0.push(GlyphEl::Line(x as f64, -y as f64));
    }
    fn quad_to(&mut self, cx: f32, cy: f32, x: f32, y: f32) {
        self.0
            .push(GlyphEl::Quad(cx as f64, -cy as f64, x as f64, -y as f64));
    }
    fn curve_to(&mut self, a: f32, b: f32, c: f32, d: f32, x: f32, y: f32) {
        self.0.push(GlyphEl::Cubic(
            a as f64, -b as f64, c as f64, -d as f64, x as f64, -y as f64,
        ));
    }
    fn close(&mut self) {
        self.0.push(GlyphEl::Close);
    }
}

impl Face {
    /// DejaVu Sans (`bold`/`italic` pick the variant) at `size` pixels;
    /// `hinted` for raster output. Any font name maps to DejaVu Sans.
    pub fn new(bold: bool, italic: bool, size: f64, hinted: bool) -> Option<Face> {
        let data = match (bold, italic) {
            (false, false) => REGULAR,
            (true, false) => BOLD,
            (false, true) => OBLIQUE,
            (true, true) => BOLD_OBLIQUE,
        };
        let font = FontRef::new(data).ok()?;
        // FreeType scales TrueType fonts that ask for it to whole pixels
        let size = if hinted {
            size.round().max(1.0)
        } else {
            size.max(0.0)
        };
        let metrics = font.metrics(Size::new(size as f32), LocationRef::default());
        let (asc, desc, gap) = (
            metrics.ascent as f64,
            -metrics.descent as f64,
            metrics.leading as f64,
        );
        let (extents, hinted) = if hinted {
            let inst = HintingInstance::new(
                &font.outline_glyphs(),
                Size::new(size as f32),
                LocationRef::default(),
                HintingOptions {
                    engine: Engine::Interpreter,
                    target: Target::Mono,
                },
            )
            .ok();
            (
                FontExtents {
                    ascent: asc.ceil(),
                    descent: desc.ceil(),
                    height: (asc + desc + gap).round(),
                },
                inst,
            )
        } else {
            (
                FontExtents {
                    ascent: asc,
                    descent: desc,
                    height: asc + desc + gap,
                },
                None,
            )
        };
        Some(Face {
            font,
            size,
            hinted,
            cache: HashMap::new(),
            extents,
        })
    }

    fn glyph(&mut self, c: char) -> &Glyph {
        let font = &self.font;
        let size = self.size;
        let hinted = &self.hinted;
        self.cache.entry(c).or_insert_with(|| {
            let gid = font.charmap().map(c).unwrap_or(GlyphId::new(0));
            let outlines = font.outline_glyphs();
            let linear = font
                .glyph_metrics(Size::new(size as f32), LocationRef::default())
                .advance_width(gid)
                .unwrap_or(0.0) as f64;
            let mut pen = Pen(Vec::new());
            let Some(glyph) = outlines.get(gid) else {
                return Glyph {
                    advance: linear,
                    outline: Vec::new(),
                };
            };
            // cairo advances by the hinted metrics but fills the unhinted
            // outline (measured: glyph edges are anti-aliased at design
            // positions, not snapped to the pixel grid)
            let advance = match hinted {
                Some(inst) => {
                    let mut scratch = Pen(Vec::new());
                    match glyph.draw(DrawSettings::hinted(inst, false), &mut scratch) {
                        Ok(m) => m.advance_width.map_or(linear.round(), |a| a as f64),
                        Err(_) => linear.round(),
                    }
                }
                None => linear,
            };
            let settings = DrawSettings::unhinted(Size::new(size as f32), LocationRef::default());
            let _ = glyph.draw(settings, &mut pen);
            Glyph {
                advance,
                outline: pen.0,
            }
        })
    }

    /// `text_extents(text).x_advance`: the width graphite lays out with.
    pub fn width(&mut self, text: &str) -> f64 {
        text.chars().map(|c| self.glyph(c).advance).sum()
    }

    /// The outline of `text` with its pen starting at `(x, y)` on the
    /// baseline, rotated by `angle` radians about that point.
    pub fn text_path(&mut self, text: &str, x: f64, y: f64, angle: f64) -> Vec<GlyphEl> {
        let (sin, cos) = angle.sin_cos();
        let map = |px: f64, py: f64, dx: f64| {
            let (lx, ly) = (px + dx, py);
            (x + lx * cos - ly * sin, y + lx * sin + ly * cos)
        };
        let mut out = Vec::new();
        let mut pen_x = 0.0;
        for c in text.chars() {
            let g = self.glyph(c);
            for el in &g.outline {
                out.push(match *el {
                    GlyphEl::Move(a, b) => {
                        let (p, q) = map(a, b, pen_x);
                        GlyphEl::Move(p, q)
                    }
                    GlyphEl::Line(a, b) => {
                        let (p, q) = map(a, b, pen_x);
                        GlyphEl::Line(p, q)
                    }
                    GlyphEl::Quad(a, b, c, d) => {
                        let (p, q) = map(a, b, pen_x);
                        let (r, s) = map(c, d, pen_x);
                        GlyphEl::Quad(p, q, r, s)
                    }
                    GlyphEl::Cubic(a, b, c, d, e, f) => {
                        let (p, q) = map(a, b, pen_x);
                        let (r, s) = map(c, d, pen_x);
                        let (t, u) = map(e, f, pen_x);
                        GlyphEl::Cubic(p, q, r, s, t, u)
                    }
                    GlyphEl::Close => GlyphEl::Close,
                });
            }
            pen_x += g.advance;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // figures measured from cairo 1.16 (cairocffi) with graphite's settings
    #[test]
    fn hinted_metrics_are_cairos() {
        let mut f = Face::new(false, false, 10.0, true).unwrap();
        assert_eq!(
            f.extents,
            FontExtents {
                ascent: 10.0,
                descent: 3.0,
                height: 12.0
            }
        );
        assert_eq!(f.width("Hello World"), 54.0);
        assert_eq!(f.width("1.0 k"), 23.0);
        let mut b = Face::new(true, false, 12.0, true).unwrap();
        assert_eq!(b.width("Hello World"), 82.0);
    }

    #[test]
    fn unhinted_metrics_are_cairos_vector_ones() {
        let mut f = Face::new(false, false, 10.0, false).unwrap();
        assert!((f.extents.height - 11.640625).abs() < 1e-6);
        assert!((f.width("Hello World") - 57.7685546875).abs() < 1e-3);
    }
}
