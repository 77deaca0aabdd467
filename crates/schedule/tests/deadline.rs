//! Deadline math (DESIGN §3 "Deadlines") and `overlaps`.

use dayshift_schedule::deadline::{
    bumped_deadline, default_quiet_hours, max_deadline, next_allowed_autostart, start_deadline,
    validate_extend, validate_ttl, AutostopRequirement, DeadlineError, ExtendError, TtlError,
};
use dayshift_schedule::{Schedule, SignedDuration, Timestamp, Weekdays};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}
fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}
fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}
fn sched(s: &str) -> Schedule {
    Schedule::parse(s).unwrap()
}

#[test]
fn start_deadline_rules() {
    let done = ts("2024-05-06T21:45:00Z");
    // No TTL: no autostop.
    assert_eq!(start_deadline(done, None, None, None), None);
    assert_eq!(
        start_deadline(done, Some(SignedDuration::ZERO), None, None),
        None
    );
    // Plain TTL.
    assert_eq!(
        start_deadline(done, Some(hours(8)), None, None),
        Some(ts("2024-05-07T05:45:00Z"))
    );
    // Coder's example: autostart 9:00, TTL 12h, started 21:45 -> 21:00 next day.
    let next = Some(ts("2024-05-07T09:00:00Z"));
    assert_eq!(
        start_deadline(done, Some(hours(12)), next, None),
        Some(ts("2024-05-07T21:00:00Z"))
    );
    // Deadline before the next autostart: unchanged.
    assert_eq!(
        start_deadline(done, Some(hours(8)), next, None),
        Some(ts("2024-05-07T05:45:00Z"))
    );
    // Capped by the max deadline.
    let max = Some(ts("2024-05-07T18:00:00Z"));
    assert_eq!(start_deadline(done, Some(hours(12)), next, max), max);
    // A stale next autostart (not after completion) is ignored.
    let stale = Some(ts("2024-05-06T09:00:00Z"));
    assert_eq!(
        start_deadline(done, Some(hours(8)), stale, None),
        Some(ts("2024-05-07T05:45:00Z"))
    );
}

#[test]
fn next_allowed_autostart_rules() {
    let s = sched("CRON_TZ=America/New_York 0 9 * * *");
    // Friday 2024-05-10 15:00Z; weekdays only -> Monday 09:00 EDT.
    let weekdays = Weekdays::parse_list("mon-fri").unwrap();
    assert_eq!(
        next_allowed_autostart(&s, ts("2024-05-10T15:00:00Z"), weekdays),
        Some(ts("2024-05-13T13:00:00Z"))
    );
    // Weekday judged in the schedule's zone: 23:30 Sunday New York is
    // Monday in UTC, but it is a Sunday slot there.
    let late = sched("CRON_TZ=America/New_York 30 23 * * *");
    let mondays = Weekdays::parse_list("mon").unwrap();
    assert_eq!(
        next_allowed_autostart(&late, ts("2024-05-12T00:00:00Z"), mondays),
        Some(ts("2024-05-14T03:30:00Z"))
    );
    // Nothing allowed: None, no endless loop.
    assert_eq!(
        next_allowed_autostart(&s, ts("2024-05-10T15:00:00Z"), Weekdays::NONE),
        None
    );
    // Schedule only on Saturdays, only weekdays allowed: None.
    let sat = sched("0 9 * * 6");
    assert_eq!(
        next_allowed_autostart(&sat, ts("2024-05-10T15:00:00Z"), weekdays),
        None
    );
    // Weekly slot exactly 7 days later, across the autumn change (7d + 1h).
    let weekly = sched("CRON_TZ=Europe/Berlin 0 9 * * 1");
    assert_eq!(
        next_allowed_autostart(&weekly, ts("2024-10-21T07:00:00Z"), Weekdays::ALL),
        Some(ts("2024-10-28T08:00:00Z"))
    );
    // A schedule that can never fire: None.
    let never = sched("0 0 30 2 *");
    assert_eq!(
        next_allowed_autostart(&never, ts("2024-05-10T15:00:00Z"), Weekdays::ALL),
        None
    );
}

#[test]
fn max_deadline_rules() {
    let qh = default_quiet_hours();
    assert_eq!(qh.to_string(), "CRON_TZ=UTC 0 0 * * *");
    let daily = AutostopRequirement {
        days: Weekdays::ALL,
        weeks: 1,
    };
    // Started mid-day: stop at the coming midnight.
    assert_eq!(
        max_deadline(ts("2024-05-08T10:00:00Z"), &daily, &qh),
        Ok(Some(ts("2024-05-09T00:00:00Z")))
    );
    // Started within the 2h leeway before quiet hours: the next one.
    assert_eq!(
        max_deadline(ts("2024-05-08T22:30:00Z"), &daily, &qh),
        Ok(Some(ts("2024-05-10T00:00:00Z")))
    );
    // Just outside the leeway: still tonight.
    assert_eq!(
        max_deadline(ts("2024-05-08T21:59:00Z"), &daily, &qh),
        Ok(Some(ts("2024-05-09T00:00:00Z")))
    );
    // Only Saturdays (Wednesday start): the midnight that begins Saturday.
    let sat = AutostopRequirement {
        days: Weekdays::parse_list("sat").unwrap(),
        weeks: 1,
    };
    assert_eq!(
        max_deadline(ts("2024-05-08T10:00:00Z"), &sat, &qh),
        Ok(Some(ts("2024-05-11T00:00:00Z")))
    );
    // Quiet hours in a zone: 01:00 Europe/Berlin (CEST in May = 23:00Z).
    let berlin = sched("CRON_TZ=Europe/Berlin 0 1 * * *");
    assert_eq!(
        max_deadline(ts("2024-05-08T10:00:00Z"), &daily, &berlin),
        Ok(Some(ts("2024-05-08T23:00:00Z")))
    );
    // Every 2 weeks from Monday 2023-01-02: 2024-05-06 is week 70 (even),
    // 2024-05-13 week 71 (odd). On Wednesday of week 70 the Saturday
    // qualifies; on Wednesday of week 71 the next is in week 72.
    let fortnight = AutostopRequirement {
        days: Weekdays::parse_list("sat").unwrap(),
        weeks: 2,
    };
    assert_eq!(
        max_deadline(ts("2024-05-08T10:00:00Z"), &fortnight, &qh),
        Ok(Some(ts("2024-05-11T00:00:00Z")))
    );
    assert_eq!(
        max_deadline(ts("2024-05-15T10:00:00Z"), &fortnight, &qh),
        Ok(Some(ts("2024-05-25T00:00:00Z")))
    );
    // No requirement.
    let none = AutostopRequirement {
        days: Weekdays::NONE,
        weeks: 1,
    };
    assert_eq!(
        max_deadline(ts("2024-05-08T10:00:00Z"), &none, &qh),
        Ok(None)
    );
    // Quiet hours never sooner than now + 1h: 23:30 start with the leeway
    // pushing to the next day is still at least an hour away.
    let r = max_deadline(ts("2024-05-08T23:30:00Z"), &daily, &qh)
        .unwrap()
        .unwrap();
    assert!(r >= ts("2024-05-09T00:30:00Z"));
}

#[test]
fn max_deadline_errors() {
    let qh = default_quiet_hours();
    for weeks in [0, 17] {
        let req = AutostopRequirement {
            days: Weekdays::ALL,
            weeks,
        };
        let err = max_deadline(ts("2024-05-08T10:00:00Z"), &req, &qh).unwrap_err();
        assert_eq!(err, DeadlineError::Weeks(weeks));
        assert_eq!(
            err.to_string(),
            format!("invalid autostop requirement weeks {weeks}: must be 1-16")
        );
    }
    let req = AutostopRequirement {
        days: Weekdays::ALL,
        weeks: 2,
    };
    assert_eq!(
        max_deadline(ts("2022-05-08T10:00:00Z"), &req, &qh)
            .unwrap_err()
            .to_string(),
        "cannot compute the autostop requirement at 2022-05-08T10:00:00Z: it is before the \
         week-counting epoch 2023-01-02 (is the system clock wrong?)"
    );
    let never = sched("0 0 30 2 *");
    assert_eq!(
        max_deadline(ts("2024-05-08T10:00:00Z"), &AutostopRequirement { days: Weekdays::ALL, weeks: 1 }, &never)
            .unwrap_err()
            .to_string(),
        "quiet hours schedule \"CRON_TZ=UTC 0 0 30 2 *\" has no occurrence after 2024-05-07T23:45:00Z"
    );
    assert_eq!(
        DeadlineError::OutOfRange(Timestamp::MAX).to_string(),
        format!(
            "time {} is out of range for deadline arithmetic",
            Timestamp::MAX
        )
    );
}

#[test]
fn bump_rules() {
    let now = ts("2024-05-08T10:00:00Z");
    let bump = hours(1);
    // Plenty left: nothing changes.
    assert_eq!(
        bumped_deadline(now, ts("2024-05-08T12:00:00Z"), None, bump, None, None),
        None
    );
    assert_eq!(
        bumped_deadline(now, ts("2024-05-08T11:00:00Z"), None, bump, None, None),
        None
    );
    // Less than the bump left: now + bump.
    assert_eq!(
        bumped_deadline(now, ts("2024-05-08T10:30:00Z"), None, bump, None, None),
        Some(ts("2024-05-08T11:00:00Z"))
    );
    // Already past the deadline (not yet stopped): still bumped.
    assert_eq!(
        bumped_deadline(now, ts("2024-05-08T09:59:00Z"), None, bump, None, None),
        Some(ts("2024-05-08T11:00:00Z"))
    );
    // Capped by max; never earlier than the deadline.
    let max = Some(ts("2024-05-08T10:40:00Z"));
    assert_eq!(
        bumped_deadline(now, ts("2024-05-08T10:30:00Z"), max, bump, None, None),
        Some(ts("2024-05-08T10:40:00Z"))
    );
    let max_before = Some(ts("2024-05-08T10:20:00Z"));
    assert_eq!(
        bumped_deadline(
            now,
            ts("2024-05-08T10:30:00Z"),
            max_before,
            bump,
            None,
            None
        ),
        None
    );
    // Next autostart inside the window: next autostart + ttl.
    let next = Some(ts("2024-05-08T10:45:00Z"));
    assert_eq!(
        bumped_deadline(
            now,
            ts("2024-05-08T10:30:00Z"),
            None,
            bump,
            next,
            Some(hours(8))
        ),
        Some(ts("2024-05-08T18:45:00Z"))
    );
    // Outside the window: ignored.
    let later = Some(ts("2024-05-08T12:00:00Z"));
    assert_eq!(
        bumped_deadline(
            now,
            ts("2024-05-08T10:30:00Z"),
            None,
            bump,
            later,
            Some(hours(8))
        ),
        Some(ts("2024-05-08T11:00:00Z"))
    );
    // No bump configured.
    assert_eq!(
        bumped_deadline(
            now,
            ts("2024-05-08T10:30:00Z"),
            None,
            SignedDuration::ZERO,
            None,
            None
        ),
        None
    );
}

#[test]
fn extend_rules_and_messages() {
    let now = ts("2027-01-04T12:00:00Z");
    let current = ts("2027-01-04T16:00:00Z");
    let max = Some(ts("2027-01-04T18:00:00Z"));
    assert_eq!(
        validate_extend(now, current, max, ts("2027-01-04T17:00:00Z")),
        Ok(())
    );
    assert_eq!(
        validate_extend(now, current, max, ts("2027-01-04T18:00:00Z")),
        Ok(())
    );
    assert_eq!(
        validate_extend(now, current, None, ts("2027-01-09T18:00:00Z")),
        Ok(())
    );
    let err = validate_extend(now, current, max, ts("2027-01-04T20:00:00Z")).unwrap_err();
    assert!(matches!(err, ExtendError::AfterMax { .. }));
    assert_eq!(
        err.to_string(),
        "new deadline 2027-01-04T20:00:00Z is after the max deadline 2027-01-04T18:00:00Z \
         set by the template's autostop requirement"
    );
    assert_eq!(
        validate_extend(now, current, max, ts("2027-01-04T15:00:00Z"))
            .unwrap_err()
            .to_string(),
        "new deadline 2027-01-04T15:00:00Z is not after the current deadline 2027-01-04T16:00:00Z"
    );
    assert_eq!(
        validate_extend(now, current, max, current)
            .unwrap_err()
            .to_string(),
        "new deadline 2027-01-04T16:00:00Z is not after the current deadline 2027-01-04T16:00:00Z"
    );
    let overdue = ts("2027-01-04T10:00:00Z");
    assert_eq!(
        validate_extend(now, overdue, None, ts("2027-01-04T11:00:00Z"))
            .unwrap_err()
            .to_string(),
        "new deadline 2027-01-04T11:00:00Z is not in the future (now is 2027-01-04T12:00:00Z)"
    );
}

#[test]
fn ttl_limits_and_messages() {
    assert_eq!(validate_ttl(mins(1)), Ok(()));
    assert_eq!(validate_ttl(hours(30 * 24)), Ok(()));
    let short = validate_ttl(SignedDuration::from_secs(30)).unwrap_err();
    assert_eq!(short, TtlError::TooShort("30s".into()));
    assert_eq!(
        short.to_string(),
        "time until shutdown 30s is too short: it must be at least 1m"
    );
    assert_eq!(
        validate_ttl(SignedDuration::ZERO).unwrap_err().to_string(),
        "time until shutdown 0s is too short: it must be at least 1m"
    );
    assert_eq!(
        validate_ttl(-mins(5)).unwrap_err().to_string(),
        "time until shutdown -5m is too short: it must be at least 1m"
    );
    assert_eq!(
        validate_ttl(hours(30 * 24) + SignedDuration::from_secs(1))
            .unwrap_err()
            .to_string(),
        "time until shutdown 30d1s is too long: it must be at most 30d"
    );
}

#[test]
fn overlaps_exact_in_one_zone() {
    let o = |a: &str, b: &str| sched(a).overlaps(&sched(b));
    // Coder compares hours only and calls these overlapping; they are not.
    assert_eq!(o("0-29 9 * * *", "30-59 9 * * *"), None);
    assert_eq!(o("*/2 * * * *", "1-59/2 * * * *"), None);
    assert_eq!(o("* 8-18 * * 1-5", "* * * * 0,6"), None);
    // Shared minutes, first one from the 2024-01-01 reference (a Monday).
    assert_eq!(
        o("*/5 * * * *", "*/7 * * * *"),
        Some(ts("2024-01-01T00:00:00Z"))
    );
    assert_eq!(
        o("0 9 * * 1", "0 9 1 * *"),
        Some(ts("2024-01-01T09:00:00Z"))
    );
    assert_eq!(
        o("* 8-18 * * 1-5", "30 18 * * *"),
        Some(ts("2024-01-01T18:30:00Z"))
    );
    // Monday 29 February: 2044.
    assert_eq!(
        o("0 9 29 2 *", "0 9 * * 1"),
        Some(ts("2044-02-29T09:00:00Z"))
    );
    // In a zone: the example instant is real.
    assert_eq!(
        o(
            "CRON_TZ=Europe/Berlin * 8-18 * * 1-5",
            "CRON_TZ=Europe/Berlin 0 18-20 * * *"
        ),
        Some(ts("2024-01-01T17:00:00Z"))
    );
    // overlaps_from: the first shared instant at or after `from`.
    let a = sched("* 9 * * *");
    let b = sched("30-59 9 * * *");
    assert_eq!(
        a.overlaps_from(&b, ts("2024-06-01T09:45:10Z")),
        Some(ts("2024-06-01T09:45:10Z"))
    );
    assert_eq!(
        a.overlaps_from(&b, ts("2024-06-01T10:00:00Z")),
        Some(ts("2024-06-02T09:30:00Z"))
    );
}

#[test]
fn overlaps_see_the_second_pass_of_a_repeated_hour() {
    // America/Juneau falls back at 02:00 AKDT on 2027-11-07: 01:00-01:59
    // happens twice (09:00Z and 10:00Z). From 01:59 AKDT (09:59Z), the next
    // shared minute of these two is 01:00 AKST (10:00Z), a wall minute
    // *before* the start's; a wall-ordered scan used to miss it.
    let a = sched("CRON_TZ=America/Juneau */2 * * * *");
    let b = sched("CRON_TZ=America/Juneau 0 1-6/3 * * *");
    assert_eq!(
        a.overlaps_from(&b, ts("2027-11-07T09:59:00Z")),
        Some(ts("2027-11-07T10:00:00Z"))
    );
    // And a later wall minute's first pass comes before an earlier one's
    // second: from 09:10Z, 01:20 AKDT (09:20Z) is the answer, not 10:00Z.
    let c = sched("CRON_TZ=America/Juneau 0,20 1 * * *");
    assert_eq!(
        c.overlaps_from(
            &sched("CRON_TZ=America/Juneau * * * * *"),
            ts("2027-11-07T09:10:00Z")
        ),
        Some(ts("2027-11-07T09:20:00Z"))
    );
}

#[test]
fn overlaps_across_zones() {
    let o = |a: &str, b: &str| sched(a).overlaps(&sched(b));
    // 10:00 Berlin is 09:00 UTC in winter.
    assert_eq!(
        o("0 9 * * *", "CRON_TZ=Europe/Berlin 0 10 * * *"),
        Some(ts("2024-01-01T09:00:00Z"))
    );
    // London and Berlin change together: always an hour apart.
    assert_eq!(
        o(
            "CRON_TZ=Europe/London 0 9 * * *",
            "CRON_TZ=Europe/Berlin 0 10 * * *"
        ),
        Some(ts("2024-01-01T09:00:00Z"))
    );
    // Kolkata is +05:30: its minutes 30-59 are UTC's 0-29.
    assert_eq!(
        o("0-29 * * * *", "CRON_TZ=Asia/Kolkata 30-59 * * * *"),
        Some(ts("2024-01-01T00:00:00Z"))
    );
    // ... so its 0-29 never meet UTC's 0-29 (a 29-year search).
    assert_eq!(o("0-29 * * * *", "CRON_TZ=Asia/Kolkata 0-29 * * * *"), None);
    // 09:00 New York and 15:00 Berlin meet only when both are on summer or
    // winter time, never during the weeks the US changes earlier.
    assert_eq!(
        o(
            "CRON_TZ=America/New_York 0 9 * * *",
            "CRON_TZ=Europe/Berlin 0 15 * * *"
        ),
        Some(ts("2024-01-01T14:00:00Z"))
    );
}

#[test]
fn autostop_reminder_fires_once_per_threshold_and_rearms() {
    use dayshift_schedule::deadline::AutostopReminder;
    // Unsorted, duplicated, with a useless zero: all handled.
    let mut r = AutostopReminder::new(&[mins(5), mins(30), mins(5), SignedDuration::ZERO]);
    let deadline = ts("2024-05-08T12:00:00Z");
    let at = |m: i64| deadline - mins(m);
    assert_eq!(r.poll(at(45), Some(deadline)), None);
    assert_eq!(r.poll(at(30), Some(deadline)), Some(mins(30)));
    assert_eq!(r.poll(at(29), Some(deadline)), None);
    // Both thresholds crossed between polls: one reminder, the tighter one.
    let mut jump = AutostopReminder::new(&[mins(30), mins(5)]);
    assert_eq!(jump.poll(at(3), Some(deadline)), Some(mins(5)));
    assert_eq!(jump.poll(at(2), Some(deadline)), None);
    // Then the 5-minute one.
    assert_eq!(r.poll(at(5), Some(deadline)), Some(mins(5)));
    assert_eq!(r.poll(at(1), Some(deadline)), None);
    // Bumped by an hour: re-armed.
    let bumped = deadline + hours(1);
    assert_eq!(r.poll(at(1), Some(bumped)), None);
    assert_eq!(r.poll(bumped - mins(30), Some(bumped)), Some(mins(30)));
    // Manual shutdown: never.
    assert_eq!(r.poll(at(1), None), None);
}

#[test]
fn next_allowed_autostart_skips_disallowed_days_quickly() {
    let every_minute = sched("CRON_TZ=America/Santiago * * * * *");
    let sundays = Weekdays::parse_list("sun").unwrap();
    // Monday 2024-09-02 -> Sunday 2024-09-08, whose midnight is skipped
    // (the first instant of that day is 01:00 -03 = 04:00Z).
    assert_eq!(
        next_allowed_autostart(&every_minute, ts("2024-09-02T12:00:00Z"), sundays),
        Some(ts("2024-09-08T04:00:00Z"))
    );
}
