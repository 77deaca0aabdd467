//! Executor benchmarks (issue 5, BENCHMARKS.md "## executor").
//!
//! 1. Iteration cost: one `run_once` with K = 1,000 due workspaces among
//!    N = 10k, 100k and 1M on SQLite, one database per size, in one run.
//!    The executor reads only what is due (an index range scan), so the
//!    cost should follow K, not N: goal cost(1M) / cost(10k) <= 1.5.
//!    Rows are seeded with multi-row INSERTs in one transaction, shaped as
//!    the store writes them (a running workspace whose start build
//!    succeeded, `next_due_at` = its deadline). Each measured iteration
//!    stops the K due workspaces; between iterations (untimed) their stop
//!    builds are deleted and their due times restored.
//! 2. Lateness (due instant -> build queued), wake-up driver vs plain
//!    1-minute polling: a simulation on tokio's paused clock running the
//!    real `drive_ticks` against a model executor that queues builds one
//!    after another at the per-workspace cost measured in part 1.
//!
//! Run: `cargo bench -p dayshift-lifecycle --bench executor`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use dayshift_lifecycle::wake::{drive_ticks, NextDue};
use dayshift_lifecycle::{Clock, Executor, LifecyclePolicy};
use dayshift_schedule::{SignedDuration, Timestamp};
use dayshift_store::{NewTemplateVersion, Store, TemplatePolicy};
use sqlx::Row;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

const K: usize = 1_000;
const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];
/// Rows per INSERT statement while seeding.
const CHUNK: usize = 500;

fn now() -> Timestamp {
    "2027-01-04T08:00:00Z".parse().expect("bench time")
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// The deadline (= due time) of a due workspace: a minute ago.
fn due_at() -> i64 {
    ms(now()) - 60_000
}

/// The deadline of workspace `i` when not due: spread over the next day.
fn not_due_at(i: usize) -> i64 {
    ms(now()) + 3_600_000 + (i % 86_400_000) as i64
}

fn workspace_id(i: usize) -> String {
    format!("w{i:07}")
}

fn build_id(i: usize) -> String {
    format!("b{i:07}")
}

/// A database of `seeded` running workspaces of which `due` are due.
struct Fleet {
    _dir: tempfile::TempDir,
    store: Store,
    executor: Executor,
    owner_id: String,
    template_id: String,
    version_id: String,
    seeded: usize,
    due: Vec<usize>,
}

impl Fleet {
    async fn open() -> Fleet {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_sqlite(&dir.path().join("dayshift.db"), Arc::new(LifecyclePolicy))
            .await
            .expect("open sqlite");
        let (owner, system) =
            dayshift_store::testing::owner_and_system_user(&store, "bench", now()).await;
        let (template, version) = store
            .create_template(
                "bench",
                &TemplatePolicy::default(),
                NewTemplateVersion {
                    name: None,
                    created_by: owner.id.clone(),
                    provisioner: "echo".into(),
                    connect: None,
                    manifest_json: "{}".into(),
                    bundle: Vec::new(),
                    presets: Vec::new(),
                },
                now(),
            )
            .await
            .expect("template");
        Fleet {
            _dir: dir,
            executor: Executor::new(store.clone(), system.id),
            store,
            owner_id: owner.id,
            template_id: template.id,
            version_id: version.id,
            seeded: 0,
            due: Vec::new(),
        }
    }

    /// Adds workspaces up to `total` (none due yet) in one transaction.
    async fn grow(&mut self, total: usize) {
        let created = ms(now()) - 3_600_000;
        let mut tx = self.store.pool().begin().await.expect("begin");
        for start in (self.seeded..total).step_by(CHUNK) {
            let end = (start + CHUNK).min(total);
            let mut workspaces = String::from(
                "INSERT INTO workspaces (id, owner_id, name, template_id, created_at, \
                 last_used_at, next_due_at, deleted, latest_build_id) VALUES ",
            );
            let mut builds = String::from(
                "INSERT INTO workspace_builds (id, workspace_id, build_number, transition, \
                 reason, template_version_id, parameters_json, initiator_id, created_at, \
                 deadline, job_status, job_started_at, job_completed_at, job_worker, \
                 job_heartbeat_at, outputs_json) VALUES ",
            );
            for i in start..end {
                let sep = if i == start { "" } else { "," };
                let (w, b, due) = (workspace_id(i), build_id(i), not_due_at(i));
                // Only generated ids and numbers are inlined, never input.
                let _ = write!(
                    workspaces,
                    "{sep}('{w}','{owner}','ws{i:07}','{template}',{created},{created},{due},0,'{b}')",
                    owner = self.owner_id,
                    template = self.template_id,
                );
                let _ = write!(
                    builds,
                    "{sep}('{b}','{w}',1,'start','initiator','{version}','{{}}','{owner}',\
                     {created},{due},'succeeded',{created},{created},'bench',{created},'{{}}')",
                    version = self.version_id,
                    owner = self.owner_id,
                );
            }
            // One-off statements: not worth a slot in the statement cache.
            for sql in [&workspaces, &builds] {
                sqlx::query(sql)
                    .persistent(false)
                    .execute(&mut *tx)
                    .await
                    .expect("bulk insert");
            }
        }
        tx.commit().await.expect("commit");
        self.seeded = total;
    }

    /// Makes exactly K workspaces due, spread evenly over all of them
    /// (so they do not share pages, as they would not in real life).
    async fn choose_due(&mut self) {
        let stride = self.seeded / K;
        self.due = (0..K).map(|j| j * stride).collect();
        let mut tx = self.store.pool().begin().await.expect("begin");
        for &i in &self.due {
            let at = due_at();
            sqlx::query("UPDATE workspaces SET next_due_at = $1 WHERE id = $2")
                .bind(at)
                .bind(workspace_id(i))
                .execute(&mut *tx)
                .await
                .expect("update workspace");
            sqlx::query("UPDATE workspace_builds SET deadline = $1 WHERE id = $2")
                .bind(at)
                .bind(build_id(i))
                .execute(&mut *tx)
                .await
                .expect("update build");
        }
        tx.commit().await.expect("commit");
    }

    /// Undoes an iteration: drops the stop builds it queued and makes the
    /// K workspaces due again.
    async fn reset(&self) {
        let list = self
            .due
            .iter()
            .map(|&i| format!("'{}'", workspace_id(i)))
            .collect::<Vec<_>>()
            .join(",");
        let mut tx = self.store.pool().begin().await.expect("begin");
        sqlx::query(&format!(
            "DELETE FROM workspace_builds WHERE workspace_id IN ({list}) AND build_number > 1"
        ))
        .execute(&mut *tx)
        .await
        .expect("delete stop builds");
        sqlx::query(&format!(
            "UPDATE workspaces SET latest_build_id = 'b' || substr(id, 2), next_due_at = $1 \
             WHERE id IN ({list})"
        ))
        .bind(due_at())
        .execute(&mut *tx)
        .await
        .expect("restore workspaces");
        tx.commit().await.expect("commit");
        // Start each timed iteration with an empty WAL: otherwise the
        // checkpoint of this untimed reset (1,000 scattered pages, more
        // costly in a bigger file) would be charged to the executor.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(self.store.pool())
            .await
            .expect("checkpoint");
    }

    async fn query_plan(&self) -> String {
        let rows = sqlx::query(
            "EXPLAIN QUERY PLAN SELECT id FROM workspaces WHERE deleted = 0 \
             AND next_due_at IS NOT NULL AND next_due_at <= $1 ORDER BY next_due_at LIMIT $2",
        )
        .bind(ms(now()))
        .bind(20_000_i64)
        .fetch_all(self.store.pool())
        .await
        .expect("explain");
        rows.iter()
            .filter_map(|row| row.try_get::<String, _>("detail").ok())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Median and minimum. On a shared machine the minimum is the better
/// estimate of the work itself: other processes only ever add time.
fn summary(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let median = samples.get(samples.len() / 2).copied().unwrap_or_default();
    (median, samples.first().copied().unwrap_or_default())
}

/// Interleaved rounds after criterion's runs: each round measures every
/// size once, so load from other processes on the shared machine falls on
/// all sizes alike and the ratio between them stays fair.
const ROUNDS: usize = 20;

/// Times one iteration over the fleet's K due workspaces (after undoing
/// the previous one, untimed).
fn measure_once(rt: &Runtime, fleet: &Fleet) -> Duration {
    rt.block_on(fleet.reset());
    let started = Instant::now();
    let stats = rt.block_on(fleet.executor.run_once(now()));
    let took = started.elapsed();
    assert_eq!(stats.transitions.len(), K, "errors: {:?}", stats.errors);
    took
}

/// Part 1; returns the (median, minimum) iteration time per size.
fn iteration_cost(c: &mut Criterion, rt: &Runtime) -> BTreeMap<usize, (Duration, Duration)> {
    let mut fleets = Vec::new();
    for n in SIZES {
        let started = Instant::now();
        let mut fleet = rt.block_on(Fleet::open());
        rt.block_on(fleet.grow(n));
        rt.block_on(fleet.choose_due());
        eprintln!(
            "seeded {n} workspaces (+ builds) in {:.1?}; due query plan: {}",
            started.elapsed(),
            rt.block_on(fleet.query_plan())
        );
        let started = Instant::now();
        for _ in 0..100 {
            rt.block_on(fleet.store.next_due(Some(now())));
        }
        eprintln!("next_due query at {n}: {:.1?}", started.elapsed() / 100);
        fleets.push(fleet);
    }
    let mut group = c.benchmark_group("executor_iteration");
    group.sample_size(10);
    for fleet in &fleets {
        group.bench_with_input(
            BenchmarkId::new("K=1000", fleet.seeded),
            fleet,
            |b, fleet| {
                b.iter_custom(|iters| (0..iters).map(|_| measure_once(rt, fleet)).sum());
            },
        );
    }
    group.finish();
    let mut samples: BTreeMap<usize, Vec<Duration>> = BTreeMap::new();
    for _ in 0..ROUNDS {
        for fleet in &fleets {
            samples
                .entry(fleet.seeded)
                .or_default()
                .push(measure_once(rt, fleet));
        }
    }
    samples
        .into_iter()
        .map(|(n, mut times)| (n, summary(&mut times)))
        .collect()
}

// ---- part 2: lateness -----------------------------------------------------

/// Time on tokio's (paused) clock as a timestamp.
struct PausedClock {
    start: tokio::time::Instant,
    base: Timestamp,
}

impl Clock for PausedClock {
    fn now(&self) -> Timestamp {
        let elapsed = SignedDuration::try_from(self.start.elapsed()).unwrap_or(SignedDuration::MAX);
        self.base.checked_add(elapsed).unwrap_or(Timestamp::MAX)
    }
}

/// Due instants not yet handled, shared by the model store and executor.
#[derive(Default)]
struct Pending(Mutex<BTreeSet<(Timestamp, u32)>>);

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<(Timestamp, u32)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The wake-up driver's view of the store; `None` for plain polling.
struct ModelDue {
    pending: Arc<Pending>,
    wake_up: bool,
}

#[async_trait::async_trait]
impl NextDue for ModelDue {
    async fn next_due(&self, after: Option<Timestamp>) -> Option<Timestamp> {
        if !self.wake_up {
            return None;
        }
        let pending = self.pending.lock();
        pending
            .iter()
            .map(|(t, _)| *t)
            .find(|t| after.is_none_or(|after| *t > after))
    }
}

/// Small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A day of due instants: half at random milliseconds (deadlines set by
/// activity), half on whole minutes in crowds of up to 200 (autostart
/// slots, deadlines of workspaces started together). All at least two
/// minutes after the start, when both drivers are running.
fn workload(count: usize) -> Vec<Timestamp> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (first_ms, day_ms) = (120_000, 86_400_000);
    let mut out: Vec<Timestamp> = (0..count / 2)
        .map(|_| now() + SignedDuration::from_millis((first_ms + rng.below(day_ms)) as i64))
        .collect();
    while out.len() < count {
        let minute = (2 + rng.below(day_ms / 60_000)) as i64;
        let crowd = (1 + rng.below(200) as usize).min(count - out.len());
        out.extend(std::iter::repeat_n(
            now() + SignedDuration::from_mins(minute),
            crowd,
        ));
    }
    out
}

/// Simulates a day: the real tick driver (wake-up or polling only) feeds a
/// model executor that queues one build per due workspace, each taking
/// `per_build`. Returns each workspace's lateness.
async fn simulate(
    due: &[Timestamp],
    wake_up: bool,
    per_build: Duration,
    phase: Duration,
) -> Vec<Duration> {
    let pending = Arc::new(Pending::default());
    pending
        .lock()
        .extend(due.iter().enumerate().map(|(i, t)| (*t, i as u32)));
    let clock = Arc::new(PausedClock {
        start: tokio::time::Instant::now(),
        base: now(),
    });
    // A server starts at any second: polling ticks are not aligned with
    // the whole minutes that crowds fall on.
    tokio::time::sleep(phase).await;
    let (tx, mut rx) = mpsc::channel(1);
    let cancel = CancellationToken::new();
    let driver = tokio::spawn(drive_ticks(
        clock.clone(),
        Arc::new(ModelDue {
            pending: pending.clone(),
            wake_up,
        }),
        Duration::from_secs(60),
        Arc::new(Notify::new()),
        tx,
        cancel.clone(),
    ));
    let mut lateness = Vec::with_capacity(due.len());
    while lateness.len() < due.len() {
        let Some(tick) = rx.recv().await else { break };
        let batch: Vec<Timestamp> = {
            let mut pending = pending.lock();
            let ready: Vec<(Timestamp, u32)> = pending
                .iter()
                .take_while(|(t, _)| *t <= tick)
                .copied()
                .collect();
            for item in &ready {
                pending.remove(item);
            }
            ready.into_iter().map(|(t, _)| t).collect()
        };
        for (j, due) in batch.iter().enumerate() {
            let queued =
                tick + SignedDuration::try_from(per_build * (j as u32 + 1)).unwrap_or_default();
            lateness.push(Duration::try_from(queued.duration_since(*due)).unwrap_or_default());
        }
        // The iteration takes its time; the driver waits meanwhile.
        tokio::time::sleep(per_build * batch.len() as u32).await;
    }
    cancel.cancel();
    let _ = driver.await;
    lateness
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// Server start times (offsets within a minute) the simulation pools.
const PHASES: usize = 8;

fn lateness(per_build: Duration) {
    let due = workload(20_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("paused runtime");
    println!(
        "\nlateness, due instant -> build queued ({} due over a day, {per_build:.2?} per build, \
         {PHASES} server start phases):",
        due.len()
    );
    println!("| driver | p50 | p99 | max |");
    println!("|---|---:|---:|---:|");
    for (name, wake_up) in [("wake-up + 1m poll", true), ("1m polling only", false)] {
        let mut rng = Rng(7);
        let mut lateness = Vec::new();
        for _ in 0..PHASES {
            let phase = Duration::from_millis(rng.below(60_000));
            lateness.extend(rt.block_on(simulate(&due, wake_up, per_build, phase)));
        }
        lateness.sort();
        println!(
            "| {name} | {:.1?} | {:.1?} | {:.1?} |",
            percentile(&lateness, 0.5),
            percentile(&lateness, 0.99),
            lateness.last().copied().unwrap_or_default()
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let medians = iteration_cost(&mut c, &rt);
    println!("\niteration cost, K = {K} due, {ROUNDS} interleaved rounds:");
    println!("| N | median | min | median / median(10k) | min / min(10k) |");
    println!("|---:|---:|---:|---:|---:|");
    let (base, base_min) = medians.get(&SIZES[0]).copied().unwrap_or_default();
    for (n, (median, min)) in &medians {
        println!(
            "| {n} | {median:.1?} | {min:.1?} | {:.2} | {:.2} |",
            median.as_secs_f64() / base.as_secs_f64(),
            min.as_secs_f64() / base_min.as_secs_f64()
        );
    }
    lateness(base / K as u32);
    c.final_summary();
}
