//! carbon's `aggregation-rules.conf` and carbon-aggregator's buffers, as
//! carbon 1.1.10 has them (`carbon/aggregator/rules.py`, `buffers.py`,
//! `processor.py`), with the clock passed in so that tests drive it.
//!
//! A rule is `output_template (frequency) = method input_pattern`. The
//! input pattern is split on `.`; a part `*` matches one node, `*` inside a
//! part any run of non-dots, `<field>` captures (part of) one node,
//! `<<field>>` captures across dots; everything else is used as regex text,
//! as carbon does. `<field>` in the output is replaced by the capture.
//!
//! Every input is checked against every rule in file order; each match
//! adds the value to the buffer of its output name (a point matching two
//! rules with the same output is added twice, as in carbon). A buffer takes
//! its frequency and method from the rule that created it. Values are kept
//! per bucket `ts - ts % frequency`. [`Buffers::tick`] emits the value of
//! every bucket that got values since it was last emitted and has closed,
//! at the bucket's start, and forgets buckets older than
//! `max_intervals` frequencies (carbon's `MAX_AGGREGATION_INTERVALS`): a
//! late point within that window is aggregated with the bucket's earlier
//! values and the bucket is emitted again; one after it starts a new bucket
//! holding only the late values, which is emitted and overwrites the stored
//! value, exactly as carbon does.
//!
//! Differences from carbon (docs/ingest-rules.md): a bucket is emitted once
//! it has closed, not also while open at carbon's compute ticks (the stored
//! result is the same once the bucket closes); lines carbon would fail on
//! at their first matching point (an output naming a field the input does
//! not capture, `<<field>>` or `%` in an output) are refused when the file
//! is read, and a bad line skips that rule only, where carbon refuses the
//! whole file.

use std::collections::{BTreeMap, HashMap};

use regex::Regex;

use crate::api::{MetricPoint, Timestamp};
use crate::schema::ConfigProblem;

/// carbon's aggregation methods (`AGGREGATION_METHODS`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// Python's `sum`, left to right.
    Sum,
    /// `sum / len`.
    Avg,
    /// The first smallest value.
    Min,
    /// The first largest value.
    Max,
    /// The number of values.
    Count,
    /// `p50` … `p999`: linear interpolation between the two closest ranks
    /// of the sorted values, with this factor (0.5 … 0.999).
    Percentile(f64),
}

impl Method {
    /// The method called `name` in a rules file.
    pub fn parse(name: &str) -> Option<Method> {
        Some(match name {
            "sum" => Method::Sum,
            "avg" => Method::Avg,
            "min" => Method::Min,
            "max" => Method::Max,
            "count" => Method::Count,
            "p50" => Method::Percentile(0.50),
            "p75" => Method::Percentile(0.75),
            "p80" => Method::Percentile(0.80),
            "p90" => Method::Percentile(0.90),
            "p95" => Method::Percentile(0.95),
            "p99" => Method::Percentile(0.99),
            "p999" => Method::Percentile(0.999),
            _ => return None,
        })
    }

    /// The aggregate of `values` (never empty), computed as carbon's Python
    /// does, operation for operation.
    pub fn apply(self, values: &[f64]) -> f64 {
        match self {
            Method::Sum => values.iter().fold(0.0, |acc, v| acc + v),
            Method::Avg => values.iter().fold(0.0, |acc, v| acc + v) / values.len() as f64,
            Method::Count => values.len() as f64,
            Method::Min => {
                values
                    .iter()
                    .copied()
                    .fold(f64::NAN, |m, v| if m.is_nan() || v < m { v } else { m })
            }
            Method::Max => {
                values
                    .iter()
                    .copied()
                    .fold(f64::NAN, |m, v| if m.is_nan() || v > m { v } else { m })
            }
            Method::Percentile(factor) => {
                let mut sorted = values.to_vec();
                // stable and -0.0 == 0.0, as Python's sorted()
                sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
                let rank = factor * (sorted.len() - 1) as f64;
                let left = rank.floor();
                let right = rank.ceil();
                let (l, r) = (left as usize, right as usize);
                if l == r {
                    sorted[l]
                } else {
                    sorted[l] * (right - rank) + sorted[r] * (rank - left)
                }
            }
        }
    }
}

/// One piece of an output template.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    Field(String),
}

/// One parsed line of an aggregation-rules file.
#[derive(Clone, Debug)]
pub struct AggregationRule {
    /// The input pattern as written.
    pub input: String,
    /// The output template as written.
    pub output: String,
    /// How values are combined.
    pub method: Method,
    /// Bucket width in seconds (> 0).
    pub frequency: i64,
    /// 1-based line in the file.
    pub line: usize,
    regex: Regex,
    template: Vec<Piece>,
}

impl AggregationRule {
    /// Parses one rule line, as `RuleManager.parse_definition` splits it.
    pub fn parse(line: &str, line_no: usize) -> Result<AggregationRule, String> {
        let shape = "expected `output (frequency) = method input`";
        let Some((left, right)) = line.split_once('=') else {
            return Err(format!("{shape}: no '='"));
        };
        let left: Vec<&str> = left.split_whitespace().collect();
        let right: Vec<&str> = right.split_whitespace().collect();
        let ([output, frequency], [method, input]) = (left.as_slice(), right.as_slice()) else {
            return Err(shape.to_string());
        };
        let digits = frequency.trim_start_matches('(').trim_end_matches(')');
        let frequency: i64 = digits
            .strip_prefix('+')
            .unwrap_or(digits)
            .parse()
            .map_err(|_| format!("frequency {frequency:?} is not an integer number of seconds"))?;
        if frequency <= 0 {
            return Err(format!("frequency {frequency} must be at least 1 second"));
        }
        let Some(parsed_method) = Method::parse(method) else {
            return Err(format!(
                "invalid aggregation method {method:?} (sum, avg, min, max, count, p50, p75, p80, p90, p95, p99, p999)"
            ));
        };
        let regex = Regex::new(&input_regex(input))
            .map_err(|e| format!("input pattern {input:?} gives a regex we cannot use: {e}"))?;
        let template = parse_output(output)?;
        for piece in &template {
            if let Piece::Field(f) = piece {
                if !regex.capture_names().any(|n| n == Some(f.as_str())) {
                    return Err(format!(
                        "output {output:?} uses <{f}>, which input {input:?} does not capture"
                    ));
                }
            }
        }
        Ok(AggregationRule {
            input: input.to_string(),
            output: output.to_string(),
            method: parsed_method,
            frequency,
            line: line_no,
            regex,
            template,
        })
    }

    /// The output name for `metric`, or `None` when the rule does not match.
    pub fn output_for(&self, metric: &str) -> Option<String> {
        // most names match no rule: the DFA-only test first, the slower
        // capturing search only for a match
        if !self.regex.is_match(metric) {
            return None;
        }
        let caps = self.regex.captures(metric)?;
        let mut out = String::with_capacity(self.output.len() + 16);
        for piece in &self.template {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => out.push_str(caps.name(f).map_or("", |m| m.as_str())),
            }
        }
        Some(out)
    }
}

/// `AggregationRule.build_regex`: the regex text of an input pattern,
/// anchored at both ends (`re.match` with a final `$`).
fn input_regex(input: &str) -> String {
    let parts: Vec<String> = input
        .split('.')
        .map(|part| {
            if let (Some(i), Some(j)) = (part.find("<<"), part.find(">>")) {
                let field = part.get(i + 2..j).unwrap_or("");
                format!(
                    "{}(?P<{field}>.+?){}",
                    &part[..i],
                    part.get(j + 2..).unwrap_or("")
                )
            } else {
                match (part.find('<'), part.find('>')) {
                    (Some(i), Some(j)) if j > i => format!(
                        "{}(?P<{}>[^.]+?){}",
                        &part[..i],
                        &part[i + 1..j],
                        &part[j + 1..]
                    ),
                    _ if part == "*" => "[^.]+".to_string(),
                    _ => part.replace('*', "[^.]*"),
                }
            }
        })
        .collect();
    format!("^(?:{})$", parts.join("\\."))
}

/// The output template: text with `<field>` references.
fn parse_output(output: &str) -> Result<Vec<Piece>, String> {
    if output.contains('%') {
        return Err(format!(
            "output {output:?} contains '%', which carbon's %-formatting of the template mangles"
        ));
    }
    let mut pieces = Vec::new();
    let mut rest = output;
    while let Some(open) = rest.find(['<', '>']) {
        if rest.as_bytes()[open] == b'>' {
            return Err(format!("output {output:?} has a '>' without its '<'"));
        }
        let after = &rest[open + 1..];
        let Some(close) = after
            .find(['<', '>'])
            .filter(|&c| after.as_bytes()[c] == b'>')
        else {
            return Err(format!(
                "output {output:?} has a '<' without its '>' (<<field>> is for inputs only)"
            ));
        };
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_string()));
        }
        pieces.push(Piece::Field(after[..close].to_string()));
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

/// The rules of one aggregation-rules file, in file order.
#[derive(Clone, Debug, Default)]
pub struct AggregationRules {
    /// The usable rules.
    pub rules: Vec<AggregationRule>,
}

impl AggregationRules {
    /// Parses a rules file; `file` names it in problems. Every line that
    /// does not parse is reported and skipped; the others are used.
    pub fn parse(text: &str, file: &str) -> (AggregationRules, Vec<ConfigProblem>) {
        let mut rules = Vec::new();
        let mut problems = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match AggregationRule::parse(line, i + 1) {
                Ok(rule) => rules.push(rule),
                Err(message) => problems.push(ConfigProblem {
                    file: file.to_string(),
                    section: None,
                    line: i + 1,
                    message: format!("{message}; rule {line:?} skipped"),
                }),
            }
        }
        (AggregationRules { rules }, problems)
    }

    /// True when there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Every rule `name` matches, in file order, with its output name.
    pub fn matches(&self, name: &str) -> Vec<(String, usize)> {
        self.rules
            .iter()
            .enumerate()
            .filter_map(|(i, rule)| Some((rule.output_for(name)?, i)))
            .collect()
    }
}

/// The values of one bucket.
#[derive(Debug, Default)]
struct Interval {
    values: Vec<f64>,
    /// Got values since it was last emitted.
    active: bool,
}

/// The buckets of one output name (carbon's `MetricBuffer`).
#[derive(Debug)]
struct Output {
    frequency: i64,
    method: Method,
    intervals: BTreeMap<Timestamp, Interval>,
}

/// What one [`Buffers::input`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matched {
    /// Output names the point went to (distinct).
    pub outputs: Vec<String>,
    /// Values not buffered because `max_values` were held.
    pub refused: usize,
}

/// Every output's open buckets, bounded by the number of values held.
#[derive(Debug)]
pub struct Buffers {
    rules: std::sync::Arc<AggregationRules>,
    outputs: HashMap<String, Output>,
    max_intervals: i64,
    max_values: usize,
    held: usize,
}

impl Buffers {
    /// Empty buffers for `rules`; buckets are kept `max_intervals`
    /// frequencies after the current one; at most `max_values` values are
    /// held in all.
    pub fn new(rules: AggregationRules, max_intervals: u32, max_values: usize) -> Buffers {
        Buffers {
            rules: std::sync::Arc::new(rules),
            outputs: HashMap::new(),
            max_intervals: i64::from(max_intervals),
            max_values,
            held: 0,
        }
    }

    /// The rules (shared: matching needs no lock on the buffers).
    pub fn rules(&self) -> std::sync::Arc<AggregationRules> {
        std::sync::Arc::clone(&self.rules)
    }

    /// Output buffers open.
    pub fn outputs(&self) -> usize {
        self.outputs.len()
    }

    /// Values held in all buckets.
    pub fn values(&self) -> usize {
        self.held
    }

    /// Adds one input point to the bucket of every rule it matches
    /// (`AggregationProcessor.process`).
    pub fn input(&mut self, name: &str, timestamp: Timestamp, value: f64) -> Matched {
        let matches = self.rules.matches(name);
        self.add_matched(matches, timestamp, value)
    }

    /// [`Buffers::input`] with the matches already found
    /// ([`AggregationRules::matches`] of these rules), so the regex work
    /// can be done without holding the buffers.
    pub fn add_matched(
        &mut self,
        matches: Vec<(String, usize)>,
        timestamp: Timestamp,
        value: f64,
    ) -> Matched {
        let mut matched = Matched::default();
        for (output, index) in matches {
            let Some(rule) = self.rules.rules.get(index) else {
                continue;
            };
            if self.held >= self.max_values {
                matched.refused += 1;
            } else {
                let buffer = self
                    .outputs
                    .entry(output.clone())
                    .or_insert_with(|| Output {
                        frequency: rule.frequency,
                        method: rule.method,
                        intervals: BTreeMap::new(),
                    });
                let start = timestamp - timestamp.rem_euclid(buffer.frequency);
                let interval = buffer.intervals.entry(start).or_default();
                interval.values.push(value);
                interval.active = true;
                self.held += 1;
            }
            if !matched.outputs.contains(&output) {
                matched.outputs.push(output);
            }
        }
        matched
    }

    /// At `now`: the value of every closed bucket that got values since it
    /// was last emitted (`MetricBuffer.compute_value`), then forgets the
    /// buckets older than the window. With `everything`, open buckets are
    /// emitted too (at shutdown).
    pub fn tick(&mut self, now: Timestamp, everything: bool) -> Vec<MetricPoint> {
        let mut out = Vec::new();
        let max_intervals = self.max_intervals;
        let mut freed = 0;
        self.outputs.retain(|name, buffer| {
            let frequency = buffer.frequency;
            let current = now - now.rem_euclid(frequency);
            let threshold = current.saturating_sub(max_intervals.saturating_mul(frequency));
            buffer.intervals.retain(|&start, interval| {
                let closed = start.saturating_add(frequency) <= now;
                if interval.active && (closed || everything) {
                    out.push(MetricPoint::new(
                        name.clone(),
                        start,
                        buffer.method.apply(&interval.values),
                    ));
                    interval.active = false;
                }
                let keep = start >= threshold;
                if !keep {
                    freed += interval.values.len();
                }
                keep
            });
            !buffer.intervals.is_empty()
        });
        self.held -= freed;
        out.sort_by(|a, b| (a.timestamp, &a.name).cmp(&(b.timestamp, &b.name)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> AggregationRules {
        let (rules, problems) = AggregationRules::parse(text, "agg.conf");
        assert!(problems.is_empty(), "{problems:?}");
        rules
    }

    #[test]
    fn regexes_as_carbon_builds_them() {
        assert_eq!(input_regex("agg.*.requests"), r"^(?:agg\.[^.]+\.requests)$");
        assert_eq!(
            input_regex("agg.<dc>.*.latency"),
            r"^(?:agg\.(?P<dc>[^.]+?)\.[^.]+\.latency)$"
        );
        assert_eq!(input_regex("a.<<rest>>"), r"^(?:a\.(?P<rest>.+?))$");
        assert_eq!(input_regex("a.b*c"), r"^(?:a\.b[^.]*c)$");
    }

    #[test]
    fn outputs_from_captures() {
        let r = rules(
            "aggmax.<dc>.latency (10) = max agg.<dc>.*.latency\nall.<p> (60) = sum x.<<p>>\n",
        );
        assert_eq!(
            r.rules[0].output_for("agg.eu.h1.latency").as_deref(),
            Some("aggmax.eu.latency")
        );
        assert_eq!(r.rules[0].output_for("agg.eu.h1.latency.x"), None);
        assert_eq!(
            r.rules[1].output_for("x.a.b.c").as_deref(),
            Some("all.a.b.c")
        );
    }

    #[test]
    fn bad_lines_are_reported_and_skipped() {
        let text = "ok (10) = sum a.*\nno equals sign\nx (ten) = sum a\nx (10) = median a\nx (10) = sum\nx.<f> (10) = sum a.*\nx.<<f>> (10) = sum a.<<f>>\nx (0) = sum a\nfine (+5) = avg b.*\n";
        let (r, problems) = AggregationRules::parse(text, "agg.conf");
        assert_eq!(r.rules.len(), 2);
        assert_eq!(r.rules[1].frequency, 5);
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8]);
        assert!(problems[2]
            .to_string()
            .starts_with("agg.conf:4: invalid aggregation method \"median\""));
    }

    #[test]
    fn methods_as_python() {
        let v = [3.0, 1.0, 4.0, 1.5];
        assert_eq!(Method::Sum.apply(&v), 9.5);
        assert_eq!(Method::Avg.apply(&v), 2.375);
        assert_eq!(Method::Min.apply(&v), 1.0);
        assert_eq!(Method::Max.apply(&v), 4.0);
        assert_eq!(Method::Count.apply(&v), 4.0);
        // sorted 1 1.5 3 4; rank 0.9*3 = 2.7 -> 3*0.3 + 4*0.7
        assert_eq!(
            Method::Percentile(0.9).apply(&v),
            3.0 * (3.0 - 2.7) + 4.0 * (2.7 - 2.0)
        );
        assert_eq!(Method::Percentile(0.5).apply(&[7.0]), 7.0);
    }

    #[test]
    fn buckets_close_late_points_count_old_ones_restart() {
        let mut b = Buffers::new(rules("s (10) = sum a.*\n"), 5, 1000);
        b.input("a.x", 100, 1.0);
        b.input("a.y", 105, 2.0);
        b.input("a.x", 110, 4.0);
        assert!(b.tick(109, false).is_empty(), "bucket 100 still open");
        let out = b.tick(110, false);
        assert_eq!(out, vec![MetricPoint::new("s", 100, 3.0)]);
        assert!(b.tick(111, false).is_empty(), "emitted once");
        // late point within the window: the bucket is emitted again, whole
        b.input("a.z", 101, 10.0);
        assert_eq!(
            b.tick(125, false),
            vec![
                MetricPoint::new("s", 100, 13.0),
                MetricPoint::new("s", 110, 4.0)
            ]
        );
        // past the window the bucket is forgotten; a very late point starts over
        assert!(b.tick(170, false).is_empty());
        assert_eq!(b.values(), 0);
        assert_eq!(b.outputs(), 0);
        b.input("a.x", 102, 5.0);
        assert_eq!(b.tick(170, false), vec![MetricPoint::new("s", 100, 5.0)]);
        // shutdown emits open buckets too
        b.input("a.x", 175, 6.0);
        assert_eq!(b.tick(176, true), vec![MetricPoint::new("s", 170, 6.0)]);
    }

    #[test]
    fn two_rules_one_output_share_a_buffer() {
        let mut b = Buffers::new(rules("s (10) = sum a.*\ns (60) = max a.x\n"), 5, 1000);
        let m = b.input("a.x", 100, 2.0);
        assert_eq!(m.outputs, vec!["s".to_string()]);
        assert_eq!(b.tick(200, false), vec![MetricPoint::new("s", 100, 4.0)]);
    }

    #[test]
    fn the_value_bound_is_kept() {
        let mut b = Buffers::new(rules("s (10) = sum a.*\n"), 5, 2);
        b.input("a.x", 100, 1.0);
        b.input("a.x", 100, 1.0);
        assert_eq!(b.input("a.x", 100, 1.0).refused, 1);
        assert_eq!(b.values(), 2);
    }
}
