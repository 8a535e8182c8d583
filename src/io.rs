//! The one place outside the command line where the tool writes files: a
//! worker computes an export's text, and the edge (the event loop, or
//! `Workers` when tests drive the jobs) writes it here.

use crate::settings::write_atomic;
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
