//! Running one build with the template's provisioner.
//!
//! The `script` provisioner runs the command the template owner wrote in
//! `dayshift.toml` with `sh -c`. Everything that comes from users (workspace
//! name, owner, parameter values) reaches the script only through
//! environment variables, so no value can change what the shell executes.

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio_util::sync::CancellationToken;

use crate::duration::format_duration;
use crate::manifest::{
    is_valid_parameter_name, param_env_name, EchoProvisioner, Manifest, Provisioner,
    ScriptProvisioner,
};

/// What a build does to a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    Start,
    Stop,
    Delete,
}

impl Transition {
    pub const ALL: [Transition; 3] = [Transition::Start, Transition::Stop, Transition::Delete];

    pub fn as_str(&self) -> &'static str {
        match self {
            Transition::Start => "start",
            Transition::Stop => "stop",
            Transition::Delete => "delete",
        }
    }

    /// The inverse of [`Transition::as_str`].
    pub fn parse(text: &str) -> Option<Transition> {
        Transition::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a build log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Written by dayshift itself (what runs, how it ended).
    System,
}

impl LogStream {
    pub fn as_str(&self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
            LogStream::System => "system",
        }
    }
}

impl fmt::Display for LogStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything one build needs to know about its workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildRequest {
    pub workspace_id: String,
    pub workspace_name: String,
    pub owner_name: String,
    pub transition: Transition,
    /// Resolved values (see `Manifest::resolve_parameters`).
    pub parameters: BTreeMap<String, String>,
    /// The extracted template bundle; the script's working directory.
    pub template_dir: PathBuf,
    /// Per-workspace directory kept across builds (`DAYSHIFT_STATE_DIR`);
    /// created if missing.
    pub state_dir: PathBuf,
}

/// Receives a build's log, line by line, as it is produced.
#[async_trait]
pub trait BuildLog: Send + Sync {
    async fn line(&self, stream: LogStream, text: String);
}

/// A [`BuildLog`] that keeps every line in memory; for tests and for callers
/// that store the log only once the build ends.
#[derive(Debug, Default)]
pub struct MemoryLog {
    lines: Mutex<Vec<(LogStream, String)>>,
}

impl MemoryLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// All lines so far, in the order they arrived.
    pub fn lines(&self) -> Vec<(LogStream, String)> {
        lock(&self.lines).clone()
    }

    /// The lines of one stream, in order.
    pub fn stream(&self, stream: LogStream) -> Vec<String> {
        lock(&self.lines)
            .iter()
            .filter(|(s, _)| *s == stream)
            .map(|(_, t)| t.clone())
            .collect()
    }
}

#[async_trait]
impl BuildLog for MemoryLog {
    async fn line(&self, stream: LogStream, text: String) {
        lock(&self.lines).push((stream, text));
    }
}

/// A poisoned lock only means another thread panicked while pushing a log
/// line; the data is still a valid list, so keep going.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How a build ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildOutcome {
    pub success: bool,
    /// The build was stopped through its cancellation token (so the job
    /// ends `canceled`, not `failed`).
    pub canceled: bool,
    /// Why the build failed; `None` on success.
    pub error: Option<String>,
    /// `dayshift-output key=value` lines, last value wins.
    pub outputs: BTreeMap<String, String>,
}

impl BuildOutcome {
    fn succeeded(outputs: BTreeMap<String, String>) -> Self {
        BuildOutcome {
            success: true,
            canceled: false,
            error: None,
            outputs,
        }
    }

    fn failed(error: String, outputs: BTreeMap<String, String>) -> Self {
        BuildOutcome {
            success: false,
            canceled: false,
            error: Some(error),
            outputs,
        }
    }

    fn canceled(error: String, outputs: BTreeMap<String, String>) -> Self {
        BuildOutcome {
            success: false,
            canceled: true,
            error: Some(error),
            outputs,
        }
    }
}

/// Runs one build. Never panics on bad input: every problem becomes a
/// failed outcome whose error is also written to the log.
pub async fn run_build(
    manifest: &Manifest,
    req: &BuildRequest,
    log: &dyn BuildLog,
    cancel: CancellationToken,
) -> BuildOutcome {
    let outcome = match &manifest.provisioner {
        Provisioner::Echo(echo) => run_echo(echo, req, log, &cancel).await,
        Provisioner::Script(script) => run_script(script, req, log, &cancel).await,
    };
    match &outcome.error {
        Some(error) => {
            log.line(LogStream::System, format!("build failed: {error}"))
                .await
        }
        None => log.line(LogStream::System, "build succeeded".into()).await,
    }
    outcome
}

async fn run_echo(
    echo: &EchoProvisioner,
    req: &BuildRequest,
    log: &dyn BuildLog,
    cancel: &CancellationToken,
) -> BuildOutcome {
    let t = req.transition;
    log.line(
        LogStream::System,
        format!(
            "echo provisioner: {t} of workspace {}/{} ({})",
            req.owner_name, req.workspace_name, req.workspace_id
        ),
    )
    .await;
    for (name, value) in &req.parameters {
        // Debug formatting keeps a hostile value on one log line.
        log.line(LogStream::Stdout, format!("parameter {name} = {value:?}"))
            .await;
    }
    if echo.duration.is_positive() {
        log.line(
            LogStream::Stdout,
            format!("working for {}", format_duration(echo.duration)),
        )
        .await;
        tokio::select! {
            _ = tokio::time::sleep(echo.duration.unsigned_abs()) => {}
            _ = cancel.cancelled() => {
                return BuildOutcome::canceled(format!("echo {t} was canceled"), BTreeMap::new());
            }
        }
    } else if cancel.is_cancelled() {
        return BuildOutcome::canceled(format!("echo {t} was canceled"), BTreeMap::new());
    }
    if echo.fail.contains(&t) {
        log.line(
            LogStream::Stderr,
            format!("failing {t} because the manifest lists it in echo.fail"),
        )
        .await;
        return BuildOutcome::failed(
            format!(
                "echo provisioner is configured to fail {t:?}",
                t = t.as_str()
            ),
            BTreeMap::new(),
        );
    }
    log.line(LogStream::Stdout, format!("{t} done")).await;
    BuildOutcome::succeeded(BTreeMap::new())
}

/// Longest log line kept whole; longer ones are split so one runaway line
/// without a newline cannot exhaust memory.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// After the script exits (or is killed), how long its stdout/stderr may
/// stay open. A background process the script started without redirecting
/// its output keeps the pipe open forever; the build must still end.
const PIPE_GRACE: Duration = Duration::from_secs(2);

const OUTPUT_PREFIX: &str = "dayshift-output ";

async fn run_script(
    script: &ScriptProvisioner,
    req: &BuildRequest,
    log: &dyn BuildLog,
    cancel: &CancellationToken,
) -> BuildOutcome {
    let t = req.transition;
    let Some(cmd) = script.command(t) else {
        log.line(
            LogStream::System,
            format!("no {t} command in [script]: nothing to do"),
        )
        .await;
        return BuildOutcome::succeeded(BTreeMap::new());
    };

    // Names become environment variable names; the server resolves values
    // against the manifest first, but a bad name must never reach `env`.
    for (name, value) in &req.parameters {
        if !is_valid_parameter_name(name) {
            return BuildOutcome::failed(
                format!("invalid parameter name {name:?}"),
                BTreeMap::new(),
            );
        }
        if value.contains('\0') {
            return BuildOutcome::failed(
                format!("parameter {name:?}: value must not contain a NUL byte"),
                BTreeMap::new(),
            );
        }
    }

    // Absolute, because the script runs in the template directory and a
    // relative path would then point somewhere else.
    let state_dir = match std::path::absolute(&req.state_dir) {
        Ok(p) => p,
        Err(e) => {
            return BuildOutcome::failed(
                format!("invalid state directory {}: {e}", req.state_dir.display()),
                BTreeMap::new(),
            )
        }
    };
    // Private (0700), like extracted templates: scripts keep secrets here.
    let private = state_dir.clone();
    let created =
        tokio::task::spawn_blocking(move || crate::bundle::create_private_dir_all(&private)).await;
    let created = created.unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    if let Err(e) = created {
        return BuildOutcome::failed(
            format!(
                "could not create state directory {}: {e}",
                state_dir.display()
            ),
            BTreeMap::new(),
        );
    }
    let template_dir = std::path::absolute(&req.template_dir).unwrap_or(req.template_dir.clone());

    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .current_dir(&template_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout can kill everything the
        // script started, not just the shell.
        .process_group(0)
        .kill_on_drop(true);
    // The server's own DAYSHIFT_* variables (session token, database URL,
    // provisioner key) are none of the script's business, and a stray
    // DAYSHIFT_PARAM_* from the server's environment would pose as a
    // parameter.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("DAYSHIFT_") {
            command.env_remove(key);
        }
    }
    command
        .env("DAYSHIFT_WORKSPACE_ID", &req.workspace_id)
        .env("DAYSHIFT_WORKSPACE_NAME", &req.workspace_name)
        .env("DAYSHIFT_WORKSPACE_OWNER", &req.owner_name)
        .env("DAYSHIFT_TRANSITION", t.as_str())
        .env("DAYSHIFT_STATE_DIR", &state_dir)
        .env("DAYSHIFT_TEMPLATE_DIR", &template_dir);
    for (name, value) in &req.parameters {
        command.env(param_env_name(name), value);
    }

    log.line(LogStream::System, format!("running {cmd} ({t})"))
        .await;
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            return BuildOutcome::failed(
                format!("could not start script {cmd}: {e}"),
                BTreeMap::new(),
            )
        }
    };
    let mut group = GroupGuard::new(child.id());

    let outputs = Mutex::new(BTreeMap::new());
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let pumps = async {
        tokio::join!(
            pump(stdout, LogStream::Stdout, log, Some(&outputs)),
            pump(stderr, LogStream::Stderr, log, None),
        )
    };
    tokio::pin!(pumps);
    let deadline = tokio::time::sleep(script.timeout.unsigned_abs());
    tokio::pin!(deadline);

    enum End {
        Exited(std::io::Result<std::process::ExitStatus>),
        TimedOut,
        Canceled,
    }
    let mut pumps_done = false;
    let end = loop {
        tokio::select! {
            status = child.wait() => break End::Exited(status),
            _ = &mut pumps, if !pumps_done => pumps_done = true,
            _ = &mut deadline => break End::TimedOut,
            _ = cancel.cancelled() => break End::Canceled,
        }
    };
    if !matches!(end, End::Exited(_)) {
        group.kill();
        // Reap the shell so no zombie is left behind; SIGKILL cannot be
        // ignored, so this returns promptly.
        let _ = child.wait().await;
    }
    // Once the shell is reaped its pid may be reused: never signal the group
    // again after this point.
    group.disarm();

    if !pumps_done && tokio::time::timeout(PIPE_GRACE, &mut pumps).await.is_err() {
        log.line(
            LogStream::System,
            format!(
                "stopped reading the script's output {} after it ended: a process it started still holds stdout/stderr open (redirect a background process's output, e.g. >/dev/null 2>&1)",
                format_duration(SignedDuration::try_from(PIPE_GRACE).unwrap_or_default())
            ),
        )
        .await;
    }
    let outputs = std::mem::take(&mut *lock(&outputs));

    match end {
        End::Exited(Ok(status)) if status.success() => BuildOutcome::succeeded(outputs),
        End::Exited(Ok(status)) => {
            let error = match (status.code(), status.signal()) {
                (Some(code), _) => format!("script {cmd} exited with status {code}"),
                (None, Some(signal)) => format!("script {cmd} was killed by signal {signal}"),
                (None, None) => format!("script {cmd} failed: {status}"),
            };
            BuildOutcome::failed(error, outputs)
        }
        End::Exited(Err(e)) => {
            BuildOutcome::failed(format!("could not wait for script {cmd}: {e}"), outputs)
        }
        End::TimedOut => BuildOutcome::failed(
            format!(
                "script {cmd} timed out after {}",
                format_duration(script.timeout)
            ),
            outputs,
        ),
        End::Canceled => BuildOutcome::canceled(format!("script {cmd} was canceled"), outputs),
    }
}

/// Kills the script's whole process group if the build is abandoned
/// (timeout, cancellation, or the build future being dropped mid-way).
/// `kill_on_drop` alone would only reach the shell, not its children.
struct GroupGuard {
    pgid: Option<libc::pid_t>,
}

impl GroupGuard {
    fn new(pid: Option<u32>) -> Self {
        GroupGuard {
            pgid: pid
                .and_then(|p| libc::pid_t::try_from(p).ok())
                .filter(|p| *p > 0),
        }
    }

    fn kill(&mut self) {
        if let Some(pgid) = self.pgid {
            // SAFETY: killpg has no memory-safety preconditions; pgid is the
            // group we created for a child that has not been reaped yet, so
            // it cannot name anybody else's group.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }

    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Forwards one pipe to the log line by line, collecting outputs from it.
async fn pump(
    reader: Option<impl AsyncRead + Unpin>,
    stream: LogStream,
    log: &dyn BuildLog,
    outputs: Option<&Mutex<BTreeMap<String, String>>>,
) {
    let Some(reader) = reader else { return };
    let mut reader = BufReader::new(reader);
    let mut line: Vec<u8> = Vec::new();
    loop {
        let buf = match reader.fill_buf().await {
            Ok(buf) => buf,
            Err(e) => {
                log.line(LogStream::System, format!("error reading {stream}: {e}"))
                    .await;
                break;
            }
        };
        if buf.is_empty() {
            if !line.is_empty() {
                emit(std::mem::take(&mut line), stream, log, outputs).await;
            }
            break;
        }
        match buf.iter().position(|b| *b == b'\n') {
            Some(pos) => {
                line.extend_from_slice(&buf[..pos]);
                reader.consume(pos + 1);
                emit(std::mem::take(&mut line), stream, log, outputs).await;
            }
            None => {
                let n = buf.len();
                line.extend_from_slice(buf);
                reader.consume(n);
                if line.len() >= MAX_LINE_BYTES {
                    emit(std::mem::take(&mut line), stream, log, outputs).await;
                }
            }
        }
    }
}

async fn emit(
    mut line: Vec<u8>,
    stream: LogStream,
    log: &dyn BuildLog,
    outputs: Option<&Mutex<BTreeMap<String, String>>>,
) {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let text = String::from_utf8_lossy(&line).into_owned();
    let output = outputs.and_then(|o| text.strip_prefix(OUTPUT_PREFIX).map(|rest| (o, rest)));
    let warning = match output {
        None => None,
        Some((outputs, rest)) => match rest.split_once('=') {
            Some((key, value)) if is_valid_output_key(key) => {
                lock(outputs).insert(key.to_string(), value.to_string());
                None
            }
            Some((key, _)) => Some(format!(
                "ignored output {key:?}: keys must match ^[a-z][a-z0-9_]*$"
            )),
            None => Some(format!(
                "ignored output line {rest:?}: expected dayshift-output key=value"
            )),
        },
    };
    log.line(stream, text).await;
    if let Some(warning) = warning {
        log.line(LogStream::System, warning).await;
    }
}

/// `^[a-z][a-z0-9_]*$`, at most 64 bytes: keys become `DAYSHIFT_OUTPUT_<KEY>`
/// for `connect`.
fn is_valid_output_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_names_round_trip() {
        for t in Transition::ALL {
            assert_eq!(Transition::parse(t.as_str()), Some(t));
        }
        assert_eq!(Transition::parse("restart"), None);
        assert_eq!(Transition::Start.to_string(), "start");
    }

    #[test]
    fn output_keys() {
        assert!(is_valid_output_key("pid"));
        assert!(is_valid_output_key("state_dir2"));
        assert!(!is_valid_output_key(""));
        assert!(!is_valid_output_key("Pid"));
        assert!(!is_valid_output_key("2x"));
        assert!(!is_valid_output_key("a-b"));
    }
}
