//! `ferrograph clickhouse …`: the ClickHouse backend's maintenance
//! commands: the server's `<graphite_rollup>` element, carbon-clickhouse's
//! tables, the periodic OPTIMIZE, and moving a Whisper tree in.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use storage::clickhouse::{
    ddl, names, queue, rollup, rowbinary::Writer, ClickHouseSettings, Client,
};

use crate::config::Loaded;

/// Arguments of `ferrograph clickhouse`.
#[derive(Debug, Args)]
pub struct ClickHouseArgs {
    #[command(subcommand)]
    command: ClickHouseCommand,
}

#[derive(Debug, Subcommand)]
enum ClickHouseCommand {
    /// Print the <graphite_rollup> element for the configured storage-schemas.conf x storage-aggregation.conf.
    RollupXml {
        /// Config file (TOML); its [storage] schemas and aggregation are used.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Create carbon-clickhouse's points, index and tagged tables if missing.
    Init(ServerArgs),
    /// OPTIMIZE … PARTITION … FINAL the partitions of the points table ClickHouse has not rolled up.
    Optimize {
        #[command(flatten)]
        server: ServerArgs,
        /// Only partitions whose newest row is before today (as `serve` schedules it).
        #[arg(long)]
        old_only: bool,
    },
    /// Copy a Whisper tree into the tables (resumable: finished files are recorded).
    Import {
        /// The Whisper data directory.
        data_dir: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
        /// Where finished files are recorded (default: DATA_DIR/.clickhouse-import.done).
        #[arg(long)]
        state: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct ServerArgs {
    /// Config file (TOML); its [clickhouse] section is used.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Another server than [clickhouse] url (each shard of a cluster, say).
    #[arg(long)]
    url: Option<String>,
    /// A cluster name from the server's remote_servers (overrides [clickhouse] cluster).
    #[arg(long)]
    cluster: Option<String>,
}

impl ServerArgs {
    fn settings(&self) -> anyhow::Result<(Loaded, ClickHouseSettings, Client)> {
        let loaded = Loaded::from_option(self.config.as_deref())?;
        let mut settings = loaded.clickhouse()?;
        if let Some(cluster) = &self.cluster {
            settings.cluster = Some(cluster.clone()).filter(|c| !c.is_empty());
        }
        let client = match &self.url {
            Some(url) => Client::with_url(&settings, url),
            None => Client::new(&settings),
        };
        Ok((loaded, settings, client))
    }
}

/// Runs one `clickhouse` subcommand.
pub fn run(args: ClickHouseArgs) -> anyhow::Result<()> {
    match args.command {
        ClickHouseCommand::RollupXml { config } => {
            let loaded = Loaded::from_option(config.as_deref())?;
            let store = loaded.storage(Path::new("data"))?;
            let (xml, approximated) = rollup::rollup_xml(&store.schemas, &store.aggregation);
            for pair in approximated {
                eprintln!(
                    "warning: {pair}: RE2 cannot say \"both match\" exactly; the pattern approximates it"
                );
            }
            print!("{xml}");
            Ok(())
        }
        ClickHouseCommand::Init(server) => {
            let (_, settings, client) = server.settings()?;
            let done = ddl::init(&client, &settings)
                .with_context(|| format!("creating the tables on {}", client.url()))?;
            for sql in done {
                println!("{sql};");
            }
            Ok(())
        }
        ClickHouseCommand::Optimize { server, old_only } => {
            let (_, settings, client) = server.settings()?;
            let which = if old_only {
                ddl::Partitions::Old
            } else {
                ddl::Partitions::All
            };
            let partitions = ddl::optimize(&client, &settings, which).with_context(|| {
                format!("optimizing {} on {}", settings.points_table, client.url())
            })?;
            println!(
                "optimized {} partition(s) of {}: {}",
                partitions.len(),
                settings.points_table,
                partitions.join(" ")
            );
            Ok(())
        }
        ClickHouseCommand::Import {
            data_dir,
            server,
            state,
        } => {
            let (loaded, settings, client) = server.settings()?;
            let store = loaded.storage(&data_dir)?;
            let state = state.unwrap_or_else(|| data_dir.join(".clickhouse-import.done"));
            import(
                &data_dir,
                &state,
                &settings,
                &client,
                store.schemas.rules().is_empty(),
            )
        }
    }
}

/// Every `.wsp` file under `root`, relative, sorted; dot directories (the
/// journal) and `_tagged` (whose file names are hashes, not names) are
/// skipped and the latter counted.
fn whisper_files(root: &Path) -> anyhow::Result<(Vec<PathBuf>, usize)> {
    let mut files = Vec::new();
    let mut tagged = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.file_type()?.is_dir() {
                if name == "_tagged" {
                    tagged += 1;
                } else if !name.starts_with('.') {
                    stack.push(path);
                }
            } else if name.ends_with(".wsp") {
                files.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
            }
        }
    }
    files.sort();
    Ok((files, tagged))
}

/// Inserts every point of every file (each archive only where no finer
/// archive covers it, so roll-ups are never counted twice), with its index
/// rows; records each file once its rows are in, and skips recorded files
/// when run again.
fn import(
    root: &Path,
    state: &Path,
    settings: &ClickHouseSettings,
    client: &Client,
    _no_rules: bool,
) -> anyhow::Result<()> {
    use indicatif::{ProgressBar, ProgressStyle};
    let done: std::collections::HashSet<String> = std::fs::read_to_string(state)
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default();
    let (files, tagged) = whisper_files(root)?;
    if tagged > 0 {
        eprintln!("warning: {} skipped: tagged series are stored under hashed file names; send them again or use carbon-clickhouse's tagged import", root.join("_tagged").display());
    }
    let todo: Vec<&PathBuf> = files
        .iter()
        .filter(|f| !done.contains(&f.to_string_lossy().to_string()))
        .collect();
    let bar = ProgressBar::new(todo.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files, {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut record = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state)
        .with_context(|| format!("opening the import state {}", state.display()))?;
    let now = i64::from(
        u32::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
        .unwrap_or(u32::MAX),
    );
    let version = now as u32;
    let mut points_total = 0u64;
    let mut batch = Writer::default();
    let mut index = Writer::default();
    let mut pending_files: Vec<String> = Vec::new();
    let mut flush =
        |batch: &mut Writer, index: &mut Writer, pending: &mut Vec<String>| -> anyhow::Result<()> {
            if !index.buf.is_empty() {
                client.insert(&settings.index_table, queue::INDEX_COLUMNS, &index.buf)?;
            }
            if !batch.buf.is_empty() {
                client.insert(&settings.points_table, queue::POINT_COLUMNS, &batch.buf)?;
            }
            for f in pending.drain(..) {
                writeln!(record, "{f}")?;
            }
            record.flush()?;
            batch.buf.clear();
            index.buf.clear();
            Ok(())
        };
    for rel in todo {
        let name = rel
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().to_string())
            .collect::<Vec<_>>()
            .join(".");
        let file = storage::whisper::WhisperFile::open(&root.join(rel))
            .with_context(|| format!("reading {}", rel.display()))?;
        let header = file.header().clone();
        let mut covered_from = now;
        let mut days = std::collections::BTreeSet::new();
        for archive in &header.archives {
            let from = now - archive.retention() as i64;
            if let Ok(Some(f)) =
                file.fetch(from, covered_from, now, Some(archive.seconds_per_point))
            {
                for (i, v) in f.values.iter().enumerate() {
                    let t = f.start + i as i64 * f.step;
                    if let (Some(v), Ok(t)) = (v, u32::try_from(t)) {
                        if i64::from(t) > covered_from {
                            continue;
                        }
                        batch.string(&name);
                        batch.f64(*v);
                        batch.u32(t);
                        batch.u16(names::day_of(t));
                        batch.u32(version);
                        days.insert(names::day_of(t));
                        points_total += 1;
                    }
                }
            }
            covered_from = from;
        }
        let path: std::sync::Arc<str> = std::sync::Arc::from(name.as_str());
        let entries: Vec<queue::IndexEntry> = days
            .iter()
            .map(|&day| queue::IndexEntry {
                path: path.clone(),
                day,
            })
            .collect();
        queue::encode_index(entries.iter(), version, &mut index);
        pending_files.push(rel.to_string_lossy().to_string());
        bar.inc(1);
        bar.set_message(format!("{points_total} points"));
        if batch.buf.len() > 32 << 20 {
            flush(&mut batch, &mut index, &mut pending_files)?;
        }
    }
    flush(&mut batch, &mut index, &mut pending_files)?;
    bar.finish();
    println!(
        "imported {points_total} points from {} files",
        files.len() - done.len()
    );
    Ok(())
}
