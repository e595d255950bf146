//! `ferrograph statsd` as a process: SIGTERM delivers the open interval,
//! the admin console answers, bad configuration is refused with the key.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use crate::util::statsd::{start_ferrograph, Capture};
use crate::util::{self, run_ferrograph};

#[test]
fn sigterm_flushes_the_open_interval() {
    let dir = tempfile::tempdir().unwrap();
    let capture = Capture::start();
    // A long interval: the only flush can be the one at shutdown.
    let mut daemon = start_ferrograph(
        dir.path(),
        &format!("flush_interval = \"1h\"\ngraphite = \"{}\"\n", capture.addr),
    );
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"shutdown.count:5|c\nshutdown.gauge:3|g", daemon.udp)
        .unwrap();
    // Over TCP too, so both listeners are drained before the final flush.
    let mut tcp = TcpStream::connect(daemon.tcp.unwrap()).unwrap();
    tcp.write_all(b"shutdown.count:2|c\n").unwrap();
    tcp.flush().unwrap();
    // Wait until the daemon has read both (admin `counters` shows the key).
    let admin = daemon.admin.unwrap();
    let seen = util::wait_until(Duration::from_secs(5), || {
        admin_command(admin, "counters").contains("'shutdown.count': 7")
    });
    assert!(seen, "the daemon never counted the packets");
    let status = daemon.child.terminate(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit status {status:?}"
    );
    // The daemon has delivered before exiting; the capture thread may still
    // be reading the socket.
    let value = |n: &str| {
        let lines = capture.lines.lock().unwrap();
        lines.iter().find(|l| l.name == n).map(|l| l.value.clone())
    };
    util::wait_until(Duration::from_secs(5), || {
        value("stats_counts.shutdown.count").is_some()
            && value("stats.gauges.shutdown.gauge").is_some()
    });
    assert_eq!(value("stats_counts.shutdown.count").as_deref(), Some("7"));
    assert_eq!(value("stats.gauges.shutdown.gauge").as_deref(), Some("3"));
}

fn admin_command(addr: std::net::SocketAddr, cmd: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(cmd.as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // Replies end with "END\n\n", "ERROR\n" or a single line.
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&out);
        if text.ends_with("END\n\n") || text.ends_with("ERROR\n") || text.starts_with("health:") {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn admin_console_commands() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start_ferrograph(dir.path(), "flush_interval = \"1h\"\n");
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(
        b"a.x:1|c\na.y:2|c\nb:1|c\nt:5|ms\ng:1|g\ns:m|s\nbad",
        daemon.udp,
    )
    .unwrap();
    let admin = daemon.admin.unwrap();
    assert!(util::wait_until(Duration::from_secs(5), || {
        admin_command(admin, "sets").contains("s: [ 'm' ]")
    }));
    let stats = admin_command(admin, "stats");
    assert!(stats.starts_with("uptime: "), "{stats}");
    assert!(stats.contains("messages.bad_lines_seen: 1\n"), "{stats}");
    assert!(stats.ends_with("END\n\n"), "{stats}");
    assert!(admin_command(admin, "timers").contains("t: [ 5 ]"));
    assert!(admin_command(admin, "gauges").contains("g: 1"));
    assert_eq!(
        admin_command(admin, "delcounters a.* b nope"),
        "deleted: a.x\ndeleted: a.y\ndeleted: b\nmetric nope not found\nEND\n\n"
    );
    let counters = admin_command(admin, "counters");
    assert!(!counters.contains("a.x") && counters.contains("statsd.bad_lines_seen"));
    assert_eq!(admin_command(admin, "delsets s"), "deleted: s\nEND\n\n");
    assert_eq!(admin_command(admin, "health down"), "health: down\n");
    assert_eq!(admin_command(admin, "health"), "health: down\n");
    assert_eq!(admin_command(admin, "bogus"), "ERROR\n");
    assert!(admin_command(admin, "help").starts_with("Commands: "));
    assert!(admin_command(admin, "config").contains("flush_interval: "));
}

#[test]
fn check_config_names_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[statsd]\nflush_intervl = \"1s\"\n", "flush_intervl"),
        (
            "[statsd]\nflush_interval = \"10 parsecs\"\n",
            "flush_interval",
        ),
        ("[statsd]\npercentiles = [120]\n", "percentiles"),
        ("[statsd]\nudp = \"nonsense\"\n", "udp"),
        ("[statsd]\ngauges_max_ttl = 0\n", "gauges_max_ttl"),
        (
            "[statsd]\ncalculated_timer_metrics = [\"p99\"]\n",
            "calculated_timer_metrics",
        ),
        (
            "[statsd]\nhistogram = [ { metric = \"x\", bins = [5, 1] } ]\n",
            "histogram",
        ),
        ("[nosuchsection]\n", "nosuchsection"),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let out = run_ferrograph(&["check-config", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text} was accepted");
        assert!(
            err.contains(&*path.to_string_lossy()),
            "no file name: {err}"
        );
        assert!(err.contains(key), "no key {key}: {err}");
    }
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/ferrograph.example.toml"
    );
    let out = run_ferrograph(&["check-config", example]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn wait_for_line(capture: &Capture, name: &str, timeout: Duration) -> Option<(String, i64)> {
    let mut found = None;
    util::wait_until(timeout, || {
        found = capture
            .lines
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.name == name)
            .map(|l| (l.value.clone(), l.ts));
        found.is_some()
    });
    found
}

/// Issue 5's mechanism: with `align_flush` and `state_file`, SIGTERM and a
/// restart inside the same interval lose nothing and send no partial value;
/// an interval that closed while the daemon was down is sent at start with
/// its own timestamp; gauges survive.
#[test]
fn state_file_keeps_the_open_interval_across_restarts() {
    const INTERVAL_MS: u64 = 4000;
    let dir = tempfile::tempdir().unwrap();
    let capture = Capture::start();
    let state = dir.path().join("statsd.state");
    let toml = format!(
        "flush_interval = \"4s\"\nalign_flush = true\nstate_file = \"{}\"\ngraphite = \"{}\"\n",
        state.display(),
        capture.addr
    );
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Start early in an interval so stop + restart fit inside it.
    assert!(util::wait_until(Duration::from_secs(10), || {
        (200..800).contains(&(now_ms() % INTERVAL_MS))
    }));
    let interval_start = (now_ms() - now_ms() % INTERVAL_MS) / 1000;
    let mut first = start_ferrograph(dir.path(), &toml);
    udp.send_to(b"persist.c:3|c\npersist.g:5|g\npersist.t:10|ms", first.udp)
        .unwrap();
    let admin = first.admin.unwrap();
    assert!(util::wait_until(Duration::from_secs(3), || {
        admin_command(admin, "counters").contains("'persist.c': 3")
    }));
    assert!(first.child.terminate(Duration::from_secs(5)).is_some());
    assert!(state.exists(), "no state file written at shutdown");
    assert!(
        capture
            .lines
            .lock()
            .unwrap()
            .iter()
            .all(|l| !l.name.contains("persist")),
        "a partial interval was sent"
    );
    let second = start_ferrograph(dir.path(), &toml);
    assert!(!state.exists(), "the state file is consumed at start");
    udp.send_to(b"persist.c:4|c\npersist.t:20|ms", second.udp)
        .unwrap();
    let (count, ts) = wait_for_line(&capture, "stats_counts.persist.c", Duration::from_secs(8))
        .expect("the interval was flushed");
    assert_eq!(count, "7", "both halves of the interval in one point");
    assert_eq!(
        ts as u64, interval_start,
        "point stamped with the interval start"
    );
    let (timer_count, _) = wait_for_line(
        &capture,
        "stats.timers.persist.t.count",
        Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(timer_count, "2");

    // Stop with data, stay down past the interval's end: sent at start.
    let mut second = second;
    udp.send_to(b"persist.late:2|c", second.udp).unwrap();
    let admin = second.admin.unwrap();
    assert!(util::wait_until(Duration::from_secs(3), || {
        admin_command(admin, "counters").contains("'persist.late': 2")
    }));
    let saved_start = (now_ms() - now_ms() % INTERVAL_MS) / 1000;
    assert!(second.child.terminate(Duration::from_secs(5)).is_some());
    assert!(util::wait_until(Duration::from_secs(6), || {
        (now_ms() - now_ms() % INTERVAL_MS) / 1000 > saved_start
    }));
    let _third = start_ferrograph(dir.path(), &toml);
    let (late, late_ts) = wait_for_line(
        &capture,
        "stats_counts.persist.late",
        Duration::from_secs(3),
    )
    .expect("the closed interval was sent at start");
    assert_eq!(late, "2");
    assert_eq!(late_ts as u64, saved_start);
    // The gauge set before the first restart is still there.
    let gauges: Vec<String> = capture
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.name == "stats.gauges.persist.g")
        .map(|l| l.value.clone())
        .collect();
    assert!(
        !gauges.is_empty() && gauges.iter().all(|v| v == "5"),
        "{gauges:?}"
    );
}
