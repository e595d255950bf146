//! `ferrograph carbon` as a carbon-cache drop-in, through real sockets and
//! files: plaintext over TCP and UDP, pickle from Python's own `pickle`,
//! bad input between good input, SIGTERM draining the cache, files read back
//! by the real `whisper`, and a kill -9 in the middle of a load.

use std::io::Write as _;
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::util::refs::{references_available, run_ref_code, run_ref_script};
use crate::util::{ferrograph, free_tcp_port, free_udp_port, wait_until, ChildGuard};

struct Daemon {
    child: ChildGuard,
    plaintext: u16,
    pickle: u16,
    udp: u16,
}

fn start(dir: &Path) -> Daemon {
    let (plaintext, pickle, udp) = (free_tcp_port(), free_tcp_port(), free_udp_port());
    let config = dir.join("ferrograph.toml");
    std::fs::write(
        &config,
        format!(
            "[carbon]\nplaintext = \"127.0.0.1:{plaintext}\"\npickle = \"127.0.0.1:{pickle}\"\nudp = \"127.0.0.1:{udp}\"\n\n[storage]\ncreate_mode = \"sparse\"\nself_metrics_interval = \"1s\"\nself_metrics_prefix = \"carbon.agents.test\"\n"
        ),
    )
    .unwrap();
    let child = ferrograph()
        .args(["carbon", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ferrograph carbon");
    let d = Daemon {
        child: ChildGuard(child),
        plaintext,
        pickle,
        udp,
    };
    assert!(
        wait_until(Duration::from_secs(20), || TcpStream::connect((
            "127.0.0.1",
            plaintext
        ))
        .is_ok()),
        "ferrograph carbon listens"
    );
    d
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// whisper.info on every file, plus whisper.fetch for each query.
fn verify(data: &Path, queries: &[(String, i64, i64)]) -> serde_json::Value {
    let input: String = queries
        .iter()
        .map(|(p, f, u)| format!("{p} {f} {u}\n"))
        .collect();
    let stdout = run_ref_script("whisper_verify.py", &[data], input.as_bytes());
    serde_json::from_slice(&stdout).unwrap()
}

fn values(v: &serde_json::Value) -> Vec<f64> {
    v["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x.as_f64())
        .collect()
}

#[test]
fn carbon_protocols_reach_whisper_files_and_sigterm_drains() {
    if !references_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(dir.path());
    let t = now() - 120;
    let t = t - t % 60;
    // plaintext over TCP: a bad line between good ones loses neither
    let mut tcp = TcpStream::connect(("127.0.0.1", d.plaintext)).unwrap();
    let text = format!(
        "carbon.test.a 1 {t}\nthis line is bad\ncarbon.test.b 2 {t}\ncarbon.test.nan nan {t}\n  carbon.test.c   3.5   {t}  \r\ncpu.load;host=web1;dc=eu 7 {t}\nstats_counts.hits 4 -1\ncarbon.test.last 9 {t}"
    );
    tcp.write_all(text.as_bytes()).unwrap();
    drop(tcp);
    // plaintext over UDP, two lines in one datagram
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(
        format!("udp.x 5 {t}\nudp.y 6 {t}\n").as_bytes(),
        ("127.0.0.1", d.udp),
    )
    .unwrap();
    // pickle from Python's own pickle module, protocols 0 and 2 on one connection
    let sender = format!(
        "import pickle, socket, struct\ns = socket.create_connection(('127.0.0.1', {port}))\nfor proto, pts in ((2, [('pickle.a', ({t}, 11.0)), ('pickle.b', ({t}, 12))]), (0, [('pickle.c', ({t}, 13.5)), 'junk', ('pickle.d', (-1, 14))])):\n    p = pickle.dumps(pts, protocol=proto)\n    s.sendall(struct.pack('!L', len(p)) + p)\ns.close()\n",
        port = d.pickle
    );
    run_ref_code(&sender);
    // no waiting: on SIGTERM the receivers still take what was already sent
    // (queued datagrams, connections in the accept backlog) before draining
    let status = d
        .child
        .terminate(Duration::from_secs(30))
        .expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}");

    let data = dir.path().join("data");
    let tagged = storage::api::relative_file_path("cpu.load;dc=eu;host=web1", true);
    let q = |rel: &str| (rel.to_string(), t - 60, t + 60);
    let queries = vec![
        q("carbon/test/a.wsp"),
        q("carbon/test/b.wsp"),
        q("carbon/test/c.wsp"),
        q("carbon/test/last.wsp"),
        q("carbon/test/nan.wsp"),
        q(tagged.to_str().unwrap()),
        q("udp/x.wsp"),
        q("udp/y.wsp"),
        q("pickle/a.wsp"),
        q("pickle/b.wsp"),
        q("pickle/c.wsp"),
        ("stats_counts/hits.wsp".to_string(), now() - 300, now()),
        ("pickle/d.wsp".to_string(), now() - 300, now()),
    ];
    let v = verify(&data, &queries);
    assert!(v["bad"].as_array().unwrap().is_empty(), "{v}");
    let f = &v["fetches"];
    let expect = [1.0, 2.0, 3.5, 9.0];
    for (i, e) in expect.iter().enumerate() {
        assert_eq!(values(&f[i]), vec![*e], "{}: {}", queries[i].0, f[i]);
    }
    assert!(f[4].is_null(), "NaN is dropped, no file: {}", f[4]);
    assert_eq!(
        values(&f[5]),
        vec![7.0],
        "tagged series at carbon's hash path"
    );
    assert_eq!(values(&f[6]), vec![5.0]);
    assert_eq!(values(&f[7]), vec![6.0]);
    assert_eq!(values(&f[8]), vec![11.0]);
    assert_eq!(values(&f[9]), vec![12.0]);
    assert_eq!(values(&f[10]), vec![13.5]);
    assert_eq!(values(&f[11]), vec![4.0], "-1 means now");
    assert_eq!(values(&f[12]), vec![14.0], "-1 in a pickle means now");
    // the self-metrics were written under the configured prefix
    assert!(data
        .join("carbon/agents/test/receivers/badLines.wsp")
        .exists());
    assert!(data.join("carbon/agents/test/committedPoints.wsp").exists());
}

#[test]
fn kill_9_mid_load_leaves_valid_files_and_a_clean_restart() {
    if !references_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(dir.path());
    let port = d.plaintext;
    let sender = std::thread::spawn(move || {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return;
        };
        let t = now() - 60;
        for round in 0..200 {
            let mut batch = String::new();
            for m in 0..500 {
                batch.push_str(&format!("load.m{m} {round} {}\n", t - round % 50));
            }
            if s.write_all(batch.as_bytes()).is_err() {
                return;
            }
        }
    });
    // let writers create and update files, then kill without warning
    let data = dir.path().join("data");
    assert!(wait_until(Duration::from_secs(20), || {
        std::fs::read_dir(data.join("load"))
            .map(|r| {
                r.flatten()
                    .filter(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        !n.starts_with('.') && n.ends_with(".wsp")
                    })
                    .count()
                    > 50
            })
            .unwrap_or(false)
    }));
    d.child.0.kill().unwrap();
    let _ = d.child.0.wait();
    let _ = sender.join();
    let v = verify(&data, &[]);
    assert!(v["files"].as_u64().unwrap() > 50, "{v}");
    let leftovers = data.join("load");
    assert!(
        v["bad"].as_array().unwrap().is_empty(),
        "every file passes whisper.info: {v}"
    );
    // and the daemon starts again on the same directory (removing temporary
    // files of interrupted creates) and stops cleanly. The restart replays
    // the journal, so it may be creating files of its own: only the
    // temporary files the killed daemon left must be gone.
    let temporary = |dir: &Path| -> Vec<std::ffi::OsString> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n.to_string_lossy().ends_with(".tmp"))
            .collect()
    };
    let interrupted = temporary(&leftovers);
    let mut again = start(dir.path());
    let still_there: Vec<_> = temporary(&leftovers)
        .into_iter()
        .filter(|n| interrupted.contains(n))
        .collect();
    assert!(
        still_there.is_empty(),
        "temporary files of interrupted creates are removed: {still_there:?}"
    );
    let status = again
        .child
        .terminate(Duration::from_secs(30))
        .expect("exits after SIGTERM");
    assert!(status.success());
}
