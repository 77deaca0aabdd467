use dayshift_schedule::{SignedDuration, Timestamp, Weekdays};
use sqlx::any::AnyRow;

use crate::rows::*;
use crate::{
    conflict_on_unique, new_id, Cursor, KeyPart, LockMode, NewPreset, NewTemplateVersion, Page,
    PageOf, Preset, Result, Store, StoreError, Template, TemplatePolicy, TemplateVersion,
};

pub(crate) const TEMPLATE_COLUMNS: &str = "t.id AS t_id, t.name AS t_name, \
    t.active_version_id AS t_active_version_id, t.created_at AS t_created_at, \
    t.default_ttl_ms, t.activity_bump_ms, t.autostop_requirement_days, \
    t.autostop_requirement_weeks, t.autostart_requirement_days, t.allow_user_autostart, \
    t.allow_user_autostop, t.failure_ttl_ms, t.time_til_dormant_ms, \
    t.time_til_dormant_autodelete_ms";

const VERSION_COLUMNS: &str =
    "id, template_id, created_at, created_by, provisioner, connect, manifest_json";

pub(crate) const PRESET_COLUMNS: &str = "id, template_version_id, name, parameters_json, \
    prebuild_instances, expiration_ms, scheduling_json";

fn weekdays(row: &AnyRow, column: &str) -> Result<Weekdays> {
    let bits = get_i64(row, column)?;
    u8::try_from(bits)
        .map(Weekdays)
        .map_err(|_| StoreError::Corrupt(format!("column {column}: {bits}")))
}

pub(crate) fn template_from_row(row: &AnyRow) -> Result<Template> {
    Ok(Template {
        id: get_str(row, "t_id")?,
        name: get_str(row, "t_name")?,
        active_version_id: get_str(row, "t_active_version_id")?,
        created_at: get_ts(row, "t_created_at")?,
        policy: TemplatePolicy {
            default_ttl: get_dur(row, "default_ttl_ms")?,
            activity_bump: get_dur(row, "activity_bump_ms")?,
            autostop_requirement_days: weekdays(row, "autostop_requirement_days")?,
            autostop_requirement_weeks: u32::try_from(get_i64(row, "autostop_requirement_weeks")?)
                .map_err(|e| StoreError::Corrupt(format!("autostop_requirement_weeks: {e}")))?,
            autostart_requirement_days: weekdays(row, "autostart_requirement_days")?,
            allow_user_autostart: get_bool(row, "allow_user_autostart")?,
            allow_user_autostop: get_bool(row, "allow_user_autostop")?,
            failure_ttl: get_dur(row, "failure_ttl_ms")?,
            time_til_dormant: get_dur(row, "time_til_dormant_ms")?,
            time_til_dormant_autodelete: get_dur(row, "time_til_dormant_autodelete_ms")?,
        },
    })
}

fn version_from_row(row: &AnyRow) -> Result<TemplateVersion> {
    Ok(TemplateVersion {
        id: get_str(row, "id")?,
        template_id: get_str(row, "template_id")?,
        created_at: get_ts(row, "created_at")?,
        created_by: get_str(row, "created_by")?,
        provisioner: get_str(row, "provisioner")?,
        connect: get_opt_str(row, "connect")?,
        manifest_json: get_str(row, "manifest_json")?,
    })
}

pub(crate) fn preset_from_row(row: &AnyRow) -> Result<Preset> {
    Ok(Preset {
        id: get_str(row, "id")?,
        template_version_id: get_str(row, "template_version_id")?,
        name: get_str(row, "name")?,
        parameters: get_map(row, "parameters_json")?,
        prebuild_instances: get_i64(row, "prebuild_instances")?,
        expiration: get_opt_dur(row, "expiration_ms")?,
        scheduling: get_opt_str(row, "scheduling_json")?
            .map(|text| {
                serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("presets.scheduling_json: {e}")))
            })
            .transpose()?,
    })
}

/// The policy columns, in the order [`bind_policy`] binds them.
const POLICY_COLUMNS: [&str; 10] = [
    "default_ttl_ms",
    "activity_bump_ms",
    "autostop_requirement_days",
    "autostop_requirement_weeks",
    "autostart_requirement_days",
    "allow_user_autostart",
    "allow_user_autostop",
    "failure_ttl_ms",
    "time_til_dormant_ms",
    "time_til_dormant_autodelete_ms",
];

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_policy<'q>(query: AnyQuery<'q>, policy: &TemplatePolicy) -> AnyQuery<'q> {
    query
        .bind(dur_ms(policy.default_ttl))
        .bind(dur_ms(policy.activity_bump))
        .bind(i64::from(policy.autostop_requirement_days.0))
        .bind(i64::from(policy.autostop_requirement_weeks))
        .bind(i64::from(policy.autostart_requirement_days.0))
        .bind(i64::from(policy.allow_user_autostart))
        .bind(i64::from(policy.allow_user_autostop))
        .bind(dur_ms(policy.failure_ttl))
        .bind(dur_ms(policy.time_til_dormant))
        .bind(dur_ms(policy.time_til_dormant_autodelete))
}

fn opt_dur_ms(d: Option<SignedDuration>) -> Option<i64> {
    d.map(dur_ms)
}

/// Workspaces re-derived per transaction after a policy change: small
/// enough that no other writer waits long (SQLite has one write lock),
/// large enough to amortise the commits.
const REDERIVE_BATCH: i64 = 500;
const REDERIVE_BATCH_LEN: usize = REDERIVE_BATCH as usize;

impl Store {
    /// Creates a template with its first (active) version.
    pub async fn create_template(
        &self,
        name: &str,
        policy: &TemplatePolicy,
        version: NewTemplateVersion,
        now: Timestamp,
    ) -> Result<(Template, TemplateVersion)> {
        let mut tx = self.begin_write().await?;
        let template_id = new_id();
        let version_id = new_id();
        let placeholders = (5..5 + POLICY_COLUMNS.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO templates (id, name, active_version_id, created_at, {}) \
             VALUES ($1, $2, $3, $4, {placeholders})",
            POLICY_COLUMNS.join(", ")
        );
        let query = sqlx::query(&sql)
            .bind(&template_id)
            .bind(name)
            .bind(&version_id)
            .bind(ms(now));
        bind_policy(query, policy)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                conflict_on_unique(e, || format!("a template named {name:?} already exists"))
            })?;
        let version = insert_version_in(&mut tx, &template_id, &version_id, version, now).await?;
        tx.commit().await?;
        let template = self
            .template(&template_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("template {template_id}")))?;
        Ok((template, version))
    }

    /// Adds a version to a template and makes it the active one.
    pub async fn create_template_version(
        &self,
        template_id: &str,
        version: NewTemplateVersion,
        now: Timestamp,
    ) -> Result<TemplateVersion> {
        let mut tx = self.begin_write().await?;
        let version_id = new_id();
        let created = insert_version_in(&mut tx, template_id, &version_id, version, now).await?;
        let updated = sqlx::query("UPDATE templates SET active_version_id = $1 WHERE id = $2")
            .bind(&version_id)
            .bind(template_id)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("template {template_id}")));
        }
        crate::counts::mark_outdated_in(&mut tx, template_id).await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn template(&self, id: &str) -> Result<Option<Template>> {
        self.template_where("t.id = $1", id).await
    }

    pub async fn template_by_name(&self, name: &str) -> Result<Option<Template>> {
        self.template_where("t.name = $1", name).await
    }

    async fn template_where(&self, condition: &str, value: &str) -> Result<Option<Template>> {
        let row = sqlx::query(&format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates t WHERE {condition}"
        ))
        .bind(value)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(template_from_row).transpose()
    }

    pub async fn templates(&self) -> Result<Vec<Template>> {
        let rows = sqlx::query(&format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates t ORDER BY t.name"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(template_from_row).collect()
    }

    /// Replaces a template's policy, then re-derives its workspaces (their
    /// deletion time when dormant, and their indexed due times) so the
    /// change takes effect at the next tick.
    ///
    /// The re-derivation runs after the policy is committed, in batches of
    /// [`REDERIVE_BATCH`] workspaces per transaction, each workspace under
    /// its own lock ([`Store::lock_workspace`], then read): no other writer
    /// waits longer than one batch, and a workspace written concurrently
    /// is derived from what that write committed, never overwritten with a
    /// due time computed from a stale read. A writer that reads the
    /// template after the policy commit derives with the new policy
    /// itself. If this call fails midway, the policy is changed and some
    /// workspaces keep times derived from the old one until their next
    /// write; the error is returned so the caller can retry.
    pub async fn update_template_policy(
        &self,
        id: &str,
        policy: &TemplatePolicy,
    ) -> Result<Template> {
        let assignments = POLICY_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, column)| format!("{column} = ${}", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE templates SET {assignments} WHERE id = ${}",
            POLICY_COLUMNS.len() + 1
        );
        let mut tx = self.begin_write().await?;
        let updated = bind_policy(sqlx::query(&sql), policy)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("template {id}")));
        }
        tx.commit().await?;
        self.rederive_template_workspaces(id).await?;
        self.template(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("template {id}")))
    }

    /// Re-derives every workspace of a template, [`REDERIVE_BATCH`] per
    /// transaction, in id order (keyset pagination, so each batch query is
    /// an index range scan).
    async fn rederive_template_workspaces(&self, template_id: &str) -> Result<()> {
        let mut after = String::new();
        loop {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM workspaces WHERE template_id = $1 AND deleted = 0 AND id > $2 \
                 ORDER BY id LIMIT $3",
            )
            .bind(template_id)
            .bind(&after)
            .bind(REDERIVE_BATCH)
            .fetch_all(self.pool())
            .await?;
            let Some(last) = ids.last() else {
                return Ok(());
            };
            after = last.clone();
            let mut tx = self.begin_write().await?;
            for id in &ids {
                match self.lock_workspace(&mut tx, id, LockMode::Wait).await {
                    Ok(()) => {}
                    // Deleted meanwhile.
                    Err(StoreError::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                }
                // A dormant workspace is deleted `time_til_dormant_autodelete`
                // after it became dormant, under the policy in force now (as
                // Coder's UpdateWorkspacesDormantDeletingAtByTemplateID).
                sqlx::query(
                    "UPDATE workspaces SET deleting_at = (SELECT CASE \
                     WHEN t.time_til_dormant_autodelete_ms > 0 \
                     THEN workspaces.dormant_at + t.time_til_dormant_autodelete_ms END \
                     FROM templates t WHERE t.id = workspaces.template_id) \
                     WHERE id = $1 AND dormant_at IS NOT NULL",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                self.rederive(&mut tx, id).await?;
            }
            tx.commit().await?;
            if ids.len() < REDERIVE_BATCH_LEN {
                return Ok(());
            }
        }
    }

    /// One page of a template's versions, oldest first: a range scan of
    /// the `(template_id, created_at)` index.
    pub async fn template_versions(
        &self,
        template_id: &str,
        page: &Page,
    ) -> Result<PageOf<TemplateVersion>> {
        let (after_ms, after_id) = match page.after() {
            Some(cursor) => cursor.int_text().map_err(StoreError::from)?,
            None => (i64::MIN, ""),
        };
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM template_versions WHERE template_id = $1")
                .bind(template_id)
                .fetch_one(self.pool())
                .await?;
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM template_versions WHERE template_id = $1 \
             AND (created_at, id) > ($2, $3) ORDER BY created_at, id LIMIT $4"
        ))
        .bind(template_id)
        .bind(after_ms)
        .bind(after_id)
        .bind(page.fetch_limit())
        .fetch_all(self.pool())
        .await?;
        let versions = rows
            .iter()
            .map(version_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(PageOf::from_fetched(versions, page, count, |version| {
            Cursor(vec![
                KeyPart::Int(version.created_at.as_millisecond()),
                KeyPart::Text(version.id.clone()),
            ])
        }))
    }

    pub async fn template_version(&self, id: &str) -> Result<Option<TemplateVersion>> {
        let row = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM template_versions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    /// The uploaded files of a version, as stored by the provisioner crate.
    pub async fn template_version_bundle(&self, id: &str) -> Result<Vec<u8>> {
        sqlx::query_scalar("SELECT bundle FROM template_versions WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("template version {id}")))
    }

    pub async fn presets(&self, template_version_id: &str) -> Result<Vec<Preset>> {
        let rows = sqlx::query(&format!(
            "SELECT {PRESET_COLUMNS} FROM presets WHERE template_version_id = $1 ORDER BY name"
        ))
        .bind(template_version_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(preset_from_row).collect()
    }

    pub async fn preset(&self, id: &str) -> Result<Option<Preset>> {
        let row = sqlx::query(&format!(
            "SELECT {PRESET_COLUMNS} FROM presets WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(preset_from_row).transpose()
    }

    /// Presets of active template versions that declare a prebuild pool
    /// (instances or a schedule), with their template.
    pub async fn active_prebuild_presets(&self) -> Result<Vec<(Template, Preset)>> {
        let columns = PRESET_COLUMNS
            .split(", ")
            .map(|c| format!("p.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {TEMPLATE_COLUMNS}, {columns} FROM presets p \
             JOIN templates t ON t.active_version_id = p.template_version_id \
             WHERE p.prebuild_instances > 0 OR p.scheduling_json IS NOT NULL \
             ORDER BY t.name, p.name"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| Ok((template_from_row(row)?, preset_from_row(row)?)))
            .collect()
    }
}

async fn insert_version_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    template_id: &str,
    version_id: &str,
    version: NewTemplateVersion,
    now: Timestamp,
) -> Result<TemplateVersion> {
    sqlx::query(
        "INSERT INTO template_versions (id, template_id, created_at, created_by, provisioner, \
         connect, manifest_json, bundle) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(version_id)
    .bind(template_id)
    .bind(ms(now))
    .bind(&version.created_by)
    .bind(&version.provisioner)
    .bind(&version.connect)
    .bind(&version.manifest_json)
    .bind(&version.bundle)
    .execute(&mut **tx)
    .await?;
    for preset in &version.presets {
        insert_preset_in(tx, version_id, preset).await?;
    }
    Ok(TemplateVersion {
        id: version_id.to_string(),
        template_id: template_id.to_string(),
        created_at: now,
        created_by: version.created_by,
        provisioner: version.provisioner,
        connect: version.connect,
        manifest_json: version.manifest_json,
    })
}

async fn insert_preset_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    version_id: &str,
    preset: &NewPreset,
) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO presets ({PRESET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(new_id())
    .bind(version_id)
    .bind(&preset.name)
    .bind(map_json(&preset.parameters))
    .bind(preset.prebuild_instances)
    .bind(opt_dur_ms(preset.expiration))
    .bind(
        preset
            .scheduling
            .as_ref()
            .and_then(|s| serde_json::to_string(s).ok()),
    )
    .execute(&mut **tx)
    .await
    .map_err(|e| conflict_on_unique(e, || format!("duplicate preset name {:?}", preset.name)))?;
    Ok(())
}
