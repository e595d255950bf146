//! carbon's plaintext protocol: `path value timestamp`, one per line. Pure:
//! bytes in, a point or a typed error out; no I/O, no counters.
//!
//! Rules (carbon 1.1 `MetricLineReceiver` + `metricReceived`): the line is
//! stripped and split on whitespace into exactly three fields; value and
//! timestamp parse as Python floats (`1e3`, `inf`, `1_000` accepted); a NaN
//! value is dropped silently; a timestamp whose integer part is −1 means
//! "now"; the timestamp is truncated to whole seconds as whisper does.

use std::fmt;

/// Longest line accepted (Twisted's LineOnlyReceiver default).
pub const MAX_LINE_LENGTH: usize = 16_384;

/// One parsed line.
#[derive(Clone, Debug, PartialEq)]
pub enum Parsed {
    /// A point: name, timestamp (seconds), value.
    Point(String, i64, f64),
    /// A NaN value: carbon drops it without a word.
    NanDropped,
    /// An empty line.
    Blank,
}

/// Why a line was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineErrorKind {
    /// Not exactly three whitespace-separated fields.
    FieldCount,
    /// The value is not a number.
    BadValue,
    /// The timestamp is not a finite number.
    BadTimestamp,
    /// Not valid UTF-8.
    NotUtf8,
    /// Longer than [`MAX_LINE_LENGTH`].
    TooLong,
}

/// A refused line with an excerpt for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// What is wrong.
    pub kind: LineErrorKind,
    /// The line, cut to 400 characters (as carbon logs it).
    pub excerpt: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            LineErrorKind::FieldCount => "expected \"path value timestamp\"",
            LineErrorKind::BadValue => "value is not a number",
            LineErrorKind::BadTimestamp => "timestamp is not a finite number",
            LineErrorKind::NotUtf8 => "not valid UTF-8",
            LineErrorKind::TooLong => "line too long",
        };
        write!(f, "{what}: [{}]", self.excerpt)
    }
}

impl std::error::Error for LineError {}

/// At most 400 characters of `text`, with `...` when cut.
pub fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(400).collect();
    if out.len() < text.len() {
        out.push_str("...");
    }
    out.escape_debug().to_string()
}

/// Python's `float(str)`: Rust's parser plus underscores between digits.
pub fn py_float(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.contains('_') {
        let b = t.as_bytes();
        for (i, &c) in b.iter().enumerate() {
            if c == b'_' {
                let ok = i > 0
                    && i + 1 < b.len()
                    && b[i - 1].is_ascii_digit()
                    && b[i + 1].is_ascii_digit();
                if !ok {
                    return None;
                }
            }
        }
        return t.replace('_', "").parse().ok();
    }
    if t.is_empty() {
        return None;
    }
    t.parse().ok()
}

/// Parses one line (without its `\n`). `now` replaces a `-1` timestamp.
pub fn parse_line(line: &[u8], now: i64) -> Result<Parsed, LineError> {
    if line.len() > MAX_LINE_LENGTH {
        return Err(LineError {
            kind: LineErrorKind::TooLong,
            excerpt: excerpt(&String::from_utf8_lossy(&line[..400.min(line.len())])),
        });
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return Err(LineError {
            kind: LineErrorKind::NotUtf8,
            excerpt: excerpt(&String::from_utf8_lossy(line)),
        });
    };
    let mut fields = text.split_whitespace();
    let (Some(path), Some(value), Some(ts), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        if text.trim().is_empty() {
            return Ok(Parsed::Blank);
        }
        return Err(LineError {
            kind: LineErrorKind::FieldCount,
            excerpt: excerpt(text.trim()),
        });
    };
    let err = |kind| LineError {
        kind,
        excerpt: excerpt(text.trim()),
    };
    // carbon converts the timestamp first, then the value
    let timestamp = py_float(ts).ok_or_else(|| err(LineErrorKind::BadTimestamp))?;
    let value = py_float(value).ok_or_else(|| err(LineErrorKind::BadValue))?;
    if value.is_nan() {
        return Ok(Parsed::NanDropped);
    }
    resolve_timestamp(timestamp, now)
        .map(|t| Parsed::Point(path.to_string(), t, value))
        .ok_or_else(|| err(LineErrorKind::BadTimestamp))
}

/// carbon's timestamp rules: integer part −1 means now; whisper truncates
/// to whole seconds. Non-finite timestamps are refused (carbon would raise).
pub fn resolve_timestamp(timestamp: f64, now: i64) -> Option<i64> {
    if !timestamp.is_finite() {
        return None;
    }
    let whole = timestamp.trunc();
    if whole == -1.0 {
        return Some(now);
    }
    if whole.abs() > 1e15 {
        return None;
    }
    Some(whole as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test per `name: line => expected parse` (with `now` = 1000).
    macro_rules! parses_to {
        ($($name:ident: $line:expr => $expected:expr,)*) => {
            $(
                #[test]
                fn $name() {
                    assert_eq!(parse_line($line.as_bytes(), 1_000), $expected);
                }
            )*
        };
    }

    fn point(name: &str, t: i64, v: f64) -> Result<Parsed, LineError> {
        Ok(Parsed::Point(name.into(), t, v))
    }

    fn bad(kind: LineErrorKind) -> impl Fn(Result<Parsed, LineError>) -> bool {
        move |r| matches!(r, Err(e) if e.kind == kind)
    }

    parses_to! {
        simple: "a.b.c 1.5 1700000000" => point("a.b.c", 1_700_000_000, 1.5),
        extra_whitespace: "  a.b \t 2   17 \r" => point("a.b", 17, 2.0),
        minus_one_is_now: "a 1 -1" => point("a", 1_000, 1.0),
        minus_one_and_a_half_is_now: "a 1 -1.5" => point("a", 1_000, 1.0),
        fractional_timestamp_truncates: "a 1 17.9" => point("a", 17, 1.0),
        exponent_value: "a 1e3 5" => point("a", 5, 1000.0),
        infinity_value: "a -inf 5" => point("a", 5, f64::NEG_INFINITY),
        underscores: "a 1_000 5" => point("a", 5, 1000.0),
        nan_is_dropped: "a nan 5" => Ok(Parsed::NanDropped),
        blank: "   " => Ok(Parsed::Blank),
        tagged_name: "a;x=y 1 5" => point("a;x=y", 5, 1.0),
    }

    #[test]
    fn refusals() {
        assert!(bad(LineErrorKind::FieldCount)(parse_line(b"a 1", 0)));
        assert!(bad(LineErrorKind::FieldCount)(parse_line(b"a 1 2 3", 0)));
        assert!(bad(LineErrorKind::BadValue)(parse_line(b"a x 2", 0)));
        assert!(bad(LineErrorKind::BadValue)(parse_line(b"a 1__0 2", 0)));
        assert!(bad(LineErrorKind::BadTimestamp)(parse_line(b"a 1 inf", 0)));
        assert!(bad(LineErrorKind::BadTimestamp)(parse_line(b"a 1 nan", 0)));
        assert!(bad(LineErrorKind::NotUtf8)(parse_line(b"a\xff 1 2", 0)));
        assert!(bad(LineErrorKind::TooLong)(parse_line(
            &vec![b'a'; MAX_LINE_LENGTH + 1],
            0
        )));
        let e = parse_line(format!("{} 1", "x".repeat(500)).as_bytes(), 0).unwrap_err();
        assert!(e.excerpt.ends_with("...") && e.excerpt.len() == 403);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(line in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_line(&line, 0);
        }

        #[test]
        fn printed_points_parse_back(name in "[a-z][a-z0-9_.]{0,30}", v in -1e12f64..1e12, t in 0i64..4_000_000_000) {
            let line = format!("{name} {v} {t}");
            proptest::prop_assert_eq!(parse_line(line.as_bytes(), 0), Ok(Parsed::Point(name, t, v)));
        }
    }
}
