//! The metric-name index of a writable store: a tree of path components
//! built by walking the data directory at start and updated on every new
//! name, so `find` never touches the disk and ingest can tell new names from
//! known ones with a few map lookups.
//!
//! A node is a branch if it is a directory (or a prefix of a name), a leaf if
//! it is a series; a name can be both, exactly like a `NAME.wsp` file next to
//! a `NAME/` directory. Tagged series appear under `_tagged` with their
//! on-disk components, as graphite-web shows them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::RwLock;

use crate::api::{FindNode, ReadError};
use crate::finder::{child_path, too_many_nodes};
use crate::glob::{Component, Glob};

#[derive(Default)]
struct Node {
    children: BTreeMap<Box<str>, Node>,
    is_leaf: bool,
    is_branch: bool,
}

/// A thread-safe name tree.
#[derive(Default)]
pub struct MetricIndex {
    root: RwLock<Node>,
}

impl MetricIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Walks `root` and indexes every `NAME.wsp` file and directory below it.
    /// Returns the number of series found.
    #[cfg(test)]
    pub fn build(root: &Path) -> std::io::Result<(MetricIndex, usize)> {
        let (index, count, _) = Self::build_collecting_temp_files(root)?;
        Ok((index, count))
    }

    /// Walks `root` and indexes every `NAME.wsp` file and directory below
    /// it; returns the number of series found and the hidden `.*.tmp` files
    /// interrupted creates and resizes left behind.
    pub fn build_collecting_temp_files(
        root: &Path,
    ) -> std::io::Result<(MetricIndex, usize, Vec<std::path::PathBuf>)> {
        let index = MetricIndex::new();
        let mut count = 0;
        let mut temp = Vec::new();
        {
            let mut tree = index.root.write().unwrap_or_else(|e| e.into_inner());
            walk(root, &mut tree, &mut count, &mut temp, 0)?;
        }
        Ok((index, count, temp))
    }

    /// Adds a series by its dotted components; returns true if it was new.
    pub fn insert(&self, components: &[&str]) -> bool {
        if self.contains(components) {
            return false;
        }
        let mut tree = self.root.write().unwrap_or_else(|e| e.into_inner());
        let mut node = &mut *tree;
        for (i, c) in components.iter().enumerate() {
            node = node.children.entry((*c).into()).or_default();
            if i + 1 < components.len() {
                node.is_branch = true;
            }
        }
        let new = !node.is_leaf;
        node.is_leaf = true;
        new
    }

    /// Whether the series is indexed.
    pub fn contains(&self, components: &[&str]) -> bool {
        self.contains_components(components.iter().copied())
    }

    /// Whether the plain dotted series `name` is indexed, without splitting
    /// it into a vector first (the ingest hot path asks this per point).
    pub fn contains_dotted(&self, name: &str) -> bool {
        self.contains_components(name.split('.'))
    }

    fn contains_components<'a>(&self, components: impl IntoIterator<Item = &'a str>) -> bool {
        let tree = self.root.read().unwrap_or_else(|e| e.into_inner());
        let mut node = &*tree;
        for c in components {
            match node.children.get(c) {
                Some(n) => node = n,
                None => return false,
            }
        }
        node.is_leaf
    }

    /// Nodes matching `glob`, sorted; at most `limit`.
    pub fn find(&self, glob: &Glob, limit: usize) -> Result<Vec<FindNode>, ReadError> {
        let tree = self.root.read().unwrap_or_else(|e| e.into_inner());
        let mut out = BTreeSet::new();
        let mut prefix = Vec::new();
        find_in(
            &tree,
            glob.components(),
            0,
            &mut prefix,
            &mut out,
            limit,
            glob.as_str(),
        )?;
        Ok(out.into_iter().collect())
    }
}

fn walk(
    dir: &Path,
    node: &mut Node,
    count: &mut usize,
    temp: &mut Vec<std::path::PathBuf>,
    depth: usize,
) -> std::io::Result<()> {
    if depth > 64 {
        return Ok(());
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if depth > 0 => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot list directory while indexing");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let is_dir = kind.is_dir() || (kind.is_symlink() && entry.path().is_dir());
        if is_dir && name.starts_with('.') {
            // hidden: the journal, editors' and tools' own directories
            continue;
        }
        if is_dir {
            let child = node.children.entry(name.as_str().into()).or_default();
            child.is_branch = true;
            walk(&entry.path(), child, count, temp, depth + 1)?;
        } else if name.starts_with('.') && name.ends_with(".tmp") && name.contains(".wsp.") {
            temp.push(entry.path());
        } else if let Some(stem) = name.strip_suffix(".wsp") {
            if !stem.is_empty() && !stem.contains('.') {
                node.children.entry(stem.into()).or_default().is_leaf = true;
                *count += 1;
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn find_in(
    node: &Node,
    components: &[Component],
    index: usize,
    prefix: &mut Vec<String>,
    out: &mut BTreeSet<FindNode>,
    limit: usize,
    pattern: &str,
) -> Result<(), ReadError> {
    let Some(component) = components.get(index) else {
        return Ok(());
    };
    let last = index + 1 == components.len();
    let emit = |prefix: &[String], name: &str, child: &Node, out: &mut BTreeSet<FindNode>| {
        let Some(path) = child_path(prefix, name) else {
            return Ok(());
        };
        if child.is_leaf {
            out.insert(FindNode {
                path: path.clone(),
                is_leaf: true,
            });
        }
        if child.is_branch {
            out.insert(FindNode {
                path,
                is_leaf: false,
            });
        }
        if out.len() > limit {
            return Err(too_many_nodes(pattern, limit));
        }
        Ok(())
    };
    let candidates: Vec<(&str, &Node)> = match component {
        Component::Literal(l) => node
            .children
            .get_key_value(l.as_str())
            .map(|(k, n)| vec![(&**k, n)])
            .unwrap_or_default(),
        _ => node
            .children
            .iter()
            .filter(|(k, _)| component.matches(k))
            .map(|(k, n)| (&**k, n))
            .collect(),
    };
    if let Component::GlobStar = component {
        if last {
            for (name, child) in &candidates {
                emit(prefix, name, child, out)?;
                if child.is_branch {
                    prefix.push((*name).to_string());
                    let r = find_in(child, components, index, prefix, out, limit, pattern);
                    prefix.pop();
                    r?;
                }
            }
        } else {
            find_in(node, components, index + 1, prefix, out, limit, pattern)?;
            for (name, child) in &candidates {
                if child.is_branch {
                    prefix.push((*name).to_string());
                    let r = find_in(child, components, index, prefix, out, limit, pattern);
                    prefix.pop();
                    r?;
                }
            }
        }
        return Ok(());
    }
    for (name, child) in candidates {
        if last {
            emit(prefix, name, child, out)?;
        } else if child.is_branch {
            prefix.push(name.to_string());
            let r = find_in(child, components, index + 1, prefix, out, limit, pattern);
            prefix.pop();
            r?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_answers_like_the_disk_finder() {
        let dir = tempfile::tempdir().unwrap();
        for rel in [
            "a/b.wsp",
            "a/b/c.wsp",
            "a/x1.wsp",
            "z/.hidden.wsp",
            "a/notes.txt",
        ] {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"").unwrap();
        }
        std::fs::create_dir_all(dir.path().join("a/empty")).unwrap();
        let (index, count) = MetricIndex::build(dir.path()).unwrap();
        assert_eq!(count, 3, ".hidden.wsp has a dot in its stem");
        assert!(index.insert(&["new", "metric"]));
        assert!(!index.insert(&["new", "metric"]));
        for pattern in [
            "*", "a.*", "a.b", "a.b.*", "*.*", "a.**", "**.c", "new.*", "z.*", "a.{b,x1}",
        ] {
            let glob = Glob::new(pattern).unwrap();
            let on_disk = crate::finder::find_on_disk(dir.path(), &glob, 1000).unwrap();
            let mut in_memory = index.find(&glob, 1000).unwrap();
            if pattern.starts_with("new") || pattern == "*" || pattern == "*.*" {
                in_memory.retain(|n| !n.path.starts_with("new"));
            }
            assert_eq!(in_memory, on_disk, "{pattern}");
        }
        assert_eq!(
            index.find(&Glob::new("new.*").unwrap(), 10).unwrap().len(),
            1
        );
        assert!(index.find(&Glob::new("*.*").unwrap(), 2).is_err(), "limit");
    }
}
