//! `codebook`: a non-uniform quantizer, 2^bits levels fitted by k-means
//! (Lloyd's algorithm) per tensor or per channel, stored as fp16.
//!
//! The fit runs on the sorted values with prefix sums: a cell of the
//! nearest-level rule is a run of the sorted values, found by binary
//! search, and its centroid is a difference of prefix sums, so an
//! iteration costs O(k log n) on all values, not O(n k). Lloyd starts
//! from a seeded k-means++ draw (on equal-count chunk means of the sorted
//! values: only the start, never the fixed point) and from the uniform
//! min-max and the int grids; the levels are rounded to fp16 and refined
//! there (each level the fp16 nearest its cell's mean), and the start
//! with the least squared error over all values wins (the starts are
//! refined side by side; the first least error in start order wins, so
//! the threads change nothing). The fit is the format's `fit`: a whole
//! tensor's is made once, then its values are coded in parts on every core.

use std::borrow::Cow;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::llama::push_f16;
use super::pack::pack_fitted_codes;
use super::{GroupFit, Grouping, NumberFormat, Packed, Quantized, TensorFacts, through_f16};
use crate::compute::calibrate::{Target, calibrate};
use crate::compute::parallel::{run_tasks, threads_for};
use crate::compute::quant::{Calibration, Granularity, InvalidSetting, QuantConfig, Rounding, Scheme, bit_params};

pub struct Codebook;

const MAX_BITS: u32 = 8;
/// Points of the k-means++ draw: enough for 256 well-spread seeds.
const SEED_POINTS: usize = 4096;
/// The most values the int grids are calibrated on.
const CALIBRATION_SAMPLE: usize = 1 << 16;
/// Lloyd's iterations per start; it stops earlier at a fixed point.
const MAX_ITERATIONS: usize = 300;
/// The levels shown as parameters.
const SHOWN: [&str; 4] = ["level[0]", "level[1]", "level[2]", "level[3]"];

/// The values of one group, sorted, with their prefix sums.
struct Sorted {
    values: Vec<f32>,
    /// `prefix[i]` is the float64 sum of the first `i` values.
    prefix: Vec<f64>,
}

impl Sorted {
    fn of(xs: &[f32]) -> Sorted {
        // Integer keys sort faster than floats by `total_cmp`.
        let values: Vec<f32> =
            radix_sorted(xs.iter().map(|x| order_key(*x)).collect()).into_iter().map(from_order_key).collect();
        let mut prefix = Vec::with_capacity(values.len() + 1);
        prefix.push(0.0);
        let mut sum = 0f64;
        for &v in &values {
            sum += v as f64;
            prefix.push(sum);
        }
        Sorted { values, prefix }
    }

    /// What the int grids are calibrated on: all values of a short group,
    /// evenly spaced quantiles of a long one (calibrating a million values
    /// would cost more than the whole fit; the grids are only starts).
    fn calibration_sample(&self) -> Cow<'_, [f32]> {
        let n = self.values.len();
        if n <= CALIBRATION_SAMPLE {
            return Cow::Borrowed(&self.values);
        }
        Cow::Owned((0..CALIBRATION_SAMPLE).map(|i| self.values[i * (n - 1) / (CALIBRATION_SAMPLE - 1)]).collect())
    }

    fn distinct_count(&self) -> usize {
        self.values.windows(2).filter(|p| p[0] != p[1]).count() + !self.values.is_empty() as usize
    }

    fn mean(&self, run: std::ops::Range<usize>) -> f64 {
        (self.prefix[run.end] - self.prefix[run.start]) / run.len() as f64
    }

    /// The first index from `from` on where `lower` (true, then false along
    /// the sorted values) is false: a galloping search out of `guess`.
    fn first_above(&self, from: usize, guess: usize, lower: impl Fn(f32) -> bool) -> usize {
        let v = &self.values;
        let n = v.len();
        let g = guess.clamp(from, n);
        let within = |lo: usize, hi: usize| lo + v[lo..hi].partition_point(|&x| lower(x));
        let mut step = 1;
        if g < n && lower(v[g]) {
            let mut lo = g + 1;
            loop {
                let hi = (g + step).min(n);
                if hi == n || !lower(v[hi]) {
                    return within(lo.min(hi), hi);
                }
                (lo, step) = (hi + 1, step * 2);
            }
        }
        let mut hi = g;
        loop {
            let lo = g.saturating_sub(step).max(from);
            if lo == from || lower(v[lo]) {
                return within(lo, hi);
            }
            (hi, step) = (lo, step * 2);
        }
    }

    /// Where the values going to `pair[1]` rather than `pair[0]` start,
    /// over all values, searched for out of `guess`.
    fn split(&self, pair: &[f32], guess: usize) -> usize {
        self.first_above(0, guess, |x| goes_lower(x, pair[0], pair[1]))
    }

    fn splits(&self, levels: &[f32]) -> Vec<usize> {
        levels.windows(2).map(|p| self.split(p, 0)).collect()
    }

    /// The cells' edges of these splits: each cell starts where its level
    /// wins over the one below and not before the cell below starts (as in
    /// `cells`, the rule being monotone along the sorted values).
    fn edges_of(&self, splits: &[usize]) -> Vec<usize> {
        let mut edges = Vec::with_capacity(splits.len() + 2);
        edges.push(0);
        for &s in splits {
            edges.push(s.max(*edges.last().unwrap()));
        }
        edges.push(self.values.len());
        edges
    }

    /// Lloyd's iterations until the cells no longer change; an empty cell
    /// keeps its level. `snap` is applied to each new level (fp16 rounding
    /// in the second stage). Only what a change reaches is done again: a
    /// cell that kept its run keeps its mean, and two levels that kept
    /// their values keep their split; a level that meets or passes another
    /// starts the bookkeeping over.
    fn lloyd(&self, mut levels: Vec<f32>, snap: impl Fn(f64) -> f32) -> Vec<f32> {
        let mut splits = self.splits(&levels);
        let mut edges = self.edges_of(&splits);
        let mut stale = vec![true; levels.len()];
        let mut moved = vec![false; levels.len()];
        for _ in 0..MAX_ITERATIONS {
            for (i, level) in levels.iter_mut().enumerate() {
                moved[i] = false;
                if stale[i] && edges[i + 1] > edges[i] {
                    let mean = snap(self.mean(edges[i]..edges[i + 1]));
                    moved[i] = mean.to_bits() != level.to_bits();
                    *level = mean;
                }
            }
            let ascending = levels.windows(2).all(|p| p[0] < p[1]);
            if ascending {
                for i in 0..splits.len() {
                    if moved[i] || moved[i + 1] {
                        splits[i] = self.split(&levels[i..i + 2], splits[i]);
                    }
                }
            } else {
                levels = distinct(levels);
                splits = self.splits(&levels);
            }
            let next = self.edges_of(&splits);
            if next == edges {
                break;
            }
            stale = vec![true; levels.len()];
            moved.resize(levels.len(), false);
            if ascending {
                (0..levels.len()).for_each(|i| stale[i] = next[i] != edges[i] || next[i + 1] != edges[i + 1]);
            }
            edges = next;
        }
        levels
    }

    /// The squared error of the nearest-level rule over all values.
    fn sse(&self, levels: &[f32]) -> f64 {
        let edges = self.edges_of(&self.splits(levels));
        let cell = |i: usize| {
            let level = levels[i];
            self.values[edges[i]..edges[i + 1]].iter().map(|&x| ((x - level) as f64).powi(2)).sum::<f64>()
        };
        (0..levels.len()).map(cell).sum()
    }

    /// A seeded k-means++ draw of up to `k` seeds among the means of
    /// equal-count chunks of the sorted values, weighted by their size.
    fn kmeans_plus_plus(&self, k: usize, seed: u64) -> Vec<f32> {
        let n = self.values.len();
        let m = n.min(SEED_POINTS);
        let points: Vec<(f64, f64)> = (0..m)
            .map(|c| {
                let run = c * n / m..(c + 1) * n / m;
                (self.mean(run.clone()), run.len() as f64)
            })
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut nearest = vec![f64::INFINITY; m];
        let mut seeds = Vec::with_capacity(k);
        let mut weights: Vec<f64> = points.iter().map(|p| p.1).collect();
        while seeds.len() < k {
            let total: f64 = weights.iter().sum();
            if total <= 0.0 {
                break;
            }
            let mut target = rng.r#gen::<f64>() * total;
            let chosen = weights.iter().position(|&w| {
                target -= w;
                target < 0.0
            });
            let c = points[chosen.unwrap_or(m - 1)].0;
            seeds.push(c as f32);
            for (j, &(p, w)) in points.iter().enumerate() {
                nearest[j] = nearest[j].min((p - c) * (p - c));
                weights[j] = w * nearest[j];
            }
        }
        distinct(seeds)
    }
}

/// Below this many keys a comparison sort is quicker than a radix sort.
const RADIX_MIN: usize = 1 << 14;

/// Bits of a radix sort's digit: three passes over a u32 key, each
/// scattering to 2048 runs whose counts stay in L1.
const DIGIT_BITS: u32 = 11;
const DIGITS: usize = 1 << DIGIT_BITS;
const PASSES: usize = 32_usize.div_ceil(DIGIT_BITS as usize);

/// `keys` ascending: a least-significant-digit radix sort, 11 bits a pass
/// (a quarter of the time of `sort_unstable` on a million).
fn radix_sorted(mut keys: Vec<u32>) -> Vec<u32> {
    if keys.len() < RADIX_MIN {
        keys.sort_unstable();
        return keys;
    }
    let digit = |k: u32, pass: usize| (k >> (DIGIT_BITS as usize * pass)) as usize & (DIGITS - 1);
    let mut counts = vec![[0u32; DIGITS]; PASSES];
    for &k in &keys {
        for (pass, c) in counts.iter_mut().enumerate() {
            c[digit(k, pass)] += 1;
        }
    }
    let mut other = vec![0u32; keys.len()];
    for (pass, c) in counts.iter_mut().enumerate() {
        if c.iter().any(|&n| n as usize == keys.len()) {
            continue; // every key has this digit: the pass would change nothing
        }
        let mut at = 0;
        for n in c.iter_mut() {
            (*n, at) = (at, at + *n);
        }
        for &k in &keys {
            let slot = &mut c[digit(k, pass)];
            other[*slot as usize] = k;
            *slot += 1;
        }
        std::mem::swap(&mut keys, &mut other);
    }
    keys
}

/// A total order on finite floats as unsigned integers.
#[inline]
fn order_key(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 { !b } else { b | 1 << 31 }
}

#[inline]
fn from_order_key(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & !(1 << 31) } else { !k })
}

/// Whether `x` goes to `lo` rather than `hi` (lo < hi): the nearer, the
/// lower on a tie. Monotone in x, so each level's cell is a sorted run.
#[inline]
fn goes_lower(x: f32, lo: f32, hi: f32) -> bool {
    hi - x >= x - lo
}

/// The index of the level nearest to `x` in ascending `levels`.
#[inline]
pub fn nearest(levels: &[f32], x: f32) -> usize {
    let i = levels.partition_point(|&l| l < x);
    if i == 0 {
        0
    } else if i == levels.len() || goes_lower(x, levels[i - 1], levels[i]) {
        i - 1
    } else {
        i
    }
}

/// `nearest` for many values: a table over a fine grid of the range of the
/// levels gives each value a level near it, and a walk to the cell it is in
/// the answer. Each neighbour test is one of the rule's own, and they turn
/// from "higher" to "lower" once along the levels, so the walk ends on the
/// level `nearest` gives, from any start.
struct Nearest<'a> {
    levels: &'a [f32],
    lo: f32,
    scale: f32,
    starts: Vec<u16>,
}

/// Cells of the table: a few per level, and in L1 cache.
const TABLE_CELLS: usize = 4096;

impl<'a> Nearest<'a> {
    fn new(levels: &'a [f32]) -> Self {
        let (lo, hi) = (levels[0], levels[levels.len() - 1]);
        let scale = if hi > lo { TABLE_CELLS as f32 / (hi - lo) } else { 0.0 };
        let starts = (0..TABLE_CELLS)
            .map(|c| nearest(levels, lo + (c as f32 + 0.5) / scale.max(f32::MIN_POSITIVE)) as u16)
            .collect();
        Nearest { levels, lo, scale, starts }
    }

    #[inline]
    fn of(&self, x: f32) -> usize {
        if x.is_nan() {
            return nearest(self.levels, x);
        }
        let l = self.levels;
        // `as` saturates: below the range is cell 0.
        let cell = (((x - self.lo) * self.scale) as usize).min(TABLE_CELLS - 1);
        let mut i = self.starts[cell] as usize;
        while i + 1 < l.len() && !goes_lower(x, l[i], l[i + 1]) {
            i += 1;
        }
        while i > 0 && goes_lower(x, l[i - 1], l[i]) {
            i -= 1;
        }
        i
    }
}

/// The values of the last long group fitted on this thread, and its fit:
/// the pipeline asks for the same group's levels three times (for its
/// codes, for the levels and for the parameters shown), and comparing a
/// million values costs a hundredth of fitting them again.
struct LastFit {
    bits: u32,
    seed: u64,
    xs: Vec<f32>,
    levels: Vec<f32>,
}

/// From this many values a fit is remembered.
const REMEMBER_MIN: usize = 1 << 16;

thread_local! {
    static LAST_FIT: std::cell::RefCell<Option<LastFit>> = const { std::cell::RefCell::new(None) };
}

/// `fit`, found again if it is the last long one on this thread.
fn fit_remembered(xs: &[f32], bits: u32, seed: u64) -> Vec<f32> {
    if xs.len() < REMEMBER_MIN {
        return fit(xs, bits, seed);
    }
    let same = |f: &LastFit| {
        f.bits == bits
            && f.seed == seed
            && f.xs.len() == xs.len()
            && f.xs.iter().zip(xs).all(|(a, b)| a.to_bits() == b.to_bits())
    };
    if let Some(levels) = LAST_FIT.with_borrow(|last| last.as_ref().filter(|f| same(f)).map(|f| f.levels.clone())) {
        return levels;
    }
    let levels = fit(xs, bits, seed);
    LAST_FIT.set(Some(LastFit { bits, seed, xs: xs.to_vec(), levels: levels.clone() }));
    levels
}

/// Sorted and without repeats (levels that met, or collided in fp16).
fn distinct(mut levels: Vec<f32>) -> Vec<f32> {
    levels.sort_by(f32::total_cmp);
    levels.dedup_by(|a, b| a == b);
    levels
}

fn uniform_grid(lo: f32, hi: f32, k: usize) -> Vec<f32> {
    (0..k).map(|i| lo + (hi - lo) * (i as f32 / (k - 1).max(1) as f32)).collect()
}

/// The levels of `int` at these bits, symmetric and asymmetric, min-max
/// and mse-calibrated: the grids the codebook must never lose to.
fn int_grids(values: &[f32], bits: u32) -> Vec<Vec<f32>> {
    if bits < 2 {
        return Vec::new();
    }
    let mut grids = Vec::new();
    let mut scratch = Vec::new();
    for scheme in [Scheme::Asymmetric, Scheme::Symmetric] {
        let t = Target { scheme, bits, rounding: Rounding::HalfEven, percentile: 99.99, sigma_k: 3.0 };
        for method in [Calibration::MinMax, Calibration::Mse] {
            let (lo, hi) = calibrate(values, method, &t, &mut scratch);
            let p = bit_params(scheme, bits, lo, hi);
            grids.push((p.qmin..=p.qmax).map(|q| p.dequantize(q)).collect());
        }
    }
    grids
}

/// The fp16 codebook of one group: at most 2^bits ascending levels.
pub fn fit(xs: &[f32], bits: u32, seed: u64) -> Vec<f32> {
    let k = 1usize << bits;
    let sorted = Sorted::of(xs);
    if sorted.distinct_count() <= k {
        // Every value its own level: the least error there is.
        return distinct(sorted.values.iter().map(|&x| through_f16(x)).collect());
    }
    let (lo, hi) = (sorted.values[0], sorted.values[sorted.values.len() - 1]);
    let mut starts = vec![sorted.kmeans_plus_plus(k, seed), uniform_grid(lo, hi, k)];
    starts.extend(int_grids(&sorted.calibration_sample(), bits));
    // Each start is refined on its own, so they run side by side; the
    // first of the least errors in start order wins, whichever thread ran it.
    let refine = |_: &mut (), start: &Vec<f32>| {
        let fitted = sorted.lloyd(start.clone(), |m| m as f32);
        let stored = sorted.lloyd(distinct(fitted.into_iter().map(through_f16).collect()), |m| through_f16(m as f32));
        (sorted.sse(&stored), stored)
    };
    let (refined, _) = run_tasks(&starts, threads_for(xs.len()), || (), refine);
    refined.into_iter().min_by(|a, b| a.0.total_cmp(&b.0)).map_or_else(|| vec![through_f16(lo)], |(_, levels)| levels)
}

/// The codebook of a group (one level, 0, for an empty one), its first
/// levels shown as its parameters.
fn codebook_fit(cfg: &QuantConfig, xs: &[f32]) -> GroupFit {
    let levels = if xs.is_empty() { vec![0.0] } else { fit_remembered(xs, cfg.bits, cfg.seed) };
    let params = SHOWN.iter().zip(&levels).map(|(&name, &l)| (name, l as f64)).collect();
    GroupFit { levels, params }
}

impl NumberFormat for Codebook {
    fn name(&self) -> &'static str {
        "codebook"
    }

    fn summary(&self) -> &'static str {
        "k-means codebook: 2^bits fp16 levels per tensor or channel (Lloyd, seeded k-means++), codes index them"
    }

    fn settings(&self) -> &'static [&'static str] {
        &["bits", "granularity", "channel_axis", "seed"]
    }

    fn check(&self, cfg: &QuantConfig, _cols: Option<usize>) -> Result<(), InvalidSetting> {
        if !(1..=MAX_BITS).contains(&cfg.bits) {
            return Err(InvalidSetting::new("quant.bits", format!("{} is outside 1..={MAX_BITS}", cfg.bits)));
        }
        if cfg.granularity == Granularity::PerGroup {
            return Err(InvalidSetting::new(
                "quant.granularity",
                "codebook has one codebook per tensor or per channel: use per-tensor or per-channel",
            ));
        }
        Ok(())
    }

    fn grouping(&self, cfg: &QuantConfig) -> Grouping {
        if cfg.granularity == Granularity::PerChannel { Grouping::Channel } else { Grouping::Tensor }
    }

    fn code_bits(&self, cfg: &QuantConfig) -> u32 {
        cfg.bits
    }

    fn bits_per_weight(&self, cfg: &QuantConfig, rows: usize, cols: usize) -> f64 {
        let count = (rows * cols).max(1) as f64;
        let books = match self.grouping(cfg) {
            Grouping::Channel => [rows, cols][cfg.channel_axis.min(1)] as f64,
            _ => 1.0,
        };
        cfg.bits as f64 + books * 16.0 * (1u64 << cfg.bits) as f64 / count
    }

    fn quantize(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], out: Quantized<'_>) {
        if !xs.is_empty() {
            self.quantize_part(cfg, tensor, &codebook_fit(cfg, xs), xs, out);
        }
    }

    fn fit(&self, cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Option<GroupFit> {
        Some(codebook_fit(cfg, xs))
    }

    /// Each value to its nearest level.
    fn quantize_part(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, fit: &GroupFit, xs: &[f32], out: Quantized<'_>) {
        let levels = &fit.levels;
        let lookup = Nearest::new(levels);
        for (i, &x) in xs.iter().enumerate() {
            let code = lookup.of(x);
            out.codes[i] = code as u16;
            out.xhat[i] = levels[code];
            out.clipped[i] = false;
        }
    }

    fn levels(&self, cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<f32> {
        codebook_fit(cfg, xs).levels
    }

    fn params(&self, cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<(&'static str, f64)> {
        codebook_fit(cfg, xs).params
    }

    fn compare_rows(&self, base: &QuantConfig) -> Vec<(String, QuantConfig)> {
        [2, 3, 4].iter().map(|&bits| (format!("codebook {bits}-bit"), QuantConfig { bits, ..base.clone() })).collect()
    }

    /// Codes at `bits` LSB-first, then each group's 2^bits fp16 levels,
    /// ascending; a fit with fewer distinct levels repeats its last.
    fn pack(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], out: &mut Packed) -> bool {
        let fit = codebook_fit(cfg, xs);
        pack_fitted_codes(self, cfg, tensor, &fit, xs, out);
        let last = fit.levels.last().copied().unwrap_or(0.0);
        let book = fit.levels.into_iter().chain(std::iter::repeat(last)).take(1 << cfg.bits);
        book.for_each(|level| push_f16(out.params(), level));
        true
    }

    fn ecosystem(&self, _cfg: &QuantConfig) -> String {
        "k-means codebook".into()
    }
}

#[cfg(test)]
#[path = "tests_nonuniform.rs"]
mod tests_nonuniform;
