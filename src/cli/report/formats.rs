//! The Formats view's table in the text report.

use std::fmt::{Display, Write as _};

use super::columns::{Pad, Table};
use crate::compute::formats::table::{FormatRow, pareto};
use crate::format;

/// format, bpw, bytes, mse, sqnr, max|e|, cosine, clip.
const FORMATS: Table = Table {
    gap: " ",
    columns: &[
        Pad::Left(18),
        Pad::Right(7),
        Pad::Right(10),
        Pad::Right(10),
        Pad::Right(9),
        Pad::Right(10),
        Pad::Right(9),
        Pad::Right(7),
    ],
};

/// One line per format, `*` on the Pareto front of SQNR against bpw.
pub(super) fn write_formats(out: &mut String, rows: &[FormatRow]) {
    let front = pareto(rows);
    let _ = writeln!(out, "\nformats            every format on this tensor, * = Pareto front of sqnr against bpw");
    let header: [&dyn Display; 8] = [&"format", &"bpw", &"bytes", &"mse", &"sqnr", &"max|e|", &"cosine", &"clip"];
    let _ = writeln!(out, "{}", FORMATS.row("    ", &header));
    for (row, &best) in rows.iter().zip(&front) {
        let lead = format!("  {} ", if best { '*' } else { ' ' });
        let (name, bpw) = (&row.name, format::num(row.bpw));
        if let Some(why) = &row.error {
            let _ = writeln!(out, "{} {why}", FORMATS.row(&lead, &[name, &bpw]));
            continue;
        }
        let m = &row.metrics;
        let (bytes, mse, sqnr) =
            (format::bytes(row.bytes), format::num(m.mse), format::db(m.sqnr_db.unwrap_or(f64::INFINITY)));
        let (max_error, cosine, clip) =
            (format::num(m.max_abs_error), format::cosine(m.cosine), format::pct(m.clip_rate));
        let _ = writeln!(out, "{}", FORMATS.row(&lead, &[name, &bpw, &bytes, &mse, &sqnr, &max_error, &cosine, &clip]));
    }
}
