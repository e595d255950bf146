//! The store's reads: graphite-web's fetch of one series (the file, or the
//! empty answer its schema implies while the file is not yet created) with
//! the points still in the cache merged in, and globs matched against the
//! in-memory index. [`Read`] itself is implemented once for every backend, in
//! `crate::read`.

use crate::api::{FindNode, ReadError};
use crate::glob::Glob;
use crate::read::{
    check_name, fetch_file, read_error, recycled_values, series_error, to_series, Answer, Backend,
    FetchRequest, Reused,
};
use crate::tags::TagIndex;
use crate::whisper::ops::{empty_fetch, plan_fetch, Fetched};
use crate::whisper::{build_header_for, AggregationMethod, WhisperError, WhisperReader};

use super::{normalize, Inner};

impl Inner {
    /// graphite-web's fetch of `name`: the file (or, for a series still
    /// waiting for its file, the empty answer its schema implies) with the
    /// cached points merged in.
    fn fetch_merged(&self, name: &str, request: FetchRequest, previous: Reused) -> Answer {
        let range = request.range;
        let cached = self.cache.get(name);
        let path = self.file_for(name);
        let (fetched, method, raw_step) = match WhisperReader::open(&path) {
            Ok(file) => {
                let header = file.header();
                let raw_step = header
                    .archives
                    .first()
                    .map(|a| i64::from(a.seconds_per_point));
                let method = header.aggregation;
                (
                    fetch_file(&file, request, recycled_values(previous))
                        .map_err(series_error(name))?,
                    method,
                    raw_step,
                )
            }
            Err(WhisperError::Io { ref source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                if cached.is_empty() && !self.known(name) {
                    return Ok(None);
                }
                let rules = self.rules.current();
                let schema = rules.schemas.lookup(name);
                let agg = rules.aggregation.lookup(name);
                let header = build_header_for(&schema.archives, agg.xff(), agg.aggregation())
                    .map_err(read_error)?;
                let raw_step = header
                    .archives
                    .first()
                    .map(|a| i64::from(a.seconds_per_point));
                let planned = plan_fetch(&header, range.from, range.until, range.now, None)
                    .map_err(read_error)?;
                (
                    planned.map(|(a, f, u)| empty_fetch(a, f, u)),
                    agg.aggregation(),
                    raw_step,
                )
            }
            Err(e) => return Err(series_error(name)(e)),
        };
        Ok(fetched.map(|mut f| {
            merge_cached(&mut f, &cached, method, raw_step);
            to_series(name, f, method)
        }))
    }

    fn known(&self, name: &str) -> bool {
        match normalize(name) {
            Ok((_, comps)) => {
                let refs: Vec<&str> = comps.iter().map(String::as_str).collect();
                self.index.contains(&refs)
            }
            Err(_) => false,
        }
    }
}

/// graphite-web's `merge_with_cache`: cached points are reduced to one per
/// finest step (last wins); when the fetched step is coarser they are
/// consolidated per fetched step with the file's method and replace the
/// fetched value; then each lands at its index.
pub fn merge_cached(
    f: &mut Fetched,
    cached: &[(i64, f64)],
    method: AggregationMethod,
    raw_step: Option<i64>,
) {
    if cached.is_empty() {
        return;
    }
    let mut points: Vec<(i64, f64)> = cached.to_vec();
    if let Some(raw) = raw_step.filter(|&r| r > 1) {
        let mut by_interval: Vec<(i64, f64)> = Vec::with_capacity(points.len());
        for (t, v) in points {
            let interval = t - t.rem_euclid(raw);
            match by_interval.iter_mut().find(|p| p.0 == interval) {
                Some(p) => p.1 = v,
                None => by_interval.push((interval, v)),
            }
        }
        points = by_interval;
    }
    if Some(f.step) != raw_step {
        let mut groups: Vec<(i64, Vec<f64>)> = Vec::new();
        for (t, v) in points {
            let interval = t - t.rem_euclid(f.step);
            match groups.iter_mut().find(|g| g.0 == interval) {
                Some(g) => g.1.push(v),
                None => groups.push((interval, vec![v])),
            }
        }
        points = groups
            .into_iter()
            .map(|(i, vals)| {
                let window: Vec<Option<f64>> = vals.into_iter().map(Some).collect();
                let v = crate::whisper::rollup::aggregate_window(method, 0.0, &window)
                    .unwrap_or(f64::NAN);
                (i, v)
            })
            .collect();
    }
    for (interval, value) in points {
        let i = (interval - f.start).div_euclid(f.step);
        if i >= 0 && (i as usize) < f.values.len() {
            f.values[i as usize] = Some(value);
        }
    }
}

impl Backend for Inner {
    fn has_tagged(&self, name: &str) -> bool {
        self.known(name) || self.file_for(name).is_file()
    }

    fn find_glob(&self, glob: &Glob) -> Result<Vec<FindNode>, ReadError> {
        self.index.find(glob, self.settings.max_find_results)
    }

    fn fetch_one(&self, path: &str, request: FetchRequest, previous: Reused) -> Answer {
        check_name(path)?;
        let Ok((name, _)) = normalize(path) else {
            return Ok(None);
        };
        self.fetch_merged(&name, request, previous)
    }

    fn tag_index(&self) -> &TagIndex {
        &self.tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_follows_graphite_web() {
        let mut f = Fetched {
            start: 60,
            end: 120,
            step: 60,
            values: vec![Some(1.0)],
        };
        // coarser step: the cache replaces the fetched value with its own aggregate
        merge_cached(
            &mut f,
            &[(60, 5.0), (65, 6.0), (70, 7.0)],
            AggregationMethod::Sum,
            Some(10),
        );
        assert_eq!(
            f.values,
            vec![Some(13.0)],
            "65 and 60 share a 10 s slot; last wins"
        );
        let mut f = Fetched {
            start: 100,
            end: 130,
            step: 10,
            values: vec![None, Some(2.0), None],
        };
        merge_cached(
            &mut f,
            &[(90, 1.0), (121, 4.0)],
            AggregationMethod::Average,
            Some(10),
        );
        assert_eq!(f.values, vec![None, Some(2.0), Some(4.0)]);
    }
}
