//! A real browser for tests: Debian's `chromium` through `chromedriver`
//! (WebDriver), started on a free port and stopped with the test.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder};

/// The viewport every page is shown (and photographed) at.
pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 800;

pub struct Browser {
    pub client: Client,
    /// Dropped with the browser: kills chromedriver's process group, also
    /// when a test panics.
    _driver: Driver,
    /// The browser's profile, removed after the browser is gone.
    _profile: tempfile::TempDir,
}

fn find(names: &[&str], env: &str) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(env) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A headless chromium, or `None` (with a message) when it is not
/// installed; under `CI=true` a missing browser fails the test.
pub async fn start() -> Option<Browser> {
    let chromium = find(&["chromium", "chromium-browser"], "DAYSHIFT_TEST_CHROMIUM");
    let driver = find(&["chromedriver"], "DAYSHIFT_TEST_CHROMEDRIVER");
    let (Some(chromium), Some(driver)) = (chromium, driver) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the browser tests need chromium and chromedriver under CI \
             (apt-get install -y chromium chromium-driver)"
        );
        eprintln!("skipping the browser test: chromium or chromedriver is not installed");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    // Its own process group, so the browsers it starts go with it.
    let mut child = Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("chromedriver starts");
    // It says when it listens; wait for that line rather than polling.
    let stdout = child.stdout.take().expect("chromedriver stdout");
    let ready = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let ok = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("started successfully"));
        // Keep draining so chromedriver never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        ok
    })
    .await
    .expect("reading chromedriver output");
    let driver = Driver(child);
    let profile = tempfile::tempdir().expect("profile dir");
    let client = connect(port, &chromium, profile.path(), ready).await;
    client
        .set_window_size(WIDTH, HEIGHT)
        .await
        .expect("window size");
    Some(Browser {
        client,
        _driver: driver,
        _profile: profile,
    })
}

async fn connect(
    port: u16,
    chromium: &std::path::Path,
    profile: &std::path::Path,
    ready: bool,
) -> Client {
    assert!(ready, "chromedriver did not start");
    let capabilities = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage",
                format!("--window-size={WIDTH},{HEIGHT}"),
                format!("--user-data-dir={}", profile.display()),
            ],
        },
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!("capabilities are an object")
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a chromium session")
}

impl Browser {
    /// Ends the browser session, then chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        // The process group this test started: chromedriver and its browser.
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: kill(2) with a negative pid signals that group only.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.0.wait();
    }
}
