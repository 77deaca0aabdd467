//! Scale-out (DESIGN §8), end to end: several in-process servers on one
//! PostgreSQL schema; external provisioner daemons over HTTP (the same code
//! `dayshift provisioner start` runs); startup errors and `/healthz` when
//! the database is unreachable.
//!
//! PostgreSQL tests are skipped when it is unreachable, unless CI=true.
//! Nothing sleeps: builds are awaited by long-polling their logs, and the
//! executors tick through `POST /api/v2/debug/clock`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::*;
use dayshift_lifecycle::LifecyclePolicy;
use dayshift_sdk::*;
use dayshift_server::{
    run_external_provisioner, ExternalProvisionerConfig, ManualClock, RunningServer, ServerConfig,
};
use dayshift_store::testing;
use futures::future::join_all;
use tokio_util::sync::CancellationToken;

const NOW: &str = "2027-01-04T08:00:00Z";
const PSK: &str = "correct-horse-battery-staple";

/// An echo template whose builds succeed at once.
fn echo_files() -> Vec<TemplateFile> {
    inline_files(&[(
        "dayshift.toml",
        0o644,
        "provisioner = \"echo\"\n[echo]\nduration = \"0s\"\n",
    )])
}

/// One server of a deployment: no built-in daemons, the provisioner key
/// set, the dev clock at `NOW`.
async fn start_server(
    postgres_url: Option<&str>,
    psk: Option<&str>,
) -> (RunningServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ServerConfig {
        postgres_url: postgres_url.map(str::to_string),
        provisioner_daemons: 0,
        provisioner_psk: psk.map(str::to_string),
        provisioner_heartbeat_timeout: Duration::from_secs(15),
        ..ServerConfig::for_tests(dir.path().to_path_buf())
    };
    let server = dayshift_server::start(config, Some(ManualClock::new(t(NOW))))
        .await
        .expect("server starts");
    (server, dir)
}

/// Creates the first user (an owner) through `server` and logs in.
async fn admin_of(server: &RunningServer) -> Client {
    let anonymous = Client::new(&server.url());
    anonymous
        .create_first_user(&CreateFirstUserRequest {
            username: "admin".into(),
            email: "admin@example.com".into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("first user");
    login(&anonymous, "admin").await
}

/// An external daemon, as `dayshift provisioner start` runs it.
fn external_daemon(
    url: String,
    key: &str,
    name: &str,
    cancel: &CancellationToken,
) -> (
    tokio::task::JoinHandle<anyhow::Result<()>>,
    tempfile::TempDir,
) {
    let work = tempfile::tempdir().expect("work dir");
    let config = ExternalProvisionerConfig {
        url,
        key: key.into(),
        name: name.into(),
        work_dir: work.path().to_path_buf(),
        shutdown_grace: Duration::ZERO,
    };
    (
        tokio::spawn(run_external_provisioner(config, cancel.clone())),
        work,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_daemon_runs_the_builds_of_a_server_without_daemons() {
    let (server, _dir) = start_server(None, Some(PSK)).await;
    let admin = admin_of(&server).await;
    push(&admin, "echo", echo_files()).await;
    let cancel = CancellationToken::new();
    let (daemon, _work) = external_daemon(server.url(), PSK, "external-1", &cancel);

    let ws = create(&admin, "dev", "echo").await;
    let ws = settled(&admin, &ws.id).await;
    assert_eq!(ws.status, WorkspaceStatus::Running);
    let log = log_text(&admin, &ws.latest_build.id).await;
    assert!(
        log.contains("echo provisioner: start of workspace admin/dev"),
        "{log}"
    );
    assert!(log.contains("build succeeded"), "{log}");

    // A second build of the same version reuses the extracted template.
    admin
        .create_build(&ws.id, Transition::Stop)
        .await
        .expect("stop");
    let ws = settled(&admin, &ws.id).await;
    assert_eq!(ws.status, WorkspaceStatus::Stopped);
    let builds = admin.builds(&ws.id).await.expect("builds");
    assert!(builds.iter().all(|b| b.job_status == JobStatus::Succeeded));

    cancel.cancel();
    daemon
        .await
        .expect("daemon task")
        .expect("stops cleanly when told to");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_keys_are_refused_with_a_clear_message() {
    let (server, _dir) = start_server(None, Some(PSK)).await;
    let cancel = CancellationToken::new();
    let (daemon, _work) = external_daemon(server.url(), "not-the-key", "intruder", &cancel);
    let refused = daemon
        .await
        .expect("daemon task")
        .expect_err("a wrong key stops the daemon");
    assert!(
        format!("{refused:#}").starts_with("provisioner key rejected"),
        "{refused:#}"
    );

    let request = AcquireJobRequest {
        worker: "w".into(),
        wait_ms: Some(0),
    };
    let missing = Client::new(&server.url())
        .acquire_job(&request)
        .await
        .unwrap_err();
    assert_eq!(status_of(&missing), 401);
    assert!(
        message_of(&missing).starts_with("provisioner key rejected"),
        "{}",
        message_of(&missing)
    );
    server.shutdown().await;

    let (disabled, _dir) = start_server(None, None).await;
    let client = Client::new(&disabled.url()).with_provisioner_key(PSK);
    let err = client.acquire_job(&request).await.unwrap_err();
    assert_eq!(status_of(&err), 403);
    assert_eq!(
        message_of(&err),
        "external provisioners are disabled: start the server with --provisioner-psk"
    );
    disabled.shutdown().await;
}

/// The HTTP contract a daemon relies on, driven by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioner_routes_hand_out_jobs_and_refuse_other_daemons() {
    let (server, _dir) = start_server(None, Some(PSK)).await;
    let admin = admin_of(&server).await;
    push(&admin, "echo", echo_files()).await;
    let daemon = Client::new(&server.url()).with_provisioner_key(PSK);
    let acquire = |wait_ms| AcquireJobRequest {
        worker: "manual".into(),
        wait_ms: Some(wait_ms),
    };
    assert!(
        daemon.acquire_job(&acquire(0)).await.unwrap().is_none(),
        "no job: 204"
    );

    let ws = create(&admin, "dev", "echo").await;
    let job = daemon
        .acquire_job(&acquire(25_000))
        .await
        .unwrap()
        .expect("the queued job");
    assert_eq!(job.build_id, ws.latest_build.id);
    assert_eq!(
        (job.workspace_name.as_str(), job.owner_name.as_str()),
        ("dev", "admin")
    );
    assert_eq!(job.transition, Transition::Start);
    assert_eq!(
        job.heartbeat_interval_ms, 5_000,
        "a third of the 15s heartbeat timeout"
    );
    assert_eq!(
        job.manifest["provisioner"]["type"], "echo",
        "{}",
        job.manifest
    );
    let bundle = daemon
        .template_bundle(&job.template_version_id)
        .await
        .unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(bundle.bundle_base64)
        .unwrap();
    let files = dayshift_provisioner::TemplateBundle::from_bytes(&bytes).expect("a bundle");
    assert!(files.file("dayshift.toml").is_some());
    assert_eq!(
        admin.workspace(&ws.id).await.unwrap().status,
        WorkspaceStatus::Starting
    );

    let me = JobHeartbeatRequest {
        worker: "manual".into(),
    };
    let other = JobHeartbeatRequest {
        worker: "other".into(),
    };
    daemon
        .job_heartbeat(&job.build_id, &me)
        .await
        .expect("heartbeat");
    let err = daemon
        .job_heartbeat(&job.build_id, &other)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 409, "{err}");
    let line = |worker: &str, stream: &str| JobLogsRequest {
        worker: worker.into(),
        lines: vec![JobLogLine {
            stream: stream.into(),
            output: "hello from far away".into(),
        }],
    };
    let err = daemon
        .append_job_logs(&job.build_id, &line("other", "stdout"))
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 409);
    let err = daemon
        .append_job_logs(&job.build_id, &line("manual", "stdin"))
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 400, "{err}");
    daemon
        .append_job_logs(&job.build_id, &line("manual", "stdout"))
        .await
        .expect("log");

    let done = |worker: &str| CompleteJobRequest {
        worker: worker.into(),
        success: true,
        error: None,
        outputs: BTreeMap::from([("host".to_string(), "far-away".to_string())]),
        state_base64: None,
    };
    let err = daemon
        .complete_job(&job.build_id, &done("other"))
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 409);
    daemon
        .complete_job(&job.build_id, &done("manual"))
        .await
        .expect("complete");
    let err = daemon
        .complete_job(&job.build_id, &done("manual"))
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 409, "completing twice: {err}");

    let ws = admin.workspace(&ws.id).await.unwrap();
    assert_eq!(ws.status, WorkspaceStatus::Running);
    assert!(log_text(&admin, &job.build_id)
        .await
        .contains("hello from far away"));
    let missing = daemon.template_bundle("no-such-version").await.unwrap_err();
    assert_eq!(status_of(&missing), 404);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_names_an_unreachable_or_newer_postgres() {
    let dir = tempfile::tempdir().expect("temp dir");
    let unreachable = ServerConfig {
        postgres_url: Some("postgres://dayshift:hunter2@127.0.0.1:1/dayshift".into()),
        ..ServerConfig::for_tests(dir.path().to_path_buf())
    };
    let err = dayshift_server::start(unreachable, None)
        .await
        .err()
        .expect("no database, no server");
    let text = format!("{err:#}");
    assert!(
        text.starts_with(
            "cannot connect to PostgreSQL at postgres://dayshift:***@127.0.0.1:1/dayshift: "
        ),
        "{text}"
    );
    assert!(text.contains("refused"), "the cause is shown: {text}");
    assert!(!text.contains("hunter2"), "the password is not: {text}");

    let Some(url) = testing::postgres_schema_url().await else {
        return;
    };
    {
        let store = dayshift_store::Store::open_postgres(&url, Arc::new(LifecyclePolicy))
            .await
            .expect("store");
        dayshift_store::testing::set_schema_version(&store, 999).await;
    }
    let newer = ServerConfig {
        postgres_url: Some(url),
        ..ServerConfig::for_tests(dir.path().to_path_buf())
    };
    let err = dayshift_server::start(newer, None)
        .await
        .err()
        .expect("a newer schema, no server");
    let text = format!("{err:#}");
    assert!(
        text.starts_with("cannot open the PostgreSQL database at postgres://"),
        "{text}"
    );
    assert!(
        text.contains("the database schema is at version 999, newer than this binary supports"),
        "{text}"
    );
}

/// Three servers on one database, their executors ticking at the same
/// instant over hundreds of due workspaces.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_servers_ticking_at_once_transition_each_workspace_once() {
    let Some(url) = testing::postgres_schema_url().await else {
        return;
    };
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(start_server(Some(&url), Some(PSK)).await);
    }
    let admin = admin_of(&servers[0].0).await;
    let template = push(&admin, "echo", echo_files()).await;
    let clients: Vec<Client> = servers
        .iter()
        .map(|(s, _)| Client::new(&s.url()).with_token(admin.token().unwrap_or_default()))
        .collect();

    // Hundreds of running workspaces with an 8h TTL, set up directly in
    // the database (the API would be slow and is tested elsewhere).
    let store = dayshift_store::Store::open_postgres(&url, Arc::new(LifecyclePolicy))
        .await
        .expect("setup store");
    let owner = store
        .user_by_username("admin")
        .await
        .unwrap()
        .expect("admin");
    let ids = testing::running_workspaces(
        &store,
        &owner,
        &template.id,
        &template.active_version_id,
        200,
        Some(jiff::SignedDuration::from_hours(8)),
        t(NOW),
    )
    .await;

    let due = DebugClockRequest {
        now: Some(t("2027-01-04T16:01:00Z")),
        advance: None,
    };
    let answers: Vec<DebugClockResponse> = join_all(clients.iter().map(|c| c.debug_clock(&due)))
        .await
        .into_iter()
        .map(|a| a.expect("tick"))
        .collect();
    let shares: Vec<usize> = answers
        .iter()
        .map(|a| a.autobuild.transitions.len())
        .collect();
    eprintln!("transitions per server: {shares:?}");
    assert!(answers.iter().all(|a| a.autobuild.errors.is_empty()));
    assert_eq!(
        shares.iter().sum::<usize>(),
        ids.len(),
        "transitions summed over servers equal the due count"
    );
    let union: BTreeSet<String> = answers
        .iter()
        .flat_map(|a| a.autobuild.transitions.keys().cloned())
        .collect();
    assert_eq!(union, ids);
    for id in &ids {
        let numbers: Vec<i64> = dayshift_store::testing::all_builds(&store, id)
            .await
            .iter()
            .map(|b| b.build_number)
            .collect();
        assert_eq!(numbers, vec![2, 1], "one new build, no build 3: {id}");
    }
    for (server, _dir) in servers {
        server.shutdown().await;
    }
}

/// Jobs queued through one server are run by an external daemon attached
/// to another: the database is the only shared state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_daemon_serves_every_replica() {
    let Some(url) = testing::postgres_schema_url().await else {
        return;
    };
    let (a, _dir_a) = start_server(Some(&url), Some(PSK)).await;
    let (b, _dir_b) = start_server(Some(&url), Some(PSK)).await;
    let admin = admin_of(&a).await;
    push(&admin, "echo", echo_files()).await;
    let cancel = CancellationToken::new();
    let (daemon, _work) = external_daemon(b.url(), PSK, "attached-to-b", &cancel);

    for name in ["one", "two", "three"] {
        let ws = create(&admin, name, "echo").await;
        let ws = settled(&admin, &ws.id).await;
        assert_eq!(ws.status, WorkspaceStatus::Running, "{name}");
    }
    cancel.cancel();
    daemon.await.expect("daemon task").expect("stops cleanly");
    a.shutdown().await;
    b.shutdown().await;
}

/// A TCP relay between the server and PostgreSQL that can cut the line.
struct Cable {
    address: std::net::SocketAddr,
    up: tokio::sync::watch::Sender<bool>,
}

impl Cable {
    async fn to(target: String) -> Cable {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (up, watch) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut watch = watch.clone();
                if !*watch.borrow() {
                    // Accepted and dropped: the client sees the connection
                    // close, not a refusal (which sqlx would retry).
                    continue;
                }
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Cable { address, up }
    }

    fn cut(&self) {
        self.up.send_replace(false);
    }

    fn mend(&self) {
        self.up.send_replace(true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_reports_the_database() {
    let Some(url) = testing::postgres_schema_url().await else {
        return;
    };
    // postgres://user@host:port/db?options... -> the same through the cable.
    let (head, rest) = url.split_once('@').expect("a user in the test URL");
    let (host_port, tail) = rest.split_once('/').expect("a database in the test URL");
    let cable = Cable::to(host_port.to_string()).await;
    let (server, _dir) =
        start_server(Some(&format!("{head}@{}/{tail}", cable.address)), None).await;
    let health = || async {
        let response = reqwest::get(format!("{}/healthz", server.url()))
            .await
            .expect("healthz answers");
        let status = response.status().as_u16();
        (
            status,
            response.json::<Health>().await.expect("health body"),
        )
    };

    let (status, body) = health().await;
    assert_eq!(
        (status, body.status.as_str(), body.database.as_str()),
        (200, "ok", "ok")
    );
    cable.cut();
    let (status, body) = health().await;
    assert_eq!((status, body.status.as_str()), (503, "unavailable"));
    assert!(
        body.database.starts_with("database error: "),
        "{}",
        body.database
    );
    cable.mend();
    let (status, _) = health().await;
    assert_eq!(status, 200, "healthy again once the database is back");
    server.shutdown().await;
}
