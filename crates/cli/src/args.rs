//! The command line of DESIGN §6, as clap derive structs.
//!
//! Values whose validity is a matter of the domain (durations, schedules)
//! are kept as strings here and parsed by the commands, so that a bad value
//! is a runtime error (exit 1, with the parser's message), while a malformed
//! command line is a usage error (exit 2, clap's default).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "dayshift",
    version,
    about = "Developer workspaces that start before work and stop when it is done",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The command line as parsed: [`Cli`] with the client flags (`--url`,
/// `--token`, `-o`) hidden from the help of commands that do not talk to a
/// server as a client.
pub fn command() -> clap::Command {
    let cmd = Cli::command();
    // Global flags are copied into each subcommand that does not already
    // have them: give these subcommands hidden copies.
    let hidden: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.clone().hide(true))
        .collect();
    ["server", "completion"].into_iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(name, |sub| sub.args(hidden.clone()))
    })
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// URL of the dayshift server (default: the one saved by `dayshift login`).
    #[arg(long, global = true, env = "DAYSHIFT_URL", value_name = "URL")]
    pub url: Option<String>,
    /// Session token (default: the one saved by `dayshift login`).
    #[arg(
        long,
        global = true,
        env = "DAYSHIFT_SESSION_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Output format of listing commands.
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

/// `-y, --yes`: accepted by every command that changes state.
#[derive(Debug, Clone, Copy, Args)]
pub struct Yes {
    /// Do not ask for confirmation.
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the dayshift server.
    Server(ServerArgs),
    /// Log in to a dayshift server and remember the session.
    Login(LoginArgs),
    /// End the saved session on the server and forget it.
    Logout,
    /// Show who the saved session belongs to.
    Whoami,
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage templates.
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// Create a workspace and follow its first build.
    Create(CreateArgs),
    /// List workspaces.
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Show a workspace: details, outputs and the tail of its latest build log.
    Show(WorkspaceArg),
    /// Start a workspace (nothing to do if it is running).
    Start(StartArgs),
    /// Stop a workspace (nothing to do if it is stopped).
    Stop(WorkspaceActionArgs),
    /// Stop, then start a workspace.
    Restart(WorkspaceActionArgs),
    /// Delete a workspace.
    Delete(WorkspaceActionArgs),
    /// Move a workspace to its template's active version (a start build),
    /// or change its mutable parameters.
    Update(UpdateArgs),
    /// Clear a workspace's dormancy without a build, so it is not auto-deleted.
    Activate(WorkspaceActionArgs),
    /// Workspace schedules: when they start and stop.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Push a running workspace's stop time later (deadline + DURATION).
    Bump(BumpArgs),
    /// Prebuilt workspace pools.
    #[command(subcommand)]
    Prebuilds(PrebuildsCommand),
    /// Connect to a workspace with its template's `connect` command.
    Ssh(SshArgs),
    /// External provisioner daemons.
    #[command(subcommand)]
    Provisioner(ProvisionerCommand),
    /// Print a shell completion script, e.g. `dayshift completion bash > /etc/bash_completion.d/dayshift`.
    Completion(CompletionArgs),
    /// Tools for tests and demos.
    #[command(subcommand)]
    Debug(DebugCommand),
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Move the clock of a server started with --dev-clock, then run one
    /// autobuild tick and one prebuilds reconcile (owners only).
    #[command(subcommand)]
    Clock(DebugClockCommand),
}

#[derive(Debug, Subcommand)]
pub enum DebugClockCommand {
    /// Move the server clock forward, e.g. `advance 9h`.
    Advance(DebugClockAdvanceArgs),
    /// Set the server clock to an instant, e.g. `set 2027-01-04T17:00:00Z`.
    Set(DebugClockSetArgs),
}

#[derive(Debug, Args)]
pub struct DebugClockAdvanceArgs {
    /// How far to move the clock, e.g. 90m or 1.5h.
    #[arg(value_name = "DURATION", allow_hyphen_values = true)]
    pub duration: String,
}

#[derive(Debug, Args)]
pub struct DebugClockSetArgs {
    /// The new time (RFC 3339), e.g. 2027-01-04T17:00:00Z.
    #[arg(value_name = "RFC3339")]
    pub at: String,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, env = "DAYSHIFT_ADDRESS", default_value = "127.0.0.1:7080")]
    pub address: SocketAddr,
    /// Directory of the embedded database and build state
    /// (default: $XDG_DATA_HOME/dayshift or ~/.local/share/dayshift).
    #[arg(long, env = "DAYSHIFT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Use this PostgreSQL database instead of the embedded SQLite one.
    #[arg(
        long,
        env = "DAYSHIFT_POSTGRES_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub postgres_url: Option<String>,
    /// How often the autobuild executor runs.
    #[arg(long, env = "DAYSHIFT_AUTOBUILD_POLL_INTERVAL", default_value = "1m", value_parser = parse_positive_std_duration)]
    pub autobuild_poll_interval: std::time::Duration,
    /// How often the prebuilds reconciler runs.
    #[arg(long, env = "DAYSHIFT_PREBUILDS_RECONCILE_INTERVAL", default_value = "1m", value_parser = parse_positive_std_duration)]
    pub prebuilds_reconcile_interval: std::time::Duration,
    /// Number of built-in provisioner daemons.
    #[arg(long, env = "DAYSHIFT_PROVISIONER_DAEMONS", default_value_t = 2)]
    pub provisioner_daemons: usize,
    /// Pre-shared key that external provisioner daemons authenticate with.
    #[arg(
        long,
        env = "DAYSHIFT_PROVISIONER_PSK",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub provisioner_psk: Option<String>,
    /// Fail a build whose provisioner daemon has sent no heartbeat for this long.
    #[arg(long, env = "DAYSHIFT_PROVISIONER_HEARTBEAT_TIMEOUT", default_value = "90s", value_parser = parse_positive_std_duration)]
    pub provisioner_heartbeat_timeout: std::time::Duration,
    /// Wait this long times the number of recent failures before a failing
    /// prebuild pool tries again.
    #[arg(long, env = "DAYSHIFT_PREBUILDS_BACKOFF_INTERVAL", default_value = "1m", value_parser = parse_positive_std_duration)]
    pub prebuilds_backoff_interval: std::time::Duration,
    /// Consecutive failed prebuilds after which a preset builds no more until
    /// a new template version is pushed (0: no limit).
    #[arg(long, env = "DAYSHIFT_PREBUILDS_FAILURE_LIMIT", default_value_t = 3)]
    pub prebuilds_failure_limit: u32,
    /// Use a settable clock (POST /api/v2/debug/clock); for tests and demos.
    #[arg(long, env = "DAYSHIFT_DEV_CLOCK")]
    pub dev_clock: bool,
    /// Largest workspace state kept with a build, in MiB once compressed;
    /// a build leaving a larger state directory fails.
    #[arg(long, env = "DAYSHIFT_WORKSPACE_STATE_LIMIT_MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub workspace_state_limit_mib: u64,
    /// On SIGTERM or SIGINT, let running builds finish for this long before
    /// failing them (a second signal exits at once).
    #[arg(long, env = "DAYSHIFT_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_std_duration)]
    pub shutdown_grace: std::time::Duration,
    /// Mark the dashboard's session cookie `Secure`: set it when browsers
    /// reach the server over HTTPS (behind a TLS-terminating proxy).
    #[arg(long, env = "DAYSHIFT_SECURE_COOKIES")]
    pub secure_cookies: bool,
}

fn parse_positive_std_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_std_duration(s)?;
    if d.is_zero() {
        return Err(format!("duration {s:?} must be positive"));
    }
    Ok(d)
}

fn parse_std_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = dayshift_schedule::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_negative() {
        return Err(format!("duration {s:?} must not be negative"));
    }
    std::time::Duration::try_from(d).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// URL of the dayshift server, e.g. http://127.0.0.1:7080.
    #[arg(value_name = "URL")]
    pub server_url: String,
    /// User to log in as (default: a prompt on a terminal).
    #[arg(long, value_name = "U")]
    pub username: Option<String>,
    /// Password (default: DAYSHIFT_PASSWORD, or a prompt on a terminal).
    #[arg(long, value_name = "P")]
    pub password: Option<String>,
    /// Create the first user (an owner) of a fresh server, then log in as it.
    #[arg(long, value_name = "U", requires_all = ["first_user_email", "first_user_password"])]
    pub first_user_username: Option<String>,
    /// The first user's email address.
    #[arg(long, value_name = "E", requires_all = ["first_user_username", "first_user_password"])]
    pub first_user_email: Option<String>,
    /// The first user's password (at least 8 characters).
    #[arg(long, value_name = "P", requires_all = ["first_user_username", "first_user_email"])]
    pub first_user_password: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user (owners only).
    Create(UsersCreateArgs),
    /// List users.
    #[command(visible_alias = "ls")]
    List,
}

#[derive(Debug, Args)]
pub struct UsersCreateArgs {
    /// The new user's name (lowercase letters, digits and hyphens).
    #[arg(long)]
    pub username: String,
    /// The new user's email address.
    #[arg(long)]
    pub email: String,
    /// The new user's password (at least 8 characters).
    #[arg(long)]
    pub password: String,
    /// The new user's role (default: member).
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Administers templates, users and everybody's workspaces.
    Owner,
    /// Uses their own workspaces.
    Member,
}

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Upload a template directory as a new active version (creating the
    /// template on first push).
    Push(TemplatesPushArgs),
    /// List templates and their policies.
    #[command(visible_alias = "ls")]
    List,
    /// Change a template's schedule policies.
    Edit(TemplatesEditArgs),
    /// List a template's versions, newest last.
    Versions(TemplateNameArg),
}

#[derive(Debug, Args)]
pub struct TemplateNameArg {
    /// The template's name.
    #[arg(value_name = "NAME")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct TemplatesPushArgs {
    /// The template's name (created on first push).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The template directory (holding dayshift.toml).
    #[arg(short = 'd', long, value_name = "DIR")]
    pub directory: PathBuf,
    /// The new version's name, unique in the template (default: v1, v2, ...).
    #[arg(long = "name", value_name = "VERSION")]
    pub version_name: Option<String>,
    #[command(flatten)]
    pub yes: Yes,
}

#[derive(Debug, Args)]
pub struct TemplatesEditArgs {
    /// The template's name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Default workspace TTL, e.g. 8h (0 = no autostop).
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    pub default_ttl: Option<String>,
    /// How far activity pushes the deadline, e.g. 1h (0 = off).
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    pub activity_bump: Option<String>,
    /// Stop workspaces whose start failed this long ago (0 = off).
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    pub failure_ttl: Option<String>,
    /// Mark workspaces unused this long dormant (0 = off).
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    pub dormancy_threshold: Option<String>,
    /// Delete workspaces dormant this long (0 = off).
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    pub dormancy_auto_deletion: Option<String>,
    /// Days on which running workspaces must stop: monday,tuesday | mon,tue | none.
    #[arg(long, value_name = "DAYS")]
    pub autostop_requirement_weekdays: Option<String>,
    /// Apply the autostop requirement every N weeks (1-16).
    #[arg(long, value_name = "N")]
    pub autostop_requirement_weeks: Option<u32>,
    /// Days on which autostart may fire: monday,tuesday | mon,tue | none.
    #[arg(long, value_name = "DAYS")]
    pub autostart_requirement_weekdays: Option<String>,
    /// Whether users may set their own autostart schedule (true/false).
    #[arg(long, value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_user_autostart: Option<bool>,
    /// Whether users may set their own TTL (true/false).
    #[arg(long, value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_user_autostop: Option<bool>,
    #[command(flatten)]
    pub yes: Yes,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The new workspace's name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Template name or id (asked for on a terminal when missing).
    #[arg(short = 't', long)]
    pub template: Option<String>,
    /// A parameter value, KEY=VALUE; repeatable.
    #[arg(short = 'p', long = "parameter", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub parameters: Vec<(String, String)>,
    /// Use a preset of the template (claims a prebuilt workspace if one is
    /// ready); `none` for no preset.
    #[arg(long)]
    pub preset: Option<String>,
    /// Autostart schedule, e.g. "9:30AM Mon-Fri Europe/Berlin" or a cron expression.
    #[arg(long, value_name = "SCHEDULE")]
    pub start_at: Option<String>,
    /// Stop the workspace this long after it starts, e.g. 8h or 1.5h (1m to 30d).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub stop_after: Option<String>,
    #[command(flatten)]
    pub yes: Yes,
}

/// Parses `KEY=VALUE` (the value may be empty and may contain `=`).
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        Some(_) => Err(format!(
            "parameter {s:?} has an empty name; expected KEY=VALUE"
        )),
        None => Err(format!("parameter {s:?} has no '='; expected KEY=VALUE")),
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Workspaces of every user (owners only).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only workspaces matching QUERY: terms ANDed, `owner:NAME|me`,
    /// `template:NAME`, `status:S`, `name:SUB`, `outdated:true|false`,
    /// `dormant:true|false`; a bare word is `name:`.
    #[arg(long, value_name = "QUERY")]
    pub search: Option<String>,
}

#[derive(Debug, Args)]
pub struct WorkspaceArg {
    /// `name` (your own) or `owner/name`.
    #[arg(value_name = "NAME")]
    pub workspace: String,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// `name` (your own) or `owner/name`.
    #[arg(value_name = "NAME")]
    pub workspace: String,
    /// Change a mutable parameter, KEY=VALUE; repeatable.
    #[arg(short = 'p', long = "parameter", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub parameters: Vec<(String, String)>,
    #[command(flatten)]
    pub yes: Yes,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// `name` (your own) or `owner/name`.
    #[arg(value_name = "NAME")]
    pub workspace: String,
    /// A parameter value, KEY=VALUE: for a parameter new in the active
    /// version, or to change a mutable one; repeatable.
    #[arg(short = 'p', long = "parameter", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub parameters: Vec<(String, String)>,
    #[command(flatten)]
    pub yes: Yes,
}

#[derive(Debug, Args)]
pub struct WorkspaceActionArgs {
    /// `name` (your own) or `owner/name`.
    #[arg(value_name = "NAME")]
    pub workspace: String,
    #[command(flatten)]
    pub yes: Yes,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// When workspaces start and stop next.
    Show(ScheduleShowArgs),
    /// Set (or clear with `manual`) a workspace's autostart schedule.
    Start(ScheduleStartArgs),
    /// Set a workspace's TTL (or `manual` for no autostop).
    Stop(ScheduleStopArgs),
    /// Stop a running workspace DURATION from now.
    Extend(ScheduleExtendArgs),
    /// Preview a cron expression (no server needed).
    Preview(SchedulePreviewArgs),
}

#[derive(Debug, Args)]
pub struct ScheduleShowArgs {
    /// `name` (your own) or `owner/name`; default: all your workspaces.
    #[arg(value_name = "NAME")]
    pub workspace: Option<String>,
    /// With no NAME: workspaces of every user (owners only).
    #[arg(short = 'a', long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct ScheduleStartArgs {
    /// `name` (your own) or `owner/name`.
    #[arg(value_name = "NAME")]
    pub workspace: String,
    /// "9:30AM Mon-Fri Europe/Berlin", a cron expression, or `manual`
    /// (one quoted argument or several words).
    #[arg(value_name = "SCHEDULE", required = true, num_args = 1..)]
    pub schedule: Vec<String>,
    #[command(flatten)]
    pub yes: Yes,
}

#[derive(Debug, Args)]
pub struct ScheduleStopArgs {
    /// `name` (your own) or `owner/name`.
    #[arg(value_name = "NAME")]
    pub workspace: String,
    /// A duration such as 8h, or `manual`.
    #[arg(value_name = "DURATION", allow_hyphen_values = true)]
    pub duration: String,
    #[command(flatten)]
    pub yes: Yes,
}

#[derive(Debug, Args)]
pub struct ScheduleExtendArgs {
    /// `name` (your own) or `owner/name`.
    #[arg(value_name = "NAME")]
    pub workspace: String,
    /// The workspace stops this long from now, e.g. 2h.
    #[arg(value_name = "DURATION", allow_hyphen_values = true)]
    pub duration: String,
    #[command(flatten)]
    pub yes: Yes,
}

#[derive(Debug, Args)]
pub struct SchedulePreviewArgs {
    /// A cron expression, e.g. "CRON_TZ=Europe/Berlin 30 9 * * 1-5", or a
    /// start time as `--start-at` takes it, e.g. "9:30AM Mon-Fri Europe/Berlin".
    #[arg(value_name = "CRON", allow_hyphen_values = true)]
    pub cron: String,
    /// How many start times (or ranges) to show.
    #[arg(short = 'n', long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub count: u32,
    /// Start from this instant (RFC 3339; default: now).
    #[arg(long, value_name = "RFC3339")]
    pub from: Option<String>,
    /// Show the maximal continuous time ranges the expression covers.
    #[arg(long)]
    pub ranges: bool,
}

#[derive(Debug, Args)]
pub struct BumpArgs {
    /// `name` (your own) or `owner/name`.
    #[arg(value_name = "NAME")]
    pub workspace: String,
    /// How much later the workspace stops (default 1h).
    #[arg(value_name = "DURATION", allow_hyphen_values = true)]
    pub duration: Option<String>,
    #[command(flatten)]
    pub yes: Yes,
}

#[derive(Debug, Subcommand)]
pub enum PrebuildsCommand {
    /// Per preset: desired, running and starting prebuilds, the schedule in
    /// force and when the desired count next changes.
    Status,
    /// Pause the prebuilds reconciler.
    Pause,
    /// Resume the prebuilds reconciler.
    Resume,
}

#[derive(Debug, Args)]
pub struct SshArgs {
    /// `name` (your own) or `owner/name`.
    #[arg(value_name = "NAME")]
    pub workspace: String,
    /// Run this instead of the template's `connect` command (after `--`).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ProvisionerCommand {
    /// Run an external provisioner daemon against a server (`--url`).
    Start(ProvisionerStartArgs),
}

#[derive(Debug, Args)]
pub struct ProvisionerStartArgs {
    /// The server's provisioner pre-shared key.
    #[arg(
        long,
        env = "DAYSHIFT_PROVISIONER_PSK",
        value_name = "PSK",
        hide_env_values = true
    )]
    pub key: String,
    /// This daemon's name, unique among daemons (default: host name and process id).
    #[arg(long, env = "DAYSHIFT_PROVISIONER_NAME", value_name = "N")]
    pub name: Option<String>,
    /// Where templates are extracted and workspace state is kept
    /// (default: the data directory's `provisioner` folder).
    #[arg(long, env = "DAYSHIFT_PROVISIONER_WORK_DIR", value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// On SIGTERM or SIGINT, let a running build finish for this long before
    /// failing it (a second signal exits at once).
    #[arg(long, env = "DAYSHIFT_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_std_duration)]
    pub shutdown_grace: std::time::Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every argument and flag of every command says what it is for.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") || arg.is_hide_set() {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (command)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&command(), "dayshift", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }

    #[test]
    fn client_flags_are_not_offered_to_the_server() {
        let mut cmd = command();
        cmd.build();
        let server = cmd
            .find_subcommand_mut("server")
            .expect("server command")
            .render_help()
            .to_string();
        for flag in ["--url", "--token", "--output"] {
            assert!(!server.contains(flag), "{flag} in server help:\n{server}");
        }
        assert!(server.contains("--data-dir"), "{server}");
        let mut cmd = command();
        cmd.build();
        let list = cmd
            .find_subcommand_mut("list")
            .expect("list command")
            .render_help()
            .to_string();
        assert!(
            list.contains("--url") && list.contains("--output"),
            "{list}"
        );
        // Hidden, not removed: the flags still parse everywhere.
        if let Err(e) = command().try_get_matches_from(["dayshift", "server", "--url", "http://x"])
        {
            panic!("{e}");
        }
    }

    #[test]
    fn negative_stop_after_reaches_the_parser() {
        let cli = Cli::try_parse_from(["dayshift", "create", "ws", "--stop-after", "-1h"]).unwrap();
        let Command::Create(args) = cli.command else {
            panic!("wrong command");
        };
        assert_eq!(args.stop_after.as_deref(), Some("-1h"));
    }

    #[test]
    fn key_value_pairs() {
        assert_eq!(
            parse_key_value("region=eu").unwrap(),
            ("region".into(), "eu".into())
        );
        assert_eq!(
            parse_key_value("cmd=a=b; rm -rf /").unwrap(),
            ("cmd".into(), "a=b; rm -rf /".into())
        );
        assert_eq!(
            parse_key_value("empty=").unwrap(),
            ("empty".into(), "".into())
        );
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
    }

    #[test]
    fn schedule_start_takes_one_or_many_words() {
        let cli = Cli::try_parse_from([
            "dayshift",
            "schedule",
            "start",
            "ws",
            "9:30AM",
            "Mon-Fri",
            "Europe/Berlin",
        ])
        .unwrap();
        let Command::Schedule(ScheduleCommand::Start(args)) = cli.command else {
            panic!("wrong command");
        };
        assert_eq!(args.schedule.join(" "), "9:30AM Mon-Fri Europe/Berlin");

        let cli =
            Cli::try_parse_from(["dayshift", "schedule", "start", "ws", "30 9 * * 1-5"]).unwrap();
        let Command::Schedule(ScheduleCommand::Start(args)) = cli.command else {
            panic!("wrong command");
        };
        assert_eq!(args.schedule, vec!["30 9 * * 1-5".to_string()]);
    }

    #[test]
    fn negative_durations_reach_the_command() {
        let cli = Cli::try_parse_from(["dayshift", "bump", "ws", "-5m"]).unwrap();
        let Command::Bump(args) = cli.command else {
            panic!("wrong command");
        };
        assert_eq!(args.duration.as_deref(), Some("-5m"));
    }

    #[test]
    fn ssh_command_after_double_dash() {
        let cli =
            Cli::try_parse_from(["dayshift", "ssh", "me/ws", "--", "echo", "-n", "hi"]).unwrap();
        let Command::Ssh(args) = cli.command else {
            panic!("wrong command");
        };
        assert_eq!(args.workspace, "me/ws");
        assert_eq!(args.command, vec!["echo", "-n", "hi"]);
    }

    #[test]
    fn yes_is_accepted_by_state_changing_commands() {
        for argv in [
            vec![
                "dayshift",
                "templates",
                "push",
                "t",
                "--directory",
                ".",
                "-y",
            ],
            vec![
                "dayshift",
                "templates",
                "edit",
                "t",
                "--default-ttl",
                "8h",
                "--yes",
            ],
            vec!["dayshift", "create", "ws", "--template", "t", "-y"],
            vec!["dayshift", "start", "ws", "-y"],
            vec!["dayshift", "stop", "ws", "-y"],
            vec!["dayshift", "restart", "ws", "-y"],
            vec!["dayshift", "delete", "ws", "-y"],
            vec!["dayshift", "schedule", "start", "ws", "manual", "-y"],
            vec!["dayshift", "schedule", "stop", "ws", "8h", "-y"],
            vec!["dayshift", "schedule", "extend", "ws", "2h", "-y"],
            vec!["dayshift", "bump", "ws", "-y"],
            vec!["dayshift", "update", "ws", "-p", "size=large", "-y"],
            vec!["dayshift", "start", "ws", "--parameter", "size=large", "-y"],
        ] {
            Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        }
    }

    #[test]
    fn output_flag_anywhere() {
        let cli = Cli::try_parse_from(["dayshift", "list", "-o", "json"]).unwrap();
        assert_eq!(cli.global.output, OutputFormat::Json);
        let cli = Cli::try_parse_from(["dayshift", "-o", "json", "templates", "list"]).unwrap();
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert!(Cli::try_parse_from(["dayshift", "list", "-o", "yaml"]).is_err());
    }

    #[test]
    fn first_user_flags_go_together() {
        assert!(Cli::try_parse_from([
            "dayshift",
            "login",
            "http://x",
            "--first-user-username",
            "admin"
        ])
        .is_err());
        assert!(Cli::try_parse_from([
            "dayshift",
            "login",
            "http://x",
            "--first-user-username",
            "admin",
            "--first-user-email",
            "a@example.com",
            "--first-user-password",
            "pw"
        ])
        .is_ok());
    }
}
