//! The loop every background reconciler runs: one iteration per tick
//! received, its stats sent when a stats channel is set, until the tick
//! channel closes or the task is cancelled. Cancelling never interrupts an
//! iteration mid-transaction: the loop stops between iterations, and the
//! iterations themselves (executor, reconciler) watch the same token and
//! stop between workspaces, finishing the ones they have begun.

use std::future::Future;

use dayshift_schedule::Timestamp;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub async fn run_on_ticks<S, F, Fut>(
    mut ticks: mpsc::Receiver<Timestamp>,
    stats: Option<mpsc::Sender<S>>,
    cancel: CancellationToken,
    mut iteration: F,
) where
    F: FnMut(Timestamp) -> Fut,
    Fut: Future<Output = S>,
{
    loop {
        let now = tokio::select! {
            _ = cancel.cancelled() => return,
            tick = ticks.recv() => match tick {
                Some(now) => now,
                None => return,
            },
        };
        let result = iteration(now).await;
        if cancel.is_cancelled() {
            return;
        }
        if let Some(stats) = &stats {
            if stats.send(result).await.is_err() {
                return;
            }
        }
    }
}
