//! Templates: their policies (editable by owners through the API's update
//! handler, so validation is the API's and the CLI's), versions and
//! presets.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use dayshift_schedule::{Weekday, Weekdays};
use dayshift_sdk as sdk;
use dayshift_store::{Page, Template};
use maud::{html, Markup};

use super::layout::{self, Fields, Flash};
use super::session::{Action, Viewer};
use super::workspaces::{duration_field, ms};
use super::WebResult;
use crate::error::{ApiErr, ApiResult};
use crate::routes::templates::{find_template, manifest_of};
use crate::state::AppState;

/// Versions listed on a template's page.
const VERSIONS: u32 = 20;

const WEEK: [(Weekday, &str); 7] = [
    (Weekday::Monday, "monday"),
    (Weekday::Tuesday, "tuesday"),
    (Weekday::Wednesday, "wednesday"),
    (Weekday::Thursday, "thursday"),
    (Weekday::Friday, "friday"),
    (Weekday::Saturday, "saturday"),
    (Weekday::Sunday, "sunday"),
];

fn day_names(days: Weekdays) -> String {
    if days == Weekdays::ALL {
        return "every day".into();
    }
    if days.is_empty() {
        return "none".into();
    }
    WEEK.iter()
        .filter(|(d, _)| days.contains(*d))
        .map(|(_, n)| &n[..3])
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn list(State(state): State<AppState>, viewer: Viewer) -> WebResult<Markup> {
    let templates = state.store.templates().await?;
    let body = html! {
        h1 { "Templates" }
        table {
            thead { tr {
                th scope="col" { "Template" }
                th scope="col" { "Default TTL" }
                th scope="col" { "Activity bump" }
                th scope="col" { "Autostart days" }
                th scope="col" { "Autostop requirement" }
                th scope="col" { "Dormancy" }
            } }
            tbody {
                @for t in &templates {
                    @let p = &t.policy;
                    tr {
                        td { a href=(format!("/templates/{}", layout::url_encode(&t.name))) { (t.name) } }
                        td { (layout::duration_or_off(p.default_ttl)) }
                        td { (layout::duration_or_off(p.activity_bump)) }
                        td { (day_names(p.autostart_requirement_days)) }
                        td { (day_names(p.autostop_requirement_days)) }
                        td { (layout::duration_or_off(p.time_til_dormant)) }
                    }
                }
                @if templates.is_empty() {
                    tr { td colspan="6" class="muted" { "No templates yet: push one with " code { "dayshift templates push" } "." } }
                }
            }
        }
    };
    Ok(layout::page(&viewer, "/templates", "Templates", body))
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(flash): Query<Flash>,
) -> WebResult<Markup> {
    let template = find_template(&state, &name).await?;
    let versions = state
        .store
        .template_versions(
            &template.id,
            &Page::new(Some(VERSIONS), None).map_err(ApiErr::from)?,
        )
        .await?;
    let active = state
        .store
        .template_version(&template.active_version_id)
        .await?;
    let manifest = active.as_ref().map(manifest_of).transpose()?;
    let presets = state.store.presets(&template.active_version_id).await?;
    let body = html! {
        h1 { "Template " (template.name) }
        (flash.render())
        h2 { "Policies" }
        (policy_form(&viewer, &template))
        h2 { "Active version" }
        @if let Some(manifest) = &manifest {
            @if manifest.parameters.is_empty() { p class="muted" { "No parameters." } }
            @else {
                table {
                    thead { tr { th scope="col" { "Parameter" } th scope="col" { "Default" } th scope="col" { "Options" } th scope="col" { "Mutable" } } }
                    tbody { @for p in &manifest.parameters { tr {
                        td { code { (p.name) } }
                        td { (p.default.clone().unwrap_or_default()) }
                        td { (p.options.join(", ")) }
                        td { @if p.mutable { "yes" } @else { "no" } }
                    } } }
                }
            }
        }
        @if !presets.is_empty() {
            h2 { "Presets" }
            table {
                thead { tr { th scope="col" { "Preset" } th scope="col" { "Parameters" } th scope="col" class="num" { "Prebuilds" } th scope="col" { "Schedules" } } }
                tbody { @for p in &presets { tr {
                    td { (p.name) }
                    td { @for (k, v) in &p.parameters { code { (k) "=" (v) } " " } }
                    td class="num" { (p.prebuild_instances) }
                    td { @if let Some(s) = &p.scheduling {
                        @for sch in &s.schedule { code { (sch.cron) } " → " (sch.instances) " " }
                        span class="muted" { "(" (s.timezone) ")" }
                    } }
                } } }
            }
            p { a href="/prebuilds" { "Pool status and the week's desired counts" } }
        }
        h2 { "Versions" }
        p class="muted" { (versions.count) " in all; the first " (VERSIONS) " shown, oldest first." }
        table {
            thead { tr { th scope="col" { "Version" } th scope="col" { "Pushed" } th scope="col" { "Provisioner" } } }
            tbody { @for v in &versions.items { tr {
                td { code { (v.id) } @if v.id == template.active_version_id { " " span class="badge good" { "active" } } }
                td { (layout::relative(v.created_at, viewer.now)) }
                td { (v.provisioner) }
            } } }
        }
    };
    Ok(layout::page(&viewer, "/templates", &template.name, body))
}

fn days_field(viewer: &Viewer, name: &str, legend: &str, days: Weekdays) -> Markup {
    let _ = viewer;
    html! {
        fieldset class="days" {
            legend { (legend) }
            @for (day, label) in WEEK {
                label { input type="checkbox" name=(name) value=(label) checked[days.contains(day)]; " " (&label[..3]) }
            }
        }
    }
}

fn policy_form(viewer: &Viewer, t: &Template) -> Markup {
    let p = &t.policy;
    let owner = viewer.is_owner();
    let duration = |d: dayshift_schedule::SignedDuration| layout::duration(d);
    html! {
        form method="post" action=(format!("/templates/{}", layout::url_encode(&t.name))) {
            (layout::csrf(viewer))
            fieldset disabled[!owner] {
                legend { "Schedule policies" @if !owner { " (owners may edit)" } }
                div class="grid" {
                    label for="default_ttl" { "Default TTL" }
                    input id="default_ttl" name="default_ttl" value=(duration(p.default_ttl));
                    label for="activity_bump" { "Activity bump" }
                    input id="activity_bump" name="activity_bump" value=(duration(p.activity_bump));
                    label for="failure_ttl" { "Failure TTL" }
                    input id="failure_ttl" name="failure_ttl" value=(duration(p.failure_ttl));
                    label for="dormancy_threshold" { "Dormancy threshold" }
                    input id="dormancy_threshold" name="dormancy_threshold" value=(duration(p.time_til_dormant));
                    label for="dormancy_auto_deletion" { "Dormancy auto-deletion" }
                    input id="dormancy_auto_deletion" name="dormancy_auto_deletion" value=(duration(p.time_til_dormant_autodelete));
                    label for="autostop_weeks" { "Autostop every N weeks" }
                    input id="autostop_weeks" name="autostop_weeks" type="number" min="1" max="16" value=(p.autostop_requirement_weeks);
                }
                p class="hint" { "Durations as in the CLI: 8h, 1h30m, 2d; 0s turns a policy off." }
                (days_field(viewer, "autostop_days", "Autostop requirement days", p.autostop_requirement_days))
                (days_field(viewer, "autostart_days", "Autostart allowed on", p.autostart_requirement_days))
                label { input type="checkbox" name="allow_user_autostart" value="true" checked[p.allow_user_autostart]; " Users may set autostart" }
                br;
                label { input type="checkbox" name="allow_user_autostop" value="true" checked[p.allow_user_autostop]; " Users may set their own TTL" }
                @if owner { p { button type="submit" class="primary" { "Save policies" } } }
            }
        }
    }
}

fn request(fields: &Fields) -> ApiResult<sdk::UpdateTemplateRequest> {
    let ms_of = |form: &str, api: &str| -> ApiResult<Option<i64>> {
        Ok(duration_field(api, fields.opt(form))?.map(ms))
    };
    let days = |name: &str| fields.all(name).map(str::to_string).collect::<Vec<_>>();
    let weeks = fields
        .opt("autostop_weeks")
        .map(|w| {
            w.parse::<u32>().map_err(|e| {
                crate::error::ApiErr::invalid("autostop_requirement.weeks", format!("{w:?}: {e}"))
            })
        })
        .transpose()?
        .unwrap_or(1);
    Ok(sdk::UpdateTemplateRequest {
        default_ttl_ms: ms_of("default_ttl", "default_ttl_ms")?,
        activity_bump_ms: ms_of("activity_bump", "activity_bump_ms")?,
        failure_ttl_ms: ms_of("failure_ttl", "failure_ttl_ms")?,
        time_til_dormant_ms: ms_of("dormancy_threshold", "time_til_dormant_ms")?,
        time_til_dormant_autodelete_ms: ms_of(
            "dormancy_auto_deletion",
            "time_til_dormant_autodelete_ms",
        )?,
        autostop_requirement: Some(sdk::AutostopRequirement {
            days_of_week: days("autostop_days"),
            weeks,
        }),
        autostart_requirement: Some(sdk::AutostartRequirement {
            days_of_week: days("autostart_days"),
        }),
        allow_user_autostart: Some(fields.get("allow_user_autostart") == "true"),
        allow_user_autostop: Some(fields.get("allow_user_autostop") == "true"),
    })
}

pub async fn update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    action: Action,
) -> WebResult<Response> {
    let result = match request(&action.fields) {
        Ok(req) => crate::routes::templates::update(
            State(state.clone()),
            action.viewer.user.clone(),
            Path(name.clone()),
            crate::extract::Json(req),
        )
        .await
        .map(|_| "Policies saved.".to_string()),
        Err(e) => Err(e),
    };
    Ok(Redirect::to(&layout::with_flash(
        &format!("/templates/{}", layout::url_encode(&name)),
        result.map_err(|e| e.body.message),
    ))
    .into_response())
}
