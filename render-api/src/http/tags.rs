//! `/tags/*`: the tag index endpoints, answered through the read handle's
//! tag queries (graphite-web's `tags/views.py` over its local tag DB).
//! Tag and value ids are positions in the sorted listing (graphite's are
//! database row ids; clients such as Grafana read only the names).

use hyper::Method;
use regex::Regex;
use storage::TagExpr;

use crate::error::ApiError;
use crate::format::json::PyJson;
use crate::series::tags_from_name;

use super::find::json_response;
use super::{Reply, Req};

/// graphite's default autocomplete limit (`TAGDB_AUTOCOMPLETE_LIMIT`).
const AUTOCOMPLETE_LIMIT: usize = 100;

fn json_error(status: u16, message: &str) -> Reply {
    let mut reply = Reply::json(
        crate::format::json::dumps(
            &PyJson::Dict(vec![("error".into(), message.into())]),
            false,
            true,
            false,
        ),
        None,
    );
    reply.status = status;
    reply
}

fn require(req: &Req<'_>, methods: &[Method]) -> Option<Reply> {
    (!methods.contains(req.method)).then(|| Reply::error(405, "method not allowed"))
}

fn limit(req: &Req<'_>) -> Result<Option<usize>, ApiError> {
    match req.params.get("limit").filter(|l| !l.is_empty()) {
        None => Ok(None),
        Some(l) => l
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("invalid limit {l:?}"))),
    }
}

/// A filter regex anchored at the start, as graphite's local tag DB does.
fn anchored(filter: Option<&str>) -> Result<Option<Regex>, ApiError> {
    match filter.filter(|f| !f.is_empty()) {
        None => Ok(None),
        Some(f) => {
            let pattern = if f.starts_with('^') {
                f.to_string()
            } else {
                format!("^({f})")
            };
            Regex::new(&pattern)
                .map(Some)
                .map_err(|e| ApiError::BadRequest(format!("invalid filter {f:?}: {e}")))
        }
    }
}

fn parse_exprs(texts: &[&str]) -> Result<Vec<TagExpr>, ApiError> {
    texts
        .iter()
        .map(|t| TagExpr::parse(t).map_err(ApiError::from))
        .collect()
}

fn strings(items: Vec<String>) -> PyJson {
    PyJson::List(items.into_iter().map(PyJson::Str).collect())
}

pub(crate) fn list(req: &Req<'_>) -> Result<Reply, ApiError> {
    if let Some(r) = require(req, &[Method::GET, Method::HEAD]) {
        return Ok(r);
    }
    let filter = anchored(req.params.get("filter"))?;
    let limit = limit(req)?;
    let mut out = Vec::new();
    for (i, tag) in req.read.tag_names()?.into_iter().enumerate() {
        if filter.as_ref().is_some_and(|f| !f.is_match(&tag)) {
            continue;
        }
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        out.push(PyJson::Dict(vec![
            ("id".into(), PyJson::Int(i as i64 + 1)),
            ("tag".into(), tag.into()),
        ]));
    }
    Ok(json_response(req, &PyJson::List(out)))
}

pub(crate) fn details(req: &Req<'_>, tag: &str) -> Result<Reply, ApiError> {
    if let Some(r) = require(req, &[Method::GET, Method::HEAD]) {
        return Ok(r);
    }
    let names = req.read.tag_names()?;
    let Some(pos) = names.iter().position(|t| t == tag) else {
        return Ok(json_response(req, &PyJson::Null));
    };
    let filter = anchored(req.params.get("filter"))?;
    let limit = limit(req)?;
    let mut values = Vec::new();
    for (i, (value, count)) in req.read.tag_values(tag)?.into_iter().enumerate() {
        if filter.as_ref().is_some_and(|f| !f.is_match(&value)) {
            continue;
        }
        if limit.is_some_and(|l| values.len() >= l) {
            break;
        }
        values.push(PyJson::Dict(vec![
            ("id".into(), PyJson::Int(i as i64 + 1)),
            ("value".into(), value.into()),
            ("count".into(), PyJson::Int(count as i64)),
        ]));
    }
    Ok(json_response(
        req,
        &PyJson::Dict(vec![
            ("id".into(), PyJson::Int(pos as i64 + 1)),
            ("tag".into(), tag.into()),
            ("values".into(), PyJson::List(values)),
        ]),
    ))
}

pub(crate) fn tag_series(req: &Req<'_>) -> Result<Reply, ApiError> {
    if let Some(r) = require(req, &[Method::POST]) {
        return Ok(r);
    }
    let Some(path) = req.params.get("path").filter(|p| !p.is_empty()) else {
        return Ok(json_error(400, "no path specified"));
    };
    let canonical = req.read.tag_series(path)?;
    Ok(json_response(req, &PyJson::Str(canonical)))
}

pub(crate) fn tag_multi_series(req: &Req<'_>) -> Result<Reply, ApiError> {
    if let Some(r) = require(req, &[Method::POST]) {
        return Ok(r);
    }
    let paths = req.params.list("path");
    if paths.is_empty() {
        return Ok(json_error(400, "no paths specified"));
    }
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        out.push(req.read.tag_series(p)?);
    }
    Ok(json_response(req, &strings(out)))
}

pub(crate) fn del_series(req: &Req<'_>) -> Result<Reply, ApiError> {
    if let Some(r) = require(req, &[Method::POST]) {
        return Ok(r);
    }
    let paths = req.params.list("path");
    if paths.is_empty() {
        return Ok(json_error(400, "no path specified"));
    }
    for p in paths {
        req.read.del_series(p)?;
    }
    Ok(json_response(req, &PyJson::Bool(true)))
}

pub(crate) fn find_series(req: &Req<'_>) -> Result<Reply, ApiError> {
    if let Some(r) = require(req, &[Method::GET, Method::POST, Method::HEAD]) {
        return Ok(r);
    }
    let exprs = req.params.list("expr");
    if exprs.is_empty() {
        return Ok(json_error(400, "no tag expressions specified"));
    }
    let found = req.read.find_tagged(&parse_exprs(&exprs)?)?;
    Ok(json_response(req, &strings(found)))
}

/// Inserts `item` into the sorted, de-duplicated `result` unless it would
/// land past `limit` (graphite's bisect-based autocomplete collection).
fn collect_sorted(result: &mut Vec<String>, item: String, limit: usize) {
    match result.binary_search(&item) {
        Ok(_) => {}
        Err(pos) => {
            if pos >= limit {
                return;
            }
            result.insert(pos, item);
            result.truncate(limit);
        }
    }
}

pub(crate) fn autocomplete_tags(req: &Req<'_>) -> Result<Reply, ApiError> {
    if let Some(r) = require(req, &[Method::GET, Method::POST, Method::HEAD]) {
        return Ok(r);
    }
    let exprs = req.params.list("expr");
    let prefix = req.params.get("tagPrefix").filter(|p| !p.is_empty());
    let limit = limit(req)?.unwrap_or(AUTOCOMPLETE_LIMIT);
    let mut result = Vec::new();
    if exprs.is_empty() {
        for tag in req.read.tag_names()? {
            if prefix.is_some_and(|p| !tag.starts_with(p)) {
                continue;
            }
            if result.len() >= limit {
                break;
            }
            result.push(tag);
        }
    } else {
        let parsed = parse_exprs(&exprs)?;
        let searched: Vec<&str> = parsed.iter().map(|e| e.tag.as_str()).collect();
        for path in req.read.find_tagged(&parsed)? {
            for tag in tags_from_name(&path).into_keys() {
                if searched.contains(&tag.as_str()) || prefix.is_some_and(|p| !tag.starts_with(p)) {
                    continue;
                }
                collect_sorted(&mut result, tag, limit);
            }
        }
    }
    Ok(json_response(req, &strings(result)))
}

pub(crate) fn autocomplete_values(req: &Req<'_>) -> Result<Reply, ApiError> {
    if let Some(r) = require(req, &[Method::GET, Method::POST, Method::HEAD]) {
        return Ok(r);
    }
    let Some(tag) = req.params.get("tag").filter(|t| !t.is_empty()) else {
        return Ok(json_error(400, "no tag specified"));
    };
    let exprs = req.params.list("expr");
    let prefix = req.params.get("valuePrefix").filter(|p| !p.is_empty());
    let limit = limit(req)?.unwrap_or(AUTOCOMPLETE_LIMIT);
    let mut result = Vec::new();
    if exprs.is_empty() {
        for (value, _) in req.read.tag_values(tag)? {
            if prefix.is_some_and(|p| !value.starts_with(p)) {
                continue;
            }
            if result.len() >= limit {
                break;
            }
            result.push(value);
        }
    } else {
        let mut parsed = parse_exprs(&exprs)?;
        parsed.push(TagExpr::parse(&format!("{tag}!="))?);
        for path in req.read.find_tagged(&parsed)? {
            let Some(value) = tags_from_name(&path).remove(tag) else {
                continue;
            };
            if prefix.is_some_and(|p| !value.starts_with(p)) {
                continue;
            }
            collect_sorted(&mut result, value, limit);
        }
    }
    Ok(json_response(req, &strings(result)))
}
