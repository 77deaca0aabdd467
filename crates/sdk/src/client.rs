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
            // The user agent labels the session a login starts.
            http: reqwest::Client::builder()
                .user_agent(concat!("dayshift/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
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

    /// Every user who can log in, by username (owners only; all pages).
    pub async fn users(&self) -> Result<Vec<User>, ClientError> {
        self.pages::<UsersPage>("/api/v2/users").collect().await
    }

    pub async fn me(&self) -> Result<User, ClientError> {
        self.get("/api/v2/users/me").await
    }

    /// Ends the session this client authenticates with.
    pub async fn logout(&self) -> Result<(), ClientError> {
        self.post("/api/v2/users/logout", &()).await
    }

    pub async fn sessions(&self) -> Result<SessionList, ClientError> {
        self.get("/api/v2/users/me/sessions").await
    }

    pub async fn end_session(&self, id: &str) -> Result<(), ClientError> {
        self.send::<(), ()>(
            Method::DELETE,
            &format!("/api/v2/users/me/sessions/{}", encode(id)),
            None,
        )
        .await?;
        Ok(())
    }

    /// Ends every session of `user` (a username, an id or `me`).
    pub async fn end_sessions_of(&self, user: &str) -> Result<SessionsEnded, ClientError> {
        Ok(self
            .send::<(), SessionsEnded>(
                Method::DELETE,
                &format!("/api/v2/users/{}/sessions", encode(user)),
                None,
            )
            .await?
            .value)
    }

    /// Changes the password of `user` (a username, an id or `me`).
    pub async fn change_password(
        &self,
        user: &str,
        req: &ChangePasswordRequest,
    ) -> Result<(), ClientError> {
        self.put(&format!("/api/v2/users/{}/password", encode(user)), req)
            .await
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

    /// Every version of a template, oldest first (all pages).
    pub async fn template_versions(
        &self,
        template_id: &str,
    ) -> Result<Vec<TemplateVersion>, ClientError> {
        self.pages::<TemplateVersionsPage>(&format!(
            "/api/v2/templates/{}/versions",
            encode(template_id)
        ))
        .collect()
        .await
    }

    // --- workspaces ------------------------------------------------------

    /// Every workspace the query matches (all pages): with `all`, an
    /// owner's view of everybody's; otherwise the caller's own.
    pub async fn workspaces(&self, all: bool) -> Result<Vec<Workspace>, ClientError> {
        self.search_workspaces(&WorkspaceListQuery {
            all,
            ..Default::default()
        })
        .collect()
        .await
    }

    /// The pages of a workspace search, fetched one at a time as the
    /// caller asks for them.
    pub fn search_workspaces(&self, query: &WorkspaceListQuery) -> Pages<WorkspacesPage> {
        let mut params = Vec::new();
        if let Some(q) = &query.q {
            params.push(format!("q={}", encode(q)));
        }
        if query.all {
            params.push("all=true".to_string());
        }
        if let Some(limit) = query.limit {
            params.push(format!("limit={limit}"));
        }
        let path = if params.is_empty() {
            "/api/v2/workspaces".to_string()
        } else {
            format!("/api/v2/workspaces?{}", params.join("&"))
        };
        self.pages(&path)
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
        self.post(
            &format!("/api/v2/workspaces/{}/builds", encode(workspace_id)),
            &CreateBuildRequest { transition },
        )
        .await
    }

    /// Every build of a workspace, newest first (all pages).
    pub async fn builds(&self, workspace_id: &str) -> Result<Vec<WorkspaceBuild>, ClientError> {
        self.build_pages(workspace_id).collect().await
    }

    /// A workspace's builds, newest first, a page at a time.
    pub fn build_pages(&self, workspace_id: &str) -> Pages<WorkspaceBuildsPage> {
        self.pages(&format!(
            "/api/v2/workspaces/{}/builds",
            encode(workspace_id)
        ))
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

    /// Every prebuild pool (all pages).
    pub async fn prebuilds(&self) -> Result<Vec<PrebuildPreset>, ClientError> {
        Ok(self.prebuilds_timed().await?.value)
    }

    /// [`Client::prebuilds`] with the server's clock (of the last page).
    pub async fn prebuilds_timed(&self) -> Result<ServerTimed<Vec<PrebuildPreset>>, ClientError> {
        self.pages::<PrebuildsPage>("/api/v2/prebuilds")
            .collect_timed()
            .await
    }

    // --- lists -----------------------------------------------------------

    /// The pages of the list at `path` (which may carry a query string),
    /// walked with the cursor each page hands out.
    pub fn pages<P: Paged>(&self, path: &str) -> Pages<P> {
        Pages {
            client: self.clone(),
            path: path.to_string(),
            next: Some(None),
            _page: std::marker::PhantomData,
        }
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

/// The pages of one list, fetched on demand: each call asks the server
/// for the page after the last one returned, so a caller can show rows as
/// they arrive while memory holds one page at a time.
pub struct Pages<P> {
    client: Client,
    path: String,
    /// `Some(cursor)` while a page remains (`Some(None)`: the first).
    next: Option<Option<String>>,
    _page: std::marker::PhantomData<fn() -> P>,
}

impl<P: Paged> Pages<P> {
    /// The next page with the server's clock, or `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<ServerTimed<P>>, ClientError> {
        let Some(cursor) = self.next.take() else {
            return Ok(None);
        };
        let path = match &cursor {
            None => self.path.clone(),
            Some(after) => {
                let separator = if self.path.contains('?') { '&' } else { '?' };
                format!("{}{separator}after={}", self.path, encode(after))
            }
        };
        let page = self.client.send::<(), P>(Method::GET, &path, None).await?;
        self.next = page.value.next_cursor().map(|next| Some(next.to_string()));
        Ok(Some(page))
    }

    /// Every row of every page.
    pub async fn collect(self) -> Result<Vec<P::Item>, ClientError> {
        Ok(self.collect_timed().await?.value)
    }

    /// Every row of every page, with the server's clock of the last page.
    pub async fn collect_timed(mut self) -> Result<ServerTimed<Vec<P::Item>>, ClientError> {
        let mut all = Vec::new();
        let mut server_time = None;
        while let Some(page) = self.next_page().await? {
            server_time = page.server_time.or(server_time);
            all.extend(page.value.into_parts().0);
        }
        Ok(ServerTimed {
            value: all,
            server_time,
        })
    }
}
