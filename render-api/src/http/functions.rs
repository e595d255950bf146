//! `/functions` and `/functions/<name>` from the registry metadata.

use hyper::Method;

use crate::error::ApiError;
use crate::functions::{function_json_text, functions_json_text};

use super::{Reply, Req};

fn pretty(req: &Req<'_>) -> bool {
    req.params.get("pretty").is_some_and(|v| !v.is_empty())
}

pub(crate) fn list(req: &Req<'_>) -> Result<Reply, ApiError> {
    if *req.method != Method::GET && *req.method != Method::HEAD {
        return Ok(Reply::error(405, "method not allowed"));
    }
    if req.params.get("type") == Some("pie") {
        // graphite's pie functions (average, maximum, minimum) are the
        // `pieMode` graph option here; graphite-web 1.1.10 itself answers
        // 500 on Python 3.11 (docs/render-api.md).
        return Ok(Reply::json("{}".into(), None));
    }
    let grouped = req
        .params
        .get("grouped")
        .is_some_and(|g| g.eq_ignore_ascii_case("true") || g == "1");
    Ok(Reply::json(
        functions_json_text(grouped, req.params.get("group"), pretty(req)),
        None,
    ))
}

pub(crate) fn details(req: &Req<'_>, name: &str) -> Result<Reply, ApiError> {
    if *req.method != Method::GET && *req.method != Method::HEAD {
        return Ok(Reply::error(405, "method not allowed"));
    }
    match function_json_text(name, pretty(req)) {
        Some(text) => Ok(Reply::json(text, None)),
        None => {
            let mut reply = Reply::json(
                format!(
                    "{{\"error\": \"Function not found: {}\"}}",
                    name.escape_default()
                ),
                None,
            );
            reply.status = 404;
            Ok(reply)
        }
    }
}
