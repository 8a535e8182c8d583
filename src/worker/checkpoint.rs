//! The Checkpoint pane's worker: opens a checkpoint and scans it tensor by
//! tensor on its own thread, streaming each row to the app as it is
//! measured. A newer scan (or the app going away) stops it at the next tensor.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};

use super::{Job, JobError, JobId, Outcome, Output};
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
            if out.send(wrap(last)).is_err() {
                return;
            }
        }
    }

    /// Scans the job's checkpoint; `emit` gets each row as it is measured
    /// (false: no one listens, so the scan stops). Returns the last output.
    pub fn handle(&self, job: Job, emit: &mut dyn FnMut(Output) -> bool) -> Output {
        let Job::Scan { id, path, formats } = job else {
            let id = job.id();
            return Output::Scanned { id, result: Outcome::Failed(JobError::Misrouted("not a scan")) };
        };
        let result = match self.scan(id, &path, &formats, emit) {
            Ok(Some(scan)) => Outcome::Done(Arc::new(scan)),
            Ok(None) => Outcome::Cancelled,
            Err(e) => Outcome::Failed(e),
        };
        Output::Scanned { id, result }
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
        let newest = self.newest.clone();
        let stop = || newest.load(Ordering::Relaxed) > id || gone.load(Ordering::Relaxed);
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
