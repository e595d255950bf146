//! The Whisper header decoder over arbitrary (corrupt) files held in
//! memory, and then what the server does with a header it accepted: a
//! fetch and an update through the reference algorithms over the bytes.
//!
//! Checks: no panic, no unbounded allocation; an accepted header describes
//! archives that lie inside the file.
#![no_main]

use ferrograph_fuzz::Window;
use libfuzzer_sys::fuzz_target;
use storage::whisper::format::decode_header;
use storage::whisper::ops;

fuzz_target!(|data: &[u8]| {
    let (window, file) = Window::split(data);
    let header = match decode_header(file, file.len() as u64) {
        Ok(header) => header,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(header.size() <= file.len());
    for archive in &header.archives {
        assert!(archive.end() <= file.len() as u64, "{archive:?}");
    }
    let granularity = window.granularity(header.archives.iter().map(|a| a.seconds_per_point));
    if let Err(e) = ops::fetch(
        file,
        &header,
        window.from,
        window.until,
        window.now,
        granularity,
    ) {
        let _ = e.to_string();
    }
    let mut bytes = file.to_vec();
    let points = [
        (window.until, 1.5),
        (window.from, -2.0),
        (window.until, 3.0),
    ];
    if let Err(e) = ops::update(&mut bytes, &header, 0.5, window.until, window.now) {
        let _ = e.to_string();
    }
    if let Err(e) = ops::update_many(&mut bytes, &header, &points, window.now) {
        let _ = e.to_string();
    }
    // Writes go to archive slots only, never over the header.
    assert_eq!(decode_header(&bytes, bytes.len() as u64).ok(), Some(header));
});
