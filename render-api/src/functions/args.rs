//! [`Args`]: a call's evaluated arguments bound to the function's
//! parameters with Python's call rules, and the typed getters
//! implementations read them with (graphite's parameter conversions).

use crate::error::ApiError;
use crate::eval::{Replacements, Value};
use crate::series::Series;
use crate::target::Expr;

use super::{FunctionDef, Lit, Param};

/// A function's arguments bound to its parameters (Python call semantics:
/// positional ones fill parameters in order, the `multiple` parameter takes
/// the rest, keywords fill by name).
#[derive(Debug)]
pub struct Args {
    function: String,
    params: &'static [Param],
    slots: Vec<Option<Value>>,
    rest: Vec<Value>,
    raw_first: Option<Expr>,
    replacements: Option<Replacements>,
}

impl Args {
    /// Binds evaluated arguments to `def`'s parameters.
    pub fn bind(
        def: &FunctionDef,
        called_as: &str,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
        raw_first: Option<Expr>,
        replacements: Option<Replacements>,
    ) -> Result<Args, ApiError> {
        let params = def.params;
        let fixed = params.iter().take_while(|p| !p.multiple).count();
        let mut slots: Vec<Option<Value>> = vec![None; fixed];
        let mut rest = Vec::new();
        for (i, a) in args.into_iter().enumerate() {
            if i < fixed {
                slots[i] = Some(a);
            } else if fixed < params.len() {
                rest.push(a);
            } else {
                return Err(ApiError::bad_argument(
                    called_as,
                    format!("takes at most {fixed} arguments"),
                ));
            }
        }
        for (name, value) in kwargs {
            match params[..fixed].iter().position(|p| p.keyword() == name) {
                Some(i) if slots[i].is_some() => {
                    return Err(ApiError::bad_argument(
                        called_as,
                        format!("got multiple values for argument {name:?}"),
                    ))
                }
                Some(i) => slots[i] = Some(value),
                None => {
                    return Err(ApiError::bad_argument(
                        called_as,
                        format!("unexpected keyword argument {name:?}"),
                    ))
                }
            }
        }
        for (i, p) in params[..fixed].iter().enumerate() {
            if p.required && slots[i].is_none() {
                return Err(ApiError::bad_argument(
                    called_as,
                    format!("missing required argument {:?}", p.name),
                ));
            }
        }
        // A required `*name` may stay empty: Python's signature allows it and
        // graphite-web does not enforce `required` (ENFORCE_INPUT_VALIDATION
        // is off), so `sumSeries()` is an empty result, not an error.
        Ok(Args {
            function: called_as.to_string(),
            params,
            slots,
            rest,
            raw_first,
            replacements,
        })
    }

    /// The name the function was called by.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The unevaluated first positional argument (graphite's
    /// `requestContext['args'][0]`), for re-evaluation over another window.
    pub fn raw(&self) -> Result<&Expr, ApiError> {
        self.raw_first
            .as_ref()
            .ok_or_else(|| self.error("needs a first argument to re-evaluate"))
    }

    /// The `template()` bindings in force where the function was called.
    pub fn replacements(&self) -> Option<&Replacements> {
        self.replacements.as_ref()
    }

    /// An [`ApiError::BadArgument`] for this function.
    pub fn error(&self, message: impl Into<String>) -> ApiError {
        ApiError::bad_argument(&self.function, message)
    }

    fn param_name(&self, i: usize) -> &'static str {
        self.params.get(i).map(|p| p.name).unwrap_or("?")
    }

    /// The value of parameter `i` as given, or its default, or `None`.
    pub fn value(&self, i: usize) -> Value {
        match self.slots.get(i) {
            Some(Some(v)) => v.clone(),
            _ => self
                .params
                .get(i)
                .and_then(|p| p.default)
                .map(Lit::to_value)
                .unwrap_or(Value::None),
        }
    }

    /// True if parameter `i` was given (and is not `None`).
    pub fn given(&self, i: usize) -> bool {
        matches!(self.slots.get(i), Some(Some(v)) if *v != Value::None)
    }

    /// Takes parameter `i` as a series list.
    pub fn series_list(&mut self, i: usize) -> Result<Vec<Series>, ApiError> {
        match self.slots.get_mut(i).and_then(Option::take) {
            Some(Value::SeriesList(list)) => Ok(list),
            Some(other) => Err(self.error(format!(
                "{} must be a series list, not {}",
                self.param_name(i),
                other.kind()
            ))),
            None => Err(self.error(format!("missing {}", self.param_name(i)))),
        }
    }

    /// Takes the `multiple` parameter's values as series lists
    /// (`*seriesLists`).
    pub fn rest_series_lists(&mut self) -> Result<Vec<Vec<Series>>, ApiError> {
        let rest = std::mem::take(&mut self.rest);
        rest.into_iter()
            .map(|v| match v {
                Value::SeriesList(list) => Ok(list),
                other => Err(self.error(format!("expected series lists, got {}", other.kind()))),
            })
            .collect()
    }

    /// The `multiple` parameter's values.
    pub fn rest(&self) -> &[Value] {
        &self.rest
    }

    /// Parameter `i` as a float (`float` type: ints, numeric strings and
    /// booleans convert, as Python's `float()`).
    pub fn float(&self, i: usize) -> Result<f64, ApiError> {
        self.opt_float(i)?
            .ok_or_else(|| self.error(format!("{} is required", self.param_name(i))))
    }

    /// Parameter `i` as a float, `None` when absent or `None`.
    pub fn opt_float(&self, i: usize) -> Result<Option<f64>, ApiError> {
        Ok(match self.value(i) {
            Value::None => None,
            Value::Int(v) => Some(v as f64),
            Value::Float(v) => Some(v),
            Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
            Value::Str(s) => Some(py_float(&s).ok_or_else(|| {
                self.error(format!(
                    "{} must be a number, not {s:?}",
                    self.param_name(i)
                ))
            })?),
            other => {
                return Err(self.error(format!(
                    "{} must be a number, not {}",
                    self.param_name(i),
                    other.kind()
                )))
            }
        })
    }

    /// Parameter `i` as an integer (`integer`/`node`: floats are rejected,
    /// as graphite's validator does).
    pub fn int(&self, i: usize) -> Result<i64, ApiError> {
        match self.value(i) {
            Value::Int(v) => Ok(v),
            Value::Bool(b) => Ok(b as i64),
            Value::Str(s) => s.trim().parse().map_err(|_| {
                self.error(format!(
                    "{} must be an integer, not {s:?}",
                    self.param_name(i)
                ))
            }),
            other => Err(self.error(format!(
                "{} must be an integer, not {}",
                self.param_name(i),
                other.kind()
            ))),
        }
    }

    /// Parameter `i` as a string.
    pub fn string(&self, i: usize) -> Result<String, ApiError> {
        match self.value(i) {
            Value::Str(s) => Ok(s),
            Value::None => Err(self.error(format!("{} is required", self.param_name(i)))),
            other => Err(self.error(format!(
                "{} must be a string, not {}",
                self.param_name(i),
                other.kind()
            ))),
        }
    }

    /// Parameter `i` as a string, `None` when absent or `None`.
    pub fn opt_string(&self, i: usize) -> Result<Option<String>, ApiError> {
        match self.value(i) {
            Value::None => Ok(None),
            _ => self.string(i).map(Some),
        }
    }

    /// Parameter `i` as a boolean (graphite's `validateBoolean`: `'true'`,
    /// `'false'`, 0, 1, or Python truthiness).
    pub fn bool(&self, i: usize) -> Result<bool, ApiError> {
        Ok(match self.value(i) {
            Value::Bool(b) => b,
            Value::None => false,
            Value::Str(s) if s.eq_ignore_ascii_case("true") => true,
            Value::Str(s) if s.eq_ignore_ascii_case("false") => false,
            Value::Str(s) => !s.is_empty(),
            Value::Int(v) => v != 0,
            Value::Float(v) => v != 0.0,
            Value::SeriesList(l) => !l.is_empty(),
        })
    }
}

/// Python's `float(text)` for the forms graphite users write.
fn py_float(text: &str) -> Option<f64> {
    let t = text.trim();
    match t.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" | "+nan" | "-nan" => Some(f64::NAN),
        _ => t.replace('_', "").parse().ok(),
    }
}
