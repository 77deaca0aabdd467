//! Paginated lists over HTTP (DESIGN §7 "Lists are paginated"): search,
//! cursors, counts, who sees what, and 400s that name the parameter.

mod common;

use std::collections::BTreeSet;

use common::*;
use dayshift_sdk::*;

async fn fetch<P: Paged>(client: &Client, path: &str) -> Result<P, ClientError> {
    let mut pages = client.pages::<P>(path);
    Ok(pages.next_page().await?.expect("a first page").value)
}

/// The field named by a 400's validations, and the whole message.
async fn refused(client: &Client, path: &str) -> (String, String) {
    let err = fetch::<WorkspacesPage>(client, path).await.unwrap_err();
    assert_eq!(status_of(&err), 400, "{path}: {err}");
    let ClientError::Api { error, .. } = &err else {
        panic!("{path}: not an API error: {err}");
    };
    let field = error
        .validations
        .first()
        .map(|v| v.field.clone())
        .unwrap_or_default();
    (field, message_of(&err))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_search_pages_and_counts() {
    let s = TestServer::start().await;
    push(&s.admin, "echo", files_of(&examples_dir("echo"))).await;
    let bob = s.member("bob").await;
    let mut ids = Vec::new();
    for name in ["api-one", "api-two", "web", "docs", "api-three"] {
        ids.push(create(&bob, name, "echo").await.id);
    }
    create(&s.admin, "admin-api", "echo").await;
    for id in &ids {
        settled(&bob, id).await;
    }
    bob.create_build(&ids[2], Transition::Stop).await.unwrap();
    settled(&bob, &ids[2]).await;

    // Pages of 2 through bob's five: sorted, no duplicates, count on each.
    let mut pages = bob.search_workspaces(&WorkspaceListQuery {
        limit: Some(2),
        ..Default::default()
    });
    let mut names = Vec::new();
    let mut sizes = Vec::new();
    while let Some(page) = pages.next_page().await.unwrap() {
        let (rows, count, _) = page.value.into_parts();
        assert_eq!(count, 5);
        sizes.push(rows.len());
        names.extend(rows.into_iter().map(|w| w.name));
    }
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(names, ["api-one", "api-three", "api-two", "docs", "web"]);

    let search = |client: &Client, q: &str, all: bool| {
        let client = client.clone();
        let q = q.to_string();
        async move {
            client
                .search_workspaces(&WorkspaceListQuery {
                    q: Some(q),
                    all,
                    limit: None,
                })
                .collect()
                .await
                .unwrap()
                .into_iter()
                .map(|w| format!("{}/{}", w.owner_name, w.name))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        search(&bob, "api status:running", false).await,
        ["bob/api-one", "bob/api-three", "bob/api-two"]
    );
    assert_eq!(search(&bob, "status:stopped", false).await, ["bob/web"]);
    assert_eq!(
        search(&bob, "owner:me template:echo name:doc", false).await,
        ["bob/docs"]
    );
    assert!(
        search(&bob, "owner:admin", true).await.is_empty(),
        "members see only their own workspaces, whatever they ask"
    );
    assert_eq!(
        search(&s.admin, "api", true).await,
        [
            "admin/admin-api",
            "bob/api-one",
            "bob/api-three",
            "bob/api-two"
        ]
    );
    assert_eq!(
        search(
            &s.admin,
            "owner:bob outdated:false dormant:false name:web",
            false
        )
        .await,
        ["bob/web"],
        "an owner naming an owner sees theirs without --all"
    );
    assert_eq!(search(&s.admin, "", false).await, ["admin/admin-api"]);

    // The raw shape of DESIGN §7.
    let first: serde_json::Value =
        fetch::<WorkspacesPage>(&bob, "/api/v2/workspaces?limit=4&q=api")
            .await
            .map(|p| serde_json::to_value(p).unwrap())
            .unwrap();
    assert_eq!(first["count"], 3);
    assert_eq!(first["workspaces"].as_array().unwrap().len(), 3);
    assert!(first["next"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_paging_and_search_parameters_are_400s_naming_them() {
    let s = TestServer::start().await;
    for (path, field, says) in [
        ("/api/v2/workspaces?limit=0", "limit", "1000"),
        ("/api/v2/workspaces?limit=1001", "limit", "maximum 1000"),
        ("/api/v2/workspaces?limit=lots", "limit", "\"lots\""),
        ("/api/v2/workspaces?limit=99999999999", "limit", "1000"),
        ("/api/v2/workspaces?after=garbage", "after", "garbage"),
        (
            "/api/v2/workspaces?q=status:sleeping",
            "q",
            "status:sleeping",
        ),
        ("/api/v2/workspaces?q=colour:red", "q", "colour:red"),
        ("/api/v2/workspaces?q=dormant:maybe", "q", "dormant:maybe"),
        ("/api/v2/users?limit=5000", "limit", "maximum 1000"),
        ("/api/v2/prebuilds?after=%21", "after", "cursor"),
    ] {
        let (named, message) = refused(&s.admin, path).await;
        assert_eq!(named, field, "{path}: {message}");
        assert!(message.contains(says), "{path}: {message}");
    }
    // A cursor of one list is no cursor of another.
    s.member("bob").await;
    let users = fetch::<UsersPage>(&s.admin, "/api/v2/users?limit=1")
        .await
        .unwrap();
    let cursor = users.next.expect("a second page of users");
    let (named, _) = refused(&s.admin, &format!("/api/v2/workspaces?after={cursor}")).await;
    assert_eq!(named, "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_builds_versions_and_prebuilds_are_pages() {
    let s = TestServer::start().await;
    let echo = push(&s.admin, "echo", files_of(&examples_dir("echo"))).await;
    let bob = s.member("bob").await;
    s.member("carol").await;

    let users = s.admin.users().await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(
        names,
        ["admin", "bob", "carol"],
        "by username, no system users"
    );
    let denied = bob.users().await.unwrap_err();
    assert_eq!(status_of(&denied), 403, "{denied}");

    let ws = create(&bob, "dev", "echo").await;
    settled(&bob, &ws.id).await;
    for transition in [Transition::Stop, Transition::Start] {
        bob.create_build(&ws.id, transition).await.unwrap();
        settled(&bob, &ws.id).await;
    }
    let mut pages = bob.build_pages(&ws.id);
    let mut numbers = Vec::new();
    let mut page_count = 0;
    while let Some(page) = pages.next_page().await.unwrap() {
        page_count += 1;
        let (rows, count, _) = page.value.into_parts();
        assert_eq!(count, 3);
        numbers.extend(rows.iter().map(|b| b.build_number));
    }
    assert_eq!((numbers, page_count), (vec![3, 2, 1], 1));
    let two = fetch::<WorkspaceBuildsPage>(
        &bob,
        &format!("/api/v2/workspaces/{}/builds?limit=2", ws.id),
    )
    .await
    .unwrap();
    assert_eq!(two.builds.len(), 2);
    assert!(two.next.is_some());

    // A minute later, so "oldest first" is not decided by the ids.
    s.clock.set(t("2027-01-04T08:01:00Z"));
    s.admin
        .create_template_version(
            &echo.id,
            &CreateTemplateVersionRequest {
                files: files_of(&examples_dir("echo")),
            },
        )
        .await
        .unwrap();
    let versions = s.admin.template_versions(&echo.id).await.unwrap();
    let unique: BTreeSet<&String> = versions.iter().map(|v| &v.id).collect();
    assert_eq!(unique.len(), 2);
    assert!(versions[1].active, "oldest first");

    let pools = fetch::<PrebuildsPage>(&s.admin, "/api/v2/prebuilds")
        .await
        .unwrap();
    assert_eq!(pools.count, i64::try_from(pools.prebuilds.len()).unwrap());
    assert!(pools.next.is_none());
}
