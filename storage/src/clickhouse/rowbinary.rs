//! ClickHouse's RowBinary format, the part carbon-clickhouse's tables use:
//! `String` (ULEB128 length, bytes), `Float64`, `UInt32`, `Date` (`UInt16`
//! days), all little-endian, and `Array(T)` (ULEB128 count, elements).

/// Appends RowBinary values to a buffer.
#[derive(Default)]
pub struct Writer {
    /// The encoded rows.
    pub buf: Vec<u8>,
}

impl Writer {
    /// An empty buffer with room for `bytes`.
    pub fn with_capacity(bytes: usize) -> Writer {
        Writer {
            buf: Vec::with_capacity(bytes),
        }
    }

    /// ULEB128.
    pub fn uvarint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.buf.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.buf.push(n as u8);
    }

    /// `String`.
    pub fn string(&mut self, s: &str) {
        self.uvarint(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// `UInt16` (and `Date`).
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// `UInt32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// `Float64`.
    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
}

/// Why a RowBinary answer could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("malformed RowBinary answer at byte {offset}: {what}")]
pub struct DecodeError {
    offset: usize,
    what: &'static str,
}

/// Reads RowBinary values from an answer.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads from the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// True when every byte is read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(DecodeError {
                offset: self.pos,
                what,
            }),
        }
    }

    /// ULEB128.
    pub fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1, "truncated length")?[0];
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(DecodeError {
            offset: self.pos,
            what: "length too long",
        })
    }

    /// `String`, lossily decoded as UTF-8.
    pub fn string(&mut self) -> Result<String, DecodeError> {
        let len = self.uvarint()?;
        let len = usize::try_from(len).map_err(|_| DecodeError {
            offset: self.pos,
            what: "string too long",
        })?;
        Ok(String::from_utf8_lossy(self.take(len, "truncated string")?).into_owned())
    }

    /// `UInt32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4, "truncated UInt32")?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// `Float64`.
    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        let b = self.take(8, "truncated Float64")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    /// `Array(T)`'s element count, bounded by what the buffer can hold.
    pub fn array_len(&mut self, element_bytes: usize) -> Result<usize, DecodeError> {
        let n = self.uvarint()?;
        let left = (self.buf.len() - self.pos) as u64;
        if n.saturating_mul(element_bytes as u64) > left {
            return Err(DecodeError {
                offset: self.pos,
                what: "array longer than the answer",
            });
        }
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let mut w = Writer::default();
        w.string("ch.m7");
        w.f64(1.5);
        w.u32(1_700_000_000);
        w.uvarint(300);
        w.string(&"x".repeat(200));
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.string().unwrap(), "ch.m7");
        assert_eq!(r.f64().unwrap(), 1.5);
        assert_eq!(r.u32().unwrap(), 1_700_000_000);
        assert_eq!(r.uvarint().unwrap(), 300);
        assert_eq!(r.string().unwrap().len(), 200);
        assert!(r.is_empty());
        assert!(r.u32().is_err());
    }

    #[test]
    fn lengths_beyond_the_answer_are_errors() {
        let mut r = Reader::new(&[0xff, 0xff, 0x01, b'a']);
        assert!(r.string().is_err());
        let mut r = Reader::new(&[0x05, 0, 0, 0, 0]);
        assert!(r.array_len(4).is_err());
    }
}
