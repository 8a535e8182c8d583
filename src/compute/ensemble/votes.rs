//! A voting rule with its weights for the test rows and for each CV fold:
//! the members' own weights (the same everywhere) or optimized ones (chosen
//! anew inside every fold), and what the report measures with it.

use ndarray::{Array2, ArrayView2, Axis};

use super::Fusion;
use super::fusion::{fuse_votes, soft_mean};
use super::metrics::fold_accuracies;
use super::stacking::{Stacked, views};

/// A voting rule (soft, hard or label-mean) and its weights.
pub(super) struct Votes {
    pub fusion: Fusion,
    pub test: Vec<f64>,
    /// One weight vector per CV fold.
    pub folds: Vec<Vec<f64>>,
    pub classes: usize,
}

impl Votes {
    /// The same weights for the test rows and every fold.
    pub fn fixed(fusion: Fusion, weights: &[f64], folds: usize, classes: usize) -> Votes {
        Votes { fusion, test: weights.to_vec(), folds: vec![weights.to_vec(); folds], classes }
    }

    pub fn test_labels(&self, test_probas: &[ArrayView2<f64>]) -> Vec<usize> {
        fuse_votes(self.fusion, test_probas, &self.test, self.classes)
    }

    /// One fused label per dataset row: fold `k`'s rows fused with fold `k`'s weights.
    pub fn cv_labels(&self, cv_probas: &[ArrayView2<f64>], folds: &[Vec<usize>]) -> Vec<usize> {
        let rows = cv_probas.first().map_or(0, |p| p.nrows());
        let mut out = vec![0; rows];
        for (fold, weights) in folds.iter().zip(&self.folds) {
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
        for (fold, weights) in folds.iter().zip(&self.folds) {
            let mean = soft_mean(&views(&select_rows(cv_probas, fold)), weights)?;
            for (i, &r) in fold.iter().enumerate() {
                out.row_mut(r).assign(&mean.row(i));
            }
        }
        Some(out)
    }

    /// Mean CV fold accuracy of these votes with member `left_out` removed (None with one member).
    pub fn cv_accuracy_without(
        &self,
        left_out: usize,
        cv_probas: &[ArrayView2<f64>],
        truth: &[usize],
        folds: &[Vec<usize>],
    ) -> Option<f64> {
        if cv_probas.len() < 2 {
            return None;
        }
        let keep =
            |v: &[f64]| -> Vec<f64> { v.iter().enumerate().filter(|&(i, _)| i != left_out).map(|(_, &w)| w).collect() };
        let without = Votes {
            fusion: self.fusion,
            test: keep(&self.test),
            folds: self.folds.iter().map(|w| keep(w)).collect(),
            classes: self.classes,
        };
        let probas: Vec<ArrayView2<f64>> =
            cv_probas.iter().enumerate().filter(|&(i, _)| i != left_out).map(|(_, p)| *p).collect();
        Some(fold_accuracies(&without.cv_labels(&probas, folds), truth, folds).mean_std().0)
    }
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
