//! Python's float formatting, reproduced because the tools and servers we
//! replace print with it: graphite-web's series names use `%g`
//! (`scale(a.b,0.5)`), its tags and names `str()` of floats
//! (`movingAverage(a.b,5)` vs `...,5.0)`), its JSON, raw and CSV formats
//! `repr()` (`1.0`, `1e-05`); the `whisper-*.py` tools print `repr()` and
//! `'%.35g'`. One implementation for the whole workspace: the render API
//! re-exports it.

/// `repr(x)` / `str(x)` of a Python float: the shortest digits that read
/// back as `x`, in fixed notation when the decimal exponent is in -4..16,
/// else `d.ddde+XX`; integral values keep a trailing `.0`.
pub fn float_repr(x: f64) -> String {
    let mut out = String::new();
    push_float_repr(&mut out, x);
    out
}

/// Appends [`float_repr`]`(x)` to `out` without allocating in the common
/// range (what the JSON, CSV and raw formats do per value).
pub fn push_float_repr(out: &mut String, x: f64) {
    let a = x.abs();
    if x.is_finite() && (1e-4..1e16).contains(&a) {
        // In this range ryu lays the shortest digits out as Python's repr
        // does (fixed notation, `.0` on integers); the check keeps that
        // promise should its layout ever change.
        let start = out.len();
        out.push_str(ryu::Buffer::new().format_finite(x));
        if !out[start..].contains('.') {
            out.push_str(".0");
        }
        return;
    }
    out.push_str(&float_repr_slow(x));
}

fn float_repr_slow(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let shortest = ShortestDigits::of(x.abs());
    let (digits, exp) = (shortest.as_str(), shortest.point - 1);
    let mut out = String::new();
    if x < 0.0 {
        out.push('-');
    }
    if !(-4..16).contains(&exp) {
        push_scientific(&mut out, digits, exp);
    } else {
        push_fixed(&mut out, digits, exp, true);
    }
    out
}

/// The shortest decimal digits that read back as a finite positive `x`,
/// without leading or trailing zeros, on the stack; `point` is where the
/// decimal point goes counted from the first digit (`12.5`: `125`, 2;
/// `0.003`: `3`, -2).
///
/// Python's `repr` and JavaScript's `String()` agree on these digits, also
/// when `x` lies exactly halfway between two shortest candidates: both
/// take the even last digit (`233115890514796.125` prints `...796.12`).
/// Rust's own formatter takes the upper one there, so the digits come
/// from ryu, which rounds as they do.
pub struct ShortestDigits {
    bytes: [u8; 24],
    len: usize,
    /// Position of the decimal point after the first `point` digits
    /// (zero or negative: that many zeros come before the first digit).
    pub point: i32,
}

impl ShortestDigits {
    /// Reads the digits from ryu's text (`123.45`, `0.001`, `1.5e-7`,
    /// `1e21`).
    pub fn of(x: f64) -> ShortestDigits {
        let mut ryu_buffer = ryu::Buffer::new();
        let text = ryu_buffer.format_finite(x);
        let (mantissa, exponent) = match text.split_once('e') {
            Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
            None => (text, 0),
        };
        let mut digits = ShortestDigits {
            bytes: [0; 24],
            len: 0,
            point: 0,
        };
        let mut seen_point = false;
        for b in mantissa.bytes() {
            match b {
                b'.' => seen_point = true,
                // A leading zero after the point moves it left; one before
                // it (the `0` of `0.001`) is no digit.
                b'0' if digits.len == 0 && seen_point => digits.point -= 1,
                b'0' if digits.len == 0 => {}
                b'0'..=b'9' if digits.len < digits.bytes.len() => {
                    digits.bytes[digits.len] = b;
                    digits.len += 1;
                    if !seen_point {
                        digits.point += 1;
                    }
                }
                _ => {}
            }
        }
        while digits.len > 1 && digits.bytes[digits.len - 1] == b'0' {
            digits.len -= 1;
        }
        digits.point += exponent;
        digits
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits were stored.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("0")
    }
}

/// Python's `'%g' % x` (6 significant digits, trailing zeros removed).
pub fn format_g(x: f64) -> String {
    format_g_precision(x, 6)
}

/// Python's `'%.<precision>g' % x`.
pub fn format_g_precision(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let p = precision.max(1);
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (negative, digits, exp) = sci_parts(&format!("{:.*e}", p - 1, x));
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if exp < -4 || exp >= p as i32 {
        push_scientific(&mut out, digits, exp);
    } else {
        push_fixed(&mut out, digits, exp, false);
    }
    out
}

/// Python's `'%.<decimals>f' % x`.
pub fn format_f(x: f64, decimals: usize) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    format!("{x:.decimals$}")
}

/// Splits Rust's `{:e}` output (`-1.25e-3`) into sign, digits (`125`) and
/// the decimal exponent of the first digit (`-3`).
fn sci_parts(s: &str) -> (bool, String, i32) {
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    (negative, digits, exp.parse().unwrap_or(0))
}

/// Lays out `d.igits × 10^exp` as Python does: `d.igitse±XX`.
fn push_scientific(out: &mut String, digits: &str, exp: i32) {
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    push_exponent(out, exp);
}

fn push_exponent(out: &mut String, exp: i32) {
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    out.push_str(&a.to_string());
}

/// Lays out `0.digits × 10^(exp+1)` in fixed notation.
fn push_fixed(out: &mut String, digits: &str, exp: i32, keep_dot_zero: bool) {
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
        return;
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        out.push_str(digits);
        for _ in digits.len()..int_len {
            out.push('0');
        }
        if keep_dot_zero {
            out.push_str(".0");
        }
    } else {
        out.push_str(&digits[..int_len]);
        out.push('.');
        out.push_str(&digits[int_len..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_matches_python() {
        for (x, want) in [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123.456, "123.456"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.5e300, "1.5e+300"),
            (2.5e-7, "2.5e-07"),
            (100.5, "100.5"),
            (0.0, "0.0"),
            (1e-4, "0.0001"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.00012345, "0.00012345"),
            (123456.0, "123456.0"),
            // Exactly halfway between two 17-digit decimals: Python takes
            // the even digit (Rust's formatter printed ...796.13).
            (233115890514796.13, "233115890514796.12"),
            (6.0221e-30 * 0.5, "3.01105e-30"),
        ] {
            assert_eq!(float_repr(x), want, "{x}");
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_repr_agrees_with_the_general_one(x in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO) {
            let mut fast = String::new();
            push_float_repr(&mut fast, x);
            proptest::prop_assert_eq!(fast, float_repr_slow(x));
        }

        #[test]
        fn fast_repr_agrees_in_the_fixed_range(x in 1e-4f64..1e16) {
            let mut fast = String::new();
            push_float_repr(&mut fast, x);
            proptest::prop_assert_eq!(fast, float_repr_slow(x));
        }

        /// Rust's `{:e}` digits are the shortest too; they differ only
        /// where `x` lies halfway between two shortest candidates (Rust
        /// rounds up, ryu to even, as Python's repr and JavaScript do: both
        /// are checked against the real ones in the e2e tests).
        #[test]
        fn shortest_digits_are_rusts_but_on_ties(
            x in proptest::prop_oneof![
                proptest::num::f64::POSITIVE | proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL,
                // Binary fractions of large values: many 17-digit ties.
                proptest::strategy::Strategy::prop_map(0u64..1 << 53, |n| n as f64 / 8.0 + 0.125),
            ],
        ) {
            let x = x.abs();
            proptest::prop_assume!(x.is_finite() && x > 0.0);
            let shortest = ShortestDigits::of(x);
            let (_, std_digits, std_exp) = sci_parts(&format!("{x:e}"));
            if (shortest.as_str(), shortest.point) != (std_digits.as_str(), std_exp + 1) {
                proptest::prop_assert_eq!(shortest.as_str().len(), std_digits.len());
                let printed = format!("0.{}e{}", shortest.as_str(), shortest.point);
                proptest::prop_assert_eq!(printed.parse::<f64>().ok(), Some(x));
            }
        }
    }

    /// What the whisper tools print: `repr()` of the xFilesFactor (a
    /// float32 widened) and `'%.35g'` of the dumped values.
    #[test]
    fn whisper_tool_formats_match_python() {
        assert_eq!(float_repr(0.5), "0.5");
        assert_eq!(float_repr(1.0), "1.0");
        assert_eq!(float_repr(f64::from(0.1f32)), "0.10000000149011612");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1e15), "1000000000000000.0");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(0.00001), "1e-05");
        assert_eq!(float_repr(-2.5e-7), "-2.5e-07");
        assert_eq!(format_g_precision(0.5, 6), "0.5");
        assert_eq!(format_g_precision(0.0, 35), "0");
        assert_eq!(
            format_g_precision(0.1, 35),
            "0.1000000000000000055511151231257827"
        );
        assert_eq!(format_g_precision(1e20, 6), "1e+20");
        assert_eq!(format_g_precision(123456.0, 6), "123456");
        assert_eq!(format_g_precision(1234567.0, 6), "1.23457e+06");
    }

    #[test]
    fn percent_g_matches_python() {
        for (x, want) in [
            (2.0, "2"),
            (0.5, "0.5"),
            (10.0, "10"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.23457e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-3.25, "-3.25"),
            (1.0 / 3.0, "0.333333"),
            (0.0, "0"),
        ] {
            assert_eq!(format_g(x), want, "{x}");
        }
    }
}
