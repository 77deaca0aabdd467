//! Prebuild pools end to end through the HTTP API: a server in-process
//! with the dev clock and its built-in echo daemons. The clock moves only
//! through `POST /debug/clock` (which runs one reconcile); builds are
//! waited for by long-polling their logs, never by sleeping.

use base64::Engine;
use dayshift_lifecycle::ManualClock;
use dayshift_sdk::{
    BuildReason, Client, CreateFirstUserRequest, CreateTemplateRequest, CreateUserRequest,
    CreateWorkspaceRequest, DebugClockRequest, DebugClockResponse, LoginRequest, PrebuildPreset,
    PrebuildSettings, TemplateFile, Workspace,
};
use jiff::Timestamp;

use crate::{start, RunningServer, ServerConfig};

const PASSWORD: &str = "Correct-Horse-9";

fn t(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

/// An echo template whose preset `eu` keeps one prebuild, three during
/// Berlin business hours (08:00Z-17:00Z in January).
const POOL: &str = r#"
provisioner = "echo"

[echo]
fail = []

[[parameters]]
name = "region"
default = "eu"
options = ["eu", "us"]

[[parameters]]
name = "size"
default = "small"

[[presets]]
name = "eu"
parameters = { region = "eu" }
[presets.prebuilds]
instances = 1
expiration = "24h"
[presets.prebuilds.scheduling]
timezone = "Europe/Berlin"
[[presets.prebuilds.scheduling.schedule]]
cron = "* 9-17 * * 1-5"
instances = 3
"#;

/// The same with every start failing.
const BROKEN: &str = r#"
provisioner = "echo"

[echo]
fail = ["start"]

[[presets]]
name = "always"
[presets.prebuilds]
instances = 1
"#;

struct Harness {
    server: RunningServer,
    _dir: tempfile::TempDir,
    admin: Client,
    bob: Client,
}

async fn login(url: &str, username: &str) -> Client {
    let session = Client::new(url)
        .login(&LoginRequest {
            username: username.into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("login");
    Client::new(url).with_token(session.session_token)
}

impl Harness {
    /// Monday 2027-01-04 06:00Z (07:00 in Berlin).
    async fn start() -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = start(
            ServerConfig::for_tests(dir.path().to_path_buf()),
            Some(ManualClock::new(t("2027-01-04T06:00:00Z"))),
        )
        .await
        .expect("server starts");
        let url = server.url();
        Client::new(&url)
            .create_first_user(&CreateFirstUserRequest {
                username: "admin".into(),
                email: "admin@example.com".into(),
                password: PASSWORD.into(),
            })
            .await
            .expect("first user");
        let admin = login(&url, "admin").await;
        admin
            .create_user(&CreateUserRequest {
                username: "bob".into(),
                email: "bob@example.com".into(),
                password: PASSWORD.into(),
                role: None,
            })
            .await
            .expect("member");
        let bob = login(&url, "bob").await;
        Harness {
            server,
            _dir: dir,
            admin,
            bob,
        }
    }

    async fn push(&self, name: &str, manifest: &str) {
        self.admin
            .create_template(&CreateTemplateRequest {
                version_name: None,
                name: name.into(),
                files: vec![TemplateFile {
                    path: "dayshift.toml".into(),
                    mode: 0o644,
                    content_base64: base64::engine::general_purpose::STANDARD.encode(manifest),
                }],
            })
            .await
            .expect("template pushed");
    }

    /// Moves the dev clock (one executor tick, one reconcile), then waits
    /// for every build that queued to finish.
    async fn clock(&self, now: &str) -> DebugClockResponse {
        let answer = self
            .admin
            .debug_clock(&DebugClockRequest {
                now: Some(t(now)),
                advance: None,
            })
            .await
            .expect("clock moved");
        self.settle().await;
        answer
    }

    /// Waits until no workspace has a build in progress.
    async fn settle(&self) {
        for _ in 0..10_000 {
            let busy: Vec<Workspace> = self
                .admin
                .workspaces(true)
                .await
                .expect("list")
                .into_iter()
                .filter(|ws| !ws.status.is_settled())
                .collect();
            let Some(ws) = busy.first() else {
                return;
            };
            // Answers once log lines arrive or the build ends.
            self.admin
                .build_logs(&ws.latest_build.id, i64::MAX - 1, true)
                .await
                .expect("logs");
        }
        panic!("builds never settled");
    }

    async fn pools(&self) -> Vec<PrebuildPreset> {
        self.bob.prebuilds().await.expect("prebuilds")
    }

    async fn pool(&self, template: &str) -> PrebuildPreset {
        self.pools()
            .await
            .into_iter()
            .find(|p| p.template_name == template)
            .expect("pool listed")
    }

    async fn create(&self, name: &str) -> Workspace {
        self.bob
            .create_workspace(&CreateWorkspaceRequest {
                name: name.into(),
                template: "pool".into(),
                preset: Some("eu".into()),
                ttl_ms: Some(3_600_000),
                ..CreateWorkspaceRequest::default()
            })
            .await
            .expect("workspace created")
    }

    async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.server.url()))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_follow_the_schedule_and_claims_take_from_them() {
    let h = Harness::start().await;
    h.push("pool", POOL).await;

    let answer = h.clock("2027-01-04T06:00:00Z").await;
    assert_eq!((answer.prebuilds.created, answer.prebuilds.deleted), (1, 0));
    let pool = h.pool("pool").await;
    assert_eq!(
        (
            pool.preset_name.as_str(),
            pool.desired,
            pool.running,
            pool.starting
        ),
        ("eu", 1, 1, 0)
    );
    assert_eq!(
        (
            pool.eligible,
            pool.hard_limited,
            pool.schedule_in_force.as_deref()
        ),
        (1, false, None)
    );
    assert_eq!(pool.next_change_at, Some(t("2027-01-04T08:00:00Z")));
    // Prebuilds belong to the system user, not to anybody who lists theirs.
    assert!(h.bob.workspaces(false).await.expect("list").is_empty());
    let all = h.admin.workspaces(true).await.expect("list");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].owner_name, crate::SYSTEM_USER);
    assert_eq!(all[0].latest_build.reason, BuildReason::Prebuild);
    // Built as a workspace from the preset would be: defaults filled in.
    assert_eq!(
        all[0]
            .latest_build
            .parameters
            .get("size")
            .map(String::as_str),
        Some("small")
    );

    // 09:00:00 in Berlin: the pool grows to three.
    assert_eq!(h.clock("2027-01-04T07:59:59Z").await.prebuilds.created, 0);
    assert_eq!(h.clock("2027-01-04T08:00:00Z").await.prebuilds.created, 2);
    let pool = h.pool("pool").await;
    assert_eq!((pool.desired, pool.running, pool.eligible), (3, 3, 3));
    assert_eq!(pool.schedule_in_force.as_deref(), Some("* 9-17 * * 1-5"));
    assert_eq!(pool.next_change_at, Some(t("2027-01-04T17:00:00Z")));

    // A claim: bob gets a running prebuild, renamed, with his TTL, and a
    // start build that tells the scripts who owns it now.
    let dev = h.create("dev").await;
    assert_eq!((dev.owner_name.as_str(), dev.name.as_str()), ("bob", "dev"));
    assert_eq!(dev.latest_build.reason, BuildReason::PrebuildClaim);
    assert_eq!(dev.latest_build.build_number, 2);
    assert_eq!(dev.ttl_ms, Some(3_600_000));
    h.settle().await;
    let dev = h.bob.workspace(&dev.id).await.expect("dev");
    assert_eq!(dev.latest_build.deadline, Some(t("2027-01-04T09:00:00Z")));
    assert_eq!(h.pool("pool").await.eligible, 2);

    // Parameters other than the prebuilds': built from scratch (a miss).
    let us = h
        .bob
        .create_workspace(&CreateWorkspaceRequest {
            name: "other".into(),
            template: "pool".into(),
            preset: Some("eu".into()),
            parameters: Some([("size".to_string(), "large".to_string())].into()),
            ..CreateWorkspaceRequest::default()
        })
        .await
        .expect("created");
    assert_eq!(
        (us.latest_build.reason, us.latest_build.build_number),
        (BuildReason::Initiator, 1)
    );
    h.settle().await;
    assert_eq!(h.pool("pool").await.eligible, 2);

    // The next reconcile refills the pool.
    let answer = h.clock("2027-01-04T08:01:00Z").await;
    assert_eq!((answer.prebuilds.created, answer.prebuilds.deleted), (1, 0));
    assert_eq!(h.pool("pool").await.eligible, 3);

    // The claimed workspace follows bob's TTL like any other.
    let answer = h.clock("2027-01-04T09:00:00Z").await;
    assert_eq!(
        answer
            .autobuild
            .transitions
            .get(&dev.id)
            .map(String::as_str),
        Some("stop")
    );
    let dev = h.bob.workspace(&dev.id).await.expect("dev");
    assert_eq!(dev.latest_build.reason, BuildReason::Autostop);

    // 18:00:00 in Berlin: back to one, the oldest go first.
    let answer = h.clock("2027-01-04T17:00:00Z").await;
    assert_eq!((answer.prebuilds.created, answer.prebuilds.deleted), (0, 2));
    let pool = h.pool("pool").await;
    assert_eq!((pool.desired, pool.running), (1, 1));

    let metrics = h.metrics().await;
    for line in [
        "dayshift_prebuilt_workspaces_desired{template_name=\"pool\",preset_name=\"eu\"} 1",
        "dayshift_prebuilt_workspaces_running{template_name=\"pool\",preset_name=\"eu\"} 1",
        "dayshift_prebuilt_workspaces_created_total{template_name=\"pool\",preset_name=\"eu\"} 4",
        "dayshift_prebuilt_workspaces_claimed_total{template_name=\"pool\",preset_name=\"eu\"} 1",
        "dayshift_prebuilt_workspaces_claim_hits_total{template_name=\"pool\",preset_name=\"eu\"} 1",
        "dayshift_prebuilt_workspaces_claim_misses_total{template_name=\"pool\",preset_name=\"eu\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_builds_back_off_then_hit_the_hard_limit_and_pause_works() {
    let h = Harness::start().await;
    h.push("broken", BROKEN).await;
    // Failures at 06:00, 06:01 (after 1m), 06:03 (after 2m): hard limit.
    for (at, created) in [
        ("2027-01-04T06:00:00Z", 1),
        ("2027-01-04T06:00:59Z", 0),
        ("2027-01-04T06:01:00Z", 1),
        ("2027-01-04T06:02:59Z", 0),
        ("2027-01-04T06:03:00Z", 1),
        ("2027-01-04T07:00:00Z", 0),
    ] {
        assert_eq!(h.clock(at).await.prebuilds.created, created, "at {at}");
    }
    let pool = h.pool("broken").await;
    assert!(pool.hard_limited);
    assert_eq!((pool.desired, pool.running, pool.starting), (1, 0, 0));
    // The failed prebuilds are kept for an operator to inspect.
    let failed = h.admin.workspaces(true).await.expect("list");
    assert_eq!(failed.len(), 3);
    assert!(failed.iter().all(|ws| ws.latest_build.error.is_some()));
    assert!(h
        .metrics()
        .await
        .contains("dayshift_prebuilt_workspaces_failed_total{template_name=\"broken\",preset_name=\"always\"} 3"));

    // Paused: nothing changes, also for a healthy pool.
    h.admin
        .set_prebuild_settings(&PrebuildSettings {
            reconciliation_paused: true,
        })
        .await
        .expect("paused");
    // (Another name than the first test's: metrics are process-wide.)
    h.push("calm", POOL).await;
    assert_eq!(h.clock("2027-01-04T07:01:00Z").await.prebuilds.created, 0);
    assert_eq!(h.pool("calm").await.desired, 1);
    h.admin
        .set_prebuild_settings(&PrebuildSettings {
            reconciliation_paused: false,
        })
        .await
        .expect("resumed");
    assert_eq!(h.clock("2027-01-04T07:02:00Z").await.prebuilds.created, 1);
    h.server.shutdown().await;
}
