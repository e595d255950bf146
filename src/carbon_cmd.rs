//! `ferrograph carbon --config FILE --data-dir DIR`: a drop-in for
//! carbon-cache. Reads `[carbon]` and `[storage]`, opens the store, starts
//! the receivers, and on SIGTERM/SIGINT stops in flow order: listeners
//! first, then the cache is drained to the Whisper files.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use storage::carbon::{CarbonConfig, Receivers};
use storage::{StorageConfig, Store};

/// Arguments of `ferrograph carbon`.
#[derive(Debug, Args)]
pub struct CarbonArgs {
    /// Config file (TOML); its [carbon] and [storage] sections are used.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where the Whisper files live.
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,
}

/// The two sections this command reads, each decoded over its defaults.
#[derive(Debug, Default, serde::Deserialize)]
struct Sections {
    #[serde(default)]
    carbon: CarbonConfig,
    #[serde(default)]
    storage: StorageConfig,
}

fn load(path: Option<&PathBuf>) -> anyhow::Result<(Sections, Option<PathBuf>)> {
    let Some(path) = path else {
        return Ok((Sections::default(), None));
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: toml::Value =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let section = |name: &str| value.get(name).cloned();
    let carbon = match section("carbon") {
        Some(v) => v
            .try_into()
            .with_context(|| format!("{}: section [carbon]", path.display()))?,
        None => CarbonConfig::default(),
    };
    let storage = match section("storage") {
        Some(v) => v
            .try_into()
            .with_context(|| format!("{}: section [storage]", path.display()))?,
        None => StorageConfig::default(),
    };
    Ok((
        Sections { carbon, storage },
        path.parent().map(PathBuf::from),
    ))
}

/// Runs until SIGTERM or SIGINT.
pub fn run(args: CarbonArgs) -> anyhow::Result<()> {
    let (sections, config_dir) = load(args.config.as_ref())?;
    let settings = sections
        .storage
        .validate(args.data_dir.clone(), config_dir.as_deref())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for w in settings
        .schemas
        .warnings
        .iter()
        .chain(&settings.aggregation.warnings)
    {
        tracing::warn!("{w}");
    }
    let store = Store::open(settings)
        .with_context(|| format!("opening data dir {}", args.data_dir.display()))?;
    let receivers = Receivers::start(&sections.carbon, store.ingest_handle())?;
    store.add_stats_source(receivers.stats_source());
    let addrs = receivers.local_addrs();
    tracing::info!(
        data_dir = %args.data_dir.display(),
        plaintext = ?addrs.plaintext,
        pickle = ?addrs.pickle,
        udp = ?addrs.udp,
        "ferrograph carbon running"
    );
    wait_for_signal()?;
    tracing::info!("stopping: listeners first, then draining the cache");
    receivers.shutdown();
    let left = store.cache_size();
    store.shutdown();
    tracing::info!(drained = left, "stopped");
    Ok(())
}

fn wait_for_signal() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok::<(), std::io::Error>(())
    })?;
    Ok(())
}
