//! Following a build to its end: streaming its log (server long-poll) and
//! waiting until its job settles. A spinner on a terminal, plain lines
//! otherwise.

use std::time::Duration;

use anyhow::{bail, Result};
use dayshift_sdk::{BuildLogLine, Client, JobStatus, Transition, WorkspaceBuild, WorkspaceStatus};
use indicatif::{ProgressBar, ProgressStyle};

use crate::ctx::is_not_found;
use crate::output::stderr_is_terminal;

pub fn job_finished(status: JobStatus) -> bool {
    matches!(
        status,
        JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled
    )
}

fn verb(transition: Transition) -> &'static str {
    match transition {
        Transition::Start => "Starting",
        Transition::Stop => "Stopping",
        Transition::Delete => "Deleting",
    }
}

struct Progress {
    bar: Option<ProgressBar>,
    /// Build log lines go to stderr (with `-o json`, stdout holds only
    /// the JSON).
    log_to_stderr: bool,
}

impl Progress {
    fn new(message: String, log_to_stderr: bool) -> Progress {
        if !stderr_is_terminal() {
            eprintln!("{message}...");
            return Progress {
                bar: None,
                log_to_stderr,
            };
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress {
            bar: Some(bar),
            log_to_stderr,
        }
    }

    fn line(&self, line: &BuildLogLine) {
        let text = line.output.trim_end_matches(['\n', '\r']);
        let print = || {
            if self.log_to_stderr {
                eprintln!("{text}");
            } else {
                outln!("{text}");
            }
        };
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Follows `build` of the workspace `workspace_id` (displayed as
/// `display`) until its job has finished, printing its log (to stderr when
/// `log_to_stderr`). Returns the finished build; a failed or canceled
/// build is an error.
pub async fn follow_build(
    client: &Client,
    display: &str,
    workspace_id: &str,
    build: &WorkspaceBuild,
    log_to_stderr: bool,
) -> Result<WorkspaceBuild> {
    let progress = Progress::new(
        format!("{} {display}", verb(build.transition)),
        log_to_stderr,
    );
    let result = follow_inner(client, workspace_id, build, &progress).await;
    progress.finish();
    let finished = result?;
    match finished.job_status {
        JobStatus::Succeeded => Ok(finished),
        JobStatus::Canceled => bail!(
            "build #{} ({}) of {display} was canceled",
            finished.build_number,
            finished.transition.as_str()
        ),
        _ => bail!(
            "build #{} ({}) of {display} failed: {}",
            finished.build_number,
            finished.transition.as_str(),
            finished
                .error
                .as_deref()
                .unwrap_or("see the build log above")
        ),
    }
}

async fn follow_inner(
    client: &Client,
    workspace_id: &str,
    build: &WorkspaceBuild,
    progress: &Progress,
) -> Result<WorkspaceBuild> {
    let mut after = 0i64;
    loop {
        let lines = match client.build_logs(&build.id, after, true).await {
            Ok(lines) => lines,
            // A deleted workspace's logs may be gone with it.
            Err(e) if is_not_found(&e) && build.transition == Transition::Delete => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        for line in &lines {
            after = after.max(line.id);
            progress.line(line);
        }
        match current_build(client, workspace_id, build).await? {
            Some(current) if job_finished(current.job_status) => {
                // Lines written between the last poll and completion.
                if let Ok(rest) = client.build_logs(&build.id, after, false).await {
                    for line in rest.iter().filter(|l| l.id > after) {
                        progress.line(line);
                    }
                }
                return Ok(current);
            }
            Some(_) => {}
            None => {
                // The workspace is gone: the delete went through.
                let mut done = build.clone();
                done.job_status = JobStatus::Succeeded;
                done.status = WorkspaceStatus::Deleted;
                return Ok(done);
            }
        }
        if lines.is_empty() {
            // The long-poll answered without news: do not spin.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The current state of `build`, or `None` if its (deleted) workspace is
/// gone.
async fn current_build(
    client: &Client,
    workspace_id: &str,
    build: &WorkspaceBuild,
) -> Result<Option<WorkspaceBuild>> {
    let ws = match client.workspace(workspace_id).await {
        Ok(ws) => ws,
        Err(e) if is_not_found(&e) && build.transition == Transition::Delete => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if ws.latest_build.id == build.id {
        return Ok(Some(ws.latest_build));
    }
    // A newer build exists (e.g. an autostop): look ours up.
    let builds = client.builds(workspace_id).await?;
    match builds.into_iter().find(|b| b.id == build.id) {
        Some(b) => Ok(Some(b)),
        None => bail!(
            "build {} disappeared from workspace {workspace_id}",
            build.id
        ),
    }
}
