//! graphite-web's `LineGraph.drawGraph`: options, legend, the y axes (one
//! or two), consolidation to the pixel width, x axis, labels and grid.
//! The series drawing itself (`drawLines`) is in [`super::lines`].

use chrono::{DateTime, FixedOffset, Offset, TimeZone};
use chrono_tz::Tz;

use crate::error::ApiError;
use crate::series::Series;

use super::axes::{choose_x_conf, find_x_times, to_seconds, Num, Tics, XConf};
use super::base::{unquote_plus, Align, Graph, VAlign};
use super::params::PVal;

/// graphite's `LEGEND_MAX_ITEMS` default.
const LEGEND_MAX_ITEMS: usize = 10;

/// A series as the line graph holds it: graphite's `TimeSeries` plus the
/// `color` and `xStep` attributes the graph sets.
pub struct GSeries {
    pub s: Series,
    pub color: String,
    pub x_step: f64,
}

impl GSeries {
    pub fn has(&self, option: &str) -> bool {
        self.s.options.contains_key(option)
    }
}

/// One y axis' finished layout.
#[derive(Clone, Debug, Default)]
pub struct YAxis {
    pub step: Option<f64>,
    pub bottom: Option<Num>,
    pub top: Option<Num>,
    pub label_values: Vec<f64>,
    pub labels: Vec<String>,
    pub label_width: f64,
}

/// Line-graph state on top of [`Graph`].
pub struct LineGraph {
    pub g: Graph,
    pub data: Vec<GSeries>,
    pub second_y_axis: bool,
    pub line_width: f64,
    pub line_mode: String,
    pub area_mode: String,
    pub connected_limit: f64,
    pub log_base: Option<f64>,
    pub minor_y: i64,
    pub start_time: i64,
    pub end_time: i64,
    pub time_range: i64,
    pub graph_width: f64,
    pub y: YAxis,
    pub y_left: YAxis,
    pub y_right: YAxis,
    pub tz: Tz,
    x_conf: Option<XConf>,
    start_dt: Option<DateTime<FixedOffset>>,
    end_dt: Option<DateTime<FixedOffset>>,
    x_scale: f64,
    /// Set once the graph has data (graphite's `hasattr(self, 'startTime')`).
    pub drawn: bool,
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::BadRequest(m.into())
}

fn safe(v: &Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// `dataLimits(data, drawNullAsZero, stacked)`.
fn data_limits(data: &[&GSeries], null_as_zero: bool, stacked: bool) -> (f64, f64) {
    let missing = data.iter().any(|s| s.s.values.iter().any(Option::is_none));
    let finite: Vec<&&GSeries> = data.iter().filter(|s| !s.has("drawAsInfinite")).collect();
    let mut ymin: Option<f64> = None;
    let mut ymax: Option<f64> = None;
    for s in &finite {
        for v in s.s.points().iter().filter_map(safe) {
            if ymin.is_none_or_gt(v) {
                ymin = Some(v);
            }
            if ymax.is_none_or_lt(v) {
                ymax = Some(v);
            }
        }
    }
    let Some(mut ymin) = ymin else {
        return (0.0, 1.0);
    };
    if ymin > 0.0 && null_as_zero && missing {
        ymin = 0.0;
    }
    let mut ymax = if stacked {
        let length = finite.iter().map(|s| s.s.values.len()).min().unwrap_or(0);
        let mut best: Option<f64> = None;
        for i in 0..length {
            let sum: f64 = finite.iter().filter_map(|s| safe(&s.s.values[i])).sum();
            if best.is_none_or_lt(sum) {
                best = Some(sum);
            }
        }
        best.unwrap_or(ymin)
    } else {
        ymax.unwrap_or(ymin)
    };
    if ymax < 0.0 && null_as_zero && missing {
        ymax = 0.0;
    }
    (ymin, ymax)
}

trait OptCmp {
    fn is_none_or_gt(&self, v: f64) -> bool;
    fn is_none_or_lt(&self, v: f64) -> bool;
}

impl OptCmp for Option<f64> {
    fn is_none_or_gt(&self, v: f64) -> bool {
        self.map_or(true, |b| v < b)
    }
    fn is_none_or_lt(&self, v: f64) -> bool {
        self.map_or(true, |b| v > b)
    }
}

impl LineGraph {
    /// `LineGraph.drawGraph` over `data`.
    pub fn draw(mut g: Graph, data: Vec<Series>, tz: Tz) -> Result<LineGraph, ApiError> {
        let log_base = match g.params.get("logBase") {
            None => None,
            Some(PVal::Str(s)) if s == "e" => Some(std::f64::consts::E),
            Some(v) => {
                let b = v.number().ok_or_else(|| {
                    bad(format!(
                        "logBase must be a number or e, not {:?}",
                        v.py_str()
                    ))
                })?;
                if b == 0.0 {
                    None
                } else if b < 1.0 {
                    g.params.set("logBase", PVal::Int(0));
                    None
                } else {
                    Some(b)
                }
            }
        };
        let minor_y = g.params.int("minorY", 1)?;
        let mut lg = LineGraph {
            g,
            data: Vec::new(),
            second_y_axis: false,
            line_width: 1.2,
            line_mode: "slope".into(),
            area_mode: "none".into(),
            connected_limit: f64::INFINITY,
            log_base,
            minor_y,
            start_time: 0,
            end_time: 0,
            time_range: 0,
            graph_width: 0.0,
            y: YAxis::default(),
            y_left: YAxis::default(),
            y_right: YAxis::default(),
            tz,
            x_conf: None,
            start_dt: None,
            end_dt: None,
            x_scale: 0.0,
            drawn: false,
        };
        let time_range = match (
            data.iter().map(|s| s.start).min(),
            data.iter().map(|s| s.end).max(),
        ) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        };
        if time_range == 0 {
            lg.g.draw_no_data()?;
            return Ok(lg);
        }
        lg.data = data
            .into_iter()
            .map(|mut s| {
                let color = s.options.remove("color").unwrap_or_default();
                GSeries {
                    s,
                    color,
                    x_step: 0.0,
                }
            })
            .collect();
        lg.second_y_axis = lg.data.iter().any(|s| s.has("secondYAxis"));
        lg.draw_graph()?;
        Ok(lg)
    }

    fn draw_graph(&mut self) -> Result<(), ApiError> {
        let p = &mut self.g.params;
        if p.flag("graphOnly", false) {
            p.set("hideLegend", PVal::Bool(true));
            p.set("hideGrid", PVal::Bool(true));
            p.set("hideAxes", PVal::Bool(true));
            p.set("hideXAxis", PVal::Bool(false));
            p.set("hideYAxis", PVal::Bool(false));
            p.set("yAxisSide", PVal::Str("left".into()));
            p.set("title", PVal::Str(String::new()));
            p.set("vtitle", PVal::Str(String::new()));
            p.set("margin", PVal::Int(0));
            self.g.margin = 0.0;
            self.g.area.xmin = Num::i(0);
            self.g.area.xmax = num_like(self.g.width);
            self.g.area.ymin = Num::i(0);
            self.g.area.ymax = num_like(self.g.height);
        }
        if !p.has("yMin") {
            if let Some(v) = p.get("min").cloned() {
                p.set("yMin", v);
            }
        }
        if !p.has("yMax") {
            if let Some(v) = p.get("max").cloned() {
                p.set("yMax", v);
            }
        }
        if !p.has("lineWidth") {
            if let Some(v) = p.get("thickness").cloned() {
                p.set("lineWidth", v);
            }
        }
        if !p.has("yAxisSide") {
            p.set("yAxisSide", PVal::Str("left".into()));
        }
        let unit = p
            .text("yUnitSystem")
            .map(|u| u.to_lowercase())
            .filter(|u| matches!(u.as_str(), "binary" | "si" | "sec" | "msec" | "none"))
            .unwrap_or_else(|| "si".into());
        p.set("yUnitSystem", PVal::Str(unit));
        if self.second_y_axis {
            p.set("yAxisSide", PVal::Str("left".into()));
        }
        if p.text("yAxisSide").as_deref() == Some("right") {
            self.g.margin = self.g.width;
        }
        self.line_width = p.num("lineWidth")?.unwrap_or(1.2);
        self.line_mode = p
            .text("lineMode")
            .unwrap_or_else(|| "slope".into())
            .to_lowercase();
        if let Some(c) = p.num("connectedLimit")? {
            self.connected_limit = c;
        }
        if !matches!(self.line_mode.as_str(), "staircase" | "slope" | "connected") {
            return Err(bad(format!(
                "Invalid line mode {:?}: use slope, staircase or connected",
                self.line_mode
            )));
        }
        self.area_mode = p
            .text("areaMode")
            .unwrap_or_else(|| "none".into())
            .to_lowercase();
        if !matches!(
            self.area_mode.as_str(),
            "none" | "first" | "all" | "stacked"
        ) {
            return Err(bad(format!(
                "Invalid area mode {:?}: use none, first, all or stacked",
                self.area_mode
            )));
        }
        let pie_mode = p
            .text("pieMode")
            .unwrap_or_else(|| "maximum".into())
            .to_lowercase();
        if !matches!(pie_mode.as_str(), "maximum" | "minimum" | "average") {
            return Err(bad(format!("Invalid pie mode {pie_mode:?}")));
        }
        if self.line_mode == "slope" && self.data.iter().any(|s| s.s.values.len() == 1) {
            self.line_mode = "staircase".into();
        }
        if self.second_y_axis {
            let p = &self.g.params;
            for s in &mut self.data {
                let side = if s.has("secondYAxis") {
                    "right"
                } else {
                    "left"
                };
                if let Some(v) = p.get(&format!("{side}Width")) {
                    s.s.options.insert("lineWidth".into(), v.py_str());
                }
                if let Some(v) = p.get(&format!("{side}Dashed")) {
                    s.s.options.insert("dashed".into(), v.py_str());
                }
                if let Some(v) = p.get(&format!("{side}Color")) {
                    s.color = v.py_str();
                }
            }
        }
        for i in 0..self.data.len() {
            if self.data[i].color.is_empty() {
                self.data[i].color = self.g.next_color();
            }
            crate::graph::colors::parse_color(&self.data[i].color, 1.0, false).map_err(bad)?;
        }
        let size = self.g.font.size as f64;
        let title_size = size + size.ln().floor();
        self.g.set_font(Some(title_size));
        let fg = self.g.foreground.clone();
        self.g.set_color(&fg)?;
        let title = self.g.params.text("title").filter(|t| !t.is_empty());
        if let Some(t) = title {
            self.g.draw_title(&unquote_plus(&t));
        }
        if let Some(t) = self.g.params.text("vtitle").filter(|t| !t.is_empty()) {
            self.draw_vtitle(&unquote_plus(&t), false);
        }
        if self.second_y_axis {
            if let Some(t) = self.g.params.text("vtitleRight").filter(|t| !t.is_empty()) {
                self.draw_vtitle(&unquote_plus(&t), true);
            }
        }
        self.g.set_font(None);

        if !self
            .g
            .params
            .flag("hideLegend", self.data.len() > LEGEND_MAX_ITEMS)
        {
            let hide_null = self.g.params.flag("hideNullFromLegend", false);
            let elements: Vec<(String, String, bool)> = self
                .data
                .iter()
                .filter(|s| !s.s.name.is_empty())
                .filter(|s| !(hide_null && s.s.points().iter().all(Option::is_none)))
                .map(|s| {
                    (
                        unquote_plus(&s.s.name),
                        s.color.clone(),
                        s.has("secondYAxis"),
                    )
                })
                .collect();
            if !elements.is_empty() {
                let unique = self.g.params.flag("uniqueLegend", false);
                self.g.draw_legend(elements, unique, self.second_y_axis)?;
            }
        }
        let hide_axes = self.g.params.flag("hideAxes", false);
        if !hide_axes && !self.g.params.flag("hideXAxis", false) {
            let asc = self.g.c.font_extents().ascent;
            self.g.area.ymax = Num::f(self.g.area.ymax.v - asc * 2.0);
        }
        self.start_time = self.data.iter().map(|s| s.s.start).min().unwrap_or(0);
        self.end_time = if self.line_mode == "staircase" {
            self.data.iter().map(|s| s.s.end).max().unwrap_or(0)
        } else {
            self.data
                .iter()
                .map(|s| s.s.end - s.s.step)
                .max()
                .unwrap_or(0)
        };
        self.time_range = self.end_time - self.start_time;
        if self.time_range <= 0 {
            return Err(bad("the series cover no time to draw"));
        }
        self.drawn = true;
        self.consolidate()?;
        self.g.header("axes");
        let (mut cur_min, mut cur_max) = (self.g.area.xmin.v, self.g.area.xmax.v);
        self.setup_y_axes()?;
        let mut rounds = 0;
        while (cur_min != self.g.area.xmin.v || cur_max != self.g.area.xmax.v) && rounds < 100 {
            self.consolidate()?;
            cur_min = self.g.area.xmin.v;
            cur_max = self.g.area.xmax.v;
            self.setup_y_axes()?;
            rounds += 1;
        }
        self.setup_x_axis()?;
        if !hide_axes {
            self.draw_labels()?;
            if !self.g.params.flag("hideGrid", false) {
                self.g.header("grid");
                self.draw_grid_lines()?;
            }
        }
        self.g.header("lines");
        self.draw_lines()
    }

    fn setup_y_axes(&mut self) -> Result<(), ApiError> {
        if self.second_y_axis {
            self.setup_two_y_axes()
        } else {
            self.setup_y_axis()
        }
    }

    fn draw_vtitle(&mut self, text: &str, right: bool) {
        let line_height = self.g.c.font_extents().height;
        let y = self.g.height / 2.0;
        if right {
            self.g.header("vtitleRight");
            let mut x = self.g.area.xmax.v - line_height;
            for line in text.split('\n') {
                self.g
                    .draw_text(line, x, y, Align::Center, VAlign::Baseline, 90.0);
                x -= line_height;
            }
            self.g.area.xmax = Num::f(x - self.g.margin - line_height);
        } else {
            self.g.header("vtitle");
            let mut x = self.g.area.xmin.v + line_height;
            for line in text.split('\n') {
                self.g
                    .draw_text(line, x, y, Align::Center, VAlign::Baseline, 270.0);
                x += line_height;
            }
            self.g.area.xmin = Num::f(x + self.g.margin + line_height);
        }
    }

    /// `getYCoord(value, side)`.
    pub fn y_coord(&self, value: f64, side: Option<bool>) -> Option<f64> {
        let axis = match side {
            Some(false) => &self.y_left,
            Some(true) => &self.y_right,
            None => &self.y,
        };
        let (highest, lowest) = if axis.label_values.is_empty() {
            (
                axis.top.map_or(0.0, |n| n.v),
                axis.bottom.map_or(0.0, |n| n.v),
            )
        } else {
            (
                axis.label_values.iter().copied().fold(f64::MIN, f64::max),
                axis.label_values.iter().copied().fold(f64::MAX, f64::min),
            )
        };
        let pixel_range = self.g.area.ymax.v - self.g.area.ymin.v;
        let (relative, range) = match self.log_base {
            Some(b) => {
                if value <= 0.0 {
                    return None;
                }
                let l = |x: f64| x.ln() / b.ln();
                (l(value) - l(lowest), l(highest) - l(lowest))
            }
            None => (value - lowest, highest - lowest),
        };
        Some(self.g.area.ymax.v - pixel_range / range * relative)
    }

    /// `consolidateDataPoints()`.
    fn consolidate(&mut self) -> Result<(), ApiError> {
        let pixels = self.g.area.xmax.v - self.g.area.xmin.v - (self.line_width + 1.0);
        self.graph_width = pixels;
        let min_x_step = self.g.params.num("minXStep")?.unwrap_or(1.0);
        let range = self.time_range as f64;
        for s in &mut self.data {
            if s.s.step <= 0 {
                continue;
            }
            let points = range / s.s.step as f64;
            let best = pixels / points;
            if best < min_x_step {
                let drawable = (pixels / min_x_step).trunc();
                if drawable <= 0.0 {
                    return Err(bad("the graph is too small to draw its series"));
                }
                let per_pixel = (points / drawable).ceil();
                s.s.consolidate(per_pixel.max(1.0) as usize);
                s.x_step = pixels * per_pixel / points;
            } else {
                s.x_step = best;
            }
        }
        Ok(())
    }

    fn divisors(&self) -> Result<Vec<i64>, ApiError> {
        let text = self
            .g
            .params
            .get("yDivisors")
            .map_or_else(|| "4,5,6".to_string(), PVal::py_str);
        text.split(',')
            .map(|d| {
                d.trim()
                    .parse::<i64>()
                    .map_err(|_| bad(format!("yDivisors must be integers, not {text:?}")))
            })
            .collect()
    }

    fn tics(&self, data: &[&GSeries], keys: [&str; 4]) -> Result<Tics, ApiError> {
        let p = &self.g.params;
        let (lo, hi) = data_limits(
            data,
            p.flag("drawNullAsZero", false),
            self.area_mode == "stacked",
        );
        let unit = p.text("yUnitSystem").unwrap_or_else(|| "si".into());
        let mut t = Tics::new(lo, hi, &unit, self.log_base)?;
        t.apply_settings(p.get(keys[0]), p.get(keys[1]), p.get(keys[2]))?;
        match p.get(keys[3]) {
            Some(step) => t.set_step(step)?,
            None => t.choose_step(&self.divisors()?, unit == "binary")?,
        }
        t.choose_limits()?;
        Ok(t)
    }

    fn finish_axis(&mut self, mut t: Tics) -> Result<YAxis, ApiError> {
        let values = t.label_values()?;
        let labels: Vec<String> = values.iter().map(|v| t.make_label(*v)).collect();
        let mut width: f64 = 0.0;
        for l in &labels {
            width = width.max(self.g.c.text_width(l));
        }
        Ok(YAxis {
            step: t.step,
            bottom: Some(t.bottom),
            top: Some(t.top),
            label_values: values,
            labels,
            label_width: width,
        })
    }

    fn setup_y_axis(&mut self) -> Result<(), ApiError> {
        let data: Vec<&GSeries> = self.data.iter().collect();
        let t = self.tics(&data, ["yMin", "yMax", "yLimit", "yStep"])?;
        if self.g.params.flag("hideAxes", false) {
            self.y = YAxis {
                step: t.step,
                bottom: Some(t.bottom),
                top: Some(t.top),
                ..YAxis::default()
            };
            return Ok(());
        }
        self.y = self.finish_axis(t)?;
        if !self.g.params.flag("hideYAxis", false) {
            if self.g.params.text("yAxisSide").as_deref() == Some("left") {
                let x_min = self.g.margin + self.y.label_width * 1.02;
                if self.g.area.xmin.v < x_min {
                    self.g.area.xmin = Num::f(x_min);
                }
            } else {
                let x_max = self.g.margin - self.y.label_width * 1.02;
                if self.g.area.xmax.v >= x_max {
                    self.g.area.xmax = Num::f(x_max);
                }
            }
        }
        Ok(())
    }

    fn setup_two_y_axes(&mut self) -> Result<(), ApiError> {
        let left: Vec<&GSeries> = self.data.iter().filter(|s| !s.has("secondYAxis")).collect();
        let right: Vec<&GSeries> = self.data.iter().filter(|s| s.has("secondYAxis")).collect();
        let tl = self.tics(&left, ["yMinLeft", "yMaxLeft", "yLimitLeft", "yStepLeft"])?;
        let tr = self.tics(
            &right,
            ["yMinRight", "yMaxRight", "yLimitRight", "yStepRight"],
        )?;
        self.y_left = self.finish_axis(tl)?;
        self.y_right = self.finish_axis(tr)?;
        let x_min = self.g.margin + self.y_left.label_width * 1.02;
        if self.g.area.xmin.v < x_min {
            self.g.area.xmin = Num::f(x_min);
        }
        let x_max = self.g.width - self.y_right.label_width * 1.02;
        if self.g.area.xmax.v >= x_max {
            self.g.area.xmax = Num::f(x_max);
        }
        Ok(())
    }

    fn setup_x_axis(&mut self) -> Result<(), ApiError> {
        let offset = |t: i64| -> Result<DateTime<FixedOffset>, ApiError> {
            let utc = DateTime::from_timestamp(t, 0).ok_or_else(|| bad("time out of range"))?;
            let fixed = self.tz.offset_from_utc_datetime(&utc.naive_utc()).fix();
            Ok(utc.with_timezone(&fixed))
        };
        self.start_dt = Some(offset(self.start_time)?);
        self.end_dt = Some(offset(self.end_time)?);
        let spp = self.time_range as f64 / self.graph_width;
        self.x_scale = self.graph_width / self.time_range as f64;
        self.x_conf = Some(choose_x_conf(spp, self.time_range));
        Ok(())
    }

    fn draw_labels(&mut self) -> Result<(), ApiError> {
        if !self.g.params.flag("hideYAxis", false) {
            if !self.second_y_axis {
                let left = self.g.params.text("yAxisSide").as_deref() == Some("left");
                let y = self.y.clone();
                for (value, label) in y.label_values.iter().zip(&y.labels) {
                    let x = if left {
                        self.g.area.xmin.v - y.label_width * 0.02
                    } else {
                        self.g.area.xmax.v + y.label_width * 0.02
                    };
                    let Some(mut yy) = self.y_coord(*value, None) else {
                        continue;
                    };
                    if yy < 0.0 {
                        yy = 0.0;
                    }
                    let align = if left { Align::Right } else { Align::Left };
                    self.g.draw_text(label, x, yy, align, VAlign::Middle, 0.0);
                }
            } else {
                let (l, r) = (self.y_left.clone(), self.y_right.clone());
                for (value, label) in l.label_values.iter().zip(&l.labels) {
                    let x = self.g.area.xmin.v - l.label_width * 0.02;
                    let Some(mut yy) = self.y_coord(*value, Some(false)) else {
                        continue;
                    };
                    if yy < 0.0 {
                        yy = 0.0;
                    }
                    self.g
                        .draw_text(label, x, yy, Align::Right, VAlign::Middle, 0.0);
                }
                for (value, label) in r.label_values.iter().zip(&r.labels) {
                    let x = self.g.area.xmax.v + r.label_width * 0.02 + 3.0;
                    let Some(mut yy) = self.y_coord(*value, Some(true)) else {
                        continue;
                    };
                    if yy < 0.0 {
                        yy = 0.0;
                    }
                    self.g
                        .draw_text(label, x, yy, Align::Left, VAlign::Middle, 0.0);
                }
            }
        }
        if !self.g.params.flag("hideXAxis", false) {
            let (Some(conf), Some(start), Some(end)) = (self.x_conf, self.start_dt, self.end_dt)
            else {
                return Ok(());
            };
            let (mut dt, delta) = find_x_times(start, conf.label_unit, conf.label_step);
            let format = self
                .g
                .params
                .text("xFormat")
                .unwrap_or_else(|| conf.format.to_string());
            let items: Vec<chrono::format::Item<'_>> =
                chrono::format::StrftimeItems::new(&format).collect();
            if items
                .iter()
                .any(|i| matches!(i, chrono::format::Item::Error))
            {
                return Err(bad(format!(
                    "xFormat {format:?} is not a valid strftime format"
                )));
            }
            let mut guard = 0;
            while dt < end && guard < 10_000 {
                let label = dt.format_with_items(items.iter()).to_string();
                let x = self.g.area.xmin.v + to_seconds(dt - start) as f64 * self.x_scale;
                let y = self.g.area.ymax.v + self.g.c.font_extents().ascent;
                self.g
                    .draw_text(&label, x, y, Align::Center, VAlign::Top, 0.0);
                dt += delta;
                guard += 1;
            }
        }
        Ok(())
    }

    fn draw_grid_lines(&mut self) -> Result<(), ApiError> {
        let left_side = self.g.area.xmin.v;
        let right_side = self.g.area.xmax.v;
        let side = if self.second_y_axis {
            Some(false)
        } else {
            None
        };
        let labels = if self.second_y_axis {
            self.y_left.label_values.clone()
        } else {
            self.y.label_values.clone()
        };
        let major = self
            .g
            .params
            .get("majorGridLineColor")
            .map_or_else(|| self.g.major_line.clone(), PVal::py_str);
        let minor = self
            .g
            .params
            .get("minorGridLineColor")
            .map_or_else(|| self.g.minor_line.clone(), PVal::py_str);
        let top_value = if self.second_y_axis {
            self.y_left.top
        } else {
            self.y.top
        }
        .map_or(0.0, |n| n.v);
        for (i, value) in labels.iter().enumerate() {
            self.g.c.set_line_width(0.4);
            self.g.set_color(&major)?;
            let Some(y) = self.y_coord(*value, side).filter(|y| *y >= 0.0) else {
                continue;
            };
            self.g.c.move_to(left_side, y);
            self.g.c.line_to(right_side, y);
            self.g.c.stroke();
            if self.minor_y >= 1 && i + 1 < labels.len() {
                let (lower, upper) = if *value <= labels[i + 1] {
                    (*value, labels[i + 1])
                } else {
                    (labels[i + 1], *value)
                };
                let distance = (upper - lower) / (1 + self.minor_y) as f64;
                for m in 0..self.minor_y {
                    self.g.c.set_line_width(0.3);
                    self.g.set_color(&minor)?;
                    let v = lower + (1 + m) as f64 * distance;
                    let factor = self.log_base.map_or(1.0, |b| b * b);
                    if v >= factor * top_value {
                        continue;
                    }
                    let Some(y) = self.y_coord(v, side).filter(|y| *y >= 0.0) else {
                        continue;
                    };
                    self.g.c.move_to(left_side, y);
                    self.g.c.line_to(right_side, y);
                    self.g.c.stroke();
                }
            }
        }
        let top = self.g.area.ymin.v;
        let bottom = self.g.area.ymax.v;
        let (Some(conf), Some(start), Some(end)) = (self.x_conf, self.start_dt, self.end_dt) else {
            return Ok(());
        };
        for (width, color, unit, step) in [
            (0.25, &minor, conf.minor_unit, conf.minor_step),
            (0.33, &major, conf.major_unit, conf.major_step),
        ] {
            self.g.c.set_line_width(width);
            self.g.set_color(color)?;
            let (mut dt, delta) = find_x_times(start, unit, step);
            let mut guard = 0;
            while dt < end && guard < 100_000 {
                let x = self.g.area.xmin.v + to_seconds(dt - start) as f64 * self.x_scale;
                if x < self.g.area.xmax.v {
                    self.g.c.move_to(x, bottom);
                    self.g.c.line_to(x, top);
                    self.g.c.stroke();
                }
                dt += delta;
                guard += 1;
            }
        }
        self.g.c.set_line_width(0.5);
        self.g.c.move_to(self.g.area.xmax.v, bottom);
        self.g.c.line_to(self.g.area.xmax.v, top);
        self.g.c.move_to(self.g.area.xmin.v, bottom);
        self.g.c.line_to(self.g.area.xmin.v, top);
        self.g.c.stroke();
        Ok(())
    }
}

/// A width or height as graphite holds it: int for PNG/SVG, float for PDF.
fn num_like(v: f64) -> Num {
    if v.fract() == 0.0 {
        Num::i(v as i64)
    } else {
        Num::f(v)
    }
}
