//! graphite-web's "Transform" group: functions that change each series'
//! values one by one (scale, offset, derivative, ...).

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};
use crate::pyfmt::{float_repr, format_g};

use super::{Args, FunctionDef, Param, ParamType, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add(&SCALE);
}

static SCALE: FunctionDef = FunctionDef {
    name: "scale",
    group: "Transform",
    description: "Multiplies every value by a constant factor; nulls stay null.",
    params: &[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("factor", ParamType::Float).required(),
    ],
    aggregator: false,
    implementation: scale,
};

fn scale(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let factor = args.float(1)?;
    for s in &mut list {
        s.tags.insert("scale".into(), float_repr(factor));
        s.name = format!("scale({},{})", s.name, format_g(factor));
        s.path_expression = s.name.clone();
        for v in s.values.iter_mut() {
            *v = v.map(|x| x * factor);
        }
    }
    Ok(Value::SeriesList(list))
}

#[cfg(test)]
mod tests {
    use crate::testing::{eval_one, MemoryRead};

    #[test]
    fn scale_multiplies_and_names_with_percent_g() {
        let read = MemoryRead::new().with("a.b", 0, 10, &[Some(1.5), None]);
        let out = eval_one(&read, "scale(a.b, 2)", -10, 10);
        assert_eq!(out[0].name, "scale(a.b,2)");
        assert_eq!(out[0].values, vec![Some(3.0), None]);
        assert_eq!(out[0].tags["scale"], "2.0");
        let out = eval_one(&read, "scale(a.b, 0.5)", -10, 10);
        assert_eq!(out[0].name, "scale(a.b,0.5)");
        assert_eq!(out[0].path_expression, "scale(a.b,0.5)");
    }
}
