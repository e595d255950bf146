//! `ferrograph whisper info|dump|fetch|create|update|resize|merge|fill|set-aggregation`:
//! the classic `whisper-*.py` tools, same positional arguments, options and
//! output, so existing scripts keep working. Errors go to stderr as
//! `[ERROR] ...` with exit status 1, as the tools do.
//!
//! `now` is the wall clock, as in the tools; `FERROGRAPH_WHISPER_NOW` (epoch
//! seconds) pins it for reproducible runs.
//!
//! Beyond the classic tools: `resize`, `set-aggregation`, `merge` and `fill`
//! take `--recursive` to work on every `.wsp` under a directory (merge and
//! fill pair files by their path relative to the two directories). Each
//! file prints the classic output; a failing file is reported on stderr with
//! its path and the others go on; the exit status is 1 if any failed.
//! Progress bars go to stderr, only when it is a terminal and `--quiet` is
//! not given, so stdout is always exactly the classic output: one over the
//! files of a recursive run, and one over the archives of a single long
//! resize or fill (shown once it has run for a second).

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use storage::pyfmt::{float_repr, format_g_precision};
use storage::whisper::retention::{parse_retention_def, RetentionSyntax};
use storage::whisper::tools::{self, Progress as _, ResizeError, ResizeOptions};
use storage::whisper::{self, AggregationMethod, Allocation, WhisperError, WhisperFile};

/// The whisper tools.
#[derive(Debug, Args)]
pub struct WhisperArgs {
    /// No progress bars (they only ever appear when stderr is a terminal).
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    tool: Tool,
}

#[derive(Clone, Debug, Subcommand)]
enum Tool {
    /// whisper-info.py: path [field] [--json]
    Info {
        path: PathBuf,
        field: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// whisper-dump.py: path [--pretty] [-t FORMAT] [-r]
    Dump {
        path: PathBuf,
        #[arg(long)]
        pretty: bool,
        #[arg(short = 't', long = "time-format")]
        time_format: Option<String>,
        #[arg(short = 'r', long)]
        raw: bool,
    },
    /// whisper-fetch.py: path [--from T] [--until T] [--json] [--pretty] [-t FORMAT] [--drop nulls|zeroes|empty]
    Fetch {
        path: PathBuf,
        #[arg(long = "from", allow_hyphen_values = true)]
        from: Option<i64>,
        #[arg(long, allow_hyphen_values = true)]
        until: Option<i64>,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        pretty: bool,
        #[arg(short = 't', long = "time-format")]
        time_format: Option<String>,
        #[arg(long, value_parser = ["nulls", "zeroes", "empty"])]
        drop: Option<String>,
    },
    /// whisper-create.py: path precision:retention... [--xFilesFactor X] [--aggregationMethod M] [--overwrite] [--estimate] [--sparse] [--fallocate]
    Create {
        /// The file (with --estimate: the first retention).
        path: String,
        retentions: Vec<String>,
        #[arg(long = "xFilesFactor", default_value_t = 0.5)]
        x_files_factor: f64,
        #[arg(long = "aggregationMethod", default_value = "average")]
        aggregation_method: String,
        #[arg(long)]
        overwrite: bool,
        #[arg(long)]
        estimate: bool,
        #[arg(long)]
        sparse: bool,
        #[arg(long)]
        fallocate: bool,
    },
    /// whisper-update.py: path [timestamp:value]... (stdin when none; N: = now)
    Update {
        path: PathBuf,
        #[arg(allow_hyphen_values = true)]
        points: Vec<String>,
    },
    /// whisper-resize.py: path precision:retention... [--xFilesFactor X] [--aggregationMethod M] [--force] [--newfile F] [--nobackup] [--aggregate]
    Resize {
        path: PathBuf,
        retentions: Vec<String>,
        #[arg(long = "xFilesFactor")]
        x_files_factor: Option<f64>,
        #[arg(long = "aggregationMethod")]
        aggregation_method: Option<String>,
        #[arg(long)]
        force: bool,
        #[arg(long)]
        newfile: Option<PathBuf>,
        #[arg(long)]
        nobackup: bool,
        #[arg(long)]
        aggregate: bool,
        /// PATH is a directory: resize every .wsp file under it.
        #[arg(long)]
        recursive: bool,
    },
    /// whisper-merge.py: from_path to_path [--from T] [--until T]
    Merge {
        from_path: PathBuf,
        to_path: PathBuf,
        #[arg(long = "from", allow_hyphen_values = true)]
        from: Option<i64>,
        #[arg(long, allow_hyphen_values = true)]
        until: Option<i64>,
        /// Both paths are directories: merge every .wsp under from_path
        /// into the file at the same relative path under to_path.
        #[arg(long)]
        recursive: bool,
    },
    /// whisper-fill.py: src dst [--lock]
    Fill {
        src: PathBuf,
        dst: PathBuf,
        #[arg(long)]
        lock: bool,
        /// Both paths are directories: fill every .wsp under dst from the
        /// file at the same relative path under src.
        #[arg(long)]
        recursive: bool,
    },
    /// whisper-set-aggregation-method.py: path method [xFilesFactor]
    SetAggregation {
        path: PathBuf,
        method: String,
        x_files_factor: Option<String>,
        /// PATH is a directory: change every .wsp file under it.
        #[arg(long)]
        recursive: bool,
    },
}

/// A tool failure: the message is printed as the tools print it.
struct Fail(String);

impl From<WhisperError> for Fail {
    fn from(e: WhisperError) -> Self {
        Fail(format!("[ERROR] {}", tool_message(&e)))
    }
}

/// whisper's own exception text (`str(exc)`).
fn tool_message(e: &WhisperError) -> String {
    match e {
        WhisperError::TimestampNotCovered { .. } => {
            "Timestamp not covered by any archives in this database.".into()
        }
        WhisperError::Io { path, source, .. } => {
            format!(
                "[Errno {}] {}: '{}'",
                source.raw_os_error().unwrap_or(0),
                io_text(source),
                path.display()
            )
        }
        other => other.to_string(),
    }
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => e.to_string(),
    }
}

/// Runs one tool; prints its output; exit status as the tool's.
pub fn run(args: WhisperArgs) -> anyhow::Result<()> {
    let bars = !args.quiet && std::io::stderr().is_terminal();
    if let Some(pairs) = recursive_job(&args.tool) {
        return run_tree(args.tool, pairs, bars);
    }
    let mut out = String::new();
    let progress = Progress::delayed(bars);
    let result = dispatch(args.tool, &mut out, &progress);
    progress.finish();
    print!("{out}");
    match result {
        Ok(()) => Ok(()),
        Err(Fail(msg)) => {
            eprintln!("{msg}");
            std::process::exit(1);
        }
    }
}

/// A progress bar on stderr, or nothing (not a terminal, `--quiet`).
struct Progress {
    bar: Option<ProgressBar>,
    /// Shown only once the operation has run this long.
    show_after: Option<(Instant, Duration)>,
}

impl Progress {
    fn hidden() -> Progress {
        Progress {
            bar: None,
            show_after: None,
        }
    }

    /// A bar over `total` files, drawn at once.
    fn files(enabled: bool, total: u64) -> Progress {
        if !enabled {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} files, {eta} left  {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress {
            bar: Some(bar),
            show_after: None,
        }
    }

    /// A bar over the steps of one operation, drawn only if it takes more
    /// than a second (a quick run prints nothing extra).
    fn delayed(enabled: bool) -> Progress {
        if !enabled {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress {
            bar: Some(bar),
            show_after: Some((Instant::now(), Duration::from_secs(1))),
        }
    }

    fn reveal_if_due(&self) {
        if let (Some(bar), Some((start, after))) = (&self.bar, self.show_after) {
            if bar.is_hidden() && start.elapsed() >= after {
                bar.set_draw_target(ProgressDrawTarget::stderr());
            }
        }
    }

    fn inc(&self) {
        self.inc_by(1);
    }

    /// Runs `f` (which prints) with the bar out of the way.
    fn suspend(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl tools::Progress for Progress {
    fn set_length(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(n);
        }
    }

    /// Starts the next step, named `what`.
    fn step(&self, what: &str) {
        if let Some(bar) = &self.bar {
            self.reveal_if_due();
            bar.set_message(what.to_string());
        }
    }

    fn position(&self) -> u64 {
        self.bar.as_ref().map_or(0, ProgressBar::position)
    }

    fn set_position(&self, n: u64) {
        if let Some(bar) = &self.bar {
            self.reveal_if_due();
            bar.set_position(n);
        }
    }

    fn inc_by(&self, n: u64) {
        if let Some(bar) = &self.bar {
            self.reveal_if_due();
            bar.inc(n);
        }
    }
}

/// For a tool given `--recursive`: the `(path, second path)` pairs it works
/// on (the second only for merge and fill), or the error that stops it.
type Job = Result<Vec<(PathBuf, Option<PathBuf>)>, Fail>;

fn recursive_job(tool: &Tool) -> Option<Job> {
    match tool {
        Tool::Resize {
            path,
            recursive: true,
            newfile,
            ..
        } => Some(if newfile.is_some() {
            Err(Fail(
                "[ERROR] --newfile cannot be combined with --recursive".into(),
            ))
        } else {
            whisper_files(path).map(|files| files.into_iter().map(|f| (f, None)).collect())
        }),
        Tool::SetAggregation {
            path,
            recursive: true,
            ..
        } => Some(whisper_files(path).map(|files| files.into_iter().map(|f| (f, None)).collect())),
        // merge writes into to_path: the files under from_path lead
        Tool::Merge {
            from_path,
            to_path,
            recursive: true,
            ..
        } => Some(paired(from_path, to_path, from_path)),
        // fill writes into dst: the files under dst lead
        Tool::Fill {
            src,
            dst,
            recursive: true,
            ..
        } => Some(paired(src, dst, dst)),
        _ => None,
    }
}

/// `(a/rel, b/rel)` for every `.wsp` at `rel` under `lead` (one of a, b).
fn paired(a: &Path, b: &Path, lead: &Path) -> Job {
    if !b.is_dir() {
        return Err(Fail(format!(
            "[ERROR] '{}' is not a directory",
            b.display()
        )));
    }
    let files = whisper_files(lead)?;
    Ok(files
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(lead).unwrap_or(&f).to_path_buf();
            (a.join(&rel), Some(b.join(rel)))
        })
        .collect())
}

/// Every `*.wsp` under `dir` (not hidden files: those are temporary files of
/// creates in progress), sorted; symlinked directories are not followed.
fn whisper_files(dir: &Path) -> Result<Vec<PathBuf>, Fail> {
    if !dir.is_dir() {
        return Err(Fail(format!(
            "[ERROR] '{}' is not a directory",
            dir.display()
        )));
    }
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| Fail(format!("[ERROR] cannot read '{}': {e}", d.display())))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| Fail(format!("[ERROR] cannot read '{}': {e}", d.display())))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir {
                pending.push(path);
            } else if name.ends_with(".wsp") && path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Runs the tool on every file of a recursive job: classic output per file
/// on stdout, failures on stderr with the path; exit status 1 if any failed.
fn run_tree(tool: Tool, job: Job, bars: bool) -> anyhow::Result<()> {
    let pairs = match job {
        Ok(p) => p,
        Err(Fail(msg)) => {
            eprintln!("{msg}");
            std::process::exit(1);
        }
    };
    let progress = Progress::files(bars, pairs.len() as u64);
    let mut failed = 0usize;
    for (path, second) in &pairs {
        progress.step(&path.display().to_string());
        let one = single(&tool, path, second.as_deref());
        let mut out = String::new();
        let result = dispatch(one, &mut out, &Progress::hidden());
        progress.suspend(|| {
            print!("{out}");
            if let Err(Fail(msg)) = &result {
                failed += 1;
                let msg = msg.trim_end();
                if msg.is_empty() {
                    eprintln!("{}: failed", path.display());
                } else {
                    eprintln!("{}: {msg}", path.display());
                }
            }
        });
        progress.inc();
    }
    progress.finish();
    if failed > 0 {
        eprintln!("[ERROR] {failed} of {} files failed", pairs.len());
        std::process::exit(1);
    }
    Ok(())
}

/// The single-file form of a recursive tool for one file (pair).
fn single(tool: &Tool, path: &Path, second: Option<&Path>) -> Tool {
    let mut one = tool.clone();
    match &mut one {
        Tool::Resize {
            path: p, recursive, ..
        }
        | Tool::SetAggregation {
            path: p, recursive, ..
        } => {
            *p = path.to_path_buf();
            *recursive = false;
        }
        Tool::Merge {
            from_path,
            to_path,
            recursive,
            ..
        } => {
            *from_path = path.to_path_buf();
            *to_path = second.unwrap_or(path).to_path_buf();
            *recursive = false;
        }
        Tool::Fill {
            src,
            dst,
            recursive,
            ..
        } => {
            *src = path.to_path_buf();
            *dst = second.unwrap_or(path).to_path_buf();
            *recursive = false;
        }
        _ => {}
    }
    one
}

fn now() -> i64 {
    if let Some(n) = std::env::var("FERROGRAPH_WHISPER_NOW")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn method(name: &str) -> Result<AggregationMethod, Fail> {
    AggregationMethod::from_name(name)
        .ok_or_else(|| Fail(format!("[ERROR] Unrecognized aggregation method: {name}")))
}

fn retentions(defs: &[String]) -> Result<Vec<(u32, u32)>, Fail> {
    defs.iter()
        .map(|d| parse_retention_def(d, RetentionSyntax::Whisper).map_err(Fail::from))
        .collect()
}

fn dispatch(tool: Tool, out: &mut String, progress: &Progress) -> Result<(), Fail> {
    match tool {
        Tool::Info { path, field, json } => info(&path, field.as_deref(), json, out),
        Tool::Dump {
            path,
            pretty,
            time_format,
            raw,
        } => dump(&path, pretty, time_format.as_deref(), raw, out),
        Tool::Fetch {
            path,
            from,
            until,
            json,
            pretty,
            time_format,
            drop,
        } => {
            let n = now();
            fetch(
                &path,
                from.unwrap_or(n - 86_400),
                until.unwrap_or(n),
                n,
                json,
                pretty,
                time_format.as_deref(),
                drop.as_deref(),
                out,
            )
        }
        Tool::Create {
            path,
            retentions: defs,
            x_files_factor,
            aggregation_method,
            overwrite,
            estimate,
            sparse,
            fallocate,
        } => {
            if estimate {
                let mut all = vec![path];
                all.extend(defs);
                return estimate_size(&all, out);
            }
            if defs.is_empty() {
                return Err(Fail("usage: ferrograph whisper create path timePerPoint:timeToStore [timePerPoint:timeToStore]*".into()));
            }
            let archives = retentions(&defs)?;
            let path = PathBuf::from(path);
            if path.exists() && overwrite {
                let _ = writeln!(out, "Overwriting existing file: {}", path.display());
                std::fs::remove_file(&path).map_err(|e| Fail(format!("[ERROR] {e}")))?;
            }
            let allocation = if fallocate {
                Allocation::Fallocate
            } else if sparse {
                Allocation::Sparse
            } else {
                Allocation::Zeroed
            };
            whisper::create(
                &path,
                &archives,
                x_files_factor,
                method(&aggregation_method)?,
                allocation,
            )?;
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let _ = writeln!(out, "Created: {} ({size} bytes)", path.display());
            Ok(())
        }
        Tool::Update { path, points } => update(&path, points),
        Tool::Resize {
            path,
            retentions: defs,
            x_files_factor,
            aggregation_method,
            force: _,
            newfile,
            nobackup,
            aggregate,
            recursive: _,
        } => resize(
            &path,
            &defs,
            x_files_factor,
            aggregation_method.as_deref(),
            newfile,
            nobackup,
            aggregate,
            out,
            progress,
        ),
        Tool::Merge {
            from_path,
            to_path,
            from,
            until,
            recursive: _,
        } => merge(&from_path, &to_path, from, until),
        Tool::Fill {
            src,
            dst,
            lock: _,
            recursive: _,
        } => Ok(tools::fill(&src, &dst, now(), progress)?),
        Tool::SetAggregation {
            path,
            method: m,
            x_files_factor,
            recursive: _,
        } => {
            let m = method(&m)?;
            let xff =
                match x_files_factor {
                    None => None,
                    Some(t) => Some(t.trim().parse::<f64>().map_err(|_| {
                        Fail(format!("[ERROR] Invalid xFilesFactor {t}, not a float"))
                    })?),
                };
            let mut file = match WhisperFile::open_rw(&path) {
                Ok(f) => f,
                Err(WhisperError::Io { .. }) => {
                    return Err(Fail(format!(
                        "[ERROR] File '{}' does not exist!\n",
                        path.display()
                    )));
                }
                Err(e) => return Err(e.into()),
            };
            let (old, _) = file.set_aggregation(Some(m), xff)?;
            file.flush()?;
            let _ = writeln!(
                out,
                "Updated aggregation method: {} ({} -> {})",
                path.display(),
                old.name(),
                m.name()
            );
            Ok(())
        }
    }
}

fn py_list(values: &[Option<f64>]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| v.map(float_repr).unwrap_or_else(|| "None".into()))
        .collect();
    format!("[{}]", items.join(", "))
}

fn local_time(t: i64, format: Option<&str>) -> String {
    storage::sys::local_time(t, format)
}

fn info(path: &Path, field: Option<&str>, json: bool, out: &mut String) -> Result<(), Fail> {
    let h = whisper::info(path).map_err(|e| match e {
        WhisperError::Io { .. } => Fail(format!("[ERROR] {}", tool_message(&e))),
        other => other.into(),
    })?;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let xff = float_repr(f64::from(h.x_files_factor));
    let archive_fields = |a: &whisper::ArchiveInfo| {
        vec![
            ("offset", a.offset.to_string()),
            ("secondsPerPoint", a.seconds_per_point.to_string()),
            ("points", a.points.to_string()),
            ("retention", a.retention().to_string()),
            ("size", a.size().to_string()),
        ]
    };
    if let Some(field) = field {
        let value = match field {
            "aggregationMethod" => h.aggregation.name().to_string(),
            "maxRetention" => h.max_retention.to_string(),
            "xFilesFactor" => xff,
            "fileSize" => size.to_string(),
            "archives" => {
                let items: Vec<String> = h
                    .archives
                    .iter()
                    .map(|a| {
                        let kv: Vec<String> = archive_fields(a)
                            .into_iter()
                            .map(|(k, v)| format!("'{k}': {v}"))
                            .collect();
                        format!("{{{}}}", kv.join(", "))
                    })
                    .collect();
                format!("[{}]", items.join(", "))
            }
            _ => {
                let _ = writeln!(out, "Unknown field \"{field}\". Valid fields are aggregationMethod,maxRetention,xFilesFactor,archives,fileSize");
                return Err(Fail(String::new()));
            }
        };
        let _ = writeln!(out, "{value}");
        return Ok(());
    }
    if json {
        let mut s = String::from("{\n");
        let _ = writeln!(s, "  \"aggregationMethod\": \"{}\",", h.aggregation.name());
        let _ = writeln!(s, "  \"maxRetention\": {},", h.max_retention);
        let _ = writeln!(s, "  \"xFilesFactor\": {xff},");
        s.push_str("  \"archives\": [\n");
        for (i, a) in h.archives.iter().enumerate() {
            s.push_str("    {\n");
            let fields = archive_fields(a);
            for (j, (k, v)) in fields.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "      \"{k}\": {v}{}",
                    if j + 1 < fields.len() { "," } else { "" }
                );
            }
            let _ = writeln!(
                s,
                "    }}{}",
                if i + 1 < h.archives.len() { "," } else { "" }
            );
        }
        s.push_str("  ],\n");
        let _ = writeln!(s, "  \"fileSize\": {size}");
        s.push('}');
        let _ = writeln!(out, "{s}");
        return Ok(());
    }
    let _ = writeln!(out, "aggregationMethod: {}", h.aggregation.name());
    let _ = writeln!(out, "maxRetention: {}", h.max_retention);
    let _ = writeln!(out, "xFilesFactor: {xff}");
    let _ = writeln!(out, "fileSize: {size}");
    out.push('\n');
    for (i, a) in h.archives.iter().enumerate() {
        let _ = writeln!(out, "Archive {i}");
        for (k, v) in archive_fields(a) {
            let _ = writeln!(out, "{k}: {v}");
        }
        out.push('\n');
    }
    Ok(())
}

fn dump(
    path: &Path,
    pretty: bool,
    time_format: Option<&str>,
    raw: bool,
    out: &mut String,
) -> Result<(), Fail> {
    if !path.exists() {
        return Err(Fail(format!(
            "[ERROR] File \"{}\" does not exist!",
            path.display()
        )));
    }
    let file = WhisperFile::open(path)?;
    let h = file.header();
    if !raw {
        out.push_str("Meta data:\n");
        let _ = writeln!(out, "  aggregation method: {}", h.aggregation.name());
        let _ = writeln!(out, "  max retention: {}", h.max_retention);
        let _ = writeln!(
            out,
            "  xFilesFactor: {}",
            format_g_precision(f64::from(h.x_files_factor), 6)
        );
        out.push('\n');
        for (i, a) in h.archives.iter().enumerate() {
            let _ = writeln!(out, "Archive {i} info:");
            let _ = writeln!(out, "  offset: {}", a.offset);
            let _ = writeln!(out, "  seconds per point: {}", a.seconds_per_point);
            let _ = writeln!(out, "  points: {}", a.points);
            let _ = writeln!(out, "  retention: {}", a.retention());
            let _ = writeln!(out, "  size: {}", a.size());
            out.push('\n');
        }
    }
    let bytes = file.bytes();
    for (i, a) in h.archives.iter().enumerate() {
        if !raw {
            let _ = writeln!(out, "Archive {i} data:");
        }
        for p in 0..a.points as usize {
            let (ts, v) = whisper::format::read_point(
                bytes,
                a.offset as usize + p * whisper::format::POINT_SIZE,
            );
            if raw {
                let _ = writeln!(out, "{ts}:{}", format_g_precision(v, 35));
            } else {
                let timestr = if pretty {
                    local_time(i64::from(ts), time_format)
                } else {
                    ts.to_string()
                };
                let _ = writeln!(out, "{p}: {timestr}, {:>10}", format_g_precision(v, 35));
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn fetch(
    path: &Path,
    from: i64,
    until: i64,
    now: i64,
    json: bool,
    pretty: bool,
    time_format: Option<&str>,
    drop: Option<&str>,
    out: &mut String,
) -> Result<(), Fail> {
    let file =
        WhisperFile::open(path).map_err(|e| Fail(format!("[ERROR] {}", tool_message(&e))))?;
    let Some(f) = file.fetch(from, until, now, None)? else {
        return Err(Fail("No data in selected timerange".into()));
    };
    let mut values = f.values.clone();
    match drop {
        Some("nulls") => values.retain(Option::is_some),
        Some("zeroes") => values.retain(|v| *v != Some(0.0)),
        Some("empty") => values.retain(|v| v.is_some() && *v != Some(0.0)),
        _ => {}
    }
    if json {
        let list = py_list(&values).replace("None", "null");
        let _ = writeln!(
            out,
            "{{\n    \"start\" : {},\n    \"end\" : {},\n    \"step\" : {},\n    \"values\" : {list}\n  }}",
            f.start, f.end, f.step
        );
        return Ok(());
    }
    let mut t = f.start;
    for v in values {
        let timestr = if pretty {
            local_time(t, time_format)
        } else {
            t.to_string()
        };
        let valuestr = match v {
            None => "None".to_string(),
            Some(x) if x.is_nan() => "nan".into(),
            Some(x) if x.is_infinite() => {
                if x > 0.0 {
                    "inf".into()
                } else {
                    "-inf".into()
                }
            }
            Some(x) => format!("{x:.6}"),
        };
        let _ = writeln!(out, "{timestr}\t{valuestr}");
        t += f.step;
    }
    Ok(())
}

fn byte_format(mut num: f64) -> String {
    for unit in ["bytes", "KB", "MB"] {
        if num < 1024.0 {
            return format!("{num:.3}{unit}");
        }
        num /= 1024.0;
    }
    format!("{num:.3}GB")
}

fn estimate_size(defs: &[String], out: &mut String) -> Result<(), Fail> {
    let defs: Vec<String> = if defs.len() == 1 && defs[0].find(',').is_some_and(|i| i > 0) {
        defs[0].split(',').map(str::to_string).collect()
    } else {
        defs.to_vec()
    };
    let mut total_points = 0u64;
    for (i, d) in defs.iter().enumerate() {
        let (precision, points) = parse_retention_def(d, RetentionSyntax::Whisper)?;
        let _ = writeln!(
            out,
            "Archive {i}: {points} points of {precision}s precision"
        );
        total_points += u64::from(points);
    }
    let size = 16 + defs.len() as u64 * 12 + total_points * 12;
    let disk = size.div_ceil(4096) * 4096;
    let _ = writeln!(
        out,
        "\nEstimated Whisper DB Size: {} ({disk} bytes on disk with 4k blocks)\n",
        byte_format(size as f64)
    );
    for x in [1u64, 5, 10, 50, 100, 500] {
        let _ = writeln!(
            out,
            "Estimated storage requirement for {x}k metrics: {}",
            byte_format((x * 1000 * disk) as f64)
        );
    }
    Ok(())
}

fn update(path: &Path, points: Vec<String>) -> Result<(), Fail> {
    let n = now();
    let lines: Vec<String> = if points.is_empty() {
        std::io::stdin().lines().map_while(Result::ok).collect()
    } else {
        points
    };
    let mut parsed = Vec::with_capacity(lines.len());
    for l in &lines {
        let l = l.replace("N:", &format!("{n}:"));
        let mut parts = l.trim_end_matches('\n').split(':');
        let (Some(t), Some(v), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Fail(format!(
                "[ERROR] invalid point {l:?}: expected timestamp:value"
            )));
        };
        let t: i64 = t
            .trim()
            .parse()
            .map_err(|_| Fail(format!("[ERROR] invalid timestamp {t:?}")))?;
        let v = storage::carbon::plaintext::py_float(v)
            .ok_or_else(|| Fail(format!("[ERROR] could not convert string to float: {v:?}")))?;
        parsed.push((t, v));
    }
    let mut file =
        WhisperFile::open_rw(path).map_err(|e| Fail(format!("[ERROR] {}", tool_message(&e))))?;
    if parsed.len() == 1 {
        file.update(parsed[0].1, parsed[0].0, n)?;
    } else {
        file.update_many(&parsed, n)?;
    }
    file.flush()?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn resize(
    path: &Path,
    defs: &[String],
    xff: Option<f64>,
    aggregation: Option<&str>,
    newfile: Option<PathBuf>,
    nobackup: bool,
    aggregate: bool,
    out: &mut String,
    progress: &Progress,
) -> Result<(), Fail> {
    if defs.is_empty() {
        return Err(Fail("usage: ferrograph whisper resize path timePerPoint:timeToStore [timePerPoint:timeToStore]*".into()));
    }
    if !path.exists() {
        return Err(Fail(format!(
            "[ERROR] File '{}' does not exist!\n",
            path.display()
        )));
    }
    let options = ResizeOptions {
        retentions: defs,
        x_files_factor: xff,
        aggregation_method: aggregation,
        newfile,
        nobackup,
        aggregate,
    };
    tools::resize(path, &options, now(), out, progress).map_err(|e| match e {
        ResizeError::Whisper(e) => e.into(),
        ResizeError::Backup(e) => Fail(format!("[ERROR] {e}")),
        // the transcript already says what failed
        ResizeError::Replace => Fail(String::new()),
    })
}

fn merge(
    from_path: &Path,
    to_path: &Path,
    from: Option<i64>,
    until: Option<i64>,
) -> Result<(), Fail> {
    for p in [from_path, to_path] {
        if !p.exists() {
            return Err(Fail(format!(
                "[ERROR] File \"{}\" does not exist!",
                p.display()
            )));
        }
    }
    Ok(tools::merge(from_path, to_path, from, until, now())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bars of one file count slots, so they end exactly full whether
    /// the archives are read, written, aggregated or scanned for gaps.
    #[test]
    fn single_file_bars_count_every_slot() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.wsp"), dir.path().join("b.wsp"));
        // 200,000 one-second slots: several tools::PROGRESS_EVERY steps in one archive
        for p in [&a, &b] {
            whisper::create(
                p,
                &[(1, 200_000), (60, 10_000)],
                0.5,
                AggregationMethod::Average,
                Allocation::Sparse,
            )
            .unwrap();
        }
        let t = now();
        let mut f = WhisperFile::open_rw(&a).unwrap();
        let pts: Vec<(i64, f64)> = (0..1000).map(|i| (t - 5000 + i * 3, i as f64)).collect();
        f.update_many(&pts, t).unwrap();
        drop(f);
        let full = |p: &Progress| {
            let bar = p.bar.as_ref().unwrap();
            (bar.position(), bar.length().unwrap())
        };
        let progress = Progress::delayed(true);
        if let Err(e) = tools::fill(&a, &b, t, &progress) {
            panic!("fill: {e}");
        }
        assert_eq!(full(&progress), (210_000, 210_000));
        for aggregate in [false, true] {
            let progress = Progress::delayed(true);
            let mut out = String::new();
            let resized = resize(
                &b,
                &["1s:100000s".to_string(), "1m:20d".to_string()],
                None,
                None,
                None,
                true,
                aggregate,
                &mut out,
                &progress,
            );
            if let Err(Fail(e)) = resized {
                panic!("resize: {e}");
            }
            let (pos, len) = full(&progress);
            assert_eq!(pos, len, "aggregate={aggregate}");
            // the second round reads the file the first one resized
            let expected = if aggregate {
                2 * (100_000 + 28_800)
            } else {
                2 * 210_000
            };
            assert_eq!(len, expected);
        }
    }
}
