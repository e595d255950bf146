//! Ingest rules: carbon's `rewrite-rules.conf` and carbon-aggregator's
//! `aggregation-rules.conf`, applied in-process to every point entering
//! storage, in carbon-aggregator's order:
//!
//! ```text
//! points -> [pre] rewrite -> aggregation buffers -> [post] rewrite -> storage   (inputs)
//!                                  \--timer: closed buckets---------> storage   (outputs)
//! ```
//!
//! [`RuledIngest`] wraps the store's two doors (`Ingest` and `Backpressure`)
//! so every producer (carbon receivers, StatsD flushes, log metrics) passes
//! through the rules. Inputs are still stored unless `keep_inputs` is off
//! (then inputs that matched a rule are dropped; carbon's `FORWARD_ALL`).
//! Generated points skip the rewrite rules and the aggregation, exactly as
//! carbon runs them through its "generated" pipeline (relay/write only).
//!
//! A timer thread (`storage-rules`) emits closed buckets once a second. At
//! shutdown ([`RuledIngest::shutdown`], after the producers stopped) every
//! bucket holding values not yet emitted is emitted, open ones with what
//! they hold so far, so a SIGTERM loses nothing buffered; an open bucket
//! whose remaining inputs arrive after a restart is then emitted again with
//! only those (carbon-aggregator loses its open buffers at stop instead).

pub mod aggregation;
pub mod rewrite;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use aggregation::{AggregationRule, AggregationRules, Buffers, Method};
pub use rewrite::{RewriteRule, RewriteRules, Stage};

use crate::api::{Ingest, IngestError, IngestReport, MetricPoint, Timestamp};
use crate::flow::{Backpressure, Offered};
use crate::schema::ConfigProblem;
use crate::store::StatsSource;

/// carbon's `MAX_AGGREGATION_INTERVALS` default.
pub const DEFAULT_MAX_INTERVALS: u32 = 5;

/// The rules of both files and how to apply them.
#[derive(Clone, Debug)]
pub struct IngestRules {
    /// `[pre]` and `[post]` rewrite rules.
    pub rewrite: RewriteRules,
    /// Aggregation rules.
    pub aggregation: AggregationRules,
    /// Store the inputs of aggregation rules too (carbon's `FORWARD_ALL`).
    pub keep_inputs: bool,
    /// Buckets are kept this many frequencies after the current one.
    pub max_intervals: u32,
    /// Values held in all buckets at most; more are refused and counted.
    pub max_values: usize,
    /// Lines skipped when the files were read.
    pub problems: Vec<ConfigProblem>,
}

impl IngestRules {
    /// Reads the two files (`None` = no such rules). A file that cannot be
    /// read is an error; lines that do not parse are skipped and listed in
    /// [`IngestRules::problems`].
    pub fn load(
        aggregation: Option<&Path>,
        rewrite: Option<&Path>,
    ) -> Result<IngestRules, ConfigProblem> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|e| ConfigProblem {
                file: path.display().to_string(),
                section: None,
                line: 0,
                message: format!("cannot read the rules file: {e}"),
            })
        };
        let mut problems = Vec::new();
        let rewrite = match rewrite {
            Some(path) => {
                let (rules, p) = RewriteRules::parse(&read(path)?, &path.display().to_string());
                problems.extend(p);
                rules
            }
            None => RewriteRules::default(),
        };
        let aggregation = match aggregation {
            Some(path) => {
                let (rules, p) = AggregationRules::parse(&read(path)?, &path.display().to_string());
                problems.extend(p);
                rules
            }
            None => AggregationRules::default(),
        };
        Ok(IngestRules {
            rewrite,
            aggregation,
            keep_inputs: true,
            max_intervals: DEFAULT_MAX_INTERVALS,
            max_values: 10_000_000,
            problems,
        })
    }
}

/// Counters of the rules, under `rules.` in self-metrics.
#[derive(Debug, Default)]
pub struct RuleStats {
    /// Points that entered the rules.
    pub inputs: AtomicU64,
    /// Names changed by a rewrite rule (either stage).
    pub rewritten: AtomicU64,
    /// Inputs that matched at least one aggregation rule.
    pub aggregated: AtomicU64,
    /// Inputs not stored: `keep_inputs` off, or named like their own output.
    pub inputs_dropped: AtomicU64,
    /// Values not buffered because `max_values` were held.
    pub values_refused: AtomicU64,
    /// Aggregated points emitted to storage.
    pub outputs: AtomicU64,
    /// Aggregated points storage refused (full cache, invalid name).
    pub outputs_refused: AtomicU64,
    /// Lines of the rules files skipped when they were read.
    pub parse_errors: AtomicU64,
}

/// Buffers gauges read with the counters.
#[derive(Debug, Default)]
struct Gauges {
    outputs: AtomicU64,
    values: AtomicU64,
}

/// Marks a point handed back by [`Backpressure::offer`]: the rules were
/// applied to it already, so when the receiver offers it again it is only
/// forwarded. A NUL never starts a name storage accepts.
const HANDED_BACK: char = '\0';

struct Shared {
    rewrite: RewriteRules,
    /// The aggregation rules, shared with `buffers` (matched unlocked).
    aggregation: Option<Arc<AggregationRules>>,
    keep_inputs: bool,
    buffers: Option<Mutex<Buffers>>,
    inner: Arc<dyn Ingest>,
    flow: Arc<dyn Backpressure>,
    stats: RuleStats,
    gauges: Gauges,
}

impl Shared {
    /// Applies the rules to fresh inputs: appends what is to be stored to
    /// `forward` and returns how many were consumed (not forwarded).
    fn process(&self, points: Vec<MetricPoint>, forward: &mut Vec<MetricPoint>) -> usize {
        if points.is_empty() {
            return 0;
        }
        self.stats
            .inputs
            .fetch_add(points.len() as u64, Ordering::Relaxed);
        let mut rewritten = 0u64;
        let mut aggregated = 0u64;
        let mut refused = 0u64;
        let mut consumed = 0usize;
        // The regex work (rewrites, rule matching) is done before the
        // buffers are locked, so concurrent producers only queue on the
        // insertions.
        let mut prepared = Vec::with_capacity(points.len());
        for mut point in points {
            if let std::borrow::Cow::Owned(name) = self.rewrite.apply(Stage::Pre, &point.name) {
                point.name = name;
                rewritten += 1;
            }
            let matches = match &self.aggregation {
                Some(rules) => rules.matches(&point.name),
                None => Vec::new(),
            };
            prepared.push((point, matches));
        }
        let mut buffers = match &self.buffers {
            Some(b) if prepared.iter().any(|(_, m)| !m.is_empty()) => {
                Some(b.lock().unwrap_or_else(|p| p.into_inner()))
            }
            _ => None,
        };
        for (mut point, matches) in prepared {
            let mut keep = true;
            if let (Some(buffers), false) = (buffers.as_mut(), matches.is_empty()) {
                let matched = buffers.add_matched(matches, point.timestamp, point.value);
                refused += matched.refused as u64;
                aggregated += 1;
                keep = self.keep_inputs && !matched.outputs.contains(&point.name);
            }
            if !keep {
                consumed += 1;
                continue;
            }
            if let std::borrow::Cow::Owned(name) = self.rewrite.apply(Stage::Post, &point.name) {
                point.name = name;
                rewritten += 1;
            }
            forward.push(point);
        }
        if let Some(buffers) = buffers {
            self.gauges
                .outputs
                .store(buffers.outputs() as u64, Ordering::Relaxed);
            self.gauges
                .values
                .store(buffers.values() as u64, Ordering::Relaxed);
        }
        let s = &self.stats;
        s.rewritten.fetch_add(rewritten, Ordering::Relaxed);
        s.aggregated.fetch_add(aggregated, Ordering::Relaxed);
        s.values_refused.fetch_add(refused, Ordering::Relaxed);
        s.inputs_dropped
            .fetch_add(consumed as u64, Ordering::Relaxed);
        consumed
    }

    /// Emits what the buckets have to give at `now` into storage.
    fn emit(&self, now: Timestamp, everything: bool) {
        let Some(buffers) = &self.buffers else {
            return;
        };
        let points = {
            let mut b = buffers.lock().unwrap_or_else(|p| p.into_inner());
            let points = b.tick(now, everything);
            self.gauges
                .outputs
                .store(b.outputs() as u64, Ordering::Relaxed);
            self.gauges
                .values
                .store(b.values() as u64, Ordering::Relaxed);
            points
        };
        if points.is_empty() {
            return;
        }
        let n = points.len() as u64;
        self.stats.outputs.fetch_add(n, Ordering::Relaxed);
        match self.inner.ingest(points) {
            Ok(report) => {
                let refused = (report.rejected + report.overflowed) as u64;
                self.stats
                    .outputs_refused
                    .fetch_add(refused, Ordering::Relaxed);
            }
            Err(e) => {
                self.stats.outputs_refused.fetch_add(n, Ordering::Relaxed);
                tracing::warn!(error = %e, points = n, "storage refused aggregated points");
            }
        }
    }

    fn snapshot(&self) -> Vec<(String, f64)> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        let s = &self.stats;
        vec![
            ("rules.inputs".into(), g(&s.inputs)),
            ("rules.rewritten".into(), g(&s.rewritten)),
            ("rules.aggregated".into(), g(&s.aggregated)),
            ("rules.inputsDropped".into(), g(&s.inputs_dropped)),
            ("rules.valuesRefused".into(), g(&s.values_refused)),
            ("rules.outputs".into(), g(&s.outputs)),
            ("rules.outputsRefused".into(), g(&s.outputs_refused)),
            ("rules.parseErrors".into(), g(&s.parse_errors)),
            ("rules.buffers".into(), g(&self.gauges.outputs)),
            ("rules.bufferedValues".into(), g(&self.gauges.values)),
        ]
    }
}

impl Ingest for Shared {
    fn ingest(&self, points: Vec<MetricPoint>) -> Result<IngestReport, IngestError> {
        let mut forward = Vec::with_capacity(points.len());
        let consumed = self.process(points, &mut forward);
        let mut report = if forward.is_empty() {
            IngestReport::default()
        } else {
            self.inner.ingest(forward)?
        };
        report.accepted += consumed;
        Ok(report)
    }
}

impl Backpressure for Shared {
    fn offer(&self, points: Vec<MetricPoint>) -> Result<Offered, IngestError> {
        let mut forward = Vec::with_capacity(points.len());
        let mut fresh = Vec::new();
        for mut point in points {
            if point.name.starts_with(HANDED_BACK) {
                point.name.remove(0);
                forward.push(point);
            } else {
                fresh.push(point);
            }
        }
        let consumed = self.process(fresh, &mut forward);
        let mut offered = if forward.is_empty() {
            Offered::default()
        } else {
            self.flow.offer(forward)?
        };
        for point in &mut offered.rest {
            point.name.insert(0, HANDED_BACK);
        }
        offered.report.accepted += consumed;
        Ok(offered)
    }
}

fn unix_now() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as Timestamp)
        .unwrap_or(0)
}

/// The rules in front of storage, with the thread that emits closed
/// buckets. Stop it with [`RuledIngest::shutdown`] after the producers and
/// before the store.
pub struct RuledIngest {
    shared: Arc<Shared>,
    timer: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl RuledIngest {
    /// Starts applying `rules` in front of `inner` (points) and `flow`
    /// (points from producers that can wait).
    pub fn start(
        rules: IngestRules,
        inner: Arc<dyn Ingest>,
        flow: Arc<dyn Backpressure>,
    ) -> std::io::Result<RuledIngest> {
        let buffers = (!rules.aggregation.is_empty()).then(|| {
            Mutex::new(Buffers::new(
                rules.aggregation,
                rules.max_intervals,
                rules.max_values,
            ))
        });
        let stats = RuleStats::default();
        stats
            .parse_errors
            .store(rules.problems.len() as u64, Ordering::Relaxed);
        let aggregation = buffers
            .as_ref()
            .map(|b| b.lock().unwrap_or_else(|p| p.into_inner()).rules());
        let shared = Arc::new(Shared {
            rewrite: rules.rewrite,
            aggregation,
            keep_inputs: rules.keep_inputs,
            buffers,
            inner,
            flow,
            stats,
            gauges: Gauges::default(),
        });
        let timer = if shared.buffers.is_some() {
            let (stop, stopped) = mpsc::channel::<()>();
            let s = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name("storage-rules".into())
                .spawn(move || loop {
                    match stopped.recv_timeout(Duration::from_secs(1)) {
                        Err(mpsc::RecvTimeoutError::Timeout) => s.emit(unix_now(), false),
                        _ => return,
                    }
                })?;
            Some((stop, handle))
        } else {
            None
        };
        Ok(RuledIngest { shared, timer })
    }

    /// The handle producers write through.
    pub fn ingest_handle(&self) -> Arc<dyn Ingest> {
        Arc::clone(&self.shared) as Arc<dyn Ingest>
    }

    /// The handle producers that can wait offer points through.
    pub fn backpressure_handle(&self) -> Arc<dyn Backpressure> {
        Arc::clone(&self.shared) as Arc<dyn Backpressure>
    }

    /// The counters, for self-metrics.
    pub fn stats(&self) -> &RuleStats {
        &self.shared.stats
    }

    /// A self-metrics source (`rules.*`).
    pub fn stats_source(&self) -> StatsSource {
        let shared = Arc::clone(&self.shared);
        Arc::new(move || shared.snapshot())
    }

    /// Stops the timer and emits every bucket holding values not yet
    /// emitted, open ones included, into storage.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some((stop, handle)) = self.timer.take() {
            let _ = stop.send(());
            let _ = handle.join();
            self.shared.emit(unix_now(), true);
        }
    }
}

impl Drop for RuledIngest {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What [`replay`] stored, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replayed {
    /// Inputs forwarded to storage (after the rewrites).
    pub forwarded: Vec<MetricPoint>,
    /// Points the aggregation emitted.
    pub generated: Vec<MetricPoint>,
}

/// Runs `rules` over scripted input on a scripted clock, through the same
/// code as [`RuledIngest`]: at each step `(now, points)` the points go in,
/// then the buckets are emitted as the timer would at `now`. The
/// differential tests compare it with carbon's own aggregator.
pub fn replay(rules: IngestRules, steps: &[(Timestamp, Vec<MetricPoint>)]) -> Replayed {
    #[derive(Default)]
    struct Collect(Mutex<Vec<MetricPoint>>);
    impl Collect {
        fn take(&self) -> Vec<MetricPoint> {
            std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
        }
    }
    impl Ingest for Collect {
        fn ingest(&self, points: Vec<MetricPoint>) -> Result<IngestReport, IngestError> {
            let accepted = points.len();
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(points);
            Ok(IngestReport {
                accepted,
                ..IngestReport::default()
            })
        }
    }
    impl Backpressure for Collect {
        fn offer(&self, points: Vec<MetricPoint>) -> Result<Offered, IngestError> {
            Ok(Offered {
                report: self.ingest(points)?,
                rest: Vec::new(),
            })
        }
    }
    let sink = Arc::new(Collect::default());
    let buffers = Buffers::new(rules.aggregation, rules.max_intervals, rules.max_values);
    let shared = Shared {
        rewrite: rules.rewrite,
        aggregation: Some(buffers.rules()),
        keep_inputs: rules.keep_inputs,
        buffers: Some(Mutex::new(buffers)),
        inner: sink.clone(),
        flow: sink.clone(),
        stats: RuleStats::default(),
        gauges: Gauges::default(),
    };
    let mut out = Replayed::default();
    for (now, points) in steps {
        let _ = Ingest::ingest(&shared, points.clone());
        out.forwarded.extend(sink.take());
        shared.emit(*now, false);
        out.generated.extend(sink.take());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes what fits (`room` points per offer), hands back the rest.
    struct Sink {
        got: Mutex<Vec<MetricPoint>>,
        room: usize,
    }

    impl Ingest for Sink {
        fn ingest(&self, points: Vec<MetricPoint>) -> Result<IngestReport, IngestError> {
            let accepted = points.len();
            self.got.lock().unwrap().extend(points);
            Ok(IngestReport {
                accepted,
                ..Default::default()
            })
        }
    }

    impl Backpressure for Sink {
        fn offer(&self, mut points: Vec<MetricPoint>) -> Result<Offered, IngestError> {
            let rest = points.split_off(points.len().min(self.room));
            let report = self.ingest(points)?;
            Ok(Offered { report, rest })
        }
    }

    fn rules(agg: &str, rw: &str, keep_inputs: bool) -> IngestRules {
        IngestRules {
            rewrite: RewriteRules::parse(rw, "rw").0,
            aggregation: AggregationRules::parse(agg, "agg").0,
            keep_inputs,
            max_intervals: 5,
            max_values: 1000,
            problems: Vec::new(),
        }
    }

    fn names(sink: &Sink) -> Vec<String> {
        sink.got
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.name.clone())
            .collect()
    }

    #[test]
    fn pre_aggregate_post_and_outputs_skip_the_rewrites() {
        let sink = Arc::new(Sink {
            got: Mutex::new(Vec::new()),
            room: usize::MAX,
        });
        let ruled = RuledIngest::start(
            rules(
                "total (10) = sum new.*\n",
                "[pre]\n^old\\.(.*) = new.\\1\n[post]\n^new\\. = stored.\n^total$ = renamed\n",
                true,
            ),
            sink.clone(),
            sink.clone(),
        )
        .unwrap();
        let report = ruled
            .ingest_handle()
            .ingest(vec![
                MetricPoint::new("old.a", 100, 1.0),
                MetricPoint::new("new.b", 101, 2.0),
                MetricPoint::new("other", 100, 3.0),
            ])
            .unwrap();
        assert_eq!(report.accepted, 3);
        assert_eq!(names(&sink), vec!["stored.a", "stored.b", "other"]);
        ruled.shared.emit(200, false);
        let got = sink.got.lock().unwrap().last().cloned().unwrap();
        assert_eq!(got, MetricPoint::new("total", 100, 3.0));
        assert_eq!(ruled.stats().rewritten.load(Ordering::Relaxed), 3);
        assert_eq!(ruled.stats().outputs.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn dropped_inputs_and_handed_back_points_are_aggregated_once() {
        let sink = Arc::new(Sink {
            got: Mutex::new(Vec::new()),
            room: 1,
        });
        let ruled = RuledIngest::start(
            rules("total (10) = sum a.*\n", "", false),
            sink.clone(),
            sink.clone(),
        )
        .unwrap();
        let flow = ruled.backpressure_handle();
        let mut offered = flow
            .offer(vec![
                MetricPoint::new("a.x", 100, 1.0),
                MetricPoint::new("b", 100, 2.0),
                MetricPoint::new("c", 100, 3.0),
                MetricPoint::new("a.y", 100, 4.0),
            ])
            .unwrap();
        // a.x and a.y consumed, b taken, c handed back
        assert_eq!(offered.report.accepted, 3);
        assert_eq!(offered.rest.len(), 1);
        while !offered.rest.is_empty() {
            offered = flow.offer(offered.rest).unwrap();
        }
        assert_eq!(names(&sink), vec!["b", "c"]);
        drop(flow);
        ruled.shutdown();
        let got = sink.got.lock().unwrap().last().cloned().unwrap();
        assert_eq!(got, MetricPoint::new("total", 100, 5.0));
    }
}
