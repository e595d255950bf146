//! Re-bucketing: summarize, smartSummarize, hitcount and
//! compressPeriodicGaps, with graphite's bucket and alignment rules.

use chrono::{Datelike, NaiveDate, Offset, TimeZone, Timelike};

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::functions::aggfunc::AggFunc;
use crate::functions::{Args, FunctionDef, Lit, Param, ParamType, Registry};
use crate::series::Series;
use crate::time::parse_offset;

use super::{floor_div, rename, ONLY_SERIES_LIST, SERIES_LIST, SUMMARIZE_SUGGESTIONS};

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[
        &COMPRESS_PERIODIC_GAPS,
        &HITCOUNT,
        &SMART_SUMMARIZE,
        &SUMMARIZE,
    ]);
}

static COMPRESS_PERIODIC_GAPS: FunctionDef =
    FunctionDef::new("compressPeriodicGaps", "Transform", compress_periodic_gaps)
        .description(
            "Detects nulls that recur regularly between values (data written less often \
             than the storage step) and re-steps the series to that period, keeping the \
             last value of each period.",
        )
        .params(ONLY_SERIES_LIST);

fn compress_periodic_gaps(
    _ev: &mut Evaluator<'_>,
    _ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let mut out = Vec::with_capacity(list.len());
    for mut s in list {
        let name = format!("compressPeriodicGaps({})", s.name);
        rename(&mut s, name);
        out.push(compress_gaps(s)?);
    }
    Ok(Value::SeriesList(out))
}

/// graphite's `_compressPeriodicGaps`. Its "seen" test is Python truthiness,
/// so zeros count as missing, and a value at index 0 is skipped over.
fn compress_gaps(s: Series) -> Result<Series, ApiError> {
    let truthy = |v: Option<f64>| v.is_some_and(|x| x != 0.0);
    let points = s.points().into_owned();
    let (mut first, mut second) = (0usize, 0usize);
    for (i, v) in points.iter().enumerate() {
        if truthy(*v) {
            if first > 0 {
                second = i;
                break;
            }
            first = i;
        }
    }
    let guess = second as i64 - first as i64;
    let third = second as i64 + guess;
    let raw = &s.values;
    let mut interval = None;
    if guess > 1 && third <= raw.len() as i64 - 2 {
        let third = third as usize;
        if truthy(raw[third]) && raw[third - 1].is_none() && raw[third + 1].is_none() {
            interval = Some(guess * s.step);
        }
    }
    let Some(interval) = interval else {
        return Ok(s);
    };
    let new_start = s.start + first as i64 * s.step;
    let (values, _) = summarize_values(&s, AggFunc::Last, interval, new_start, s.end);
    let new_end = new_start + interval * (values.len() as i64 - 1);
    let mut out = s.copy_with(s.name.clone(), new_start, values);
    out.end = new_end;
    out.step = interval;
    out.path_expression = s.path_expression.clone();
    Ok(out)
}

// ---------------------------------------------------------------------------
// Re-bucketing

/// graphite's `_summarizeValues`: buckets of `interval` from `start` while
/// below `end`; each bucket aggregates the points from the last one at or
/// before its start up to its end, if enough of them are non-null (the
/// series' xFilesFactor over `interval / step` expected points). Returns the
/// values and the end of the last bucket.
fn summarize_values(
    s: &Series,
    func: AggFunc,
    interval: i64,
    start: i64,
    end: i64,
) -> (Vec<Option<f64>>, i64) {
    let points = s.points();
    let count = if s.step > 0 && s.end > s.start {
        ((s.end - s.start + s.step - 1) / s.step) as usize
    } else {
        0
    };
    let n = count.min(points.len());
    let expected = interval as f64 / s.step as f64;
    let mut values = Vec::new();
    let mut i = 0usize;
    let mut t = start;
    if interval <= 0 {
        return (values, t);
    }
    while t < end {
        let mut first = i;
        let mut non_null = 0usize;
        while i < n {
            let ts = s.start + i as i64 * s.step;
            if ts >= t + interval {
                break;
            }
            if ts <= t {
                first = i;
            }
            if ts >= t && points[i].is_some() {
                non_null += 1;
            }
            i += 1;
        }
        let enough =
            non_null > 0 && expected != 0.0 && non_null as f64 / expected >= s.x_files_factor;
        values.push(if enough {
            func.apply(&points[first..i])
        } else {
            None
        });
        t += interval;
    }
    (values, t)
}

/// How many `interval` buckets `[start, end)` holds (rounded up).
pub(super) fn bucket_count(start: i64, end: i64, interval: i64) -> usize {
    ((end - start).max(0) / interval + 1) as usize
}

/// A bucket interval in seconds; graphite loops forever on one that is not
/// positive, so it is refused here.
fn positive_interval(args: &Args, text: &str) -> Result<i64, ApiError> {
    let interval = parse_offset(text)?;
    if interval <= 0 {
        return Err(args.error(format!("interval {text:?} must be positive")));
    }
    Ok(interval)
}

/// The aggregation function named `func` (no `Series` suffix allowed here).
fn agg(args: &Args, func: &str) -> Result<AggFunc, ApiError> {
    AggFunc::parse(func)
        .ok_or_else(|| args.error(format!("Unsupported aggregation function: {func}")))
}

static SUMMARIZE: FunctionDef = FunctionDef::new("summarize", "Transform", summarize)
    .description(
        "Re-buckets each series into intervals (e.g. '1h') with an aggregation \
         function (default sum). Buckets are aligned to multiples of the interval \
         since the epoch (UTC), so the first and last may be partial; with \
         alignToFrom they start at the series' start instead.",
    )
    .params(&[
        SERIES_LIST,
        INTERVAL_STRING,
        FUNC_DEFAULT_SUM,
        Param::new("alignToFrom", ParamType::Boolean).default(Lit::Bool(false)),
    ]);

fn summarize(ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let bucketing = Bucketing::read(&args)?;
    let align = args.bool(3)?;
    let name_suffix = if align { ", true" } else { "" };
    bucketing.apply(ev, &args, list, "summarize", align, name_suffix)
}

/// The `intervalString` and `func` arguments of summarize and
/// smartSummarize, as given.
struct Bucketing {
    interval_text: String,
    func_name: String,
}

impl Bucketing {
    fn read(args: &Args) -> Result<Bucketing, ApiError> {
        Ok(Bucketing {
            interval_text: args.string(1)?,
            func_name: args.string(2)?,
        })
    }

    /// Buckets each series of the final `list` by `func` into buckets of
    /// the interval: from the series' own start when `from_series_start`
    /// (the result then ends where its last bucket ends), otherwise from
    /// multiples of the interval since the epoch. Each result is tagged
    /// `<function>` and `<function>Function` and named
    /// `<function>(<name>, "<interval>", "<func>"<name_suffix>)`.
    fn apply(
        self,
        ev: &mut Evaluator<'_>,
        args: &Args,
        mut list: Vec<Series>,
        function: &str,
        from_series_start: bool,
        name_suffix: &str,
    ) -> Result<Value, ApiError> {
        if list.is_empty() {
            return Ok(Value::SeriesList(list));
        }
        let Bucketing {
            interval_text,
            func_name,
        } = self;
        let func = agg(args, &func_name)?;
        let interval = positive_interval(args, &interval_text)?;
        let mut out = Vec::with_capacity(list.len());
        let mut built = 0usize;
        for s in &mut list {
            let (start, mut end) = if from_series_start {
                (s.start, s.end)
            } else {
                (
                    s.start - s.start.rem_euclid(interval),
                    s.end - s.end.rem_euclid(interval) + interval,
                )
            };
            built = built.saturating_add(bucket_count(start, end, interval));
            ev.check_points(built)?;
            let (values, aligned_end) = summarize_values(s, func, interval, start, end);
            if from_series_start {
                end = aligned_end;
            }
            s.tags.insert(function.into(), interval_text.clone());
            s.tags
                .insert(format!("{function}Function"), func_name.clone());
            let name = format!(
                "{function}({}, \"{interval_text}\", \"{func_name}\"{name_suffix})",
                s.name
            );
            let mut r = s.copy_with(name, start, values);
            r.end = end;
            r.step = interval;
            out.push(r);
        }
        Ok(Value::SeriesList(out))
    }
}

/// `ctx.start` as a wall-clock time in `ctx.tz` and that instant's UTC
/// offset (graphite builds aligned starts with the start's own tzinfo, so a
/// DST change between the aligned start and the start is not applied).
fn local_start(ctx: &Context) -> Result<(chrono::NaiveDateTime, i64), ApiError> {
    let dt = ctx
        .tz
        .timestamp_opt(ctx.start, 0)
        .single()
        .ok_or_else(|| ApiError::BadRequest(format!("start {} is out of range", ctx.start)))?;
    Ok((dt.naive_local(), dt.offset().fix().local_minus_utc() as i64))
}

/// Epoch seconds of a wall-clock time at a fixed UTC offset.
fn at_offset(local: chrono::NaiveDateTime, offset: i64) -> i64 {
    local.and_utc().timestamp() - offset
}

/// The context with `start` moved back to the start of its unit (graphite's
/// alignment for smartSummarize and hitcount).
fn aligned_start(ctx: &Context, unit: AlignUnit) -> Result<i64, ApiError> {
    let (local, offset) = local_start(ctx)?;
    let date = local.date();
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or(local);
    let truncated = match unit {
        AlignUnit::Years => midnight(NaiveDate::from_ymd_opt(date.year(), 1, 1).unwrap_or(date)),
        AlignUnit::Months => {
            midnight(NaiveDate::from_ymd_opt(date.year(), date.month(), 1).unwrap_or(date))
        }
        AlignUnit::Weeks(iso_day) => {
            let mut back = date.weekday().number_from_monday() as i64 - iso_day;
            if back < 0 {
                back += 7;
            }
            return Ok(at_offset(midnight(date), offset) - back * 86_400);
        }
        AlignUnit::Days => midnight(date),
        AlignUnit::Hours => local
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .unwrap_or(local),
        AlignUnit::Minutes => local.with_second(0).unwrap_or(local),
        AlignUnit::Seconds => local,
    };
    Ok(at_offset(truncated, offset))
}

/// Units smartSummarize's `alignTo` understands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum AlignUnit {
    Years,
    Months,
    /// ISO weekday to align to (1 = Monday).
    Weeks(i64),
    Days,
    Hours,
    Minutes,
    Seconds,
}

/// graphite's `getUnitString` prefixes, plus `weeksN` for the weekday.
fn align_unit(text: &str) -> Option<AlignUnit> {
    Some(if text.starts_with('s') {
        AlignUnit::Seconds
    } else if text.starts_with("min") {
        AlignUnit::Minutes
    } else if text.starts_with('h') {
        AlignUnit::Hours
    } else if text.starts_with('d') {
        AlignUnit::Days
    } else if text.starts_with('w') {
        let day = text
            .chars()
            .last()
            .and_then(|c| c.to_digit(10))
            .map_or(1, i64::from);
        AlignUnit::Weeks(day)
    } else if text.starts_with("mon") {
        AlignUnit::Months
    } else if text.starts_with('y') {
        AlignUnit::Years
    } else {
        return None;
    })
}

/// `intervalString`, the bucket size of summarize, smartSummarize and
/// hitcount.
const INTERVAL_STRING: Param = Param::new("intervalString", ParamType::Interval)
    .required()
    .suggestions(SUMMARIZE_SUGGESTIONS);

/// `func='sum'`, how summarize and smartSummarize aggregate a bucket.
const FUNC_DEFAULT_SUM: Param = Param::new("func", ParamType::AggFunc).default(Lit::Str("sum"));

const ALIGN_TO_OPTIONS: &[Lit] = &[
    Lit::None,
    Lit::Str("years"),
    Lit::Str("months"),
    Lit::Str("weeks"),
    Lit::Str("days"),
    Lit::Str("hours"),
    Lit::Str("minutes"),
    Lit::Str("seconds"),
    Lit::Bool(true),
    Lit::Bool(false),
];

static SMART_SUMMARIZE: FunctionDef =
    FunctionDef::new("smartSummarize", "Transform", smart_summarize)
        .description(
            "Like summarize, but buckets start at the start of the range; with alignTo \
             (years, months, weeks[1-7], days, hours, minutes, seconds) the range start is \
             first moved back to the start of that unit in the request's time zone and \
             the data fetched again.",
        )
        .params(&[
            SERIES_LIST,
            INTERVAL_STRING,
            FUNC_DEFAULT_SUM,
            Param::new("alignTo", ParamType::String).options(ALIGN_TO_OPTIONS),
        ]);

fn smart_summarize(
    ev: &mut Evaluator<'_>,
    ctx: &Context,
    mut args: Args,
) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let bucketing = Bucketing::read(&args)?;
    // a boolean alignTo is the deprecated alignToFrom: ignored
    if let Value::Str(align_to) = args.value(3) {
        let unit = align_unit(&align_to)
            .ok_or_else(|| args.error(format!("Invalid offset unit '{align_to}'")))?;
        let mut aligned = ctx.clone();
        aligned.start = aligned_start(ctx, unit)?;
        list = ev.evaluate_with(&aligned, args.raw()?, args.replacements())?;
    }
    bucketing.apply(ev, &args, list, "smartSummarize", true, "")
}

static HITCOUNT: FunctionDef = FunctionDef::new("hitcount", "Transform", hitcount)
    .description(
        "Treats the values as rates per second and counts the hits per interval \
         (value × seconds, split across buckets in proportion); buckets are laid out \
         backwards from the end of the series. alignToInterval moves the range start \
         back to the day, hour or minute and fetches again.",
    )
    .params(&[
        SERIES_LIST,
        INTERVAL_STRING,
        Param::new("alignToInterval", ParamType::Boolean).default(Lit::Bool(false)),
    ]);

fn hitcount(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let interval_text = args.string(1)?;
    let align = args.bool(2)?;
    let interval = positive_interval(&args, &interval_text)?;
    if align {
        let mut aligned = ctx.clone();
        if interval >= 86_400 {
            aligned.start = aligned_start(ctx, AlignUnit::Days)?;
        } else if interval >= 3600 {
            aligned.start = aligned_start(ctx, AlignUnit::Hours)?;
        } else if interval >= 60 {
            aligned.start = aligned_start(ctx, AlignUnit::Minutes)?;
        }
        list = ev.evaluate_with(&aligned, args.raw()?, args.replacements())?;
        for s in &mut list {
            let count = floor_div(s.end - s.start, interval);
            s.end = s.start + count * interval + interval;
        }
    }
    let mut out = Vec::with_capacity(list.len());
    let mut built = 0usize;
    for s in &mut list {
        let step = s.step;
        let buckets_len = ((s.end - s.start) as f64 / interval as f64).ceil().max(0.0) as i64;
        built = built.saturating_add(buckets_len as usize);
        ev.check_points(built)?;
        let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); buckets_len as usize];
        let new_start = s.end - buckets_len * interval;
        for (i, v) in s.points().iter().enumerate() {
            let Some(value) = *v else {
                continue;
            };
            let start_time = s.start + i as i64 * step;
            let (start_bucket, start_mod) = (
                floor_div(start_time - new_start, interval),
                (start_time - new_start).rem_euclid(interval),
            );
            let end_time = start_time + step;
            let (mut end_bucket, mut end_mod) = (
                floor_div(end_time - new_start, interval),
                (end_time - new_start).rem_euclid(interval),
            );
            if end_bucket >= buckets_len {
                end_bucket = buckets_len - 1;
                end_mod = interval;
            }
            // buckets start at or before the series, so indices stay in range
            let mut put = |b: i64, x: f64| {
                if (0..buckets_len).contains(&b) {
                    buckets[b as usize].push(x);
                }
            };
            if start_bucket == end_bucket {
                if start_bucket >= 0 {
                    put(start_bucket, value * (end_mod - start_mod) as f64);
                }
            } else {
                if start_bucket >= 0 {
                    put(start_bucket, value * (interval - start_mod) as f64);
                }
                let per_bucket = value * interval as f64;
                for j in start_bucket + 1..end_bucket {
                    put(j, per_bucket);
                }
                if end_mod > 0 {
                    put(end_bucket, value * end_mod as f64);
                }
            }
        }
        let values = buckets
            .iter()
            .map(|b| (!b.is_empty()).then(|| b.iter().fold(0.0, |acc, x| acc + x)))
            .collect();
        s.tags.insert("hitcount".into(), interval_text.clone());
        let name = format!(
            "hitcount({}, \"{interval_text}\"{})",
            s.name,
            if align { ", true" } else { "" }
        );
        let mut r = s.copy_with(name, new_start, values);
        r.step = interval;
        out.push(r);
    }
    Ok(Value::SeriesList(out))
}

#[cfg(test)]
mod tests {

    use crate::functions::transform::tests::read;
    use crate::testing::eval_one;

    #[test]
    fn summarize_buckets_on_epoch_multiples() {
        let out = eval_one(&read(), "summarize(c.n, '20s')", -10, 50);
        assert_eq!(out[0].name, "summarize(c.n, \"20s\", \"sum\")");
        assert_eq!((out[0].start, out[0].step), (0, 20));
        // the end (60) rounds up to one more, empty bucket
        assert_eq!(out[0].values, vec![Some(4.0), Some(10.0), Some(7.0), None]);
        let out = eval_one(&read(), "summarize(c.n, '20s', 'max', true)", -10, 50);
        assert_eq!(out[0].name, "summarize(c.n, \"20s\", \"max\", true)");
        assert_eq!(out[0].values, vec![Some(3.0), Some(10.0), Some(5.0)]);
    }

    #[test]
    fn hitcount_spreads_rates_over_buckets() {
        let out = eval_one(&read(), "hitcount(c.n, '20s')", -10, 50);
        assert_eq!(out[0].name, "hitcount(c.n, \"20s\")");
        assert_eq!(out[0].start, 0);
        assert_eq!(out[0].values, vec![Some(40.0), Some(100.0), Some(70.0)]);
    }
}
