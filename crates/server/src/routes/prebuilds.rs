use axum::extract::State;
use dayshift_sdk as sdk;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::Json;
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v2/prebuilds", responses((status = 200, body = Vec<sdk::PrebuildPreset>)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: CurrentUser,
) -> ApiResult<axum::Json<Vec<sdk::PrebuildPreset>>> {
    Ok(axum::Json(
        crate::prebuild_claim::status(&state, state.clock.now()).await?,
    ))
}

#[utoipa::path(put, path = "/api/v2/prebuilds/settings", request_body = sdk::PrebuildSettings,
    responses((status = 200, body = sdk::PrebuildSettings)))]
pub async fn update_settings(
    State(state): State<AppState>,
    caller: CurrentUser,
    Json(req): Json<sdk::PrebuildSettings>,
) -> ApiResult<axum::Json<sdk::PrebuildSettings>> {
    caller.require_owner()?;
    state
        .store
        .set_setting(
            crate::prebuild_claim::PAUSED_SETTING,
            if req.reconciliation_paused {
                "true"
            } else {
                "false"
            },
        )
        .await?;
    tracing::info!(
        paused = req.reconciliation_paused,
        "prebuild reconciliation setting changed"
    );
    Ok(axum::Json(req))
}
