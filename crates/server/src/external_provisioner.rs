//! External provisioner daemons (`dayshift provisioner start`): the same
//! daemon as the built-in ones, taking its jobs from a server over HTTP
//! (`/api/v2/provisioner/...`) instead of from the database, so builds run
//! on other machines. It lives in the server crate because the CLI and the
//! tests both run it, and the provisioner crate must not depend on HTTP.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use dayshift_provisioner::daemon::{Daemon, DaemonConfig, Job, JobSource, SourceError};
use dayshift_provisioner::LogStream;
use dayshift_sdk::{self as sdk, Client, ClientError};
use dayshift_store::JobResult;
use tokio_util::sync::CancellationToken;

use crate::routes::provisioner::ACQUIRE_WAIT;

/// How an external daemon is set up.
#[derive(Debug, Clone)]
pub struct ExternalProvisionerConfig {
    /// The server (or the load balancer in front of the replicas).
    pub url: String,
    /// The server's `--provisioner-psk`.
    pub key: String,
    /// Unique per daemon; recorded on the jobs it runs.
    pub name: String,
    /// Extracted templates and per-workspace state.
    pub work_dir: PathBuf,
    /// Once `stop` fires, a running build gets this long to finish.
    pub shutdown_grace: Duration,
}

/// After a failed request, wait this long before asking again.
const RETRY: Duration = Duration::from_secs(5);

/// An acquire request that has not been answered this long after the
/// server's longest wait went to a dead server or through a dead
/// connection: give up and ask again.
const ACQUIRE_GRACE: Duration = Duration::from_secs(30);

/// Runs an external daemon until `stop` fires (then it takes no new job and
/// gives a running build `shutdown_grace` to finish). Fails when the server
/// refuses the key (or has external provisioners disabled), with the
/// server's message.
pub async fn run_external_provisioner(
    config: ExternalProvisionerConfig,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let grace = config.shutdown_grace;
    let source = HttpSource {
        client: Client::new(&config.url).with_provisioner_key(config.key.clone()),
        worker: config.name.clone(),
    };
    tracing::info!(daemon = %config.name, server = %config.url, "external provisioner daemon started");
    let daemon = Daemon::with_source(
        Arc::new(source),
        DaemonConfig {
            name: config.name,
            work_dir: config.work_dir,
            // Every job carries the server's interval; this is a fallback.
            heartbeat_interval: Duration::from_secs(10),
            idle_poll: RETRY,
            // Every job carries the server's limit; this is a fallback.
            state_limit: dayshift_provisioner::state::DEFAULT_STATE_LIMIT,
        },
    );
    daemon.run_until_drained(stop, grace).await?;
    Ok(())
}

/// Jobs from a server over HTTP.
struct HttpSource {
    client: Client,
    worker: String,
}

/// 401/403 mean this daemon will never be let in; 409 that the job was
/// taken away; anything else may pass.
fn source_error(e: ClientError) -> SourceError {
    match e.status().map(|s| s.as_u16()) {
        Some(401 | 403) => SourceError::Refused(e.to_string()),
        Some(409) => SourceError::Lost(e.to_string()),
        _ => SourceError::Other(e.to_string()),
    }
}

#[async_trait]
impl JobSource for HttpSource {
    async fn acquire(&self, stop: &CancellationToken) -> Result<Option<Job>, SourceError> {
        let request = sdk::AcquireJobRequest {
            worker: self.worker.clone(),
            wait_ms: None,
        };
        let asked = tokio::time::timeout(
            ACQUIRE_WAIT + ACQUIRE_GRACE,
            self.client.acquire_job(&request),
        );
        // Stopping abandons the long poll: a job the server hands out at
        // that very instant is failed by its heartbeat timeout, the rare
        // price of not keeping a stopping daemon for up to 25s.
        let answer = tokio::select! {
            answer = asked => answer,
            _ = stop.cancelled() => return Ok(None),
        };
        let answer = answer
            .map_err(|_| {
                SourceError::Other(format!(
                    "{} did not answer a job request in time",
                    self.client.base_url()
                ))
            })?
            .map_err(source_error)?;
        let Some(job) = answer else {
            return Ok(None);
        };
        let state = match &job.state_base64 {
            None => None,
            Some(text) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|e| {
                        SourceError::Other(format!("workspace state is not base64: {e}"))
                    })?,
            ),
        };
        Ok(Some(Job {
            build_id: job.build_id,
            workspace_id: job.workspace_id,
            workspace_name: job.workspace_name,
            owner_name: job.owner_name,
            transition: job.transition.as_str().to_string(),
            parameters: job.parameters,
            template_version_id: job.template_version_id,
            manifest_json: job.manifest.to_string(),
            heartbeat_interval: Some(Duration::from_millis(job.heartbeat_interval_ms)),
            state,
            state_limit: job.state_limit_bytes,
        }))
    }

    async fn bundle(&self, template_version_id: &str) -> Result<Vec<u8>, SourceError> {
        let answer = self
            .client
            .template_bundle(template_version_id)
            .await
            .map_err(source_error)?;
        base64::engine::general_purpose::STANDARD
            .decode(answer.bundle_base64)
            .map_err(|e| SourceError::Other(format!("template bundle is not base64: {e}")))
    }

    async fn log(&self, build_id: &str, stream: LogStream, text: &str) -> Result<(), SourceError> {
        let request = sdk::JobLogsRequest {
            worker: self.worker.clone(),
            lines: vec![sdk::JobLogLine {
                stream: stream.as_str().to_string(),
                output: text.to_string(),
            }],
        };
        self.client
            .append_job_logs(build_id, &request)
            .await
            .map_err(source_error)
    }

    async fn heartbeat(&self, build_id: &str) -> Result<(), SourceError> {
        let request = sdk::JobHeartbeatRequest {
            worker: self.worker.clone(),
        };
        self.client
            .job_heartbeat(build_id, &request)
            .await
            .map_err(source_error)
    }

    async fn complete(
        &self,
        build_id: &str,
        result: JobResult,
        state: Option<Vec<u8>>,
    ) -> Result<(), SourceError> {
        let request = sdk::CompleteJobRequest {
            worker: self.worker.clone(),
            success: result.success,
            error: result.error,
            outputs: result.outputs,
            state_base64: state
                .map(|archive| base64::engine::general_purpose::STANDARD.encode(archive)),
        };
        self.client
            .complete_job(build_id, &request)
            .await
            .map_err(source_error)
    }
}
