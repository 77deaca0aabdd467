//! Exact search counts without counting rows (issue 12: `count` of a page
//! at 100,000 workspaces within the latency goal).
//!
//! `workspace_counts` holds how many workspaces there are per *group*:
//! owner, template, status, outdatedness, dormancy — as many rows as
//! distinct combinations, not as workspaces. A write that moves a
//! workspace between groups does not update those rows (concurrent writes
//! of one group would queue on them, on PostgreSQL for the length of each
//! commit): it inserts a -1 and a +1 into `workspace_count_deltas`. A count
//! sums the matching totals and the matching deltas; every
//! [`COMPACT_EVERY`]th delta folds the deltas into the totals, so the
//! deltas stay few.

use std::collections::BTreeMap;

use sqlx::Transaction;

use crate::rows::*;
use crate::sql_filter::SqlFilter;
use crate::{Result, Store, WorkspaceState};

type Tx = Transaction<'static, sqlx::Any>;

/// Deltas between foldings (the count reads at most about this many).
const COMPACT_EVERY: i64 = 256;

/// The group a workspace is counted in; `None` when it is not counted
/// (deleted).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct CountGroup {
    pub owner_name: String,
    pub template_id: String,
    pub status: String,
    pub outdated: i64,
    pub dormant: i64,
}

impl CountGroup {
    /// The listing columns of a workspace in `state`.
    pub(crate) fn listing(state: &WorkspaceState) -> CountGroup {
        CountGroup {
            owner_name: state.workspace.owner_name.clone(),
            template_id: state.workspace.template_id.clone(),
            status: state.status().as_str().to_string(),
            outdated: i64::from(state.is_outdated()),
            dormant: i64::from(state.workspace.dormant_at.is_some()),
        }
    }
}

/// The listing columns as stored: what the workspace is listed and
/// counted as before this write.
pub(crate) async fn stored_group(tx: &mut Tx, id: &str) -> Result<Option<CountGroup>> {
    let row = sqlx::query(
        "SELECT owner_name, template_id, status, outdated, counted, counted_dormant \
         FROM workspaces WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    Ok((get_i64(&row, "counted")? == 1).then_some(CountGroup {
        owner_name: get_str(&row, "owner_name")?,
        template_id: get_str(&row, "template_id")?,
        status: get_str(&row, "status")?,
        outdated: get_i64(&row, "outdated")?,
        dormant: get_i64(&row, "counted_dormant")?,
    }))
}

/// Moves a workspace from the group it is counted in to `new`.
pub(crate) async fn move_between_groups(
    tx: &mut Tx,
    old: Option<&CountGroup>,
    new: Option<&CountGroup>,
) -> Result<()> {
    if old == new {
        return Ok(());
    }
    let mut last_id = 0;
    for (group, delta) in [(old, -1), (new, 1)] {
        if let Some(group) = group {
            last_id = insert_delta(tx, group, delta).await?;
        }
    }
    if last_id % COMPACT_EVERY == 0 {
        fold_deltas(tx).await?;
    }
    Ok(())
}

async fn insert_delta(tx: &mut Tx, group: &CountGroup, delta: i64) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO workspace_count_deltas (owner_name, template_id, status, outdated, \
         dormant, delta) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(&group.owner_name)
    .bind(&group.template_id)
    .bind(&group.status)
    .bind(group.outdated)
    .bind(group.dormant)
    .bind(delta)
    .fetch_one(&mut **tx)
    .await?)
}

/// Folds the deltas visible to `tx` into the totals. Concurrent folds are
/// safe: a delta is deleted (and added) by exactly one of them, and totals
/// are updated in one order, so two folds cannot deadlock.
async fn fold_deltas(tx: &mut Tx) -> Result<()> {
    let rows = sqlx::query(
        "DELETE FROM workspace_count_deltas \
         RETURNING owner_name, template_id, status, outdated, dormant, delta",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut sums: BTreeMap<CountGroup, i64> = BTreeMap::new();
    for row in &rows {
        let group = CountGroup {
            owner_name: get_str(row, "owner_name")?,
            template_id: get_str(row, "template_id")?,
            status: get_str(row, "status")?,
            outdated: get_i64(row, "outdated")?,
            dormant: get_i64(row, "dormant")?,
        };
        *sums.entry(group).or_default() += get_i64(row, "delta")?;
    }
    for (group, sum) in sums.iter().filter(|(_, sum)| **sum != 0) {
        sqlx::query(
            "INSERT INTO workspace_counts (owner_name, template_id, status, outdated, dormant, \
             total) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (owner_name, template_id, status, outdated, dormant) \
             DO UPDATE SET total = workspace_counts.total + excluded.total",
        )
        .bind(&group.owner_name)
        .bind(&group.template_id)
        .bind(&group.status)
        .bind(group.outdated)
        .bind(group.dormant)
        .bind(sum)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("DELETE FROM workspace_counts WHERE total = 0")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Re-marks which workspaces of a template are outdated after its active
/// version changed, moving their counts along: set-based statements over
/// the template's workspaces, nothing loaded into memory.
pub(crate) async fn mark_outdated_in(tx: &mut Tx, template_id: &str) -> Result<()> {
    const IS_OUTDATED: &str = "CASE WHEN (SELECT b.template_version_id FROM workspace_builds b \
         WHERE b.id = workspaces.latest_build_id) = (SELECT t.active_version_id FROM templates t \
         WHERE t.id = workspaces.template_id) THEN 0 ELSE 1 END";
    let changing = format!("template_id = $1 AND deleted = 0 AND outdated <> {IS_OUTDATED}");
    for (outdated, sign) in [("outdated", "-"), ("1 - outdated", "")] {
        sqlx::query(&format!(
            "INSERT INTO workspace_count_deltas (owner_name, template_id, status, outdated, \
             dormant, delta) SELECT owner_name, template_id, status, {outdated}, \
             counted_dormant, {sign}COUNT(*) FROM workspaces WHERE {changing} AND counted = 1 \
             GROUP BY owner_name, template_id, status, outdated, counted_dormant"
        ))
        .bind(template_id)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query(&format!(
        "UPDATE workspaces SET outdated = {IS_OUTDATED} WHERE {changing}"
    ))
    .bind(template_id)
    .execute(&mut **tx)
    .await?;
    fold_deltas(tx).await
}

impl Store {
    /// Folds the pending count deltas into the totals now (writes do it
    /// every [`COMPACT_EVERY`] deltas on their own).
    pub async fn fold_workspace_counts(&self) -> Result<()> {
        let mut tx = self.begin_write().await?;
        fold_deltas(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The exact number of workspaces a search matches, from the group
    /// totals and the pending deltas, read in one statement so a fold
    /// committing meanwhile is seen entirely or not at all.
    pub(crate) async fn count_from_groups(
        &self,
        (filter, totals, deltas): &(SqlFilter, String, String),
    ) -> Result<i64> {
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM (\
             SELECT w.total AS n FROM workspace_counts w WHERE {totals} \
             UNION ALL SELECT w.delta AS n FROM workspace_count_deltas w WHERE {deltas}) c"
        );
        Ok(filter
            .bind_scalar(sqlx::query_scalar(&sql))
            .fetch_one(self.pool())
            .await?)
    }
}
