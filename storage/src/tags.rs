//! The built-in tag index: canonical tagged names with an inverted index
//! `tag → value → series`, answering `seriesByTag` expressions with
//! graphite-web's semantics (a missing tag reads as the empty value; regexes
//! are anchored at the start; at least one expression must not match the
//! empty value).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;

use regex::Regex;

use crate::api::{ReadError, TagExpr, TagOp};
use crate::tagged::TaggedSeries;

/// A thread-safe tag index.
#[derive(Default)]
pub struct TagIndex {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    series: HashMap<String, BTreeMap<String, String>>,
    by_tag: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

enum Matcher {
    Eq(String),
    NotEq(String),
    Match(Regex),
    NotMatch(Regex),
}

impl Matcher {
    fn compile(expr: &TagExpr) -> Result<Matcher, ReadError> {
        let re = || {
            Regex::new(&format!("^(?:{})", expr.value)).map_err(|e| {
                ReadError::BadRequest(format!("invalid regex in tag expression {expr}: {e}"))
            })
        };
        Ok(match expr.op {
            TagOp::Eq => Matcher::Eq(expr.value.clone()),
            TagOp::NotEq => Matcher::NotEq(expr.value.clone()),
            TagOp::Match => Matcher::Match(re()?),
            TagOp::NotMatch => Matcher::NotMatch(re()?),
        })
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Eq(v) => value == v,
            Matcher::NotEq(v) => value != v,
            Matcher::Match(re) => re.is_match(value),
            Matcher::NotMatch(re) => !re.is_match(value),
        }
    }
}

impl TagIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a series (any tagged form); returns its canonical name.
    pub fn add(&self, name: &str) -> Result<String, ReadError> {
        let parsed = TaggedSeries::parse(name).map_err(|e| ReadError::BadRequest(e.0))?;
        let canonical = parsed.canonical();
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.series.contains_key(&canonical) {
            return Ok(canonical);
        }
        for (tag, value) in &parsed.tags {
            inner
                .by_tag
                .entry(tag.clone())
                .or_default()
                .entry(value.clone())
                .or_default()
                .insert(canonical.clone());
        }
        inner.series.insert(canonical.clone(), parsed.tags);
        Ok(canonical)
    }

    /// Removes a series; true if it was indexed.
    pub fn remove(&self, name: &str) -> Result<bool, ReadError> {
        let parsed = TaggedSeries::parse(name).map_err(|e| ReadError::BadRequest(e.0))?;
        let canonical = parsed.canonical();
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let Some(tags) = inner.series.remove(&canonical) else {
            return Ok(false);
        };
        for (tag, value) in tags {
            if let Some(values) = inner.by_tag.get_mut(&tag) {
                if let Some(set) = values.get_mut(&value) {
                    set.remove(&canonical);
                    if set.is_empty() {
                        values.remove(&value);
                    }
                }
                if values.is_empty() {
                    inner.by_tag.remove(&tag);
                }
            }
        }
        Ok(true)
    }

    /// Number of indexed series.
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .series
            .len()
    }

    /// Canonical names matching every expression, sorted.
    pub fn find(&self, exprs: &[TagExpr]) -> Result<Vec<String>, ReadError> {
        let matchers: Vec<(String, Matcher)> = exprs
            .iter()
            .map(|e| Ok((e.tag.clone(), Matcher::compile(e)?)))
            .collect::<Result<_, ReadError>>()?;
        if !matchers.iter().any(|(_, m)| !m.matches("")) {
            return Err(ReadError::BadRequest(
                "At least one tagspec must not match the empty string".into(),
            ));
        }
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        // Narrow with the most selective exact match, if any.
        let mut candidates: Option<&BTreeSet<String>> = None;
        for (tag, m) in &matchers {
            if let Matcher::Eq(v) = m {
                if v.is_empty() {
                    continue;
                }
                let set = inner.by_tag.get(tag).and_then(|vals| vals.get(v));
                match set {
                    None => return Ok(Vec::new()),
                    Some(s) => {
                        if candidates.map(|c| s.len() < c.len()).unwrap_or(true) {
                            candidates = Some(s);
                        }
                    }
                }
            }
        }
        let check = |name: &String, tags: &BTreeMap<String, String>| {
            matchers
                .iter()
                .all(|(tag, m)| m.matches(tags.get(tag).map(String::as_str).unwrap_or("")))
                && !name.is_empty()
        };
        let mut out: Vec<String> = match candidates {
            Some(set) => set
                .iter()
                .filter(|n| inner.series.get(*n).is_some_and(|t| check(n, t)))
                .cloned()
                .collect(),
            None => inner
                .series
                .iter()
                .filter(|(n, t)| check(n, t))
                .map(|(n, _)| n.clone())
                .collect(),
        };
        out.sort();
        Ok(out)
    }

    /// Every tag name, sorted.
    pub fn tag_names(&self) -> Vec<String> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.by_tag.keys().cloned().collect()
    }

    /// Every value of `tag` with its series count, sorted by value.
    pub fn tag_values(&self, tag: &str) -> Vec<(String, usize)> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .by_tag
            .get(tag)
            .map(|vals| vals.iter().map(|(v, s)| (v.clone(), s.len())).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exprs(list: &[&str]) -> Vec<TagExpr> {
        list.iter().map(|e| TagExpr::parse(e).unwrap()).collect()
    }

    #[test]
    fn graphite_semantics() {
        let idx = TagIndex::new();
        assert_eq!(idx.add("cpu;host=a;dc=eu").unwrap(), "cpu;dc=eu;host=a");
        idx.add("cpu;host=b").unwrap();
        idx.add("mem;host=a;dc=us").unwrap();
        assert_eq!(
            idx.find(&exprs(&["name=cpu"])).unwrap(),
            vec!["cpu;dc=eu;host=a", "cpu;host=b"]
        );
        assert_eq!(
            idx.find(&exprs(&["name=cpu", "dc="])).unwrap(),
            vec!["cpu;host=b"]
        );
        assert_eq!(
            idx.find(&exprs(&["host=~a", "dc!=eu"])).unwrap(),
            vec!["mem;dc=us;host=a"]
        );
        assert_eq!(idx.find(&exprs(&["name=~.", "dc!=~e"])).unwrap().len(), 2);
        assert!(
            idx.find(&exprs(&["dc="])).is_err(),
            "only empty-matching specs"
        );
        assert!(idx.find(&exprs(&["dc!=~e"])).is_err());
        assert!(idx.find(&exprs(&["dc=~("])).is_err());
        assert_eq!(idx.tag_names(), vec!["dc", "host", "name"]);
        assert_eq!(
            idx.tag_values("host"),
            vec![("a".into(), 2), ("b".into(), 1)]
        );
        assert!(idx.remove("cpu;host=b").unwrap());
        assert!(!idx.remove("cpu;host=b").unwrap());
        assert_eq!(idx.tag_values("host"), vec![("a".into(), 2)]);
    }
}
