//! Login flood (BENCHMARKS.md, "login flood"). A plain binary: the figure is
//! the latency other requests see while 32 clients send wrong passwords.
//!
//! For each scenario a fresh server (SQLite, in this process, its own
//! 2-worker runtime like `dayshift server` on a 2-core machine) answers
//! sequential `GET /healthz` and authenticated `GET /api/v2/workspaces/{id}`
//! from one client, side by side:
//!
//! 1. no flood;
//! 2. 32 concurrent clients logging in with wrong passwords as fast as they
//!    are answered, throttling off (every attempt hashes: the worst case of
//!    a flood spread over many addresses and names);
//! 3. the same flood with the default throttling (one address).
//!
//! ```text
//! cargo bench -p dayshift-server --bench login_flood [-- --quick]
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dayshift_sdk::*;
use dayshift_server::{LoginLimits, ServerConfig};

const PASSWORD: &str = "Correct-Horse-9";
const FLOODERS: usize = 32;

struct Figures {
    healthz: Vec<Duration>,
    workspace: Vec<Duration>,
    logins_per_s: f64,
    statuses: String,
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let samples = if quick { 100 } else { 400 };
    let mut rows = Vec::new();
    for (name, flood, throttle) in [
        ("no flood", false, true),
        ("flood, throttling off", true, false),
        ("flood, default throttling", true, true),
    ] {
        let figures = scenario(flood, throttle, samples);
        rows.push((name, figures));
    }
    println!("| scenario | /healthz p50 | /healthz p99 | GET /workspaces/{{id}} p50 | p99 | wrong logins answered/s | answers |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (name, mut f) in rows {
        println!(
            "| {name} | {} | {} | {} | {} | {:.0} | {} |",
            ms(percentile(&mut f.healthz, 0.5)),
            ms(percentile(&mut f.healthz, 0.99)),
            ms(percentile(&mut f.workspace, 0.5)),
            ms(percentile(&mut f.workspace, 0.99)),
            f.logins_per_s,
            f.statuses
        );
    }
}

fn scenario(flood: bool, throttle: bool, samples: usize) -> Figures {
    let dir = tempfile::tempdir().expect("temp dir");
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    let mut config = ServerConfig::for_tests(dir.path().to_path_buf());
    config.login = LoginLimits {
        throttle,
        ..LoginLimits::default()
    };
    let server = server_rt
        .block_on(dayshift_server::start(config, None))
        .expect("server");
    let url = server.url();

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    let (admin, workspace_id) = client_rt.block_on(setup(&url));

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let statuses = Arc::new(std::sync::Mutex::new(
        std::collections::BTreeMap::<u16, u64>::new(),
    ));
    let mut flooders = Vec::new();
    if flood {
        for i in 0..FLOODERS {
            let (url, stop, answered, statuses) = (
                url.clone(),
                stop.clone(),
                answered.clone(),
                statuses.clone(),
            );
            flooders.push(client_rt.spawn(async move {
                let http = reqwest::Client::new();
                // Half guess the owner's password, half made-up names.
                let username = if i % 2 == 0 {
                    "admin".to_string()
                } else {
                    format!("nobody{i}")
                };
                while !stop.load(Ordering::Relaxed) {
                    let resp = http
                        .post(format!("{url}/api/v2/users/login"))
                        .json(&LoginRequest {
                            username: username.clone(),
                            password: "wrong-password".into(),
                        })
                        .send()
                        .await;
                    if let Ok(resp) = resp {
                        *statuses
                            .lock()
                            .unwrap()
                            .entry(resp.status().as_u16())
                            .or_default() += 1;
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
    }

    // The measuring client: its own thread and runtime, one request at a time.
    let started = Instant::now();
    let (healthz, workspace) = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("probe runtime");
                rt.block_on(probe(&url, &admin, &workspace_id, samples))
            })
            .join()
            .expect("probe")
    });
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    client_rt.block_on(async {
        for f in flooders {
            let _ = f.await;
        }
    });
    server_rt.block_on(server.shutdown());
    let statuses = statuses
        .lock()
        .unwrap()
        .iter()
        .map(|(status, n)| format!("{n}×{status}"))
        .collect::<Vec<_>>()
        .join(", ");
    Figures {
        healthz,
        workspace,
        logins_per_s: answered.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        statuses: if statuses.is_empty() {
            "-".into()
        } else {
            statuses
        },
    }
}

async fn setup(url: &str) -> (Client, String) {
    let anonymous = Client::new(url);
    anonymous
        .create_first_user(&CreateFirstUserRequest {
            username: "admin".into(),
            email: "admin@example.com".into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("first user");
    let session = anonymous
        .login(&LoginRequest {
            username: "admin".into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("login");
    let admin = Client::new(url).with_token(session.session_token);
    admin
        .create_template(&CreateTemplateRequest {
            name: "echo".into(),
            files: vec![TemplateFile {
                path: "dayshift.toml".into(),
                mode: 0o644,
                content_base64: base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    "provisioner = \"echo\"\n",
                ),
            }],
        })
        .await
        .expect("template");
    let ws = admin
        .create_workspace(&CreateWorkspaceRequest {
            name: "dev".into(),
            template: "echo".into(),
            ..Default::default()
        })
        .await
        .expect("workspace");
    (admin, ws.id)
}

async fn probe(
    url: &str,
    admin: &Client,
    workspace_id: &str,
    samples: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    let http = reqwest::Client::new();
    let mut healthz = Vec::with_capacity(samples);
    let mut workspace = Vec::with_capacity(samples);
    // The first rounds only let the flood reach its steady state.
    let warm_up = samples / 4;
    for round in 0..warm_up + samples {
        let t = Instant::now();
        let resp = http
            .get(format!("{url}/healthz"))
            .send()
            .await
            .expect("healthz");
        assert!(resp.status().is_success());
        let _ = resp.bytes().await;
        let health = t.elapsed();
        let t = Instant::now();
        admin.workspace(workspace_id).await.expect("workspace");
        if round >= warm_up {
            healthz.push(health);
            workspace.push(t.elapsed());
        }
    }
    (healthz, workspace)
}
