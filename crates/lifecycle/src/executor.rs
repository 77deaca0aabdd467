//! The autobuild executor: one iteration per tick. It selects only the
//! workspaces whose derived due time has come (an index range scan), and
//! for each, under that workspace's lock, re-reads the state, decides and
//! queues at most one build. Running an iteration twice, or on several
//! replicas at once, never queues a build twice: the lock serialises the
//! deciders, the second one sees the first one's unfinished build, and the
//! unique build number catches anything else.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dayshift_schedule::Timestamp;
use dayshift_store::{
    LockMode, NewBuild, Store, StoreError, Transition, WorkspaceChange, WorkspaceState,
};
use futures::stream::{self, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::decide::{decide, Decision};

/// What one iteration did (DESIGN §3 step 4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStats {
    /// The instant the iteration ran for.
    pub now: Option<Timestamp>,
    /// Builds queued: workspace id → transition.
    pub transitions: BTreeMap<String, Transition>,
    /// Workspaces marked dormant.
    pub marked_dormant: Vec<String>,
    /// Failures: workspace id → message.
    pub errors: BTreeMap<String, String>,
    pub elapsed: Duration,
}

/// Most workspaces handled at once: enough to overlap database round
/// trips, few enough to leave connections for API requests.
const CONCURRENCY: usize = 10;

/// Most workspaces handled per tick; the rest are still due next tick.
const BATCH: i64 = 20_000;

/// The autobuild executor.
#[derive(Clone)]
pub struct Executor {
    store: Store,
    /// Who queued the executor's builds (the system user's id).
    initiator_id: Arc<str>,
}

enum Outcome {
    Nothing,
    Applied(Decision),
}

impl Executor {
    pub fn new(store: Store, initiator_id: impl Into<Arc<str>>) -> Self {
        Executor {
            store,
            initiator_id: initiator_id.into(),
        }
    }

    /// Runs one iteration per received tick until the channel closes or
    /// `cancel` fires, sending each iteration's stats when `stats` is set.
    pub async fn run(
        self,
        mut ticks: mpsc::Receiver<Timestamp>,
        stats: Option<mpsc::Sender<RunStats>>,
        cancel: CancellationToken,
    ) {
        loop {
            let now = tokio::select! {
                _ = cancel.cancelled() => return,
                tick = ticks.recv() => match tick {
                    Some(now) => now,
                    None => return,
                },
            };
            let result = tokio::select! {
                _ = cancel.cancelled() => return,
                result = self.run_once(now) => result,
            };
            if let Some(stats) = &stats {
                if stats.send(result).await.is_err() {
                    return;
                }
            }
        }
    }

    /// One iteration at `now`.
    pub async fn run_once(&self, now: Timestamp) -> RunStats {
        let started = Instant::now();
        let mut stats = RunStats {
            now: Some(now),
            ..RunStats::default()
        };
        let due = match self.store.due_workspace_ids(now, BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "autobuild: cannot list due workspaces");
                stats.errors.insert("*".into(), e.to_string());
                return stats;
            }
        };
        let results: Vec<(String, Result<Outcome, StoreError>)> = stream::iter(due)
            .map(|id| async move {
                let result = self.process(&id, now).await;
                (id, result)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (id, result) in results {
            match result {
                Ok(Outcome::Nothing) => {}
                Ok(Outcome::Applied(decision)) => {
                    if let Some(transition) = decision.transition() {
                        stats.transitions.insert(id.clone(), transition);
                        metrics::counter!(
                            "dayshift_autobuild_transitions_total",
                            "transition" => transition.as_str(),
                            "reason" => decision.reason().as_str(),
                        )
                        .increment(1);
                    }
                    if matches!(decision, Decision::Dormant { .. }) {
                        stats.marked_dormant.push(id);
                    }
                }
                // Another replica or iteration holds the lock or won the
                // race for the build number: it is doing this work.
                Err(StoreError::Busy(_)) | Err(StoreError::Conflict(_)) => {}
                // Deleted meanwhile.
                Err(StoreError::NotFound(_)) => {}
                Err(e) => {
                    tracing::warn!(workspace = %id, error = %e, "autobuild: transition failed");
                    stats.errors.insert(id, e.to_string());
                }
            }
        }
        stats.elapsed = started.elapsed();
        metrics::histogram!("dayshift_autobuild_tick_duration_seconds")
            .record(stats.elapsed.as_secs_f64());
        stats
    }

    async fn process(&self, id: &str, now: Timestamp) -> Result<Outcome, StoreError> {
        let mut decided = None;
        let result = self
            .store
            .update_workspace(id, LockMode::Skip, now, |state| {
                let decision = decide(state, now).ok_or(())?;
                decided = Some(decision);
                Ok::<_, ()>(change_for(state, decision, now, &self.initiator_id))
            })
            .await?;
        let (Ok(applied), Some(decision)) = (result, decided) else {
            return Ok(Outcome::Nothing);
        };
        let ws = &applied.state.workspace;
        let workspace = format!("{}/{}", ws.owner_name, ws.name);
        match decision {
            Decision::Dormant { stop } => tracing::info!(
                %workspace,
                workspace_id = %ws.id,
                stop,
                deleting_at = ?ws.deleting_at,
                "workspace marked dormant"
            ),
            Decision::Build { transition, reason } => tracing::info!(
                %workspace,
                workspace_id = %ws.id,
                transition = transition.as_str(),
                reason = reason.as_str(),
                "autobuild queued a build"
            ),
        }
        Ok(Outcome::Applied(decision))
    }
}

/// The writes that carry out a decision.
fn change_for(
    state: &WorkspaceState,
    decision: Decision,
    now: Timestamp,
    initiator: &str,
) -> WorkspaceChange {
    let build = |transition| NewBuild {
        transition,
        reason: decision.reason(),
        template_version_id: state.reuse_version_id.clone(),
        parameters: state.reuse_parameters.clone(),
        initiator_id: initiator.to_string(),
    };
    let mut change = WorkspaceChange {
        new_build: decision.transition().map(build),
        ..WorkspaceChange::default()
    };
    if let Decision::Dormant { .. } = decision {
        let autodelete = state.template.policy.time_til_dormant_autodelete;
        change.dormant_at = Some(Some(now));
        change.deleting_at = Some(
            autodelete
                .is_positive()
                .then(|| now.checked_add(autodelete).ok())
                .flatten(),
        );
    }
    change
}
