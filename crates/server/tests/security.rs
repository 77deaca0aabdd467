//! Hostile clients (issue 13): sessions that can be ended, throttled
//! logins, limits on every input, one answer for "not yours" and "not
//! there", and the error shape on every error.

mod common;

use common::*;
use dayshift_lifecycle::ManualClock;
use dayshift_schedule::SignedDuration;
use dayshift_sdk::*;
use dayshift_server::{Limit, LoginLimits};

fn login_req(username: &str, password: &str) -> LoginRequest {
    LoginRequest {
        username: username.into(),
        password: password.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_and_ended() {
    let s = TestServer::start().await;
    let second = login(&s.anonymous(), "admin").await;

    let listed = s.admin.sessions().await.unwrap().sessions;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let current: Vec<_> = listed.iter().filter(|x| x.current).collect();
    assert_eq!(current.len(), 1, "exactly one is this request's");
    assert!(listed.iter().all(|x| x.kind == SessionKind::Token));
    assert!(
        listed.iter().all(|x| x.label.starts_with("dayshift/")),
        "labelled by the client's user agent: {listed:?}"
    );
    let other = listed.iter().find(|x| !x.current).unwrap().id.clone();
    let body = serde_json::to_string(&listed).unwrap();
    assert!(
        !body.contains(second.token().unwrap()),
        "a listing never shows a secret"
    );

    // Ending a session by id: its token stops working at once.
    s.admin.end_session(&other).await.unwrap();
    assert_eq!(status_of(&second.me().await.unwrap_err()), 401);
    let again = s.admin.end_session(&other).await.unwrap_err();
    assert_eq!(status_of(&again), 404);

    // Another user's session id is not found, as a made-up one.
    let bob = s.member("bob").await;
    let admins = s.admin.sessions().await.unwrap().sessions[0].id.clone();
    let foreign = bob.end_session(&admins).await.unwrap_err();
    assert_eq!(status_of(&foreign), 404);
    let made_up = bob.end_session("nosuch").await.unwrap_err();
    assert_eq!(message_of(&foreign), message_of(&made_up));
    assert!(s.admin.me().await.is_ok());

    // Logout: 204, then the token answers 401.
    let raw = reqwest::Client::new()
        .post(format!("{}/api/v2/users/logout", s.url()))
        .header(SESSION_TOKEN_HEADER, bob.token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 204);
    assert_eq!(status_of(&bob.me().await.unwrap_err()), 401);
    assert_eq!(status_of(&bob.logout().await.unwrap_err()), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_ends_every_session_of_a_user_and_members_cannot() {
    let s = TestServer::start().await;
    let bob = s.member("bob").await;
    let bob2 = login(&s.anonymous(), "bob").await;
    let carol = s.member("carol").await;

    let denied = carol.end_sessions_of("bob").await.unwrap_err();
    assert_eq!(status_of(&denied), 403);
    let denied = carol.end_sessions_of("nosuch").await.unwrap_err();
    assert_eq!(status_of(&denied), 403, "members learn nothing about names");
    let missing = s.admin.end_sessions_of("nosuch").await.unwrap_err();
    assert_eq!(status_of(&missing), 404);

    let ended = s.admin.end_sessions_of("bob").await.unwrap();
    assert_eq!(ended.ended, 2);
    assert_eq!(status_of(&bob.me().await.unwrap_err()), 401);
    assert_eq!(status_of(&bob2.me().await.unwrap_err()), 401);
    assert!(carol.me().await.is_ok(), "other users keep their sessions");

    // A user can sign out everywhere, this session included.
    let ended = carol.end_sessions_of("me").await.unwrap();
    assert_eq!(ended.ended, 1);
    assert_eq!(status_of(&carol.me().await.unwrap_err()), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_the_other_sessions() {
    let s = TestServer::start().await;
    let bob = s.member("bob").await;
    let bob_laptop = login(&s.anonymous(), "bob").await;
    let new_password = "Battery-Staple-7";

    let missing_old = bob
        .change_password(
            "me",
            &ChangePasswordRequest {
                old_password: None,
                password: new_password.into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&missing_old), 400);
    assert!(message_of(&missing_old).contains("old_password"));
    let wrong_old = bob
        .change_password(
            "me",
            &ChangePasswordRequest {
                old_password: Some("not-my-password".into()),
                password: new_password.into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&wrong_old), 400);
    assert!(bob_laptop.me().await.is_ok(), "nothing changed");

    bob.change_password(
        "me",
        &ChangePasswordRequest {
            old_password: Some(PASSWORD.into()),
            password: new_password.into(),
        },
    )
    .await
    .unwrap();
    assert!(
        bob.me().await.is_ok(),
        "the session that changed it lives on"
    );
    assert_eq!(status_of(&bob_laptop.me().await.unwrap_err()), 401);
    let old = s
        .anonymous()
        .login(&login_req("bob", PASSWORD))
        .await
        .unwrap_err();
    assert_eq!(status_of(&old), 401);
    s.anonymous()
        .login(&login_req("bob", new_password))
        .await
        .unwrap();

    // An owner resets another user's password: all their sessions end.
    let carol = s.member("carol").await;
    let denied = carol
        .change_password(
            "bob",
            &ChangePasswordRequest {
                old_password: None,
                password: "Whatever-123".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&denied), 403);
    s.admin
        .change_password(
            "bob",
            &ChangePasswordRequest {
                old_password: None,
                password: PASSWORD.into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(status_of(&bob.me().await.unwrap_err()), 401);
    login(&s.anonymous(), "bob").await;
}

/// Logs in with raw HTTP and returns the status and `Retry-After`.
async fn try_login(s: &TestServer, username: &str, password: &str) -> (u16, Option<u64>) {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v2/users/login", s.url()))
        .json(&login_req(username, password))
        .send()
        .await
        .expect("request");
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let status = resp.status().as_u16();
    if status >= 400 {
        let body: ApiError = resp.json().await.expect("error shape");
        assert!(!body.message.is_empty());
    }
    (status, retry_after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_per_username_and_per_address() {
    let clock = ManualClock::new(t("2027-01-04T08:00:00Z"));
    let s = TestServer::start_with(|config| {
        config.session_clock = Some(clock.clone());
        config.login = LoginLimits {
            per_username: Limit {
                failures: 3,
                window: SignedDuration::from_mins(5),
            },
            per_address: Limit {
                failures: 6,
                window: SignedDuration::from_mins(10),
            },
            ..LoginLimits::default()
        };
    })
    .await;

    for _ in 0..3 {
        assert_eq!(try_login(&s, "admin", "wrong-password").await, (401, None));
        clock.advance(SignedDuration::from_secs(10)).unwrap();
    }
    // 08:00:30: the first failure (08:00:00) leaves the window at 08:05:00.
    assert_eq!(
        try_login(&s, "admin", PASSWORD).await,
        (429, Some(270)),
        "even the right password waits"
    );
    assert_eq!(
        try_login(&s, "ADMIN", "wrong").await.0,
        429,
        "names are throttled without regard to case"
    );
    clock.advance(SignedDuration::from_secs(270)).unwrap();
    assert_eq!(try_login(&s, "admin", PASSWORD).await.0, 201);

    // Unknown names are throttled exactly like known ones.
    for _ in 0..3 {
        assert_eq!(try_login(&s, "nosuch", "wrong").await.0, 401);
    }
    assert_eq!(try_login(&s, "nosuch", "wrong").await.0, 429);

    // The address: 6 failures in 10 minutes, whatever the names.
    let (status, retry_after) = try_login(&s, "other-name", "wrong").await;
    assert_eq!(
        (status, retry_after),
        (429, Some(300)),
        "3 + 3 failures since 08:00:00"
    );
    clock.advance(SignedDuration::from_mins(10)).unwrap();
    assert_eq!(try_login(&s, "admin", PASSWORD).await.0, 201);
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

const SCRIPT_MANIFEST: &str = r#"
provisioner = "script"
[script]
start = "echo secret > \"$DAYSHIFT_STATE_DIR/token\""
stop = "true"
delete = "true"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_at_rest_are_private() {
    let s = TestServer::start().await;
    push(
        &s.admin,
        "private",
        inline_files(&[("dayshift.toml", 0o644, SCRIPT_MANIFEST)]),
    )
    .await;
    let ws = create(&s.admin, "vault", "private").await;
    let ws = settled(&s.admin, &ws.id).await;
    assert_eq!(
        ws.status,
        WorkspaceStatus::Running,
        "{:?}",
        ws.latest_build.error
    );

    let data = s.dir.path();
    assert_eq!(mode_of(data), 0o700, "data directory");
    for db in ["dayshift.db", "dayshift.db-wal", "dayshift.db-shm"] {
        assert_eq!(mode_of(&data.join(db)), 0o600, "{db}");
    }
    let work = data.join("provisioner");
    let versions = work.join("versions");
    assert_eq!(mode_of(&versions), 0o700);
    let version = versions.join(&ws.latest_build.template_version_id);
    assert_eq!(mode_of(&version), 0o700, "extracted template");
    let state = work.join("state").join(&ws.id);
    assert_eq!(mode_of(&state), 0o700, "workspace state directory");
    assert_eq!(mode_of(&work.join("state")), 0o700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_workspace_is_not_found_like_a_missing_one() {
    let s = TestServer::start().await;
    push(&s.admin, "echo", files_of(&examples_dir("echo"))).await;
    let existing = create(&s.admin, "existing", "echo").await;
    let bob = s.member("bob").await;

    let hidden = bob
        .workspace_by_name("admin", "existing")
        .await
        .unwrap_err();
    let missing = bob.workspace_by_name("admin", "nosuch").await.unwrap_err();
    assert_eq!((status_of(&hidden), status_of(&missing)), (404, 404));
    assert_eq!(message_of(&hidden), "workspace admin/existing not found");
    assert_eq!(message_of(&missing), "workspace admin/nosuch not found");
    assert!(!message_of(&hidden).contains(&existing.id), "no id leaks");

    let by_id = bob.workspace(&existing.id).await.unwrap_err();
    let made_up = bob
        .workspace("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert_eq!((status_of(&by_id), status_of(&made_up)), (404, 404));
    assert_eq!(
        message_of(&by_id).replace(&existing.id, "ID"),
        message_of(&made_up).replace("00000000-0000-0000-0000-000000000000", "ID")
    );

    let own = bob.workspace_by_name("me", "nosuch").await.unwrap_err();
    assert_eq!(
        message_of(&own),
        "workspace bob/nosuch not found",
        "never `me`"
    );
}

/// Raw request with the admin's token; returns status, headers and JSON.
async fn raw(
    s: &TestServer,
    method: &str,
    path: &str,
    body: Option<String>,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", s.url()),
        )
        .header(SESSION_TOKEN_HEADER, s.admin.token().unwrap_or_default());
    if let Some(body) = body {
        req = req.header("Content-Type", "application/json").body(body);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let json = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

fn validation_fields(json: &serde_json::Value) -> Vec<String> {
    json["validations"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|x| x["field"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_are_bounded_and_normalised() {
    let s = TestServer::start().await;
    push(&s.admin, "echo", files_of(&examples_dir("echo"))).await;
    let ws = create(&s.admin, "dev", "echo").await;
    settled(&s.admin, &ws.id).await;
    let autostart = |schedule: String| {
        let path = format!("/api/v2/workspaces/{}/autostart", ws.id);
        let body = serde_json::json!({ "schedule": schedule }).to_string();
        let s = &s;
        async move { raw(s, "PUT", &path, Some(body)).await }
    };

    // 10 MB of `0 1,1,1,...`: refused naming the field and the limit.
    let huge = format!("0 {}1 * * *", "1,".repeat(5_000_000));
    let (status, _, json) = autostart(huge).await;
    assert_eq!(status, 400, "{json}");
    assert_eq!(validation_fields(&json), ["schedule"]);
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("the limit is 256"),
        "{json}"
    );

    let (status, _, json) = autostart("*/99999999999999999999 9 * * *".into()).await;
    assert_eq!(status, 400);
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("99999999999999999999"),
        "names the value: {json}"
    );
    for machine in ["localtime", "Local", "posixrules", "Factory"] {
        let (status, _, json) = autostart(format!("CRON_TZ={machine} 0 9 * * 1-5")).await;
        assert_eq!(status, 400, "{machine}: {json}");
    }
    let (status, _, _) = autostart("CRON_TZ=europe/berlin 30 9 * * MON-FRI".into()).await;
    assert_eq!(status, 204);
    let stored = s.admin.workspace(&ws.id).await.unwrap().autostart_schedule;
    assert_eq!(
        stored.as_deref(),
        Some("CRON_TZ=Europe/Berlin 30 9 * * 1-5")
    );

    // Emails with control characters.
    for email in [
        "a\u{0}b@example.com",
        "a@example.com\r\nBcc: x@example.com",
        "bell\u{7}@example.com",
    ] {
        let err = s
            .admin
            .create_user(&CreateUserRequest {
                username: "eve".into(),
                email: email.into(),
                password: PASSWORD.into(),
                role: None,
            })
            .await
            .unwrap_err();
        assert_eq!(status_of(&err), 400, "{email:?}");
        assert!(message_of(&err).contains("email"), "{}", message_of(&err));
    }

    // A file name longer than any file system allows is refused at push.
    let long_name = format!("{}.sh", "x".repeat(297));
    let err = s
        .admin
        .create_template(&CreateTemplateRequest {
            name: "longname".into(),
            files: inline_files(&[
                ("dayshift.toml", 0o644, "provisioner = \"echo\"\n"),
                (&long_name, 0o755, "true"),
            ]),
        })
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 400);
    assert!(
        message_of(&err).contains("the limit is 255"),
        "{}",
        message_of(&err)
    );

    // Parameters are bounded.
    let err = s
        .admin
        .create_workspace(&CreateWorkspaceRequest {
            name: "big".into(),
            template: "echo".into(),
            parameters: Some([("size".to_string(), "x".repeat(5000))].into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 400);
    assert!(
        message_of(&err).contains("the limit is 4096"),
        "{}",
        message_of(&err)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_the_json_shape() {
    let s = TestServer::start().await;

    let (status, headers, json) = raw(&s, "DELETE", "/api/v2/templates", None).await;
    assert_eq!(status, 405);
    assert!(
        json["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{json}"
    );
    assert!(headers.get("allow").is_some());

    let long = format!("/api/v2/workspaces/{}", "x".repeat(9000));
    let (status, _, json) = raw(&s, "GET", &long, None).await;
    assert_eq!(status, 414);
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("the limit is 8192"),
        "{json}"
    );

    let (status, _, json) = raw(&s, "GET", "/nosuch", None).await;
    assert_eq!(status, 404);
    assert!(json["message"].is_string());

    // Shape errors list the field.
    let (status, _, json) = raw(
        &s,
        "POST",
        "/api/v2/workspaces",
        Some(r#"{"name": 5, "template": "x"}"#.into()),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(validation_fields(&json), ["name"], "{json}");
    let (status, _, json) = raw(
        &s,
        "POST",
        "/api/v2/workspaces",
        Some(r#"{"name": "x"}"#.into()),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(validation_fields(&json), ["template"], "{json}");
    let (status, _, json) = raw(&s, "POST", "/api/v2/workspaces", Some("[1]".into())).await;
    assert_eq!(status, 400);
    assert!(
        !json.to_string().contains("CreateWorkspaceRequest"),
        "no type names: {json}"
    );

    // No message names a library's parameter.
    let (status, _, json) = raw(
        &s,
        "POST",
        "/api/v2/debug/clock",
        Some(r#"{"now": "99999-01-01T00:00:00Z"}"#.into()),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(validation_fields(&json), ["now"], "{json}");
    let (status, _, json) = raw(
        &s,
        "POST",
        "/api/v2/debug/clock",
        Some(r#"{"advance": "9000000000h"}"#.into()),
    )
    .await;
    assert_eq!(status, 400);
    let (_, _, from) = raw(
        &s,
        "GET",
        "/api/v2/schedule/preview?cron=*+*+*+*+*&from=yesterday",
        None,
    )
    .await;
    for body in [json, from] {
        let text = body.to_string();
        assert!(
            !text.contains("parameter") && !text.contains("Unix timestamp"),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_labels_stay_bounded() {
    let s = TestServer::start().await;
    for i in 0..20 {
        raw(&s, &format!("MADEUP{i}"), "/healthz", None).await;
        raw(&s, "GET", &format!("/api/v2/workspaces/made-up-{i}"), None).await;
        raw(&s, "GET", &format!("/no/such/path/{i}"), None).await;
    }
    let text = reqwest::get(format!("{}/metrics", s.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let requests: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("dayshift_http_requests_total{"))
        .collect();
    assert!(!text.contains("MADEUP"), "made-up methods are `other`");
    assert!(
        requests.iter().any(|l| l.contains("method=\"other\"")),
        "{requests:#?}"
    );
    assert!(!text.contains("made-up-"), "no raw paths");
    assert!(
        requests
            .iter()
            .any(|l| l.contains("route=\"/api/v2/workspaces/{id}\"")),
        "{requests:#?}"
    );
    assert!(!text.contains("/no/such/path"));
}

/// A stored schedule whose zone this server's time zone database does not
/// know (a zone removed from a newer tzdb) is an error shown on the
/// workspace, not a rule that silently never fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unresolvable_zone_is_a_visible_error() {
    let s = TestServer::start().await;
    push(&s.admin, "echo", files_of(&examples_dir("echo"))).await;
    let ws = create(&s.admin, "dev", "echo").await;
    settled(&s.admin, &ws.id).await;
    s.admin
        .set_autostart(&ws.id, Some("CRON_TZ=Europe/Berlin 30 9 * * 1-5".into()))
        .await
        .unwrap();
    assert_eq!(
        s.admin.workspace(&ws.id).await.unwrap().autostart_error,
        None
    );

    let db = s.dir.path().join("dayshift.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE workspaces SET autostart_schedule = 'CRON_TZ=Mars/Olympus 30 9 * * 1-5' WHERE id = ?")
        .bind(&ws.id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let shown = s.admin.workspace(&ws.id).await.unwrap();
    let error = shown
        .autostart_error
        .expect("the error is on the workspace");
    assert!(error.contains("Mars/Olympus"), "{error}");
    assert!(error.contains("unknown time zone"), "{error}");
}

/// The document names the session header as a security scheme and lists
/// what every operation can answer (schemathesis checks the rest in CI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_auth_and_every_answer() {
    let s = TestServer::start().await;
    let doc: serde_json::Value = reqwest::get(format!("{}/api/v2/openapi.json", s.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scheme = &doc["components"]["securitySchemes"]["session_token"];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "header");
    assert_eq!(scheme["name"], SESSION_TOKEN_HEADER);
    let get = &doc["paths"]["/api/v2/workspaces/{id}"]["get"];
    assert!(get["security"].is_array());
    for status in ["200", "401", "404"] {
        assert!(get["responses"][status].is_object(), "{status}: {get}");
    }
    let create = &doc["paths"]["/api/v2/workspaces"]["post"];
    for status in ["201", "400", "401", "404", "409", "413", "415"] {
        assert!(create["responses"][status].is_object(), "{status}");
    }
    let login = &doc["paths"]["/api/v2/users/login"]["post"];
    assert!(login["security"].is_null(), "logging in needs no session");
    assert!(login["responses"]["429"]["headers"]["Retry-After"].is_object());
    let name = &doc["components"]["schemas"]["CreateWorkspaceRequest"]["properties"]["name"];
    assert_eq!(name["maxLength"], 32);
    assert!(name["pattern"].is_string());
}
