//! Running builds with the echo and script provisioners, against real
//! processes. No test waits for wall-clock time to pass except the timeout
//! test, whose subject is the timeout itself.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use dayshift_provisioner::{
    run_build, BuildLog, BuildRequest, EchoProvisioner, LogStream, Manifest, MemoryLog,
    Provisioner, ScriptProvisioner, TemplateBundle, Transition,
};
use jiff::SignedDuration;
use tokio_util::sync::CancellationToken;

fn echo_manifest(fail: Vec<Transition>, duration: SignedDuration) -> Manifest {
    Manifest {
        provisioner: Provisioner::Echo(EchoProvisioner { fail, duration }),
        connect: None,
        parameters: Vec::new(),
        presets: Vec::new(),
    }
}

fn script_manifest(timeout: SignedDuration) -> Manifest {
    Manifest {
        provisioner: Provisioner::Script(ScriptProvisioner {
            start: "./start.sh".into(),
            stop: Some("./stop.sh".into()),
            delete: None,
            timeout,
        }),
        connect: None,
        parameters: Vec::new(),
        presets: Vec::new(),
    }
}

/// A template directory with the given executable scripts, and a separate
/// state directory (not yet created: the runner creates it).
struct Fixture {
    _tmp: tempfile::TempDir,
    template_dir: PathBuf,
    state_dir: PathBuf,
}

impl Fixture {
    fn new(scripts: &[(&str, &str)]) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let template_dir = tmp.path().join("template");
        fs::create_dir(&template_dir).unwrap();
        for (name, body) in scripts {
            let path = template_dir.join(name);
            fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let state_dir = tmp.path().join("state").join("ws-1");
        Fixture {
            _tmp: tmp,
            template_dir,
            state_dir,
        }
    }

    fn request(&self, transition: Transition, params: &[(&str, &str)]) -> BuildRequest {
        BuildRequest {
            workspace_id: "ws-1".into(),
            workspace_name: "dev".into(),
            owner_name: "alice".into(),
            transition,
            parameters: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            template_dir: self.template_dir.clone(),
            state_dir: self.state_dir.clone(),
        }
    }
}

async fn run(
    manifest: &Manifest,
    req: &BuildRequest,
) -> (dayshift_provisioner::BuildOutcome, MemoryLog) {
    let log = MemoryLog::new();
    let outcome = run_build(manifest, req, &log, CancellationToken::new()).await;
    (outcome, log)
}

/// Fails a test whose build does not end instead of letting it hang: the
/// scripts below would run for an hour if killing them did not work.
async fn guarded<F: std::future::Future>(build: F) -> F::Output {
    match tokio::time::timeout(std::time::Duration::from_secs(60), build).await {
        Ok(out) => out,
        Err(_) => panic!("the build did not end within 60s"),
    }
}

/// Whether `pid` is a live process (a zombie is not).
fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Blocks until `pid` has exited: waits on the kernel's exit notification
/// (a pidfd), not on a clock. Gives up after 10s so a broken kill fails the
/// test instead of hanging it.
fn wait_exited(pid: i32) -> bool {
    // SAFETY: plain syscalls on integers and a local pollfd.
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, pid, 0) as libc::c_int;
        if fd < 0 {
            let errno = *libc::__errno_location();
            if errno == libc::ESRCH {
                return true;
            }
            // No pidfd support: the best we can do is look once.
            return !alive(pid);
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ready = libc::poll(&mut pfd, 1, 10_000);
        libc::close(fd);
        ready == 1
    }
}

#[tokio::test]
async fn echo_succeeds_and_describes_the_build() {
    let f = Fixture::new(&[]);
    let m = echo_manifest(vec![], SignedDuration::ZERO);
    let (outcome, log) = run(&m, &f.request(Transition::Start, &[("region", "eu")])).await;
    assert!(outcome.success, "{outcome:?}");
    assert_eq!(outcome.error, None);
    assert!(!outcome.canceled);
    assert_eq!(
        log.lines(),
        vec![
            (
                LogStream::System,
                "echo provisioner: start of workspace alice/dev (ws-1)".to_string()
            ),
            (LogStream::Stdout, "parameter region = \"eu\"".to_string()),
            (LogStream::Stdout, "start done".to_string()),
            (LogStream::System, "build succeeded".to_string()),
        ]
    );
}

#[tokio::test]
async fn echo_fails_the_listed_transitions_only() {
    let f = Fixture::new(&[]);
    let m = echo_manifest(vec![Transition::Stop], SignedDuration::ZERO);
    let (outcome, log) = run(&m, &f.request(Transition::Stop, &[])).await;
    assert!(!outcome.success);
    assert_eq!(
        outcome.error.as_deref(),
        Some("echo provisioner is configured to fail \"stop\"")
    );
    assert_eq!(
        log.stream(LogStream::System).last().map(String::as_str),
        Some("build failed: echo provisioner is configured to fail \"stop\"")
    );
    let (outcome, _) = run(&m, &f.request(Transition::Start, &[])).await;
    assert!(outcome.success);
}

#[tokio::test]
async fn echo_can_be_canceled() {
    let f = Fixture::new(&[]);
    // An hour-long fake build, canceled before it starts: returns at once.
    let m = echo_manifest(vec![], SignedDuration::from_hours(1));
    let cancel = CancellationToken::new();
    cancel.cancel();
    let log = MemoryLog::new();
    let outcome = run_build(&m, &f.request(Transition::Start, &[]), &log, cancel).await;
    assert!(!outcome.success);
    assert!(outcome.canceled);
    assert_eq!(outcome.error.as_deref(), Some("echo start was canceled"));
}

#[tokio::test]
async fn script_gets_identity_and_parameters_in_its_environment() {
    let f = Fixture::new(&[(
        "start.sh",
        r#"set -eu
echo "id=$DAYSHIFT_WORKSPACE_ID"
echo "name=$DAYSHIFT_WORKSPACE_NAME"
echo "owner=$DAYSHIFT_WORKSPACE_OWNER"
echo "transition=$DAYSHIFT_TRANSITION"
echo "region=$DAYSHIFT_PARAM_REGION"
echo "big_disk=$DAYSHIFT_PARAM_BIG_DISK"
echo "cwd=$(pwd)"
echo "state=$DAYSHIFT_STATE_DIR"
test -d "$DAYSHIFT_STATE_DIR" && echo "state dir exists"
"#,
    )]);
    let m = script_manifest(SignedDuration::from_mins(1));
    let req = f.request(Transition::Start, &[("region", "eu"), ("big_disk", "yes")]);
    let (outcome, log) = run(&m, &req).await;
    assert!(outcome.success, "{outcome:?} {:?}", log.lines());
    let cwd = fs::canonicalize(&f.template_dir).unwrap();
    assert_eq!(
        log.stream(LogStream::Stdout),
        vec![
            "id=ws-1".to_string(),
            "name=dev".into(),
            "owner=alice".into(),
            "transition=start".into(),
            "region=eu".into(),
            "big_disk=yes".into(),
            format!("cwd={}", cwd.display()),
            format!("state={}", f.state_dir.display()),
            "state dir exists".into(),
        ]
    );
    assert_eq!(
        log.stream(LogStream::System)[0],
        "running ./start.sh (start)"
    );
}

#[tokio::test]
async fn hostile_parameter_values_reach_the_script_verbatim_and_run_nothing() {
    let f = Fixture::new(&[(
        "start.sh",
        r#"set -eu
for name in a b c d e f; do
    eval "value=\$DAYSHIFT_PARAM_$(echo "$name" | tr a-z A-Z)"
    printf '%s' "$value" >"$DAYSHIFT_STATE_DIR/$name"
done
printf '%s' "$DAYSHIFT_WORKSPACE_NAME" >"$DAYSHIFT_STATE_DIR/ws_name"
"#,
    )]);
    let canary = f.template_dir.parent().unwrap().join("pwned");
    let canary = canary.display().to_string();
    let values: Vec<(&str, String)> = vec![
        ("a", format!("$(touch {canary})")),
        ("b", format!("`touch {canary}`")),
        ("c", format!("; touch {canary}; rm -rf / ;")),
        ("d", "it's \"quoted\" \\ back'slash".to_string()),
        ("e", format!("line one\nline two\n$(touch {canary})\n")),
        ("f", format!("${{IFS}}&&touch${{IFS}}{canary}|| '")),
    ];
    let params: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut req = f.request(Transition::Start, &params);
    req.workspace_name = format!("$(touch {canary})");
    let (outcome, log) = run(&script_manifest(SignedDuration::from_mins(1)), &req).await;
    assert!(outcome.success, "{outcome:?} {:?}", log.lines());
    for (name, value) in &values {
        let got = fs::read_to_string(f.state_dir.join(name)).unwrap();
        assert_eq!(&got, value, "parameter {name}");
    }
    assert_eq!(
        fs::read_to_string(f.state_dir.join("ws_name")).unwrap(),
        req.workspace_name
    );
    assert!(
        !Path::new(&canary).exists(),
        "a parameter value was executed"
    );
}

#[tokio::test]
async fn outputs_are_parsed_from_stdout_and_still_logged() {
    let f = Fixture::new(&[(
        "start.sh",
        r#"echo "dayshift-output pid=123"
echo "dayshift-output url=http://localhost:8080/?a=b=c"
echo "dayshift-output empty="
echo "dayshift-output Bad=1"
echo "dayshift-output no_equals_sign"
echo "dayshift-output pid=456"
echo "dayshift-output on_stderr=1" >&2
printf 'dayshift-output last=no newline'
"#,
    )]);
    let (outcome, log) = run(
        &script_manifest(SignedDuration::from_mins(1)),
        &f.request(Transition::Start, &[]),
    )
    .await;
    assert!(outcome.success, "{outcome:?}");
    let want: BTreeMap<String, String> = [
        ("pid", "456"),
        ("url", "http://localhost:8080/?a=b=c"),
        ("empty", ""),
        ("last", "no newline"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(outcome.outputs, want);
    let stdout = log.stream(LogStream::Stdout);
    assert_eq!(stdout.len(), 7);
    assert_eq!(stdout[0], "dayshift-output pid=123");
    let system = log.stream(LogStream::System);
    assert!(
        system.contains(&"ignored output \"Bad\": keys must match ^[a-z][a-z0-9_]*$".to_string()),
        "{system:?}"
    );
    assert!(
        system.contains(
            &"ignored output line \"no_equals_sign\": expected dayshift-output key=value"
                .to_string()
        ),
        "{system:?}"
    );
}

#[tokio::test]
async fn non_zero_exit_fails_the_build() {
    let f = Fixture::new(&[("start.sh", "echo about to fail\nexit 3\n")]);
    let (outcome, log) = run(
        &script_manifest(SignedDuration::from_mins(1)),
        &f.request(Transition::Start, &[]),
    )
    .await;
    assert!(!outcome.success);
    assert!(!outcome.canceled);
    assert_eq!(
        outcome.error.as_deref(),
        Some("script ./start.sh exited with status 3")
    );
    assert_eq!(log.stream(LogStream::Stdout), vec!["about to fail"]);
    assert_eq!(
        log.stream(LogStream::System).last().map(String::as_str),
        Some("build failed: script ./start.sh exited with status 3")
    );
}

#[tokio::test]
async fn a_missing_command_is_a_successful_no_op() {
    let f = Fixture::new(&[]);
    let (outcome, log) = run(
        &script_manifest(SignedDuration::from_mins(1)),
        &f.request(Transition::Delete, &[]),
    )
    .await;
    assert!(outcome.success, "{outcome:?}");
    assert_eq!(
        log.stream(LogStream::System),
        vec![
            "no delete command in [script]: nothing to do",
            "build succeeded"
        ]
    );
}

#[tokio::test]
async fn a_script_that_cannot_run_fails_the_build() {
    let f = Fixture::new(&[]);
    // sh starts, but ./start.sh is not there: sh reports 127.
    let (outcome, log) = run(
        &script_manifest(SignedDuration::from_mins(1)),
        &f.request(Transition::Start, &[]),
    )
    .await;
    assert_eq!(
        outcome.error.as_deref(),
        Some("script ./start.sh exited with status 127")
    );
    assert_eq!(log.stream(LogStream::Stderr).len(), 1, "{:?}", log.lines());
}

#[tokio::test]
async fn stdout_and_stderr_are_both_logged_in_order() {
    let f = Fixture::new(&[(
        "start.sh",
        "for i in 1 2 3 4 5 6 7 8 9 10; do echo \"out $i\"; echo \"err $i\" >&2; done\n",
    )]);
    let (outcome, log) = run(
        &script_manifest(SignedDuration::from_mins(1)),
        &f.request(Transition::Start, &[]),
    )
    .await;
    assert!(outcome.success);
    let expect =
        |prefix: &str| -> Vec<String> { (1..=10).map(|i| format!("{prefix} {i}")).collect() };
    assert_eq!(log.stream(LogStream::Stdout), expect("out"));
    assert_eq!(log.stream(LogStream::Stderr), expect("err"));
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    // Two grandchildren: one still attached to the build's pipes, one not.
    // Both must be gone once the build has timed out.
    let f = Fixture::new(&[(
        "start.sh",
        r#"sleep 3600 &
echo $! >"$DAYSHIFT_STATE_DIR/attached"
sleep 3600 </dev/null >/dev/null 2>&1 &
echo $! >"$DAYSHIFT_STATE_DIR/detached"
echo started
sleep 5
"#,
    )]);
    let m = script_manifest(SignedDuration::from_millis(500));
    let (outcome, log) = guarded(run(&m, &f.request(Transition::Start, &[]))).await;
    assert!(!outcome.success);
    assert!(!outcome.canceled);
    assert_eq!(
        outcome.error.as_deref(),
        Some("script ./start.sh timed out after 500ms"),
        "{:?}",
        log.lines()
    );
    for which in ["attached", "detached"] {
        let pid: i32 = fs::read_to_string(f.state_dir.join(which))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(wait_exited(pid), "{which} grandchild {pid} survived");
    }
}

/// Cancels the build when a given line appears: the test reacts to the
/// script's progress instead of guessing how long it takes.
struct CancelOn {
    line: &'static str,
    token: CancellationToken,
    seen: Mutex<Vec<String>>,
}

#[async_trait]
impl BuildLog for CancelOn {
    async fn line(&self, _stream: LogStream, text: String) {
        if text == self.line {
            self.token.cancel();
        }
        self.seen.lock().unwrap().push(text);
    }
}

#[tokio::test]
async fn cancellation_kills_the_script() {
    let f = Fixture::new(&[(
        "start.sh",
        "sleep 3600 &\necho $! >\"$DAYSHIFT_STATE_DIR/child\"\necho ready\nwait\n",
    )]);
    let token = CancellationToken::new();
    let log = CancelOn {
        line: "ready",
        token: token.clone(),
        seen: Mutex::new(Vec::new()),
    };
    let m = script_manifest(SignedDuration::from_mins(10));
    let outcome = guarded(run_build(
        &m,
        &f.request(Transition::Start, &[]),
        &log,
        token,
    ))
    .await;
    assert!(!outcome.success);
    assert!(outcome.canceled);
    assert_eq!(
        outcome.error.as_deref(),
        Some("script ./start.sh was canceled")
    );
    let pid: i32 = fs::read_to_string(f.state_dir.join("child"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(wait_exited(pid), "child {pid} survived cancellation");
}

#[tokio::test]
async fn the_state_dir_persists_across_builds() {
    let f = Fixture::new(&[
        ("start.sh", "echo kept >\"$DAYSHIFT_STATE_DIR/note\"\n"),
        ("stop.sh", "cat \"$DAYSHIFT_STATE_DIR/note\"\n"),
    ]);
    let m = script_manifest(SignedDuration::from_mins(1));
    assert!(run(&m, &f.request(Transition::Start, &[])).await.0.success);
    let (outcome, log) = run(&m, &f.request(Transition::Stop, &[])).await;
    assert!(outcome.success);
    assert_eq!(log.stream(LogStream::Stdout), vec!["kept"]);
}

#[tokio::test]
async fn invalid_parameter_names_never_reach_the_environment() {
    let f = Fixture::new(&[("start.sh", "exit 0\n")]);
    let (outcome, _) = run(
        &script_manifest(SignedDuration::from_mins(1)),
        &f.request(Transition::Start, &[("BAD=x", "1")]),
    )
    .await;
    assert_eq!(
        outcome.error.as_deref(),
        Some("invalid parameter name \"BAD=x\"")
    );
}

/// The shipped `local-process` example, end to end: its start launches a
/// real process, stop ends it, delete removes the state.
#[tokio::test]
async fn local_process_example_starts_and_stops_a_real_process() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/templates/local-process");
    let bundle = TemplateBundle::from_dir(&root).unwrap();
    let manifest = bundle.manifest().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let template_dir = tmp.path().join("template");
    bundle.extract_to(&template_dir).unwrap();
    let state_dir = tmp.path().join("state");
    let id = format!("test-{}", std::process::id());
    let req = |transition| BuildRequest {
        workspace_id: id.clone(),
        workspace_name: "dev".into(),
        owner_name: "alice".into(),
        transition,
        parameters: manifest.resolve_parameters(&BTreeMap::new()).unwrap(),
        template_dir: template_dir.clone(),
        state_dir: state_dir.clone(),
    };

    let (outcome, log) = run(&manifest, &req(Transition::Start)).await;
    assert!(outcome.success, "{outcome:?} {:?}", log.lines());
    let pid: i32 = outcome.outputs["pid"].parse().unwrap();
    assert_eq!(
        outcome.outputs["state_dir"],
        state_dir.display().to_string()
    );
    assert_eq!(
        fs::read_to_string(state_dir.join("pid")).unwrap().trim(),
        pid.to_string()
    );
    assert!(alive(pid), "process {pid} is not running after start");

    // Starting again keeps the running process.
    let (again, log) = run(&manifest, &req(Transition::Start)).await;
    assert!(again.success, "{again:?} {:?}", log.lines());
    assert_eq!(again.outputs["pid"], pid.to_string());

    let (stopped, log) = run(&manifest, &req(Transition::Stop)).await;
    assert!(stopped.success, "{stopped:?} {:?}", log.lines());
    assert!(!alive(pid), "process {pid} still running after stop");
    assert!(!state_dir.join("pid").exists());

    // Stop is idempotent.
    let (stopped, log) = run(&manifest, &req(Transition::Stop)).await;
    assert!(stopped.success, "{stopped:?} {:?}", log.lines());
    assert_eq!(log.stream(LogStream::Stdout), vec!["no process to stop"]);

    // Start, then delete: the process ends and the state goes.
    let (outcome, _) = run(&manifest, &req(Transition::Start)).await;
    assert!(outcome.success);
    let pid: i32 = outcome.outputs["pid"].parse().unwrap();
    assert!(alive(pid));
    let (deleted, log) = run(&manifest, &req(Transition::Delete)).await;
    assert!(deleted.success, "{deleted:?} {:?}", log.lines());
    assert!(!alive(pid), "process {pid} still running after delete");
    assert!(!state_dir.exists());
}
