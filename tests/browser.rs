//! The browser UI (issue 13) in a real browser: headless Chromium against
//! `ferrograph web` on a fixture Whisper tree. The tree shows the top-level
//! nodes once the scripts ran, a `/composer/?target=...` link draws the
//! graph (checked on the screenshot's pixels), and a dashboard saved
//! through the API is there again after a restart, with its graphs.
//!
//! A failing run keeps its screenshots in `target/test-artefacts/browser/`.

use std::net::SocketAddr;
use std::path::Path;

use storage::whisper::{self, AggregationMethod, Allocation, WhisperFile};

use crate::util::chromium::{dump_dom, dump_dom_at_load, keep_artefact, screenshot};
use crate::util::serve::{encode, http_request};
use crate::util::web::{exchange, Web};

const MINUTE: i64 = 60;
/// The fixture's series span six hours of minutely points.
const SPAN: i64 = 6 * 3600;

/// graphite's first graph colour, "blue" (the line and its legend swatch).
const BLUE: (u8, u8, u8) = (100, 100, 255);

/// Status, content type and body of a GET, as a browser asks for a page.
fn get_typed(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: test\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
    );
    exchange(addr, request.as_bytes())
}

/// Minutely Whisper series under `dir` (a sine wave, so the line crosses
/// the whole plot); returns the first point's time.
fn fixture(dir: &Path) -> i64 {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let now = wall - wall % 3600;
    let start = now - 24 * 3600;
    for (i, name) in [
        "servers.web1.load",
        "servers.web2.load",
        "apps.api.requests",
    ]
    .iter()
    .enumerate()
    {
        let path = dir.join(format!("{}.wsp", name.replace('.', "/")));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        whisper::create(
            &path,
            &[(MINUTE as u32, 3 * 24 * 60)],
            0.0,
            AggregationMethod::Average,
            Allocation::Sparse,
        )
        .expect("create a Whisper file");
        let points: Vec<(i64, f64)> = (0..=SPAN / MINUTE)
            .map(|m| {
                let x = m as f64 / 30.0;
                (start + m * MINUTE, 10.0 + i as f64 + 4.0 * x.sin())
            })
            .collect();
        WhisperFile::open_rw(&path)
            .expect("open")
            .update_many(&points, now)
            .expect("write the points");
    }
    start
}

/// Where `colour` (within a little anti-aliasing) shows in `png`: how many
/// pixels, and how wide a band of columns they span.
fn colour_extent(png: &[u8], colour: (u8, u8, u8)) -> (usize, u32) {
    let pixmap = tiny_skia::Pixmap::decode_png(png).expect("a PNG screenshot");
    let near = |a: u8, b: u8| a.abs_diff(b) <= 12;
    let (mut count, mut min_x, mut max_x) = (0, u32::MAX, 0);
    for (i, p) in pixmap.pixels().iter().enumerate() {
        let p = p.demultiply();
        if near(p.red(), colour.0) && near(p.green(), colour.1) && near(p.blue(), colour.2) {
            let x = i as u32 % pixmap.width();
            count += 1;
            min_x = min_x.min(x);
            max_x = max_x.max(x);
        }
    }
    (count, if count == 0 { 0 } else { max_x - min_x })
}

/// The start tag of the element with `id` in `dom` (empty if none).
fn element_with_id(dom: &str, id: &str) -> String {
    let Some(at) = dom.find(&format!("id=\"{id}\"")) else {
        return String::new();
    };
    let start = dom[..at].rfind('<').unwrap_or(at);
    let end = dom[at..].find('>').map_or(dom.len(), |e| at + e + 1);
    dom[start..end].to_string()
}

#[test]
fn the_tree_shows_the_top_level_nodes() {
    let data = tempfile::tempdir().expect("temp dir");
    fixture(data.path());
    let web = Web::start(data.path(), None);
    // The page as served already lists the top level (so it shows at the
    // page's load event, and without scripts).
    let (status, content_type, html) = get_typed(web.addr, "/");
    assert_eq!(status, 200, "{html}");
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(
        html.contains("<span class=\"name\">servers</span>"),
        "{html}"
    );
    let (status, content_type, _) = get_typed(web.addr, "/ui/main.js");
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/javascript; charset=utf-8")
    );

    // A plain --dump-dom (the page at its load event) and one after the
    // scripts' requests both show the top level, and only it.
    for dom in [dump_dom_at_load(&web.url("/")), dump_dom(&web.url("/"))] {
        for top in ["servers", "apps"] {
            assert!(
                dom.contains(&format!("<span class=\"name\">{top}</span>")),
                "the tree does not show the top-level node {top}:\n{dom}"
            );
        }
        assert!(!dom.contains(">web1<"), "{dom}");
    }
    web.stop();
}

#[test]
fn a_composer_link_draws_the_graph() {
    let data = tempfile::tempdir().expect("temp dir");
    let start = fixture(data.path());
    let web = Web::start(data.path(), None);
    let range = format!("from={start}&until={}", start + SPAN);

    let link = web.url(&format!("/composer/?target=servers.web1.load&{range}"));
    let png = screenshot(&link, 1200, 800);
    let (count, span) = colour_extent(&png, BLUE);
    if count < 300 || span < 400 {
        let kept = keep_artefact("composer-link", &png);
        panic!(
            "the composer link {link} shows no drawn line ({count} blue pixels over {span} \
             columns); screenshot kept at {}",
            kept.display()
        );
    }

    // The same check on a target without data finds no line: the pixel
    // test does tell a drawn graph from an empty one.
    let empty = web.url(&format!("/composer/?target=nosuch.metric&{range}"));
    let png = screenshot(&empty, 1200, 800);
    let (count, span) = colour_extent(&png, BLUE);
    if count >= 300 || span >= 400 {
        let kept = keep_artefact("composer-empty", &png);
        panic!(
            "a graph without data shows {count} blue pixels over {span} columns; \
             screenshot kept at {}",
            kept.display()
        );
    }

    // graphite-web's link shape without the trailing slash, several
    // targets, graph options: all reach the drawn image.
    let dom = dump_dom(&web.url(&format!(
        "/composer?target=servers.web1.load&target={}&{range}&areaMode=stacked&title=Load",
        encode("sumSeries(servers.*.load)")
    )));
    let img = element_with_id(&dom, "composer-graph");
    for wanted in [
        "target=servers.web1.load",
        "target=sumSeries(servers.*.load)",
        &format!("from={start}"),
        "areaMode=stacked",
        "title=Load",
        "format=png",
    ] {
        assert!(
            img.contains(wanted),
            "the composer's image lacks {wanted}: {img}"
        );
    }
    web.stop();
}

#[test]
fn a_saved_dashboard_reloads_after_a_restart() {
    let data = tempfile::tempdir().expect("temp dir");
    let start = fixture(data.path());
    let until = start + SPAN;
    let web = Web::start(data.path(), None);
    // The state graphite-web's dashboard.js saves.
    let state = format!(
        r#"{{"name": "ops", "timeConfig": {{"type": "absolute"}},
            "refreshConfig": {{"enabled": false, "interval": 60000}},
            "graphSize": {{"width": 400, "height": 250}},
            "defaultGraphParams": {{"from": "{start}", "until": "{until}", "width": 400, "height": 250}},
            "graphs": [
              ["target=servers.web1.load", {{"target": ["servers.web1.load"]}}, "/render?target=servers.web1.load"],
              ["target=sumSeries(servers.*.load)", {{"target": ["sumSeries(servers.*.load)"], "title": "All web"}}, "/render"]
            ]}}"#
    );
    let (status, body) = http_request(
        web.addr,
        "POST",
        "/dashboard/save/ops",
        Some(&format!("state={}", encode(&state))),
    );
    assert_eq!((status, body.as_str()), (200, r#"{"success": true}"#));
    web.stop();

    let web = Web::start(data.path(), None);
    // The API still answers under /dashboard/ next to the page.
    let (status, content_type, loaded) = get_typed(web.addr, "/dashboard/load/ops");
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    assert!(loaded.contains("All web"), "{loaded}");
    let (status, content_type, _) = get_typed(web.addr, "/dashboard/ops");
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );

    let dom = dump_dom(&web.url("/dashboard/ops"));
    assert_eq!(
        dom.matches("class=\"graph-card\"").count(),
        2,
        "the dashboard shows its two graphs:\n{dom}"
    );
    for wanted in [
        "target=servers.web1.load",
        "target=sumSeries(servers.*.load)",
        "title=All%20web",
        &format!("from={start}"),
        &format!("until={until}"),
    ] {
        assert!(dom.contains(wanted), "the dashboard lacks {wanted}:\n{dom}");
    }
    let png = screenshot(&web.url("/dashboard/ops"), 1200, 800);
    let (count, span) = colour_extent(&png, BLUE);
    if count < 300 || span < 250 {
        let kept = keep_artefact("dashboard", &png);
        panic!(
            "the dashboard's graphs are not drawn ({count} blue pixels over {span} columns); \
             screenshot kept at {}",
            kept.display()
        );
    }
    // The dashboards page lists it.
    let listing = dump_dom(&web.url("/dashboard/"));
    assert!(
        listing.contains("href=\"/dashboard/ops\""),
        "the dashboards page does not list ops:\n{listing}"
    );
    web.stop();
}
