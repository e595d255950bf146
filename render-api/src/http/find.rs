//! `/metrics/find`, `/metrics/expand` and `/metrics/index.json`, as
//! graphite-web's `metrics/views.py`.

use storage::FindNode;

use crate::error::ApiError;
use crate::format::json::{dumps, PyJson};
use crate::format::pickle::PickleWriter;
use crate::time::{parse_at_time, parse_tz};

use super::{now_epoch, percent_decode, Reply, Req};

/// graphite's `json_response_for`: ASCII-escaped unless the client's
/// `Accept` is something other than exactly `application/json`, then UTF-8
/// with a charset; `pretty` indents; `jsonp` wraps.
pub(crate) fn json_response(req: &Req<'_>, data: &PyJson) -> Reply {
    let ascii = req.accept.map_or(true, |a| a == "application/json");
    let pretty = req.params.get("pretty").is_some_and(|v| !v.is_empty());
    let body = dumps(data, pretty, ascii, false);
    let jsonp = req.params.get("jsonp").filter(|j| !j.is_empty());
    let mut reply = Reply::json(body, jsonp);
    if !ascii {
        reply.content_type.push_str(";charset=utf-8");
    }
    reply
}

fn name_of(node: &FindNode) -> &str {
    node.path.rsplit('.').next().unwrap_or(&node.path)
}

/// Python's `urllib.parse.unquote_plus`.
fn unquote_plus(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

fn find_nodes(req: &Req<'_>, query: &str, leaves_only: bool) -> Result<Vec<FindNode>, ApiError> {
    let mut nodes = req.read.find(query)?;
    if nodes.len() > req.settings.max_find_results {
        return Err(ApiError::Limit(format!(
            "{query:?} matched more than {} nodes",
            req.settings.max_find_results
        )));
    }
    if leaves_only {
        nodes.retain(|n| n.is_leaf);
    }
    Ok(nodes)
}

fn check_time(req: &Req<'_>, key: &str, tz: chrono_tz::Tz, now: i64) -> Result<(), ApiError> {
    if let Some(v) = req.params.get(key).filter(|v| *v != "-1") {
        parse_at_time(v, tz, now).map_err(|e| {
            ApiError::BadRequest(format!(
                "Invalid value {v:?} for param {key}: {}",
                e.message
            ))
        })?;
    }
    Ok(())
}

pub(crate) fn find(req: &Req<'_>) -> Result<Reply, ApiError> {
    let p = req.params;
    let format = p.get("format").unwrap_or("treejson");
    let leaves_only = p.int_or("leavesOnly", 0)? != 0;
    p.int_or("local", 0)?;
    let wildcards = p.int_or("wildcards", 0)? != 0;
    let position = p.int_or("position", -1)?;
    let automatic_variants = p.int_or("automatic_variants", 0)? != 0;
    // from/until/now are validated as graphite does; the store answers
    // finds without a time filter (as graphite's whisper finder).
    let tz = p
        .get("tz")
        .and_then(parse_tz)
        .unwrap_or(req.settings.time_zone);
    let now = match p.get("now") {
        Some(v) => parse_at_time(v, tz, now_epoch()).map_err(|e| {
            ApiError::BadRequest(format!("Invalid value {v:?} for param now: {}", e.message))
        })?,
        None => now_epoch(),
    };
    check_time(req, "from", tz, now)?;
    check_time(req, "until", tz, now)?;
    let Some(query) = p.get("query") else {
        return Err(ApiError::BadRequest(
            "Missing required parameter 'query'".into(),
        ));
    };
    if query.is_empty() {
        return Err(ApiError::BadRequest(
            "Required parameter 'query' is empty".into(),
        ));
    }
    let base_path = match query.rsplit_once('.') {
        Some((base, _)) => format!("{base}."),
        None => String::new(),
    };
    let mut query = query.to_string();
    if format == "completer" {
        query = query.replace("..", "*.");
        if !query.ends_with('*') {
            query.push('*');
        }
        if automatic_variants {
            query = query
                .split('.')
                .map(|part| {
                    if part.contains(',') && !part.contains('{') {
                        format!("{{{part}}}")
                    } else {
                        part.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(".");
        }
    }
    if !matches!(
        format,
        "treejson" | "completer" | "json" | "nodelist" | "pickle"
    ) {
        return Ok(Reply::error(400, "Invalid value for 'format' parameter"));
    }
    let mut nodes = find_nodes(req, &query, leaves_only)?;
    nodes.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    let reply = match format {
        "treejson" => json_response(req, &tree_json(&nodes, &base_path, wildcards)),
        "completer" => {
            let mut results: Vec<PyJson> = nodes
                .iter()
                .map(|n| {
                    let mut path = n.path.clone();
                    if !n.is_leaf {
                        path.push('.');
                    }
                    PyJson::Dict(vec![
                        ("path".into(), path.into()),
                        ("name".into(), name_of(n).into()),
                        ("is_leaf".into(), (if n.is_leaf { "1" } else { "0" }).into()),
                    ])
                })
                .collect();
            if results.len() > 1 && wildcards {
                results.push(PyJson::Dict(vec![("name".into(), "*".into())]));
            }
            json_response(
                req,
                &PyJson::Dict(vec![("metrics".into(), PyJson::List(results))]),
            )
        }
        "json" => {
            let mut sorted = nodes.clone();
            sorted.sort_by(|a, b| a.path.cmp(&b.path));
            let items = sorted
                .iter()
                .map(|n| {
                    let mut o = vec![
                        ("path".into(), n.path.as_str().into()),
                        ("is_leaf".into(), PyJson::Bool(n.is_leaf)),
                    ];
                    if n.is_leaf {
                        o.push(("intervals".into(), PyJson::List(Vec::new())));
                    }
                    PyJson::Dict(o)
                })
                .collect();
            json_response(req, &PyJson::List(items))
        }
        "nodelist" => {
            let mut found: Vec<String> = nodes
                .iter()
                .filter_map(|n| {
                    let parts: Vec<&str> = n.path.split('.').collect();
                    let idx = if position < 0 {
                        parts.len() as i64 + position
                    } else {
                        position
                    };
                    usize::try_from(idx)
                        .ok()
                        .and_then(|i| parts.get(i))
                        .map(|s| s.to_string())
                })
                .collect();
            found.sort();
            found.dedup();
            json_response(
                req,
                &PyJson::Dict(vec![(
                    "nodes".into(),
                    PyJson::List(found.into_iter().map(PyJson::Str).collect()),
                )]),
            )
        }
        _ => {
            let mut w = PickleWriter::new();
            w.begin_list();
            for n in &nodes {
                w.begin_dict();
                w.str("path");
                w.str(&n.path);
                w.str("is_leaf");
                w.bool(n.is_leaf);
                if n.is_leaf {
                    w.str("intervals");
                    w.begin_list();
                    w.end_list();
                }
                w.end_dict();
            }
            w.end_list();
            Reply::ok("application/pickle", w.finish())
        }
    };
    Ok(reply.no_cache())
}

/// graphite's `tree_json`: an optional `*` node, then branches, then
/// leaves, de-duplicated by node name.
fn tree_json(nodes: &[FindNode], base_path: &str, wildcards: bool) -> PyJson {
    let flags = |leaf: bool| -> Vec<(String, PyJson)> {
        let (allow, expandable, leaf_flag) = if leaf { (0, 0, 1) } else { (1, 1, 0) };
        vec![
            ("allowChildren".into(), PyJson::Int(allow)),
            ("expandable".into(), PyJson::Int(expandable)),
            ("leaf".into(), PyJson::Int(leaf_flag)),
        ]
    };
    let mut results = Vec::new();
    if nodes.len() > 1 && wildcards {
        let mut node = vec![
            ("text".into(), "*".into()),
            ("id".into(), format!("{base_path}*").into()),
        ];
        node.extend(flags(nodes.iter().all(|n| n.is_leaf)));
        results.push(PyJson::Dict(node));
    }
    let mut seen = std::collections::HashSet::new();
    let (mut branches, mut leaves) = (Vec::new(), Vec::new());
    for n in nodes {
        let name = name_of(n);
        if !seen.insert(name.to_string()) {
            continue;
        }
        let mut node = vec![
            ("text".into(), unquote_plus(name).into()),
            ("id".into(), format!("{base_path}{name}").into()),
        ];
        node.extend(flags(n.is_leaf));
        if n.is_leaf {
            leaves.push(PyJson::Dict(node));
        } else {
            branches.push(PyJson::Dict(node));
        }
    }
    results.extend(branches);
    results.extend(leaves);
    PyJson::List(results)
}

pub(crate) fn expand(req: &Req<'_>) -> Result<Reply, ApiError> {
    let p = req.params;
    p.int_or("local", 0)?;
    let group_by_expr = p.int_or("groupByExpr", 0)? != 0;
    let leaves_only = p.int_or("leavesOnly", 0)? != 0;
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for query in p.get_all("query") {
        let mut paths: Vec<String> = find_nodes(req, query, leaves_only)?
            .into_iter()
            .map(|n| n.path)
            .collect();
        paths.sort();
        paths.dedup();
        match grouped.iter_mut().find(|(q, _)| q == query) {
            Some((_, existing)) => *existing = paths,
            None => grouped.push((query.to_string(), paths)),
        }
    }
    let results = if group_by_expr {
        PyJson::Dict(
            grouped
                .into_iter()
                .map(|(q, paths)| {
                    (
                        q,
                        PyJson::List(paths.into_iter().map(PyJson::Str).collect()),
                    )
                })
                .collect(),
        )
    } else {
        let mut all: Vec<String> = grouped.into_iter().flat_map(|(_, p)| p).collect();
        all.sort();
        all.dedup();
        PyJson::List(all.into_iter().map(PyJson::Str).collect())
    };
    Ok(json_response(req, &PyJson::Dict(vec![("results".into(), results)])).no_cache())
}

pub(crate) fn index(req: &Req<'_>) -> Result<Reply, ApiError> {
    let mut leaves: Vec<String> = Vec::new();
    let mut pending = vec!["*".to_string()];
    while let Some(pattern) = pending.pop() {
        for node in req.read.find(&pattern)? {
            if node.is_leaf {
                leaves.push(node.path.clone());
                if leaves.len() > req.settings.max_find_results {
                    return Err(ApiError::Limit(format!(
                        "the index holds more than {} series",
                        req.settings.max_find_results
                    )));
                }
            } else {
                pending.push(format!("{}.*", node.path));
            }
        }
    }
    leaves.sort();
    leaves.dedup();
    Ok(json_response(
        req,
        &PyJson::List(leaves.into_iter().map(PyJson::Str).collect()),
    ))
}
