//! Whisper files on disk as the render API and the writers open them:
//! arbitrary (corrupt) bytes written to a temporary file, then `info`, the
//! `pread` reader's fetches, the mapped reader's fetch, and an update of
//! the unmapped writer.
//!
//! Checks: no panic and no unbounded allocation; every refusal is an error
//! that names the file.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use ferrograph_fuzz::Window;
use libfuzzer_sys::fuzz_target;
use storage::whisper::{self, FileBuffers, WhisperError, WhisperFile, WhisperReader};

/// One file per fuzzing process, rewritten for every input.
fn scratch_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("ferrograph-fuzz-{}.wsp", std::process::id()))
    })
}

fn check(e: WhisperError) {
    let text = e.to_string();
    if let WhisperError::Corrupt { path, .. } = &e {
        assert_eq!(path, scratch_path(), "{text}");
    }
}

fuzz_target!(|data: &[u8]| {
    let (window, file) = Window::split(data);
    let path = scratch_path();
    std::fs::write(path, file).expect("the fuzzer's scratch file is writable");
    let (from, until, now) = (window.from, window.until, window.now);

    if let Err(e) = whisper::info(path) {
        check(e);
    }
    match WhisperReader::open(path) {
        Ok(reader) => {
            let steps = reader.header().archives.iter().map(|a| a.seconds_per_point);
            let granularity = window.granularity(steps);
            if let Err(e) = reader.fetch_into(from, until, now, granularity, Vec::new()) {
                check(e);
            }
            if let Err(e) = reader.fetch_stitched_into(from, until, now, Vec::new()) {
                check(e);
            }
        }
        Err(e) => check(e),
    }
    match WhisperFile::open(path) {
        Ok(mapped) => {
            if let Err(e) = mapped.fetch(from, until, now, None) {
                check(e);
            }
        }
        Err(e) => check(e),
    }
    let points = [(until, 1.5), (from, -2.0)];
    if let Err(e) = whisper::update_many_unmapped(path, &points, now, &mut FileBuffers::default()) {
        check(e);
    }
    // Nothing is left behind when the fuzzer stops.
    let _ = std::fs::remove_file(path);
});
