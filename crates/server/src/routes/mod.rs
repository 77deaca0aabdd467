pub mod debug;
pub mod ops;
pub mod prebuilds;
pub mod provisioner;
pub mod schedule;
pub mod templates;
pub mod users;
pub mod workspaces;
