//! The prebuilds reconciler and claims end to end on a real store, on
//! SQLite and on PostgreSQL (skipped when unreachable outside CI). The
//! reconciler runs on its tick channel and reports on its stats channel:
//! every test sends a tick and waits for that tick's stats, no sleeps.
//! Builds are "run" by the test itself (`acquire_job` then
//! `complete_job`), standing in for a provisioner daemon; a failing echo
//! template is a job completed as failed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use dayshift_lifecycle::prebuilds::{
    self, Claim, PresetState, ReconcileStats, Reconciler, PAUSED_SETTING,
};
use dayshift_lifecycle::{Executor, LifecyclePolicy};
use dayshift_schedule::{SignedDuration, Timestamp};
use dayshift_store::testing::TestStore;
use dayshift_store::{
    BuildReason, JobResult, LockMode, NewBuild, NewPreset, NewTemplateVersion, NewUser, Preset,
    PresetSchedule, PresetScheduling, Role, Store, Template, TemplatePolicy, Transition, User,
    WorkspaceChange, WorkspaceStatus,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn t(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

/// Monday 2027-01-04 06:00 UTC (07:00 in Berlin).
const NOW: &str = "2027-01-04T06:00:00Z";
const WORKER: &str = "test-daemon";

dayshift_store::on_both_backends!(
    the_pool_fills_once_and_counts_builds_in_progress,
    the_pool_follows_its_schedule_to_the_second,
    expired_prebuilds_are_replaced,
    failures_back_off_then_hit_the_hard_limit_until_a_new_version,
    a_new_version_replaces_the_old_pool,
    stopped_and_failed_prebuilds_are_left_for_an_operator,
    pausing_stops_all_changes,
    two_replicas_reconciling_together_create_each_prebuild_once,
    concurrent_claims_never_share_a_prebuild,
    a_claim_takes_only_ready_matching_unexpired_prebuilds,
    a_claimed_workspace_is_autostopped_like_any_other,
    the_wake_up_reads_schedule_changes_backoffs_and_expiries,
);

fn policy() -> Arc<LifecyclePolicy> {
    Arc::new(LifecyclePolicy)
}

fn region(value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("region".to_string(), value.to_string())])
}

/// A preset `eu` with `default` instances and optional schedules in Berlin.
fn preset(
    default: i64,
    schedules: &[(&str, i64)],
    expiration: Option<SignedDuration>,
) -> NewPreset {
    NewPreset {
        name: "eu".into(),
        parameters: region("eu"),
        prebuild_instances: default,
        expiration,
        scheduling: (!schedules.is_empty()).then(|| PresetScheduling {
            timezone: "Europe/Berlin".into(),
            schedule: schedules
                .iter()
                .map(|(cron, instances)| PresetSchedule {
                    cron: cron.to_string(),
                    instances: *instances,
                })
                .collect(),
        }),
    }
}

fn echo_version(owner: &User, presets: Vec<NewPreset>) -> NewTemplateVersion {
    NewTemplateVersion {
        created_by: owner.id.clone(),
        provisioner: "echo".into(),
        connect: None,
        manifest_json: "{}".into(),
        bundle: Vec::new(),
        presets,
    }
}

/// A store with an owner, the `prebuilds` system user, a template with one
/// preset, and a reconciler running on a tick channel.
struct Harness {
    _db: TestStore,
    store: Store,
    ticks: mpsc::Sender<Timestamp>,
    stats: mpsc::Receiver<ReconcileStats>,
    cancel: CancellationToken,
    owner: User,
    system: User,
    template: Template,
    reconciler: Reconciler,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Harness {
    async fn new(db: TestStore, preset: NewPreset) -> Harness {
        Self::with_policy(db, preset, TemplatePolicy::default()).await
    }

    async fn with_policy(db: TestStore, preset: NewPreset, policy: TemplatePolicy) -> Harness {
        let store = db.store.clone();
        let (owner, system) =
            dayshift_store::testing::owner_and_system_user(&store, "alice", t(NOW)).await;
        let (template, _) = store
            .create_template("demo", &policy, echo_version(&owner, vec![preset]), t(NOW))
            .await
            .expect("template");
        let reconciler = Reconciler::new(store.clone(), system.id.clone());
        let (tick_tx, tick_rx) = mpsc::channel(1);
        let (stats_tx, stats_rx) = mpsc::channel(1);
        let cancel = CancellationToken::new();
        tokio::spawn(
            reconciler
                .clone()
                .run(tick_rx, Some(stats_tx), cancel.clone()),
        );
        Harness {
            _db: db,
            store,
            ticks: tick_tx,
            stats: stats_rx,
            cancel,
            owner,
            system,
            template,
            reconciler,
        }
    }

    /// One reconcile at `now`: sends the tick, waits for its stats.
    async fn tick(&mut self, now: &str) -> ReconcileStats {
        self.ticks.send(t(now)).await.expect("reconciler running");
        let stats = self.stats.recv().await.expect("stats");
        assert!(
            stats.errors.is_empty(),
            "errors at {now}: {:?}",
            stats.errors
        );
        stats
    }

    /// The state of the active preset after a tick.
    fn active(stats: &ReconcileStats) -> &PresetState {
        stats
            .presets
            .iter()
            .find(|p| p.active)
            .expect("an active preset")
    }

    async fn active_preset(&self) -> Preset {
        let template = self
            .store
            .template(&self.template.id)
            .await
            .expect("template")
            .expect("exists");
        self.store
            .presets(&template.active_version_id)
            .await
            .expect("presets")
            .remove(0)
    }

    /// Runs every queued job to completion at `now`, as a daemon would.
    async fn run_jobs(&self, now: &str, success: bool) -> usize {
        let mut ran = 0;
        while let Some(job) = self
            .store
            .acquire_job(WORKER, t(now))
            .await
            .expect("acquire")
        {
            self.store
                .complete_job(
                    &job.build.id,
                    Some(WORKER),
                    JobResult {
                        success,
                        error: (!success).then(|| "echo: start fails".to_string()),
                        outputs: BTreeMap::new(),
                    },
                    t(now),
                )
                .await
                .expect("complete");
            ran += 1;
        }
        ran
    }

    /// Live prebuilds (unclaimed, not deleted) by status.
    async fn pool(&self) -> BTreeMap<WorkspaceStatus, usize> {
        let mut by_status = BTreeMap::new();
        for ws in
            dayshift_store::testing::all_workspaces(&self.store, Some(&self.system.username)).await
        {
            assert!(ws.workspace.prebuild_preset_id.is_some());
            assert!(
                ws.workspace.name.starts_with("prebuild-"),
                "{}",
                ws.workspace.name
            );
            *by_status.entry(ws.status()).or_insert(0) += 1;
        }
        by_status
    }

    async fn push_version(&self, preset: NewPreset) {
        self.store
            .create_template_version(
                &self.template.id,
                echo_version(&self.owner, vec![preset]),
                t(NOW),
            )
            .await
            .expect("new version");
    }

    async fn claim(&self, owner: &User, name: &str, now: &str) -> Option<dayshift_store::Applied> {
        let preset = self.active_preset().await;
        prebuilds::claim(
            &self.store,
            &preset,
            &region("eu"),
            &Claim {
                owner_id: owner.id.clone(),
                name: name.into(),
                autostart_schedule: None,
                ttl: Some(SignedDuration::from_hours(1)),
            },
            t(now),
        )
        .await
        .expect("claim")
    }
}

fn count(pool: &BTreeMap<WorkspaceStatus, usize>, status: WorkspaceStatus) -> usize {
    pool.get(&status).copied().unwrap_or(0)
}

async fn the_pool_fills_once_and_counts_builds_in_progress(db: TestStore) {
    let mut h = Harness::new(db, preset(3, &[], None)).await;
    let stats = h.tick(NOW).await;
    assert_eq!((stats.created, stats.deleted), (3, 0));
    let state = Harness::active(&stats);
    assert_eq!(
        (state.desired, state.counts.starting, state.counts.running),
        (3, 3, 0)
    );
    // The same instant again: the pending builds count as supply.
    let again = h.tick(NOW).await;
    assert_eq!((again.created, again.deleted), (0, 0));
    // One job running (acquired, unfinished), two pending, none done.
    let job = h
        .store
        .acquire_job(WORKER, t(NOW))
        .await
        .expect("acquire")
        .expect("a job");
    let stats = h.tick("2027-01-04T06:01:00Z").await;
    assert_eq!(stats.created, 0);
    assert_eq!(Harness::active(&stats).counts.starting, 3);
    h.store
        .complete_job(
            &job.build.id,
            Some(WORKER),
            JobResult {
                success: true,
                error: None,
                outputs: BTreeMap::new(),
            },
            t("2027-01-04T06:01:00Z"),
        )
        .await
        .expect("complete");
    h.run_jobs("2027-01-04T06:01:00Z", true).await;
    let stats = h.tick("2027-01-04T06:02:00Z").await;
    let state = Harness::active(&stats);
    assert_eq!(
        (stats.created, state.counts.running, state.counts.eligible),
        (0, 3, 3)
    );
    assert_eq!(count(&h.pool().await, WorkspaceStatus::Running), 3);
    // Prebuilds are built by the system user with the preset's values.
    for ws in dayshift_store::testing::all_workspaces(&h.store, Some(&h.system.username)).await {
        let first = dayshift_store::testing::all_builds(&h.store, &ws.workspace.id)
            .await
            .pop()
            .expect("build");
        assert_eq!(first.reason, BuildReason::Prebuild);
        assert_eq!(first.initiator_id, h.system.id);
        assert_eq!(first.parameters, region("eu"));
        // Prebuilds wait unclaimed: no deadline, never due for the executor.
        assert_eq!(ws.build.deadline, None);
        assert_eq!(ws.workspace.next_due_at, None);
    }
}

/// `* 9-17 * * 1-5` Berlin = 08:00Z-17:00Z in January: 1 outside, 3 inside.
async fn the_pool_follows_its_schedule_to_the_second(db: TestStore) {
    let mut h = Harness::new(db, preset(1, &[("* 9-17 * * 1-5", 3)], None)).await;
    assert_eq!(h.tick("2027-01-04T07:59:59Z").await.created, 1);
    h.run_jobs("2027-01-04T07:59:59Z", true).await;
    let stats = h.tick("2027-01-04T07:59:59Z").await;
    let state = Harness::active(&stats);
    assert_eq!(
        (
            stats.created,
            state.desired,
            state.schedule_in_force.as_deref()
        ),
        (0, 1, None)
    );
    assert_eq!(state.next_change_at, Some(t("2027-01-04T08:00:00Z")));

    let stats = h.tick("2027-01-04T08:00:00Z").await;
    let state = Harness::active(&stats);
    assert_eq!((stats.created, state.desired), (2, 3));
    assert_eq!(state.schedule_in_force.as_deref(), Some("* 9-17 * * 1-5"));
    assert_eq!(state.next_change_at, Some(t("2027-01-04T17:00:00Z")));
    h.run_jobs("2027-01-04T08:00:00Z", true).await;

    assert_eq!(h.tick("2027-01-04T16:59:59Z").await.deleted, 0);
    let oldest = dayshift_store::testing::all_workspaces(&h.store, Some(&h.system.username))
        .await
        .into_iter()
        .min_by_key(|ws| ws.workspace.created_at)
        .expect("a prebuild");
    let stats = h.tick("2027-01-04T17:00:00Z").await;
    assert_eq!((stats.created, stats.deleted), (0, 2));
    assert_eq!(Harness::active(&stats).desired, 1);
    // Surplus goes oldest first: the one made at 07:59:59 is among them.
    let gone = h
        .store
        .workspace(&oldest.workspace.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(gone.build.transition, Transition::Delete);
    assert_eq!(gone.build.reason, BuildReason::Prebuild);
    h.run_jobs("2027-01-04T17:00:00Z", true).await;
    let pool = h.pool().await;
    assert_eq!((pool.len(), count(&pool, WorkspaceStatus::Running)), (1, 1));
    assert_eq!(h.tick("2027-01-04T17:00:00Z").await.deleted, 0);
}

async fn expired_prebuilds_are_replaced(db: TestStore) {
    let mut h = Harness::new(db, preset(1, &[], Some(SignedDuration::from_hours(2)))).await;
    assert_eq!(h.tick(NOW).await.created, 1);
    h.run_jobs(NOW, true).await;
    // Exactly two hours old is not older than two hours.
    let stats = h.tick("2027-01-04T08:00:00Z").await;
    assert_eq!((stats.created, stats.deleted), (0, 0));
    let stats = h.tick("2027-01-04T08:00:01Z").await;
    assert_eq!((stats.created, stats.deleted), (1, 1));
    let state = Harness::active(&stats);
    assert_eq!(
        (
            state.counts.expired,
            state.counts.starting,
            state.counts.deleting
        ),
        (0, 1, 1)
    );
    h.run_jobs("2027-01-04T08:00:01Z", true).await;
    let pool = h.pool().await;
    assert_eq!((pool.len(), count(&pool, WorkspaceStatus::Running)), (1, 1));
}

async fn failures_back_off_then_hit_the_hard_limit_until_a_new_version(db: TestStore) {
    let mut h = Harness::new(db, preset(1, &[], None)).await;
    // Failure 1 at 06:00: wait 1 x 1m.
    assert_eq!(h.tick("2027-01-04T06:00:00Z").await.created, 1);
    h.run_jobs("2027-01-04T06:00:00Z", false).await;
    let stats = h.tick("2027-01-04T06:00:59Z").await;
    assert_eq!(stats.created, 0);
    let state = Harness::active(&stats);
    assert_eq!(
        (state.failures, state.backoff_until),
        (1, Some(t("2027-01-04T06:01:00Z")))
    );
    // Failure 2 at 06:01: wait 2 x 1m.
    assert_eq!(h.tick("2027-01-04T06:01:00Z").await.created, 1);
    h.run_jobs("2027-01-04T06:01:00Z", false).await;
    assert_eq!(h.tick("2027-01-04T06:02:59Z").await.created, 0);
    // Failure 3 at 06:03: the hard limit (3).
    assert_eq!(h.tick("2027-01-04T06:03:00Z").await.created, 1);
    h.run_jobs("2027-01-04T06:03:00Z", false).await;
    let stats = h.tick("2027-01-05T06:00:00Z").await;
    let state = Harness::active(&stats);
    assert!(state.hard_limited);
    assert_eq!((stats.created, state.backoff_until), (0, None));
    // Failed prebuilds stay for an operator to look at.
    assert_eq!(count(&h.pool().await, WorkspaceStatus::Failed), 3);

    // A new version's preset starts afresh.
    h.push_version(preset(1, &[], None)).await;
    let stats = h.tick("2027-01-05T06:00:00Z").await;
    assert_eq!((stats.created, stats.deleted), (1, 0));
    assert!(!Harness::active(&stats).hard_limited);
    h.run_jobs("2027-01-05T06:00:00Z", true).await;
    assert_eq!(count(&h.pool().await, WorkspaceStatus::Running), 1);
    assert_eq!(count(&h.pool().await, WorkspaceStatus::Failed), 3);
}

async fn a_new_version_replaces_the_old_pool(db: TestStore) {
    let mut h = Harness::new(db, preset(2, &[], None)).await;
    h.tick(NOW).await;
    h.run_jobs(NOW, true).await;
    let old = h.active_preset().await;
    h.push_version(preset(2, &[], None)).await;
    let stats = h.tick("2027-01-04T06:05:00Z").await;
    assert_eq!((stats.created, stats.deleted), (2, 2));
    let inactive = stats
        .presets
        .iter()
        .find(|p| !p.active)
        .expect("old preset reported");
    assert_eq!(
        (
            inactive.preset_id.as_str(),
            inactive.desired,
            inactive.deleted
        ),
        (old.id.as_str(), 0, 2)
    );
    h.run_jobs("2027-01-04T06:05:00Z", true).await;
    let stats = h.tick("2027-01-04T06:06:00Z").await;
    assert_eq!((stats.created, stats.deleted), (0, 0));
    // The old preset has nothing left, so it is no longer reported.
    assert!(
        stats.presets.iter().all(|p| p.active),
        "{:?}",
        stats.presets
    );
    assert_eq!(count(&h.pool().await, WorkspaceStatus::Running), 2);
}

async fn stopped_and_failed_prebuilds_are_left_for_an_operator(db: TestStore) {
    let mut h = Harness::new(db, preset(1, &[], None)).await;
    h.tick(NOW).await;
    h.run_jobs(NOW, true).await;
    let ws = dayshift_store::testing::all_workspaces(&h.store, Some(&h.system.username))
        .await
        .remove(0);
    // An operator stops it to look at it.
    h.store
        .update_workspace(&ws.workspace.id, LockMode::Wait, t(NOW), |s| {
            Ok::<_, ()>(WorkspaceChange {
                new_build: Some(NewBuild {
                    transition: Transition::Stop,
                    reason: BuildReason::Initiator,
                    template_version_id: s.reuse_version_id.clone(),
                    parameters: s.reuse_parameters.clone(),
                    initiator_id: h.owner.id.clone(),
                }),
                ..WorkspaceChange::default()
            })
        })
        .await
        .expect("update")
        .expect("stop queued");
    // A stopping prebuild is no longer supply: it is replaced at once.
    let stats = h.tick("2027-01-04T06:01:00Z").await;
    assert_eq!((stats.created, stats.deleted), (1, 0));
    assert_eq!(Harness::active(&stats).counts.stopping, 1);
    h.run_jobs("2027-01-04T06:01:00Z", true).await;
    let stats = h.tick("2027-01-04T06:02:00Z").await;
    assert_eq!((stats.created, stats.deleted), (0, 0));
    let state = Harness::active(&stats);
    assert_eq!((state.counts.stopped, state.counts.running), (1, 1));
    // Even with no prebuilds wanted, the stopped one stays.
    h.push_version(preset(0, &[], None)).await;
    h.tick("2027-01-04T06:03:00Z").await;
    h.run_jobs("2027-01-04T06:03:00Z", true).await;
    let pool = h.pool().await;
    assert_eq!(pool, BTreeMap::from([(WorkspaceStatus::Stopped, 1)]));
}

async fn pausing_stops_all_changes(db: TestStore) {
    let mut h = Harness::new(db, preset(2, &[], None)).await;
    h.store
        .set_setting(PAUSED_SETTING, "true")
        .await
        .expect("pause");
    let stats = h.tick(NOW).await;
    assert!(stats.paused);
    assert_eq!((stats.created, Harness::active(&stats).desired), (0, 2));
    h.store
        .set_setting(PAUSED_SETTING, "false")
        .await
        .expect("resume");
    let stats = h.tick(NOW).await;
    assert!(!stats.paused);
    assert_eq!(stats.created, 2);
}

async fn two_replicas_reconciling_together_create_each_prebuild_once(db: TestStore) {
    let h = Harness::new(db, preset(5, &[], None)).await;
    // A second replica: on PostgreSQL a store of its own on the same schema.
    let other_store = match &h._db.url {
        Some(url) => Store::open_postgres(url, policy())
            .await
            .expect("second store"),
        None => h.store.clone(),
    };
    let other = Reconciler::new(other_store, h.system.id.clone());
    let mine = h.reconciler.clone();
    for round in 0..3 {
        let now = t(NOW) + mins(round);
        let (a, b) = tokio::join!(mine.run_once(now), other.run_once(now));
        assert!(a.errors.is_empty() && b.errors.is_empty(), "{a:?} {b:?}");
        let want = if round == 0 { 5 } else { 0 };
        assert_eq!(a.created + b.created, want, "round {round}");
    }
    assert_eq!(count(&h.pool().await, WorkspaceStatus::Pending), 5);
}

async fn concurrent_claims_never_share_a_prebuild(db: TestStore) {
    let mut h = Harness::new(db, preset(8, &[], None)).await;
    h.tick(NOW).await;
    h.run_jobs(NOW, true).await;
    let mut users = Vec::new();
    for i in 0..20 {
        let user = h
            .store
            .create_user(
                NewUser {
                    username: format!("user{i}"),
                    email: format!("user{i}@example.com"),
                    password_hash: "hash".into(),
                    role: Role::Member,
                },
                t(NOW),
            )
            .await
            .expect("user");
        users.push(user);
    }
    let preset = h.active_preset().await;
    let claims = users.iter().map(|user| {
        let store = h.store.clone();
        let preset = preset.clone();
        let user = user.clone();
        tokio::spawn(async move {
            let claim = Claim {
                owner_id: user.id.clone(),
                name: "dev".into(),
                autostart_schedule: None,
                ttl: None,
            };
            prebuilds::claim(
                &store,
                &preset,
                &region("eu"),
                &claim,
                t("2027-01-04T06:01:00Z"),
            )
            .await
            .expect("claim")
            .map(|applied| (user.id, applied))
        })
    });
    let results = futures::future::join_all(claims).await;
    let mut claimed = BTreeSet::new();
    for result in results {
        if let Some((user, applied)) = result.expect("task") {
            let ws = &applied.state.workspace;
            assert_eq!(
                (ws.owner_id.as_str(), ws.name.as_str()),
                (user.as_str(), "dev")
            );
            assert_eq!(ws.prebuild_preset_id, None);
            assert!(claimed.insert(ws.id.clone()), "{} claimed twice", ws.id);
            let build = applied.new_build.expect("claim build");
            assert_eq!(
                (build.transition, build.reason),
                (Transition::Start, BuildReason::PrebuildClaim)
            );
            assert_eq!(build.initiator_id, user);
            assert_eq!(build.parameters, region("eu"));
        }
    }
    assert_eq!(claimed.len(), 8);
    assert!(h.pool().await.is_empty());
    // The pool is refilled at the next tick; totals count the claims.
    assert_eq!(h.tick("2027-01-04T06:02:00Z").await.created, 8);
    let totals = h.store.prebuild_totals().await.expect("totals");
    assert_eq!(
        totals
            .iter()
            .map(|t| (t.preset_name.as_str(), t.created, t.failed, t.claimed))
            .collect::<Vec<_>>(),
        vec![("eu", 16, 0, 8)]
    );
}

async fn a_claim_takes_only_ready_matching_unexpired_prebuilds(db: TestStore) {
    let mut h = Harness::new(db, preset(1, &[], Some(SignedDuration::from_hours(2)))).await;
    h.tick(NOW).await;
    // Still starting: nothing to claim.
    assert!(h.claim(&h.owner, "dev", NOW).await.is_none());
    h.run_jobs(NOW, true).await;
    // Other parameters than the prebuild was built with: a miss.
    let preset = h.active_preset().await;
    let other = Claim {
        owner_id: h.owner.id.clone(),
        name: "dev".into(),
        autostart_schedule: None,
        ttl: None,
    };
    let missed = prebuilds::claim(&h.store, &preset, &region("us"), &other, t(NOW))
        .await
        .expect("claim");
    assert!(missed.is_none());
    // Expired (older than 2h): not handed out.
    assert!(h
        .claim(&h.owner, "dev", "2027-01-04T08:00:01Z")
        .await
        .is_none());
    // A name the user already has: a conflict, and the prebuild stays.
    let claimed = h
        .claim(&h.owner, "dev", "2027-01-04T08:00:00Z")
        .await
        .expect("ready");
    let build = claimed.new_build.expect("build");
    h.run_jobs("2027-01-04T08:00:00Z", true).await;
    h.tick("2027-01-04T08:00:00Z").await;
    h.run_jobs("2027-01-04T08:00:00Z", true).await;
    let preset = h.active_preset().await;
    let same_name = prebuilds::claim(
        &h.store,
        &preset,
        &region("eu"),
        &Claim {
            owner_id: h.owner.id.clone(),
            name: "dev".into(),
            autostart_schedule: None,
            ttl: None,
        },
        t("2027-01-04T08:00:00Z"),
    )
    .await;
    assert!(
        matches!(same_name, Err(dayshift_store::StoreError::Conflict(_))),
        "{same_name:?}"
    );
    assert_eq!(count(&h.pool().await, WorkspaceStatus::Running), 1);
    assert_eq!(
        h.store
            .build(&build.id)
            .await
            .expect("build")
            .expect("exists")
            .reason,
        BuildReason::PrebuildClaim
    );
}

async fn a_claimed_workspace_is_autostopped_like_any_other(db: TestStore) {
    let mut h = Harness::new(db, preset(1, &[], None)).await;
    let executor = Executor::new(h.store.clone(), h.system.id.clone());
    h.tick(NOW).await;
    h.run_jobs(NOW, true).await;
    // Unclaimed prebuilds are never the executor's business.
    let far = t("2027-02-04T06:00:00Z");
    assert!(executor.run_once(far).await.transitions.is_empty());

    let claimed = h
        .claim(&h.owner, "dev", "2027-01-04T06:10:00Z")
        .await
        .expect("ready");
    let id = claimed.state.workspace.id.clone();
    assert_eq!(
        claimed.state.workspace.ttl,
        Some(SignedDuration::from_hours(1))
    );
    assert_eq!(
        claimed.state.workspace.last_used_at,
        t("2027-01-04T06:10:00Z")
    );
    h.run_jobs("2027-01-04T06:11:00Z", true).await;
    let ws = h.store.workspace(&id).await.expect("get").expect("exists");
    assert_eq!(ws.build.deadline, Some(t("2027-01-04T07:11:00Z")));
    assert!(executor
        .run_once(t("2027-01-04T07:10:59Z"))
        .await
        .transitions
        .is_empty());
    let stats = executor.run_once(t("2027-01-04T07:11:00Z")).await;
    assert_eq!(stats.transitions.get(&id), Some(&Transition::Stop));
    let ws = h.store.workspace(&id).await.expect("get").expect("exists");
    assert_eq!(
        (ws.build.reason, ws.workspace.owner_id.as_str()),
        (BuildReason::Autostop, h.owner.id.as_str())
    );
}

async fn the_wake_up_reads_schedule_changes_backoffs_and_expiries(db: TestStore) {
    let mut h = Harness::new(
        db,
        preset(
            1,
            &[("* 9-17 * * 1-5", 3)],
            Some(SignedDuration::from_hours(24)),
        ),
    )
    .await;
    let r = h.reconciler.clone();
    // Nothing built yet: the schedule's next boundary.
    assert_eq!(
        r.next_due(t(NOW), None).await.expect("due"),
        Some(t("2027-01-04T08:00:00Z"))
    );
    h.tick(NOW).await;
    h.run_jobs(NOW, false).await;
    // Failed once at 06:00: creation may resume at 06:01.
    assert_eq!(
        r.next_due(t(NOW), None).await.expect("due"),
        Some(t("2027-01-04T06:01:00Z"))
    );
    // ... which the driver, having ticked at 06:01, looks beyond.
    assert_eq!(
        r.next_due(t(NOW), Some(t("2027-01-04T06:01:00Z")))
            .await
            .expect("due"),
        Some(t("2027-01-04T08:00:00Z"))
    );
    h.tick("2027-01-04T06:01:00Z").await;
    h.run_jobs("2027-01-04T06:01:00Z", true).await;
    // A running prebuild expires a day after its creation.
    assert_eq!(
        r.next_due(t("2027-01-04T18:00:00Z"), None)
            .await
            .expect("due"),
        Some(t("2027-01-05T06:01:00.001Z"))
    );
}
