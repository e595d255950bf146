//! The read-only Read handle over a Whisper tree: `find` against graphite-web's
//! own StandardFinder on the same directory, and fetch/tagged lookups over
//! files written by the real `whisper` module.

use std::path::Path;

use storage::whisper::{self, AggregationMethod, Allocation, WhisperFile};
use storage::{FetchRange, Read, ReadLimits, WhisperTree};

use crate::util::mismatch;
use crate::util::refs::{references_available, run_ref_code, run_ref_script};

fn touch(root: &Path, rel: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, b"").unwrap();
}

fn graphite_find(root: &Path, patterns: &[&str]) -> Vec<serde_json::Value> {
    let mut input = patterns.join("\n");
    input.push('\n');
    let stdout = run_ref_script("whisper_find.py", &[root], input.as_bytes());
    String::from_utf8(stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn find_matches_graphite_web() {
    if !references_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for rel in [
        "a/b.wsp",
        "a/b/c.wsp",
        "a/b/d.wsp",
        "a/c/d.wsp",
        "a/c/e/f.wsp",
        "a/.hidden.wsp",
        "a/x1.wsp",
        "a/x2.wsp",
        "a/x10.wsp",
        "a/y-1.wsp",
        "a/notes.txt",
        "b/b/b.wsp",
        "stats/timers/api/upper_90.wsp",
        "stats/timers/api/lower.wsp",
        "stats_counts/api.wsp",
        "c/[x].wsp",
        "c/{y}.wsp",
    ] {
        touch(root, rel);
    }
    std::fs::create_dir_all(root.join("a/empty")).unwrap();
    let patterns = [
        "*",
        "a",
        "a.*",
        "a.b",
        "a.b.*",
        "a.x?",
        "a.x*",
        "a.[xy]*",
        "a.[!x]*",
        "a.{b,c}.d",
        "a.{b,c}",
        "{a,b}.b",
        "*.b.*",
        "a.x{1,10}",
        "a.{x{1,2},y-1}",
        "a.**",
        "**.d",
        "a.**.f",
        "*.*.*",
        "stats.timers.*.upper_*",
        "stats*",
        "a.{b",
        "a.b}",
        "a.x[0-9]",
        "a.x[1-]",
        "a.nothing",
        "nothing.*",
        "a.*.*.*",
        "a.empty",
        "a.e*",
        "c.*",
        "a.[]",
        "a.[!]",
        "{x,a}.b",
    ];
    // Not compared (documented in docs/storage.md): graphite-web treats an
    // empty component ("a.", "{,a}.b") as the directory itself, and echoes
    // backslash-escaped components ("a.\\*") back instead of the names found.
    let expected = graphite_find(root, &patterns);
    let tree = WhisperTree::open(root, ReadLimits::default()).unwrap();
    let mut failures = Vec::new();
    for (pattern, expected) in patterns.iter().zip(expected) {
        let ours = match tree.find(pattern) {
            Ok(nodes) => serde_json::json!(nodes
                .iter()
                .map(|n| serde_json::json!([n.path, n.is_leaf]))
                .collect::<Vec<_>>()),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        };
        if ours != expected {
            failures.push(mismatch(
                &format!("find {pattern:?}"),
                &expected.to_string(),
                &ours.to_string(),
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn python_create(root: &Path, rel: &str, points: &[(i64, f64)], now: i64) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let p = path.to_str().unwrap();
    let code = format!(
        "import whisper\nwhisper.create({p:?}, [(10, 60), (60, 60)], xFilesFactor=0.5, aggregationMethod='sum')\nwhisper.update_many({p:?}, {points:?}, now={now})\n"
    );
    run_ref_code(&code);
}

#[test]
fn fetch_and_tags_over_a_tree_written_by_whisper() {
    if !references_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let now = 1_700_000_000;
    let points: Vec<(i64, f64)> = (0..30).map(|i| (now - 300 + i * 10, i as f64)).collect();
    python_create(root, "servers/web1/cpu.wsp", &points, now);
    // tagged series, in both file-name forms carbon may use
    let hashed = "disk.used;host=web1;dc=eu";
    let dotted = "disk.free;host=web2";
    // carbon canonicalises before choosing the file
    let file_of = |name: &str, hash: bool| {
        let canonical = storage::api::canonicalize(name);
        storage::api::relative_file_path(&canonical, hash)
            .to_str()
            .unwrap()
            .to_string()
    };
    python_create(root, &file_of(hashed, true), &points, now);
    python_create(root, &file_of(dotted, false), &points, now);

    let tree = WhisperTree::open(root, ReadLimits::default()).unwrap();
    let range = FetchRange {
        from: now - 120,
        until: now,
        now,
    };
    let s = tree
        .fetch("servers.web1.cpu", range)
        .unwrap()
        .expect("series");
    assert_eq!((s.start, s.step, s.values.len()), (now - 110, 10, 12));
    assert_eq!(s.values[0], Some(19.0));
    assert_eq!(s.values[10], Some(29.0));
    assert_eq!(s.values[11], None);
    assert!(tree.fetch("servers.web1.nothing", range).unwrap().is_none());
    let bad = FetchRange {
        from: now,
        until: now - 10,
        now,
    };
    assert!(matches!(
        tree.fetch("servers.web1.cpu", bad),
        Err(storage::ReadError::BadRequest(_))
    ));

    // non-canonical tag order finds the canonical series in either form
    for name in ["disk.used;host=web1;dc=eu", "disk.free;host=web2"] {
        let nodes = tree.find(name).unwrap();
        assert_eq!(nodes.len(), 1, "{name}");
        assert!(tree.fetch(name, range).unwrap().is_some(), "{name}");
    }
    // the _DOT_ form is decodable, so it is indexed at open; the hash form
    // becomes visible once announced (carbon's /tags/tagMultiSeries)
    let host = |v: &str| vec![storage::TagExpr::parse(&format!("host={v}")).unwrap()];
    assert_eq!(
        tree.find_tagged(&host("web2")).unwrap(),
        vec!["disk.free;host=web2"]
    );
    assert!(tree.find_tagged(&host("web1")).unwrap().is_empty());
    assert_eq!(
        tree.tag_series(hashed).unwrap(),
        "disk.used;dc=eu;host=web1"
    );
    assert_eq!(
        tree.find_tagged(&host("web1")).unwrap(),
        vec!["disk.used;dc=eu;host=web1"]
    );
    assert_eq!(
        tree.tag_values("host").unwrap(),
        vec![("web1".into(), 1), ("web2".into(), 1)]
    );
    assert!(tree.del_series(hashed).unwrap());
}

#[test]
fn corrupt_files_name_file_offset_expected_and_found() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let good = root.join("m/good.wsp");
    std::fs::create_dir_all(good.parent().unwrap()).unwrap();
    whisper::create(
        &good,
        &[(10, 60)],
        0.5,
        AggregationMethod::Average,
        Allocation::Sparse,
    )
    .unwrap();
    WhisperFile::open_rw(&good)
        .unwrap()
        .update_many(&[(1000, 1.0)], 1005)
        .unwrap();
    // a truncated copy
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(root.join("m/short.wsp"), &bytes[..bytes.len() - 5]).unwrap();
    std::fs::write(root.join("m/tiny.wsp"), &bytes[..7]).unwrap();
    let tree = WhisperTree::open(root, ReadLimits::default()).unwrap();
    let range = FetchRange {
        from: 900,
        until: 1005,
        now: 1005,
    };
    for (name, offset) in [("m.short", "byte offset 16"), ("m.tiny", "byte offset 4")] {
        let err = tree.fetch(name, range).unwrap_err().to_string();
        assert!(
            err.contains("short.wsp") || err.contains("tiny.wsp"),
            "{err}"
        );
        assert!(
            err.contains(offset) && err.contains("expected") && err.contains("found"),
            "{err}"
        );
    }
    // the neighbour is unaffected
    assert!(tree
        .fetch("m.good", range)
        .unwrap()
        .unwrap()
        .values
        .contains(&Some(1.0)));
}
