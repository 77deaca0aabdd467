//! Several replicas on one PostgreSQL database (DESIGN §8): three stores
//! with pools of their own, and an executor on each, over hundreds of due
//! workspaces. Every replica ticks at the same instant; every due
//! transition happens exactly once. Executors are driven through their
//! tick channels and report on their stats channels: no sleeps.
//!
//! PostgreSQL only (SQLite serves one process); skipped when PostgreSQL is
//! unreachable, unless CI=true.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use dayshift_lifecycle::{Executor, LifecyclePolicy, RunStats};
use dayshift_schedule::{SignedDuration, Timestamp};
use dayshift_store::testing;
use dayshift_store::*;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

const NOW: &str = "2027-01-04T08:00:00Z";
/// Every workspace has an 8h TTL, so at this instant all are due for autostop.
const DUE_AT: &str = "2027-01-04T16:01:00Z";
const WORKSPACES: usize = 300;

fn t(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

/// One replica: its own store (pool) and executor, driven by a tick channel.
struct Replica {
    ticks: mpsc::Sender<Timestamp>,
    stats: mpsc::Receiver<RunStats>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    store: Store,
}

async fn replica(url: &str, policy: Arc<dyn Policy>, initiator: &str) -> Replica {
    let store = Store::open_postgres(url, policy)
        .await
        .expect("replica store");
    let (tick_tx, tick_rx) = mpsc::channel(1);
    let (stats_tx, stats_rx) = mpsc::channel(1);
    let cancel = CancellationToken::new();
    let executor = Executor::new(store.clone(), initiator.to_string());
    let task = tokio::spawn(executor.run(tick_rx, Some(stats_tx), cancel.clone()));
    Replica {
        ticks: tick_tx,
        stats: stats_rx,
        cancel,
        task,
        store,
    }
}

impl Replica {
    async fn tick(&self, now: Timestamp) {
        self.ticks.send(now).await.expect("executor running");
    }

    async fn stats(&mut self) -> RunStats {
        self.stats.recv().await.expect("stats of the tick")
    }
}

/// A schema of its own holding `WORKSPACES` running workspaces whose start
/// builds succeeded at `NOW` with an 8h TTL. Returns its URL, the system
/// user's id and the workspaces' ids.
async fn running_workspaces() -> Option<(String, String, BTreeSet<String>)> {
    let url = testing::postgres_schema_url().await?;
    let store = Store::open_postgres(&url, Arc::new(LifecyclePolicy))
        .await
        .expect("setup store");
    let (owner, system) =
        dayshift_store::testing::owner_and_system_user(&store, "alice", t(NOW)).await;
    let (template, version) = store
        .create_template(
            "demo",
            &TemplatePolicy::default(),
            NewTemplateVersion {
                created_by: owner.id.clone(),
                provisioner: "echo".into(),
                connect: None,
                manifest_json: "{}".into(),
                bundle: Vec::new(),
                presets: Vec::new(),
            },
            t(NOW),
        )
        .await
        .expect("template");
    let ids = testing::running_workspaces(
        &store,
        &owner,
        &template.id,
        &version.id,
        WORKSPACES,
        Some(SignedDuration::from_hours(8)),
        t(NOW),
    )
    .await;
    let due = store
        .due_workspace_ids(t(DUE_AT), 10_000)
        .await
        .expect("due");
    assert_eq!(due.len(), WORKSPACES, "every workspace is due at {DUE_AT}");
    store.pool().close().await;
    Some((url, system.id, ids))
}

/// Build numbers per workspace, as the database holds them.
async fn build_numbers(store: &Store, ids: &BTreeSet<String>) -> BTreeMap<String, Vec<i64>> {
    let mut numbers = BTreeMap::new();
    for id in ids {
        let builds = dayshift_store::testing::all_builds(store, id).await;
        let mut these: Vec<i64> = builds.iter().map(|b| b.build_number).collect();
        these.sort_unstable();
        numbers.insert(id.clone(), these);
    }
    numbers
}

/// Every workspace got exactly one new build: a stop, numbered 2.
async fn assert_each_stopped_once(store: &Store, ids: &BTreeSet<String>) {
    for (workspace, numbers) in &build_numbers(store, ids).await {
        assert_eq!(numbers, &[1, 2], "workspace {workspace}");
    }
    for id in ids {
        let state = store.workspace(id).await.unwrap().expect("workspace");
        assert_eq!(state.build.transition, Transition::Stop, "{id}");
        assert_eq!(state.build.reason, BuildReason::Autostop, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_ticking_at_once_transition_each_workspace_once() {
    let Some((url, system_id, ids)) = running_workspaces().await else {
        return;
    };
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(replica(&url, Arc::new(LifecyclePolicy), &system_id).await);
    }

    let now = t(DUE_AT);
    for r in &replicas {
        r.tick(now).await;
    }
    let mut all = Vec::new();
    for r in &mut replicas {
        all.push(r.stats().await);
    }
    for stats in &all {
        assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    }
    let shares: Vec<usize> = all.iter().map(|s| s.transitions.len()).collect();
    eprintln!("transitions per replica: {shares:?}");
    let total: usize = shares.iter().sum();
    assert_eq!(
        total, WORKSPACES,
        "transitions summed over replicas equal the due count"
    );
    let union: BTreeSet<String> = all
        .iter()
        .flat_map(|s| s.transitions.keys().cloned())
        .collect();
    assert_eq!(union, ids, "and every due workspace is among them, once");
    assert!(all
        .iter()
        .all(|s| s.transitions.values().all(|t| *t == Transition::Stop)));
    assert_each_stopped_once(&replicas[0].store, &ids).await;

    // Ticking again at the same instant finds nothing left to do.
    for r in &replicas {
        r.tick(now).await;
    }
    for r in &mut replicas {
        assert!(r.stats().await.transitions.is_empty());
    }
    for r in replicas {
        r.cancel.cancel();
        r.task.await.expect("executor task");
    }
}

/// The lifecycle policy, reporting each time the store applies it: that
/// happens inside a workspace's transaction, after the new build was
/// inserted and before the commit, i.e. in the middle of an iteration.
struct Tripwire {
    inner: LifecyclePolicy,
    tripped: Arc<Notify>,
}

impl Policy for Tripwire {
    fn derive(&self, state: &WorkspaceState) -> DerivedTimes {
        self.tripped.notify_one();
        self.inner.derive(state)
    }

    fn start_deadlines(
        &self,
        state: &WorkspaceState,
        now: Timestamp,
    ) -> (Option<Timestamp>, Option<Timestamp>) {
        self.inner.start_deadlines(state, now)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replica_cancelled_mid_iteration_leaves_the_rest_to_the_others() {
    let Some((url, system_id, ids)) = running_workspaces().await else {
        return;
    };
    let tripped = Arc::new(Notify::new());
    let tripwire = Tripwire {
        inner: LifecyclePolicy,
        tripped: tripped.clone(),
    };
    let mut doomed = replica(&url, Arc::new(tripwire), &system_id).await;
    let mut survivors = vec![
        replica(&url, Arc::new(LifecyclePolicy), &system_id).await,
        replica(&url, Arc::new(LifecyclePolicy), &system_id).await,
    ];

    // Cancel the doomed replica's executor while it holds a workspace's
    // transaction open, then close its connections as a dying process
    // would: PostgreSQL rolls back whatever it had not committed.
    let now = t(DUE_AT);
    doomed.tick(now).await;
    tripped.notified().await;
    doomed.cancel.cancel();
    doomed.task.await.expect("executor task ends on cancel");
    assert!(
        doomed.stats.recv().await.is_none(),
        "a cancelled iteration reports nothing"
    );
    doomed.store.pool().close().await;

    let observer = &survivors[0].store.clone();
    let committed_by_doomed = build_numbers(observer, &ids)
        .await
        .values()
        .filter(|numbers| numbers.len() == 2)
        .count();
    assert!(
        committed_by_doomed < WORKSPACES,
        "cancelled mid-iteration, not after it ({committed_by_doomed} stopped)"
    );

    // The survivors tick at the same instant until nothing is due. A
    // workspace whose lock the dying connection still held is skipped
    // (another replica is "doing it") and found again on the next tick.
    let mut by_survivors: BTreeMap<String, Transition> = BTreeMap::new();
    let mut ticks = 0;
    while !observer
        .due_workspace_ids(now, 10_000)
        .await
        .unwrap()
        .is_empty()
    {
        ticks += 1;
        assert!(ticks <= 50, "the survivors finish the work");
        for r in &survivors {
            r.tick(now).await;
        }
        for r in &mut survivors {
            let stats = r.stats().await;
            assert!(stats.errors.is_empty(), "{:?}", stats.errors);
            for (id, transition) in stats.transitions {
                assert!(
                    by_survivors.insert(id.clone(), transition).is_none(),
                    "{id} transitioned twice"
                );
            }
        }
    }
    eprintln!(
        "cancelled replica committed {committed_by_doomed}, the survivors {} in {ticks} ticks",
        by_survivors.len()
    );
    assert_eq!(by_survivors.len() + committed_by_doomed, WORKSPACES);
    assert_each_stopped_once(observer, &ids).await;
    for r in survivors {
        r.cancel.cancel();
        r.task.await.expect("executor task");
    }
}
