//! Reload without restart (`SIGHUP`, `ferrograph reload --pidfile` or
//! `--admin`): new
//! schemas for new series only, a broken schemas file refused with its file
//! and line and the running rules kept, render limits and the log level
//! from the next request or event on, and `[storage]
//! resize_on_schema_change` rewriting existing files without losing a point.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::serve::Serve;
use crate::util::{run_ferrograph, send_carbon, unix_now as now, wait_until};

const FIRST: &str = "[all]\npattern = .*\nretentions = 1s:1h,1m:1d\n";
const FIRST_ARCHIVES: &[(u32, u32)] = &[(1, 3600), (60, 1440)];
const SECOND: &str = "[all]\npattern = .*\nretentions = 5s:1h\n";
const SECOND_ARCHIVES: &[(u32, u32)] = &[(5, 720)];
/// Line 3 is wrong: the refusal must name `schemas.conf:3`.
const BROKEN: &str = "[all]\npattern = .*\nretentions = banana\n";

/// Writes `dir/schemas.conf` and `dir/ferrograph.toml` (every listener on
/// loopback port 0, self-metrics off so only test series have files).
fn write_config(dir: &Path, schemas: &str, render: &str, storage: &str, log: &str) -> PathBuf {
    std::fs::write(dir.join("schemas.conf"), schemas).expect("write schemas");
    let text = format!(
        "[statsd]\nudp = \"127.0.0.1:0\"\ntcp = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
         flush_interval = \"1s\"\n\n\
         [carbon]\nplaintext = \"127.0.0.1:0\"\npickle = \"127.0.0.1:0\"\nudp = \"127.0.0.1:0\"\n\n\
         [storage]\nschemas = \"schemas.conf\"\nself_metrics_interval = \"\"\n{storage}\n\n\
         [render]\nhttp = \"127.0.0.1:0\"\n{render}\n\n[log]\nlevel = \"{log}\"\n"
    );
    let path = dir.join("ferrograph.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// `(seconds_per_point, points)` of each archive of `path`.
fn archives(path: &Path) -> Vec<(u32, u32)> {
    storage::whisper::info(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .archives
        .iter()
        .map(|a| (a.seconds_per_point, a.points))
        .collect()
}

/// Sends one point of `name` and waits for its file.
fn create_series(serve: &Serve, name: &str) -> PathBuf {
    let carbon = serve.carbon_plaintext.expect("carbon");
    send_carbon(carbon, &[format!("{name} 1 {}", now())]);
    let path = serve
        .data_dir
        .join(name.replace('.', "/"))
        .with_extension("wsp");
    assert!(
        wait_until(Duration::from_secs(30), || path.exists()),
        "{} never created; log:\n{}",
        path.display(),
        serve.log()
    );
    path
}

/// Waits until the log says `needle` `times` times.
fn wait_for_log(serve: &Serve, needle: &str, times: usize) {
    assert!(
        wait_until(Duration::from_secs(20), || serve
            .log()
            .matches(needle)
            .count()
            >= times),
        "{needle:?} not logged {times} times; log:\n{}",
        serve.log()
    );
}

/// The value of the `/metrics` sample starting with `family`.
fn metric(serve: &Serve, family: &str) -> Option<f64> {
    let (status, body) = serve.http_get("/metrics");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .find(|l| l.starts_with(family) && l[family.len()..].starts_with(['{', ' ']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn sighup(serve: &Serve) {
    let pid = serve.child.0.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
}

#[test]
fn sighup_and_reload_apply_new_schemas_to_new_series_and_refuse_a_broken_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), FIRST, "", "", "info");
    let pidfile = dir.path().join("serve.pid");
    let serve = Serve::start_with(
        &config,
        &dir.path().join("data"),
        &[OsStr::new("--pidfile"), pidfile.as_os_str()],
    );
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .expect("pid file written")
        .trim()
        .parse()
        .expect("a pid");
    assert_eq!(pid, serve.child.0.id());

    let old = create_series(&serve, "reload.old");
    assert_eq!(archives(&old), FIRST_ARCHIVES);
    let old_bytes = std::fs::metadata(&old).expect("stat").len();
    assert!(
        !serve.log().contains("DEBUG"),
        "debug lines before the level changed:\n{}",
        serve.log()
    );

    // SIGHUP: new schemas and a finer log level.
    write_config(dir.path(), SECOND, "", "", "info,storage=debug");
    sighup(&serve);
    wait_for_log(&serve, "configuration reloaded", 1);
    let new = create_series(&serve, "reload.new");
    assert_eq!(archives(&new), SECOND_ARCHIVES);
    // the existing file keeps its archives (resize is off by default)
    assert_eq!(archives(&old), FIRST_ARCHIVES);
    assert_eq!(std::fs::metadata(&old).expect("stat").len(), old_bytes);
    // the debug line of the create, which `info` hid before the reload
    assert!(
        wait_until(Duration::from_secs(20), || serve
            .log()
            .lines()
            .any(|l| l.contains("DEBUG") && l.contains("reload.new"))),
        "no debug line after the level changed:\n{}",
        serve.log()
    );

    // A broken file, through `ferrograph reload`: refused with file and
    // line, the running rules kept.
    std::fs::write(dir.path().join("schemas.conf"), BROKEN).expect("write schemas");
    let out = run_ferrograph(&["reload", "--pidfile", pidfile.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&pid.to_string()));
    wait_for_log(&serve, "reload refused", 1);
    let log = serve.log();
    let refusal = log
        .lines()
        .find(|l| l.contains("reload refused"))
        .expect("the refusal line");
    assert!(
        refusal.contains("schemas.conf:3") && refusal.contains("banana"),
        "{refusal}"
    );
    let kept = create_series(&serve, "reload.kept");
    assert_eq!(archives(&kept), SECOND_ARCHIVES);

    // Fixed again, through `ferrograph reload`.
    std::fs::write(dir.path().join("schemas.conf"), FIRST).expect("write schemas");
    let out = run_ferrograph(&["reload", "--pidfile", pidfile.to_str().expect("utf-8")]);
    assert!(out.status.success());
    wait_for_log(&serve, "configuration reloaded", 2);
    let back = create_series(&serve, "reload.back");
    assert_eq!(archives(&back), FIRST_ARCHIVES);

    assert_eq!(metric(&serve, "ferrograph_config_reloads_total"), Some(2.0));
    assert_eq!(
        metric(&serve, "ferrograph_config_reload_errors_total"),
        Some(1.0)
    );
    serve.stop(Duration::from_secs(30));
    assert!(!pidfile.exists(), "the pid file outlived serve");
}

#[test]
fn reload_through_the_admin_console_answers_with_the_outcome() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), FIRST, "", "", "info");
    let serve = Serve::start(&config, &dir.path().join("data"));
    let admin = serve.addrs["statsd_admin"]
        .as_str()
        .expect("the admin console's address")
        .to_string();

    write_config(dir.path(), SECOND, "", "", "info");
    let out = run_ferrograph(&["reload", "--admin", &admin]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("configuration reloaded"), "{stdout}");
    let new = create_series(&serve, "admin.new");
    assert_eq!(archives(&new), SECOND_ARCHIVES);

    // A broken file: refused, and the answer names the file and line.
    write_config(dir.path(), BROKEN, "", "", "info");
    let out = run_ferrograph(&["reload", "--admin", &admin]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("schemas.conf:3"), "{err}");
    assert!(err.contains("running configuration is kept"), "{err}");
    let kept = create_series(&serve, "admin.kept");
    assert_eq!(archives(&kept), SECOND_ARCHIVES);
    assert_eq!(metric(&serve, "ferrograph_config_reloads_total"), Some(1.0));
    assert_eq!(
        metric(&serve, "ferrograph_config_reload_errors_total"),
        Some(1.0)
    );
    serve.stop(Duration::from_secs(30));
}

#[test]
fn reload_without_a_running_serve_says_why() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pidfile = dir.path().join("none.pid");
    let out = run_ferrograph(&["reload", "--pidfile", pidfile.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("none.pid"), "{err}");
}

#[test]
fn reloaded_render_limits_apply_to_the_next_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), FIRST, "max_series_per_request = 10", "", "info");
    let serve = Serve::start(&config, &dir.path().join("data"));
    for name in ["lim.a", "lim.b", "lim.c"] {
        create_series(&serve, name);
    }
    let render = "/render?target=lim.*&from=-10min&format=json";
    let (status, body) = serve.http_get(render);
    assert_eq!(status, 200, "{body}");

    write_config(dir.path(), FIRST, "max_series_per_request = 2", "", "info");
    sighup(&serve);
    wait_for_log(&serve, "configuration reloaded", 1);
    let (status, body) = serve.http_get(render);
    assert_eq!(status, 422, "{body}");

    // a [render] key only a restart applies is named, and keeps its value
    write_config(
        dir.path(),
        FIRST,
        "max_series_per_request = 10\nmax_concurrent_requests = 3",
        "",
        "info",
    );
    sighup(&serve);
    wait_for_log(&serve, "configuration reloaded", 2);
    assert!(serve.log().contains("max_concurrent_requests"));
    let (status, body) = serve.http_get(render);
    assert_eq!(status, 200, "{body}");
    serve.stop(Duration::from_secs(30));
}

/// The sum of `name`'s values over the last 50 minutes (the finest archive of every schema here).
fn sum(serve: &Serve, name: &str) -> f64 {
    serve.render_sum(name, "-50min")
}

/// Schemas giving the test's `rs.*` series `retentions`, everything else
/// one hour at 1 s (unchanged).
fn schemas_for_rs(retentions: &str) -> String {
    format!("[rs]\npattern = ^rs\\.\nretentions = {retentions}\n\n[all]\npattern = .*\nretentions = 1s:1h\n")
}

#[test]
fn resize_on_schema_change_rewrites_existing_files_without_losing_points() {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = "resize_on_schema_change = true\nresize_files_per_second = 50";
    // One archive: whisper-resize copies each old archive, so a coarser
    // one would add its minute averages next to the copied seconds. Only
    // the test's series change schema: the daemon's own statsd.* files,
    // written at its first flush, may exist before the change or not, and
    // must not change the count of files resized.
    let config = write_config(dir.path(), &schemas_for_rs("1s:1h"), "", storage, "info");
    let data = dir.path().join("data");
    let serve = Serve::start(&config, &data);
    let carbon = serve.carbon_plaintext.expect("carbon");
    let t0 = now();
    let names: Vec<String> = (0..20).map(|i| format!("rs.s{i}")).collect();
    // 60 points of 1 each per series, a minute to two minutes ago
    let lines: Vec<String> = names
        .iter()
        .flat_map(|n| (61..=120).map(move |age| format!("{n} 1 {}", t0 - age)))
        .collect();
    send_carbon(carbon, &lines);
    for n in &names {
        assert_eq!(
            serve.wait_for_sum(n, "-50min", 60.0, Duration::from_secs(30)),
            60.0
        );
    }
    let files: Vec<PathBuf> = names
        .iter()
        .map(|n| data.join(n.replace('.', "/")).with_extension("wsp"))
        .collect();
    // the sums above may come from the cache: wait for the files
    assert!(
        wait_until(Duration::from_secs(30), || files.iter().all(|f| f.exists())),
        "files not created; log:\n{}",
        serve.log()
    );
    assert!(files.iter().all(|f| archives(f) == [(1, 3600)]));

    // Finer and longer: every file is resized, while points keep arriving.
    std::fs::write(dir.path().join("schemas.conf"), schemas_for_rs("1s:2h"))
        .expect("write schemas");
    sighup(&serve);
    for age in 1..=60 {
        let lines: Vec<String> = names
            .iter()
            .map(|n| format!("{n} 1 {}", t0 - age))
            .collect();
        send_carbon(carbon, &lines);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        wait_until(Duration::from_secs(30), || {
            files.iter().all(|f| archives(f) == [(1, 7200)])
        }),
        "not every file was resized; log:\n{}",
        serve.log()
    );
    for n in &names {
        let got = serve.wait_for_sum(n, "-50min", 120.0, Duration::from_secs(30));
        assert_eq!(got, 120.0, "{n}: points lost across the resize");
    }
    assert!(
        wait_until(Duration::from_secs(10), || {
            metric(&serve, "ferrograph_files_resized_total") == Some(20.0)
        }),
        "{:?}; log:\n{}",
        metric(&serve, "ferrograph_files_resized_total"),
        serve.log()
    );
    assert_eq!(metric(&serve, "ferrograph_files_resize_pending"), Some(0.0));
    serve.stop(Duration::from_secs(30));

    // At start: a schema changed while stopped is applied to the files.
    std::fs::write(dir.path().join("schemas.conf"), schemas_for_rs("1s:3h"))
        .expect("write schemas");
    let serve = Serve::start(&config, &data);
    assert!(
        wait_until(Duration::from_secs(30), || {
            files.iter().all(|f| archives(f) == [(1, 10800)])
        }),
        "not resized at start; log:\n{}",
        serve.log()
    );
    for n in &names {
        assert_eq!(sum(&serve, n), 120.0, "{n}");
    }
    serve.stop(Duration::from_secs(30));
    // nothing left behind next to the files
    let leftovers: Vec<_> = std::fs::read_dir(data.join("rs"))
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".wsp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
