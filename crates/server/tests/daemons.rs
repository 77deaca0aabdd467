//! What the daemons owe the workspace beyond one build: its state directory
//! follows it from daemon to daemon (built-in on any replica, or external
//! over HTTP), and a server that is told to stop lets running builds
//! finish within its shutdown grace, then fails what is left with the
//! reason in the log.
//!
//! Nothing sleeps: builds are awaited by long-polling their logs, scripts
//! that must stay running wait on a FIFO that the test opens, and shutdown
//! is awaited as a future.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use dayshift_sdk::*;
use dayshift_server::{
    run_external_provisioner, ExternalProvisionerConfig, ManualClock, RunningServer, ServerConfig,
};
use dayshift_store::{testing, JobStatus as StoreJobStatus};
use tokio_util::sync::CancellationToken;

const PSK: &str = "correct-horse-battery-staple";

/// A script template that keeps a note and a build counter in its state
/// directory and shows them (with their modes) in every build's log.
fn stateful_files() -> Vec<TemplateFile> {
    let show = r#"#!/bin/sh
set -eu
d="$DAYSHIFT_STATE_DIR"
n=$(cat "$d/count" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" >"$d/count"
echo "build count $n"
if [ -f "$d/sub/note" ]; then
  echo "note: $(cat "$d/sub/note")"
  echo "modes: $(stat -c %a "$d") $(stat -c %a "$d/sub") $(stat -c %a "$d/sub/note")"
fi
"#;
    let start = r#"#!/bin/sh
set -eu
mkdir -p "$DAYSHIFT_STATE_DIR/sub"
echo "written by the start of $DAYSHIFT_WORKSPACE_NAME" >"$DAYSHIFT_STATE_DIR/sub/note"
chmod 644 "$DAYSHIFT_STATE_DIR/sub/note"
# The second start (after build 2) leaves a blob of the parameter's size.
if [ "$(cat "$DAYSHIFT_STATE_DIR/count" 2>/dev/null || echo 0)" = 2 ] && [ -n "${DAYSHIFT_PARAM_BLOB:-}" ]; then
  head -c "$DAYSHIFT_PARAM_BLOB" /dev/urandom >"$DAYSHIFT_STATE_DIR/blob"
fi
exec ./show.sh
"#;
    inline_files(&[
        (
            "dayshift.toml",
            0o644,
            "provisioner = \"script\"\n\
             [script]\nstart = \"./start.sh\"\nstop = \"./show.sh\"\ndelete = \"./show.sh\"\ntimeout = \"1m\"\n\
             [[parameters]]\nname = \"blob\"\ndefault = \"\"\nmutable = true\n",
        ),
        ("start.sh", 0o755, start),
        ("show.sh", 0o755, show),
    ])
}

/// A server on SQLite (or PostgreSQL at `postgres_url`) with `daemons`
/// built-in daemons and the provisioner key set.
async fn server(
    postgres_url: Option<&str>,
    daemons: usize,
    tweak: impl FnOnce(&mut ServerConfig),
) -> (RunningServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = ServerConfig {
        postgres_url: postgres_url.map(str::to_string),
        provisioner_daemons: daemons,
        provisioner_psk: Some(PSK.into()),
        ..ServerConfig::for_tests(dir.path().to_path_buf())
    };
    tweak(&mut config);
    let server = dayshift_server::start(config, Some(ManualClock::new(t("2027-01-04T08:00:00Z"))))
        .await
        .expect("server starts");
    (server, dir)
}

async fn first_admin(server: &RunningServer) -> Client {
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

async fn transition(client: &Client, id: &str, transition: Transition) -> Workspace {
    client
        .create_build(id, transition)
        .await
        .expect("build queued");
    settled(client, id).await
}

/// Nothing of a workspace's state is left in a daemon's work directory
/// between builds: the database holds it.
fn assert_no_local_state(work_dir: &Path) {
    let state = work_dir.join("state");
    let left: Vec<_> = std::fs::read_dir(&state)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_follows_the_workspace_across_external_daemons() {
    let (server, _dir) = server(None, 0, |_| {}).await;
    let admin = first_admin(&server).await;
    push(&admin, "stateful", stateful_files()).await;
    let daemon = |name: &str, work: &Path, stop: &CancellationToken| {
        tokio::spawn(run_external_provisioner(
            ExternalProvisionerConfig {
                url: server.url(),
                key: PSK.into(),
                name: name.into(),
                work_dir: work.to_path_buf(),
                shutdown_grace: Duration::ZERO,
            },
            stop.clone(),
        ))
    };

    // The start runs on one machine...
    let work_a = tempfile::tempdir().expect("work dir");
    let stop_a = CancellationToken::new();
    let a = daemon("machine-a", work_a.path(), &stop_a);
    let ws = create(&admin, "dev", "stateful").await;
    let ws = settled(&admin, &ws.id).await;
    assert_eq!(ws.status, WorkspaceStatus::Running);
    assert!(log_text(&admin, &ws.latest_build.id)
        .await
        .contains("build count 1"));
    stop_a.cancel();
    a.await.expect("task").expect("daemon a stops cleanly");
    assert_no_local_state(work_a.path());

    // ...its stop on another, which never saw the workspace.
    let work_b = tempfile::tempdir().expect("work dir");
    let stop_b = CancellationToken::new();
    let b = daemon("machine-b", work_b.path(), &stop_b);
    let ws = transition(&admin, &ws.id, Transition::Stop).await;
    assert_eq!(ws.status, WorkspaceStatus::Stopped);
    let log = log_text(&admin, &ws.latest_build.id).await;
    assert!(log.contains("build count 2"), "{log}");
    assert!(log.contains("note: written by the start of dev"), "{log}");
    assert!(log.contains("modes: 700 700 700"), "{log}");
    assert_no_local_state(work_b.path());

    // Deleted with the workspace.
    let store = server.state.store.clone();
    assert!(store.workspace_state(&ws.id).await.unwrap().is_some());
    let delete = admin
        .create_build(&ws.id, Transition::Delete)
        .await
        .expect("delete queued");
    let mut after = 0;
    while admin.workspace(&ws.id).await.is_ok() {
        if let Some(last) = admin
            .build_logs(&delete.id, after, true)
            .await
            .expect("logs")
            .last()
        {
            after = last.id;
        }
    }
    assert!(log_text(&admin, &delete.id).await.contains("build count 3"));
    assert_eq!(store.workspace_state(&ws.id).await.unwrap(), None);

    stop_b.cancel();
    b.await.expect("task").expect("daemon b stops cleanly");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_follows_the_workspace_across_replicas() {
    let Some(url) = testing::postgres_schema_url().await else {
        return;
    };
    // The start runs on replica A's built-in daemon...
    let (a, dir_a) = server(Some(&url), 1, |_| {}).await;
    let admin = first_admin(&a).await;
    push(&admin, "stateful", stateful_files()).await;
    let ws = create(&admin, "dev", "stateful").await;
    let ws = settled(&admin, &ws.id).await;
    assert_eq!(ws.status, WorkspaceStatus::Running);
    a.shutdown().await;
    assert_no_local_state(&dir_a.path().join("provisioner"));

    // ...its stop on replica B's, with a data directory of its own.
    let (b, dir_b) = server(Some(&url), 1, |_| {}).await;
    let admin = Client::new(&b.url()).with_token(admin.token().unwrap_or_default().to_string());
    let ws = transition(&admin, &ws.id, Transition::Stop).await;
    assert_eq!(ws.status, WorkspaceStatus::Stopped);
    let log = log_text(&admin, &ws.latest_build.id).await;
    assert!(log.contains("build count 2"), "{log}");
    assert!(log.contains("note: written by the start of dev"), "{log}");
    assert!(log.contains("modes: 700 700 700"), "{log}");
    assert_no_local_state(&dir_b.path().join("provisioner"));
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_over_the_limit_fails_the_build_and_keeps_the_previous_one() {
    let (server, _dir) = server(None, 2, |c| c.workspace_state_limit = 64 * 1024).await;
    let admin = first_admin(&server).await;
    push(&admin, "stateful", stateful_files()).await;
    // Its third build leaves 200 KiB of random bytes, which do not
    // compress below the 64 KiB limit.
    let ws = admin
        .create_workspace(&CreateWorkspaceRequest {
            name: "big".into(),
            template: "stateful".into(),
            parameters: Some([("blob".to_string(), "204800".to_string())].into()),
            ..Default::default()
        })
        .await
        .expect("workspace created");
    assert_eq!(
        settled(&admin, &ws.id).await.status,
        WorkspaceStatus::Running
    );
    let ws = transition(&admin, &ws.id, Transition::Stop).await;
    assert_eq!(ws.status, WorkspaceStatus::Stopped);
    let ws = transition(&admin, &ws.id, Transition::Start).await;
    assert_eq!(ws.status, WorkspaceStatus::Failed);
    let log = log_text(&admin, &ws.latest_build.id).await;
    assert!(log.contains("build count 3"), "{log}");
    assert!(
        log.contains("larger than the limit of 65536 bytes once compressed"),
        "{log}"
    );
    assert!(log.contains("--workspace-state-limit-mib"), "{log}");

    // The next build starts from the state of the second.
    let ws = transition(&admin, &ws.id, Transition::Stop).await;
    assert_eq!(ws.status, WorkspaceStatus::Stopped);
    let log = log_text(&admin, &ws.latest_build.id).await;
    assert!(log.contains("build count 3"), "{log}");
    server.shutdown().await;
}

/// A script template whose start prints a line, then waits until the FIFO
/// named by its `gate` parameter is opened for writing.
fn gated_files() -> Vec<TemplateFile> {
    inline_files(&[
        (
            "dayshift.toml",
            0o644,
            "provisioner = \"script\"\n\
             [script]\nstart = \"./start.sh\"\nstop = \"true\"\ndelete = \"true\"\ntimeout = \"10m\"\n\
             [[parameters]]\nname = \"gate\"\n",
        ),
        (
            "start.sh",
            0o755,
            "#!/bin/sh\nset -eu\necho waiting at the gate\nread -r line <\"$DAYSHIFT_PARAM_GATE\"\necho \"through the gate: $line\"\n",
        ),
    ])
}

fn echo_files() -> Vec<TemplateFile> {
    inline_files(&[(
        "dayshift.toml",
        0o644,
        "provisioner = \"echo\"\n[echo]\nduration = \"0s\"\n",
    )])
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
}

/// Creates a gated workspace and returns once its start build is waiting
/// at the gate.
async fn gated_workspace(admin: &Client, name: &str, gate: &Path) -> Workspace {
    let ws = admin
        .create_workspace(&CreateWorkspaceRequest {
            name: name.into(),
            template: "gated".into(),
            parameters: Some([("gate".to_string(), gate.display().to_string())].into()),
            ..Default::default()
        })
        .await
        .expect("workspace created");
    let mut after = 0;
    loop {
        let lines = admin
            .build_logs(&ws.latest_build.id, after, true)
            .await
            .expect("logs");
        if lines.iter().any(|l| l.output == "waiting at the gate") {
            return ws;
        }
        if let Some(last) = lines.last() {
            after = last.id;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_lets_running_builds_finish_and_takes_no_new_job() {
    let (server, dir) = server(None, 2, |c| c.shutdown_grace = Duration::from_secs(3600)).await;
    let admin = first_admin(&server).await;
    push(&admin, "gated", gated_files()).await;
    push(&admin, "echo", echo_files()).await;
    let gate = dir.path().join("gate");
    mkfifo(&gate);
    let running = gated_workspace(&admin, "running", &gate).await;

    server.begin_shutdown();
    // The API still answers while builds drain; a build queued now is left
    // for another replica (or this one after its restart).
    let later = create(&admin, "later", "echo").await;
    let store = server.state.store.clone();
    let shutdown = tokio::spawn(server.shutdown());
    tokio::task::spawn_blocking(move || open_gate(&gate))
        .await
        .expect("gate task")
        .expect("gate opened");
    shutdown.await.expect("shut down");

    let running = store.workspace(&running.id).await.unwrap().unwrap();
    assert_eq!(running.build.job.status, StoreJobStatus::Succeeded);
    let later = store.workspace(&later.id).await.unwrap().unwrap();
    assert_eq!(later.build.job.status, StoreJobStatus::Pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_still_running_after_the_grace_fail_with_the_reason_in_their_log() {
    let (server, dir) = server(None, 2, |c| c.shutdown_grace = Duration::from_millis(50)).await;
    let admin = first_admin(&server).await;
    push(&admin, "gated", gated_files()).await;
    let gate = dir.path().join("gate");
    mkfifo(&gate);
    let stuck = gated_workspace(&admin, "stuck", &gate).await;
    let store = server.state.store.clone();
    server.shutdown().await;

    let stuck = store.workspace(&stuck.id).await.unwrap().unwrap();
    assert_eq!(stuck.build.job.status, StoreJobStatus::Failed);
    let reason = stuck.build.job.error.clone().unwrap_or_default();
    assert!(
        reason.contains(
            "is shutting down and the build did not finish within its shutdown grace of 50ms"
        ),
        "{reason}"
    );
    let log: Vec<String> = store
        .build_logs(&stuck.build.id, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.output)
        .collect();
    assert!(log.contains(&reason), "{log:?}");
}

/// Writes a line into the FIFO `gate`. Opened for reading too, so that it
/// never blocks: with nobody waiting at the gate, the line is dropped.
fn open_gate(gate: &Path) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(gate)?
        .write_all(b"open\n")
}
