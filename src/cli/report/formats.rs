//! The Formats view's table in the text report.

use std::fmt::Write as _;

use crate::compute::formats::table::{FormatRow, pareto};
use crate::format;

/// One line per format, `*` on the Pareto front of SQNR against bpw.
pub(super) fn write_formats(out: &mut String, rows: &[FormatRow]) {
    let front = pareto(rows);
    let _ = writeln!(out, "\nformats            every format on this tensor, * = Pareto front of sqnr against bpw");
    let _ = writeln!(
        out,
        "    {:<18} {:>7} {:>10} {:>10} {:>9} {:>10} {:>9} {:>7}",
        "format", "bpw", "bytes", "mse", "sqnr", "max|e|", "cosine", "clip"
    );
    for (row, &best) in rows.iter().zip(&front) {
        let mark = if best { '*' } else { ' ' };
        if let Some(why) = &row.error {
            let _ = writeln!(out, "  {mark} {:<18} {:>7} {why}", row.name, format::num(row.bpw));
            continue;
        }
        let m = &row.metrics;
        let _ = writeln!(
            out,
            "  {mark} {:<18} {:>7} {:>10} {:>10} {:>9} {:>10} {:>9} {:>7}",
            row.name,
            format::num(row.bpw),
            format::bytes(row.bytes),
            format::num(m.mse),
            format::db(m.sqnr_db.unwrap_or(f64::INFINITY)),
            format::num(m.max_abs_error),
            format::cosine(m.cosine),
            format::pct(m.clip_rate)
        );
    }
}
