//! Provisioner jobs: one per build, stored in the build's row.
//!
//! On PostgreSQL, the transaction that queues a job also announces it with
//! `NOTIFY` (delivered at commit, so never before the job is visible), and
//! [`JobListener`] lets every replica wake its idle daemons at once.

use std::collections::BTreeMap;

use dayshift_schedule::{SignedDuration, Timestamp};
use sqlx::Transaction;

use crate::rows::*;
use crate::workspaces::{build_from_row, BUILD_COLUMNS};
use crate::{
    Dialect, JobAssignment, JobResult, JobStatus, LockMode, LogLine, Result, Store, StoreError,
    Transition, WorkspaceState,
};

/// The PostgreSQL channel on which queued jobs are announced; the payload
/// is the build id. Channels are per database, not per schema, so
/// deployments sharing a database only cost each other spurious wake-ups.
pub const JOBS_CHANNEL: &str = "dayshift_jobs";

const INSERT_LOG: &str =
    "INSERT INTO build_logs (build_id, created_at, stream, output) VALUES ($1, $2, $3, $4)";

/// Announces a job queued in `tx` (PostgreSQL only; SQLite has a single
/// process, whose in-memory signals suffice).
pub(crate) async fn notify_job_queued(
    tx: &mut Transaction<'static, sqlx::Any>,
    build_id: &str,
) -> Result<()> {
    // The Any driver cannot decode pg_notify's `void`, hence the count.
    if tx.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT COUNT(*) FROM (SELECT pg_notify($1, $2)) AS n")
            .bind(JOBS_CHANNEL)
            .bind(build_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Receives the job announcements of [`JOBS_CHANNEL`] on a connection of
/// its own (PostgreSQL only).
pub struct JobListener(sqlx::postgres::PgListener);

impl JobListener {
    pub async fn connect(url: &str) -> Result<JobListener> {
        let mut listener = sqlx::postgres::PgListener::connect(url)
            .await
            .map_err(StoreError::Connect)?;
        listener.listen(JOBS_CHANNEL).await?;
        Ok(JobListener(listener))
    }

    /// Waits for the next announcement: `Some(build id)`, or `None` when
    /// the connection was lost and has been re-established, in which case
    /// announcements may have been missed. An error means reconnecting
    /// failed; calling again retries.
    pub async fn next(&mut self) -> Result<Option<String>> {
        Ok(self
            .0
            .try_recv()
            .await?
            .map(|notification| notification.payload().to_string()))
    }
}

/// The stored state archive of a workspace.
async fn read_workspace_state(
    conn: &mut sqlx::AnyConnection,
    workspace_id: &str,
) -> Result<Option<Vec<u8>>> {
    Ok(
        sqlx::query_scalar("SELECT archive FROM workspace_states WHERE workspace_id = $1")
            .bind(workspace_id)
            .fetch_optional(conn)
            .await?,
    )
}

/// A running job as the reaper of silent jobs sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobHeartbeats {
    pub build_id: String,
    /// Heartbeats sent so far; silence is time during which this stays.
    pub heartbeats: i64,
    /// The server time of the last one (or of the acquisition), for the
    /// failure message only.
    pub last_heartbeat_at: Option<Timestamp>,
}

/// Who finishes a job, which decides the condition of the update.
#[derive(Debug, Clone, Copy)]
enum Finisher<'a> {
    /// The daemon running it: only while it is still its job.
    Worker(&'a str),
    /// Whoever: while it is running.
    Anyone,
    /// The reaper of silent jobs: only if no heartbeat arrived since it
    /// saw this many.
    Reaper { heartbeats: i64 },
}

impl Store {
    /// Hands the oldest pending job to `worker`. Concurrent callers (other
    /// daemons, other replicas) never receive the same job: PostgreSQL
    /// skips rows another transaction is claiming, SQLite serialises
    /// writers.
    pub async fn acquire_job(&self, worker: &str, now: Timestamp) -> Result<Option<JobAssignment>> {
        let skip_locked = match self.dialect() {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let mut tx = self.begin_write().await?;
        let id: Option<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM workspace_builds WHERE job_status = $1 ORDER BY created_at, id LIMIT 1{skip_locked}"
        ))
        .bind(JobStatus::Pending.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE workspace_builds SET job_status = $1, job_started_at = $2, \
             job_heartbeat_at = $2, job_worker = $3 WHERE id = $4",
        )
        .bind(JobStatus::Running.as_str())
        .bind(ms(now))
        .bind(worker)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {BUILD_COLUMNS}, w.name AS workspace_name, u.username AS owner_name, \
             v.manifest_json FROM workspace_builds b JOIN workspaces w ON w.id = b.workspace_id \
             JOIN users u ON u.id = w.owner_id \
             JOIN template_versions v ON v.id = b.template_version_id WHERE b.id = $1"
        ))
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
        let build = build_from_row(&row)?;
        let state = read_workspace_state(&mut tx, &build.workspace_id).await?;
        let assignment = JobAssignment {
            build,
            workspace_name: get_str(&row, "workspace_name")?,
            owner_name: get_str(&row, "owner_name")?,
            manifest_json: get_str(&row, "manifest_json")?,
            state,
        };
        // The workspace's status changed (pending -> starting/...).
        self.rederive(&mut tx, &assignment.build.workspace_id)
            .await?;
        tx.commit().await?;
        Ok(Some(assignment))
    }

    /// Records that `worker` is still running the job. False when the job
    /// is no longer its own (it was failed by the heartbeat timeout).
    pub async fn heartbeat_job(
        &self,
        build_id: &str,
        worker: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE workspace_builds SET job_heartbeat_at = $1, \
             job_heartbeats = job_heartbeats + 1 \
             WHERE id = $2 AND job_worker = $3 AND job_status = $4",
        )
        .bind(ms(now))
        .bind(build_id)
        .bind(worker)
        .bind(JobStatus::Running.as_str())
        .execute(self.pool())
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    pub async fn append_log(
        &self,
        build_id: &str,
        stream: &str,
        output: &str,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(INSERT_LOG)
            .bind(build_id)
            .bind(ms(now))
            .bind(stream)
            .bind(output)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Log lines of a build with an id greater than `after`, oldest first.
    pub async fn build_logs(&self, build_id: &str, after: i64, limit: i64) -> Result<Vec<LogLine>> {
        let rows = sqlx::query(
            "SELECT id, created_at, stream, output FROM build_logs \
             WHERE build_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(build_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LogLine {
                    id: get_i64(row, "id")?,
                    created_at: get_ts(row, "created_at")?,
                    stream: get_str(row, "stream")?,
                    output: get_str(row, "output")?,
                })
            })
            .collect()
    }

    /// Finishes a job run by `worker`. The deadline of a successful start
    /// build is set here, by the policy, in the same transaction; a
    /// successful delete marks the workspace deleted. Fails with a
    /// conflict when the job is no longer this worker's.
    pub async fn complete_job(
        &self,
        build_id: &str,
        worker: Option<&str>,
        result: JobResult,
        now: Timestamp,
    ) -> Result<WorkspaceState> {
        let finisher = match worker {
            Some(worker) => Finisher::Worker(worker),
            None => Finisher::Anyone,
        };
        self.finish_job(build_id, finisher, result, None, None, now)
            .await
    }

    /// [`Store::complete_job`], storing the workspace's packed state
    /// directory with the build in the same transaction: `Some` replaces
    /// the workspace's state (the next build of any daemon restores it),
    /// `None` keeps the previous one. A successful delete removes it
    /// whatever is passed.
    pub async fn complete_job_with_state(
        &self,
        build_id: &str,
        worker: Option<&str>,
        result: JobResult,
        state: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<WorkspaceState> {
        let finisher = match worker {
            Some(worker) => Finisher::Worker(worker),
            None => Finisher::Anyone,
        };
        self.finish_job(build_id, finisher, result, None, state, now)
            .await
    }

    /// The workspace's stored state archive, if a build left one.
    pub async fn workspace_state(&self, workspace_id: &str) -> Result<Option<Vec<u8>>> {
        let mut conn = self.pool().acquire().await?;
        read_workspace_state(&mut conn, workspace_id).await
    }

    /// [`Store::complete_job`], writing `system_log` to the build's log in
    /// the same transaction: only the caller that actually finishes the job
    /// leaves the line (reapers on several replicas race for stale jobs).
    async fn finish_job(
        &self,
        build_id: &str,
        finisher: Finisher<'_>,
        result: JobResult,
        system_log: Option<&str>,
        state_archive: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<WorkspaceState> {
        let build = self
            .build(build_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("build {build_id}")))?;
        let mut tx = self.begin_write().await?;
        // Lock the workspace first so completion and lifecycle decisions on
        // it are serialised.
        match self
            .lock_workspace(&mut tx, &build.workspace_id, LockMode::Wait)
            .await
        {
            // A deleted workspace has no running job; the update below
            // then finds nothing to finish.
            Ok(()) | Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let status = if result.success {
            JobStatus::Succeeded
        } else {
            JobStatus::Failed
        };
        let finisher_clause = match finisher {
            Finisher::Worker(_) => " AND job_worker = $6",
            Finisher::Anyone => "",
            Finisher::Reaper { .. } => " AND job_heartbeats = $6",
        };
        let sql = format!(
            "UPDATE workspace_builds SET job_status = $1, job_completed_at = $2, job_error = $3, \
             outputs_json = $4 WHERE id = $5 AND job_status = 'running'{finisher_clause}"
        );
        let query = sqlx::query(&sql)
            .bind(status.as_str())
            .bind(ms(now))
            .bind(&result.error)
            .bind(map_json(&result.outputs))
            .bind(build_id);
        let query = match finisher {
            Finisher::Worker(worker) => query.bind(worker),
            Finisher::Anyone => query,
            Finisher::Reaper { heartbeats } => query.bind(heartbeats),
        };
        let updated = query.execute(&mut *tx).await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "job of build {build_id} is not running on this daemon any more"
            )));
        }
        count_finished_job(&mut tx, build_id, status).await?;
        if let Some(line) = system_log {
            sqlx::query(INSERT_LOG)
                .bind(build_id)
                .bind(ms(now))
                .bind("system")
                .bind(line)
                .execute(&mut *tx)
                .await?;
        }
        if result.success && build.transition == Transition::Delete {
            sqlx::query("UPDATE workspaces SET deleted = 1, next_due_at = NULL, next_start_at = NULL WHERE id = $1")
                .bind(&build.workspace_id)
                .execute(&mut *tx)
                .await?;
            // The workspace is gone; so is its state.
            sqlx::query("DELETE FROM workspace_states WHERE workspace_id = $1")
                .bind(&build.workspace_id)
                .execute(&mut *tx)
                .await?;
        } else if let Some(archive) = state_archive {
            sqlx::query(
                "INSERT INTO workspace_states (workspace_id, build_id, archive, size_bytes, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace_id) DO UPDATE SET \
                 build_id = excluded.build_id, archive = excluded.archive, \
                 size_bytes = excluded.size_bytes, updated_at = excluded.updated_at",
            )
            .bind(&build.workspace_id)
            .bind(build_id)
            .bind(archive)
            .bind(i64::try_from(archive.len()).unwrap_or(i64::MAX))
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
        }
        let mut state = self.read_state(&mut tx, &build.workspace_id).await?;
        if result.success && build.transition == Transition::Start && state.build.id == build_id {
            let (deadline, max_deadline) = self.policy().start_deadlines(&state, now);
            sqlx::query(
                "UPDATE workspace_builds SET deadline = $1, max_deadline = $2 WHERE id = $3",
            )
            .bind(opt_ms(deadline))
            .bind(opt_ms(max_deadline))
            .bind(build_id)
            .execute(&mut *tx)
            .await?;
            state.build.deadline = deadline;
            state.build.max_deadline = max_deadline;
        }
        let state = self.store_derived(&mut tx, state).await?;
        tx.commit().await?;
        Ok(state)
    }

    /// Every running job with how many heartbeats it has sent: what the
    /// reaper of silent jobs watches.
    pub async fn running_job_heartbeats(&self) -> Result<Vec<JobHeartbeats>> {
        let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT id, job_heartbeats, job_heartbeat_at FROM workspace_builds \
             WHERE job_status = 'running' ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(build_id, heartbeats, last)| {
                Ok(JobHeartbeats {
                    build_id,
                    heartbeats,
                    last_heartbeat_at: last
                        .map(|v| ts_from_ms(v, "job_heartbeat_at"))
                        .transpose()?,
                })
            })
            .collect()
    }

    /// Fails a running job whose daemon has been silent for longer than
    /// `timeout` (real time, measured by the caller), writing the reason
    /// to its log, unless it sent a heartbeat since the caller saw `heartbeats`
    /// or finished meanwhile (then `Ok(false)`). Reapers on several
    /// replicas may race for one job: exactly one fails it.
    pub async fn fail_silent_job(
        &self,
        seen: &JobHeartbeats,
        timeout: SignedDuration,
        now: Timestamp,
    ) -> Result<bool> {
        let last = seen
            .last_heartbeat_at
            .map_or_else(|| "never".to_string(), |t| t.to_string());
        // jiff's friendly form keeps seconds ("1m 30s"), unlike the
        // compact display, which would round a 90s timeout to "1m".
        let message = format!(
            "provisioner daemon stopped sending heartbeats (last at {last}); \
             job failed after {timeout:#} without one"
        );
        let result = JobResult {
            success: false,
            error: Some(message.clone()),
            outputs: BTreeMap::new(),
        };
        let finisher = Finisher::Reaper {
            heartbeats: seen.heartbeats,
        };
        match self
            .finish_job(&seen.build_id, finisher, result, Some(&message), None, now)
            .await
        {
            Ok(_) => Ok(true),
            // It sent a heartbeat or finished meanwhile.
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Number of jobs per status (for metrics), without reading every
    /// build: unfinished jobs are counted through their partial indexes
    /// (as many entries as jobs in flight), finished ones are summed from
    /// the `job_totals` counters kept by [`count_finished_job`].
    pub async fn job_counts(&self) -> Result<BTreeMap<JobStatus, i64>> {
        let mut counts = BTreeMap::new();
        for status in [JobStatus::Pending, JobStatus::Running] {
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM workspace_builds WHERE job_status = $1")
                    .bind(status.as_str())
                    .fetch_one(self.pool())
                    .await?;
            counts.insert(status, count);
        }
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, CAST(SUM(total) AS BIGINT) FROM job_totals GROUP BY status",
        )
        .fetch_all(self.pool())
        .await?;
        for (status, count) in rows {
            counts.insert(status.parse::<JobStatus>()?, count);
        }
        Ok(counts)
    }
}

/// Shards of each finished-job counter: completions of different builds
/// mostly update different rows, so they do not wait for each other's
/// commit on one hot row (PostgreSQL).
const JOB_TOTAL_SHARDS: u32 = 16;

/// Counts a job that reached a terminal status, in the transaction that
/// set it (every writer of a terminal `job_status` must call this).
pub(crate) async fn count_finished_job(
    tx: &mut Transaction<'static, sqlx::Any>,
    build_id: &str,
    status: JobStatus,
) -> Result<()> {
    let shard = build_id.bytes().fold(0u32, |hash, b| {
        hash.wrapping_mul(31).wrapping_add(u32::from(b))
    }) % JOB_TOTAL_SHARDS;
    sqlx::query(
        "INSERT INTO job_totals (status, shard, total) VALUES ($1, $2, 1) \
         ON CONFLICT (status, shard) DO UPDATE SET total = job_totals.total + 1",
    )
    .bind(status.as_str())
    .bind(i64::from(shard))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
