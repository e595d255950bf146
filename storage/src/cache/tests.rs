//! Unit tests of the cache.

use super::*;

fn pts(name: &str, list: &[(i64, f64)]) -> Vec<MetricPoint> {
    list.iter()
        .map(|&(t, v)| MetricPoint::new(name, t, v))
        .collect()
}

fn add<'p>(
    c: &Cache,
    shard: usize,
    points: &'p [MetricPoint],
    room: Room,
    unknown: Option<Unknown<'_, 'p>>,
) -> Added {
    c.add(shard, &runs(points).collect::<Vec<_>>(), room, unknown)
}

/// The points of `runs` as `(name, timestamp, value)`.
fn flat(runs: &[Run<'_>]) -> Vec<(String, i64, f64)> {
    runs.iter()
        .flat_map(|r| {
            r.points
                .iter()
                .map(|p| (r.name.to_string(), p.timestamp, p.value))
        })
        .collect()
}

#[test]
fn last_received_wins_and_limit_counts() {
    let c = Cache::new(4, 3);
    let s = c.shard_of("a");
    let added = add(
        &c,
        s,
        &pts("a", &[(10, 1.0), (10, 2.0), (20, 3.0)]),
        Room::Limited,
        None,
    );
    assert_eq!(
        added,
        Added {
            grew: 2,
            refused: 0,
            ..Added::default()
        }
    );
    assert_eq!(c.size(), 2);
    assert_eq!(c.get("a"), vec![(10, 2.0), (20, 3.0)]);
    let added = add(
        &c,
        s,
        &pts("a", &[(30, 1.0), (40, 1.0), (20, 9.0)]),
        Room::Limited,
        None,
    );
    assert_eq!(
        added,
        Added {
            grew: 1,
            refused: 1,
            ..Added::default()
        }
    );
    assert_eq!(c.size(), 3);
    assert_eq!(c.get("a"), vec![(10, 2.0), (20, 9.0), (30, 1.0)]);
}

#[test]
fn out_of_order_points_replace_by_timestamp() {
    let c = Cache::new(1, 100);
    add(
        &c,
        0,
        &pts(
            "o",
            &[(30, 1.0), (10, 2.0), (20, 3.0), (10, 4.0), (30, 5.0)],
        ),
        Room::Limited,
        None,
    );
    assert_eq!(c.size(), 3);
    assert_eq!(c.get("o"), vec![(10, 4.0), (20, 3.0), (30, 5.0)]);
    assert!(c.take(&c.lookup("o").unwrap()).is_some());
    // after a take, the queue starts over: 10 is queued again, not lost
    add(&c, 0, &pts("o", &[(10, 6.0)]), Room::Limited, None);
    assert_eq!(c.get("o"), vec![(10, 6.0), (20, 3.0), (30, 5.0)]);
}

#[test]
fn reservations_never_exceed_the_limit() {
    let c = Cache::new(2, 5);
    let s = c.shard_of("r");
    assert_eq!(c.reserve(3, 5), 3);
    let added = add(
        &c,
        s,
        &pts("r", &[(10, 1.0), (10, 2.0), (20, 3.0)]),
        Room::Reserved,
        None,
    );
    assert_eq!(added.grew, 2);
    c.release(3 - added.grew);
    assert_eq!(c.size(), 2);
    assert_eq!(c.reserve(10, 4), 2);
    c.release(2);
    assert_eq!(c.reserve(10, 99), 3);
    assert_eq!(c.reserve(1, 99), 0);
    // a plain add sees the reservation and refuses
    let q = c.shard_of("q");
    assert_eq!(
        add(&c, q, &pts("q", &[(1, 1.0)]), Room::Limited, None).refused,
        1
    );
    c.release(3);
    assert_eq!(c.size(), 2);
    assert_eq!(c.get("r"), vec![(10, 2.0), (20, 3.0)]);
}

#[test]
fn unknown_names_are_handed_back_untouched() {
    let c = Cache::new(1, 100);
    add(&c, 0, &pts("cached", &[(1, 1.0)]), Room::Limited, None);
    let mut unknown = Vec::new();
    let is_known = |n: &str| n == "indexed";
    let mut batch = pts("cached", &[(2, 2.0)]);
    batch.extend(pts("indexed", &[(1, 1.0)]));
    batch.extend(pts("new", &[(1, 1.0), (2, 2.0)]));
    let added = add(
        &c,
        0,
        &batch,
        Room::Limited,
        Some(Unknown {
            is_known: &is_known,
            out: &mut unknown,
        }),
    );
    assert_eq!(
        added,
        Added {
            grew: 2,
            refused: 0,
            ..Added::default()
        }
    );
    assert_eq!(
        flat(&unknown),
        flat(&runs(&pts("new", &[(1, 1.0), (2, 2.0)])).collect::<Vec<_>>())
    );
    assert_eq!(c.metric_count(), 2);
}

#[test]
fn in_flight_points_stay_visible_and_can_be_put_back() {
    let c = Cache::new(2, 100);
    let s = c.shard_of("m");
    add(
        &c,
        s,
        &pts("m", &[(10, 1.0), (20, 2.0)]),
        Room::Limited,
        None,
    );
    assert_eq!(c.take(&c.lookup("m").unwrap()).unwrap().len(), 2);
    add(
        &c,
        s,
        &pts("m", &[(20, 5.0), (30, 3.0)]),
        Room::Limited,
        None,
    );
    assert_eq!(c.get("m"), vec![(10, 1.0), (20, 5.0), (30, 3.0)]);
    assert_eq!(c.size(), 4);
    let mut work = Vec::new();
    c.queued_counts_into(s, &mut work);
    assert_eq!(work, vec![(c.lookup("m").unwrap(), 2)]);
    assert_eq!(work[0].0.shard, s);
    c.put_back(&c.lookup("m").unwrap());
    assert_eq!(c.size(), 3);
    assert_eq!(c.get("m"), vec![(10, 1.0), (20, 5.0), (30, 3.0)]);
    let taken = c.take(&c.lookup("m").unwrap()).unwrap();
    assert_eq!(taken.len(), 3);
    c.confirm(&c.lookup("m").unwrap());
    assert_eq!(c.size(), 0);
    assert!(c.get("m").is_empty());
    assert_eq!(c.metric_count(), 0);
}

#[test]
fn emptied_entries_stay_known_up_to_a_bound() {
    // room for 20 points: at most 2 idle entries
    let c = Cache::new(1, 20);
    for name in ["a", "b", "c"] {
        add(&c, 0, &pts(name, &[(1, 1.0)]), Room::Limited, None);
        assert!(c.take(&c.lookup(name).unwrap()).is_some());
        c.confirm(&c.lookup(name).unwrap());
    }
    assert_eq!((c.size(), c.metric_count()), (0, 0));
    let mut unknown = Vec::new();
    let nothing_indexed = |_: &str| false;
    let mut batch = pts("a", &[(2, 2.0)]);
    batch.extend(pts("c", &[(2, 2.0)]));
    let added = add(
        &c,
        0,
        &batch,
        Room::Limited,
        Some(Unknown {
            is_known: &nothing_indexed,
            out: &mut unknown,
        }),
    );
    // "a" was kept idle; "c" came when two were idle and was dropped
    assert_eq!(added.grew, 1);
    assert_eq!(
        flat(&unknown),
        flat(&runs(&pts("c", &[(2, 2.0)])).collect::<Vec<_>>())
    );
    assert_eq!(c.get("a"), vec![(2, 2.0)]);
    assert_eq!(c.metric_count(), 1);
}

#[test]
fn a_reused_slot_does_not_answer_for_its_old_metric() {
    // room for 10 points: one idle entry at most
    let c = Cache::new(1, 10);
    for name in ["a", "b"] {
        add(&c, 0, &pts(name, &[(1, 1.0)]), Room::Limited, None);
    }
    let (a, b) = (c.lookup("a").unwrap(), c.lookup("b").unwrap());
    for m in [&a, &b] {
        assert!(c.take(m).is_some());
        c.confirm(m);
    }
    // "a" stays idle, "b" was removed and its slot freed
    assert!(c.lookup("b").is_none());
    add(&c, 0, &pts("d", &[(1, 4.0)]), Room::Limited, None);
    let d = c.lookup("d").unwrap();
    assert_eq!(d.slot, b.slot);
    assert!(c.take(&b).is_none());
    c.confirm(&b);
    c.put_back(&b);
    assert_eq!(c.size(), 1);
    assert_eq!(c.take(&d), Some(vec![(1, 4.0)]));
}

#[test]
fn batched_take_and_confirm_match_one_by_one() {
    let c = Cache::new(1, 100);
    add(&c, 0, &pts("a", &[(1, 1.0), (2, 2.0)]), Room::Limited, None);
    add(&c, 0, &pts("b", &[(1, 3.0)]), Room::Limited, None);
    add(&c, 0, &pts("idle", &[(1, 1.0)]), Room::Limited, None);
    let idle = c.lookup("idle").unwrap();
    assert!(c.take(&idle).is_some());
    c.confirm(&idle);
    let (a, b) = (c.lookup("a").unwrap(), c.lookup("b").unwrap());
    let (mut out, mut ends) = (Vec::new(), Vec::new());
    c.take_many(0, [&a, &idle, &b], &mut out, &mut ends);
    assert_eq!(out, vec![(1, 1.0), (2, 2.0), (1, 3.0)]);
    assert_eq!(ends, vec![2, 2, 3], "nothing queued: an empty range");
    assert_eq!(
        c.get("a"),
        vec![(1, 1.0), (2, 2.0)],
        "in flight, still read"
    );
    // a metric confirmed twice, or already idle, changes nothing more
    c.confirm_many(0, [&a, &b, &a, &idle]);
    assert_eq!((c.size(), c.metric_count()), (0, 0));
    assert_eq!(c.idle.load(Ordering::Relaxed), 3);
    // idle entries answer for their metrics at once
    add(&c, 0, &pts("a", &[(3, 1.0)]), Room::Limited, None);
    assert_eq!(c.lookup("a"), Some(a));
    assert_eq!(c.idle.load(Ordering::Relaxed), 2);
}

#[test]
fn scans_list_each_queued_metric_once() {
    let scan = |c: &Cache| {
        let mut work = Vec::new();
        c.queued_counts_into(0, &mut work);
        work.into_iter()
            .map(|(m, n)| (m.name.to_string(), n))
            .collect::<Vec<_>>()
    };
    // room for 10 points: one idle entry at most
    let c = Cache::new(1, 10);
    add(&c, 0, &pts("a", &[(1, 1.0)]), Room::Limited, None);
    add(&c, 0, &pts("a", &[(2, 1.0)]), Room::Limited, None);
    add(&c, 0, &pts("b", &[(1, 1.0)]), Room::Limited, None);
    assert_eq!(scan(&c), vec![("a".into(), 2), ("b".into(), 1)]);
    assert_eq!(scan(&c), vec![("a".into(), 2), ("b".into(), 1)]);
    let (a, b) = (c.lookup("a").unwrap(), c.lookup("b").unwrap());
    for m in [&a, &b] {
        assert!(c.take(m).is_some());
    }
    assert_eq!(scan(&c), vec![]);
    // a failed write queues its points again
    c.put_back(&a);
    assert_eq!(scan(&c), vec![("a".into(), 2)]);
    assert!(c.take(&a).is_some());
    c.confirm_many(0, [&a, &b]);
    // "b" was removed; its slot, reused, is listed once, under its new name
    add(&c, 0, &pts("d", &[(1, 1.0)]), Room::Limited, None);
    assert_eq!(c.lookup("d").unwrap().slot, b.slot);
    add(&c, 0, &pts("d", &[(2, 1.0)]), Room::Limited, None);
    assert_eq!(scan(&c), vec![("d".into(), 2)]);
}

#[test]
fn runs_split_where_the_name_changes() {
    let mut batch = pts("a", &[(1, 1.0), (2, 2.0)]);
    batch.extend(pts("b", &[(1, 1.0)]));
    batch.extend(pts("a", &[(3, 3.0)]));
    let got: Vec<(&str, usize)> = runs(&batch).map(|r| (r.name, r.points.len())).collect();
    assert_eq!(got, vec![("a", 2), ("b", 1), ("a", 1)]);
    let c = Cache::new(1, 100);
    add(&c, 0, &batch, Room::Limited, None);
    assert_eq!(c.get("a"), vec![(1, 1.0), (2, 2.0), (3, 3.0)]);
    assert_eq!(c.size(), 4);
}

#[test]
fn new_series_wait_in_their_own_bound() {
    let c = Cache::new(1, 100).with_max_awaiting_points(3);
    let fresh = pts("new.a", &[(10, 1.0), (20, 1.0), (30, 1.0)]);
    let added = c.add_new_series(0, &runs(&fresh).collect::<Vec<_>>(), Room::Limited);
    assert_eq!(
        (added.grew, c.awaiting_points(), c.awaiting_series()),
        (3, 3, 1)
    );
    assert!(!c.awaiting_room());
    // a series awaiting its file is refused past the bound ...
    let more = pts("new.a", &[(40, 1.0)]);
    let added = add(&c, 0, &more, Room::Limited, None);
    assert_eq!(added.refused_awaiting, vec![(Arc::from("new.a"), 1)]);
    assert_eq!(added.grew, 0);
    // ... a series with a file is not
    let old = pts("old.b", &[(10, 1.0), (20, 1.0)]);
    assert_eq!(add(&c, 0, &old, Room::Limited, None).grew, 2);
    // once written, the series no longer waits and frees the bound
    let metric = c.lookup("new.a").unwrap();
    assert!(metric.awaiting_file);
    assert!(c.take(&metric).is_some());
    c.confirm(&metric);
    assert_eq!((c.awaiting_points(), c.awaiting_series()), (0, 0));
    assert!(!c.lookup("new.a").unwrap().awaiting_file);
    assert_eq!(add(&c, 0, &more, Room::Limited, None).grew, 1);
}
