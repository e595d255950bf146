//! graphite-web's colours: its alias names, `#rrggbb[aa]` / `%23rrggbb`
//! hex strings, and the default line colour list (`glyph.py`
//! `colorAliases`, `defaultGraphOptions`, `Graph.setColor`).

use super::params::PVal;

/// `colorAliases`, exactly.
const ALIASES: &[(&str, (u8, u8, u8))] = &[
    ("black", (0, 0, 0)),
    ("white", (255, 255, 255)),
    ("blue", (100, 100, 255)),
    ("green", (0, 200, 0)),
    ("red", (200, 0, 50)),
    ("yellow", (255, 255, 0)),
    ("orange", (255, 165, 0)),
    ("purple", (200, 100, 255)),
    ("brown", (150, 100, 50)),
    ("cyan", (0, 255, 255)),
    ("aqua", (0, 150, 150)),
    ("gray", (175, 175, 175)),
    ("grey", (175, 175, 175)),
    ("magenta", (255, 0, 255)),
    ("pink", (255, 100, 100)),
    ("gold", (200, 200, 0)),
    ("rose", (200, 150, 200)),
    ("darkblue", (0, 0, 255)),
    ("darkgreen", (0, 255, 0)),
    ("darkred", (255, 0, 0)),
    ("darkgray", (111, 111, 111)),
    ("darkgrey", (111, 111, 111)),
];

/// `defaultGraphOptions['linecolors']`.
pub const DEFAULT_LINE_COLORS: &str =
    "blue,green,red,purple,brown,yellow,aqua,grey,magenta,pink,gold,rose";

/// An RGBA colour, components 0..=1 (cairo's `set_source_rgba`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rgba {
    pub r: f64,
    pub g: f64,
    pub b: f64,
    pub a: f64,
}

fn hex2(s: &str) -> Option<u8> {
    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        u8::from_str_radix(s, 16).ok()
    } else {
        None
    }
}

/// `Graph.setColor(value, alpha, forceAlpha)`: a name, or hex with an
/// optional alpha byte (ignored when `force_alpha`). `Err` says why.
pub fn parse_color(value: &str, alpha: f64, force_alpha: bool) -> Result<Rgba, String> {
    let (r, g, b, a) = if let Some((_, (r, g, b))) = ALIASES.iter().find(|(n, _)| *n == value) {
        (*r, *g, *b, alpha)
    } else if value.len() >= 6 {
        let mut s = value.strip_prefix('#').unwrap_or(value);
        s = s.strip_prefix("%23").unwrap_or(s);
        let part = |i: usize| s.get(i..i + 2).and_then(hex2);
        match (part(0), part(2), part(4)) {
            (Some(r), Some(g), Some(b)) => {
                let mut a = alpha;
                if s.len() == 8 && !force_alpha {
                    a = part(6)
                        .map(|x| x as f64 / 255.0)
                        .ok_or_else(|| bad(value))?;
                }
                (r, g, b, a)
            }
            _ => return Err(bad(value)),
        }
    } else {
        return Err(bad(value));
    };
    Ok(Rgba {
        r: r as f64 / 255.0,
        g: g as f64 / 255.0,
        b: b as f64 / 255.0,
        a,
    })
}

fn bad(value: &str) -> String {
    format!("invalid color {value:?}: use a name (e.g. red), rrggbb or rrggbbaa")
}

/// A colour parameter as graphite-web typed it: strings as colours, a
/// 6-digit integer as hex (graphite's `len(str(value)) == 6` case).
pub fn color_of(v: &PVal) -> Result<String, String> {
    match v {
        PVal::Str(s) => Ok(s.clone()),
        PVal::Int(i) if i.to_string().len() == 6 => Ok(i.to_string()),
        other => Err(bad(&other.py_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hex_and_alpha() {
        assert_eq!(parse_color("red", 1.0, false).unwrap().r, 200.0 / 255.0);
        let c = parse_color("%23ff000080", 1.0, false).unwrap();
        assert_eq!((c.r, c.a), (1.0, 128.0 / 255.0));
        assert_eq!(parse_color("ff000080", 0.3, true).unwrap().a, 0.3);
        assert!(parse_color("nope", 1.0, false).is_err());
        assert!(parse_color("zz0000", 1.0, false).is_err());
    }
}
