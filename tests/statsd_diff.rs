//! Differential suite: the same packets go to the real Etsy StatsD 0.9.0
//! and to `ferrograph statsd`, both flushing to a capture server; every
//! flushed name and value must match (timestamps aside, and the values of
//! volatile self-metrics such as `processing_time`, whose names must still
//! match). Each case uses its own key prefix (`tNN`), so many cases share
//! one run; four runs with different configurations go in parallel.
//!
//! Where ferrograph deliberately differs (the reference crashes or writes
//! `Infinity`/`NaN`), the case is in the ferrograph-only run
//! [`documented_differences`] and asserts our documented behaviour
//! (docs/statsd.md, "Differences from Etsy StatsD").

use std::collections::BTreeMap;

use serde_json::json;

use crate::statsd_harness::{
    capture_flushes, render, start_etsy, start_ferrograph, Capture, Flush, Via,
};
use crate::util;

const FLUSH_MS: u64 = 1000;

/// One named case: its packets.
struct Case {
    name: &'static str,
    packets: Vec<(Via, Vec<u8>)>,
}

fn udp(name: &'static str, datagrams: &[&[u8]]) -> Case {
    Case {
        name,
        packets: datagrams.iter().map(|d| (Via::Udp, d.to_vec())).collect(),
    }
}

fn tcp(name: &'static str, chunks: &[&[u8]]) -> Case {
    Case {
        name,
        packets: chunks
            .iter()
            .enumerate()
            .map(|(i, d)| (if i == 0 { Via::TcpNew } else { Via::Tcp }, d.to_vec()))
            .collect(),
    }
}

fn owned(name: &'static str, datagrams: Vec<String>) -> Case {
    Case {
        name,
        packets: datagrams
            .into_iter()
            .map(|d| (Via::Udp, d.into_bytes()))
            .collect(),
    }
}

/// Cases for the default (legacy) configuration: every row of the spec's
/// line grammar, types, names, tags and edge-case tables.
fn default_cases() -> Vec<Case> {
    vec![
        udp("counter", &[b"t01:1|c"]),
        udp("sampled_counter", &[b"t02:1|c|@0.1"]),
        udp("rate_above_one", &[b"t03:1|c|@2"]),
        udp("rate_leading_dot", &[b"t04:1|c|@.5"]),
        udp(
            "negative_and_fractional_counter",
            &[b"t05:-3|c", b"t05:1.5|c"],
        ),
        udp("value_with_spaces", &[b"t06: 5 |c"]),
        udp("hex_and_exponent_values", &[b"t07:0x10|c", b"t07:1e3|c"]),
        udp(
            "type_and_rate_with_spaces",
            &[b"t08:1| c", b"t08:1|c |@0.5"],
        ),
        udp(
            "unknown_types_are_counters",
            &[
                b"t09a:1|C",
                b"t09b:1|h",
                b"t09c:2|d",
                b"t09d:3|x",
                b"t09e:4|kv",
            ],
        ),
        udp("etsy_multi_value", &[b"t10:1|c:2|c:3|ms"]),
        udp(
            "multi_line_datagram",
            &[b"t11a:1|c\nt11b:2|c\n\nt11c:3|c\n"],
        ),
        udp("extra_fields_ignored", &[b"t12:1|c|@0.5|extra|fields"]),
        udp("plus_sign_counter", &[b"t13:+5|c"]),
        owned("counter_accumulates", vec!["t14:1|c".to_string(); 10]),
        udp("whitespace_value_is_zero", &[b"t15:  |c"]),
        udp("single_timer", &[b"t16:100|ms"]),
        owned(
            "timer_one_to_ten",
            (1..=10).map(|i| format!("t17:{i}|ms")).collect(),
        ),
        udp("sampled_timer", &[b"t18:5|ms|@0.1", b"t18:7|ms"]),
        udp("float_timers", &[b"t19:1.5|ms", b"t19:2.25|ms"]),
        udp("negative_timer_is_bad", &[b"t20:-1|ms", b"t20:3|ms"]),
        udp(
            "even_count_median",
            &[b"t21:2|ms", b"t21:2|ms", b"t21:9|ms", b"t21:4|ms"],
        ),
        owned(
            "timer_hundred_values",
            vec![(0..100)
                .map(|i| format!("t22:{}|ms", (i * 37) % 101))
                .collect::<Vec<_>>()
                .join("\n")],
        ),
        udp("zero_timer", &[b"t23:0|ms"]),
        udp(
            "untrimmed_ms_type_allows_negative",
            &[b"t24:-1|ms ", b"t24:2|ms"],
        ),
        udp("gauge", &[b"t25:10|g"]),
        udp("gauge_deltas", &[b"t26:10|g", b"t26:-5|g", b"t26:+4|g"]),
        udp("delta_on_absent_gauge", &[b"t27:-5|g"]),
        udp("delta_on_zero_gauge", &[b"t28:0|g", b"t28:-5|g"]),
        udp(
            "bad_gauge_values",
            &[b"t29:- 5|g", b"t29:NaN|g", b"t29:1|g"],
        ),
        udp("space_before_sign_sets", &[b"t30:10|g", b"t30: -5|g"]),
        udp("gauge_number_forms", &[b"t31a:1.5|g", b"t31b:0x10|g"]),
        udp("gauge_ignores_rate", &[b"t32:3|g|@0.5"]),
        udp("set", &[b"t33:a|s", b"t33:b|s", b"t33:a|s"]),
        udp("empty_set_member_is_zero", &[b"t34:|s", b"t34:0|s"]),
        udp("set_type_with_cr", &[b"t35:abc|s\r", b"t35:5|s\r"]),
        udp("set_members_untrimmed", &[b"t36: x |s", b"t36:x|s"]),
        udp(
            "set_non_ascii_members",
            &[b"t37:h\xc3\xa9llo|s", b"t37:h\xffllo|s"],
        ),
        udp("sanitize_specials", &[b"t38 sp ace/sl ash@#$x:1|c"]),
        udp("sanitize_non_ascii", &[b"t39.h\xc3\xa9llo:1|c"]),
        udp("sanitize_invalid_utf8", &[b"t40n\xff\xfeme:1|c"]),
        udp("empty_key", &[b":1|c", b"@@@:2|c"]),
        udp("dots_kept", &[b"t42..a.:1|c"]),
        udp("tab_whitespace_run", &[b"t43\t \tx:1|c"]),
        udp("dogstatsd_tags", &[b"t44:1|c|#env:prod,region:eu"]),
        udp("bare_tag", &[b"t45:1|c|#bare"]),
        udp("duplicate_tag_keys", &[b"t46:1|c|#k:v,k:w"]),
        udp("tag_semicolon", &[b"t47:1|c|#k;x:v"]),
        udp("tag_second_colon", &[b"t48:1|c|#a:b:c"]),
        udp("empty_tag_list", &[b"t49:1|c|#"]),
        udp("third_tag_section_ignored", &[b"t50:1|c|#a:b|#c:d"]),
        udp("tags_not_last", &[b"t51:1|#a:b|@0.5"]),
        udp(
            "tagged_timer_and_gauge",
            &[b"t52:5|ms|#host:h1", b"t52:5|g|#x:y"],
        ),
        udp("dogstatsd_container_field", &[b"t53:1|c|#k:v|c:abc123"]),
        udp("dogstatsd_timestamp_without_tags", &[b"t54:1|c|T123"]),
        udp("no_colon", &[b"t55", b"t55|c"]),
        udp("empty_values", &[b"t56:|c", b"t56:|ms", b"t56:|g"]),
        udp("non_numeric_values", &[b"t57:abc|c", b"t57:NaN|c"]),
        udp(
            "bad_sample_rates",
            &[
                b"t58:1|c|@-0.5",
                b"t58:1|c|@",
                b"t58:1|c|@.",
                b"t58:1|c|@0.5.5",
                b"t58:1|c|0.1",
                b"t58:1|c|",
            ],
        ),
        udp("dogstatsd_packing", &[b"t59:1:2:3|d"]),
        udp(
            "events_and_service_checks",
            &[b"_e{5,4}:title|text", b"_sc|svc|0"],
        ),
        udp("good_bad_good", &[b"t61a:1|c\nt61b:xx|c\nt61c:2|c"]),
        udp("crlf_line_ends", &[b"t62:1|c\r\nt62:2|c\r\n"]),
        udp("timer_with_cr", &[b"t63:1|ms\r"]),
        owned(
            "large_datagram",
            vec![(0..2000)
                .map(|i| format!("t64.k{i:04}:1|c"))
                .collect::<Vec<_>>()
                .join("\n")],
        ),
        udp("trailing_colon", &[b"t65:1|c:"]),
        udp("multi_value_set", &[b"t66:1|s:2|s:1|s"]),
        tcp("tcp_lines", &[b"t67:1|c\nt67:2|c\n"]),
        tcp("tcp_line_split_across_writes", &[b"t67b:1", b"|c\n"]),
        tcp("tcp_high_bit_bytes", &[b"t68\xc3\xa9:1|c\n"]),
        udp("counter_and_timer_same_key", &[b"t69:1|c", b"t69:2|ms"]),
        udp("rate_exponent_zero", &[b"t70:1|c|@1e0"]),
        // canonicalize_tags is off by default: tag order and bare tags
        // stay as sent, two keys, as the reference.
        udp(
            "tag_order_kept_as_sent",
            &[
                b"t71:1|c|#b:2,a:1",
                b"t71:2|c|#a:1,b:2",
                b"t71:4|c|#a:1,bare",
            ],
        ),
    ]
}

/// Cases for the non-legacy namespace with prefixes, a suffix, many
/// percentiles and histogram bins.
fn namespace_cases() -> Vec<Case> {
    let mut v = vec![
        owned(
            "nl_timer_percentiles",
            (1..=10).map(|i| format!("lat.a:{i}|ms")).collect(),
        ),
        udp("nl_single_value_timer", &[b"lat.b:3|ms"]),
        udp(
            "nl_catch_all_histogram",
            &[
                b"other:0.5|ms",
                b"other:1|ms",
                b"other:7|ms",
                b"other:12|ms",
            ],
        ),
        udp("nl_counter", &[b"cnt.x:3|c"]),
        udp("nl_gauge", &[b"g.x:5|g"]),
        udp("nl_set", &[b"s.x:a|s"]),
        udp("nl_tag_after_suffix", &[b"tg:1|c|#k:v", b"lat.t:3|ms|#k:v"]),
        udp(
            "nl_histogram_edges",
            &[
                b"lat.edges:1|ms",
                b"lat.edges:2.5|ms",
                b"lat.edges:2.49|ms",
                b"lat.edges:100|ms",
            ],
        ),
    ];
    v.push(owned(
        "nl_top_percentile_rounding",
        (1..=4).map(|i| format!("lat.c:{i}|ms")).collect(),
    ));
    v
}

/// Cases for calculated_timer_metrics, keyNameSanitize off, no counts,
/// gauge TTL and counter deletion.
fn filter_cases() -> Vec<Case> {
    vec![
        owned(
            "f_filtered_timer",
            (1..=20).map(|i| format!("h.t:{i}|ms")).collect(),
        ),
        udp("f_unsanitized_name", &[b"c sp/ace:1|c"]),
        udp("f_unsanitized_tags", &[b"c2:1|c|#a b:c"]),
        udp("f_gauge_ttl", &[b"gt:7|g"]),
        udp("f_counter_deleted", &[b"cd:1|c"]),
        udp("f_user_key_like_internal", &[b"my.bad_lines_seen.x:1|c"]),
        udp("f_set_deleted_not", &[b"fs:a|s"]),
    ]
}

/// Lines (non-empty, after splitting on \n) in a list of packets, as the
/// reference counts `metrics_received`.
fn line_count(packets: &[(Via, Vec<u8>)]) -> usize {
    let mut tcp_text = Vec::new();
    let mut n = 0;
    for (via, bytes) in packets {
        match via {
            Via::Udp => {
                n += bytes
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count()
            }
            Via::Tcp | Via::TcpNew => tcp_text.extend_from_slice(bytes),
        }
    }
    n + tcp_text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
}

/// Self-metrics whose values depend on timing; their names still count.
fn volatile(name: &str) -> bool {
    name.contains("graphiteStats.")
        || name.contains("processing_time")
        || name.contains("timestamp_lag")
}

fn normalise(flushes: &[Flush]) -> Vec<Flush> {
    flushes
        .iter()
        .map(|f| {
            f.iter()
                .map(|(n, v)| {
                    let v = if volatile(n) {
                        "*".to_string()
                    } else {
                        v.clone()
                    };
                    (n.clone(), v)
                })
                .collect()
        })
        .collect()
}

struct Run {
    name: &'static str,
    etsy: serde_json::Value,
    toml: String,
    tcp: bool,
    flushes: usize,
    cases: Vec<Case>,
    received_key: &'static str,
}

fn run_one(
    run: &Run,
    start: impl Fn(&std::path::Path, &Capture) -> crate::statsd_harness::Daemon,
) -> Vec<Flush> {
    let packets: Vec<(Via, Vec<u8>)> = run
        .cases
        .iter()
        .flat_map(|c| c.packets.iter().cloned())
        .collect();
    let expected_lines = line_count(&packets).to_string();
    let mut last = Vec::new();
    // A run is retried once if the sending straddled a flush boundary.
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let capture = Capture::start();
        let mut daemon = start(dir.path(), &capture);
        let flushes = capture_flushes(&daemon, &capture, &packets, run.flushes, FLUSH_MS);
        daemon.child.terminate(std::time::Duration::from_secs(5));
        let received = flushes[0]
            .get(run.received_key)
            .cloned()
            .unwrap_or_default();
        if received == expected_lines {
            return flushes;
        }
        eprintln!(
            "run {}: flush 0 saw {received} lines of {expected_lines}; retrying",
            run.name
        );
        last = flushes;
    }
    panic!(
        "run {}: the packets never landed in one flush:\n{}",
        run.name,
        render(&last)
    );
}

fn compare(run: &Run, etsy: &[Flush], ours: &[Flush]) -> Result<(), String> {
    let (etsy, ours) = (normalise(etsy), normalise(ours));
    if etsy == ours {
        return Ok(());
    }
    // Only the differing lines, for a readable message.
    let mut want = String::new();
    let mut got = String::new();
    for k in 0..etsy.len().max(ours.len()) {
        let empty = BTreeMap::new();
        let e = etsy.get(k).unwrap_or(&empty);
        let o = ours.get(k).unwrap_or(&empty);
        for (n, v) in e {
            if o.get(n) != Some(v) {
                want.push_str(&format!("{k} {n} {v}\n"));
            }
        }
        for (n, v) in o {
            if e.get(n) != Some(v) {
                got.push_str(&format!("{k} {n} {v}\n"));
            }
        }
    }
    let cases: Vec<&str> = run.cases.iter().map(|c| c.name).collect();
    Err(util::mismatch(
        &format!(
            "run {} (cases: {}): ferrograph differs from Etsy StatsD (only differing lines shown; K name value)",
            run.name,
            cases.join(", ")
        ),
        &want,
        &got,
    ))
}

fn runs() -> Vec<Run> {
    vec![
        Run {
            name: "legacy-defaults",
            etsy: json!({}),
            toml: String::new(),
            tcp: true,
            flushes: 2,
            cases: default_cases(),
            received_key: "stats_counts.statsd.metrics_received",
        },
        Run {
            name: "namespaces-percentiles-histogram",
            etsy: json!({
                "percentThreshold": [90, -10, 99.9, 50, 100, 0.5],
                "deleteIdleStats": true,
                "prefixStats": "mystats",
                "histogram": [
                    {"metric": "lat", "bins": [1, 2.5, 10, "inf"]},
                    {"metric": "", "bins": [5]}
                ],
                "graphite": {
                    "legacyNamespace": false,
                    "globalPrefix": "pfx",
                    "prefixCounter": "cnt",
                    "prefixTimer": "",
                    "prefixGauge": "gge",
                    "globalSuffix": "sfx"
                }
            }),
            toml: [
                "percentiles = [90, -10, 99.9, 50, 100, 0.5]",
                "delete_idle_stats = true",
                "prefix_stats = \"mystats\"",
                "histogram = [ { metric = \"lat\", bins = [1, 2.5, 10, \"inf\"] }, { metric = \"\", bins = [5] } ]",
                "legacy_namespace = false",
                "global_prefix = \"pfx\"",
                "prefix_counter = \"cnt\"",
                "prefix_timer = \"\"",
                "prefix_gauge = \"gge\"",
                "global_suffix = \"sfx\"",
            ]
            .join("\n"),
            tcp: false,
            flushes: 2,
            cases: namespace_cases(),
            received_key: "pfx.cnt.mystats.metrics_received.count.sfx",
        },
        Run {
            name: "filters-ttl-unsanitized",
            etsy: json!({
                "percentThreshold": [90, 99.9],
                "calculatedTimerMetrics": ["count", "median", "upper_percent", "histogram", "sum_squares_percent"],
                "histogram": [{"metric": "h", "bins": [2, "inf"]}],
                "flush_counts": false,
                "keyNameSanitize": false,
                "deleteGauges": true,
                "gaugesMaxTTL": 2,
                "deleteCounters": true,
                "prefixStats": "sd"
            }),
            toml: [
                "percentiles = [90, 99.9]",
                "calculated_timer_metrics = [\"count\", \"median\", \"upper_percent\", \"histogram\", \"sum_squares_percent\"]",
                "histogram = [ { metric = \"h\", bins = [2, \"inf\"] } ]",
                "flush_counts = false",
                "key_name_sanitize = false",
                "delete_gauges = true",
                "gauges_max_ttl = 2",
                "delete_counters = true",
                "prefix_stats = \"sd\"",
            ]
            .join("\n"),
            tcp: false,
            flushes: 3,
            cases: filter_cases(),
            received_key: "stats.sd.metrics_received",
        },
    ]
}

#[test]
fn same_output_as_etsy_statsd() {
    if !util::references_available() {
        return;
    }
    let runs = runs();
    let total: usize = runs.iter().map(|r| r.cases.len()).sum();
    assert!(
        total >= 60,
        "the suite must keep at least 60 cases ({total})"
    );
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .map(|run| {
                s.spawn(move || {
                    let (etsy, ours) = std::thread::scope(|s2| {
                        let e = s2.spawn(|| {
                            run_one(run, |dir, cap| {
                                start_etsy(dir, cap.addr, FLUSH_MS, run.tcp, &run.etsy)
                            })
                        });
                        let o = s2.spawn(|| {
                            run_one(run, |dir, cap| {
                                start_ferrograph(
                                    dir,
                                    &format!(
                                        "flush_interval = \"{FLUSH_MS}ms\"\ngraphite = \"{}\"\n{}\n",
                                        cap.addr, run.toml
                                    ),
                                )
                            })
                        });
                        (e.join().unwrap(), o.join().unwrap())
                    });
                    compare(run, &etsy, &ours)
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap().err())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Inputs where the reference crashes or writes garbage: ferrograph counts
/// a bad line and keeps going (docs/statsd.md, "Differences from Etsy
/// StatsD"); the top-100% percentile is computed instead of NaN.
#[test]
fn documented_differences() {
    let cases = vec![
        udp("rate_with_plus_crashes_reference", &[b"d01:1|c|@+0.5"]),
        udp("rate_with_space_crashes_reference", &[b"d02:1|c|@ 0.5"]),
        udp("rate_infinity_crashes_reference", &[b"d03:1|c|@Infinity"]),
        udp("zero_rate_writes_infinity", &[b"d04:1|c|@0"]),
        udp(
            "exponent_rate_misread",
            &[b"d05:1|c|@1e-1", b"d05:1|c|@0x10"],
        ),
        udp(
            "infinite_values",
            &[b"d06:Infinity|c", b"d06:1e400|g", b"d06:Infinity|ms"],
        ),
        udp("timer_rate_with_plus", &[b"d07:1|ms|@+1"]),
        owned(
            "top_hundred_percentile",
            (1..=10).map(|i| format!("d08:{i}|ms")).collect(),
        ),
        udp("good_neighbour", &[b"d09:1|c\nd09:x|c|@+1\nd09:2|c"]),
    ];
    let run = Run {
        name: "documented-differences",
        etsy: json!({}),
        toml: "percentiles = [-100]\ndelete_idle_stats = true".into(),
        tcp: false,
        flushes: 1,
        cases,
        received_key: "stats_counts.statsd.metrics_received",
    };
    let flushes = run_ferrograph(&run);
    let got: BTreeMap<String, String> = flushes[0]
        .iter()
        .filter(|(n, _)| n.contains(".d0") || n.contains("bad_lines"))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let want: BTreeMap<String, String> = [
        ("stats.statsd.bad_lines_seen", "11"),
        ("stats_counts.statsd.bad_lines_seen", "11"),
        ("stats.timers.d08.count_top100", "10"),
        ("stats.timers.d08.lower_top100", "1"),
        ("stats.timers.d08.mean_top100", "5.5"),
        ("stats.timers.d08.sum_top100", "55"),
        ("stats.timers.d08.sum_squares_top100", "385"),
        ("stats.timers.d08.count", "10"),
        ("stats.timers.d08.count_ps", "10"),
        ("stats.timers.d08.lower", "1"),
        ("stats.timers.d08.upper", "10"),
        ("stats.timers.d08.mean", "5.5"),
        ("stats.timers.d08.median", "5.5"),
        ("stats.timers.d08.std", "2.8722813232690143"),
        ("stats.timers.d08.sum", "55"),
        ("stats.timers.d08.sum_squares", "385"),
        ("stats.d09", "3"),
        ("stats_counts.d09", "3"),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    assert!(
        got == want,
        "{}",
        util::mismatch(
            "documented differences",
            &render(std::slice::from_ref(&want)),
            &render(std::slice::from_ref(&got))
        )
    );
}

/// A run against ferrograph alone.
fn run_ferrograph(run: &Run) -> Vec<Flush> {
    run_one(run, |dir, cap| {
        start_ferrograph(
            dir,
            &format!(
                "flush_interval = \"{FLUSH_MS}ms\"\ngraphite = \"{}\"\n{}\n",
                cap.addr, run.toml
            ),
        )
    })
}

/// `canonicalize_tags = true` (ours, off by default): differently ordered
/// tags aggregate into one key in Graphite's canonical order, bare tags are
/// named `unnamed`, a repeated tag keeps its last value, and a tag list
/// Graphite refuses is left as sent (docs/statsd.md, "Tag
/// canonicalisation"). The same packets with the option off are in the
/// differential run (`tag_order_kept_as_sent`).
#[test]
fn canonicalize_tags_option() {
    let run = Run {
        name: "canonicalize-tags",
        etsy: json!({}),
        toml: "canonicalize_tags = true\ndelete_idle_stats = true".into(),
        tcp: false,
        flushes: 1,
        cases: vec![
            udp(
                "reordered_tags_aggregate_together",
                &[b"c01:1|c|#b:2,a:1", b"c01:2|c|#a:1,b:2", b"c01;b=2;a=1:4|c"],
            ),
            udp(
                "reordered_timer_tags",
                &[b"c02:5|ms|#z:1,y:2", b"c02:7|ms|#y:2,z:1"],
            ),
            udp("bare_tag_named", &[b"c03:1|c|#env:prod,canary"]),
            udp("repeated_tag_last_wins", &[b"c04:1|c|#k:v,k:w"]),
            udp("invalid_tags_left_alone", &[b"c05:1|c|#b:,a:1"]),
        ],
        received_key: "stats_counts.statsd.metrics_received",
    };
    let flushes = run_ferrograph(&run);
    let got: BTreeMap<String, String> = flushes[0]
        .iter()
        .filter(|(n, _)| {
            n.contains(".c0")
                && (n.starts_with("stats_counts.")
                    || n.contains(".count;")
                    || n.contains(".sum;")
                    || n.contains(".upper;"))
        })
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let want: BTreeMap<String, String> = [
        ("stats_counts.c01;a=1;b=2", "7"),
        ("stats.timers.c02.count;y=2;z=1", "2"),
        ("stats.timers.c02.sum;y=2;z=1", "12"),
        ("stats.timers.c02.upper;y=2;z=1", "7"),
        ("stats_counts.c03;env=prod;unnamed=canary", "1"),
        ("stats_counts.c04;k=w", "1"),
        ("stats_counts.c05;b=;a=1", "1"),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    assert!(
        got == want,
        "{}",
        util::mismatch(
            "canonicalize_tags = true",
            &render(std::slice::from_ref(&want)),
            &render(std::slice::from_ref(&got))
        )
    );
}
