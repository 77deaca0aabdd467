//! What every request handler can reach. Nothing here outlives a request
//! but handles to shared services: the database is the only shared state.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use dayshift_lifecycle::{Clock, Executor, ManualClock};
use dayshift_provisioner::daemon::JobEvents;
use dayshift_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Session lifetimes follow real time even under `--dev-clock`:
    /// moving the dev clock a month ahead must not log everybody out.
    pub session_clock: Arc<dyn Clock>,
    /// Password hashing off the async workers, and login throttling.
    pub passwords: crate::login::Passwords,
    /// Set only with `--dev-clock`.
    pub dev_clock: Option<ManualClock>,
    pub executor: Executor,
    /// Wakes the executor's tick driver after writes that may make a
    /// workspace due sooner.
    pub rearm_executor: Arc<Notify>,
    pub jobs: Arc<JobEvents>,
    pub provisioner_psk: Option<String>,
    /// Jobs whose daemon has been silent this long are failed; external
    /// daemons are told to heartbeat accordingly.
    pub provisioner_heartbeat_timeout: Duration,
    /// Fires when the server shuts down: long polls end at once.
    pub shutdown: CancellationToken,
    pub prometheus: Option<PrometheusHandle>,
    /// The system user that initiates automatic builds.
    pub system_user_id: String,
    /// The prebuilds reconciler, for claims, status and the dev clock.
    pub prebuilds: crate::prebuild_claim::Prebuilds,
    /// The dashboard's session cookie is marked `Secure`.
    pub secure_cookies: bool,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        AppState(Arc::new(inner))
    }

    /// Call after any write that may change when a workspace is due.
    pub fn workspaces_changed(&self) {
        self.rearm_executor.notify_one();
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
