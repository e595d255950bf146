//! The target expression tree. `Display` prints valid target syntax, and
//! parsing what it prints gives the same tree back (property-tested in
//! `parser.rs`).
//!
//! Pipes (`a.b|sum()`) are desugared by the parser into nested calls
//! (`sum(a.b)`): graphite-web evaluates them exactly so.

use std::fmt;

/// One node of a target expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A metric path pattern with escapes removed (`a.b.*`, `a.{x,y}`).
    Path(String),
    /// A function call.
    Call(Call),
    /// `template(inner, args...)`: `$name` substitutions inside `inner`.
    Template(Template),
    /// A quoted string; the text between the quotes, backslash escapes
    /// kept as written (graphite passes them on verbatim, so `"\1"` reaches
    /// `aliasSub` as backslash-one).
    Str(StrLit),
    /// An integer literal.
    Int(i64),
    /// A float literal (`1.5`, `1e3`) or `inf`.
    Float(f64),
    /// `true` / `false` (any case).
    Bool(bool),
    /// `None` (any case).
    None,
}

/// A quoted string literal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrLit {
    /// Text between the quotes, escapes as written.
    pub value: String,
    /// The quote character used (`'` or `"`).
    pub quote: char,
}

/// `name(args..., kw=value...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// Function name.
    pub name: String,
    /// Positional arguments (a piped left side comes first).
    pub args: Vec<Expr>,
    /// Keyword arguments in the order written.
    pub kwargs: Vec<(String, Expr)>,
    /// The call's source text, kept for `seriesByTag`, whose text is the
    /// path expression of the series it returns (graphite-web behaviour).
    /// `None` for every other function.
    pub raw: Option<String>,
}

/// `template(inner, "v1", ...)` or `template(inner, name="v", ...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    /// The templated expression (a call or a path).
    pub inner: Box<Expr>,
    /// Positional values, bound to `$1`, `$2`, ...
    pub args: Vec<Expr>,
    /// Named values, bound to `$name`.
    pub kwargs: Vec<(String, Expr)>,
}

/// Characters that end a path element unless escaped with a backslash.
pub const PATH_SYMBOLS: &str = "(){},.'\"\\|";

impl Expr {
    /// Calls `visit` on this node and every node below it, depth first.
    pub fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a Expr)) {
        visit(self);
        match self {
            Expr::Call(call) => {
                for a in &call.args {
                    a.walk(visit);
                }
                for (_, a) in &call.kwargs {
                    a.walk(visit);
                }
            }
            Expr::Template(t) => t.inner.walk(visit),
            _ => {}
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Path(p) => write_path(f, p),
            Expr::Call(call) => match &call.raw {
                Some(raw) => {
                    if let Some(piped) = piped_input(call, raw) {
                        write!(f, "{piped}|")?;
                    }
                    f.write_str(raw)
                }
                // A path that reads as a number (`01|f()`) can only be
                // piped in: as an argument it would read as that number.
                None => match call.args.split_first() {
                    Some((Expr::Path(p), rest)) if reads_as_number(p) => {
                        write_path(f, p)?;
                        write!(f, "|{}(", call.name)?;
                        write_args(f, rest, &call.kwargs)?;
                        f.write_str(")")
                    }
                    _ => {
                        write!(f, "{}(", call.name)?;
                        write_args(f, &call.args, &call.kwargs)?;
                        f.write_str(")")
                    }
                },
            },
            Expr::Template(t) => {
                write!(f, "template({}", t.inner)?;
                if !t.args.is_empty() || !t.kwargs.is_empty() {
                    f.write_str(",")?;
                    write_args(f, &t.args, &t.kwargs)?;
                }
                f.write_str(")")
            }
            Expr::Str(s) => write!(f, "{}{}{}", s.quote, s.value, s.quote),
            Expr::Int(i) => write!(f, "{i}"),
            Expr::Float(x) if x.is_infinite() && *x > 0.0 => f.write_str("inf"),
            // There is no `-inf` literal: an overflowing number is how a
            // target spells it (graphite's float() gives -inf too).
            Expr::Float(x) if x.is_infinite() => f.write_str("-1e999"),
            Expr::Float(x) => write!(f, "{x:?}"),
            Expr::Bool(b) => f.write_str(if *b { "true" } else { "false" }),
            Expr::None => f.write_str("None"),
        }
    }
}

/// The first argument of `call` when it was piped in (`a|seriesByTag(...)`):
/// `raw` is the call's own text, which graphite fetches as is, so the piped
/// series is not part of it.
fn piped_input<'a>(call: &'a Call, raw: &str) -> Option<&'a Expr> {
    let Ok(Expr::Call(own)) = super::parser::parse_target(raw) else {
        return None;
    };
    if call.args.len() > own.args.len() {
        call.args.first()
    } else {
        None
    }
}

fn write_args(f: &mut fmt::Formatter<'_>, args: &[Expr], kwargs: &[(String, Expr)]) -> fmt::Result {
    let mut first = true;
    for a in args {
        if !first {
            f.write_str(",")?;
        }
        first = false;
        write!(f, "{a}")?;
    }
    for (k, v) in kwargs {
        if !first {
            f.write_str(",")?;
        }
        first = false;
        write!(f, "{k}={v}")?;
    }
    Ok(())
}

/// Prints a path so that it parses back to the same text: symbols are
/// escaped, except braces and commas that form a valid `{a,b}` group.
fn write_path(f: &mut fmt::Formatter<'_>, path: &str) -> fmt::Result {
    let chars: Vec<char> = path.chars().collect();
    // Such a path came from an escaped dot (`1\.5`); printed plainly it
    // would read back as a number argument.
    let number_like = reads_as_number(path);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            if let Some(close) = brace_group_end(&chars, i) {
                f.write_str("{")?;
                for &inner in &chars[i + 1..close] {
                    if inner != ',' && (PATH_SYMBOLS.contains(inner) || inner == '=') {
                        write!(f, "\\{inner}")?;
                    } else {
                        write!(f, "{inner}")?;
                    }
                }
                f.write_str("}")?;
                i = close + 1;
                continue;
            }
        }
        // A dot separates elements only between two non-empty ones; any
        // other dot came from an escape and must be printed as one.
        let separator = c == '.'
            && !number_like
            && i > 0
            && i + 1 < chars.len()
            && chars[i - 1] != '.'
            && chars[i + 1] != '.';
        if !separator && (PATH_SYMBOLS.contains(c) || c == '=') {
            write!(f, "\\{c}")?;
        } else {
            write!(f, "{c}")?;
        }
        i += 1;
    }
    Ok(())
}

/// Whether `text` has the parser's number shape
/// `-?\d+(\.\d+)?([eE]-?\d+)?`.
fn reads_as_number(text: &str) -> bool {
    fn digits(s: &str) -> Option<&str> {
        let rest = s.trim_start_matches(|c: char| c.is_ascii_digit());
        (rest.len() < s.len()).then_some(rest)
    }
    let Some(mut rest) = digits(text.strip_prefix('-').unwrap_or(text)) else {
        return false;
    };
    if let Some(fraction) = rest.strip_prefix('.') {
        match digits(fraction) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    if let Some(exponent) = rest.strip_prefix(['e', 'E']) {
        match digits(exponent.strip_prefix('-').unwrap_or(exponent)) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// If `chars[open]` starts a `{a,b}` group (non-empty alternatives, no dot
/// or brace inside), the index of its closing brace.
fn brace_group_end(chars: &[char], open: usize) -> Option<usize> {
    let mut alt_len = 0;
    for (j, &c) in chars.iter().enumerate().skip(open + 1) {
        match c {
            '}' => return (alt_len > 0).then_some(j),
            ',' => {
                if alt_len == 0 {
                    return None;
                }
                alt_len = 0;
            }
            '.' | '{' => return None,
            _ => alt_len += 1,
        }
    }
    None
}
