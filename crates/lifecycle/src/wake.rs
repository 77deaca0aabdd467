//! The tick driver: beyond polling every interval (as Coder does, once a
//! minute), it sleeps only until the earliest known due instant, and is
//! re-armed when writes may have made something due earlier, so a
//! transition is queued within moments of its time instead of up to a
//! poll interval late.

use std::sync::Arc;
use std::time::Duration;

use dayshift_schedule::Timestamp;
use dayshift_store::Store;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Clock;

/// Something that knows when work may next be due.
#[async_trait::async_trait]
pub trait NextDue: Send + Sync {
    /// The earliest due instant strictly after `after` (any with `None`).
    ///
    /// The bound matters: a workspace still due after a tick (locked by
    /// another replica, or failing) must neither make the driver tick again
    /// at once nor hide the due instants that come after it.
    async fn next_due(&self, after: Option<Timestamp>) -> Option<Timestamp>;
}

#[async_trait::async_trait]
impl NextDue for Store {
    async fn next_due(&self, after: Option<Timestamp>) -> Option<Timestamp> {
        match self.next_due_after(after).await {
            Ok(due) => due,
            Err(e) => {
                // The driver then waits for the poll interval, so this is
                // logged at most once per interval while the database is away.
                tracing::warn!(error = %e, "autobuild: cannot read the next due time");
                None
            }
        }
    }
}

/// Sends a tick at least every `poll`, and at the next due instant when
/// that comes first. `rearm` wakes it to look again (after writes that may
/// have made something due sooner).
///
/// Due instants up to the last tick were handed to the executor with that
/// tick; whatever is still due afterwards is retried at the next poll, so
/// a workspace that cannot be transitioned never makes this loop spin. A
/// re-arm forgets that bound, since a write may have made a workspace due
/// in the past (a shorter dormancy threshold, say).
///
/// When the executor is still busy, the driver waits for room in the
/// channel and then sends the time at that moment: a tick is never dropped
/// (which would lose the due instants since the queued one), and the one
/// sent covers everything due until it was sent.
pub async fn drive_ticks(
    clock: Arc<dyn Clock>,
    next_due: Arc<dyn NextDue>,
    poll: Duration,
    rearm: Arc<Notify>,
    ticks: mpsc::Sender<Timestamp>,
    cancel: CancellationToken,
) {
    let mut ticked_until: Option<Timestamp> = None;
    let mut last_tick = Instant::now();
    loop {
        let due = tokio::select! {
            _ = cancel.cancelled() => return,
            due = next_due.next_due(ticked_until) => due,
        };
        let until_poll = poll.saturating_sub(last_tick.elapsed());
        let wait = match due {
            Some(due) => until_poll.min(until(clock.now(), due)),
            None => until_poll,
        };
        if !wait.is_zero() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = rearm.notified() => {
                    ticked_until = None;
                    continue;
                }
                // Sleeping the whole wait (rather than to a clock reading)
                // keeps the tick at or after the due instant: the timer
                // never fires early.
                _ = tokio::time::sleep(wait) => {}
            }
        }
        let permit = tokio::select! {
            _ = cancel.cancelled() => return,
            permit = ticks.reserve() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let now = clock.now();
        permit.send(now);
        ticked_until = Some(now);
        last_tick = Instant::now();
    }
}

/// Time from `now` until `due`; zero when it has come.
fn until(now: Timestamp, due: Timestamp) -> Duration {
    Duration::try_from(due.duration_since(now)).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use dayshift_schedule::SignedDuration;

    use super::*;

    const BASE: &str = "2027-01-04T08:00:00Z";
    const POLL: Duration = Duration::from_secs(60);

    fn base() -> Timestamp {
        BASE.parse().expect("base time")
    }

    fn at(secs: i64) -> Timestamp {
        base() + SignedDuration::from_secs(secs)
    }

    /// Wall time that moves with tokio's paused clock.
    struct TokioClock {
        start: Instant,
    }

    impl Clock for TokioClock {
        fn now(&self) -> Timestamp {
            let elapsed = SignedDuration::try_from(self.start.elapsed()).expect("elapsed");
            base() + elapsed
        }
    }

    /// Due instants as a set; `stuck` ones stay due after a tick (a
    /// workspace the executor cannot transition).
    #[derive(Default)]
    struct FakeDue {
        due: Mutex<BTreeSet<Timestamp>>,
        queries: Mutex<usize>,
        /// Runs once, after the next query has read its answer: a write
        /// that commits while the driver is querying.
        after_query: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    }

    impl FakeDue {
        fn add(&self, t: Timestamp) {
            self.due.lock().expect("lock").insert(t);
        }
        fn queries(&self) -> usize {
            *self.queries.lock().expect("lock")
        }
    }

    #[async_trait::async_trait]
    impl NextDue for FakeDue {
        async fn next_due(&self, after: Option<Timestamp>) -> Option<Timestamp> {
            *self.queries.lock().expect("lock") += 1;
            let answer = {
                let due = self.due.lock().expect("lock");
                match after {
                    Some(after) => due.iter().find(|t| **t > after).copied(),
                    None => due.first().copied(),
                }
            };
            let hook = self.after_query.lock().expect("lock").take();
            if let Some(hook) = hook {
                hook();
            }
            answer
        }
    }

    struct Driver {
        due: Arc<FakeDue>,
        rearm: Arc<Notify>,
        ticks: mpsc::Receiver<Timestamp>,
        cancel: CancellationToken,
        task: tokio::task::JoinHandle<()>,
    }

    fn start(due: Arc<FakeDue>) -> Driver {
        start_with(due, Arc::new(Notify::new()))
    }

    fn start_with(due: Arc<FakeDue>, rearm: Arc<Notify>) -> Driver {
        let clock = Arc::new(TokioClock {
            start: Instant::now(),
        });
        let (tx, ticks) = mpsc::channel(1);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(drive_ticks(
            clock,
            due.clone(),
            POLL,
            rearm.clone(),
            tx,
            cancel.clone(),
        ));
        Driver {
            due,
            rearm,
            ticks,
            cancel,
            task,
        }
    }

    impl Driver {
        /// The next tick; paused time jumps to the driver's timer.
        async fn tick(&mut self) -> Timestamp {
            self.ticks.recv().await.expect("a tick")
        }

        /// Lets the driver run until it waits, then checks no tick came.
        async fn assert_quiet(&mut self) {
            tokio::task::yield_now().await;
            assert!(self.ticks.try_recv().is_err(), "unexpected tick");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn polls_every_interval_when_nothing_is_due() {
        let mut d = start(Arc::new(FakeDue::default()));
        assert_eq!(d.tick().await, at(60));
        assert_eq!(d.tick().await, at(120));
    }

    #[tokio::test(start_paused = true)]
    async fn wakes_exactly_at_the_next_due_instant() {
        let due = Arc::new(FakeDue::default());
        due.add(at(10) + SignedDuration::from_millis(250));
        due.add(at(25));
        let mut d = start(due);
        assert_eq!(d.tick().await, at(10) + SignedDuration::from_millis(250));
        assert_eq!(d.tick().await, at(25));
        // Then the poll interval counts from the last tick.
        assert_eq!(d.tick().await, at(85));
    }

    #[tokio::test(start_paused = true)]
    async fn a_workspace_still_due_after_its_tick_waits_for_the_poll() {
        let due = Arc::new(FakeDue::default());
        // Due in the past and never cleared: the executor cannot move it.
        due.add(at(-5));
        let mut d = start(due.clone());
        assert_eq!(d.tick().await, at(0), "due already: tick at once");
        tokio::time::advance(Duration::from_secs(59)).await;
        d.assert_quiet().await;
        // A busy loop would have asked thousands of times.
        assert!(due.queries() <= 3, "{} queries", due.queries());
        assert_eq!(d.tick().await, at(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_workspace_does_not_hide_later_due_instants() {
        let due = Arc::new(FakeDue::default());
        due.add(at(-5));
        due.add(at(7));
        let mut d = start(due);
        assert_eq!(d.tick().await, at(0));
        assert_eq!(d.tick().await, at(7));
    }

    #[tokio::test(start_paused = true)]
    async fn rearm_moves_the_wake_up_earlier() {
        let due = Arc::new(FakeDue::default());
        due.add(at(50));
        let mut d = start(due);
        tokio::time::advance(Duration::from_secs(3)).await;
        d.assert_quiet().await;
        d.due.add(at(20));
        d.rearm.notify_one();
        assert_eq!(d.tick().await, at(20));
        assert_eq!(d.tick().await, at(50));
    }

    #[tokio::test(start_paused = true)]
    async fn rearm_picks_up_a_write_that_is_due_in_the_past() {
        let due = Arc::new(FakeDue::default());
        due.add(at(10));
        let mut d = start(due);
        assert_eq!(d.tick().await, at(10));
        tokio::time::advance(Duration::from_secs(5)).await;
        d.assert_quiet().await;
        // A policy change makes a workspace due before the last tick.
        d.due.add(at(2));
        d.rearm.notify_one();
        assert_eq!(d.tick().await, at(15));
    }

    #[tokio::test(start_paused = true)]
    async fn a_rearm_during_the_due_query_is_not_lost() {
        let due = Arc::new(FakeDue::default());
        let rearm = Arc::new(Notify::new());
        // The write lands after the query read "nothing due" and before
        // the driver waits: Notify keeps the permit, so the wait that
        // follows ends at once and the driver looks again.
        let (writer, wake) = (due.clone(), rearm.clone());
        *due.after_query.lock().expect("lock") = Some(Box::new(move || {
            writer.add(at(30));
            wake.notify_one();
        }));
        let mut d = start_with(due, rearm);
        assert_eq!(d.tick().await, at(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_executor_gets_a_fresh_tick_not_a_lost_one() {
        let due = Arc::new(FakeDue::default());
        due.add(at(1));
        due.add(at(2));
        due.add(at(3));
        let mut d = start(due);
        // The executor is busy for 10 s: the tick for 1 s fills the
        // channel, and the driver waits for room instead of dropping
        // the ticks for 2 s and 3 s. (A paused-time sleep, not `advance`,
        // so the driver's own timers fire in order on the way.)
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(d.tick().await, at(1));
        let next = d.tick().await;
        assert!(
            next >= at(3),
            "the tick after the busy one covers 2 s and 3 s: {next}"
        );
        assert!(next <= at(10), "{next}");
    }

    #[tokio::test(start_paused = true)]
    async fn stops_on_cancel_and_on_a_closed_channel() {
        let d = start(Arc::new(FakeDue::default()));
        d.cancel.cancel();
        d.task.await.expect("driver ends on cancel");

        let d = start(Arc::new(FakeDue::default()));
        drop(d.ticks);
        // The next poll finds the channel closed.
        d.task.await.expect("driver ends when the executor is gone");
    }
}
