//! The sharded, size-bounded point cache between ingest and the Whisper
//! writers.
//!
//! Each metric has a *queued* list (received, not yet taken by a writer) and
//! an *in-flight* list (taken by a writer, not yet confirmed on disk). Both
//! stay visible to reads, so a point can be queried as soon as it is
//! received. A point for a timestamp already queued replaces the value
//! without growing the cache (carbon: last received wins). The limit counts
//! queued plus in-flight points; what does not fit is refused and counted by
//! the caller, never dropped silently.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// One metric's points: `(timestamp, value)`.
pub type Points = Vec<(i64, f64)>;

#[derive(Default)]
struct Shard {
    queued: HashMap<String, Points>,
    inflight: HashMap<String, Points>,
}

/// The cache.
pub struct Cache {
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
    size: AtomicUsize,
    max_points: usize,
    wake: (Mutex<bool>, Condvar),
}

/// Inserts or replaces `(ts, value)` in `points`; returns true if it grew.
fn upsert(points: &mut Points, ts: i64, value: f64) -> bool {
    // recent timestamps are usually at the end
    if let Some(p) = points.iter_mut().rev().find(|p| p.0 == ts) {
        p.1 = value;
        false
    } else {
        points.push((ts, value));
        true
    }
}

impl Cache {
    /// A cache of `shards` shards holding at most `max_points` points.
    pub fn new(shards: usize, max_points: usize) -> Cache {
        Cache {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Shard::default()))
                .collect(),
            hasher: RandomState::new(),
            size: AtomicUsize::new(0),
            max_points,
            wake: (Mutex::new(false), Condvar::new()),
        }
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The shard a name lives in.
    pub fn shard_of(&self, name: &str) -> usize {
        (self.hasher.hash_one(name) % self.shards.len() as u64) as usize
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        self.shards[shard].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Points held (queued and in flight).
    pub fn size(&self) -> usize {
        self.size.load(Ordering::Relaxed)
    }

    /// The configured limit.
    pub fn max_points(&self) -> usize {
        self.max_points
    }

    /// Adds points; returns how many were refused because the cache is full.
    /// `points` must all belong to `shard`.
    pub fn add(&self, shard: usize, points: impl IntoIterator<Item = (String, i64, f64)>) -> usize {
        let mut refused = 0;
        let mut grew = 0;
        {
            let mut s = self.lock(shard);
            for (name, ts, value) in points {
                let full = self.size.load(Ordering::Relaxed) + grew >= self.max_points;
                match s.queued.get_mut(&name) {
                    Some(list) => {
                        if list.iter().any(|p| p.0 == ts) {
                            upsert(list, ts, value);
                        } else if full {
                            refused += 1;
                        } else {
                            list.push((ts, value));
                            grew += 1;
                        }
                    }
                    None if full => refused += 1,
                    None => {
                        s.queued.insert(name, vec![(ts, value)]);
                        grew += 1;
                    }
                }
            }
        }
        if grew > 0 {
            self.size.fetch_add(grew, Ordering::Relaxed);
            self.notify();
        }
        refused
    }

    /// Reserves room for up to `n` new points while the cache holds fewer
    /// than `limit` (at most the cache's own limit) and returns how many
    /// slots were granted (0 when full). Flow-controlled producers reserve
    /// before they add, so a batch is taken whole or in part but never
    /// refused after the fact; what was not granted stays with the producer.
    pub fn reserve(&self, n: usize, limit: usize) -> usize {
        let limit = limit.min(self.max_points);
        let mut granted = 0;
        let _ = self
            .size
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |size| {
                granted = n.min(limit.saturating_sub(size));
                Some(size + granted)
            });
        granted
    }

    /// Gives back reserved slots that were not used (a point replacing a
    /// cached timestamp does not grow the cache).
    pub fn release(&self, n: usize) {
        if n > 0 {
            self.size.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// Adds points whose room was taken with [`Cache::reserve`]; returns how
    /// many grew the cache (the caller releases the rest of its
    /// reservation). `points` must all belong to `shard`.
    pub fn add_reserved(
        &self,
        shard: usize,
        points: impl IntoIterator<Item = (String, i64, f64)>,
    ) -> usize {
        let mut grew = 0;
        {
            let mut s = self.lock(shard);
            for (name, ts, value) in points {
                match s.queued.get_mut(&name) {
                    Some(list) => {
                        if upsert(list, ts, value) {
                            grew += 1;
                        }
                    }
                    None => {
                        s.queued.insert(name, vec![(ts, value)]);
                        grew += 1;
                    }
                }
            }
        }
        if grew > 0 {
            self.notify();
        }
        grew
    }

    /// Wakes writers waiting for work.
    pub fn notify(&self) {
        let (lock, cv) = &self.wake;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }

    /// Waits until points arrive or `timeout` passes.
    pub fn wait(&self, timeout: Duration) {
        let (lock, cv) = &self.wake;
        let mut flag = lock.lock().unwrap_or_else(|e| e.into_inner());
        if !*flag {
            flag = cv
                .wait_timeout(flag, timeout)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        *flag = false;
    }

    /// Queued metrics of `shard` with their point counts.
    pub fn queued_counts(&self, shard: usize) -> Vec<(String, usize)> {
        let s = self.lock(shard);
        s.queued.iter().map(|(n, p)| (n.clone(), p.len())).collect()
    }

    /// Moves a metric's queued points in flight and returns them.
    pub fn take(&self, shard: usize, name: &str) -> Option<Points> {
        let mut s = self.lock(shard);
        let points = s.queued.remove(name)?;
        let out = points.clone();
        match s.inflight.get_mut(name) {
            Some(existing) => {
                let before = existing.len() + points.len();
                for (t, v) in points {
                    upsert(existing, t, v);
                }
                let after = existing.len();
                self.size.fetch_sub(before - after, Ordering::Relaxed);
            }
            None => {
                s.inflight.insert(name.to_string(), points);
            }
        }
        Some(out)
    }

    /// The in-flight points are on disk: forget them.
    pub fn confirm(&self, shard: usize, name: &str) {
        let mut s = self.lock(shard);
        if let Some(points) = s.inflight.remove(name) {
            self.size.fetch_sub(points.len(), Ordering::Relaxed);
        }
    }

    /// The write failed: queue the in-flight points again (points received
    /// meanwhile win on equal timestamps).
    pub fn put_back(&self, shard: usize, name: &str) {
        let mut s = self.lock(shard);
        let Some(old) = s.inflight.remove(name) else {
            return;
        };
        let n_old = old.len();
        match s.queued.remove(name) {
            None => {
                s.queued.insert(name.to_string(), old);
            }
            Some(newer) => {
                let mut merged = old;
                let n_new = newer.len();
                for (t, v) in newer {
                    upsert(&mut merged, t, v);
                }
                let dropped = n_old + n_new - merged.len();
                self.size.fetch_sub(dropped, Ordering::Relaxed);
                s.queued.insert(name.to_string(), merged);
            }
        }
    }

    /// All cached points of a metric (in flight, overlaid by queued), sorted
    /// by timestamp.
    pub fn get(&self, name: &str) -> Points {
        let s = self.lock(self.shard_of(name));
        let mut out: Points = s.inflight.get(name).cloned().unwrap_or_default();
        if let Some(q) = s.queued.get(name) {
            for &(t, v) in q {
                upsert(&mut out, t, v);
            }
        }
        out.sort_by_key(|p| p.0);
        out
    }

    /// Number of metrics with queued or in-flight points.
    pub fn metric_count(&self) -> usize {
        (0..self.shards.len())
            .map(|i| {
                let s = self.lock(i);
                s.queued.len()
                    + s.inflight
                        .keys()
                        .filter(|k| !s.queued.contains_key(*k))
                        .count()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_received_wins_and_limit_counts() {
        let c = Cache::new(4, 3);
        let s = c.shard_of("a");
        assert_eq!(
            c.add(
                s,
                [
                    ("a".to_string(), 10, 1.0),
                    ("a".into(), 10, 2.0),
                    ("a".into(), 20, 3.0)
                ]
            ),
            0
        );
        assert_eq!(c.size(), 2);
        assert_eq!(c.get("a"), vec![(10, 2.0), (20, 3.0)]);
        assert_eq!(
            c.add(
                s,
                [
                    ("a".to_string(), 30, 1.0),
                    ("a".into(), 40, 1.0),
                    ("a".into(), 20, 9.0)
                ]
            ),
            1
        );
        assert_eq!(c.size(), 3);
        assert_eq!(c.get("a"), vec![(10, 2.0), (20, 9.0), (30, 1.0)]);
    }

    #[test]
    fn reservations_never_exceed_the_limit() {
        let c = Cache::new(2, 5);
        let s = c.shard_of("r");
        assert_eq!(c.reserve(3, 5), 3);
        let grew = c.add_reserved(
            s,
            [
                ("r".to_string(), 10, 1.0),
                ("r".into(), 10, 2.0),
                ("r".into(), 20, 3.0),
            ],
        );
        assert_eq!(grew, 2);
        c.release(3 - grew);
        assert_eq!(c.size(), 2);
        assert_eq!(c.reserve(10, 4), 2);
        c.release(2);
        assert_eq!(c.reserve(10, 99), 3);
        assert_eq!(c.reserve(1, 99), 0);
        // a plain add sees the reservation and refuses
        assert_eq!(c.add(s, [("q".to_string(), 1, 1.0)]), 1);
        c.release(3);
        assert_eq!(c.size(), 2);
        assert_eq!(c.get("r"), vec![(10, 2.0), (20, 3.0)]);
    }

    #[test]
    fn in_flight_points_stay_visible_and_can_be_put_back() {
        let c = Cache::new(2, 100);
        let s = c.shard_of("m");
        c.add(s, [("m".to_string(), 10, 1.0), ("m".into(), 20, 2.0)]);
        assert_eq!(c.take(s, "m").unwrap().len(), 2);
        c.add(s, [("m".to_string(), 20, 5.0), ("m".into(), 30, 3.0)]);
        assert_eq!(c.get("m"), vec![(10, 1.0), (20, 5.0), (30, 3.0)]);
        assert_eq!(c.size(), 4);
        c.put_back(s, "m");
        assert_eq!(c.size(), 3);
        assert_eq!(c.get("m"), vec![(10, 1.0), (20, 5.0), (30, 3.0)]);
        let taken = c.take(s, "m").unwrap();
        assert_eq!(taken.len(), 3);
        c.confirm(s, "m");
        assert_eq!(c.size(), 0);
        assert!(c.get("m").is_empty());
    }
}
