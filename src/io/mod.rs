//! Where the tool writes files, so nothing in compute, the workers or the
//! ui does: a worker computes an export's text, and the edge (the channel
//! from the quant worker to the event loop, or `Workers` when tests drive
//! the jobs) writes it here; `quantize` writes its outputs with the same
//! atomic write.

mod atomic;

pub use atomic::{WriteError, write_atomic};

use crate::worker::Output;

/// Writes an export a worker has prepared and answers with what the app
/// expects (`Exported`); every other output passes through unchanged.
pub fn finish_export(out: Output) -> Output {
    match out {
        Output::ExportReady { id, path, text } => {
            let result = text.and_then(|text| write_atomic(&path, text.as_bytes()).map_err(|e| e.to_string()));
            Output::Exported { id, result: result.map(|()| path) }
        }
        out => out,
    }
}
