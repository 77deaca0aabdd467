use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The error body of every 4xx/5xx answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ApiError {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validations: Vec<ValidationError>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub detail: String,
}

/// A plain acknowledgement.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Response {
    pub message: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Member,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    pub role: Role,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateFirstUserRequest {
    #[schema(min_length = 1, max_length = 32, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub username: String,
    #[schema(
        max_length = 254,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f.][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s\x00-\x1f\x7f-\x9f]*$"
    )]
    pub email: String,
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    #[schema(min_length = 1, max_length = 32, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub username: String,
    #[schema(
        max_length = 254,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f.][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s\x00-\x1f\x7f-\x9f]*$"
    )]
    pub email: String,
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
    #[serde(default)]
    pub role: Option<Role>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(max_length = 254)]
    pub username: String,
    #[schema(max_length = 256)]
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    pub session_token: String,
    pub user: User,
}

/// How a session was started.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    /// An API token (`dayshift login`, scripts).
    Token,
    /// A web dashboard cookie.
    Cookie,
}

/// A session as listed by `GET /users/me/sessions` (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub kind: SessionKind,
    /// What started it: the client's `User-Agent`, e.g. `dayshift-cli/0.1.0`.
    pub label: String,
    pub created_at: Timestamp,
    /// Kept to the minute.
    pub last_used_at: Timestamp,
    pub expires_at: Timestamp,
    /// The session this request was made with.
    pub current: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<Session>,
}

/// `DELETE /users/{user}/sessions`: how many sessions ended.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionsEnded {
    pub ended: u64,
}

/// `PUT /users/{user}/password`. Changing one's own password needs the
/// current one; an owner resetting another user's does not.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub old_password: Option<String>,
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
}

/// One file of an uploaded template directory.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateFile {
    /// Relative, `/`-separated; each name at most 255 bytes.
    #[schema(min_length = 1, max_length = 1024)]
    pub path: String,
    /// Unix permission bits, e.g. 493 (0o755) for scripts.
    pub mode: u32,
    pub content_base64: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateTemplateRequest {
    #[schema(min_length = 1, max_length = 32, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub name: String,
    pub files: Vec<TemplateFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateTemplateVersionRequest {
    pub files: Vec<TemplateFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct AutostopRequirement {
    /// Day names, lowercase, e.g. `["saturday"]`; empty = no requirement.
    pub days_of_week: Vec<String>,
    /// Every N weeks (1-16), counted from Monday 2023-01-02.
    pub weeks: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct AutostartRequirement {
    /// Days on which autostart may fire; all seven by default.
    pub days_of_week: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub active_version_id: String,
    pub created_at: Timestamp,
    pub default_ttl_ms: i64,
    pub activity_bump_ms: i64,
    pub autostop_requirement: AutostopRequirement,
    pub autostart_requirement: AutostartRequirement,
    pub allow_user_autostart: bool,
    pub allow_user_autostop: bool,
    pub failure_ttl_ms: i64,
    pub time_til_dormant_ms: i64,
    pub time_til_dormant_autodelete_ms: i64,
}

/// `PATCH /templates/{id}`: every field optional; absent = unchanged.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTemplateRequest {
    pub default_ttl_ms: Option<i64>,
    pub activity_bump_ms: Option<i64>,
    pub failure_ttl_ms: Option<i64>,
    pub time_til_dormant_ms: Option<i64>,
    pub time_til_dormant_autodelete_ms: Option<i64>,
    pub autostop_requirement: Option<AutostopRequirement>,
    pub autostart_requirement: Option<AutostartRequirement>,
    pub allow_user_autostart: Option<bool>,
    pub allow_user_autostop: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateParameter {
    pub name: String,
    pub default: Option<String>,
    pub options: Vec<String>,
    pub mutable: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Preset {
    pub id: String,
    pub name: String,
    pub parameters: BTreeMap<String, String>,
    pub prebuild_instances: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateVersion {
    pub id: String,
    pub template_id: String,
    pub created_at: Timestamp,
    pub created_by: String,
    pub active: bool,
    pub provisioner: String,
    pub parameters: Vec<TemplateParameter>,
    pub presets: Vec<Preset>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    Start,
    Stop,
    Delete,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Start => "start",
            Transition::Stop => "stop",
            Transition::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BuildReason {
    Initiator,
    Autostart,
    Autostop,
    Failedstop,
    Dormancy,
    Autodelete,
    Prebuild,
    PrebuildClaim,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceStatus {
    Pending,
    Starting,
    Running,
    Stopping,
    Stopped,
    Failed,
    Canceling,
    Canceled,
    Deleting,
    Deleted,
}

impl WorkspaceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkspaceStatus::Pending => "pending",
            WorkspaceStatus::Starting => "starting",
            WorkspaceStatus::Running => "running",
            WorkspaceStatus::Stopping => "stopping",
            WorkspaceStatus::Stopped => "stopped",
            WorkspaceStatus::Failed => "failed",
            WorkspaceStatus::Canceling => "canceling",
            WorkspaceStatus::Canceled => "canceled",
            WorkspaceStatus::Deleting => "deleting",
            WorkspaceStatus::Deleted => "deleted",
        }
    }

    /// True once the build behind this status can no longer change.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            WorkspaceStatus::Running
                | WorkspaceStatus::Stopped
                | WorkspaceStatus::Failed
                | WorkspaceStatus::Canceled
                | WorkspaceStatus::Deleted
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceBuild {
    pub id: String,
    pub workspace_id: String,
    pub build_number: i64,
    pub transition: Transition,
    pub status: WorkspaceStatus,
    pub job_status: JobStatus,
    pub reason: BuildReason,
    /// `null` = no autostop.
    pub deadline: Option<Timestamp>,
    pub max_deadline: Option<Timestamp>,
    pub template_version_id: String,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub error: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    pub owner_name: String,
    pub template_id: String,
    pub template_name: String,
    pub status: WorkspaceStatus,
    pub autostart_schedule: Option<String>,
    /// Set when the stored autostart schedule cannot be evaluated (e.g. its
    /// zone is unknown to this server's time zone database): the workspace
    /// will not start on schedule until the schedule is set again.
    #[serde(default)]
    pub autostart_error: Option<String>,
    pub ttl_ms: Option<i64>,
    pub next_start_at: Option<Timestamp>,
    pub last_used_at: Timestamp,
    pub dormant_at: Option<Timestamp>,
    pub deleting_at: Option<Timestamp>,
    pub outdated: bool,
    pub created_at: Timestamp,
    /// The template's `connect` command of the build's version, if any.
    pub connect: Option<String>,
    pub latest_build: WorkspaceBuild,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspaceRequest {
    #[schema(min_length = 1, max_length = 32, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub name: String,
    /// Template name or id.
    #[schema(max_length = 64)]
    pub template: String,
    #[serde(default)]
    #[schema(max_length = 64)]
    pub template_version_id: Option<String>,
    /// At most 64; names up to 64 bytes, values up to 4096.
    #[serde(default)]
    pub parameters: Option<BTreeMap<String, String>>,
    #[serde(default)]
    #[schema(max_length = 64)]
    pub preset: Option<String>,
    /// Cron (DESIGN §4), at most 256 bytes; stored normalised.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub autostart_schedule: Option<String>,
    #[serde(default)]
    pub ttl_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBuildRequest {
    pub transition: Transition,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BuildLogLine {
    pub id: i64,
    pub created_at: Timestamp,
    /// `stdout`, `stderr` or `system`.
    pub stream: String,
    pub output: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpdateAutostartRequest {
    /// Cron (DESIGN §4), at most 256 bytes; `null` or `""` clears it.
    #[schema(max_length = 256)]
    pub schedule: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpdateTtlRequest {
    pub ttl_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExtendRequest {
    pub deadline: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpdateDormantRequest {
    pub dormant: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct PreviewPoint {
    pub at: Timestamp,
    /// The same instant in the schedule's zone, RFC 3339 with offset.
    pub local: String,
}

/// A maximal continuous range of a schedule. `null` is an unbounded end:
/// a range already under way as far back as the search looked (`start`),
/// or one that never ends (`end`, e.g. `* * * * *`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct PreviewRange {
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PrebuildPreset {
    pub template_name: String,
    pub preset_name: String,
    pub template_version_id: String,
    pub desired: i64,
    pub running: i64,
    pub starting: i64,
    pub eligible: i64,
    pub hard_limited: bool,
    /// The schedule whose range holds now, or `null` when the default applies.
    pub schedule_in_force: Option<String>,
    pub next_change_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PrebuildSettings {
    pub reconciliation_paused: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DebugClockRequest {
    pub now: Option<Timestamp>,
    /// A duration such as `90m`.
    pub advance: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct AutobuildStats {
    /// Workspace id -> `start|stop|delete`.
    pub transitions: BTreeMap<String, String>,
    /// Workspace id -> error message.
    pub errors: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ReconcileStats {
    pub created: u64,
    pub deleted: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DebugClockResponse {
    pub now: Timestamp,
    pub autobuild: AutobuildStats,
    pub prebuilds: ReconcileStats,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub database: String,
}

// --- external provisioner daemons (`/api/v2/provisioner/...`) -------------

/// Header with which external provisioner daemons authenticate: the
/// server's `--provisioner-psk`.
pub const PROVISIONER_KEY_HEADER: &str = "Dayshift-Provisioner-Key";

/// `POST /api/v2/provisioner/jobs/acquire`: answers a job (200) or, after
/// waiting up to `wait_ms` (default and at most 25s) without one, 204.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcquireJobRequest {
    /// The daemon's name, recorded on the job; unique per daemon.
    pub worker: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
}

/// A build job handed to an external provisioner daemon.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProvisionerJob {
    pub build_id: String,
    pub workspace_id: String,
    pub workspace_name: String,
    pub owner_name: String,
    pub transition: Transition,
    pub parameters: BTreeMap<String, String>,
    pub template_version_id: String,
    /// The version's parsed `dayshift.toml`.
    #[schema(value_type = Object)]
    pub manifest: serde_json::Value,
    /// Send a heartbeat at least this often, or the job is failed.
    pub heartbeat_interval_ms: u64,
}

/// `GET /api/v2/provisioner/template-versions/{id}/bundle`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateBundleResponse {
    /// The bundle as stored (JSON list of files), base64.
    pub bundle_base64: String,
}

/// Identifies the daemon sending a heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobHeartbeatRequest {
    pub worker: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobLogLine {
    /// `stdout`, `stderr` or `system`.
    pub stream: String,
    pub output: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobLogsRequest {
    pub worker: String,
    pub lines: Vec<JobLogLine>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteJobRequest {
    pub worker: String,
    pub success: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
}

/// A page of a list (DESIGN §7 "Lists are paginated"): its rows, the
/// number of rows matching the whole query, and the cursor of the next
/// page (`None` on the last), to pass back as `?after=`.
pub trait Paged: serde::de::DeserializeOwned {
    type Item;
    /// The cursor of the next page; `None` on the last.
    fn next_cursor(&self) -> Option<&str>;
    /// Rows, count and next cursor.
    fn into_parts(self) -> (Vec<Self::Item>, i64, Option<String>);
}

/// Declares a page type whose rows are under `$field`, as every paginated
/// list answers `{"<rows>": [...], "count": N, "next": cursor | null}`.
macro_rules! page_type {
    ($(#[$meta:meta])* $name:ident { $field:ident: $item:ty }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
        pub struct $name {
            pub $field: Vec<$item>,
            /// Rows matching the query, on all pages.
            pub count: i64,
            /// Cursor of the next page (pass as `after`); null on the last page.
            pub next: Option<String>,
        }

        impl Paged for $name {
            type Item = $item;
            fn next_cursor(&self) -> Option<&str> {
                self.next.as_deref()
            }
            fn into_parts(self) -> (Vec<$item>, i64, Option<String>) {
                (self.$field, self.count, self.next)
            }
        }
    };
}

page_type!(
    /// `GET /workspaces`, sorted by owner name and name.
    WorkspacesPage { workspaces: Workspace }
);
page_type!(
    /// `GET /workspaces/{id}/builds`, newest first.
    WorkspaceBuildsPage { builds: WorkspaceBuild }
);
page_type!(
    /// `GET /templates/{id}/versions`, oldest first.
    TemplateVersionsPage { versions: TemplateVersion }
);
page_type!(
    /// `GET /users` (owners only), by username.
    UsersPage { users: User }
);
page_type!(
    /// `GET /prebuilds`, by template and preset name.
    PrebuildsPage { prebuilds: PrebuildPreset }
);

/// Query of `GET /workspaces`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspaceListQuery {
    /// Coder-style search, e.g. `owner:me status:running`.
    pub q: Option<String>,
    /// Owners: everybody's workspaces (members always see only their own).
    pub all: bool,
    pub limit: Option<u32>,
}
