//! Minimal proleptic-Gregorian arithmetic on plain integers.
//!
//! The search loops in [`crate::search`] visit one month per iteration and
//! need only "how many days" and "which weekday is the 1st". Building a
//! `jiff::civil::Date` for that would validate and range-check on every step;
//! these helpers are branch-light integer math instead, which is what keeps
//! `next_after` well ahead of croner.

/// Days in `month` (1-12) of `year`.
pub(crate) fn days_in_month(year: i32, month: i32) -> i32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

pub(crate) fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(year: i32, month: i32, day: i32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Weekday with cron numbering: 0 = Sunday ... 6 = Saturday.
pub(crate) fn weekday_sunday0(year: i32, month: i32, day: i32) -> u32 {
    // 1970-01-01 was a Thursday (4).
    (days_from_civil(year, month, day) + 4).rem_euclid(7) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn agrees_with_jiff_over_four_centuries() {
        let mut d = date(1800, 1, 1);
        let end = date(2200, 12, 31);
        while d <= end {
            let (y, m, dd) = (d.year() as i32, d.month() as i32, d.day() as i32);
            assert_eq!(
                weekday_sunday0(y, m, dd),
                d.weekday().to_sunday_zero_offset() as u32
            );
            assert_eq!(days_in_month(y, m), d.days_in_month() as i32);
            d = d.tomorrow().unwrap();
        }
    }
}
