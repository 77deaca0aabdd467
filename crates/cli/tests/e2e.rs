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

/// A template directory written for one test.
fn template_dir(root: &Path, name: &str, manifest: &str) -> String {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("template dir");
    std::fs::write(dir.join("dayshift.toml"), manifest).expect("manifest");
    dir.display().to_string()
}

/// Waits until the workspace's latest build has finished, by long-polling
/// its log (the server answers as soon as lines arrive or the build ends).
async fn settled(client: &Client, id: &str) -> dayshift_sdk::Workspace {
    let mut after = 0;
    for _ in 0..10_000 {
        let ws = client.workspace(id).await.expect("workspace");
        if ws.status.is_settled() {
            return ws;
        }
        let lines = client
            .build_logs(&ws.latest_build.id, after, true)
            .await
            .expect("logs");
        if let Some(last) = lines.last() {
            after = last.id;
        }
    }
    panic!("workspace {id} never settled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durations_speak_one_language_and_messages_name_no_api_fields() {
    let env = Env::start().await;
    env.logged_in().await;
    env.push("echo", "echo").await;
    env.ok(&[
        "create",
        "dev",
        "--template",
        "echo",
        "--stop-after",
        "1.5h",
        "-y",
    ])
    .await;
    let list = env.ok(&["list"]).await;
    assert!(list.contains("1h30m"), "decimal durations: {list}");

    for (value, want) in [
        ("90", "needs a unit"),
        ("-1h", "must not be negative"),
        ("200000h", "must be at most 30d"),
        ("0s", "must be at least 1m"),
    ] {
        let out = env
            .run(&[
                "create",
                "x",
                "--template",
                "echo",
                "--stop-after",
                value,
                "-y",
            ])
            .await;
        assert_eq!(out.status.code(), Some(1), "{value}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(want), "{value}: {err}");
        assert!(!err.contains("ttl_ms"), "{value}: {err}");
    }

    // The deadline is 09:30 (08:00 + 1.5h): 30m from now is earlier.
    let earlier = env.run(&["schedule", "extend", "dev", "30m", "-y"]).await;
    assert_eq!(earlier.status.code(), Some(1));
    let err = stderr(&earlier);
    assert!(
        err.contains("already stops in 1h30m (09:30 UTC)")
            && err.contains("only moves the stop time later")
            && err.contains("dayshift bump dev 30m"),
        "{err}"
    );

    let json = env
        .ok(&["schedule", "stop", "dev", "2h", "-o", "json", "-y"])
        .await;
    let json: serde_json::Value = serde_json::from_str(&json).expect("only JSON on stdout");
    assert_eq!(json["ttl_ms"], 2 * 3_600_000);

    let missing = env.run(&["show", "nosuch"]).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("admin/nosuch") && !stderr(&missing).contains("me/"),
        "{}",
        stderr(&missing)
    );

    let preview = env
        .ok(&[
            "schedule",
            "preview",
            "9:30AM Mon-Fri Europe/Berlin",
            "--count",
            "1",
            "--from",
            "2027-01-04T00:00:00Z",
        ])
        .await;
    assert!(preview.contains("2027-01-04T08:30:00Z"), "{preview}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttl_from_the_template_says_so() {
    let env = Env::start().await;
    env.logged_in().await;
    env.push("echo", "echo").await;
    env.ok(&["templates", "edit", "echo", "--default-ttl", "8h", "-y"])
        .await;
    env.ok(&["create", "dev", "--template", "echo", "-y"]).await;
    let row = env.ok(&["list"]).await;
    assert!(
        row.lines()
            .any(|l| l.contains("admin/dev") && l.trim_end().ends_with("8h (template)")),
        "{row}"
    );
    let show = env.ok(&["show", "dev"]).await;
    assert!(show.contains("8h (template)"), "{show}");
    let bad = env
        .run(&["templates", "edit", "echo", "--default-ttl", "31d", "-y"])
        .await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("must be at most 30d") && !stderr(&bad).contains("_ms"),
        "{}",
        stderr(&bad)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_survives_a_closed_stdout_and_json_is_only_json() {
    let env = Env::start().await;
    env.logged_in().await;
    env.push("local", "local-process").await;
    let created = env
        .run(&["create", "box", "--template", "local", "-o", "json", "-y"])
        .await;
    assert!(created.status.success(), "{}", stderr(&created));
    let json: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&created.stdout)
        )
    });
    assert_eq!(json["name"], "box");
    assert!(
        stderr(&created).contains("started process"),
        "the build log goes to stderr: {}",
        stderr(&created)
    );

    // The reader is gone before the command writes anything.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dayshift"))
        .args(["show", "box"])
        .env("DAYSHIFT_URL", env.server.url())
        .env("DAYSHIFT_CONFIG_DIR", &env.config_dir)
        .env_remove("DAYSHIFT_SESSION_TOKEN")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().await.expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));

    let completion = env.ok(&["completion", "bash"]).await;
    assert!(completion.contains("dayshift"), "{completion}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbs_whose_outcome_holds_do_nothing_and_nothing_prompts_without_a_terminal() {
    let env = Env::start().await;
    env.logged_in().await;
    env.push("echo", "echo").await;
    env.ok(&["create", "dev", "--template", "echo", "-y"]).await;
    let admin = env.admin().await;
    let ws = admin.workspace_by_name("me", "dev").await.expect("ws");
    let builds = admin.builds(&ws.id).await.expect("builds").len();

    let users = env.ok(&["users", "list"]).await;
    assert!(
        users
            .lines()
            .any(|l| l.starts_with("admin ") && l.contains("owner")),
        "{users}"
    );

    let again = env.ok(&["start", "dev", "-y"]).await;
    assert!(again.contains("admin/dev is already running"), "{again}");
    assert_eq!(admin.builds(&ws.id).await.expect("builds").len(), builds);

    env.ok(&["stop", "dev"]).await;
    let again = env.ok(&["stop", "dev"]).await;
    assert!(again.contains("admin/dev is already stopped"), "{again}");
    assert_eq!(
        admin.builds(&ws.id).await.expect("builds").len(),
        builds + 1
    );

    // No terminal: missing input is an error naming the flag.
    let no_template = env.run(&["create", "x"]).await;
    assert_eq!(no_template.status.code(), Some(1));
    assert!(
        stderr(&no_template).contains("missing --template")
            && stderr(&no_template).contains("echo"),
        "{}",
        stderr(&no_template)
    );
    let dir = tempfile::tempdir().expect("dir");
    let required = template_dir(
        dir.path(),
        "required",
        "provisioner = \"echo\"\n[[parameters]]\nname = \"team\"\n",
    );
    env.ok(&["templates", "push", "req", "--directory", &required, "-y"])
        .await;
    let no_param = env.run(&["create", "x", "--template", "req"]).await;
    assert_eq!(no_param.status.code(), Some(1));
    assert!(
        stderr(&no_param).contains("pass --parameter team=VALUE"),
        "{}",
        stderr(&no_param)
    );
    env.ok(&["create", "x", "--template", "req", "-p", "team=infra"])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_moves_to_the_active_version_and_versions_have_names() {
    let env = Env::start().await;
    env.logged_in().await;
    env.push("echo", "echo").await;
    env.ok(&["create", "dev", "--template", "echo", "-y"]).await;
    // Versions are listed in the order of their push times.
    env.clock.set(t("2027-01-04T08:01:00Z"));
    let pushed = env
        .run(&[
            "templates",
            "push",
            "echo",
            "--directory",
            &examples("echo"),
            "--name",
            "second",
            "-y",
        ])
        .await;
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    assert!(
        stderr(&pushed).contains("second")
            || String::from_utf8_lossy(&pushed.stdout).contains("second")
    );
    let versions = env.ok(&["templates", "versions", "echo"]).await;
    let names: Vec<&str> = versions
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, vec!["v1", "second"], "{versions}");
    let templates = env.ok(&["templates", "list"]).await;
    assert!(templates.contains("second"), "{templates}");

    let list = env.ok(&["list"]).await;
    let row = list.lines().find(|l| l.contains("admin/dev")).expect("row");
    assert!(row.contains("yes"), "outdated: {row}");
    let start = env.ok(&["start", "dev", "-y"]).await;
    assert!(
        start.contains("already running")
            && start.contains("newer version (second)")
            && start.contains("dayshift update dev"),
        "{start}"
    );

    let refused = env
        .run(&["update", "dev", "--parameter", "region=us", "-y"])
        .await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("region") && stderr(&refused).contains("immutable"),
        "{}",
        stderr(&refused)
    );
    let admin = env.admin().await;
    let ws = admin.workspace_by_name("me", "dev").await.expect("ws");
    assert_eq!(
        ws.status.as_str(),
        "running",
        "a refused update stops nothing"
    );

    env.ok(&["update", "dev", "-y"]).await;
    let list = env.ok(&["list", "-o", "json"]).await;
    let json: serde_json::Value = serde_json::from_str(&list).expect("json");
    assert_eq!(json[0]["outdated"], false, "{json}");
    assert_eq!(json[0]["status"], "running", "{json}");
    let up_to_date = env.ok(&["update", "dev", "-y"]).await;
    assert!(up_to_date.contains("up to date"), "{up_to_date}");

    env.ok(&["start", "dev", "--parameter", "size=large", "-y"])
        .await;
    let ws = admin.workspace_by_name("me", "dev").await.expect("ws");
    assert_eq!(ws.latest_build.parameters["size"], "large");
    assert_eq!(ws.latest_build.parameters["region"], "eu");

    // A new version with a required parameter: update asks for it (here:
    // names the flag) and takes it from --parameter.
    let dir = tempfile::tempdir().expect("dir");
    let manifest = "provisioner = \"echo\"\n\
        [[parameters]]\nname = \"region\"\ndefault = \"eu\"\noptions = [\"eu\", \"us\"]\n\
        [[parameters]]\nname = \"size\"\ndefault = \"small\"\nmutable = true\n\
        [[parameters]]\nname = \"team\"\nmutable = true\n";
    let third = template_dir(dir.path(), "third", manifest);
    env.ok(&["templates", "push", "echo", "--directory", &third, "-y"])
        .await;
    let missing = env.run(&["update", "dev", "-y"]).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("--parameter team=VALUE"),
        "{}",
        stderr(&missing)
    );
    env.ok(&["update", "dev", "-p", "team=infra", "-y"]).await;
    let ws = admin.workspace_by_name("me", "dev").await.expect("ws");
    assert_eq!(ws.latest_build.parameters["team"], "infra");
    assert!(!ws.outdated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_clock_reports_by_name_and_claims_are_reported() {
    let env = Env::start().await;
    env.logged_in().await;
    env.push("echo", "echo").await;
    env.ok(&[
        "create",
        "dev",
        "--template",
        "echo",
        "--stop-after",
        "1h",
        "-y",
    ])
    .await;
    // Monday 08:00Z = 09:00 Berlin: the eu-small pool wants 3 prebuilds.
    let advanced = env.ok(&["debug", "clock", "advance", "1.5h"]).await;
    assert!(advanced.contains("2027-01-04T09:30:00Z"), "{advanced}");
    assert!(advanced.contains("admin/dev: stop"), "{advanced}");
    let set = env
        .ok(&["debug", "clock", "set", "2027-01-04T09:31:00Z"])
        .await;
    assert!(set.contains("No workspace was due"), "{set}");

    let admin = env.admin().await;
    let status = env.ok(&["prebuilds", "status"]).await;
    assert!(
        status.contains("Europe/Berlin"),
        "the zone is shown: {status}"
    );
    for ws in admin.workspaces(true).await.expect("workspaces") {
        if ws.owner_name == "prebuilds" {
            settled(&admin, &ws.id).await;
        }
    }
    let claimed = env
        .ok(&[
            "create",
            "fast",
            "--template",
            "echo",
            "--preset",
            "eu-small",
            "-y",
        ])
        .await;
    assert!(
        claimed.contains("Claimed a prebuilt workspace from preset eu-small"),
        "{claimed}"
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

/// [`settled`] for one of the admin's workspaces, by name.
async fn settled_by_name(client: &Client, name: &str) -> dayshift_sdk::Workspace {
    let ws = client
        .workspace_by_name("admin", name)
        .await
        .expect("workspace");
    settled(client, &ws.id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_and_activate_wake_dormant_workspaces_which_are_then_not_deleted() {
    let env = Env::start().await;
    env.logged_in().await;
    env.push("echo", "echo").await;
    env.ok(&[
        "templates",
        "edit",
        "echo",
        "--dormancy-threshold",
        "1h",
        "--dormancy-auto-deletion",
        "1d",
        "-y",
    ])
    .await;
    for name in ["one", "two", "three"] {
        env.ok(&["create", name, "--template", "echo", "-y"]).await;
    }
    let admin = env.admin().await;
    let advance = |by: &str| DebugClockRequest {
        now: None,
        advance: Some(by.into()),
    };
    // Unused for two hours: all three are marked dormant and stopped.
    admin.debug_clock(&advance("2h")).await.expect("clock");
    for name in ["one", "two", "three"] {
        let ws = settled_by_name(&admin, name).await;
        assert!(ws.dormant_at.is_some(), "{name} is dormant");
    }

    let started = env.ok(&["start", "one", "-y"]).await;
    assert!(
        started.contains("Workspace admin/one was dormant; starting it made it active again."),
        "{started}"
    );
    let activated = env.ok(&["activate", "two"]).await;
    assert!(
        activated.contains("Workspace admin/two is active again"),
        "{activated}"
    );
    let again = env.ok(&["activate", "two"]).await;
    assert!(again.contains("is not dormant"), "{again}");
    for name in ["one", "two"] {
        let ws = settled_by_name(&admin, name).await;
        assert_eq!(
            (ws.dormant_at, ws.deleting_at),
            (None, None),
            "{name} is active"
        );
    }

    // Past the deletion date set when they fell dormant: only `three`,
    // still dormant, is deleted. The woken ones, unused for a day again,
    // fall dormant anew (with a new deletion date) instead.
    let three = settled_by_name(&admin, "three").await;
    let one = settled_by_name(&admin, "one").await;
    let two = settled_by_name(&admin, "two").await;
    let tick = admin.debug_clock(&advance("1d1m")).await.expect("clock");
    let transitions = &tick.autobuild.transitions;
    assert_eq!(
        transitions.get(&three.id).map(String::as_str),
        Some("delete"),
        "{transitions:?}"
    );
    assert_eq!(
        transitions.get(&one.id).map(String::as_str),
        Some("stop"),
        "{transitions:?}"
    );
    assert_eq!(transitions.get(&two.id), None, "{transitions:?}");
    let list = env.ok(&["list"]).await;
    assert!(
        list.contains("admin/one") && list.contains("admin/two"),
        "{list}"
    );
}

/// Not found is not found: a workspace of another user and one that does
/// not exist get the same answer, naming what was asked for (never `me/`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_says_not_found_the_same_way_for_hidden_and_missing() {
    let env = Env::start().await;
    env.logged_in().await;
    env.push("echo", "echo").await;
    env.ok(&["create", "secret", "--template", "echo", "-y"])
        .await;
    let out = env.run(&["show", "nosuch"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("workspace admin/nosuch not found"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("me/"), "{}", stderr(&out));

    let admin = env.admin().await;
    admin
        .create_user(&dayshift_sdk::CreateUserRequest {
            username: "bob".into(),
            email: "bob@example.com".into(),
            password: PASSWORD.into(),
            role: None,
        })
        .await
        .unwrap();
    let bob = Client::new(&env.server.url())
        .login(&LoginRequest {
            username: "bob".into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap();
    let as_bob = |args: &'static [&'static str]| {
        let token = bob.session_token.clone();
        let url = env.server.url();
        let config = env.config_dir.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_dayshift"))
                .args(args)
                .env("DAYSHIFT_URL", url)
                .env("DAYSHIFT_SESSION_TOKEN", token)
                .env("DAYSHIFT_CONFIG_DIR", config)
                .env("NO_COLOR", "1")
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .expect("run dayshift")
        }
    };
    let hidden = as_bob(&["show", "admin/secret"]).await;
    let missing = as_bob(&["show", "admin/nosuch"]).await;
    assert_eq!(
        (hidden.status.code(), missing.status.code()),
        (Some(1), Some(1))
    );
    assert_eq!(
        stderr(&hidden).replace("secret", "NAME"),
        stderr(&missing).replace("nosuch", "NAME"),
        "one answer for both"
    );
}

/// A proxy in front of the server with a smaller body limit answers 413:
/// the CLI says so in the words of its own size check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_from_the_server_is_reported_with_the_directory_size() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let (status, body) = if head.starts_with("GET") {
                    (
                        "404 Not Found",
                        r#"{"message":"template \"big\" not found"}"#,
                    )
                } else {
                    (
                        "413 Payload Too Large",
                        r#"{"message":"request body is too large"}"#,
                    )
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                // Linger as real proxies do: read what the client still
                // sends, so closing with unread data does not reset the
                // connection before the client has read the 413.
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("dayshift.toml"), "provisioner = \"echo\"\n").unwrap();
    std::fs::write(dir.path().join("data.bin"), vec![7u8; 3 * 1024 * 1024]).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dayshift"))
        .args([
            "templates",
            "push",
            "big",
            "--directory",
            dir.path().to_str().unwrap(),
            "-y",
        ])
        .env("DAYSHIFT_URL", &url)
        .env("DAYSHIFT_SESSION_TOKEN", "token")
        .env("DAYSHIFT_CONFIG_DIR", dir.path().join("config"))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run dayshift");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "error: template directory is 3.1 MiB; the server refused it as too large (413)"
    );
}
