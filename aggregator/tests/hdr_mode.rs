//! `timer_mode = "hdr"` through the whole engine: keys under
//! `hdr_exact_values` flush exactly as in exact mode (so exactly as Etsy
//! StatsD, which the differential suite checks for exact mode), a flooded
//! key flushes within the documented error, and clamped values are counted.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aggregator::hdr::HdrSpec;
use aggregator::{Engine, RawConfig};
use storage::{Ingest, IngestError, IngestReport, MetricPoint};

struct Collect(Mutex<Vec<MetricPoint>>);

impl Ingest for Collect {
    fn ingest(&self, p: Vec<MetricPoint>) -> Result<IngestReport, IngestError> {
        self.0.lock().unwrap().extend(p);
        Ok(IngestReport::default())
    }
}

fn run(timer_mode: &str, packets: &[String]) -> (BTreeMap<String, f64>, Vec<(String, u64)>) {
    let raw = RawConfig {
        udp: String::new(),
        tcp: String::new(),
        admin: String::new(),
        percentiles: vec![90.0, 99.9, -10.0],
        timer_mode: timer_mode.into(),
        hdr_exact_values: 100,
        hdr_max_value: 60_000.0,
        ..RawConfig::default()
    };
    let sink = Arc::new(Collect(Mutex::new(Vec::new())));
    let engine = Engine::new(raw.validate().unwrap(), sink.clone());
    for p in packets {
        engine.handle_packet(p);
    }
    engine.flush(1_700_000_000);
    let points = sink
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.name.starts_with("stats.timers."))
        .map(|p| (p.name.clone(), p.value))
        .collect();
    (points, engine.stats())
}

#[test]
fn quiet_keys_are_exact_and_a_flood_is_within_the_error() {
    let mut packets = Vec::new();
    for k in 0..50 {
        let lines: Vec<String> = (0..100)
            .map(|i| format!("quiet{k}:{}|ms", (i * 37 + k) % 101))
            .collect();
        packets.push(lines.join("\n"));
    }
    // 20,000 values, two of them outside [0, hdr_max_value].
    let mut flood: Vec<f64> = (0..20_000).map(|i| f64::from(i % 7919) * 0.913).collect();
    flood.push(90_000.0);
    flood.push(-5.0);
    for chunk in flood.chunks(25) {
        let lines: Vec<String> = chunk.iter().map(|v| format!("flood:{v}|ms ")).collect();
        packets.push(lines.join("\n"));
    }
    let (exact, _) = run("exact", &packets);
    let (hdr, stats) = run("hdr", &packets);
    assert_eq!(
        exact.keys().collect::<Vec<_>>(),
        hdr.keys().collect::<Vec<_>>()
    );
    for (name, want) in exact.iter().filter(|(n, _)| n.contains(".quiet")) {
        assert_eq!(hdr[name], *want, "{name}");
    }
    let spec = HdrSpec::new(3, 0.001, 60_000.0).unwrap();
    for field in ["count", "upper", "lower", "count_90"] {
        let name = format!("stats.timers.flood.{field}");
        assert_eq!(hdr[&name], exact[&name], "{name}");
    }
    for field in ["upper_90", "upper_99_9", "median"] {
        let name = format!("stats.timers.flood.{field}");
        let (got, want) = (hdr[&name], exact[&name]);
        assert!(
            (got - want).abs() <= spec.value_error(want),
            "{name}: hdr {got}, exact {want}"
        );
    }
    for field in ["sum", "mean", "std", "sum_squares"] {
        let name = format!("stats.timers.flood.{field}");
        let (got, want) = (hdr[&name], exact[&name]);
        assert!(
            (got - want).abs() <= 1e-9 * want.abs(),
            "{name}: hdr {got}, exact {want}"
        );
    }
    let clamped = stats.iter().find(|(n, _)| n == "timer_values_clamped");
    assert_eq!(clamped.map(|(_, v)| *v), Some(2), "{stats:?}");
}
