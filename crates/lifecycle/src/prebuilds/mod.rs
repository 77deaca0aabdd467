//! Prebuild pools (DESIGN §3 "Prebuilds"): warm workspaces per preset whose
//! number follows a schedule, kept by a reconciler and claimed by users.
//!
//! - [`desired`]: how many a preset wants at an instant, and when that
//!   next changes (pure);
//! - [`plan`]: what one pool needs now (pure);
//! - [`reconciler`]: the loop that reads the pools, takes each preset's
//!   lock, re-plans under it and creates or deletes prebuilds.
//!
//! - [`claim`]: what becomes of a prebuild a user claims (the store picks
//!   and locks it atomically).

pub mod claim;
pub mod desired;
pub mod plan;
pub mod reconciler;

pub use claim::{claim, claim_change, Claim};
pub use desired::{PoolSchedule, ScheduleError};
pub use plan::{plan, DeleteReason, Plan, PoolCounts, PoolInput, PoolRules};
pub use reconciler::{
    PoolDue, PresetParameters, PresetState, PresetValues, ReconcileStats, Reconciler,
};

/// The settings key that pauses reconciliation (`"true"` pauses).
pub const PAUSED_SETTING: &str = "prebuilds.reconciliation_paused";
