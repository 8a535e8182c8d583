//! The Checkpoint pane's worker: opens a checkpoint and scans it tensor by
//! tensor on its own thread, streaming each row to the app as it is
//! measured; with `--against`, compares it with its quantized copy the
//! same way (`against::against_streaming`, the function behind `scan
//! --against`). A newer job (or the app going away) stops either at the
//! next tensor.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};

use super::{Job, JobError, JobId, Outcome, Output};
use crate::compute::checkpoint::against::{self, Against, AgainstError, NameMap, Step};
use crate::compute::checkpoint::scan::{self, Scan};
use crate::compute::checkpoint::{self, select};
use crate::compute::watch::Watch;

#[derive(Default)]
pub struct CheckpointWorker {
    /// The id of the newest scan sent: an older one stops at its next tensor.
    newest: Arc<AtomicU64>,
}

impl CheckpointWorker {
    pub fn new(newest: Arc<AtomicU64>) -> CheckpointWorker {
        CheckpointWorker { newest }
    }

    /// Runs scans until the job channel closes; of several waiting only the newest runs.
    pub fn run<E: Send>(self, jobs: Receiver<Job>, out: Sender<E>, wrap: impl Fn(Output) -> E) {
        while let Ok(first) = jobs.recv() {
            let job = jobs.try_iter().last().unwrap_or(first);
            let last = self.handle(job, &mut |o| out.send(wrap(o)).is_ok());
            super::memory::release_free_memory();
            if out.send(wrap(last)).is_err() {
                return;
            }
        }
    }

    /// Scans (or compares) the job's checkpoint; `emit` gets each row as it
    /// is measured (false: no one listens, so the job stops). Returns the
    /// last output.
    pub fn handle(&self, job: Job, emit: &mut dyn FnMut(Output) -> bool) -> Output {
        match job {
            Job::Scan { id, path, formats } => {
                Output::Scanned { id, result: outcome(self.scan(id, &path, &formats, emit)) }
            }
            Job::Against { id, original, quantized, map } => {
                let result = outcome(self.compare(id, (&original, &quantized), &map, emit));
                Output::Compared { id, result }
            }
            other => {
                let id = other.id();
                Output::Scanned { id, result: Outcome::Failed(JobError::Misrouted("not a scan")) }
            }
        }
    }

    /// Whether job `id` should stop: a newer one was sent, or no one listens.
    fn stopped<'a>(&'a self, id: JobId, gone: &'a AtomicBool) -> impl Fn() -> bool + 'a {
        move || self.newest.load(Ordering::Relaxed) > id || gone.load(Ordering::Relaxed)
    }

    /// `scan ORIGINAL --against QUANTIZED`'s comparison, its rows streamed,
    /// then the plan's progress; None when stopped.
    fn compare(
        &self,
        id: JobId,
        (original, quantized): (&Path, &Path),
        map: &NameMap,
        emit: &mut dyn FnMut(Output) -> bool,
    ) -> Result<Option<Against>, JobError> {
        let fail = |e: AgainstError| JobError::Against(Arc::new(e));
        let original = checkpoint::open(original, false).map_err(|e| fail(e.into()))?;
        // Every float tensor of the quantized side is decoded, norms included (as the CLI).
        let quantized = checkpoint::open(quantized, true).map_err(|e| fail(e.into()))?;
        let gone = AtomicBool::new(false);
        let stop = self.stopped(id, &gone);
        let watch = Watch::new(&stop, &|_, _| {});
        let mut on_step = |step: Step| {
            let out = match step {
                Step::Compared { done, total, tensor } => {
                    Output::AgainstRow { id, tensor: Box::new(tensor.clone()), done, total }
                }
                Step::Planning { done, total } => Output::Planning { id, done, total },
            };
            if !emit(out) {
                gone.store(true, Ordering::Relaxed);
            }
        };
        match against::against_streaming(&original, &quantized, map, true, &watch, &mut on_step) {
            Ok(result) => Ok(Some(result)),
            Err(AgainstError::Checkpoint(checkpoint::CheckpointError::Cancelled(_))) => Ok(None),
            Err(e) => Err(fail(e)),
        }
    }

    /// The scan, or None when a newer scan or a closed channel stopped it.
    fn scan(
        &self,
        id: JobId,
        path: &Path,
        formats: &str,
        emit: &mut dyn FnMut(Output) -> bool,
    ) -> Result<Option<Scan>, JobError> {
        let specs = select::parse_formats(formats).map_err(JobError::Formats)?;
        let ck = checkpoint::open(path, false).map_err(|e| JobError::Checkpoint(Arc::new(e)))?;
        let selected = vec![true; ck.tensors.len()];
        let gone = AtomicBool::new(false);
        let stop = self.stopped(id, &gone);
        let watch = Watch::new(&stop, &|_, _| {});
        let mut on_tensor = |done, total, t: &scan::TensorScan| {
            if !emit(Output::ScanRow { id, tensor: Box::new(t.clone()), done, total }) {
                gone.store(true, Ordering::Relaxed);
            }
        };
        match scan::scan_streaming(&ck, &selected, &specs, &watch, &mut on_tensor) {
            Ok(scan) => Ok(Some(scan)),
            Err(checkpoint::CheckpointError::Cancelled(_)) => Ok(None),
            Err(e) => Err(JobError::Checkpoint(Arc::new(e))),
        }
    }
}

/// A job's result: done, stopped (None) or failed.
fn outcome<T>(result: Result<Option<T>, JobError>) -> Outcome<Arc<T>> {
    match result {
        Ok(Some(t)) => Outcome::Done(Arc::new(t)),
        Ok(None) => Outcome::Cancelled,
        Err(e) => Outcome::Failed(e),
    }
}
