//! The `dayshift` binary driven the way a user drives it, against a real
//! server started in-process on the dev clock.

use std::path::{Path, PathBuf};
use std::process::Output;

use dayshift_sdk::{Client, DebugClockRequest, LoginRequest, UpdateTemplateRequest};
use dayshift_server::{ManualClock, RunningServer, ServerConfig};

const PASSWORD: &str = "Correct-Horse-9";

struct Env {
    server: RunningServer,
    clock: ManualClock,
    _dir: tempfile::TempDir,
    config_dir: PathBuf,
}

fn t(s: &str) -> jiff::Timestamp {
    s.parse().expect("timestamp")
}

fn examples(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/templates")
        .join(name)
        .display()
        .to_string()
}

impl Env {
    async fn start() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = ManualClock::new(t("2027-01-04T08:00:00Z"));
        let server = dayshift_server::start(
            ServerConfig::for_tests(dir.path().join("data")),
            Some(clock.clone()),
        )
        .await
        .expect("server");
        let config_dir = dir.path().join("config");
        Env {
            server,
            clock,
            _dir: dir,
            config_dir,
        }
    }

    async fn run(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_dayshift"))
            .args(args)
            .env("DAYSHIFT_URL", self.server.url())
            .env("DAYSHIFT_CONFIG_DIR", &self.config_dir)
            .env_remove("DAYSHIFT_SESSION_TOKEN")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("run dayshift")
    }

    /// Runs and expects success; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "dayshift {args:?} failed ({:?}):\n{}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `dayshift templates push NAME --directory examples/templates/EXAMPLE`.
    async fn push(&self, name: &str, example: &str) {
        self.ok(&[
            "templates",
            "push",
            name,
            "--directory",
            &examples(example),
            "-y",
        ])
        .await;
    }

    async fn logged_in(&self) {
        let url = self.server.url();
        self.ok(&[
            "login",
            &url,
            "--first-user-username",
            "admin",
            "--first-user-email",
            "admin@example.com",
            "--first-user-password",
            PASSWORD,
        ])
        .await;
    }

    async fn admin(&self) -> Client {
        let anonymous = Client::new(&self.server.url());
        let session = anonymous
            .login(&LoginRequest {
                username: "admin".into(),
                password: PASSWORD.into(),
            })
            .await
            .expect("login");
        anonymous.with_token(session.session_token)
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_session_from_login_to_delete() {
    let env = Env::start().await;
    env.logged_in().await;
    env.push("echo", "echo").await;
    env.push("local", "local-process").await;
    let templates = env.ok(&["templates", "list", "-o", "json"]).await;
    let templates: serde_json::Value = serde_json::from_str(&templates).expect("json");
    assert_eq!(templates.as_array().map(Vec::len), Some(2));

    env.ok(&[
        "create",
        "demo",
        "--template",
        "echo",
        "--start-at",
        "9:30AM Mon-Fri Europe/Berlin",
        "--stop-after",
        "8h",
        "-y",
    ])
    .await;
    env.ok(&[
        "create",
        "proc",
        "--template",
        "local",
        "--parameter",
        "greeting=hi there",
        "-y",
    ])
    .await;

    let table = env.ok(&["list"]).await;
    let header = table.lines().next().unwrap_or_default();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>().join(" "),
        "WORKSPACE TEMPLATE STATUS LAST BUILT OUTDATED AUTOSTART TTL"
    );
    let demo = table
        .lines()
        .find(|l| l.contains("admin/demo"))
        .expect("demo row");
    assert!(
        demo.contains("running")
            && demo.contains("9:30AM Mon-Fri (Europe/Berlin)")
            && demo.contains("8h"),
        "{demo}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["list", "-o", "json"]).await).expect("json");
    let demo = json
        .as_array()
        .and_then(|all| all.iter().find(|w| w["name"] == "demo"))
        .expect("demo in json");
    assert_eq!(
        demo["autostart_schedule"],
        "CRON_TZ=Europe/Berlin 30 9 * * 1-5"
    );
    assert_eq!(demo["ttl_ms"], 8 * 3_600_000);
    // Started 30 minutes before its autostart (08:30Z): the deadline counts
    // from the autostart, so the morning start does not stop early.
    assert_eq!(demo["latest_build"]["deadline"], "2027-01-04T16:30:00Z");

    let show = env.ok(&["show", "proc"]).await;
    assert!(show.contains("pid"), "outputs are shown: {show}");

    env.ok(&["stop", "proc", "-y"]).await;
    env.ok(&["start", "proc", "-y"]).await;
    env.ok(&["restart", "proc", "-y"]).await;
    env.ok(&["delete", "proc", "-y"]).await;
    let after = env.ok(&["list"]).await;
    assert!(!after.contains("admin/proc"), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_messages() {
    let env = Env::start().await;
    let not_logged_in = env.run(&["list"]).await;
    assert_eq!(not_logged_in.status.code(), Some(1));
    env.logged_in().await;
    env.push("echo", "echo").await;
    env.ok(&["create", "dup", "--template", "echo", "-y"]).await;

    let dup = env
        .run(&["create", "dup", "--template", "echo", "-y"])
        .await;
    assert_eq!(dup.status.code(), Some(1), "server-reported errors exit 1");
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));

    let bad_param = env
        .run(&[
            "create",
            "x",
            "--template",
            "echo",
            "--parameter",
            "region=mars",
            "-y",
        ])
        .await;
    assert_eq!(bad_param.status.code(), Some(1));
    assert!(
        stderr(&bad_param).contains("mars"),
        "{}",
        stderr(&bad_param)
    );

    let usage = env.run(&["create", "--no-such-flag"]).await;
    assert_eq!(usage.status.code(), Some(2), "usage errors exit 2");

    let bad_duration = env.run(&["schedule", "stop", "dup", "-5m", "-y"]).await;
    assert_eq!(bad_duration.status.code(), Some(1));
    let absurd = env
        .run(&["schedule", "extend", "dup", "999999d", "-y"])
        .await;
    assert_eq!(absurd.status.code(), Some(1), "{}", stderr(&absurd));
    let manual_extend = env.run(&["schedule", "extend", "dup", "2h", "-y"]).await;
    assert_eq!(
        manual_extend.status.code(),
        Some(1),
        "no TTL: shutdown is manual"
    );
    assert!(
        stderr(&manual_extend).contains("manual"),
        "{}",
        stderr(&manual_extend)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extensions_show_in_the_ttl_column_and_bump_adds_time() {
    let env = Env::start().await;
    env.logged_in().await;
    env.push("echo", "echo").await;
    env.ok(&[
        "create",
        "dev",
        "--template",
        "echo",
        "--stop-after",
        "15m",
        "-y",
    ])
    .await;
    let row = env.ok(&["list"]).await;
    assert!(
        row.lines()
            .any(|l| l.contains("admin/dev") && l.trim_end().ends_with("15m")),
        "{row}"
    );

    let bumped = env.ok(&["bump", "dev", "5m", "-y"]).await;
    assert!(
        bumped.contains("will stop in 20m"),
        "relative to the server clock: {bumped}"
    );
    let row = env.ok(&["list"]).await;
    assert!(row.contains("15m (+5m)"), "{row}");

    let extended = env.ok(&["schedule", "extend", "dev", "2h", "-y"]).await;
    assert!(extended.contains("will stop in 2h"), "{extended}");
    let show = env.ok(&["schedule", "show", "dev"]).await;
    assert!(show.contains("15m"), "{show}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_runs_the_command_forwards_the_exit_code_and_warns_before_the_stop() {
    let env = Env::start().await;
    env.logged_in().await;
    env.push("local", "local-process").await;
    let admin = env.admin().await;
    // No activity bump, so the usage the session reports does not move
    // the deadline away from the notice thresholds.
    admin
        .update_template(
            "local",
            &UpdateTemplateRequest {
                activity_bump_ms: Some(0),
                ..Default::default()
            },
        )
        .await
        .expect("edit template");
    env.ok(&[
        "create",
        "box",
        "--template",
        "local",
        "--stop-after",
        "1h",
        "-y",
    ])
    .await;
    // Nine minutes before the deadline (08:00 + 1h).
    env.clock.set(t("2027-01-04T08:51:00Z"));

    let out = env
        .run(&[
            "ssh",
            "box",
            "--",
            "sh",
            "-c",
            "echo pid=$DAYSHIFT_OUTPUT_PID; exit 3",
        ])
        .await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "the command's exit code is forwarded"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("pid=") && stdout.trim().len() > 4,
        "outputs reach the command: {stdout}"
    );
    let notices: Vec<String> = stderr(&out)
        .lines()
        .filter(|l| l.contains("will stop in"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        notices,
        vec![
            "Workspace admin/box will stop in 9m. Run 'dayshift bump box' to keep it running."
                .to_string()
        ],
        "one line when the 30m and 10m thresholds are crossed at once"
    );

    // The session counted as use.
    let ws = admin
        .workspace_by_name("me", "box")
        .await
        .expect("workspace");
    assert_eq!(ws.last_used_at, t("2027-01-04T08:51:00Z"));
    // Usage moved nothing (no bump): the workspace stops at its deadline.
    let tick = admin
        .debug_clock(&DebugClockRequest {
            now: Some(t("2027-01-04T09:00:00Z")),
            advance: None,
        })
        .await
        .expect("tick");
    assert_eq!(
        tick.autobuild.transitions.get(&ws.id).map(String::as_str),
        Some("stop")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_through_every_match_and_searches() {
    let env = Env::start().await;
    env.logged_in().await;
    env.push("echo", "echo").await;
    let admin = env.admin().await;
    // More than one page of 100.
    for i in 0..105 {
        admin
            .create_workspace(&dayshift_sdk::CreateWorkspaceRequest {
                name: format!("ws-{i:03}"),
                template: "echo".into(),
                ..Default::default()
            })
            .await
            .expect("workspace");
    }

    let table = env.ok(&["list"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 106, "one header, then every row: {table}");
    assert!(lines[0].starts_with("WORKSPACE"), "{table}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("WORKSPACE")).count(),
        1,
        "the header is printed once, not per page"
    );
    assert!(lines[1].starts_with("admin/ws-000") && lines[105].starts_with("admin/ws-104"));

    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["list", "-o", "json"]).await).expect("one JSON array");
    assert_eq!(json.as_array().map(Vec::len), Some(105));

    let found = env.ok(&["list", "--search", "ws-10 template:echo"]).await;
    let names: Vec<&str> = found
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        [
            "admin/ws-100",
            "admin/ws-101",
            "admin/ws-102",
            "admin/ws-103",
            "admin/ws-104"
        ]
    );
    let none: serde_json::Value = serde_json::from_str(
        &env.ok(&["list", "--search", "owner:nobody", "-o", "json"])
            .await,
    )
    .expect("json");
    assert_eq!(none, serde_json::json!([]));

    let bad = env.run(&["list", "--search", "colour:red"]).await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("colour:red"), "{}", stderr(&bad));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_and_logout_end_the_session_on_the_server() {
    let env = Env::start().await;
    env.logged_in().await;
    let who = env.ok(&["whoami"]).await;
    assert!(
        who.starts_with("admin (owner, admin@example.com) on http://"),
        "{who}"
    );
    let token = std::fs::read_to_string(env.config_dir.join("session")).expect("saved session");
    let saved = Client::new(&env.server.url()).with_token(token.trim());
    assert!(saved.me().await.is_ok());

    let out = env.ok(&["logout"]).await;
    assert!(out.starts_with("Logged out of http://"), "{out}");
    let ended = saved
        .me()
        .await
        .expect_err("the token is dead on the server");
    assert_eq!(ended.status().map(|s| s.as_u16()), Some(401));
    assert!(
        !env.config_dir.join("session").exists(),
        "and forgotten locally"
    );

    let out = env.run(&["whoami"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("dayshift login"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_template_is_refused_before_upload() {
    let env = Env::start().await;
    env.logged_in().await;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("dayshift.toml"), "provisioner = \"echo\"\n").unwrap();
    // Sparse: 210 MiB by its size, nothing on disk.
    let big = std::fs::File::create(dir.path().join("disk.img")).unwrap();
    big.set_len(210 * 1024 * 1024).unwrap();
    let out = env
        .run(&[
            "templates",
            "push",
            "big",
            "--directory",
            dir.path().to_str().unwrap(),
            "-y",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "error: template directory is 210 MiB; the limit is 16 MiB"
    );
    let templates = env.admin().await.templates().await.unwrap();
    assert!(templates.is_empty(), "nothing was uploaded");
}
