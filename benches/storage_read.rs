//! The read path of `/render?target=sumSeries(a.*)&from=-1d`: fetching one
//! day at 10 s (8640 points) from each of 1,000 Whisper files. Baseline in
//! the same group: mapping every file and running whisper's fetch over the
//! mapping (the read path before positioned reads).

use criterion::{BenchmarkId, Criterion, Throughput};
use storage::whisper::{self, AggregationMethod, Allocation, WhisperFile};
use storage::{FetchRange, Read as _};

const FILES: usize = 1000;
const NOW: i64 = 1_700_000_000;

pub fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    let points: Vec<(i64, f64)> = (0..8640)
        .map(|i| (NOW - 86_400 + i * 10, i as f64))
        .collect();
    let mut paths = Vec::with_capacity(FILES);
    for i in 0..FILES {
        let file = dir.path().join(format!("a/m{i:04}.wsp"));
        whisper::create(
            &file,
            &[(10, 8640), (60, 10080)],
            0.5,
            AggregationMethod::Average,
            Allocation::Sparse,
        )
        .unwrap();
        let mut f = WhisperFile::open_rw(&file).unwrap();
        f.update_many(&points, NOW).unwrap();
        paths.push(format!("a.m{i:04}"));
    }
    let tree = storage::WhisperTree::open(dir.path(), Default::default()).unwrap();
    let range = FetchRange {
        from: NOW - 86_400,
        until: NOW,
        now: NOW,
    };
    let mut group = c.benchmark_group("storage::read::fetch_many");
    group.sample_size(10);
    group.throughput(Throughput::Elements(FILES as u64));
    let id = |name: &str| BenchmarkId::new(name, format!("files={FILES}/points=8640"));
    group.bench_function(id("mmap_per_file_baseline"), |b| {
        b.iter(|| {
            let mut total = 0;
            for p in &paths {
                let file = dir.path().join(format!("{}.wsp", p.replace('.', "/")));
                let f = WhisperFile::open(&file).unwrap();
                total += f
                    .fetch(range.from, range.until, range.now, None)
                    .unwrap()
                    .unwrap()
                    .values
                    .len();
            }
            total
        })
    });
    group.bench_function(id("fetch_many"), |b| {
        b.iter(|| tree.fetch_many(&paths, range).unwrap().len())
    });
    let mut buffers = Vec::new();
    group.bench_function(id("fetch_many_into_chunks_of_64"), |b| {
        b.iter(|| {
            let mut total = 0;
            for chunk in paths.chunks(64) {
                tree.fetch_many_into(chunk, range, Default::default(), &mut buffers)
                    .unwrap();
                total += buffers.len();
            }
            total
        })
    });
    group.finish();
}
