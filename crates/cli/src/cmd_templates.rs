//! `dayshift templates push|list|edit`.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine;
use dayshift_sdk::{
    AutostartRequirement, AutostopRequirement, CreateTemplateRequest, CreateTemplateVersionRequest,
    Template, TemplateFile, UpdateTemplateRequest,
};

use dayshift_provisioner::bundle::{mebibytes, MAX_TOTAL_BYTES};
use dayshift_sdk::ClientError;

use crate::args::{TemplatesEditArgs, TemplatesPushArgs};
use crate::ctx::{is_not_found, Ctx};
use crate::format::{days_short, duration_ms_or_off, parse_days, parse_policy_duration};
use crate::output::{print_json, print_table};

pub async fn push(ctx: &Ctx, args: TemplatesPushArgs) -> Result<()> {
    let files = read_template_dir(&args.directory)?;
    let bytes: usize = files.iter().map(|f| decoded_len(&f.content_base64)).sum();
    let client = ctx.client()?;
    push_files(&client, &args, files).await.map_err(|e| {
        match e
            .downcast_ref::<ClientError>()
            .and_then(ClientError::status)
        {
            // A proxy in front of the server may have a smaller limit than
            // the server's: say so in the same words as the local check.
            Some(status) if status.as_u16() == 413 => anyhow::anyhow!(
                "template directory is {} MiB; the server refused it as too large (413)",
                mebibytes(bytes)
            ),
            _ => e,
        }
    })
}

/// The length of what a base64 text decodes to.
fn decoded_len(base64: &str) -> usize {
    let padding = base64.bytes().rev().take_while(|b| *b == b'=').count();
    (base64.len() / 4 * 3).saturating_sub(padding)
}

async fn push_files(
    client: &dayshift_sdk::Client,
    args: &TemplatesPushArgs,
    files: Vec<TemplateFile>,
) -> Result<()> {
    let version_id = match client.template(&args.name).await {
        Ok(template) => {
            let version = client
                .create_template_version(&template.id, &CreateTemplateVersionRequest { files })
                .await?;
            eprintln!(
                "Pushed a new version of template {}; it is now active.",
                template.name
            );
            version.id
        }
        Err(e) if is_not_found(&e) => {
            let template = client
                .create_template(&CreateTemplateRequest {
                    name: args.name.clone(),
                    files,
                })
                .await?;
            eprintln!("Created template {}.", template.name);
            template.active_version_id
        }
        Err(e) => return Err(e.into()),
    };
    println!("{version_id}");
    Ok(())
}

/// Reads a template directory: every regular file, recursively, with its
/// permission bits. Dot-directories (`.git`, ...) are skipped; symbolic
/// links are followed only when they stay inside the directory.
pub fn read_template_dir(dir: &Path) -> Result<Vec<TemplateFile>> {
    let root = fs::canonicalize(dir)
        .with_context(|| format!("cannot read template directory {}", dir.display()))?;
    if !root.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let mut files = Vec::new();
    let mut visited = HashSet::new();
    let mut total = 0usize;
    walk(&root, &root, &mut visited, &mut files, &mut total)?;
    // The server's limit, checked here before anything is uploaded.
    if total > MAX_TOTAL_BYTES {
        bail!(
            "template directory is {} MiB; the limit is {} MiB",
            mebibytes(total),
            mebibytes(MAX_TOTAL_BYTES)
        );
    }
    if files.is_empty() {
        bail!("template directory {} holds no files", dir.display());
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn walk(
    root: &Path,
    dir: &Path,
    visited: &mut HashSet<PathBuf>,
    out: &mut Vec<TemplateFile>,
    total: &mut usize,
) -> Result<()> {
    // `dir` is canonical here: a directory reached twice through links is
    // read once.
    if !visited.insert(dir.to_path_buf()) {
        return Ok(());
    }
    let entries = fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        let file_type = entry
            .file_type()
            .with_context(|| format!("cannot read {}", path.display()))?;
        let (real, is_dir) = if file_type.is_symlink() {
            let target = fs::canonicalize(&path)
                .with_context(|| format!("broken symbolic link {}", path.display()))?;
            if !target.starts_with(root) {
                bail!(
                    "symbolic link {} points outside the template directory (to {})",
                    path.display(),
                    target.display()
                );
            }
            let is_dir = target.is_dir();
            (target, is_dir)
        } else {
            (path.clone(), file_type.is_dir())
        };
        if is_dir {
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            walk(root, &real, visited, out, total)?;
            continue;
        }
        let meta =
            fs::metadata(&real).with_context(|| format!("cannot read {}", path.display()))?;
        if !meta.is_file() {
            // Sockets, FIFOs, devices: not template content.
            continue;
        }
        *total = total.saturating_add(usize::try_from(meta.len()).unwrap_or(usize::MAX));
        if *total > MAX_TOTAL_BYTES {
            // Too large already: only the sizes are still needed.
            continue;
        }
        let content = fs::read(&real).with_context(|| format!("cannot read {}", path.display()))?;
        // The path is the one inside the directory, as the user sees it.
        let logical = relative_path(root, dir, &path)?;
        out.push(TemplateFile {
            path: logical,
            mode: file_mode(&meta),
            content_base64: base64::engine::general_purpose::STANDARD.encode(content),
        });
    }
    Ok(())
}

/// `dir` is canonical and inside `root`; `path` is an entry of `dir`.
fn relative_path(root: &Path, dir: &Path, path: &Path) -> Result<String> {
    let parent = dir.strip_prefix(root).unwrap_or(Path::new(""));
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let rel = parent.join(name);
    let mut parts = Vec::new();
    for part in rel.components() {
        match part.as_os_str().to_str() {
            Some(s) => parts.push(s.to_string()),
            None => bail!("file name {} is not valid UTF-8", path.display()),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(unix)]
fn file_mode(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn file_mode(_meta: &fs::Metadata) -> u32 {
    0o644
}

pub async fn list(ctx: &Ctx) -> Result<()> {
    let client = ctx.client()?;
    let templates = client.templates().await?;
    if ctx.json() {
        return print_json(&templates);
    }
    print_table(
        [
            "NAME",
            "ACTIVE VERSION",
            "DEFAULT TTL",
            "ACTIVITY BUMP",
            "AUTOSTOP REQ",
            "AUTOSTART DAYS",
            "USER AUTOSTART",
            "USER AUTOSTOP",
            "FAILURE TTL",
            "DORMANCY",
            "AUTO-DELETE",
        ],
        templates.iter().map(template_row),
    );
    Ok(())
}

fn template_row(t: &Template) -> Vec<String> {
    vec![
        t.name.clone(),
        t.active_version_id.clone(),
        duration_ms_or_off(t.default_ttl_ms),
        duration_ms_or_off(t.activity_bump_ms),
        autostop_requirement(&t.autostop_requirement),
        days_short(&t.autostart_requirement.days_of_week),
        yes_no(t.allow_user_autostart),
        yes_no(t.allow_user_autostop),
        duration_ms_or_off(t.failure_ttl_ms),
        duration_ms_or_off(t.time_til_dormant_ms),
        duration_ms_or_off(t.time_til_dormant_autodelete_ms),
    ]
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

pub fn autostop_requirement(r: &AutostopRequirement) -> String {
    if r.days_of_week.is_empty() {
        return "-".to_string();
    }
    let days = days_short(&r.days_of_week);
    if r.weeks > 1 {
        format!("{days} every {} weeks", r.weeks)
    } else {
        days
    }
}

pub async fn edit(ctx: &Ctx, args: TemplatesEditArgs) -> Result<()> {
    let mut req = UpdateTemplateRequest {
        default_ttl_ms: args
            .default_ttl
            .as_deref()
            .map(parse_policy_duration)
            .transpose()?,
        activity_bump_ms: args
            .activity_bump
            .as_deref()
            .map(parse_policy_duration)
            .transpose()?,
        failure_ttl_ms: args
            .failure_ttl
            .as_deref()
            .map(parse_policy_duration)
            .transpose()?,
        time_til_dormant_ms: args
            .dormancy_threshold
            .as_deref()
            .map(parse_policy_duration)
            .transpose()?,
        time_til_dormant_autodelete_ms: args
            .dormancy_auto_deletion
            .as_deref()
            .map(parse_policy_duration)
            .transpose()?,
        autostop_requirement: None,
        autostart_requirement: args
            .autostart_requirement_weekdays
            .as_deref()
            .map(parse_days)
            .transpose()?
            .map(|days_of_week| AutostartRequirement { days_of_week }),
        allow_user_autostart: args.allow_user_autostart,
        allow_user_autostop: args.allow_user_autostop,
    };
    let stop_days = args
        .autostop_requirement_weekdays
        .as_deref()
        .map(parse_days)
        .transpose()?;
    let client = ctx.client()?;
    if stop_days.is_some() || args.autostop_requirement_weeks.is_some() {
        // The requirement is one object: fill in the half not given.
        let current = if stop_days.is_none() || args.autostop_requirement_weeks.is_none() {
            Some(client.template(&args.name).await?.autostop_requirement)
        } else {
            None
        };
        let days_of_week = match stop_days {
            Some(days) => days,
            None => current
                .as_ref()
                .map(|c| c.days_of_week.clone())
                .unwrap_or_default(),
        };
        let weeks = args
            .autostop_requirement_weeks
            .or(current.as_ref().map(|c| c.weeks))
            .unwrap_or(1)
            .max(1);
        req.autostop_requirement = Some(AutostopRequirement {
            days_of_week,
            weeks,
        });
    }
    if is_empty(&req) {
        bail!("nothing to change: pass at least one policy flag (see 'dayshift templates edit --help')");
    }
    let template = client.update_template(&args.name, &req).await?;
    if ctx.json() {
        return print_json(&template);
    }
    println!("Updated template {}.", template.name);
    print_table(
        ["POLICY", "VALUE"],
        [
            ["default TTL", &duration_ms_or_off(template.default_ttl_ms)],
            [
                "activity bump",
                &duration_ms_or_off(template.activity_bump_ms),
            ],
            [
                "autostop requirement",
                &autostop_requirement(&template.autostop_requirement),
            ],
            [
                "autostart days",
                &days_short(&template.autostart_requirement.days_of_week),
            ],
            [
                "allow user autostart",
                &yes_no(template.allow_user_autostart),
            ],
            ["allow user autostop", &yes_no(template.allow_user_autostop)],
            ["failure TTL", &duration_ms_or_off(template.failure_ttl_ms)],
            [
                "dormancy threshold",
                &duration_ms_or_off(template.time_til_dormant_ms),
            ],
            [
                "dormancy auto-deletion",
                &duration_ms_or_off(template.time_til_dormant_autodelete_ms),
            ],
        ]
        .map(|[k, v]| [k.to_string(), v.to_string()]),
    );
    Ok(())
}

fn is_empty(req: &UpdateTemplateRequest) -> bool {
    req.default_ttl_ms.is_none()
        && req.activity_bump_ms.is_none()
        && req.failure_ttl_ms.is_none()
        && req.time_til_dormant_ms.is_none()
        && req.time_til_dormant_autodelete_ms.is_none()
        && req.autostop_requirement.is_none()
        && req.autostart_requirement.is_none()
        && req.allow_user_autostart.is_none()
        && req.allow_user_autostop.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, content: &str) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(path, content).unwrap();
    }

    fn decode(f: &TemplateFile) -> String {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(&f.content_base64)
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn reads_files_recursively_skipping_dot_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("dayshift.toml"), "provisioner = \"echo\"\n");
        write(&root.join("scripts/start.sh"), "#!/bin/sh\necho hi\n");
        write(&root.join(".git/config"), "[core]\n");
        write(&root.join(".env"), "X=1\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(
                root.join("scripts/start.sh"),
                fs::Permissions::from_mode(0o755),
            )
            .unwrap();
        }
        let files = read_template_dir(root).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, vec![".env", "dayshift.toml", "scripts/start.sh"]);
        let start = &files[2];
        assert_eq!(decode(start), "#!/bin/sh\necho hi\n");
        #[cfg(unix)]
        assert_eq!(start.mode, 0o755);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_inside_are_followed_outside_refused() {
        let outside = tempfile::tempdir().unwrap();
        write(&outside.path().join("secret"), "nope");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("dayshift.toml"), "provisioner = \"echo\"\n");
        write(&root.join("lib/common.sh"), "common\n");
        std::os::unix::fs::symlink("lib/common.sh", root.join("common.sh")).unwrap();
        // A loop back to the root is read once, not forever.
        std::os::unix::fs::symlink("..", root.join("lib/up")).unwrap();
        let files = read_template_dir(root).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, vec!["common.sh", "dayshift.toml", "lib/common.sh"]);
        assert_eq!(decode(&files[0]), "common\n");

        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("leak")).unwrap();
        let err = read_template_dir(root).unwrap_err().to_string();
        assert!(
            err.contains("points outside the template directory"),
            "{err}"
        );
    }

    #[test]
    fn missing_or_empty_directory() {
        assert!(read_template_dir(Path::new("/nonexistent/dayshift-template")).is_err());
        let dir = tempfile::tempdir().unwrap();
        let err = read_template_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("holds no files"), "{err}");
    }

    #[test]
    fn autostop_requirement_text() {
        let r = |days: &[&str], weeks| AutostopRequirement {
            days_of_week: days.iter().map(|d| d.to_string()).collect(),
            weeks,
        };
        assert_eq!(autostop_requirement(&r(&[], 1)), "-");
        assert_eq!(autostop_requirement(&r(&["saturday"], 1)), "Sat");
        assert_eq!(
            autostop_requirement(&r(&["saturday", "sunday"], 2)),
            "Sat,Sun every 2 weeks"
        );
    }
}
