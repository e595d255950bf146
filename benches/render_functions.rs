use criterion::{BenchmarkId, Criterion, Throughput};
use render_api::{parse_target, Context, Evaluator, Limits};

use crate::render_eval::{memory, Memory, POINTS, START};

const SERIES: usize = 1000;

/// Evaluates each target over 1,000 series × one day at 10 s (the series
/// of `render_eval`), checking the number of result series in the loop.
fn run(c: &mut Criterion, group: &str, cases: &[(&str, &str, usize)]) {
    let read: Memory = memory(SERIES);
    let ctx = Context::new(START - 10, START + POINTS as i64 * 10 - 10);
    let mut g = c.benchmark_group(group);
    g.sample_size(10);
    g.throughput(Throughput::Elements((SERIES * POINTS) as u64));
    for (name, target, want) in cases {
        let tree = parse_target(target).expect("bench target parses");
        g.bench_function(
            BenchmarkId::new(*name, format!("series={SERIES}/points={POINTS}")),
            |b| {
                b.iter(|| {
                    let mut ev = Evaluator::new(&read, Limits::default());
                    let out = ev
                        .evaluate_targets(&ctx, std::slice::from_ref(&tree))
                        .expect("bench target evaluates");
                    assert_eq!(out.len(), *want);
                })
            },
        );
    }
    g.finish();
}

/// `render_api::functions::combine`
pub fn combine(c: &mut Criterion) {
    run(
        c,
        "render_api::functions::combine",
        &[
            ("percentileOfSeries", "percentileOfSeries(a.*, 95)", 1),
            ("groupByNode_max", "groupByNode(a.*, 0, 'max')", 1),
            ("asPercent", "asPercent(a.*)", SERIES),
            ("divideSeriesLists", "divideSeriesLists(a.*, a.*)", SERIES),
            ("multiplySeries", "multiplySeries(a.*)", 1),
        ],
    );
}

/// `render_api::functions::transform`
pub fn transform(c: &mut Criterion) {
    run(
        c,
        "render_api::functions::transform",
        &[
            ("scale", "scale(a.*, 2)", SERIES),
            ("perSecond", "perSecond(a.*)", SERIES),
            ("keepLastValue", "keepLastValue(a.*)", SERIES),
            ("summarize_1h_avg", "summarize(a.*, '1h', 'avg')", SERIES),
        ],
    );
}
