//! The chaos suite (RELIABILITY.md): two deployments of the real binary —
//! three replicas on one PostgreSQL schema, and one replica on SQLite —
//! under concurrent API clients (create, start, stop, extend, TTL, usage,
//! delete, prebuild claims) while their executors and reconcilers tick,
//! with `kill -9` of a random replica and its restart, repeated. Then the
//! invariants: no 5xx, no 404 for a visible workspace, build numbers
//! consecutive per workspace, never two unfinished builds on a workspace,
//! every creation acknowledged with 2xx exists afterwards, every due
//! transition happened, and exactly once.
//!
//! Bounded in count (operations, kills) and in time (a timeout on the
//! whole run). The short form runs with `cargo test`; the long form with
//! `DAYSHIFT_CHAOS_LONG=1`. `DAYSHIFT_CHAOS_SEED` replays a run. Nothing
//! sleeps: progress is counted, replicas are waited for by their log, builds
//! by long-polling their logs.

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use dayshift_sdk::*;
use harness::{ServerProcess, PASSWORD};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;

/// How big a run is.
#[derive(Debug, Clone, Copy)]
struct Size {
    /// API clients per deployment, each its own user.
    clients: usize,
    /// Operations per client.
    operations: usize,
    /// Replicas killed (with `kill -9`) and restarted, per deployment.
    kills: usize,
    /// Bound on the whole run.
    timeout: Duration,
}

fn size() -> Size {
    if std::env::var("DAYSHIFT_CHAOS_LONG").is_ok_and(|v| v == "1") {
        Size {
            clients: 8,
            operations: 150,
            kills: 10,
            timeout: Duration::from_secs(1200),
        }
    } else {
        Size {
            clients: 4,
            operations: 40,
            kills: 4,
            timeout: Duration::from_secs(240),
        }
    }
}

const START: &str = "2027-01-04T08:00:00Z";

/// What the clients saw and did, and every invariant they found broken.
#[derive(Default)]
struct Record {
    requests: AtomicU64,
    /// Requests that found no server (a replica killed under them).
    unreachable: AtomicU64,
    statuses: Mutex<BTreeMap<u16, u64>>,
    violations: Mutex<Vec<String>>,
    /// Workspaces acknowledged with 2xx: id → (owner client, deletion
    /// accepted).
    created: Mutex<BTreeMap<String, (usize, bool)>>,
    /// Operations the clients have finished.
    progress: watch::Sender<u64>,
    /// Builds whose history was checked at the end, and how many of them
    /// were automatic transitions (autostart, autostop).
    builds_checked: AtomicU64,
    automatic_checked: AtomicU64,
}

impl Record {
    fn violation(&self, text: String) {
        eprintln!("VIOLATION: {text}");
        self.violations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text);
    }

    fn status(&self, status: u16) {
        *self
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(status)
            .or_default() += 1;
    }

    fn deleting(&self, id: &str) -> bool {
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .is_some_and(|(_, deleting)| *deleting)
    }
}

/// One deployment: its replicas' addresses (None while one is down).
struct Deployment {
    name: &'static str,
    urls: Mutex<Vec<Option<String>>>,
    /// Bumped whenever a replica comes back.
    restarts: watch::Sender<u64>,
    record: Record,
    /// The dev time every replica is set to.
    now: Mutex<jiff::Timestamp>,
}

impl Deployment {
    fn live_urls(&self) -> Vec<String> {
        self.urls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// A live replica's URL; waits for a restart while none is up.
    async fn pick(&self, rng: &mut StdRng) -> String {
        let mut restarts = self.restarts.subscribe();
        loop {
            let urls = self.live_urls();
            if !urls.is_empty() {
                return urls[rng.gen_range(0..urls.len())].clone();
            }
            restarts.changed().await.expect("killer alive");
        }
    }

    /// Runs one request on a random live replica and records its outcome:
    /// `None` when the replica was killed under it.
    async fn call<T, F, Fut>(
        &self,
        rng: &mut StdRng,
        token: &str,
        what: &str,
        workspace: Option<&str>,
        request: F,
    ) -> Option<Result<T, ClientError>>
    where
        F: FnOnce(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let url = self.pick(rng).await;
        let client = Client::new(&url).with_token(token.to_string());
        let answer = request(client).await;
        self.record.requests.fetch_add(1, Ordering::Relaxed);
        match &answer {
            Ok(_) => self.record.status(200),
            Err(ClientError::Transport { .. }) => {
                self.record.unreachable.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Err(e) => {
                let status = e.status().map(|s| s.as_u16()).unwrap_or(0);
                self.record.status(status);
                if status >= 500 {
                    self.record
                        .violation(format!("{}: {what} answered {status}: {e}", self.name));
                }
                if status == 404 {
                    if let Some(id) = workspace {
                        if !self.record.deleting(id) {
                            self.record.violation(format!(
                                "{}: {what} answered 404 for visible workspace {id}: {e}",
                                self.name
                            ));
                        }
                    }
                }
            }
        }
        Some(answer)
    }

    /// Sets every live replica's dev clock to `now` (each runs a tick and
    /// a reconcile); returns the transitions they made.
    async fn set_clock(&self, admin: &str) -> usize {
        let now = *self.now.lock().unwrap_or_else(|e| e.into_inner());
        let mut transitions = 0;
        for url in self.live_urls() {
            let client = Client::new(&url).with_token(admin.to_string());
            if let Ok(answer) = client
                .debug_clock(&DebugClockRequest {
                    now: Some(now),
                    advance: None,
                })
                .await
            {
                transitions += answer.autobuild.transitions.len();
            }
        }
        transitions
    }
}

fn file(path: &str, mode: u32, content: &str) -> TemplateFile {
    TemplateFile {
        path: path.into(),
        mode,
        content_base64: base64::engine::general_purpose::STANDARD.encode(content),
    }
}

/// Builds that take a moment, so that kills find some running.
const ECHO: &str = "provisioner = \"echo\"\n[echo]\nduration = \"1s\"\n";

/// The replicas of a deployment, as processes; only the killer holds them.
struct Replicas {
    args: Vec<Vec<String>>,
    processes: Vec<ServerProcess>,
}

impl Replicas {
    async fn start(args: Vec<Vec<String>>) -> Replicas {
        let mut processes = Vec::new();
        for a in &args {
            processes.push(start_replica(a).await);
        }
        Replicas { args, processes }
    }
}

async fn start_replica(args: &[String]) -> ServerProcess {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ServerProcess::start(&args, &[]).await
}

fn replica_args(data_dir: &std::path::Path, postgres_url: Option<&str>) -> Vec<String> {
    let mut args: Vec<String> = [
        "--dev-clock",
        "--autobuild-poll-interval",
        "1s",
        "--prebuilds-reconcile-interval",
        "1s",
        "--provisioner-daemons",
        "3",
        "--provisioner-heartbeat-timeout",
        "3s",
        "--shutdown-grace",
        "0s",
        "--data-dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(data_dir.display().to_string());
    if let Some(url) = postgres_url {
        args.push("--postgres-url".into());
        args.push(url.into());
    }
    args
}

/// Creates the first user and the templates; returns the admin's token
/// and the members' tokens.
async fn set_up(url: &str, clients: usize) -> (String, Vec<String>) {
    let anonymous = Client::new(url);
    anonymous
        .create_first_user(&CreateFirstUserRequest {
            username: "admin".into(),
            email: "admin@example.com".into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("first user");
    let login = |name: String| {
        let anonymous = anonymous.clone();
        async move {
            anonymous
                .login(&LoginRequest {
                    username: name,
                    password: PASSWORD.into(),
                })
                .await
                .expect("login")
                .session_token
        }
    };
    let admin_token = login("admin".into()).await;
    let admin = Client::new(url).with_token(admin_token.clone());
    admin
        .create_template(&CreateTemplateRequest {
            name: "echo".into(),
            version_name: None,
            files: vec![file("dayshift.toml", 0o644, ECHO)],
        })
        .await
        .expect("echo template");
    admin
        .create_template(&CreateTemplateRequest {
            name: "pool".into(),
            version_name: None,
            files: vec![file(
                "dayshift.toml",
                0o644,
                &format!(
                    "{ECHO}[[presets]]\nname = \"warm\"\n[presets.prebuilds]\ninstances = 2\n"
                ),
            )],
        })
        .await
        .expect("pool template");
    for template in ["echo", "pool"] {
        admin
            .update_template(
                template,
                &UpdateTemplateRequest {
                    default_ttl_ms: Some(2 * 3_600_000),
                    ..Default::default()
                },
            )
            .await
            .expect("template policy");
    }
    let mut tokens = Vec::new();
    for i in 0..clients {
        let name = format!("user{i}");
        admin
            .create_user(&CreateUserRequest {
                username: name.clone(),
                email: format!("{name}@example.com"),
                password: PASSWORD.into(),
                role: None,
            })
            .await
            .expect("member");
        tokens.push(login(name).await);
    }
    (admin_token, tokens)
}

/// One client's run: `operations` random requests on its own workspaces.
async fn client(
    deployment: Arc<Deployment>,
    index: usize,
    token: String,
    operations: usize,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let record = &deployment.record;
    let mut mine: Vec<String> = Vec::new();
    let mut serial = 0;
    for _ in 0..operations {
        let live: Vec<String> = mine
            .iter()
            .filter(|id| !record.deleting(id))
            .cloned()
            .collect();
        let pick = if live.is_empty() || rng.gen_bool(0.2) {
            0
        } else {
            rng.gen_range(1..9)
        };
        let target = (!live.is_empty()).then(|| live[rng.gen_range(0..live.len())].clone());
        match (pick, target) {
            (0, _) | (_, None) => {
                serial += 1;
                let claim = rng.gen_bool(0.4);
                let request = CreateWorkspaceRequest {
                    name: format!("c{index}-{serial}"),
                    template: if claim { "pool" } else { "echo" }.into(),
                    preset: claim.then(|| "warm".to_string()),
                    ttl_ms: rng.gen_bool(0.5).then(|| rng.gen_range(1..6) * 3_600_000),
                    ..Default::default()
                };
                let answer = deployment
                    .call(&mut rng, &token, "create", None, |c| async move {
                        c.create_workspace(&request).await
                    })
                    .await;
                if let Some(Ok(ws)) = answer {
                    record
                        .created
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(ws.id.clone(), (index, false));
                    mine.push(ws.id);
                }
            }
            (kind, Some(id)) => {
                let ws_id = id.clone();
                match kind {
                    1 | 2 => {
                        let transition = if kind == 1 {
                            Transition::Start
                        } else {
                            Transition::Stop
                        };
                        deployment
                            .call(&mut rng, &token, "build", Some(&id), |c| async move {
                                c.create_build(&ws_id, transition).await
                            })
                            .await;
                    }
                    3 => {
                        let answer = deployment
                            .call(&mut rng, &token, "get", Some(&id), |c| async move {
                                c.workspace(&ws_id).await
                            })
                            .await;
                        if let Some(Ok(ws)) = answer {
                            if let Some(deadline) = ws.latest_build.deadline {
                                let later = deadline + jiff::SignedDuration::from_mins(30);
                                let ws_id = id.clone();
                                deployment
                                    .call(&mut rng, &token, "extend", Some(&id), |c| async move {
                                        c.extend(&ws_id, later).await
                                    })
                                    .await;
                            }
                        }
                    }
                    4 => {
                        let ttl = rng.gen_bool(0.8).then(|| rng.gen_range(1..8) * 3_600_000);
                        deployment
                            .call(&mut rng, &token, "ttl", Some(&id), |c| async move {
                                c.set_ttl(&ws_id, ttl).await
                            })
                            .await;
                    }
                    5 => {
                        deployment
                            .call(&mut rng, &token, "usage", Some(&id), |c| async move {
                                c.report_usage(&ws_id).await
                            })
                            .await;
                    }
                    6 => {
                        // Deletion is marked before the request: its 2xx
                        // may be lost to a kill, and a later 404 is then
                        // right.
                        if let Some(entry) = record
                            .created
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_mut(&id)
                        {
                            entry.1 = true;
                        }
                        let answer = deployment
                            .call(&mut rng, &token, "delete", Some(&id), |c| async move {
                                c.create_build(&ws_id, Transition::Delete).await
                            })
                            .await;
                        if let Some(Err(_)) = answer {
                            // Refused (a build in progress): still visible.
                            if let Some(entry) = record
                                .created
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .get_mut(&id)
                            {
                                entry.1 = false;
                            }
                        }
                    }
                    _ => {
                        let answer = deployment
                            .call(&mut rng, &token, "builds", Some(&id), |c| async move {
                                c.builds(&ws_id).await
                            })
                            .await;
                        if let Some(Ok(builds)) = answer {
                            check_unfinished(&deployment, &id, &builds);
                        }
                    }
                }
            }
        }
        record.progress.send_modify(|n| *n += 1);
    }
}

fn unfinished(build: &WorkspaceBuild) -> bool {
    matches!(build.job_status, JobStatus::Pending | JobStatus::Running)
}

fn check_unfinished(deployment: &Deployment, id: &str, builds: &[WorkspaceBuild]) {
    let open = builds.iter().filter(|b| unfinished(b)).count();
    if open > 1 {
        deployment.record.violation(format!(
            "{}: workspace {id} has {open} unfinished builds",
            deployment.name
        ));
    }
}

/// Kills a random replica and restarts it, `kills` times, each after a
/// share of the clients' operations; also moves the clock.
async fn killer(
    deployment: Arc<Deployment>,
    mut replicas: Replicas,
    admin: String,
    total_operations: u64,
    kills: usize,
    seed: u64,
) -> Replicas {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut progress = deployment.record.progress.subscribe();
    let mut clock_moved_at = 0;
    for kill in 0..kills {
        // Wait for the next share of operations, moving the clock (which
        // ticks the executor and the reconciler) every few of them.
        let goal = total_operations * (kill as u64 + 1) / (kills as u64 + 1);
        loop {
            let ops = *progress.borrow_and_update();
            if ops >= clock_moved_at + 4 {
                clock_moved_at = ops;
                {
                    let mut now = deployment.now.lock().unwrap_or_else(|e| e.into_inner());
                    *now += jiff::SignedDuration::from_mins(rng.gen_range(5..40));
                }
                deployment.set_clock(&admin).await;
            }
            if ops >= goal {
                break;
            }
            progress.changed().await.expect("record alive");
        }
        let victim = rng.gen_range(0..replicas.processes.len());
        deployment.urls.lock().unwrap_or_else(|e| e.into_inner())[victim] = None;
        replicas.processes[victim].kill9().await;
        let restarted = start_replica(&replicas.args[victim]).await;
        let url = restarted.url.clone();
        replicas.processes[victim] = restarted;
        deployment.urls.lock().unwrap_or_else(|e| e.into_inner())[victim] = Some(url);
        deployment.set_clock(&admin).await;
        deployment.restarts.send_modify(|n| *n += 1);
    }
    replicas
}

/// Waits until every workspace of the deployment has finished its latest
/// build (orphans of killed replicas are failed by the heartbeat timeout).
async fn settle(deployment: &Deployment, admin: &str) -> Vec<Workspace> {
    let mut rng = StdRng::seed_from_u64(0);
    for _ in 0..1_000 {
        let url = deployment.pick(&mut rng).await;
        let client = Client::new(&url).with_token(admin.to_string());
        let all = client.workspaces(true).await.expect("list workspaces");
        let Some(busy) = all.iter().find(|ws| unfinished_status(ws)) else {
            return all;
        };
        // Long poll: answers at its next log line, when it ends, or after
        // the server's wait.
        let _ = client
            .build_logs(&busy.latest_build.id, i64::MAX - 1, true)
            .await;
        // Move the dev clock a little, for reapers that still read it.
        {
            let mut now = deployment.now.lock().unwrap_or_else(|e| e.into_inner());
            *now += jiff::SignedDuration::from_secs(10);
        }
        deployment.set_clock(admin).await;
    }
    panic!("{}: builds never settled", deployment.name);
}

fn unfinished_status(ws: &Workspace) -> bool {
    matches!(
        ws.latest_build.job_status,
        JobStatus::Pending | JobStatus::Running
    )
}

/// The invariants over the final state and the build histories.
async fn check(deployment: &Deployment, admin: &str) {
    // Every due transition happens: move past every deadline until the
    // executors find nothing more to do.
    let mut workspaces = settle(deployment, admin).await;
    for _ in 0..10 {
        {
            let mut now = deployment.now.lock().unwrap_or_else(|e| e.into_inner());
            *now += jiff::SignedDuration::from_hours(24 * 31);
        }
        let transitions = deployment.set_clock(admin).await;
        workspaces = settle(deployment, admin).await;
        if transitions == 0 {
            break;
        }
    }
    let now = *deployment.now.lock().unwrap_or_else(|e| e.into_inner());
    let url = deployment.live_urls()[0].clone();
    let client = Client::new(&url).with_token(admin.to_string());
    let visible: BTreeSet<String> = workspaces.iter().map(|w| w.id.clone()).collect();
    let record = &deployment.record;
    for ws in &workspaces {
        if ws.latest_build.transition == Transition::Start
            && ws.latest_build.job_status == JobStatus::Succeeded
            && ws.latest_build.deadline.is_some_and(|d| d <= now)
        {
            record.violation(format!(
                "{}: workspace {} is running past its deadline {:?} at {now}: its autostop never happened",
                deployment.name, ws.id, ws.latest_build.deadline
            ));
        }
        let builds = client.builds(&ws.id).await.expect("builds");
        check_history(deployment, &ws.id, &builds);
    }
    let created = record
        .created
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for (id, (_, deleting)) in created {
        if !deleting && !visible.contains(&id) {
            record.violation(format!(
                "{}: workspace {id} was created (2xx) but does not exist",
                deployment.name
            ));
        }
    }
}

/// Build numbers 1..n, at most one unfinished build (the latest), and
/// every automatic transition made once: an autostop follows the start it
/// stops, an autostart the stop it starts.
fn check_history(deployment: &Deployment, id: &str, builds: &[WorkspaceBuild]) {
    let mut builds: Vec<&WorkspaceBuild> = builds.iter().collect();
    builds.sort_by_key(|b| b.build_number);
    let numbers: Vec<i64> = builds.iter().map(|b| b.build_number).collect();
    let expected: Vec<i64> = (1..=builds.len() as i64).collect();
    if numbers != expected {
        deployment.record.violation(format!(
            "{}: workspace {id} has build numbers {numbers:?}",
            deployment.name
        ));
    }
    check_unfinished(
        deployment,
        id,
        &builds.iter().map(|b| (*b).clone()).collect::<Vec<_>>(),
    );
    let record = &deployment.record;
    record
        .builds_checked
        .fetch_add(builds.len() as u64, Ordering::Relaxed);
    let automatic = builds
        .iter()
        .filter(|b| matches!(b.reason, BuildReason::Autostop | BuildReason::Autostart))
        .count();
    record
        .automatic_checked
        .fetch_add(automatic as u64, Ordering::Relaxed);
    for pair in builds.windows(2) {
        let (before, after) = (pair[0], pair[1]);
        let expected_before = match after.reason {
            BuildReason::Autostop => Some(Transition::Start),
            BuildReason::Autostart => Some(Transition::Stop),
            _ => None,
        };
        if let Some(transition) = expected_before {
            if before.transition != transition || before.job_status != JobStatus::Succeeded {
                deployment.record.violation(format!(
                    "{}: workspace {id}: build {} ({:?}) follows build {} ({:?}, {:?}): a transition made twice",
                    deployment.name,
                    after.build_number,
                    after.reason,
                    before.build_number,
                    before.transition,
                    before.job_status
                ));
            }
        }
    }
}

/// Runs one deployment through the chaos and checks it.
async fn run_deployment(
    name: &'static str,
    args: Vec<Vec<String>>,
    size: Size,
    seed: u64,
) -> (Arc<Deployment>, usize) {
    let replicas = Replicas::start(args).await;
    let urls: Vec<Option<String>> = replicas
        .processes
        .iter()
        .map(|p| Some(p.url.clone()))
        .collect();
    let (admin, tokens) = set_up(urls[0].as_deref().expect("up"), size.clients).await;
    let deployment = Arc::new(Deployment {
        name,
        urls: Mutex::new(urls),
        restarts: watch::channel(0).0,
        record: Record::default(),
        now: Mutex::new(START.parse().expect("start time")),
    });
    deployment.set_clock(&admin).await;

    let mut clients = tokio::task::JoinSet::new();
    for (i, token) in tokens.into_iter().enumerate() {
        clients.spawn(client(
            deployment.clone(),
            i,
            token,
            size.operations,
            seed.wrapping_add(i as u64 + 1),
        ));
    }
    let total = (size.clients * size.operations) as u64;
    let replicas = killer(
        deployment.clone(),
        replicas,
        admin.clone(),
        total,
        size.kills,
        seed,
    )
    .await;
    while let Some(done) = clients.join_next().await {
        done.expect("client task");
    }
    check(&deployment, &admin).await;
    let mut replicas = replicas;
    for process in &mut replicas.processes {
        process.kill9().await;
    }
    (deployment, size.kills)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_survive_concurrent_clients_and_kill_9() {
    let Some(postgres) = dayshift_store::testing::postgres_schema_url().await else {
        return;
    };
    let size = size();
    let seed = std::env::var("DAYSHIFT_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("chaos: {size:?}, seed {seed} (DAYSHIFT_CHAOS_SEED to replay)");
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();

    let pg_args: Vec<Vec<String>> = (0..3)
        .map(|i| replica_args(&dir.path().join(format!("pg-{i}")), Some(&postgres)))
        .collect();
    let sqlite_args = vec![replica_args(&dir.path().join("sqlite"), None)];
    let run = async {
        tokio::join!(
            run_deployment("postgres", pg_args, size, seed),
            run_deployment("sqlite", sqlite_args, size, seed ^ 0x5eed),
        )
    };
    let ((pg, pg_kills), (sqlite, sqlite_kills)) = tokio::time::timeout(size.timeout, run)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "chaos run did not finish within {:?} (seed {seed})",
                size.timeout
            )
        });

    let mut violations = Vec::new();
    for (deployment, kills) in [(&pg, pg_kills), (&sqlite, sqlite_kills)] {
        let record = &deployment.record;
        let statuses = record
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let created = record
            .created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        let found = record
            .violations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        eprintln!(
            "chaos {}: requests {}, unreachable (killed under them) {}, statuses {statuses:?}, \
             workspaces created {created}, builds checked {} (automatic {}), kills {kills}, \
             violations {}",
            deployment.name,
            record.requests.load(Ordering::Relaxed),
            record.unreachable.load(Ordering::Relaxed),
            record.builds_checked.load(Ordering::Relaxed),
            record.automatic_checked.load(Ordering::Relaxed),
            found.len()
        );
        violations.extend(found);
    }
    eprintln!("chaos: finished in {:.1?}", started.elapsed());
    assert!(
        violations.is_empty(),
        "{} violations (seed {seed}):\n{}",
        violations.len(),
        violations.join("\n")
    );
}
