//! Test helpers (compiled for unit tests only): an in-memory [`Read`] that
//! answers finds and fetches with Whisper's window rules, and one-call
//! evaluation of a target.

use std::collections::BTreeMap;

use regex::Regex;
use storage::{FetchRange, FetchedSeries, FindNode, Read, ReadError, TagExpr, TagOp};

use crate::eval::{Context, Evaluator, Limits};
use crate::series::Series;
use crate::target::parse_target;

/// Series held in memory: `(start, step, values)` by path.
#[derive(Default)]
pub struct MemoryRead {
    series: BTreeMap<String, (i64, i64, Vec<Option<f64>>)>,
}

impl MemoryRead {
    /// An empty store.
    pub fn new() -> MemoryRead {
        MemoryRead::default()
    }

    /// Adds a series whose first value is at `start`.
    pub fn with(mut self, path: &str, start: i64, step: i64, values: &[Option<f64>]) -> MemoryRead {
        self.series
            .insert(path.to_string(), (start, step, values.to_vec()));
        self
    }
}

/// Graphite glob of one node to a regex (`*`, `?`, `[..]`, `{a,b}`).
fn node_regex(node: &str) -> Regex {
    let mut re = String::from("^");
    let mut chars = node.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '[' => {
                re.push('[');
                if chars.peek() == Some(&'!') {
                    chars.next();
                    re.push('^');
                }
                for d in chars.by_ref() {
                    re.push(d);
                    if d == ']' {
                        break;
                    }
                }
            }
            '{' => {
                let mut alts = String::new();
                for d in chars.by_ref() {
                    if d == '}' {
                        break;
                    }
                    alts.push(d);
                }
                let alts: Vec<String> = alts.split(',').map(regex::escape).collect();
                re.push_str(&format!("(?:{})", alts.join("|")));
            }
            other => re.push_str(&regex::escape(&other.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re).expect("test glob")
}

fn matches(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let n: Vec<&str> = path.split('.').collect();
    p.len() == n.len() && p.iter().zip(&n).all(|(g, s)| node_regex(g).is_match(s))
}

impl Read for MemoryRead {
    fn find(&self, pattern: &str) -> Result<Vec<FindNode>, ReadError> {
        let depth = pattern.split('.').count();
        let mut nodes = Vec::new();
        for path in self.series.keys() {
            let parts: Vec<&str> = path.split('.').collect();
            if parts.len() < depth {
                continue;
            }
            let prefix = parts[..depth].join(".");
            if matches(pattern, &prefix) {
                nodes.push(FindNode {
                    path: prefix,
                    is_leaf: parts.len() == depth,
                });
            }
        }
        nodes.sort();
        nodes.dedup();
        Ok(nodes)
    }

    fn fetch(&self, path: &str, range: FetchRange) -> Result<Option<FetchedSeries>, ReadError> {
        let Some((start, step, values)) = self.series.get(path) else {
            return Ok(None);
        };
        let first = range.from.div_euclid(*step) * step + step;
        let last = range.until.div_euclid(*step) * step;
        let mut out = Vec::new();
        let mut t = first;
        while t <= last {
            let idx = (t - start).div_euclid(*step);
            out.push(if t >= *start && (idx as usize) < values.len() {
                values[idx as usize]
            } else {
                None
            });
            t += step;
        }
        Ok(Some(FetchedSeries {
            path: path.to_string(),
            start: first,
            end: last + step,
            step: *step,
            values: out,
            aggregation: None,
        }))
    }

    fn find_tagged(&self, exprs: &[TagExpr]) -> Result<Vec<String>, ReadError> {
        let mut out = Vec::new();
        for path in self.series.keys() {
            let tags = crate::series::tags_from_name(path);
            let ok = exprs.iter().all(|e| {
                let v = tags.get(&e.tag).map(String::as_str).unwrap_or("");
                match e.op {
                    TagOp::Eq => v == e.value,
                    TagOp::NotEq => v != e.value,
                    TagOp::Match => Regex::new(&format!("^(?:{})", e.value))
                        .map(|r| r.is_match(v))
                        .unwrap_or(false),
                    TagOp::NotMatch => !Regex::new(&format!("^(?:{})", e.value))
                        .map(|r| r.is_match(v))
                        .unwrap_or(false),
                }
            });
            if ok && path.contains(';') {
                out.push(path.clone());
            }
        }
        Ok(out)
    }

    fn tag_names(&self) -> Result<Vec<String>, ReadError> {
        Ok(Vec::new())
    }

    fn tag_values(&self, _tag: &str) -> Result<Vec<(String, usize)>, ReadError> {
        Ok(Vec::new())
    }

    fn tag_series(&self, path: &str) -> Result<String, ReadError> {
        Ok(path.to_string())
    }

    fn del_series(&self, _path: &str) -> Result<bool, ReadError> {
        Ok(false)
    }
}

/// Evaluates one target over `(from, until]` with `now` and the wall clock
/// at `until` (so results never depend on when the test runs); panics on
/// errors (tests only).
pub fn eval_one(read: &MemoryRead, target: &str, from: i64, until: i64) -> Vec<Series> {
    eval_in(read, target, &Context::new(from, until))
}

/// Evaluates one target in `ctx`; panics on errors (tests only).
pub fn eval_in(read: &MemoryRead, target: &str, ctx: &Context) -> Vec<Series> {
    let expr = parse_target(target).expect("test target parses");
    let mut ev = Evaluator::new(read, Limits::default());
    ev.evaluate_targets(ctx, &[expr])
        .unwrap_or_else(|e| panic!("{target}: {e}"))
}
