//! The uploaded template directory, stored in the database as one blob and
//! extracted to disk for a build.
//!
//! A bundle comes from a user's upload, so everything about it is untrusted:
//! paths are checked to stay inside the directory they are extracted to,
//! sizes are capped, and only regular files and permission bits are kept.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use dayshift_store::{NewPreset, NewTemplateVersion, PresetSchedule, PresetScheduling};

use crate::manifest::{Manifest, ManifestError, Preset};

fn new_preset(p: &Preset) -> NewPreset {
    NewPreset {
        name: p.name.clone(),
        parameters: p.parameters.clone(),
        prebuild_instances: i64::from(p.prebuilds.instances),
        expiration: p.prebuilds.expiration,
        scheduling: p.prebuilds.scheduling.as_ref().map(|s| PresetScheduling {
            timezone: s.timezone.clone(),
            schedule: s
                .schedule
                .iter()
                .map(|e| PresetSchedule {
                    cron: e.cron.clone(),
                    instances: i64::from(e.instances),
                })
                .collect(),
        }),
    }
}

/// The manifest's file name at the bundle's root.
pub const MANIFEST_FILE: &str = "dayshift.toml";
/// Most files one bundle may hold.
pub const MAX_FILES: usize = 1000;
/// Most bytes of file content one bundle may hold.
pub const MAX_TOTAL_BYTES: usize = 16 * 1024 * 1024;
/// Longest path accepted (bytes), well below any file system's limit.
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest path component (file or directory name) accepted, in bytes:
/// the limit of Linux file systems, so nothing accepted at push fails to
/// extract at build time.
pub const MAX_NAME_BYTES: usize = 255;

/// A template directory: regular files with their permission bits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateBundle {
    pub files: Vec<BundleFile>,
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleFile {
    /// Relative, `/`-separated, normalised (`scripts/start.sh`).
    pub path: String,
    /// Permission bits only (`0o755`); no setuid, setgid or sticky bits.
    pub mode: u32,
    #[serde(with = "base64_bytes")]
    pub content: Vec<u8>,
}

/// Why a bundle was refused or could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    #[error("{path:?}: mode {mode:#o} is not allowed: only permission bits (at most 0o777)")]
    InvalidMode { path: String, mode: u32 },
    #[error("{path:?} appears twice")]
    Duplicate { path: String },
    #[error("{path:?} is both a file and a directory")]
    FileIsDirectory { path: String },
    #[error("too many files: {count}, at most {} allowed", MAX_FILES)]
    TooManyFiles { count: usize },
    #[error(
        "template directory is {} MiB; the limit is {} MiB",
        mebibytes(*bytes),
        mebibytes(MAX_TOTAL_BYTES)
    )]
    TooLarge { bytes: usize },
    #[error("no dayshift.toml at the top of the template directory")]
    NoManifest,
    #[error("dayshift.toml is not valid UTF-8")]
    ManifestNotUtf8,
    #[error("dayshift.toml: {0}")]
    Manifest(#[from] ManifestError),
    #[error("{path}: {reason}")]
    Unsupported { path: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid bundle encoding: {0}")]
    Encoding(#[from] serde_json::Error),
}

/// Bytes in MiB for messages: from 100 MiB on rounded to whole MiB; below,
/// rounded up to a tenth (whole when whole), so a size just over the limit
/// never reads as the limit.
pub fn mebibytes(bytes: usize) -> String {
    const MIB: u128 = 1024 * 1024;
    let tenths = (bytes as u128 * 10).div_ceil(MIB);
    if tenths >= 1000 {
        format!("{}", (bytes as u128 + MIB / 2) / MIB)
    } else if tenths.is_multiple_of(10) {
        format!("{}", tenths / 10)
    } else {
        format!("{}.{}", tenths / 10, tenths % 10)
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Checks one bundle path: relative, `/`-separated, no empty, `.` or `..`
/// components, no NUL or backslash (which another platform would read as a
/// separator).
fn check_path(path: &str) -> Result<(), BundleError> {
    let bad = |reason: &str| BundleError::InvalidPath {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    if path.is_empty() {
        return Err(bad("must not be empty"));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(bad(&format!("longer than {MAX_PATH_BYTES} bytes")));
    }
    if path.starts_with('/') {
        return Err(bad("must be relative"));
    }
    if path.contains('\0') {
        return Err(bad("must not contain a NUL byte"));
    }
    if path.chars().any(char::is_control) {
        return Err(bad("must not contain control characters"));
    }
    if path.contains('\\') {
        return Err(bad("must use / as separator, not \\"));
    }
    for component in path.split('/') {
        match component {
            "" => return Err(bad("must be normalised (no empty components)")),
            "." => return Err(bad("must be normalised (no . components)")),
            ".." => return Err(bad("must not contain ..")),
            name if name.len() > MAX_NAME_BYTES => {
                return Err(bad(&format!(
                    "the name {}… is {} bytes long; the limit is {MAX_NAME_BYTES}",
                    name.chars().take(16).collect::<String>(),
                    name.len()
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

impl TemplateBundle {
    /// The template version to store for this upload: validated, its
    /// manifest parsed, presets ready for the prebuild pools. The one place
    /// an upload becomes a version (API pushes, tests and benchmarks).
    pub fn new_version(&self, created_by: &str) -> Result<NewTemplateVersion, BundleError> {
        self.validate()?;
        let manifest = self.manifest()?;
        Ok(NewTemplateVersion {
            created_by: created_by.to_string(),
            provisioner: manifest.provisioner.name().to_string(),
            connect: manifest.connect.clone(),
            manifest_json: serde_json::to_string(&manifest)?,
            bundle: self.to_bytes()?,
            presets: manifest.presets.iter().map(new_preset).collect(),
        })
    }

    /// Serialises for storage (JSON, file contents in base64).
    pub fn to_bytes(&self) -> Result<Vec<u8>, BundleError> {
        Ok(serde_json::to_vec(self)?)
    }

    /// Reads what [`TemplateBundle::to_bytes`] wrote, and validates it.
    pub fn from_bytes(bytes: &[u8]) -> Result<TemplateBundle, BundleError> {
        let bundle: TemplateBundle = serde_json::from_slice(bytes)?;
        bundle.validate()?;
        Ok(bundle)
    }

    /// Checks paths, modes, limits and the presence of `dayshift.toml`
    /// (not its content: see [`TemplateBundle::manifest`]).
    pub fn validate(&self) -> Result<(), BundleError> {
        if self.files.len() > MAX_FILES {
            return Err(BundleError::TooManyFiles {
                count: self.files.len(),
            });
        }
        let total: usize = self.files.iter().map(|f| f.content.len()).sum();
        if total > MAX_TOTAL_BYTES {
            return Err(BundleError::TooLarge { bytes: total });
        }
        let mut files = BTreeSet::new();
        for file in &self.files {
            check_path(&file.path)?;
            if file.mode & !0o777 != 0 {
                return Err(BundleError::InvalidMode {
                    path: file.path.clone(),
                    mode: file.mode,
                });
            }
            if !files.insert(file.path.as_str()) {
                return Err(BundleError::Duplicate {
                    path: file.path.clone(),
                });
            }
        }
        // "a" and "a/b" cannot both be extracted: "a" would have to be a
        // file and a directory at once.
        for file in &self.files {
            let mut prefix = file.path.as_str();
            while let Some((parent, _)) = prefix.rsplit_once('/') {
                if files.contains(parent) {
                    return Err(BundleError::FileIsDirectory {
                        path: parent.to_string(),
                    });
                }
                prefix = parent;
            }
        }
        if !files.contains(MANIFEST_FILE) {
            return Err(BundleError::NoManifest);
        }
        Ok(())
    }

    /// The file at `path`, if the bundle has it.
    pub fn file(&self, path: &str) -> Option<&BundleFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// Parses and validates the bundle's `dayshift.toml`.
    pub fn manifest(&self) -> Result<Manifest, BundleError> {
        let file = self.file(MANIFEST_FILE).ok_or(BundleError::NoManifest)?;
        let text = std::str::from_utf8(&file.content).map_err(|_| BundleError::ManifestNotUtf8)?;
        Ok(Manifest::parse(text)?)
    }

    /// Reads a template directory. Directories whose name starts with a dot
    /// (`.git`, `.terraform`) are skipped; symbolic links and other special
    /// files are refused rather than followed, so a bundle can never pick up
    /// files from outside the directory.
    pub fn from_dir(dir: &Path) -> Result<TemplateBundle, BundleError> {
        let mut bundle = TemplateBundle::default();
        let mut total = 0usize;
        collect(dir, "", &mut bundle, &mut total)?;
        if total > MAX_TOTAL_BYTES {
            return Err(BundleError::TooLarge { bytes: total });
        }
        bundle.files.sort_by(|a, b| a.path.cmp(&b.path));
        bundle.validate()?;
        Ok(bundle)
    }

    /// Writes the files below `dir` (created if missing) with their modes.
    /// Refuses any path that would land outside `dir`, including through a
    /// symbolic link already present in `dir`.
    /// Directories are private to the daemon's user (0700): templates may
    /// hold credentials.
    pub fn extract_to(&self, dir: &Path) -> Result<(), BundleError> {
        self.validate()?;
        create_private_dir_all(dir).map_err(io_err(dir))?;
        for file in &self.files {
            let mut target = PathBuf::from(dir);
            let components: Vec<&str> = file.path.split('/').collect();
            let (name, parents) = match components.split_last() {
                Some(split) => split,
                None => {
                    return Err(BundleError::InvalidPath {
                        path: file.path.clone(),
                        reason: "must not be empty".into(),
                    })
                }
            };
            for parent in parents {
                target.push(parent);
                match fs::symlink_metadata(&target) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(_) => {
                        return Err(BundleError::InvalidPath {
                            path: file.path.clone(),
                            reason: format!("{} exists and is not a directory", target.display()),
                        })
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        create_private_dir(&target).map_err(io_err(&target))?;
                    }
                    Err(e) => return Err(io_err(&target)(e)),
                }
            }
            target.push(name);
            // Belt and braces: validation already refused every escaping
            // component, so this only trips if that ever regresses.
            if !target.starts_with(dir)
                || target
                    .components()
                    .any(|c| matches!(c, Component::ParentDir))
            {
                return Err(BundleError::InvalidPath {
                    path: file.path.clone(),
                    reason: "escapes the target directory".into(),
                });
            }
            match fs::symlink_metadata(&target) {
                Ok(meta) if meta.is_file() => {
                    fs::remove_file(&target).map_err(io_err(&target))?;
                }
                Ok(_) => {
                    return Err(BundleError::InvalidPath {
                        path: file.path.clone(),
                        reason: format!("{} exists and is not a regular file", target.display()),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&target)(e)),
            }
            // create_new + O_NOFOLLOW: never write through a link that
            // appeared after the check above.
            let mut out = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(file.mode)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&target)
                .map_err(io_err(&target))?;
            out.write_all(&file.content).map_err(io_err(&target))?;
            // The umask applies to `mode` above; set the exact bits so a
            // 0o755 script stays executable whatever the umask.
            fs::set_permissions(&target, fs::Permissions::from_mode(file.mode))
                .map_err(io_err(&target))?;
        }
        Ok(())
    }
}

/// Creates `dir` and missing parents with mode 0700 (whatever the umask),
/// and makes an existing `dir` private too.
pub fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().mode(0o700).create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

fn collect(
    dir: &Path,
    prefix: &str,
    bundle: &mut TemplateBundle,
    total: &mut usize,
) -> Result<(), BundleError> {
    let mut entries = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_err(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(BundleError::Unsupported {
                path: path.display().to_string(),
                reason: "file name is not valid UTF-8".into(),
            });
        };
        let rel = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        // symlink_metadata: look at the link itself, never its target.
        let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            if name.starts_with('.') {
                continue;
            }
            collect(&path, &rel, bundle, total)?;
        } else if kind.is_file() {
            // Stop early rather than read a huge directory into memory only
            // to refuse it afterwards.
            if bundle.files.len() >= MAX_FILES {
                return Err(BundleError::TooManyFiles {
                    count: bundle.files.len() + 1,
                });
            }
            let size = usize::try_from(meta.len()).unwrap_or(usize::MAX);
            *total = total.saturating_add(size);
            if *total > MAX_TOTAL_BYTES {
                // Go on adding sizes (reading nothing more), so the error
                // says how large the directory is.
                continue;
            }
            let content = fs::read(&path).map_err(io_err(&path))?;
            bundle.files.push(BundleFile {
                path: rel,
                mode: meta.permissions().mode() & 0o777,
                content,
            });
        } else if kind.is_symlink() {
            return Err(BundleError::Unsupported {
                path: rel,
                reason: "is a symbolic link: template directories may hold only regular files and directories".into(),
            });
        } else {
            return Err(BundleError::Unsupported {
                path: rel,
                reason: "is not a regular file or directory".into(),
            });
        }
    }
    Ok(())
}

/// File contents as base64 strings in JSON: compact and valid UTF-8
/// whatever the bytes are.
mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}
