//! `GET /forecast?target=…&threshold=…[&from=…&until=…&model=…&season=…&horizon=…]`:
//! [`crate::forecast`] over HTTP, the same JSON as `ferrograph forecast`;
//! `format=svg` answers the plot instead.

use crate::error::ApiError;
use crate::eval::Evaluator;
use crate::forecast::{forecast as run, plot, to_json, ForecastRequest};

use super::{now_epoch, Reply, Req};

pub(crate) fn forecast(req: &Req<'_>) -> Result<Reply, ApiError> {
    let request = ForecastRequest::from_params(req.params, req.settings.time_zone, now_epoch())?;
    let mut ev = Evaluator::new(req.read, req.settings.limits.clone())
        .with_read_options(req.settings.read_options);
    let forecasts = run(&mut ev, &request)?;
    Ok(match req.params.get("format") {
        Some("svg") => Reply::ok("image/svg+xml", plot::svg(&forecasts)),
        None | Some("json") => Reply::json(to_json(&forecasts), None),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "format={other} is not a forecast format: use json or svg"
            )))
        }
    })
}
