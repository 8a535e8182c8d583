//! Optimized weights: Caruana et al.'s ensemble selection (ICML 2004) on
//! out-of-fold probabilities, as auto-sklearn and AutoGluon use it: greedy
//! forward selection with replacement, sorted initialization, bagging, and
//! the best-prefix cutoff. The score is the log loss of the soft-voting
//! mixture (smooth, so ties are rare; accuracy moves in steps of one row).

use ndarray::ArrayView2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::cv::complement;
use super::stacking::train_labels;
use super::{MemberResults, Prepared};

/// Greedy steps after the sorted initialization (each adds one member, with replacement).
pub const SELECTION_ROUNDS: usize = 25;
/// Bags, each selecting from a random half of the members (Caruana's p = 0.5)
/// when there are more than [`BAG_ALL_UP_TO`]; with fewer every bag would
/// hold one member or all, so one selection over all of them stands.
pub const SELECTION_BAGS: usize = 10;
pub const BAG_ALL_UP_TO: usize = 3;

/// Floor of a mixture's probability before the log (scikit-learn's clip).
const EPS: f64 = f64::EPSILON;

/// Weights (one per member, summing to 1) chosen on `rows` of the members'
/// probability tables, whose true labels are `truth[row]`. Deterministic
/// for `seed`; equal weights when there are no rows, and `[]` with no members.
pub fn select_weights(probas: &[ArrayView2<f64>], rows: &[usize], truth: &[usize], seed: u64) -> Vec<f64> {
    let m = probas.len();
    if m == 0 {
        return Vec::new();
    }
    if rows.is_empty() {
        return vec![1.0 / m as f64; m];
    }
    // The mixture's log loss needs only each member's probability of the true class.
    let hit: Vec<Vec<f64>> =
        probas.iter().map(|p| rows.iter().map(|&r| p.row(r).get(truth[r]).copied().unwrap_or(0.0)).collect()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let bags = if m <= BAG_ALL_UP_TO { 1 } else { SELECTION_BAGS };
    let mut weights = vec![0.0; m];
    for _ in 0..bags {
        let bag = if m <= BAG_ALL_UP_TO { (0..m).collect() } else { draw_subset(&mut rng, m, m.div_ceil(2)) };
        let mut counts = select_in_bag(&hit, &bag);
        if counts.iter().sum::<usize>() == 0 {
            // No prefix lowered the loss (NaN probabilities): the bag's members equally.
            bag.iter().for_each(|&i| counts[i] = 1);
        }
        let total: usize = counts.iter().sum();
        for (w, c) in weights.iter_mut().zip(counts) {
            *w += c as f64 / total as f64 / bags as f64;
        }
    }
    let sum: f64 = weights.iter().sum();
    weights.iter().map(|w| w / sum).collect()
}

/// `size` distinct members of `0..m`, sorted (a partial Fisher-Yates shuffle).
fn draw_subset(rng: &mut ChaCha8Rng, m: usize, size: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..m).collect();
    for i in 0..size {
        let j = rng.gen_range(i..m);
        all.swap(i, j);
    }
    let mut bag = all[..size].to_vec();
    bag.sort_unstable();
    bag
}

/// Mean of `-ln(sum / count)` over rows: the log loss of the mixture.
fn mixture_loss(sum: &[f64], count: usize) -> f64 {
    sum.iter().map(|&s| -(s / count as f64).clamp(EPS, 1.0).ln()).sum::<f64>() / sum.len() as f64
}

/// How many times each member is picked within one bag.
fn select_in_bag(hit: &[Vec<f64>], bag: &[usize]) -> Vec<usize> {
    let rows = hit[0].len();
    // Sorted initialization: the best members by their own loss, as many as lowers the mixture's loss.
    let mut order = bag.to_vec();
    let own: Vec<f64> = hit.iter().map(|h| mixture_loss(h, 1)).collect();
    order.sort_by(|&a, &b| own[a].total_cmp(&own[b]).then(a.cmp(&b)));
    let mut sum = vec![0.0; rows];
    let (mut best_len, mut best_loss) = (0, f64::INFINITY);
    for (len, &i) in order.iter().enumerate() {
        add(&mut sum, &hit[i]);
        let loss = mixture_loss(&sum, len + 1);
        if loss < best_loss {
            (best_len, best_loss) = (len + 1, loss);
        }
    }
    let mut counts = vec![0; hit.len()];
    sum.fill(0.0);
    for &i in &order[..best_len] {
        counts[i] += 1;
        add(&mut sum, &hit[i]);
    }
    // Forward selection with replacement; keep the best prefix of the steps.
    let mut best_counts = counts.clone();
    let mut trial = vec![0.0; rows];
    // `count` members are in the mixture before each step.
    for count in best_len..best_len + SELECTION_ROUNDS {
        let (mut pick, mut pick_loss) = (bag[0], f64::INFINITY);
        for &i in bag {
            trial.iter_mut().zip(&sum).zip(&hit[i]).for_each(|((t, s), h)| *t = s + h);
            let loss = mixture_loss(&trial, count + 1);
            if loss < pick_loss {
                (pick, pick_loss) = (i, loss);
            }
        }
        add(&mut sum, &hit[pick]);
        counts[pick] += 1;
        if pick_loss < best_loss {
            best_loss = pick_loss;
            best_counts.clone_from(&counts);
        }
    }
    best_counts
}

fn add(sum: &mut [f64], values: &[f64]) {
    sum.iter_mut().zip(values).for_each(|(s, v)| *s += v);
}

/// The optimized weights of one ensemble (0 for a member left out by a zero `weight`).
#[derive(Debug, Clone, PartialEq)]
pub struct Optimized {
    /// Chosen on the train split's out-of-fold probabilities: they fuse the test rows.
    pub test: Vec<f64>,
    /// Fold `k`'s, chosen on the other folds' out-of-fold rows: the CV figure (an approximation of nested CV: those probabilities come from models that saw fold `k`).
    pub folds: Vec<Vec<f64>>,
    /// Chosen on every row's out-of-fold probabilities and scored on the same rows (optimistic).
    pub in_sample: Vec<f64>,
}

/// Seed of the bags; fold `k` uses `SELECTION_SEED + 1 + k`.
const SELECTION_SEED: u64 = 0xCA2A_0A4A;

/// Ensemble selection for the members `used` (the others get weight 0),
/// inside every CV fold, on the train split and on all rows.
pub fn optimize(p: &Prepared, results: &[&MemberResults], used: &[usize]) -> Optimized {
    let spread = |chosen: Vec<f64>| {
        let mut w = vec![0.0; results.len()];
        used.iter().zip(chosen).for_each(|(&i, c)| w[i] = c);
        w
    };
    let pick = |f: fn(&MemberResults) -> ArrayView2<f64>| used.iter().map(|&i| f(results[i])).collect::<Vec<_>>();
    let cv = pick(|r| r.cv_proba.view());
    // The pipeline trains the inner folds whenever weights are optimized
    // (`needs_inner_folds`); results without them get the all-rows weights.
    let train_oof: Option<Vec<ArrayView2<f64>>> =
        used.iter().map(|&i| results[i].train_oof_proba.as_ref().map(|t| t.view())).collect();
    let labels = &p.dataset.labels;
    let train_truth = train_labels(p);
    let all_train: Vec<usize> = (0..train_truth.len()).collect();
    let all_rows: Vec<usize> = (0..labels.len()).collect();
    let folds = p
        .folds
        .iter()
        .enumerate()
        .map(|(k, fold)| {
            let others = complement(labels.len(), fold);
            spread(select_weights(&cv, &others, labels, SELECTION_SEED + 1 + k as u64))
        })
        .collect();
    let in_sample = spread(select_weights(&cv, &all_rows, labels, SELECTION_SEED));
    let test = match train_oof {
        Some(train_oof) => spread(select_weights(&train_oof, &all_train, &train_truth, SELECTION_SEED)),
        None => in_sample.clone(),
    };
    Optimized { test, folds, in_sample }
}
