//! graphite-web's events: `POST /events/` (JSON `what`, `tags`, `when`,
//! `data`), `GET /events/get_data` (`from`, `until`, `tags`, `set`,
//! `jsonp`), the HTML list at `GET /events/` and one event's JSON at
//! `GET /events/<id>`; `DELETE /events/<id>` is ours (graphite-web deletes
//! through its admin pages).

use serde_json::Value;

use super::{Method, Reply, Req};
use crate::error::ApiError;
use crate::format::json::{dumps, PyJson};
use crate::state::{Event, StateStore, TagSet};
use crate::time::parse_at_time;

/// Most events one `get_data` answers (more is a 422 naming the limit).
pub const MAX_EVENTS_PER_REQUEST: usize = 100_000;

/// The state database, or an error saying it is not configured.
pub(crate) fn store<'a>(req: &Req<'a>) -> Result<&'a StateStore, ApiError> {
    req.state.ok_or_else(|| {
        ApiError::NotFound("events and dashboards need a state database (none configured)".into())
    })
}

fn storage_error(e: crate::state::StateError) -> ApiError {
    ApiError::Storage(e.to_string())
}

fn wall_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `/events` and `/events/`.
pub(crate) fn events(req: &Req<'_>) -> Result<Reply, ApiError> {
    match *req.method {
        Method::GET | Method::HEAD => list_html(req),
        Method::POST => post(req),
        _ => Ok(Reply {
            status: 405,
            content_type: "text/html; charset=utf-8".into(),
            headers: Vec::new(),
            body: Vec::new(),
        }),
    }
}

fn post(req: &Req<'_>) -> Result<Reply, ApiError> {
    let store = store(req)?;
    let event: Value = serde_json::from_slice(req.body)
        .map_err(|e| ApiError::BadRequest(format!("the event is not valid JSON: {e}")))?;
    let Value::Object(event) = event else {
        return Err(ApiError::BadRequest(
            "the event must be a JSON object".into(),
        ));
    };
    let tags = match event.get("tags") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => {
            let mut words = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => words.push(s.as_str()),
                    _ => return Err(ApiError::BadRequest("\"tags\" must hold strings".into())),
                }
            }
            words.join(" ")
        }
        Some(_) => {
            // graphite-web's own answer to this mistake, byte for byte
            // (counted as the other 400s are).
            req.stats
                .bad_requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(Reply {
                status: 400,
                content_type: "text/html; charset=utf-8".into(),
                headers: Vec::new(),
                body: br#"{"error": "\"tags\" must be an array or space-separated string"}"#
                    .to_vec(),
            });
        }
    };
    let when = match event.get("when") {
        None => wall_now(),
        Some(v) => v
            .as_f64()
            .filter(|w| w.is_finite())
            .ok_or_else(|| ApiError::BadRequest(format!("\"when\" must be epoch seconds: {v}")))?,
    };
    let what = match event.get("what") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => {
            return Err(ApiError::BadRequest("\"what\" is required".into()));
        }
        Some(other) => other.to_string(),
    };
    let data = match event.get("data") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        // graphite-web stores Python's str() of other values; JSON text is
        // the readable equivalent (docs/render-api.md).
        Some(other) => other.to_string(),
    };
    store
        .add_event(when, &what, &data, &tags)
        .map_err(storage_error)?;
    Ok(Reply::ok("text/html; charset=utf-8", Vec::new()))
}

/// The events a request selects, as graphite-web's `fetch`.
fn fetch(req: &Req<'_>) -> Result<Vec<Event>, ApiError> {
    let store = store(req)?;
    let tz = req.settings.time_zone;
    let now = wall_now();
    let from = match req.params.get("from") {
        Some(text) => parse_at_time(text, tz, now as i64)? as f64,
        None => 0.0,
    };
    let until = match req.params.get("until") {
        Some(text) => parse_at_time(text, tz, now as i64)? as f64,
        None => now,
    };
    let set = match req.params.get("set") {
        Some("union") => TagSet::Union,
        Some("intersection") => TagSet::Intersection,
        _ => TagSet::All,
    };
    // graphite-web splits on single spaces: empty words are kept (and
    // match nothing).
    let tags: Option<Vec<String>> = req
        .params
        .get("tags")
        .map(|t| t.split(' ').map(str::to_string).collect());
    store
        .find_events(from, until, tags.as_deref(), set, MAX_EVENTS_PER_REQUEST)
        .map_err(|e| {
            if e.0.starts_with("more than") {
                ApiError::Limit(e.0)
            } else {
                storage_error(e)
            }
        })
}

/// graphite-web's `Event.as_dict`, `when` as whole epoch seconds.
fn event_json(e: &Event) -> PyJson {
    PyJson::Dict(vec![
        ("when".into(), PyJson::Int(e.when.floor() as i64)),
        ("what".into(), e.what.as_str().into()),
        ("data".into(), e.data.as_str().into()),
        (
            "tags".into(),
            PyJson::List(e.tags.split_whitespace().map(PyJson::from).collect()),
        ),
        ("id".into(), PyJson::Int(e.id)),
    ])
}

/// `/events/get_data` (and graphite-web's `get_dat`, which its URL
/// pattern also accepts).
pub(crate) fn get_data(req: &Req<'_>) -> Result<Reply, ApiError> {
    let events = fetch(req)?;
    let body = dumps(
        &PyJson::List(events.iter().map(event_json).collect()),
        false,
        true,
        false,
    );
    Ok(match req.params.get("jsonp") {
        Some(cb) => Reply::ok("text/javascript", format!("{cb}({body})")),
        None => Reply::ok("application/json", body),
    })
}

/// `/events/<id>`: JSON with `Accept: application/json`, else HTML;
/// `DELETE` removes the event.
pub(crate) fn detail(req: &Req<'_>, id: &str) -> Result<Reply, ApiError> {
    let store = store(req)?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("no such event: {id}")))?;
    if *req.method == Method::DELETE {
        return if store.delete_event(id).map_err(storage_error)? {
            Ok(Reply::ok("application/json", r#"{"success": true}"#))
        } else {
            Err(ApiError::NotFound(format!("no event with id {id}")))
        };
    }
    let Some(e) = store.event(id).map_err(storage_error)? else {
        return Err(ApiError::NotFound(
            "Event matching query does not exist".into(),
        ));
    };
    if req.accept == Some("application/json") {
        let when = chrono::DateTime::from_timestamp_millis((e.when * 1000.0).floor() as i64)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_default();
        let body = dumps(
            &PyJson::Dict(vec![
                ("id".into(), PyJson::Int(e.id)),
                ("when".into(), when.into()),
                ("what".into(), e.what.as_str().into()),
                ("data".into(), e.data.as_str().into()),
                (
                    "tags".into(),
                    PyJson::List(e.tags.split_whitespace().map(PyJson::from).collect()),
                ),
            ]),
            false,
            true,
            false,
        );
        return Ok(Reply::ok("application/json", body));
    }
    let mut html = page_head("Event");
    html.push_str(&format!(
        "<h1>{}</h1>\n<p>when: {}</p>\n<p>tags: {}</p>\n<pre>{}</pre>\n</body>\n</html>\n",
        escape(&e.what),
        format_when(e.when),
        escape(&e.tags),
        escape(&e.data)
    ));
    Ok(Reply::ok("text/html; charset=utf-8", html))
}

fn list_html(req: &Req<'_>) -> Result<Reply, ApiError> {
    let events = fetch(req)?;
    let mut html = page_head("Events");
    html.push_str("<h1>graphite events</h1>\n");
    if events.is_empty() {
        html.push_str(
            "<p>No events. Add events by posting (eg, curl -X POST http://HOST/events/ -d \
             '{\"what\": \"Something Interesting\", \"tags\" : \"tag1\"}')</p>\n",
        );
    } else {
        html.push_str("<table width=100%>\n<tr><th>when</th><th>what</th><th>tags</th></tr>\n");
        for e in &events {
            let tags: Vec<String> = e
                .tags
                .split_whitespace()
                .map(|t| format!("&#39;{}&#39;", escape(t)))
                .collect();
            html.push_str(&format!(
                "<tr><td>{}</td><td><a href=\"/events/{}/\">{}</a></td><td>[{}]</td></tr>\n",
                format_when(e.when),
                e.id,
                escape(&e.what),
                tags.join(", ")
            ));
        }
        html.push_str("</table>\n");
    }
    html.push_str("</body>\n</html>\n");
    Ok(Reply::ok("text/html; charset=utf-8", html))
}

fn page_head(title: &str) -> String {
    format!(
        "<html>\n<head>\n<title>{title}</title>\n<style type=\"text/css\">\
         body {{ font-family: sans-serif; font-size: 16px; margin: 50px; max-width: 1200px; }}\
         </style>\n</head>\n<body>\n"
    )
}

/// Django's `date:"H:i:s D d M Y"`, in UTC.
fn format_when(when: f64) -> String {
    chrono::DateTime::from_timestamp(when.floor() as i64, 0)
        .map(|t| t.format("%H:%M:%S %a %d %b %Y").to_string())
        .unwrap_or_default()
}

/// HTML escaping as Django's templates do (also the UI page's).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}
