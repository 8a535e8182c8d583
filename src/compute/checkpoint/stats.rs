//! A tensor's value distribution for the scan table: max|x|, σ, kurtosis
//! and the outlier share, over the finite values.
//!
//! Each pass keeps eight running sums (one per lane of eight consecutive
//! values) and adds the lanes in a fixed order, so the loop vectorizes and
//! the result is the same on any machine and any number of threads (the
//! tensor is cut into the analysis' tasks, merged in task order).

use serde::Serialize;

use crate::compute::analysis::weight_tasks;
use crate::compute::parallel::{run_tasks, threads_for};

/// A value is an outlier beyond this many standard deviations of the mean.
pub const OUTLIER_SIGMAS: f64 = 6.0;

/// The value distribution, over the finite values (population moments).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub max_abs: f64,
    pub std: f64,
    /// Excess kurtosis, m4/m2² − 3: 0 for a normal distribution.
    pub kurtosis: f64,
    /// The fraction of values with |x − mean| > 6σ.
    pub outlier_ratio: f64,
    /// NaN and ±Inf values: left out of every figure, as the analysis does.
    pub non_finite: usize,
}

const LANES: usize = 8;

#[derive(Default, Clone, Copy)]
struct Moments {
    n: usize,
    sum: f64,
    sum_sq: f64,
    max_abs: f64,
}

/// The statistics of the finite values and their Σx², in three passes.
pub fn tensor_stats(values: &[f32]) -> (Stats, f64) {
    let m = chunked(values, moments).into_iter().fold(Moments::default(), |a, b| Moments {
        n: a.n + b.n,
        sum: a.sum + b.sum,
        sum_sq: a.sum_sq + b.sum_sq,
        max_abs: a.max_abs.max(b.max_abs),
    });
    let mean = if m.n > 0 { m.sum / m.n as f64 } else { 0.0 };
    let (m2, m4) = chunked(values, |xs| central(xs, mean)).into_iter().fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    let n = m.n.max(1) as f64;
    let (var, m4) = (m2 / n, m4 / n);
    let std = var.sqrt();
    let limit = OUTLIER_SIGMAS * std;
    let outliers: usize = chunked(values, |xs| beyond(xs, mean, limit)).into_iter().sum();
    let kurtosis = if var > 0.0 { m4 / (var * var) - 3.0 } else { 0.0 };
    let non_finite = values.len() - m.n;
    let stats = Stats { max_abs: m.max_abs, std, kurtosis, outlier_ratio: outliers as f64 / n, non_finite };
    (stats, m.sum_sq)
}

fn chunked<R: Send>(values: &[f32], f: impl Fn(&[f32]) -> R + Sync) -> Vec<R> {
    let tasks = weight_tasks(values.len());
    run_tasks(&tasks, threads_for(values.len()), || (), |_, span| f(&values[span.clone()])).0
}

/// Compiles `$body` (a call of an `#[inline(always)]` lane loop) for AVX2
/// when the CPU has it, else as it is.
macro_rules! with_avx2 {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            if crate::compute::has_avx2() {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) -> $ret $body
                // SAFETY: the CPU has AVX2.
                return unsafe { avx2($($arg),*) };
            }
            $body
        }
    };
}

/// Each lane's finite values as f64 (0 where not finite) and whether each was finite.
#[inline(always)]
fn lanes(c: &[f32]) -> ([f64; LANES], [bool; LANES]) {
    let mut v = [0.0; LANES];
    let mut ok = [false; LANES];
    for l in 0..c.len() {
        ok[l] = c[l].is_finite();
        v[l] = if ok[l] { f64::from(c[l]) } else { 0.0 };
    }
    (v, ok)
}

with_avx2! {
    fn moments(xs: &[f32]) -> Moments {
        let (mut n, mut sum, mut sq, mut max) = ([0usize; LANES], [0.0; LANES], [0.0; LANES], [0.0f64; LANES]);
        for c in xs.chunks(LANES) {
            let (v, ok) = lanes(c);
            for l in 0..LANES {
                n[l] += usize::from(ok[l]);
                sum[l] += v[l];
                sq[l] += v[l] * v[l];
                max[l] = max[l].max(v[l].abs());
            }
        }
        Moments { n: n.iter().sum(), sum: sum.iter().sum(), sum_sq: sq.iter().sum(), max_abs: max.iter().fold(0.0, |a, &b| a.max(b)) }
    }
}

with_avx2! {
    /// Σ(x − mean)² and Σ(x − mean)⁴.
    fn central(xs: &[f32], mean: f64) -> (f64, f64) {
        let (mut m2, mut m4) = ([0.0; LANES], [0.0; LANES]);
        for c in xs.chunks(LANES) {
            let (v, ok) = lanes(c);
            for l in 0..LANES {
                let d2 = if ok[l] { (v[l] - mean) * (v[l] - mean) } else { 0.0 };
                m2[l] += d2;
                m4[l] += d2 * d2;
            }
        }
        (m2.iter().sum(), m4.iter().sum())
    }
}

with_avx2! {
    /// How many finite values lie beyond `limit` of the mean.
    fn beyond(xs: &[f32], mean: f64, limit: f64) -> usize {
        let mut count = [0usize; LANES];
        for c in xs.chunks(LANES) {
            let (v, ok) = lanes(c);
            for l in 0..LANES {
                count[l] += usize::from(ok[l] && (v[l] - mean).abs() > limit);
            }
        }
        count.iter().sum()
    }
}
