//! Storage of everything dayshift knows: users, templates and their
//! versions, presets, workspaces, builds and their jobs and logs.
//!
//! One [`Store`] type runs the same SQL on two backends through
//! `sqlx::Any`: SQLite (embedded default) and PostgreSQL (scale-out). The
//! few places where they differ (row locks, `SKIP LOCKED`, column types) are
//! chosen by [`Dialect`]. The conformance suite in `tests/` runs unchanged
//! against both.
//!
//! The store owns data and atomicity, not rules: lifecycle rules reach it
//! through the injected [`Policy`], and it never reads the system clock
//! (every write takes `now` from the caller).

pub mod clock;
mod counts;
mod fleet;
mod jobs;
mod model;
mod page;
mod prebuilds;
mod rows;
mod schema;
mod search;
mod sessions;
mod sql_filter;
mod templates;
pub mod testing;
mod users;
mod workspaces;

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};

pub use fleet::ScheduleGroup;
pub use jobs::{JobListener, JOBS_CHANNEL};
pub use model::*;
pub use page::{Cursor, KeyPart, Page, PageError, PageOf, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
pub use prebuilds::*;
pub use search::{SearchError, WorkspaceQuery};
pub use sessions::{NewSession, Session, SessionKind};
pub use workspaces::{Applied, NewWorkspace};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    /// A uniqueness rule was violated, e.g. a duplicate name.
    #[error("{0}")]
    Conflict(String),
    /// Another transaction holds the workspace lock (skip-locked mode).
    #[error("workspace {0} is locked by another transaction")]
    Busy(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database could not be reached at startup. The cause is shown
    /// as is (not as a `source`, whose own chain would repeat it); callers
    /// name the (redacted) address.
    #[error("{0}")]
    Connect(sqlx::Error),
    /// A request the store cannot answer as asked, e.g. a damaged page
    /// cursor; names the request field.
    #[error("invalid {field}: {detail}")]
    InvalidInput { field: &'static str, detail: String },
    #[error("corrupt data in database: {0}")]
    Corrupt(String),
    #[error(
        "the database schema is at version {found}, newer than this binary supports ({supported}); upgrade dayshift"
    )]
    SchemaTooNew { found: i64, supported: i64 },
}

impl From<PageError> for StoreError {
    fn from(e: PageError) -> Self {
        StoreError::InvalidInput {
            field: e.field,
            detail: e.detail,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// How to take a workspace's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Wait for the lock (API requests).
    Wait,
    /// Give up at once when another transaction holds it (background
    /// reconcilers: whoever holds it is doing the same work).
    Skip,
}

/// Handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    policy: Arc<dyn Policy>,
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` in WAL mode
    /// with foreign keys on, and migrates it.
    pub async fn open_sqlite(path: &std::path::Path, policy: Arc<dyn Policy>) -> Result<Store> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::connect(&url, Dialect::Sqlite, 8, policy).await
    }

    /// Connects to PostgreSQL and migrates the schema.
    pub async fn open_postgres(url: &str, policy: Arc<dyn Policy>) -> Result<Store> {
        Self::connect(url, Dialect::Postgres, 16, policy).await
    }

    async fn connect(
        url: &str,
        dialect: Dialect,
        max_connections: u32,
        policy: Arc<dyn Policy>,
    ) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let options: AnyConnectOptions = url.parse().map_err(StoreError::Connect)?;
        // One direct attempt first: the pool retries a refused connection
        // until its acquire timeout and then reports only "timed out",
        // while this reports the real cause at once.
        options
            .connect()
            .await
            .map_err(StoreError::Connect)?
            .close()
            .await
            .map_err(StoreError::Connect)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // WAL lets readers run beside the single writer;
                        // busy_timeout makes writers queue instead of failing.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let store = Store {
            pool,
            dialect,
            policy,
        };
        store.migrate().await?;
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Replaces the lifecycle policy (the server installs the real one).
    pub fn with_policy(mut self, policy: Arc<dyn Policy>) -> Store {
        self.policy = policy;
        self
    }

    pub fn policy(&self) -> &Arc<dyn Policy> {
        &self.policy
    }

    /// The pool, for backend-specific extensions (e.g. LISTEN/NOTIFY).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// True when the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<()> {
        let supported = schema::MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
        let mut tx = self.begin_write().await?;
        if self.dialect == Dialect::Postgres {
            // Replicas starting together must not migrate twice; the lock
            // is released at commit.
            tx.execute("SELECT pg_advisory_xact_lock(7080)").await?;
        }
        tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .await?;
        let found: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(&mut *tx)
            .await?;
        let found = found.unwrap_or(0);
        if found > supported {
            return Err(StoreError::SchemaTooNew { found, supported });
        }
        for (version, sql) in schema::MIGRATIONS {
            if *version <= found {
                continue;
            }
            let rendered = schema::render(sql, self.dialect);
            for statement in schema::statements(&rendered) {
                tx.execute(statement).await?;
            }
            sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
                .bind(*version)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A write transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads then writes
    /// can fail instead of waiting when another writer got there first.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let tx = match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    /// Takes a workspace's lock in `tx`, a transaction from
    /// [`Store::begin_write`]: the one way every writer locks a workspace.
    ///
    /// **Lock, then read.** The locking statement reads the `workspaces`
    /// row and nothing else, and callers read the state only afterwards.
    /// On PostgreSQL (READ COMMITTED) a statement that waited for a row
    /// lock re-checks only the locked row against its newest version; any
    /// other table in the same statement stays as it was when the
    /// statement began, so a locking read joined to the latest build would
    /// see the winner's workspace row with the loser's stale build (or
    /// lose the row altogether). A separate statement after the lock sees
    /// everything the previous holder committed. On SQLite `BEGIN
    /// IMMEDIATE` already holds the database's write lock, so the
    /// statement only checks that the workspace exists.
    ///
    /// Errors: [`StoreError::NotFound`] when the workspace does not exist
    /// or is deleted; with [`LockMode::Skip`], [`StoreError::Busy`] when
    /// another transaction holds its lock.
    pub(crate) async fn lock_workspace(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        id: &str,
        mode: LockMode,
    ) -> Result<()> {
        const EXISTS: &str = "SELECT id FROM workspaces WHERE id = $1 AND deleted = 0";
        let sql = match (self.dialect, mode) {
            (Dialect::Sqlite, _) => EXISTS.to_string(),
            (Dialect::Postgres, LockMode::Wait) => format!("{EXISTS} FOR UPDATE"),
            (Dialect::Postgres, LockMode::Skip) => format!("{EXISTS} FOR UPDATE SKIP LOCKED"),
        };
        let locked: Option<String> = sqlx::query_scalar(&sql)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        if locked.is_some() {
            return Ok(());
        }
        // SKIP LOCKED answers nothing both for a row held elsewhere and
        // for a missing one; only the first is worth retrying.
        if self.dialect == Dialect::Postgres && mode == LockMode::Skip {
            let exists: Option<String> = sqlx::query_scalar(EXISTS)
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
            if exists.is_some() {
                return Err(StoreError::Busy(id.to_string()));
            }
        }
        Err(StoreError::NotFound(format!("workspace {id}")))
    }

    /// Reads a setting; `None` when unset.
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
pub(crate) fn conflict_on_unique(err: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return StoreError::Conflict(message());
        }
    }
    StoreError::Database(err)
}
