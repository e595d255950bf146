//! The bounded queue between ingest and ClickHouse, and the index cache.
//!
//! Points stay in the queue until ClickHouse has acknowledged their insert,
//! so reads merge them in (as Whisper reads merge the cache) and a failed
//! insert is retried with the same rows. Only the writer removes rows, and
//! only from the front, after a success; ingest only appends.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use super::names::{self, TREE_DATE};
use super::rowbinary::Writer;

/// One point waiting for its insert.
#[derive(Clone, Debug)]
pub struct Row {
    /// Stored path (carbon-clickhouse form).
    pub path: Arc<str>,
    /// The point's time.
    pub time: u32,
    /// The value.
    pub value: f64,
    /// When it was received (the `Timestamp` column).
    pub received: u32,
}

/// A (stored path, day) whose index or tagged rows wait for their insert.
#[derive(Clone, Debug)]
pub struct IndexEntry {
    /// Stored path.
    pub path: Arc<str>,
    /// The day of the point that needed it.
    pub day: u16,
}

/// What waits for ClickHouse.
#[derive(Default)]
pub struct Queue {
    /// Points, oldest first.
    pub points: VecDeque<Row>,
    /// Index entries, oldest first.
    pub index: VecDeque<IndexEntry>,
    /// Set once a stop begins: the writer drains and exits.
    pub stopping: bool,
}

/// The (day, path) pairs already indexed, as carbon-clickhouse keeps them:
/// each metric is indexed once a day. Bounded: when full it starts again,
/// and the rows sent twice collapse in ReplacingMergeTree.
pub struct IndexCache {
    seen: HashSet<(u16, Arc<str>)>,
    limit: usize,
}

impl IndexCache {
    /// An empty cache of at most `limit` entries.
    pub fn new(limit: usize) -> IndexCache {
        IndexCache {
            seen: HashSet::new(),
            limit,
        }
    }

    /// True the first time `(day, path)` is seen (since the cache last
    /// started again).
    pub fn first_time(&mut self, day: u16, path: &Arc<str>) -> bool {
        if self.seen.contains(&(day, Arc::clone(path))) {
            return false;
        }
        if self.seen.len() >= self.limit {
            self.seen.clear();
        }
        self.seen.insert((day, Arc::clone(path)));
        true
    }
}

/// Columns of the points insert.
pub const POINT_COLUMNS: &str = "Path, Value, Time, Date, Timestamp";
/// Columns of the index insert.
pub const INDEX_COLUMNS: &str = "Date, Level, Path, Version";
/// Columns of the tagged insert.
pub const TAGGED_COLUMNS: &str = "Date, Tag1, Path, Tags, Version";

/// RowBinary of points.
pub fn encode_points<'a>(rows: impl Iterator<Item = &'a Row>, out: &mut Writer) {
    for row in rows {
        out.string(&row.path);
        out.f64(row.value);
        out.u32(row.time);
        out.u16(names::day_of(row.time));
        out.u32(row.received);
    }
}

/// RowBinary of the index rows of plain paths, exactly as carbon-clickhouse
/// writes them: the tree rows (the metric at `20000 + depth`, each parent
/// with a trailing dot at `20000 + its depth`, the reversed metric at
/// `30000 + depth`, all dated 1970-02-12), then the daily rows (`depth`,
/// and `10000 + depth` reversed). Tagged paths are skipped (they go to the
/// tagged table). Parents shared by several metrics of one batch are
/// written once.
pub fn encode_index<'a>(
    entries: impl Iterator<Item = &'a IndexEntry>,
    version: u32,
    out: &mut Writer,
) {
    let mut parents_written: HashSet<&str> = HashSet::new();
    let mut tree_written: HashSet<&str> = HashSet::new();
    for entry in entries {
        let path: &str = &entry.path;
        if path.contains('?') {
            continue;
        }
        let level = names::depth(path);
        let reversed = names::reversed(path);
        if tree_written.insert(path) {
            row(
                out,
                TREE_DATE,
                names::TREE_LEVEL_OFFSET + level,
                path,
                version,
            );
            let mut parent = path;
            let mut parent_level = level;
            while let Some(dot) = parent.rfind('.') {
                parent_level -= 1;
                let with_dot = &path[..dot + 1];
                if !parents_written.insert(with_dot) {
                    break;
                }
                row(
                    out,
                    TREE_DATE,
                    names::TREE_LEVEL_OFFSET + parent_level,
                    with_dot,
                    version,
                );
                parent = &path[..dot];
            }
            row(
                out,
                TREE_DATE,
                names::REVERSE_TREE_LEVEL_OFFSET + level,
                &reversed,
                version,
            );
        }
        row(out, entry.day, level, path, version);
        row(
            out,
            entry.day,
            names::REVERSE_LEVEL_OFFSET + level,
            &reversed,
            version,
        );
    }
}

fn row(out: &mut Writer, date: u16, level: u32, path: &str, version: u32) {
    out.u16(date);
    out.u32(level);
    out.string(path);
    out.u32(version);
}

/// RowBinary of the tagged rows of tagged paths: one row per tag (`Tag1`),
/// each carrying all of them (`Tags`), as carbon-clickhouse writes them.
pub fn encode_tagged<'a>(
    entries: impl Iterator<Item = &'a IndexEntry>,
    version: u32,
    out: &mut Writer,
) {
    for entry in entries {
        if !entry.path.contains('?') {
            continue;
        }
        let Some(name) = names::from_stored(&entry.path) else {
            continue;
        };
        let tags = names::tag_list(&name);
        for tag1 in &tags {
            out.u16(entry.day);
            out.string(tag1);
            out.string(&entry.path);
            out.uvarint(tags.len() as u64);
            for t in &tags {
                out.string(t);
            }
            out.u32(version);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, day: u16) -> IndexEntry {
        IndexEntry {
            path: Arc::from(path),
            day,
        }
    }

    #[test]
    fn index_rows_are_carbon_clickhouse_rows() {
        let mut w = Writer::default();
        encode_index(
            [entry("ch.m7", 19_000), entry("ch.m8", 19_000)].iter(),
            7,
            &mut w,
        );
        let mut rows = Vec::new();
        let b = &w.buf;
        let mut i = 0;
        while i < b.len() {
            let date = u16::from_le_bytes([b[i], b[i + 1]]);
            let level = u32::from_le_bytes([b[i + 2], b[i + 3], b[i + 4], b[i + 5]]);
            let len = usize::from(b[i + 6]);
            let path = String::from_utf8(b[i + 7..i + 7 + len].to_vec()).unwrap();
            let version = u32::from_le_bytes(b[i + 7 + len..i + 11 + len].try_into().unwrap());
            assert_eq!(version, 7);
            rows.push((date, level, path));
            i += 11 + len;
        }
        let expect: Vec<(u16, u32, String)> = [
            (42, 20_002, "ch.m7"),
            (42, 20_001, "ch."),
            (42, 30_002, "m7.ch"),
            (19_000, 2, "ch.m7"),
            (19_000, 10_002, "m7.ch"),
            (42, 20_002, "ch.m8"),
            (42, 30_002, "m8.ch"),
            (19_000, 2, "ch.m8"),
            (19_000, 10_002, "m8.ch"),
        ]
        .iter()
        .map(|&(d, l, p)| (d, l, p.to_string()))
        .collect();
        assert_eq!(rows, expect);
    }

    #[test]
    fn the_index_cache_admits_each_day_once_and_stays_bounded() {
        let mut cache = IndexCache::new(2);
        let a: Arc<str> = Arc::from("a");
        assert!(cache.first_time(1, &a));
        assert!(!cache.first_time(1, &a));
        assert!(cache.first_time(2, &a));
        assert!(cache.first_time(3, &a)); // full: started again
        assert!(cache.seen.len() <= 2);
    }
}
