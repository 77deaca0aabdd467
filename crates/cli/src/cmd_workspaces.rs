//! `dayshift create|list|show|activate`.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use dayshift_sdk::{
    BuildReason, Client, CreateWorkspaceRequest, Paged, Template, TemplateParameter,
    TemplateVersion, Workspace, WorkspaceListQuery, WorkspaceStatus,
};
use jiff::Timestamp;

use crate::args::{CreateArgs, ListArgs, WorkspaceActionArgs, WorkspaceArg};
use crate::ctx::{display_name, resolve_workspace, Ctx};
use crate::follow::follow_build;
use crate::format::{
    default_zone, humanize_schedule, parse_autostart, parse_ttl, relative, to_millis, ttl_column,
    ttl_text,
};
use crate::output::{print_json, print_table, render_table, write_stdout, JsonArrayPrinter};
use crate::prompt::{preset_choices, unanswered, Prompter};

pub async fn create(ctx: &Ctx, args: CreateArgs) -> Result<()> {
    let autostart_schedule = match &args.start_at {
        Some(input) => parse_autostart(input, &default_zone())?.map(|s| s.to_string()),
        None => None,
    };
    let ttl_ms = match &args.stop_after {
        Some(input) => Some(to_millis(parse_ttl(input)?)?),
        None => None,
    };
    let mut parameters = parameter_map(args.parameters)?;
    let prompter = Prompter::new(args.yes.yes);
    let client = ctx.client()?;
    let template = match args.template {
        Some(name) => client.template(&name).await?,
        None => {
            let templates = client.templates().await?;
            if templates.is_empty() {
                bail!("there are no templates yet: push one with 'dayshift templates push NAME --directory DIR'");
            }
            let names: Vec<String> = templates.iter().map(|t| t.name.clone()).collect();
            let index = prompter.select("Template", &names, "--template")?;
            templates[index].clone()
        }
    };
    let active = active_version(&client, &template).await?;
    let preset = match args.preset.as_deref().map(str::trim) {
        Some(none) if none.eq_ignore_ascii_case("none") => None,
        Some(name) => Some(name.to_string()),
        None if prompter.interactive() && !active.presets.is_empty() => {
            let index = prompter.select("Preset", &preset_choices(&active.presets), "--preset")?;
            active.presets.get(index).map(|p| p.name.clone())
        }
        None => None,
    };
    let preset_values = preset
        .as_deref()
        .and_then(|name| active.presets.iter().find(|p| p.name == name))
        .map(|p| p.parameters.clone())
        .unwrap_or_default();
    let asked: Vec<TemplateParameter> =
        unanswered(&active.parameters, &[&parameters, &preset_values])
            .into_iter()
            .cloned()
            .collect();
    for parameter in &asked {
        let value = prompter.parameter(parameter)?;
        parameters.insert(parameter.name.clone(), value);
    }
    if prompter.interactive()
        && !prompter.confirm(&format!(
            "Create workspace {} from template {}?",
            args.name, template.name
        ))?
    {
        bail!("canceled: workspace {} was not created", args.name);
    }
    let ws = client
        .create_workspace(&CreateWorkspaceRequest {
            name: args.name,
            template: template.id.clone(),
            template_version_id: None,
            parameters: (!parameters.is_empty()).then_some(parameters),
            preset: preset.clone(),
            autostart_schedule,
            ttl_ms,
        })
        .await?;
    let display = display_name(&ws);
    if ws.latest_build.reason == BuildReason::PrebuildClaim {
        say(
            ctx,
            &format!(
                "Claimed a prebuilt workspace from preset {}.",
                preset.as_deref().unwrap_or("?")
            ),
        );
    }
    let build = follow_build(&client, &display, &ws.id, &ws.latest_build, ctx.json()).await?;
    report(
        ctx,
        &client,
        &ws.id,
        &format!("Workspace {display} is {}.", build.status.as_str()),
    )
    .await
}

/// `--parameter` values as a map; a name given twice is an error.
pub fn parameter_map(pairs: Vec<(String, String)>) -> Result<BTreeMap<String, String>> {
    let mut parameters = BTreeMap::new();
    for (k, v) in pairs {
        if parameters.insert(k.clone(), v).is_some() {
            bail!("parameter {k:?} given twice");
        }
    }
    Ok(parameters)
}

/// The template's active version (its parameters and presets).
pub async fn active_version(client: &Client, template: &Template) -> Result<TemplateVersion> {
    client
        .template_versions(&template.id)
        .await?
        .into_iter()
        .find(|v| v.id == template.active_version_id)
        .ok_or_else(|| anyhow!("template {} has no active version", template.name))
}

/// A line for the person at the terminal: stdout, or stderr when stdout
/// holds JSON.
pub fn say(ctx: &Ctx, text: &str) {
    if ctx.json() {
        eprintln!("{text}");
    } else {
        outln!("{text}");
    }
}

/// The outcome of a command on a workspace: `line` (if any), or with
/// `-o json` the workspace as the API shows it now.
pub async fn report(ctx: &Ctx, client: &Client, workspace_id: &str, line: &str) -> Result<()> {
    if ctx.json() {
        return print_json(&client.workspace(workspace_id).await?);
    }
    if !line.is_empty() {
        outln!("{line}");
    }
    Ok(())
}

const LIST_HEADER: [&str; 7] = [
    "WORKSPACE",
    "TEMPLATE",
    "STATUS",
    "LAST BUILT",
    "OUTDATED",
    "AUTOSTART",
    "TTL",
];

/// Pages through the matching workspaces and prints each page as it
/// arrives (a table per page, the header once; or one JSON array of all),
/// so a large fleet shows its first rows at once and memory holds one page.
pub async fn list(ctx: &Ctx, args: ListArgs) -> Result<()> {
    let client = ctx.client()?;
    let mut pages = client.search_workspaces(&WorkspaceListQuery {
        q: args.search,
        all: args.all,
        limit: None,
    });
    let mut json = ctx.json().then(JsonArrayPrinter::default);
    let mut first_page = true;
    while let Some(page) = pages.next_page().await? {
        let now = page.server_time.unwrap_or_else(Timestamp::now);
        let (workspaces, _count, _next) = page.value.into_parts();
        if let Some(json) = &mut json {
            for ws in &workspaces {
                json.print(ws)?;
            }
            continue;
        }
        let table = render_table(LIST_HEADER, workspaces.iter().map(|ws| list_row(ws, now)));
        let skip_header = usize::from(!first_page);
        let mut text = String::new();
        for line in table.lines().skip(skip_header) {
            text.push_str(line);
            text.push('\n');
        }
        write_stdout(&text);
        first_page = false;
    }
    if let Some(json) = json {
        json.finish()?;
    }
    Ok(())
}

pub fn list_row(ws: &Workspace, now: Timestamp) -> Vec<String> {
    vec![
        display_name(ws),
        ws.template_name.clone(),
        status_text(ws),
        relative(ws.latest_build.created_at, now),
        if ws.outdated { "yes" } else { "no" }.to_string(),
        ws.autostart_schedule
            .as_deref()
            .map(humanize_schedule)
            .unwrap_or_default(),
        ttl_column(ws),
    ]
}

fn status_text(ws: &Workspace) -> String {
    if ws.dormant_at.is_some() {
        format!("{} (dormant)", ws.status.as_str())
    } else {
        ws.status.as_str().to_string()
    }
}

pub async fn show(ctx: &Ctx, args: WorkspaceArg) -> Result<()> {
    let client = ctx.client()?;
    let (ws, now) = resolve_workspace(&client, &args.workspace).await?;
    if ctx.json() {
        return print_json(&ws);
    }
    let b = &ws.latest_build;
    let mut rows: Vec<(String, String)> = vec![
        ("Workspace".into(), display_name(&ws)),
        ("Template".into(), ws.template_name.clone()),
        (
            "Status".into(),
            format!(
                "{}{}",
                status_text(&ws),
                if ws.outdated {
                    " (outdated: a newer template version is active)"
                } else {
                    ""
                }
            ),
        ),
        (
            "Latest build".into(),
            format!(
                "#{} {} ({}), {}, {}",
                b.build_number,
                b.transition.as_str(),
                wire(&b.reason),
                wire(&b.job_status),
                relative(b.created_at, now)
            ),
        ),
        (
            "Autostart".into(),
            match (&ws.autostart_schedule, &ws.autostart_error) {
                (Some(_), Some(error)) => format!("ERROR: {error}"),
                (Some(s), None) => {
                    let mut text = humanize_schedule(s);
                    if let Some(next) = ws.next_start_at {
                        text.push_str(&format!(", next {}", relative(next, now)));
                    }
                    text
                }
                (None, _) => "manual".into(),
            },
        ),
        (
            "TTL".into(),
            ttl_text(&ws)
                .map(|(_, text)| text)
                .unwrap_or_else(|| "none (stops manually)".into()),
        ),
    ];
    if ws.status == WorkspaceStatus::Running {
        rows.push((
            "Stops".into(),
            match b.deadline {
                Some(deadline) => relative(deadline, now),
                None => "manually".into(),
            },
        ));
        if let Some(max) = b.max_deadline {
            rows.push(("Max deadline".into(), relative(max, now)));
        }
    }
    rows.push(("Last used".into(), relative(ws.last_used_at, now)));
    if let Some(dormant) = ws.dormant_at {
        rows.push(("Dormant since".into(), relative(dormant, now)));
    }
    if let Some(deleting) = ws.deleting_at {
        rows.push(("Deleted".into(), relative(deleting, now)));
    }
    if let Some(error) = &b.error {
        rows.push(("Error".into(), error.clone()));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in &rows {
        outln!("{:width$}  {v}", format!("{k}:"), width = width + 1);
    }
    if !b.outputs.is_empty() {
        outln!();
        print_table(
            ["OUTPUT", "VALUE"],
            b.outputs.iter().map(|(k, v)| [k.clone(), v.clone()]),
        );
    }
    let logs = client.build_logs(&b.id, 0, false).await?;
    if !logs.is_empty() {
        const TAIL: usize = 20;
        outln!();
        outln!(
            "Build log (#{}{}):",
            b.build_number,
            if logs.len() > TAIL {
                format!(", last {TAIL} lines")
            } else {
                String::new()
            }
        );
        for line in logs.iter().skip(logs.len().saturating_sub(TAIL)) {
            outln!("  {}", line.output.trim_end_matches(['\n', '\r']));
        }
    }
    Ok(())
}

/// An enum's name on the wire (`prebuild_claim`, `succeeded`).
fn wire<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// `dayshift activate NAME`: clears dormancy (and the pending automatic
/// deletion) without a build. Activating an active workspace is a no-op.
pub async fn activate(ctx: &Ctx, args: WorkspaceActionArgs) -> Result<()> {
    let client = ctx.client()?;
    let (ws, _) = resolve_workspace(&client, &args.workspace).await?;
    let display = display_name(&ws);
    if ws.dormant_at.is_none() {
        println!("Workspace {display} is not dormant.");
        return Ok(());
    }
    client.set_dormant(&ws.id, false).await?;
    println!("Workspace {display} is active again; it will not be deleted for dormancy.");
    Ok(())
}
