//! The executor's decisions, rule by rule, at their exact boundaries, on
//! hand-built states (no database). The last test checks the decisions
//! against the due times the store indexes: a workspace is selected
//! exactly when some rule applies, so the executor neither misses a
//! transition nor selects a workspace it will not touch.

use std::collections::BTreeMap;

use dayshift_lifecycle::decide::{
    autodelete_due, autostart_due, autostop_due, dormancy_due, failed_stop_due,
};
use dayshift_lifecycle::{decide, requests, Decision, LifecyclePolicy};
use dayshift_schedule::{SignedDuration, Timestamp, Weekday, Weekdays};
use dayshift_store::{
    Build, BuildReason, Job, JobStatus, Policy, Template, TemplatePolicy, Transition, Workspace,
    WorkspaceState,
};

fn t(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

const MS: SignedDuration = SignedDuration::from_millis(1);

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

/// Monday 2027-01-04 12:00 UTC.
fn now() -> Timestamp {
    t("2027-01-04T12:00:00Z")
}

/// A workspace whose latest build is `transition` with job `status`,
/// created and completed an hour before [`now`], recently used, with the
/// default template policy.
fn state(transition: Transition, status: JobStatus) -> WorkspaceState {
    let created = now() - hours(1);
    let finished = status.is_finished();
    let build = Build {
        id: "b2".into(),
        workspace_id: "w1".into(),
        build_number: 2,
        transition,
        reason: BuildReason::Initiator,
        template_version_id: "v1".into(),
        parameters: BTreeMap::from([("region".into(), "eu".into())]),
        initiator_id: "u1".into(),
        created_at: created,
        deadline: None,
        max_deadline: None,
        job: Job {
            status,
            started_at: Some(created),
            completed_at: finished.then_some(created),
            error: (status == JobStatus::Failed).then(|| "boom".to_string()),
            worker: Some("d1".into()),
            heartbeat_at: Some(created),
        },
        outputs: BTreeMap::new(),
    };
    WorkspaceState {
        workspace: Workspace {
            id: "w1".into(),
            owner_id: "u1".into(),
            owner_name: "alice".into(),
            name: "dev".into(),
            template_id: "t1".into(),
            created_at: created - hours(24),
            autostart_schedule: None,
            autostart_set_at: None,
            ttl: None,
            last_used_at: now(),
            dormant_at: None,
            deleting_at: None,
            next_start_at: None,
            next_due_at: None,
            deleted: false,
            prebuild_preset_id: None,
        },
        build,
        template: Template {
            id: "t1".into(),
            name: "demo".into(),
            active_version_id: "v1".into(),
            created_at: created - hours(48),
            policy: TemplatePolicy::default(),
        },
        connect: None,
        reuse_version_id: "v1".into(),
        reuse_parameters: BTreeMap::new(),
    }
}

fn running() -> WorkspaceState {
    state(Transition::Start, JobStatus::Succeeded)
}

fn stopped() -> WorkspaceState {
    state(Transition::Stop, JobStatus::Succeeded)
}

/// A stopped workspace with an autostart schedule, its stop build created
/// at `stopped_at`.
fn scheduled(schedule: &str, stopped_at: Timestamp) -> WorkspaceState {
    let mut s = stopped();
    s.workspace.autostart_schedule = Some(schedule.into());
    s.build.created_at = stopped_at;
    s.build.job.completed_at = Some(stopped_at);
    s
}

fn build(transition: Transition, reason: BuildReason) -> Option<Decision> {
    Some(Decision::Build { transition, reason })
}

const AUTOSTART: Option<Decision> = Some(Decision::Build {
    transition: Transition::Start,
    reason: BuildReason::Autostart,
});
const AUTOSTOP: Option<Decision> = Some(Decision::Build {
    transition: Transition::Stop,
    reason: BuildReason::Autostop,
});

// ---- autostop -------------------------------------------------------------

#[test]
fn autostop_fires_at_the_deadline_itself() {
    let mut s = running();
    s.build.deadline = Some(now());
    assert!(autostop_due(&s, now()));
    assert_eq!(decide(&s, now()), AUTOSTOP);
    assert_eq!(decide(&s, now() - MS), None, "one millisecond early");
}

#[test]
fn autostop_needs_a_deadline_and_a_successful_start() {
    let s = running();
    assert_eq!(
        decide(&s, now() + hours(1000)),
        None,
        "no deadline: manual shutdown"
    );
    let mut failed = state(Transition::Start, JobStatus::Failed);
    failed.build.deadline = Some(now() - hours(1));
    assert!(!autostop_due(&failed, now()));
    let mut canceled = state(Transition::Start, JobStatus::Canceled);
    canceled.build.deadline = Some(now() - hours(1));
    assert_eq!(decide(&canceled, now()), None);
}

// ---- failedstop -----------------------------------------------------------

fn failed_start(failure_ttl: SignedDuration) -> WorkspaceState {
    let mut s = state(Transition::Start, JobStatus::Failed);
    s.template.policy.failure_ttl = failure_ttl;
    s
}

#[test]
fn failure_ttl_is_strict() {
    let s = failed_start(hours(1));
    let completed = s.build.job.completed_at.expect("completed");
    assert_eq!(
        decide(&s, completed + hours(1)),
        None,
        "exactly completed + ttl: nothing"
    );
    assert!(failed_stop_due(&s, completed + hours(1) + MS));
    assert_eq!(
        decide(&s, completed + hours(1) + MS),
        build(Transition::Stop, BuildReason::Failedstop)
    );
}

#[test]
fn failure_ttl_zero_is_off_and_only_failed_starts_count() {
    assert_eq!(
        decide(&failed_start(SignedDuration::ZERO), now() + hours(1000)),
        None
    );
    let mut failed_stop = state(Transition::Stop, JobStatus::Failed);
    failed_stop.template.policy.failure_ttl = hours(1);
    assert_eq!(decide(&failed_stop, now() + hours(1000)), None);
    let mut canceled = state(Transition::Start, JobStatus::Canceled);
    canceled.template.policy.failure_ttl = hours(1);
    assert_eq!(decide(&canceled, now() + hours(1000)), None);
}

// ---- dormancy -------------------------------------------------------------

fn with_dormancy(mut s: WorkspaceState, threshold: SignedDuration) -> WorkspaceState {
    s.template.policy.time_til_dormant = threshold;
    s
}

#[test]
fn dormancy_is_strict_and_stops_a_running_workspace() {
    let s = with_dormancy(running(), hours(24));
    let used = s.workspace.last_used_at;
    assert_eq!(
        decide(&s, used + hours(24)),
        None,
        "exactly the threshold: nothing"
    );
    assert!(dormancy_due(&s, used + hours(24) + MS));
    let d = decide(&s, used + hours(24) + MS);
    assert_eq!(d, Some(Decision::Dormant { stop: true }));
    let d = d.expect("a decision");
    assert_eq!(d.transition(), Some(Transition::Stop));
    assert_eq!(d.reason(), BuildReason::Dormancy);
}

#[test]
fn dormancy_only_marks_a_workspace_that_is_not_running() {
    for s in [
        stopped(),
        state(Transition::Start, JobStatus::Failed),
        state(Transition::Stop, JobStatus::Failed),
    ] {
        let s = with_dormancy(s, hours(24));
        let d = decide(&s, now() + hours(25));
        assert_eq!(
            d,
            Some(Decision::Dormant { stop: false }),
            "{:?}",
            s.status()
        );
        assert_eq!(d.and_then(|d| d.transition()), None);
    }
}

#[test]
fn dormancy_is_off_at_zero_and_applies_once() {
    assert_eq!(
        decide(
            &with_dormancy(running(), SignedDuration::ZERO),
            now() + hours(9999)
        ),
        None
    );
    let mut s = with_dormancy(stopped(), hours(24));
    s.workspace.dormant_at = Some(now());
    assert_eq!(decide(&s, now() + hours(9999)), None, "already dormant");
}

// ---- autodelete -----------------------------------------------------------

/// A stopped workspace dormant since `now`, to be deleted 7 days later.
fn dormant(transition: Transition, status: JobStatus) -> WorkspaceState {
    let mut s = state(transition, status);
    s.template.policy.time_til_dormant = hours(24);
    s.template.policy.time_til_dormant_autodelete = hours(24 * 7);
    s.workspace.dormant_at = Some(now());
    s.workspace.deleting_at = Some(now() + hours(24 * 7));
    s
}

#[test]
fn autodelete_is_strictly_after_deleting_at() {
    let s = dormant(Transition::Stop, JobStatus::Succeeded);
    let deleting_at = s.workspace.deleting_at.expect("deleting_at");
    assert_eq!(decide(&s, deleting_at), None, "now == deleting_at: nothing");
    assert!(autodelete_due(&s, deleting_at + MS));
    assert_eq!(
        decide(&s, deleting_at + MS),
        build(Transition::Delete, BuildReason::Autodelete)
    );
}

#[test]
fn autodelete_needs_the_policy_and_a_deleting_at() {
    let mut off = dormant(Transition::Stop, JobStatus::Succeeded);
    off.template.policy.time_til_dormant_autodelete = SignedDuration::ZERO;
    assert_eq!(decide(&off, now() + hours(9999)), None);
    let mut unset = dormant(Transition::Stop, JobStatus::Succeeded);
    unset.workspace.deleting_at = None;
    assert_eq!(decide(&unset, now() + hours(9999)), None);
}

#[test]
fn a_failed_delete_is_retried_only_after_a_day() {
    let mut s = dormant(Transition::Delete, JobStatus::Failed);
    // Deletion was due long ago; the delete failed at `completed`.
    s.workspace.deleting_at = Some(now() - hours(72));
    let completed = s.build.job.completed_at.expect("completed");
    assert_eq!(decide(&s, completed + hours(23)), None);
    assert_eq!(
        decide(&s, completed + hours(24)),
        None,
        "exactly a day: not yet"
    );
    assert_eq!(
        decide(&s, completed + hours(24) + MS),
        build(Transition::Delete, BuildReason::Autodelete)
    );
}

#[test]
fn a_dormant_workspace_with_a_failed_stop_is_still_deleted() {
    let s = dormant(Transition::Stop, JobStatus::Failed);
    assert_eq!(
        decide(&s, now() + hours(24 * 8)),
        build(Transition::Delete, BuildReason::Autodelete)
    );
}

/// Invariant: the executor never deletes a workspace that is running or
/// whose latest build is unfinished, however long ago its deletion was due.
#[test]
fn autodelete_never_deletes_a_running_or_building_workspace() {
    let long_after = now() + hours(24 * 365);
    let mut running_dormant = dormant(Transition::Start, JobStatus::Succeeded);
    running_dormant.workspace.last_used_at = now() - hours(48);
    let building = [
        (Transition::Start, JobStatus::Pending),
        (Transition::Start, JobStatus::Running),
        (Transition::Stop, JobStatus::Pending),
        (Transition::Stop, JobStatus::Running),
        (Transition::Delete, JobStatus::Running),
    ];
    let mut states = vec![running_dormant];
    states.extend(building.map(|(transition, status)| dormant(transition, status)));
    for s in &states {
        assert!(!autodelete_due(s, long_after), "{}", s.status());
        assert_ne!(
            decide(s, long_after).and_then(Decision::transition),
            Some(Transition::Delete),
            "{}",
            s.status()
        );
        assert_eq!(
            LifecyclePolicy.derive(s).next_due_at,
            None,
            "{}: never due for deletion",
            s.status()
        );
    }
}

// ---- user requests --------------------------------------------------------

#[test]
fn a_users_start_of_a_dormant_workspace_activates_it() {
    let s = dormant(Transition::Stop, JobStatus::Succeeded);
    let at = now() + hours(3);
    let start = requests::user_build(&s, Transition::Start, "u1", at).expect("allowed");
    assert!(start.activated);
    assert_eq!(start.change.dormant_at, Some(None));
    assert_eq!(start.change.deleting_at, Some(None));
    assert_eq!(start.change.last_used_at, Some(at));
    let build = start.change.new_build.expect("a build");
    assert_eq!(
        (build.transition, build.reason),
        (Transition::Start, BuildReason::Initiator)
    );

    for transition in [Transition::Stop, Transition::Delete] {
        let other = requests::user_build(&s, transition, "u1", at).expect("allowed");
        assert!(!other.activated, "{transition} leaves dormancy alone");
        assert_eq!(other.change.dormant_at, None);
    }
    let awake = requests::user_build(&stopped(), Transition::Start, "u1", at).expect("allowed");
    assert!(!awake.activated);
    assert_eq!(awake.change.dormant_at, None);
}

#[test]
fn a_users_build_is_refused_while_one_is_in_progress() {
    let s = state(Transition::Start, JobStatus::Running);
    let refused = requests::user_build(&s, Transition::Stop, "u1", now()).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "workspace alice/dev has a build in progress (status starting); wait for it to finish"
    );
}

#[test]
fn set_dormant_marks_or_activates_and_is_idempotent() {
    let mut s = stopped();
    s.template.policy.time_til_dormant_autodelete = hours(24);
    let mark = requests::set_dormant(&s, true, now());
    assert_eq!(mark.dormant_at, Some(Some(now())));
    assert_eq!(mark.deleting_at, Some(Some(now() + hours(24))));
    assert!(requests::set_dormant(&s, false, now()).is_empty());
    let d = dormant(Transition::Stop, JobStatus::Succeeded);
    assert!(requests::set_dormant(&d, true, now()).is_empty());
    let wake = requests::set_dormant(&d, false, now());
    assert_eq!(
        (wake.dormant_at, wake.deleting_at, wake.last_used_at),
        (Some(None), Some(None), Some(now()))
    );
}

// ---- autostart ------------------------------------------------------------

const WEEKDAYS_9: &str = "CRON_TZ=UTC 0 9 * * 1-5";

#[test]
fn autostart_fires_at_the_first_slot_after_the_stop() {
    // Stopped Monday evening: Tuesday 09:00 is the next slot.
    let s = scheduled(WEEKDAYS_9, t("2027-01-04T18:00:00Z"));
    let slot = t("2027-01-05T09:00:00Z");
    assert_eq!(decide(&s, slot - MS), None);
    assert!(autostart_due(&s, slot));
    assert_eq!(decide(&s, slot), AUTOSTART);
    // A slot missed while the server was down still fires.
    assert_eq!(decide(&s, t("2027-01-07T15:00:00Z")), AUTOSTART);
}

#[test]
fn a_schedule_set_after_a_missed_slot_waits_for_its_next_slot() {
    // Stopped last week, the schedule set on Wednesday at 10:00: the slots
    // between the stop and the setting are not "missed", they never were.
    let mut s = scheduled(WEEKDAYS_9, t("2026-12-28T18:00:00Z"));
    s.workspace.autostart_set_at = Some(t("2027-01-06T10:00:00Z"));
    assert_eq!(decide(&s, t("2027-01-06T10:00:01Z")), None);
    assert_eq!(decide(&s, t("2027-01-07T09:00:00Z") - MS), None);
    assert_eq!(decide(&s, t("2027-01-07T09:00:00Z")), AUTOSTART);
    // A schedule set before the stop changes nothing.
    s.workspace.autostart_set_at = Some(t("2026-12-01T00:00:00Z"));
    assert_eq!(decide(&s, t("2026-12-29T09:00:00Z")), AUTOSTART);
}

#[test]
fn a_workspace_stopped_after_the_slot_waits_for_the_next_one() {
    let s = scheduled(WEEKDAYS_9, t("2027-01-05T09:30:00Z"));
    assert_eq!(decide(&s, t("2027-01-05T17:00:00Z")), None);
    assert_eq!(decide(&s, t("2027-01-06T09:00:00Z")), AUTOSTART);
}

#[test]
fn a_friday_stop_starts_on_monday() {
    let s = scheduled(WEEKDAYS_9, t("2027-01-08T18:00:00Z"));
    assert_eq!(
        decide(&s, t("2027-01-10T09:00:00Z")),
        None,
        "Sunday is not in 1-5"
    );
    assert_eq!(decide(&s, t("2027-01-11T09:00:00Z")), AUTOSTART);
}

/// Monday 08:00 in Auckland (NZDT, UTC+13) is Sunday 19:00 UTC.
const AUCKLAND_MONDAY_8: &str = "CRON_TZ=Pacific/Auckland 0 8 * * 1";

#[test]
fn autostart_days_are_judged_in_the_schedules_zone() {
    let stopped_at = t("2027-01-02T12:00:00Z");
    let slot = t("2027-01-03T19:00:00Z");
    assert_eq!(
        slot.in_tz("Pacific/Auckland").expect("zone").weekday(),
        Weekday::Monday
    );
    assert_eq!(slot.in_tz("UTC").expect("zone").weekday(), Weekday::Sunday);

    // Only Mondays allowed: the slot is a Monday where the schedule lives.
    let mut monday_only = scheduled(AUCKLAND_MONDAY_8, stopped_at);
    monday_only.template.policy.autostart_requirement_days = Weekdays::NONE.with(Weekday::Monday);
    assert_eq!(decide(&monday_only, slot - MS), None);
    assert_eq!(decide(&monday_only, slot), AUTOSTART);

    // Only Sundays allowed: that UTC Sunday is no Sunday in Auckland, and
    // the schedule never fires on an Auckland Sunday.
    let mut sunday_only = scheduled(AUCKLAND_MONDAY_8, stopped_at);
    sunday_only.template.policy.autostart_requirement_days = Weekdays::NONE.with(Weekday::Sunday);
    assert_eq!(decide(&sunday_only, slot), None);
    assert_eq!(decide(&sunday_only, slot + hours(24 * 14)), None);
}

#[test]
fn autostart_skips_disallowed_days_to_the_next_allowed_slot() {
    // Daily at 09:00 UTC, allowed only on Wednesdays.
    let mut s = scheduled("CRON_TZ=UTC 0 9 * * *", t("2027-01-04T18:00:00Z"));
    s.template.policy.autostart_requirement_days = Weekdays::NONE.with(Weekday::Wednesday);
    assert_eq!(decide(&s, t("2027-01-05T09:00:00Z")), None, "Tuesday");
    assert_eq!(
        decide(&s, t("2027-01-06T09:00:00Z")),
        AUTOSTART,
        "Wednesday"
    );
}

#[test]
fn the_template_can_forbid_autostart() {
    let mut s = scheduled(WEEKDAYS_9, t("2027-01-04T18:00:00Z"));
    s.template.policy.allow_user_autostart = false;
    assert_eq!(decide(&s, t("2027-01-07T09:00:00Z")), None);
    s.template.policy.allow_user_autostart = true;
    s.template.policy.autostart_requirement_days = Weekdays::NONE;
    assert_eq!(
        decide(&s, t("2027-01-07T09:00:00Z")),
        None,
        "no allowed day at all"
    );
}

#[test]
fn a_dormant_workspace_never_autostarts() {
    let mut s = scheduled(WEEKDAYS_9, t("2027-01-04T18:00:00Z"));
    s.workspace.dormant_at = Some(t("2027-01-04T19:00:00Z"));
    assert_eq!(decide(&s, t("2027-01-07T09:00:00Z")), None);
}

#[test]
fn only_a_successful_stop_autostarts() {
    for status in [JobStatus::Failed, JobStatus::Canceled] {
        let mut s = scheduled(WEEKDAYS_9, t("2027-01-04T18:00:00Z"));
        s.build.job.status = status;
        assert_eq!(decide(&s, t("2027-01-07T09:00:00Z")), None, "{status}");
    }
    let mut running = running();
    running.workspace.autostart_schedule = Some(WEEKDAYS_9.into());
    assert_eq!(decide(&running, t("2027-01-07T09:00:00Z")), None);
}

#[test]
fn an_unparseable_schedule_never_fires() {
    let s = scheduled("0 9 1 * *", t("2027-01-04T18:00:00Z"));
    assert_eq!(decide(&s, t("2027-03-01T09:00:00Z")), None, "not weekly");
}

// ---- never touched --------------------------------------------------------

/// A state on which every rule would fire if its build were finished and
/// it were an ordinary workspace.
fn everything_due(transition: Transition, status: JobStatus) -> WorkspaceState {
    let mut s = dormant(transition, status);
    s.workspace.deleting_at = Some(now() - hours(1));
    s.workspace.autostart_schedule = Some(WEEKDAYS_9.into());
    s.build.deadline = Some(now() - hours(1));
    s.template.policy.failure_ttl = hours(1);
    s
}

#[test]
fn an_unfinished_build_is_never_touched() {
    for transition in Transition::ALL {
        for status in [JobStatus::Pending, JobStatus::Running] {
            let s = everything_due(*transition, status);
            assert_eq!(
                decide(&s, now() + hours(9999)),
                None,
                "{transition} {status}"
            );
            let mut awake = s.clone();
            awake.workspace.dormant_at = None;
            awake.workspace.last_used_at = now() - hours(9999);
            assert_eq!(
                decide(&awake, now() + hours(9999)),
                None,
                "{transition} {status}"
            );
        }
    }
}

#[test]
fn prebuilds_and_deleted_workspaces_are_never_touched() {
    for transition in Transition::ALL {
        for status in [JobStatus::Succeeded, JobStatus::Failed] {
            let mut prebuild = everything_due(*transition, status);
            prebuild.workspace.prebuild_preset_id = Some("p1".into());
            assert_eq!(decide(&prebuild, now() + hours(9999)), None);
            let mut awake = prebuild.clone();
            awake.workspace.dormant_at = None;
            awake.workspace.last_used_at = now() - hours(9999);
            assert_eq!(decide(&awake, now() + hours(9999)), None);
            let mut deleted = everything_due(*transition, status);
            deleted.workspace.deleted = true;
            assert_eq!(decide(&deleted, now() + hours(9999)), None);
        }
    }
}

// ---- order ----------------------------------------------------------------

#[test]
fn rules_apply_in_the_order_of_the_design() {
    // Autostart before dormancy (both due on a stopped workspace).
    let mut s = with_dormancy(scheduled(WEEKDAYS_9, t("2027-01-04T18:00:00Z")), hours(1));
    s.workspace.last_used_at = t("2027-01-04T18:00:00Z");
    assert_eq!(decide(&s, t("2027-01-05T09:00:00Z")), AUTOSTART);
    // Autostop before dormancy.
    let mut s = with_dormancy(running(), hours(1));
    s.workspace.last_used_at = now() - hours(5);
    s.build.deadline = Some(now());
    assert_eq!(decide(&s, now()), AUTOSTOP);
    // Failedstop before dormancy.
    let mut s = with_dormancy(failed_start(hours(1)), hours(1));
    s.workspace.last_used_at = now() - hours(5);
    assert_eq!(
        decide(&s, now() + hours(1)),
        build(Transition::Stop, BuildReason::Failedstop)
    );
}

// ---- decisions agree with the indexed due time ------------------------------

/// Every state in `states` once per value, with `set` applied.
fn times<T: Copy>(
    states: Vec<WorkspaceState>,
    values: &[T],
    set: impl Fn(&mut WorkspaceState, T),
) -> Vec<WorkspaceState> {
    states
        .iter()
        .flat_map(|s| {
            values.iter().map(|v| {
                let mut s = s.clone();
                set(&mut s, *v);
                s
            })
        })
        .collect()
}

/// Every combination of latest build, schedule, dormancy and policy that
/// matters, to compare the decisions with the derived due time.
fn variety() -> Vec<WorkspaceState> {
    let mut states: Vec<WorkspaceState> = Transition::ALL
        .iter()
        .flat_map(|tr| JobStatus::ALL.iter().map(move |st| state(*tr, *st)))
        .collect();
    states = times(
        states,
        &[
            None,
            Some(WEEKDAYS_9),
            Some(AUCKLAND_MONDAY_8),
            Some("0 9 1 * *"),
        ],
        |s, schedule| s.workspace.autostart_schedule = schedule.map(str::to_string),
    );
    states = times(states, &[None, Some(now() + hours(3))], |s, deadline| {
        s.build.deadline = deadline;
    });
    states = times(states, &[None, Some(now() - hours(2))], |s, dormant_at| {
        s.workspace.last_used_at = now() - hours(5);
        s.workspace.dormant_at = dormant_at;
    });
    states = times(states, &[false, true], |s, with_deleting_at| {
        s.workspace.deleting_at = s
            .workspace
            .dormant_at
            .filter(|_| with_deleting_at)
            .map(|d| d + hours(30));
    });
    states = times(
        states,
        &[Weekdays::ALL, Weekdays::NONE.with(Weekday::Sunday)],
        |s, days| {
            s.template.policy.autostart_requirement_days = days;
        },
    );
    times(states, &[false, true], |s, policy_on| {
        if policy_on {
            let p = &mut s.template.policy;
            p.failure_ttl = hours(2);
            p.time_til_dormant = hours(20);
            p.time_til_dormant_autodelete = hours(30);
        }
    })
}

#[test]
fn a_workspace_is_due_exactly_when_a_rule_applies() {
    let states = variety();
    assert!(states.len() >= 1900, "{}", states.len());
    let mut due_somewhere = 0;
    for s in &states {
        let due = LifecyclePolicy.derive(s).next_due_at;
        let mut instants = vec![now(), now() + hours(24 * 3), now() + hours(24 * 30)];
        if let Some(due) = due {
            due_somewhere += 1;
            instants.extend([due - MS, due, due + MS]);
        }
        for at in instants {
            let selected = due.is_some_and(|due| due <= at);
            assert_eq!(
                decide(s, at).is_some(),
                selected,
                "at {at}, due {due:?}, build {} {}, schedule {:?}, dormant {:?}, policy {:?}",
                s.build.transition,
                s.build.job.status,
                s.workspace.autostart_schedule,
                s.workspace.dormant_at,
                s.template.policy,
            );
        }
    }
    assert!(due_somewhere > 100, "{due_somewhere}");
}
