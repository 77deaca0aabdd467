//! How many prebuilds a preset wants at an instant (DESIGN §3): the
//! instances of the schedule whose time range holds the instant, else the
//! preset's default. Pure and cheap: a handful of bit tests per schedule.
//!
//! Ranges are exact (the schedule crate's `contains`): `* 9-17 * * 1-5`
//! holds `[09:00:00, 18:00:00)` local wall time, Monday to Friday, and
//! follows wall time across DST changes. Coder's older evaluation
//! (`next(t) - t <= 1m`) opened and closed every range a minute early.

use dayshift_schedule::{CronError, Schedule, Timestamp};
use dayshift_store::{Preset, PresetScheduling};

/// Most range boundaries `next_change_at` steps over looking for one that
/// changes the count (a boundary between two schedules of equal
/// instances does not). A weekly schedule has ~10 boundaries a week, so
/// this looks years ahead; beyond, the next change is reported unknown.
const MAX_BOUNDARIES: usize = 1024;

/// Why a stored preset's schedules cannot be read. Push-time validation
/// makes this unreachable for data the server wrote itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule [{index}] {cron:?} in {zone:?}: {source}")]
pub struct ScheduleError {
    pub index: usize,
    pub cron: String,
    pub zone: String,
    #[source]
    pub source: CronError,
}

#[derive(Debug, Clone)]
struct Entry {
    schedule: Schedule,
    cron: String,
    instances: i64,
}

/// A preset's desired-instances rule: default plus schedules.
#[derive(Debug, Clone)]
pub struct PoolSchedule {
    default: i64,
    entries: Vec<Entry>,
}

impl PoolSchedule {
    /// The default alone.
    pub fn fixed(default: i64) -> PoolSchedule {
        PoolSchedule {
            default,
            entries: Vec::new(),
        }
    }

    /// Parses each schedule's cron in the scheduling zone.
    pub fn new(
        default: i64,
        scheduling: Option<&PresetScheduling>,
    ) -> Result<PoolSchedule, ScheduleError> {
        let Some(scheduling) = scheduling else {
            return Ok(Self::fixed(default));
        };
        let entries = scheduling
            .schedule
            .iter()
            .enumerate()
            .map(|(index, s)| {
                let schedule =
                    Schedule::parse_in_zone(&s.cron, &scheduling.timezone).map_err(|source| {
                        ScheduleError {
                            index,
                            cron: s.cron.clone(),
                            zone: scheduling.timezone.clone(),
                            source,
                        }
                    })?;
                Ok(Entry {
                    schedule,
                    cron: s.cron.clone(),
                    instances: s.instances,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PoolSchedule { default, entries })
    }

    pub fn from_preset(preset: &Preset) -> Result<PoolSchedule, ScheduleError> {
        Self::new(preset.prebuild_instances, preset.scheduling.as_ref())
    }

    /// The index of the schedule whose range holds `t`. Schedules of a
    /// preset never overlap (refused at push), so at most one does; were
    /// stored ones to overlap anyway, the first listed wins.
    pub fn in_force(&self, t: Timestamp) -> Option<usize> {
        self.entries.iter().position(|e| e.schedule.contains(t))
    }

    /// The cron of the schedule in force at `t`, as written in the manifest.
    pub fn schedule_in_force(&self, t: Timestamp) -> Option<&str> {
        self.in_force(t).map(|i| self.entries[i].cron.as_str())
    }

    /// Desired instances at `t`.
    pub fn desired(&self, t: Timestamp) -> i64 {
        self.in_force(t)
            .map_or(self.default, |i| self.entries[i].instances)
    }

    /// The first instant after `t` at which [`PoolSchedule::desired`]
    /// differs from its value at `t`; `None` when it never changes (no
    /// schedules, all asking for the default, or no change within
    /// `MAX_BOUNDARIES` range boundaries).
    pub fn next_change_at(&self, t: Timestamp) -> Option<Timestamp> {
        if self.entries.iter().all(|e| e.instances == self.default) {
            return None;
        }
        let current = self.desired(t);
        let mut cur = t;
        for _ in 0..MAX_BOUNDARIES {
            let boundary = self
                .entries
                .iter()
                .filter_map(|e| e.schedule.next_change(cur))
                .min()?;
            if self.desired(boundary) != current {
                return Some(boundary);
            }
            cur = boundary;
        }
        None
    }
}
