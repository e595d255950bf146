//! Differential tests against the real Python `whisper` module: the same
//! create/update/update_many sequences must give byte-identical files, and
//! each side must read the other's files identically (fetch and info), for
//! every aggregation method, 1/2/5-archive layouts, xFilesFactor edge cases,
//! random update orders and random from/until ranges. All cases run through
//! one Python process (tests/refs/whisper_interop.py).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use storage::whisper::{self, AggregationMethod, Allocation, WhisperError, WhisperFile};

use crate::util::mismatch;
use crate::util::refs::{references_available, run_ref_script};

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn value(&mut self) -> f64 {
        match self.below(40) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => -0.0,
            3 => 0.0,
            4..=20 => self.range(-50, 50) as f64,
            _ => (self.next() as i64 as f64) / 1e15,
        }
    }
}

fn hex(v: f64) -> String {
    v.to_be_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(h: &str) -> f64 {
    let bytes: Vec<u8> = (0..8)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    f64::from_be_bytes(bytes.try_into().unwrap())
}

enum Op {
    Many(Vec<(i64, f64)>, i64),
    One(i64, f64, i64),
}

struct Case {
    name: String,
    archives: Vec<(u32, u32)>,
    xff: f64,
    method: AggregationMethod,
    ops: Vec<Op>,
    fetches: Vec<(i64, i64, i64)>,
}

const LAYOUTS: &[&[(u32, u32)]] = &[
    &[(10, 60)],
    &[(10, 30), (60, 20)],
    &[(1, 20), (2, 30), (6, 30), (30, 20), (120, 10)],
    // a window exactly as large as the finer archive
    &[(5, 12), (60, 10)],
];
const XFFS: &[f64] = &[0.0, 0.1, 0.5, 1.0, 1.0 / 3.0];

fn make_cases(rng: &mut Rng) -> Vec<Case> {
    let mut cases = Vec::new();
    for (li, layout) in LAYOUTS.iter().enumerate() {
        let max_ret = layout.iter().map(|a| i64::from(a.0 * a.1)).max().unwrap();
        for method in AggregationMethod::ALL {
            for (xi, &xff) in XFFS.iter().enumerate() {
                let mut now = 1_700_000_000 + rng.range(0, 10_000);
                let mut ops = Vec::new();
                for _ in 0..rng.range(3, 12) {
                    now += rng.range(-5, max_ret / 3);
                    if rng.chance(25) {
                        let ts = now - rng.range(-3, max_ret + 3);
                        ops.push(Op::One(ts, rng.value(), now));
                    } else {
                        let n = rng.range(1, 40);
                        // a dense run, shuffled, with strays, duplicates, future and too old points
                        let start = now - rng.range(0, max_ret + max_ret / 4);
                        let mut points: Vec<(i64, f64)> = (0..n)
                            .map(|i| {
                                let t = if rng.chance(15) {
                                    now - rng.range(-20, max_ret + 20)
                                } else {
                                    start + i * rng.range(1, 7)
                                };
                                (t, rng.value())
                            })
                            .collect();
                        if rng.chance(30) && !points.is_empty() {
                            let dup = points[rng.below(points.len() as u64) as usize];
                            points.push((dup.0, rng.value()));
                        }
                        for i in (1..points.len()).rev() {
                            let j = rng.below(i as u64 + 1) as usize;
                            points.swap(i, j);
                        }
                        ops.push(Op::Many(points, now));
                    }
                }
                let fetches = (0..8)
                    .map(|_| {
                        let n = now + rng.range(-20, 20);
                        let from = n - rng.range(-10, max_ret + 50);
                        let until = if rng.chance(20) {
                            from
                        } else {
                            from + rng.range(-5, max_ret)
                        };
                        (from, until, n)
                    })
                    .collect();
                cases.push(Case {
                    name: format!("l{li}_{}_x{xi}", method.name()),
                    archives: layout.to_vec(),
                    xff,
                    method,
                    ops,
                    fetches,
                });
            }
        }
    }
    cases
}

fn error_name(e: &WhisperError) -> String {
    match e {
        WhisperError::TimestampNotCovered { .. } => "TimestampNotCovered".into(),
        WhisperError::InvalidTimeInterval { .. } => "InvalidTimeInterval".into(),
        other => format!("{other:?}"),
    }
}

fn our_fetch(path: &Path, from: i64, until: i64, now: i64) -> Value {
    let file = WhisperFile::open(path).expect("open");
    match file.fetch(from, until, now, None) {
        Err(e) => json!({ "error": error_name(&e) }),
        Ok(None) => Value::Null,
        Ok(Some(f)) => json!({
            "start": f.start, "end": f.end, "step": f.step,
            "values": f.values.iter().map(|v| v.map(hex)).collect::<Vec<_>>(),
        }),
    }
}

fn our_info(path: &Path) -> Value {
    let h = whisper::info(path).expect("info");
    json!({
        "aggregationMethod": h.aggregation.name(),
        "maxRetention": h.max_retention,
        "xFilesFactor": h.x_files_factor.to_be_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "archives": h.archives.iter().map(|a| json!([a.offset, a.seconds_per_point, a.points])).collect::<Vec<_>>(),
    })
}

/// Runs the Python driver on `spec` and returns its answer.
fn run_driver(spec: &Value) -> Value {
    let no_args: [&str; 0] = [];
    let stdout = run_ref_script("whisper_interop.py", &no_args, spec.to_string().as_bytes());
    serde_json::from_slice(&stdout).expect("driver output is JSON")
}

#[test]
fn whisper_files_match_the_reference_module() {
    if !references_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let cases = make_cases(&mut rng);
    let mut spec_cases = Vec::new();
    let mut our_errors = Vec::new();
    for case in &cases {
        let rust_file = dir.path().join(format!("{}.rust.wsp", case.name));
        whisper::create(
            &rust_file,
            &case.archives,
            case.xff,
            case.method,
            Allocation::Zeroed,
        )
        .unwrap();
        let mut file = WhisperFile::open_rw(&rust_file).unwrap();
        let mut errors = Vec::new();
        let mut ops = Vec::new();
        for op in &case.ops {
            match op {
                Op::Many(points, now) => {
                    errors.push(file.update_many(points, *now).err().map(|e| error_name(&e)));
                    ops.push(json!({"op": "update_many", "now": now,
                        "points": points.iter().map(|(t, v)| json!([t, hex(*v)])).collect::<Vec<_>>()}));
                }
                Op::One(ts, v, now) => {
                    errors.push(file.update(*v, *ts, *now).err().map(|e| error_name(&e)));
                    ops.push(json!({"op": "update", "ts": ts, "value": hex(*v), "now": now}));
                }
            }
        }
        drop(file);
        our_errors.push(errors);
        spec_cases.push(json!({
            "name": case.name, "archives": case.archives, "xff": case.xff,
            "method": case.method.name(), "ops": ops, "fetches": case.fetches,
            "rust_file": rust_file,
        }));
    }
    let sets: Vec<Vec<u32>> = (0..50)
        .map(|_| {
            let n = rng.range(1, 300) as usize;
            let base = 1_700_000_000 + rng.range(0, 1_000_000) as u32;
            let step = [1u32, 6, 60, 300, 3600][rng.below(5) as usize];
            (0..n)
                .map(|_| base + step * rng.below(400) as u32)
                .collect()
        })
        .collect();
    let tagged = [
        "some.metric;tag1=value2;tag2=value.2",
        "cpu.load;host=a;dc=eu",
        "m;b=1;a=2;a.b=3",
        "x.y;z=~a",
    ];
    let spec = json!({"dir": dir.path(), "cases": spec_cases, "sets": sets, "tagged": tagged});
    let answer = run_driver(&spec);

    let mut failures = Vec::new();
    for ((case, result), ours) in cases
        .iter()
        .zip(answer["cases"].as_array().unwrap())
        .zip(&our_errors)
    {
        let py_file = PathBuf::from(result["py_file"].as_str().unwrap());
        let rust_file = dir.path().join(format!("{}.rust.wsp", case.name));
        let theirs: Vec<Option<String>> = serde_json::from_value(result["errors"].clone()).unwrap();
        if &theirs != ours {
            failures.push(mismatch(
                &format!("{}: per-op errors", case.name),
                &format!("{theirs:?}"),
                &format!("{ours:?}"),
            ));
        }
        let (py_bytes, rust_bytes) = (
            std::fs::read(&py_file).unwrap(),
            std::fs::read(&rust_file).unwrap(),
        );
        if py_bytes != rust_bytes {
            let first = py_bytes.iter().zip(&rust_bytes).position(|(a, b)| a != b);
            failures.push(format!(
                "{}: files differ (first differing byte {first:?})",
                case.name
            ));
        }
        if result["info_py"] != our_info(&py_file) || result["info_rust"] != result["info_py"] {
            failures.push(mismatch(
                &format!("{}: info", case.name),
                &result["info_py"].to_string(),
                &our_info(&py_file).to_string(),
            ));
        }
        for (i, &(from, until, now)) in case.fetches.iter().enumerate() {
            let expected = &result["fetch_py"][i];
            let ours_on_py = our_fetch(&py_file, from, until, now);
            let py_on_ours = &result["fetch_py_on_rust"][i];
            if &ours_on_py != expected || py_on_ours != expected {
                failures.push(mismatch(
                    &format!("{}: fetch({from}, {until}, now={now})", case.name),
                    &expected.to_string(),
                    &format!("ours on python's file: {ours_on_py}\npython on ours: {py_on_ours}"),
                ));
            }
        }
    }
    for (set, theirs) in sets.iter().zip(answer["sets"].as_array().unwrap()) {
        let theirs: Vec<u32> = serde_json::from_value(theirs.clone()).unwrap();
        let ours = whisper::pyset::set_iteration_order(set);
        if ours != theirs {
            failures.push(mismatch(
                "set iteration order",
                &format!("{theirs:?}"),
                &format!("{ours:?}"),
            ));
        }
    }
    let tagged_answers = answer["tagged"].as_array().unwrap();
    assert_eq!(
        tagged_answers.len(),
        tagged.len(),
        "graphite-web's TaggedSeries is importable"
    );
    for (name, t) in tagged.iter().zip(tagged_answers) {
        let canonical = storage::api::canonicalize(name);
        let hash = storage::api::relative_file_path(&canonical, true);
        let dot = storage::api::relative_file_path(&canonical, false);
        let expected = (
            t[0].as_str().unwrap(),
            format!("{}.wsp", t[1].as_str().unwrap()),
            format!("{}.wsp", t[2].as_str().unwrap()),
        );
        let actual = (
            canonical.as_str(),
            hash.to_string_lossy().into_owned(),
            dot.to_string_lossy().into_owned(),
        );
        if expected.0 != actual.0 || expected.1 != actual.1 || expected.2 != actual.2 {
            failures.push(mismatch(
                "tagged layout",
                &format!("{expected:?}"),
                &format!("{actual:?}"),
            ));
        }
    }
    // spot check that NaN values really travelled
    assert!(unhex(&hex(f64::NAN)).is_nan());
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
