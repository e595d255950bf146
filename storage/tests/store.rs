//! The writable store end to end: ingest → cache → writers → files, reads
//! merged with the cache, create limits that never drop points, overflow
//! counting, corrupt files, and shutdown draining the cache.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use storage::Read as _;
use storage::{FetchRange, MetricPoint, ReadLimits, Store, StoreSettings, WhisperTree};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn settings(dir: &std::path::Path) -> StoreSettings {
    let mut s = StoreSettings::new(dir);
    s.self_metrics = None;
    s.allocation = storage::whisper::Allocation::Sparse;
    s
}

fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

fn stat(store: &Store, key: &str) -> f64 {
    store
        .stats()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap()
}

#[test]
fn points_are_readable_at_once_and_reach_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(settings(dir.path())).unwrap();
    let ingest = store.ingest_handle();
    let read = store.read_handle();
    let t = now() - now() % 60 - 120;
    let points: Vec<MetricPoint> = (0..6)
        .flat_map(|i| {
            [
                MetricPoint::new("servers.web1.load", t + i * 10, i as f64),
                MetricPoint::new("stats_counts.hits", t + i * 10, 2.0),
                MetricPoint::new("tagged.m;host=b;dc=a", t + i * 10, 1.0),
            ]
        })
        .collect();
    let report = ingest.ingest(points).unwrap();
    assert_eq!(
        (report.accepted, report.rejected, report.overflowed),
        (18, 0, 0)
    );
    let range = FetchRange {
        from: t - 10,
        until: t + 60,
        now: now(),
    };
    // visible immediately, whether or not a writer got to it yet
    let s = read.fetch("stats_counts.hits", range).unwrap().unwrap();
    assert_eq!(s.step, 10);
    assert_eq!(s.values.iter().flatten().sum::<f64>(), 12.0);
    assert!(read
        .find("servers.*")
        .unwrap()
        .iter()
        .any(|n| n.path == "servers.web1" && !n.is_leaf));
    assert_eq!(read.find("servers.web1.*").unwrap().len(), 1);
    assert_eq!(
        read.find_tagged(&[storage::TagExpr::parse("dc=a").unwrap()])
            .unwrap(),
        vec!["tagged.m;dc=a;host=b"]
    );
    assert!(
        wait_until(Duration::from_secs(10), || store.cache_size() == 0),
        "writers drain the cache"
    );
    assert_eq!(stat(&store, "committedPoints"), 18.0);
    assert_eq!(stat(&store, "creates"), 3.0);
    // now from the files alone, through a read-only view
    let tree = WhisperTree::open(dir.path(), ReadLimits::default()).unwrap();
    let s = tree.fetch("stats_counts.hits", range).unwrap().unwrap();
    assert_eq!(s.values.iter().flatten().sum::<f64>(), 12.0);
    // servers.* gets the 60 s default schema: the last point per minute wins
    let s = tree.fetch("servers.web1.load", range).unwrap().unwrap();
    assert_eq!(s.step, 60);
    assert!(s.values.contains(&Some(5.0)), "{:?}", s.values);
    assert!(tree.fetch("tagged.m;host=b;dc=a", range).unwrap().is_some());
    store.shutdown();
    // tagged names of hash-form files survive a restart
    let again = Store::open(settings(dir.path())).unwrap();
    let read = again.read_handle();
    assert_eq!(
        read.find_tagged(&[storage::TagExpr::parse("host=b").unwrap()])
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn rate_limited_creates_keep_their_points() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.max_creates_per_second = Some(20.0);
    let store = Store::open(s).unwrap();
    let t = now() - 30;
    let points: Vec<MetricPoint> = (0..60)
        .map(|i| MetricPoint::new(format!("new.m{i}"), t, i as f64))
        .collect();
    store.ingest_handle().ingest(points).unwrap();
    // 60 creates at 20/s (burst 20) take ~2 s; meanwhile nothing is lost
    std::thread::sleep(Duration::from_millis(300));
    assert!(stat(&store, "creates") < 60.0, "the limit applies");
    let read = store.read_handle();
    let range = FetchRange {
        from: t - 60,
        until: t + 1,
        now: now(),
    };
    for i in 0..60 {
        let series = read.fetch(&format!("new.m{i}"), range).unwrap().unwrap();
        assert!(
            series.values.contains(&Some(i as f64)),
            "new.m{i} readable while waiting"
        );
    }
    assert!(wait_until(Duration::from_secs(15), || store.cache_size() == 0));
    assert_eq!(stat(&store, "creates"), 60.0);
    assert_eq!(stat(&store, "committedPoints"), 60.0);
    assert_eq!(stat(&store, "droppedPoints"), 0.0);
}

#[test]
fn overflow_and_bad_points_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.max_cache_points = 5;
    s.max_creates_per_second = Some(0.001); // nothing gets written: the cache stays full
    let store = Store::open(s).unwrap();
    let t = now();
    let mut points: Vec<MetricPoint> = (0..8)
        .map(|i| MetricPoint::new(format!("a.b{i}"), t, 1.0))
        .collect();
    points.push(MetricPoint::new("a.nan", t, f64::NAN));
    points.push(MetricPoint::new("a.neg", -5, 1.0));
    points.push(MetricPoint::new("a/../x", t, 1.0));
    let r = store.ingest_handle().ingest(points).unwrap();
    assert_eq!(r.rejected, 3);
    assert_eq!(r.accepted + r.overflowed, 8);
    assert!(r.overflowed >= 3, "{r:?}");
    assert_eq!(stat(&store, "cache.overflow"), r.overflowed as f64);
    assert_eq!(stat(&store, "rejectedPoints"), 3.0);
}

#[test]
fn shutdown_drains_and_corrupt_files_only_cost_their_own_points() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bad")).unwrap();
    std::fs::write(
        dir.path().join("bad/file.wsp"),
        b"not a whisper file at all",
    )
    .unwrap();
    let store = Store::open(settings(dir.path())).unwrap();
    let t = now() - 5;
    let mut points: Vec<MetricPoint> = (0..500)
        .map(|i| MetricPoint::new(format!("drain.m{i}"), t, i as f64))
        .collect();
    points.push(MetricPoint::new("bad.file", t, 1.0));
    store.ingest_handle().ingest(points).unwrap();
    let ingest = store.ingest_handle();
    store.shutdown();
    assert!(matches!(
        ingest.ingest(vec![MetricPoint::new("late", t, 1.0)]),
        Err(storage::IngestError::ShuttingDown)
    ));
    let tree = WhisperTree::open(dir.path(), ReadLimits::default()).unwrap();
    let range = FetchRange {
        from: t - 60,
        until: t + 1,
        now: now(),
    };
    for i in 0..500 {
        let s = tree.fetch(&format!("drain.m{i}"), range).unwrap().unwrap();
        assert!(
            s.values.contains(&Some(i as f64)),
            "drain.m{i} on disk after shutdown"
        );
    }
    assert!(tree.fetch("bad.file", range).is_err());
}

#[test]
fn files_removed_while_mapped_come_back_with_every_point() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(settings(dir.path())).unwrap();
    let ingest = store.ingest_handle();
    let t = now() - now() % 60 - 600;
    let names: Vec<String> = (0..300).map(|i| format!("batch.m{i}")).collect();
    // two rounds: the first creates and maps the files, the second goes
    // through the writers' batched path for mapped files
    for round in 0..2 {
        let points = names
            .iter()
            .flat_map(|n| (0..3).map(move |k| MetricPoint::new(n, t + round * 180 + k * 60, 1.0)))
            .collect();
        assert_eq!(ingest.ingest(points).unwrap().accepted, 900);
        assert!(wait_until(Duration::from_secs(10), || store.cache_size() == 0));
    }
    std::fs::remove_file(dir.path().join("batch/m7.wsp")).unwrap();
    // past the writers' once-a-second check of their mappings
    std::thread::sleep(Duration::from_millis(1200));
    let points = names
        .iter()
        .map(|n| MetricPoint::new(n, t + 420, 2.0))
        .collect();
    assert_eq!(ingest.ingest(points).unwrap().accepted, 300);
    assert!(wait_until(Duration::from_secs(10), || store.cache_size() == 0));
    store.shutdown();
    let tree = WhisperTree::open(dir.path(), ReadLimits::default()).unwrap();
    let range = FetchRange {
        from: t - 60,
        until: t + 480,
        now: now(),
    };
    for n in &names {
        let s = tree.fetch(n, range).unwrap().unwrap();
        let have = s.values.iter().flatten().count();
        if n == "batch.m7" {
            assert_eq!(
                s.values.iter().flatten().collect::<Vec<_>>(),
                vec![&2.0],
                "recreated"
            );
        } else {
            assert_eq!(have, 7, "{n}: {:?}", s.values);
        }
    }
}

#[test]
fn writers_past_their_mapping_budget_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.writers = 1;
    s.max_mapped_files = Some(4);
    // "big" files (10 s for a day: 101 KiB) are remapped, the others
    // written without a mapping
    s.schemas = storage::schema::Schemas::parse(
        "[big]\npattern = ^big\\.\nretentions = 10s:1d\n[all]\npattern = .\nretentions = 60s:1d\n",
        "test",
    )
    .unwrap();
    let store = Store::open(s).unwrap();
    let ingest = store.ingest_handle();
    let t = now() - now() % 60 - 600;
    let names: Vec<String> = (0..40)
        .map(|i| format!("{}.m{i}", if i % 4 == 0 { "big" } else { "small" }))
        .collect();
    for round in 0..3 {
        let points = names
            .iter()
            .map(|n| MetricPoint::new(n, t + round * 60, round as f64))
            .collect();
        assert_eq!(ingest.ingest(points).unwrap().accepted, 40);
        assert!(wait_until(Duration::from_secs(10), || store.cache_size() == 0));
    }
    assert_eq!(stat(&store, "committedPoints"), 120.0);
    store.shutdown();
    let range = FetchRange {
        from: t - 60,
        until: t + 180,
        now: now(),
    };
    let tree = WhisperTree::open(dir.path(), ReadLimits::default()).unwrap();
    for n in &names {
        let s = tree.fetch(n, range).unwrap().unwrap();
        let got: Vec<f64> = s.values.iter().flatten().copied().collect();
        assert_eq!(got, vec![0.0, 1.0, 2.0], "{n}: step {}", s.step);
    }
}
