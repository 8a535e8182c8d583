//! Writing a large file piece by piece, still all or nothing: the pieces
//! go to a temporary file beside the target, renamed into place (flushed to disk
//! first when it replaces a file) only when every piece is written. Any error, a
//! refusal of the caller's or a cancel leaves no file behind (the
//! temporary file is removed when it is dropped). A power loss right after
//! the rename of a new file may leave it incomplete (`atomic::persist_beside`).

use std::io::Write;
use std::path::Path;

use super::atomic::{WriteError, io_error, persist_beside, temp_beside};

/// Why the caller's pieces stopped coming.
#[derive(Debug)]
pub enum PieceError {
    /// Writing to the file failed (a full disk, an I/O error).
    Io(std::io::Error),
    /// The caller refused to go on: the sentence says why.
    Refused(String),
}

impl From<std::io::Error> for PieceError {
    fn from(e: std::io::Error) -> Self {
        PieceError::Io(e)
    }
}

/// A streamed write that did not finish; no file was left.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("{}: nothing was written: {reason}", .path.display())]
    Refused { path: std::path::PathBuf, reason: String },
}

/// Writes `path` atomically from `pieces`, which writes the file's bytes
/// in order into the writer it is given (buffered).
pub fn write_streaming(
    path: &Path,
    pieces: impl FnOnce(&mut dyn Write) -> Result<(), PieceError>,
) -> Result<(), StreamError> {
    write_streaming_through(path, |file| file, pieces)
}

/// As [`write_streaming`], with the file wrapped by `wrap` first (tests
/// put a writer there that fails as a full disk would).
pub(crate) fn write_streaming_through<W: Write>(
    path: &Path,
    wrap: impl FnOnce(std::fs::File) -> W,
    pieces: impl FnOnce(&mut dyn Write) -> Result<(), PieceError>,
) -> Result<(), StreamError> {
    let fail = |step: &'static str| io_error(path, step);
    let tmp = temp_beside(path)?;
    let file = tmp.as_file().try_clone().map_err(fail("cannot open the temporary file"))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, wrap(file));
    match pieces(&mut out) {
        Ok(()) => {}
        Err(PieceError::Io(e)) => return Err(fail("writing failed")(e).into()),
        Err(PieceError::Refused(reason)) => return Err(StreamError::Refused { path: path.to_owned(), reason }),
    }
    out.flush().map_err(fail("writing failed"))?;
    drop(out);
    persist_beside(path, tmp)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk that fills up after `room` bytes.
    struct FullAfter {
        room: usize,
        inner: std::fs::File,
    }

    impl Write for FullAfter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if buf.len() > self.room {
                return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
            }
            self.room -= buf.len();
            self.inner.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn a_full_disk_names_the_file_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.gguf");
        let big = vec![7u8; 3 << 20];
        let e = write_streaming_through(
            &path,
            |inner| FullAfter { room: 1 << 20, inner },
            |w| {
                w.write_all(&big)?;
                Ok(())
            },
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("model.gguf") && text.contains("No space left"), "{text}");
        assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
    }

    #[test]
    fn a_refusal_midway_leaves_nothing_and_a_finished_write_lands_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.safetensors");
        let e = write_streaming(&path, |w| {
            w.write_all(b"half")?;
            Err(PieceError::Refused("cancelled".into()))
        })
        .unwrap_err();
        assert!(e.to_string().contains("cancelled"), "{e}");
        assert!(leftovers(dir.path()).is_empty());
        write_streaming(&path, |w| {
            w.write_all(b"one ")?;
            w.write_all(b"two")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one two");
        assert_eq!(leftovers(dir.path()), vec!["out.safetensors".to_string()]);
    }
}
