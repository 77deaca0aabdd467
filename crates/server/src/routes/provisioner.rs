//! The routes of external provisioner daemons (`dayshift provisioner
//! start`), under `/api/v2/provisioner`: acquire a job (long poll), fetch a
//! template bundle, append log lines, heartbeat, complete.
//!
//! They authenticate with the server's pre-shared key in the
//! `Dayshift-Provisioner-Key` header, not with a user session: a daemon acts
//! for the deployment, not for a person. Every job route names the daemon
//! (`worker`) and is refused with 409 once the job is no longer that
//! daemon's (the heartbeat timeout failed it), so a daemon that was cut off
//! learns to stop.

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use dayshift_provisioner::daemon::wait_for_job;
use dayshift_sdk as sdk;
use dayshift_store::{JobAssignment, JobResult, JobStatus};
use sha2::{Digest, Sha256};

use crate::error::{ApiErr, ApiResult};
use crate::extract::Json;
use crate::provisioning::heartbeat_interval;
use crate::state::AppState;

/// Longest an acquire request waits for a job: below the idle timeouts of
/// common load balancers (30s and up).
pub const ACQUIRE_WAIT: Duration = Duration::from_secs(25);

/// While a long poll waits, it looks for jobs this often even without a
/// wake-up (jobs queued on other replicas whose announcement was lost).
const ACQUIRE_POLL: Duration = Duration::from_secs(2);

/// Longest daemon name accepted (it is stored on every job it runs).
const MAX_WORKER_NAME: usize = 128;

/// The routes; a completion may carry a packed state up to `state_limit`.
pub fn router(state_limit: u64) -> Router<AppState> {
    Router::new()
        .route("/provisioner/jobs/acquire", post(acquire))
        .route(
            "/provisioner/template-versions/{id}/bundle",
            get(template_bundle),
        )
        .route("/provisioner/jobs/{id}/logs", post(append_logs))
        .route("/provisioner/jobs/{id}/heartbeat", post(heartbeat))
        .route(
            "/provisioner/jobs/{id}/complete",
            post(complete).layer(DefaultBodyLimit::max(complete_body_limit(state_limit))),
        )
}

/// A request carrying the right provisioner key.
pub struct ProvisionerKey;

impl FromRequestParts<AppState> for ProvisionerKey {
    type Rejection = ApiErr;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiErr> {
        let Some(expected) = &state.provisioner_psk else {
            return Err(ApiErr::forbidden(
                "external provisioners are disabled: start the server with --provisioner-psk",
            ));
        };
        let given = parts
            .headers
            .get(sdk::PROVISIONER_KEY_HEADER)
            .and_then(|v| v.to_str().ok());
        match given {
            Some(given) if keys_match(given, expected) => Ok(ProvisionerKey),
            Some(_) => Err(ApiErr::unauthorized("provisioner key rejected")
                .with_detail("it does not match the server's --provisioner-psk")),
            None => Err(
                ApiErr::unauthorized("provisioner key rejected").with_detail(format!(
                    "send the server's --provisioner-psk in the {} header",
                    sdk::PROVISIONER_KEY_HEADER
                )),
            ),
        }
    }
}

/// Compares in time independent of where the keys differ: the digests have
/// a fixed length and every byte is looked at.
fn keys_match(given: &str, expected: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    let difference = given
        .iter()
        .zip(expected.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(difference) == 0
}

fn check_worker(worker: &str) -> ApiResult<()> {
    if worker.trim().is_empty() || worker.len() > MAX_WORKER_NAME {
        return Err(ApiErr::invalid(
            "worker",
            format!("must be a non-empty name of at most {MAX_WORKER_NAME} bytes"),
        ));
    }
    Ok(())
}

fn lost(build_id: &str, worker: &str) -> ApiErr {
    ApiErr::conflict(format!(
        "job of build {build_id} is not running on daemon {worker:?} any more"
    ))
}

/// Waits up to 25s for a pending job and hands it to the calling daemon;
/// 204 when none came. A daemon that disconnects right after the job was
/// handed out leaves it running under its name until the heartbeat
/// timeout fails it.
#[utoipa::path(post, path = "/api/v2/provisioner/jobs/acquire", request_body = sdk::AcquireJobRequest,
    responses((status = 200, body = sdk::ProvisionerJob), (status = 204, description = "no job within the wait"),
        (status = 401, body = sdk::ApiError), (status = 403, body = sdk::ApiError)))]
pub async fn acquire(
    State(state): State<AppState>,
    _key: ProvisionerKey,
    Json(req): Json<sdk::AcquireJobRequest>,
) -> ApiResult<Response> {
    check_worker(&req.worker)?;
    let wait = req
        .wait_ms
        .map_or(ACQUIRE_WAIT, Duration::from_millis)
        .min(ACQUIRE_WAIT);
    // Shutting down must not wait for long polls to run out.
    let acquired = wait_for_job(
        &state.store,
        state.clock.as_ref(),
        &state.jobs,
        &req.worker,
        ACQUIRE_POLL,
        wait,
        &state.shutdown,
    )
    .await?;
    let Some(job) = acquired else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    tracing::info!(build = %job.build.id, worker = %req.worker, "job handed to an external provisioner");
    let interval = heartbeat_interval(state.provisioner_heartbeat_timeout);
    Ok(axum::Json(provisioner_job(job, interval, state.workspace_state_limit)).into_response())
}

fn provisioner_job(
    job: JobAssignment,
    heartbeat_interval: Duration,
    state_limit: u64,
) -> sdk::ProvisionerJob {
    let transition = match job.build.transition {
        dayshift_store::Transition::Start => sdk::Transition::Start,
        dayshift_store::Transition::Stop => sdk::Transition::Stop,
        dayshift_store::Transition::Delete => sdk::Transition::Delete,
    };
    // A manifest that is not JSON reaches the daemon as a string, which it
    // cannot read: the job then fails with that reason in its log instead
    // of hanging here, already acquired.
    let manifest = serde_json::from_str(&job.manifest_json)
        .unwrap_or(serde_json::Value::String(job.manifest_json));
    sdk::ProvisionerJob {
        build_id: job.build.id,
        workspace_id: job.build.workspace_id,
        workspace_name: job.workspace_name,
        owner_name: job.owner_name,
        transition,
        parameters: job.build.parameters,
        template_version_id: job.build.template_version_id,
        manifest,
        heartbeat_interval_ms: u64::try_from(heartbeat_interval.as_millis()).unwrap_or(u64::MAX),
        state_base64: job
            .state
            .map(|archive| base64::engine::general_purpose::STANDARD.encode(archive)),
        state_limit_bytes: Some(state_limit),
    }
}

/// Largest body of a completion: the state limit in base64, plus room for
/// the rest of the request.
pub fn complete_body_limit(state_limit: u64) -> usize {
    let base64 = state_limit.saturating_add(2) / 3 * 4;
    usize::try_from(base64)
        .unwrap_or(usize::MAX)
        .saturating_add(1024 * 1024)
}

#[utoipa::path(get, path = "/api/v2/provisioner/template-versions/{id}/bundle",
    responses((status = 200, body = sdk::TemplateBundleResponse), (status = 404, body = sdk::ApiError)))]
pub async fn template_bundle(
    State(state): State<AppState>,
    _key: ProvisionerKey,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<sdk::TemplateBundleResponse>> {
    let bundle = state.store.template_version_bundle(&id).await?;
    Ok(axum::Json(sdk::TemplateBundleResponse {
        bundle_base64: base64::engine::general_purpose::STANDARD.encode(bundle),
    }))
}

#[utoipa::path(post, path = "/api/v2/provisioner/jobs/{id}/logs", request_body = sdk::JobLogsRequest,
    responses((status = 204), (status = 409, body = sdk::ApiError)))]
pub async fn append_logs(
    State(state): State<AppState>,
    _key: ProvisionerKey,
    Path(id): Path<String>,
    Json(req): Json<sdk::JobLogsRequest>,
) -> ApiResult<StatusCode> {
    check_worker(&req.worker)?;
    if let Some(line) = req
        .lines
        .iter()
        .find(|l| !matches!(l.stream.as_str(), "stdout" | "stderr" | "system"))
    {
        return Err(ApiErr::invalid(
            "lines.stream",
            format!("{:?} is not one of stdout, stderr, system", line.stream),
        ));
    }
    let build = state
        .store
        .build(&id)
        .await?
        .ok_or_else(|| ApiErr::not_found(format!("build {id} not found")))?;
    if build.job.status != JobStatus::Running || build.job.worker.as_deref() != Some(&req.worker) {
        return Err(lost(&id, &req.worker));
    }
    let now = state.clock.now();
    for line in &req.lines {
        state
            .store
            .append_log(&id, &line.stream, &line.output, now)
            .await?;
    }
    state.jobs.progressed();
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v2/provisioner/jobs/{id}/heartbeat", request_body = sdk::JobHeartbeatRequest,
    responses((status = 204), (status = 409, body = sdk::ApiError)))]
pub async fn heartbeat(
    State(state): State<AppState>,
    _key: ProvisionerKey,
    Path(id): Path<String>,
    Json(req): Json<sdk::JobHeartbeatRequest>,
) -> ApiResult<StatusCode> {
    check_worker(&req.worker)?;
    if state
        .store
        .heartbeat_job(&id, &req.worker, state.clock.now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(lost(&id, &req.worker))
    }
}

#[utoipa::path(post, path = "/api/v2/provisioner/jobs/{id}/complete", request_body = sdk::CompleteJobRequest,
    responses((status = 204), (status = 404, body = sdk::ApiError), (status = 409, body = sdk::ApiError)))]
pub async fn complete(
    State(state): State<AppState>,
    _key: ProvisionerKey,
    Path(id): Path<String>,
    Json(req): Json<sdk::CompleteJobRequest>,
) -> ApiResult<StatusCode> {
    check_worker(&req.worker)?;
    let archive = match &req.state_base64 {
        None => None,
        Some(text) => {
            let archive = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| ApiErr::invalid("state_base64", format!("is not base64: {e}")))?;
            if archive.len() as u64 > state.workspace_state_limit {
                return Err(ApiErr::invalid(
                    "state_base64",
                    format!(
                        "the packed state is {} bytes, over the server's limit of {} bytes \
                         (--workspace-state-limit-mib)",
                        archive.len(),
                        state.workspace_state_limit
                    ),
                ));
            }
            Some(archive)
        }
    };
    let result = JobResult {
        success: req.success,
        error: req.error,
        outputs: req.outputs,
    };
    let completed = state
        .store
        .complete_job_with_state(
            &id,
            Some(&req.worker),
            result,
            archive.as_deref(),
            state.clock.now(),
        )
        .await;
    // Log readers and the executor's wake-up follow job changes.
    state.jobs.progressed();
    let ws = completed?;
    tracing::info!(
        workspace = %format!("{}/{}", ws.workspace.owner_name, ws.workspace.name),
        worker = %req.worker,
        success = req.success,
        "build finished on an external provisioner"
    );
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::keys_match;

    #[test]
    fn keys_match_exactly() {
        assert!(keys_match("s3cret", "s3cret"));
        assert!(!keys_match("s3cret", "s3cre"));
        assert!(!keys_match("", "s3cret"));
        assert!(!keys_match("S3CRET", "s3cret"));
    }
}
