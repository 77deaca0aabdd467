//! Sessions: API tokens and dashboard cookies are one kind of row, stored
//! by the SHA-256 hash of their secret (the secret itself is never stored).
//! A session has its own public id, so it can be listed and ended without
//! revealing anything that authenticates.

use std::fmt;
use std::str::FromStr;

use dayshift_schedule::Timestamp;
use sqlx::any::AnyRow;

use crate::rows::*;
use crate::users::{user_from_row_with, USER_COLUMNS};
use crate::{new_id, Result, Store, StoreError, User};

/// How a session was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionKind {
    /// A token sent in the `Dayshift-Session-Token` header (CLI, scripts).
    Token,
    /// A cookie of the web dashboard.
    Cookie,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Token => "token",
            SessionKind::Cookie => "cookie",
        }
    }
}

impl fmt::Display for SessionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionKind {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "token" => Ok(SessionKind::Token),
            "cookie" => Ok(SessionKind::Cookie),
            other => Err(StoreError::Corrupt(format!(
                "unknown session kind {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Public identifier (not the secret, not its hash).
    pub id: String,
    pub user_id: String,
    pub kind: SessionKind,
    /// What started it, e.g. `dayshift CLI` or a browser's user agent.
    pub label: String,
    pub created_at: Timestamp,
    /// Updated at most once a minute (see [`Store::touch_session`]).
    pub last_used_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: String,
    /// SHA-256 of the secret, hex.
    pub token_hash: String,
    pub kind: SessionKind,
    pub label: String,
    pub expires_at: Timestamp,
}

const SESSION_COLUMNS: &str = "id, user_id, kind, label, created_at, last_used_at, expires_at";

fn session_from_row(row: &AnyRow, prefix: &str) -> Result<Session> {
    let col = |c: &str| format!("{prefix}{c}");
    Ok(Session {
        id: get_str(row, &col("id"))?,
        user_id: get_str(row, &col("user_id"))?,
        kind: get_parsed(row, &col("kind"))?,
        label: get_str(row, &col("label"))?,
        created_at: get_ts(row, &col("created_at"))?,
        last_used_at: get_ts(row, &col("last_used_at"))?,
        expires_at: get_ts(row, &col("expires_at"))?,
    })
}

impl Store {
    /// Starts a session.
    pub async fn create_session(&self, new: NewSession, now: Timestamp) -> Result<Session> {
        let session = Session {
            id: new_id(),
            user_id: new.user_id,
            kind: new.kind,
            label: new.label,
            created_at: now,
            last_used_at: now,
            expires_at: new.expires_at,
        };
        sqlx::query(&format!(
            "INSERT INTO api_tokens (token_hash, {SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&new.token_hash)
        .bind(&session.id)
        .bind(&session.user_id)
        .bind(session.kind.as_str())
        .bind(&session.label)
        .bind(ms(now))
        .bind(ms(now))
        .bind(ms(session.expires_at))
        .execute(self.pool())
        .await?;
        Ok(session)
    }

    /// The unexpired session with this secret's hash, and its user.
    pub async fn session_by_token_hash(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<(User, Session)>> {
        let user_columns = prefixed(USER_COLUMNS, "u.", "u_");
        let session_columns = prefixed(SESSION_COLUMNS, "t.", "t_");
        let row = sqlx::query(&format!(
            "SELECT {user_columns}, {session_columns} FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.expires_at > $2 AND u.is_system = 0"
        ))
        .bind(token_hash)
        .bind(ms(now))
        .fetch_optional(self.pool())
        .await?;
        row.as_ref()
            .map(|row| Ok((user_from_row_with(row, "u_")?, session_from_row(row, "t_")?)))
            .transpose()
    }

    /// The user holding an unexpired session with this secret's hash.
    pub async fn user_by_token_hash(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<User>> {
        Ok(self
            .session_by_token_hash(token_hash, now)
            .await?
            .map(|(user, _)| user))
    }

    /// Records that a session was used at `now`, unless it was already
    /// recorded within the last minute: a busy client does not turn every
    /// read into a write.
    pub async fn touch_session(&self, id: &str, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND last_used_at < $3")
            .bind(ms(now))
            .bind(id)
            .bind(ms(now) - SESSION_TOUCH_GRANULARITY_MS)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A user's unexpired sessions, newest first.
    pub async fn sessions_of_user(&self, user_id: &str, now: Timestamp) -> Result<Vec<Session>> {
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM api_tokens WHERE user_id = $1 AND expires_at > $2 \
             ORDER BY created_at DESC, id"
        ))
        .bind(user_id)
        .bind(ms(now))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| session_from_row(row, "")).collect()
    }

    /// Ends one session of a user; `NotFound` when the user has no session
    /// with that id (another user's session included).
    pub async fn delete_session(&self, user_id: &str, session_id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(session_id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("session {session_id}")));
        }
        Ok(())
    }

    /// Ends the session with this secret's hash, if any.
    pub async fn delete_session_by_token_hash(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends every session of a user except `keep` (the caller's own, when
    /// it changes its password); returns how many ended.
    pub async fn delete_sessions_of_user(&self, user_id: &str, keep: Option<&str>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND id <> $2")
            .bind(user_id)
            .bind(keep.unwrap_or(""))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Deletes sessions that expired before `now`.
    pub async fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE expires_at <= $1")
            .bind(ms(now))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

/// `last_used_at` is kept to the minute.
const SESSION_TOUCH_GRANULARITY_MS: i64 = 60_000;

/// `a, b` with `prefix` `t.` and alias prefix `t_` → `t.a AS t_a, t.b AS t_b`.
fn prefixed(columns: &str, table: &str, alias: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{table}{c} AS {alias}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}
