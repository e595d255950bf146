//! The SVG answer: the display list as SVG paths (grouped by graphite's
//! `encodeHeader` names, `<g class="graphite">` like cairo's output after
//! graphite's rewriting) and graphite-web's `<script>` with
//! `metadata = {...}`, which clients read for the layout.

use std::collections::HashMap;
use std::fmt::Write;

use crate::pyfmt::float_repr;

use super::axes::Num;
use super::base::Graph;
use super::canvas::{Canvas, Clip, El, Op};
use super::colors::Rgba;
use super::line::LineGraph;
use super::params::PVal;

/// Python `json.dumps` of a float.
fn js_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        out.push_str(&float_repr(v));
    }
}

fn js_num(out: &mut String, n: Num) {
    if n.int && n.v.is_finite() && n.v.fract() == 0.0 {
        let _ = write!(out, "{}", n.v as i64);
    } else {
        js_float(out, n.v);
    }
}

fn js_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::String(s.to_string()).to_string());
}

fn js_pval(out: &mut String, v: &PVal) {
    match v {
        PVal::Int(i) => {
            let _ = write!(out, "{i}");
        }
        PVal::Float(f) => js_float(out, *f),
        PVal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        PVal::Str(s) => js_str(out, s),
    }
}

/// A series option as Python held it: `True`, numbers, or a string.
fn js_option(out: &mut String, v: &str) {
    match v {
        "True" => out.push_str("true"),
        "False" => out.push_str("false"),
        _ => {
            if let Ok(i) = v.parse::<i64>() {
                let _ = write!(out, "{i}");
            } else if v.parse::<f64>().is_ok_and(|f| f.is_finite()) {
                out.push_str(v);
            } else {
                js_str(out, v);
            }
        }
    }
}

fn js_list_f(out: &mut String, values: &[f64]) {
    out.push('[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        js_float(out, *v);
    }
    out.push(']');
}

/// graphite-web's `metaData` for a line graph (empty for pies and "No
/// Data"), in its key order and `json.dumps` separators.
pub fn metadata(lg: Option<&LineGraph>) -> String {
    let Some(lg) = lg.filter(|l| l.drawn) else {
        return "{}".into();
    };
    let g: &Graph = &lg.g;
    let mut o = String::new();
    let _ = write!(
        o,
        "{{\"x\": {{\"start\": {}, \"end\": {}}}, \"options\": {{\"lineWidth\": ",
        lg.start_time, lg.end_time
    );
    js_float(&mut o, lg.line_width);
    o.push_str("}, \"font\": {\"name\": ");
    js_pval(&mut o, &g.font.name);
    let _ = write!(o, ", \"size\": {}, \"bold\": ", g.font.size);
    js_pval(&mut o, &g.font.bold);
    o.push_str(", \"italic\": ");
    js_pval(&mut o, &g.font.italic);
    o.push_str("}, \"area\": {");
    for (i, (k, v)) in [
        ("xmin", g.area.xmin),
        ("xmax", g.area.xmax),
        ("ymin", g.area.ymin),
        ("ymax", g.area.ymax),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            o.push_str(", ");
        }
        let _ = write!(o, "\"{k}\": ");
        js_num(&mut o, v);
    }
    o.push_str("}, \"series\": [");
    let mut first = true;
    for s in lg.data.iter().filter(|s| !s.has("stacked")) {
        if !first {
            o.push_str(", ");
        }
        first = false;
        o.push_str("{\"name\": ");
        js_str(&mut o, &s.s.name);
        let _ = write!(
            o,
            ", \"start\": {}, \"end\": {}, \"step\": {}, \"valuesPerPoint\": {}, \"color\": ",
            s.s.start, s.s.end, s.s.step, s.s.values_per_point
        );
        js_str(&mut o, &s.color);
        // graphite's json encoder iterates the series: consolidated points
        o.push_str(", \"data\": [");
        for (i, v) in s.s.points().iter().enumerate() {
            if i > 0 {
                o.push_str(", ");
            }
            match v {
                Some(x) => js_float(&mut o, *x),
                None => o.push_str("null"),
            }
        }
        o.push_str("], \"options\": {");
        for (i, (k, v)) in s.s.options.iter().enumerate() {
            if i > 0 {
                o.push_str(", ");
            }
            js_str(&mut o, k);
            o.push_str(": ");
            js_option(&mut o, v);
        }
        o.push_str("}}");
    }
    o.push(']');
    if !lg.second_y_axis {
        o.push_str(", \"y\": {\"top\": ");
        match lg.y.top {
            Some(t) => js_num(&mut o, t),
            None => o.push_str("null"),
        }
        o.push_str(", \"bottom\": ");
        match lg.y.bottom {
            Some(b) => js_num(&mut o, b),
            None => o.push_str("null"),
        }
        o.push_str(", \"step\": ");
        match lg.y.step {
            Some(s) => js_float(&mut o, s),
            None => o.push_str("null"),
        }
        o.push_str(", \"labels\": [");
        for (i, l) in lg.y.labels.iter().enumerate() {
            if i > 0 {
                o.push_str(", ");
            }
            js_str(&mut o, l);
        }
        o.push_str("], \"labelValues\": ");
        js_list_f(&mut o, &lg.y.label_values);
        o.push('}');
    }
    o.push('}');
    o
}

fn rgb(c: Rgba) -> String {
    let b = |v: f64| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    format!("rgb({},{},{})", b(c.r), b(c.g), b(c.b))
}

fn n(v: f64) -> String {
    let r = (v * 1000.0).round() / 1000.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

/// SVG path data.
pub fn path_data(path: &[El]) -> String {
    let mut d = String::new();
    for el in path {
        let _ = match *el {
            El::Move(x, y) => write!(d, "M {} {} ", n(x), n(y)),
            El::Line(x, y) => write!(d, "L {} {} ", n(x), n(y)),
            El::Quad(a, b, x, y) => write!(d, "Q {} {} {} {} ", n(a), n(b), n(x), n(y)),
            El::Cubic(a, b, c, e, x, y) => write!(
                d,
                "C {} {} {} {} {} {} ",
                n(a),
                n(b),
                n(c),
                n(e),
                n(x),
                n(y)
            ),
            El::Close => write!(d, "Z "),
        };
    }
    d.trim_end().to_string()
}

/// The whole SVG document.
pub fn svg(canvas: &Canvas, width: u32, height: u32, meta: &str) -> Vec<u8> {
    let mut defs = String::new();
    let mut body = String::new();
    let mut clip_ids: HashMap<*const Vec<Vec<El>>, String> = HashMap::new();
    let mut clip_attr = |clip: &Clip, defs: &mut String| -> String {
        if clip.is_empty() {
            return String::new();
        }
        let key = std::sync::Arc::as_ptr(clip);
        if let Some(id) = clip_ids.get(&key) {
            return format!(" clip-path=\"url(#{id})\"");
        }
        // nested clipPaths intersect the successive clip paths
        let mut parent: Option<String> = None;
        for (i, p) in clip.iter().enumerate() {
            let id = format!("clip{}_{}", clip_ids.len(), i);
            let via = parent
                .as_ref()
                .map(|p| format!(" clip-path=\"url(#{p})\""))
                .unwrap_or_default();
            let _ = writeln!(
                defs,
                "<clipPath id=\"{id}\"{via}><path d=\"{}\" clip-rule=\"nonzero\"/></clipPath>",
                path_data(p)
            );
            parent = Some(id);
        }
        let id = parent.unwrap_or_default();
        clip_ids.insert(key, id.clone());
        format!(" clip-path=\"url(#{id})\"")
    };
    let mut groups = 0;
    for op in &canvas.ops {
        match op {
            Op::Fill { path, color, clip } => {
                let c = clip_attr(clip, &mut defs);
                let _ = writeln!(
                    body,
                    "<path style=\"stroke:none;fill-rule:nonzero;fill:{};fill-opacity:{};\" d=\"{}\"{c}/>",
                    rgb(*color),
                    n(color.a),
                    path_data(path)
                );
            }
            Op::Stroke {
                path,
                color,
                style,
                clip,
            } => {
                let c = clip_attr(clip, &mut defs);
                let dash = match &style.dash {
                    Some((d, off)) => format!(
                        "stroke-dasharray:{};stroke-dashoffset:{};",
                        d.iter().map(|x| n(*x)).collect::<Vec<_>>().join(","),
                        n(*off)
                    ),
                    None => String::new(),
                };
                let _ = writeln!(
                    body,
                    "<path style=\"fill:none;stroke-width:{};stroke-linecap:butt;stroke-linejoin:miter;stroke:{};stroke-opacity:{};stroke-miterlimit:10;{dash}\" d=\"{}\"{c}/>",
                    n(style.width),
                    rgb(*color),
                    n(color.a),
                    path_data(path)
                );
            }
            Op::Header(name) => {
                if groups > 0 {
                    body.push_str("</g>");
                }
                let _ = write!(body, "<g class=\"{name}\">");
                groups += 1;
            }
        }
    }
    if groups > 0 {
        body.push_str("</g>");
    }
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"{width}px\" height=\"{height}px\" \
         viewBox=\"0 0 {width} {height}\" version=\"1.1\">\n<defs>\n{defs}</defs>\n\
         <g class=\"graphite\">\n{body}</g>\n<script>\n  <![CDATA[\n    metadata = {meta}\n  ]]>\n</script>\n</svg>"
    );
    out.into_bytes()
}
