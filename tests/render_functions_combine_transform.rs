//! graphite-web's "Combine" and "Transform" render functions against the real
//! graphite-web 1.1.10: the same targets over the same Whisper tree (the
//! `rich` fixture: gaps, 10 s and 60 s steps, counters with resets, negative
//! values, hosts.*.cpu.*, tagged series) evaluated by graphite-web's
//! `/render?format=json` and by the render-api crate in-process. Names, tags
//! and timestamps must match exactly, values within 1e-9 relative.
//!
//! All cases run in one graphite-web process (one batch); the ferrograph
//! side evaluates each case through storage's read-only `WhisperTree`.

use std::collections::BTreeMap;
use std::path::Path;

use render_api::{parse_target, Context, Evaluator, Limits, Series};
use serde_json::{json, Value};
use storage::{ReadLimits, WhisperTree};

use crate::util::graphite::{graphite_web, register_rich_tags, whisper_fixture, GraphiteRequest};
use crate::util::references_available;

/// The fixture's last point.
const NOW: i64 = 1_700_000_000;

/// One request: targets over `(NOW + from, NOW + until]`, optional tz.
struct Case {
    targets: Vec<String>,
    from: i64,
    until: i64,
    tz: &'static str,
}

fn case(target: &str) -> Case {
    Case {
        targets: vec![target.to_string()],
        from: -1800,
        until: 0,
        tz: "UTC",
    }
}

fn case_in(target: &str, from: i64, until: i64) -> Case {
    Case {
        targets: vec![target.to_string()],
        from,
        until,
        tz: "UTC",
    }
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
    .map(|t| case(t))
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
        cases.push(case_in(t, -4 * 3600, -3000));
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
        cases.push(case(t));
    }
    cases
}

fn render_request(c: &Case) -> GraphiteRequest {
    let from = (NOW + c.from).to_string();
    let until = (NOW + c.until).to_string();
    let now = NOW.to_string();
    let mut params: Vec<(&str, &str)> = vec![
        ("format", "json"),
        ("from", &from),
        ("until", &until),
        ("now", &now),
        ("tz", c.tz),
    ];
    for t in &c.targets {
        params.push(("target", t));
    }
    GraphiteRequest::get("/render/", &params)
}

/// What graphite-web's JSON renderer shows of our series.
fn ours(tree: &WhisperTree, c: &Case) -> Result<Vec<Value>, String> {
    let mut ctx = Context::new(NOW + c.from, NOW + c.until);
    ctx.now = NOW;
    ctx.tz = c.tz.parse().map_err(|e| format!("tz {}: {e}", c.tz))?;
    let mut exprs = Vec::new();
    for t in &c.targets {
        exprs.push(parse_target(t).map_err(|e| e.to_string())?);
    }
    let mut ev = Evaluator::new(tree, Limits::default());
    let series = ev
        .evaluate_targets(&ctx, &exprs)
        .map_err(|e| e.to_string())?;
    // graphite's renderViewJson: `if any(data)`, empty lists render nothing
    if series.iter().all(|s| s.values.is_empty()) {
        return Ok(Vec::new());
    }
    Ok(series.iter().map(series_json).collect())
}

fn series_json(s: &Series) -> Value {
    let points: Vec<Value> = s
        .datapoints()
        .into_iter()
        .map(|(v, t)| json!([v, t]))
        .collect();
    let tags: BTreeMap<&str, &str> = s
        .tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    json!({"target": s.name, "tags": tags, "datapoints": points})
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Differences between graphite's and our JSON series lists (empty: equal).
fn diff(expected: &[Value], actual: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    if expected.len() != actual.len() {
        let names = |l: &[Value]| {
            l.iter()
                .map(|s| s["target"].to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push(format!(
            "{} series expected [{}], got {} [{}]",
            expected.len(),
            names(expected),
            actual.len(),
            names(actual)
        ));
        return out;
    }
    for (e, a) in expected.iter().zip(actual) {
        let name = e["target"].as_str().unwrap_or("?");
        if e["target"] != a["target"] {
            out.push(format!(
                "name: expected {}, got {}",
                e["target"], a["target"]
            ));
        }
        if e["tags"] != a["tags"] {
            out.push(format!(
                "{name}: tags expected {}, got {}",
                e["tags"], a["tags"]
            ));
        }
        let (ep, ap) = (
            e["datapoints"].as_array().cloned().unwrap_or_default(),
            a["datapoints"].as_array().cloned().unwrap_or_default(),
        );
        if ep.len() != ap.len() {
            out.push(format!(
                "{name}: {} points expected, got {} (first {:?} vs {:?}, last {:?} vs {:?})",
                ep.len(),
                ap.len(),
                ep.first(),
                ap.first(),
                ep.last(),
                ap.last()
            ));
            continue;
        }
        let mut bad = 0;
        for (x, y) in ep.iter().zip(&ap) {
            let same_time = x[1].as_i64() == y[1].as_i64();
            let same_value = match (x[0].as_f64(), y[0].as_f64()) {
                (None, None) => x[0].is_null() && y[0].is_null(),
                (Some(p), Some(q)) => close(p, q),
                _ => false,
            };
            if !(same_time && same_value) {
                if bad < 3 {
                    out.push(format!("{name}: point expected {x}, got {y}"));
                }
                bad += 1;
            }
        }
        if bad > 3 {
            out.push(format!("{name}: {bad} points differ in all"));
        }
    }
    out
}

/// Runs every case through graphite-web (one batch) and through the
/// render-api, and returns the failures.
fn run_cases(dir: &Path, cases: &[Case]) -> Vec<String> {
    let mut requests = vec![register_rich_tags()];
    requests.extend(cases.iter().map(render_request));
    let answers = graphite_web(dir, "UTC", json!({}), &requests);
    assert_eq!(answers.len(), requests.len());
    assert_eq!(
        answers[0].status, 200,
        "tag registration: {}",
        answers[0].body
    );
    let tree = WhisperTree::open(dir, ReadLimits::default()).expect("open the fixture");
    let mut failures = Vec::new();
    for (c, answer) in cases.iter().zip(&answers[1..]) {
        let label = format!(
            "{} over ({:+}, {:+}]",
            c.targets.join(" & "),
            c.from,
            c.until
        );
        let ours = ours(&tree, c);
        match (answer.status, ours) {
            (200, Ok(actual)) => {
                let expected: Vec<Value> = match serde_json::from_str(&answer.body) {
                    Ok(v) => v,
                    Err(e) => {
                        failures.push(format!("{label}: graphite body is not JSON: {e}"));
                        continue;
                    }
                };
                let d = diff(&expected, &actual);
                if !d.is_empty() {
                    failures.push(format!("{label}:\n    {}", d.join("\n    ")));
                }
            }
            (200, Err(e)) => failures.push(format!("{label}: graphite answered, we failed: {e}")),
            (status, Ok(actual)) => failures.push(format!(
                "{label}: graphite failed with {status} ({}), we answered {} series",
                answer.body.lines().next().unwrap_or_default(),
                actual.len()
            )),
            (_, Err(_)) => {}
        }
    }
    failures
}

#[test]
fn combine_functions_match_graphite_web() {
    if !references_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    whisper_fixture(dir.path(), "rich", NOW, None);
    let cases = combine_cases();
    let failures = run_cases(dir.path(), &cases);
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from graphite-web:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
