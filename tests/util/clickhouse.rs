//! A ClickHouse server started by a test: Debian's `clickhouse-server`
//! (18.16, installed by scripts/ci-prerequisites.sh) in a temp dir, on free
//! loopback ports, stopped by its PID when the guard drops.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{free_tcp_port, wait_until, ChildGuard};

/// The server binary.
pub fn server_binary() -> PathBuf {
    for candidate in ["/usr/bin/clickhouse-server", "/usr/sbin/clickhouse-server"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "clickhouse-server is not installed: scripts/ci-prerequisites.sh installs Debian's \
         clickhouse-server (run scripts/test.sh, or apt-get install clickhouse-server)"
    );
}

/// A running server.
pub struct ClickHouse {
    /// The process.
    pub child: ChildGuard,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The HTTP port.
    pub http_port: u16,
    /// The native TCP port (for `remote_servers`).
    pub tcp_port: u16,
    /// Its directory (data, logs, config).
    pub dir: PathBuf,
}

/// One shard of a test cluster: host 127.0.0.1 and its native TCP port.
pub type Shard = u16;

impl ClickHouse {
    /// Starts a server under `dir` with `rollup_xml` (a `<graphite_rollup>`
    /// element) in its config and, if given, a cluster `shards` of the
    /// listed native ports; waits until `/ping` answers.
    pub fn start(dir: &Path, rollup_xml: &str, cluster: Option<(&str, &[Shard])>) -> ClickHouse {
        Self::start_on(dir, rollup_xml, cluster, free_tcp_port(), free_tcp_port())
    }

    /// [`ClickHouse::start`] on given ports (a restart keeps its ports).
    pub fn start_on(
        dir: &Path,
        rollup_xml: &str,
        cluster: Option<(&str, &[Shard])>,
        http_port: u16,
        tcp_port: u16,
    ) -> ClickHouse {
        std::fs::create_dir_all(dir.join("data")).expect("create the server dir");
        std::fs::create_dir_all(dir.join("tmp")).expect("create the server tmp dir");
        let users = dir.join("users.xml");
        std::fs::write(
            &users,
            "<yandex><profiles><default></default></profiles>\
             <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>\
             <profile>default</profile><quota>default</quota></default></users>\
             <quotas><default></default></quotas></yandex>\n",
        )
        .expect("write users.xml");
        let remote_servers = match cluster {
            None => String::new(),
            Some((name, shards)) => {
                let mut xml = format!("<remote_servers><{name}>");
                for port in shards {
                    xml.push_str(&format!(
                        "<shard><replica><host>127.0.0.1</host><port>{port}</port></replica></shard>"
                    ));
                }
                xml.push_str(&format!("</{name}></remote_servers>"));
                xml
            }
        };
        let d = dir.display();
        let config = format!(
            "<yandex>\n<logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog></logger>\n\
             <listen_host>127.0.0.1</listen_host><http_port>{http_port}</http_port><tcp_port>{tcp_port}</tcp_port>\n\
             <path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path><users_config>{d}/users.xml</users_config>\n\
             <default_profile>default</default_profile><default_database>default</default_database>\n\
             <mark_cache_size>268435456</mark_cache_size><timezone>UTC</timezone>\n\
             {remote_servers}\n{rollup_xml}\n</yandex>\n"
        );
        let config_path = dir.join("config.xml");
        std::fs::write(&config_path, config).expect("write config.xml");
        let stdout = std::fs::File::create(dir.join("stdout.log")).expect("create stdout.log");
        let child = Command::new(server_binary())
            .arg(format!("--config-file={}", config_path.display()))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(stdout.try_clone().expect("clone the log handle"))
            .stderr(stdout)
            .spawn()
            .expect("start clickhouse-server");
        let server = ClickHouse {
            child: ChildGuard(child),
            url: format!("http://127.0.0.1:{http_port}"),
            http_port,
            tcp_port,
            dir: dir.to_path_buf(),
        };
        let up = wait_until(Duration::from_secs(60), || {
            ureq::get(&format!("{}/ping", server.url))
                .timeout(Duration::from_secs(2))
                .call()
                .ok()
                .and_then(|r| r.into_string().ok())
                .is_some_and(|s| s.trim() == "Ok.")
        });
        assert!(
            up,
            "clickhouse-server did not answer /ping within 60 s; its logs:\n{}\n{}",
            std::fs::read_to_string(dir.join("stdout.log")).unwrap_or_default(),
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        server
    }

    /// Runs `sql` (POST); the answer, or the server's error text.
    pub fn try_query(&self, sql: &str) -> Result<String, String> {
        match ureq::post(&format!("{}/", self.url))
            .timeout(Duration::from_secs(60))
            .send_string(sql)
        {
            Ok(r) => r.into_string().map_err(|e| e.to_string()),
            Err(ureq::Error::Status(code, r)) => {
                Err(format!("{code}: {}", r.into_string().unwrap_or_default()))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Runs `sql`; panics with the server's message on an error.
    pub fn query(&self, sql: &str) -> String {
        self.try_query(sql)
            .unwrap_or_else(|e| panic!("ClickHouse refused {sql:?}: {e}"))
    }

    /// A query with the metric list as external data `metrics_list`, the
    /// way graphite-clickhouse sends a render's paths.
    pub fn query_with_metrics_list(&self, sql: &str, paths: &[&str]) -> Vec<u8> {
        let boundary = "testboundary42";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"metrics_list\"; filename=\"metrics_list\"\r\n\r\n"
        );
        for p in paths {
            body.push_str(p);
            body.push('\n');
        }
        body.push_str(&format!("\r\n--{boundary}--\r\n"));
        let response = ureq::post(&format!("{}/", self.url))
            .query("query", sql)
            .query("metrics_list_structure", "Path String")
            .query("metrics_list_format", "TSV")
            .set(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .send_string(&body)
            .unwrap_or_else(|e| panic!("external-data query {sql:?}: {e}"));
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut out).expect("read the answer");
        out
    }

    /// SIGTERM, and waits for the exit.
    pub fn stop(mut self) {
        if self.child.terminate(Duration::from_secs(30)).is_none() {
            let _ = self.child.0.kill();
            let _ = self.child.0.wait();
        }
    }
}
