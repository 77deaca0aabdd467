//! Workspace state follows the workspace: after each build the daemon packs
//! the workspace's `DAYSHIFT_STATE_DIR` into a gzip-compressed tar, which
//! is stored with the build in the database; before the next build,
//! whichever daemon runs it (on any replica, or an external one) restores
//! it into a fresh directory. A start on one machine and its stop on
//! another therefore see the same files.
//!
//! Regular files, directories and symbolic links are kept (links as links,
//! never followed); sockets, pipes and devices are left out. Restored
//! directories and files have mode 0700: a state directory holds one
//! workspace's secrets and is nobody else's business on a shared machine.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Default of the largest packed (compressed) state a workspace may keep:
/// `--workspace-state-limit-mib 64`.
pub const DEFAULT_STATE_LIMIT: u64 = 64 * 1024 * 1024;

/// Restoring stops when the unpacked files grow past this multiple of the
/// limit: an archive that compresses better than that is not state but a
/// bomb.
const UNPACKED_FACTOR: u64 = 64;

/// Mode of every restored directory and file.
const STATE_MODE: u32 = 0o700;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "the workspace state directory is larger than the limit of {} once compressed \
         (the server's --workspace-state-limit-mib); the build fails and the workspace \
         keeps the state of its previous build",
        mib(*limit)
    )]
    TooLarge { limit: u64 },
    #[error("cannot pack the workspace state directory {}: {source}", dir.display())]
    Pack { dir: PathBuf, source: io::Error },
    #[error("cannot restore the workspace state into {}: {source}", dir.display())]
    Restore { dir: PathBuf, source: io::Error },
}

fn mib(bytes: u64) -> String {
    if bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{bytes} bytes")
    }
}

/// Packs `dir` (an absent directory packs as an empty one). Fails with
/// [`StateError::TooLarge`] as soon as the compressed archive passes
/// `limit` bytes, without reading the rest.
pub fn pack(dir: &Path, limit: u64) -> Result<Vec<u8>, StateError> {
    let too_large = |e: &io::Error| e.get_ref().is_some_and(|inner| inner.is::<LimitExceeded>());
    let wrap = |source: io::Error| {
        if too_large(&source) {
            StateError::TooLarge { limit }
        } else {
            StateError::Pack {
                dir: dir.to_path_buf(),
                source,
            }
        }
    };
    let output = LimitedWriter {
        bytes: Vec::new(),
        limit,
    };
    let encoder = flate2::write::GzEncoder::new(output, flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    if dir.is_dir() {
        append_tree(&mut builder, dir, Path::new("")).map_err(wrap)?;
    }
    let encoder = builder.into_inner().map_err(wrap)?;
    let output = encoder.finish().map_err(wrap)?;
    Ok(output.bytes)
}

/// Appends the entries under `dir` as `prefix/...`, depth first, in name
/// order (so equal trees pack alike).
fn append_tree<W: Write>(
    builder: &mut tar::Builder<W>,
    dir: &Path,
    prefix: &Path,
) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = prefix.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            builder.append_path_with_name(&path, &name)?;
            append_tree(builder, &path, &name)?;
        } else if kind.is_file() || kind.is_symlink() {
            builder.append_path_with_name(&path, &name)?;
        }
        // Sockets, pipes and devices are not state that can move.
    }
    Ok(())
}

/// Makes `dir` an empty directory (mode 0700, parents created) and, when
/// there is an archive, unpacks it there. Whatever `dir` held before is
/// removed: the stored state is the only truth.
pub fn restore(archive: Option<&[u8]>, dir: &Path, limit: u64) -> Result<(), StateError> {
    let wrap = |source: io::Error| StateError::Restore {
        dir: dir.to_path_buf(),
        source,
    };
    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(wrap(e)),
    }
    crate::bundle::create_private_dir_all(dir).map_err(wrap)?;
    let Some(archive) = archive else {
        return Ok(());
    };
    let unpacked_limit = limit.saturating_mul(UNPACKED_FACTOR);
    let decoder = flate2::read::GzDecoder::new(archive).take(unpacked_limit);
    let mut tar = tar::Archive::new(decoder);
    tar.set_preserve_permissions(false);
    tar.set_overwrite(true);
    // `unpack` refuses entries that would land outside `dir` (absolute
    // paths, `..`, links leading out).
    tar.unpack(dir).map_err(wrap)?;
    make_private(dir).map_err(wrap)
}

/// Sets mode 0700 on `dir` and every directory and regular file below it
/// (links are left alone: their mode means nothing).
fn make_private(dir: &Path) -> io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(STATE_MODE))?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            make_private(&entry.path())?;
        } else if kind.is_file() {
            fs::set_permissions(entry.path(), fs::Permissions::from_mode(STATE_MODE))?;
        }
    }
    Ok(())
}

/// The marker error of a [`LimitedWriter`] that ran out of room.
#[derive(Debug)]
struct LimitExceeded;

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("size limit exceeded")
    }
}

impl std::error::Error for LimitExceeded {}

/// Collects bytes up to `limit`, then fails every write.
struct LimitedWriter {
    bytes: Vec<u8>,
    limit: u64,
}

impl Write for LimitedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let len = self.bytes.len() as u64 + buf.len() as u64;
        if len > self.limit {
            return Err(io::Error::other(LimitExceeded));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_packed_tree_comes_back_private_with_links_as_links() {
        let tmp = tempfile::tempdir().unwrap();
        let from = tmp.path().join("from");
        fs::create_dir_all(from.join("sub/deeper")).unwrap();
        fs::write(from.join("pid"), "42\n").unwrap();
        fs::write(from.join("sub/deeper/notes"), "x".repeat(10_000)).unwrap();
        fs::set_permissions(from.join("pid"), fs::Permissions::from_mode(0o644)).unwrap();
        symlink("sub/deeper/notes", from.join("link")).unwrap();
        let archive = pack(&from, DEFAULT_STATE_LIMIT).unwrap();

        let to = tmp.path().join("elsewhere/state/ws");
        fs::create_dir_all(&to).unwrap();
        fs::write(to.join("stale"), "from an old build on this machine").unwrap();
        restore(Some(&archive), &to, DEFAULT_STATE_LIMIT).unwrap();

        assert_eq!(fs::read_to_string(to.join("pid")).unwrap(), "42\n");
        assert_eq!(
            fs::read_to_string(to.join("sub/deeper/notes"))
                .unwrap()
                .len(),
            10_000
        );
        assert_eq!(
            fs::read_link(to.join("link")).unwrap(),
            Path::new("sub/deeper/notes")
        );
        assert!(
            !to.join("stale").exists(),
            "the stored state is the only truth"
        );
        for path in [
            &to,
            &to.join("pid"),
            &to.join("sub"),
            &to.join("sub/deeper/notes"),
        ] {
            assert_eq!(mode(path), 0o700, "{}", path.display());
        }
    }

    #[test]
    fn no_archive_or_no_directory_means_an_empty_state() {
        let tmp = tempfile::tempdir().unwrap();
        let to = tmp.path().join("ws");
        fs::create_dir_all(&to).unwrap();
        fs::write(to.join("left-over"), "x").unwrap();
        restore(None, &to, DEFAULT_STATE_LIMIT).unwrap();
        assert_eq!(fs::read_dir(&to).unwrap().count(), 0);
        assert_eq!(mode(&to), 0o700);

        let archive = pack(&tmp.path().join("absent"), DEFAULT_STATE_LIMIT).unwrap();
        fs::write(to.join("left-over"), "x").unwrap();
        restore(Some(&archive), &to, DEFAULT_STATE_LIMIT).unwrap();
        assert_eq!(fs::read_dir(&to).unwrap().count(), 0);
    }

    #[test]
    fn a_state_over_the_limit_is_refused_with_the_limit_named() {
        let tmp = tempfile::tempdir().unwrap();
        let from = tmp.path().join("from");
        fs::create_dir_all(&from).unwrap();
        // Incompressible: a simple generator's bytes.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        fs::write(from.join("blob"), &noise).unwrap();
        let limit = 100 * 1024;
        let err = pack(&from, limit).unwrap_err();
        assert!(matches!(err, StateError::TooLarge { limit: l } if l == limit));
        assert!(err.to_string().contains("102400 bytes"), "{err}");
        assert!(pack(&from, 1024 * 1024).is_ok());
        let default = StateError::TooLarge {
            limit: DEFAULT_STATE_LIMIT,
        };
        assert!(default.to_string().contains("64 MiB"), "{default}");
    }

    #[test]
    fn an_archive_cannot_write_outside_the_state_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ));
        let mut header = tar::Header::new_gnu();
        let data = b"owned";
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        // `append_data` refuses `..` itself; write the name raw.
        header.as_old_mut().name[..11].copy_from_slice(b"../escaped\0");
        header.set_cksum();
        builder.append(&header, &data[..]).unwrap();
        let archive = builder.into_inner().unwrap().finish().unwrap();
        let to = tmp.path().join("state/ws");
        let _ = restore(Some(&archive), &to, DEFAULT_STATE_LIMIT);
        assert!(!tmp.path().join("state/escaped").exists());
    }
}
