//! Human formatting and parsing of durations, relative times, schedules and
//! day lists, on top of `dayshift_schedule`.

use anyhow::{anyhow, bail, Result};
use dayshift_schedule::Schedule;
use dayshift_sdk::{Workspace, WorkspaceStatus};
use jiff::{SignedDuration, Timestamp};

/// Rounds to the nearest whole minute, away from zero at the half; spans
/// under 30 seconds are kept as they are (they display as `<1m` / `now`).
/// Relative times are measured between two clock readings taken a few
/// milliseconds apart, so "in 1h59m59.98s" must read "in 2h".
pub fn round_to_minute(d: SignedDuration) -> SignedDuration {
    let ms = d.as_millis();
    if ms.abs() < 30_000 {
        return d;
    }
    let minutes = (ms.abs() + 30_000) / 60_000;
    let rounded = minutes * 60_000 * ms.signum();
    SignedDuration::from_millis(i64::try_from(rounded).unwrap_or(if ms < 0 {
        i64::MIN
    } else {
        i64::MAX
    }))
}

/// Compact duration: `1h30m`, `2d`, `<1m`.
pub fn duration(d: SignedDuration) -> String {
    dayshift_schedule::format_duration(d)
}

pub fn duration_ms(ms: i64) -> String {
    duration(SignedDuration::from_millis(ms))
}

/// A policy duration where zero means "off".
pub fn duration_ms_or_off(ms: i64) -> String {
    if ms == 0 {
        "-".to_string()
    } else {
        duration_ms(ms)
    }
}

/// `at` relative to `now` (both from the server's clock): `in 10m`, `5m ago`.
pub fn relative(at: Timestamp, now: Timestamp) -> String {
    dayshift_schedule::format_relative(round_to_minute(at.duration_since(now)))
}

/// The `TTL` column of `dayshift list`: the workspace's TTL, and for a
/// running workspace whose deadline lies beyond `completed_at + ttl`, the
/// extension: `15m (+5m)`.
pub fn ttl_column(ws: &Workspace) -> String {
    let Some(ttl_ms) = ws.ttl_ms else {
        return String::new();
    };
    let ttl = SignedDuration::from_millis(ttl_ms);
    let mut text = duration(ttl);
    let build = &ws.latest_build;
    if ws.status == WorkspaceStatus::Running {
        if let (Some(deadline), Some(completed)) = (build.deadline, build.completed_at) {
            if let Ok(base) = completed.checked_add(ttl) {
                let extension = deadline.duration_since(base);
                if extension >= SignedDuration::from_secs(1) {
                    text.push_str(&format!(" (+{})", duration(round_to_minute(extension))));
                }
            }
        }
    }
    text
}

/// `9:30AM Mon-Fri (Europe/Berlin)` for a stored schedule; the raw text if
/// it does not parse (an older or newer server's dialect).
pub fn humanize_schedule(schedule: &str) -> String {
    match Schedule::parse(schedule) {
        Ok(s) => s.humanize(),
        Err(_) => schedule.to_string(),
    }
}

/// Parses a duration typed by a user; it must be positive.
pub fn parse_positive_duration(input: &str) -> Result<SignedDuration> {
    // The parser's errors name the value.
    let d = dayshift_schedule::parse_duration(input.trim()).map_err(|e| anyhow!("{e}"))?;
    if d.is_negative() || d.is_zero() {
        bail!("invalid duration {input:?}: must be positive");
    }
    Ok(d)
}

/// Parses a duration where `0` (or `off`) turns a policy off.
pub fn parse_policy_duration(input: &str) -> Result<i64> {
    let trimmed = input.trim();
    if trimmed == "0" || trimmed.eq_ignore_ascii_case("off") {
        return Ok(0);
    }
    let d = dayshift_schedule::parse_duration(trimmed).map_err(|e| anyhow!("{e}"))?;
    if d.is_negative() {
        bail!("invalid duration {input:?}: must not be negative");
    }
    to_millis(d)
}

pub fn to_millis(d: SignedDuration) -> Result<i64> {
    i64::try_from(d.as_millis()).map_err(|_| anyhow!("duration {} is too large", duration(d)))
}

const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Parses a day list: `monday,tuesday`, `mon,tue` or `none`, into lowercase
/// full day names in week order (Monday first), without duplicates.
pub fn parse_days(input: &str) -> Result<Vec<String>> {
    let trimmed = input.trim();
    if trimmed.eq_ignore_ascii_case("none") || trimmed.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen = [false; 7];
    for part in trimmed.split(',') {
        let word = part.trim().to_ascii_lowercase();
        let index = DAYS
            .iter()
            .position(|d| *d == word || (word.len() == 3 && d.starts_with(&word)))
            .ok_or_else(|| {
                anyhow!("invalid day {:?} in {input:?}: expected day names like monday,tuesday or mon,tue, or none", part.trim())
            })?;
        seen[index] = true;
    }
    Ok(DAYS
        .iter()
        .zip(seen)
        .filter(|(_, on)| *on)
        .map(|(d, _)| d.to_string())
        .collect())
}

/// `Mon,Sat` for a list of lowercase day names; `-` when empty.
pub fn days_short(days: &[String]) -> String {
    if days.is_empty() {
        return "-".to_string();
    }
    if days.len() == 7 {
        return "all".to_string();
    }
    days.iter()
        .map(|d| {
            let mut short: String = d.chars().take(3).collect();
            if let Some(first) = short.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            short
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The zone human schedules without a zone are read in: `TZ` if it names
/// a known zone, else UTC.
pub fn default_zone() -> String {
    zone_from_tz_var(std::env::var("TZ").ok().as_deref())
}

pub fn zone_from_tz_var(tz: Option<&str>) -> String {
    tz.map(|t| t.trim().trim_start_matches(':'))
        .and_then(|t| dayshift_schedule::load_zone(t).ok())
        .map_or_else(|| "UTC".to_string(), |(name, _)| name)
}

/// Parses an autostart schedule as typed by a user: `manual` (no
/// schedule), Coder-style `9:30AM Mon-Fri Europe/Berlin` (zone-less input
/// read in `default_zone`), or a weekly cron expression, optionally
/// prefixed by `CRON_TZ=`.
pub fn parse_autostart(input: &str, default_zone: &str) -> Result<Option<Schedule>> {
    let input = input.trim();
    // The parser's errors name the field and the value.
    dayshift_schedule::parse_human_schedule(input, default_zone).map_err(|e| anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use dayshift_sdk::{BuildReason, JobStatus, Transition, WorkspaceBuild};

    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn workspace(
        status: WorkspaceStatus,
        ttl: Option<&str>,
        completed: Option<&str>,
        deadline: Option<&str>,
    ) -> Workspace {
        Workspace {
            id: "w1".into(),
            name: "dev".into(),
            owner_id: "u1".into(),
            owner_name: "alice".into(),
            template_id: "t1".into(),
            template_name: "echo".into(),
            status,
            autostart_schedule: None,
            autostart_error: None,
            ttl_ms: ttl.map(|t| to_millis(dayshift_schedule::parse_duration(t).unwrap()).unwrap()),
            next_start_at: None,
            last_used_at: ts("2027-01-04T08:00:00Z"),
            dormant_at: None,
            deleting_at: None,
            outdated: false,
            created_at: ts("2027-01-04T08:00:00Z"),
            connect: None,
            latest_build: WorkspaceBuild {
                id: "b1".into(),
                workspace_id: "w1".into(),
                build_number: 1,
                transition: Transition::Start,
                status,
                job_status: JobStatus::Succeeded,
                reason: BuildReason::Initiator,
                deadline: deadline.map(ts),
                max_deadline: None,
                template_version_id: "v1".into(),
                created_at: ts("2027-01-04T08:00:00Z"),
                started_at: None,
                completed_at: completed.map(ts),
                error: None,
                parameters: BTreeMap::new(),
                outputs: BTreeMap::new(),
            },
        }
    }

    #[test]
    fn ttl_column_plain_and_extended() {
        use WorkspaceStatus::*;
        let done = Some("2027-01-04T09:00:00.250Z");
        // No TTL: empty.
        assert_eq!(
            ttl_column(&workspace(
                Running,
                None,
                done,
                Some("2027-01-04T10:00:00Z")
            )),
            ""
        );
        // Deadline exactly completion + TTL: no extension.
        assert_eq!(
            ttl_column(&workspace(
                Running,
                Some("15m"),
                done,
                Some("2027-01-04T09:15:00.250Z")
            )),
            "15m"
        );
        // Extended by 5 minutes.
        assert_eq!(
            ttl_column(&workspace(
                Running,
                Some("15m"),
                done,
                Some("2027-01-04T09:20:00.250Z")
            )),
            "15m (+5m)"
        );
        // Deadline truncated to whole seconds is not an extension.
        assert_eq!(
            ttl_column(&workspace(
                Running,
                Some("15m"),
                done,
                Some("2027-01-04T09:15:00Z")
            )),
            "15m"
        );
        // Long TTL, long extension.
        assert_eq!(
            ttl_column(&workspace(
                Running,
                Some("8h"),
                done,
                Some("2027-01-05T17:30:00.250Z")
            )),
            "8h (+1d)"
        );
        // Stopped: TTL only, whatever the old deadline.
        assert_eq!(
            ttl_column(&workspace(
                Stopped,
                Some("15m"),
                done,
                Some("2027-01-04T09:20:00Z")
            )),
            "15m"
        );
        // Manual shutdown while running.
        assert_eq!(
            ttl_column(&workspace(Running, Some("1h30m"), done, None)),
            "1h30m"
        );
        // Still starting: no completion yet.
        assert_eq!(
            ttl_column(&workspace(Starting, Some("2d"), None, None)),
            "2d"
        );
    }

    #[test]
    fn rounding_to_minutes() {
        let ms = SignedDuration::from_millis;
        assert_eq!(
            round_to_minute(ms(2 * 3_600_000 - 20)),
            SignedDuration::from_hours(2)
        );
        assert_eq!(round_to_minute(ms(-(5 * 60_000 + 10_000))), ms(-5 * 60_000));
        assert_eq!(round_to_minute(ms(9 * 60_000 + 40_000)), ms(10 * 60_000));
        assert_eq!(round_to_minute(ms(9 * 60_000 + 20_000)), ms(9 * 60_000));
        assert_eq!(round_to_minute(ms(29_000)), ms(29_000));
        assert_eq!(round_to_minute(ms(31_000)), ms(60_000));
        assert_eq!(round_to_minute(SignedDuration::ZERO), SignedDuration::ZERO);
    }

    #[test]
    fn relative_times() {
        let now = ts("2027-01-04T10:00:00Z");
        assert_eq!(relative(ts("2027-01-04T11:59:59.990Z"), now), "in 2h");
        assert_eq!(relative(ts("2027-01-04T09:55:00Z"), now), "5m ago");
    }

    #[test]
    fn day_lists() {
        assert_eq!(
            parse_days("monday,tuesday").unwrap(),
            vec!["monday", "tuesday"]
        );
        assert_eq!(
            parse_days("sat, Mon,mon").unwrap(),
            vec!["monday", "saturday"]
        );
        assert_eq!(parse_days("none").unwrap(), Vec::<String>::new());
        assert_eq!(parse_days("NONE").unwrap(), Vec::<String>::new());
        let err = parse_days("mon,fry").unwrap_err().to_string();
        assert!(err.contains("\"fry\""), "{err}");
        assert!(parse_days("mo").is_err());
        assert_eq!(days_short(&parse_days("sat,sun").unwrap()), "Sat,Sun");
        assert_eq!(days_short(&[]), "-");
        assert_eq!(
            days_short(&parse_days("mon,tue,wed,thu,fri,sat,sun").unwrap()),
            "all"
        );
    }

    #[test]
    fn policy_and_user_durations() {
        assert_eq!(parse_policy_duration("0").unwrap(), 0);
        assert_eq!(parse_policy_duration("off").unwrap(), 0);
        assert_eq!(parse_policy_duration("1h30m").unwrap(), 5_400_000);
        assert!(parse_policy_duration("-5m").is_err());
        assert!(parse_policy_duration("soon").is_err());
        assert_eq!(
            parse_positive_duration("90m").unwrap(),
            SignedDuration::from_mins(90)
        );
        let err = parse_positive_duration("-5m").unwrap_err().to_string();
        assert!(err.contains("-5m"), "{err}");
        assert!(parse_positive_duration("0m").is_err());
        assert!(parse_positive_duration("garbage").is_err());
    }

    #[test]
    fn tz_variable() {
        assert_eq!(zone_from_tz_var(None), "UTC");
        assert_eq!(zone_from_tz_var(Some("Not/AZone")), "UTC");
        assert_eq!(zone_from_tz_var(Some("Local")), "UTC");
        assert_eq!(zone_from_tz_var(Some(":Europe/Berlin")), "Europe/Berlin");
    }

    #[test]
    fn autostart_inputs_normalise() {
        let utc = "UTC";
        assert!(parse_autostart("manual", utc).unwrap().is_none());
        let s = parse_autostart("30 9 * * MON-FRI", utc).unwrap().unwrap();
        assert_eq!(s.to_string(), "CRON_TZ=UTC 30 9 * * 1-5");
        let s = parse_autostart("9:00AM Mon-Fri UTC", utc).unwrap().unwrap();
        assert_eq!(s.to_string(), "CRON_TZ=UTC 0 9 * * 1-5");
        let s = parse_autostart("9:30AM Mon-Fri Europe/Berlin", utc)
            .unwrap()
            .unwrap();
        assert_eq!(s.to_string(), "CRON_TZ=Europe/Berlin 30 9 * * 1-5");
        let err = parse_autostart("30 9 * * MON-FRY", utc)
            .unwrap_err()
            .to_string();
        assert!(err.contains("FRY"), "{err}");
        // Zone-less human input is read in the default zone.
        let s = parse_autostart("9:30AM Mon-Fri", "Europe/Berlin")
            .unwrap()
            .unwrap();
        assert_eq!(s.to_string(), "CRON_TZ=Europe/Berlin 30 9 * * 1-5");
        // Autostart schedules are weekly.
        assert!(parse_autostart("0 9 1 * *", utc).is_err());
    }
}
