use axum::extract::State;
use axum::http::StatusCode;
use dayshift_sdk as sdk;
use dayshift_store::{NewUser, Role};

use crate::auth::{hash_password, new_token, verify_password, CurrentUser, SESSION_LIFETIME};
use crate::convert;
use crate::error::{ApiErr, ApiResult};
use crate::extract::{Json, Query};
use crate::paging::PageQuery;
use crate::state::AppState;
use crate::validate;

fn new_user(username: &str, email: &str, password: &str, role: Role) -> ApiResult<NewUser> {
    validate::name("username", username)?;
    validate::email(email)?;
    validate::password(password)?;
    Ok(NewUser {
        username: username.to_string(),
        email: email.to_string(),
        password_hash: hash_password(password)?,
        role,
    })
}

/// Creates the first user, an owner; refused once any user exists.
#[utoipa::path(post, path = "/api/v2/users/first", request_body = sdk::CreateFirstUserRequest,
    responses((status = 201, body = sdk::User), (status = 409, body = sdk::ApiError)))]
pub async fn create_first_user(
    State(state): State<AppState>,
    Json(req): Json<sdk::CreateFirstUserRequest>,
) -> ApiResult<(StatusCode, axum::Json<sdk::User>)> {
    let user = new_user(&req.username, &req.email, &req.password, Role::Owner)?;
    let created = state
        .store
        .create_first_user(user, state.clock.now())
        .await?;
    tracing::info!(username = %created.username, "first user created");
    Ok((StatusCode::CREATED, axum::Json(convert::user(&created))))
}

#[utoipa::path(post, path = "/api/v2/users/login", request_body = sdk::LoginRequest,
    responses((status = 201, body = sdk::LoginResponse), (status = 401, body = sdk::ApiError)))]
pub async fn login(
    State(state): State<AppState>,
    Json(req): Json<sdk::LoginRequest>,
) -> ApiResult<(StatusCode, axum::Json<sdk::LoginResponse>)> {
    let user = state.store.user_by_username(&req.username).await?;
    // Same answer for an unknown user and a wrong password.
    let user = user
        .filter(|u| !u.is_system && verify_password(&req.password, &u.password_hash))
        .ok_or_else(|| ApiErr::unauthorized("incorrect username or password"))?;
    let (token, hash) = new_token();
    let now = state.session_clock.now();
    let expires = now.checked_add(SESSION_LIFETIME).map_err(|e| {
        ApiErr::internal("cannot compute session expiry").with_detail(e.to_string())
    })?;
    state
        .store
        .insert_token(&user.id, &hash, now, expires)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(sdk::LoginResponse {
            session_token: token,
            user: convert::user(&user),
        }),
    ))
}

#[utoipa::path(post, path = "/api/v2/users", request_body = sdk::CreateUserRequest,
    responses((status = 201, body = sdk::User), (status = 403, body = sdk::ApiError), (status = 409, body = sdk::ApiError)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: CurrentUser,
    Json(req): Json<sdk::CreateUserRequest>,
) -> ApiResult<(StatusCode, axum::Json<sdk::User>)> {
    caller.require_owner()?;
    let role = match req.role {
        Some(sdk::Role::Owner) => Role::Owner,
        Some(sdk::Role::Member) | None => Role::Member,
    };
    let user = new_user(&req.username, &req.email, &req.password, role)?;
    let created = state.store.create_user(user, state.clock.now()).await?;
    tracing::info!(username = %created.username, role = %created.role, "user created");
    Ok((StatusCode::CREATED, axum::Json(convert::user(&created))))
}

#[utoipa::path(get, path = "/api/v2/users",
    params(
        ("limit" = Option<u32>, Query, description = "rows per page, 1-1000 (default 100)"),
        ("after" = Option<String>, Query, description = "the `next` cursor of the previous page"),
    ),
    responses((status = 200, body = sdk::UsersPage), (status = 400, body = sdk::ApiError), (status = 403, body = sdk::ApiError)))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: CurrentUser,
    Query(paging): Query<PageQuery>,
) -> ApiResult<axum::Json<sdk::UsersPage>> {
    caller.require_owner()?;
    let found = state.store.users(&paging.page()?).await?;
    Ok(axum::Json(sdk::UsersPage {
        users: found.items.iter().map(convert::user).collect(),
        count: found.count,
        next: found.next,
    }))
}

#[utoipa::path(get, path = "/api/v2/users/me", responses((status = 200, body = sdk::User)))]
pub async fn me(caller: CurrentUser) -> axum::Json<sdk::User> {
    axum::Json(convert::user(&caller.0))
}
