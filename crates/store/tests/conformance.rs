//! The store conformance suite: every test runs unchanged against SQLite
//! and PostgreSQL (`sqlite::name` and `postgres::name`).

use std::collections::BTreeMap;
use std::sync::Arc;

use dayshift_schedule::{SignedDuration, Timestamp};
use dayshift_store::testing::{self, all_builds, all_workspaces, Backend};
use dayshift_store::*;

fn t(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

/// A policy whose due time is the deadline of a running build, so the due
/// query can be tested without the lifecycle crate.
struct DeadlinePolicy;

impl Policy for DeadlinePolicy {
    fn derive(&self, state: &WorkspaceState) -> DerivedTimes {
        DerivedTimes {
            next_start_at: None,
            next_due_at: state.build.deadline,
        }
    }
    fn start_deadlines(
        &self,
        state: &WorkspaceState,
        now: Timestamp,
    ) -> (Option<Timestamp>, Option<Timestamp>) {
        (state.workspace.ttl.map(|ttl| now + ttl), None)
    }
}

async fn open(backend: Backend) -> Option<testing::TestStore> {
    testing::open(backend, Arc::new(DeadlinePolicy)).await
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let s = super::open(super::Backend::Sqlite).await.expect("sqlite store");
                super::$name(&s.store).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(s) = super::open(super::Backend::Postgres).await else { return };
                super::$name(&s.store).await;
            })*
        }
    };
}

conformance!(
    first_user_is_owner_and_only_once,
    duplicate_usernames_conflict,
    tokens_are_found_by_hash_until_expiry,
    sessions_are_listed_touched_and_ended,
    password_change_replaces_the_hash,
    system_user_is_created_once,
    templates_versions_and_presets,
    template_policy_round_trips,
    workspace_names_are_unique_per_owner_until_deleted,
    update_workspace_applies_or_rejects_atomically,
    build_numbers_never_repeat_under_concurrency,
    waiting_updates_see_the_winners_state,
    jobs_are_acquired_once,
    job_completion_sets_deadline_and_due_time,
    stale_jobs_are_failed,
    logs_come_back_in_order,
    settings_round_trip,
    policy_changes_move_deletion_of_dormant_workspaces,
    prebuild_pools_are_created_read_and_deleted,
    prebuild_pool_changes_are_serialised_per_preset,
    prebuild_claims_are_exclusive,
    schedule_groups_count_live_claimed_workspaces,
);

const NOW: &str = "2027-01-04T08:00:00Z";

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        email: format!("{name}@example.com"),
        password_hash: "hash".into(),
        role: Role::Member,
    }
}

fn version(user: &User, presets: Vec<NewPreset>) -> NewTemplateVersion {
    NewTemplateVersion {
        created_by: user.id.clone(),
        provisioner: "echo".into(),
        connect: Some("ssh dev".into()),
        manifest_json: "{}".into(),
        bundle: vec![1, 2, 3],
        presets,
    }
}

/// An owner, a template and a workspace with one pending start build.
async fn fixture(store: &Store, ttl: Option<SignedDuration>) -> (User, Template, WorkspaceState) {
    let owner = store
        .create_first_user(new_user("alice"), t(NOW))
        .await
        .expect("user");
    let (template, v) = store
        .create_template(
            "demo",
            &TemplatePolicy::default(),
            version(&owner, vec![]),
            t(NOW),
        )
        .await
        .expect("template");
    let ws = store
        .create_workspace(
            NewWorkspace {
                owner_id: owner.id.clone(),
                name: "dev".into(),
                template_id: template.id.clone(),
                autostart_schedule: None,
                ttl,
                prebuild_preset_id: None,
            },
            start_build(&owner, &v.id),
            t(NOW),
        )
        .await
        .expect("workspace");
    (owner, template, ws)
}

fn start_build(owner: &User, version_id: &str) -> NewBuild {
    NewBuild {
        transition: Transition::Start,
        reason: BuildReason::Initiator,
        template_version_id: version_id.to_string(),
        parameters: BTreeMap::from([("region".to_string(), "eu".to_string())]),
        initiator_id: owner.id.clone(),
    }
}

async fn first_user_is_owner_and_only_once(store: &Store) {
    assert_eq!(store.user_count().await.unwrap(), 0);
    let mut first = new_user("admin");
    first.role = Role::Member;
    let admin = store.create_first_user(first, t(NOW)).await.unwrap();
    assert_eq!(admin.role, Role::Owner, "the first user is always an owner");
    let again = store.create_first_user(new_user("other"), t(NOW)).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(store.user_count().await.unwrap(), 1);
    let found = store.user_by_username("admin").await.unwrap().unwrap();
    assert_eq!(found, admin);
    assert_eq!(store.user_by_id(&admin.id).await.unwrap().unwrap(), admin);
}

async fn duplicate_usernames_conflict(store: &Store) {
    store.create_user(new_user("bob"), t(NOW)).await.unwrap();
    let dup = store.create_user(new_user("bob"), t(NOW)).await;
    match dup {
        Err(StoreError::Conflict(message)) => assert!(message.contains("\"bob\""), "{message}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn tokens_are_found_by_hash_until_expiry(store: &Store) {
    let user = store.create_user(new_user("carol"), t(NOW)).await.unwrap();
    store
        .create_session(session_of(&user, "abc123", "2027-01-05T08:00:00Z"), t(NOW))
        .await
        .unwrap();
    let found = store.user_by_token_hash("abc123", t(NOW)).await.unwrap();
    assert_eq!(found.map(|u| u.id), Some(user.id));
    assert!(store
        .user_by_token_hash("abc124", t(NOW))
        .await
        .unwrap()
        .is_none());
    let expired = store
        .user_by_token_hash("abc123", t("2027-01-05T08:00:00Z"))
        .await
        .unwrap();
    assert!(expired.is_none(), "a token is dead at its expiry instant");
}

fn session_of(user: &User, hash: &str, expires: &str) -> NewSession {
    NewSession {
        user_id: user.id.clone(),
        token_hash: hash.into(),
        kind: SessionKind::Token,
        label: "dayshift CLI".into(),
        expires_at: t(expires),
    }
}

async fn sessions_are_listed_touched_and_ended(store: &Store) {
    let dave = store.create_user(new_user("dave"), t(NOW)).await.unwrap();
    let erin = store.create_user(new_user("erin"), t(NOW)).await.unwrap();
    let first = store
        .create_session(session_of(&dave, "h1", "2027-02-01T00:00:00Z"), t(NOW))
        .await
        .unwrap();
    let mut cookie = session_of(&dave, "h2", "2027-02-01T00:00:00Z");
    cookie.kind = SessionKind::Cookie;
    cookie.label = "Firefox".into();
    let second = store
        .create_session(cookie, t("2027-01-04T09:00:00Z"))
        .await
        .unwrap();
    store
        .create_session(session_of(&dave, "h3", "2027-01-04T08:30:00Z"), t(NOW))
        .await
        .unwrap();
    let erins = store
        .create_session(session_of(&erin, "h4", "2027-02-01T00:00:00Z"), t(NOW))
        .await
        .unwrap();
    assert_ne!(first.id, "h1", "the id is not the hash");

    let later = t("2027-01-04T10:00:00Z");
    let listed = store.sessions_of_user(&dave.id, later).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [second.id.as_str(), first.id.as_str()],
        "unexpired sessions, newest first"
    );
    assert_eq!(listed[0].kind, SessionKind::Cookie);
    assert_eq!(listed[0].label, "Firefox");

    let (user, session) = store
        .session_by_token_hash("h1", later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (user.id.as_str(), session.id.as_str()),
        (dave.id.as_str(), first.id.as_str())
    );
    store.touch_session(&first.id, later).await.unwrap();
    store
        .touch_session(&first.id, t("2027-01-04T10:00:30Z"))
        .await
        .unwrap();
    let (_, touched) = store
        .session_by_token_hash("h1", later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.last_used_at, later, "kept to the minute");

    let foreign = store.delete_session(&dave.id, &erins.id).await;
    assert!(
        matches!(foreign, Err(StoreError::NotFound(_))),
        "{foreign:?}"
    );
    store.delete_session(&dave.id, &first.id).await.unwrap();
    assert!(store
        .session_by_token_hash("h1", later)
        .await
        .unwrap()
        .is_none());

    store.delete_session_by_token_hash("h2").await.unwrap();
    assert!(store
        .session_by_token_hash("h2", later)
        .await
        .unwrap()
        .is_none());

    let a = store
        .create_session(session_of(&dave, "h5", "2027-02-01T00:00:00Z"), t(NOW))
        .await
        .unwrap();
    store
        .create_session(session_of(&dave, "h6", "2027-02-01T00:00:00Z"), t(NOW))
        .await
        .unwrap();
    let ended = store
        .delete_sessions_of_user(&dave.id, Some(&a.id))
        .await
        .unwrap();
    assert_eq!(ended, 2, "h6 and the expired h3");
    assert_eq!(
        store.sessions_of_user(&dave.id, later).await.unwrap(),
        vec![Session {
            last_used_at: t(NOW),
            ..a.clone()
        }]
    );
    assert_eq!(
        store.delete_sessions_of_user(&dave.id, None).await.unwrap(),
        1
    );
    assert!(
        store
            .session_by_token_hash("h4", later)
            .await
            .unwrap()
            .is_some(),
        "another user's sessions live on"
    );
    assert_eq!(
        store
            .delete_expired_sessions(t("2027-03-01T00:00:00Z"))
            .await
            .unwrap(),
        1
    );
}

async fn password_change_replaces_the_hash(store: &Store) {
    let frank = store.create_user(new_user("frank"), t(NOW)).await.unwrap();
    store
        .set_password_hash(&frank.id, "new-hash")
        .await
        .unwrap();
    let found = store.user_by_id(&frank.id).await.unwrap().unwrap();
    assert_eq!(found.password_hash, "new-hash");
    let system = store.ensure_system_user("prebuilds", t(NOW)).await.unwrap();
    assert!(
        store.set_password_hash(&system.id, "x").await.is_err(),
        "system users never get a password"
    );
}

async fn system_user_is_created_once(store: &Store) {
    let a = store.ensure_system_user("prebuilds", t(NOW)).await.unwrap();
    let b = store.ensure_system_user("prebuilds", t(NOW)).await.unwrap();
    assert_eq!(a.id, b.id);
    assert!(a.is_system);
    assert_eq!(
        store.user_count().await.unwrap(),
        0,
        "system users are not counted"
    );
}

async fn templates_versions_and_presets(store: &Store) {
    let owner = store
        .create_first_user(new_user("alice"), t(NOW))
        .await
        .unwrap();
    let preset = NewPreset {
        name: "eu-small".into(),
        parameters: BTreeMap::from([("region".into(), "eu".into())]),
        prebuild_instances: 2,
        expiration: Some(SignedDuration::from_hours(24)),
        scheduling: Some(PresetScheduling {
            timezone: "Europe/Berlin".into(),
            schedule: vec![PresetSchedule {
                cron: "* 8-18 * * 1-5".into(),
                instances: 3,
            }],
        }),
    };
    let (template, v1) = store
        .create_template(
            "demo",
            &TemplatePolicy::default(),
            version(&owner, vec![preset.clone()]),
            t(NOW),
        )
        .await
        .unwrap();
    assert_eq!(template.active_version_id, v1.id);
    let dup = store
        .create_template(
            "demo",
            &TemplatePolicy::default(),
            version(&owner, vec![]),
            t(NOW),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

    let v2 = store
        .create_template_version(
            &template.id,
            version(&owner, vec![]),
            t("2027-01-04T09:00:00Z"),
        )
        .await
        .unwrap();
    let template = store.template_by_name("demo").await.unwrap().unwrap();
    assert_eq!(
        template.active_version_id, v2.id,
        "a new version becomes active"
    );
    let versions = store
        .template_versions(&template.id, &Page::max())
        .await
        .unwrap()
        .items;
    assert_eq!(
        versions.iter().map(|v| &v.id).collect::<Vec<_>>(),
        vec![&v1.id, &v2.id]
    );
    assert_eq!(
        store.template_version_bundle(&v1.id).await.unwrap(),
        vec![1, 2, 3]
    );
    assert_eq!(
        store
            .template_version(&v2.id)
            .await
            .unwrap()
            .unwrap()
            .connect
            .as_deref(),
        Some("ssh dev")
    );

    let presets = store.presets(&v1.id).await.unwrap();
    assert_eq!(presets.len(), 1);
    assert_eq!(presets[0].parameters, preset.parameters);
    assert_eq!(presets[0].expiration, preset.expiration);
    assert_eq!(presets[0].scheduling, preset.scheduling);
    assert!(
        store.active_prebuild_presets().await.unwrap().is_empty(),
        "the preset's version is no longer active"
    );
    assert!(store.template("no-such-id").await.unwrap().is_none());
}

async fn template_policy_round_trips(store: &Store) {
    let owner = store
        .create_first_user(new_user("alice"), t(NOW))
        .await
        .unwrap();
    let (template, _) = store
        .create_template(
            "demo",
            &TemplatePolicy::default(),
            version(&owner, vec![]),
            t(NOW),
        )
        .await
        .unwrap();
    assert_eq!(template.policy, TemplatePolicy::default());
    let policy = TemplatePolicy {
        default_ttl: SignedDuration::from_hours(8),
        activity_bump: SignedDuration::from_mins(30),
        autostop_requirement_days: dayshift_schedule::Weekdays(0b0100000),
        autostop_requirement_weeks: 2,
        autostart_requirement_days: dayshift_schedule::Weekdays(0b0011111),
        allow_user_autostart: false,
        allow_user_autostop: false,
        failure_ttl: SignedDuration::from_mins(10),
        time_til_dormant: SignedDuration::from_hours(24 * 30),
        time_til_dormant_autodelete: SignedDuration::from_hours(24 * 7),
    };
    let updated = store
        .update_template_policy(&template.id, &policy)
        .await
        .unwrap();
    assert_eq!(updated.policy, policy);
    assert_eq!(store.templates().await.unwrap()[0].policy, policy);
    let missing = store.update_template_policy("nope", &policy).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

async fn workspace_names_are_unique_per_owner_until_deleted(store: &Store) {
    let (owner, template, ws) = fixture(store, None).await;
    assert_eq!(ws.workspace.name, "dev");
    assert_eq!(ws.workspace.owner_name, "alice");
    assert_eq!(ws.build.build_number, 1);
    assert_eq!(ws.status(), WorkspaceStatus::Pending);
    assert_eq!(ws.build.parameters["region"], "eu");
    assert_eq!(ws.connect.as_deref(), Some("ssh dev"));
    assert!(!ws.is_outdated());

    let again = NewWorkspace {
        owner_id: owner.id.clone(),
        name: "dev".into(),
        template_id: template.id.clone(),
        autostart_schedule: None,
        ttl: None,
        prebuild_preset_id: None,
    };
    let dup = store
        .create_workspace(
            again.clone(),
            start_build(&owner, &template.active_version_id),
            t(NOW),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

    // Delete alice's workspace: run a delete build to success.
    run_job(store, &ws.workspace.id, true).await;
    let applied = store
        .update_workspace(&ws.workspace.id, LockMode::Wait, t(NOW), |s| {
            Ok::<_, ()>(WorkspaceChange {
                new_build: Some(NewBuild {
                    transition: Transition::Delete,
                    ..start_build(&owner, &s.build.template_version_id)
                }),
                ..Default::default()
            })
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(applied.new_build.as_ref().unwrap().build_number, 2);
    run_job(store, &ws.workspace.id, true).await;
    assert!(
        store.workspace(&ws.workspace.id).await.unwrap().is_none(),
        "deleted workspaces are gone"
    );
    store
        .create_workspace(
            again.clone(),
            start_build(&owner, &template.active_version_id),
            t(NOW),
        )
        .await
        .expect("the name is free again after deletion");

    // Another owner may use the same name.
    let bob = store.create_user(new_user("bob"), t(NOW)).await.unwrap();
    let bobs = NewWorkspace {
        owner_id: bob.id.clone(),
        ..again.clone()
    };
    store
        .create_workspace(bobs, start_build(&bob, &template.active_version_id), t(NOW))
        .await
        .unwrap();
    assert_eq!(all_workspaces(store, Some(&owner.username)).await.len(), 1);
    assert_eq!(all_workspaces(store, None).await.len(), 2);
}

/// Acquires the workspace's pending job and completes it.
async fn run_job(store: &Store, workspace_id: &str, success: bool) -> WorkspaceState {
    let job = store
        .acquire_job("worker-1", t(NOW))
        .await
        .unwrap()
        .expect("a pending job");
    assert_eq!(job.build.workspace_id, workspace_id);
    store
        .complete_job(
            &job.build.id,
            Some("worker-1"),
            JobResult {
                success,
                error: (!success).then(|| "boom".into()),
                outputs: BTreeMap::new(),
            },
            t(NOW),
        )
        .await
        .unwrap()
}

async fn update_workspace_applies_or_rejects_atomically(store: &Store) {
    let (_, _, ws) = fixture(store, None).await;
    let id = ws.workspace.id.clone();
    let rejected = store
        .update_workspace(&id, LockMode::Wait, t(NOW), |_| {
            Err::<WorkspaceChange, _>("no thanks")
        })
        .await
        .unwrap();
    assert_eq!(rejected.err(), Some("no thanks"));

    let applied = store
        .update_workspace(&id, LockMode::Wait, t(NOW), |_| {
            Ok::<_, ()>(WorkspaceChange {
                autostart_schedule: Some(Some("CRON_TZ=UTC 30 9 * * 1-5".into())),
                ttl: Some(Some(SignedDuration::from_hours(8))),
                last_used_at: Some(t("2027-01-04T09:00:00Z")),
                dormant_at: Some(Some(t("2027-01-04T10:00:00Z"))),
                deleting_at: Some(Some(t("2027-01-11T10:00:00Z"))),
                ..Default::default()
            })
        })
        .await
        .unwrap()
        .unwrap();
    let w = &applied.state.workspace;
    assert_eq!(
        w.autostart_schedule.as_deref(),
        Some("CRON_TZ=UTC 30 9 * * 1-5")
    );
    assert_eq!(
        w.autostart_set_at,
        Some(t(NOW)),
        "when the schedule was set is recorded"
    );
    assert_eq!(w.ttl, Some(SignedDuration::from_hours(8)));
    assert_eq!(w.last_used_at, t("2027-01-04T09:00:00Z"));
    assert_eq!(w.dormant_at, Some(t("2027-01-04T10:00:00Z")));
    assert_eq!(w.deleting_at, Some(t("2027-01-11T10:00:00Z")));
    assert_eq!(
        store.workspace(&id).await.unwrap().unwrap().workspace,
        *w,
        "persisted"
    );

    let cleared = store
        .update_workspace(&id, LockMode::Wait, t(NOW), |_| {
            Ok::<_, ()>(WorkspaceChange {
                autostart_schedule: Some(None),
                ttl: Some(None),
                dormant_at: Some(None),
                deleting_at: Some(None),
                ..Default::default()
            })
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cleared.state.workspace.autostart_schedule, None);
    assert_eq!(cleared.state.workspace.ttl, None);
    assert_eq!(cleared.state.workspace.dormant_at, None);

    let missing = store
        .update_workspace("nope", LockMode::Wait, t(NOW), |_| {
            Ok::<_, ()>(WorkspaceChange::default())
        })
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

async fn build_numbers_never_repeat_under_concurrency(store: &Store) {
    let (owner, _, ws) = fixture(store, None).await;
    run_job(store, &ws.workspace.id, true).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let id = ws.workspace.id.clone();
        let owner = owner.clone();
        tasks.push(tokio::spawn(async move {
            store
                .update_workspace(&id, LockMode::Wait, t(NOW), |s| {
                    // Only one build at a time: the first one wins.
                    if !s.build.job.status.is_finished() {
                        return Err("busy");
                    }
                    Ok(WorkspaceChange {
                        new_build: Some(NewBuild {
                            transition: Transition::Stop,
                            ..start_build(&owner, &s.build.template_version_id)
                        }),
                        ..Default::default()
                    })
                })
                .await
        }));
    }
    let mut created = 0;
    for task in tasks {
        if let Ok(Ok(_)) = task.await.unwrap() {
            created += 1;
        }
    }
    assert_eq!(created, 1, "exactly one concurrent caller inserts a build");
    let numbers: Vec<i64> = all_builds(store, &ws.workspace.id)
        .await
        .iter()
        .map(|b| b.build_number)
        .collect();
    assert_eq!(numbers, vec![2, 1]);
}

/// Lock, then read: updates that waited for a workspace's lock decide on
/// the state the winner committed (its new build), and none of them loses
/// the workspace ("not found"). Several rounds of many concurrent updates,
/// so that on PostgreSQL some of them are certainly waiting when the
/// winner commits.
async fn waiting_updates_see_the_winners_state(store: &Store) {
    const ROUNDS: i64 = 4;
    const CONCURRENT: usize = 12;
    let (owner, _, ws) = fixture(store, None).await;
    let id = ws.workspace.id.clone();
    run_job(store, &id, true).await;
    for round in 0..ROUNDS {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CONCURRENT {
            let (store, id, owner) = (store.clone(), id.clone(), owner.clone());
            tasks.spawn(async move {
                store
                    .update_workspace(&id, LockMode::Wait, t(NOW), |s| {
                        if !s.build.job.status.is_finished() {
                            // A loser: report the build it saw.
                            return Err(s.build.build_number);
                        }
                        let transition = match s.build.transition {
                            Transition::Start => Transition::Stop,
                            _ => Transition::Start,
                        };
                        Ok(WorkspaceChange {
                            new_build: Some(NewBuild {
                                transition,
                                ..start_build(&owner, &s.build.template_version_id)
                            }),
                            ..Default::default()
                        })
                    })
                    .await
            });
        }
        let mut winners = Vec::new();
        let mut seen_by_losers = Vec::new();
        while let Some(done) = tasks.join_next().await {
            match done.expect("update task") {
                Ok(Ok(applied)) => winners.push(applied.new_build.expect("a build").build_number),
                Ok(Err(seen)) => seen_by_losers.push(seen),
                Err(e) => panic!("round {round}: an update failed: {e}"),
            }
        }
        let expected = round + 2;
        assert_eq!(winners, vec![expected], "round {round}: exactly one winner");
        assert!(
            seen_by_losers.iter().all(|seen| *seen == expected),
            "round {round}: every loser saw the winner's build {expected}, saw {seen_by_losers:?}"
        );
        run_job(store, &id, true).await;
    }
}

async fn jobs_are_acquired_once(store: &Store) {
    let (owner, template, _) = fixture(store, None).await;
    for i in 0..9 {
        store
            .create_workspace(
                NewWorkspace {
                    owner_id: owner.id.clone(),
                    name: format!("ws-{i}"),
                    template_id: template.id.clone(),
                    autostart_schedule: None,
                    ttl: None,
                    prebuild_preset_id: None,
                },
                start_build(&owner, &template.active_version_id),
                t(NOW),
            )
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(job) = store
                .acquire_job(&format!("w{worker}"), t(NOW))
                .await
                .unwrap()
            {
                got.push(job.build.id);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(
        (total, all.len()),
        (10, 10),
        "ten jobs, each handed out exactly once"
    );
    let counts = store.job_counts().await.unwrap();
    assert_eq!(counts.get(&JobStatus::Running), Some(&10));
}

async fn job_completion_sets_deadline_and_due_time(store: &Store) {
    let (_, _, ws) = fixture(store, Some(SignedDuration::from_hours(8))).await;
    assert_eq!(
        ws.build.deadline, None,
        "a build is inserted with no deadline"
    );
    let job = store
        .acquire_job("worker-1", t(NOW))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .workspace(&ws.workspace.id)
            .await
            .unwrap()
            .unwrap()
            .status(),
        WorkspaceStatus::Starting
    );
    assert!(store
        .heartbeat_job(&job.build.id, "worker-1", t(NOW))
        .await
        .unwrap());
    assert!(
        !store
            .heartbeat_job(&job.build.id, "worker-2", t(NOW))
            .await
            .unwrap(),
        "not worker-2's job"
    );
    let wrong = store
        .complete_job(
            &job.build.id,
            Some("worker-2"),
            JobResult {
                success: true,
                error: None,
                outputs: BTreeMap::new(),
            },
            t(NOW),
        )
        .await;
    assert!(matches!(wrong, Err(StoreError::Conflict(_))), "{wrong:?}");
    let done = store
        .complete_job(
            &job.build.id,
            Some("worker-1"),
            JobResult {
                success: true,
                error: None,
                outputs: BTreeMap::from([("pid".into(), "42".into())]),
            },
            t("2027-01-04T08:01:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(done.status(), WorkspaceStatus::Running);
    assert_eq!(done.build.deadline, Some(t("2027-01-04T16:01:00Z")));
    assert_eq!(done.build.outputs["pid"], "42");
    assert_eq!(done.build.job.completed_at, Some(t("2027-01-04T08:01:00Z")));
    assert_eq!(done.workspace.next_due_at, Some(t("2027-01-04T16:01:00Z")));

    assert!(store
        .due_workspace_ids(t("2027-01-04T16:00:59Z"), 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .due_workspace_ids(t("2027-01-04T16:01:00Z"), 100)
            .await
            .unwrap(),
        vec![ws.workspace.id.clone()]
    );
    assert_eq!(
        store.earliest_due_at().await.unwrap(),
        Some(t("2027-01-04T16:01:00Z"))
    );
    let latest = store
        .latest_successful_build(&ws.workspace.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.id, job.build.id);
}

async fn stale_jobs_are_failed(store: &Store) {
    let (_, _, ws) = fixture(store, None).await;
    let job = store
        .acquire_job("worker-1", t(NOW))
        .await
        .unwrap()
        .unwrap();
    let timeout = SignedDuration::from_secs(90);
    let none = store
        .fail_stale_jobs(t("2027-01-04T08:01:30Z"), timeout)
        .await
        .unwrap();
    assert!(
        none.is_empty(),
        "exactly at the timeout the job is still alive"
    );
    let failed = store
        .fail_stale_jobs(t("2027-01-04T08:01:31Z"), timeout)
        .await
        .unwrap();
    assert_eq!(failed, vec![job.build.id.clone()]);
    let state = store.workspace(&ws.workspace.id).await.unwrap().unwrap();
    assert_eq!(state.status(), WorkspaceStatus::Failed);
    assert!(state
        .build
        .job
        .error
        .as_deref()
        .unwrap_or("")
        .contains("heartbeats"));
    let logs = store.build_logs(&job.build.id, 0, 100).await.unwrap();
    assert!(logs
        .iter()
        .any(|l| l.stream == "system" && l.output.contains("heartbeats")));
    assert!(
        !store
            .heartbeat_job(&job.build.id, "worker-1", t(NOW))
            .await
            .unwrap(),
        "the daemon learns it lost the job"
    );
}

async fn logs_come_back_in_order(store: &Store) {
    let (_, _, ws) = fixture(store, None).await;
    for i in 0..5 {
        store
            .append_log(&ws.build.id, "stdout", &format!("line {i}"), t(NOW))
            .await
            .unwrap();
    }
    let all = store.build_logs(&ws.build.id, 0, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|l| l.output.as_str()).collect::<Vec<_>>(),
        ["line 0", "line 1", "line 2", "line 3", "line 4"]
    );
    let after = store
        .build_logs(&ws.build.id, all[2].id, 100)
        .await
        .unwrap();
    assert_eq!(after.len(), 2);
    assert_eq!(store.build_logs(&ws.build.id, 0, 2).await.unwrap().len(), 2);
}

async fn settings_round_trip(store: &Store) {
    assert_eq!(store.setting("prebuilds.paused").await.unwrap(), None);
    store.set_setting("prebuilds.paused", "true").await.unwrap();
    store
        .set_setting("prebuilds.paused", "false")
        .await
        .unwrap();
    assert_eq!(
        store.setting("prebuilds.paused").await.unwrap().as_deref(),
        Some("false")
    );
}

#[tokio::test]
async fn sqlite_reopens_without_losing_data_and_refuses_newer_schemas() {
    let dir = std::env::temp_dir().join(format!("dayshift-reopen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("db.sqlite");
    {
        let store = Store::open_sqlite(&path, Arc::new(NoPolicy)).await.unwrap();
        store
            .create_first_user(new_user("admin"), t(NOW))
            .await
            .unwrap();
    }
    let store = Store::open_sqlite(&path, Arc::new(NoPolicy)).await.unwrap();
    assert!(store.user_by_username("admin").await.unwrap().is_some());
    sqlx::query("INSERT INTO schema_version (version) VALUES (999)")
        .execute(store.pool())
        .await
        .unwrap();
    drop(store);
    match Store::open_sqlite(&path, Arc::new(NoPolicy)).await {
        Err(e @ StoreError::SchemaTooNew { .. }) => {
            assert!(e.to_string().contains("version 999"), "{e}");
        }
        Err(other) => panic!("expected SchemaTooNew, got {other}"),
        Ok(_) => panic!("expected SchemaTooNew, got a store"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// --- PostgreSQL only: startup errors and job announcements ----------------

#[tokio::test]
async fn postgres_unreachable_is_a_connect_error_with_its_cause() {
    // Port 1 on loopback refuses connections: the error must come at once
    // with the real cause, not after the pool's acquire timeout.
    let result = Store::open_postgres(
        "postgres://dayshift:secret@127.0.0.1:1/dayshift",
        Arc::new(NoPolicy),
    )
    .await;
    match result {
        Err(e @ StoreError::Connect(_)) => {
            let text = e.to_string();
            assert!(text.contains("refused"), "{text}");
        }
        Err(other) => panic!("expected a connect error, got {other}"),
        Ok(_) => panic!("expected a connect error, got a store"),
    }
}

#[tokio::test]
async fn postgres_refuses_newer_schemas() {
    let Some(s) = open(Backend::Postgres).await else {
        return;
    };
    let url = s.url.clone().expect("schema url");
    sqlx::query("INSERT INTO schema_version (version) VALUES (999)")
        .execute(s.store.pool())
        .await
        .unwrap();
    match Store::open_postgres(&url, Arc::new(NoPolicy)).await {
        Err(e @ StoreError::SchemaTooNew { found: 999, .. }) => {
            assert!(e.to_string().contains("upgrade dayshift"), "{e}");
        }
        Err(other) => panic!("expected SchemaTooNew, got {other}"),
        Ok(_) => panic!("expected SchemaTooNew, got a store"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_announces_queued_jobs_at_commit() {
    let Some(s) = open(Backend::Postgres).await else {
        return;
    };
    let url = s.url.clone().expect("schema url");
    let mut listener = JobListener::connect(&url).await.expect("listener");
    let (owner, _, ws) = fixture(&s.store, None).await;
    // Channels are per database: other tests' jobs may be announced too.
    let mut announced = Vec::new();
    while !announced.contains(&ws.build.id) {
        announced.push(listener.next().await.unwrap().expect("connection kept"));
    }
    run_job(&s.store, &ws.workspace.id, true).await;

    // A failed insert rolls back and announces nothing; the next build is
    // announced as usual.
    let dup = s
        .store
        .create_workspace(
            NewWorkspace {
                owner_id: owner.id.clone(),
                name: "dev".into(),
                template_id: ws.template.id.clone(),
                autostart_schedule: None,
                ttl: None,
                prebuild_preset_id: None,
            },
            start_build(&owner, &ws.build.template_version_id),
            t(NOW),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let applied = s
        .store
        .update_workspace(&ws.workspace.id, LockMode::Wait, t(NOW), |st| {
            Ok::<_, ()>(WorkspaceChange {
                new_build: Some(NewBuild {
                    transition: Transition::Stop,
                    ..start_build(&owner, &st.build.template_version_id)
                }),
                ..Default::default()
            })
        })
        .await
        .unwrap()
        .unwrap();
    let stop_id = applied.new_build.expect("stop build").id;
    let mut announced = Vec::new();
    while !announced.contains(&stop_id) {
        announced.push(listener.next().await.unwrap().expect("connection kept"));
    }
}

async fn policy_changes_move_deletion_of_dormant_workspaces(store: &Store) {
    let (_, template, ws) = fixture(store, None).await;
    let dormant_at = t("2027-01-10T00:00:00Z");
    store
        .update_workspace(&ws.workspace.id, LockMode::Wait, t(NOW), |_| {
            Ok::<_, ()>(WorkspaceChange {
                dormant_at: Some(Some(dormant_at)),
                ..Default::default()
            })
        })
        .await
        .unwrap()
        .unwrap();
    let mut policy = template.policy.clone();
    policy.time_til_dormant_autodelete = SignedDuration::from_hours(24 * 7);
    store
        .update_template_policy(&template.id, &policy)
        .await
        .unwrap();
    let after = store.workspace(&ws.workspace.id).await.unwrap().unwrap();
    assert_eq!(after.workspace.deleting_at, Some(t("2027-01-17T00:00:00Z")));
    policy.time_til_dormant_autodelete = SignedDuration::ZERO;
    store
        .update_template_policy(&template.id, &policy)
        .await
        .unwrap();
    let off = store.workspace(&ws.workspace.id).await.unwrap().unwrap();
    assert_eq!(off.workspace.deleting_at, None, "auto-deletion turned off");
}

// --- prebuild pools -------------------------------------------------------

/// A template whose version has one preset `eu` with a pool, and the
/// system user that owns prebuilds.
async fn pool_fixture(store: &Store) -> (User, Template, Preset) {
    let owner = store
        .create_first_user(new_user("alice"), t(NOW))
        .await
        .unwrap();
    let system = store.ensure_system_user("prebuilds", t(NOW)).await.unwrap();
    let preset = NewPreset {
        name: "eu".into(),
        parameters: BTreeMap::from([("region".into(), "eu".into())]),
        prebuild_instances: 2,
        expiration: None,
        scheduling: None,
    };
    let (template, v) = store
        .create_template(
            "pool",
            &TemplatePolicy::default(),
            version(&owner, vec![preset]),
            t(NOW),
        )
        .await
        .unwrap();
    let preset = store.presets(&v.id).await.unwrap().remove(0);
    (system, template, preset)
}

fn prebuild(system: &User, template: &Template, preset: &Preset) -> NewPrebuild {
    NewPrebuild {
        owner_id: system.id.clone(),
        template_id: template.id.clone(),
        build: NewBuild {
            transition: Transition::Start,
            reason: BuildReason::Prebuild,
            template_version_id: preset.template_version_id.clone(),
            parameters: preset.parameters.clone(),
            initiator_id: system.id.clone(),
        },
    }
}

/// Runs every pending job to completion.
async fn run_all_jobs(store: &Store, success: bool) {
    while let Some(job) = store.acquire_job("worker-1", t(NOW)).await.unwrap() {
        store
            .complete_job(
                &job.build.id,
                Some("worker-1"),
                JobResult {
                    success,
                    error: None,
                    outputs: BTreeMap::new(),
                },
                t(NOW),
            )
            .await
            .unwrap();
    }
}

async fn prebuild_pools_are_created_read_and_deleted(store: &Store) {
    let (system, template, preset) = pool_fixture(store).await;
    let applied = store
        .reconcile_pool(&preset.id, 3, t(NOW), |pool| {
            assert!(pool.prebuilds.is_empty() && pool.history.is_empty());
            PoolChange {
                create: vec![prebuild(&system, &template, &preset); 2],
                ..PoolChange::default()
            }
        })
        .await
        .unwrap();
    assert_eq!(applied.created.len(), 2);
    for ws in &applied.created {
        let name = &ws.workspace.name;
        assert!(name.starts_with("prebuild-") && name.len() == 17, "{name}");
        assert_eq!(ws.workspace.owner_id, system.id);
        assert_eq!(
            ws.workspace.prebuild_preset_id.as_deref(),
            Some(preset.id.as_str())
        );
        assert_eq!(ws.build.reason, BuildReason::Prebuild);
    }
    let snapshot = store.prebuild_snapshot(3).await.unwrap();
    assert_eq!(snapshot.presets.len(), 1);
    assert!(snapshot.presets[0].active);
    let rows = &snapshot.prebuilds[&preset.id];
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.status() == WorkspaceStatus::Pending));
    assert!(
        snapshot.history.is_empty(),
        "unfinished builds are no history"
    );

    // One fails, one succeeds: history, newest first.
    let job = store
        .acquire_job("worker-1", t(NOW))
        .await
        .unwrap()
        .unwrap();
    store
        .complete_job(
            &job.build.id,
            Some("worker-1"),
            JobResult {
                success: false,
                error: None,
                outputs: BTreeMap::new(),
            },
            t(NOW),
        )
        .await
        .unwrap();
    run_all_jobs(store, true).await;
    let snapshot = store.prebuild_snapshot(3).await.unwrap();
    assert_eq!(snapshot.history[&preset.id].len(), 2);
    let running: Vec<String> = snapshot.prebuilds[&preset.id]
        .iter()
        .filter(|r| r.status() == WorkspaceStatus::Running)
        .map(|r| r.workspace_id.clone())
        .collect();
    assert_eq!(running.len(), 1);

    // Deleting: a delete build with reason prebuild, then the row is gone.
    let applied = store
        .reconcile_pool(&preset.id, 3, t(NOW), |pool| {
            assert_eq!(pool.prebuilds.len(), 2);
            assert_eq!(pool.history.len(), 2);
            PoolChange {
                delete: running.clone(),
                delete_initiator_id: system.id.clone(),
                ..PoolChange::default()
            }
        })
        .await
        .unwrap();
    assert_eq!(applied.deleted, running);
    let ws = store.workspace(&running[0]).await.unwrap().unwrap();
    assert_eq!(
        (ws.build.transition, ws.build.reason),
        (Transition::Delete, BuildReason::Prebuild)
    );
    run_all_jobs(store, true).await;
    let snapshot = store.prebuild_snapshot(3).await.unwrap();
    assert_eq!(
        snapshot.prebuilds[&preset.id].len(),
        1,
        "the failed one stays"
    );
    let totals = store.prebuild_totals().await.unwrap();
    assert_eq!(
        totals,
        vec![PrebuildTotals {
            template_name: "pool".into(),
            preset_name: "eu".into(),
            created: 2,
            failed: 1,
            claimed: 0,
        }]
    );
}

/// Two reconcilers deciding "fill the pool if it is empty" at once create
/// one prebuild: the second one either waits and sees it (SQLite) or does
/// not get the preset's lock (PostgreSQL).
async fn prebuild_pool_changes_are_serialised_per_preset(store: &Store) {
    let (system, template, preset) = pool_fixture(store).await;
    let new = prebuild(&system, &template, &preset);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (store, preset_id, new) = (store.clone(), preset.id.clone(), new.clone());
        tasks.push(tokio::spawn(async move {
            store
                .reconcile_pool(&preset_id, 3, t(NOW), |pool| PoolChange {
                    create: if pool.prebuilds.is_empty() {
                        vec![new]
                    } else {
                        Vec::new()
                    },
                    ..PoolChange::default()
                })
                .await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(applied) => created += applied.created.len(),
            Err(StoreError::Busy(_)) => assert_eq!(store.dialect(), Dialect::Postgres),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(created, 1);
}

async fn prebuild_claims_are_exclusive(store: &Store) {
    let (system, template, preset) = pool_fixture(store).await;
    store
        .reconcile_pool(&preset.id, 3, t(NOW), |_| PoolChange {
            create: vec![prebuild(&system, &template, &preset); 4],
            ..PoolChange::default()
        })
        .await
        .unwrap();
    run_all_jobs(store, true).await;
    let mut users = Vec::new();
    for i in 0..10 {
        users.push(
            store
                .create_user(new_user(&format!("user{i}")), t(NOW))
                .await
                .unwrap(),
        );
    }
    let mut tasks = Vec::new();
    for user in users {
        let (store, preset) = (store.clone(), preset.clone());
        tasks.push(tokio::spawn(async move {
            store
                .claim_prebuild(&preset.id, &preset.parameters, None, t(NOW), |_| {
                    WorkspaceChange {
                        owner_id: Some(user.id.clone()),
                        name: Some("dev".into()),
                        prebuild_preset_id: Some(None),
                        ..WorkspaceChange::default()
                    }
                })
                .await
                .unwrap()
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        if let Some(applied) = task.await.unwrap() {
            claimed.push(applied.state.workspace.id);
        }
    }
    let distinct: std::collections::BTreeSet<&String> = claimed.iter().collect();
    assert_eq!((claimed.len(), distinct.len()), (4, 4));
    // Other parameters than the prebuilds' match nothing.
    let other = BTreeMap::from([("region".to_string(), "us".to_string())]);
    let refuse = |_: &WorkspaceState| -> WorkspaceChange { unreachable!("nothing to claim") };
    assert!(store
        .claim_prebuild(&preset.id, &other, None, t(NOW), refuse)
        .await
        .unwrap()
        .is_none());
    store
        .reconcile_pool(&preset.id, 3, t(NOW), |_| PoolChange {
            create: vec![prebuild(&system, &template, &preset)],
            ..PoolChange::default()
        })
        .await
        .unwrap();
    run_all_jobs(store, true).await;
    // One built before the cut-off (expired) is not handed out.
    let later = t("2027-01-04T09:00:00Z");
    assert!(store
        .claim_prebuild(&preset.id, &preset.parameters, Some(later), later, refuse)
        .await
        .unwrap()
        .is_none());
    // A change that would leave the workspace in its pool is refused.
    let kept = store
        .claim_prebuild(&preset.id, &preset.parameters, None, t(NOW), |_| {
            WorkspaceChange::default()
        })
        .await;
    assert!(matches!(kept, Err(StoreError::Conflict(_))), "{kept:?}");
    assert_eq!(store.prebuild_totals().await.unwrap()[0].claimed, 4);
}

/// The fleet aggregate: one row per (template, schedule, TTL) with its
/// count, without deleted, dormant or unclaimed prebuild workspaces.
async fn schedule_groups_count_live_claimed_workspaces(store: &Store) {
    let (owner, template, first) = fixture(store, None).await;
    let schedule = "CRON_TZ=UTC 0 9 * * 1-5";
    let eight_hours = Some(SignedDuration::from_hours(8));
    let create = |name: &str, autostart: Option<&str>, ttl, preset: Option<String>| {
        let ws = NewWorkspace {
            owner_id: owner.id.clone(),
            name: name.into(),
            template_id: template.id.clone(),
            autostart_schedule: autostart.map(str::to_string),
            ttl,
            prebuild_preset_id: preset,
        };
        let build = start_build(&owner, &template.active_version_id);
        async move { store.create_workspace(ws, build, t(NOW)).await.unwrap() }
    };
    create("a", Some(schedule), eight_hours, None).await;
    create("b", Some(schedule), eight_hours, None).await;
    create("c", Some(schedule), None, None).await;
    let dormant = create("d", Some(schedule), eight_hours, None).await;
    store
        .update_workspace(&dormant.workspace.id, LockMode::Wait, t(NOW), |_| {
            Ok::<_, ()>(WorkspaceChange {
                dormant_at: Some(Some(t(NOW))),
                ..Default::default()
            })
        })
        .await
        .unwrap()
        .unwrap();
    let groups = store.schedule_groups(10).await.unwrap();
    assert_eq!(
        groups,
        vec![
            ScheduleGroup {
                template_id: template.id.clone(),
                autostart_schedule: Some(schedule.into()),
                ttl: eight_hours,
                count: 2,
            },
            ScheduleGroup {
                template_id: template.id.clone(),
                autostart_schedule: None,
                ttl: None,
                count: 1,
            },
            ScheduleGroup {
                template_id: template.id.clone(),
                autostart_schedule: Some(schedule.into()),
                ttl: None,
                count: 1,
            },
        ],
        "largest group first; the dormant one is not counted"
    );
    assert_eq!(store.schedule_groups(1).await.unwrap().len(), 1, "bounded");
    let _ = first;
}
