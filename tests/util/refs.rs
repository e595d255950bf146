//! The reference implementations the differential tests run against:
//! graphite-web 1.1.10 and whisper 1.1.10 (driven through `tests/refs/*.py`
//! with the reference python), carbon's loaders and Etsy StatsD 0.9.0, all
//! installed under one prefix by `scripts/install-references.sh`.

use std::ffi::OsStr;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::statsd::Daemon;
use super::{free_tcp_port, free_udp_port, wait_until, ChildGuard};

/// Where `scripts/install-references.sh` put the reference implementations.
pub fn refs_prefix() -> PathBuf {
    std::env::var_os("FERROGRAPH_REFS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/ferrograph-refs"))
}

/// The python that imports the reference `whisper`, `graphite` and `statsd`.
pub fn ref_python() -> PathBuf {
    refs_prefix().join("bin").join("ref-python")
}

/// The Etsy StatsD package directory (holds `stats.js`).
pub fn ref_statsd_dir() -> PathBuf {
    refs_prefix().join("statsd/node_modules/statsd")
}

/// Returns true when the reference implementations are installed. When they
/// are not, the test fails with instructions, unless the developer opted out
/// with `FERROGRAPH_SKIP_REFERENCE_TESTS=1` (then the caller returns early).
/// CI never sets that variable, so differential tests always run there.
pub fn references_available() -> bool {
    if ref_python().exists() && ref_statsd_dir().join("stats.js").exists() {
        return true;
    }
    if std::env::var_os("FERROGRAPH_SKIP_REFERENCE_TESTS").is_some() {
        eprintln!("skipping: reference implementations not installed");
        return false;
    }
    panic!(
        "reference implementations not found under {}: run scripts/install-references.sh \
         (or set FERROGRAPH_SKIP_REFERENCE_TESTS=1 to skip differential tests locally)",
        refs_prefix().display()
    );
}

/// The path of a driver script in `tests/refs/`.
pub fn ref_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/refs")
        .join(name)
}

/// Panics with the process's stderr unless it exited successfully.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `ref-python tests/refs/SCRIPT ARGS...` with `input` on stdin and
/// returns its stdout; panics with its stderr unless it succeeds.
pub fn run_ref_script<A: AsRef<OsStr>>(script: &str, args: &[A], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(ref_python())
        .arg(ref_script(script))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {script} with the reference python: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .unwrap_or_else(|e| panic!("write {script}'s input: {e}"));
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{script} runs: {e}"));
    assert_success(&out, script);
    out.stdout
}

/// Runs `ref-python -c CODE` (a one-off sender or writer) and returns its
/// stdout; panics with its stderr unless it succeeds.
pub fn run_ref_code(code: &str) -> Vec<u8> {
    let out = Command::new(ref_python())
        .arg("-c")
        .arg(code)
        .output()
        .expect("run the reference python");
    assert_success(&out, "ref-python -c");
    out.stdout
}

/// Runs a real StatsD client (`program SCRIPT HOST PORT PREFIX`, the script
/// in `tests/refs/`) against `to`; panics with its stderr unless it succeeds.
pub fn run_client(program: &Path, script: &str, to: SocketAddr, prefix: &str) {
    let out = Command::new(program)
        .arg(ref_script(script))
        .arg(to.ip().to_string())
        .arg(to.port().to_string())
        .arg(prefix)
        .env("FERROGRAPH_REFS", refs_prefix())
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert_success(&out, script);
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
    /// A raw `application/json` body instead of a form (`POST /events/`).
    pub body: Option<String>,
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

    /// A POST request with a raw JSON body.
    pub fn post_json(path: &str, body: &str) -> Self {
        GraphiteRequest {
            body: Some(body.to_string()),
            ..Self::new("POST", path, &[])
        }
    }

    fn new(method: &'static str, path: &str, params: &[(&str, &str)]) -> Self {
        GraphiteRequest {
            method,
            path: path.to_string(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: None,
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
            "body": r.body,
        })).collect::<Vec<_>>(),
    });
    let no_args: [&str; 0] = [];
    let stdout = run_ref_script("graphite_web.py", &no_args, job.to_string().as_bytes());
    let answers: Vec<Value> = serde_json::from_slice(&stdout).expect("graphite_web.py prints JSON");
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

/// Parses `/functions` JSON text (graphite-web's or ours). graphite writes
/// an infinite default as `1e9999`, valid JSON but out of serde's range, so
/// it is quoted first (the same way on both sides, so they still compare).
pub fn parse_functions_json(text: &str) -> Value {
    serde_json::from_str(&text.replace("1e9999", "\"1e9999\"")).expect("function metadata JSON")
}

/// graphite-web's `/functions` metadata of every function, by name.
pub fn graphite_functions() -> Value {
    let no_args: [&str; 0] = [];
    let stdout = run_ref_script("graphite_functions.py", &no_args, b"");
    parse_functions_json(&String::from_utf8_lossy(&stdout))
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
    let mut args = vec![
        dir.as_os_str().to_owned(),
        preset.into(),
        "--now".into(),
        now.to_string().into(),
    ];
    if let Some(n) = bench_count {
        args.extend(["--count".into(), n.to_string().into()]);
    }
    run_ref_script("whisper_fixture.py", &args, b"");
}

/// The request that registers [`RICH_TAGGED`] in graphite-web's tag DB.
pub fn register_rich_tags() -> GraphiteRequest {
    let params: Vec<(&str, &str)> = RICH_TAGGED.iter().map(|n| ("path", *n)).collect();
    GraphiteRequest::post("/tags/tagMultiSeries", &params)
}

/// Starts Etsy StatsD (node stats.js) with `extra` merged into a config that
/// flushes to `graphite` every `flush_ms`; UDP (and TCP when `tcp`) on free
/// loopback ports. Ready when its admin port accepts.
pub fn start_etsy(
    dir: &Path,
    graphite: SocketAddr,
    flush_ms: u64,
    tcp: bool,
    extra: &Value,
) -> Daemon {
    let udp_port = free_udp_port();
    let tcp_port = free_tcp_port();
    let mgmt_port = free_tcp_port();
    let mut cfg = json!({
        "port": udp_port,
        "address": "127.0.0.1",
        "mgmt_port": mgmt_port,
        "mgmt_address": "127.0.0.1",
        "backends": ["./backends/graphite"],
        "graphiteHost": "127.0.0.1",
        "graphitePort": graphite.port(),
        "flushInterval": flush_ms,
        "automaticConfigReload": false,
    });
    if tcp {
        cfg["servers"] = json!([
            {"server": "./servers/udp", "address": "127.0.0.1", "port": udp_port},
            {"server": "./servers/tcp", "address": "127.0.0.1", "port": tcp_port},
        ]);
    }
    if let (Some(obj), Some(more)) = (cfg.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            obj.insert(k.clone(), v.clone());
        }
    }
    let path = dir.join("statsd-config.js");
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    let log_path = dir.join("statsd.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new("node")
        .arg("stats.js")
        .arg(&path)
        .current_dir(ref_statsd_dir())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn node stats.js (is node installed?)");
    let mut guard = ChildGuard(child);
    let mgmt: SocketAddr = format!("127.0.0.1:{mgmt_port}").parse().unwrap();
    let up = wait_until(Duration::from_secs(20), || {
        if let Ok(Some(_)) = guard.0.try_wait() {
            return true;
        }
        TcpStream::connect_timeout(&mgmt, Duration::from_millis(200)).is_ok()
    });
    if !up || guard.0.try_wait().ok().flatten().is_some() {
        panic!(
            "Etsy statsd did not start:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
    }
    Daemon {
        child: guard,
        udp: format!("127.0.0.1:{udp_port}").parse().unwrap(),
        tcp: tcp.then(|| format!("127.0.0.1:{tcp_port}").parse().unwrap()),
        admin: Some(mgmt),
        stderr: Arc::new(Mutex::new(Vec::new())),
    }
}

/// Floats that exercise a shortest-digits formatter: every exponent (raw
/// bit patterns), the decimal fractions StatsD and graphite-web produce
/// (rates, thirds), and large values with binary fractions, many of which
/// lie exactly halfway between two 17-digit decimals. Deterministic.
pub fn tricky_floats(count: usize) -> Vec<f64> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|i| {
            let bits = next();
            match i % 5 {
                0 => f64::from_bits(bits),
                1 => (bits % 10_000_000) as f64 / 1000.0,
                2 => (bits % 1000) as f64 / 3.0,
                3 => (bits >> 11) as f64 / 8.0,
                _ => (bits % 1_000_000) as f64 * 10f64.powi((bits % 40) as i32 - 26),
            }
        })
        .filter(|x| x.is_finite())
        .collect()
}

/// How a reference prints each of `values`, one line each: `program`
/// with `args` reads the values' bit patterns (16 hex digits a line) from
/// the file named by its last argument.
pub fn printed_by(program: &Path, args: &[&str], values: &[f64]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("values.txt");
    let text: String = values
        .iter()
        .map(|x| format!("{:016x}\n", x.to_bits()))
        .collect();
    std::fs::write(&input, text).unwrap();
    let out = Command::new(program)
        .args(args)
        .arg(&input)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(printed.len(), values.len(), "one line per value");
    printed
}

/// The values where `ours` prints otherwise than the reference did, as
/// assertion text (at most ten shown).
pub fn print_differences(
    values: &[f64],
    printed: &[String],
    ours: impl Fn(f64) -> String,
) -> Option<String> {
    let differences: Vec<String> = values
        .iter()
        .zip(printed)
        .filter_map(|(x, theirs)| {
            let mine = ours(*x);
            (mine != *theirs).then(|| format!("{x:?}: ours {mine}, reference {theirs}"))
        })
        .collect();
    (!differences.is_empty()).then(|| {
        format!(
            "{} of {} print differently, e.g.\n{}",
            differences.len(),
            values.len(),
            differences[..differences.len().min(10)].join("\n")
        )
    })
}
