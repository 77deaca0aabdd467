//! Fleet-scale reads (BENCHMARKS.md, "Fleet-scale reads"; issue 12 items
//! 2 and 3). A plain binary, not criterion: each figure comes from a real
//! `dayshift server` process (the release binary) on a database seeded
//! straight through the store, and RSS is that process's own.
//!
//! For each backend (SQLite, then PostgreSQL when reachable) and each
//! fleet size (1,000 and 100,000 workspaces, 10 builds each: 10k / 1M
//! builds) it measures:
//! - p50/p99 of one page of 100 (`GET /workspaces?all=true&limit=100`),
//!   first pages and pages deep in the list, with and without a `q` filter;
//! - `/metrics` scrapes, beside the query the old scrape ran (a GROUP BY
//!   over every build);
//! - server RSS before, after paging through every workspace twice and
//!   1,000 `GET /workspaces/{id}`, and its peak (VmHWM).
//!
//! ```text
//! cargo bench -p dayshift-cli --bench fleet [-- --quick] [-- --sqlite-only]
//! ```
//! `--quick`: 20,000 instead of 100,000. PostgreSQL is
//! `DAYSHIFT_TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/test),
//! in a schema of its own.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dayshift_schedule::Timestamp;
use dayshift_sdk::{Client, Paged, WorkspaceListQuery, WorkspacesPage};
use dayshift_store::testing::{self, FleetSeed};
use dayshift_store::*;
use sha2::{Digest, Sha256};

const NOW: &str = "2027-01-04T08:00:00Z";
const TOKEN: &str = "fleet-bench-token";
/// Requests per latency figure.
const SAMPLES: usize = 300;
const BUILDS_PER_WORKSPACE: i64 = 10;

fn t(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Figures {
    backend: Backend,
    workspaces: i64,
    /// (label, p50 ms, p99 ms)
    latencies: Vec<(String, f64, f64)>,
    old_metrics_query: (f64, f64),
    rss_before_mb: f64,
    rss_after_mb: f64,
    rss_peak_mb: f64,
    walk_seconds: f64,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let sqlite_only = args.iter().any(|a| a == "--sqlite-only");
    let large = if quick { 20_000 } else { 100_000 };
    let mut backends = vec![Backend::Sqlite];
    if !sqlite_only {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        let mut results = Vec::new();
        for size in [1_000, large] {
            match run(backend, size).await {
                Some(figures) => results.push(figures),
                None => eprintln!("{backend:?}: not reachable, skipped"),
            }
        }
        // Each backend's table as soon as it is measured.
        print_tables(&results);
    }
}

/// The release binary `cargo bench` built next to this bench.
fn server_binary() -> &'static str {
    env!("CARGO_BIN_EXE_dayshift")
}

async fn run(backend: Backend, size: i64) -> Option<Figures> {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy: Arc<dyn Policy> = Arc::new(NoPolicy);
    let (store, url) = match backend {
        Backend::Sqlite => (
            Store::open_sqlite(&dir.path().join("dayshift.db"), policy)
                .await
                .expect("sqlite"),
            None,
        ),
        Backend::Postgres => {
            let url = testing::postgres_schema_url().await?;
            (
                Store::open_postgres(&url, policy).await.expect("postgres"),
                Some(url),
            )
        }
    };
    let seeding = Instant::now();
    seed(&store, size).await;
    eprintln!(
        "{backend:?} {size}: seeded in {:.1}s",
        seeding.elapsed().as_secs_f64()
    );
    store.pool().close().await;

    let port = free_port();
    let server = ServerProcess(spawn_server(dir.path(), url.as_deref(), port));
    let base = format!("http://127.0.0.1:{port}");
    let client = Client::new(&base).with_token(TOKEN);
    wait_healthy(&client).await;
    let pid = server.0.id();
    let rss_before_mb = rss_mb(pid, "VmRSS");

    // Page through everything twice, keeping a few cursors deep in the list.
    let walking = Instant::now();
    let mut deep_cursors = Vec::new();
    let mut ids = Vec::new();
    for round in 0..2 {
        let mut pages = client.search_workspaces(&WorkspaceListQuery {
            all: true,
            ..Default::default()
        });
        let mut seen = 0;
        while let Some(page) = pages.next_page().await.expect("page") {
            let (rows, count, next) = page.value.into_parts();
            assert_eq!(count, size, "count of the whole fleet");
            seen += rows.len();
            if round == 0 {
                if ids.len() < 1_000 {
                    ids.extend(rows.iter().map(|w| w.id.clone()));
                }
                if let Some(next) = next {
                    deep_cursors.push(next);
                }
            }
        }
        assert_eq!(seen as i64, size, "every workspace exactly once");
    }
    let walk_seconds = walking.elapsed().as_secs_f64();
    for i in 0..1_000 {
        let id = &ids[i % ids.len()];
        client.workspace(id).await.expect("workspace");
    }
    let rss_after_mb = rss_mb(pid, "VmRSS");
    let rss_peak_mb = rss_mb(pid, "VmHWM");

    let mut latencies = Vec::new();
    let deep: Vec<&String> = deep_cursors
        .iter()
        .step_by((deep_cursors.len() / 50).max(1))
        .collect();
    for (label, q) in [
        ("page of 100, no filter", ""),
        ("page of 100, q=status:running", "status:running"),
        (
            "page of 100, q=owner:user-3 template:echo",
            "owner:user-3 template:echo",
        ),
        ("page of 100, q=outdated:true", "outdated:true"),
        // Substrings cannot use an index: shown to say so, not a goal.
        (
            "page of 100, q=name:1000999 (substring scan)",
            "name:1000999",
        ),
    ] {
        let q_param = if q.is_empty() {
            String::new()
        } else {
            format!("&q={}", q.replace(' ', "%20").replace(':', "%3A"))
        };
        let first = format!("/api/v2/workspaces?all=true&limit=100{q_param}");
        let (p50, p99) = sample(&client, |_| first.clone()).await;
        latencies.push((format!("{label}, first page"), p50, p99));
        if q.is_empty() {
            let (p50, p99) = sample(&client, |i| {
                format!("{first}&after={}", deep[i % deep.len()])
            })
            .await;
            latencies.push((format!("{label}, deep pages"), p50, p99));
        }
    }
    let (p50, p99) = sample_text(&base, "/metrics").await;
    latencies.push(("/metrics scrape".to_string(), p50, p99));

    let old_metrics_query = old_metrics_query(backend, dir.path(), url.as_deref()).await;

    drop(server);
    if let Some(url) = &url {
        drop_schema(url).await;
    }
    Some(Figures {
        backend,
        workspaces: size,
        latencies,
        old_metrics_query,
        rss_before_mb,
        rss_after_mb,
        rss_peak_mb,
        walk_seconds,
    })
}

async fn seed(store: &Store, size: i64) {
    let now = t(NOW);
    let mut owners = Vec::new();
    for i in 0..10 {
        let user = NewUser {
            username: format!("user-{i}"),
            email: format!("user-{i}@example.com"),
            password_hash: "!".into(),
            role: Role::Owner,
        };
        let created = if i == 0 {
            store.create_first_user(user, now).await
        } else {
            store.create_user(user, now).await
        }
        .expect("user");
        owners.push((created.id, created.username));
    }
    let token_hash = hex::encode(Sha256::digest(TOKEN.as_bytes()));
    store
        .create_session(
            NewSession {
                user_id: owners[0].0.clone(),
                token_hash,
                kind: SessionKind::Token,
                label: "fleet bench".into(),
                expires_at: t("2099-01-01T00:00:00Z"),
            },
            now,
        )
        .await
        .expect("token");
    let version = |n: u8| NewTemplateVersion {
        name: None,
        created_by: owners[0].0.clone(),
        provisioner: "echo".into(),
        connect: None,
        manifest_json: r#"{"provisioner":"echo"}"#.into(),
        bundle: vec![n],
        presets: vec![],
    };
    let (template, old) = store
        .create_template("echo", &TemplatePolicy::default(), version(1), now)
        .await
        .expect("template");
    let active = store
        .create_template_version(&template.id, version(2), now)
        .await
        .expect("version");
    testing::seed_fleet(
        store,
        &FleetSeed {
            workspaces: size,
            builds_per_workspace: BUILDS_PER_WORKSPACE,
            owners,
            template_id: template.id,
            active_version_id: active.id,
            old_version_id: old.id,
            now,
        },
    )
    .await;
}

/// Drops the schema a PostgreSQL run seeded (a million builds take
/// hundreds of MB of the machine's disk).
async fn drop_schema(url: &str) {
    let Some(schema) = url
        .split("search_path%3D")
        .nth(1)
        .or_else(|| url.split("search_path=").nth(1))
        .map(|rest| {
            rest.split(['&', '%', ' '])
                .next()
                .unwrap_or_default()
                .to_string()
        })
    else {
        eprintln!("cannot tell the schema of {url}; left in place");
        return;
    };
    let dropped = match sqlx::PgPool::connect(&testing::postgres_url()).await {
        Ok(pool) => sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&pool)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = dropped {
        eprintln!("schema {schema} not dropped: {e}");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The server child process, stopped when dropped (also when a check of
/// the benchmark fails).
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_server(data_dir: &Path, postgres_url: Option<&str>, port: u16) -> Child {
    let mut command = Command::new(server_binary());
    command
        .arg("server")
        .arg("--address")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(url) = postgres_url {
        command.arg("--postgres-url").arg(url);
    }
    command.spawn().expect("start dayshift server")
}

async fn wait_healthy(client: &Client) {
    // Startup is awaited by polling health: this is a benchmark of a real
    // process, not a test, and the process offers no other signal.
    for _ in 0..600 {
        if client.health().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server did not become healthy");
}

/// A `/proc/<pid>/status` figure in MB.
fn rss_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("rss field");
    kb / 1024.0
}

async fn sample(client: &Client, path: impl Fn(usize) -> String) -> (f64, f64) {
    let mut times = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES + 10 {
        let path = path(i);
        let started = Instant::now();
        let page = client
            .pages::<WorkspacesPage>(&path)
            .next_page()
            .await
            .expect("page")
            .expect("a page");
        let elapsed = started.elapsed();
        assert!(page.value.workspaces.len() <= 100);
        if i >= 10 {
            times.push(elapsed.as_secs_f64() * 1000.0);
        }
    }
    percentiles(times)
}

async fn sample_text(base: &str, path: &str) -> (f64, f64) {
    let http = reqwest::Client::new();
    let mut times = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES / 3 + 5 {
        let started = Instant::now();
        let body = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("body");
        let elapsed = started.elapsed();
        assert!(body.contains("dayshift_provisioner_jobs"), "{body}");
        if i >= 5 {
            times.push(elapsed.as_secs_f64() * 1000.0);
        }
    }
    percentiles(times)
}

/// The query every scrape ran before (a GROUP BY over every build), timed
/// on the same database.
async fn old_metrics_query(backend: Backend, dir: &Path, url: Option<&str>) -> (f64, f64) {
    let policy: Arc<dyn Policy> = Arc::new(NoPolicy);
    let store = match backend {
        Backend::Sqlite => Store::open_sqlite(&dir.join("dayshift.db"), policy).await,
        Backend::Postgres => Store::open_postgres(url.expect("url"), policy).await,
    }
    .expect("store");
    let mut times = Vec::new();
    for i in 0..25 {
        let started = Instant::now();
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT job_status, COUNT(*) FROM workspace_builds GROUP BY job_status")
                .fetch_all(store.pool())
                .await
                .expect("old query");
        assert!(!rows.is_empty());
        if i >= 5 {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    store.pool().close().await;
    percentiles(times)
}

fn percentiles(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

fn print_tables(results: &[Figures]) {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let runs: Vec<&Figures> = results.iter().filter(|f| f.backend == backend).collect();
        let [small, large] = runs.as_slice() else {
            continue;
        };
        println!(
            "\n### {backend:?}: {} vs {} workspaces ({} builds each)\n",
            small.workspaces, large.workspaces, BUILDS_PER_WORKSPACE
        );
        println!(
            "| request | p50 {s} | p99 {s} | p50 {l} | p99 {l} | p99 ratio |",
            s = small.workspaces,
            l = large.workspaces
        );
        println!("|---|---:|---:|---:|---:|---:|");
        for ((label, p50s, p99s), (_, p50l, p99l)) in small.latencies.iter().zip(&large.latencies) {
            println!(
                "| {label} | {p50s:.2} ms | {p99s:.2} ms | {p50l:.2} ms | {p99l:.2} ms | {:.2}x |",
                p99l / p99s
            );
        }
        println!(
            "| old scrape query (GROUP BY every build) | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2}x |",
            small.old_metrics_query.0, small.old_metrics_query.1, large.old_metrics_query.0, large.old_metrics_query.1,
            large.old_metrics_query.1 / small.old_metrics_query.1
        );
        println!(
            "\n| server RSS | {} | {} |",
            small.workspaces, large.workspaces
        );
        println!("|---|---:|---:|");
        println!(
            "| after start | {:.0} MB | {:.0} MB |",
            small.rss_before_mb, large.rss_before_mb
        );
        println!(
            "| after 2 full walks + 1,000 GET /workspaces/{{id}} | {:.0} MB | {:.0} MB |",
            small.rss_after_mb, large.rss_after_mb
        );
        println!(
            "| peak (VmHWM) | {:.0} MB | {:.0} MB |",
            small.rss_peak_mb, large.rss_peak_mb
        );
        println!(
            "| 2 full walks (pages of 100) | {:.1} s | {:.1} s |",
            small.walk_seconds, large.walk_seconds
        );
    }
}
