use dayshift_schedule::Timestamp;
use sqlx::any::AnyRow;

use crate::rows::*;
use crate::{
    conflict_on_unique, new_id, Cursor, KeyPart, NewUser, Page, PageOf, Result, Role, Store,
    StoreError, User,
};

pub(crate) const USER_COLUMNS: &str =
    "id, username, email, password_hash, role, is_system, created_at";

fn user_from_row(row: &AnyRow) -> Result<User> {
    user_from_row_with(row, "")
}

/// A user from columns named `{prefix}id`, `{prefix}username`, ...
pub(crate) fn user_from_row_with(row: &AnyRow, prefix: &str) -> Result<User> {
    let col = |c: &str| format!("{prefix}{c}");
    Ok(User {
        id: get_str(row, &col("id"))?,
        username: get_str(row, &col("username"))?,
        email: get_str(row, &col("email"))?,
        password_hash: get_str(row, &col("password_hash"))?,
        role: get_parsed(row, &col("role"))?,
        is_system: get_bool(row, &col("is_system"))?,
        created_at: get_ts(row, &col("created_at"))?,
    })
}

impl Store {
    /// Creates a user; a duplicate username or email is a conflict.
    pub async fn create_user(&self, user: NewUser, now: Timestamp) -> Result<User> {
        self.insert_user(user, false, now).await
    }

    /// Creates the first user as an owner, atomically refusing when any
    /// (non-system) user already exists.
    pub async fn create_first_user(&self, mut user: NewUser, now: Timestamp) -> Result<User> {
        let mut tx = self.begin_write().await?;
        let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_system = 0")
            .fetch_one(&mut *tx)
            .await?;
        if existing > 0 {
            return Err(StoreError::Conflict(
                "the first user has already been created".into(),
            ));
        }
        user.role = Role::Owner;
        let created = insert_user_in(&mut tx, user, false, now).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Returns the system user `username`, creating it on first use.
    pub async fn ensure_system_user(&self, username: &str, now: Timestamp) -> Result<User> {
        if let Some(user) = self.user_by_username(username).await? {
            return Ok(user);
        }
        let new = NewUser {
            username: username.to_string(),
            email: format!("{username}@system.invalid"),
            // No password hash matches this, so nobody can log in as it.
            password_hash: "!".to_string(),
            role: Role::Member,
        };
        match self.insert_user(new, true, now).await {
            Ok(user) => Ok(user),
            // Another replica created it first.
            Err(StoreError::Conflict(_)) => self
                .user_by_username(username)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("user {username:?}"))),
            Err(e) => Err(e),
        }
    }

    async fn insert_user(&self, user: NewUser, is_system: bool, now: Timestamp) -> Result<User> {
        let mut tx = self.begin_write().await?;
        let created = insert_user_in(&mut tx, user, is_system, now).await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn user_count(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_system = 0")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// One page of the people who can log in (system users left out),
    /// by username: a range scan of the unique username index.
    pub async fn users(&self, page: &Page) -> Result<PageOf<User>> {
        let after = match page.after() {
            Some(cursor) => cursor.texts::<1>().map_err(StoreError::from)?[0],
            None => "",
        };
        let count = self.user_count().await?;
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE is_system = 0 AND username > $1 \
             ORDER BY username LIMIT $2"
        ))
        .bind(after)
        .bind(page.fetch_limit())
        .fetch_all(self.pool())
        .await?;
        let users = rows.iter().map(user_from_row).collect::<Result<Vec<_>>>()?;
        Ok(PageOf::from_fetched(users, page, count, |user| {
            Cursor(vec![KeyPart::Text(user.username.clone())])
        }))
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Replaces a user's password hash.
    pub async fn set_password_hash(&self, user_id: &str, password_hash: &str) -> Result<()> {
        let done =
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND is_system = 0")
                .bind(password_hash)
                .bind(user_id)
                .execute(self.pool())
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {user_id}")));
        }
        Ok(())
    }
}

async fn insert_user_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user: NewUser,
    is_system: bool,
    now: Timestamp,
) -> Result<User> {
    let created = User {
        id: new_id(),
        username: user.username,
        email: user.email,
        password_hash: user.password_hash,
        role: user.role,
        is_system,
        created_at: now,
    };
    sqlx::query(&format!(
        "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&created.id)
    .bind(&created.username)
    .bind(&created.email)
    .bind(&created.password_hash)
    .bind(created.role.as_str())
    .bind(i64::from(is_system))
    .bind(ms(now))
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!(
                "a user with username {:?} or email {:?} already exists",
                created.username, created.email
            )
        })
    })?;
    Ok(created)
}
