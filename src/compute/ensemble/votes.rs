//! A voting rule with its weights for the test rows and for each CV fold:
//! the members' own weights (the same everywhere) or optimized ones (chosen
//! anew inside every fold), and what the report measures with it. The
//! Ensemble pane and the Deploy pane both take their weights from
//! [`vote_weights`], so the quantized ensemble votes as the float one.

use ndarray::{Array2, ArrayView2, Axis};

use super::fusion::{fuse_votes, soft_mean};
use super::metrics::fold_accuracies;
use super::selection::{Optimized, optimize};
use super::stacking::{Stacked, stacked_members, views};
use super::{EnsembleConfig, Fusion, MemberResults, Prepared, WeightRule};

/// The voting weights of the test rows and of each CV fold.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteWeights {
    pub test: Vec<f64>,
    /// One weight vector per CV fold.
    pub folds: Vec<Vec<f64>>,
}

impl VoteWeights {
    /// The same weights for the test rows and every fold.
    pub fn fixed(weights: &[f64], folds: usize) -> VoteWeights {
        VoteWeights { test: weights.to_vec(), folds: vec![weights.to_vec(); folds] }
    }

    /// The test rows' weights (`fold` None) or CV fold `k`'s.
    pub fn of(&self, fold: Option<usize>) -> &[f64] {
        fold.and_then(|k| self.folds.get(k)).unwrap_or(&self.test)
    }
}

/// The voting weights `cfg` asks for, for its first `results.len()` members:
/// each member's `weight`, or with `weights = "optimized"` and a voting
/// fusion, ensemble selection's (chosen on the float members' out-of-fold
/// probabilities, again inside every CV fold), returned with the selection.
pub fn vote_weights(
    p: &Prepared,
    cfg: &EnsembleConfig,
    results: &[&MemberResults],
) -> (VoteWeights, Option<Optimized>) {
    let configs = &cfg.members[..results.len().min(cfg.members.len())];
    let raw: Vec<f64> = configs.iter().map(|m| m.weight).collect();
    if cfg.weights != WeightRule::Optimized || cfg.fusion.learns_meta() {
        return (VoteWeights::fixed(&raw, p.folds.len()), None);
    }
    let opt = optimize(p, &results[..configs.len()], &stacked_members(configs));
    (VoteWeights { test: opt.test.clone(), folds: opt.folds.clone() }, Some(opt))
}

/// A voting rule (soft, hard or label-mean) and its weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Votes {
    pub fusion: Fusion,
    pub weights: VoteWeights,
    pub classes: usize,
}

impl Votes {
    pub fn test_labels(&self, test_probas: &[ArrayView2<f64>]) -> Vec<usize> {
        fuse_votes(self.fusion, test_probas, &self.weights.test, self.classes)
    }

    /// One fused label per dataset row: fold `k`'s rows fused with fold `k`'s weights.
    pub fn cv_labels(&self, cv_probas: &[ArrayView2<f64>], folds: &[Vec<usize>]) -> Vec<usize> {
        let rows = cv_probas.first().map_or(0, |p| p.nrows());
        let mut out = vec![0; rows];
        for (fold, weights) in folds.iter().zip(&self.weights.folds) {
            let part = select_rows(cv_probas, fold);
            for (&r, label) in fold.iter().zip(fuse_votes(self.fusion, &views(&part), weights, self.classes)) {
                out[r] = label;
            }
        }
        out
    }

    /// Soft voting's out-of-fold probabilities; None for hard and label-mean,
    /// which give labels, not probabilities.
    pub fn cv_proba(&self, cv_probas: &[ArrayView2<f64>], folds: &[Vec<usize>]) -> Option<Array2<f64>> {
        if self.fusion != Fusion::Soft {
            return None;
        }
        let first = cv_probas.first()?;
        let mut out = Array2::zeros(first.dim());
        for (fold, weights) in folds.iter().zip(&self.weights.folds) {
            let mean = soft_mean(&views(&select_rows(cv_probas, fold)), weights)?;
            for (i, &r) in fold.iter().enumerate() {
                out.row_mut(r).assign(&mean.row(i));
            }
        }
        Some(out)
    }
}

/// Mean CV accuracy of `votes` (fusing `cfg`'s members) without member
/// `left_out`, its weights taken as [`vote_weights`] takes them for the
/// remaining members: their own weights, or under `weights = "optimized"`
/// a new ensemble selection on the remaining members' out-of-fold
/// probabilities (inside every fold). None with one member.
pub(super) fn cv_accuracy_without(
    p: &Prepared,
    cfg: &EnsembleConfig,
    votes: &Votes,
    results: &[&MemberResults],
    left_out: usize,
) -> Option<f64> {
    if results.len() < 2 {
        return None;
    }
    let others = |i: &usize| *i != left_out;
    let members = cfg.members.iter().take(results.len()).enumerate().filter(|(i, _)| others(i));
    let members = members.map(|(_, m)| m.clone()).collect();
    let rest_cfg = EnsembleConfig { fusion: cfg.fusion, weights: cfg.weights, mlp_hidden: cfg.mlp_hidden, members };
    let rest: Vec<&MemberResults> = results.iter().enumerate().filter(|(i, _)| others(i)).map(|(_, r)| *r).collect();
    let without = Votes { fusion: votes.fusion, weights: vote_weights(p, &rest_cfg, &rest).0, classes: votes.classes };
    let probas: Vec<ArrayView2<f64>> = rest.iter().map(|r| r.cv_proba.view()).collect();
    let labels = without.cv_labels(&probas, &p.folds);
    Some(fold_accuracies(&labels, &p.dataset.labels, &p.folds).mean_std().0)
}

fn select_rows(probas: &[ArrayView2<f64>], rows: &[usize]) -> Vec<Array2<f64>> {
    probas.iter().map(|p| p.select(Axis(0), rows)).collect()
}

/// Stacking's out-of-fold probabilities: fold `k`'s meta-learner on fold `k`'s rows.
pub(super) fn stacked_cv_proba(
    s: &Stacked,
    cv_probas: &[ArrayView2<f64>],
    folds: &[Vec<usize>],
) -> Option<Array2<f64>> {
    let used: Vec<ArrayView2<f64>> = s.used.iter().map(|&i| cv_probas[i]).collect();
    let first = used.first()?;
    let mut out = Array2::zeros(first.dim());
    for (fold, meta) in folds.iter().zip(&s.fold_metas) {
        let proba = meta.predict_proba(&views(&select_rows(&used, fold))).ok()?;
        for (i, &r) in fold.iter().enumerate() {
            out.row_mut(r).assign(&proba.row(i));
        }
    }
    Some(out)
}
