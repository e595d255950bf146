use std::sync::Arc;

use aggregator::l2met::{logplex_frames, parse_line, syslog_message};
use criterion::{BenchmarkId, Criterion, Throughput};
use storage::rules::{AggregationRules, IngestRules, RewriteRules, RuledIngest};
use storage::{Backpressure, Ingest, IngestError, IngestReport, MetricPoint, Offered};

/// Takes everything, keeps nothing.
struct Discard;

impl Ingest for Discard {
    fn ingest(&self, points: Vec<MetricPoint>) -> Result<IngestReport, IngestError> {
        Ok(IngestReport {
            accepted: points.len(),
            ..IngestReport::default()
        })
    }
}

impl Backpressure for Discard {
    fn offer(&self, points: Vec<MetricPoint>) -> Result<Offered, IngestError> {
        Ok(Offered {
            report: self.ingest(points)?,
            rest: Vec::new(),
        })
    }
}

const AGGREGATION: &str = "\
aggsum.<app>.requests (10) = sum app.<app>.*.requests
aggmax.<app>.latency (10) = max app.<app>.*.latency
aggp90.<app>.latency (60) = p90 app.<app>.*.latency
count.hosts (60) = count app.*.*.requests
";

const REWRITE: &str = "[pre]\n^legacy\\.(.*) = app.\\1\n[post]\n\\.requests$ = .req\n";

/// Batches of 1,000 carbon points through the rules in front of storage:
/// none configured (the wrapper alone), rewrites only, rewrites plus four
/// aggregation rules (half the points match two of them).
pub fn ingest(c: &mut Criterion) {
    // Old timestamps: every bucket is written and forgotten at the next
    // tick, so the buffers stay small however long the bench runs.
    let batch: Vec<MetricPoint> = (0..1000)
        .map(|i| {
            let name = match i % 4 {
                0 => format!("app.web{}.host{}.requests", i % 3, i % 50),
                1 => format!("app.web{}.host{}.latency", i % 3, i % 50),
                2 => format!("legacy.web{}.host{}.requests", i % 3, i % 50),
                _ => format!("other.series.n{i}"),
            };
            MetricPoint::new(name, 1_000_000 + i, i as f64)
        })
        .collect();
    let mut group = c.benchmark_group("storage::rules::ingest");
    group.throughput(Throughput::Elements(batch.len() as u64));
    for (name, aggregation, rewrite) in [
        ("rules=none", "", ""),
        ("rules=rewrite", "", REWRITE),
        ("rules=rewrite+aggregation", AGGREGATION, REWRITE),
    ] {
        let rules = IngestRules {
            rewrite: RewriteRules::parse(rewrite, "bench").0,
            aggregation: AggregationRules::parse(aggregation, "bench").0,
            keep_inputs: true,
            max_intervals: 5,
            max_values: 50_000_000,
            problems: Vec::new(),
        };
        let sink = Arc::new(Discard);
        let ruled = RuledIngest::start(rules, sink.clone(), sink).expect("start the rules");
        let handle = ruled.ingest_handle();
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let report = handle.ingest(batch.clone()).expect("ingest");
                assert_eq!(report.accepted, batch.len());
            })
        });
        drop(handle);
        ruled.shutdown();
    }
    group.finish();
}

/// A logplex body of 100 Heroku frames, each with three l2met fields.
pub fn l2met(c: &mut Criterion) {
    let mut body = String::new();
    for i in 0..100 {
        let frame = format!(
            "<190>1 2024-05-01T10:00:00.000000+00:00 host app web.{i} - at=info \
             measure#db.latency={i}ms count#requests=1 sample#queue.depth={i} source=web.{i}"
        );
        body.push_str(&format!("{} {frame}", frame.len()));
    }
    let mut group = c.benchmark_group("aggregator::l2met::parse");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("logplex_100_frames", |b| {
        b.iter(|| {
            let mut metrics = 0;
            for frame in logplex_frames(body.as_bytes()).flatten() {
                let text = String::from_utf8_lossy(frame);
                if let Ok(message) = syslog_message(&text) {
                    metrics += parse_line(message).metrics.len();
                }
            }
            assert_eq!(metrics, 300);
        })
    });
    group.finish();
}
