//! Compact duration display (`10m`, `1h30m`, `2d`, `200ms`) for messages.

use jiff::SignedDuration;

/// Formats a duration the way DESIGN §6 displays them: largest units first,
/// zero units left out (`90m` → `1h30m`, `48h` → `2d`). Sub-second parts
/// are shown in milliseconds because build timeouts in tests are that small
/// and "timed out after 0s" would be a lie.
pub fn format_duration(d: SignedDuration) -> String {
    let negative = d.is_negative();
    let d = d.abs();
    let total_ms = d.as_millis();
    if total_ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    let mut rest_ms = total_ms;
    for (unit_ms, suffix) in [
        (86_400_000_i128, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
        (1, "ms"),
    ] {
        let n = rest_ms / unit_ms;
        if n > 0 {
            out.push_str(&format!("{n}{suffix}"));
            rest_ms -= n * unit_ms;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_forms() {
        let cases = [
            (SignedDuration::from_mins(90), "1h30m"),
            (SignedDuration::from_hours(48), "2d"),
            (SignedDuration::from_hours(30), "1d6h"),
            (SignedDuration::from_mins(10), "10m"),
            (SignedDuration::from_millis(200), "200ms"),
            (SignedDuration::from_millis(1500), "1s500ms"),
            (SignedDuration::ZERO, "0s"),
            (SignedDuration::from_secs(-60), "-1m"),
        ];
        for (d, want) in cases {
            assert_eq!(format_duration(d), want, "{d:?}");
        }
    }
}
