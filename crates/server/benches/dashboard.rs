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

/// `n` workspaces through the store's fleet fixture (running, stopped
/// and failed, some outdated, some dormant), then autostart schedules and
/// TTLs spread over them, so the fleet view has groups to project.
async fn seed(dir: &std::path::Path, n: i64) -> String {
    let store = Store::open_sqlite(&dir.join("dayshift.db"), Arc::new(LifecyclePolicy))
        .await
        .expect("store");
    let now = t(NOW);
    let owner = store
        .create_first_user(
            NewUser {
                username: "admin".into(),
                email: "admin@example.com".into(),
                password_hash: dayshift_bench_hash(),
                role: Role::Owner,
            },
            now,
        )
        .await
        .expect("owner");
    let version = |n: u8| NewTemplateVersion {
        created_by: owner.id.clone(),
        provisioner: "echo".into(),
        connect: None,
        manifest_json: r#"{"provisioner":"echo"}"#.into(),
        bundle: vec![n],
        presets: vec![],
    };
    let (template, old) = store
        .create_template("go", &TemplatePolicy::default(), version(1), now)
        .await
        .expect("template");
    let active = store
        .create_template_version(&template.id, version(2), now)
        .await
        .expect("version");
    testing::seed_fleet(
        &store,
        &testing::FleetSeed {
            workspaces: n,
            builds_per_workspace: 2,
            owners: vec![(owner.id.clone(), owner.username.clone())],
            template_id: template.id,
            active_version_id: active.id,
            old_version_id: old.id,
            now,
        },
    )
    .await;
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
    let number = "CAST(substr(id, 2) AS BIGINT)";
    let sql = format!(
        "UPDATE workspaces SET autostart_schedule = CASE {number} % {} {schedules} END, \
         ttl_ms = CASE {number} % {} {ttls} END",
        SCHEDULES.len(),
        TTL_HOURS.len(),
    );
    sqlx::query(&sql)
        .execute(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    store.pool().close().await;
    "w3".to_string()
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
