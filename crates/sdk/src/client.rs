use std::collections::BTreeMap;

use jiff::Timestamp;
use reqwest::{Method, StatusCode};
use serde::{de::DeserializeOwned, Serialize};

use crate::types::*;
use crate::{SERVER_TIME_HEADER, SESSION_TOKEN_HEADER};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{}", render_api_error(.error))]
    Api { status: StatusCode, error: ApiError },
    #[error("cannot reach {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("unexpected answer from {url} ({status}): {body}")]
    Decode {
        url: String,
        status: StatusCode,
        body: String,
    },
}

impl ClientError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } | ClientError::Decode { status, .. } => Some(*status),
            ClientError::Transport { .. } => None,
        }
    }
}

fn render_api_error(error: &ApiError) -> String {
    let mut text = error.message.clone();
    if let Some(detail) = &error.detail {
        text.push_str(": ");
        text.push_str(detail);
    }
    for v in &error.validations {
        text.push_str(&format!("\n  {}: {}", v.field, v.detail));
    }
    text
}

/// A value together with the server's clock at the time it was produced
/// (the `Dayshift-Server-Time` header), so callers compute relative times
/// against the server and never against the local clock.
#[derive(Debug, Clone)]
pub struct ServerTimed<T> {
    pub value: T,
    pub server_time: Option<Timestamp>,
}

/// Typed client of the `/api/v2` routes.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    /// Sent as `Dayshift-Provisioner-Key` (external provisioner daemons).
    provisioner_key: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base_url: &str) -> Self {
        Client {
            base: base_url.trim_end_matches('/').to_string(),
            token: None,
            provisioner_key: None,
            http: reqwest::Client::new(),
        }
    }

    /// A client of the `/api/v2/provisioner` routes, authenticated with the
    /// server's provisioner pre-shared key.
    pub fn with_provisioner_key(mut self, key: impl Into<String>) -> Self {
        self.provisioner_key = Some(key.into());
        self
    }

    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    async fn send<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<ServerTimed<T>, ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(method, &url);
        if let Some(token) = &self.token {
            req = req.header(SESSION_TOKEN_HEADER, token);
        }
        if let Some(key) = &self.provisioner_key {
            req = req.header(PROVISIONER_KEY_HEADER, key);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|source| ClientError::Transport {
            url: url.clone(),
            source,
        })?;
        let status = resp.status();
        let server_time = resp
            .headers()
            .get(SERVER_TIME_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Timestamp>().ok());
        let bytes = resp
            .bytes()
            .await
            .map_err(|source| ClientError::Transport {
                url: url.clone(),
                source,
            })?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ApiError>(&bytes) {
                Ok(error) => ClientError::Api { status, error },
                Err(_) => ClientError::Decode {
                    url,
                    status,
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                },
            });
        }
        // 204 and empty bodies decode as JSON `null` so `()` works.
        let slice: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        let value = serde_json::from_slice(slice).map_err(|_| ClientError::Decode {
            url,
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })?;
        Ok(ServerTimed { value, server_time })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        Ok(self.send::<(), T>(Method::GET, path, None).await?.value)
    }

    async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        Ok(self.send(Method::POST, path, Some(body)).await?.value)
    }

    async fn put<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        Ok(self.send(Method::PUT, path, Some(body)).await?.value)
    }

    // --- users -----------------------------------------------------------

    pub async fn create_first_user(
        &self,
        req: &CreateFirstUserRequest,
    ) -> Result<User, ClientError> {
        self.post("/api/v2/users/first", req).await
    }

    pub async fn login(&self, req: &LoginRequest) -> Result<LoginResponse, ClientError> {
        self.post("/api/v2/users/login", req).await
    }

    pub async fn create_user(&self, req: &CreateUserRequest) -> Result<User, ClientError> {
        self.post("/api/v2/users", req).await
    }

    pub async fn me(&self) -> Result<User, ClientError> {
        self.get("/api/v2/users/me").await
    }

    // --- templates -------------------------------------------------------

    pub async fn templates(&self) -> Result<Vec<Template>, ClientError> {
        self.get("/api/v2/templates").await
    }

    /// `id_or_name`: the routes accept either.
    pub async fn template(&self, id_or_name: &str) -> Result<Template, ClientError> {
        self.get(&format!("/api/v2/templates/{}", encode(id_or_name)))
            .await
    }

    pub async fn create_template(
        &self,
        req: &CreateTemplateRequest,
    ) -> Result<Template, ClientError> {
        self.post("/api/v2/templates", req).await
    }

    pub async fn update_template(
        &self,
        id_or_name: &str,
        req: &UpdateTemplateRequest,
    ) -> Result<Template, ClientError> {
        Ok(self
            .send(
                Method::PATCH,
                &format!("/api/v2/templates/{}", encode(id_or_name)),
                Some(req),
            )
            .await?
            .value)
    }

    pub async fn create_template_version(
        &self,
        template_id: &str,
        req: &CreateTemplateVersionRequest,
    ) -> Result<TemplateVersion, ClientError> {
        self.post(
            &format!("/api/v2/templates/{}/versions", encode(template_id)),
            req,
        )
        .await
    }

    pub async fn template_versions(
        &self,
        template_id: &str,
    ) -> Result<Vec<TemplateVersion>, ClientError> {
        self.get(&format!(
            "/api/v2/templates/{}/versions",
            encode(template_id)
        ))
        .await
    }

    // --- workspaces ------------------------------------------------------

    pub async fn workspaces(&self, all: bool) -> Result<Vec<Workspace>, ClientError> {
        let path = if all {
            "/api/v2/workspaces?all=true"
        } else {
            "/api/v2/workspaces"
        };
        self.get(path).await
    }

    pub async fn workspace(&self, id: &str) -> Result<Workspace, ClientError> {
        self.get(&format!("/api/v2/workspaces/{}", encode(id)))
            .await
    }

    /// The workspace with the server's clock, for relative-time displays.
    pub async fn workspace_timed(&self, id: &str) -> Result<ServerTimed<Workspace>, ClientError> {
        self.send::<(), Workspace>(
            Method::GET,
            &format!("/api/v2/workspaces/{}", encode(id)),
            None,
        )
        .await
    }

    /// `user` is a username, a user id or `me`.
    pub async fn workspace_by_name(
        &self,
        user: &str,
        name: &str,
    ) -> Result<Workspace, ClientError> {
        self.get(&format!(
            "/api/v2/users/{}/workspace/{}",
            encode(user),
            encode(name)
        ))
        .await
    }

    /// [`Client::workspaces`] with the server's clock, for relative-time
    /// displays.
    pub async fn workspaces_timed(
        &self,
        all: bool,
    ) -> Result<ServerTimed<Vec<Workspace>>, ClientError> {
        let path = if all {
            "/api/v2/workspaces?all=true"
        } else {
            "/api/v2/workspaces"
        };
        self.send::<(), Vec<Workspace>>(Method::GET, path, None)
            .await
    }

    /// [`Client::workspace_by_name`] with the server's clock.
    pub async fn workspace_by_name_timed(
        &self,
        user: &str,
        name: &str,
    ) -> Result<ServerTimed<Workspace>, ClientError> {
        self.send::<(), Workspace>(
            Method::GET,
            &format!("/api/v2/users/{}/workspace/{}", encode(user), encode(name)),
            None,
        )
        .await
    }

    pub async fn create_workspace(
        &self,
        req: &CreateWorkspaceRequest,
    ) -> Result<Workspace, ClientError> {
        self.post("/api/v2/workspaces", req).await
    }

    pub async fn create_build(
        &self,
        workspace_id: &str,
        transition: Transition,
    ) -> Result<WorkspaceBuild, ClientError> {
        self.create_build_with(workspace_id, &CreateBuildRequest::new(transition))
            .await
    }

    /// A build with another template version or changed parameters
    /// (`start` only).
    pub async fn create_build_with(
        &self,
        workspace_id: &str,
        req: &CreateBuildRequest,
    ) -> Result<WorkspaceBuild, ClientError> {
        self.post(
            &format!("/api/v2/workspaces/{}/builds", encode(workspace_id)),
            req,
        )
        .await
    }

    pub async fn builds(&self, workspace_id: &str) -> Result<Vec<WorkspaceBuild>, ClientError> {
        self.get(&format!(
            "/api/v2/workspaces/{}/builds",
            encode(workspace_id)
        ))
        .await
    }

    /// Log lines with an id greater than `after`. With `wait`, the server
    /// holds the request until new lines arrive or the build finishes.
    pub async fn build_logs(
        &self,
        build_id: &str,
        after: i64,
        wait: bool,
    ) -> Result<Vec<BuildLogLine>, ClientError> {
        self.get(&format!(
            "/api/v2/workspacebuilds/{}/logs?after={after}&wait={wait}",
            encode(build_id)
        ))
        .await
    }

    pub async fn set_autostart(
        &self,
        workspace_id: &str,
        schedule: Option<String>,
    ) -> Result<(), ClientError> {
        self.put(
            &format!("/api/v2/workspaces/{}/autostart", encode(workspace_id)),
            &UpdateAutostartRequest { schedule },
        )
        .await
    }

    pub async fn set_ttl(
        &self,
        workspace_id: &str,
        ttl_ms: Option<i64>,
    ) -> Result<(), ClientError> {
        self.put(
            &format!("/api/v2/workspaces/{}/ttl", encode(workspace_id)),
            &UpdateTtlRequest { ttl_ms },
        )
        .await
    }

    pub async fn extend(
        &self,
        workspace_id: &str,
        deadline: Timestamp,
    ) -> Result<Response, ClientError> {
        self.put(
            &format!("/api/v2/workspaces/{}/extend", encode(workspace_id)),
            &ExtendRequest { deadline },
        )
        .await
    }

    pub async fn report_usage(
        &self,
        workspace_id: &str,
    ) -> Result<ServerTimed<Workspace>, ClientError> {
        self.send::<BTreeMap<String, String>, Workspace>(
            Method::POST,
            &format!("/api/v2/workspaces/{}/usage", encode(workspace_id)),
            Some(&BTreeMap::new()),
        )
        .await
    }

    pub async fn set_dormant(
        &self,
        workspace_id: &str,
        dormant: bool,
    ) -> Result<Workspace, ClientError> {
        self.put(
            &format!("/api/v2/workspaces/{}/dormant", encode(workspace_id)),
            &UpdateDormantRequest { dormant },
        )
        .await
    }

    // --- schedules, prebuilds, operations ---------------------------------

    pub async fn schedule_preview(
        &self,
        cron: &str,
        count: usize,
        from: Option<Timestamp>,
    ) -> Result<Vec<PreviewPoint>, ClientError> {
        let mut path = format!(
            "/api/v2/schedule/preview?cron={}&count={count}",
            encode(cron)
        );
        if let Some(from) = from {
            path.push_str(&format!("&from={}", encode(&from.to_string())));
        }
        self.get(&path).await
    }

    pub async fn prebuilds(&self) -> Result<Vec<PrebuildPreset>, ClientError> {
        self.get("/api/v2/prebuilds").await
    }

    /// [`Client::prebuilds`] with the server's clock.
    pub async fn prebuilds_timed(&self) -> Result<ServerTimed<Vec<PrebuildPreset>>, ClientError> {
        self.send::<(), Vec<PrebuildPreset>>(Method::GET, "/api/v2/prebuilds", None)
            .await
    }

    pub async fn set_prebuild_settings(
        &self,
        settings: &PrebuildSettings,
    ) -> Result<PrebuildSettings, ClientError> {
        self.put("/api/v2/prebuilds/settings", settings).await
    }

    pub async fn debug_clock(
        &self,
        req: &DebugClockRequest,
    ) -> Result<DebugClockResponse, ClientError> {
        self.post("/api/v2/debug/clock", req).await
    }

    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get("/healthz").await
    }

    // --- external provisioner daemons (need `with_provisioner_key`) ------

    /// Long-polls for a job: `None` when none came within the wait.
    pub async fn acquire_job(
        &self,
        req: &AcquireJobRequest,
    ) -> Result<Option<ProvisionerJob>, ClientError> {
        self.post("/api/v2/provisioner/jobs/acquire", req).await
    }

    pub async fn template_bundle(
        &self,
        version_id: &str,
    ) -> Result<TemplateBundleResponse, ClientError> {
        self.get(&format!(
            "/api/v2/provisioner/template-versions/{}/bundle",
            encode(version_id)
        ))
        .await
    }

    pub async fn append_job_logs(
        &self,
        build_id: &str,
        req: &JobLogsRequest,
    ) -> Result<(), ClientError> {
        self.post(
            &format!("/api/v2/provisioner/jobs/{}/logs", encode(build_id)),
            req,
        )
        .await
    }

    /// Fails with 409 when the job is no longer this daemon's.
    pub async fn job_heartbeat(
        &self,
        build_id: &str,
        req: &JobHeartbeatRequest,
    ) -> Result<(), ClientError> {
        self.post(
            &format!("/api/v2/provisioner/jobs/{}/heartbeat", encode(build_id)),
            req,
        )
        .await
    }

    /// Fails with 409 when the job is no longer this daemon's.
    pub async fn complete_job(
        &self,
        build_id: &str,
        req: &CompleteJobRequest,
    ) -> Result<(), ClientError> {
        self.post(
            &format!("/api/v2/provisioner/jobs/{}/complete", encode(build_id)),
            req,
        )
        .await
    }
}

/// Percent-encodes one path segment or query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
