//! `dayshift server`.

use anyhow::{Context, Result};
use tracing_subscriber::EnvFilter;

use crate::args::ServerArgs;
use crate::config::default_data_dir;
use crate::output::color_enabled;

/// Log lines on stderr, at `RUST_LOG` or info (server and daemons).
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(color_enabled())
        .with_writer(std::io::stderr)
        .init();
}

pub async fn run(args: ServerArgs) -> Result<()> {
    init_logging();

    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => default_data_dir()?,
    };
    let config = dayshift_server::ServerConfig {
        address: args.address,
        data_dir,
        postgres_url: args.postgres_url.filter(|u| !u.trim().is_empty()),
        autobuild_poll_interval: args.autobuild_poll_interval,
        prebuilds_reconcile_interval: args.prebuilds_reconcile_interval,
        provisioner_daemons: args.provisioner_daemons,
        provisioner_psk: args.provisioner_psk.filter(|k| !k.is_empty()),
        provisioner_heartbeat_timeout: args.provisioner_heartbeat_timeout,
        prebuilds: dayshift_server::PoolRules {
            backoff_interval: dayshift_schedule::SignedDuration::try_from(
                args.prebuilds_backoff_interval,
            )
            .context("--prebuilds-backoff-interval is too long")?,
            hard_limit: args.prebuilds_failure_limit,
        },
        dev_clock: args.dev_clock,
        secure_cookies: args.secure_cookies,
        login: Default::default(),
        session_clock: None,
    };
    dayshift_server::run(config).await
}
