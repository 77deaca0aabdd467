//! Coder-style human schedule input (`coder schedule start`):
//! `<time> [days] [zone]` or `manual`.

use crate::cron::{load_zone, Schedule, DOW};
use crate::error::{CronError, HumanScheduleError};

/// Parses `"9:30AM Mon-Fri Europe/Berlin"`, `"09:30am"`, `"15:04"`,
/// `"1504"`, `"3PM"`, with an optional day spec (cron day-of-week syntax:
/// `Mon-Fri`, `1,3,5`, `*`) and an optional IANA zone (`default_zone` when
/// absent); `"manual"` gives `Ok(None)` (no autostart). With two words the
/// second is a zone if it names one, else a day spec (as in Coder). A raw
/// cron, with or without `CRON_TZ=`, is accepted too and validated as weekly.
///
/// Coder falls back to the `TZ` variable or `/etc/localtime`; this crate does
/// no I/O, so the caller passes that default in.
pub fn parse_human_schedule(
    input: &str,
    default_zone: &str,
) -> Result<Option<Schedule>, HumanScheduleError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(HumanScheduleError::Empty);
    }
    if input.eq_ignore_ascii_case("manual") {
        return Ok(None);
    }
    let mut parts: Vec<&str> = input.split_whitespace().collect();
    if input.starts_with("CRON_TZ=") || parts.len() >= 5 {
        return Ok(Some(Schedule::parse_weekly(input)?));
    }
    // "9:30 AM": a detached meridiem belongs to the time.
    let joined;
    if parts.len() >= 2
        && ["am", "pm"]
            .iter()
            .any(|m| parts[1].eq_ignore_ascii_case(m))
    {
        joined = format!("{}{}", parts[0], parts[1]);
        parts.splice(0..2, [joined.as_str()]);
    }
    let (time, days, zone) = match parts[..] {
        [time] => (time, None, None),
        [time, second] if is_zone(second) => (time, None, Some(second)),
        [time, days] => (time, Some(days), None),
        [time, days, zone] => (time, Some(days), Some(zone)),
        _ => return Err(HumanScheduleError::Format(input.to_string())),
    };
    let (hour, minute) =
        parse_time(time).ok_or_else(|| HumanScheduleError::Time(time.to_string()))?;
    let dow = match days {
        Some(d) => DOW.parse(d)?.text,
        None => "*".to_string(),
    };
    let zone = zone.unwrap_or(default_zone);
    let (zone_name, _) = load_zone(zone).map_err(|e| match e {
        CronError::MachineZone { .. } => HumanScheduleError::Cron(e),
        _ => HumanScheduleError::Zone(zone.to_string()),
    })?;
    let cron = format!("{minute} {hour} * * {dow}");
    Ok(Some(Schedule::parse_in_zone(&cron, &zone_name)?))
}

fn is_zone(s: &str) -> bool {
    load_zone(s).is_ok()
}

/// Go's layouts accepted by Coder: `3:04PM`, `03:04pm`, `15:04`, `1504`,
/// `3PM`, `03pm` (meridiem case-insensitive). Returns (hour, minute).
fn parse_time(s: &str) -> Option<(u32, u32)> {
    let lower = s.to_ascii_lowercase();
    let (clock, meridiem) = if let Some(c) = lower.strip_suffix("am") {
        (c, Some(false))
    } else if let Some(c) = lower.strip_suffix("pm") {
        (c, Some(true))
    } else {
        (lower.as_str(), None)
    };
    let digits = |t: &str, lens: &[usize]| {
        (lens.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<u32>().ok())
            .flatten()
    };
    let (hour, minute) = match (clock.split_once(':'), meridiem) {
        (Some((h, m)), _) => (digits(h, &[1, 2])?, digits(m, &[2])?),
        // `3PM`, `03pm`: the hour alone needs a meridiem.
        (None, Some(_)) => (digits(clock, &[1, 2])?, 0),
        // `1504`: exactly four digits, 24-hour.
        (None, None) => {
            let n = digits(clock, &[4])?;
            (n / 100, n % 100)
        }
    };
    if minute > 59 {
        return None;
    }
    let hour = match meridiem {
        None if hour <= 23 => hour,
        Some(pm) if (1..=12).contains(&hour) => hour % 12 + if pm { 12 } else { 0 },
        _ => return None,
    };
    Some((hour, minute))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(input: &str) -> String {
        match parse_human_schedule(input, "UTC") {
            Ok(Some(s)) => s.to_string(),
            Ok(None) => "manual".to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn accepts_coder_forms() {
        let cases = [
            (
                "9:30AM Mon-Fri Europe/Berlin",
                "CRON_TZ=Europe/Berlin 30 9 * * 1-5",
            ),
            ("9:00AM Mon-Fri UTC", "CRON_TZ=UTC 0 9 * * 1-5"),
            ("09:30am", "CRON_TZ=UTC 30 9 * * *"),
            ("15:04", "CRON_TZ=UTC 4 15 * * *"),
            ("1504", "CRON_TZ=UTC 4 15 * * *"),
            ("3PM", "CRON_TZ=UTC 0 15 * * *"),
            ("03pm", "CRON_TZ=UTC 0 15 * * *"),
            ("12AM", "CRON_TZ=UTC 0 0 * * *"),
            ("9:30 am Mon-Fri", "CRON_TZ=UTC 30 9 * * 1-5"),
            ("5 PM Europe/Berlin", "CRON_TZ=Europe/Berlin 0 17 * * *"),
            ("12:15PM", "CRON_TZ=UTC 15 12 * * *"),
            ("0:05", "CRON_TZ=UTC 5 0 * * *"),
            (
                "9:30AM America/New_York",
                "CRON_TZ=America/New_York 30 9 * * *",
            ),
            ("9:30AM sat,sun", "CRON_TZ=UTC 30 9 * * 6,0"),
            ("9:30AM *", "CRON_TZ=UTC 30 9 * * *"),
            ("  manual ", "manual"),
            ("MANUAL", "manual"),
            ("30 9 * * 1-5", "CRON_TZ=UTC 30 9 * * 1-5"),
            (
                "CRON_TZ=Asia/Kathmandu 30 9 * * MON",
                "CRON_TZ=Asia/Kathmandu 30 9 * * 1",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input), want, "{input}");
        }
    }

    #[test]
    fn default_zone_applies() {
        let s = parse_human_schedule("9:30AM Mon-Fri", "Europe/Berlin")
            .unwrap()
            .unwrap();
        assert_eq!(s.to_string(), "CRON_TZ=Europe/Berlin 30 9 * * 1-5");
        assert_eq!(s.humanize(), "9:30AM Mon-Fri (Europe/Berlin)");
    }

    #[test]
    fn error_messages() {
        let cases = [
            ("", "empty schedule: expected a start time such as \"9:30AM Mon-Fri Europe/Berlin\" or \"manual\""),
            ("25:00", "invalid start time \"25:00\": must be in the format hh:mm[am|pm] or HH:MM (e.g. 9:30AM, 09:30am, 15:04, 3PM)"),
            ("13PM", "invalid start time \"13PM\": must be in the format hh:mm[am|pm] or HH:MM (e.g. 9:30AM, 09:30am, 15:04, 3PM)"),
            ("9:5", "invalid start time \"9:5\": must be in the format hh:mm[am|pm] or HH:MM (e.g. 9:30AM, 09:30am, 15:04, 3PM)"),
            ("9", "invalid start time \"9\": must be in the format hh:mm[am|pm] or HH:MM (e.g. 9:30AM, 09:30am, 15:04, 3PM)"),
            ("9:30AM Mon-Fri Europe/Berlin extra", "schedule \"9:30AM Mon-Fri Europe/Berlin extra\" must be in the format \"<time> [days] [zone]\", e.g. \"9:30AM Mon-Fri Europe/Berlin\""),
            ("9:30AM Mon-Fri Fictional/Country", "invalid time zone \"Fictional/Country\": a valid IANA time zone such as \"Europe/Berlin\" is required"),
            ("9:30AM Mon-Fry", "invalid schedule: invalid day-of-week \"Mon-Fry\": unknown day name \"Fry\""),
            ("9:30AM Mon-Fri Local", "invalid schedule: CRON_TZ=Local is not supported: the server's local zone is not a stable meaning; name an IANA zone such as \"Europe/Berlin\" or \"UTC\""),
            ("30 9 1 1 1-5", "invalid schedule: autostart schedules must have \"*\" in day-of-month and month, got \"1 1\""),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input), format!("error: {want}"), "{input}");
        }
    }
}
