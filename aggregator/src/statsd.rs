//! The StatsD line parser: text in, key plus [`Sample`]s or [`ParseError`]s
//! out. Pure: no I/O, no counters, no configuration beyond
//! [`ParseOptions`].
//!
//! It follows Etsy StatsD 0.9.0's `stats.js` step by step (see
//! `docs/statsd.md`): tags after the first `|#`, key before the first `:`,
//! samples split on `:`, fields on `|`, validation on the raw type, dispatch
//! on the trimmed type. Where the reference would crash or write
//! `Infinity`/`NaN` (`@+0.5`, `@ 0.5`, `@Infinity`, `@0`, `@1e-1`,
//! `Infinity` values), the sample is refused with its own error kind.

use std::borrow::Cow;

use crate::error::{ParseError, ParseErrorKind};
use crate::jsnum::{is_js_space, js_number, js_trim, short_decimal};
use crate::sample::Sample;

/// Parser switches taken from the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// Etsy `keyNameSanitize` (default true): clean the whole key, tags
    /// included. When false, names are cleaned only at flush, before the
    /// first `;`, as the reference's Graphite backend does.
    pub sanitize: bool,
    /// Treat `h` and `d` as timers instead of counters (the reference sums
    /// them as counters; off by default).
    pub hd_as_timers: bool,
    /// Put the key's tags in Graphite's canonical form (sorted, bare tags
    /// named, see [`crate::tags`]); off by default (the reference keeps
    /// them as sent).
    pub canonicalize_tags: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            sanitize: true,
            hd_as_timers: false,
            canonicalize_tags: false,
        }
    }
}

/// The non-empty lines of a datagram or TCP chunk, split on `\n` only
/// (`\r` stays part of the line, as in the reference).
pub fn lines(packet: &str) -> impl Iterator<Item = &str> {
    Lines { rest: packet }.filter(|l| !l.is_empty())
}

/// `split('\n')` with a SIMD search: the line splitter runs once per byte
/// of every datagram.
struct Lines<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        match memchr::memchr(b'\n', self.rest.as_bytes()) {
            Some(i) => {
                // `\n` is ASCII: both sides are on character boundaries.
                let line = &self.rest[..i];
                self.rest = &self.rest[i + 1..];
                Some(line)
            }
            None => Some(std::mem::take(&mut self.rest)),
        }
    }
}

/// Byte offset of the first `|#` (DogStatsD tags) in `text`.
fn find_tag_marker(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(1)).find(|&i| b[i] == b'|' && b[i + 1] == b'#')
}

/// What one pass over a line finds: the first `|#`, the first `:` before
/// it, and whether every byte before that `:` is a valid key byte (then
/// sanitizing the name changes nothing).
#[derive(Debug, PartialEq)]
struct Scan {
    tag: Option<usize>,
    colon: Option<usize>,
    clean_name: bool,
}

/// One scalar pass instead of a search per delimiter plus a sanitize pass:
/// lines are a few dozen bytes, shorter than a SIMD search pays back.
fn scan_line(line: &str) -> Scan {
    let b = line.as_bytes();
    let mut colon = None;
    let mut clean_name = true;
    for (i, &c) in b.iter().enumerate() {
        if c == b'|' && b.get(i + 1) == Some(&b'#') {
            return Scan {
                tag: Some(i),
                colon,
                clean_name,
            };
        }
        if colon.is_none() {
            if c == b':' {
                colon = Some(i);
            } else if !is_key_byte(c) {
                clean_name = false;
            }
        }
    }
    Scan {
        tag: None,
        colon,
        clean_name,
    }
}

/// As the reference's `line.split("|#")`, given the first marker at
/// `first`: the body before it and the tags up to the next one (the rest
/// is ignored).
fn split_tags(line: &str, first: Option<usize>) -> (&str, Option<&str>) {
    match first {
        None => (line, None),
        Some(i) => {
            let after = &line[i + 2..];
            let tags = match find_tag_marker(after) {
                Some(j) => &after[..j],
                None => after,
            };
            (&line[..i], Some(tags))
        }
    }
}

/// `text.split_once(c)` for an ASCII `c` (a plain scan: the texts split
/// here are a few bytes long).
fn split_once_byte(text: &str, c: u8) -> Option<(&str, &str)> {
    let i = text.bytes().position(|b| b == c)?;
    Some((&text[..i], &text[i + 1..]))
}

/// One line: its key (tags appended, sanitized) and its sample chunks.
#[derive(Clone, Debug, PartialEq)]
pub struct Line<'a> {
    /// The metric key, `name;tag=value;...`.
    pub key: Cow<'a, str>,
    line: &'a str,
    /// Text after the key's `:` (None when the line has no `:`).
    samples: Option<&'a str>,
    options: ParseOptions,
}

/// Parses one non-empty line into its key and its (lazily parsed) samples.
pub fn parse_line<'a>(line: &'a str, options: &ParseOptions) -> Line<'a> {
    let scan = scan_line(line);
    let (body, tags) = split_tags(line, scan.tag);
    let tags = tags.filter(|t| !t.is_empty());
    let (name, samples) = match scan.colon {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    // The common line: no tags, nothing to clean or reorder.
    if tags.is_none() && !options.canonicalize_tags && (scan.clean_name || !options.sanitize) {
        return Line {
            key: Cow::Borrowed(name),
            line,
            samples,
            options: *options,
        };
    }
    let key: Cow<'a, str> = match tags {
        None => Cow::Borrowed(name),
        Some(tags) => {
            let mut key = String::with_capacity(name.len() + tags.len() + 1);
            key.push_str(name);
            for tag in tags.split(',') {
                key.push(';');
                push_tag(&mut key, tag);
            }
            Cow::Owned(key)
        }
    };
    let key = if options.sanitize {
        match key {
            Cow::Borrowed(k) => sanitize_key(k),
            Cow::Owned(k) => Cow::Owned(sanitize_key(&k).into_owned()),
        }
    } else {
        key
    };
    let key = if options.canonicalize_tags {
        match crate::tags::canonical_key(&key) {
            Some(canonical) => Cow::Owned(canonical),
            None => key,
        }
    } else {
        key
    };
    Line {
        key,
        line,
        samples,
        options: *options,
    }
}

/// What [`parse_plain_line`] read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlainLine<'a> {
    /// The key: the name exactly as sent.
    pub key: &'a str,
    /// The line's one sample.
    pub sample: Sample<'a>,
    /// Bytes of the text the line took, its `\n` included.
    pub len: usize,
}

/// The line nearly every client sends, `name:value|type` with a name of
/// key bytes only, one of the four types exactly, and a short decimal value
/// (or any set member), read in one pass from the start of `text` up to the
/// first `\n` or the end: no search for the line's end first, no field
/// splitting. `None` for every other line, which [`parse_line`] then reads
/// in full; for the lines it accepts, the key and sample are exactly
/// [`parse_line`]'s (a property test holds the two together).
///
/// It reads bytes, not text: a datagram of plain lines needs no UTF-8
/// check first, since the name is made of key bytes (all ASCII), the
/// number of ASCII digits, and a set member is checked on its own.
pub fn parse_plain_line<'a>(b: &'a [u8], options: &ParseOptions) -> Option<PlainLine<'a>> {
    if options.canonicalize_tags {
        return None;
    }
    let name_len = b.iter().position(|&c| !is_key_byte(c))?;
    if name_len == 0 || b[name_len] != b':' {
        return None;
    }
    let value_start = name_len + 1;
    let bar = value_start
        + b[value_start..]
            .iter()
            .position(|&c| matches!(c, b'|' | b':' | b'\n'))?;
    if b[bar] != b'|' {
        return None;
    }
    let (type_len, kind) = match &b[bar + 1..] {
        [b'm', b's', ..] => (2, b'm'),
        [kind @ (b'c' | b'g' | b's'), ..] => (1, *kind),
        _ => return None,
    };
    let end = bar + 1 + type_len;
    let len = match b.get(end) {
        None => end,
        Some(b'\n') => end + 1,
        Some(_) => return None,
    };
    let value = &b[value_start..bar];
    let sample = match kind {
        b'c' => Sample::Counter {
            value: short_decimal(value)?,
            rate: 1.0,
        },
        b'm' => match short_decimal(value)? {
            v if v < 0.0 => return None,
            value => Sample::Timer { value, rate: 1.0 },
        },
        b'g' => Sample::Gauge {
            value: short_decimal(value)?,
            delta: matches!(value.first(), Some(b'+' | b'-')),
        },
        _ => Sample::Set {
            member: set_member(std::str::from_utf8(value).ok()?),
        },
    };
    Some(PlainLine {
        key: key_bytes_as_str(&b[..name_len]),
        sample,
        len,
    })
}

/// A run of key bytes as text, without a UTF-8 check: key bytes are ASCII
/// (checked when `KEY_BYTES` is built).
fn key_bytes_as_str(name: &[u8]) -> &str {
    debug_assert!(name.iter().all(|&c| is_key_byte(c)));
    // SAFETY: `name` holds key bytes only (the caller read it with
    // `is_key_byte`), and every key byte is ASCII, which the const
    // assertion after `KEY_BYTES` proves: ASCII is valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(name) }
}

/// A set sample's member: the value text, `"0"` when empty (the
/// reference's `fields[0] || '0'`).
fn set_member(value_text: &str) -> &str {
    if value_text.is_empty() {
        "0"
    } else {
        value_text
    }
}

/// A DogStatsD tag as the reference appends it: the first `;` becomes `_`,
/// the first `:` becomes `=`.
fn push_tag(out: &mut String, tag: &str) {
    let tag: Cow<'_, str> = match tag.split_once(';') {
        Some((a, b)) => Cow::Owned(format!("{a}_{b}")),
        None => Cow::Borrowed(tag),
    };
    match tag.split_once(':') {
        Some((a, b)) => {
            out.push_str(a);
            out.push('=');
            out.push_str(b);
        }
        None => out.push_str(&tag),
    }
}

/// Etsy's `keyNameSanitize`: white-space runs become `_`, `/` becomes `-`,
/// and every character outside `[A-Za-z0-9_\-.;=]` is dropped.
pub fn sanitize_key(key: &str) -> Cow<'_, str> {
    if key.bytes().all(is_key_byte) {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len());
    let mut in_space = false;
    for c in key.chars() {
        if is_js_space(c) {
            if !in_space {
                out.push('_');
            }
            in_space = true;
            continue;
        }
        in_space = false;
        if c == '/' {
            out.push('-');
        } else if c.is_ascii() && is_key_byte(c as u8) {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_key_byte(b: u8) -> bool {
    KEY_BYTES[usize::from(b)]
}

/// `[A-Za-z0-9_\-.;=]` as a table: every key byte is tested once.
static KEY_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b';' | b'=');
        b += 1;
    }
    t
};

// Key bytes are ASCII: `key_bytes_as_str` relies on it.
const _: () = {
    let mut b = 128;
    while b < 256 {
        assert!(!KEY_BYTES[b]);
        b += 1;
    }
};

impl<'a> Line<'a> {
    /// The samples of the line, in order. A line without `:` yields one
    /// [`ParseErrorKind::MissingType`] error (the reference's phantom `"1"`).
    pub fn samples(&self) -> Samples<'a> {
        Samples {
            rest: self.samples,
            no_colon: self.samples.is_none(),
            line: self.line,
            options: self.options,
        }
    }
}

/// Iterator over the samples of one [`Line`].
#[derive(Clone, Debug)]
pub struct Samples<'a> {
    rest: Option<&'a str>,
    no_colon: bool,
    line: &'a str,
    options: ParseOptions,
}

impl<'a> Iterator for Samples<'a> {
    type Item = Result<Sample<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.no_colon {
            self.no_colon = false;
            return Some(Err(ParseError::new(ParseErrorKind::MissingType, self.line)));
        }
        let rest = self.rest?;
        let chunk = match split_once_byte(rest, b':') {
            Some((chunk, tail)) => {
                self.rest = Some(tail);
                chunk
            }
            None => {
                self.rest = None;
                rest
            }
        };
        Some(parse_sample(chunk, &self.options))
    }
}

/// `isNumber` of the reference: non-empty and not `NaN` for `Number()`.
fn numeric(text: &str) -> Option<f64> {
    if text.is_empty() {
        None
    } else {
        js_number(text)
    }
}

/// Parses one `value|type[|@rate][|ignored...]` chunk.
pub fn parse_sample<'a>(chunk: &'a str, options: &ParseOptions) -> Result<Sample<'a>, ParseError> {
    let err = |kind| Err(ParseError::new(kind, chunk));
    // The first three `|`-separated fields; any further ones are ignored.
    let Some((value_text, after_value)) = split_once_byte(chunk, b'|') else {
        return err(ParseErrorKind::MissingType);
    };
    let (raw_type, rate_field) = match split_once_byte(after_value, b'|') {
        None => (after_value, None),
        Some((raw_type, rest)) => (
            raw_type,
            Some(split_once_byte(rest, b'|').map_or(rest, |(rate, _)| rate)),
        ),
    };

    // 1. The reference's validity rules, on the raw (untrimmed) type.
    // The rate's text with its full `Number()` value, read once.
    let rate_text = match rate_field {
        None => None,
        Some(r) => match r.strip_prefix('@') {
            Some(t) if !t.is_empty() && !t.starts_with('-') => match numeric(t) {
                Some(full) => Some((t, full)),
                None => return err(ParseErrorKind::BadSampleRate),
            },
            _ => return err(ParseErrorKind::BadSampleRate),
        },
    };
    let value = match raw_type {
        "s" => None,
        "ms" => match numeric(value_text) {
            None => return err(ParseErrorKind::BadValue),
            Some(v) if v < 0.0 => return err(ParseErrorKind::NegativeTimer),
            Some(v) => Some(v),
        },
        _ => match numeric(value_text) {
            None => return err(ParseErrorKind::BadValue),
            Some(v) => Some(v),
        },
    };

    // 2. The rate as the reference reads it (`^@([\d.]+)`), refused where
    //    that reading crashes or differs from the number written.
    let rate = match rate_text {
        None => 1.0,
        Some((t, full)) => {
            let digits = t
                .bytes()
                .take_while(|b| b.is_ascii_digit() || *b == b'.')
                .count();
            if digits == 0 {
                return err(ParseErrorKind::UnreadableSampleRate);
            }
            // The usual rate is all digits and dots: then what the
            // reference reads is the whole text, already parsed.
            let read = if digits == t.len() {
                Some(full)
            } else {
                js_number(&t[..digits])
            };
            if read != Some(full) {
                return err(ParseErrorKind::UnreadableSampleRate);
            }
            match read {
                Some(r) if r > 0.0 && (1.0 / r).is_finite() => r,
                Some(_) => return err(ParseErrorKind::ZeroSampleRate),
                None => return err(ParseErrorKind::UnreadableSampleRate),
            }
        }
    };

    // 3. Dispatch on the trimmed type.
    let kind = js_trim(raw_type);
    if kind == "s" {
        return Ok(Sample::Set {
            member: set_member(value_text),
        });
    }
    let Some(value) = value.or_else(|| numeric(value_text)) else {
        return err(ParseErrorKind::BadValue);
    };
    if !value.is_finite() || !(value * (1.0 / rate)).is_finite() {
        return err(ParseErrorKind::NonFiniteValue);
    }
    Ok(match kind {
        "ms" => Sample::Timer { value, rate },
        "h" | "d" if options.hd_as_timers => Sample::Timer { value, rate },
        "g" => Sample::Gauge {
            value,
            delta: value_text.starts_with(['+', '-']),
        },
        _ => Sample::Counter { value, rate },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ParseErrorKind as K;

    type Parsed = (String, Vec<Result<String, K>>);

    fn parse(line: &str) -> Parsed {
        let l = parse_line(line, &ParseOptions::default());
        let samples = l
            .samples()
            .map(|s| match s {
                Ok(Sample::Counter { value, rate }) => Ok(format!("c {value} @{rate}")),
                Ok(Sample::Timer { value, rate }) => Ok(format!("ms {value} @{rate}")),
                Ok(Sample::Gauge { value, delta }) => Ok(format!("g {value} delta={delta}")),
                Ok(Sample::Set { member }) => Ok(format!("s {member:?}")),
                Err(e) => Err(e.kind),
            })
            .collect();
        (l.key.into_owned(), samples)
    }

    /// One line per case: input, key, samples.
    macro_rules! parses_to {
        ($($name:ident: $line:expr => $key:expr, [$($s:expr),*];)*) => {$(
            #[test]
            fn $name() {
                let want: Vec<Result<String, K>> = vec![$($s.into()),*];
                assert_eq!(parse($line), ($key.to_string(), want), "line {:?}", $line);
            }
        )*};
    }

    fn ok(s: &str) -> Result<String, K> {
        Ok(s.to_string())
    }

    parses_to! {
        counter: "a:1|c" => "a", [ok("c 1 @1")];
        sampled_counter: "a:1|c|@0.1" => "a", [ok("c 1 @0.1")];
        rate_leading_dot: "a:1|c|@.5" => "a", [ok("c 1 @0.5")];
        rate_exponent_read_correctly: "a:1|c|@1e0" => "a", [ok("c 1 @1")];
        rate_misread_by_reference: "a:1|c|@1e-1" => "a", [Err(K::UnreadableSampleRate)];
        rate_plus: "a:1|c|@+0.5" => "a", [Err(K::UnreadableSampleRate)];
        rate_space: "a:1|c|@ 0.5" => "a", [Err(K::UnreadableSampleRate)];
        rate_infinity: "a:1|c|@Infinity" => "a", [Err(K::UnreadableSampleRate)];
        rate_zero: "a:1|c|@0" => "a", [Err(K::ZeroSampleRate)];
        rate_negative: "a:1|c|@-0.5" => "a", [Err(K::BadSampleRate)];
        rate_without_at: "a:1|c|0.1" => "a", [Err(K::BadSampleRate)];
        rate_empty: "a:1|c|" => "a", [Err(K::BadSampleRate)];
        unknown_type_is_counter: "a:2|d" => "a", [ok("c 2 @1")];
        trimmed_type: "a:1| c" => "a", [ok("c 1 @1")];
        hex_value: "a:0x10|c" => "a", [ok("c 16 @1")];
        whitespace_value: "a:  |c" => "a", [ok("c 0 @1")];
        timer: "t:1.5|ms" => "t", [ok("ms 1.5 @1")];
        negative_timer: "t:-1|ms" => "t", [Err(K::NegativeTimer)];
        untrimmed_timer_type: "t:-1|ms " => "t", [ok("ms -1 @1")];
        signed_gauge_delta: "g:-5|g" => "g", [ok("g -5 delta=true")];
        space_before_sign: "g: -5|g" => "g", [ok("g -5 delta=false")];
        bad_gauge: "g:- 5|g" => "g", [Err(K::BadValue)];
        set_member: "s:abc|s" => "s", [ok("s \"abc\"")];
        empty_set_member: "s:|s" => "s", [ok("s \"0\"")];
        set_with_cr_needs_number: "s:abc|s\r" => "s", [Err(K::BadValue)];
        set_with_cr_number: "s:5|s\r" => "s", [ok("s \"5\"")];
        multi_value: "m:1|c:2|ms" => "m", [ok("c 1 @1"), ok("ms 2 @1")];
        dogstatsd_packing: "m:1:2:3|d" => "m", [Err(K::MissingType), Err(K::MissingType), ok("c 3 @1")];
        no_colon: "nocolon" => "nocolon", [Err(K::MissingType)];
        empty_value: "e:|c" => "e", [Err(K::BadValue)];
        nan_value: "e:NaN|c" => "e", [Err(K::BadValue)];
        infinite_value: "e:Infinity|c" => "e", [Err(K::NonFiniteValue)];
        overflowing_value: "e:1e400|g" => "e", [Err(K::NonFiniteValue)];
        tags: "t:1|c|#env:prod,region:eu" => "t;env=prod;region=eu", [ok("c 1 @1")];
        bare_tag: "t:1|c|#bare" => "t;bare", [ok("c 1 @1")];
        empty_tag_value: "t:1|c|#k:" => "t;k=", [ok("c 1 @1")];
        tag_semicolon_and_colons: "t:1|c|#k;x:v:w" => "t;k_x=vw", [ok("c 1 @1")];
        empty_tag_list: "t:1|c|#" => "t", [ok("c 1 @1")];
        tags_not_last: "t:1|#a:b|@0.5" => "t;a=b0.5", [Err(K::MissingType)];
        sanitized_key: "sp ace/sl ash@#$x:1|c" => "sp_ace-sl_ashx", [ok("c 1 @1")];
        non_ascii_key: "h\u{e9}llo:1|c" => "hllo", [ok("c 1 @1")];
        empty_key: "@@@:2|c" => "", [ok("c 2 @1")];
    }

    #[test]
    fn unsanitized_keys_are_left_alone() {
        let opts = ParseOptions {
            sanitize: false,
            hd_as_timers: true,
            canonicalize_tags: false,
        };
        let l = parse_line("a b/c:1|h|#k:v", &opts);
        assert_eq!(l.key, "a b/c;k=v");
        assert_eq!(
            l.samples().collect::<Vec<_>>(),
            vec![Ok(Sample::Timer {
                value: 1.0,
                rate: 1.0
            })]
        );
    }

    #[test]
    fn canonical_tags_option() {
        let opts = ParseOptions {
            canonicalize_tags: true,
            ..ParseOptions::default()
        };
        for (line, key) in [
            ("x:1|c|#b:2,a:1", "x;a=1;b=2"),
            ("x;b=2;a=1:1|c", "x;a=1;b=2"),
            ("x:1|c|#env:prod,canary", "x;env=prod;unnamed=canary"),
            ("x:1|c|#k:v,k:w", "x;k=w"),
            ("x:1|c|#b:,a:1", "x;b=;a=1"),
            ("x:1|c", "x"),
        ] {
            assert_eq!(parse_line(line, &opts).key, key, "{line}");
        }
        // off (the default): as the reference
        assert_eq!(
            parse_line("x:1|c|#b:2,a:1", &ParseOptions::default()).key,
            "x;b=2;a=1"
        );
    }

    #[test]
    fn lines_skip_empty_and_keep_cr() {
        let got: Vec<&str> = lines("a:1|c\r\n\nb:2|c\n").collect();
        assert_eq!(got, vec!["a:1|c\r", "b:2|c"]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let text = String::from_utf8_lossy(&bytes);
            for opts in [ParseOptions::default(), ParseOptions { sanitize: false, hd_as_timers: true, canonicalize_tags: true }] {
                for line in lines(&text) {
                    let l = parse_line(line, &opts);
                    for s in l.samples() {
                        if let Ok(Sample::Counter { value, rate } | Sample::Timer { value, rate }) = s {
                            proptest::prop_assert!(value.is_finite() && rate > 0.0);
                        }
                    }
                }
            }
        }

        #[test]
        fn fast_splitters_equal_std_split(text in "[a:|#\n\r /]{0,40}") {
            let want: Vec<&str> = text.split('\n').filter(|l| !l.is_empty()).collect();
            proptest::prop_assert_eq!(lines(&text).collect::<Vec<_>>(), want);
            let mut pieces = text.split("|#");
            let want = (pieces.next().unwrap_or(""), pieces.next());
            let scan = scan_line(&text);
            proptest::prop_assert_eq!(split_tags(&text, scan.tag), want);
            proptest::prop_assert_eq!(scan.colon, want.0.find(':'));
            let name = want.0.split(':').next().unwrap_or("");
            proptest::prop_assert_eq!(scan.clean_name, name.bytes().all(is_key_byte));
            proptest::prop_assert_eq!(split_once_byte(&text, b':'), text.split_once(':'));
            let fields: Vec<&str> = text.splitn(4, '|').collect();
            let parsed = split_once_byte(&text, b'|').map(|(v, rest)| match split_once_byte(rest, b'|') {
                None => vec![v, rest],
                Some((t, r)) => vec![v, t, split_once_byte(r, b'|').map_or(r, |(x, _)| x)],
            });
            if fields.len() >= 2 {
                proptest::prop_assert_eq!(parsed.as_deref(), Some(&fields[..fields.len().min(3)]));
            } else {
                proptest::prop_assert_eq!(parsed, None);
            }
        }

        #[test]
        fn plain_lines_parse_as_the_full_parser_does(
            line in "[a-z.:|@#;= \\-+0-9eIcgmsx\r\u{e9}]{0,24}|[a-z.]{0,6}:[+-]?[0-9]{0,17}[.]?[0-9]{0,3}[|](c|ms|g|s|h|c |ms\\|@0.5)",
            next in "(\n[a-z:|0-9]{0,5})?",
        ) {
            // The line is read from the start of a text that may go on.
            let text = format!("{line}{next}");
            let line = text.split('\n').next().unwrap_or("");
            let mut accepted = false;
            for opts in [
                ParseOptions::default(),
                ParseOptions { sanitize: false, hd_as_timers: true, canonicalize_tags: false },
                ParseOptions { canonicalize_tags: true, ..ParseOptions::default() },
            ] {
                let Some(PlainLine { key, sample, len }) = parse_plain_line(text.as_bytes(), &opts) else { continue };
                accepted = true;
                proptest::prop_assert_eq!(len, (line.len() + 1).min(text.len()));
                let full = parse_line(line, &opts);
                proptest::prop_assert_eq!(&*full.key, key);
                let samples: Vec<_> = full.samples().collect();
                proptest::prop_assert_eq!(samples.len(), 1);
                // -0 and 0 compare equal as floats; their bits differ.
                let bits = |s: &Sample<'_>| match *s {
                    Sample::Counter { value, .. } | Sample::Timer { value, .. } | Sample::Gauge { value, .. } => Some(value.to_bits()),
                    Sample::Set { .. } => None,
                };
                proptest::prop_assert_eq!(samples[0].as_ref().ok().and_then(bits), bits(&sample));
                proptest::prop_assert_eq!(&samples[0], &Ok(sample));
            }
            // The plain shape itself is always taken.
            let short_decimal_text = |v: &str| {
                let unsigned = v.strip_prefix(['+', '-']).unwrap_or(v);
                let digits = unsigned.bytes().filter(u8::is_ascii_digit).count();
                unsigned.bytes().all(|c| c.is_ascii_digit() || c == b'.')
                    && unsigned.matches('.').count() <= 1
                    && (1..=15).contains(&digits)
            };
            let negative = |v: &str| v.starts_with('-') && v.bytes().any(|c| (b'1'..=b'9').contains(&c));
            let plain = line.split_once(':').is_some_and(|(name, rest)| {
                !name.is_empty()
                    && name.bytes().all(is_key_byte)
                    && rest.split_once('|').is_some_and(|(v, t)| {
                        !v.contains(':')
                            && match t {
                                "s" => true,
                                "c" | "g" => short_decimal_text(v),
                                "ms" => short_decimal_text(v) && !negative(v),
                                _ => false,
                            }
                    })
            });
            proptest::prop_assert_eq!(accepted, plain, "{:?}", line);
        }

        #[test]
        fn statsd_shaped_text_never_panics(line in "[a-z.:|@#,;= \\-+0-9eIxnf]{0,40}") {
            let l = parse_line(&line, &ParseOptions::default());
            let _ = l.samples().count();
            proptest::prop_assert!(l.key.bytes().all(is_key_byte));
        }
    }
}
