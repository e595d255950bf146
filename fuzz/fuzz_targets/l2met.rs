//! The l2met log-metric parsers over arbitrary bytes: a logplex body (the
//! `POST /logs` drain), each frame's RFC 5424 header, each line's fields;
//! then the same bytes as plain log lines (`text/plain`, `ferrograph logs`).
//!
//! Checks what the parsers promise: no panic; frames lie inside the body;
//! every metric has a non-empty name and a finite value, measures are not
//! negative; the StatsD text built for `ferrograph logs` parses back with
//! the StatsD parser into as many samples, with no errors.
#![no_main]

use aggregator::l2met::{logplex_frames, parse_line, statsd_lines, syslog_message, Kind, Line};
use aggregator::statsd::{lines, parse_line as parse_statsd, ParseOptions};
use libfuzzer_sys::fuzz_target;

fn check(line: &Line<'_>) {
    for m in &line.metrics {
        assert!(!m.name.is_empty());
        assert!(m.value.is_finite(), "{m:?}");
        if m.kind == Kind::Measure {
            assert!(m.value >= 0.0, "{m:?}");
        }
    }
    for source_tag in [false, true] {
        let mut text = String::new();
        statsd_lines(line, source_tag, &mut text);
        let samples: usize = lines(&text)
            .map(|l| {
                parse_statsd(l, &ParseOptions::default())
                    .samples()
                    .map(|s| s.expect("the StatsD text we build parses"))
                    .count()
            })
            .sum();
        let negative_gauges = line
            .metrics
            .iter()
            .filter(|m| m.kind == Kind::Sample && m.value.is_sign_negative())
            .count();
        assert_eq!(samples, line.metrics.len() + negative_gauges, "{text:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let range = data.as_ptr_range();
    for frame in logplex_frames(data).flatten() {
        let r = frame.as_ptr_range();
        assert!(range.start <= r.start && r.end <= range.end);
        let text = String::from_utf8_lossy(frame);
        if let Ok(message) = syslog_message(&text) {
            for l in message.lines() {
                check(&parse_line(l));
            }
        }
    }
    for l in String::from_utf8_lossy(data).lines() {
        check(&parse_line(l));
    }
});
