//! Decoding graphite's pickle answers (`format=pickle`, which graphite-web
//! sends base64-encoded through its driver) into JSON values to compare.

use serde_json::Value;

/// Decodes standard base64, skipping padding and line breaks.
pub fn base64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

/// Decodes the pickle subset graphite-web and ferrograph emit (lists, dicts,
/// str, int, float, None, bool; protocols 2-5 with memo and frames) into
/// JSON values.
pub fn unpickle(data: &[u8]) -> Result<Value, String> {
    let mut stack: Vec<Value> = Vec::new();
    let mut marks: Vec<usize> = Vec::new();
    let mut memo: Vec<Value> = Vec::new();
    let mut i = 0;
    let take = |i: &mut usize, n: usize| -> Result<&[u8], String> {
        let s = data.get(*i..*i + n).ok_or("truncated pickle")?;
        *i += n;
        Ok(s)
    };
    loop {
        let op = *data.get(i).ok_or("truncated pickle")?;
        i += 1;
        match op {
            0x80 => i += 1,
            0x95 => i += 8,
            b']' => stack.push(Value::Array(vec![])),
            b'}' => stack.push(Value::Object(Default::default())),
            b'(' => marks.push(stack.len()),
            0x94 => memo.push(stack.last().cloned().ok_or("memoize on empty stack")?),
            b'q' => {
                let idx = take(&mut i, 1)?[0] as usize;
                set_memo(&mut memo, idx, stack.last().cloned())?;
            }
            b'r' => {
                let b = take(&mut i, 4)?;
                let idx = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                set_memo(&mut memo, idx, stack.last().cloned())?;
            }
            b'h' => {
                let idx = take(&mut i, 1)?[0] as usize;
                stack.push(memo.get(idx).cloned().ok_or("bad memo index")?);
            }
            b'j' => {
                let b = take(&mut i, 4)?;
                let idx = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                stack.push(memo.get(idx).cloned().ok_or("bad memo index")?);
            }
            0x8c => {
                let n = take(&mut i, 1)?[0] as usize;
                stack.push(Value::String(
                    String::from_utf8_lossy(take(&mut i, n)?).into(),
                ));
            }
            b'X' => {
                let b = take(&mut i, 4)?;
                let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                stack.push(Value::String(
                    String::from_utf8_lossy(take(&mut i, n)?).into(),
                ));
            }
            b'J' => {
                let b = take(&mut i, 4)?;
                stack.push(Value::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])));
            }
            b'K' => stack.push(Value::from(take(&mut i, 1)?[0])),
            b'M' => {
                let b = take(&mut i, 2)?;
                stack.push(Value::from(u16::from_le_bytes([b[0], b[1]])));
            }
            0x8a => {
                let n = take(&mut i, 1)?[0] as usize;
                let b = take(&mut i, n)?;
                let mut v: i64 = 0;
                for (k, byte) in b.iter().enumerate().take(8) {
                    v |= i64::from(*byte) << (8 * k);
                }
                if n < 8 && n > 0 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Value::from(v));
            }
            b'G' => {
                let b = take(&mut i, 8)?;
                let x = f64::from_be_bytes(b.try_into().map_err(|_| "float")?);
                stack.push(serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number));
            }
            b'N' => stack.push(Value::Null),
            0x88 => stack.push(Value::Bool(true)),
            0x89 => stack.push(Value::Bool(false)),
            b'e' | b'u' => {
                let m = marks.pop().ok_or("no mark")?;
                let items: Vec<Value> = stack.drain(m..).collect();
                match stack.last_mut() {
                    Some(Value::Array(list)) if op == b'e' => list.extend(items),
                    Some(Value::Object(map)) if op == b'u' => {
                        for pair in items.chunks(2) {
                            if let [Value::String(k), v] = pair {
                                map.insert(k.clone(), v.clone());
                            }
                        }
                    }
                    _ => return Err("appends/setitems on a wrong object".into()),
                }
            }
            b'a' => {
                let v = stack.pop().ok_or("append on empty stack")?;
                match stack.last_mut() {
                    Some(Value::Array(list)) => list.push(v),
                    _ => return Err("append to a non-list".into()),
                }
            }
            b's' => {
                let v = stack.pop().ok_or("setitem")?;
                let k = stack.pop().ok_or("setitem")?;
                match (stack.last_mut(), k) {
                    (Some(Value::Object(map)), Value::String(k)) => {
                        map.insert(k, v);
                    }
                    _ => return Err("setitem on a non-dict".into()),
                }
            }
            b'.' => return stack.pop().ok_or_else(|| "empty pickle".into()),
            other => return Err(format!("unsupported pickle opcode {other:#x} at {}", i - 1)),
        }
    }
}

fn set_memo(memo: &mut Vec<Value>, idx: usize, v: Option<Value>) -> Result<(), String> {
    let v = v.ok_or("memo put on empty stack")?;
    if memo.len() <= idx {
        memo.resize(idx + 1, Value::Null);
    }
    memo[idx] = v;
    Ok(())
}
