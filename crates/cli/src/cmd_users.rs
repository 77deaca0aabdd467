//! `dayshift login` and `dayshift users`.

use std::io::{BufRead, Write};

use anyhow::{anyhow, bail, Context, Result};
use dayshift_sdk::{Client, CreateFirstUserRequest, CreateUserRequest, LoginRequest, Role};

use crate::args::{LoginArgs, RoleArg, UsersCreateArgs};
use crate::config::ConfigDir;
use crate::ctx::Ctx;
use crate::output::{print_json, stdin_is_terminal};

pub async fn login(args: LoginArgs) -> Result<()> {
    let url = normalise_url(&args.server_url)?;
    let client = Client::new(&url);

    let first_user = match (
        args.first_user_username,
        args.first_user_email,
        args.first_user_password,
    ) {
        (Some(username), Some(email), Some(password)) => Some(CreateFirstUserRequest {
            username,
            email,
            password,
        }),
        _ => None,
    };
    if let Some(req) = &first_user {
        let user = client.create_first_user(req).await?;
        eprintln!("Created the first user, {} (owner).", user.username);
    }

    let (username, password) = match (&first_user, args.username) {
        // Log in as the first user unless told otherwise.
        (Some(first), None) => (first.username.clone(), first.password.clone()),
        (_, username) => {
            let username = match username {
                Some(u) => u,
                None => prompt_line("Username: ")?,
            };
            let password = match args.password {
                Some(p) => p,
                None => password_from_env_or_prompt()?,
            };
            (username, password)
        }
    };

    let resp = client.login(&LoginRequest { username, password }).await?;
    let config = ConfigDir::from_env()?;
    config.save(&url, &resp.session_token)?;
    println!("Logged in to {url} as {}.", resp.user.username);
    Ok(())
}

/// Ends the session on the server, then forgets it locally. A session the
/// server no longer knows (expired, ended elsewhere) is forgotten all the
/// same.
pub async fn logout(ctx: &Ctx) -> Result<()> {
    let client = ctx.client()?;
    let ended = match client.logout().await {
        Ok(()) => true,
        Err(e) if e.status().is_some_and(|s| s.as_u16() == 401) => false,
        Err(e) => return Err(e.into()),
    };
    let config = ConfigDir::from_env()?;
    let saved = config.session()?;
    if saved.as_deref() == client.token() {
        config.forget_session()?;
    }
    if ended {
        println!("Logged out of {}.", client.base_url());
    } else {
        println!(
            "The session had already ended on {}; forgotten.",
            client.base_url()
        );
    }
    Ok(())
}

/// The user the session belongs to.
pub async fn whoami(ctx: &Ctx) -> Result<()> {
    let client = ctx.client()?;
    let user = client.me().await?;
    if ctx.json() {
        return print_json(&user);
    }
    println!(
        "{} ({}, {}) on {}",
        user.username,
        role_name(user.role),
        user.email,
        client.base_url()
    );
    Ok(())
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Member => "member",
    }
}

fn normalise_url(input: &str) -> Result<String> {
    let url = input.trim().trim_end_matches('/');
    if url.is_empty() {
        bail!("the server URL is empty");
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.to_string())
    } else if url.contains("://") {
        bail!("unsupported server URL {input:?}: use http:// or https://")
    } else {
        Ok(format!("http://{url}"))
    }
}

fn password_from_env_or_prompt() -> Result<String> {
    if let Some(p) = std::env::var("DAYSHIFT_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
    {
        return Ok(p);
    }
    if !stdin_is_terminal() {
        bail!("no password: pass --password or set DAYSHIFT_PASSWORD (there is no terminal to ask on)");
    }
    rpassword::prompt_password("Password: ").context("cannot read the password")
}

fn prompt_line(prompt: &str) -> Result<String> {
    if !stdin_is_terminal() {
        bail!("no username: pass --username (there is no terminal to ask on)");
    }
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read from the terminal")?;
    let line = line.trim().to_string();
    if line.is_empty() {
        return Err(anyhow!("no username given"));
    }
    Ok(line)
}

pub async fn create(ctx: &Ctx, args: UsersCreateArgs) -> Result<()> {
    let client = ctx.client()?;
    let user = client
        .create_user(&CreateUserRequest {
            username: args.username,
            email: args.email,
            password: args.password,
            role: args.role.map(|r| match r {
                RoleArg::Owner => Role::Owner,
                RoleArg::Member => Role::Member,
            }),
        })
        .await?;
    if ctx.json() {
        return print_json(&user);
    }
    println!("Created user {} ({}).", user.username, role_name(user.role));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            normalise_url("http://127.0.0.1:7080/").unwrap(),
            "http://127.0.0.1:7080"
        );
        assert_eq!(
            normalise_url("127.0.0.1:7080").unwrap(),
            "http://127.0.0.1:7080"
        );
        assert_eq!(
            normalise_url("https://x.example").unwrap(),
            "https://x.example"
        );
        assert!(normalise_url("ftp://x").is_err());
        assert!(normalise_url("  ").is_err());
    }
}
