//! Headless Chromium (Debian's `chromium`) for the browser tests: one
//! process per page, its own temporary profile, killed (with its helper
//! processes) when it overruns its time.
//!
//! Chromium is a test prerequisite (`scripts/ci-prerequisites.sh`): when it
//! is missing the tests fail saying so, they never pass silently.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long one page may take (load, scripts, images, then the dump).
const PAGE_TIMEOUT: Duration = Duration::from_secs(90);

/// Virtual time Chromium lets the page run before it dumps or shoots:
/// time spent waiting on the network does not count, so the scripts'
/// requests and the graphs' images complete within it.
const VIRTUAL_TIME_BUDGET_MS: u32 = 5000;

/// Flags that keep the browser on loopback. `EXCLUDE 127.0.0.1` leaves
/// the tests' own addresses alone; loopback bypasses the proxy by default.
const NO_NETWORK: &[&str] = &[
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=127.0.0.1:9",
    "--disable-quic",
    "--no-pings",
    "--disable-domain-reliability",
    "--disable-breakpad",
];

/// The `chromium` on `PATH`; panics with what to install otherwise.
pub fn chromium() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "chromium is missing: the browser tests need Debian's `chromium` \
             (scripts/ci-prerequisites.sh installs it: apt-get install chromium)"
        )
    })
}

/// Where the screenshots of failing runs are kept.
pub fn artefacts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artefacts/browser")
}

/// What one headless run printed.
struct Run {
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs headless Chromium on `url` with `extra` arguments (`--dump-dom`
/// or `--screenshot=...`), in a fresh profile, bounded by
/// [`PAGE_TIMEOUT`]. With `settle`, `--virtual-time-budget` lets the
/// page's scripts and requests finish first; without it Chromium takes the
/// page at its `load` event, as a plain `chromium --headless --dump-dom`.
fn run(url: &str, extra: &[String], settle: bool) -> Run {
    // One browser at a time: each is a dozen processes and about 1 GB, and
    // the test threads run other servers beside it.
    static ONE_BROWSER: Mutex<()> = Mutex::new(());
    let _turn = ONE_BROWSER.lock().unwrap_or_else(PoisonError::into_inner);
    let profile = tempfile::tempdir().expect("a temp profile dir");
    let stderr_path = profile.path().join("chromium.stderr");
    let stderr = std::fs::File::create(&stderr_path).expect("create the stderr file");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-extensions",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
        ])
        // Nothing leaves the machine: the tests' pages are on 127.0.0.1,
        // and the browser's own lookups (Debian's wrapper loads extensions
        // that ask clients2.google.com for updates) went to the sandbox's
        // resolver. No name resolves, every non-loopback request goes to
        // a closed local port, and QUIC is off.
        .args(NO_NETWORK)
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .args(settle.then(|| format!("--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}")))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        // Its own process group, so a timeout stops its helpers too.
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("chromium's stdout");
    // Read while it runs: a DOM larger than the pipe buffer would block it.
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    // The browser's process group is killed before the browser is reaped:
    // until then its zombie keeps the pid (the group's id) from being given
    // to another process. Killed after the reap, the id could already name
    // an unrelated group (another browser, or anything else started as a
    // group leader meanwhile).
    let deadline = Instant::now() + PAGE_TIMEOUT;
    let finished = loop {
        if exited_unreaped(pid) {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The browser if it timed out, and helpers (zygote, renderer) left in
    // the group once it exited.
    kill_group(pid);
    let status = child.wait().ok().filter(|_| finished);
    let stdout = reader.join().unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        status.is_some(),
        "chromium did not finish {url} within {PAGE_TIMEOUT:?}; its stderr:\n{}",
        tail(&stderr)
    );
    Run { stdout, stderr }
}

/// SIGKILL to the process group led by `leader`.
///
/// Not through the `kill` command: Debian 12's procps 4.0.2 turns
/// `kill -KILL -PGID` into `kill(-1, SIGKILL)`, every process the caller
/// may signal. As root that was every process on the machine, the test
/// runner and CI's shell included.
fn kill_group(leader: u32) {
    let Ok(group) = libc::pid_t::try_from(leader) else {
        return;
    };
    // 0 and 1 would name our own group and init's.
    if group <= 1 {
        return;
    }
    // SAFETY: kill(2) takes two integers and touches no memory of ours; a
    // negative pid below -1 names exactly the group `group`.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

/// True once process `pid` (our child, not reaped yet) has exited: the
/// kernel shows it as a zombie (`Z` in `/proc/PID/stat`) until the reap.
fn exited_unreaped(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and
        // may itself hold any character.
        Ok(stat) => matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next()),
            None | Some("Z" | "X")
        ),
        Err(_) => true,
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The DOM of `url` after its scripts ran (`--dump-dom`).
pub fn dump_dom(url: &str) -> String {
    dump(url, true)
}

/// The DOM of `url` at its `load` event: a plain `chromium --headless
/// --dump-dom URL`, without waiting for the scripts' requests.
pub fn dump_dom_at_load(url: &str) -> String {
    dump(url, false)
}

fn dump(url: &str, settle: bool) -> String {
    let out = run(url, &["--dump-dom".to_string()], settle);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("<html"),
        "chromium dumped no DOM for {url}; its stderr:\n{}",
        tail(&out.stderr)
    );
    dom
}

/// A screenshot of `url` in a `width` x `height` window, as PNG bytes.
pub fn screenshot(url: &str, width: u32, height: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("shot.png");
    let out = run(
        url,
        &[
            format!("--screenshot={}", file.display()),
            format!("--window-size={width},{height}"),
        ],
        true,
    );
    std::fs::read(&file).unwrap_or_else(|e| {
        panic!(
            "chromium wrote no screenshot of {url} ({e}); its stderr:\n{}",
            tail(&out.stderr)
        )
    })
}

/// Keeps `png` as `target/test-artefacts/browser/NAME.png` and returns the
/// path, for a failing test to print.
pub fn keep_artefact(name: &str, png: &[u8]) -> PathBuf {
    let dir = artefacts_dir();
    let path = dir.join(format!("{name}.png"));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, png)) {
        eprintln!("could not keep the screenshot {}: {e}", path.display());
    }
    path
}
