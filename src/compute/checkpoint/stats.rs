//! A tensor's value distribution for the scan table: max|x|, σ, max|x|/σ,
//! kurtosis, the outlier share and the spread of per-channel ranges, over
//! the finite values.
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
    /// max|x| / σ: how far the peak stands out (null when σ = 0).
    pub peak_to_sigma: Option<f64>,
    /// The widest channel's range over the median channel's: max over rows
    /// of (max − min) / median over rows of (max − min), rows with a finite
    /// value only. 1 when every channel spans the same; large when a few
    /// channels would set a per-tensor scale. Null when the median range is 0.
    pub channel_range_spread: Option<f64>,
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

/// The statistics of the finite values of a row-major tensor whose rows
/// (channels) are `cols` long, and their Σx², in four passes.
pub fn tensor_stats(values: &[f32], cols: usize) -> (Stats, f64) {
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
    let stats = Stats {
        max_abs: m.max_abs,
        std,
        kurtosis,
        outlier_ratio: outliers as f64 / n,
        peak_to_sigma: (std > 0.0).then(|| m.max_abs / std),
        channel_range_spread: range_spread(&row_ranges(values, cols)),
        non_finite,
    };
    (stats, m.sum_sq)
}

/// Each row's max − min over its finite values; rows without one are left out.
fn row_ranges(values: &[f32], cols: usize) -> Vec<f64> {
    let cols = cols.max(1);
    // Whole rows per task, about a task's worth of values each.
    let rows_per_task = (ROWS_TASK_VALUES / cols).max(1);
    let tasks: Vec<&[f32]> = values.chunks(rows_per_task * cols).collect();
    let per_task = run_tasks(
        &tasks,
        threads_for(values.len()),
        || (),
        |_, block| block.chunks(cols).filter_map(finite_range).collect::<Vec<f64>>(),
    );
    per_task.0.concat()
}

const ROWS_TASK_VALUES: usize = 1 << 16;

/// max − min of the finite values, None when there is none: eight lanes
/// of branch-free selects, which vectorize (a row is often thousands of
/// values, and every value of a checkpoint goes through here).
fn finite_range(row: &[f32]) -> Option<f64> {
    const L: usize = 8;
    let (mut lo, mut hi) = ([f32::INFINITY; L], [f32::NEG_INFINITY; L]);
    let chunks = row.chunks_exact(L);
    let rest = chunks.remainder();
    for c in chunks {
        for l in 0..L {
            let (x, finite) = (c[l], c[l].abs() < f32::INFINITY);
            lo[l] = if finite && x < lo[l] { x } else { lo[l] };
            hi[l] = if finite && x > hi[l] { x } else { hi[l] };
        }
    }
    let finite = rest.iter().copied().filter(|x| x.is_finite());
    let lo = finite.clone().chain(lo).fold(f32::INFINITY, f32::min);
    let hi = finite.chain(hi).fold(f32::NEG_INFINITY, f32::max);
    (lo <= hi).then(|| f64::from(hi) - f64::from(lo))
}

/// The largest range over the median one (the mean of the middle two for an even count).
fn range_spread(ranges: &[f64]) -> Option<f64> {
    let mut sorted = ranges.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = match n {
        0 => return None,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    };
    (median > 0.0).then(|| sorted[n - 1] / median)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_to_sigma_is_max_abs_over_std() {
        // Mean 0, σ = √(Σx²/n) = √(20/4) = √5, max|x| = 3.
        let (st, _) = tensor_stats(&[1.0, -1.0, 3.0, -3.0], 2);
        assert!((st.peak_to_sigma.unwrap() - 3.0 / 5f64.sqrt()).abs() < 1e-12, "{st:?}");
        let (flat, _) = tensor_stats(&[2.0, 2.0, 2.0], 3);
        assert_eq!(flat.peak_to_sigma, None, "σ = 0: no ratio");
    }

    #[test]
    fn range_spread_is_the_widest_row_over_the_median_row() {
        // Row ranges 1, 2, 8: the widest over the median is 8 / 2.
        let v = [0.0, 1.0, -1.0, 1.0, -4.0, 4.0];
        assert_eq!(tensor_stats(&v, 2).0.channel_range_spread, Some(4.0));
        // Four rows, ranges 1, 2, 3, 10: the median is (2 + 3) / 2.
        let v = [0.0, 1.0, 0.0, 2.0, 0.0, 3.0, -5.0, 5.0];
        assert_eq!(tensor_stats(&v, 2).0.channel_range_spread, Some(4.0));
        // NaN is left out; a row with no finite value does not count.
        let v = [f32::NAN, f32::NAN, 0.0, 2.0, f32::NAN, 1.0, 0.0, 2.0];
        assert_eq!(tensor_stats(&v, 2).0.channel_range_spread, Some(1.0));
        // Every row constant: the median range is 0, no spread.
        assert_eq!(tensor_stats(&[1.0, 1.0, 2.0, 2.0], 2).0.channel_range_spread, None);
        // One row: the tensor's own range over itself.
        assert_eq!(tensor_stats(&[1.0, 5.0, 3.0], 3).0.channel_range_spread, Some(1.0));
    }

    proptest::proptest! {
        /// The lanes give the plain fold's range, NaN and ±inf left out.
        #[test]
        fn finite_range_is_the_plain_fold(picks in proptest::collection::vec(0usize..8, 0..40)) {
            const VALUES: [f32; 8] = [0.0, -0.0, 1.5, -2.25, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 7.0];
            let row: Vec<f32> = picks.iter().map(|&i| VALUES[i]).collect();
            let finite: Vec<f32> = row.iter().copied().filter(|x| x.is_finite()).collect();
            let plain = (!finite.is_empty()).then(|| {
                let lo = finite.iter().copied().fold(f32::INFINITY, f32::min);
                let hi = finite.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                f64::from(hi) - f64::from(lo)
            });
            proptest::prop_assert_eq!(finite_range(&row), plain);
        }
    }

    #[test]
    fn range_spread_is_the_same_on_any_split_into_tasks() {
        // More rows than one task holds: the blocks' ranges are joined in order.
        let cols = 3;
        let rows = ROWS_TASK_VALUES / cols * 2 + 5;
        let v: Vec<f32> =
            (0..rows * cols).map(|i| ((i * 7919) % 1013) as f32 * if i % 3001 == 0 { 9.0 } else { 1.0 }).collect();
        let by_hand: Vec<f64> = v.chunks(cols).filter_map(finite_range).collect();
        assert_eq!(row_ranges(&v, cols), by_hand);
        assert_eq!(tensor_stats(&v, cols).0.channel_range_spread, range_spread(&by_hand));
    }
}
