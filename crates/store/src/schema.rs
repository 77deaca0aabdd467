//! Schema migrations, written once for both backends. The few type names
//! that differ are placeholders substituted per dialect, so the two schemas
//! cannot drift apart.

use crate::Dialect;

/// Ordered migrations; a database records the highest version applied in
/// `schema_version` and refuses to start when it is newer than the binary.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[(1, V1), (2, V2), (3, V3), (5, V5)];

const V1: &str = r#"
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    is_system BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE templates (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    active_version_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    default_ttl_ms BIGINT NOT NULL DEFAULT 0,
    activity_bump_ms BIGINT NOT NULL DEFAULT 3600000,
    autostop_requirement_days BIGINT NOT NULL DEFAULT 0,
    autostop_requirement_weeks BIGINT NOT NULL DEFAULT 1,
    autostart_requirement_days BIGINT NOT NULL DEFAULT 127,
    allow_user_autostart BIGINT NOT NULL DEFAULT 1,
    allow_user_autostop BIGINT NOT NULL DEFAULT 1,
    failure_ttl_ms BIGINT NOT NULL DEFAULT 0,
    time_til_dormant_ms BIGINT NOT NULL DEFAULT 0,
    time_til_dormant_autodelete_ms BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE template_versions (
    id TEXT PRIMARY KEY,
    template_id TEXT NOT NULL REFERENCES templates(id),
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users(id),
    provisioner TEXT NOT NULL,
    connect TEXT,
    manifest_json TEXT NOT NULL,
    bundle {BLOB} NOT NULL
);
CREATE INDEX template_versions_template ON template_versions(template_id, created_at);
CREATE TABLE presets (
    id TEXT PRIMARY KEY,
    template_version_id TEXT NOT NULL REFERENCES template_versions(id),
    name TEXT NOT NULL,
    parameters_json TEXT NOT NULL,
    prebuild_instances BIGINT NOT NULL DEFAULT 0,
    expiration_ms BIGINT,
    scheduling_json TEXT,
    UNIQUE (template_version_id, name)
);
CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    template_id TEXT NOT NULL REFERENCES templates(id),
    created_at BIGINT NOT NULL,
    autostart_schedule TEXT,
    ttl_ms BIGINT,
    last_used_at BIGINT NOT NULL,
    dormant_at BIGINT,
    deleting_at BIGINT,
    next_start_at BIGINT,
    next_due_at BIGINT,
    deleted BIGINT NOT NULL DEFAULT 0,
    prebuild_preset_id TEXT,
    latest_build_id TEXT
);
CREATE UNIQUE INDEX workspaces_owner_name ON workspaces(owner_id, name) WHERE deleted = 0;
CREATE INDEX workspaces_next_due ON workspaces(next_due_at) WHERE deleted = 0 AND next_due_at IS NOT NULL;
CREATE INDEX workspaces_prebuild ON workspaces(prebuild_preset_id) WHERE deleted = 0 AND prebuild_preset_id IS NOT NULL;
CREATE INDEX workspaces_template ON workspaces(template_id) WHERE deleted = 0;
CREATE TABLE workspace_builds (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    build_number BIGINT NOT NULL,
    transition TEXT NOT NULL,
    reason TEXT NOT NULL,
    template_version_id TEXT NOT NULL REFERENCES template_versions(id),
    parameters_json TEXT NOT NULL,
    initiator_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deadline BIGINT,
    max_deadline BIGINT,
    job_status TEXT NOT NULL,
    job_started_at BIGINT,
    job_completed_at BIGINT,
    job_error TEXT,
    job_worker TEXT,
    job_heartbeat_at BIGINT,
    outputs_json TEXT NOT NULL DEFAULT '{}',
    UNIQUE (workspace_id, build_number)
);
CREATE INDEX workspace_builds_pending ON workspace_builds(created_at) WHERE job_status = 'pending';
CREATE INDEX workspace_builds_running ON workspace_builds(job_heartbeat_at) WHERE job_status = 'running';
CREATE TABLE build_logs (
    id {SERIAL_PK},
    build_id TEXT NOT NULL REFERENCES workspace_builds(id),
    created_at BIGINT NOT NULL,
    stream TEXT NOT NULL,
    output TEXT NOT NULL
);
CREATE INDEX build_logs_build ON build_logs(build_id, id);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#;

/// Prebuild pools: the preset a workspace was prebuilt for, kept after it
/// is claimed (`prebuild_preset_id` is cleared then), so a preset's build
/// history (failure backoff, hard limit, created/claimed totals) survives
/// claims and deletions.
const V2: &str = r#"
ALTER TABLE workspaces ADD COLUMN prebuild_origin_preset_id TEXT;
CREATE INDEX workspaces_prebuild_origin ON workspaces(prebuild_origin_preset_id) WHERE prebuild_origin_preset_id IS NOT NULL;
"#;

/// When the autostart schedule was last set: autostart counts slots from
/// the later of this and the stop build, so setting a schedule on a
/// workspace stopped last week does not start it at once for a slot that
/// passed before the schedule existed.
const V3: &str = r#"
ALTER TABLE workspaces ADD COLUMN autostart_set_at BIGINT;
"#;

/// Workspace state follows the workspace: the packed `DAYSHIFT_STATE_DIR`
/// of its latest build that left one (a gzip-compressed tar), restored by
/// whichever daemon runs the next build. One row per workspace, written in
/// the transaction that completes the build, removed when a delete build
/// succeeds.
const V5: &str = r#"
CREATE TABLE workspace_states (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces(id),
    build_id TEXT NOT NULL REFERENCES workspace_builds(id),
    archive {BLOB} NOT NULL,
    size_bytes BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
"#;

/// The migration text for one dialect.
pub(crate) fn render(sql: &str, dialect: Dialect) -> String {
    let (blob, serial) = match dialect {
        Dialect::Sqlite => ("BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        Dialect::Postgres => ("BYTEA", "BIGSERIAL PRIMARY KEY"),
    };
    sql.replace("{BLOB}", blob).replace("{SERIAL_PK}", serial)
}

/// Splits a migration into statements (none of ours contain `;` in literals).
pub(crate) fn statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(';').map(str::trim).filter(|s| !s.is_empty())
}
