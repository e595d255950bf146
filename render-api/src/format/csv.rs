//! graphite's CSV render format: one row per value,
//! `name,YYYY-MM-DD HH:MM:SS,value` (timestamps in the request's time zone,
//! nulls as empty fields), Excel dialect (`\r\n`, fields with `,`, `"` or
//! line breaks quoted).

use chrono::TimeZone;
use chrono_tz::Tz;

use crate::series::Series;

fn push_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// The `/render?format=csv` body.
pub fn render(series: &[Series], tz: Tz) -> String {
    let mut out = String::new();
    for s in series {
        for (i, v) in s.points().iter().enumerate() {
            let ts = s.start + i as i64 * s.step * s.values_per_point as i64;
            let when = tz
                .timestamp_opt(ts, 0)
                .single()
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default();
            push_field(&mut out, &s.name);
            out.push(',');
            out.push_str(&when);
            out.push(',');
            if let Some(x) = v {
                crate::pyfmt::push_float_repr(&mut out, *x);
            }
            out.push_str("\r\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_in_time_zone_with_quoting() {
        let s = vec![Series::new(
            "a,b",
            1_700_000_000,
            1_700_000_020,
            10,
            vec![Some(0.5), None],
            0.0,
        )];
        assert_eq!(
            render(&s, Tz::UTC),
            "\"a,b\",2023-11-14 22:13:20,0.5\r\n\"a,b\",2023-11-14 22:13:30,\r\n"
        );
        let berlin = render(&s, Tz::Europe__Berlin);
        assert!(
            berlin.starts_with("\"a,b\",2023-11-14 23:13:20,0.5"),
            "{berlin}"
        );
    }
}
