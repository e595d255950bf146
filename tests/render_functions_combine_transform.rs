//! graphite-web's "Combine" and "Transform" render functions against the real
//! graphite-web 1.1.10, through the shared differential harness of
//! `util::render` (same requests to graphite-web's views and to our router;
//! names, tags and timestamps exact, values within 1e-9 relative).
//!
//! Fixtures: the `rich` tree (gaps, 10 s and 60 s steps, counters with
//! resets, negative values, hosts.*.cpu.*, tagged series) ending at
//! `util::render::NOW`, and the same tree ending just after a DST change in
//! America/New_York, rendered with that server time zone, for the
//! calendar-aligned functions. One graphite-web batch per test.

use serde_json::Value;

use crate::util::refs::{graphite_functions, references_available};
use crate::util::render::{fixture, fixture_at, our_functions, render_case, run_cases, Case};

/// `target` over `(from, until]` (graphite time specs, relative to the
/// fixture's `now`).
fn window(target: &str, from: &str, until: &str) -> Case {
    render_case(&[("target", target), ("from", from), ("until", until)])
}

/// The Combine group: at least two cases per function, one over gaps.
fn combine_cases() -> Vec<Case> {
    let mut cases: Vec<Case> = [
        "sumSeries(hosts.*.cpu.user)",
        "sumSeries(a.c, gaps.sparse)",
        "sum(hosts.web*.cpu.*)",
        "averageSeries(a.*)",
        "avg(a.c, gaps.sparse, gaps.empty)",
        "maxSeries(hosts.*.cpu.system)",
        "maxSeries(a.c, gaps.sparse)",
        "minSeries(hosts.*.cpu.system)",
        "minSeries(a.c, gaps.sparse)",
        "diffSeries(a.d, a.b)",
        "diffSeries(gaps.sparse, a.c)",
        "multiplySeries(a.b, x.y.z)",
        "multiplySeries(a.c, a.b)",
        "multiplySeries(a.c)",
        "stddevSeries(hosts.*.cpu.user)",
        "stddevSeries(a.c, gaps.sparse, a.b)",
        "rangeOfSeries(hosts.*.cpu.*)",
        "rangeOfSeries(a.c, gaps.sparse)",
        "countSeries(hosts.*.cpu.*)",
        "countSeries(a.c, gaps.*)",
        "countSeries(does.not.exist)",
        "countSeries()",
        "group(a.b, hosts.db1.cpu.*)",
        "group(gaps.*, does.not.exist)",
        "aggregate(hosts.*.cpu.user, 'sum')",
        "aggregate(group(a.c, gaps.sparse), 'average')",
        "aggregate(hosts.*.cpu.*, 'median')",
        "aggregate(group(a.c, gaps.sparse, a.b), 'avg_zero')",
        "aggregate(group(a.c, gaps.sparse), 'count')",
        "aggregate(group(a.c, gaps.sparse), 'last')",
        "aggregate(group(a.c, gaps.sparse), 'multiply')",
        "aggregate(group(a.c, gaps.sparse), 'sum', 0.6)",
        "aggregate(hosts.*.cpu.*, 'rangeOf')",
        "aggregate(hosts.*.cpu.*, 'stddevSeries')",
        "aggregate(hosts.*.cpu.*, 'total')",
        "aggregate(hosts.*.cpu.*, 'current')",
        "aggregate(hosts.*.cpu.*, 'diff')",
        "aggregate(seriesByTag('name=disk.used'), 'sum')",
        "sumSeries(seriesByTag('dc=eu'))",
        "aggregateSeriesLists(hosts.web*.cpu.user, hosts.web*.cpu.system, 'sum')",
        "aggregateSeriesLists(group(a.c, a.b), group(gaps.sparse, a.d), 'max', 0.5)",
        "sumSeriesLists(hosts.*.cpu.user, hosts.*.cpu.system)",
        "sumSeriesLists(group(a.c, a.b), group(gaps.sparse, gaps.sparse))",
        "diffSeriesLists(hosts.*.cpu.user, hosts.*.cpu.system)",
        "diffSeriesLists(group(a.c, a.b), group(gaps.sparse, a.d))",
        "multiplySeriesLists(hosts.*.cpu.user, hosts.*.cpu.system)",
        "multiplySeriesLists(group(a.c, a.b), group(gaps.sparse, a.d))",
        "aggregateWithWildcards(hosts.*.cpu.*, 'sum', 1)",
        "aggregateWithWildcards(hosts.*.cpu.*, 'max', 1, 3)",
        "sumSeriesWithWildcards(hosts.*.cpu.*, 3)",
        "sumSeriesWithWildcards(group(a.c, gaps.sparse), 0)",
        "averageSeriesWithWildcards(hosts.*.cpu.*, 1)",
        "averageSeriesWithWildcards(group(a.c, gaps.sparse), 1)",
        "multiplySeriesWithWildcards(hosts.*.cpu.*, 3)",
        "multiplySeriesWithWildcards(group(a.c, a.b), 1)",
        "divideSeries(hosts.*.cpu.user, hosts.db1.cpu.system)",
        "divideSeries(a.c, gaps.sparse)",
        "divideSeries(a.*, does.not.exist)",
        "divideSeries(a.b, a.b)",
        "divideSeriesLists(hosts.*.cpu.user, hosts.*.cpu.system)",
        "divideSeriesLists(group(a.c, a.b), group(gaps.sparse, a.b))",
        "asPercent(hosts.*.cpu.user)",
        "asPercent(group(a.c, gaps.sparse))",
        "asPercent(hosts.web1.cpu.*, hosts.web1.cpu.user)",
        "asPercent(hosts.*.cpu.user, hosts.*.cpu.system)",
        "asPercent(a.c, 50)",
        "asPercent(a.c, 12.5)",
        "pct(gaps.sparse, a.b)",
        "asPercent(hosts.*.cpu.*, None, 1)",
        "asPercent(hosts.*.cpu.user, hosts.*.cpu.system, 1)",
        "asPercent(group(hosts.web1.cpu.user, hosts.db1.cpu.user), hosts.*.cpu.system, 1)",
        "asPercent(seriesByTag('name=disk.used'), None, 'dc')",
        "percentileOfSeries(hosts.*.cpu.*, 50)",
        "percentileOfSeries(hosts.*.cpu.*, 90, true)",
        "percentileOfSeries(group(a.c, gaps.sparse, a.b), 25)",
        "percentileOfSeries(group(a.c, gaps.sparse, a.b), 75.5, true)",
        "powSeries(a.b, hosts.web1.cpu.user)",
        "powSeries(gaps.sparse, a.b)",
        "powSeries(x.y.z, a.c, a.b)",
        "weightedAverage(hosts.*.cpu.user, hosts.*.cpu.system, 1)",
        "weightedAverage(group(a.c, gaps.sparse), group(a.b, a.d), 0)",
        "weightedAverage(seriesByTag('name=disk.used'), seriesByTag('name=disk.used'), 'host')",
        "groupByNode(hosts.*.cpu.*, 1, 'sum')",
        "groupByNode(hosts.*.cpu.*, 3)",
        "groupByNode(hosts.*.cpu.*, 1, 'sumSeries')",
        "groupByNode(group(a.c, gaps.sparse, gaps.empty), 0, 'maxSeries')",
        "groupByNode(scale(hosts.*.cpu.user, 2), 1, 'max')",
        "groupByNode(hosts.*.cpu.*, -1, 'median')",
        "groupByNode(seriesByTag('name=disk.used'), 'dc', 'sum')",
        "groupByNode(hosts.*.cpu.*, 1, 'countSeries')",
        "groupByNode(hosts.*.cpu.*, 1, 'pct')",
        "groupByNodes(hosts.*.cpu.*, 'sum', 1)",
        "groupByNodes(hosts.*.cpu.*, 'average', 3, 0)",
        "groupByNodes(group(a.c, gaps.sparse), 'min', 1)",
        "groupByNodes(seriesByTag('name=disk.used'), 'max', 'dc', 0)",
        "groupByNodes(hosts.*.cpu.*, 'sum')",
        "groupByTags(seriesByTag('name=disk.used'), 'sum', 'dc')",
        "groupByTags(seriesByTag('dc=eu'), 'average', 'host')",
        "groupByTags(seriesByTag('dc=~(eu|us)'), 'maxSeries', 'name', 'dc')",
        "mapSeries(hosts.*.cpu.*, 1)|reduceSeries('diffSeries', 3, 'user', 'system')",
        "reduce(map(hosts.*.cpu.*, 1), 'asPercent', 3, 'system', 'user')",
        "applyByNode(hosts.*.cpu.user, 1, 'sumSeries(%.cpu.*)')",
        "applyByNode(hosts.*.cpu.user, 1, 'divideSeries(%.cpu.user, %.cpu.system)', '%.ratio')",
        "applyByNode(group(a.c, gaps.sparse), 0, 'maxSeries(%.*)', 'max.%')",
    ]
    .iter()
    .map(|t| window(t, "-30min", "now"))
    .collect();
    // mixed steps: the 10 s series consolidates into the 60 s one's buckets
    for t in [
        "sumSeries(steps.s10, steps.s60)",
        "aggregate(steps.*, 'min')",
        "divideSeries(steps.s10, steps.s60)",
        "asPercent(steps.*)",
        "asPercent(steps.*, 1000)",
        "asPercent(steps.s10, steps.s60)",
        "asPercent(steps.*, steps.*)",
        "percentileOfSeries(steps.*, 50)",
        "countSeries(steps.*)",
        "powSeries(steps.s60, steps.s10)",
    ] {
        cases.push(window(t, "-4h", "-50min"));
    }
    // graphite-web rejects these with a 400; so must we
    for t in [
        "aggregate(a.b, 'bogus')",
        "divideSeries(a.b, a.*)",
        "percentileOfSeries(a.*, 0)",
        "asPercent(a.*, hosts.*.cpu.*)",
        "aggregateSeriesLists(a.*, hosts.*.cpu.*, 'sum')",
        "divideSeriesLists(a.*, hosts.*.cpu.*)",
        "weightedAverage(a.*, hosts.*.cpu.*)",
        "groupByTags(seriesByTag('name=disk.used'), 'sum')",
    ] {
        cases.push(window(t, "-30min", "now"));
    }
    cases
}

/// The Transform group: at least two cases per function, one over gaps.
fn transform_cases() -> Vec<Case> {
    let mut cases: Vec<Case> = [
        "scale(a.c, 0.5)",
        "scale(gaps.sparse, -3)",
        "scaleToSeconds(counters.wrap, 60)",
        "scaleToSeconds(gaps.sparse, 1)",
        "scaleToSeconds(x.y.z, 7.5)",
        "exp(x.y.z)",
        "exp(scale(gaps.sparse, 0.01))",
        "add(a.c, 10)",
        "add(gaps.sparse, -2.5)",
        "sigmoid(gaps.sparse)",
        "sigmoid(scale(a.b, 0.1))",
        "logit(scale(a.b, 0.1))",
        "logit(gaps.sparse)",
        "pow(a.b, 2)",
        "pow(gaps.sparse, 0.5)",
        "pow(x.y.z, -1.5)",
        "squareRoot(gaps.sparse)",
        "squareRoot(a.c)",
        "invert(a.b)",
        "invert(gaps.sparse)",
        "absolute(gaps.sparse)",
        "absolute(offset(a.b, -5))",
        "offset(a.c, 5)",
        "offset(gaps.sparse, -0.5)",
        "offsetToZero(gaps.sparse)",
        "offsetToZero(a.c)",
        "offsetToZero(gaps.empty)",
        "round(scale(x.y.z, 0.3))",
        "round(scale(x.y.z, 0.3), 1)",
        "round(scale(gaps.sparse, 1.55), -1)",
        "round(scale(a.c, 0.125), 2)",
        "log(a.c)",
        "log(gaps.sparse, 2)",
        "log(x.y.z, 3)",
        "minMax(a.c)",
        "minMax(gaps.sparse)",
        "minMax(a.d)",
        "isNonNull(a.c)",
        "isNonNull(gaps.*)",
        "transformNull(a.c)",
        "transformNull(gaps.sparse, -1)",
        "transformNull(gaps.sparse, 0, a.c)",
        "transformNull(gaps.*, 5, gaps.empty)",
        "transformNull(gaps.sparse, 2.5, group(a.c, gaps.sparse))",
        "keepLastValue(gaps.sparse)",
        "keepLastValue(gaps.sparse, 3)",
        "keepLastValue(a.c, 1)",
        "keepLastValue(gaps.empty)",
        "interpolate(gaps.sparse)",
        "interpolate(gaps.sparse, 3)",
        "interpolate(a.c)",
        "derivative(counters.wrap)",
        "derivative(a.c)",
        "derivative(gaps.sparse)",
        "nonNegativeDerivative(counters.wrap)",
        "nonNegativeDerivative(a.c)",
        "nonNegativeDerivative(counters.wrap, 400)",
        "nonNegativeDerivative(counters.wrap, 300)",
        "nonNegativeDerivative(counters.wrap, None, 0)",
        "nonNegativeDerivative(counters.wrap, 500, 7)",
        "perSecond(counters.wrap)",
        "perSecond(a.c)",
        "perSecond(counters.wrap, 343)",
        "perSecond(x.y.z)",
        "delay(a.c, 3)",
        "delay(a.c, -2)",
        "delay(a.b, 0)",
        "delay(gaps.sparse, 500)",
        "integral(a.c)",
        "integral(gaps.sparse)",
        "integralByInterval(a.b, '5min')",
        "integralByInterval(gaps.sparse, '2min')",
        "compressPeriodicGaps(gaps.sparse)",
        "compressPeriodicGaps(a.c)",
        "compressPeriodicGaps(hosts.web1.cpu.user)",
        "summarize(a.c, '1min')",
        "summarize(gaps.sparse, '5min', 'avg')",
        "summarize(a.b, '7min', 'max', true)",
        "summarize(counters.wrap, '1h', 'last')",
        "summarize(a.c, '2min', 'median')",
        "summarize(gaps.sparse, '90s', 'avg_zero')",
        "summarize(gaps.sparse, '1min', 'count', true)",
        "summarize(a.c, '45s', 'multiply')",
        "summarize(gaps.empty, '1min')",
        "smartSummarize(a.c, '1min')",
        "smartSummarize(gaps.sparse, '7min', 'avg')",
        "smartSummarize(a.b, '10min', 'max', 'hours')",
        "smartSummarize(gaps.sparse, '5min', 'sum', 'minutes')",
        "smartSummarize(a.c, '3min', 'last', true)",
        "hitcount(a.c, '1min')",
        "hitcount(gaps.sparse, '7min')",
        "hitcount(a.b, '5min', true)",
        "hitcount(gaps.sparse, '45s', true)",
        "timeShift(a.c, '5min')",
        "timeShift(gaps.sparse, '-7min')",
        "timeShift(a.b, '+2min')",
        "timeShift(a.c, '5min', false)",
        "timeShift(sumSeries(hosts.*.cpu.user), '10min')",
        "a.c|timeShift('1min')|scale(2)",
        "timeStack(a.c, '5min', 0, 3)",
        "timeStack(gaps.sparse, '1min', 1, 3)",
        "timeSlice(a.c, '1699999000', '1699999500')",
        "timeSlice(gaps.sparse, '22:00_20231114', '20231115')",
        "timeSlice(group(a.b, a.c), '21:45 20231114', '22:05 20231114')",
        "time('the.time')",
        "timeFunction('t;x=y', 45)",
        "sin('the.sine')",
        "sinFunction('s', 3, 25)",
    ]
    .iter()
    .map(|t| window(t, "-30min", "now"))
    .collect();
    // the 1-minute archive and mixed steps
    for t in [
        "summarize(steps.s60, '1h', 'sum')",
        "summarize(steps.s10, '15min', 'avg', true)",
        "hitcount(steps.s60, '1h', true)",
        "smartSummarize(steps.s10, '1h', 'max', 'days')",
        "perSecond(steps.s60)",
        "integralByInterval(steps.s60, '1h')",
        "timeShift(steps.s60, '1d')",
        "timeStack(steps.s60, '1h', 0, 4)",
        "keepLastValue(gaps.sparse)",
        "derivative(gaps.sparse)",
    ] {
        cases.push(window(t, "-20h", "-2h"));
    }
    // graphite-web rejects these; so must we
    for t in [
        "summarize(a.b, '1min', 'bogus')",
        "summarize(a.b, '1min', 'sumSeries')",
        "smartSummarize(a.b, '1min', 'bogus')",
    ] {
        cases.push(window(t, "-30min", "now"));
    }
    cases
}

/// 2023-11-05 12:00 UTC: six hours after New York left daylight saving time.
const DST_NOW: i64 = 1_699_185_600;

/// Calendar alignment and DST handling in America/New_York, over a fixture
/// that ends just after the change.
fn dst_cases() -> Vec<Case> {
    let now = DST_NOW.to_string();
    let mut cases = Vec::new();
    for (target, from, until) in [
        (
            "smartSummarize(steps.s60, '1h', 'sum', 'days')",
            "-20h",
            "now",
        ),
        (
            "smartSummarize(steps.s60, '6h', 'avg', 'hours')",
            "-20h",
            "now",
        ),
        (
            "smartSummarize(steps.s10, '1d', 'max', 'weeks')",
            "-20h",
            "now",
        ),
        (
            "smartSummarize(steps.s10, '1d', 'max', 'weeks3')",
            "-20h",
            "now",
        ),
        (
            "smartSummarize(steps.s60, '1d', 'sum', 'months')",
            "-20h",
            "now",
        ),
        (
            "smartSummarize(steps.s60, '1d', 'sum', 'years')",
            "-20h",
            "now",
        ),
        ("hitcount(steps.s60, '1d', true)", "-20h", "now"),
        ("hitcount(steps.s60, '3h', true)", "-20h", "now"),
        ("hitcount(steps.s60, '5min', true)", "-3h", "now"),
        ("summarize(steps.s60, '1d')", "-20h", "now"),
        // the aligned midnight takes the start's UTC offset (EST), not its own (EDT)
        (
            "smartSummarize(steps.s60, '1h', 'sum', 'days')",
            "-5h",
            "now",
        ),
        ("hitcount(steps.s60, '1d', true)", "-5h", "now"),
        // whole windows on different sides of the change: alignDST moves an hour
        ("timeShift(steps.s60, '7h', true, true)", "-3h", "now"),
        ("timeShift(steps.s60, '7h', false, true)", "-3h", "now"),
        ("timeShift(steps.s60, '7h')", "-3h", "now"),
        ("timeShift(steps.s60, '+14h', false, true)", "-20h", "-14h"),
        ("timeShift(steps.s60, '5h', true, true)", "-3h", "now"),
        ("time('t', 3600)", "-20h", "now"),
        ("sin('s', 5, 600)", "-20h", "now"),
        ("integralByInterval(steps.s60, '1d')", "-20h", "now"),
    ] {
        cases.push(render_case(&[
            ("target", target),
            ("from", from),
            ("until", until),
            ("now", &now),
            ("tz", "America/New_York"),
        ]));
    }
    cases
}

#[test]
fn combine_functions_match_graphite_web() {
    if !references_available() {
        return;
    }
    run_cases(&fixture(), "UTC", &combine_cases());
}

#[test]
fn transform_functions_match_graphite_web() {
    if !references_available() {
        return;
    }
    run_cases(&fixture(), "UTC", &transform_cases());
}

#[test]
fn calendar_alignment_matches_graphite_web_across_dst() {
    if !references_available() {
        return;
    }
    run_cases(&fixture_at(DST_NOW), "America/New_York", &dst_cases());
}

/// Every Combine and Transform function of graphite-web is registered here,
/// in the same group, with the same `/functions` metadata (signature,
/// parameters with types, defaults, options and suggestions: what Grafana's
/// function editor reads) — `aggOrSeriesFunc` options included, which list
/// the aggregators these two groups provide. (`render_diff` checks the
/// metadata of every registered function; this adds completeness.)
#[test]
fn function_metadata_matches_graphite_web() {
    if !references_available() {
        return;
    }
    let theirs = graphite_functions();
    let theirs = theirs.as_object().expect("an object by name");
    let ours = our_functions();
    let ours = ours.as_object().expect("an object by name");
    let mine = |group: &Value| matches!(group.as_str(), Some("Combine" | "Transform"));
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, info) in theirs.iter().filter(|(_, i)| mine(&i["group"])) {
        checked += 1;
        let Some(our) = ours.get(name) else {
            failures.push(format!("{name}: missing"));
            continue;
        };
        for key in ["group", "function", "params"] {
            if our[key] != info[key] {
                failures.push(format!(
                    "{name}.{key}:\n  graphite {}\n  ours     {}",
                    info[key], our[key]
                ));
            }
        }
    }
    for (name, info) in ours.iter().filter(|(_, i)| mine(&i["group"])) {
        if !theirs.get(name).is_some_and(|t| mine(&t["group"])) {
            failures.push(format!(
                "{name}: not a {} function in graphite-web",
                info["group"]
            ));
        }
    }
    assert!(
        checked >= 70,
        "only {checked} graphite-web functions in the two groups"
    );
    assert!(
        failures.is_empty(),
        "{} metadata differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
