//! Table tests for every kind of DST transition (DESIGN §4): points fire at
//! the end of a gap and once in a fold; ranges follow wall time.

use dayshift_schedule::{Schedule, Timestamp};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn sched(s: &str) -> Schedule {
    Schedule::parse(s).unwrap()
}

/// (cron, from, the next three firings)
const POINTS: &[(&str, &str, [&str; 3])] = &[
    // Europe/Berlin spring forward 2024-03-31 02:00 CET -> 03:00 CEST (01:00Z):
    // 02:30 does not exist and fires at 03:00 CEST.
    (
        "CRON_TZ=Europe/Berlin 30 2 * * *",
        "2024-03-30T00:00:00Z",
        [
            "2024-03-30T01:30:00Z",
            "2024-03-31T01:00:00Z",
            "2024-04-01T00:30:00Z",
        ],
    ),
    // Every skipped minute maps to the same instant: it fires once.
    (
        "CRON_TZ=Europe/Berlin */15 2 * * *",
        "2024-03-31T00:50:00Z",
        [
            "2024-03-31T01:00:00Z",
            "2024-04-01T00:00:00Z",
            "2024-04-01T00:15:00Z",
        ],
    ),
    // A time that exists anyway, and one whose minute is the gap's end.
    (
        "CRON_TZ=Europe/Berlin 0 3 * * *",
        "2024-03-30T12:00:00Z",
        [
            "2024-03-31T01:00:00Z",
            "2024-04-01T01:00:00Z",
            "2024-04-02T01:00:00Z",
        ],
    ),
    (
        "CRON_TZ=Europe/Berlin 30 1 * * *",
        "2024-03-30T12:00:00Z",
        [
            "2024-03-31T00:30:00Z",
            "2024-03-31T23:30:00Z",
            "2024-04-01T23:30:00Z",
        ],
    ),
    // Europe/Berlin fall back 2024-10-27 03:00 CEST -> 02:00 CET (01:00Z):
    // 02:30 happens twice and fires at the first occurrence only.
    (
        "CRON_TZ=Europe/Berlin 30 2 * * *",
        "2024-10-26T12:00:00Z",
        [
            "2024-10-27T00:30:00Z",
            "2024-10-28T01:30:00Z",
            "2024-10-29T01:30:00Z",
        ],
    ),
    // Starting inside the second occurrence does not fire the repeat.
    (
        "CRON_TZ=Europe/Berlin 30 2 * * *",
        "2024-10-27T01:10:00Z",
        [
            "2024-10-28T01:30:00Z",
            "2024-10-29T01:30:00Z",
            "2024-10-30T01:30:00Z",
        ],
    ),
    (
        "CRON_TZ=Europe/Berlin */20 2 * * *",
        "2024-10-27T00:00:00Z",
        [
            "2024-10-27T00:20:00Z",
            "2024-10-27T00:40:00Z",
            "2024-10-28T01:00:00Z",
        ],
    ),
    // Every minute through the fold: after 02:59 CEST comes 03:00 CET.
    (
        "CRON_TZ=Europe/Berlin * * * * *",
        "2024-10-27T00:58:30Z",
        [
            "2024-10-27T00:59:00Z",
            "2024-10-27T02:00:00Z",
            "2024-10-27T02:01:00Z",
        ],
    ),
    // America/New_York 2024-03-10 02:00 EST -> 03:00 EDT (07:00Z).
    (
        "CRON_TZ=America/New_York 30 2 * * *",
        "2024-03-09T12:00:00Z",
        [
            "2024-03-10T07:00:00Z",
            "2024-03-11T06:30:00Z",
            "2024-03-12T06:30:00Z",
        ],
    ),
    // America/New_York 2024-11-03 02:00 EDT -> 01:00 EST (06:00Z).
    (
        "CRON_TZ=America/New_York 30 1 * * *",
        "2024-11-02T12:00:00Z",
        [
            "2024-11-03T05:30:00Z",
            "2024-11-04T06:30:00Z",
            "2024-11-05T06:30:00Z",
        ],
    ),
    // Weekday schedules keep their local time across the change.
    (
        "CRON_TZ=America/New_York 0 9 * * 1-5",
        "2024-03-08T15:00:00Z",
        [
            "2024-03-11T13:00:00Z",
            "2024-03-12T13:00:00Z",
            "2024-03-13T13:00:00Z",
        ],
    ),
    // Australia/Lord_Howe shifts by 30 minutes. 2024-10-06 02:00 -> 02:30
    // (+10:30 -> +11, 15:30Z): 02:15 fires at 02:30.
    (
        "CRON_TZ=Australia/Lord_Howe 15 2 * * *",
        "2024-10-05T12:00:00Z",
        [
            "2024-10-05T15:30:00Z",
            "2024-10-06T15:15:00Z",
            "2024-10-07T15:15:00Z",
        ],
    ),
    // 2024-04-07 02:00 -> 01:30 (+11 -> +10:30, 15:00Z): 01:45 repeats.
    (
        "CRON_TZ=Australia/Lord_Howe 45 1 * * *",
        "2024-04-06T12:00:00Z",
        [
            "2024-04-06T14:45:00Z",
            "2024-04-07T15:15:00Z",
            "2024-04-08T15:15:00Z",
        ],
    ),
    // Southern hemisphere: Australia/Sydney springs forward in October
    // (2024-10-06 02:00 AEST -> 03:00 AEDT, 16:00Z) and falls back in April.
    (
        "CRON_TZ=Australia/Sydney 30 2 * * 0",
        "2024-10-01T00:00:00Z",
        [
            "2024-10-05T16:00:00Z",
            "2024-10-12T15:30:00Z",
            "2024-10-19T15:30:00Z",
        ],
    ),
    (
        "CRON_TZ=Australia/Sydney 30 2 * * *",
        "2024-04-06T12:00:00Z",
        [
            "2024-04-06T15:30:00Z",
            "2024-04-07T16:30:00Z",
            "2024-04-08T16:30:00Z",
        ],
    ),
    // America/Santiago changes at midnight: on 2024-09-08 00:00 does not
    // exist (-04 -> -03 at 04:00Z), so midnight fires at 01:00 -03.
    (
        "CRON_TZ=America/Santiago 0 0 * * *",
        "2024-09-07T00:00:00Z",
        [
            "2024-09-07T04:00:00Z",
            "2024-09-08T04:00:00Z",
            "2024-09-09T03:00:00Z",
        ],
    ),
    // No DST: Asia/Tokyo, UTC, and Asia/Kathmandu's +05:45.
    (
        "CRON_TZ=Asia/Tokyo 30 9 * * *",
        "2024-03-31T00:00:00Z",
        [
            "2024-03-31T00:30:00Z",
            "2024-04-01T00:30:00Z",
            "2024-04-02T00:30:00Z",
        ],
    ),
    (
        "CRON_TZ=UTC 30 2 * * *",
        "2024-03-31T00:00:00Z",
        [
            "2024-03-31T02:30:00Z",
            "2024-04-01T02:30:00Z",
            "2024-04-02T02:30:00Z",
        ],
    ),
    (
        "CRON_TZ=Asia/Kathmandu 0 * * * *",
        "2024-01-01T03:00:00Z",
        [
            "2024-01-01T03:15:00Z",
            "2024-01-01T04:15:00Z",
            "2024-01-01T05:15:00Z",
        ],
    ),
    (
        "CRON_TZ=Asia/Kathmandu 0 9 * * 1",
        "2024-01-01T00:00:00Z",
        [
            "2024-01-01T03:15:00Z",
            "2024-01-08T03:15:00Z",
            "2024-01-15T03:15:00Z",
        ],
    ),
];

#[test]
fn points_across_transitions() {
    for (cron, from, want) in POINTS {
        let got: Vec<String> = sched(cron)
            .upcoming(ts(from))
            .take(3)
            .map(|t| t.to_string())
            .collect();
        assert_eq!(got, want, "{cron} from {from}");
    }
}

/// (cron, from, the first three maximal ranges as (start, end))
type RangeCase = (
    &'static str,
    &'static str,
    [(&'static str, &'static str); 3],
);

const RANGES: &[RangeCase] = &[
    // DESIGN §3: `* 8-18 * * 1-5` is exactly [08:00, 19:00) local, Mon-Fri.
    (
        "CRON_TZ=Europe/Berlin * 8-18 * * 1-5",
        "2024-06-06T12:00:00Z",
        [
            ("2024-06-06T06:00:00Z", "2024-06-06T17:00:00Z"),
            ("2024-06-07T06:00:00Z", "2024-06-07T17:00:00Z"),
            ("2024-06-10T06:00:00Z", "2024-06-10T17:00:00Z"),
        ],
    ),
    // A range across the skipped hour is one hour shorter that day.
    (
        "CRON_TZ=Europe/Berlin * 1-3 * * *",
        "2024-03-30T12:00:00Z",
        [
            ("2024-03-31T00:00:00Z", "2024-03-31T02:00:00Z"),
            ("2024-03-31T23:00:00Z", "2024-04-01T02:00:00Z"),
            ("2024-04-01T23:00:00Z", "2024-04-02T02:00:00Z"),
        ],
    ),
    // The repeated hour: 02:00-02:59 twice, one continuous two-hour range.
    (
        "CRON_TZ=Europe/Berlin * 2 * * *",
        "2024-10-26T12:00:00Z",
        [
            ("2024-10-27T00:00:00Z", "2024-10-27T02:00:00Z"),
            ("2024-10-28T01:00:00Z", "2024-10-28T02:00:00Z"),
            ("2024-10-29T01:00:00Z", "2024-10-29T02:00:00Z"),
        ],
    ),
    // Half of the repeated hour: two separate ranges the same night.
    (
        "CRON_TZ=Europe/Berlin 0-29 2 * * *",
        "2024-10-26T12:00:00Z",
        [
            ("2024-10-27T00:00:00Z", "2024-10-27T00:30:00Z"),
            ("2024-10-27T01:00:00Z", "2024-10-27T01:30:00Z"),
            ("2024-10-28T01:00:00Z", "2024-10-28T01:30:00Z"),
        ],
    ),
    // America/New_York: 01:xx twice on 2024-11-03.
    (
        "CRON_TZ=America/New_York * 1 * * *",
        "2024-11-02T12:00:00Z",
        [
            ("2024-11-03T05:00:00Z", "2024-11-03T07:00:00Z"),
            ("2024-11-04T06:00:00Z", "2024-11-04T07:00:00Z"),
            ("2024-11-05T06:00:00Z", "2024-11-05T07:00:00Z"),
        ],
    ),
    // Lord Howe: only half of 02:xx exists on 2024-10-06.
    (
        "CRON_TZ=Australia/Lord_Howe * 2 * * *",
        "2024-10-05T00:00:00Z",
        [
            ("2024-10-05T15:30:00Z", "2024-10-05T16:00:00Z"),
            ("2024-10-06T15:00:00Z", "2024-10-06T16:00:00Z"),
            ("2024-10-07T15:00:00Z", "2024-10-07T16:00:00Z"),
        ],
    ),
    // Lord Howe fall back: 01:30-01:59 twice -> 01:xx lasts 90 minutes.
    (
        "CRON_TZ=Australia/Lord_Howe * 1 * * *",
        "2024-04-06T00:00:00Z",
        [
            ("2024-04-06T14:00:00Z", "2024-04-06T15:30:00Z"),
            ("2024-04-07T14:30:00Z", "2024-04-07T15:30:00Z"),
            ("2024-04-08T14:30:00Z", "2024-04-08T15:30:00Z"),
        ],
    ),
    // Kathmandu +05:45, no DST.
    (
        "CRON_TZ=Asia/Kathmandu * 9-17 * * *",
        "2024-01-01T00:00:00Z",
        [
            ("2024-01-01T03:15:00Z", "2024-01-01T12:15:00Z"),
            ("2024-01-02T03:15:00Z", "2024-01-02T12:15:00Z"),
            ("2024-01-03T03:15:00Z", "2024-01-03T12:15:00Z"),
        ],
    ),
    // Santiago: the midnight hour is skipped on 2024-09-08.
    (
        "CRON_TZ=America/Santiago * 0 * * *",
        "2024-09-07T00:00:00Z",
        [
            ("2024-09-07T04:00:00Z", "2024-09-07T05:00:00Z"),
            ("2024-09-09T03:00:00Z", "2024-09-09T04:00:00Z"),
            ("2024-09-10T03:00:00Z", "2024-09-10T04:00:00Z"),
        ],
    ),
];

#[test]
fn ranges_follow_wall_time() {
    for (cron, from, want) in RANGES {
        let got = sched(cron).ranges(ts(from), 3);
        let got: Vec<(String, String)> = got
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want, "{cron} from {from}");
    }
}

#[test]
fn skipped_hour_has_no_range() {
    let s = sched("CRON_TZ=Europe/Berlin * 2 * * *");
    let got = s.ranges(ts("2024-03-30T12:00:00Z"), 2);
    assert_eq!(
        got,
        vec![
            (ts("2024-04-01T00:00:00Z"), ts("2024-04-01T01:00:00Z")),
            (ts("2024-04-02T00:00:00Z"), ts("2024-04-02T01:00:00Z")),
        ]
    );
    assert!(!s.contains(ts("2024-03-31T01:00:00Z")));
    assert!(!s.contains(ts("2024-03-31T00:59:59Z")));
}

#[test]
fn business_hours_are_exact() {
    let s = sched("CRON_TZ=Europe/Berlin * 8-18 * * 1-5");
    // Monday 2024-06-03, CEST (+02).
    assert!(!s.contains(ts("2024-06-03T05:59:59.999999999Z")));
    assert!(s.contains(ts("2024-06-03T06:00:00Z")));
    assert!(s.contains(ts("2024-06-03T16:59:59.999999999Z")));
    assert!(!s.contains(ts("2024-06-03T17:00:00Z")));
    assert_eq!(
        s.next_change(ts("2024-06-03T05:00:00Z")),
        Some(ts("2024-06-03T06:00:00Z"))
    );
    assert_eq!(
        s.next_change(ts("2024-06-03T06:00:00Z")),
        Some(ts("2024-06-03T17:00:00Z"))
    );
    // Friday evening -> Monday morning.
    assert_eq!(
        s.next_change(ts("2024-06-07T17:00:00Z")),
        Some(ts("2024-06-10T06:00:00Z"))
    );
    // A range that started before `from` is reported whole.
    assert_eq!(
        s.ranges(ts("2024-06-03T12:34:56Z"), 1),
        vec![(ts("2024-06-03T06:00:00Z"), ts("2024-06-03T17:00:00Z"))]
    );
}

#[test]
fn next_change_at_a_transition() {
    // 02:45 CEST is outside 0-29; the wall jumps back to 02:00 at 01:00Z.
    let s = sched("CRON_TZ=Europe/Berlin 0-29 2 * * *");
    assert!(!s.contains(ts("2024-10-27T00:45:00Z")));
    assert_eq!(
        s.next_change(ts("2024-10-27T00:45:00Z")),
        Some(ts("2024-10-27T01:00:00Z"))
    );
    assert!(s.contains(ts("2024-10-27T01:00:00Z")));
    // Kathmandu minute boundaries are UTC quarter hours.
    let k = sched("CRON_TZ=Asia/Kathmandu 0 9 * * *");
    assert!(!k.contains(ts("2024-01-01T03:14:59Z")));
    assert!(k.contains(ts("2024-01-01T03:15:00Z")));
    assert_eq!(
        k.next_change(ts("2024-01-01T03:15:00Z")),
        Some(ts("2024-01-01T03:16:00Z"))
    );
}

#[test]
fn always_and_never() {
    let all = sched("CRON_TZ=Europe/Berlin * * * * *");
    assert!(all.contains(ts("2024-10-27T01:30:00Z")));
    assert_eq!(all.next_change(ts("2024-10-27T01:30:00Z")), None);
    assert_eq!(
        all.ranges(ts("2024-01-01T00:00:00Z"), 3),
        vec![(Timestamp::MIN, Timestamp::MAX)]
    );
    // Only ever in the skipped hour: last Sunday of March at 02:30 in Berlin.
    let gap_only = sched("CRON_TZ=Europe/Berlin 30 2 25-31 3 *");
    let sundays = sched("CRON_TZ=Europe/Berlin 30 2 * 3 0");
    assert_eq!(gap_only.overlaps(&sundays), None);
}
