//! Scores of predicted labels: accuracy, per-fold accuracy, the confusion
//! matrix and macro precision / recall / F1.

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
