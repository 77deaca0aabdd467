//! Storage side of prebuild pools (DESIGN §3 "Prebuilds"): the snapshot
//! the reconciler plans from, the per-preset locked transaction it acts in,
//! the atomic claim, and the totals behind the metrics.
//!
//! The store holds no pool rules: what to create or delete is decided by
//! a closure from `dayshift-lifecycle`, shown the preset's state under the
//! preset's lock, exactly like [`Store::update_workspace`].

use std::collections::BTreeMap;

use dayshift_schedule::Timestamp;
use sqlx::any::AnyRow;

use crate::rows::*;
use crate::templates::{preset_from_row, template_from_row, PRESET_COLUMNS, TEMPLATE_COLUMNS};
use crate::workspaces::insert_build_in;
use crate::{
    new_id, Applied, Dialect, JobStatus, LockMode, NewBuild, Preset, Result, Store, StoreError,
    Template, Transition, WorkspaceChange, WorkspaceState, WorkspaceStatus,
};

/// A preset the reconciler looks after: one of an active version that
/// declares a pool, or one of an old version that still has prebuilds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolPreset {
    pub template: Template,
    pub preset: Preset,
    /// The preset belongs to its template's active version.
    pub active: bool,
}

/// A live (not deleted), unclaimed prebuild with its latest build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrebuildRow {
    pub workspace_id: String,
    pub preset_id: String,
    pub created_at: Timestamp,
    pub template_version_id: String,
    pub transition: Transition,
    pub job_status: JobStatus,
}

impl PrebuildRow {
    pub fn status(&self) -> WorkspaceStatus {
        WorkspaceStatus::derive(self.transition, self.job_status)
    }
}

/// A finished first (`prebuild`) start build of one of a preset's
/// prebuilds, claimed or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrebuildOutcome {
    pub succeeded: bool,
    /// When its job completed (its creation if that is unknown).
    pub at: Timestamp,
}

/// What the reconciler reads at the start of an iteration, without locks.
#[derive(Debug, Clone, Default)]
pub struct PrebuildSnapshot {
    pub presets: Vec<PoolPreset>,
    /// preset id → its live prebuilds, oldest first.
    pub prebuilds: BTreeMap<String, Vec<PrebuildRow>>,
    /// preset id → its newest finished prebuild builds, newest first
    /// (active presets only, at most the requested depth).
    pub history: BTreeMap<String, Vec<PrebuildOutcome>>,
}

/// One preset's pool as seen under its lock.
#[derive(Debug, Clone, Default)]
pub struct PresetPool {
    /// Live prebuilds, oldest first.
    pub prebuilds: Vec<PrebuildRow>,
    /// Newest finished prebuild builds first.
    pub history: Vec<PrebuildOutcome>,
}

/// A prebuild to create: owned by `owner_id` (the system user), named by
/// the store, with `build` as its first build.
#[derive(Debug, Clone)]
pub struct NewPrebuild {
    pub owner_id: String,
    pub template_id: String,
    pub build: NewBuild,
}

/// What the reconciler wants done to one preset's pool.
#[derive(Debug, Clone, Default)]
pub struct PoolChange {
    pub create: Vec<NewPrebuild>,
    /// Prebuilds to delete: each gets a `delete` build reusing its
    /// version and parameters, reason `prebuild`.
    pub delete: Vec<String>,
    /// Who initiates the delete builds.
    pub delete_initiator_id: String,
}

/// What [`Store::reconcile_pool`] did.
#[derive(Debug, Clone, Default)]
pub struct PoolApplied {
    pub created: Vec<WorkspaceState>,
    /// Ids of prebuilds that got a delete build.
    pub deleted: Vec<String>,
    /// Ids the change asked to delete that were claimed, locked or changed
    /// meanwhile, and were left alone.
    pub skipped: Vec<String>,
}

/// All-time counts of a preset's prebuilds, summed over the template's
/// versions (a preset keeps its name across versions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrebuildTotals {
    pub template_name: String,
    pub preset_name: String,
    pub created: i64,
    pub failed: i64,
    pub claimed: i64,
}

/// A random, valid workspace name: 32 bits of randomness make a clash
/// with another live prebuild rare, and the insert retries when it occurs.
pub fn prebuild_name() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("prebuild-{}", &id[..8])
}

/// Attempts at finding an unused name before giving up.
const NAME_ATTEMPTS: usize = 8;

/// Advisory-lock namespace of per-preset locks (PostgreSQL's two-key lock
/// space, apart from the single-key migration lock).
const PRESET_LOCK_SPACE: i32 = 7081;

const FINISHED: &str = "('succeeded', 'failed', 'canceled')";

fn prebuild_select(filter: &str) -> String {
    format!(
        "SELECT w.id, w.prebuild_preset_id, w.created_at, b.template_version_id, b.transition, \
         b.job_status FROM workspaces w JOIN workspace_builds b ON b.id = w.latest_build_id \
         WHERE w.deleted = 0 AND w.prebuild_preset_id IS NOT NULL{filter} \
         ORDER BY w.created_at, w.id"
    )
}

fn prebuild_from_row(row: &AnyRow) -> Result<PrebuildRow> {
    Ok(PrebuildRow {
        workspace_id: get_str(row, "id")?,
        preset_id: get_str(row, "prebuild_preset_id")?,
        created_at: get_ts(row, "created_at")?,
        template_version_id: get_str(row, "template_version_id")?,
        transition: get_parsed(row, "transition")?,
        job_status: get_parsed(row, "job_status")?,
    })
}

fn outcome_from_row(row: &AnyRow) -> Result<PrebuildOutcome> {
    let status: JobStatus = get_parsed(row, "job_status")?;
    Ok(PrebuildOutcome {
        succeeded: status == JobStatus::Succeeded,
        at: get_ts(row, "at")?,
    })
}

/// The first (`prebuild`, `start`) builds of prebuilds, with the preset
/// they were built for. Driven from the prebuilds' index, not from all
/// builds, and by joins only: with stale statistics (right after a bulk
/// load) PostgreSQL ran an `IN (subquery)` form as a semi-join per row,
/// ten times slower.
const HISTORY_FROM: &str = "FROM workspaces w \
    JOIN workspace_builds b ON b.workspace_id = w.id AND b.build_number = 1";
const HISTORY_WHERE: &str = "w.prebuild_origin_preset_id IS NOT NULL \
    AND b.reason = 'prebuild' AND b.transition = 'start'";

/// Most candidates one claim tries when others are claiming at once.
const CLAIM_CANDIDATES: i64 = 16;

/// A prebuild that may be handed out, checked under its lock: the same
/// conditions as the candidate query of [`Store::claim_prebuild`].
fn ready_to_claim(
    state: &WorkspaceState,
    preset_id: &str,
    parameters: &BTreeMap<String, String>,
    created_after: Option<Timestamp>,
) -> bool {
    let build = &state.build;
    state.workspace.prebuild_preset_id.as_deref() == Some(preset_id)
        && !state.workspace.deleted
        && build.transition == Transition::Start
        && build.job.status == JobStatus::Succeeded
        && build.template_version_id == state.template.active_version_id
        && &build.parameters == parameters
        && created_after.is_none_or(|after| state.workspace.created_at >= after)
}

impl Store {
    /// Everything the reconciler plans from, read without locks: pool
    /// presets, live prebuilds, and the newest `history_depth` finished
    /// prebuild builds of each active preset. Planning from it is cheap;
    /// acting re-reads the preset under its lock ([`Store::reconcile_pool`]).
    pub async fn prebuild_snapshot(&self, history_depth: i64) -> Result<PrebuildSnapshot> {
        let preset_columns = PRESET_COLUMNS
            .split(", ")
            .map(|c| format!("p.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {TEMPLATE_COLUMNS}, {preset_columns}, \
             CAST(CASE WHEN t.active_version_id = p.template_version_id THEN 1 ELSE 0 END AS BIGINT) AS active \
             FROM presets p JOIN template_versions v ON v.id = p.template_version_id \
             JOIN templates t ON t.id = v.template_id \
             WHERE (t.active_version_id = p.template_version_id \
                    AND (p.prebuild_instances > 0 OR p.scheduling_json IS NOT NULL)) \
                OR p.id IN (SELECT prebuild_preset_id FROM workspaces \
                            WHERE deleted = 0 AND prebuild_preset_id IS NOT NULL) \
             ORDER BY t.name, p.name, v.created_at, p.id"
        ))
        .fetch_all(self.pool())
        .await?;
        let presets = rows
            .iter()
            .map(|row| {
                Ok(PoolPreset {
                    template: template_from_row(row)?,
                    preset: preset_from_row(row)?,
                    active: get_bool(row, "active")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;

        let mut prebuilds: BTreeMap<String, Vec<PrebuildRow>> = BTreeMap::new();
        for row in sqlx::query(&prebuild_select(""))
            .fetch_all(self.pool())
            .await?
        {
            let prebuild = prebuild_from_row(&row)?;
            prebuilds
                .entry(prebuild.preset_id.clone())
                .or_default()
                .push(prebuild);
        }

        // Only active presets' history matters (old versions create
        // nothing), so the window runs over their builds alone.
        let mut history: BTreeMap<String, Vec<PrebuildOutcome>> = BTreeMap::new();
        let rows = sqlx::query(&format!(
            "SELECT preset_id, job_status, at FROM ( \
               SELECT w.prebuild_origin_preset_id AS preset_id, b.job_status, \
                 COALESCE(b.job_completed_at, b.created_at) AS at, \
                 ROW_NUMBER() OVER (PARTITION BY w.prebuild_origin_preset_id \
                                    ORDER BY b.created_at DESC, b.id DESC) AS rn \
               {HISTORY_FROM} \
               JOIN presets p ON p.id = w.prebuild_origin_preset_id \
               JOIN templates t ON t.id = w.template_id \
                 AND t.active_version_id = p.template_version_id \
               WHERE {HISTORY_WHERE} AND b.job_status IN {FINISHED} \
             ) h WHERE rn <= $1 ORDER BY preset_id, rn"
        ))
        .bind(history_depth)
        .fetch_all(self.pool())
        .await?;
        for row in rows {
            history
                .entry(get_str(&row, "preset_id")?)
                .or_default()
                .push(outcome_from_row(&row)?);
        }
        Ok(PrebuildSnapshot {
            presets,
            prebuilds,
            history,
        })
    }

    /// Reconciles one preset's pool in one transaction holding the
    /// preset's lock: reads its pool, shows it to `decide`, and creates and
    /// deletes what `decide` asks for. Several replicas (or iterations)
    /// running this at once never act twice: on PostgreSQL a second caller
    /// gets [`StoreError::Busy`] at once (`pg_try_advisory_xact_lock`), on
    /// SQLite `BEGIN IMMEDIATE` queues it behind the first, which then
    /// finds the pool already reconciled.
    ///
    /// A prebuild to delete is locked and re-checked first: one claimed
    /// (or being claimed) meanwhile is skipped, never deleted.
    pub async fn reconcile_pool(
        &self,
        preset_id: &str,
        history_depth: i64,
        now: Timestamp,
        decide: impl FnOnce(&PresetPool) -> PoolChange,
    ) -> Result<PoolApplied> {
        let mut tx = self.begin_write().await?;
        if self.dialect() == Dialect::Postgres {
            let locked: i64 = sqlx::query_scalar(
                "SELECT CAST(CASE WHEN pg_try_advisory_xact_lock($1, hashtext($2)) \
                 THEN 1 ELSE 0 END AS BIGINT)",
            )
            .bind(PRESET_LOCK_SPACE)
            .bind(preset_id)
            .fetch_one(&mut *tx)
            .await?;
            if locked == 0 {
                return Err(StoreError::Busy(format!("preset {preset_id}")));
            }
        }
        let prebuilds = sqlx::query(&prebuild_select(" AND w.prebuild_preset_id = $1"))
            .bind(preset_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(prebuild_from_row)
            .collect::<Result<Vec<_>>>()?;
        let history = sqlx::query(&format!(
            "SELECT b.job_status, COALESCE(b.job_completed_at, b.created_at) AS at \
             {HISTORY_FROM} WHERE {HISTORY_WHERE} AND b.job_status IN {FINISHED} \
             AND w.prebuild_origin_preset_id = $1 \
             ORDER BY b.created_at DESC, b.id DESC LIMIT $2"
        ))
        .bind(preset_id)
        .bind(history_depth)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(outcome_from_row)
        .collect::<Result<Vec<_>>>()?;

        let change = decide(&PresetPool { prebuilds, history });
        let mut applied = PoolApplied::default();
        for new in change.create {
            let id = self
                .insert_prebuild_in(&mut tx, preset_id, &new, now)
                .await?;
            insert_build_in(&mut tx, &id, 1, new.build, now).await?;
            applied.created.push(self.rederive(&mut tx, &id).await?);
        }
        for id in change.delete {
            let state = match self.locked_state(&mut tx, &id, LockMode::Skip).await {
                Ok(state)
                    if state.workspace.prebuild_preset_id.as_deref() == Some(preset_id)
                        && state.build.job.status.is_finished() =>
                {
                    state
                }
                // Claimed, being claimed, deleted or building meanwhile.
                Ok(_) | Err(StoreError::Busy(_) | StoreError::NotFound(_)) => {
                    applied.skipped.push(id);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let change = WorkspaceChange {
                new_build: Some(NewBuild {
                    transition: Transition::Delete,
                    reason: crate::BuildReason::Prebuild,
                    template_version_id: state.reuse_version_id.clone(),
                    parameters: state.reuse_parameters.clone(),
                    initiator_id: change.delete_initiator_id.clone(),
                }),
                ..WorkspaceChange::default()
            };
            self.apply_change(&mut tx, &state, change, now).await?;
            applied.deleted.push(id);
        }
        tx.commit().await?;
        Ok(applied)
    }

    /// Inserts a prebuild's workspace row under a fresh random name and
    /// returns its id. A clashing name is detected without aborting the
    /// transaction (`ON CONFLICT DO NOTHING`) and another one is drawn.
    async fn insert_prebuild_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        preset_id: &str,
        new: &NewPrebuild,
        now: Timestamp,
    ) -> Result<String> {
        for _ in 0..NAME_ATTEMPTS {
            let id = new_id();
            let inserted = sqlx::query(
                "INSERT INTO workspaces (id, owner_id, name, template_id, created_at, \
                 last_used_at, prebuild_preset_id, prebuild_origin_preset_id) \
                 VALUES ($1, $2, $3, $4, $5, $5, $6, $6) \
                 ON CONFLICT (owner_id, name) WHERE deleted = 0 DO NOTHING",
            )
            .bind(&id)
            .bind(&new.owner_id)
            .bind(prebuild_name())
            .bind(&new.template_id)
            .bind(ms(now))
            .bind(preset_id)
            .execute(&mut **tx)
            .await?;
            if inserted.rows_affected() == 1 {
                return Ok(id);
            }
        }
        Err(StoreError::Conflict(format!(
            "no free prebuild name found in {NAME_ATTEMPTS} attempts"
        )))
    }

    /// Claims a ready prebuild of `preset_id` atomically: the oldest one
    /// that is running (its latest build a successful start) on the
    /// template's active version, built with exactly `parameters`, and
    /// created at or after `created_after` (not expired). `change` turns
    /// it into the caller's workspace (it must clear
    /// `prebuild_preset_id`); it runs under the workspace's lock in the
    /// same transaction. `Ok(None)` when no prebuild is ready.
    ///
    /// Concurrent claims never get the same prebuild. Candidates are read
    /// without locks; each is then locked ([`Store::lock_workspace`],
    /// skipping one another claimer holds) and re-read, and the first that
    /// is still ready is claimed. On SQLite `BEGIN IMMEDIATE` serialises
    /// claimers and the second no longer sees the first one's prebuild.
    /// When every candidate is taken meanwhile the answer is `Ok(None)`
    /// and the caller builds a workspace normally.
    pub async fn claim_prebuild(
        &self,
        preset_id: &str,
        parameters: &BTreeMap<String, String>,
        created_after: Option<Timestamp>,
        now: Timestamp,
        change: impl FnOnce(&WorkspaceState) -> WorkspaceChange,
    ) -> Result<Option<Applied>> {
        let mut tx = self.begin_write().await?;
        let candidates: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT w.id FROM workspaces w \
             JOIN workspace_builds b ON b.id = w.latest_build_id \
             JOIN templates t ON t.id = w.template_id \
             WHERE w.prebuild_preset_id = $1 AND w.deleted = 0 \
               AND b.transition = 'start' AND b.job_status = 'succeeded' \
               AND b.template_version_id = t.active_version_id \
               AND b.parameters_json = $2 AND w.created_at >= $3 \
             ORDER BY w.created_at, w.id LIMIT {CLAIM_CANDIDATES}"
        ))
        .bind(preset_id)
        .bind(map_json(parameters))
        .bind(created_after.map_or(i64::MIN, ms))
        .fetch_all(&mut *tx)
        .await?;
        let mut claimed = None;
        for id in candidates {
            match self.locked_state(&mut tx, &id, LockMode::Skip).await {
                Ok(state) if ready_to_claim(&state, preset_id, parameters, created_after) => {
                    claimed = Some(state);
                    break;
                }
                // Claimed, being claimed or deleted meanwhile.
                Ok(_) | Err(StoreError::Busy(_) | StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let Some(state) = claimed else {
            return Ok(None);
        };
        let change = change(&state);
        if change.prebuild_preset_id != Some(None) {
            // A claim that left the workspace in the pool could be
            // claimed again: refuse rather than hand one out twice.
            return Err(StoreError::Conflict(
                "a claim must take the workspace out of its pool".into(),
            ));
        }
        // A name the caller already uses is a conflict (apply_change maps
        // the unique violation); the transaction then rolls back and the
        // prebuild stays in its pool.
        let applied = self.apply_change(&mut tx, &state, change, now).await?;
        tx.commit().await?;
        Ok(Some(applied))
    }

    /// All-time prebuild counts per template and preset name (metrics):
    /// created, whose first build failed, and claimed.
    pub async fn prebuild_totals(&self) -> Result<Vec<PrebuildTotals>> {
        let rows = sqlx::query(
            "SELECT t.name AS template_name, p.name AS preset_name, \
             CAST(COUNT(*) AS BIGINT) AS created, \
             CAST(SUM(CASE WHEN b.job_status = 'failed' THEN 1 ELSE 0 END) AS BIGINT) AS failed, \
             CAST(SUM(CASE WHEN w.prebuild_preset_id IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS claimed \
             FROM workspaces w \
             JOIN presets p ON p.id = w.prebuild_origin_preset_id \
             JOIN templates t ON t.id = w.template_id \
             JOIN workspace_builds b ON b.workspace_id = w.id AND b.build_number = 1 \
             GROUP BY t.name, p.name ORDER BY t.name, p.name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PrebuildTotals {
                    template_name: get_str(row, "template_name")?,
                    preset_name: get_str(row, "preset_name")?,
                    created: get_i64(row, "created")?,
                    failed: get_i64(row, "failed")?,
                    claimed: get_i64(row, "claimed")?,
                })
            })
            .collect()
    }
}
