//! Admission of series new to the store: how many may appear per minute
//! (`[storage] max_new_series_per_minute`) and how many points may wait for
//! files not yet created (`[storage] max_pending_create_points`, kept by the
//! cache as its *awaiting* bound). Both refuse points of new series only:
//! a series with a file is never refused by them, so a burst of new names
//! cannot stop the existing ones from landing.
//!
//! Only names that are not yet indexed come here, after the cache and the
//! index have been asked: the known-series path costs nothing more.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::refusals::Refusals;

/// Whether a batch goes through the limits of new series.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Gate {
    /// Ingest: new series are limited.
    Limits,
    /// Journal replay: these points were accepted before the stop, so
    /// nothing is refused.
    Open,
}

/// Why a new series' points were refused.
pub(super) enum Refused {
    /// `max_new_series_per_minute` series appeared this minute.
    Rate,
    /// The series awaiting their files hold `max_pending_create_points`.
    AwaitingFull,
}

/// A fixed one-minute window of new series.
struct Window {
    started: Instant,
    admitted: u64,
}

/// The new-series limits and what they refused.
pub(super) struct Admission {
    per_minute: Option<(u64, Mutex<Window>)>,
    /// Points refused by `max_new_series_per_minute`, per prefix.
    pub(super) rate_refusals: Refusals,
    /// Points refused by `max_pending_create_points`, per prefix.
    pub(super) awaiting_refusals: Refusals,
}

const MINUTE: Duration = Duration::from_secs(60);

impl Admission {
    /// `per_minute`: new series admitted per minute, `None` = unlimited.
    pub(super) fn new(per_minute: Option<u64>) -> Admission {
        Admission {
            per_minute: per_minute.map(|n| {
                let window = Window {
                    started: Instant::now(),
                    admitted: 0,
                };
                (n, Mutex::new(window))
            }),
            rate_refusals: Refusals::new("[storage] max_new_series_per_minute"),
            awaiting_refusals: Refusals::new("[storage] max_pending_create_points"),
        }
    }

    /// Admits the series `name`, new to the store, with `points` points, or
    /// records why not. `awaiting_room` is whether the cache's bound of
    /// points awaiting files has room.
    pub(super) fn admit(&self, name: &str, points: usize, awaiting_room: bool) -> Option<Refused> {
        if !awaiting_room {
            self.awaiting_refusals.record(name, points as u64);
            return Some(Refused::AwaitingFull);
        }
        let Some((max, window)) = &self.per_minute else {
            return None;
        };
        let mut w = window.lock().unwrap_or_else(|e| e.into_inner());
        if w.started.elapsed() >= MINUTE {
            w.started = Instant::now();
            w.admitted = 0;
        }
        if w.admitted >= *max {
            drop(w);
            self.rate_refusals.record(name, points as u64);
            return Some(Refused::Rate);
        }
        w.admitted += 1;
        None
    }

    /// Self-metric figures: totals and per-prefix counts of both limits.
    pub(super) fn stats(&self) -> Vec<(String, f64)> {
        let mut out = vec![
            (
                "admission.newSeriesRefused".to_string(),
                self.rate_refusals.total() as f64,
            ),
            (
                "admission.pendingCreateRefused".to_string(),
                self.awaiting_refusals.total() as f64,
            ),
        ];
        for (refusals, family) in [
            (&self.rate_refusals, "admission.newSeriesRefusedByPrefix"),
            (
                &self.awaiting_refusals,
                "admission.pendingCreateRefusedByPrefix",
            ),
        ] {
            out.extend(
                refusals
                    .by_prefix(family)
                    .into_iter()
                    .map(|(k, v)| (k, v as f64)),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_series_past_the_minute_budget_are_refused_and_counted() {
        let a = Admission::new(Some(2));
        assert!(a.admit("a.x", 3, true).is_none());
        assert!(a.admit("a.y", 3, true).is_none());
        assert!(matches!(a.admit("b.z", 4, true), Some(Refused::Rate)));
        assert!(matches!(
            a.admit("c.z", 5, false),
            Some(Refused::AwaitingFull)
        ));
        let stats = a.stats();
        assert!(stats.contains(&("admission.newSeriesRefused".into(), 4.0)));
        assert!(stats.contains(&("admission.pendingCreateRefused".into(), 5.0)));
        assert!(stats.contains(&(
            "admission.newSeriesRefusedByPrefix{prefix=\"b\"}".into(),
            4.0
        )));
        assert!(Admission::new(None).admit("d", 1, true).is_none());
    }
}
