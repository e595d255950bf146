//! Moving series in time: timeShift and timeStack re-evaluate their first
//! argument over a shifted window; timeSlice keeps a time range.

use chrono::TimeZone;
use chrono_tz::{OffsetComponents, Tz};

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::functions::{Args, FunctionDef, Lit, Param, ParamType, Registry};
use crate::time::{parse_at_time, parse_offset};

use super::{map_in_place, rename, SERIES_LIST, SHIFT_SUGGESTIONS};

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[&TIME_SHIFT, &TIME_SLICE, &TIME_STACK]);
}

// ---------------------------------------------------------------------------
// Time shifts (refetch the first argument over another window)

/// graphite's default sign for shifts: no sign means backwards.
fn backwards_by_default(shift: &str) -> String {
    if shift.starts_with(|c: char| c.is_ascii_digit()) {
        format!("-{shift}")
    } else {
        shift.to_string()
    }
}

/// Whether `t` is in daylight saving time in `tz`.
fn is_dst(tz: Tz, t: i64) -> bool {
    tz.timestamp_opt(t, 0)
        .single()
        .is_some_and(|dt| !dt.offset().dst_offset().is_zero())
}

static TIME_SHIFT: FunctionDef = FunctionDef::new("timeShift", "Transform", time_shift)
    .description(
        "Fetches the series again for a window shifted by an interval (backwards \
         unless it starts with +) and draws it over the current window. resetEnd \
         (default) cuts it at the current series' end; alignDST adds or removes an \
         hour when the two windows are wholly on different sides of a DST change.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("timeShift", ParamType::Interval)
            .required()
            .suggestions(SHIFT_SUGGESTIONS),
        Param::new("resetEnd", ParamType::Boolean).default(Lit::Bool(true)),
        Param::new("alignDst", ParamType::Boolean)
            .default(Lit::Bool(false))
            .python("alignDST=False"),
    ]);

fn time_shift(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let shift = backwards_by_default(&args.string(1)?);
    let reset_end = args.bool(2)?;
    let align_dst = args.bool(3)?;
    let delta = parse_offset(&shift)?;
    let mut shifted = ctx.clone();
    shifted.start = ctx.start + delta;
    shifted.end = ctx.end + delta;
    if align_dst {
        let req = (is_dst(ctx.tz, ctx.start), is_dst(ctx.tz, ctx.end));
        let mine = (is_dst(ctx.tz, shifted.start), is_dst(ctx.tz, shifted.end));
        let dst_offset = match (req, mine) {
            ((true, true), (false, false)) => 3600,
            ((false, false), (true, true)) => -3600,
            _ => 0,
        };
        shifted.start += dst_offset;
        shifted.end += dst_offset;
    }
    let Some(first) = list.first() else {
        return Ok(Value::SeriesList(list));
    };
    let (start, end) = (first.start, first.end);
    let mut out = ev.evaluate_with(&shifted, args.raw()?, args.replacements())?;
    for s in &mut out {
        s.tags.insert("timeShift".into(), shift.clone());
        s.name = format!("timeShift({}, \"{shift}\")", s.name);
        s.end = if reset_end {
            end
        } else {
            s.end - s.start + start
        };
        s.start = start;
    }
    Ok(Value::SeriesList(out))
}

static TIME_SLICE: FunctionDef = FunctionDef::new("timeSlice", "Transform", time_slice)
    .description(
        "Keeps the values between two times (inclusive) and nulls the rest. The \
         times are from/until specifications read as graphite-web does: relative ones \
         against the server's clock, not the request's `now`.",
    )
    .params(&[
        SERIES_LIST,
        Param::new("startSliceAt", ParamType::Date).required(),
        Param::new("endSliceAt", ParamType::Date).default(Lit::Str("now")),
    ]);

fn time_slice(_ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let start_text = args.string(1)?;
    let end_text = args.string(2)?;
    // graphite calls parseATTime without `now`: the wall clock, not the request's
    let start = parse_at_time(&start_text, ctx.tz, ctx.wall_clock)?;
    let end = parse_at_time(&end_text, ctx.tz, ctx.wall_clock)?;
    for s in &mut list {
        s.tags.insert("timeSliceStart".into(), start.to_string());
        s.tags.insert("timeSliceEnd".into(), end.to_string());
        // the display name only; graphite keeps the path expression here
        s.name = format!("timeSlice({}, {start}, {end})", s.name);
        // graphite counts time from the requested start, not the series' first point
        let mut t = ctx.start;
        let step = s.step;
        map_in_place(s, |v| {
            let keep = v.filter(|_| t >= start && t <= end);
            t += step;
            keep
        });
    }
    Ok(Value::SeriesList(list))
}

static TIME_STACK: FunctionDef = FunctionDef::new("timeStack", "Transform", time_stack)
    .description(
        "The series fetched again for each shift k × timeShiftUnit, k from \
         timeShiftStart up to (not including) timeShiftEnd, all drawn over the \
         current window (e.g. the same hour on each of the last 7 days).",
    )
    .params(&[
        SERIES_LIST,
        Param::new("timeShiftUnit", ParamType::Interval)
            .default(Lit::Str("1d"))
            .suggestions(SHIFT_SUGGESTIONS),
        Param::new("timeShiftStart", ParamType::Integer).default(Lit::Int(0)),
        Param::new("timeShiftEnd", ParamType::Integer).default(Lit::Int(7)),
    ]);

fn time_stack(ev: &mut Evaluator<'_>, ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let list = args.series_list(0)?;
    let unit = backwards_by_default(&args.string(1)?);
    let first_shift = args.int(2)?;
    let last_shift = args.int(3)?;
    let delta = parse_offset(&unit)?;
    let Some(first) = list.first() else {
        return Ok(Value::SeriesList(list));
    };
    let (start, end) = (first.start, first.end);
    let mut out = Vec::new();
    for k in first_shift..last_shift {
        ev.check_deadline()?;
        let mut shifted = ctx.clone();
        shifted.start = ctx.start + delta * k;
        shifted.end = ctx.end + delta * k;
        for mut s in ev.evaluate_with(&shifted, args.raw()?, args.replacements())? {
            s.tags.insert("timeShiftUnit".into(), unit.clone());
            s.tags.insert("timeShift".into(), k.to_string());
            let name = format!("timeShift({}, {unit}, {k})", s.name);
            rename(&mut s, name);
            s.start = start;
            s.end = end;
            out.push(s);
        }
    }
    Ok(Value::SeriesList(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::{eval_one, MemoryRead};

    #[test]
    fn time_shift_refetches() {
        let values: Vec<Option<f64>> = (0..20).map(|i| Some(i as f64)).collect();
        let read = MemoryRead::new().with("m", 0, 10, &values);
        let out = eval_one(&read, "timeShift(m, '30s')", 100, 130);
        assert_eq!(out[0].name, "timeShift(m, \"-30s\")");
        assert_eq!(out[0].start, 110);
        assert_eq!(out[0].values, vec![Some(8.0), Some(9.0), Some(10.0)]);
        let out = eval_one(&read, "timeStack(m, '10s', 0, 2)", 100, 130);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].name, "timeShift(m, -10s, 1)");
        assert_eq!(out[1].values[0], Some(10.0));
    }

    #[test]
    fn time_slice_reads_relative_times_from_the_context_clock() {
        let values: Vec<Option<f64>> = (0..10).map(|i| Some(i as f64)).collect();
        let read = MemoryRead::new().with("m", 0, 10, &values);
        let mut ctx = Context::new(-10, 90);
        for (clock, name) in [
            (60, "timeSlice(m, 30, 50)"),
            (1_000_080, "timeSlice(m, 1000050, 1000070)"),
        ] {
            ctx.wall_clock = clock;
            let out = crate::testing::eval_in(&read, "timeSlice(m, '-30s', '-10s')", &ctx);
            assert_eq!(out[0].name, name);
        }
        // the request's `now` does not move them
        ctx.now = 5;
        let out = crate::testing::eval_in(&read, "timeSlice(m, '-30s', '-10s')", &ctx);
        assert_eq!(out[0].name, "timeSlice(m, 1000050, 1000070)");
    }
}
