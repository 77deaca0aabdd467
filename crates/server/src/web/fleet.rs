//! The fleet view: how many workspaces are scheduled to run in each hour
//! of the coming week, and per template the running hours against
//! always-on. Built from a bounded aggregate (`Store::schedule_groups`:
//! one row per template, schedule and TTL, with a count), each group's
//! schedule projected once with the lifecycle's own rules.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use dayshift_lifecycle::projection::{running_time, Shape};
use dayshift_lifecycle::rules::policy_ttl;
use dayshift_schedule::{Schedule, SignedDuration, Timestamp};
use dayshift_store::{ScheduleGroup, Template};
use maud::{html, Markup};
use serde::Deserialize;

use super::charts::{self, Week};
use super::layout;
use super::session::Viewer;
use super::WebResult;
use crate::state::AppState;

/// Most groups read per request: beyond this, the smallest groups are left
/// out (and the page says how many workspaces that leaves uncounted).
const MAX_GROUPS: i64 = 500;

/// Per template: workspaces with and without a schedule, and hours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateHours {
    pub scheduled: i64,
    pub unscheduled: i64,
    pub running_hours: f64,
    pub always_on_hours: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetWeek {
    /// Each hour of the week (its start) and how many workspaces run in
    /// some part of it.
    pub hours: Vec<(Timestamp, i64)>,
    pub templates: BTreeMap<String, TemplateHours>,
}

impl FleetWeek {
    pub fn total(&self) -> TemplateHours {
        self.templates
            .values()
            .fold(TemplateHours::default(), |acc, t| TemplateHours {
                scheduled: acc.scheduled + t.scheduled,
                unscheduled: acc.unscheduled + t.unscheduled,
                running_hours: acc.running_hours + t.running_hours,
                always_on_hours: acc.always_on_hours + t.always_on_hours,
            })
    }
}

/// Projects each group over `week` and adds it up. Pure.
pub fn project(
    week: &Week,
    groups: &[ScheduleGroup],
    templates: &HashMap<String, Template>,
) -> FleetWeek {
    let (from, until) = (week.start(), week.end());
    let week_hours = until.duration_since(from).as_secs_f64() / 3600.0;
    let mut hours: Vec<(Timestamp, i64)> = Vec::with_capacity(26 * week.days.len());
    for day in &week.days {
        let mut t = day.start;
        while t < day.end {
            hours.push((t, 0));
            t = t
                .checked_add(SignedDuration::from_hours(1))
                .unwrap_or(day.end);
        }
    }
    let mut out = FleetWeek::default();
    for group in groups {
        let Some(template) = templates.get(&group.template_id) else {
            continue;
        };
        let entry = out.templates.entry(template.name.clone()).or_default();
        let policy = &template.policy;
        let schedule = group
            .autostart_schedule
            .as_deref()
            .filter(|_| policy.allow_user_autostart)
            .and_then(|s| Schedule::parse_weekly(s).ok());
        let Some(schedule) = schedule else {
            entry.unscheduled += group.count;
            continue;
        };
        let shape = Shape {
            schedule: Some(&schedule),
            ttl: policy_ttl(policy, group.ttl),
            policy,
        };
        let runs = shape.steady_runs(from, until);
        entry.scheduled += group.count;
        entry.running_hours +=
            group.count as f64 * running_time(&runs, from, until).as_secs_f64() / 3600.0;
        entry.always_on_hours += group.count as f64 * week_hours;
        for run in &runs {
            let stop = run.stop.unwrap_or(until);
            // Hours whose span [h, h+1h) meets [start, stop).
            let first = hours.partition_point(|(h, _)| {
                h.checked_add(SignedDuration::from_hours(1))
                    .is_ok_and(|end| end <= run.start)
            });
            for (h, n) in hours[first..].iter_mut() {
                if *h >= stop {
                    break;
                }
                *n += group.count;
            }
        }
    }
    out.hours = hours;
    out
}

#[derive(Debug, Deserialize)]
pub struct FleetQuery {
    tz: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<FleetQuery>,
) -> WebResult<Markup> {
    let zone_name = query.tz.as_deref().unwrap_or("UTC").trim().to_string();
    let (zone, zone_error) = match layout::zone(&zone_name) {
        Some(z) => (z, None),
        None => (
            jiff::tz::TimeZone::UTC,
            Some(format!("unknown time zone {zone_name:?}; showing UTC")),
        ),
    };
    let shown_zone = if zone_error.is_some() {
        "UTC"
    } else {
        zone_name.as_str()
    };
    let week = Week::new(zone, shown_zone, viewer.now, 7);
    let groups = state.store.schedule_groups(MAX_GROUPS).await?;
    let templates: HashMap<String, Template> = state
        .store
        .templates()
        .await?
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect();
    let fleet = project(&week, &groups, &templates);
    let total = fleet.total();
    let saved = total.always_on_hours - total.running_hours;
    let body = html! {
        h1 { "Fleet" }
        @if let Some(e) = zone_error { p class="flash error" role="alert" { (e) } }
        (layout::zone_picker("/fleet", shown_zone, &[]))
        div class="cards" {
            div class="card" { "Scheduled workspaces" b { (total.scheduled) } }
            div class="card" { "Running hours this week" b { (hours(total.running_hours)) } }
            div class="card" { "Saved against always-on" b { (hours(saved)) }
                @if total.always_on_hours > 0.0 {
                    span class="muted" { (format!("{:.0}", 100.0 * saved / total.always_on_hours)) "% of " (hours(total.always_on_hours)) }
                }
            }
        }
        h2 { "Workspaces running, hour by hour" }
        (charts::fleet_week(&week, viewer.now, &fleet.hours))
        h2 { "Per template" }
        (template_table(&fleet))
        p class="hint" {
            "Projected from each workspace's autostart schedule and TTL with the lifecycle's rules "
            "(allowed days, next-autostart deadline, autostop requirement). Workspaces without a "
            "schedule run only when started by hand and are not counted; dormant workspaces and "
            "unclaimed prebuilds are left out."
        }
    };
    Ok(layout::page(&viewer, "/fleet", "Fleet", body))
}

fn template_table(fleet: &FleetWeek) -> Markup {
    html! {
        table {
            thead { tr {
                th scope="col" { "Template" }
                th scope="col" class="num" { "Scheduled" }
                th scope="col" class="num" { "Without schedule" }
                th scope="col" class="num" { "Running h/week" }
                th scope="col" class="num" { "Always-on h/week" }
                th scope="col" class="num" { "Saved" }
            } }
            tbody {
                @for (name, t) in &fleet.templates {
                    tr {
                        td { a href=(format!("/templates/{}", layout::url_encode(name))) { (name) } }
                        td class="num" { (t.scheduled) }
                        td class="num" { (t.unscheduled) }
                        td class="num" { (hours(t.running_hours)) }
                        td class="num" { (hours(t.always_on_hours)) }
                        td class="num" { (hours(t.always_on_hours - t.running_hours)) }
                    }
                }
                @if fleet.templates.is_empty() {
                    tr { td colspan="6" class="muted" { "No workspaces yet." } }
                }
            }
        }
    }
}

fn hours(h: f64) -> String {
    let rounded = h.round() as i64;
    let mut digits = rounded.abs().to_string();
    let mut grouped = String::new();
    while digits.len() > 3 {
        let tail = digits.split_off(digits.len() - 3);
        grouped = format!(",{tail}{grouped}");
    }
    format!("{}{digits}{grouped} h", if rounded < 0 { "-" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dayshift_store::TemplatePolicy;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn groups_add_up_per_hour_and_per_template() {
        let template = Template {
            id: "t1".into(),
            name: "go".into(),
            active_version_id: "v".into(),
            created_at: t("2027-01-01T00:00:00Z"),
            policy: TemplatePolicy::default(),
        };
        let templates = HashMap::from([("t1".to_string(), template)]);
        let groups = vec![
            ScheduleGroup {
                template_id: "t1".into(),
                autostart_schedule: Some("CRON_TZ=UTC 0 9 * * 1-5".into()),
                ttl: Some(SignedDuration::from_hours(8)),
                count: 1000,
            },
            ScheduleGroup {
                template_id: "t1".into(),
                autostart_schedule: None,
                ttl: None,
                count: 7,
            },
        ];
        // Monday 2027-01-04.
        let week = Week::new(jiff::tz::TimeZone::UTC, "UTC", t("2027-01-04T08:00:00Z"), 7);
        let fleet = project(&week, &groups, &templates);
        let go = &fleet.templates["go"];
        assert_eq!(go.scheduled, 1000);
        assert_eq!(go.unscheduled, 7);
        assert_eq!(go.running_hours, 1000.0 * 40.0);
        assert_eq!(go.always_on_hours, 1000.0 * 168.0);
        assert_eq!(fleet.hours.len(), 168);
        let at = |s: &str| fleet.hours.iter().find(|(h, _)| *h == t(s)).unwrap().1;
        assert_eq!(at("2027-01-04T08:00:00Z"), 0);
        assert_eq!(at("2027-01-04T09:00:00Z"), 1000);
        assert_eq!(at("2027-01-04T16:00:00Z"), 1000);
        assert_eq!(at("2027-01-04T17:00:00Z"), 0);
        assert_eq!(at("2027-01-09T09:00:00Z"), 0, "Saturday");
        assert_eq!(hours(1234567.4), "1,234,567 h");
    }
}
