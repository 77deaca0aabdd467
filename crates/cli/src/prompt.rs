//! Questions on a terminal, as Coder's CLI asks them: only when stdin and
//! stderr are a terminal and `-y` was not given. Without a terminal nothing
//! is asked: a missing answer is an error naming the flag that gives it.
//! What to ask is decided by pure functions, tested without a terminal.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use dayshift_sdk::{Preset, TemplateParameter};
use dialoguer::theme::{ColorfulTheme, SimpleTheme, Theme};
use dialoguer::{Confirm, Input, Select};

use crate::output::{color_enabled, stderr_is_terminal, stdin_is_terminal};

pub struct Prompter {
    interactive: bool,
}

impl Prompter {
    /// Asks only on a terminal and without `-y`.
    pub fn new(yes: bool) -> Prompter {
        Prompter {
            interactive: !yes && stdin_is_terminal() && stderr_is_terminal(),
        }
    }

    pub fn interactive(&self) -> bool {
        self.interactive
    }

    fn theme(&self) -> Box<dyn Theme> {
        if color_enabled() {
            Box::new(ColorfulTheme::default())
        } else {
            Box::new(SimpleTheme)
        }
    }

    /// Asks a yes/no question (default no). Without a terminal (or with
    /// `-y`) the answer is yes: the command line already said what to do.
    pub fn confirm(&self, question: &str) -> Result<bool> {
        if !self.interactive {
            return Ok(true);
        }
        Confirm::with_theme(self.theme().as_ref())
            .with_prompt(question)
            .default(false)
            .interact()
            .context("cannot read the answer")
    }

    /// Chooses one of `items`; `what` names the flag that answers the
    /// question without a terminal.
    pub fn select(&self, question: &str, items: &[String], flag: &str) -> Result<usize> {
        if !self.interactive {
            bail!(
                "missing {flag}: pass it (one of: {}); there is no terminal to ask on",
                items.join(", ")
            );
        }
        Select::with_theme(self.theme().as_ref())
            .with_prompt(question)
            .items(items)
            .default(0)
            .interact()
            .context("cannot read the answer")
    }

    /// A value for `parameter`, which has no default.
    pub fn parameter(&self, parameter: &TemplateParameter) -> Result<String> {
        if !self.interactive {
            bail!("{}", missing_parameter_text(parameter));
        }
        let question = match &parameter.description {
            Some(d) => format!("{} ({d})", parameter.name),
            None => parameter.name.clone(),
        };
        if !parameter.options.is_empty() {
            let index = Select::with_theme(self.theme().as_ref())
                .with_prompt(question)
                .items(&parameter.options)
                .default(0)
                .interact()
                .context("cannot read the answer")?;
            return Ok(parameter.options[index].clone());
        }
        Input::<String>::with_theme(self.theme().as_ref())
            .with_prompt(question)
            .interact_text()
            .context("cannot read the answer")
    }
}

/// The error for a parameter nobody gave a value for, naming the flag.
pub fn missing_parameter_text(parameter: &TemplateParameter) -> String {
    let mut text = format!(
        "missing parameter {:?} (it has no default): pass --parameter {}=VALUE",
        parameter.name, parameter.name
    );
    if !parameter.options.is_empty() {
        text.push_str(&format!(" (one of: {})", parameter.options.join(", ")));
    }
    text
}

/// The parameters that still need a value: declared, without a default,
/// and given by none of `known` (the flags, the chosen preset, the values
/// the workspace already has).
pub fn unanswered<'a>(
    parameters: &'a [TemplateParameter],
    known: &[&BTreeMap<String, String>],
) -> Vec<&'a TemplateParameter> {
    parameters
        .iter()
        .filter(|p| p.default.is_none())
        .filter(|p| !known.iter().any(|values| values.contains_key(&p.name)))
        .collect()
}

/// The choices `create` offers for `--preset`: each preset with what it
/// sets, then "none".
pub fn preset_choices(presets: &[Preset]) -> Vec<String> {
    let mut items: Vec<String> = presets
        .iter()
        .map(|p| {
            let values: Vec<String> = p
                .parameters
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if values.is_empty() {
                p.name.clone()
            } else {
                format!("{} ({})", p.name, values.join(", "))
            }
        })
        .collect();
    items.push("none".to_string());
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(name: &str, default: Option<&str>, options: &[&str]) -> TemplateParameter {
        TemplateParameter {
            name: name.into(),
            default: default.map(str::to_string),
            options: options.iter().map(|o| o.to_string()).collect(),
            mutable: false,
            description: None,
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_parameters_without_a_value_or_default_are_asked() {
        let params = [
            param("region", Some("eu"), &["eu", "us"]),
            param("team", None, &[]),
            param("zone", None, &["a", "b"]),
        ];
        let names = |asked: Vec<&TemplateParameter>| -> Vec<String> {
            asked.iter().map(|p| p.name.clone()).collect()
        };
        assert_eq!(names(unanswered(&params, &[])), vec!["team", "zone"]);
        let flags = map(&[("team", "infra")]);
        let preset = map(&[("zone", "a")]);
        assert!(unanswered(&params, &[&flags, &preset]).is_empty());
        assert_eq!(names(unanswered(&params, &[&flags])), vec!["zone"]);
    }

    #[test]
    fn without_a_terminal_the_flag_is_named() {
        let prompter = Prompter { interactive: false };
        let err = prompter
            .parameter(&param("zone", None, &["a", "b"]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "missing parameter \"zone\" (it has no default): pass --parameter zone=VALUE (one of: a, b)"
        );
        let err = prompter
            .select("Template", &["echo".into(), "local".into()], "--template")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("missing --template") && err.contains("echo, local"),
            "{err}"
        );
        assert!(
            prompter.confirm("Delete?").unwrap(),
            "no terminal: the command line decided"
        );
    }

    #[test]
    fn presets_are_offered_with_what_they_set_then_none() {
        let presets = [Preset {
            id: "p1".into(),
            name: "eu-small".into(),
            parameters: map(&[("region", "eu"), ("size", "small")]),
            prebuild_instances: 1,
        }];
        assert_eq!(
            preset_choices(&presets),
            vec!["eu-small (region=eu, size=small)", "none"]
        );
    }
}
