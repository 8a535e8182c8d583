//! The Formats view and `report --only formats`: every format on the same
//! tensor, one row each, with its true size and its error.

use serde::Serialize;

use super::{BUILTIN_FORMATS, FormatKind};
use crate::compute::analysis::{AnalysisError, WeightStats, measure_with, metrics_of};
use crate::compute::parallel::{on_one_thread, run_in_order, threads_for};
use crate::compute::quant::QuantConfig;
use crate::compute::watch::{Cancelled, Watch};
use crate::compute::weights::Weights;

/// One format's figures on the tensor, or why it cannot apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormatRow {
    pub format: FormatKind,
    /// The row's label: `int4 g128`, `q4_k`, `codebook 3-bit`, …
    pub name: String,
    /// The `[quant]` table that reproduces this row exactly.
    pub settings: QuantConfig,
    pub bpw: f64,
    pub bytes: u64,
    pub metrics: RowMetrics,
    /// Why the format cannot apply to this tensor (then the figures are 0).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RowMetrics {
    pub mse: f64,
    /// null when the error is exactly 0 (JSON has no infinity).
    pub sqnr_db: Option<f64>,
    pub max_abs_error: f64,
    pub cosine: f64,
    pub clip_rate: f64,
}

/// The rows of the table: each format's own rows (`NumberFormat::compare_rows`),
/// built-in formats in registry order.
pub fn default_rows() -> Vec<(String, QuantConfig)> {
    rows_of(BUILTIN_FORMATS)
}

pub fn rows_of(formats: &[FormatKind]) -> Vec<(String, QuantConfig)> {
    formats
        .iter()
        .flat_map(|&kind| {
            let base = QuantConfig { format: kind, ..QuantConfig::default() };
            kind.format().compare_rows(&base)
        })
        .collect()
}

/// Measures one row; a setting this tensor refuses becomes the row's error.
pub fn measure(
    w: &Weights,
    stats: &WeightStats,
    name: &str,
    cfg: &QuantConfig,
    watch: &Watch,
) -> Result<FormatRow, Cancelled> {
    let mut row = FormatRow {
        format: cfg.format,
        name: name.to_string(),
        settings: cfg.clone(),
        bpw: 0.0,
        bytes: 0,
        metrics: RowMetrics::default(),
        error: None,
    };
    match measure_with(w, stats, cfg, watch) {
        Ok(measured) => {
            // Levels are not counted on this path; no figure kept here needs them.
            let m = metrics_of(&measured.sums, 0, 0);
            row.bpw = measured.bpw;
            row.bytes = measured.storage.bytes_quantized;
            row.metrics = RowMetrics {
                mse: m.mse,
                sqnr_db: m.sqnr_db.is_finite().then_some(m.sqnr_db),
                max_abs_error: m.max_abs_error,
                cosine: m.cosine,
                clip_rate: m.clip_rate,
            };
        }
        Err(AnalysisError::Cancelled(c)) => return Err(c),
        Err(e) => {
            // The bpw is the format's own: the row still says what it would cost.
            row.bpw = cfg.format.format().bits_per_weight(cfg, w.rows, w.cols);
            row.error = Some(e.to_string());
        }
    }
    Ok(row)
}

/// Every row in order; `on_row` sees each as it is finished (the worker
/// streams them to the view). Rows are measured side by side, one per core
/// and each on its own thread (`on_one_thread`), a core taking the next
/// row as soon as it is done; each row is computed alone, so the figures
/// do not depend on the threads.
pub fn table(
    w: &Weights,
    stats: &WeightStats,
    rows: &[(String, QuantConfig)],
    watch: &Watch,
    mut on_row: impl FnMut(&FormatRow),
) -> Result<Vec<FormatRow>, Cancelled> {
    let mut out = Vec::with_capacity(rows.len());
    let measure_row = |_: &mut (), (name, cfg): &(String, QuantConfig)| {
        watch.check()?;
        on_one_thread(|| measure(w, stats, name, cfg, watch))
    };
    run_in_order(
        rows,
        threads_for(w.values.len()),
        || (),
        measure_row,
        |row| {
            on_row(&row);
            out.push(row);
            watch.progress(out.len(), rows.len());
            Ok(())
        },
    )?;
    Ok(out)
}

/// The rows on the Pareto front of SQNR against bpw: no other row is at
/// most as large and at least as accurate, one of them strictly.
pub fn pareto(rows: &[FormatRow]) -> Vec<bool> {
    let score = |r: &FormatRow| r.metrics.sqnr_db.unwrap_or(f64::INFINITY);
    rows.iter()
        .map(|r| {
            r.error.is_none()
                && !rows.iter().any(|o| {
                    o.error.is_none()
                        && o.bpw <= r.bpw
                        && score(o) >= score(r)
                        && (o.bpw < r.bpw || score(o) > score(r))
                })
        })
        .collect()
}

/// A column the table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Column {
    #[default]
    Registry,
    Name,
    Bpw,
    Bytes,
    Mse,
    Sqnr,
    MaxError,
    Cosine,
    ClipRate,
}

impl Column {
    pub const ALL: [Column; 9] = [
        Column::Registry,
        Column::Name,
        Column::Bpw,
        Column::Bytes,
        Column::Mse,
        Column::Sqnr,
        Column::MaxError,
        Column::Cosine,
        Column::ClipRate,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Column::Registry => "order",
            Column::Name => "format",
            Column::Bpw => "bpw",
            Column::Bytes => "bytes",
            Column::Mse => "mse",
            Column::Sqnr => "sqnr",
            Column::MaxError => "max|e|",
            Column::Cosine => "cosine",
            Column::ClipRate => "clip",
        }
    }
}

/// The order of `rows` sorted by `column` (best first for the error
/// columns; rows that cannot apply last), ties kept in registry order.
pub fn sorted(rows: &[FormatRow], column: Column) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let key = |r: &FormatRow| -> f64 {
        let m = &r.metrics;
        match column {
            Column::Registry | Column::Name => 0.0,
            Column::Bpw => r.bpw,
            Column::Bytes => r.bytes as f64,
            Column::Mse => m.mse,
            Column::Sqnr => -m.sqnr_db.unwrap_or(f64::INFINITY),
            Column::MaxError => m.max_abs_error,
            Column::Cosine => -m.cosine,
            Column::ClipRate => m.clip_rate,
        }
    };
    order.sort_by(|&a, &b| {
        let (ra, rb) = (&rows[a], &rows[b]);
        ra.error
            .is_some()
            .cmp(&rb.error.is_some())
            .then_with(|| if column == Column::Name { ra.name.cmp(&rb.name) } else { std::cmp::Ordering::Equal })
            .then_with(|| key(ra).total_cmp(&key(rb)))
    });
    order
}
