//! The scan: every selected tensor decoded, measured and dropped in turn,
//! then the model's totals per format and, under a budget, the plan.

use std::collections::BTreeMap;

use serde::Serialize;

use super::select::FormatSpec;
use super::{Checkpoint, CheckpointError, Entry};
use crate::compute::analysis;
use crate::compute::formats::table::{self, FormatRow};
use crate::compute::plan::{self, Choice, PlanError, TensorChoices};
use crate::compute::watch::Watch;

pub use super::stats::{OUTLIER_SIGMAS, Stats, tensor_stats};

/// The whole scan, as `scan --format json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Scan {
    pub checkpoint: Summary,
    pub tensors: Vec<TensorScan>,
    pub totals: Vec<Total>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub path: String,
    pub files: Vec<String>,
    /// Every tensor of the checkpoint, selected or not.
    pub tensors: usize,
    pub parameters: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct TensorScan {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: String,
    pub count: usize,
    pub file: String,
    pub skipped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
    pub results: Vec<FormatResult>,
    /// Σx² over the finite values: the signal of the model's SQNR.
    #[serde(skip)]
    pub signal: f64,
}

impl TensorScan {
    /// The values its mse is a mean over (NaN and ±Inf left out).
    pub fn finite_count(&self) -> usize {
        self.count - self.stats.as_ref().map_or(0, |s| s.non_finite)
    }
}

/// One format on one tensor: its figures, or why it cannot apply.
#[derive(Debug, Clone, Serialize)]
pub struct FormatResult {
    pub format: String,
    #[serde(flatten)]
    pub figures: Option<Figures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub bpw: f64,
    pub mse: f64,
    /// √(Σe²/Σx²) = 10^(−sqnr/20).
    pub rel_rmse: f64,
    /// null when the error is exactly 0.
    pub sqnr_db: Option<f64>,
    pub max_abs_error: f64,
    pub clip_rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Total {
    pub format: String,
    /// Σ bits / Σ count over the tensors it applies to.
    pub bpw: f64,
    pub bytes: u64,
    /// 10·log10(Σx²/Σe²) over those tensors.
    pub sqnr_db: Option<f64>,
    pub tensors: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub budget_bpw: f64,
    pub bpw: f64,
    pub bytes: u64,
    pub sqnr_db: Option<f64>,
    pub assignments: BTreeMap<String, String>,
}

/// A size budget for the quantized tensors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    Bpw(f64),
    /// Millions of bytes.
    Megabytes(f64),
}

/// Scans the tensors `selected` marks, one at a time, with every format.
pub fn scan(ck: &Checkpoint, selected: &[bool], specs: &[FormatSpec], watch: &Watch) -> Result<Scan, CheckpointError> {
    scan_streaming(ck, selected, specs, watch, &mut |_, _, _| {})
}

/// `scan`, handing each tensor to `on_tensor(done, total, tensor)` as soon
/// as it is measured (the pane fills in its rows while the rest run).
pub fn scan_streaming(
    ck: &Checkpoint,
    selected: &[bool],
    specs: &[FormatSpec],
    watch: &Watch,
    on_tensor: &mut dyn FnMut(usize, usize, &TensorScan),
) -> Result<Scan, CheckpointError> {
    let chosen: Vec<_> = ck.tensors.iter().zip(selected).filter(|(_, s)| **s).map(|(t, _)| t).collect();
    let mut tensors = Vec::with_capacity(chosen.len());
    for (i, entry) in chosen.iter().enumerate() {
        watch.check()?;
        let t = scan_tensor(ck, entry, specs, watch)?;
        on_tensor(i + 1, chosen.len(), &t);
        tensors.push(t);
        watch.progress(i + 1, chosen.len());
    }
    let totals = specs.iter().enumerate().map(|(f, s)| total(&tensors, f, &s.label)).collect();
    let checkpoint = Summary {
        path: ck.path.clone(),
        files: ck.shards.iter().map(|s| s.path.clone()).collect(),
        tensors: ck.tensors.len(),
        parameters: ck.parameters(),
    };
    Ok(Scan { checkpoint, tensors, totals, plan: None })
}

/// One tensor decoded, measured with every format, and dropped.
fn scan_tensor(
    ck: &Checkpoint,
    entry: &Entry,
    specs: &[FormatSpec],
    watch: &Watch,
) -> Result<TensorScan, CheckpointError> {
    let mut t = TensorScan {
        name: entry.name.clone(),
        shape: entry.shape.clone(),
        dtype: entry.dtype.clone(),
        count: entry.count,
        file: ck.shards[entry.shard].path.clone(),
        skipped: entry.skipped.is_some(),
        skip_reason: entry.skipped.clone(),
        stats: None,
        results: Vec::new(),
        signal: 0.0,
    };
    if !t.skipped {
        // The decoded tensor lives only for this call.
        let w = ck.load(entry)?;
        let (stats, signal) = tensor_stats(&w.values, w.cols);
        let weight_stats = analysis::weight_stats(&w);
        for spec in specs {
            let row = table::measure(&w, &weight_stats, &spec.label, &spec.cfg, watch)?;
            t.results.push(result_of(&row));
        }
        (t.stats, t.signal) = (Some(stats), signal);
    }
    Ok(t)
}

fn result_of(row: &FormatRow) -> FormatResult {
    let figures = row.error.is_none().then(|| {
        let m = &row.metrics;
        Figures {
            bpw: row.bpw,
            mse: m.mse,
            rel_rmse: m.sqnr_db.map_or(0.0, |db| 10f64.powf(-db / 20.0)),
            sqnr_db: m.sqnr_db,
            max_abs_error: m.max_abs_error,
            clip_rate: m.clip_rate,
        }
    });
    FormatResult { format: row.name.clone(), figures, error: row.error.clone(), bytes: row.bytes }
}

/// The model's figures for format `f`, over the tensors it applies to.
fn total(tensors: &[TensorScan], f: usize, label: &str) -> Total {
    let (mut bits, mut count, mut bytes, mut signal, mut noise, mut n) = (0.0, 0usize, 0u64, 0.0, 0.0, 0);
    for t in tensors {
        let Some(r) = t.results.get(f) else { continue };
        let Some(fig) = &r.figures else { continue };
        bits += fig.bpw * t.count as f64;
        count += t.count;
        bytes += r.bytes;
        signal += t.signal;
        noise += fig.mse * t.finite_count() as f64;
        n += 1;
    }
    let bpw = if count > 0 { bits / count as f64 } else { 0.0 };
    Total { format: label.to_string(), bpw, bytes, sqnr_db: sqnr(signal, noise), tensors: n }
}

fn sqnr(signal: f64, noise: f64) -> Option<f64> {
    (noise > 0.0).then(|| 10.0 * (signal / noise).log10())
}

/// The values the plan assigns formats to: those of the tensors not skipped.
pub fn planned_count(scan: &Scan) -> f64 {
    scan.tensors.iter().filter(|t| !t.skipped).map(|t| t.count as f64).sum()
}

/// One format per scanned tensor within `budget` (over the quantized
/// tensors only: skipped ones stay as they are and are not counted).
pub fn plan_scan(scan: &Scan, budget: Budget) -> Result<PlanReport, PlanError> {
    let planned: Vec<&TensorScan> = scan.tensors.iter().filter(|t| !t.skipped).collect();
    let choices: Vec<TensorChoices> = planned
        .iter()
        .map(|t| TensorChoices {
            name: t.name.clone(),
            weight: 1.0,
            choices: t
                .results
                .iter()
                .filter_map(|r| {
                    let fig = r.figures.as_ref()?;
                    let n = t.count as f64;
                    let error = fig.mse * t.finite_count() as f64;
                    Some(Choice { label: r.format.clone(), bits: fig.bpw * n, error })
                })
                .collect(),
        })
        .collect();
    let count = planned_count(scan);
    let budget_bits = match budget {
        Budget::Bpw(bpw) => bpw * count,
        Budget::Megabytes(mb) => mb * 8e6,
    };
    let p = plan::plan(&choices, budget_bits)?;
    let signal: f64 = planned.iter().map(|t| t.signal).sum();
    let assignments =
        choices.iter().zip(&p.picks).map(|(t, &i)| (t.name.clone(), t.choices[i].label.clone())).collect();
    Ok(PlanReport {
        budget_bpw: budget_bits / count.max(1.0),
        bpw: p.bits / count.max(1.0),
        bytes: (p.bits / 8.0).ceil() as u64,
        sqnr_db: sqnr(signal, p.error),
        assignments,
    })
}
