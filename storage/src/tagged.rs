//! Graphite 1.1 tagged series names: parsing (`name;tag=value` and the
//! OpenMetrics form `name{tag="value"}`), canonicalisation, and the on-disk
//! layout under `_tagged/` that carbon writes and graphite-web reads.
//!
//! Canonical form (carbon's `TaggedSeries.format`): the metric name, then the
//! strings `;tag=value` of every other tag sorted as strings. The file lives
//! at `_tagged/<h[0..3]>/<h[3..6]>/<file>.wsp` where `h` is the SHA-256 hex of
//! the canonical name and `<file>` is either `h` itself (carbon's default
//! `TAG_HASH_FILENAMES = True`) or the canonical name with every `.` replaced
//! by `_DOT_`. Both forms are read; new files use the hash form.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Top-level directory of tagged series.
pub const TAGGED_DIR: &str = "_tagged";

/// A parsed tagged series: the metric name and every tag (with `name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaggedSeries {
    /// The metric part before the first `;` (or `{`).
    pub metric: String,
    /// Every tag, including `name` (the metric without leading `~`).
    pub tags: BTreeMap<String, String>,
}

/// Why a tagged name was refused, with carbon's wording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagError(pub String);

impl fmt::Display for TagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TagError {}

/// True if `name` is a tagged name (carbon's test: it contains `;`, or is
/// in OpenMetrics form).
pub fn is_tagged(name: &str) -> bool {
    name.contains(';') || (name.ends_with("\"}") && name.contains('{'))
}

fn validate(tag: &str, value: &str) -> Result<(), TagError> {
    if tag.is_empty() {
        return Err(TagError("Tag may not be empty".into()));
    }
    if value.is_empty() {
        return Err(TagError(format!(
            "Value for tag \"{tag}\" may not be empty"
        )));
    }
    for c in [';', '!', '^', '='] {
        if tag.contains(c) {
            return Err(TagError(format!(
                "Character \"{c}\" is not allowed in tag \"{tag}\""
            )));
        }
    }
    if value.contains(';') {
        return Err(TagError(format!(
            "Character \";\" is not allowed in value \"{value}\" of tag {tag}"
        )));
    }
    if value.starts_with('~') {
        return Err(TagError(format!(
            "Tag values are not allowed to start with \"~\" in tag \"{tag}\""
        )));
    }
    Ok(())
}

fn name_tag(metric: &str) -> Result<String, TagError> {
    let sanitized = metric.trim_start_matches('~');
    if sanitized.is_empty() {
        return Err(TagError(format!(
            "Cannot use metric name {metric} as tag value, results in an empty string"
        )));
    }
    Ok(sanitized.to_string())
}

impl TaggedSeries {
    /// Parses either form, as carbon's `TaggedSeries.parse`.
    pub fn parse(path: &str) -> Result<TaggedSeries, TagError> {
        if path.ends_with("\"}") && path.contains('{') {
            Self::parse_openmetrics(path)
        } else {
            Self::parse_carbon(path)
        }
    }

    /// `metric;tag=value;...`; a later duplicate tag wins; `name` is always
    /// the metric.
    pub fn parse_carbon(path: &str) -> Result<TaggedSeries, TagError> {
        let mut segments = path.split(';');
        let metric = segments.next().unwrap_or_default();
        if metric.is_empty() {
            return Err(TagError(format!(
                "Cannot parse path {path}, no metric found"
            )));
        }
        let mut tags = BTreeMap::new();
        for segment in segments {
            let Some((tag, value)) = segment.split_once('=').filter(|(t, _)| !t.is_empty()) else {
                return Err(TagError(format!(
                    "Cannot parse path {path}, invalid segment {segment}"
                )));
            };
            validate(tag, value)?;
            tags.insert(tag.to_string(), value.to_string());
        }
        tags.insert("name".into(), name_tag(metric)?);
        Ok(TaggedSeries {
            metric: metric.to_string(),
            tags,
        })
    }

    /// `metric{tag="value",...}` with `\"` and `\\` escapes in values.
    pub fn parse_openmetrics(path: &str) -> Result<TaggedSeries, TagError> {
        let body = &path[..path.len() - 1];
        let Some((metric, mut raw)) = body.split_once('{') else {
            return Err(TagError(format!(
                "Cannot parse path {path}, no metric found"
            )));
        };
        if metric.is_empty() {
            return Err(TagError(format!(
                "Cannot parse path {path}, no metric found"
            )));
        }
        let mut tags = BTreeMap::new();
        while !raw.is_empty() {
            let invalid = || TagError(format!("Cannot parse path {path}, invalid segment {raw}"));
            let eq = raw.find('=').filter(|&i| i > 0).ok_or_else(invalid)?;
            let tag = &raw[..eq];
            let rest = raw[eq + 1..].strip_prefix('"').ok_or_else(invalid)?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, e @ ('"' | '\\'))) => value.push(e),
                        _ => return Err(invalid()),
                    },
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let end = end.ok_or_else(invalid)?;
            if value.is_empty() {
                return Err(invalid());
            }
            let after = &rest[end + 1..];
            let after = match after.strip_prefix(',') {
                Some(a) => a,
                None if after.is_empty() => after,
                None => return Err(invalid()),
            };
            validate(tag, &value)?;
            tags.insert(tag.to_string(), value);
            raw = after;
        }
        tags.insert("name".into(), name_tag(metric)?);
        Ok(TaggedSeries {
            metric: metric.to_string(),
            tags,
        })
    }

    /// The canonical name (`name;a=1;b=2`).
    pub fn canonical(&self) -> String {
        let mut parts: Vec<String> = self
            .tags
            .iter()
            .filter(|(t, _)| t.as_str() != "name")
            .map(|(t, v)| format!(";{t}={v}"))
            .collect();
        parts.sort();
        let mut out = self.tags.get("name").cloned().unwrap_or_default();
        for p in parts {
            out.push_str(&p);
        }
        out
    }
}

/// The canonical form of `name` if it is tagged and valid; untagged names
/// and invalid tagged names are returned unchanged (carbon stores invalid
/// tagged input un-normalised).
pub fn canonicalize(name: &str) -> String {
    if !is_tagged(name) {
        return name.to_string();
    }
    match TaggedSeries::parse(name) {
        Ok(series) => series.canonical(),
        Err(_) => name.to_string(),
    }
}

fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// carbon's `TaggedSeries.encode` with `os.sep`, plus `.wsp`: the path of
/// `metric` relative to the data directory.
pub fn relative_file_path(metric: &str, hash_only: bool) -> PathBuf {
    if metric.contains(';') {
        let h = sha256_hex(metric);
        let file = if hash_only {
            h.clone()
        } else {
            metric.replace('.', "_DOT_")
        };
        let mut p = PathBuf::from(TAGGED_DIR);
        p.push(&h[0..3]);
        p.push(&h[3..6]);
        p.push(format!("{file}.wsp"));
        p
    } else {
        let trimmed = metric.trim_start_matches('.');
        let mut p = PathBuf::new();
        let mut parts = trimmed.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                p.push(format!("{part}.wsp"));
            } else {
                p.push(part);
            }
        }
        p
    }
}

/// Candidate files for `metric` under `root`: the hash form first, then the
/// `_DOT_` form (tagged), or the single dotted-path file.
pub fn candidate_files(root: &Path, metric: &str) -> Vec<PathBuf> {
    if metric.contains(';') {
        vec![
            root.join(relative_file_path(metric, true)),
            root.join(relative_file_path(metric, false)),
        ]
    } else {
        vec![root.join(relative_file_path(metric, false))]
    }
}

/// The tagged name a `_DOT_`-form file name stands for, if it is one
/// (hash-form names cannot be decoded).
pub fn decode_dot_file_name(stem: &str) -> Option<String> {
    if stem.contains(';') {
        Some(stem.replace("_DOT_", "."))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_sorts_tag_strings() {
        let s = TaggedSeries::parse("cpu.load;host=a;dc=eu;name=ignored").unwrap();
        assert_eq!(s.canonical(), "cpu.load;dc=eu;host=a");
        assert_eq!(canonicalize("x;b=1;a=2"), "x;a=2;b=1");
        assert_eq!(canonicalize("plain.name"), "plain.name");
        assert_eq!(canonicalize("~x;a=1"), "x;a=1");
        // sorted as ';tag=value' strings, as carbon does: ';a.b=' < ';a='
        assert_eq!(canonicalize("m;a=1;a.b=2"), "m;a.b=2;a=1");
    }

    #[test]
    fn invalid_tags() {
        for bad in ["x;=1", "x;a", "x;a=", "x;a=~b", ";a=1", "~;a=1", "x;a!b=1"] {
            assert!(TaggedSeries::parse(bad).is_err(), "{bad}");
            assert_eq!(canonicalize(bad), bad);
        }
    }

    #[test]
    fn openmetrics_form() {
        let s = TaggedSeries::parse(r#"cpu{host="a\"b",dc="eu"}"#).unwrap();
        assert_eq!(s.canonical(), "cpu;dc=eu;host=a\"b");
        assert!(TaggedSeries::parse(r#"cpu{host=a}"#).is_err() || !is_tagged("cpu{host=a}"));
    }

    #[test]
    fn layout_matches_carbon() {
        // sha256("some.metric;tag1=value2;tag2=value.2") (checked with python's hashlib)
        let name = "some.metric;tag1=value2;tag2=value.2";
        let h = sha256_hex(name);
        assert_eq!(h.len(), 64);
        let p = relative_file_path(name, true);
        assert_eq!(
            p,
            PathBuf::from(format!("_tagged/{}/{}/{h}.wsp", &h[0..3], &h[3..6]))
        );
        let p = relative_file_path(name, false);
        assert!(p
            .to_string_lossy()
            .ends_with("/some_DOT_metric;tag1=value2;tag2=value_DOT_2.wsp"));
        assert_eq!(
            relative_file_path("a.b.c", true),
            PathBuf::from("a/b/c.wsp")
        );
        assert_eq!(relative_file_path(".a.b", true), PathBuf::from("a/b.wsp"));
    }
}
