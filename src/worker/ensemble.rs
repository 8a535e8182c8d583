//! The ensemble worker: runs the ensemble pipeline
//! ([`crate::compute::ensemble::EnsembleCache`]) for training jobs and keeps
//! its cache between them. A newer job stops a training between members;
//! what was trained stays in the cache.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

use super::{DataSummary, EnsembleView, Job, JobError, Outcome, Output};
use crate::compute::ensemble::{EnsembleCache, EnsembleError, PipelineSettings, Prepared};
use crate::compute::watch::Cancelled;
use crate::settings::Settings;

#[derive(Default)]
pub struct EnsembleWorker {
    cache: EnsembleCache,
    /// What the pane shows of the prepared data, kept while the data stays the same.
    summary: Option<(Arc<Prepared>, Arc<DataSummary>)>,
}

/// Told after each member; returning false stops the training (a newer job waits).
pub type Progress<'a> = dyn FnMut(Output) -> bool + 'a;

fn pipeline_settings(settings: &Settings) -> PipelineSettings<'_> {
    PipelineSettings {
        data: &settings.data,
        ensemble: &settings.ensemble,
        quant: &settings.quant,
        deploy: &settings.deploy,
    }
}

impl EnsembleWorker {
    /// Trains what is not cached and fuses. None when `progress` asked to stop.
    pub fn train(
        &mut self,
        id: u64,
        settings: &Settings,
        progress: &mut Progress,
    ) -> Option<Result<EnsembleView, EnsembleError>> {
        match self.run_pipeline(id, settings, progress) {
            Err(EnsembleError::Cancelled(Cancelled)) => None,
            result => Some(result),
        }
    }

    fn run_pipeline(
        &mut self,
        id: u64,
        settings: &Settings,
        progress: &mut Progress,
    ) -> Result<EnsembleView, EnsembleError> {
        let start = Instant::now();
        let mut on_member = |done, total| match progress(Output::Training { id, done, total }) {
            true => Ok(()),
            false => Err(Cancelled),
        };
        let run = self.cache.run(pipeline_settings(settings), &mut on_member)?;
        Ok(EnsembleView {
            settings: settings.clone(),
            data: self.summary(&run.prepared),
            report: Arc::new(run.report),
            deploy: Arc::new(run.deploy),
            trained: run.trained,
            compute_ms: start.elapsed().as_secs_f64() * 1e3,
        })
    }

    fn summary(&mut self, prepared: &Arc<Prepared>) -> Arc<DataSummary> {
        if let Some((p, s)) = &self.summary
            && Arc::ptr_eq(p, prepared)
        {
            return s.clone();
        }
        let d = &prepared.dataset;
        let summary = Arc::new(DataSummary {
            source: d.source.clone(),
            rows: d.rows(),
            features: d.features.ncols(),
            class_names: d.class_names.clone(),
            train_rows: prepared.split.train.len(),
            test_rows: prepared.split.test.len(),
        });
        self.summary = Some((prepared.clone(), summary.clone()));
        summary
    }

    /// Runs a training job; progress goes to `progress`, the result is returned
    /// (an empty error when the job was stopped for a newer one).
    pub fn handle(&mut self, job: Job, progress: &mut Progress) -> Output {
        let Job::Train { id, settings } = job else {
            return Output::Trained {
                id: job.id(),
                result: Outcome::Failed(JobError::Misrouted("not a training job")),
            };
        };
        Output::Trained { id, result: trained_output(self.train(id, &settings, progress)) }
    }

    /// Runs training jobs until the channel closes; a newer job stops the
    /// current one between members.
    pub fn run<E>(mut self, jobs: Receiver<Job>, out: Sender<E>, wrap: impl Fn(Output) -> E) {
        let mut waiting: Option<Job> = None;
        loop {
            let job = match waiting.take() {
                Some(job) => job,
                None => match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                },
            };
            // Only the newest of the jobs already queued matters.
            let job = jobs.try_iter().last().unwrap_or(job);
            let mut alive = true;
            let mut progress = |o: Output| {
                if let Some(newer) = jobs.try_iter().last() {
                    waiting = Some(newer);
                    return false;
                }
                alive = out.send(wrap(o)).is_ok();
                alive
            };
            let Job::Train { id, settings } = job else { continue };
            if let Some(result) = self.train(id, &settings, &mut progress)
                && out.send(wrap(Output::Trained { id, result: trained_output(Some(result)) })).is_err()
            {
                return;
            }
            if !alive {
                return;
            }
            // Fit the inner folds and stacking's meta-learners now, while
            // idle, so that switching to stacking later is as quick as any
            // other fusion change; a newer job stops it between members.
            let mut stop_for_newer = |_, _| match jobs.try_iter().last() {
                Some(newer) => {
                    waiting = Some(newer);
                    Err(Cancelled)
                }
                None => Ok(()),
            };
            // A failure here shows when stacking is chosen and trained for real.
            let _ = self.cache.warm_stacking(&settings.data, &settings.ensemble, &mut stop_for_newer);
        }
    }
}

/// The job's outcome as the app reads it.
fn trained_output(result: Option<Result<EnsembleView, EnsembleError>>) -> Outcome<Box<EnsembleView>> {
    match result {
        Some(Ok(view)) => Outcome::Done(Box::new(view)),
        Some(Err(e)) => Outcome::Failed(JobError::Ensemble(Arc::new(e))),
        None => Outcome::Cancelled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_training_is_cancelled_not_an_error() {
        assert!(matches!(trained_output(None), Outcome::Cancelled));
    }
    use crate::compute::ensemble::Fusion;

    #[test]
    fn stacking_warmed_while_idle_is_reused_and_weights_train_nothing() {
        let mut w = EnsembleWorker::default();
        let mut s = Settings::default();
        let first = w.train(1, &s, &mut |_| true).unwrap().unwrap();
        assert_eq!(first.trained, 3);
        // Warming fits each member's inner folds (5 each) and trains no member.
        assert_eq!(w.cache.warm_stacking(&s.data, &s.ensemble, &mut |_, _| Ok(())).unwrap(), 3 * 5);
        let warmed = w.cache.kept_stacking().unwrap().clone();
        s.ensemble.fusion = Fusion::Stacking;
        s.ensemble.members[1].weight = 2.5;
        let stacked = w.train(2, &s, &mut |_| true).unwrap().unwrap();
        assert_eq!(stacked.trained, 0);
        assert!(Arc::ptr_eq(&warmed, w.cache.kept_stacking().unwrap()), "the meta-learners were fitted again");
        assert!(stacked.report.stacking_influence.is_some());
    }

    #[test]
    fn a_newer_job_stops_a_training_between_members() {
        let mut w = EnsembleWorker::default();
        let mut calls = 0;
        let stopped = w.train(1, &Settings::default(), &mut |_| {
            calls += 1;
            calls < 2
        });
        assert!(stopped.is_none());
        // The member trained before the stop is kept.
        assert_eq!(w.cache.cached_members(), 1);
    }
}
