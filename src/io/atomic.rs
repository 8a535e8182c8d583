//! Writing a file so that a failure never leaves half of it.

use std::path::{Path, PathBuf};

/// A file that could not be written; the previous one, if any, is intact.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {}: the directory {} does not exist", .path.display(), .dir.display())]
    NoDirectory { path: PathBuf, dir: PathBuf },

    #[error("cannot write {}: {step}: {source}", .path.display())]
    Io {
        path: PathBuf,
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Writes `text` to `path` atomically: a temporary file in the same
/// directory, then a rename, so a failure never leaves a half-written file
/// or loses the previous one.
pub fn write_atomic(path: &Path, text: &[u8]) -> Result<(), WriteError> {
    use std::io::Write;
    let mut tmp = temp_beside(path)?;
    tmp.write_all(text).map_err(io_error(path, "writing failed"))?;
    persist_beside(path, tmp)
}

pub(super) fn io_error<'a>(path: &'a Path, step: &'static str) -> impl Fn(std::io::Error) -> WriteError + 'a {
    move |source| WriteError::Io { path: path.to_owned(), step, source }
}

/// A temporary file in `path`'s directory (removed when dropped), so the
/// rename into place stays on one file system.
pub(super) fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile, WriteError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(WriteError::NoDirectory { path: path.to_owned(), dir: dir.to_owned() });
    }
    tempfile::Builder::new()
        .prefix(".qmc-tui-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io_error(path, "cannot create a file in its directory"))
}

/// Gives the finished temporary file its mode and renames it to `path`;
/// when that replaces a file, flushes it to disk first.
///
/// The flush is what keeps the previous file safe from a power loss in the
/// moment after the rename (its data would be gone and the new data not yet
/// on disk). A new path has nothing to lose: its flush would only wait for
/// the disk (0.2 s for a 47 MB tensor, several times the quantization
/// itself), as numpy's `save` and PyTorch's `save` never do. The cost of
/// that choice: after a power loss (not a failure of ours, which always
/// leaves the path as it was), a new file may be there but incomplete.
pub(super) fn persist_beside(path: &Path, tmp: tempfile::NamedTempFile) -> Result<(), WriteError> {
    // A temporary file is private (0600); the result should read like any
    // file the user writes: the old file's mode, or rw-r--r--.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode());
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io_error(path, "setting permissions failed"))?;
    }
    // Anything at the path (a file, a link) is replaced: flush first.
    if std::fs::symlink_metadata(path).is_ok() {
        tmp.as_file().sync_all().map_err(io_error(path, "flushing to disk failed"))?;
    }
    tmp.persist(path).map_err(|e| io_error(path, "renaming into place failed")(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_keeps_the_old_file_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        write_atomic(&path, b"old").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
        }
        let missing = dir.path().join("nope").join("s.toml");
        let e = write_atomic(&missing, b"new").unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        // A directory in the way of the rename: the write fails, nothing is lost.
        let blocked = dir.path().join("sub");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("keep"), b"x").unwrap();
        assert!(write_atomic(&blocked, b"new").is_err());
        assert_eq!(std::fs::read(blocked.join("keep")).unwrap(), b"x");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
