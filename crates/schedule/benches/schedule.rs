//! Ours vs croner (and the `cron` crate where it has the operation) on the
//! same realistic expressions and instants, in one run:
//!
//! `cargo bench -p dayshift-schedule --bench schedule -- --warm-up-time 1 --measurement-time 2`
//!
//! croner and `cron` take chrono times; for zoned expressions they get a
//! chrono `TimeZone` backed by jiff's zone (chrono-tz is not a dependency of
//! this workspace), so all three read the same tz database.

use chrono::{FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, TimeZone as _};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use dayshift_schedule::{Schedule, Timestamp};
use jiff::tz::AmbiguousOffset;
use std::str::FromStr;

/// (label, our expression, cron crate expression: seconds field first, and
/// day names because it numbers days 1-7 from Sunday)
const EXPRS: &[(&str, &str, &str)] = &[
    ("autostart-utc", "30 9 * * 1-5", "0 30 9 * * Mon-Fri"),
    ("every-5m", "*/5 * * * *", "0 */5 * * * *"),
    ("business-hours", "* 8-18 * * 1-5", "0 * 8-18 * * Mon-Fri"),
    ("yearly", "0 0 1 1 *", "0 0 0 1 1 *"),
    (
        "autostart-berlin",
        "CRON_TZ=Europe/Berlin 30 9 * * 1-5",
        "0 30 9 * * Mon-Fri",
    ),
    (
        "business-new-york",
        "CRON_TZ=America/New_York * 8-18 * * 1-5",
        "0 * 8-18 * * Mon-Fri",
    ),
    (
        "night-lord-howe",
        "CRON_TZ=Australia/Lord_Howe */15 1-2 * * *",
        "0 */15 1-2 * * *",
    ),
];

/// jiff's zone as a chrono `TimeZone`.
#[derive(Clone, Debug)]
struct Zone(jiff::tz::TimeZone);

#[derive(Clone, Debug)]
struct ZoneOffset(Zone, FixedOffset);

impl chrono::Offset for ZoneOffset {
    fn fix(&self) -> FixedOffset {
        self.1
    }
}

impl Zone {
    fn offset(&self, o: jiff::tz::Offset) -> ZoneOffset {
        ZoneOffset(
            self.clone(),
            FixedOffset::east_opt(o.seconds()).expect("offset"),
        )
    }
    fn civil(local: &NaiveDateTime) -> jiff::civil::DateTime {
        use chrono::{Datelike, Timelike};
        jiff::civil::DateTime::new(
            local.year() as i16,
            local.month() as i8,
            local.day() as i8,
            local.hour() as i8,
            local.minute() as i8,
            local.second() as i8,
            0,
        )
        .expect("civil")
    }
}

impl chrono::TimeZone for Zone {
    type Offset = ZoneOffset;
    fn from_offset(offset: &ZoneOffset) -> Self {
        offset.0.clone()
    }
    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<ZoneOffset> {
        self.offset_from_local_datetime(&local.and_hms_opt(0, 0, 0).expect("midnight"))
    }
    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<ZoneOffset> {
        match self.0.to_ambiguous_timestamp(Self::civil(local)).offset() {
            AmbiguousOffset::Unambiguous { offset } => MappedLocalTime::Single(self.offset(offset)),
            AmbiguousOffset::Fold { before, after } => {
                MappedLocalTime::Ambiguous(self.offset(before), self.offset(after))
            }
            AmbiguousOffset::Gap { .. } => MappedLocalTime::None,
        }
    }
    fn offset_from_utc_date(&self, utc: &NaiveDate) -> ZoneOffset {
        self.offset_from_utc_datetime(&utc.and_hms_opt(0, 0, 0).expect("midnight"))
    }
    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> ZoneOffset {
        let t = Timestamp::from_second(utc.and_utc().timestamp()).expect("timestamp");
        self.offset(self.0.to_offset(t))
    }
}

struct Case {
    label: &'static str,
    text: &'static str,
    ours: Schedule,
    croner: croner::Cron,
    cron: cron::Schedule,
    zone: Zone,
}

fn cases() -> Vec<Case> {
    EXPRS
        .iter()
        .map(|&(label, text, cron_text)| {
            let ours = Schedule::parse(text).expect("ours");
            let bare = text
                .split_once(' ')
                .filter(|_| text.starts_with("CRON_TZ="))
                .map_or(text, |(_, c)| c);
            Case {
                label,
                text,
                croner: croner::Cron::new(bare).parse().expect("croner"),
                cron: cron::Schedule::from_str(cron_text).expect("cron"),
                zone: Zone(ours.time_zone().clone()),
                ours,
            }
        })
        .collect()
}

/// 64 instants spread over 2024 at odd seconds (not on a match).
fn instants() -> Vec<Timestamp> {
    let start = 1_704_067_200i64;
    (0..64)
        .map(|i| Timestamp::from_second(start + i * 492_337 + 17).expect("instant"))
        .collect()
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for case in cases() {
        let bare = case
            .text
            .split_once(' ')
            .filter(|_| case.text.starts_with("CRON_TZ="))
            .map_or(case.text, |(_, c)| c);
        g.bench_with_input(BenchmarkId::new("ours", case.label), &case.text, |b, t| {
            b.iter(|| Schedule::parse(black_box(t)))
        });
        g.bench_with_input(BenchmarkId::new("croner", case.label), &bare, |b, t| {
            b.iter(|| croner::Cron::new(black_box(t)).parse())
        });
        let cron_text = EXPRS.iter().find(|e| e.0 == case.label).expect("expr").2;
        g.bench_with_input(BenchmarkId::new("cron", case.label), &cron_text, |b, t| {
            b.iter(|| cron::Schedule::from_str(black_box(t)))
        });
    }
    g.finish();
}

/// Runs `op` once per input, keeping every result alive so the optimiser
/// cannot drop the work.
fn each<T, R>(inputs: &[T], op: impl Fn(&T) -> R) {
    for x in inputs {
        black_box(op(black_box(x)));
    }
}

fn zoned(case: &Case, ts: &[Timestamp]) -> Vec<chrono::DateTime<Zone>> {
    ts.iter()
        .map(|t| case.zone.timestamp_opt(t.as_second(), 0).unwrap())
        .collect()
}

/// Each iteration runs the operation once per instant (64 calls).
fn next_after(c: &mut Criterion) {
    let ts = instants();
    let mut g = c.benchmark_group("next_after");
    for case in cases() {
        let zoned = zoned(&case, &ts);
        g.bench_function(BenchmarkId::new("ours", case.label), |b| {
            b.iter(|| each(&ts, |t| case.ours.next_after(*t)))
        });
        g.bench_function(BenchmarkId::new("croner", case.label), |b| {
            b.iter(|| each(&zoned, |t| case.croner.find_next_occurrence(t, false).ok()))
        });
        g.bench_function(BenchmarkId::new("cron", case.label), |b| {
            b.iter(|| each(&zoned, |t| case.cron.after(t).next()))
        });
    }
    g.finish();
}

fn contains(c: &mut Criterion) {
    let ts = instants();
    let mut g = c.benchmark_group("contains");
    for case in cases() {
        let zoned = zoned(&case, &ts);
        g.bench_function(BenchmarkId::new("ours", case.label), |b| {
            b.iter(|| each(&ts, |t| case.ours.contains(*t)))
        });
        g.bench_function(BenchmarkId::new("croner", case.label), |b| {
            b.iter(|| each(&zoned, |t| case.croner.is_time_matching(t).ok()))
        });
        g.bench_function(BenchmarkId::new("cron", case.label), |b| {
            b.iter(|| each(&zoned, |t| case.cron.includes(t.clone())))
        });
        // Ours starts from an instant; so does this variant, which pays for
        // the instant -> zoned time conversion croner needs first.
        g.bench_function(BenchmarkId::new("croner-from-instant", case.label), |b| {
            b.iter(|| {
                each(&ts, |t| {
                    let local = case.zone.timestamp_opt(t.as_second(), 0).unwrap();
                    case.croner.is_time_matching(&local).ok()
                })
            })
        });
    }
    g.finish();
}

/// Neither croner nor `cron` has this operation: ours only.
fn next_change(c: &mut Criterion) {
    let ts = instants();
    let mut g = c.benchmark_group("next_change");
    for case in cases() {
        g.bench_function(BenchmarkId::new("ours", case.label), |b| {
            b.iter(|| each(&ts, |t| case.ours.next_change(*t)))
        });
    }
    g.finish();
}

criterion_group!(benches, parse, next_after, contains, next_change);
criterion_main!(benches);
