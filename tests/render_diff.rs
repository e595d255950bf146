//! `/render`, `/metrics/*` and `/tags/*` of ferrograph against graphite-web
//! 1.1.10 on the same Whisper files (made by the real whisper module).
//!
//! Each test builds the `rich` fixture, sends one batch of requests through
//! graphite-web's own views (one Django start) and the same requests through
//! our router in-process, and compares: series names, tags and timestamps
//! exactly, values within 1e-9 (relative), CSV/raw field by field, pickle
//! after decoding both. All mismatches of a batch are reported together.

use render_api::http::{Method, Params, Reply};
use render_api::{router, Api, RenderSettings};
use serde_json::Value;

use crate::util::graphite::{
    graphite_web, register_rich_tags, whisper_fixture, GraphiteRequest, GraphiteResponse,
};
use crate::util::references_available;

/// The fixture's last point; every request passes `now` so that relative
/// times and Whisper's archive choice are the same on both sides.
pub const NOW: i64 = 1_700_000_000;
const NOW_S: &str = "1700000000";

/// How two answers are compared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Compare {
    /// `/render` JSON: targets, tags, timestamps exact; values with tolerance.
    RenderJson,
    /// Any other JSON: equal after parsing.
    Json,
    /// JSON with lists compared as sorted (graphite orders equal names randomly).
    JsonUnordered,
    /// `/metrics/find?format=json`: equal after dropping leaf intervals.
    FindJson,
    /// CSV or raw text: equal field by field, numbers with tolerance.
    Fields,
    /// Pickle: equal after decoding, numbers with tolerance.
    Pickle,
    /// Only the status class (both 2xx or both 4xx).
    StatusOnly,
}

/// One request sent to both sides.
pub struct Case {
    /// What is compared.
    pub compare: Compare,
    /// The request.
    pub request: GraphiteRequest,
}

/// A `/render` case with the fixture's `now` and `format=json` unless
/// `params` says otherwise.
pub fn render_case(params: &[(&str, &str)]) -> Case {
    let mut all: Vec<(&str, &str)> = params.to_vec();
    if !params.iter().any(|(k, _)| *k == "now") {
        all.push(("now", NOW_S));
    }
    let format = params.iter().find(|(k, _)| *k == "format").map(|(_, v)| *v);
    if format.is_none() {
        all.push(("format", "json"));
    }
    let compare = match format {
        None | Some("json") if !params.iter().any(|(k, _)| *k == "jsonp") => Compare::RenderJson,
        Some("csv") | Some("raw") => Compare::Fields,
        Some("pickle") => Compare::Pickle,
        _ => Compare::Fields,
    };
    Case {
        compare,
        request: GraphiteRequest::get("/render/", &all),
    }
}

/// A render of `target` over the last hour (the fine archive).
pub fn target_case(target: &str) -> Case {
    render_case(&[("target", target), ("from", "-1h")])
}

/// The `rich` fixture and our API over it.
pub struct Fixture {
    /// Owns the directory.
    pub dir: tempfile::TempDir,
    /// Our router over a read-only handle on it.
    pub api: Api,
}

/// Builds the `rich` fixture in a fresh temp dir.
pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    whisper_fixture(dir.path(), "rich", NOW, None);
    let read = storage::open_read_only(dir.path(), Default::default()).expect("open fixture");
    let api = router(read, RenderSettings::default());
    Fixture { dir, api }
}

fn ours(api: &Api, req: &GraphiteRequest) -> Reply {
    let method = if req.method == "POST" {
        Method::POST
    } else {
        Method::GET
    };
    api.handle_blocking(
        &method,
        &req.path,
        &Params::from_pairs(req.params.clone()),
        None,
    )
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn values_match(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => close(x, y),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_match(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_match(v, w)))
        }
        _ => a == b,
    }
}

fn sort_lists(v: &mut Value) {
    match v {
        Value::Array(items) => {
            items.iter_mut().for_each(sort_lists);
            items.sort_by_key(|x| x.to_string());
        }
        Value::Object(m) => m.values_mut().for_each(sort_lists),
        _ => {}
    }
}

fn drop_intervals(v: &mut Value) {
    if let Value::Array(items) = v {
        for item in items {
            if let Value::Object(m) = item {
                m.remove("intervals");
            }
        }
    }
}

fn field_match(a: &str, b: &str) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => close(x, y),
        _ => a == b,
    }
}

fn fields_match(ours: &str, theirs: &str) -> bool {
    let split = |t: &str| -> Vec<Vec<String>> {
        t.lines()
            .map(|l| l.split([',', '|']).map(str::to_string).collect())
            .collect()
    };
    let (a, b) = (split(ours), split(theirs));
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| x.len() == y.len() && x.iter().zip(y).all(|(p, q)| field_match(p, q)))
}

/// Compares one answer pair; `None` when they agree, else a report.
fn compare(case: &Case, ours: &Reply, theirs: &GraphiteResponse) -> Option<String> {
    let ours_body = String::from_utf8_lossy(&ours.body).into_owned();
    let what = format!("{} {:?}", case.request.path, case.request.params);
    let status_class = |s: u16| s / 100;
    if status_class(ours.status) != status_class(theirs.status) {
        return Some(crate::util::mismatch(
            &format!(
                "{what}: status {} vs graphite {}",
                ours.status, theirs.status
            ),
            &theirs.body.chars().take(600).collect::<String>(),
            &ours_body,
        ));
    }
    if theirs.status >= 300 || case.compare == Compare::StatusOnly {
        return None;
    }
    let same = match case.compare {
        Compare::RenderJson | Compare::Json | Compare::JsonUnordered | Compare::FindJson => {
            let parse = |t: &str| serde_json::from_str::<Value>(t);
            match (parse(&ours_body), parse(&theirs.body)) {
                (Ok(mut a), Ok(mut b)) => {
                    if case.compare == Compare::JsonUnordered {
                        sort_lists(&mut a);
                        sort_lists(&mut b);
                    }
                    if case.compare == Compare::FindJson {
                        drop_intervals(&mut a);
                        drop_intervals(&mut b);
                    }
                    values_match(&a, &b)
                }
                _ => false,
            }
        }
        Compare::Fields => fields_match(&ours_body, &theirs.body),
        Compare::Pickle => {
            let theirs_bytes = if theirs.base64 {
                base64_decode(&theirs.body)
            } else {
                theirs.body.as_bytes().to_vec()
            };
            match (unpickle(&ours.body), unpickle(&theirs_bytes)) {
                (Ok(a), Ok(b)) => values_match(&a, &b),
                (a, b) => {
                    return Some(format!("{what}: pickle decode: ours {a:?}, graphite {b:?}"))
                }
            }
        }
        Compare::StatusOnly => true,
    };
    (!same).then(|| {
        crate::util::mismatch(
            &format!("{what}: bodies differ"),
            &theirs.body.chars().take(3000).collect::<String>(),
            &ours_body.chars().take(3000).collect::<String>(),
        )
    })
}

/// Runs `cases` on both sides (graphite first registers the fixture's
/// tagged series) and panics with every mismatch.
pub fn run_cases(fx: &Fixture, tz: &str, cases: &[Case]) {
    let mut requests = vec![register_rich_tags()];
    requests.extend(cases.iter().map(|c| c.request.clone()));
    let theirs = graphite_web(fx.dir.path(), tz, serde_json::json!({}), &requests);
    ours(&fx.api, &register_rich_tags());
    let mut failures = Vec::new();
    // guard against a vacuous pass: most cases must carry real data
    let with_data = theirs[1..]
        .iter()
        .filter(|r| r.status == 200 && r.body.len() > 40)
        .count();
    assert!(
        with_data * 2 > cases.len(),
        "graphite-web answered only {with_data} of {} cases with data",
        cases.len()
    );
    for (case, theirs) in cases.iter().zip(&theirs[1..]) {
        let reply = ours(&fx.api, &case.request);
        if let Some(report) = compare(case, &reply, theirs) {
            failures.push(report);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from graphite-web:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

/// Decodes the pickle subset graphite-web and ferrograph emit (lists, dicts,
/// str, int, float, None, bool; protocols 2-5 with memo and frames) into
/// JSON values.
fn unpickle(data: &[u8]) -> Result<Value, String> {
    let mut stack: Vec<Value> = Vec::new();
    let mut marks: Vec<usize> = Vec::new();
    let mut memo: Vec<Value> = Vec::new();
    let mut i = 0;
    let take = |i: &mut usize, n: usize| -> Result<&[u8], String> {
        let s = data.get(*i..*i + n).ok_or("truncated pickle")?;
        *i += n;
        Ok(s)
    };
    loop {
        let op = *data.get(i).ok_or("truncated pickle")?;
        i += 1;
        match op {
            0x80 => i += 1,
            0x95 => i += 8,
            b']' => stack.push(Value::Array(vec![])),
            b'}' => stack.push(Value::Object(Default::default())),
            b'(' => marks.push(stack.len()),
            0x94 => memo.push(stack.last().cloned().ok_or("memoize on empty stack")?),
            b'q' => {
                let idx = take(&mut i, 1)?[0] as usize;
                set_memo(&mut memo, idx, stack.last().cloned())?;
            }
            b'r' => {
                let b = take(&mut i, 4)?;
                let idx = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                set_memo(&mut memo, idx, stack.last().cloned())?;
            }
            b'h' => {
                let idx = take(&mut i, 1)?[0] as usize;
                stack.push(memo.get(idx).cloned().ok_or("bad memo index")?);
            }
            b'j' => {
                let b = take(&mut i, 4)?;
                let idx = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                stack.push(memo.get(idx).cloned().ok_or("bad memo index")?);
            }
            0x8c => {
                let n = take(&mut i, 1)?[0] as usize;
                stack.push(Value::String(
                    String::from_utf8_lossy(take(&mut i, n)?).into(),
                ));
            }
            b'X' => {
                let b = take(&mut i, 4)?;
                let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                stack.push(Value::String(
                    String::from_utf8_lossy(take(&mut i, n)?).into(),
                ));
            }
            b'J' => {
                let b = take(&mut i, 4)?;
                stack.push(Value::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])));
            }
            b'K' => stack.push(Value::from(take(&mut i, 1)?[0])),
            b'M' => {
                let b = take(&mut i, 2)?;
                stack.push(Value::from(u16::from_le_bytes([b[0], b[1]])));
            }
            0x8a => {
                let n = take(&mut i, 1)?[0] as usize;
                let b = take(&mut i, n)?;
                let mut v: i64 = 0;
                for (k, byte) in b.iter().enumerate().take(8) {
                    v |= i64::from(*byte) << (8 * k);
                }
                if n < 8 && n > 0 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Value::from(v));
            }
            b'G' => {
                let b = take(&mut i, 8)?;
                let x = f64::from_be_bytes(b.try_into().map_err(|_| "float")?);
                stack.push(serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number));
            }
            b'N' => stack.push(Value::Null),
            0x88 => stack.push(Value::Bool(true)),
            0x89 => stack.push(Value::Bool(false)),
            b'e' | b'u' => {
                let m = marks.pop().ok_or("no mark")?;
                let items: Vec<Value> = stack.drain(m..).collect();
                match stack.last_mut() {
                    Some(Value::Array(list)) if op == b'e' => list.extend(items),
                    Some(Value::Object(map)) if op == b'u' => {
                        for pair in items.chunks(2) {
                            if let [Value::String(k), v] = pair {
                                map.insert(k.clone(), v.clone());
                            }
                        }
                    }
                    _ => return Err("appends/setitems on a wrong object".into()),
                }
            }
            b'a' => {
                let v = stack.pop().ok_or("append on empty stack")?;
                match stack.last_mut() {
                    Some(Value::Array(list)) => list.push(v),
                    _ => return Err("append to a non-list".into()),
                }
            }
            b's' => {
                let v = stack.pop().ok_or("setitem")?;
                let k = stack.pop().ok_or("setitem")?;
                match (stack.last_mut(), k) {
                    (Some(Value::Object(map)), Value::String(k)) => {
                        map.insert(k, v);
                    }
                    _ => return Err("setitem on a non-dict".into()),
                }
            }
            b'.' => return stack.pop().ok_or_else(|| "empty pickle".into()),
            other => return Err(format!("unsupported pickle opcode {other:#x} at {}", i - 1)),
        }
    }
}

fn set_memo(memo: &mut Vec<Value>, idx: usize, v: Option<Value>) -> Result<(), String> {
    let v = v.ok_or("memo put on empty stack")?;
    if memo.len() <= idx {
        memo.resize(idx + 1, Value::Null);
    }
    memo[idx] = v;
    Ok(())
}

fn skip_without_references() -> bool {
    !references_available()
}

#[test]
fn render_functions_match_graphite() {
    if skip_without_references() {
        return;
    }
    let fx = fixture();
    let targets = [
        // paths and globs
        "a.b",
        "a.*",
        "hosts.*.cpu.user",
        "hosts.{web1,db1}.cpu.{user,system}",
        "hosts.web[12].cpu.system",
        "a.[!b]",
        "gaps.empty",
        "nothing.here",
        // grammar: pipes, templates, tagged literals, seriesByTag
        "a.b|scale(3)|alias('piped')",
        "template(hosts.$host.cpu.user, host='web2')",
        "template(sumSeries(hosts.$1.cpu.*), 'db1')",
        "seriesByTag('name=disk.used', 'dc=eu')",
        "sumSeries(seriesByTag('name=disk.used'))",
        "seriesByTag('name=~disk.*', 'host!=h2')",
        // sumSeries / sum
        "sumSeries(a.*)",
        "sum(a.b, a.c, gaps.sparse)",
        "sumSeries(steps.*)",
        "sumSeries(hosts.*.cpu.user, nothing.*)",
        // averageSeries / avg
        "averageSeries(a.*)",
        "avg(gaps.sparse, a.c)",
        "averageSeries(steps.s10, steps.s60)",
        // aggregate
        "aggregate(hosts.*.cpu.*, 'max')",
        "aggregate(a.*, 'median')",
        "aggregate(a.*, 'sumSeries')",
        "aggregate(hosts.*.cpu.*, 'stddev')",
        "aggregate(a.*, 'count', 0.9)",
        "aggregate(gaps.*, 'avg_zero')",
        "aggregate(a.*, 'diff')",
        "aggregate(a.*, 'range')",
        "aggregate(a.b, 'multiply')",
        "aggregate(a.*, 'last')",
        // scale
        "scale(a.*, 0.5)",
        "scale(gaps.sparse, -2)",
        "scale(counters.wrap, 1e-3)",
        // alias
        "alias(a.b, 'renamed')",
        "alias(sumSeries(hosts.*.cpu.*), \"all cpu\")",
        // movingAverage / movingWindow
        "movingAverage(a.c, 5)",
        "movingAverage(gaps.sparse, '1min')",
        "movingAverage(a.b, 10, 0.5)",
        "movingAverage(steps.s60, 3)",
        "movingWindow(a.c, 4, 'median')",
        "movingWindow(gaps.sparse, '50s', 'sum', 0.3)",
        "movingWindow(hosts.web1.cpu.*, 3, 'max')",
    ];
    let mut cases: Vec<Case> = targets.iter().map(|t| target_case(t)).collect();
    // the same functions over a day (the coarse archive) and over the LCM
    for t in [
        "sumSeries(a.*)",
        "movingAverage(a.d, 2)",
        "averageSeries(steps.*)",
    ] {
        cases.push(render_case(&[("target", t), ("from", "-1d")]));
    }
    // several targets in one request, and request-wide xFilesFactor
    cases.push(render_case(&[
        ("target", "a.b"),
        ("target", "sumSeries(a.*)"),
        ("target", "movingAverage(a.c,3)"),
        ("from", "-30min"),
    ]));
    cases.push(render_case(&[
        ("target", "sumSeries(gaps.sparse, a.b)"),
        ("from", "-1d"),
        ("xFilesFactor", "0.9"),
    ]));
    cases.push(render_case(&[
        ("target", "template(hosts.$h.cpu.user)"),
        ("template[h]", "db1"),
        ("from", "-1h"),
    ]));
    run_cases(&fx, "UTC", &cases);
}

#[test]
fn time_specifications_match_graphite() {
    if skip_without_references() {
        return;
    }
    let fx = fixture();
    let mut cases = Vec::new();
    // NOW = 2023-11-14 22:13:20 UTC, a Tuesday.
    for from in [
        "-1h",
        "-30min",
        "-45minutes",
        "-2h",
        "now-90min",
        "-1d",
        "-1d2h",
        "-3600s",
        "1699990000",
        "20231114",
        "21:30_20231114",
        "9pm_20231114",
        "11/14/23",
        "11/14/2023",
        "midnight",
        "noon",
        "teatime",
        "midnight_yesterday",
        "noon_yesterday",
        "yesterday",
        "today",
        "tuesday",
        "monday",
        "nov14",
        "november14",
        "noon+3h",
        "midnight+21h30min",
        "-1w",
    ] {
        cases.push(render_case(&[("target", "a.c"), ("from", from)]));
    }
    for until in ["now", "-10min", "1699999000", "22:00_20231114", "now-1h"] {
        cases.push(render_case(&[
            ("target", "a.b"),
            ("from", "-2h"),
            ("until", until),
        ]));
    }
    // reversed range, the default from, a now other than the fixture's
    cases.push(render_case(&[
        ("target", "a.b"),
        ("from", "now"),
        ("until", "-20min"),
    ]));
    cases.push(render_case(&[("target", "a.d")]));
    cases.push(render_case(&[
        ("target", "a.b"),
        ("from", "-10min"),
        ("now", "1699999000"),
    ]));
    cases.push(render_case(&[
        ("target", "a.b"),
        ("from", "-10min"),
        ("now", "22:00_20231114"),
    ]));
    // time zones: calendar references move, offsets don't
    for (tz, from) in [
        ("Europe/Berlin", "midnight"),
        ("America/New_York", "noon"),
        ("Asia/Kolkata", "21:00_20231114"),
        ("europe/berlin", "-1h"),
        ("Not/AZone", "midnight"),
    ] {
        cases.push(render_case(&[
            ("target", "a.b"),
            ("from", from),
            ("tz", tz),
        ]));
        cases.push(render_case(&[
            ("target", "a.b"),
            ("from", from),
            ("tz", tz),
            ("format", "csv"),
        ]));
    }
    // errors: both sides refuse
    for bad in ["-1m", "blah", "now-1h+30min", "jan", "25:00_20231114"] {
        let mut c = render_case(&[("target", "a.b"), ("from", bad)]);
        c.compare = Compare::StatusOnly;
        cases.push(c);
    }
    let mut same = render_case(&[("target", "a.b"), ("from", "-1h"), ("until", "-1h")]);
    same.compare = Compare::StatusOnly;
    cases.push(same);
    run_cases(&fx, "UTC", &cases);
}

#[test]
fn formats_and_max_data_points_match_graphite() {
    if skip_without_references() {
        return;
    }
    let fx = fixture();
    let mut cases = Vec::new();
    for format in ["csv", "raw", "pickle"] {
        for target in ["a.*", "sumSeries(hosts.*.cpu.user)", "gaps.sparse"] {
            cases.push(render_case(&[
                ("target", target),
                ("from", "-20min"),
                ("format", format),
            ]));
        }
    }
    cases.push(render_case(&[
        ("target", "a.c"),
        ("from", "-1d"),
        ("format", "raw"),
    ]));
    for extra in [
        [("jsonp", "cb"), ("format", "json")],
        [("pretty", "1"), ("format", "json")],
        [("noNullPoints", "1"), ("format", "json")],
    ] {
        let mut params = vec![("target", "gaps.*"), ("from", "-10min")];
        params.extend(extra);
        cases.push(render_case(&params));
    }
    for mdp in ["1", "2", "5", "20", "100", "359", "360", "1000"] {
        for (target, from) in [
            ("a.c", "-1h"),
            ("sumSeries(a.*)", "-1h"),
            ("gaps.sparse", "-1d"),
            ("steps.*", "-6h"),
        ] {
            cases.push(render_case(&[
                ("target", target),
                ("from", from),
                ("maxDataPoints", mdp),
            ]));
        }
    }
    // consolidateBy is not ours, so maxDataPoints is checked with the
    // default average and with noNullPoints combined
    cases.push(render_case(&[
        ("target", "gaps.sparse"),
        ("from", "-1h"),
        ("maxDataPoints", "7"),
        ("noNullPoints", "1"),
    ]));
    // POST form, target[] spelling, rawData
    cases.push(Case {
        compare: Compare::RenderJson,
        request: GraphiteRequest::post(
            "/render/",
            &[
                ("target", "a.b"),
                ("target", "a.d"),
                ("from", "-10min"),
                ("now", NOW_S),
                ("format", "json"),
                ("maxDataPoints", "3"),
            ],
        ),
    });
    cases.push(render_case(&[("target[]", "x.y.z"), ("from", "-5min")]));
    let mut raw = render_case(&[("target", "a.b"), ("from", "-5min"), ("rawData", "1")]);
    raw.request.params.retain(|(k, _)| k != "format");
    raw.compare = Compare::Fields;
    cases.push(raw);
    run_cases(&fx, "UTC", &cases);
}

#[test]
fn find_expand_and_tags_match_graphite() {
    if skip_without_references() {
        return;
    }
    let fx = fixture();
    let mut cases = Vec::new();
    let globs = [
        "*",
        "a.*",
        "a.?",
        "a.[bc]",
        "a.[!b]",
        "a.[a-c]",
        "a.{b,c}",
        "a.{b}",
        "a.{b,nothing}",
        "hosts.*",
        "hosts.*.cpu.*",
        "hosts.web*.cpu.user",
        "hosts.*1.cpu.{user,system}",
        "hosts.{web1,db1}.*",
        "x.y.z",
        "nothing.*",
        "*.*",
        "gaps.*",
    ];
    for glob in globs {
        for format in ["treejson", "completer", "json"] {
            cases.push(Case {
                compare: match format {
                    "json" => Compare::FindJson,
                    "completer" => Compare::JsonUnordered,
                    _ => Compare::Json,
                },
                request: GraphiteRequest::get(
                    "/metrics/find/",
                    &[("query", glob), ("format", format)],
                ),
            });
        }
    }
    cases.push(Case {
        compare: Compare::Json,
        request: GraphiteRequest::post(
            "/metrics/find/",
            &[("query", "hosts.*"), ("wildcards", "1")],
        ),
    });
    cases.push(Case {
        compare: Compare::Json,
        request: GraphiteRequest::get("/metrics/find/", &[("query", "a.*"), ("leavesOnly", "1")]),
    });
    cases.push(Case {
        compare: Compare::JsonUnordered,
        request: GraphiteRequest::get(
            "/metrics/find/",
            &[("query", "hosts.w"), ("format", "completer")],
        ),
    });
    cases.push(Case {
        compare: Compare::Json,
        request: GraphiteRequest::get(
            "/metrics/find/",
            &[("query", "a.*"), ("from", "-1h"), ("until", "now")],
        ),
    });
    cases.push(Case {
        compare: Compare::StatusOnly,
        request: GraphiteRequest::get("/metrics/find/", &[("query", "")]),
    });
    cases.push(Case {
        compare: Compare::StatusOnly,
        request: GraphiteRequest::get("/metrics/find/", &[("query", "a.*"), ("format", "bogus")]),
    });
    cases.push(Case {
        compare: Compare::Json,
        request: GraphiteRequest::get(
            "/metrics/expand/",
            &[("query", "hosts.*.cpu.user"), ("query", "a.{b,c}")],
        ),
    });
    cases.push(Case {
        compare: Compare::Json,
        request: GraphiteRequest::get(
            "/metrics/expand/",
            &[
                ("query", "hosts.*"),
                ("query", "a.*"),
                ("groupByExpr", "1"),
                ("leavesOnly", "1"),
            ],
        ),
    });
    for (path, params) in [
        (
            "/tags/findSeries",
            vec![("expr", "name=disk.used"), ("expr", "dc=eu")],
        ),
        (
            "/tags/findSeries",
            vec![("expr", "dc=~e"), ("expr", "host!=h1")],
        ),
        ("/tags/autoComplete/tags", vec![]),
        ("/tags/autoComplete/tags", vec![("tagPrefix", "h")]),
        ("/tags/autoComplete/tags", vec![("expr", "name=disk.used")]),
        ("/tags/autoComplete/values", vec![("tag", "host")]),
        (
            "/tags/autoComplete/values",
            vec![("tag", "host"), ("expr", "dc=eu"), ("limit", "1")],
        ),
        (
            "/tags/autoComplete/values",
            vec![("tag", "dc"), ("valuePrefix", "u")],
        ),
    ] {
        cases.push(Case {
            compare: Compare::Json,
            request: GraphiteRequest::get(path, &params),
        });
    }
    run_cases(&fx, "UTC", &cases);
}

/// Every function in our registry describes itself as graphite-web 1.1.10
/// does (signature, group, module, parameters with types, defaults,
/// options, suggestions); only the description text is our own. Options of
/// `aggOrSeriesFunc` list aggregator functions, so they are compared once
/// the registry holds all of graphite's.
#[test]
fn functions_metadata_matches_graphite() {
    if skip_without_references() {
        return;
    }
    let out = std::process::Command::new(crate::util::ref_python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/refs/graphite_functions.py"
        ))
        .output()
        .expect("run graphite_functions.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 1e9999 (an infinite default) is valid JSON but out of serde's range
    let quoted = |t: &str| t.replace("1e9999", "\"1e9999\"");
    let theirs: Value =
        serde_json::from_str(&quoted(&String::from_utf8_lossy(&out.stdout))).expect("JSON");
    let ours: Value = serde_json::from_str(&quoted(&render_api::functions::functions_json_text(
        false, None, false,
    )))
    .expect("our /functions is JSON");
    let ours = ours.as_object().expect("object");
    let registry_complete = theirs
        .as_object()
        .expect("object")
        .keys()
        .all(|k| ours.contains_key(k));
    let mut failures = Vec::new();
    for (name, info) in ours {
        let Some(want) = theirs.get(name) else {
            failures.push(format!("{name}: not a graphite-web function"));
            continue;
        };
        let mut got = info.clone();
        got.as_object_mut().expect("info").remove("description");
        let mut want = want.clone();
        if !registry_complete {
            for v in [&mut got, &mut want] {
                for p in v["params"].as_array_mut().into_iter().flatten() {
                    if p["type"] == "aggOrSeriesFunc" {
                        p.as_object_mut().expect("param").remove("options");
                    }
                }
            }
        }
        if got != want {
            failures.push(crate::util::mismatch(
                name,
                &want.to_string(),
                &got.to_string(),
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
