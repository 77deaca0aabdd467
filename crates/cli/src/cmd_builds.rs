//! `dayshift start|stop|restart|delete|update`: builds of an existing
//! workspace. A verb whose outcome already holds (`start` of a running
//! workspace, `stop` of a stopped one) says so and queues nothing.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use dayshift_sdk::{
    Client, CreateBuildRequest, TemplateParameter, TemplateVersion, Transition, Workspace,
    WorkspaceStatus,
};
use dayshift_server::parameters::{resolve_build_parameters, ParameterSpec};

use crate::args::{StartArgs, UpdateArgs, WorkspaceActionArgs};
use crate::cmd_workspaces::{parameter_map, report, say};
use crate::ctx::{display_name, resolve_workspace, Ctx};
use crate::follow::follow_build;
use crate::prompt::{unanswered, Prompter};

pub async fn start(ctx: &Ctx, args: StartArgs) -> Result<()> {
    let changes = parameter_map(args.parameters)?;
    let client = ctx.client()?;
    let (ws, _) = resolve_workspace(&client, &args.workspace).await?;
    let display = display_name(&ws);
    if !changes.is_empty() {
        let version = version_of(&client, &ws, &ws.latest_build.template_version_id).await?;
        let prompter = Prompter::new(args.yes.yes);
        rebuild(ctx, &client, &ws, &version, false, changes, &prompter).await?;
    } else if ws.status == WorkspaceStatus::Running {
        say(ctx, &format!("Workspace {display} is already running."));
        if ws.outdated {
            outdated_notice(ctx, &client, &ws, &args.workspace).await;
        }
        return report(ctx, &client, &ws.id, "").await;
    } else {
        let build = client.create_build(&ws.id, Transition::Start).await?;
        if build.activated {
            say(
                ctx,
                &format!("Workspace {display} was dormant; starting it made it active again."),
            );
        }
        follow_build(&client, &display, &ws.id, &build, ctx.json()).await?;
    }
    if ws.outdated {
        outdated_notice(ctx, &client, &ws, &args.workspace).await;
    }
    report(
        ctx,
        &client,
        &ws.id,
        &format!("Workspace {display} is running."),
    )
    .await
}

/// Tells that the template has a newer version and how to move to it.
async fn outdated_notice(ctx: &Ctx, client: &Client, ws: &Workspace, arg: &str) {
    let version = match client.template(&ws.template_id).await {
        Ok(t) if !t.active_version_name.is_empty() => format!(" ({})", t.active_version_name),
        _ => String::new(),
    };
    say(
        ctx,
        &format!(
            "Template {} has a newer version{version}: run 'dayshift update {arg}' to move the workspace to it.",
            ws.template_name
        ),
    );
}

pub async fn stop(ctx: &Ctx, args: WorkspaceActionArgs) -> Result<()> {
    let client = ctx.client()?;
    let (ws, _) = resolve_workspace(&client, &args.workspace).await?;
    let display = display_name(&ws);
    if ws.status == WorkspaceStatus::Stopped {
        say(ctx, &format!("Workspace {display} is already stopped."));
        return report(ctx, &client, &ws.id, "").await;
    }
    confirm_or_cancel(&Prompter::new(args.yes.yes), "Stop", &display)?;
    let build = client.create_build(&ws.id, Transition::Stop).await?;
    follow_build(&client, &display, &ws.id, &build, ctx.json()).await?;
    report(
        ctx,
        &client,
        &ws.id,
        &format!("Workspace {display} is stopped."),
    )
    .await
}

pub async fn delete(ctx: &Ctx, args: WorkspaceActionArgs) -> Result<()> {
    let client = ctx.client()?;
    let (ws, _) = resolve_workspace(&client, &args.workspace).await?;
    let display = display_name(&ws);
    confirm_or_cancel(&Prompter::new(args.yes.yes), "Delete", &display)?;
    let build = client.create_build(&ws.id, Transition::Delete).await?;
    let done = follow_build(&client, &display, &ws.id, &build, ctx.json()).await?;
    if ctx.json() {
        return crate::output::print_json(&done);
    }
    outln!("Workspace {display} is {}.", done.status.as_str());
    Ok(())
}

pub async fn restart(ctx: &Ctx, args: WorkspaceActionArgs) -> Result<()> {
    let client = ctx.client()?;
    let (ws, _) = resolve_workspace(&client, &args.workspace).await?;
    let display = display_name(&ws);
    confirm_or_cancel(&Prompter::new(args.yes.yes), "Restart", &display)?;
    stop_unless_stopped(ctx, &client, &ws).await?;
    let build = client.create_build(&ws.id, Transition::Start).await?;
    follow_build(&client, &display, &ws.id, &build, ctx.json()).await?;
    report(
        ctx,
        &client,
        &ws.id,
        &format!("Workspace {display} is running."),
    )
    .await
}

pub async fn update(ctx: &Ctx, args: UpdateArgs) -> Result<()> {
    let changes = parameter_map(args.parameters)?;
    let client = ctx.client()?;
    let (ws, _) = resolve_workspace(&client, &args.workspace).await?;
    let display = display_name(&ws);
    let template = client.template(&ws.template_id).await?;
    if !ws.outdated && changes.is_empty() {
        say(
            ctx,
            &format!(
                "Workspace {display} is up to date (template {} version {}).",
                template.name, template.active_version_name
            ),
        );
        return report(ctx, &client, &ws.id, "").await;
    }
    let active = version_of(&client, &ws, &template.active_version_id).await?;
    let prompter = Prompter::new(args.yes.yes);
    rebuild(ctx, &client, &ws, &active, true, changes, &prompter).await?;
    report(
        ctx,
        &client,
        &ws.id,
        &format!(
            "Workspace {display} is running version {} of template {}.",
            active.name, template.name
        ),
    )
    .await
}

/// One version of the workspace's template.
async fn version_of(client: &Client, ws: &Workspace, version_id: &str) -> Result<TemplateVersion> {
    client
        .template_versions(&ws.template_id)
        .await?
        .into_iter()
        .find(|v| v.id == version_id)
        .ok_or_else(|| anyhow!("template {} has no version {version_id}", ws.template_name))
}

/// A start build on `version` with `changes` to the parameters (asking
/// for parameters new in the version that have no default). The rule is
/// checked before anything is stopped, so a refused change leaves a
/// running workspace running; the server checks it again.
async fn rebuild(
    ctx: &Ctx,
    client: &Client,
    ws: &Workspace,
    version: &TemplateVersion,
    move_version: bool,
    mut changes: BTreeMap<String, String>,
    prompter: &Prompter,
) -> Result<()> {
    let display = display_name(ws);
    let current = &ws.latest_build.parameters;
    let asked: Vec<TemplateParameter> = unanswered(&version.parameters, &[current, &changes])
        .into_iter()
        .cloned()
        .collect();
    for parameter in &asked {
        let value = prompter.parameter(parameter)?;
        changes.insert(parameter.name.clone(), value);
    }
    resolve_build_parameters(&specs(&version.parameters), current, &changes)?;
    if ws.status == WorkspaceStatus::Running {
        confirm_or_cancel(prompter, "Restart", &display)?;
    }
    stop_unless_stopped(ctx, client, ws).await?;
    let request = CreateBuildRequest {
        transition: Transition::Start,
        template_version_id: move_version.then(|| version.id.clone()),
        parameters: Some(changes),
    };
    let build = client.create_build_with(&ws.id, &request).await?;
    follow_build(client, &display, &ws.id, &build, ctx.json()).await?;
    Ok(())
}

fn specs(parameters: &[TemplateParameter]) -> Vec<ParameterSpec> {
    parameters
        .iter()
        .map(|p| ParameterSpec {
            name: p.name.clone(),
            default: p.default.clone(),
            mutable: p.mutable,
        })
        .collect()
}

/// Stops a running workspace (and follows the stop) before a start that
/// must run its scripts afresh.
async fn stop_unless_stopped(ctx: &Ctx, client: &Client, ws: &Workspace) -> Result<()> {
    let stopped = matches!(
        ws.status,
        WorkspaceStatus::Stopped | WorkspaceStatus::Canceled
    ) && ws.latest_build.transition == Transition::Stop;
    if stopped {
        return Ok(());
    }
    let build = client.create_build(&ws.id, Transition::Stop).await?;
    follow_build(client, &display_name(ws), &ws.id, &build, ctx.json()).await?;
    Ok(())
}

/// `Stop workspace admin/dev?` on a terminal; declining cancels the
/// command (exit 1, nothing done).
fn confirm_or_cancel(prompter: &Prompter, verb: &str, display: &str) -> Result<()> {
    if prompter.confirm(&format!("{verb} workspace {display}?"))? {
        Ok(())
    } else {
        bail!("canceled: workspace {display} was left as it is")
    }
}
