//! The dashboard in a real browser: Debian's chromium, driven through
//! chromedriver by fantoccini, against the in-process server on a
//! ManualClock. Builds are run by the test itself (no provisioner
//! daemons), so it decides when a build writes a line and when it ends.
//! Every wait is a WebDriver wait on a page condition or an HTTP long
//! poll, never a sleep.
//!
//! Without chromium the tests are skipped with a message, except under
//! `CI=true`, where they fail. With `DAYSHIFT_SCREENSHOTS=DIR` the
//! screenshot test writes a 1280×800 PNG of every page into DIR (the
//! README's pictures: `DAYSHIFT_SCREENSHOTS=$PWD/docs/screenshots`).

mod common;
#[path = "browser/driver.rs"]
mod driver;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{inline_files, push, t, PASSWORD};
use dayshift_lifecycle::Clock;
use dayshift_sdk::*;
use dayshift_server::{ManualClock, RunningServer, ServerConfig};
use dayshift_store::JobResult;
use fantoccini::elements::Element;
use fantoccini::Locator;

/// A Monday morning in Berlin; the browser's own clock is elsewhere.
const NOW: &str = "2027-01-04T08:00:00Z";

const TEMPLATE: &str = r#"
provisioner = "echo"
connect = "ssh dev@example"

[[parameters]]
name = "region"
default = "eu"
options = ["eu", "us"]

[[presets]]
name = "eu-warm"
parameters = { region = "eu" }
[presets.prebuilds]
instances = 1
[presets.prebuilds.scheduling]
timezone = "Europe/Berlin"
[[presets.prebuilds.scheduling.schedule]]
cron = "* 8-18 * * 1-5"
instances = 3
"#;

struct Dashboard {
    server: RunningServer,
    clock: ManualClock,
    admin: Client,
    browser: driver::Browser,
    _dir: tempfile::TempDir,
}

impl Dashboard {
    async fn start() -> Option<Dashboard> {
        let browser = driver::start().await?;
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = ManualClock::new(t(NOW));
        let server = dayshift_server::start(
            ServerConfig {
                provisioner_daemons: 0,
                ..ServerConfig::for_tests(dir.path().to_path_buf())
            },
            Some(clock.clone()),
        )
        .await
        .expect("server starts");
        let anonymous = Client::new(&server.url());
        anonymous
            .create_first_user(&CreateFirstUserRequest {
                username: "admin".into(),
                email: "admin@example.com".into(),
                password: PASSWORD.into(),
            })
            .await
            .expect("first user");
        let admin = common::login(&anonymous, "admin").await;
        push(
            &admin,
            "dev",
            inline_files(&[("dayshift.toml", 0o644, TEMPLATE)]),
        )
        .await;
        Some(Dashboard {
            server,
            clock,
            admin,
            browser,
            _dir: dir,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    async fn create(
        &self,
        name: &str,
        schedule: Option<&str>,
        ttl_hours: Option<i64>,
    ) -> Workspace {
        self.admin
            .create_workspace(&CreateWorkspaceRequest {
                name: name.into(),
                template: "dev".into(),
                autostart_schedule: schedule.map(str::to_string),
                ttl_ms: ttl_hours.map(|h| h * 3_600_000),
                ..Default::default()
            })
            .await
            .expect("workspace created")
    }

    /// Runs every queued build to success, as a provisioner daemon would.
    async fn finish_builds(&self) {
        let state = &self.server.state;
        let now = self.clock.now();
        while let Some(job) = state
            .store
            .acquire_job("browser-test", now)
            .await
            .expect("acquire")
        {
            self.log(&job.build.id, "building").await;
            state
                .store
                .complete_job(
                    &job.build.id,
                    Some("browser-test"),
                    JobResult {
                        success: true,
                        error: None,
                        outputs: BTreeMap::from([("url".into(), "https://dev.example".into())]),
                    },
                    now,
                )
                .await
                .expect("job completes");
            state.jobs.progressed();
        }
        state.workspaces_changed();
    }

    /// Writes a line to a build's log and wakes its readers.
    async fn log(&self, build_id: &str, line: &str) {
        let state = &self.server.state;
        state
            .store
            .append_log(build_id, "stdout", line, self.clock.now())
            .await
            .expect("log line");
        state.jobs.progressed();
    }

    async fn go(&self, path: &str) {
        self.browser
            .client
            .goto(&self.url(path))
            .await
            .expect("page loads");
    }

    /// Waits (WebDriver polling the page) for an element.
    async fn wait(&self, locator: Locator<'_>) -> Element {
        match self
            .browser
            .client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(locator)
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let page = match self.browser.client.find(Locator::Css("body")).await {
                    Ok(body) => body.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                panic!("waiting for {locator:?}: {e}\nthe page says:\n{page}")
            }
        }
    }

    /// Waits for an element whose text contains `text`.
    async fn wait_text(&self, css_tag: &str, text: &str) -> Element {
        let xpath = format!(
            "//{css_tag}[contains(normalize-space(.), {})]",
            xpath_literal(text)
        );
        self.wait(Locator::XPath(&xpath)).await
    }

    async fn click(&self, locator: Locator<'_>) {
        self.wait(locator).await.click().await.expect("click");
    }

    async fn sign_in(&self) {
        self.go("/workspaces").await;
        let username = self.wait(Locator::Css("#username")).await;
        username.send_keys("admin").await.expect("type");
        self.browser
            .client
            .find(Locator::Css("#password"))
            .await
            .expect("password field")
            .send_keys(PASSWORD)
            .await
            .expect("type");
        self.click(Locator::Css("form[action='/login'] button"))
            .await;
        self.wait_text("h1", "Workspaces").await;
    }

    async fn text(&self, css: &str) -> String {
        self.wait(Locator::Css(css))
            .await
            .text()
            .await
            .expect("text")
    }
}

/// A string literal for XPath (no escapes there: pick the other quote).
fn xpath_literal(s: &str) -> String {
    if s.contains('\'') {
        format!("\"{s}\"")
    } else {
        format!("'{s}'")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_list_filter_start_stop_extend_schedule_and_logs() {
    let Some(d) = Dashboard::start().await else {
        return;
    };
    let alpha = d
        .create("alpha", Some("CRON_TZ=Europe/Berlin 0 9 * * 1-5"), Some(8))
        .await;
    d.create("beta", None, None).await;
    d.finish_builds().await;

    // Pages need a session: the list sends the browser to sign in.
    d.sign_in().await;
    let cookies = d.browser.client.get_all_cookies().await.expect("cookies");
    let session = cookies
        .iter()
        .find(|c| c.name() == "dayshift_session")
        .expect("session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
    let secret = session.value().to_string();
    // The cookie is one of the user's sessions, listed with the API's.
    let sessions = d.admin.sessions().await.expect("sessions").sessions;
    let cookie_session = sessions
        .iter()
        .find(|s| s.kind == SessionKind::Cookie)
        .expect("a cookie session is listed")
        .clone();

    // The list: both workspaces, and alpha's stop as a countdown from the
    // server's clock (08:00 + 8h), not the browser's (a month earlier).
    d.wait(Locator::LinkText("admin/beta")).await;
    let row = d.text("tbody tr:first-child").await;
    assert!(row.contains("admin/alpha"), "{row}");
    assert!(row.contains("9:00AM Mon-Fri (Europe/Berlin)"), "{row}");
    assert!(row.contains("in 8h"), "{row}");

    // Filter with the API's search language.
    let q = d.wait(Locator::Css("#q")).await;
    q.send_keys("name:alp").await.expect("type");
    d.click(Locator::Css("form.search button")).await;
    d.wait(Locator::XPath(
        "//tbody[count(tr) = 1]//a[text() = 'admin/alpha']",
    ))
    .await;

    // Stop and start from the list.
    d.click(Locator::Css("button[aria-label='Stop admin/alpha']"))
        .await;
    d.wait_text("p", "Stopping.").await;
    d.finish_builds().await;
    d.go("/workspaces?q=name:alpha").await;
    d.wait(Locator::Css("button[aria-label='Start admin/alpha']"))
        .await;
    assert!(d.text("tbody").await.contains("stopped"));
    d.click(Locator::Css("button[aria-label='Start admin/alpha']"))
        .await;
    d.wait_text("p", "Starting.").await;
    d.finish_builds().await;

    // Extend on the workspace's page: +1h moves the deadline; −1h is
    // refused by the extend rules, and the API's message is shown.
    d.go(&format!("/workspaces/{}", alpha.id)).await;
    assert!(d.text("#countdown").await.contains("in 8h"));
    d.click(Locator::Css(
        "button[aria-label='Keep running one hour longer']",
    ))
    .await;
    d.wait_text("p", "Deadline updated to 2027-01-04T17:00:00Z")
        .await;
    assert_eq!(d.text("#countdown").await, "in 9h");
    d.click(Locator::Css("button[aria-label='Stop one hour earlier']"))
        .await;
    let refused = d
        .wait(Locator::Css("p.flash.error"))
        .await
        .text()
        .await
        .unwrap();
    let api = d
        .admin
        .extend(&alpha.id, t("2027-01-04T16:00:00Z"))
        .await
        .expect_err("the API refuses it too");
    assert!(
        refused.contains(
            &common::message_of(&api)
                .split(" | ")
                .next()
                .unwrap()
                .to_string()
        ),
        "page: {refused}; API: {api}"
    );

    // The schedule editor: Monday to Thursday at 07:30 Berlin time, 4h.
    let friday = d.wait(Locator::Css("input[name='days'][value='5']")).await;
    friday.click().await.expect("untick Friday");
    let time = d.wait(Locator::Css("#time")).await;
    time.clear().await.unwrap();
    time.send_keys("07:30").await.unwrap();
    let ttl = d.wait(Locator::Css("#ttl")).await;
    ttl.clear().await.unwrap();
    ttl.send_keys("4h").await.unwrap();
    d.click(Locator::XPath("//button[text() = 'Save schedule']"))
        .await;
    d.wait_text(
        "p",
        "Schedule saved: autostart 7:30AM Mon-Thu (Europe/Berlin).",
    )
    .await;
    let saved = d.admin.workspace(&alpha.id).await.expect("workspace");
    assert_eq!(saved.ttl_ms, Some(4 * 3_600_000));
    assert!(
        saved
            .autostart_schedule
            .as_deref()
            .is_some_and(|s| s.starts_with("CRON_TZ=Europe/Berlin 30 7 * * ")),
        "{saved:?}"
    );
    // A TTL the API refuses is refused with its message.
    let ttl = d.wait(Locator::Css("#ttl")).await;
    ttl.clear().await.unwrap();
    ttl.send_keys("31d").await.unwrap();
    d.click(Locator::XPath("//button[text() = 'Save schedule']"))
        .await;
    let refused = d
        .wait(Locator::Css("p.flash.error"))
        .await
        .text()
        .await
        .unwrap();
    assert!(refused.contains("ttl_ms"), "{refused}");
    // The week, drawn in the schedule's zone.
    let week = d.wait(Locator::Css("figure svg title")).await;
    assert!(week.html(true).await.unwrap().contains("Europe/Berlin"));

    // A build log line with markup is shown as text, live and rendered.
    let xss = d.create("xss", None, None).await;
    d.go(&format!("/workspaces/{}", xss.id)).await;
    d.wait(Locator::Css("pre.log[data-live]")).await;
    let line = "<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\">";
    d.log(&xss.latest_build.id, line).await;
    d.wait_text("pre", "<script>window.pwned = 1</script>")
        .await;
    d.finish_builds().await;
    d.wait(Locator::Css("#build-finished:not([hidden])")).await;
    d.browser.client.refresh().await.unwrap();
    d.wait_text("pre", "<img src=x onerror=\"window.pwned = 2\">")
        .await;
    let pwned = d
        .browser
        .client
        .execute("return typeof window.pwned", vec![])
        .await
        .unwrap();
    assert_eq!(
        pwned,
        serde_json::json!("undefined"),
        "no markup from a log ran"
    );

    // Signing out ends the session itself, not only the browser's cookie:
    // the old secret no longer opens a page.
    d.click(Locator::XPath("//button[text() = 'Sign out']"))
        .await;
    d.wait(Locator::Css("#username")).await;
    d.go("/workspaces").await;
    d.wait(Locator::Css("#username")).await;
    let sessions = d.admin.sessions().await.expect("sessions").sessions;
    assert!(
        sessions.iter().all(|s| s.id != cookie_session.id),
        "{sessions:?}"
    );
    let replayed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(d.url("/workspaces"))
        .header("cookie", format!("dayshift_session={secret}"))
        .send()
        .await
        .expect("request");
    assert_eq!(replayed.status(), 303);
    assert!(replayed.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login"));

    d.browser.close().await;
    d.server.shutdown().await;
}

/// Every page, with data in it: each weighs at most 100 kB with its
/// assets, is reachable by keyboard from a skip link, and (with
/// `DAYSHIFT_SCREENSHOTS=DIR`) is photographed at 1280×800.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_light_keyboard_reachable_and_photographed() {
    let Some(d) = Dashboard::start().await else {
        return;
    };
    let dev = d
        .create("dev", Some("CRON_TZ=Europe/Berlin 30 8 * * 1-5"), Some(9))
        .await;
    d.create("api", Some("CRON_TZ=America/New_York 0 9 * * 1-5"), Some(8))
        .await;
    d.create("docs", Some("CRON_TZ=Asia/Tokyo 0 10 * * 1-5"), Some(6))
        .await;
    d.create("scratch", None, None).await;
    // The pools fill at the clock's next tick.
    d.admin
        .debug_clock(&DebugClockRequest {
            now: Some(t(NOW)),
            advance: None,
        })
        .await
        .expect("a tick");
    d.finish_builds().await;
    d.create("night", Some("CRON_TZ=UTC 0 22 * * *"), Some(4))
        .await;

    d.sign_in().await;
    let dir = std::env::var_os("DAYSHIFT_SCREENSHOTS").map(std::path::PathBuf::from);
    let pages = [
        ("workspaces", "/workspaces".to_string(), "Workspaces"),
        ("workspace", format!("/workspaces/{}", dev.id), "admin/dev"),
        (
            "new-workspace",
            "/workspaces/new?template=dev".into(),
            "New workspace",
        ),
        ("delete", format!("/workspaces/{}/delete", dev.id), "Delete"),
        ("templates", "/templates".into(), "Templates"),
        ("template", "/templates/dev".into(), "Template dev"),
        ("prebuilds", "/prebuilds".into(), "Prebuilds"),
        ("fleet", "/fleet?tz=Europe/Berlin".into(), "Fleet"),
    ];
    for (name, path, heading) in &pages {
        d.go(path).await;
        d.wait_text("h1", heading).await;
        let weight = d
            .browser
            .client
            .execute(
                "const n = performance.getEntriesByType('navigation')[0];
                 return n.decodedBodySize + performance.getEntriesByType('resource')
                   .reduce((sum, r) => sum + r.decodedBodySize, 0);",
                vec![],
            )
            .await
            .expect("page weight");
        let bytes = weight.as_u64().expect("a size");
        assert!(bytes > 0 && bytes <= 100_000, "{path} weighs {bytes} bytes");
        // Keyboard: the first Tab lands on the skip link.
        d.wait(Locator::Css("body"))
            .await
            .send_keys("\u{E004}")
            .await
            .expect("Tab");
        let focused = d.browser.client.active_element().await.expect("focus");
        assert_eq!(focused.text().await.unwrap(), "Skip to content", "{path}");
        // Every input has a label.
        let unlabelled = d
            .browser
            .client
            .execute(
                "return [...document.querySelectorAll('input:not([type=hidden]), select')]
                   .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                   .map(e => e.name || e.id);",
                vec![],
            )
            .await
            .expect("labels");
        assert_eq!(unlabelled, serde_json::json!([]), "{path}");
        if let Some(dir) = &dir {
            d.browser
                .client
                .execute(
                    "document.activeElement.blur(); window.scrollTo(0, 0)",
                    vec![],
                )
                .await
                .expect("blur");
            let png = d.browser.client.screenshot().await.expect("screenshot");
            std::fs::create_dir_all(dir).expect("screenshot dir");
            std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
        }
    }
    // The sign-in page, signed out.
    d.click(Locator::XPath("//button[text() = 'Sign out']"))
        .await;
    d.wait(Locator::Css("#username")).await;
    if let Some(dir) = &dir {
        let png = d.browser.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join("sign-in.png"), png).expect("screenshot written");
    }
    d.browser.close().await;
    d.server.shutdown().await;
}
