//! Deadline math of DESIGN §3 "Deadlines", as pure functions of their
//! inputs (the caller reads the clock and the database).

use crate::cron::Schedule;
use crate::duration::format_exact;
use crate::weekdays::Weekdays;
use jiff::civil::{Date, Weekday};
use jiff::{SignedDuration, Timestamp};

/// Coder's `autostopRequirementLeeway` (newest version): a workspace started
/// less than this before quiet hours is not stopped at that quiet hours but
/// at the next applicable one.
const LEEWAY: SignedDuration = SignedDuration::from_hours(2);
/// Coder's `autostopRequirementBuffer`: quiet hours are looked up from this
/// long before the chosen day's midnight, so a quiet-hours time just before
/// midnight still counts for that day.
const BUFFER: SignedDuration = SignedDuration::from_mins(15);
/// At most this many weeks between autostop-requirement stops.
pub const MAX_AUTOSTOP_WEEKS: u32 = 16;
/// Shortest allowed workspace TTL.
pub const TTL_MIN: SignedDuration = SignedDuration::from_mins(1);
/// Longest allowed workspace TTL (Coder: 30 days; 7 in older versions).
pub const TTL_MAX: SignedDuration = SignedDuration::from_hours(30 * 24);

/// The first Monday of 2023: "every N weeks" counts weeks from here, in the
/// quiet-hours zone (Coder's `TemplateAutostopRequirementEpoch`).
const WEEKS_EPOCH: Date = jiff::civil::date(2023, 1, 2);

/// The template's autostop requirement: stop at the owner's quiet hours on
/// these days, every `weeks` weeks (1..=16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutostopRequirement {
    pub days: Weekdays,
    pub weeks: u32,
}

/// Why a max deadline could not be computed.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum DeadlineError {
    #[error("invalid autostop requirement weeks {0}: must be 1-16")]
    Weeks(u32),
    #[error(
        "cannot compute the autostop requirement at {now}: it is before the \
         week-counting epoch 2023-01-02 (is the system clock wrong?)"
    )]
    BeforeEpoch { now: Timestamp },
    #[error("quiet hours schedule \"{schedule}\" has no occurrence after {from}")]
    NoQuietHours { schedule: String, from: Timestamp },
    #[error("time {0} is out of range for deadline arithmetic")]
    OutOfRange(Timestamp),
}

/// Why an extend request was refused (DESIGN §3 "Extend").
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ExtendError {
    /// Coder allows extend to *shorten* the deadline; DESIGN requires a
    /// strictly later one.
    #[error("new deadline {new} is not after the current deadline {current}")]
    NotAfterCurrent { new: Timestamp, current: Timestamp },
    #[error(
        "new deadline {new} is after the max deadline {max} set by the \
         template's autostop requirement"
    )]
    AfterMax { new: Timestamp, max: Timestamp },
    #[error("new deadline {new} is not in the future (now is {now})")]
    InPast { new: Timestamp, now: Timestamp },
}

/// Why a TTL was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum TtlError {
    #[error("time until shutdown {0} is too short: it must be at least 1m")]
    TooShort(String),
    #[error("time until shutdown {0} is too long: it must be at most 30d")]
    TooLong(String),
}

/// The next autostart strictly after `after` that falls on an allowed day,
/// the weekday judged in the *schedule's* zone (as Coder does). `None` when
/// no slot within the next 7 calendar days (in that zone) is allowed.
///
/// Coder's `NextAllowedAutostart` loops `while next - at < 7 days`; fed a
/// schedule that yields no slot (zero time) it loops forever. Here the walk
/// is bounded by slots, not by a difference that can go negative, and a
/// whole day of DST shift cannot push a weekly slot out of the window.
pub fn next_allowed_autostart(
    schedule: &Schedule,
    after: Timestamp,
    allowed: Weekdays,
) -> Option<Timestamp> {
    if allowed.is_empty() {
        return None;
    }
    let tz = schedule.time_zone();
    let last_date = tz
        .to_datetime(after)
        .date()
        .checked_add(jiff::Span::new().days(7))
        .ok()?;
    let mut cur = after;
    loop {
        let slot = schedule.next_after(cur)?;
        let date = tz.to_datetime(slot).date();
        if date > last_date {
            return None;
        }
        if allowed.contains(date.weekday()) {
            return Some(slot);
        }
        // Skip the rest of a disallowed day at once rather than slot by slot
        // (`* * * * *` would otherwise take 1440 steps per day).
        let next_midnight = tz
            .to_ambiguous_timestamp(
                date.tomorrow()
                    .ok()?
                    .to_datetime(jiff::civil::Time::midnight()),
            )
            .compatible()
            .ok()?;
        cur = next_midnight
            .checked_sub(SignedDuration::from_nanos(1))
            .ok()?
            .max(slot);
    }
}

/// The deadline of a start build that succeeded at `completed_at`
/// (DESIGN §3): `completed_at + ttl`; if that would pass the next autostart
/// (one after `completed_at`), `next_autostart + ttl` instead, so a
/// workspace started late in the evening is not stopped just after the
/// next morning's autostart. Never past a set `max_deadline`. `None` (no
/// autostop) when there is no positive TTL.
pub fn start_deadline(
    completed_at: Timestamp,
    ttl: Option<SignedDuration>,
    next_autostart: Option<Timestamp>,
    max_deadline: Option<Timestamp>,
) -> Option<Timestamp> {
    let ttl = ttl.filter(|t| t.is_positive())?;
    let mut deadline = saturating_add(completed_at, ttl);
    if let Some(next) = next_autostart.filter(|n| *n > completed_at) {
        if deadline > next {
            deadline = saturating_add(next, ttl);
        }
    }
    Some(max_deadline.map_or(deadline, |max| deadline.min(max)))
}

fn saturating_add(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(if d.is_negative() {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// The owner's quiet hours when none is configured: midnight UTC.
pub fn default_quiet_hours() -> Schedule {
    Schedule::midnight_utc()
}

/// The max deadline imposed by the template's autostop requirement
/// (Coder's `CalculateAutostop`, part 3), computed in the quiet-hours zone:
/// 1. take the day of `now + 2h` (the leeway);
/// 2. with `weeks > 1`, move to the Monday of the next week whose number
///    since Monday 2023-01-02 is a multiple of `weeks` (unless this week is);
/// 3. if that day's quiet hours (looked up from 15 minutes before its
///    midnight) come before `now + 2h`, take the next day;
/// 4. advance to the first day in `days`;
/// 5. the answer is the first quiet-hours time after that day's midnight
///    minus 15 minutes, but never sooner than `now + 1h`.
///
/// Days are calendar days in the zone (never 24-hour steps), so DST cannot
/// shift them. `days == NONE` means no requirement: `Ok(None)`.
pub fn max_deadline(
    now: Timestamp,
    req: &AutostopRequirement,
    quiet_hours: &Schedule,
) -> Result<Option<Timestamp>, DeadlineError> {
    if req.days.is_empty() {
        return Ok(None);
    }
    if !(1..=MAX_AUTOSTOP_WEEKS).contains(&req.weeks) {
        return Err(DeadlineError::Weeks(req.weeks));
    }
    let tz = quiet_hours.time_zone();
    let out_of_range = || DeadlineError::OutOfRange(now);
    let add = |t: Timestamp, d: SignedDuration| t.checked_add(d).map_err(|_| out_of_range());
    let midnight = |d: Date| {
        tz.to_ambiguous_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
            .compatible()
            .map_err(|_| out_of_range())
    };
    let next_day = |d: Date| d.tomorrow().map_err(|_| out_of_range());
    let qh_after = |from: Timestamp| {
        quiet_hours
            .next_after(from)
            .ok_or_else(|| DeadlineError::NoQuietHours {
                schedule: quiet_hours.to_string(),
                from,
            })
    };

    let with_leeway = add(now, LEEWAY)?;
    let mut day = tz.to_datetime(with_leeway).date();
    if req.weeks > 1 {
        day = next_applicable_monday(now, day, req.weeks)?;
    }
    if qh_after(add(midnight(day)?, -BUFFER)?)? < with_leeway {
        day = next_day(day)?;
    }
    // Seven consecutive days cover every weekday, and `days` is not empty.
    for _ in 0..7 {
        if req.days.contains(day.weekday()) {
            break;
        }
        day = next_day(day)?;
    }
    let start = midnight(day)?;
    let soonest = add(now, SignedDuration::from_hours(1))?;
    let check = if start < soonest {
        soonest
    } else {
        add(start, -BUFFER)?
    };
    qh_after(check).map(Some)
}

/// Coder's `GetNextApplicableMondayOfNWeeks`: `day` itself when its week
/// number since the epoch is a multiple of `weeks`, else the Monday of the
/// next week that is.
fn next_applicable_monday(now: Timestamp, day: Date, weeks: u32) -> Result<Date, DeadlineError> {
    let days = (day - WEEKS_EPOCH).get_days();
    if days < 0 {
        return Err(DeadlineError::BeforeEpoch { now });
    }
    let week = days / 7;
    let weeks = weeks as i32;
    let rem = week % weeks;
    if rem == 0 {
        return Ok(day);
    }
    let monday = WEEKS_EPOCH
        .checked_add(jiff::Span::new().days(i64::from(week + weeks - rem) * 7))
        .map_err(|_| DeadlineError::OutOfRange(now))?;
    debug_assert_eq!(monday.weekday(), Weekday::Monday);
    Ok(monday)
}

/// The deadline after activity at `now` (DESIGN §3 "Activity bump"): when
/// less than `bump` remains, move it to `now + bump`, or to `next_autostart
/// + ttl` when the next autostart falls inside that window (so activity
/// just before an autostart keeps the workspace for the new day). Never
/// earlier than `deadline`, never past a set `max_deadline`. `None` when
/// nothing changes (including a non-positive `bump`).
///
/// Coder's SQL bumps once 5% of the *interval* has elapsed
/// (`deadline - interval * 0.95 < now`); DESIGN's rule compares the
/// remaining time with the bump itself.
pub fn bumped_deadline(
    now: Timestamp,
    deadline: Timestamp,
    max_deadline: Option<Timestamp>,
    bump: SignedDuration,
    next_autostart: Option<Timestamp>,
    ttl: Option<SignedDuration>,
) -> Option<Timestamp> {
    if !bump.is_positive() || deadline.duration_since(now) >= bump {
        return None;
    }
    let window_end = saturating_add(now, bump);
    let target = match (next_autostart, ttl) {
        (Some(next), Some(ttl)) if next > now && next < window_end => saturating_add(next, ttl),
        _ => window_end,
    };
    let capped = max_deadline.map_or(target, |max| target.min(max));
    let new = capped.max(deadline);
    (new != deadline).then_some(new)
}

/// Validates an extend request (DESIGN §3 "Extend"): the new deadline must
/// be in the future, strictly after the current one (Coder lets extend
/// shorten it), and not after a set max deadline. Coder's extra "at least
/// 30 minutes from now" (checked with 29) is a CLI nicety, not a rule here.
pub fn validate_extend(
    now: Timestamp,
    current: Timestamp,
    max_deadline: Option<Timestamp>,
    new: Timestamp,
) -> Result<(), ExtendError> {
    if new <= current {
        return Err(ExtendError::NotAfterCurrent { new, current });
    }
    if let Some(max) = max_deadline.filter(|max| new > *max) {
        return Err(ExtendError::AfterMax { new, max });
    }
    if new <= now {
        return Err(ExtendError::InPast { new, now });
    }
    Ok(())
}

/// TTL limits: at least 1 minute, at most 30 days. Coder truncates the TTL
/// to whole minutes first; callers here get the value checked as given.
pub fn validate_ttl(ttl: SignedDuration) -> Result<(), TtlError> {
    if ttl < TTL_MIN {
        Err(TtlError::TooShort(format_exact(ttl)))
    } else if ttl > TTL_MAX {
        Err(TtlError::TooLong(format_exact(ttl)))
    } else {
        Ok(())
    }
}

/// Decides when `dayshift ssh` reminds the user of an approaching autostop,
/// given reminder thresholds such as 30 minutes before the deadline.
///
/// Coder's notifier (coderd/autobuild/notify) means to sort its thresholds
/// descending but sorts a throwaway copy (ascending), fires one callback per
/// threshold crossed in the same poll, and never re-arms after the deadline
/// is bumped. Here: at most one reminder per poll (for the tightest
/// threshold crossed), and a threshold re-arms once the deadline moves back
/// out of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutostopReminder {
    /// Distinct positive thresholds, largest first.
    thresholds: Vec<SignedDuration>,
    /// The tightest threshold already reminded of for the current deadline.
    notified: Option<SignedDuration>,
}

impl AutostopReminder {
    pub fn new(thresholds: &[SignedDuration]) -> AutostopReminder {
        let mut thresholds: Vec<SignedDuration> = thresholds
            .iter()
            .copied()
            .filter(|t| t.is_positive())
            .collect();
        thresholds.sort_unstable_by(|a, b| b.cmp(a));
        thresholds.dedup();
        AutostopReminder {
            thresholds,
            notified: None,
        }
    }

    /// Call on every poll with the current deadline (`None`: manual
    /// shutdown). Returns the threshold to remind of now, if any.
    pub fn poll(&mut self, now: Timestamp, deadline: Option<Timestamp>) -> Option<SignedDuration> {
        let Some(deadline) = deadline else {
            self.notified = None;
            return None;
        };
        let remaining = deadline.duration_since(now);
        if self.notified.is_some_and(|n| remaining > n) {
            // Bumped or extended past the threshold: remind again later.
            self.notified = None;
        }
        let tightest = self
            .thresholds
            .iter()
            .copied()
            .filter(|t| remaining <= *t)
            .min()?;
        if self.notified.is_some_and(|n| n <= tightest) {
            return None;
        }
        self.notified = Some(tightest);
        Some(tightest)
    }
}
