//! How a series is named in carbon-clickhouse's tables.
//!
//! Plain paths are stored as they are. A tagged series, which ferrograph
//! names the graphite way (`cpu;dc=eu;host=a`, tags sorted), is stored the
//! carbon-clickhouse way: `cpu?dc=eu&host=a`, the name escaped like a URL
//! path and each tag like a URL query component (Go's `net/url` rules,
//! which carbon-clickhouse uses), tags sorted by name. Index rows also need
//! a path's depth, its reversed form (`c.b.a`) and the day of a point.

/// The first day of carbon-clickhouse's tree rows (`toDate(42)`,
/// 1970-02-12): the "whole metric list", not a calendar day.
pub const TREE_DATE: u16 = 42;
/// `Level` offset of the reversed daily rows.
pub const REVERSE_LEVEL_OFFSET: u32 = 10_000;
/// `Level` offset of the tree rows (the metric and each parent with a
/// trailing dot).
pub const TREE_LEVEL_OFFSET: u32 = 20_000;
/// `Level` offset of the reversed tree rows.
pub const REVERSE_TREE_LEVEL_OFFSET: u32 = 30_000;

/// The stored path of a series named `name` (graphite form, canonical).
pub fn to_stored(name: &str) -> String {
    let mut parts = name.split(';');
    let base = parts.next().unwrap_or_default();
    let mut tags: Vec<(&str, &str)> = parts.filter_map(|t| t.split_once('=')).collect();
    if tags.is_empty() {
        return name.to_string();
    }
    tags.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(name.len() + 8);
    escape_into(base, Mode::Path, &mut out);
    out.push('?');
    for (i, (k, v)) in tags.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        escape_into(k, Mode::Query, &mut out);
        out.push('=');
        escape_into(v, Mode::Query, &mut out);
    }
    out
}

/// The graphite name of a stored path: `cpu?dc=eu&host=a` is
/// `cpu;dc=eu;host=a` (tags sorted by name); a plain path is itself.
/// `None` for a tagged path that does not decode.
pub fn from_stored(path: &str) -> Option<String> {
    let Some((base, query)) = path.split_once('?') else {
        return Some(path.to_string());
    };
    let mut name = unescape(base, false)?;
    let mut tags: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        tags.push((unescape(k, true)?, unescape(v, true)?));
    }
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in tags {
        name.push(';');
        name.push_str(&k);
        name.push('=');
        name.push_str(&v);
    }
    Some(name)
}

/// The `Tags` array of a tagged series' `graphite_tagged` rows:
/// `__name__=cpu`, then `tag=value` per tag (unescaped), sorted by name.
/// Empty for a plain path.
pub fn tag_list(name: &str) -> Vec<String> {
    let mut parts = name.split(';');
    let base = parts.next().unwrap_or_default();
    let mut tags: Vec<&str> = parts.filter(|t| t.contains('=')).collect();
    if tags.is_empty() {
        return Vec::new();
    }
    tags.sort_by(|a, b| tag_key(a).cmp(tag_key(b)));
    let mut list = Vec::with_capacity(tags.len() + 1);
    list.push(format!("__name__={base}"));
    list.extend(tags.iter().map(|t| t.to_string()));
    list
}

fn tag_key(tag: &str) -> &str {
    tag.split_once('=').map_or(tag, |(k, _)| k)
}

/// Number of dot-separated components.
pub fn depth(path: &str) -> u32 {
    path.bytes().filter(|&b| b == b'.').count() as u32 + 1
}

/// `a.b.c` → `c.b.a`.
pub fn reversed(path: &str) -> String {
    let mut parts: Vec<&str> = path.split('.').collect();
    parts.reverse();
    parts.join(".")
}

/// The UTC day number (ClickHouse `Date`) of a Unix time.
pub fn day_of(time: u32) -> u16 {
    // u32 seconds / 86400 is below 49,711: always fits.
    (time / 86_400) as u16
}

/// `YYYY-MM-DD` of a day number, for SQL literals.
pub fn date_literal(day: u16) -> String {
    // Howard Hinnant's days-to-civil, for the proleptic Gregorian calendar.
    let z = i64::from(day) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Path,
    Query,
}

/// Go's `url.PathEscape`-like (`encodePath`) and `url.QueryEscape`
/// (`encodeQueryComponent`) rules.
fn escape_into(text: &str, mode: Mode, out: &mut String) {
    for b in text.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (mode == Mode::Path
                && matches!(
                    b,
                    b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'@'
                ));
        if keep {
            out.push(b as char);
        } else if mode == Mode::Query && b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
}

fn unescape(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_names_take_carbon_clickhouse_form_and_back() {
        assert_eq!(to_stored("cpu;host=a;dc=eu"), "cpu?dc=eu&host=a");
        assert_eq!(to_stored("a.b.c"), "a.b.c");
        assert_eq!(
            to_stored("disk used;path=/var log"),
            "disk%20used?path=%2Fvar+log"
        );
        assert_eq!(
            from_stored("disk%20used?path=%2Fvar+log").as_deref(),
            Some("disk used;path=/var log")
        );
        assert_eq!(
            from_stored("cpu?host=a&dc=eu").as_deref(),
            Some("cpu;dc=eu;host=a")
        );
        assert_eq!(from_stored("a.b").as_deref(), Some("a.b"));
        assert_eq!(from_stored("a?b=%zz"), None);
        assert_eq!(
            tag_list("cpu;host=a;dc=eu"),
            ["__name__=cpu", "dc=eu", "host=a"]
        );
        assert!(tag_list("a.b").is_empty());
    }

    #[test]
    fn levels_reverse_and_dates() {
        assert_eq!(depth("ch"), 1);
        assert_eq!(depth("ch.m7"), 2);
        assert_eq!(reversed("a.b.c"), "c.b.a");
        assert_eq!(date_literal(TREE_DATE), "1970-02-12");
        assert_eq!(date_literal(0), "1970-01-01");
        assert_eq!(date_literal(day_of(1_700_000_000)), "2023-11-14");
        assert_eq!(date_literal(day_of(951_782_400)), "2000-02-29");
    }
}
