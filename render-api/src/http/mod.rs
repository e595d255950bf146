//! The HTTP layer: [`router`] builds an [`Api`] whose [`Api::handle`]
//! answers one request (tested in-process, without a socket), and
//! [`serve`] runs it on a listener with hyper.
//!
//! Every endpoint merges query-string and form-body parameters as Django's
//! `QueryDict` does for graphite-web (POST values come after GET ones, so a
//! single-valued lookup takes the POST value). Evaluation is blocking
//! (storage reads mapped files) and runs on tokio's blocking pool.

mod check;
mod dashboard;
mod events;
mod export;
mod find;
mod forecast;
mod functions;
mod logs;
mod render;
mod server;
mod tags;
pub mod tls;
mod ui;

pub use logs::{LogAccepted, LogFormat, LogSink};
pub(crate) use render::time_window;
pub use server::serve;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};

pub use hyper::Method;
use storage::Read;

use crate::config::RenderSettings;
use crate::error::ApiError;
use crate::state::StateStore;

/// The body of every response: whole, or streamed (`/export`).
pub type ResponseBody = BoxBody<Bytes, Infallible>;

/// Request parameters: query string then form body, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parameters from `k=v&...` texts (query string, then form body).
    pub fn parse(parts: &[&[u8]]) -> Params {
        let mut pairs = Vec::new();
        for part in parts {
            pairs.extend(
                form_urlencoded::parse(part).map(|(k, v)| (k.into_owned(), v.into_owned())),
            );
        }
        Params { pairs }
    }

    /// Parameters from explicit pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Params {
        Params {
            pairs: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The last value of `key` (Django's `QueryDict.get`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order (`getlist`).
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `getlist(key)`, or `getlist(key + "[]")` when that is empty (the
    /// PHP/jQuery form graphite also accepts).
    pub fn list(&self, key: &str) -> Vec<&str> {
        let plain = self.get_all(key);
        if plain.is_empty() {
            self.get_all(&format!("{key}[]"))
        } else {
            plain
        }
    }

    /// True when `key` is present (even empty).
    pub fn has(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// All pairs.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// An int parameter with a default; a bad value is a 400.
    pub fn int_or(&self, key: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                ApiError::BadRequest(format!("Invalid int value {v:?} for param {key}"))
            }),
        }
    }
}

/// An answer before it becomes a hyper response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Reply {
    /// 200 with a body and content type.
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            content_type: content_type.to_string(),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// 200 `application/json`, or `text/javascript` wrapped as `cb(...)`
    /// when a JSONP callback is given.
    pub fn json(body: String, jsonp: Option<&str>) -> Reply {
        match jsonp {
            Some(cb) => Reply::ok("text/javascript", format!("{cb}({body})")),
            None => Reply::ok("application/json", body),
        }
    }

    /// Adds `Pragma`/`Cache-Control: no-cache`.
    pub fn no_cache(mut self) -> Reply {
        self.headers.push(("Pragma", "no-cache".into()));
        self.headers.push(("Cache-Control", "no-cache".into()));
        self
    }

    /// A plain-text error with a status.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8".into(),
            headers: Vec::new(),
            body: format!("{message}\n").into_bytes(),
        }
    }
}

/// Counters of the render API, read by self-metrics.
#[derive(Debug, Default)]
pub struct RenderStats {
    /// Requests answered.
    pub requests: AtomicU64,
    /// Requests answered with 4xx because of the request.
    pub bad_requests: AtomicU64,
    /// Requests stopped by a limit (series, points, time, find results).
    pub limit_hits: AtomicU64,
    /// Requests failed by the storage backend (500).
    pub storage_errors: AtomicU64,
    /// Time spent answering, summed over requests, in microseconds (its
    /// rate over `requests`' rate is the mean latency).
    pub busy_micros: AtomicU64,
    /// The slowest request answered, in microseconds.
    pub max_micros: AtomicU64,
    /// Connections closed at once because `max_connections` were open.
    pub connections_refused: AtomicU64,
    /// Connections closed because a request's head did not arrive within
    /// `read_timeout`.
    pub read_timeouts: AtomicU64,
    /// Requests answered 503 because every evaluation slot stayed busy
    /// for `queue_timeout`.
    pub busy_refused: AtomicU64,
    /// Requests answered 401 for a missing or wrong `read_token`.
    pub unauthorized: AtomicU64,
    /// `/check` requests (uptime checks), whatever their answer.
    pub checks: AtomicU64,
}

impl RenderStats {
    /// The counters as `(name, value)` pairs, for self-metrics.
    pub fn snapshot(&self) -> Vec<(String, f64)> {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        vec![
            ("requests".into(), get(&self.requests)),
            ("bad_requests".into(), get(&self.bad_requests)),
            ("limit_hits".into(), get(&self.limit_hits)),
            ("storage_errors".into(), get(&self.storage_errors)),
            ("busy_micros".into(), get(&self.busy_micros)),
            ("max_micros".into(), get(&self.max_micros)),
            ("connections_refused".into(), get(&self.connections_refused)),
            ("read_timeouts".into(), get(&self.read_timeouts)),
            ("busy_refused".into(), get(&self.busy_refused)),
            ("unauthorized".into(), get(&self.unauthorized)),
            ("checks".into(), get(&self.checks)),
            (
                "unreadable_skipped".into(),
                storage::api::unreadable_series_skipped() as f64,
            ),
        ]
    }
}

/// Produces the Prometheus text exposition served at `GET /metrics`
/// (without a `query` parameter; with one, `/metrics` is graphite-web's find).
pub type MetricsExporter = Arc<dyn Fn() -> String + Send + Sync>;

struct Inner {
    read: Arc<dyn Read>,
    /// Read once per request, so a reload ([`Api::reload_settings`]) is
    /// seen by the next request and never half-way through one.
    settings: RwLock<Arc<RenderSettings>>,
    stats: RenderStats,
    exporter: Option<MetricsExporter>,
    ready: Arc<AtomicBool>,
    /// Evaluation slots: `max_concurrent_requests` permits.
    slots: Arc<tokio::sync::Semaphore>,
    /// `POST /logs`, when a log sink is wired.
    logs: Option<logs::LogDrain>,
    /// Events and dashboards, when a state database is wired.
    state: Option<Arc<StateStore>>,
}

/// The graphite-web API over one read handle. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

/// Builds the API service: every endpoint, over `read`, with `settings`.
pub fn router(read: Arc<dyn Read>, settings: RenderSettings) -> Api {
    Api {
        inner: Arc::new(Inner {
            read,
            stats: RenderStats::default(),
            exporter: None,
            ready: Arc::new(AtomicBool::new(true)),
            slots: Arc::new(tokio::sync::Semaphore::new(
                settings.http_limits.max_concurrent_requests,
            )),
            settings: RwLock::new(Arc::new(settings)),
            logs: None,
            state: None,
        }),
    }
}

impl Inner {
    /// The settings in force now.
    fn settings(&self) -> Arc<RenderSettings> {
        Arc::clone(&self.settings.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Compares two secrets in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Wall-clock seconds since the epoch.
pub(crate) fn now_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// What a handler sees of the request.
pub(crate) struct Req<'a> {
    pub method: &'a Method,
    pub params: &'a Params,
    pub accept: Option<&'a str>,
    pub read: &'a dyn Read,
    pub settings: &'a RenderSettings,
    pub stats: &'a RenderStats,
    /// The raw request body (`POST /events/` sends JSON).
    pub body: &'a [u8],
    /// Events and dashboards, when wired.
    pub state: Option<&'a StateStore>,
}

impl Api {
    /// The counters.
    pub fn stats(&self) -> &RenderStats {
        &self.inner.stats
    }

    /// The settings it serves with now.
    pub fn settings(&self) -> Arc<RenderSettings> {
        self.inner.settings()
    }

    /// Serves the next requests with `new`'s per-request settings: limits,
    /// find limit, time zone, read options, body size, queue timeout and
    /// read token. What is fixed once the server runs (the listen address,
    /// TLS, connection and evaluation-slot counts, header size and read
    /// timeout) keeps its value; the names of those that `new` changes are
    /// returned, for the caller to say that they need a restart.
    pub fn reload_settings(&self, new: RenderSettings) -> Vec<&'static str> {
        let mut guard = self
            .inner
            .settings
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let old = &**guard;
        let mut fixed = Vec::new();
        if new.http != old.http {
            fixed.push("http");
        }
        let (o, n) = (&old.http_limits, &new.http_limits);
        if n.max_concurrent_requests != o.max_concurrent_requests {
            fixed.push("max_concurrent_requests");
        }
        if n.max_connections != o.max_connections {
            fixed.push("max_connections");
        }
        if n.tls != o.tls {
            fixed.push("tls");
        }
        if n.read_timeout != o.read_timeout {
            fixed.push("read_timeout");
        }
        if n.max_header_bytes != o.max_header_bytes {
            fixed.push("max_header_bytes");
        }
        let mut merged = new;
        merged.http = old.http;
        merged.http_limits.max_concurrent_requests = o.max_concurrent_requests;
        merged.http_limits.max_connections = o.max_connections;
        merged.http_limits.tls = o.tls.clone();
        merged.http_limits.read_timeout = o.read_timeout;
        merged.http_limits.max_header_bytes = o.max_header_bytes;
        *guard = Arc::new(merged);
        fixed
    }

    /// Serves `exporter`'s text at `GET /metrics` (no `query` parameter),
    /// for operators who scrape with Prometheus. Call before cloning the
    /// `Api`; returns it unchanged (and says so in the log) otherwise.
    pub fn with_metrics_exporter(mut self, exporter: MetricsExporter) -> Api {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.exporter = Some(exporter),
            None => tracing::error!("the metrics exporter must be set before the API is shared"),
        }
        self
    }

    /// `GET /health` answers 503 until `ready` is true, then 200: a daemon
    /// whose HTTP listener comes up before its other listeners sets it
    /// once they are all bound. Call before cloning the `Api`.
    pub fn with_readiness(mut self, ready: Arc<AtomicBool>) -> Api {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.ready = ready,
            None => tracing::error!("the readiness flag must be set before the API is shared"),
        }
        self
    }

    /// Serves `POST /logs` into `sink` (a Heroku-style log drain); bodies
    /// over `max_body_bytes` get 413. Call before cloning the `Api`.
    pub fn with_log_sink(mut self, sink: Arc<dyn LogSink>, max_body_bytes: usize) -> Api {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => {
                inner.logs = Some(logs::LogDrain {
                    sink,
                    max_body_bytes,
                })
            }
            None => tracing::error!("the log sink must be set before the API is shared"),
        }
        self
    }

    /// Serves events and dashboards from `state`. Call before cloning the
    /// `Api`.
    pub fn with_state(mut self, state: Arc<StateStore>) -> Api {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.state = Some(state),
            None => tracing::error!("the state database must be set before the API is shared"),
        }
        self
    }

    /// Answers one request.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        if let Some(refused) = self.refuse_unauthorized(&parts) {
            return to_response(refused);
        }
        if let Some(refused) = self.refuse_unauthorized_write(&parts) {
            return to_response(refused);
        }
        if let Some(drain) = self
            .inner
            .logs
            .as_ref()
            .filter(|_| parts.uri.path() == "/logs")
        {
            return logs::handle(self, drain, parts, body).await;
        }
        let settings = self.inner.settings();
        let limit = settings.max_body_bytes;
        let body = match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                self.inner
                    .stats
                    .bad_requests
                    .fetch_add(1, Ordering::Relaxed);
                return to_response(Reply::error(
                    413,
                    &format!("request body larger than {limit} bytes"),
                ));
            }
        };
        let is_form = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let query = parts.uri.query().unwrap_or("").as_bytes().to_vec();
        let params = if parts.method == Method::POST && is_form {
            Params::parse(&[&query, &body])
        } else {
            Params::parse(&[&query])
        };
        let accept = parts
            .headers
            .get(hyper::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let api = self.clone();
        let path = parts.uri.path().to_string();
        let method = parts.method.clone();
        // An evaluation slot bounds the CPU and memory that concurrent
        // requests hold; one that waits too long gets 503 (a client retries
        // later) instead of the process growing until it swaps.
        let queue_timeout = settings.http_limits.queue_timeout;
        let slot =
            match tokio::time::timeout(queue_timeout, self.inner.slots.clone().acquire_owned())
                .await
            {
                Ok(Ok(permit)) => permit,
                _ => {
                    self.inner
                        .stats
                        .busy_refused
                        .fetch_add(1, Ordering::Relaxed);
                    let mut reply =
                        Reply::error(503, "busy: every evaluation slot stayed taken; retry later");
                    reply.headers.push(("Retry-After", "1".into()));
                    return to_response(reply);
                }
            };
        if path.trim_end_matches('/') == "/export" {
            return export::streamed(self, params, slot).await;
        }
        let reply = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            api.handle_with_body(&method, &path, &params, accept.as_deref(), &body)
        })
        .await
        .unwrap_or_else(|_| Reply::error(500, "internal error"));
        to_response(reply)
    }

    /// With `[render] read_token` set, every request but `/health` needs
    /// `Authorization: Bearer <token>`; the answer to one without is 401.
    fn refuse_unauthorized(&self, parts: &hyper::http::request::Parts) -> Option<Reply> {
        let settings = self.inner.settings();
        let token = settings.http_limits.read_token.as_deref()?;
        if parts.uri.path() == "/health" {
            return None;
        }
        let given = parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
            return None;
        }
        self.inner
            .stats
            .unauthorized
            .fetch_add(1, Ordering::Relaxed);
        let mut reply = Reply::error(401, "a valid Authorization: Bearer token is required");
        reply.headers.push(("WWW-Authenticate", "Bearer".into()));
        Some(reply)
    }

    /// With `[render] write_token` set, every write (see [`is_write`])
    /// needs `Authorization: Bearer <write_token>`; 401 otherwise.
    fn refuse_unauthorized_write(&self, parts: &hyper::http::request::Parts) -> Option<Reply> {
        let settings = self.inner.settings();
        let token = settings.http_limits.write_token.as_deref()?;
        if !is_write(&parts.method, parts.uri.path()) {
            return None;
        }
        let given = parts
            .headers
            .get_all(hyper::header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.strip_prefix("Bearer "))
            .any(|g| constant_time_eq(g.as_bytes(), token.as_bytes()));
        if given {
            return None;
        }
        self.inner
            .stats
            .unauthorized
            .fetch_add(1, Ordering::Relaxed);
        let mut reply = Reply::error(401, "writes need a valid Authorization: Bearer token");
        reply.headers.push(("WWW-Authenticate", "Bearer".into()));
        Some(reply)
    }

    /// Answers one request synchronously (the body already merged into
    /// `params`).
    pub fn handle_blocking(
        &self,
        method: &Method,
        path: &str,
        params: &Params,
        accept: Option<&str>,
    ) -> Reply {
        self.handle_with_body(method, path, params, accept, &[])
    }

    /// [`Api::handle_blocking`] with the raw body too (JSON endpoints).
    fn handle_with_body(
        &self,
        method: &Method,
        path: &str,
        params: &Params,
        accept: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let inner = &self.inner;
        let started = Instant::now();
        inner.stats.requests.fetch_add(1, Ordering::Relaxed);
        if path == "/health" {
            return if inner.ready.load(Ordering::Acquire) {
                Reply::ok("text/plain", "ok\n")
            } else {
                Reply::error(503, "starting")
            };
        }
        if let Some(exporter) = &inner.exporter {
            if path.trim_end_matches('/') == "/metrics" && !params.has("query") {
                return Reply::ok("text/plain; version=0.0.4", exporter());
            }
        }
        let settings = inner.settings();
        let req = Req {
            method,
            params,
            accept,
            read: inner.read.as_ref(),
            settings: &settings,
            stats: &inner.stats,
            body,
            state: inner.state.as_deref(),
        };
        let reply = self.dispatch_counted(&req, path);
        let micros = started.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
        inner.stats.busy_micros.fetch_add(micros, Ordering::Relaxed);
        inner.stats.max_micros.fetch_max(micros, Ordering::Relaxed);
        reply
    }

    /// [`dispatch`], counting the errors by kind.
    fn dispatch_counted(&self, req: &Req<'_>, path: &str) -> Reply {
        match dispatch(req, path) {
            Ok(reply) => reply,
            Err(e) => self.error_reply(path, e),
        }
    }

    /// The reply to a failed request, counted in the stats.
    fn error_reply(&self, path: &str, e: ApiError) -> Reply {
        let stats = &self.inner.stats;
        match &e {
            ApiError::Storage(detail) => {
                stats.storage_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%path, error = %detail, "storage error while answering a request");
            }
            ApiError::Unreadable { .. } => {
                stats.storage_errors.fetch_add(1, Ordering::Relaxed);
            }
            ApiError::BackendUnavailable(detail) | ApiError::BackendError(detail) => {
                stats.storage_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%path, error = %detail, "the storage backend failed a request");
            }
            ApiError::Limit(_) => {
                stats.limit_hits.fetch_add(1, Ordering::Relaxed);
                stats.bad_requests.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                stats.bad_requests.fetch_add(1, Ordering::Relaxed);
            }
        }
        Reply::error(e.status(), &e.client_message())
    }
}

/// The requests that change state: they pass the `write_token` check.
pub fn is_write(method: &Method, path: &str) -> bool {
    let trimmed = path.trim_end_matches('/');
    match trimmed {
        "/events" => *method == Method::POST,
        "/tags/tagSeries" | "/tags/tagMultiSeries" | "/tags/delSeries" => true,
        "/dashboard/create-temporary" => true,
        _ => {
            (trimmed.starts_with("/events/") && *method == Method::DELETE)
                || trimmed.starts_with("/dashboard/save/")
                || trimmed.starts_with("/dashboard/delete/")
        }
    }
}

fn method_not_allowed() -> Result<Reply, ApiError> {
    Ok(Reply::error(405, "method not allowed"))
}

/// Percent-decodes `s` (`%41` → `A`; a `%` without two hex digits stays
/// as written), reading the bytes as UTF-8 with replacement characters.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn dispatch(req: &Req<'_>, path: &str) -> Result<Reply, ApiError> {
    let trimmed = path.trim_end_matches('/');
    let get_or_post = matches!(*req.method, Method::GET | Method::POST | Method::HEAD);
    match trimmed {
        // The browser UI (ui.rs): its page, and its embedded assets below.
        "" | "/composer" => ui::page(req),
        "/render" => {
            if !get_or_post {
                return method_not_allowed();
            }
            render::render(req)
        }
        "/metrics" | "/metrics/find" => {
            if !get_or_post {
                return method_not_allowed();
            }
            find::find(req)
        }
        "/metrics/expand" => find::expand(req),
        "/metrics/index.json" => find::index(req),
        "/version" => Ok(Reply::ok("text/html; charset=utf-8", "1.1.10\n")),
        "/export" => export::buffered(req),
        "/forecast" => forecast::forecast(req),
        "/check" => check::check(req),
        "/functions" => functions::list(req),
        "/tags" => tags::list(req),
        "/tags/tagSeries" => tags::tag_series(req),
        "/tags/tagMultiSeries" => tags::tag_multi_series(req),
        "/tags/delSeries" => tags::del_series(req),
        "/tags/findSeries" => tags::find_series(req),
        "/tags/autoComplete/tags" => tags::autocomplete_tags(req),
        "/tags/autoComplete/values" => tags::autocomplete_values(req),
        "/events" => events::events(req),
        "/events/get_data" | "/events/get_dat" => events::get_data(req),
        _ => {
            if let Some(id) = trimmed.strip_prefix("/events/") {
                if !id.contains('/') {
                    return events::detail(req, id);
                }
            }
            if let Some(rest) = trimmed.strip_prefix("/dashboard") {
                if let Some(answer) = dashboard::route(req, rest) {
                    return answer;
                }
            }
            if ui::is_dashboard_page(trimmed) {
                return ui::page(req);
            }
            if let Some(name) = path.strip_prefix("/ui/") {
                return ui::asset(req.method, name, req.params.get("v"));
            }
            if let Some(name) = trimmed.strip_prefix("/functions/") {
                return functions::details(req, &percent_decode(name));
            }
            if let Some(tag) = trimmed.strip_prefix("/tags/") {
                if !tag.contains('/') {
                    return tags::details(req, &percent_decode(tag));
                }
            }
            Err(ApiError::NotFound(format!("no such endpoint: {path}")))
        }
    }
}

fn to_response(reply: Reply) -> Response<ResponseBody> {
    let mut resp = Response::new(Full::new(Bytes::from(reply.body)).boxed());
    *resp.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(&reply.content_type) {
        resp.headers_mut().insert(CONTENT_TYPE, v);
    }
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(name, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_values_come_after_get_values() {
        let p = Params::parse(&[b"target=a&from=-1h", b"target=b&from=-2h"]);
        assert_eq!(p.get_all("target"), vec!["a", "b"]);
        assert_eq!(p.get("from"), Some("-2h"));
        let p = Params::parse(&[b"target%5B%5D=x"]);
        assert_eq!(p.list("target"), vec!["x"]);
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
    }
}

#[cfg(test)]
mod router_tests {
    use super::*;
    use crate::testing::MemoryRead;

    fn api() -> Api {
        let values: Vec<Option<f64>> = (0..6).map(|i| Some(i as f64)).collect();
        let read = MemoryRead::new()
            .with("a.b", 1000, 10, &values)
            .with("a.c", 1000, 10, &values)
            .with("x.y.z", 1000, 10, &values);
        router(Arc::new(read), RenderSettings::default())
    }

    fn call(api: &Api, method: Method, uri: &str, form: Option<&str>) -> (u16, String, String) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut builder = Request::builder().method(method).uri(uri);
        if form.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let req = builder
            .body(Full::new(Bytes::from(form.unwrap_or("").to_string())))
            .unwrap();
        let resp = rt.block_on(api.handle(req));
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = rt.block_on(resp.into_body().collect()).unwrap().to_bytes();
        (status, ct, String::from_utf8_lossy(&body).into_owned())
    }

    fn get(api: &Api, uri: &str) -> (u16, String, String) {
        call(api, Method::GET, uri, None)
    }

    #[test]
    fn the_ui_page_carries_the_tree_top_level() {
        let api = api();
        for path in ["/", "/composer/?target=a.b", "/dashboard/ops"] {
            let (status, ct, body) = get(&api, path);
            assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
            for top in ["a", "x"] {
                assert!(
                    body.contains(&format!(
                        r#"class="branch" data-path="{top}" aria-expanded="false">"#
                    )),
                    "{path}: no top-level node {top} in {body}"
                );
            }
        }
    }

    #[test]
    fn render_json_over_get_and_post() {
        let api = api();
        let (status, ct, body) = get(
            &api,
            "/render?target=sumSeries(a.*)&from=1000&until=1030&format=json",
        );
        assert_eq!((status, ct.as_str()), (200, "application/json"), "{body}");
        assert!(
            body.contains(r#""datapoints": [[2.0, 1010], [4.0, 1020], [6.0, 1030]]"#),
            "{body}"
        );
        let (status, _, post) = call(
            &api,
            Method::POST,
            "/render",
            Some("target=sumSeries(a.*)&from=1000&until=1030&format=json"),
        );
        assert_eq!(status, 200);
        assert_eq!(post, body);
        let (_, ct, jsonp) = get(
            &api,
            "/render?target=a.b&from=1000&until=1010&format=json&jsonp=cb",
        );
        assert_eq!(ct, "text/javascript");
        assert!(jsonp.starts_with("cb([{"), "{jsonp}");
    }

    #[test]
    fn user_errors_are_400_with_a_message() {
        let api = api();
        let (status, _, body) = get(&api, "/render?target=sumSeries(a.*&format=json");
        assert_eq!(status, 400);
        assert!(body.contains("column"), "{body}");
        let (status, _, body) = get(&api, "/render?target=nope(a.b)&format=json");
        assert_eq!(status, 400);
        assert!(
            body.contains("Received request for unknown function: nope"),
            "{body}"
        );
        let (status, _, body) = get(&api, "/render?target=a.b&from=-1m&format=json");
        assert_eq!(status, 400, "{body}");
        let (status, _, _) = get(&api, "/render?target=a.b&from=100&until=100&format=json");
        assert_eq!(status, 400);
        assert_eq!(api.stats().bad_requests.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn limits_are_422() {
        let values = vec![Some(1.0); 10];
        let read = MemoryRead::new()
            .with("a.b", 0, 10, &values)
            .with("a.c", 0, 10, &values);
        let mut settings = RenderSettings::default();
        settings.limits.max_series = 1;
        let api = router(Arc::new(read), settings);
        let (status, _, body) = get(&api, "/render?target=a.*&from=0&until=50&format=json");
        assert_eq!(status, 422, "{body}");
        assert_eq!(api.stats().limit_hits.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn find_version_functions() {
        let api = api();
        let (status, _, body) = call(&api, Method::POST, "/metrics/find", Some("query=*"));
        assert_eq!(status, 200);
        assert_eq!(
            body,
            r#"[{"text": "a", "id": "a", "allowChildren": 1, "expandable": 1, "leaf": 0}, {"text": "x", "id": "x", "allowChildren": 1, "expandable": 1, "leaf": 0}]"#
        );
        let (_, _, body) = get(&api, "/metrics/find?query=a.*&format=completer");
        assert!(
            body.starts_with(r#"{"metrics": [{"path": "a.b", "name": "b", "is_leaf": "1"}"#),
            "{body}"
        );
        let (_, _, body) = get(&api, "/metrics/expand?query=a.*&query=x.*");
        assert_eq!(body, r#"{"results": ["a.b", "a.c", "x.y"]}"#);
        let (_, _, body) = get(&api, "/metrics/index.json");
        assert_eq!(body, r#"["a.b", "a.c", "x.y.z"]"#);
        let (status, ct, body) = get(&api, "/version");
        assert_eq!((status, body.trim()), (200, "1.1.10"), "{ct}");
        let (_, _, body) = get(&api, "/functions");
        let quoted = body.replace("1e9999", "\"1e9999\"");
        assert!(serde_json::from_str::<serde_json::Value>(&quoted).is_ok());
        let (status, _, _) = get(&api, "/functions/sumSeries");
        assert_eq!(status, 200);
        let (status, _, _) = get(&api, "/functions/nope");
        assert_eq!(status, 404);
        let (status, _, _) = get(&api, "/tags/tagSeries");
        assert_eq!(status, 405);
        let (status, _, _) = get(&api, "/nothing/here");
        assert_eq!(status, 404);
    }
}
