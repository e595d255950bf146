//! How the store uses its [`Journal`]: replay at start, the sync and
//! checkpoint thread, and the final checkpoint at stop. Appends happen
//! where points are accepted (`Inner::accept`, `Inner::offer_points`).

use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use super::{Gate, Inner};
use crate::api::MetricPoint;
use crate::cache::Room;

/// Replayed points are added in chunks of this many (bounded scratch).
const REPLAY_CHUNK: usize = 64 * 1024;

impl Inner {
    /// Puts the journal's points back in the cache (no limit: they were
    /// accepted once already) and indexes their names.
    pub(super) fn replay(&self, points: &[MetricPoint]) {
        for chunk in points.chunks(REPLAY_CHUNK) {
            let granted = self.cache.reserve(chunk.len(), usize::MAX);
            let mut rejected = 0;
            let added = self.add_points(chunk, Room::Reserved, Gate::Open, &mut rejected);
            self.cache.release(granted - added.grew);
        }
        if !points.is_empty() {
            self.cache.notify();
        }
    }

    /// Cuts the journal back to the points not yet in files.
    pub(super) fn checkpoint(&self) {
        let Some(journal) = &self.journal else {
            return;
        };
        let result = journal.checkpoint(&self.settings.data_dir, |write| {
            let mut pending = Vec::new();
            for shard in 0..self.cache.shard_count() {
                pending.clear();
                self.cache.pending_into(shard, &mut pending);
                if !pending.is_empty() {
                    write(&pending);
                }
            }
        });
        if let Err(e) = result {
            self.log_error(|| tracing::warn!(error = %e, "journal checkpoint failed; the older segments are kept"));
        }
    }
}

/// The thread that syncs the journal and checkpoints it; stopped through
/// the returned sender.
pub(super) fn spawn(
    inner: Arc<Inner>,
) -> std::io::Result<Option<(mpsc::Sender<()>, JoinHandle<()>)>> {
    crate::journal::spawn_sync_thread(
        "storage-journal",
        inner,
        |inner| inner.journal.as_ref(),
        Inner::checkpoint,
    )
}

/// At stop, once the writers are done: what the cache still holds stays in
/// the journal (written after the next start); without a journal, one
/// `syncfs` makes the files durable.
pub(super) fn finish(inner: &Inner) {
    if inner.journal.is_some() {
        inner.checkpoint();
    } else if let Err(e) = crate::journal::sync_filesystem(&inner.settings.data_dir) {
        tracing::warn!(error = %e, "syncfs of the data directory failed at stop");
    }
    let left = inner.cache.size();
    if left > 0 {
        if inner.journal.is_some() {
            tracing::warn!(
                points = left,
                "stopped before every point was in its file; they stay in the journal and are written after the next start"
            );
        } else {
            tracing::error!(
                points = left,
                "storage stopped with points it could not write"
            );
        }
    }
}
