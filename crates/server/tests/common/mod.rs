//! A real server in-process: random port, temporary SQLite data directory,
//! the dev clock, two built-in echo/script daemons. Tests talk to it over
//! HTTP through the sdk client, as a user would, and wait for builds by
//! long-polling their logs — never by sleeping.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use base64::Engine;
use dayshift_lifecycle::ManualClock;
use dayshift_sdk::*;
use dayshift_server::{RunningServer, ServerConfig};

pub const PASSWORD: &str = "Correct-Horse-9";

pub fn t(s: &str) -> jiff::Timestamp {
    s.parse().expect("test timestamp")
}

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub clock: ManualClock,
    pub dir: tempfile::TempDir,
    pub admin: Client,
}

impl TestServer {
    /// A server with a first user `admin` (owner) logged in.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// [`TestServer::start`] with changes to the test configuration.
    pub async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = ManualClock::new(t("2027-01-04T08:00:00Z"));
        let mut config = ServerConfig::for_tests(dir.path().to_path_buf());
        configure(&mut config);
        let server = dayshift_server::start(config, Some(clock.clone()))
            .await
            .expect("server starts");
        let anonymous = Client::new(&server.url());
        anonymous
            .create_first_user(&CreateFirstUserRequest {
                username: "admin".into(),
                email: "admin@example.com".into(),
                password: PASSWORD.into(),
            })
            .await
            .expect("first user");
        let admin = login(&anonymous, "admin").await;
        TestServer {
            server: Some(server),
            clock,
            dir,
            admin,
        }
    }

    pub fn url(&self) -> String {
        self.server.as_ref().expect("running").url()
    }

    pub fn anonymous(&self) -> Client {
        Client::new(&self.url())
    }

    /// Creates a member and returns a client logged in as them.
    pub async fn member(&self, name: &str) -> Client {
        self.admin
            .create_user(&CreateUserRequest {
                username: name.into(),
                email: format!("{name}@example.com"),
                password: PASSWORD.into(),
                role: None,
            })
            .await
            .expect("member created");
        login(&self.anonymous(), name).await
    }

    /// Stops the server and starts a new one on the same data directory.
    pub async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        let server = dayshift_server::start(
            ServerConfig::for_tests(self.dir.path().to_path_buf()),
            Some(self.clock.clone()),
        )
        .await
        .expect("server restarts");
        let token = self.admin.token().unwrap_or_default().to_string();
        self.admin = Client::new(&server.url()).with_token(token);
        self.server = Some(server);
    }
}

pub async fn login(client: &Client, username: &str) -> Client {
    let session = client
        .login(&LoginRequest {
            username: username.into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("login");
    Client::new(client.base_url()).with_token(session.session_token)
}

pub fn examples_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/templates")
        .join(name)
}

/// The files of a template directory as the CLI uploads them.
pub fn files_of(dir: &Path) -> Vec<TemplateFile> {
    let bundle = dayshift_provisioner::TemplateBundle::from_dir(dir).expect("template dir");
    bundle
        .files
        .into_iter()
        .map(|f| TemplateFile {
            path: f.path,
            mode: f.mode,
            content_base64: base64::engine::general_purpose::STANDARD.encode(f.content),
        })
        .collect()
}

/// A template from inline files: `(path, mode, content)`.
pub fn inline_files(files: &[(&str, u32, &str)]) -> Vec<TemplateFile> {
    files
        .iter()
        .map(|(path, mode, content)| TemplateFile {
            path: path.to_string(),
            mode: *mode,
            content_base64: base64::engine::general_purpose::STANDARD.encode(content),
        })
        .collect()
}

pub async fn push(client: &Client, name: &str, files: Vec<TemplateFile>) -> Template {
    client
        .create_template(&CreateTemplateRequest {
            name: name.into(),
            files,
        })
        .await
        .expect("template pushed")
}

pub async fn create(client: &Client, name: &str, template: &str) -> Workspace {
    client
        .create_workspace(&CreateWorkspaceRequest {
            name: name.into(),
            template: template.into(),
            ..Default::default()
        })
        .await
        .expect("workspace created")
}

/// Waits until the workspace's latest build has finished, by long-polling
/// its log (the server answers as soon as lines arrive or the build ends).
pub async fn settled(client: &Client, id: &str) -> Workspace {
    let mut after = 0;
    for _ in 0..10_000 {
        let ws = client.workspace(id).await.expect("workspace");
        if ws.status.is_settled() {
            return ws;
        }
        let lines = client
            .build_logs(&ws.latest_build.id, after, true)
            .await
            .expect("logs");
        if let Some(last) = lines.last() {
            after = last.id;
        }
    }
    panic!("workspace {id} never settled");
}

/// All log text of a build.
pub async fn log_text(client: &Client, build_id: &str) -> String {
    client
        .build_logs(build_id, 0, false)
        .await
        .expect("logs")
        .iter()
        .map(|l| l.output.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn status_of(err: &ClientError) -> u16 {
    err.status().map(|s| s.as_u16()).unwrap_or(0)
}

pub fn message_of(err: &ClientError) -> String {
    match err {
        ClientError::Api { error, .. } => {
            let mut text = error.message.clone();
            if let Some(detail) = &error.detail {
                text.push_str(" | ");
                text.push_str(detail);
            }
            for v in &error.validations {
                text.push_str(&format!(" | {}: {}", v.field, v.detail));
            }
            text
        }
        other => other.to_string(),
    }
}
