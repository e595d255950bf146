//! Grouping and regrouping: group, mapSeries/reduceSeries, groupByNode(s),
//! groupByTags (each group combined by a callback: an aggregation name or
//! a series function) and applyByNode.

use std::collections::{BTreeSet, HashMap};

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::functions::{
    agg_key, py_index, registry, Args, FunctionDef, Lit, Param, ParamType, Registry,
};
use crate::series::{tags_from_name, Series};
use crate::target::parse_target;

use super::aggregate::aggregate_lists;
use super::{Groups, OPTIONAL_SERIES_LISTS};

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[
        &APPLY_BY_NODE,
        &GROUP,
        &GROUP_BY_NODE,
        &GROUP_BY_NODES,
        &GROUP_BY_TAGS,
        &MAP_SERIES,
        &REDUCE_SERIES,
    ]);
    r.alias("map", &MAP_SERIES);
    r.alias("reduce", &REDUCE_SERIES);
}

static GROUP: FunctionDef = FunctionDef::new("group", "Combine", group)
    .description(
        "Concatenates the series lists into one list, to pass several lists where \
         one is expected.",
    )
    .params(OPTIONAL_SERIES_LISTS);

fn group(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    Ok(Value::SeriesList(
        args.rest_series_lists()?.into_iter().flatten().collect(),
    ))
}

static MAP_SERIES: FunctionDef = FunctionDef::new("mapSeries", "Combine", map_series)
    .description(
        "Groups the series by the given nodes or tags, for reduceSeries. (graphite \
         returns a list of lists; here the groups come back one after another, which \
         is all reduceSeries reads.)",
    )
    .params(&[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("mapNodes", ParamType::NodeOrTag)
            .required()
            .multiple(),
    ]);

fn map_series(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let nodes = args.rest().to_vec();
    let mut groups = Groups::new();
    for s in list {
        let key = agg_key(&s, &nodes)?;
        groups.push(key, s);
    }
    Ok(Value::SeriesList(
        groups
            .into_ordered()
            .into_iter()
            .flat_map(|(_, members)| members)
            .collect(),
    ))
}

static REDUCE_SERIES: FunctionDef = FunctionDef::new("reduceSeries", "Combine", reduce_series)
    .description(
        "For the output of mapSeries: the series whose node reduceNode equals one of \
         the matchers are passed, in matcher order, to reduceFunction (one call per \
         distinct name prefix), and each result is named \
         <prefix>.reduce.<reduceFunction>.",
    )
    .params(&[
        Param::new("seriesLists", ParamType::SeriesLists).required(),
        Param::new("reduceFunction", ParamType::String).required(),
        Param::new("reduceNode", ParamType::Node).required(),
        Param::new("reduceMatchers", ParamType::String)
            .required()
            .multiple(),
    ]);

fn reduce_series(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let function = args.string(1)?;
    let node = args.int(2)?;
    let matchers: Vec<Option<String>> = args
        .rest()
        .iter()
        .map(|v| match v {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let mut keys: Vec<String> = Vec::new();
    let mut slots: HashMap<String, Vec<Option<Series>>> = HashMap::new();
    for s in list {
        let nodes: Vec<&str> = s.name.split('.').collect();
        let value = py_index(&nodes, node)
            .ok_or_else(|| args.error(format!("{} has no node {node}", s.name)))?;
        let Some(i) = matchers.iter().position(|m| m.as_deref() == Some(*value)) else {
            continue;
        };
        let key = format!("{}.reduce.{function}", py_slice_to(&nodes, node).join("."));
        let entry = slots.entry(key.clone()).or_insert_with(|| {
            keys.push(key);
            vec![None; matchers.len()]
        });
        entry[i] = Some(s);
    }
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        ev.check_deadline()?;
        let members = slots.remove(&key).unwrap_or_default();
        let mut call_args = Vec::with_capacity(members.len());
        for (m, matcher) in members.into_iter().zip(&matchers) {
            let s = m.ok_or_else(|| {
                args.error(format!(
                    "no series matches {} for {key}",
                    matcher.as_deref().unwrap_or("?")
                ))
            })?;
            call_args.push(Value::SeriesList(vec![s]));
        }
        let mut result = call_series_function(ev, ctx, &function, call_args)?
            .ok_or_else(|| ApiError::UnknownFunction(function.clone()))?;
        if result.is_empty() {
            return Err(args.error(format!("{function} returned no series for {key}")));
        }
        let mut first = result.swap_remove(0);
        first.name = key;
        out.push(first);
    }
    Ok(Value::SeriesList(out))
}

/// `items[:stop]` with Python's slice rules (negative counts from the end).
fn py_slice_to<T: Clone>(items: &[T], stop: i64) -> Vec<T> {
    let len = items.len() as i64;
    let stop = if stop < 0 {
        (stop + len).max(0)
    } else {
        stop.min(len)
    };
    items[..stop as usize].to_vec()
}

/// Calls the registry function `name` with positional `args`; `None` when
/// there is no such function.
fn call_series_function(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    name: &str,
    args: Vec<Value>,
) -> Result<Option<Vec<Series>>, ApiError> {
    let Some(def) = registry().get(name) else {
        return Ok(None);
    };
    let bound = Args::bind(def, name, args, Vec::new(), None, None)?;
    match (def.implementation)(ev, ctx, bound)? {
        Value::SeriesList(list) => Ok(Some(list)),
        other => Err(ApiError::bad_argument(
            name,
            format!("returned {}, not series", other.kind()),
        )),
    }
}

/// graphite's group callback: a series function by name (its first
/// result), else an aggregation function.
fn apply_callback(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    callback: &str,
    members: Vec<Series>,
) -> Result<Series, ApiError> {
    let result = if registry().get(callback).is_some() {
        call_series_function(ev, ctx, callback, vec![Value::SeriesList(members)])?
            .unwrap_or_default()
    } else {
        aggregate_lists(ctx, vec![members], callback, None)?
    };
    result
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::bad_argument(callback, "returned no series for a group"))
}

static APPLY_BY_NODE: FunctionDef = FunctionDef::new("applyByNode", "Combine", apply_by_node)
    .description(
        "For each distinct name prefix up to node nodeNum, evaluates templateFunction \
         with every % replaced by the prefix (a new target, fetched anew); results are \
         renamed by newName with % replaced, when given.",
    )
    .params(&[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("nodeNum", ParamType::Node).required(),
        Param::new("templateFunction", ParamType::String).required(),
        Param::new("newName", ParamType::String),
    ]);

fn apply_by_node(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let node = args.int(1)?;
    let template = args.string(2)?;
    let new_name = args.opt_string(3)?.filter(|n| !n.is_empty());
    let prefixes: BTreeSet<String> = list
        .iter()
        .map(|s| {
            let nodes: Vec<&str> = s.name.split('.').collect();
            py_slice_to(&nodes, node.saturating_add(1)).join(".")
        })
        .collect();
    // graphite takes the window of the last input series (a leaked loop variable)
    let window = list.last().map(|s| (s.start, s.end));
    let mut out = Vec::new();
    for prefix in prefixes {
        let target = template.replace('%', &prefix);
        let expr = parse_target(&target)?;
        for mut s in ev.evaluate_with(ctx, &expr, None)? {
            if let Some(n) = &new_name {
                s.name = n.replace('%', &prefix);
            }
            s.path_expression.clone_from(&prefix);
            if let Some((start, end)) = window {
                s.start = start;
                s.end = end;
            }
            out.push(s);
        }
    }
    Ok(Value::SeriesList(out))
}

static GROUP_BY_NODE: FunctionDef = FunctionDef::new("groupByNode", "Combine", group_by_node)
    .description(
        "Groups the series by one node (or tag) and combines each group with the \
         callback (an aggregation name such as sum, or a series function such as \
         sumSeries); each result is named by its node value.",
    )
    .params(&[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("nodeNum", ParamType::NodeOrTag).required(),
        Param::new("callback", ParamType::AggOrSeriesFunc).default(Lit::Str("average")),
    ]);

fn group_by_node(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let node = args.value(1);
    let callback = args.string(2)?;
    group_by_nodes_impl(ev, ctx, list, &callback, &[node]).map(Value::SeriesList)
}

static GROUP_BY_NODES: FunctionDef = FunctionDef::new("groupByNodes", "Combine", group_by_nodes)
    .description(
        "Groups the series by several nodes (or tags) and combines each group with \
         the callback; each result is named by its nodes joined with dots.",
    )
    .params(&[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("callback", ParamType::AggOrSeriesFunc).required(),
        Param::new("nodes", ParamType::NodeOrTag).multiple(),
    ]);

fn group_by_nodes(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let callback = args.string(1)?;
    let nodes = args.rest().to_vec();
    group_by_nodes_impl(ev, ctx, list, &callback, &nodes).map(Value::SeriesList)
}

fn group_by_nodes_impl(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    list: Vec<Series>,
    callback: &str,
    nodes: &[Value],
) -> Result<Vec<Series>, ApiError> {
    let mut groups = Groups::new();
    for s in list {
        let key = agg_key(&s, nodes)?;
        groups.push(key, s);
    }
    let mut out = Vec::new();
    for (key, members) in groups.into_ordered() {
        ev.check_deadline()?;
        let mut result = apply_callback(ev, ctx, callback, members)?;
        result.name = key;
        out.push(result);
    }
    Ok(out)
}

static GROUP_BY_TAGS: FunctionDef = FunctionDef::new("groupByTags", "Combine", group_by_tags)
    .description(
        "Groups the series by the values of the given tags and combines each group \
         with the callback; each result is named and tagged \
         <name>;tag1=value1;... (name is the common name tag, else the callback).",
    )
    .params(&[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("callback", ParamType::AggOrSeriesFunc).required(),
        Param::new("tags", ParamType::Tag).required().multiple(),
    ]);

fn group_by_tags(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let callback = args.string(1)?;
    let tags: Vec<String> = args
        .rest()
        .iter()
        .map(|v| match v {
            Value::Str(s) => Ok(s.clone()),
            other => Err(args.error(format!("tags must be strings, not {}", other.kind()))),
        })
        .collect::<Result<_, _>>()?;
    if tags.is_empty() {
        return Err(args.error("groupByTags(): no tags specified"));
    }
    let by_name = tags.iter().any(|t| t == "name");
    let common_name = {
        let names: BTreeSet<&str> = list
            .iter()
            .map(|s| s.tags.get("name").map_or("", String::as_str))
            .collect();
        if names.len() == 1 {
            names.into_iter().next().unwrap_or_default().to_string()
        } else {
            callback.clone()
        }
    };
    let mut groups = Groups::new();
    for s in list {
        let mut parts: Vec<String> = tags
            .iter()
            .filter(|t| !by_name || t.as_str() != "name")
            .map(|t| format!("{t}={}", s.tags.get(t).map_or("", String::as_str)))
            .collect();
        parts.sort();
        let head = if by_name {
            s.tags.get("name").cloned().unwrap_or_default()
        } else {
            common_name.clone()
        };
        parts.insert(0, head);
        groups.push(parts.join(";"), s);
    }
    let mut out = Vec::new();
    for (key, members) in groups.into_ordered() {
        ev.check_deadline()?;
        let mut result = apply_callback(ev, ctx, &callback, members)?;
        let tags = tags_from_name(&key);
        if key.contains(';') && tags.get("name") == Some(&key) {
            return Err(args.error(format!("cannot parse {key:?} as a tagged series name")));
        }
        result.name.clone_from(&key);
        result.path_expression = key;
        result.tags = tags;
        out.push(result);
    }
    Ok(Value::SeriesList(out))
}
