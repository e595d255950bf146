use aggregator::statsd::{lines, parse_line, ParseOptions};
use criterion::{BenchmarkId, Criterion, Throughput};

/// Parses datagrams of different shapes; counts the samples to check the
/// answer inside the loop.
pub fn parse(c: &mut Criterion) {
    let opts = ParseOptions::default();
    let twenty: String = (0..20)
        .map(|i| format!("app.req.k{i}:{i}|ms|@0.5"))
        .collect::<Vec<_>>()
        .join("\n");
    let cases: Vec<(&str, String, usize)> = vec![
        ("shape=counter", "app.requests.count:1|c".to_string(), 1),
        (
            "shape=sampled_timer",
            "app.latency.p:12.5|ms|@0.1".to_string(),
            1,
        ),
        (
            "shape=tagged_counter",
            "app.requests:1|c|#env:prod,region:eu-west-1".to_string(),
            1,
        ),
        (
            "shape=needs_sanitizing",
            "app/requests count@x:1|c".to_string(),
            1,
        ),
        ("shape=20_lines", twenty, 20),
    ];
    let mut group = c.benchmark_group("aggregator::statsd::parse");
    for (name, datagram, want) in &cases {
        group.throughput(Throughput::Bytes(datagram.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), datagram, |b, d| {
            b.iter(|| {
                let mut n = 0;
                for line in lines(d) {
                    let l = parse_line(line, &opts);
                    n += l.samples().filter(|s| s.is_ok()).count();
                }
                assert_eq!(n, *want);
                n
            })
        });
    }
    group.finish();
}
