//! carbon's plaintext line parser over arbitrary bytes, split into lines as
//! the receiver splits a stream.
//!
//! Checks: no panic; a parsed point has a non-empty name without
//! white space and a non-NaN value; every refusal formats.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storage::carbon::plaintext::{parse_line, Parsed};

/// A fixed "now" so that a `-1` timestamp resolves reproducibly.
const NOW: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        match parse_line(line, NOW) {
            Ok(Parsed::Point(name, _timestamp, value)) => {
                assert!(!name.is_empty() && !name.contains(char::is_whitespace));
                assert!(!value.is_nan());
            }
            Ok(Parsed::NanDropped | Parsed::Blank) => {}
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
