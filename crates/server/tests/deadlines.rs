//! Deadlines people can live with (DESIGN §3 "Deadlines"): set at build
//! completion, extended, bumped by activity, cleared, and enforced by the
//! executor — all on the dev clock, through the HTTP API.

mod common;

use common::*;
use dayshift_sdk::*;

const HOUR_MS: i64 = 3_600_000;

/// A running echo workspace with the given TTL, started at 08:00Z on
/// Monday 2027-01-04.
async fn running(s: &TestServer, ttl_ms: Option<i64>) -> Workspace {
    if s.admin.template("echo").await.is_err() {
        push(&s.admin, "echo", files_of(&examples_dir("echo"))).await;
    }
    let ws = s
        .admin
        .create_workspace(&CreateWorkspaceRequest {
            name: format!("ws-{}", ttl_ms.unwrap_or(0) / 60_000),
            template: "echo".into(),
            ttl_ms,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        ws.latest_build.deadline, None,
        "no deadline while the build is pending"
    );
    settled(&s.admin, &ws.id).await
}

async fn tick(s: &TestServer, now: &str) -> DebugClockResponse {
    s.admin
        .debug_clock(&DebugClockRequest {
            now: Some(t(now)),
            advance: None,
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_is_completion_plus_ttl_and_autostop_fires_exactly_then() {
    let s = TestServer::start().await;
    let ws = running(&s, Some(8 * HOUR_MS)).await;
    assert_eq!(
        ws.latest_build.completed_at,
        Some(t("2027-01-04T08:00:00Z"))
    );
    assert_eq!(ws.latest_build.deadline, Some(t("2027-01-04T16:00:00Z")));
    assert_eq!(ws.latest_build.max_deadline, None);

    let early = tick(&s, "2027-01-04T15:59:59.999Z").await;
    assert!(
        early.autobuild.transitions.is_empty(),
        "not before the deadline"
    );
    let due = tick(&s, "2027-01-04T16:00:00Z").await;
    assert_eq!(
        due.autobuild.transitions.get(&ws.id).map(String::as_str),
        Some("stop")
    );
    let ws = settled(&s.admin, &ws.id).await;
    assert_eq!(ws.status, WorkspaceStatus::Stopped);
    assert_eq!(ws.latest_build.reason, BuildReason::Autostop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extend_rules_and_messages() {
    let s = TestServer::start().await;
    let ws = running(&s, Some(2 * HOUR_MS)).await;
    let current = t("2027-01-04T10:00:00Z");
    assert_eq!(ws.latest_build.deadline, Some(current));

    for (deadline, needle) in [
        ("2027-01-04T10:00:00Z", "not after the current deadline"),
        ("2027-01-04T09:00:00Z", "not after the current deadline"),
        ("2027-03-01T00:00:00Z", "more than 30d from now"),
    ] {
        let err = s.admin.extend(&ws.id, t(deadline)).await.unwrap_err();
        assert_eq!(status_of(&err), 400, "{deadline}: {err}");
        assert!(
            message_of(&err).contains(needle),
            "{deadline}: {}",
            message_of(&err)
        );
    }
    let unchanged = s.admin.workspace(&ws.id).await.unwrap();
    assert_eq!(
        unchanged.latest_build.deadline,
        Some(current),
        "refusals change nothing"
    );

    let ok = s
        .admin
        .extend(&ws.id, t("2027-01-04T12:30:00Z"))
        .await
        .unwrap();
    assert_eq!(ok.message, "Deadline updated to 2027-01-04T12:30:00Z.");
    let ws = s.admin.workspace(&ws.id).await.unwrap();
    assert_eq!(ws.latest_build.deadline, Some(t("2027-01-04T12:30:00Z")));
    let not_stopped = tick(&s, "2027-01-04T10:00:00Z").await;
    assert!(
        not_stopped.autobuild.transitions.is_empty(),
        "the extension holds"
    );

    // Manual shutdown: clearing the TTL clears the running deadline.
    s.admin.set_ttl(&ws.id, None).await.unwrap();
    let ws = s.admin.workspace(&ws.id).await.unwrap();
    assert_eq!(ws.latest_build.deadline, None);
    let manual = s
        .admin
        .extend(&ws.id, t("2027-01-04T13:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(status_of(&manual), 409);
    assert!(
        message_of(&manual).contains("manual"),
        "{}",
        message_of(&manual)
    );

    // Stopped workspaces cannot be extended.
    s.admin
        .create_build(&ws.id, Transition::Stop)
        .await
        .unwrap();
    let building = s
        .admin
        .extend(&ws.id, t("2027-01-04T13:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(status_of(&building), 409, "{building}");
    settled(&s.admin, &ws.id).await;
    let stopped = s
        .admin
        .extend(&ws.id, t("2027-01-04T13:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(status_of(&stopped), 409);
    assert!(
        message_of(&stopped).contains("stopped"),
        "{}",
        message_of(&stopped)
    );

    // Someone else's workspace does not exist for them.
    let bob = s.member("bob").await;
    let theirs = bob
        .extend(&ws.id, t("2027-01-04T13:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(status_of(&theirs), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_deadline_from_the_autostop_requirement_caps_deadline_and_extend() {
    let s = TestServer::start().await;
    push(&s.admin, "echo", files_of(&examples_dir("echo"))).await;
    let all_days = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    s.admin
        .update_template(
            "echo",
            &UpdateTemplateRequest {
                autostop_requirement: Some(AutostopRequirement {
                    days_of_week: all_days.iter().map(|d| d.to_string()).collect(),
                    weeks: 1,
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ws = running(&s, Some(20 * HOUR_MS)).await;
    let max = t("2027-01-05T00:00:00Z");
    assert_eq!(
        ws.latest_build.max_deadline,
        Some(max),
        "next quiet hours (midnight UTC)"
    );
    assert_eq!(
        ws.latest_build.deadline,
        Some(max),
        "the deadline never passes the max"
    );

    s.admin
        .extend(&ws.id, t("2027-01-04T20:00:00Z"))
        .await
        .unwrap_err();
    let ws = running(&s, Some(2 * HOUR_MS)).await;
    let err = s
        .admin
        .extend(&ws.id, t("2027-01-05T01:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 400);
    let text = message_of(&err);
    assert!(
        text.contains("2027-01-05T01:00:00Z")
            && text.contains("2027-01-05T00:00:00Z")
            && text.contains("max deadline"),
        "names the rule and the limit: {text}"
    );
    s.admin
        .extend(&ws.id, max)
        .await
        .expect("up to the max deadline is fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_bumps_the_deadline_and_delays_dormancy() {
    let s = TestServer::start().await;
    let ws = running(&s, Some(2 * HOUR_MS)).await;
    // Plenty of time left: usage only records the activity.
    s.clock.set(t("2027-01-04T08:30:00Z"));
    let used = s.admin.report_usage(&ws.id).await.unwrap().value;
    assert_eq!(used.last_used_at, t("2027-01-04T08:30:00Z"));
    assert_eq!(
        used.latest_build.deadline,
        Some(t("2027-01-04T10:00:00Z")),
        "never earlier"
    );

    // Within the bump window (1h by default): now + 1h.
    s.clock.set(t("2027-01-04T09:40:00Z"));
    let timed = s.admin.report_usage(&ws.id).await.unwrap();
    assert_eq!(
        timed.value.latest_build.deadline,
        Some(t("2027-01-04T10:40:00Z"))
    );
    assert_eq!(
        timed.server_time,
        Some(t("2027-01-04T09:40:00Z")),
        "answers carry the server time"
    );

    // A bump of 0 turns it off.
    s.admin
        .update_template(
            "echo",
            &UpdateTemplateRequest {
                activity_bump_ms: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    s.clock.set(t("2027-01-04T10:30:00Z"));
    let off = s.admin.report_usage(&ws.id).await.unwrap().value;
    assert_eq!(off.latest_build.deadline, Some(t("2027-01-04T10:40:00Z")));

    // Dormancy counts from the last use (manual shutdown, so autostop
    // does not stop it first).
    s.admin.set_ttl(&ws.id, None).await.unwrap();
    s.admin
        .update_template(
            "echo",
            &UpdateTemplateRequest {
                time_til_dormant_ms: Some(24 * HOUR_MS),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let at_threshold = tick(&s, "2027-01-05T10:30:00Z").await;
    assert!(
        at_threshold.autobuild.transitions.is_empty(),
        "{at_threshold:?}"
    );
    let ws_now = s.admin.workspace(&ws.id).await.unwrap();
    assert_eq!(
        ws_now.dormant_at, None,
        "exactly the threshold after last use: not yet dormant"
    );
    let past = tick(&s, "2027-01-05T10:30:01Z").await;
    assert_eq!(
        past.autobuild.transitions.get(&ws.id).map(String::as_str),
        Some("stop"),
        "a running workspace is stopped"
    );
    let dormant = s.admin.workspace(&ws.id).await.unwrap();
    assert_eq!(dormant.dormant_at, Some(t("2027-01-05T10:30:01Z")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_and_autostart_validation() {
    let s = TestServer::start().await;
    let ws = running(&s, None).await;
    for (ttl, needle) in [(30_000, "at least 1m"), (31 * 24 * HOUR_MS, "at most 30d")] {
        let err = s.admin.set_ttl(&ws.id, Some(ttl)).await.unwrap_err();
        assert_eq!(status_of(&err), 400);
        assert!(message_of(&err).contains(needle), "{}", message_of(&err));
    }
    let bad = s
        .admin
        .set_autostart(&ws.id, Some("30 9 1 * *".into()))
        .await
        .unwrap_err();
    assert!(
        message_of(&bad).contains("day-of-month"),
        "{}",
        message_of(&bad)
    );
    s.admin
        .set_autostart(&ws.id, Some("30 9 * * MON-FRI".into()))
        .await
        .unwrap();
    let ws = s.admin.workspace(&ws.id).await.unwrap();
    assert_eq!(
        ws.autostart_schedule.as_deref(),
        Some("CRON_TZ=UTC 30 9 * * 1-5"),
        "stored normalised"
    );

    s.admin
        .update_template(
            "echo",
            &UpdateTemplateRequest {
                allow_user_autostart: Some(false),
                allow_user_autostop: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let refused = s
        .admin
        .set_autostart(&ws.id, Some("30 9 * * *".into()))
        .await
        .unwrap_err();
    assert!(
        message_of(&refused).contains("not allowed"),
        "{}",
        message_of(&refused)
    );
    let refused = s.admin.set_ttl(&ws.id, Some(HOUR_MS)).await.unwrap_err();
    assert!(
        message_of(&refused).contains("not allowed"),
        "{}",
        message_of(&refused)
    );
}
