//! The reaper of silent jobs: fails a running job whose daemon has sent no
//! heartbeat for longer than the timeout, in real time.
//!
//! Silence is measured on an injected [`MonotonicClock`], never on the
//! server clock: a heartbeat's stored timestamp follows the server clock,
//! which under `--dev-clock` jumps (an advance would make every running
//! job look hours silent) or stands still (a job orphaned by a crash would
//! never look silent). The reaper instead watches each running job's
//! heartbeat count and notes, on its own clock, when it last saw the count
//! move; a job whose count has not moved for longer than the timeout is
//! failed. Replicas need not agree on any clock: each watches for itself,
//! and the store fails a job only if its count is still the one seen, so
//! exactly one reaper fails it and a heartbeat that arrives in time wins.
//!
//! A reaper that starts (or restarts) counts a job's silence from the
//! moment it first sees the job, so an orphan is failed at most one
//! timeout (plus one pass interval) after the reaper came up.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dayshift_schedule::{SignedDuration, Timestamp};
use dayshift_store::clock::MonotonicClock;
use dayshift_store::{JobHeartbeats, Store, StoreError};

/// When the reaper last saw a job's heartbeat count move.
#[derive(Debug, Clone, Copy)]
struct Seen {
    heartbeats: i64,
    since: Duration,
}

pub struct SilentJobReaper {
    store: Store,
    clock: Arc<dyn MonotonicClock>,
    timeout: Duration,
    seen: Mutex<HashMap<String, Seen>>,
}

impl SilentJobReaper {
    pub fn new(store: Store, clock: Arc<dyn MonotonicClock>, timeout: Duration) -> Self {
        SilentJobReaper {
            store,
            clock,
            timeout,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// One pass: notes the heartbeat counts of the running jobs and fails
    /// those silent for strictly longer than the timeout. `now` (the server
    /// clock) only stamps the failure. Returns the failed builds' ids.
    pub async fn reap_once(&self, now: Timestamp) -> Result<Vec<String>, StoreError> {
        let running = self.store.running_job_heartbeats().await?;
        let silent = self.note(running);
        let timeout = SignedDuration::try_from(self.timeout).unwrap_or(SignedDuration::MAX);
        let mut failed = Vec::new();
        for job in silent {
            if self.store.fail_silent_job(&job, timeout, now).await? {
                failed.push(job.build_id);
            }
        }
        Ok(failed)
    }

    /// Records what `running` shows and returns the jobs silent too long.
    fn note(&self, running: Vec<JobHeartbeats>) -> Vec<JobHeartbeats> {
        let now = self.clock.elapsed();
        // A poisoned map only holds observations; they stay valid.
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        // Finished jobs are forgotten: the map holds running jobs only.
        {
            let ids: HashSet<&str> = running.iter().map(|job| job.build_id.as_str()).collect();
            seen.retain(|id, _| ids.contains(id.as_str()));
        }
        let mut silent = Vec::new();
        for job in running {
            let current = seen.entry(job.build_id.clone()).or_insert(Seen {
                heartbeats: job.heartbeats,
                since: now,
            });
            if current.heartbeats != job.heartbeats {
                *current = Seen {
                    heartbeats: job.heartbeats,
                    since: now,
                };
            } else if now.saturating_sub(current.since) > self.timeout {
                silent.push(job);
            }
        }
        silent
    }
}
