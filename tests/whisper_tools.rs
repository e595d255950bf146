//! `ferrograph whisper ...` against the classic `whisper-*.py` tools of
//! whisper 1.1.10: the same arguments in two copies of the same directory,
//! the clock pinned to the same second, must print the same output, exit
//! with the same status and leave byte-identical files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::util::{ferrograph, mismatch, ref_python, references_available};

const NOW: i64 = 1_700_003_600;

struct Run {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

fn collect(out: Output) -> Run {
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code(),
    }
}

fn ours(dir: &Path, tool: &str, args: &[&str]) -> Run {
    collect(
        ferrograph()
            .current_dir(dir)
            .env("FERROGRAPH_WHISPER_NOW", NOW.to_string())
            .env("TZ", "UTC")
            .arg("whisper")
            .arg(tool)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    )
}

fn theirs(dir: &Path, script: &str, args: &[&str]) -> Run {
    let wrapper = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/refs/whisper_tool.py");
    collect(
        Command::new(ref_python())
            .current_dir(dir)
            .env("TZ", "UTC")
            .arg(wrapper)
            .arg(NOW.to_string())
            .arg(script)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    )
}

struct Pair {
    a: tempfile::TempDir,
    b: tempfile::TempDir,
    failures: Vec<String>,
}

impl Pair {
    /// Runs the tool on both sides and compares output, status and (for the
    /// listed files) contents.
    fn check(&mut self, tool: &str, script: &str, args: &[&str], files: &[&str]) {
        let mine = ours(self.a.path(), tool, args);
        let real = theirs(self.b.path(), script, args);
        let what = format!("{tool} {}", args.join(" "));
        if mine.stdout != real.stdout {
            self.failures.push(mismatch(
                &format!("{what}: stdout"),
                &real.stdout,
                &mine.stdout,
            ));
        }
        if mine.code != real.code {
            self.failures.push(mismatch(
                &format!("{what}: exit status (stderr)"),
                &format!("{:?} {}", real.code, real.stderr),
                &format!("{:?} {}", mine.code, mine.stderr),
            ));
        }
        if real.stderr.starts_with("[ERROR]") && mine.stderr.trim() != real.stderr.trim() {
            self.failures.push(mismatch(
                &format!("{what}: error"),
                &real.stderr,
                &mine.stderr,
            ));
        }
        for f in files {
            let (x, y) = (
                std::fs::read(self.a.path().join(f)).ok(),
                std::fs::read(self.b.path().join(f)).ok(),
            );
            if x != y {
                self.failures.push(format!(
                    "{what}: {f} differs (ours {:?} bytes, theirs {:?} bytes)",
                    x.map(|v| v.len()),
                    y.map(|v| v.len())
                ));
            }
        }
    }
}

#[test]
fn tools_match_the_classic_whisper_scripts() {
    if !references_available() {
        return;
    }
    let mut p = Pair {
        a: tempfile::tempdir().unwrap(),
        b: tempfile::tempdir().unwrap(),
        failures: Vec::new(),
    };
    // creation
    p.check(
        "create",
        "whisper-create.py",
        &[
            "a.wsp",
            "10s:1h",
            "1m:1d",
            "--xFilesFactor",
            "0.1",
            "--aggregationMethod",
            "sum",
        ],
        &["a.wsp"],
    );
    p.check(
        "create",
        "whisper-create.py",
        &["b.wsp", "10s:1h", "1m:1d"],
        &["b.wsp"],
    );
    p.check(
        "create",
        "whisper-create.py",
        &["c.wsp", "1m:1h", "5m:1d", "--aggregationMethod", "max"],
        &["c.wsp"],
    );
    p.check(
        "create",
        "whisper-create.py",
        &["a.wsp", "10s:1h"],
        &["a.wsp"],
    );
    p.check(
        "create",
        "whisper-create.py",
        &["bad.wsp", "10s:1h", "15s:1d"],
        &[],
    );
    p.check(
        "create",
        "whisper-create.py",
        &["--estimate", "10s:6h,1m:7d,10m:5y"],
        &[],
    );
    p.check(
        "create",
        "whisper-create.py",
        &["--estimate", "60:1440", "5m:30d"],
        &[],
    );
    // updates: one point uses update, several update_many; N: is now
    let mut many: Vec<String> = (0..400)
        .map(|i| format!("{}:{}", NOW - 7200 + i * 17, (i % 13) as f64 * 0.5 - 2.0))
        .collect();
    many.push("N:42".into());
    let many_refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let mut args = vec!["a.wsp"];
    args.extend(&many_refs);
    p.check("update", "whisper-update.py", &args, &["a.wsp"]);
    let mut args = vec!["b.wsp"];
    args.extend(&many_refs);
    p.check("update", "whisper-update.py", &args, &["b.wsp"]);
    let mut args = vec!["c.wsp"];
    args.extend(&many_refs);
    p.check("update", "whisper-update.py", &args, &["c.wsp"]);
    p.check(
        "update",
        "whisper-update.py",
        &["b.wsp", &format!("{}:7.25", NOW - 5)],
        &["b.wsp"],
    );
    p.check(
        "update",
        "whisper-update.py",
        &["b.wsp", &format!("{}:1", NOW - 999_999)],
        &["b.wsp"],
    );
    // reading
    for args in [
        vec!["a.wsp"],
        vec!["a.wsp", "--json"],
        vec!["a.wsp", "xFilesFactor"],
        vec!["a.wsp", "archives"],
        vec!["a.wsp", "nope"],
        vec!["missing.wsp"],
    ] {
        p.check("info", "whisper-info.py", &args, &[]);
    }
    let (f, u) = ((NOW - 3000).to_string(), (NOW - 100).to_string());
    let (f2, u2) = ((NOW - 80_000).to_string(), NOW.to_string());
    for file in ["a.wsp", "b.wsp", "c.wsp"] {
        for extra in [
            vec![],
            vec!["--json"],
            vec!["--drop", "nulls"],
            vec!["--drop", "empty"],
            vec!["--pretty"],
        ] {
            let mut args = vec![file, "--from", &f, "--until", &u];
            args.extend(extra);
            p.check("fetch", "whisper-fetch.py", &args, &[]);
        }
        p.check(
            "fetch",
            "whisper-fetch.py",
            &[file, "--from", &f2, "--until", &u2, "--json"],
            &[],
        );
        p.check("dump", "whisper-dump.py", &[file], &[]);
        p.check("dump", "whisper-dump.py", &[file, "--raw"], &[]);
    }
    p.check("dump", "whisper-dump.py", &["b.wsp", "--pretty"], &[]);
    p.check(
        "fetch",
        "whisper-fetch.py",
        &["b.wsp", "--from", "100", "--until", "200"],
        &[],
    );
    // maintenance
    p.check(
        "set-aggregation",
        "whisper-set-aggregation-method.py",
        &["b.wsp", "max", "0.3"],
        &["b.wsp"],
    );
    p.check(
        "set-aggregation",
        "whisper-set-aggregation-method.py",
        &["b.wsp", "absmin"],
        &["b.wsp"],
    );
    p.check(
        "merge",
        "whisper-merge.py",
        &["a.wsp", "b.wsp"],
        &["a.wsp", "b.wsp"],
    );
    p.check("merge", "whisper-merge.py", &["a.wsp", "c.wsp"], &["c.wsp"]);
    p.check("fill", "whisper-fill.py", &["a.wsp", "c.wsp"], &["c.wsp"]);
    p.check(
        "resize",
        "whisper-resize.py",
        &["a.wsp", "5s:30m", "1m:2d", "--nobackup"],
        &["a.wsp", "a.wsp.bak"],
    );
    p.check(
        "resize",
        "whisper-resize.py",
        &[
            "b.wsp",
            "1m:12h",
            "10m:2d",
            "--aggregate",
            "--aggregationMethod",
            "sum",
        ],
        &["b.wsp", "b.wsp.bak"],
    );
    p.check(
        "resize",
        "whisper-resize.py",
        &[
            "c.wsp",
            "30s:2h",
            "--newfile",
            "c2.wsp",
            "--xFilesFactor",
            "0",
        ],
        &["c.wsp", "c2.wsp"],
    );
    assert!(
        p.failures.is_empty(),
        "{} mismatches:\n{}",
        p.failures.len(),
        p.failures.join("\n")
    );
}
