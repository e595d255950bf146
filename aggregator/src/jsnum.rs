//! JavaScript number semantics the reference daemon depends on.
//!
//! Etsy StatsD validates values with `isNaN(str)`, reads them with
//! `Number(str)`, rounds with `Math.round` and writes them to Graphite with
//! `Number.prototype.toString`. Matching the reference byte for byte means
//! matching those three exactly, so they live here, in one place.

/// True for the characters JavaScript's `String.prototype.trim` and `\s`
/// treat as white space (ECMAScript WhiteSpace and LineTerminator).
pub fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// `str.trim()` with JavaScript's notion of white space.
pub fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_space)
}

/// JavaScript `Number(s)` for a string: `None` where JS gives `NaN`.
///
/// Accepts surrounding white space, an optional sign, decimal literals
/// (`5`, `5.`, `.5`, `1e3`), `Infinity`, and unsigned `0x`/`0o`/`0b`
/// literals. A string of only white space is 0, as in JS.
pub fn js_number(s: &str) -> Option<f64> {
    if let Some(v) = short_decimal(s.as_bytes()) {
        return Some(v);
    }
    let t = js_trim(s);
    if t.is_empty() {
        return Some(0.0);
    }
    let b = t.as_bytes();
    if b.len() > 2 && b[0] == b'0' {
        let radix = match b[1] {
            b'x' | b'X' => 16,
            b'o' | b'O' => 8,
            b'b' | b'B' => 2,
            _ => 0,
        };
        if radix != 0 {
            return parse_radix(&t[2..], radix);
        }
    }
    let (negative, unsigned) = match b[0] {
        b'+' => (false, &t[1..]),
        b'-' => (true, &t[1..]),
        _ => (false, t),
    };
    if unsigned == "Infinity" {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if !is_decimal_literal(unsigned.as_bytes()) {
        return None;
    }
    // The grammar is checked above; Rust's parser rounds correctly, as JS does.
    let v: f64 = unsigned.parse().ok()?;
    Some(if negative { -v } else { v })
}

/// Exact powers of ten up to 10^15 (all exactly representable).
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// The common value, `[+-]digits[.digits]` with at most 15 digits, without
/// the general parser. With at most 15 digits the mantissa m is an integer
/// below 2^53 and 10^f (f <= 15) is exact, so the one IEEE division m / 10^f
/// is the correctly rounded value of the text, which is what `Number()`
/// and Rust's parser give. `None`: not of that shape (the caller parses it
/// in full), never "not a number".
pub(crate) fn short_decimal(b: &[u8]) -> Option<f64> {
    let (negative, b) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let mut mantissa = 0u64;
    let mut digits = 0usize;
    let mut frac: Option<usize> = None;
    for &c in b {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                digits += 1;
                if let Some(f) = frac.as_mut() {
                    *f += 1;
                }
            }
            b'.' if frac.is_none() => frac = Some(0),
            _ => return None,
        }
    }
    if digits == 0 || digits > 15 {
        return None;
    }
    // An integer (the usual value) needs no division.
    let v = match frac {
        None | Some(0) => mantissa as f64,
        Some(f) => mantissa as f64 / POW10[f],
    };
    Some(if negative { -v } else { v })
}

/// `digits [. digits?] [exp]` or `. digits [exp]`, exp = `[eE][+-]?digits`.
fn is_decimal_literal(b: &[u8]) -> bool {
    let mut i = 0;
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - s;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    i == b.len()
}

fn parse_radix(digits: &str, radix: u32) -> Option<f64> {
    if digits.is_empty() {
        return None;
    }
    let mut exact: u128 = 0;
    let mut approx = 0f64;
    let mut overflowed = false;
    for c in digits.chars() {
        let d = c.to_digit(radix)?;
        if !overflowed {
            match exact
                .checked_mul(radix as u128)
                .and_then(|v| v.checked_add(d as u128))
            {
                Some(v) => exact = v,
                None => {
                    overflowed = true;
                    approx = exact as f64;
                }
            }
        }
        if overflowed {
            approx = approx * radix as f64 + d as f64;
        }
    }
    Some(if overflowed { approx } else { exact as f64 })
}

/// JavaScript `Math.round`: nearest integer, halves rounded up.
pub fn js_round(x: f64) -> f64 {
    let f = x.floor();
    if x - f >= 0.5 {
        f + 1.0
    } else {
        f
    }
}

/// JavaScript `String(x)` for a number, as Etsy StatsD writes values to
/// Graphite: shortest round-trip digits, no `.0` on integers, exponent
/// form below 1e-6 and from 1e21 (`1e+21`, `1.5e-7`), `-0` as `0`.
pub fn js_format(x: f64) -> String {
    let mut out = String::new();
    js_format_into(x, &mut out);
    out
}

/// [`js_format`] appending to `out`, for callers that build long buffers.
/// Allocates nothing: integers go through `itoa`, other values take their
/// shortest round-trip digits from [`storage::pyfmt::ShortestDigits`]
/// (JavaScript's digits, ties included) laid out as `Number#toString`.
pub fn js_format_into(x: f64, out: &mut String) {
    if x.is_nan() {
        out.push_str("NaN");
        return;
    }
    if x == 0.0 {
        out.push('0');
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    // Integers below 2^53 are exact as i64; the conversion cannot overflow.
    const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;
    if x.fract() == 0.0 && x.abs() < EXACT_INTEGERS {
        out.push_str(itoa::Buffer::new().format(x as i64));
        return;
    }
    if x < 0.0 {
        out.push('-');
    }
    let shortest = storage::pyfmt::ShortestDigits::of(x.abs());
    let (digits, n) = (shortest.as_str(), shortest.point);
    // `n`: where the decimal point goes, counted from the first digit
    // (ECMA-262 Number::toString's n; k is the digit count).
    let k = digits.len() as i32;
    if k <= n && n <= 21 {
        out.push_str(digits);
        for _ in 0..(n - k) {
            out.push('0');
        }
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        for _ in 0..(-n) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = n - 1;
        out.push_str(if e < 0 { "e-" } else { "e+" });
        out.push_str(itoa::Buffer::new().format(e.unsigned_abs()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_accepts_what_js_accepts() {
        let cases: &[(&str, Option<f64>)] = &[
            ("5", Some(5.0)),
            (" 5 ", Some(5.0)),
            ("  ", Some(0.0)),
            ("\u{a0}5", Some(5.0)),
            ("+5", Some(5.0)),
            ("-5", Some(-5.0)),
            ("5.", Some(5.0)),
            (".5e1", Some(5.0)),
            ("1e3", Some(1000.0)),
            ("1E-2", Some(0.01)),
            ("0x10", Some(16.0)),
            ("0X1f", Some(31.0)),
            ("0b11", Some(3.0)),
            ("0o17", Some(15.0)),
            ("00.5", Some(0.5)),
            ("Infinity", Some(f64::INFINITY)),
            ("-Infinity", Some(f64::NEG_INFINITY)),
            ("-0x10", None),
            ("0x", None),
            ("1_0", None),
            ("NaN", None),
            ("inf", None),
            ("infinity", None),
            (".", None),
            ("e5", None),
            ("1e", None),
            ("- 5", None),
            ("abc", None),
            ("5 5", None),
            ("1.2.3", None),
        ];
        for (s, want) in cases {
            assert_eq!(js_number(s), *want, "Number({s:?})");
        }
    }

    /// The digits-only fast path gives what the full grammar gives, up to
    /// the longest run it takes (15 digits) and past it.
    #[test]
    fn digit_fast_path_equals_the_full_parse() {
        for s in [
            "0",
            "7",
            "0012",
            "999999999999999",
            "9999999999999999",
            "123456789012345678901",
        ] {
            assert_eq!(js_number(s), s.parse::<f64>().ok(), "Number({s:?})");
        }
    }

    proptest::proptest! {
        #[test]
        fn digit_runs_parse_as_rust_does(s in "[0-9]{1,20}") {
            proptest::prop_assert_eq!(js_number(&s), s.parse::<f64>().ok());
        }

        /// The short-decimal fast path is bit-identical to the general
        /// parser, signs and -0 included.
        #[test]
        fn short_decimals_parse_as_rust_does(s in "[+-]?[0-9]{0,9}[.]?[0-9]{0,9}") {
            let general = s.parse::<f64>().ok().map(f64::to_bits);
            if let Some(fast) = short_decimal(s.as_bytes()) {
                proptest::prop_assert_eq!(Some(fast.to_bits()), general, "{}", s);
            }
            let want = if s.is_empty() { Some(0f64.to_bits()) } else { general };
            proptest::prop_assert_eq!(js_number(&s).map(f64::to_bits), want, "{}", s);
        }
    }

    #[test]
    fn format_matches_js_to_string() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (5.0, "5"),
            (-5.0, "-5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (50.0 / 3.0, "16.666666666666668"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-7, "1e-7"),
            (1.23e-18, "1.23e-18"),
            (0.000001, "0.000001"),
            (0.0000015, "0.0000015"),
            (2.8722813232690143, "2.8722813232690143"),
            (99.9, "99.9"),
            // A tie at 17 digits (…796.125 exactly): node prints the even digit.
            (233115890514796.13, "233115890514796.12"),
            (f64::INFINITY, "Infinity"),
            (f64::NAN, "NaN"),
        ];
        for (x, want) in cases {
            assert_eq!(js_format(*x), *want, "String({x:?})");
        }
    }

    #[test]
    fn round_halves_up() {
        assert_eq!(js_round(2.5), 3.0);
        assert_eq!(js_round(-2.5), -2.0);
        assert_eq!(js_round(0.49999999999999994), 0.0);
        assert_eq!(js_round(9.99), 10.0);
        assert_eq!(js_round(0.2), 0.0);
    }
}
