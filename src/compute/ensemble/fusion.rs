//! Fusion rules: how member probabilities become one label per row.

use ndarray::{Array2, ArrayView2};

use super::EnsembleError;
use super::Fusion;
use super::stacking::Stacked;
use super::votes::{VoteWeights, Votes};

/// Index of the largest value; ties go to the lowest index (NumPy's argmax), NaN never wins.
pub(crate) fn argmax(values: impl IntoIterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, v) in values.into_iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// The argmax of every row.
pub fn argmax_rows(p: ArrayView2<f64>) -> Vec<usize> {
    p.rows().into_iter().map(|row| argmax(row.iter().copied())).collect()
}

/// `weights / sum`; when no weight is positive (all zero, or no weights),
/// equal weights and `true` (= fell back). Negative or non-finite weights count as 0.
pub fn normalized_weights(weights: &[f64]) -> (Vec<f64>, bool) {
    let clean = clean_weights(weights);
    let max = clean.iter().copied().fold(0.0, f64::max);
    if max > 0.0 {
        // Dividing by the largest first keeps the sum finite for any finite weights.
        let scaled: Vec<f64> = clean.iter().map(|w| w / max).collect();
        let sum: f64 = scaled.iter().sum();
        (scaled.iter().map(|w| w / sum).collect(), false)
    } else {
        let n = weights.len();
        (vec![1.0 / n as f64; n], true)
    }
}

fn clean_weights(weights: &[f64]) -> Vec<f64> {
    weights.iter().map(|&w| if w.is_finite() && w > 0.0 { w } else { 0.0 }).collect()
}

/// The weights the fusion rules multiply by: `weights` made as long as `n`
/// (missing weights count as 1) and cleaned, at their raw scale like
/// scikit-learn's `np.average` and `np.bincount` (so ties round the same way),
/// or normalized when they are all zero or their sum overflows.
fn effective_weights(weights: &[f64], n: usize) -> Vec<f64> {
    let padded: Vec<f64> = (0..n).map(|i| weights.get(i).copied().unwrap_or(1.0)).collect();
    let clean = clean_weights(&padded);
    let sum: f64 = clean.iter().sum();
    if sum > 0.0 && sum.is_finite() { clean } else { normalized_weights(&padded).0 }
}

/// Soft voting (scikit-learn `VotingClassifier(voting="soft", weights=...)`):
/// the argmax of the weighted mean of the members' probability rows. All
/// members must have the same shape; `weights[i]` belongs to `probas[i]`.
pub fn fuse_soft(probas: &[ArrayView2<f64>], weights: &[f64]) -> Vec<usize> {
    soft_mean(probas, weights).map_or_else(Vec::new, |mean| argmax_rows(mean.view()))
}

/// The weighted mean of the members' probability rows (soft voting's
/// probabilities, `VotingClassifier.predict_proba`); None with no members
/// or no classes. Rows and columns past the smallest member's are dropped.
pub fn soft_mean(probas: &[ArrayView2<f64>], weights: &[f64]) -> Option<Array2<f64>> {
    let first = probas.first()?;
    let (rows, classes) = probas.iter().fold(first.dim(), |(r, c), p| (r.min(p.nrows()), c.min(p.ncols())));
    if classes == 0 {
        return None;
    }
    let w = effective_weights(weights, probas.len());
    let total: f64 = w.iter().sum();
    let mut mean = Array2::zeros((rows, classes));
    for (r, mut out) in mean.rows_mut().into_iter().enumerate() {
        for (p, &wi) in probas.iter().zip(&w) {
            for (c, m) in out.iter_mut().enumerate() {
                *m += p[[r, c]] * wi;
            }
        }
        out.mapv_inplace(|m| m / total);
    }
    Some(mean)
}

/// Hard voting (scikit-learn `voting="hard"`): the class with the largest
/// weighted vote count. Labels `>= classes` are ignored; all members must
/// have the same length. With `classes == 0` the result is empty.
pub fn fuse_hard(labels: &[&[usize]], weights: &[f64], classes: usize) -> Vec<usize> {
    let Some(rows) = labels.iter().map(|l| l.len()).min() else { return Vec::new() };
    if classes == 0 {
        return Vec::new();
    }
    let w = effective_weights(weights, labels.len());
    let mut votes = vec![0.0; classes];
    (0..rows)
        .map(|r| {
            votes.fill(0.0);
            for (l, &wi) in labels.iter().zip(&w) {
                if let Some(v) = votes.get_mut(l[r]) {
                    *v += wi;
                }
            }
            argmax(votes.iter().copied())
        })
        .collect()
}

/// The seed document's method, kept to show how it goes wrong: the weighted
/// mean of the class *numbers*, rounded half away from zero and clamped to
/// `[0, classes - 1]`. Class numbers are names, not quantities: votes for
/// 0 and 2 average to 1, a class nobody voted for.
pub fn fuse_label_mean(labels: &[&[usize]], weights: &[f64], classes: usize) -> Vec<usize> {
    let Some(rows) = labels.iter().map(|l| l.len()).min() else { return Vec::new() };
    if classes == 0 {
        return Vec::new();
    }
    let w = effective_weights(weights, labels.len());
    let total: f64 = w.iter().sum();
    (0..rows)
        .map(|r| {
            let mean = labels.iter().zip(&w).map(|(l, &wi)| l[r] as f64 * wi).sum::<f64>() / total;
            (mean.round().max(0.0) as usize).min(classes - 1)
        })
        .collect()
}

/// The voting rule `fusion` names (stacking and mlp, which need their meta-learner, vote softly).
pub fn fuse_votes(fusion: Fusion, probas: &[ArrayView2<f64>], weights: &[f64], classes: usize) -> Vec<usize> {
    match fusion {
        Fusion::Hard | Fusion::LabelMean => {
            let labels: Vec<Vec<usize>> = probas.iter().map(|p| argmax_rows(*p)).collect();
            let views: Vec<&[usize]> = labels.iter().map(Vec::as_slice).collect();
            if fusion == Fusion::Hard {
                fuse_hard(&views, weights, classes)
            } else {
                fuse_label_mean(&views, weights, classes)
            }
        }
        Fusion::Soft | Fusion::Stacking | Fusion::Mlp => fuse_soft(probas, weights),
    }
}

/// How member probabilities become one label per row, in floating point:
/// the one place that chooses between a voting rule and stacking's
/// meta-learners (the Ensemble pane and the Deploy pane both fuse through it).
pub enum Fuser<'a> {
    /// A voting rule with the weights of the test rows and of each CV fold.
    Vote(Votes),
    /// Stacking's meta-learners, on the probabilities of the stacked members.
    Stack(&'a Stacked),
}

impl<'a> Fuser<'a> {
    /// The rule `fusion` names with these weights ([`super::vote_weights`]);
    /// stacking uses `stacked`, and when stacking failed soft voting stands
    /// in and `notes` says so.
    pub fn new(
        fusion: Fusion,
        weights: VoteWeights,
        classes: usize,
        stacked: Option<&'a Result<Stacked, EnsembleError>>,
        notes: &mut Vec<String>,
    ) -> Fuser<'a> {
        match (fusion, stacked) {
            (Fusion::Stacking | Fusion::Mlp, Some(Ok(s))) => Fuser::Stack(s),
            (Fusion::Stacking | Fusion::Mlp, Some(Err(e))) => {
                notes.push(format!("{fusion} failed, showing soft voting instead: {e}"));
                Fuser::Vote(Votes { fusion: Fusion::Soft, weights, classes })
            }
            _ => Fuser::Vote(Votes { fusion, weights, classes }),
        }
    }

    /// The fused labels of the test rows (`fold` None) or of CV fold `k`'s
    /// rows (with fold `k`'s weights or meta-learner).
    pub fn fuse(&self, probas: &[ArrayView2<f64>], fold: Option<usize>) -> Vec<usize> {
        match self {
            Fuser::Vote(v) => fuse_votes(v.fusion, probas, v.weights.of(fold), v.classes),
            Fuser::Stack(s) => {
                let meta = fold.map_or(&s.meta, |k| &s.fold_metas[k]);
                let used: Vec<ArrayView2<f64>> = s.used.iter().map(|&i| probas[i]).collect();
                // The members and the meta-learners come from the same training: the shapes agree.
                meta.predict(&used).unwrap_or_default()
            }
        }
    }
}
