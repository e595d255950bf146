//! Time grammar of graphite-web (`render/attime.py`), as pure parsers:
//! [`parse_at_time`] for `from`/`until`/`now` (epoch, `-1h`, `now-2d3h`,
//! `HH:MM_YYYYMMDD`, `YYYYMMDD`, `MM/DD/YY`, `midnight`, `noon`, `teatime`,
//! `yesterday`, weekday and month names, `+`/`-` offsets) in a time zone,
//! and [`parse_offset`] for intervals (`-1d2h`, `5min`) used by functions.
//!
//! Calendar references are taken in the request's time zone and converted
//! as Python's `pytz` `localize()` does: a wall time that does not exist
//! (spring-forward gap) or exists twice (fall-back) gets the zone's
//! standard-time offset. Offsets are fixed durations (`-1d` = 86400 s, even
//! across a DST change), as in graphite.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::{OffsetComponents, Tz};

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

/// The IANA zone called `name` (case-insensitive, as pytz), or `None`.
pub fn parse_tz(name: &str) -> Option<Tz> {
    Tz::from_str(name)
        .ok()
        .or_else(|| Tz::from_str_insensitive(name).ok())
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Parses a `from`/`until`/`now` value (graphite's `parseATTime`) into epoch
/// seconds, relative to `now` (epoch seconds) in zone `tz`.
pub fn parse_at_time(text: &str, tz: Tz, now: i64) -> Result<i64, TimeError> {
    let s: String = text
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, '_' | ',' | ' '))
        .collect();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let looks_like_date = s.len() == 8
            && s[..4].parse::<u32>().is_ok_and(|y| y > 1900)
            && s[4..6].parse::<u32>().is_ok_and(|m| m < 13)
            && s[6..].parse::<u32>().is_ok_and(|d| d < 32);
        if !looks_like_date {
            return s
                .parse::<i64>()
                .map_err(|_| TimeError::new(text, "epoch seconds out of range"));
        }
    }
    let (reference, offset) = if let Some(i) = s.find('+') {
        (&s[..i], &s[i..])
    } else if let Some(i) = s.find('-') {
        (&s[..i], &s[i..])
    } else {
        (s.as_str(), "")
    };
    let base = parse_reference(text, reference, tz, now)?;
    let delta = parse_offset(offset).map_err(|e| TimeError::new(text, e.message))?;
    base.checked_add(delta)
        .ok_or_else(|| TimeError::new(text, "time out of range"))
}

/// The reference part (before the offset), as epoch seconds.
fn parse_reference(text: &str, reference: &str, tz: Tz, now: i64) -> Result<i64, TimeError> {
    if reference.is_empty() || reference == "now" {
        return Ok(now);
    }
    let err = |m: &str| TimeError::new(text, m);
    let now_local: NaiveDateTime = tz
        .timestamp_opt(now, 0)
        .single()
        .ok_or_else(|| err("now out of range"))?
        .naive_local();
    let mut r = reference;
    let (mut hour, mut minute) = (0u32, 0u32);
    let num = |t: &str| -> Result<u32, TimeError> {
        t.parse::<u32>().map_err(|_| err("invalid time of day"))
    };
    if let Some(i) = r.find(':').filter(|i| (1..3).contains(i)) {
        hour = num(&r[..i])?;
        let end = (i + 3).min(r.len());
        minute = num(r
            .get(i + 1..end)
            .ok_or_else(|| err("invalid time of day"))?)?;
        r = r.get(end..).unwrap_or("");
        if let Some(rest) = r.strip_prefix("am") {
            r = rest;
        } else if let Some(rest) = r.strip_prefix("pm") {
            hour = (hour + 12) % 24;
            r = rest;
        }
    }
    if let Some(i) = r.find("am").filter(|i| (1..3).contains(i)) {
        hour = num(&r[..i])?;
        r = &r[i + 2..];
    }
    if let Some(i) = r.find("pm").filter(|i| (1..3).contains(i)) {
        hour = (num(&r[..i])? + 12) % 24;
        r = &r[i + 2..];
    }
    if let Some(rest) = r.strip_prefix("noon") {
        (hour, minute, r) = (12, 0, rest);
    } else if let Some(rest) = r.strip_prefix("midnight") {
        (hour, minute, r) = (0, 0, rest);
    } else if let Some(rest) = r.strip_prefix("teatime") {
        (hour, minute, r) = (16, 0, rest);
    }
    let date_at = |d: NaiveDate| -> Result<NaiveDateTime, TimeError> {
        d.and_hms_opt(hour, minute, 0)
            .ok_or_else(|| err("hour must be in 0..23 and minute in 0..59"))
    };
    let today = now_local.date();
    let local: NaiveDateTime = match r {
        "yesterday" => date_at(today - Duration::days(1))?,
        "today" => date_at(today)?,
        "tomorrow" => date_at(today + Duration::days(1))?,
        _ if r.matches('/').count() == 2 => {
            let parts: Vec<&str> = r.split('/').collect();
            let p = |t: &str| t.parse::<i32>().map_err(|_| err("invalid MM/DD/YY date"));
            let (m, d, mut y) = (p(parts[0])?, p(parts[1])?, p(parts[2])?);
            if y < 1900 {
                y += 1900;
            }
            if y < 1970 {
                y += 100;
            }
            let date = NaiveDate::from_ymd_opt(y, m as u32, d as u32)
                .filter(|_| m > 0 && d > 0)
                .ok_or_else(|| err("invalid MM/DD/YY date"))?;
            date_at(date)?
        }
        _ if r.len() == 8 && r.bytes().all(|b| b.is_ascii_digit()) => {
            let (y, m, d) = (
                r[..4].parse::<i32>().unwrap_or(0),
                r[4..6].parse::<u32>().unwrap_or(0),
                r[6..].parse::<u32>().unwrap_or(0),
            );
            let date =
                NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| err("invalid YYYYMMDD date"))?;
            date_at(date)?
        }
        _ if r.get(..3).is_some_and(|p| MONTHS.contains(&p)) => {
            let month = MONTHS
                .iter()
                .position(|m| Some(*m) == r.get(..3))
                .unwrap_or(0) as u32
                + 1;
            let tail2 = r.get(r.len().saturating_sub(2)..).unwrap_or("");
            let day = if tail2.len() == 2 && tail2.bytes().all(|b| b.is_ascii_digit()) {
                tail2.parse::<u32>().unwrap_or(0)
            } else if r.as_bytes()[r.len() - 1].is_ascii_digit() {
                u32::from(r.as_bytes()[r.len() - 1] - b'0')
            } else {
                return Err(err("Day of month required after month name"));
            };
            let date = NaiveDate::from_ymd_opt(today.year(), month, day)
                .ok_or_else(|| err("invalid day of month"))?;
            date_at(date)?
        }
        _ if r.get(..3).is_some_and(|p| WEEKDAYS.contains(&p)) => {
            let today_idx = today.weekday().num_days_from_sunday() as i64;
            let target = WEEKDAYS
                .iter()
                .position(|d| Some(*d) == r.get(..3))
                .unwrap_or(0) as i64;
            let back = (today_idx - target).rem_euclid(7);
            date_at(today - Duration::days(back))?
        }
        "" => date_at(today)?,
        _ => return Err(err(&format!("Unknown day reference: {reference}"))),
    };
    Ok(localize(tz, local).timestamp())
}

/// pytz's `tz.localize(local)` (is_dst=False): the unique instant, or for a
/// skipped or repeated wall time the one at the zone's standard offset.
pub fn localize(tz: Tz, local: NaiveDateTime) -> DateTime<Tz> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t,
        LocalResult::Ambiguous(a, b) => {
            if b.offset().dst_offset().is_zero() && !a.offset().dst_offset().is_zero() {
                b
            } else {
                a
            }
        }
        LocalResult::None => {
            let probe = tz.from_utc_datetime(&local);
            let standard = probe.offset().base_utc_offset();
            let utc = local - standard;
            tz.from_utc_datetime(&utc)
        }
    }
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

    const NOW: i64 = 1_700_000_000; // 2023-11-14 22:13:20 UTC, a Tuesday

    fn at(text: &str) -> i64 {
        parse_at_time(text, Tz::UTC, NOW).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn at_time_forms() {
        assert_eq!(at("now"), NOW);
        assert_eq!(at(""), NOW);
        assert_eq!(at("-1h"), NOW - 3600);
        assert_eq!(at("now-2d3h"), NOW - 2 * 86_400 - 3 * 3600);
        assert_eq!(at("1600000000"), 1_600_000_000);
        assert_eq!(at("20240101"), 1_704_067_200);
        assert_eq!(at("16:00_20110501"), 1_304_265_600);
        assert_eq!(at("midnight"), 1_699_920_000);
        assert_eq!(at("noon"), 1_699_963_200);
        assert_eq!(at("teatime"), 1_699_977_600);
        assert_eq!(at("midnight_yesterday"), 1_699_833_600);
        assert_eq!(at("noon+3h"), 1_699_963_200 + 3 * 3600);
        assert_eq!(at("6pm_today"), 1_699_984_800);
        assert_eq!(at("11/14/23"), 1_699_920_000);
        assert_eq!(at("01/02/2024"), 1_704_153_600);
        assert_eq!(at("jan5"), 1_672_876_800);
        assert_eq!(at("november05"), 1_699_142_400);
        assert_eq!(at("monday"), 1_699_833_600);
        assert_eq!(at("tue"), 1_699_920_000);
        assert_eq!(at("3am_tomorrow"), 1_700_017_200);
        assert_eq!(at("  Now - 1 D "), NOW - 86_400);
    }

    #[test]
    fn at_time_errors() {
        for text in ["-1m", "blah", "jan", "13/45/23", "now+5x", "25:00"] {
            assert!(parse_at_time(text, Tz::UTC, NOW).is_err(), "{text}");
        }
    }

    #[test]
    fn time_zones_and_dst() {
        let ny = parse_tz("america/new_york").unwrap();
        // 2024-03-10 02:30 does not exist in New York: pytz gives EST.
        assert_eq!(
            parse_at_time("02:30_20240310", ny, NOW).unwrap(),
            1_710_055_800
        );
        // 2024-11-03 01:30 exists twice: pytz picks standard time.
        assert_eq!(
            parse_at_time("01:30_20241103", ny, NOW).unwrap(),
            1_730_615_400
        );
        // midnight in New York on the day of now (2023-11-14 17:13 EST)
        assert_eq!(parse_at_time("midnight", ny, NOW).unwrap(), 1_699_938_000);
        assert!(parse_tz("Mars/Olympus").is_none());
    }

    proptest! {
        #[test]
        fn at_time_parser_never_panics(text in "\\PC{0,24}", tz in prop_oneof![Just(Tz::UTC), Just(Tz::America__New_York)]) {
            let _ = parse_at_time(&text, tz, NOW);
        }

        #[test]
        fn offset_parser_never_panics(text in "\\PC{0,20}") {
            let _ = parse_offset(&text);
        }
    }
}
