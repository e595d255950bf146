//! Events and dashboards (issue 13): the same requests to graphite-web
//! 1.1.10 (Django test client, its migrations on a temporary SQLite) and
//! to `ferrograph web` must give the same status and body; state survives
//! a restart; writes pass `[render] write_token`.

use std::net::SocketAddr;

use crate::util::refs::{graphite_web, references_available, GraphiteRequest};
use crate::util::serve::encode;
use crate::util::web::{exchange, Web};
use crate::util::{ferrograph, mismatch};

/// Requests to `ferrograph web` as graphite-web's harness sends them.
trait SendAsGraphite {
    fn send(&self, r: &GraphiteRequest, token: Option<&str>) -> (u16, String, String);
}

impl SendAsGraphite for Web {
    /// One request as graphite-web's harness sends it.
    fn send(&self, r: &GraphiteRequest, token: Option<&str>) -> (u16, String, String) {
        let query: String = form(&r.params);
        let (path, body, ct) = match (&r.body, r.method) {
            (Some(body), _) => (r.path.clone(), body.clone(), Some("application/json")),
            (None, "POST") => (
                r.path.clone(),
                query,
                Some("application/x-www-form-urlencoded"),
            ),
            (None, _) if query.is_empty() => (r.path.clone(), String::new(), None),
            (None, _) => (format!("{}?{query}", r.path), String::new(), None),
        };
        raw_http(self.addr, r.method, &path, ct, &body, token)
    }
}

fn form(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Status, content type and body of one HTTP/1.1 request.
fn raw_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
    token: Option<&str>,
) -> (u16, String, String) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    if let Some(ct) = content_type {
        req.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    if let Some(token) = token {
        req.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    exchange(addr, req.as_bytes())
}

const T: i64 = 1_600_000_000;

fn get(path: &str, params: &[(&str, &str)]) -> GraphiteRequest {
    GraphiteRequest::get(path, params)
}

/// The requests both sides answer, in order (writes first, then reads).
fn requests() -> Vec<GraphiteRequest> {
    let t = |d: i64| (T + d).to_string();
    let (t0, t100, t150, t200, t300, t900) = (t(0), t(100), t(150), t(200), t(300), t(900));
    vec![
        GraphiteRequest::post_json(
            "/events/",
            &format!(
                r#"{{"what": "deploy web", "tags": "web prod", "when": {t0}, "data": "v1.2"}}"#
            ),
        ),
        GraphiteRequest::post_json(
            "/events/",
            &format!(r#"{{"what": "deploy db", "tags": ["db", "prod"], "when": {t100}.75}}"#),
        ),
        GraphiteRequest::post_json(
            "/events/",
            &format!(r#"{{"what": "café ☕", "tags": "web", "when": {t200}, "data": "x\ny"}}"#),
        ),
        GraphiteRequest::post_json(
            "/events/",
            &format!(r#"{{"what": "untagged", "when": {t300}}}"#),
        ),
        GraphiteRequest::post_json("/events/", r#"{"what": "bad", "tags": 5, "when": 1}"#),
        get("/events/get_data", &[("from", &t0), ("until", &t900)]),
        get("/events/get_data", &[("tags", "prod")]),
        get("/events/get_data", &[("tags", "web prod")]),
        get("/events/get_data", &[("tags", "web nosuch")]),
        get(
            "/events/get_data",
            &[("tags", "web nosuch"), ("set", "intersection")],
        ),
        get(
            "/events/get_data",
            &[("tags", "web prod"), ("set", "intersection")],
        ),
        get("/events/get_data", &[("tags", "web db"), ("set", "union")]),
        get("/events/get_data", &[("tags", "nosuch"), ("set", "union")]),
        get("/events/get_data", &[("tags", "")]),
        get(
            "/events/get_data",
            &[
                ("from", &t100),
                ("until", &t200),
                ("tags", "web db"),
                ("set", "union"),
            ],
        ),
        get(
            "/events/get_data",
            &[("from", &t150), ("until", &t900), ("jsonp", "cb")],
        ),
        get(
            "/render/",
            &[
                ("target", "events('web')"),
                ("from", &t(-5)),
                ("until", &t(250)),
                ("format", "json"),
            ],
        ),
        get(
            "/render/",
            &[
                ("target", "drawAsInfinite(events(\"prod\", \"db\"))"),
                ("target", "events('*')"),
                ("from", &t0),
                ("until", &t(120)),
                ("format", "json"),
            ],
        ),
        GraphiteRequest::post(
            "/dashboard/save/My%20Dash",
            &[(
                "state",
                r#"{"name": "My Dash", "graphs": [["t", {"target": ["a.b"]}, "/render?x"]], "timeConfig": {"relativeStartQuantity": 1.50, "n": 1e-7}, "z": null, "ok": true}"#,
            )],
        ),
        GraphiteRequest::post("/dashboard/save/other", &[("state", r#"{"b": 2, "a": 1}"#)]),
        GraphiteRequest::post(
            "/dashboard/save/other",
            &[("state", r#"{"b": 3, "a": "é"}"#)],
        ),
        GraphiteRequest::post("/dashboard/create-temporary/", &[("state", "{}")]),
        GraphiteRequest::post("/dashboard/create-temporary", &[("state", "[]")]),
        get("/dashboard/load/My%20Dash", &[]),
        get("/dashboard/load/other", &[]),
        get("/dashboard/load/temporary-1", &[]),
        get("/dashboard/load/nosuch", &[]),
        get("/dashboard/find/", &[("query", "")]),
        get("/dashboard/find/", &[("query", "DASH my")]),
        get("/dashboard/find", &[("query", "o")]),
        get("/dashboard/delete/other", &[]),
        get("/dashboard/delete/other", &[]),
        get("/dashboard/find/", &[("query", "")]),
    ]
}

#[test]
fn events_and_dashboards_answer_as_graphite_web() {
    if !references_available() {
        return;
    }
    let whisper = tempfile::tempdir().expect("temp dir");
    let data = tempfile::tempdir().expect("temp dir");
    let reqs = requests();
    let theirs = graphite_web(whisper.path(), "UTC", serde_json::json!({}), &reqs);
    let web = Web::start(data.path(), None);
    let mut failures = Vec::new();
    for (r, want) in reqs.iter().zip(&theirs) {
        let (status, ct, body) = web.send(r, None);
        // graphite-web's `events()` values are Python ints (`1`), ours
        // floats (`1.0`), and tag order differs: renders compare as numbers.
        let same_body = if r.path == "/render/" {
            numbers_as_floats(&body) == numbers_as_floats(&want.body)
        } else {
            body == want.body
        };
        if status != want.status || !same_body || ct != want.content_type.to_lowercase() {
            failures.push(format!(
                "{} {} {:?} {:?}: status {status} vs {}, content type {ct} vs {}\n{}",
                r.method,
                r.path,
                r.params,
                r.body,
                want.status,
                want.content_type,
                mismatch("body", &want.body, &body)
            ));
        }
    }
    web.stop();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// JSON with every number as a float (maps compare regardless of order).
fn numbers_as_floats(text: &str) -> serde_json::Value {
    fn walk(v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Number(n) => n
                .as_f64()
                .and_then(serde_json::Number::from_f64)
                .map_or(Value::Null, Value::Number),
            Value::Array(items) => Value::Array(items.into_iter().map(walk).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, walk(v))).collect())
            }
            other => other,
        }
    }
    walk(serde_json::from_str(text).unwrap_or(serde_json::Value::Null))
}

#[test]
fn state_survives_a_restart_and_ids_continue() {
    let data = tempfile::tempdir().expect("temp dir");
    let web = Web::start(data.path(), None);
    let post = |web: &Web, what: &str| {
        web.send(
            &GraphiteRequest::post_json(
                "/events/",
                &format!(r#"{{"what": "{what}", "tags": "deploy", "when": {T}}}"#),
            ),
            None,
        )
    };
    assert_eq!(post(&web, "one").0, 200);
    let saved = web.send(
        &GraphiteRequest::post("/dashboard/save/keep", &[("state", r#"{"graphs": []}"#)]),
        None,
    );
    assert_eq!(saved.2, r#"{"success": true}"#);
    web.stop();
    assert!(data.path().join("ferrograph.sqlite").exists());

    let web = Web::start(data.path(), None);
    assert_eq!(post(&web, "two").0, 200);
    let (_, _, events) = web.send(&get("/events/get_data/", &[("tags", "deploy")]), None);
    assert_eq!(
        events,
        format!(
            r#"[{{"when": {T}, "what": "one", "data": "", "tags": ["deploy"], "id": 1}}, {{"when": {T}, "what": "two", "data": "", "tags": ["deploy"], "id": 2}}]"#
        )
    );
    // ours also accepts a trailing slash where graphite-web has none
    let (_, _, loaded) = web.send(&get("/dashboard/load/keep/", &[]), None);
    assert_eq!(loaded, r#"{"state": {"graphs": []}}"#);
    web.stop();
}

#[test]
fn writes_need_the_write_token_once_set() {
    let data = tempfile::tempdir().expect("temp dir");
    let config = data.path().join("ferrograph.toml");
    std::fs::write(&config, "[render]\nwrite_token = \"s3cret\"\n").expect("write config");
    let web = Web::start(data.path(), Some(&config));
    let event = GraphiteRequest::post_json("/events/", r#"{"what": "x", "when": 1600000000}"#);
    let save = GraphiteRequest::post("/dashboard/save/d", &[("state", "{}")]);
    let tag = GraphiteRequest::post("/tags/tagSeries", &[("path", "a.b;x=y")]);
    for r in [&event, &save, &tag] {
        assert_eq!(web.send(r, None).0, 401, "{} without a token", r.path);
        assert_eq!(
            web.send(r, Some("wrong")).0,
            401,
            "{} with a wrong token",
            r.path
        );
    }
    assert_eq!(web.send(&event, Some("s3cret")).0, 200);
    assert_eq!(web.send(&save, Some("s3cret")).2, r#"{"success": true}"#);
    // reads stay open
    let (status, _, body) = web.send(&get("/events/get_data", &[]), None);
    assert_eq!(status, 200);
    assert!(body.contains(r#""id": 1"#), "{body}");
    assert_eq!(
        web.send(&get("/dashboard/load/d", &[]), None).2,
        r#"{"state": {}}"#
    );
    // bad input: a clear 400 and nothing written
    let (status, _, body) = web.send(
        &GraphiteRequest::post_json("/events/", "{nope"),
        Some("s3cret"),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not valid JSON"), "{body}");
    let bad = GraphiteRequest::post("/dashboard/save/e", &[("state", "{nope")]);
    assert_eq!(web.send(&bad, Some("s3cret")).0, 400);
    let (_, _, body) = web.send(&get("/dashboard/find/", &[("query", "")]), None);
    assert_eq!(body, r#"{"dashboards": [{"name": "d"}]}"#);
    web.stop();
}

#[test]
fn import_graphite_db_copies_events_and_dashboards() {
    if !references_available() {
        return;
    }
    let whisper = tempfile::tempdir().expect("temp dir");
    let graphite_dir = tempfile::tempdir().expect("temp dir");
    let db = graphite_dir.path().join("graphite.db");
    let settings = serde_json::json!({"DATABASES": {"default": {
        "NAME": db, "ENGINE": "django.db.backends.sqlite3"}}});
    let reqs = vec![
        GraphiteRequest::post_json(
            "/events/",
            &format!(r#"{{"what": "a", "tags": "x y", "when": {T}.25, "data": "d"}}"#),
        ),
        GraphiteRequest::post_json(
            "/events/",
            &format!(r#"{{"what": "b", "tags": ["y"], "when": {}}}"#, T + 60),
        ),
        GraphiteRequest::post(
            "/dashboard/save/dash",
            &[("state", r#"{"z": 1, "a": [2.5]}"#)],
        ),
        get("/events/get_data", &[("tags", "y")]),
        get("/dashboard/load/dash", &[]),
        get("/dashboard/find/", &[("query", "")]),
    ];
    let theirs = graphite_web(whisper.path(), "UTC", settings, &reqs);
    assert!(db.exists(), "graphite-web kept its database");
    let data = tempfile::tempdir().expect("temp dir");
    let out = ferrograph()
        .arg("import-graphite-db")
        .arg(&db)
        .arg("--data-dir")
        .arg(data.path())
        .output()
        .expect("run import-graphite-db");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("imported 2 events and 1 dashboards"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let web = Web::start(data.path(), None);
    for (r, want) in reqs.iter().zip(&theirs).skip(3) {
        let (status, _, body) = web.send(r, None);
        assert_eq!(
            (status, body.as_str()),
            (want.status, want.body.as_str()),
            "{}",
            r.path
        );
    }
    web.stop();
}
