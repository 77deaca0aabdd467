//! Provisioner daemons: acquire a job, run it with the echo or script
//! provisioner, stream its log, send heartbeats, and record the result.
//!
//! The job loop runs over a [`JobSource`], so one daemon implementation
//! serves both kinds: built-in daemons take jobs straight from the store
//! ([`StoreSource`]); external daemons (`dayshift provisioner start`) take
//! them from a server over HTTP (the source lives with the HTTP client, in
//! the server crate), and run them with exactly the same code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dayshift_store::clock::Clock;
use dayshift_store::{JobAssignment, JobListener, JobResult, Store, StoreError};
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

/// A job as a daemon sees it, whichever source it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub build_id: String,
    pub workspace_id: String,
    pub workspace_name: String,
    pub owner_name: String,
    /// `start`, `stop` or `delete`; anything else fails the job.
    pub transition: String,
    pub parameters: BTreeMap<String, String>,
    pub template_version_id: String,
    /// The version's parsed manifest, as JSON.
    pub manifest_json: String,
    /// How often the source wants heartbeats for this job, when it knows
    /// better than the daemon's own setting (the server's timeout).
    pub heartbeat_interval: Option<Duration>,
}

impl From<JobAssignment> for Job {
    fn from(job: JobAssignment) -> Job {
        Job {
            build_id: job.build.id,
            workspace_id: job.build.workspace_id,
            workspace_name: job.workspace_name,
            owner_name: job.owner_name,
            transition: job.build.transition.as_str().to_string(),
            parameters: job.build.parameters,
            template_version_id: job.build.template_version_id,
            manifest_json: job.manifest_json,
            heartbeat_interval: None,
        }
    }
}

/// Why a source could not do what a daemon asked.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The job is no longer this daemon's (the heartbeat timeout failed
    /// it): stop working on it and drop its result.
    #[error("{0}")]
    Lost(String),
    /// The source refuses this daemon for good (a wrong key): the daemon
    /// stops instead of retrying.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else, e.g. a server that cannot be reached; retried.
    #[error("{0}")]
    Other(String),
}

/// Where a daemon gets its jobs and reports on them.
#[async_trait]
pub trait JobSource: Send + Sync {
    /// The next job for this daemon. When there is none, waits a while
    /// (idle poll, long poll) and then answers `None`; the daemon asks again.
    async fn acquire(&self) -> Result<Option<Job>, SourceError>;
    /// The bundle of a template version this daemon has not extracted yet.
    async fn bundle(&self, template_version_id: &str) -> Result<Vec<u8>, SourceError>;
    async fn log(&self, build_id: &str, stream: LogStream, text: &str) -> Result<(), SourceError>;
    /// [`SourceError::Lost`] when the job is no longer this daemon's.
    async fn heartbeat(&self, build_id: &str) -> Result<(), SourceError>;
    /// [`SourceError::Lost`] when the job is no longer this daemon's.
    async fn complete(&self, build_id: &str, result: JobResult) -> Result<(), SourceError>;
}

/// How a daemon is set up.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Unique name, recorded on the jobs it runs.
    pub name: String,
    /// Extracted template versions and per-workspace state live here.
    pub work_dir: PathBuf,
    /// Unless the job's source asks for another interval.
    pub heartbeat_interval: Duration,
    /// Idle built-in daemons look for work this often even without a
    /// wake-up (jobs queued by other replicas when announcements are
    /// lost); every daemon waits this long after a failure to reach its
    /// source before trying again.
    pub idle_poll: Duration,
}

/// Attempts at recording a build's result before giving it up.
const COMPLETE_ATTEMPTS: u32 = 3;

/// One provisioner daemon.
pub struct Daemon {
    source: Arc<dyn JobSource>,
    config: DaemonConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("template version {version}: {message}")]
    Template { version: String, message: String },
}

impl Daemon {
    /// A built-in daemon, taking jobs from the store.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        events: Arc<JobEvents>,
        config: DaemonConfig,
    ) -> Self {
        let source = StoreSource {
            store,
            clock,
            events,
            worker: config.name.clone(),
            idle_poll: config.idle_poll,
        };
        Self::with_source(Arc::new(source), config)
    }

    /// A daemon taking jobs from any source.
    pub fn with_source(source: Arc<dyn JobSource>, config: DaemonConfig) -> Self {
        Daemon { source, config }
    }

    /// Runs jobs until `cancel` fires (`Ok`) or the source refuses this
    /// daemon for good (the error says why).
    pub async fn run(self, cancel: CancellationToken) -> Result<(), SourceError> {
        loop {
            let acquired = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                acquired = self.source.acquire() => acquired,
            };
            match acquired {
                Ok(Some(job)) => self.run_job(job, &cancel).await,
                Ok(None) => {}
                Err(e @ SourceError::Refused(_)) => return Err(e),
                Err(e) => {
                    tracing::warn!(daemon = %self.config.name, error = %e, "cannot acquire jobs");
                    tokio::select! {
                        _ = cancel.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(self.config.idle_poll) => {}
                    }
                }
            }
        }
    }

    async fn run_job(&self, job: Job, cancel: &CancellationToken) {
        let build_cancel = cancel.child_token();
        let log = SourceLog {
            source: self.source.as_ref(),
            build_id: &job.build_id,
        };
        let interval = job
            .heartbeat_interval
            .unwrap_or(self.config.heartbeat_interval);
        // Heartbeats run in this task, beside the build, not in a task of
        // their own: a daemon that dies must stop heartbeating with it, or
        // its job would never time out.
        let work = self.build(&job, &log, build_cancel.clone());
        let heartbeats = heartbeat(self.source.as_ref(), &job.build_id, interval, &build_cancel);
        tokio::pin!(work, heartbeats);
        let result = tokio::select! {
            result = &mut work => result,
            // The job was taken away and the build canceled: let it stop.
            () = &mut heartbeats => work.await,
        };
        self.record(&job, result, cancel).await;
    }

    /// Reports the result, retrying a source that is briefly unreachable:
    /// a result that never arrives fails the job at the heartbeat timeout.
    async fn record(&self, job: &Job, result: JobResult, cancel: &CancellationToken) {
        let success = result.success;
        let mut attempt = 1;
        loop {
            match self.source.complete(&job.build_id, result.clone()).await {
                Ok(()) => {
                    tracing::info!(
                        workspace = %format!("{}/{}", job.owner_name, job.workspace_name),
                        transition = %job.transition,
                        success,
                        "build finished"
                    );
                    return;
                }
                Err(SourceError::Lost(message)) => {
                    tracing::warn!(build = %job.build_id, %message, "build result discarded");
                    return;
                }
                Err(e) if attempt < COMPLETE_ATTEMPTS && !matches!(e, SourceError::Refused(_)) => {
                    tracing::warn!(build = %job.build_id, error = %e, attempt, "cannot record build result; retrying");
                }
                Err(e) => {
                    tracing::warn!(build = %job.build_id, error = %e, "cannot record build result");
                    return;
                }
            }
            attempt += 1;
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(self.config.idle_poll) => {}
            }
        }
    }

    /// Runs the build; every failure becomes a failed result with its
    /// reason in the log.
    async fn build(&self, job: &Job, log: &SourceLog<'_>, cancel: CancellationToken) -> JobResult {
        match self.prepare(job).await {
            Ok((manifest, request)) => {
                let outcome = run_build(&manifest, &request, log, cancel).await;
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
        }
    }

    async fn prepare(&self, job: &Job) -> Result<(Manifest, BuildRequest), DaemonError> {
        let version_id = &job.template_version_id;
        let template_error = |message: String| DaemonError::Template {
            version: version_id.clone(),
            message,
        };
        let manifest: Manifest = serde_json::from_str(&job.manifest_json)
            .map_err(|e| template_error(format!("unreadable manifest: {e}")))?;
        let template_dir = self.config.work_dir.join("versions").join(version_id);
        if !template_dir.exists() {
            let bytes = self.source.bundle(version_id).await?;
            let bundle =
                TemplateBundle::from_bytes(&bytes).map_err(|e| template_error(e.to_string()))?;
            extract_atomically(&bundle, &template_dir).map_err(template_error)?;
        }
        let transition = Transition::parse(&job.transition)
            .ok_or_else(|| template_error(format!("unknown transition {}", job.transition)))?;
        let request = BuildRequest {
            workspace_id: job.workspace_id.clone(),
            workspace_name: job.workspace_name.clone(),
            owner_name: job.owner_name.clone(),
            transition,
            parameters: job.parameters.clone(),
            template_dir,
            state_dir: self.config.work_dir.join("state").join(&job.workspace_id),
        };
        Ok((manifest, request))
    }
}

/// Extracts into a temporary sibling and renames it into place, so a
/// daemon that dies half-way never leaves a partial template behind.
fn extract_atomically(bundle: &TemplateBundle, dir: &Path) -> Result<(), String> {
    let parent = dir.parent().unwrap_or(dir);
    crate::bundle::create_private_dir_all(parent)
        .map_err(|e| format!("{}: {e}", parent.display()))?;
    // Unique per daemon, not only per process: several daemons of one
    // process may extract the same version at once.
    let staging = parent.join(format!(
        ".{}.{}.{}",
        dir.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("version"),
        std::process::id(),
        staging_serial()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    if let Err(e) = bundle.extract_to(&staging) {
        // A failed extraction leaves nothing behind.
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e.to_string());
    }
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

/// A process-unique number for staging directory names.
fn staging_serial() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Sends heartbeats every `interval`; returns only when the job was taken
/// away, after canceling its build.
async fn heartbeat(
    source: &dyn JobSource,
    build_id: &str,
    interval: Duration,
    build_cancel: &CancellationToken,
) {
    loop {
        tokio::time::sleep(interval).await;
        match source.heartbeat(build_id).await {
            Ok(()) => {}
            Err(SourceError::Lost(message)) => {
                tracing::warn!(build = %build_id, %message, "job taken away; canceling its build");
                build_cancel.cancel();
                return;
            }
            // Transient: the next beat may get through before the timeout.
            Err(e) => tracing::warn!(build = %build_id, error = %e, "heartbeat failed"),
        }
    }
}

/// A build's log, written through its job's source.
struct SourceLog<'a> {
    source: &'a dyn JobSource,
    build_id: &'a str,
}

#[async_trait]
impl BuildLog for SourceLog<'_> {
    async fn line(&self, stream: LogStream, text: String) {
        if let Err(e) = self.source.log(self.build_id, stream, &text).await {
            tracing::warn!(build = %self.build_id, error = %e, "cannot store a log line");
        }
    }
}

/// Waits up to `max_wait` for a pending job and hands it to `worker`.
/// Woken at once by [`JobEvents::job_queued`] (jobs queued in this process,
/// or announced by PostgreSQL); looks again every `poll` regardless, for
/// announcements that were lost.
pub async fn wait_for_job(
    store: &Store,
    clock: &dyn Clock,
    events: &JobEvents,
    worker: &str,
    poll: Duration,
    max_wait: Duration,
) -> Result<Option<JobAssignment>, StoreError> {
    let deadline = tokio::time::Instant::now() + max_wait;
    loop {
        // Register interest before looking, so a job queued between the
        // look and the wait still wakes us.
        let notified = events.queued.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(job) = store.acquire_job(worker, clock.now()).await? {
            events.progressed();
            return Ok(Some(job));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline.min(now + poll)) => {}
        }
    }
}

/// Jobs straight from the store: the built-in daemons' source.
pub struct StoreSource {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub events: Arc<JobEvents>,
    /// The daemon's name, recorded on its jobs.
    pub worker: String,
    pub idle_poll: Duration,
}

#[async_trait]
impl JobSource for StoreSource {
    async fn acquire(&self) -> Result<Option<Job>, SourceError> {
        let job = wait_for_job(
            &self.store,
            self.clock.as_ref(),
            &self.events,
            &self.worker,
            self.idle_poll,
            self.idle_poll,
        )
        .await?;
        Ok(job.map(Job::from))
    }

    async fn bundle(&self, template_version_id: &str) -> Result<Vec<u8>, SourceError> {
        Ok(self
            .store
            .template_version_bundle(template_version_id)
            .await?)
    }

    async fn log(&self, build_id: &str, stream: LogStream, text: &str) -> Result<(), SourceError> {
        self.store
            .append_log(build_id, stream.as_str(), text, self.clock.now())
            .await?;
        self.events.progressed();
        Ok(())
    }

    async fn heartbeat(&self, build_id: &str) -> Result<(), SourceError> {
        if self
            .store
            .heartbeat_job(build_id, &self.worker, self.clock.now())
            .await?
        {
            Ok(())
        } else {
            Err(SourceError::Lost(format!(
                "job of build {build_id} is not running on daemon {} any more",
                self.worker
            )))
        }
    }

    async fn complete(&self, build_id: &str, result: JobResult) -> Result<(), SourceError> {
        let completed = self
            .store
            .complete_job(build_id, Some(&self.worker), result, self.clock.now())
            .await;
        self.events.progressed();
        match completed {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict(message)) => Err(SourceError::Lost(message)),
            Err(e) => Err(e.into()),
        }
    }
}

/// Wakes this process's idle daemons and long polls whenever PostgreSQL
/// announces a job queued by any replica; reconnects after `retry` when
/// the connection fails (the idle poll covers the gap). Runs until `cancel`.
pub async fn relay_job_announcements(
    url: String,
    events: Arc<JobEvents>,
    retry: Duration,
    cancel: CancellationToken,
) {
    loop {
        let connected = tokio::select! {
            _ = cancel.cancelled() => return,
            connected = JobListener::connect(&url) => connected,
        };
        match connected {
            Ok(mut listener) => {
                // Jobs queued while nobody listened were not announced here.
                events.job_queued();
                match forward_job_announcements(&mut listener, &events, &cancel).await {
                    Ok(()) => return,
                    Err(e) => tracing::warn!(error = %e, "lost the job announcement connection"),
                }
            }
            Err(e) => tracing::warn!(
                error = %e,
                "cannot listen for job announcements; idle daemons poll meanwhile"
            ),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(retry) => {}
        }
    }
}

/// Turns each announcement received by `listener` into
/// [`JobEvents::job_queued`] until `cancel` fires (`Ok`) or the connection
/// cannot be re-established (`Err`).
pub async fn forward_job_announcements(
    listener: &mut JobListener,
    events: &JobEvents,
    cancel: &CancellationToken,
) -> Result<(), StoreError> {
    loop {
        let next = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            next = listener.next() => next?,
        };
        // `None`: reconnected, and announcements may have been missed;
        // waking costs one look at the queue either way.
        let _build_id = next;
        events.job_queued();
    }
}
