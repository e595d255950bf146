//! Graphs (`/render` png, svg, pdf) against graphite-web 1.1.10 (cairo)
//! over the `rich` Whisper fixture: the SVG metadata must be equal (y axis,
//! colours, valuesPerPoint, data, x range; plot area within 2 px) and the
//! PNGs alike: same size, and at most 1% of the pixels of either image
//! without a like-coloured pixel (every channel within 64) within 1 px in
//! the other. Failing PNG pairs are saved side by side (path printed);
//! `FERROGRAPH_SAVE_GRAPHS=1` saves every pair, `FERROGRAPH_GRAPH_LIKE=N`
//! tightens the colour tolerance for a look at the margins.

use std::path::PathBuf;

use serde_json::Value;
use tiny_skia::{Pixmap, PixmapPaint, Transform};

use crate::util::pickle::base64_decode;
use crate::util::refs::{graphite_web, references_available, register_rich_tags, GraphiteRequest};
use crate::util::render::{fixture, Fixture, NOW_S};

/// Largest per-channel difference of "like-coloured" pixels.
fn like() -> i32 {
    std::env::var("FERROGRAPH_GRAPH_LIKE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}
/// Most pixels (share) allowed without a like-coloured neighbour.
const MAX_UNMATCHED: f64 = 0.01;

/// The graph URLs, one per parameter group (`now` is added).
fn cases() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let t = |v: &'static str| ("target", v);
    vec![
        ("default", vec![t("a.b")]),
        (
            "size",
            vec![t("a.b"), t("a.c"), ("width", "600"), ("height", "300")],
        ),
        (
            "title_vtitle",
            vec![t("a.b"), ("title", "Hello graph"), ("vtitle", "units")],
        ),
        (
            "font_size_bold",
            vec![t("a.b"), ("fontSize", "14"), ("fontBold", "true")],
        ),
        (
            "font_italic",
            vec![t("a.b"), ("fontItalic", "true"), ("fontName", "Sans")],
        ),
        (
            "colors_bg_fg",
            vec![t("a.b"), ("bgcolor", "black"), ("fgcolor", "white")],
        ),
        (
            "grid_colors",
            vec![
                t("a.b"),
                ("majorGridLineColor", "red"),
                ("minorGridLineColor", "00ff00"),
            ],
        ),
        (
            "color_list",
            vec![t("hosts.*.cpu.user"), ("colorList", "red,0000ff,green")],
        ),
        (
            "line_width",
            vec![t("a.b"), ("lineWidth", "3"), ("from", "-1h")],
        ),
        (
            "staircase",
            vec![t("a.b"), ("lineMode", "staircase"), ("from", "-1h")],
        ),
        (
            "connected",
            vec![t("gaps.sparse"), ("lineMode", "connected"), ("from", "-1h")],
        ),
        (
            "connected_limit",
            vec![
                t("gaps.sparse"),
                ("lineMode", "connected"),
                ("connectedLimit", "2"),
                ("from", "-1h"),
            ],
        ),
        (
            "area_first",
            vec![t("a.b"), t("a.c"), ("areaMode", "first"), ("from", "-1h")],
        ),
        (
            "area_all_alpha",
            vec![
                t("a.b"),
                t("x.y.z"),
                ("areaMode", "all"),
                ("areaAlpha", "0.5"),
                ("from", "-1h"),
            ],
        ),
        (
            "area_stacked",
            vec![t("hosts.*.cpu.*"), ("areaMode", "stacked"), ("from", "-1h")],
        ),
        (
            "null_as_zero",
            vec![t("a.c"), ("drawNullAsZero", "true"), ("from", "-1h")],
        ),
        (
            "hide_legend",
            vec![t("a.b"), t("a.c"), ("hideLegend", "true")],
        ),
        ("hide_axes", vec![t("a.b"), ("hideAxes", "true")]),
        ("hide_y_axis", vec![t("a.b"), ("hideYAxis", "true")]),
        ("hide_x_axis", vec![t("a.b"), ("hideXAxis", "true")]),
        ("hide_grid", vec![t("a.b"), ("hideGrid", "true")]),
        ("graph_only", vec![t("a.b"), ("graphOnly", "true")]),
        (
            "hide_null_legend",
            vec![t("a.b"), t("gaps.empty"), ("hideNullFromLegend", "true")],
        ),
        (
            "y_min_max",
            vec![
                t("gaps.sparse"),
                ("yMin", "-50"),
                ("yMax", "200"),
                ("from", "-1h"),
            ],
        ),
        (
            "y_limit_step",
            vec![t("steps.s10"), ("yLimit", "5000"), ("yStep", "1000")],
        ),
        ("minor_y", vec![t("a.b"), ("minorY", "3")]),
        (
            "log_base",
            vec![t("a.d"), t("x.y.z"), ("logBase", "10"), ("from", "-1h")],
        ),
        (
            "unit_binary",
            vec![t("steps.s10"), ("yUnitSystem", "binary")],
        ),
        ("unit_sec", vec![t("steps.s60"), ("yUnitSystem", "sec")]),
        (
            "unit_msec_none",
            vec![t("steps.s10"), ("yUnitSystem", "msec"), ("title", "ms")],
        ),
        ("unit_none", vec![t("steps.s10"), ("yUnitSystem", "none")]),
        ("y_axis_right", vec![t("a.b"), ("yAxisSide", "right")]),
        (
            "second_y_axis",
            vec![
                t("a.b"),
                t("secondYAxis(steps.s10)"),
                ("yMinRight", "0"),
                ("yMaxLeft", "20"),
                ("leftWidth", "2"),
                ("rightColor", "red"),
                ("rightDashed", "3"),
                ("vtitleRight", "right"),
            ],
        ),
        ("min_x_step", vec![t("steps.s10"), ("minXStep", "5")]),
        (
            "x_format_tz",
            vec![
                t("steps.s60"),
                ("xFormat", "%d %H:%M"),
                ("tz", "Europe/Berlin"),
                ("from", "-7d"),
            ],
        ),
        ("span_hours", vec![t("steps.s60"), ("from", "-6h")]),
        (
            "unique_legend",
            vec![t("a.b"), t("a.b"), ("uniqueLegend", "true")],
        ),
        ("legend_value", vec![t("legendValue(a.b,'avg','max')")]),
        ("cacti_style", vec![t("cactiStyle(hosts.web1.cpu.*)")]),
        (
            "styles",
            vec![
                t("color(a.b,'red')"),
                t("dashed(a.c)"),
                t("lineWidth(x.y.z,3)"),
                t("alpha(a.d,0.5)"),
                ("from", "-1h"),
            ],
        ),
        (
            "stacked_fn",
            vec![t("stacked(hosts.*.cpu.user)"), ("from", "-1h")],
        ),
        (
            "draw_as_infinite",
            vec![t("drawAsInfinite(gaps.sparse)"), t("a.b"), ("from", "-1h")],
        ),
        (
            "area_between",
            vec![t("areaBetween(hosts.web1.cpu.*)"), ("from", "-1h")],
        ),
        (
            "threshold_alias",
            vec![
                t("aliasByNode(hosts.*.cpu.user,1)"),
                t("threshold(50,'limit','red')"),
            ],
        ),
        (
            "margin_thickness",
            vec![t("a.b"), ("margin", "30"), ("thickness", "2")],
        ),
        (
            "tags_negative",
            vec![
                t("seriesByTag('name=disk.used')"),
                t("gaps.sparse"),
                ("from", "-1h"),
            ],
        ),
        (
            "many_series",
            vec![
                t("hosts.*.cpu.*"),
                t("disk.used;dc=eu;host=h1"),
                t("a.*"),
                t("x.y.z"),
            ],
        ),
        ("no_data", vec![t("does.not.exist")]),
        (
            "second_y_axis_left_right",
            vec![
                t("secondYAxis(a.b)"),
                t("steps.s10"),
                t("x.y.z"),
                ("yStepLeft", "2000"),
                ("yMaxRight", "20"),
                ("yMinLeft", "-1000"),
                ("leftColor", "green"),
                ("leftDashed", "2"),
                ("rightWidth", "3"),
                ("vtitle", "left"),
            ],
        ),
        (
            "log_base_2_msec",
            vec![
                t("steps.s10"),
                ("logBase", "2"),
                ("yUnitSystem", "msec"),
                ("from", "-2h"),
            ],
        ),
        (
            "stacked_null_zero",
            vec![
                t("a.c"),
                t("a.b"),
                ("areaMode", "stacked"),
                ("drawNullAsZero", "true"),
                ("from", "-1h"),
            ],
        ),
        (
            "stacked_second_axis",
            vec![
                t("a.b"),
                t("secondYAxis(a.d)"),
                ("areaMode", "stacked"),
                ("from", "-1h"),
            ],
        ),
        (
            "multiline_titles",
            vec![
                t("a.b"),
                ("title", "first\nsecond"),
                ("vtitle", "up\ndown"),
                ("fontSize", "8"),
            ],
        ),
        (
            "hex_colors",
            vec![
                t("a.b"),
                t("a.c"),
                ("colorList", "#ff0000,00ff0080"),
                ("bgcolor", "%23eeeeee"),
                ("fgcolor", "333333"),
            ],
        ),
        (
            "thin_lines_minor0",
            vec![
                t("hosts.web1.cpu.*"),
                ("lineWidth", "0.5"),
                ("minorY", "0"),
                ("from", "-1h"),
            ],
        ),
        (
            "template_unknown",
            vec![t("a.b"), ("template", "nosuch"), ("yDivisors", "3,7")],
        ),
        (
            "y_axis_right_hide",
            vec![
                t("a.b"),
                ("yAxisSide", "right"),
                ("hideYAxis", "true"),
                ("title", "r"),
            ],
        ),
        (
            "seconds_axis",
            vec![t("a.b"), ("from", "-5min"), ("width", "800")],
        ),
        (
            "week_axis",
            vec![t("steps.s60"), ("from", "-7d"), ("width", "300")],
        ),
        (
            "legend_two_columns",
            vec![
                t("hosts.*.cpu.*"),
                ("width", "900"),
                ("height", "400"),
                ("from", "-1h"),
            ],
        ),
        (
            "draw_null_zero_negative",
            vec![
                t("gaps.sparse"),
                ("drawNullAsZero", "true"),
                ("from", "-1h"),
                ("yMax", "max"),
            ],
        ),
    ]
}

/// Pie cases (PNG only: graphite's pie SVG has empty metadata).
fn pie_cases() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let t = |v: &'static str| ("target", v);
    vec![
        ("pie", vec![("graphType", "pie"), t("hosts.*.cpu.user")]),
        (
            "pie_max_number",
            vec![
                ("graphType", "pie"),
                t("hosts.*.cpu.*"),
                ("pieMode", "maximum"),
                ("valueLabels", "number"),
                ("valueLabelsColor", "white"),
            ],
        ),
        (
            "pie_alpha_min_no_legend",
            vec![
                ("graphType", "pie"),
                t("hosts.*.cpu.user"),
                ("areaAlpha", "0.5"),
                ("pieMode", "minimum"),
                ("valueLabelsMin", "20"),
                ("hideLegend", "true"),
                ("width", "500"),
            ],
        ),
        (
            "pie_rotated_constants",
            vec![
                ("graphType", "pie"),
                t("apples:10"),
                t("pears:30"),
                t("plums:5"),
                ("pieLabels", "rotated"),
                ("valueLabelsMin", "1"),
                ("title", "fruit"),
            ],
        ),
    ]
}

fn metadata(svg: &str) -> Option<Value> {
    let start = svg.find("metadata = ")? + "metadata = ".len();
    let end = start + svg[start..].find("\n  ]]>")?;
    let text = svg[start..end]
        .replace("NaN", "null")
        .replace("-Infinity", "-1e308")
        .replace("Infinity", "1e308");
    serde_json::from_str(&text).ok()
}

fn close(a: &Value, b: &Value, tol: f64) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            (x - y).abs() <= tol.max(1e-9 * x.abs().max(y.abs()))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| close(p, q, tol))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| close(v, w, tol)))
        }
        _ => a == b,
    }
}

/// Differences between two metadata objects, by key.
fn metadata_diff(ours: &Value, theirs: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let (ours_s, theirs_s) = (
        ours["series"].as_array().cloned().unwrap_or_default(),
        theirs["series"].as_array().cloned().unwrap_or_default(),
    );
    if ours_s.len() != theirs_s.len() {
        out.push(format!(
            "series count: ours {} vs graphite {}",
            ours_s.len(),
            theirs_s.len()
        ));
    }
    for (i, (a, b)) in ours_s.iter().zip(&theirs_s).enumerate() {
        for key in [
            "name",
            "start",
            "end",
            "step",
            "valuesPerPoint",
            "color",
            "data",
            "options",
        ] {
            if !close(&a[key], &b[key], 0.0) {
                out.push(format!(
                    "series[{i}].{key}: ours {} vs graphite {}",
                    truncate(&a[key]),
                    truncate(&b[key])
                ));
            }
        }
    }
    for key in ["x", "y", "options", "font"] {
        if !close(&ours[key], &theirs[key], 0.0) {
            out.push(format!(
                "{key}: ours {} vs graphite {}",
                truncate(&ours[key]),
                truncate(&theirs[key])
            ));
        }
    }
    if !close(&ours["area"], &theirs["area"], 2.0) {
        out.push(format!(
            "area: ours {} vs graphite {}",
            ours["area"], theirs["area"]
        ));
    }
    out
}

fn truncate(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 300 {
        format!("{}...", &s[..300])
    } else {
        s
    }
}

/// Share of `a`'s pixels with no like-coloured pixel within 1 px in `b`.
fn unmatched(a: &Pixmap, b: &Pixmap) -> f64 {
    let (w, h) = (a.width() as i64, a.height() as i64);
    let (pa, pb) = (a.data(), b.data());
    let mut bad = 0usize;
    let like = like();
    for y in 0..h {
        for x in 0..w {
            let i = ((y * w + x) * 4) as usize;
            let found = (-1..=1).any(|dy| {
                (-1..=1).any(|dx| {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w || ny >= h {
                        return false;
                    }
                    let j = ((ny * w + nx) * 4) as usize;
                    (0..3).all(|c| (pa[i + c] as i32 - pb[j + c] as i32).abs() <= like)
                })
            });
            if !found {
                bad += 1;
            }
        }
    }
    bad as f64 / (w * h) as f64
}

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("render_graphs");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Saves graphite's (left) and our (right) PNG side by side.
fn save_pair(name: &str, theirs: &Pixmap, ours: &Pixmap) -> PathBuf {
    let w = theirs.width() + ours.width() + 10;
    let h = theirs.height().max(ours.height());
    let path = out_dir().join(format!("{name}.png"));
    if let Some(mut both) = Pixmap::new(w, h) {
        both.fill(tiny_skia::Color::from_rgba8(255, 0, 255, 255));
        let paint = PixmapPaint::default();
        both.draw_pixmap(0, 0, theirs.as_ref(), &paint, Transform::identity(), None);
        let x = theirs.width() as i32 + 10;
        both.draw_pixmap(x, 0, ours.as_ref(), &paint, Transform::identity(), None);
        let _ = both.save_png(&path);
    }
    path
}

fn request(params: &[(&str, &str)], format: Option<&str>) -> GraphiteRequest {
    let mut all: Vec<(&str, &str)> = params.to_vec();
    all.push(("now", NOW_S));
    if let Some(f) = format {
        all.push(("format", f));
    }
    GraphiteRequest::get("/render/", &all)
}

fn compare_png(name: &str, ours: &[u8], theirs_b64: &str, failures: &mut Vec<String>) -> f64 {
    let theirs = base64_decode(theirs_b64);
    let (Ok(a), Ok(b)) = (Pixmap::decode_png(ours), Pixmap::decode_png(&theirs)) else {
        failures.push(format!("{name}: a PNG does not decode"));
        return 1.0;
    };
    if (a.width(), a.height()) != (b.width(), b.height()) {
        failures.push(format!(
            "{name}: PNG size {}x{} vs graphite {}x{}",
            a.width(),
            a.height(),
            b.width(),
            b.height()
        ));
        return 1.0;
    }
    let worst = unmatched(&a, &b).max(unmatched(&b, &a));
    if std::env::var_os("FERROGRAPH_SAVE_GRAPHS").is_some() {
        save_pair(name, &b, &a);
    }
    if worst > MAX_UNMATCHED {
        let path = save_pair(name, &b, &a);
        failures.push(format!(
            "{name}: {:.2}% of pixels unmatched (graphite left, ours right: {})",
            worst * 100.0,
            path.display()
        ));
    }
    worst
}

fn run(fx: &Fixture) -> Vec<String> {
    let mut requests = vec![register_rich_tags()];
    let line = cases();
    let pies = pie_cases();
    for (_, params) in &line {
        requests.push(request(params, Some("svg")));
        requests.push(request(params, None));
    }
    for (_, params) in &pies {
        requests.push(request(params, Some("png")));
    }
    let theirs = graphite_web(fx.dir.path(), "UTC", serde_json::json!({}), &requests);
    fx.ours(&register_rich_tags());
    let mut failures = Vec::new();
    let mut answers = theirs[1..].iter();
    let mut report = Vec::new();
    for (name, params) in &line {
        let (svg_t, png_t) = (answers.next().expect("svg"), answers.next().expect("png"));
        let svg_o = fx.ours(&request(params, Some("svg")));
        let png_o = fx.ours(&request(params, None));
        assert_eq!(svg_t.status, 200, "{name}: graphite svg: {}", svg_t.body);
        assert_eq!(png_t.status, 200, "{name}: graphite png");
        if svg_o.status != 200 || png_o.status != 200 {
            failures.push(format!(
                "{name}: status svg {} png {}: {}",
                svg_o.status,
                png_o.status,
                String::from_utf8_lossy(&svg_o.body)
            ));
            continue;
        }
        assert_eq!(png_o.content_type, "image/png");
        let ours_svg = String::from_utf8_lossy(&svg_o.body);
        match (metadata(&ours_svg), metadata(&svg_t.body)) {
            (Some(a), Some(b)) => {
                let diff = metadata_diff(&a, &b);
                if !diff.is_empty() {
                    failures.push(format!("{name}: svg metadata:\n  {}", diff.join("\n  ")));
                }
            }
            (a, b) => failures.push(format!(
                "{name}: metadata missing: ours {} graphite {}",
                a.is_some(),
                b.is_some()
            )),
        }
        let worst = compare_png(name, &png_o.body, &png_t.body, &mut failures);
        report.push(format!("{name}: {:.3}%", worst * 100.0));
    }
    for (name, params) in &pies {
        let t = answers.next().expect("pie");
        let o = fx.ours(&request(params, Some("png")));
        if o.status != 200 {
            failures.push(format!("{name}: status {}", o.status));
            continue;
        }
        let worst = compare_png(name, &o.body, &t.body, &mut failures);
        report.push(format!("{name}: {:.3}%", worst * 100.0));
    }
    eprintln!("unmatched pixels per case:\n  {}", report.join("\n  "));
    failures
}

#[test]
fn graphs_match_graphite_web() {
    if !references_available() {
        return;
    }
    let fx = fixture();
    let failures = run(&fx);
    assert!(
        failures.is_empty(),
        "{} graph cases differ from graphite-web:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn formats_and_bad_input() {
    let fx = fixture();
    let get = |params: &[(&str, &str)]| fx.ours(&request(params, None));
    let png = get(&[("target", "a.b")]);
    assert_eq!((png.status, png.content_type.as_str()), (200, "image/png"));
    assert!(png.body.starts_with(b"\x89PNG"));
    let pdf = get(&[("target", "a.b"), ("format", "pdf")]);
    assert_eq!(
        (pdf.status, pdf.content_type.as_str()),
        (200, "application/x-pdf")
    );
    assert!(pdf.body.starts_with(b"%PDF-"));
    let svg = get(&[("target", "a.b"), ("format", "svg")]);
    assert_eq!(svg.content_type, "image/svg+xml");
    let meta = metadata(&String::from_utf8_lossy(&svg.body)).expect("metadata");
    assert_eq!(meta["series"][0]["name"], "a.b");
    let ignored = get(&[("target", "a.b"), ("noSuchParam", "1")]);
    assert_eq!(ignored.status, 200);
    for bad in [
        [("bgcolor", "notacolour")],
        [("width", "abc")],
        [("width", "100000")],
        [("lineMode", "zigzag")],
        [("yMin", "low")],
    ] {
        let mut params = vec![("target", "a.b")];
        params.extend(bad);
        let r = get(&params);
        assert_eq!(
            r.status,
            400,
            "{bad:?}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

/// One GET over a fresh connection; the raw body bytes.
fn get_bytes(addr: &str, path: &str) -> (u16, String, Vec<u8>) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("timeout");
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(!head.contains("transfer-encoding: chunked"), "{head}");
    (status, head, raw[split + 4..].to_vec())
}

/// `ferrograph web` over a Whisper tree serves graphs (svg with the
/// metadata script, png with and without `format`), honouring `now`.
#[test]
fn ferrograph_web_serves_graphs() {
    if !references_available() {
        return;
    }
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("temp dir");
    crate::util::refs::whisper_fixture(dir.path(), "rich", 1_700_000_000, None);
    let mut child = crate::util::ferrograph()
        .args(["web", "--data-dir"])
        .arg(dir.path())
        .args(["--http", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ferrograph web");
    let stdout = child.stdout.take().expect("stdout");
    let _guard = crate::util::ChildGuard(child);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
        .expect("read the listening line");
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .expect("address")
        .to_string();

    let (status, head, body) = get_bytes(
        &addr,
        "/render?target=a.b&from=-1h&now=1700000000&format=svg&width=400&height=200",
    );
    assert_eq!(status, 200);
    assert!(head.contains("image/svg+xml"), "{head}");
    let svg = String::from_utf8_lossy(&body);
    let meta = metadata(&svg).expect("metadata script");
    // `now` decides the window: the last hour of the fixture, from the
    // first 10 s step after now - 1h
    assert_eq!(meta["x"]["start"], 1_699_996_410);
    assert_eq!(meta["series"][0]["name"], "a.b");
    let data = meta["series"][0]["data"].as_array().expect("data");
    // 360 values at 10 s into a 400 px wide graph: two per point
    assert_eq!(meta["series"][0]["valuesPerPoint"], 2);
    assert_eq!(data.len(), 180);
    assert!(data.iter().all(Value::is_number));
    for path in [
        "/render?target=a.b&from=-1h&now=1700000000&format=png",
        "/render?target=a.b&from=-1h&now=1700000000",
    ] {
        let (status, head, body) = get_bytes(&addr, path);
        assert_eq!(status, 200, "{path}");
        assert!(head.contains("image/png"), "{head}");
        let png = Pixmap::decode_png(&body).expect("a PNG");
        assert_eq!((png.width(), png.height()), (330, 250));
    }
}
