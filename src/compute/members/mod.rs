//! The ensemble's member kinds: bagged trees (a forest), one tree and
//! softmax regression, each fitted, predicted, quantized and sized here.

mod logistic;
mod trees;

pub(crate) use logistic::Softmax;
#[cfg(test)]
pub(crate) use trees::threshold_code;
pub(crate) use trees::{FlatNode, FlatTree};

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::ensemble::{EnsembleError, MemberConfig, MemberKind, argmax_rows, fit_error};
use super::quant::{QParams, Rounder, Rounding};
use trees::fit_tree;

/// A trained member.
#[derive(Debug, Clone)]
pub struct FittedMember {
    pub(crate) kind: MemberKind,
    pub(crate) classes: usize,
    pub(crate) features: usize,
    pub(crate) model: Model,
}

#[derive(Debug, Clone)]
pub(crate) enum Model {
    /// Every tree votes for one class.
    Votes(Vec<FlatTree>),
    Logistic(Box<Softmax>),
}

impl FittedMember {
    pub fn kind(&self) -> MemberKind {
        self.kind
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Whether the fit converged: a logistic member's solver stopped with a
    /// small gradient rather than at `max_iter`; trees always have.
    pub fn converged(&self) -> bool {
        match &self.model {
            Model::Votes(_) => true,
            Model::Logistic(model) => model.fit.converged,
        }
    }

    /// Number of feature columns the member was trained on (and `predict_proba` expects).
    pub fn features(&self) -> usize {
        self.features
    }

    /// Class probabilities, rows x classes, each row summing to 1. A forest's
    /// probabilities are the shares of its trees voting for each class (so
    /// multiples of 1 / trees); a tree's are one-hot.
    ///
    /// `x` must have the training width [`FittedMember::features`]; a
    /// different width is a programming error and gives uniform rows.
    pub fn predict_proba(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let mut out = Array2::zeros((x.nrows(), self.classes));
        if x.ncols() != self.features || self.classes == 0 {
            debug_assert!(false, "predict_proba: {} columns, trained on {}", x.ncols(), self.features);
            out.fill(if self.classes == 0 { 0.0 } else { 1.0 / self.classes as f64 });
            return out;
        }
        match &self.model {
            Model::Votes(trees) => {
                for tree in trees {
                    for (r, row) in x.rows().into_iter().enumerate() {
                        out[[r, tree.predict(row)]] += 1.0;
                    }
                }
                out /= trees.len() as f64;
            }
            Model::Logistic(model) => out = model.predict_proba(x),
        }
        out
    }

    pub fn predict(&self, x: ArrayView2<f64>) -> Vec<usize> {
        argmax_rows(self.predict_proba(x).view())
    }

    /// Class probabilities with quantized inference: a tree compares the
    /// integer code of a feature with the code of its threshold (both from
    /// that feature's quantizer); a logistic member sees dequantized features
    /// and weights passed through `quantize_weights` (features x classes).
    pub fn predict_proba_quantized(
        &self,
        x: ArrayView2<f64>,
        features: &[QParams],
        rounding: Rounding,
        quantize_weights: &dyn Fn(&Array2<f64>) -> Array2<f64>,
    ) -> Array2<f64> {
        let mut out = Array2::zeros((x.nrows(), self.classes));
        let mut rounder = Rounder::new(rounding, 0);
        let mut code = |c: usize, v: f64| rounder.quantize(&features[c], v as f32).0;
        match &self.model {
            Model::Votes(trees) => {
                for (r, row) in x.rows().into_iter().enumerate() {
                    let codes: Vec<i32> = row.iter().enumerate().map(|(c, &v)| code(c, v)).collect();
                    for tree in trees {
                        out[[r, tree.predict_codes(&codes, features)]] += 1.0;
                    }
                }
                out /= trees.len().max(1) as f64;
            }
            Model::Logistic(model) => {
                let dequantized =
                    Array2::from_shape_fn(x.dim(), |(r, c)| features[c].dequantize(code(c, x[[r, c]])) as f64);
                out = model.predict_proba_with(dequantized.view(), quantize_weights);
            }
        }
        out
    }

    /// Storage in bits with `value_bits`-bit thresholds / weights: a split
    /// node holds a threshold, an 8-bit feature index and two 16-bit child
    /// links, a leaf an 8-bit class; a logistic member its weights and
    /// 32-bit intercepts.
    pub fn size_bits(&self, value_bits: u32) -> u64 {
        match &self.model {
            Model::Votes(trees) => trees
                .iter()
                .flat_map(|t| &t.nodes)
                .map(|n| match n {
                    FlatNode::Split { .. } => value_bits as u64 + 8 + 32,
                    FlatNode::Leaf { .. } => 8,
                })
                .sum(),
            Model::Logistic(model) => {
                let (features, classes) = model.fit.weights.dim();
                (features * classes) as u64 * value_bits as u64 + classes as u64 * 32
            }
        }
    }
}

/// Trains one member on `x` (rows x features) and `y` (class indices < `classes`).
///
/// `seed` seeds the member's only random stream (bootstrap rows and feature
/// subsets of a forest); [`train_member`] derives it from the data seed, the
/// member seed and the fold, so `cfg.seed` itself is not read here.
pub fn fit_member(
    cfg: &MemberConfig,
    x: ArrayView2<f64>,
    y: &[usize],
    classes: usize,
    seed: u64,
) -> Result<FittedMember, EnsembleError> {
    let kind = cfg.kind;
    cfg.validate_at("member").map_err(|e| fit_error(kind, e.to_string()))?;
    let (rows, features) = x.dim();
    if rows == 0 || features == 0 {
        return Err(fit_error(kind, format!("the training data is empty ({rows} rows x {features} features)")));
    }
    if y.len() != rows {
        return Err(fit_error(kind, format!("{rows} feature rows but {} labels", y.len())));
    }
    if let Some(&bad) = y.iter().find(|&&l| l >= classes) {
        return Err(fit_error(kind, format!("label {bad} is not below the {classes} classes")));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(fit_error(kind, "the features hold NaN or infinite values"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let model = match kind {
        MemberKind::Forest => {
            let take = ((cfg.feature_fraction * features as f64).round() as usize).clamp(1, features);
            let trees = (0..cfg.trees)
                .map(|_| {
                    let mut counts = vec![0u32; rows];
                    for _ in 0..rows {
                        counts[rng.gen_range(0..rows)] += 1;
                    }
                    let mut columns = rand::seq::index::sample(&mut rng, features, take).into_vec();
                    columns.sort_unstable();
                    fit_tree(cfg, x, y, classes, &counts, &columns, &mut rng)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Model::Votes(trees)
        }
        MemberKind::Tree => {
            let columns: Vec<usize> = (0..features).collect();
            Model::Votes(vec![fit_tree(cfg, x, y, classes, &vec![1; rows], &columns, &mut rng)?])
        }
        MemberKind::Logistic => {
            let model =
                Softmax::fit(x, y, classes, true, cfg.c, cfg.max_iter).map_err(|m| fit_error(kind, m.to_string()))?;
            Model::Logistic(Box::new(model))
        }
    };
    Ok(FittedMember { kind, classes, features, model })
}
