//! The lifecycle of workspaces: the autobuild executor (tick → decisions
//! → builds), the prebuilds reconciler, and the deadline rules applied when
//! a build completes.
//!
//! Decisions are pure functions of (workspace state, template policy, now)
//! in [`decide`] and [`rules`]; the loops around them fetch, lock, apply
//! and report. This crate never reads the system clock (time arrives on the
//! tick channel or from an injected [`Clock`]) and never runs builds itself
//! (it only queues them for the provisioner).

pub mod decide;
pub mod executor;
pub mod prebuilds;
pub mod projection;
pub mod rules;
pub mod ticks;
pub mod wake;

pub use dayshift_store::clock::{Clock, ManualClock, SystemClock};
pub use decide::{decide, Decision};
pub use executor::{Executor, RunStats};
pub use rules::LifecyclePolicy;
