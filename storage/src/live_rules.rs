//! The retention and aggregation rules a running store applies, behind one
//! swappable handle: a reload (`SIGHUP`, `ferrograph reload`) replaces them
//! in one step while writers, creates and queries keep reading. The Whisper
//! store reads them when it creates a file (and for the header of a series
//! still only in the cache); the ClickHouse backend at query time, for its
//! roll-up. Whoever holds an `Arc<RetentionRules>` keeps a consistent pair
//! until it drops it.

use std::fmt;
use std::sync::{Arc, RwLock};

use crate::schema::{AggregationRules, SchemaRule, Schemas};

/// One consistent pair of rule sets.
#[derive(Debug)]
pub struct RetentionRules {
    /// storage-schemas.conf: the archives of new series.
    pub schemas: Schemas,
    /// storage-aggregation.conf: the method and xFilesFactor of new series.
    pub aggregation: AggregationRules,
    /// 0 for the rules the store opened with, one more per replacement (so
    /// background work can tell that the rules changed since it looked).
    pub version: u64,
}

/// The shared, replaceable rules. Cheap to clone (all clones see a
/// replacement).
#[derive(Clone)]
pub struct LiveRules(Arc<RwLock<Arc<RetentionRules>>>);

impl LiveRules {
    /// A handle holding `schemas` and `aggregation`.
    pub fn new(schemas: Schemas, aggregation: AggregationRules) -> LiveRules {
        LiveRules(Arc::new(RwLock::new(Arc::new(RetentionRules {
            schemas,
            aggregation,
            version: 0,
        }))))
    }

    /// The rules in force now. The lock is held only to clone the `Arc`, so
    /// a reload never waits for a create or a query.
    pub fn current(&self) -> Arc<RetentionRules> {
        Arc::clone(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts `schemas` and `aggregation` in force for everything that reads
    /// the rules from now on.
    pub fn replace(&self, schemas: Schemas, aggregation: AggregationRules) {
        let mut guard = self.0.write().unwrap_or_else(|e| e.into_inner());
        let version = guard.version + 1;
        *guard = Arc::new(RetentionRules {
            schemas,
            aggregation,
            version,
        });
    }

    /// The retention rule a series called `name` gets now.
    pub fn schema_for(&self, name: &str) -> SchemaRule {
        self.current().schemas.lookup(name).clone()
    }
}

impl fmt::Debug for LiveRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.current().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_is_seen_by_every_clone_and_held_rules_stay_consistent() {
        let parse = |r: &str| {
            Schemas::parse(
                &format!("[all]\npattern = .*\nretentions = {r}\n"),
                "s.conf",
            )
            .expect("schemas")
        };
        let rules = LiveRules::new(parse("1s:1h"), AggregationRules::builtin());
        let other = rules.clone();
        let held = rules.current();
        other.replace(parse("10s:1d"), AggregationRules::builtin());
        assert_eq!(rules.schema_for("a.b").archives, [(10, 8640)]);
        assert_eq!(held.schemas.lookup("a.b").archives, [(1, 3600)]);
        assert_eq!((held.version, rules.current().version), (0, 1));
    }
}
