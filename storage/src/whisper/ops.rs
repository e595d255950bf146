//! whisper's algorithms over the bytes of one file: `update`,
//! `update_many`, propagation and `fetch`, with the reference module's exact
//! semantics (which points are kept or dropped, slot addressing from the
//! archive's base, run writes split at the archive end, propagation order).
//!
//! Everything takes a validated [`Header`] and the whole file as a byte
//! slice (an mmap in production, a `Vec` in tests). The header validation
//! guarantees every archive lies inside the slice, so slot arithmetic here
//! never indexes out of bounds.

use super::format::{read_point, write_point, AggregationMethod, ArchiveInfo, Header, POINT_SIZE};
use super::pyset::set_iteration_order;
use super::rollup::aggregate_window;
use super::WhisperError;

/// What `fetch` returns: `values[i]` belongs to `start + i * step`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fetched {
    /// First interval (exclusive of the slot holding `from`).
    pub start: i64,
    /// Exclusive end interval as whisper reports it.
    pub end: i64,
    /// The chosen archive's step.
    pub step: i64,
    /// One value per slot read; `None` where the slot is not valid.
    pub values: Vec<Option<f64>>,
}

/// A fetch's answer: `None` when the window lies wholly outside the file's
/// retention.
pub type FetchResult = Result<Option<Fetched>, WhisperError>;

/// Floor `t` to a multiple of `step` (Python's `t - t % step`).
#[inline]
fn align(t: i64, step: i64) -> i64 {
    t - t.rem_euclid(step)
}

/// Slot index of `interval` in `archive` given its base (non-zero).
#[inline]
fn slot_of(archive: &ArchiveInfo, base: i64, interval: i64) -> usize {
    let step = i64::from(archive.seconds_per_point);
    ((interval - base).div_euclid(step)).rem_euclid(i64::from(archive.points)) as usize
}

#[inline]
fn slot_pos(archive: &ArchiveInfo, slot: usize) -> usize {
    archive.offset as usize + slot * POINT_SIZE
}

#[inline]
fn base_of(buf: &[u8], archive: &ArchiveInfo) -> i64 {
    i64::from(read_point(buf, archive.offset as usize).0)
}

fn to_u32(t: i64) -> Result<u32, WhisperError> {
    u32::try_from(t).map_err(|_| WhisperError::TimestampOutOfRange { timestamp: t })
}

/// whisper's `update(value, timestamp, now)`: one point, rejected unless
/// `0 ≤ now − t < maxRetention`; written to the finest archive covering its
/// age, then propagated down until a level fails.
pub fn update(
    buf: &mut [u8],
    header: &Header,
    value: f64,
    timestamp: i64,
    now: i64,
) -> Result<(), WhisperError> {
    let diff = now - timestamp;
    if !(diff < i64::from(header.max_retention) && diff >= 0) {
        return Err(WhisperError::TimestampNotCovered { timestamp, now });
    }
    let Some(index) = header
        .archives
        .iter()
        .position(|a| a.retention() as i64 >= diff)
    else {
        return Err(WhisperError::TimestampNotCovered { timestamp, now });
    };
    let archive = &header.archives[index];
    let step = i64::from(archive.seconds_per_point);
    let interval = align(timestamp, step);
    let packed = to_u32(interval)?;
    let base = base_of(buf, archive);
    let slot = if base == 0 {
        0
    } else {
        slot_of(archive, base, interval)
    };
    write_point(buf, slot_pos(archive, slot), packed, value);
    for level in index + 1..header.archives.len() {
        if !propagate(buf, header, interval, level - 1, level)? {
            break;
        }
    }
    Ok(())
}

thread_local! {
    /// The window being rolled up, reused: writers propagate once per
    /// written interval and archive, too often to allocate each time.
    static NEIGHBORS: std::cell::RefCell<Vec<Option<f64>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Rolls the window of `lower` containing `timestamp` up from `higher`.
/// Returns whether a value was written.
pub fn propagate(
    buf: &mut [u8],
    header: &Header,
    timestamp: i64,
    higher: usize,
    lower: usize,
) -> Result<bool, WhisperError> {
    let (h, l) = (&header.archives[higher], &header.archives[lower]);
    let h_step = i64::from(h.seconds_per_point);
    let l_step = i64::from(l.seconds_per_point);
    let start = align(timestamp, l_step);
    let h_base = base_of(buf, h);
    let first = if h_base == 0 {
        0
    } else {
        slot_of(h, h_base, start)
    };
    let n = (l_step / h_step) as usize;
    // whisper reads `n` slots from `first`, wrapping at the archive end; when
    // the window is as large as the archive it reads the whole archive once.
    let points = h.points as usize;
    let last = (first + n) % points;
    let count = if first < last {
        last - first
    } else {
        points - first + last
    };
    let aggregated = NEIGHBORS.with_borrow_mut(|neighbors| {
        neighbors.clear();
        let mut expected = start;
        for k in 0..count {
            let (ts, v) = read_point(buf, slot_pos(h, (first + k) % points));
            neighbors.push((i64::from(ts) == expected).then_some(v));
            expected += h_step;
        }
        aggregate_window(header.aggregation, header.xff(), neighbors)
    });
    let Some(value) = aggregated else {
        return Ok(false);
    };
    let packed = to_u32(start)?;
    let l_base = base_of(buf, l);
    let slot = if l_base == 0 {
        0
    } else {
        slot_of(l, l_base, start)
    };
    write_point(buf, slot_pos(l, slot), packed, value);
    Ok(true)
}

/// whisper's `update_many(points, now)`: see the format doc. Points whose
/// age exceeds every archive are dropped silently; future points go to the
/// finest archive. Nothing is written if a point that would be written does
/// not fit whisper's u32 timestamps.
pub fn update_many(
    buf: &mut [u8],
    header: &Header,
    points: &[(i64, f64)],
    now: i64,
) -> Result<(), WhisperError> {
    if points.is_empty() || update_many_in_order(buf, header, points, now)? {
        return Ok(());
    }
    let mut sorted: Vec<(i64, f64)> = points.to_vec();
    // Stable, newest first: equal timestamps keep their input order.
    sorted.sort_by_key(|p| std::cmp::Reverse(p.0));
    // Assign points to archives exactly as whisper's walk does.
    let mut batches: Vec<(usize, Vec<(i64, f64)>)> = Vec::new();
    let mut current = 0usize;
    let mut collected: Vec<(i64, f64)> = Vec::new();
    let mut exhausted = false;
    for &point in &sorted {
        let age = now - point.0;
        while (header.archives[current].retention() as i64) < age {
            if !collected.is_empty() {
                collected.reverse();
                batches.push((current, std::mem::take(&mut collected)));
            }
            current += 1;
            if current == header.archives.len() {
                exhausted = true;
                break;
            }
        }
        if exhausted {
            break;
        }
        collected.push(point);
    }
    if !exhausted && !collected.is_empty() {
        collected.reverse();
        batches.push((current, collected));
    }
    for (index, batch) in &batches {
        let step = i64::from(header.archives[*index].seconds_per_point);
        for &(t, _) in batch {
            to_u32(align(t, step))?;
        }
    }
    for (index, batch) in &batches {
        archive_update_many(buf, header, *index, batch)?;
    }
    Ok(())
}

/// [`update_many`] for the shape a cache hands its writers, without the
/// general path's sorting and buffers: points in strictly increasing
/// intervals of the finest archive, all young enough for it, spanning less
/// than its retention, into a file whose coarser archives already have a
/// base. The result is byte for byte the general path's: every interval and
/// every propagated window lands in a distinct slot, so the order of writes
/// (whisper's set order for windows) does not matter. Returns false, having
/// written nothing, for any other input.
fn update_many_in_order(
    buf: &mut [u8],
    header: &Header,
    points: &[(i64, f64)],
    now: i64,
) -> Result<bool, WhisperError> {
    let archive = &header.archives[0];
    let step = i64::from(archive.seconds_per_point);
    let retention = archive.retention() as i64;
    let (first, last) = (points[0].0, points[points.len() - 1].0);
    let first_interval = align(first, step);
    if now - first > retention || last - first >= retention || first_interval <= 0 {
        return Ok(false);
    }
    // Every timestamp here is positive, so unsigned remainders align them:
    // 64-bit signed division costs tens of cycles and was most of the time.
    let align_positive = |t: i64| t - ((t as u64) % (step as u64)) as i64;
    let mut previous = 0;
    for &(t, _) in points {
        let interval = align_positive(t);
        if interval <= previous {
            return Ok(false);
        }
        previous = interval;
    }
    let last_interval = to_u32(previous)?;
    // whisper picks a fresh lower archive's base from the first window in
    // its set order; leave that to the general path
    if header.archives[1..].iter().any(|a| base_of(buf, a) == 0) {
        return Ok(false);
    }
    let mut base = base_of(buf, archive);
    if base == 0 {
        base = first_interval;
    }
    let slots = archive.points as usize;
    let mut slot = slot_of(archive, base, first_interval);
    let mut previous = first_interval;
    for &(t, value) in points {
        let interval = align_positive(t);
        if interval == previous + step {
            slot = if slot + 1 == slots { 0 } else { slot + 1 };
        } else if interval != previous {
            slot = slot_of(archive, base, interval);
        }
        previous = interval;
        // cannot fail: 0 < interval <= last_interval
        let packed = u32::try_from(interval).unwrap_or(last_interval);
        write_point(buf, slot_pos(archive, slot), packed, value);
    }
    let mut higher = 0;
    for lower in 1..header.archives.len() {
        if header.archives[lower].seconds_per_point <= archive.seconds_per_point {
            continue;
        }
        let l_step = i64::from(header.archives[lower].seconds_per_point);
        let mut any = false;
        // intervals ascend, so a window is done once an interval passes it
        let mut window_end = 0;
        for &(t, _) in points {
            let interval = align_positive(t);
            if interval >= window_end {
                let window = interval - ((interval as u64) % (l_step as u64)) as i64;
                window_end = window + l_step;
                any |= propagate(buf, header, window, higher, lower)?;
            }
        }
        if !any {
            break;
        }
        higher = lower;
    }
    Ok(true)
}

/// One archive's share of an `update_many` (points in chronological order),
/// followed by propagation to every coarser archive.
pub fn archive_update_many(
    buf: &mut [u8],
    header: &Header,
    index: usize,
    points: &[(i64, f64)],
) -> Result<(), WhisperError> {
    let archive = &header.archives[index];
    let step = i64::from(archive.seconds_per_point);
    let aligned: Vec<(i64, f64)> = points.iter().map(|&(t, v)| (align(t, step), v)).collect();
    // Contiguous runs: (start interval, values). whisper tests `not
    // previousInterval`, so an interval of 0 also continues the current run;
    // that quirk is kept so epoch-adjacent writes land where whisper puts them.
    let mut runs: Vec<(i64, Vec<(i64, f64)>)> = Vec::new();
    let mut current: Vec<(i64, f64)> = Vec::new();
    let mut previous: Option<i64> = None;
    for i in 0..aligned.len() {
        if i + 1 < aligned.len() && aligned[i].0 == aligned[i + 1].0 {
            continue;
        }
        let (interval, value) = aligned[i];
        let continues = match previous {
            None | Some(0) => true,
            Some(p) => interval == p + step,
        };
        if !continues {
            let n = current.len() as i64;
            let p = previous.unwrap_or(0);
            runs.push((p - step * (n - 1), std::mem::take(&mut current)));
        }
        current.push((interval, value));
        previous = Some(interval);
    }
    if !current.is_empty() {
        let n = current.len() as i64;
        let p = previous.unwrap_or(0);
        runs.push((p - step * (n - 1), current));
    }
    let Some(first_run) = runs.first() else {
        return Ok(());
    };
    let mut base = base_of(buf, archive);
    if base == 0 {
        base = first_run.0;
    }
    let slots = archive.points as usize;
    for (start, run) in &runs {
        let first = slot_of(archive, base, *start);
        // A run longer than the archive (only possible with far-future
        // points) would make whisper write past the archive end into the
        // next one; we wrap point by point instead and never leave the archive.
        for (k, &(interval, value)) in run.iter().enumerate() {
            write_point(
                buf,
                slot_pos(archive, (first + k) % slots),
                to_u32(interval)?,
                value,
            );
        }
    }
    let mut higher = index;
    for lower in 0..header.archives.len() {
        if header.archives[lower].seconds_per_point <= archive.seconds_per_point {
            continue;
        }
        let l_step = i64::from(header.archives[lower].seconds_per_point);
        let windows: Vec<u32> = aligned
            .iter()
            .map(|&(t, _)| to_u32(align(t, l_step)))
            .collect::<Result<_, _>>()?;
        let mut any = false;
        for window in set_iteration_order(&windows) {
            if propagate(buf, header, i64::from(window), higher, lower)? {
                any = true;
            }
        }
        if !any {
            break;
        }
        higher = lower;
    }
    Ok(())
}

/// whisper's `fetch(from, until, now, archiveToSelect)`. `Ok(None)` when
/// the range lies wholly in the future or beyond the retention.
pub fn fetch(
    buf: &[u8],
    header: &Header,
    from: i64,
    until: i64,
    now: i64,
    granularity: Option<u32>,
) -> FetchResult {
    Ok(plan_fetch(header, from, until, now, granularity)?
        .map(|(archive, from, until)| archive_fetch(buf, archive, from, until)))
}

/// whisper's checks, clamping and archive choice for a fetch: the archive
/// and the clamped `(from, until)`, or `None` for no data.
pub fn plan_fetch(
    header: &Header,
    from: i64,
    until: i64,
    now: i64,
    granularity: Option<u32>,
) -> Result<Option<(&ArchiveInfo, i64, i64)>, WhisperError> {
    if from > until {
        return Err(WhisperError::InvalidTimeInterval { from, until });
    }
    let oldest = now - i64::from(header.max_retention);
    if from > now || until < oldest {
        return Ok(None);
    }
    let from = from.max(oldest);
    let until = until.min(now);
    let diff = now - from;
    let archive = match granularity.filter(|&g| g != 0) {
        Some(g) => header
            .archives
            .iter()
            .find(|a| a.seconds_per_point == g)
            .ok_or(WhisperError::InvalidGranularity { seconds: g })?,
        None => header
            .archives
            .iter()
            .find(|a| a.retention() as i64 >= diff)
            .or(header.archives.last())
            .ok_or(WhisperError::InvalidGranularity { seconds: 0 })?,
    };
    Ok(Some((archive, from, until)))
}

/// The answer whisper gives for a never-written archive: whisper's rounding
/// and all values `None`.
pub fn empty_fetch(archive: &ArchiveInfo, from: i64, until: i64) -> Fetched {
    let (start, end, step) = rounded_window(archive, from, until);
    Fetched {
        start,
        end,
        step,
        values: vec![None; ((end - start) / step) as usize],
    }
}

/// Where whisper's fetch reads in one written archive (base ≠ 0): the
/// rounded window and the run of slots, which may wrap at the archive end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotSpan {
    /// First interval (whisper's `fromInterval`).
    pub start: i64,
    /// Exclusive end interval (`untilInterval`).
    pub end: i64,
    /// The archive's step.
    pub step: i64,
    /// Slot holding `start`.
    pub first_slot: usize,
    /// Slots read from `first_slot` on, wrapping at the archive end; the
    /// same byte span as whisper's one or two reads.
    pub count: usize,
}

impl SlotSpan {
    /// The span's slots as at most two contiguous `(first slot, slots)`
    /// runs: the part up to the archive end, then the wrapped part.
    pub fn runs(&self, archive: &ArchiveInfo) -> [(usize, usize); 2] {
        let slots = archive.points as usize;
        let head = self.count.min(slots - self.first_slot);
        [(self.first_slot, head), (0, self.count - head)]
    }
}

/// Rounds `(from, until]` to `archive`'s step as whisper does (an empty
/// window becomes one step): `(start, end, step)`.
fn rounded_window(archive: &ArchiveInfo, from: i64, until: i64) -> (i64, i64, i64) {
    let step = i64::from(archive.seconds_per_point);
    let start = align(from, step) + step;
    let mut end = align(until, step) + step;
    if start == end {
        end += step;
    }
    (start, end, step)
}

/// The slots whisper reads for `(from, until]` in an archive whose base
/// (timestamp of slot 0) is `base` ≠ 0.
pub fn slot_span(archive: &ArchiveInfo, base: i64, from: i64, until: i64) -> SlotSpan {
    let (start, end, step) = rounded_window(archive, from, until);
    let slots = archive.points as usize;
    let first_slot = slot_of(archive, base, start);
    let until_slot = slot_of(archive, base, end);
    let count = if first_slot < until_slot {
        until_slot - first_slot
    } else {
        slots - first_slot + until_slot
    };
    SlotSpan {
        start,
        end,
        step,
        first_slot,
        count,
    }
}

/// Decodes consecutive points (`bytes.len() / 12` of them) whose expected
/// timestamps are `expected, expected + step, ...` and appends one value per
/// point to `out`: the stored value when the slot holds that timestamp,
/// `None` when it holds an older one (a stale or never-written slot).
/// Returns the expected timestamp after the last point.
pub fn decode_points(bytes: &[u8], expected: i64, step: i64, out: &mut Vec<Option<f64>>) -> i64 {
    let points = bytes.chunks_exact(POINT_SIZE);
    let n = points.len() as i64;
    // An exact-size iterator: `extend` writes without per-point capacity checks.
    out.extend(points.enumerate().map(|(k, point)| {
        let (ts, v) = read_point(point, 0);
        (i64::from(ts) == expected + k as i64 * step).then_some(v)
    }));
    expected + n * step
}

/// Reads one archive over `(from, until]` with whisper's rounding.
pub fn archive_fetch(buf: &[u8], archive: &ArchiveInfo, from: i64, until: i64) -> Fetched {
    let base = base_of(buf, archive);
    if base == 0 {
        return empty_fetch(archive, from, until);
    }
    let span = slot_span(archive, base, from, until);
    let mut values = Vec::with_capacity(span.count);
    let mut expected = span.start;
    for (first, n) in span.runs(archive) {
        let at = slot_pos(archive, first);
        expected = decode_points(
            &buf[at..at + n * POINT_SIZE],
            expected,
            span.step,
            &mut values,
        );
    }
    Fetched {
        start: span.start,
        end: span.end,
        step: span.step,
        values,
    }
}

/// Replaces each bucket of `coarse` that `fine` covers completely from its
/// first slot on with the roll-up of `fine`'s slots in that bucket (the
/// file's `method` and `xff`, as propagation computes it; slots past
/// `fine`'s end, i.e. after the fetch's `until`, are not part of the
/// window). A bucket whose roll-up is `None` keeps its coarse value. Does
/// nothing unless the coarse step is a multiple of the fine one.
pub fn stitch_into(coarse: &mut Fetched, fine: &Fetched, method: AggregationMethod, xff: f64) {
    if fine.step <= 0 || coarse.step % fine.step != 0 {
        return;
    }
    let per = (coarse.step / fine.step) as usize;
    for (b, slot) in coarse.values.iter_mut().enumerate() {
        let t = coarse.start + b as i64 * coarse.step;
        if t < fine.start {
            continue;
        }
        let first = ((t - fine.start) / fine.step) as usize;
        if first >= fine.values.len() {
            break;
        }
        let last = (first + per).min(fine.values.len());
        if let Some(v) = aggregate_window(method, xff, &fine.values[first..last]) {
            *slot = Some(v);
        }
    }
}

/// whisper's `merge(from, to, time_from, time_to, now)`: for every archive
/// (shortest retention first) the source's points over the window are
/// written into the destination's same archive with `archive_update_many`
/// (including propagation). Both files must have the same archives.
pub fn merge(
    src: &[u8],
    src_header: &Header,
    dst: &mut [u8],
    dst_header: &Header,
    time_from: Option<i64>,
    time_to: Option<i64>,
    now: i64,
) -> Result<(), WhisperError> {
    let until = time_to.unwrap_or(now);
    let from = time_from.unwrap_or(0);
    if until < from {
        return Err(WhisperError::InvalidConfiguration(
            "time_to must be >= time_from".into(),
        ));
    }
    let mut order: Vec<usize> = (0..src_header.archives.len()).collect();
    order.sort_by_key(|&i| src_header.archives[i].retention());
    for i in order {
        let archive = &src_header.archives[i];
        let retention = archive.retention() as i64;
        let archive_from = from.max(now - retention);
        if until < now - retention {
            continue;
        }
        let fetched = archive_fetch(src, archive, archive_from, until);
        let points: Vec<(i64, f64)> = fetched
            .values
            .iter()
            .enumerate()
            .filter_map(|(k, v)| v.map(|v| (fetched.start + k as i64 * fetched.step, v)))
            .collect();
        if points.is_empty() {
            continue;
        }
        archive_update_many(dst, dst_header, i, &points)?;
    }
    Ok(())
}
