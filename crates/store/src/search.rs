//! The workspace search language of `GET /workspaces?q=` (DESIGN §7),
//! Coder-style: whitespace-separated terms, all of which must hold.
//!
//! `owner:NAME` (`owner:me`), `template:NAME`, `status:STATUS`,
//! `name:SUBSTRING`, `outdated:true|false`, `dormant:true|false`; a bare
//! word is `name:`. Parsing is a pure function; the store turns a
//! [`WorkspaceQuery`] into an index range scan.

use std::str::FromStr;

use crate::WorkspaceStatus;

/// A parsed workspace search. Every field set narrows the result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspaceQuery {
    /// Only workspaces of this owner (username; `owner:me` is resolved).
    pub owner: Option<String>,
    /// Only workspaces of this template (name).
    pub template: Option<String>,
    /// Only workspaces whose latest build has this status.
    pub status: Option<WorkspaceStatus>,
    /// Substrings the name must contain (each of them).
    pub name_contains: Vec<String>,
    /// Only workspaces whose latest build is (or is not) on another
    /// version than the template's active one.
    pub outdated: Option<bool>,
    /// Only dormant (or only not dormant) workspaces.
    pub dormant: Option<bool>,
    /// Access restriction, not part of the language: callers who may see
    /// only their own workspaces set it to their username. ANDed with
    /// `owner`, so `owner:someone-else` then matches nothing.
    pub visible_to: Option<String>,
}

/// A search term the language does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("search term {term:?}: {reason}")]
pub struct SearchError {
    /// The term as written.
    pub term: String,
    pub reason: String,
}

impl WorkspaceQuery {
    /// Parses `q`; `me` is the username `owner:me` stands for.
    pub fn parse(q: &str, me: &str) -> Result<WorkspaceQuery, SearchError> {
        let mut query = WorkspaceQuery::default();
        for term in q.split_whitespace() {
            let error = |reason: String| SearchError {
                term: term.to_string(),
                reason,
            };
            let (key, value) = match term.split_once(':') {
                Some((key, value)) => (key.to_ascii_lowercase(), value),
                None => ("name".to_string(), term),
            };
            if value.is_empty() {
                return Err(error(format!("{key}: needs a value")));
            }
            let once = |slot_is_set: bool| {
                if slot_is_set {
                    Err(error(format!("{key}: is given more than once")))
                } else {
                    Ok(())
                }
            };
            match key.as_str() {
                "owner" => {
                    once(query.owner.is_some())?;
                    query.owner = Some(if value == "me" { me } else { value }.to_string());
                }
                "template" => {
                    once(query.template.is_some())?;
                    query.template = Some(value.to_string());
                }
                "status" => {
                    once(query.status.is_some())?;
                    let status =
                        WorkspaceStatus::from_str(&value.to_ascii_lowercase()).map_err(|_| {
                            error(format!(
                                "unknown status {value:?} (one of {})",
                                WorkspaceStatus::ALL
                                    .iter()
                                    .map(|s| s.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ))
                        })?;
                    query.status = Some(status);
                }
                // Names are lowercase, so matching is case-insensitive.
                "name" => query.name_contains.push(value.to_ascii_lowercase()),
                "outdated" => {
                    once(query.outdated.is_some())?;
                    query.outdated = Some(parse_bool(value).map_err(error)?);
                }
                "dormant" => {
                    once(query.dormant.is_some())?;
                    query.dormant = Some(parse_bool(value).map_err(error)?);
                }
                other => {
                    return Err(error(format!(
                        "unknown filter {other:?} (one of owner, template, status, name, \
                         outdated, dormant)"
                    )))
                }
            }
        }
        Ok(query)
    }
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{value:?} is not true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_term_parses_and_terms_are_anded() {
        let q = WorkspaceQuery::parse(
            "owner:me template:go status:Running name:api web outdated:true dormant:FALSE",
            "alice",
        )
        .unwrap();
        assert_eq!(
            q,
            WorkspaceQuery {
                owner: Some("alice".into()),
                template: Some("go".into()),
                status: Some(WorkspaceStatus::Running),
                name_contains: vec!["api".into(), "web".into()],
                outdated: Some(true),
                dormant: Some(false),
                visible_to: None,
            }
        );
        assert_eq!(
            WorkspaceQuery::parse("  ", "alice").unwrap(),
            WorkspaceQuery::default()
        );
        assert_eq!(
            WorkspaceQuery::parse("owner:bob", "alice").unwrap().owner,
            Some("bob".into())
        );
    }

    #[test]
    fn bad_terms_are_named() {
        for (q, term, says) in [
            ("status:sleeping", "status:sleeping", "unknown status"),
            ("owner:a colour:red", "colour:red", "unknown filter"),
            ("outdated:yes", "outdated:yes", "not true or false"),
            ("dormant:", "dormant:", "needs a value"),
            ("owner:a owner:b", "owner:b", "more than once"),
        ] {
            let err = WorkspaceQuery::parse(q, "me").unwrap_err();
            assert_eq!(err.term, term, "{q}");
            assert!(err.reason.contains(says), "{q}: {err}");
            assert!(err.to_string().contains(term), "{err}");
        }
    }

    proptest! {
        /// Parsing never panics, and an error always names a term of the input.
        #[test]
        fn parse_is_total_and_errors_name_an_input_term(q in "[a-z:A-Z _-]{0,40}") {
            if let Err(err) = WorkspaceQuery::parse(&q, "me") {
                prop_assert!(q.split_whitespace().any(|t| t == err.term));
            }
        }

        /// Bare words and `name:` terms are the same filter.
        #[test]
        fn bare_words_are_name_terms(words in proptest::collection::vec("[a-z0-9-]{1,8}", 0..5)) {
            let bare = WorkspaceQuery::parse(&words.join(" "), "me").unwrap();
            let named: Vec<String> = words.iter().map(|w| format!("name:{w}")).collect();
            prop_assert_eq!(&bare, &WorkspaceQuery::parse(&named.join(" "), "me").unwrap());
            prop_assert_eq!(bare.name_contains, words);
        }
    }
}
