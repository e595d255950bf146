//! `storage-schemas.conf` and `storage-aggregation.conf` in carbon's syntax
//! and with carbon's rules: sections in file order, first regex *search*
//! match wins, a built-in fallback after all sections (60 s × 7 days for
//! schemas; whisper's defaults 0.5 / `average` for aggregation).
//!
//! What carbon does with a bad section decides what we do:
//!
//! | problem | carbon | here |
//! | --- | --- | --- |
//! | schema without `retentions` or `pattern` | skipped, logged | skipped, warning |
//! | retention that does not parse | daemon exits | error |
//! | archive list whisper rejects | skipped, logged | skipped, warning |
//! | `xFilesFactor` not a float | section skipped | skipped, warning |
//! | `xFilesFactor` outside [0, 1], unknown `aggregationMethod` | daemon crashes | error |
//! | aggregation section without `pattern` | skipped, logged | skipped, warning |
//! | regex Rust's `regex` cannot compile (look-around, back-references) | accepted | error |
//!
//! Errors and warnings name the file, the section, the key and the value.

use std::fmt;
use std::path::Path;

use regex::Regex;

use crate::whisper::retention::{parse_retentions, RetentionSyntax};
use crate::whisper::{validate_archive_list, AggregationMethod};

/// The built-in schemas (`deploy/storage-schemas.conf`).
pub const DEFAULT_SCHEMAS: &str = include_str!("../../deploy/storage-schemas.conf");
/// The built-in aggregation rules (`deploy/storage-aggregation.conf`).
pub const DEFAULT_AGGREGATION: &str = include_str!("../../deploy/storage-aggregation.conf");

/// A problem in a config file, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// File name (or `<built-in …>`).
    pub file: String,
    /// Section name, if inside one.
    pub section: Option<String>,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong, with the offending value.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.section {
            Some(s) => write!(
                f,
                "{}:{}: section [{s}]: {}",
                self.file, self.line, self.message
            ),
            None => write!(f, "{}:{}: {}", self.file, self.line, self.message),
        }
    }
}

impl std::error::Error for ConfigProblem {}

/// One INI section: its name, line, and `key → (value, line)` (keys
/// lower-cased, as Python's ConfigParser does).
struct Section {
    name: String,
    line: usize,
    entries: Vec<(String, String, usize)>,
}

impl Section {
    fn get(&self, key: &str) -> Option<(&str, usize)> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, l)| (v.as_str(), *l))
    }
}

/// Parses ConfigParser's INI dialect: `[section]`, `key = value` or
/// `key: value`, `#`/`;` comment lines, indented continuation lines,
/// duplicate sections rejected (Python's strict mode).
fn parse_ini(text: &str, file: &str) -> Result<Vec<Section>, ConfigProblem> {
    let mut sections: Vec<Section> = Vec::new();
    let problem = |line: usize, section: Option<&Section>, message: String| ConfigProblem {
        file: file.to_string(),
        section: section.map(|s| s.name.clone()),
        line,
        message,
    };
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            // continuation of the previous value
            if let Some(entry) = sections.last_mut().and_then(|s| s.entries.last_mut()) {
                entry.1.push('\n');
                entry.1.push_str(trimmed);
                continue;
            }
        }
        if trimmed.starts_with('[') {
            let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
                return Err(problem(
                    line_no,
                    sections.last(),
                    format!("malformed section header {trimmed:?}"),
                ));
            };
            if sections.iter().any(|s| s.name == name) {
                return Err(problem(
                    line_no,
                    None,
                    format!("section [{name}] appears twice"),
                ));
            }
            sections.push(Section {
                name: name.to_string(),
                line: line_no,
                entries: Vec::new(),
            });
            continue;
        }
        let Some(section) = sections.last_mut() else {
            return Err(problem(
                line_no,
                None,
                format!("{trimmed:?} before the first [section]"),
            ));
        };
        let split = trimmed.find(['=', ':']);
        let Some(at) = split else {
            return Err(problem(
                line_no,
                Some(section),
                format!("expected key = value, found {trimmed:?}"),
            ));
        };
        let key = trimmed[..at].trim().to_lowercase();
        let value = trimmed[at + 1..].trim().to_string();
        section.entries.push((key, value, line_no));
    }
    Ok(sections)
}

fn compile(
    file: &str,
    section: &Section,
    pattern: &str,
    line: usize,
) -> Result<Regex, ConfigProblem> {
    Regex::new(pattern).map_err(|e| ConfigProblem {
        file: file.to_string(),
        section: Some(section.name.clone()),
        line,
        message: format!("pattern {pattern:?} is not a regex we can use: {e}"),
    })
}

/// The rules of one carbon rules file, in file order, plus the fallback a
/// metric gets when no section's pattern matches: [`Schemas`] and
/// [`AggregationRules`].
#[derive(Clone, Debug)]
pub struct Rules<R> {
    rules: Vec<R>,
    /// `rules[i]`'s pattern.
    regexes: Vec<Regex>,
    fallback: R,
    /// Sections skipped the way carbon skips them.
    pub warnings: Vec<ConfigProblem>,
}

impl<R> Rules<R> {
    /// The rule a new file for `metric` gets: the first whose pattern
    /// matches somewhere in the name (a regex *search*), else the fallback.
    pub fn lookup(&self, metric: &str) -> &R {
        self.regexes
            .iter()
            .position(|re| re.is_match(metric))
            .map_or(&self.fallback, |i| &self.rules[i])
    }

    /// The rules in order (without the fallback).
    pub fn rules(&self) -> &[R] {
        &self.rules
    }

    /// Parses `text` (named `file` in messages) section by section: `rule`
    /// turns a section into its rule and compiled pattern, or `None` for a
    /// section carbon skips (its warning recorded).
    fn parse_sections(
        text: &str,
        file: &str,
        fallback: R,
        mut rule: impl FnMut(&mut SectionRules<'_>) -> Result<Option<(R, Regex)>, ConfigProblem>,
    ) -> Result<Rules<R>, ConfigProblem> {
        let mut rules = Rules {
            rules: Vec::new(),
            regexes: Vec::new(),
            fallback,
            warnings: Vec::new(),
        };
        for section in parse_ini(text, file)? {
            let mut ctx = SectionRules {
                file,
                section: &section,
                warnings: &mut rules.warnings,
            };
            if let Some((parsed, regex)) = rule(&mut ctx)? {
                rules.rules.push(parsed);
                rules.regexes.push(regex);
            }
        }
        Ok(rules)
    }

    /// Reads and parses a file with `parse`.
    fn load_with(
        path: &Path,
        parse: fn(&str, &str) -> Result<Rules<R>, ConfigProblem>,
    ) -> Result<Rules<R>, ConfigProblem> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigProblem {
            file: path.display().to_string(),
            section: None,
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
        parse(&text, &path.display().to_string())
    }
}

/// One section being turned into a rule: its keys, and where its problems
/// go.
struct SectionRules<'a> {
    file: &'a str,
    section: &'a Section,
    warnings: &'a mut Vec<ConfigProblem>,
}

impl<'a> SectionRules<'a> {
    fn get(&self, key: &str) -> Option<(&'a str, usize)> {
        self.section.get(key)
    }

    /// A problem at `line` of this section.
    fn problem(&self, line: usize, message: String) -> ConfigProblem {
        ConfigProblem {
            file: self.file.to_string(),
            section: Some(self.section.name.clone()),
            line,
            message,
        }
    }

    /// Skips the section as carbon does, with a warning.
    fn skip<T>(&mut self, line: usize, message: String) -> Result<Option<T>, ConfigProblem> {
        let problem = self.problem(line, message);
        self.warnings.push(problem);
        Ok(None)
    }

    /// The section's `pattern` as written and compiled; `None` (the section
    /// skipped) if it has none.
    fn pattern(&mut self) -> Result<Option<(String, Regex)>, ConfigProblem> {
        let Some((pattern, line)) = self.get("pattern").filter(|(p, _)| !p.is_empty()) else {
            return self.skip(self.section.line, "missing 'pattern', skipping".into());
        };
        let regex = compile(self.file, self.section, pattern, line)?;
        Ok(Some((pattern.to_string(), regex)))
    }
}

/// One `storage-schemas.conf` rule.
#[derive(Clone, Debug)]
pub struct SchemaRule {
    /// Section name (informational).
    pub name: String,
    /// The regex as written.
    pub pattern: String,
    /// `(seconds_per_point, points)`, finest first.
    pub archives: Vec<(u32, u32)>,
}

impl SchemaRule {
    /// The finest precision in seconds.
    pub fn finest_precision(&self) -> u32 {
        self.archives.first().map(|a| a.0).unwrap_or(0)
    }

    /// The retentions written back in `spp:points` form.
    pub fn retentions(&self) -> String {
        self.archives
            .iter()
            .map(|(s, p)| format!("{s}:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The loaded schemas, in file order, plus carbon's fallback (60 s × 7 days).
pub type Schemas = Rules<SchemaRule>;

impl Schemas {
    /// Parses `text` (named `file` in messages).
    pub fn parse(text: &str, file: &str) -> Result<Schemas, ConfigProblem> {
        let fallback = SchemaRule {
            name: "default".into(),
            pattern: String::new(),
            archives: vec![(60, 60 * 24 * 7)],
        };
        Rules::parse_sections(text, file, fallback, |section| {
            let Some((retentions, rline)) = section.get("retentions") else {
                return section.skip(
                    section.section.line,
                    "missing 'retentions', skipping".into(),
                );
            };
            let archives = parse_retentions(retentions, RetentionSyntax::Carbon)
                .map_err(|e| section.problem(rline, format!("retentions = {retentions}: {e}")))?;
            let Some((pattern, regex)) = section.pattern()? else {
                return Ok(None);
            };
            let mut sorted = archives;
            if let Err(e) = validate_archive_list(&mut sorted) {
                return section.skip(rline, format!("retentions = {retentions}: {e}; skipping"));
            }
            let rule = SchemaRule {
                name: section.section.name.clone(),
                pattern,
                archives: sorted,
            };
            Ok(Some((rule, regex)))
        })
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Schemas, ConfigProblem> {
        Rules::load_with(path, Schemas::parse)
    }

    /// The built-in defaults.
    pub fn builtin() -> Schemas {
        Schemas::parse(DEFAULT_SCHEMAS, "<built-in storage-schemas.conf>")
            .unwrap_or_else(|e| panic!("the built-in schemas are valid: {e}"))
    }
}
/// One `storage-aggregation.conf` rule; `None` fields mean whisper's default.
#[derive(Clone, Debug)]
pub struct AggregationRule {
    /// Section name.
    pub name: String,
    /// The regex as written.
    pub pattern: String,
    /// `xFilesFactor`, if the section sets it.
    pub x_files_factor: Option<f64>,
    /// `aggregationMethod`, if the section sets it.
    pub method: Option<AggregationMethod>,
}

impl AggregationRule {
    /// The xFilesFactor a new file gets (whisper's 0.5 if unset).
    pub fn xff(&self) -> f64 {
        self.x_files_factor
            .unwrap_or(crate::whisper::format::DEFAULT_X_FILES_FACTOR)
    }

    /// The method a new file gets (`average` if unset).
    pub fn aggregation(&self) -> AggregationMethod {
        self.method.unwrap_or(AggregationMethod::Average)
    }
}

/// The loaded aggregation rules plus the default (whisper's 0.5 and
/// `average`).
pub type AggregationRules = Rules<AggregationRule>;

/// Python's `float()` on a config value (also `nan`, `inf`, `1e-1`).
fn py_float(text: &str) -> Option<f64> {
    let t = text.trim().to_ascii_lowercase().replace('_', "");
    match t.as_str() {
        "nan" | "+nan" | "-nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => t.parse().ok(),
    }
}

impl AggregationRules {
    /// Parses `text` (named `file` in messages).
    pub fn parse(text: &str, file: &str) -> Result<AggregationRules, ConfigProblem> {
        let fallback = AggregationRule {
            name: "default".into(),
            pattern: String::new(),
            x_files_factor: None,
            method: None,
        };
        Rules::parse_sections(text, file, fallback, |section| {
            let x_files_factor = match section.get("xfilesfactor") {
                None => None,
                Some((v, line)) => match py_float(v) {
                    None => {
                        let message = format!("xFilesFactor = {v} is not a number; skipping");
                        return section.skip(line, message);
                    }
                    Some(x) if !(0.0..=1.0).contains(&x) => {
                        return Err(
                            section.problem(line, format!("xFilesFactor = {v} is outside [0, 1]"))
                        );
                    }
                    Some(x) => Some(x),
                },
            };
            let method = match section.get("aggregationmethod") {
                None => None,
                Some((v, line)) => Some(AggregationMethod::from_name(v).ok_or_else(|| {
                    section.problem(
                        line,
                        format!(
                            "aggregationMethod = {v} is not one of average, sum, last, max, min, avg_zero, absmax, absmin"
                        ),
                    )
                })?),
            };
            let Some((pattern, regex)) = section.pattern()? else {
                return Ok(None);
            };
            let rule = AggregationRule {
                name: section.section.name.clone(),
                pattern,
                x_files_factor,
                method,
            };
            Ok(Some((rule, regex)))
        })
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<AggregationRules, ConfigProblem> {
        Rules::load_with(path, AggregationRules::parse)
    }

    /// The built-in defaults.
    pub fn builtin() -> AggregationRules {
        AggregationRules::parse(DEFAULT_AGGREGATION, "<built-in storage-aggregation.conf>")
            .unwrap_or_else(|e| panic!("the built-in aggregation rules are valid: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_defaults_fit_statsd() {
        let s = Schemas::builtin();
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(
            s.lookup("stats.timers.api.upper_90").archives,
            vec![(10, 2160), (60, 10080), (600, 262_800)]
        );
        assert_eq!(s.lookup("stats_counts.hits").finest_precision(), 10);
        assert_eq!(s.lookup("carbon.agents.h.cpuUsage").finest_precision(), 60);
        assert_eq!(
            s.lookup("servers.web1.load").archives,
            vec![(60, 1440), (300, 8640), (3600, 26280)]
        );
        let a = AggregationRules::builtin();
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        let m = |n: &str| (a.lookup(n).aggregation(), a.lookup(n).xff());
        use AggregationMethod::*;
        assert_eq!(m("stats_counts.hits"), (Sum, 0.0));
        assert_eq!(m("stats.counters.hits.count"), (Sum, 0.0));
        assert_eq!(m("stats.counters.hits.rate"), (Average, 0.0));
        assert_eq!(m("stats.hits"), (Average, 0.0));
        assert_eq!(m("stats.timers.api.lower"), (Min, 0.0));
        assert_eq!(m("stats.timers.api.upper_90"), (Max, 0.0));
        assert_eq!(m("stats.timers.api.mean_90"), (Average, 0.0));
        assert_eq!(m("stats.timers.api.sum"), (Sum, 0.0));
        assert_eq!(m("stats.timers.api.count_ps"), (Average, 0.0));
        assert_eq!(m("stats.gauges.queue"), (Last, 0.0));
        assert_eq!(m("servers.web1.load.min"), (Min, 0.0));
        assert_eq!(m("servers.web1.load"), (Average, 0.5));
    }

    #[test]
    fn carbon_rules_for_bad_sections() {
        let s = Schemas::parse(
            "[nopattern]\nretentions = 60:10\n[noret]\npattern = x\n[bad]\npattern = y\nretentions = 60:10,60:20\n[ok]\npattern = ^a\nretentions = 10s:1h\n",
            "s.conf",
        )
        .unwrap();
        assert_eq!(s.rules().len(), 1);
        assert_eq!(s.warnings.len(), 3);
        assert_eq!(
            s.lookup("zzz").archives,
            vec![(60, 10080)],
            "carbon's fallback"
        );
        let e = Schemas::parse("[x]\npattern = a\nretentions = 10q:1h\n", "s.conf").unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.section.as_deref(), e.line),
            ("s.conf", Some("x"), 3)
        );
        assert!(e.message.contains("10q:1h"), "{e}");
        let e =
            AggregationRules::parse("[x]\npattern = a\nxFilesFactor = 2\n", "a.conf").unwrap_err();
        assert!(
            e.to_string()
                .contains("a.conf:3: section [x]: xFilesFactor = 2"),
            "{e}"
        );
        assert!(
            AggregationRules::parse("[x]\npattern = a\naggregationMethod = avg\n", "a").is_err()
        );
        let a = AggregationRules::parse(
            "[x]\npattern = a\nxFilesFactor = half\n[y]\npattern = b\n",
            "a",
        )
        .unwrap();
        assert_eq!((a.rules().len(), a.warnings.len()), (1, 1));
        assert_eq!(
            a.lookup("b").xff(),
            0.5,
            "unset keys take whisper's defaults"
        );
        assert!(
            Schemas::parse("[x]\n[x]\n", "d").is_err(),
            "duplicate sections"
        );
    }
}
