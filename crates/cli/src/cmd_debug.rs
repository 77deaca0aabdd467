//! `dayshift debug clock advance DURATION | set RFC3339`: moves the clock of
//! a server started with `--dev-clock` and says, by workspace name, what
//! the autobuild tick and the prebuilds reconcile did at the new time.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use dayshift_schedule::SignedDuration;
use dayshift_sdk::{DebugClockRequest, DebugClockResponse};

use crate::args::DebugClockCommand;
use crate::cmd_schedule::parse_instant;
use crate::ctx::{display_name, is_not_found, Ctx};
use crate::format::parse_duration_within;
use crate::output::print_json;

/// Far enough for any demo; the server refuses what leaves its range.
const TEN_YEARS: SignedDuration = SignedDuration::from_hours(10 * 365 * 24);

pub async fn clock(ctx: &Ctx, command: DebugClockCommand) -> Result<()> {
    let request = match &command {
        DebugClockCommand::Advance(args) => {
            // Checked here for the CLI's wording; the server parses it
            // with the same parser.
            parse_duration_within(&args.duration, SignedDuration::from_secs(1), TEN_YEARS)?;
            DebugClockRequest {
                now: None,
                advance: Some(args.duration.trim().to_string()),
            }
        }
        DebugClockCommand::Set(args) => DebugClockRequest {
            now: Some(parse_instant(&args.at)?),
            advance: None,
        },
    };
    let client = ctx.client()?;
    let response = client.debug_clock(&request).await.map_err(|e| {
        if is_not_found(&e) {
            anyhow::Error::new(e)
                .context("the server's clock cannot be set: start it with --dev-clock")
        } else {
            e.into()
        }
    })?;
    if ctx.json() {
        return print_json(&response);
    }
    // Names of every workspace the caller may see; a deleted one keeps
    // its id.
    let names: BTreeMap<String, String> = client
        .workspaces(true)
        .await
        .context("cannot list workspaces to name them")?
        .iter()
        .map(|ws| (ws.id.clone(), display_name(ws)))
        .collect();
    for line in clock_report(&response, &names) {
        outln!("{line}");
    }
    Ok(())
}

/// What happened, one line each: the new time, each workspace's
/// transition or error by name, the prebuilds reconcile.
pub fn clock_report(
    response: &DebugClockResponse,
    names: &BTreeMap<String, String>,
) -> Vec<String> {
    let name = |id: &String| names.get(id).cloned().unwrap_or_else(|| id.clone());
    let mut lines = vec![format!("The server clock is now {}.", response.now)];
    let mut transitions: Vec<(String, &String)> = response
        .autobuild
        .transitions
        .iter()
        .map(|(id, t)| (name(id), t))
        .collect();
    transitions.sort();
    for (workspace, transition) in transitions {
        lines.push(format!("{workspace}: {transition}"));
    }
    let mut errors: Vec<(String, &String)> = response
        .autobuild
        .errors
        .iter()
        .map(|(id, e)| (name(id), e))
        .collect();
    errors.sort();
    for (workspace, error) in errors {
        lines.push(format!("{workspace}: error: {error}"));
    }
    if response.autobuild.transitions.is_empty() && response.autobuild.errors.is_empty() {
        lines.push("No workspace was due for a transition.".to_string());
    }
    let prebuilds = &response.prebuilds;
    if prebuilds.created + prebuilds.deleted > 0 {
        lines.push(format!(
            "Prebuilds: {} created, {} deleted.",
            prebuilds.created, prebuilds.deleted
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use dayshift_sdk::{AutobuildStats, ReconcileStats};

    #[test]
    fn transitions_are_reported_by_name() {
        let response = DebugClockResponse {
            now: "2027-01-04T17:00:00Z".parse().unwrap(),
            autobuild: AutobuildStats {
                transitions: [
                    ("w2".to_string(), "stop".to_string()),
                    ("w1".to_string(), "start".to_string()),
                    ("gone".to_string(), "delete".to_string()),
                ]
                .into(),
                errors: [("w3".to_string(), "locked".to_string())].into(),
            },
            prebuilds: ReconcileStats {
                created: 2,
                deleted: 0,
            },
        };
        let names: BTreeMap<String, String> = [
            ("w1".to_string(), "admin/demo".to_string()),
            ("w2".to_string(), "admin/proc".to_string()),
            ("w3".to_string(), "bob/x".to_string()),
        ]
        .into();
        assert_eq!(
            clock_report(&response, &names),
            vec![
                "The server clock is now 2027-01-04T17:00:00Z.",
                "admin/demo: start",
                "admin/proc: stop",
                "gone: delete",
                "bob/x: error: locked",
                "Prebuilds: 2 created, 0 deleted.",
            ]
        );
        let quiet = DebugClockResponse {
            now: "2027-01-04T17:00:00Z".parse().unwrap(),
            autobuild: AutobuildStats::default(),
            prebuilds: ReconcileStats::default(),
        };
        assert_eq!(
            clock_report(&quiet, &names)[1],
            "No workspace was due for a transition."
        );
    }
}
