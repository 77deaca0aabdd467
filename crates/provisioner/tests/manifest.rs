//! `dayshift.toml` parsing: one test per rule, with the exact message a
//! template author sees.

use std::collections::BTreeMap;

use dayshift_provisioner::{Manifest, ManifestError, ParameterError, Provisioner, Transition};
use jiff::SignedDuration;

fn err(toml: &str) -> String {
    match Manifest::parse(toml) {
        Ok(m) => panic!("expected an error, got {m:#?}"),
        Err(e) => e.to_string(),
    }
}

fn field(toml: &str) -> Option<String> {
    Manifest::parse(toml)
        .err()
        .and_then(|e| e.field().map(str::to_string))
}

const SCRIPT: &str = "provisioner = \"script\"\n[script]\nstart = \"./start.sh\"\n";
const ECHO: &str = "provisioner = \"echo\"\n";

fn with_params(params: &str) -> String {
    format!("{ECHO}{params}")
}

const REGION: &str = r#"
[[parameters]]
name = "region"
default = "eu"
options = ["eu", "us"]
"#;

fn preset(body: &str) -> String {
    format!("{ECHO}{REGION}{body}")
}

#[test]
fn the_design_example_parses() {
    let toml = r#"
provisioner = "script"
connect = "ssh -p 2222 dev@localhost"

[script]
start = "./start.sh"
stop = "./stop.sh"
delete = "./delete.sh"
timeout = "10m"

[[parameters]]
name = "region"
default = "eu"
options = ["eu", "us"]
mutable = false

[[presets]]
name = "eu-small"
parameters = { region = "eu" }
[presets.prebuilds]
instances = 0
expiration = "24h"
[presets.prebuilds.scheduling]
timezone = "Europe/Berlin"
[[presets.prebuilds.scheduling.schedule]]
cron = "* 8-18 * * 1-5"
instances = 3
"#;
    let m = Manifest::parse(toml).unwrap();
    let Provisioner::Script(script) = &m.provisioner else {
        panic!("not script: {m:?}")
    };
    assert_eq!(script.start, "./start.sh");
    assert_eq!(script.stop.as_deref(), Some("./stop.sh"));
    assert_eq!(script.delete.as_deref(), Some("./delete.sh"));
    assert_eq!(script.timeout, SignedDuration::from_mins(10));
    assert_eq!(m.connect.as_deref(), Some("ssh -p 2222 dev@localhost"));
    assert_eq!(m.parameters.len(), 1);
    assert_eq!(m.parameters[0].env_name(), "DAYSHIFT_PARAM_REGION");
    assert!(!m.parameters[0].mutable);
    let p = m.preset("eu-small").unwrap();
    assert_eq!(p.parameters.get("region").map(String::as_str), Some("eu"));
    assert_eq!(p.prebuilds.instances, 0);
    assert_eq!(p.prebuilds.expiration, Some(SignedDuration::from_hours(24)));
    let s = p.prebuilds.scheduling.as_ref().unwrap();
    assert_eq!(s.timezone, "Europe/Berlin");
    assert_eq!(s.schedule[0].cron, "* 8-18 * * 1-5");
    assert_eq!(s.schedule[0].instances, 3);
    assert!(p.prebuilds.is_enabled());
    assert!(m.preset("nope").is_none());

    // The server stores manifests as JSON; they must come back unchanged.
    let json = serde_json::to_string(&m).unwrap();
    let back: Manifest = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);
}

#[test]
fn defaults() {
    let m = Manifest::parse(SCRIPT).unwrap();
    let Provisioner::Script(script) = &m.provisioner else {
        panic!()
    };
    assert_eq!(script.timeout, SignedDuration::from_mins(10));
    assert_eq!(script.stop, None);
    assert_eq!(script.delete, None);
    assert_eq!(m.connect, None);

    let m = Manifest::parse(ECHO).unwrap();
    let Provisioner::Echo(echo) = &m.provisioner else {
        panic!()
    };
    assert!(echo.fail.is_empty());
    assert_eq!(echo.duration, SignedDuration::ZERO);

    let m = Manifest::parse(&with_params("[[parameters]]\nname = \"x\"\n")).unwrap();
    assert!(m.parameters[0].is_required());
    assert!(!m.parameters[0].mutable);
    assert!(m.parameters[0].options.is_empty());

    let m = Manifest::parse(&preset("[[presets]]\nname = \"p\"\n")).unwrap();
    assert_eq!(m.presets[0].prebuilds.instances, 0);
    assert!(!m.presets[0].prebuilds.is_enabled());
}

#[test]
fn echo_settings() {
    let m = Manifest::parse(&format!(
        "{ECHO}[echo]\nfail = [\"start\", \"delete\"]\nduration = \"2s\"\n"
    ))
    .unwrap();
    let Provisioner::Echo(echo) = &m.provisioner else {
        panic!()
    };
    assert_eq!(echo.fail, vec![Transition::Start, Transition::Delete]);
    assert_eq!(echo.duration, SignedDuration::from_secs(2));
}

#[test]
fn toml_syntax_errors_keep_line_and_column() {
    let e = err("provisioner = \"echo\"\nconnect = \n");
    assert!(e.contains("line 2, column"), "{e}");
    assert!(matches!(
        Manifest::parse("x = ").unwrap_err(),
        ManifestError::Toml(_)
    ));
}

#[test]
fn unknown_keys_are_refused_with_their_location() {
    let e = err(&format!("{SCRIPT}timout = \"5m\"\n"));
    assert!(e.contains("unknown field `timout`"), "{e}");
    assert!(e.contains("line 4"), "{e}");
    let e = err(&format!("{ECHO}provisoner = \"echo\"\n"));
    assert!(e.contains("unknown field `provisoner`"), "{e}");
    let e = err(&preset(
        "[[presets]]\nname = \"p\"\n[presets.prebuilds]\ninstance = 1\n",
    ));
    assert!(e.contains("unknown field `instance`"), "{e}");
}

#[test]
fn wrong_types_are_refused_by_toml() {
    let e = err(&format!(
        "{ECHO}[[parameters]]\nname = \"x\"\ndefault = 3\n"
    ));
    assert!(e.contains("invalid type: integer `3`"), "{e}");
    assert!(e.contains("line 4"), "{e}");
}

#[test]
fn provisioner_rules() {
    assert_eq!(
        err("connect = \"sh\"\n"),
        r#"provisioner: missing: must be "script" or "echo""#
    );
    assert_eq!(
        err("provisioner = \"docker\"\n"),
        r#"provisioner: "docker" is not a provisioner: must be "script" or "echo""#
    );
    assert_eq!(
        err("provisioner = \"script\"\n"),
        r#"script: missing: provisioner "script" needs a [script] section with a start command"#
    );
    assert_eq!(
        err("provisioner = \"script\"\n[script]\nstop = \"./stop.sh\"\n"),
        r#"script.start: missing: provisioner "script" needs a start command"#
    );
    assert_eq!(
        err("provisioner = \"script\"\n[script]\nstart = \"  \"\n"),
        "script.start: must not be empty (leave the key out to make the transition a no-op)"
    );
    assert_eq!(
        err(&format!("{SCRIPT}stop = \"\"\n")),
        "script.stop: must not be empty (leave the key out to make the transition a no-op)"
    );
    assert_eq!(
        err(&format!("{SCRIPT}[echo]\n")),
        r#"echo: not allowed with provisioner "script": remove the [echo] section"#
    );
    assert_eq!(
        err(&format!("{ECHO}[script]\nstart = \"x\"\n")),
        r#"script: not allowed with provisioner "echo": remove the [script] section"#
    );
    assert_eq!(
        err(&format!("{ECHO}connect = \"\"\n")),
        "connect: must not be empty (leave connect out if there is nothing to run)"
    );
}

#[test]
fn script_timeout_rules() {
    assert_eq!(
        err(&format!("{SCRIPT}timeout = \"ten\"\n")),
        r#"script.timeout: invalid duration "ten": expected a number before each unit"#
    );
    assert_eq!(
        field(&format!("{SCRIPT}timeout = \"ten\"\n")).as_deref(),
        Some("script.timeout")
    );
    assert_eq!(
        err(&format!("{SCRIPT}timeout = \"0s\"\n")),
        r#"script.timeout: "0s" must be greater than 0"#
    );
}

#[test]
fn echo_rules() {
    assert_eq!(
        err(&format!("{ECHO}[echo]\nfail = [\"start\", \"restart\"]\n")),
        r#"echo.fail[1]: "restart" is not a transition: must be one of "start", "stop", "delete""#
    );
    assert_eq!(
        err(&format!("{ECHO}[echo]\nduration = \"-1m\"\n")),
        r#"echo.duration: invalid duration "-1m": must not be negative"#
    );
}

#[test]
fn parameter_rules() {
    assert_eq!(
        err(&with_params("[[parameters]]\ndefault = \"x\"\n")),
        "parameters[0].name: missing: every parameter needs a name"
    );
    assert_eq!(
        err(&with_params("[[parameters]]\nname = \"Region\"\n")),
        r#"parameters[0].name: "Region" is not a valid name: must match ^[a-z][a-z0-9_]{0,63}$ (a lowercase letter, then up to 63 lowercase letters, digits or underscores)"#
    );
    for bad in ["", "1x", "a-b", "a b", "é", &"a".repeat(65)] {
        let toml = with_params(&format!("[[parameters]]\nname = {bad:?}\n"));
        assert_eq!(
            field(&toml).as_deref(),
            Some("parameters[0].name"),
            "{bad:?}"
        );
    }
    Manifest::parse(&with_params(&format!(
        "[[parameters]]\nname = \"{}\"\n",
        "a".repeat(64)
    )))
    .unwrap();
    assert_eq!(
        err(&with_params(
            "[[parameters]]\nname = \"x\"\n[[parameters]]\nname = \"y\"\n[[parameters]]\nname = \"x\"\n"
        )),
        r#"parameters[2].name: "x" is declared twice (also parameters[0])"#
    );
    assert_eq!(
        err(&with_params(
            "[[parameters]]\nname = \"a\"\n[[parameters]]\nname = \"b\"\n[[parameters]]\nname = \"region\"\ndefault = \"asia\"\noptions = [\"eu\", \"us\"]\n"
        )),
        r#"parameters[2].default: "asia" is not one of the options ["eu", "us"]"#
    );
    assert_eq!(
        err(&with_params(
            "[[parameters]]\nname = \"region\"\noptions = [\"eu\", \"us\", \"eu\"]\n"
        )),
        r#"parameters[0].options: "eu" is listed twice"#
    );
    assert_eq!(
        err(&with_params(
            "[[parameters]]\nname = \"region\"\noptions = []\n"
        )),
        "parameters[0].options: must not be empty (leave options out to allow any value)"
    );
    assert_eq!(
        err(&with_params(
            "[[parameters]]\nname = \"x\"\ndefault = \"a\\u0000b\"\n"
        )),
        r#"parameters[0].default: "a\0b" must not contain a NUL byte"#
    );
}

#[test]
fn preset_rules() {
    assert_eq!(
        err(&preset("[[presets]]\nparameters = { region = \"eu\" }\n")),
        "presets[0].name: missing: every preset needs a name"
    );
    assert_eq!(
        err(&preset("[[presets]]\nname = \"\"\n")),
        "presets[0].name: must not be empty"
    );
    let long = "p".repeat(65);
    assert_eq!(
        err(&preset(&format!("[[presets]]\nname = \"{long}\"\n"))),
        format!("presets[0].name: {long:?} is 65 characters long: must be at most 64")
    );
    Manifest::parse(&preset(&format!(
        "[[presets]]\nname = \"{}\"\n",
        "p".repeat(64)
    )))
    .unwrap();
    assert_eq!(
        err(&preset(
            "[[presets]]\nname = \"a\"\n[[presets]]\nname = \"a\"\n"
        )),
        r#"presets[1].name: "a" is declared twice (also presets[0])"#
    );
    assert_eq!(
        err(&preset(
            "[[presets]]\nname = \"a\"\nparameters = { zone = \"x\" }\n"
        )),
        r#"presets[0].parameters.zone: "zone" is not a declared parameter"#
    );
    assert_eq!(
        err(&preset(
            "[[presets]]\nname = \"a\"\nparameters = { region = \"asia\" }\n"
        )),
        r#"presets[0].parameters.region: "asia" is not one of the options ["eu", "us"]"#
    );
}

#[test]
fn prebuild_rules() {
    let base = "[[presets]]\nname = \"a\"\n[presets.prebuilds]\n";
    assert_eq!(
        err(&preset(&format!("{base}instances = -1\n"))),
        "presets[0].prebuilds.instances: -1 is out of range: must be between 0 and 10000"
    );
    assert_eq!(
        err(&preset(&format!("{base}expiration = \"30m\"\n"))),
        r#"presets[0].prebuilds.expiration: "30m" is too short: must be at least 1h"#
    );
    Manifest::parse(&preset(&format!("{base}expiration = \"1h\"\n"))).unwrap();

    // A prebuild is built before anybody can supply a value.
    let toml = format!(
        "{ECHO}[[parameters]]\nname = \"size\"\n[[presets]]\nname = \"a\"\n[presets.prebuilds]\ninstances = 1\n"
    );
    assert_eq!(
        err(&toml),
        r#"presets[0].parameters: required parameter "size" has no value: a preset with prebuilds must set every parameter that has no default"#
    );
    // Without prebuilds the user supplies it at creation.
    Manifest::parse(&format!(
        "{ECHO}[[parameters]]\nname = \"size\"\n[[presets]]\nname = \"a\"\n"
    ))
    .unwrap();
}

#[test]
fn scheduling_rules() {
    let base = "[[presets]]\nname = \"eu-small\"\n[presets.prebuilds]\ninstances = 1\n[presets.prebuilds.scheduling]\n";
    assert_eq!(
        err(&preset(base)),
        r#"presets[0].prebuilds.scheduling.timezone: missing: scheduling needs an IANA time zone such as "Europe/Berlin""#
    );
    assert_eq!(
        err(&preset(&format!("{base}timezone = \"Mars/Olympus\"\n"))),
        r#"presets[0].prebuilds.scheduling.timezone: "Mars/Olympus" is not a known IANA time zone"#
    );
    assert_eq!(
        err(&preset(&format!("{base}timezone = \"Local\"\n"))),
        r#"presets[0].prebuilds.scheduling.timezone: "Local" is not allowed: name an IANA time zone such as "Europe/Berlin""#
    );
    let zone = format!("{base}timezone = \"Europe/Berlin\"\n");
    let entry = "[[presets.prebuilds.scheduling.schedule]]\n";
    assert_eq!(
        err(&preset(&format!("{zone}{entry}instances = 1\n"))),
        "presets[0].prebuilds.scheduling.schedule[0].cron: missing: every schedule needs a cron expression"
    );
    assert_eq!(
        err(&preset(&format!("{zone}{entry}cron = \"* 8-18 * * 1-5\"\n"))),
        "presets[0].prebuilds.scheduling.schedule[0].instances: missing: every schedule needs the number of instances it wants"
    );
    assert_eq!(
        err(&preset(&format!(
            "{zone}{entry}cron = \"* 8-18 * * 1-5\"\ninstances = 20000\n"
        ))),
        "presets[0].prebuilds.scheduling.schedule[0].instances: 20000 is out of range: must be between 0 and 10000"
    );
    assert_eq!(
        err(&preset(&format!(
            "{zone}{entry}cron = \"* 8-18 * * 1-5\"\ninstances = 2\n{entry}cron = \"0 25 * * *\"\ninstances = 1\n"
        ))),
        r#"presets[0].prebuilds.scheduling.schedule[1].cron: invalid hour "25": must be 0-23"#
    );
}

#[test]
fn overlapping_schedules_are_refused_naming_both_and_an_instant() {
    let toml = preset(
        r#"
[[presets]]
name = "eu-small"
[presets.prebuilds]
instances = 1
[presets.prebuilds.scheduling]
timezone = "Europe/Berlin"
[[presets.prebuilds.scheduling.schedule]]
cron = "* 8-18 * * 1-5"
instances = 3
[[presets.prebuilds.scheduling.schedule]]
cron = "0 12 * * *"
instances = 1
"#,
    );
    let e = Manifest::parse(&toml).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"presets[0] "eu-small": schedules [0] "* 8-18 * * 1-5" and [1] "0 12 * * *" overlap, e.g. at 2024-01-01T12:00:00+01:00[Europe/Berlin]"#
    );
    assert_eq!(e.field(), Some("presets[0].prebuilds.scheduling.schedule"));
}

#[test]
fn disjoint_schedules_are_fine() {
    let toml = preset(
        r#"
[[presets]]
name = "eu-small"
[presets.prebuilds.scheduling]
timezone = "Europe/Berlin"
[[presets.prebuilds.scheduling.schedule]]
cron = "* 8-11 * * 1-5"
instances = 3
[[presets.prebuilds.scheduling.schedule]]
cron = "* 13-17 * * 1-5"
instances = 2
"#,
    );
    let m = Manifest::parse(&toml).unwrap();
    assert_eq!(
        m.presets[0]
            .prebuilds
            .scheduling
            .as_ref()
            .unwrap()
            .schedule
            .len(),
        2
    );
}

fn params_manifest() -> Manifest {
    Manifest::parse(&with_params(
        r#"
[[parameters]]
name = "region"
default = "eu"
options = ["eu", "us"]
[[parameters]]
name = "size"
[[parameters]]
name = "note"
default = ""
"#,
    ))
    .unwrap()
}

fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn resolve_fills_defaults() {
    let m = params_manifest();
    let got = m.resolve_parameters(&given(&[("size", "large")])).unwrap();
    assert_eq!(
        got,
        given(&[("region", "eu"), ("size", "large"), ("note", "")])
    );
    let got = m
        .resolve_parameters(&given(&[("size", "s"), ("region", "us"), ("note", "$(x)")]))
        .unwrap();
    assert_eq!(got["region"], "us");
    assert_eq!(got["note"], "$(x)");
}

#[test]
fn resolve_errors_name_parameter_value_and_rule() {
    let m = params_manifest();
    let e = m
        .resolve_parameters(&given(&[("size", "s"), ("zone", "x")]))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"unknown parameter "zone": the template declares ["region", "size", "note"]"#
    );
    assert_eq!(e.parameter(), "zone");

    let e = m.resolve_parameters(&BTreeMap::new()).unwrap_err();
    assert_eq!(
        e,
        ParameterError::Missing {
            name: "size".into()
        }
    );
    assert_eq!(
        e.to_string(),
        r#"missing parameter "size": it has no default, so a value is required"#
    );

    let e = m
        .resolve_parameters(&given(&[("size", "s"), ("region", "asia")]))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"parameter "region": "asia" is not one of the options ["eu", "us"]"#
    );

    let e = m
        .resolve_parameters(&given(&[("size", "a\0b")]))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"parameter "size": value must not contain a NUL byte"#
    );

    let e = m
        .resolve_parameters(&given(&[("size", &"x".repeat(16 * 1024 + 1))]))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"parameter "size": value is 16385 bytes long: must be at most 16384"#
    );

    let none = Manifest::parse(ECHO).unwrap();
    let e = none.resolve_parameters(&given(&[("x", "1")])).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"unknown parameter "x": the template declares no parameters"#
    );
}

#[test]
fn example_templates_parse() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/templates");
    for name in ["echo", "local-process"] {
        let text = std::fs::read_to_string(format!("{root}/{name}/dayshift.toml")).unwrap();
        let m = Manifest::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(m.connect.is_some(), "{name}");
    }
}
