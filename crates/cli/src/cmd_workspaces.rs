//! `dayshift create|list|show|start|stop|restart|delete`.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use anyhow::{bail, Context, Result};
use dayshift_sdk::{
    CreateWorkspaceRequest, Paged, Transition, Workspace, WorkspaceListQuery, WorkspaceStatus,
};
use jiff::Timestamp;

use crate::args::{CreateArgs, ListArgs, WorkspaceActionArgs, WorkspaceArg};
use crate::ctx::{display_name, resolve_workspace, Ctx};
use crate::follow::follow_build;
use crate::format::{
    default_zone, duration, humanize_schedule, parse_autostart, parse_positive_duration, relative,
    to_millis, ttl_column,
};
use crate::output::{print_json, print_table, render_table, stdin_is_terminal, JsonArrayPrinter};

pub async fn create(ctx: &Ctx, args: CreateArgs) -> Result<()> {
    let autostart_schedule = match &args.start_at {
        Some(input) => parse_autostart(input, &default_zone())?.map(|s| s.to_string()),
        None => None,
    };
    let ttl_ms = match &args.stop_after {
        Some(input) => Some(to_millis(parse_positive_duration(input)?)?),
        None => None,
    };
    let mut parameters = BTreeMap::new();
    for (k, v) in args.parameters {
        if parameters.insert(k.clone(), v).is_some() {
            bail!("parameter {k:?} given twice");
        }
    }
    let client = ctx.client()?;
    let ws = client
        .create_workspace(&CreateWorkspaceRequest {
            name: args.name,
            template: args.template,
            template_version_id: None,
            parameters: (!parameters.is_empty()).then_some(parameters),
            preset: args.preset,
            autostart_schedule,
            ttl_ms,
        })
        .await?;
    let display = display_name(&ws);
    let build = follow_build(&client, &display, &ws.id, &ws.latest_build).await?;
    println!("Workspace {display} is {}.", build.status.as_str());
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
        let mut stdout = std::io::stdout().lock();
        for line in table.lines().skip(skip_header) {
            writeln!(stdout, "{line}")?;
        }
        stdout.flush()?;
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
            ws.ttl_ms
                .map(|ms| duration(jiff::SignedDuration::from_millis(ms)))
                .unwrap_or_else(|| "none".into()),
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
        println!("{:width$}  {v}", format!("{k}:"), width = width + 1);
    }
    if !b.outputs.is_empty() {
        println!();
        print_table(
            ["OUTPUT", "VALUE"],
            b.outputs.iter().map(|(k, v)| [k.clone(), v.clone()]),
        );
    }
    let logs = client.build_logs(&b.id, 0, false).await?;
    if !logs.is_empty() {
        const TAIL: usize = 20;
        println!();
        println!(
            "Build log (#{}{}):",
            b.build_number,
            if logs.len() > TAIL {
                format!(", last {TAIL} lines")
            } else {
                String::new()
            }
        );
        for line in logs.iter().skip(logs.len().saturating_sub(TAIL)) {
            println!("  {}", line.output.trim_end_matches(['\n', '\r']));
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

pub async fn transition(
    ctx: &Ctx,
    args: WorkspaceActionArgs,
    transition: Transition,
) -> Result<()> {
    let client = ctx.client()?;
    let (ws, _) = resolve_workspace(&client, &args.workspace).await?;
    let display = display_name(&ws);
    if transition == Transition::Delete
        && !args.yes.yes
        && stdin_is_terminal()
        && !confirm(&format!("Delete workspace {display}? [y/N] "))?
    {
        bail!("not deleted");
    }
    let build = client.create_build(&ws.id, transition).await?;
    let done = follow_build(&client, &display, &ws.id, &build).await?;
    println!("Workspace {display} is {}.", done.status.as_str());
    Ok(())
}

pub async fn restart(ctx: &Ctx, args: WorkspaceActionArgs) -> Result<()> {
    let client = ctx.client()?;
    let (ws, _) = resolve_workspace(&client, &args.workspace).await?;
    let display = display_name(&ws);
    if !matches!(
        ws.status,
        WorkspaceStatus::Stopped | WorkspaceStatus::Canceled
    ) || ws.latest_build.transition != Transition::Stop
    {
        let build = client.create_build(&ws.id, Transition::Stop).await?;
        follow_build(&client, &display, &ws.id, &build).await?;
    }
    let build = client.create_build(&ws.id, Transition::Start).await?;
    let done = follow_build(&client, &display, &ws.id, &build).await?;
    println!("Workspace {display} is {}.", done.status.as_str());
    Ok(())
}

fn confirm(question: &str) -> Result<bool> {
    eprint!("{question}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the answer")?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
