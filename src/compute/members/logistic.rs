//! Softmax regression on standardized features: the logistic member (and
//! the stacking meta-learner, on unscaled member probabilities).

use std::any::Any;
use std::sync::Arc;

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand_chacha::ChaCha8Rng;

use super::{
    DequantizedInference, FitResult, FittedModel, MemberPlugin, QuantizedInference, TrainingSet, WeightsThrough,
};
use crate::compute::ensemble::{MemberConfig, fit_error};
use crate::compute::softmax::{self, SoftmaxError, SoftmaxFit};

/// A softmax regression ([`softmax::fit`]), optionally on standardized
/// features, with its output columns mapped onto all `classes` (a class absent
/// from the training rows gets probability 0).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Softmax {
    pub(crate) fit: SoftmaxFit,
    classes: usize,
    /// The classes in the training rows: output column `j` is class `present[j]`.
    present: Vec<usize>,
    /// (mean, scale) of every column when the inputs are standardized.
    standardize: Option<(Array1<f64>, Array1<f64>)>,
}

impl Softmax {
    /// scikit-learn's `LogisticRegression(C=c, max_iter=max_iterations)`,
    /// after its `StandardScaler` when `standardize` (population std; a
    /// constant column is left unscaled).
    pub(crate) fn fit(
        data: &TrainingSet<'_>,
        standardize: bool,
        c: f64,
        max_iterations: u64,
    ) -> Result<Softmax, SoftmaxError> {
        let TrainingSet { x, y, classes } = *data;
        let mut present: Vec<usize> = y.to_vec();
        present.sort_unstable();
        present.dedup();
        if present.len() < 2 {
            return Err(SoftmaxError::TooFewClasses(present.len()));
        }
        let standardize = standardize.then(|| {
            let mean = x.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(x.ncols()));
            let scale = x.std_axis(Axis(0), 0.0).mapv(|s| if s > 1e-12 { s } else { 1.0 });
            (mean, scale)
        });
        let inputs = match &standardize {
            Some((mean, scale)) => (&x - mean) / scale,
            None => x.to_owned(),
        };
        let dense: Vec<usize> = y.iter().map(|l| present.binary_search(l).unwrap_or_default()).collect();
        let fit = softmax::fit(inputs.view(), &dense, present.len(), c, max_iterations)?;
        Ok(Softmax { fit, classes, present, standardize })
    }

    fn inputs(&self, x: ArrayView2<f64>) -> Array2<f64> {
        match &self.standardize {
            Some((mean, scale)) => (&x - mean) / scale,
            None => x.to_owned(),
        }
    }

    pub(crate) fn predict_proba(&self, x: ArrayView2<f64>) -> Array2<f64> {
        self.by_class(self.fit.predict_proba(self.inputs(x).view()))
    }

    /// softmax(x W + b) with W replaced by `weights(W)`.
    pub(crate) fn predict_proba_with(&self, x: ArrayView2<f64>, weights: WeightsThrough<'_>) -> Array2<f64> {
        self.by_class(self.fit.predict_proba_with(self.inputs(x).view(), &weights(&self.fit.weights)))
    }

    /// Puts the fitted class columns where our class indices say.
    fn by_class(&self, p: Array2<f64>) -> Array2<f64> {
        let mut out = Array2::zeros((p.nrows(), self.classes));
        for (j, &class) in self.present.iter().enumerate() {
            out.column_mut(class).assign(&p.column(j));
        }
        out
    }
}

/// The logistic member: scikit-learn's `LogisticRegression` after its `StandardScaler`.
pub struct Logistic;

impl MemberPlugin for Logistic {
    fn name(&self) -> &'static str {
        "logistic"
    }

    fn settings(&self) -> &'static [&'static str] {
        &["c", "max_iter", "weight"]
    }

    fn fit(&self, cfg: &MemberConfig, data: &TrainingSet<'_>, _rng: &mut ChaCha8Rng) -> FitResult {
        let model = Softmax::fit(data, true, cfg.c, cfg.max_iter).map_err(|m| fit_error(cfg.kind, m.to_string()))?;
        Ok(Arc::new(model))
    }
}

impl FittedModel for Softmax {
    fn predict_proba(&self, x: ArrayView2<f64>, _classes: usize) -> Array2<f64> {
        Softmax::predict_proba(self, x)
    }

    /// Dequantized features, and weights passed through `q.weights`.
    fn predict_proba_quantized(&self, x: ArrayView2<f64>, _classes: usize, q: &QuantizedInference<'_>) -> Array2<f64> {
        self.predict_proba_with(q.dequantize_rows(x).view(), q.weights)
    }

    /// x̂ of the features as given, and weights passed through `q.weights`.
    fn predict_proba_dequantized(
        &self,
        x: ArrayView2<f64>,
        _classes: usize,
        q: &DequantizedInference<'_>,
    ) -> Array2<f64> {
        self.predict_proba_with(x, q.weights)
    }

    /// Its weights and 32-bit intercepts.
    fn size_bits(&self, value_bits: u32) -> u64 {
        let (features, classes) = self.fit.weights.dim();
        (features * classes) as u64 * value_bits as u64 + classes as u64 * 32
    }

    fn converged(&self) -> bool {
        self.fit.converged
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
