//! A workspace's page: status and actions, the deadline with +1h/−1h, the
//! schedule editor, the coming week, outputs, build history and the live
//! build log. Every action calls the API's handler for it, so the rules,
//! validation and refusal messages are the API's.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use dayshift_lifecycle::projection::workspace_runs;
use dayshift_schedule::{Schedule, SignedDuration, Timestamp};
use dayshift_sdk as sdk;
use dayshift_store::{Build, LogLine, Page, WorkspaceState};
use maud::{html, Markup};
use serde::{Deserialize, Serialize};

use super::charts::{self, Week};
use super::layout::{self, Flash};
use super::session::{Action, Viewer};
use super::workspaces::{duration_field, human_schedule, ms};
use super::WebResult;
use crate::auth::CurrentUser;
use crate::convert;
use crate::error::{ApiErr, ApiResult};
use crate::extract::Json;
use crate::routes::workspaces as api;
use crate::state::AppState;

/// Builds shown in the history.
const HISTORY: u32 = 20;
/// Log lines rendered into the page; the rest arrive through the script.
const LOG_LINES: i64 = 1000;

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    tz: Option<String>,
    build: Option<String>,
    /// The history's page: builds older than this cursor.
    builds_after: Option<String>,
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// The editor's view of a stored schedule: minute, hour and day numbers
/// when it is a simple daily time, else only its cron text.
struct ScheduleForm {
    time: String,
    days: [bool; 7],
    zone: String,
    cron: String,
}

impl ScheduleForm {
    fn of(stored: Option<&str>) -> ScheduleForm {
        let mut form = ScheduleForm {
            time: String::new(),
            days: [false, true, true, true, true, true, false],
            zone: "UTC".to_string(),
            cron: String::new(),
        };
        let Some(schedule) = stored.and_then(|s| Schedule::parse(s).ok()) else {
            return form;
        };
        form.zone = schedule.zone_name().to_string();
        let cron = schedule.cron();
        let fields: Vec<&str> = cron.split_whitespace().collect();
        let simple = match fields[..] {
            [m, h, "*", "*", dow] => match (m.parse::<u8>(), h.parse::<u8>(), day_set(dow)) {
                (Ok(m), Ok(h), Some(days)) => {
                    form.time = format!("{h:02}:{m:02}");
                    form.days = days;
                    true
                }
                _ => false,
            },
            _ => false,
        };
        if !simple {
            form.cron = schedule.to_string();
        }
        form
    }
}

/// `1-5`, `0,6`, `*` as a set of days; `None` for steps and the like.
fn day_set(dow: &str) -> Option<[bool; 7]> {
    let mut days = [false; 7];
    if dow == "*" {
        return Some([true; 7]);
    }
    for part in dow.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
            None => {
                let d = part.parse::<usize>().ok()?;
                (d, d)
            }
        };
        if a > b || b > 6 {
            return None;
        }
        days[a..=b].iter_mut().for_each(|d| *d = true);
    }
    Some(days)
}

/// The day-of-week field for a set of days, consecutive days as ranges
/// (`1-4`, `0,6`), so the stored schedule reads `Mon-Thu`; `None` for no
/// day at all.
fn day_field(days: [bool; 7]) -> Option<String> {
    let mut parts = Vec::new();
    let mut d = 0;
    while d < 7 {
        if !days[d] {
            d += 1;
            continue;
        }
        let start = d;
        while d + 1 < 7 && days[d + 1] {
            d += 1;
        }
        parts.push(if start == d {
            start.to_string()
        } else {
            format!("{start}-{d}")
        });
        d += 1;
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
    Query(flash): Query<Flash>,
) -> WebResult<Markup> {
    let ws = api::visible(&state, &viewer.user, &id).await?;
    let view = convert::workspace(&ws);
    let history_page =
        Page::new(Some(HISTORY), query.builds_after.as_deref()).map_err(ApiErr::from)?;
    let history_page = state.store.builds(&ws.workspace.id, &history_page).await?;
    let builds: &[Build] = &history_page.items;
    let shown_build = match query.build.as_deref() {
        Some(b) => builds
            .iter()
            .find(|x| x.id == b)
            .cloned()
            .unwrap_or_else(|| ws.build.clone()),
        None => ws.build.clone(),
    };
    let log = state
        .store
        .build_logs(&shown_build.id, 0, LOG_LINES)
        .await?;

    let schedule_zone = ws
        .workspace
        .autostart_schedule
        .as_deref()
        .and_then(|s| Schedule::parse(s).ok())
        .map(|s| s.zone_name().to_string())
        .unwrap_or_else(|| "UTC".to_string());
    let asked = query.tz.as_deref().map(str::trim).filter(|z| !z.is_empty());
    let (zone_name, zone, zone_error) = match asked {
        Some(name) => match layout::zone(name) {
            Some(z) => (name.to_string(), z, None),
            None => (
                "UTC".to_string(),
                jiff::tz::TimeZone::UTC,
                Some(format!("unknown time zone {name:?}; showing UTC")),
            ),
        },
        None => (
            schedule_zone.clone(),
            layout::zone(&schedule_zone).unwrap_or(jiff::tz::TimeZone::UTC),
            None,
        ),
    };
    let now = viewer.now;
    let week = Week::new(zone.clone(), &zone_name, now, 7);
    let runs = workspace_runs(&ws, now, week.end());
    let name = format!("{}/{}", view.owner_name, view.name);
    let status = view.status.as_str();
    let body = html! {
        h1 { (name) " " (layout::status_badge(status)) }
        p class="muted" {
            "Template " a href=(format!("/templates/{}", layout::url_encode(&view.template_name))) { (view.template_name) }
            @if view.outdated { " · a newer template version is available" }
            " · last used " (layout::relative(view.last_used_at, now))
        }
        (flash.render())
        @if let Some(e) = zone_error { p class="flash error" role="alert" { (e) } }
        @if let Some(dormant) = view.dormant_at {
            p class="flash error" {
                "Dormant since " (layout::local_time(dormant, &zone))
                @if let Some(deleting) = view.deleting_at { "; it will be deleted " (layout::relative(deleting, now)) }
                ". Activate it to use it again."
            }
        }
        (actions(&viewer, &view))
        h2 { "Deadline" }
        (deadline(&viewer, &view, &zone))
        h2 { "Schedule" }
        p {
            "Autostart: " strong { (human_schedule(view.autostart_schedule.as_deref())) }
            " · stop after: " strong { (view.ttl_ms.map_or("the template's default".to_string(), |t| layout::duration(SignedDuration::from_millis(t)))) }
            @if let Some(next) = view.next_start_at { " · next start " (layout::local_time(next, &zone)) }
        }
        (schedule_editor(&viewer, &view))
        h2 { "The coming week" }
        (layout::zone_picker(&format!("/workspaces/{}", view.id), &zone_name, &[]))
        (charts::workspace_week(&week, now, &runs))
        h2 { "Outputs" }
        @if view.latest_build.outputs.is_empty() {
            p class="muted" { "None." }
        } @else {
            table { tbody {
                @for (k, v) in &view.latest_build.outputs { tr { th scope="row" { (k) } td { code { (v) } } } }
            } }
        }
        @if let Some(connect) = &view.connect {
            p { "Connect: " code { "dayshift ssh " (name) } span class="muted" { " (runs " code { (connect) } ")" } }
        }
        h2 id="builds" { "Builds" }
        (history(&view, builds, &shown_build.id, now))
        @if let Some(next) = &history_page.next {
            p { a href=(format!("/workspaces/{}?builds_after={}#builds", view.id, layout::url_encode(next))) { "Older builds" } }
        }
        h2 id="log-title" { "Log of build #" (shown_build.build_number) }
        (build_log(&shown_build, &log))
    };
    Ok(layout::page(&viewer, "/workspaces", &name, body))
}

fn action_button(viewer: &Viewer, id: &str, verb: &str, label: &str) -> Markup {
    html! {
        form method="post" action=(format!("/workspaces/{id}/action")) class="inline" {
            (layout::csrf(viewer))
            input type="hidden" name="do" value=(verb);
            button type="submit" { (label) }
        }
    }
}

fn actions(viewer: &Viewer, ws: &sdk::Workspace) -> Markup {
    let settled = matches!(
        ws.latest_build.job_status,
        sdk::JobStatus::Succeeded | sdk::JobStatus::Failed | sdk::JobStatus::Canceled
    );
    let running = ws.status == sdk::WorkspaceStatus::Running;
    html! {
        div class="actions" {
            @if settled {
                @if running {
                    (action_button(viewer, &ws.id, "stop", "Stop"))
                    (action_button(viewer, &ws.id, "restart", "Restart"))
                } @else {
                    (action_button(viewer, &ws.id, "start", "Start"))
                }
                @if ws.outdated { (action_button(viewer, &ws.id, "update", "Update")) }
                @if ws.dormant_at.is_some() { (action_button(viewer, &ws.id, "activate", "Activate")) }
                a href=(format!("/workspaces/{}/delete", ws.id)) class="danger" { "Delete…" }
            } @else {
                span class="muted" { "A build is in progress; actions return when it finishes." }
            }
        }
    }
}

fn deadline(viewer: &Viewer, ws: &sdk::Workspace, zone: &jiff::tz::TimeZone) -> Markup {
    let now = viewer.now;
    let running = ws.status == sdk::WorkspaceStatus::Running;
    let extend = |by: &str, label: &str, aria: &str| {
        html! {
            form method="post" action=(format!("/workspaces/{}/extend", ws.id)) class="inline" {
                (layout::csrf(viewer))
                input type="hidden" name="by" value=(by);
                button type="submit" aria-label=(aria) { (label) }
            }
        }
    };
    html! {
        @match (running, ws.latest_build.deadline) {
            (true, Some(deadline)) => {
                p {
                    "Stops " strong { (layout::local_time(deadline, zone)) } ", "
                    span id="countdown" { (layout::countdown(deadline, now)) }
                    @if let Some(max) = ws.latest_build.max_deadline {
                        span class="muted" { " (at the latest " (layout::local_time(max, zone)) ")" }
                    }
                }
            }
            (true, None) => p { "No automatic stop: it runs until stopped." },
            _ => p class="muted" { "Not running." },
        }
        @if running {
            div class="actions" {
                (extend("-1h", "−1h", "Stop one hour earlier"))
                (extend("+1h", "+1h", "Keep running one hour longer"))
            }
        }
    }
}

fn schedule_editor(viewer: &Viewer, ws: &sdk::Workspace) -> Markup {
    let form = ScheduleForm::of(ws.autostart_schedule.as_deref());
    let ttl = ws
        .ttl_ms
        .map(|t| layout::duration(SignedDuration::from_millis(t)))
        .unwrap_or_default();
    html! {
        form method="post" action=(format!("/workspaces/{}/schedule", ws.id)) {
            (layout::csrf(viewer))
            fieldset {
                legend { "Autostart" }
                div class="days" role="group" aria-label="Days" {
                    @for (i, day) in DAYS.iter().enumerate() {
                        label {
                            input type="checkbox" name="days" value=(i) checked[form.days[i]];
                            " " (day)
                        }
                    }
                }
                div class="grid" {
                    label for="time" { "Time" }
                    input id="time" name="time" value=(form.time) placeholder="09:30" size="6" pattern="[0-2]?[0-9]:[0-5][0-9]" aria-describedby="time-hint";
                    label for="zone" { "Zone" }
                    input id="zone" name="zone" value=(form.zone) list="zones";
                    label for="cron" { "or cron" }
                    input id="cron" name="cron" value=(form.cron) placeholder="CRON_TZ=Europe/Berlin 30 9 * * 1-5";
                }
                p id="time-hint" class="hint" { "24-hour time, e.g. 09:30. Leave the time empty (and no cron) for no autostart." }
            }
            fieldset {
                legend { "Autostop" }
                div class="grid" {
                    label for="ttl" { "Stop after" }
                    input id="ttl" name="ttl" value=(ttl) placeholder="8h" aria-describedby="ttl-hint";
                }
                p id="ttl-hint" class="hint" { "A duration such as 8h or 1h30m; empty for no TTL of its own." }
            }
            button type="submit" class="primary" { "Save schedule" }
        }
    }
}

fn history(ws: &sdk::Workspace, builds: &[Build], shown: &str, now: Timestamp) -> Markup {
    html! {
        table {
            thead { tr {
                th scope="col" class="num" { "#" }
                th scope="col" { "Transition" }
                th scope="col" { "Reason" }
                th scope="col" { "Status" }
                th scope="col" { "Created" }
                th scope="col" { "Took" }
            } }
            tbody {
                @for b in builds {
                    tr {
                        td class="num" {
                            @if b.id == shown { strong { (b.build_number) } }
                            @else { a href=(format!("/workspaces/{}?build={}#log-title", ws.id, b.id)) aria-label=(format!("Log of build {}", b.build_number)) { (b.build_number) } }
                        }
                        td { (b.transition.as_str()) }
                        td { (b.reason.as_str()) }
                        td { (layout::status_badge(b.status().as_str())) }
                        td { (layout::relative(b.created_at, now)) }
                        td { @if let (Some(s), Some(c)) = (b.job.started_at, b.job.completed_at) { (layout::duration(c.duration_since(s))) } }
                    }
                }
            }
        }
    }
}

fn build_log(build: &Build, lines: &[LogLine]) -> Markup {
    let finished = build.job.status.is_finished();
    let after = lines.last().map_or(0, |l| l.id);
    html! {
        @if finished {
            pre class="log" aria-labelledby="log-title" {
                @for line in lines { span class=(line.stream) { (line.output) "\n" } }
            }
            @if let Some(error) = &build.job.error { p class="flash error" { (error) } }
        } @else {
            pre class="log" aria-labelledby="log-title" aria-live="polite" data-live=(format!("/builds/{}/log", build.id)) data-after=(after) {
                @for line in lines { span class=(line.stream) { (line.output) "\n" } }
            }
            p id="build-finished" hidden { "The build has finished. " a href="" { "Reload" } " to see the result." }
            noscript { p { "The build is still running; reload the page to see more of its log." } }
        }
    }
}

/// What the live log receives.
#[derive(Debug, Serialize)]
pub struct LogAnswer {
    lines: Vec<sdk::BuildLogLine>,
    finished: bool,
}

/// The log lines after `after`, waiting for them (`wait=true`): the API's
/// long poll, under the cookie session.
pub async fn log_lines(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    query: crate::extract::Query<api::LogsQuery>,
) -> WebResult<axum::Json<LogAnswer>> {
    let axum::Json(lines) = api::build_logs(
        State(state.clone()),
        viewer.user.clone(),
        Path(id.clone()),
        query,
    )
    .await?;
    let finished = state
        .store
        .build(&id)
        .await?
        .is_some_and(|b| b.job.status.is_finished());
    // A finished build with a full page of lines may have more to send.
    let finished = finished && lines.len() < LOG_LINES as usize;
    Ok(axum::Json(LogAnswer { lines, finished }))
}

fn back_to(id: &str, fields: &super::layout::Fields) -> String {
    match fields.opt("back") {
        Some(b) if b.starts_with('/') && !b.starts_with("//") => b.to_string(),
        _ => format!("/workspaces/{id}"),
    }
}

fn redirect(path: &str, result: ApiResult<String>) -> Response {
    Redirect::to(&layout::with_flash(
        path,
        result.map_err(|e| e.body.message),
    ))
    .into_response()
}

async fn build(
    state: &AppState,
    caller: &CurrentUser,
    id: &str,
    transition: sdk::Transition,
) -> ApiResult<sdk::WorkspaceBuild> {
    let (_, axum::Json(build)) = api::create_build(
        State(state.clone()),
        caller.clone(),
        Path(id.to_string()),
        Json(sdk::CreateBuildRequest { transition }),
    )
    .await?;
    Ok(build)
}

/// Start, stop, restart, update or activate.
pub async fn action(
    State(state): State<AppState>,
    Path(id): Path<String>,
    action: Action,
) -> WebResult<Response> {
    let caller = &action.viewer.user;
    let back = back_to(&id, &action.fields);
    let result = match action.fields.get("do") {
        "start" => build(&state, caller, &id, sdk::Transition::Start)
            .await
            .map(|_| "Starting.".to_string()),
        "stop" => build(&state, caller, &id, sdk::Transition::Stop)
            .await
            .map(|_| "Stopping.".to_string()),
        "restart" => restart(&state, caller, &id).await,
        "update" => update(&state, caller, &id).await,
        "activate" => api::set_dormant(
            State(state.clone()),
            caller.clone(),
            Path(id.clone()),
            Json(sdk::UpdateDormantRequest { dormant: false }),
        )
        .await
        .map(|_| "Activated: it is no longer dormant.".to_string()),
        other => Err(ApiErr::invalid("do", format!("unknown action {other:?}"))),
    };
    Ok(redirect(&back, result))
}

/// Stop, then start once the stop build has finished, as `dayshift
/// restart` does; a stopped workspace just starts. The start is queued by
/// a task that waits for the stop build, so the page need not stay open.
async fn restart(state: &AppState, caller: &CurrentUser, id: &str) -> ApiResult<String> {
    let ws = api::visible(state, caller, id).await?;
    if ws.status() != dayshift_store::WorkspaceStatus::Running {
        build(state, caller, id, sdk::Transition::Start).await?;
        return Ok("Starting.".into());
    }
    let stop = build(state, caller, id, sdk::Transition::Stop).await?;
    let (state, caller, id) = (state.clone(), caller.clone(), id.to_string());
    tokio::spawn(async move {
        let mut progress = state.jobs.subscribe();
        loop {
            match state.store.build(&stop.id).await {
                Ok(Some(b)) if b.job.status.is_finished() => {
                    if b.job.status == dayshift_store::JobStatus::Succeeded {
                        if let Err(e) = build(&state, &caller, &id, sdk::Transition::Start).await {
                            tracing::warn!(workspace = %id, error = %e.body.message, "restart: start after stop refused");
                        }
                    }
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(workspace = %id, error = %e, "restart: cannot read the stop build");
                    return;
                }
            }
            // Woken by job progress in this process; the timeout covers
            // daemons on other replicas.
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                _ = tokio::time::timeout(std::time::Duration::from_secs(2), progress.changed()) => {}
            }
        }
    });
    Ok("Restarting: stopping now, it starts again once stopped.".into())
}

async fn update(state: &AppState, caller: &CurrentUser, id: &str) -> ApiResult<String> {
    let _ = (state, caller, id);
    Err(ApiErr::conflict("update is not available yet"))
}

pub async fn confirm_delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> WebResult<Markup> {
    let ws = api::visible(&state, &viewer.user, &id).await?;
    let name = format!("{}/{}", ws.workspace.owner_name, ws.workspace.name);
    let body = html! {
        h1 { "Delete " (name) "?" }
        p { "Its delete build runs the template's delete script; the workspace and its state are gone afterwards." }
        form method="post" action=(format!("/workspaces/{id}/delete")) class="actions" {
            (layout::csrf(&viewer))
            label for="confirm" { "Type the name " strong { (ws.workspace.name) } " to confirm" }
            input id="confirm" name="confirm" required autocomplete="off";
            button type="submit" class="danger" { "Delete workspace" }
            a href=(format!("/workspaces/{id}")) { "Cancel" }
        }
    };
    Ok(layout::page(
        &viewer,
        "/workspaces",
        "Delete workspace",
        body,
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    action: Action,
) -> WebResult<Response> {
    let caller = &action.viewer.user;
    let ws: WorkspaceState = api::visible(&state, caller, &id).await?;
    if action.fields.get("confirm").trim() != ws.workspace.name {
        return Ok(redirect(
            &format!("/workspaces/{id}"),
            Err(ApiErr::invalid(
                "confirm",
                "the name typed does not match; nothing was deleted",
            )),
        ));
    }
    Ok(
        match build(&state, caller, &id, sdk::Transition::Delete).await {
            Ok(_) => redirect(
                "/workspaces",
                Ok(format!("Deleting {}.", ws.workspace.name)),
            ),
            Err(e) => redirect(&format!("/workspaces/{id}"), Err(e)),
        },
    )
}

/// +1h / −1h: the API's extend with the deadline moved by an hour; a
/// refusal shows the API's message.
pub async fn extend(
    State(state): State<AppState>,
    Path(id): Path<String>,
    action: Action,
) -> WebResult<Response> {
    let caller = &action.viewer.user;
    let ws = api::visible(&state, caller, &id).await?;
    let hour = SignedDuration::from_hours(1);
    let by = match action.fields.get("by") {
        "-1h" => -hour,
        _ => hour,
    };
    let base = ws.build.deadline.unwrap_or(action.viewer.now);
    let result = match base.checked_add(by) {
        Ok(deadline) => api::extend(
            State(state.clone()),
            caller.clone(),
            Path(id.clone()),
            Json(sdk::ExtendRequest { deadline }),
        )
        .await
        .map(|axum::Json(answer)| answer.message),
        Err(e) => Err(ApiErr::invalid("deadline", e.to_string())),
    };
    Ok(redirect(&format!("/workspaces/{id}"), result))
}

/// The schedule editor: autostart from days, time and zone (or a cron),
/// then the TTL, each through the API's handler and its validation.
pub async fn schedule(
    State(state): State<AppState>,
    Path(id): Path<String>,
    action: Action,
) -> WebResult<Response> {
    let caller = &action.viewer.user;
    let fields = &action.fields;
    let result = async {
        let autostart = match (fields.opt("cron"), fields.opt("time")) {
            (Some(cron), _) => Some(cron.to_string()),
            (None, None) => None,
            (None, Some(time)) => {
                let (hour, minute) = time
                    .split_once(':')
                    .and_then(|(h, m)| Some((h.parse::<u8>().ok()?, m.parse::<u8>().ok()?)))
                    .ok_or_else(|| ApiErr::invalid("time", format!("{time:?} is not HH:MM")))?;
                let mut days = [false; 7];
                for day in fields.all("days") {
                    match day.parse::<usize>() {
                        Ok(d) if d < 7 => days[d] = true,
                        _ => {
                            return Err(ApiErr::invalid(
                                "days",
                                format!("{day:?} is not a day 0-6"),
                            ))
                        }
                    }
                }
                day_field(days).map(|dow| {
                    let zone = fields.opt("zone").unwrap_or("UTC");
                    format!("CRON_TZ={zone} {minute} {hour} * * {dow}")
                })
            }
        };
        let ttl = duration_field("ttl_ms", fields.opt("ttl"))?;
        api::set_autostart(
            State(state.clone()),
            caller.clone(),
            Path(id.clone()),
            Json(sdk::UpdateAutostartRequest {
                schedule: autostart,
            }),
        )
        .await?;
        api::set_ttl(
            State(state.clone()),
            caller.clone(),
            Path(id.clone()),
            Json(sdk::UpdateTtlRequest {
                ttl_ms: ttl.map(ms),
            }),
        )
        .await?;
        let ws = api::visible(&state, caller, &id).await?;
        Ok(format!(
            "Schedule saved: autostart {}.",
            human_schedule(ws.workspace.autostart_schedule.as_deref())
        ))
    }
    .await;
    Ok(redirect(&format!("/workspaces/{id}"), result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_editor_reads_simple_schedules_and_keeps_others_as_cron() {
        let form = ScheduleForm::of(Some("CRON_TZ=Europe/Berlin 30 9 * * 1-5"));
        assert_eq!(form.time, "09:30");
        assert_eq!(form.days, [false, true, true, true, true, true, false]);
        assert_eq!(form.zone, "Europe/Berlin");
        assert!(form.cron.is_empty());
        let form = ScheduleForm::of(Some("CRON_TZ=UTC */15 9 * * *"));
        assert_eq!(form.cron, "CRON_TZ=UTC */15 9 * * *");
        assert_eq!(
            day_set("0,6"),
            Some([true, false, false, false, false, false, true])
        );
        assert_eq!(day_set("1-5/2"), None);
        let days = |set: &[usize]| {
            let mut d = [false; 7];
            set.iter().for_each(|&i| d[i] = true);
            day_field(d)
        };
        assert_eq!(days(&[1, 2, 3, 4]).as_deref(), Some("1-4"));
        assert_eq!(days(&[0, 6]).as_deref(), Some("0,6"));
        assert_eq!(days(&[0, 1, 2, 3, 4, 5, 6]).as_deref(), Some("0-6"));
        assert_eq!(days(&[]), None);
    }
}
