//! The provisioner's only door into `dayshift-schedule`: manifest
//! validation needs duration parsing, cron parsing in a zone and the
//! overlap check, and nothing else, so the coupling stays this small.

pub(crate) use dayshift_schedule::{parse_duration, Schedule};
