//! `ferrograph statsd-proxy` started on free loopback ports in front of
//! StatsD nodes given by port, with its admin console (`stats`, `status`)
//! as the way to look inside.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{ferrograph, ChildGuard};

pub struct Proxy {
    pub child: ChildGuard,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub admin: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    /// Starts the proxy in front of `nodes`: (StatsD UDP port, admin port)
    /// on 127.0.0.1; it listens on free loopback ports (UDP, TCP, admin),
    /// checks health every 200 ms, and `check-config` passes its file first.
    pub fn start(dir: &Path, nodes: &[(u16, u16)]) -> Proxy {
        Proxy::start_with(dir, nodes, "")
    }

    /// `extra` are more `[statsd_proxy]` keys.
    pub fn start_with(dir: &Path, nodes: &[(u16, u16)], extra: &str) -> Proxy {
        let mut toml = String::from(
            "[statsd_proxy]\nudp = \"127.0.0.1:0\"\ntcp = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
             check_interval = \"200ms\"\n",
        );
        toml.push_str(extra);
        for (port, admin) in nodes {
            toml.push_str(&format!(
                "[[statsd_proxy.nodes]]\nhost = \"127.0.0.1\"\nport = {port}\nadminport = {admin}\n"
            ));
        }
        let path = dir.join("proxy.toml");
        std::fs::write(&path, toml).unwrap();
        let check = ferrograph()
            .arg("check-config")
            .arg(&path)
            .output()
            .unwrap();
        assert!(check.status.success(), "check-config: {check:?}");
        let child = ferrograph()
            .args(["statsd-proxy", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ferrograph statsd-proxy");
        let mut child = ChildGuard(child);
        let stderr = child.0.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if line.contains("ferrograph statsd-proxy listening") {
                    let _ = tx.send(line.clone());
                }
                log2.lock().unwrap().push(line);
            }
        });
        let ready = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("proxy did not start: {:?}", log.lock().unwrap()));
        let field = |name: &str| -> SocketAddr {
            let start = ready.find(&format!(" {name}=")).expect(name) + name.len() + 2;
            let rest = &ready[start..];
            rest[..rest.find(' ').unwrap_or(rest.len())]
                .parse()
                .expect(name)
        };
        Proxy {
            udp: field("udp"),
            tcp: field("tcp"),
            admin: field("admin"),
            child,
            log,
        }
    }

    /// One admin console command's answer.
    pub fn admin(&self, command: &str) -> String {
        let mut conn = TcpStream::connect(self.admin).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.write_all(format!("{command}\nquit\n").as_bytes())
            .unwrap();
        let mut out = String::new();
        let _ = conn.read_to_string(&mut out);
        out
    }

    /// The `stats` counters.
    pub fn stats(&self) -> HashMap<String, u64> {
        self.admin("stats")
            .lines()
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(": ")?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect()
    }

    /// The nodes on the ring, from `status` (Etsy's format).
    pub fn ring(&self) -> Vec<String> {
        let status = self.admin("status");
        let nodes = status
            .lines()
            .find_map(|l| l.strip_prefix("nodes:"))
            .unwrap_or_else(|| panic!("no nodes line in {status:?}"));
        nodes.split_whitespace().map(str::to_string).collect()
    }
}
