use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use dayshift_provisioner::{BundleError, BundleFile, Manifest, TemplateBundle};
use dayshift_schedule::Weekdays;
use dayshift_sdk as sdk;
use dayshift_store::{NewTemplateVersion, Template, TemplatePolicy, TemplateVersion};

use crate::auth::CurrentUser;
use crate::convert;
use crate::error::{ApiErr, ApiResult};
use crate::extract::{Json, Query};
use crate::paging::PageQuery;
use crate::state::AppState;
use crate::validate;

/// Finds a template by id or by name.
pub async fn find_template(state: &AppState, id_or_name: &str) -> ApiResult<Template> {
    if let Some(t) = state.store.template(id_or_name).await? {
        return Ok(t);
    }
    state
        .store
        .template_by_name(id_or_name)
        .await?
        .ok_or_else(|| ApiErr::not_found(format!("template {id_or_name:?} not found")))
}

/// Decodes, validates and parses an uploaded template directory.
fn new_version(files: Vec<sdk::TemplateFile>, created_by: &str) -> ApiResult<NewTemplateVersion> {
    let mut bundle = TemplateBundle::default();
    for (i, file) in files.into_iter().enumerate() {
        let content = base64::engine::general_purpose::STANDARD
            .decode(file.content_base64.as_bytes())
            .map_err(|e| {
                ApiErr::invalid(
                    &format!("files[{i}].content_base64"),
                    format!("{:?}: not base64: {e}", file.path),
                )
            })?;
        bundle.files.push(BundleFile {
            path: file.path,
            mode: file.mode,
            content,
        });
    }
    bundle.new_version(created_by).map_err(|e| match e {
        BundleError::Manifest(e) => ApiErr::bad_request(format!("invalid dayshift.toml: {e}")),
        other => ApiErr::invalid("files", other.to_string()),
    })
}

/// The parsed manifest of a stored version.
pub fn manifest_of(version: &TemplateVersion) -> ApiResult<Manifest> {
    serde_json::from_str(&version.manifest_json).map_err(|e| {
        ApiErr::internal(format!(
            "stored manifest of version {} is unreadable",
            version.id
        ))
        .with_detail(e.to_string())
    })
}

async fn version_view(
    state: &AppState,
    template: &Template,
    version: &TemplateVersion,
) -> ApiResult<sdk::TemplateVersion> {
    let manifest = manifest_of(version)?;
    let presets = state.store.presets(&version.id).await?;
    Ok(sdk::TemplateVersion {
        id: version.id.clone(),
        template_id: version.template_id.clone(),
        created_at: version.created_at,
        created_by: version.created_by.clone(),
        active: template.active_version_id == version.id,
        provisioner: version.provisioner.clone(),
        parameters: manifest
            .parameters
            .iter()
            .map(|p| sdk::TemplateParameter {
                name: p.name.clone(),
                default: p.default.clone(),
                options: p.options.clone(),
                mutable: p.mutable,
            })
            .collect(),
        presets: presets
            .iter()
            .map(|p| sdk::Preset {
                id: p.id.clone(),
                name: p.name.clone(),
                parameters: p.parameters.clone(),
                prebuild_instances: p.prebuild_instances,
            })
            .collect(),
    })
}

#[utoipa::path(get, path = "/api/v2/templates", responses((status = 200, body = Vec<sdk::Template>)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: CurrentUser,
) -> ApiResult<axum::Json<Vec<sdk::Template>>> {
    let templates = state.store.templates().await?;
    Ok(axum::Json(
        templates.iter().map(convert::template).collect(),
    ))
}

#[utoipa::path(post, path = "/api/v2/templates", request_body = sdk::CreateTemplateRequest,
    responses((status = 201, body = sdk::Template), (status = 400, body = sdk::ApiError), (status = 409, body = sdk::ApiError)))]
pub async fn create(
    State(state): State<AppState>,
    caller: CurrentUser,
    Json(req): Json<sdk::CreateTemplateRequest>,
) -> ApiResult<(StatusCode, axum::Json<sdk::Template>)> {
    caller.require_owner()?;
    validate::name("name", &req.name)?;
    let version = new_version(req.files, &caller.0.id)?;
    let (template, version) = state
        .store
        .create_template(
            &req.name,
            &TemplatePolicy::default(),
            version,
            state.clock.now(),
        )
        .await?;
    tracing::info!(template = %template.name, version = %version.id, "template created");
    // Its presets' pools (and the old version's) change now, not a poll later.
    state.prebuilds.refill(state.clock.now());
    Ok((
        StatusCode::CREATED,
        axum::Json(convert::template(&template)),
    ))
}

#[utoipa::path(get, path = "/api/v2/templates/{template}", params(("template" = String, Path, description = "id or name")),
    responses((status = 200, body = sdk::Template), (status = 404, body = sdk::ApiError)))]
pub async fn get(
    State(state): State<AppState>,
    _caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<sdk::Template>> {
    Ok(axum::Json(convert::template(
        &find_template(&state, &id).await?,
    )))
}

fn weekdays(field: &str, names: &[String]) -> ApiResult<Weekdays> {
    let joined = if names.is_empty() {
        "none".to_string()
    } else {
        names.join(",")
    };
    Weekdays::parse_list(&joined).map_err(|e| ApiErr::invalid(field, e.to_string()))
}

#[utoipa::path(patch, path = "/api/v2/templates/{template}", request_body = sdk::UpdateTemplateRequest,
    params(("template" = String, Path, description = "id or name")),
    responses((status = 200, body = sdk::Template), (status = 400, body = sdk::ApiError)))]
pub async fn update(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
    Json(req): Json<sdk::UpdateTemplateRequest>,
) -> ApiResult<axum::Json<sdk::Template>> {
    caller.require_owner()?;
    let template = find_template(&state, &id).await?;
    let mut policy = template.policy.clone();
    // TTLs follow the workspace TTL limit; dormancy may span a year.
    if let Some(ms) = req.default_ttl_ms {
        policy.default_ttl = validate::duration_ms("default_ttl_ms", ms, 30)?;
    }
    if let Some(ms) = req.activity_bump_ms {
        policy.activity_bump = validate::duration_ms("activity_bump_ms", ms, 30)?;
    }
    if let Some(ms) = req.failure_ttl_ms {
        policy.failure_ttl = validate::duration_ms("failure_ttl_ms", ms, 365)?;
    }
    if let Some(ms) = req.time_til_dormant_ms {
        policy.time_til_dormant = validate::duration_ms("time_til_dormant_ms", ms, 365)?;
    }
    if let Some(ms) = req.time_til_dormant_autodelete_ms {
        policy.time_til_dormant_autodelete =
            validate::duration_ms("time_til_dormant_autodelete_ms", ms, 365)?;
    }
    if let Some(req) = &req.autostop_requirement {
        policy.autostop_requirement_days =
            weekdays("autostop_requirement.days_of_week", &req.days_of_week)?;
        if !(1..=16).contains(&req.weeks) {
            return Err(ApiErr::invalid(
                "autostop_requirement.weeks",
                format!("{} is out of range: must be 1-16", req.weeks),
            ));
        }
        policy.autostop_requirement_weeks = req.weeks;
    }
    if let Some(req) = &req.autostart_requirement {
        policy.autostart_requirement_days =
            weekdays("autostart_requirement.days_of_week", &req.days_of_week)?;
    }
    if let Some(v) = req.allow_user_autostart {
        policy.allow_user_autostart = v;
    }
    if let Some(v) = req.allow_user_autostop {
        policy.allow_user_autostop = v;
    }
    let updated = state
        .store
        .update_template_policy(&template.id, &policy)
        .await?;
    state.workspaces_changed();
    tracing::info!(template = %updated.name, "template policy updated");
    Ok(axum::Json(convert::template(&updated)))
}

#[utoipa::path(post, path = "/api/v2/templates/{template}/versions", request_body = sdk::CreateTemplateVersionRequest,
    params(("template" = String, Path, description = "id or name")),
    responses((status = 201, body = sdk::TemplateVersion), (status = 400, body = sdk::ApiError)))]
pub async fn create_version(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
    Json(req): Json<sdk::CreateTemplateVersionRequest>,
) -> ApiResult<(StatusCode, axum::Json<sdk::TemplateVersion>)> {
    caller.require_owner()?;
    let template = find_template(&state, &id).await?;
    let version = new_version(req.files, &caller.0.id)?;
    let version = state
        .store
        .create_template_version(&template.id, version, state.clock.now())
        .await?;
    let template = find_template(&state, &template.id).await?;
    tracing::info!(template = %template.name, version = %version.id, "template version pushed");
    // Its presets' pools (and the old version's) change now, not a poll later.
    state.prebuilds.refill(state.clock.now());
    Ok((
        StatusCode::CREATED,
        axum::Json(version_view(&state, &template, &version).await?),
    ))
}

#[utoipa::path(get, path = "/api/v2/templates/{template}/versions",
    params(
        ("template" = String, Path, description = "id or name"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "rows per page, 1-1000 (default 100)"),
        ("after" = Option<String>, Query, description = "the `next` cursor of the previous page"),
    ),
    responses((status = 200, body = sdk::TemplateVersionsPage), (status = 400, body = sdk::ApiError), (status = 404, body = sdk::ApiError)))]
pub async fn list_versions(
    State(state): State<AppState>,
    _caller: CurrentUser,
    Path(id): Path<String>,
    Query(paging): Query<PageQuery>,
) -> ApiResult<axum::Json<sdk::TemplateVersionsPage>> {
    let page = paging.page()?;
    let template = find_template(&state, &id).await?;
    let found = state.store.template_versions(&template.id, &page).await?;
    let mut versions = Vec::with_capacity(found.items.len());
    for version in &found.items {
        versions.push(version_view(&state, &template, version).await?);
    }
    Ok(axum::Json(sdk::TemplateVersionsPage {
        versions,
        count: found.count,
        next: found.next,
    }))
}
