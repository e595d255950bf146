//! The pickle subset of carbon's port 2004 over arbitrary payloads (the
//! framing layer has already bounded the length).
//!
//! Checks: no panic, no unbounded allocation (libFuzzer's malloc limit);
//! the message parser agrees with the value decoder on what is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storage::carbon::pickle::{decode, parse_message, Element};

fuzz_target!(|data: &[u8]| {
    let decoded = decode(data);
    match parse_message(data) {
        Ok(elements) => {
            assert!(decoded.is_ok());
            for element in elements {
                if let Element::Bad(why) = element {
                    assert!(!why.is_empty());
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
