//! The pipeline's own health: every stage's counters, written into the
//! store under `[storage] self_metrics_prefix` (by the store's self-metrics
//! thread) and served at `GET /metrics` in Prometheus' text format.

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

/// Prometheus text exposition (format 0.0.4) of `(dotted.name, value)`
/// pairs: each becomes `ferrograph_<name with non-word characters as _>`.
/// Counters and gauges are not told apart by the stages, so every sample
/// is `untyped`.
pub fn prometheus_text(stats: &[(String, f64)]) -> String {
    let mut out = String::with_capacity(stats.len() * 48);
    let mut seen = std::collections::HashSet::new();
    for (name, value) in stats {
        let metric: String = std::iter::once("ferrograph_")
            .chain(std::iter::once(name.as_str()))
            .collect::<String>()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // Two stage names that sanitize alike would make an invalid page.
        if !seen.insert(metric.clone()) {
            continue;
        }
        let _ = writeln!(out, "# TYPE {metric} untyped");
        let _ = writeln!(out, "{metric} {}", prometheus_value(*value));
    }
    out
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
    fn prometheus_names_and_values() {
        let text = prometheus_text(&[
            ("statsd.bad_lines_seen".into(), 3.0),
            ("cache.size".into(), 0.5),
            ("render.max-micros".into(), f64::INFINITY),
            ("cache_size".into(), 9.0),
        ]);
        assert_eq!(
            text,
            "# TYPE ferrograph_statsd_bad_lines_seen untyped\nferrograph_statsd_bad_lines_seen 3\n\
             # TYPE ferrograph_cache_size untyped\nferrograph_cache_size 0.5\n\
             # TYPE ferrograph_render_max_micros untyped\nferrograph_render_max_micros +Inf\n"
        );
    }

    #[test]
    fn prefixed_sources_name_their_stage() {
        let source = prefixed("render", || vec![("requests".into(), 2.0)]);
        assert_eq!(source(), vec![("render.requests".to_string(), 2.0)]);
    }
}
