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

/// Declares each listed `async fn name(backend: Backend)` of the calling
/// test module as two tests, `sqlite::name` and `postgres::name`, for tests
/// that set up their backend themselves (servers, several stores). Each
/// skips PostgreSQL itself when it is unreachable outside CI.
#[macro_export]
macro_rules! for_each_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::testing::Backend::Sqlite).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::testing::Backend::Postgres).await;
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

/// Every workspace (not deleted) of `owner` (a username) or of everybody,
/// walked page by page: for tests, which may hold a whole list.
///
/// # Panics
/// When the store refuses: tests are the only callers.
pub async fn all_workspaces(store: &Store, owner: Option<&str>) -> Vec<crate::WorkspaceState> {
    let query = crate::WorkspaceQuery {
        owner: owner.map(str::to_string),
        ..Default::default()
    };
    let mut page = crate::Page::max();
    let mut all = Vec::new();
    loop {
        let found = store
            .search_workspaces(&query, &page)
            .await
            .expect("search workspaces");
        all.extend(found.items);
        match found.next {
            Some(next) => page = page.continue_after(&next).expect("cursor"),
            None => return all,
        }
    }
}

/// Every build of a workspace, newest first (for tests).
///
/// # Panics
/// When the store refuses: tests are the only callers.
pub async fn all_builds(store: &Store, workspace_id: &str) -> Vec<crate::Build> {
    let mut page = crate::Page::max();
    let mut all = Vec::new();
    loop {
        let found = store.builds(workspace_id, &page).await.expect("builds");
        all.extend(found.items);
        match found.next {
            Some(next) => page = page.continue_after(&next).expect("cursor"),
            None => return all,
        }
    }
}

/// What [`seed_fleet`] writes.
#[derive(Debug, Clone)]
pub struct FleetSeed {
    /// Workspaces, spread over the owners round-robin.
    pub workspaces: i64,
    /// Builds per workspace (the last one is the workspace's latest).
    pub builds_per_workspace: i64,
    /// `(user id, username)` of each owner.
    pub owners: Vec<(String, String)>,
    pub template_id: String,
    /// The template's active version, and an older one every seventh
    /// workspace is built on (so `outdated:true` matches some).
    pub active_version_id: String,
    pub old_version_id: String,
    pub now: dayshift_schedule::Timestamp,
}

/// Writes a fleet straight into the tables with a few set-based
/// statements (a recursive CTE both databases run), for benchmarks of
/// 100,000 workspaces and a million builds that would take long through
/// the per-workspace API. Workspace `i` is owned by owner `i % owners`,
/// named `ws-<1000000 + i>`; its latest build makes it running (`i % 3 ==
/// 0`), stopped (1) or failed (2); every seventh is outdated and every
/// fiftieth dormant. The listing columns and job totals are written as
/// the store keeps them.
///
/// # Panics
/// When the database refuses: benchmarks are the only callers.
pub async fn seed_fleet(store: &Store, seed: &FleetSeed) {
    let now = seed.now.as_millisecond();
    let owners = i64::try_from(seed.owners.len()).expect("owner count");
    let k = seed.builds_per_workspace;
    let numbers = "WITH RECURSIVE n(i) AS (SELECT CAST(1 AS BIGINT) UNION ALL \
                   SELECT i + 1 FROM n WHERE i < $1)";
    for (index, (owner_id, owner_name)) in seed.owners.iter().enumerate() {
        let index = i64::try_from(index).expect("owner index");
        sqlx::query(&format!(
            "{numbers} INSERT INTO workspaces (id, owner_id, name, template_id, created_at, \
             last_used_at, dormant_at, deleted, latest_build_id, owner_name, status, outdated, \
             counted, counted_dormant) \
             SELECT 'w' || CAST(i AS TEXT), $2, 'ws-' || CAST(1000000 + i AS TEXT), $3, $4, $4, \
             CASE WHEN i % 50 = 0 THEN $4 END, 0, \
             'b' || CAST(i AS TEXT) || '-' || CAST($5 AS TEXT), $6, \
             CASE i % 3 WHEN 0 THEN 'running' WHEN 1 THEN 'stopped' ELSE 'failed' END, \
             CASE WHEN i % 7 = 0 THEN 1 ELSE 0 END, 1, CASE WHEN i % 50 = 0 THEN 1 ELSE 0 END \
             FROM n WHERE i % $7 = $8"
        ))
        .bind(seed.workspaces)
        .bind(owner_id)
        .bind(&seed.template_id)
        .bind(now)
        .bind(k)
        .bind(owner_name)
        .bind(owners)
        .bind(index)
        .execute(store.pool())
        .await
        .expect("seed workspaces");
    }
    for (index, (owner_id, _)) in seed.owners.iter().enumerate() {
        let index = i64::try_from(index).expect("owner index");
        sqlx::query(&format!(
            "{numbers}, m(j) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT j + 1 FROM m WHERE j < $2) \
             INSERT INTO workspace_builds (id, workspace_id, build_number, transition, reason, \
             template_version_id, parameters_json, initiator_id, created_at, job_status, \
             job_started_at, job_completed_at, job_worker, outputs_json) \
             SELECT 'b' || CAST(i AS TEXT) || '-' || CAST(j AS TEXT), 'w' || CAST(i AS TEXT), j, \
             CASE WHEN j = $2 AND i % 3 = 1 THEN 'stop' WHEN j = $2 THEN 'start' \
                  WHEN j % 2 = 1 THEN 'start' ELSE 'stop' END, 'initiator', \
             CASE WHEN i % 7 = 0 THEN $3 ELSE $4 END, '{{}}', $5, $6 - ($2 - j) * 60000, \
             CASE WHEN j = $2 AND i % 3 = 2 THEN 'failed' ELSE 'succeeded' END, \
             $6 - ($2 - j) * 60000, $6 - ($2 - j) * 60000, 'seed', '{{}}' \
             FROM n, m WHERE i % $7 = $8"
        ))
        .bind(seed.workspaces)
        .bind(k)
        .bind(&seed.old_version_id)
        .bind(&seed.active_version_id)
        .bind(owner_id)
        .bind(now)
        .bind(owners)
        .bind(index)
        .execute(store.pool())
        .await
        .expect("seed builds");
    }
    sqlx::query(
        "INSERT INTO workspace_counts (owner_name, template_id, status, outdated, dormant, total) \
         SELECT owner_name, template_id, status, outdated, counted_dormant, COUNT(*) \
         FROM workspaces WHERE counted = 1 \
         GROUP BY owner_name, template_id, status, outdated, counted_dormant",
    )
    .execute(store.pool())
    .await
    .expect("seed workspace counts");
    sqlx::query(
        "INSERT INTO job_totals (status, shard, total) \
         SELECT job_status, 99, COUNT(*) FROM workspace_builds \
         WHERE job_status IN ('succeeded', 'failed', 'canceled') GROUP BY job_status",
    )
    .execute(store.pool())
    .await
    .expect("seed job totals");
    // PostgreSQL's autovacuum would analyse a table this size on its own;
    // SQLite deployments never run ANALYZE, so neither does the seed.
    if store.dialect() == crate::Dialect::Postgres {
        sqlx::query("ANALYZE")
            .execute(store.pool())
            .await
            .expect("analyze");
    }
}
