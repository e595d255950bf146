//! The pickle subset carbon clients send on port 2004: a list (or tuple) of
//! `(path, (timestamp, value))`. A small stack machine for the opcodes of
//! protocols 0–5 that build lists, tuples, strings, bytes, numbers, booleans
//! and None, with the memo. Every opcode that could name or call code
//! (GLOBAL, STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ, EXT*, PERSID...)
//! is refused: this is never a general unpickler. Pure: no I/O, no counters.
//!
//! Limits: the payload length is checked by the framing layer; here nesting
//! depth, element count, string and integer sizes and the memo are bounded.

use std::fmt;

/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 16;
/// Most values one message may build.
pub const MAX_VALUES: usize = 4_000_000;
/// Most values one message may build per byte of its length (plus a small
/// allowance), below [`MAX_VALUES`]: a message's work grows with its
/// length, not with how often it copies what it built. Python's pickler
/// builds at most one value per opcode byte, and a memo get of a small
/// tuple (2 bytes, 3 values) is the most a real client's message copies.
pub const MAX_VALUES_PER_BYTE: usize = 8;

/// The value bound of a message of `len` bytes.
fn value_limit(len: usize) -> usize {
    MAX_VALUES.min(len.saturating_mul(MAX_VALUES_PER_BYTE).saturating_add(1024))
}

/// A decoded value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// None.
    None,
    /// True/False.
    Bool(bool),
    /// An integer that fits i64.
    Int(i64),
    /// An integer too large for i64 (as f64).
    BigInt(f64),
    /// A float.
    Float(f64),
    /// A str.
    Str(String),
    /// bytes (or a Python 2 str).
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Value>),
    /// A tuple.
    Tuple(Vec<Value>),
}

/// Why a message was refused as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickleError {
    /// Byte offset in the payload.
    pub offset: usize,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for PickleError {}

/// One element of the top-level sequence.
#[derive(Clone, Debug, PartialEq)]
pub enum Element {
    /// `(path, timestamp, value)`; the timestamp is still a float.
    Point(String, f64, f64),
    /// Not `(path, (timestamp, value))` or numbers that do not convert
    /// (carbon skips such elements one by one).
    Bad(String),
}

enum Slot {
    Mark,
    Val(Value),
}

struct Machine<'a> {
    buf: &'a [u8],
    pos: usize,
    stack: Vec<Slot>,
    memo: Vec<Option<Value>>,
    built: usize,
    /// [`value_limit`] of this message.
    limit: usize,
}

impl<'a> Machine<'a> {
    fn err<T>(&self, message: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError {
            offset: self.pos,
            message: message.into(),
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => self.err("truncated pickle"),
        }
    }

    fn u8(&mut self) -> Result<usize, PickleError> {
        Ok(self.take(1)?[0] as usize)
    }

    fn u32le(&mut self) -> Result<usize, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn u64le(&mut self) -> Result<usize, PickleError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        usize::try_from(u64::from_le_bytes(a)).or_else(|_| self.err("length too large"))
    }

    fn line(&mut self) -> Result<&'a [u8], PickleError> {
        let rest = &self.buf[self.pos..];
        match rest.iter().position(|&c| c == b'\n') {
            Some(i) => {
                let l = &rest[..i];
                self.pos += i + 1;
                Ok(l)
            }
            None => self.err("unterminated line argument"),
        }
    }

    fn push(&mut self, v: Value) -> Result<(), PickleError> {
        self.built += 1;
        if self.built > self.limit {
            return self.err("too many values");
        }
        self.stack.push(Slot::Val(v));
        Ok(())
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        match self.stack.pop() {
            Some(Slot::Val(v)) => Ok(v),
            Some(Slot::Mark) => self.err("unexpected mark"),
            None => self.err("stack underflow"),
        }
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let Some(at) = self.stack.iter().rposition(|s| matches!(s, Slot::Mark)) else {
            return self.err("no mark");
        };
        let items = self
            .stack
            .drain(at..)
            .skip(1)
            .filter_map(|s| match s {
                Slot::Val(v) => Some(v),
                Slot::Mark => None,
            })
            .collect();
        Ok(items)
    }

    fn top_list(&mut self) -> Result<&mut Vec<Value>, PickleError> {
        let pos = self.pos;
        match self.stack.last_mut() {
            Some(Slot::Val(Value::List(l))) => Ok(l),
            _ => Err(PickleError {
                offset: pos,
                message: "append to something that is not a list".into(),
            }),
        }
    }

    /// The memo index `op` refers to: a decimal line (PUT, GET), one byte
    /// (BINPUT, BINGET), a little-endian u32 (LONG_BINPUT, LONG_BINGET), or
    /// the next free slot (MEMOIZE).
    fn memo_index(&mut self, op: u8) -> Result<usize, PickleError> {
        match op {
            b'p' | b'g' => {
                let l = self.line()?;
                match std::str::from_utf8(l)
                    .ok()
                    .and_then(|s| s.parse::<usize>().ok())
                {
                    Some(i) => Ok(i),
                    None => self.err("bad memo index"),
                }
            }
            b'q' | b'h' => self.u8(),
            b'r' | b'j' => self.u32le(),
            _ => Ok(self.memo.len()),
        }
    }

    fn memo_put(&mut self, index: usize) -> Result<(), PickleError> {
        if index > MAX_VALUES {
            return self.err("memo index too large");
        }
        let Some(Slot::Val(v)) = self.stack.last() else {
            return self.err("memo put with an empty stack");
        };
        let v = self.copy(v)?;
        self.built += node_count(&v);
        if self.memo.len() <= index {
            self.memo.resize(index + 1, None);
        }
        self.memo[index] = Some(v);
        Ok(())
    }

    fn memo_get(&mut self, index: usize) -> Result<(), PickleError> {
        let Some(Some(v)) = self.memo.get(index) else {
            return self.err(format!("memo {index} is not defined"));
        };
        let v = self.copy(v)?;
        self.push_copy(v)
    }

    /// Pushes a copy made by [`Machine::copy`], counting all its values.
    fn push_copy(&mut self, v: Value) -> Result<(), PickleError> {
        self.built += node_count(&v).saturating_sub(1);
        self.push(v)
    }

    /// A copy of a value already built (DUP, memo get), counted value by
    /// value against the message's limit: copying nested tuples over and over
    /// would otherwise grow a message exponentially in its length (a
    /// few kilobytes took minutes; found by cargo fuzz, carbon_pickle).
    fn copy(&self, v: &Value) -> Result<Value, PickleError> {
        let nodes = node_count(v);
        if self.built.saturating_add(nodes) > self.limit {
            return self.err("too many values");
        }
        Ok(v.clone())
    }
}

fn node_count(v: &Value) -> usize {
    match v {
        Value::List(items) | Value::Tuple(items) => 1 + items.iter().map(node_count).sum::<usize>(),
        _ => 1,
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::List(items) | Value::Tuple(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn int_from_le(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Int(0);
    }
    if bytes.len() <= 8 {
        let negative = bytes[bytes.len() - 1] & 0x80 != 0;
        let mut a = if negative { [0xffu8; 8] } else { [0u8; 8] };
        a[..bytes.len()].copy_from_slice(bytes);
        return Value::Int(i64::from_le_bytes(a));
    }
    // two's complement, little endian, arbitrary length
    let negative = bytes[bytes.len() - 1] & 0x80 != 0;
    let mut mag = 0.0f64;
    for &b in bytes.iter().rev() {
        let b = if negative { !b } else { b };
        mag = mag * 256.0 + f64::from(b);
    }
    Value::BigInt(if negative { -(mag + 1.0) } else { mag })
}

fn parse_int_text(text: &[u8]) -> Option<Value> {
    let t = std::str::from_utf8(text).ok()?.trim().trim_end_matches('L');
    match t {
        "00" => return Some(Value::Bool(false)),
        "01" => return Some(Value::Bool(true)),
        _ => {}
    }
    match t.parse::<i64>() {
        Ok(i) => Some(Value::Int(i)),
        Err(_) => t
            .parse::<f64>()
            .ok()
            .filter(|_| {
                t.bytes()
                    .all(|c| c.is_ascii_digit() || c == b'-' || c == b'+')
            })
            .map(Value::BigInt),
    }
}

/// Protocol 0 `STRING` argument: a quoted Python literal with escapes.
fn unquote(text: &[u8]) -> Option<Vec<u8>> {
    let t = text;
    if t.len() < 2 || t[0] != t[t.len() - 1] || !(t[0] == b'\'' || t[0] == b'"') {
        return None;
    }
    let inner = &t[1..t.len() - 1];
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *inner.get(i + 1)?;
        i += 2;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'x' => {
                let h = std::str::from_utf8(inner.get(i..i + 2)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 2;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Protocol 0 `UNICODE` argument: raw-unicode-escape (`\uXXXX`, `\UXXXXXXXX`).
fn raw_unicode(text: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(text).ok();
    let latin: String = match s {
        Some(s) => s.to_string(),
        None => text.iter().map(|&b| b as char).collect(),
    };
    let chars: Vec<char> = latin.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() && (chars[i + 1] == 'u' || chars[i + 1] == 'U') {
            let n = if chars[i + 1] == 'u' { 4 } else { 8 };
            let hex: String = chars.get(i + 2..i + 2 + n)?.iter().collect();
            out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            i += 2 + n;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Decodes one pickle payload into a value.
pub fn decode(buf: &[u8]) -> Result<Value, PickleError> {
    let mut m = Machine {
        buf,
        pos: 0,
        stack: Vec::new(),
        memo: Vec::new(),
        built: 0,
        limit: value_limit(buf.len()),
    };
    loop {
        let op = m.take(1)?[0];
        match op {
            0x80 => {
                let proto = m.u8()?;
                if proto > 5 {
                    return m.err(format!("unsupported pickle protocol {proto}"));
                }
            }
            0x95 => {
                m.take(8)?;
            }
            b'.' => {
                let v = m.pop()?;
                if depth(&v) > MAX_DEPTH {
                    return m.err("nested too deeply");
                }
                return Ok(v);
            }
            b'(' => {
                if m.stack.len() > m.limit {
                    return m.err("stack too deep");
                }
                m.stack.push(Slot::Mark)
            }
            b']' => m.push(Value::List(Vec::new()))?,
            b')' => m.push(Value::Tuple(Vec::new()))?,
            b'l' => {
                let items = m.pop_mark()?;
                m.push(Value::List(items))?
            }
            b't' => {
                let items = m.pop_mark()?;
                m.push(Value::Tuple(items))?
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(m.pop()?);
                }
                items.reverse();
                m.push(Value::Tuple(items))?
            }
            b'a' => {
                let v = m.pop()?;
                m.top_list()?.push(v);
            }
            b'e' => {
                let items = m.pop_mark()?;
                m.top_list()?.extend(items);
            }
            b'N' => m.push(Value::None)?,
            0x88 => m.push(Value::Bool(true))?,
            0x89 => m.push(Value::Bool(false))?,
            b'I' | b'L' => {
                let l = m.line()?;
                match parse_int_text(l) {
                    Some(v) => m.push(v)?,
                    None => return m.err("bad integer"),
                }
            }
            b'J' => {
                let b = m.take(4)?;
                m.push(Value::Int(i64::from(i32::from_le_bytes([
                    b[0], b[1], b[2], b[3],
                ]))))?
            }
            b'K' => {
                let v = m.u8()?;
                m.push(Value::Int(v as i64))?
            }
            b'M' => {
                let b = m.take(2)?;
                m.push(Value::Int(i64::from(u16::from_le_bytes([b[0], b[1]]))))?
            }
            0x8a => {
                let n = m.u8()?;
                let b = m.take(n)?;
                m.push(int_from_le(b))?
            }
            0x8b => {
                let n = m.u32le()?;
                if n > 1024 {
                    return m.err("integer too large");
                }
                let b = m.take(n)?;
                m.push(int_from_le(b))?
            }
            b'F' => {
                let l = m.line()?;
                match std::str::from_utf8(l)
                    .ok()
                    .and_then(|s| s.trim().parse::<f64>().ok())
                {
                    Some(f) => m.push(Value::Float(f))?,
                    None => return m.err("bad float"),
                }
            }
            b'G' => {
                let b = m.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                m.push(Value::Float(f64::from_be_bytes(a)))?
            }
            0x8c | b'X' | 0x8d => {
                let n = match op {
                    0x8c => m.u8()?,
                    b'X' => m.u32le()?,
                    _ => m.u64le()?,
                };
                let b = m.take(n)?;
                match std::str::from_utf8(b) {
                    Ok(s) => m.push(Value::Str(s.to_string()))?,
                    Err(_) => return m.err("string is not UTF-8"),
                }
            }
            b'V' => {
                let l = m.line()?;
                match raw_unicode(l) {
                    Some(s) => m.push(Value::Str(s))?,
                    None => return m.err("bad unicode literal"),
                }
            }
            b'S' => {
                let l = m.line()?;
                match unquote(l) {
                    Some(b) => m.push(Value::Bytes(b))?,
                    None => return m.err("bad string literal"),
                }
            }
            b'T' | b'U' | b'B' | b'C' | 0x8e => {
                let n = match op {
                    b'U' | b'C' => m.u8()?,
                    b'T' | b'B' => m.u32le()?,
                    _ => m.u64le()?,
                };
                let b = m.take(n)?;
                m.push(Value::Bytes(b.to_vec()))?
            }
            b'p' | b'q' | b'r' | 0x94 => {
                let i = m.memo_index(op)?;
                m.memo_put(i)?
            }
            b'g' | b'h' | b'j' => {
                let i = m.memo_index(op)?;
                m.memo_get(i)?
            }
            b'0' => {
                m.pop()?;
            }
            b'2' => {
                let Some(Slot::Val(v)) = m.stack.last() else {
                    return m.err("dup with an empty stack");
                };
                let v = m.copy(v)?;
                m.push_copy(v)?
            }
            b'1' => {
                m.pop_mark()?;
            }
            b'c' | 0x93 | b'R' | b'b' | b'i' | b'o' | 0x81 | 0x92 | 0x82..=0x84 | b'P' | b'Q' => {
                return m.err(format!(
                    "opcode 0x{op:02x} would construct or call an object; refused"
                ));
            }
            _ => return m.err(format!("unsupported pickle opcode 0x{op:02x}")),
        }
    }
}

/// Python's `float(x)` for the value types that may appear.
fn to_float(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::BigInt(f) | Value::Float(f) => Some(*f),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Str(s) => super::plaintext::py_float(s),
        Value::Bytes(b) => std::str::from_utf8(b)
            .ok()
            .and_then(super::plaintext::py_float),
        _ => None,
    }
}

fn element(v: &Value) -> Element {
    let pair = |v: &Value| match v {
        Value::Tuple(items) | Value::List(items) if items.len() == 2 => {
            Some((items[0].clone(), items[1].clone()))
        }
        _ => None,
    };
    let Some((path, datapoint)) = pair(v) else {
        return Element::Bad("element is not (path, (timestamp, value))".into());
    };
    let path = match path {
        Value::Str(s) => s,
        Value::Bytes(b) => match String::from_utf8(b) {
            Ok(s) => s,
            Err(_) => return Element::Bad("path is not UTF-8".into()),
        },
        _ => return Element::Bad("path is not a string".into()),
    };
    let Some((ts, value)) = pair(&datapoint) else {
        return Element::Bad(format!("datapoint of {path:?} is not (timestamp, value)"));
    };
    match (to_float(&ts), to_float(&value)) {
        (Some(t), Some(v)) => Element::Point(path, t, v),
        _ => Element::Bad(format!("datapoint of {path:?} is not numeric")),
    }
}

/// Decodes a carbon pickle message into its elements.
pub fn parse_message(buf: &[u8]) -> Result<Vec<Element>, PickleError> {
    match decode(buf)? {
        Value::List(items) | Value::Tuple(items) => Ok(items.iter().map(element).collect()),
        _ => Err(PickleError {
            offset: 0,
            message: "the message is not a list of (path, (timestamp, value))".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by cargo fuzz (carbon_pickle, a timeout): DUP and TUPLE2
    /// double a value per pair of bytes up to the depth limit, then each
    /// DUP or memo get copied the whole tree: a few kilobytes meant
    /// billions of copied values. Copies now count against the message's
    /// limit: at most [`MAX_VALUES_PER_BYTE`] values per byte.
    #[test]
    fn fuzz_copies_of_big_values_are_bounded() {
        let mut msg = vec![0x80, 0x02, b'N'];
        for _ in 0..15 {
            msg.extend_from_slice(&[b'2', 0x86]); // DUP, TUPLE2
        }
        msg.extend_from_slice(&[b'q', 0]); // BINPUT 0
        for _ in 0..3000 {
            msg.extend_from_slice(&[b'h', 0]); // BINGET 0
        }
        let err = decode(&msg).expect_err("refused");
        assert!(err.message.contains("too many values"), "{err}");
        let mut dups = vec![0x80, 0x02, b'N'];
        for _ in 0..15 {
            dups.extend_from_slice(&[b'2', 0x86]);
        }
        dups.extend(std::iter::repeat(b'2').take(3000));
        let err = decode(&dups).expect_err("refused");
        assert!(err.message.contains("too many values"), "{err}");
    }

    /// A real client's large message stays well inside the per-byte bound:
    /// 50,000 points sharing one memoized name, as Python's pickler writes
    /// a list of tuples whose name is one string object.
    #[test]
    fn a_large_real_message_is_inside_the_value_limit() {
        let mut msg = vec![0x80, 0x02, b']', b'q', 0, b'('];
        msg.extend_from_slice(b"X\x05\x00\x00\x00a.b.cq\x01");
        for i in 0..50_000u32 {
            if i > 0 {
                msg.extend_from_slice(b"h\x01"); // BINGET 1: the shared name
            }
            msg.push(b'J');
            msg.extend_from_slice(&(1_700_000_000 + i).to_le_bytes());
            msg.push(b'K');
            msg.push((i % 200) as u8);
            msg.extend_from_slice(&[0x86, 0x86]); // TUPLE2, TUPLE2
        }
        msg.extend_from_slice(b"e.");
        let points = parse_message(&msg).expect("a real message");
        assert_eq!(points.len(), 50_000);
    }

    // pickle.dumps([("a.b", (1700000000, 1.5)), ("c", (17, 2))], protocol=2)
    const P2: &[u8] = b"\x80\x02]q\x00(X\x03\x00\x00\x00a.bq\x01J\x00\xf1SeG?\xf8\x00\x00\x00\x00\x00\x00\x86q\x02\x86q\x03X\x01\x00\x00\x00cq\x04K\x11K\x02\x86q\x05\x86q\x06e.";
    // protocol 0 of [('a', (1, 2.5))]
    const P0: &[u8] = b"(lp0\n(Va\np1\n(I1\nF2.5\ntp2\ntp3\na.";

    #[test]
    fn protocol_2_and_0() {
        assert_eq!(
            parse_message(P2).unwrap(),
            vec![
                Element::Point("a.b".into(), 1_700_000_000.0, 1.5),
                Element::Point("c".into(), 17.0, 2.0)
            ]
        );
        assert_eq!(
            parse_message(P0).unwrap(),
            vec![Element::Point("a".into(), 1.0, 2.5)]
        );
    }

    #[test]
    fn code_is_refused() {
        // cos\nsystem\n(S'echo hi'\ntR.
        let evil = b"cos\nsystem\n(S'echo hi'\ntR.";
        let e = parse_message(evil).unwrap_err();
        assert!(e.message.contains("refused"), "{e}");
        assert!(parse_message(
            b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93."
        )
        .is_err());
    }

    #[test]
    fn bad_elements_are_individual() {
        // [('a', (1, 2)), 'junk', ('b', ('x', 1))]
        let p =
            b"(lp0\n(Va\np1\n(I1\nI2\ntp2\ntp3\naVjunk\np4\na(Vb\np5\n(Vx\np6\nI1\ntp7\ntp8\na.";
        let els = parse_message(p).unwrap();
        assert_eq!(els.len(), 3);
        assert_eq!(els[0], Element::Point("a".into(), 1.0, 2.0));
        assert!(matches!(els[1], Element::Bad(_)));
        assert!(matches!(els[2], Element::Bad(_)));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_message(&bytes);
        }

        #[test]
        fn mutations_of_a_real_pickle_never_panic(i in 0usize..200, b in proptest::num::u8::ANY) {
            let mut p = P2.to_vec();
            let at = i % p.len();
            p[at] = b;
            let _ = parse_message(&p);
            let _ = parse_message(&p[..at]);
        }
    }
}
