//! The split, the cross-validation folds, and training one member on all of them.

use ndarray::{Array2, Axis};

use super::metrics::{accuracy, fold_accuracies};
use super::{DataConfig, EnsembleError, MemberConfig, argmax_rows};
use crate::compute::data::{self, DataError, Dataset, Split};
use crate::compute::members::{FittedMember, fit_member};

/// A dataset with its train/test split and cross-validation folds.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub dataset: Dataset,
    pub split: Split,
    /// `stratified_folds(folds, seed)` over all rows: the cross-validation folds.
    pub folds: Vec<Vec<usize>>,
    /// Folds over positions within `split.train`: the out-of-fold rows the stacking meta-learner trains on.
    pub train_folds: Vec<Vec<usize>>,
}

/// Validates `cfg` and the dataset and draws the split and the folds.
pub fn prepare(dataset: Dataset, cfg: &DataConfig) -> Result<Prepared, EnsembleError> {
    cfg.validate()?;
    let (rows, features) = dataset.features.dim();
    if rows != dataset.labels.len() || features == 0 || dataset.classes() < 2 {
        return Err(EnsembleError::Shape(format!(
            "{}: {rows} feature rows x {features} features, {} labels and {} classes; \
             need one label per row, at least one feature and two classes",
            dataset.source,
            dataset.labels.len(),
            dataset.classes()
        )));
    }
    if dataset.features.iter().any(|v| !v.is_finite()) {
        return Err(EnsembleError::Shape(format!("{}: the features hold NaN or infinite values", dataset.source)));
    }
    let names = &dataset.class_names;
    let classes = dataset.classes();
    let wrap = |context: &'static str| {
        move |e: DataError| EnsembleError::Data { context, source: Box::new(e.with_class_names(names)) }
    };
    let split = data::stratified_split(&dataset.labels, classes, cfg.test_fraction, cfg.seed)
        .map_err(wrap("cannot split the data into train and test rows"))?;
    let folds = data::stratified_folds(&dataset.labels, classes, cfg.folds, cfg.seed)
        .map_err(wrap("cannot cross-validate on all rows"))?;
    let train_labels: Vec<usize> = split.train.iter().map(|&r| dataset.labels[r]).collect();
    let train_folds = data::stratified_folds(&train_labels, classes, cfg.folds, cfg.seed).map_err(wrap(
        "cannot draw the stacking folds within the training rows (lower data.folds or data.test_fraction)",
    ))?;
    Ok(Prepared { dataset, split, folds, train_folds })
}

/// Everything about one member that training produces, for a given dataset and data config.
#[derive(Debug, Clone)]
pub struct MemberResults {
    /// The member fitted on `split.train`, and on each CV fold's training rows:
    /// what the Deploy pane quantizes.
    pub test_model: FittedMember,
    pub cv_models: Vec<FittedMember>,
    /// Trained on `split.train`, predicting `split.test` (test rows x classes).
    pub test_proba: Array2<f64>,
    /// Out-of-fold probabilities for every row of the dataset under `Prepared::folds`.
    pub cv_proba: Array2<f64>,
    /// Out-of-fold probabilities over the train rows (`Prepared::train_folds`), for the stacking meta-learner.
    pub train_oof_proba: Array2<f64>,
    pub test_accuracy: f64,
    /// Mean and population standard deviation of the per-fold accuracies of `cv_proba`.
    pub cv_accuracy_mean: f64,
    pub cv_accuracy_std: f64,
    /// Every one of the 1 + 2 * folds fits converged ([`FittedMember::converged`]).
    pub converged: bool,
}

/// The seed of one training run: a member's results depend only on the data
/// seed, its own seed and the fold, never on the other members.
pub(super) fn stream_seed(data_seed: u64, member_seed: u64, stage: u64) -> u64 {
    fn mix(mut z: u64) -> u64 {
        // SplitMix64's finalizer.
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    mix(mix(mix(data_seed) ^ member_seed) ^ stage)
}

const STAGE_TEST: u64 = 0;
const STAGE_CV: u64 = 1;
const STAGE_TRAIN_OOF: u64 = 1 << 32;

/// Results compare by their numbers; the fitted models follow from the same seeds.
impl PartialEq for MemberResults {
    fn eq(&self, o: &Self) -> bool {
        (&self.test_proba, &self.cv_proba, &self.train_oof_proba) == (&o.test_proba, &o.cv_proba, &o.train_oof_proba)
            && (self.test_accuracy, self.cv_accuracy_mean, self.cv_accuracy_std, self.converged)
                == (o.test_accuracy, o.cv_accuracy_mean, o.cv_accuracy_std, o.converged)
    }
}

/// Trains one member on the train split (test probabilities), on every
/// cross-validation fold (out-of-fold probabilities of all rows) and on every
/// fold within the train split (for stacking): 1 + 2 * folds fits.
///
/// The result depends only on `p` (itself a function of the dataset and the
/// `DataConfig`), `data_seed` and `m.fit_key()`, so callers may cache it by
/// `(DataConfig, m.fit_key())`.
pub fn train_member(p: &Prepared, m: &MemberConfig, data_seed: u64) -> Result<MemberResults, EnsembleError> {
    let d = &p.dataset;
    let classes = d.classes();
    let key = m.fit_key();
    let stage_error = |stage: String| {
        move |e: EnsembleError| match e {
            EnsembleError::Fit { kind, message, .. } => EnsembleError::Fit { kind, stage: stage.clone(), message },
            other => other,
        }
    };
    let run = |train: &[usize], predict: &[usize], stage: u64| -> Result<(FittedMember, Array2<f64>), EnsembleError> {
        let (x, y) = d.select(train);
        let model = fit_member(&key, x.view(), &y, classes, stream_seed(data_seed, key.seed, stage))?;
        let proba = model.predict_proba(d.features.select(Axis(0), predict).view());
        Ok((model, proba))
    };

    let (test_model, test_proba) =
        run(&p.split.train, &p.split.test, STAGE_TEST).map_err(stage_error(" on the train split".into()))?;
    let mut converged = test_model.converged();
    let test_labels: Vec<usize> = p.split.test.iter().map(|&r| d.labels[r]).collect();
    let test_accuracy = accuracy(&argmax_rows(test_proba.view()), &test_labels);

    let n_folds = p.folds.len();
    let mut cv_proba = Array2::zeros((d.rows(), classes));
    let mut cv_models = Vec::with_capacity(n_folds);
    for (k, fold) in p.folds.iter().enumerate() {
        let train = complement(d.rows(), fold);
        let (model, proba) = run(&train, fold, STAGE_CV + k as u64)
            .map_err(stage_error(format!(" on cross-validation fold {} of {n_folds}", k + 1)))?;
        converged &= model.converged();
        cv_models.push(model);
        for (i, &r) in fold.iter().enumerate() {
            cv_proba.row_mut(r).assign(&proba.row(i));
        }
    }
    let (cv_accuracy_mean, cv_accuracy_std) =
        fold_accuracies(&argmax_rows(cv_proba.view()), &d.labels, &p.folds).mean_std();

    let n_train = p.split.train.len();
    let mut train_oof_proba = Array2::zeros((n_train, classes));
    for (k, fold) in p.train_folds.iter().enumerate() {
        let train: Vec<usize> = complement(n_train, fold).into_iter().map(|i| p.split.train[i]).collect();
        let predict: Vec<usize> = fold.iter().map(|&i| p.split.train[i]).collect();
        let (model, proba) = run(&train, &predict, STAGE_TRAIN_OOF + k as u64).map_err(stage_error(format!(
            " on stacking fold {} of {} within the train split",
            k + 1,
            p.train_folds.len()
        )))?;
        converged &= model.converged();
        for (i, &pos) in fold.iter().enumerate() {
            train_oof_proba.row_mut(pos).assign(&proba.row(i));
        }
    }

    Ok(MemberResults {
        test_model,
        cv_models,
        test_proba,
        cv_proba,
        train_oof_proba,
        test_accuracy,
        cv_accuracy_mean,
        cv_accuracy_std,
        converged,
    })
}

/// `0..n` without the (sorted) `fold`.
pub(super) fn complement(n: usize, fold: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(n - fold.len().min(n));
    let mut skip = fold.iter().peekable();
    for i in 0..n {
        if skip.peek() == Some(&&i) {
            skip.next();
        } else {
            out.push(i);
        }
    }
    out
}
