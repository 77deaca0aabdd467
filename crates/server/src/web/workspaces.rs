//! The workspaces list (search, pages, status, countdowns) and the create
//! form. Searching and creating go through the API's handlers.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use dayshift_schedule::{parse_duration, parse_human_schedule, Schedule, SignedDuration};
use dayshift_sdk as sdk;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, Flash};
use super::session::{Action, Viewer};
use super::WebResult;
use crate::error::{ApiErr, ApiResult};
use crate::routes::templates::{find_template, manifest_of};
use crate::state::AppState;

/// Workspaces per page.
pub const PAGE_SIZE: u32 = 25;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    after: Option<String>,
    /// Owners: everybody's workspaces, not only their own.
    #[serde(default)]
    all: bool,
}

impl ListQuery {
    /// This search's URL, at the page after `after`.
    fn url(&self, after: Option<&str>) -> String {
        let mut url = format!("/workspaces?q={}", layout::url_encode(&self.q));
        if self.all {
            url.push_str("&all=true");
        }
        if let Some(after) = after {
            url.push_str(&format!("&after={}", layout::url_encode(after)));
        }
        url
    }
}

/// One page of the search, through the API's list handler (the same `q`
/// language, visibility rules and keyset pages).
async fn search(
    state: &AppState,
    viewer: &Viewer,
    query: &ListQuery,
) -> ApiResult<sdk::WorkspacesPage> {
    let mut uri = format!(
        "/?limit={PAGE_SIZE}&all={}&q={}",
        query.all,
        layout::url_encode(&query.q)
    );
    if let Some(after) = &query.after {
        uri.push_str(&format!("&after={}", layout::url_encode(after)));
    }
    let uri: axum::http::Uri = uri
        .parse()
        .map_err(|e| ApiErr::bad_request(format!("invalid search: {e}")))?;
    let bad = |e: axum::extract::rejection::QueryRejection| {
        ApiErr::bad_request("invalid query string").with_detail(e.body_text())
    };
    let axum::extract::Query(list) = axum::extract::Query::try_from_uri(&uri).map_err(bad)?;
    let axum::extract::Query(paging) = axum::extract::Query::try_from_uri(&uri).map_err(bad)?;
    let axum::Json(page) = crate::routes::workspaces::list(
        State(state.clone()),
        viewer.user.clone(),
        crate::extract::Query(list),
        crate::extract::Query(paging),
    )
    .await?;
    Ok(page)
}

pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<ListQuery>,
    Query(flash): Query<Flash>,
) -> WebResult<Markup> {
    let found = search(&state, &viewer, &query).await;
    let body = html! {
        div class="actions" style="justify-content: space-between" {
            h1 { "Workspaces" }
            a href="/workspaces/new" { "New workspace" }
        }
        (flash.render())
        form method="get" action="/workspaces" class="search" role="search" {
            label for="q" { "Search" }
            input id="q" name="q" value=(query.q) placeholder="owner:me status:running template:go name"
                aria-describedby="q-hint";
            @if viewer.is_owner() {
                label { input type="checkbox" name="all" value="true" checked[query.all]; " everybody's" }
            }
            button type="submit" { "Search" }
        }
        p id="q-hint" class="hint" {
            "Terms are ANDed: " code { "owner:NAME|me" } ", " code { "template:NAME" } ", "
            code { "status:running" } ", " code { "name:SUB" } ", " code { "outdated:true" } ", "
            code { "dormant:true" } "; a bare word matches names."
        }
        @match &found {
            Err(e) => p class="flash error" role="alert" { (e.body.message) },
            Ok(page) => {
                p class="muted" { (page.count) @if page.count == 1 { " workspace" } @else { " workspaces" } }
                (table(&viewer, &page.workspaces))
                nav class="pager" aria-label="Pages" {
                    @if query.after.is_some() {
                        a href=(query.url(None)) { "First page" }
                    }
                    @if let Some(next) = &page.next {
                        a href=(query.url(Some(next))) rel="next" { "Next page" }
                    }
                }
            }
        }
    };
    Ok(layout::page(&viewer, "/workspaces", "Workspaces", body))
}

/// `9:30AM Mon-Fri (Europe/Berlin)`.
pub fn human_schedule(schedule: Option<&str>) -> String {
    match schedule {
        None => "manual".to_string(),
        Some(s) => Schedule::parse(s).map_or_else(|_| s.to_string(), |p| p.humanize()),
    }
}

fn table(viewer: &Viewer, workspaces: &[sdk::Workspace]) -> Markup {
    let now = viewer.now;
    html! {
        table {
            thead { tr {
                th scope="col" { "Workspace" }
                th scope="col" { "Template" }
                th scope="col" { "Status" }
                th scope="col" { "Last built" }
                th scope="col" { "Outdated" }
                th scope="col" { "Autostart" }
                th scope="col" { "Stops" }
                th scope="col" { span class="visually-hidden" { "Actions" } }
            } }
            tbody {
                @for ws in workspaces {
                    @let name = format!("{}/{}", ws.owner_name, ws.name);
                    @let status = ws.status.as_str();
                    tr {
                        td { a href=(format!("/workspaces/{}", ws.id)) { (name) } }
                        td { (ws.template_name) }
                        td {
                            (layout::status_badge(status))
                            @if ws.dormant_at.is_some() { " " span class="badge bad" { "dormant" } }
                        }
                        td { (layout::relative(ws.latest_build.created_at, now)) }
                        td { @if ws.outdated { "yes" } @else { "no" } }
                        td { (human_schedule(ws.autostart_schedule.as_deref())) }
                        td {
                            @if let (true, Some(deadline)) = (status == "running", ws.latest_build.deadline) {
                                (layout::countdown(deadline, now))
                            } @else if let Some(next) = ws.next_start_at {
                                span class="muted" { "starts " (layout::relative(next, now)) }
                            }
                        }
                        td { (quick_action(viewer, ws, &name)) }
                    }
                }
                @if workspaces.is_empty() {
                    tr { td colspan="8" class="muted" { "No workspaces match." } }
                }
            }
        }
    }
}

/// Start or stop from the list.
fn quick_action(viewer: &Viewer, ws: &sdk::Workspace, name: &str) -> Markup {
    let status = ws.status.as_str();
    let (verb, label) = match status {
        "running" => ("stop", "Stop"),
        "stopped" | "failed" | "canceled" => ("start", "Start"),
        _ => return html! {},
    };
    html! {
        form method="post" action=(format!("/workspaces/{}/action", ws.id)) class="inline" {
            (layout::csrf(viewer))
            input type="hidden" name="do" value=(verb);
            input type="hidden" name="back" value="/workspaces";
            button type="submit" aria-label=(format!("{label} {name}")) { (label) }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    template: Option<String>,
}

pub async fn new_form(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<NewQuery>,
    Query(flash): Query<Flash>,
) -> WebResult<Markup> {
    let templates = state.store.templates().await?;
    let chosen = match query.template.as_deref().filter(|t| !t.is_empty()) {
        Some(name) => Some(find_template(&state, name).await?),
        None => None,
    };
    let manifest = match &chosen {
        Some(t) => {
            let version = state
                .store
                .template_version(&t.active_version_id)
                .await?
                .ok_or_else(|| ApiErr::not_found("the template's active version"))?;
            Some(manifest_of(&version)?)
        }
        None => None,
    };
    let body = html! {
        h1 { "New workspace" }
        (flash.render())
        form method="get" action="/workspaces/new" class="inline" {
            label for="template-pick" { "Template" }
            " "
            select id="template-pick" name="template" data-autosubmit {
                option value="" { "Choose a template" }
                @for t in &templates {
                    option value=(t.name) selected[chosen.as_ref().is_some_and(|c| c.id == t.id)] { (t.name) }
                }
            }
            " "
            button type="submit" { "Choose" }
        }
        @if let (Some(template), Some(manifest)) = (&chosen, &manifest) {
            form method="post" action="/workspaces" class="stack" {
                (layout::csrf(&viewer))
                input type="hidden" name="template" value=(template.name);
                label for="name" { "Name" }
                input id="name" name="name" required pattern="[a-z0-9]+(-[a-z0-9]+)*" maxlength="32"
                    aria-describedby="name-hint";
                span id="name-hint" class="hint" { "Lowercase letters, digits and single hyphens." }
                @if !manifest.presets.is_empty() {
                    label for="preset" { "Preset" }
                    select id="preset" name="preset" {
                        option value="" { "none" }
                        @for p in &manifest.presets { option value=(p.name) { (p.name) } }
                    }
                }
                @for p in &manifest.parameters {
                    @let id = format!("param-{}", p.name);
                    @let default = p.default.clone().unwrap_or_default();
                    label for=(id) { "Parameter " code { (p.name) } }
                    @if p.options.is_empty() {
                        input id=(id) name=(format!("param.{}", p.name)) placeholder=(format!("default: {default}"));
                    } @else {
                        select id=(id) name=(format!("param.{}", p.name)) {
                            option value="" { "default (" (default) ")" }
                            @for o in &p.options { option value=(o) { (o) } }
                        }
                    }
                }
                label for="start-at" { "Autostart" }
                input id="start-at" name="start_at" placeholder="9:30AM Mon-Fri Europe/Berlin" aria-describedby="start-hint";
                span id="start-hint" class="hint" { "Time, days and zone, or a cron expression; empty for manual." }
                label for="stop-after" { "Stop after" }
                input id="stop-after" name="stop_after" placeholder="8h" aria-describedby="stop-hint";
                span id="stop-hint" class="hint" { "A duration such as 8h or 1h30m; empty for the template's default." }
                button type="submit" class="primary" { "Create workspace" }
            }
        }
    };
    Ok(layout::page(&viewer, "/workspaces", "New workspace", body))
}

/// A human or cron autostart from a form, normalised as the CLI's
/// `--start-at` is (zone UTC when none is named); `None` for blank.
pub fn schedule_field(field: &str, value: Option<&str>) -> ApiResult<Option<String>> {
    match value {
        None => Ok(None),
        Some(v) => parse_human_schedule(v, "UTC")
            .map(|s| s.map(|s| s.to_string()))
            .map_err(|e| ApiErr::invalid(field, e.to_string())),
    }
}

/// A duration from a form (`8h`, `1h30m`), as the CLI parses it.
pub fn duration_field(field: &str, value: Option<&str>) -> ApiResult<Option<SignedDuration>> {
    value
        .map(|v| parse_duration(v).map_err(|e| ApiErr::invalid(field, e.to_string())))
        .transpose()
}

pub fn ms(d: SignedDuration) -> i64 {
    crate::convert::ms(d)
}

/// Creates a workspace through the API's create handler.
pub async fn create(State(state): State<AppState>, action: Action) -> WebResult<Response> {
    let fields = &action.fields;
    let template = fields.get("template").to_string();
    let request = || -> ApiResult<sdk::CreateWorkspaceRequest> {
        let parameters: BTreeMap<String, String> = fields
            .pairs()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix("param.")?;
                let v = v.trim();
                (!v.is_empty()).then(|| (name.to_string(), v.to_string()))
            })
            .collect();
        Ok(sdk::CreateWorkspaceRequest {
            name: fields.get("name").trim().to_string(),
            template: template.clone(),
            template_version_id: None,
            parameters: (!parameters.is_empty()).then_some(parameters),
            preset: fields.opt("preset").map(str::to_string),
            autostart_schedule: schedule_field("autostart_schedule", fields.opt("start_at"))?,
            ttl_ms: duration_field("ttl_ms", fields.opt("stop_after"))?.map(ms),
        })
    };
    let created = match request() {
        Ok(req) => {
            crate::routes::workspaces::create(
                State(state.clone()),
                action.viewer.user.clone(),
                crate::extract::Json(req),
            )
            .await
        }
        Err(e) => Err(e),
    };
    Ok(match created {
        Ok((_, axum::Json(ws))) => Redirect::to(&layout::with_flash(
            &format!("/workspaces/{}", ws.id),
            Ok(format!("Workspace {} created.", ws.name)),
        ))
        .into_response(),
        Err(e) => Redirect::to(&layout::with_flash(
            &format!("/workspaces/new?template={}", layout::url_encode(&template)),
            Err(e.body.message),
        ))
        .into_response(),
    })
}
