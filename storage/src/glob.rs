//! Graphite path globs, compiled once and matched per dot-separated
//! component, without expanding braces into lists.
//!
//! Semantics follow graphite-web 1.1's finder: the pattern is split on `.`;
//! backslashes are dropped; in each component `{a,b}` alternatives (nested
//! braces allowed, an unmatched brace is literal), then Python `fnmatch`:
//! `*` any run of characters, `?` one character, `[a-z]` / `[!a-z]` classes
//! (a `]` first in a class is a member, an unclosed `[` is literal). A
//! component that is exactly `**` matches any number of components (zero or
//! more); a trailing `**` matches everything below. Each component compiles to
//! one anchored regular expression (alternatives become `(?:a|b)`), so
//! `{a,b}{c,d}{e,f}…` costs linear space instead of 2ⁿ patterns.
//! Difference: a class cannot span a brace boundary (`[{a,b}]` is literal),
//! where graphite-web would expand the braces first.

use std::fmt;

use regex::Regex;

/// Longest pattern accepted (characters).
pub const MAX_PATTERN_LEN: usize = 4096;

/// One component of a compiled glob.
#[derive(Clone, Debug)]
pub enum Component {
    /// No wildcard: compared for equality (and looked up directly on disk).
    Literal(String),
    /// A wildcard component as an anchored regex.
    Pattern(Regex),
    /// `**`: zero or more components.
    GlobStar,
}

impl Component {
    /// Whether one path component matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Component::Literal(l) => l == name,
            Component::Pattern(re) => re.is_match(name),
            Component::GlobStar => true,
        }
    }
}

/// A compiled Graphite glob.
#[derive(Clone, Debug)]
pub struct Glob {
    components: Vec<Component>,
    text: String,
}

/// Why a glob was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobError(pub String);

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GlobError {}

/// A brace-structured piece of a component.
enum Node {
    Text(String),
    Alt(Vec<Vec<Node>>),
}

/// Parses braces with a stack: a `}` closes the nearest open `{`; `,` splits
/// alternatives only inside a group; unmatched `{` and stray `}` are text.
fn parse_braces(text: &str) -> Vec<Node> {
    // Each frame: the finished alternatives and the current one.
    struct Frame {
        alts: Vec<Vec<Node>>,
        cur: Vec<Node>,
    }
    fn push_text(seq: &mut Vec<Node>, s: &str) {
        if let Some(Node::Text(t)) = seq.last_mut() {
            t.push_str(s);
        } else {
            seq.push(Node::Text(s.to_string()));
        }
    }
    let mut root: Vec<Node> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    for c in text.chars() {
        match c {
            '{' => stack.push(Frame {
                alts: Vec::new(),
                cur: Vec::new(),
            }),
            ',' if !stack.is_empty() => {
                if let Some(f) = stack.last_mut() {
                    let cur = std::mem::take(&mut f.cur);
                    f.alts.push(cur);
                }
            }
            '}' if !stack.is_empty() => {
                if let Some(mut f) = stack.pop() {
                    let cur = std::mem::take(&mut f.cur);
                    f.alts.push(cur);
                    let node = Node::Alt(f.alts);
                    match stack.last_mut() {
                        Some(parent) => parent.cur.push(node),
                        None => root.push(node),
                    }
                }
            }
            c => {
                let mut buf = [0u8; 4];
                let s = c.encode_utf8(&mut buf);
                match stack.last_mut() {
                    Some(f) => push_text(&mut f.cur, s),
                    None => push_text(&mut root, s),
                }
            }
        }
    }
    // Unclosed groups: their `{` and `,` were literal after all.
    while let Some(f) = stack.pop() {
        let mut flat = vec![Node::Text("{".into())];
        for (i, alt) in f.alts.into_iter().chain(std::iter::once(f.cur)).enumerate() {
            if i > 0 {
                flat.push(Node::Text(",".into()));
            }
            flat.extend(alt);
        }
        match stack.last_mut() {
            Some(parent) => parent.cur.extend(flat),
            None => root.extend(flat),
        }
    }
    root
}

fn char_escape(c: char) -> String {
    format!("\\x{{{:x}}}", c as u32)
}

/// fnmatch translation of one brace-free piece of text into regex syntax.
fn fnmatch_to_regex(text: &str, out: &mut String) {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                while i < chars.len() && chars[i] == '*' {
                    i += 1;
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if j < chars.len() && chars[j] == '!' {
                    j += 1;
                }
                if j < chars.len() && chars[j] == ']' {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str(&char_escape('['));
                    continue;
                }
                let body = &chars[i..j];
                i = j + 1;
                let (negated, body) = match body.first() {
                    Some('!') => (true, &body[1..]),
                    _ => (false, body),
                };
                // Members and ranges; inverted ranges match nothing (fnmatch
                // drops them).
                let mut members: Vec<(char, char)> = Vec::new();
                let mut k = 0;
                while k < body.len() {
                    if k + 2 < body.len() && body[k + 1] == '-' {
                        if body[k] <= body[k + 2] {
                            members.push((body[k], body[k + 2]));
                        }
                        k += 3;
                    } else {
                        members.push((body[k], body[k]));
                        k += 1;
                    }
                }
                match (members.is_empty(), negated) {
                    (true, false) => out.push_str("[^\\x{0}-\\x{10ffff}]"),
                    (true, true) => out.push('.'),
                    _ => {
                        out.push('[');
                        if negated {
                            out.push('^');
                        }
                        for (lo, hi) in members {
                            out.push_str(&char_escape(lo));
                            if hi != lo {
                                out.push('-');
                                out.push_str(&char_escape(hi));
                            }
                        }
                        out.push(']');
                    }
                }
            }
            c => out.push_str(&regex::escape(c.encode_utf8(&mut [0u8; 4]))),
        }
    }
}

fn nodes_to_regex(nodes: &[Node], out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(t) => fnmatch_to_regex(t, out),
            Node::Alt(alts) => {
                out.push_str("(?:");
                for (i, alt) in alts.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    nodes_to_regex(alt, out);
                }
                out.push(')');
            }
        }
    }
}

fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?', '[', '{', '}'])
}

impl Glob {
    /// Compiles a Graphite glob.
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        if pattern.chars().count() > MAX_PATTERN_LEN {
            return Err(GlobError(format!(
                "pattern longer than {MAX_PATTERN_LEN} characters"
            )));
        }
        let clean = pattern.replace('\\', "");
        let mut components = Vec::new();
        for part in clean.split('.') {
            if part == "**" {
                components.push(Component::GlobStar);
            } else if !has_wildcard(part) {
                components.push(Component::Literal(part.to_string()));
            } else {
                let mut re = String::from("(?s)^(?:");
                nodes_to_regex(&parse_braces(part), &mut re);
                re.push_str(")$");
                let compiled = regex::RegexBuilder::new(&re)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| GlobError(format!("invalid glob component {part:?}: {e}")))?;
                components.push(Component::Pattern(compiled));
            }
        }
        Ok(Glob {
            components,
            text: pattern.to_string(),
        })
    }

    /// The compiled components, in order.
    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a whole dotted path matches (the tests' oracle, and the
    /// filter of backends that list candidates by prefix).
    pub fn matches_path(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('.').collect();
        match_parts(&self.components, &parts)
    }
}

fn match_parts(components: &[Component], parts: &[&str]) -> bool {
    match components.split_first() {
        None => parts.is_empty(),
        Some((Component::GlobStar, rest)) => {
            if rest.is_empty() {
                // trailing `**`: at least one more component
                return !parts.is_empty();
            }
            (0..=parts.len()).any(|skip| match_parts(rest, &parts[skip..]))
        }
        Some((c, rest)) => match parts.split_first() {
            Some((p, more)) => c.matches(p) && match_parts(rest, more),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Glob::new(pattern).unwrap().matches_path(path)
    }

    #[test]
    fn wildcards() {
        assert!(m("a.*.c", "a.b.c"));
        assert!(!m("a.*.c", "a.b.d"));
        assert!(!m("a.*", "a.b.c"));
        assert!(m("a.b?", "a.bx"));
        assert!(!m("a.b?", "a.b"));
        assert!(m("a.[a-c]x", "a.bx"));
        assert!(!m("a.[!a-c]x", "a.bx"));
        assert!(m("a.[!a-c]x", "a.dx"));
        assert!(m("a.[]]", "a.]"));
        assert!(m("a.[b", "a.[b"));
        assert!(m("a.x[z-a]y", "a.x[z-a]y") || !m("a.x[z-a]y", "a.xzy"));
    }

    #[test]
    fn braces() {
        assert!(m("a.{b,c}.d", "a.c.d"));
        assert!(!m("a.{b,c}.d", "a.e.d"));
        assert!(m("a.{single}", "a.single"));
        assert!(m("a.x{,y}", "a.x"));
        assert!(m("a.{b*,c}", "a.bzz"));
        assert!(m("a.{x,{y,z}w}", "a.zw"));
        assert!(m("a.{x,y", "a.{x,y"));
        assert!(m("a.x}", "a.x}"));
        assert!(m("a.{{x,y}", "a.{x"));
        assert!(m("a.{b,c}}", "a.b}"));
        let many = "{a,b}".repeat(40);
        let g = Glob::new(&format!("p.{many}")).unwrap();
        assert!(g.matches_path(&format!("p.{}", "ab".repeat(20))));
    }

    #[test]
    fn globstar() {
        assert!(m("a.**.d", "a.d"));
        assert!(m("a.**.d", "a.b.c.d"));
        assert!(m("a.**", "a.b.c"));
        assert!(!m("a.**", "a"));
    }

    #[test]
    fn backslashes_are_dropped() {
        assert!(m("a.b\\*", "a.b"));
        assert!(m("a.b\\*", "a.bcd"));
    }
}
