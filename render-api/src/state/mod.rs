//! The stateful side of graphite-web: events and dashboards, kept in an
//! embedded SQLite database (`ferrograph.sqlite` in the data directory).
//!
//! The schema is ours (migrations in [`MIGRATIONS`], applied in order and
//! recorded in SQLite's `user_version`), not Django's: the HTTP handlers in
//! `http::events` and `http::dashboard` give graphite-web's answers over it.
//! Every write is one transaction, so a failed request leaves nothing
//! half-written.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

/// The file name of the state database inside a data directory.
pub const DB_FILE: &str = "ferrograph.sqlite";

/// Schema changes, in order; index + 1 is the `user_version` after each.
const MIGRATIONS: &[&str] = &[
    // 1: events (tags kept as given, plus one row per parsed tag for
    // matching, as django-tagging's tables) and dashboards.
    "CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        when_epoch REAL NOT NULL,
        what TEXT NOT NULL,
        data TEXT NOT NULL,
        tags TEXT NOT NULL
     );
     CREATE INDEX events_when ON events (when_epoch);
     CREATE TABLE event_tags (
        event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        tag TEXT NOT NULL,
        PRIMARY KEY (event_id, tag)
     );
     CREATE INDEX event_tags_tag ON event_tags (tag);
     CREATE TABLE dashboards (
        name TEXT PRIMARY KEY,
        state TEXT NOT NULL
     );",
];

/// An error of the state database, with what was being done.
#[derive(Debug)]
pub struct StateError(pub String);

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StateError {}

fn ctx(what: &str) -> impl Fn(rusqlite::Error) -> StateError + '_ {
    move |e| StateError(format!("{what}: {e}"))
}

/// One stored event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Counts from 1, as Django's auto ids.
    pub id: i64,
    /// Seconds since the epoch (fractions kept, as Django keeps microseconds).
    pub when: f64,
    /// What happened.
    pub what: String,
    /// Free text.
    pub data: String,
    /// Tags as given (space-separated).
    pub tags: String,
}

/// Which events a tag list selects (graphite-web's `set` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagSet {
    /// No `set`: django-tagging's `with_all` over the tags that exist.
    All,
    /// `set=union`: any of the tags.
    Union,
    /// `set=intersection`: all of the tags, each of which must exist.
    Intersection,
}

/// Splits a tag string as django-tagging's `parse_tag_input` does for
/// inputs without quotes: on commas when there is one, else on whitespace;
/// unique, sorted.
pub fn parse_tags(input: &str) -> Vec<String> {
    let mut tags: Vec<String> = if input.contains(',') {
        input
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect()
    } else {
        input.split_whitespace().map(str::to_string).collect()
    };
    tags.sort();
    tags.dedup();
    tags
}

/// The state database. One connection behind a mutex: SQLite serialises
/// writers anyway and these endpoints are light.
pub struct StateStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("path", &self.path)
            .finish()
    }
}

impl StateStore {
    /// Opens (creating if needed) the database at `path` and applies the
    /// migrations it lacks.
    pub fn open(path: &Path) -> Result<StateStore, StateError> {
        let conn = Connection::open(path)
            .map_err(|e| StateError(format!("opening {}: {e}", path.display())))?;
        Self::init(conn, path.to_path_buf())
    }

    /// A database in memory (tests).
    pub fn in_memory() -> Result<StateStore, StateError> {
        let conn = Connection::open_in_memory().map_err(ctx("opening an in-memory database"))?;
        Self::init(conn, PathBuf::from(":memory:"))
    }

    fn init(mut conn: Connection, path: PathBuf) -> Result<StateStore, StateError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(ctx("setting the busy timeout"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(ctx("enabling foreign keys"))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(ctx("reading the schema version"))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StateError(format!(
                "{}: schema version {version} is newer than this ferrograph knows ({known})",
                path.display()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction().map_err(ctx("starting a migration"))?;
            tx.execute_batch(sql)
                .map_err(|e| StateError(format!("migration {}: {e}", i + 1)))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(ctx("recording the schema version"))?;
            tx.commit().map_err(ctx("committing a migration"))?;
        }
        Ok(StateStore {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open
        // (rusqlite rolls back on drop), so the connection stays usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores an event; returns its id.
    pub fn add_event(
        &self,
        when: f64,
        what: &str,
        data: &str,
        tags: &str,
    ) -> Result<i64, StateError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(ctx("starting a write"))?;
        tx.execute(
            "INSERT INTO events (when_epoch, what, data, tags) VALUES (?1, ?2, ?3, ?4)",
            params![when, what, data, tags],
        )
        .map_err(ctx("inserting an event"))?;
        let id = tx.last_insert_rowid();
        for tag in parse_tags(tags) {
            tx.execute(
                "INSERT INTO event_tags (event_id, tag) VALUES (?1, ?2)",
                params![id, tag],
            )
            .map_err(ctx("inserting an event's tags"))?;
        }
        tx.commit().map_err(ctx("committing an event"))?;
        Ok(id)
    }

    /// One event by id.
    pub fn event(&self, id: i64) -> Result<Option<Event>, StateError> {
        let conn = self.lock();
        conn.query_row(
            "SELECT id, when_epoch, what, data, tags FROM events WHERE id = ?1",
            [id],
            row_to_event,
        )
        .optional()
        .map_err(ctx("reading an event"))
    }

    /// Deletes an event; false when there was none.
    pub fn delete_event(&self, id: i64) -> Result<bool, StateError> {
        let conn = self.lock();
        let n = conn
            .execute("DELETE FROM events WHERE id = ?1", [id])
            .map_err(ctx("deleting an event"))?;
        Ok(n > 0)
    }

    /// Events with `from <= when <= until`, selected by `tags` (None: all)
    /// as graphite-web's `Event.find_events` plus its view's filter, in
    /// time order; at most `limit` (more is an error naming the limit).
    pub fn find_events(
        &self,
        from: f64,
        until: f64,
        tags: Option<&[String]>,
        set: TagSet,
        limit: usize,
    ) -> Result<Vec<Event>, StateError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, when_epoch, what, data, tags FROM events
                 WHERE when_epoch >= ?1 AND when_epoch <= ?2 ORDER BY when_epoch, id",
            )
            .map_err(ctx("preparing the event query"))?;
        // django-tagging looks tags up by name and drops those no event
        // ever had; with none left, nothing matches.
        let known: Option<Vec<String>> = match tags {
            None => None,
            Some(wanted) => {
                let mut exists = conn
                    .prepare_cached("SELECT 1 FROM event_tags WHERE tag = ?1 LIMIT 1")
                    .map_err(ctx("preparing the tag query"))?;
                let mut known = Vec::new();
                for tag in wanted {
                    if !known.contains(tag)
                        && exists.exists([tag]).map_err(ctx("looking a tag up"))?
                    {
                        known.push(tag.clone());
                    }
                }
                if known.is_empty() {
                    return Ok(Vec::new());
                }
                Some(known)
            }
        };
        let rows = stmt
            .query_map(params![from, until], row_to_event)
            .map_err(ctx("querying events"))?;
        let mut out = Vec::new();
        for row in rows {
            let event = row.map_err(ctx("reading events"))?;
            if let (Some(known), Some(wanted)) = (&known, tags) {
                let own = parse_tags(&event.tags);
                let keep = match set {
                    TagSet::Union => known.iter().any(|t| own.contains(t)),
                    TagSet::All => known.iter().all(|t| own.contains(t)),
                    TagSet::Intersection => {
                        // graphite-web's view keeps an event when the set of
                        // wanted tags it has (as given, split on spaces) is
                        // as long as the wanted list.
                        let given: Vec<&str> = event.tags.split_whitespace().collect();
                        let mut hit: Vec<&String> = wanted
                            .iter()
                            .filter(|t| given.contains(&t.as_str()))
                            .collect();
                        hit.sort();
                        hit.dedup();
                        known.iter().all(|t| own.contains(t)) && hit.len() == wanted.len()
                    }
                };
                if !keep {
                    continue;
                }
            }
            if out.len() == limit {
                return Err(StateError(format!(
                    "more than {limit} events match; narrow the time range or tags"
                )));
            }
            out.push(event);
        }
        Ok(out)
    }

    /// Saves (creates or replaces) a dashboard's state text.
    pub fn save_dashboard(&self, name: &str, state: &str) -> Result<(), StateError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO dashboards (name, state) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET state = excluded.state",
            params![name, state],
        )
        .map_err(ctx("saving a dashboard"))?;
        Ok(())
    }

    /// A dashboard's state text.
    pub fn dashboard(&self, name: &str) -> Result<Option<String>, StateError> {
        let conn = self.lock();
        conn.query_row(
            "SELECT state FROM dashboards WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()
        .map_err(ctx("loading a dashboard"))
    }

    /// Deletes a dashboard; false when there was none.
    pub fn delete_dashboard(&self, name: &str) -> Result<bool, StateError> {
        let conn = self.lock();
        let n = conn
            .execute("DELETE FROM dashboards WHERE name = ?1", [name])
            .map_err(ctx("deleting a dashboard"))?;
        Ok(n > 0)
    }

    /// Saves a dashboard under the first free `temporary-N` name (N from
    /// 0, as graphite-web) and returns the name; one transaction, so two
    /// requests cannot take the same name.
    pub fn create_temporary_dashboard(&self, state: &str) -> Result<String, StateError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(ctx("starting a write"))?;
        let mut i: u64 = 0;
        let name = loop {
            let name = format!("temporary-{i}");
            let taken = tx
                .query_row("SELECT 1 FROM dashboards WHERE name = ?1", [&name], |_| {
                    Ok(())
                })
                .optional()
                .map_err(ctx("looking a dashboard up"))?
                .is_some();
            if !taken {
                break name;
            }
            i += 1;
        };
        tx.execute(
            "INSERT INTO dashboards (name, state) VALUES (?1, ?2)",
            params![name, state],
        )
        .map_err(ctx("saving a temporary dashboard"))?;
        tx.commit().map_err(ctx("committing a dashboard"))?;
        Ok(name)
    }

    /// Every dashboard name, sorted as SQLite sorts text (Django's
    /// `order_by('name')` on SQLite).
    pub fn dashboard_names(&self) -> Result<Vec<String>, StateError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached("SELECT name FROM dashboards ORDER BY name")
            .map_err(ctx("preparing the dashboard query"))?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .map_err(ctx("listing dashboards"))?;
        rows.collect::<Result<Vec<String>, _>>()
            .map_err(ctx("reading dashboard names"))
    }
}

impl StateStore {
    /// Copies the events and dashboards of a graphite-web SQLite database
    /// (tables `events_event` and `dashboard_dashboard`, opened read-only)
    /// in one transaction: events get new ids after ours (in their id
    /// order), dashboards replace ours of the same name. Returns the
    /// numbers of events and dashboards copied.
    pub fn import_graphite_db(&self, source: &Path) -> Result<(usize, usize), StateError> {
        let src = Connection::open_with_flags(source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| StateError(format!("opening {}: {e}", source.display())))?;
        let mut events = Vec::new();
        {
            let mut stmt = src
                .prepare(r#"SELECT "when", what, data, tags FROM events_event ORDER BY id"#)
                .map_err(ctx("reading graphite-web's events_event"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })
                .map_err(ctx("reading graphite-web's events"))?;
            for row in rows {
                let (when, what, data, tags) = row.map_err(ctx("reading an event"))?;
                let when = django_datetime(&when).ok_or_else(|| {
                    StateError(format!("event {what:?}: unreadable time {when:?}"))
                })?;
                events.push((when, what, data, tags));
            }
        }
        let mut dashboards = Vec::new();
        {
            let mut stmt = src
                .prepare("SELECT name, state FROM dashboard_dashboard ORDER BY name")
                .map_err(ctx("reading graphite-web's dashboard_dashboard"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(ctx("reading graphite-web's dashboards"))?;
            for row in rows {
                dashboards.push(row.map_err(ctx("reading a dashboard"))?);
            }
        }
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(ctx("starting the import"))?;
        for (when, what, data, tags) in &events {
            tx.execute(
                "INSERT INTO events (when_epoch, what, data, tags) VALUES (?1, ?2, ?3, ?4)",
                params![when, what, data, tags],
            )
            .map_err(ctx("importing an event"))?;
            let id = tx.last_insert_rowid();
            for tag in parse_tags(tags) {
                tx.execute(
                    "INSERT INTO event_tags (event_id, tag) VALUES (?1, ?2)",
                    params![id, tag],
                )
                .map_err(ctx("importing an event's tags"))?;
            }
        }
        for (name, state) in &dashboards {
            tx.execute(
                "INSERT INTO dashboards (name, state) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET state = excluded.state",
                params![name, state],
            )
            .map_err(ctx("importing a dashboard"))?;
        }
        tx.commit().map_err(ctx("committing the import"))?;
        Ok((events.len(), dashboards.len()))
    }
}

/// Django's SQLite datetime text (`2020-09-13 12:26:40.750000`, UTC with
/// graphite-web's `USE_TZ`) as epoch seconds.
fn django_datetime(text: &str) -> Option<f64> {
    let t = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f").ok()?;
    let utc = t.and_utc();
    Some(utc.timestamp() as f64 + f64::from(utc.timestamp_subsec_micros()) / 1e6)
}

impl crate::functions::EventSource for StateStore {
    fn event_times(
        &self,
        from: i64,
        until: i64,
        tags: Option<&[String]>,
    ) -> Result<Vec<f64>, String> {
        self.find_events(
            from as f64,
            until as f64,
            tags,
            TagSet::All,
            MAX_EVENTS_PER_RENDER,
        )
        .map(|events| events.iter().map(|e| e.when).collect())
        .map_err(|e| e.to_string())
    }
}

/// Most events one `events()` call reads.
const MAX_EVENTS_PER_RENDER: usize = 1_000_000;

fn row_to_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        id: r.get(0)?,
        when: r.get(1)?,
        what: r.get(2)?,
        data: r.get(3)?,
        tags: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_once_and_data_survives_reopening() {
        let dir = std::env::temp_dir().join(format!("ferrograph-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(DB_FILE);
        {
            let s = StateStore::open(&path).unwrap();
            assert_eq!(s.add_event(100.0, "deploy", "", "a b").unwrap(), 1);
            s.save_dashboard("d", "{}").unwrap();
        }
        let s = StateStore::open(&path).unwrap();
        assert_eq!(s.add_event(200.0, "x", "", "b").unwrap(), 2);
        assert_eq!(s.dashboard("d").unwrap().as_deref(), Some("{}"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tag_sets_follow_django_tagging() {
        let s = StateStore::in_memory().unwrap();
        s.add_event(10.0, "1", "", "a b").unwrap();
        s.add_event(20.0, "2", "", "b c").unwrap();
        s.add_event(30.0, "3", "", "").unwrap();
        let ids = |tags: &[&str], set| {
            let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
            s.find_events(0.0, 100.0, Some(&tags), set, 10)
                .unwrap()
                .iter()
                .map(|e| e.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&["b"], TagSet::All), vec![1, 2]);
        assert_eq!(ids(&["a", "b"], TagSet::All), vec![1]);
        assert_eq!(ids(&["a", "zz"], TagSet::All), vec![1]);
        assert_eq!(ids(&["a", "zz"], TagSet::Intersection), Vec::<i64>::new());
        assert_eq!(ids(&["a", "c"], TagSet::Union), vec![1, 2]);
        assert_eq!(ids(&["zz"], TagSet::Union), Vec::<i64>::new());
        assert!(s.find_events(0.0, 100.0, None, TagSet::All, 2).is_err());
        assert_eq!(parse_tags("b a,  c"), vec!["b a", "c"]);
    }
}
