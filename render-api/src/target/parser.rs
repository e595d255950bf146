//! Hand-written recursive-descent parser for graphite targets. Pure: text in,
//! [`Expr`] or [`ParseError`] (with a 1-based column) out.
//!
//! The grammar follows graphite-web 1.1.10's pyparsing grammar
//! (`render/grammar_unsafe.py`):
//!
//! ```text
//! target     := expression EOF
//! expression := (template | call | path) { '|' call }        (pipes desugar to nesting)
//! call       := name '(' [ item { ',' item } ] ')'            (keyword items after positional ones)
//! item       := name '=' arg | arg
//! arg        := bool | number | none | string | inf | expression
//! number     := -?\d+(\.\d+)?([eE]-?\d+)?   only when followed by ',' ')' or the end
//! string     := '...' | "..."   (backslash escapes and doubled quotes kept verbatim)
//! path       := element { '.' element };  element := 1+ of (char | '\' symbol | '{' alt {',' alt} '}')
//! template   := 'template' '(' (call | path) [ ',' literals ] ')'
//! ```
//!
//! Documented differences (graphite-web errors or silently truncates where
//! this parser is stricter or more lenient): trailing text after a complete
//! target is an error here (pyparsing ignores it, so `sumSeries(a.*))`
//! renders `sumSeries(a.*)` and `f(x = 1)` renders the path `f`); calls with
//! only keyword arguments are accepted; `true.x` is a path, not an error;
//! non-ASCII characters are accepted in paths (graphite needs `UTF8_METRICS`).

use std::fmt;

use super::ast::{Call, Expr, StrLit, Template, PATH_SYMBOLS};

/// Why a target did not parse, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based character column of the problem.
    pub column: usize,
    /// What was expected or found.
    pub message: String,
    /// The target text (shortened when long).
    pub excerpt: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid target at column {}: {} (in {:?})",
            self.column, self.message, self.excerpt
        )
    }
}

impl std::error::Error for ParseError {}

/// Deepest nesting accepted; deeper targets are rejected instead of
/// overflowing the stack.
pub const MAX_DEPTH: usize = 200;

/// Parses one target expression.
pub fn parse_target(text: &str) -> Result<Expr, ParseError> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
        text,
        depth: 0,
    };
    p.skip_ws();
    if p.at_end() {
        return Err(p.error("empty target"));
    }
    let expr = p.expression()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.error(format!(
            "unexpected {:?} after the end of the target",
            p.peek_char()
        )));
    }
    Ok(expr)
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    text: &'a str,
    depth: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A character that may appear unescaped in a path element.
fn is_path_char(c: char) -> bool {
    !c.is_whitespace() && !c.is_control() && !PATH_SYMBOLS.contains(c)
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.pos, message)
    }

    fn error_at(&self, pos: usize, message: impl Into<String>) -> ParseError {
        let excerpt = if self.text.chars().count() > 200 {
            let mut e: String = self.text.chars().take(200).collect();
            e.push('…');
            e
        } else {
            self.text.to_string()
        };
        ParseError {
            column: pos + 1,
            message: message.into(),
            excerpt,
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_char(&self) -> String {
        self.peek().map(String::from).unwrap_or_default()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.pos += 1;
        }
    }

    /// Position of the next non-whitespace character from `pos`.
    fn after_ws(&self, mut pos: usize) -> usize {
        while matches!(self.chars.get(pos), Some(' ' | '\t' | '\n' | '\r')) {
            pos += 1;
        }
        pos
    }

    fn expect(&mut self, c: char) -> Result<(), ParseError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else if self.at_end() {
            Err(self.error(format!("expected {c:?} but the target ended")))
        } else {
            Err(self.error(format!("expected {c:?}, found {:?}", self.peek_char())))
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    /// `(template | call | path) { '|' call }`
    fn expression(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        self.skip_ws();
        let mut expr = if self.looking_at_template() {
            self.template()?
        } else if self.looking_at_call() {
            Expr::Call(self.call()?)
        } else {
            Expr::Path(self.path()?)
        };
        loop {
            let next = self.after_ws(self.pos);
            if self.chars.get(next) != Some(&'|') {
                break;
            }
            self.pos = next + 1;
            self.skip_ws();
            if !self.looking_at_call() {
                return Err(self.error("expected a function call after '|'"));
            }
            let mut call = self.call()?;
            call.args.insert(0, expr);
            expr = Expr::Call(call);
        }
        self.depth -= 1;
        Ok(expr)
    }

    /// An identifier followed (after optional whitespace) by `(`.
    fn looking_at_call(&self) -> bool {
        let Some(c) = self.peek() else { return false };
        if !is_ident_start(c) {
            return false;
        }
        let mut p = self.pos;
        while self.chars.get(p).is_some_and(|c| is_ident_char(*c)) {
            p += 1;
        }
        self.chars.get(self.after_ws(p)) == Some(&'(')
    }

    fn looking_at_template(&self) -> bool {
        let word: String = self.chars[self.pos..].iter().take(8).collect();
        word == "template" && self.chars.get(self.after_ws(self.pos + 8)) == Some(&'(')
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_ident_char) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn call(&mut self) -> Result<Call, ParseError> {
        let start = self.pos;
        let name = self.ident();
        if name == "template" {
            return Err(self.error_at(
                start,
                "invalid template() syntax, only string/numeric arguments are allowed",
            ));
        }
        self.expect('(')?;
        let (args, kwargs) = self.arguments(false)?;
        let raw = (name == "seriesByTag").then(|| self.chars[start..self.pos].iter().collect());
        Ok(Call {
            name,
            args,
            kwargs,
            raw,
        })
    }

    /// Arguments up to and including the closing `)`. With `literals_only`
    /// (template values) only strings and numbers are accepted.
    #[allow(clippy::type_complexity)]
    fn arguments(
        &mut self,
        literals_only: bool,
    ) -> Result<(Vec<Expr>, Vec<(String, Expr)>), ParseError> {
        let mut args = Vec::new();
        let mut kwargs: Vec<(String, Expr)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
            return Ok((args, kwargs));
        }
        loop {
            self.skip_ws();
            let item_start = self.pos;
            if let Some(name) = self.keyword_name() {
                self.skip_ws();
                let value = self.argument(literals_only)?;
                if kwargs.iter().any(|(k, _)| *k == name) {
                    return Err(
                        self.error_at(item_start, format!("keyword argument {name:?} given twice"))
                    );
                }
                kwargs.push((name, value));
            } else {
                if !kwargs.is_empty() {
                    return Err(
                        self.error_at(item_start, "positional argument after a keyword argument")
                    );
                }
                args.push(self.argument(literals_only)?);
            }
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    return Ok((args, kwargs));
                }
                None => return Err(self.error("expected ',' or ')' but the target ended")),
                Some(c) => return Err(self.error(format!("expected ',' or ')', found {c:?}"))),
            }
        }
    }

    /// `name =` at the current position: consumes it and returns the name.
    fn keyword_name(&mut self) -> Option<String> {
        let c = self.peek()?;
        if !is_ident_start(c) {
            return None;
        }
        let mut p = self.pos;
        while self.chars.get(p).is_some_and(|c| is_ident_char(*c)) {
            p += 1;
        }
        let eq = self.after_ws(p);
        if self.chars.get(eq) != Some(&'=') {
            return None;
        }
        let name = self.chars[self.pos..p].iter().collect();
        self.pos = eq + 1;
        Some(name)
    }

    fn argument(&mut self, literals_only: bool) -> Result<Expr, ParseError> {
        self.skip_ws();
        let start = self.pos;
        if let Some(quote @ ('\'' | '"')) = self.peek() {
            return Ok(Expr::Str(self.string(quote)?));
        }
        if let Some(n) = self.number() {
            return Ok(n);
        }
        if literals_only {
            return Err(self.error_at(start, "template() values must be strings or numbers"));
        }
        if let Some(k) = self.keyword_literal() {
            return Ok(k);
        }
        if self.at_end() {
            return Err(self.error("expected an argument but the target ended"));
        }
        self.expression()
    }

    /// `true`, `false`, `none`, `inf` (any case) when not followed by more
    /// path text.
    fn keyword_literal(&mut self) -> Option<Expr> {
        let mut p = self.pos;
        while self.chars.get(p).is_some_and(|c| is_ident_char(*c)) {
            p += 1;
        }
        if let Some(&next) = self.chars.get(p) {
            if is_path_char(next) || next == '.' || next == '{' || next == '\\' || next == '(' {
                return None;
            }
        }
        let word: String = self.chars[self.pos..p]
            .iter()
            .collect::<String>()
            .to_lowercase();
        let value = match word.as_str() {
            "true" => Expr::Bool(true),
            "false" => Expr::Bool(false),
            "none" => Expr::None,
            "inf" => Expr::Float(f64::INFINITY),
            _ => return None,
        };
        self.pos = p;
        Some(value)
    }

    /// A number, only when followed by `,`, `)` or the end of the target
    /// (otherwise the text is a path such as `10.foo`).
    fn number(&mut self) -> Option<Expr> {
        let start = self.pos;
        let mut p = self.pos;
        let digits = |p: &mut usize| {
            let s = *p;
            while self.chars.get(*p).is_some_and(|c| c.is_ascii_digit()) {
                *p += 1;
            }
            *p > s
        };
        if self.chars.get(p) == Some(&'-') {
            p += 1;
        }
        if !digits(&mut p) {
            return None;
        }
        let mut is_float = false;
        if self.chars.get(p) == Some(&'.') {
            let mut q = p + 1;
            if digits(&mut q) {
                p = q;
                is_float = true;
            }
        }
        if matches!(self.chars.get(p), Some('e' | 'E')) {
            let mut q = p + 1;
            if self.chars.get(q) == Some(&'-') {
                q += 1;
            }
            if digits(&mut q) {
                p = q;
                is_float = true;
            }
        }
        let follow = self.after_ws(p);
        if !matches!(self.chars.get(follow), None | Some(',' | ')')) {
            return None;
        }
        let text: String = self.chars[start..p].iter().collect();
        let value = if is_float {
            Expr::Float(text.parse().ok()?)
        } else {
            match text.parse::<i64>() {
                Ok(i) => Expr::Int(i),
                // Python ints are unbounded; past i64 keep the magnitude.
                Err(_) => Expr::Float(text.parse().ok()?),
            }
        };
        self.pos = p;
        Some(value)
    }

    /// A quoted string as pyparsing's `quotedString`: inside, any character
    /// but the quote, CR or LF; a doubled quote; or a backslash escape
    /// (`\x` must be followed by hex digits). Kept verbatim.
    fn string(&mut self, quote: char) -> Result<StrLit, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        loop {
            match self.peek() {
                None | Some('\n' | '\r') => {
                    return Err(self.error_at(start, "unterminated string"));
                }
                Some(c) if c == quote => {
                    if self.peek_at(1) == Some(quote) {
                        value.push(c);
                        value.push(c);
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                        return Ok(StrLit { value, quote });
                    }
                }
                Some('\\') => match self.peek_at(1) {
                    Some('x') => {
                        let mut q = self.pos + 2;
                        while self.chars.get(q).is_some_and(|c| c.is_ascii_hexdigit()) {
                            q += 1;
                        }
                        if q == self.pos + 2 {
                            return Err(
                                self.error("\\x in a string must be followed by hex digits")
                            );
                        }
                        value.extend(&self.chars[self.pos..q]);
                        self.pos = q;
                    }
                    Some(c) => {
                        value.push('\\');
                        value.push(c);
                        self.pos += 2;
                    }
                    None => return Err(self.error_at(start, "unterminated string")),
                },
                Some(c) => {
                    value.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// A dotted path pattern; escapes removed.
    fn path(&mut self) -> Result<String, ParseError> {
        let mut out = String::new();
        loop {
            self.path_element(&mut out)?;
            if self.peek() == Some('.') {
                out.push('.');
                self.pos += 1;
            } else {
                return Ok(out);
            }
        }
    }

    fn path_element(&mut self, out: &mut String) -> Result<(), ParseError> {
        let start = self.pos;
        loop {
            match self.peek() {
                Some('{') => self.brace_group(out)?,
                Some('\\') => self.escaped(out)?,
                Some(c) if is_path_char(c) => {
                    out.push(c);
                    self.pos += 1;
                }
                _ => break,
            }
        }
        if self.pos == start {
            return Err(match self.peek() {
                None => self.error("expected a metric path but the target ended"),
                Some(c) => self.error(format!("expected a metric path, found {c:?}")),
            });
        }
        Ok(())
    }

    fn escaped(&mut self, out: &mut String) -> Result<(), ParseError> {
        match self.peek_at(1) {
            Some(c) if PATH_SYMBOLS.contains(c) || c == '=' => {
                out.push(c);
                self.pos += 2;
                Ok(())
            }
            _ => {
                Err(self.error("a backslash in a path must escape one of ( ) { } , . ' \" \\ | ="))
            }
        }
    }

    /// `{alt,alt,...}`: alternatives of path characters, kept as written.
    fn brace_group(&mut self, out: &mut String) -> Result<(), ParseError> {
        let open = self.pos;
        out.push('{');
        self.pos += 1;
        loop {
            let alt_start = self.pos;
            loop {
                match self.peek() {
                    Some('\\') => self.escaped(out)?,
                    Some(c) if is_path_char(c) => {
                        out.push(c);
                        self.pos += 1;
                    }
                    _ => break,
                }
            }
            if self.pos == alt_start {
                return Err(self.error("empty alternative in {...}"));
            }
            match self.peek() {
                Some(',') => {
                    out.push(',');
                    self.pos += 1;
                }
                Some('}') => {
                    out.push('}');
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error_at(open, "unclosed '{' in metric path")),
            }
        }
    }

    fn template(&mut self) -> Result<Expr, ParseError> {
        self.pos += 8; // "template"
        self.expect('(')?;
        self.skip_ws();
        let inner = if self.looking_at_call() {
            Expr::Call(self.call()?)
        } else {
            Expr::Path(self.path()?)
        };
        self.skip_ws();
        let (args, kwargs) = match self.peek() {
            Some(')') => {
                self.pos += 1;
                (Vec::new(), Vec::new())
            }
            Some(',') => {
                self.pos += 1;
                let at = self.pos;
                let (args, kwargs) = self.arguments(true)?;
                if !args.is_empty() && !kwargs.is_empty() {
                    return Err(self.error_at(
                        at,
                        "template() takes either positional or keyword values, not both",
                    ));
                }
                (args, kwargs)
            }
            _ => return Err(self.error("expected ',' or ')' in template()")),
        };
        Ok(Expr::Template(Template {
            inner: Box::new(inner),
            args,
            kwargs,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn path(p: &str) -> Expr {
        Expr::Path(p.into())
    }

    fn call(name: &str, args: Vec<Expr>) -> Expr {
        Expr::Call(Call {
            name: name.into(),
            args,
            kwargs: vec![],
            raw: None,
        })
    }

    fn s(v: &str) -> Expr {
        Expr::Str(StrLit {
            value: v.into(),
            quote: '"',
        })
    }

    macro_rules! parses_to {
        ($($name:ident: $text:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(parse_target($text).unwrap(), $want, "{}", $text);
            }
        )*};
    }

    macro_rules! fails_at {
        ($($name:ident: $text:expr => $col:expr;)*) => {$(
            #[test]
            fn $name() {
                let err = parse_target($text).unwrap_err();
                assert_eq!(err.column, $col, "{}: {}", $text, err);
            }
        )*};
    }

    parses_to! {
        plain_path: "a.b.c" => path("a.b.c");
        glob_path: "a.*.c?[0-9]" => path("a.*.c?[0-9]");
        brace_alternatives: "a.{b,c}d.e" => path("a.{b,c}d.e");
        single_brace: "a.{b}" => path("a.{b}");
        escaped_symbols: "a\\(b\\).c" => path("a(b).c");
        leading_digit_path: "10.foo" => path("10.foo");
        top_level_number_is_path: "10" => path("10");
        tagged_literal_path: "a.b;x=y" => path("a.b;x=y");
        simple_call: "sumSeries(a.*)" => call("sumSeries", vec![path("a.*")]);
        spaces_everywhere: " f ( a , b ) " => call("f", vec![path("a"), path("b")]);
        numbers: "f(1, -2.5, 1e3, 2E-2)" => call("f", vec![Expr::Int(1), Expr::Float(-2.5), Expr::Float(1000.0), Expr::Float(0.02)]);
        number_like_path_arg: "f(1x, 1.5.x)" => call("f", vec![path("1x"), path("1.5.x")]);
        keywords: "f(TRUE, false, None, INF)" => call("f", vec![Expr::Bool(true), Expr::Bool(false), Expr::None, Expr::Float(f64::INFINITY)]);
        keyword_prefix_is_path: "f(true.x, nonex)" => call("f", vec![path("true.x"), path("nonex")]);
        strings_keep_escapes: r#"f('a\'b', "c""d")"# => call("f", vec![
            Expr::Str(StrLit { value: r"a\'b".into(), quote: '\'' }),
            Expr::Str(StrLit { value: r#"c""d"#.into(), quote: '"' }),
        ]);
        backref_string: r#"aliasSub(a, "(^.*$)", "\1 A")"# => call("aliasSub", vec![path("a"), s("(^.*$)"), s(r"\1 A")]);
        pipe_desugars: "a.b | f() |g(1)" => call("g", vec![call("f", vec![path("a.b")]), Expr::Int(1)]);
        pipe_inside_args: "f(a.b|g())" => call("f", vec![call("g", vec![path("a.b")])]);
        path_with_equals: "f(a.b=c)" => call("f", vec![path("a.b=c")]);
        template_kw: "template(a.$x.c, x='b')" => Expr::Template(Template {
            inner: Box::new(path("a.$x.c")),
            args: vec![],
            kwargs: vec![("x".into(), Expr::Str(StrLit { value: "b".into(), quote: '\'' }))],
        });
        template_positional: "template(f(a.$1), \"b\", 2)" => Expr::Template(Template {
            inner: Box::new(call("f", vec![path("a.$1")])),
            args: vec![s("b"), Expr::Int(2)],
            kwargs: vec![],
        });
        empty_call: "f()" => call("f", vec![]);
    }

    /// Found by `cargo fuzz` (render_target): `-inf` printed as a path.
    #[test]
    fn fuzz_negative_infinity_prints_back_to_itself() {
        let expr = parse_target("f(-990e999,8e-3, falGe)").unwrap();
        assert_eq!(
            expr,
            call(
                "f",
                vec![
                    Expr::Float(f64::NEG_INFINITY),
                    Expr::Float(0.008),
                    path("falGe")
                ]
            )
        );
        assert_eq!(parse_target(&expr.to_string()), Ok(expr));
    }

    /// Found by `cargo fuzz` (render_target): a path of escaped dots that
    /// printed as a number.
    #[test]
    fn fuzz_number_like_path_prints_back_to_itself() {
        let expr = parse_target("f(92\\.2222222222229, 22222222229, vaempl-1)").unwrap();
        assert_eq!(
            expr,
            call(
                "f",
                vec![
                    path("92.2222222222229"),
                    Expr::Int(22_222_222_229),
                    path("vaempl-1")
                ]
            )
        );
        assert_eq!(parse_target(&expr.to_string()), Ok(expr));
        for text in ["f(-1\\.5e-3)", "f(1\\.5E3,x)", "1\\.5"] {
            let expr = parse_target(text).unwrap();
            assert_eq!(parse_target(&expr.to_string()), Ok(expr), "{text}");
        }
    }

    /// Found by `cargo fuzz` (render_target): a series piped into
    /// seriesByTag was lost in print (graphite fetches the call's own text
    /// and ignores it, so the raw text stays the call's own).
    #[test]
    fn fuzz_piped_series_by_tag_prints_back_to_itself() {
        let expr = parse_target("x|\n\n\nseriesByTag('a=b.c*')").unwrap();
        let Expr::Call(c) = &expr else {
            panic!("{expr:?}")
        };
        assert_eq!(
            c.args,
            vec![
                path("x"),
                Expr::Str(StrLit {
                    value: "a=b.c*".into(),
                    quote: '\''
                })
            ]
        );
        assert_eq!(c.raw.as_deref(), Some("seriesByTag('a=b.c*')"));
        assert_eq!(expr.to_string(), "x|seriesByTag('a=b.c*')");
        assert_eq!(parse_target(&expr.to_string()), Ok(expr));
    }

    /// Found by `cargo fuzz` (render_target): a top-level path that reads
    /// as a number, piped into a call, printed as a number argument.
    #[test]
    fn fuzz_piped_number_like_path_prints_back_to_itself() {
        let expr = parse_target("01|sl(2)").unwrap();
        assert_eq!(expr, call("sl", vec![path("01"), Expr::Int(2)]));
        assert_eq!(expr.to_string(), "01|sl(2)");
        assert_eq!(parse_target(&expr.to_string()), Ok(expr));
        let nested = parse_target("-1|f()|g(x=1)").unwrap();
        assert_eq!(parse_target(&nested.to_string()), Ok(nested));
    }

    #[test]
    fn kwargs_and_raw_series_by_tag() {
        let e = parse_target("f(a, x = 1, y=g(b))").unwrap();
        let Expr::Call(c) = e else { panic!() };
        assert_eq!(c.kwargs.len(), 2);
        assert_eq!(c.kwargs[1].0, "y");
        let e = parse_target("sumSeries(seriesByTag('a=b', \"c=~d\"))").unwrap();
        let Expr::Call(c) = e else { panic!() };
        let Expr::Call(inner) = &c.args[0] else {
            panic!()
        };
        assert_eq!(inner.raw.as_deref(), Some("seriesByTag('a=b', \"c=~d\")"));
    }

    fails_at! {
        empty_target: "" => 1;
        trailing_paren: "sumSeries(a.*))" => 15;
        unclosed_call: "f(a" => 4;
        double_dot: "a..b" => 3;
        trailing_dot: "f(a.)" => 5;
        trailing_comma: "f(a,)" => 5;
        empty_alternative: "a.{b,}" => 6;
        positional_after_keyword: "f(a, x=1, b)" => 11;
        unterminated_string: "f('abc)" => 3;
        bad_escape: "a\\b" => 2;
        space_in_path: "a b" => 3;
        template_non_literal: "template(a.$x, x=b)" => 18;
        template_as_call: "f(template(a.b, c.d))" => 17;
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "f(".repeat(5000) + "a" + &")".repeat(5000);
        assert!(parse_target(&text).is_err());
    }

    fn arb_path_elem() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_][a-z0-9_*?-]{0,6}",
            "[a-z]{1,3}\\{[a-z0-9]{1,3}(,[a-z0-9*]{1,3}){0,2}\\}",
            "[a-z][a-z(),=|'\"\\\\]{0,4}",
            "x[\\[\\]0-9a-z!;:~$%^&@#+]{0,5}",
        ]
    }

    fn arb_path() -> impl Strategy<Value = String> {
        prop::collection::vec(arb_path_elem(), 1..4)
            .prop_map(|v| v.join("."))
            .prop_filter("keywords are literals in argument position", |p| {
                !["true", "false", "none", "inf"].contains(&p.to_lowercase().as_str())
            })
    }

    fn arb_string() -> impl Strategy<Value = Expr> {
        (
            prop_oneof![Just('\''), Just('"')],
            prop::collection::vec(
                prop_oneof![
                    "[a-zA-Z0-9 .*^$()\\[\\]{}|=,-]",
                    Just("\\1".to_string()),
                    Just("\\'".to_string()),
                    Just("\\\"".to_string()),
                    Just("\\x4f".to_string()),
                    Just("\\\\".to_string()),
                ],
                0..6,
            ),
        )
            .prop_map(|(quote, parts)| {
                let mut value = parts.concat();
                // The other quote character needs no escape.
                if quote == '\'' {
                    value = value.replace("\\\"", "\"");
                } else {
                    value = value.replace("\\'", "'");
                }
                Expr::Str(StrLit { value, quote })
            })
    }

    fn arb_literal() -> impl Strategy<Value = Expr> {
        prop_oneof![
            any::<i64>().prop_map(Expr::Int),
            (-1e12f64..1e12).prop_map(Expr::Float),
            any::<f64>()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(Expr::Float),
            any::<bool>().prop_map(Expr::Bool),
            Just(Expr::None),
            Just(Expr::Float(f64::INFINITY)),
            arb_string(),
        ]
    }

    fn arb_expr() -> impl Strategy<Value = Expr> {
        let leaf = arb_path().prop_map(Expr::Path);
        leaf.prop_recursive(4, 24, 4, |inner| {
            let arg = prop_oneof![inner.clone(), arb_literal()];
            prop_oneof![
                (
                    "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
                    prop::collection::vec(arg.clone(), 0..4),
                    prop::collection::vec(("[a-z_][a-z0-9_]{0,5}", arg), 0..2),
                )
                    .prop_filter("not template", |(n, _, _)| n != "template"
                        && n != "seriesByTag")
                    .prop_map(|(name, args, mut kwargs)| {
                        kwargs.dedup_by(|a, b| a.0 == b.0);
                        kwargs.sort_by(|a, b| a.0.cmp(&b.0));
                        kwargs.dedup_by(|a, b| a.0 == b.0);
                        Expr::Call(Call {
                            name,
                            args,
                            kwargs,
                            raw: None,
                        })
                    }),
                prop::collection::vec(arb_string(), 1..3).prop_map(|args| {
                    let mut c = Call {
                        name: "seriesByTag".into(),
                        args,
                        kwargs: vec![],
                        raw: None,
                    };
                    c.raw = Some(Expr::Call(c.clone()).to_string());
                    Expr::Call(c)
                }),
                (
                    prop_oneof![
                        arb_path().prop_map(Expr::Path),
                        ("f[a-z]{0,4}", prop::collection::vec(inner, 0..3)).prop_map(
                            |(name, args)| {
                                Expr::Call(Call {
                                    name,
                                    args,
                                    kwargs: vec![],
                                    raw: None,
                                })
                            }
                        ),
                    ],
                    prop::collection::vec(
                        prop_oneof![arb_string(), any::<i32>().prop_map(|i| Expr::Int(i.into()))],
                        0..3
                    ),
                )
                    .prop_map(|(inner, args)| Expr::Template(Template {
                        inner: Box::new(inner),
                        args,
                        kwargs: vec![]
                    })),
            ]
        })
    }

    proptest! {
        #[test]
        fn printed_tree_parses_back_to_itself(expr in arb_expr()) {
            let text = expr.to_string();
            let parsed = parse_target(&text);
            prop_assert_eq!(parsed.as_ref().ok(), Some(&expr), "printed as {} -> {:?}", text, parsed);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
            let _ = parse_target(&text);
        }

        #[test]
        fn target_like_text_never_panics(text in "[a-z(),.'\"\\\\|={}*0-9 -]{0,60}") {
            if let Ok(expr) = parse_target(&text) {
                // whatever parses must print to something that parses the same
                prop_assert_eq!(parse_target(&expr.to_string()).ok(), Some(expr));
            }
        }
    }
}
