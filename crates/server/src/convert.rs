//! Store values to API values.

use dayshift_schedule::SignedDuration;
use dayshift_sdk as sdk;
use dayshift_store as store;

pub fn ms(d: SignedDuration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub fn session(s: &store::Session, current: bool) -> sdk::Session {
    sdk::Session {
        id: s.id.clone(),
        kind: match s.kind {
            store::SessionKind::Token => sdk::SessionKind::Token,
            store::SessionKind::Cookie => sdk::SessionKind::Cookie,
        },
        label: s.label.clone(),
        created_at: s.created_at,
        last_used_at: s.last_used_at,
        expires_at: s.expires_at,
        current,
    }
}

pub fn user(u: &store::User) -> sdk::User {
    sdk::User {
        id: u.id.clone(),
        username: u.username.clone(),
        email: u.email.clone(),
        role: match u.role {
            store::Role::Owner => sdk::Role::Owner,
            store::Role::Member => sdk::Role::Member,
        },
        created_at: u.created_at,
    }
}

pub fn transition(t: store::Transition) -> sdk::Transition {
    match t {
        store::Transition::Start => sdk::Transition::Start,
        store::Transition::Stop => sdk::Transition::Stop,
        store::Transition::Delete => sdk::Transition::Delete,
    }
}

pub fn store_transition(t: sdk::Transition) -> store::Transition {
    match t {
        sdk::Transition::Start => store::Transition::Start,
        sdk::Transition::Stop => store::Transition::Stop,
        sdk::Transition::Delete => store::Transition::Delete,
    }
}

/// The store and the API spell these enums the same way; going through
/// the text keeps one spelling (the store's) authoritative.
fn via_text<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .unwrap_or_else(|_| unreachable!("store and API enum spellings differ for {text:?}"))
}

pub fn build(b: &store::Build) -> sdk::WorkspaceBuild {
    sdk::WorkspaceBuild {
        id: b.id.clone(),
        workspace_id: b.workspace_id.clone(),
        build_number: b.build_number,
        transition: transition(b.transition),
        status: via_text(b.status().as_str()),
        job_status: via_text(b.job.status.as_str()),
        reason: via_text(b.reason.as_str()),
        deadline: b.deadline,
        max_deadline: b.max_deadline,
        template_version_id: b.template_version_id.clone(),
        created_at: b.created_at,
        started_at: b.job.started_at,
        completed_at: b.job.completed_at,
        error: b.job.error.clone(),
        parameters: b.parameters.clone(),
        outputs: b.outputs.clone(),
    }
}

pub fn workspace(s: &store::WorkspaceState) -> sdk::Workspace {
    let w = &s.workspace;
    sdk::Workspace {
        id: w.id.clone(),
        name: w.name.clone(),
        owner_id: w.owner_id.clone(),
        owner_name: w.owner_name.clone(),
        template_id: s.template.id.clone(),
        template_name: s.template.name.clone(),
        status: via_text(s.status().as_str()),
        autostart_schedule: w.autostart_schedule.clone(),
        autostart_error: dayshift_lifecycle::rules::autostart_error(s),
        ttl_ms: w.ttl.map(ms),
        next_start_at: w.next_start_at,
        last_used_at: w.last_used_at,
        dormant_at: w.dormant_at,
        deleting_at: w.deleting_at,
        outdated: s.is_outdated(),
        created_at: w.created_at,
        connect: s.connect.clone(),
        latest_build: build(&s.build),
    }
}

fn day_names(days: dayshift_schedule::Weekdays) -> Vec<String> {
    use dayshift_schedule::Weekday;
    [
        (Weekday::Monday, "monday"),
        (Weekday::Tuesday, "tuesday"),
        (Weekday::Wednesday, "wednesday"),
        (Weekday::Thursday, "thursday"),
        (Weekday::Friday, "friday"),
        (Weekday::Saturday, "saturday"),
        (Weekday::Sunday, "sunday"),
    ]
    .into_iter()
    .filter(|(day, _)| days.contains(*day))
    .map(|(_, name)| name.to_string())
    .collect()
}

pub fn template(t: &store::Template) -> sdk::Template {
    let p = &t.policy;
    sdk::Template {
        id: t.id.clone(),
        name: t.name.clone(),
        active_version_id: t.active_version_id.clone(),
        created_at: t.created_at,
        default_ttl_ms: ms(p.default_ttl),
        activity_bump_ms: ms(p.activity_bump),
        autostop_requirement: sdk::AutostopRequirement {
            days_of_week: day_names(p.autostop_requirement_days),
            weeks: p.autostop_requirement_weeks,
        },
        autostart_requirement: sdk::AutostartRequirement {
            days_of_week: day_names(p.autostart_requirement_days),
        },
        allow_user_autostart: p.allow_user_autostart,
        allow_user_autostop: p.allow_user_autostop,
        failure_ttl_ms: ms(p.failure_ttl),
        time_til_dormant_ms: ms(p.time_til_dormant),
        time_til_dormant_autodelete_ms: ms(p.time_til_dormant_autodelete),
    }
}

pub fn log_line(l: &store::LogLine) -> sdk::BuildLogLine {
    sdk::BuildLogLine {
        id: l.id,
        created_at: l.created_at,
        stream: l.stream.clone(),
        output: l.output.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `via_text` may only panic if the two spellings diverge: every
    /// stored variant must have its API twin.
    #[test]
    fn every_stored_enum_value_has_an_api_spelling() {
        for s in store::WorkspaceStatus::ALL {
            let _: sdk::WorkspaceStatus = via_text(s.as_str());
        }
        for s in store::JobStatus::ALL {
            let _: sdk::JobStatus = via_text(s.as_str());
        }
        for r in store::BuildReason::ALL {
            let _: sdk::BuildReason = via_text(r.as_str());
        }
        for t in store::Transition::ALL {
            assert_eq!(transition(*t).as_str(), t.as_str());
            assert_eq!(store_transition(transition(*t)), *t);
        }
    }
}
