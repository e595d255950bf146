//! carbon's `rewrite-rules.conf`: `[pre]` and `[post]` sections of
//! `regex = replacement` lines, each rule applied to every metric name in
//! file order (Python's `re.sub`, every match replaced).
//!
//! Parsing follows carbon 1.1.10's `carbon/rewrite.py` line by line:
//! blank lines and `#` comments are skipped, `[name]` starts (and clears) a
//! section, a line with `=` is split at its first `=` into pattern and
//! replacement (both trimmed), anything else is a syntax error. A rule
//! whose regex does not compile is skipped and reported, as carbon logs and
//! skips it; so is a rule with a syntax error. Only `[pre]` and `[post]`
//! are used; rules outside any section or in other sections are ignored,
//! as carbon ignores them (we report them, carbon does not).
//!
//! The replacement is Python's template syntax, translated here: `\1` …
//! `\99` and `\g<1>` / `\g<name>` refer to groups (an unmatched group is
//! empty), `\n`, `\t` and the other one-letter escapes stand for their
//! character, `\\` for a backslash, and a backslash before anything else
//! stays as written. References to groups the regex does not have are
//! refused when the file is read (Python raises on the first matching
//! metric instead).

use std::borrow::Cow;

use regex::{Captures, Regex};

use crate::schema::ConfigProblem;

/// Which ruleset a rule belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// `[pre]`: before aggregation.
    Pre,
    /// `[post]`: after aggregation, on the points forwarded to storage.
    Post,
}

/// One piece of a parsed replacement template.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    Group(usize),
    Named(String),
}

/// One `regex = replacement` rule.
#[derive(Clone, Debug)]
pub struct RewriteRule {
    /// The regex as written.
    pub pattern: String,
    /// The replacement as written.
    pub replacement: String,
    /// 1-based line in the file.
    pub line: usize,
    regex: Regex,
    template: Vec<Piece>,
}

impl RewriteRule {
    /// Compiles `pattern` and parses `replacement` (Python's template
    /// syntax); the error says what is wrong.
    pub fn new(pattern: &str, replacement: &str, line: usize) -> Result<RewriteRule, String> {
        let regex = Regex::new(pattern)
            .map_err(|e| format!("pattern {pattern:?} is not a regex we can use: {e}"))?;
        let template =
            parse_template(replacement).map_err(|e| format!("replacement {replacement:?}: {e}"))?;
        for piece in &template {
            match piece {
                Piece::Group(i) if *i >= regex.captures_len() => {
                    return Err(format!(
                        "replacement {replacement:?} refers to group {i}, but {pattern:?} has {} group(s)",
                        regex.captures_len() - 1
                    ))
                }
                Piece::Named(n) if !regex.capture_names().any(|c| c == Some(n.as_str())) => {
                    return Err(format!(
                        "replacement {replacement:?} refers to group {n:?}, which {pattern:?} does not name"
                    ))
                }
                _ => {}
            }
        }
        Ok(RewriteRule {
            pattern: pattern.to_string(),
            replacement: replacement.to_string(),
            line,
            regex,
            template,
        })
    }

    /// `re.sub(pattern, replacement, name)`: every non-overlapping match
    /// replaced; borrowed when nothing matched.
    pub fn apply<'a>(&self, name: &'a str) -> Cow<'a, str> {
        // most names match no rule: the DFA-only test first
        if !self.regex.is_match(name) {
            return Cow::Borrowed(name);
        }
        self.regex.replace_all(name, |caps: &Captures<'_>| {
            let mut out = String::new();
            for piece in &self.template {
                match piece {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Group(i) => out.push_str(caps.get(*i).map_or("", |m| m.as_str())),
                    Piece::Named(n) => out.push_str(caps.name(n).map_or("", |m| m.as_str())),
                }
            }
            out
        })
    }
}

/// Python's `re` replacement template, as `sre_parse.parse_template` reads it.
fn parse_template(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let flush = |literal: &mut String, pieces: &mut Vec<Piece>| {
        if !literal.is_empty() {
            pieces.push(Piece::Text(std::mem::take(literal)));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            literal.push(c);
            i += 1;
            continue;
        }
        let Some(&next) = chars.get(i + 1) else {
            return Err("bad escape (end of pattern)".into());
        };
        i += 2;
        match next {
            'g' => {
                let rest: String = chars[i..].iter().collect();
                let Some(body) = rest.strip_prefix('<') else {
                    return Err("missing < after \\g".into());
                };
                let Some(end) = body.find('>') else {
                    return Err("missing > in \\g<...>".into());
                };
                let name = &body[..end];
                if name.is_empty() {
                    return Err("missing group name in \\g<>".into());
                }
                flush(&mut literal, &mut pieces);
                if name.bytes().all(|b| b.is_ascii_digit()) {
                    let n = name
                        .parse::<usize>()
                        .map_err(|_| format!("invalid group reference {name}"))?;
                    pieces.push(Piece::Group(n));
                } else {
                    pieces.push(Piece::Named(name.to_string()));
                }
                i += name.chars().count() + 2;
            }
            '0' => {
                // octal escape: \0 and up to two more octal digits
                let mut value = 0u32;
                let mut taken = 0;
                while taken < 2 && chars.get(i).is_some_and(|c| ('0'..='7').contains(c)) {
                    value = value * 8 + chars[i].to_digit(8).unwrap_or(0);
                    i += 1;
                    taken += 1;
                }
                literal.push(char::from_u32(value).unwrap_or('\0'));
            }
            '1'..='9' => {
                let d2 = chars.get(i).copied();
                let d3 = chars.get(i + 1).copied();
                let octal = |c: Option<char>| c.is_some_and(|c| ('0'..='7').contains(&c));
                if ('1'..='7').contains(&next) && octal(d2) && octal(d3) {
                    // three octal digits: a character, not a group
                    let value = next.to_digit(8).unwrap_or(0) * 64
                        + d2.and_then(|c| c.to_digit(8)).unwrap_or(0) * 8
                        + d3.and_then(|c| c.to_digit(8)).unwrap_or(0);
                    if value > 0o377 {
                        return Err(format!(
                            "octal escape value \\{next}{:?}{:?} outside of range 0-0o377",
                            d2, d3
                        ));
                    }
                    literal.push(char::from_u32(value).unwrap_or('\0'));
                    i += 2;
                } else {
                    let mut n = next.to_digit(10).unwrap_or(0) as usize;
                    if let Some(d) = d2.and_then(|c| c.to_digit(10)) {
                        n = n * 10 + d as usize;
                        i += 1;
                    }
                    flush(&mut literal, &mut pieces);
                    pieces.push(Piece::Group(n));
                }
            }
            'a' => literal.push('\u{7}'),
            'b' => literal.push('\u{8}'),
            'f' => literal.push('\u{c}'),
            'n' => literal.push('\n'),
            'r' => literal.push('\r'),
            't' => literal.push('\t'),
            'v' => literal.push('\u{b}'),
            '\\' => literal.push('\\'),
            c if c.is_ascii_alphabetic() => return Err(format!("bad escape \\{c}")),
            c => {
                literal.push('\\');
                literal.push(c);
            }
        }
    }
    flush(&mut literal, &mut pieces);
    Ok(pieces)
}

/// The `[pre]` and `[post]` rules of one file.
#[derive(Clone, Debug, Default)]
pub struct RewriteRules {
    /// Applied to every input, before aggregation.
    pub pre: Vec<RewriteRule>,
    /// Applied to the inputs forwarded to storage, after aggregation.
    pub post: Vec<RewriteRule>,
}

impl RewriteRules {
    /// Parses a rewrite-rules file; `file` names it in problems. Returns the
    /// usable rules and a problem for each line carbon would skip.
    pub fn parse(text: &str, file: &str) -> (RewriteRules, Vec<ConfigProblem>) {
        let mut rules = RewriteRules::default();
        let mut problems = Vec::new();
        let problem = |line: usize, section: Option<&str>, message: String| ConfigProblem {
            file: file.to_string(),
            section: section.map(str::to_string),
            line,
            message,
        };
        let mut section: Option<String> = None;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('[') && line.ends_with(']') {
                let name = line[1..line.len() - 1].to_lowercase();
                // carbon clears a section when its header appears again
                match name.as_str() {
                    "pre" => rules.pre.clear(),
                    "post" => rules.post.clear(),
                    _ => {}
                }
                section = Some(name);
                continue;
            }
            let Some((pattern, replacement)) = line.split_once('=') else {
                problems.push(problem(
                    line_no,
                    section.as_deref(),
                    format!("invalid syntax: not a section heading or rule: {line:?}"),
                ));
                continue;
            };
            let (pattern, replacement) = (pattern.trim(), replacement.trim());
            let rule = match RewriteRule::new(pattern, replacement, line_no) {
                Ok(rule) => rule,
                Err(message) => {
                    problems.push(problem(line_no, section.as_deref(), message));
                    continue;
                }
            };
            match section.as_deref() {
                Some("pre") => rules.pre.push(rule),
                Some("post") => rules.post.push(rule),
                Some(other) => problems.push(problem(
                    line_no,
                    Some(other),
                    "rule in a section other than [pre] or [post]: never applied".into(),
                )),
                None => problems.push(problem(
                    line_no,
                    None,
                    "rule before the first [pre] or [post] section: never applied".into(),
                )),
            }
        }
        (rules, problems)
    }

    /// True when neither stage has a rule.
    pub fn is_empty(&self) -> bool {
        self.pre.is_empty() && self.post.is_empty()
    }

    /// `name` after every rule of `stage`, in order; borrowed when none
    /// changed it.
    pub fn apply<'a>(&self, stage: Stage, name: &'a str) -> Cow<'a, str> {
        let rules = match stage {
            Stage::Pre => &self.pre,
            Stage::Post => &self.post,
        };
        let mut current = Cow::Borrowed(name);
        for rule in rules {
            if let Cow::Owned(changed) = rule.apply(&current) {
                current = Cow::Owned(changed);
            }
        }
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(p: &str, r: &str) -> RewriteRule {
        RewriteRule::new(p, r, 1).expect("valid rule")
    }

    #[test]
    fn groups_and_escapes_as_python() {
        assert_eq!(
            rule(r"^legacy\.(.*)", r"modern.\1").apply("legacy.a.b"),
            "modern.a.b"
        );
        assert_eq!(
            rule(r"^legacy\.(.*)", r"modern.\1").apply("other.a"),
            "other.a"
        );
        assert_eq!(
            rule(r"(?P<x>a)(b)?", r"[\g<x>\g<2>]").apply("a-ab"),
            "[a]-[ab]"
        );
        assert_eq!(rule(r"\.", "_").apply("a.b.c"), "a_b_c");
        assert_eq!(rule("a", r"\\$1").apply("xa"), r"x\$1");
        assert_eq!(rule("a", r"\.").apply("a"), r"\.");
        assert_eq!(rule("(a)", r"\101").apply("a"), "A");
    }

    #[test]
    fn bad_templates_are_refused() {
        assert!(RewriteRule::new("(a)", r"\2", 1).is_err());
        assert!(RewriteRule::new("(a)", r"\10", 1).is_err());
        assert!(RewriteRule::new("(a)", r"\g<y>", 1).is_err());
        assert!(RewriteRule::new("(a)", r"\q", 1).is_err());
        assert!(RewriteRule::new("(a)", "\\", 1).is_err());
        assert!(RewriteRule::new("(?<=a)b", "c", 1).is_err());
    }

    #[test]
    fn sections_and_problems() {
        let text = "# comment\n\nstray = rule\n[pre]\n^a\\.(.*) = b.\\1\nnot a rule\n(unclosed = x\n[post]\n\\.x$ = .y\n[other]\nq = r\n[PRE]\n^c = d\n";
        let (rules, problems) = RewriteRules::parse(text, "rw.conf");
        // the second [PRE] header cleared the first rule, as carbon does
        assert_eq!(rules.pre.len(), 1);
        assert_eq!(rules.pre[0].line, 13);
        assert_eq!(rules.post.len(), 1);
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![3, 6, 7, 11]);
        assert!(problems[2]
            .to_string()
            .starts_with("rw.conf:7: section [pre]: pattern"));
        assert_eq!(rules.apply(Stage::Pre, "c.x"), "d.x");
        assert_eq!(rules.apply(Stage::Post, "a.x"), "a.y");
    }
}
