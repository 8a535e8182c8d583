//! The compute workers: jobs in, results out, each tagged with its job id.
//! One thread quantizes, one trains ensembles, so a long training never
//! holds up the Quantize pane; both answer on the event loop's channel.

mod checkpoint;
mod ensemble;
pub mod memory;
mod quant;

pub use checkpoint::CheckpointWorker;
pub use ensemble::EnsembleWorker;
pub use quant::Worker;

use std::path::PathBuf;
use std::sync::Arc;

use crate::compute::analysis::{Analysis, MseCurve};
use crate::compute::checkpoint::against::{Against, NameMap, TensorAgainst};
use crate::compute::checkpoint::scan::{Scan, TensorScan};
use crate::compute::deploy::DeployReport;
use crate::compute::diagnose::Finding;
use crate::compute::ensemble::EnsembleReport;
use crate::compute::formats::table::FormatRow;
use crate::compute::quant::Calibration;
use crate::compute::watch::Watch;
use crate::compute::weights::TensorInfo;
use crate::settings::Settings;

pub type JobId = u64;

#[derive(Debug, Clone)]
pub enum Job {
    Analyze {
        id: JobId,
        settings: Settings,
    },
    /// Train what changed and fuse: the Ensemble pane.
    Train {
        id: JobId,
        settings: Settings,
    },
    /// `ensemble`: the latest ensemble figures, written for the record.
    Export {
        id: JobId,
        settings: Settings,
        path: PathBuf,
        ensemble: Option<Arc<EnsembleView>>,
    },
    /// Open and scan a checkpoint with these formats: the Checkpoint pane.
    Scan {
        id: JobId,
        path: PathBuf,
        formats: String,
    },
    /// Compare a checkpoint with its quantized copy (`--against`): the
    /// Checkpoint pane, on the scan's thread.
    Against {
        id: JobId,
        original: PathBuf,
        quantized: PathBuf,
        map: NameMap,
    },
}

impl Job {
    pub fn id(&self) -> JobId {
        match self {
            Job::Analyze { id, .. }
            | Job::Train { id, .. }
            | Job::Export { id, .. }
            | Job::Scan { id, .. }
            | Job::Against { id, .. } => *id,
        }
    }

    /// Training runs on its own thread.
    pub fn is_training(&self) -> bool {
        matches!(self, Job::Train { .. })
    }

    /// Scans (and comparisons, which scan for their plan) run on their own thread.
    pub fn is_scan(&self) -> bool {
        matches!(self, Job::Scan { .. } | Job::Against { .. })
    }
}

pub use crate::compute::weights::WeightsSummary;

pub type Alternatives = Vec<(Calibration, (f32, f32))>;

/// One finished analysis, with the settings that produced it.
#[derive(Debug, Clone)]
pub struct QuantView {
    pub settings: Settings,
    pub weights: Arc<WeightsSummary>,
    pub tensors: Arc<Vec<TensorInfo>>,
    pub analysis: Arc<Analysis>,
    pub findings: Vec<Finding>,
    /// None while the slower calibrations are still running.
    pub alternatives: Option<Arc<Alternatives>>,
    /// The MSE-vs-clip curve, on every value: None until it arrives with
    /// the alternatives.
    pub curve: Option<Arc<MseCurve>>,
    pub compute_ms: f64,
}

/// What the Ensemble pane shows of the data.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSummary {
    pub source: String,
    pub rows: usize,
    pub features: usize,
    pub class_names: Vec<String>,
    pub train_rows: usize,
    pub test_rows: usize,
}

/// One finished training and fusion, with the settings that produced it.
#[derive(Debug, Clone)]
pub struct EnsembleView {
    pub settings: Settings,
    pub data: Arc<DataSummary>,
    pub report: Arc<EnsembleReport>,
    /// The ensemble quantized with the Quantize pane's settings: the Deploy pane.
    pub deploy: Arc<DeployReport>,
    /// How many members had to be trained (the rest came from the cache).
    pub trained: usize,
    pub compute_ms: f64,
}

/// How a job ended.
#[derive(Debug, Clone)]
pub enum Outcome<T> {
    Done(T),
    Failed(JobError),
    /// Stopped for a newer job: nothing to show.
    Cancelled,
}

/// Why a job failed. The app writes it in the status line; the errors stay
/// typed up to there.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Weights(Arc<crate::compute::weights::WeightsError>),
    #[error(transparent)]
    Analysis(Arc<crate::compute::analysis::AnalysisError>),
    #[error(transparent)]
    Ensemble(Arc<crate::compute::ensemble::EnsembleError>),
    #[error(transparent)]
    Checkpoint(Arc<crate::compute::checkpoint::CheckpointError>),
    #[error(transparent)]
    Against(Arc<crate::compute::checkpoint::against::AgainstError>),
    /// A list of formats that names no format, or an unknown one.
    #[error(transparent)]
    Formats(#[from] crate::compute::checkpoint::select::FormatListError),
    /// A job sent to the worker that does not run its kind.
    #[error("{0}")]
    Misrouted(&'static str),
}

/// Why an export wrote nothing: its figures could not be computed, or the
/// file could not be written (the old one is then untouched).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Compute(JobError),
    #[error(transparent)]
    Write(Arc<crate::io::WriteError>),
}

#[derive(Debug, Clone)]
pub enum Output {
    Analyzed {
        id: JobId,
        result: Outcome<Box<QuantView>>,
    },
    /// The slow part of an analysis: every calibration and the MSE curve.
    Alternatives {
        id: JobId,
        alternatives: Arc<Alternatives>,
        curve: Arc<MseCurve>,
        /// How long they took, added to the analysis's time.
        compute_ms: f64,
    },
    /// The Formats view's rows measured so far on the tensor (all of them
    /// when `done`), streamed as each is finished.
    FormatRows {
        id: JobId,
        rows: Arc<Vec<FormatRow>>,
        total: usize,
    },
    /// `done` of `total` channels of a slow calibration are calibrated.
    Calibrating {
        id: JobId,
        done: usize,
        total: usize,
    },
    /// An export's text, computed but not written: the edge writes it
    /// (`io::finish_export`) and gives the app `Exported` instead.
    ExportReady {
        id: JobId,
        path: PathBuf,
        text: Result<String, JobError>,
    },
    Exported {
        id: JobId,
        result: Result<PathBuf, ExportError>,
    },
    Trained {
        id: JobId,
        result: Outcome<Box<EnsembleView>>,
    },
    /// One tensor of the checkpoint scanned: the `done`th of `total`.
    ScanRow {
        id: JobId,
        tensor: Box<TensorScan>,
        done: usize,
        total: usize,
    },
    /// The whole scan, its totals included.
    Scanned {
        id: JobId,
        result: Outcome<Arc<Scan>>,
    },
    /// One pair of `--against` compared: the `done`th of `total`.
    AgainstRow {
        id: JobId,
        tensor: Box<TensorAgainst>,
        done: usize,
        total: usize,
    },
    /// The plan at the same size: `done` of `total` original tensors scanned.
    Planning {
        id: JobId,
        done: usize,
        total: usize,
    },
    /// The whole comparison, its totals and plan included.
    Compared {
        id: JobId,
        result: Outcome<Arc<Against>>,
    },
    /// `done` of `total` members are ready.
    Training {
        id: JobId,
        done: usize,
        total: usize,
    },
}

/// Both workers, driven on the calling thread: for tests, benches and the
/// headless report.
#[derive(Default)]
pub struct Workers {
    pub quant: Worker,
    pub ensemble: EnsembleWorker,
    pub checkpoint: CheckpointWorker,
}

impl Workers {
    /// Runs a job to the end; returns every output it produces, in order.
    pub fn run(&mut self, job: Job) -> Vec<Output> {
        if job.is_scan() {
            let mut out = Vec::new();
            let last = self.checkpoint.handle(job, &mut |o| {
                out.push(o);
                true
            });
            out.push(last);
            out
        } else if job.is_training() {
            let mut out = Vec::new();
            let result = self.ensemble.handle(job, &mut |o| {
                out.push(o);
                true
            });
            out.push(result);
            out
        } else {
            let first = self.quant.handle(job, &Watch::NONE).expect("nothing stops it");
            let follow = self.quant.follow_up(&first, &Watch::NONE);
            let mut rows = Vec::new();
            self.quant.format_rows(&first, &Watch::NONE, &mut |o| rows.push(o));
            std::iter::once(first).chain(follow).chain(rows).map(crate::io::finish_export).collect()
        }
    }
}
