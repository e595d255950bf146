//! Render functions of the Calculate, Filter Series, Filter Data, Sorting,
//! Alias, Graph and Special groups against graphite-web 1.1.10: the same
//! `/render` requests over the same Whisper tree (the `rich` fixture:
//! gaps, mixed steps, negative values, hosts.*.cpu.*, tagged series) sent
//! to graphite-web and through our router, compared by the harness of
//! `util::render` (names, tags and timestamps exact, values within 1e-9). Random
//! data (randomWalk) is compared by shape only.

use serde_json::Value;

use crate::util::refs::{graphite_functions, graphite_web, references_available, GraphiteRequest};
use crate::util::render::{fixture, render_case, run_cases_in_halves, Case, NOW};

/// The default window: the last ten minutes (10 s archive).
const FROM: i64 = NOW - 600;

/// A request for `targets` over `(from, until]` (epoch seconds).
fn request(targets: &[&str], from: i64, until: i64) -> Case {
    let (from, until) = (from.to_string(), until.to_string());
    let mut params: Vec<(&str, &str)> = targets.iter().map(|t| ("target", *t)).collect();
    params.extend([("from", from.as_str()), ("until", until.as_str())]);
    render_case(&params)
}

fn case(target: &str) -> Case {
    request(&[target], FROM, NOW)
}

fn window(target: &str, from: i64, until: i64) -> Case {
    request(&[target], from, until)
}

/// `target` over the default window with `maxDataPoints`.
fn max_points(target: &str, points: &str) -> Case {
    let (from, until) = (FROM.to_string(), NOW.to_string());
    render_case(&[
        ("target", target),
        ("from", &from),
        ("until", &until),
        ("maxDataPoints", points),
    ])
}

/// `target` over the last hour with the request time zone `tz`.
fn with_tz(target: &str, tz: &str) -> Case {
    let (from, until) = ((NOW - 3600).to_string(), NOW.to_string());
    render_case(&[
        ("target", target),
        ("from", &from),
        ("until", &until),
        ("tz", tz),
    ])
}

fn targets(targets: &[&str]) -> Case {
    request(targets, FROM, NOW)
}

fn cases() -> Vec<Case> {
    vec![
        // Alias
        case("alias(gaps.sparse, 'sparse')"),
        case("aliasByNode(hosts.*.cpu.*, 1)"),
        case("aliasByNode(hosts.*.cpu.*, 1, -1)"),
        case("aliasByNode(sumSeries(hosts.*.cpu.user), 2)"),
        case("aliasByNode(seriesByTag('name=disk.used'), 'host', 0)"),
        case("aliasByNode(a.*, 5)"),
        case("aliasByTags(seriesByTag('dc=eu'), 'host', 'name')"),
        case("aliasByTags(seriesByTag('name=disk.used'), 'dc', 1)"),
        case("aliasByMetric(hosts.web1.cpu.*)"),
        case("aliasByMetric(movingAverage(a.c, 3))"),
        case(r"aliasSub(hosts.*.cpu.*, '^hosts\.([^.]+)\.cpu\.(.*)$', '\2 on \1')"),
        case(r"aliasSub(a.*, '(^.*$)', '\1 A')"),
        case(r"aliasSub(seriesByTag('dc=us'), 'host=(h\d)', 'server=\1')"),
        case(r"aliasSub(gaps.*, 'a*', '-')"),
        case("aliasQuery(hosts.web1.cpu.user, 'user', 'system', '%d system')"),
        case(r"aliasQuery(a.b, 'a\.b', 'gaps.sparse', 'sparse %.1f')"),
        case("legendValue(a.*, 'avg', 'max')"),
        case("legendValue(gaps.sparse, 'last', 'count', 'bogus', 'sumSeries')"),
        case("legendValue(hosts.web1.cpu.*, 'avg', 'si')"),
        case("legendValue(steps.s10, 'sum', 'binary')"),
        case("upper(a.b)"),
        case("upper(hosts.web1.cpu.user, 0, -1, 99)"),
        case("lower(upper(a.c), 1)"),
        // Special
        case("consolidateBy(a.c, 'max')"),
        case("consolidateBy(gaps.sparse, 'sum')"),
        case("cumulative(a.b)"),
        case("cumulative(gaps.*)"),
        case("changed(a.b)"),
        case("changed(gaps.sparse)"),
        case("constantLine(100)"),
        case("constantLine(1.5)"),
        window("constantLine(-3)", FROM, NOW - 1),
        case("setXFilesFactor(a.c, 0.5)"),
        case("xFilesFactor(gaps.sparse, 1)"),
        targets(&["setXFilesFactor(a.b, 0.5)", "constantLine(2)"]),
        case("cactiStyle(hosts.*.cpu.user)"),
        case("cactiStyle(gaps.*, 'si')"),
        case("cactiStyle(steps.s10, 'binary', 'B')"),
        case("cactiStyle(a.c, units='req')"),
        case("substr(hosts.web1.cpu.user, 1)"),
        case("substr(hosts.web1.cpu.user, 1, 3)"),
        case("substr(movingAverage(a.c, 2), -1)"),
        case("fallbackSeries(nothing.here, a.b)"),
        case("fallbackSeries(a.c, a.b)"),
        case("seriesByTag('name=disk.used')"),
        case("seriesByTag('dc=eu', 'host!=h2')"),
        // Graph
        case("stacked(hosts.*.cpu.user)"),
        case("stacked(a.*)"),
        targets(&["stacked(a.b, 's1')", "stacked(a.c, 's1')", "stacked(a.d)"]),
        case("areaBetween(a.{b,c})"),
        case("areaBetween(hosts.web1.cpu.*)"),
        case("alpha(a.c, 0.5)"),
        case("color(a.b, 'red')"),
        case("lineWidth(gaps.sparse, 3)"),
        case("dashed(a.b)"),
        case("dashed(a.c, 3)"),
        case("secondYAxis(a.c)"),
        case("drawAsInfinite(gaps.sparse)"),
        case("verticalLine('1699999700', 'deploy', 'red')"),
        case("verticalLine('1699999401', 'first')"),
        case("verticalLine('1600000000', 'too early')"),
        case("threshold(10)"),
        case("threshold(5, 'limit', 'red')"),
        // Filter Data
        case("removeAboveValue(a.c, 50)"),
        case("removeAboveValue(gaps.sparse, -20)"),
        case("removeBelowValue(a.b, 5)"),
        case("removeBelowValue(gaps.sparse, -50.5)"),
        case("removeAbovePercentile(a.c, 50)"),
        case("removeAbovePercentile(gaps.sparse, 90)"),
        case("removeBelowPercentile(a.b, 30)"),
        case("removeBelowPercentile(gaps.*, 50)"),
        // Sorting
        case("sortBy(hosts.*.cpu.*)"),
        case("sortBy(hosts.*.cpu.*, 'max', true)"),
        case("sortBy(gaps.*, 'last')"),
        case("sortByName(hosts.*.cpu.*)"),
        case("sortByName(hosts.*.cpu.*, true, true)"),
        case("sortByName(seriesByTag('name=disk.used'), reverse=true)"),
        case("sortByTotal(hosts.*.cpu.*)"),
        case("sortByTotal(gaps.*)"),
        case("sortByMaxima(hosts.*.cpu.*)"),
        case("sortByMaxima(gaps.*)"),
        case("sortByMinima(hosts.*.cpu.*)"),
        case("sortByMinima(gaps.*)"),
        // Filter Series
        case("filterSeries(hosts.*.cpu.*, 'max', '>', 90)"),
        case("filterSeries(gaps.*, 'sum', '<=', 0)"),
        case("filterSeries(gaps.*, 'last', '!=', 0)"),
        case("maximumAbove(hosts.*.cpu.*, 95)"),
        case("maximumBelow(gaps.*, 0)"),
        case("minimumAbove(hosts.*.cpu.*, 0)"),
        case("minimumBelow(gaps.*, -50)"),
        case("currentAbove(hosts.*.cpu.*, 50)"),
        case("currentBelow(gaps.*, 0)"),
        case("averageAbove(hosts.*.cpu.*, 48)"),
        case("averageBelow(gaps.*, -40)"),
        case("highest(hosts.*.cpu.*, 2)"),
        case("highest(hosts.*.cpu.*, 2, 'max')"),
        case("lowest(gaps.*, 1)"),
        case("lowest(hosts.*.cpu.*, 3, 'last')"),
        case("highestCurrent(hosts.*.cpu.*, 2)"),
        case("highestCurrent(gaps.*, 1)"),
        case("highestMax(hosts.*.cpu.*, 1)"),
        case("highestMax(gaps.*, 2)"),
        case("highestAverage(gaps.*, 1)"),
        case("highestAverage(hosts.*.cpu.*, 3)"),
        case("lowestCurrent(gaps.*, 1)"),
        case("lowestCurrent(hosts.*.cpu.*, 2)"),
        case("lowestAverage(hosts.*.cpu.*, 2)"),
        case("lowestAverage(gaps.*, 2)"),
        case("averageOutsidePercentile(hosts.*.cpu.*, 80)"),
        case("averageOutsidePercentile(hosts.*.cpu.*, 30)"),
        case("removeBetweenPercentile(hosts.*.cpu.*, 70)"),
        case("removeBetweenPercentile(hosts.*.cpu.*, 95)"),
        case("limit(hosts.*.cpu.*, 2)"),
        case("limit(gaps.*, 5)"),
        case("useSeriesAbove(hosts.*.cpu.user, 90, 'user', 'system')"),
        case("useSeriesAbove(hosts.*.cpu.system, 50, 'system', 'user')"),
        case("mostDeviant(hosts.*.cpu.*, 2)"),
        case("mostDeviant(gaps.*, 2)"),
        case("exclude(hosts.*.cpu.*, 'web')"),
        case("exclude(a.*, '[bc]$')"),
        case("grep(hosts.*.cpu.*, 'user$')"),
        case("grep(gaps.*, 'sp')"),
        case("removeEmptySeries(gaps.*)"),
        case("removeEmptySeries(a.*, 0.9)"),
        case("unique(a.b, a.*)"),
        case("unique(hosts.web1.cpu.*, hosts.*.cpu.user)"),
        // Calculate
        case("movingAverage(a.c, 5)"),
        case("movingAverage(gaps.sparse, '1min')"),
        case("movingAverage(a.b, 3, 0.9)"),
        case("movingMedian(a.c, 4)"),
        case("movingMedian(gaps.sparse, '2min')"),
        case("movingSum(a.b, 3)"),
        case("movingSum(gaps.sparse, 6)"),
        case("movingMin(a.c, '30s')"),
        case("movingMin(hosts.web1.cpu.user, 5)"),
        case("movingMax(gaps.sparse, 4)"),
        case("movingMax(steps.s60, 3)"),
        case("movingWindow(a.c, 5, 'median')"),
        case("movingWindow(gaps.sparse, '1min', 'avg_zero', 0.5)"),
        case("exponentialMovingAverage(a.c, 5)"),
        case("exponentialMovingAverage(gaps.sparse, '1min')"),
        case("nPercentile(a.c, 50)"),
        case("nPercentile(gaps.*, 95)"),
        case("stdev(a.c, 5)"),
        case("stdev(gaps.sparse, 10, 0.5)"),
        case("holtWintersForecast(a.b, '20min', '5min')"),
        case("holtWintersForecast(gaps.sparse, '10min', '2min')"),
        case("holtWintersForecast(steps.s60)"),
        case("holtWintersConfidenceBands(a.c, 3, '20min', '5min')"),
        case("holtWintersConfidenceBands(gaps.sparse, 2, '10min', '3min')"),
        case("holtWintersConfidenceArea(a.b, 3, '20min', '5min')"),
        case("holtWintersConfidenceArea(gaps.sparse, 2, '10min', '3min')"),
        case("holtWintersAberration(a.c, 1, '20min', '5min')"),
        case("holtWintersAberration(gaps.sparse, 1, '10min', '3min')"),
        case("linearRegression(a.b)"),
        case("linearRegression(gaps.sparse)"),
        case("linearRegression(a.c, '1699999000', '1699999500')"),
        case("linearRegression(hosts.web1.cpu.user, '1699998000')"),
        case("aggregateLine(a.c)"),
        case("aggregateLine(gaps.sparse, 'max', true)"),
        case("aggregateLine(gaps.empty)"),
        // edges: out-of-range nodes, tagged names, aggregate variety, pipes,
        // a day-long window (60 s archive) and mixed steps
        case("aliasByNode(hosts.*.cpu.*, -7, 0)"),
        case("aliasByNode(seriesByTag('name=cpu.load'), 'dc', 'host', -1)"),
        case("aliasByMetric(seriesByTag('dc=us'))"),
        case(r"aliasSub(a.b, 'b$', '\g<0>\g<0>')"),
        case("legendValue(seriesByTag('dc=eu'), 'median', 'diff', 'stddev', 'range', 'multiply', 'avg_zero')"),
        case("cactiStyle(steps.*, 'si')"),
        case("substr(seriesByTag('name=disk.used'), 0, -1)"),
        case("highest(hosts.*.cpu.*, 10)"),
        case("limit(hosts.*.cpu.*, 0)"),
        case("mostDeviant(hosts.*.cpu.*, -2)"),
        case("sortByName(seriesByTag('name=~[cd].*'), true)"),
        case("unique(seriesByTag('dc=eu'), seriesByTag('host=h1'))"),
        case("changed(seriesByTag('dc=eu'))"),
        case("filterSeries(hosts.*.cpu.*, 'median', '>=', 48)"),
        case("removeAbovePercentile(hosts.*.cpu.user, 10)"),
        case("nPercentile(hosts.*.cpu.*, 99.9)"),
        case("stdev(hosts.web1.cpu.user, 3)"),
        case("movingWindow(hosts.web1.cpu.user, 4, 'diff')"),
        case("movingWindow(a.c, 3, 'count')"),
        case("movingWindow(a.c, 3, 'range')"),
        case("movingWindow(a.c, 2, 'multiply')"),
        case("movingWindow(gaps.sparse, '40s', 'last')"),
        case("movingWindow(hosts.db1.cpu.*, 5, 'stddev')"),
        case("exponentialMovingAverage(a.b, 0)"),
        case("hosts.*.cpu.user|highestMax(1)|aliasByNode(1)"),
        window("movingAverage(a.c, 5)", NOW - 86_400, NOW),
        window("movingMax(a.b, '10min')", NOW - 86_400, NOW),
        window("movingAverage(steps.s10, '5min')", NOW - 7200, NOW),
        window("sortByTotal(steps.*)", NOW - 7200, NOW),
        window("holtWintersForecast(steps.s10, '1h', '10min')", NOW - 7200, NOW),
        window("aggregateLine(steps.*, 'sum')", NOW - 7200, NOW),
        // nested in and around other functions, as dashboards write them
        case("aliasByNode(movingAverage(consolidateBy(hosts.*.cpu.user, 'max'), '1min'), 1)"),
        case("sumSeries(stacked(hosts.*.cpu.user))"),
        case("highestAverage(movingAverage(hosts.*.cpu.*, 6), 2)"),
        case("aliasByNode(groupByNode(hosts.*.cpu.*, 1, 'sum'), 0)"),
        case("sortByMaxima(scale(hosts.*.cpu.system, -1))"),
        case("legendValue(sumSeries(hosts.*.cpu.user), 'avg', 'last')"),
        case("aliasSub(sumSeries(seriesByTag('name=disk.used')), '^sumSeries\\((.*)\\)$', 'total of \\1')"),
        case("removeBelowValue(diffSeries(hosts.web1.cpu.user, hosts.web2.cpu.user), 0)"),
        case("identity('ident')"),
        window("identity('x.y')", FROM - 1, NOW),
        // consolidation settings seen through maxDataPoints
        max_points("consolidateBy(a.c, 'max')", "7"),
        max_points("consolidateBy(gaps.sparse, 'sum')", "9"),
        max_points("cumulative(hosts.web1.cpu.user)", "5"),
        max_points("setXFilesFactor(gaps.sparse, 0.5)", "12"),
        max_points("consolidateBy(a.c, 'first')", "1"),
        // times in the request's zone
        with_tz("verticalLine('22:00_20231114', 'ten pm')", "UTC"),
        with_tz("identity('t')", "Europe/Berlin"),
    ]
}

#[test]
fn functions_match_graphite_web() {
    if !references_available() {
        return;
    }
    let fx = fixture();
    run_cases_in_halves(&fx, "UTC", cases());
}

/// randomWalk's values are random: names, tags and timestamps must match.
#[test]
fn random_walk_matches_graphite_web_in_shape() {
    if !references_available() {
        return;
    }
    let fx = fixture();
    let targets = ["randomWalk('rw')", "randomWalkFunction('rw.two', 30)"];
    let requests: Vec<GraphiteRequest> = targets
        .iter()
        .map(|t| window(t, FROM - 7, NOW).request)
        .collect();
    let theirs = graphite_web(fx.dir.path(), "UTC", serde_json::json!({}), &requests);
    for (req, theirs) in requests.iter().zip(theirs) {
        assert_eq!(theirs.status, 200, "{req:?}: {}", theirs.body);
        let ours = fx.ours(req);
        assert_eq!(ours.status, 200);
        let shape = |body: &[u8]| -> Vec<(Value, Value, Vec<Value>)> {
            let v: Value = serde_json::from_slice(body).expect("JSON");
            v.as_array()
                .expect("a list")
                .iter()
                .map(|s| {
                    let times = s["datapoints"]
                        .as_array()
                        .expect("datapoints")
                        .iter()
                        .map(|p| p[1].clone())
                        .collect();
                    (s["target"].clone(), s["tags"].clone(), times)
                })
                .collect()
        };
        let expected = shape(theirs.body.as_bytes());
        assert!(!expected.is_empty() && !expected[0].2.is_empty());
        assert_eq!(shape(&ours.body), expected, "{req:?}");
    }
}

/// The groups this module covers.
const GROUPS: &[&str] = &[
    "Calculate",
    "Filter Series",
    "Filter Data",
    "Sorting",
    "Alias",
    "Graph",
    "Special",
];

/// Functions of these groups ferrograph leaves out (see
/// docs/render-functions-filter.md).
const LEFT_OUT: &[&str] = &[];

/// Every graphite-web function of these groups is registered, except the
/// ones left out on purpose (their metadata is compared with graphite's by
/// `render_diff::functions_metadata_matches_graphite`).
#[test]
fn every_function_of_the_groups_is_registered() {
    if !references_available() {
        return;
    }
    let theirs = graphite_functions();
    let theirs = theirs.as_object().expect("an object by name");
    let registry = render_api::functions::registry();
    let mut missing = Vec::new();
    let mut covered = 0;
    for (name, info) in theirs {
        if !GROUPS.contains(&info["group"].as_str().unwrap_or("")) {
            continue;
        }
        covered += 1;
        match (
            registry.get(name).is_some(),
            LEFT_OUT.contains(&name.as_str()),
        ) {
            (false, false) => missing.push(format!("{name}: not registered")),
            (true, true) => missing.push(format!("{name}: registered but documented as left out")),
            _ => {}
        }
    }
    assert!(covered >= 80, "only {covered} functions in these groups?");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
