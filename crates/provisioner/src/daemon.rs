//! Built-in provisioner daemons: acquire a job from the store, run it with
//! the echo or script provisioner, stream its log into the store, send
//! heartbeats, and record the result.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dayshift_store::clock::Clock;
use dayshift_store::{JobAssignment, JobResult, Store, StoreError};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::runner::{run_build, BuildLog, BuildRequest, LogStream, Transition};
use crate::{Manifest, TemplateBundle};

/// Signals between whoever queues jobs, the daemons, and log readers.
#[derive(Debug)]
pub struct JobEvents {
    queued: Notify,
    progress: watch::Sender<u64>,
}

impl Default for JobEvents {
    fn default() -> Self {
        JobEvents {
            queued: Notify::new(),
            progress: watch::channel(0).0,
        }
    }
}

impl JobEvents {
    pub fn new() -> Self {
        Self::default()
    }

    /// A job was queued: wake idle daemons.
    pub fn job_queued(&self) {
        self.queued.notify_waiters();
    }

    /// A log line was written or a job changed state.
    pub fn progressed(&self) {
        self.progress.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes whenever [`JobEvents::progressed`] is called.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.progress.subscribe()
    }
}

/// How a daemon is set up.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Unique name, recorded on the jobs it runs.
    pub name: String,
    /// Extracted template versions and per-workspace state live here.
    pub work_dir: PathBuf,
    pub heartbeat_interval: Duration,
    /// Idle daemons look for work this often even without a wake-up (jobs
    /// queued by other replicas).
    pub idle_poll: Duration,
}

/// One built-in provisioner daemon.
pub struct Daemon {
    store: Store,
    clock: Arc<dyn Clock>,
    events: Arc<JobEvents>,
    config: DaemonConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("template version {version}: {message}")]
    Template { version: String, message: String },
}

impl Daemon {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        events: Arc<JobEvents>,
        config: DaemonConfig,
    ) -> Self {
        Daemon {
            store,
            clock,
            events,
            config,
        }
    }

    /// Runs jobs until `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) {
        loop {
            // Register interest before looking, so a job queued between
            // the look and the wait still wakes us.
            let notified = self.events.queued.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self
                .store
                .acquire_job(&self.config.name, self.clock.now())
                .await
            {
                Ok(Some(job)) => {
                    self.events.progressed();
                    self.run_job(job, &cancel).await;
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(daemon = %self.config.name, error = %e, "cannot acquire jobs")
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = &mut notified => {}
                _ = tokio::time::sleep(self.config.idle_poll) => {}
            }
        }
    }

    async fn run_job(&self, job: JobAssignment, cancel: &CancellationToken) {
        let build_id = job.build.id.clone();
        let log = StoreLog {
            store: self.store.clone(),
            clock: self.clock.clone(),
            events: self.events.clone(),
            build_id: build_id.clone(),
        };
        let build_cancel = cancel.child_token();
        let heartbeat = tokio::spawn(heartbeat(
            self.store.clone(),
            self.clock.clone(),
            build_id.clone(),
            self.config.name.clone(),
            self.config.heartbeat_interval,
            build_cancel.clone(),
        ));
        let result = match self.prepare(&job).await {
            Ok((manifest, request)) => {
                let outcome = run_build(&manifest, &request, &log, build_cancel.clone()).await;
                if outcome.success && request.transition == Transition::Delete {
                    // The workspace is gone; so is its state.
                    let _ = tokio::fs::remove_dir_all(&request.state_dir).await;
                }
                JobResult {
                    success: outcome.success,
                    error: outcome.error,
                    outputs: outcome.outputs,
                }
            }
            Err(e) => {
                log.line(LogStream::System, e.to_string()).await;
                JobResult {
                    success: false,
                    error: Some(e.to_string()),
                    outputs: Default::default(),
                }
            }
        };
        heartbeat.abort();
        let success = result.success;
        match self
            .store
            .complete_job(&build_id, Some(&self.config.name), result, self.clock.now())
            .await
        {
            Ok(state) => tracing::info!(
                workspace = %format!("{}/{}", state.workspace.owner_name, state.workspace.name),
                transition = job.build.transition.as_str(),
                success,
                "build finished"
            ),
            Err(StoreError::Conflict(message)) => {
                tracing::warn!(build = %build_id, %message, "build result discarded")
            }
            Err(e) => tracing::warn!(build = %build_id, error = %e, "cannot record build result"),
        }
        self.events.progressed();
    }

    async fn prepare(&self, job: &JobAssignment) -> Result<(Manifest, BuildRequest), DaemonError> {
        let version_id = &job.build.template_version_id;
        let template_error = |message: String| DaemonError::Template {
            version: version_id.clone(),
            message,
        };
        let version = self
            .store
            .template_version(version_id)
            .await?
            .ok_or_else(|| template_error("not found".into()))?;
        let manifest: Manifest = serde_json::from_str(&version.manifest_json)
            .map_err(|e| template_error(format!("unreadable manifest: {e}")))?;
        let template_dir = self.config.work_dir.join("versions").join(version_id);
        if !template_dir.exists() {
            let bytes = self.store.template_version_bundle(version_id).await?;
            let bundle =
                TemplateBundle::from_bytes(&bytes).map_err(|e| template_error(e.to_string()))?;
            extract_atomically(&bundle, &template_dir).map_err(template_error)?;
        }
        let transition = Transition::parse(job.build.transition.as_str()).ok_or_else(|| {
            template_error(format!("unknown transition {}", job.build.transition))
        })?;
        let request = BuildRequest {
            workspace_id: job.build.workspace_id.clone(),
            workspace_name: job.workspace_name.clone(),
            owner_name: job.owner_name.clone(),
            transition,
            parameters: job.build.parameters.clone(),
            template_dir,
            state_dir: self
                .config
                .work_dir
                .join("state")
                .join(&job.build.workspace_id),
        };
        Ok((manifest, request))
    }
}

/// Extracts into a temporary sibling and renames it into place, so a
/// daemon that dies half-way never leaves a partial template behind.
fn extract_atomically(bundle: &TemplateBundle, dir: &Path) -> Result<(), String> {
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let staging = parent.join(format!(
        ".{}.{}",
        dir.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("version"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    bundle.extract_to(&staging).map_err(|e| e.to_string())?;
    match std::fs::rename(&staging, dir) {
        Ok(()) => Ok(()),
        // Another daemon extracted the same version first.
        Err(_) if dir.exists() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(())
        }
        Err(e) => Err(format!("{}: {e}", dir.display())),
    }
}

async fn heartbeat(
    store: Store,
    clock: Arc<dyn Clock>,
    build_id: String,
    worker: String,
    interval: Duration,
    build_cancel: CancellationToken,
) {
    loop {
        tokio::time::sleep(interval).await;
        match store.heartbeat_job(&build_id, &worker, clock.now()).await {
            Ok(true) => {}
            // The job was taken away (failed by the heartbeat timeout):
            // stop working on it.
            Ok(false) => {
                build_cancel.cancel();
                return;
            }
            Err(e) => tracing::warn!(build = %build_id, error = %e, "heartbeat failed"),
        }
    }
}

struct StoreLog {
    store: Store,
    clock: Arc<dyn Clock>,
    events: Arc<JobEvents>,
    build_id: String,
}

#[async_trait]
impl BuildLog for StoreLog {
    async fn line(&self, stream: LogStream, text: String) {
        if let Err(e) = self
            .store
            .append_log(&self.build_id, stream.as_str(), &text, self.clock.now())
            .await
        {
            tracing::warn!(build = %self.build_id, error = %e, "cannot store a log line");
        }
        self.events.progressed();
    }
}
