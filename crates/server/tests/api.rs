//! End-to-end tests of the HTTP API against a real in-process server.

mod common;

use std::collections::BTreeMap;

use common::*;
use dayshift_sdk::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_sessions_and_roles() {
    let s = TestServer::start().await;
    let me = s.admin.me().await.unwrap();
    assert_eq!((me.username.as_str(), me.role), ("admin", Role::Owner));

    let again = s
        .anonymous()
        .create_first_user(&CreateFirstUserRequest {
            username: "eve".into(),
            email: "eve@example.com".into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status_of(&again), 409, "{again}");

    let wrong = s
        .anonymous()
        .login(&LoginRequest {
            username: "admin".into(),
            password: "nope-nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status_of(&wrong), 401);
    let anonymous = s.anonymous().me().await.unwrap_err();
    assert_eq!(status_of(&anonymous), 401);
    let forged = s
        .anonymous()
        .with_token("0".repeat(64))
        .me()
        .await
        .unwrap_err();
    assert_eq!(status_of(&forged), 401);

    let bob = s.member("bob").await;
    assert_eq!(bob.me().await.unwrap().role, Role::Member);
    let denied = bob
        .create_user(&CreateUserRequest {
            username: "mallory".into(),
            email: "m@example.com".into(),
            password: PASSWORD.into(),
            role: Some(Role::Owner),
        })
        .await
        .unwrap_err();
    assert_eq!(status_of(&denied), 403, "members cannot create users");

    let bad = s
        .admin
        .create_user(&CreateUserRequest {
            username: "Bad Name".into(),
            email: "x@example.com".into(),
            password: PASSWORD.into(),
            role: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status_of(&bad), 400);
    assert!(
        message_of(&bad).contains("username"),
        "{}",
        message_of(&bad)
    );
    let short = s
        .admin
        .create_user(&CreateUserRequest {
            username: "carol".into(),
            email: "carol@example.com".into(),
            password: "short".into(),
            role: None,
        })
        .await
        .unwrap_err();
    assert!(
        message_of(&short).contains("password"),
        "{}",
        message_of(&short)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_workspace_lifecycle_through_the_api() {
    let s = TestServer::start().await;
    let template = push(&s.admin, "echo", files_of(&examples_dir("echo"))).await;
    assert_eq!(s.admin.templates().await.unwrap().len(), 1);
    assert_eq!(
        s.admin.template("echo").await.unwrap().id,
        template.id,
        "templates resolve by name"
    );

    let ws = create(&s.admin, "dev", "echo").await;
    assert_eq!(ws.latest_build.build_number, 1);
    assert_eq!(
        ws.latest_build.deadline, None,
        "a build starts with no deadline"
    );
    let ws = settled(&s.admin, &ws.id).await;
    assert_eq!(ws.status, WorkspaceStatus::Running);
    assert_eq!(ws.latest_build.job_status, JobStatus::Succeeded);
    assert_eq!(
        ws.latest_build.parameters.get("region").map(String::as_str),
        Some("eu")
    );
    let log = log_text(&s.admin, &ws.latest_build.id).await;
    assert!(log.contains("start"), "{log}");

    // One build at a time.
    let stop = s
        .admin
        .create_build(&ws.id, Transition::Stop)
        .await
        .unwrap();
    assert_eq!(stop.build_number, 2);
    let ws = settled(&s.admin, &ws.id).await;
    assert_eq!(ws.status, WorkspaceStatus::Stopped);
    s.admin
        .create_build(&ws.id, Transition::Start)
        .await
        .unwrap();
    let busy = s.admin.create_build(&ws.id, Transition::Stop).await;
    if let Err(e) = busy {
        assert_eq!(status_of(&e), 409, "{e}");
        assert!(message_of(&e).contains("in progress"), "{}", message_of(&e));
    }
    let ws = settled(&s.admin, &ws.id).await;
    let builds = s.admin.builds(&ws.id).await.unwrap();
    assert!(builds.len() >= 3);
    assert_eq!(
        builds[0].build_number as usize,
        builds.len(),
        "build numbers count up"
    );

    let by_name = s.admin.workspace_by_name("me", "dev").await.unwrap();
    assert_eq!(by_name.id, ws.id);
    let by_owner = s.admin.workspace_by_name("admin", "dev").await.unwrap();
    assert_eq!(by_owner.id, ws.id);

    s.admin
        .create_build(&ws.id, Transition::Delete)
        .await
        .unwrap();
    let mut after = 0;
    loop {
        match s.admin.workspace(&ws.id).await {
            Err(e) => {
                assert_eq!(status_of(&e), 404, "deleted workspaces are gone");
                break;
            }
            Ok(w) => {
                let lines = s
                    .admin
                    .build_logs(&w.latest_build.id, after, true)
                    .await
                    .unwrap();
                after = lines.last().map_or(after, |l| l.id);
            }
        }
    }
    assert!(s.admin.workspaces(false).await.unwrap().is_empty());
    // The name is free again.
    let again = create(&s.admin, "dev", "echo").await;
    settled(&s.admin, &again.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_builds_keep_their_log_and_error() {
    let s = TestServer::start().await;
    push(
        &s.admin,
        "flaky",
        inline_files(&[(
            "dayshift.toml",
            0o644,
            "provisioner = \"echo\"\n[echo]\nfail = [\"start\"]\n",
        )]),
    )
    .await;
    let ws = create(&s.admin, "dev", "flaky").await;
    let ws = settled(&s.admin, &ws.id).await;
    assert_eq!(ws.status, WorkspaceStatus::Failed);
    assert_eq!(ws.latest_build.job_status, JobStatus::Failed);
    assert!(ws.latest_build.error.is_some());
    assert!(!log_text(&s.admin, &ws.latest_build.id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_outputs_and_local_process_lifecycle() {
    let s = TestServer::start().await;
    push(&s.admin, "local", files_of(&examples_dir("local-process"))).await;
    let ws = create(&s.admin, "proc", "local").await;
    let ws = settled(&s.admin, &ws.id).await;
    assert_eq!(
        ws.status,
        WorkspaceStatus::Running,
        "{:?}",
        ws.latest_build.error
    );
    let pid: i32 = ws.latest_build.outputs["pid"].parse().expect("pid output");
    assert!(process_alive(pid), "the started process runs");
    assert!(
        ws.connect.is_some(),
        "the template's connect command is shown"
    );

    s.admin
        .create_build(&ws.id, Transition::Stop)
        .await
        .unwrap();
    let ws = settled(&s.admin, &ws.id).await;
    assert_eq!(ws.status, WorkspaceStatus::Stopped);
    assert!(!process_alive(pid), "stop killed the process");
}

fn process_alive(pid: i32) -> bool {
    // A zombie still has /proc/<pid>; its state is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.contains(") Z "))
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_parameter_values_reach_the_script_verbatim() {
    let s = TestServer::start().await;
    let canary = s.dir.path().join("pwned");
    let manifest = "provisioner = \"script\"\n[script]\nstart = \"./start.sh\"\n[[parameters]]\nname = \"motto\"\n";
    let script = "#!/bin/sh\nprintf 'motto=[%s]\\n' \"$DAYSHIFT_PARAM_MOTTO\"\n";
    push(
        &s.admin,
        "echoer",
        inline_files(&[
            ("dayshift.toml", 0o644, manifest),
            ("start.sh", 0o755, script),
        ]),
    )
    .await;
    let hostile = format!(
        "$(touch {c}) `touch {c}` ; touch {c} && echo \"'quoted'\" $HOME",
        c = canary.display()
    );
    let ws = s
        .admin
        .create_workspace(&CreateWorkspaceRequest {
            name: "victim".into(),
            template: "echoer".into(),
            parameters: Some(BTreeMap::from([("motto".to_string(), hostile.clone())])),
            ..Default::default()
        })
        .await
        .unwrap();
    let ws = settled(&s.admin, &ws.id).await;
    assert_eq!(
        ws.status,
        WorkspaceStatus::Running,
        "{:?}",
        ws.latest_build.error
    );
    let log = log_text(&s.admin, &ws.latest_build.id).await;
    assert!(
        log.contains(&format!("motto=[{hostile}]")),
        "verbatim: {log}"
    );
    assert!(!canary.exists(), "nothing in the value was executed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_and_names_are_validated() {
    let s = TestServer::start().await;
    push(&s.admin, "echo", files_of(&examples_dir("echo"))).await;
    let attempt = |name: &str, params: &[(&str, &str)]| CreateWorkspaceRequest {
        name: name.into(),
        template: "echo".into(),
        parameters: Some(
            params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    };
    for (req, field, needle) in [
        (attempt("Bad_Name", &[]), "name", "lowercase"),
        (attempt("ok", &[("nope", "x")]), "parameters.nope", "nope"),
        (
            attempt("ok", &[("region", "mars")]),
            "parameters.region",
            "mars",
        ),
    ] {
        let err = s.admin.create_workspace(&req).await.unwrap_err();
        assert_eq!(status_of(&err), 400, "{err}");
        let text = message_of(&err);
        assert!(text.contains(field) && text.contains(needle), "{text}");
    }
    let unknown = s
        .admin
        .create_workspace(&CreateWorkspaceRequest {
            name: "ok".into(),
            template: "no-such-template".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status_of(&unknown), 404);
    let ws = create(&s.admin, "dup", "echo").await;
    settled(&s.admin, &ws.id).await;
    let dup = s
        .admin
        .create_workspace(&attempt("dup", &[]))
        .await
        .unwrap_err();
    assert_eq!(status_of(&dup), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_see_only_their_own_workspaces() {
    let s = TestServer::start().await;
    push(&s.admin, "echo", files_of(&examples_dir("echo"))).await;
    let bob = s.member("bob").await;
    let carol = s.member("carol").await;
    let bobs = create(&bob, "dev", "echo").await;
    settled(&bob, &bobs.id).await;

    for attempt in [
        carol.workspace(&bobs.id).await.map(|_| ()),
        carol
            .create_build(&bobs.id, Transition::Stop)
            .await
            .map(|_| ()),
        carol.set_ttl(&bobs.id, Some(3_600_000)).await,
        carol.workspace_by_name("bob", "dev").await.map(|_| ()),
        carol.builds(&bobs.id).await.map(|_| ()),
        carol
            .build_logs(&bobs.latest_build.id, 0, false)
            .await
            .map(|_| ()),
    ] {
        let err = attempt.unwrap_err();
        assert_eq!(
            status_of(&err),
            404,
            "others' workspaces do not exist for members: {err}"
        );
    }
    assert!(
        carol.workspaces(true).await.unwrap().is_empty(),
        "--all shows a member only their own"
    );
    assert_eq!(bob.workspaces(false).await.unwrap().len(), 1);
    let all = s.admin.workspaces(true).await.unwrap();
    assert_eq!(all.len(), 1, "owners see everybody's with all=true");
    assert_eq!(all[0].owner_name, "bob");
    assert!(s.admin.workspaces(false).await.unwrap().is_empty());
    let push_denied = bob
        .create_template(&CreateTemplateRequest {
            name: "mine".into(),
            files: files_of(&examples_dir("echo")),
        })
        .await
        .unwrap_err();
    assert_eq!(status_of(&push_denied), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loses_nothing() {
    let mut s = TestServer::start().await;
    push(&s.admin, "echo", files_of(&examples_dir("echo"))).await;
    let ws = create(&s.admin, "dev", "echo").await;
    let ws = settled(&s.admin, &ws.id).await;
    s.restart().await;
    let after = s
        .admin
        .workspace(&ws.id)
        .await
        .expect("the session and workspace survive");
    assert_eq!(after.status, WorkspaceStatus::Running);
    assert_eq!(after.latest_build.id, ws.latest_build.id);
    assert_eq!(s.admin.templates().await.unwrap().len(), 1);
    let log = log_text(&s.admin, &ws.latest_build.id).await;
    assert!(!log.is_empty(), "logs survive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_manifests_are_refused_with_the_key_and_rule() {
    let s = TestServer::start().await;
    for (manifest, needle) in [
        ("provisioner = \"docker\"\n", "provisioner"),
        ("provisioner = \"echo\"\n[[parameters]]\nname = \"region\"\ndefault = \"asia\"\noptions = [\"eu\", \"us\"]\n", "asia"),
        ("provisioner = \"echo\"\nprovisioner = \"echo\"\n", "dayshift.toml"),
        ("provisioner = \"echo\"\n[[presets]]\nname = \"p\"\n[presets.prebuilds.scheduling]\ntimezone = \"Mars/Olympus\"\n", "Mars/Olympus"),
    ] {
        let err = s
            .admin
            .create_template(&CreateTemplateRequest {
                name: "bad".into(),
                files: inline_files(&[("dayshift.toml", 0o644, manifest)]),
            })
            .await
            .unwrap_err();
        assert_eq!(status_of(&err), 400, "{err}");
        assert!(message_of(&err).contains(needle), "{needle}: {}", message_of(&err));
    }
    let escape = s
        .admin
        .create_template(&CreateTemplateRequest {
            name: "bad".into(),
            files: inline_files(&[
                ("dayshift.toml", 0o644, "provisioner = \"echo\"\n"),
                ("../evil", 0o644, "x"),
            ]),
        })
        .await
        .unwrap_err();
    assert_eq!(status_of(&escape), 400);
    assert!(
        s.admin.templates().await.unwrap().is_empty(),
        "nothing was stored"
    );
}

/// Raw HTTP for malformed bodies the typed client cannot send.
async fn raw(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value, Option<String>) {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", s.url()))
        .header(SESSION_TOKEN_HEADER, s.admin.token().unwrap_or_default())
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let time = resp
        .headers()
        .get(SERVER_TIME_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let json = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, json, time)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_a_4xx_with_the_error_shape() {
    use reqwest::Method;
    let s = TestServer::start().await;
    push(&s.admin, "echo", files_of(&examples_dir("echo"))).await;
    let ws = create(&s.admin, "dev", "echo").await;
    let id = ws.id.clone();
    let cases: Vec<(Method, String, &str)> = vec![
        (Method::POST, "/api/v2/users/login".into(), "{not json"),
        (Method::POST, "/api/v2/users".into(), r#"{"username": 5}"#),
        (Method::POST, "/api/v2/templates".into(), r#"{"name": "x"}"#),
        (
            Method::PATCH,
            "/api/v2/templates/echo".into(),
            r#"{"default_ttl_ms": "8h"}"#,
        ),
        (
            Method::PATCH,
            "/api/v2/templates/echo".into(),
            r#"{"defualt_ttl_ms": 1}"#,
        ),
        (
            Method::PATCH,
            "/api/v2/templates/echo".into(),
            r#"{"default_ttl_ms": -5}"#,
        ),
        (
            Method::POST,
            "/api/v2/workspaces".into(),
            r#"{"name": "x", "template": "echo", "extra": 1}"#,
        ),
        (Method::POST, "/api/v2/workspaces".into(), r#"[]"#),
        (
            Method::POST,
            format!("/api/v2/workspaces/{id}/builds"),
            r#"{"transition": "explode"}"#,
        ),
        (
            Method::PUT,
            format!("/api/v2/workspaces/{id}/autostart"),
            r#"{"schedule": "99 9 * * *"}"#,
        ),
        (
            Method::PUT,
            format!("/api/v2/workspaces/{id}/ttl"),
            r#"{"ttl_ms": 1000}"#,
        ),
        (
            Method::PUT,
            format!("/api/v2/workspaces/{id}/ttl"),
            r#"{"ttl_ms": 99999999999999}"#,
        ),
        (
            Method::PUT,
            format!("/api/v2/workspaces/{id}/extend"),
            r#"{"deadline": "tomorrow"}"#,
        ),
        (
            Method::PUT,
            format!("/api/v2/workspaces/{id}/dormant"),
            r#"{"dormant": "yes"}"#,
        ),
        (
            Method::GET,
            "/api/v2/schedule/preview?cron=61+*+*+*+*".into(),
            "",
        ),
        (
            Method::GET,
            "/api/v2/schedule/preview?cron=*+*+*+*+*&count=0".into(),
            "",
        ),
        (
            Method::POST,
            "/api/v2/debug/clock".into(),
            r#"{"advance": "-"}"#,
        ),
        (Method::GET, "/api/v2/workspaces/not-a-real-id".into(), ""),
        (Method::GET, "/api/v2/no/such/route".into(), ""),
    ];
    for (method, path, body) in cases {
        let (status, json, time) = raw(&s, method.clone(), &path, body).await;
        assert!(
            (400..500).contains(&status),
            "{method} {path} {body}: {status} {json}"
        );
        assert!(
            json["message"].is_string(),
            "{method} {path}: error shape {json}"
        );
        assert!(time.is_some(), "every answer carries the server time");
    }
    let huge = format!(
        r#"{{"name": "{}", "template": "echo"}}"#,
        "x".repeat(40 * 1024 * 1024)
    );
    // The server answers 413 from the Content-Length alone, without reading
    // the body, and may close the connection while the client is still
    // sending it: then the client sees the refusal as a broken pipe.
    let sent = reqwest::Client::new()
        .post(format!("{}/api/v2/workspaces", s.url()))
        .header(SESSION_TOKEN_HEADER, s.admin.token().unwrap_or_default())
        .header("Content-Type", "application/json")
        .body(huge)
        .send()
        .await;
    match sent {
        Ok(resp) => assert_eq!(resp.status().as_u16(), 413, "oversized bodies are refused"),
        Err(e) => {
            let text = format!("{e:?}");
            assert!(
                text.contains("BrokenPipe")
                    || text.contains("ConnectionReset")
                    || text.contains("connection closed"),
                "an oversized body is refused, not served: {text}"
            );
        }
    }
    assert!(
        s.admin
            .workspaces(false)
            .await
            .unwrap()
            .iter()
            .all(|w| w.name != "x"),
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints() {
    let s = TestServer::start().await;
    let health = s.anonymous().health().await.unwrap();
    assert_eq!(health.database, "ok");
    let doc: serde_json::Value = reqwest::get(format!("{}/api/v2/openapi.json", s.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v2/workspaces",
        "/api/v2/workspaces/{id}/extend",
        "/api/v2/debug/clock",
    ] {
        assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
    }
    push(&s.admin, "echo", files_of(&examples_dir("echo"))).await;
    let ws = create(&s.admin, "dev", "echo").await;
    settled(&s.admin, &ws.id).await;
    let metrics = reqwest::get(format!("{}/metrics", s.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("dayshift_http_requests_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dayshift_provisioner_jobs{status=\"succeeded\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_clock_is_owner_only_and_absent_without_the_flag() {
    let s = TestServer::start().await;
    let bob = s.member("bob").await;
    let denied = bob
        .debug_clock(&DebugClockRequest {
            now: Some(t("2027-02-01T00:00:00Z")),
            advance: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status_of(&denied), 403);
    let moved = s
        .admin
        .debug_clock(&DebugClockRequest {
            now: None,
            advance: Some("90m".into()),
        })
        .await
        .unwrap();
    assert_eq!(moved.now, t("2027-01-04T09:30:00Z"));

    let dir = tempfile::tempdir().unwrap();
    let mut config = dayshift_server::ServerConfig::for_tests(dir.path().to_path_buf());
    config.dev_clock = false;
    let plain = dayshift_server::start(config, None).await.unwrap();
    let client = Client::new(&plain.url());
    client
        .create_first_user(&CreateFirstUserRequest {
            username: "admin".into(),
            email: "a@example.com".into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap();
    let admin = login(&client, "admin").await;
    let absent = admin
        .debug_clock(&DebugClockRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status_of(&absent), 404);
    plain.shutdown().await;
}

/// Heartbeats and the reaper of silent jobs follow real time: moving the
/// dev clock days ahead (each move also runs a reaper pass) while a build
/// runs leaves the build running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advancing_the_dev_clock_never_fails_a_build_in_flight() {
    let s = TestServer::start().await;
    push(
        &s.admin,
        "slow",
        inline_files(&[(
            "dayshift.toml",
            0o644,
            "provisioner = \"echo\"\n[echo]\nduration = \"1h\"\n",
        )]),
    )
    .await;
    let ws = create(&s.admin, "dev", "slow").await;
    let build_id = ws.latest_build.id.clone();
    // The echo build announces its hour of work once its job runs.
    let mut after = 0;
    let mut working = false;
    for _ in 0..10_000 {
        let lines = s
            .admin
            .build_logs(&build_id, after, true)
            .await
            .expect("logs");
        if lines.iter().any(|l| l.output.starts_with("working for")) {
            working = true;
            break;
        }
        if let Some(last) = lines.last() {
            after = last.id;
        }
    }
    assert!(working, "the build started");
    for _ in 0..3 {
        s.admin
            .debug_clock(&DebugClockRequest {
                now: None,
                advance: Some("2d".into()),
            })
            .await
            .expect("clock moved");
    }
    let build = s
        .admin
        .workspace(&ws.id)
        .await
        .expect("workspace")
        .latest_build;
    assert_eq!(
        (build.status, build.job_status),
        (WorkspaceStatus::Starting, JobStatus::Running),
        "{:?}",
        build.error
    );
    let log = log_text(&s.admin, &build_id).await;
    assert!(!log.contains("heartbeats"), "{log}");
}
