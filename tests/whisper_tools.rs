//! `ferrograph whisper ...` against the classic `whisper-*.py` tools of
//! whisper 1.1.10: the same arguments in two copies of the same directory,
//! the clock pinned to the same second, must print the same output, exit
//! with the same status and leave byte-identical files.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::util::refs::{ref_python, ref_script, references_available};
use crate::util::{ferrograph, mismatch};

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
    let wrapper = ref_script("whisper_tool.py");
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

/// Copies every regular file under `from` to the same place under `to`.
fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `--recursive` runs the classic tool on every `.wsp` under a directory:
/// stdout is the classic scripts' output for each file in path order, every
/// file ends byte-identical to what the real script makes of it, and a
/// corrupt file is reported with its path without stopping the others.
#[test]
fn recursive_tools_process_every_file_like_the_classic_scripts() {
    if !references_available() {
        return;
    }
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    // the same tree twice: "tree" and its twin "other" (merge/fill sources)
    let good = [
        "tree/a.wsp",
        "tree/x/one.wsp",
        "tree/x/y/two.wsp",
        "tree/z/three.wsp",
    ];
    for dir in ["tree/x/y", "tree/z", "other/x/y", "other/z"] {
        std::fs::create_dir_all(a.path().join(dir)).unwrap();
    }
    for (i, f) in good.iter().enumerate() {
        for (root, shift) in [("tree", 0), ("other", 7)] {
            let f = f.replacen("tree", root, 1);
            let r = ours(a.path(), "create", &[&f, "10s:2h", "1m:1d"]);
            assert_eq!(r.code, Some(0), "{}", r.stderr);
            // gaps every third slot, different in the two trees
            let points: Vec<String> = (0..500)
                .filter(|k| (k + i + shift) % 3 != 0)
                .map(|k| format!("{}:{}", NOW - 5_000 + k as i64 * 10, k + shift))
                .collect();
            let mut args = vec![f.as_str()];
            args.extend(points.iter().map(String::as_str));
            let r = ours(a.path(), "update", &args);
            assert_eq!(r.code, Some(0), "{}", r.stderr);
        }
    }
    std::fs::write(a.path().join("tree/x/broken.wsp"), b"not whisper").unwrap();
    std::fs::write(a.path().join("tree/x/notes.txt"), b"not a series").unwrap();
    std::fs::write(a.path().join("tree/.hidden.wsp"), b"a create in progress").unwrap();
    copy_tree(a.path(), b.path());

    let mut failures = Vec::new();
    let mut compare = |what: &str, ours_run: Run, theirs_runs: Vec<Run>, files: &[String]| {
        let expected: String = theirs_runs.iter().map(|r| r.stdout.as_str()).collect();
        if ours_run.stdout != expected {
            failures.push(mismatch(
                &format!("{what}: stdout"),
                &expected,
                &ours_run.stdout,
            ));
        }
        for r in &theirs_runs {
            assert_eq!(r.code, Some(0), "{what}: reference failed: {}", r.stderr);
        }
        for f in files {
            if std::fs::read(a.path().join(f)).ok() != std::fs::read(b.path().join(f)).ok() {
                failures.push(format!("{what}: {f} differs from the real script's"));
            }
        }
        ours_run
    };
    let broken = "tree/x/broken.wsp";
    let expect_broken = |what: &str, r: &Run| {
        assert_eq!(r.code, Some(1), "{what}: exit status with a corrupt file");
        assert!(
            r.stderr
                .lines()
                .any(|l| l.starts_with(&format!("{broken}: "))),
            "{what}: the corrupt file is named on stderr: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("[ERROR] 1 of 5 files failed"),
            "{what}: summary on stderr: {}",
            r.stderr
        );
    };
    let files: Vec<String> = good.iter().map(|f| f.to_string()).collect();
    let mut sorted = files.clone();
    sorted.sort();

    // set-aggregation over the tree
    let r = ours(
        a.path(),
        "set-aggregation",
        &["tree", "max", "0.25", "--recursive"],
    );
    let refs = sorted
        .iter()
        .map(|f| {
            theirs(
                b.path(),
                "whisper-set-aggregation-method.py",
                &[f, "max", "0.25"],
            )
        })
        .collect();
    let r = compare("set-aggregation --recursive", r, refs, &files);
    expect_broken("set-aggregation", &r);

    // merge other/ into tree/ (the files under other/ lead)
    let r = ours(a.path(), "merge", &["other", "tree", "--recursive"]);
    let refs = sorted
        .iter()
        .map(|f| {
            let src = f.replacen("tree", "other", 1);
            theirs(b.path(), "whisper-merge.py", &[&src, f])
        })
        .collect();
    let r = compare("merge --recursive", r, refs, &files);
    assert_eq!(r.code, Some(0), "merge: {}", r.stderr);

    // fill the gaps of other/ from tree/ (the files under other/ lead)
    let r = ours(a.path(), "fill", &["tree", "other", "--recursive"]);
    let others: Vec<String> = sorted
        .iter()
        .map(|f| f.replacen("tree", "other", 1))
        .collect();
    let refs = sorted
        .iter()
        .zip(&others)
        .map(|(src, dst)| theirs(b.path(), "whisper-fill.py", &[src, dst]))
        .collect();
    let r = compare("fill --recursive", r, refs, &others);
    assert_eq!(r.code, Some(0), "fill: {}", r.stderr);

    // resize, last: it changes every good file's layout
    let args = ["1m:2h", "10m:2d", "--aggregate", "--nobackup"];
    let mut mine = vec!["tree", "--recursive"];
    mine.extend(args);
    let r = ours(a.path(), "resize", &mine);
    let refs = sorted
        .iter()
        .map(|f| {
            let mut theirs_args = vec![f.as_str()];
            theirs_args.extend(args);
            theirs(b.path(), "whisper-resize.py", &theirs_args)
        })
        .collect();
    let r = compare("resize --recursive", r, refs, &files);
    expect_broken("resize", &r);

    // the skipped files are untouched
    assert_eq!(
        std::fs::read(a.path().join("tree/x/notes.txt")).unwrap(),
        b"not a series"
    );
    assert_eq!(
        std::fs::read(a.path().join("tree/.hidden.wsp")).unwrap(),
        b"a create in progress"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
