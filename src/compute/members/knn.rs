//! The knn member, scikit-learn's `KNeighborsClassifier` after its
//! `StandardScaler`: the training rows are kept, features standardized by
//! the training rows' mean and population std (a constant feature is left
//! unscaled), and a row's probabilities are its `n_neighbors` nearest
//! training rows' (Euclidean) votes, one each (`uniform`) or 1 / distance
//! (`distance`; rows at distance 0, when there are any, share the vote).
//!
//! The search is brute force and exact: at these sizes (digits, 1,437 x 64
//! per fold) it is a few milliseconds per fold and needs no index, and
//! equal distances go to the lower training row, so the neighbours do not
//! depend on an index's layout or on threads.

use std::any::Any;
use std::sync::Arc;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand_chacha::ChaCha8Rng;

use super::{DequantizedInference, FitResult, FittedModel, MemberPlugin, QuantizedInference, TrainingSet};
use crate::compute::ensemble::{MemberConfig, NeighborWeights, fit_error};

pub struct Knn;

impl MemberPlugin for Knn {
    fn name(&self) -> &'static str {
        "knn"
    }

    fn settings(&self) -> &'static [&'static str] {
        &["n_neighbors", "neighbor_weights", "weight"]
    }

    fn fit(&self, cfg: &MemberConfig, data: &TrainingSet<'_>, _rng: &mut ChaCha8Rng) -> FitResult {
        let rows = data.x.nrows();
        if cfg.n_neighbors == 0 || cfg.n_neighbors > rows {
            return Err(fit_error(
                cfg.kind,
                format!(
                    "n_neighbors = {} needs between 1 and the {rows} training rows (lower n_neighbors)",
                    cfg.n_neighbors
                ),
            ));
        }
        let mean = data.x.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(data.x.ncols()));
        // scikit-learn's StandardScaler leaves a (near) constant feature unscaled.
        let scale = data.x.std_axis(Axis(0), 0.0).mapv(|s| if s > 10.0 * f64::EPSILON { s } else { 1.0 });
        Ok(Arc::new(Neighbours {
            rows: data.x.to_owned(),
            labels: data.y.to_vec(),
            mean,
            scale,
            k: cfg.n_neighbors,
            weights: cfg.neighbor_weights,
        }))
    }
}

/// A fitted kNN: the training rows as given (standardized when compared).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Neighbours {
    rows: Array2<f64>,
    labels: Vec<usize>,
    mean: Array1<f64>,
    scale: Array1<f64>,
    k: usize,
    weights: NeighborWeights,
}

impl Neighbours {
    /// Probabilities of `queries` against `stored` (both on the features' own scale).
    fn proba(&self, stored: ArrayView2<f64>, queries: ArrayView2<f64>, classes: usize) -> Array2<f64> {
        let standardize = |x: ArrayView2<f64>| (&x - &self.mean) / &self.scale;
        let (stored, queries) = (standardize(stored), standardize(queries));
        let mut out = Array2::zeros((queries.nrows(), classes));
        let mut distances = Vec::with_capacity(stored.nrows());
        for (r, query) in queries.rows().into_iter().enumerate() {
            self.nearest(stored.view(), query, &mut distances);
            self.vote(&distances[..self.k], out.row_mut(r));
        }
        out
    }

    /// Fills `out` with (distance², training row) of every stored row, the
    /// `k` nearest first in order (ties to the lower row).
    fn nearest(&self, stored: ArrayView2<f64>, query: ArrayView1<f64>, out: &mut Vec<(f64, usize)>) {
        out.clear();
        out.extend(stored.rows().into_iter().enumerate().map(|(i, row)| {
            let d2: f64 = row.iter().zip(query).map(|(a, b)| (a - b) * (a - b)).sum();
            (d2, i)
        }));
        let order = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        if self.k < out.len() {
            out.select_nth_unstable_by(self.k - 1, order);
        }
        out[..self.k].sort_unstable_by(order);
    }

    /// scikit-learn's vote: weights summed per class, divided by their total.
    fn vote(&self, nearest: &[(f64, usize)], mut out: ndarray::ArrayViewMut1<f64>) {
        let exact = nearest.iter().any(|&(d2, _)| d2 == 0.0);
        for &(d2, i) in nearest {
            let w = match self.weights {
                NeighborWeights::Uniform => 1.0,
                // A row at distance 0 outweighs every other: they alone vote.
                NeighborWeights::Distance if exact => (d2 == 0.0) as u8 as f64,
                NeighborWeights::Distance => 1.0 / d2.sqrt(),
            };
            out[self.labels[i]] += w;
        }
        let total = out.sum();
        if total > 0.0 {
            out /= total;
        }
    }
}

impl FittedModel for Neighbours {
    fn predict_proba(&self, x: ArrayView2<f64>, classes: usize) -> Array2<f64> {
        self.proba(self.rows.view(), x, classes)
    }

    /// Quantized query rows against the stored rows as codes of the same
    /// quantizers (mean and scale stay f32).
    fn predict_proba_quantized(&self, x: ArrayView2<f64>, classes: usize, q: &QuantizedInference<'_>) -> Array2<f64> {
        let stored = Array2::from_shape_fn(self.rows.dim(), |(r, c)| q.dequantize_stored(c, self.rows[[r, c]]));
        self.proba(stored.view(), q.dequantize_rows(x).view(), classes)
    }

    /// x̂ of the query rows as given, and of the stored rows on their features' grids.
    fn predict_proba_dequantized(
        &self,
        x: ArrayView2<f64>,
        classes: usize,
        q: &DequantizedInference<'_>,
    ) -> Array2<f64> {
        let stored = Array2::from_shape_fn(self.rows.dim(), |(r, c)| (q.threshold)(c, self.rows[[r, c]]));
        self.proba(stored.view(), x, classes)
    }

    /// The stored rows at `value_bits`, an 8-bit label per row, the mean and scale as f32.
    fn size_bits(&self, value_bits: u32) -> u64 {
        let (rows, features) = self.rows.dim();
        (rows * features) as u64 * value_bits as u64 + rows as u64 * 8 + features as u64 * 64
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::ensemble::{EnsembleError, MemberKind, fit_member};
    use ndarray::array;

    fn knn(k: usize, weights: NeighborWeights) -> MemberConfig {
        let kind = "knn".parse::<MemberKind>().unwrap();
        MemberConfig { kind, n_neighbors: k, neighbor_weights: weights, ..MemberConfig::default() }
    }

    /// One feature at 0, 1, 2, 10, 11 (mean 4.8, std 4.6648), classes 0, 0, 1, 1, 1.
    fn line() -> (Array2<f64>, Vec<usize>) {
        (array![[0.0], [1.0], [2.0], [10.0], [11.0]], vec![0, 0, 1, 1, 1])
    }

    #[test]
    fn uniform_votes_by_hand() {
        let (x, y) = line();
        let m = fit_member(&knn(3, NeighborWeights::Uniform), x.view(), &y, 2, 0).unwrap();
        // 0.4 is nearest 0, 1, 2 (classes 0, 0, 1); 9 is nearest 10, 11, 2 (scikit-learn: the same).
        let p = m.predict_proba(array![[0.4], [9.0]].view());
        assert_eq!(p, array![[2.0 / 3.0, 1.0 / 3.0], [0.0, 1.0]]);
    }

    #[test]
    fn distance_votes_by_hand_and_an_exact_match_takes_the_vote() {
        let (x, y) = line();
        let m = fit_member(&knn(3, NeighborWeights::Distance), x.view(), &y, 2, 0).unwrap();
        // Standardizing scales every distance by the same 1 / std, which the shares do not see:
        // at 0.5, neighbours 0 and 1 (0.5 away) and 2 (1.5 away): 2 : 2 : 2/3 (scikit-learn: 0.857).
        let p = m.predict_proba(array![[0.5], [2.0]].view());
        assert!((p[[0, 0]] - 4.0 / (4.0 + 2.0 / 3.0)).abs() < 1e-12, "{p}");
        assert_eq!(p.row(1).to_vec(), [0.0, 1.0]);
    }

    #[test]
    fn equal_distances_go_to_the_lower_training_row() {
        // 1.0 is as far from row 0 (class 0) as from row 1 (class 1): k = 1 takes row 0.
        let x = array![[0.0], [2.0], [5.0]];
        let m = fit_member(&knn(1, NeighborWeights::Uniform), x.view(), &[0, 1, 1], 2, 0).unwrap();
        assert_eq!(m.predict(array![[1.0]].view()), [0]);
        let swapped = fit_member(&knn(1, NeighborWeights::Uniform), x.view(), &[1, 0, 1], 2, 0).unwrap();
        assert_eq!(swapped.predict(array![[1.0]].view()), [1]);
    }

    #[test]
    fn bad_n_neighbors_is_refused_naming_the_member() {
        let (x, y) = line();
        for k in [0, 6] {
            let err = fit_member(&knn(k, NeighborWeights::Uniform), x.view(), &y, 2, 0).unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(err, EnsembleError::Fit { .. }) && msg.contains("knn") && msg.contains("n_neighbors"),
                "{msg}"
            );
        }
        let err = fit_member(&knn(6, NeighborWeights::Uniform), x.view(), &y, 2, 0).unwrap_err();
        assert!(err.to_string().contains("5 training rows"), "{err}");
    }

    #[test]
    fn iris_matches_scikit_learn_and_the_size_counts_the_rows() {
        let d = crate::compute::data::iris();
        let m = fit_member(&knn(5, NeighborWeights::Uniform), d.features.view(), &d.labels, 3, 0).unwrap();
        let right = m.predict(d.features.view()).iter().zip(&d.labels).filter(|(p, l)| p == l).count();
        // make_pipeline(StandardScaler(), KNeighborsClassifier()) fitted and scored on all of iris.
        assert_eq!(right, 143);
        assert_eq!(m.size_bits(8), 150 * 4 * 8 + 150 * 8 + 4 * 64);
        let again = fit_member(&knn(5, NeighborWeights::Uniform), d.features.view(), &d.labels, 3, 9).unwrap();
        assert_eq!(m.predict_proba(d.features.view()), again.predict_proba(d.features.view()));
    }
}
