//! `--plot FILE.svg`: each series' history, its forecast trend and band
//! up to the latest crossing shown (or as far ahead as the history goes
//! back), and the threshold, as one SVG.

use std::fmt::Write as _;

use super::{Forecast, DAY};

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 540.0;
const MARGIN: f64 = 60.0;
/// Points along the forecast per series.
const SAMPLES: usize = 200;

const COLOURS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];

/// The SVG document for `forecasts`.
pub fn svg(forecasts: &[Forecast]) -> String {
    let Some(first) = forecasts.first() else {
        return empty_svg("no series");
    };
    let until = first.until;
    let start = forecasts
        .iter()
        .filter_map(|f| f.history.first().map(|(t, _)| *t))
        .min()
        .unwrap_or(until - DAY as i64);
    let shown_ahead = forecasts
        .iter()
        .filter_map(|f| f.interval.1.or(f.crosses_at))
        .max()
        .unwrap_or(until)
        .max(until + (until - start))
        .min(until + 2 * (until - start).max(DAY as i64) * 4);
    let end = shown_ahead.max(until + 1);
    // per series: history, then (day, trend, low, high) ahead
    let mut lines = Vec::new();
    let (mut y_lo, mut y_hi) = (first.threshold, first.threshold);
    for f in forecasts {
        let mut ahead = Vec::new();
        if let Some(model) = &f.fit {
            for i in 0..=SAMPLES {
                let t = until + (end - until) * i as i64 / SAMPLES as i64;
                let d = (t - until) as f64 / DAY;
                let trend = model.trend(d);
                let (lo, hi) = model.band(d);
                ahead.push((t, trend, trend + lo, trend + hi));
            }
        }
        for (_, v) in &f.history {
            y_lo = y_lo.min(*v);
            y_hi = y_hi.max(*v);
        }
        for (_, _, lo, hi) in &ahead {
            y_lo = y_lo.min(*lo);
            y_hi = y_hi.max(*hi);
        }
        lines.push((f, ahead));
    }
    if y_hi <= y_lo {
        y_hi = y_lo + 1.0;
    }
    let x =
        |t: i64| MARGIN + (t - start) as f64 / (end - start).max(1) as f64 * (WIDTH - 2.0 * MARGIN);
    let y = |v: f64| HEIGHT - MARGIN - (v - y_lo) / (y_hi - y_lo) * (HEIGHT - 2.0 * MARGIN);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for (i, (f, ahead)) in lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        if !ahead.is_empty() {
            let upper = ahead
                .iter()
                .map(|(t, _, _, hi)| format!("{:.1},{:.1}", x(*t), y(*hi)));
            let lower = ahead
                .iter()
                .rev()
                .map(|(t, _, lo, _)| format!("{:.1},{:.1}", x(*t), y(*lo)));
            let band: Vec<String> = upper.chain(lower).collect();
            let _ = writeln!(
                out,
                "<polygon points=\"{}\" fill=\"{colour}\" fill-opacity=\"0.15\" stroke=\"none\"/>",
                band.join(" ")
            );
            let trend: Vec<String> = ahead
                .iter()
                .map(|(t, v, _, _)| format!("{:.1},{:.1}", x(*t), y(*v)))
                .collect();
            let _ = writeln!(
                out,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-dasharray=\"6 4\"/>",
                trend.join(" ")
            );
        }
        let history: Vec<String> = f
            .history
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
            .collect();
        let _ = writeln!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\"/>",
            history.join(" ")
        );
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{colour}\">{}</text>",
            MARGIN + 4.0,
            MARGIN - 8.0 - 14.0 * (lines.len() - 1 - i) as f64 % (MARGIN - 8.0),
            escape(&f.series)
        );
    }
    let ty = y(first.threshold);
    let _ = write!(
        out,
        "<line x1=\"{MARGIN}\" x2=\"{:.1}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\" stroke=\"red\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" fill=\"red\" text-anchor=\"end\">threshold {}</text>\n\
         <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{MARGIN}\" y2=\"{:.1}\" stroke=\"grey\" stroke-dasharray=\"2 2\"/>\n\
         <text x=\"{MARGIN}\" y=\"{:.1}\">{}</text>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n\
         <text x=\"4\" y=\"{:.1}\">{}</text>\n<text x=\"4\" y=\"{:.1}\">{}</text>\n</svg>\n",
        WIDTH - MARGIN,
        WIDTH - MARGIN,
        ty - 4.0,
        first.threshold,
        x(until),
        x(until),
        HEIGHT - MARGIN,
        HEIGHT - MARGIN + 20.0,
        date(start),
        WIDTH - MARGIN,
        HEIGHT - MARGIN + 20.0,
        date(end),
        y(y_hi) + 4.0,
        short(y_hi),
        y(y_lo),
        short(y_lo),
    );
    out
}

fn empty_svg(message: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\">\
         <text x=\"20\" y=\"40\">{}</text></svg>\n",
        escape(message)
    )
}

fn date(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn short(v: f64) -> String {
    format!("{v:.4}")
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
