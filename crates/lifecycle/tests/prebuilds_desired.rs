//! Desired prebuild counts (DESIGN §3 exact range semantics) and the
//! pure pool plan: no store, no clock.

use dayshift_lifecycle::prebuilds::{
    plan, DeleteReason, PoolCounts, PoolInput, PoolRules, PoolSchedule,
};
use dayshift_schedule::{SignedDuration, Timestamp};
use dayshift_store::{
    JobStatus, PrebuildOutcome, PrebuildRow, PresetSchedule, PresetScheduling, Transition,
};

fn t(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn pool(default: i64, zone: &str, schedules: &[(&str, i64)]) -> PoolSchedule {
    let scheduling = PresetScheduling {
        timezone: zone.to_string(),
        schedule: schedules
            .iter()
            .map(|(cron, instances)| PresetSchedule {
                cron: cron.to_string(),
                instances: *instances,
            })
            .collect(),
    };
    PoolSchedule::new(default, Some(&scheduling)).expect("valid schedules")
}

/// `* 9-17 * * 1-5` in Berlin is exactly [09:00:00, 18:00:00) local,
/// Monday to Friday. 2027-01-04 is a Monday; Berlin is UTC+1 in January.
#[test]
fn business_hours_boundaries_are_exact() {
    let p = pool(1, "Europe/Berlin", &[("* 9-17 * * 1-5", 3)]);
    let table = [
        ("2027-01-04T07:59:59Z", 1), // 08:59:59 local
        ("2027-01-04T07:59:59.999Z", 1),
        ("2027-01-04T08:00:00Z", 3), // 09:00:00
        ("2027-01-04T12:00:00Z", 3),
        ("2027-01-04T16:59:59Z", 3), // 17:59:59
        ("2027-01-04T16:59:59.999Z", 3),
        ("2027-01-04T17:00:00Z", 1), // 18:00:00
        ("2027-01-08T16:59:59Z", 3), // Friday 17:59:59
        ("2027-01-09T10:00:00Z", 1), // Saturday
        ("2027-01-10T10:00:00Z", 1), // Sunday
    ];
    for (at, want) in table {
        assert_eq!(p.desired(t(at)), want, "desired at {at}");
    }
    assert_eq!(
        p.schedule_in_force(t("2027-01-04T08:00:00Z")),
        Some("* 9-17 * * 1-5")
    );
    assert_eq!(p.schedule_in_force(t("2027-01-04T17:00:00Z")), None);
}

#[test]
fn next_change_is_the_next_boundary_that_changes_the_count() {
    let p = pool(1, "Europe/Berlin", &[("* 9-17 * * 1-5", 3)]);
    let table = [
        ("2027-01-04T07:00:00Z", Some("2027-01-04T08:00:00Z")),
        ("2027-01-04T07:59:59Z", Some("2027-01-04T08:00:00Z")),
        ("2027-01-04T08:00:00Z", Some("2027-01-04T17:00:00Z")),
        ("2027-01-04T16:59:59Z", Some("2027-01-04T17:00:00Z")),
        // Friday evening: next Monday morning.
        ("2027-01-08T17:00:00Z", Some("2027-01-11T08:00:00Z")),
    ];
    for (at, want) in table {
        assert_eq!(
            p.next_change_at(t(at)),
            want.map(t),
            "next change after {at}"
        );
    }
}

/// Ranges follow Berlin wall time: 09:00 local is 08:00Z in winter and
/// 07:00Z in summer (the change is on Sunday 2027-03-28).
#[test]
fn ranges_follow_wall_time_across_dst() {
    let p = pool(0, "Europe/Berlin", &[("* 9-17 * * 1-5", 4)]);
    assert_eq!(p.desired(t("2027-03-26T07:59:59Z")), 0); // Fri 08:59:59 CET
    assert_eq!(p.desired(t("2027-03-26T08:00:00Z")), 4);
    assert_eq!(p.desired(t("2027-03-29T06:59:59Z")), 0); // Mon 08:59:59 CEST
    assert_eq!(p.desired(t("2027-03-29T07:00:00Z")), 4);
    assert_eq!(p.desired(t("2027-03-29T15:59:59Z")), 4); // 17:59:59 CEST
    assert_eq!(p.desired(t("2027-03-29T16:00:00Z")), 0);
    assert_eq!(
        p.next_change_at(t("2027-03-26T17:00:00Z")),
        Some(t("2027-03-29T07:00:00Z"))
    );
}

/// A range over the skipped hour is empty on spring-forward day; one over
/// the repeated hour lasts two hours on fall-back day.
#[test]
fn skipped_and_repeated_hours() {
    let p = pool(1, "Europe/Berlin", &[("* 2 * * *", 5)]);
    // 2027-03-28: 02:00 CET jumps to 03:00 CEST at 01:00Z.
    assert_eq!(p.desired(t("2027-03-28T00:59:59Z")), 1); // 01:59:59 CET
    assert_eq!(p.desired(t("2027-03-28T01:00:00Z")), 1); // 03:00 CEST
    assert_eq!(
        p.next_change_at(t("2027-03-28T00:00:00Z")),
        Some(t("2027-03-29T00:00:00Z")), // 02:00 CEST the next night
    );
    // 2027-10-31: 03:00 CEST falls back to 02:00 CET at 01:00Z, so local
    // 02:00-03:00 happens twice: 00:00Z-02:00Z.
    assert_eq!(p.desired(t("2027-10-30T23:59:59Z")), 1);
    assert_eq!(p.desired(t("2027-10-31T00:00:00Z")), 5);
    assert_eq!(p.desired(t("2027-10-31T01:30:00Z")), 5);
    assert_eq!(p.desired(t("2027-10-31T02:00:00Z")), 1);
    assert_eq!(
        p.next_change_at(t("2027-10-31T00:00:00Z")),
        Some(t("2027-10-31T02:00:00Z"))
    );
}

#[test]
fn several_schedules_and_the_default() {
    let p = pool(
        1,
        "UTC",
        &[
            ("* 8-11 * * 1-5", 3),
            ("* 12-17 * * 1-5", 5),
            ("* 10-15 * * 6", 2),
        ],
    );
    let table = [
        ("2027-01-04T07:59:59Z", 1),
        ("2027-01-04T08:00:00Z", 3),
        ("2027-01-04T11:59:59Z", 3),
        ("2027-01-04T12:00:00Z", 5),
        ("2027-01-04T17:59:59Z", 5),
        ("2027-01-04T18:00:00Z", 1),
        ("2027-01-09T09:59:59Z", 1), // Saturday
        ("2027-01-09T10:00:00Z", 2),
        ("2027-01-09T16:00:00Z", 1),
    ];
    for (at, want) in table {
        assert_eq!(p.desired(t(at)), want, "desired at {at}");
    }
    assert_eq!(
        p.next_change_at(t("2027-01-04T09:00:00Z")),
        Some(t("2027-01-04T12:00:00Z"))
    );
    assert_eq!(
        p.next_change_at(t("2027-01-08T18:00:00Z")), // Friday evening
        Some(t("2027-01-09T10:00:00Z"))
    );
}

/// Adjacent schedules asking for the same count: their shared boundary
/// changes nothing, so the next change is where the pair ends.
#[test]
fn boundaries_that_keep_the_count_are_skipped() {
    let p = pool(1, "UTC", &[("* 8-11 * * *", 3), ("* 12-17 * * *", 3)]);
    assert_eq!(
        p.next_change_at(t("2027-01-04T09:00:00Z")),
        Some(t("2027-01-04T18:00:00Z"))
    );
    // A schedule asking for the default never changes anything.
    let same = pool(2, "UTC", &[("* 8-17 * * *", 2)]);
    assert_eq!(same.next_change_at(t("2027-01-04T09:00:00Z")), None);
    assert_eq!(PoolSchedule::fixed(3).desired(t("2027-01-04T09:00:00Z")), 3);
    assert_eq!(
        PoolSchedule::fixed(3).next_change_at(t("2027-01-04T09:00:00Z")),
        None
    );
}

#[test]
fn unreadable_schedules_are_reported() {
    let scheduling = PresetScheduling {
        timezone: "Europe/Berlin".into(),
        schedule: vec![PresetSchedule {
            cron: "* 25 * * *".into(),
            instances: 1,
        }],
    };
    let err = PoolSchedule::new(1, Some(&scheduling)).expect_err("hour 25");
    assert!(err.to_string().contains("\"* 25 * * *\""), "{err}");
}

// --- the pure pool plan --------------------------------------------------

const NOW: &str = "2027-01-04T12:00:00Z";

fn row(id: &str, created: &str, transition: Transition, job: JobStatus) -> PrebuildRow {
    PrebuildRow {
        workspace_id: id.into(),
        preset_id: "p".into(),
        created_at: t(created),
        template_version_id: "v".into(),
        transition,
        job_status: job,
    }
}

fn running(id: &str, created: &str) -> PrebuildRow {
    row(id, created, Transition::Start, JobStatus::Succeeded)
}

fn input<'a>(
    desired: i64,
    prebuilds: &'a [PrebuildRow],
    history: &'a [PrebuildOutcome],
) -> PoolInput<'a> {
    PoolInput {
        active: true,
        desired,
        expiration: None,
        prebuilds,
        history,
        now: t(NOW),
        paused: false,
    }
}

#[test]
fn create_counts_running_and_starting_builds() {
    let prebuilds = [
        running("a", "2027-01-04T10:00:00Z"),
        row(
            "b",
            "2027-01-04T11:00:00Z",
            Transition::Start,
            JobStatus::Pending,
        ),
        row(
            "c",
            "2027-01-04T11:00:00Z",
            Transition::Start,
            JobStatus::Running,
        ),
        // Neither supply nor touched:
        row(
            "d",
            "2027-01-04T09:00:00Z",
            Transition::Stop,
            JobStatus::Succeeded,
        ),
        row(
            "e",
            "2027-01-04T09:00:00Z",
            Transition::Start,
            JobStatus::Failed,
        ),
        row(
            "f",
            "2027-01-04T09:00:00Z",
            Transition::Delete,
            JobStatus::Running,
        ),
        row(
            "g",
            "2027-01-04T09:00:00Z",
            Transition::Stop,
            JobStatus::Running,
        ),
    ];
    let p = plan(&input(5, &prebuilds, &[]), &PoolRules::default());
    assert_eq!(p.create, 2);
    assert!(p.delete.is_empty());
    assert_eq!(
        p.counts,
        PoolCounts {
            running: 1,
            eligible: 1,
            expired: 0,
            starting: 2,
            stopping: 1,
            deleting: 1,
            stopped: 1,
            failed: 1,
        }
    );
    // Starting builds count as supply: never more than desired.
    assert_eq!(
        plan(&input(3, &prebuilds, &[]), &PoolRules::default()).create,
        0
    );
}

#[test]
fn surplus_is_deleted_oldest_first() {
    let prebuilds = [
        running("old", "2027-01-04T08:00:00Z"),
        running("mid", "2027-01-04T09:00:00Z"),
        running("new", "2027-01-04T10:00:00Z"),
    ];
    let p = plan(&input(1, &prebuilds, &[]), &PoolRules::default());
    assert_eq!(
        p.delete,
        vec![
            ("old".to_string(), DeleteReason::Surplus),
            ("mid".to_string(), DeleteReason::Surplus)
        ]
    );
    assert_eq!(p.create, 0);
}

#[test]
fn expired_prebuilds_are_deleted_and_replaced() {
    let prebuilds = [
        running("old", "2027-01-04T10:00:00Z"),
        running("new", "2027-01-04T11:30:00Z"),
    ];
    let mut i = input(2, &prebuilds, &[]);
    i.expiration = Some(SignedDuration::from_hours(2));
    // Exactly two hours old is not older than two hours.
    let p = plan(&i, &PoolRules::default());
    assert!(p.is_noop(), "{p:?}");
    assert_eq!(p.next_expiry, Some(t("2027-01-04T12:00:00.001Z")));
    i.now = t("2027-01-04T12:00:00.001Z");
    let p = plan(&i, &PoolRules::default());
    assert_eq!(p.delete, vec![("old".to_string(), DeleteReason::Expired)]);
    assert_eq!(p.create, 1);
    assert_eq!(
        (p.counts.running, p.counts.expired, p.counts.eligible),
        (2, 1, 1)
    );
}

#[test]
fn inactive_versions_are_emptied() {
    let prebuilds = [
        running("a", "2027-01-04T10:00:00Z"),
        row(
            "b",
            "2027-01-04T11:00:00Z",
            Transition::Start,
            JobStatus::Running,
        ),
        row(
            "c",
            "2027-01-04T11:00:00Z",
            Transition::Stop,
            JobStatus::Succeeded,
        ),
    ];
    let mut i = input(5, &prebuilds, &[]);
    i.active = false;
    let p = plan(&i, &PoolRules::default());
    assert_eq!(p.desired, 0);
    assert_eq!(p.create, 0);
    // Running ones go now; the starting one once it runs; stopped stays.
    assert_eq!(
        p.delete,
        vec![("a".to_string(), DeleteReason::InactiveVersion)]
    );
    assert_eq!(p.counts.eligible, 0);
}

fn outcome(succeeded: bool, at: &str) -> PrebuildOutcome {
    PrebuildOutcome {
        succeeded,
        at: t(at),
    }
}

#[test]
fn failures_back_off_linearly_then_hit_the_hard_limit() {
    let rules = PoolRules::default(); // 1m per failure, limit 3
    let history = [
        outcome(false, "2027-01-04T11:59:00Z"),
        outcome(false, "2027-01-04T11:58:00Z"),
        outcome(true, "2027-01-04T11:00:00Z"),
    ];
    let p = plan(&input(1, &[], &history), &rules);
    assert_eq!(p.failures, 2);
    assert_eq!(p.backoff_until, Some(t("2027-01-04T12:01:00Z")));
    assert_eq!(p.create, 0);
    let mut i = input(1, &[], &history);
    i.now = t("2027-01-04T12:01:00Z");
    let p = plan(&i, &rules);
    assert_eq!((p.backoff_until, p.create), (None, 1));

    let history = [
        outcome(false, "2027-01-04T11:59:00Z"),
        outcome(false, "2027-01-04T11:58:00Z"),
        outcome(false, "2027-01-04T11:50:00Z"),
    ];
    let mut i = input(1, &[], &history);
    i.now = t("2027-01-05T12:00:00Z");
    let p = plan(&i, &rules);
    assert!(p.hard_limited);
    assert_eq!(p.create, 0);
    // Deletes still happen while creation is held back.
    let prebuilds = [running("a", "2027-01-04T10:00:00Z")];
    let mut i = input(0, &prebuilds, &history);
    i.now = t("2027-01-04T11:59:30Z");
    assert_eq!(plan(&i, &rules).delete.len(), 1);
    // Without a hard limit the backoff keeps growing instead.
    let unlimited = PoolRules {
        hard_limit: 0,
        ..rules
    };
    let p = plan(&input(1, &[], &history), &unlimited);
    assert!(!p.hard_limited);
    assert_eq!(p.backoff_until, Some(t("2027-01-04T12:02:00Z")));
}

#[test]
fn paused_pools_report_but_change_nothing() {
    let prebuilds = [running("a", "2027-01-04T10:00:00Z")];
    let mut i = input(3, &prebuilds, &[]);
    i.paused = true;
    let p = plan(&i, &PoolRules::default());
    assert!(p.is_noop());
    assert_eq!((p.desired, p.counts.running), (3, 1));
}
