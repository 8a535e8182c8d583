//! The scan: every selected tensor decoded, measured and dropped in turn,
//! then the model's totals per format and, under a budget, the plan.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use serde::Serialize;

use super::recipe::{self, Pin, RoleWeight};
use super::select::FormatSpec;
use super::{Buffers, Checkpoint, CheckpointError, Entry};
use crate::compute::analysis;
use crate::compute::formats::table::{self, FormatRow};
use crate::compute::parallel::{on_one_thread, run_in_order, threads_for};
use crate::compute::plan::{self, Choice, PlanError, TensorChoices};
use crate::compute::watch::Watch;
use crate::compute::weights::{self, matrix_dims};

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
/// as it is measured (the pane fills in its rows while the rest run), in
/// checkpoint order.
///
/// Tensors are measured side by side, one per core, each on one thread
/// (`parallel::on_one_thread`), so one is read and decoded while another
/// is computed and no core waits at the end of a small tensor's passes;
/// a tensor larger than all those after it together (an embedding), or
/// one of `ALONE_VALUES` or more, is measured alone on every core. Each
/// thread reads and decodes into its own reused `Buffers`, so memory holds
/// one tensor per core at most. The figures do not depend on how tensors
/// are spread over the threads.
pub fn scan_streaming(
    ck: &Checkpoint,
    selected: &[bool],
    specs: &[FormatSpec],
    watch: &Watch,
    on_tensor: &mut dyn FnMut(usize, usize, &TensorScan),
) -> Result<Scan, CheckpointError> {
    let chosen: Vec<_> = ck.tensors.iter().zip(selected).filter(|(_, s)| **s).map(|(t, _)| t).collect();
    let mut tensors = Vec::with_capacity(chosen.len());
    for (group, alone) in groups(&chosen) {
        let threads = if alone { 1 } else { threads_for(usize::MAX) };
        let measure = |buffers: &mut Buffers, entry: &&Entry| {
            watch.check()?;
            if alone {
                scan_tensor(ck, entry, specs, watch, buffers)
            } else {
                on_one_thread(|| scan_tensor(ck, entry, specs, watch, buffers))
            }
        };
        run_in_order(&chosen[group], threads, Buffers::default, measure, |t| {
            // A newer job stops this one: tensors measured side by side
            // meanwhile are not handed on.
            watch.check()?;
            tensors.push(t);
            on_tensor(tensors.len(), chosen.len(), tensors.last().expect("just pushed"));
            watch.progress(tensors.len(), chosen.len());
            Ok(())
        })?;
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

/// A tensor this large is measured alone on every core: one per core side
/// by side would hold several of them in memory.
const ALONE_VALUES: usize = 1 << 25;

/// The tensors in runs measured side by side, and each tensor measured
/// alone (`true`), in order.
fn groups(chosen: &[&Entry]) -> Vec<(Range<usize>, bool)> {
    let values = |e: &Entry| if e.skipped.is_some() { 0 } else { e.count };
    let mut after: usize = chosen.iter().map(|e| values(e)).sum();
    let mut groups: Vec<(Range<usize>, bool)> = Vec::new();
    for (i, e) in chosen.iter().enumerate() {
        after -= values(e);
        let alone = values(e) > after || values(e) >= ALONE_VALUES;
        match groups.last_mut() {
            Some((run, false)) if !alone => run.end = i + 1,
            _ => groups.push((i..i + 1, alone)),
        }
    }
    groups
}

/// One tensor decoded into `buffers`, measured with every format; the
/// values go back to `buffers` for the next tensor.
fn scan_tensor(
    ck: &Checkpoint,
    entry: &Entry,
    specs: &[FormatSpec],
    watch: &Watch,
    buffers: &mut Buffers,
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
        let dtype = ck.values_into(entry, buffers)?;
        let (stats, signal) = tensor_stats(&buffers.values, matrix_dims(&entry.shape).1);
        let values = std::mem::take(&mut buffers.values);
        let path = Path::new(&ck.shards[entry.shard].path);
        let name = Some(entry.name.clone());
        let w = weights::counted_weights(path, values, entry.shape.clone(), dtype, name, stats.non_finite);
        let weight_stats = analysis::weight_stats(&w);
        let rows: Result<Vec<FormatRow>, _> =
            specs.iter().map(|spec| table::measure(&w, &weight_stats, &spec.label, &spec.cfg, watch)).collect();
        buffers.values = w.values;
        t.results = rows?.iter().map(result_of).collect();
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
    let plan = plan_scan_with(scan, Some(budget), &Overrides::default())?;
    Ok(plan.expect("a budget always gives a plan"))
}

/// What narrows the plan: the candidates, the pins, or a whole assignment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides<'a> {
    /// The formats an unpinned tensor chooses from (`None`: every one measured).
    pub candidates: Option<&'a [String]>,
    /// The first pin matching a tensor's name gives it its one choice.
    pub pins: &'a [Pin],
    /// How much each tensor's error counts (first matching glob; else 1).
    pub weights: &'a [RoleWeight],
    /// A recipe's assignment, taken as given (no planning).
    pub fixed: Option<&'a BTreeMap<String, String>>,
}

/// The plan under `over`: within `budget` when there is one; else every
/// tensor must have one choice (its pin, the fixed assignment, or the one
/// candidate), and with no pin nor assignment there is no plan (`None`).
/// With a fixed assignment the budget only sets `budget_bpw`.
pub fn plan_scan_with(scan: &Scan, budget: Option<Budget>, over: &Overrides) -> Result<Option<PlanReport>, PlanError> {
    if budget.is_none() && over.pins.is_empty() && over.fixed.is_none() {
        return Ok(None);
    }
    let planned: Vec<&TensorScan> = scan.tensors.iter().filter(|t| !t.skipped).collect();
    let choices: Vec<TensorChoices> = planned.iter().map(|t| tensor_choices(t, over)).collect::<Result<_, _>>()?;
    let count = planned_count(scan);
    let budget_bits = budget.map(|b| match b {
        Budget::Bpw(bpw) => bpw * count,
        Budget::Megabytes(mb) => mb * 8e6,
    });
    let p = match budget_bits {
        Some(bits) if over.fixed.is_none() => plan::plan(&choices, bits)?,
        _ => plan::total(&choices, &single_choices(&choices)?),
    };
    let signal: f64 = planned.iter().map(|t| t.signal).sum();
    let assignments =
        choices.iter().zip(&p.picks).map(|(t, &i)| (t.name.clone(), t.choices[i].label.clone())).collect();
    Ok(Some(PlanReport {
        budget_bpw: budget_bits.unwrap_or(p.bits) / count.max(1.0),
        bpw: p.bits / count.max(1.0),
        bytes: (p.bits / 8.0).ceil() as u64,
        sqnr_db: sqnr(signal, p.error),
        assignments,
    }))
}

/// Without a budget to choose by, each tensor's only choice.
fn single_choices(choices: &[TensorChoices]) -> Result<Vec<usize>, PlanError> {
    match choices.iter().find(|t| t.choices.len() != 1) {
        Some(t) if t.choices.is_empty() => Err(PlanError::NoChoice(t.name.clone())),
        Some(t) => Err(PlanError::NoBudget { tensor: t.name.clone(), choices: t.choices.len() }),
        None => Ok(vec![0; choices.len()]),
    }
}

/// A tensor's choices: its fixed or pinned format alone, else every
/// candidate that applies to it.
fn tensor_choices(t: &TensorScan, over: &Overrides) -> Result<TensorChoices, PlanError> {
    let forced = match over.fixed {
        Some(fixed) => Some(fixed.get(&t.name).ok_or_else(|| PlanError::Unassigned(t.name.clone()))?.as_str()),
        None => recipe::pin_for(over.pins, &t.name).map(|p| p.format.as_str()),
    };
    let choices = match forced {
        Some(label) => vec![forced_choice(t, label)?],
        None => t
            .results
            .iter()
            .filter(|r| over.candidates.is_none_or(|c| c.contains(&r.format)))
            .filter_map(|r| choice_of(t, r))
            .collect(),
    };
    Ok(TensorChoices { name: t.name.clone(), weight: recipe::weight_for(over.weights, &t.name), choices })
}

/// `keep` (the tensor's own dtype bits, no error) or a measured format.
fn forced_choice(t: &TensorScan, label: &str) -> Result<Choice, PlanError> {
    if label == recipe::KEEP {
        let bits = super::stored_bpw(&t.dtype).unwrap_or(32.0) * t.count as f64;
        return Ok(Choice { label: label.to_string(), bits, error: 0.0 });
    }
    let unmeasured = || PlanError::CannotApply {
        tensor: t.name.clone(),
        format: label.to_string(),
        reason: "it was not measured".into(),
    };
    let r = t.results.iter().find(|r| r.format == label).ok_or_else(unmeasured)?;
    choice_of(t, r).ok_or_else(|| PlanError::CannotApply {
        tensor: t.name.clone(),
        format: label.to_string(),
        reason: r.error.clone().unwrap_or_default(),
    })
}

fn choice_of(t: &TensorScan, r: &FormatResult) -> Option<Choice> {
    let fig = r.figures.as_ref()?;
    let error = fig.mse * t.finite_count() as f64;
    Some(Choice { label: r.format.clone(), bits: fig.bpw * t.count as f64, error })
}
