//! `ferrograph import-graphite-db PATH`: copies graphite-web's events and
//! dashboards into ferrograph's state database, so people can migrate.

use std::path::PathBuf;

use anyhow::Context as _;

/// Arguments of `ferrograph import-graphite-db`.
#[derive(Debug, clap::Args)]
pub struct ImportDbArgs {
    /// graphite-web's SQLite database (its `STORAGE_DIR/graphite.db`).
    pub path: PathBuf,
    /// The data directory whose `ferrograph.sqlite` receives them.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Another state database instead (as `ferrograph web --state-db`).
    #[arg(long)]
    pub state_db: Option<PathBuf>,
}

/// Imports, then prints what was copied.
pub fn run(args: ImportDbArgs) -> anyhow::Result<()> {
    let target = args
        .state_db
        .unwrap_or_else(|| args.data_dir.join(render_api::state::DB_FILE));
    let store = render_api::state::StateStore::open(&target)
        .with_context(|| format!("opening the state database {}", target.display()))?;
    let (events, dashboards) = store
        .import_graphite_db(&args.path)
        .with_context(|| format!("importing {}", args.path.display()))?;
    println!(
        "imported {events} events and {dashboards} dashboards from {} into {}",
        args.path.display(),
        target.display()
    );
    Ok(())
}
