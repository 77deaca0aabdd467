//! Test support shared by every crate's tests: a fresh store on either
//! backend. PostgreSQL tests each get a schema of their own so they run in
//! parallel; with `CI=true` an unreachable PostgreSQL fails the test
//! instead of skipping it.

use std::sync::Arc;

use crate::{NewUser, Policy, Role, Store, User};

/// The PostgreSQL server the tests use.
pub fn postgres_url() -> String {
    std::env::var("DAYSHIFT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Which backend a conformance test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A store for one test; keeps its temporary directory alive.
pub struct TestStore {
    pub store: Store,
    _dir: Option<tempfile_dir::TempDir>,
    /// The URL of the test's own schema (PostgreSQL only), for tests that
    /// open several stores (replicas) on one database.
    pub url: Option<String>,
}

mod tempfile_dir {
    /// A directory removed on drop (avoids a dependency for one struct).
    pub struct TempDir(pub std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Opens a fresh store, or `None` when PostgreSQL is unreachable outside CI.
///
/// # Panics
/// When the backend cannot be set up: tests are the only callers.
pub async fn open(backend: Backend, policy: Arc<dyn Policy>) -> Option<TestStore> {
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("dayshift-test-{}", crate::new_id()));
            std::fs::create_dir_all(&dir).expect("create temp dir");
            let store = Store::open_sqlite(&dir.join("dayshift.db"), policy)
                .await
                .expect("open sqlite store");
            Some(TestStore {
                store,
                _dir: Some(tempfile_dir::TempDir(dir)),
                url: None,
            })
        }
        Backend::Postgres => {
            let url = postgres_schema_url().await?;
            let store = Store::open_postgres(&url, policy)
                .await
                .expect("open postgres store");
            Some(TestStore {
                store,
                _dir: None,
                url: Some(url),
            })
        }
    }
}

/// Creates a schema of its own and returns a URL whose connections use it.
pub async fn postgres_schema_url() -> Option<String> {
    use sqlx::Connection;
    let base = postgres_url();
    let mut conn = match sqlx::PgConnection::connect(&base).await {
        Ok(conn) => conn,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("PostgreSQL at {base} is unreachable and CI=true makes it mandatory: {e}");
            }
            eprintln!("skipping PostgreSQL test: {base} unreachable: {e}");
            return None;
        }
    };
    let schema = format!("t_{}", crate::new_id().replace('-', ""));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ))
}

/// Records a schema version, e.g. one newer than this binary supports.
///
/// # Panics
/// When the database refuses: tests are the only callers.
pub async fn set_schema_version(store: &Store, version: i64) {
    sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
        .bind(version)
        .execute(store.pool())
        .await
        .expect("record schema version");
}

/// Creates `count` workspaces of a template, owned by `owner`, whose start
/// builds succeeded at `now` (acquired and completed by daemons named
/// `setup-N`): running workspaces, for tests and benchmarks of what
/// happens to them next. Returns their ids.
///
/// # Panics
/// When the store refuses: tests and benchmarks are the only callers.
pub async fn running_workspaces(
    store: &Store,
    owner: &crate::User,
    template_id: &str,
    version_id: &str,
    count: usize,
    ttl: Option<dayshift_schedule::SignedDuration>,
    now: dayshift_schedule::Timestamp,
) -> std::collections::BTreeSet<String> {
    use crate::{BuildReason, JobResult, NewBuild, NewWorkspace, Transition};
    // A few at a time: round trips overlap, and the pool keeps connections
    // for everybody else.
    const WORKERS: usize = 8;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..WORKERS {
        let (store, owner_id) = (store.clone(), owner.id.clone());
        let (template_id, version_id) = (template_id.to_string(), version_id.to_string());
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for i in (worker..count).step_by(WORKERS) {
                let workspace = NewWorkspace {
                    owner_id: owner_id.clone(),
                    name: format!("ws-{i:07}"),
                    template_id: template_id.clone(),
                    autostart_schedule: None,
                    ttl,
                    prebuild_preset_id: None,
                };
                let build = NewBuild {
                    transition: Transition::Start,
                    reason: BuildReason::Initiator,
                    template_version_id: version_id.clone(),
                    parameters: Default::default(),
                    initiator_id: owner_id.clone(),
                };
                let ws = store
                    .create_workspace(workspace, build, now)
                    .await
                    .expect("workspace");
                ids.push(ws.workspace.id);
            }
            let name = format!("setup-{worker}");
            while let Some(job) = store.acquire_job(&name, now).await.expect("acquire") {
                let done = JobResult {
                    success: true,
                    error: None,
                    outputs: Default::default(),
                };
                store
                    .complete_job(&job.build.id, Some(&name), done, now)
                    .await
                    .expect("complete");
            }
            ids
        });
    }
    let mut ids = std::collections::BTreeSet::new();
    while let Some(done) = tasks.join_next().await {
        ids.extend(done.expect("setup task"));
    }
    ids
}

/// Declares each listed `async fn name(db: TestStore)` of the calling test
/// module as two tests, `sqlite::name` and `postgres::name`, each on a fresh
/// store opened with the module's `fn policy() -> Arc<dyn Policy>`. The
/// PostgreSQL one is skipped outside CI when the server is unreachable.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let db = $crate::testing::open($crate::testing::Backend::Sqlite, super::policy())
                    .await
                    .expect("sqlite store");
                super::$name(db).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(db) =
                    $crate::testing::open($crate::testing::Backend::Postgres, super::policy()).await
                else {
                    return;
                };
                super::$name(db).await;
            })*
        }
    };
}

/// The first user (an owner named `username`) and the `prebuilds` system
/// user, the two users almost every lifecycle test and benchmark needs.
///
/// # Panics
/// When the store refuses them: tests are the only callers.
pub async fn owner_and_system_user(
    store: &Store,
    username: &str,
    now: dayshift_schedule::Timestamp,
) -> (User, User) {
    let owner = store
        .create_first_user(
            NewUser {
                username: username.into(),
                email: format!("{username}@example.com"),
                password_hash: "hash".into(),
                role: Role::Owner,
            },
            now,
        )
        .await
        .expect("owner");
    let system = store
        .ensure_system_user("prebuilds", now)
        .await
        .expect("system user");
    (owner, system)
}
