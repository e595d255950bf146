//! Differential suite: the same packets go to the real Etsy StatsD 0.9.0
//! and to `ferrograph statsd`, both flushing to a capture server; every
//! flushed name and value must match (timestamps aside, and the values of
//! volatile self-metrics such as `processing_time`, whose names must still
//! match). Each case uses its own key prefix (`tNN`), so many cases share
//! one run; three runs with different configurations go in parallel.
//!
//! Where ferrograph deliberately differs (the reference crashes or writes
//! `Infinity`/`NaN`), the case is in the ferrograph-only run
//! [`documented_differences`] and asserts our documented behaviour
//! (docs/statsd.md, "Differences from Etsy StatsD").

use serde_json::json;

use std::path::Path;

use crate::util::refs::{print_differences, printed_by, references_available, tricky_floats};
use crate::util::statsd::{assert_first_flush, differences_from_etsy, owned, tcp, udp, Case, Run};

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
        // Exactly halfway between two 17-digit decimals: JavaScript
        // prints ...796.12, Rust's own shortest formatter ...796.13.
        udp("gauge_on_a_digit_tie", &[b"t72:233115890514796.13|g"]),
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
    if !references_available() {
        return;
    }
    let runs = runs();
    let total: usize = runs.iter().map(|r| r.cases.len()).sum();
    assert!(
        total >= 60,
        "the suite must keep at least 60 cases ({total})"
    );
    let failures = differences_from_etsy(&runs);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every value the flush writes goes through `js_format`: it must print
/// what JavaScript's `String(x)` prints.
#[test]
fn values_print_as_javascript_prints_them() {
    if !references_available() {
        return;
    }
    let values = tricky_floats(200_000);
    let script = "const dv = new DataView(new ArrayBuffer(8)); \
        const hex = require('fs').readFileSync(process.argv[1], 'utf8').trim().split('\\n'); \
        process.stdout.write(hex.map(h => { dv.setBigUint64(0, BigInt('0x' + h)); \
        return String(dv.getFloat64(0)); }).join('\\n') + '\\n');";
    let printed = printed_by(Path::new("node"), &["-e", script], &values);
    if let Some(report) = print_differences(&values, &printed, aggregator::jsnum::js_format) {
        panic!("{report}");
    }
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
    let run = Run::ferrograph_only(
        "documented-differences",
        "percentiles = [-100]\ndelete_idle_stats = true",
        cases,
    );
    assert_first_flush(
        &run,
        "documented differences",
        |n| n.contains(".d0") || n.contains("bad_lines"),
        &[
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
        ],
    );
}

/// `canonicalize_tags = true` (ours, off by default): differently ordered
/// tags aggregate into one key in Graphite's canonical order, bare tags are
/// named `unnamed`, a repeated tag keeps its last value, and a tag list
/// Graphite refuses is left as sent (docs/statsd.md, "Tag
/// canonicalisation"). The same packets with the option off are in the
/// differential run (`tag_order_kept_as_sent`).
#[test]
fn canonicalize_tags_option() {
    let cases = vec![
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
    ];
    let run = Run::ferrograph_only(
        "canonicalize-tags",
        "canonicalize_tags = true\ndelete_idle_stats = true",
        cases,
    );
    assert_first_flush(
        &run,
        "canonicalize_tags = true",
        |n| {
            n.contains(".c0")
                && (n.starts_with("stats_counts.")
                    || n.contains(".count;")
                    || n.contains(".sum;")
                    || n.contains(".upper;"))
        },
        &[
            ("stats_counts.c01;a=1;b=2", "7"),
            ("stats.timers.c02.count;y=2;z=1", "2"),
            ("stats.timers.c02.sum;y=2;z=1", "12"),
            ("stats.timers.c02.upper;y=2;z=1", "7"),
            ("stats_counts.c03;env=prod;unnamed=canary", "1"),
            ("stats_counts.c04;k=w", "1"),
            ("stats_counts.c05;b=;a=1", "1"),
        ],
    );
}
