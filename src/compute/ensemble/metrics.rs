//! Scores of predicted labels: accuracy, per-fold accuracy, the confusion
//! matrix and macro precision / recall / F1; and of predicted
//! probabilities: log loss, Brier score, reliability and calibration error.

use ndarray::ArrayView2;
use serde::Serialize;

use super::argmax;

/// Share of rows predicted right (0 with no rows).
pub fn accuracy(predicted: &[usize], truth: &[usize]) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    predicted.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / truth.len() as f64
}

pub(super) struct FoldAccuracies(pub(super) Vec<f64>);

impl FoldAccuracies {
    /// Mean and population standard deviation (NumPy's default, as in `cross_val_score(...).std()`).
    pub(super) fn mean_std(&self) -> (f64, f64) {
        let n = self.0.len() as f64;
        if self.0.is_empty() {
            return (0.0, 0.0);
        }
        let mean = self.0.iter().sum::<f64>() / n;
        let var = self.0.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / n;
        (mean, var.sqrt())
    }
}

/// Accuracy of `predicted` (one label per dataset row) on every fold.
pub(super) fn fold_accuracies(predicted: &[usize], labels: &[usize], folds: &[Vec<usize>]) -> FoldAccuracies {
    FoldAccuracies(
        folds
            .iter()
            .map(|f| {
                let hits = f.iter().filter(|&&r| predicted.get(r) == labels.get(r)).count();
                if f.is_empty() { 0.0 } else { hits as f64 / f.len() as f64 }
            })
            .collect(),
    )
}

pub(super) fn confusion(truth: &[usize], predicted: &[usize], classes: usize) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0; classes]; classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        if t < classes && p < classes {
            m[t][p] += 1;
        }
    }
    m
}

/// Macro precision, recall and F1 from a confusion matrix (scikit-learn's
/// `average="macro"` with `zero_division=0`, over every class).
pub(super) fn macro_scores(confusion: &[Vec<usize>]) -> (f64, f64, f64) {
    let k = confusion.len();
    if k == 0 {
        return (0.0, 0.0, 0.0);
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let (mut p_sum, mut r_sum, mut f_sum) = (0.0, 0.0, 0.0);
    for c in 0..k {
        let tp = confusion[c][c];
        let predicted: usize = confusion.iter().map(|row| row[c]).sum();
        let actual: usize = confusion[c].iter().sum();
        let (p, r) = (ratio(tp, predicted), ratio(tp, actual));
        p_sum += p;
        r_sum += r;
        f_sum += if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
    }
    (p_sum / k as f64, r_sum / k as f64, f_sum / k as f64)
}

/// Probabilities are clipped to `[EPS, 1 - EPS]` before the log, as
/// scikit-learn's `log_loss` does (1.9: `eps = np.finfo(y_proba.dtype).eps`,
/// no renormalisation of the rows afterwards).
const LOG_LOSS_EPS: f64 = f64::EPSILON;

/// scikit-learn's `log_loss`: the mean over rows of `-ln p[row, truth]`, the
/// probability clipped to `[eps, 1 - eps]`. 0 with no rows; a label outside
/// the columns counts as probability 0 (clipped to eps).
pub fn log_loss(proba: ArrayView2<f64>, truth: &[usize]) -> f64 {
    mean_over_rows(proba, truth, |row, t| {
        let p = row.get(t).copied().unwrap_or(0.0);
        -p.clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS).ln()
    })
}

/// The multi-class Brier score as scikit-learn 1.9's `brier_score_loss`
/// computes it for a probability matrix: the mean over rows of
/// `sum_k (p_k - y_k)^2` with `y` one-hot, halved when there are fewer than
/// 3 classes (`scale_by_half="auto"`, which makes two columns equal the
/// binary Brier score). Lies in [0, 2] (in [0, 1] for two classes).
pub fn brier(proba: ArrayView2<f64>, truth: &[usize]) -> f64 {
    let half = if proba.ncols() < 3 { 0.5 } else { 1.0 };
    half * mean_over_rows(proba, truth, |row, t| {
        row.iter().enumerate().map(|(k, &p)| if k == t { (p - 1.0).powi(2) } else { p * p }).sum()
    })
}

fn mean_over_rows(proba: ArrayView2<f64>, truth: &[usize], per_row: impl Fn(&[f64], usize) -> f64) -> f64 {
    let rows = proba.nrows().min(truth.len());
    if rows == 0 {
        return 0.0;
    }
    let total: f64 = (0..rows).map(|r| per_row(&proba.row(r).to_vec(), truth[r])).sum();
    total / rows as f64
}

/// Bins of the reliability diagram and of the expected calibration error.
pub const RELIABILITY_BINS: usize = 10;

/// One bin of the reliability diagram: the rows whose top-class confidence
/// falls in `(lower, upper]` (the first bin also takes 0).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    pub rows: usize,
    /// Mean top-class probability of the bin's rows (None when empty).
    pub confidence: Option<f64>,
    /// Share of the bin's rows whose top class is the true one (None when empty).
    pub accuracy: Option<f64>,
}

/// The reliability diagram of `proba` (top class, ties to the lowest index,
/// as `argmax`) in [`RELIABILITY_BINS`] equal-width bins.
pub fn reliability(proba: ArrayView2<f64>, truth: &[usize]) -> Vec<ReliabilityBin> {
    let n = RELIABILITY_BINS;
    let mut sums = vec![(0usize, 0.0, 0usize); n];
    for (r, &t) in truth.iter().enumerate().take(proba.nrows()) {
        let row = proba.row(r);
        let top = argmax(row.iter().copied());
        let confidence = row.get(top).copied().unwrap_or(0.0).clamp(0.0, 1.0);
        // (k/n, (k+1)/n]: ceil(c * n) - 1, with 0 in the first bin.
        let bin = ((confidence * n as f64).ceil() as usize).saturating_sub(1).min(n - 1);
        let s = &mut sums[bin];
        s.0 += 1;
        s.1 += confidence;
        s.2 += usize::from(top == t);
    }
    sums.iter()
        .enumerate()
        .map(|(k, &(rows, conf, hits))| ReliabilityBin {
            lower: k as f64 / n as f64,
            upper: (k + 1) as f64 / n as f64,
            rows,
            confidence: (rows > 0).then(|| conf / rows as f64),
            accuracy: (rows > 0).then(|| hits as f64 / rows as f64),
        })
        .collect()
}

/// Expected calibration error (Guo et al. 2017): sum over bins of
/// `rows_in_bin / rows * |accuracy - confidence|`.
pub fn ece(bins: &[ReliabilityBin]) -> f64 {
    let rows: usize = bins.iter().map(|b| b.rows).sum();
    if rows == 0 {
        return 0.0;
    }
    bins.iter().filter_map(|b| Some(b.rows as f64 / rows as f64 * (b.accuracy? - b.confidence?).abs())).sum()
}

/// How good a probability table is on the rows it predicts (out-of-fold ones in the report).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbabilityQuality {
    pub log_loss: f64,
    pub brier: f64,
    pub ece: f64,
    pub reliability: Vec<ReliabilityBin>,
}

impl ProbabilityQuality {
    pub fn of(proba: ArrayView2<f64>, truth: &[usize]) -> ProbabilityQuality {
        let reliability = reliability(proba, truth);
        ProbabilityQuality {
            log_loss: log_loss(proba, truth),
            brier: brier(proba, truth),
            ece: ece(&reliability),
            reliability,
        }
    }
}
