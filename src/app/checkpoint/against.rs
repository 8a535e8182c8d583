//! The Checkpoint pane with `--against`: the quantized copy it compares
//! the checkpoint with, the pairs as they stream in, and what they sort by.
//! Every figure is a field of `scan --against --format json`'s `against`.

use std::path::PathBuf;
use std::sync::Arc;

use super::{App, CheckpointPane, Figure, SortKey};
use crate::compute::checkpoint::against::{Against, NameMap, TensorAgainst};
use crate::worker::{Job, JobId, Outcome};

/// `--against QUANTIZED [--map FILE]`: the copy the pane compares the checkpoint with.
#[derive(Debug, Clone, PartialEq)]
pub struct AgainstSource {
    pub quantized: PathBuf,
    pub map: NameMap,
}

/// The comparison with `--against`, as it streams in.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub source: AgainstSource,
    /// The pairs compared so far, in the checkpoint's order.
    pub rows: Vec<TensorAgainst>,
    /// Pairs there will be once all are compared.
    pub total: usize,
    /// The plan at the same size under way: (done, total) tensors scanned.
    pub planning: Option<(usize, usize)>,
    /// The finished comparison (totals, plan, tensors not compared).
    pub result: Option<Arc<Against>>,
}

impl Comparison {
    pub(super) fn new(source: AgainstSource) -> Comparison {
        Comparison { source, rows: Vec::new(), total: 0, planning: None, result: None }
    }
}

/// The value a compared pair sorts by (`scan --against`'s figures); None when it has none.
pub fn compared_value(t: &TensorAgainst, key: SortKey) -> Option<f64> {
    match key {
        SortKey::Params => Some(t.count as f64),
        SortKey::Against(fig) => Some(match fig {
            // An exact copy has no noise: the best, sorted after every finite SQNR.
            Figure::Sqnr => t.sqnr_db.unwrap_or(f64::INFINITY),
            Figure::RelRmse => t.rel_rmse,
            Figure::MaxError => t.max_abs_error,
            Figure::Cosine => t.cosine,
            Figure::Bpw => t.bpw,
        }),
        _ => None,
    }
}

impl CheckpointPane {
    /// Makes the pane compare its checkpoint with `source` (`--against`),
    /// worst SQNR first.
    pub fn compare_with(&mut self, source: AgainstSource) {
        self.against = Some(Comparison::new(source));
        self.sort = SortKey::Against(Figure::Sqnr);
    }
}

impl App {
    /// Opens a checkpoint compared with its quantized copy (`--against`): the job for it.
    pub fn open_against(&mut self, path: PathBuf, source: AgainstSource) -> Job {
        self.checkpoint.compare_with(source);
        self.open_checkpoint(path)
    }

    pub(in crate::app) fn on_against_row(&mut self, id: JobId, tensor: TensorAgainst, total: usize) {
        if let (true, Some(c)) = (id == self.checkpoint.latest, &mut self.checkpoint.against) {
            c.rows.push(tensor);
            c.total = total;
        }
    }

    pub(in crate::app) fn on_planning(&mut self, id: JobId, done: usize, total: usize) {
        if let (true, Some(c)) = (id == self.checkpoint.latest, &mut self.checkpoint.against) {
            c.planning = Some((done, total));
        }
    }

    pub(in crate::app) fn on_compared(&mut self, id: JobId, result: Outcome<Arc<Against>>) {
        let pane = &mut self.checkpoint;
        let Some(c) = pane.against.as_mut().filter(|_| id == pane.latest) else { return };
        pane.busy = false;
        c.planning = None;
        match result {
            Outcome::Done(result) => {
                c.rows = result.tensors.clone();
                c.total = result.tensors.len();
                c.result = Some(result);
                pane.scan_ms = pane.started.map(|t| t.elapsed().as_secs_f64() * 1e3);
            }
            Outcome::Failed(e) => pane.error = Some(e.to_string()),
            Outcome::Cancelled => {}
        }
        pane.clamp_selection();
    }
}

/// Why the budget and the formats do not move with `--against`.
pub(super) const AGAINST_IS_FIXED: &str =
    "with --against the plan is made at the file's size: no budget or formats to change";
