use axum::extract::State;
use dayshift_lifecycle::Clock;
use dayshift_schedule::parse_duration;
use dayshift_sdk as sdk;

use crate::auth::CurrentUser;
use crate::error::{ApiErr, ApiResult};
use crate::extract::Json;
use crate::state::AppState;

/// `--dev-clock` only: sets the server clock, then runs one executor
/// iteration and one prebuild reconcile at the new time and answers their
/// stats. Without the flag the route does not exist (404).
#[utoipa::path(post, path = "/api/v2/debug/clock", request_body = sdk::DebugClockRequest,
    responses((status = 200, body = sdk::DebugClockResponse), (status = 404, body = sdk::ApiError)))]
pub async fn set_clock(
    State(state): State<AppState>,
    caller: CurrentUser,
    Json(req): Json<sdk::DebugClockRequest>,
) -> ApiResult<axum::Json<sdk::DebugClockResponse>> {
    let Some(clock) = &state.dev_clock else {
        return Err(ApiErr::not_found(
            "no such route (start the server with --dev-clock)",
        ));
    };
    caller.require_owner()?;
    match (req.now, req.advance.as_deref()) {
        (Some(now), None) => clock.set(now),
        (None, Some(text)) => {
            crate::validate::max_len("advance", text, crate::validate::MAX_DURATION_TEXT)?;
            let by = parse_duration(text).map_err(|e| ApiErr::invalid("advance", e.to_string()))?;
            // jiff's own message names its internal parameters: say it in
            // the API's words.
            clock.advance(by).map_err(|_| {
                ApiErr::invalid(
                    "advance",
                    format!("{text:?} moves the clock past the supported range of times (years -9999 to 9999)"),
                )
            })?;
        }
        (None, None) => {}
        (Some(_), Some(_)) => {
            return Err(ApiErr::bad_request(
                "give either \"now\" or \"advance\", not both",
            ));
        }
    }
    let now = clock.now();
    let autobuild = state.executor.run_once(now).await;
    let prebuilds = crate::prebuild_claim::reconcile_once(&state, now).await;
    if !autobuild.transitions.is_empty() {
        state.jobs.job_queued();
    }
    Ok(axum::Json(sdk::DebugClockResponse {
        now,
        autobuild: sdk::AutobuildStats {
            transitions: autobuild
                .transitions
                .iter()
                .map(|(id, t)| (id.clone(), t.as_str().to_string()))
                .collect(),
            errors: autobuild.errors.clone(),
        },
        prebuilds,
    }))
}
