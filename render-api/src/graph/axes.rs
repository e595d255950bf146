//! graphite-web's axis arithmetic (`glyph.py`): the y axis' nice steps,
//! limits, unit prefixes and labels (`_LinearAxisTics`, `_LogAxisTics`,
//! `format_units`) and the x axis' grid/label configurations per
//! seconds-per-pixel (`xAxisConfigs`, `find_x_times`).

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Timelike};

use crate::error::ApiError;
use crate::pyfmt::{format_f, format_g};

use super::params::PVal;

/// A number that remembers whether Python held it as an int (graphite's
/// SVG metadata prints `10` and `10.0` differently).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Num {
    pub v: f64,
    pub int: bool,
}

impl Num {
    pub fn i(v: i64) -> Num {
        Num {
            v: v as f64,
            int: true,
        }
    }
    pub fn f(v: f64) -> Num {
        Num { v, int: false }
    }
    /// A parameter's number, typed as given (`bool` counts as int).
    pub fn of(p: &PVal) -> Option<Num> {
        match p {
            PVal::Int(i) => Some(Num::i(*i)),
            PVal::Bool(b) => Some(Num::i(*b as i64)),
            PVal::Float(f) => Some(Num::f(*f)),
            PVal::Str(_) => None,
        }
    }
}

/// `EPSILON` of glyph.py.
const EPSILON: f64 = 0.0001;

fn graph_error(m: impl Into<String>) -> ApiError {
    ApiError::BadRequest(m.into())
}

fn check_finite(v: f64, name: &str) -> Result<f64, ApiError> {
    if v.is_nan() {
        Err(graph_error(format!("Encountered NaN {name}")))
    } else if v.is_infinite() {
        Err(graph_error(format!("Encountered infinite {name}")))
    } else {
        Ok(v)
    }
}

/// `UnitSystems`.
pub fn unit_system(name: &str) -> &'static [(&'static str, f64)] {
    const K: f64 = 1024.0;
    match name {
        "binary" => &[
            ("Pi", K * K * K * K * K),
            ("Ti", K * K * K * K),
            ("Gi", K * K * K),
            ("Mi", K * K),
            ("Ki", K),
        ],
        "sec" => &[
            ("Y", 31_536_000.0),
            ("M", 2_592_000.0),
            ("D", 86_400.0),
            ("H", 3_600.0),
            ("m", 60.0),
        ],
        "msec" => &[
            ("Y", 31_536_000_000.0),
            ("M", 2_592_000_000.0),
            ("D", 86_400_000.0),
            ("H", 3_600_000.0),
            ("m", 60_000.0),
            ("s", 1_000.0),
        ],
        "none" => &[],
        _ => &[("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)],
    }
}

/// `format_units(v, step, system)`.
pub fn format_units(v: f64, step: Option<f64>, system: &str) -> (f64, &'static str) {
    for (prefix, size) in unit_system(system) {
        let ok = v.abs() >= *size && step.map_or(true, |s| s >= *size);
        if ok {
            let mut v2 = v / size;
            if (v2 - v2.floor()) < 0.00000000001 && v > 1.0 {
                v2 = v2.floor();
            }
            return (v2, prefix);
        }
    }
    let mut v = v;
    if (v - v.floor()) < 0.00000000001 && v > 1.0 {
        v = v.floor();
    }
    (v, "")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Source {
    Data,
    Min,
    Max,
    Extremum,
    Limit,
}

/// One y axis: `_LinearAxisTics` or, with `log_base`, `_LogAxisTics`.
#[derive(Clone, Debug)]
pub struct Tics {
    min: Num,
    min_src: Source,
    max: Num,
    max_src: Source,
    axis_limit: Option<f64>,
    unit_system: String,
    log_base: Option<f64>,
    binary: bool,
    /// Step between labels (`None` on a log axis).
    pub step: Option<f64>,
    pub bottom: Num,
    pub top: Num,
    pub span: f64,
}

impl Tics {
    pub fn new(
        min: f64,
        max: f64,
        unit_system: &str,
        log_base: Option<f64>,
    ) -> Result<Tics, ApiError> {
        if let Some(b) = log_base {
            if b <= 1.0 {
                return Err(graph_error("Logarithmic base must be greater than one"));
            }
            check_finite(b, "log base")?;
        }
        Ok(Tics {
            min: Num::f(check_finite(min, "data value")?),
            min_src: Source::Data,
            max: Num::f(check_finite(max, "data value")?),
            max_src: Source::Data,
            axis_limit: None,
            unit_system: unit_system.to_string(),
            log_base,
            binary: false,
            step: None,
            bottom: Num::f(0.0),
            top: Num::f(0.0),
            span: 0.0,
        })
    }

    fn choose_delta(x: f64) -> f64 {
        if x.abs() < 1.0e-9 {
            1.0
        } else {
            0.1 * x.abs()
        }
    }

    fn reconcile_limits(&mut self) -> Result<(), ApiError> {
        if self.min.v < self.max.v {
            return Ok(());
        }
        let min_fixed = self.min_src == Source::Min;
        let max_fixed = matches!(self.max_src, Source::Max | Source::Limit);
        if min_fixed && max_fixed {
            return Err(graph_error("The axis min must be less than the axis max"));
        } else if min_fixed {
            self.max = Num::f(self.min.v + Self::choose_delta(self.min.v));
        } else if max_fixed {
            self.min = Num::f(self.max.v - Self::choose_delta(self.max.v));
        } else {
            let delta = Self::choose_delta(self.min.v.abs().max(self.max.v.abs()));
            let average = (self.min.v + self.max.v) / 2.0;
            self.min = Num::f(average - delta);
            self.max = Num::f(average + delta);
        }
        Ok(())
    }

    /// `applySettings(axisMin, axisMax, axisLimit)`.
    pub fn apply_settings(
        &mut self,
        axis_min: Option<&PVal>,
        axis_max: Option<&PVal>,
        axis_limit: Option<&PVal>,
    ) -> Result<(), ApiError> {
        let num = |p: &PVal, what: &str| {
            Num::of(p).ok_or_else(|| {
                graph_error(format!("{what} must be a number, not {:?}", p.py_str()))
            })
        };
        if let Some(p) = axis_min {
            let n = num(p, "yMin")?;
            if !n.v.is_nan() {
                self.min_src = Source::Min;
                check_finite(n.v, "axis min")?;
                self.min = n;
            }
        }
        match axis_max {
            Some(PVal::Str(s)) if s == "max" => self.max_src = Source::Extremum,
            Some(p) => {
                let n = num(p, "yMax")?;
                if !n.v.is_nan() {
                    self.max_src = Source::Max;
                    check_finite(n.v, "axis max")?;
                    self.max = n;
                }
            }
            None => {}
        }
        match axis_limit {
            None => self.axis_limit = None,
            Some(p) => {
                let n = num(p, "yLimit")?;
                if n.v.is_nan() {
                    self.axis_limit = None;
                } else if n.v < self.max.v {
                    self.max = Num {
                        v: check_finite(n.v, "axis limit")?,
                        int: n.int,
                    };
                    self.max_src = Source::Limit;
                    self.axis_limit = None;
                } else if n.v.is_infinite() {
                    self.axis_limit = None;
                } else {
                    self.axis_limit = Some(n.v);
                }
            }
        }
        self.reconcile_limits()
    }

    /// `setStep(step)`.
    pub fn set_step(&mut self, step: &PVal) -> Result<(), ApiError> {
        if self.log_base.is_some() {
            self.step = None;
            return Ok(());
        }
        let s = step.number().ok_or_else(|| {
            graph_error(format!("yStep must be a number, not {:?}", step.py_str()))
        })?;
        self.step = Some(check_finite(s, "axis step")?);
        Ok(())
    }

    fn compute_slop(&self, step: f64, divisor: f64) -> Option<f64> {
        let bottom = step * (self.min.v / step + EPSILON).floor();
        let top = bottom + step * divisor;
        if top >= self.max.v - EPSILON * step {
            Some((top - self.max.v).max(self.min.v - bottom))
        } else {
            None
        }
    }

    /// `chooseStep(divisors, binary)`.
    pub fn choose_step(&mut self, divisors: &[i64], binary: bool) -> Result<(), ApiError> {
        if self.log_base.is_some() {
            self.step = None;
            return Ok(());
        }
        self.binary = binary;
        if divisors.iter().any(|d| *d < 1) {
            return Err(graph_error("Divisors must be greater than or equal to one"));
        }
        let (Some(dmax), Some(dmin)) = (divisors.iter().max(), divisors.iter().min()) else {
            return Err(graph_error("yDivisors is empty"));
        };
        let (dmax, dmin) = (*dmax as f64, *dmin as f64);
        if self.min.v == self.max.v {
            if self.min.v == 0.0 {
                self.max = Num::f(1.0);
            } else if self.min.v < 0.0 {
                self.min = Num::f(self.min.v * 1.1);
                self.max = Num::f(self.max.v * 0.9);
            } else {
                self.min = Num::f(self.min.v * 0.9);
                self.max = Num::f(self.max.v * 1.1);
            }
        }
        let variance = self.max.v - self.min.v;
        let min_step = check_finite(variance / dmax, "value")?;
        if min_step <= 0.0 {
            return Err(graph_error("the y axis has no range"));
        }
        let (base, mantissas): (f64, &[f64]) = if binary {
            (2.0, &[1.0])
        } else {
            (10.0, &[1.0, 2.0, 5.0])
        };
        let mut exponent = if binary {
            (min_step.ln() / 2f64.ln() - EPSILON).floor()
        } else {
            (min_step.log10() - EPSILON).floor()
        };
        let mut best: Option<(f64, f64)> = None;
        // the candidate steps grow without end; the slop bound stops them
        'steps: for _ in 0..2000 {
            let multiplier = base.powf(exponent);
            for m in mantissas {
                let step = m * multiplier;
                if step < min_step * (1.0 - EPSILON) {
                    continue;
                }
                if let Some((slop, _)) = best {
                    if step * dmin >= 2.0 * slop + variance {
                        break 'steps;
                    }
                }
                for d in divisors {
                    if let Some(slop) = self.compute_slop(step, *d as f64) {
                        if best.is_none_or_gt(slop) {
                            best = Some((slop, step));
                        }
                    }
                }
            }
            exponent += 1.0;
        }
        self.step = best.map(|(_, s)| s);
        Ok(())
    }

    /// `chooseLimits()`.
    pub fn choose_limits(&mut self) -> Result<(), ApiError> {
        if let Some(base) = self.log_base {
            if self.min.v <= 0.0 {
                return Err(graph_error(
                    "Logarithmic scale specified with a dataset with a minimum value less \
                     than or equal to zero",
                ));
            }
            self.bottom = Num::f(base.powf((self.min.v.ln() / base.ln()).floor()));
            self.top = Num::f(base.powf((self.max.v.ln() / base.ln()).ceil()));
            self.span = self.top.v - self.bottom.v;
            if self.span == 0.0 {
                self.top = Num::f(self.top.v * base);
                self.span = self.top.v - self.bottom.v;
            }
            return Ok(());
        }
        let step = self
            .step
            .ok_or_else(|| graph_error("no y axis step could be chosen"))?;
        self.bottom = if self.min_src == Source::Data {
            Num::f(step * (self.min.v / step + EPSILON).floor())
        } else {
            self.min
        };
        if self.max_src == Source::Data {
            self.top = Num::f(step * (self.max.v / step - EPSILON).ceil());
            if let Some(limit) = self.axis_limit {
                if self.top.v > limit + EPSILON * step {
                    self.top = Num::f(limit);
                }
            }
        } else {
            self.top = self.max;
        }
        self.span = self.top.v - self.bottom.v;
        if self.span == 0.0 {
            self.top.v += 1.0;
            self.span += 1.0;
        }
        Ok(())
    }

    /// `getLabelValues()`.
    pub fn label_values(&mut self) -> Result<Vec<f64>, ApiError> {
        let mut values = Vec::new();
        if let Some(base) = self.log_base {
            let mut value = base.powf((self.bottom.v.ln() / base.ln() - EPSILON).ceil());
            while value < self.top.v * (1.0 + EPSILON) && values.len() < 10_000 {
                values.push(value);
                value *= base;
            }
            return Ok(values);
        }
        let mut step = self.step.unwrap_or(0.0);
        if step <= 0.0 {
            return Err(graph_error("The step size must be positive"));
        }
        if self.span > 1000.0 * step {
            self.choose_step(&[4, 5, 6], false)?;
            step = self.step.unwrap_or(1.0);
        }
        let start = step * (self.bottom.v / step - EPSILON).ceil();
        let mut i = 0.0;
        loop {
            let value = start + i * step;
            if value > self.top.v + EPSILON * step || values.len() > 10_000 {
                break;
            }
            values.push(value);
            i += 1.0;
        }
        Ok(values)
    }

    /// `makeLabel(value)`.
    pub fn make_label(&self, value: f64) -> String {
        let system = self.unit_system.as_str();
        let (value, prefix) = format_units(value, self.step, system);
        let (span, span_prefix) = format_units(self.span, self.step, system);
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix} ")
        };
        if value < 0.1 {
            return format!("{} {prefix}", format_g(value));
        } else if value < 1.0 {
            return format!("{} {prefix}", format_f(value, 2));
        }
        // graphite's first branch prints ints with %d, but its values are
        // always floats here, so both branches print %.1f
        if span > 10.0 || span_prefix != prefix || span > 3.0 {
            format!("{} {prefix}", format_f(value, 1))
        } else if span > 0.1 {
            format!("{} {prefix}", format_f(value, 2))
        } else {
            format!("{} {prefix}", format_g(value))
        }
    }
}

trait SlopCmp {
    fn is_none_or_gt(&self, slop: f64) -> bool;
}

impl SlopCmp for Option<(f64, f64)> {
    fn is_none_or_gt(&self, slop: f64) -> bool {
        match self {
            None => true,
            Some((best, _)) => slop < *best,
        }
    }
}

const SEC: i64 = 1;
const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86400;

/// One row of `xAxisConfigs`.
#[derive(Clone, Copy, Debug)]
pub struct XConf {
    pub seconds: f64,
    pub minor_unit: i64,
    pub minor_step: f64,
    pub major_unit: i64,
    pub major_step: f64,
    pub label_unit: i64,
    pub label_step: f64,
    pub format: &'static str,
    pub max_interval: Option<i64>,
}

const fn xc(
    seconds: f64,
    minor: (i64, f64),
    major: (i64, f64),
    label: (i64, f64),
    format: &'static str,
    max_interval: Option<i64>,
) -> XConf {
    XConf {
        seconds,
        minor_unit: minor.0,
        minor_step: minor.1,
        major_unit: major.0,
        major_step: major.1,
        label_unit: label.0,
        label_step: label.1,
        format,
        max_interval,
    }
}

/// `xAxisConfigs` with graphite's default `DATE_FORMAT` (`%m/%d`).
pub const X_AXIS_CONFIGS: &[XConf] = &[
    xc(
        0.00,
        (SEC, 5.0),
        (MIN, 1.0),
        (SEC, 5.0),
        "%H:%M:%S",
        Some(10 * MIN),
    ),
    xc(
        0.07,
        (SEC, 10.0),
        (MIN, 1.0),
        (SEC, 10.0),
        "%H:%M:%S",
        Some(20 * MIN),
    ),
    xc(
        0.14,
        (SEC, 15.0),
        (MIN, 1.0),
        (SEC, 15.0),
        "%H:%M:%S",
        Some(30 * MIN),
    ),
    xc(
        0.27,
        (SEC, 30.0),
        (MIN, 2.0),
        (MIN, 1.0),
        "%H:%M",
        Some(2 * HOUR),
    ),
    xc(
        0.5,
        (MIN, 1.0),
        (MIN, 2.0),
        (MIN, 1.0),
        "%H:%M",
        Some(2 * HOUR),
    ),
    xc(
        1.2,
        (MIN, 1.0),
        (MIN, 4.0),
        (MIN, 2.0),
        "%H:%M",
        Some(3 * HOUR),
    ),
    xc(
        2.0,
        (MIN, 1.0),
        (MIN, 10.0),
        (MIN, 5.0),
        "%H:%M",
        Some(6 * HOUR),
    ),
    xc(
        5.0,
        (MIN, 2.0),
        (MIN, 10.0),
        (MIN, 10.0),
        "%H:%M",
        Some(12 * HOUR),
    ),
    xc(
        10.0,
        (MIN, 5.0),
        (MIN, 20.0),
        (MIN, 20.0),
        "%H:%M",
        Some(DAY),
    ),
    xc(
        30.0,
        (MIN, 10.0),
        (HOUR, 1.0),
        (HOUR, 1.0),
        "%H:%M",
        Some(2 * DAY),
    ),
    xc(
        60.0,
        (MIN, 30.0),
        (HOUR, 2.0),
        (HOUR, 2.0),
        "%H:%M",
        Some(2 * DAY),
    ),
    xc(
        100.0,
        (HOUR, 2.0),
        (HOUR, 4.0),
        (HOUR, 4.0),
        "%a %H:%M",
        Some(6 * DAY),
    ),
    xc(
        255.0,
        (HOUR, 6.0),
        (HOUR, 12.0),
        (HOUR, 12.0),
        "%m/%d %H:%M",
        Some(10 * DAY),
    ),
    xc(
        600.0,
        (HOUR, 6.0),
        (DAY, 1.0),
        (DAY, 1.0),
        "%m/%d",
        Some(14 * DAY),
    ),
    xc(
        1000.0,
        (HOUR, 12.0),
        (DAY, 1.0),
        (DAY, 1.0),
        "%m/%d",
        Some(365 * DAY),
    ),
    xc(
        2000.0,
        (DAY, 1.0),
        (DAY, 2.0),
        (DAY, 2.0),
        "%m/%d",
        Some(365 * DAY),
    ),
    xc(
        4000.0,
        (DAY, 2.0),
        (DAY, 4.0),
        (DAY, 4.0),
        "%m/%d",
        Some(365 * DAY),
    ),
    xc(
        8000.0,
        (DAY, 3.5),
        (DAY, 7.0),
        (DAY, 7.0),
        "%m/%d",
        Some(365 * DAY),
    ),
    xc(
        16000.0,
        (DAY, 7.0),
        (DAY, 14.0),
        (DAY, 14.0),
        "%m/%d",
        Some(365 * DAY),
    ),
    xc(
        32000.0,
        (DAY, 15.0),
        (DAY, 30.0),
        (DAY, 30.0),
        "%m/%d",
        Some(365 * DAY),
    ),
    xc(
        64000.0,
        (DAY, 30.0),
        (DAY, 60.0),
        (DAY, 60.0),
        "%m/%d %Y",
        None,
    ),
    xc(
        100000.0,
        (DAY, 60.0),
        (DAY, 120.0),
        (DAY, 120.0),
        "%m/%d %Y",
        None,
    ),
    xc(
        120000.0,
        (DAY, 120.0),
        (DAY, 240.0),
        (DAY, 240.0),
        "%m/%d %Y",
        None,
    ),
];

/// `setupXAxis`' choice: the last config fine enough for the pixel density
/// whose `maxInterval` covers the range.
pub fn choose_x_conf(seconds_per_pixel: f64, time_range: i64) -> XConf {
    X_AXIS_CONFIGS
        .iter()
        .rfind(|c| {
            c.seconds <= seconds_per_pixel && c.max_interval.unwrap_or(time_range + 1) >= time_range
        })
        .copied()
        .unwrap_or(X_AXIS_CONFIGS[X_AXIS_CONFIGS.len() - 1])
}

/// `find_x_times(start_dt, unit, step)`: the first tick at or after the
/// start and the distance between ticks. Like pytz datetimes that are never
/// normalised, all ticks keep the UTC offset of the start.
pub fn find_x_times(
    start: DateTime<FixedOffset>,
    unit: i64,
    step: f64,
) -> (DateTime<FixedOffset>, Duration) {
    let local = start.naive_local();
    let whole = step as u32;
    let floor = |v: u32| if whole > 0 { v - v % whole } else { v };
    let (naive, delta) = match unit {
        SEC => (
            local.with_second(floor(local.second())),
            Duration::seconds(step as i64),
        ),
        MIN => (
            local
                .with_second(0)
                .and_then(|d| d.with_minute(floor(local.minute()))),
            Duration::minutes(step as i64),
        ),
        HOUR => (
            local
                .with_second(0)
                .and_then(|d| d.with_minute(0))
                .and_then(|d| d.with_hour(floor(local.hour()))),
            Duration::hours(step as i64),
        ),
        _ => (
            local
                .with_second(0)
                .and_then(|d| d.with_minute(0))
                .and_then(|d| d.with_hour(0)),
            Duration::milliseconds((step * 86_400_000.0) as i64),
        ),
    };
    let offset = *start.offset();
    let mut dt = naive
        .and_then(|n| offset.from_local_datetime(&n).single())
        .unwrap_or(start);
    while dt < start && delta > Duration::zero() {
        dt += delta;
    }
    (dt, delta)
}

/// `toSeconds(dt - start)`: whole seconds (microseconds dropped).
pub fn to_seconds(d: Duration) -> i64 {
    d.num_seconds()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(min: f64, max: f64) -> (Vec<String>, f64, f64, f64) {
        let mut t = Tics::new(min, max, "si", None).unwrap();
        t.apply_settings(None, None, None).unwrap();
        t.choose_step(&[4, 5, 6], false).unwrap();
        t.choose_limits().unwrap();
        let values = t.label_values().unwrap();
        let labels = values.iter().map(|v| t.make_label(*v)).collect();
        (labels, t.bottom.v, t.top.v, t.step.unwrap())
    }

    #[test]
    fn nice_steps_and_labels() {
        let (labels, bottom, top, step) = axis(0.0, 9.0);
        assert_eq!((bottom, top, step), (0.0, 10.0, 2.0));
        assert_eq!(labels, ["0 ", "2.0 ", "4.0 ", "6.0 ", "8.0 ", "10.0 "]);
        // graphite-web 1.1.10's own labels for this range
        let (labels, _, _, _) = axis(0.0, 2500.0);
        assert_eq!(
            labels,
            ["0 ", "500.0 ", "1000.0 ", "1500.0 ", "2000.0 ", "2500.0 "]
        );
    }

    #[test]
    fn units() {
        assert_eq!(format_units(2048.0, Some(1024.0), "binary"), (2.0, "Ki"));
        assert_eq!(format_units(7200.0, None, "sec"), (2.0, "H"));
        assert_eq!(format_units(5.5, None, "none"), (5.5, ""));
    }
}
