//! Keeping the open interval across a restart (`state_file`).
//!
//! At shutdown the open interval (counters, timer values, sets) and every
//! gauge are written to the state file instead of being flushed early. At
//! start the file is read back and removed: if the saved interval is still
//! open (same aligned interval), its data simply continues; if it has
//! closed meanwhile, it is flushed at once with its own timestamp, so no
//! interval is lost and no Whisper slot receives a partial value. Without
//! `align_flush` the saved data joins the first interval after the start.

use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use storage::MetricPoint;

use crate::bucket::{GaugeState, TimerState};
use crate::server::{interval_start_ms, Core, StartError};
use crate::stats::IntervalCounts;
use crate::time::unix_now_ms;

/// Bumped when the file layout changes; other versions are refused.
/// 2 added timer histograms (hdr mode); version 1 files still load.
const STATE_VERSION: u32 = 2;
const OLDEST_STATE_VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    version: u32,
    /// Start of the aligned interval the data belongs to (aligned mode).
    interval_start_ms: Option<u64>,
    saved_at_ms: u64,
    counters: Vec<(String, f64)>,
    timers: Vec<(String, TimerState)>,
    gauges: Vec<(String, GaugeState)>,
    sets: Vec<(String, Vec<String>)>,
    /// The last flush's points `(name, timestamp, value)`, ingested again
    /// at restore: re-applying a flushed point is harmless (its slot takes
    /// the same value), and so a crash between writing this file and the
    /// flush reaching the store loses nothing.
    #[serde(default)]
    pending_flush: Vec<(String, i64, f64)>,
}

fn err(path: &Path, what: &str, e: impl std::fmt::Display) -> StartError {
    StartError {
        what: format!("state file {}", path.display()),
        source: std::io::Error::other(format!("{what}: {e}")),
    }
}

/// Writes the open interval to the state file at shutdown (atomically:
/// temp + rename).
pub(crate) fn save(core: &Core) -> Result<(), StartError> {
    // Fold the per-interval daemon counters in, as a flush would.
    let counts = core.stats.take_interval();
    if let Some(state) = write_state(core, counts)? {
        tracing::info!(
            path = %core.settings.state_file.as_deref().unwrap_or(Path::new("")).display(),
            counters = state.counters.len(),
            timers = state.timers.len(),
            gauges = state.gauges.len(),
            sets = state.sets.len(),
            "saved the open interval"
        );
    }
    Ok(())
}

/// Writes the open interval to the state file while running (every
/// `snapshot_interval`, and at each flush before its points go to the
/// store), leaving the interval's own counts in place.
pub(crate) fn snapshot(core: &Core) {
    if let Err(e) = write_state(core, core.stats.peek_interval()) {
        tracing::warn!(error = %e, "could not write the StatsD snapshot");
    }
}

/// Builds and writes the state; `None` without a state file.
fn write_state(core: &Core, counts: IntervalCounts) -> Result<Option<State>, StartError> {
    let Some(path) = core.settings.state_file.as_deref() else {
        return Ok(None);
    };
    let _one_writer = core.state_write.lock().unwrap_or_else(|p| p.into_inner());
    let mut state = State {
        version: STATE_VERSION,
        interval_start_ms: core
            .settings
            .align_flush
            .then(|| interval_start_ms(&core.settings, unix_now_ms())),
        saved_at_ms: unix_now_ms(),
        ..State::default()
    };
    for i in 0..core.buckets.shard_count() {
        let shard = core.buckets.lock(i);
        state.counters.extend(
            shard
                .counters
                .iter()
                .filter(|(_, v)| v.is_finite())
                .map(|(k, v)| (k.to_string(), *v)),
        );
        state
            .timers
            .extend(shard.timers.iter().map(|(k, t)| (k.to_string(), t.clone())));
        state.gauges.extend(
            shard
                .gauges
                .iter()
                .filter(|(_, g)| g.value.is_finite())
                .map(|(k, g)| (k.to_string(), *g)),
        );
        state.sets.extend(shard.sets.iter().map(|(k, s)| {
            (
                k.to_string(),
                s.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            )
        }));
    }
    let internal = [
        ("bad_lines_seen", counts.bad),
        ("packets_received", counts.packets),
        ("metrics_received", counts.metrics),
    ];
    for (what, n) in internal {
        let key = format!("{}.{}", core.settings.prefix_stats, what);
        match state.counters.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v += n as f64,
            None => state.counters.push((key, n as f64)),
        }
    }
    state.pending_flush = core
        .last_flush
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|p| (p.name.clone(), p.timestamp, p.value))
        .collect();
    let json = serde_json::to_vec(&state).map_err(|e| err(path, "encode", e))?;
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| err(path, "write", e))?;
    Ok(Some(state))
}

/// Reads the state file back (if any) into the buckets, flushing it at once
/// when its aligned interval has already closed; removes the file.
pub(crate) fn restore(core: &Core) -> Result<(), StartError> {
    let Some(path) = core.settings.state_file.as_deref() else {
        return Ok(());
    };
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(err(path, "read", e)),
    };
    let state: State = serde_json::from_slice(&bytes).map_err(|e| err(path, "decode", e))?;
    if !(OLDEST_STATE_VERSION..=STATE_VERSION).contains(&state.version) {
        return Err(err(
            path,
            "decode",
            format!(
                "version {} (expected {OLDEST_STATE_VERSION} to {STATE_VERSION}); move the file away to start without it",
                state.version
            ),
        ));
    }
    if !state.pending_flush.is_empty() {
        let points: Vec<MetricPoint> = state
            .pending_flush
            .iter()
            .map(|(name, ts, v)| MetricPoint::new(name.clone(), *ts, *v))
            .collect();
        if let Err(e) = core.sink().ingest(points) {
            tracing::warn!(error = %e, "could not hand the last flush to the store again");
        }
    }
    for (k, v) in &state.counters {
        core.buckets.add_counter(k, *v, false);
    }
    for (k, t) in state.timers {
        core.buckets.merge_timer(&k, t);
    }
    for (k, g) in state.gauges {
        let mut shard = core.buckets.lock_key(&k);
        shard.gauges.insert(k.into(), g);
    }
    for (k, members) in state.sets {
        let mut shard = core.buckets.lock_key(&k);
        let set = shard.sets.get_or_insert_default(&k);
        set.extend(members.into_iter().map(crate::key::Key::from));
    }
    core.buckets.recount();
    fs::remove_file(path).map_err(|e| err(path, "remove after reading", e))?;
    let now_start = interval_start_ms(&core.settings, unix_now_ms());
    match state.interval_start_ms {
        Some(start) if core.settings.align_flush && start < now_start => {
            tracing::info!(
                interval_start = start / 1000,
                "the saved interval closed while stopped; flushing it now"
            );
            core.flush((start / 1000) as i64);
        }
        _ => tracing::info!("restored the open interval from the state file"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use storage::{Ingest, IngestError, IngestReport, MetricPoint};

    use super::*;
    use crate::config::RawConfig;

    struct Collect(Mutex<Vec<MetricPoint>>);

    impl Ingest for Collect {
        fn ingest(&self, p: Vec<MetricPoint>) -> Result<IngestReport, IngestError> {
            self.0.lock().unwrap().extend(p);
            Ok(IngestReport::default())
        }
    }

    fn core(state_file: &Path) -> (Core, Arc<Collect>) {
        let raw = RawConfig {
            udp: String::new(),
            tcp: String::new(),
            admin: String::new(),
            timer_mode: "hdr".into(),
            hdr_exact_values: 10,
            percentiles: vec![90.0, -10.0, 50.0],
            state_file: state_file.to_string_lossy().into_owned(),
            ..RawConfig::default()
        };
        let sink = Arc::new(Collect(Mutex::new(Vec::new())));
        (Core::new(raw.validate().unwrap(), sink.clone(), None), sink)
    }

    fn timer_points(sink: &Collect) -> BTreeMap<String, f64> {
        sink.0
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.name.starts_with("stats.timers."))
            .map(|p| (p.name.clone(), p.value))
            .collect()
    }

    #[test]
    fn hdr_timers_survive_the_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let (before, sink_before) = core(&path);
        // "flood" switches to its histogram, "quiet" stays exact.
        let lines: Vec<String> = (0..5000)
            .map(|i| format!("flood:{}|ms|@0.5", f64::from(i % 977) * 1.25))
            .chain((0..5).map(|i| format!("quiet:{i}|ms")))
            .collect();
        for chunk in lines.chunks(50) {
            before.handle_packet(&chunk.join("\n"), &"test");
        }
        save(&before).unwrap();
        before.flush(100);
        let (after, sink_after) = core(&path);
        restore(&after).unwrap();
        assert!(!path.exists(), "the state file is removed once read");
        after.flush(100);
        let want = timer_points(&sink_before);
        assert!(want.contains_key("stats.timers.flood.upper_90"), "{want:?}");
        assert_eq!(want["stats.timers.flood.count"], 10_000.0);
        assert_eq!(timer_points(&sink_after), want);
    }
}
