//! Where the tool writes files, so nothing in compute, the workers or the
//! ui does: a worker computes an export's text, and the edge (the channel
//! from the quant worker to the event loop, or `Workers` when tests drive
//! the jobs) writes it here; `quantize` writes its outputs with the same
//! atomic write.

mod atomic;
mod stream;

pub use atomic::{WriteError, write_atomic};
pub use stream::{PieceError, StreamError, write_streaming};

use std::sync::Arc;

use crate::worker::{ExportError, Output};

/// Writes an export a worker has prepared and answers with what the app
/// expects (`Exported`); every other output passes through unchanged.
pub fn finish_export(out: Output) -> Output {
    match out {
        Output::ExportReady { id, path, text } => {
            let result = text
                .map_err(ExportError::Compute)
                .and_then(|text| write_atomic(&path, text.as_bytes()).map_err(|e| ExportError::Write(Arc::new(e))));
            Output::Exported { id, result: result.map(|()| path) }
        }
        out => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::JobError;

    #[test]
    fn an_export_that_cannot_be_written_or_computed_says_which_typed() {
        let path = std::path::PathBuf::from("/nonexistent-dir-qmc/s.toml");
        let out = finish_export(Output::ExportReady { id: 1, path: path.clone(), text: Ok("a = 1\n".into()) });
        let Output::Exported { result: Err(ExportError::Write(e)), .. } = out else { panic!("{out:?}") };
        assert!(e.to_string().contains("does not exist"), "{e}");
        let failed = Err(JobError::Misrouted("no analysis"));
        let out = finish_export(Output::ExportReady { id: 2, path, text: failed });
        assert!(matches!(out, Output::Exported { result: Err(ExportError::Compute(_)), .. }), "{out:?}");
    }
}
