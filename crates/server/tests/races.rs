//! Racing requests, as a hostile user sends them, on both backends: many
//! concurrent requests on one workspace answer only 2xx or 409 (never 404
//! for a workspace the caller can see) and every accepted change is
//! applied; concurrent `POST /users/first` make exactly one owner.
//!
//! PostgreSQL tests are skipped when it is unreachable, unless CI=true.
//! Nothing sleeps: builds are awaited by long-polling their logs.

mod common;

use std::collections::BTreeSet;

use common::*;
use dayshift_sdk::*;
use dayshift_server::{ManualClock, RunningServer, ServerConfig};
use dayshift_store::testing::{self, Backend};
use futures::future::join_all;

const NOW: &str = "2027-01-04T08:00:00Z";

/// A server on `backend` with its built-in echo daemons; `None` when
/// PostgreSQL is unreachable outside CI.
async fn start_server(backend: Backend) -> Option<(RunningServer, tempfile::TempDir)> {
    let postgres_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(testing::postgres_schema_url().await?),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ServerConfig {
        postgres_url,
        ..ServerConfig::for_tests(dir.path().to_path_buf())
    };
    let server = dayshift_server::start(config, Some(ManualClock::new(t(NOW))))
        .await
        .expect("server starts");
    Some((server, dir))
}

fn first_user(i: usize) -> CreateFirstUserRequest {
    CreateFirstUserRequest {
        username: format!("admin{i}"),
        email: format!("admin{i}@example.com"),
        password: PASSWORD.into(),
    }
}

/// A logged-in owner and a running echo workspace.
async fn running_workspace(server: &RunningServer) -> (Client, Workspace) {
    let anonymous = Client::new(&server.url());
    anonymous
        .create_first_user(&first_user(0))
        .await
        .expect("first user");
    let admin = login(&anonymous, "admin0").await;
    push(
        &admin,
        "echo",
        inline_files(&[(
            "dayshift.toml",
            0o644,
            "provisioner = \"echo\"\n[echo]\nduration = \"0s\"\n",
        )]),
    )
    .await;
    let ws = create(&admin, "dev", "echo").await;
    let ws = settled(&admin, &ws.id).await;
    assert_eq!(ws.status, WorkspaceStatus::Running);
    (admin, ws)
}

/// Waves of concurrent stop builds and TTL changes on one workspace. Each
/// wave sets one TTL value; afterwards the workspace has it.
async fn concurrent_builds_and_ttl_changes_answer_2xx_or_409(backend: Backend) {
    const WAVES: i64 = 4;
    const EACH: usize = 10;
    let Some((server, _dir)) = start_server(backend).await else {
        return;
    };
    let (admin, ws) = running_workspace(&server).await;
    let mut accepted_builds = 0;
    for wave in 0..WAVES {
        let ttl_ms = (wave + 1) * 3_600_000;
        let stops = join_all((0..EACH).map(|_| admin.create_build(&ws.id, Transition::Stop)));
        let ttls = join_all((0..EACH).map(|_| admin.set_ttl(&ws.id, Some(ttl_ms))));
        let (stops, ttls) = tokio::join!(stops, ttls);
        for answer in &stops {
            match answer {
                Ok(_) => accepted_builds += 1,
                Err(e) => assert_eq!(
                    status_of(e),
                    409,
                    "wave {wave}: a stop answered {}: {}",
                    status_of(e),
                    message_of(e)
                ),
            }
        }
        for answer in &ttls {
            if let Err(e) = answer {
                panic!(
                    "wave {wave}: PUT /ttl answered {}: {}",
                    status_of(e),
                    message_of(e)
                );
            }
        }
        let now = settled(&admin, &ws.id).await;
        assert_eq!(now.ttl_ms, Some(ttl_ms), "wave {wave}: the TTL was applied");
    }
    assert!(accepted_builds >= 1, "at least one stop was accepted");
    let builds = admin.builds(&ws.id).await.expect("builds");
    let numbers: BTreeSet<i64> = builds.iter().map(|b| b.build_number).collect();
    assert_eq!(
        numbers,
        (1..=accepted_builds + 1).collect(),
        "one build per accepted request, numbered without gaps"
    );
    server.shutdown().await;
}

/// Many concurrent `POST /users/first`: exactly one owner is created, the
/// others are refused with a message saying why.
async fn exactly_one_first_user_under_concurrent_requests(backend: Backend) {
    const CALLERS: usize = 16;
    let Some((server, _dir)) = start_server(backend).await else {
        return;
    };
    let anonymous = Client::new(&server.url());
    let answers = join_all((0..CALLERS).map(|i| {
        let client = anonymous.clone();
        async move { client.create_first_user(&first_user(i)).await }
    }))
    .await;
    let mut created = Vec::new();
    for answer in answers {
        match answer {
            Ok(user) => created.push(user),
            Err(e) => {
                assert!(
                    matches!(status_of(&e), 403 | 409),
                    "refused with {}: {}",
                    status_of(&e),
                    message_of(&e)
                );
                assert_eq!(
                    message_of(&e),
                    "the first user has already been created",
                    "a clear refusal"
                );
            }
        }
    }
    assert_eq!(created.len(), 1, "exactly one first user: {created:?}");
    assert_eq!(created[0].role, Role::Owner);
    let owner = login(&anonymous, &created[0].username).await;
    assert_eq!(owner.me().await.expect("me").role, Role::Owner);
    server.shutdown().await;
}

dayshift_store::for_each_backend!(
    concurrent_builds_and_ttl_changes_answer_2xx_or_409,
    exactly_one_first_user_under_concurrent_requests,
);
