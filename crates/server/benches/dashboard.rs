//! Dashboard page render times (BENCHMARKS.md, "dashboard"). A plain
//! binary: two servers on SQLite, one with 1,000 workspaces and one with
//! 100,000, seeded in bulk, then every page fetched ROUNDS times from each
//! in alternation over loopback with a signed-in session cookie. The time
//! is the full HTTP round trip, an upper bound of the server's time.
//!
//! ```text
//! cargo bench -p dayshift-server --bench dashboard
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use dayshift_lifecycle::{LifecyclePolicy, ManualClock};
use dayshift_provisioner::{BundleFile, TemplateBundle};
use dayshift_schedule::Timestamp;
use dayshift_server::{RunningServer, ServerConfig};
use dayshift_store::*;

const NOW: &str = "2027-01-04T08:00:00Z";
const ROUNDS: usize = 30;
const PASSWORD: &str = "Correct-Horse-9";

/// Distinct autostart schedules and TTLs among the seeded workspaces:
/// the fleet view's groups are their product (x templates).
const SCHEDULES: &[&str] = &[
    "CRON_TZ=Europe/Berlin 0 8 * * 1-5",
    "CRON_TZ=Europe/Berlin 30 8 * * 1-5",
    "CRON_TZ=Europe/Berlin 0 9 * * 1-5",
    "CRON_TZ=America/New_York 0 9 * * 1-5",
    "CRON_TZ=America/Los_Angeles 0 9 * * 1-5",
    "CRON_TZ=Asia/Tokyo 0 10 * * 1-5",
    "CRON_TZ=UTC 0 22 * * *",
];
const TTL_HOURS: &[i64] = &[4, 8, 10];

fn t(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

struct Bench {
    n: i64,
    server: RunningServer,
    _dir: tempfile::TempDir,
    cookie: String,
    workspace_id: String,
    http: reqwest::Client,
    times: Vec<(String, Vec<Duration>, usize)>,
}

async fn seed(dir: &std::path::Path, n: i64) -> String {
    let store = Store::open_sqlite(&dir.join("dayshift.db"), Arc::new(LifecyclePolicy))
        .await
        .expect("store");
    let owner = store
        .create_first_user(
            NewUser {
                username: "admin".into(),
                email: "admin@example.com".into(),
                password_hash: dayshift_bench_hash(),
                role: Role::Owner,
            },
            t(NOW),
        )
        .await
        .expect("owner");
    let mut templates = Vec::new();
    for name in ["go", "rust", "web"] {
        let toml = "provisioner = \"echo\"\n";
        let bundle = TemplateBundle {
            files: vec![BundleFile {
                path: "dayshift.toml".into(),
                mode: 0o644,
                content: toml.as_bytes().to_vec(),
            }],
        };
        let (template, version) = store
            .create_template(
                name,
                &TemplatePolicy::default(),
                bundle.new_version(&owner.id).expect("version"),
                t(NOW),
            )
            .await
            .expect("template");
        templates.push((template.id, version.id));
    }
    let now = t(NOW).as_millisecond();
    let schedules = SCHEDULES
        .iter()
        .enumerate()
        .map(|(i, s)| format!("WHEN {i} THEN '{s}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let ttls = TTL_HOURS
        .iter()
        .enumerate()
        .map(|(i, h)| format!("WHEN {i} THEN {}", h * 3_600_000))
        .collect::<Vec<_>>()
        .join(" ");
    let template_of = |column: usize| {
        templates
            .iter()
            .enumerate()
            .map(|(i, t)| format!("WHEN {i} THEN '{}'", if column == 0 { &t.0 } else { &t.1 }))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (template_ids, version_ids) = (template_of(0), template_of(1));
    let count = templates.len();
    let series =
        format!("WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {n})");
    for sql in [
        format!(
            "INSERT INTO workspaces (id, owner_id, name, template_id, created_at, \
             autostart_schedule, ttl_ms, last_used_at, deleted, latest_build_id) \
             {series} SELECT 'w' || x, '{owner}', 'ws-' || x, \
             CASE x % {count} {template_ids} END, {now}, \
             CASE x % {s} {schedules} END, CASE x % {tt} {ttls} END, {now}, 0, 'b' || x FROM g",
            owner = owner.id,
            s = SCHEDULES.len(),
            tt = TTL_HOURS.len(),
        ),
        format!(
            "INSERT INTO workspace_builds (id, workspace_id, build_number, transition, reason, \
             template_version_id, parameters_json, initiator_id, created_at, deadline, \
             job_status, job_started_at, job_completed_at, job_worker, outputs_json) \
             {series} SELECT 'b' || x, 'w' || x, 1, 'start', 'initiator', \
             CASE x % {count} {version_ids} END, '{{}}', '{owner}', {now} - x, {now} + 28800000, \
             'succeeded', {now}, {now}, 'seed', '{{}}' FROM g",
            owner = owner.id,
        ),
        "ANALYZE".to_string(),
    ] {
        sqlx::query(&sql)
            .execute(store.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    store.pool().close().await;
    "w1".to_string()
}

/// The argon2 hash of PASSWORD, for the seeded owner.
fn dayshift_bench_hash() -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    argon2::Argon2::default()
        .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
        .expect("hash")
        .to_string()
}

impl Bench {
    async fn new(n: i64) -> Bench {
        let dir = tempfile::tempdir().expect("temp dir");
        let started = Instant::now();
        let workspace_id = seed(dir.path(), n).await;
        println!(
            "seeded {n} workspaces in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        let server = dayshift_server::start(
            ServerConfig {
                provisioner_daemons: 0,
                ..ServerConfig::for_tests(dir.path().to_path_buf())
            },
            Some(ManualClock::new(t(NOW))),
        )
        .await
        .expect("server");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let login = http
            .post(format!("{}/login", server.url()))
            .form(&[("username", "admin"), ("password", PASSWORD), ("next", "/")])
            .send()
            .await
            .expect("sign in");
        let cookie = login
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("session cookie")
            .to_string();
        Bench {
            n,
            server,
            _dir: dir,
            cookie,
            workspace_id,
            http,
            times: Vec::new(),
        }
    }

    fn pages(&self) -> Vec<String> {
        vec![
            "/workspaces".into(),
            "/workspaces?q=template:go+status:running".into(),
            "/workspaces?q=name:ws-4242".into(),
            format!("/workspaces/{}", self.workspace_id),
            "/workspaces/new?template=go".into(),
            "/templates".into(),
            "/templates/go".into(),
            "/prebuilds".into(),
            "/fleet?tz=Europe/Berlin".into(),
        ]
    }

    async fn fetch(&self, path: &str) -> (Duration, usize) {
        let started = Instant::now();
        let answer = self
            .http
            .get(format!("{}{path}", self.server.url()))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("page");
        let status = answer.status();
        let body = answer.bytes().await.expect("body");
        let took = started.elapsed();
        assert!(status.is_success(), "{path}: {status}");
        (took, body.len())
    }

    async fn round(&mut self) {
        for (i, path) in self.pages().iter().enumerate() {
            let (took, size) = self.fetch(path).await;
            if self.times.len() <= i {
                self.times.push((path.clone(), Vec::new(), size));
            }
            self.times[i].1.push(took);
        }
    }
}

fn median_and_p95(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[times.len() * 95 / 100])
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut benches = vec![Bench::new(1_000).await, Bench::new(100_000).await];
    // One warm-up round, then rounds alternating between the two sizes.
    for bench in &mut benches {
        bench.round().await;
        bench.times.clear();
    }
    for _ in 0..ROUNDS {
        for bench in &mut benches {
            bench.round().await;
        }
    }
    println!(
        "\n| page | {} workspaces: median / p95 | {} workspaces: median / p95 | ratio of medians | HTML bytes |",
        benches[0].n, benches[1].n
    );
    println!("| --- | --- | --- | --- | --- |");
    let [small, big] = &mut benches[..] else {
        unreachable!("two sizes")
    };
    for ((path, small_times, _), (_, big_times, size)) in
        small.times.iter_mut().zip(big.times.iter_mut())
    {
        let (sm, sp) = median_and_p95(small_times);
        let (bm, bp) = median_and_p95(big_times);
        println!(
            "| `{path}` | {:.1} / {:.1} ms | {:.1} / {:.1} ms | {:.2} | {size} |",
            sm.as_secs_f64() * 1e3,
            sp.as_secs_f64() * 1e3,
            bm.as_secs_f64() * 1e3,
            bp.as_secs_f64() * 1e3,
            bm.as_secs_f64() / sm.as_secs_f64(),
        );
    }
    for bench in benches {
        bench.server.shutdown().await;
    }
}
