//! PostgreSQL benchmarks (BENCHMARKS.md, "postgresql"). A plain binary, not
//! criterion: seeding a million workspaces takes longer than criterion's
//! whole sampling plan, and each figure here is one expensive operation.
//!
//! 1. Executor iteration cost with K = 1,000 due workspaces among N = 10k
//!    and N = 1M (seeded with `generate_series`); goal: 1M / 10k <= 1.5.
//! 2. Job throughput (echo builds/s) with 1, 2 and 4 built-in daemons, each
//!    on a store (pool) of its own as on separate replicas, next to
//!    PostgreSQL's own single-row insert rate measured in the same run.
//!
//! ```text
//! cargo bench -p dayshift-server --bench postgres [-- --quick]
//! ```
//! `--quick` seeds N = 100k instead of 1M. The database is
//! `DAYSHIFT_TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/test);
//! every part runs in a schema of its own, dropped at the end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dayshift_lifecycle::{Clock, Executor, LifecyclePolicy, ManualClock};
use dayshift_provisioner::daemon::{
    Daemon, DaemonConfig, Job, JobEvents, JobSource, SourceError, StoreSource,
};
use dayshift_provisioner::{BundleFile, LogStream, TemplateBundle};
use dayshift_schedule::Timestamp;
use dayshift_store::testing;
use dayshift_store::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const NOW: &str = "2027-01-04T08:00:00Z";
/// Due workspaces per iteration.
const K: i64 = 1_000;
/// Measured executor iterations per size (after one warm-up).
const ROUNDS: usize = 5;
/// Throughput runs per configuration.
const REPEATS: usize = 3;
/// Builds per throughput run.
const BUILDS: i64 = 600;
/// Single-row inserts per connection for the reference rate.
const INSERTS: i64 = 2_000;

fn t(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let big = if quick { 100_000 } else { 1_000_000 };
    println!("## executor iteration, K = {K} due");
    // Both sizes are seeded first and their iterations alternate, so load
    // from elsewhere on a shared machine hits both alike.
    let mut benches = vec![
        ExecutorBench::new(10_000).await,
        ExecutorBench::new(big).await,
    ];
    for round in 0..=ROUNDS {
        for bench in &mut benches {
            bench.round(round > 0).await;
        }
    }
    let mut medians = Vec::new();
    for bench in benches {
        medians.push(bench.report().await);
    }
    println!(
        "ratio N = {big} / N = 10000: {:.2}",
        medians[1].as_secs_f64() / medians[0].as_secs_f64()
    );
    if std::env::args().any(|a| a == "--executor-only") {
        return;
    }

    println!("\n## job throughput (echo builds, {BUILDS} per run; median of {REPEATS} runs)");
    let mut rates: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for _ in 0..REPEATS {
        for connections in [1, 4] {
            let label =
                format!("PostgreSQL single-row INSERT, {connections} connection(s), rows/s");
            rates
                .entry(label)
                .or_default()
                .push(insert_rate(connections).await);
        }
        for daemons in [1, 2, 4] {
            let label = format!("{daemons} daemon(s), echo builds/s");
            rates
                .entry(label)
                .or_default()
                .push(job_throughput(daemons).await);
        }
    }
    for (label, mut values) in rates {
        values.sort_by(f64::total_cmp);
        let shown: Vec<String> = values.iter().map(|v| format!("{v:.0}")).collect();
        println!(
            "{label}: {:.0} (runs: {})",
            values[values.len() / 2],
            shown.join(", ")
        );
    }
}

/// A fresh schema and a store on it, with an owner, the system user and an
/// echo template.
struct Seeded {
    url: String,
    store: Store,
    owner: User,
    system: User,
    template: Template,
    version_id: String,
}

async fn seeded() -> Seeded {
    let url = testing::postgres_schema_url()
        .await
        .expect("PostgreSQL reachable at DAYSHIFT_TEST_POSTGRES_URL");
    let store = Store::open_postgres(&url, Arc::new(LifecyclePolicy))
        .await
        .expect("store");
    let owner = store
        .create_first_user(
            NewUser {
                username: "bench".into(),
                email: "bench@example.com".into(),
                password_hash: "x".into(),
                role: Role::Owner,
            },
            t(NOW),
        )
        .await
        .expect("owner");
    let system = store
        .ensure_system_user("prebuilds", t(NOW))
        .await
        .expect("system user");
    let toml = "provisioner = \"echo\"\n[echo]\nduration = \"0s\"\n";
    let bundle = TemplateBundle {
        files: vec![BundleFile {
            path: "dayshift.toml".into(),
            mode: 0o644,
            content: toml.as_bytes().to_vec(),
        }],
    };
    let (template, version) = store
        .create_template(
            "echo",
            &TemplatePolicy::default(),
            bundle.new_version(&owner.id).expect("template version"),
            t(NOW),
        )
        .await
        .expect("template");
    Seeded {
        url,
        store,
        owner,
        system,
        template,
        version_id: version.id,
    }
}

impl Seeded {
    async fn exec(&self, sql: &str) {
        sqlx::query(sql)
            .execute(self.store.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Inserts workspaces `w1..wN`, each with one build `bN`, in two
    /// statements. `job` is `succeeded` (a running workspace whose deadline
    /// is `deadline(g)`) or `pending` (a queued start build).
    async fn bulk_workspaces(&self, n: i64, job: &str, due_every: i64, due: i64, later: i64) {
        let now = ms(t(NOW));
        let deadline = format!("CASE WHEN g % {due_every} = 0 THEN {due} ELSE {later} END");
        let (next_due, deadline, started, completed) = match job {
            "succeeded" => (deadline.clone(), deadline, now.to_string(), now.to_string()),
            _ => ("NULL".into(), "NULL".into(), "NULL".into(), "NULL".into()),
        };
        self.exec(&format!(
            "INSERT INTO workspaces (id, owner_id, name, template_id, created_at, ttl_ms, \
             last_used_at, next_due_at, deleted, latest_build_id) \
             SELECT 'w' || g, '{owner}', 'ws-' || g, '{template}', {now}, 28800000, {now}, \
             {next_due}, 0, 'b' || g FROM generate_series(1, {n}) AS g",
            owner = self.owner.id,
            template = self.template.id,
        ))
        .await;
        self.exec(&format!(
            "INSERT INTO workspace_builds (id, workspace_id, build_number, transition, reason, \
             template_version_id, parameters_json, initiator_id, created_at, deadline, \
             job_status, job_started_at, job_completed_at, job_worker, outputs_json) \
             SELECT 'b' || g, 'w' || g, 1, 'start', 'initiator', '{version}', '{{}}', '{owner}', \
             {now} + g, {deadline}, '{job}', {started}, {completed}, \
             CASE WHEN '{job}' = 'succeeded' THEN 'seed' END, '{{}}' \
             FROM generate_series(1, {n}) AS g",
            version = self.version_id,
            owner = self.owner.id,
        ))
        .await;
        self.exec("ANALYZE").await;
    }

    /// The WAL insert position in bytes: the difference across an
    /// iteration is the volume it wrote (full-page images included).
    async fn wal_position(&self) -> i64 {
        sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::BIGINT")
            .fetch_one(self.store.pool())
            .await
            .expect("WAL position")
    }

    async fn drop(self) {
        let schema = self
            .url
            .rsplit("search_path%3D")
            .next()
            .expect("schema in URL")
            .to_string();
        self.store.pool().close().await;
        let store = Store::open_postgres(&testing::postgres_url(), Arc::new(NoPolicy))
            .await
            .expect("admin store");
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(store.pool())
            .await
            .expect("drop schema");
    }
}

/// Executor iterations over K due workspaces among `n`, the K spread
/// evenly through the table, each iteration undone before the next.
struct ExecutorBench {
    n: i64,
    seed: Seeded,
    executor: Executor,
    seeding: Duration,
    times: Vec<Duration>,
    wal: Vec<i64>,
}

const DUE_AT: &str = "2027-01-04T16:00:00Z";
const TICK_AT: &str = "2027-01-04T16:01:00Z";

impl ExecutorBench {
    async fn new(n: i64) -> ExecutorBench {
        let seed = seeded().await;
        let started = Instant::now();
        let later = ms(t("2027-02-01T00:00:00Z"));
        seed.bulk_workspaces(n, "succeeded", n / K, ms(t(DUE_AT)), later)
            .await;
        let executor = Executor::new(seed.store.clone(), seed.system.id.clone());
        ExecutorBench {
            n,
            seed,
            executor,
            seeding: started.elapsed(),
            times: Vec::new(),
            wal: Vec::new(),
        }
    }

    async fn round(&mut self, measured: bool) {
        let wal_before = self.seed.wal_position().await;
        let stats = self.executor.run_once(t(TICK_AT)).await;
        assert_eq!(stats.transitions.len() as i64, K, "{:?}", stats.errors);
        if measured {
            self.times.push(stats.elapsed);
            self.wal.push(self.seed.wal_position().await - wal_before);
        }
        // Undo the iteration: drop the stop builds, make the K due again.
        let seed = &self.seed;
        seed.exec("DELETE FROM workspace_builds WHERE build_number = 2")
            .await;
        seed.exec(&format!(
            "UPDATE workspaces SET latest_build_id = 'b' || substr(id, 2), next_due_at = {} \
             WHERE latest_build_id <> 'b' || substr(id, 2)",
            ms(t(DUE_AT))
        ))
        .await;
        seed.exec("VACUUM ANALYZE workspaces").await;
        seed.exec("VACUUM ANALYZE workspace_builds").await;
    }

    /// Prints and returns the median iteration time.
    async fn report(mut self) -> Duration {
        self.times.sort();
        self.wal.sort();
        let median = self.times[self.times.len() / 2];
        let wal_kb = self.wal[self.wal.len() / 2] as f64 / 1024.0 / K as f64;
        println!(
            "N = {:>9}: median {:>7.1} ms (min {:.1}, max {:.1}) = {:.0} µs and {wal_kb:.1} kB of WAL per transition; seeded in {:.1} s",
            self.n,
            median.as_secs_f64() * 1e3,
            self.times[0].as_secs_f64() * 1e3,
            self.times[self.times.len() - 1].as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e6 / K as f64,
            self.seeding.as_secs_f64()
        );
        self.seed.drop().await;
        median
    }
}

/// Autocommitted single-row inserts per second, over `connections`
/// concurrent connections: the database's own ceiling for small writes.
async fn insert_rate(connections: i64) -> f64 {
    let seed = seeded().await;
    seed.exec("CREATE TABLE bench_rows (id TEXT PRIMARY KEY, created_at BIGINT NOT NULL, payload TEXT NOT NULL)")
        .await;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let store = seed.store.clone();
        tasks.spawn(async move {
            for i in 0..INSERTS {
                sqlx::query("INSERT INTO bench_rows (id, created_at, payload) VALUES ($1, $2, $3)")
                    .bind(format!("{c}-{i}"))
                    .bind(i)
                    .bind("a log line of moderate length, like a build's")
                    .execute(store.pool())
                    .await
                    .expect("insert");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("insert task");
    }
    let rate = (connections * INSERTS) as f64 / started.elapsed().as_secs_f64();
    seed.drop().await;
    rate
}

/// A store source that reports each recorded result, so the benchmark
/// knows when the last build finished without polling the database.
struct Counted {
    inner: StoreSource,
    finished: mpsc::UnboundedSender<()>,
}

#[async_trait]
impl JobSource for Counted {
    async fn acquire(&self, stop: &CancellationToken) -> Result<Option<Job>, SourceError> {
        self.inner.acquire(stop).await
    }
    async fn bundle(&self, version_id: &str) -> Result<Vec<u8>, SourceError> {
        self.inner.bundle(version_id).await
    }
    async fn log(&self, build_id: &str, stream: LogStream, text: &str) -> Result<(), SourceError> {
        self.inner.log(build_id, stream, text).await
    }
    async fn heartbeat(&self, build_id: &str) -> Result<(), SourceError> {
        self.inner.heartbeat(build_id).await
    }
    async fn complete(
        &self,
        build_id: &str,
        result: JobResult,
        state: Option<Vec<u8>>,
    ) -> Result<(), SourceError> {
        let completed = self.inner.complete(build_id, result, state).await;
        let _ = self.finished.send(());
        completed
    }
}

/// Echo builds per second with `daemons` daemons, each on its own store.
async fn job_throughput(daemons: usize) -> f64 {
    let seed = seeded().await;
    seed.bulk_workspaces(BUILDS, "pending", 1, 0, 0).await;
    let work = tempfile::tempdir().expect("work dir");
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(t(NOW)));
    let (finished_tx, mut finished) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let mut stores = Vec::new();
    for _ in 0..daemons {
        stores.push(
            Store::open_postgres(&seed.url, Arc::new(LifecyclePolicy))
                .await
                .expect("daemon store"),
        );
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, store) in stores.into_iter().enumerate() {
        let name = format!("bench-{i}");
        let source = Counted {
            inner: StoreSource {
                store,
                clock: clock.clone(),
                events: Arc::new(JobEvents::new()),
                worker: name.clone(),
                idle_poll: Duration::from_secs(3600),
            },
            finished: finished_tx.clone(),
        };
        let daemon = Daemon::with_source(
            Arc::new(source),
            DaemonConfig {
                name,
                work_dir: work.path().to_path_buf(),
                heartbeat_interval: Duration::from_secs(3600),
                idle_poll: Duration::from_secs(3600),
                state_limit: dayshift_provisioner::state::DEFAULT_STATE_LIMIT,
            },
        );
        tasks.spawn(daemon.run(cancel.clone()));
    }
    for _ in 0..BUILDS {
        finished.recv().await.expect("daemons running");
    }
    let rate = BUILDS as f64 / started.elapsed().as_secs_f64();
    cancel.cancel();
    while let Some(done) = tasks.join_next().await {
        done.expect("daemon task").expect("daemon stopped");
    }
    let counts = seed.store.job_counts().await.expect("counts");
    assert_eq!(
        counts.get(&JobStatus::Succeeded),
        Some(&BUILDS),
        "{counts:?}"
    );
    seed.drop().await;
    rate
}
