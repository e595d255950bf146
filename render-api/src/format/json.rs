//! graphite's JSON render format, byte for byte as Python's `json.dumps`
//! writes it (`, ` and `: ` separators, or 2-space indentation with
//! `pretty`), `ensure_ascii` escaping, floats as Python `repr`, NaN as
//! `null` and ±infinity as `±1e9999`:
//!
//! `[{"target": "a.b", "tags": {"name": "a.b"}, "datapoints": [[1.0, 1700000000], [null, 1700000010]]}]`

use crate::pyfmt::push_float_repr;
use std::fmt::Write as _;

use crate::series::Series;

/// What the JSON format does besides printing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JsonOptions {
    /// Drop null/NaN points, and series left with none (`noNullPoints`).
    pub no_null_points: bool,
    /// Indent by 2 (`pretty`).
    pub pretty: bool,
}

/// Writes `s` as a JSON string literal with Python's `ensure_ascii`
/// escaping.
pub fn write_str(out: &mut String, s: &str) {
    write_string(out, s, true);
}

/// Writes `s` as a JSON string literal as Python's `json.dumps` does:
/// with `ensure_ascii`, everything outside printable ASCII becomes `\uXXXX`
/// (UTF-16 units); without, only control characters do.
fn write_string(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && (c as u32) > 0x7e) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes a value as graphite's JSON shows it.
pub fn write_value(out: &mut String, v: Option<f64>) {
    match v {
        None => out.push_str("null"),
        Some(x) if x.is_nan() => out.push_str("null"),
        Some(x) if x.is_infinite() => out.push_str(if x > 0.0 { "1e9999" } else { "-1e9999" }),
        Some(x) => push_float_repr(out, x),
    }
}

struct Writer {
    out: String,
    pretty: bool,
    depth: usize,
}

impl Writer {
    fn newline(&mut self) {
        if self.pretty {
            self.out.push('\n');
            for _ in 0..self.depth {
                self.out.push_str("  ");
            }
        }
    }

    fn open(&mut self, c: char) {
        self.out.push(c);
        self.depth += 1;
        self.newline();
    }

    fn close(&mut self, c: char) {
        self.depth -= 1;
        self.newline();
        self.out.push(c);
    }

    fn sep(&mut self) {
        self.out.push(',');
        if self.pretty {
            self.newline();
        } else {
            self.out.push(' ');
        }
    }

    fn key(&mut self, k: &str) {
        write_str(&mut self.out, k);
        self.out.push_str(": ");
    }
}

/// The `/render?format=json` body for these series (already consolidated
/// for `maxDataPoints` if requested).
pub fn render(series: &[Series], options: JsonOptions) -> String {
    let mut w = Writer {
        out: String::with_capacity(64 + series.iter().map(|s| s.values.len() * 24).sum::<usize>()),
        pretty: options.pretty,
        depth: 0,
    };
    // graphite answers [] unless at least one series has a value slot
    if !series.iter().any(|s| !s.values.is_empty()) {
        return "[]".into();
    }
    let mut written = 0;
    for s in series {
        let mut points = s.datapoints();
        if options.no_null_points {
            points.retain(|(v, _)| v.is_some_and(|x| !x.is_nan()));
            if points.is_empty() {
                continue;
            }
        }
        if written == 0 {
            w.open('[');
        } else {
            w.sep();
        }
        written += 1;
        w.open('{');
        w.key("target");
        write_str(&mut w.out, &s.name);
        w.sep();
        w.key("tags");
        if s.tags.is_empty() {
            w.out.push_str("{}");
        } else {
            w.open('{');
            for (i, (k, v)) in s.tags.iter().enumerate() {
                if i > 0 {
                    w.sep();
                }
                w.key(k);
                write_str(&mut w.out, v);
            }
            w.close('}');
        }
        w.sep();
        w.key("datapoints");
        if points.is_empty() {
            w.out.push_str("[]");
        } else {
            w.open('[');
            for (i, (v, t)) in points.iter().enumerate() {
                if i > 0 {
                    w.sep();
                }
                w.open('[');
                write_value(&mut w.out, *v);
                w.sep();
                let _ = write!(w.out, "{t}");
                w.close(']');
            }
            w.close(']');
        }
        w.close('}');
    }
    if written == 0 {
        return "[]".into();
    }
    w.close(']');
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Series> {
        vec![Series::new("a.b", 10, 30, 10, vec![Some(1.0), None], 0.0)]
    }

    #[test]
    fn compact_matches_python_json_dumps() {
        assert_eq!(
            render(&sample(), JsonOptions::default()),
            r#"[{"target": "a.b", "tags": {"name": "a.b"}, "datapoints": [[1.0, 10], [null, 20]]}]"#
        );
    }

    #[test]
    fn pretty_matches_python_indent_2() {
        let want = "[\n  {\n    \"target\": \"a.b\",\n    \"tags\": {\n      \"name\": \"a.b\"\n    },\n    \"datapoints\": [\n      [\n        1.0,\n        10\n      ],\n      [\n        null,\n        20\n      ]\n    ]\n  }\n]";
        assert_eq!(
            render(
                &sample(),
                JsonOptions {
                    pretty: true,
                    ..Default::default()
                }
            ),
            want
        );
    }

    #[test]
    fn no_null_points_and_special_values() {
        let out = render(
            &sample(),
            JsonOptions {
                no_null_points: true,
                ..Default::default()
            },
        );
        assert!(out.ends_with("[[1.0, 10]]}]"), "{out}");
        let empty = vec![Series::new("x", 10, 20, 10, vec![None], 0.0)];
        assert_eq!(
            render(
                &empty,
                JsonOptions {
                    no_null_points: true,
                    ..Default::default()
                }
            ),
            "[]"
        );
        let mut s = String::new();
        write_value(&mut s, Some(f64::INFINITY));
        write_str(&mut s, "é\u{1F600}");
        assert_eq!(s, "1e9999\"\\u00e9\\ud83d\\ude00\"");
    }
}

/// A JSON document in Python's data model: dicts keep insertion order, so
/// output matches `json.dumps` of the same Python structure.
#[derive(Clone, Debug, PartialEq)]
pub enum PyJson {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An int.
    Int(i64),
    /// A float (NaN as `NaN`, infinities as `±1e9999`, so always valid for
    /// JSON.parse except NaN, which graphite never sends here).
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<PyJson>),
    /// A dict, in insertion order.
    Dict(Vec<(String, PyJson)>),
}

impl From<&str> for PyJson {
    fn from(s: &str) -> Self {
        PyJson::Str(s.to_string())
    }
}

impl From<String> for PyJson {
    fn from(s: String) -> Self {
        PyJson::Str(s)
    }
}

/// Python's `json.dumps(value, indent=2 if pretty else None,
/// ensure_ascii=ensure_ascii, sort_keys=sort_keys)`.
pub fn dumps(value: &PyJson, pretty: bool, ensure_ascii: bool, sort_keys: bool) -> String {
    let mut w = Writer {
        out: String::new(),
        pretty,
        depth: 0,
    };
    dump_into(&mut w, value, ensure_ascii, sort_keys);
    w.out
}

fn dump_into(w: &mut Writer, value: &PyJson, ascii: bool, sort_keys: bool) {
    match value {
        PyJson::Null => w.out.push_str("null"),
        PyJson::Bool(b) => w.out.push_str(if *b { "true" } else { "false" }),
        PyJson::Int(i) => w.out.push_str(&i.to_string()),
        PyJson::Float(x) if x.is_nan() => w.out.push_str("NaN"),
        PyJson::Float(x) => write_value(&mut w.out, Some(*x)),
        PyJson::Str(s) => write_string(&mut w.out, s, ascii),
        PyJson::List(items) if items.is_empty() => w.out.push_str("[]"),
        PyJson::List(items) => {
            w.open('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    w.sep();
                }
                dump_into(w, item, ascii, sort_keys);
            }
            w.close(']');
        }
        PyJson::Dict(entries) if entries.is_empty() => w.out.push_str("{}"),
        PyJson::Dict(entries) => {
            let mut order: Vec<&(String, PyJson)> = entries.iter().collect();
            if sort_keys {
                order.sort_by(|a, b| a.0.cmp(&b.0));
            }
            w.open('{');
            for (i, (k, v)) in order.into_iter().enumerate() {
                if i > 0 {
                    w.sep();
                }
                write_string(&mut w.out, k, ascii);
                w.out.push_str(": ");
                dump_into(w, v, ascii, sort_keys);
            }
            w.close('}');
        }
    }
}

#[cfg(test)]
mod dumps_tests {
    use super::*;

    #[test]
    fn dumps_like_python() {
        let v = PyJson::Dict(vec![
            (
                "b".into(),
                PyJson::List(vec![PyJson::Int(1), PyJson::Float(f64::INFINITY)]),
            ),
            ("a".into(), PyJson::Str("é".into())),
            ("c".into(), PyJson::Dict(vec![])),
        ]);
        assert_eq!(
            dumps(&v, false, true, false),
            r#"{"b": [1, 1e9999], "a": "\u00e9", "c": {}}"#
        );
        assert_eq!(
            dumps(&v, false, false, true),
            r#"{"a": "é", "b": [1, 1e9999], "c": {}}"#
        );
        assert_eq!(
            dumps(&PyJson::List(vec![PyJson::Bool(true)]), true, true, false),
            "[\n  true\n]"
        );
    }
}
