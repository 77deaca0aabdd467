//! The dayshift server: HTTP API (axum), auth and roles, OpenAPI document,
//! `/metrics`, and the wiring of background tasks (executor, reconciler,
//! provisioner daemons) to the store and the clock.
//!
//! It owns request validation and authorization; it must not hold state of
//! its own between requests (the database is the only shared state), and it
//! leaves lifecycle decisions to `dayshift-lifecycle`.

mod auth;
mod convert;
mod error;
mod external_provisioner;
mod extract;
mod login;
mod openapi;
mod paging;
mod prebuild_claim;
mod provisioning;
mod routes;
mod state;
mod validate;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::Router;
use dayshift_lifecycle::prebuilds::{PoolDue, Reconciler};
use dayshift_lifecycle::wake::drive_ticks;
use dayshift_lifecycle::{Clock, Executor, LifecyclePolicy, SystemClock};
use dayshift_provisioner::daemon::JobEvents;
use dayshift_schedule::Timestamp;
use dayshift_store::{Store, StoreError};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

pub use dayshift_lifecycle::prebuilds::PoolRules;
pub use dayshift_lifecycle::ManualClock;
pub use external_provisioner::{run_external_provisioner, ExternalProvisionerConfig};
pub use login::{Limit, LoginLimits};
pub use provisioning::DEFAULT_HEARTBEAT_TIMEOUT;
pub use state::AppState;

/// Everything `dayshift server` can be told on its command line.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub address: SocketAddr,
    pub data_dir: PathBuf,
    pub postgres_url: Option<String>,
    pub autobuild_poll_interval: Duration,
    pub prebuilds_reconcile_interval: Duration,
    pub provisioner_daemons: usize,
    pub provisioner_psk: Option<String>,
    /// Jobs whose daemon has been silent this long are failed.
    pub provisioner_heartbeat_timeout: Duration,
    /// Failure backoff and hard limit of prebuild pools.
    pub prebuilds: dayshift_lifecycle::prebuilds::PoolRules,
    pub dev_clock: bool,
    /// The dashboard's session cookie is marked `Secure` (the server is
    /// reached over HTTPS).
    pub secure_cookies: bool,
    /// Login throttling and the bound on concurrent password hashes.
    pub login: LoginLimits,
    /// The clock of session lifetimes and login throttling: real time
    /// (`None`), even under `--dev-clock`; tests set a manual one.
    pub session_clock: Option<ManualClock>,
}

impl ServerConfig {
    /// A configuration for tests and embedding: SQLite in `data_dir`, a
    /// random port on loopback, the dev clock on.
    pub fn for_tests(data_dir: PathBuf) -> Self {
        ServerConfig {
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            postgres_url: None,
            autobuild_poll_interval: Duration::from_secs(3600),
            prebuilds_reconcile_interval: Duration::from_secs(3600),
            provisioner_daemons: 2,
            provisioner_psk: None,
            provisioner_heartbeat_timeout: DEFAULT_HEARTBEAT_TIMEOUT,
            prebuilds: Default::default(),
            dev_clock: true,
            secure_cookies: false,
            login: LoginLimits::default(),
            session_clock: None,
        }
    }
}

/// The system user that owns prebuilds and initiates automatic builds.
pub const SYSTEM_USER: &str = "prebuilds";

/// A running server.
pub struct RunningServer {
    pub address: SocketAddr,
    pub state: AppState,
    cancel: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops the HTTP listener and every background task.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Opens the store and starts the HTTP API and background tasks.
/// With `dev_clock`, time starts at the system time and moves only through
/// `POST /api/v2/debug/clock`; `clock` overrides the clock entirely (tests).
pub async fn start(
    config: ServerConfig,
    clock: Option<ManualClock>,
) -> anyhow::Result<RunningServer> {
    let policy = Arc::new(LifecyclePolicy);
    let store = match &config.postgres_url {
        Some(url) => Store::open_postgres(url, policy).await.map_err(|e| {
            let what = match e {
                StoreError::Connect(_) => "cannot connect to PostgreSQL at",
                _ => "cannot open the PostgreSQL database at",
            };
            anyhow::Error::new(e).context(format!("{what} {}", redact(url)))
        })?,
        None => {
            let path = config.data_dir.join("dayshift.db");
            private_files(&config.data_dir, &path)?;
            let store = Store::open_sqlite(&path, policy)
                .await
                .with_context(|| format!("cannot open the SQLite database {}", path.display()))?;
            // SQLite gives -wal and -shm the database file's mode; make sure
            // of it for files left by an older version.
            private_files(&config.data_dir, &path)?;
            store
        }
    };
    let dev_clock = match (clock, config.dev_clock) {
        (Some(clock), _) => Some(clock),
        (None, true) => Some(ManualClock::new(SystemClock.now())),
        (None, false) => None,
    };
    let clock: Arc<dyn Clock> = match &dev_clock {
        Some(manual) => Arc::new(manual.clone()),
        None => Arc::new(SystemClock),
    };
    let system_user = store.ensure_system_user(SYSTEM_USER, clock.now()).await?;
    let executor = Executor::new(store.clone(), system_user.id.clone());
    let reconciler = Reconciler::new(store.clone(), system_user.id.clone())
        .with_parameters(Arc::new(prebuild_claim::ManifestParameters))
        .with_rules(config.prebuilds);
    let (pool_tick_tx, pool_tick_rx) = mpsc::channel(1);
    let rearm_prebuilds = Arc::new(Notify::new());
    // Under the dev clock pools change only when the clock is moved.
    let refill = dev_clock
        .is_none()
        .then(|| (pool_tick_tx.clone(), rearm_prebuilds.clone()));
    let jobs = Arc::new(JobEvents::new());
    let rearm_executor = Arc::new(Notify::new());
    let prometheus = install_metrics_recorder();
    let cancel = CancellationToken::new();
    let session_clock: Arc<dyn Clock> = match &config.session_clock {
        Some(manual) => Arc::new(manual.clone()),
        None => Arc::new(SystemClock),
    };
    let state = AppState::new(state::Inner {
        store: store.clone(),
        clock: clock.clone(),
        session_clock: session_clock.clone(),
        passwords: login::Passwords::new(config.login, session_clock),
        dev_clock,
        executor: executor.clone(),
        rearm_executor: rearm_executor.clone(),
        jobs: jobs.clone(),
        provisioner_psk: config.provisioner_psk.clone(),
        provisioner_heartbeat_timeout: config.provisioner_heartbeat_timeout,
        shutdown: cancel.clone(),
        prometheus,
        system_user_id: system_user.id.clone(),
        prebuilds: prebuild_claim::Prebuilds::new(reconciler.clone(), refill),
        secure_cookies: config.secure_cookies,
    });

    let mut tasks = tokio::task::JoinSet::new();

    // The executor and its tick driver.
    let (tick_tx, tick_rx) = mpsc::channel(1);
    tasks.spawn(executor.run(tick_rx, None, cancel.child_token()));
    if state.dev_clock.is_none() {
        tasks.spawn(drive_ticks(
            clock.clone(),
            Arc::new(store.clone()),
            config.autobuild_poll_interval,
            rearm_executor.clone(),
            tick_tx,
            cancel.child_token(),
        ));
    } else {
        // Under the dev clock time moves only when told to, through
        // /debug/clock; the poll interval still ticks at the dev time.
        tasks.spawn(poll_ticks(
            clock.clone(),
            config.autobuild_poll_interval,
            tick_tx,
            cancel.child_token(),
        ));
    }

    // The prebuilds reconciler: polled every --prebuilds-reconcile-interval
    // and woken when a pool next needs work (a schedule boundary, the end
    // of a backoff, an expiry), so a pool grows at 09:00:00 sharp. Builds
    // it queues wake the daemons at once.
    {
        let (stats_tx, mut stats_rx) = mpsc::channel(1);
        tasks.spawn(
            reconciler
                .clone()
                .run(pool_tick_rx, Some(stats_tx), cancel.child_token()),
        );
        let jobs = jobs.clone();
        tasks.spawn(async move {
            while let Some(stats) = stats_rx.recv().await {
                if stats.created + stats.deleted > 0 {
                    jobs.job_queued();
                }
            }
        });
        if state.dev_clock.is_none() {
            let due = PoolDue {
                reconciler,
                clock: clock.clone(),
            };
            tasks.spawn(drive_ticks(
                clock.clone(),
                Arc::new(due),
                config.prebuilds_reconcile_interval,
                rearm_prebuilds,
                pool_tick_tx,
                cancel.child_token(),
            ));
        } else {
            tasks.spawn(poll_ticks(
                clock.clone(),
                config.prebuilds_reconcile_interval,
                pool_tick_tx,
                cancel.child_token(),
            ));
        }
    }

    // A finished build changes deadlines and due times: re-arm the driver.
    {
        let mut progress = jobs.subscribe();
        let rearm = rearm_executor.clone();
        let cancel = cancel.child_token();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    changed = progress.changed() => {
                        if changed.is_err() { return; }
                        rearm.notify_one();
                    }
                }
            }
        });
    }

    // Built-in provisioner daemons, the reaper of silent jobs, and the
    // relay of job announcements from other replicas.
    provisioning::spawn(&mut tasks, &config, &store, &clock, &jobs, &cancel);

    let listener = tokio::net::TcpListener::bind(config.address)
        .await
        .with_context(|| format!("cannot listen on {}", config.address))?;
    let address = listener.local_addr()?;
    let app = router(state.clone());
    {
        let cancel = cancel.child_token();
        tasks.spawn(async move {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { cancel.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "HTTP server stopped");
            }
        });
    }
    tracing::info!(%address, backend = ?store.dialect(), dev_clock = state.dev_clock.is_some(), "dayshift server listening");
    Ok(RunningServer {
        address,
        state,
        cancel,
        tasks,
    })
}

/// Files at rest are private to the server's user: the data directory
/// 0700, the database and its -wal/-shm files 0600 (they hold password and
/// session hashes). The database file is created 0600 before SQLite opens
/// it, so it is never readable by others, even for an instant.
fn private_files(data_dir: &std::path::Path, db: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    dayshift_provisioner::bundle::create_private_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(db)
        .with_context(|| format!("cannot create {}", db.display()))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let file = std::path::PathBuf::from(name);
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot make {} private", file.display()))
            }
        }
    }
    Ok(())
}

/// Runs the server until ctrl-c.
pub async fn run(config: ServerConfig) -> anyhow::Result<()> {
    let server = start(config, None).await?;
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for ctrl-c")?;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn poll_ticks(
    clock: Arc<dyn Clock>,
    every: Duration,
    ticks: mpsc::Sender<Timestamp>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if ticks.send(clock.now()).await.is_err() {
            return;
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "dayshift".to_string())
}

/// Hides the password of a database URL in messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The process-wide Prometheus recorder; installed once, shared by every
/// server started in this process (tests start several).
fn install_metrics_recorder() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .clone()
}

pub fn router(state: AppState) -> Router {
    use routes::*;
    let api = Router::new()
        .route("/users/first", post(users::create_first_user))
        .route("/users/login", post(users::login))
        .route("/users", get(users::list_users).post(users::create_user))
        .route("/users/logout", post(users::logout))
        .route("/users/me", get(users::me))
        .route(
            "/users/me/sessions",
            get(users::list_sessions).delete(users::end_my_sessions),
        )
        .route("/users/me/sessions/{id}", delete(users::end_session))
        .route(
            "/users/{user}/sessions",
            delete(users::end_sessions_of_user),
        )
        .route("/users/{user}/password", put(users::change_password))
        .route(
            "/users/{user}/workspace/{name}",
            get(workspaces::get_by_name),
        )
        .route("/templates", get(templates::list).post(templates::create))
        .route(
            "/templates/{id}",
            get(templates::get).patch(templates::update),
        )
        .route(
            "/templates/{id}/versions",
            get(templates::list_versions).post(templates::create_version),
        )
        .route(
            "/workspaces",
            get(workspaces::list).post(workspaces::create),
        )
        .route("/workspaces/{id}", get(workspaces::get))
        .route(
            "/workspaces/{id}/builds",
            get(workspaces::list_builds).post(workspaces::create_build),
        )
        .route("/workspacebuilds/{id}/logs", get(workspaces::build_logs))
        .route("/workspaces/{id}/autostart", put(workspaces::set_autostart))
        .route("/workspaces/{id}/ttl", put(workspaces::set_ttl))
        .route("/workspaces/{id}/extend", put(workspaces::extend))
        .route("/workspaces/{id}/usage", post(workspaces::report_usage))
        .route("/workspaces/{id}/dormant", put(workspaces::set_dormant))
        .route("/schedule/preview", get(schedule::get_preview))
        .route("/prebuilds", get(prebuilds::list))
        .route("/prebuilds/settings", put(prebuilds::update_settings))
        .route("/debug/clock", post(debug::set_clock))
        .route("/openapi.json", get(openapi::document))
        .merge(provisioner::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest("/api/v2", api)
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .merge(web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(middleware::from_fn(errors_as_json))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            server_time_and_metrics,
        ))
        .with_state(state)
}

async fn not_found() -> error::ApiErr {
    error::ApiErr::not_found("no such route")
}

async fn method_not_allowed(
    method: axum::http::Method,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
) -> error::ApiErr {
    error::ApiErr::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "method {} is not allowed on {}",
            bounded_method(&method),
            uri.path()
        ),
    )
}

/// Longest request target accepted (path and query).
pub const MAX_URI_LENGTH: usize = 8 * 1024;

/// Every error answer has the API's JSON shape, whoever produced it (axum's
/// own rejections, body limits, layers): a non-JSON error body (other than
/// the dashboard's HTML pages) is replaced
/// by `{"message": ...}` with the status's reason. Over-long request
/// targets are refused here with a 414 before any routing.
async fn errors_as_json(request: Request, next: Next) -> Response {
    use axum::http::header::CONTENT_TYPE;
    use axum::response::IntoResponse;
    let uri_length = request.uri().to_string().len();
    if uri_length > MAX_URI_LENGTH {
        return error::ApiErr::new(
            axum::http::StatusCode::URI_TOO_LONG,
            format!("request URI is {uri_length} bytes long; the limit is {MAX_URI_LENGTH}"),
        )
        .into_response();
    }
    let response = next.run(request).await;
    let status = response.status();
    // JSON is the API's shape; HTML is the dashboard's error pages.
    let intended = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || intended {
        return response;
    }
    let mut err = if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        extract::body_too_large()
    } else {
        let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
        error::ApiErr::new(status, reason)
    };
    err.retry_after = response
        .headers()
        .get(axum::http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let mut answer = err.into_response();
    if let Some(allow) = response.headers().get(axum::http::header::ALLOW) {
        answer
            .headers_mut()
            .insert(axum::http::header::ALLOW, allow.clone());
    }
    answer
}

/// The method as a metrics label: the standard ones by name, anything a
/// client made up as `other`, so labels stay bounded.
fn bounded_method(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Stamps every answer with the server's clock and counts requests.
async fn server_time_and_metrics(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let method = bounded_method(request.method());
    // The route's pattern (`/api/v2/workspaces/{id}`), never the raw path:
    // made-up paths all count as `unmatched`.
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("dayshift_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("dayshift_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&state.clock.now().to_string()) {
        response
            .headers_mut()
            .insert(dayshift_sdk::SERVER_TIME_HEADER, value);
    }
    response
}
