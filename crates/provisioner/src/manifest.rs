//! The template manifest `dayshift.toml` (DESIGN §5): parsing, validation
//! and parameter resolution.
//!
//! Parsing happens in two layers. A private "raw" layer mirrors the TOML
//! with every key optional and unknown keys rejected, so that typos surface
//! with toml's line/column and missing keys can be reported by us with their
//! full key path. The public layer holds only validated values; it derives
//! Serialize/Deserialize so the server can store a parsed manifest as JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use crate::runner::Transition;
use crate::sched::{parse_duration, Schedule};

/// Longest preset name accepted.
pub const MAX_PRESET_NAME_LEN: usize = 64;
/// Most prebuilt instances one preset or schedule may ask for. A cap well
/// above any real pool, so a typo (`30000` for `3`) cannot create an army of
/// workspaces.
pub const MAX_INSTANCES: i64 = 10_000;
/// Longest parameter value accepted. Values travel as environment variables
/// and through the API; this keeps both far from any system limit while
/// leaving room for keys and certificates.
pub const MAX_PARAMETER_VALUE_LEN: usize = 16 * 1024;

const DEFAULT_SCRIPT_TIMEOUT: &str = "10m";
const DEFAULT_ECHO_DURATION: &str = "0s";
const PARAMETER_NAME_RULE: &str = "must match ^[a-z][a-z0-9_]{0,63}$ (a lowercase letter, then up to 63 lowercase letters, digits or underscores)";

/// A validated `dayshift.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub provisioner: Provisioner,
    /// The command `dayshift ssh` runs; authored by the template owner.
    #[serde(default)]
    pub connect: Option<String>,
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    #[serde(default)]
    pub presets: Vec<Preset>,
}

/// Which provisioner builds workspaces of this template, with its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Provisioner {
    Script(ScriptProvisioner),
    Echo(EchoProvisioner),
}

impl Provisioner {
    /// The manifest spelling: `"script"` or `"echo"`.
    pub fn name(&self) -> &'static str {
        match self {
            Provisioner::Script(_) => "script",
            Provisioner::Echo(_) => "echo",
        }
    }
}

/// `[script]`: commands run with `sh -c` in the template directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptProvisioner {
    pub start: String,
    #[serde(default)]
    pub stop: Option<String>,
    #[serde(default)]
    pub delete: Option<String>,
    pub timeout: SignedDuration,
}

impl ScriptProvisioner {
    /// The command for a transition; `None` means the transition is a
    /// successful no-op (only `stop` and `delete` may be absent).
    pub fn command(&self, transition: Transition) -> Option<&str> {
        match transition {
            Transition::Start => Some(&self.start),
            Transition::Stop => self.stop.as_deref(),
            Transition::Delete => self.delete.as_deref(),
        }
    }
}

/// `[echo]`: fake builds for demos and tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EchoProvisioner {
    /// Transitions that fail.
    #[serde(default)]
    pub fail: Vec<Transition>,
    /// How long each build pretends to work.
    pub duration: SignedDuration,
}

/// `[[parameters]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    pub name: String,
    /// `None`: the parameter is required.
    #[serde(default)]
    pub default: Option<String>,
    /// Allowed values; empty means any value.
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(default)]
    pub mutable: bool,
    #[serde(default)]
    pub description: Option<String>,
}

impl Parameter {
    /// The environment variable a script reads the value from.
    pub fn env_name(&self) -> String {
        param_env_name(&self.name)
    }

    pub fn is_required(&self) -> bool {
        self.default.is_none()
    }
}

/// `DAYSHIFT_PARAM_<NAME uppercased>`.
pub fn param_env_name(name: &str) -> String {
    format!("DAYSHIFT_PARAM_{}", name.to_ascii_uppercase())
}

/// `[[presets]]`: a named parameter set with an optional prebuild pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preset {
    pub name: String,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    #[serde(default)]
    pub prebuilds: Prebuilds,
}

/// `[presets.prebuilds]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Prebuilds {
    /// Desired instances outside every schedule.
    #[serde(default)]
    pub instances: u32,
    /// Replace prebuilds older than this.
    #[serde(default)]
    pub expiration: Option<SignedDuration>,
    #[serde(default)]
    pub scheduling: Option<PrebuildScheduling>,
}

impl Prebuilds {
    /// Whether this preset ever asks for prebuilt workspaces.
    pub fn is_enabled(&self) -> bool {
        self.instances > 0
            || self
                .scheduling
                .as_ref()
                .is_some_and(|s| s.schedule.iter().any(|e| e.instances > 0))
    }
}

/// `[presets.prebuilds.scheduling]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrebuildScheduling {
    /// IANA zone every schedule of the preset is read in.
    pub timezone: String,
    #[serde(default)]
    pub schedule: Vec<PrebuildSchedule>,
}

/// `[[presets.prebuilds.scheduling.schedule]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrebuildSchedule {
    pub cron: String,
    pub instances: u32,
}

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    /// TOML syntax, wrong value types and unknown keys: toml's own message,
    /// which points at line and column.
    #[error("{0}")]
    Toml(String),
    /// A rule of DESIGN §5 was broken. `message` names the key path, the
    /// value and the rule; `field` is the key path alone (for API
    /// `validations`).
    #[error("{message}")]
    Invalid { field: String, message: String },
}

impl ManifestError {
    fn invalid(field: impl Into<String>, detail: impl AsRef<str>) -> Self {
        let field = field.into();
        let message = format!("{field}: {}", detail.as_ref());
        ManifestError::Invalid { field, message }
    }

    /// The key path the error is about, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ManifestError::Toml(_) => None,
            ManifestError::Invalid { field, .. } => Some(field),
        }
    }
}

/// Why a set of parameter values was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParameterError {
    #[error("unknown parameter {name:?}: {}", declared_list(.declared))]
    Unknown { name: String, declared: Vec<String> },
    #[error("missing parameter {name:?}: it has no default, so a value is required")]
    Missing { name: String },
    #[error("parameter {name:?}: {value:?} is not one of the options {options:?}")]
    NotAnOption {
        name: String,
        value: String,
        options: Vec<String>,
    },
    #[error("parameter {name:?}: {reason}")]
    InvalidValue { name: String, reason: String },
}

fn declared_list(declared: &[String]) -> String {
    if declared.is_empty() {
        "the template declares no parameters".to_string()
    } else {
        format!("the template declares {declared:?}")
    }
}

impl ParameterError {
    /// The parameter the error is about.
    pub fn parameter(&self) -> &str {
        match self {
            ParameterError::Unknown { name, .. }
            | ParameterError::Missing { name }
            | ParameterError::NotAnOption { name, .. }
            | ParameterError::InvalidValue { name, .. } => name,
        }
    }
}

/// Rules every parameter value obeys, wherever it comes from (default,
/// option, preset or user). Returns the broken rule.
fn value_rule(value: &str) -> Option<String> {
    if value.contains('\0') {
        // Environment variables cannot carry NUL; refusing here keeps the
        // failure at input time instead of at spawn time.
        return Some("must not contain a NUL byte".to_string());
    }
    if value.len() > MAX_PARAMETER_VALUE_LEN {
        return Some(format!(
            "is {} bytes long: must be at most {MAX_PARAMETER_VALUE_LEN}",
            value.len()
        ));
    }
    None
}

/// `^[a-z][a-z0-9_]{0,63}$`
pub fn is_valid_parameter_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

impl Manifest {
    /// Parses and validates `dayshift.toml`.
    pub fn parse(toml_text: &str) -> Result<Manifest, ManifestError> {
        let raw: raw::Manifest =
            toml::from_str(toml_text).map_err(|e| ManifestError::Toml(e.to_string()))?;
        validate(raw)
    }

    pub fn preset(&self, name: &str) -> Option<&Preset> {
        self.presets.iter().find(|p| p.name == name)
    }

    pub fn parameter(&self, name: &str) -> Option<&Parameter> {
        self.parameters.iter().find(|p| p.name == name)
    }

    /// Checks user-given values against the declared parameters and fills
    /// in defaults. The result has exactly one entry per declared parameter.
    pub fn resolve_parameters(
        &self,
        given: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ParameterError> {
        for name in given.keys() {
            if self.parameter(name).is_none() {
                return Err(ParameterError::Unknown {
                    name: name.clone(),
                    declared: self.parameters.iter().map(|p| p.name.clone()).collect(),
                });
            }
        }
        let mut resolved = BTreeMap::new();
        for param in &self.parameters {
            let value = match (given.get(&param.name), &param.default) {
                (Some(v), _) => v.clone(),
                (None, Some(d)) => d.clone(),
                (None, None) => {
                    return Err(ParameterError::Missing {
                        name: param.name.clone(),
                    })
                }
            };
            if let Some(reason) = value_rule(&value) {
                return Err(ParameterError::InvalidValue {
                    name: param.name.clone(),
                    reason: format!("value {reason}"),
                });
            }
            if !param.options.is_empty() && !param.options.contains(&value) {
                return Err(ParameterError::NotAnOption {
                    name: param.name.clone(),
                    value,
                    options: param.options.clone(),
                });
            }
            resolved.insert(param.name.clone(), value);
        }
        Ok(resolved)
    }
}

/// Mirrors of the TOML layout. Every key is optional so that a missing
/// required key is reported by `validate` with its path and rule; unknown
/// keys are refused so that typos (`timout`) do not pass silently.
mod raw {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Manifest {
        pub provisioner: Option<String>,
        pub connect: Option<String>,
        pub script: Option<Script>,
        pub echo: Option<Echo>,
        #[serde(default)]
        pub parameters: Vec<Parameter>,
        #[serde(default)]
        pub presets: Vec<Preset>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Script {
        pub start: Option<String>,
        pub stop: Option<String>,
        pub delete: Option<String>,
        pub timeout: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Echo {
        pub fail: Option<Vec<String>>,
        pub duration: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Parameter {
        pub name: Option<String>,
        pub default: Option<String>,
        pub options: Option<Vec<String>>,
        pub mutable: Option<bool>,
        pub description: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Preset {
        pub name: Option<String>,
        pub parameters: Option<BTreeMap<String, String>>,
        pub prebuilds: Option<Prebuilds>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Prebuilds {
        pub instances: Option<i64>,
        pub expiration: Option<String>,
        pub scheduling: Option<Scheduling>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Scheduling {
        pub timezone: Option<String>,
        pub schedule: Option<Vec<ScheduleEntry>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ScheduleEntry {
        pub cron: Option<String>,
        pub instances: Option<i64>,
    }
}

type Result<T, E = ManifestError> = std::result::Result<T, E>;

fn validate(raw: raw::Manifest) -> Result<Manifest> {
    let provisioner = validate_provisioner(&raw)?;
    let connect = match raw.connect {
        Some(c) if c.trim().is_empty() => {
            return Err(ManifestError::invalid(
                "connect",
                "must not be empty (leave connect out if there is nothing to run)",
            ))
        }
        other => other,
    };
    let parameters = validate_parameters(raw.parameters)?;
    let mut manifest = Manifest {
        provisioner,
        connect,
        parameters,
        presets: Vec::new(),
    };
    manifest.presets = validate_presets(raw.presets, &manifest)?;
    Ok(manifest)
}

fn validate_provisioner(raw: &raw::Manifest) -> Result<Provisioner> {
    let kind = raw.provisioner.as_deref().ok_or_else(|| {
        ManifestError::invalid("provisioner", "missing: must be \"script\" or \"echo\"")
    })?;
    match kind {
        "script" => {
            if raw.echo.is_some() {
                return Err(ManifestError::invalid(
                    "echo",
                    "not allowed with provisioner \"script\": remove the [echo] section",
                ));
            }
            let script = raw.script.as_ref().ok_or_else(|| {
                ManifestError::invalid(
                    "script",
                    "missing: provisioner \"script\" needs a [script] section with a start command",
                )
            })?;
            let start = script.start.clone().ok_or_else(|| {
                ManifestError::invalid(
                    "script.start",
                    "missing: provisioner \"script\" needs a start command",
                )
            })?;
            for (key, cmd) in [
                ("script.start", Some(&start)),
                ("script.stop", script.stop.as_ref()),
                ("script.delete", script.delete.as_ref()),
            ] {
                if cmd.is_some_and(|c| c.trim().is_empty()) {
                    return Err(ManifestError::invalid(
                        key,
                        "must not be empty (leave the key out to make the transition a no-op)",
                    ));
                }
            }
            let timeout_text = script.timeout.as_deref().unwrap_or(DEFAULT_SCRIPT_TIMEOUT);
            let timeout = duration_value("script.timeout", timeout_text)?;
            if !timeout.is_positive() {
                return Err(ManifestError::invalid(
                    "script.timeout",
                    format!("{timeout_text:?} must be greater than 0"),
                ));
            }
            Ok(Provisioner::Script(ScriptProvisioner {
                start,
                stop: script.stop.clone(),
                delete: script.delete.clone(),
                timeout,
            }))
        }
        "echo" => {
            if raw.script.is_some() {
                return Err(ManifestError::invalid(
                    "script",
                    "not allowed with provisioner \"echo\": remove the [script] section",
                ));
            }
            let (fail_raw, duration_raw) = match &raw.echo {
                Some(e) => (e.fail.clone().unwrap_or_default(), e.duration.clone()),
                None => (Vec::new(), None),
            };
            let mut fail = Vec::new();
            for (i, t) in fail_raw.iter().enumerate() {
                let transition = Transition::parse(t).ok_or_else(|| {
                    ManifestError::invalid(
                        format!("echo.fail[{i}]"),
                        format!(
                            "{t:?} is not a transition: must be one of \"start\", \"stop\", \"delete\""
                        ),
                    )
                })?;
                if !fail.contains(&transition) {
                    fail.push(transition);
                }
            }
            let duration_text = duration_raw.as_deref().unwrap_or(DEFAULT_ECHO_DURATION);
            let duration = duration_value("echo.duration", duration_text)?;
            if duration.is_negative() {
                return Err(ManifestError::invalid(
                    "echo.duration",
                    format!("{duration_text:?} must not be negative"),
                ));
            }
            Ok(Provisioner::Echo(EchoProvisioner { fail, duration }))
        }
        other => Err(ManifestError::invalid(
            "provisioner",
            format!("{other:?} is not a provisioner: must be \"script\" or \"echo\""),
        )),
    }
}

/// The schedule crate's duration errors already name the value and the
/// rule (`invalid duration "ten": ...`); prefixing the key path completes
/// them.
fn duration_value(field: &str, text: &str) -> Result<SignedDuration> {
    parse_duration(text).map_err(|e| ManifestError::invalid(field, e.to_string()))
}

fn validate_parameters(raw: Vec<raw::Parameter>) -> Result<Vec<Parameter>> {
    let mut out: Vec<Parameter> = Vec::with_capacity(raw.len());
    for (i, p) in raw.into_iter().enumerate() {
        let at = |key: &str| format!("parameters[{i}].{key}");
        let name = p.name.ok_or_else(|| {
            ManifestError::invalid(at("name"), "missing: every parameter needs a name")
        })?;
        if !is_valid_parameter_name(&name) {
            return Err(ManifestError::invalid(
                at("name"),
                format!("{name:?} is not a valid name: {PARAMETER_NAME_RULE}"),
            ));
        }
        if let Some(j) = out.iter().position(|q| q.name == name) {
            return Err(ManifestError::invalid(
                at("name"),
                format!("{name:?} is declared twice (also parameters[{j}])"),
            ));
        }
        let options = match p.options {
            None => Vec::new(),
            Some(options) => {
                if options.is_empty() {
                    return Err(ManifestError::invalid(
                        at("options"),
                        "must not be empty (leave options out to allow any value)",
                    ));
                }
                let mut seen = BTreeSet::new();
                for (k, option) in options.iter().enumerate() {
                    if let Some(reason) = value_rule(option) {
                        return Err(ManifestError::invalid(
                            format!("parameters[{i}].options[{k}]"),
                            format!("{option:?} {reason}"),
                        ));
                    }
                    if !seen.insert(option.as_str()) {
                        return Err(ManifestError::invalid(
                            at("options"),
                            format!("{option:?} is listed twice"),
                        ));
                    }
                }
                options
            }
        };
        if let Some(default) = &p.default {
            if let Some(reason) = value_rule(default) {
                return Err(ManifestError::invalid(
                    at("default"),
                    format!("{default:?} {reason}"),
                ));
            }
            if !options.is_empty() && !options.contains(default) {
                return Err(ManifestError::invalid(
                    at("default"),
                    format!("{default:?} is not one of the options {options:?}"),
                ));
            }
        }
        out.push(Parameter {
            name,
            default: p.default,
            options,
            mutable: p.mutable.unwrap_or(false),
            description: p.description,
        });
    }
    Ok(out)
}

fn instances_value(field: &str, n: i64) -> Result<u32> {
    if !(0..=MAX_INSTANCES).contains(&n) {
        return Err(ManifestError::invalid(
            field,
            format!("{n} is out of range: must be between 0 and {MAX_INSTANCES}"),
        ));
    }
    // In range 0..=MAX_INSTANCES, so the conversion cannot fail.
    Ok(u32::try_from(n).unwrap_or_default())
}

fn validate_presets(raw: Vec<raw::Preset>, manifest: &Manifest) -> Result<Vec<Preset>> {
    let mut out: Vec<Preset> = Vec::with_capacity(raw.len());
    for (i, p) in raw.into_iter().enumerate() {
        let at = |key: &str| format!("presets[{i}].{key}");
        let name = p.name.ok_or_else(|| {
            ManifestError::invalid(at("name"), "missing: every preset needs a name")
        })?;
        if name.trim().is_empty() {
            return Err(ManifestError::invalid(at("name"), "must not be empty"));
        }
        let len = name.chars().count();
        if len > MAX_PRESET_NAME_LEN {
            return Err(ManifestError::invalid(
                at("name"),
                format!("{name:?} is {len} characters long: must be at most {MAX_PRESET_NAME_LEN}"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ManifestError::invalid(
                at("name"),
                format!("{name:?} must not contain control characters"),
            ));
        }
        if let Some(j) = out.iter().position(|q| q.name == name) {
            return Err(ManifestError::invalid(
                at("name"),
                format!("{name:?} is declared twice (also presets[{j}])"),
            ));
        }

        let parameters = p.parameters.unwrap_or_default();
        for (key, value) in &parameters {
            let field = if is_valid_parameter_name(key) {
                format!("presets[{i}].parameters.{key}")
            } else {
                format!("presets[{i}].parameters.{key:?}")
            };
            let Some(param) = manifest.parameter(key) else {
                return Err(ManifestError::invalid(
                    field,
                    format!("{key:?} is not a declared parameter"),
                ));
            };
            if let Some(reason) = value_rule(value) {
                return Err(ManifestError::invalid(field, format!("{value:?} {reason}")));
            }
            if !param.options.is_empty() && !param.options.contains(value) {
                return Err(ManifestError::invalid(
                    field,
                    format!("{value:?} is not one of the options {:?}", param.options),
                ));
            }
        }

        let prebuilds = match p.prebuilds {
            None => Prebuilds::default(),
            Some(raw) => validate_prebuilds(i, &name, raw)?,
        };
        if prebuilds.is_enabled() {
            // A prebuild is built before anybody asks for it, so nobody can
            // supply a missing value then.
            if let Some(param) = manifest
                .parameters
                .iter()
                .find(|q| q.is_required() && !parameters.contains_key(&q.name))
            {
                return Err(ManifestError::invalid(
                    at("parameters"),
                    format!(
                        "required parameter {:?} has no value: a preset with prebuilds must set every parameter that has no default",
                        param.name
                    ),
                ));
            }
        }
        out.push(Preset {
            name,
            parameters,
            prebuilds,
        });
    }
    Ok(out)
}

fn validate_prebuilds(i: usize, name: &str, raw: raw::Prebuilds) -> Result<Prebuilds> {
    let at = |key: &str| format!("presets[{i}].prebuilds.{key}");
    let instances = instances_value(&at("instances"), raw.instances.unwrap_or(0))?;
    let expiration = match raw.expiration {
        None => None,
        Some(text) => {
            let d = duration_value(&at("expiration"), &text)?;
            if d < SignedDuration::from_hours(1) {
                return Err(ManifestError::invalid(
                    at("expiration"),
                    format!("{text:?} is too short: must be at least 1h"),
                ));
            }
            Some(d)
        }
    };
    let scheduling = match raw.scheduling {
        None => None,
        Some(s) => {
            let tz_field = at("scheduling.timezone");
            let timezone = s.timezone.ok_or_else(|| {
                ManifestError::invalid(
                    &tz_field,
                    "missing: scheduling needs an IANA time zone such as \"Europe/Berlin\"",
                )
            })?;
            // "Local" would make the pool follow whatever machine the
            // server runs on; schedules must mean the same everywhere. The
            // zone is kept as the database spells it.
            let timezone = match dayshift_schedule::load_zone(timezone.trim()) {
                Ok((canonical, _)) => canonical,
                Err(dayshift_schedule::CronError::MachineZone { .. }) => {
                    return Err(ManifestError::invalid(
                        &tz_field,
                        format!("{timezone:?} is not allowed: name an IANA time zone such as \"Europe/Berlin\""),
                    ))
                }
                Err(_) => {
                    return Err(ManifestError::invalid(
                        &tz_field,
                        format!("{timezone:?} is not a known IANA time zone"),
                    ))
                }
            };
            let mut schedule = Vec::new();
            let mut parsed = Vec::new();
            for (k, entry) in s.schedule.unwrap_or_default().into_iter().enumerate() {
                let entry_at =
                    |key: &str| format!("presets[{i}].prebuilds.scheduling.schedule[{k}].{key}");
                let cron = entry.cron.ok_or_else(|| {
                    ManifestError::invalid(
                        entry_at("cron"),
                        "missing: every schedule needs a cron expression",
                    )
                })?;
                let parsed_cron = Schedule::parse_in_zone(&cron, &timezone)
                    .map_err(|e| ManifestError::invalid(entry_at("cron"), e.to_string()))?;
                let instances = entry.instances.ok_or_else(|| {
                    ManifestError::invalid(
                        entry_at("instances"),
                        "missing: every schedule needs the number of instances it wants",
                    )
                })?;
                let instances = instances_value(&entry_at("instances"), instances)?;
                schedule.push(PrebuildSchedule { cron, instances });
                parsed.push(parsed_cron);
            }
            let scheduling = PrebuildScheduling { timezone, schedule };
            check_overlaps(i, name, &scheduling, &parsed)?;
            Some(scheduling)
        }
    };
    Ok(Prebuilds {
        instances,
        expiration,
        scheduling,
    })
}

/// Schedules of one preset must not overlap, or the desired count at a
/// shared instant would be ambiguous (DESIGN §3). Every pair is compared.
fn check_overlaps(
    i: usize,
    name: &str,
    scheduling: &PrebuildScheduling,
    parsed: &[Schedule],
) -> Result<()> {
    for a in 0..parsed.len() {
        for b in a + 1..parsed.len() {
            if let Some(at) = parsed[a].overlaps(&parsed[b]) {
                let mut message = format!(
                    "presets[{i}] {name:?}: schedules [{a}] {:?} and [{b}] {:?} overlap",
                    scheduling.schedule[a].cron, scheduling.schedule[b].cron
                );
                // The zone was loaded during validation; should that ever
                // fail here, the instant is still worth showing in UTC.
                match dayshift_schedule::load_zone(&scheduling.timezone) {
                    Ok((_, tz)) => {
                        let _ = write!(message, ", e.g. at {}", at.to_zoned(tz));
                    }
                    Err(_) => {
                        let _ = write!(message, ", e.g. at {at}");
                    }
                }
                return Err(ManifestError::Invalid {
                    field: format!("presets[{i}].prebuilds.scheduling.schedule"),
                    message,
                });
            }
        }
    }
    Ok(())
}
