//! The all-in-one pipeline: the only place that knows every crate.
//!
//! ```text
//! StatsD UDP/TCP -> aggregator --flush--> Ingest --> storage cache -> writers -> .wsp
//! carbon 2003/2004 -----------------------^                 Read <-- render API <-- HTTP
//! ```
//!
//! Start order is the reverse of the flow (storage, then the render API,
//! then the producers), so nothing is produced before it can be stored.
//! Shutdown follows the flow: stop the listeners, flush (or save) the open
//! StatsD interval into the cache, drain the cache to files, then close the
//! render API and storage.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use storage::carbon::Receivers;
use storage::Backend;

use crate::config::Loaded;
use crate::selfstats;

/// Where each listener actually listens (port 0 resolved); `None` = off.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Addrs {
    /// StatsD over UDP.
    pub statsd_udp: Option<SocketAddr>,
    /// StatsD over TCP.
    pub statsd_tcp: Option<SocketAddr>,
    /// StatsD admin console.
    pub statsd_admin: Option<SocketAddr>,
    /// carbon plaintext over TCP.
    pub carbon_plaintext: Option<SocketAddr>,
    /// carbon pickle over TCP.
    pub carbon_pickle: Option<SocketAddr>,
    /// carbon plaintext over UDP.
    pub carbon_udp: Option<SocketAddr>,
    /// The graphite-web compatible HTTP API.
    pub http: Option<SocketAddr>,
    /// l2met log metrics as syslog over UDP.
    pub logs_syslog: Option<SocketAddr>,
    /// The data directory.
    pub data_dir: PathBuf,
}

/// The render API on its own small tokio runtime.
struct HttpServer {
    runtime: tokio::runtime::Runtime,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl HttpServer {
    fn start(api: render_api::Api, addr: SocketAddr) -> anyhow::Result<(HttpServer, SocketAddr)> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("render-api")
            .enable_all()
            .build()
            .context("starting the render API runtime")?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .with_context(|| format!("binding the render API to {addr}"))?;
        let local = listener
            .local_addr()
            .context("reading the render API's address")?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(render_api::serve(listener, api, async move {
            let _ = stopped.await;
        }));
        Ok((
            HttpServer {
                runtime,
                stop,
                task,
            },
            local,
        ))
    }

    fn shutdown(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.runtime.block_on(self.task) {
            tracing::error!(error = %e, "render API task failed");
        }
        // Open keep-alive connections are cancelled here; requests in
        // flight get a short grace period.
        self.runtime.shutdown_timeout(Duration::from_secs(5));
    }
}

/// A running pipeline.
pub struct Pipeline {
    store: Backend,
    aggregator: Option<aggregator::Running>,
    carbon: Option<Receivers>,
    rules: Option<storage::rules::RuledIngest>,
    syslog: Option<crate::logs_cmd::SyslogListener>,
    http: Option<HttpServer>,
    /// The render API, for reloads of its settings.
    render_api: Option<render_api::Api>,
    addrs: Addrs,
}

impl Pipeline {
    /// Opens the store under `data_dir` and starts every stage the config
    /// enables.
    pub fn start(loaded: &Loaded, data_dir: &Path) -> anyhow::Result<Pipeline> {
        // Everything is validated before the data directory is touched, by
        // the same code as `check-config`.
        loaded.check(data_dir)?;
        let fresh = !data_dir.exists();
        let started = Self::start_stages(loaded, data_dir);
        // A start that fails later (a port already in use) leaves no
        // directory behind that it created itself; the stages are joined
        // by then, since their handles dropped with the error.
        if started.is_err() && fresh {
            if let Err(e) = std::fs::remove_dir_all(data_dir) {
                tracing::warn!(error = %e, dir = %data_dir.display(), "cannot remove the data directory this failed start created");
            }
        }
        started
    }

    fn start_stages(loaded: &Loaded, data_dir: &Path) -> anyhow::Result<Pipeline> {
        let mut statsd = loaded.statsd()?;
        // In the pipeline, every flush owns a Whisper slot and the open
        // interval survives a restart, unless the file says otherwise.
        if !loaded.sets("statsd", "align_flush") {
            statsd.align_flush = true;
        }
        if !loaded.sets("statsd", "state_file") {
            statsd.state_file = Some(data_dir.join("statsd.state"));
        }
        // Storage sorts tags: keys differing only in tag order must aggregate
        // together, or their points overwrite each other in one slot.
        if !loaded.sets("statsd", "canonicalize_tags") {
            statsd.parse.canonicalize_tags = true;
        }
        let store_settings = loaded.storage(data_dir)?;
        // With the journal, the open StatsD interval is snapshotted as often
        // as the journal syncs: a crash loses at most that much of either.
        if let (Some(journal), Some(_)) = (&store_settings.journal, &statsd.state_file) {
            statsd.snapshot_interval = Some(journal.sync_interval);
        }
        for problem in store_settings
            .schemas
            .warnings
            .iter()
            .chain(&store_settings.aggregation.warnings)
        {
            tracing::warn!("{problem}");
        }
        let render_settings = loaded.render()?;

        let store = open_store(loaded, store_settings)?;
        let mut addrs = Addrs {
            data_dir: data_dir.to_path_buf(),
            ..Addrs::default()
        };

        // [carbon] aggregation/rewrite rules sit in front of the store's
        // doors, so every producer below passes through them.
        let rules = start_ingest_rules(loaded, &store)?;
        let ingest_handle = || match &rules {
            Some(r) => r.ingest_handle(),
            None => store.ingest_handle(),
        };
        let backpressure_handle = || match &rules {
            Some(r) => r.backpressure_handle(),
            None => store.backpressure_handle(),
        };

        let statsd_enabled = statsd.udp.is_some() || statsd.tcp.is_some() || statsd.unix.is_some();
        if statsd_enabled {
            warn_on_slot_mismatch(&store, &statsd);
        }

        let syslog_addr = loaded.logs()?;
        let log_sink = Arc::new(crate::logs_cmd::PipelineLogSink::default());
        let aggregator_runs = statsd_enabled || statsd.admin.is_some();
        let mut log_input = None;

        // /health answers 200 once every listener below is bound.
        let ready = Arc::new(AtomicBool::new(false));
        let mut render_api = None;
        let http = match render_settings.http {
            Some(addr) => {
                let exporter_store = store.stats_handle();
                let api = render_api::router(store.read_handle(), render_settings.clone())
                    .with_metrics_exporter(Arc::new(move || {
                        selfstats::prometheus_text(&exporter_store())
                    }))
                    .with_readiness(ready.clone())
                    .with_state(open_state(data_dir)?);
                // POST /logs feeds the StatsD aggregator once it runs.
                let api = if loaded.config.logs.drain && aggregator_runs {
                    api.with_log_sink(log_sink.clone(), loaded.config.logs.max_body)
                } else {
                    api
                };
                let render_stats = api.clone();
                render_api = Some(api.clone());
                store.add_stats_source(selfstats::prefixed("render", move || {
                    render_stats.stats().snapshot()
                }));
                let (server, local) = HttpServer::start(api, addr)?;
                addrs.http = Some(local);
                Some(server)
            }
            None => None,
        };

        let aggregator = if aggregator_runs {
            let running = aggregator::Aggregator::start(statsd, ingest_handle())
                .context("starting the StatsD listeners")?;
            let a = running.local_addrs();
            addrs.statsd_udp = a.udp;
            addrs.statsd_tcp = a.tcp;
            addrs.statsd_admin = a.admin;
            let stats = running.stats_handle();
            store.add_stats_source(selfstats::prefixed("statsd", move || {
                stats().into_iter().map(|(k, v)| (k, v as f64)).collect()
            }));
            let input = running.log_input(loaded.config.logs.options());
            let log_stats = input.clone();
            store.add_stats_source(Arc::new(move || log_stats.stats()));
            log_sink.connect(input.clone());
            log_input = Some(input);
            Some(running)
        } else {
            None
        };

        let syslog = match (syslog_addr, log_input) {
            (Some(addr), Some(input)) => {
                let listener = crate::logs_cmd::SyslogListener::start(addr, input)?;
                addrs.logs_syslog = Some(listener.addr());
                Some(listener)
            }
            (Some(_), None) => anyhow::bail!(
                "[logs] syslog needs the StatsD aggregator: set [statsd] udp, tcp or admin"
            ),
            (None, _) => None,
        };

        let carbon_config = &loaded.config.carbon;
        let carbon_enabled = [
            &carbon_config.plaintext,
            &carbon_config.pickle,
            &carbon_config.udp,
        ]
        .iter()
        .any(|a| !a.is_empty());
        let carbon = if carbon_enabled {
            let receivers = Receivers::start_with_backpressure(
                carbon_config,
                ingest_handle(),
                backpressure_handle(),
            )
            .context("starting the carbon receivers")?;
            store.add_stats_source(receivers.stats_source());
            let a = receivers.local_addrs();
            addrs.carbon_plaintext = a.plaintext;
            addrs.carbon_pickle = a.pickle;
            addrs.carbon_udp = a.udp;
            Some(receivers)
        } else {
            None
        };

        ready.store(true, Ordering::Release);
        Ok(Pipeline {
            store,
            aggregator,
            carbon,
            rules,
            syslog,
            http,
            render_api,
            addrs,
        })
    }

    /// Lets the StatsD admin console's `reload` command run `reloader`
    /// (when the aggregator runs).
    pub fn on_admin_reload(&self, reloader: &Arc<crate::reload::Reloader>) {
        if let Some(aggregator) = &self.aggregator {
            let reloader = Arc::clone(reloader);
            aggregator.on_admin_reload(Arc::new(move || reloader.reload_logged()));
        }
    }

    /// What `SIGHUP` reloads from `config` (the file it was started with):
    /// see [`crate::reload`].
    pub fn reloader(&self, config: Option<PathBuf>) -> crate::reload::Reloader {
        crate::reload::Reloader::new(
            config,
            &self.addrs.data_dir,
            self.store.rules_handle(),
            self.render_api.clone(),
            |source| self.store.add_stats_source(source),
        )
    }

    /// The bound addresses.
    pub fn addrs(&self) -> &Addrs {
        &self.addrs
    }

    /// Stops in flow order and returns when every thread and task is joined.
    pub fn shutdown(self) {
        let Pipeline {
            store,
            aggregator,
            carbon,
            rules,
            syslog,
            http,
            ..
        } = self;
        if let Some(receivers) = carbon {
            tracing::info!("stopping the carbon receivers");
            receivers.shutdown();
        }
        if let Some(listener) = syslog {
            listener.shutdown();
        }
        if let Some(running) = aggregator {
            tracing::info!("stopping StatsD: listeners, then the open interval");
            running.shutdown();
        }
        if let Some(rules) = rules {
            tracing::info!("emitting the aggregation buckets still open");
            rules.shutdown();
        }
        tracing::info!(
            points = store.pending_points(),
            "writing the cache to the store"
        );
        store.shutdown();
        if let Some(server) = http {
            server.shutdown();
        }
    }
}

/// Opens the store `[storage] backend` names; `[clickhouse]` is read only
/// for the ClickHouse backend. `serve` and `carbon` open it alike.
pub(crate) fn open_store(
    loaded: &Loaded,
    settings: storage::StoreSettings,
) -> anyhow::Result<Backend> {
    let data_dir = settings.data_dir.clone();
    let clickhouse = match settings.backend {
        storage::BackendKind::ClickHouse => Some(loaded.clickhouse()?),
        storage::BackendKind::Whisper => None,
    };
    Backend::open(settings, clickhouse)
        .with_context(|| format!("opening the data directory {}", data_dir.display()))
}

/// Starts `[carbon]` aggregation/rewrite rules in front of the store's
/// doors, if any are configured; bad rule lines are logged, the others
/// still apply.
pub(crate) fn start_ingest_rules(
    loaded: &Loaded,
    store: &Backend,
) -> anyhow::Result<Option<storage::rules::RuledIngest>> {
    let Some(rules) = loaded.ingest_rules()? else {
        return Ok(None);
    };
    for problem in &rules.problems {
        tracing::error!("{problem}; the other rules still apply");
    }
    let ruled = storage::rules::RuledIngest::start(
        rules,
        store.ingest_handle(),
        store.backpressure_handle(),
    )
    .context("starting the ingest rules")?;
    store.add_stats_source(ruled.stats_source());
    Ok(Some(ruled))
}

/// Warns once when StatsD series would land in a schema whose finest
/// precision differs from the flush interval: a coarser precision keeps only
/// the last flush of each slot (users' most common silent data loss), a
/// finer one leaves gaps between flushes.
fn warn_on_slot_mismatch(store: &Backend, statsd: &aggregator::Settings) {
    let interval = statsd.flush_interval.as_secs_f64();
    let probe = if statsd.legacy_namespace {
        "stats_counts.probe"
    } else {
        "stats.counters.probe.count"
    };
    let rule = store.schema_for(probe);
    let precision = f64::from(rule.finest_precision());
    if (precision - interval).abs() > f64::EPSILON {
        tracing::warn!(
            flush_interval_s = interval,
            schema = %rule.name,
            finest_precision_s = precision,
            "the StatsD flush interval differs from the finest precision of the schema its \
             series use: a coarser precision keeps only the last flush of each slot; set \
             [statsd] flush_interval or the schema's first retention so they match"
        );
    }
}

/// The events and dashboards database, `DATA_DIR/ferrograph.sqlite`.
pub(crate) fn open_state(data_dir: &Path) -> anyhow::Result<Arc<render_api::state::StateStore>> {
    let path = data_dir.join(render_api::state::DB_FILE);
    render_api::state::StateStore::open(&path)
        .map(Arc::new)
        .with_context(|| format!("opening the state database {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names (as the kernel truncates them, 15 bytes) of the threads the
    /// pipeline's stages start.
    fn pipeline_threads() -> Vec<String> {
        const OURS: &[&str] = &[
            "statsd-",
            "whisper-writer",
            "storage-",
            "render-api",
            "graphite-",
        ];
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return Vec::new();
        };
        tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .map(|c| c.trim().to_string())
            .filter(|c| OURS.iter().any(|p| c.starts_with(p)))
            .collect()
    }

    #[test]
    fn start_stop_ten_times_leaves_no_thread_behind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("ferrograph.toml");
        std::fs::write(
            &config,
            "[statsd]\nudp = \"127.0.0.1:0\"\ntcp = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
             flush_interval = \"1s\"\n[render]\nhttp = \"127.0.0.1:0\"\n\
             [carbon]\nplaintext = \"127.0.0.1:0\"\npickle = \"127.0.0.1:0\"\nudp = \"127.0.0.1:0\"\n",
        )
        .expect("write config");
        let loaded = Loaded::from_file(&config).expect("config");
        assert!(pipeline_threads().is_empty(), "{:?}", pipeline_threads());
        for round in 0..10 {
            let pipeline = Pipeline::start(&loaded, &dir.path().join("data")).expect("start");
            assert!(pipeline.addrs().http.is_some() && pipeline.addrs().statsd_udp.is_some());
            // A new thread names itself once it first runs (std sets the
            // name from inside it), so on a busy machine give them a moment.
            let named = std::time::Instant::now() + Duration::from_secs(10);
            while pipeline_threads().is_empty() && std::time::Instant::now() < named {
                std::thread::sleep(Duration::from_millis(10));
            }
            assert!(
                !pipeline_threads().is_empty(),
                "round {round}: no stage threads?"
            );
            pipeline.shutdown();
            // A joined thread can stay listed in /proc for a moment while the
            // kernel finishes its exit; a leaked one stays.
            let gone = std::time::Instant::now() + Duration::from_secs(5);
            while !pipeline_threads().is_empty() && std::time::Instant::now() < gone {
                std::thread::sleep(Duration::from_millis(10));
            }
            let left = pipeline_threads();
            assert!(
                left.is_empty(),
                "round {round}: threads still running: {left:?}"
            );
        }
    }
}
