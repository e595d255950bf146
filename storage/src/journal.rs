//! The write-ahead journal: every point the store accepts is appended here
//! before it enters the cache, so a crash (`kill -9`, OOM, power loss)
//! loses at most what arrived since the last sync, not the cache.
//!
//! * **Files.** `DATA_DIR/.journal/NNNNNNNNNNNNNNNNNNNN.wal` segments,
//!   numbered in order. A record is `[payload length u32][CRC-32 of the
//!   payload u32][payload]`, the payload a run of points, each
//!   `[name length u16][name][timestamp i64][value f64]`, little-endian.
//! * **Writing.** An append is one `write` into the open segment (so a
//!   process crash loses nothing that was appended: the page cache keeps
//!   it); a sync thread `fdatasync`s the segment every `wal_sync_interval`
//!   (group commit: one sync covers every append since the last).
//! * **Checkpoint.** Points written to their Whisper files need not be
//!   replayed. A checkpoint starts a new segment, copies into it whatever
//!   the cache still holds (the only points of the older segments not yet
//!   in files), syncs the data directory's file system once (`syncfs`, so
//!   the files' pages are on disk before their journal goes), and deletes
//!   the older segments.
//! * **Replay.** At start, before any listener opens, the segments are read
//!   in order and their points handed back to the cache. Re-applying a
//!   point is idempotent (a Whisper slot takes the same value again), so a
//!   point replayed after it reached its file lands once. A record whose
//!   checksum fails (a torn tail after a crash) ends its segment, with one
//!   log line naming the segment and offset.
//! * **Bound.** At `wal_max_size` bytes the store refuses new points (TCP
//!   carbon then pauses, UDP and StatsD count them) until a checkpoint
//!   frees room.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock, RwLockReadGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::api::MetricPoint;

/// The journal's directory under the data directory (hidden: find never
/// lists it).
pub const JOURNAL_DIR: &str = ".journal";

/// A segment is closed and a new one started past this size, so a
/// checkpoint's deletions free room in steps.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Bytes of a record's header: length and checksum.
const RECORD_HEADER: usize = 8;

/// Longest record payload accepted on replay (a bigger length field is
/// damage, not data).
const MAX_RECORD: usize = 256 * 1024 * 1024;

/// Journal settings (`[storage] wal_*`).
#[derive(Clone, Debug, PartialEq)]
pub struct JournalSettings {
    /// How often appended records are made durable.
    pub sync_interval: Duration,
    /// Most bytes the segments may hold together.
    pub max_size: u64,
}

impl Default for JournalSettings {
    fn default() -> Self {
        JournalSettings {
            sync_interval: Duration::from_secs(1),
            max_size: 1024 * 1024 * 1024,
        }
    }
}

/// The open segment.
struct Segment {
    number: u64,
    file: File,
    bytes: u64,
    /// Appended since the last sync.
    dirty: bool,
}

/// The journal of one data directory.
pub struct Journal {
    dir: PathBuf,
    settings: JournalSettings,
    current: Mutex<Segment>,
    /// Appends hold it shared from their append until their points are in
    /// the cache; a checkpoint takes it exclusively to start a new segment,
    /// so every point of the older segments is in the cache by then.
    gate: RwLock<()>,
    /// Bytes of all segments, the open one included.
    total_bytes: AtomicU64,
    /// Appends refused (journal full or failing).
    refused: AtomicU64,
    /// Records dropped on replay as damaged.
    damaged: AtomicU64,
    /// Syncs that failed (logged).
    sync_errors: AtomicU64,
    failing: AtomicBool,
}

/// Why an append was refused.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The segments hold `wal_max_size` bytes.
    #[error("journal full ({0} bytes)")]
    Full(u64),
    /// The write failed (disk full, I/O error).
    #[error("journal write failed: {0}")]
    Io(#[from] io::Error),
}

/// An append in progress: hold it until the points are in the cache.
pub struct Appended<'a> {
    _gate: RwLockReadGuard<'a, ()>,
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}.wal"))
}

/// Segment numbers present in `dir`, ascending.
fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut numbers: Vec<u64> = fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".wal")?.parse().ok()
        })
        .collect();
    numbers.sort_unstable();
    Ok(numbers)
}

/// Appends `points` to `out` as one record (header and payload), as
/// segments hold them.
pub fn encode(points: &[MetricPoint], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; RECORD_HEADER]);
    for p in points {
        let name = p.name.as_bytes();
        let len = name.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&name[..len]);
        out.extend_from_slice(&p.timestamp.to_le_bytes());
        out.extend_from_slice(&p.value.to_le_bytes());
    }
    let payload = &out[start + RECORD_HEADER..];
    let length = payload.len() as u32;
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes one record's payload; `None` if it is malformed.
fn decode(mut payload: &[u8], out: &mut Vec<MetricPoint>) -> Option<()> {
    while !payload.is_empty() {
        let len = usize::from(u16::from_le_bytes(payload.get(..2)?.try_into().ok()?));
        let name = std::str::from_utf8(payload.get(2..2 + len)?).ok()?;
        let rest = payload.get(2 + len..)?;
        let timestamp = i64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
        let value = f64::from_le_bytes(rest.get(8..16)?.try_into().ok()?);
        out.push(MetricPoint::new(name.to_string(), timestamp, value));
        payload = rest.get(16..)?;
    }
    Some(())
}

/// What a segment's read gave: its points, and where it was cut if a
/// record was damaged.
#[derive(Debug)]
pub struct SegmentRead {
    /// The points of every record before the first damaged one, in order.
    pub points: Vec<MetricPoint>,
    /// The offset of the first damaged record (checksum, length or payload
    /// wrong, or cut short), if any; nothing from there on is read.
    pub damaged_at: Option<u64>,
}

fn read_segment(path: &Path) -> io::Result<SegmentRead> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    Ok(decode_segment(&data))
}

/// Reads a segment's bytes (replay; fuzzed by `fuzz/fuzz_targets/
/// journal_replay.rs`).
pub fn decode_segment(data: &[u8]) -> SegmentRead {
    let mut points = Vec::new();
    let mut offset = 0usize;
    while offset < data.len() {
        let Some(header) = data.get(offset..offset + RECORD_HEADER) else {
            return SegmentRead {
                points,
                damaged_at: Some(offset as u64),
            };
        };
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let body = offset + RECORD_HEADER;
        let payload = (length <= MAX_RECORD)
            .then(|| data.get(body..body + length))
            .flatten();
        let mut decoded = Vec::new();
        let valid = payload
            .filter(|p| crc32fast::hash(p) == crc)
            .and_then(|p| decode(p, &mut decoded));
        if valid.is_none() {
            return SegmentRead {
                points,
                damaged_at: Some(offset as u64),
            };
        }
        points.append(&mut decoded);
        offset = body + length;
    }
    SegmentRead {
        points,
        damaged_at: None,
    }
}

impl Journal {
    /// Opens the journal under `data_dir` and returns it with every point
    /// its segments hold, in order, for the caller to put back in the cache
    /// before anything else is accepted. Appends go to a new segment.
    pub fn open(
        data_dir: &Path,
        settings: JournalSettings,
    ) -> io::Result<(Journal, Vec<MetricPoint>)> {
        let dir = data_dir.join(JOURNAL_DIR);
        fs::create_dir_all(&dir)?;
        let existing = segments(&dir)?;
        let mut replayed = Vec::new();
        let mut damaged = 0;
        let mut total = 0;
        for &number in &existing {
            let path = segment_path(&dir, number);
            total += fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let read = read_segment(&path)?;
            if let Some(offset) = read.damaged_at {
                damaged += 1;
                tracing::warn!(
                    segment = %path.display(),
                    offset,
                    points_before = read.points.len(),
                    "journal record damaged (a torn write at a crash): the rest of this segment is dropped"
                );
            }
            replayed.extend(read.points);
        }
        if !existing.is_empty() {
            tracing::info!(
                segments = existing.len(),
                points = replayed.len(),
                "replaying the journal"
            );
        }
        let next = existing.last().map_or(1, |n| n + 1);
        let segment = Self::create_segment(&dir, next)?;
        Ok((
            Journal {
                dir,
                settings,
                current: Mutex::new(segment),
                gate: RwLock::new(()),
                total_bytes: AtomicU64::new(total),
                refused: AtomicU64::new(0),
                damaged: AtomicU64::new(damaged),
                sync_errors: AtomicU64::new(0),
                failing: AtomicBool::new(false),
            },
            replayed,
        ))
    }

    fn create_segment(dir: &Path, number: u64) -> io::Result<Segment> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(dir, number))?;
        // the new name must survive a power loss too
        File::open(dir)?.sync_all()?;
        Ok(Segment {
            number,
            file,
            bytes: 0,
            dirty: false,
        })
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &JournalSettings {
        &self.settings
    }

    /// Appends `points` as one record. Hold the returned guard until the
    /// points are in the cache.
    pub fn append(&self, points: &[MetricPoint]) -> Result<Appended<'_>, AppendError> {
        let gate = self.gate.read().unwrap_or_else(|e| e.into_inner());
        let total = self.total_bytes.load(Ordering::Relaxed);
        if total >= self.settings.max_size {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(AppendError::Full(total));
        }
        let mut record = Vec::with_capacity(RECORD_HEADER + points.len() * 40);
        encode(points, &mut record);
        let mut segment = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if segment.bytes >= SEGMENT_BYTES {
            let next = Self::create_segment(&self.dir, segment.number + 1)?;
            let old = std::mem::replace(&mut *segment, next);
            // the closed segment's tail must be durable like the rest
            let _ = old.file.sync_data();
        }
        if let Err(e) = segment.file.write_all(&record) {
            self.refused.fetch_add(1, Ordering::Relaxed);
            if !self.failing.swap(true, Ordering::Relaxed) {
                tracing::error!(error = %e, "cannot write the journal: points are refused until it works again");
            }
            return Err(AppendError::Io(e));
        }
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!("the journal accepts writes again");
        }
        segment.bytes += record.len() as u64;
        segment.dirty = true;
        self.total_bytes
            .fetch_add(record.len() as u64, Ordering::Relaxed);
        Ok(Appended { _gate: gate })
    }

    /// Makes every append so far durable (one `fdatasync` of the open
    /// segment, if anything was appended since the last).
    pub fn sync(&self) {
        let mut segment = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if !segment.dirty {
            return;
        }
        match segment.file.sync_data() {
            Ok(()) => segment.dirty = false,
            Err(e) => {
                self.sync_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "journal sync failed");
            }
        }
    }

    /// Whether the segments are past half their bound: time for a
    /// checkpoint even if the timer has not come.
    pub fn wants_checkpoint(&self) -> bool {
        self.total_bytes.load(Ordering::Relaxed) >= self.settings.max_size / 2
    }

    /// Checkpoint: starts a new segment, lets `pending` write the points
    /// not yet in files into it, syncs the file system of `data_dir` once,
    /// then deletes the older segments. A failure leaves them in place (they
    /// are replayed next start).
    pub fn checkpoint(
        &self,
        data_dir: &Path,
        pending: impl FnOnce(&mut dyn FnMut(&[MetricPoint])),
    ) -> io::Result<()> {
        let older = {
            let _exclusive = self.gate.write().unwrap_or_else(|e| e.into_inner());
            let mut segment = self.current.lock().unwrap_or_else(|e| e.into_inner());
            let next = Self::create_segment(&self.dir, segment.number + 1)?;
            let old = std::mem::replace(&mut *segment, next);
            old.number
        };
        let mut failed = None;
        pending(&mut |points: &[MetricPoint]| {
            if failed.is_none() {
                if let Err(e) = self.append_unbounded(points) {
                    failed = Some(e);
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        self.sync();
        sync_filesystem(data_dir)?;
        let mut freed = 0;
        for number in segments(&self.dir)?.into_iter().filter(|&n| n <= older) {
            let path = segment_path(&self.dir, number);
            freed += fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&path)?;
        }
        self.total_bytes.fetch_sub(
            freed.min(self.total_bytes.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// An append that ignores the size bound (a checkpoint's copy of the
    /// cache must not be refused: it replaces what it frees).
    fn append_unbounded(&self, points: &[MetricPoint]) -> io::Result<()> {
        let mut record = Vec::with_capacity(RECORD_HEADER + points.len() * 40);
        encode(points, &mut record);
        let mut segment = self.current.lock().unwrap_or_else(|e| e.into_inner());
        segment.file.write_all(&record)?;
        segment.bytes += record.len() as u64;
        segment.dirty = true;
        self.total_bytes
            .fetch_add(record.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Counters for the self-metrics.
    pub fn stats(&self) -> Vec<(String, f64)> {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        vec![
            ("journal.bytes".into(), get(&self.total_bytes)),
            ("journal.refused".into(), get(&self.refused)),
            ("journal.damaged".into(), get(&self.damaged)),
            ("journal.sync_errors".into(), get(&self.sync_errors)),
        ]
    }
}

/// How often a store cuts its journal back to what it has not yet stored
/// (also whenever the journal passes half its bound).
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(10);

/// The thread that syncs `owner`'s journal every `wal_sync_interval` and
/// runs `checkpoint` every [`CHECKPOINT_EVERY`] or past half the bound;
/// `None` without a journal. Stopped through the returned sender.
pub fn spawn_sync_thread<T: Send + Sync + 'static>(
    thread_name: &str,
    owner: Arc<T>,
    journal_of: fn(&T) -> Option<&Journal>,
    checkpoint: fn(&T),
) -> io::Result<Option<(mpsc::Sender<()>, JoinHandle<()>)>> {
    let Some(every) = journal_of(&owner).map(|j| j.settings().sync_interval) else {
        return Ok(None);
    };
    let (tx, rx) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name(thread_name.into())
        .spawn(move || {
            let mut last_checkpoint = Instant::now();
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                let Some(journal) = journal_of(&owner) else {
                    return;
                };
                journal.sync();
                if last_checkpoint.elapsed() >= CHECKPOINT_EVERY || journal.wants_checkpoint() {
                    checkpoint(&owner);
                    last_checkpoint = Instant::now();
                }
            }
        })?;
    Ok(Some((tx, handle)))
}

/// One `syncfs` of the file system holding `dir`: every file's dirty pages
/// (the writers' mapped Whisper files included) reach the disk, in one call
/// however many files there are.
pub fn sync_filesystem(dir: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let handle = File::open(dir)?;
    // SAFETY: syncfs only reads the descriptor, which `handle` keeps open
    // for the duration of the call.
    let rc = unsafe { libc::syncfs(handle.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(n: usize, base: i64) -> Vec<MetricPoint> {
        (0..n)
            .map(|i| MetricPoint::new(format!("a.b{}", i % 3), base + i as i64, i as f64))
            .collect()
    }

    #[test]
    fn appended_points_are_replayed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (journal, replayed) = Journal::open(dir.path(), Default::default()).unwrap();
            assert!(replayed.is_empty());
            drop(journal.append(&points(5, 100)).unwrap());
            drop(journal.append(&points(2, 200)).unwrap());
        }
        let (_journal, replayed) = Journal::open(dir.path(), Default::default()).unwrap();
        let mut want = points(5, 100);
        want.extend(points(2, 200));
        assert_eq!(replayed, want);
    }

    #[test]
    fn a_torn_tail_is_dropped_and_the_records_before_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (journal, _) = Journal::open(dir.path(), Default::default()).unwrap();
            drop(journal.append(&points(4, 100)).unwrap());
            drop(journal.append(&points(4, 200)).unwrap());
        }
        let seg = segments(&dir.path().join(JOURNAL_DIR)).unwrap()[0];
        let path = segment_path(&dir.path().join(JOURNAL_DIR), seg);
        let len = fs::metadata(&path).unwrap().len();
        // cut the second record in the middle, as a crash mid-write would
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 10)
            .unwrap();
        let (journal, replayed) = Journal::open(dir.path(), Default::default()).unwrap();
        assert_eq!(replayed, points(4, 100));
        assert_eq!(journal.damaged.load(Ordering::Relaxed), 1);
        // a flipped byte inside a record is caught by its checksum
        let mut bytes = fs::read(&path).unwrap();
        bytes[RECORD_HEADER + 3] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        let (_, replayed) = Journal::open(dir.path(), Default::default()).unwrap();
        assert!(replayed.is_empty());
    }

    #[test]
    fn a_checkpoint_keeps_only_what_is_pending() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path(), Default::default()).unwrap();
        drop(journal.append(&points(6, 100)).unwrap());
        journal
            .checkpoint(dir.path(), |write| write(&points(1, 105)))
            .unwrap();
        drop(journal.append(&points(1, 300)).unwrap());
        drop(journal);
        let (_, replayed) = Journal::open(dir.path(), Default::default()).unwrap();
        let mut want = points(1, 105);
        want.extend(points(1, 300));
        assert_eq!(replayed, want);
    }

    #[test]
    fn a_full_journal_refuses_appends() {
        let dir = tempfile::tempdir().unwrap();
        let settings = JournalSettings {
            max_size: 100,
            ..Default::default()
        };
        let (journal, _) = Journal::open(dir.path(), settings).unwrap();
        drop(journal.append(&points(10, 100)).unwrap());
        assert!(matches!(
            journal.append(&points(1, 200)),
            Err(AppendError::Full(_))
        ));
        journal.checkpoint(dir.path(), |_| {}).unwrap();
        assert!(journal.append(&points(1, 200)).is_ok());
    }
}
