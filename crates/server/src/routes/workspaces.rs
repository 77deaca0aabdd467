use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use dayshift_lifecycle::rules::{deleting_at, effective_ttl, next_autostart};
use dayshift_schedule::deadline::{bumped_deadline, validate_extend, validate_ttl};
use dayshift_schedule::{Schedule, SignedDuration};
use dayshift_sdk as sdk;
use dayshift_store::{
    BuildReason, JobStatus, LockMode, NewBuild, NewWorkspace, Transition, WorkspaceChange,
    WorkspaceQuery, WorkspaceState,
};
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::convert;
use crate::error::{ApiErr, ApiResult};
use crate::extract::{Json, Query};
use crate::paging::PageQuery;
use crate::routes::templates::{find_template, manifest_of};
use crate::state::AppState;
use crate::validate;

/// A workspace the caller may see: its own, or any for an owner. Others'
/// answer 404, so members cannot even learn they exist.
pub async fn visible(
    state: &AppState,
    caller: &CurrentUser,
    id: &str,
) -> ApiResult<WorkspaceState> {
    state
        .store
        .workspace(id)
        .await?
        .filter(|ws| caller.is_owner() || ws.workspace.owner_id == caller.0.id)
        .ok_or_else(|| ApiErr::not_found(format!("workspace {id} not found")))
}

/// Runs `decide` on the workspace under its lock, after the visibility
/// check; `decide`'s error becomes the answer.
async fn update(
    state: &AppState,
    caller: &CurrentUser,
    id: &str,
    decide: impl FnOnce(&WorkspaceState) -> ApiResult<WorkspaceChange>,
) -> ApiResult<dayshift_store::Applied> {
    let ws = visible(state, caller, id).await?;
    let applied = state
        .store
        .update_workspace(&ws.workspace.id, LockMode::Wait, state.clock.now(), decide)
        .await??;
    state.workspaces_changed();
    if applied.new_build.is_some() {
        state.jobs.job_queued();
    }
    Ok(applied)
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    all: bool,
    #[serde(default)]
    q: String,
}

/// The search a caller's list request stands for. Members see only their
/// own workspaces whatever they ask; owners see their own unless they ask
/// for everybody's (`all`) or name an owner (`owner:`).
pub fn workspace_query(caller: &CurrentUser, all: bool, q: &str) -> ApiResult<WorkspaceQuery> {
    let mut query = WorkspaceQuery::parse(q, &caller.0.username)
        .map_err(|e| ApiErr::invalid("q", e.to_string()))?;
    if !caller.is_owner() || (!all && query.owner.is_none()) {
        query.visible_to = Some(caller.0.username.clone());
    }
    Ok(query)
}

#[utoipa::path(get, path = "/api/v2/workspaces",
    params(
        ("all" = Option<bool>, Query, description = "owners: everybody's workspaces"),
        ("q" = Option<String>, Query, description = "search, terms ANDed: owner:NAME|me, template:NAME, status:S, name:SUB, outdated:true|false, dormant:true|false; a bare word is name:"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "rows per page, 1-1000 (default 100)"),
        ("after" = Option<String>, Query, description = "the `next` cursor of the previous page"),
    ),
    responses((status = 200, body = sdk::WorkspacesPage), (status = 400, body = sdk::ApiError)))]
pub async fn list(
    State(state): State<AppState>,
    caller: CurrentUser,
    Query(query): Query<ListQuery>,
    Query(paging): Query<PageQuery>,
) -> ApiResult<axum::Json<sdk::WorkspacesPage>> {
    let search = workspace_query(&caller, query.all, &query.q)?;
    let found = state
        .store
        .search_workspaces(&search, &paging.page()?)
        .await?;
    Ok(axum::Json(sdk::WorkspacesPage {
        workspaces: found.items.iter().map(convert::workspace).collect(),
        count: found.count,
        next: found.next,
    }))
}

#[utoipa::path(get, path = "/api/v2/workspaces/{id}", responses((status = 200, body = sdk::Workspace), (status = 404, body = sdk::ApiError)))]
pub async fn get(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<sdk::Workspace>> {
    Ok(axum::Json(convert::workspace(
        &visible(&state, &caller, &id).await?,
    )))
}

#[utoipa::path(get, path = "/api/v2/users/{user}/workspace/{name}", params(("user" = String, Path, description = "username, user id or `me`")),
    responses((status = 200, body = sdk::Workspace), (status = 404, body = sdk::ApiError)))]
pub async fn get_by_name(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path((user, name)): Path<(String, String)>,
) -> ApiResult<axum::Json<sdk::Workspace>> {
    let own = user == "me" || user == caller.0.username || user == caller.0.id;
    let owner = if own {
        Some(caller.0.clone())
    } else if let Some(u) = state.store.user_by_username(&user).await? {
        Some(u)
    } else {
        state.store.user_by_id(&user).await?
    };
    // One answer for a workspace that does not exist and one the caller
    // may not see, naming what was asked for (never `me`, never an id).
    let shown_user = if own {
        caller.0.username.as_str()
    } else {
        user.as_str()
    };
    let not_found = || ApiErr::not_found(format!("workspace {shown_user}/{name} not found"));
    let owner = owner.ok_or_else(not_found)?;
    let ws = state
        .store
        .workspace_by_owner_and_name(&owner.id, &name)
        .await?
        .filter(|ws| caller.is_owner() || ws.workspace.owner_id == caller.0.id)
        .ok_or_else(not_found)?;
    Ok(axum::Json(convert::workspace(&ws)))
}

/// Parses an autostart schedule from a request, normalised; `None` and
/// `""` clear it.
fn autostart_schedule(state: &WorkspaceState, schedule: Option<&str>) -> ApiResult<Option<String>> {
    let schedule = schedule.map(str::trim).filter(|s| !s.is_empty());
    if schedule.is_some() && !state.template.policy.allow_user_autostart {
        return Err(ApiErr::invalid(
            "schedule",
            format!(
                "autostart is not allowed for workspaces of template {:?}",
                state.template.name
            ),
        ));
    }
    schedule
        .map(|s| {
            Schedule::parse_weekly(s)
                .map(|parsed| parsed.to_string())
                .map_err(|e| ApiErr::invalid("schedule", e.to_string()))
        })
        .transpose()
}

/// A TTL from a request: `None` or 0 clear it; otherwise 1 minute to 30 days.
fn ttl(
    allow_user_autostop: bool,
    template: &str,
    ttl_ms: Option<i64>,
) -> ApiResult<Option<SignedDuration>> {
    let Some(ms) = ttl_ms.filter(|ms| *ms != 0) else {
        return Ok(None);
    };
    if !allow_user_autostop {
        return Err(ApiErr::invalid(
            "ttl_ms",
            format!("a custom TTL is not allowed for workspaces of template {template:?}"),
        ));
    }
    let ttl = SignedDuration::from_millis(ms);
    validate_ttl(ttl).map_err(|e| ApiErr::invalid("ttl_ms", e.to_string()))?;
    Ok(Some(ttl))
}

#[utoipa::path(post, path = "/api/v2/workspaces", request_body = sdk::CreateWorkspaceRequest,
    responses((status = 201, body = sdk::Workspace), (status = 400, body = sdk::ApiError),
        (status = 404, body = sdk::ApiError, description = "no such template"), (status = 409, body = sdk::ApiError)))]
pub async fn create(
    State(state): State<AppState>,
    caller: CurrentUser,
    Json(req): Json<sdk::CreateWorkspaceRequest>,
) -> ApiResult<(StatusCode, axum::Json<sdk::Workspace>)> {
    validate::name("name", &req.name)?;
    validate::max_len("template", &req.template, validate::MAX_REFERENCE)?;
    if let Some(id) = &req.template_version_id {
        validate::max_len("template_version_id", id, validate::MAX_REFERENCE)?;
    }
    if let Some(preset) = &req.preset {
        validate::max_len("preset", preset, validate::MAX_REFERENCE)?;
    }
    if let Some(parameters) = &req.parameters {
        validate::parameters("parameters", parameters)?;
    }
    let template = find_template(&state, &req.template).await?;
    let version_id = req
        .template_version_id
        .clone()
        .unwrap_or_else(|| template.active_version_id.clone());
    let version = state
        .store
        .template_version(&version_id)
        .await?
        .filter(|v| v.template_id == template.id)
        .ok_or_else(|| {
            ApiErr::invalid(
                "template_version_id",
                format!(
                    "{version_id:?} is not a version of template {:?}",
                    template.name
                ),
            )
        })?;
    let manifest = manifest_of(&version)?;
    let mut given = req.parameters.clone().unwrap_or_default();
    if let Some(preset_name) = &req.preset {
        let preset = manifest.preset(preset_name).ok_or_else(|| {
            ApiErr::invalid(
                "preset",
                format!(
                    "{preset_name:?} is not a preset of template {:?}",
                    template.name
                ),
            )
        })?;
        for (name, value) in &preset.parameters {
            if let Some(other) = given.get(name).filter(|v| *v != value) {
                return Err(ApiErr::invalid(
                    &format!("parameters.{name}"),
                    format!(
                        "{other:?} conflicts with preset {preset_name:?}, which sets {value:?}"
                    ),
                ));
            }
            given.insert(name.clone(), value.clone());
        }
    }
    let parameters = manifest
        .resolve_parameters(&given)
        .map_err(|e| ApiErr::invalid(&format!("parameters.{}", e.parameter()), e.to_string()))?;
    let policy = &template.policy;
    let schedule = match req
        .autostart_schedule
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(_) if !policy.allow_user_autostart => {
            return Err(ApiErr::invalid(
                "autostart_schedule",
                format!(
                    "autostart is not allowed for workspaces of template {:?}",
                    template.name
                ),
            ))
        }
        Some(s) => Some(
            Schedule::parse_weekly(s)
                .map_err(|e| ApiErr::invalid("autostart_schedule", e.to_string()))?
                .to_string(),
        ),
    };
    let ttl = ttl(policy.allow_user_autostop, &template.name, req.ttl_ms)?;
    let now = state.clock.now();

    if let Some(preset_name) = &req.preset {
        if let Some(claimed) = crate::prebuild_claim::try_claim(
            &state,
            &caller,
            &template,
            &version_id,
            preset_name,
            &parameters,
            &req.name,
            schedule.clone(),
            ttl,
            now,
        )
        .await?
        {
            return Ok((
                StatusCode::CREATED,
                axum::Json(convert::workspace(&claimed)),
            ));
        }
    }

    let created = state
        .store
        .create_workspace(
            NewWorkspace {
                owner_id: caller.0.id.clone(),
                name: req.name.clone(),
                template_id: template.id.clone(),
                autostart_schedule: schedule,
                ttl,
                prebuild_preset_id: None,
            },
            NewBuild {
                transition: Transition::Start,
                reason: BuildReason::Initiator,
                template_version_id: version_id,
                parameters,
                initiator_id: caller.0.id.clone(),
            },
            now,
        )
        .await?;
    state.jobs.job_queued();
    state.workspaces_changed();
    tracing::info!(
        workspace = %format!("{}/{}", created.workspace.owner_name, created.workspace.name),
        template = %template.name,
        "workspace created"
    );
    Ok((
        StatusCode::CREATED,
        axum::Json(convert::workspace(&created)),
    ))
}

/// Refuses a new build while the latest one is unfinished.
fn require_settled(ws: &WorkspaceState) -> ApiResult<()> {
    if ws.build.job.status.is_finished() {
        Ok(())
    } else {
        Err(ApiErr::conflict(format!(
            "workspace {}/{} has a build in progress (status {}); wait for it to finish",
            ws.workspace.owner_name,
            ws.workspace.name,
            ws.status()
        )))
    }
}

#[utoipa::path(post, path = "/api/v2/workspaces/{id}/builds", request_body = sdk::CreateBuildRequest,
    responses((status = 201, body = sdk::WorkspaceBuild), (status = 409, body = sdk::ApiError)))]
pub async fn create_build(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
    Json(req): Json<sdk::CreateBuildRequest>,
) -> ApiResult<(StatusCode, axum::Json<sdk::WorkspaceBuild>)> {
    let transition = convert::store_transition(req.transition);
    let initiator = caller.0.id.clone();
    let applied = update(&state, &caller, &id, |ws| {
        require_settled(ws)?;
        Ok(WorkspaceChange {
            new_build: Some(NewBuild {
                transition,
                reason: BuildReason::Initiator,
                template_version_id: ws.reuse_version_id.clone(),
                parameters: ws.reuse_parameters.clone(),
                initiator_id: initiator,
            }),
            ..Default::default()
        })
    })
    .await?;
    let build = applied
        .new_build
        .ok_or_else(|| ApiErr::internal("build was not created"))?;
    tracing::info!(
        workspace = %format!("{}/{}", applied.state.workspace.owner_name, applied.state.workspace.name),
        transition = transition.as_str(),
        "build queued by user"
    );
    Ok((StatusCode::CREATED, axum::Json(convert::build(&build))))
}

#[utoipa::path(get, path = "/api/v2/workspaces/{id}/builds",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "rows per page, 1-1000 (default 100)"),
        ("after" = Option<String>, Query, description = "the `next` cursor of the previous page"),
    ),
    responses((status = 200, body = sdk::WorkspaceBuildsPage), (status = 400, body = sdk::ApiError), (status = 404, body = sdk::ApiError)))]
pub async fn list_builds(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
    Query(paging): Query<PageQuery>,
) -> ApiResult<axum::Json<sdk::WorkspaceBuildsPage>> {
    let page = paging.page()?;
    let ws = visible(&state, &caller, &id).await?;
    let builds = state.store.builds(&ws.workspace.id, &page).await?;
    Ok(axum::Json(sdk::WorkspaceBuildsPage {
        builds: builds.items.iter().map(convert::build).collect(),
        count: builds.count,
        next: builds.next,
    }))
}

#[derive(Debug, Deserialize)]
pub struct LogsQuery {
    #[serde(default)]
    after: i64,
    #[serde(default)]
    wait: bool,
}

/// How long a log long-poll holds the request before answering empty.
const LOG_WAIT: Duration = Duration::from_secs(20);

#[utoipa::path(get, path = "/api/v2/workspacebuilds/{id}/logs",
    params(("after" = Option<i64>, Query, description = "only lines with a greater id"), ("wait" = Option<bool>, Query, description = "long-poll until lines arrive or the build ends")),
    responses((status = 200, body = Vec<sdk::BuildLogLine>)))]
pub async fn build_logs(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
    Query(query): Query<LogsQuery>,
) -> ApiResult<axum::Json<Vec<sdk::BuildLogLine>>> {
    let not_found = || ApiErr::not_found(format!("build {id} not found"));
    let build = state.store.build(&id).await?.ok_or_else(not_found)?;
    let owner_ok = match state.store.workspace(&build.workspace_id).await? {
        Some(ws) => caller.is_owner() || ws.workspace.owner_id == caller.0.id,
        // Deleted workspaces' logs stay readable by owners.
        None => caller.is_owner(),
    };
    if !owner_ok {
        return Err(not_found());
    }
    let mut progress = state.jobs.subscribe();
    let deadline = tokio::time::Instant::now() + LOG_WAIT;
    loop {
        let lines = state.store.build_logs(&id, query.after, 1000).await?;
        let finished = state
            .store
            .build(&id)
            .await?
            .is_some_and(|b| b.job.status.is_finished());
        if !lines.is_empty() || !query.wait || finished {
            return Ok(axum::Json(lines.iter().map(convert::log_line).collect()));
        }
        // Woken by any log line or job change in this process; the
        // timeout covers daemons on other replicas.
        let woke = tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + Duration::from_millis(500)),
            progress.changed(),
        )
        .await;
        if tokio::time::Instant::now() >= deadline {
            return Ok(axum::Json(Vec::new()));
        }
        if let Ok(Err(_)) = woke {
            return Ok(axum::Json(Vec::new()));
        }
    }
}

#[utoipa::path(put, path = "/api/v2/workspaces/{id}/autostart", request_body = sdk::UpdateAutostartRequest,
    responses((status = 204), (status = 400, body = sdk::ApiError)))]
pub async fn set_autostart(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
    Json(req): Json<sdk::UpdateAutostartRequest>,
) -> ApiResult<StatusCode> {
    let applied = update(&state, &caller, &id, |ws| {
        Ok(WorkspaceChange {
            autostart_schedule: Some(autostart_schedule(ws, req.schedule.as_deref())?),
            ..Default::default()
        })
    })
    .await?;
    tracing::info!(
        workspace = %format!("{}/{}", applied.state.workspace.owner_name, applied.state.workspace.name),
        schedule = ?applied.state.workspace.autostart_schedule,
        "autostart schedule set"
    );
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/v2/workspaces/{id}/ttl", request_body = sdk::UpdateTtlRequest,
    responses((status = 204), (status = 400, body = sdk::ApiError)))]
pub async fn set_ttl(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
    Json(req): Json<sdk::UpdateTtlRequest>,
) -> ApiResult<StatusCode> {
    update(&state, &caller, &id, |ws| {
        let policy = &ws.template.policy;
        let ttl = ttl(policy.allow_user_autostop, &ws.template.name, req.ttl_ms)?;
        let mut change = WorkspaceChange {
            ttl: Some(ttl),
            ..Default::default()
        };
        // Clearing the TTL means manual shutdown, also for the running
        // build; a new TTL applies from the next build.
        let running =
            ws.build.transition == Transition::Start && ws.build.job.status == JobStatus::Succeeded;
        if ttl.is_none() && running && ws.build.deadline.is_some() {
            change.deadlines = Some((None, ws.build.max_deadline));
        }
        Ok(change)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The furthest an extension may reach from now: the longest TTL.
const MAX_EXTENSION: SignedDuration = SignedDuration::from_hours(24 * 30);

#[utoipa::path(put, path = "/api/v2/workspaces/{id}/extend", request_body = sdk::ExtendRequest,
    responses((status = 200, body = sdk::Response), (status = 400, body = sdk::ApiError), (status = 409, body = sdk::ApiError)))]
pub async fn extend(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
    Json(req): Json<sdk::ExtendRequest>,
) -> ApiResult<axum::Json<sdk::Response>> {
    let now = state.clock.now();
    let applied = update(&state, &caller, &id, |ws| {
        let build = &ws.build;
        if !build.job.status.is_finished() {
            return Err(ApiErr::conflict(format!(
                "workspace is still building (status {}); extend it once it is running",
                ws.status()
            )));
        }
        if build.transition != Transition::Start || build.job.status != JobStatus::Succeeded {
            return Err(ApiErr::conflict(format!(
                "workspace must be running to extend it, current status: {}",
                ws.status()
            )));
        }
        let Some(current) = build.deadline else {
            return Err(ApiErr::conflict(
                "workspace shutdown is manual (no deadline to extend); set a TTL with `dayshift schedule stop`",
            ));
        };
        validate_extend(now, current, build.max_deadline, req.deadline)
            .map_err(|e| ApiErr::invalid("deadline", e.to_string()))?;
        // Without an autostop requirement nothing else bounds an extension;
        // the longest TTL is the sensible ceiling for one.
        if now.checked_add(MAX_EXTENSION).is_ok_and(|limit| req.deadline > limit) {
            return Err(ApiErr::invalid(
                "deadline",
                format!(
                    "new deadline {} is more than {} from now ({now}); extend by at most {}",
                    req.deadline,
                    dayshift_schedule::format_duration(MAX_EXTENSION),
                    dayshift_schedule::format_duration(MAX_EXTENSION),
                ),
            ));
        }
        Ok(WorkspaceChange {
            deadlines: Some((Some(req.deadline), build.max_deadline)),
            ..Default::default()
        })
    })
    .await?;
    metrics::counter!("dayshift_workspace_extensions_total").increment(1);
    tracing::info!(
        workspace = %format!("{}/{}", applied.state.workspace.owner_name, applied.state.workspace.name),
        deadline = %req.deadline,
        "deadline extended"
    );
    Ok(axum::Json(sdk::Response {
        message: format!("Deadline updated to {}.", req.deadline),
    }))
}

#[utoipa::path(post, path = "/api/v2/workspaces/{id}/usage", responses((status = 200, body = sdk::Workspace)))]
pub async fn report_usage(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<sdk::Workspace>> {
    let now = state.clock.now();
    let mut bumped = false;
    let applied = update(&state, &caller, &id, |ws| {
        let mut change = WorkspaceChange {
            last_used_at: Some(now),
            ..Default::default()
        };
        let build = &ws.build;
        let running =
            build.transition == Transition::Start && build.job.status == JobStatus::Succeeded;
        let bump = ws.template.policy.activity_bump;
        if let (true, true, Some(deadline)) = (running, bump.is_positive(), build.deadline) {
            if let Some(new) = bumped_deadline(
                now,
                deadline,
                build.max_deadline,
                bump,
                next_autostart(ws, now),
                effective_ttl(ws),
            ) {
                change.deadlines = Some((Some(new), build.max_deadline));
                bumped = true;
            }
        }
        Ok(change)
    })
    .await?;
    if bumped {
        metrics::counter!("dayshift_workspace_activity_bumps_total").increment(1);
        tracing::info!(
            workspace = %format!("{}/{}", applied.state.workspace.owner_name, applied.state.workspace.name),
            deadline = ?applied.state.build.deadline,
            "deadline bumped by activity"
        );
    }
    Ok(axum::Json(convert::workspace(&applied.state)))
}

#[utoipa::path(put, path = "/api/v2/workspaces/{id}/dormant", request_body = sdk::UpdateDormantRequest,
    responses((status = 200, body = sdk::Workspace)))]
pub async fn set_dormant(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
    Json(req): Json<sdk::UpdateDormantRequest>,
) -> ApiResult<axum::Json<sdk::Workspace>> {
    let now = state.clock.now();
    let applied = update(&state, &caller, &id, |ws| {
        Ok(match (req.dormant, ws.workspace.dormant_at) {
            (true, Some(_)) | (false, None) => WorkspaceChange::default(),
            (true, None) => WorkspaceChange {
                dormant_at: Some(Some(now)),
                deleting_at: Some(deleting_at(now, &ws.template.policy)),
                ..Default::default()
            },
            // Waking a workspace counts as using it, so it does not fall
            // dormant again at the next tick.
            (false, Some(_)) => WorkspaceChange {
                dormant_at: Some(None),
                deleting_at: Some(None),
                last_used_at: Some(now),
                ..Default::default()
            },
        })
    })
    .await?;
    Ok(axum::Json(convert::workspace(&applied.state)))
}
