//! The render differential harness: `/render`, `/metrics/*` and `/tags/*`
//! requests sent to graphite-web 1.1.10 and to our router in-process over
//! the same Whisper files (the `rich` fixture, made by the real whisper
//! module), compared: series names, tags and timestamps exactly, values
//! within 1e-9 (relative), CSV/raw field by field, pickle after decoding
//! both. All mismatches of a batch are reported together.

use render_api::http::{Method, Params, Reply};
use render_api::{router, Api, RenderSettings};
use serde_json::Value;

use super::mismatch;
use super::pickle::{base64_decode, unpickle};
use super::refs::{
    graphite_web, parse_functions_json, register_rich_tags, whisper_fixture, GraphiteRequest,
    GraphiteResponse,
};

/// The fixture's last point; every request passes `now` so that relative
/// times and Whisper's archive choice are the same on both sides.
pub const NOW: i64 = 1_700_000_000;
pub const NOW_S: &str = "1700000000";

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
    fixture_at(NOW)
}

/// Builds the `rich` fixture with its last point at `now`.
pub fn fixture_at(now: i64) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    whisper_fixture(dir.path(), "rich", now, None);
    let read = storage::open_read_only(dir.path(), Default::default()).expect("open fixture");
    let api = router(read, RenderSettings::default());
    Fixture { dir, api }
}

impl Fixture {
    /// Our router's answer to `req`.
    pub fn ours(&self, req: &GraphiteRequest) -> Reply {
        let method = if req.method == "POST" {
            Method::POST
        } else {
            Method::GET
        };
        self.api.handle_blocking(
            &method,
            &req.path,
            &Params::from_pairs(req.params.clone()),
            None,
        )
    }
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
        return Some(mismatch(
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
        mismatch(
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
    fx.ours(&register_rich_tags());
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
        let reply = fx.ours(&case.request);
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

/// Runs `cases` split in two halves, each through its own graphite-web
/// process at the same time (a large batch takes half as long).
pub fn run_cases_in_halves(fx: &Fixture, tz: &str, cases: Vec<Case>) {
    let mut first = cases;
    let second = first.split_off(first.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| run_cases(fx, tz, &first));
        run_cases(fx, tz, &second);
        if let Err(panic) = other.join() {
            std::panic::resume_unwind(panic);
        }
    });
}

/// Our `/functions` metadata of every registered function, parsed as
/// graphite-web's is (see [`parse_functions_json`]).
pub fn our_functions() -> Value {
    parse_functions_json(&render_api::functions::functions_json_text(
        false, None, false,
    ))
}
