//! `ferrograph forecast`: when each series of a target crosses a
//! threshold, from a Whisper directory opened read-only (the logic is
//! `render_api::forecast`; this file is arguments and output).

use std::path::PathBuf;

use anyhow::Context as _;
use render_api::forecast::{forecast, plot, to_json, ForecastRequest};
use render_api::http::Params;
use render_api::Evaluator;

use crate::export_cmd::{default_tz, now, unlimited};

/// Arguments of `ferrograph forecast`.
#[derive(Debug, clap::Args)]
pub struct ForecastArgs {
    /// Whisper directory to read (opened read-only).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// A render target (globs and functions allowed); repeat for more.
    #[arg(long = "target", required = true)]
    pub targets: Vec<String>,
    /// The level whose crossing is forecast.
    #[arg(long, allow_hyphen_values = true)]
    pub threshold: String,
    /// Start of the history, as /render's `from` (default -30d).
    #[arg(long, allow_hyphen_values = true)]
    pub from: Option<String>,
    /// End of the history, as /render's `until` (default now).
    #[arg(long, allow_hyphen_values = true)]
    pub until: Option<String>,
    /// The model fitted to each series.
    #[arg(long, value_parser = ["linear", "holt-winters"], default_value = "linear")]
    pub model: String,
    /// The season (1d, 7d, or any interval).
    #[arg(long, default_value = "1d")]
    pub season: String,
    /// How far past the history a crossing is looked for.
    #[arg(long, default_value = "365d")]
    pub horizon: String,
    /// Also draw history, forecast band and threshold to this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Time zone of relative times (default UTC).
    #[arg(long)]
    pub tz: Option<String>,
}

/// Prints the forecasts as JSON (and writes the plot).
pub fn run(args: ForecastArgs) -> anyhow::Result<()> {
    let mut pairs: Vec<(&str, &str)> = args
        .targets
        .iter()
        .map(|t| ("target", t.as_str()))
        .collect();
    pairs.extend([
        ("threshold", args.threshold.as_str()),
        ("model", args.model.as_str()),
        ("season", args.season.as_str()),
        ("horizon", args.horizon.as_str()),
    ]);
    for (key, value) in [
        ("from", &args.from),
        ("until", &args.until),
        ("tz", &args.tz),
    ] {
        if let Some(v) = value {
            pairs.push((key, v.as_str()));
        }
    }
    let request = ForecastRequest::from_params(&Params::from_pairs(pairs), default_tz(), now())
        .map_err(|e| anyhow::anyhow!("{}", e.client_message()))?;
    let read = storage::open_read_only(&args.data_dir, storage::ReadLimits::default())
        .with_context(|| format!("opening {}", args.data_dir.display()))?;
    let mut ev = Evaluator::new(read.as_ref(), unlimited());
    let forecasts =
        forecast(&mut ev, &request).map_err(|e| anyhow::anyhow!("{}", e.client_message()))?;
    if let Some(path) = &args.plot {
        std::fs::write(path, plot::svg(&forecasts))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{}", to_json(&forecasts));
    Ok(())
}
