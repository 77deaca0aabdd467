//! `dayshift schedule preview` needs no server: drive the built binary.

use std::process::{Command, Output};

use serde_json::{json, Value};

fn dayshift(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dayshift"))
        .args(args)
        // Make sure no saved session or server is consulted.
        .env("DAYSHIFT_CONFIG_DIR", "/nonexistent/dayshift-config")
        .env_remove("DAYSHIFT_URL")
        .env_remove("DAYSHIFT_SESSION_TOKEN")
        .env("NO_COLOR", "1")
        .output()
        .expect("run dayshift")
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn points_json_shape_and_spring_forward() {
    let out = dayshift(&[
        "schedule",
        "preview",
        "CRON_TZ=Europe/Berlin 30 2 * * *",
        "--from",
        "2027-03-27T00:00:00Z",
        "--count",
        "3",
        "-o",
        "json",
    ]);
    let value = stdout_json(&out);
    assert_eq!(
        value,
        json!([
            {"at": "2027-03-27T01:30:00Z", "local": "2027-03-27T02:30:00+01:00"},
            // 02:30 does not exist on the spring-forward day: first instant
            // after the gap.
            {"at": "2027-03-28T01:00:00Z", "local": "2027-03-28T03:00:00+02:00"},
            {"at": "2027-03-29T00:30:00Z", "local": "2027-03-29T02:30:00+02:00"},
        ])
    );
}

#[test]
fn points_default_count_is_five() {
    let out = dayshift(&[
        "schedule",
        "preview",
        "30 9 * * MON-FRI",
        "--from",
        "2027-01-04T00:00:00Z",
        "-o",
        "json",
    ]);
    let value = stdout_json(&out);
    let points = value.as_array().expect("an array");
    assert_eq!(points.len(), 5);
    assert_eq!(
        points[0],
        json!({"at": "2027-01-04T09:30:00Z", "local": "2027-01-04T09:30:00+00:00"})
    );
    // Monday to Friday, then the next Monday.
    assert_eq!(points[4]["at"], "2027-01-08T09:30:00Z");
    for p in points {
        let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
        assert_eq!(keys, vec!["at", "local"]);
    }
}

#[test]
fn ranges_json_shape() {
    let out = dayshift(&[
        "schedule",
        "preview",
        "CRON_TZ=Europe/Berlin * 8-18 * * 1-5",
        "--ranges",
        "--from",
        "2027-01-04T00:00:00Z",
        "--count",
        "2",
        "-o",
        "json",
    ]);
    let value = stdout_json(&out);
    assert_eq!(
        value,
        json!([
            {"start": "2027-01-04T07:00:00Z", "end": "2027-01-04T18:00:00Z"},
            {"start": "2027-01-05T07:00:00Z", "end": "2027-01-05T18:00:00Z"},
        ])
    );
}

#[test]
fn ranges_may_begin_before_from() {
    let out = dayshift(&[
        "schedule",
        "preview",
        "* 8-16 * * 1-5",
        "--ranges",
        "--from",
        "2027-01-04T12:00:00Z",
        "--count",
        "1",
        "-o",
        "json",
    ]);
    assert_eq!(
        stdout_json(&out),
        json!([{"start": "2027-01-04T08:00:00Z", "end": "2027-01-04T17:00:00Z"}])
    );
}

#[test]
fn table_shows_local_and_utc() {
    let out = dayshift(&[
        "schedule",
        "preview",
        "CRON_TZ=Europe/Berlin 30 2 * * *",
        "--from",
        "2027-03-27T00:00:00Z",
        "-n",
        "2",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, vec!["LOCAL", "(Europe/Berlin)", "UTC"]);
    let row: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        row,
        vec!["2027-03-28T03:00:00+02:00", "2027-03-28T01:00:00Z"]
    );
}

#[test]
fn bad_cron_exits_1_with_the_parser_message() {
    let out = dayshift(&["schedule", "preview", "30 9 * * MON-FRY"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"invalid day-of-week "MON-FRY": unknown day name "FRY""#),
        "{stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_from_exits_1_and_usage_errors_exit_2() {
    let out = dayshift(&["schedule", "preview", "* * * * *", "--from", "yesterday"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("yesterday"));

    let out = dayshift(&["schedule", "preview"]);
    assert_eq!(out.status.code(), Some(2));
    let out = dayshift(&["schedule", "preview", "* * * * *", "--count", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let out = dayshift(&["schedule", "preview", "* * * * *", "-o", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn client_commands_without_login_exit_1() {
    let out = dayshift(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("dayshift login"), "{stderr}");
}

#[test]
fn unbounded_range_ends_are_null() {
    let out = dayshift(&[
        "schedule",
        "preview",
        "* * * * *",
        "--ranges",
        "--from",
        "2027-01-04T12:00:00Z",
        "-o",
        "json",
    ]);
    assert_eq!(
        stdout_json(&out),
        json!([{"start": null, "end": null}]),
        "a schedule that always holds has no bounds"
    );
    let out = dayshift(&[
        "schedule",
        "preview",
        "* * * * *",
        "--ranges",
        "--from",
        "2027-01-04T12:00:00Z",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("unbounded"), "{text}");
}

/// On a host without a time zone database (TZDIR names an empty directory,
/// as on a bare container) zones still resolve, from the copy in the binary.
#[test]
fn zones_resolve_without_a_system_tz_database() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dayshift"))
        .args([
            "schedule",
            "preview",
            "CRON_TZ=europe/berlin 30 2 * * *",
            "--from",
            "2027-03-27T00:00:00Z",
            "--count",
            "1",
            "-o",
            "json",
        ])
        .env("TZDIR", empty.path())
        .env("DAYSHIFT_CONFIG_DIR", "/nonexistent/dayshift-config")
        .output()
        .expect("run dayshift");
    assert_eq!(
        stdout_json(&out),
        json!([{"at": "2027-03-27T01:30:00Z", "local": "2027-03-27T02:30:00+01:00"}])
    );
}
