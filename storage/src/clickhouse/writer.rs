//! The writer thread: batches of the queue's front into RowBinary inserts,
//! index and tagged rows first (so a point, once visible, is findable),
//! then points. A failed insert leaves the rows queued and is retried with
//! a growing pause; at stop it keeps trying until `[storage] stop_timeout`,
//! then leaves what is left to the journal (or, without one, counts it as
//! lost).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::queue::{self, INDEX_COLUMNS, POINT_COLUMNS, TAGGED_COLUMNS};
use super::rowbinary::Writer;
use super::{unix_now, ClickHouseError, Shared};

/// Longest pause between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub(super) fn run(shared: &Shared) {
    let mut backoff = Duration::from_millis(100);
    let mut last_error_log: Option<Instant> = None;
    let mut stop_deadline: Option<Instant> = None;
    let mut next_flush = Instant::now() + shared.settings.batch_interval;
    loop {
        // Wait for a full batch, the interval, or a stop.
        let (points, entries, stopping) = {
            let mut queue = shared.lock_queue();
            loop {
                let full = queue.points.len() >= shared.settings.batch_size;
                let now = Instant::now();
                if full || queue.stopping || now >= next_flush {
                    break;
                }
                queue = shared
                    .wake
                    .wait_timeout(queue, next_flush - now)
                    .map(|(q, _)| q)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            if queue.stopping && stop_deadline.is_none() {
                stop_deadline = Some(Instant::now() + shared.store.stop_timeout);
            }
            if queue.points.is_empty() && queue.index.is_empty() {
                if queue.stopping {
                    return;
                }
                next_flush = Instant::now() + shared.settings.batch_interval;
                continue;
            }
            let n = queue.points.len().min(shared.settings.batch_size);
            let mut points = Writer::with_capacity(n * 48);
            queue::encode_points(queue.points.iter().take(n), &mut points);
            let m = queue.index.len();
            let version = unix_now();
            let mut index = Writer::default();
            let mut tagged = Writer::default();
            queue::encode_index(queue.index.iter(), version, &mut index);
            queue::encode_tagged(queue.index.iter(), version, &mut tagged);
            ((n, points), (m, index, tagged), queue.stopping)
        };
        let (n, points) = points;
        let (m, index, tagged) = entries;
        match insert(shared, &index, &tagged, &points) {
            Ok(()) => {
                backoff = Duration::from_millis(100);
                let mut queue = shared.lock_queue();
                queue.index.drain(..m);
                queue.points.drain(..n);
                shared.stats.inserts.fetch_add(1, Ordering::Relaxed);
                shared
                    .stats
                    .points_inserted
                    .fetch_add(n as u64, Ordering::Relaxed);
                let more = queue.points.len() >= shared.settings.batch_size;
                drop(queue);
                if !more && !stopping {
                    next_flush = Instant::now() + shared.settings.batch_interval;
                }
            }
            Err(e) => {
                shared.stats.insert_errors.fetch_add(1, Ordering::Relaxed);
                if last_error_log.map_or(true, |t| t.elapsed() >= Duration::from_secs(10)) {
                    last_error_log = Some(Instant::now());
                    tracing::warn!(error = %e, queued = n, "insert into ClickHouse failed; the points stay queued and the insert is retried");
                }
                if let Some(deadline) = stop_deadline {
                    if Instant::now() + backoff >= deadline && shared.journal.is_some() {
                        // The stop's final checkpoint keeps them for the
                        // next start.
                        tracing::warn!(queued = shared.lock_queue().points.len(), error = %e, "stop_timeout reached with ClickHouse failing: the queued points stay in the journal");
                        return;
                    }
                    if Instant::now() + backoff >= deadline {
                        let mut queue = shared.lock_queue();
                        let lost = queue.points.len();
                        queue.points.clear();
                        queue.index.clear();
                        shared
                            .stats
                            .points_lost_at_stop
                            .fetch_add(lost as u64, Ordering::Relaxed);
                        tracing::error!(lost, error = %e, "stop_timeout reached with ClickHouse failing: queued points were not inserted");
                        return;
                    }
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                next_flush = Instant::now();
            }
        }
    }
}

fn insert(
    shared: &Shared,
    index: &Writer,
    tagged: &Writer,
    points: &Writer,
) -> Result<(), ClickHouseError> {
    let s = &shared.settings;
    if !index.buf.is_empty() {
        shared
            .client
            .insert(&s.index_table, INDEX_COLUMNS, &index.buf)?;
    }
    if !tagged.buf.is_empty() {
        shared
            .client
            .insert(&s.tagged_table, TAGGED_COLUMNS, &tagged.buf)?;
    }
    if !points.buf.is_empty() {
        shared
            .client
            .insert(&s.points_table, POINT_COLUMNS, &points.buf)?;
    }
    Ok(())
}
