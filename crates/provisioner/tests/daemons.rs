//! Provisioner daemons against a real store, on SQLite and PostgreSQL:
//! several daemons on several replicas run every job exactly once; an idle
//! daemon wakes when another replica queues a job (PostgreSQL
//! announcements); a daemon killed mid-job has its job failed by the
//! heartbeat timeout. Tests wait on the daemons' progress signals, never on
//! wall-clock time; the heartbeat timeout is driven by a manual monotonic
//! clock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dayshift_provisioner::daemon::{forward_job_announcements, Daemon, DaemonConfig, JobEvents};
use dayshift_provisioner::reaper::SilentJobReaper;
use dayshift_provisioner::{BundleFile, TemplateBundle};
use dayshift_schedule::{SignedDuration, Timestamp};
use dayshift_store::clock::{Clock, ManualClock, ManualMonotonicClock};
use dayshift_store::testing::{self, Backend, TestStore};
use dayshift_store::*;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

const NOW: &str = "2027-01-04T08:00:00Z";

fn t(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

/// Bounds every wait, so a broken wake-up fails the test instead of
/// hanging it. Never reached when things work.
const PATIENCE: Duration = Duration::from_secs(60);

struct Fixture {
    ts: TestStore,
    owner: User,
    template: Template,
    version_id: String,
    work: tempfile::TempDir,
}

/// A store with an owner and an echo template whose builds take `duration`.
async fn fixture(backend: Backend, duration: &str) -> Option<Fixture> {
    let ts = testing::open(backend, Arc::new(NoPolicy)).await?;
    let owner = ts
        .store
        .create_first_user(
            NewUser {
                username: "alice".into(),
                email: "alice@example.com".into(),
                password_hash: "hash".into(),
                role: Role::Owner,
            },
            t(NOW),
        )
        .await
        .expect("user");
    let toml = format!("provisioner = \"echo\"\n[echo]\nduration = \"{duration}\"\n");
    let bundle = TemplateBundle {
        files: vec![BundleFile {
            path: "dayshift.toml".into(),
            mode: 0o644,
            content: toml.into_bytes(),
        }],
    };
    let (template, version) = ts
        .store
        .create_template(
            "echo",
            &TemplatePolicy::default(),
            bundle.new_version(&owner.id).expect("template version"),
            t(NOW),
        )
        .await
        .expect("template");
    Some(Fixture {
        ts,
        owner,
        template,
        version_id: version.id,
        work: tempfile::tempdir().expect("work dir"),
    })
}

impl Fixture {
    /// A workspace with a pending start build, queued through `store`.
    async fn workspace(&self, store: &Store, name: &str) -> WorkspaceState {
        store
            .create_workspace(
                NewWorkspace {
                    owner_id: self.owner.id.clone(),
                    name: name.into(),
                    template_id: self.template.id.clone(),
                    autostart_schedule: None,
                    ttl: None,
                    prebuild_preset_id: None,
                },
                NewBuild {
                    transition: Transition::Start,
                    reason: BuildReason::Initiator,
                    template_version_id: self.version_id.clone(),
                    parameters: BTreeMap::new(),
                    initiator_id: self.owner.id.clone(),
                },
                t(NOW),
            )
            .await
            .expect("workspace")
    }

    /// Another replica's store on the same database (on SQLite, which
    /// serves one process, the same store).
    async fn replica(&self) -> Store {
        match &self.ts.url {
            Some(url) => Store::open_postgres(url, Arc::new(NoPolicy))
                .await
                .expect("second store"),
            None => self.ts.store.clone(),
        }
    }

    /// A built-in daemon that never polls on its own: only wake-ups (or
    /// its first look) find jobs.
    fn daemon(
        &self,
        store: &Store,
        events: &Arc<JobEvents>,
        clock: &ManualClock,
        name: &str,
    ) -> Daemon {
        Daemon::new(
            store.clone(),
            Arc::new(clock.clone()),
            events.clone(),
            DaemonConfig {
                name: name.into(),
                work_dir: self.work.path().to_path_buf(),
                heartbeat_interval: Duration::from_secs(3600),
                idle_poll: Duration::from_secs(3600),
                state_limit: dayshift_provisioner::state::DEFAULT_STATE_LIMIT,
            },
        )
    }
}

/// Waits until `done` holds, looking again whenever any of `events`
/// reports progress.
async fn wait_until<F, Fut>(events: &[&Arc<JobEvents>], mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut receivers: Vec<_> = events.iter().map(|e| e.subscribe()).collect();
    let wait = async {
        while !done().await {
            let changes = receivers.iter_mut().map(|r| Box::pin(r.changed()));
            let (changed, _, _) = futures::future::select_all(changes).await;
            changed.expect("job events alive");
        }
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .expect("the daemons made the expected progress");
}

async fn succeeded(store: &Store) -> i64 {
    store
        .job_counts()
        .await
        .expect("job counts")
        .get(&JobStatus::Succeeded)
        .copied()
        .unwrap_or(0)
}

async fn several_daemons_on_several_replicas_run_each_job_once(backend: Backend) {
    let Some(f) = fixture(backend, "0s").await else {
        return;
    };
    let clock = ManualClock::new(t(NOW));
    let replicas = [f.ts.store.clone(), f.replica().await];
    const JOBS: usize = 40;
    let mut builds = Vec::new();
    for i in 0..JOBS {
        let store = &replicas[i % 2];
        builds.push(f.workspace(store, &format!("ws-{i}")).await.build.id);
    }
    let events = [Arc::new(JobEvents::new()), Arc::new(JobEvents::new())];
    let cancel = CancellationToken::new();
    let mut daemons = JoinSet::new();
    for (r, store) in replicas.iter().enumerate() {
        for d in 0..2 {
            let daemon = f.daemon(store, &events[r], &clock, &format!("replica{r}-daemon{d}"));
            daemons.spawn(daemon.run(cancel.child_token()));
        }
    }
    let store = &f.ts.store;
    wait_until(&[&events[0], &events[1]], || async {
        succeeded(store).await == JOBS as i64
    })
    .await;
    cancel.cancel();
    while let Some(stopped) = daemons.join_next().await {
        stopped
            .expect("daemon task")
            .expect("daemon stopped cleanly");
    }

    for id in &builds {
        let build = store.build(id).await.unwrap().expect("build");
        assert_eq!(build.job.status, JobStatus::Succeeded, "{id}");
        assert!(build.job.worker.is_some_and(|w| w.starts_with("replica")));
        let logs = store.build_logs(id, 0, 1000).await.unwrap();
        let runs = logs
            .iter()
            .filter(|l| l.output.starts_with("echo provisioner:"))
            .count();
        assert_eq!(runs, 1, "build {id} ran exactly once: {logs:?}");
    }
}

async fn daemon_killed_mid_job_is_failed_by_the_heartbeat_timeout(backend: Backend) {
    let Some(f) = fixture(backend, "1h").await else {
        return;
    };
    let store = f.ts.store.clone();
    let clock = ManualClock::new(t(NOW));
    let ws = f.workspace(&store, "dev").await;
    let events = Arc::new(JobEvents::new());
    let daemon = f.daemon(&store, &events, &clock, "doomed");
    let task = tokio::spawn(daemon.run(CancellationToken::new()));

    // The echo build announces its hour of work, then works.
    let build_id = ws.build.id.clone();
    wait_until(&[&events], || async {
        let logs = store.build_logs(&build_id, 0, 100).await.unwrap();
        logs.iter().any(|l| l.output.starts_with("working for"))
    })
    .await;
    assert_eq!(
        store
            .workspace(&ws.workspace.id)
            .await
            .unwrap()
            .unwrap()
            .status(),
        WorkspaceStatus::Starting
    );
    // Killed: no cancellation, no completion, no more heartbeats.
    task.abort();
    assert!(task.await.expect_err("aborted").is_cancelled());

    // The reaper measures silence in real time, on its own monotonic
    // clock; the server clock only stamps the failure.
    let real_time = ManualMonotonicClock::new();
    let timeout = Duration::from_secs(90);
    let reaper = SilentJobReaper::new(store.clone(), Arc::new(real_time.clone()), timeout);
    let reap = || async { reaper.reap_once(clock.now()).await.unwrap() };
    assert!(reap().await.is_empty(), "first sight");
    // A heartbeat (sent here on the dead daemon's behalf) restarts the
    // count: 60s + 60s of real time is never 90s of silence.
    real_time.advance(Duration::from_secs(60));
    assert!(store
        .heartbeat_job(&build_id, "doomed", clock.now())
        .await
        .unwrap());
    assert!(reap().await.is_empty());
    real_time.advance(Duration::from_secs(60));
    assert!(reap().await.is_empty(), "60s since the last heartbeat");
    // The server clock jumps a week (`--dev-clock`): no real time passed.
    clock.advance(SignedDuration::from_hours(24 * 7)).unwrap();
    assert!(reap().await.is_empty(), "the dev clock is not real time");
    real_time.advance(Duration::from_secs(30));
    assert!(
        reap().await.is_empty(),
        "silent for exactly the timeout: still alive"
    );
    real_time.advance(Duration::from_secs(1));
    assert_eq!(reap().await, vec![build_id.clone()]);

    let state = store.workspace(&ws.workspace.id).await.unwrap().unwrap();
    assert_eq!(
        state.status(),
        WorkspaceStatus::Failed,
        "the workspace is left consistent"
    );
    assert_eq!(state.build.job.completed_at, Some(clock.now()));
    let error = state.build.job.error.unwrap_or_default();
    assert!(error.contains("stopped sending heartbeats"), "{error}");
    // Reapers run on every replica, and again on every pass: the job is
    // failed, and its log explains why, once.
    real_time.advance(timeout * 2);
    assert!(reap().await.is_empty());
    let why: Vec<_> = store
        .build_logs(&build_id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.stream == "system" && l.output.contains("stopped sending heartbeats"))
        .collect();
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(
        why[0].output.contains("last at 2027-01-04T08:00:00Z"),
        "{}",
        why[0].output
    );
    assert!(
        why[0].output.contains("after 1m 30s without one"),
        "{}",
        why[0].output
    );
}

dayshift_store::for_each_backend!(
    several_daemons_on_several_replicas_run_each_job_once,
    daemon_killed_mid_job_is_failed_by_the_heartbeat_timeout,
);

/// PostgreSQL: a job queued on replica A wakes the idle daemon of replica
/// B through the announcement, not through polling (its idle poll is an
/// hour; the wait gives up long before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_idle_daemon_wakes_when_another_replica_queues_a_job() {
    let Some(f) = fixture(Backend::Postgres, "0s").await else {
        return;
    };
    let clock = ManualClock::new(t(NOW));
    let url = f.ts.url.clone().expect("schema url");
    let replica_a = f.ts.store.clone();
    let replica_b = f.replica().await;
    let events_b = Arc::new(JobEvents::new());
    let cancel = CancellationToken::new();

    // Listening before anything is queued, so a wake-up can only come
    // from an announcement.
    let mut listener = JobListener::connect(&url).await.expect("listener");
    let relay = {
        let (events, cancel) = (events_b.clone(), cancel.clone());
        tokio::spawn(
            async move { forward_job_announcements(&mut listener, &events, &cancel).await },
        )
    };
    let daemon = tokio::spawn(
        f.daemon(&replica_b, &events_b, &clock, "b")
            .run(cancel.clone()),
    );

    for name in ["first", "second"] {
        let ws = f.workspace(&replica_a, name).await;
        let store = &replica_a;
        wait_until(&[&events_b], || async {
            store
                .build(&ws.build.id)
                .await
                .unwrap()
                .is_some_and(|b| b.job.status == JobStatus::Succeeded)
        })
        .await;
        let build = replica_a.build(&ws.build.id).await.unwrap().expect("build");
        assert_eq!(build.job.worker.as_deref(), Some("b"));
    }
    cancel.cancel();
    daemon
        .await
        .expect("daemon task")
        .expect("daemon stopped cleanly");
    relay
        .await
        .expect("relay task")
        .expect("relay stopped cleanly");
}
