//! The prebuilds reconciler: one iteration per tick. It reads every pool
//! in a few bulk queries (no locks), plans each one, and only for pools
//! that need work takes the preset's lock, re-reads and re-plans the pool
//! under it, and acts. Running an iteration twice, or on several replicas
//! at once, never acts twice: whoever comes second under the lock sees the
//! first one's prebuilds (PostgreSQL: or does not get the lock at all and
//! leaves the preset to the holder).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dayshift_schedule::Timestamp;
use dayshift_store::{
    BuildReason, Dialect, NewBuild, NewPrebuild, PoolChange, PoolPreset, PrebuildOutcome,
    PrebuildRow, Preset, Store, StoreError, TemplateVersion, Transition,
};
use futures::stream::{self, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::desired::PoolSchedule;
use super::plan::{plan, DeleteReason, Plan, PoolCounts, PoolInput, PoolRules};
use super::PAUSED_SETTING;
use crate::wake::NextDue;
use crate::Clock;

/// The full parameter values a preset's prebuilds are built with. The
/// server resolves them against the version's manifest (defaults filled
/// in); this crate does not read manifests.
pub trait PresetParameters: Send + Sync {
    fn resolve(
        &self,
        version: &TemplateVersion,
        preset: &Preset,
    ) -> Result<BTreeMap<String, String>, String>;
}

/// The preset's own values, nothing added (tests, manifests without
/// defaults).
#[derive(Debug, Default, Clone, Copy)]
pub struct PresetValues;

impl PresetParameters for PresetValues {
    fn resolve(
        &self,
        _version: &TemplateVersion,
        preset: &Preset,
    ) -> Result<BTreeMap<String, String>, String> {
        Ok(preset.parameters.clone())
    }
}

/// One preset's pool as an iteration found (and left) it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetState {
    pub template_id: String,
    pub template_name: String,
    pub template_version_id: String,
    pub preset_id: String,
    pub preset_name: String,
    /// The preset belongs to its template's active version.
    pub active: bool,
    pub desired: i64,
    pub counts: PoolCounts,
    pub hard_limited: bool,
    /// Consecutive failed builds.
    pub failures: u32,
    pub backoff_until: Option<Timestamp>,
    /// The cron of the schedule in force, `None` when the default applies.
    pub schedule_in_force: Option<String>,
    /// The zone of the preset's schedules, if it has any.
    pub schedule_timezone: Option<String>,
    /// When the desired count next changes.
    pub next_change_at: Option<Timestamp>,
    /// Prebuilds this iteration created and deleted.
    pub created: u64,
    pub deleted: u64,
    /// What went wrong with this preset, if anything.
    pub error: Option<String>,
}

/// What one iteration did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileStats {
    /// The instant the iteration ran for.
    pub now: Option<Timestamp>,
    pub created: u64,
    pub deleted: u64,
    pub paused: bool,
    pub presets: Vec<PresetState>,
    /// preset id (or `*` for the whole iteration) → message.
    pub errors: BTreeMap<String, String>,
    pub elapsed: Duration,
}

/// Pools worked on at once on PostgreSQL: enough to overlap round trips,
/// few enough to leave connections for API requests. SQLite has one
/// writer: concurrent transactions there only queue in SQLite's busy
/// handler, which sleeps, so pools are worked on one after another.
const CONCURRENCY: usize = 8;

/// The prebuilds reconciler. Cheap to clone.
#[derive(Clone)]
pub struct Reconciler {
    store: Store,
    /// The system user that owns prebuilds and initiates their builds.
    owner_id: Arc<str>,
    rules: PoolRules,
    parameters: Arc<dyn PresetParameters>,
    memory: Arc<Memory>,
    /// Set by [`Reconciler::run`]: once it fires, an iteration acts on no
    /// further pool (those under way finish).
    stop: CancellationToken,
}

/// What a replica remembers between iterations, for logs and metrics
/// only: no decision depends on it.
#[derive(Default)]
struct Memory {
    /// Presets already warned about (hard limit, unreadable data), so a
    /// condition needing a human is logged once, not every tick.
    warned: Mutex<BTreeSet<String>>,
    /// Gauge label pairs last reported, to zero those that disappeared.
    reported: Mutex<BTreeSet<(String, String)>>,
}

/// An error acting on one preset.
#[derive(Debug, thiserror::Error)]
enum ActError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot resolve the parameters of preset {preset:?}: {message}")]
    Parameters { preset: String, message: String },
}

impl Reconciler {
    pub fn new(store: Store, owner_id: impl Into<Arc<str>>) -> Self {
        Reconciler {
            store,
            owner_id: owner_id.into(),
            rules: PoolRules::default(),
            parameters: Arc::new(PresetValues),
            memory: Arc::new(Memory::default()),
            stop: CancellationToken::new(),
        }
    }

    pub fn with_rules(mut self, rules: PoolRules) -> Self {
        self.rules = rules;
        self
    }

    pub fn with_parameters(mut self, parameters: Arc<dyn PresetParameters>) -> Self {
        self.parameters = parameters;
        self
    }

    pub fn rules(&self) -> PoolRules {
        self.rules
    }

    /// Runs one iteration per received tick until the channel closes or
    /// `cancel` fires, sending each iteration's stats when `stats` is set.
    pub async fn run(
        self,
        ticks: mpsc::Receiver<Timestamp>,
        stats: Option<mpsc::Sender<ReconcileStats>>,
        cancel: CancellationToken,
    ) {
        let this = &Reconciler {
            stop: cancel.clone(),
            ..self
        };
        crate::ticks::run_on_ticks(ticks, stats, cancel, move |now| this.run_once(now)).await;
    }

    /// Whether reconciliation is paused (the [`PAUSED_SETTING`] setting).
    pub async fn paused(&self) -> Result<bool, StoreError> {
        Ok(self.store.setting(PAUSED_SETTING).await?.as_deref() == Some("true"))
    }

    /// Every pool's state at `now` without acting (`GET /prebuilds`).
    pub async fn status(&self, now: Timestamp) -> Result<Vec<PresetState>, StoreError> {
        let paused = self.paused().await?;
        Ok(self
            .assess_all(now, paused)
            .await?
            .into_iter()
            .map(|(_, state, _)| state)
            .collect())
    }

    /// The earliest instant strictly after `after` (any with `None`) at
    /// which a pool may need work without anything else changing: a
    /// desired count changes, a backoff ends, a prebuild expires.
    pub async fn next_due(
        &self,
        now: Timestamp,
        after: Option<Timestamp>,
    ) -> Result<Option<Timestamp>, StoreError> {
        let assessed = self.assess_all(now, false).await?;
        let short = |s: &PresetState| s.desired > s.counts.eligible + s.counts.starting;
        Ok(assessed
            .iter()
            .filter(|(pool, _, _)| pool.active)
            .flat_map(|(_, state, plan)| {
                [
                    state.next_change_at,
                    state.backoff_until.filter(|_| short(state)),
                    plan.next_expiry,
                ]
            })
            .flatten()
            .filter(|t| after.is_none_or(|after| *t > after))
            .min())
    }

    /// One iteration at `now`.
    pub async fn run_once(&self, now: Timestamp) -> ReconcileStats {
        let started = Instant::now();
        let mut stats = ReconcileStats {
            now: Some(now),
            ..ReconcileStats::default()
        };
        let assessed = match self.paused().await {
            Ok(paused) => {
                stats.paused = paused;
                self.assess_all(now, paused).await
            }
            Err(e) => Err(e),
        };
        let assessed = match assessed {
            Ok(assessed) => assessed,
            Err(e) => {
                tracing::warn!(error = %e, "prebuilds: cannot read the pools");
                stats.errors.insert("*".into(), e.to_string());
                return stats;
            }
        };
        let results: Vec<PresetState> = stream::iter(assessed)
            .map(|(pool, state, planned)| async move {
                // Stopping: the pool is still short next tick, here or on
                // another replica.
                if planned.is_noop() || self.stop.is_cancelled() {
                    return state;
                }
                self.act(&pool, state, now).await
            })
            .buffered(match self.store.dialect() {
                Dialect::Postgres => CONCURRENCY,
                Dialect::Sqlite => 1,
            })
            .collect()
            .await;
        for state in results {
            stats.created += state.created;
            stats.deleted += state.deleted;
            if let Some(error) = &state.error {
                stats.errors.insert(state.preset_id.clone(), error.clone());
            }
            self.warn_once(&state);
            stats.presets.push(state);
        }
        self.report_metrics(&stats).await;
        stats.elapsed = started.elapsed();
        metrics::histogram!("dayshift_prebuilds_reconcile_duration_seconds")
            .record(stats.elapsed.as_secs_f64());
        stats
    }

    /// Reads every pool and plans it, without locks.
    async fn assess_all(
        &self,
        now: Timestamp,
        paused: bool,
    ) -> Result<Vec<(PoolPreset, PresetState, Plan)>, StoreError> {
        let mut snapshot = self
            .store
            .prebuild_snapshot(self.rules.history_depth())
            .await?;
        Ok(std::mem::take(&mut snapshot.presets)
            .into_iter()
            .map(|pool| {
                let id = &pool.preset.id;
                let prebuilds = snapshot.prebuilds.remove(id).unwrap_or_default();
                let history = snapshot.history.remove(id).unwrap_or_default();
                let (state, plan) = self.assess(&pool, &prebuilds, &history, now, paused);
                (pool, state, plan)
            })
            .collect())
    }

    /// Plans one pool and describes it.
    fn assess(
        &self,
        pool: &PoolPreset,
        prebuilds: &[PrebuildRow],
        history: &[PrebuildOutcome],
        now: Timestamp,
        paused: bool,
    ) -> (PresetState, Plan) {
        let preset = &pool.preset;
        let (schedule, error) = pool_schedule(preset);
        let planned = self.plan_pool(pool, &schedule, prebuilds, history, now, paused);
        let active = pool.active;
        let state = PresetState {
            template_id: pool.template.id.clone(),
            template_name: pool.template.name.clone(),
            template_version_id: preset.template_version_id.clone(),
            preset_id: preset.id.clone(),
            preset_name: preset.name.clone(),
            active,
            desired: planned.desired,
            counts: planned.counts,
            hard_limited: planned.hard_limited,
            failures: planned.failures,
            backoff_until: planned.backoff_until,
            schedule_in_force: active
                .then(|| schedule.schedule_in_force(now).map(str::to_string))
                .flatten(),
            schedule_timezone: preset.scheduling.as_ref().map(|s| s.timezone.clone()),
            next_change_at: active.then(|| schedule.next_change_at(now)).flatten(),
            created: 0,
            deleted: 0,
            error,
        };
        (state, planned)
    }

    fn plan_pool(
        &self,
        pool: &PoolPreset,
        schedule: &PoolSchedule,
        prebuilds: &[PrebuildRow],
        history: &[PrebuildOutcome],
        now: Timestamp,
        paused: bool,
    ) -> Plan {
        plan(
            &PoolInput {
                active: pool.active,
                desired: schedule.desired(now),
                expiration: pool.preset.expiration,
                prebuilds,
                history,
                now,
                paused,
            },
            &self.rules,
        )
    }

    /// Takes the preset's lock, re-plans the pool under it and acts.
    async fn act(&self, pool: &PoolPreset, mut state: PresetState, now: Timestamp) -> PresetState {
        match self.act_locked(pool, &mut state, now).await {
            Ok(()) => {}
            // Another replica holds the preset's lock: it is doing this.
            Err(ActError::Store(StoreError::Busy(_))) => {}
            // Logged by `warn_once`, not at every tick while it lasts.
            Err(e) => state.error = Some(e.to_string()),
        }
        state
    }

    async fn act_locked(
        &self,
        pool: &PoolPreset,
        state: &mut PresetState,
        now: Timestamp,
    ) -> Result<(), ActError> {
        let preset = &pool.preset;
        // Only an active preset creates; its parameters are resolved
        // before the lock is taken, to keep the transaction short.
        let parameters = if pool.active {
            let version = self
                .store
                .template_version(&preset.template_version_id)
                .await?
                .ok_or_else(|| {
                    StoreError::NotFound(format!("template version {}", preset.template_version_id))
                })?;
            Some(
                self.parameters
                    .resolve(&version, preset)
                    .map_err(|message| ActError::Parameters {
                        preset: preset.name.clone(),
                        message,
                    })?,
            )
        } else {
            None
        };
        let (schedule, _) = pool_schedule(preset);
        let mut decided: Option<Plan> = None;
        let applied = self
            .store
            .reconcile_pool(&preset.id, self.rules.history_depth(), now, |view| {
                // Only a pool of an unpaused iteration gets here.
                let planned =
                    self.plan_pool(pool, &schedule, &view.prebuilds, &view.history, now, false);
                let change = self.change_for(pool, &planned, parameters.as_ref());
                decided = Some(planned);
                change
            })
            .await?;
        let Some(planned) = decided else {
            return Ok(());
        };
        state.desired = planned.desired;
        state.counts = planned.counts;
        state.hard_limited = planned.hard_limited;
        state.failures = planned.failures;
        state.backoff_until = planned.backoff_until;
        state.created = applied.created.len() as u64;
        state.deleted = applied.deleted.len() as u64;
        // What the pool looks like now: new prebuilds are starting, deleted
        // ones no longer running.
        state.counts.starting += state.created as i64;
        let deleted: BTreeSet<&str> = applied.deleted.iter().map(String::as_str).collect();
        for (id, reason) in &planned.delete {
            if deleted.contains(id.as_str()) {
                state.counts.running -= 1;
                state.counts.deleting += 1;
                match reason {
                    DeleteReason::Expired => state.counts.expired -= 1,
                    DeleteReason::Surplus => state.counts.eligible -= 1,
                    DeleteReason::InactiveVersion => {}
                }
            }
        }
        if state.created > 0 || state.deleted > 0 {
            let count = |wanted: DeleteReason| {
                planned
                    .delete
                    .iter()
                    .filter(|(id, reason)| *reason == wanted && deleted.contains(id.as_str()))
                    .count()
            };
            tracing::info!(
                template = %pool.template.name,
                preset = %preset.name,
                version = %preset.template_version_id,
                desired = planned.desired,
                created = state.created,
                deleted_expired = count(DeleteReason::Expired),
                deleted_surplus = count(DeleteReason::Surplus),
                deleted_inactive_version = count(DeleteReason::InactiveVersion),
                "prebuild pool changed"
            );
        }
        Ok(())
    }

    /// The store writes carrying out a plan. Without parameters (an old
    /// version's preset) nothing is created.
    fn change_for(
        &self,
        pool: &PoolPreset,
        planned: &Plan,
        parameters: Option<&BTreeMap<String, String>>,
    ) -> PoolChange {
        let create = match parameters {
            Some(parameters) => (0..planned.create)
                .map(|_| NewPrebuild {
                    owner_id: self.owner_id.to_string(),
                    template_id: pool.template.id.clone(),
                    build: NewBuild {
                        transition: Transition::Start,
                        reason: BuildReason::Prebuild,
                        template_version_id: pool.preset.template_version_id.clone(),
                        parameters: parameters.clone(),
                        initiator_id: self.owner_id.to_string(),
                    },
                })
                .collect(),
            None => Vec::new(),
        };
        PoolChange {
            create,
            delete: planned.delete.iter().map(|(id, _)| id.clone()).collect(),
            delete_initiator_id: self.owner_id.to_string(),
        }
    }

    /// Conditions that need a human are logged once per preset and replica.
    fn warn_once(&self, state: &PresetState) {
        let needs_human = (state.active && state.hard_limited) || state.error.is_some();
        let mut warned = self.memory.warned.lock().unwrap_or_else(|e| e.into_inner());
        if !needs_human {
            warned.remove(&state.preset_id);
            return;
        }
        if !warned.insert(state.preset_id.clone()) {
            return;
        }
        if state.active && state.hard_limited {
            tracing::warn!(
                template = %state.template_name,
                preset = %state.preset_name,
                failures = state.failures,
                "prebuild preset hard-limited: its last builds all failed, so it creates no more prebuilds until a new template version is pushed"
            );
        } else if let Some(error) = &state.error {
            tracing::warn!(
                template = %state.template_name,
                preset = %state.preset_name,
                %error,
                "prebuild pool cannot be reconciled"
            );
        }
    }

    /// Pool gauges of active presets, and all-time totals read from the
    /// database, so every replica reports the same numbers.
    async fn report_metrics(&self, stats: &ReconcileStats) {
        metrics::gauge!("dayshift_prebuilds_reconciliation_paused").set(if stats.paused {
            1.0
        } else {
            0.0
        });
        let mut now_reported = BTreeSet::new();
        for state in stats.presets.iter().filter(|s| s.active) {
            let labels = [
                ("template_name", state.template_name.clone()),
                ("preset_name", state.preset_name.clone()),
            ];
            metrics::gauge!("dayshift_prebuilt_workspaces_desired", &labels)
                .set(state.desired as f64);
            metrics::gauge!("dayshift_prebuilt_workspaces_running", &labels)
                .set(state.counts.running as f64);
            metrics::gauge!("dayshift_prebuilt_workspaces_eligible", &labels)
                .set(state.counts.eligible as f64);
            metrics::gauge!("dayshift_prebuilt_workspaces_preset_hard_limited", &labels)
                .set(if state.hard_limited { 1.0 } else { 0.0 });
            now_reported.insert((state.template_name.clone(), state.preset_name.clone()));
        }
        let gone: Vec<(String, String)> = {
            let mut reported = self
                .memory
                .reported
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let gone = reported.difference(&now_reported).cloned().collect();
            *reported = now_reported;
            gone
        };
        for (template, preset) in gone {
            let labels = [("template_name", template), ("preset_name", preset)];
            for name in [
                "dayshift_prebuilt_workspaces_desired",
                "dayshift_prebuilt_workspaces_running",
                "dayshift_prebuilt_workspaces_eligible",
                "dayshift_prebuilt_workspaces_preset_hard_limited",
            ] {
                metrics::gauge!(name, &labels).set(0.0);
            }
        }
        match self.store.prebuild_totals().await {
            Ok(totals) => {
                for t in totals {
                    let labels = [
                        ("template_name", t.template_name),
                        ("preset_name", t.preset_name),
                    ];
                    let absolute = |n: i64| u64::try_from(n).unwrap_or(0);
                    metrics::counter!("dayshift_prebuilt_workspaces_created_total", &labels)
                        .absolute(absolute(t.created));
                    metrics::counter!("dayshift_prebuilt_workspaces_failed_total", &labels)
                        .absolute(absolute(t.failed));
                    metrics::counter!("dayshift_prebuilt_workspaces_claimed_total", &labels)
                        .absolute(absolute(t.claimed));
                }
            }
            Err(e) => tracing::warn!(error = %e, "prebuilds: cannot read totals for metrics"),
        }
    }
}

/// A preset's desired-count rule, and why it could not be read (then the
/// default count applies).
fn pool_schedule(preset: &Preset) -> (PoolSchedule, Option<String>) {
    match PoolSchedule::from_preset(preset) {
        Ok(schedule) => (schedule, None),
        // Refused at push, so only damaged data gets here: keep the
        // default count rather than stopping the pool.
        Err(e) => (
            PoolSchedule::fixed(preset.prebuild_instances),
            Some(format!("preset {:?}: {e}", preset.name)),
        ),
    }
}

/// Wakes the reconciler's tick driver when a pool may next need work
/// ([`Reconciler::next_due`]), so a pool grows at 09:00:00, not a poll
/// interval later.
pub struct PoolDue {
    pub reconciler: Reconciler,
    pub clock: Arc<dyn Clock>,
}

#[async_trait::async_trait]
impl NextDue for PoolDue {
    async fn next_due(&self, after: Option<Timestamp>) -> Option<Timestamp> {
        match self.reconciler.next_due(self.clock.now(), after).await {
            Ok(due) => due,
            Err(e) => {
                // The driver then waits for the poll interval, so this is
                // logged at most once per interval while the database is away.
                tracing::warn!(error = %e, "prebuilds: cannot read when pools next need work");
                None
            }
        }
    }
}
