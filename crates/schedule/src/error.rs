//! Error types. Every message names the offending value and the rule it broke
//! so it can be shown to a user as is (DESIGN §4).

/// Why a cron expression was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum CronError {
    /// Not exactly five fields after the optional zone prefix.
    #[error(
        "expected 5 fields (minute hour day-of-month month day-of-week) \
         with an optional CRON_TZ=<zone> prefix, got {found} in \"{input}\""
    )]
    FieldCount { input: String, found: usize },
    /// Longer than [`crate::MAX_SCHEDULE_LENGTH`].
    #[error("schedule is {length} bytes long; the limit is {max}")]
    TooLong { length: usize, max: usize },
    /// A field is malformed; `field` is e.g. "hour", `value` the whole field.
    #[error("invalid {field} \"{value}\": {reason}")]
    InvalidField {
        field: &'static str,
        value: String,
        reason: String,
    },
    /// The zone is not in the IANA database.
    #[error("unknown time zone \"{zone}\"")]
    UnknownZone { zone: String },
    /// `CRON_TZ=Local` (or `localtime`, `posixrules`, `Factory`) would make
    /// the schedule depend on the server's zone.
    #[error(
        "CRON_TZ={zone} is not supported: the server's local zone is not a \
         stable meaning; name an IANA zone such as \"Europe/Berlin\" or \"UTC\""
    )]
    MachineZone { zone: String },
    /// `parse_in_zone` got a cron that carries its own zone prefix.
    #[error("the cron \"{cron}\" has a CRON_TZ= prefix but the time zone is given separately")]
    ZoneTwice { cron: String },
    /// Autostart schedules are weekly (DESIGN §4).
    #[error(
        "autostart schedules must have \"*\" in day-of-month and month, got \"{dom} {month}\""
    )]
    NotWeekly { dom: String, month: String },
    /// Quiet-hours schedules are daily (Coder's `cron.Daily`).
    #[error(
        "quiet hours schedules must have \"*\" in day-of-month, month and day-of-week, got \"{dates}\""
    )]
    NotDaily { dates: String },
}

/// Why a Coder-style human schedule (`9:30AM Mon-Fri Europe/Berlin`) was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum HumanScheduleError {
    #[error("empty schedule: expected a start time such as \"9:30AM Mon-Fri Europe/Berlin\" or \"manual\"")]
    Empty,
    #[error("invalid start time \"{0}\": must be in the format hh:mm[am|pm] or HH:MM (e.g. 9:30AM, 09:30am, 15:04, 3PM)")]
    Time(String),
    #[error("schedule \"{0}\" must be in the format \"<time> [days] [zone]\", e.g. \"9:30AM Mon-Fri Europe/Berlin\"")]
    Format(String),
    #[error(
        "invalid time zone \"{0}\": a valid IANA time zone such as \"Europe/Berlin\" is required"
    )]
    Zone(String),
    #[error("invalid schedule: {0}")]
    Cron(#[from] CronError),
}

/// Why a duration such as `1h30m` was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    #[error("empty duration: expected e.g. \"90m\", \"1h30m\", \"8h\" or \"2d\"")]
    Empty,
    #[error("invalid duration \"{value}\": {reason}")]
    Invalid { value: String, reason: String },
    #[error("invalid duration \"{0}\": must not be negative")]
    Negative(String),
    #[error("invalid duration \"{0}\": too large")]
    Overflow(String),
}

/// Why a days-of-week list was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum WeekdaysError {
    #[error("invalid days of week \"{value}\": unknown day \"{item}\" (use mon,tue,... or monday,tuesday,..., \"all\" or \"none\")")]
    UnknownDay { value: String, item: String },
    #[error("invalid days-of-week bitmap {0:#010b}: bit 7 is unused and must be clear")]
    LastBitSet(u8),
}
