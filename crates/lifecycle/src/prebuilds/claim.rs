//! Claiming a prebuild (DESIGN §3 "Claim"): the store picks and locks a
//! ready prebuild atomically; this module says what becomes of it.

use std::collections::BTreeMap;

use dayshift_schedule::{SignedDuration, Timestamp};
use dayshift_store::{
    Applied, BuildReason, NewBuild, Preset, Store, StoreError, Transition, WorkspaceChange,
    WorkspaceState,
};

/// Who claims, and the workspace they asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub owner_id: String,
    pub name: String,
    /// Normalised autostart schedule, already checked against the
    /// template's policy.
    pub autostart_schedule: Option<String>,
    pub ttl: Option<SignedDuration>,
}

/// The writes that turn a prebuild into the claimant's workspace: new
/// owner and name, out of the pool, the user's schedule and TTL, fresh
/// usage (so it is not dormant at once), and a `start` build (reason
/// `prebuild_claim`) with the prebuild's version and parameters, so the
/// template's scripts learn the new owner. From then on the executor
/// treats it like any other workspace.
pub fn claim_change(state: &WorkspaceState, claim: &Claim, now: Timestamp) -> WorkspaceChange {
    WorkspaceChange {
        owner_id: Some(claim.owner_id.clone()),
        name: Some(claim.name.clone()),
        prebuild_preset_id: Some(None),
        autostart_schedule: Some(claim.autostart_schedule.clone()),
        ttl: Some(claim.ttl),
        last_used_at: Some(now),
        dormant_at: Some(None),
        deleting_at: Some(None),
        new_build: Some(NewBuild {
            transition: Transition::Start,
            reason: BuildReason::PrebuildClaim,
            template_version_id: state.reuse_version_id.clone(),
            parameters: state.reuse_parameters.clone(),
            initiator_id: claim.owner_id.clone(),
        }),
        ..WorkspaceChange::default()
    }
}

/// Prebuilds created before this instant have expired and are not handed
/// out (the reconciler replaces them).
pub fn not_expired_since(preset: &Preset, now: Timestamp) -> Option<Timestamp> {
    preset
        .expiration
        .and_then(|expiration| now.checked_sub(expiration).ok())
}

/// Claims the oldest ready prebuild of `preset` built with exactly
/// `parameters`; `Ok(None)` when none is ready (build normally then).
pub async fn claim(
    store: &Store,
    preset: &Preset,
    parameters: &BTreeMap<String, String>,
    claim: &Claim,
    now: Timestamp,
) -> Result<Option<Applied>, StoreError> {
    store
        .claim_prebuild(
            &preset.id,
            parameters,
            not_expired_since(preset, now),
            now,
            |state| claim_change(state, claim, now),
        )
        .await
}
