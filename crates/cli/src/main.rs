//! `dayshift`: the server and every client command (DESIGN §6).
//!
//! Exit codes: 0 on success, 1 on a server-reported or runtime error (the
//! message on stderr as `error: ...`), 2 on usage errors (clap). `dayshift
//! ssh` exits with its command's code.

mod args;
mod cmd_prebuilds;
mod cmd_provisioner;
mod cmd_schedule;
mod cmd_server;
mod cmd_ssh;
mod cmd_templates;
mod cmd_users;
mod cmd_workspaces;
mod config;
mod ctx;
mod follow;
mod format;
mod notifier;
mod output;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use dayshift_sdk::{ApiError, ClientError, Transition};

use args::{
    Cli, Command, PrebuildsCommand, ProvisionerCommand, ScheduleCommand, TemplatesCommand,
    UsersCommand,
};
use ctx::Ctx;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::print_error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            output::print_error(&error_text(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error chain on one line (`context: cause`), with a hint when the
/// session is no longer valid.
fn error_text(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        match cause.downcast_ref::<ClientError>() {
            // reqwest repeats itself down its chain: name the URL and the
            // root cause only.
            Some(ClientError::Transport { url, .. }) => {
                let root = e.root_cause().to_string();
                parts.push(format!("cannot reach {url}: {root}"));
                break;
            }
            Some(ClientError::Api { error, .. }) => {
                parts.push(api_error_text(error));
                break;
            }
            Some(client_error) => {
                parts.push(client_error.to_string());
                break;
            }
            None => parts.push(cause.to_string()),
        }
    }
    let mut text = parts.join(": ");
    let unauthorized = e
        .chain()
        .filter_map(|c| c.downcast_ref::<ClientError>())
        .any(|c| c.status().is_some_and(|s| s.as_u16() == 401));
    if unauthorized && !text.contains("login") {
        text.push_str("\n(run 'dayshift login URL' to start a new session)");
    }
    text
}

/// The server's message, then its detail and each validation, leaving out
/// what the message already says.
fn api_error_text(error: &ApiError) -> String {
    let mut text = error.message.clone();
    if let Some(detail) = error.detail.as_deref().filter(|d| !d.is_empty()) {
        if !text.contains(detail) {
            text.push_str(": ");
            text.push_str(detail);
        }
    }
    for v in &error.validations {
        if !text.contains(&v.detail) {
            text.push_str(&format!("\n  {}: {}", v.field, v.detail));
        }
    }
    text
}

async fn run(cli: Cli) -> Result<u8> {
    let ctx = Ctx { global: cli.global };
    match cli.command {
        Command::Server(args) => cmd_server::run(args).await?,
        Command::Login(args) => cmd_users::login(args).await?,
        Command::Logout => cmd_users::logout(&ctx).await?,
        Command::Whoami => cmd_users::whoami(&ctx).await?,
        Command::Users(UsersCommand::Create(args)) => cmd_users::create(&ctx, args).await?,
        Command::Templates(TemplatesCommand::Push(args)) => cmd_templates::push(&ctx, args).await?,
        Command::Templates(TemplatesCommand::List) => cmd_templates::list(&ctx).await?,
        Command::Templates(TemplatesCommand::Edit(args)) => cmd_templates::edit(&ctx, args).await?,
        Command::Create(args) => cmd_workspaces::create(&ctx, args).await?,
        Command::List(args) => cmd_workspaces::list(&ctx, args).await?,
        Command::Show(args) => cmd_workspaces::show(&ctx, args).await?,
        Command::Start(args) => cmd_workspaces::transition(&ctx, args, Transition::Start).await?,
        Command::Stop(args) => cmd_workspaces::transition(&ctx, args, Transition::Stop).await?,
        Command::Delete(args) => cmd_workspaces::transition(&ctx, args, Transition::Delete).await?,
        Command::Restart(args) => cmd_workspaces::restart(&ctx, args).await?,
        Command::Schedule(ScheduleCommand::Show(args)) => cmd_schedule::show(&ctx, args).await?,
        Command::Schedule(ScheduleCommand::Start(args)) => cmd_schedule::start(&ctx, args).await?,
        Command::Schedule(ScheduleCommand::Stop(args)) => cmd_schedule::stop(&ctx, args).await?,
        Command::Schedule(ScheduleCommand::Extend(args)) => {
            cmd_schedule::extend(&ctx, args).await?
        }
        Command::Schedule(ScheduleCommand::Preview(args)) => cmd_schedule::preview(&ctx, args)?,
        Command::Bump(args) => cmd_schedule::bump(&ctx, args).await?,
        Command::Prebuilds(PrebuildsCommand::Status) => cmd_prebuilds::status(&ctx).await?,
        Command::Prebuilds(PrebuildsCommand::Pause) => {
            cmd_prebuilds::set_paused(&ctx, true).await?
        }
        Command::Prebuilds(PrebuildsCommand::Resume) => {
            cmd_prebuilds::set_paused(&ctx, false).await?
        }
        Command::Ssh(args) => return cmd_ssh::ssh(&ctx, args).await,
        Command::Provisioner(ProvisionerCommand::Start(args)) => {
            cmd_provisioner::start(&ctx, args).await?
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dayshift_sdk::ValidationError;

    #[test]
    fn api_errors_do_not_repeat_themselves() {
        let error = ApiError {
            message: "invalid name: \"Bad Name\" must be lowercase".into(),
            detail: None,
            validations: vec![ValidationError {
                field: "name".into(),
                detail: "\"Bad Name\" must be lowercase".into(),
            }],
        };
        assert_eq!(
            api_error_text(&error),
            "invalid name: \"Bad Name\" must be lowercase"
        );
        let error = ApiError {
            message: "invalid request".into(),
            detail: Some("2 problems".into()),
            validations: vec![
                ValidationError {
                    field: "ttl_ms".into(),
                    detail: "too long".into(),
                },
                ValidationError {
                    field: "name".into(),
                    detail: "empty".into(),
                },
            ],
        };
        assert_eq!(
            api_error_text(&error),
            "invalid request: 2 problems\n  ttl_ms: too long\n  name: empty"
        );
    }
}
