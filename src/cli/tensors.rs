//! `tensors`: a file's tensors with their shapes and dtypes.

use std::path::Path;

use super::{CliError, shape_text, write_stdout};
use crate::compute::weights;

pub(super) fn tensors_command(file: &Path) -> Result<(), CliError> {
    let infos = weights::list_tensors(file)?;
    let rows: Vec<[String; 3]> = infos.into_iter().map(|t| [t.name, shape_text(&t.shape), t.dtype]).collect();
    write_stdout(&aligned(&[["name".into(), "shape".into(), "dtype".into()]], &rows))
}

/// Left-aligned columns, two spaces apart, widths in characters (`×` is one).
fn aligned(header: &[[String; 3]], rows: &[[String; 3]]) -> String {
    let all: Vec<&[String; 3]> = header.iter().chain(rows).collect();
    let width = |c: usize| all.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let (w0, w1) = (width(0), width(1));
    all.iter()
        .map(|r| format!("{:<w0$}  {:<w1$}  {}", r[0], r[1], r[2]).trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
