//! The fleet in aggregate: how many workspaces share each (template,
//! autostart schedule, TTL). The dashboard's fleet view projects each
//! group's schedule once and multiplies by its count, so its cost follows
//! the number of distinct schedules, not the number of workspaces.

use dayshift_schedule::SignedDuration;

use crate::rows::*;
use crate::{Result, Store};

/// Workspaces of one template with the same autostart schedule and TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleGroup {
    pub template_id: String,
    /// The stored (normalised) schedule; `None`: no autostart.
    pub autostart_schedule: Option<String>,
    pub ttl: Option<SignedDuration>,
    pub count: i64,
}

impl Store {
    /// The largest `limit` groups of live, claimed (not prebuild), not
    /// dormant workspaces by (template, autostart schedule, TTL), largest
    /// first. Dormant workspaces never autostart and prebuilds belong to
    /// their pool, so neither is scheduled to run.
    pub async fn schedule_groups(&self, limit: i64) -> Result<Vec<ScheduleGroup>> {
        let rows = sqlx::query(
            "SELECT template_id, autostart_schedule, ttl_ms, COUNT(*) AS n FROM workspaces \
             WHERE deleted = 0 AND prebuild_preset_id IS NULL AND dormant_at IS NULL \
             GROUP BY template_id, autostart_schedule, ttl_ms \
             ORDER BY n DESC, template_id, COALESCE(autostart_schedule, ''), COALESCE(ttl_ms, -1) LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ScheduleGroup {
                    template_id: get_str(row, "template_id")?,
                    autostart_schedule: get_opt_str(row, "autostart_schedule")?,
                    ttl: get_opt_dur(row, "ttl_ms")?,
                    count: get_i64(row, "n")?,
                })
            })
            .collect()
    }
}
