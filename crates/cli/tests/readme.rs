//! The README runs as written: its Quickstart and "More to try" command
//! blocks are extracted and run, in order, with `sh`, against a temporary
//! server on a fresh data directory, with the `dayshift` just built first
//! on `PATH`. Any command that fails fails the test, so the README cannot
//! drift from the product.

use std::path::{Path, PathBuf};

use dayshift_server::{ManualClock, ServerConfig};

/// The address the README's commands name; replaced by the test server's.
const README_URL: &str = "http://127.0.0.1:7080";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The first ```sh block after the line `after`, as commands: comments
/// dropped, `\` continuations joined.
fn sh_block_after(readme: &str, after: &str) -> Vec<String> {
    let start = readme
        .find(after)
        .unwrap_or_else(|| panic!("README has no {after:?}"));
    let rest = &readme[start..];
    let open = rest.find("```sh\n").expect("a ```sh block") + "```sh\n".len();
    let close = rest[open..].find("```").expect("the block's end") + open;
    let mut commands = Vec::new();
    let mut pending = String::new();
    for line in rest[open..close].lines() {
        let line = strip_comment(line);
        let line = line.trim();
        if line.is_empty() && pending.is_empty() {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head.trim_end());
                pending.push(' ');
            }
            None => {
                pending.push_str(line);
                commands.push(std::mem::take(&mut pending));
            }
        }
    }
    assert!(pending.is_empty(), "unfinished continuation: {pending}");
    commands
}

/// Drops a `# comment` that starts a line or follows a blank, outside
/// quotes (the README's commands quote schedules that contain no `#`).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') if previous.is_whitespace() => return &line[..i],
            _ => {}
        }
        previous = c;
    }
    line
}

#[test]
fn commands_are_extracted_as_a_shell_would_read_them() {
    let readme = "## Quickstart\n\n```sh\n# a comment\ncargo install x   # install\n\ndayshift login URL \\\n  --a 'b # c'\n```\n";
    assert_eq!(
        sh_block_after(readme, "## Quickstart"),
        vec!["cargo install x", "dayshift login URL --a 'b # c'"]
    );
}

/// The one README line the test does not run: installing the binary. The
/// test runs the binary cargo has just built for it instead (installing
/// would rebuild the workspace in release mode for minutes and write to
/// the user's ~/.cargo/bin).
fn is_install(command: &str) -> bool {
    command.starts_with("cargo install ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_quickstart_and_more_to_try_run_as_written() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let mut commands = sh_block_after(&readme, "## Quickstart");
    assert!(
        commands.iter().any(|c| is_install(c)),
        "the Quickstart installs the binary: {commands:#?}"
    );
    commands.extend(sh_block_after(&readme, "More to try:"));

    let dir = tempfile::tempdir().expect("temp dir");
    // A fresh data directory; a fixed clock (Monday 2027-01-04, 08:00 UTC)
    // so that schedules come out the same on every run.
    let clock = ManualClock::new("2027-01-04T08:00:00Z".parse().expect("time"));
    let server = dayshift_server::start(
        ServerConfig::for_tests(dir.path().join("data")),
        Some(clock),
    )
    .await
    .expect("server");
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir_all(&bin_dir).expect("bin dir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_dayshift"), bin_dir.join("dayshift"))
        .expect("dayshift on PATH");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut ran = 0;
    for command in commands.iter().filter(|c| !is_install(c)) {
        let command = command.replace(README_URL, &server.url());
        let out = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .current_dir(repo_root())
            .env("PATH", &path)
            .env("DAYSHIFT_CONFIG_DIR", dir.path().join("config"))
            .env_remove("DAYSHIFT_URL")
            .env_remove("DAYSHIFT_SESSION_TOKEN")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("run sh");
        assert!(
            out.status.success(),
            "README command failed ({:?}): {command}\n--- stdout\n{}\n--- stderr\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 10, "only {ran} README commands ran");
    server.shutdown().await;
}
