//! `dayshift server` told to stop by a signal, as an init system does it:
//! the first SIGTERM lets running builds finish, a second one exits at
//! once. Builds that must stay running wait on a FIFO the test opens.

mod harness;

use std::path::Path;

use base64::Engine;
use dayshift_sdk::*;
use harness::{ServerProcess, PASSWORD};

async fn admin_of(server: &ServerProcess) -> Client {
    let anonymous = Client::new(&server.url);
    anonymous
        .create_first_user(&CreateFirstUserRequest {
            username: "admin".into(),
            email: "admin@example.com".into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("first user");
    let session = anonymous
        .login(&LoginRequest {
            username: "admin".into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("login");
    anonymous.with_token(session.session_token)
}

fn file(path: &str, mode: u32, content: &str) -> TemplateFile {
    TemplateFile {
        path: path.into(),
        mode,
        content_base64: base64::engine::general_purpose::STANDARD.encode(content),
    }
}

/// A workspace whose start build prints a line and then waits until
/// `gate` (a FIFO) is opened for writing; returns once it waits.
async fn gated_workspace(admin: &Client, gate: &Path) -> Workspace {
    admin
        .create_template(&CreateTemplateRequest {
            name: "gated".into(),
            version_name: None,
            files: vec![
                file(
                    "dayshift.toml",
                    0o644,
                    "provisioner = \"script\"\n[script]\nstart = \"./start.sh\"\nstop = \"true\"\n\
                     delete = \"true\"\ntimeout = \"10m\"\n",
                ),
                file(
                    "start.sh",
                    0o755,
                    &format!(
                        "#!/bin/sh\necho waiting at the gate\nread -r line <'{}'\necho through\n",
                        gate.display()
                    ),
                ),
            ],
        })
        .await
        .expect("template pushed");
    let ws = admin
        .create_workspace(&CreateWorkspaceRequest {
            name: "dev".into(),
            template: "gated".into(),
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

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_running_build_finish_then_exits_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data").display().to_string();
    let gate = dir.path().join("gate");
    mkfifo(&gate);
    let mut server = ServerProcess::start(
        &["--dev-clock", "--data-dir", &data],
        &[("DAYSHIFT_SHUTDOWN_GRACE", "1h")],
    )
    .await;
    let admin = admin_of(&server).await;
    let ws = gated_workspace(&admin, &gate).await;

    server.signal("TERM").await;
    server.wait_for_log("shutting down").await;
    // Still answering while the build drains.
    let seen = admin.workspace(&ws.id).await.expect("still serving");
    assert_eq!(seen.status, WorkspaceStatus::Starting);
    tokio::task::spawn_blocking(move || open_gate(&gate))
        .await
        .expect("gate task")
        .expect("gate opened");
    let status = server.wait().await;
    let log = server.log_text();
    assert!(status.success(), "exit {status:?}:\n{log}");
    assert!(
        log.contains("build finished") && log.contains("success=true"),
        "{log}"
    );
    assert!(log.contains("shut down"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data").display().to_string();
    let gate = dir.path().join("gate");
    mkfifo(&gate);
    let mut server = ServerProcess::start(
        &["--dev-clock", "--data-dir", &data, "--shutdown-grace", "1h"],
        &[],
    )
    .await;
    let admin = admin_of(&server).await;
    gated_workspace(&admin, &gate).await;

    server.signal("TERM").await;
    server.wait_for_log("shutting down").await;
    server.signal("INT").await;
    let status = server.wait().await;
    let log = server.log_text();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("interrupted by a second SIGINT during shutdown"),
        "{log}"
    );
    // The build's script outlived the server (a replica's heartbeat
    // timeout fails its job); let it end rather than leak it.
    tokio::task::spawn_blocking(move || open_gate(&gate))
        .await
        .expect("gate task")
        .expect("gate opened");
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
