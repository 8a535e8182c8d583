//! linfa decision trees, flattened and made reproducible: the forest and tree members.

use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_trees::{DecisionTree, TreeNode};
use std::any::Any;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{DequantizedInference, FittedModel, QuantizedInference, TrainingSet};
use crate::compute::ensemble::{EnsembleError, MemberConfig, argmax, fit_error};
use crate::compute::quant::{QParams, Rounder, Rounding};

/// A decision tree in a flat array (faster to walk): a linfa tree made
/// reproducible by [`FlatTree::settle`] (see [`fit_tree`]), or one of ours
/// ([`super::cart`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FlatTree {
    pub(crate) nodes: Vec<FlatNode>,
    /// `classes` class shares per node (zeros at splits): a leaf's rows'
    /// weighted class fractions, scikit-learn's `predict_proba`. Empty for
    /// a linfa tree, whose leaves vote for their class.
    pub(crate) shares: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FlatNode {
    /// Rows with `x[column] < threshold` go left (linfa's prediction rule).
    Split {
        column: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf {
        class: usize,
    },
}

/// A threshold's code, from its feature's own quantizer (half to even: a
/// threshold is one fixed value, not a stream of samples).
pub(crate) fn threshold_code(p: &QParams, threshold: f64) -> i32 {
    Rounder::new(Rounding::HalfEven, 0).quantize(p, threshold as f32).0
}

impl FlatTree {
    /// `columns[j]` is the dataset column of the tree's own feature `j`.
    fn from_linfa(tree: &DecisionTree<f64, usize>, columns: &[usize]) -> FlatTree {
        fn walk(node: &TreeNode<f64, usize>, columns: &[usize], nodes: &mut Vec<FlatNode>) -> usize {
            let at = nodes.len();
            let children = node.children();
            match (node.is_leaf(), children[0], children[1]) {
                (false, Some(left), Some(right)) => {
                    let (feature, threshold, _) = node.split();
                    nodes.push(FlatNode::Split { column: columns[feature], threshold, left: 0, right: 0 });
                    let l = walk(left, columns, nodes);
                    let r = walk(right, columns, nodes);
                    nodes[at] = FlatNode::Split { column: columns[feature], threshold, left: l, right: r };
                }
                _ => nodes.push(FlatNode::Leaf { class: node.prediction().unwrap_or_default() }),
            }
            at
        }
        let mut nodes = Vec::new();
        walk(tree.root_node(), columns, &mut nodes);
        FlatTree { nodes, shares: Vec::new() }
    }

    /// Points split `parent`'s left (or right) link at node `child`.
    pub(crate) fn link(&mut self, parent: usize, left: bool, child: usize) {
        if let FlatNode::Split { left: l, right: r, .. } = &mut self.nodes[parent] {
            *(if left { l } else { r }) = child;
        }
    }

    /// Adds the leaf's class shares (or its one vote) to `out`.
    fn add_leaf(&self, leaf: usize, mut out: ndarray::ArrayViewMut1<f64>) {
        let classes = out.len();
        if self.shares.is_empty() {
            out[self.class_at(leaf)] += 1.0;
        } else {
            out += &ArrayView1::from(&self.shares[leaf * classes..(leaf + 1) * classes]);
        }
    }

    pub(crate) fn leaf_of(&self, row: ArrayView1<f64>) -> usize {
        self.leaf_where(|column, threshold| row[column] < threshold)
    }

    /// The leaf a walk reaches, going left where `goes_left(column, threshold)`.
    fn leaf_where(&self, goes_left: impl Fn(usize, f64) -> bool) -> usize {
        let mut i = 0;
        loop {
            match self.nodes[i] {
                FlatNode::Split { column, threshold, left, right } => {
                    i = if goes_left(column, threshold) { left } else { right };
                }
                FlatNode::Leaf { .. } => return i,
            }
        }
    }

    fn class_at(&self, leaf: usize) -> usize {
        match self.nodes[leaf] {
            FlatNode::Leaf { class } => class,
            FlatNode::Split { .. } => unreachable!("leaf_where returns a leaf"),
        }
    }

    #[cfg(test)]
    pub(crate) fn predict(&self, row: ArrayView1<f64>) -> usize {
        self.class_at(self.leaf_of(row))
    }

    /// The same walk on integer codes: left when the row's code is below the
    /// threshold's code (linfa's `x < threshold`, on the quantized grid).
    #[cfg(test)]
    pub(crate) fn predict_codes(&self, codes: &[i32], features: &[QParams]) -> usize {
        self.class_at(self.leaf_of_codes(codes, features))
    }

    pub(crate) fn leaf_of_codes(&self, codes: &[i32], features: &[QParams]) -> usize {
        self.leaf_where(|column, t| codes[column] < threshold_code(&features[column], t))
    }

    /// The same walk on x̂: left when the row's x̂ is below x̂ of the threshold.
    pub(crate) fn leaf_of_dequantized(&self, row: ArrayView1<f64>, threshold: &dyn Fn(usize, f64) -> f64) -> usize {
        self.leaf_where(|column, t| row[column] < threshold(column, t))
    }

    /// Makes the tree a function of the training rows alone, whatever order
    /// linfa's `HashMap`s had (see [`FlatTree`]): walks the training rows down
    /// the tree, re-expresses every split on the lowest column (in `columns`,
    /// linfa's feature order) that separates the node's rows into the same two
    /// sets, and sets every leaf's class to the weighted majority of its rows.
    fn settle(&mut self, t: &Rows) {
        let rows: Vec<usize> = (0..t.x.nrows()).collect();
        self.settle_node(0, &rows, t);
    }

    fn settle_node(&mut self, i: usize, rows: &[usize], t: &Rows) {
        match self.nodes[i] {
            FlatNode::Leaf { .. } => {
                let mut counts = vec![0.0; t.classes];
                for &r in rows {
                    counts[t.y[r]] += t.weights[r];
                }
                if counts.iter().any(|&c| c > 0.0) {
                    self.nodes[i] = FlatNode::Leaf { class: argmax(counts) };
                }
            }
            FlatNode::Split { column, threshold, left, right } => {
                let (l, r): (Vec<usize>, Vec<usize>) = rows.iter().partition(|&&row| t.x[[row, column]] < threshold);
                if !l.is_empty() && !r.is_empty() {
                    for &c in t.columns {
                        let max_left = l.iter().map(|&row| t.x[[row, c]]).fold(f64::NEG_INFINITY, f64::max);
                        let min_right = r.iter().map(|&row| t.x[[row, c]]).fold(f64::INFINITY, f64::min);
                        if max_left < min_right {
                            // linfa's threshold: the midpoint to the next value of any training row.
                            let next =
                                t.x.column(c).iter().copied().filter(|&v| v > max_left).fold(min_right, f64::min);
                            let mid = (max_left + next) / 2.0;
                            let threshold = if mid > max_left { mid } else { next };
                            self.nodes[i] = FlatNode::Split { column: c, threshold, left, right };
                            break;
                        }
                    }
                }
                self.settle_node(left, &l, t);
                self.settle_node(right, &r, t);
            }
        }
    }
}

/// The training rows of one tree, for [`FlatTree::settle`].
struct Rows<'a> {
    x: ArrayView2<'a, f64>,
    y: &'a [usize],
    weights: &'a [f64],
    classes: usize,
    columns: &'a [usize],
}

/// Relative size of the seeded weight jitter that breaks linfa's ties (see [`fit_tree`]).
const TIE_JITTER: f64 = 1.0 / 1024.0;

/// One linfa tree on the rows with `counts > 0` and the given columns.
///
/// A bootstrap sample's multiplicities become sample weights, which is
/// equivalent to repeating the rows. linfa-trees is not reproducible on its
/// own: it sums f32 class weights in the order of a `HashMap` whose order is
/// random per map, so splits of equal impurity and equally common classes go
/// either way from run to run. Three measures make the tree a function of the
/// seed: every weight is multiplied by `1 + u * TIE_JITTER` with a seeded
/// `u` in [0, 1) (seeded random tie-breaking, as scikit-learn's random
/// feature order per split does), a split that separates a node's rows like
/// a split on a lower column is moved to that column, and every leaf predicts
/// the (unjittered) majority of its rows, ties to the lowest class.
pub(crate) fn fit_tree(
    cfg: &MemberConfig,
    data: &TrainingSet<'_>,
    counts: &[u32],
    columns: &[usize],
    rng: &mut ChaCha8Rng,
) -> Result<FlatTree, EnsembleError> {
    let TrainingSet { x, y, classes } = *data;
    let rows: Vec<usize> = (0..counts.len()).filter(|&r| counts[r] > 0).collect();
    let sub = x.select(Axis(0), &rows).select(Axis(1), columns);
    let labels: Vec<usize> = rows.iter().map(|&r| y[r]).collect();
    let weights: Vec<f64> = rows.iter().map(|&r| counts[r] as f64).collect();
    let jittered = weights.iter().map(|&w| (w * (1.0 + rng.r#gen::<f64>() * TIE_JITTER)) as f32).collect();
    let dataset = DatasetBase::new(sub, Array1::from(labels.clone())).with_weights(jittered);
    let max_depth = (cfg.max_depth > 0).then_some(cfg.max_depth);
    let tree = DecisionTree::params()
        .max_depth(max_depth)
        .fit(&dataset)
        .map_err(|e| fit_error(cfg.kind, format!("linfa-trees failed: {e}")))?;
    let mut flat = FlatTree::from_linfa(&tree, columns);
    let rows_x = x.select(Axis(0), &rows);
    flat.settle(&Rows { x: rows_x.view(), y: &labels, weights: &weights, classes, columns });
    Ok(flat)
}

/// Trees whose leaves give class shares (a forest of ours, averaging them as
/// scikit-learn does) or vote for one class (a linfa tree).
#[derive(Debug, Clone)]
pub(crate) struct Votes {
    pub(crate) trees: Vec<FlatTree>,
}

impl FittedModel for Votes {
    fn predict_proba(&self, x: ArrayView2<f64>, classes: usize) -> Array2<f64> {
        let mut out = Array2::zeros((x.nrows(), classes));
        for tree in &self.trees {
            for (r, row) in x.rows().into_iter().enumerate() {
                tree.add_leaf(tree.leaf_of(row), out.row_mut(r));
            }
        }
        out /= self.trees.len().max(1) as f64;
        out
    }

    fn predict_proba_quantized(&self, x: ArrayView2<f64>, classes: usize, q: &QuantizedInference<'_>) -> Array2<f64> {
        let features = q.features;
        let mut out = Array2::zeros((x.nrows(), classes));
        let mut rounder = Rounder::new(q.rounding, 0);
        for (r, row) in x.rows().into_iter().enumerate() {
            let codes: Vec<i32> =
                row.iter().enumerate().map(|(c, &v)| rounder.quantize(&features[c], v as f32).0).collect();
            for tree in &self.trees {
                tree.add_leaf(tree.leaf_of_codes(&codes, features), out.row_mut(r));
            }
        }
        out /= self.trees.len().max(1) as f64;
        out
    }

    fn predict_proba_dequantized(
        &self,
        x: ArrayView2<f64>,
        classes: usize,
        q: &DequantizedInference<'_>,
    ) -> Array2<f64> {
        let mut out = Array2::zeros((x.nrows(), classes));
        for tree in &self.trees {
            for (r, row) in x.rows().into_iter().enumerate() {
                tree.add_leaf(tree.leaf_of_dequantized(row, q.threshold), out.row_mut(r));
            }
        }
        out /= self.trees.len().max(1) as f64;
        out
    }

    /// A split node holds a threshold, an 8-bit feature index and two 16-bit
    /// child links, a leaf an 8-bit class or its class shares as 64-bit floats.
    fn size_bits(&self, value_bits: u32) -> u64 {
        let leaf_bits =
            |t: &FlatTree| if t.shares.is_empty() { 8 } else { 64 * (t.shares.len() / t.nodes.len()) as u64 };
        self.trees
            .iter()
            .flat_map(|t| t.nodes.iter().map(move |n| (n, leaf_bits(t))))
            .map(|(n, leaf)| match n {
                FlatNode::Split { .. } => value_bits as u64 + 8 + 32,
                FlatNode::Leaf { .. } => leaf,
            })
            .sum()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
