//! Conformance of search and keyset pagination (DESIGN §7 "Lists are
//! paginated"), on SQLite and PostgreSQL: every search term, cursors that
//! stay true while rows are inserted and deleted between pages, and the
//! small aggregates behind `/metrics`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use dayshift_schedule::Timestamp;
use dayshift_store::testing::Backend;
use dayshift_store::*;

fn t(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

const NOW: &str = "2027-01-04T08:00:00Z";

fn policy() -> Arc<dyn Policy> {
    Arc::new(NoPolicy)
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let s = dayshift_store::testing::open(super::Backend::Sqlite, super::policy())
                    .await
                    .expect("sqlite store");
                super::$name(&s.store).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(s) =
                    dayshift_store::testing::open(super::Backend::Postgres, super::policy()).await
                else {
                    return;
                };
                super::$name(&s.store).await;
            })*
        }
    };
}

conformance!(
    every_search_term_filters_and_count_matches,
    listing_columns_follow_owner_transfer_and_new_versions,
    pages_have_no_duplicates_or_gaps_while_rows_come_and_go,
    builds_versions_and_users_are_paged,
    cursors_of_another_list_are_refused,
    job_counts_come_from_small_aggregates,
);

fn user(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        email: format!("{name}@example.com"),
        password_hash: "hash".into(),
        role: Role::Member,
    }
}

fn version(user: &User) -> NewTemplateVersion {
    NewTemplateVersion {
        created_by: user.id.clone(),
        provisioner: "echo".into(),
        connect: None,
        manifest_json: "{}".into(),
        bundle: vec![],
        presets: vec![],
    }
}

fn build(transition: Transition, initiator: &User, version_id: &str) -> NewBuild {
    NewBuild {
        transition,
        reason: BuildReason::Initiator,
        template_version_id: version_id.to_string(),
        parameters: BTreeMap::new(),
        initiator_id: initiator.id.clone(),
    }
}

/// The first user `alice` and her template `go`.
async fn alice_and_template(store: &Store) -> (User, Template) {
    let alice = store
        .create_first_user(user("alice"), t(NOW))
        .await
        .expect("alice");
    let (template, _) = store
        .create_template("go", &TemplatePolicy::default(), version(&alice), t(NOW))
        .await
        .expect("template");
    (alice, template)
}

async fn create(store: &Store, owner: &User, name: &str, template: &Template) -> WorkspaceState {
    store
        .create_workspace(
            NewWorkspace {
                owner_id: owner.id.clone(),
                name: name.into(),
                template_id: template.id.clone(),
                autostart_schedule: None,
                ttl: None,
                prebuild_preset_id: None,
            },
            build(Transition::Start, owner, &template.active_version_id),
            t(NOW),
        )
        .await
        .expect("create workspace")
}

/// Runs every pending job to the end, successfully or not.
async fn run_jobs(store: &Store, success: bool) {
    while let Some(job) = store.acquire_job("worker", t(NOW)).await.expect("acquire") {
        let result = JobResult {
            success,
            error: (!success).then(|| "boom".to_string()),
            outputs: BTreeMap::new(),
        };
        store
            .complete_job(&job.build.id, Some("worker"), result, t(NOW))
            .await
            .expect("complete");
    }
}

async fn change(store: &Store, id: &str, change: WorkspaceChange) -> WorkspaceState {
    store
        .update_workspace(id, LockMode::Wait, t(NOW), |_| {
            Ok::<_, std::convert::Infallible>(change)
        })
        .await
        .expect("update")
        .expect("infallible")
        .state
}

async fn queue(store: &Store, ws: &WorkspaceState, transition: Transition, by: &User) {
    let new_build = build(transition, by, &ws.reuse_version_id);
    change(
        store,
        &ws.workspace.id,
        WorkspaceChange {
            new_build: Some(new_build),
            ..Default::default()
        },
    )
    .await;
}

/// Names (`owner/name`) of every match, walking pages of 2 to exercise
/// the cursor with every filter; checks `count` on each page.
async fn names(store: &Store, query: &WorkspaceQuery) -> Vec<String> {
    let mut page = Page::first(2).expect("page");
    let mut names = Vec::new();
    let mut counts = BTreeSet::new();
    loop {
        let found = store.search_workspaces(query, &page).await.expect("search");
        counts.insert(found.count);
        names.extend(
            found
                .items
                .iter()
                .map(|s| format!("{}/{}", s.workspace.owner_name, s.workspace.name)),
        );
        match found.next {
            Some(next) => page = page.continue_after(&next).expect("cursor"),
            None => break,
        }
    }
    assert_eq!(
        counts,
        BTreeSet::from([names.len() as i64]),
        "count is the number of matches on every page of {query:?}"
    );
    names
}

fn q(text: &str) -> WorkspaceQuery {
    WorkspaceQuery::parse(text, "alice").expect("query")
}

/// alice/api-go    go, running, outdated (v2 pushed after its build)
/// alice/web       py, pending
/// alice/broken    py, failed
/// bob/api-py      py, stopped
/// bob/sleepy      go (v2), running, dormant
async fn fleet(store: &Store) -> (User, User, Template, Template) {
    let alice = store
        .create_first_user(user("alice"), t(NOW))
        .await
        .unwrap();
    let bob = store.create_user(user("bob"), t(NOW)).await.unwrap();
    let (go, _) = store
        .create_template("go", &TemplatePolicy::default(), version(&alice), t(NOW))
        .await
        .unwrap();
    let (py, _) = store
        .create_template("py", &TemplatePolicy::default(), version(&alice), t(NOW))
        .await
        .unwrap();
    create(store, &alice, "api-go", &go).await;
    run_jobs(store, true).await;
    store
        .create_template_version(&go.id, version(&alice), t(NOW))
        .await
        .unwrap();
    let go = store.template(&go.id).await.unwrap().unwrap();
    create(store, &alice, "broken", &py).await;
    run_jobs(store, false).await;
    let api_py = create(store, &bob, "api-py", &py).await;
    run_jobs(store, true).await;
    queue(store, &api_py, Transition::Stop, &bob).await;
    run_jobs(store, true).await;
    let sleepy = create(store, &bob, "sleepy", &go).await;
    run_jobs(store, true).await;
    change(
        store,
        &sleepy.workspace.id,
        WorkspaceChange {
            dormant_at: Some(Some(t(NOW))),
            ..Default::default()
        },
    )
    .await;
    create(store, &alice, "web", &py).await;
    (alice, bob, go, py)
}

async fn every_search_term_filters_and_count_matches(store: &Store) {
    fleet(store).await;
    // Counts come from pending deltas first, then from folded totals.
    for fold in [false, true] {
        if fold {
            store.fold_workspace_counts().await.unwrap();
        }
        every_term_once(store).await;
    }
}

async fn every_term_once(store: &Store) {
    let all = [
        "alice/api-go",
        "alice/broken",
        "alice/web",
        "bob/api-py",
        "bob/sleepy",
    ];
    assert_eq!(
        names(store, &q("")).await,
        all,
        "sorted by owner, then name"
    );
    for (search, expected) in [
        (
            "owner:me",
            &["alice/api-go", "alice/broken", "alice/web"][..],
        ),
        ("owner:bob", &["bob/api-py", "bob/sleepy"]),
        ("owner:nobody", &[]),
        ("template:go", &["alice/api-go", "bob/sleepy"]),
        ("template:rust", &[]),
        ("status:running", &["alice/api-go", "bob/sleepy"]),
        ("status:pending", &["alice/web"]),
        ("status:failed", &["alice/broken"]),
        ("status:stopped", &["bob/api-py"]),
        ("status:deleted", &[]),
        ("name:api", &["alice/api-go", "bob/api-py"]),
        ("api", &["alice/api-go", "bob/api-py"]),
        ("API -go", &["alice/api-go"]),
        ("name:%", &[]),
        ("outdated:true", &["alice/api-go"]),
        (
            "outdated:false",
            &["alice/broken", "alice/web", "bob/api-py", "bob/sleepy"],
        ),
        ("dormant:true", &["bob/sleepy"]),
        (
            "dormant:false",
            &["alice/api-go", "alice/broken", "alice/web", "bob/api-py"],
        ),
        ("template:py status:stopped owner:bob", &["bob/api-py"]),
        ("template:go dormant:false", &["alice/api-go"]),
    ] {
        assert_eq!(names(store, &q(search)).await, expected, "q={search:?}");
    }
    let mut members_view = q("");
    members_view.visible_to = Some("bob".into());
    assert_eq!(
        names(store, &members_view).await,
        ["bob/api-py", "bob/sleepy"]
    );
    let mut peeking = q("owner:alice");
    peeking.visible_to = Some("bob".into());
    assert!(
        names(store, &peeking).await.is_empty(),
        "visible_to is ANDed"
    );
}

async fn listing_columns_follow_owner_transfer_and_new_versions(store: &Store) {
    let (alice, bob, go, _) = fleet(store).await;
    // A transfer (as a prebuild claim does) moves the workspace in owner
    // search and in the sort order at once.
    let api_go = store
        .workspace_by_owner_and_name(&alice.id, "api-go")
        .await
        .unwrap()
        .unwrap();
    change(
        store,
        &api_go.workspace.id,
        WorkspaceChange {
            owner_id: Some(bob.id.clone()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        names(store, &q("owner:bob")).await,
        ["bob/api-go", "bob/api-py", "bob/sleepy"]
    );
    // A new version makes every workspace of the template outdated ...
    store
        .create_template_version(&go.id, version(&alice), t(NOW))
        .await
        .unwrap();
    assert_eq!(
        names(store, &q("outdated:true")).await,
        ["bob/api-go", "bob/sleepy"]
    );
    // ... until it is built on the active version.
    let go = store.template(&go.id).await.unwrap().unwrap();
    let moved = store
        .workspace(&api_go.workspace.id)
        .await
        .unwrap()
        .unwrap();
    change(
        store,
        &moved.workspace.id,
        WorkspaceChange {
            new_build: Some(build(Transition::Start, &bob, &go.active_version_id)),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(names(store, &q("outdated:true")).await, ["bob/sleepy"]);
    assert_eq!(
        names(store, &q("status:pending")).await,
        ["alice/web", "bob/api-go"]
    );
}

async fn pages_have_no_duplicates_or_gaps_while_rows_come_and_go(store: &Store) {
    let (alice, template) = alice_and_template(store).await;
    let mut ids = BTreeMap::new();
    for i in (0..40).step_by(2) {
        let name = format!("ws-{i:02}");
        ids.insert(name.clone(), create(store, &alice, &name, &template).await);
    }
    run_jobs(store, true).await;
    let query = WorkspaceQuery::default();
    let mut page = Page::first(6).unwrap();
    let mut seen = Vec::new();
    let mut deleted = BTreeSet::new();
    let mut inserted_ahead = BTreeSet::new();
    for round in 0.. {
        let found = store.search_workspaces(&query, &page).await.unwrap();
        seen.extend(found.items.iter().map(|s| s.workspace.name.clone()));
        let Some(next) = found.next else { break };
        let last = seen.last().unwrap().clone();
        // Between pages: insert one row behind the cursor and one ahead,
        // and delete one behind and one ahead.
        let behind = format!("ws-0{round}-behind");
        assert!(behind < last);
        create(store, &alice, &behind, &template).await;
        let ahead: u32 = last[3..5].parse::<u32>().unwrap() + 3 + round % 2;
        if ahead < 40 {
            let name = format!("ws-{ahead:02}");
            if !ids.contains_key(&name) {
                ids.insert(name.clone(), create(store, &alice, &name, &template).await);
                inserted_ahead.insert(name);
            }
        }
        let ahead_victim = ids
            .keys()
            .find(|name| {
                **name > last && !deleted.contains(*name) && !inserted_ahead.contains(*name)
            })
            .cloned();
        for victim in [seen.first().cloned(), ahead_victim].into_iter().flatten() {
            if deleted.insert(victim.clone()) {
                queue(store, &ids[&victim], Transition::Delete, &alice).await;
            }
        }
        run_jobs(store, true).await;
        page = page.continue_after(&next).unwrap();
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates: {seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, seen, "in sort order");
    for name in ids.keys() {
        let present_throughout = !deleted.contains(name) || seen.first() == Some(name);
        if present_throughout && !name.ends_with("-behind") {
            assert!(
                unique.contains(name),
                "no gaps: {name} missing from {seen:?}"
            );
        }
    }
    for name in &inserted_ahead {
        assert!(unique.contains(name), "rows inserted ahead appear: {name}");
    }
    assert!(
        seen.iter().all(|n| !n.ends_with("-behind")),
        "rows inserted behind do not"
    );
    for name in &deleted {
        if seen.first() != Some(name) {
            assert!(
                !unique.contains(name),
                "rows deleted ahead do not appear: {name}"
            );
        }
    }
}

async fn builds_versions_and_users_are_paged(store: &Store) {
    let (alice, template) = alice_and_template(store).await;
    for name in ["dave", "carol", "bob"] {
        store.create_user(user(name), t(NOW)).await.unwrap();
    }
    store.ensure_system_user("prebuilds", t(NOW)).await.unwrap();
    for minute in 1..5 {
        let later = t(NOW) + dayshift_schedule::SignedDuration::from_mins(minute);
        store
            .create_template_version(&template.id, version(&alice), later)
            .await
            .unwrap();
    }
    let ws = create(store, &alice, "dev", &template).await;
    run_jobs(store, true).await;
    for transition in [
        Transition::Stop,
        Transition::Start,
        Transition::Stop,
        Transition::Start,
    ] {
        queue(store, &ws, transition, &alice).await;
        run_jobs(store, true).await;
    }

    let mut page = Page::first(2).unwrap();
    let mut numbers = Vec::new();
    loop {
        let found = store.builds(&ws.workspace.id, &page).await.unwrap();
        assert_eq!(found.count, 5);
        assert!(found.items.len() <= 2);
        numbers.extend(found.items.iter().map(|b| b.build_number));
        match found.next {
            Some(next) => page = page.continue_after(&next).unwrap(),
            None => break,
        }
    }
    assert_eq!(numbers, [5, 4, 3, 2, 1], "newest first");

    let mut page = Page::first(2).unwrap();
    let mut versions = Vec::new();
    loop {
        let found = store.template_versions(&template.id, &page).await.unwrap();
        assert_eq!(found.count, 5);
        versions.extend(found.items.into_iter().map(|v| v.id));
        match found.next {
            Some(next) => page = page.continue_after(&next).unwrap(),
            None => break,
        }
    }
    let unique: BTreeSet<&String> = versions.iter().collect();
    assert_eq!((versions.len(), unique.len()), (5, 5));
    let template = store.template(&template.id).await.unwrap().unwrap();
    assert_eq!(
        versions.last(),
        Some(&template.active_version_id),
        "oldest first"
    );

    let first = store.users(&Page::first(3).unwrap()).await.unwrap();
    assert_eq!(first.count, 4, "system users are not listed");
    let second = store
        .users(&Page::new(Some(3), first.next.as_deref()).unwrap())
        .await
        .unwrap();
    let usernames: Vec<String> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|u| u.username.clone())
        .collect();
    assert_eq!(usernames, ["alice", "bob", "carol", "dave"]);
    assert_eq!(second.next, None);
}

async fn cursors_of_another_list_are_refused(store: &Store) {
    let (alice, template) = alice_and_template(store).await;
    store.create_user(user("bob"), t(NOW)).await.unwrap();
    let ws = create(store, &alice, "dev", &template).await;
    let users = store.users(&Page::first(1).unwrap()).await.unwrap();
    let user_cursor = users.next.expect("a second page");
    let foreign = Page::new(None, Some(&user_cursor)).unwrap();
    for result in [
        store.builds(&ws.workspace.id, &foreign).await.map(|_| ()),
        store
            .template_versions(&template.id, &foreign)
            .await
            .map(|_| ()),
        store
            .search_workspaces(&WorkspaceQuery::default(), &foreign)
            .await
            .map(|_| ()),
    ] {
        match result {
            Err(StoreError::InvalidInput { field, .. }) => assert_eq!(field, "after"),
            other => panic!("expected an invalid cursor, got {other:?}"),
        }
    }
}

async fn job_counts_come_from_small_aggregates(store: &Store) {
    let (alice, template) = alice_and_template(store).await;
    for i in 0..5 {
        create(store, &alice, &format!("ok-{i}"), &template).await;
    }
    run_jobs(store, true).await;
    for i in 0..3 {
        create(store, &alice, &format!("bad-{i}"), &template).await;
    }
    run_jobs(store, false).await;
    create(store, &alice, "running", &template).await;
    store.acquire_job("worker", t(NOW)).await.unwrap().unwrap();
    for i in 0..2 {
        create(store, &alice, &format!("queued-{i}"), &template).await;
    }
    let counts = store.job_counts().await.unwrap();
    let expected = BTreeMap::from([
        (JobStatus::Pending, 2),
        (JobStatus::Running, 1),
        (JobStatus::Succeeded, 5),
        (JobStatus::Failed, 3),
    ]);
    assert_eq!(counts, expected);
}
