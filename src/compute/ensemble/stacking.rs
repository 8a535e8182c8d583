//! Stacking and the mlp fusion: a meta-learner (logistic, or a one-hidden-layer
//! perceptron) trained on the members' out-of-fold probabilities.

use ndarray::{Array2, ArrayView2, Axis};

use super::cv::complement;
use super::fusion::normalized_weights;
use super::mlp::Mlp;
use super::{
    EnsembleConfig, EnsembleError, Fusion, META_C, META_MAX_ITERATIONS, MemberConfig, MemberKind, MemberResults,
    Prepared, argmax_rows, fit_error,
};
use crate::compute::members::{Softmax, TrainingSet};
use crate::compute::parallel::{run_tasks, threads_for};
use crate::compute::watch::Watch;

/// Which meta-learner and its size: what a kept [`Stacked`] must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKind {
    Logistic,
    Mlp { hidden: usize },
}

impl MetaKind {
    /// The meta-learner `cfg` asks for (logistic unless the fusion is mlp).
    pub fn of(cfg: &EnsembleConfig) -> MetaKind {
        if cfg.fusion == Fusion::Mlp { MetaKind::Mlp { hidden: cfg.mlp_hidden } } else { MetaKind::Logistic }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum MetaModel {
    Logistic(Softmax),
    Mlp(Mlp),
}

/// Seed of the mlp meta-learner's initial weights.
const MLP_SEED: u64 = 0x0316;

/// The stacking meta-learner (scikit-learn `StackingClassifier` with a
/// logistic final estimator): a softmax regression on the members'
/// probabilities side by side (rows x members*classes).
#[derive(Debug, Clone, PartialEq)]
pub struct MetaLearner {
    model: MetaModel,
    members: usize,
    classes: usize,
}

impl MetaLearner {
    /// Trains on member probabilities (each rows x classes; out-of-fold ones,
    /// so the meta-learner sees how the members do on rows they did not train on).
    pub fn fit(member_probas: &[ArrayView2<f64>], y: &[usize], classes: usize) -> Result<MetaLearner, EnsembleError> {
        MetaLearner::fit_kind(MetaKind::Logistic, member_probas, y, classes, &Watch::NONE)
    }

    /// [`MetaLearner::fit`] with the meta-learner `kind`; the perceptron
    /// checks `watch` before each training step.
    pub fn fit_kind(
        kind: MetaKind,
        member_probas: &[ArrayView2<f64>],
        y: &[usize],
        classes: usize,
        watch: &Watch,
    ) -> Result<MetaLearner, EnsembleError> {
        let x = stack_columns(member_probas)?;
        if x.nrows() != y.len() {
            return Err(EnsembleError::Shape(format!("{} rows of probabilities but {} labels", x.nrows(), y.len())));
        }
        let model = match kind {
            MetaKind::Logistic => MetaModel::Logistic(
                Softmax::fit(&TrainingSet { x: x.view(), y, classes }, false, META_C, META_MAX_ITERATIONS)
                    .map_err(|m| fit_error(MemberKind::Logistic, format!("stacking meta-learner: {m}")))?,
            ),
            MetaKind::Mlp { hidden } => {
                MetaModel::Mlp(Mlp::fit_watched(x.view(), y, classes, hidden, MLP_SEED, watch)?)
            }
        };
        Ok(MetaLearner { model, members: member_probas.len(), classes })
    }

    pub fn predict_proba(&self, member_probas: &[ArrayView2<f64>]) -> Result<Array2<f64>, EnsembleError> {
        if member_probas.len() != self.members {
            return Err(EnsembleError::Shape(format!(
                "the meta-learner was trained on {} members, not {}",
                self.members,
                member_probas.len()
            )));
        }
        let x = stack_columns(member_probas)?;
        Ok(match &self.model {
            MetaModel::Logistic(m) => m.predict_proba(x.view()),
            MetaModel::Mlp(m) => m.predict_proba(x.view()),
        })
    }

    pub fn predict(&self, member_probas: &[ArrayView2<f64>]) -> Result<Vec<usize>, EnsembleError> {
        Ok(argmax_rows(self.predict_proba(member_probas)?.view()))
    }

    /// Storage of its float32 weights and intercepts.
    pub fn size_bits(&self) -> u64 {
        let parameters = match &self.model {
            MetaModel::Logistic(m) => m.fit.weights.len() + m.fit.intercept.len(),
            MetaModel::Mlp(m) => m.parameters(),
        };
        parameters as u64 * 32
    }

    /// Each member's share (summing to 1) of the absolute coefficient mass
    /// of its block of `classes` input columns (the mlp's first layer);
    /// equal shares if all are 0.
    pub fn influence(&self) -> Vec<f64> {
        let params = match &self.model {
            MetaModel::Logistic(m) => &m.fit.weights,
            MetaModel::Mlp(m) => &m.w1,
        };
        let mass: Vec<f64> = (0..self.members)
            .map(|m| {
                (m * self.classes..(m + 1) * self.classes)
                    .filter(|&r| r < params.nrows())
                    .map(|r| params.row(r).iter().map(|v| v.abs()).sum::<f64>())
                    .sum()
            })
            .collect();
        normalized_weights(&mass).0
    }
}

/// Member probability tables side by side; all must have the same shape.
fn stack_columns(member_probas: &[ArrayView2<f64>]) -> Result<Array2<f64>, EnsembleError> {
    let Some(first) = member_probas.first() else {
        return Err(EnsembleError::Shape("stacking needs at least one member".into()));
    };
    if member_probas.iter().any(|p| p.dim() != first.dim()) {
        return Err(EnsembleError::Shape("the members' probability tables differ in shape".into()));
    }
    ndarray::concatenate(Axis(1), member_probas).map_err(|e| EnsembleError::Shape(e.to_string()))
}

/// What stacking predicts, fitted once for a set of stacked members, and
/// the meta-learners themselves (the Deploy pane feeds them quantized members).
#[derive(Debug, Clone, PartialEq)]
pub struct Stacked {
    pub test: Vec<usize>,
    /// One label per dataset row, from the meta-learner cross-validated on `Prepared::folds`.
    pub cv: Vec<usize>,
    /// Each member's share of the meta-learner's coefficient mass (0 for those left out).
    pub influence: Vec<f64>,
    /// The members stacked, in the order the meta-learners read their probabilities.
    pub used: Vec<usize>,
    /// Trained on `train_oof_proba` of the train split: predicts the test rows.
    pub meta: MetaLearner,
    /// Fold `k`'s meta-learner, trained on the other folds' `cv_proba`: predicts fold `k`.
    pub fold_metas: Vec<MetaLearner>,
    /// The meta-learner fitted (logistic for stacking, the perceptron for mlp).
    pub kind: MetaKind,
}

pub(super) fn train_labels(p: &Prepared) -> Vec<usize> {
    p.split.train.iter().map(|&r| p.dataset.labels[r]).collect()
}

/// The members stacking uses: those with a weight above 0, or all when none has.
pub fn stacked_members(configs: &[MemberConfig]) -> Vec<usize> {
    let used: Vec<usize> = (0..configs.len()).filter(|&i| configs[i].weight > 0.0).collect();
    if used.is_empty() { (0..configs.len()).collect() } else { used }
}

/// The meta-learners when `cfg` stacks: `stacked` when the caller kept
/// them, else fitted now into `fitted`. None for the voting rules.
pub(crate) fn stacked_or_fit<'a>(
    p: &Prepared,
    cfg: &EnsembleConfig,
    members: &[&MemberResults],
    stacked: Option<&'a Result<Stacked, EnsembleError>>,
    fitted: &'a mut Option<Result<Stacked, EnsembleError>>,
) -> Option<&'a Result<Stacked, EnsembleError>> {
    if !cfg.fusion.learns_meta() {
        return None;
    }
    let kind = MetaKind::of(cfg);
    Some(match stacked {
        // A kept result of another meta-learner, or of other stacked members
        // (it reads their probabilities by position), is not this fusion's;
        // a failure is kept as it is.
        Some(s) if s.as_ref().map_or(true, |s| s.kind == kind && s.used == stacked_members(&cfg.members)) => s,
        _ => fitted.insert(stack(p, cfg, members)),
    })
}

/// Fits the stacking meta-learners (the slow part of stacking's `evaluate`).
pub fn stack(p: &Prepared, cfg: &EnsembleConfig, members: &[&MemberResults]) -> Result<Stacked, EnsembleError> {
    stack_watched(p, cfg, MetaKind::of(cfg), members, &Watch::NONE)
}

/// [`stack`] with the meta-learner `kind` (whatever `cfg.fusion` says),
/// stopped with `EnsembleError::Cancelled` once `watch` says a newer job
/// waits (checked before each fit and each perceptron step).
pub(crate) fn stack_watched(
    p: &Prepared,
    cfg: &EnsembleConfig,
    kind: MetaKind,
    members: &[&MemberResults],
    watch: &Watch,
) -> Result<Stacked, EnsembleError> {
    let n = cfg.members.len().min(members.len());
    let (configs, results) = (&cfg.members[..n], &members[..n]);
    let used = stacked_members(configs);
    let pick = |f: fn(&MemberResults) -> ArrayView2<f64>| used.iter().map(|&i| f(results[i])).collect::<Vec<_>>();
    let train_oof = (used.iter().map(|&i| results[i].train_oof_proba.as_ref().map(|t| t.view())))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| EnsembleError::Shape("stacking needs the members' inner folds; train them first".into()))?;
    let test = pick(|r| r.test_proba.view());
    let cv = pick(|r| r.cv_proba.view());
    let classes = p.dataset.classes();

    // The test split's meta-learner and each fold's are independent fits:
    // tasks on every core, merged in task order (the first failure in that order wins).
    let rows_of = |idx: &[usize]| cv.iter().map(|v| v.select(Axis(0), idx)).collect::<Vec<Array2<f64>>>();
    let tasks: Vec<Option<usize>> = std::iter::once(None).chain((0..p.folds.len()).map(Some)).collect();
    let work = p.dataset.rows() * used.len() * classes * META_MAX_ITERATIONS as usize;
    let (fits, _) = run_tasks(
        &tasks,
        threads_for(work),
        || (),
        |_, task| match *task {
            None => MetaLearner::fit_kind(kind, &train_oof, &train_labels(p), classes, watch),
            Some(k) => {
                watch.check()?;
                let train = complement(p.dataset.rows(), &p.folds[k]);
                let y: Vec<usize> = train.iter().map(|&r| p.dataset.labels[r]).collect();
                MetaLearner::fit_kind(kind, &views(&rows_of(&train)), &y, classes, watch)
            }
        },
    );
    let mut fits = fits.into_iter();
    let meta = fits.next().expect("one fit per task")?;
    let test_pred = meta.predict(&test)?;
    let mut influence = vec![0.0; configs.len()];
    for (&i, share) in used.iter().zip(meta.influence()) {
        influence[i] = share;
    }

    let mut cv_pred = vec![0; p.dataset.rows()];
    let mut fold_metas = Vec::with_capacity(p.folds.len());
    for (fold, fit) in p.folds.iter().zip(fits) {
        let fold_meta = fit?;
        for (&r, label) in fold.iter().zip(fold_meta.predict(&views(&rows_of(fold)))?) {
            cv_pred[r] = label;
        }
        fold_metas.push(fold_meta);
    }
    Ok(Stacked { test: test_pred, cv: cv_pred, influence, used, meta, fold_metas, kind })
}

/// Views of owned tables, for the functions that read member probabilities.
pub(crate) fn views(arrays: &[Array2<f64>]) -> Vec<ArrayView2<'_, f64>> {
    arrays.iter().map(|a| a.view()).collect()
}
