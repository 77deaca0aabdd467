//! Evaluating a [`Schedule`] against instants: points (`next_after`) and
//! ranges (`contains`, `next_change`, `ranges`, `overlaps`).
//!
//! The wall-clock search in `search.rs` finds matching *wall* minutes; this
//! module maps them to instants with the DST rules of DESIGN §4:
//! - points: a matching wall minute in a skipped hour fires at the first
//!   instant after the gap (robfig/Coder skip it; we do not, so a 02:30
//!   autostart still starts on spring-forward day); one in a repeated hour
//!   fires once, at its first occurrence;
//! - ranges: an instant is contained when the wall minute it shows is a
//!   matching one, so a range over a skipped hour is shorter and one over a
//!   repeated hour longer.

use crate::cron::{Fields, Schedule};
use crate::search::{find, Dir, Pattern, Wall};
use jiff::tz::{AmbiguousOffset, Offset};
use jiff::{SignedDuration, Timestamp};

/// How far the searches look. Any satisfiable pattern matches (and, unless
/// it matches everything, fails to match) at least once every 8 years (the
/// worst case is 29 February across a non-leap century year), so 10 years
/// is exhaustive for a single schedule; the cap keeps impossible patterns
/// such as `0 0 30 2 *` from searching to year 9999.
const HORIZON_MONTHS: i64 = 10 * 12;

/// A zone has at most a handful of transitions a year; this bounds the
/// per-transition loops of `next_change`/`range_start` over the horizon even
/// for zones with frequent historical changes.
const MAX_SEGMENTS: usize = 256;

/// The window `overlaps` searches: 400 years is the full Gregorian cycle, so
/// for one zone the answer is exact for any pattern.
const OVERLAP_MONTHS: i64 = 400 * 12;

/// More than any repeated span of wall time in the tz database since 2000
/// (one or two hours almost everywhere), so the fold-aware overlap scan
/// sees every wall minute whose instants can interleave.
const FOLD_MARGIN_HOURS: i64 = 26;

const MINUTE: SignedDuration = SignedDuration::from_secs(60);

impl Schedule {
    fn wall_of(&self, t: Timestamp) -> Wall {
        Wall::of(self.tz.to_datetime(t))
    }

    /// The instant a matching wall minute fires at (points reading): its
    /// first occurrence, or the end of the gap it falls into.
    fn fire_instant(&self, w: Wall) -> Option<Timestamp> {
        let dt = w.to_datetime()?;
        match self.tz.to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
            AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
            AmbiguousOffset::Gap { after, .. } => {
                // Read with the post-gap offset the wall lies before the
                // transition, so the next transition is the gap's end.
                let before_gap = after.to_timestamp(dt).ok()?;
                self.tz
                    .following(before_gap)
                    .next()
                    .map(|tr| tr.timestamp())
            }
        }
    }

    /// The first matching minute strictly after `t` (DESIGN §4 DST rules,
    /// see the module docs). `None` when the expression cannot match (e.g.
    /// `0 0 30 2 *`) or jiff's range (year 9999) is exhausted.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        // Walls map monotonically to fire instants, so the answer is the
        // first matching wall at or after t's own wall minute whose instant
        // is after t. Only inside a repeated hour (t in its second
        // occurrence) do walls map to instants before t; those are skipped.
        let mut from = self.wall_of(t);
        loop {
            let w = find(&self.fields, from, true, Dir::Forward, HORIZON_MONTHS)?;
            let at = self.fire_instant(w)?;
            if at > t {
                return Some(at);
            }
            from = w.step(Dir::Forward);
        }
    }

    /// Successive [`Schedule::next_after`] from `t` (for previews).
    pub fn upcoming(&self, t: Timestamp) -> impl Iterator<Item = Timestamp> + '_ {
        let mut cur = t;
        std::iter::from_fn(move || {
            let next = self.next_after(cur)?;
            cur = next;
            Some(next)
        })
    }

    /// Whether `t` lies in a matching minute (DESIGN §3 exact range
    /// semantics: half-open whole minutes of local wall time). Constant time:
    /// a few bit tests on the wall clock reading of `t`.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.fields.matches(self.wall_of(t))
    }

    /// The next instant after `t` at which [`Schedule::contains`] flips, or
    /// `None` when it never does (e.g. `* * * * *`, or an expression that
    /// never matches).
    ///
    /// Between two transitions of the zone the wall clock is the instant
    /// plus a fixed offset, so the flip is the wall-clock search's answer
    /// read back with that offset; if it lies past the next transition, the
    /// flip may happen at the transition itself (the wall clock jumps),
    /// otherwise the search resumes from there.
    pub fn next_change(&self, t: Timestamp) -> Option<Timestamp> {
        let state = self.contains(t);
        let limit = self.wall_of(t);
        let mut cur = t;
        for _ in 0..MAX_SEGMENTS {
            let offset = self.tz.to_offset(cur);
            let transition = self.tz.following(cur).next().map(|tr| tr.timestamp());
            let from = self.wall_of(cur).step(Dir::Forward);
            let months = self.segment_months(from, transition, limit, Dir::Forward);
            if let Some(w) = find(&self.fields, from, !state, Dir::Forward, months) {
                let at = at_offset(w, offset)?;
                if transition.is_none_or(|tr| at < tr) {
                    return Some(at);
                }
            }
            let tr = transition?;
            if self.contains(tr) != state {
                return Some(tr);
            }
            cur = tr;
        }
        None
    }

    /// For a contained `t`: the start of the maximal range holding `t`, or
    /// `None` when `contains` has been true for the whole horizon (an
    /// always-matching expression).
    fn range_start(&self, t: Timestamp) -> Option<Timestamp> {
        let limit = self.wall_of(t);
        let mut cur = t;
        for _ in 0..MAX_SEGMENTS {
            let offset = self.tz.to_offset(cur);
            let segment_start = cur
                .checked_add(SignedDuration::from_nanos(1))
                .ok()
                .and_then(|c| self.tz.preceding(c).next())
                .map(|tr| tr.timestamp());
            let from = self.wall_of(cur).step(Dir::Backward);
            let months = self.segment_months(from, segment_start, limit, Dir::Backward);
            if let Some(w) = find(&self.fields, from, false, Dir::Backward, months) {
                // The range starts where the last non-matching minute ends.
                let at = at_offset(w, offset)?.checked_add(MINUTE).ok()?;
                if segment_start.is_none_or(|start| at > start) {
                    return Some(at);
                }
            }
            let start = segment_start?;
            let before = start.checked_sub(SignedDuration::from_nanos(1)).ok()?;
            if !self.contains(before) {
                return Some(start);
            }
            cur = before;
        }
        None
    }

    /// Months the wall search may visit from `from` in one segment: up to the
    /// segment's boundary (a transition), and never beyond the overall
    /// horizon counted from the query's wall `limit`.
    fn segment_months(
        &self,
        from: Wall,
        boundary: Option<Timestamp>,
        limit: Wall,
        dir: Dir,
    ) -> i64 {
        let sign = if dir == Dir::Forward { 1 } else { -1 };
        let left = HORIZON_MONTHS - sign * limit.months_until(from);
        let to_boundary = boundary
            .map(|b| sign * from.months_until(self.wall_of(b)) + 1)
            .unwrap_or(i64::MAX);
        left.min(to_boundary)
    }

    /// The first `count` maximal continuous `[start, end)` ranges during
    /// which [`Schedule::contains`] holds that end after `from`; the first
    /// may start before `from`. A range that never ends (or never started
    /// within the horizon) is clamped to `Timestamp::MAX` (`MIN`).
    pub fn ranges(&self, from: Timestamp, count: usize) -> Vec<(Timestamp, Timestamp)> {
        let mut out = Vec::with_capacity(count.min(1024));
        if count == 0 {
            return out;
        }
        let (mut start, mut probe) = if self.contains(from) {
            (self.range_start(from).unwrap_or(Timestamp::MIN), from)
        } else {
            match self.next_change(from) {
                Some(s) => (s, s),
                None => return out,
            }
        };
        while out.len() < count {
            let Some(end) = self.next_change(probe) else {
                out.push((start, Timestamp::MAX));
                break;
            };
            out.push((start, end));
            match self.next_change(end) {
                Some(s) => (start, probe) = (s, s),
                None => break,
            }
        }
        out
    }

    /// Whether some instant lies in both schedules' ranges; returns the
    /// first such instant at or after 2024-01-01T00:00:00Z (a fixed reference
    /// keeps validation messages reproducible). See [`Schedule::overlaps_from`].
    pub fn overlaps(&self, other: &Schedule) -> Option<Timestamp> {
        self.overlaps_from(other, OVERLAP_REFERENCE)
    }

    /// The first instant at or after `from` that both schedules contain.
    ///
    /// Same zone (the case of one preset's schedules): exact. The wall
    /// minutes both match are the product of the intersected day sets and
    /// intersected hour/minute sets, searched over a full 400-year Gregorian
    /// cycle; matches inside a DST gap are skipped because no instant shows
    /// them. Coder's check compares only hours and days and ignores minutes
    /// and steps, so `0-29 9 * * *` and `30-59 9 * * *` "overlap" there; not
    /// here.
    ///
    /// Different zones: alternately jump each schedule to its next range
    /// start until both contain the same instant, within 29 years (one
    /// 28-year weekday cycle of either calendar plus a year).
    pub fn overlaps_from(&self, other: &Schedule, from: Timestamp) -> Option<Timestamp> {
        if self.tz == other.tz {
            self.overlap_same_zone(other, from)
        } else {
            self.overlap_leapfrog(other, from)
        }
    }

    fn overlap_same_zone(&self, other: &Schedule, from: Timestamp) -> Option<Timestamp> {
        let both = Both(&self.fields, &other.fields);
        if self.contains(from) && other.contains(from) {
            return Some(from);
        }
        // Wall minutes and instants come in the same order except around a
        // repeated hour, where a wall minute *before* `from`'s can have its
        // second occurrence after `from`, and a later wall minute can come
        // earlier than an earlier one's second occurrence. So the scan starts
        // a margin before `from`'s wall time and, once it has a candidate,
        // goes on for the same margin past the candidate's wall time, keeping
        // the earliest instant at or after `from`.
        let margin = SignedDuration::from_hours(FOLD_MARGIN_HOURS);
        let start = self.wall_of(from.checked_sub(margin).unwrap_or(from));
        let mut w = start;
        let mut best: Option<(Timestamp, Wall)> = None;
        loop {
            let months = OVERLAP_MONTHS - start.months_until(w);
            let Some(found) = find(&both, w, true, Dir::Forward, months) else {
                return best.map(|(t, _)| t);
            };
            w = found;
            if let Some((t, limit)) = best {
                if w > limit {
                    return Some(t);
                }
            }
            // The wall minute must exist (not in a gap) to be contained.
            let dt = w.to_datetime()?;
            let occurrences = match self.tz.to_ambiguous_timestamp(dt).offset() {
                AmbiguousOffset::Unambiguous { offset } => [Some(offset), None],
                AmbiguousOffset::Fold { before, after } => [Some(before), Some(after)],
                AmbiguousOffset::Gap { .. } => [None, None],
            };
            let earliest = occurrences
                .into_iter()
                .flatten()
                .filter_map(|offset| offset.to_timestamp(dt).ok())
                .filter(|t| *t >= from)
                .min();
            if let Some(t) = earliest {
                if best.is_none_or(|(b, _)| t < b) {
                    let limit = self.wall_of(t.checked_add(margin).unwrap_or(t));
                    best = Some((t, limit));
                }
            }
            w = w.step(Dir::Forward);
        }
    }

    fn overlap_leapfrog(&self, other: &Schedule, from: Timestamp) -> Option<Timestamp> {
        let end = from
            .checked_add(SignedDuration::from_hours(29 * 366 * 24))
            .unwrap_or(Timestamp::MAX);
        let mut t = from;
        while t < end {
            let (a, b) = (self.contains(t), other.contains(t));
            if a && b {
                return Some(t);
            }
            // Move the schedule that does not contain t to its next start.
            t = if a {
                other.next_change(t)?
            } else {
                self.next_change(t)?
            };
        }
        None
    }
}

const OVERLAP_REFERENCE: Timestamp = Timestamp::constant(1_704_067_200, 0);

fn at_offset(w: Wall, offset: Offset) -> Option<Timestamp> {
    offset.to_timestamp(w.to_datetime()?).ok()
}

/// The wall minutes two schedules both match.
struct Both<'a>(&'a Fields, &'a Fields);

impl Pattern for Both<'_> {
    fn minutes(&self) -> u64 {
        self.0.minutes & self.1.minutes
    }
    fn hours(&self) -> u64 {
        self.0.hours & self.1.hours
    }
    fn month_days(&self, year: i32, month: i32) -> u64 {
        self.0.month_days(year, month) & self.1.month_days(year, month)
    }
}
