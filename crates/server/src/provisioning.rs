//! Background tasks around provisioner jobs: the built-in daemons, the
//! reaper of jobs whose daemon went silent, and (on PostgreSQL) the relay
//! that turns job announcements from any replica into wake-ups of this
//! one's idle daemons and long polls.

use std::sync::Arc;
use std::time::Duration;

use dayshift_lifecycle::Clock;
use dayshift_provisioner::daemon::{relay_job_announcements, Daemon, DaemonConfig, JobEvents};
use dayshift_provisioner::reaper::SilentJobReaper;
use dayshift_store::Store;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ServerConfig;

/// Default of `--shutdown-grace`.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Default of `--provisioner-heartbeat-timeout`.
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(90);

/// How often daemons heartbeat: three beats per timeout, so one lost beat
/// never fails a job, and no more than every 10s.
pub fn heartbeat_interval(timeout: Duration) -> Duration {
    (timeout / 3).min(Duration::from_secs(10))
}

/// How often the reaper looks for silent daemons: a job is failed at most
/// a third of the timeout after it expired.
fn reap_interval(timeout: Duration) -> Duration {
    (timeout / 3).clamp(Duration::from_secs(1), Duration::from_secs(30))
}

/// Idle built-in daemons look for jobs this often without a wake-up; it
/// matters only when announcements are lost.
const IDLE_POLL: Duration = Duration::from_secs(2);

/// After the announcement connection fails, wait this long before
/// reconnecting (the idle poll covers the gap).
const RELAY_RETRY: Duration = Duration::from_secs(5);

/// Starts the built-in daemons. When `stop` fires they take no new job and
/// give their running build `--shutdown-grace` to finish.
pub(crate) fn spawn_daemons(
    tasks: &mut JoinSet<()>,
    config: &ServerConfig,
    store: &Store,
    clock: &Arc<dyn Clock>,
    jobs: &Arc<JobEvents>,
    stop: &CancellationToken,
) {
    let timeout = config.provisioner_heartbeat_timeout;
    for i in 0..config.provisioner_daemons {
        let daemon = Daemon::new(
            store.clone(),
            clock.clone(),
            jobs.clone(),
            DaemonConfig {
                name: format!("{}-builtin-{i}", crate::hostname()),
                work_dir: config.data_dir.join("provisioner"),
                heartbeat_interval: heartbeat_interval(timeout),
                idle_poll: IDLE_POLL,
                state_limit: config.workspace_state_limit,
            },
        );
        let stop = stop.child_token();
        let grace = config.shutdown_grace;
        tasks.spawn(async move {
            // The store source never refuses; nothing to report but a bug.
            if let Err(e) = daemon.run_until_drained(stop, grace).await {
                tracing::error!(error = %e, "built-in provisioner daemon stopped");
            }
        });
    }
}

/// Starts the reaper of silent jobs and, on PostgreSQL, the relay of job
/// announcements; they run until `cancel`.
pub(crate) fn spawn(
    tasks: &mut JoinSet<()>,
    config: &ServerConfig,
    clock: &Arc<dyn Clock>,
    jobs: &Arc<JobEvents>,
    reaper: Arc<SilentJobReaper>,
    cancel: &CancellationToken,
) {
    let timeout = config.provisioner_heartbeat_timeout;
    tasks.spawn(reap_silent_jobs(
        reaper,
        clock.clone(),
        reap_interval(timeout),
        cancel.child_token(),
    ));
    if let Some(url) = &config.postgres_url {
        tasks.spawn(relay_job_announcements(
            url.clone(),
            jobs.clone(),
            RELAY_RETRY,
            cancel.child_token(),
        ));
    }
}

/// Fails running jobs whose daemon stopped heartbeating, a pass every
/// `every` of real time. Runs on every replica; the store makes sure each
/// job is failed (and logged) once.
async fn reap_silent_jobs(
    reaper: Arc<SilentJobReaper>,
    clock: Arc<dyn Clock>,
    every: Duration,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        reap_once(&reaper, clock.now()).await;
    }
}

/// One pass of the reaper, its failures logged (also run by the dev clock).
pub(crate) async fn reap_once(reaper: &SilentJobReaper, now: dayshift_schedule::Timestamp) {
    match reaper.reap_once(now).await {
        Ok(failed) => {
            for id in failed {
                tracing::warn!(build = %id, "build failed: its provisioner daemon stopped sending heartbeats");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot check for silent provisioner daemons"),
    }
}
