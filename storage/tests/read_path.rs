//! The positioned-read path (`WhisperReader`, used by `/render`) gives
//! exactly what whisper's fetch over a mapping gives, for any writes and any
//! window (wrapped archives, stale slots, never-written archives), and
//! reuses the buffers handed back to it.

use proptest::prelude::*;
use storage::whisper::{self, AggregationMethod, Allocation, WhisperFile, WhisperReader};
use storage::{FetchOptions, FetchRange, Read as _, WhisperTree};

const NOW: i64 = 1_700_000_000;
const ARCHIVES: &[(u32, u32)] = &[(10, 36), (60, 20), (300, 12)];

fn write_file(dir: &std::path::Path, name: &str, writes: &[(i64, f64)]) -> std::path::PathBuf {
    let path = dir.join(name);
    whisper::create(
        &path,
        ARCHIVES,
        0.5,
        AggregationMethod::Sum,
        Allocation::Sparse,
    )
    .unwrap();
    let mut f = WhisperFile::open_rw(&path).unwrap();
    for chunk in writes.chunks(7) {
        f.update_many(chunk, NOW).unwrap();
    }
    path
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn positioned_reads_equal_mapped_fetch(
        writes in prop::collection::vec((0i64..4000, -1e6f64..1e6), 0..120),
        windows in prop::collection::vec((0i64..4000, 0i64..4000, 0i64..300), 1..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let writes: Vec<(i64, f64)> = writes.into_iter().map(|(age, v)| (NOW - age, v)).collect();
        let path = write_file(dir.path(), "f.wsp", &writes);
        let mapped = WhisperFile::open(&path).unwrap();
        let reader = WhisperReader::open(&path).unwrap();
        prop_assert_eq!(mapped.header(), reader.header());
        let mut recycled = Vec::new();
        for (a, b, back) in windows {
            let (from, until) = (NOW - a.max(b), NOW - a.min(b));
            let now = NOW - back;
            let want = mapped.fetch(from, until, now, None).unwrap();
            let got = reader.fetch_into(from, until, now, None, recycled).unwrap();
            prop_assert_eq!(&want, &got);
            for archive in &mapped.header().archives {
                let g = Some(archive.seconds_per_point);
                prop_assert_eq!(
                    mapped.fetch(from, until, now, g).unwrap(),
                    reader.fetch(from, until, now, g).unwrap()
                );
            }
            recycled = got.map(|f| f.values).unwrap_or_default();
        }
    }
}

#[test]
fn fetch_many_into_reuses_buffers_and_matches_fetch() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    let mut paths = Vec::new();
    for i in 0..40 {
        let writes: Vec<(i64, f64)> = (0..30)
            .map(|k| (NOW - k * 10 - i, (i * k) as f64))
            .collect();
        write_file(dir.path(), &format!("a/m{i:02}.wsp"), &writes);
        paths.push(format!("a.m{i:02}"));
    }
    paths.push("a.missing".into());
    let tree = WhisperTree::open(dir.path(), Default::default()).unwrap();
    let range = FetchRange {
        from: NOW - 300,
        until: NOW,
        now: NOW,
    };
    let want = tree.fetch_many(&paths, range).unwrap();
    assert_eq!(want.len(), 41);
    assert!(want[40].is_none());
    for (p, w) in paths.iter().zip(&want) {
        assert_eq!(&tree.fetch(p, range).unwrap(), w);
    }
    let mut buffers = Vec::new();
    tree.fetch_many_into(&paths, range, FetchOptions::default(), &mut buffers)
        .unwrap();
    assert_eq!(buffers, want);
    let before: Vec<*const Option<f64>> = buffers
        .iter()
        .flatten()
        .map(|s| s.values.as_ptr())
        .collect();
    tree.fetch_many_into(&paths, range, FetchOptions::default(), &mut buffers)
        .unwrap();
    assert_eq!(buffers, want);
    let after: Vec<*const Option<f64>> = buffers
        .iter()
        .flatten()
        .map(|s| s.values.as_ptr())
        .collect();
    assert_eq!(
        before, after,
        "the second fetch decodes into the same buffers"
    );
    // A shorter list truncates the slots.
    tree.fetch_many_into(&paths[..3], range, FetchOptions::default(), &mut buffers)
        .unwrap();
    assert_eq!(buffers, want[..3].to_vec());
}

#[test]
fn truncated_and_replaced_files() {
    let dir = tempfile::tempdir().unwrap();
    let writes: Vec<(i64, f64)> = (0..30).map(|k| (NOW - k * 10, k as f64)).collect();
    let path = write_file(dir.path(), "t.wsp", &writes);
    let tree = WhisperTree::open(dir.path(), Default::default()).unwrap();
    let range = FetchRange {
        from: NOW - 300,
        until: NOW,
        now: NOW,
    };
    let before = tree.fetch("t", range).unwrap().unwrap();
    assert_eq!(before.values.iter().flatten().count(), 30);

    // Replaced by rename (what `whisper resize` does): the next fetch reads the new file.
    let other = write_file(dir.path(), "new.wsp", &[(NOW - 5, 42.0)]);
    std::fs::rename(&other, &path).unwrap();
    let after = tree.fetch("t", range).unwrap().unwrap();
    assert_eq!(
        after.values.iter().flatten().copied().collect::<Vec<_>>(),
        vec![42.0]
    );

    // Truncated: an error naming the file, never a crash.
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(100).unwrap();
    let err = tree.fetch("t", range).unwrap_err().to_string();
    assert!(err.contains("t.wsp"), "{err}");
}

/// Hand-built three-archive file whose coarsest archive was wiped: the
/// default fetch of a day reads only that archive (all null); the stitched
/// fetch takes every 10-minute bucket the 1-minute archive covers (last 4 h)
/// from it, and the last hour's from the 10-second archive, including the
/// current, partly elapsed bucket.
#[test]
fn stitched_fetch_takes_finer_archives_where_they_cover() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.wsp");
    let archives = [(10, 360), (60, 240), (600, 144)];
    whisper::create(
        &path,
        &archives,
        1.0,
        AggregationMethod::Average,
        Allocation::Sparse,
    )
    .unwrap();
    // One value per 10-minute bucket, so every roll-up of it is exact.
    let value = |t: i64| (t - t.rem_euclid(600)) as f64 / 600.0;
    let pts: Vec<(i64, f64)> = (0..1440)
        .map(|k| NOW - k * 10)
        .map(|t| (t, value(t)))
        .collect();
    WhisperFile::open_rw(&path)
        .unwrap()
        .update_many(&pts, NOW)
        .unwrap();
    let header = whisper::info(&path).unwrap();
    let coarse = header.archives[2];
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&vec![0u8; coarse.size() as usize], u64::from(coarse.offset))
            .unwrap();
    }
    let reader = WhisperReader::open(&path).unwrap();
    let (from, until) = (NOW - 86_400, NOW);
    let plain = reader.fetch(from, until, NOW, None).unwrap().unwrap();
    assert_eq!(plain.step, 600);
    assert!(plain.values.iter().all(Option::is_none));
    let stitched = reader
        .fetch_stitched_into(from, until, NOW, Vec::new())
        .unwrap()
        .unwrap();
    assert_eq!(
        (stitched.start, stitched.end, stitched.step),
        (plain.start, plain.end, plain.step)
    );
    let fine1_start = NOW - 14_400 - (NOW - 14_400).rem_euclid(60) + 60;
    for (k, v) in stitched.values.iter().enumerate() {
        let t = stitched.start + k as i64 * 600;
        if t >= fine1_start {
            assert_eq!(*v, Some(value(t)), "bucket {t}");
        } else {
            assert_eq!(*v, None, "bucket {t} is older than the finer archives");
        }
    }
    // The last bucket is only partly elapsed: the 1-minute archive's
    // roll-up failed xFilesFactor 1 there, the 10-second slots up to `now` pass.
    assert!(stitched.values.last().unwrap().is_some());
    // Inside the finest archive's retention, stitching changes nothing.
    assert_eq!(
        reader
            .fetch_stitched_into(NOW - 3000, NOW, NOW, Vec::new())
            .unwrap(),
        reader.fetch(NOW - 3000, NOW, NOW, None).unwrap()
    );
    // Through the Read handle, with the method reported.
    let tree = WhisperTree::open(dir.path(), Default::default()).unwrap();
    let range = FetchRange {
        from,
        until,
        now: NOW,
    };
    let mut out = Vec::new();
    tree.fetch_many_into(
        &["s".to_string()],
        range,
        FetchOptions {
            stitch_archives: true,
            ..FetchOptions::default()
        },
        &mut out,
    )
    .unwrap();
    let s = out[0].as_ref().unwrap();
    assert_eq!(s.values, stitched.values);
    assert_eq!(s.aggregation, Some(AggregationMethod::Average));
}
