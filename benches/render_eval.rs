//! Render API benches: target parsing, evaluation of `sumSeries` over many
//! series, and JSON encoding — each against a baseline in the same group
//! (a hand-rolled split for parsing, the general row-wise aggregation for
//! evaluation, serde_json for encoding).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use render_api::format::json::{render as render_json, JsonOptions};
use render_api::{parse_target, Context, Evaluator, Limits, Series};
use storage::{FetchRange, FetchedSeries, FindNode, Read, ReadError, TagExpr};

const GRAFANA_TARGET: &str = "aliasSub(alias(movingAverage(sumSeries(servers.web*.requests.{get,post}.count), '5min'), 'requests'), \"(^.*$)\", \"\\1 A\")";

/// `render_api::target::parse`
pub fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("render_api::target::parse");
    for (name, text) in [
        ("path", "servers.web01.requests.get.count"),
        ("grafana_nested", GRAFANA_TARGET),
        ("pipes", "a.b.*|sumSeries()|scale(0.5)|alias('x')"),
    ] {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(BenchmarkId::new("parse_target", name), text, |b, t| {
            b.iter(|| {
                let tree = parse_target(black_box(t)).expect("parses");
                assert!(!tree.to_string().is_empty());
            })
        });
        // baseline: the cheapest possible tokenisation of the same text
        g.bench_with_input(BenchmarkId::new("split_baseline", name), text, |b, t| {
            b.iter(|| {
                let n = black_box(t).split(['(', ')', ',']).count();
                assert!(n > 0);
            })
        });
    }
    g.finish();
}

/// Series held in memory, answered with Whisper's window rules.
pub(crate) struct Memory {
    series: Vec<FetchedSeries>,
}

impl Read for Memory {
    fn find(&self, _pattern: &str) -> Result<Vec<FindNode>, ReadError> {
        Ok(self
            .series
            .iter()
            .map(|s| FindNode {
                path: s.path.clone(),
                is_leaf: true,
            })
            .collect())
    }
    fn fetch(&self, path: &str, _range: FetchRange) -> Result<Option<FetchedSeries>, ReadError> {
        Ok(self.series.iter().find(|s| s.path == path).cloned())
    }
    fn fetch_many(
        &self,
        paths: &[String],
        _range: FetchRange,
    ) -> Result<Vec<Option<FetchedSeries>>, ReadError> {
        // paths come sorted like the stored series: look up by index
        Ok(paths
            .iter()
            .map(|p| {
                self.series
                    .binary_search_by(|s| s.path.as_str().cmp(p))
                    .ok()
                    .map(|i| self.series[i].clone())
            })
            .collect())
    }
    fn find_tagged(&self, _: &[TagExpr]) -> Result<Vec<String>, ReadError> {
        Ok(Vec::new())
    }
    fn tag_names(&self) -> Result<Vec<String>, ReadError> {
        Ok(Vec::new())
    }
    fn tag_values(&self, _: &str) -> Result<Vec<(String, usize)>, ReadError> {
        Ok(Vec::new())
    }
    fn tag_series(&self, p: &str) -> Result<String, ReadError> {
        Ok(p.to_string())
    }
    fn del_series(&self, _: &str) -> Result<bool, ReadError> {
        Ok(false)
    }
}

pub(crate) const POINTS: usize = 8640; // one day at 10 s
pub(crate) const START: i64 = 1_699_913_610;

pub(crate) fn memory(count: usize) -> Memory {
    Memory {
        series: (0..count)
            .map(|m| FetchedSeries {
                path: format!("a.m{m:05}"),
                start: START,
                end: START + POINTS as i64 * 10,
                step: 10,
                values: (0..POINTS).map(|i| Some(((i + m) % 100) as f64)).collect(),
                aggregation: None,
            })
            .collect(),
    }
}

/// `render_api::eval`
pub fn evaluate(c: &mut Criterion) {
    let mut g = c.benchmark_group("render_api::eval");
    g.sample_size(10);
    for count in [100usize, 1000] {
        let read = memory(count);
        let ctx = Context::new(START - 10, START + POINTS as i64 * 10 - 10);
        let expected: f64 = (0..count).map(|m| (m % 100) as f64).sum();
        g.throughput(Throughput::Elements((count * POINTS) as u64));
        for (name, target) in [
            ("sumSeries_streamed", "sumSeries(a.*)"),
            ("aggregate_materialised", "aggregate(a.*, 'sum')"),
        ] {
            let tree = parse_target(target).expect("parses");
            g.bench_function(
                BenchmarkId::new(name, format!("series={count}/points={POINTS}")),
                |b| {
                    b.iter(|| {
                        let mut ev = Evaluator::new(&read, Limits::default());
                        let out = ev
                            .evaluate_targets(&ctx, std::slice::from_ref(&tree))
                            .expect("evaluates");
                        assert_eq!(out[0].values[0], Some(expected));
                    })
                },
            );
        }
    }
    g.finish();
}

/// `render_api::format::json`
pub fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("render_api::format::json");
    for count in [1usize, 100] {
        let series: Vec<Series> = (0..count)
            .map(|m| {
                Series::new(
                    format!("a.m{m:05}"),
                    START,
                    START + POINTS as i64 * 10,
                    10,
                    (0..POINTS)
                        .map(|i| (i % 7 != 3).then_some(i as f64 * 0.25))
                        .collect(),
                    0.0,
                )
            })
            .collect();
        g.throughput(Throughput::Elements((count * POINTS) as u64));
        g.bench_function(
            BenchmarkId::new("graphite_json", format!("series={count}")),
            |b| {
                b.iter(|| {
                    let text = render_json(black_box(&series), JsonOptions::default());
                    assert!(text.len() > count * POINTS * 10);
                })
            },
        );
        // baseline: serde_json over the same datapoints
        g.bench_function(
            BenchmarkId::new("serde_json_baseline", format!("series={count}")),
            |b| {
                b.iter(|| {
                    let doc: Vec<serde_json::Value> = series
                        .iter()
                        .map(|s| {
                            serde_json::json!({
                                "target": s.name,
                                "tags": s.tags,
                                "datapoints": s.datapoints(),
                            })
                        })
                        .collect();
                    let text = serde_json::to_string(black_box(&doc)).expect("serialises");
                    assert!(text.len() > count * POINTS * 10);
                })
            },
        );
    }
    g.finish();
}
