//! The ensemble pipeline: prepare the data, train the members that are not
//! cached, stack, evaluate and sweep the bit widths. The TUI's worker and
//! the headless `report` both run it.
//!
//! Trained members are kept by what their training depends on (the data
//! settings and the member's own settings, not its weight), so a change of
//! weight or fusion trains nothing and a change of one member trains only
//! that member. A stop between members keeps what was trained.
//!
//! A member is fitted 1 + folds times (the train split and each
//! cross-validation fold, once); a fusion that learns from out-of-fold
//! probabilities ([`needs_inner_folds`]) adds folds fits within the train
//! split for the test split's meta-learner, and the worker fits those, and
//! the meta-learners of stacking and mlp, while idle
//! ([`EnsembleCache::warm_learned_fusions`]), so that switching to either
//! later trains nothing and fits nothing.

use std::collections::VecDeque;
use std::sync::Arc;

use super::stacking::stack_watched;
use super::{
    DataConfig, EnsembleConfig, EnsembleError, EnsembleReport, Fusion, MemberConfig, MemberResults, MetaKind, Prepared,
    Stacked, WeightRule, evaluate_with, load_dataset, prepare, stacked_members, train_inner_folds, train_outer,
};
use crate::compute::deploy::{DeployConfig, DeployReport, QuantizedMembers, sweep_kept};
use crate::compute::quant::QuantConfig;
use crate::compute::watch::{Cancelled, Watch};

/// Members kept at most: enough for every member of a few ensembles.
const CACHE: usize = 64;
/// Meta-learner sets kept at most: stacking's and mlp's for the current
/// members, with room for a few mlp sizes or member sets before them.
const STACKED_CACHE: usize = 6;

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
    /// How many model fits this run made (each member 1 + folds, plus folds
    /// for [`needs_inner_folds`]; nothing for a cached member).
    pub fits: usize,
}

/// Whether `ens`'s fusion learns on the members' out-of-fold probabilities
/// and so needs, for the test split, probabilities on the train rows from
/// models that never saw a test row (`MemberResults::train_oof_proba`).
/// The voting rules do not, unless their weights are optimized (chosen on
/// those probabilities too); a new learned fusion does by default.
pub fn needs_inner_folds(ens: &EnsembleConfig) -> bool {
    !matches!(ens.fusion, Fusion::Soft | Fusion::Hard | Fusion::LabelMean) || ens.weights == WeightRule::Optimized
}

/// The pipeline's memory between runs: the prepared data, trained members and stacking.
#[derive(Default)]
pub struct EnsembleCache {
    prepared: Option<(DataConfig, Arc<Prepared>)>,
    members: VecDeque<(MemberConfig, Arc<MemberResults>)>,
    /// Meta-learners (stacking's and mlp's), by the stacked members'
    /// training keys and the meta-learner, oldest first.
    stacked: VecDeque<(StackKey, StackedResult)>,
    /// How many times meta-learners were fitted (each time 1 + folds fits).
    meta_fittings: usize,
    /// The Deploy sweep's quantized members, by members and setting.
    quantized: QuantizedMembers,
}

/// What a set of meta-learners depends on: the stacked members' training
/// keys, where they stand among all the members (the learners read the
/// members' probabilities by position), and the meta-learner.
#[derive(Debug, Clone, PartialEq)]
struct StackKey {
    members: Vec<MemberConfig>,
    positions: Vec<usize>,
    count: usize,
    kind: MetaKind,
}

impl StackKey {
    fn of(ens: &EnsembleConfig, kind: MetaKind) -> StackKey {
        let positions = stacked_members(&ens.members);
        let members = positions.iter().map(|&i| ens.members[i].fit_key()).collect();
        StackKey { members, positions, count: ens.members.len(), kind }
    }
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
        self.stacked.clear();
        self.quantized.clear();
        let prepared = Arc::new(prepare(load_dataset(cfg)?, cfg)?);
        self.prepared = Some((cfg.clone(), prepared.clone()));
        Ok(prepared)
    }

    /// Trains what is not cached, then stacks, evaluates and sweeps.
    pub fn run(&mut self, s: PipelineSettings, on_member: &mut OnMember) -> Result<Trained, EnsembleError> {
        let prepared = self.prepared(s.data)?;
        let inner = needs_inner_folds(s.ensemble);
        let (results, trained, fits) =
            self.train_members(&prepared, s.data.seed, &s.ensemble.members, inner, on_member)?;
        let refs: Vec<&MemberResults> = results.iter().map(|r| r.as_ref()).collect();
        let stacked = match s.ensemble.fusion.learns_meta() {
            true => Some(self.stacked(&prepared, s.ensemble, MetaKind::of(s.ensemble), &refs, &Watch::NONE)?),
            false => None,
        };
        let report = evaluate_with(&prepared, s.ensemble, &refs, stacked.as_deref());
        let deploy =
            sweep_kept(&prepared, s.ensemble, &refs, (s.quant, s.deploy), stacked.as_deref(), &mut self.quantized);
        Ok(Trained { prepared, report, deploy, trained, fits })
    }

    /// Each member's results, from the cache or trained now (with the inner
    /// folds when `inner`), with how many members were trained and how many fits that took.
    fn train_members(
        &mut self,
        prepared: &Prepared,
        data_seed: u64,
        members: &[MemberConfig],
        inner: bool,
        on_member: &mut OnMember,
    ) -> Result<(Vec<Arc<MemberResults>>, usize, usize), EnsembleError> {
        let mut results = Vec::with_capacity(members.len());
        let (mut trained, mut fits) = (0, 0);
        for (done, m) in members.iter().enumerate() {
            let cached = self.cached(m);
            if let Some(r) = &cached
                && (!inner || r.train_oof_proba.is_some())
            {
                results.push(r.clone());
                continue;
            }
            on_member(done, members.len())?;
            let in_member = |e| EnsembleError::Member { index: done + 1, kind: m.kind, source: Box::new(e) };
            let (mut r, fits_before) = match cached {
                Some(r) => (MemberResults::clone(&r), r.fits),
                None => {
                    trained += 1;
                    (train_outer(prepared, m, data_seed).map_err(in_member)?, 0)
                }
            };
            if inner {
                train_inner_folds(prepared, m, data_seed, &mut r).map_err(in_member)?;
            }
            fits += r.fits - fits_before;
            let r = Arc::new(r);
            self.store(m.fit_key(), r.clone());
            results.push(r);
        }
        Ok((results, trained, fits))
    }

    /// Keeps `r` under `key`, in place of what was kept there.
    fn store(&mut self, key: MemberConfig, r: Arc<MemberResults>) {
        if let Some(slot) = self.members.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = r;
            return;
        }
        if self.members.len() == CACHE {
            self.members.pop_front();
        }
        self.members.push_back((key, r));
    }

    fn cached(&self, m: &MemberConfig) -> Option<Arc<MemberResults>> {
        let key = m.fit_key();
        self.members.iter().find(|(k, _)| *k == key).map(|(_, r)| r.clone())
    }

    /// How many trained members are kept.
    pub fn cached_members(&self) -> usize {
        self.members.len()
    }

    /// The meta-learners of `kind` kept last, if any.
    pub fn kept_stacking(&self, kind: MetaKind) -> Option<&StackedResult> {
        self.stacked.iter().rev().find(|(k, _)| k.kind == kind).map(|(_, s)| s)
    }

    /// How many times meta-learners were fitted since this cache was made
    /// (each time the 1 + folds fits of stacking's or mlp's `stack`).
    pub fn meta_fittings(&self) -> usize {
        self.meta_fittings
    }

    /// The meta-learners of `kind` for these members, fitted once while they
    /// stay the same. Only a stop (`Err(Cancelled)`, from `watch`) is not kept.
    fn stacked(
        &mut self,
        p: &Prepared,
        ens: &EnsembleConfig,
        kind: MetaKind,
        results: &[&MemberResults],
        watch: &Watch,
    ) -> Result<StackedResult, Cancelled> {
        let key = StackKey::of(ens, kind);
        if let Some((_, s)) = self.stacked.iter().find(|(k, _)| *k == key) {
            return Ok(s.clone());
        }
        let s = match stack_watched(p, ens, kind, results, watch) {
            Err(EnsembleError::Cancelled(c)) => return Err(c),
            s => Arc::new(s),
        };
        self.meta_fittings += 1;
        if self.stacked.len() == STACKED_CACHE {
            self.stacked.pop_front();
        }
        self.stacked.push_back((key, s.clone()));
        Ok(s)
    }

    /// When every member is cached, fits their inner folds and the
    /// meta-learners of both learned fusions (stacking's logistic, then
    /// mlp's perceptron of `ens.mlp_hidden` units), so that switching to
    /// either later is as quick as any other fusion change. `watch` is
    /// checked before each member and each perceptron step; a stop
    /// (`Err(Cancelled)`) keeps what was finished. Trains no member that is
    /// not cached; how many member fits it made.
    pub fn warm_learned_fusions(
        &mut self,
        data: &DataConfig,
        ens: &EnsembleConfig,
        watch: &Watch,
    ) -> Result<usize, EnsembleError> {
        let Ok(prepared) = self.prepared(data) else { return Ok(0) };
        if ens.members.is_empty() || ens.members.iter().any(|m| self.cached(m).is_none()) {
            return Ok(0);
        }
        let mut between_members = |_, _| watch.check();
        let (results, _, fits) = self.train_members(&prepared, data.seed, &ens.members, true, &mut between_members)?;
        let refs: Vec<&MemberResults> = results.iter().map(|r| r.as_ref()).collect();
        for kind in [MetaKind::Logistic, MetaKind::Mlp { hidden: ens.mlp_hidden }] {
            self.stacked(&prepared, ens, kind, &refs, watch)?;
        }
        Ok(fits)
    }
}
