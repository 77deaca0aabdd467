use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use dayshift_sdk as sdk;
use dayshift_store::{NewUser, Role, SessionKind, User};

use crate::auth::{self, CurrentSession, CurrentUser};
use crate::convert;
use crate::error::{ApiErr, ApiResult};
use crate::extract::{Json, Query};
use crate::login::ClientAddress;
use crate::paging::PageQuery;
use crate::state::AppState;
use crate::validate;

async fn new_user(
    state: &AppState,
    username: &str,
    email: &str,
    password: &str,
    role: Role,
) -> ApiResult<NewUser> {
    validate::name("username", username)?;
    validate::email(email)?;
    validate::password(password)?;
    Ok(NewUser {
        username: username.to_string(),
        email: email.to_string(),
        password_hash: state.passwords.hash(password).await?,
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
    let user = new_user(
        &state,
        &req.username,
        &req.email,
        &req.password,
        Role::Owner,
    )
    .await?;
    let created = state
        .store
        .create_first_user(user, state.clock.now())
        .await?;
    tracing::info!(username = %created.username, "first user created");
    Ok((StatusCode::CREATED, axum::Json(convert::user(&created))))
}

/// Starts an API session. Failed attempts are throttled per username and
/// per client address (429 with `Retry-After`).
#[utoipa::path(post, path = "/api/v2/users/login", request_body = sdk::LoginRequest,
    responses((status = 201, body = sdk::LoginResponse), (status = 401, body = sdk::ApiError),
        (status = 429, body = sdk::ApiError, headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Json(req): Json<sdk::LoginRequest>,
) -> ApiResult<(StatusCode, axum::Json<sdk::LoginResponse>)> {
    // No account has a longer name or password: refuse before hashing.
    validate::max_len("username", &req.username, validate::MAX_EMAIL)?;
    if req.password.chars().count() > validate::MAX_PASSWORD_CHARS {
        validate::password(&req.password)?;
    }
    let user = auth::authenticate(&state, &req.username, &req.password, address).await?;
    let label = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("API client");
    let (token, _) = auth::start_session(&state, &user, SessionKind::Token, label).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(sdk::LoginResponse {
            session_token: token,
            user: convert::user(&user),
        }),
    ))
}

/// Ends the session the request is made with.
#[utoipa::path(post, path = "/api/v2/users/logout", responses((status = 204), (status = 401, body = sdk::ApiError)))]
pub async fn logout(
    State(state): State<AppState>,
    caller: CurrentSession,
) -> ApiResult<StatusCode> {
    auth::end_session(&state, &caller.token).await?;
    tracing::info!(username = %caller.user.0.username, session = %caller.session.id, "logged out");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v2/users/me/sessions",
    responses((status = 200, body = sdk::SessionList), (status = 401, body = sdk::ApiError)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    caller: CurrentSession,
) -> ApiResult<axum::Json<sdk::SessionList>> {
    let sessions = state
        .store
        .sessions_of_user(&caller.user.0.id, state.session_clock.now())
        .await?;
    Ok(axum::Json(sdk::SessionList {
        sessions: sessions
            .iter()
            .map(|s| convert::session(s, s.id == caller.session.id))
            .collect(),
    }))
}

/// Ends one of the caller's sessions; another user's session id is not
/// found, like a made-up one.
#[utoipa::path(delete, path = "/api/v2/users/me/sessions/{id}",
    params(("id" = String, Path, description = "session id")),
    responses((status = 204), (status = 401, body = sdk::ApiError), (status = 404, body = sdk::ApiError)))]
pub async fn end_session(
    State(state): State<AppState>,
    caller: CurrentSession,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .store
        .delete_session(&caller.user.0.id, &id)
        .await
        .map_err(|e| match e {
            dayshift_store::StoreError::NotFound(_) => ApiErr::not_found("session not found"),
            other => other.into(),
        })?;
    tracing::info!(username = %caller.user.0.username, session = %id, "session ended");
    Ok(StatusCode::NO_CONTENT)
}

/// The user a `{user}` path segment names (`me`, a username or an id):
/// the caller itself, or for an owner anyone; a member naming someone else
/// is refused before the name is even looked up.
async fn target_user(state: &AppState, caller: &CurrentUser, user: &str) -> ApiResult<User> {
    if user == "me" || user == caller.0.username || user == caller.0.id {
        return Ok(caller.0.clone());
    }
    caller.require_owner()?;
    let found = match state.store.user_by_username(user).await? {
        Some(u) => Some(u),
        None => state.store.user_by_id(user).await?,
    };
    found
        .filter(|u| !u.is_system)
        .ok_or_else(|| ApiErr::not_found(format!("user {user:?} not found")))
}

/// Ends every session of a user (an owner locking someone out, or a user
/// signing out everywhere, this session included).
#[utoipa::path(delete, path = "/api/v2/users/{user}/sessions",
    params(("user" = String, Path, description = "username, user id or `me`")),
    responses((status = 200, body = sdk::SessionsEnded), (status = 401, body = sdk::ApiError),
        (status = 403, body = sdk::ApiError), (status = 404, body = sdk::ApiError)))]
pub async fn end_sessions_of_user(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(user): Path<String>,
) -> ApiResult<axum::Json<sdk::SessionsEnded>> {
    end_sessions(&state, &caller, &user).await
}

/// `DELETE /users/me/sessions`: the static `/users/me/sessions` route
/// shadows `/users/{user}/sessions` for `me`.
#[utoipa::path(delete, path = "/api/v2/users/me/sessions",
    responses((status = 200, body = sdk::SessionsEnded)))]
pub async fn end_my_sessions(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<axum::Json<sdk::SessionsEnded>> {
    end_sessions(&state, &caller, "me").await
}

async fn end_sessions(
    state: &AppState,
    caller: &CurrentUser,
    user: &str,
) -> ApiResult<axum::Json<sdk::SessionsEnded>> {
    let target = target_user(state, caller, user).await?;
    let ended = state
        .store
        .delete_sessions_of_user(&target.id, None)
        .await?;
    tracing::info!(username = %target.username, by = %caller.0.username, ended, "all sessions ended");
    Ok(axum::Json(sdk::SessionsEnded { ended }))
}

/// Changes a password and ends the user's other sessions (all of them
/// when an owner resets someone else's).
#[utoipa::path(put, path = "/api/v2/users/{user}/password", request_body = sdk::ChangePasswordRequest,
    params(("user" = String, Path, description = "username, user id or `me`")),
    responses((status = 204), (status = 400, body = sdk::ApiError), (status = 401, body = sdk::ApiError),
        (status = 403, body = sdk::ApiError), (status = 404, body = sdk::ApiError),
        (status = 429, body = sdk::ApiError, headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: CurrentSession,
    ClientAddress(address): ClientAddress,
    Path(user): Path<String>,
    Json(req): Json<sdk::ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    if let Some(old) = &req.old_password {
        let chars = old.chars().count();
        if chars > validate::MAX_PASSWORD_CHARS {
            return Err(ApiErr::invalid(
                "old_password",
                format!(
                    "is {chars} characters long; the limit is {}",
                    validate::MAX_PASSWORD_CHARS
                ),
            ));
        }
    }
    let target = target_user(&state, &caller.user, &user).await?;
    let own = target.id == caller.user.0.id;
    if own {
        // A stolen session must not be enough to take the account over.
        let old = req.old_password.as_deref().ok_or_else(|| {
            ApiErr::invalid(
                "old_password",
                "the current password is required to change your own",
            )
        })?;
        let ok = state
            .passwords
            .login(Some(&target), &target.username, old, address)
            .await?;
        if !ok {
            return Err(ApiErr::invalid(
                "old_password",
                "is not your current password",
            ));
        }
    }
    validate::password(&req.password)?;
    let hash = state.passwords.hash(&req.password).await?;
    state.store.set_password_hash(&target.id, &hash).await?;
    let keep = own.then_some(caller.session.id.as_str());
    let ended = state
        .store
        .delete_sessions_of_user(&target.id, keep)
        .await?;
    tracing::info!(username = %target.username, by = %caller.user.0.username, ended, "password changed");
    Ok(StatusCode::NO_CONTENT)
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
    let user = new_user(&state, &req.username, &req.email, &req.password, role).await?;
    let created = state.store.create_user(user, state.clock.now()).await?;
    tracing::info!(username = %created.username, role = %created.role, "user created");
    Ok((StatusCode::CREATED, axum::Json(convert::user(&created))))
}

#[utoipa::path(get, path = "/api/v2/users",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "rows per page, 1-1000 (default 100)"),
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
