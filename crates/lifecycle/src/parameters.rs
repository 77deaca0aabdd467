//! The parameters of a new start build of an existing workspace (`dayshift
//! update`, `dayshift start --parameter`): what carries over, what may
//! change, what must be given. A pure function; the API handler only
//! reads the versions and applies the answer.

use std::collections::BTreeMap;

/// A parameter as the target template version declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterSpec {
    pub name: String,
    pub default: Option<String>,
    pub mutable: bool,
}

/// Why the parameters of a new build were refused; each names the
/// parameter.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ParameterRefusal {
    #[error(
        "parameter {name:?} is immutable: it stays {current:?} for the life of the workspace \
         (asked for {requested:?})"
    )]
    Immutable {
        name: String,
        current: String,
        requested: String,
    },
    #[error("{name:?} is not a parameter of this template version (it has: {})", declared.join(", "))]
    Unknown { name: String, declared: Vec<String> },
    #[error("parameter {name:?} is new in this template version and has no default: give a value")]
    Missing { name: String },
}

impl ParameterRefusal {
    pub fn parameter(&self) -> &str {
        match self {
            ParameterRefusal::Immutable { name, .. }
            | ParameterRefusal::Unknown { name, .. }
            | ParameterRefusal::Missing { name } => name,
        }
    }
}

/// The parameter values of a new start build on the version declaring
/// `specs`: each value `requested` (a change, or the value of a parameter
/// new in this version), else the value of the `previous` build, else the
/// parameter's default. Values of parameters the version no longer
/// declares are dropped. Changing an immutable parameter's value is
/// refused; giving it its current value is not a change.
pub fn resolve_build_parameters(
    specs: &[ParameterSpec],
    previous: &BTreeMap<String, String>,
    requested: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ParameterRefusal> {
    if let Some(name) = requested
        .keys()
        .find(|name| !specs.iter().any(|s| &s.name == *name))
    {
        return Err(ParameterRefusal::Unknown {
            name: name.clone(),
            declared: specs.iter().map(|s| s.name.clone()).collect(),
        });
    }
    let mut resolved = BTreeMap::new();
    for spec in specs {
        let value = match (requested.get(&spec.name), previous.get(&spec.name)) {
            (Some(new), Some(current)) if new != current && !spec.mutable => {
                return Err(ParameterRefusal::Immutable {
                    name: spec.name.clone(),
                    current: current.clone(),
                    requested: new.clone(),
                })
            }
            (Some(new), _) => new.clone(),
            (None, Some(current)) => current.clone(),
            (None, None) => match &spec.default {
                Some(default) => default.clone(),
                None => {
                    return Err(ParameterRefusal::Missing {
                        name: spec.name.clone(),
                    })
                }
            },
        };
        resolved.insert(spec.name.clone(), value);
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, default: Option<&str>, mutable: bool) -> ParameterSpec {
        ParameterSpec {
            name: name.into(),
            default: default.map(str::to_string),
            mutable,
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn values_carry_over_and_new_ones_take_their_default() {
        let specs = [
            spec("region", Some("eu"), false),
            spec("size", Some("small"), true),
        ];
        let got = resolve_build_parameters(&specs, &map(&[("region", "us")]), &map(&[])).unwrap();
        assert_eq!(got, map(&[("region", "us"), ("size", "small")]));
    }

    #[test]
    fn dropped_parameters_disappear() {
        let specs = [spec("region", Some("eu"), false)];
        let got =
            resolve_build_parameters(&specs, &map(&[("region", "us"), ("old", "x")]), &map(&[]))
                .unwrap();
        assert_eq!(got, map(&[("region", "us")]));
    }

    #[test]
    fn mutable_parameters_change_immutable_ones_refuse() {
        let specs = [
            spec("region", Some("eu"), false),
            spec("size", Some("small"), true),
        ];
        let previous = map(&[("region", "eu"), ("size", "small")]);
        let got = resolve_build_parameters(&specs, &previous, &map(&[("size", "large")])).unwrap();
        assert_eq!(got, map(&[("region", "eu"), ("size", "large")]));
        // The current value again is not a change.
        let got = resolve_build_parameters(&specs, &previous, &map(&[("region", "eu")])).unwrap();
        assert_eq!(got, previous);
        let err =
            resolve_build_parameters(&specs, &previous, &map(&[("region", "us")])).unwrap_err();
        assert_eq!(
            err,
            ParameterRefusal::Immutable {
                name: "region".into(),
                current: "eu".into(),
                requested: "us".into()
            }
        );
        assert_eq!(err.parameter(), "region");
        assert!(err.to_string().contains("\"region\" is immutable"), "{err}");
    }

    #[test]
    fn new_required_parameters_must_be_given() {
        let specs = [spec("region", Some("eu"), false), spec("team", None, false)];
        let previous = map(&[("region", "eu")]);
        let err = resolve_build_parameters(&specs, &previous, &map(&[])).unwrap_err();
        assert_eq!(
            err,
            ParameterRefusal::Missing {
                name: "team".into()
            }
        );
        // A new immutable parameter takes its first value.
        let got = resolve_build_parameters(&specs, &previous, &map(&[("team", "infra")])).unwrap();
        assert_eq!(got, map(&[("region", "eu"), ("team", "infra")]));
    }

    #[test]
    fn unknown_parameters_are_refused() {
        let specs = [spec("region", Some("eu"), true)];
        let err =
            resolve_build_parameters(&specs, &map(&[]), &map(&[("colour", "red")])).unwrap_err();
        assert_eq!(err.parameter(), "colour");
        assert!(err.to_string().contains("it has: region"), "{err}");
    }
}
