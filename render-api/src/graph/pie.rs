//! graphite-web's `PieGraph`: one slice per `(name, value)`, legend, and
//! percent or number labels.

use crate::error::ApiError;

use super::base::{unquote_plus, Align, Graph, VAlign};

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::BadRequest(m.into())
}

struct Slice {
    value: f64,
    percent: f64,
    color: String,
    mid_angle: f64,
}

/// `PieGraph.drawGraph(data)`.
pub fn draw(g: &mut Graph, data: &[(String, f64)]) -> Result<(), ApiError> {
    let pie_labels = g
        .params
        .text("pieLabels")
        .unwrap_or_else(|| "horizontal".into());
    let total: f64 = data.iter().map(|(_, v)| v).sum();
    if data.is_empty() {
        return g.draw_no_data();
    }
    if total == 0.0 {
        return Err(bad("the pie's values sum to zero"));
    }
    let alpha = match g.params.get("areaAlpha").filter(|a| a.truthy()) {
        Some(a) => a.number().unwrap_or(1.0),
        None => 1.0,
    };
    let mut slices: Vec<Slice> = Vec::with_capacity(data.len());
    let mut names = Vec::with_capacity(data.len());
    for (name, value) in data {
        let color = g.next_color();
        names.push((name.clone(), color.clone(), false));
        slices.push(Slice {
            value: *value,
            percent: value / total,
            color,
            mid_angle: 0.0,
        });
    }
    let size = g.font.size as f64;
    g.set_font(Some(size + size.ln().floor()));
    let fg = g.foreground.clone();
    g.set_color(&fg)?;
    if let Some(t) = g.params.text("title").filter(|t| !t.is_empty()) {
        g.draw_title(&unquote_plus(&t));
    }
    g.set_font(None);
    if !g.params.flag("hideLegend", false) && !names.is_empty() {
        g.draw_legend(names, false, false)?;
    }
    // drawSlices
    let mut theta = 3.0 * std::f64::consts::PI / 2.0;
    let half_x = (g.area.xmax.v - g.area.xmin.v) / 2.0;
    let half_y = (g.area.ymax.v - g.area.ymin.v) / 2.0;
    let x0 = g.area.xmin.v + half_x;
    let y0 = g.area.ymin.v + half_y;
    let radius = half_x.min(half_y) * 0.95;
    for s in &mut slices {
        g.set_color_alpha(&s.color, alpha, false)?;
        g.c.move_to(x0, y0);
        let phi = theta + 2.0 * std::f64::consts::PI * s.percent;
        g.c.arc(x0, y0, radius, theta, phi);
        g.c.line_to(x0, y0);
        g.c.fill();
        s.mid_angle = ((theta + phi) / 2.0).rem_euclid(2.0 * std::f64::consts::PI);
        theta = phi;
    }
    let label_color = g
        .params
        .text("valueLabelsColor")
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "black".into());
    let labels_min = g.params.num("valueLabelsMin")?.unwrap_or(5.0);
    let value_labels = g
        .params
        .text("valueLabels")
        .unwrap_or_else(|| "percent".into());
    if !matches!(value_labels.as_str(), "none" | "number" | "percent") {
        return Err(bad(format!(
            "valueLabels={value_labels} must be one of none, number, percent"
        )));
    }
    if value_labels == "none" {
        return Ok(());
    }
    g.set_font(None);
    g.set_color(&label_color)?;
    for s in &slices {
        let label = if value_labels == "percent" {
            if s.percent * 100.0 < labels_min {
                continue;
            }
            format!("%{}", crate::pyfmt::format_f(s.percent * 100.0, 2))
        } else {
            if s.value < labels_min {
                continue;
            }
            if s.value < 10.0 && s.value != s.value.trunc() {
                crate::pyfmt::format_f(s.value, 2)
            } else {
                format!("{}", s.value.trunc() as i64)
            }
        };
        let mut theta = s.mid_angle;
        let x = x0 + radius / 2.0 * theta.cos();
        let y = y0 + radius / 2.0 * theta.sin();
        if pie_labels == "rotated" {
            if theta > std::f64::consts::PI / 2.0 && theta <= 3.0 * std::f64::consts::PI / 2.0 {
                theta -= std::f64::consts::PI;
            }
            g.draw_text(
                &label,
                x,
                y,
                Align::Center,
                VAlign::Middle,
                theta.to_degrees(),
            );
        } else {
            g.draw_text(&label, x, y, Align::Center, VAlign::Middle, 0.0);
        }
    }
    Ok(())
}
