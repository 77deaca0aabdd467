//! Sessions (random secrets stored as SHA-256 hashes) and the extractors
//! that turn a request's token into its user. API tokens and dashboard
//! cookies are the same sessions: [`start_session`], [`session_for_token`]
//! and [`end_session`] are what the dashboard calls too.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use dayshift_schedule::SignedDuration;
use dayshift_store::{NewSession, Role, Session, SessionKind, User};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{ApiErr, ApiResult};
use crate::state::AppState;

/// Sessions last 30 days.
pub const SESSION_LIFETIME: SignedDuration = SignedDuration::from_hours(24 * 30);

/// Longest session label kept (a browser's user agent can be long).
pub const MAX_SESSION_LABEL: usize = 128;

/// A new random token and the hash under which it is stored.
fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Starts a session for `user` (whose password the caller has checked) and
/// returns its secret, which is shown once and never stored.
pub async fn start_session(
    state: &AppState,
    user: &User,
    kind: SessionKind,
    label: &str,
) -> ApiResult<(String, Session)> {
    let (token, token_hash) = new_token();
    let now = state.session_clock.now();
    let expires_at = now.checked_add(SESSION_LIFETIME).map_err(|e| {
        ApiErr::internal("cannot compute the session's expiry").with_detail(e.to_string())
    })?;
    let label: String = label
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_SESSION_LABEL)
        .collect();
    let session = state
        .store
        .create_session(
            NewSession {
                user_id: user.id.clone(),
                token_hash,
                kind,
                label,
                expires_at,
            },
            now,
        )
        .await?;
    tracing::info!(username = %user.username, session = %session.id, kind = %kind, "session started");
    Ok((token, session))
}

/// The live session a secret belongs to, and its user; records its use.
pub async fn session_for_token(
    state: &AppState,
    token: &str,
) -> ApiResult<Option<(User, Session)>> {
    let now = state.session_clock.now();
    let found = state
        .store
        .session_by_token_hash(&hash_token(token), now)
        .await?;
    if let Some((_, session)) = &found {
        if now.duration_since(session.last_used_at) >= SignedDuration::from_mins(1) {
            state.store.touch_session(&session.id, now).await?;
        }
    }
    Ok(found)
}

/// Ends the session a secret belongs to (logout); unknown secrets are
/// ignored.
pub async fn end_session(state: &AppState, token: &str) -> ApiResult<()> {
    state
        .store
        .delete_session_by_token_hash(&hash_token(token))
        .await?;
    Ok(())
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl CurrentUser {
    pub fn is_owner(&self) -> bool {
        self.0.role == Role::Owner
    }

    pub fn require_owner(&self) -> Result<(), ApiErr> {
        if self.is_owner() {
            Ok(())
        } else {
            Err(ApiErr::forbidden(
                "this action needs the owner role; ask an owner of this deployment",
            ))
        }
    }
}

/// The authenticated caller and the session it authenticated with.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub user: CurrentUser,
    pub session: Session,
    /// The secret, for logout.
    pub token: String,
}

/// The token of a request: the `Dayshift-Session-Token` header, else
/// `Authorization: Bearer`.
pub fn token_from(parts: &Parts) -> Option<&str> {
    if let Some(value) = parts.headers.get(dayshift_sdk::SESSION_TOKEN_HEADER) {
        return value.to_str().ok().map(str::trim);
    }
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiErr;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(current) = parts.extensions.get::<CurrentSession>() {
            return Ok(current.clone());
        }
        let token = token_from(parts).filter(|t| !t.is_empty()).ok_or_else(|| {
            ApiErr::unauthorized(format!(
                "no session token: send the {} header (run `dayshift login`)",
                dayshift_sdk::SESSION_TOKEN_HEADER
            ))
        })?;
        let (user, session) = session_for_token(state, token).await?.ok_or_else(|| {
            ApiErr::unauthorized("session token is invalid or expired; run `dayshift login` again")
        })?;
        let current = CurrentSession {
            user: CurrentUser(user),
            session,
            token: token.to_owned(),
        };
        parts.extensions.insert(current.clone());
        Ok(current)
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiErr;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(CurrentSession::from_request_parts(parts, state).await?.user)
    }
}

/// Checks a username and password as a login does (throttled, hashed off
/// the async workers, the same work for unknown names) and returns the
/// user; every failure answers the same 401.
pub async fn authenticate(
    state: &AppState,
    username: &str,
    password: &str,
    address: Option<std::net::IpAddr>,
) -> ApiResult<User> {
    let user = state.store.user_by_username(username).await?;
    let ok = state
        .passwords
        .login(user.as_ref(), username, password, address)
        .await?;
    match user {
        Some(user) if ok => Ok(user),
        _ => Err(ApiErr::unauthorized("incorrect username or password")),
    }
}
