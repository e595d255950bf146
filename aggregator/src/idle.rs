//! `[statsd] idle_zero_flushes` (ours): how many flushes a kept key that
//! received nothing still sends its zeros before it is removed.
//!
//! With `delete_idle_stats = false` (Etsy's default, and ours) an idle
//! counter sends `0` and an idle timer `count 0` every interval for as long
//! as the daemon runs, so every key ever seen costs a point and a Whisper
//! write per interval. With `idle_zero_flushes = N > 0` a key that stays
//! idle sends its zeros for N flushes (so graphs show the drop to zero) and
//! is then removed, freeing its place in `max_keys`; its next sample brings
//! it back exactly as a new key. `0` (the default) keeps the reference's
//! behaviour. The `delete_*` settings still win: a deleted kind is removed
//! at its first idle flush, as the reference does.
//!
//! Only keys that are idle right now have an entry here, so the cost is
//! bounded by the keys held, and nothing at all when the option is off.

use std::collections::HashMap;

/// Consecutive idle flushes per kept key of one kind, in one shard.
#[derive(Debug, Default)]
pub struct IdleFlushes {
    counts: HashMap<Box<str>, u32>,
}

impl IdleFlushes {
    /// Called by a flush for each key it keeps: `idle` says whether the
    /// key received nothing in the interval just flushed. Returns whether
    /// the key stays (false: its `limit` zero flushes have been sent).
    /// `limit` 0 keeps every key and records nothing.
    pub fn keep(&mut self, key: &str, idle: bool, limit: u32) -> bool {
        if limit == 0 {
            return true;
        }
        if !idle {
            // Active again: forget its idle run (no allocation when the
            // key was not idle, the common case).
            if !self.counts.is_empty() {
                self.counts.remove(key);
            }
            return true;
        }
        let run = match self.counts.get_mut(key) {
            Some(run) => {
                *run += 1;
                *run
            }
            None => {
                self.counts.insert(key.into(), 1);
                1
            }
        };
        if run >= limit {
            self.counts.remove(key);
            false
        } else {
            true
        }
    }

    /// Forgets `key` (removed by the admin console).
    pub fn forget(&mut self, key: &str) {
        self.counts.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_key_goes_after_its_limit_and_activity_resets_the_run() {
        let mut idle = IdleFlushes::default();
        assert!(idle.keep("a", true, 3));
        assert!(idle.keep("a", true, 3));
        assert!(idle.keep("a", false, 3), "active again");
        assert!(idle.keep("a", true, 3));
        assert!(idle.keep("a", true, 3));
        assert!(!idle.keep("a", true, 3), "third idle flush in a row");
        assert!(idle.counts.is_empty(), "a removed key leaves nothing");
    }

    #[test]
    fn limit_zero_keeps_everything_and_records_nothing() {
        let mut idle = IdleFlushes::default();
        for _ in 0..10 {
            assert!(idle.keep("a", true, 0));
        }
        assert!(idle.counts.is_empty());
    }
}
