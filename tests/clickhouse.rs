//! The ClickHouse backend against a real server (Debian's 18.16, started
//! per test on free loopback ports): carbon-clickhouse's tables and rows,
//! graphite-clickhouse's queries over what ferrograph writes, roll-up
//! before and after OPTIMIZE, faults, and the same answers as Whisper.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::util::clickhouse::ClickHouse;
use crate::util::serve::{encode, Serve};
use crate::util::{run_ferrograph, wait_until};

const SCHEMAS: &str = "[carbon]\npattern = ^carbon\\.\nretentions = 10s:1h\n\
[ch]\npattern = ^ch\\.\nretentions = 10s:1h,60s:1d\n\
[statsd]\npattern = ^(stats|stats_counts)\\.\nretentions = 1s:1h,10s:1d\n\
[default]\npattern = .*\nretentions = 10s:1h,60s:1d\n";

const AGGREGATION: &str = "[sum]\npattern = \\.sum$\nxFilesFactor = 0\naggregationMethod = sum\n\
[max]\npattern = \\.max$\nxFilesFactor = 0\naggregationMethod = max\n\
[default]\npattern = .*\nxFilesFactor = 0\naggregationMethod = average\n";

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A test's files: the rules, a config for `url`, and the data dir.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Setup {
    fn new(extra_storage: &str) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("schemas.conf"), SCHEMAS).expect("write schemas");
        std::fs::write(dir.path().join("aggregation.conf"), AGGREGATION)
            .expect("write aggregation");
        let config = dir.path().join("ferrograph.toml");
        std::fs::write(&config, Self::text("http://127.0.0.1:1", extra_storage))
            .expect("write config");
        Setup { dir, config }
    }

    fn text(url: &str, extra_storage: &str) -> String {
        format!(
            "[statsd]\nudp = \"127.0.0.1:0\"\ntcp = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nflush_interval = \"1s\"\n\n\
             [carbon]\nplaintext = \"127.0.0.1:0\"\npickle = \"\"\nudp = \"\"\n\n\
             [storage]\nbackend = \"clickhouse\"\nschemas = \"schemas.conf\"\naggregation = \"aggregation.conf\"\n\
             self_metrics_interval = \"\"\n{extra_storage}\n\n\
             [render]\nhttp = \"127.0.0.1:0\"\n\n\
             [clickhouse]\nurl = \"{url}\"\nbatch_interval = \"100ms\"\noptimize_interval = \"\"\n"
        )
    }

    /// Points the config at `server` and returns the rollup XML for it.
    fn point_at(&self, url: &str) {
        std::fs::write(&self.config, Self::text(url, "")).expect("write config");
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn rollup_xml(&self) -> String {
        let out = run_ferrograph(&[
            "clickhouse",
            "rollup-xml",
            "--config",
            self.config.to_str().expect("utf-8"),
        ]);
        assert!(
            out.status.success(),
            "rollup-xml: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 XML")
    }

    /// Starts a server with this setup's rollup and creates the tables.
    fn server(&self) -> ClickHouse {
        let server = ClickHouse::start(&self.path().join("clickhouse"), &self.rollup_xml(), None);
        self.point_at(&server.url);
        self.init();
        server
    }

    fn init(&self) {
        let out = run_ferrograph(&[
            "clickhouse",
            "init",
            "--config",
            self.config.to_str().expect("utf-8"),
        ]);
        assert!(
            out.status.success(),
            "init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The same rules and listeners on the Whisper backend, in a new temp
    /// dir: the reference the ClickHouse answers are compared with.
    fn whisper_twin(&self) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("schemas.conf"), SCHEMAS).expect("schemas");
        std::fs::write(dir.path().join("aggregation.conf"), AGGREGATION).expect("aggregation");
        let config = dir.path().join("ferrograph.toml");
        let text = std::fs::read_to_string(&self.config)
            .expect("config")
            .replace("backend = \"clickhouse\"", "backend = \"whisper\"");
        std::fs::write(&config, text).expect("write");
        (dir, config)
    }

    fn serve(&self) -> Serve {
        Serve::start(&self.config, &self.path().join("data"))
    }
}

/// Index rows for `paths` as carbon-clickhouse writes them: tree rows
/// (each parent with a trailing dot), reversed tree rows, daily rows.
fn insert_index(server: &ClickHouse, paths: &[&str], time: i64) {
    let mut rows = Vec::new();
    for path in paths {
        let parts: Vec<&str> = path.split('.').collect();
        let depth = parts.len();
        let reversed: Vec<&str> = parts.iter().rev().copied().collect();
        let reversed = reversed.join(".");
        rows.push(format!(
            "('1970-02-12', {}, '{path}', {time})",
            20_000 + depth
        ));
        for d in 1..depth {
            rows.push(format!(
                "('1970-02-12', {}, '{}.', {time})",
                20_000 + d,
                parts[..d].join(".")
            ));
        }
        rows.push(format!(
            "('1970-02-12', {}, '{reversed}', {time})",
            30_000 + depth
        ));
        rows.push(format!("(toDate({time}), {depth}, '{path}', {time})"));
        rows.push(format!(
            "(toDate({time}), {}, '{reversed}', {time})",
            10_000 + depth
        ));
    }
    server.query(&format!(
        "INSERT INTO graphite_index (Date, Level, Path, Version) VALUES {}",
        rows.join(", ")
    ));
}

fn carbon_send(serve: &Serve, lines: &str) {
    use std::io::Write as _;
    let mut s =
        std::net::TcpStream::connect(serve.carbon_plaintext.expect("carbon on")).expect("connect");
    s.write_all(lines.as_bytes()).expect("send");
}

fn rows(server: &ClickHouse, sql: &str) -> Vec<String> {
    server.query(sql).lines().map(str::to_string).collect()
}

fn render(serve: &Serve, target: &str, from: i64, until: i64) -> Value {
    let (status, body) = serve.http_get(&format!(
        "/render?target={}&from={from}&until={until}&now={until}&format=json",
        encode(target)
    ));
    assert_eq!(status, 200, "render {target}: {body}");
    serde_json::from_str(&body).expect("render JSON")
}

/// The `(time, value)` pairs of the `series`-th series; none when the
/// answer has no such series (yet).
fn points(v: &Value, series: usize) -> Vec<(i64, Option<f64>)> {
    v[series]["datapoints"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| (p[1].as_i64().expect("time"), p[0].as_f64()))
        .collect()
}

#[test]
fn init_creates_carbon_clickhouse_tables() {
    let setup = Setup::new("");
    let server = setup.server();
    let columns: Vec<String> = ["graphite", "graphite_index", "graphite_tagged"]
        .iter()
        .flat_map(|table| {
            rows(&server, &format!("DESCRIBE TABLE {table} FORMAT TSV"))
                .into_iter()
                .map(move |row| {
                    let mut cells = row.split('\t');
                    let name = cells.next().unwrap_or_default().to_string();
                    let kind = cells.next().unwrap_or_default().to_string();
                    format!("{table}\t{name}\t{kind}")
                })
        })
        .collect();
    assert_eq!(
        columns,
        [
            "graphite\tPath\tString",
            "graphite\tValue\tFloat64",
            "graphite\tTime\tUInt32",
            "graphite\tDate\tDate",
            "graphite\tTimestamp\tUInt32",
            "graphite_index\tDate\tDate",
            "graphite_index\tLevel\tUInt32",
            "graphite_index\tPath\tString",
            "graphite_index\tVersion\tUInt32",
            "graphite_tagged\tDate\tDate",
            "graphite_tagged\tTag1\tString",
            "graphite_tagged\tPath\tString",
            "graphite_tagged\tTags\tArray(String)",
            "graphite_tagged\tVersion\tUInt32",
        ]
    );
    let engines = rows(
        &server,
        "SELECT name, engine_full FROM system.tables WHERE database = 'default' ORDER BY name FORMAT TabSeparatedRaw",
    );
    assert_eq!(engines.len(), 3);
    assert!(engines[0].starts_with("graphite\tGraphiteMergeTree('graphite_rollup') PARTITION BY toYYYYMM(Date) ORDER BY (Path, Time)"), "{engines:?}");
    assert!(engines[1].starts_with("graphite_index\tReplacingMergeTree(Version) PARTITION BY toYYYYMM(Date) ORDER BY (Level, Path, Date)"), "{engines:?}");
    assert!(engines[2].starts_with("graphite_tagged\tReplacingMergeTree(Version) PARTITION BY toYYYYMM(Date) ORDER BY (Tag1, Path, Date)"), "{engines:?}");
    // the rollup element was accepted: the server lists its patterns
    let retentions = server.query("SELECT count() FROM system.graphite_retentions FORMAT TSV");
    assert_ne!(retentions.trim(), "0");
    // a second init changes nothing
    setup.init();
    server.stop();
}

#[test]
fn carbon_and_statsd_land_in_points_and_index_rows() {
    let setup = Setup::new("");
    let server = setup.server();
    let serve = setup.serve();
    let now = unix_now();
    carbon_send(
        &serve,
        &format!("ch.m7 1.5 {now}\nch.tagged;dc=eu;host=a 3 {now}\n"),
    );
    serve.send_statsd(&["ch.cnt:5|c"]);
    let found = wait_until(Duration::from_secs(20), || {
        server.query("SELECT count() FROM graphite WHERE Path IN ('ch.m7', 'stats_counts.ch.cnt') FORMAT TSV").trim() == "2"
    });
    assert!(
        found,
        "points did not arrive: {}",
        server.query("SELECT * FROM graphite FORMAT TSV")
    );
    let m7 = server.query("SELECT Value, Time, Date = toDate(Time), Timestamp >= Time FROM graphite WHERE Path = 'ch.m7' FORMAT TSV");
    assert_eq!(m7.trim(), format!("1.5\t{now}\t1\t1"));
    let tree = rows(
        &server,
        "SELECT Level, Path FROM graphite_index WHERE Date = '1970-02-12' AND Path LIKE 'ch%' GROUP BY Level, Path ORDER BY Level, Path FORMAT TSV",
    );
    assert_eq!(tree, ["20001\tch.", "20002\tch.m7"]);
    let reversed = rows(&server, "SELECT Level, Path FROM graphite_index WHERE Path LIKE '%.ch' GROUP BY Level, Path ORDER BY Level FORMAT TSV");
    assert_eq!(reversed, ["10002\tm7.ch", "30002\tm7.ch"]);
    let daily = rows(
        &server,
        "SELECT Level FROM graphite_index WHERE Path = 'ch.m7' AND Date = today() FORMAT TSV",
    );
    assert_eq!(daily, ["2"]);
    let statsd_tree = rows(&server, "SELECT Level FROM graphite_index WHERE Date = '1970-02-12' AND Path IN ('stats_counts.', 'stats_counts.ch.', 'stats_counts.ch.cnt') GROUP BY Level ORDER BY Level FORMAT TSV");
    assert_eq!(statsd_tree, ["20001", "20002", "20003"]);
    let tagged = rows(
        &server,
        "SELECT Tag1, Path, Tags FROM graphite_tagged ORDER BY Tag1 FORMAT TSV",
    );
    assert_eq!(
        tagged,
        [
            "__name__=ch.tagged\tch.tagged?dc=eu&host=a\t['__name__=ch.tagged','dc=eu','host=a']",
            "dc=eu\tch.tagged?dc=eu&host=a\t['__name__=ch.tagged','dc=eu','host=a']",
            "host=a\tch.tagged?dc=eu&host=a\t['__name__=ch.tagged','dc=eu','host=a']",
        ]
    );
    // graphite-clickhouse's own queries read them (find, then render with
    // the metric list as external data)
    let find = rows(&server, "SELECT Path FROM graphite_index WHERE Level = 20002 AND Date = '1970-02-12' AND Path LIKE 'ch.%' AND match(Path, '^ch[.]([^.]*?)[.]?$') GROUP BY Path FORMAT TabSeparatedRaw");
    assert_eq!(find, ["ch.m7"]);
    let day = server.query("SELECT toString(today()) FORMAT TSV");
    let day = day.trim();
    let answer = server.query_with_metrics_list(
        &format!("SELECT Path, groupArray(Time), groupArray(Value), groupArray(Timestamp) FROM graphite PREWHERE Date >= '{day}' AND Date <= '{day}' WHERE Path IN metrics_list AND Time >= {} AND Time <= {} GROUP BY Path FORMAT TSV", now - 60, now + 60),
        &["ch.m7"],
    );
    let answer = String::from_utf8(answer).expect("utf-8");
    assert!(
        answer.starts_with(&format!("ch.m7\t[{now}]\t[1.5]\t[")),
        "{answer}"
    );
    let tags = rows(&server, "SELECT Path FROM graphite_tagged WHERE Tag1 = '__name__=ch.tagged' AND has(Tags, 'dc=eu') GROUP BY Path FORMAT TSV");
    assert_eq!(tags, ["ch.tagged?dc=eu&host=a"]);
    // and ferrograph answers them through the render API
    let (_, found) = serve.http_get("/metrics/find?query=ch.*");
    assert!(found.contains("\"id\": \"ch.m7\""), "{found}");
    let (_, tagged) = serve.http_get("/render?target=seriesByTag('dc=eu')&from=-5min&format=json");
    assert!(
        tagged.contains("\"target\": \"ch.tagged;dc=eu;host=a\""),
        "{tagged}"
    );
    serve.stop(Duration::from_secs(20));
    server.stop();
}

#[test]
fn foreign_rows_are_found_and_the_newest_timestamp_wins() {
    let setup = Setup::new("");
    let server = setup.server();
    let serve = setup.serve();
    let t = (unix_now() / 60) * 60 - 600;
    // as carbon-clickhouse inserts them: points, daily and tree index rows.
    // Two versions of each of ten Times, in two inserts (two parts); the
    // newer one is in the first part for even Times and in the second for
    // odd ones, so whatever order ClickHouse reads the parts in, a reader
    // that kept the last row read instead of the highest Timestamp fails.
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for i in 0..10i64 {
        let time = t + i * 10;
        let newer = format!(
            "('ch.other.a', {}, {time}, toDate({time}), {})",
            100 + i,
            t + 5
        );
        let older = format!("('ch.other.a', {}, {time}, toDate({time}), {})", i, t + 1);
        let (a, b) = if i % 2 == 0 {
            (newer, older)
        } else {
            (older, newer)
        };
        first.push(a);
        second.push(b);
    }
    for rows in [first, second] {
        server.query(&format!(
            "INSERT INTO graphite (Path, Value, Time, Date, Timestamp) VALUES {}",
            rows.join(", ")
        ));
    }
    insert_index(&server, &["ch.other.a"], t);
    let (status, found) = serve.http_get("/metrics/find?query=ch.other.*");
    assert_eq!(status, 200);
    assert!(found.contains("\"id\": \"ch.other.a\""), "{found}");
    let (_, branch) = serve.http_get("/metrics/find?query=ch.*");
    assert!(
        branch.contains("\"id\": \"ch.other\"") && branch.contains("\"leaf\": 0"),
        "{branch}"
    );
    let v = render(&serve, "ch.other.a", t - 60, t + 120);
    let got = points(&v, 0);
    for i in 0..10i64 {
        let want = (t + i * 10, Some((100 + i) as f64));
        assert!(
            got.contains(&want),
            "newest Timestamp must win at {i}: {got:?}"
        );
    }
    serve.stop(Duration::from_secs(20));
    server.stop();
}

#[test]
fn old_points_roll_up_with_the_patterns_function_before_and_after_optimize() {
    let setup = Setup::new("");
    let server = setup.server();
    let serve = setup.serve();
    // 30 minutes of 10 s points, 3 hours old: past the first retention
    // (10s:1h), so they answer at 60 s, rolled up with each rule's function
    let now = (unix_now() / 60) * 60;
    let start = now - 3 * 3600;
    let mut values = Vec::new();
    for i in 0..180 {
        let t = start + i * 10;
        let v = (i % 7) as f64 + 1.0;
        for name in ["ch.r.sum", "ch.r.max", "ch.r.avg"] {
            values.push(format!("('{name}', {v}, {t}, toDate({t}), {})", t + 1));
        }
    }
    server.query(&format!(
        "INSERT INTO graphite (Path, Value, Time, Date, Timestamp) VALUES {}",
        values.join(", ")
    ));
    insert_index(&server, &["ch.r.sum", "ch.r.max", "ch.r.avg"], start);
    let expected = |f: &dyn Fn(&[f64]) -> f64| -> Vec<(i64, f64)> {
        (0..30)
            .map(|b| {
                let vals: Vec<f64> = (0..6).map(|k| ((b * 6 + k) % 7) as f64 + 1.0).collect();
                (start + b * 60, f(&vals))
            })
            .collect()
    };
    let sum = expected(&|v| v.iter().sum());
    let max = expected(&|v| v.iter().cloned().fold(f64::MIN, f64::max));
    let avg = expected(&|v| v.iter().sum::<f64>() / v.len() as f64);
    let check = |when: &str| {
        for (name, want) in [("ch.r.sum", &sum), ("ch.r.max", &max), ("ch.r.avg", &avg)] {
            let v = render(&serve, name, now - 4 * 3600, now);
            let got: Vec<(i64, f64)> = points(&v, 0)
                .into_iter()
                .filter_map(|(t, v)| v.map(|v| (t, v)))
                .collect();
            let step = v[0]["datapoints"][1][1].as_i64().unwrap_or(0)
                - v[0]["datapoints"][0][1].as_i64().unwrap_or(0);
            assert_eq!(step, 60, "{name} {when}: step");
            assert_eq!(&got, want, "{name} {when}");
        }
    };
    check("before OPTIMIZE");
    server.query("OPTIMIZE TABLE graphite FINAL");
    let merged = server.query("SELECT count() FROM graphite WHERE Path = 'ch.r.sum' FORMAT TSV");
    assert_eq!(
        merged.trim(),
        "30",
        "the server rolled the points up to 60 s"
    );
    check("after OPTIMIZE");
    // `ferrograph clickhouse optimize` runs the same on what is left
    let out = run_ferrograph(&[
        "clickhouse",
        "optimize",
        "--config",
        setup.config.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check("after ferrograph clickhouse optimize");
    serve.stop(Duration::from_secs(20));
    server.stop();
}

#[test]
fn clickhouse_errors_are_502_and_a_stopped_server_loses_nothing_within_the_queue() {
    let setup = Setup::new("");
    let server_dir = setup.path().join("clickhouse");
    let server = setup.server();
    let (http_port, tcp_port) = (server.http_port, server.tcp_port);
    let serve = setup.serve();
    let now = unix_now();
    carbon_send(&serve, &format!("ch.before 1 {now}\n"));
    assert!(wait_until(Duration::from_secs(20), || {
        server
            .query("SELECT count() FROM graphite WHERE Path = 'ch.before' FORMAT TSV")
            .trim()
            == "1"
    }));
    // the server stops: points wait in the queue and stay readable
    server.stop();
    let mut lines = String::new();
    for i in 0..2000 {
        lines.push_str(&format!("ch.during.m{} {i} {now}\n", i % 20));
    }
    carbon_send(&serve, &lines);
    let (status, body) = serve.http_get("/metrics/find?query=ch.*");
    assert_eq!(status, 503, "find with the server down: {body}");
    assert!(body.contains("unreachable"), "{body}");
    // it comes back: everything queued is inserted
    let server = ClickHouse::start_on(&server_dir, &setup.rollup_xml(), None, http_port, tcp_port);
    assert!(
        wait_until(Duration::from_secs(60), || {
            server
                .query("SELECT count() FROM graphite WHERE Path LIKE 'ch.during.%' FORMAT TSV")
                .trim()
                == "2000"
        }),
        "queued points were not inserted after the restart: {}",
        server.query("SELECT count() FROM graphite WHERE Path LIKE 'ch.during.%' FORMAT TSV")
    );
    // a ClickHouse error is surfaced with the server's message
    server.query("DROP TABLE graphite");
    let (status, body) = serve.http_get(&format!(
        "/render?target=ch.before&from={}&until={}&format=json",
        now - 60,
        now + 60
    ));
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains("graphite") && body.contains("exist"),
        "the server's message: {body}"
    );
    let (_, metrics) = serve.http_get("/metrics");
    assert!(metrics.contains("clickhouse"), "{metrics}");
    // the table comes back, so the points of the stop itself can land
    setup.init();
    serve.stop(Duration::from_secs(20));
    server.stop();
}

/// The same carbon input into a Whisper `serve` and a ClickHouse `serve`
/// renders the same.
#[test]
fn render_on_clickhouse_equals_render_on_whisper() {
    let setup = Setup::new("");
    let server = setup.server();
    let ch = setup.serve();
    let (whisper_dir, whisper_config) = setup.whisper_twin();
    let wsp = Serve::start(&whisper_config, &whisper_dir.path().join("data"));
    let now = (unix_now() / 60) * 60;
    let mut lines = String::new();
    for i in 0..300i64 {
        let t = now - 3000 + i * 10;
        if i % 17 == 3 {
            continue; // gaps
        }
        for (name, v) in [
            ("ch.web1.load", (i % 13) as f64 - 4.0),
            ("ch.web2.load", (i % 5) as f64 * 1.5),
            ("ch.web1.req.sum", (i % 9) as f64),
            ("ch.web2.req.max", (i % 11) as f64),
        ] {
            lines.push_str(&format!("{name} {v} {t}\n"));
        }
    }
    carbon_send(&ch, &lines);
    carbon_send(&wsp, &lines);
    let targets = [
        "ch.web1.load",
        "ch.*.load",
        "sumSeries(ch.*.load)",
        "ch.web1.req.sum",
        "ch.web2.req.max",
        "movingAverage(ch.web2.load,5)",
        "summarize(ch.web1.load,'5min','max')",
        "maxSeries(ch.*.*.*)",
    ];
    let windows = [(now - 1800, now), (now - 7200, now)];
    let all_in = |serve: &Serve| {
        let v = render(serve, "sumSeries(ch.*.load)", now - 3600, now);
        points(&v, 0).iter().filter(|(_, v)| v.is_some()).count() >= 280
    };
    assert!(wait_until(Duration::from_secs(30), || all_in(&ch) && all_in(&wsp)));
    for target in targets {
        for (from, until) in windows {
            let a = render(&wsp, target, from, until);
            let b = render(&ch, target, from, until);
            assert_eq!(
                a, b,
                "{target} from {from} until {until}: Whisper vs ClickHouse"
            );
        }
    }
    let (_, a) = wsp.http_get("/metrics/find?query=ch.*");
    let (_, b) = ch.http_get("/metrics/find?query=ch.*");
    assert_eq!(a, b, "find");
    ch.stop(Duration::from_secs(20));
    wsp.stop(Duration::from_secs(20));
    server.stop();
}

/// Two ClickHouse shards behind Distributed tables, two `serve` nodes on
/// them behind `statsd-proxy`: every StatsD key is aggregated on one node,
/// so no count is split (and overwritten) across nodes; rows spread over
/// both shards; any node answers for any key.
#[test]
fn two_shards_two_nodes_behind_the_proxy() {
    use crate::util::clickhouse::ClickHouse;
    use crate::util::free_tcp_port;
    use crate::util::proxy::Proxy;
    let setup = Setup::new("");
    let xml = setup.rollup_xml();
    let ports: Vec<(u16, u16)> = (0..2).map(|_| (free_tcp_port(), free_tcp_port())).collect();
    let shards: Vec<u16> = ports.iter().map(|&(_, tcp)| tcp).collect();
    let servers: Vec<ClickHouse> = ports
        .iter()
        .enumerate()
        .map(|(i, &(http, tcp))| {
            ClickHouse::start_on(
                &setup.path().join(format!("shard{i}")),
                &xml,
                Some(("shards", &shards)),
                http,
                tcp,
            )
        })
        .collect();
    setup.point_at(&servers[0].url);
    let config = setup.config.to_str().expect("utf-8");
    for server in &servers {
        let out = run_ferrograph(&[
            "clickhouse",
            "init",
            "--config",
            config,
            "--cluster",
            "shards",
            "--url",
            &server.url,
        ]);
        assert!(
            out.status.success(),
            "init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // the nodes write and read through the Distributed tables of shard 0
    let node_config = |i: usize| {
        let text = std::fs::read_to_string(&setup.config)
            .expect("config")
            .replace(
                "[statsd]\n",
                &format!("[statsd]\nprefix_stats = \"statsd_node{i}\"\n"),
            );
        let path = setup.path().join(format!("node{i}.toml"));
        std::fs::write(&path, text).expect("write node config");
        path
    };
    let nodes: Vec<Serve> = (0..2)
        .map(|i| Serve::start(&node_config(i), &setup.path().join(format!("node{i}"))))
        .collect();
    let port_of = |s: &Serve, key: &str| -> u16 {
        s.addrs[key]
            .as_str()
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
            .map(|a| a.port())
            .unwrap_or_else(|| panic!("{key} in {}", s.addrs))
    };
    let proxy_dir = setup.path().join("proxy");
    std::fs::create_dir_all(&proxy_dir).expect("proxy dir");
    let proxy = Proxy::start(
        &proxy_dir,
        &nodes
            .iter()
            .map(|n| (port_of(n, "statsd_udp"), port_of(n, "statsd_admin")))
            .collect::<Vec<_>>(),
    );
    assert!(
        wait_until(Duration::from_secs(10), || proxy.ring().len() == 2),
        "both nodes on the ring"
    );
    // 200 keys, 20 increments each, sent in rounds over about 3 flushes
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    for round in 0..20 {
        let mut packet = String::new();
        for k in 0..200 {
            packet.push_str(&format!("cluster.k{k}:1|c\n"));
            if packet.len() > 1200 {
                socket.send_to(packet.as_bytes(), proxy.udp).expect("send");
                packet.clear();
            }
        }
        socket.send_to(packet.as_bytes(), proxy.udp).expect("send");
        if round % 7 == 6 {
            std::thread::sleep(Duration::from_millis(1000));
        }
    }
    let totals = |server: &ClickHouse| -> Vec<String> {
        rows(
            server,
            "SELECT Path, sum(Value) FROM (SELECT Path, Time, argMax(Value, Timestamp) AS Value FROM graphite \
             WHERE Path LIKE 'stats_counts.cluster.%' GROUP BY Path, Time) GROUP BY Path ORDER BY Path FORMAT TSV",
        )
    };
    let all_exact = |got: &[String]| got.len() == 200 && got.iter().all(|r| r.ends_with("\t20"));
    assert!(
        wait_until(Duration::from_secs(30), || all_exact(&totals(&servers[0]))),
        "every key counted exactly 20 times through the Distributed table: {:?}",
        totals(&servers[0])
    );
    // the same answer through the other shard's Distributed table
    assert!(all_exact(&totals(&servers[1])));
    // each key was aggregated on one node only: no (Path, Time) written twice
    let doubled = server_count(
        &servers[0],
        "SELECT count() FROM (SELECT Path, Time, count() AS n FROM graphite WHERE Path LIKE 'stats_counts.cluster.%' GROUP BY Path, Time HAVING n > 1)",
    );
    assert_eq!(doubled, 0, "a key's flush was written by two nodes");
    // rows live on both shards
    for server in &servers {
        let local = server_count(
            server,
            "SELECT count() FROM graphite_local WHERE Path LIKE 'stats_counts.cluster.%'",
        );
        assert!(local > 0, "shard at {} holds none of the rows", server.url);
    }
    // any node answers for any key
    for node in &nodes {
        let sum = node.render_sum("sumSeries(stats_counts.cluster.*)", "-5min");
        assert_eq!(sum, 4000.0, "node answers for all keys");
    }
    // the two nodes did split the keys
    let per_node: Vec<u64> = nodes
        .iter()
        .map(|n| {
            let (_, metrics) = n.http_get("/metrics");
            metrics
                .lines()
                .filter(|l| {
                    l.starts_with("ferrograph_statsd_metrics_received_total")
                        || l.starts_with("ferrograph_metrics_received_total{stage=\"statsd\"")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .map(|v| v as u64)
                .sum()
        })
        .collect();
    assert!(
        per_node.iter().all(|&n| n > 0),
        "both nodes aggregated some keys: {per_node:?}"
    );
    drop(proxy);
    for node in nodes {
        node.stop(Duration::from_secs(20));
    }
    for server in servers {
        server.stop();
    }
}

fn server_count(server: &ClickHouse, sql: &str) -> u64 {
    server
        .query(&format!("{sql} FORMAT TSV"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// `ferrograph clickhouse import` moves a Whisper tree into the tables:
/// the ClickHouse node then renders what the Whisper node rendered, and a
/// second run skips the files already imported.
#[test]
fn import_moves_a_whisper_tree_and_resumes() {
    let setup = Setup::new("");
    let server = setup.server();
    let (whisper_dir, whisper_config) = setup.whisper_twin();
    let data = whisper_dir.path().join("data");
    let wsp = Serve::start(&whisper_config, &data);
    let now = (unix_now() / 60) * 60;
    let mut lines = String::new();
    for i in 0..200i64 {
        let t = now - 2000 + i * 10;
        lines.push_str(&format!(
            "imp.a.x {} {t}\nimp.b.y {} {t}\n",
            i % 7,
            (i % 5) as f64 / 2.0
        ));
    }
    carbon_send(&wsp, &lines);
    // Both series complete before the reference renders: the last line
    // sent is a `b.y` one, so `a.x` alone can be complete a moment earlier.
    assert!(wait_until(Duration::from_secs(20), || {
        wsp.render_sum("imp.a.x", "-1h") == (0..200).map(|i| (i % 7) as f64).sum::<f64>()
            && wsp.render_sum("imp.b.y", "-1h")
                == (0..200).map(|i| (i % 5) as f64 / 2.0).sum::<f64>()
    }));
    let targets = ["imp.a.x", "imp.b.y", "sumSeries(imp.*.*)"];
    let before: Vec<Value> = targets
        .iter()
        .map(|t| render(&wsp, t, now - 3600, now))
        .collect();
    wsp.stop(Duration::from_secs(20));
    let import = |expect: &str| {
        let out = run_ferrograph(&[
            "clickhouse",
            "import",
            data.to_str().expect("utf-8"),
            "--config",
            setup.config.to_str().expect("utf-8"),
        ]);
        assert!(
            out.status.success(),
            "import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(stdout.contains(expect), "{stdout}");
    };
    import("imported ");
    import("imported 0 points from 0 files");
    let ch = setup.serve();
    for (target, want) in targets.iter().zip(&before) {
        assert_eq!(&render(&ch, target, now - 3600, now), want, "{target}");
    }
    ch.stop(Duration::from_secs(20));
    server.stop();
}

/// Bytes in the journal's segments under `data_dir`.
fn journal_bytes(data_dir: &Path) -> u64 {
    std::fs::read_dir(data_dir.join(".journal"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "wal"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// `kill -9` while ClickHouse is unreachable: the accepted points were only
/// in the queue and the journal; the restart replays them into the server
/// once it is up, each value intact, and a clean stop empties the journal.
#[test]
fn kill_9_with_clickhouse_down_loses_nothing_the_journal_holds() {
    let setup = Setup::new("");
    let data_dir = setup.path().join("data");
    // ClickHouse is not running: the config points at port 1.
    let serve = setup.serve();
    let now = unix_now();
    let series = 20;
    let per_series = 30;
    let mut lines = String::new();
    for i in 0..series * per_series {
        let t = now - 600 + (i / series) as i64 * 10;
        lines.push_str(&format!("ch.wal.m{} {i} {t}\n", i % series));
    }
    carbon_send(&serve, &lines);
    let total = series * per_series;
    assert!(
        wait_until(Duration::from_secs(20), || {
            let (_, metrics) = serve.http_get("/metrics");
            // StatsD's own counters queue up too: at least the carbon points
            metrics
                .lines()
                .filter(|l| l.starts_with("ferrograph_cache_points{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .any(|queued| queued >= total as f64)
        }),
        "the points never all reached the queue: {}",
        serve.http_get("/metrics").1
    );
    // past one wal_sync_interval (1 s): the journal is durable
    std::thread::sleep(Duration::from_millis(2500));
    assert!(journal_bytes(&data_dir) > 0, "nothing journaled");
    serve.kill9();

    let server = setup.server();
    let serve = setup.serve();
    let count = || {
        server
            .query("SELECT count() FROM graphite WHERE Path LIKE 'ch.wal.%' FORMAT TSV")
            .trim()
            .parse::<usize>()
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(60), || count() >= total),
        "{} of {total} journaled points inserted after the restart",
        count()
    );
    for m in 0..series {
        let v = render(&serve, &format!("ch.wal.m{m}"), now - 700, now);
        let got: Vec<f64> = points(&v, 0).into_iter().filter_map(|(_, v)| v).collect();
        let want: Vec<f64> = (0..per_series).map(|k| (k * series + m) as f64).collect();
        assert_eq!(got, want, "ch.wal.m{m} after replay");
    }
    serve.stop(Duration::from_secs(30));
    assert_eq!(
        journal_bytes(&data_dir),
        0,
        "a clean stop with everything inserted leaves an empty journal"
    );
    server.stop();
}
