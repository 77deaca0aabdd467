//! Parsing, normalisation, humanising and `next_after` basics (DESIGN §4).

use dayshift_schedule::{CronError, Schedule, Timestamp};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn normalises() {
    let cases = [
        ("30 9 * * MON-FRI", "CRON_TZ=UTC 30 9 * * 1-5"),
        ("30 9 * * 1-5", "CRON_TZ=UTC 30 9 * * 1-5"),
        ("  30   9 *\t* mon-fri ", "CRON_TZ=UTC 30 9 * * 1-5"),
        (
            "CRON_TZ=US/Central 30 9 * * 1-5",
            "CRON_TZ=US/Central 30 9 * * 1-5",
        ),
        (
            "CRON_TZ=Europe/Berlin */5 8-18 * * 1-5",
            "CRON_TZ=Europe/Berlin */5 8-18 * * 1-5",
        ),
        ("*/1 * * * *", "CRON_TZ=UTC * * * * *"),
        ("0 0 1 jan,Jul *", "CRON_TZ=UTC 0 0 1 1,7 *"),
        ("10,20,40-50 * * * *", "CRON_TZ=UTC 10,20,40-50 * * * *"),
        ("5/15 * * * sun", "CRON_TZ=UTC 5/15 * * * 0"),
        ("0 0 * * SAT-SUN", "CRON_TZ=UTC 0 0 * * 6-6,0"),
    ];
    for (input, want) in cases.iter().take(9) {
        let s = Schedule::parse(input).unwrap();
        assert_eq!(s.to_string(), *want, "{input}");
        // Normalised text parses back to the same schedule.
        assert_eq!(Schedule::parse(&s.to_string()).unwrap(), s, "{input}");
        assert_eq!(input.parse::<Schedule>().unwrap(), s);
    }
    // SAT-SUN is a reversed range (6 > 0): refused, not wrapped.
    assert!(Schedule::parse(cases[9].0).is_err());
}

#[test]
fn zone_accessors() {
    let s = Schedule::parse("CRON_TZ=Asia/Kathmandu 0 9 * * *").unwrap();
    assert_eq!(s.zone_name(), "Asia/Kathmandu");
    assert_eq!(s.time_zone().iana_name(), Some("Asia/Kathmandu"));
    assert_eq!(Schedule::parse("0 9 * * *").unwrap().zone_name(), "UTC");
    let p = Schedule::parse_in_zone("0 9 * * *", "Europe/Berlin").unwrap();
    assert_eq!(p.to_string(), "CRON_TZ=Europe/Berlin 0 9 * * *");
}

#[test]
fn humanizes_like_coder() {
    let cases = [
        ("30 9 * * 1-5", "9:30AM Mon-Fri (UTC)"),
        (
            "CRON_TZ=US/Central 30 9 * * 1-5",
            "9:30AM Mon-Fri (US/Central)",
        ),
        ("0 13 * * *", "1:00PM daily (UTC)"),
        ("0 0 * * 1,3,6", "12:00AM Mon,Wed,Sat (UTC)"),
        ("5 12 * * 0", "12:05PM Sun (UTC)"),
        (
            "CRON_TZ=US/Central */5 12-18 * * 1,3,6",
            "cron(*/5 12-18) Mon,Wed,Sat (US/Central)",
        ),
        ("0 9 * * */2", "9:00AM */2 (UTC)"),
        ("0 9 1 1 *", "9:00AM cron(1 1 *) (UTC)"),
    ];
    for (input, want) in cases {
        assert_eq!(Schedule::parse(input).unwrap().humanize(), want, "{input}");
    }
}

static LONG_SCHEDULE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("0 {}1 * * *", "1,".repeat(4998)));

/// Zone names are matched without regard to case and stored as the
/// database spells them.
#[test]
fn zones_are_canonical() {
    for (input, want) in [
        (
            "CRON_TZ=europe/berlin 30 9 * * 1-5",
            "CRON_TZ=Europe/Berlin 30 9 * * 1-5",
        ),
        (
            "CRON_TZ=AMERICA/NEW_YORK 0 9 * * *",
            "CRON_TZ=America/New_York 0 9 * * *",
        ),
        ("CRON_TZ=utc 0 9 * * *", "CRON_TZ=UTC 0 9 * * *"),
        ("0 1,1,1,2 * * *", "CRON_TZ=UTC 0 1,2 * * *"),
    ] {
        assert_eq!(Schedule::parse(input).unwrap().to_string(), want, "{input}");
    }
}

/// Zones resolve from the copy of the database compiled into the binary,
/// so a host without `/usr/share/zoneinfo` (or with another version of it)
/// resolves them identically.
#[test]
fn zones_come_from_the_bundled_database() {
    let bundled = jiff::tz::TimeZoneDatabase::bundled();
    assert!(
        bundled.get("Europe/Berlin").is_ok(),
        "the binary carries its own tz database"
    );
    // A host without a database (an empty zoneinfo directory, as on a
    // bare container) has none to read from at all.
    let empty = tempfile_dir();
    assert!(jiff::tz::TimeZoneDatabase::from_dir(&empty)
        .map_or(true, |db| db.get("Europe/Berlin").is_err()));
    // Ours still resolves it, identically to the bundled copy.
    let berlin = Schedule::parse("CRON_TZ=Europe/Berlin 30 2 * * *").unwrap();
    assert_eq!(berlin.time_zone(), &bundled.get("Europe/Berlin").unwrap());
    assert!(std::ptr::eq(
        dayshift_schedule::zone_database(),
        dayshift_schedule::zone_database()
    ));
    let _ = std::fs::remove_dir(&empty);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dayshift-empty-tzdir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every documented error message, verbatim.
#[test]
fn error_messages() {
    let fields = "expected 5 fields (minute hour day-of-month month day-of-week) with an optional CRON_TZ=<zone> prefix";
    let cases: Vec<(&str, String)> = vec![
        ("60 * * * *", r#"invalid minute "60": must be 0-59"#.into()),
        ("0 25 * * *", r#"invalid hour "25": must be 0-23"#.into()),
        ("0 0 0 * *", r#"invalid day-of-month "0": must be 1-31"#.into()),
        ("0 0 * 13 *", r#"invalid month "13": must be 1-12"#.into()),
        ("* 9-18 * * 7", r#"invalid day-of-week "7": must be 0-6 (0 = Sunday; 7 is not accepted)"#.into()),
        ("0 9 * * MON-FRY", r#"invalid day-of-week "MON-FRY": unknown day name "FRY""#.into()),
        ("0 9 * FOO *", r#"invalid month "FOO": unknown month name "FOO""#.into()),
        ("x 9 * * *", r#"invalid minute "x": "x" is not a number"#.into()),
        ("1,,2 9 * * *", r#"invalid minute "1,,2": empty list item"#.into()),
        ("*/0 9 * * *", r#"invalid minute "*/0": step must be at least 1"#.into()),
        ("*/x 9 * * *", r#"invalid minute "*/x": step "x" is not a number"#.into()),
        ("0 18-9 * * *", r#"invalid hour "18-9": range start 18 is after range end 9"#.into()),
        ("0 -9 * * *", r#"invalid hour "-9": missing number"#.into()),
        ("0 99999999999 * * *", r#"invalid hour "99999999999": must be 0-23"#.into()),
        ("asdfasdfasdfsd", format!("{fields}, got 1 in \"asdfasdfasdfsd\"")),
        ("30 9 1-5", format!("{fields}, got 3 in \"30 9 1-5\"")),
        ("0 30 9 * * 1-5", format!("{fields}, got 6 in \"0 30 9 * * 1-5\"")),
        ("", format!("{fields}, got 0 in \"\"")),
        ("@daily", format!("{fields}, got 1 in \"@daily\"")),
        ("CRON_TZ=Fictional/Country 30 9 * * 1-5", r#"unknown time zone "Fictional/Country""#.into()),
        ("CRON_TZ= 30 9 * * 1-5", r#"unknown time zone """#.into()),
        ("CRON_TZ=Local 30 9 * * 1-5", r#"CRON_TZ=Local is not supported: the server's local zone is not a stable meaning; name an IANA zone such as "Europe/Berlin" or "UTC""#.into()),
        ("CRON_TZ=localtime 30 9 * * 1-5", r#"CRON_TZ=localtime is not supported: the server's local zone is not a stable meaning; name an IANA zone such as "Europe/Berlin" or "UTC""#.into()),
        ("CRON_TZ=POSIXRULES 30 9 * * 1-5", r#"CRON_TZ=posixrules is not supported: the server's local zone is not a stable meaning; name an IANA zone such as "Europe/Berlin" or "UTC""#.into()),
        ("CRON_TZ=Factory 30 9 * * 1-5", r#"CRON_TZ=Factory is not supported: the server's local zone is not a stable meaning; name an IANA zone such as "Europe/Berlin" or "UTC""#.into()),
        // Numbers that overflow a field are refused naming the value.
        ("*/99999999999999999999 9 * * *", r#"invalid minute "*/99999999999999999999": step "99999999999999999999" must be 1-60"#.into()),
        ("0 */25 * * *", r#"invalid hour "*/25": step "25" must be 1-24"#.into()),
        ("0 1-99999999999999999999 * * *", r#"invalid hour "1-99999999999999999999": "99999999999999999999" must be 0-23"#.into()),
        ("0 9,30 * * *", r#"invalid hour "9,30": "30" must be 0-23"#.into()),
        (&LONG_SCHEDULE, "schedule is 10005 bytes long; the limit is 256".into()),
    ];
    for (input, want) in cases {
        assert_eq!(
            Schedule::parse(input).unwrap_err().to_string(),
            want,
            "{input}"
        );
    }
}

#[test]
fn weekly_and_daily_rules() {
    let weekly = [
        (
            "30 9 1 1 1-5",
            r#"autostart schedules must have "*" in day-of-month and month, got "1 1""#,
        ),
        (
            "CRON_TZ=Europe/Dublin 30 9 1 1 1-5",
            r#"autostart schedules must have "*" in day-of-month and month, got "1 1""#,
        ),
        (
            "30 9 * JAN *",
            r#"autostart schedules must have "*" in day-of-month and month, got "* 1""#,
        ),
    ];
    for (input, want) in weekly {
        assert_eq!(Schedule::parse_weekly(input).unwrap_err().to_string(), want);
    }
    for ok in [
        "30 9 * * 1-5",
        "CRON_TZ=US/Central 30 9 * * 1-5",
        "CRON_TZ=US/Central */5 12-18 * * 1,3,6",
        "CRON_TZ=US/Central 10,20,40-50 * * * *",
    ] {
        assert!(Schedule::parse_weekly(ok).unwrap().is_weekly(), "{ok}");
    }
    assert_eq!(
        Schedule::parse_daily("0 0 * * 1").unwrap_err().to_string(),
        r#"quiet hours schedules must have "*" in day-of-month, month and day-of-week, got "* * 1""#
    );
    assert!(Schedule::parse_daily("CRON_TZ=Europe/Berlin 0 22 * * *").is_ok());
    assert_eq!(
        Schedule::parse_in_zone("CRON_TZ=UTC 0 9 * * *", "UTC").unwrap_err(),
        CronError::ZoneTwice {
            cron: "CRON_TZ=UTC 0 9 * * *".into()
        }
    );
    assert_eq!(
        Schedule::parse_in_zone("CRON_TZ=UTC 0 9 * * *", "UTC")
            .unwrap_err()
            .to_string(),
        r#"the cron "CRON_TZ=UTC 0 9 * * *" has a CRON_TZ= prefix but the time zone is given separately"#
    );
    assert_eq!(
        Schedule::parse_in_zone("0 9 * * *", "Nowhere/Land")
            .unwrap_err()
            .to_string(),
        r#"unknown time zone "Nowhere/Land""#
    );
}

#[test]
fn next_after_examples() {
    let cases = [
        // Coder's cron_test.go examples.
        (
            "CRON_TZ=US/Central 30 9 * * 1-5",
            "2022-04-01T14:29:00Z",
            "2022-04-01T14:30:00Z",
        ),
        (
            "CRON_TZ=US/Central */5 12-18 * * 1,3,6",
            "2022-04-01T14:29:00Z",
            "2022-04-02T17:00:00Z",
        ),
        // Strictly after: an instant on a match moves on.
        ("30 9 * * *", "2024-05-01T09:30:00Z", "2024-05-02T09:30:00Z"),
        (
            "30 9 * * *",
            "2024-05-01T09:29:59.999Z",
            "2024-05-01T09:30:00Z",
        ),
        (
            "* * * * *",
            "2024-05-01T09:30:00.5Z",
            "2024-05-01T09:31:00Z",
        ),
        // Month and year rollovers.
        ("0 0 1 * *", "2024-12-31T23:59:00Z", "2025-01-01T00:00:00Z"),
        ("0 0 29 2 *", "2024-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
        ("0 0 29 2 *", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"),
        // Both day fields restricted: either matches (1st of month or Monday).
        ("0 12 1 * 1", "2024-05-28T00:00:00Z", "2024-06-01T12:00:00Z"),
        ("0 12 1 * 1", "2024-06-01T12:00:00Z", "2024-06-03T12:00:00Z"),
        // One of them `*`: the other alone decides.
        ("0 12 * * 1", "2024-05-28T00:00:00Z", "2024-06-03T12:00:00Z"),
        (
            "0 12 13 * 5",
            "2024-09-01T00:00:00Z",
            "2024-09-06T12:00:00Z",
        ),
        (
            "0 12 */2 * *",
            "2024-05-31T12:00:00Z",
            "2024-06-01T12:00:00Z",
        ),
    ];
    for (cron, from, want) in cases {
        let s = Schedule::parse(cron).unwrap();
        assert_eq!(
            s.next_after(ts(from)),
            Some(ts(want)),
            "{cron} after {from}"
        );
    }
}

#[test]
fn impossible_dates_never_fire() {
    for cron in ["0 0 30 2 *", "0 0 31 4,6,9,11 *"] {
        let s = Schedule::parse(cron).unwrap();
        assert_eq!(s.next_after(ts("2024-01-01T00:00:00Z")), None, "{cron}");
        assert_eq!(s.next_change(ts("2024-01-01T00:00:00Z")), None, "{cron}");
        assert!(s.ranges(ts("2024-01-01T00:00:00Z"), 3).is_empty());
    }
}

#[test]
fn upcoming_iterates() {
    let s = Schedule::parse("0 9 * * 1-5").unwrap();
    let got: Vec<String> = s
        .upcoming(ts("2024-05-03T10:00:00Z"))
        .take(3)
        .map(|t| t.to_string())
        .collect();
    assert_eq!(
        got,
        [
            "2024-05-06T09:00:00Z",
            "2024-05-07T09:00:00Z",
            "2024-05-08T09:00:00Z"
        ]
    );
}

#[test]
fn extreme_instants_do_not_panic() {
    let s = Schedule::parse("CRON_TZ=Europe/Berlin 0 9 * * 1-5").unwrap();
    for t in [Timestamp::MIN, Timestamp::MAX] {
        let _ = s.next_after(t);
        let _ = s.contains(t);
        let _ = s.next_change(t);
        let _ = s.ranges(t, 2);
    }
}
