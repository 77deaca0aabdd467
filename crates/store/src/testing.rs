//! Test support shared by every crate's tests: a fresh store on either
//! backend. PostgreSQL tests each get a schema of their own so they run in
//! parallel; with `CI=true` an unreachable PostgreSQL fails the test
//! instead of skipping it.

use std::sync::Arc;

use crate::{Policy, Store};

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
