//! The browser UI (issue 13): the metric tree, the composer and the
//! dashboards, as plain HTML, CSS and JavaScript embedded in the binary
//! (`render-api/ui/`), so nothing is fetched from elsewhere at run time.
//!
//! One page (`index.html`) serves every UI address: `/`, `/composer/`
//! (graphite-web's `/composer/?target=...` links), `/dashboard/` and
//! `/dashboard/NAME`; its script picks the view from the path. The assets
//! live under `/ui/` and are linked with `?v=<hash of every asset>`: a
//! request carrying the current hash may be cached for good (a new binary
//! changes the hash, so browsers never run a stale script), any other is
//! `no-cache`.
//!
//! The page comes with the tree's top level already in its HTML: it shows
//! without scripts and before the page's `load` event (when a headless
//! browser's `--dump-dom` reads the page), and the tree script then
//! replaces it with live nodes.

use std::fmt::Write as _;
use std::sync::OnceLock;

use super::events::escape as escape_html;
use super::{Method, Reply, Req};
use crate::error::ApiError;

/// One embedded file under `/ui/`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../../ui/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the page loads (the page itself is [`INDEX_HTML`]).
const ASSETS: &[Asset] = &[
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("api.js", JS),
    asset!("timebar.js", JS),
    asset!("tree.js", JS),
    asset!("targets.js", JS),
    asset!("events.js", JS),
    asset!("composer.js", JS),
    asset!("dashboard.js", JS),
    asset!("main.js", JS),
];

/// The page; `{{version}}` becomes [`version`] when served.
const INDEX_HTML: &str = include_str!("../../ui/index.html");

/// The scripts only talk to this server, and the page holds no inline
/// script: a metric or dashboard name that smuggles markup cannot run code.
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; \
                   script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'";

/// FNV-1a (64 bits) of the page and every asset, in hex: it changes
/// whenever any of them does.
fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let bodies = ASSETS
            .iter()
            .map(|a| a.body)
            .chain(std::iter::once(INDEX_HTML.as_bytes()));
        for body in bodies {
            for &byte in body {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{hash:016x}")
    })
}

fn read_only(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
}

/// The metric tree's empty list in [`INDEX_HTML`], where the top level goes.
const TREE_LIST: &str = r#"<ul id="tree" class="tree" role="tree" aria-label="Metric tree"></ul>"#;

/// The UI page (for `/`, `/composer`, `/dashboard` and `/dashboard/NAME`).
pub(crate) fn page(req: &Req<'_>) -> Result<Reply, ApiError> {
    if !read_only(req.method) {
        return Ok(Reply::error(405, "method not allowed"));
    }
    let html = INDEX_HTML.replace("{{version}}", version());
    let html = html.replace(TREE_LIST, &tree_list_with_top_level(req));
    let mut reply = Reply::ok("text/html; charset=utf-8", html);
    reply.headers.push(("Cache-Control", "no-cache".into()));
    reply.headers.push(("Content-Security-Policy", CSP.into()));
    reply
        .headers
        .push(("X-Content-Type-Options", "nosniff".into()));
    Ok(reply)
}

/// [`TREE_LIST`] holding the top-level nodes as `tree.js` draws them
/// (closed branches and leaves, sorted by name). A failing or oversized
/// find leaves it empty: the script then says why.
fn tree_list_with_top_level(req: &Req<'_>) -> String {
    let mut nodes = match req.read.find("*") {
        Ok(nodes) if nodes.len() <= req.settings.max_find_results => nodes,
        _ => return TREE_LIST.to_string(),
    };
    nodes.sort_by(|a, b| a.path.cmp(&b.path));
    let mut items = String::new();
    for node in &nodes {
        let id = escape_html(&node.path);
        let (class, twisty, title, expanded) = if node.is_leaf {
            ("leaf", "\u{2022}", format!("{id} (add to the graph)"), "")
        } else {
            (
                "branch",
                "\u{25b8}",
                id.clone(),
                r#" aria-expanded="false""#,
            )
        };
        let _ = write!(
            items,
            r#"<li role="treeitem" class="{class}" data-path="{id}"{expanded}><button type="button" class="node" title="{title}"><span class="twisty" aria-hidden="true">{twisty}</span><span class="name">{id}</span></button></li>"#
        );
    }
    TREE_LIST.replace("></ul>", &format!(">{items}</ul>"))
}

/// `/ui/NAME`: an embedded asset, or 404.
pub(crate) fn asset(
    method: &Method,
    name: &str,
    version_param: Option<&str>,
) -> Result<Reply, ApiError> {
    if !read_only(method) {
        return Ok(Reply::error(405, "method not allowed"));
    }
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no such UI file: /ui/{name}")))?;
    let mut reply = Reply::ok(asset.content_type, asset.body);
    let cache = if version_param == Some(version()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    reply.headers.push(("Cache-Control", cache.into()));
    reply.headers.push(("ETag", format!("\"{}\"", version())));
    reply
        .headers
        .push(("X-Content-Type-Options", "nosniff".into()));
    Ok(reply)
}

/// True for the `/dashboard...` paths (trailing slash removed) that are
/// the dashboard page rather than the dashboards API: `/dashboard` and
/// `/dashboard/NAME` (graphite-web opens NAME there).
pub(crate) fn is_dashboard_page(trimmed: &str) -> bool {
    match trimmed.strip_prefix("/dashboard") {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix('/')
            .is_some_and(|name| !name.is_empty() && !name.contains('/')),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_tree_list_is_in_the_page() {
        assert_eq!(INDEX_HTML.matches(TREE_LIST).count(), 1);
    }

    #[test]
    fn every_script_and_stylesheet_the_page_links_is_embedded() {
        let html = INDEX_HTML.replace("{{version}}", version());
        let mut linked = 0;
        for piece in html.split("/ui/").skip(1) {
            let name = piece.split('?').next().unwrap();
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "index.html links /ui/{name}, which is not embedded"
            );
            assert!(piece.starts_with(&format!("{name}?v={}", version())));
            linked += 1;
        }
        assert_eq!(linked, ASSETS.len(), "every embedded asset is linked");
    }

    #[test]
    fn assets_are_cached_only_with_the_current_version() {
        let current = asset(&Method::GET, "main.js", Some(version())).unwrap();
        assert_eq!(current.content_type, JS);
        assert!(current.headers.contains(&(
            "Cache-Control",
            "public, max-age=31536000, immutable".into()
        )));
        let stale = asset(&Method::GET, "main.js", Some("0")).unwrap();
        assert!(stale
            .headers
            .contains(&("Cache-Control", "no-cache".into())));
        assert!(asset(&Method::GET, "nope.js", None).is_err());
        assert_eq!(asset(&Method::POST, "main.js", None).unwrap().status, 405);
    }

    #[test]
    fn dashboard_pages_are_told_from_api_paths() {
        assert!(is_dashboard_page("/dashboard"));
        assert!(is_dashboard_page("/dashboard/ops"));
        assert!(!is_dashboard_page("/dashboardx"));
        assert!(!is_dashboard_page("/dashboard/load/ops"));
        assert!(!is_dashboard_page("/render"));
    }
}
