//! graphite's pickle render format (what graphite-web cluster peers read):
//! a list of dicts `{name, start, end, step, values, pathExpression,
//! valuesPerPoint, consolidationFunc, xFilesFactor}`, written as a pickle
//! protocol 2 stream with only lists, dicts, strings, ints, floats and
//! None — any Python unpickler reads it.

use crate::series::Series;

/// Encodes the few pickle types the render and find formats need.
#[derive(Default)]
pub struct PickleWriter {
    out: Vec<u8>,
}

impl PickleWriter {
    /// Starts a protocol 2 stream.
    pub fn new() -> PickleWriter {
        PickleWriter { out: vec![0x80, 2] }
    }

    /// A unicode string.
    pub fn str(&mut self, s: &str) {
        self.out.push(b'X');
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }

    /// An integer.
    pub fn int(&mut self, v: i64) {
        if let Ok(small) = i32::try_from(v) {
            self.out.push(b'J');
            self.out.extend_from_slice(&small.to_le_bytes());
        } else {
            self.out.push(0x8a); // LONG1
            self.out.push(8);
            self.out.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// A float.
    pub fn float(&mut self, v: f64) {
        self.out.push(b'G');
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    /// `None`.
    pub fn none(&mut self) {
        self.out.push(b'N');
    }

    /// `True` / `False`.
    pub fn bool(&mut self, v: bool) {
        self.out.push(if v { 0x88 } else { 0x89 });
    }

    /// Starts a list; items follow, then [`PickleWriter::end_list`].
    pub fn begin_list(&mut self) {
        self.out.extend_from_slice(b"](");
    }

    /// Ends a list started with [`PickleWriter::begin_list`].
    pub fn end_list(&mut self) {
        self.out.push(b'e');
    }

    /// Starts a dict; key, value, key, value ... follow, then
    /// [`PickleWriter::end_dict`].
    pub fn begin_dict(&mut self) {
        self.out.extend_from_slice(b"}(");
    }

    /// Ends a dict started with [`PickleWriter::begin_dict`].
    pub fn end_dict(&mut self) {
        self.out.push(b'u');
    }

    /// Finishes the stream.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(b'.');
        self.out
    }
}

/// The `/render?format=pickle` body.
pub fn render(series: &[Series]) -> Vec<u8> {
    let mut w = PickleWriter::new();
    w.begin_list();
    for s in series {
        w.begin_dict();
        w.str("name");
        w.str(&s.name);
        w.str("start");
        w.int(s.start);
        w.str("end");
        w.int(s.end);
        w.str("step");
        w.int(s.step);
        w.str("values");
        w.begin_list();
        for v in s.points().iter() {
            match v {
                Some(x) => w.float(*x),
                None => w.none(),
            }
        }
        w.end_list();
        w.str("pathExpression");
        w.str(&s.path_expression);
        w.str("valuesPerPoint");
        w.int(s.values_per_point as i64);
        w.str("consolidationFunc");
        w.str(s.consolidation.name());
        w.str("xFilesFactor");
        w.float(s.x_files_factor);
        w.end_dict();
    }
    w.end_list();
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_shape() {
        let s = vec![Series::new("a", 10, 20, 10, vec![None], 0.0)];
        let bytes = render(&s);
        assert_eq!(&bytes[..4], b"\x80\x02](");
        assert_eq!(bytes.last(), Some(&b'.'));
    }
}
