//! The `mlp` fusion's meta-learner: a one-hidden-layer perceptron (the
//! seed document's 多层感知器) on the members' probabilities side by side,
//! shaped like scikit-learn's `MLPClassifier(hidden_layer_sizes=(h,))`:
//! ReLU, softmax output, cross-entropy with L2 `alpha` (scaled by 1/(2n)),
//! Glorot-uniform initialisation. Training is full-batch Adam (no
//! minibatches) for at most [`MLP_STEPS`] steps, stopped as scikit-learn
//! stops it: once the training loss has not fallen by [`MLP_TOL`] for more
//! than [`MLP_NO_CHANGE`] steps in a row. Nothing depends on the thread
//! count, so a seed gives the same bits on any machine.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// scikit-learn's default L2 penalty.
pub const MLP_ALPHA: f64 = 1e-4;
/// Most full-batch Adam steps.
pub const MLP_STEPS: usize = 300;
/// scikit-learn's `tol` and `n_iter_no_change`: the early stop on the training loss.
pub const MLP_TOL: f64 = 1e-4;
pub const MLP_NO_CHANGE: usize = 10;
/// Adam's step size: ten times scikit-learn's 1e-3, which is meant for minibatches.
pub const MLP_LEARNING_RATE: f64 = 1e-2;
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const ADAM_EPS: f64 = 1e-8;

/// A fitted perceptron: `softmax(relu(x W1 + b1) W2 + b2)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    pub w1: Array2<f64>,
    pub b1: Array1<f64>,
    pub w2: Array2<f64>,
    pub b2: Array1<f64>,
    /// The Adam steps training took (at most [`MLP_STEPS`]).
    pub steps: usize,
}

/// The parameters as one list of tables, for Adam's loop (and the gradient check).
pub(super) fn params_mut(m: &mut Mlp) -> [&mut [f64]; 4] {
    [
        m.w1.as_slice_mut().expect("standard layout"),
        m.b1.as_slice_mut().expect("standard layout"),
        m.w2.as_slice_mut().expect("standard layout"),
        m.b2.as_slice_mut().expect("standard layout"),
    ]
}

impl Mlp {
    /// Trains on `x` (rows x inputs, `blocks` blocks of `classes` columns:
    /// one per member) and labels `y` (< `classes`) with `hidden` units.
    ///
    /// The initial weights do not depend on which class is which: a member's
    /// block shares one draw per hidden unit across its class columns, and
    /// every class starts with the same output weights. Renaming the classes
    /// then permutes the trained network's columns and nothing else (up to
    /// the order of floating-point sums), so the fused labels do not depend
    /// on how the classes are named; the data break the classes' symmetry.
    pub fn fit(x: ArrayView2<f64>, y: &[usize], classes: usize, hidden: usize, seed: u64) -> Mlp {
        let inputs = x.ncols();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut glorot = |draws: usize, fan: (usize, usize)| {
            let bound = (6.0 / (fan.0 + fan.1) as f64).sqrt();
            (0..draws).map(|_| rng.gen_range(-bound..bound)).collect::<Vec<f64>>()
        };
        let blocks = inputs.div_ceil(classes.max(1));
        let first = glorot(blocks * hidden, (inputs, hidden));
        let w1 = Array2::from_shape_fn((inputs, hidden), |(i, h)| first[(i / classes.max(1)) * hidden + h]);
        let b1 = Array1::from(glorot(hidden, (inputs, hidden)));
        let second = glorot(hidden, (hidden, classes));
        let w2 = Array2::from_shape_fn((hidden, classes), |(h, _)| second[h]);
        let b2 = Array1::zeros(classes);
        let mut model = Mlp { w1, b1, w2, b2, steps: 0 };
        let sizes: Vec<usize> = params_mut(&mut model).iter().map(|p| p.len()).collect();
        let mut m: Vec<Vec<f64>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
        let mut v = m.clone();
        let (mut best_loss, mut no_change) = (f64::INFINITY, 0);
        for step in 1..=MLP_STEPS {
            let (loss, grads) = model.loss_and_gradients(x, y, classes);
            // scikit-learn's `_update_no_improvement_count`, on the loss before this step.
            no_change = if loss > best_loss - MLP_TOL { no_change + 1 } else { 0 };
            best_loss = best_loss.min(loss);
            if no_change > MLP_NO_CHANGE {
                break;
            }
            model.steps = step;
            let (c1, c2) = (1.0 - BETA1.powi(step as i32), 1.0 - BETA2.powi(step as i32));
            for (((p, g), m), v) in params_mut(&mut model).into_iter().zip(&grads).zip(&mut m).zip(&mut v) {
                for i in 0..p.len() {
                    m[i] = BETA1 * m[i] + (1.0 - BETA1) * g[i];
                    v[i] = BETA2 * v[i] + (1.0 - BETA2) * g[i] * g[i];
                    p[i] -= MLP_LEARNING_RATE * (m[i] / c1) / ((v[i] / c2).sqrt() + ADAM_EPS);
                }
            }
        }
        model
    }

    fn hidden(&self, x: ArrayView2<f64>) -> Array2<f64> {
        (x.dot(&self.w1) + &self.b1).mapv(|a| a.max(0.0))
    }

    /// Class probabilities, rows x classes.
    pub fn predict_proba(&self, x: ArrayView2<f64>) -> Array2<f64> {
        self.output(&self.hidden(x))
    }

    /// softmax(h W2 + b2) of the hidden layer's activations `h`.
    fn output(&self, h: &Array2<f64>) -> Array2<f64> {
        let mut out = h.dot(&self.w2) + &self.b2;
        out.rows_mut().into_iter().for_each(|mut row| softmax_in_place(row.as_slice_mut().expect("standard layout")));
        out
    }

    /// Gradients of the mean cross-entropy plus `alpha / (2 n) * |W|^2`, in `params` order.
    #[cfg(test)]
    pub(super) fn gradients(&self, x: ArrayView2<f64>, y: &[usize], classes: usize) -> [Vec<f64>; 4] {
        self.loss_and_gradients(x, y, classes).1
    }

    /// That loss and its gradients, from one forward pass.
    fn loss_and_gradients(&self, x: ArrayView2<f64>, y: &[usize], classes: usize) -> (f64, [Vec<f64>; 4]) {
        let n = x.nrows().max(1) as f64;
        let h = self.hidden(x);
        let mut delta = self.output(&h);
        let mut loss = 0.0;
        for (r, &t) in y.iter().enumerate() {
            if t < classes {
                loss -= delta[[r, t]].max(f64::MIN_POSITIVE).ln();
                delta[[r, t]] -= 1.0;
            }
        }
        let squares: f64 = self.w1.iter().chain(&self.w2).map(|w| w * w).sum();
        let loss = loss / n + MLP_ALPHA / (2.0 * n) * squares;
        delta /= n;
        let gw2 = h.t().dot(&delta) + &self.w2 * (MLP_ALPHA / n);
        let gb2 = delta.sum_axis(Axis(0));
        let mut dh = delta.dot(&self.w2.t());
        dh.zip_mut_with(&h, |d, &a| {
            if a <= 0.0 {
                *d = 0.0
            }
        });
        let gw1 = x.t().dot(&dh) + &self.w1 * (MLP_ALPHA / n);
        let gb1 = dh.sum_axis(Axis(0));
        // Logical (row-major) order, the order of `params`' slices.
        let flat = |a: ndarray::ArrayViewD<f64>| a.iter().copied().collect::<Vec<f64>>();
        let grads = [
            flat(gw1.view().into_dyn()),
            flat(gb1.view().into_dyn()),
            flat(gw2.view().into_dyn()),
            flat(gb2.view().into_dyn()),
        ];
        (loss, grads)
    }

    /// How many parameters it stores.
    pub fn parameters(&self) -> usize {
        self.w1.len() + self.b1.len() + self.w2.len() + self.b2.len()
    }
}

fn softmax_in_place(row: &mut [f64]) {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    row.iter_mut().for_each(|v| *v /= sum);
}
