//! The ensemble worker: runs the ensemble pipeline
//! ([`crate::compute::ensemble::EnsembleCache`]) for training jobs and keeps
//! its cache between them. A newer job stops a training between members;
//! what was trained stays in the cache.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{DataSummary, EnsembleView, Job, JobError, Outcome, Output};
use crate::compute::ensemble::{EnsembleCache, EnsembleError, PipelineSettings, Prepared};
use crate::compute::parallel::on_one_thread;
use crate::compute::watch::{Cancelled, Watch};
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

    /// While idle: fits what switching to stacking or mlp needs (the
    /// members' inner folds, both meta-learners) for `settings`, on one
    /// thread, so the other core stays with the event loop; a low-priority
    /// job that `stop` ends within one perceptron step or between members,
    /// keeping what was finished. How many member fits it made.
    pub fn warm_learned_fusions(
        &mut self,
        settings: &Settings,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<usize, EnsembleError> {
        let watch = Watch::new(stop, &|_, _| ());
        on_one_thread(|| self.cache.warm_learned_fusions(&settings.data, &settings.ensemble, &watch))
    }

    /// How many times meta-learners were fitted (see `EnsembleCache::meta_fittings`).
    pub fn meta_fittings(&self) -> usize {
        self.cache.meta_fittings()
    }

    /// Runs training jobs until the channel closes; a newer job stops the
    /// current one between members, and the idle fits within one step.
    pub fn run<E>(mut self, jobs: Receiver<Job>, out: Sender<E>, wrap: impl Fn(Output) -> E) {
        // Shared with the compute threads of an idle fit, which ask whether a newer job waits.
        let queue = Mutex::new(jobs);
        let waiting: Mutex<Option<Job>> = Mutex::new(None);
        let newer_waits = || {
            let mut waiting = lock(&waiting);
            if let Some(newer) = lock(&queue).try_iter().last() {
                *waiting = Some(newer);
            }
            waiting.is_some()
        };
        loop {
            let kept = lock(&waiting).take();
            let job = match kept {
                Some(job) => job,
                None => match lock(&queue).recv() {
                    Ok(job) => job,
                    Err(_) => return,
                },
            };
            // Only the newest of the jobs already queued matters.
            let job = lock(&queue).try_iter().last().unwrap_or(job);
            let Job::Train { id, settings } = job else { continue };
            let mut alive = true;
            let mut progress = |o: Output| {
                if newer_waits() {
                    return false;
                }
                alive = out.send(wrap(o)).is_ok();
                alive
            };
            if let Some(result) = self.train(id, &settings, &mut progress)
                && out.send(wrap(Output::Trained { id, result: trained_output(Some(result)) })).is_err()
            {
                return;
            }
            if !alive {
                return;
            }
            if newer_waits() {
                continue;
            }
            // A failure here shows when a learned fusion is chosen and trained for real.
            let _ = self.warm_learned_fusions(&settings, &newer_waits);
        }
    }
}

/// The lock's value, even if a thread panicked holding it (the queue and the waiting job stay usable).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
    use crate::compute::ensemble::{Fusion, MetaKind};

    #[test]
    fn stacking_warmed_while_idle_is_reused_and_weights_train_nothing() {
        let mut w = EnsembleWorker::default();
        let mut s = Settings::default();
        let first = w.train(1, &s, &mut |_| true).unwrap().unwrap();
        assert_eq!(first.trained, 3);
        // Warming fits each member's inner folds (5 each) and trains no member.
        assert_eq!(w.warm_learned_fusions(&s, &|| false).unwrap(), 3 * 5);
        let warmed = w.cache.kept_stacking(MetaKind::Logistic).unwrap().clone();
        s.ensemble.fusion = Fusion::Stacking;
        s.ensemble.members[1].weight = 2.5;
        let stacked = w.train(2, &s, &mut |_| true).unwrap().unwrap();
        assert_eq!(stacked.trained, 0);
        assert!(
            Arc::ptr_eq(&warmed, w.cache.kept_stacking(MetaKind::Logistic).unwrap()),
            "the meta-learners were fitted again"
        );
        assert!(stacked.report.stacking_influence.is_some());
    }

    #[test]
    fn switching_to_mlp_after_the_idle_fits_fits_nothing() {
        let mut w = EnsembleWorker::default();
        let mut s = Settings::default();
        w.train(1, &s, &mut |_| true).unwrap().unwrap();
        assert_eq!(w.meta_fittings(), 0, "soft voting fits no meta-learner");
        w.warm_learned_fusions(&s, &|| false).unwrap();
        assert_eq!(w.meta_fittings(), 2, "stacking's and mlp's meta-learners, once each");
        let warmed = w.cache.kept_stacking(MetaKind::Mlp { hidden: s.ensemble.mlp_hidden }).unwrap().clone();
        for fusion in [Fusion::Mlp, Fusion::Stacking, Fusion::Mlp] {
            s.ensemble.fusion = fusion;
            let view = w.train(2, &s, &mut |_| true).unwrap().unwrap();
            assert_eq!((view.trained, w.meta_fittings()), (0, 2), "{fusion}: nothing trained, nothing fitted");
            assert!(view.report.stacking_influence.is_some());
        }
        // The same meta-learners an mlp chosen from the start fits.
        let mut fresh = EnsembleWorker::default();
        let fitted = fresh.train(3, &s, &mut |_| true).unwrap().unwrap();
        assert_eq!(fresh.meta_fittings(), 1);
        let kept = fresh.cache.kept_stacking(MetaKind::Mlp { hidden: s.ensemble.mlp_hidden }).unwrap();
        assert_eq!(warmed.as_ref().as_ref().unwrap(), kept.as_ref().as_ref().unwrap(), "fitted on one thread or more");
        let view = w.train(4, &s, &mut |_| true).unwrap().unwrap();
        assert_eq!(view.report.cv_accuracy_mean, fitted.report.cv_accuracy_mean);
        // Another hidden size is a new set of meta-learners, fitted when chosen.
        s.ensemble.mlp_hidden = 4;
        w.train(5, &s, &mut |_| true).unwrap().unwrap();
        assert_eq!(w.meta_fittings(), 3);
    }

    #[test]
    fn a_newer_job_stops_the_idle_mlp_fit_within_a_step() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let mut w = EnsembleWorker::default();
        let s = Settings::default();
        w.train(1, &s, &mut |_| true).unwrap().unwrap();
        // Past the checks between members and before stacking's fold fits:
        // the stop comes during the perceptron's Adam steps.
        let (asked, stop_at) = (AtomicUsize::new(0), 60);
        let stop = || asked.fetch_add(1, Ordering::Relaxed) + 1 >= stop_at;
        let stopped = w.warm_learned_fusions(&s, &stop);
        assert!(matches!(stopped, Err(EnsembleError::Cancelled(_))), "{stopped:?}");
        // Each of the 1 + folds fits stops at its next check.
        let tasks = s.data.folds + 1;
        assert!(asked.load(Ordering::Relaxed) <= stop_at + tasks, "asked {} times", asked.load(Ordering::Relaxed));
        let mlp = MetaKind::Mlp { hidden: s.ensemble.mlp_hidden };
        assert!(w.cache.kept_stacking(MetaKind::Logistic).is_some(), "what was finished is kept");
        assert!(w.cache.kept_stacking(mlp).is_none(), "a stopped fit is not kept");
        assert_eq!(w.meta_fittings(), 1);
        // The next idle time fits it.
        assert_eq!(w.warm_learned_fusions(&s, &|| false).unwrap(), 0, "the inner folds were kept");
        assert!(w.cache.kept_stacking(mlp).is_some());
        assert_eq!(w.meta_fittings(), 2);
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
