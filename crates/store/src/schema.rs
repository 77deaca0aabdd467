//! Schema migrations, written once for both backends. The few type names
//! that differ are placeholders substituted per dialect, so the two schemas
//! cannot drift apart.

use crate::Dialect;

/// Ordered migrations; a database records the highest version applied in
/// `schema_version` and refuses to start when it is newer than the binary.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[(1, V1), (2, V2), (3, V3), (6, V6), (8, V8)];

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

/// Lists as index range scans (issue 12). The workspace list is sorted by
/// `(owner_name, name, id)` and filtered by status, template, outdatedness
/// and dormancy, so those are denormalised onto the workspace row (kept
/// true in the same transaction as every write, see `store_derived`) and
/// each filter has an index whose suffix is the sort key: a page is one
/// range scan whatever the filter. Search counts come from
/// `workspace_counts` (one row per owner, template, status, outdatedness
/// and dormancy) plus `workspace_count_deltas`, which writers only insert
/// into (no hot row) and which are folded into the totals now and then;
/// `counted`/`counted_dormant` record how a workspace is counted now.
/// Terminal job counts for `/metrics` are
/// kept in `job_totals`, sharded by build id so concurrent completions do
/// not queue on one counter row; unfinished ones are counted through the
/// partial indexes of V1.
const V6: &str = r#"
ALTER TABLE workspaces ADD COLUMN owner_name TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN status TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN outdated BIGINT NOT NULL DEFAULT 0;
UPDATE workspaces SET owner_name = COALESCE((SELECT u.username FROM users u WHERE u.id = workspaces.owner_id), '');
UPDATE workspaces SET status = COALESCE((SELECT CASE
        WHEN b.job_status = 'running' AND b.transition = 'start' THEN 'starting'
        WHEN b.job_status = 'running' AND b.transition = 'stop' THEN 'stopping'
        WHEN b.job_status = 'running' THEN 'deleting'
        WHEN b.job_status = 'succeeded' AND b.transition = 'start' THEN 'running'
        WHEN b.job_status = 'succeeded' AND b.transition = 'stop' THEN 'stopped'
        WHEN b.job_status = 'succeeded' THEN 'deleted'
        ELSE b.job_status END
    FROM workspace_builds b WHERE b.id = workspaces.latest_build_id), '');
UPDATE workspaces SET outdated = COALESCE((SELECT CASE WHEN b.template_version_id = t.active_version_id THEN 0 ELSE 1 END
    FROM workspace_builds b, templates t
    WHERE b.id = workspaces.latest_build_id AND t.id = workspaces.template_id), 0);
CREATE INDEX workspaces_list ON workspaces(owner_name, name, id) WHERE deleted = 0;
CREATE INDEX workspaces_list_template ON workspaces(template_id, owner_name, name, id) WHERE deleted = 0;
CREATE INDEX workspaces_list_status ON workspaces(status, owner_name, name, id) WHERE deleted = 0;
CREATE INDEX workspaces_list_outdated ON workspaces(outdated, owner_name, name, id) WHERE deleted = 0;
CREATE INDEX workspaces_list_dormant ON workspaces(owner_name, name, id) WHERE deleted = 0 AND dormant_at IS NOT NULL;
ALTER TABLE workspaces ADD COLUMN counted BIGINT NOT NULL DEFAULT 0;
ALTER TABLE workspaces ADD COLUMN counted_dormant BIGINT NOT NULL DEFAULT 0;
UPDATE workspaces SET counted = 1 - deleted, counted_dormant = CASE WHEN dormant_at IS NULL THEN 0 ELSE 1 END;
CREATE TABLE workspace_counts (
    owner_name TEXT NOT NULL,
    template_id TEXT NOT NULL,
    status TEXT NOT NULL,
    outdated BIGINT NOT NULL,
    dormant BIGINT NOT NULL,
    total BIGINT NOT NULL,
    PRIMARY KEY (owner_name, template_id, status, outdated, dormant)
);
INSERT INTO workspace_counts (owner_name, template_id, status, outdated, dormant, total)
    SELECT owner_name, template_id, status, outdated, counted_dormant, COUNT(*) FROM workspaces
    WHERE counted = 1 GROUP BY owner_name, template_id, status, outdated, counted_dormant;
CREATE TABLE workspace_count_deltas (
    id {SERIAL_PK},
    owner_name TEXT NOT NULL,
    template_id TEXT NOT NULL,
    status TEXT NOT NULL,
    outdated BIGINT NOT NULL,
    dormant BIGINT NOT NULL,
    delta BIGINT NOT NULL
);
CREATE TABLE job_totals (
    status TEXT NOT NULL,
    shard BIGINT NOT NULL,
    total BIGINT NOT NULL,
    PRIMARY KEY (status, shard)
);
INSERT INTO job_totals (status, shard, total)
    SELECT job_status, 0, COUNT(*) FROM workspace_builds
    WHERE job_status IN ('succeeded', 'failed', 'canceled') GROUP BY job_status
"#;

/// Sessions get a public id (listed and ended by it, never by the secret's
/// hash), a kind (API token or dashboard cookie), a label and when they were
/// last used. Sessions from before get an id derived from their hash (a
/// SHA-256 prefix reveals nothing of the token).
const V8: &str = r#"
ALTER TABLE api_tokens ADD COLUMN id TEXT;
ALTER TABLE api_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'token';
ALTER TABLE api_tokens ADD COLUMN label TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
UPDATE api_tokens SET id = substr(token_hash, 1, 32), last_used_at = created_at WHERE id IS NULL;
CREATE UNIQUE INDEX api_tokens_id ON api_tokens(id);
CREATE INDEX api_tokens_user ON api_tokens(user_id, expires_at);
CREATE INDEX api_tokens_expiry ON api_tokens(expires_at);
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
