//! The README's five-minute tour, run verbatim from the README's text, so
//! the tour cannot drift from what the binary does.
//!
//! The tour's commands use the default ports (8125, 8126, 2003, 2004,
//! 8080) as a new user would; the other tests bind port 0, whose ephemeral
//! range does not include them. Only two things are changed before running:
//! `target/release/ferrograph` becomes this test run's binary (`cargo
//! build --release` is skipped, the binary is built), and a `wait` is
//! appended so the test ends when the daemon has stopped.

use std::process::Command;

/// The shell block of the tour that starts, feeds, queries and stops it.
fn tour_block(readme: &str) -> String {
    let section = readme
        .split("## A five-minute tour")
        .nth(1)
        .expect("the README has a tour section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .split("```sh\n")
        .skip(1)
        .filter_map(|block| block.split("\n```").next())
        .find(|block| block.contains(" serve ") && block.contains("kill %1"))
        .expect("a tour block that starts serve and stops it with kill %1")
        .to_string()
}

#[test]
fn the_readme_tour_runs_as_written() {
    if Command::new("curl").arg("--version").output().is_err() {
        panic!("curl is missing: scripts/ci-prerequisites.sh installs it");
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let block = tour_block(&readme);
    let binary = env!("CARGO_BIN_EXE_ferrograph");
    let script: String = block
        .lines()
        .filter(|l| !l.trim_start().starts_with("cargo build"))
        .map(|l| l.replace("target/release/ferrograph", binary))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().expect("temp dir");
    let script = format!("set -e\n{script}\nwait\n");
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the tour failed\nscript:\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // The counter, the timer and the find answer come back.
    assert!(
        stdout.contains("\"target\": \"stats_counts.deploys\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("[1.0, "),
        "the deploy was counted: {stdout}"
    );
    assert!(
        stdout.contains("stats.timers.api.latency.upper_90,"),
        "{stdout}"
    );
    assert!(stdout.contains(",42.0"), "the timer's value: {stdout}");
    assert!(stdout.contains("\"text\": \"timers\""), "{stdout}");
    assert!(stdout.contains("# TYPE ferrograph_"), "{stdout}");
    // The daemon stopped cleanly and the data stayed under ./data.
    assert!(dir.path().join("data/stats_counts/deploys.wsp").exists());
    assert!(dir.path().join("data/servers/web1/load.wsp").exists());
}
