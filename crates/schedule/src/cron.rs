//! The cron dialect of DESIGN §4: parsing, normalised display and humanising.
//! Evaluation (points and ranges) lives in `eval.rs`.

use crate::error::CronError;
use crate::search::{dow_month_masks, first_weekday, month_mask, Pattern, ALL_HOURS, ALL_MINUTES};
use jiff::tz::TimeZone;
use std::fmt;

/// One field's rules. `names` are three-letter aliases starting at `min`.
pub(crate) struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Extra text for the range error (day-of-week explains why 7 is refused).
    range_hint: &'static str,
}

const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    range_hint: "",
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    range_hint: "",
};
const DOM: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    range_hint: "",
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    range_hint: "",
};
/// 0 = Sunday. Unlike Vixie cron, 7 is refused, as in Coder (robfig's
/// parser): one spelling per day keeps normalised schedules comparable.
pub(crate) const DOW: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 6,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    range_hint: " (0 = Sunday; 7 is not accepted)",
};

/// A parsed field: its bitset, its normalised text (names as numbers) and
/// whether it was written as an unrestricted `*`.
pub(crate) struct Field {
    pub bits: u64,
    pub text: String,
    pub star: bool,
}

impl FieldSpec {
    fn err(&self, value: &str, reason: impl Into<String>) -> CronError {
        CronError::InvalidField {
            field: self.name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    fn kind_of_name(&self) -> &'static str {
        if self.min == 0 {
            "day"
        } else {
            "month"
        }
    }

    /// A number or (for month and day-of-week) a case-insensitive name.
    fn value(&self, field: &str, s: &str) -> Result<u32, CronError> {
        if s.is_empty() {
            return Err(self.err(field, "missing number"));
        }
        let n = if s.bytes().all(|b| b.is_ascii_digit()) {
            // Long digit strings are out of range, not a parse failure.
            match s.parse::<u32>() {
                Ok(n) => n,
                Err(_) => return Err(self.out_of_range(field, s)),
            }
        } else if self.names.is_empty() {
            return Err(self.err(field, format!("\"{s}\" is not a number")));
        } else {
            let pos = self.names.iter().position(|n| n.eq_ignore_ascii_case(s));
            match pos {
                Some(i) => self.min + i as u32,
                None => {
                    return Err(self.err(
                        field,
                        format!("unknown {} name \"{s}\"", self.kind_of_name()),
                    ))
                }
            }
        };
        if n < self.min || n > self.max {
            return Err(self.out_of_range(field, s));
        }
        Ok(n)
    }

    /// `value` (part of `field`) is not a value of this field.
    fn out_of_range(&self, field: &str, value: &str) -> CronError {
        let rule = format!("must be {}-{}{}", self.min, self.max, self.range_hint);
        if value == field {
            self.err(field, rule)
        } else {
            self.err(field, format!("\"{value}\" {rule}"))
        }
    }

    /// Parses a whole field: comma-separated items `*`, `a`, `a-b`, each
    /// optionally followed by `/step`. `a/step` means `a-max/step` (robfig).
    pub(crate) fn parse(&self, field: &str) -> Result<Field, CronError> {
        let mut bits = 0u64;
        let mut items = Vec::new();
        for item in field.split(',') {
            if item.is_empty() {
                return Err(self.err(field, "empty list item"));
            }
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => {
                    let step = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                        s.parse::<u32>().ok()
                    } else {
                        return Err(self.err(field, format!("step \"{s}\" is not a number")));
                    };
                    if step == Some(0) {
                        return Err(self.err(field, "step must be at least 1"));
                    }
                    // A step past the field's span selects one value at
                    // most: refused, as a number that overflows it.
                    let span = self.max - self.min + 1;
                    let Some(step) = step.filter(|step| *step <= span) else {
                        return Err(self.err(field, format!("step \"{s}\" must be 1-{span}")));
                    };
                    (r, Some(step))
                }
                None => (item, None),
            };
            let (lo, hi, range_text) = if range == "*" {
                (self.min, self.max, "*".to_string())
            } else if let Some((a, b)) = range.split_once('-') {
                let (lo, hi) = (self.value(field, a)?, self.value(field, b)?);
                if lo > hi {
                    return Err(
                        self.err(field, format!("range start {lo} is after range end {hi}"))
                    );
                }
                (lo, hi, format!("{lo}-{hi}"))
            } else {
                let v = self.value(field, range)?;
                // `5/15` is robfig's "from 5 to the maximum, every 15".
                let hi = if step.is_some() { self.max } else { v };
                (v, hi, v.to_string())
            };
            let step_n = step.unwrap_or(1);
            let mut v = lo;
            while v <= hi {
                bits |= 1 << v;
                v = v.saturating_add(step_n);
            }
            let item = match step {
                Some(s) if !(range == "*" && s == 1) => format!("{range_text}/{s}"),
                _ => range_text,
            };
            // `1,1,1` is stored as `1`.
            if !items.contains(&item) {
                items.push(item);
            }
        }
        let text = items.join(",");
        // `*` and `*/1` are unrestricted for the day-of-month/day-of-week
        // rule, as in robfig; anything else (even `1-31`) restricts.
        let star = text == "*";
        Ok(Field { bits, text, star })
    }
}

/// The five fields as bitsets (bit n = value n).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fields {
    pub minutes: u64,
    pub hours: u64,
    pub doms: u64,
    pub months: u64,
    pub dows: u64,
    pub dom_star: bool,
    pub dow_star: bool,
    /// `dow_masks[w]`: days of a month starting on weekday `w` that the
    /// day-of-week field selects, so a month's matching days are two ANDs.
    pub dow_masks: [u64; 7],
}

impl Pattern for Fields {
    fn minutes(&self) -> u64 {
        self.minutes
    }
    fn hours(&self) -> u64 {
        self.hours
    }
    /// Classic (Vixie/robfig) rule: when both day-of-month and day-of-week
    /// are restricted a day matches if *either* does; when one is `*` the
    /// other alone decides.
    fn month_days(&self, year: i32, month: i32) -> u64 {
        if self.months >> month & 1 == 0 {
            return 0;
        }
        let all = month_mask(year, month);
        let dom = self.doms & all;
        let dow = self.dow_masks[first_weekday(year, month)] & all;
        if self.dom_star || self.dow_star {
            dom & dow
        } else {
            dom | dow
        }
    }
}

/// A parsed 5-field cron expression with its zone (DESIGN §4).
///
/// Two readings: *points* ([`Schedule::next_after`]) for autostart and the
/// autostop requirement, *ranges* ([`Schedule::contains`],
/// [`Schedule::next_change`]) for prebuild schedules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub(crate) zone_name: String,
    pub(crate) tz: TimeZone,
    pub(crate) fields: Fields,
    /// Normalised field texts: minute, hour, day-of-month, month, day-of-week.
    pub(crate) texts: [String; 5],
}

const ZONE_PREFIX: &str = "CRON_TZ=";

/// Longest schedule accepted, in bytes: any meaningful schedule fits many
/// times over, and every list that shows schedules stays small.
pub const MAX_SCHEDULE_LENGTH: usize = 256;

impl Schedule {
    /// Parses any 5-field expression with an optional `CRON_TZ=<IANA zone> `
    /// prefix. Without a prefix the zone is UTC (as in Coder: never the
    /// server's local zone); `CRON_TZ=Local` is refused. Descriptors such as
    /// `@daily` and a seconds field are not part of the dialect.
    pub fn parse(s: &str) -> Result<Schedule, CronError> {
        let s = s.trim();
        if s.len() > MAX_SCHEDULE_LENGTH {
            return Err(CronError::TooLong {
                length: s.len(),
                max: MAX_SCHEDULE_LENGTH,
            });
        }
        match s.strip_prefix(ZONE_PREFIX) {
            Some(rest) => {
                let (zone, cron) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                Self::build(s, cron, zone)
            }
            None => Self::build(s, s, "UTC"),
        }
    }

    /// [`Schedule::parse`] plus the autostart rule: day-of-month and month
    /// must be `*` (a weekly schedule). Coder's `cron.Weekly` does the same
    /// but, with six fields, drops the first without checking it is a zone.
    pub fn parse_weekly(s: &str) -> Result<Schedule, CronError> {
        let sched = Self::parse(s)?;
        sched.ensure_weekly()?;
        Ok(sched)
    }

    /// A cron without prefix plus an explicit zone (a prebuild preset's
    /// `scheduling.timezone`).
    pub fn parse_in_zone(cron: &str, zone: &str) -> Result<Schedule, CronError> {
        let cron = cron.trim();
        if cron.len() > MAX_SCHEDULE_LENGTH {
            return Err(CronError::TooLong {
                length: cron.len(),
                max: MAX_SCHEDULE_LENGTH,
            });
        }
        if cron.starts_with(ZONE_PREFIX) {
            return Err(CronError::ZoneTwice {
                cron: cron.to_string(),
            });
        }
        Self::build(cron, cron, zone.trim())
    }

    /// [`Schedule::parse`] plus the quiet-hours rule (Coder's `cron.Daily`):
    /// day-of-month, month and day-of-week must all be `*`.
    pub fn parse_daily(s: &str) -> Result<Schedule, CronError> {
        let sched = Self::parse(s)?;
        if sched.texts[2..].iter().all(|t| t == "*") {
            Ok(sched)
        } else {
            Err(CronError::NotDaily {
                dates: sched.texts[2..].join(" "),
            })
        }
    }

    /// `CRON_TZ=UTC 0 0 * * *`, built without parsing so it cannot fail.
    pub(crate) fn midnight_utc() -> Schedule {
        let all_days = (1u64 << 32) - 2;
        let all_dows = (1u64 << 7) - 1;
        let star = || "*".to_string();
        Schedule {
            zone_name: "UTC".to_string(),
            tz: TimeZone::UTC,
            fields: Fields {
                minutes: 1,
                hours: 1,
                doms: all_days,
                months: (1u64 << 13) - 2,
                dows: all_dows,
                dom_star: true,
                dow_star: true,
                dow_masks: dow_month_masks(all_dows),
            },
            texts: ["0".to_string(), "0".to_string(), star(), star(), star()],
        }
    }

    pub(crate) fn ensure_weekly(&self) -> Result<(), CronError> {
        if self.texts[2] == "*" && self.texts[3] == "*" {
            Ok(())
        } else {
            Err(CronError::NotWeekly {
                dom: self.texts[2].clone(),
                month: self.texts[3].clone(),
            })
        }
    }

    fn build(input: &str, cron: &str, zone: &str) -> Result<Schedule, CronError> {
        let (zone_name, tz) = load_zone(zone)?;
        let parts: Vec<&str> = cron.split_whitespace().collect();
        let [mi, h, dom, mo, dow] = parts[..] else {
            return Err(CronError::FieldCount {
                input: input.to_string(),
                found: parts.len(),
            });
        };
        let (mi, h, dom, mo, dow) = (
            MINUTE.parse(mi)?,
            HOUR.parse(h)?,
            DOM.parse(dom)?,
            MONTH.parse(mo)?,
            DOW.parse(dow)?,
        );
        let fields = Fields {
            minutes: mi.bits & ALL_MINUTES,
            hours: h.bits & ALL_HOURS,
            doms: dom.bits,
            months: mo.bits,
            dows: dow.bits,
            dom_star: dom.star,
            dow_star: dow.star,
            dow_masks: dow_month_masks(dow.bits),
        };
        Ok(Schedule {
            zone_name,
            tz,
            fields,
            texts: [mi.text, h.text, dom.text, mo.text, dow.text],
        })
    }

    /// The IANA name as the time zone database spells it (e.g. `UTC`,
    /// `Europe/Berlin`).
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The cron part without the zone, normalised (`30 9 * * 1-5`).
    pub fn cron(&self) -> String {
        self.texts.join(" ")
    }

    /// True when day-of-month and month are `*` (valid for autostart).
    pub fn is_weekly(&self) -> bool {
        self.ensure_weekly().is_ok()
    }

    /// Coder's `Humanize()`: `9:30AM Mon-Fri (UTC)`. The time is a 12-hour
    /// clock when minute and hour are single values, else `cron(<min>
    /// <hour>)`; days are `daily` for `*`, else day names. Coder replaces
    /// the first occurrence of each digit in the raw field (so `*/2` would
    /// become `*/Tue`); we map whole values. Non-weekly schedules show their
    /// date fields as `cron(<dom> <month> <dow>)` rather than pretending to
    /// be weekly.
    pub fn humanize(&self) -> String {
        let [mi, h, dom, mo, dow] = &self.texts;
        let time = match (mi.parse::<u32>(), h.parse::<u32>()) {
            (Ok(m), Ok(h)) => {
                let (h12, ampm) = match h {
                    0 => (12, "AM"),
                    1..=11 => (h, "AM"),
                    12 => (12, "PM"),
                    _ => (h - 12, "PM"),
                };
                format!("{h12}:{m:02}{ampm}")
            }
            _ => format!("cron({mi} {h})"),
        };
        let days = if !self.is_weekly() {
            format!("cron({dom} {mo} {dow})")
        } else if dow == "*" {
            "daily".to_string()
        } else {
            dow_names(dow)
        };
        format!("{time} {days} ({})", self.zone_name)
    }
}

/// `1-5` -> `Mon-Fri`, `0,6` -> `Sun,Sat`; steps keep their number.
fn dow_names(text: &str) -> String {
    const NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let name = |s: &str| match s.parse::<usize>() {
        Ok(n) if n < 7 => NAMES[n].to_string(),
        _ => s.to_string(),
    };
    text.split(',')
        .map(|item| {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => (r, format!("/{s}")),
                None => (item, String::new()),
            };
            let range = match range.split_once('-') {
                Some((a, b)) => format!("{}-{}", name(a), name(b)),
                None => name(range),
            };
            range + &step
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Zone names the database knows but that mean "whatever this machine is
/// set to" (or nothing): a stored schedule must mean the same instants on
/// every server.
const MACHINE_ZONES: [&str; 4] = ["Local", "localtime", "posixrules", "Factory"];

/// The time zone database: the copy compiled into the binary, never the
/// host's, so every replica and every host (containers without
/// `/usr/share/zoneinfo` included) resolves a zone the same way.
pub fn zone_database() -> &'static jiff::tz::TimeZoneDatabase {
    static DB: std::sync::OnceLock<jiff::tz::TimeZoneDatabase> = std::sync::OnceLock::new();
    DB.get_or_init(jiff::tz::TimeZoneDatabase::bundled)
}

/// Resolves an IANA zone name without regard to case, returning its
/// canonical spelling (`europe/berlin` -> `Europe/Berlin`). `Local`,
/// `localtime`, `posixrules` and `Factory` are refused.
pub fn load_zone(zone: &str) -> Result<(String, TimeZone), CronError> {
    if let Some(machine) = MACHINE_ZONES.iter().find(|m| m.eq_ignore_ascii_case(zone)) {
        return Err(CronError::MachineZone {
            zone: (*machine).to_string(),
        });
    }
    let unknown = || CronError::UnknownZone {
        zone: zone.to_string(),
    };
    if zone.is_empty() || zone.len() > MAX_ZONE_NAME {
        return Err(unknown());
    }
    let db = zone_database();
    let tz = db.get(zone).map_err(|_| unknown())?;
    let name = match tz.iana_name() {
        Some(name) if name != zone => name.to_string(),
        _ => db
            .available()
            .find(|name| name.as_str().eq_ignore_ascii_case(zone))
            .map(|name| name.as_str().to_string())
            .unwrap_or_else(|| zone.to_string()),
    };
    Ok((name, tz))
}

/// No IANA name is longer (the longest is 32 bytes).
const MAX_ZONE_NAME: usize = 64;

impl fmt::Display for Schedule {
    /// Normalised form: zone prefix always present, names as numbers,
    /// single spaces (`CRON_TZ=UTC 30 9 * * 1-5`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ZONE_PREFIX}{} {}", self.zone_name, self.cron())
    }
}

impl std::str::FromStr for Schedule {
    type Err = CronError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Schedule::parse(s)
    }
}
