//! graphite-web's `events('tag', ...)`: one point per second of the
//! window, 1 (or the count) where events happened, null elsewhere; use it
//! with `drawAsInfinite`. The events come from the [`EventSource`] the HTTP
//! layer gives the [`Evaluator`] (the state database), so this function
//! reads no database and no HTTP itself.

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::series::{Consolidation, Series};

use super::{Args, FunctionDef, Param, ParamType, Registry};

/// Where `events()` finds events.
pub trait EventSource: Send + Sync {
    /// The times (epoch seconds) of the events with `from <= when <=
    /// until` carrying every tag of `tags` that any event has (None: all
    /// events), as graphite-web's `Event.find_events(from, until, tags)`.
    fn event_times(
        &self,
        from: i64,
        until: i64,
        tags: Option<&[String]>,
    ) -> Result<Vec<f64>, String>;
}

pub(super) fn register(r: &mut Registry) {
    r.add_all(&[&EVENTS]);
}

static EVENTS: FunctionDef = FunctionDef::new("events", "Special", events)
    .description(
        "The number of events at each second of the range: events(\"tag-one\", \
         \"tag-two\") counts the events tagged with both, events(\"*\") every event. \
         Usable with drawAsInfinite.",
    )
    .params(&[Param::new("tags", ParamType::String).required().multiple()]);

fn events(ev: &mut Evaluator<'_>, ctx: &Context, args: Args) -> Result<Value, ApiError> {
    let mut tags = Vec::with_capacity(args.rest().len());
    for v in args.rest() {
        match v {
            Value::Str(s) => tags.push(s.clone()),
            other => return Err(args.error(format!("tags must be strings, not {}", other.kind()))),
        }
    }
    let name = format!("events(\"{}\")", tags.join("\", \""));
    let filter = (tags != ["*"]).then_some(tags.as_slice());
    let (start, end) = (ctx.start, ctx.end);
    let points = usize::try_from(end - start).unwrap_or(0);
    ev.check_points(points)?;
    let times = match ev.events() {
        Some(source) => source
            .event_times(start, end, filter)
            .map_err(ApiError::Storage)?,
        None => Vec::new(),
    };
    let mut values: Vec<Option<f64>> = vec![None; points];
    for when in times {
        // graphite-web fails (IndexError) on an event at the window's very
        // end; it has no slot there, so it is left out.
        let offset = when.floor() as i64 - start;
        if let Some(slot) = usize::try_from(offset).ok().and_then(|i| values.get_mut(i)) {
            *slot = Some(slot.unwrap_or(0.0) + 1.0);
        }
    }
    let mut series = Series::new(name, start, end, 1, values, ctx.x_files_factor);
    series.consolidation = Consolidation::Sum;
    Ok(Value::SeriesList(vec![series]))
}
