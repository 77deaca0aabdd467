//! `dayshift prebuilds status|pause|resume`.

use anyhow::Result;
use dayshift_sdk::{PrebuildPreset, PrebuildSettings};
use jiff::Timestamp;

use crate::ctx::Ctx;
use crate::format::relative;
use crate::output::{print_json, print_table};

pub async fn status(ctx: &Ctx) -> Result<()> {
    let client = ctx.client()?;
    let timed = client.prebuilds_timed().await?;
    if ctx.json() {
        return print_json(&timed.value);
    }
    let now = timed.server_time.unwrap_or_else(Timestamp::now);
    print_table(
        [
            "TEMPLATE",
            "PRESET",
            "DESIRED",
            "RUNNING",
            "STARTING",
            "ELIGIBLE",
            "SCHEDULE",
            "NEXT CHANGE",
            "HARD LIMITED",
        ],
        timed.value.iter().map(|p| prebuild_row(p, now)),
    );
    Ok(())
}

pub fn prebuild_row(p: &PrebuildPreset, now: Timestamp) -> Vec<String> {
    vec![
        p.template_name.clone(),
        p.preset_name.clone(),
        p.desired.to_string(),
        p.running.to_string(),
        p.starting.to_string(),
        p.eligible.to_string(),
        schedule_column(p),
        p.next_change_at
            .map(|t| relative(t, now))
            .unwrap_or_default(),
        if p.hard_limited { "yes" } else { "no" }.to_string(),
    ]
}

/// The schedule in force with its zone (`* 8-18 * * 1-5 (Europe/Berlin)`),
/// or `default` when none is.
fn schedule_column(p: &PrebuildPreset) -> String {
    match (&p.schedule_in_force, &p.schedule_timezone) {
        (Some(cron), Some(zone)) => format!("{cron} ({zone})"),
        (Some(cron), None) => cron.clone(),
        (None, Some(zone)) => format!("default ({zone} schedules)"),
        (None, None) => "default".to_string(),
    }
}

pub async fn set_paused(ctx: &Ctx, paused: bool) -> Result<()> {
    let client = ctx.client()?;
    let settings = client
        .set_prebuild_settings(&PrebuildSettings {
            reconciliation_paused: paused,
        })
        .await?;
    if ctx.json() {
        return print_json(&settings);
    }
    if settings.reconciliation_paused {
        outln!("Prebuilds reconciliation is paused.");
    } else {
        outln!("Prebuilds reconciliation is running.");
    }
    Ok(())
}
