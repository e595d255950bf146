//! `[storage] resize_on_schema_change`: existing files whose archives
//! differ from their schema's are rewritten in the background with
//! `whisper-resize` semantics (the same code as `ferrograph whisper
//! resize`: each archive's points copied into the new layout, the old
//! xFilesFactor and aggregation method kept), after start and after every
//! reload that replaced the rules.
//!
//! No point is lost: a file is resized under the write half of
//! [`FileSwap`], whose read half every writer holds while it writes, so no
//! write lands while the old file is copied; the new file is renamed over
//! the old one (atomic per file), and the swap generation goes up before
//! the lock is released, which makes every writer drop its mapping of the
//! replaced file before its next write. Points still cached are written
//! into the new file afterwards. Files are resized at most
//! `resize_files_per_second`, so the writers wait at most one file's copy
//! at a time.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::tagged::TAGGED_DIR;
use crate::whisper::tools::{self, ResizeOptions};

use super::{unix_now, Inner};

/// Writers against file replacement: see the module comment.
#[derive(Default)]
pub(super) struct FileSwap {
    lock: RwLock<()>,
    /// Bumped, under the write lock, after every replacement.
    generation: AtomicU64,
}

impl FileSwap {
    /// Held by a writer while it writes; the swap generation with it.
    pub(super) fn writing(&self) -> (std::sync::RwLockReadGuard<'_, ()>, u64) {
        let guard = self.lock.read().unwrap_or_else(|e| e.into_inner());
        (guard, self.generation.load(Ordering::Acquire))
    }
}

/// Progress of background resizing, for the self-metrics.
#[derive(Default)]
pub(super) struct ResizeStats {
    /// Files resized.
    resized: AtomicU64,
    /// Files that could not be resized (left as they were).
    errors: AtomicU64,
    /// Files found to differ from their schema and not done yet.
    pending: AtomicU64,
    /// Full scans of the data directory.
    scans: AtomicU64,
}

impl ResizeStats {
    pub(super) fn snapshot(&self) -> Vec<(String, f64)> {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        vec![
            ("resize.files".into(), get(&self.resized)),
            ("resize.errors".into(), get(&self.errors)),
            ("resize.pending".into(), get(&self.pending)),
            ("resize.scans".into(), get(&self.scans)),
        ]
    }
}

/// Starts the background resizer when `[storage] resize_on_schema_change`
/// is on: it scans at once, then again whenever the rules' version moves.
pub(super) fn spawn(
    inner: &Arc<Inner>,
) -> std::io::Result<Option<(mpsc::Sender<()>, JoinHandle<()>)>> {
    let Some(rate) = inner.settings.resize_files_per_second else {
        return Ok(None);
    };
    let (tx, rx) = mpsc::channel::<()>();
    let inner = Arc::clone(inner);
    let handle = std::thread::Builder::new()
        .name("storage-resize".into())
        .spawn(move || {
            let mut done_version = None;
            loop {
                let version = inner.rules.current().version;
                if done_version != Some(version) {
                    let finished = resize_all(&inner, rate, &rx);
                    if !finished {
                        return;
                    }
                    done_version = Some(version);
                }
                match rx.recv_timeout(Duration::from_millis(500)) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            }
        })?;
    Ok(Some((tx, handle)))
}

/// Whether the resizer was told to stop: the store drops the sender, so
/// this stays true once it is.
fn stop_requested(rx: &mpsc::Receiver<()>) -> bool {
    !matches!(rx.try_recv(), Err(mpsc::TryRecvError::Empty))
}

/// One scan and the resizes it finds; false when stopped part-way.
fn resize_all(inner: &Inner, rate: f64, rx: &mpsc::Receiver<()>) -> bool {
    let started = Instant::now();
    let mut files = Vec::new();
    if !scan(&inner.settings.data_dir, &mut Vec::new(), &mut files, rx) {
        return false;
    }
    let rules = inner.rules.current();
    let mut todo: Vec<(PathBuf, Vec<(u32, u32)>)> = Vec::new();
    for (path, name) in files {
        if stop_requested(rx) {
            return false;
        }
        let wanted = &rules.schemas.lookup(&name).archives;
        let Ok(header) = crate::whisper::info(&path) else {
            // unreadable or corrupt: the writers report those
            continue;
        };
        let has: Vec<(u32, u32)> = header
            .archives
            .iter()
            .map(|a| (a.seconds_per_point, a.points))
            .collect();
        if &has != wanted {
            todo.push((path, wanted.clone()));
        }
    }
    inner.resize_stats.scans.fetch_add(1, Ordering::Relaxed);
    inner
        .resize_stats
        .pending
        .store(todo.len() as u64, Ordering::Relaxed);
    if !todo.is_empty() {
        tracing::info!(
            files = todo.len(),
            rules_version = rules.version,
            files_per_second = rate,
            "resizing files whose archives differ from their schema's"
        );
    }
    let every = Duration::from_secs_f64(1.0 / rate);
    let mut next = Instant::now();
    let (mut resized, mut failed) = (0u64, 0u64);
    for (path, wanted) in todo {
        let now = Instant::now();
        if next > now {
            // the rate limit; a stop request ends the wait
            match rx.recv_timeout(next - now) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                _ => return false,
            }
        } else if stop_requested(rx) {
            return false;
        }
        next = Instant::now().max(next) + every;
        match resize_one(inner, &path, &wanted) {
            Ok(true) => {
                resized += 1;
                inner.resize_stats.resized.fetch_add(1, Ordering::Relaxed);
            }
            Ok(false) => {}
            Err(e) => {
                failed += 1;
                inner.resize_stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(file = %path.display(), error = %e, "cannot resize whisper file; it keeps its archives");
            }
        }
        inner.resize_stats.pending.fetch_sub(1, Ordering::Relaxed);
    }
    if resized + failed > 0 {
        tracing::info!(
            resized,
            failed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "resize to the schemas done"
        );
    }
    true
}

/// Rewrites `path` with the archives `wanted` while no writer writes;
/// false when, by then, it already has them (nothing to do).
fn resize_one(inner: &Inner, path: &Path, wanted: &[(u32, u32)]) -> Result<bool, String> {
    let retentions: Vec<String> = wanted.iter().map(|(s, p)| format!("{s}:{p}")).collect();
    let options = ResizeOptions {
        retentions: &retentions,
        nobackup: true,
        ..ResizeOptions::default()
    };
    let mut transcript = String::new();
    let _swap = inner
        .file_swap
        .lock
        .write()
        .unwrap_or_else(|e| e.into_inner());
    // The scan read the header earlier; the file may have changed since.
    if let Ok(header) = crate::whisper::info(path) {
        if header
            .archives
            .iter()
            .map(|a| (a.seconds_per_point, a.points))
            .eq(wanted.iter().copied())
        {
            return Ok(false);
        }
    }
    let result = tools::resize(path, &options, unix_now(), &mut transcript, &());
    // Even a failed attempt may have replaced the file: writers re-check.
    inner.file_swap.generation.fetch_add(1, Ordering::AcqRel);
    result.map(|()| true).map_err(|e| {
        let said = transcript.lines().last().unwrap_or_default();
        format!("{e} ({said})")
    })
}

/// Every `NAME.wsp` under `dir` with its dotted series name; tagged series
/// (under `_tagged/`, named by hash) and hidden directories are left out.
/// False when stopped part-way.
fn scan(
    dir: &Path,
    prefix: &mut Vec<String>,
    out: &mut Vec<(PathBuf, String)>,
    rx: &mpsc::Receiver<()>,
) -> bool {
    if stop_requested(rx) {
        return false;
    }
    if prefix.len() > 64 {
        return true;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return true;
    };
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if name.starts_with('.') || (prefix.is_empty() && name == TAGGED_DIR) {
                continue;
            }
            prefix.push(name);
            let go_on = scan(&entry.path(), prefix, out, rx);
            prefix.pop();
            if !go_on {
                return false;
            }
        } else if let Some(stem) = name.strip_suffix(".wsp") {
            if !stem.is_empty() && !stem.contains('.') && kind.is_file() {
                prefix.push(stem.to_string());
                out.push((entry.path(), prefix.join(".")));
                prefix.pop();
            }
        }
    }
    true
}
