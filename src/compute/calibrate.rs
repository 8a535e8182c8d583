//! Calibration: how the clip range `[lo, hi]` is chosen from the data.
//!
//! Every function takes only finite values; the caller filters NaN and Inf.

use super::kernel;
use super::quant::{Calibration, QParams, QuantConfig, Rounding, Scheme, bit_params};

/// What a calibration needs to know of the quantizer it calibrates for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    pub scheme: Scheme,
    pub bits: u32,
    pub rounding: Rounding,
    pub percentile: f64,
    pub sigma_k: f64,
}

impl Target {
    /// Manual mode has no calibration of its own; the alternatives shown
    /// beside it are those of an asymmetric quantizer with as many levels.
    pub fn of(cfg: &QuantConfig, manual_bits: u32) -> Target {
        let (scheme, bits) = match cfg.scheme {
            Scheme::Manual => (Scheme::Asymmetric, manual_bits.clamp(2, 16)),
            s => (s, cfg.bits),
        };
        // Searches need a deterministic rounding: stochastic rounds to nearest on average.
        let rounding = match cfg.rounding {
            Rounding::Stochastic => Rounding::HalfEven,
            r => r,
        };
        Target { scheme, bits, rounding, percentile: cfg.percentile, sigma_k: cfg.sigma_k }
    }

    fn params(&self, lo: f32, hi: f32) -> QParams {
        bit_params(self.scheme, self.bits, lo, hi)
    }
}

/// The clip range a method picks for these (finite, non-empty) values.
/// `scratch` is reused between channels to avoid an allocation per channel.
pub fn calibrate(values: &[f32], method: Calibration, t: &Target, scratch: &mut Vec<f32>) -> (f32, f32) {
    debug_assert!(!values.is_empty());
    match method {
        Calibration::MinMax => min_max(values),
        Calibration::Percentile => percentile_range(values, t, scratch),
        Calibration::Sigma => sigma_range(values, t.sigma_k),
        Calibration::Mse => mse_range(values, t),
        Calibration::Entropy => entropy_range(values, t),
    }
}

/// The smallest and largest finite value; NaN and Inf are skipped.
pub fn min_max(values: &[f32]) -> (f32, f32) {
    #[cfg(target_arch = "x86_64")]
    if super::has_avx2() {
        #[target_feature(enable = "avx2")]
        fn avx2(values: &[f32]) -> (f32, f32) {
            min_max_lanes(values)
        }
        // SAFETY: the CPU has AVX2.
        return unsafe { avx2(values) };
    }
    min_max_lanes(values)
}

#[inline(always)]
fn min_max_lanes(values: &[f32]) -> (f32, f32) {
    // Eight lanes keep the loop free of a serial dependency, so it vectorizes.
    let mut lo = [f32::INFINITY; 8];
    let mut hi = [f32::NEG_INFINITY; 8];
    let chunks = values.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..8 {
            let x = if c[l].is_finite() { c[l] } else { lo[l] };
            lo[l] = if x < lo[l] { x } else { lo[l] };
            let x = if c[l].is_finite() { c[l] } else { hi[l] };
            hi[l] = if x > hi[l] { x } else { hi[l] };
        }
    }
    let finite = tail.iter().copied().filter(|x| x.is_finite());
    let lo = lo.into_iter().chain(finite.clone()).fold(f32::INFINITY, f32::min);
    let hi = hi.into_iter().chain(finite).fold(f32::NEG_INFINITY, f32::max);
    (lo, hi)
}

/// numpy's default (linear interpolation) percentile of `values`, `q` in [0, 100].
pub fn percentile(values: &[f32], q: f64, scratch: &mut Vec<f32>) -> f32 {
    scratch.clear();
    scratch.extend_from_slice(values);
    percentile_in_place(scratch, q)
}

fn percentile_in_place(v: &mut [f32], q: f64) -> f32 {
    let pos = q / 100.0 * (v.len() - 1) as f64;
    let k = (pos.floor() as usize).min(v.len() - 1);
    let frac = (pos - k as f64) as f32;
    let (_, &mut at_k, right) = v.select_nth_unstable_by(k, f32::total_cmp);
    if frac == 0.0 || right.is_empty() {
        return at_k;
    }
    let next = right.iter().copied().fold(f32::INFINITY, f32::min);
    at_k + frac * (next - at_k)
}

fn percentile_range(values: &[f32], t: &Target, scratch: &mut Vec<f32>) -> (f32, f32) {
    let symmetric = t.scheme == Scheme::Symmetric;
    if values.len() >= RANKED_MIN {
        let qs = if symmetric { vec![t.percentile] } else { vec![100.0 - t.percentile, t.percentile] };
        let found = if symmetric {
            ranked_percentiles(values, &qs, f32::abs)
        } else {
            ranked_percentiles(values, &qs, std::convert::identity)
        };
        return if symmetric { (-found[0], found[0]) } else { (found[0], found[1]) };
    }
    if symmetric {
        scratch.clear();
        scratch.extend(values.iter().map(|x| x.abs()));
        let a = percentile_in_place(scratch, t.percentile);
        (-a, a)
    } else {
        let lo = percentile(values, 100.0 - t.percentile, scratch);
        let hi = percentile_in_place(scratch, t.percentile);
        (lo, hi)
    }
}

/// From this many values, percentiles come from a radix pass (two passes
/// over the data) rather than a selection on a copy of it.
const RANKED_MIN: usize = 1 << 16;

/// f32 to u32 with the order of `f32::total_cmp`.
fn order_key(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 { !b } else { b | 0x8000_0000 }
}

/// numpy's linear-interpolation percentiles of `map(values)`, exactly those
/// of `percentile`: one pass counts the values by the top 16 bits of their
/// order key, a second gathers the few buckets that hold the wanted ranks,
/// and a selection within each finds the value at each rank.
fn ranked_percentiles(values: &[f32], qs: &[f64], map: impl Fn(f32) -> f32 + Copy) -> Vec<f32> {
    let n = values.len();
    let bucket = move |x: f32| (order_key(map(x)) >> 16) as usize;
    let mut below = vec![0u32; (1 << 16) + 1];
    for &x in values {
        below[bucket(x) + 1] += 1;
    }
    for i in 1..below.len() {
        below[i] += below[i - 1];
    }
    // Each percentile needs ranks k and k + 1 (for the interpolation).
    let positions: Vec<(usize, f32)> = qs
        .iter()
        .map(|q| {
            let pos = q / 100.0 * (n - 1) as f64;
            let k = (pos.floor() as usize).min(n - 1);
            (k, (pos - k as f64) as f32)
        })
        .collect();
    let ranks: Vec<usize> = positions.iter().flat_map(|&(k, _)| [k, (k + 1).min(n - 1)]).collect();
    let bucket_of = |rank: usize| below.partition_point(|&c| c as usize <= rank) - 1;
    let mut wanted: Vec<usize> = ranks.iter().map(|&r| bucket_of(r)).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut gathered: Vec<Vec<f32>> = vec![Vec::new(); wanted.len()];
    for &x in values {
        if let Ok(i) = wanted.binary_search(&bucket(x)) {
            gathered[i].push(map(x));
        }
    }
    let mut at = |rank: usize| {
        let b = bucket_of(rank);
        let vals = &mut gathered[wanted.binary_search(&b).expect("gathered")];
        *vals.select_nth_unstable_by(rank - below[b] as usize, f32::total_cmp).1
    };
    positions
        .into_iter()
        .map(|(k, frac)| {
            let at_k = at(k);
            if frac == 0.0 || k + 1 >= n {
                return at_k;
            }
            let next = at(k + 1);
            at_k + frac * (next - at_k)
        })
        .collect()
}

/// Mean and population standard deviation, in f64 for stability.
pub fn mean_std(values: &[f32]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = values.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// The seed document's standard-deviation clipping: mean +- k * std.
fn sigma_range(values: &[f32], k: f64) -> (f32, f32) {
    let (mean, std) = mean_std(values);
    ((mean - k * std) as f32, (mean + k * std) as f32)
}

/// Exact mean squared error of quantizing `values` with the range `[lo, hi]`.
pub fn exact_mse(values: &[f32], t: &Target, lo: f32, hi: f32) -> f64 {
    kernel::mse(values, &t.params(lo, hi), t.rounding)
}

/// Up to this many values (a channel of a weight matrix) the MSE search runs
/// on a small histogram, then polishes its answer on the values themselves.
const SMALL_SEARCH_MAX: usize = 8192;
const MODEL_BINS: usize = 16384;
const SMALL_MODEL_BINS: usize = 256;

/// Values summarised per bin as prefix sums of count, sum and sum of
/// squares, so the MSE of any quantizer is estimated in O(levels): each
/// level takes the bins whose centre rounds to it.
pub struct BinnedValues {
    lo: f64,
    width: f64,
    count: Vec<f64>,
    sum: Vec<f64>,
    sumsq: Vec<f64>,
}

impl BinnedValues {
    pub fn new(values: &[f32], bins: usize) -> Self {
        let (lo, hi) = min_max(values);
        let width = ((hi - lo) as f64 / bins as f64).max(f64::MIN_POSITIVE);
        let factor = (1.0 / width) as f32;
        // A bin's lower edge, by a multiplication: a division per value
        // was most of the cost of this loop.
        let step = 1.0 / factor;
        let last = (bins - 1) as f32;
        // One cache line per value: count, and the sums of d and d^2 where d
        // is the offset from the bin's lower edge (small, so f32 holds it well).
        let mut cells = vec![[0f32; 4]; bins];
        for &x in values {
            let t = (x - lo) * factor;
            let t = if t < last { t } else { last };
            let i = t as usize;
            let d = x - (lo + i as f32 * step);
            let cell = &mut cells[i];
            cell[0] += 1.0;
            cell[1] += d;
            cell[2] += d * d;
        }
        let (mut count, mut sum, mut sumsq) = (vec![0.0; bins + 1], vec![0.0; bins + 1], vec![0.0; bins + 1]);
        for (i, c) in cells.iter().enumerate() {
            let (n, sd, sdd) = (c[0] as f64, c[1] as f64, c[2] as f64);
            let edge = (lo + i as f32 * step) as f64;
            count[i + 1] = count[i] + n;
            sum[i + 1] = sum[i] + n * edge + sd;
            sumsq[i + 1] = sumsq[i] + n * edge * edge + 2.0 * edge * sd + sdd;
        }
        BinnedValues { lo: lo as f64, width, count, sum, sumsq }
    }

    fn bins(&self) -> usize {
        self.count.len() - 1
    }

    /// How many bins have their centre below `x`.
    fn bins_below(&self, x: f64) -> usize {
        let k = ((x - self.lo) / self.width - 0.5).ceil();
        if k <= 0.0 { 0 } else { (k as usize).min(self.bins()) }
    }

    /// The squared error of the bins [a, b) all mapped to `v`.
    fn error_at(&self, a: usize, b: usize, v: f64) -> f64 {
        if b <= a {
            return 0.0;
        }
        let (n, s, ss) = (self.count[b] - self.count[a], self.sum[b] - self.sum[a], self.sumsq[b] - self.sumsq[a]);
        (ss - 2.0 * v * s + n * v * v).max(0.0)
    }

    /// Estimated MSE of the quantizer for the range `[lo, hi]`.
    pub fn mse(&self, t: &Target, lo: f32, hi: f32) -> f64 {
        let p = t.params(lo, hi);
        let s = p.scale as f64;
        let (rmin, rmax) = ((p.qmin - p.zero_point) as f64, (p.qmax - p.zero_point) as f64);
        // The upper edge (in x) of the values that round to code r (relative to the zero point).
        let upper = |r: f64| match t.rounding {
            Rounding::Floor => (r + 1.0) * s,
            Rounding::Trunc if r < 0.0 => r * s,
            Rounding::Trunc => (r + 1.0) * s,
            _ => (r + 0.5) * s,
        };
        let bins = self.bins();
        let err = if (p.levels() as usize) * 4 <= bins {
            let mut start = 0;
            let mut err = 0.0;
            let mut r = rmin;
            while r <= rmax {
                let end = if r == rmax { bins } else { self.bins_below(upper(r)) };
                err += self.error_at(start, end, r * s);
                start = end;
                r += 1.0;
            }
            err
        } else {
            // Levels finer than the bins: the tails clip, the rest rounds
            // with the uniform error of its rounding mode.
            let low = self.bins_below(upper(rmin));
            let high = self.bins_below(upper(rmax - 1.0)).max(low);
            let uniform = match t.rounding {
                Rounding::Floor | Rounding::Trunc => s * s / 3.0,
                _ => s * s / 12.0,
            };
            self.error_at(0, low, rmin * s)
                + (self.count[high] - self.count[low]) * uniform
                + self.error_at(high, bins, rmax * s)
        };
        err / self.count[bins].max(1.0)
    }
}

/// Grid search then golden-section refinement of a 1-D function on [a, b].
fn minimize(mut f: impl FnMut(f32) -> f64, a: f32, b: f32, grid: usize, refine: usize) -> (f32, f64) {
    if b <= a {
        return (a, f(a));
    }
    let step = (b - a) / (grid - 1) as f32;
    let mut best = (a, f64::INFINITY);
    let mut best_i = 0;
    for i in 0..grid {
        let x = a + step * i as f32;
        let y = f(x);
        if y < best.1 {
            best = (x, y);
            best_i = i;
        }
    }
    let (mut lo, mut hi) = (a + step * best_i.saturating_sub(1) as f32, (a + step * (best_i + 1) as f32).min(b));
    const INV_PHI: f32 = 0.618_034;
    for _ in 0..refine {
        let x1 = hi - INV_PHI * (hi - lo);
        let x2 = lo + INV_PHI * (hi - lo);
        let (y1, y2) = (f(x1), f(x2));
        for (x, y) in [(x1, y1), (x2, y2)] {
            if y < best.1 {
                best = (x, y);
            }
        }
        if y1 <= y2 { hi = x2 } else { lo = x1 }
    }
    best
}

/// How the MSE search spends its evaluations: coordinate-descent rounds,
/// grid points and golden-section steps per side.
struct Search {
    rounds: usize,
    grid: usize,
    refine: usize,
}

/// Searches the clip range with the smallest MSE of x_hat against x.
///
/// Symmetric: a 1-D search over amax. Asymmetric: coordinate descent over lo
/// and hi. The search runs on a histogram model of the values (prefix sums
/// per bin). A small input (a channel) gets a coarse model and a short
/// search, then a golden-section polish on its exact MSE; a large one a fine
/// model. Either way the winner is checked exactly against min-max, so the
/// result is never worse than min-max.
pub fn mse_range(values: &[f32], t: &Target) -> (f32, f32) {
    let (min, max) = min_max(values);
    let small = values.len() <= SMALL_SEARCH_MAX;
    let (bins, search) = if small {
        (SMALL_MODEL_BINS, Search { rounds: 1, grid: 16, refine: 8 })
    } else {
        (MODEL_BINS, Search { rounds: 3, grid: 48, refine: 16 })
    };
    let binned = BinnedValues::new(values, bins);
    let found = search_range(|lo, hi| binned.mse(t, lo, hi), t, min, max, &search);
    // Where the model sums level by level it is exact but for the bins that
    // straddle a rounding edge: polish there. With more levels than a
    // quarter of the bins it is the uniform s^2/12 model, and the exact mse
    // of a few hundred values only adds noise around it.
    let per_level = (1i64 << t.bits) * 4 <= bins as i64;
    let found = if small && per_level { polish(values, t, found, min, max) } else { found };
    let min_max_mse = exact_mse(values, t, min, max);
    if exact_mse(values, t, found.0, found.1) < min_max_mse { found } else { (min, max) }
}

fn search_range(model: impl Fn(f32, f32) -> f64, t: &Target, min: f32, max: f32, s: &Search) -> (f32, f32) {
    if t.scheme == Scheme::Symmetric {
        let amax = min.abs().max(max.abs());
        let (a, _) = minimize(|a| model(-a, a), amax * 0.01, amax, s.grid + s.grid / 3, s.refine + s.refine / 2);
        return (-a, a);
    }
    let (mut lo, mut hi) = (min, max);
    for _ in 0..s.rounds {
        if min < 0.0 {
            lo = minimize(|l| model(l, hi), min, min * 0.01, s.grid, s.refine).0;
        }
        if max > 0.0 {
            hi = minimize(|h| model(lo, h), max * 0.01, max, s.grid, s.refine).0;
        }
    }
    (lo, hi)
}

/// Golden-section steps of the exact polish, per side.
const POLISH_STEPS: usize = 8;

/// Refines a model's answer on the exact MSE, within 5% of the range
/// around it: the model of a small input is coarse.
fn polish(values: &[f32], t: &Target, (lo, hi): (f32, f32), min: f32, max: f32) -> (f32, f32) {
    let exact = |lo: f32, hi: f32| exact_mse(values, t, lo, hi);
    let near = |v: f32, width: f32, a: f32, b: f32| ((v - 0.05 * width).max(a), (v + 0.05 * width).min(b));
    if t.scheme == Scheme::Symmetric {
        let amax = min.abs().max(max.abs());
        let (a, b) = near(hi, amax, amax * 0.01, amax);
        let (a, _) = minimize(|a| exact(-a, a), a, b, 5, POLISH_STEPS);
        return (-a, a);
    }
    let width = max - min;
    let hi = if max > 0.0 {
        let (a, b) = near(hi, width, max * 0.01, max);
        minimize(|h| exact(lo, h), a, b, 5, POLISH_STEPS).0
    } else {
        hi
    };
    let lo = if min < 0.0 {
        let (a, b) = near(lo, width, min, min * 0.01);
        minimize(|l| exact(l, hi), a, b, 5, POLISH_STEPS).0
    } else {
        lo
    };
    (lo, hi)
}

const ENTROPY_BINS: usize = 2048;
/// The histogram and threshold stride of the entropy search on a channel of
/// at most `SMALL_SEARCH_MAX` values: 512 bins, 17 candidates for 8 bits.
const SMALL_ENTROPY_BINS: usize = 512;
const SMALL_ENTROPY_STRIDE: usize = 24;

/// TensorRT-style entropy calibration: the |x| threshold whose clipped and
/// quantized histogram has the smallest KL divergence from the original.
/// The threshold is symmetric; asymmetric schemes keep the side of the data.
pub fn entropy_range(values: &[f32], t: &Target) -> (f32, f32) {
    let (min, max) = min_max(values);
    let amax = min.abs().max(max.abs());
    // A channel (a few hundred values) gets a coarser histogram and tries
    // every `stride`-th threshold (pytorch-quantization's own `stride`
    // option): 1,920 candidates of 128 buckets would cost a millisecond a channel.
    let (bins, stride) =
        if values.len() <= SMALL_SEARCH_MAX { (SMALL_ENTROPY_BINS, SMALL_ENTROPY_STRIDE) } else { (ENTROPY_BINS, 1) };
    let threshold = entropy_threshold(values, amax, 1usize << (t.bits - 1), bins, stride);
    if t.scheme == Scheme::Symmetric { (-threshold, threshold) } else { (min.max(-threshold), max.min(threshold)) }
}

/// ln k for every count k a small input can have (0 for k = 0, never read).
fn small_logs() -> &'static [f64] {
    static LOGS: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| (0..=SMALL_SEARCH_MAX).map(|k| if k == 0 { 0.0 } else { (k as f64).ln() }).collect())
}

/// The threshold search of NVIDIA's pytorch-quantization (`_compute_amax_entropy`):
/// for each candidate i, P is the histogram of the first i bins with the
/// tail folded into bin i - 1; Q spreads each of `quant_bins` buckets evenly
/// over its non-empty bins. KL(P || Q) is computed from prefix sums with one
/// logarithm per bucket, instead of one per bin.
fn entropy_threshold(values: &[f32], amax: f32, quant_bins: usize, bins: usize, stride: usize) -> f32 {
    if amax <= 0.0 || quant_bins >= bins {
        return amax;
    }
    debug_assert!(quant_bins.is_power_of_two());
    let width = amax / bins as f32;
    let factor = 1.0 / width;
    let mut hist = vec![0.0f64; bins];
    for &x in values {
        hist[((x.abs() * factor) as usize).min(bins - 1)] += 1.0;
    }
    let total: f64 = hist.iter().sum();
    // A small input's counts are small integers: their logarithms come from
    // a table (the same values; ln(m / f) as ln m - ln f); a large one keeps
    // ln(m / f), as the reference computes it.
    let table = (values.len() <= SMALL_SEARCH_MAX).then(small_logs);
    let xlogx = |v: f64| match table {
        _ if v <= 0.0 => 0.0,
        Some(t) => v * t[v as usize],
        None => v * v.ln(),
    };
    let ln_ratio = |mass: u32, filled: u32| match table {
        Some(t) => t[mass as usize] - t[filled as usize],
        None => (mass as f64 / filled as f64).ln(),
    };
    // Prefix sums: counts and non-empty bins (integers: exact, and table
    // indices), and h ln h.
    let mut counts = vec![0u32; bins + 1];
    let mut nonzero = vec![0u32; bins + 1];
    let mut hlogh = vec![0.0; bins + 1];
    for (i, &h) in hist.iter().enumerate() {
        counts[i + 1] = counts[i] + h as u32;
        nonzero[i + 1] = nonzero[i] + (h > 0.0) as u32;
        hlogh[i + 1] = hlogh[i] + xlogx(h);
    }
    let mut best = (bins, f64::INFINITY);
    // The widest threshold is always a candidate, whatever the stride.
    let last = (stride > 1 && !(bins - quant_bins).is_multiple_of(stride)).then_some(bins);
    for i in (quant_bins..=bins).step_by(stride).chain(last) {
        let tail = total - counts[i] as f64;
        // A tail folded into an empty bin has no counterpart in Q: infinite divergence.
        if tail > 0.0 && hist[i - 1] == 0.0 {
            continue;
        }
        // sum p ln p, with the last bin carrying the tail.
        let p_log_p = hlogh[i - 1] + xlogx(hist[i - 1] + tail);
        let mut p_log_q = 0.0;
        // Bucket b spans bins [ceil(b i / q), ceil((b + 1) i / q)); q is a
        // power of two, so the division is a shift.
        let shift = quant_bins.trailing_zeros();
        let (counts, nonzero) = (&counts[..=i], &nonzero[..=i]);
        let mut start = 0;
        for b in 1..=quant_bins {
            let stop = (b * i + quant_bins - 1) >> shift;
            let mass = counts[stop] - counts[start];
            let filled = nonzero[stop] - nonzero[start];
            start = stop;
            if filled == 0 {
                continue;
            }
            let p_mass = mass as f64 + if stop == i { tail } else { 0.0 };
            p_log_q += p_mass * ln_ratio(mass, filled);
        }
        // Normalised: KL = (sum p ln(p/q)) / P + ln(Q / P), with P = total and Q = counts[i].
        let kl = (p_log_p - p_log_q) / total + (counts[i] as f64 / total).ln();
        // Ties go to the widest threshold, as in pytorch-quantization.
        if kl <= best.1 {
            best = (i, kl);
        }
    }
    best.0 as f32 * width
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::weights::{Distribution, SyntheticSpec, synthetic};
    use proptest::prelude::*;

    fn target(scheme: Scheme, bits: u32) -> Target {
        Target { scheme, bits, rounding: Rounding::HalfEven, percentile: 99.0, sigma_k: 3.0 }
    }

    fn normal(n: usize, seed: u64) -> Vec<f32> {
        weights(Distribution::Normal, n, seed)
    }

    fn weights(distribution: Distribution, n: usize, seed: u64) -> Vec<f32> {
        let spec = SyntheticSpec { distribution, rows: n, cols: 1, seed, dof: 4.0, outlier_fraction: 0.001 };
        synthetic(&spec).unwrap().values
    }

    #[test]
    fn percentile_matches_numpy_linear_interpolation() {
        let v = [5.0f32, 1.0, 4.0, 2.0, 3.0];
        let mut s = Vec::new();
        // numpy.percentile([1,2,3,4,5], q) for q = 0, 10, 50, 87.5, 100
        assert_eq!(percentile(&v, 0.0, &mut s), 1.0);
        assert!((percentile(&v, 10.0, &mut s) - 1.4).abs() < 1e-6);
        assert_eq!(percentile(&v, 50.0, &mut s), 3.0);
        assert!((percentile(&v, 87.5, &mut s) - 4.5).abs() < 1e-6);
        assert_eq!(percentile(&v, 100.0, &mut s), 5.0);
    }

    proptest! {
        /// The radix percentiles are the selection's, bit for bit.
        #[test]
        fn ranked_percentiles_equal_the_selection(
            seed in 0u64..1000,
            n in RANKED_MIN..RANKED_MIN + 5000,
            q in 90.0f64..100.0,
            ties in any::<bool>(),
        ) {
            let mut v = normal(n, seed);
            if ties {
                // Many equal values, and both zeros, in one bucket.
                v.iter_mut().step_by(3).for_each(|x| *x = 0.0);
                v.iter_mut().step_by(7).for_each(|x| *x = -0.0);
            }
            let mut s = Vec::new();
            for map in [std::convert::identity, f32::abs] {
                let mapped: Vec<f32> = v.iter().map(|&x| map(x)).collect();
                let want = [percentile(&mapped, 100.0 - q, &mut s), percentile(&mapped, q, &mut s)];
                let got = ranked_percentiles(&v, &[100.0 - q, q], map);
                prop_assert_eq!(got[0].to_bits(), want[0].to_bits());
                prop_assert_eq!(got[1].to_bits(), want[1].to_bits());
            }
        }
    }

    #[test]
    fn percentile_range_is_two_sided_or_of_abs() {
        let v: Vec<f32> = (0..=100).map(|i| i as f32 - 20.0).collect(); // -20..=80
        let mut s = Vec::new();
        let mut t = target(Scheme::Asymmetric, 8);
        t.percentile = 90.0;
        assert_eq!(calibrate(&v, Calibration::Percentile, &t, &mut s), (-10.0, 70.0));
        t.scheme = Scheme::Symmetric;
        // |x| holds 0..=80 plus 1..=20 again; its 90th percentile (rank 90 of 0..=100) is 70.
        assert_eq!(calibrate(&v, Calibration::Percentile, &t, &mut s), (-70.0, 70.0));
    }

    #[test]
    fn sigma_is_mean_plus_minus_k_std() {
        let v = [1.0f32, 2.0, 3.0, 4.0, 5.0]; // mean 3, population std sqrt(2)
        let t = Target { sigma_k: 2.0, ..target(Scheme::Asymmetric, 8) };
        let (lo, hi) = calibrate(&v, Calibration::Sigma, &t, &mut Vec::new());
        let d = 2.0 * 2f32.sqrt();
        assert!((lo - (3.0 - d)).abs() < 1e-6 && (hi - (3.0 + d)).abs() < 1e-6);
    }

    #[test]
    fn min_max_of_values() {
        assert_eq!(min_max(&[0.5, -2.0, 3.0]), (-2.0, 3.0));
    }

    /// The exact optimum by brute force: a dense grid, then a finer one around the best.
    fn brute_force_symmetric(v: &[f32], t: &Target) -> f64 {
        let (min, max) = min_max(v);
        let amax = min.abs().max(max.abs());
        let mut best = (amax, f64::INFINITY);
        for i in 1..=2000 {
            let a = amax * i as f32 / 2000.0;
            let e = exact_mse(v, t, -a, a);
            if e < best.1 {
                best = (a, e);
            }
        }
        for i in -100..=100 {
            let a = best.0 * (1.0 + i as f32 / 10_000.0);
            best.1 = best.1.min(exact_mse(v, t, -a, a));
        }
        best.1
    }

    #[test]
    fn mse_symmetric_is_within_one_percent_of_brute_force() {
        for (dist, bits, n) in [
            (Distribution::Normal, 4, 4000),
            (Distribution::Laplace, 3, 4000),
            (Distribution::Normal, 4, 60_000),
            (Distribution::NormalOutliers, 8, 60_000),
            (Distribution::StudentT, 6, 60_000),
        ] {
            let v = weights(dist, n, 3);
            let t = target(Scheme::Symmetric, bits);
            let (lo, hi) = mse_range(&v, &t);
            let got = exact_mse(&v, &t, lo, hi);
            let exact = brute_force_symmetric(&v, &t);
            assert!(got <= exact * 1.01, "{dist:?} {bits} bits n={n}: {got} vs optimum {exact}");
        }
    }

    #[test]
    fn mse_asymmetric_is_within_one_percent_of_a_grid_optimum() {
        let v: Vec<f32> = weights(Distribution::Laplace, 30_000, 5).iter().map(|x| x + 0.5).collect();
        let t = target(Scheme::Asymmetric, 4);
        let (lo, hi) = mse_range(&v, &t);
        let got = exact_mse(&v, &t, lo, hi);
        let (min, max) = min_max(&v);
        let mut exact = f64::INFINITY;
        for i in 1..=120 {
            for j in 1..=120 {
                let (l, h) = (min * i as f32 / 120.0, max * j as f32 / 120.0);
                exact = exact.min(exact_mse(&v, &t, l, h));
            }
        }
        assert!(got <= exact * 1.01, "{got} vs grid optimum {exact}");
    }

    #[test]
    fn mse_clips_heavy_tails_at_low_bits() {
        let v = weights(Distribution::NormalOutliers, 100_000, 1);
        let t = target(Scheme::Symmetric, 4);
        let (_, hi) = mse_range(&v, &t);
        assert!(hi > 2.0 && hi < 10.0, "4-bit mse clip should drop the 10-20 sigma outliers, got {hi}");
    }

    #[test]
    fn entropy_clips_a_long_tail_but_not_a_flat_distribution() {
        let amax = |v: &[f32]| v.iter().fold(0f32, |m, x| m.max(x.abs()));
        let t = target(Scheme::Symmetric, 8);
        let tail = weights(Distribution::StudentT, 200_000, 2);
        let (lo, hi) = entropy_range(&tail, &t);
        assert_eq!(lo, -hi);
        let p99 = percentile(&tail.iter().map(|x| x.abs()).collect::<Vec<_>>(), 99.0, &mut Vec::new());
        assert!(hi > p99 && hi < 0.8 * amax(&tail), "threshold {hi}, p99 {p99}, amax {}", amax(&tail));
        let flat = weights(Distribution::Uniform, 200_000, 2);
        let (_, hi) = entropy_range(&flat, &t);
        assert!(hi >= 0.95 * amax(&flat), "threshold {hi} of a uniform distribution");
    }

    #[test]
    fn entropy_at_high_bits_keeps_the_full_range() {
        let v = normal(10_000, 2);
        let (min, max) = min_max(&v);
        let amax = min.abs().max(max.abs());
        assert_eq!(entropy_range(&v, &target(Scheme::Symmetric, 12)), (-amax, amax));
    }

    #[test]
    fn calibrations_of_a_constant_tensor_are_finite() {
        let v = vec![0.75f32; 1000];
        for &m in Calibration::ALL {
            for scheme in [Scheme::Asymmetric, Scheme::Symmetric] {
                let (lo, hi) = calibrate(&v, m, &target(scheme, 8), &mut Vec::new());
                assert!(lo.is_finite() && hi.is_finite() && lo <= hi, "{m:?} {scheme:?}: {lo} {hi}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn mse_range_is_never_worse_than_min_max(
            values in prop::collection::vec(-50f32..50.0, 1..3000),
            bits in 2u32..=8,
            symmetric in any::<bool>(),
        ) {
            let scheme = if symmetric { Scheme::Symmetric } else { Scheme::Asymmetric };
            let t = target(scheme, bits);
            let (min, max) = min_max(&values);
            let (lo, hi) = mse_range(&values, &t);
            prop_assert!(exact_mse(&values, &t, lo, hi) <= exact_mse(&values, &t, min, max));
        }
    }

    /// The threshold search as first written, a division per bucket end.
    fn entropy_threshold_by_division(values: &[f32], amax: f32, q: usize) -> f32 {
        let width = amax / ENTROPY_BINS as f32;
        let mut hist = vec![0.0f64; ENTROPY_BINS];
        for &x in values {
            hist[((x.abs() * (1.0 / width)) as usize).min(ENTROPY_BINS - 1)] += 1.0;
        }
        let total: f64 = hist.iter().sum();
        let xlogx = |v: f64| if v > 0.0 { v * v.ln() } else { 0.0 };
        let (mut counts, mut nonzero, mut hlogh) =
            (vec![0.0; ENTROPY_BINS + 1], vec![0.0; ENTROPY_BINS + 1], vec![0.0; ENTROPY_BINS + 1]);
        for (i, &h) in hist.iter().enumerate() {
            counts[i + 1] = counts[i] + h;
            nonzero[i + 1] = nonzero[i] + (h > 0.0) as u8 as f64;
            hlogh[i + 1] = hlogh[i] + xlogx(h);
        }
        let mut best = (ENTROPY_BINS, f64::INFINITY);
        for i in q..=ENTROPY_BINS {
            let tail = total - counts[i];
            if tail > 0.0 && hist[i - 1] == 0.0 {
                continue;
            }
            let p_log_p = hlogh[i - 1] + xlogx(hist[i - 1] + tail);
            let mut p_log_q = 0.0;
            for b in 0..q {
                let (start, stop) = ((b * i).div_ceil(q), ((b + 1) * i).div_ceil(q));
                let (mass, filled) = (counts[stop] - counts[start], nonzero[stop] - nonzero[start]);
                if filled > 0.0 {
                    p_log_q += (mass + if stop == i { tail } else { 0.0 }) * (mass / filled).ln();
                }
            }
            let kl = (p_log_p - p_log_q) / total + (counts[i] / total).ln();
            if kl <= best.1 {
                best = (i, kl);
            }
        }
        best.0 as f32 * width
    }

    #[test]
    fn entropy_threshold_equals_the_search_by_division() {
        for (dist, n, bits) in [
            (Distribution::StudentT, 50_000, 8),
            (Distribution::Normal, 384, 8),
            (Distribution::Laplace, 3000, 4),
            (Distribution::NormalOutliers, 20_000, 6),
        ] {
            let v = weights(dist, n, 9);
            let amax = v.iter().fold(0f32, |m, x| m.max(x.abs()));
            let q = 1usize << (bits - 1);
            assert_eq!(
                entropy_threshold(&v, amax, q, ENTROPY_BINS, 1),
                entropy_threshold_by_division(&v, amax, q),
                "{dist:?} {n} {bits}"
            );
        }
    }

    #[test]
    fn a_strided_entropy_search_picks_one_of_its_candidates() {
        let v = weights(Distribution::StudentT, 384, 4);
        let amax = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        let width = amax / SMALL_ENTROPY_BINS as f32;
        let threshold = entropy_threshold(&v, amax, 128, SMALL_ENTROPY_BINS, SMALL_ENTROPY_STRIDE);
        let bin = (threshold / width).round() as usize;
        assert!(bin == SMALL_ENTROPY_BINS || (bin - 128).is_multiple_of(SMALL_ENTROPY_STRIDE), "bin {bin}");
        assert!(threshold <= amax && threshold > 0.0);
    }
}
