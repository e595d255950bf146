//! The write-ahead journal on the ClickHouse backend: the same
//! [`Journal`](crate::journal::Journal) as Whisper's, in
//! `DATA_DIR/.journal`, with the insert queue in the cache's place.
//!
//! - **Appends**: `Shared::accept` appends the points that fit, under the
//!   queue's lock and before they enter the queue, so a point is either
//!   refused or in both.
//! - **Checkpoint**: every 10 s (or past half of `wal_max_size`) a new
//!   segment starts, the points still queued (not yet acknowledged by
//!   ClickHouse, the batch in flight included) are copied into it, and the
//!   older segments go.
//! - **Replay**: at start, before any listener opens, the journal's points
//!   go back into the queue (beyond its bound: they were accepted once).
//!   A point inserted twice is harmless: carbon-clickhouse's tables keep
//!   one row per (Path, Time), the newest `Timestamp`, and reads do the
//!   same before a merge.
//! - **Stop**: what ClickHouse has not acknowledged by `[storage]
//!   stop_timeout` stays in the journal and is inserted after the restart,
//!   instead of being counted as lost.

use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use super::{names, Shared};
use crate::api::MetricPoint;

/// Queued points are copied into a checkpoint in chunks of this many.
const COPY_CHUNK: usize = 64 * 1024;

impl Shared {
    /// Cuts the journal back to the points ClickHouse has not acknowledged.
    pub(super) fn checkpoint(&self) {
        let Some(journal) = &self.journal else {
            return;
        };
        let result = journal.checkpoint(&self.store.data_dir, |write| {
            // A snapshot of the queue, taken after the new segment started:
            // later appends are in the new segment already, and rows
            // acknowledged meanwhile are merely kept one checkpoint longer.
            let rows: Vec<(Arc<str>, u32, f64)> = self
                .lock_queue()
                .points
                .iter()
                .map(|r| (Arc::clone(&r.path), r.time, r.value))
                .collect();
            let mut chunk = Vec::with_capacity(rows.len().min(COPY_CHUNK));
            for (path, time, value) in rows {
                let name = names::from_stored(&path).unwrap_or_else(|| path.to_string());
                chunk.push(MetricPoint::new(name, i64::from(time), value));
                if chunk.len() == COPY_CHUNK {
                    write(&chunk);
                    chunk.clear();
                }
            }
            if !chunk.is_empty() {
                write(&chunk);
            }
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, "journal checkpoint failed; the older segments are kept");
        }
    }

    /// At stop, once the writer is done: what ClickHouse did not take stays
    /// in the journal.
    pub(super) fn finish_journal(&self) {
        if self.journal.is_none() {
            return;
        }
        self.checkpoint();
        let left = self.lock_queue().points.len();
        if left > 0 {
            tracing::warn!(
                points = left,
                "stopped before ClickHouse took every point; they stay in the journal and are inserted after the next start"
            );
        }
    }
}

/// The thread that syncs the journal and checkpoints it; stopped through
/// the returned sender.
pub(super) fn spawn(
    shared: &Arc<Shared>,
) -> std::io::Result<Option<(mpsc::Sender<()>, JoinHandle<()>)>> {
    crate::journal::spawn_sync_thread(
        "clickhouse-journal",
        Arc::clone(shared),
        |shared| shared.journal.as_ref(),
        Shared::checkpoint,
    )
}
