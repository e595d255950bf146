//! The StatsD line parser over arbitrary datagrams, under every combination
//! of the parser switches (the first byte picks them).
//!
//! Checks what the parser promises: no panic; counters and timers come out
//! finite with a positive rate, and their scaled count is finite; with
//! `sanitize` on (and no tag canonicalization) the key holds only
//! `[A-Za-z0-9_\-.;=]`.
#![no_main]

use aggregator::statsd::{lines, parse_line, ParseOptions};
use aggregator::Sample;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&switches, packet)) = data.split_first() else {
        return;
    };
    let options = ParseOptions {
        sanitize: switches & 1 == 0,
        hd_as_timers: switches & 2 != 0,
        canonicalize_tags: switches & 4 != 0,
    };
    // The listeners decode datagrams this way before parsing.
    let text = String::from_utf8_lossy(packet);
    for line in lines(&text) {
        let parsed = parse_line(line, &options);
        if options.sanitize && !options.canonicalize_tags {
            assert!(
                parsed
                    .key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric()
                        || matches!(b, b'_' | b'-' | b'.' | b';' | b'=')),
                "unsanitized key {:?}",
                parsed.key
            );
        }
        for sample in parsed.samples() {
            match sample {
                Ok(Sample::Counter { value, rate } | Sample::Timer { value, rate }) => {
                    assert!(value.is_finite() && rate > 0.0, "{value} @{rate}");
                    assert!((value * (1.0 / rate)).is_finite(), "{value} @{rate}");
                }
                Ok(Sample::Gauge { value, .. }) => assert!(value.is_finite(), "{value}"),
                Ok(Sample::Set { .. }) => {}
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }
    }
});
