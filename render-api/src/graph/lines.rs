//! graphite-web's `LineGraph.drawLines` and `fillAreaAndClip`: stacking,
//! area alpha and its stroke series, the clip, and each series' path in
//! the slope, staircase or connected line mode.

use crate::error::ApiError;
use crate::series::Series;

use super::line::{GSeries, LineGraph};

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::BadRequest(m.into())
}

/// A number-valued series option (`lineWidth`, `dashed`, `alpha`), as
/// Python would read the value the styling function stored.
fn option_number(s: &GSeries, key: &str) -> Option<f64> {
    let v = s.s.options.get(key)?;
    match v.as_str() {
        "True" => Some(1.0),
        "False" => Some(0.0),
        other => other.parse::<f64>().ok(),
    }
}

impl LineGraph {
    pub(super) fn draw_lines(&mut self) -> Result<(), ApiError> {
        let original_width = self.line_width;
        self.g.c.set_line_width(original_width);
        self.g.c.set_dash(&[], 0.0);
        if self.data.iter().any(|s| s.has("stacked")) {
            // sort_stacked: stacked series first, order kept otherwise
            let (stacked, rest): (Vec<GSeries>, Vec<GSeries>) = std::mem::take(&mut self.data)
                .into_iter()
                .partition(|s| s.has("stacked"));
            self.data = stacked;
            self.data.extend(rest);
        }
        if self.area_mode == "stacked" && !self.second_y_axis {
            let mut total: Vec<f64> = Vec::new();
            for s in &mut self.data {
                if s.has("drawAsInfinite") {
                    continue;
                }
                s.s.options.insert("stacked".into(), "True".into());
                for (i, v) in s.s.values.iter_mut().enumerate() {
                    if total.len() <= i {
                        total.push(0.0);
                    }
                    if let Some(x) = v {
                        let original = *x;
                        *x += total[i];
                        total[i] += original;
                    }
                }
            }
        } else if self.area_mode == "first" {
            if let Some(s) = self.data.first_mut() {
                s.s.options.insert("stacked".into(), "True".into());
            }
        } else if self.area_mode == "all" {
            for s in &mut self.data {
                if !s.has("drawAsInfinite") {
                    s.s.options.insert("stacked".into(), "True".into());
                }
            }
        }
        if let Some(a) = self.g.params.get("areaAlpha").filter(|a| a.truthy()) {
            let alpha = a.number().unwrap_or(0.5);
            let mut strokes = Vec::new();
            for s in &mut self.data {
                if s.has("stacked") {
                    s.s.options
                        .insert("alpha".into(), crate::pyfmt::float_repr(alpha));
                    let values = s.s.points().into_owned();
                    let mut copy = Series::new(
                        s.s.name.clone(),
                        s.s.start,
                        s.s.end,
                        s.s.step * s.s.values_per_point as i64,
                        values,
                        s.s.x_files_factor,
                    );
                    if s.has("secondYAxis") {
                        copy.options.insert("secondYAxis".into(), "True".into());
                    }
                    strokes.push(GSeries {
                        s: copy,
                        color: s.color.clone(),
                        x_step: s.x_step,
                    });
                }
            }
            self.data.extend(strokes);
        }
        let area = self.g.area;
        self.g.c.set_line_width(1.0);
        self.g.c.rectangle(
            area.xmin.v,
            area.ymin.v,
            area.xmax.v - area.xmin.v,
            area.ymax.v - area.ymin.v,
        );
        self.g.c.clip();
        self.g.c.set_line_width(original_width);
        self.g.c.save();
        let mut clip_restored = false;
        let null_as_zero = self.g.params.flag("drawNullAsZero", false);
        for idx in 0..self.data.len() {
            let stacked = self.data[idx].has("stacked");
            if !stacked && !clip_restored {
                clip_restored = true;
                self.g.c.restore();
            }
            if let Some(w) = option_number(&self.data[idx], "lineWidth") {
                self.g.c.set_line_width(w);
            }
            match option_number(&self.data[idx], "dashed") {
                Some(d) => self.g.c.set_dash(&[d], 1.0),
                None => self.g.c.set_dash(&[], 0.0),
            }
            let s = &self.data[idx];
            let missing = (s.s.start - self.start_time) as f64 / s.s.step.max(1) as f64;
            let start_shift = s.x_step * (missing / s.s.values_per_point.max(1) as f64);
            let mut x = area.xmin.v + start_shift + self.line_width / 2.0;
            let mut y = area.ymin.v;
            let mut start_x = x;
            let color = s.color.clone();
            if s.has("invisible") {
                self.g.set_color_alpha(&color, 0.0, true)?;
            } else {
                let alpha = option_number(s, "alpha")
                    .filter(|a| *a != 0.0)
                    .unwrap_or(1.0);
                self.g.set_color_alpha(&color, alpha, false)?;
            }
            let side = self.second_y_axis.then(|| s.has("secondYAxis"));
            let infinite = s.has("drawAsInfinite");
            let x_step = s.x_step;
            let points = s.s.points().into_owned();
            let mut nones: usize = 0;
            for (index, value) in points.iter().enumerate() {
                let mut value = value.filter(|v| !v.is_nan());
                if value.is_none() && null_as_zero {
                    value = Some(0.0);
                }
                let Some(v) = value else {
                    if nones == 0 {
                        self.g.c.line_to(x, y);
                        if stacked {
                            let from = self.y_coord(0.0, side);
                            self.fill_area_and_clip(x, y, Some(start_x), from);
                        }
                    }
                    x += x_step;
                    nones += 1;
                    continue;
                };
                let coord = self.y_coord(v, side);
                let value_is_none = coord.is_none();
                if let Some(c) = coord {
                    y = if c < 0.0 { 0.0 } else { c };
                }
                if infinite && !value_is_none && v > 0.0 {
                    self.g.c.move_to(x, area.ymax.v);
                    self.g.c.line_to(x, area.ymin.v);
                    self.g.c.stroke();
                    x += x_step;
                    continue;
                }
                if nones > 0 {
                    start_x = x;
                }
                match self.line_mode.as_str() {
                    "staircase" => {
                        if nones > 0 {
                            self.g.c.move_to(x, y);
                        } else {
                            self.g.c.line_to(x, y);
                        }
                        x += x_step;
                        self.g.c.line_to(x, y);
                    }
                    "slope" => {
                        if nones > 0 {
                            self.g.c.move_to(x, y);
                        }
                        self.g.c.line_to(x, y);
                        x += x_step;
                    }
                    _ => {
                        if nones as f64 > self.connected_limit || nones == index {
                            self.g.c.move_to(x, y);
                        }
                        self.g.c.line_to(x, y);
                        x += x_step;
                    }
                }
                nones = 0;
            }
            if stacked {
                let x_pos = if self.line_mode == "staircase" {
                    x
                } else {
                    x - x_step
                };
                let from = self.y_coord(0.0, side);
                self.fill_area_and_clip(x_pos, y, Some(start_x), from);
            } else {
                self.g.c.stroke();
            }
            self.g.c.set_line_width(original_width);
        }
        if !self.data.iter().all(|s| s.s.step > 0) {
            return Err(bad("a series has no step"));
        }
        Ok(())
    }

    /// `fillAreaAndClip(x, y, startX, areaYFrom)`: fills down to the zero
    /// line, then clips away what was filled so later areas stack above.
    fn fill_area_and_clip(&mut self, x: f64, _y: f64, start_x: Option<f64>, from: Option<f64>) {
        let a = self.g.area;
        // Python's `or`: a 0 start or zero line falls back to the area edge
        let start_x = start_x.filter(|v| *v != 0.0).unwrap_or(a.xmin.v);
        let from = from.filter(|v| *v != 0.0).unwrap_or(a.ymax.v);
        let pattern = self.g.c.copy_path();
        let c = &mut self.g.c;
        c.line_to(x, from);
        c.line_to(start_x, from);
        c.close_path();
        c.fill();
        c.append_path(&pattern);
        c.line_to(x, from);
        c.line_to(a.xmax.v, from);
        c.line_to(a.xmax.v, a.ymin.v);
        c.line_to(a.xmin.v, a.ymin.v);
        c.line_to(a.xmin.v, from);
        c.line_to(start_x, from);
        c.line_to(x, from);
        c.line_to(a.xmax.v, from);
        c.line_to(a.xmax.v, a.ymax.v);
        c.line_to(a.xmin.v, a.ymax.v);
        c.line_to(a.xmin.v, from);
        c.line_to(start_x, from);
        c.close_path();
        c.clip();
    }
}
