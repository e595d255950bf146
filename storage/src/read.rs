//! Read-only [`Read`] over an existing Whisper tree (what `ferrograph web
//! --data-dir DIR` serves): find walks the directories on every call, so
//! files written meanwhile by another process (carbon-cache, ferrograph
//! carbon) are visible at once; fetch reads the slots it needs with positioned reads
//! ([`WhisperReader`]) and runs whisper's fetch.
//!
//! Tagged series are found under `_tagged/` in both the hash and the `_DOT_`
//! file-name forms. The tag index starts with every `_DOT_`-form file (their
//! names can be decoded) and grows through `tag_series`, which is how carbon
//! announces series to graphite-web (`/tags/tagMultiSeries`); hash-form file
//! names cannot be turned back into names.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::api::{FetchOptions, FetchRange, FetchedSeries, FindNode, Read, ReadError, TagExpr};
use crate::finder::find_on_disk;
use crate::glob::Glob;
use crate::tagged::{self, candidate_files, canonicalize, is_tagged, TAGGED_DIR};
use crate::tags::TagIndex;
use crate::whisper::{ops::Fetched, AggregationMethod, FetchResult, WhisperError, WhisperReader};

/// Limits of a read handle.
#[derive(Clone, Copy, Debug)]
pub struct ReadLimits {
    /// Most nodes one `find` may return.
    pub max_find_results: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_find_results: 100_000,
        }
    }
}

/// A read-only view of a Whisper directory tree.
pub struct WhisperTree {
    root: PathBuf,
    limits: ReadLimits,
    tags: Arc<TagIndex>,
}

/// Converts a whisper error into the read boundary's error.
pub(crate) fn read_error(e: WhisperError) -> ReadError {
    match e {
        WhisperError::InvalidTimeInterval { .. } | WhisperError::InvalidGranularity { .. } => {
            ReadError::BadRequest(e.to_string())
        }
        other => ReadError::Whisper(other),
    }
}

/// [`read_error`] for the file of `series`: a file that cannot be read is
/// [`ReadError::Unreadable`], naming the series.
pub(crate) fn series_error(series: &str) -> impl Fn(WhisperError) -> ReadError + '_ {
    move |e| match read_error(e) {
        ReadError::Whisper(source) => ReadError::Unreadable {
            series: series.to_string(),
            source,
        },
        other => other,
    }
}

/// Series skipped as unreadable (see [`FetchOptions::skip_unreadable`]).
pub(crate) static UNREADABLE_SKIPPED: AtomicU64 = AtomicU64::new(0);

/// Files already logged as unreadable: each is named once, not once per
/// request. Bounded; past the bound, files are counted but not named.
static LOGGED_UNREADABLE: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
const MAX_LOGGED_UNREADABLE: usize = 10_000;

/// Counts a series skipped because its file cannot be read, and names the
/// file in the log the first time.
fn note_unreadable(series: &str, source: &WhisperError) {
    UNREADABLE_SKIPPED.fetch_add(1, Ordering::Relaxed);
    let file = match source {
        WhisperError::Io { path, .. } | WhisperError::Corrupt { path, .. } => path.clone(),
        _ => PathBuf::from(series),
    };
    let mut logged = LOGGED_UNREADABLE.lock().unwrap_or_else(|e| e.into_inner());
    let logged = logged.get_or_insert_with(HashSet::new);
    if logged.len() < MAX_LOGGED_UNREADABLE && logged.insert(file) {
        tracing::warn!(series, error = %source, "skipping an unreadable file in a glob's answer");
    }
}

/// Opens the first existing candidate file of `name` under `root`.
pub(crate) fn open_series(root: &Path, name: &str) -> Result<Option<WhisperReader>, WhisperError> {
    for file in candidate_files(root, name) {
        match WhisperReader::open(&file) {
            Ok(f) => return Ok(Some(f)),
            Err(WhisperError::Io { ref source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                continue
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Turns whisper's fetch answer into the boundary type.
pub(crate) fn to_series(path: &str, f: Fetched, method: AggregationMethod) -> FetchedSeries {
    FetchedSeries {
        path: path.to_string(),
        start: f.start,
        end: f.start + f.values.len() as i64 * f.step,
        step: f.step,
        values: f.values,
        aggregation: Some(method),
    }
}

/// One fetch from an open file as the request asks, decoding into `values`.
pub(crate) fn fetch_file(
    file: &WhisperReader,
    request: FetchRequest,
    values: Vec<Option<f64>>,
) -> FetchResult {
    let FetchRequest { range, options } = request;
    if options.stitch_archives {
        file.fetch_stitched_into(range.from, range.until, range.now, values)
    } else {
        file.fetch_into(range.from, range.until, range.now, None, values)
    }
}

/// Validates a series name before it is mapped to a file path.
pub(crate) fn check_name(name: &str) -> Result<(), ReadError> {
    if name.is_empty() || name.contains('\0') || (!is_tagged(name) && name.contains('/')) {
        return Err(ReadError::BadRequest(format!(
            "invalid series name {name:?}"
        )));
    }
    Ok(())
}

impl WhisperTree {
    /// Opens `root` read-only and indexes the decodable tagged files.
    pub fn open(root: impl Into<PathBuf>, limits: ReadLimits) -> std::io::Result<WhisperTree> {
        let root = root.into();
        if !root.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("data directory {} does not exist", root.display()),
            ));
        }
        let tags = Arc::new(TagIndex::new());
        index_dot_files(&root, &tags);
        Ok(WhisperTree { root, limits, tags })
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Adds every `_tagged/xxx/yyy/<name with _DOT_>.wsp` to the tag index.
pub(crate) fn index_dot_files(root: &Path, tags: &TagIndex) {
    let Ok(level1) = std::fs::read_dir(root.join(TAGGED_DIR)) else {
        return;
    };
    for l1 in level1.flatten() {
        let Ok(level2) = std::fs::read_dir(l1.path()) else {
            continue;
        };
        for l2 in level2.flatten() {
            let Ok(files) = std::fs::read_dir(l2.path()) else {
                continue;
            };
            for f in files.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                if let Some(stem) = name.strip_suffix(".wsp") {
                    if let Some(series) = tagged::decode_dot_file_name(stem) {
                        let _ = tags.add(&series);
                    }
                }
            }
        }
    }
}

impl Backend for WhisperTree {
    fn has_tagged(&self, name: &str) -> bool {
        candidate_files(&self.root, name)
            .iter()
            .any(|f| f.is_file())
    }

    fn find_glob(&self, glob: &Glob) -> Result<Vec<FindNode>, ReadError> {
        find_on_disk(&self.root, glob, self.limits.max_find_results)
    }

    fn fetch_one(&self, path: &str, request: FetchRequest, previous: Reused) -> Answer {
        check_name(path)?;
        let name = canonicalize(path);
        let Some(file) = open_series(&self.root, &name).map_err(series_error(path))? else {
            return Ok(None);
        };
        let fetched =
            fetch_file(&file, request, recycled_values(previous)).map_err(series_error(path))?;
        Ok(fetched.map(|f| to_series(&name, f, file.header().aggregation)))
    }

    fn tag_index(&self) -> &TagIndex {
        &self.tags
    }
}

/// A fetch as a [`Backend`] is asked for it: the window and how to read it.
#[derive(Clone, Copy)]
pub(crate) struct FetchRequest {
    pub(crate) range: FetchRange,
    pub(crate) options: FetchOptions,
}

/// What a [`Backend`] answers for one series.
pub(crate) type Answer = Result<Option<FetchedSeries>, ReadError>;

/// An earlier answer whose value buffer a fetch may reuse.
pub(crate) type Reused = Option<FetchedSeries>;

/// What a readable backend provides. [`Read`] is implemented once, for
/// every backend, on top of it: the read-only tree and the store differ only
/// in how they look names up and fetch one series, and share the tag index
/// handling and the parallel fetch of many series.
pub(crate) trait Backend: Send + Sync {
    /// Whether the tagged series `name` (canonical) is stored.
    fn has_tagged(&self, name: &str) -> bool;

    /// Nodes matching a glob, sorted by path.
    fn find_glob(&self, glob: &Glob) -> Result<Vec<FindNode>, ReadError>;

    /// One series as [`Read::fetch`] answers it, decoding into the value
    /// buffer of `previous` when there is one.
    fn fetch_one(&self, path: &str, request: FetchRequest, previous: Reused) -> Answer;

    /// The tag index the tag queries answer from.
    fn tag_index(&self) -> &TagIndex;
}

impl<B: Backend> Read for B {
    /// Tagged names are looked up directly (they are not in the tree under
    /// their own name), everything else is matched per component.
    fn find(&self, pattern: &str) -> Result<Vec<FindNode>, ReadError> {
        if is_tagged(pattern) && !pattern.starts_with("_tagged.") {
            let name = canonicalize(pattern);
            return Ok(if self.has_tagged(&name) {
                vec![FindNode {
                    path: name,
                    is_leaf: true,
                }]
            } else {
                Vec::new()
            });
        }
        let glob = Glob::new(pattern).map_err(|e| ReadError::BadRequest(e.0))?;
        self.find_glob(&glob)
    }

    fn fetch(&self, path: &str, range: FetchRange) -> Result<Option<FetchedSeries>, ReadError> {
        let options = FetchOptions::default();
        self.fetch_one(path, FetchRequest { range, options }, None)
    }

    fn fetch_many(
        &self,
        paths: &[String],
        range: FetchRange,
    ) -> Result<Vec<Option<FetchedSeries>>, ReadError> {
        let mut out = Vec::new();
        self.fetch_many_into(paths, range, FetchOptions::default(), &mut out)?;
        Ok(out)
    }

    fn fetch_many_into(
        &self,
        paths: &[String],
        range: FetchRange,
        options: FetchOptions,
        out: &mut Vec<Option<FetchedSeries>>,
    ) -> Result<(), ReadError> {
        let request = FetchRequest { range, options };
        parallel_fetch_into(paths, out, |p, previous| {
            match self.fetch_one(p, request, previous) {
                Err(ReadError::Unreadable { series, source }) if options.skip_unreadable => {
                    note_unreadable(&series, &source);
                    Ok(None)
                }
                answer => answer,
            }
        })
    }

    fn find_tagged(&self, exprs: &[TagExpr]) -> Result<Vec<String>, ReadError> {
        self.tag_index().find(exprs)
    }

    fn tag_names(&self) -> Result<Vec<String>, ReadError> {
        Ok(self.tag_index().tag_names())
    }

    fn tag_values(&self, tag: &str) -> Result<Vec<(String, usize)>, ReadError> {
        Ok(self.tag_index().tag_values(tag))
    }

    fn tag_series(&self, path: &str) -> Result<String, ReadError> {
        self.tag_index().add(path)
    }

    fn del_series(&self, path: &str) -> Result<bool, ReadError> {
        self.tag_index().remove(path)
    }
}

/// The value buffer of an earlier answer, emptied for reuse.
pub(crate) fn recycled_values(previous: Reused) -> Vec<Option<f64>> {
    previous.map(|s| s.values).unwrap_or_default()
}

/// Fetches many series into `out` (one slot per path, in order) on up to two
/// threads (the machine class we target has two cores; positioned reads
/// from the page cache parallelise well). `fetch` gets each slot's previous
/// content so that it can reuse its buffer.
pub(crate) fn parallel_fetch_into<F>(
    paths: &[String],
    out: &mut Vec<Option<FetchedSeries>>,
    fetch: F,
) -> Result<(), ReadError>
where
    F: Fn(&str, Option<FetchedSeries>) -> Result<Option<FetchedSeries>, ReadError> + Sync,
{
    const THREADS: usize = 2;
    out.resize_with(paths.len(), || None);
    let run = |paths: &[String], slots: &mut [Option<FetchedSeries>]| -> Result<(), ReadError> {
        for (p, slot) in paths.iter().zip(slots.iter_mut()) {
            *slot = fetch(p, slot.take())?;
        }
        Ok(())
    };
    if paths.len() < 32 {
        return run(paths, out);
    }
    let chunk = paths.len().div_ceil(THREADS);
    std::thread::scope(|s| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .zip(out.chunks_mut(chunk))
            .map(|(part, slots)| s.spawn(|| run(part, slots)))
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err(ReadError::Storage("fetch thread panicked".into())))
        })
    })
}
