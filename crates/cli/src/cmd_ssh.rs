//! `dayshift ssh NAME [-- COMMAND...]`: runs the template's `connect`
//! command (or COMMAND) with the workspace's outputs in its environment,
//! reports usage every minute while it runs, and prints stop notices.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use dayshift_sdk::{Client, Transition, Workspace, WorkspaceStatus};
use jiff::Timestamp;
use tokio::time::MissedTickBehavior;

use crate::args::SshArgs;
use crate::ctx::{display_name, is_not_found, resolve_workspace, Ctx};
use crate::notifier::{Observation, StopNotifier};

/// How often usage is reported (and stop notices are checked).
const USAGE_INTERVAL: Duration = Duration::from_secs(60);

/// Returns the exit code to leave with: the command's own.
pub async fn ssh(ctx: &Ctx, args: SshArgs) -> Result<u8> {
    let client = ctx.client()?;
    let (ws, _) = resolve_workspace(&client, &args.workspace).await?;
    let display = display_name(&ws);
    if ws.status != WorkspaceStatus::Running {
        bail!(
            "workspace {display} is {}, not running; start it with 'dayshift start {}'",
            ws.status.as_str(),
            args.workspace
        );
    }

    let mut command = if let Some((program, rest)) = args.command.split_first() {
        let mut c = tokio::process::Command::new(program);
        c.args(rest);
        c
    } else {
        let Some(connect) = ws.connect.as_deref().filter(|c| !c.trim().is_empty()) else {
            bail!(
                "the template of {display} has no connect command; give one: dayshift ssh {} -- COMMAND",
                args.workspace
            );
        };
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c").arg(connect);
        c
    };
    command
        .envs(output_env(&ws.latest_build.outputs))
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    // The first report happens before the command starts, so even a short
    // command counts as use and the user sees a stop notice that is due.
    let mut reporter = UsageReporter {
        client: client.clone(),
        workspace_id: ws.id.clone(),
        display,
        arg: args.workspace.clone(),
        notifier: StopNotifier::new(),
        warned: false,
    };
    reporter.report().await;
    let mut child = command
        .spawn()
        .with_context(|| match args.command.first() {
            Some(program) => format!("cannot run {program}"),
            None => "cannot run the connect command with sh".to_string(),
        })?;

    // Ctrl-C belongs to the command (it is in our process group): do not
    // die of it ourselves while the command runs.
    let swallow_interrupts = tokio::spawn(async { while tokio::signal::ctrl_c().await.is_ok() {} });
    let reporter = tokio::spawn(reporter.run());
    let status = child.wait().await;
    reporter.abort();
    swallow_interrupts.abort();
    let status = status.context("cannot wait for the command")?;
    Ok(exit_code(status))
}

fn exit_code(status: std::process::ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return u8::try_from(code & 0xff).unwrap_or(1);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return u8::try_from((128 + signal) & 0xff).unwrap_or(1);
        }
    }
    1
}

/// `DAYSHIFT_OUTPUT_<KEY>` for every build output; the key uppercased, with
/// anything but letters, digits and `_` replaced by `_`.
pub fn output_env(outputs: &BTreeMap<String, String>) -> Vec<(String, String)> {
    outputs
        .iter()
        .map(|(k, v)| {
            let key: String = k
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            (format!("DAYSHIFT_OUTPUT_{key}"), v.clone())
        })
        .collect()
}

/// Whether the workspace counts as up for the session.
pub fn is_up(ws: &Workspace) -> bool {
    ws.latest_build.transition == Transition::Start
        && matches!(
            ws.status,
            WorkspaceStatus::Running | WorkspaceStatus::Starting | WorkspaceStatus::Pending
        )
}

/// Reports usage and prints a stop notice when one is due.
struct UsageReporter {
    client: Client,
    workspace_id: String,
    display: String,
    arg: String,
    notifier: StopNotifier,
    warned: bool,
}

impl UsageReporter {
    async fn report(&mut self) {
        let obs = match self.client.report_usage(&self.workspace_id).await {
            Ok(timed) => Observation {
                running: is_up(&timed.value),
                deadline: timed.value.latest_build.deadline,
                server_now: timed.server_time.unwrap_or_else(Timestamp::now),
            },
            Err(e) if is_not_found(&e) => Observation {
                running: false,
                deadline: None,
                server_now: Timestamp::now(),
            },
            Err(e) => {
                if !self.warned {
                    eprintln!("warning: cannot report activity of {}: {e}", self.display);
                    self.warned = true;
                }
                return;
            }
        };
        if let Some(notice) = self.notifier.observe(obs) {
            eprintln!("{}", notice.render(&self.display, &self.arg));
        }
    }

    /// Reports every [`USAGE_INTERVAL`] after the first report.
    async fn run(mut self) {
        let start = tokio::time::Instant::now() + USAGE_INTERVAL;
        let mut interval = tokio::time::interval_at(start, USAGE_INTERVAL);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            self.report().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_environment_names() {
        let outputs: BTreeMap<String, String> = [
            ("port", "2222"),
            ("ssh-host", "localhost"),
            ("Url.Path", "/x y"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut env = output_env(&outputs);
        env.sort();
        assert_eq!(
            env,
            vec![
                ("DAYSHIFT_OUTPUT_PORT".to_string(), "2222".to_string()),
                (
                    "DAYSHIFT_OUTPUT_SSH_HOST".to_string(),
                    "localhost".to_string()
                ),
                ("DAYSHIFT_OUTPUT_URL_PATH".to_string(), "/x y".to_string()),
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn exit_codes_are_forwarded() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(3 << 8)), 3);
        // Killed by SIGTERM (15): 128 + 15.
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(15)), 143);
    }
}
