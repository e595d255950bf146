//! `[carbon] aggregation_rules` and `rewrite_rules`: carbon-format files
//! applied to everything entering storage, end to end through `serve`
//! (carbon plaintext in, `/render` out), and the rules engine against
//! carbon 1.1.10's own aggregator code on the same files and inputs.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use storage::rules::{replay, IngestRules};
use storage::MetricPoint;

use crate::util::refs::{references_available, run_ref_script};
use crate::util::run_ferrograph;
use crate::util::serve::{write_config, Serve};

const WAIT: Duration = Duration::from_secs(20);

const AGGREGATION_RULES: &str = "\
# carbon aggregation-rules.conf
aggsum.requests (10) = sum agg.*.requests
aggmax.<dc>.latency (10) = max agg.<dc>.*.latency
this line is not a rule
daily.requests (86400) = sum agg.*.requests
";

const REWRITE_RULES: &str = "\
[pre]
^legacy\\.(.*) = modern.\\1
";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// The config of [`write_config`] with the two rules files in `[carbon]`.
fn config_with_rules(dir: &Path) -> std::path::PathBuf {
    std::fs::write(dir.join("aggregation-rules.conf"), AGGREGATION_RULES).expect("write rules");
    std::fs::write(dir.join("rewrite-rules.conf"), REWRITE_RULES).expect("write rules");
    let config = write_config(dir, "", "");
    // the daily output lives longer than the test schemas' first archive
    let schemas = dir.join("schemas.conf");
    let text = std::fs::read_to_string(&schemas).expect("read schemas");
    std::fs::write(
        &schemas,
        format!("[daily]\npattern = ^daily\\.\nretentions = 10s:2d\n{text}"),
    )
    .expect("write schemas");
    let text = std::fs::read_to_string(&config).expect("read config").replacen(
        "[carbon]\n",
        "[carbon]\naggregation_rules = \"aggregation-rules.conf\"\nrewrite_rules = \"rewrite-rules.conf\"\n",
        1,
    );
    std::fs::write(&config, text).expect("write config");
    config
}

/// `(timestamp, value)` of every non-null point `target` renders.
fn points(serve: &Serve, target: &str, from: &str) -> Vec<(i64, f64)> {
    let v = serve.render(target, from);
    v.get(0)
        .and_then(|s| s["datapoints"].as_array())
        .map(|d| {
            d.iter()
                .filter_map(|p| Some((p[1].as_i64()?, p[0].as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn wait_for_points(serve: &Serve, target: &str, want: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut got = Vec::new();
    crate::util::wait_until(WAIT, || {
        got = points(serve, target, "-10min");
        got == want
    });
    got
}

#[test]
fn aggregation_and_rewrite_rules_through_serve() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config_with_rules(dir.path());

    // check-config names the bad line; serve skips it and applies the rest.
    let out = run_ferrograph(&["check-config", config.to_str().expect("utf-8 path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "check-config accepted a bad rule line"
    );
    assert!(
        stderr.contains("aggregation-rules.conf:4: ") && stderr.contains("this line is not a rule"),
        "check-config does not name the bad line: {stderr}"
    );

    let serve = Serve::start(&config, &dir.path().join("data"));
    assert!(
        serve.log().contains("aggregation-rules.conf:4: "),
        "serve does not log the bad line: {}",
        serve.log()
    );
    // Two closed buckets well within MAX_AGGREGATION_INTERVALS.
    let t0 = now() - now() % 10 - 20;
    let mut tcp = TcpStream::connect(serve.carbon_plaintext.expect("plaintext")).expect("connect");
    let lines = [
        ("agg.h1.requests", 3.0, t0 + 1),
        ("agg.h2.requests", 4.0, t0 + 5),
        ("agg.h1.requests", 5.0, t0 + 12),
        ("agg.eu.h1.latency", 10.0, t0 + 2),
        ("agg.eu.h2.latency", 30.0, t0 + 3),
        ("agg.us.h1.latency", 7.0, t0 + 4),
        ("agg.eu.h1.latency", 12.0, t0 + 11),
        ("legacy.app.hits", 9.0, t0),
    ];
    for (name, value, ts) in lines {
        writeln!(tcp, "{name} {value} {ts}").expect("send");
    }
    drop(tcp);

    assert_eq!(
        wait_for_points(&serve, "aggsum.requests", &[(t0, 7.0), (t0 + 10, 5.0)]),
        vec![(t0, 7.0), (t0 + 10, 5.0)],
        "per-bucket sums at the buckets' starts"
    );
    assert_eq!(
        wait_for_points(&serve, "aggmax.eu.latency", &[(t0, 30.0), (t0 + 10, 12.0)]),
        vec![(t0, 30.0), (t0 + 10, 12.0)]
    );
    assert_eq!(
        wait_for_points(&serve, "aggmax.us.latency", &[(t0, 7.0)]),
        vec![(t0, 7.0)]
    );
    // inputs are stored too
    assert_eq!(
        wait_for_points(&serve, "agg.h1.requests", &[(t0 + 1, 3.0), (t0 + 12, 5.0)]),
        vec![(t0 + 1, 3.0), (t0 + 12, 5.0)]
    );
    // [pre] rewrite: stored under the new name only
    assert_eq!(
        wait_for_points(&serve, "modern.app.hits", &[(t0, 9.0)]),
        vec![(t0, 9.0)]
    );
    assert!(points(&serve, "legacy.app.hits", "-10min").is_empty());
    // the daily bucket is still open (unless the day just turned): it is
    // emitted at SIGTERM, with what it holds
    if (now() - now() % 86_400) == (t0 - t0 % 86_400) {
        assert!(points(&serve, "daily.requests", "-2d").is_empty());
    }
    serve.stop(WAIT);

    let serve = Serve::start(&config, &dir.path().join("data"));
    let daily: f64 = points(&serve, "daily.requests", "-2d")
        .iter()
        .map(|p| p.1)
        .sum();
    assert_eq!(daily, 12.0, "open buckets are emitted at shutdown");
    serve.stop(WAIT);
}

#[test]
fn keep_inputs_false_drops_the_inputs_of_rules_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config_with_rules(dir.path());
    std::fs::write(
        dir.path().join("aggregation-rules.conf"),
        "aggsum.requests (10) = sum agg.*.requests\n",
    )
    .expect("write rules");
    let text = std::fs::read_to_string(&config).expect("read").replacen(
        "[carbon]\n",
        "[carbon]\naggregation_keep_inputs = false\n",
        1,
    );
    std::fs::write(&config, text).expect("write config");
    let serve = Serve::start(&config, &dir.path().join("data"));
    let t0 = now() - now() % 10 - 20;
    let mut tcp = TcpStream::connect(serve.carbon_plaintext.expect("plaintext")).expect("connect");
    write!(
        tcp,
        "agg.h1.requests 3 {t0}\nagg.h2.requests 4 {t0}\nunrelated.metric 1 {t0}\n"
    )
    .expect("send");
    drop(tcp);
    assert_eq!(
        wait_for_points(&serve, "aggsum.requests", &[(t0, 7.0)]),
        vec![(t0, 7.0)]
    );
    assert_eq!(
        wait_for_points(&serve, "unrelated.metric", &[(t0, 1.0)]),
        vec![(t0, 1.0)]
    );
    assert!(points(&serve, "agg.*.requests", "-10min").is_empty());
    serve.stop(WAIT);
}

/// A small deterministic generator (numerical recipes' LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const DIFF_AGGREGATION_RULES: &str = "\
# every method, captures, globs, two rules with one output
aggsum.requests (10) = sum agg.*.requests
aggmax.<dc>.latency (10) = max agg.<dc>.*.latency
all.<rest>.p90 (10) = p90 lat.<<rest>>
cnt.<app> (60) = count app.<app>.*
avg.<app> (60) = avg app.<app>.*
avg.<app> (10) = min app.<app>.x
this line is bad
x (10) = median a.*
min.x (10) = min app.*.x
p.<a> (10) = p50 pc.<a>.*
p.<a>.hi (30) = p999 pc.<a>.*
p.<a>.q (7) = p75 pc.<a>.*
g.* (10) = avg pc.q*.r
";

const DIFF_REWRITE_RULES: &str = "\
[pre]
^legacy\\.(.*) = agg.\\1
[post]
^agg\\.(.*)\\.requests$ = stored.\\1.req
";

#[test]
fn rules_engine_matches_carbon_aggregator() {
    if !references_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let agg = dir.path().join("aggregation-rules.conf");
    let rw = dir.path().join("rewrite-rules.conf");
    std::fs::write(&agg, DIFF_AGGREGATION_RULES).expect("write");
    std::fs::write(&rw, DIFF_REWRITE_RULES).expect("write");

    let names = [
        "agg.h1.requests",
        "agg.h2.requests",
        "legacy.h3.requests",
        "agg.eu.h1.latency",
        "agg.us.h2.latency",
        "lat.a.b.c",
        "lat.x",
        "app.web.x",
        "app.web.y",
        "app.db.x",
        "pc.q.r",
        "pc.q.s",
        "pc.qq.r",
        "other.metric",
        "aggsum.requests",
    ];
    let delays = [0, 0, 0, 1, 5, 12, 25, 40, 70, 120];
    let mut rng = Lcg(17);
    let base = 1_700_000_003;
    let mut steps: Vec<(i64, Vec<MetricPoint>)> = Vec::new();
    let mut now = base;
    while now < base + 300 {
        let n = 3 + rng.next(6);
        let points = (0..n)
            .map(|_| {
                let name = names[rng.next(names.len() as u64) as usize];
                let ts = now - delays[rng.next(delays.len() as u64) as usize];
                let value = rng.next(1000) as f64 * 0.1 - 20.0;
                MetricPoint::new(name, ts, value)
            })
            .collect();
        steps.push((now, points));
        now += 1 + rng.next(5) as i64;
    }
    steps.push((base + 500, Vec::new()));

    let spec = json!({
        "aggregation_rules": agg,
        "rewrite_rules": rw,
        "max_intervals": 5,
        "forward_all": true,
        "steps": steps.iter().map(|(now, points)| json!({
            "now": now,
            "points": points.iter().map(|p| json!([p.name, p.timestamp, p.value])).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let carbon: Value = serde_json::from_slice(&run_ref_script(
        "carbon_aggregator.py",
        &[] as &[&str],
        spec.to_string().as_bytes(),
    ))
    .expect("carbon's JSON");

    let rules = IngestRules::load(Some(&agg), Some(&rw)).expect("rules load");
    let ours_bad: Vec<u64> = rules.problems.iter().map(|p| p.line as u64).collect();
    let carbon_bad: Vec<u64> = carbon["bad_lines"]
        .as_array()
        .expect("bad_lines")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(ours_bad, carbon_bad, "lines refused: {:?}", rules.problems);
    let ours = replay(rules, &steps);

    let triples = |v: &Value| -> Vec<(String, i64, f64)> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|p| {
                (
                    p[0].as_str().expect("name").to_string(),
                    p[1].as_f64().expect("ts") as i64,
                    p[2].as_str()
                        .and_then(|v| v.parse::<f64>().ok())
                        .expect("value as Python's repr"),
                )
            })
            .collect()
    };
    let as_triples = |points: &[MetricPoint]| -> Vec<(String, i64, f64)> {
        points
            .iter()
            .map(|p| (p.name.clone(), p.timestamp, p.value))
            .collect()
    };
    let forwarded = triples(&carbon["forwarded"]);
    assert!(forwarded.len() > 100, "too few inputs forwarded to compare");
    let ours_forwarded = as_triples(&ours.forwarded);
    for (i, (a, b)) in ours_forwarded.iter().zip(&forwarded).enumerate() {
        assert_eq!(a, b, "forwarded input {i}: ours vs carbon");
    }
    assert_eq!(ours_forwarded.len(), forwarded.len(), "forwarded inputs");

    // What storage ends up holding: the last value emitted per series and
    // bucket (carbon also emits open buckets, which later emissions of the
    // same bucket overwrite).
    let last = |points: Vec<(String, i64, f64)>| -> BTreeMap<(String, i64), f64> {
        points.into_iter().map(|(n, t, v)| ((n, t), v)).collect()
    };
    let theirs = last(triples(&carbon["generated"]));
    let mine = last(as_triples(&ours.generated));
    assert!(theirs.len() > 50, "too few aggregates to compare");
    for name in [
        "aggsum.requests",
        "aggmax.eu.latency",
        "all.a.b.c.p90",
        "cnt.web",
        "avg.web",
        "min.x",
        "p.q",
        "p.q.hi",
        "p.q.q",
        "g.*",
    ] {
        assert!(
            theirs.keys().any(|(n, _)| n == name),
            "scenario never produced {name}"
        );
    }
    for (key, value) in &theirs {
        match mine.get(key) {
            Some(v) => assert_eq!(
                v.to_bits(),
                value.to_bits(),
                "{key:?}: ours {v}, carbon {value}"
            ),
            None => panic!("{key:?}: carbon emitted {value}, we did not"),
        }
    }
    assert_eq!(
        mine.len(),
        theirs.len(),
        "we emitted series/buckets carbon did not"
    );
}
