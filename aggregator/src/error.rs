//! Errors: why a StatsD sample was refused ([`ParseError`]) and why a
//! configuration was refused ([`ConfigError`]).

use std::fmt;

/// A sample the parser refused. Its neighbours in the same line or
/// datagram are unaffected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Why.
    pub kind: ParseErrorKind,
    /// The offending sample text, cut to at most 64 bytes.
    pub excerpt: String,
}

/// The reasons a sample is refused. Each is a separate self-metric label
/// (`bad_lines{reason="..."}`), named by [`ParseErrorKind::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// No `|type` field (`foo:1`, `foo`, DogStatsD `a:1:2|c` packing).
    MissingType,
    /// The value is not a number JavaScript's `Number()` reads (`abc`,
    /// `NaN`, empty) for a counter, timer or gauge.
    BadValue,
    /// A timer (`ms`) with a negative value.
    NegativeTimer,
    /// The third field is not `@` followed by a non-negative number
    /// (`|@-0.5`, `|@`, `|0.1`, `|@0.5.5`); the reference refuses it too.
    BadSampleRate,
    /// A rate the reference accepts but cannot read (`@+0.5`, `@ 0.5`,
    /// `@Infinity`: the reference crashes) or reads as another number
    /// (`@1e-1` read as 1, `@0x10` read as 0). Refused here instead.
    UnreadableSampleRate,
    /// `@0`: the reference multiplies by `1/0` and writes `Infinity`.
    ZeroSampleRate,
    /// `Infinity` or a value too large for a double: the reference would
    /// write `Infinity`/`NaN` to Graphite.
    NonFiniteValue,
    /// A TCP line longer than the configured limit (discarded up to its
    /// newline).
    LineTooLong,
}

impl ParseErrorKind {
    /// The label used in self-metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ParseErrorKind::MissingType => "missing_type",
            ParseErrorKind::BadValue => "bad_value",
            ParseErrorKind::NegativeTimer => "negative_timer",
            ParseErrorKind::BadSampleRate => "bad_sample_rate",
            ParseErrorKind::UnreadableSampleRate => "unreadable_sample_rate",
            ParseErrorKind::ZeroSampleRate => "zero_sample_rate",
            ParseErrorKind::NonFiniteValue => "non_finite_value",
            ParseErrorKind::LineTooLong => "line_too_long",
        }
    }

    /// Every kind, in label order, for self-metric listings.
    pub const ALL: [ParseErrorKind; 8] = [
        ParseErrorKind::MissingType,
        ParseErrorKind::BadValue,
        ParseErrorKind::NegativeTimer,
        ParseErrorKind::BadSampleRate,
        ParseErrorKind::UnreadableSampleRate,
        ParseErrorKind::ZeroSampleRate,
        ParseErrorKind::NonFiniteValue,
        ParseErrorKind::LineTooLong,
    ];

    /// Position in [`ParseErrorKind::ALL`].
    pub fn index(self) -> usize {
        ParseErrorKind::ALL
            .iter()
            .position(|k| *k == self)
            .unwrap_or(0)
    }
}

impl ParseError {
    /// An error of `kind` quoting `text` (cut on a char boundary).
    pub fn new(kind: ParseErrorKind, text: &str) -> Self {
        let mut end = text.len().min(64);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        ParseError {
            kind,
            excerpt: text[..end].to_string(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad StatsD sample ({}): {:?}",
            self.kind.as_str(),
            self.excerpt
        )
    }
}

impl std::error::Error for ParseError {}

/// A configuration value that cannot be used, naming the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, as written in the `[statsd]` section.
    pub key: String,
    /// What is wrong with its value.
    pub reason: String,
}

impl ConfigError {
    /// An error for `key`.
    pub fn new(key: &str, reason: impl Into<String>) -> Self {
        ConfigError {
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[statsd] {}: {}", self.key, self.reason)
    }
}

impl std::error::Error for ConfigError {}
