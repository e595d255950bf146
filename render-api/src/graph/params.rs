//! Graph parameters typed the way graphite-web's `parseOptions` types them
//! (`views.py`): digits become ints (except colour keys), `1.5` floats,
//! `true`/`false` booleans, `default` and empty values are dropped, the rest
//! stay strings. Only the keys the graph class lists as customizable are
//! kept; other parameters are ignored, as graphite does.

use std::collections::HashMap;

use crate::error::ApiError;
use crate::http::Params;
use crate::pyfmt::float_repr;

/// `Graph.customizable`.
const GRAPH_KEYS: &[&str] = &[
    "width",
    "height",
    "margin",
    "bgcolor",
    "fgcolor",
    "fontName",
    "fontSize",
    "fontBold",
    "fontItalic",
    "colorList",
    "template",
    "yAxisSide",
    "outputFormat",
];

/// `LineGraph.customizable` beyond [`GRAPH_KEYS`].
const LINE_KEYS: &[&str] = &[
    "title",
    "vtitle",
    "lineMode",
    "lineWidth",
    "hideLegend",
    "hideAxes",
    "minXStep",
    "hideGrid",
    "majorGridLineColor",
    "minorGridLineColor",
    "thickness",
    "min",
    "max",
    "graphOnly",
    "yMin",
    "yMax",
    "yLimit",
    "yStep",
    "areaMode",
    "areaAlpha",
    "drawNullAsZero",
    "tz",
    "yAxisSide",
    "pieMode",
    "yUnitSystem",
    "logBase",
    "yMinLeft",
    "yMinRight",
    "yMaxLeft",
    "yMaxRight",
    "yLimitLeft",
    "yLimitRight",
    "yStepLeft",
    "yStepRight",
    "rightWidth",
    "rightColor",
    "rightDashed",
    "leftWidth",
    "leftColor",
    "leftDashed",
    "xFormat",
    "minorY",
    "hideYAxis",
    "uniqueLegend",
    "vtitleRight",
    "yDivisors",
    "connectedLimit",
    "hideXAxis",
    "hideNullFromLegend",
];

/// `PieGraph.customizable` beyond [`GRAPH_KEYS`].
const PIE_KEYS: &[&str] = &[
    "title",
    "valueLabels",
    "valueLabelsMin",
    "hideLegend",
    "pieLabels",
    "areaAlpha",
    "valueLabelsColor",
];

/// A parameter value as Python holds it after `parseOptions`.
#[derive(Clone, Debug, PartialEq)]
pub enum PVal {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
}

impl PVal {
    /// graphite's typing of one value; `None` for `default` and `""`.
    pub fn parse(key: &str, val: &str) -> Option<PVal> {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let neg_digits = |s: &str| s.strip_prefix('-').is_some_and(digits);
        if (digits(val) || neg_digits(val)) && !key.to_lowercase().contains("color") {
            if let Ok(i) = val.parse::<i64>() {
                return Some(PVal::Int(i));
            }
        }
        let one_dot = |s: &str| digits(&s.replacen('.', "", 1));
        if val.contains('.') && (one_dot(val) || val.strip_prefix('-').is_some_and(one_dot)) {
            if let Ok(f) = val.parse::<f64>() {
                return Some(PVal::Float(f));
            }
        }
        let lower = val.to_lowercase();
        if lower == "true" || lower == "false" {
            return Some(PVal::Bool(lower == "true"));
        }
        if lower == "default" || val.is_empty() {
            return None;
        }
        Some(PVal::Str(val.to_string()))
    }

    /// Python truthiness.
    pub fn truthy(&self) -> bool {
        match self {
            PVal::Int(i) => *i != 0,
            PVal::Float(f) => *f != 0.0,
            PVal::Bool(b) => *b,
            PVal::Str(s) => !s.is_empty(),
        }
    }

    /// A number as Python would use it in arithmetic (bools are ints).
    pub fn number(&self) -> Option<f64> {
        match self {
            PVal::Int(i) => Some(*i as f64),
            PVal::Float(f) => Some(*f),
            PVal::Bool(b) => Some(*b as i64 as f64),
            PVal::Str(_) => None,
        }
    }

    /// Python's `str()`.
    pub fn py_str(&self) -> String {
        match self {
            PVal::Int(i) => i.to_string(),
            PVal::Float(f) => float_repr(*f),
            PVal::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            PVal::Str(s) => s.clone(),
        }
    }
}

/// The typed graph parameters of one request.
#[derive(Clone, Debug, Default)]
pub struct GraphParams {
    map: HashMap<String, PVal>,
}

impl GraphParams {
    /// Reads the customizable keys of `graph_type` (`line` or `pie`).
    pub fn from_request(p: &Params, pie: bool) -> GraphParams {
        let mut map = HashMap::new();
        let extra = if pie { PIE_KEYS } else { LINE_KEYS };
        for key in GRAPH_KEYS.iter().chain(extra) {
            if let Some(v) = p.get(key).and_then(|v| PVal::parse(key, v)) {
                map.insert(key.to_string(), v);
            }
        }
        GraphParams { map }
    }

    pub fn get(&self, key: &str) -> Option<&PVal> {
        self.map.get(key)
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn set(&mut self, key: &str, v: PVal) {
        self.map.insert(key.to_string(), v);
    }

    /// `params.get(key)` truthiness, `default` when absent.
    pub fn flag(&self, key: &str, default: bool) -> bool {
        self.map.get(key).map_or(default, PVal::truthy)
    }

    /// A string parameter (numbers in their Python `str()` form).
    pub fn text(&self, key: &str) -> Option<String> {
        self.map.get(key).map(PVal::py_str)
    }

    /// A numeric parameter; a non-number is a 400 naming the key.
    pub fn num(&self, key: &str) -> Result<Option<f64>, ApiError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) => v.number().map(Some).ok_or_else(|| {
                ApiError::BadRequest(format!("{key} must be a number, not {:?}", v.py_str()))
            }),
        }
    }

    /// `int(params.get(key, default))`.
    pub fn int(&self, key: &str, default: i64) -> Result<i64, ApiError> {
        Ok(self.num(key)?.map_or(default, |x| x.trunc() as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_like_parse_options() {
        assert_eq!(PVal::parse("width", "600"), Some(PVal::Int(600)));
        assert_eq!(PVal::parse("yMin", "-5"), Some(PVal::Int(-5)));
        assert_eq!(PVal::parse("yMin", "-0.5"), Some(PVal::Float(-0.5)));
        assert_eq!(
            PVal::parse("bgcolor", "000000"),
            Some(PVal::Str("000000".into()))
        );
        assert_eq!(PVal::parse("hideLegend", "True"), Some(PVal::Bool(true)));
        assert_eq!(PVal::parse("title", ""), None);
        assert_eq!(PVal::parse("title", "default"), None);
        assert_eq!(
            PVal::parse("title", "1.2.3"),
            Some(PVal::Str("1.2.3".into()))
        );
    }
}
