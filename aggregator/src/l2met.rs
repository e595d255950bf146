//! l2met log metrics: Heroku's convention of writing measurements into
//! ordinary log lines (`measure#db.latency=50ms count#requests=1
//! sample#queue.depth=7 source=web.1`), turned into StatsD samples and
//! aggregated in-process with everything else the aggregator receives, so
//! they get the same names, percentiles and flushes as StatsD input.
//!
//! The parsers are pure and never panic (fuzzed: `fuzz/fuzz_targets/l2met.rs`):
//!
//! * [`logplex_frames`] splits a Heroku HTTPS log drain body
//!   (`application/logplex-1`: octet-counted frames, `LEN SP MSG`);
//! * [`syslog_message`] takes the MSG out of one RFC 5424 syslog message
//!   (Heroku's frames leave out STRUCTURED-DATA; both forms are read);
//! * [`parse_line`] finds the `count#`, `measure#` and `sample#` fields and
//!   the `source=` of one line; other words are log text and ignored.
//!
//! What each field becomes: `count#name=N` a counter (`N` defaults to 1),
//! `measure#name=V[unit]` a timer in milliseconds (`ms` kept, `s` times
//! 1000, any other unit kept as the raw value), `sample#name=V` a gauge set
//! to `V`. With [`LogOptions::source_tag`], `source=x` becomes the tag
//! `;source=x` of every metric of its line, else it is ignored. The log
//! line's own timestamp is not used: like StatsD input, values belong to
//! the flush interval they arrive in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sample::Sample;
use crate::server::Core;
use crate::statsd::{sanitize_key, ParseOptions};

/// The kind of an l2met field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `count#`: a counter.
    Count,
    /// `measure#`: a timer.
    Measure,
    /// `sample#`: a gauge.
    Sample,
}

/// One metric field of a line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metric<'a> {
    /// What it becomes.
    pub kind: Kind,
    /// The name after `#`, as written.
    pub name: &'a str,
    /// The value: for measures already in milliseconds when the unit was
    /// `ms` or `s`.
    pub value: f64,
    /// The unit written after the number ("" when none).
    pub unit: &'a str,
}

impl Metric<'_> {
    /// The StatsD sample it becomes.
    pub fn sample(&self) -> Sample<'static> {
        match self.kind {
            Kind::Count => Sample::Counter {
                value: self.value,
                rate: 1.0,
            },
            Kind::Measure => Sample::Timer {
                value: self.value,
                rate: 1.0,
            },
            Kind::Sample => Sample::Gauge {
                value: self.value,
                delta: false,
            },
        }
    }
}

/// Why a field was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field as written.
    pub field: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// The metrics of one line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Line<'a> {
    /// Metric fields, in order.
    pub metrics: Vec<Metric<'a>>,
    /// The last `source=` value, if any.
    pub source: Option<&'a str>,
    /// Fields that looked like metrics but could not be read.
    pub errors: Vec<FieldError>,
}

/// Reads one log line.
pub fn parse_line(line: &str) -> Line<'_> {
    let mut out = Line::default();
    for word in line.split_ascii_whitespace() {
        if let Some(source) = word.strip_prefix("source=") {
            if !source.is_empty() {
                out.source = Some(source);
            }
            continue;
        }
        let (kind, rest) = if let Some(r) = word.strip_prefix("count#") {
            (Kind::Count, r)
        } else if let Some(r) = word.strip_prefix("measure#") {
            (Kind::Measure, r)
        } else if let Some(r) = word.strip_prefix("sample#") {
            (Kind::Sample, r)
        } else {
            continue;
        };
        match parse_field(kind, rest) {
            Ok(metric) => out.metrics.push(metric),
            Err(reason) => out.errors.push(FieldError {
                field: word.to_string(),
                reason,
            }),
        }
    }
    out
}

fn parse_field(kind: Kind, text: &str) -> Result<Metric<'_>, &'static str> {
    let (name, value_text) = match text.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (text, None),
    };
    if name.is_empty() {
        return Err("empty name");
    }
    let (value, unit) = match value_text {
        None if kind == Kind::Count => (1.0, ""),
        None => return Err("no value"),
        Some(v) => number_and_unit(v).ok_or("not a number")?,
    };
    if !unit
        .bytes()
        .all(|b| b.is_ascii_alphabetic() || b == b'%' || b == b'/')
    {
        return Err("unit has characters other than letters, % and /");
    }
    let value = match (kind, unit) {
        (Kind::Measure, "s") => value * 1000.0,
        _ => value,
    };
    if !value.is_finite() {
        return Err("value is not finite");
    }
    if kind == Kind::Measure && value < 0.0 {
        return Err("negative measure (StatsD refuses negative timers)");
    }
    Ok(Metric {
        kind,
        name,
        value,
        unit,
    })
}

/// `[+-]digits[.digits][e[+-]digits]` then the unit.
fn number_and_unit(text: &str) -> Option<(f64, &str)> {
    let b = text.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let int_end = digits(i);
    let mut end = int_end;
    if b.get(end) == Some(&b'.') {
        end = digits(end + 1);
    }
    // at least one digit before or after the point
    if end == i || (end == i + 1 && b.get(i) == Some(&b'.')) {
        return None;
    }
    if matches!(b.get(end), Some(b'e' | b'E')) {
        let mut j = end + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_end = digits(j);
        if exp_end > j {
            end = exp_end;
        }
    }
    let value: f64 = text[..end].parse().ok()?;
    Some((value, &text[end..]))
}

/// Why a frame or message could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The octet count is missing, not a number, or not followed by a space.
    BadLength,
    /// The octet count is larger than what is left of the body.
    Truncated,
    /// Not an RFC 5424 header (`<PRI>VERSION TIMESTAMP HOST APP PROCID MSGID`).
    BadHeader,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FrameError::BadLength => "frame length missing or not a number",
            FrameError::Truncated => "frame longer than the body",
            FrameError::BadHeader => "not an RFC 5424 syslog header",
        })
    }
}

/// The frames of a logplex body. After a framing error the rest of the
/// body cannot be located, so the iterator yields the error and stops.
pub fn logplex_frames(body: &[u8]) -> Frames<'_> {
    Frames { rest: body }
}

/// Iterator of [`logplex_frames`].
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<&'a [u8], FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.rest.iter().position(|b| !b.is_ascii_whitespace())?;
        let rest = &self.rest[start..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let fail = |this: &mut Self, e| {
            this.rest = &[];
            Some(Err(e))
        };
        if digits == 0 || digits > 9 || rest.get(digits) != Some(&b' ') {
            return fail(self, FrameError::BadLength);
        }
        let Some(len) = std::str::from_utf8(&rest[..digits])
            .ok()
            .and_then(|d| d.parse::<usize>().ok())
        else {
            return fail(self, FrameError::BadLength);
        };
        let body = &rest[digits + 1..];
        if body.len() < len {
            return fail(self, FrameError::Truncated);
        }
        self.rest = &body[len..];
        Some(Ok(&body[..len]))
    }
}

/// The MSG part of an RFC 5424 syslog message.
pub fn syslog_message(frame: &str) -> Result<&str, FrameError> {
    let frame = frame.trim_start_matches('\u{feff}');
    let Some(after_pri) = frame.strip_prefix('<') else {
        return Err(FrameError::BadHeader);
    };
    let pri_len = after_pri.bytes().take_while(u8::is_ascii_digit).count();
    if pri_len == 0 || pri_len > 3 || after_pri.as_bytes().get(pri_len) != Some(&b'>') {
        return Err(FrameError::BadHeader);
    }
    let mut rest = &after_pri[pri_len + 1..];
    if !rest.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(FrameError::BadHeader);
    }
    // VERSION, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID
    for _ in 0..6 {
        match rest.split_once(' ') {
            Some((field, tail)) if !field.is_empty() => rest = tail,
            None if !rest.is_empty() => rest = "",
            _ => return Err(FrameError::BadHeader),
        }
    }
    // STRUCTURED-DATA: `-`, or `[...]` elements; Heroku leaves it out.
    if rest == "-" {
        rest = "";
    } else if let Some(tail) = rest.strip_prefix("- ") {
        rest = tail;
    } else if rest.starts_with('[') {
        rest = skip_structured_data(rest).ok_or(FrameError::BadHeader)?;
    }
    Ok(rest.trim_end_matches(['\n', '\r']))
}

/// The text after the SD elements at the start of `text` (and their space).
fn skip_structured_data(mut text: &str) -> Option<&str> {
    while text.starts_with('[') {
        let mut escaped = false;
        let mut in_quotes = false;
        let mut end = None;
        for (i, c) in text.char_indices().skip(1) {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_quotes = !in_quotes,
                ']' if !in_quotes => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        text = &text[end? + 1..];
    }
    Some(text.strip_prefix(' ').unwrap_or(text))
}

/// The StatsD lines for one log line, for `ferrograph logs`: names cleaned
/// as StatsD's key sanitizer does (so the line stays parseable), the source
/// as a DogStatsD tag when `source_tag`. A negative gauge is sent as `0`
/// then the value, since a signed StatsD gauge is a delta.
pub fn statsd_lines(line: &Line<'_>, source_tag: bool, out: &mut String) {
    let tag = match (source_tag, line.source) {
        (true, Some(source)) => format!("|#source:{}", sanitize_key(source).replace(',', "_")),
        _ => String::new(),
    };
    for m in &line.metrics {
        let name = sanitize_key(m.name);
        let kind = match m.kind {
            Kind::Count => "c",
            Kind::Measure => "ms",
            Kind::Sample => "g",
        };
        if m.kind == Kind::Sample && m.value.is_sign_negative() {
            out.push_str(&format!("{name}:0|g{tag}\n"));
        }
        out.push_str(&format!("{name}:{}|{kind}{tag}\n", m.value));
    }
}

/// How log metrics are named.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// `source=x` becomes the tag `;source=x`; off: ignored.
    pub source_tag: bool,
}

/// Counters of the log inputs, under `logs.` in self-metrics.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Bodies or datagrams handed in.
    pub requests: AtomicU64,
    /// Log lines read.
    pub lines: AtomicU64,
    /// Metric fields aggregated.
    pub metrics: AtomicU64,
    /// Frames or syslog headers that could not be read.
    pub bad_frames: AtomicU64,
    /// Metric fields that could not be read.
    pub bad_fields: AtomicU64,
    /// Bodies refused as larger than the limit.
    pub too_large: AtomicU64,
}

/// What one call of [`LogInput`] took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogReport {
    /// Log lines read.
    pub lines: usize,
    /// Metric fields aggregated.
    pub metrics: usize,
    /// Frames that could not be read.
    pub bad_frames: usize,
    /// Fields that could not be read.
    pub bad_fields: usize,
}

/// Feeds log metrics into a running aggregator. Cheap to clone.
#[derive(Clone)]
pub struct LogInput {
    core: Arc<Core>,
    options: LogOptions,
    stats: Arc<LogStats>,
    last_log: Arc<Mutex<Option<Instant>>>,
    suppressed: Arc<AtomicU64>,
}

impl std::fmt::Debug for LogInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogInput")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl LogInput {
    pub(crate) fn new(core: Arc<Core>, options: LogOptions) -> LogInput {
        LogInput {
            core,
            options,
            stats: Arc::new(LogStats::default()),
            last_log: Arc::new(Mutex::new(None)),
            suppressed: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A logplex body (`POST /logs`).
    pub fn logplex(&self, body: &[u8]) -> LogReport {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut report = LogReport::default();
        for frame in logplex_frames(body) {
            match frame {
                Ok(frame) => self.syslog_into(frame, &mut report),
                Err(e) => self.bad_frame(&e, &mut report),
            }
        }
        report
    }

    /// One syslog message (a datagram or a line of a syslog stream).
    pub fn syslog(&self, message: &[u8]) -> LogReport {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut report = LogReport::default();
        self.syslog_into(message, &mut report);
        report
    }

    /// Plain log lines, `\n`-separated (no syslog header).
    pub fn lines(&self, text: &str) -> LogReport {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut report = LogReport::default();
        for line in text.lines() {
            self.line_into(line, &mut report);
        }
        report
    }

    /// Counts a body refused as too large.
    pub fn count_too_large(&self) {
        self.stats.too_large.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters as `(logs.name, value)` pairs.
    pub fn stats(&self) -> Vec<(String, f64)> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        let s = &self.stats;
        vec![
            ("logs.requests".into(), g(&s.requests)),
            ("logs.lines".into(), g(&s.lines)),
            ("logs.metrics".into(), g(&s.metrics)),
            ("logs.badFrames".into(), g(&s.bad_frames)),
            ("logs.badFields".into(), g(&s.bad_fields)),
            ("logs.tooLarge".into(), g(&s.too_large)),
        ]
    }

    fn syslog_into(&self, frame: &[u8], report: &mut LogReport) {
        let text = String::from_utf8_lossy(frame);
        match syslog_message(&text) {
            Ok(message) => {
                for line in message.lines() {
                    self.line_into(line, report);
                }
            }
            Err(e) => self.bad_frame(&e, report),
        }
    }

    fn line_into(&self, text: &str, report: &mut LogReport) {
        let line = parse_line(text);
        report.lines += 1;
        self.stats.lines.fetch_add(1, Ordering::Relaxed);
        let parse = self.core.settings.parse;
        for m in &line.metrics {
            let key = metric_key(m.name, line.source, self.options, &parse);
            self.core.apply_sample(&key, &m.sample());
        }
        report.metrics += line.metrics.len();
        self.stats
            .metrics
            .fetch_add(line.metrics.len() as u64, Ordering::Relaxed);
        if let Some(first) = line.errors.first() {
            report.bad_fields += line.errors.len();
            self.stats
                .bad_fields
                .fetch_add(line.errors.len() as u64, Ordering::Relaxed);
            self.warn(|suppressed| {
                tracing::warn!(field = %first.field, reason = first.reason, suppressed, "log metric field ignored")
            });
        }
    }

    fn bad_frame(&self, e: &FrameError, report: &mut LogReport) {
        report.bad_frames += 1;
        self.stats.bad_frames.fetch_add(1, Ordering::Relaxed);
        self.warn(|suppressed| tracing::warn!(error = %e, suppressed, "log frame ignored"));
    }

    /// At most one warning every 10 seconds, with the number held back.
    fn warn(&self, log: impl FnOnce(u64)) {
        let mut last = self.last_log.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(Instant::now());
        log(self.suppressed.swap(0, Ordering::Relaxed));
    }
}

/// The aggregation key of a log metric: built as the StatsD parser builds
/// a key with one tag, so both inputs name a series the same way.
pub fn metric_key(
    name: &str,
    source: Option<&str>,
    options: LogOptions,
    parse: &ParseOptions,
) -> String {
    let mut key = name.to_string();
    if let (true, Some(source)) = (options.source_tag, source) {
        key.push_str(";source=");
        key.push_str(source);
    }
    if parse.sanitize {
        key = sanitize_key(&key).into_owned();
    }
    if parse.canonicalize_tags {
        if let Some(canonical) = crate::tags::canonical_key(&key) {
            key = canonical;
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_a_line() {
        let line = parse_line(
            "at=info measure#db.latency=50ms measure#req=1.5s measure#size=200MB count#requests=3 count#hits \
             sample#queue.depth=-7 source=web.1 measure#bad=abc count#=1 measure#neg=-1ms sample#x",
        );
        let got: Vec<(Kind, &str, f64, &str)> = line
            .metrics
            .iter()
            .map(|m| (m.kind, m.name, m.value, m.unit))
            .collect();
        assert_eq!(
            got,
            vec![
                (Kind::Measure, "db.latency", 50.0, "ms"),
                (Kind::Measure, "req", 1500.0, "s"),
                (Kind::Measure, "size", 200.0, "MB"),
                (Kind::Count, "requests", 3.0, ""),
                (Kind::Count, "hits", 1.0, ""),
                (Kind::Sample, "queue.depth", -7.0, ""),
            ]
        );
        assert_eq!(line.source, Some("web.1"));
        let bad: Vec<&str> = line.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            bad,
            vec![
                "measure#bad=abc",
                "count#=1",
                "measure#neg=-1ms",
                "sample#x"
            ]
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(number_and_unit("1e3ms"), Some((1000.0, "ms")));
        assert_eq!(number_and_unit(".5s"), Some((0.5, "s")));
        assert_eq!(number_and_unit("5.events"), Some((5.0, "events")));
        assert_eq!(number_and_unit("3e"), Some((3.0, "e")));
        assert_eq!(number_and_unit("."), None);
        assert_eq!(number_and_unit("-"), None);
        assert_eq!(number_and_unit("ms"), None);
    }

    #[test]
    fn logplex_bodies() {
        let m1 = "<190>1 2024-01-01T00:00:00+00:00 host app web.1 - count#a=1 measure#b=2ms";
        let m2 = "<190>1 2024-01-01T00:00:00+00:00 host app web.2 - - sample#c=3\n";
        let body = format!("{} {m1}{} {m2}", m1.len(), m2.len());
        let frames: Vec<_> = logplex_frames(body.as_bytes()).collect();
        assert_eq!(frames.len(), 2);
        let messages: Vec<&str> = frames
            .iter()
            .map(|f| syslog_message(std::str::from_utf8(f.as_ref().unwrap()).unwrap()).unwrap())
            .collect();
        assert_eq!(messages, vec!["count#a=1 measure#b=2ms", "sample#c=3"]);
        let bad: Vec<_> = logplex_frames(b"12 short").collect();
        assert_eq!(bad, vec![Err(FrameError::Truncated)]);
        let bad: Vec<_> = logplex_frames(b"x12 short").collect();
        assert_eq!(bad, vec![Err(FrameError::BadLength)]);
        assert_eq!(syslog_message("no header"), Err(FrameError::BadHeader));
        assert_eq!(
            syslog_message("<13>1 - h a p m [x@1 k=\"v]\"][y] msg"),
            Ok("msg")
        );
        assert_eq!(syslog_message("<13>1 - h a p m"), Ok(""));
    }

    #[test]
    fn statsd_text_for_the_logs_command() {
        let line = parse_line("count#a:b=2 sample#g=-3 measure#t=1s source=web,1");
        let mut out = String::new();
        statsd_lines(&line, true, &mut out);
        assert_eq!(
            out,
            "ab:2|c|#source:web1\ng:0|g|#source:web1\ng:-3|g|#source:web1\nt:1000|ms|#source:web1\n"
        );
        let mut out = String::new();
        statsd_lines(&line, false, &mut out);
        assert!(out.starts_with("ab:2|c\n"));
    }

    #[test]
    fn keys_follow_the_statsd_options() {
        let opts = ParseOptions::default();
        let tagged = LogOptions { source_tag: true };
        assert_eq!(
            metric_key("a b", Some("w"), LogOptions::default(), &opts),
            "a_b"
        );
        assert_eq!(
            metric_key("a", Some("web.1"), tagged, &opts),
            "a;source=web.1"
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            for frame in logplex_frames(&bytes).flatten() {
                let text = String::from_utf8_lossy(frame);
                if let Ok(m) = syslog_message(&text) {
                    let line = parse_line(m);
                    for metric in &line.metrics {
                        proptest::prop_assert!(metric.value.is_finite());
                    }
                }
            }
            let _ = parse_line(&String::from_utf8_lossy(&bytes));
        }
    }
}
