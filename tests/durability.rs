//! Nothing accepted is lost: `kill -9` in the middle of a burst of new
//! series with steady carbon and StatsD traffic, replay from the journal,
//! and a stop that does not grow with the number of files. Loopback only,
//! bounded in time.

use std::io::Write as _;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::util::refs::{ref_python, references_available};
use crate::util::serve::Serve;
use crate::util::{send_carbon, unix_now};

/// `serve`'s defaults apart from listener addresses, the schemas
/// (`1s:1h,1m:1d`) and a 1 s StatsD flush: the conditions the issue names.
fn default_config(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("schemas.conf"),
        "[default]\npattern = .*\nretentions = 1s:1h,1m:1d\n",
    )
    .expect("write schemas");
    let path = dir.join("ferrograph.toml");
    std::fs::write(
        &path,
        "[statsd]\nudp = \"127.0.0.1:0\"\ntcp = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
         flush_interval = \"1s\"\n\n\
         [carbon]\nplaintext = \"127.0.0.1:0\"\npickle = \"127.0.0.1:0\"\n\n\
         [storage]\nschemas = \"schemas.conf\"\n\n\
         [render]\nhttp = \"127.0.0.1:0\"\n",
    )
    .expect("write config");
    path
}

/// Every `.wsp` under `dir`, checked by the reference `whisper.info`.
fn assert_every_file_valid(dir: &Path) {
    let script = r#"
import os, sys, whisper
bad = []
n = 0
for root, dirs, files in os.walk(sys.argv[1]):
    dirs[:] = [d for d in dirs if not d.startswith('.')]
    for f in files:
        if f.endswith('.wsp'):
            n += 1
            try:
                whisper.info(os.path.join(root, f))
            except Exception as e:
                bad.append('%s: %s' % (f, e))
print(n)
if bad:
    print('\n'.join(bad[:20]), file=sys.stderr)
    sys.exit(1)
"#;
    let out = std::process::Command::new(ref_python())
        .args(["-c", script])
        .arg(dir)
        .output()
        .expect("run the reference whisper");
    assert!(
        out.status.success(),
        "invalid files: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kill_9_during_a_burst_of_new_series_loses_nothing_sent_before_it() {
    if !references_available() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = default_config(tmp.path());
    let data = tmp.path().join("data");
    let serve = Serve::start(&config, &data);
    let carbon = serve.carbon_plaintext.expect("carbon");
    let statsd = serve.statsd_udp.expect("statsd");

    // Steady traffic: a carbon point per second for `steady.gauge`, and a
    // StatsD increment every 20 ms, each with the time it was sent.
    let stop = Arc::new(AtomicBool::new(false));
    let carbon_sent: Arc<Mutex<Vec<(Instant, i64, f64)>>> = Arc::default();
    let increments_sent: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let steady = {
        let (stop, carbon_sent, increments_sent) =
            (stop.clone(), carbon_sent.clone(), increments_sent.clone());
        std::thread::spawn(move || {
            let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
            let mut last_ts = 0;
            while !stop.load(Ordering::Relaxed) {
                let now = unix_now();
                if now != last_ts {
                    let value = (now % 1000) as f64;
                    send_carbon(carbon, &[format!("steady.gauge {value} {now}")]);
                    carbon_sent
                        .lock()
                        .expect("lock")
                        .push((Instant::now(), now, value));
                    last_ts = now;
                }
                udp.send_to(b"steady.hits:1|c", statsd).expect("send");
                increments_sent.lock().expect("lock").push(Instant::now());
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));

    // The burst: 6,000 new series at once, each with one point.
    let burst_at = unix_now();
    let burst: Vec<String> = (0..6000)
        .map(|i| format!("burst.s{i:04} {} {burst_at}", i + 1))
        .collect();
    for chunk in burst.chunks(1000) {
        send_carbon(carbon, chunk);
    }
    let burst_sent = Instant::now();
    std::thread::sleep(Duration::from_secs(8));
    let killed_at = Instant::now();
    serve.kill9();
    stop.store(true, Ordering::Relaxed);
    steady.join().expect("steady sender");

    let serve = Serve::start(&config, &data);
    let restarted = Instant::now();
    let deadline = Duration::from_secs(45);
    let cutoff = killed_at - Duration::from_secs(2);

    // every burst point, sent 8 s before the kill
    assert!(burst_sent < cutoff);
    let want_burst: f64 = (1..=6000).map(f64::from).sum();
    let got = serve.wait_for_sum("sumSeries(burst.*)", "-10min", want_burst, deadline);
    assert_eq!(got, want_burst, "burst points lost; log:\n{}", serve.log());

    // every steady carbon point sent more than 2 s before the kill
    let expected: Vec<(i64, f64)> = carbon_sent
        .lock()
        .expect("lock")
        .iter()
        .filter(|(at, _, _)| *at < cutoff)
        .map(|(_, ts, v)| (*ts, *v))
        .collect();
    let ok = crate::util::wait_until(deadline.saturating_sub(restarted.elapsed()), || {
        let rendered = serve.render("steady.gauge", "-10min");
        let points: std::collections::HashMap<i64, f64> = rendered[0]["datapoints"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter_map(|d| Some((d[1].as_i64()?, d[0].as_f64()?)))
                    .collect()
            })
            .unwrap_or_default();
        expected.iter().all(|(ts, v)| points.get(ts) == Some(v))
    });
    assert!(ok, "steady carbon points lost; log:\n{}", serve.log());

    // every StatsD increment sent more than 2 s before the kill, none twice
    let sent = increments_sent.lock().expect("lock");
    let must = sent.iter().filter(|at| **at < cutoff).count() as f64;
    let at_most = sent.len() as f64;
    let mut counted = 0.0;
    let ok = crate::util::wait_until(Duration::from_secs(20), || {
        counted = serve.render_sum("stats_counts.steady.hits", "-10min");
        counted >= must
    });
    assert!(
        ok,
        "StatsD increments lost: {counted} of at least {must}; log:\n{}",
        serve.log()
    );
    assert!(
        counted <= at_most,
        "counted twice: {counted} > {at_most} sent"
    );

    serve.stop(Duration::from_secs(30));
    assert_every_file_valid(&data);
}

#[test]
fn a_torn_journal_tail_is_dropped_and_the_rest_replayed() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = default_config(tmp.path());
    let data = tmp.path().join("data");
    let serve = Serve::start(&config, &data);
    let carbon = serve.carbon_plaintext.expect("carbon");
    let now = unix_now();
    send_carbon(carbon, &[format!("torn.kept 5 {now}")]);
    assert_eq!(
        serve.wait_for_sum("torn.kept", "-5min", 5.0, Duration::from_secs(10)),
        5.0
    );
    serve.kill9();
    // half a record at the end of the newest segment, as a crash mid-write
    let journal = data.join(".journal");
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&journal)
        .expect("journal dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    segments.sort();
    let newest = segments.last().expect("a segment");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(newest)
        .expect("open");
    f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, b'x'])
        .expect("write");
    drop(f);
    let serve = Serve::start(&config, &data);
    assert_eq!(
        serve.wait_for_sum("torn.kept", "-5min", 5.0, Duration::from_secs(10)),
        5.0
    );
    assert!(
        serve.log().contains("journal record damaged"),
        "{}",
        serve.log()
    );
    serve.stop(Duration::from_secs(30));
}

#[test]
fn sigterm_with_20000_mapped_files_stops_within_the_stop_timeout() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = default_config(tmp.path());
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        // sparse files: the stop's cost is in the mappings, not in 1.2 GB
        // of allocated blocks this test would otherwise write
        text.replace(
            "[storage]\n",
            "[storage]\nmax_creates_per_second = 0\ncreate_mode = \"sparse\"\n",
        ),
    )
    .expect("write");
    let data = tmp.path().join("data");
    let serve = Serve::start(&config, &data);
    let carbon = serve.carbon_plaintext.expect("carbon");
    let now = unix_now();
    let lines: Vec<String> = (0..20_000)
        .map(|i| format!("many.m{i:05} 1 {now}"))
        .collect();
    for chunk in lines.chunks(2000) {
        send_carbon(carbon, chunk);
    }
    let created = crate::util::wait_until(Duration::from_secs(120), || {
        count_files(&data.join("many")) >= 20_000
    });
    assert!(created, "files not created; log:\n{}", serve.log());
    // a second point each, so every file is written (and mapped) again
    let lines: Vec<String> = (0..20_000)
        .map(|i| format!("many.m{i:05} 2 {}", now + 1))
        .collect();
    for chunk in lines.chunks(2000) {
        send_carbon(carbon, chunk);
    }
    std::thread::sleep(Duration::from_secs(3));
    let started = Instant::now();
    serve.stop(Duration::from_secs(30));
    let took = started.elapsed();
    eprintln!("SIGTERM with 20,000 mapped files: exited in {took:?}");
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "wsp"))
                .count()
        })
        .unwrap_or(0)
}

/// A small tmpfs mounted for one test, unmounted on drop. `None` where this
/// process may not mount (not root): the caller then skips, saying so.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .ok()?
            .success();
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn sigterm_on_a_full_disk_discards_nothing() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let Some(disk) = Tmpfs::mount(&tmp.path().join("disk"), "4m") else {
        eprintln!("skipping: cannot mount a tmpfs here (tests run as root in CI)");
        return;
    };
    let config = default_config(tmp.path());
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        text.replace(
            "[storage]\n",
            "[storage]\nself_metrics_interval = \"\"\nstop_timeout = \"5s\"\n",
        ),
    )
    .expect("write");
    let data = disk.0.join("data");
    let serve = Serve::start(&config, &data);
    // Leave room for the journal's records, not for new Whisper files.
    let filler = disk.0.join("filler");
    let free = {
        let out = std::process::Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&disk.0)
            .output()
            .expect("df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse::<u64>().ok())
            .expect("df figure")
    };
    std::fs::write(&filler, vec![0u8; (free - 32 * 1024) as usize]).expect("fill");
    let now = unix_now();
    let lines: Vec<String> = (0..50)
        .map(|i| format!("full.s{i:02} {} {now}", i + 1))
        .collect();
    send_carbon(serve.carbon_plaintext.expect("carbon"), &lines);
    // accepted: visible through the cache although no file can be created
    let want: f64 = (1..=50).map(f64::from).sum();
    assert_eq!(
        serve.wait_for_sum("sumSeries(full.*)", "-5min", want, Duration::from_secs(10)),
        want,
        "log:\n{}",
        serve.log()
    );
    let started = Instant::now();
    serve.stop(Duration::from_secs(30));
    eprintln!("SIGTERM on a full disk: exited in {:?}", started.elapsed());

    std::fs::remove_file(&filler).expect("free the disk");
    let serve = Serve::start(&config, &data);
    assert_eq!(
        serve.wait_for_sum("sumSeries(full.*)", "-5min", want, Duration::from_secs(20)),
        want,
        "points lost across the stop on a full disk; log:\n{}",
        serve.log()
    );
    // and they reach their files
    assert!(crate::util::wait_until(
        Duration::from_secs(20),
        || count_files(&data.join("full")) == 50
    ));
    serve.stop(Duration::from_secs(30));
}

/// When a StatsD counter's point for second `ts` was first seen in its
/// Whisper file, polled every 100 ms for `observe`.
fn watch_file_points(path: &Path, observe: Duration) -> std::collections::BTreeMap<i64, f64> {
    use storage::whisper::WhisperReader;
    let mut first_seen = std::collections::BTreeMap::new();
    let started = Instant::now();
    while started.elapsed() < observe {
        let now = unix_now();
        let fetched = WhisperReader::open(path)
            .ok()
            .and_then(|r| r.fetch(now - 60, now, now, None).ok().flatten());
        if let Some(f) = fetched {
            let seen = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_secs_f64();
            for (i, v) in f.values.iter().enumerate() {
                if v.is_some() {
                    first_seen
                        .entry(f.start + i as i64 * f.step)
                        .or_insert(seen);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    first_seen
}

#[test]
fn a_burst_of_new_series_does_not_delay_an_existing_counter() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = default_config(tmp.path());
    let data = tmp.path().join("data");
    let serve = Serve::start(&config, &data);
    let carbon = serve.carbon_plaintext.expect("carbon");
    let statsd = serve.statsd_udp.expect("statsd");
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
            while !stop.load(Ordering::Relaxed) {
                udp.send_to(b"fair.existing:1|c", statsd).expect("send");
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let file = data.join("stats_counts/fair/existing.wsp");
    assert!(
        crate::util::wait_until(Duration::from_secs(20), || file.exists()),
        "the existing counter's file was not created; log:\n{}",
        serve.log()
    );

    // 20,000 new series at once, created at the default 500 a second: the
    // creates take 40 s, the observation the first 12 of them.
    let watcher = std::thread::spawn(move || watch_file_points(&file, Duration::from_secs(20)));
    std::thread::sleep(Duration::from_secs(1));
    let burst_at = unix_now();
    let lines: Vec<String> = (0..20_000)
        .map(|i| format!("flood.n{i:05} 1 {burst_at}"))
        .collect();
    let sending = Instant::now();
    for chunk in lines.chunks(2000) {
        send_carbon(carbon, chunk);
    }
    eprintln!("burst sent in {:?}", sending.elapsed());
    let watched = watcher.join().expect("watcher");
    let (_, metrics) = serve.http_get("/metrics");
    stop.store(true, Ordering::Relaxed);
    sender.join().expect("sender");

    let backlog = metrics
        .lines()
        .find(|l| l.starts_with("ferrograph_create_backlog_series"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        backlog > 1000.0,
        "the burst should still wait for creates (backlog {backlog}); log:\n{}",
        serve.log()
    );
    // every interval of the burst's first 10 s reached the file within a
    // couple of intervals of its timestamp
    let window: Vec<(i64, f64)> = watched
        .iter()
        .filter(|(ts, _)| (burst_at + 1..=burst_at + 10).contains(*ts))
        .map(|(ts, seen)| (*ts, seen - *ts as f64))
        .collect();
    let worst = window.iter().map(|(_, lag)| *lag).fold(0.0, f64::max);
    eprintln!(
        "existing counter during a 20,000-series burst: {} of 10 intervals on disk, \
         worst lag {worst:.2} s after the interval's timestamp; create backlog {backlog}",
        window.len()
    );
    assert!(
        window.len() >= 9,
        "intervals missing on disk: {window:?}; log:\n{}",
        serve.log()
    );
    // Unfair scheduling puts the counter behind the whole burst: 20,000
    // creates at 500 a second, 40 s. The bound is far from that and far
    // from the 1.2 s measured on a quiet machine, so a loaded CI machine
    // does not fail it by chance.
    assert!(worst <= 8.0, "points landed late: {window:?}");
    // the creates left are not this test's subject: no drain at stop
    serve.kill9();
}
