//! Stop notices for `dayshift ssh`: a pure state machine fed with what the
//! server said (the workspace's deadline and the server's clock) each time
//! usage is reported. It decides which line, if any, to print.
//!
//! Rules (DESIGN §6):
//! - thresholds 30m, 10m, 5m and 1m before the deadline, each fires once;
//! - when several are crossed at once, one line, for the smallest crossed;
//! - a deadline that moved later re-arms the thresholds it is now beyond;
//! - the workspace stopping under the session is said once.
//!
//! Remaining time is measured against the server's clock, never the local
//! one, so neither time zones nor clock skew matter.

use jiff::{SignedDuration, Timestamp};

use crate::format;

/// Thresholds before the deadline, largest first.
pub const THRESHOLDS: [SignedDuration; 4] = [
    SignedDuration::from_mins(30),
    SignedDuration::from_mins(10),
    SignedDuration::from_mins(5),
    SignedDuration::from_mins(1),
];

/// What the server said about the workspace at one usage report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// False once the workspace is stopping, stopped or gone.
    pub running: bool,
    /// `None`: no autostop (manual shutdown).
    pub deadline: Option<Timestamp>,
    /// The server's clock (`Dayshift-Server-Time`).
    pub server_now: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The smallest threshold crossed, and the time actually left.
    WillStop {
        threshold: SignedDuration,
        remaining: SignedDuration,
    },
    Stopped,
}

impl Notice {
    /// The line to print; `display_name` is `owner/name`, `arg` the name as
    /// the user typed it (for the `dayshift bump` hint).
    pub fn render(&self, display_name: &str, arg: &str) -> String {
        match self {
            Notice::WillStop { remaining, .. } => format!(
                "Workspace {display_name} will stop in {}. Run 'dayshift bump {arg}' to keep it running.",
                format::duration(*remaining)
            ),
            Notice::Stopped => format!("Workspace {display_name} has stopped."),
        }
    }
}

#[derive(Debug, Default)]
pub struct StopNotifier {
    fired: [bool; THRESHOLDS.len()],
    deadline: Option<Timestamp>,
    stopped_said: bool,
}

impl StopNotifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one observation; returns the notice to print, if any.
    pub fn observe(&mut self, obs: Observation) -> Option<Notice> {
        if !obs.running {
            if self.stopped_said {
                return None;
            }
            self.stopped_said = true;
            return Some(Notice::Stopped);
        }
        // Running (again): a later stop is news.
        self.stopped_said = false;

        let Some(deadline) = obs.deadline else {
            // Manual shutdown: nothing to announce. Forget the deadline so a
            // new one arms every threshold it is beyond.
            self.deadline = None;
            return None;
        };
        let left = deadline.duration_since(obs.server_now);

        let moved_later = self.deadline.is_none_or(|old| deadline > old);
        if moved_later {
            for (fired, threshold) in self.fired.iter_mut().zip(THRESHOLDS) {
                if left > threshold {
                    *fired = false;
                }
            }
        }
        self.deadline = Some(deadline);

        let mut smallest = None;
        for (fired, threshold) in self.fired.iter_mut().zip(THRESHOLDS) {
            if left <= threshold && !*fired {
                *fired = true;
                smallest = Some(threshold);
            }
        }
        smallest.map(|threshold| Notice::WillStop {
            threshold,
            remaining: clamp_remaining(left),
        })
    }
}

/// The time left for display: rounded to the minute, never negative (a
/// deadline that just passed reads `<1m`: the stop is imminent).
fn clamp_remaining(left: SignedDuration) -> SignedDuration {
    let rounded = format::round_to_minute(left);
    if rounded.is_negative() {
        SignedDuration::ZERO
    } else {
        rounded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLINE: &str = "2027-01-04T18:00:00Z";

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn mins(m: i64) -> SignedDuration {
        SignedDuration::from_mins(m)
    }

    /// The server's clock `before` ahead of the deadline.
    fn at(deadline: &str, before: SignedDuration) -> Observation {
        let deadline = ts(deadline);
        Observation {
            running: true,
            deadline: Some(deadline),
            server_now: deadline.checked_sub(before).unwrap(),
        }
    }

    fn threshold_of(n: Option<Notice>) -> Option<i64> {
        match n {
            Some(Notice::WillStop { threshold, .. }) => Some(threshold.as_secs() / 60),
            Some(Notice::Stopped) => Some(-1),
            None => None,
        }
    }

    #[test]
    fn each_threshold_fires_once_minute_by_minute() {
        let mut n = StopNotifier::new();
        let mut fired = Vec::new();
        // A session from 45 minutes before the deadline to 1 minute after.
        for left in (-1..=45).rev() {
            if let Some(t) = threshold_of(n.observe(at(DEADLINE, mins(left)))) {
                fired.push((left, t));
            }
        }
        assert_eq!(fired, vec![(30, 30), (10, 10), (5, 5), (1, 1)]);
    }

    #[test]
    fn nothing_far_from_the_deadline() {
        let mut n = StopNotifier::new();
        assert_eq!(n.observe(at(DEADLINE, mins(31))), None);
        assert_eq!(
            n.observe(at(DEADLINE, SignedDuration::from_secs(30 * 60 + 1))),
            None
        );
        // Exactly at the threshold counts as crossed.
        assert_eq!(threshold_of(n.observe(at(DEADLINE, mins(30)))), Some(30));
    }

    #[test]
    fn several_crossed_at_once_give_one_line_for_the_smallest() {
        let mut n = StopNotifier::new();
        // Connecting with 8 minutes left crosses 30m and 10m: one line.
        let notice = n.observe(at(DEADLINE, mins(8)));
        assert_eq!(
            notice,
            Some(Notice::WillStop {
                threshold: mins(10),
                remaining: mins(8)
            })
        );
        // Neither fires again.
        assert_eq!(n.observe(at(DEADLINE, mins(7))), None);
        assert_eq!(threshold_of(n.observe(at(DEADLINE, mins(5)))), Some(5));
        // A long gap (laptop asleep) jumping past the last threshold.
        let mut n = StopNotifier::new();
        assert_eq!(threshold_of(n.observe(at(DEADLINE, mins(40)))), None);
        assert_eq!(
            threshold_of(n.observe(at(DEADLINE, SignedDuration::from_secs(50)))),
            Some(1)
        );
        assert_eq!(n.observe(at(DEADLINE, SignedDuration::from_secs(10))), None);
    }

    #[test]
    fn a_later_deadline_rearms_the_thresholds_it_is_beyond() {
        let mut n = StopNotifier::new();
        assert_eq!(threshold_of(n.observe(at(DEADLINE, mins(9)))), Some(10));
        // Bumped: the deadline is now 25 minutes away. 10m and 5m re-arm,
        // 30m stays fired (the new deadline is not beyond it).
        let later = "2027-01-04T18:16:00Z";
        let now = ts(DEADLINE).checked_sub(mins(9)).unwrap();
        let obs = Observation {
            running: true,
            deadline: Some(ts(later)),
            server_now: now,
        };
        assert_eq!(n.observe(obs), None);
        assert_eq!(n.observe(at(later, mins(20))), None);
        assert_eq!(threshold_of(n.observe(at(later, mins(10)))), Some(10));
        assert_eq!(threshold_of(n.observe(at(later, mins(5)))), Some(5));
        // Bumped again by an hour: all four re-arm.
        let much_later = "2027-01-04T19:20:00Z";
        assert_eq!(n.observe(at(much_later, mins(64))), None);
        assert_eq!(threshold_of(n.observe(at(much_later, mins(30)))), Some(30));
    }

    #[test]
    fn an_earlier_deadline_rearms_nothing() {
        let mut n = StopNotifier::new();
        assert_eq!(threshold_of(n.observe(at(DEADLINE, mins(25)))), Some(30));
        // The deadline moved earlier (e.g. a new max deadline): already
        // fired thresholds stay fired, newly crossed ones fire.
        let earlier = "2027-01-04T17:50:00Z";
        let obs = Observation {
            running: true,
            deadline: Some(ts(earlier)),
            server_now: ts("2027-01-04T17:36:00Z"),
        };
        assert_eq!(n.observe(obs), None, "14m left: nothing new crossed");
        assert_eq!(threshold_of(n.observe(at(earlier, mins(10)))), Some(10));
    }

    #[test]
    fn same_deadline_server_clock_going_back_does_not_repeat() {
        let mut n = StopNotifier::new();
        assert_eq!(threshold_of(n.observe(at(DEADLINE, mins(9)))), Some(10));
        assert_eq!(n.observe(at(DEADLINE, mins(20))), None);
        assert_eq!(n.observe(at(DEADLINE, mins(9))), None);
    }

    #[test]
    fn manual_shutdown_is_silent_and_a_new_deadline_arms_again() {
        let mut n = StopNotifier::new();
        assert_eq!(threshold_of(n.observe(at(DEADLINE, mins(4)))), Some(5));
        let cleared = Observation {
            running: true,
            deadline: None,
            server_now: ts(DEADLINE),
        };
        assert_eq!(n.observe(cleared), None);
        assert_eq!(n.observe(cleared), None);
        // A deadline set later (even an earlier instant than before) arms
        // every threshold it is beyond.
        assert_eq!(threshold_of(n.observe(at(DEADLINE, mins(12)))), None);
        assert_eq!(threshold_of(n.observe(at(DEADLINE, mins(10)))), Some(10));
    }

    #[test]
    fn stopped_is_said_once() {
        let mut n = StopNotifier::new();
        let stopped = Observation {
            running: false,
            deadline: None,
            server_now: ts(DEADLINE),
        };
        assert!(n.observe(at(DEADLINE, mins(1))).is_some());
        assert_eq!(n.observe(stopped), Some(Notice::Stopped));
        assert_eq!(n.observe(stopped), None);
        assert_eq!(n.observe(stopped), None);
    }

    #[test]
    fn remaining_time_is_rounded_and_never_negative() {
        let mut n = StopNotifier::new();
        let notice = n.observe(at(DEADLINE, SignedDuration::from_millis(10 * 60_000 - 15)));
        assert_eq!(
            notice,
            Some(Notice::WillStop {
                threshold: mins(10),
                remaining: mins(10)
            })
        );
        let mut n = StopNotifier::new();
        let notice = n.observe(at(DEADLINE, mins(-2)));
        assert_eq!(
            notice,
            Some(Notice::WillStop {
                threshold: mins(1),
                remaining: SignedDuration::ZERO
            })
        );
    }

    #[test]
    fn rendered_lines() {
        let notice = Notice::WillStop {
            threshold: mins(10),
            remaining: mins(10),
        };
        assert_eq!(
            notice.render("alice/dev", "dev"),
            "Workspace alice/dev will stop in 10m. Run 'dayshift bump dev' to keep it running."
        );
        let notice = Notice::WillStop {
            threshold: mins(1),
            remaining: SignedDuration::from_secs(20),
        };
        assert_eq!(
            notice.render("alice/dev", "alice/dev"),
            "Workspace alice/dev will stop in <1m. Run 'dayshift bump alice/dev' to keep it running."
        );
        assert_eq!(
            Notice::Stopped.render("alice/dev", "dev"),
            "Workspace alice/dev has stopped."
        );
    }
}
