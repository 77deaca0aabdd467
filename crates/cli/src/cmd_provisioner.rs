//! `dayshift provisioner start`: an external provisioner daemon, taking
//! build jobs from a server over HTTP (DESIGN §8).

use anyhow::{anyhow, Context, Result};
use tokio_util::sync::CancellationToken;

use crate::args::ProvisionerStartArgs;
use crate::config::{default_data_dir, ConfigDir};
use crate::ctx::Ctx;

pub async fn start(ctx: &Ctx, args: ProvisionerStartArgs) -> Result<()> {
    crate::cmd_server::init_logging();
    let url = match ctx.global.url.clone().filter(|u| !u.trim().is_empty()) {
        Some(url) => url,
        None => ConfigDir::from_env()?
            .url()?
            .ok_or_else(|| anyhow!("no server: pass --url URL (or set DAYSHIFT_URL)"))?,
    };
    if args.key.trim().is_empty() {
        return Err(anyhow!(
            "--key must not be empty: pass the server's --provisioner-psk"
        ));
    }
    let name = match args.name.filter(|n| !n.trim().is_empty()) {
        Some(name) => name,
        None => format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "dayshift".into()),
            std::process::id()
        ),
    };
    let work_dir = match args.work_dir {
        Some(dir) => dir,
        None => default_data_dir()?.join("provisioner"),
    };
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("cannot create work directory {}", work_dir.display()))?;

    let grace = args.shutdown_grace;
    let mut signals = dayshift_server::Signals::new()?;
    let stop = CancellationToken::new();
    let daemon = dayshift_server::run_external_provisioner(
        dayshift_server::ExternalProvisionerConfig {
            url,
            key: args.key,
            name,
            work_dir,
            shutdown_grace: grace,
        },
        stop.clone(),
    );
    tokio::pin!(daemon);
    tokio::select! {
        result = &mut daemon => return result,
        signal = signals.next() => {
            tracing::info!(signal, grace = ?grace, "stopping: no new jobs; a running build may finish within the grace (a second signal exits at once)");
            stop.cancel();
        }
    }
    tokio::select! {
        result = &mut daemon => result,
        signal = signals.next() => Err(anyhow!("interrupted by a second {signal} while stopping")),
    }
}
