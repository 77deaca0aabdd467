use axum::extract::State;
use dayshift_sdk as sdk;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{Json, Query};
use crate::paging::PageQuery;
use crate::state::AppState;
use dayshift_store::PageOf;

#[utoipa::path(get, path = "/api/v2/prebuilds",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "rows per page, 1-1000 (default 100)"),
        ("after" = Option<String>, Query, description = "the `next` cursor of the previous page"),
    ),
    responses((status = 200, body = sdk::PrebuildsPage), (status = 400, body = sdk::ApiError)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: CurrentUser,
    Query(paging): Query<PageQuery>,
) -> ApiResult<axum::Json<sdk::PrebuildsPage>> {
    let page = paging.page()?;
    // One row per preset with a pool: bounded by configuration, not by
    // the number of workspaces, so the pools are computed whole and paged.
    let pools = crate::prebuild_claim::status(&state, state.clock.now()).await?;
    let found = PageOf::of_small_list(pools, &page, |pool| {
        vec![
            pool.template_name.clone(),
            pool.preset_name.clone(),
            pool.template_version_id.clone(),
        ]
    })?;
    Ok(axum::Json(sdk::PrebuildsPage {
        prebuilds: found.items,
        count: found.count,
        next: found.next,
    }))
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
