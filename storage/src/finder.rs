//! `find` over a Whisper directory tree on disk, graphite-web style: walk
//! only the directories the glob can reach, list a directory only where a
//! component has a wildcard, look literal components up directly.
//!
//! A leaf is a `NAME.wsp` file, a branch a directory; a name can be both.
//! Names starting with `.` are skipped as results (temporary files of atomic
//! creates and resizes are hidden that way). A file whose stem contains a dot
//! cannot be addressed by a dotted path and is ignored.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::api::{FindNode, ReadError};
use crate::glob::{Component, Glob};

/// Finds the nodes matching `glob` under `root`; errors with
/// [`ReadError::LimitExceeded`] once more than `limit` nodes match.
pub fn find_on_disk(root: &Path, glob: &Glob, limit: usize) -> Result<Vec<FindNode>, ReadError> {
    let mut out = BTreeSet::new();
    let mut walker = Walker {
        glob,
        limit,
        out: &mut out,
    };
    walker.walk(root.to_path_buf(), &mut Vec::new(), 0)?;
    Ok(out.into_iter().collect())
}

struct Walker<'a> {
    glob: &'a Glob,
    limit: usize,
    out: &'a mut BTreeSet<FindNode>,
}

struct Entries {
    dirs: Vec<String>,
    leaves: Vec<String>,
}

fn list(dir: &Path) -> Entries {
    let mut entries = Entries {
        dirs: Vec::new(),
        leaves: Vec::new(),
    };
    let Ok(read) = fs::read_dir(dir) else {
        return entries;
    };
    for entry in read.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        // Follow symlinks, as graphite-web's scandir().is_dir() does.
        let Ok(meta) = fs::metadata(entry.path()) else {
            continue;
        };
        if meta.is_dir() {
            entries.dirs.push(name);
        } else if meta.is_file() {
            if let Some(stem) = name.strip_suffix(".wsp") {
                if !stem.contains('.') && !stem.is_empty() {
                    entries.leaves.push(stem.to_string());
                }
            }
        }
    }
    entries
}

/// The dotted path of `name` below `prefix`, or `None` for a hidden name
/// (`.x`: temporary files, dot directories), which find never returns.
pub(crate) fn child_path(prefix: &[String], name: &str) -> Option<String> {
    if name.starts_with('.') {
        return None;
    }
    let mut path = prefix.join(".");
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(name);
    Some(path)
}

/// The error of a find that matched more than `limit` nodes.
pub(crate) fn too_many_nodes(pattern: &str, limit: usize) -> ReadError {
    ReadError::LimitExceeded(format!("find {pattern:?} matched more than {limit} nodes"))
}

impl Walker<'_> {
    fn emit(&mut self, prefix: &[String], name: &str, is_leaf: bool) -> Result<(), ReadError> {
        let Some(path) = child_path(prefix, name) else {
            return Ok(());
        };
        self.out.insert(FindNode { path, is_leaf });
        if self.out.len() > self.limit {
            return Err(too_many_nodes(self.glob.as_str(), self.limit));
        }
        Ok(())
    }

    fn walk(
        &mut self,
        dir: PathBuf,
        prefix: &mut Vec<String>,
        index: usize,
    ) -> Result<(), ReadError> {
        let components = self.glob.components();
        let Some(component) = components.get(index) else {
            return Ok(());
        };
        let last = index + 1 == components.len();
        match component {
            Component::Literal(name) => {
                if name.is_empty() || name.contains('/') || name == ".." {
                    return Ok(());
                }
                let sub = dir.join(name);
                if last {
                    if dir.join(format!("{name}.wsp")).is_file() {
                        self.emit(prefix, name, true)?;
                    }
                    if sub.is_dir() {
                        self.emit(prefix, name, false)?;
                    }
                } else if sub.is_dir() {
                    prefix.push(name.clone());
                    let r = self.walk(sub, prefix, index + 1);
                    prefix.pop();
                    r?;
                }
            }
            Component::Pattern(_) => {
                let entries = list(&dir);
                if last {
                    for leaf in entries.leaves.iter().filter(|l| component.matches(l)) {
                        self.emit(prefix, leaf, true)?;
                    }
                    for d in entries.dirs.iter().filter(|d| component.matches(d)) {
                        self.emit(prefix, d, false)?;
                    }
                } else {
                    for d in entries.dirs.into_iter().filter(|d| component.matches(d)) {
                        let sub = dir.join(&d);
                        prefix.push(d);
                        let r = self.walk(sub, prefix, index + 1);
                        prefix.pop();
                        r?;
                    }
                }
            }
            Component::GlobStar => {
                if last {
                    // `a.**`: everything below, at any depth.
                    let entries = list(&dir);
                    for leaf in &entries.leaves {
                        self.emit(prefix, leaf, true)?;
                    }
                    for d in entries.dirs {
                        self.emit(prefix, &d, false)?;
                        let sub = dir.join(&d);
                        prefix.push(d);
                        let r = self.walk(sub, prefix, index);
                        prefix.pop();
                        r?;
                    }
                } else {
                    // zero components here, or one more directory level
                    self.walk(dir.clone(), prefix, index + 1)?;
                    for d in list(&dir).dirs {
                        let sub = dir.join(&d);
                        prefix.push(d);
                        let r = self.walk(sub, prefix, index);
                        prefix.pop();
                        r?;
                    }
                }
            }
        }
        Ok(())
    }
}
