//! [`Series`]: one named run of values at a fixed step, the unit every
//! function consumes and produces — graphite-web's `TimeSeries`.
//!
//! A series keeps what graphite-web's functions read and write besides the
//! values: the display `name` (rewritten by functions as `f(inner,args)`),
//! the `path_expression` it was fetched by (used by aggregate names such as
//! `sumSeries(a.*)`), `tags`, the `consolidation` function and
//! `x_files_factor` that runtime consolidation uses, and `values_per_point`,
//! which graphite sets when it consolidates lazily (LCM normalisation and
//! `maxDataPoints`): iterating such a series yields one value per bucket.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use storage::{AggregationMethod, FetchedSeries, Timestamp};

/// How consecutive values are merged into one (graphite's
/// `consolidationFunc`, set by `consolidateBy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Consolidation {
    /// Mean of the non-null values (graphite's default).
    #[default]
    Average,
    /// Like `Average`, but nulls count as zeros (`avg_zero`).
    AvgZero,
    /// Sum of the non-null values.
    Sum,
    /// Smallest non-null value.
    Min,
    /// Largest non-null value.
    Max,
    /// First non-null value.
    First,
    /// Last non-null value.
    Last,
}

impl Consolidation {
    /// The names `consolidateBy` accepts, in graphite's order.
    pub const NAMES: [&'static str; 8] = [
        "sum", "average", "avg", "avg_zero", "min", "max", "first", "last",
    ];

    /// Parses a `consolidateBy` name (`avg` is `average`).
    pub fn parse(name: &str) -> Option<Consolidation> {
        Some(match name {
            "sum" => Consolidation::Sum,
            "average" | "avg" => Consolidation::Average,
            "avg_zero" => Consolidation::AvgZero,
            "min" => Consolidation::Min,
            "max" => Consolidation::Max,
            "first" => Consolidation::First,
            "last" => Consolidation::Last,
            _ => return None,
        })
    }

    /// The consolidation matching a series' storage aggregation method
    /// (`[render] consolidation_from_storage`): sum, min, max, last and
    /// avg_zero keep their meaning; average, and absmax/absmin (which
    /// graphite-web 1.1.10's `consolidateBy` does not offer), average.
    pub fn from_storage(method: AggregationMethod) -> Consolidation {
        match method {
            AggregationMethod::Sum => Consolidation::Sum,
            AggregationMethod::Min => Consolidation::Min,
            AggregationMethod::Max => Consolidation::Max,
            AggregationMethod::Last => Consolidation::Last,
            AggregationMethod::AvgZero => Consolidation::AvgZero,
            AggregationMethod::Average | AggregationMethod::AbsMax | AggregationMethod::AbsMin => {
                Consolidation::Average
            }
        }
    }

    /// The name graphite stores in `consolidationFunc`.
    pub fn name(self) -> &'static str {
        match self {
            Consolidation::Average => "average",
            Consolidation::AvgZero => "avg_zero",
            Consolidation::Sum => "sum",
            Consolidation::Min => "min",
            Consolidation::Max => "max",
            Consolidation::First => "first",
            Consolidation::Last => "last",
        }
    }

    /// Consolidates one bucket of `bucket_len` raw slots whose non-null
    /// values are `usable` (nulls already replaced by 0 for `avg_zero`),
    /// `non_null` of them real. `None` when the bucket fails the
    /// xFilesFactor test — `non_null / bucket_len < xff`, or no value at all.
    fn apply(self, usable: &[f64], non_null: usize, bucket_len: usize, xff: f64) -> Option<f64> {
        if non_null == 0 || (non_null as f64 / bucket_len as f64) < xff {
            return None;
        }
        Some(match self {
            Consolidation::Sum => py_sum(usable),
            Consolidation::Average | Consolidation::AvgZero => py_sum(usable) / usable.len() as f64,
            Consolidation::Max => usable.iter().copied().fold(f64::NAN, py_max),
            Consolidation::Min => usable.iter().copied().fold(f64::NAN, py_min),
            Consolidation::First => usable[0],
            Consolidation::Last => usable[usable.len() - 1],
        })
    }
}

impl fmt::Display for Consolidation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Python's `sum()` of floats: left to right from 0.
pub fn py_sum(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |acc, v| acc + v)
}

/// Python's `max(a, b)` when folding left: keeps the first of equal values
/// and starts from the first element (`NAN` marks "none yet").
pub fn py_max(acc: f64, v: f64) -> f64 {
    if acc.is_nan() || v > acc {
        v
    } else {
        acc
    }
}

/// Python's `min(a, b)` when folding left (see [`py_max`]).
pub fn py_min(acc: f64, v: f64) -> f64 {
    if acc.is_nan() || v < acc {
        v
    } else {
        acc
    }
}

/// A named series of values at a fixed step, with the metadata graphite's
/// functions carry along. `values[i]` belongs to `start + i * step` (before
/// consolidation); `None` is a missing value.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Display name (target name in JSON).
    pub name: String,
    /// The expression this series was fetched by or a function rewrote it to.
    pub path_expression: String,
    /// `name` plus the series' own tags and function annotations.
    pub tags: BTreeMap<String, String>,
    /// Timestamp of the first value.
    pub start: Timestamp,
    /// End of the series as graphite reports it (`start + len * step` for
    /// fetched series; functions may set other values).
    pub end: Timestamp,
    /// Seconds between raw values.
    pub step: Timestamp,
    /// Raw values.
    pub values: Vec<Option<f64>>,
    /// How buckets are merged when the series is consolidated.
    pub consolidation: Consolidation,
    /// Minimum non-null ratio for a consolidated bucket to be non-null.
    pub x_files_factor: f64,
    /// Raw values per visible point; > 1 after lazy consolidation.
    pub values_per_point: usize,
    /// Graph options set by styling functions (`color`, `lineWidth`, ...);
    /// they do not change JSON output.
    pub options: BTreeMap<String, String>,
}

impl Series {
    /// A series with default metadata: tags parsed from `name` (graphite
    /// 1.1 tagged names `a.b;k=v`), path expression = name, average
    /// consolidation.
    pub fn new(
        name: impl Into<String>,
        start: Timestamp,
        end: Timestamp,
        step: Timestamp,
        values: Vec<Option<f64>>,
        x_files_factor: f64,
    ) -> Series {
        let name = name.into();
        Series {
            tags: tags_from_name(&name),
            path_expression: name.clone(),
            name,
            start,
            end,
            step,
            values,
            consolidation: Consolidation::Average,
            x_files_factor,
            values_per_point: 1,
            options: BTreeMap::new(),
        }
    }

    /// A series built from a storage fetch for `path_expression`.
    pub fn from_fetched(fetched: FetchedSeries, path_expression: &str, xff: f64) -> Series {
        let mut s = Series::new(
            fetched.path,
            fetched.start,
            fetched.end,
            fetched.step,
            fetched.values,
            xff,
        );
        s.path_expression = path_expression.to_string();
        s
    }

    /// graphite's `series.copy(name=..., start=..., values=...)`: keeps
    /// end, step, tags, consolidation and xFilesFactor; the path expression
    /// becomes the new name and graph options are dropped, as in graphite.
    pub fn copy_with(
        &self,
        name: impl Into<String>,
        start: Timestamp,
        values: Vec<Option<f64>>,
    ) -> Series {
        let name = name.into();
        Series {
            path_expression: name.clone(),
            name,
            tags: self.tags.clone(),
            start,
            end: self.end,
            step: self.step,
            values,
            consolidation: self.consolidation,
            x_files_factor: self.x_files_factor,
            values_per_point: 1,
            options: BTreeMap::new(),
        }
    }

    /// Sets lazy consolidation: later reads through [`Series::points`] yield
    /// one value per `values_per_point` raw values.
    pub fn consolidate(&mut self, values_per_point: usize) {
        self.values_per_point = values_per_point.max(1);
    }

    /// The values as graphite's iteration yields them: raw when
    /// `values_per_point` is 1, else consolidated per bucket with the
    /// series' consolidation function and xFilesFactor (a trailing partial
    /// bucket is still emitted and judged against the full bucket size).
    pub fn points(&self) -> Cow<'_, [Option<f64>]> {
        if self.values_per_point <= 1 {
            return Cow::Borrowed(&self.values);
        }
        Cow::Owned(consolidate_values(
            &self.values,
            self.values_per_point,
            self.consolidation,
            self.x_files_factor,
        ))
    }

    /// `(value, timestamp)` pairs as graphite's `datapoints()`: timestamps
    /// `start, start + step * vpp, ...` up to and including `end`, zipped
    /// with [`Series::points`] (the shorter side wins).
    pub fn datapoints(&self) -> Vec<(Option<f64>, Timestamp)> {
        let step = self.step * self.values_per_point as Timestamp;
        let points = self.points();
        if step <= 0 {
            return Vec::new();
        }
        let count = if self.end >= self.start {
            ((self.end - self.start) / step + 1) as usize
        } else {
            0
        };
        points
            .iter()
            .take(count)
            .enumerate()
            .map(|(i, v)| (*v, self.start + i as Timestamp * step))
            .collect()
    }
}

/// Consolidates `values` into buckets of `vpp` (see [`Series::points`]).
pub fn consolidate_values(
    values: &[Option<f64>],
    vpp: usize,
    func: Consolidation,
    xff: f64,
) -> Vec<Option<f64>> {
    let mut out = Vec::with_capacity(values.len().div_ceil(vpp));
    if matches!(
        func,
        Consolidation::Sum | Consolidation::Average | Consolidation::AvgZero
    ) {
        // one pass, the same left-to-right sum as `apply` over the usable
        // values (a graph consolidates every series it draws this way)
        for chunk in values.chunks(vpp) {
            let (mut sum, mut non_null) = (0.0, 0usize);
            for x in chunk.iter().flatten() {
                sum += x;
                non_null += 1;
            }
            if non_null == 0 || (non_null as f64 / vpp as f64) < xff {
                out.push(None);
                continue;
            }
            out.push(Some(match func {
                Consolidation::Sum => sum,
                Consolidation::AvgZero => sum / chunk.len() as f64,
                _ => sum / non_null as f64,
            }));
        }
        return out;
    }
    let mut buf = Vec::with_capacity(vpp);
    for chunk in values.chunks(vpp) {
        buf.clear();
        let mut non_null = 0;
        for v in chunk {
            match v {
                Some(x) => {
                    buf.push(*x);
                    non_null += 1;
                }
                None if func == Consolidation::AvgZero => buf.push(0.0),
                None => {}
            }
        }
        out.push(func.apply(&buf, non_null, vpp, xff));
    }
    out
}

/// graphite-web's tags for a series name: `{name: <metric>, k: v, ...}` for
/// `metric;k=v;...`, just `{name: <name>}` for plain paths, function-like
/// names and names that do not parse as tagged.
pub fn tags_from_name(name: &str) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    if let Some(parsed) = parse_tagged(name) {
        return parsed;
    }
    tags.insert("name".to_string(), name.to_string());
    tags
}

/// Parses `metric;k=v;...` as graphite's `TaggedSeries.parse_carbon`.
fn parse_tagged(name: &str) -> Option<BTreeMap<String, String>> {
    if looks_like_call(name) {
        return None;
    }
    let mut segments = name.split(';');
    let metric = segments.next()?;
    if metric.is_empty() {
        return None;
    }
    let mut tags = BTreeMap::new();
    for segment in segments {
        let (tag, value) = segment.split_once('=')?;
        if tag.is_empty()
            || value.is_empty()
            || tag.contains(['!', '^', '='])
            || value.starts_with('~')
        {
            return None;
        }
        tags.insert(tag.to_string(), value.to_string());
    }
    let sanitized = metric.trim_start_matches('~');
    if sanitized.is_empty() {
        return None;
    }
    tags.insert("name".to_string(), sanitized.to_string());
    Some(tags)
}

/// graphite's `^[a-z]+[(].+[)]$` (case-insensitive) test for names that are
/// function calls and must not be parsed for tags.
fn looks_like_call(name: &str) -> bool {
    let Some(open) = name.find('(') else {
        return false;
    };
    open > 0
        && name[..open].bytes().all(|b| b.is_ascii_alphabetic())
        && name.ends_with(')')
        && name.len() > open + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(values: &[Option<f64>]) -> Series {
        Series::new(
            "a.b",
            10,
            10 + 10 * values.len() as i64,
            10,
            values.to_vec(),
            0.0,
        )
    }

    #[test]
    fn lazy_consolidation_keeps_partial_bucket() {
        let mut series = s(&[Some(1.0), None, Some(3.0), Some(5.0), None]);
        series.consolidate(2);
        assert_eq!(&*series.points(), &[Some(1.0), Some(4.0), None]);
        series.consolidation = Consolidation::AvgZero;
        // a trailing bucket without any real value is null even for avg_zero
        assert_eq!(&*series.points(), &[Some(0.5), Some(4.0), None]);
        series.consolidation = Consolidation::Sum;
        series.x_files_factor = 0.6;
        assert_eq!(&*series.points(), &[None, Some(8.0), None]);
    }

    #[test]
    fn datapoints_zip_to_the_shorter_side() {
        let series = s(&[Some(1.0), Some(2.0)]);
        assert_eq!(series.datapoints(), vec![(Some(1.0), 10), (Some(2.0), 20)]);
        let mut short_end = s(&[Some(1.0), Some(2.0), Some(3.0)]);
        short_end.end = 20;
        assert_eq!(short_end.datapoints().len(), 2);
    }

    #[test]
    fn tags_of_names() {
        assert_eq!(
            tags_from_name("a.b"),
            BTreeMap::from([("name".into(), "a.b".into())])
        );
        assert_eq!(
            tags_from_name("cpu;dc=eu;host=h1"),
            BTreeMap::from([
                ("name".into(), "cpu".into()),
                ("dc".into(), "eu".into()),
                ("host".into(), "h1".into())
            ])
        );
        assert_eq!(
            tags_from_name("sumSeries(a;x=y)"),
            BTreeMap::from([("name".into(), "sumSeries(a;x=y)".into())])
        );
        assert_eq!(
            tags_from_name("a;bad"),
            BTreeMap::from([("name".into(), "a;bad".into())])
        );
    }
}
