//! The split, the cross-validation folds, and training one member on all of them.

use ndarray::{Array2, Axis};

use super::metrics::{accuracy, fold_accuracies};
use super::{DataConfig, EnsembleError, MemberConfig, argmax_rows};
use crate::compute::data::{self, DataError, Dataset, Split};
use crate::compute::members::{FittedMember, fit_member};
use crate::compute::parallel::{run_tasks, threads_for};

/// A dataset with its train/test split and cross-validation folds.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub dataset: Dataset,
    pub split: Split,
    /// `stratified_folds(folds, seed)` over all rows: the cross-validation folds.
    pub folds: Vec<Vec<usize>>,
    /// Folds over positions within `split.train`: the out-of-fold rows the
    /// test split's meta-learner trains on. Not `folds` restricted to the
    /// train rows: a model of `folds` saw most test rows, so features it
    /// gives would leak the test labels into that meta-learner.
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
    let classes = dataset.classes();
    // The split and the folds deal the rows class by class: in order of first
    // appearance, not of the class index (which follows the names' sort), so
    // renaming the classes of a file deals the same rows.
    let rank = first_appearance(&dataset.labels, classes);
    let dealt: Vec<usize> = dataset.labels.iter().map(|&l| rank.get(l).copied().unwrap_or(l)).collect();
    let mut names = dataset.class_names.clone();
    for (c, &r) in rank.iter().enumerate() {
        names[r] = dataset.class_names[c].clone();
    }
    let wrap = |context: &'static str| {
        let names = &names;
        move |e: DataError| EnsembleError::Data { context, source: Box::new(e.with_class_names(names)) }
    };
    let split = data::stratified_split(&dealt, classes, cfg.test_fraction, cfg.seed)
        .map_err(wrap("cannot split the data into train and test rows"))?;
    let folds = data::stratified_folds(&dealt, classes, cfg.folds, cfg.seed)
        .map_err(wrap("cannot cross-validate on all rows"))?;
    let train_labels: Vec<usize> = split.train.iter().map(|&r| dealt[r]).collect();
    let train_folds = data::stratified_folds(&train_labels, classes, cfg.folds, cfg.seed).map_err(wrap(
        "cannot draw the stacking folds within the training rows (lower data.folds or data.test_fraction)",
    ))?;
    Ok(Prepared { dataset, split, folds, train_folds })
}

/// `rank[c]`: where class `c` first appears among the classes of `labels`
/// (0 for the first row's class); classes without rows come last, in index
/// order. Labels `>= classes` are left for the split to refuse.
fn first_appearance(labels: &[usize], classes: usize) -> Vec<usize> {
    let mut rank = vec![usize::MAX; classes];
    let mut next = 0;
    for &l in labels {
        if let Some(r) = rank.get_mut(l).filter(|r| **r == usize::MAX) {
            *r = next;
            next += 1;
        }
    }
    for r in rank.iter_mut().filter(|r| **r == usize::MAX) {
        *r = next;
        next += 1;
    }
    rank
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
    /// Out-of-fold probabilities over the train rows (`Prepared::train_folds`,
    /// from models that never saw a test row), for the meta-learner that
    /// predicts the test split. Only fitted for a fusion that learns on them
    /// ([`train_inner_folds`]); `None` until then.
    pub train_oof_proba: Option<Array2<f64>>,
    pub test_accuracy: f64,
    /// Mean and population standard deviation of the per-fold accuracies of `cv_proba`.
    pub cv_accuracy_mean: f64,
    pub cv_accuracy_std: f64,
    /// Every fit so far converged ([`FittedMember::converged`]).
    pub converged: bool,
    /// How many fits these results took: 1 + folds, plus folds more with `train_oof_proba`.
    pub fits: usize,
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

/// Trains one member on the train split, every cross-validation fold and
/// every fold within the train split: [`train_outer`] and
/// [`train_inner_folds`], 1 + 2 * folds fits.
///
/// The result depends only on `p` (itself a function of the dataset and the
/// `DataConfig`), `data_seed` and `m.fit_key()`, so callers may cache it by
/// `(DataConfig, m.fit_key())`.
pub fn train_member(p: &Prepared, m: &MemberConfig, data_seed: u64) -> Result<MemberResults, EnsembleError> {
    let mut r = train_outer(p, m, data_seed)?;
    train_inner_folds(p, m, data_seed, &mut r)?;
    Ok(r)
}

/// Fits `m` on `train` and predicts `predict` (rows of the dataset), seeded by `stage`.
fn fit_and_predict(
    p: &Prepared,
    key: &MemberConfig,
    data_seed: u64,
    (train, predict): (&[usize], &[usize]),
    stage: u64,
) -> Result<(FittedMember, Array2<f64>), EnsembleError> {
    let d = &p.dataset;
    let (x, y) = d.select(train);
    let model = fit_member(key, x.view(), &y, d.classes(), stream_seed(data_seed, key.seed, stage))?;
    let proba = model.predict_proba(d.features.select(Axis(0), predict).view());
    Ok((model, proba))
}

/// Names the stage in a fit error (" on cross-validation fold 2 of 5").
fn stage_error(stage: String) -> impl Fn(EnsembleError) -> EnsembleError {
    move |e: EnsembleError| match e {
        EnsembleError::Fit { kind, message, .. } => EnsembleError::Fit { kind, stage: stage.clone(), message },
        other => other,
    }
}

/// Trains one member on the train split (test probabilities) and on every
/// cross-validation fold over all rows (out-of-fold probabilities of every
/// row, the CV figures and the voting fusions): 1 + folds fits, each fold
/// once. `train_oof_proba` stays `None` ([`train_inner_folds`] adds it).
pub fn train_outer(p: &Prepared, m: &MemberConfig, data_seed: u64) -> Result<MemberResults, EnsembleError> {
    train_outer_on(p, m, data_seed, threads_for(p.dataset.features.len() * (1 + p.folds.len())))
}

/// [`train_outer`] on `threads` threads (the bits do not depend on it).
pub(super) fn train_outer_on(
    p: &Prepared,
    m: &MemberConfig,
    data_seed: u64,
    threads: usize,
) -> Result<MemberResults, EnsembleError> {
    let d = &p.dataset;
    let classes = d.classes();
    let key = m.fit_key();
    let run =
        |train: &[usize], predict: &[usize], stage: u64| fit_and_predict(p, &key, data_seed, (train, predict), stage);

    // The fits are independent tasks, each seeded by its stage and merged in
    // order: the same bits on any number of threads.
    let n_folds = p.folds.len();
    let mut tasks: Vec<(Vec<usize>, &[usize], u64)> = vec![(p.split.train.clone(), &p.split.test, STAGE_TEST)];
    tasks.extend(p.folds.iter().enumerate().map(|(k, f)| (complement(d.rows(), f), &f[..], STAGE_CV + k as u64)));
    let (fits, _) = run_tasks(&tasks, threads, || (), |_, (train, predict, stage)| run(train, predict, *stage));
    let mut fits = fits.into_iter().enumerate().map(|(i, fit)| {
        fit.map_err(stage_error(match i {
            0 => " on the train split".into(),
            k => format!(" on cross-validation fold {k} of {n_folds}"),
        }))
    });

    let (test_model, test_proba) = fits.next().expect("the train split's task")?;
    let mut converged = test_model.converged();
    let test_labels: Vec<usize> = p.split.test.iter().map(|&r| d.labels[r]).collect();
    let test_accuracy = accuracy(&argmax_rows(test_proba.view()), &test_labels);

    let mut cv_proba = Array2::zeros((d.rows(), classes));
    let mut cv_models = Vec::with_capacity(n_folds);
    for (fold, fit) in p.folds.iter().zip(fits) {
        let (model, proba) = fit?;
        converged &= model.converged();
        cv_models.push(model);
        for (i, &r) in fold.iter().enumerate() {
            cv_proba.row_mut(r).assign(&proba.row(i));
        }
    }
    let (cv_accuracy_mean, cv_accuracy_std) =
        fold_accuracies(&argmax_rows(cv_proba.view()), &d.labels, &p.folds).mean_std();

    Ok(MemberResults {
        test_model,
        cv_models,
        test_proba,
        cv_proba,
        train_oof_proba: None,
        test_accuracy,
        cv_accuracy_mean,
        cv_accuracy_std,
        converged,
        fits: 1 + n_folds,
    })
}

/// Adds `train_oof_proba` to `r` (the results of [`train_outer`] for the
/// same `p`, `m` and `data_seed`) unless it is there: folds more fits,
/// each on the train split less one of `Prepared::train_folds`, so that no
/// model whose probabilities the test split's meta-learner learns from has
/// seen a test row.
pub fn train_inner_folds(
    p: &Prepared,
    m: &MemberConfig,
    data_seed: u64,
    r: &mut MemberResults,
) -> Result<(), EnsembleError> {
    if r.train_oof_proba.is_some() {
        return Ok(());
    }
    let key = m.fit_key();
    let n_train = p.split.train.len();
    let mut train_oof_proba = Array2::zeros((n_train, p.dataset.classes()));
    let in_train = |positions: &[usize]| positions.iter().map(|&i| p.split.train[i]).collect::<Vec<usize>>();
    let tasks: Vec<(Vec<usize>, Vec<usize>, u64)> = (p.train_folds.iter().enumerate())
        .map(|(k, fold)| (in_train(&complement(n_train, fold)), in_train(fold), STAGE_TRAIN_OOF + k as u64))
        .collect();
    let threads = threads_for(p.dataset.features.len() * tasks.len());
    let (fits, _) = run_tasks(
        &tasks,
        threads,
        || (),
        |_, (train, predict, stage)| fit_and_predict(p, &key, data_seed, (train, predict), *stage),
    );
    let mut converged = r.converged;
    for (k, (fold, fit)) in p.train_folds.iter().zip(fits).enumerate() {
        let stage = format!(" on stacking fold {} of {} within the train split", k + 1, p.train_folds.len());
        let (model, proba) = fit.map_err(stage_error(stage))?;
        converged &= model.converged();
        for (i, &pos) in fold.iter().enumerate() {
            train_oof_proba.row_mut(pos).assign(&proba.row(i));
        }
    }
    r.train_oof_proba = Some(train_oof_proba);
    r.converged = converged;
    r.fits += p.train_folds.len();
    Ok(())
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
