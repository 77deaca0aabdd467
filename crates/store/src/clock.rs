//! Injected time. Nothing outside `main` reads the system clock directly:
//! production uses [`SystemClock`], tests and `--dev-clock` a [`ManualClock`].

use std::sync::{Arc, Mutex};

use dayshift_schedule::{SignedDuration, Timestamp};

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    pub fn new(now: Timestamp) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(now)),
        }
    }

    pub fn set(&self, now: Timestamp) {
        // A poisoned lock still holds a valid timestamp.
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }

    /// Moves the clock forward (or back, for a negative duration).
    pub fn advance(&self, by: SignedDuration) -> Result<Timestamp, jiff::Error> {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now = now.checked_add(by)?;
        Ok(*now)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Real elapsed time, for timeouts that must follow how long something
/// really took (heartbeats), never the dev clock: advancing a
/// `--dev-clock` server by a day must not make a running job look a day
/// silent. Readings are durations since an arbitrary origin of the clock;
/// only differences between readings of one clock mean anything.
pub trait MonotonicClock: Send + Sync {
    fn elapsed(&self) -> std::time::Duration;
}

/// The process's monotonic clock ([`std::time::Instant`]).
#[derive(Debug, Clone, Copy)]
pub struct SystemMonotonicClock {
    origin: std::time::Instant,
}

impl SystemMonotonicClock {
    pub fn new() -> Self {
        SystemMonotonicClock {
            origin: std::time::Instant::now(),
        }
    }
}

impl Default for SystemMonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl MonotonicClock for SystemMonotonicClock {
    fn elapsed(&self) -> std::time::Duration {
        self.origin.elapsed()
    }
}

/// A monotonic clock that moves only when told to (tests).
#[derive(Debug, Clone, Default)]
pub struct ManualMonotonicClock {
    elapsed: Arc<Mutex<std::time::Duration>>,
}

impl ManualMonotonicClock {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn advance(&self, by: std::time::Duration) {
        let mut elapsed = self.elapsed.lock().unwrap_or_else(|e| e.into_inner());
        *elapsed = elapsed.saturating_add(by);
    }
}

impl MonotonicClock for ManualMonotonicClock {
    fn elapsed(&self) -> std::time::Duration {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner())
    }
}
