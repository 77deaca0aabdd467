//! The dashboard's defences over plain HTTP: a state-changing request
//! needs the session's CSRF token and must come from this origin; pages
//! without a session send the browser to sign in; the cookie's flags.

mod common;

use common::{create, push, TestServer, PASSWORD};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Signs in through the form; returns the `Set-Cookie` header.
async fn sign_in(server: &TestServer) -> String {
    let answer = http()
        .post(format!("{}/login", server.url()))
        .header("origin", server.url())
        .form(&[
            ("username", "admin"),
            ("password", PASSWORD),
            ("next", "/fleet"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/fleet");
    answer.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string()
}

fn csrf_of(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    page[start..start + 64].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_this_origin_and_the_sessions_csrf_token() {
    let server = TestServer::start().await;
    push(
        &server.admin,
        "echo",
        common::files_of(&common::examples_dir("echo")),
    )
    .await;
    let ws = create(&server.admin, "dev", "echo").await;
    common::settled(&server.admin, &ws.id).await;

    // Without a session, pages redirect to the sign-in page, coming back.
    let anonymous = http()
        .get(format!("{}/workspaces/{}", server.url(), ws.id))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(
        anonymous.headers()["location"],
        format!("/login?next=/workspaces/{}", ws.id)
    );

    let set_cookie = sign_in(&server).await;
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(flag), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "not behind HTTPS: {set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let page = http()
        .get(format!("{}/workspaces/{}", server.url(), ws.id))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let stop = |origin: &str, token: &str| {
        http()
            .post(format!("{}/workspaces/{}/action", server.url(), ws.id))
            .header("cookie", &cookie)
            .header("origin", origin)
            .form(&[("do", "stop"), ("csrf", token)])
            .send()
    };
    let foreign = stop("http://evil.example", &csrf).await.unwrap();
    assert_eq!(foreign.status(), 403, "another origin is refused");
    let forged = stop(&server.url(), &"0".repeat(64)).await.unwrap();
    assert_eq!(forged.status(), 403, "a wrong token is refused");
    assert_eq!(
        server
            .admin
            .workspace(&ws.id)
            .await
            .unwrap()
            .latest_build
            .build_number,
        1,
        "nothing was done"
    );
    let ok = stop(&server.url(), &csrf).await.unwrap();
    assert_eq!(ok.status(), 303);
    let stopped = common::settled(&server.admin, &ws.id).await;
    assert_eq!(stopped.status, dayshift_sdk::WorkspaceStatus::Stopped);

    // Signing in from another site's page is refused too.
    let cross = http()
        .post(format!("{}/login", server.url()))
        .header("origin", "http://evil.example")
        .form(&[("username", "admin"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    // A wrong password shows the API's message on the form.
    let wrong = http()
        .post(format!("{}/login", server.url()))
        .form(&[("username", "admin"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let text = wrong.text().await.unwrap();
    assert!(text.contains("incorrect username or password"), "{text}");
}
