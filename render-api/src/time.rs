//! Time grammar of graphite-web (`render/attime.py`), as pure parsers:
//! [`parse_offset`] for intervals (`-1d2h`, `5min`) used by functions and
//! from/until offsets.

use std::fmt;

/// Why a time specification or interval did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeError {
    /// The text that failed.
    pub input: String,
    /// What was wrong with it.
    pub message: String,
}

impl TimeError {
    fn new(input: &str, message: impl Into<String>) -> TimeError {
        TimeError {
            input: input.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid time {:?}: {}", self.input, self.message)
    }
}

impl std::error::Error for TimeError {}

/// Seconds in one unit of an offset, by graphite's prefix rules: `s…`
/// seconds, `min…` minutes, `h…` hours, `d…` days, `w…` weeks, `mon…`
/// months (30 days), `y…` years (365 days). A bare `m` is an error.
fn unit_seconds(unit: &str) -> Option<i64> {
    Some(if unit.starts_with('s') {
        1
    } else if unit.starts_with("min") {
        60
    } else if unit.starts_with('h') {
        3600
    } else if unit.starts_with('d') {
        86_400
    } else if unit.starts_with('w') {
        7 * 86_400
    } else if unit.starts_with("mon") {
        30 * 86_400
    } else if unit.starts_with('y') {
        365 * 86_400
    } else {
        return None;
    })
}

/// Parses an offset such as `-1d2h`, `+5min`, `30s` or `1hour` into signed
/// seconds (`parseTimeOffset`). No sign means `+`; the empty string is 0.
/// Case-sensitive, as graphite's (the from/until parser lowercases first).
pub fn parse_offset(text: &str) -> Result<i64, TimeError> {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Ok(0);
    }
    let (sign, mut rest) = match bytes[0] {
        b'0'..=b'9' => (1, text),
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => {
            return Err(TimeError::new(
                text,
                "an offset starts with +, - or a digit",
            ))
        }
    };
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(TimeError::new(
                text,
                format!("expected a number at {rest:?}"),
            ));
        }
        let num: i64 = rest[..digits]
            .parse()
            .map_err(|_| TimeError::new(text, "number too large"))?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let secs = unit_seconds(unit).ok_or_else(|| {
            TimeError::new(
                text,
                format!("invalid offset unit {unit:?} (use s, min, h, d, w, mon or y)"),
            )
        })?;
        total = num
            .checked_mul(secs)
            .and_then(|s| s.checked_mul(sign))
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| TimeError::new(text, "offset too large"))?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn offsets() {
        for (text, want) in [
            ("", 0),
            ("-", 0),
            ("5min", 300),
            ("-1d2h", -93_600),
            ("+1h", 3600),
            ("1hour", 3600),
            ("30seconds", 30),
            ("2w", 1_209_600),
            ("1mon", 2_592_000),
            ("1y", 31_536_000),
            ("-1months", -2_592_000),
        ] {
            assert_eq!(parse_offset(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn offset_errors() {
        for text in ["1m", "5", "abc", "5 min", "1MIN", "99999999999999999999s"] {
            assert!(parse_offset(text).is_err(), "{text}");
        }
    }

    proptest! {
        #[test]
        fn offset_parser_never_panics(text in "\\PC{0,20}") {
            let _ = parse_offset(&text);
        }
    }
}
