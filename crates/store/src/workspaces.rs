use dayshift_schedule::{SignedDuration, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Transaction;

use crate::counts::{self, CountGroup};
use crate::page::{Cursor, KeyPart};
use crate::rows::*;
use crate::sql_filter::SqlFilter;
use crate::templates::{template_from_row, TEMPLATE_COLUMNS};
use crate::{
    conflict_on_unique, new_id, Build, Job, JobStatus, LockMode, NewBuild, Page, PageOf, Result,
    Store, StoreError, Workspace, WorkspaceChange, WorkspaceQuery, WorkspaceState,
};

type Tx = Transaction<'static, sqlx::Any>;

pub(crate) const BUILD_COLUMNS: &str = "b.id AS b_id, b.workspace_id AS b_workspace_id, \
    b.build_number, b.transition, b.reason, b.template_version_id, b.parameters_json, \
    b.initiator_id, b.created_at AS b_created_at, b.deadline, b.max_deadline, b.job_status, \
    b.job_started_at, b.job_completed_at, b.job_error, b.job_worker, b.job_heartbeat_at, \
    b.outputs_json";

const WORKSPACE_COLUMNS: &str = "w.id AS w_id, w.owner_id, u.username AS owner_name, \
    w.name AS w_name, w.template_id, w.created_at AS w_created_at, w.autostart_schedule, \
    w.ttl_ms, w.autostart_set_at, w.last_used_at, w.dormant_at, w.deleting_at, w.next_start_at, w.next_due_at, \
    w.deleted, w.prebuild_preset_id";

/// Everything a [`WorkspaceState`] is made of, in one round trip.
fn state_select() -> String {
    format!(
        "SELECT {WORKSPACE_COLUMNS}, {BUILD_COLUMNS}, {TEMPLATE_COLUMNS}, v.connect, \
         s.template_version_id AS s_version_id, s.parameters_json AS s_parameters_json \
         FROM workspaces w \
         JOIN users u ON u.id = w.owner_id \
         JOIN templates t ON t.id = w.template_id \
         JOIN workspace_builds b ON b.id = w.latest_build_id \
         JOIN template_versions v ON v.id = b.template_version_id \
         LEFT JOIN workspace_builds s ON s.id = (SELECT id FROM workspace_builds \
             WHERE workspace_id = w.id AND job_status = 'succeeded' \
             ORDER BY build_number DESC LIMIT 1)"
    )
}

pub(crate) fn build_from_row(row: &AnyRow) -> Result<Build> {
    Ok(Build {
        id: get_str(row, "b_id")?,
        workspace_id: get_str(row, "b_workspace_id")?,
        build_number: get_i64(row, "build_number")?,
        transition: get_parsed(row, "transition")?,
        reason: get_parsed(row, "reason")?,
        template_version_id: get_str(row, "template_version_id")?,
        parameters: get_map(row, "parameters_json")?,
        initiator_id: get_str(row, "initiator_id")?,
        created_at: get_ts(row, "b_created_at")?,
        deadline: get_opt_ts(row, "deadline")?,
        max_deadline: get_opt_ts(row, "max_deadline")?,
        job: Job {
            status: get_parsed(row, "job_status")?,
            started_at: get_opt_ts(row, "job_started_at")?,
            completed_at: get_opt_ts(row, "job_completed_at")?,
            error: get_opt_str(row, "job_error")?,
            worker: get_opt_str(row, "job_worker")?,
            heartbeat_at: get_opt_ts(row, "job_heartbeat_at")?,
        },
        outputs: get_map(row, "outputs_json")?,
    })
}

fn workspace_from_row(row: &AnyRow) -> Result<Workspace> {
    Ok(Workspace {
        id: get_str(row, "w_id")?,
        owner_id: get_str(row, "owner_id")?,
        owner_name: get_str(row, "owner_name")?,
        name: get_str(row, "w_name")?,
        template_id: get_str(row, "template_id")?,
        created_at: get_ts(row, "w_created_at")?,
        autostart_schedule: get_opt_str(row, "autostart_schedule")?,
        autostart_set_at: get_opt_ts(row, "autostart_set_at")?,
        ttl: get_opt_dur(row, "ttl_ms")?,
        last_used_at: get_ts(row, "last_used_at")?,
        dormant_at: get_opt_ts(row, "dormant_at")?,
        deleting_at: get_opt_ts(row, "deleting_at")?,
        next_start_at: get_opt_ts(row, "next_start_at")?,
        next_due_at: get_opt_ts(row, "next_due_at")?,
        deleted: get_bool(row, "deleted")?,
        prebuild_preset_id: get_opt_str(row, "prebuild_preset_id")?,
    })
}

fn state_from_row(row: &AnyRow) -> Result<WorkspaceState> {
    let build = build_from_row(row)?;
    let (reuse_version_id, reuse_parameters) = match get_opt_str(row, "s_version_id")? {
        Some(version) => (version, get_map(row, "s_parameters_json")?),
        // Never built successfully: retry what was last attempted.
        None => (build.template_version_id.clone(), build.parameters.clone()),
    };
    Ok(WorkspaceState {
        workspace: workspace_from_row(row)?,
        build,
        template: template_from_row(row)?,
        connect: get_opt_str(row, "connect")?,
        reuse_version_id,
        reuse_parameters,
    })
}

/// A workspace to create together with its first build.
#[derive(Debug, Clone)]
pub struct NewWorkspace {
    pub owner_id: String,
    pub name: String,
    pub template_id: String,
    pub autostart_schedule: Option<String>,
    pub ttl: Option<SignedDuration>,
    pub prebuild_preset_id: Option<String>,
}

/// The outcome of a successful [`Store::update_workspace`].
#[derive(Debug, Clone)]
pub struct Applied {
    /// The workspace after the change (derived times included).
    pub state: WorkspaceState,
    /// The build the change inserted, if any.
    pub new_build: Option<Build>,
}

/// A value bound to a dynamically assembled statement.
enum Bind {
    Text(Option<String>),
    Int(Option<i64>),
}

impl Store {
    /// Creates a workspace and its first build in one transaction.
    pub async fn create_workspace(
        &self,
        workspace: NewWorkspace,
        build: NewBuild,
        now: Timestamp,
    ) -> Result<WorkspaceState> {
        let mut tx = self.begin_write().await?;
        let id = new_id();
        sqlx::query(
            "INSERT INTO workspaces (id, owner_id, name, template_id, created_at, \
             autostart_schedule, ttl_ms, last_used_at, prebuild_preset_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(&workspace.owner_id)
        .bind(&workspace.name)
        .bind(&workspace.template_id)
        .bind(ms(now))
        .bind(&workspace.autostart_schedule)
        .bind(workspace.ttl.map(dur_ms))
        .bind(ms(now))
        .bind(&workspace.prebuild_preset_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            conflict_on_unique(e, || {
                format!("a workspace named {:?} already exists", workspace.name)
            })
        })?;
        insert_build_in(&mut tx, &id, 1, build, now).await?;
        let state = self.rederive(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(state)
    }

    /// Locks one workspace, shows its state to `decide`, and applies the
    /// change it returns, all in one transaction. The derived times are
    /// recomputed by the policy afterwards, so they are always true.
    ///
    /// Returns `Ok(Err(e))` when `decide` refused; nothing is written then.
    /// With [`LockMode::Skip`], a workspace locked by another transaction
    /// gives [`StoreError::Busy`].
    pub async fn update_workspace<E>(
        &self,
        id: &str,
        mode: LockMode,
        now: Timestamp,
        decide: impl FnOnce(&WorkspaceState) -> std::result::Result<WorkspaceChange, E>,
    ) -> Result<std::result::Result<Applied, E>> {
        let mut tx = self.begin_write().await?;
        let state = self.locked_state(&mut tx, id, mode).await?;
        let change = match decide(&state) {
            Ok(change) => change,
            Err(rejection) => return Ok(Err(rejection)),
        };
        let applied = self.apply_change(&mut tx, &state, change, now).await?;
        tx.commit().await?;
        Ok(Ok(applied))
    }

    /// Locks a workspace in `tx` ([`Store::lock_workspace`]), then reads
    /// its state: the state the previous holder of the lock left.
    pub(crate) async fn locked_state(
        &self,
        tx: &mut Tx,
        id: &str,
        mode: LockMode,
    ) -> Result<WorkspaceState> {
        self.lock_workspace(tx, id, mode).await?;
        self.read_state(tx, id).await
    }

    pub(crate) async fn apply_change(
        &self,
        tx: &mut Tx,
        state: &WorkspaceState,
        change: WorkspaceChange,
        now: Timestamp,
    ) -> Result<Applied> {
        let id = state.workspace.id.as_str();
        if let Some((deadline, max_deadline)) = change.deadlines {
            sqlx::query(
                "UPDATE workspace_builds SET deadline = $1, max_deadline = $2 WHERE id = $3",
            )
            .bind(opt_ms(deadline))
            .bind(opt_ms(max_deadline))
            .bind(&state.build.id)
            .execute(&mut **tx)
            .await?;
        }
        let mut sets: Vec<(&str, Bind)> = Vec::new();
        if let Some(v) = change.autostart_schedule {
            sets.push(("autostart_schedule", Bind::Text(v)));
            sets.push(("autostart_set_at", Bind::Int(Some(ms(now)))));
        }
        if let Some(v) = change.ttl {
            sets.push(("ttl_ms", Bind::Int(v.map(dur_ms))));
        }
        if let Some(v) = change.last_used_at {
            sets.push(("last_used_at", Bind::Int(Some(ms(v)))));
        }
        if let Some(v) = change.dormant_at {
            sets.push(("dormant_at", Bind::Int(opt_ms(v))));
        }
        if let Some(v) = change.deleting_at {
            sets.push(("deleting_at", Bind::Int(opt_ms(v))));
        }
        if let Some(v) = change.owner_id {
            sets.push(("owner_id", Bind::Text(Some(v))));
        }
        if let Some(v) = change.name {
            sets.push(("name", Bind::Text(Some(v))));
        }
        if let Some(v) = change.prebuild_preset_id {
            sets.push(("prebuild_preset_id", Bind::Text(v)));
        }
        if !sets.is_empty() {
            let assignments = sets
                .iter()
                .enumerate()
                .map(|(i, (column, _))| format!("{column} = ${}", i + 1))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "UPDATE workspaces SET {assignments} WHERE id = ${}",
                sets.len() + 1
            );
            let mut query = sqlx::query(&sql);
            for (_, value) in sets {
                query = match value {
                    Bind::Text(v) => query.bind(v),
                    Bind::Int(v) => query.bind(v),
                };
            }
            query.bind(id).execute(&mut **tx).await.map_err(|e| {
                conflict_on_unique(e, || {
                    "a workspace with that name already exists".to_string()
                })
            })?;
        }
        let new_build = match change.new_build {
            Some(build) => {
                Some(insert_build_in(tx, id, state.build.build_number + 1, build, now).await?)
            }
            None => None,
        };
        let state = self.rederive(tx, id).await?;
        Ok(Applied { state, new_build })
    }

    /// Re-reads a workspace inside `tx` and stores its derived times.
    pub(crate) async fn rederive(&self, tx: &mut Tx, id: &str) -> Result<WorkspaceState> {
        let state = self.read_state(tx, id).await?;
        self.store_derived(tx, state).await
    }

    /// A workspace's state inside `tx`, deleted or not.
    pub(crate) async fn read_state(&self, tx: &mut Tx, id: &str) -> Result<WorkspaceState> {
        let row = sqlx::query(&format!("{} WHERE w.id = $1", state_select()))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("workspace {id}")))?;
        state_from_row(&row)
    }

    /// Writes the policy's derived times for `state` (when they changed).
    pub(crate) async fn store_derived(
        &self,
        tx: &mut Tx,
        mut state: WorkspaceState,
    ) -> Result<WorkspaceState> {
        let id = state.workspace.id.clone();
        let derived = if state.workspace.deleted {
            Default::default()
        } else {
            self.policy().derive(&state)
        };
        if derived.next_start_at != state.workspace.next_start_at
            || derived.next_due_at != state.workspace.next_due_at
        {
            sqlx::query("UPDATE workspaces SET next_start_at = $1, next_due_at = $2 WHERE id = $3")
                .bind(opt_ms(derived.next_start_at))
                .bind(opt_ms(derived.next_due_at))
                .bind(&id)
                .execute(&mut **tx)
                .await?;
            state.workspace.next_start_at = derived.next_start_at;
            state.workspace.next_due_at = derived.next_due_at;
        }
        // The listing columns (what search filters, sorts and counts on)
        // follow the state in the same transaction, so lists and counts
        // are never stale.
        let old = counts::stored_group(tx, &id).await?;
        let listed = CountGroup::listing(&state);
        let new = (!state.workspace.deleted).then(|| listed.clone());
        if old != new {
            sqlx::query(
                "UPDATE workspaces SET owner_name = $1, status = $2, outdated = $3, \
                 counted = $4, counted_dormant = $5 WHERE id = $6",
            )
            .bind(&listed.owner_name)
            .bind(&listed.status)
            .bind(listed.outdated)
            .bind(i64::from(new.is_some()))
            .bind(listed.dormant)
            .bind(&id)
            .execute(&mut **tx)
            .await?;
            counts::move_between_groups(tx, old.as_ref(), new.as_ref()).await?;
        }
        Ok(state)
    }

    /// A workspace that is not deleted.
    pub async fn workspace(&self, id: &str) -> Result<Option<WorkspaceState>> {
        let row = sqlx::query(&format!(
            "{} WHERE w.id = $1 AND w.deleted = 0",
            state_select()
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(state_from_row).transpose()
    }

    pub async fn workspace_by_owner_and_name(
        &self,
        owner_id: &str,
        name: &str,
    ) -> Result<Option<WorkspaceState>> {
        let row = sqlx::query(&format!(
            "{} WHERE w.owner_id = $1 AND w.name = $2 AND w.deleted = 0",
            state_select()
        ))
        .bind(owner_id)
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(state_from_row).transpose()
    }

    /// One page of the workspaces matching `query` (not deleted), sorted
    /// by owner name, name and id.
    ///
    /// The page is one index range scan: every filter but `name:` is an
    /// equality on a column with an index `(filter, owner_name, name, id)`
    /// (`owner:` uses the sort index itself), and the cursor is a row-value
    /// comparison on that suffix (on `(name, id)` when the owner is fixed,
    /// so the owner's equality and the cursor are one range). Further
    /// filters are checked on the rows the scan visits; `name:` substrings
    /// cannot use an index and are checked the same way.
    ///
    /// `count` is exact and read from the count groups (see `counts.rs`)
    /// without touching workspace rows. With `name:` terms the groups
    /// cannot answer; the count is then an index count over the same range,
    /// taken on the first page only and carried in the cursor.
    pub async fn search_workspaces(
        &self,
        query: &WorkspaceQuery,
        page: &Page,
    ) -> Result<PageOf<WorkspaceState>> {
        let filter = SqlFilter::workspace_search(query);
        let (after, carried_count) = match page.after() {
            Some(cursor) => {
                let [owner, name, id, count] = cursor.texts::<4>().map_err(StoreError::from)?;
                (Some([owner, name, id]), count.parse::<i64>().ok())
            }
            None => (None, None),
        };
        let count = match (SqlFilter::count_groups(query), carried_count) {
            (Some(groups), _) => self.count_from_groups(&groups).await?,
            (None, Some(count)) => count,
            (None, None) => {
                let sql = format!(
                    "SELECT COUNT(*) FROM workspaces w WHERE {}",
                    filter.conditions()
                );
                filter
                    .bind_scalar(sqlx::query_scalar(&sql))
                    .fetch_one(self.pool())
                    .await?
            }
        };
        let owner_fixed = query.owner.is_some() || query.visible_to.is_some();
        let mut scan = filter.clone();
        if let Some([owner, name, id]) = after {
            if owner_fixed {
                scan.push_after("(w.name, w.id)", vec![name.into(), id.into()]);
            } else {
                scan.push_after(
                    "(w.owner_name, w.name, w.id)",
                    vec![owner.into(), name.into(), id.into()],
                );
            }
        }
        let order = if owner_fixed {
            "w.name, w.id"
        } else {
            "w.owner_name, w.name, w.id"
        };
        let sql = format!(
            "{} WHERE {} ORDER BY {order} LIMIT {}",
            state_select(),
            scan.conditions(),
            page.fetch_limit()
        );
        let rows = scan.bind(sqlx::query(&sql)).fetch_all(self.pool()).await?;
        let states = rows
            .iter()
            .map(state_from_row)
            .collect::<Result<Vec<_>>>()?;
        let count_text = count.to_string();
        Ok(PageOf::from_fetched(states, page, count, |state| {
            Cursor(vec![
                KeyPart::Text(state.workspace.owner_name.clone()),
                KeyPart::Text(state.workspace.name.clone()),
                KeyPart::Text(state.workspace.id.clone()),
                KeyPart::Text(count_text.clone()),
            ])
        }))
    }

    /// Ids of workspaces whose derived due time has come: an index range
    /// scan, so the cost follows the number due, not the number stored.
    pub async fn due_workspace_ids(&self, now: Timestamp, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM workspaces WHERE deleted = 0 AND next_due_at IS NOT NULL \
             AND next_due_at <= $1 ORDER BY next_due_at LIMIT $2",
        )
        .bind(ms(now))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// The earliest derived due time of any workspace (to arm a wake-up).
    pub async fn earliest_due_at(&self) -> Result<Option<Timestamp>> {
        let value: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(next_due_at) FROM workspaces WHERE deleted = 0 AND next_due_at IS NOT NULL",
        )
        .fetch_one(self.pool())
        .await?;
        value.map(|v| ts_from_ms(v, "next_due_at")).transpose()
    }

    /// The earliest derived due time strictly after `after` (any with
    /// `None`), to arm a wake-up: a workspace still due after a tick must
    /// not hide the due times behind it. An index range scan.
    pub async fn next_due_after(&self, after: Option<Timestamp>) -> Result<Option<Timestamp>> {
        let value: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(next_due_at) FROM workspaces WHERE deleted = 0 \
             AND next_due_at IS NOT NULL AND next_due_at > $1",
        )
        .bind(after.map_or(i64::MIN, ms))
        .fetch_one(self.pool())
        .await?;
        value.map(|v| ts_from_ms(v, "next_due_at")).transpose()
    }

    /// One page of a workspace's builds, newest first: a range scan of
    /// the `(workspace_id, build_number)` unique index.
    pub async fn builds(&self, workspace_id: &str, page: &Page) -> Result<PageOf<Build>> {
        let before = page
            .after()
            .map(|cursor| cursor.int())
            .transpose()
            .map_err(StoreError::from)?
            .unwrap_or(i64::MAX);
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM workspace_builds WHERE workspace_id = $1")
                .bind(workspace_id)
                .fetch_one(self.pool())
                .await?;
        let rows = sqlx::query(&format!(
            "SELECT {BUILD_COLUMNS} FROM workspace_builds b WHERE b.workspace_id = $1 \
             AND b.build_number < $2 ORDER BY b.build_number DESC LIMIT $3"
        ))
        .bind(workspace_id)
        .bind(before)
        .bind(page.fetch_limit())
        .fetch_all(self.pool())
        .await?;
        let builds = rows
            .iter()
            .map(build_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(PageOf::from_fetched(builds, page, count, |build| {
            Cursor(vec![KeyPart::Int(build.build_number)])
        }))
    }

    pub async fn build(&self, id: &str) -> Result<Option<Build>> {
        let row = sqlx::query(&format!(
            "SELECT {BUILD_COLUMNS} FROM workspace_builds b WHERE b.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(build_from_row).transpose()
    }

    /// The latest successful build of a workspace (its version and
    /// parameters are what new builds reuse).
    pub async fn latest_successful_build(&self, workspace_id: &str) -> Result<Option<Build>> {
        let row = sqlx::query(&format!(
            "SELECT {BUILD_COLUMNS} FROM workspace_builds b WHERE b.workspace_id = $1 \
             AND b.job_status = $2 ORDER BY b.build_number DESC LIMIT 1"
        ))
        .bind(workspace_id)
        .bind(JobStatus::Succeeded.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(build_from_row).transpose()
    }
}

pub(crate) async fn insert_build_in(
    tx: &mut Tx,
    workspace_id: &str,
    build_number: i64,
    build: NewBuild,
    now: Timestamp,
) -> Result<Build> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO workspace_builds (id, workspace_id, build_number, transition, reason, \
         template_version_id, parameters_json, initiator_id, created_at, job_status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&id)
    .bind(workspace_id)
    .bind(build_number)
    .bind(build.transition.as_str())
    .bind(build.reason.as_str())
    .bind(&build.template_version_id)
    .bind(map_json(&build.parameters))
    .bind(&build.initiator_id)
    .bind(ms(now))
    .bind(JobStatus::Pending.as_str())
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!("build {build_number} of workspace {workspace_id} already exists")
        })
    })?;
    sqlx::query("UPDATE workspaces SET latest_build_id = $1 WHERE id = $2")
        .bind(&id)
        .bind(workspace_id)
        .execute(&mut **tx)
        .await?;
    crate::jobs::notify_job_queued(tx, &id).await?;
    Ok(Build {
        id,
        workspace_id: workspace_id.to_string(),
        build_number,
        transition: build.transition,
        reason: build.reason,
        template_version_id: build.template_version_id,
        parameters: build.parameters,
        initiator_id: build.initiator_id,
        created_at: now,
        deadline: None,
        max_deadline: None,
        job: Job {
            status: JobStatus::Pending,
            started_at: None,
            completed_at: None,
            error: None,
            worker: None,
            heartbeat_at: None,
        },
        outputs: Default::default(),
    })
}
