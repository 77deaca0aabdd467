//! The deadline and derived-time rules (DESIGN §3 "Deadlines"), handed to
//! the store as its [`Policy`] so they are applied inside the transaction
//! of every write.

use dayshift_schedule::deadline::{
    default_quiet_hours, max_deadline, next_allowed_autostart, start_deadline, AutostopRequirement,
};
use dayshift_schedule::{Schedule, SignedDuration, Timestamp, Weekdays};
use dayshift_store::{DerivedTimes, JobStatus, Policy, TemplatePolicy, Transition, WorkspaceState};

/// A failed delete is retried by autodelete at most once a day.
pub const FAILED_DELETE_RETRY: SignedDuration = SignedDuration::from_hours(24);

/// The lifecycle rules as the store's policy.
#[derive(Debug, Default, Clone, Copy)]
pub struct LifecyclePolicy;

/// The workspace's autostart schedule when it may fire at all: set,
/// allowed by the template, not dormant, not an unclaimed prebuild. A
/// stored schedule that no longer parses (its zone left the time zone
/// database of a newer binary) is a loud error: logged here at every
/// evaluation, and shown on the workspace ([`autostart_error`]).
pub fn autostart_schedule(state: &WorkspaceState) -> Option<Schedule> {
    let ws = &state.workspace;
    if !state.template.policy.allow_user_autostart
        || ws.dormant_at.is_some()
        || ws.prebuild_preset_id.is_some()
    {
        return None;
    }
    match Schedule::parse_weekly(ws.autostart_schedule.as_deref()?) {
        Ok(schedule) => Some(schedule),
        Err(error) => {
            tracing::warn!(
                workspace = %ws.id,
                schedule = ws.autostart_schedule.as_deref().unwrap_or_default(),
                %error,
                "autostart schedule cannot be evaluated; the workspace will not start on schedule until it is set again"
            );
            None
        }
    }
}

/// Why the workspace's stored autostart schedule cannot be evaluated, if
/// it cannot (shown on the workspace so the owner can set it again).
pub fn autostart_error(state: &WorkspaceState) -> Option<String> {
    let stored = state.workspace.autostart_schedule.as_deref()?;
    Schedule::parse_weekly(stored)
        .err()
        .map(|e| format!("autostart schedule {stored:?} cannot be evaluated: {e}"))
}

/// The next allowed autostart strictly after `after`.
pub fn next_autostart(state: &WorkspaceState, after: Timestamp) -> Option<Timestamp> {
    let schedule = autostart_schedule(state)?;
    next_allowed_autostart(
        &schedule,
        after,
        state.template.policy.autostart_requirement_days,
    )
}

/// The instant autostart slots are counted from: the later of the latest
/// build's creation and the moment the schedule was set. Counting from the
/// stop build means a slot missed while the server was down still fires at
/// the next tick; counting from the schedule's setting means a schedule set
/// on a workspace stopped last week waits for its next slot instead of
/// starting the workspace at once for one that passed before it existed.
pub fn autostart_reference(state: &WorkspaceState) -> Timestamp {
    state
        .workspace
        .autostart_set_at
        .map_or(state.build.created_at, |set| {
            set.max(state.build.created_at)
        })
}

/// The TTL that applies to the workspace's next start: its own, or the
/// template default when it has none or users may not set their own.
pub fn effective_ttl(state: &WorkspaceState) -> Option<SignedDuration> {
    policy_ttl(&state.template.policy, state.workspace.ttl)
}

/// [`effective_ttl`] of a workspace whose own TTL is `ttl`.
pub fn policy_ttl(policy: &TemplatePolicy, ttl: Option<SignedDuration>) -> Option<SignedDuration> {
    let ttl = if policy.allow_user_autostop {
        ttl.or(Some(policy.default_ttl))
    } else {
        Some(policy.default_ttl)
    };
    ttl.filter(|d| d.is_positive())
}

/// The max deadline of a start at `now` from the template's autostop
/// requirement, evaluated at the default quiet hours (midnight UTC).
pub fn requirement_max_deadline(state: &WorkspaceState, now: Timestamp) -> Option<Timestamp> {
    policy_max_deadline(&state.template.policy, now)
}

/// [`requirement_max_deadline`] from the template policy alone.
pub fn policy_max_deadline(policy: &TemplatePolicy, now: Timestamp) -> Option<Timestamp> {
    if policy.autostop_requirement_days == Weekdays::NONE {
        return None;
    }
    let requirement = AutostopRequirement {
        days: policy.autostop_requirement_days,
        weeks: policy.autostop_requirement_weeks.max(1),
    };
    max_deadline(now, &requirement, &default_quiet_hours())
        .ok()
        .flatten()
}

/// When a workspace marked dormant at `dormant_at` is deleted:
/// `dormant_at + time_til_dormant_autodelete`, or never when auto-deletion
/// is off.
/// Stored in `deleting_at` when the workspace is marked dormant and again
/// whenever the template's auto-deletion policy changes.
pub fn deleting_at(dormant_at: Timestamp, policy: &TemplatePolicy) -> Option<Timestamp> {
    let after = policy.time_til_dormant_autodelete;
    after
        .is_positive()
        .then(|| dormant_at.checked_add(after).ok())
        .flatten()
}

/// One millisecond: the strict rules (`now - x > limit`) become due one
/// millisecond after the limit, the resolution of stored times.
const STRICTLY_AFTER: SignedDuration = SignedDuration::from_millis(1);

/// The first instant at which `now - t > limit` holds; `None` past the
/// end of time (then the rule never applies).
fn first_after(t: Timestamp, limit: SignedDuration) -> Option<Timestamp> {
    t.checked_add(limit).ok()?.checked_add(STRICTLY_AFTER).ok()
}

impl Policy for LifecyclePolicy {
    /// `next_start_at` is the next allowed autostart after the latest
    /// stop build's creation (only for a stopped workspace); `next_due_at`
    /// is the earliest instant any rule of the executor can apply. Both are
    /// exact, so the executor's due query returns only workspaces that need
    /// a transition now.
    fn derive(&self, state: &WorkspaceState) -> DerivedTimes {
        let ws = &state.workspace;
        let build = &state.build;
        let policy = &state.template.policy;
        if ws.deleted || ws.prebuild_preset_id.is_some() || !build.job.status.is_finished() {
            return DerivedTimes::default();
        }
        let succeeded = build.job.status == JobStatus::Succeeded;
        let failed = build.job.status == JobStatus::Failed;
        let next_start_at = (build.transition == Transition::Stop && succeeded)
            .then(|| next_autostart(state, autostart_reference(state)))
            .flatten();

        let mut candidates: Vec<Option<Timestamp>> = vec![next_start_at];
        if build.transition == Transition::Start && succeeded {
            candidates.push(build.deadline);
        }
        if build.transition == Transition::Start && failed && policy.failure_ttl.is_positive() {
            candidates.push(
                build
                    .job
                    .completed_at
                    .and_then(|c| first_after(c, policy.failure_ttl)),
            );
        }
        if ws.dormant_at.is_none() && policy.time_til_dormant.is_positive() {
            candidates.push(first_after(ws.last_used_at, policy.time_til_dormant));
        }
        // Without a `deleting_at` (or, for a failed delete, a completion
        // time) autodelete refuses, so nothing may be due: a due time the
        // decision never acts on would select the workspace at every tick.
        if let (Some(_), Some(deleting_at)) = (ws.dormant_at, ws.deleting_at) {
            if policy.time_til_dormant_autodelete.is_positive() {
                let at = first_after(deleting_at, SignedDuration::ZERO);
                candidates.push(if build.transition == Transition::Delete && failed {
                    // A failed delete is retried a day after it failed.
                    build
                        .job
                        .completed_at
                        .and_then(|c| first_after(c, FAILED_DELETE_RETRY))
                        .and_then(|retry| at.map(|at| at.max(retry)))
                } else {
                    at
                });
            }
        }
        DerivedTimes {
            next_start_at,
            next_due_at: candidates.into_iter().flatten().min(),
        }
    }

    /// DESIGN §3: `deadline = completed_at + ttl`, moved to `next
    /// autostart + ttl` when it would pass the next autostart, capped by
    /// the autostop requirement's max deadline. Prebuilds get none: they
    /// wait in the pool until claimed.
    fn start_deadlines(
        &self,
        state: &WorkspaceState,
        now: Timestamp,
    ) -> (Option<Timestamp>, Option<Timestamp>) {
        if state.workspace.prebuild_preset_id.is_some() {
            return (None, None);
        }
        let max = requirement_max_deadline(state, now);
        let deadline = start_deadline(now, effective_ttl(state), next_autostart(state, now), max);
        (deadline, max)
    }
}
