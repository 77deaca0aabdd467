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
    LockMode, NewBuild, Policy, Store, StoreError, Transition, WorkspaceChange, WorkspaceState,
};
use futures::stream::{self, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::decide::{decide, Decision};
use crate::rules::deleting_at;

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
    /// Set by [`Executor::run`]: once it fires, an iteration starts no
    /// further workspace (those under way finish their transaction).
    stop: CancellationToken,
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
            stop: CancellationToken::new(),
        }
    }

    /// Runs one iteration per received tick until the channel closes or
    /// `cancel` fires, sending each iteration's stats when `stats` is set.
    /// Cancelling stops the running iteration between workspaces, never
    /// inside one's transaction.
    pub async fn run(
        self,
        ticks: mpsc::Receiver<Timestamp>,
        stats: Option<mpsc::Sender<RunStats>>,
        cancel: CancellationToken,
    ) {
        let this = &Executor {
            stop: cancel.clone(),
            ..self
        };
        crate::ticks::run_on_ticks(ticks, stats, cancel, move |now| this.run_once(now)).await;
    }

    /// One iteration at `now`.
    pub async fn run_once(&self, now: Timestamp) -> RunStats {
        let started = Instant::now();
        // Stored times have millisecond resolution; deciding at the same
        // resolution keeps the decisions and the due query in agreement.
        let now = to_millisecond(now);
        let mut stats = RunStats {
            now: Some(now),
            ..RunStats::default()
        };
        loop {
            let due = match self.store.due_workspace_ids(now, BATCH).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "autobuild: cannot list due workspaces");
                    stats.errors.insert("*".into(), e.to_string());
                    break;
                }
            };
            let full = due.len() >= usize::try_from(BATCH).unwrap_or(usize::MAX);
            let done_before = stats.transitions.len() + stats.marked_dormant.len();
            self.process_all(due, now, &mut stats).await;
            // A full batch leaves more due workspaces behind. Handled ones
            // are no longer due, so the next query returns new ones; stop
            // when a batch changed nothing (all stuck), or it would spin.
            let progressed = stats.transitions.len() + stats.marked_dormant.len() > done_before;
            if !full || !progressed || self.stop.is_cancelled() {
                break;
            }
        }
        stats.elapsed = started.elapsed();
        metrics::histogram!("dayshift_autobuild_tick_duration_seconds")
            .record(stats.elapsed.as_secs_f64());
        stats
    }

    async fn process_all(&self, due: Vec<String>, now: Timestamp, stats: &mut RunStats) {
        let results: Vec<(String, Result<Outcome, TransitionError>)> = stream::iter(due)
            .map(|id| async move {
                if self.stop.is_cancelled() {
                    // Still due: the next tick, here or on another replica.
                    return (id, Ok(Outcome::Nothing));
                }
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
                Err(TransitionError::Store(StoreError::Busy(_) | StoreError::Conflict(_))) => {}
                // Deleted meanwhile.
                Err(TransitionError::Store(StoreError::NotFound(_))) => {}
                Err(e) => {
                    tracing::warn!(workspace = %id, error = %e, "autobuild: transition failed");
                    stats.errors.insert(id, e.to_string());
                }
            }
        }
    }

    async fn process(&self, id: &str, now: Timestamp) -> Result<Outcome, TransitionError> {
        let mut decided = None;
        let policy = self.store.policy().clone();
        let result = self
            .store
            .update_workspace(id, LockMode::Skip, now, |state| {
                let Some(decision) = decide(state, now) else {
                    return refresh_due_time(policy.as_ref(), state, now);
                };
                decided = Some(decision);
                Ok(change_for(state, decision, now, &self.initiator_id))
            })
            .await?;
        let applied = match result {
            Ok(applied) => applied,
            Err(Skip::NotDue) => return Ok(Outcome::Nothing),
            Err(Skip::Inconsistent(due)) => return Err(TransitionError::Inconsistent { due }),
        };
        let Some(decision) = decided else {
            // Only its stale due time was rewritten.
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

/// Why a due workspace could not be transitioned.
#[derive(Debug, thiserror::Error)]
enum TransitionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "due since {due} but no lifecycle rule applies (the rules disagree with its due time)"
    )]
    Inconsistent { due: Timestamp },
}

/// Why a selected workspace got no build.
enum Skip {
    /// Handled meanwhile (by another replica or iteration).
    NotDue,
    /// The policy says it is due but no rule applies: a bug in the rules,
    /// reported so a human sees it.
    Inconsistent(Timestamp),
}

/// For a workspace no rule applies to: when its stored due time is stale
/// (written by another version of the rules, or by hand), an empty change
/// makes the store re-derive it, so it stops being selected.
fn refresh_due_time(
    policy: &dyn Policy,
    state: &WorkspaceState,
    now: Timestamp,
) -> Result<WorkspaceChange, Skip> {
    let derived = policy.derive(state);
    let stored = &state.workspace;
    if derived.next_due_at != stored.next_due_at || derived.next_start_at != stored.next_start_at {
        return Ok(WorkspaceChange::default());
    }
    match derived.next_due_at {
        Some(due) if due <= now => Err(Skip::Inconsistent(due)),
        _ => Err(Skip::NotDue),
    }
}

fn to_millisecond(t: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(t.as_millisecond()).unwrap_or(t)
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
        change.dormant_at = Some(Some(now));
        change.deleting_at = Some(deleting_at(now, &state.template.policy));
    }
    change
}
