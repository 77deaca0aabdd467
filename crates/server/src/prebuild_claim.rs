//! Bridge between the API and the prebuild pools of `dayshift-lifecycle`.
//! (Placeholder until the prebuilds reconciler lands: no pools exist yet,
//! so nothing is claimed and nothing reconciled.)

use dayshift_schedule::{SignedDuration, Timestamp};
use dayshift_sdk as sdk;
use dayshift_store::{Template, WorkspaceState};

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::state::AppState;

/// The settings key that pauses the reconciler.
pub const PAUSED_SETTING: &str = "prebuilds.reconciliation_paused";

#[allow(clippy::too_many_arguments)]
pub async fn try_claim(
    _state: &AppState,
    _caller: &CurrentUser,
    _template: &Template,
    _version_id: &str,
    _preset: &str,
    _name: &str,
    _autostart_schedule: Option<String>,
    _ttl: Option<SignedDuration>,
    _now: Timestamp,
) -> ApiResult<Option<WorkspaceState>> {
    Ok(None)
}

pub async fn reconcile_once(_state: &AppState, _now: Timestamp) -> sdk::ReconcileStats {
    sdk::ReconcileStats::default()
}

pub async fn status(_state: &AppState, _now: Timestamp) -> ApiResult<Vec<sdk::PrebuildPreset>> {
    Ok(Vec::new())
}
