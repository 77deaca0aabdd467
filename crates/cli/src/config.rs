//! The client's saved state: the server URL and the session token, one file
//! each in the config directory (`DAYSHIFT_CONFIG_DIR`, default
//! `~/.config/dayshift`). The session file is private (mode 0600).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub struct ConfigDir {
    path: PathBuf,
}

impl ConfigDir {
    /// The directory named by `DAYSHIFT_CONFIG_DIR`, else
    /// `$XDG_CONFIG_HOME/dayshift`, else `~/.config/dayshift`.
    pub fn from_env() -> Result<ConfigDir> {
        let path = config_dir_from(
            std::env::var_os("DAYSHIFT_CONFIG_DIR").map(PathBuf::from),
            std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from),
            std::env::var_os("HOME").map(PathBuf::from),
        )
        .context("cannot find a config directory: set DAYSHIFT_CONFIG_DIR or HOME")?;
        Ok(ConfigDir { path })
    }

    #[cfg(test)]
    pub fn at(path: impl Into<PathBuf>) -> ConfigDir {
        ConfigDir { path: path.into() }
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn url(&self) -> Result<Option<String>> {
        self.read("url")
    }

    pub fn session(&self) -> Result<Option<String>> {
        self.read("session")
    }

    pub fn save(&self, url: &str, session: &str) -> Result<()> {
        create_private_dir(&self.path)?;
        write_file(&self.path.join("url"), url, 0o644)?;
        write_file(&self.path.join("session"), session, 0o600)?;
        Ok(())
    }

    /// Forgets the saved session (the server URL stays for the next login).
    pub fn forget_session(&self) -> Result<()> {
        let file = self.path.join("session");
        match fs::remove_file(&file) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", file.display())),
        }
    }

    fn read(&self, name: &str) -> Result<Option<String>> {
        let file = self.path.join(name);
        match fs::read_to_string(&file) {
            Ok(text) => {
                let text = text.trim();
                Ok((!text.is_empty()).then(|| text.to_string()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
        }
    }
}

pub fn config_dir_from(
    explicit: Option<PathBuf>,
    xdg_config_home: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Option<PathBuf> {
    let non_empty = |p: Option<PathBuf>| p.filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = non_empty(explicit) {
        return Some(dir);
    }
    if let Some(dir) = non_empty(xdg_config_home) {
        return Some(dir.join("dayshift"));
    }
    non_empty(home).map(|h| h.join(".config").join("dayshift"))
}

/// The server's default data directory: `$XDG_DATA_HOME/dayshift`, else
/// `~/.local/share/dayshift`.
pub fn default_data_dir() -> Result<PathBuf> {
    data_dir_from(
        std::env::var_os("XDG_DATA_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
    .context("cannot find a data directory: pass --data-dir or set DAYSHIFT_DATA_DIR")
}

pub fn data_dir_from(xdg_data_home: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    let non_empty = |p: Option<PathBuf>| p.filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = non_empty(xdg_data_home) {
        return Some(dir.join("dayshift"));
    }
    non_empty(home).map(|h| h.join(".local").join("share").join("dayshift"))
}

fn create_private_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .with_context(|| format!("cannot create {}", path.display()))
    }
    #[cfg(not(unix))]
    {
        fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))
    }
}

fn write_file(path: &Path, content: &str, mode: u32) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // An existing file keeps its old mode on open: set it explicitly.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set the permissions of {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(content.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_dir_precedence() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(
            config_dir_from(p("/c"), p("/x"), p("/h")),
            p("/c"),
            "DAYSHIFT_CONFIG_DIR wins"
        );
        assert_eq!(config_dir_from(None, p("/x"), p("/h")), p("/x/dayshift"));
        assert_eq!(
            config_dir_from(p(""), p(""), p("/h")),
            p("/h/.config/dayshift")
        );
        assert_eq!(config_dir_from(None, None, None), None);
    }

    #[test]
    fn data_dir_precedence() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(data_dir_from(p("/x"), p("/h")), p("/x/dayshift"));
        assert_eq!(data_dir_from(None, p("/h")), p("/h/.local/share/dayshift"));
        assert_eq!(data_dir_from(None, None), None);
    }

    #[test]
    fn save_and_read_back_with_private_session() {
        let dir = tempfile::tempdir().unwrap();
        let config = ConfigDir::at(dir.path().join("nested/dayshift"));
        assert_eq!(config.url().unwrap(), None);
        assert_eq!(config.session().unwrap(), None);
        config
            .save("http://127.0.0.1:7080", "secret-token")
            .unwrap();
        assert_eq!(
            config.url().unwrap().as_deref(),
            Some("http://127.0.0.1:7080")
        );
        assert_eq!(config.session().unwrap().as_deref(), Some("secret-token"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(config.path().join("session"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Saving again overwrites.
        config.save("http://other", "t2").unwrap();
        assert_eq!(config.session().unwrap().as_deref(), Some("t2"));
    }
}
