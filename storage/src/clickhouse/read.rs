//! Reads with graphite-clickhouse's query shapes: find from the tree rows,
//! render from the points table with the metric list as external data,
//! tags from the tagged table. Dedup and roll-up happen here, in Rust
//! (`rollup.rs`), and queued points not yet inserted are merged in.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::client::{quote, ClickHouseError};
use super::names::{self, TREE_DATE, TREE_LEVEL_OFFSET};
use super::queue::IndexEntry;
use super::rollup::{self, RawPoint};
use super::rowbinary::{DecodeError, Reader};
use super::{unix_now, Shared};
use crate::api::{FetchRange, FetchedSeries, FindNode, Read, ReadError, TagExpr};
use crate::glob::{Component, Glob};
use crate::tags::TagIndex;

impl From<ClickHouseError> for ReadError {
    fn from(e: ClickHouseError) -> ReadError {
        match e {
            ClickHouseError::Unreachable { .. } => ReadError::Unavailable(e.to_string()),
            ClickHouseError::Server { .. } | ClickHouseError::Answer(_) => {
                ReadError::Upstream(e.to_string())
            }
        }
    }
}

impl From<DecodeError> for ReadError {
    fn from(e: DecodeError) -> ReadError {
        ReadError::Upstream(e.to_string())
    }
}

impl Shared {
    fn counted<T>(&self, result: Result<T, ClickHouseError>) -> Result<T, ReadError> {
        result.map_err(|e| {
            self.stats.query_errors.fetch_add(1, Ordering::Relaxed);
            ReadError::from(e)
        })
    }

    /// Stored paths of queued index entries, for names not yet inserted.
    fn queued_entries(&self) -> Vec<IndexEntry> {
        self.lock_queue().index.iter().cloned().collect()
    }

    fn tree_paths(&self, glob: &Glob, depth: usize) -> Result<Vec<String>, ReadError> {
        let literal: Vec<&str> = glob
            .components()
            .iter()
            .map_while(|c| match c {
                Component::Literal(l) => Some(l.as_str()),
                _ => None,
            })
            .collect();
        let has_globstar = glob
            .components()
            .iter()
            .any(|c| matches!(c, Component::GlobStar));
        let level = if has_globstar {
            format!(
                "Level > {TREE_LEVEL_OFFSET} AND Level < {}",
                TREE_LEVEL_OFFSET + 10_000
            )
        } else {
            format!("Level = {}", TREE_LEVEL_OFFSET as usize + depth)
        };
        let filter = if literal.len() == depth && !has_globstar {
            let exact = literal.join(".");
            format!(
                "Path IN ({}, {})",
                quote(&exact),
                quote(&format!("{exact}."))
            )
        } else if literal.is_empty() {
            String::from("1")
        } else {
            // LIKE's `_` is a wildcard too: a superset, filtered below.
            let prefix = format!("{}.", literal.join("."));
            format!(
                "Path LIKE {}",
                quote(&format!("{}%", prefix.replace('%', "\\%")))
            )
        };
        let sql = format!(
            "SELECT Path FROM {} WHERE {level} AND Date = {} AND {filter} GROUP BY Path \
             FORMAT TabSeparatedRaw",
            self.settings.index_table,
            quote(&names::date_literal(TREE_DATE))
        );
        let text = self.counted(self.client.query_text(&sql))?;
        Ok(text.lines().map(str::to_string).collect())
    }

    fn tagged_paths(&self, exprs: &[TagExpr]) -> Result<Vec<String>, ReadError> {
        let mut conditions: Vec<String> = exprs
            .iter()
            .filter(|e| e.op == crate::api::TagOp::Eq && !e.value.is_empty())
            .map(|e| {
                let tag = if e.tag == "name" {
                    "__name__"
                } else {
                    e.tag.as_str()
                };
                format!("{tag}={}", e.value)
            })
            .map(|t| format!("has(Tags, {})", quote(&t)))
            .collect();
        if let Some(first) = conditions.first_mut() {
            // graphite-clickhouse's shape: the first exact tag as Tag1
            *first = first
                .replacen("has(Tags, ", "Tag1 = ", 1)
                .trim_end_matches(')')
                .to_string();
        }
        let filter = if conditions.is_empty() {
            "1".to_string()
        } else {
            conditions.join(" AND ")
        };
        let sql = format!(
            "SELECT Path FROM {} WHERE {filter} GROUP BY Path FORMAT TabSeparatedRaw",
            self.settings.tagged_table
        );
        let text = self.counted(self.client.query_text(&sql))?;
        let mut paths: Vec<String> = text.lines().map(str::to_string).collect();
        paths.extend(
            self.queued_entries()
                .into_iter()
                .filter(|e| e.path.contains('?'))
                .map(|e| e.path.to_string()),
        );
        Ok(paths)
    }

    /// The stored points of `stored` with `lo <= Time <= hi`. Versions are
    /// fetched only for series that have two rows at one `Time` (not merged
    /// yet, or written twice): reading the `Timestamp` column for every row
    /// doubles ClickHouse's work, and the other series need no dedup.
    fn fetch_points(
        &self,
        stored: &[String],
        lo: u32,
        hi: u32,
    ) -> Result<HashMap<String, Vec<RawPoint>>, ReadError> {
        let mut out = self.query_points(stored, lo, hi, false)?;
        let duplicated: Vec<String> = out
            .iter_mut()
            .filter_map(|(path, points)| {
                points.sort_by_key(|p| p.0);
                points
                    .windows(2)
                    .any(|w| w[0].0 == w[1].0)
                    .then(|| path.clone())
            })
            .collect();
        if !duplicated.is_empty() {
            out.extend(self.query_points(&duplicated, lo, hi, true)?);
        }
        self.merge_queued(stored, lo, hi, &mut out);
        Ok(out)
    }

    fn query_points(
        &self,
        stored: &[String],
        lo: u32,
        hi: u32,
        versions: bool,
    ) -> Result<HashMap<String, Vec<RawPoint>>, ReadError> {
        let version_column = if versions {
            ", groupArray(Timestamp)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT Path, groupArray(Time), groupArray(Value){version_column} FROM {} \
             PREWHERE Date >= {} AND Date <= {} WHERE Path IN metrics_list AND Time >= {lo} AND Time <= {hi} \
             GROUP BY Path FORMAT RowBinary",
            self.settings.points_table,
            quote(&names::date_literal(names::day_of(lo))),
            quote(&names::date_literal(names::day_of(hi))),
        );
        let body = self.counted(self.client.query_with_paths(&sql, "metrics_list", stored))?;
        let mut out: HashMap<String, Vec<RawPoint>> = HashMap::new();
        let mut r = Reader::new(&body);
        let mismatch =
            || ReadError::Upstream("ClickHouse answered arrays of different lengths".into());
        while !r.is_empty() {
            let path = r.string()?;
            // One allocation per series: times first, then the values and
            // versions written into place.
            let n = r.array_len(4)?;
            let points = out.entry(path).or_default();
            let first = points.len();
            points.reserve(n);
            for _ in 0..n {
                points.push((r.u32()?, 0.0, 0));
            }
            if r.array_len(8)? != n {
                return Err(mismatch());
            }
            for p in &mut points[first..] {
                p.1 = r.f64()?;
            }
            if versions {
                if r.array_len(4)? != n {
                    return Err(mismatch());
                }
                for p in &mut points[first..] {
                    p.2 = r.u32()?;
                }
            }
        }
        Ok(out)
    }

    /// Adds the queued points of `stored`: not inserted yet, so newer than
    /// anything stored (their version is their time of receipt).
    fn merge_queued(
        &self,
        stored: &[String],
        lo: u32,
        hi: u32,
        out: &mut HashMap<String, Vec<RawPoint>>,
    ) {
        let wanted: HashSet<&str> = stored.iter().map(String::as_str).collect();
        let queue = self.lock_queue();
        for row in &queue.points {
            if row.time >= lo && row.time <= hi && wanted.contains(&*row.path) {
                out.entry(row.path.to_string()).or_default().push((
                    row.time,
                    row.value,
                    row.received,
                ));
            }
        }
    }
}

impl Read for Shared {
    fn find(&self, pattern: &str) -> Result<Vec<FindNode>, ReadError> {
        let glob = Glob::new(pattern).map_err(|e| ReadError::BadRequest(e.0))?;
        let depth = glob.components().len();
        let mut nodes = BTreeSet::new();
        let mut consider = |path: &str| {
            let (name, is_leaf) = match path.strip_suffix('.') {
                Some(branch) => (branch, false),
                None => (path, true),
            };
            if glob.matches_path(name) {
                nodes.insert(FindNode {
                    path: name.to_string(),
                    is_leaf,
                });
            }
        };
        for path in self.tree_paths(&glob, depth)? {
            consider(&path);
        }
        for entry in self.queued_entries() {
            if entry.path.contains('?') {
                continue;
            }
            let path: &str = &entry.path;
            consider(path);
            let mut end = path.len();
            while let Some(dot) = path[..end].rfind('.') {
                consider(&path[..dot + 1]);
                end = dot;
            }
        }
        if nodes.len() > self.store.max_find_results {
            return Err(ReadError::LimitExceeded(format!(
                "find {pattern:?} matches more than {} nodes",
                self.store.max_find_results
            )));
        }
        Ok(nodes.into_iter().collect())
    }

    fn fetch(&self, path: &str, range: FetchRange) -> Result<Option<FetchedSeries>, ReadError> {
        Ok(self
            .fetch_many(&[path.to_string()], range)?
            .into_iter()
            .next()
            .flatten())
    }

    fn fetch_many(
        &self,
        paths: &[String],
        range: FetchRange,
    ) -> Result<Vec<Option<FetchedSeries>>, ReadError> {
        if range.from > range.until {
            return Err(ReadError::BadRequest(format!(
                "invalid time interval: from {} is after until {}",
                range.from, range.until
            )));
        }
        // Each series' window, step and roll-up function come from its
        // schema and aggregation rule, as its Whisper file's would.
        let mut plans = Vec::with_capacity(paths.len());
        let rules = self.rules.current();
        for path in paths {
            let schema = rules.schemas.lookup(path);
            let method = rules.aggregation.lookup(path).aggregation();
            let header = rollup::header_for(schema, method);
            let window = rollup::window(&header, range.from, range.until, range.now);
            let stored = names::to_stored(&crate::api::canonicalize(path));
            plans.push((stored, method, window));
        }
        let (lo, hi) = plans
            .iter()
            .filter_map(|(_, _, w)| w.as_ref())
            .fold((i64::MAX, i64::MIN), |(lo, hi), w| {
                (lo.min(w.start), hi.max(w.end - 1))
            });
        let points = if lo <= hi {
            let wanted: Vec<String> = plans
                .iter()
                .filter(|(_, _, w)| w.is_some())
                .map(|(s, _, _)| s.clone())
                .collect();
            let clamp = |t: i64| u32::try_from(t.clamp(0, i64::from(u32::MAX))).unwrap_or(0);
            self.fetch_points(&wanted, clamp(lo), clamp(hi))?
        } else {
            HashMap::new()
        };
        let mut points = points;
        Ok(paths
            .iter()
            .zip(plans)
            .map(|(path, (stored, method, window))| {
                let mut window = window?;
                let mut raw = points.remove(&stored).unwrap_or_default();
                rollup::roll_up(&mut window, &mut raw, method);
                Some(FetchedSeries {
                    path: path.clone(),
                    start: window.start,
                    end: window.end,
                    step: window.step,
                    values: window.values,
                    aggregation: Some(method),
                })
            })
            .collect())
    }

    fn find_tagged(&self, exprs: &[TagExpr]) -> Result<Vec<String>, ReadError> {
        // The candidates' tags are matched with the Whisper backend's own
        // matcher, so both answer alike.
        let index = TagIndex::new();
        for path in self.tagged_paths(exprs)? {
            if let Some(name) = names::from_stored(&path) {
                let _ = index.add(&name);
            }
        }
        index.find(exprs)
    }

    fn tag_names(&self) -> Result<Vec<String>, ReadError> {
        let sql = format!(
            "SELECT splitByChar('=', Tag1)[1] AS tag FROM {} GROUP BY tag ORDER BY tag \
             FORMAT TabSeparatedRaw",
            self.settings.tagged_table
        );
        let text = self.counted(self.client.query_text(&sql))?;
        let mut tags: BTreeSet<String> = text
            .lines()
            .filter(|t| !t.is_empty())
            .map(|t| {
                if t == "__name__" {
                    "name".to_string()
                } else {
                    t.to_string()
                }
            })
            .collect();
        for entry in self.queued_entries() {
            if let Some(name) = names::from_stored(&entry.path).filter(|_| entry.path.contains('?'))
            {
                tags.insert("name".into());
                for tag in name.split(';').skip(1) {
                    if let Some((k, _)) = tag.split_once('=') {
                        tags.insert(k.to_string());
                    }
                }
            }
        }
        Ok(tags.into_iter().collect())
    }

    fn tag_values(&self, tag: &str) -> Result<Vec<(String, usize)>, ReadError> {
        let stored_tag = if tag == "name" { "__name__" } else { tag };
        let prefix = format!("{stored_tag}=");
        let sql = format!(
            "SELECT Path FROM {} WHERE substring(Tag1, 1, {}) = {} GROUP BY Path \
             FORMAT TabSeparatedRaw",
            self.settings.tagged_table,
            prefix.len(),
            quote(&prefix)
        );
        let text = self.counted(self.client.query_text(&sql))?;
        let index = TagIndex::new();
        let queued = self.queued_entries();
        let queued_paths = queued
            .iter()
            .filter(|e| e.path.contains('?'))
            .map(|e| e.path.to_string());
        for path in text.lines().map(str::to_string).chain(queued_paths) {
            if let Some(name) = names::from_stored(&path) {
                let _ = index.add(&name);
            }
        }
        Ok(index.tag_values(tag))
    }

    fn tag_series(&self, path: &str) -> Result<String, ReadError> {
        let canonical = crate::api::canonicalize(path);
        if !crate::api::is_tagged(&canonical) {
            return Err(ReadError::BadRequest(format!(
                "{path:?} is not a tagged series"
            )));
        }
        let stored: Arc<str> = Arc::from(names::to_stored(&canonical));
        let day = names::day_of(unix_now());
        self.lock_queue()
            .index
            .push_back(IndexEntry { path: stored, day });
        Ok(canonical)
    }

    fn del_series(&self, path: &str) -> Result<bool, ReadError> {
        let stored = names::to_stored(&crate::api::canonicalize(path));
        let count = self.counted(self.client.query_text(&format!(
            "SELECT count() FROM {} WHERE Path = {} FORMAT TabSeparatedRaw",
            self.settings.tagged_table,
            quote(&stored)
        )))?;
        if count.trim() == "0" {
            return Ok(false);
        }
        self.counted(self.client.execute(&format!(
            "ALTER TABLE {} DELETE WHERE Path = {}",
            self.settings.tagged_table,
            quote(&stored)
        )))?;
        Ok(true)
    }
}
