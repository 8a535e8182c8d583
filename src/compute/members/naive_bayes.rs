//! The naive-bayes member, scikit-learn's `GaussianNB`: per class, each
//! feature's mean and (population) variance, every variance widened by
//! `var_smoothing` times the largest feature variance of the training rows;
//! the class prior is its share of the rows. A row's probabilities are the
//! normalised exp of log prior + the sum of its features' Gaussian log densities.

use std::any::Any;
use std::sync::Arc;

use ndarray::{Array2, ArrayView1, ArrayView2, Axis};
use rand_chacha::ChaCha8Rng;

use super::{DequantizedInference, FitResult, FittedModel, MemberPlugin, QuantizedInference, TrainingSet};
use crate::compute::ensemble::{MemberConfig, fit_error};

pub struct NaiveBayes;

impl MemberPlugin for NaiveBayes {
    fn name(&self) -> &'static str {
        "naive-bayes"
    }

    fn settings(&self) -> &'static [&'static str] {
        &["var_smoothing", "weight"]
    }

    fn fit(&self, cfg: &MemberConfig, data: &TrainingSet<'_>, _rng: &mut ChaCha8Rng) -> FitResult {
        if !(cfg.var_smoothing.is_finite() && cfg.var_smoothing >= 0.0) {
            return Err(fit_error(cfg.kind, format!("var_smoothing {} must be finite and >= 0", cfg.var_smoothing)));
        }
        Ok(Arc::new(Gaussian::fit(data, cfg.var_smoothing)))
    }
}

/// A fitted Gaussian naive Bayes: one row of `means` and `variances` per
/// class present in the training rows (`present[j]` is row `j`'s class).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Gaussian {
    pub(crate) present: Vec<usize>,
    pub(crate) log_prior: Vec<f64>,
    pub(crate) means: Array2<f64>,
    /// Smoothed variances, each at least the smallest positive f64 (a
    /// constant feature with `var_smoothing = 0` then rules out every other value, without a NaN).
    pub(crate) variances: Array2<f64>,
}

impl Gaussian {
    fn fit(data: &TrainingSet<'_>, var_smoothing: f64) -> Gaussian {
        let TrainingSet { x, y, classes } = *data;
        let features = x.ncols();
        // scikit-learn: epsilon = var_smoothing * np.var(X, axis=0).max().
        let epsilon = var_smoothing * x.var_axis(Axis(0), 0.0).iter().copied().fold(0.0, f64::max);
        let present: Vec<usize> = (0..classes).filter(|c| y.contains(c)).collect();
        let mut means = Array2::zeros((present.len(), features));
        let mut variances = Array2::zeros((present.len(), features));
        let mut log_prior = Vec::with_capacity(present.len());
        for (j, &class) in present.iter().enumerate() {
            let rows: Vec<usize> = (0..y.len()).filter(|&r| y[r] == class).collect();
            let xc = x.select(Axis(0), &rows);
            let mean = xc.mean_axis(Axis(0)).unwrap_or_else(|| ndarray::Array1::zeros(features));
            let var = xc.var_axis(Axis(0), 0.0).mapv(|v| (v + epsilon).max(f64::MIN_POSITIVE));
            means.row_mut(j).assign(&mean);
            variances.row_mut(j).assign(&var);
            log_prior.push((rows.len() as f64 / y.len() as f64).ln());
        }
        Gaussian { present, log_prior, means, variances }
    }

    /// Probabilities with the class means as given by `mean(j, c)` (x̂ of them under quantized inference).
    fn proba(&self, x: ArrayView2<f64>, classes: usize, mean: impl Fn(usize, usize) -> f64) -> Array2<f64> {
        let mut out = Array2::zeros((x.nrows(), classes));
        for (r, row) in x.rows().into_iter().enumerate() {
            let joint: Vec<f64> = (0..self.present.len()).map(|j| self.log_joint(row, j, &mean)).collect();
            for (j, p) in normalised_exp(&joint).into_iter().enumerate() {
                out[[r, self.present[j]]] = p;
            }
        }
        out
    }

    /// log P(class j) + sum over features of log N(x_c; mean, variance).
    fn log_joint(&self, row: ArrayView1<f64>, j: usize, mean: &impl Fn(usize, usize) -> f64) -> f64 {
        let var = self.variances.row(j);
        let mut sum = self.log_prior[j];
        for (c, &v) in row.iter().enumerate() {
            let d = v - mean(j, c);
            sum -= 0.5 * ((2.0 * std::f64::consts::PI * var[c]).ln() + d * d / var[c]);
        }
        sum
    }
}

/// exp(v - logsumexp(v)); equal shares when every value is -inf (no class can produce the row).
fn normalised_exp(v: &[f64]) -> Vec<f64> {
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return vec![1.0 / v.len() as f64; v.len()];
    }
    let e: Vec<f64> = v.iter().map(|&x| (x - max).exp()).collect();
    let total: f64 = e.iter().sum();
    e.into_iter().map(|x| x / total).collect()
}

impl FittedModel for Gaussian {
    fn predict_proba(&self, x: ArrayView2<f64>, classes: usize) -> Array2<f64> {
        self.proba(x, classes, |j, c| self.means[[j, c]])
    }

    /// Quantized features, and each class mean as a code of its feature's
    /// quantizer (it is a value on that feature's scale); variances stay f32.
    fn predict_proba_quantized(&self, x: ArrayView2<f64>, classes: usize, q: &QuantizedInference<'_>) -> Array2<f64> {
        let means = Array2::from_shape_fn(self.means.dim(), |(j, c)| q.dequantize_stored(c, self.means[[j, c]]));
        self.proba(q.dequantize_rows(x).view(), classes, |j, c| means[[j, c]])
    }

    /// x̂ of the features as given, and of each class mean on its feature's grid.
    fn predict_proba_dequantized(
        &self,
        x: ArrayView2<f64>,
        classes: usize,
        q: &DequantizedInference<'_>,
    ) -> Array2<f64> {
        let means = Array2::from_shape_fn(self.means.dim(), |(j, c)| (q.threshold)(c, self.means[[j, c]]));
        self.proba(x, classes, |j, c| means[[j, c]])
    }

    /// Class means at `value_bits` (codes of their features), variances and log priors as f32.
    fn size_bits(&self, value_bits: u32) -> u64 {
        let cells = self.means.len() as u64;
        cells * value_bits as u64 + cells * 32 + self.log_prior.len() as u64 * 32
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

    fn nb() -> MemberConfig {
        MemberConfig { kind: "naive-bayes".parse::<MemberKind>().unwrap(), ..MemberConfig::default() }
    }

    #[test]
    fn two_classes_by_hand() {
        // Class 0: x = 0, 2 (mean 1, variance 1); class 1: x = 4, 6, 8 (mean 6, variance 8/3).
        // var(x) over all rows = 8, so epsilon = 8e-9 (scikit-learn's epsilon_).
        let x = array![[0.0], [2.0], [4.0], [6.0], [8.0]];
        let y = [0, 0, 1, 1, 1];
        let m = fit_member(&nb(), x.view(), &y, 2, 0).unwrap();
        let g = m.model().as_any().downcast_ref::<Gaussian>().unwrap();
        assert_eq!(g.means, array![[1.0], [6.0]]);
        assert!((g.variances[[0, 0]] - (1.0 + 8e-9)).abs() < 1e-15);
        assert!((g.variances[[1, 0]] - (8.0 / 3.0 + 8e-9)).abs() < 1e-15);
        // At x = 3 (scikit-learn: 0.44335658 for class 0): log N(3; 1, 1) + ln 0.4 against log N(3; 6, 8/3) + ln 0.6.
        let ln_n =
            |x: f64, mu: f64, var: f64| -0.5 * ((2.0 * std::f64::consts::PI * var).ln() + (x - mu).powi(2) / var);
        let (a, b) = (ln_n(3.0, 1.0, 1.0 + 8e-9) + 0.4f64.ln(), ln_n(3.0, 6.0, 8.0 / 3.0 + 8e-9) + 0.6f64.ln());
        let p0 = 1.0 / (1.0 + (b - a).exp());
        let p = m.predict_proba(array![[3.0]].view());
        assert!((p[[0, 0]] - p0).abs() < 1e-12 && (p0 - 0.443_356_58).abs() < 1e-7, "{p} vs {p0}");
        assert!((p.sum() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn an_absent_class_gets_nothing_and_constant_features_give_no_nan() {
        let x = array![[1.0, 5.0], [1.0, 6.0], [3.0, 5.0], [3.0, 7.0]];
        let y = [0, 0, 2, 2];
        let cfg = MemberConfig { var_smoothing: 0.0, ..nb() };
        let m = fit_member(&cfg, x.view(), &y, 3, 0).unwrap();
        let p = m.predict_proba(array![[1.0, 5.5], [2.0, 9.0]].view());
        assert!(p.iter().all(|v| v.is_finite()));
        assert_eq!(p.column(1).to_vec(), [0.0, 0.0]);
        assert_eq!(p.row(0).to_vec(), [1.0, 0.0, 0.0]);
        // Neither class has 2.0 in feature 0 (variance 0): equal shares, not NaN.
        assert_eq!(p.row(1).to_vec(), [0.5, 0.0, 0.5]);
    }

    #[test]
    fn a_negative_var_smoothing_is_refused_naming_the_member() {
        let x = array![[0.0], [1.0]];
        let err = fit_member(&MemberConfig { var_smoothing: -1e-9, ..nb() }, x.view(), &[0, 1], 2, 0).unwrap_err();
        assert!(matches!(err, EnsembleError::Fit { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("naive-bayes") && msg.contains("var_smoothing"), "{msg}");
    }

    #[test]
    fn it_is_deterministic_and_its_size_counts_means_variances_and_priors() {
        let d = crate::compute::data::iris();
        let a = fit_member(&nb(), d.features.view(), &d.labels, 3, 1).unwrap();
        let b = fit_member(&nb(), d.features.view(), &d.labels, 3, 2).unwrap();
        assert_eq!(a.predict_proba(d.features.view()), b.predict_proba(d.features.view()));
        assert_eq!(a.size_bits(8), 12 * 8 + 12 * 32 + 3 * 32);
        let right = a.predict(d.features.view()).iter().zip(&d.labels).filter(|(p, l)| p == l).count();
        // scikit-learn's GaussianNB on all of iris gets 144 of 150 rows right.
        assert_eq!(right, 144);
    }
}
