//! `dayshift schedule show|start|stop|extend|preview` and `dayshift bump`.

use anyhow::{anyhow, bail, Result};
use dayshift_schedule::Schedule;
use dayshift_sdk::{PreviewPoint, PreviewRange, Transition, Workspace, WorkspaceStatus};
use jiff::{SignedDuration, Timestamp};

use crate::args::{
    BumpArgs, ScheduleExtendArgs, SchedulePreviewArgs, ScheduleShowArgs, ScheduleStartArgs,
    ScheduleStopArgs,
};
use crate::cmd_workspaces::report;
use crate::ctx::{display_name, resolve_workspace, Ctx};
use crate::format::{
    default_zone, duration, humanize_schedule, parse_autostart, parse_extension, parse_ttl,
    relative, relative_with_clock, to_millis, ttl_text,
};
use crate::output::{print_json, print_table};

pub async fn show(ctx: &Ctx, args: ScheduleShowArgs) -> Result<()> {
    let client = ctx.client()?;
    let (workspaces, now) = match &args.workspace {
        Some(name) => {
            let (ws, now) = resolve_workspace(&client, name).await?;
            (vec![ws], now)
        }
        None => {
            let timed = client
                .search_workspaces(&dayshift_sdk::WorkspaceListQuery {
                    all: args.all,
                    ..Default::default()
                })
                .collect_timed()
                .await?;
            (
                timed.value,
                timed.server_time.unwrap_or_else(Timestamp::now),
            )
        }
    };
    if ctx.json() {
        return print_json(&workspaces);
    }
    print_table(
        [
            "WORKSPACE",
            "STARTS AT",
            "STARTS NEXT",
            "STOPS AFTER",
            "STOPS NEXT",
        ],
        workspaces.iter().map(|ws| schedule_row(ws, now)),
    );
    Ok(())
}

pub fn schedule_row(ws: &Workspace, now: Timestamp) -> Vec<String> {
    let schedule = ws
        .autostart_schedule
        .as_deref()
        .and_then(|s| Schedule::parse(s).ok());
    let starts_at = ws
        .autostart_schedule
        .as_deref()
        .map(humanize_schedule)
        .unwrap_or_default();
    // The server knows the next allowed start (template day restrictions
    // included); without it, the schedule's next point.
    let next_start = ws
        .next_start_at
        .or_else(|| schedule.as_ref().and_then(|s| s.next_after(now)));
    let starts_next = match (&ws.autostart_schedule, next_start) {
        (Some(_), Some(next)) => relative(next, now),
        _ => String::new(),
    };
    let (ttl, stops_after) = match ttl_text(ws) {
        Some((ttl, text)) => (Some(ttl), text),
        None => (None, String::new()),
    };
    let running = ws.status == WorkspaceStatus::Running
        || (ws.latest_build.transition == Transition::Start
            && matches!(
                ws.status,
                WorkspaceStatus::Pending | WorkspaceStatus::Starting
            ));
    let stops_next = if running {
        match ws.latest_build.deadline {
            Some(deadline) => relative(deadline, now),
            None if ws.status == WorkspaceStatus::Running => "manually".into(),
            None => String::new(),
        }
    } else {
        // Stopped: it will stop TTL after its next autostart.
        match (ws.autostart_schedule.as_ref(), next_start, ttl) {
            (Some(_), Some(next), Some(ttl)) => next
                .checked_add(ttl)
                .map(|t| relative(t, now))
                .unwrap_or_default(),
            _ => String::new(),
        }
    };
    vec![
        display_name(ws),
        starts_at,
        starts_next,
        stops_after,
        stops_next,
    ]
}

pub async fn start(ctx: &Ctx, args: ScheduleStartArgs) -> Result<()> {
    let input = args.schedule.join(" ");
    let schedule = parse_autostart(&input, &default_zone())?;
    let client = ctx.client()?;
    let (ws, _) = resolve_workspace(&client, &args.workspace).await?;
    let display = display_name(&ws);
    client
        .set_autostart(&ws.id, schedule.as_ref().map(|s| s.to_string()))
        .await?;
    let line = match schedule {
        None => format!("Workspace {display} will not start automatically."),
        Some(schedule) => {
            let (after, now) = resolve_workspace(&client, &args.workspace).await?;
            let next = after
                .next_start_at
                .or_else(|| schedule.next_after(now))
                .map(|t| format!(" (next start {})", relative_with_clock(t, now)))
                .unwrap_or_default();
            format!(
                "Workspace {display} will start at {}{next}.",
                schedule.humanize()
            )
        }
    };
    report(ctx, &client, &ws.id, &line).await
}

pub async fn stop(ctx: &Ctx, args: ScheduleStopArgs) -> Result<()> {
    let input = args.duration.trim();
    let ttl = if input.eq_ignore_ascii_case("manual") {
        None
    } else {
        Some(parse_ttl(input)?)
    };
    let client = ctx.client()?;
    let (ws, _) = resolve_workspace(&client, &args.workspace).await?;
    let display = display_name(&ws);
    client
        .set_ttl(&ws.id, ttl.map(to_millis).transpose()?)
        .await?;
    let line = match ttl {
        None => format!("Workspace {display} will not stop automatically."),
        Some(ttl) => format!(
            "Workspace {display} will stop {} after it starts.",
            duration(ttl)
        ),
    };
    report(ctx, &client, &ws.id, &line).await
}

/// The stop time of a running workspace, or why it has none to move.
fn current_deadline(ws: &Workspace, arg: &str) -> Result<Timestamp> {
    let display = display_name(ws);
    if ws.status != WorkspaceStatus::Running {
        bail!(
            "workspace {display} is {}, not running: only a running workspace's stop time can be moved",
            ws.status.as_str()
        );
    }
    match ws.latest_build.deadline {
        Some(deadline) => Ok(deadline),
        None => bail!(
            "workspace {display} has no stop time (manual shutdown): nothing to move; \
             set one with 'dayshift schedule stop {arg} DURATION'"
        ),
    }
}

/// The new stop time must not pass the template's autostop requirement.
fn check_max_deadline(ws: &Workspace, deadline: Timestamp, now: Timestamp) -> Result<()> {
    match ws.latest_build.max_deadline {
        Some(max) if deadline > max => bail!(
            "workspace {} must stop by {} (the template's autostop requirement); \
             the stop time cannot move past it",
            display_name(ws),
            relative_with_clock(max, now)
        ),
        _ => Ok(()),
    }
}

pub async fn extend(ctx: &Ctx, args: ScheduleExtendArgs) -> Result<()> {
    let by = parse_extension(&args.duration)?;
    let client = ctx.client()?;
    let (ws, now) = resolve_workspace(&client, &args.workspace).await?;
    let current = current_deadline(&ws, &args.workspace)?;
    let deadline = now
        .checked_add(by)
        .map_err(|_| anyhow!("invalid duration {:?}: too large", args.duration))?;
    if deadline <= current {
        bail!(
            "workspace {} already stops {}, later than {} from now: \
             'schedule extend' only moves the stop time later.\n\
             To add {} to the current stop time, run 'dayshift bump {} {}'.",
            display_name(&ws),
            relative_with_clock(current, now),
            duration(by),
            duration(by),
            args.workspace,
            args.duration.trim()
        );
    }
    check_max_deadline(&ws, deadline, now)?;
    set_deadline(ctx, &client, &args.workspace, &ws, deadline).await
}

pub async fn bump(ctx: &Ctx, args: BumpArgs) -> Result<()> {
    let by = match &args.duration {
        Some(d) => parse_extension(d)?,
        None => SignedDuration::from_hours(1),
    };
    let client = ctx.client()?;
    let (ws, now) = resolve_workspace(&client, &args.workspace).await?;
    let current = current_deadline(&ws, &args.workspace)?;
    let deadline = current
        .checked_add(by)
        .map_err(|_| anyhow!("invalid duration {}: too large", duration(by)))?;
    check_max_deadline(&ws, deadline, now)?;
    set_deadline(ctx, &client, &args.workspace, &ws, deadline).await
}

async fn set_deadline(
    ctx: &Ctx,
    client: &dayshift_sdk::Client,
    arg: &str,
    ws: &Workspace,
    deadline: Timestamp,
) -> Result<()> {
    client.extend(&ws.id, deadline).await?;
    // Report what the server now holds, against its clock.
    let (after, now) = resolve_workspace(client, arg).await?;
    if ctx.json() {
        return print_json(&after);
    }
    let deadline = after.latest_build.deadline.unwrap_or(deadline);
    outln!(
        "Workspace {} will stop {}.",
        display_name(&after),
        relative_with_clock(deadline, now)
    );
    Ok(())
}

/// How the table shows an unbounded end of a range (`null` in JSON).
const UNBOUNDED: &str = "unbounded";

/// `schedule preview`: needs no server.
pub fn preview(ctx: &Ctx, args: SchedulePreviewArgs) -> Result<()> {
    let schedule = preview_schedule(&args.cron, &default_zone())?;
    let from = match &args.from {
        Some(s) => parse_instant(s)?,
        None => Timestamp::now(),
    };
    let count = args.count as usize;
    let zone = schedule.time_zone().clone();
    let local = |t: Timestamp| -> String {
        let offset = zone.to_offset(t);
        t.display_with_offset(offset).to_string()
    };
    if args.ranges {
        let ranges: Vec<PreviewRange> = schedule
            .ranges(from, count)
            .into_iter()
            .map(|(start, end)| PreviewRange {
                start: (start != Timestamp::MIN).then_some(start),
                end: (end != Timestamp::MAX).then_some(end),
            })
            .collect();
        if ctx.json() {
            return print_json(&ranges);
        }
        let zone_name = schedule.zone_name().to_string();
        let utc_only = zone_name == "UTC";
        let mut header = Vec::new();
        if !utc_only {
            header.push(format!("START ({zone_name})"));
            header.push(format!("END ({zone_name})"));
        }
        header.extend(["START (UTC)", "END (UTC)", "LENGTH"].map(String::from));
        print_table(
            header,
            ranges.iter().map(|r| {
                let bound = |t: Option<Timestamp>, show: &dyn Fn(Timestamp) -> String| {
                    t.map_or_else(|| UNBOUNDED.to_string(), show)
                };
                let mut row = Vec::new();
                if !utc_only {
                    row.push(bound(r.start, &local));
                    row.push(bound(r.end, &local));
                }
                row.extend([
                    bound(r.start, &|t| t.to_string()),
                    bound(r.end, &|t| t.to_string()),
                    match (r.start, r.end) {
                        (Some(start), Some(end)) => duration(end.duration_since(start)),
                        _ => UNBOUNDED.to_string(),
                    },
                ]);
                row
            }),
        );
        return Ok(());
    }
    let points: Vec<PreviewPoint> = schedule
        .upcoming(from)
        .take(count)
        .map(|at| PreviewPoint {
            at,
            local: local(at),
        })
        .collect();
    if ctx.json() {
        return print_json(&points);
    }
    if schedule.zone_name() == "UTC" {
        print_table(["UTC"], points.iter().map(|p| vec![p.at.to_string()]));
    } else {
        print_table(
            [
                format!("LOCAL ({})", schedule.zone_name()),
                "UTC".to_string(),
            ],
            points
                .iter()
                .map(|p| vec![p.local.clone(), p.at.to_string()]),
        );
    }
    Ok(())
}

/// A cron expression (any, for `--ranges`), or the human form
/// `--start-at` takes (`9:30AM Mon-Fri Europe/Berlin`, zone-less input read
/// in `default_zone`).
fn preview_schedule(input: &str, default_zone: &str) -> Result<Schedule> {
    let input = input.trim();
    if let Ok(schedule) = Schedule::parse(input) {
        return Ok(schedule);
    }
    match parse_autostart(input, default_zone)? {
        Some(schedule) => Ok(schedule),
        None => bail!("schedule {input:?} never starts anything: nothing to preview"),
    }
}

/// An RFC 3339 instant (`2027-03-27T00:00:00Z`, or with an offset).
pub fn parse_instant(input: &str) -> Result<Timestamp> {
    input.trim().parse::<Timestamp>().map_err(|e| {
        anyhow!("invalid instant {input:?} (expected RFC 3339, e.g. 2027-03-27T00:00:00Z): {e}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_take_cron_and_the_human_form() {
        let s = preview_schedule("9:30AM Mon-Fri", "UTC").unwrap();
        assert_eq!(s.to_string(), "CRON_TZ=UTC 30 9 * * 1-5");
        let s = preview_schedule("9:30AM Mon-Fri Europe/Berlin", "UTC").unwrap();
        assert_eq!(s.to_string(), "CRON_TZ=Europe/Berlin 30 9 * * 1-5");
        let s = preview_schedule("* 8-18 1 * *", "UTC").unwrap();
        assert_eq!(s.to_string(), "CRON_TZ=UTC * 8-18 1 * *");
        let err = preview_schedule("30 9 * * MON-FRY", "UTC")
            .unwrap_err()
            .to_string();
        assert!(err.contains("FRY"), "{err}");
        assert!(preview_schedule("manual", "UTC").is_err());
    }

    #[test]
    fn instants() {
        assert_eq!(
            parse_instant("2027-03-27T00:00:00Z").unwrap().to_string(),
            "2027-03-27T00:00:00Z"
        );
        assert_eq!(
            parse_instant("2027-03-27T02:00:00+02:00")
                .unwrap()
                .to_string(),
            "2027-03-27T00:00:00Z"
        );
        assert!(parse_instant("tomorrow").is_err());
        assert!(parse_instant("2027-03-27").is_err());
    }
}
