//! Bridge between the API and the prebuild pools of `dayshift-lifecycle`:
//! the reconciler the server runs, claims when a workspace is created with
//! a preset, and the pools' status for `GET /prebuilds`.

use std::collections::BTreeMap;
use std::sync::Arc;

use dayshift_lifecycle::prebuilds::{self, Claim, PresetParameters, PresetState, Reconciler};
use dayshift_provisioner::Manifest;
use dayshift_schedule::{SignedDuration, Timestamp};
use dayshift_sdk as sdk;
use dayshift_store::{Preset, Template, TemplateVersion, WorkspaceState};
use tokio::sync::{mpsc, Notify};

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::state::AppState;

/// The settings key that pauses the reconciler.
pub use dayshift_lifecycle::prebuilds::PAUSED_SETTING;

/// A preset's values resolved against its version's manifest, defaults
/// filled in: a prebuild is built exactly as a workspace created with the
/// preset would be, so a claim can hand it out as that workspace.
pub struct ManifestParameters;

impl PresetParameters for ManifestParameters {
    fn resolve(
        &self,
        version: &TemplateVersion,
        preset: &Preset,
    ) -> Result<BTreeMap<String, String>, String> {
        let manifest: Manifest = serde_json::from_str(&version.manifest_json)
            .map_err(|e| format!("the stored manifest is unreadable: {e}"))?;
        manifest
            .resolve_parameters(&preset.parameters)
            .map_err(|e| e.to_string())
    }
}

/// The server's side of the pools: the reconciler, and a way to have it
/// run now.
#[derive(Clone)]
pub struct Prebuilds {
    pub reconciler: Reconciler,
    /// The reconciler's tick channel and its driver's re-arm, to refill a
    /// pool right after a claim took from it and to look at new presets'
    /// schedules. `None` under the dev clock, where reconciles run only
    /// when the clock is moved (or polled).
    refill: Option<(mpsc::Sender<Timestamp>, Arc<Notify>)>,
}

impl Prebuilds {
    pub fn new(
        reconciler: Reconciler,
        refill: Option<(mpsc::Sender<Timestamp>, Arc<Notify>)>,
    ) -> Self {
        Prebuilds { reconciler, refill }
    }

    /// Has the reconciler run now (after a claim, or a push that changed
    /// which presets have pools).
    pub fn refill(&self, now: Timestamp) {
        if let Some((ticks, rearm)) = &self.refill {
            // A full channel already holds a tick that will do the same.
            let _ = ticks.try_send(now);
            // The pools' next changes may have moved: the driver looks again.
            rearm.notify_one();
        }
    }
}

/// Claims a ready prebuild of `preset` for the caller, if there is one:
/// it becomes the caller's workspace `name` with their schedule and TTL,
/// and gets a `start` build with reason `prebuild_claim`. `None` (a miss)
/// when the preset has no pool on the active version or nothing in it is
/// ready with exactly these `parameters`; the caller then builds normally.
#[allow(clippy::too_many_arguments)]
pub async fn try_claim(
    state: &AppState,
    caller: &CurrentUser,
    template: &Template,
    version_id: &str,
    preset: &str,
    parameters: &BTreeMap<String, String>,
    name: &str,
    autostart_schedule: Option<String>,
    ttl: Option<SignedDuration>,
    now: Timestamp,
) -> ApiResult<Option<WorkspaceState>> {
    // Pools exist only for the active version's presets.
    if version_id != template.active_version_id {
        return Ok(None);
    }
    let Some(preset) = state
        .store
        .presets(version_id)
        .await?
        .into_iter()
        .find(|p| p.name == preset)
    else {
        return Ok(None);
    };
    if preset.prebuild_instances == 0 && preset.scheduling.is_none() {
        // No pool: neither a hit nor a miss.
        return Ok(None);
    }
    let labels = [
        ("template_name", template.name.clone()),
        ("preset_name", preset.name.clone()),
    ];
    let claim = Claim {
        owner_id: caller.0.id.clone(),
        name: name.to_string(),
        autostart_schedule,
        ttl,
    };
    let Some(applied) = prebuilds::claim(&state.store, &preset, parameters, &claim, now).await?
    else {
        metrics::counter!("dayshift_prebuilt_workspaces_claim_misses_total", &labels).increment(1);
        // Not a pool change (the workspace creation logs itself).
        tracing::debug!(
            template = %template.name,
            preset = %preset.name,
            "no ready prebuild to claim; building from scratch"
        );
        return Ok(None);
    };
    metrics::counter!("dayshift_prebuilt_workspaces_claim_hits_total", &labels).increment(1);
    let ws = &applied.state.workspace;
    tracing::info!(
        workspace = %format!("{}/{}", ws.owner_name, ws.name),
        workspace_id = %ws.id,
        template = %template.name,
        preset = %preset.name,
        "prebuild claimed"
    );
    state.jobs.job_queued();
    state.workspaces_changed();
    state.prebuilds.refill(now);
    Ok(Some(applied.state))
}

/// One reconcile at `now` (the dev clock's `POST /debug/clock`).
pub async fn reconcile_once(state: &AppState, now: Timestamp) -> sdk::ReconcileStats {
    let stats = state.prebuilds.reconciler.run_once(now).await;
    if stats.created + stats.deleted > 0 {
        state.jobs.job_queued();
    }
    sdk::ReconcileStats {
        created: stats.created,
        deleted: stats.deleted,
    }
}

/// Every pool's state at `now`.
pub async fn status(state: &AppState, now: Timestamp) -> ApiResult<Vec<sdk::PrebuildPreset>> {
    let pools = state.prebuilds.reconciler.status(now).await?;
    Ok(pools.iter().map(preset_view).collect())
}

fn preset_view(p: &PresetState) -> sdk::PrebuildPreset {
    sdk::PrebuildPreset {
        template_name: p.template_name.clone(),
        preset_name: p.preset_name.clone(),
        template_version_id: p.template_version_id.clone(),
        desired: p.desired,
        running: p.counts.running,
        starting: p.counts.starting,
        eligible: p.counts.eligible,
        hard_limited: p.hard_limited,
        schedule_in_force: p.schedule_in_force.clone(),
        schedule_timezone: p.schedule_timezone.clone(),
        next_change_at: p.next_change_at,
    }
}

#[cfg(test)]
#[path = "prebuild_claim_tests.rs"]
mod tests;
