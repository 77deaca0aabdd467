//! What a schedule will do over a coming span of time: the runs (start,
//! stop) that autostart and the deadline rules produce if nobody steps in.
//! Pure: the dashboard draws these as a week, and sums them per template
//! for the fleet's running hours. The same functions as the executor and
//! the deadline policy decide each instant (`next_allowed_autostart`,
//! `start_deadline`, the autostop requirement), so the picture is what
//! will happen, DST included.

use dayshift_schedule::deadline::{next_allowed_autostart, start_deadline};
use dayshift_schedule::{Schedule, SignedDuration, Timestamp};
use dayshift_store::{JobStatus, TemplatePolicy, Transition, WorkspaceState};

use crate::rules::{autostart_reference, autostart_schedule, effective_ttl, policy_max_deadline};

/// Most runs one projection returns: a `* * * * *` schedule with a one
/// minute TTL runs every two minutes, 5,040 times a week; a week of that
/// is already a solid bar, so more would only cost time.
pub const MAX_RUNS: usize = 2_000;

/// One run of a workspace: from `start` until `stop` (`None`: nothing
/// stops it, it runs until someone does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub start: Timestamp,
    pub stop: Option<Timestamp>,
    /// Started by autostart (else: already running at the projection's start).
    pub autostart: bool,
}

/// How a workspace's schedule behaves: its autostart schedule (when it may
/// fire at all), its effective TTL and its template's policy.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    pub schedule: Option<&'a Schedule>,
    pub ttl: Option<SignedDuration>,
    pub policy: &'a TemplatePolicy,
}

impl Shape<'_> {
    /// The run an autostart at `start` makes: stopped at the deadline the
    /// policy gives a start completing at `start`.
    fn run_from(&self, start: Timestamp) -> Run {
        let next = self
            .schedule
            .and_then(|s| next_allowed_autostart(s, start, self.policy.autostart_requirement_days));
        Run {
            start,
            stop: start_deadline(
                start,
                self.ttl,
                next,
                policy_max_deadline(self.policy, start),
            ),
            autostart: true,
        }
    }

    /// The runs autostart begins in `[after, until)`, each counted from the
    /// stop of the one before (as the executor counts from the stop build);
    /// the first autostart is the first allowed slot strictly after `after`,
    /// at `not_before` at the earliest (a slot already due fires now).
    pub fn autostarts(
        &self,
        after: Timestamp,
        not_before: Timestamp,
        until: Timestamp,
        runs: &mut Vec<Run>,
    ) {
        let Some(schedule) = self.schedule else {
            return;
        };
        let days = self.policy.autostart_requirement_days;
        let mut cursor = after;
        while runs.len() < MAX_RUNS {
            let Some(slot) = next_allowed_autostart(schedule, cursor, days) else {
                return;
            };
            let start = slot.max(not_before);
            if start >= until {
                return;
            }
            let run = self.run_from(start);
            runs.push(run);
            match run.stop {
                Some(stop) if stop > start => cursor = stop,
                _ => return,
            }
        }
    }

    /// The runs of a workspace of this shape in its steady state, as they
    /// overlap `[from, until)`: the runs begun by autostarts from one TTL
    /// (at most a week) before `from`, so a run begun yesterday evening and
    /// still going counts.
    pub fn steady_runs(&self, from: Timestamp, until: Timestamp) -> Vec<Run> {
        let lookback = self
            .ttl
            .filter(|t| *t < SignedDuration::from_hours(24 * 7))
            .unwrap_or(SignedDuration::from_hours(24 * 7));
        let after = from.checked_sub(lookback).unwrap_or(from);
        let mut runs = Vec::new();
        self.autostarts(after, after, until, &mut runs);
        runs.retain(|r| r.stop.is_none_or(|stop| stop > from));
        runs
    }
}

/// A workspace's runs in `[now, until)`: the current one if it is running
/// or starting (ending at its deadline), then the runs its autostart
/// schedule begins.
pub fn workspace_runs(state: &WorkspaceState, now: Timestamp, until: Timestamp) -> Vec<Run> {
    let schedule = autostart_schedule(state);
    let shape = Shape {
        schedule: schedule.as_ref(),
        ttl: effective_ttl(state),
        policy: &state.template.policy,
    };
    let build = &state.build;
    let mut runs = Vec::new();
    let starting = build.transition == Transition::Start
        && matches!(
            build.job.status,
            JobStatus::Pending | JobStatus::Running | JobStatus::Succeeded
        );
    if starting {
        let current = if build.job.status == JobStatus::Succeeded {
            Run {
                start: build.job.completed_at.unwrap_or(build.created_at),
                stop: build.deadline,
                autostart: false,
            }
        } else {
            // Still building: it will get the deadline of a start now.
            Run {
                autostart: false,
                ..shape.run_from(now)
            }
        };
        runs.push(current);
        if let Some(stop) = current.stop {
            shape.autostarts(stop.max(now), now, until, &mut runs);
        }
        return runs;
    }
    let stopped = build.transition == Transition::Stop && build.job.status == JobStatus::Succeeded;
    if stopped {
        shape.autostarts(autostart_reference(state), now, until, &mut runs);
    }
    runs
}

/// How long `runs` cover of `[from, until)`. Runs never overlap (each
/// begins after the one before stopped).
pub fn running_time(runs: &[Run], from: Timestamp, until: Timestamp) -> SignedDuration {
    runs.iter()
        .map(|r| {
            let start = r.start.max(from);
            let stop = r.stop.unwrap_or(until).min(until);
            if stop > start {
                stop.duration_since(start)
            } else {
                SignedDuration::ZERO
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dayshift_schedule::Weekdays;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn weekday_schedule_runs_ttl_each_allowed_day() {
        let schedule = Schedule::parse_weekly("CRON_TZ=UTC 0 9 * * 1-5").unwrap();
        let policy = TemplatePolicy::default();
        let shape = Shape {
            schedule: Some(&schedule),
            ttl: Some(SignedDuration::from_hours(8)),
            policy: &policy,
        };
        // Monday 2027-01-04 00:00 UTC, one week.
        let from = t("2027-01-04T00:00:00Z");
        let until = t("2027-01-11T00:00:00Z");
        let runs = shape.steady_runs(from, until);
        assert_eq!(runs.len(), 5);
        assert_eq!(runs[0].start, t("2027-01-04T09:00:00Z"));
        assert_eq!(runs[0].stop, Some(t("2027-01-04T17:00:00Z")));
        assert_eq!(
            running_time(&runs, from, until),
            SignedDuration::from_hours(40)
        );
    }

    #[test]
    fn runs_follow_wall_time_across_dst() {
        // Berlin springs forward on Sunday 2027-03-28: 09:00 local is 08:00
        // UTC before and 07:00 UTC after.
        let schedule = Schedule::parse_weekly("CRON_TZ=Europe/Berlin 0 9 * * *").unwrap();
        let policy = TemplatePolicy::default();
        let shape = Shape {
            schedule: Some(&schedule),
            ttl: Some(SignedDuration::from_hours(1)),
            policy: &policy,
        };
        let runs = shape.steady_runs(t("2027-03-27T00:00:00Z"), t("2027-03-29T00:00:00Z"));
        let starts: Vec<_> = runs.iter().map(|r| r.start).collect();
        assert_eq!(
            starts,
            vec![t("2027-03-27T08:00:00Z"), t("2027-03-28T07:00:00Z")]
        );
    }

    #[test]
    fn a_run_begun_before_the_window_counts_from_the_window() {
        let schedule = Schedule::parse_weekly("CRON_TZ=UTC 0 22 * * *").unwrap();
        let policy = TemplatePolicy::default();
        let shape = Shape {
            schedule: Some(&schedule),
            ttl: Some(SignedDuration::from_hours(4)),
            policy: &policy,
        };
        let from = t("2027-01-04T00:00:00Z");
        let until = t("2027-01-05T00:00:00Z");
        let runs = shape.steady_runs(from, until);
        assert_eq!(runs[0].start, t("2027-01-03T22:00:00Z"));
        // 00:00-02:00 of yesterday's run, 22:00-24:00 of today's.
        assert_eq!(
            running_time(&runs, from, until),
            SignedDuration::from_hours(4)
        );
    }

    #[test]
    fn no_ttl_means_one_run_that_never_stops_and_disallowed_days_are_skipped() {
        let schedule = Schedule::parse_weekly("CRON_TZ=UTC 0 9 * * *").unwrap();
        let mut policy = TemplatePolicy::default();
        let shape = Shape {
            schedule: Some(&schedule),
            ttl: None,
            policy: &policy,
        };
        let from = t("2027-01-04T00:00:00Z");
        let runs = shape.steady_runs(from, t("2027-01-11T00:00:00Z"));
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].stop, None);

        policy.autostart_requirement_days = Weekdays::parse_list("sat,sun").unwrap();
        let shape = Shape {
            schedule: Some(&schedule),
            ttl: Some(SignedDuration::from_hours(1)),
            policy: &policy,
        };
        let runs = shape.steady_runs(from, t("2027-01-11T00:00:00Z"));
        let starts: Vec<_> = runs.iter().map(|r| r.start).collect();
        assert_eq!(
            starts,
            vec![t("2027-01-09T09:00:00Z"), t("2027-01-10T09:00:00Z")]
        );
    }
}
