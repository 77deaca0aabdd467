//! Passwords (argon2), session tokens (random, stored as SHA-256 hashes)
//! and the extractor that turns a request's token into its user.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use dayshift_schedule::SignedDuration;
use dayshift_store::{Role, User};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiErr;
use crate::state::AppState;

/// Sessions last 30 days.
pub const SESSION_LIFETIME: SignedDuration = SignedDuration::from_hours(24 * 30);

pub fn hash_password(password: &str) -> Result<String, ApiErr> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ApiErr::internal("cannot hash password").with_detail(e.to_string()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new random token and the hash under which it is stored.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
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

fn token_from(parts: &Parts) -> Option<&str> {
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

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiErr;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = token_from(parts).ok_or_else(|| {
            ApiErr::unauthorized(format!(
                "no session token: send the {} header (run `dayshift login`)",
                dayshift_sdk::SESSION_TOKEN_HEADER
            ))
        })?;
        let user = state
            .store
            .user_by_token_hash(&hash_token(token), state.session_clock.now())
            .await?
            .ok_or_else(|| {
                ApiErr::unauthorized(
                    "session token is invalid or expired; run `dayshift login` again",
                )
            })?;
        Ok(CurrentUser(user))
    }
}
