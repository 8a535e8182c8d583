//! The gbm member, scikit-learn's `HistGradientBoostingClassifier` with its
//! softmax (multinomial) loss: every feature binned into at most 255 bins
//! (the midpoints between distinct values, or quantiles when there are more),
//! then `max_iter` rounds, each growing one regression tree per class on the
//! gradients p - y and hessians p (1 - p) of the raw scores. Trees grow best
//! gain first up to `max_leaf_nodes` leaves (and `max_depth`), a leaf holds
//! at least `min_samples_leaf` rows, and its value is
//! -learning_rate * G / (H + l2_regularization). With `early_stopping`, a
//! stratified `validation_fraction` of the rows (drawn from the member's
//! seed) is held out and the rounds stop when the validation loss has not
//! improved by 1e-7 in 10 rounds, as scikit-learn's `scoring="loss"` does.
//!
//! The trees are [`FlatTree`]s on the features' own values, so the Deploy
//! pane compares integer codes (or x̂) with their thresholds as the forest does.

use std::any::Any;
use std::collections::BinaryHeap;
use std::sync::Arc;

use ndarray::{Array2, ArrayView1, ArrayView2};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::trees::{FlatNode, FlatTree};
use super::{DequantizedInference, FitResult, FittedModel, MemberPlugin, QuantizedInference, TrainingSet};
use crate::compute::ensemble::{MemberConfig, fit_error};
use crate::compute::quant::Rounder;

pub struct Gbm;

/// At most this many bins per feature (scikit-learn's `max_bins=255`).
const MAX_BINS: usize = 255;
/// A node needs this much hessian on each side of a split (scikit-learn's `min_hessian_to_split`).
const MIN_HESSIAN: f64 = 1e-3;
/// Early stopping: rounds without an improvement of `TOL` in the validation loss.
const NO_CHANGE_ROUNDS: usize = 10;
const TOL: f64 = 1e-7;

impl MemberPlugin for Gbm {
    fn name(&self) -> &'static str {
        "gbm"
    }

    fn settings(&self) -> &'static [&'static str] {
        &[
            "max_iter",
            "learning_rate",
            "max_leaf_nodes",
            "max_depth",
            "min_samples_leaf",
            "l2_regularization",
            "early_stopping",
            "validation_fraction",
            "weight",
            "seed",
        ]
    }

    fn fit(&self, cfg: &MemberConfig, data: &TrainingSet<'_>, rng: &mut ChaCha8Rng) -> FitResult {
        let present: Vec<usize> = (0..data.classes).filter(|c| data.y.contains(c)).collect();
        if present.len() < 2 {
            return Err(fit_error(
                cfg.kind,
                format!("the training rows hold {} class(es); boosting needs 2", present.len()),
            ));
        }
        let (fit_rows, validation) = if cfg.early_stopping {
            let (train, validation) = stratified_holdout(data.y, cfg.validation_fraction, rng);
            if validation.is_empty() || train.is_empty() {
                return Err(fit_error(
                    cfg.kind,
                    format!(
                        "validation_fraction {} of {} rows leaves no rows to validate or to train on",
                        cfg.validation_fraction,
                        data.y.len()
                    ),
                ));
            }
            (train, validation)
        } else {
            ((0..data.y.len()).collect(), Vec::new())
        };
        Ok(Arc::new(boost(cfg, data, &present, &fit_rows, &validation)))
    }
}

/// `fraction` of each class's rows (at least one of a class with two or more), shuffled by `rng`.
fn stratified_holdout(y: &[usize], fraction: f64, rng: &mut ChaCha8Rng) -> (Vec<usize>, Vec<usize>) {
    let classes = y.iter().copied().max().map_or(0, |m| m + 1);
    let (mut train, mut validation) = (Vec::new(), Vec::new());
    for class in 0..classes {
        let mut rows: Vec<usize> = (0..y.len()).filter(|&r| y[r] == class).collect();
        rows.shuffle(rng);
        let held = ((rows.len() as f64 * fraction).round() as usize).min(rows.len().saturating_sub(1));
        validation.extend_from_slice(&rows[..held]);
        train.extend_from_slice(&rows[held..]);
    }
    train.sort_unstable();
    validation.sort_unstable();
    (train, validation)
}

/// Each feature's bin edges: row `r` is in bin `b` of feature `f` when
/// `edges[f][b - 1] < x <= edges[f][b]` (scikit-learn's `_BinMapper`).
fn bin_edges(x: ArrayView2<f64>, rows: &[usize]) -> Vec<Vec<f64>> {
    (0..x.ncols())
        .map(|f| {
            let mut v: Vec<f64> = rows.iter().map(|&r| x[[r, f]]).collect();
            v.sort_unstable_by(f64::total_cmp);
            let mut distinct = v.clone();
            distinct.dedup();
            if distinct.len() <= MAX_BINS {
                distinct.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect()
            } else {
                // np.percentile(col, linspace(0, 100, 256)[1:-1], method="midpoint")
                let n = v.len();
                let mut edges: Vec<f64> = (1..MAX_BINS)
                    .map(|i| {
                        let pos = i as f64 / MAX_BINS as f64 * (n - 1) as f64;
                        (v[pos.floor() as usize] + v[pos.ceil() as usize]) / 2.0
                    })
                    .collect();
                edges.dedup();
                edges
            }
        })
        .collect()
}

fn bin_of(edges: &[f64], v: f64) -> u8 {
    edges.partition_point(|&e| e < v) as u8
}

/// The binned training rows, column by column.
struct Binned<'a> {
    rows: usize,
    bins: Vec<u8>,
    edges: &'a [Vec<f64>],
}

impl Binned<'_> {
    fn bin(&self, f: usize, r: usize) -> usize {
        self.bins[f * self.rows + r] as usize
    }
}

/// The tree settings.
struct Grow {
    max_leaves: usize,
    max_depth: usize,
    min_leaf: usize,
    l2: f64,
    learning_rate: f64,
}

/// A node's best split: feature, last bin going left, gain, and the left side's sums.
#[derive(Clone, Copy)]
struct Split {
    gain: f64,
    feature: usize,
    bin: usize,
}

/// A leaf waiting to be split, ordered by gain (ties to the older node).
struct Candidate {
    gain: f64,
    node: usize,
    split: Split,
    rows: Vec<usize>,
    depth: usize,
}

impl PartialEq for Candidate {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == std::cmp::Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Candidate {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.gain.total_cmp(&o.gain).then(o.node.cmp(&self.node))
    }
}

fn score(g: f64, h: f64, l2: f64) -> f64 {
    g * g / (h + l2)
}

/// The best split of `rows` on the gradient sums, if any gains and keeps `min_leaf` rows a side.
fn best_split(
    b: &Binned,
    rows: &[usize],
    grad: &[f64],
    hess: &[f64],
    p: &Grow,
    hist: &mut Vec<(f64, f64, u32)>,
) -> Option<Split> {
    if rows.len() < 2 * p.min_leaf {
        return None;
    }
    let (g, h) = rows.iter().fold((0.0, 0.0), |(g, h), &r| (g + grad[r], h + hess[r]));
    let parent = score(g, h, p.l2);
    let mut best: Option<Split> = None;
    for f in 0..b.edges.len() {
        let n_bins = b.edges[f].len() + 1;
        if n_bins < 2 {
            continue;
        }
        hist.clear();
        hist.resize(n_bins, (0.0, 0.0, 0));
        for &r in rows {
            let cell = &mut hist[b.bin(f, r)];
            cell.0 += grad[r];
            cell.1 += hess[r];
            cell.2 += 1;
        }
        let (mut gl, mut hl, mut nl) = (0.0, 0.0, 0usize);
        for (bin, &(cg, ch, cn)) in hist[..n_bins - 1].iter().enumerate() {
            gl += cg;
            hl += ch;
            nl += cn as usize;
            let nr = rows.len() - nl;
            if nl < p.min_leaf {
                continue;
            }
            if nr < p.min_leaf {
                break;
            }
            let hr = h - hl;
            if hl < MIN_HESSIAN || hr < MIN_HESSIAN {
                continue;
            }
            let gain = score(gl, hl, p.l2) + score(g - gl, hr, p.l2) - parent;
            if gain > 0.0 && best.is_none_or(|s| gain > s.gain) {
                best = Some(Split { gain, feature: f, bin });
            }
        }
    }
    best
}

/// One regression tree on `grad`/`hess` over `rows`, best gain first; adds
/// its value on each of `rows` to `raw` (the rows' column of the class).
fn grow_tree(
    b: &Binned,
    rows: Vec<usize>,
    grad: &[f64],
    hess: &[f64],
    p: &Grow,
    mut add: impl FnMut(usize, f64),
) -> FlatTree {
    let mut tree = FlatTree { nodes: vec![FlatNode::Leaf { class: 0 }], shares: vec![0.0] };
    let mut hist = Vec::new();
    let mut heap = BinaryHeap::new();
    let mut leaves: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut open = |node: usize,
                    rows: Vec<usize>,
                    depth: usize,
                    heap: &mut BinaryHeap<Candidate>,
                    leaves: &mut Vec<(usize, Vec<usize>)>| {
        let can_split = p.max_depth == 0 || depth < p.max_depth;
        match can_split.then(|| best_split(b, &rows, grad, hess, p, &mut hist)).flatten() {
            Some(split) => heap.push(Candidate { gain: split.gain, node, split, rows, depth }),
            None => leaves.push((node, rows)),
        }
    };
    open(0, rows, 0, &mut heap, &mut leaves);
    let mut n_leaves = 1;
    while let Some(c) = heap.pop() {
        if n_leaves >= p.max_leaves {
            leaves.push((c.node, c.rows));
            continue;
        }
        let Split { feature, bin, .. } = c.split;
        let (left, right): (Vec<usize>, Vec<usize>) = c.rows.iter().partition(|&&r| b.bin(feature, r) <= bin);
        // x <= edge goes left; a FlatTree sends x < threshold left.
        let threshold = b.edges[feature][bin].next_up();
        let (l, r) = (tree.nodes.len(), tree.nodes.len() + 1);
        tree.nodes[c.node] = FlatNode::Split { column: feature, threshold, left: l, right: r };
        tree.nodes.extend([FlatNode::Leaf { class: 0 }, FlatNode::Leaf { class: 0 }]);
        tree.shares.extend([0.0, 0.0]);
        n_leaves += 1;
        open(l, left, c.depth + 1, &mut heap, &mut leaves);
        open(r, right, c.depth + 1, &mut heap, &mut leaves);
    }
    for (node, rows) in leaves {
        let (g, h) = rows.iter().fold((0.0, 0.0), |(g, h), &r| (g + grad[r], h + hess[r]));
        let value = -p.learning_rate * g / (h + p.l2 + 1e-15);
        tree.shares[node] = value;
        for r in rows {
            add(r, value);
        }
    }
    tree
}

/// Softmax of each row of `raw` (rows x present classes), in place.
fn softmax_rows(raw: &Array2<f64>) -> Array2<f64> {
    let mut p = raw.clone();
    for mut row in p.rows_mut() {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        row.mapv_inplace(|v| (v - max).exp());
        let total = row.sum();
        row /= total;
    }
    p
}

fn boost(
    cfg: &MemberConfig,
    data: &TrainingSet<'_>,
    present: &[usize],
    rows: &[usize],
    validation: &[usize],
) -> Boosted {
    let TrainingSet { x, y, .. } = *data;
    let k = present.len();
    let dense: Vec<usize> = y.iter().map(|l| present.binary_search(l).unwrap_or(0)).collect();
    let edges = bin_edges(x, rows);
    let n = rows.len();
    let mut bins = vec![0u8; edges.len() * n];
    for (f, e) in edges.iter().enumerate() {
        for (i, &r) in rows.iter().enumerate() {
            bins[f * n + i] = bin_of(e, x[[r, f]]);
        }
    }
    let binned = Binned { rows: n, bins, edges: &edges };
    let p = Grow {
        max_leaves: cfg.max_leaf_nodes.max(2),
        max_depth: cfg.max_depth,
        min_leaf: cfg.min_samples_leaf,
        l2: cfg.l2_regularization,
        learning_rate: cfg.learning_rate,
    };
    // The baseline: log class shares of the training rows (scikit-learn's fit_intercept_only).
    let baseline: Vec<f64> =
        (0..k).map(|j| (rows.iter().filter(|&&r| dense[r] == j).count() as f64 / n as f64).ln()).collect();
    let mut raw = Array2::from_shape_fn((n, k), |(_, j)| baseline[j]);
    let mut model = Boosted { present: present.to_vec(), baseline, trees: Vec::new(), rounds: 0 };
    let mut val_raw = Array2::from_shape_fn((validation.len(), k), |(_, j)| model.baseline[j]);
    let mut val_scores: Vec<f64> = Vec::new();
    let (mut grad, mut hess) = (vec![0.0; n], vec![0.0; n]);
    for _ in 0..cfg.max_iter {
        let proba = softmax_rows(&raw);
        for j in 0..k {
            for i in 0..n {
                let pij = proba[[i, j]];
                grad[i] = pij - (dense[rows[i]] == j) as u8 as f64;
                hess[i] = (pij * (1.0 - pij)).max(1e-16);
            }
            let tree = grow_tree(&binned, (0..n).collect(), &grad, &hess, &p, |i, v| raw[[i, j]] += v);
            for (i, &r) in validation.iter().enumerate() {
                val_raw[[i, j]] += leaf_value(&tree, x.row(r));
            }
            model.trees.push(tree);
        }
        model.rounds += 1;
        if !validation.is_empty() {
            let proba = softmax_rows(&val_raw);
            let loss: f64 = validation.iter().enumerate().map(|(i, &r)| -proba[[i, dense[r]]].max(1e-300).ln()).sum();
            val_scores.push(-loss / validation.len() as f64);
            if should_stop(&val_scores) {
                break;
            }
        }
    }
    model
}

/// scikit-learn's `_should_stop`: none of the last 10 scores beats the one before them by `TOL`.
fn should_stop(scores: &[f64]) -> bool {
    if scores.len() <= NO_CHANGE_ROUNDS {
        return false;
    }
    let reference = scores[scores.len() - 1 - NO_CHANGE_ROUNDS] + TOL;
    !scores[scores.len() - NO_CHANGE_ROUNDS..].iter().any(|&s| s > reference)
}

fn leaf_value(tree: &FlatTree, row: ArrayView1<f64>) -> f64 {
    tree.shares[tree.leaf_of(row)]
}

/// A fitted gbm: the baseline and `rounds` x classes trees (round-major),
/// whose leaves hold their value in `shares`.
#[derive(Debug, Clone)]
pub(crate) struct Boosted {
    present: Vec<usize>,
    baseline: Vec<f64>,
    trees: Vec<FlatTree>,
    pub(crate) rounds: usize,
}

impl Boosted {
    /// Softmax of the baseline plus every tree's leaf value, the leaf found by `leaf(tree, row)`.
    fn proba(&self, rows: usize, classes: usize, leaf: impl Fn(&FlatTree, usize) -> usize) -> Array2<f64> {
        let k = self.present.len();
        let mut raw = Array2::from_shape_fn((rows, k), |(_, j)| self.baseline[j]);
        for (t, tree) in self.trees.iter().enumerate() {
            for r in 0..rows {
                raw[[r, t % k]] += tree.shares[leaf(tree, r)];
            }
        }
        let p = softmax_rows(&raw);
        let mut out = Array2::zeros((rows, classes));
        for (j, &class) in self.present.iter().enumerate() {
            out.column_mut(class).assign(&p.column(j));
        }
        out
    }
}

impl FittedModel for Boosted {
    fn predict_proba(&self, x: ArrayView2<f64>, classes: usize) -> Array2<f64> {
        self.proba(x.nrows(), classes, |tree, r| tree.leaf_of(x.row(r)))
    }

    /// Each tree compares a feature's integer code with its threshold's code, as the forest does.
    fn predict_proba_quantized(&self, x: ArrayView2<f64>, classes: usize, q: &QuantizedInference<'_>) -> Array2<f64> {
        let mut rounder = Rounder::new(q.rounding, 0);
        let codes: Vec<Vec<i32>> = (x.rows().into_iter())
            .map(|row| row.iter().enumerate().map(|(c, &v)| rounder.quantize(&q.features[c], v as f32).0).collect())
            .collect();
        self.proba(x.nrows(), classes, |tree, r| tree.leaf_of_codes(&codes[r], q.features))
    }

    fn predict_proba_dequantized(
        &self,
        x: ArrayView2<f64>,
        classes: usize,
        q: &DequantizedInference<'_>,
    ) -> Array2<f64> {
        self.proba(x.nrows(), classes, |tree, r| tree.leaf_of_dequantized(x.row(r), q.threshold))
    }

    /// A split holds a threshold, an 8-bit feature and two 16-bit links, a
    /// leaf its value as f32; the baseline is one f32 per class.
    fn size_bits(&self, value_bits: u32) -> u64 {
        let nodes = self.trees.iter().flat_map(|t| &t.nodes);
        let bits: u64 = nodes
            .map(|n| match n {
                FlatNode::Split { .. } => value_bits as u64 + 8 + 32,
                FlatNode::Leaf { .. } => 32,
            })
            .sum();
        bits + 32 * self.baseline.len() as u64
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
#[path = "gbm_tests.rs"]
mod tests;
