//! graphite-web's dashboards API: `/dashboard/save/<name>` (form field
//! `state`), `/dashboard/load/<name>`, `/dashboard/find/?query=`,
//! `/dashboard/delete/<name>` and `/dashboard/create-temporary`, each with
//! or without a trailing slash. A saved state is kept as graphite-web keeps
//! it: `json.dumps(json.loads(state))` (keys in the order given).

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};

use super::events::store;
use super::{Reply, Req};
use crate::error::ApiError;
use crate::format::json::{dumps, PyJson};

/// Python's `json.loads` into [`PyJson`] (dict order kept; a repeated key
/// keeps its first place and its last value, as a Python dict does).
struct Loads(PyJson);

impl<'de> serde::Deserialize<'de> for Loads {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LoadsVisitor).map(Loads)
    }
}

struct LoadsVisitor;

impl<'de> Visitor<'de> for LoadsVisitor {
    type Value = PyJson;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<PyJson, E> {
        Ok(PyJson::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<PyJson, E> {
        Ok(PyJson::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<PyJson, E> {
        Ok(PyJson::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<PyJson, E> {
        // Beyond i64 Python keeps an exact int; we keep a float
        // (docs/render-api.md).
        Ok(i64::try_from(u).map_or(PyJson::Float(u as f64), PyJson::Int))
    }
    fn visit_f64<E>(self, x: f64) -> Result<PyJson, E> {
        Ok(PyJson::Float(x))
    }
    fn visit_str<E>(self, s: &str) -> Result<PyJson, E> {
        Ok(PyJson::Str(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<PyJson, E> {
        Ok(PyJson::Str(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PyJson, A::Error> {
        let mut items = Vec::new();
        while let Some(Loads(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(PyJson::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PyJson, A::Error> {
        let mut entries: Vec<(String, PyJson)> = Vec::new();
        while let Some((key, Loads(value))) = map.next_entry::<String, Loads>()? {
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => entries.push((key, value)),
            }
        }
        Ok(PyJson::Dict(entries))
    }
}

/// Parses JSON text as Python's `json.loads`.
pub(crate) fn py_loads(text: &str) -> Result<PyJson, serde_json::Error> {
    serde_json::from_str::<Loads>(text).map(|l| l.0)
}

fn json(obj: PyJson) -> Reply {
    Reply::ok("application/json", dumps(&obj, false, true, false))
}

fn error(message: String) -> Reply {
    json(PyJson::Dict(vec![("error".into(), message.into())]))
}

fn success() -> Reply {
    json(PyJson::Dict(vec![("success".into(), PyJson::Bool(true))]))
}

fn storage_error(e: crate::state::StateError) -> ApiError {
    ApiError::Storage(e.to_string())
}

/// The `state` form field, validated and re-serialised as graphite-web does.
fn state_param(req: &Req<'_>) -> Result<String, ApiError> {
    let text = req
        .params
        .get("state")
        .ok_or_else(|| ApiError::BadRequest("missing form field \"state\"".into()))?;
    let value = py_loads(text)
        .map_err(|e| ApiError::BadRequest(format!("\"state\" is not valid JSON: {e}")))?;
    Ok(dumps(&value, false, true, false))
}

/// Routes `/dashboard/...` (the path after `/dashboard`, trailing slash
/// removed); None for paths that are not ours.
pub(crate) fn route(req: &Req<'_>, rest: &str) -> Option<Result<Reply, ApiError>> {
    let decoded = |s: &str| super::percent_decode(s);
    if let Some(name) = rest.strip_prefix("/save/") {
        return (!name.contains('/')).then(|| save(req, &decoded(name)));
    }
    if let Some(name) = rest.strip_prefix("/load/") {
        return (!name.contains('/')).then(|| load(req, &decoded(name)));
    }
    if let Some(name) = rest.strip_prefix("/delete/") {
        return (!name.contains('/')).then(|| delete(req, &decoded(name)));
    }
    match rest {
        "/find" => Some(find(req)),
        "/create-temporary" => Some(create_temporary(req)),
        _ => None,
    }
}

fn save(req: &Req<'_>, name: &str) -> Result<Reply, ApiError> {
    let store = store(req)?;
    let state = state_param(req)?;
    store.save_dashboard(name, &state).map_err(storage_error)?;
    Ok(success())
}

fn load(req: &Req<'_>, name: &str) -> Result<Reply, ApiError> {
    let store = store(req)?;
    match store.dashboard(name).map_err(storage_error)? {
        // The stored text is already `json.dumps` output, so wrapping it
        // gives `json.dumps(dict(state=json.loads(state)))`.
        Some(state) => Ok(Reply::ok(
            "application/json",
            format!("{{\"state\": {state}}}"),
        )),
        None => Ok(error(format!("Dashboard '{name}' does not exist. "))),
    }
}

fn delete(req: &Req<'_>, name: &str) -> Result<Reply, ApiError> {
    let store = store(req)?;
    if store.delete_dashboard(name).map_err(storage_error)? {
        Ok(success())
    } else {
        Ok(error(format!("Dashboard '{name}' does not exist. ")))
    }
}

fn find(req: &Req<'_>) -> Result<Reply, ApiError> {
    let store = store(req)?;
    let query = req
        .params
        .get("query")
        .ok_or_else(|| ApiError::BadRequest("missing parameter \"query\"".into()))?
        .to_lowercase();
    let terms: Vec<&str> = query.split_whitespace().collect();
    let mut results = Vec::new();
    for name in store.dashboard_names().map_err(storage_error)? {
        let lower = name.to_lowercase();
        if lower.starts_with("temporary-") {
            continue;
        }
        if terms.iter().all(|t| lower.contains(t)) {
            results.push(PyJson::Dict(vec![("name".into(), name.into())]));
        }
    }
    Ok(json(PyJson::Dict(vec![(
        "dashboards".into(),
        PyJson::List(results),
    )])))
}

fn create_temporary(req: &Req<'_>) -> Result<Reply, ApiError> {
    let store = store(req)?;
    let state = state_param(req)?;
    let name = store
        .create_temporary_dashboard(&state)
        .map_err(storage_error)?;
    Ok(json(PyJson::Dict(vec![("name".into(), name.into())])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_then_dumps_keeps_order_and_python_floats() {
        let v = py_loads(r#"{"b": 1, "a": [1.0, 2.5e-7, "é"], "b": null}"#).unwrap();
        assert_eq!(
            dumps(&v, false, true, false),
            r#"{"b": null, "a": [1.0, 2.5e-07, "\u00e9"]}"#
        );
    }
}
