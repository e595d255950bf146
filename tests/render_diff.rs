//! `/render`, `/metrics/*` and `/tags/*` of ferrograph against graphite-web
//! 1.1.10 on the same Whisper files (made by the real whisper module).
//!
//! Each test builds the `rich` fixture and runs one batch of requests
//! through the differential harness of `util::render` (one Django start;
//! names, tags and timestamps exact, values within 1e-9 relative, CSV/raw
//! field by field, pickle after decoding both).

use crate::util::refs::{
    graphite_functions, print_differences, printed_by, ref_python, references_available,
    tricky_floats, GraphiteRequest,
};
use crate::util::render::{
    fixture, our_functions, render_case, run_cases, target_case, Case, Compare, NOW_S,
};

fn skip_without_references() -> bool {
    !references_available()
}

#[test]
fn render_functions_match_graphite() {
    if skip_without_references() {
        return;
    }
    let fx = fixture();
    let targets = [
        // paths and globs
        "a.b",
        "a.*",
        "hosts.*.cpu.user",
        "hosts.{web1,db1}.cpu.{user,system}",
        "hosts.web[12].cpu.system",
        "a.[!b]",
        "gaps.empty",
        "nothing.here",
        // grammar: pipes, templates, tagged literals, seriesByTag
        "a.b|scale(3)|alias('piped')",
        "template(hosts.$host.cpu.user, host='web2')",
        "template(sumSeries(hosts.$1.cpu.*), 'db1')",
        "seriesByTag('name=disk.used', 'dc=eu')",
        "sumSeries(seriesByTag('name=disk.used'))",
        "seriesByTag('name=~disk.*', 'host!=h2')",
        // sumSeries / sum
        "sumSeries(a.*)",
        "sum(a.b, a.c, gaps.sparse)",
        "sumSeries(steps.*)",
        "sumSeries(hosts.*.cpu.user, nothing.*)",
        // averageSeries / avg
        "averageSeries(a.*)",
        "avg(gaps.sparse, a.c)",
        "averageSeries(steps.s10, steps.s60)",
        // aggregate
        "aggregate(hosts.*.cpu.*, 'max')",
        "aggregate(a.*, 'median')",
        "aggregate(a.*, 'sumSeries')",
        "aggregate(hosts.*.cpu.*, 'stddev')",
        "aggregate(a.*, 'count', 0.9)",
        "aggregate(gaps.*, 'avg_zero')",
        "aggregate(a.*, 'diff')",
        "aggregate(a.*, 'range')",
        "aggregate(a.b, 'multiply')",
        "aggregate(a.*, 'last')",
        // scale
        "scale(a.*, 0.5)",
        "scale(gaps.sparse, -2)",
        "scale(counters.wrap, 1e-3)",
        // alias
        "alias(a.b, 'renamed')",
        "alias(sumSeries(hosts.*.cpu.*), \"all cpu\")",
        // movingAverage / movingWindow
        "movingAverage(a.c, 5)",
        "movingAverage(gaps.sparse, '1min')",
        "movingAverage(a.b, 10, 0.5)",
        "movingAverage(steps.s60, 3)",
        "movingWindow(a.c, 4, 'median')",
        "movingWindow(gaps.sparse, '50s', 'sum', 0.3)",
        "movingWindow(hosts.web1.cpu.*, 3, 'max')",
    ];
    let mut cases: Vec<Case> = targets.iter().map(|t| target_case(t)).collect();
    // the same functions over a day (the coarse archive) and over the LCM
    for t in [
        "sumSeries(a.*)",
        "movingAverage(a.d, 2)",
        "averageSeries(steps.*)",
    ] {
        cases.push(render_case(&[("target", t), ("from", "-1d")]));
    }
    // several targets in one request, and request-wide xFilesFactor
    cases.push(render_case(&[
        ("target", "a.b"),
        ("target", "sumSeries(a.*)"),
        ("target", "movingAverage(a.c,3)"),
        ("from", "-30min"),
    ]));
    cases.push(render_case(&[
        ("target", "sumSeries(gaps.sparse, a.b)"),
        ("from", "-1d"),
        ("xFilesFactor", "0.9"),
    ]));
    cases.push(render_case(&[
        ("target", "template(hosts.$h.cpu.user)"),
        ("template[h]", "db1"),
        ("from", "-1h"),
    ]));
    run_cases(&fx, "UTC", &cases);
}

#[test]
fn time_specifications_match_graphite() {
    if skip_without_references() {
        return;
    }
    let fx = fixture();
    let mut cases = Vec::new();
    // NOW = 2023-11-14 22:13:20 UTC, a Tuesday.
    for from in [
        "-1h",
        "-30min",
        "-45minutes",
        "-2h",
        "now-90min",
        "-1d",
        "-1d2h",
        "-3600s",
        "1699990000",
        "20231114",
        "21:30_20231114",
        "9pm_20231114",
        "11/14/23",
        "11/14/2023",
        "midnight",
        "noon",
        "teatime",
        "midnight_yesterday",
        "noon_yesterday",
        "yesterday",
        "today",
        "tuesday",
        "monday",
        "nov14",
        "november14",
        "noon+3h",
        "midnight+21h30min",
        "-1w",
    ] {
        cases.push(render_case(&[("target", "a.c"), ("from", from)]));
    }
    for until in ["now", "-10min", "1699999000", "22:00_20231114", "now-1h"] {
        cases.push(render_case(&[
            ("target", "a.b"),
            ("from", "-2h"),
            ("until", until),
        ]));
    }
    // reversed range, the default from, a now other than the fixture's
    cases.push(render_case(&[
        ("target", "a.b"),
        ("from", "now"),
        ("until", "-20min"),
    ]));
    cases.push(render_case(&[("target", "a.d")]));
    cases.push(render_case(&[
        ("target", "a.b"),
        ("from", "-10min"),
        ("now", "1699999000"),
    ]));
    cases.push(render_case(&[
        ("target", "a.b"),
        ("from", "-10min"),
        ("now", "22:00_20231114"),
    ]));
    // time zones: calendar references move, offsets don't
    for (tz, from) in [
        ("Europe/Berlin", "midnight"),
        ("America/New_York", "noon"),
        ("Asia/Kolkata", "21:00_20231114"),
        ("europe/berlin", "-1h"),
        ("Not/AZone", "midnight"),
    ] {
        cases.push(render_case(&[
            ("target", "a.b"),
            ("from", from),
            ("tz", tz),
        ]));
        cases.push(render_case(&[
            ("target", "a.b"),
            ("from", from),
            ("tz", tz),
            ("format", "csv"),
        ]));
    }
    // errors: both sides refuse
    for bad in ["-1m", "blah", "now-1h+30min", "jan", "25:00_20231114"] {
        let mut c = render_case(&[("target", "a.b"), ("from", bad)]);
        c.compare = Compare::StatusOnly;
        cases.push(c);
    }
    let mut same = render_case(&[("target", "a.b"), ("from", "-1h"), ("until", "-1h")]);
    same.compare = Compare::StatusOnly;
    cases.push(same);
    run_cases(&fx, "UTC", &cases);
}

#[test]
fn formats_and_max_data_points_match_graphite() {
    if skip_without_references() {
        return;
    }
    let fx = fixture();
    let mut cases = Vec::new();
    for format in ["csv", "raw", "pickle"] {
        for target in ["a.*", "sumSeries(hosts.*.cpu.user)", "gaps.sparse"] {
            cases.push(render_case(&[
                ("target", target),
                ("from", "-20min"),
                ("format", format),
            ]));
        }
    }
    cases.push(render_case(&[
        ("target", "a.c"),
        ("from", "-1d"),
        ("format", "raw"),
    ]));
    for extra in [
        [("jsonp", "cb"), ("format", "json")],
        [("pretty", "1"), ("format", "json")],
        [("noNullPoints", "1"), ("format", "json")],
    ] {
        let mut params = vec![("target", "gaps.*"), ("from", "-10min")];
        params.extend(extra);
        cases.push(render_case(&params));
    }
    for mdp in ["1", "2", "5", "20", "100", "359", "360", "1000"] {
        for (target, from) in [
            ("a.c", "-1h"),
            ("sumSeries(a.*)", "-1h"),
            ("gaps.sparse", "-1d"),
            ("steps.*", "-6h"),
        ] {
            cases.push(render_case(&[
                ("target", target),
                ("from", from),
                ("maxDataPoints", mdp),
            ]));
        }
    }
    // consolidateBy is not ours, so maxDataPoints is checked with the
    // default average and with noNullPoints combined
    cases.push(render_case(&[
        ("target", "gaps.sparse"),
        ("from", "-1h"),
        ("maxDataPoints", "7"),
        ("noNullPoints", "1"),
    ]));
    // POST form, target[] spelling, rawData
    cases.push(Case {
        compare: Compare::RenderJson,
        request: GraphiteRequest::post(
            "/render/",
            &[
                ("target", "a.b"),
                ("target", "a.d"),
                ("from", "-10min"),
                ("now", NOW_S),
                ("format", "json"),
                ("maxDataPoints", "3"),
            ],
        ),
    });
    cases.push(render_case(&[("target[]", "x.y.z"), ("from", "-5min")]));
    let mut raw = render_case(&[("target", "a.b"), ("from", "-5min"), ("rawData", "1")]);
    raw.request.params.retain(|(k, _)| k != "format");
    raw.compare = Compare::Fields;
    cases.push(raw);
    run_cases(&fx, "UTC", &cases);
}

#[test]
fn find_expand_and_tags_match_graphite() {
    if skip_without_references() {
        return;
    }
    let fx = fixture();
    let mut cases = Vec::new();
    let globs = [
        "*",
        "a.*",
        "a.?",
        "a.[bc]",
        "a.[!b]",
        "a.[a-c]",
        "a.{b,c}",
        "a.{b}",
        "a.{b,nothing}",
        "hosts.*",
        "hosts.*.cpu.*",
        "hosts.web*.cpu.user",
        "hosts.*1.cpu.{user,system}",
        "hosts.{web1,db1}.*",
        "x.y.z",
        "nothing.*",
        "*.*",
        "gaps.*",
    ];
    for glob in globs {
        for format in ["treejson", "completer", "json"] {
            cases.push(Case {
                compare: match format {
                    "json" => Compare::FindJson,
                    "completer" => Compare::JsonUnordered,
                    _ => Compare::Json,
                },
                request: GraphiteRequest::get(
                    "/metrics/find/",
                    &[("query", glob), ("format", format)],
                ),
            });
        }
    }
    cases.push(Case {
        compare: Compare::Json,
        request: GraphiteRequest::post(
            "/metrics/find/",
            &[("query", "hosts.*"), ("wildcards", "1")],
        ),
    });
    cases.push(Case {
        compare: Compare::Json,
        request: GraphiteRequest::get("/metrics/find/", &[("query", "a.*"), ("leavesOnly", "1")]),
    });
    cases.push(Case {
        compare: Compare::JsonUnordered,
        request: GraphiteRequest::get(
            "/metrics/find/",
            &[("query", "hosts.w"), ("format", "completer")],
        ),
    });
    cases.push(Case {
        compare: Compare::Json,
        request: GraphiteRequest::get(
            "/metrics/find/",
            &[("query", "a.*"), ("from", "-1h"), ("until", "now")],
        ),
    });
    cases.push(Case {
        compare: Compare::StatusOnly,
        request: GraphiteRequest::get("/metrics/find/", &[("query", "")]),
    });
    cases.push(Case {
        compare: Compare::StatusOnly,
        request: GraphiteRequest::get("/metrics/find/", &[("query", "a.*"), ("format", "bogus")]),
    });
    cases.push(Case {
        compare: Compare::Json,
        request: GraphiteRequest::get(
            "/metrics/expand/",
            &[("query", "hosts.*.cpu.user"), ("query", "a.{b,c}")],
        ),
    });
    cases.push(Case {
        compare: Compare::Json,
        request: GraphiteRequest::get(
            "/metrics/expand/",
            &[
                ("query", "hosts.*"),
                ("query", "a.*"),
                ("groupByExpr", "1"),
                ("leavesOnly", "1"),
            ],
        ),
    });
    for (path, params) in [
        (
            "/tags/findSeries",
            vec![("expr", "name=disk.used"), ("expr", "dc=eu")],
        ),
        (
            "/tags/findSeries",
            vec![("expr", "dc=~e"), ("expr", "host!=h1")],
        ),
        ("/tags/autoComplete/tags", vec![]),
        ("/tags/autoComplete/tags", vec![("tagPrefix", "h")]),
        ("/tags/autoComplete/tags", vec![("expr", "name=disk.used")]),
        ("/tags/autoComplete/values", vec![("tag", "host")]),
        (
            "/tags/autoComplete/values",
            vec![("tag", "host"), ("expr", "dc=eu"), ("limit", "1")],
        ),
        (
            "/tags/autoComplete/values",
            vec![("tag", "dc"), ("valuePrefix", "u")],
        ),
    ] {
        cases.push(Case {
            compare: Compare::Json,
            request: GraphiteRequest::get(path, &params),
        });
    }
    run_cases(&fx, "UTC", &cases);
}

/// Every function in our registry describes itself as graphite-web 1.1.10
/// does (signature, group, module, parameters with types, defaults,
/// options, suggestions); only the description text is our own. Options of
/// `aggOrSeriesFunc` list aggregator functions, so they are compared once
/// the registry holds all of graphite's.
#[test]
fn functions_metadata_matches_graphite() {
    if skip_without_references() {
        return;
    }
    let theirs = graphite_functions();
    let ours = our_functions();
    let ours = ours.as_object().expect("object");
    let registry_complete = theirs
        .as_object()
        .expect("object")
        .keys()
        .all(|k| ours.contains_key(k));
    let mut failures = Vec::new();
    for (name, info) in ours {
        let Some(want) = theirs.get(name) else {
            failures.push(format!("{name}: not a graphite-web function"));
            continue;
        };
        let mut got = info.clone();
        got.as_object_mut().expect("info").remove("description");
        let mut want = want.clone();
        if !registry_complete {
            for v in [&mut got, &mut want] {
                for p in v["params"].as_array_mut().into_iter().flatten() {
                    if p["type"] == "aggOrSeriesFunc" {
                        p.as_object_mut().expect("param").remove("options");
                    }
                }
            }
        }
        if got != want {
            failures.push(crate::util::mismatch(
                name,
                &want.to_string(),
                &got.to_string(),
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The JSON, CSV and raw formats print values with `float_repr`: it must
/// print what Python's `repr()` prints.
#[test]
fn values_print_as_python_repr() {
    if !references_available() {
        return;
    }
    let values = tricky_floats(200_000);
    let script = "import struct, sys\n\
        hexes = open(sys.argv[1]).read().split()\n\
        sys.stdout.write(''.join(repr(struct.unpack('>d', bytes.fromhex(h))[0]) + '\\n' for h in hexes))\n";
    let printed = printed_by(&ref_python(), &["-c", script], &values);
    if let Some(report) = print_differences(&values, &printed, storage::pyfmt::float_repr) {
        panic!("{report}");
    }
}
