//! The algorithms of the `whisper-resize.py`, `whisper-merge.py` and
//! `whisper-fill.py` tools, point for point, so that `ferrograph whisper
//! resize|merge|fill` leave files byte-identical to the Python tools'.
//! The command line (argument checks, messages, progress bars) lives in the
//! binary; what the tools print while they work is part of their behaviour
//! and is appended here to a transcript.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::ops::Fetched;
use super::retention::{parse_retention_def, RetentionSyntax};
use super::rollup::aggregate_window;
use super::{
    create, AggregationMethod, Allocation, ArchiveInfo, Header, WhisperError, WhisperFile,
};

/// How often, in slots, progress over one archive is reported.
pub const PROGRESS_EVERY: u64 = 65_536;

/// What a long run reports as it goes, in slots read, written or scanned
/// (a progress bar); `()` ignores it.
pub trait Progress {
    /// The total number of slots the run will report.
    fn set_length(&self, _slots: u64) {}
    /// Starts the next step, named `what`.
    fn step(&self, _what: &str) {}
    /// Slots reported so far.
    fn position(&self) -> u64 {
        0
    }
    /// Sets the slots reported so far.
    fn set_position(&self, _slots: u64) {}
    /// Reports `slots` more.
    fn inc_by(&self, _slots: u64) {}
}

impl Progress for () {}

/// What `whisper-resize.py` is asked to do.
#[derive(Clone, Debug, Default)]
pub struct ResizeOptions<'a> {
    /// The new archives, in whisper's `precision:retention` syntax.
    pub retentions: &'a [String],
    /// The new xFilesFactor; the old file's if `None`.
    pub x_files_factor: Option<f64>,
    /// The new aggregation method's name; the old file's if `None`.
    pub aggregation_method: Option<&'a str>,
    /// Write the result here and leave the original alone.
    pub newfile: Option<PathBuf>,
    /// Remove the `.bak` copy of the original once replaced.
    pub nobackup: bool,
    /// Aggregate the old points into the new archives' steps instead of
    /// copying each archive.
    pub aggregate: bool,
}

/// Why a resize stopped.
#[derive(Debug, thiserror::Error)]
pub enum ResizeError {
    /// whisper refused (unreadable file, bad retention, …).
    #[error(transparent)]
    Whisper(#[from] WhisperError),
    /// The original could not be kept as `<path>.bak`.
    #[error("{0}")]
    Backup(#[source] std::io::Error),
    /// The new file could not replace the original; the transcript says why.
    #[error("the resized file could not replace the original")]
    Replace,
}

/// The points of a fetch answer, missing ones left out.
fn points_of(f: &Fetched) -> Vec<(i64, f64)> {
    f.values
        .iter()
        .enumerate()
        .filter_map(|(k, v)| v.map(|v| (f.start + k as i64 * f.step, v)))
        .collect()
}

/// whisper-resize: reads every archive of `path`, creates the new layout in
/// a temporary file (or `newfile`), writes the old points into it (copied
/// per archive, or aggregated into the new steps) and renames it over the
/// original, keeping a hard-linked `.bak` unless `nobackup`. What the tool
/// prints is appended to `out`.
pub fn resize(
    path: &Path,
    options: &ResizeOptions<'_>,
    now: i64,
    out: &mut String,
    progress: &dyn Progress,
) -> Result<(), ResizeError> {
    let old = WhisperFile::open(path)?;
    let h = old.header().clone();
    let new_archives = options
        .retentions
        .iter()
        .map(|d| parse_retention_def(d, RetentionSyntax::Whisper))
        .collect::<Result<Vec<_>, _>>()?;
    let xff = options
        .x_files_factor
        .unwrap_or(f64::from(h.x_files_factor));
    let method = match options.aggregation_method {
        Some(m) => AggregationMethod::from_name(m)
            .ok_or_else(|| WhisperError::InvalidAggregationMethod(m.to_string()))?,
        None => h.aggregation,
    };
    out.push_str("Retrieving all data from the archives\n");
    let mut old_archives = h.archives.clone();
    old_archives.sort_by_key(|a| std::cmp::Reverse(a.seconds_per_point));
    // progress counts slots read and slots written, so a bar over one huge
    // archive keeps moving
    let slots =
        |archives: &[ArchiveInfo]| archives.iter().map(|a| u64::from(a.points)).sum::<u64>();
    let read_slots = slots(&old_archives);
    let written_slots = if options.aggregate {
        new_archives
            .iter()
            .map(|&(_, points)| u64::from(points))
            .sum()
    } else {
        read_slots
    };
    progress.set_length(read_slots + written_slots);
    let mut data = Vec::new();
    for a in &old_archives {
        progress.step(&format!("reading {}s archive", a.seconds_per_point));
        let from = now - a.retention() as i64 + i64::from(a.seconds_per_point);
        let f = old.fetch(from, now, now, None)?.unwrap_or(Fetched {
            start: from,
            end: from,
            step: 1,
            values: Vec::new(),
        });
        data.push(f);
        progress.inc_by(u64::from(a.points));
    }
    drop(old);
    let (target, is_tmp) = match &options.newfile {
        Some(p) => (p.clone(), false),
        None => {
            let mut t = path.as_os_str().to_owned();
            t.push(".tmp");
            let t = PathBuf::from(t);
            if t.exists() {
                let _ = writeln!(
                    out,
                    "Removing previous temporary database file: {}",
                    t.display()
                );
                let _ = std::fs::remove_file(&t);
            }
            (t, true)
        }
    };
    let _ = writeln!(out, "Creating new whisper database: {}", target.display());
    // the temporary file is sparse, as whisper-resize creates it
    create(&target, &new_archives, xff, method, Allocation::Sparse)?;
    let size = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
    let _ = writeln!(out, "Created: {} ({size} bytes)", target.display());
    let mut new = WhisperFile::open_rw(&target)?;
    if options.aggregate {
        out.push_str("Migrating data with aggregation...\n");
        migrate_aggregated(&data, &mut new, method, xff, now, out, progress)?;
    } else {
        out.push_str("Migrating data without aggregation...\n");
        for (f, a) in data.iter().zip(&old_archives) {
            progress.step(&format!("writing {}s data", f.step));
            new.update_many(&points_of(f), now)?;
            progress.inc_by(u64::from(a.points));
        }
    }
    new.flush()?;
    drop(new);
    if !is_tmp {
        return Ok(());
    }
    let mut backup = path.as_os_str().to_owned();
    backup.push(".bak");
    let backup = PathBuf::from(backup);
    let _ = writeln!(out, "Renaming old database to: {}", backup.display());
    // keep the original reachable under its name until the new file
    // atomically replaces it
    let _ = std::fs::remove_file(&backup);
    std::fs::hard_link(path, &backup).map_err(ResizeError::Backup)?;
    let _ = writeln!(out, "Renaming new database to: {}", path.display());
    if let Err(e) = std::fs::rename(&target, path) {
        let _ = writeln!(out, "{e}\n\nOperation failed, restoring backup");
        return Err(ResizeError::Replace);
    }
    if options.nobackup {
        let _ = writeln!(out, "Unlinking backup: {}", backup.display());
        let _ = std::fs::remove_file(&backup);
    }
    Ok(())
}

/// whisper-resize's `--aggregate` migration: the old archives' points
/// merged into one timeline, then each new archive's steps aggregated from
/// it with the new method and xFilesFactor.
fn migrate_aggregated(
    data: &[Fetched],
    new: &mut WhisperFile,
    method: AggregationMethod,
    xff: f64,
    now: i64,
    out: &mut String,
    progress: &dyn Progress,
) -> Result<(), WhisperError> {
    // old archives finest first, newest first within each, then
    // chronological: whisper-resize's merged timeline
    let mut by_finest: Vec<&Fetched> = data.iter().collect();
    by_finest.reverse();
    let mut all: Vec<(i64, Option<f64>)> = Vec::new();
    for f in by_finest {
        let mut pts: Vec<(i64, Option<f64>)> = (0..f.values.len())
            .map(|k| (f.start + k as i64 * f.step, f.values[k]))
            .filter(|(t, _)| *t < f.end)
            .collect();
        pts.reverse();
        if let Some(&(last, _)) = all.last() {
            let slice_end = pts.iter().position(|(t, _)| *t < last).unwrap_or(0);
            all.extend_from_slice(&pts[slice_end..]);
        } else {
            all.extend(pts);
        }
    }
    all.reverse();
    let ts: Vec<i64> = all.iter().map(|p| p.0).collect();
    let _ = writeln!(
        out,
        "oldtimestamps: [{}]",
        ts.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
    );
    let header: Header = new.header().clone();
    for a in &header.archives {
        let step = i64::from(a.seconds_per_point);
        progress.step(&format!("writing {step}s archive"));
        let from = now - a.retention() as i64 + now.rem_euclid(step);
        let until = now + now.rem_euclid(step) + step;
        let _ = writeln!(out, "({from},{until},{step})");
        let _ = writeln!(
            out,
            "timepoints_to_update: range({from}, {until}{})",
            if step == 1 {
                String::new()
            } else {
                format!(", {step}")
            }
        );
        let mut points = Vec::new();
        let mut left_t = from;
        let first_slot = progress.position();
        let mut windows = 0u64;
        while left_t + step < until {
            if windows % PROGRESS_EVERY == 0 {
                progress.set_position(first_slot + windows);
            }
            windows += 1;
            let right_t = left_t + step;
            let lefti = ts.partition_point(|&t| t < left_t);
            let righti = lefti + ts[lefti..].partition_point(|&t| t < right_t);
            let window: Vec<Option<f64>> = all[lefti..righti].iter().map(|p| p.1).collect();
            if !window.is_empty() {
                if let Some(v) = aggregate_window(method, xff, &window) {
                    points.push((left_t, v));
                }
            }
            left_t = right_t;
        }
        new.update_many(&points, now)?;
        progress.set_position(first_slot + u64::from(a.points));
    }
    Ok(())
}

/// whisper-merge: writes the points of `from_path` in `(from, until]` into
/// `to_path`, which must have the same archives.
pub fn merge(
    from_path: &Path,
    to_path: &Path,
    from: Option<i64>,
    until: Option<i64>,
    now: i64,
) -> Result<(), WhisperError> {
    let src = WhisperFile::open(from_path)?;
    let mut dst = WhisperFile::open_rw(to_path)?;
    if src.header().archives != dst.header().archives {
        return Err(WhisperError::ArchivesUnalike {
            from: from_path.to_path_buf(),
            to: to_path.to_path_buf(),
        });
    }
    let dst_header = dst.header().clone();
    dst.merge_from(&src, &dst_header, from, until, now)?;
    dst.flush()?;
    Ok(())
}

/// whisper-fill's `fill`: copy `src` points in `(tstart, tstop]` into `dst`,
/// finest archive first, walking back in time.
fn fill_range(
    src: &WhisperFile,
    dst: &mut WhisperFile,
    tstart: i64,
    mut tstop: i64,
    now: i64,
) -> Result<(), WhisperError> {
    let h = src.header().clone();
    let src_time = now - i64::from(h.max_retention);
    if tstart < src_time && tstop < src_time {
        return Ok(());
    }
    let mut archives = h.archives.clone();
    archives.sort_by_key(|a| a.retention());
    for a in &archives {
        let rtime = now - a.retention() as i64;
        if tstop <= rtime {
            continue;
        }
        let from = if rtime > tstart { rtime } else { tstart };
        if let Some(f) = src.fetch(from, tstop, now, None)? {
            dst.update_many(&points_of(&f), now)?;
        }
        tstop = from;
        if tstart == tstop {
            return Ok(());
        }
    }
    Ok(())
}

/// whisper-fill's `fill_archives`: finds the gaps of every archive of
/// `dst_path` (a missing or zero value, as the tool tests truthiness) and
/// fills each from `src_path`.
pub fn fill(
    src_path: &Path,
    dst_path: &Path,
    now: i64,
    progress: &dyn Progress,
) -> Result<(), WhisperError> {
    let src = WhisperFile::open(src_path)?;
    let mut dst = WhisperFile::open_rw(dst_path)?;
    let mut archives = dst.header().archives.clone();
    archives.sort_by_key(|a| a.retention());
    // progress counts the destination's slots scanned for gaps
    progress.set_length(archives.iter().map(|a| u64::from(a.points)).sum());
    let mut done = 0;
    let mut start_from = now;
    for a in &archives {
        progress.step(&format!(
            "filling gaps of the {}s archive",
            a.seconds_per_point
        ));
        progress.set_position(done);
        done += u64::from(a.points);
        let from = now - a.retention() as i64;
        if from >= start_from {
            continue;
        }
        let Some(f) = dst.fetch(from, start_from, now, None)? else {
            start_from = from;
            continue;
        };
        let (mut start, end, step) = (f.start, f.end, f.step);
        let mut gapstart: Option<i64> = None;
        let first_slot = done - u64::from(a.points);
        for (k, v) in f.values.iter().enumerate() {
            if k as u64 % PROGRESS_EVERY == 0 {
                progress.set_position(first_slot + k as u64);
            }
            // whisper-fill tests truthiness: a 0.0 counts as a gap too
            let present = matches!(v, Some(x) if *x != 0.0);
            let open = gapstart.filter(|g| *g != 0);
            if !present && open.is_none() {
                gapstart = Some(start);
            } else if present && open.is_some() {
                let g = open.unwrap_or(start);
                if start - g > i64::from(a.seconds_per_point) {
                    fill_range(&src, &mut dst, g - step, start, now)?;
                }
                gapstart = None;
            } else if let Some(g) = open {
                if start == end - step {
                    fill_range(&src, &mut dst, g - step, start, now)?;
                }
            }
            start += step;
        }
        start_from = from;
    }
    progress.set_position(done);
    dst.flush()?;
    Ok(())
}
