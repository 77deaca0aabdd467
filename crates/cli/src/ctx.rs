//! What every client command needs: the global flags, an authenticated
//! client, and workspace name resolution.

use anyhow::{anyhow, Result};
use dayshift_sdk::{Client, ClientError, ServerTimed, Workspace};
use jiff::Timestamp;

use crate::args::{GlobalArgs, OutputFormat};
use crate::config::ConfigDir;

pub struct Ctx {
    pub global: GlobalArgs,
}

impl Ctx {
    pub fn json(&self) -> bool {
        self.global.output == OutputFormat::Json
    }

    /// A client for the server given by `--url` / `DAYSHIFT_URL` or saved by
    /// `dayshift login`, with the session token likewise.
    pub fn client(&self) -> Result<Client> {
        let config = ConfigDir::from_env()?;
        let url = match non_empty(self.global.url.clone()) {
            Some(url) => url,
            None => config.url()?.ok_or_else(|| {
                anyhow!("not logged in: run 'dayshift login URL' first (or set DAYSHIFT_URL and DAYSHIFT_SESSION_TOKEN)")
            })?,
        };
        let token = match non_empty(self.global.token.clone()) {
            Some(token) => token,
            None => config.session()?.ok_or_else(|| {
                anyhow!("not logged in to {url}: run 'dayshift login {url}' first (or set DAYSHIFT_SESSION_TOKEN)")
            })?,
        };
        Ok(Client::new(&url).with_token(token))
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

/// `name` (own workspace) or `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceRef {
    pub owner: Option<String>,
    pub name: String,
}

impl WorkspaceRef {
    pub fn parse(input: &str) -> Result<WorkspaceRef> {
        let input = input.trim();
        let (owner, name) = match input.split_once('/') {
            Some((owner, name)) => (Some(owner), name),
            None => (None, input),
        };
        if name.is_empty() || name.contains('/') || owner.is_some_and(str::is_empty) {
            return Err(anyhow!(
                "invalid workspace {input:?}: expected NAME or OWNER/NAME"
            ));
        }
        Ok(WorkspaceRef {
            owner: owner.map(str::to_string),
            name: name.to_string(),
        })
    }

    /// The user segment of `/users/{user}/workspace/{name}`.
    pub fn user(&self) -> &str {
        self.owner.as_deref().unwrap_or("me")
    }
}

/// Fetches a workspace by `name` or `owner/name`, with the server's clock.
pub async fn resolve_workspace(client: &Client, input: &str) -> Result<(Workspace, Timestamp)> {
    let r = WorkspaceRef::parse(input)?;
    let ServerTimed { value, server_time } =
        client.workspace_by_name_timed(r.user(), &r.name).await?;
    Ok((value, server_time.unwrap_or_else(Timestamp::now)))
}

/// `owner/name`.
pub fn display_name(ws: &Workspace) -> String {
    format!("{}/{}", ws.owner_name, ws.name)
}

pub fn is_not_found(e: &ClientError) -> bool {
    e.status().is_some_and(|s| s.as_u16() == 404)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_refs() {
        assert_eq!(
            WorkspaceRef::parse("dev").unwrap(),
            WorkspaceRef {
                owner: None,
                name: "dev".into()
            }
        );
        let r = WorkspaceRef::parse("alice/dev").unwrap();
        assert_eq!(r.owner.as_deref(), Some("alice"));
        assert_eq!(r.user(), "alice");
        assert_eq!(WorkspaceRef::parse("dev").unwrap().user(), "me");
        assert!(WorkspaceRef::parse("").is_err());
        assert!(WorkspaceRef::parse("/dev").is_err());
        assert!(WorkspaceRef::parse("alice/").is_err());
        assert!(WorkspaceRef::parse("a/b/c").is_err());
    }
}
