//! The StatsD line parser over arbitrary datagrams, under every combination
//! of the parser switches (the first byte picks them).
//!
//! Checks what the parser promises: no panic; counters and timers come out
//! finite with a positive rate, and their scaled count is finite; with
//! `sanitize` on (and no tag canonicalization) the key holds only
//! `[A-Za-z0-9_\-.;=]`; the plain-line reader, which takes the raw bytes
//! without a UTF-8 check, takes only a valid first line and reads it as
//! the full parser does.
#![no_main]

use aggregator::statsd::{lines, parse_line, parse_plain_line, ParseOptions};
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
    if let Some(plain) = parse_plain_line(packet, &options) {
        let line = std::str::from_utf8(&packet[..plain.len]).expect("a plain line is UTF-8");
        let line = line.strip_suffix('\n').unwrap_or(line);
        let full = parse_line(line, &options);
        assert_eq!(&*full.key, plain.key);
        assert_eq!(full.samples().collect::<Vec<_>>(), [Ok(plain.sample)]);
    }
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
