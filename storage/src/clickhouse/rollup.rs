//! Retention and roll-up on ClickHouse: the `<graphite_rollup>` element the
//! server merges with, and the same roll-up done at query time.
//!
//! ClickHouse rolls points up only when it merges parts, and old
//! partitions may never merge, so every read rolls up itself: duplicates
//! of one (Path, Time) keep the newest `Timestamp`, then points go into
//! buckets of the precision the query's age needs, with the function of
//! the series' aggregation rule. Merged or not, the answer is the same.
//! The window, its step and its rounding are whisper's for a file with the
//! series' schema, so the same points answer the same as on Whisper.

use std::fmt::Write as _;

use crate::schema::{AggregationRules, SchemaRule, Schemas};
use crate::whisper::format::ArchiveInfo;
use crate::whisper::ops::{empty_fetch, plan_fetch, Fetched};
use crate::whisper::rollup::aggregate_window;
use crate::whisper::{AggregationMethod, Header};

/// The ClickHouse aggregate function of a storage aggregation method, and
/// whether it is exact. ClickHouse has no absmax/absmin/avg_zero; the
/// nearest function is used for merges and documented.
pub fn clickhouse_function(method: AggregationMethod) -> (&'static str, bool) {
    match method {
        AggregationMethod::Average => ("avg", true),
        AggregationMethod::Sum => ("sum", true),
        AggregationMethod::Min => ("min", true),
        AggregationMethod::Max => ("max", true),
        AggregationMethod::Last => ("anyLast", true),
        AggregationMethod::AvgZero => ("avg", false),
        AggregationMethod::AbsMax => ("max", false),
        AggregationMethod::AbsMin => ("min", false),
    }
}

/// `(age, precision)` pairs of a schema: `10s:6h,1m:7d` is `(0, 10),
/// (21600, 60)`; each archive starts where the finer one's retention ends.
pub fn retention_ages(schema: &SchemaRule) -> Vec<(u64, u32)> {
    let mut age = 0u64;
    schema
        .archives
        .iter()
        .map(|&(spp, points)| {
            let pair = (age, spp);
            age = u64::from(spp) * u64::from(points);
            pair
        })
        .collect()
}

/// Whether a regex matches every name (so it adds nothing to a
/// conjunction).
fn matches_all(pattern: &str) -> bool {
    matches!(
        pattern,
        "" | ".*" | "^.*" | ".*$" | "^.*$" | "." | ".+" | "^.+$"
    )
}

/// One regex for "both `a` and `b` match", as far as RE2 (no lookahead)
/// can say it.
#[derive(Clone, Debug, PartialEq)]
pub enum Conjunction {
    /// Exactly the names both match.
    Exact(String),
    /// No name matches both.
    Never,
    /// `a` followed later by `b`: RE2 cannot say it exactly.
    Approximate(String),
}

/// The [`Conjunction`] of two rule patterns. Exact when either matches
/// everything, when one is anchored at the start and the other at the end,
/// or when one is a start-anchored literal the other (start-anchored)
/// matches as a prefix.
pub fn conjunction(a: &str, b: &str) -> Conjunction {
    if matches_all(a) {
        return Conjunction::Exact(b.to_string());
    }
    if matches_all(b) {
        return Conjunction::Exact(a.to_string());
    }
    let starts = |p: &str| p.starts_with('^');
    let ends = |p: &str| p.ends_with('$') && !p.ends_with("\\$");
    let body = |p: &str| {
        let p = p.strip_prefix('^').unwrap_or(p);
        match p.strip_suffix('$') {
            Some(inner) if !p.ends_with("\\$") => inner.to_string(),
            _ => p.to_string(),
        }
    };
    match (starts(a), ends(a), starts(b), ends(b)) {
        (true, false, false, true) => {
            Conjunction::Exact(format!("^(?:{}).*(?:{})$", body(a), body(b)))
        }
        (false, true, true, false) => {
            Conjunction::Exact(format!("^(?:{}).*(?:{})$", body(b), body(a)))
        }
        (true, false, true, false) => {
            // A start-anchored literal L: every name starting with L matches
            // the other pattern exactly when that pattern matches L itself.
            let literal = |p: &str| literal_text(&body(p));
            let matches = |pattern: &str, text: &str| {
                regex::Regex::new(pattern).is_ok_and(|re| re.is_match(text))
            };
            match (literal(a), literal(b)) {
                (_, Some(lb)) if matches(a, &lb) => Conjunction::Exact(b.to_string()),
                (Some(la), _) if matches(b, &la) => Conjunction::Exact(a.to_string()),
                (Some(la), Some(lb)) if !la.starts_with(&lb) && !lb.starts_with(&la) => {
                    Conjunction::Never
                }
                _ => Conjunction::Approximate(format!("(?:{a}).*(?:{b})")),
            }
        }
        _ => Conjunction::Approximate(format!("(?:{a}).*(?:{b})")),
    }
}

/// The text a regex body without metacharacters matches (escapes
/// resolved), or `None` when it has any.
fn literal_text(regex_body: &str) -> Option<String> {
    if !is_literal(regex_body) {
        return None;
    }
    let mut out = String::new();
    let mut escaped = false;
    for c in regex_body.chars() {
        if escaped || c != '\\' {
            out.push(c);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    Some(out)
}

fn is_literal(regex_body: &str) -> bool {
    let mut escaped = false;
    for c in regex_body.chars() {
        if escaped {
            if c.is_ascii_alphanumeric() {
                return false; // \d, \w ...
            }
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if "[](){}|?*+.^$".contains(c) {
            return false;
        }
    }
    !escaped
}

/// The `<graphite_rollup>` element for these rules, and the pairs that
/// could only be approximated (for a warning). ClickHouse 18.16 takes the
/// first pattern whose regexp matches, and every pattern with retentions
/// must name a function: so each (schema, aggregation) pair in file order
/// becomes one pattern, then a `<default>` from the fallbacks.
pub fn rollup_xml(schemas: &Schemas, aggregation: &AggregationRules) -> (String, Vec<String>) {
    let mut xml = String::new();
    let mut approximated = Vec::new();
    xml.push_str("<graphite_rollup>\n");
    xml.push_str("    <path_column_name>Path</path_column_name>\n");
    xml.push_str("    <time_column_name>Time</time_column_name>\n");
    xml.push_str("    <value_column_name>Value</value_column_name>\n");
    xml.push_str("    <version_column_name>Timestamp</version_column_name>\n");
    let fallback_schema = schemas.lookup("\u{0}no schema matches this\u{0}");
    let fallback_agg = aggregation.lookup("\u{0}no rule matches this\u{0}");
    let schema_rules: Vec<&SchemaRule> = schemas.rules().iter().collect();
    let agg_rules: Vec<(&str, AggregationMethod)> = aggregation
        .rules()
        .iter()
        .map(|r| (r.pattern.as_str(), r.aggregation()))
        .chain(std::iter::once((".*", fallback_agg.aggregation())))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for schema in schema_rules
        .iter()
        .copied()
        .chain(std::iter::once(fallback_schema))
    {
        for &(agg_pattern, method) in &agg_rules {
            let schema_pattern = if std::ptr::eq(schema, fallback_schema) {
                ".*"
            } else {
                schema.pattern.as_str()
            };
            let (regexp, exact) = match conjunction(schema_pattern, agg_pattern) {
                Conjunction::Exact(r) => (r, true),
                Conjunction::Approximate(r) => (r, false),
                Conjunction::Never => continue,
            };
            if matches_all(&regexp) {
                continue; // the <default> below says the same
            }
            if !seen.insert(regexp.clone()) {
                continue; // an earlier pattern already takes these names
            }
            if !exact {
                approximated.push(format!(
                    "[{}] {schema_pattern:?} with aggregation pattern {agg_pattern:?}",
                    schema.name
                ));
            }
            xml.push_str("    <pattern>\n");
            let _ = writeln!(xml, "        <regexp>{}</regexp>", xml_escape(&regexp));
            write_function_and_retentions(&mut xml, schema, method, "        ");
            xml.push_str("    </pattern>\n");
        }
    }
    // the fallbacks: the fallback schema rule and the fallback aggregation
    xml.push_str("    <default>\n");
    let default_method = agg_rules
        .iter()
        .find(|(p, _)| matches_all(p))
        .map_or(fallback_agg.aggregation(), |&(_, m)| m);
    let default_schema = schema_rules
        .iter()
        .copied()
        .find(|s| matches_all(&s.pattern))
        .unwrap_or(fallback_schema);
    write_function_and_retentions(&mut xml, default_schema, default_method, "        ");
    xml.push_str("    </default>\n");
    xml.push_str("</graphite_rollup>\n");
    (xml, approximated)
}

fn write_function_and_retentions(
    xml: &mut String,
    schema: &SchemaRule,
    method: AggregationMethod,
    indent: &str,
) {
    let (function, _) = clickhouse_function(method);
    let _ = writeln!(xml, "{indent}<function>{function}</function>");
    for (age, precision) in retention_ages(schema) {
        let _ = writeln!(
            xml,
            "{indent}<retention><age>{age}</age><precision>{precision}</precision></retention>"
        );
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One stored point as read back: `(Time, Value, Timestamp)`.
pub type RawPoint = (u32, f64, u32);

/// The whisper-shaped header of a series with `schema`: the window and
/// archive choice of a fetch are whisper's.
pub fn header_for(schema: &SchemaRule, method: AggregationMethod) -> Header {
    let archives: Vec<ArchiveInfo> = schema
        .archives
        .iter()
        .map(|&(spp, points)| ArchiveInfo {
            offset: 0,
            seconds_per_point: spp,
            points,
        })
        .collect();
    let max_retention = archives
        .iter()
        .map(|a| a.retention())
        .max()
        .unwrap_or(0)
        .min(u64::from(u32::MAX)) as u32;
    Header {
        aggregation: method,
        max_retention,
        x_files_factor: 0.0,
        archives,
    }
}

/// The window a fetch of `(from, until]` at `now` answers for a series
/// with this header, all values missing; `None` when whisper would answer
/// nothing (the window wholly in the future or beyond the retention).
pub fn window(header: &Header, from: i64, until: i64, now: i64) -> Option<Fetched> {
    match plan_fetch(header, from, until, now, None) {
        Ok(Some((archive, from, until))) => Some(empty_fetch(archive, from, until)),
        _ => None,
    }
}

/// Fills `window` from raw points: the newest `Timestamp` of each `Time`
/// wins; points are bucketed by the window's step and rolled up with
/// `method` (no xFilesFactor: ClickHouse has none).
pub fn roll_up(window: &mut Fetched, points: &mut [RawPoint], method: AggregationMethod) {
    // Newest version last within each Time, so the dedup keeps it.
    points.sort_unstable_by_key(|&(time, _, version)| (time, version));
    let step = window.step;
    let mut bucket_values: Vec<Option<f64>> = Vec::new();
    let mut current: Option<i64> = None;
    let flush = |bucket: Option<i64>, values: &mut Vec<Option<f64>>, window: &mut Fetched| {
        if let Some(b) = bucket {
            let index = (b - window.start) / step;
            if (0..window.values.len() as i64).contains(&index) && !values.is_empty() {
                window.values[index as usize] = aggregate_window(method, 0.0, values);
            }
        }
        values.clear();
    };
    let mut i = 0;
    while i < points.len() {
        // the last of a run of equal Times is the newest version
        let time = points[i].0;
        let mut j = i;
        while j + 1 < points.len() && points[j + 1].0 == time {
            j += 1;
        }
        let value = points[j].1;
        i = j + 1;
        let t = i64::from(time);
        if t < window.start || t >= window.end {
            continue;
        }
        let bucket = t - (t - window.start).rem_euclid(step);
        if current != Some(bucket) {
            flush(current, &mut bucket_values, window);
            current = Some(bucket);
        }
        bucket_values.push(Some(value));
    }
    flush(current, &mut bucket_values, window);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(schemas: &str, aggregation: &str) -> (Schemas, AggregationRules) {
        (
            Schemas::parse(schemas, "storage-schemas.conf").unwrap(),
            AggregationRules::parse(aggregation, "storage-aggregation.conf").unwrap(),
        )
    }

    #[test]
    fn retentions_become_ages() {
        let (schemas, _) = rules("[all]\npattern = .*\nretentions = 10s:6h,1m:7d\n", "");
        assert_eq!(retention_ages(&schemas.rules()[0]), [(0, 10), (21_600, 60)]);
    }

    #[test]
    fn one_pattern_per_pair_then_the_default() {
        let (schemas, aggregation) = rules(
            "[stats]\npattern = ^stats\\.\nretentions = 10s:6h,1m:7d\n[all]\npattern = .*\nretentions = 60s:1d\n",
            "[count]\npattern = \\.count$\nxFilesFactor = 0\naggregationMethod = sum\n\
             [max]\npattern = \\.upper$\naggregationMethod = max\n",
        );
        let (xml, approximated) = rollup_xml(&schemas, &aggregation);
        assert!(approximated.is_empty(), "{approximated:?}");
        let regexps: Vec<&str> = xml
            .lines()
            .filter_map(|l| l.trim().strip_prefix("<regexp>"))
            .map(|l| l.trim_end_matches("</regexp>"))
            .collect();
        assert_eq!(
            regexps,
            [
                "^(?:stats\\.).*(?:\\.count)$",
                "^(?:stats\\.).*(?:\\.upper)$",
                "^stats\\.",
                "\\.count$",
                "\\.upper$",
            ]
        );
        assert!(xml.contains(
            "<default>\n        <function>avg</function>\n        \
             <retention><age>0</age><precision>60</precision></retention>\n    </default>"
        ));
    }

    #[test]
    fn conjunctions_are_exact_where_re2_allows() {
        use Conjunction::*;
        assert_eq!(conjunction(".*", "\\.sum$"), Exact("\\.sum$".into()));
        assert_eq!(
            conjunction("^a\\.", "\\.sum$"),
            Exact("^(?:a\\.).*(?:\\.sum)$".into())
        );
        assert_eq!(
            conjunction("^(stats|stats_counts)\\.", "^stats\\.gauges\\."),
            Exact("^stats\\.gauges\\.".into())
        );
        assert_eq!(conjunction("^carbon\\.", "^stats\\.gauges\\."), Never);
        assert_eq!(
            conjunction("^stats\\.", "^stats\\.timers\\."),
            Exact("^stats\\.timers\\.".into())
        );
        assert!(matches!(conjunction("a", "b"), Approximate(_)));
    }

    #[test]
    fn newest_version_wins_then_buckets_roll_up() {
        let (schemas, _) = rules("[all]\npattern = .*\nretentions = 10s:1h,60s:1d\n", "");
        let header = header_for(&schemas.rules()[0], AggregationMethod::Sum);
        let now = 1_700_000_000;
        let mut w = window(&header, now - 7200, now, now).unwrap();
        assert_eq!(w.step, 60);
        let t0 = (w.start + 60) as u32;
        let mut points = vec![
            (t0, 1.0, 5),
            (t0, 100.0, 9), // newer version of the same Time
            (t0 + 10, 2.0, 5),
            (t0 + 60, 4.0, 5),
        ];
        roll_up(&mut w, &mut points, AggregationMethod::Sum);
        assert_eq!(w.values[1], Some(102.0));
        assert_eq!(w.values[2], Some(4.0));
        assert_eq!(w.values[0], None);
    }
}
