//! The PDF answer: one page the size cairo's PDF surface gives graphite's
//! pixel size (at its 300 dpi fallback resolution), the display list as
//! vector paths, text as filled glyph outlines (no embedded font needed).
//! Written by hand: a handful of objects, an uncompressed content stream.

use std::fmt::Write;

use super::canvas::{Canvas, El, Op};
use super::colors::Rgba;

fn n(v: f64) -> String {
    let r = (v * 1000.0).round() / 1000.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

fn path_ops(out: &mut String, path: &[El]) {
    let mut cur = (0.0, 0.0);
    for el in path {
        match *el {
            El::Move(x, y) => {
                let _ = writeln!(out, "{} {} m", n(x), n(y));
                cur = (x, y);
            }
            El::Line(x, y) => {
                let _ = writeln!(out, "{} {} l", n(x), n(y));
                cur = (x, y);
            }
            El::Quad(a, b, x, y) => {
                // a quadratic as the equivalent cubic
                let c1 = (
                    cur.0 + 2.0 / 3.0 * (a - cur.0),
                    cur.1 + 2.0 / 3.0 * (b - cur.1),
                );
                let c2 = (x + 2.0 / 3.0 * (a - x), y + 2.0 / 3.0 * (b - y));
                let _ = writeln!(
                    out,
                    "{} {} {} {} {} {} c",
                    n(c1.0),
                    n(c1.1),
                    n(c2.0),
                    n(c2.1),
                    n(x),
                    n(y)
                );
                cur = (x, y);
            }
            El::Cubic(a, b, c, d, x, y) => {
                let _ = writeln!(
                    out,
                    "{} {} {} {} {} {} c",
                    n(a),
                    n(b),
                    n(c),
                    n(d),
                    n(x),
                    n(y)
                );
                cur = (x, y);
            }
            El::Close => out.push_str("h\n"),
        }
    }
}

fn color(c: Rgba) -> (String, f64) {
    (format!("{} {} {}", n(c.r), n(c.g), n(c.b)), c.a)
}

/// The PDF document of `canvas` (page size in points).
pub fn pdf(canvas: &Canvas) -> Vec<u8> {
    let (w, h) = (canvas.width, canvas.height);
    let mut alphas: Vec<String> = Vec::new();
    let gs = |a: f64, alphas: &mut Vec<String>| -> String {
        let key = n(a);
        let i = match alphas.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                alphas.push(key);
                alphas.len() - 1
            }
        };
        format!("/A{i} gs\n")
    };
    let mut content = String::new();
    // y down like the canvas
    let _ = writeln!(content, "1 0 0 -1 0 {} cm", n(h));
    for op in &canvas.ops {
        let (path, clip) = match op {
            Op::Fill { path, clip, .. } | Op::Stroke { path, clip, .. } => (path, clip),
            Op::Header(_) => continue,
        };
        content.push_str("q\n");
        for c in clip.iter() {
            path_ops(&mut content, c);
            content.push_str("W n\n");
        }
        match op {
            Op::Fill { color: c, .. } => {
                let (rgb, a) = color(*c);
                content.push_str(&gs(a, &mut alphas));
                let _ = writeln!(content, "{rgb} rg");
                path_ops(&mut content, path);
                content.push_str("f\n");
            }
            Op::Stroke {
                color: c, style, ..
            } => {
                let (rgb, a) = color(*c);
                content.push_str(&gs(a, &mut alphas));
                let _ = writeln!(content, "{rgb} RG {} w 0 J 0 j 10 M", n(style.width));
                if let Some((d, off)) = &style.dash {
                    let list: Vec<String> = d.iter().map(|x| n(*x)).collect();
                    let _ = writeln!(content, "[{}] {} d", list.join(" "), n(*off));
                }
                path_ops(&mut content, path);
                content.push_str("S\n");
            }
            Op::Header(_) => {}
        }
        content.push_str("Q\n");
    }
    let mut ext = String::new();
    for (i, a) in alphas.iter().enumerate() {
        let _ = write!(ext, "/A{i} << /Type /ExtGState /ca {a} /CA {a} >> ");
    }
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] /Contents 4 0 R \
             /Resources << /ExtGState << {ext}>> >> >>",
            n(w),
            n(h)
        ),
        format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ),
        "<< /Producer (ferrograph) >>".to_string(),
    ];
    let mut out: Vec<u8> = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    let mut tail = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for off in offsets {
        let _ = writeln!(tail, "{off:010} 00000 n ");
    }
    let _ = write!(
        tail,
        "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend_from_slice(tail.as_bytes());
    out
}
