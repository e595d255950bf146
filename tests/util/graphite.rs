//! The reference graphite-web 1.1.10 and whisper 1.1.10, driven through
//! `tests/refs/*.py` with the reference python, for differential tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::ref_python;

fn refs_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/refs")
        .join(name)
}

/// One HTTP request for graphite-web.
#[derive(Clone, Debug)]
pub struct GraphiteRequest {
    /// `GET` or `POST` (form-encoded body).
    pub method: &'static str,
    /// Path with graphite-web's trailing slash where it has one (`/render/`).
    pub path: String,
    /// Query or form parameters, repeated keys allowed.
    pub params: Vec<(String, String)>,
}

impl GraphiteRequest {
    /// A GET request.
    pub fn get(path: &str, params: &[(&str, &str)]) -> Self {
        Self::new("GET", path, params)
    }

    /// A POST request with a form body.
    pub fn post(path: &str, params: &[(&str, &str)]) -> Self {
        Self::new("POST", path, params)
    }

    fn new(method: &'static str, path: &str, params: &[(&str, &str)]) -> Self {
        GraphiteRequest {
            method,
            path: path.to_string(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// graphite-web's answer to one request.
#[derive(Clone, Debug)]
pub struct GraphiteResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` header.
    pub content_type: String,
    /// The body (base64 when it was not UTF-8, see `base64`).
    pub body: String,
    /// True when `body` is base64 of a binary body (pickle).
    pub base64: bool,
}

/// Runs `requests` through graphite-web's views over `whisper_dir` in one
/// Django process (a start costs ~1 s, so batch). `settings` overrides
/// graphite settings (e.g. `{"DEFAULT_XFILES_FACTOR": 0.5}`).
pub fn graphite_web(
    whisper_dir: &Path,
    tz: &str,
    settings: Value,
    requests: &[GraphiteRequest],
) -> Vec<GraphiteResponse> {
    let job = json!({
        "whisper_dir": whisper_dir,
        "tz": tz,
        "settings": settings,
        "requests": requests.iter().map(|r| json!({
            "method": r.method,
            "path": r.path,
            "params": r.params,
        })).collect::<Vec<_>>(),
    });
    let mut child = Command::new(ref_python())
        .arg(refs_script("graphite_web.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start graphite_web.py with the reference python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(job.to_string().as_bytes())
        .expect("write the job");
    let out = child.wait_with_output().expect("graphite_web.py runs");
    assert!(
        out.status.success(),
        "graphite_web.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> =
        serde_json::from_slice(&out.stdout).expect("graphite_web.py prints JSON");
    answers
        .into_iter()
        .map(|a| GraphiteResponse {
            status: a["status"].as_u64().expect("status") as u16,
            content_type: a["content_type"].as_str().unwrap_or_default().to_string(),
            body: a["body"].as_str().unwrap_or_default().to_string(),
            base64: a["base64"].as_bool().unwrap_or(false),
        })
        .collect()
}

/// Tagged series names a `rich` fixture holds (register them in graphite-web
/// with `POST /tags/tagMultiSeries` before tag queries).
pub const RICH_TAGGED: &[&str] = &[
    "disk.used;dc=eu;host=h1",
    "disk.used;dc=eu;host=h2",
    "disk.used;dc=us;host=h3",
    "cpu.load;dc=eu;host=h1",
];

/// Writes a deterministic Whisper tree with the real whisper module
/// (`sample`, `rich` or `bench`; see tests/refs/whisper_fixture.py for the
/// series and values) whose last point is at `now`.
pub fn whisper_fixture(dir: &Path, preset: &str, now: i64, bench_count: Option<usize>) {
    let mut cmd = Command::new(ref_python());
    cmd.arg(refs_script("whisper_fixture.py"))
        .arg(dir)
        .arg(preset)
        .arg("--now")
        .arg(now.to_string());
    if let Some(n) = bench_count {
        cmd.arg("--count").arg(n.to_string());
    }
    let out = cmd.output().expect("whisper_fixture.py runs");
    assert!(
        out.status.success(),
        "whisper_fixture.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The request that registers [`RICH_TAGGED`] in graphite-web's tag DB.
pub fn register_rich_tags() -> GraphiteRequest {
    let params: Vec<(&str, &str)> = RICH_TAGGED.iter().map(|n| ("path", *n)).collect();
    GraphiteRequest::post("/tags/tagMultiSeries", &params)
}
