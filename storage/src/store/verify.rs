//! The start-up check for corrupt files: after the index is built (which
//! only lists names, so start-up stays fast on a million files), a
//! background thread reads each file's header once and warns about every
//! file that is not valid Whisper, so an operator hears about a damaged
//! file at start rather than at the first write or read of it.

use std::path::{Path, PathBuf};

use crate::whisper::{WhisperError, WhisperReader};

/// Files named individually in the log; past it, one summary line.
const NAMED: usize = 100;

/// Starts the check of every `.wsp` under `data_dir`; it stops early once
/// `stop()` is true.
pub(crate) fn spawn(
    data_dir: PathBuf,
    stop: impl Fn() -> bool + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("storage-verify".into())
        .spawn(move || {
            let mut found = 0usize;
            check_dir(&data_dir, &stop, &mut found, 0);
            if found > NAMED {
                tracing::warn!(
                    corrupt = found,
                    named = NAMED,
                    "more corrupt whisper files than named above"
                );
            }
        })
}

fn check_dir(dir: &Path, stop: &dyn Fn() -> bool, found: &mut usize, depth: usize) {
    if depth > 64 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if stop() {
            return;
        }
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            check_dir(&path, stop, found, depth + 1);
        } else if path.extension().is_some_and(|e| e == "wsp") {
            if let Err(e @ WhisperError::Corrupt { .. }) = WhisperReader::open(&path) {
                *found += 1;
                if *found <= NAMED {
                    tracing::warn!(file = %path.display(), error = %e, "corrupt whisper file found at start");
                }
            }
        }
    }
}
