//! The command line of DESIGN §6, as clap derive structs.
//!
//! Values whose validity is a matter of the domain (durations, schedules)
//! are kept as strings here and parsed by the commands, so that a bad value
//! is a runtime error (exit 1, with the parser's message), while a malformed
//! command line is a usage error (exit 2, clap's default).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Start a workspace.
    Start(WorkspaceActionArgs),
    /// Stop a workspace.
    Stop(WorkspaceActionArgs),
    /// Stop, then start a workspace.
    Restart(WorkspaceActionArgs),
    /// Delete a workspace.
    Delete(WorkspaceActionArgs),
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
    /// Mark the dashboard's session cookie `Secure`: set it when browsers
    /// reach the server over HTTPS (behind a TLS-terminating proxy).
    #[arg(long, env = "DAYSHIFT_SECURE_COOKIES")]
    pub secure_cookies: bool,
}

fn parse_positive_std_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = dayshift_schedule::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_negative() || d.is_zero() {
        return Err(format!("duration {s:?} must be positive"));
    }
    std::time::Duration::try_from(d).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// URL of the dayshift server, e.g. http://127.0.0.1:7080.
    #[arg(value_name = "URL")]
    pub server_url: String,
    #[arg(long, value_name = "U")]
    pub username: Option<String>,
    /// Password (default: DAYSHIFT_PASSWORD, or a prompt on a terminal).
    #[arg(long, value_name = "P")]
    pub password: Option<String>,
    /// Create the first user (an owner) of a fresh server, then log in as it.
    #[arg(long, value_name = "U", requires_all = ["first_user_email", "first_user_password"])]
    pub first_user_username: Option<String>,
    #[arg(long, value_name = "E", requires_all = ["first_user_username", "first_user_password"])]
    pub first_user_email: Option<String>,
    #[arg(long, value_name = "P", requires_all = ["first_user_username", "first_user_email"])]
    pub first_user_password: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user (owners only).
    Create(UsersCreateArgs),
}

#[derive(Debug, Args)]
pub struct UsersCreateArgs {
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub password: String,
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Owner,
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
}

#[derive(Debug, Args)]
pub struct TemplatesPushArgs {
    pub name: String,
    /// The template directory (holding dayshift.toml).
    #[arg(short = 'd', long, value_name = "DIR")]
    pub directory: PathBuf,
    #[command(flatten)]
    pub yes: Yes,
}

#[derive(Debug, Args)]
pub struct TemplatesEditArgs {
    pub name: String,
    /// Default workspace TTL, e.g. 8h (0 = no autostop).
    #[arg(long, value_name = "D")]
    pub default_ttl: Option<String>,
    /// How far activity pushes the deadline, e.g. 1h (0 = off).
    #[arg(long, value_name = "D")]
    pub activity_bump: Option<String>,
    /// Stop workspaces whose start failed this long ago (0 = off).
    #[arg(long, value_name = "D")]
    pub failure_ttl: Option<String>,
    /// Mark workspaces unused this long dormant (0 = off).
    #[arg(long, value_name = "D")]
    pub dormancy_threshold: Option<String>,
    /// Delete workspaces dormant this long (0 = off).
    #[arg(long, value_name = "D")]
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
    #[arg(long, value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_user_autostart: Option<bool>,
    #[arg(long, value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_user_autostop: Option<bool>,
    #[command(flatten)]
    pub yes: Yes,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    pub name: String,
    /// Template name or id.
    #[arg(short = 't', long)]
    pub template: String,
    /// A parameter value, KEY=VALUE; repeatable.
    #[arg(short = 'p', long = "parameter", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub parameters: Vec<(String, String)>,
    /// Use a preset of the template (claims a prebuilt workspace if one is ready).
    #[arg(long)]
    pub preset: Option<String>,
    /// Autostart schedule, e.g. "9:30AM Mon-Fri Europe/Berlin" or a cron expression.
    #[arg(long, value_name = "SCHEDULE")]
    pub start_at: Option<String>,
    /// Stop the workspace this long after it starts, e.g. 8h.
    #[arg(long, value_name = "DURATION")]
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
    /// A cron expression, e.g. "CRON_TZ=Europe/Berlin 30 9 * * 1-5".
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
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
