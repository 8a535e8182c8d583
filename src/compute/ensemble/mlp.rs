//! The `mlp` fusion's meta-learner: a one-hidden-layer perceptron (the
//! seed document's 多层感知器) on the members' probabilities side by side,
//! shaped like scikit-learn's `MLPClassifier(hidden_layer_sizes=(h,))`:
//! ReLU, softmax output, cross-entropy with L2 `alpha` (scaled by 1/(2n)),
//! Glorot-uniform initialisation. Training is full-batch Adam (no
//! minibatches) for at most [`MLP_STEPS`] steps, stopped as scikit-learn
//! stops it: once the training loss has not fallen by [`MLP_TOL`] for more
//! than [`MLP_NO_CHANGE`] steps in a row. Nothing depends on the thread
//! count, so a seed gives the same bits on any number of threads (the
//! matrix products go through matrixmultiply, whose kernel (FMA, AVX or
//! SSE2) is chosen for the CPU at run time, so two CPUs may differ in the
//! last bits).

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::compute::watch::{Cancelled, Watch};

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
    pub fn fit(x: ArrayView2<f64>, y: &[usize], classes: usize, hidden: usize, seed: u64) -> Mlp {
        Mlp::fit_watched(x, y, classes, hidden, seed, &Watch::NONE).expect("Watch::NONE never stops")
    }

    /// [`Mlp::fit`], checking `watch` before every Adam step, so a newer
    /// job stops it within one step.
    ///
    /// The initial weights do not depend on which class is which: a member's
    /// block shares one draw per hidden unit across its class columns, and
    /// every class starts with the same output weights. Renaming the classes
    /// then permutes the trained network's columns and nothing else (up to
    /// the order of floating-point sums), so the fused labels do not depend
    /// on how the classes are named; the data break the classes' symmetry.
    pub fn fit_watched(
        x: ArrayView2<f64>,
        y: &[usize],
        classes: usize,
        hidden: usize,
        seed: u64,
        watch: &Watch,
    ) -> Result<Mlp, Cancelled> {
        let mut model = Mlp::initial(x.ncols(), classes, hidden, seed);
        let mut pass = Pass::new(x.nrows(), &model);
        let mut m: Vec<Vec<f64>> = pass.grads.iter().map(|g| vec![0.0; g.len()]).collect();
        let mut v = m.clone();
        let (mut best_loss, mut no_change) = (f64::INFINITY, 0);
        for step in 1..=MLP_STEPS {
            watch.check()?;
            let loss = model.loss_and_gradients_into(x, y, classes, &mut pass);
            // scikit-learn's `_update_no_improvement_count`, on the loss before this step.
            no_change = if loss > best_loss - MLP_TOL { no_change + 1 } else { 0 };
            best_loss = best_loss.min(loss);
            if no_change > MLP_NO_CHANGE {
                break;
            }
            model.steps = step;
            let (c1, c2) = (1.0 - BETA1.powi(step as i32), 1.0 - BETA2.powi(step as i32));
            for (((p, g), m), v) in params_mut(&mut model).into_iter().zip(&pass.grads).zip(&mut m).zip(&mut v) {
                adam_step(p, g, m, v, (c1, c2));
            }
        }
        Ok(model)
    }

    /// Glorot-uniform weights shared across each member's class columns and
    /// across the output classes (see [`Mlp::fit_watched`]), zero output biases.
    fn initial(inputs: usize, classes: usize, hidden: usize, seed: u64) -> Mlp {
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
        Mlp { w1, b1, w2, b2, steps: 0 }
    }

    /// `relu(x W1 + b1)` into `h` (rows x hidden).
    fn hidden_into(&self, x: ArrayView2<f64>, h: &mut Array2<f64>) {
        general_mat_mul(1.0, &x, &self.w1, 0.0, h);
        for mut row in h.rows_mut() {
            row.zip_mut_with(&self.b1, |a, &b| *a = (*a + b).max(0.0));
        }
    }

    /// Class probabilities, rows x classes.
    pub fn predict_proba(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let mut h = Array2::zeros((x.nrows(), self.w1.ncols()));
        self.hidden_into(x, &mut h);
        let mut out = Array2::zeros((x.nrows(), self.w2.ncols()));
        self.output_into(&h, &mut out);
        out
    }

    /// softmax(h W2 + b2) of the hidden layer's activations `h`, into `out`.
    fn output_into(&self, h: &Array2<f64>, out: &mut Array2<f64>) {
        general_mat_mul(1.0, h, &self.w2, 0.0, out);
        for mut row in out.rows_mut() {
            row.zip_mut_with(&self.b2, |a, &b| *a += b);
            softmax_in_place(row.as_slice_mut().expect("standard layout"));
        }
    }

    /// Gradients of the mean cross-entropy plus `alpha / (2 n) * |W|^2`, in `params` order.
    #[cfg(test)]
    pub(super) fn gradients(&self, x: ArrayView2<f64>, y: &[usize], classes: usize) -> [Vec<f64>; 4] {
        let mut pass = Pass::new(x.nrows(), self);
        self.loss_and_gradients_into(x, y, classes, &mut pass);
        pass.grads.map(|g| g.to_vec())
    }

    /// That loss, with its gradients in `pass.grads`, from one forward pass.
    /// The same operations in the same order as ndarray's `dot` and
    /// `sum_axis` would do them, into buffers kept from step to step.
    fn loss_and_gradients_into(&self, x: ArrayView2<f64>, y: &[usize], classes: usize, pass: &mut Pass) -> f64 {
        let n = x.nrows().max(1) as f64;
        let Pass { h, delta, dh, grads: [gw1, gb1, gw2, gb2] } = pass;
        self.hidden_into(x, h);
        self.output_into(h, delta);
        let mut loss = 0.0;
        for (r, &t) in y.iter().enumerate() {
            if t < classes {
                loss -= delta[[r, t]].max(f64::MIN_POSITIVE).ln();
                delta[[r, t]] -= 1.0;
            }
        }
        let squares: f64 = self.w1.iter().chain(&self.w2).map(|w| w * w).sum();
        let loss = loss / n + MLP_ALPHA / (2.0 * n) * squares;
        *delta /= n;
        let decay = MLP_ALPHA / n;
        weight_gradient(h.view(), delta, &self.w2, decay, gw2);
        column_sums(delta, gb2);
        general_mat_mul(1.0, delta, &self.w2.t(), 0.0, dh);
        dh.zip_mut_with(h, |d, &a| {
            if a <= 0.0 {
                *d = 0.0
            }
        });
        weight_gradient(x, dh, &self.w1, decay, gw1);
        column_sums(dh, gb1);
        loss
    }

    /// How many parameters it stores.
    pub fn parameters(&self) -> usize {
        self.w1.len() + self.b1.len() + self.w2.len() + self.b2.len()
    }
}

/// What one forward and backward pass writes, kept from step to step:
/// fresh pages for these tables cost more than the arithmetic on them.
struct Pass {
    /// The hidden layer's activations, rows x hidden.
    h: Array2<f64>,
    /// The output probabilities, then the loss's gradient in the logits.
    delta: Array2<f64>,
    /// The loss's gradient in the hidden activations.
    dh: Array2<f64>,
    /// The gradients, in `params_mut` order (W1, b1, W2, b2; row-major).
    grads: [Array1<f64>; 4],
}

impl Pass {
    fn new(rows: usize, m: &Mlp) -> Pass {
        let (hidden, classes) = (m.w1.ncols(), m.w2.ncols());
        Pass {
            h: Array2::zeros((rows, hidden)),
            delta: Array2::zeros((rows, classes)),
            dh: Array2::zeros((rows, hidden)),
            grads: [m.w1.len(), m.b1.len(), m.w2.len(), m.b2.len()].map(Array1::zeros),
        }
    }
}

/// `input^T grad + w * decay` into `out` (w's shape, flattened row-major).
fn weight_gradient(input: ArrayView2<f64>, grad: &Array2<f64>, w: &Array2<f64>, decay: f64, out: &mut Array1<f64>) {
    let mut g = out.view_mut().into_shape_with_order(w.dim()).expect("one gradient per weight");
    general_mat_mul(1.0, &input.t(), grad, 0.0, &mut g);
    g.zip_mut_with(w, |g, &w| *g += w * decay);
}

/// Each column's sum, row after row from 0 (as `sum_axis(Axis(0))` adds them).
fn column_sums(a: &Array2<f64>, out: &mut Array1<f64>) {
    out.fill(0.0);
    for row in a.rows() {
        *out += &row;
    }
}

/// One Adam update of the parameters `p` with gradients `g`, moments `m`
/// and `v`, and the bias corrections `c`.
fn adam_step(p: &mut [f64], g: &Array1<f64>, m: &mut [f64], v: &mut [f64], c: (f64, f64)) {
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
        *m = BETA1 * *m + (1.0 - BETA1) * g;
        *v = BETA2 * *v + (1.0 - BETA2) * g * g;
        *p -= MLP_LEARNING_RATE * (*m / c.0) / ((*v / c.1).sqrt() + ADAM_EPS);
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
