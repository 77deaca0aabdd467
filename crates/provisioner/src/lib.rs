//! Build jobs for dayshift: the template manifest (`dayshift.toml`), the
//! uploaded template bundle, and the `echo` and `script` provisioners that
//! run one build and report its log lines and outputs.
//!
//! This crate owns *how a build runs*; it must not decide *when* a build
//! runs (that is the lifecycle crate's job), must not read the system clock
//! for anything but the build's own timeout, and must never place a
//! user-supplied value in a shell command string: parameter values reach
//! scripts only as environment variables.

pub mod bundle;
pub mod daemon;
mod duration;
pub mod manifest;
pub mod reaper;
pub mod runner;
mod sched;
pub mod state;

pub use bundle::{BundleError, BundleFile, TemplateBundle};
pub use duration::format_duration;
pub use manifest::{
    EchoProvisioner, Manifest, ManifestError, Parameter, ParameterError, PrebuildSchedule,
    PrebuildScheduling, Prebuilds, Preset, Provisioner, ScriptProvisioner,
};
pub use runner::{
    run_build, BuildLog, BuildOutcome, BuildRequest, LogStream, MemoryLog, Transition,
};
