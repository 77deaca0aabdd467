//! The `dayshift server` binary as a child process: started on a free port
//! (read back from its "listening" log line), its stderr collected, sent
//! signals or killed outright. Waiting is on the process and its log,
//! never on the wall clock.

#![allow(dead_code)]

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

pub const PASSWORD: &str = "Correct-Horse-9";

/// One running `dayshift server`.
pub struct ServerProcess {
    child: Child,
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
    lines: watch::Receiver<usize>,
}

impl ServerProcess {
    /// Starts `dayshift server ARGS --address 127.0.0.1:0` with `envs` and
    /// returns once it listens.
    pub async fn start(args: &[&str], envs: &[(&str, &str)]) -> ServerProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dayshift"));
        command
            .arg("server")
            .args(args)
            .args(["--address", "127.0.0.1:0"])
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("dayshift server starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (count_tx, lines) = watch::channel(0);
        {
            let log = log.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                    log.push(line);
                    count_tx.send_replace(log.len());
                }
            });
        }
        let mut server = ServerProcess {
            child,
            url: String::new(),
            log,
            lines,
        };
        let line = server.wait_for_log("dayshift server listening").await;
        let address = line
            .split_whitespace()
            .find_map(|word| word.strip_prefix("address="))
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        server.url = format!("http://{address}");
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Waits for a log line containing `text` (panics, with the log, when
    /// the process ends first).
    pub async fn wait_for_log(&mut self, text: &str) -> String {
        let mut seen = 0;
        loop {
            {
                let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(line) = log[seen..].iter().find(|l| l.contains(text)) {
                    return line.clone();
                }
                seen = log.len();
            }
            if self.lines.changed().await.is_err() {
                // stderr closed: the process is gone.
                let log = self.log_text();
                if let Some(line) = log.lines().find(|l| l.contains(text)) {
                    return line.to_string();
                }
                panic!("dayshift server ended before logging {text:?}:\n{log}");
            }
        }
    }

    pub fn log_text(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// Sends a signal by name (`TERM`, `INT`).
    pub async fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .await
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// SIGKILL, and waits until the process is gone.
    pub async fn kill9(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    pub async fn wait(&mut self) -> ExitStatus {
        self.child.wait().await.expect("wait for dayshift server")
    }
}
