//! Time as pictures, rendered by the server as SVG: a week laid out as one
//! row per local day of the viewer's zone. Rows are as long as their day
//! really is (23 or 25 hours on DST change days), and everything is placed
//! at its true instant, so a DST change shows as it happens rather than
//! being papered over. All drawing is pure: data in, markup out.

use std::fmt::Write as _;

use dayshift_lifecycle::projection::Run;
use dayshift_schedule::{SignedDuration, Timestamp};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use maud::{html, Markup};

/// Width of the day labels.
const LABEL_W: f64 = 96.0;
/// Horizontal scale: pixels per hour.
const PX_PER_HOUR: f64 = 30.0;
/// Height of one day's row and its bar.
const ROW_H: f64 = 26.0;
const BAR_H: f64 = 16.0;
/// Room for the hour axis above the rows.
const AXIS_H: f64 = 18.0;
/// Wide enough for a 25-hour day.
const WIDTH: f64 = LABEL_W + 25.0 * PX_PER_HOUR + 8.0;

/// One local day.
#[derive(Debug, Clone)]
pub struct Day {
    pub date: Date,
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Day {
    pub fn hours(&self) -> f64 {
        self.end.duration_since(self.start).as_secs_f64() / 3600.0
    }
}

/// The local days from `now`'s date on, in `zone`.
#[derive(Debug, Clone)]
pub struct Week {
    pub zone: TimeZone,
    pub zone_name: String,
    pub days: Vec<Day>,
}

impl Week {
    pub fn new(zone: TimeZone, zone_name: &str, now: Timestamp, days: usize) -> Week {
        let today = now.to_zoned(zone.clone()).date();
        let start_of = |date: Date| {
            date.to_zoned(zone.clone())
                .and_then(|z| z.start_of_day())
                .map(|z| z.timestamp())
                .ok()
        };
        let mut out = Vec::with_capacity(days);
        let mut date = today;
        for _ in 0..days {
            let Ok(next) = date.tomorrow() else { break };
            if let (Some(start), Some(end)) = (start_of(date), start_of(next)) {
                out.push(Day { date, start, end });
            }
            date = next;
        }
        Week {
            zone,
            zone_name: zone_name.to_string(),
            days: out,
        }
    }

    pub fn start(&self) -> Timestamp {
        self.days.first().map_or(Timestamp::UNIX_EPOCH, |d| d.start)
    }

    pub fn end(&self) -> Timestamp {
        self.days.last().map_or(Timestamp::UNIX_EPOCH, |d| d.end)
    }

    fn height(&self) -> f64 {
        AXIS_H + ROW_H * self.days.len() as f64 + 4.0
    }

    fn row_y(i: usize) -> f64 {
        AXIS_H + ROW_H * i as f64
    }

    fn x(day: &Day, t: Timestamp) -> f64 {
        LABEL_W + t.duration_since(day.start).as_secs_f64() / 3600.0 * PX_PER_HOUR
    }

    /// `Mon 4 Jan` and, on a DST change day, its length.
    fn label(&self, day: &Day) -> String {
        let mut label = day.date.strftime("%a %-d %b").to_string();
        let hours = day.hours();
        if (hours - 24.0).abs() > 0.01 {
            let _ = write!(label, " ({}h)", format_hours(hours));
        }
        label
    }

    /// `09:00 CET` in the week's zone.
    pub fn clock(&self, t: Timestamp) -> String {
        t.to_zoned(self.zone.clone())
            .strftime("%a %H:%M %Z")
            .to_string()
    }

    /// Day rows with hour grid lines at each local hour, the axis, and the
    /// `now` line; `inner` draws on top.
    fn frame(&self, now: Timestamp, title: &str, inner: Markup) -> Markup {
        let (w, h) = (WIDTH, self.height());
        html! {
            svg viewBox=(format!("0 0 {w} {h}")) width=(w) height=(h) role="img" aria-label=(title) {
                title { (title) }
                @for hour in (0..=24).step_by(3) {
                    text class="tick" x=(f(LABEL_W + hour as f64 * PX_PER_HOUR)) y="12" text-anchor="middle" {
                        (format!("{hour:02}"))
                    }
                }
                @for (i, day) in self.days.iter().enumerate() {
                    @let y = Self::row_y(i);
                    text x="0" y=(f(y + BAR_H - 3.0)) { (self.label(day)) }
                    rect class="day" x=(f(LABEL_W)) y=(f(y)) width=(f(day.hours() * PX_PER_HOUR)) height=(f(BAR_H)) {}
                    @for mark in local_hour_marks(day, &self.zone) {
                        line class="grid-line" x1=(f(Self::x(day, mark))) x2=(f(Self::x(day, mark)))
                            y1=(f(y)) y2=(f(y + BAR_H)) {}
                    }
                }
                (inner)
                @for (i, day) in self.days.iter().enumerate() {
                    @if now >= day.start && now < day.end {
                        @let x = Self::x(day, now);
                        line class="now" x1=(f(x)) x2=(f(x)) y1=(f(Self::row_y(i) - 2.0)) y2=(f(Self::row_y(i) + BAR_H + 2.0)) {
                            title { "now: " (self.clock(now)) }
                        }
                    }
                }
            }
        }
    }

    /// The part of `[from, until)` in each day, as (row, x1, x2).
    fn segments(&self, from: Timestamp, until: Timestamp) -> Vec<(usize, f64, f64)> {
        self.days
            .iter()
            .enumerate()
            .filter_map(|(i, day)| {
                let a = from.max(day.start);
                let b = until.min(day.end);
                (b > a).then(|| (i, Self::x(day, a), Self::x(day, b)))
            })
            .collect()
    }

    fn point(&self, t: Timestamp) -> Option<(usize, f64)> {
        self.days
            .iter()
            .position(|d| t >= d.start && t < d.end)
            .map(|i| (i, Self::x(&self.days[i], t)))
    }
}

/// The instants in `day` at which a local hour begins (skipping the
/// midnight that starts the day).
fn local_hour_marks(day: &Day, zone: &TimeZone) -> Vec<Timestamp> {
    let mut marks = Vec::new();
    let mut t = day.start;
    while marks.len() < 26 {
        // The next whole hour of local time: offsets may be half hours, so
        // step in local time rather than by 3,600 seconds.
        let Ok(next) = t
            .to_zoned(zone.clone())
            .checked_add(SignedDuration::from_hours(1))
            .and_then(|z| {
                z.round(
                    jiff::ZonedRound::new()
                        .smallest(jiff::Unit::Hour)
                        .mode(jiff::RoundMode::Trunc),
                )
            })
        else {
            break;
        };
        let next = next.timestamp();
        if next <= t || next >= day.end {
            break;
        }
        marks.push(next);
        t = next;
    }
    marks
}

fn f(v: f64) -> String {
    format!("{v:.1}")
}

fn format_hours(h: f64) -> String {
    if (h - h.round()).abs() < 0.01 {
        format!("{}", h.round() as i64)
    } else {
        format!("{h:.1}")
    }
}

/// A workspace's coming week: its runs as bars, autostarts and stops as
/// marks, and a text list of the next events for screen readers and for
/// reading at a glance.
pub fn workspace_week(week: &Week, now: Timestamp, runs: &[Run]) -> Markup {
    let until = week.end();
    let mut events: Vec<(Timestamp, &str)> = Vec::new();
    for run in runs {
        if run.autostart && run.start >= now && run.start < until {
            events.push((run.start, "starts"));
        }
        if let Some(stop) = run.stop.filter(|s| *s >= now && *s < until) {
            events.push((stop, "stops"));
        }
    }
    let title = format!("The coming week in {}", week.zone_name);
    let inner = html! {
        @for run in runs {
            @for (row, x1, x2) in week.segments(run.start.max(now), run.stop.unwrap_or(until)) {
                rect class="run" x=(f(x1)) y=(f(Week::row_y(row) + 3.0)) width=(f((x2 - x1).max(1.0))) height=(f(BAR_H - 6.0)) {
                    title { "running " (week.clock(run.start.max(now))) " – " (run.stop.map_or("until stopped".to_string(), |s| week.clock(s))) }
                }
            }
        }
        @for (at, what) in &events {
            @if let Some((row, x)) = week.point(*at) {
                @let y = Week::row_y(row);
                @if *what == "starts" {
                    path class="start" d=(format!("M{} {}l-5 -7h10z", f(x), f(y + BAR_H + 6.0))) {
                        title { "autostart " (week.clock(*at)) }
                    }
                } @else {
                    path class="stop" d=(format!("M{} {}l-5 7h10z", f(x), f(y - 5.0))) {
                        title { "stop " (week.clock(*at)) }
                    }
                }
            }
        }
    };
    html! {
        figure {
            (week.frame(now, &title, inner))
            figcaption class="muted" {
                "Times in " strong { (week.zone_name) } "; bars are when it runs, ▲ autostarts, ▼ stops."
            }
            @if events.is_empty() {
                p { "Nothing is scheduled this week." }
            } @else {
                ul class="events" {
                    @for (at, what) in events.iter().take(6) {
                        li { (what) " " (week.clock(*at)) }
                    }
                }
            }
        }
    }
}

/// How many workspaces run in each hour of the week (one cell per real
/// hour from each local midnight), shaded by count.
pub fn fleet_week(week: &Week, now: Timestamp, hours: &[(Timestamp, i64)]) -> Markup {
    let max = hours.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let title = format!(
        "Workspaces scheduled to run in each hour, in {}",
        week.zone_name
    );
    let inner = html! {
        @for (start, count) in hours {
            @if *count > 0 {
                @if let Some((row, x)) = week.point(*start) {
                    rect class="run" x=(f(x)) y=(f(Week::row_y(row))) width=(f(PX_PER_HOUR - 1.0)) height=(f(BAR_H))
                        fill-opacity=(format!("{:.2}", 0.15 + 0.85 * *count as f64 / max as f64)) {
                        title { (week.clock(*start)) ": " (count) " running" }
                    }
                }
            }
        }
    };
    html! {
        figure {
            (week.frame(now, &title, inner))
            figcaption class="muted" {
                "Times in " strong { (week.zone_name) } "; darker = more workspaces running (most: " (max) ")."
            }
        }
    }
}

/// A prebuild pool's desired instances over the week as a step chart:
/// `steps` are (from, desired) pairs in time order.
pub fn pool_steps(
    zone: &TimeZone,
    zone_name: &str,
    now: Timestamp,
    until: Timestamp,
    steps: &[(Timestamp, i64)],
    current: i64,
) -> Markup {
    const H: f64 = 120.0;
    const TOP: f64 = 14.0;
    const LEFT: f64 = 30.0;
    let width = WIDTH;
    let plot_w = width - LEFT - 8.0;
    let span = until.duration_since(now).as_secs_f64().max(1.0);
    let max = steps
        .iter()
        .map(|(_, n)| *n)
        .chain([current, 1])
        .max()
        .unwrap_or(1) as f64;
    let x = |t: Timestamp| LEFT + t.duration_since(now).as_secs_f64() / span * plot_w;
    let y = |n: i64| TOP + H - n as f64 / max * H;
    let mut d = String::new();
    for (i, (at, n)) in steps.iter().enumerate() {
        let (px, py) = (x((*at).max(now)), y(*n));
        if i == 0 {
            let _ = write!(d, "M{} {}", f(px), f(py));
        } else {
            let _ = write!(d, "H{}V{}", f(px), f(py));
        }
    }
    let _ = write!(d, "H{}", f(x(until)));
    let midnights: Vec<(Timestamp, String)> = {
        let mut out = Vec::new();
        let mut date = now.to_zoned(zone.clone()).date();
        for _ in 0..8 {
            let Ok(next) = date.tomorrow() else { break };
            if let Ok(start) = next.to_zoned(zone.clone()).and_then(|z| z.start_of_day()) {
                let t = start.timestamp();
                if t < until {
                    out.push((t, next.strftime("%a %-d").to_string()));
                }
            }
            date = next;
        }
        out
    };
    let height = TOP + H + 22.0;
    html! {
        svg viewBox=(format!("0 0 {width} {height}")) width=(width) height=(height) role="img"
            aria-label=(format!("Desired prebuilds over the coming week, in {zone_name}")) {
            title { "Desired prebuilds over the coming week, in " (zone_name) }
            line class="grid-line" x1=(f(LEFT)) x2=(f(LEFT + plot_w)) y1=(f(y(0))) y2=(f(y(0))) {}
            text class="tick" x="0" y=(f(y(0) + 4.0)) { "0" }
            text class="tick" x="0" y=(f(y(max as i64) + 4.0)) { (max as i64) }
            @for (t, label) in &midnights {
                line class="grid-line" x1=(f(x(*t))) x2=(f(x(*t))) y1=(f(TOP)) y2=(f(TOP + H)) {}
                text class="tick" x=(f(x(*t) + 3.0)) y=(f(TOP + H + 14.0)) { (label) }
            }
            path class="step" d=(d) {}
            circle class="start" cx=(f(LEFT)) cy=(f(y(current))) r="4" {
                title { "now: " (current) " ready or starting" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn days_follow_dst_in_the_viewers_zone() {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        // Saturday 2027-03-27, the day before the spring change.
        let week = Week::new(zone.clone(), "Europe/Berlin", t("2027-03-27T12:00:00Z"), 7);
        assert_eq!(week.days.len(), 7);
        assert_eq!(week.days[0].start, t("2027-03-26T23:00:00Z"));
        assert_eq!(
            week.days[1].hours(),
            23.0,
            "Sunday 28 March is 23 hours long"
        );
        assert_eq!(week.days[2].start, t("2027-03-28T22:00:00Z"));
        assert_eq!(local_hour_marks(&week.days[1], &zone).len(), 22);
        assert!(week.label(&week.days[1]).ends_with("(23h)"));
        let autumn = Week::new(zone.clone(), "Europe/Berlin", t("2027-10-31T12:00:00Z"), 1);
        assert_eq!(autumn.days[0].hours(), 25.0);
        assert_eq!(local_hour_marks(&autumn.days[0], &zone).len(), 24);
    }

    #[test]
    fn runs_are_drawn_where_they_happen() {
        let zone = TimeZone::get("UTC").unwrap();
        let now = t("2027-01-04T08:00:00Z");
        let week = Week::new(zone, "UTC", now, 7);
        let runs = [Run {
            start: t("2027-01-04T09:00:00Z"),
            stop: Some(t("2027-01-04T17:00:00Z")),
            autostart: true,
        }];
        let svg = workspace_week(&week, now, &runs).into_string();
        // 09:00 is 9 hours into the first row.
        assert!(
            svg.contains(&format!("x=\"{}\"", f(LABEL_W + 9.0 * PX_PER_HOUR))),
            "{svg}"
        );
        assert!(svg.contains("starts Mon 09:00 UTC"), "{svg}");
        assert!(svg.contains("stops Mon 17:00 UTC"), "{svg}");
    }
}
