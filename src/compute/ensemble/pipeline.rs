//! The ensemble pipeline: prepare the data, train the members that are not
//! cached, stack, evaluate and sweep the bit widths. The TUI's worker and
//! the headless `report` both run it.
//!
//! Trained members are kept by what their training depends on (the data
//! settings and the member's own settings, not its weight), so a change of
//! weight or fusion trains nothing and a change of one member trains only
//! that member. A stop between members keeps what was trained.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{
    DataConfig, EnsembleConfig, EnsembleError, EnsembleReport, MemberConfig, MemberResults, Prepared, Stacked,
    evaluate_with, load_dataset, prepare, stack, stacked_members, train_member,
};
use crate::compute::deploy::{DeployConfig, DeployReport, sweep};
use crate::compute::quant::QuantConfig;
use crate::compute::watch::Cancelled;

/// Members kept at most: enough for every member of a few ensembles.
const CACHE: usize = 64;

/// Stacking's meta-learners, or why they could not be fitted (shared with the Deploy sweep).
pub type StackedResult = Arc<Result<Stacked, EnsembleError>>;

/// Told `(done, total)` before each member that must be trained; `Err(Cancelled)` stops the training.
pub type OnMember<'a> = dyn FnMut(usize, usize) -> Result<(), Cancelled> + 'a;

/// What the pipeline reads: the settings tables it depends on.
#[derive(Debug, Clone, Copy)]
pub struct PipelineSettings<'a> {
    pub data: &'a DataConfig,
    pub ensemble: &'a EnsembleConfig,
    pub quant: &'a QuantConfig,
    pub deploy: &'a DeployConfig,
}

/// One run of the pipeline.
#[derive(Debug, Clone)]
pub struct Trained {
    pub prepared: Arc<Prepared>,
    pub report: EnsembleReport,
    /// The ensemble quantized with the Quantize pane's settings.
    pub deploy: DeployReport,
    /// How many members had to be trained (the rest came from the cache).
    pub trained: usize,
}

/// The pipeline's memory between runs: the prepared data, trained members and stacking.
#[derive(Default)]
pub struct EnsembleCache {
    prepared: Option<(DataConfig, Arc<Prepared>)>,
    members: VecDeque<(MemberConfig, Arc<MemberResults>)>,
    /// Stacking's meta-learners, by the stacked members' training keys.
    stacked: Option<(Vec<MemberConfig>, StackedResult)>,
}

impl EnsembleCache {
    /// The data `cfg` names, split and folded; a new `cfg` forgets every trained member.
    pub fn prepared(&mut self, cfg: &DataConfig) -> Result<Arc<Prepared>, EnsembleError> {
        if let Some((c, p)) = &self.prepared
            && c == cfg
        {
            return Ok(p.clone());
        }
        self.members.clear();
        self.stacked = None;
        let prepared = Arc::new(prepare(load_dataset(cfg)?, cfg)?);
        self.prepared = Some((cfg.clone(), prepared.clone()));
        Ok(prepared)
    }

    /// Trains what is not cached, then stacks, evaluates and sweeps.
    pub fn run(&mut self, s: PipelineSettings, on_member: &mut OnMember) -> Result<Trained, EnsembleError> {
        let prepared = self.prepared(s.data)?;
        let (results, trained) = self.train_members(&prepared, s, on_member)?;
        let refs: Vec<&MemberResults> = results.iter().map(|r| r.as_ref()).collect();
        let stacked = s.ensemble.fusion.learns_meta().then(|| self.stacked(&prepared, s.ensemble, &refs));
        let report = evaluate_with(&prepared, s.ensemble, &refs, stacked.as_deref());
        let deploy = sweep(&prepared, s.ensemble, &refs, s.quant, s.deploy, stacked.as_deref());
        Ok(Trained { prepared, report, deploy, trained })
    }

    fn train_members(
        &mut self,
        prepared: &Prepared,
        s: PipelineSettings,
        on_member: &mut OnMember,
    ) -> Result<(Vec<Arc<MemberResults>>, usize), EnsembleError> {
        let members = &s.ensemble.members;
        let mut results = Vec::with_capacity(members.len());
        let mut trained = 0;
        for (done, m) in members.iter().enumerate() {
            if let Some(r) = self.cached(m) {
                results.push(r);
                continue;
            }
            on_member(done, members.len())?;
            let r = train_member(prepared, m, s.data.seed).map_err(|e| EnsembleError::Member {
                index: done + 1,
                kind: m.kind,
                source: Box::new(e),
            })?;
            let r = Arc::new(r);
            if self.members.len() == CACHE {
                self.members.pop_front();
            }
            self.members.push_back((m.fit_key(), r.clone()));
            trained += 1;
            results.push(r);
        }
        Ok((results, trained))
    }

    fn cached(&self, m: &MemberConfig) -> Option<Arc<MemberResults>> {
        let key = m.fit_key();
        self.members.iter().find(|(k, _)| *k == key).map(|(_, r)| r.clone())
    }

    /// How many trained members are kept.
    pub fn cached_members(&self) -> usize {
        self.members.len()
    }

    /// The meta-learners kept last, if any.
    pub fn kept_stacking(&self) -> Option<&StackedResult> {
        self.stacked.as_ref().map(|(_, s)| s)
    }

    /// The meta-learners for these members, fitted once while they stay the same.
    fn stacked(&mut self, p: &Prepared, ens: &EnsembleConfig, results: &[&MemberResults]) -> StackedResult {
        let members = &ens.members;
        let key: Vec<MemberConfig> = stacked_members(members).iter().map(|&i| members[i].fit_key()).collect();
        if let Some((k, s)) = &self.stacked
            && *k == key
            // A failure is kept whatever the meta-learner: it comes from the members' tables.
            && s.as_ref().as_ref().map_or(true, |s| s.kind == super::MetaKind::of(ens))
        {
            return s.clone();
        }
        let s = Arc::new(stack(p, ens, results));
        self.stacked = Some((key, s.clone()));
        s
    }

    /// Fits stacking's meta-learners for these settings when every member is
    /// cached, so that switching to stacking later is as quick as any other
    /// fusion change. Trains nothing.
    pub fn warm_stacking(&mut self, data: &DataConfig, ens: &EnsembleConfig) {
        let Ok(prepared) = self.prepared(data) else { return };
        let results: Option<Vec<Arc<MemberResults>>> = ens.members.iter().map(|m| self.cached(m)).collect();
        if let Some(results) = results.filter(|r| !r.is_empty()) {
            let refs: Vec<&MemberResults> = results.iter().map(|r| r.as_ref()).collect();
            self.stacked(&prepared, ens, &refs);
        }
    }
}
