//! `dayshift schedule show|start|stop|extend|preview` and `dayshift bump`.

use anyhow::{anyhow, bail, Result};
use dayshift_schedule::Schedule;
use dayshift_sdk::{PreviewPoint, PreviewRange, Transition, Workspace, WorkspaceStatus};
use jiff::{SignedDuration, Timestamp};

use crate::args::{
    BumpArgs, ScheduleExtendArgs, SchedulePreviewArgs, ScheduleShowArgs, ScheduleStartArgs,
    ScheduleStopArgs,
};
use crate::ctx::{display_name, resolve_workspace, Ctx};
use crate::format::{
    default_zone, duration, humanize_schedule, parse_autostart, parse_positive_duration, relative,
    to_millis,
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
    let ttl = ws.ttl_ms.map(SignedDuration::from_millis);
    let stops_after = ttl.map(duration).unwrap_or_default();
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
    match schedule {
        None => println!("Workspace {display} will not start automatically."),
        Some(schedule) => {
            let (after, now) = resolve_workspace(&client, &args.workspace).await?;
            let next = after
                .next_start_at
                .or_else(|| schedule.next_after(now))
                .map(|t| format!(" (next start {})", relative(t, now)))
                .unwrap_or_default();
            println!(
                "Workspace {display} will start at {}{next}.",
                schedule.humanize()
            );
        }
    }
    Ok(())
}

pub async fn stop(ctx: &Ctx, args: ScheduleStopArgs) -> Result<()> {
    let input = args.duration.trim();
    let ttl = if input.eq_ignore_ascii_case("manual") {
        None
    } else {
        Some(parse_positive_duration(input)?)
    };
    let client = ctx.client()?;
    let (ws, _) = resolve_workspace(&client, &args.workspace).await?;
    let display = display_name(&ws);
    client
        .set_ttl(&ws.id, ttl.map(to_millis).transpose()?)
        .await?;
    match ttl {
        None => println!("Workspace {display} will not stop automatically."),
        Some(ttl) => println!(
            "Workspace {display} will stop {} after it starts.",
            duration(ttl)
        ),
    }
    Ok(())
}

/// The longest a deadline may be moved by one `extend` or `bump`: the
/// longest TTL (DESIGN §3).
const MAX_EXTENSION: SignedDuration = SignedDuration::from_hours(30 * 24);

fn parse_extension(input: &str) -> Result<SignedDuration> {
    let by = parse_positive_duration(input)?;
    if by > MAX_EXTENSION {
        bail!(
            "invalid duration {input:?}: at most {} (the longest TTL)",
            duration(MAX_EXTENSION)
        );
    }
    Ok(by)
}

pub async fn extend(ctx: &Ctx, args: ScheduleExtendArgs) -> Result<()> {
    let by = parse_extension(&args.duration)?;
    let client = ctx.client()?;
    let (ws, now) = resolve_workspace(&client, &args.workspace).await?;
    let deadline = now
        .checked_add(by)
        .map_err(|_| anyhow!("duration {} is too large", args.duration))?;
    set_deadline(&client, &args.workspace, &ws, deadline).await
}

pub async fn bump(ctx: &Ctx, args: BumpArgs) -> Result<()> {
    let by = match &args.duration {
        Some(d) => parse_extension(d)?,
        None => SignedDuration::from_hours(1),
    };
    let client = ctx.client()?;
    let (ws, _) = resolve_workspace(&client, &args.workspace).await?;
    let display = display_name(&ws);
    if ws.status != WorkspaceStatus::Running {
        bail!(
            "workspace {display} is {}, not running: only a running workspace's stop time can be moved",
            ws.status.as_str()
        );
    }
    let Some(current) = ws.latest_build.deadline else {
        bail!("workspace {display} has no stop time (manual shutdown): nothing to bump; set one with 'dayshift schedule stop {} DURATION'", args.workspace);
    };
    let deadline = current
        .checked_add(by)
        .map_err(|_| anyhow!("duration {} is too large", duration(by)))?;
    set_deadline(&client, &args.workspace, &ws, deadline).await
}

async fn set_deadline(
    client: &dayshift_sdk::Client,
    arg: &str,
    ws: &Workspace,
    deadline: Timestamp,
) -> Result<()> {
    client.extend(&ws.id, deadline).await?;
    // Report what the server now holds, against its clock.
    let (after, now) = resolve_workspace(client, arg).await?;
    let deadline = after.latest_build.deadline.unwrap_or(deadline);
    println!(
        "Workspace {} will stop {}.",
        display_name(&after),
        relative(deadline, now)
    );
    Ok(())
}

/// How the table shows an unbounded end of a range (`null` in JSON).
const UNBOUNDED: &str = "unbounded";

/// `schedule preview`: needs no server.
pub fn preview(ctx: &Ctx, args: SchedulePreviewArgs) -> Result<()> {
    let schedule = Schedule::parse(args.cron.trim())
        .map_err(|e| anyhow!("invalid cron expression {:?}: {e}", args.cron))?;
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
    fn extensions() {
        assert_eq!(
            parse_extension("2h").unwrap(),
            SignedDuration::from_hours(2)
        );
        assert_eq!(parse_extension("30d").unwrap(), MAX_EXTENSION);
        let err = parse_extension("999999d").unwrap_err().to_string();
        assert!(err.contains("at most 30d"), "{err}");
        assert!(parse_extension("-5m").is_err());
        assert!(parse_extension("0s").is_err());
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
