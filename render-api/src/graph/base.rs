//! graphite-web's `Graph` base class: canvas setup, colours, fonts, text
//! placement, the title and the legend, shared by line and pie graphs.

use crate::error::ApiError;

use super::axes::Num;
use super::canvas::{Canvas, FontSpec};
use super::colors::{color_of, parse_color, DEFAULT_LINE_COLORS};
use super::params::{GraphParams, PVal};
use super::OutputFormat;

/// The plot area (`self.area`), numbers typed as graphite's.
#[derive(Clone, Copy, Debug)]
pub struct Area {
    pub xmin: Num,
    pub xmax: Num,
    pub ymin: Num,
    pub ymax: Num,
}

/// `defaultFontParams`.
#[derive(Clone, Debug)]
pub struct DefaultFont {
    pub name: PVal,
    pub size: i64,
    pub bold: PVal,
    pub italic: PVal,
}

/// Horizontal text alignment.
#[derive(Clone, Copy, PartialEq)]
pub enum Align {
    Left,
    Center,
    Right,
}

/// Vertical text alignment.
#[derive(Clone, Copy, PartialEq)]
pub enum VAlign {
    Top,
    Middle,
    Baseline,
}

/// The state every graph type shares.
pub struct Graph {
    pub c: Canvas,
    pub params: GraphParams,
    pub format: OutputFormat,
    pub width: f64,
    pub height: f64,
    /// `self.margin` (graphite sets it to the width for a right y axis).
    pub margin: f64,
    pub area: Area,
    pub foreground: String,
    pub background: String,
    pub major_line: String,
    pub minor_line: String,
    pub colors: Vec<String>,
    next_color: usize,
    pub font: DefaultFont,
}

fn bad(m: String) -> ApiError {
    ApiError::BadRequest(m)
}

impl Graph {
    /// `Graph.__init__` up to `drawGraph`: size, margin, area, template
    /// defaults, background.
    pub fn new(
        params: GraphParams,
        format: OutputFormat,
        max_pixels: (u32, u32),
    ) -> Result<Graph, ApiError> {
        let width = params.int("width", 200)?;
        let height = params.int("height", 200)?;
        if width < 1 || height < 1 {
            return Err(bad(format!(
                "width and height must be at least 1, not {width}x{height}"
            )));
        }
        if width > max_pixels.0 as i64 || height > max_pixels.1 as i64 {
            return Err(bad(format!(
                "graph size {width}x{height} exceeds the limit {}x{} \
                 ([render] max_graph_width/max_graph_height)",
                max_pixels.0, max_pixels.1
            )));
        }
        let mut margin = params.int("margin", 10)?;
        if margin < 0 {
            margin = 10;
        }
        let (w, h) = match format {
            // cairo's PDF surface: pixels at the 300 dpi fallback resolution
            OutputFormat::Pdf => (width as f64 / 300.0 * 72.0, height as f64 / 300.0 * 72.0),
            _ => (width as f64, height as f64),
        };
        let area = Area {
            xmin: Num::i(margin + 10),
            xmax: Num::i(width - margin),
            ymin: Num::i(margin),
            ymax: Num::i(height - margin),
        };
        let text = |key: &str, default: &str| -> Result<String, ApiError> {
            params
                .get(key)
                .map(color_of)
                .transpose()
                .map_err(bad)
                .map(|v| v.unwrap_or_else(|| default.to_string()))
        };
        let foreground = text("fgcolor", "black")?;
        let background = text("bgcolor", "white")?;
        let major_line = text("majorGridLineColor", "rose")?;
        let minor_line = text("minorGridLineColor", "grey")?;
        let colors: Vec<String> = match params.get("colorList") {
            Some(v) => unquote_plus(&v.py_str())
                .split(',')
                .map(str::to_string)
                .collect(),
            None => DEFAULT_LINE_COLORS.split(',').map(str::to_string).collect(),
        };
        for c in colors
            .iter()
            .chain([&foreground, &background, &major_line, &minor_line])
        {
            parse_color(c, 1.0, false).map_err(bad)?;
        }
        let size = match params.get("fontSize") {
            None => 10,
            Some(v) => v
                .number()
                .ok_or_else(|| bad(format!("fontSize must be a number, not {:?}", v.py_str())))?
                as i64,
        };
        if !(1..=1000).contains(&size) {
            return Err(bad(format!("fontSize must be 1 to 1000, not {size}")));
        }
        let font = DefaultFont {
            name: params
                .get("fontName")
                .cloned()
                .unwrap_or(PVal::Str("Sans".into())),
            size,
            bold: params.get("fontBold").cloned().unwrap_or(PVal::Bool(false)),
            italic: params
                .get("fontItalic")
                .cloned()
                .unwrap_or(PVal::Bool(false)),
        };
        let mut g = Graph {
            c: Canvas::new(w, h, format == OutputFormat::Png),
            params,
            format,
            width: w,
            height: h,
            margin: margin as f64,
            area,
            foreground,
            background,
            major_line,
            minor_line,
            colors,
            next_color: 0,
            font,
        };
        let bg = g.background.clone();
        g.set_color(&bg)?;
        g.c.rectangle(0.0, 0.0, w, h);
        g.c.fill();
        g.set_font(None);
        Ok(g)
    }

    /// `next(self.colors)`.
    pub fn next_color(&mut self) -> String {
        let c = self.colors[self.next_color % self.colors.len()].clone();
        self.next_color += 1;
        c
    }

    pub fn set_color(&mut self, value: &str) -> Result<(), ApiError> {
        self.set_color_alpha(value, 1.0, false)
    }

    pub fn set_color_alpha(
        &mut self,
        value: &str,
        alpha: f64,
        force: bool,
    ) -> Result<(), ApiError> {
        let c = parse_color(value, alpha, force).map_err(bad)?;
        self.c.set_color(c);
        Ok(())
    }

    /// `setFont(size=...)`: the default font, optionally at another size.
    pub fn set_font(&mut self, size: Option<f64>) {
        self.c.set_font(FontSpec {
            bold: self.font.bold.truthy(),
            italic: self.font.italic.truthy(),
            size: size.unwrap_or(self.font.size as f64),
        });
    }

    /// `drawRectangle(x, y, w, h, fill)`.
    pub fn draw_rectangle(&mut self, x: f64, y: f64, w: f64, h: f64, fill: bool) {
        if fill {
            self.c.rectangle(x, y, w, h);
            self.c.fill();
        } else {
            let o = self.c.line_width() / 2.0;
            self.c.rectangle(x + o, y + o, w - o, h - o);
            self.c.set_dash(&[], 0.0);
            self.c.stroke();
        }
    }

    /// `drawText(text, x, y, align, valign, rotate)`.
    pub fn draw_text(
        &mut self,
        text: &str,
        x: f64,
        y: f64,
        align: Align,
        valign: VAlign,
        rotate: f64,
    ) {
        let ext = self.c.font_extents();
        let width = self.c.text_width(text);
        let angle = rotate.to_radians();
        let horizontal = match align {
            Align::Left => 0.0,
            Align::Center => width / 2.0,
            Align::Right => width,
        };
        let vertical = match valign {
            VAlign::Top => ext.ascent,
            VAlign::Middle => ext.height / 2.0 - ext.descent,
            VAlign::Baseline => 0.0,
        };
        let (sin, cos) = angle.sin_cos();
        let px = x + sin * -vertical - horizontal * cos;
        let py = y + cos * vertical - horizontal * sin;
        self.c.fill_text(text, px, py, angle);
    }

    /// `encodeHeader(name)`.
    pub fn header(&mut self, name: &str) {
        if self.format == OutputFormat::Svg {
            self.c.header(name);
        }
    }

    /// `drawTitle(text)`.
    pub fn draw_title(&mut self, text: &str) {
        self.header("title");
        let mut y = self.area.ymin.v;
        let x = self.width / 2.0;
        let line_height = self.c.font_extents().height;
        for line in text.split('\n') {
            self.draw_text(line, x, y, Align::Center, VAlign::Top, 0.0);
            y += line_height;
        }
        let right = self.params.text("yAxisSide").as_deref() == Some("right");
        self.area.ymin = Num::f(if right { y } else { y + self.margin });
    }

    /// `drawLegend(elements, unique)`: `(name, colour, right side)`.
    /// A legend entry's swatch as glyph.py draws it: a box filled in the
    /// current colour, a dark grey outline, then `fg` again for the label.
    fn draw_legend_swatch(&mut self, x: f64, y: f64, size: f64, fg: &str) -> Result<(), ApiError> {
        self.draw_rectangle(x, y, size, size, true);
        self.set_color("darkgrey")?;
        self.draw_rectangle(x, y, size, size, false);
        self.set_color(fg)
    }

    pub fn draw_legend(
        &mut self,
        elements: Vec<(String, String, bool)>,
        unique: bool,
        second_y_axis: bool,
    ) -> Result<(), ApiError> {
        self.header("legend");
        let mut elements = elements;
        if unique {
            let mut seen: Vec<String> = Vec::new();
            elements.retain(|e| {
                if seen.contains(&e.0) {
                    false
                } else {
                    seen.push(e.0.clone());
                    true
                }
            });
        }
        let padding = 5.0;
        // sorted(key=len)[-1]: the last of the longest names
        let longest = elements
            .iter()
            .map(|e| e.0.clone())
            .fold(String::new(), |best, n| {
                if n.chars().count() >= best.chars().count() {
                    n
                } else {
                    best
                }
            });
        let test_name = format!("{longest} {longest}");
        let ext = self.c.font_extents();
        let test_box = ext.height - 1.0;
        let test_width = self.c.text_width(&test_name) + 2.0 * (test_box + padding);
        let right_side_labels = test_width + 50.0 < self.width;
        let box_size = ext.height - 1.0;
        let line_height = ext.height + 1.0;
        let label_width = self.c.text_width(&longest) + 2.0 * (box_size + padding);
        let fg = self.foreground.clone();
        if second_y_axis && right_side_labels {
            let mut columns = ((self.width - self.area.xmin.v) / label_width)
                .floor()
                .max(1.0);
            let num_right = elements.iter().filter(|e| e.2).count() as f64;
            let lines = (elements.len() as f64 - num_right).max(num_right);
            columns = (columns / 2.0).floor();
            if columns < 1.0 {
                columns = 1.0;
            }
            let legend_height = (1f64.max(lines / columns) * line_height) + padding;
            self.area.ymax = Num::f(self.area.ymax.v - legend_height);
            self.c.set_line_width(1.0);
            let mut x = self.area.xmin.v;
            let mut y = self.area.ymax.v + 2.0 * padding;
            let mut n = 0.0;
            let x_right0 = self.area.xmax.v - self.area.xmin.v;
            let mut x_right = x_right0;
            let mut y_right = y;
            let mut n_right = 0.0;
            for (name, color, right) in &elements {
                self.set_color(color)?;
                if *right {
                    n_right += 1.0;
                    self.draw_legend_swatch(x_right - padding, y_right, box_size, &fg)?;
                    self.draw_text(
                        name,
                        x_right - box_size,
                        y_right,
                        Align::Right,
                        VAlign::Top,
                        0.0,
                    );
                    x_right -= label_width;
                    if n_right % columns == 0.0 {
                        x_right = x_right0;
                        y_right += line_height;
                    }
                } else {
                    n += 1.0;
                    self.draw_legend_swatch(x, y, box_size, &fg)?;
                    self.draw_text(
                        name,
                        x + box_size + padding,
                        y,
                        Align::Left,
                        VAlign::Top,
                        0.0,
                    );
                    x += label_width;
                    if n % columns == 0.0 {
                        x = self.area.xmin.v;
                        y += line_height;
                    }
                }
            }
        } else {
            let columns = (self.width / label_width).floor().max(1.0);
            let lines = (elements.len() as f64 / columns).ceil();
            let legend_height = lines * line_height + padding;
            self.area.ymax = Num::f(self.area.ymax.v - legend_height);
            self.c.set_line_width(1.0);
            let mut x = self.area.xmin.v;
            let mut y = self.area.ymax.v + 2.0 * padding;
            for (i, (name, color, right)) in elements.iter().enumerate() {
                self.set_color(color)?;
                if *right {
                    self.draw_legend_swatch(x + label_width + padding, y, box_size, &fg)?;
                    self.draw_text(name, x + label_width, y, Align::Right, VAlign::Top, 0.0);
                } else {
                    self.draw_legend_swatch(x, y, box_size, &fg)?;
                    self.draw_text(
                        name,
                        x + box_size + padding,
                        y,
                        Align::Left,
                        VAlign::Top,
                        0.0,
                    );
                }
                x += label_width;
                if (i as f64 + 1.0) % columns == 0.0 {
                    x = self.area.xmin.v;
                    y += line_height;
                }
            }
        }
        Ok(())
    }

    /// graphite's "No Data" picture.
    pub fn draw_no_data(&mut self) -> Result<(), ApiError> {
        let (x, y) = (self.width / 2.0, self.height / 2.0);
        self.set_color("red")?;
        self.set_font(Some((self.width * self.height).ln()));
        self.draw_text("No Data", x, y, Align::Center, VAlign::Top, 0.0);
        Ok(())
    }
}

/// Python's `urllib.parse.unquote_plus` (UTF-8, invalid bytes replaced).
pub fn unquote_plus(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::unquote_plus;

    #[test]
    fn unquotes() {
        assert_eq!(unquote_plus("a+b%20c%2"), "a b c%2");
        assert_eq!(unquote_plus("%41%"), "A%");
    }
}
