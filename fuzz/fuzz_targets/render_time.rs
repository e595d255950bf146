//! The render API's time grammar: `from`/`until` specs and offsets, over
//! arbitrary text, in zones chosen to cover DST gaps, folds and odd
//! offsets (the first byte picks the zone and the parser).
//!
//! Checks: no panic (overflow included: fuzz builds keep overflow checks).
#![no_main]

use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;
use render_api::time::{parse_at_time, parse_offset};

/// 2023-11-14T22:13:20Z: a fixed "now" keeps every run reproducible.
const NOW: i64 = 1_700_000_000;

const ZONES: [Tz; 6] = [
    Tz::UTC,
    Tz::America__New_York,
    Tz::Europe__London,
    Tz::Australia__Lord_Howe,
    Tz::Asia__Kathmandu,
    Tz::Pacific__Kiritimati,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let tz = ZONES[usize::from(pick >> 1) % ZONES.len()];
    if pick & 1 == 0 {
        if let Err(e) = parse_at_time(&text, tz, NOW) {
            let _ = e.to_string();
        }
    } else if let Err(e) = parse_offset(&text) {
        let _ = e.to_string();
    }
});
