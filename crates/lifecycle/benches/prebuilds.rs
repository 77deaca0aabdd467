//! Prebuilds benchmarks (issue 7, BENCHMARKS.md "## prebuilds").
//!
//! 1. Reconcile iteration cost with P = 1,000 presets (one template each,
//!    a Berlin business-hours schedule) and N = 10,000 running prebuilds
//!    (10 per preset), on SQLite and, when reachable, PostgreSQL:
//!    - `steady`: every pool is full, nothing to do (the common tick);
//!    - `refill`: 100 pools are one short and get a prebuild each (the
//!      tick after a burst of claims); between iterations (untimed) the new
//!      prebuilds are removed and the 100 gaps restored;
//!    - `snapshot` and `totals`: the two parts of a steady iteration that
//!      touch the database (the bulk reads and the metrics' totals).
//!
//!    Rows are seeded with multi-row INSERTs shaped as the store writes them.
//! 2. `desired()` and `next_change_at()` evaluations per second for a
//!    preset with one and with three schedules.
//!
//! Run: `cargo bench -p dayshift-lifecycle --bench prebuilds`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use dayshift_lifecycle::prebuilds::{PoolSchedule, Reconciler};
use dayshift_lifecycle::LifecyclePolicy;
use dayshift_schedule::{SignedDuration, Timestamp};
use dayshift_store::testing::{self, Backend, TestStore};
use dayshift_store::{PresetSchedule, PresetScheduling, Store};
use tokio::runtime::Runtime;

const PRESETS: usize = 1_000;
const PER_PRESET: usize = 10;
/// Pools one short in the `refill` case.
const SHORT: usize = 100;
/// Rows per INSERT statement while seeding.
const CHUNK: usize = 500;

/// Monday 2027-01-04 10:00 UTC: 11:00 in Berlin, inside the schedule.
fn now() -> Timestamp {
    "2027-01-04T10:00:00Z".parse().expect("bench time")
}

fn scheduling() -> PresetScheduling {
    PresetScheduling {
        timezone: "Europe/Berlin".into(),
        schedule: vec![PresetSchedule {
            cron: "* 9-17 * * 1-5".into(),
            instances: PER_PRESET as i64,
        }],
    }
}

struct Pools {
    db: TestStore,
    reconciler: Reconciler,
}

/// Bulk INSERTs of generated ids and numbers only (never input).
async fn insert_all(store: &Store, head: &str, rows: impl Iterator<Item = String>) {
    let rows: Vec<String> = rows.collect();
    let mut tx = store.pool().begin().await.expect("begin");
    for chunk in rows.chunks(CHUNK) {
        let sql = format!("{head} VALUES {}", chunk.join(","));
        sqlx::query(&sql)
            .persistent(false)
            .execute(&mut *tx)
            .await
            .expect("bulk insert");
    }
    tx.commit().await.expect("commit");
}

impl Pools {
    async fn open(backend: Backend) -> Option<Pools> {
        let db = testing::open(backend, Arc::new(LifecyclePolicy)).await?;
        let store = db.store.clone();
        let (owner, system) =
            dayshift_store::testing::owner_and_system_user(&store, "bench", now()).await;
        let created = now().as_millisecond() - 3_600_000;
        let scheduling = serde_json::to_string(&scheduling()).expect("json");
        insert_all(
            &store,
            "INSERT INTO templates (id, name, active_version_id, created_at)",
            (0..PRESETS).map(|p| format!("('t{p:04}','tpl{p:04}','v{p:04}',{created})")),
        )
        .await;
        insert_all(
            &store,
            "INSERT INTO template_versions (id, template_id, created_at, created_by, \
             provisioner, manifest_json, bundle)",
            (0..PRESETS).map(|p| {
                format!(
                    "('v{p:04}','t{p:04}',{created},'{owner}','echo','{{}}',{empty})",
                    owner = owner.id,
                    empty = match store.dialect() {
                        dayshift_store::Dialect::Sqlite => "X''",
                        dayshift_store::Dialect::Postgres => "'\\x'::bytea",
                    },
                )
            }),
        )
        .await;
        insert_all(
            &store,
            "INSERT INTO presets (id, template_version_id, name, parameters_json, \
             prebuild_instances, scheduling_json)",
            (0..PRESETS).map(|p| format!("('p{p:04}','v{p:04}','eu','{{}}',2,'{scheduling}')")),
        )
        .await;
        let n = PRESETS * PER_PRESET;
        insert_all(
            &store,
            "INSERT INTO workspaces (id, owner_id, name, template_id, created_at, last_used_at, \
             prebuild_preset_id, prebuild_origin_preset_id, latest_build_id)",
            (0..n).map(|i| {
                let p = i % PRESETS;
                format!(
                    "('w{i:05}','{system}','pb-{i:05}','t{p:04}',{created},{created},\
                     'p{p:04}','p{p:04}','b{i:05}')",
                    system = system.id,
                )
            }),
        )
        .await;
        insert_all(
            &store,
            "INSERT INTO workspace_builds (id, workspace_id, build_number, transition, reason, \
             template_version_id, parameters_json, initiator_id, created_at, job_status, \
             job_started_at, job_completed_at, outputs_json)",
            (0..n).map(|i| {
                let p = i % PRESETS;
                format!(
                    "('b{i:05}','w{i:05}',1,'start','prebuild','v{p:04}','{{}}','{system}',\
                     {created},'succeeded',{created},{created},'{{}}')",
                    system = system.id,
                )
            }),
        )
        .await;
        let reconciler = Reconciler::new(store, system.id);
        Some(Pools { db, reconciler })
    }

    fn store(&self) -> &Store {
        &self.db.store
    }

    /// Takes one prebuild out of each of the first `SHORT` pools, as
    /// claims would.
    async fn open_gaps(&self, deleted: i64) {
        let ids: Vec<String> = (0..SHORT).map(|p| format!("'w{p:05}'")).collect();
        sqlx::query(&format!(
            "UPDATE workspaces SET deleted = {deleted} WHERE id IN ({})",
            ids.join(",")
        ))
        .execute(self.store().pool())
        .await
        .expect("gaps");
    }

    /// Removes the prebuilds a `refill` iteration created.
    async fn remove_refills(&self) {
        for sql in [
            "DELETE FROM workspace_builds WHERE workspace_id IN \
             (SELECT id FROM workspaces WHERE name LIKE 'prebuild-%')",
            "DELETE FROM workspaces WHERE name LIKE 'prebuild-%'",
        ] {
            sqlx::query(sql)
                .execute(self.store().pool())
                .await
                .expect("cleanup");
        }
    }
}

fn reconcile(c: &mut Criterion, rt: &Runtime) {
    let mut group = c.benchmark_group("reconcile_1000_presets_10000_prebuilds");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(pools) = rt.block_on(Pools::open(backend)) else {
            continue;
        };
        let name = format!("{backend:?}").to_lowercase();
        let check = rt.block_on(pools.reconciler.run_once(now()));
        assert!(check.errors.is_empty(), "{:?}", check.errors);
        assert_eq!(
            (check.created, check.deleted),
            (0, 0),
            "seeded pools are full"
        );
        assert_eq!(check.presets.len(), PRESETS);

        group.bench_function(BenchmarkId::new("steady", &name), |b| {
            b.iter(|| {
                let stats = rt.block_on(pools.reconciler.run_once(now()));
                assert_eq!(stats.created, 0);
            })
        });
        // Where a steady iteration's time goes: the bulk reads it plans
        // from, and the all-time totals it reports as metrics.
        group.bench_function(BenchmarkId::new("snapshot", &name), |b| {
            b.iter(|| {
                rt.block_on(pools.store().prebuild_snapshot(3))
                    .expect("snapshot")
            })
        });
        group.bench_function(BenchmarkId::new("totals", &name), |b| {
            b.iter(|| {
                rt.block_on(pools.store().prebuild_totals())
                    .expect("totals")
            })
        });
        group.bench_function(BenchmarkId::new("refill_100", &name), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    rt.block_on(pools.open_gaps(1));
                    let started = Instant::now();
                    let stats = rt.block_on(pools.reconciler.run_once(now()));
                    total += started.elapsed();
                    assert_eq!(stats.created, SHORT as u64);
                    rt.block_on(pools.remove_refills());
                    rt.block_on(pools.open_gaps(0));
                }
                total
            })
        });
    }
    group.finish();
}

fn desired(c: &mut Criterion) {
    let one = PoolSchedule::new(2, Some(&scheduling())).expect("schedule");
    let three = PoolSchedule::new(
        1,
        Some(&PresetScheduling {
            timezone: "Europe/Berlin".into(),
            schedule: [
                ("* 8-11 * * 1-5", 3),
                ("* 12-17 * * 1-5", 5),
                ("* 10-15 * * 6", 2),
            ]
            .iter()
            .map(|(cron, instances)| PresetSchedule {
                cron: cron.to_string(),
                instances: *instances,
            })
            .collect(),
        }),
    )
    .expect("schedules");
    // A week of instants, one every 7 minutes: inside and outside ranges.
    let instants: Vec<Timestamp> = (0..1440)
        .map(|i| now() + SignedDuration::from_mins(7 * i))
        .collect();
    let mut group = c.benchmark_group("desired");
    group.throughput(Throughput::Elements(instants.len() as u64));
    for (name, pool) in [("1_schedule", &one), ("3_schedules", &three)] {
        group.bench_function(BenchmarkId::new("desired", name), |b| {
            b.iter(|| {
                instants
                    .iter()
                    .map(|t| pool.desired(std::hint::black_box(*t)))
                    .sum::<i64>()
            })
        });
        group.bench_function(BenchmarkId::new("next_change_at", name), |b| {
            b.iter(|| {
                instants
                    .iter()
                    .filter_map(|t| pool.next_change_at(std::hint::black_box(*t)))
                    .count()
            })
        });
    }
    group.finish();
}

fn main() {
    let rt = Runtime::new().expect("runtime");
    let mut c = Criterion::default().configure_from_args();
    desired(&mut c);
    reconcile(&mut c, &rt);
    c.final_summary();
}
