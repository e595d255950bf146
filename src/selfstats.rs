//! The pipeline's own health: every stage's counters, written into the
//! store under `[storage] self_metrics_prefix` (by the store's self-metrics
//! thread) and served at `GET /metrics` in Prometheus' text format.
//!
//! The stages name their figures in carbon's and StatsD's vocabulary
//! (`committedPoints`, `statsd.bad_lines{reason="bad_value"}`); the table
//! [`EXPOSITION`] maps each one to a Prometheus family with a type, base
//! units and labels, so the dotted names stay what Graphite users know and
//! the scrape follows Prometheus' conventions.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use storage::StatsSource;

/// A stats source whose names are put under `stage.`.
pub fn prefixed(
    stage: &'static str,
    source: impl Fn() -> Vec<(String, f64)> + Send + Sync + 'static,
) -> StatsSource {
    std::sync::Arc::new(move || {
        source()
            .into_iter()
            .map(|(name, value)| (format!("{stage}.{name}"), value))
            .collect()
    })
}

/// How one stage figure is exposed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// A lifetime total: the family ends in `_total`.
    Counter,
    /// A level that goes up and down.
    Gauge,
    /// The `_sum` of a summary, in seconds from microseconds.
    SummarySumMicros,
    /// The `_count` of a summary.
    SummaryCount,
}

/// One row of the exposition table: the stage's dotted name (labels in
/// `{}` excluded), the family, its kind, and fixed labels.
struct Exposed {
    source: &'static str,
    family: &'static str,
    kind: Kind,
    labels: &'static [(&'static str, &'static str)],
}

const fn row(
    source: &'static str,
    family: &'static str,
    kind: Kind,
    labels: &'static [(&'static str, &'static str)],
) -> Exposed {
    Exposed {
        source,
        family,
        kind,
        labels,
    }
}

use Kind::{Counter, Gauge, SummaryCount, SummarySumMicros};

/// Every figure the stages report today. A name missing here is still
/// exposed (as a gauge named after it), so a new figure is never hidden.
const EXPOSITION: &[Exposed] = &[
    // storage: cache, writers, creates (carbon's own names)
    row("metricsReceived", "points_received_total", Counter, &[]),
    row("rejectedPoints", "points_rejected_total", Counter, &[]),
    row("cache.overflow", "points_overflowed_total", Counter, &[]),
    row("committedPoints", "points_committed_total", Counter, &[]),
    row("droppedPoints", "points_dropped_total", Counter, &[]),
    row("updateOperations", "update_operations_total", Counter, &[]),
    row("pointsPerUpdate", "points_per_update", Gauge, &[]),
    row("creates", "files_created_total", Counter, &[]),
    row(
        "errors.create",
        "errors_total",
        Counter,
        &[("operation", "create")],
    ),
    row(
        "errors.write",
        "errors_total",
        Counter,
        &[("operation", "write")],
    ),
    row("errors.corrupt", "corrupt_files_total", Counter, &[]),
    row("quarantined", "files_quarantined_total", Counter, &[]),
    row("cache.size", "cache_points", Gauge, &[]),
    row("cache.queues", "cache_series", Gauge, &[]),
    // storage on ClickHouse (storage/src/clickhouse): the insert queue
    row(
        "clickhouse.pointsReceived",
        "points_received_total",
        Counter,
        &[],
    ),
    row(
        "clickhouse.pointsRejected",
        "points_rejected_total",
        Counter,
        &[],
    ),
    row(
        "clickhouse.queueOverflow",
        "points_overflowed_total",
        Counter,
        &[],
    ),
    row(
        "clickhouse.pointsInserted",
        "points_committed_total",
        Counter,
        &[],
    ),
    row(
        "clickhouse.indexRowsQueued",
        "clickhouse_index_entries_total",
        Counter,
        &[],
    ),
    row(
        "clickhouse.inserts",
        "clickhouse_inserts_total",
        Counter,
        &[],
    ),
    row(
        "clickhouse.insertErrors",
        "errors_total",
        Counter,
        &[("operation", "insert")],
    ),
    row(
        "clickhouse.pointsLostAtStop",
        "points_dropped_total",
        Counter,
        &[],
    ),
    row(
        "clickhouse.queryErrors",
        "errors_total",
        Counter,
        &[("operation", "query")],
    ),
    row(
        "clickhouse.optimizeRuns",
        "clickhouse_optimize_runs_total",
        Counter,
        &[],
    ),
    row(
        "clickhouse.optimizeErrors",
        "errors_total",
        Counter,
        &[("operation", "optimize")],
    ),
    row("clickhouse.queuedPoints", "cache_points", Gauge, &[]),
    row(
        "clickhouse.queuedIndexEntries",
        "clickhouse_queued_index_entries",
        Gauge,
        &[],
    ),
    // storage: new series waiting for their files, and the limits of new
    // series (store/admission.rs)
    row("creates.backlog", "create_backlog_series", Gauge, &[]),
    row("creates.pendingPoints", "create_backlog_points", Gauge, &[]),
    row(
        "admission.newSeriesRefused",
        "new_series_points_refused_total",
        Counter,
        &[("limit", "max_new_series_per_minute")],
    ),
    row(
        "admission.pendingCreateRefused",
        "new_series_points_refused_total",
        Counter,
        &[("limit", "max_pending_create_points")],
    ),
    row(
        "admission.newSeriesRefusedByPrefix",
        "new_series_points_refused_by_prefix_total",
        Counter,
        &[("limit", "max_new_series_per_minute")],
    ),
    row(
        "admission.pendingCreateRefusedByPrefix",
        "new_series_points_refused_by_prefix_total",
        Counter,
        &[("limit", "max_pending_create_points")],
    ),
    // render API
    row("render.requests", "http_requests_total", Counter, &[]),
    row(
        "render.requests",
        "http_request_duration_seconds",
        SummaryCount,
        &[],
    ),
    row(
        "render.busy_micros",
        "http_request_duration_seconds",
        SummarySumMicros,
        &[],
    ),
    row(
        "render.bad_requests",
        "http_bad_requests_total",
        Counter,
        &[],
    ),
    row("render.limit_hits", "http_limit_hits_total", Counter, &[]),
    row("render.checks", "http_checks_total", Counter, &[]),
    row(
        "render.storage_errors",
        "errors_total",
        Counter,
        &[("operation", "read")],
    ),
    row(
        "render.max_micros",
        "http_request_duration_max_seconds",
        Gauge,
        &[],
    ),
    // StatsD
    row(
        "statsd.packets_received",
        "packets_received_total",
        Counter,
        &[],
    ),
    row(
        "statsd.metrics_received",
        "metrics_received_total",
        Counter,
        &[],
    ),
    row("statsd.bad_lines", "bad_lines_total", Counter, &[]),
    row(
        "statsd.bad_lines_seen",
        "bad_lines_seen_total",
        Counter,
        &[],
    ),
    row(
        "statsd.keys_over_limit",
        "keys_over_limit_total",
        Counter,
        &[],
    ),
    row(
        "statsd.keys_over_limit_by_prefix",
        "keys_over_limit_by_prefix_total",
        Counter,
        &[],
    ),
    row(
        "statsd.timer_values_over_limit",
        "timer_values_over_limit_total",
        Counter,
        &[],
    ),
    row(
        "statsd.timer_values_clamped",
        "timer_values_clamped_total",
        Counter,
        &[],
    ),
    row(
        "statsd.udp_truncated",
        "datagrams_truncated_total",
        Counter,
        &[("listener", "udp")],
    ),
    row(
        "statsd.udp_errors",
        "socket_errors_total",
        Counter,
        &[("listener", "udp")],
    ),
    row(
        "statsd.udp_kernel_drops",
        "kernel_drops_total",
        Counter,
        &[("listener", "udp")],
    ),
    row(
        "statsd.tcp_connections_refused",
        "connections_refused_total",
        Counter,
        &[("listener", "tcp")],
    ),
    row(
        "statsd.flushes",
        "flush_duration_seconds",
        SummaryCount,
        &[],
    ),
    row(
        "statsd.flush_micros",
        "flush_duration_seconds",
        SummarySumMicros,
        &[],
    ),
    row(
        "statsd.flush_non_finite",
        "flush_non_finite_values_total",
        Counter,
        &[],
    ),
    row(
        "statsd.sink_overflowed",
        "points_overflowed_total",
        Counter,
        &[],
    ),
    row(
        "statsd.sink_rejected",
        "points_rejected_total",
        Counter,
        &[],
    ),
    row("statsd.sink_errors", "flushes_refused_total", Counter, &[]),
    row("statsd.keys", "keys", Gauge, &[]),
    // carbon receivers
    row("receivers.lines", "lines_received_total", Counter, &[]),
    row("receivers.badLines", "bad_lines_total", Counter, &[]),
    row(
        "receivers.udpDatagrams",
        "packets_received_total",
        Counter,
        &[("listener", "udp")],
    ),
    row(
        "receivers.pickleMessages",
        "packets_received_total",
        Counter,
        &[("listener", "pickle")],
    ),
    row(
        "receivers.badPickles",
        "bad_lines_total",
        Counter,
        &[("reason", "bad_pickle")],
    ),
    row(
        "receivers.badPickleElements",
        "bad_lines_total",
        Counter,
        &[("reason", "bad_pickle_element")],
    ),
    row(
        "receivers.nanDropped",
        "points_rejected_total",
        Counter,
        &[("reason", "nan")],
    ),
    row("receivers.points", "metrics_received_total", Counter, &[]),
    row("receivers.rejected", "points_rejected_total", Counter, &[]),
    row(
        "receivers.overflow",
        "points_overflowed_total",
        Counter,
        &[],
    ),
    row(
        "receivers.connections",
        "connections_accepted_total",
        Counter,
        &[("listener", "tcp")],
    ),
    row(
        "receivers.flowControlPauses",
        "flow_control_pauses_total",
        Counter,
        &[],
    ),
    // ingest rules ([carbon] aggregation_rules, rewrite_rules)
    row("rules.inputs", "rules_points_received_total", Counter, &[]),
    row(
        "rules.rewritten",
        "rules_names_rewritten_total",
        Counter,
        &[],
    ),
    row(
        "rules.aggregated",
        "rules_points_aggregated_total",
        Counter,
        &[],
    ),
    row(
        "rules.inputsDropped",
        "rules_inputs_dropped_total",
        Counter,
        &[],
    ),
    row(
        "rules.valuesRefused",
        "rules_values_refused_total",
        Counter,
        &[],
    ),
    row(
        "rules.outputs",
        "rules_points_generated_total",
        Counter,
        &[],
    ),
    row(
        "rules.outputsRefused",
        "rules_points_generated_refused_total",
        Counter,
        &[],
    ),
    row("rules.parseErrors", "rules_file_errors", Gauge, &[]),
    row("rules.buffers", "rules_buffers", Gauge, &[]),
    row("rules.bufferedValues", "rules_buffered_values", Gauge, &[]),
    // l2met log metrics (POST /logs, [logs] syslog)
    row("logs.requests", "log_requests_total", Counter, &[]),
    row("logs.lines", "log_lines_total", Counter, &[]),
    row("logs.metrics", "log_metrics_total", Counter, &[]),
    row(
        "logs.badFrames",
        "log_bad_input_total",
        Counter,
        &[("reason", "bad_frame")],
    ),
    row(
        "logs.badFields",
        "log_bad_input_total",
        Counter,
        &[("reason", "bad_field")],
    ),
    row(
        "logs.tooLarge",
        "log_bad_input_total",
        Counter,
        &[("reason", "too_large")],
    ),
    // reloads (src/reload.rs) and background resizes (storage/src/store/resize.rs)
    row("config.reloads", "config_reloads_total", Counter, &[]),
    row(
        "config.reloadErrors",
        "config_reload_errors_total",
        Counter,
        &[],
    ),
    row("resize.files", "files_resized_total", Counter, &[]),
    row(
        "resize.errors",
        "errors_total",
        Counter,
        &[("operation", "resize")],
    ),
    row("resize.pending", "files_resize_pending", Gauge, &[]),
    row("resize.scans", "resize_scans_total", Counter, &[]),
];

/// The `stage` label of a dotted name: its first component for the stages
/// that prefix their names, `storage` for the store's own carbon names.
fn stage_of(name: &str) -> &'static str {
    match name.split('.').next() {
        Some("statsd") => "statsd",
        Some("render") => "render",
        Some("receivers") => "carbon",
        Some("rules") => "rules",
        Some("logs") => "logs",
        _ => "storage",
    }
}

/// Splits `base{k="v",...}` into `base` and its labels.
fn split_labels(name: &str) -> (&str, Vec<(String, String)>) {
    let Some(open) = name.find('{') else {
        return (name, Vec::new());
    };
    let base = &name[..open];
    let inner = name[open + 1..].trim_end_matches('}');
    let labels = inner
        .split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        })
        .collect();
    (base, labels)
}

/// A family name for a figure the table does not know: snake case of its
/// dotted name without the stage, under `ferrograph_`.
fn fallback_family(base: &str) -> String {
    let rest = match base.split_once('.') {
        Some(("statsd" | "render" | "receivers", rest)) => rest,
        _ => base,
    };
    let mut out = String::with_capacity(rest.len() + 4);
    for c in rest.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out
}

/// One sample of a family: its name suffix (`""`, `_sum`, `_count`), its
/// labels in order, and value.
type Sample = (&'static str, Vec<(String, String)>, f64);

/// Where one figure goes: family, kind and fixed labels.
type Mapping = (String, Kind, &'static [(&'static str, &'static str)]);

/// Prometheus text exposition (format 0.0.4) of the stages'
/// `(dotted.name, value)` pairs: one `# TYPE` (counter, gauge or summary)
/// per family, the stage, listener and reason as labels, durations in
/// seconds. Families appear in the order of their first figure.
pub fn prometheus_text(stats: &[(String, f64)]) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut families: BTreeMap<String, (&'static str, Vec<Sample>)> = BTreeMap::new();
    for (name, value) in stats {
        let (base, labels) = split_labels(name);
        let stage = stage_of(base);
        let rows: Vec<&Exposed> = EXPOSITION.iter().filter(|r| r.source == base).collect();
        let exposed: Vec<Mapping> = if rows.is_empty() {
            vec![(fallback_family(base), Gauge, &[][..])]
        } else {
            rows.iter()
                .map(|r| (r.family.to_string(), r.kind, r.labels))
                .collect()
        };
        for (family, kind, fixed) in exposed {
            let family = format!("ferrograph_{family}");
            let mut all = vec![("stage".to_string(), stage.to_string())];
            all.extend(fixed.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            all.extend(labels.iter().cloned());
            let (type_name, suffix, value) = match kind {
                Counter => ("counter", "", *value),
                Gauge => ("gauge", "", *value),
                SummaryCount => ("summary", "_count", *value),
                SummarySumMicros => ("summary", "_sum", *value / 1e6),
            };
            if !families.contains_key(&family) {
                order.push(family.clone());
            }
            families
                .entry(family)
                .or_insert((type_name, Vec::new()))
                .1
                .push((suffix, all, value));
        }
    }
    let mut out = String::with_capacity(stats.len() * 64);
    for family in order {
        let Some((type_name, samples)) = families.get(&family) else {
            continue;
        };
        let _ = writeln!(out, "# TYPE {family} {type_name}");
        let mut seen = std::collections::HashSet::new();
        for (suffix, labels, value) in samples {
            let labels = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect::<Vec<_>>()
                .join(",");
            let line = format!("{family}{suffix}{{{labels}}}");
            // Two figures mapped to one sample would make an invalid page.
            if seen.insert(line.clone()) {
                let _ = writeln!(out, "{line} {}", prometheus_value(*value));
            }
        }
    }
    out
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn prometheus_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_typed_with_stage_and_reason_labels() {
        let text = prometheus_text(&[
            ("statsd.bad_lines{reason=\"bad_value\"}".into(), 3.0),
            ("statsd.bad_lines{reason=\"missing_type\"}".into(), 1.0),
            ("cache.size".into(), 5.0),
            ("statsd.flushes".into(), 4.0),
            ("statsd.flush_micros".into(), 2_000_000.0),
            ("receivers.badLines".into(), 2.0),
            ("render.max_micros".into(), f64::INFINITY),
        ]);
        assert_eq!(
            text,
            "# TYPE ferrograph_bad_lines_total counter\n\
             ferrograph_bad_lines_total{stage=\"statsd\",reason=\"bad_value\"} 3\n\
             ferrograph_bad_lines_total{stage=\"statsd\",reason=\"missing_type\"} 1\n\
             ferrograph_bad_lines_total{stage=\"carbon\"} 2\n\
             # TYPE ferrograph_cache_points gauge\n\
             ferrograph_cache_points{stage=\"storage\"} 5\n\
             # TYPE ferrograph_flush_duration_seconds summary\n\
             ferrograph_flush_duration_seconds_count{stage=\"statsd\"} 4\n\
             ferrograph_flush_duration_seconds_sum{stage=\"statsd\"} 2\n\
             # TYPE ferrograph_http_request_duration_max_seconds gauge\n\
             ferrograph_http_request_duration_max_seconds{stage=\"render\"} +Inf\n"
        );
    }

    #[test]
    fn unknown_figures_are_still_exposed_as_gauges() {
        let text = prometheus_text(&[("statsd.newThing.count".into(), 1.0)]);
        assert_eq!(
            text,
            "# TYPE ferrograph_new_thing_count gauge\nferrograph_new_thing_count{stage=\"statsd\"} 1\n"
        );
    }

    #[test]
    fn prefixed_sources_name_their_stage() {
        let source = prefixed("render", || vec![("requests".into(), 2.0)]);
        assert_eq!(source(), vec![("render.requests".to_string(), 2.0)]);
    }
}
