//! The ensemble worker. Trained members are kept by what their training
//! depends on (the data settings and the member's own settings, not its
//! weight), so a change of weight or fusion trains nothing and a change of
//! one member trains only that member. A newer job stops a training between
//! members; what was trained stays in the cache.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

use super::{DataSummary, EnsembleView, Job, Output};
use crate::compute::deploy::sweep;
use crate::compute::ensemble::{
    DataConfig, Fusion, MemberConfig, MemberResults, Prepared, Stacked, evaluate_with, load_dataset, prepare, stack,
    stacked_members, train_member,
};
use crate::settings::Settings;

type StackedResult = Arc<Result<Stacked, String>>;

/// Members kept at most: enough for every member of a few ensembles.
const CACHE: usize = 64;

#[derive(Default)]
pub struct EnsembleWorker {
    prepared: Option<(DataConfig, Arc<Prepared>, Arc<DataSummary>)>,
    members: VecDeque<(MemberConfig, Arc<MemberResults>)>,
    /// Stacking's meta-learners, by the stacked members' training keys.
    stacked: Option<(Vec<MemberConfig>, StackedResult)>,
}

/// Told after each member; returning false stops the training (a newer job waits).
pub type Progress<'a> = dyn FnMut(Output) -> bool + 'a;

impl EnsembleWorker {
    fn prepared(&mut self, cfg: &DataConfig) -> Result<(Arc<Prepared>, Arc<DataSummary>), String> {
        if let Some((c, p, d)) = &self.prepared
            && c == cfg
        {
            return Ok((p.clone(), d.clone()));
        }
        self.members.clear();
        self.stacked = None;
        let dataset = load_dataset(cfg).map_err(|e| e.to_string())?;
        let prepared = prepare(dataset, cfg).map_err(|e| e.to_string())?;
        let d = &prepared.dataset;
        let summary = DataSummary {
            source: d.source.clone(),
            rows: d.rows(),
            features: d.features.ncols(),
            class_names: d.class_names.clone(),
            train_rows: prepared.split.train.len(),
            test_rows: prepared.split.test.len(),
        };
        let (p, s) = (Arc::new(prepared), Arc::new(summary));
        self.prepared = Some((cfg.clone(), p.clone(), s.clone()));
        Ok((p, s))
    }

    fn cached(&self, m: &MemberConfig) -> Option<Arc<MemberResults>> {
        let key = m.fit_key();
        self.members.iter().find(|(k, _)| *k == key).map(|(_, r)| r.clone())
    }

    /// Trains what is not cached and fuses. None when `progress` asked to stop.
    pub fn train(
        &mut self,
        id: u64,
        settings: &Settings,
        progress: &mut Progress,
    ) -> Option<Result<EnsembleView, String>> {
        let start = Instant::now();
        let (prepared, data) = match self.prepared(&settings.data) {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        let members = &settings.ensemble.members;
        let mut results = Vec::with_capacity(members.len());
        let mut trained = 0;
        for (done, m) in members.iter().enumerate() {
            let r = match self.cached(m) {
                Some(r) => r,
                None => {
                    if !progress(Output::Training { id, done, total: members.len() }) {
                        return None;
                    }
                    let r = match train_member(&prepared, m, settings.data.seed) {
                        Ok(r) => Arc::new(r),
                        Err(e) => return Some(Err(format!("member {} ({}): {e}", done + 1, m.kind))),
                    };
                    trained += 1;
                    if self.members.len() == CACHE {
                        self.members.pop_front();
                    }
                    self.members.push_back((m.fit_key(), r.clone()));
                    r
                }
            };
            results.push(r);
        }
        let refs: Vec<&MemberResults> = results.iter().map(|r| r.as_ref()).collect();
        let stacked = (settings.ensemble.fusion == Fusion::Stacking).then(|| self.stacked(&prepared, settings, &refs));
        let report = evaluate_with(&prepared, &settings.ensemble, &refs, stacked.as_deref());
        let deploy = sweep(&prepared, &settings.ensemble, &refs, &settings.quant, &settings.deploy, stacked.as_deref());
        Some(Ok(EnsembleView {
            settings: settings.clone(),
            data,
            report: Arc::new(report),
            deploy: Arc::new(deploy),
            trained,
            compute_ms: start.elapsed().as_secs_f64() * 1e3,
        }))
    }

    /// The meta-learners for these members, fitted once while they stay the same.
    fn stacked(&mut self, p: &Prepared, settings: &Settings, results: &[&MemberResults]) -> StackedResult {
        let members = &settings.ensemble.members;
        let key: Vec<MemberConfig> = stacked_members(members).iter().map(|&i| members[i].fit_key()).collect();
        if let Some((k, s)) = &self.stacked
            && *k == key
        {
            return s.clone();
        }
        let s = Arc::new(stack(p, &settings.ensemble, results));
        self.stacked = Some((key, s.clone()));
        s
    }

    /// Runs a training job; progress goes to `progress`, the result is returned
    /// (an empty error when the job was stopped for a newer one).
    pub fn handle(&mut self, job: Job, progress: &mut Progress) -> Output {
        let Job::Train { id, settings } = job else {
            return Output::Trained { id: job.id(), result: Err("not a training job".into()) };
        };
        match self.train(id, &settings, progress) {
            Some(result) => Output::Trained { id, result: result.map(Box::new) },
            None => Output::Trained { id, result: Err(String::new()) },
        }
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
                && out.send(wrap(Output::Trained { id, result: result.map(Box::new) })).is_err()
            {
                return;
            }
            if !alive {
                return;
            }
            // Fit stacking's meta-learners now, while idle, so that switching
            // to stacking later is as quick as any other fusion change.
            match jobs.try_iter().last() {
                Some(newer) => waiting = Some(newer),
                None => self.warm_stacking(&settings),
            }
        }
    }

    fn warm_stacking(&mut self, settings: &Settings) {
        let Ok((prepared, _)) = self.prepared(&settings.data) else { return };
        let results: Option<Vec<Arc<MemberResults>>> =
            settings.ensemble.members.iter().map(|m| self.cached(m)).collect();
        if let Some(results) = results.filter(|r| !r.is_empty()) {
            let refs: Vec<&MemberResults> = results.iter().map(|r| r.as_ref()).collect();
            self.stacked(&prepared, settings, &refs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::ensemble::Fusion;

    #[test]
    fn stacking_warmed_while_idle_is_reused_and_weights_train_nothing() {
        let mut w = EnsembleWorker::default();
        let mut s = Settings::default();
        let first = w.train(1, &s, &mut |_| true).unwrap().unwrap();
        assert_eq!(first.trained, 3);
        w.warm_stacking(&s);
        let warmed = w.stacked.as_ref().unwrap().1.clone();
        s.ensemble.fusion = Fusion::Stacking;
        s.ensemble.members[1].weight = 2.5;
        let stacked = w.train(2, &s, &mut |_| true).unwrap().unwrap();
        assert_eq!(stacked.trained, 0);
        assert!(Arc::ptr_eq(&warmed, &w.stacked.as_ref().unwrap().1), "the meta-learners were fitted again");
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
        assert_eq!(w.members.len(), 1);
    }
}
