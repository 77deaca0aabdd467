//! dayshift-schedule owns time: the cron dialect of DESIGN §4 (parsing,
//! normalising, humanising), its two readings (points: `next_after`;
//! ranges: `contains`/`next_change`/`ranges`/`overlaps`) with exact DST
//! rules, Coder-style human schedules and durations, and the deadline math
//! of DESIGN §3.
//!
//! It must stay pure: no I/O, no clock reads (every function takes `now`),
//! no async, no logging. Callers own the database, the clock and the policy
//! of when to call what.

mod calendar;
mod cron;
pub mod deadline;
mod duration;
mod error;
mod eval;
mod human;
mod search;
mod weekdays;

pub use cron::{load_zone, zone_database, Schedule, MAX_SCHEDULE_LENGTH};
pub use duration::{format_duration, format_relative, parse_duration};
pub use error::{CronError, DurationError, HumanScheduleError, WeekdaysError};
pub use human::parse_human_schedule;
pub use jiff::civil::Weekday;
pub use jiff::{SignedDuration, Timestamp};
pub use weekdays::Weekdays;
