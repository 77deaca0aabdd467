//! Wall-clock search over minute bitsets.
//!
//! Everything here works on civil (wall-clock) minutes with no time zone: a
//! [`Pattern`] says which wall minutes match, and [`find`] returns the first
//! wall minute at or after (or at or before) a starting one whose match
//! status is the wanted one. It visits one *month* per iteration and uses bit
//! scans for days, hours and minutes, so its cost does not depend on how many
//! minutes lie between the start and the answer. Time zones and DST are the
//! business of the caller (`cron.rs`), which maps walls to instants.

use crate::calendar::{days_in_month, weekday_sunday0};
use jiff::civil::DateTime;

pub(crate) const ALL_MINUTES: u64 = (1 << 60) - 1;
pub(crate) const ALL_HOURS: u64 = (1 << 24) - 1;

/// A civil minute. Field order makes the derived `Ord` chronological.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Wall {
    pub year: i32,
    pub month: i32,
    pub day: i32,
    pub hour: i32,
    pub minute: i32,
}

impl Wall {
    /// The wall minute containing `dt` (seconds dropped).
    pub fn of(dt: DateTime) -> Wall {
        Wall {
            year: dt.year().into(),
            month: dt.month().into(),
            day: dt.day().into(),
            hour: dt.hour().into(),
            minute: dt.minute().into(),
        }
    }

    /// `None` only outside jiff's civil range (years -9999..=9999).
    pub fn to_datetime(self) -> Option<DateTime> {
        DateTime::new(
            i16::try_from(self.year).ok()?,
            self.month as i8,
            self.day as i8,
            self.hour as i8,
            self.minute as i8,
            0,
            0,
        )
        .ok()
    }

    /// The adjacent minute in direction `dir` (no range check: `to_datetime`
    /// and the month loop's year bounds catch runaway values).
    pub fn step(self, dir: Dir) -> Wall {
        let mut w = self;
        match dir {
            Dir::Forward => {
                w.minute += 1;
                if w.minute == 60 {
                    w.minute = 0;
                    w.hour += 1;
                    if w.hour == 24 {
                        w.hour = 0;
                        w.day += 1;
                        if w.day > days_in_month(w.year, w.month) {
                            w.day = 1;
                            (w.year, w.month) = next_month(w.year, w.month, dir);
                        }
                    }
                }
            }
            Dir::Backward => {
                w.minute -= 1;
                if w.minute < 0 {
                    w.minute = 59;
                    w.hour -= 1;
                    if w.hour < 0 {
                        w.hour = 23;
                        w.day -= 1;
                        if w.day < 1 {
                            (w.year, w.month) = next_month(w.year, w.month, dir);
                            w.day = days_in_month(w.year, w.month);
                        }
                    }
                }
            }
        }
        w
    }

    /// Months from `self` to `other` (calendar months, may be negative).
    pub fn months_until(self, other: Wall) -> i64 {
        (i64::from(other.year) * 12 + i64::from(other.month))
            - (i64::from(self.year) * 12 + i64::from(self.month))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Forward,
    Backward,
}

impl Dir {
    /// Bits at or after `x` in this direction.
    fn mask_from(self, x: i32) -> u64 {
        match self {
            Dir::Forward => !0u64 << x,
            Dir::Backward if x >= 63 => !0,
            Dir::Backward => (1u64 << (x + 1)) - 1,
        }
    }

    /// First set bit of a non-zero `bits` in this direction.
    fn first(self, bits: u64) -> i32 {
        match self {
            Dir::Forward => bits.trailing_zeros() as i32,
            Dir::Backward => 63 - bits.leading_zeros() as i32,
        }
    }

    /// (hour, minute) where a day starts when walked in this direction.
    fn day_start(self) -> (i32, i32) {
        match self {
            Dir::Forward => (0, 0),
            Dir::Backward => (23, 59),
        }
    }
}

fn next_month(year: i32, month: i32, dir: Dir) -> (i32, i32) {
    match (dir, month) {
        (Dir::Forward, 12) => (year + 1, 1),
        (Dir::Forward, m) => (year, m + 1),
        (Dir::Backward, 1) => (year - 1, 12),
        (Dir::Backward, m) => (year, m - 1),
    }
}

/// Which wall minutes match: a product of a day set (given per month) with a
/// time-of-day set `hours x minutes`. Both a single schedule and the
/// intersection of two schedules have this shape.
pub(crate) trait Pattern {
    /// Bits 0..=59.
    fn minutes(&self) -> u64;
    /// Bits 0..=23.
    fn hours(&self) -> u64;
    /// Matching days of `month` in `year`: bit `d` for day `d` (1-based).
    fn month_days(&self, year: i32, month: i32) -> u64;

    fn matches(&self, w: Wall) -> bool {
        self.minutes() >> w.minute & 1 == 1
            && self.hours() >> w.hour & 1 == 1
            && self.month_days(w.year, w.month) >> w.day & 1 == 1
    }
}

/// Bits 1..=dim: the days that exist in the month.
pub(crate) fn month_mask(year: i32, month: i32) -> u64 {
    let dim = days_in_month(year, month);
    (1u64 << (dim + 1)) - 2
}

/// The days-of-month bitset a day-of-week set selects in a month whose 1st
/// falls on `first_weekday` (0 = Sunday). Precomputed per schedule for the
/// seven possible first weekdays.
pub(crate) fn dow_month_masks(dows: u64) -> [u64; 7] {
    let mut out = [0u64; 7];
    for (first, mask) in out.iter_mut().enumerate() {
        for day in 1..=31 {
            if dows >> ((first + day - 1) % 7) & 1 == 1 {
                *mask |= 1 << day;
            }
        }
    }
    out
}

pub(crate) fn first_weekday(year: i32, month: i32) -> usize {
    weekday_sunday0(year, month, 1) as usize
}

/// Oldest/newest year the searches visit: jiff's civil range.
const MIN_YEAR: i32 = -9999;
const MAX_YEAR: i32 = 9999;

/// The first wall minute `w` with `p.matches(w) == want`, starting at `from`
/// (inclusive) and walking in `dir`, visiting at most `max_months` calendar
/// months (the month of `from` included). `None` when there is none within
/// that horizon.
pub(crate) fn find<P: Pattern + ?Sized>(
    p: &P,
    from: Wall,
    want: bool,
    dir: Dir,
    max_months: i64,
) -> Option<Wall> {
    let (hours, minutes) = (p.hours(), p.minutes());
    if want && (hours == 0 || minutes == 0) {
        // An empty intersection of two schedules: nothing can ever match.
        return None;
    }
    // When every minute of a matching day matches, only non-matching days can
    // hold a non-matching minute; otherwise any day can.
    let whole_day = hours == ALL_HOURS && minutes == ALL_MINUTES;
    let (mut year, mut month) = (from.year, from.month);
    for i in 0..max_months.max(0) {
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return None;
        }
        let all = month_mask(year, month);
        let matched = p.month_days(year, month);
        let mut days = match (want, whole_day) {
            (true, _) => matched,
            (false, true) => all & !matched,
            (false, false) => all,
        };
        if i == 0 {
            days &= dir.mask_from(from.day);
        }
        while days != 0 {
            let day = dir.first(days);
            days &= !(1 << day);
            let start = if i == 0 && day == from.day {
                (from.hour, from.minute)
            } else {
                dir.day_start()
            };
            let day_matches = matched >> day & 1 == 1;
            if let Some((hour, minute)) = find_in_day(hours, minutes, day_matches, want, start, dir)
            {
                return Some(Wall {
                    year,
                    month,
                    day,
                    hour,
                    minute,
                });
            }
        }
        (year, month) = next_month(year, month, dir);
    }
    None
}

/// Within one day: the first (hour, minute) from `start` in `dir` whose match
/// status is `want`, given whether the day itself matches.
fn find_in_day(
    hours: u64,
    minutes: u64,
    day_matches: bool,
    want: bool,
    start: (i32, i32),
    dir: Dir,
) -> Option<(i32, i32)> {
    if !day_matches {
        // No minute of a non-matching day matches.
        return (!want).then_some(start);
    }
    let (h0, m0) = start;
    // Hours holding at least one wanted minute, and that hour's wanted minutes.
    let candidate_hours = match (want, minutes == ALL_MINUTES) {
        (true, _) => hours,
        (false, false) => ALL_HOURS,
        (false, true) => ALL_HOURS & !hours,
    };
    let minutes_of = |h: i32| match (want, hours >> h & 1 == 1) {
        (true, _) => minutes,
        (false, true) => ALL_MINUTES & !minutes,
        (false, false) => ALL_MINUTES,
    };
    let mut hs = candidate_hours & dir.mask_from(h0);
    while hs != 0 {
        let h = dir.first(hs);
        hs &= !(1 << h);
        let mut ms = minutes_of(h);
        if h == h0 {
            ms &= dir.mask_from(m0);
        }
        if ms != 0 {
            return Some((h, dir.first(ms)));
        }
    }
    None
}
