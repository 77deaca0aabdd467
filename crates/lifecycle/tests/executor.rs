//! The autobuild executor end to end on a real store, on SQLite and on
//! PostgreSQL (skipped when unreachable outside CI). Time is a settable
//! clock; the executor runs on its tick channel and reports on its stats
//! channel, so every test sends a tick and waits for that tick's stats:
//! no sleeps. Builds are "run" by the test itself (`acquire_job` then
//! `complete_job`), standing in for a provisioner daemon.

use std::collections::BTreeMap;
use std::sync::Arc;

use dayshift_lifecycle::wake::NextDue;
use dayshift_lifecycle::{Clock, Executor, LifecyclePolicy, ManualClock, RunStats};
use dayshift_schedule::{SignedDuration, Timestamp, Weekday, Weekdays};
use dayshift_store::testing::TestStore;
use dayshift_store::{
    Build, BuildReason, JobResult, JobStatus, LockMode, NewBuild, NewTemplateVersion, NewWorkspace,
    Store, Template, TemplatePolicy, TemplateVersion, Transition, User, WorkspaceChange,
    WorkspaceState,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn t(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

const MS: SignedDuration = SignedDuration::from_millis(1);

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

/// Monday 2027-01-04 08:00 UTC.
const NOW: &str = "2027-01-04T08:00:00Z";
const WEEKDAYS_9: &str = "CRON_TZ=UTC 0 9 * * 1-5";
const WORKER: &str = "test-daemon";

dayshift_store::on_both_backends!(
    autostart_at_the_next_slot_after_a_stop,
    autostop_at_the_deadline,
    failedstop_after_the_failure_ttl,
    dormancy_marks_stops_and_autodelete_deletes,
    a_stopped_workspace_is_not_stopped_again_and_starts_when_due,
    an_unfinished_build_is_left_alone,
    a_new_start_reuses_the_old_version_and_parameters,
    the_same_tick_twice_queues_one_build,
    two_replicas_ticking_together_queue_one_build,
    a_crowd_due_in_one_tick_is_handled_each_exactly_once,
    autostart_policy_changes_rederive_next_start_at,
    autodelete_policy_changes_rederive_deleting_at,
    a_shorter_dormancy_threshold_applies_at_the_next_tick,
    a_stale_due_time_is_repaired_not_retried,
    the_wake_up_driver_reads_the_next_due_time_from_the_store,
);

fn policy() -> Arc<LifecyclePolicy> {
    Arc::new(LifecyclePolicy)
}

/// A store with an owner and a template, an executor running on a tick
/// channel, and a settable clock for the writes the test makes.
struct Harness {
    db: TestStore,
    store: Store,
    clock: ManualClock,
    ticks: mpsc::Sender<Timestamp>,
    stats: mpsc::Receiver<RunStats>,
    cancel: CancellationToken,
    owner: User,
    template: Template,
    version: TemplateVersion,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn echo_version(owner: &User) -> NewTemplateVersion {
    NewTemplateVersion {
        created_by: owner.id.clone(),
        provisioner: "echo".into(),
        connect: None,
        manifest_json: "{}".into(),
        bundle: Vec::new(),
        presets: Vec::new(),
    }
}

impl Harness {
    async fn new(db: TestStore, policy: TemplatePolicy) -> Harness {
        let store = db.store.clone();
        let clock = ManualClock::new(t(NOW));
        let (owner, system) =
            dayshift_store::testing::owner_and_system_user(&store, "alice", clock.now()).await;
        let (template, version) = store
            .create_template("demo", &policy, echo_version(&owner), clock.now())
            .await
            .expect("template");
        let (tick_tx, tick_rx) = mpsc::channel(1);
        let (stats_tx, stats_rx) = mpsc::channel(1);
        let cancel = CancellationToken::new();
        tokio::spawn(Executor::new(store.clone(), system.id).run(
            tick_rx,
            Some(stats_tx),
            cancel.clone(),
        ));
        Harness {
            db,
            store,
            clock,
            ticks: tick_tx,
            stats: stats_rx,
            cancel,
            owner,
            template,
            version,
        }
    }

    /// Sets the clock to `at`, runs one iteration there and returns its
    /// stats (asserting it met no error).
    async fn tick(&mut self, at: Timestamp) -> RunStats {
        self.clock.set(at);
        self.ticks.send(at).await.expect("executor is running");
        let stats = self.stats.recv().await.expect("stats of the tick");
        assert_eq!(stats.now, Some(at));
        assert!(
            stats.errors.is_empty(),
            "errors at {at}: {:?}",
            stats.errors
        );
        stats
    }

    /// Ticks at `at` and asserts exactly `expected` transitions.
    async fn expect(&mut self, at: Timestamp, expected: &[(&WorkspaceState, Transition)]) {
        let stats = self.tick(at).await;
        let expected: BTreeMap<String, Transition> = expected
            .iter()
            .map(|(ws, tr)| (ws.workspace.id.clone(), *tr))
            .collect();
        assert_eq!(stats.transitions, expected, "transitions at {at}");
    }

    /// Creates a workspace whose first start build runs and succeeds now.
    async fn running(
        &self,
        name: &str,
        schedule: Option<&str>,
        ttl: Option<SignedDuration>,
    ) -> WorkspaceState {
        let ws = self.create(name, schedule, ttl).await;
        self.finish_all(true).await;
        self.get(&ws).await
    }

    async fn create(
        &self,
        name: &str,
        schedule: Option<&str>,
        ttl: Option<SignedDuration>,
    ) -> WorkspaceState {
        self.store
            .create_workspace(
                NewWorkspace {
                    owner_id: self.owner.id.clone(),
                    name: name.into(),
                    template_id: self.template.id.clone(),
                    autostart_schedule: schedule.map(str::to_string),
                    ttl,
                    prebuild_preset_id: None,
                },
                NewBuild {
                    transition: Transition::Start,
                    reason: BuildReason::Initiator,
                    template_version_id: self.version.id.clone(),
                    parameters: BTreeMap::from([("region".into(), "eu".into())]),
                    initiator_id: self.owner.id.clone(),
                },
                self.clock.now(),
            )
            .await
            .expect("create workspace")
    }

    /// Runs every queued build to completion at the clock's time, as a
    /// provisioner daemon would.
    async fn finish_all(&self, success: bool) -> usize {
        let now = self.clock.now();
        let mut finished = 0;
        while let Some(job) = self.store.acquire_job(WORKER, now).await.expect("acquire") {
            let result = JobResult {
                success,
                error: (!success).then(|| "it failed".to_string()),
                outputs: BTreeMap::new(),
            };
            self.store
                .complete_job(&job.build.id, Some(WORKER), result, now)
                .await
                .expect("complete");
            finished += 1;
        }
        finished
    }

    /// The user asks for a build, as the API does.
    async fn user_build(&self, ws: &WorkspaceState, transition: Transition) {
        let initiator = self.owner.id.clone();
        self.store
            .update_workspace(&ws.workspace.id, LockMode::Wait, self.clock.now(), |s| {
                Ok::<_, ()>(WorkspaceChange {
                    new_build: Some(NewBuild {
                        transition,
                        reason: BuildReason::Initiator,
                        template_version_id: s.reuse_version_id.clone(),
                        parameters: s.reuse_parameters.clone(),
                        initiator_id: initiator,
                    }),
                    ..WorkspaceChange::default()
                })
            })
            .await
            .expect("update")
            .expect("build queued");
    }

    async fn get(&self, ws: &WorkspaceState) -> WorkspaceState {
        self.store
            .workspace(&ws.workspace.id)
            .await
            .expect("read")
            .expect("workspace exists")
    }

    async fn builds(&self, ws: &WorkspaceState) -> Vec<Build> {
        dayshift_store::testing::all_builds(&self.store, &ws.workspace.id).await
    }

    /// The latest build, asserting what queued it.
    async fn latest(
        &self,
        ws: &WorkspaceState,
        transition: Transition,
        reason: BuildReason,
    ) -> Build {
        let build = self.get(ws).await.build;
        assert_eq!(
            (build.transition, build.reason),
            (transition, reason),
            "{build:?}"
        );
        build
    }

    async fn set_policy(&self, edit: impl FnOnce(&mut TemplatePolicy)) {
        let mut policy = self
            .store
            .template(&self.template.id)
            .await
            .expect("read template")
            .expect("template")
            .policy;
        edit(&mut policy);
        self.store
            .update_template_policy(&self.template.id, &policy)
            .await
            .expect("update policy");
    }
}

// ---- one test per rule ----------------------------------------------------

async fn autostart_at_the_next_slot_after_a_stop(db: TestStore) {
    let mut h = Harness::new(db, TemplatePolicy::default()).await;
    let ws = h.running("dev", Some(WEEKDAYS_9), None).await;
    // Stopped Monday at 18:00, after that day's slot.
    h.clock.set(t("2027-01-04T18:00:00Z"));
    h.user_build(&ws, Transition::Stop).await;
    h.finish_all(true).await;
    let slot = t("2027-01-05T09:00:00Z");
    assert_eq!(h.get(&ws).await.workspace.next_start_at, Some(slot));
    assert_eq!(h.get(&ws).await.workspace.next_due_at, Some(slot));

    h.expect(t("2027-01-04T18:30:00Z"), &[]).await;
    h.expect(slot - MS, &[]).await;
    h.expect(slot, &[(&ws, Transition::Start)]).await;
    let build = h
        .latest(&ws, Transition::Start, BuildReason::Autostart)
        .await;
    assert_eq!(build.created_at, slot);
    assert_eq!(build.job.status, JobStatus::Pending);
    assert_eq!(
        h.get(&ws).await.workspace.next_due_at,
        None,
        "nothing due while it builds"
    );
}

async fn autostop_at_the_deadline(db: TestStore) {
    let mut h = Harness::new(db, TemplatePolicy::default()).await;
    let ws = h.running("dev", None, Some(hours(8))).await;
    let deadline = t("2027-01-04T16:00:00Z");
    assert_eq!(ws.build.deadline, Some(deadline));
    h.expect(deadline - MS, &[]).await;
    h.expect(deadline, &[(&ws, Transition::Stop)]).await;
    h.latest(&ws, Transition::Stop, BuildReason::Autostop).await;
    h.finish_all(true).await;
    assert_eq!(
        h.get(&ws).await.workspace.next_due_at,
        None,
        "stopped without a schedule"
    );
    h.expect(deadline + hours(24 * 30), &[]).await;
}

async fn failedstop_after_the_failure_ttl(db: TestStore) {
    let policy = TemplatePolicy {
        failure_ttl: hours(1),
        ..TemplatePolicy::default()
    };
    let mut h = Harness::new(db, policy).await;
    let ws = h.create("dev", None, None).await;
    h.finish_all(false).await;
    let failed_at = t(NOW);
    h.expect(failed_at + hours(1), &[]).await;
    h.expect(failed_at + hours(1) + MS, &[(&ws, Transition::Stop)])
        .await;
    h.latest(&ws, Transition::Stop, BuildReason::Failedstop)
        .await;
}

async fn dormancy_marks_stops_and_autodelete_deletes(db: TestStore) {
    let policy = TemplatePolicy {
        time_til_dormant: hours(24),
        time_til_dormant_autodelete: hours(24 * 7),
        ..TemplatePolicy::default()
    };
    let mut h = Harness::new(db, policy).await;
    let ws = h.running("dev", Some(WEEKDAYS_9), None).await;
    let idle = ws.workspace.last_used_at + hours(24);
    h.expect(idle, &[]).await;

    let marked = idle + MS;
    let stats = h.tick(marked).await;
    assert_eq!(
        stats.transitions.get(&ws.workspace.id),
        Some(&Transition::Stop)
    );
    assert_eq!(stats.marked_dormant, vec![ws.workspace.id.clone()]);
    h.latest(&ws, Transition::Stop, BuildReason::Dormancy).await;
    let after = h.get(&ws).await.workspace;
    assert_eq!(after.dormant_at, Some(marked));
    let deleting_at = marked + hours(24 * 7);
    assert_eq!(after.deleting_at, Some(deleting_at));

    h.finish_all(true).await;
    let stopped = h.get(&ws).await.workspace;
    assert_eq!(
        stopped.next_start_at, None,
        "a dormant workspace never autostarts"
    );
    assert_eq!(stopped.next_due_at, Some(deleting_at + MS));
    // Its weekday slots pass without a start.
    h.expect(t("2027-01-06T09:00:00Z"), &[]).await;

    h.expect(deleting_at, &[]).await;
    h.expect(deleting_at + MS, &[(&ws, Transition::Delete)])
        .await;
    h.latest(&ws, Transition::Delete, BuildReason::Autodelete)
        .await;
    h.finish_all(true).await;
    assert!(h
        .store
        .workspace(&ws.workspace.id)
        .await
        .expect("read")
        .is_none());
}

async fn a_stopped_workspace_is_not_stopped_again_and_starts_when_due(db: TestStore) {
    let mut h = Harness::new(db, TemplatePolicy::default()).await;
    let ws = h.running("dev", Some(WEEKDAYS_9), Some(hours(8))).await;
    // Started at 08:00, an hour before its 09:00 autostart: the 8 hours
    // count from the autostart, not from the early start.
    let deadline = t("2027-01-04T17:00:00Z");
    assert_eq!(ws.build.deadline, Some(deadline));
    // The user stops it at noon: its old deadline no longer counts.
    h.clock.set(t("2027-01-04T12:00:00Z"));
    h.user_build(&ws, Transition::Stop).await;
    h.finish_all(true).await;
    h.expect(deadline, &[]).await;

    // Due at Tuesday's slot; started then, with a deadline from then.
    let slot = t("2027-01-05T09:00:00Z");
    h.expect(slot, &[(&ws, Transition::Start)]).await;
    h.finish_all(true).await;
    let deadline = slot + hours(8);
    assert_eq!(h.get(&ws).await.build.deadline, Some(deadline));
    h.expect(deadline, &[(&ws, Transition::Stop)]).await;
}

async fn an_unfinished_build_is_left_alone(db: TestStore) {
    let policy = TemplatePolicy {
        failure_ttl: hours(1),
        time_til_dormant: hours(2),
        ..TemplatePolicy::default()
    };
    let mut h = Harness::new(db, policy).await;
    let ws = h.running("dev", Some(WEEKDAYS_9), Some(hours(1))).await;
    // Just before the deadline the user restarts: the stop is pending.
    h.clock.set(t("2027-01-04T08:59:00Z"));
    h.user_build(&ws, Transition::Stop).await;
    let later = t("2027-01-05T12:00:00Z");
    h.expect(later, &[]).await;
    // Now running on a daemon: still untouched, whatever is overdue.
    let job = h
        .store
        .acquire_job(WORKER, later)
        .await
        .expect("acquire")
        .expect("a job");
    assert_eq!(job.build.job.status, JobStatus::Running);
    h.expect(later + hours(24), &[]).await;
    assert_eq!(h.builds(&ws).await.len(), 2);
}

async fn a_new_start_reuses_the_old_version_and_parameters(db: TestStore) {
    let mut h = Harness::new(db, TemplatePolicy::default()).await;
    let ws = h.running("dev", Some(WEEKDAYS_9), None).await;
    h.clock.set(t("2027-01-04T18:00:00Z"));
    h.user_build(&ws, Transition::Stop).await;
    h.finish_all(true).await;
    let v2 = h
        .store
        .create_template_version(&h.template.id, echo_version(&h.owner), h.clock.now())
        .await
        .expect("push v2");
    assert_ne!(v2.id, h.version.id);
    assert!(h.get(&ws).await.is_outdated());

    h.expect(t("2027-01-05T09:00:00Z"), &[(&ws, Transition::Start)])
        .await;
    let build = h
        .latest(&ws, Transition::Start, BuildReason::Autostart)
        .await;
    assert_eq!(
        build.template_version_id, h.version.id,
        "the version it ran, not the active one"
    );
    assert_eq!(
        build.parameters,
        BTreeMap::from([("region".into(), "eu".into())])
    );
}

async fn the_same_tick_twice_queues_one_build(db: TestStore) {
    let mut h = Harness::new(db, TemplatePolicy::default()).await;
    let ws = h.running("dev", None, Some(hours(1))).await;
    let deadline = t("2027-01-04T09:00:00Z");
    h.expect(deadline, &[(&ws, Transition::Stop)]).await;
    h.expect(deadline, &[]).await;
    h.expect(deadline + hours(1), &[]).await;
    assert_eq!(h.builds(&ws).await.len(), 2);
}

async fn two_replicas_ticking_together_queue_one_build(db: TestStore) {
    let h = Harness::new(db, TemplatePolicy::default()).await;
    let mut due = Vec::new();
    for i in 0..20 {
        due.push(h.running(&format!("dev{i}"), None, Some(hours(1))).await);
    }
    // A second replica: its own connection pool on the same database.
    let other = match &h.db.url {
        Some(url) => Store::open_postgres(url, policy())
            .await
            .expect("second replica"),
        None => h.store.clone(),
    };
    let system = h
        .store
        .ensure_system_user("prebuilds", t(NOW))
        .await
        .expect("system user");
    let a = Executor::new(h.store.clone(), system.id.clone());
    let b = Executor::new(other, system.id);
    let at = t("2027-01-04T09:00:00Z");
    let (sa, sb) = tokio::join!(a.run_once(at), b.run_once(at));
    assert!(
        sa.errors.is_empty() && sb.errors.is_empty(),
        "{:?} {:?}",
        sa.errors,
        sb.errors
    );
    assert_eq!(
        sa.transitions.len() + sb.transitions.len(),
        due.len(),
        "{sa:?} {sb:?}"
    );
    for ws in &due {
        assert_eq!(h.builds(ws).await.len(), 2, "one stop each");
    }
}

async fn a_crowd_due_in_one_tick_is_handled_each_exactly_once(db: TestStore) {
    let mut h = Harness::new(db, TemplatePolicy::default()).await;
    const CROWD: usize = 300;
    let mut crowd = Vec::new();
    for i in 0..CROWD {
        crowd.push(h.create(&format!("dev{i:03}"), None, Some(hours(1))).await);
    }
    // One workspace not due, to be left alone.
    let bystander = h.create("bystander", None, Some(hours(2))).await;
    assert_eq!(h.finish_all(true).await, CROWD + 1);

    let deadline = t("2027-01-04T09:00:00Z");
    let stats = h.tick(deadline).await;
    assert_eq!(stats.transitions.len(), CROWD);
    assert!(!stats.transitions.contains_key(&bystander.workspace.id));
    for ws in &crowd {
        let builds = h.builds(ws).await;
        assert_eq!(builds.len(), 2, "{}", ws.workspace.name);
        assert_eq!(builds[0].reason, BuildReason::Autostop);
    }
    h.expect(deadline, &[]).await;
    h.expect(deadline + hours(1), &[(&bystander, Transition::Stop)])
        .await;
}

// ---- template policies ----------------------------------------------------

async fn autostart_policy_changes_rederive_next_start_at(db: TestStore) {
    let mut h = Harness::new(db, TemplatePolicy::default()).await;
    let ws = h.running("dev", Some(WEEKDAYS_9), None).await;
    h.clock.set(t("2027-01-04T18:00:00Z"));
    h.user_build(&ws, Transition::Stop).await;
    h.finish_all(true).await;
    assert_eq!(
        h.get(&ws).await.workspace.next_start_at,
        Some(t("2027-01-05T09:00:00Z"))
    );

    h.set_policy(|p| p.allow_user_autostart = false).await;
    assert_eq!(h.get(&ws).await.workspace.next_start_at, None);
    assert_eq!(h.get(&ws).await.workspace.next_due_at, None);
    h.expect(t("2027-01-05T09:00:00Z"), &[]).await;

    // Allowed again, but only on Thursdays.
    h.set_policy(|p| {
        p.allow_user_autostart = true;
        p.autostart_requirement_days = Weekdays::NONE.with(Weekday::Thursday);
    })
    .await;
    let thursday = t("2027-01-07T09:00:00Z");
    assert_eq!(h.get(&ws).await.workspace.next_start_at, Some(thursday));
    h.expect(t("2027-01-06T09:00:00Z"), &[]).await;
    h.expect(thursday, &[(&ws, Transition::Start)]).await;
}

async fn autodelete_policy_changes_rederive_deleting_at(db: TestStore) {
    let policy = TemplatePolicy {
        time_til_dormant: hours(24),
        ..TemplatePolicy::default()
    };
    let mut h = Harness::new(db, policy).await;
    let ws = h.create("dev", None, None).await;
    h.finish_all(true).await;
    h.user_build(&ws, Transition::Stop).await;
    h.finish_all(true).await;
    let marked = t(NOW) + hours(24) + MS;
    let stats = h.tick(marked).await;
    assert_eq!(stats.marked_dormant, vec![ws.workspace.id.clone()]);
    assert!(
        stats.transitions.is_empty(),
        "a stopped workspace is only marked"
    );
    assert_eq!(
        h.get(&ws).await.workspace.deleting_at,
        None,
        "auto-deletion is off"
    );

    h.set_policy(|p| p.time_til_dormant_autodelete = hours(24 * 30))
        .await;
    assert_eq!(
        h.get(&ws).await.workspace.deleting_at,
        Some(marked + hours(24 * 30))
    );
    h.set_policy(|p| p.time_til_dormant_autodelete = hours(48))
        .await;
    let deleting_at = marked + hours(48);
    let after = h.get(&ws).await.workspace;
    assert_eq!(after.deleting_at, Some(deleting_at));
    assert_eq!(after.next_due_at, Some(deleting_at + MS));

    h.set_policy(|p| p.time_til_dormant_autodelete = SignedDuration::ZERO)
        .await;
    let off = h.get(&ws).await.workspace;
    assert_eq!((off.deleting_at, off.next_due_at), (None, None));
    h.expect(deleting_at + hours(1), &[]).await;

    h.set_policy(|p| p.time_til_dormant_autodelete = hours(48))
        .await;
    h.expect(deleting_at + hours(1), &[(&ws, Transition::Delete)])
        .await;
}

async fn a_shorter_dormancy_threshold_applies_at_the_next_tick(db: TestStore) {
    let policy = TemplatePolicy {
        time_til_dormant: hours(24 * 30),
        ..TemplatePolicy::default()
    };
    let mut h = Harness::new(db, policy).await;
    let ws = h.running("dev", None, None).await;
    let later = t(NOW) + hours(48);
    h.expect(later, &[]).await;
    h.set_policy(|p| p.time_til_dormant = hours(24)).await;
    assert_eq!(
        h.get(&ws).await.workspace.next_due_at,
        Some(t(NOW) + hours(24) + MS)
    );
    h.expect(later, &[(&ws, Transition::Stop)]).await;
    h.latest(&ws, Transition::Stop, BuildReason::Dormancy).await;
}

// ---- robustness -----------------------------------------------------------

async fn a_stale_due_time_is_repaired_not_retried(db: TestStore) {
    let mut h = Harness::new(db, TemplatePolicy::default()).await;
    let ws = h.running("dev", None, None).await;
    // A due time no rule agrees with (as an older version might leave).
    sqlx::query("UPDATE workspaces SET next_due_at = $1 WHERE id = $2")
        .bind(t(NOW).as_millisecond())
        .bind(&ws.workspace.id)
        .execute(h.store.pool())
        .await
        .expect("corrupt the due time");
    h.expect(t(NOW) + hours(1), &[]).await;
    assert_eq!(h.get(&ws).await.workspace.next_due_at, None, "re-derived");
    assert!(h
        .store
        .due_workspace_ids(t(NOW) + hours(1), 10)
        .await
        .expect("due")
        .is_empty());
}

async fn the_wake_up_driver_reads_the_next_due_time_from_the_store(db: TestStore) {
    let h = Harness::new(db, TemplatePolicy::default()).await;
    assert_eq!(h.store.next_due(None).await, None);
    h.running("one", None, Some(hours(1))).await;
    h.running("two", None, Some(hours(2))).await;
    let (one, two) = (t(NOW) + hours(1), t(NOW) + hours(2));
    assert_eq!(h.store.next_due(None).await, Some(one));
    assert_eq!(h.store.next_due(Some(one - MS)).await, Some(one));
    assert_eq!(
        h.store.next_due(Some(one)).await,
        Some(two),
        "strictly after"
    );
    assert_eq!(h.store.next_due(Some(two)).await, None);
}
