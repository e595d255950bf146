//! What a cardinality limit refused, counted per prefix (a name's first
//! dotted component) and logged at most once a minute with a few example
//! names, so an operator sees *who* floods and the log does not.
//!
//! Only refusals reach a [`Refusals`]; the paths that admit points never
//! touch it, so its lock costs nothing while the limits are not hit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a limit that keeps refusing is logged.
pub const LOG_EVERY: Duration = Duration::from_secs(60);
/// Prefixes counted by name; the rest are summed under [`OTHER_PREFIX`], so
/// a flood of new prefixes cannot grow the table.
pub const MAX_PREFIXES: usize = 100;
/// The prefix under which refusals past [`MAX_PREFIXES`] are counted.
pub const OTHER_PREFIX: &str = "_other";
/// Example names kept for each log line.
const EXAMPLES: usize = 5;

/// The refusals of one limit.
pub struct Refusals {
    /// What refused, for the log (`"[statsd] max_keys"`).
    limit: &'static str,
    /// Lifetime total, readable without the lock.
    total: AtomicU64,
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    /// Lifetime refusals per prefix.
    by_prefix: BTreeMap<Box<str>, u64>,
    /// Refusals since the last log line, and a few of their names.
    since_log: u64,
    examples: Vec<Box<str>>,
    last_log: Option<Instant>,
}

impl std::fmt::Debug for Refusals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refusals")
            .field("limit", &self.limit)
            .field("total", &self.total())
            .finish_non_exhaustive()
    }
}

/// The first dotted component of `name` (the whole name if it has none).
pub fn prefix_of(name: &str) -> &str {
    name.split(['.', ';']).next().unwrap_or(name)
}

impl Refusals {
    /// Refusals of the limit named `limit` in the log.
    pub fn new(limit: &'static str) -> Refusals {
        Refusals {
            limit,
            total: AtomicU64::new(0),
            window: Mutex::new(Window::default()),
        }
    }

    /// `count` points or samples of `name` were refused. Logs when the
    /// previous line is a minute old (at once for the first refusal).
    pub fn record(&self, name: &str, count: u64) {
        if count == 0 {
            return;
        }
        self.total.fetch_add(count, Ordering::Relaxed);
        let mut guard = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let w = &mut *guard;
        let prefix = prefix_of(name);
        let tracked = w.by_prefix.len();
        match w.by_prefix.get_mut(prefix) {
            Some(n) => *n += count,
            None if tracked < MAX_PREFIXES => {
                w.by_prefix.insert(prefix.into(), count);
            }
            None => *w.by_prefix.entry(OTHER_PREFIX.into()).or_default() += count,
        }
        w.since_log += count;
        if w.examples.len() < EXAMPLES && !w.examples.iter().any(|e| **e == *name) {
            w.examples.push(name.into());
        }
        if w.last_log.map_or(true, |t| t.elapsed() >= LOG_EVERY) {
            let examples: Vec<&str> = w.examples.iter().map(|e| &**e).collect();
            let mut top: Vec<(&str, u64)> = w.by_prefix.iter().map(|(p, n)| (&**p, *n)).collect();
            top.sort_unstable_by_key(|&(_, n)| std::cmp::Reverse(n));
            top.truncate(EXAMPLES);
            tracing::warn!(
                limit = self.limit,
                refused = w.since_log,
                examples = ?examples,
                top_prefixes = ?top,
                "cardinality limit reached: new names refused (counted per prefix in the self-metrics)"
            );
            w.since_log = 0;
            w.examples.clear();
            w.last_log = Some(Instant::now());
        }
    }

    /// Lifetime refusals, all prefixes.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Lifetime refusals per prefix, as self-metric figures
    /// `<family>{prefix="p"}` (sorted by prefix).
    pub fn by_prefix(&self, family: &str) -> Vec<(String, u64)> {
        let w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        w.by_prefix
            .iter()
            .map(|(p, n)| (format!("{family}{{prefix=\"{p}\"}}"), *n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_prefix_within_a_bounded_table() {
        let r = Refusals::new("test");
        r.record("a.b.c", 2);
        r.record("a.d", 1);
        r.record("plain", 1);
        for i in 0..(MAX_PREFIXES + 10) {
            r.record(&format!("p{i}.x"), 1);
        }
        let figures = r.by_prefix("refused");
        assert!(figures.contains(&("refused{prefix=\"a\"}".to_string(), 3)));
        assert!(figures.contains(&("refused{prefix=\"plain\"}".to_string(), 1)));
        assert!(figures.len() <= MAX_PREFIXES + 1);
        let other = figures
            .iter()
            .find(|(k, _)| k.contains(OTHER_PREFIX))
            .map(|(_, n)| *n);
        assert_eq!(other, Some(12));
        assert_eq!(r.total(), 4 + MAX_PREFIXES as u64 + 10);
    }
}
