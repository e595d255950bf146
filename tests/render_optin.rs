//! The `[render]` opt-ins beyond graphite-web (`consolidation_from_storage`,
//! `stitch_archives`): with both off, answers equal graphite-web 1.1.10's
//! (checked against it in the same test); with one on, exactly the values
//! it is meant to change change, computed here from answers that were
//! themselves checked against graphite-web.

use render_api::http::{Method, Params};
use render_api::{router, Api, RenderConfig};
use serde_json::Value;
use storage::whisper::{self, AggregationMethod, Allocation, WhisperFile};

use crate::util::refs::references_available;
use crate::util::render::{fixture, render_case, run_cases, Fixture, NOW};

type Points = Vec<(Option<f64>, i64)>;

fn api_with(fx: &Fixture, consolidation_from_storage: bool, stitch_archives: bool) -> Api {
    let read = storage::open_read_only(fx.dir.path(), Default::default()).expect("open");
    let settings = RenderConfig {
        consolidation_from_storage,
        stitch_archives,
        ..RenderConfig::default()
    }
    .validate()
    .expect("settings");
    router(read, settings)
}

/// `/render` JSON through `api`: (target, datapoints) per series.
fn render(api: &Api, params: &[(&str, &str)]) -> Vec<(String, Points)> {
    let mut all: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.push(("now".into(), NOW.to_string()));
    all.push(("format".into(), "json".into()));
    let reply = api.handle_blocking(&Method::GET, "/render", &Params::from_pairs(all), None);
    assert_eq!(
        reply.status,
        200,
        "{params:?}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    let json: Value = serde_json::from_slice(&reply.body).expect("json");
    json.as_array()
        .expect("list")
        .iter()
        .map(|s| {
            let points = s["datapoints"]
                .as_array()
                .expect("datapoints")
                .iter()
                .map(|p| (p[0].as_f64(), p[1].as_i64().expect("timestamp")))
                .collect();
            (s["target"].as_str().expect("target").to_string(), points)
        })
        .collect()
}

fn points(api: &Api, params: &[(&str, &str)]) -> Points {
    let mut out = render(api, params);
    assert_eq!(out.len(), 1, "{params:?}");
    out.remove(0).1
}

#[test]
fn consolidation_from_storage_uses_the_files_method() {
    if !references_available() {
        return;
    }
    let fx = fixture();
    let cases_params: Vec<Vec<(&str, &str)>> = [
        ("counters.wrap", "7"),
        ("counters.wrap", "50"),
        ("consolidateBy(counters.wrap,'sum')", "7"),
        ("consolidateBy(counters.wrap,'sum')", "50"),
        ("consolidateBy(counters.wrap,'max')", "7"),
        ("a.b", "7"),
    ]
    .iter()
    .map(|(t, m)| vec![("target", *t), ("from", "-1h"), ("maxDataPoints", *m)])
    .chain([
        vec![
            ("target", "sumSeries(counters.wrap,steps.s60)"),
            ("from", "-1h"),
        ],
        vec![
            (
                "target",
                "sumSeries(consolidateBy(counters.wrap,'sum'),steps.s60)",
            ),
            ("from", "-1h"),
        ],
    ])
    .collect();
    // The default stays graphite-web's.
    let cases: Vec<_> = cases_params.iter().map(|p| render_case(p)).collect();
    run_cases(&fx, "UTC", &cases);

    let opt = api_with(&fx, true, false);
    let def = &fx.api;
    let q =
        |t: &'static str, m: &'static str| [("target", t), ("from", "-1h"), ("maxDataPoints", m)];
    for m in ["7", "50"] {
        // counters.wrap is stored with `sum`: consolidated as consolidateBy('sum') would.
        let want = points(def, &q("consolidateBy(counters.wrap,'sum')", m));
        assert_ne!(
            want,
            points(def, &q("counters.wrap", m)),
            "the case must discriminate"
        );
        assert_eq!(
            points(&opt, &q("counters.wrap", m)),
            want,
            "maxDataPoints={m}"
        );
        assert_eq!(render(&opt, &q("counters.wrap", m))[0].0, "counters.wrap");
    }
    // An explicit consolidateBy still wins; `average` files are unchanged.
    for t in ["consolidateBy(counters.wrap,'max')", "a.b"] {
        assert_eq!(points(&opt, &q(t, "7")), points(def, &q(t, "7")), "{t}");
    }
    // LCM normalisation of mixed steps consolidates with the storage method too.
    let mixed = [
        ("target", "sumSeries(counters.wrap,steps.s60)"),
        ("from", "-1h"),
    ];
    let explicit = [
        (
            "target",
            "sumSeries(consolidateBy(counters.wrap,'sum'),steps.s60)",
        ),
        ("from", "-1h"),
    ];
    assert_eq!(points(&opt, &mixed), points(def, &explicit));
    assert_ne!(points(def, &mixed), points(def, &explicit));
    // Without consolidation nothing changes.
    let plain = [("target", "counters.wrap"), ("from", "-1h")];
    assert_eq!(points(&opt, &plain), points(def, &plain));
}

/// whisper's roll-up of one window for the methods used here.
fn rollup(method: &str, xff: f64, window: &[Option<f64>]) -> Option<f64> {
    let known: Vec<f64> = window.iter().flatten().copied().collect();
    if known.is_empty() || (known.len() as f64 / window.len() as f64) < xff {
        return None;
    }
    let sum = known.iter().fold(0.0, |a, v| a + v);
    Some(match method {
        "sum" => sum,
        _ => sum / known.len() as f64,
    })
}

#[test]
fn stitch_archives_fills_coarse_buckets_from_finer_archives() {
    if !references_available() {
        return;
    }
    let fx = fixture();
    // A file whose coarse archive lags: xFilesFactor 1 keeps the current,
    // partly elapsed minute out of the 1-minute archive.
    let path = fx.dir.path().join("stitch/late.wsp");
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    whisper::create(
        &path,
        &[(10, 360), (60, 1440)],
        1.0,
        AggregationMethod::Average,
        Allocation::Sparse,
    )
    .expect("create");
    let first = NOW - 3590;
    let pts: Vec<(i64, f64)> = (0..360)
        .map(|i| (first + i * 10, (i % 13) as f64))
        .collect();
    WhisperFile::open_rw(&path)
        .expect("open")
        .update_many(&pts, NOW)
        .expect("write");

    let targets = [
        ("stitch.late", "average", 1.0),
        ("a.c", "average", 0.5),
        ("counters.wrap", "sum", 0.0),
        ("gaps.sparse", "average", 0.0),
    ];
    let mut cases = Vec::new();
    for (t, _, _) in targets {
        for from in ["-1h", "-3h"] {
            cases.push(render_case(&[("target", t), ("from", from)]));
        }
    }
    run_cases(&fx, "UTC", &cases);

    let opt = api_with(&fx, false, true);
    let def = &fx.api;
    let mut changed = 0;
    for (t, method, xff) in targets {
        let coarse = points(def, &[("target", t), ("from", "-3h")]);
        let fine = points(def, &[("target", t), ("from", "-1h")]);
        let stitched = points(&opt, &[("target", t), ("from", "-3h")]);
        // Same timestamps and step as graphite's answer.
        let stamps = |p: &Points| p.iter().map(|x| x.1).collect::<Vec<_>>();
        assert_eq!(stamps(&stitched), stamps(&coarse), "{t}");
        let fine_start = fine[0].1;
        for (k, &(v, ts)) in coarse.iter().enumerate() {
            let want = if ts >= fine_start {
                let window: Vec<Option<f64>> = fine
                    .iter()
                    .filter(|p| p.1 >= ts && p.1 < ts + 60)
                    .map(|p| p.0)
                    .collect();
                rollup(method, xff, &window).or(v)
            } else {
                v
            };
            let got = stitched[k].0;
            match (got, want) {
                (Some(a), Some(b)) => assert!(
                    (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                    "{t} at {ts}: {a} vs {b}"
                ),
                _ => assert_eq!(got, want, "{t} at {ts}"),
            }
            if got != v {
                changed += 1;
            }
        }
    }
    assert!(
        changed > 0,
        "stitching changed nothing: the fixture does not discriminate"
    );
    // A window inside the finest archive is untouched.
    let fine = [("target", "stitch.late"), ("from", "-1h")];
    assert_eq!(points(&opt, &fine), points(def, &fine));
}
