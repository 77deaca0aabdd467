//! Property tests against a brute-force oracle that walks minute by minute
//! and asks "does this minute match?", using its own reading of the
//! expression (built from the generated structure, not from our parser),
//! plus differential tests against croner in UTC.
//!
//! Case counts are modest so the whole suite stays fast in debug builds.

use chrono::{TimeZone as _, Utc};
use dayshift_schedule::{
    parse_duration, parse_human_schedule, Schedule, SignedDuration, Timestamp, Weekdays,
};
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use proptest::prelude::*;
use std::sync::OnceLock;

const MINUTE: SignedDuration = SignedDuration::from_secs(60);
/// How far the oracle walks from each instant (minutes).
const WINDOW: i64 = 2 * 24 * 60;

#[derive(Clone, Debug, PartialEq)]
enum Item {
    Star(Option<u32>),
    One(u32, Option<u32>),
    Range(u32, u32, Option<u32>),
}

#[derive(Clone, Copy)]
struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const BOUNDS: [Bounds; 5] = [
    Bounds {
        min: 0,
        max: 59,
        names: &[],
    },
    Bounds {
        min: 0,
        max: 23,
        names: &[],
    },
    Bounds {
        min: 1,
        max: 31,
        names: &[],
    },
    Bounds {
        min: 1,
        max: 12,
        names: &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
    },
    Bounds {
        min: 0,
        max: 6,
        names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    },
];

#[derive(Clone, Debug)]
struct Expr {
    fields: [Vec<Item>; 5],
    /// Spell months and days by name where possible.
    names: bool,
}

impl Expr {
    fn text(&self) -> String {
        let parts: Vec<String> = self
            .fields
            .iter()
            .zip(BOUNDS)
            .map(|(items, b)| {
                let v = |n: u32| match (self.names, b.names.is_empty()) {
                    (true, false) => b.names[(n - b.min) as usize].to_string(),
                    _ => n.to_string(),
                };
                let step = |s: &Option<u32>| s.map(|s| format!("/{s}")).unwrap_or_default();
                items
                    .iter()
                    .map(|i| match i {
                        Item::Star(s) => format!("*{}", step(s)),
                        Item::One(a, s) => format!("{}{}", v(*a), step(s)),
                        Item::Range(a, b, s) => format!("{}-{}{}", v(*a), v(*b), step(s)),
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        parts.join(" ")
    }

    fn oracle(&self, tz: TimeZone) -> Oracle {
        let sets: Vec<Vec<bool>> = self
            .fields
            .iter()
            .zip(BOUNDS)
            .map(|(items, b)| {
                let mut set = vec![false; 64];
                for i in items {
                    let (lo, hi, step) = match *i {
                        Item::Star(s) => (b.min, b.max, s.unwrap_or(1)),
                        Item::One(a, None) => (a, a, 1),
                        Item::One(a, Some(s)) => (a, b.max, s),
                        Item::Range(a, c, s) => (a, c, s.unwrap_or(1)),
                    };
                    for v in (lo..=hi).step_by(step as usize) {
                        set[v as usize] = true;
                    }
                }
                set
            })
            .collect();
        let star =
            |items: &Vec<Item>| matches!(items[..], [Item::Star(None)] | [Item::Star(Some(1))]);
        Oracle {
            sets,
            dom_star: star(&self.fields[2]),
            dow_star: star(&self.fields[4]),
            tz,
        }
    }
}

/// The specification, evaluated the slow and obvious way.
struct Oracle {
    sets: Vec<Vec<bool>>,
    dom_star: bool,
    dow_star: bool,
    tz: TimeZone,
}

impl Oracle {
    fn matches(&self, w: DateTime) -> bool {
        let s = &self.sets;
        let dom = s[2][w.day() as usize];
        let dow = s[4][w.weekday().to_sunday_zero_offset() as usize];
        let day = if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        };
        s[0][w.minute() as usize] && s[1][w.hour() as usize] && s[3][w.month() as usize] && day
    }

    fn contains(&self, t: Timestamp) -> bool {
        self.matches(self.tz.to_datetime(t))
    }

    /// Does the points reading fire at the minute-aligned instant `s`?
    /// Either its wall minute matches and this is that wall's first
    /// occurrence, or the wall clock just jumped over a matching minute.
    fn fires_at(&self, s: Timestamp) -> bool {
        let wall = self.tz.to_datetime(s);
        let first = match self.tz.to_ambiguous_timestamp(wall).offset() {
            AmbiguousOffset::Fold { before, .. } => before.to_timestamp(wall).ok() == Some(s),
            _ => true,
        };
        if first && self.matches(wall) {
            return true;
        }
        let mut skipped = self.tz.to_datetime(s - MINUTE) + jiff::Span::new().minutes(1);
        while skipped < wall {
            if self.matches(skipped) {
                return true;
            }
            skipped += jiff::Span::new().minutes(1);
        }
        false
    }
}

/// The first minute boundary strictly after `t`.
fn next_minute(t: Timestamp) -> Timestamp {
    let secs = t.as_second().div_euclid(60) * 60;
    Timestamp::from_second(secs).unwrap() + MINUTE
}

fn zones() -> &'static [String] {
    static ZONES: OnceLock<Vec<String>> = OnceLock::new();
    ZONES.get_or_init(|| {
        // Every zone of the database schedules resolve in, less the ones
        // that mean "this machine's zone" (refused by the dialect).
        let mut z: Vec<String> = dayshift_schedule::zone_database()
            .available()
            .map(|n| n.to_string())
            .collect();
        z.sort();
        z.retain(|n| dayshift_schedule::load_zone(n).is_ok());
        assert!(z.len() > 300, "tz database has only {} zones", z.len());
        z
    })
}

fn item(b: Bounds, allow_one_step: bool) -> impl Strategy<Value = Item> {
    let (min, max) = (b.min, b.max);
    let step = 2..=(max - min).div_ceil(2).max(2);
    let one = (min..=max).prop_map(|a| Item::One(a, None));
    let range = (min..=max, min..=max).prop_map(|(a, c)| Item::Range(a.min(c), a.max(c), None));
    let star_step = step.clone().prop_map(|s| Item::Star(Some(s)));
    let range_step = (min..=max, min..=max, step.clone())
        .prop_map(|(a, c, s)| Item::Range(a.min(c), a.max(c), Some(s)));
    let one_step = (min..=max, step).prop_map(move |(a, s)| Item::One(a, Some(s)));
    if allow_one_step {
        prop_oneof![one, range, star_step, range_step, one_step].boxed()
    } else {
        prop_oneof![one, range, star_step, range_step].boxed()
    }
}

/// A field: `*` with probability `star`, else a list of 1-3 items.
fn field(b: Bounds, star: f64, robfig_forms: bool) -> impl Strategy<Value = Vec<Item>> {
    let stars = if robfig_forms {
        prop_oneof![
            Just(vec![Item::Star(None)]),
            Just(vec![Item::Star(Some(1))])
        ]
        .boxed()
    } else {
        Just(vec![Item::Star(None)]).boxed()
    };
    prop::bool::weighted(star).prop_flat_map(move |is_star| {
        if is_star {
            stars.clone()
        } else {
            prop::collection::vec(item(b, robfig_forms), 1..=3).boxed()
        }
    })
}

/// Random expressions, denser in the date fields so the oracle's window
/// sees matches; `robfig_forms` adds `*/1` and `a/step`, which croner
/// reads differently.
fn expr(robfig_forms: bool) -> impl Strategy<Value = Expr> {
    (
        field(BOUNDS[0], 0.3, robfig_forms),
        field(BOUNDS[1], 0.4, robfig_forms),
        field(BOUNDS[2], 0.75, robfig_forms),
        field(BOUNDS[3], 0.8, robfig_forms),
        field(BOUNDS[4], 0.6, robfig_forms),
        any::<bool>(),
    )
        .prop_map(|(a, b, c, d, e, names)| Expr {
            fields: [a, b, c, d, e],
            names,
        })
}

/// An instant in 2020-2035, half of the time within three hours of one of
/// the zone's transitions (where the DST rules matter).
fn instant(zone: &str) -> impl Strategy<Value = Timestamp> {
    let tz = TimeZone::get(zone).unwrap();
    let (lo, hi) = (1_577_836_800i64, 2_082_758_399i64);
    (
        lo..hi,
        any::<bool>(),
        -180i64..180,
        prop_oneof![Just(0i32), 0..1_000_000_000i32],
    )
        .prop_map(move |(secs, near, delta, nanos)| {
            let base = Timestamp::new(secs, nanos).unwrap();
            if !near {
                return base;
            }
            match tz.following(base).next() {
                Some(tr) => tr.timestamp() + SignedDuration::from_mins(delta),
                None => base,
            }
        })
}

fn case(robfig_forms: bool) -> impl Strategy<Value = (Expr, String, Timestamp)> {
    (expr(robfig_forms), 0..zones().len()).prop_flat_map(|(e, zi)| {
        let zone = zones()[zi].clone();
        (Just(e), Just(zone.clone()), instant(&zone))
    })
}

fn build(e: &Expr, zone: &str) -> (Schedule, Oracle) {
    let s = Schedule::parse(&format!("CRON_TZ={zone} {}", e.text())).unwrap();
    let o = e.oracle(s.time_zone().clone());
    (s, o)
}

/// Cases per property: enough to hit DST corners routinely while the whole
/// crate's tests stay well under a minute in a debug build on 2 cores.
const CASES: u32 = 1500;

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn next_after_matches_oracle((e, zone, t) in case(true)) {
        let (s, o) = build(&e, &zone);
        let ours = s.next_after(t);
        let mut x = next_minute(t);
        let end = x + MINUTE * WINDOW as i32;
        while x < end && ours.is_none_or(|r| x < r) {
            prop_assert!(!o.fires_at(x), "{s} fires at {x}, ours {ours:?} (from {t})");
            x += MINUTE;
        }
        if let Some(r) = ours {
            prop_assert!(r > t);
            prop_assert!(o.fires_at(r), "{s}: ours {r} is not a firing (from {t})");
        }
    }

    #[test]
    fn contains_and_next_change_match_oracle((e, zone, t) in case(true)) {
        let (s, o) = build(&e, &zone);
        let state = o.contains(t);
        prop_assert_eq!(s.contains(t), state, "{} at {}", s, t);
        let ours = s.next_change(t);
        let mut x = next_minute(t);
        let end = x + MINUTE * WINDOW as i32;
        while x < end && ours.is_none_or(|r| x < r) {
            prop_assert_eq!(o.contains(x), state, "{} flips at {}, ours {:?} (from {})", s, x, ours, t);
            x += MINUTE;
        }
        if let Some(r) = ours {
            prop_assert!(r > t);
            prop_assert_ne!(o.contains(r), state, "{} does not flip at {} (from {})", s, r, t);
            prop_assert_eq!(s.contains(r), !state);
        }
    }

    #[test]
    fn ranges_are_maximal_and_ordered((e, zone, t) in case(true)) {
        let (s, o) = build(&e, &zone);
        let ranges = s.ranges(t, 3);
        let mut prev_end: Option<Timestamp> = None;
        for (i, &(a, b)) in ranges.iter().enumerate() {
            prop_assert!(a < b, "{s}: empty range {a}..{b}");
            if a != Timestamp::MIN {
                prop_assert!(o.contains(a), "{s}: {a} not contained");
                prop_assert!(!o.contains(a - SignedDuration::from_nanos(1)), "{s}: range not maximal at {a}");
            }
            if b != Timestamp::MAX {
                prop_assert!(!o.contains(b), "{s}: range end {b} contained");
                prop_assert!(o.contains(b - SignedDuration::from_nanos(1)));
            }
            if i == 0 {
                prop_assert!(b > t);
                prop_assert_eq!(o.contains(t), a <= t);
            }
            if let Some(pe) = prev_end {
                prop_assert!(pe < a);
                prop_assert_eq!(s.next_change(pe), Some(a));
            }
            prev_end = Some(b);
        }
    }

    #[test]
    fn overlaps_same_zone_matches_oracle(
        (e, zone, t) in case(true),
        f in expr(true),
    ) {
        let (a, oa) = build(&e, &zone);
        let (b, ob) = build(&f, &zone);
        let ours = a.overlaps_from(&b, t);
        prop_assert_eq!(ours, b.overlaps_from(&a, t), "not symmetric");
        if let Some(x) = ours {
            prop_assert!(x >= t);
            prop_assert!(oa.contains(x) && ob.contains(x), "{a} / {b}: {x} not in both");
        }
        let mut x = t;
        let end = t + MINUTE * WINDOW as i32;
        while x < end {
            if oa.contains(x) && ob.contains(x) {
                prop_assert!(ours.is_some_and(|r| r <= x), "{a} / {b} share {x}, ours {ours:?}");
                break;
            }
            x = next_minute(x);
        }
    }

    /// croner (UTC, whole seconds): same next occurrence and same matching.
    /// Names are spelled as numbers: croner misreads names in stepped ranges
    /// (`SUN-SUN/2` matches Thursdays there).
    #[test]
    fn agrees_with_croner(mut e in expr(false), secs in 1_577_836_800i64..2_082_758_399) {
        e.names = false;
        let text = e.text();
        let ours = Schedule::parse(&text).unwrap();
        let theirs = croner::Cron::new(&text).parse().unwrap();
        let t = Timestamp::from_second(secs).unwrap();
        let ct = Utc.timestamp_opt(secs, 0).unwrap();
        // croner has a seconds field (0 by default): compare at the minute.
        let minute = Timestamp::from_second(secs - secs % 60).unwrap();
        let cminute = Utc.timestamp_opt(secs - secs % 60, 0).unwrap();
        prop_assert_eq!(ours.contains(t), ours.contains(minute));
        prop_assert_eq!(ours.contains(minute), theirs.is_time_matching(&cminute).unwrap(), "{} at {}", text, minute);
        if let Ok(next) = theirs.find_next_occurrence(&ct, false) {
            let want = Timestamp::from_second(next.timestamp()).unwrap();
            prop_assert_eq!(ours.next_after(t), Some(want), "{} after {}", text, t);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// No input panics; every accepted cron survives its own normalisation.
    #[test]
    fn parsers_never_panic(s in "\\PC{0,40}") {
        let _ = Schedule::parse(&s);
        let _ = parse_human_schedule(&s, "UTC");
        let _ = parse_duration(&s);
        let _ = Weekdays::parse_list(&s);
    }

    #[test]
    fn cron_shaped_inputs_round_trip(
        s in "(CRON_TZ=(UTC|Europe/Berlin|Local|Asia/Kathmandu|X) )?([0-9*/,A-Za-z-]{1,6} ){4}[0-9*/,A-Za-z-]{1,6}"
    ) {
        if let Ok(parsed) = Schedule::parse(&s) {
            prop_assert_eq!(Schedule::parse(&parsed.to_string()), Ok(parsed.clone()));
            let _ = parsed.humanize();
        }
        let _ = parse_human_schedule(&s, "UTC");
    }
}

/// Every zone in the database, a few fixed expressions, against the oracle
/// around each zone's 2024-2025 transitions.
#[test]
fn every_zone_around_its_transitions() {
    let exprs = ["30 2 * * *", "*/20 0-3 * * *", "0 0 * * 0", "* 1 * * *"];
    let from: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
    for zone in zones() {
        let tz = TimeZone::get(zone).unwrap();
        // Real offset changes only (TZif files also list no-op entries).
        let transitions: Vec<Timestamp> = tz
            .following(from)
            .filter(|tr| tz.to_offset(tr.timestamp() - MINUTE) != tr.offset())
            .map(|tr| tr.timestamp())
            .take_while(|t| t.as_second() < 1_767_225_600)
            .take(2)
            .collect();
        for text in exprs {
            let e = Expr {
                fields: parse_for_oracle(text),
                names: false,
            };
            let (s, o) = build(&e, zone);
            for &tr in &transitions {
                let start = next_minute(tr - SignedDuration::from_hours(26));
                let mut x = start;
                let mut expect_next = s.next_after(start);
                while x < tr + SignedDuration::from_hours(26) {
                    assert_eq!(s.contains(x), o.contains(x), "{s} at {x}");
                    if o.fires_at(x) && x > start {
                        assert_eq!(expect_next, Some(x), "{s} from {start}");
                        expect_next = s.next_after(x);
                    }
                    x += MINUTE;
                }
            }
        }
    }
}

/// The few fixed expressions above, as oracle structures.
fn parse_for_oracle(text: &str) -> [Vec<Item>; 5] {
    let f: Vec<Vec<Item>> = text
        .split(' ')
        .map(|field| {
            field
                .split(',')
                .map(|i| {
                    let (r, step) = match i.split_once('/') {
                        Some((r, s)) => (r, Some(s.parse().unwrap())),
                        None => (i, None),
                    };
                    match r.split_once('-') {
                        _ if r == "*" => Item::Star(step),
                        Some((a, b)) => Item::Range(a.parse().unwrap(), b.parse().unwrap(), step),
                        None => Item::One(r.parse().unwrap(), step),
                    }
                })
                .collect()
        })
        .collect();
    f.try_into().unwrap()
}
