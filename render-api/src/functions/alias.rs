//! graphite-web's "Alias" group: functions that rename series.

use crate::error::ApiError;
use crate::eval::{Context, Evaluator, Value};

use super::{Args, FunctionDef, Param, ParamType, Registry};

pub(super) fn register(r: &mut Registry) {
    r.add(&ALIAS);
}

static ALIAS: FunctionDef = FunctionDef {
    name: "alias",
    group: "Alias",
    description: "Gives every series of the list the same new name.",
    params: &[
        Param::new("seriesList", ParamType::SeriesList).required(),
        Param::new("newName", ParamType::String).required(),
    ],
    aggregator: false,
    implementation: alias,
};

fn alias(_ev: &mut Evaluator<'_>, _ctx: &Context, mut args: Args) -> Result<Value, ApiError> {
    let mut list = args.series_list(0)?;
    let name = args.string(1)?;
    for s in &mut list {
        s.name.clone_from(&name);
    }
    Ok(Value::SeriesList(list))
}

#[cfg(test)]
mod tests {
    use crate::testing::{eval_one, MemoryRead};

    #[test]
    fn alias_renames_every_series_and_keeps_the_path_expression() {
        let read =
            MemoryRead::new()
                .with("a.x", 0, 10, &[Some(1.0)])
                .with("a.y", 0, 10, &[Some(2.0)]);
        let out = eval_one(&read, "alias(a.*, 'total')", -10, 0);
        assert_eq!(out.len(), 2);
        assert!(out
            .iter()
            .all(|s| s.name == "total" && s.path_expression == "a.*"));
        let piped = eval_one(&read, "a.x|alias(\"p\")", -10, 0);
        assert_eq!(piped[0].name, "p");
    }
}
