//! The executor's decision: a pure function of a workspace's state and
//! `now` (DESIGN §3 "Autobuild executor"). Each rule is its own function so
//! its boundary can be tested alone; [`decide`] checks them in the order of
//! the design, and the first that applies wins.

use dayshift_schedule::Timestamp;
use dayshift_store::{BuildReason, JobStatus, Transition, WorkspaceState, WorkspaceStatus};

use crate::rules::{autostart_reference, next_autostart, FAILED_DELETE_RETRY};

/// What the executor should do with one workspace now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Queue a build.
    Build {
        transition: Transition,
        reason: BuildReason,
    },
    /// Mark the workspace dormant, stopping it first when it runs.
    Dormant { stop: bool },
}

impl Decision {
    pub fn transition(self) -> Option<Transition> {
        match self {
            Decision::Build { transition, .. } => Some(transition),
            Decision::Dormant { stop: true } => Some(Transition::Stop),
            Decision::Dormant { stop: false } => None,
        }
    }

    pub fn reason(self) -> BuildReason {
        match self {
            Decision::Build { reason, .. } => reason,
            Decision::Dormant { .. } => BuildReason::Dormancy,
        }
    }
}

/// The first rule that applies, or `None`. A workspace whose latest build
/// is unfinished, and an unclaimed prebuild, are never touched.
pub fn decide(state: &WorkspaceState, now: Timestamp) -> Option<Decision> {
    if !state.build.job.status.is_finished()
        || state.workspace.deleted
        || state.workspace.prebuild_preset_id.is_some()
    {
        return None;
    }
    if autostart_due(state, now) {
        return Some(Decision::Build {
            transition: Transition::Start,
            reason: BuildReason::Autostart,
        });
    }
    if autostop_due(state, now) {
        return Some(Decision::Build {
            transition: Transition::Stop,
            reason: BuildReason::Autostop,
        });
    }
    if failed_stop_due(state, now) {
        return Some(Decision::Build {
            transition: Transition::Stop,
            reason: BuildReason::Failedstop,
        });
    }
    if dormancy_due(state, now) {
        let running = state.build.transition == Transition::Start
            && state.build.job.status == JobStatus::Succeeded;
        return Some(Decision::Dormant { stop: running });
    }
    if autodelete_due(state, now) {
        return Some(Decision::Build {
            transition: Transition::Delete,
            reason: BuildReason::Autodelete,
        });
    }
    None
}

/// Latest build is a successful stop, the schedule is set and allowed, the
/// next allowed autostart after that build's creation (or after the
/// schedule was set, if later: see [`autostart_reference`]) is `<= now`,
/// and the workspace is not dormant. A workspace stopped after today's slot
/// waits for tomorrow's.
pub fn autostart_due(state: &WorkspaceState, now: Timestamp) -> bool {
    let build = &state.build;
    build.transition == Transition::Stop
        && build.job.status == JobStatus::Succeeded
        && next_autostart(state, autostart_reference(state)).is_some_and(|next| next <= now)
}

/// Latest build is a successful start with a deadline `<= now`.
pub fn autostop_due(state: &WorkspaceState, now: Timestamp) -> bool {
    let build = &state.build;
    build.transition == Transition::Start
        && build.job.status == JobStatus::Succeeded
        && build.deadline.is_some_and(|deadline| deadline <= now)
}

/// Latest build is a failed start, the template's failure TTL is on and
/// strictly more than it has passed since the job completed.
pub fn failed_stop_due(state: &WorkspaceState, now: Timestamp) -> bool {
    let build = &state.build;
    let failure_ttl = state.template.policy.failure_ttl;
    build.transition == Transition::Start
        && build.job.status == JobStatus::Failed
        && failure_ttl.is_positive()
        && build
            .job
            .completed_at
            .is_some_and(|completed| now.duration_since(completed) > failure_ttl)
}

/// Dormancy is on, the workspace is not dormant, and strictly more than
/// the threshold has passed since it was last used.
pub fn dormancy_due(state: &WorkspaceState, now: Timestamp) -> bool {
    let threshold = state.template.policy.time_til_dormant;
    threshold.is_positive()
        && state.workspace.dormant_at.is_none()
        && now.duration_since(state.workspace.last_used_at) > threshold
}

/// Dormant, auto-deletion on, `now > deleting_at`, not running (DESIGN
/// §3: "never a running workspace"); a failed delete is retried at most
/// once a day. Never while a build is unfinished: the executor never
/// deletes a workspace that runs or is building.
pub fn autodelete_due(state: &WorkspaceState, now: Timestamp) -> bool {
    let ws = &state.workspace;
    let build = &state.build;
    if ws.dormant_at.is_none()
        || !build.job.status.is_finished()
        || state.status() == WorkspaceStatus::Running
        || !state
            .template
            .policy
            .time_til_dormant_autodelete
            .is_positive()
    {
        return false;
    }
    let Some(deleting_at) = ws.deleting_at else {
        return false;
    };
    if now <= deleting_at {
        return false;
    }
    if build.transition == Transition::Delete && build.job.status == JobStatus::Failed {
        return build
            .job
            .completed_at
            .is_some_and(|completed| now.duration_since(completed) > FAILED_DELETE_RETRY);
    }
    true
}
