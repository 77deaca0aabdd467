use axum::extract::State;
use dayshift_schedule::{Schedule, Timestamp};
use dayshift_sdk as sdk;
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::error::{ApiErr, ApiResult};
use crate::extract::Query;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct PreviewQuery {
    cron: String,
    count: Option<usize>,
    from: Option<String>,
}

/// Largest preview a request may ask for.
const MAX_PREVIEW: usize = 1000;

/// The next start times of a schedule, each also in the schedule's zone.
pub fn preview(schedule: &Schedule, from: Timestamp, count: usize) -> Vec<sdk::PreviewPoint> {
    schedule
        .upcoming(from)
        .take(count)
        .map(|at| sdk::PreviewPoint {
            at,
            local: at
                .to_zoned(schedule.time_zone().clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string(),
        })
        .collect()
}

#[utoipa::path(get, path = "/api/v2/schedule/preview",
    params(("cron" = String, Query, description = "cron expression"), ("count" = Option<usize>, Query, description = "how many (default 5)"), ("from" = Option<String>, Query, description = "RFC 3339; default now")),
    responses((status = 200, body = Vec<sdk::PreviewPoint>), (status = 400, body = sdk::ApiError)))]
pub async fn get_preview(
    State(state): State<AppState>,
    _caller: CurrentUser,
    Query(query): Query<PreviewQuery>,
) -> ApiResult<axum::Json<Vec<sdk::PreviewPoint>>> {
    let schedule =
        Schedule::parse(&query.cron).map_err(|e| ApiErr::invalid("cron", e.to_string()))?;
    let count = query.count.unwrap_or(5);
    if count == 0 || count > MAX_PREVIEW {
        return Err(ApiErr::invalid(
            "count",
            format!("{count} is out of range: must be 1-{MAX_PREVIEW}"),
        ));
    }
    let from = match &query.from {
        // jiff's parse errors name its internals; say what is expected.
        Some(text) => text.parse::<Timestamp>().map_err(|_| {
            ApiErr::invalid(
                "from",
                format!("{text:?} is not an RFC 3339 time such as 2027-01-04T08:00:00Z"),
            )
        })?,
        None => state.clock.now(),
    };
    Ok(axum::Json(preview(&schedule, from, count)))
}
