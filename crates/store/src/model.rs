//! The data model of DESIGN §2 as plain Rust values.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use dayshift_schedule::{SignedDuration, Timestamp, Weekdays};

/// Declares a string-backed enum with `as_str` and `FromStr`, so the
/// spelling stored in the database is written exactly once.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = crate::StoreError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(crate::StoreError::Corrupt(format!(
                        concat!("unknown ", stringify!($name), " {:?}"), other
                    ))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(Role { Owner = "owner", Member = "member" });
text_enum!(Transition { Start = "start", Stop = "stop", Delete = "delete" });
text_enum!(BuildReason {
    Initiator = "initiator",
    Autostart = "autostart",
    Autostop = "autostop",
    Failedstop = "failedstop",
    Dormancy = "dormancy",
    Autodelete = "autodelete",
    Prebuild = "prebuild",
    PrebuildClaim = "prebuild_claim",
});
text_enum!(JobStatus {
    Pending = "pending",
    Running = "running",
    Succeeded = "succeeded",
    Failed = "failed",
    Canceled = "canceled",
});
text_enum!(WorkspaceStatus {
    Pending = "pending",
    Starting = "starting",
    Running = "running",
    Stopping = "stopping",
    Stopped = "stopped",
    Failed = "failed",
    Canceling = "canceling",
    Canceled = "canceled",
    Deleting = "deleting",
    Deleted = "deleted",
});

impl JobStatus {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled
        )
    }
}

impl WorkspaceStatus {
    /// DESIGN §2: the workspace status is derived from the latest build's
    /// transition and job status.
    pub fn derive(transition: Transition, job: JobStatus) -> WorkspaceStatus {
        use JobStatus as J;
        use Transition as T;
        match (transition, job) {
            (_, J::Pending) => WorkspaceStatus::Pending,
            (T::Start, J::Running) => WorkspaceStatus::Starting,
            (T::Stop, J::Running) => WorkspaceStatus::Stopping,
            (T::Delete, J::Running) => WorkspaceStatus::Deleting,
            (T::Start, J::Succeeded) => WorkspaceStatus::Running,
            (T::Stop, J::Succeeded) => WorkspaceStatus::Stopped,
            (T::Delete, J::Succeeded) => WorkspaceStatus::Deleted,
            (_, J::Failed) => WorkspaceStatus::Failed,
            (_, J::Canceled) => WorkspaceStatus::Canceled,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    /// System users (`prebuilds`) cannot log in.
    pub is_system: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
}

/// The schedule policies of a template (DESIGN §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplatePolicy {
    pub default_ttl: SignedDuration,
    pub activity_bump: SignedDuration,
    pub autostop_requirement_days: Weekdays,
    pub autostop_requirement_weeks: u32,
    pub autostart_requirement_days: Weekdays,
    pub allow_user_autostart: bool,
    pub allow_user_autostop: bool,
    pub failure_ttl: SignedDuration,
    pub time_til_dormant: SignedDuration,
    pub time_til_dormant_autodelete: SignedDuration,
}

impl Default for TemplatePolicy {
    fn default() -> Self {
        TemplatePolicy {
            default_ttl: SignedDuration::ZERO,
            activity_bump: SignedDuration::from_hours(1),
            autostop_requirement_days: Weekdays::NONE,
            autostop_requirement_weeks: 1,
            autostart_requirement_days: Weekdays::ALL,
            allow_user_autostart: true,
            allow_user_autostop: true,
            failure_ttl: SignedDuration::ZERO,
            time_til_dormant: SignedDuration::ZERO,
            time_til_dormant_autodelete: SignedDuration::ZERO,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub active_version_id: String,
    pub created_at: Timestamp,
    pub policy: TemplatePolicy,
}

/// A template version without its (possibly large) file bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateVersion {
    pub id: String,
    pub template_id: String,
    /// Unique per template: given at push, else generated (`v3`).
    pub name: String,
    pub created_at: Timestamp,
    pub created_by: String,
    pub provisioner: String,
    pub connect: Option<String>,
    /// The parsed manifest as JSON (owned by the provisioner crate).
    pub manifest_json: String,
}

#[derive(Debug, Clone)]
pub struct NewTemplateVersion {
    /// `None`: the store generates `v<N>`, the first such name free in
    /// the template.
    pub name: Option<String>,
    pub created_by: String,
    pub provisioner: String,
    pub connect: Option<String>,
    pub manifest_json: String,
    pub bundle: Vec<u8>,
    pub presets: Vec<NewPreset>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPreset {
    pub name: String,
    pub parameters: BTreeMap<String, String>,
    pub prebuild_instances: i64,
    pub expiration: Option<SignedDuration>,
    pub scheduling: Option<PresetScheduling>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    pub id: String,
    pub template_version_id: String,
    pub name: String,
    pub parameters: BTreeMap<String, String>,
    pub prebuild_instances: i64,
    pub expiration: Option<SignedDuration>,
    pub scheduling: Option<PresetScheduling>,
}

/// A preset's prebuild schedules: in force while `t` lies in a
/// schedule's time range (DESIGN §3 "Prebuilds").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PresetScheduling {
    pub timezone: String,
    pub schedule: Vec<PresetSchedule>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PresetSchedule {
    pub cron: String,
    pub instances: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: String,
    pub owner_id: String,
    pub owner_name: String,
    pub name: String,
    pub template_id: String,
    pub created_at: Timestamp,
    pub autostart_schedule: Option<String>,
    /// When the autostart schedule was last set or cleared.
    pub autostart_set_at: Option<Timestamp>,
    pub ttl: Option<SignedDuration>,
    pub last_used_at: Timestamp,
    pub dormant_at: Option<Timestamp>,
    pub deleting_at: Option<Timestamp>,
    pub next_start_at: Option<Timestamp>,
    /// Earliest instant at which a lifecycle rule may apply (indexed).
    pub next_due_at: Option<Timestamp>,
    pub deleted: bool,
    /// Set while the workspace is an unclaimed prebuild of this preset.
    pub prebuild_preset_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub id: String,
    pub workspace_id: String,
    pub build_number: i64,
    pub transition: Transition,
    pub reason: BuildReason,
    pub template_version_id: String,
    pub parameters: BTreeMap<String, String>,
    pub initiator_id: String,
    pub created_at: Timestamp,
    pub deadline: Option<Timestamp>,
    pub max_deadline: Option<Timestamp>,
    pub job: Job,
    pub outputs: BTreeMap<String, String>,
}

impl Build {
    pub fn status(&self) -> WorkspaceStatus {
        WorkspaceStatus::derive(self.transition, self.job.status)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub status: JobStatus,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub error: Option<String>,
    pub worker: Option<String>,
    pub heartbeat_at: Option<Timestamp>,
}

/// A workspace with everything a lifecycle decision or an API answer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceState {
    pub workspace: Workspace,
    pub build: Build,
    pub template: Template,
    /// The template's `connect` command of the latest build's version.
    pub connect: Option<String>,
    /// Template version and parameter values of the latest successful
    /// build (or of the latest build when none succeeded): what a new
    /// build of this workspace reuses (DESIGN §3).
    pub reuse_version_id: String,
    pub reuse_parameters: BTreeMap<String, String>,
}

impl WorkspaceState {
    pub fn status(&self) -> WorkspaceStatus {
        self.build.status()
    }

    pub fn is_outdated(&self) -> bool {
        self.build.template_version_id != self.template.active_version_id
    }
}

/// A build to insert; the store assigns its id and the next build number.
#[derive(Debug, Clone)]
pub struct NewBuild {
    pub transition: Transition,
    pub reason: BuildReason,
    pub template_version_id: String,
    pub parameters: BTreeMap<String, String>,
    pub initiator_id: String,
}

/// Changes to one workspace, applied atomically under its lock.
/// `None` leaves a field as it is; `Some(None)` clears a nullable field.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceChange {
    pub autostart_schedule: Option<Option<String>>,
    pub ttl: Option<Option<SignedDuration>>,
    pub last_used_at: Option<Timestamp>,
    pub dormant_at: Option<Option<Timestamp>>,
    pub deleting_at: Option<Option<Timestamp>>,
    pub owner_id: Option<String>,
    pub name: Option<String>,
    pub prebuild_preset_id: Option<Option<String>>,
    /// New deadline and max deadline of the latest build.
    pub deadlines: Option<(Option<Timestamp>, Option<Timestamp>)>,
    pub new_build: Option<NewBuild>,
}

impl WorkspaceChange {
    pub fn is_empty(&self) -> bool {
        self.autostart_schedule.is_none()
            && self.ttl.is_none()
            && self.last_used_at.is_none()
            && self.dormant_at.is_none()
            && self.deleting_at.is_none()
            && self.owner_id.is_none()
            && self.name.is_none()
            && self.prebuild_preset_id.is_none()
            && self.deadlines.is_none()
            && self.new_build.is_none()
    }
}

/// Times derived from a workspace's state, kept in indexed columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DerivedTimes {
    pub next_start_at: Option<Timestamp>,
    pub next_due_at: Option<Timestamp>,
}

/// The lifecycle rules the store applies inside its transactions, injected
/// so the store holds data, not rules (implemented by `dayshift-lifecycle`).
pub trait Policy: Send + Sync {
    /// Derived times of a workspace; recomputed on every write to it.
    fn derive(&self, state: &WorkspaceState) -> DerivedTimes;
    /// `(deadline, max_deadline)` for a start build that just succeeded at `now`.
    fn start_deadlines(
        &self,
        state: &WorkspaceState,
        now: Timestamp,
    ) -> (Option<Timestamp>, Option<Timestamp>);
}

/// A policy with no rules: nothing is ever due and builds get no deadline.
/// Used by store tests that exercise storage alone.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPolicy;

impl Policy for NoPolicy {
    fn derive(&self, _state: &WorkspaceState) -> DerivedTimes {
        DerivedTimes::default()
    }
    fn start_deadlines(
        &self,
        _state: &WorkspaceState,
        _now: Timestamp,
    ) -> (Option<Timestamp>, Option<Timestamp>) {
        (None, None)
    }
}

/// A build job handed to a provisioner daemon.
#[derive(Debug, Clone)]
pub struct JobAssignment {
    pub build: Build,
    pub workspace_name: String,
    pub owner_name: String,
    /// The manifest of the build's template version, read in the same
    /// transaction, so a daemon never holds a job it cannot interpret.
    pub manifest_json: String,
    /// The workspace's packed state directory as the last build that left
    /// one stored it (see [`Store::complete_job_with_state`]); `None`
    /// before the first.
    ///
    /// [`Store::complete_job_with_state`]: crate::Store::complete_job_with_state
    pub state: Option<Vec<u8>>,
}

/// What a finished job reports.
#[derive(Debug, Clone)]
pub struct JobResult {
    pub success: bool,
    pub error: Option<String>,
    pub outputs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub id: i64,
    pub created_at: Timestamp,
    pub stream: String,
    pub output: String,
}
