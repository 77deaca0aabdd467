//! What one preset's pool needs now: a pure function of its prebuilds,
//! its recent build outcomes, its desired count and `now` (DESIGN §3).
//!
//! - running prebuilds older than the preset's `expiration` are deleted
//!   (and, no longer counting as supply, replaced);
//! - surplus running ones are deleted oldest first;
//! - `create = max(desired - running_valid - starting, 0)`;
//! - an old version's prebuilds are all deleted once running;
//! - stopped, failed and canceled prebuilds are left for an operator;
//! - creation backs off linearly after failures and stops altogether
//!   (hard limit) after `hard_limit` consecutive failed builds, until a
//!   new version (new presets) is pushed.
//!
//! Unlike Coder, backoff holds back creation only: deleting expired or
//! surplus prebuilds while a preset backs off only saves resources.

use dayshift_schedule::{SignedDuration, Timestamp};
use dayshift_store::{JobStatus, PrebuildOutcome, PrebuildRow, Transition};

/// Knobs of the reconciler's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolRules {
    /// Creation waits `failures x backoff_interval` after the last failure.
    pub backoff_interval: SignedDuration,
    /// Consecutive failed builds after which a preset creates nothing more;
    /// 0 disables the limit.
    pub hard_limit: u32,
}

impl Default for PoolRules {
    fn default() -> Self {
        PoolRules {
            backoff_interval: SignedDuration::from_mins(1),
            hard_limit: 3,
        }
    }
}

/// How far back failures are counted when there is no hard limit: the
/// backoff stops growing there.
const UNLIMITED_HISTORY: u32 = 20;

impl PoolRules {
    /// How many recent builds the rules look at.
    pub fn history_depth(&self) -> i64 {
        i64::from(if self.hard_limit == 0 {
            UNLIMITED_HISTORY
        } else {
            self.hard_limit
        })
    }
}

/// A pool's prebuilds by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolCounts {
    /// Running (latest build a successful start), expired ones included.
    pub running: i64,
    /// Running, not expired, of an active preset: claimable.
    pub eligible: i64,
    pub expired: i64,
    /// Start build pending or running.
    pub starting: i64,
    pub stopping: i64,
    pub deleting: i64,
    pub stopped: i64,
    /// Latest build failed or canceled.
    pub failed: i64,
}

/// Why a prebuild is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeleteReason {
    Expired,
    Surplus,
    InactiveVersion,
}

impl DeleteReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeleteReason::Expired => "expired",
            DeleteReason::Surplus => "surplus",
            DeleteReason::InactiveVersion => "inactive_version",
        }
    }
}

/// The inputs of [`plan`] for one preset.
#[derive(Debug, Clone, Copy)]
pub struct PoolInput<'a> {
    /// The preset belongs to its template's active version.
    pub active: bool,
    /// Desired instances now (ignored for inactive presets: 0).
    pub desired: i64,
    pub expiration: Option<SignedDuration>,
    /// Live prebuilds, oldest first.
    pub prebuilds: &'a [PrebuildRow],
    /// Finished prebuild builds, newest first.
    pub history: &'a [PrebuildOutcome],
    pub now: Timestamp,
    /// Reconciliation paused: report, change nothing.
    pub paused: bool,
}

/// What a pool needs, and the state it was decided on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub desired: i64,
    pub counts: PoolCounts,
    /// Prebuilds to create.
    pub create: i64,
    /// Prebuilds to delete (workspace ids), expired first, then surplus
    /// oldest first.
    pub delete: Vec<(String, DeleteReason)>,
    /// Consecutive failed builds, newest first (capped at the history depth).
    pub failures: u32,
    /// Set while creation waits after failures.
    pub backoff_until: Option<Timestamp>,
    pub hard_limited: bool,
    /// The earliest instant a running prebuild expires (for wake-ups).
    pub next_expiry: Option<Timestamp>,
}

impl Plan {
    pub fn is_noop(&self) -> bool {
        self.create == 0 && self.delete.is_empty()
    }
}

/// Strictly older than the expiration (as Coder): a prebuild expires one
/// millisecond (the resolution of stored times) after it reaches the age.
const STRICTLY_AFTER: SignedDuration = SignedDuration::from_millis(1);

fn expires_at(p: &PrebuildRow, expiration: Option<SignedDuration>) -> Option<Timestamp> {
    let expiration = expiration?;
    p.created_at.checked_add(expiration + STRICTLY_AFTER).ok()
}

/// Decides what one pool needs now.
pub fn plan(input: &PoolInput<'_>, rules: &PoolRules) -> Plan {
    let now = input.now;
    let desired = if input.active {
        input.desired.max(0)
    } else {
        0
    };
    let mut counts = PoolCounts::default();
    let mut valid: Vec<&PrebuildRow> = Vec::new();
    let mut expired: Vec<&PrebuildRow> = Vec::new();
    let mut next_expiry: Option<Timestamp> = None;
    for p in input.prebuilds {
        match (p.transition, p.job_status) {
            (Transition::Start, JobStatus::Succeeded) => {
                counts.running += 1;
                match expires_at(p, input.expiration) {
                    Some(at) if at <= now => expired.push(p),
                    at => {
                        if let Some(at) = at {
                            next_expiry = Some(next_expiry.map_or(at, |n| n.min(at)));
                        }
                        valid.push(p);
                    }
                }
            }
            (Transition::Start, JobStatus::Pending | JobStatus::Running) => counts.starting += 1,
            (Transition::Stop, JobStatus::Pending | JobStatus::Running) => counts.stopping += 1,
            (Transition::Delete, JobStatus::Pending | JobStatus::Running) => counts.deleting += 1,
            (Transition::Stop, JobStatus::Succeeded) => counts.stopped += 1,
            // A successful delete removes the workspace from the pool.
            (Transition::Delete, JobStatus::Succeeded) => {}
            (_, JobStatus::Failed | JobStatus::Canceled) => counts.failed += 1,
        }
    }
    counts.expired = expired.len() as i64;
    counts.eligible = if input.active { valid.len() as i64 } else { 0 };

    let failures = input.history.iter().take_while(|o| !o.succeeded).count() as u32;
    let hard_limited = input.active && rules.hard_limit > 0 && failures >= rules.hard_limit;
    let backoff_until = match input.history.first() {
        Some(last) if failures > 0 && input.active && !hard_limited => rules
            .backoff_interval
            .checked_mul(i32::try_from(failures).unwrap_or(i32::MAX))
            .and_then(|wait| last.at.checked_add(wait).ok())
            .filter(|until| now < *until),
        _ => None,
    };

    let mut plan = Plan {
        desired,
        counts,
        failures,
        backoff_until,
        hard_limited,
        next_expiry,
        ..Plan::default()
    };
    if input.paused {
        return plan;
    }
    if !input.active {
        plan.delete = expired
            .iter()
            .chain(valid.iter())
            .map(|p| (p.workspace_id.clone(), DeleteReason::InactiveVersion))
            .collect();
        return plan;
    }
    plan.delete = expired
        .iter()
        .map(|p| (p.workspace_id.clone(), DeleteReason::Expired))
        .collect();
    let surplus = (valid.len() as i64 - desired).max(0);
    plan.delete.extend(
        valid
            .iter()
            .take(usize::try_from(surplus).unwrap_or(0))
            .map(|p| (p.workspace_id.clone(), DeleteReason::Surplus)),
    );
    if !hard_limited && backoff_until.is_none() {
        plan.create = (desired - valid.len() as i64 - counts.starting).max(0);
    }
    plan
}
