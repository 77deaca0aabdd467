//! What a user's request does to a workspace: pure rules, shown the state
//! read under the workspace's lock, returning the change to apply or a
//! typed refusal. The HTTP handlers only adapt them.

use dayshift_schedule::Timestamp;
use dayshift_store::{
    BuildReason, NewBuild, Transition, WorkspaceChange, WorkspaceState, WorkspaceStatus,
};

use crate::rules::deleting_at;

/// Why a user's build was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildRefusal {
    #[error(
        "workspace {workspace} has a build in progress (status {status}); wait for it to finish"
    )]
    InProgress {
        /// `owner/name`.
        workspace: String,
        status: WorkspaceStatus,
    },
}

/// A user's build, as the rules shape it.
#[derive(Debug, Clone)]
pub struct UserBuild {
    pub change: WorkspaceChange,
    /// The start woke a dormant workspace: its `dormant_at` and
    /// `deleting_at` are cleared in the same transaction, so it is not
    /// auto-deleted while its owner uses it.
    pub activated: bool,
}

/// A build the user asked for: refused while the latest build is
/// unfinished; it reuses the version and parameters of the latest
/// successful build. A start of a dormant workspace also activates it
/// (DESIGN §3: "A user's start clears `dormant_at` and `deleting_at` in
/// the same transaction").
pub fn user_build(
    state: &WorkspaceState,
    transition: Transition,
    initiator_id: &str,
    now: Timestamp,
) -> Result<UserBuild, BuildRefusal> {
    if !state.build.job.status.is_finished() {
        return Err(BuildRefusal::InProgress {
            workspace: format!("{}/{}", state.workspace.owner_name, state.workspace.name),
            status: state.status(),
        });
    }
    let activated = transition == Transition::Start && state.workspace.dormant_at.is_some();
    let mut change = if activated {
        activation(now)
    } else {
        WorkspaceChange::default()
    };
    change.new_build = Some(NewBuild {
        transition,
        reason: BuildReason::Initiator,
        template_version_id: state.reuse_version_id.clone(),
        parameters: state.reuse_parameters.clone(),
        initiator_id: initiator_id.to_string(),
    });
    Ok(UserBuild { change, activated })
}

/// `PUT /workspaces/{id}/dormant`: marks a workspace dormant (with its
/// deletion time under the template's policy) or activates it; asking for
/// the state it is already in changes nothing.
pub fn set_dormant(state: &WorkspaceState, dormant: bool, now: Timestamp) -> WorkspaceChange {
    match (dormant, state.workspace.dormant_at) {
        (true, Some(_)) | (false, None) => WorkspaceChange::default(),
        (true, None) => WorkspaceChange {
            dormant_at: Some(Some(now)),
            deleting_at: Some(deleting_at(now, &state.template.policy)),
            ..WorkspaceChange::default()
        },
        (false, Some(_)) => activation(now),
    }
}

/// Clears dormancy. Waking a workspace counts as using it, so it does not
/// fall dormant again at the next tick.
fn activation(now: Timestamp) -> WorkspaceChange {
    WorkspaceChange {
        dormant_at: Some(None),
        deleting_at: Some(None),
        last_used_at: Some(now),
        ..WorkspaceChange::default()
    }
}
