//! `ferrograph export`: a render target's points over a long window as
//! CSV, JSON lines or Parquet, from a Whisper directory opened read-only
//! (the logic is `render_api::export`; this file is arguments and output).

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use render_api::export::{export, ExportRequest, Progress};
use render_api::http::Params;
use render_api::{Evaluator, Limits};

/// Arguments of `ferrograph export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Whisper directory to read (opened read-only).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// A render target (globs and functions allowed); repeat for more.
    #[arg(long = "target", required = true)]
    pub targets: Vec<String>,
    /// Start of the window, as /render's `from` (`-1y`, an epoch, `20240101`).
    #[arg(long, allow_hyphen_values = true)]
    pub from: String,
    /// End of the window, as /render's `until`.
    #[arg(long, allow_hyphen_values = true)]
    pub until: String,
    /// Re-bucket to this step: graphite's summarize(T, STEP, FUNC, true).
    #[arg(long)]
    pub step: Option<String>,
    /// How a step's values are merged.
    #[arg(long, value_parser = ["avg", "sum", "min", "max", "last"], default_value = "avg", requires = "step")]
    pub func: String,
    /// Output format.
    #[arg(long, value_parser = ["csv", "jsonl", "parquet"])]
    pub format: String,
    /// Output file (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Time zone of relative times and CSV timestamps (default UTC).
    #[arg(long)]
    pub tz: Option<String>,
}

/// Limits of an export run by hand: none that a long window or a wide
/// glob reaches (memory stays bounded by streaming, not by limits).
pub(crate) fn unlimited() -> Limits {
    Limits {
        max_series: usize::MAX,
        max_points: usize::MAX,
        timeout: Duration::from_secs(10 * 365 * 86_400),
    }
}

/// Wall-clock seconds since the epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Runs the export to completion.
pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let mut pairs: Vec<(&str, &str)> = args
        .targets
        .iter()
        .map(|t| ("target", t.as_str()))
        .collect();
    pairs.extend([("from", args.from.as_str()), ("until", args.until.as_str())]);
    pairs.push(("format", args.format.as_str()));
    if let Some(step) = &args.step {
        pairs.extend([("step", step.as_str()), ("func", args.func.as_str())]);
    }
    if let Some(tz) = &args.tz {
        pairs.push(("tz", tz.as_str()));
    }
    let request = ExportRequest::from_params(&Params::from_pairs(pairs), default_tz(), now())
        .map_err(|e| anyhow::anyhow!("{}", e.client_message()))?;
    let read = storage::open_read_only(&args.data_dir, storage::ReadLimits::default())
        .with_context(|| format!("opening {}", args.data_dir.display()))?;
    let out: Box<dyn Write + Send> = match &args.out {
        Some(path) => {
            Box::new(File::create(path).with_context(|| format!("creating {}", path.display()))?)
        }
        None => Box::new(std::io::stdout()),
    };
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} series, {elapsed} {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut ev = Evaluator::new(read.as_ref(), unlimited());
    let written = export(
        &mut ev,
        &request,
        BufWriter::with_capacity(1 << 20, out),
        &mut |p| match p {
            Progress::Found(n) => bar.inc_length(n as u64),
            Progress::Written(n) => bar.inc(n as u64),
        },
    )?;
    bar.finish_and_clear();
    written
        .into_inner()
        .map_err(|e| e.into_error())
        .context("writing the export")?
        .flush()
        .context("writing the export")?;
    Ok(())
}

/// The time zone a server without configuration uses (so CSV matches its
/// `/render?format=csv`); `--tz` overrides it.
pub(crate) fn default_tz() -> render_api::export::Tz {
    render_api::RenderSettings::default().time_zone
}
