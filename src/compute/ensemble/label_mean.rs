//! Label-mean fusion under every relabeling of the classes: averaging class
//! numbers depends on which class got which number, and this shows how much.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::fusion::fuse_label_mean;
use super::metrics::fold_accuracies;

/// Up to this many classes every permutation is tried (8! = 40320).
pub const EXHAUSTIVE_CLASSES: usize = 8;
/// Beyond [`EXHAUSTIVE_CLASSES`], this many permutations drawn with a fixed seed (the identity first).
pub const SAMPLED_PERMUTATIONS: usize = 5040;
const SAMPLE_SEED: u64 = 0x1abe1;

/// Label-mean's CV accuracy over relabelings of the classes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelMeanPermutations {
    pub min: f64,
    pub max: f64,
    /// With the data's own class numbers (the figure label-mean shows).
    pub identity: f64,
    /// How many relabelings were scored.
    pub permutations: usize,
    /// Every one of the k! relabelings (else a seeded sample of them).
    pub exhaustive: bool,
}

/// Label-mean's mean CV fold accuracy when class `c` is numbered `perm[c]`,
/// for every permutation (k <= 8) or a deterministic sample of them.
/// `labels` are the members' out-of-fold labels, `truth` the true ones.
/// `fold_weights[k]` fuses the rows of fold `k` (one entry: every fold's),
/// so weights chosen per fold (optimized ones) never score rows they saw.
pub fn label_mean_permutations(
    labels: &[Vec<usize>],
    fold_weights: &[Vec<f64>],
    truth: &[usize],
    folds: &[Vec<usize>],
    classes: usize,
) -> LabelMeanPermutations {
    let score = |perm: &[usize]| {
        let mut predicted = vec![0; truth.len()];
        for (k, fold) in folds.iter().enumerate() {
            let weights = &fold_weights[k.min(fold_weights.len().saturating_sub(1))];
            let renamed: Vec<Vec<usize>> = labels.iter().map(|l| fold.iter().map(|&r| perm[l[r]]).collect()).collect();
            let views: Vec<&[usize]> = renamed.iter().map(Vec::as_slice).collect();
            for (&r, c) in fold.iter().zip(fuse_label_mean(&views, weights, classes)) {
                predicted[r] = c;
            }
        }
        let renamed_truth: Vec<usize> = truth.iter().map(|&c| perm[c]).collect();
        fold_accuracies(&predicted, &renamed_truth, folds).mean_std().0
    };
    let identity: Vec<usize> = (0..classes).collect();
    let exhaustive = classes <= EXHAUSTIVE_CLASSES;
    let perms = if exhaustive { all_permutations(classes) } else { sampled_permutations(classes) };
    let scores: Vec<f64> = perms.iter().map(|p| score(p)).collect();
    LabelMeanPermutations {
        min: scores.iter().copied().fold(f64::INFINITY, f64::min),
        max: scores.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        identity: score(&identity),
        permutations: perms.len(),
        exhaustive,
    }
}

/// Every permutation of `0..k` in lexicographic order (the identity first).
pub(super) fn all_permutations(k: usize) -> Vec<Vec<usize>> {
    let mut perm: Vec<usize> = (0..k).collect();
    let mut out = vec![perm.clone()];
    // Next lexicographic permutation until the last one.
    loop {
        let Some(i) = (1..k).rev().find(|&i| perm[i - 1] < perm[i]) else { return out };
        let j = (i..k).rev().find(|&j| perm[j] > perm[i - 1]).unwrap_or(i);
        perm.swap(i - 1, j);
        perm[i..].reverse();
        out.push(perm.clone());
    }
}

fn sampled_permutations(k: usize) -> Vec<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(SAMPLE_SEED);
    let mut out = vec![(0..k).collect::<Vec<usize>>()];
    while out.len() < SAMPLED_PERMUTATIONS {
        let mut p: Vec<usize> = (0..k).collect();
        p.shuffle(&mut rng);
        out.push(p);
    }
    out
}
