//! Prebuild pools: per preset its status, the schedule in force, when the
//! desired count next changes, and the desired count over the coming week
//! as a step chart; pause and resume (owners).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use dayshift_lifecycle::prebuilds::PoolSchedule;
use dayshift_schedule::{SignedDuration, Timestamp};
use dayshift_sdk as sdk;
use maud::{html, Markup};
use serde::Deserialize;

use super::charts;
use super::layout::{self, Flash};
use super::session::{Action, Viewer};
use super::WebResult;
use crate::state::AppState;

/// Most steps drawn per pool over a week (a minute-by-minute schedule
/// would otherwise make thousands).
const MAX_STEPS: usize = 500;

/// (instant, desired) from `now` until `until`: where the count changes.
pub fn desired_steps(
    pool: &PoolSchedule,
    now: Timestamp,
    until: Timestamp,
) -> Vec<(Timestamp, i64)> {
    let mut steps = vec![(now, pool.desired(now))];
    let mut t = now;
    while steps.len() < MAX_STEPS {
        match pool.next_change_at(t) {
            Some(next) if next < until => {
                steps.push((next, pool.desired(next)));
                t = next;
            }
            _ => break,
        }
    }
    steps
}

#[derive(Debug, Deserialize)]
pub struct PoolsQuery {
    tz: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<PoolsQuery>,
    Query(flash): Query<Flash>,
) -> WebResult<Markup> {
    let now = viewer.now;
    let until = now
        .checked_add(SignedDuration::from_hours(24 * 7))
        .unwrap_or(now);
    let pools = state.prebuilds.reconciler.status(now).await?;
    let paused = state.prebuilds.reconciler.paused().await?;
    let zone_name = query.tz.as_deref().map(str::trim).filter(|z| !z.is_empty());
    let mut cards = Vec::new();
    for pool in pools.iter().filter(|p| p.active) {
        let Some(preset) = state.store.preset(&pool.preset_id).await? else {
            continue;
        };
        let schedule = PoolSchedule::from_preset(&preset);
        // Default to the pool's own scheduling zone.
        let own_zone = preset
            .scheduling
            .as_ref()
            .map_or("UTC".to_string(), |s| s.timezone.clone());
        let name = zone_name.map_or(own_zone, str::to_string);
        let zone = layout::zone(&name).unwrap_or(jiff::tz::TimeZone::UTC);
        let current = pool.counts.eligible + pool.counts.starting;
        let chart = match &schedule {
            Ok(schedule) => charts::pool_steps(
                &zone,
                &name,
                now,
                until,
                &desired_steps(schedule, now, until),
                current,
            ),
            Err(e) => html! { p class="flash error" { (e.to_string()) } },
        };
        cards.push(html! {
            section aria-labelledby=(format!("pool-{}", pool.preset_id)) {
                h2 id=(format!("pool-{}", pool.preset_id)) { (pool.template_name) " / " (pool.preset_name) }
                table { tbody {
                    tr { th scope="row" { "Desired now" } td { (pool.desired) } }
                    tr { th scope="row" { "Running / starting / ready" } td { (pool.counts.running) " / " (pool.counts.starting) " / " (pool.counts.eligible) } }
                    tr { th scope="row" { "Schedule in force" } td {
                        @match &pool.schedule_in_force { Some(c) => code { (c) }, None => "default" }
                        @if let Some(s) = &preset.scheduling { span class="muted" { " (" (s.timezone) ")" } }
                    } }
                    tr { th scope="row" { "Next change" } td {
                        @match pool.next_change_at {
                            Some(at) => { (layout::local_time(at, &zone)) ", " (layout::countdown(at, now)) }
                            None => "none",
                        }
                    } }
                    @if pool.hard_limited { tr { th scope="row" { "State" } td { span class="badge bad" { "hard-limited: push a new version" } } } }
                    @if let Some(until) = pool.backoff_until { tr { th scope="row" { "Backing off until" } td { (layout::local_time(until, &zone)) } } }
                    @if let Some(e) = &pool.error { tr { th scope="row" { "Error" } td { (e) } } }
                } }
                (chart)
            }
        });
    }
    let body = html! {
        h1 { "Prebuilds" }
        (flash.render())
        p {
            "Reconciliation is " strong { @if paused { "paused" } @else { "running" } } "."
            @if viewer.is_owner() {
                " "
                form method="post" action="/prebuilds/settings" class="inline" {
                    (layout::csrf(&viewer))
                    input type="hidden" name="paused" value=(if paused { "false" } else { "true" });
                    button type="submit" { @if paused { "Resume" } @else { "Pause" } }
                }
            }
        }
        (layout::zone_picker("/prebuilds", zone_name.unwrap_or(""), &[]))
        p class="hint" { "Charts default to each pool's own scheduling zone." }
        @if cards.is_empty() { p class="muted" { "No prebuild pools: a template's presets declare them." } }
        @for card in &cards { (card) }
    };
    Ok(layout::page(&viewer, "/prebuilds", "Prebuilds", body))
}

/// Pause or resume, through the API's settings handler (owners only).
pub async fn settings(State(state): State<AppState>, action: Action) -> WebResult<Response> {
    let paused = action.fields.get("paused") == "true";
    let result = crate::routes::prebuilds::update_settings(
        State(state.clone()),
        action.viewer.user.clone(),
        crate::extract::Json(sdk::PrebuildSettings {
            reconciliation_paused: paused,
        }),
    )
    .await
    .map(|_| {
        if paused {
            "Reconciliation paused.".to_string()
        } else {
            "Reconciliation resumed.".to_string()
        }
    })
    .map_err(|e| e.body.message);
    Ok(Redirect::to(&layout::with_flash("/prebuilds", result)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dayshift_store::{PresetSchedule, PresetScheduling};

    #[test]
    fn steps_follow_the_schedule_through_the_week() {
        let scheduling = PresetScheduling {
            timezone: "Europe/Berlin".into(),
            schedule: vec![PresetSchedule {
                cron: "* 8-18 * * 1-5".into(),
                instances: 3,
            }],
        };
        let pool = PoolSchedule::new(0, Some(&scheduling)).unwrap();
        // Monday 2027-01-04 06:00 UTC = 07:00 in Berlin.
        let now: Timestamp = "2027-01-04T06:00:00Z".parse().unwrap();
        let until = now.checked_add(SignedDuration::from_hours(24 * 7)).unwrap();
        let steps = desired_steps(&pool, now, until);
        assert_eq!(steps[0].1, 0);
        assert_eq!(steps[1], ("2027-01-04T07:00:00Z".parse().unwrap(), 3));
        assert_eq!(steps[2], ("2027-01-04T18:00:00Z".parse().unwrap(), 0));
        assert_eq!(steps.len(), 11, "five working days, on and off");
    }
}
