//! The tick driver: beyond polling every interval (as Coder does, once a
//! minute), it sleeps only until the earliest known due instant, and is
//! re-armed when writes may have made something due earlier, so a
//! transition is queued within moments of its time instead of up to a
//! poll interval late.

use std::sync::Arc;
use std::time::Duration;

use dayshift_schedule::Timestamp;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::Clock;

/// Something that knows the next instant work may be due.
#[async_trait::async_trait]
pub trait NextDue: Send + Sync {
    async fn next_due(&self) -> Option<Timestamp>;
}

/// Sends a tick at most every `poll`, and at the next due instant when
/// that comes first. `rearm` wakes it to recompute the next due instant.
pub async fn drive_ticks(
    clock: Arc<dyn Clock>,
    next_due: Arc<dyn NextDue>,
    poll: Duration,
    rearm: Arc<Notify>,
    ticks: mpsc::Sender<Timestamp>,
    cancel: CancellationToken,
) {
    loop {
        let now = clock.now();
        let until_due = next_due
            .next_due()
            .await
            .map(|due| Duration::try_from(due.duration_since(now)).unwrap_or(Duration::ZERO));
        let wait = until_due.map_or(poll, |d| d.min(poll));
        if !wait.is_zero() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
                _ = rearm.notified() => continue,
            }
        }
        // A full channel means an iteration is still running and another
        // tick is queued: this one is redundant.
        match ticks.try_send(clock.now()) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
        if until_due.is_some_and(|d| d.is_zero()) {
            // Work is due right now; give the executor a moment so a
            // workspace it cannot transition (locked elsewhere) does not
            // make this loop spin.
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }
}
