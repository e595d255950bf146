//! graphite's raw render format: per series one line
//! `name,start,end,step|v1,v2,...` with Python `repr` values and `None` for
//! nulls.

use crate::series::Series;

/// The `/render?format=raw` body.
pub fn render(series: &[Series]) -> String {
    let mut out = String::new();
    for s in series {
        out.push_str(&format!("{},{},{},{}|", s.name, s.start, s.end, s.step));
        for (i, v) in s.points().iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match v {
                Some(x) => crate::pyfmt::push_float_repr(&mut out, *x),
                None => out.push_str("None"),
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_per_series() {
        let s = vec![Series::new("a.b", 10, 30, 10, vec![Some(1.0), None], 0.0)];
        assert_eq!(render(&s), "a.b,10,30,10|1.0,None\n");
    }
}
