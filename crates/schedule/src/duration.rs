//! Human durations: parsing (`90m`, `1h30m`, `1.5h`, `2d`) and compact
//! display (Coder's `durationDisplay`, plus the minus sign Coder forgets).
//! This is the one duration language of the project: the CLI, the API's
//! `advance` and the template manifest all parse with [`parse_duration`].

use crate::error::DurationError;
use jiff::SignedDuration;

const NANOS_PER_SEC: i128 = 1_000_000_000;
/// Fractions finer than a nanosecond are dropped.
const MAX_FRACTION_DIGITS: usize = 9;

/// Parses `"90m"`, `"1h30m"`, `"1.5h"`, `"8h"`, `"2d"`, `"45s"`, `"0s"`
/// and `"0"`. Units are `d`, `h`, `m`, `s` (case-insensitive) and may
/// repeat or appear in any order; each number may have a decimal fraction.
/// A bare number other than `0` is refused with a hint (Coder reads `90` as
/// minutes in one command and as seconds in another: no guessing here).
/// Negative or overflowing values are errors naming the value.
pub fn parse_duration(s: &str) -> Result<SignedDuration, DurationError> {
    let value = s.trim();
    if value.is_empty() {
        return Err(DurationError::Empty);
    }
    if value.starts_with('-') {
        return Err(DurationError::Negative(value.to_string()));
    }
    let body = value.strip_prefix('+').unwrap_or(value);
    let invalid = |reason: &str| DurationError::Invalid {
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let overflow = || DurationError::Overflow(value.to_string());
    if body.bytes().any(|b| b.is_ascii_digit())
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        if body.bytes().all(|b| b == b'0') {
            return Ok(SignedDuration::ZERO);
        }
        return Err(DurationError::NoUnit(value.to_string()));
    }
    let mut total_nanos: i128 = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let whole_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if whole_len == 0 {
            return Err(invalid("expected a number before each unit"));
        }
        let (whole, tail) = rest.split_at(whole_len);
        let (fraction, tail) = match tail.strip_prefix('.') {
            Some(after_point) => {
                let len = after_point.bytes().take_while(u8::is_ascii_digit).count();
                if len == 0 {
                    return Err(invalid("expected digits after the decimal point"));
                }
                after_point.split_at(len)
            }
            None => ("", tail),
        };
        let mut chars = tail.chars();
        let unit = chars
            .next()
            .ok_or_else(|| invalid("missing unit after the last number"))?;
        let secs_per_unit: i128 = match unit.to_ascii_lowercase() {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => {
                return Err(invalid(&format!(
                    "unknown unit \"{unit}\" (use d, h, m or s)"
                )))
            }
        };
        let unit_nanos = secs_per_unit * NANOS_PER_SEC;
        let whole: i128 = whole.parse().map_err(|_| overflow())?;
        let fraction = &fraction[..fraction.len().min(MAX_FRACTION_DIGITS)];
        let fraction_nanos = if fraction.is_empty() {
            0
        } else {
            let digits: i128 = fraction.parse().map_err(|_| overflow())?;
            digits * unit_nanos / 10_i128.pow(fraction.len() as u32)
        };
        total_nanos = whole
            .checked_mul(unit_nanos)
            .and_then(|n| n.checked_add(fraction_nanos))
            .and_then(|n| total_nanos.checked_add(n))
            .ok_or_else(overflow)?;
        rest = chars.as_str();
    }
    let secs = i64::try_from(total_nanos / NANOS_PER_SEC).map_err(|_| overflow())?;
    // The remainder is below one second, so it fits.
    let nanos = (total_nanos % NANOS_PER_SEC) as i32;
    Ok(SignedDuration::new(secs, nanos))
}

/// Compact display: `0s`, `<1m`, `1h30m`, `8h`, `1d6h`, `2d`. Like Coder's
/// `durationDisplay`, durations over a day are truncated to the hour and
/// others to the minute; unlike it, negative durations get a leading `-`.
pub fn format_duration(d: SignedDuration) -> String {
    if d.is_zero() {
        return "0s".to_string();
    }
    let sign = if d.is_negative() { "-" } else { "" };
    let secs = d.unsigned_abs().as_secs();
    if secs < 60 {
        return format!("{sign}<1m");
    }
    let days = secs / 86_400;
    let hours = secs % 86_400 / 3_600;
    // Over a day the minutes are noise next to the days.
    let minutes = if secs > 86_400 { 0 } else { secs % 3_600 / 60 };
    let mut out = sign.to_string();
    for (n, unit) in [(days, 'd'), (hours, 'h'), (minutes, 'm')] {
        if n > 0 {
            out.push_str(&n.to_string());
            out.push(unit);
        }
    }
    out
}

/// `in 10m` for a future offset, `5m ago` for a past one, `now` for zero.
pub fn format_relative(d: SignedDuration) -> String {
    if d.is_zero() {
        "now".to_string()
    } else if d.is_negative() {
        // `format_duration` of the magnitude, without its sign.
        format!("{} ago", format_duration(d).trim_start_matches('-'))
    } else {
        format!("in {}", format_duration(d))
    }
}

/// Exact display for error messages: every non-zero unit down to seconds
/// (`1d0h0m1s` is shown as `1d1s`), sub-second rest as `ms`.
pub(crate) fn format_exact(d: SignedDuration) -> String {
    if d.is_zero() {
        return "0s".to_string();
    }
    let sign = if d.is_negative() { "-" } else { "" };
    let abs = d.unsigned_abs();
    let secs = abs.as_secs();
    let parts = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3_600, "h"),
        (secs % 3_600 / 60, "m"),
        (secs % 60, "s"),
        (u64::from(abs.subsec_millis()), "ms"),
    ];
    let mut out = sign.to_string();
    for (n, unit) in parts.into_iter().filter(|(n, _)| *n > 0) {
        out.push_str(&format!("{n}{unit}"));
    }
    if out.len() == sign.len() {
        out.push_str("<1ms");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mins(m: i64) -> SignedDuration {
        SignedDuration::from_mins(m)
    }

    #[test]
    fn parses_examples() {
        let cases = [
            ("90m", mins(90)),
            ("1h30m", mins(90)),
            ("8h", mins(480)),
            ("2d", mins(2 * 1440)),
            ("45s", SignedDuration::from_secs(45)),
            ("0s", SignedDuration::ZERO),
            ("0", SignedDuration::ZERO),
            ("1.5h", mins(90)),
            ("0.5d", mins(720)),
            ("1.25m", SignedDuration::from_secs(75)),
            ("1h0.5m", SignedDuration::from_secs(3630)),
            ("0.001s", SignedDuration::from_millis(1)),
            (" 3h2m ", mins(182)),
            ("1D2H", mins(1560)),
            ("+5m", mins(5)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn error_messages() {
        let cases = [
            (
                "",
                "empty duration: expected e.g. \"90m\", \"1h30m\", \"8h\" or \"2d\"",
            ),
            ("-5m", "invalid duration \"-5m\": must not be negative"),
            (
                "99999999999999999999m",
                "invalid duration \"99999999999999999999m\": too large",
            ),
            (
                "999999999999999999m",
                "invalid duration \"999999999999999999m\": too large",
            ),
            (
                "200000000000000d",
                "invalid duration \"200000000000000d\": too large",
            ),
            (
                "5x",
                "invalid duration \"5x\": unknown unit \"x\" (use d, h, m or s)",
            ),
            (
                "1h30",
                "invalid duration \"1h30\": missing unit after the last number",
            ),
            (
                "h",
                "invalid duration \"h\": expected a number before each unit",
            ),
            (
                "90",
                "invalid duration \"90\": a number needs a unit, e.g. \"90m\" (units: d, h, m, s)",
            ),
            (
                "1.5",
                "invalid duration \"1.5\": a number needs a unit, e.g. \"1.5m\" (units: d, h, m, s)",
            ),
            (
                "1.h",
                "invalid duration \"1.h\": expected digits after the decimal point",
            ),
            (
                ".5h",
                "invalid duration \".5h\": expected a number before each unit",
            ),
            (
                "-1h",
                "invalid duration \"-1h\": must not be negative",
            ),
        ];
        for (input, want) in cases {
            let err = parse_duration(input).unwrap_err();
            assert_eq!(err.to_string(), want, "{input}");
        }
    }

    #[test]
    fn formats_like_coder_with_sign() {
        let cases = [
            (SignedDuration::ZERO, "0s"),
            (SignedDuration::from_secs(59), "<1m"),
            (mins(1), "1m"),
            (mins(2), "2m"),
            (mins(90), "1h30m"),
            (mins(480), "8h"),
            (mins(60 * 24), "1d"),
            (mins(60 * 30), "1d6h"),
            (mins(60 * 30 + 59), "1d6h"),
            (mins(60 * 48), "2d"),
            (mins(-90), "-1h30m"),
            (SignedDuration::from_secs(-30), "-<1m"),
            (SignedDuration::MIN, "-106751991167300d15h"),
        ];
        for (d, want) in cases {
            assert_eq!(format_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn relative() {
        assert_eq!(format_relative(mins(10)), "in 10m");
        assert_eq!(format_relative(mins(-5)), "5m ago");
        assert_eq!(format_relative(SignedDuration::ZERO), "now");
        assert_eq!(format_relative(SignedDuration::from_secs(20)), "in <1m");
    }

    #[test]
    fn round_trips_through_display() {
        for m in [1, 59, 60, 61, 90, 1439, 1440, 1500, 2880, 100_000] {
            let shown = format_duration(mins(m));
            let back = parse_duration(&shown).unwrap();
            // Display truncates to the hour beyond a day.
            let expect = if m > 1440 { m / 60 * 60 } else { m };
            assert_eq!(back, mins(expect), "{shown}");
        }
    }
}
