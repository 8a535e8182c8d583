//! A tensor's value distribution for the scan table: max|x|, σ, max|x|/σ,
//! kurtosis, the outlier share and the spread of per-channel ranges, over
//! the finite values.
//!
//! Each pass keeps eight running sums (one per lane of eight consecutive
//! values) and adds the lanes in a fixed order, so the loop vectorizes and
//! the result is the same on any machine and any number of threads (the
//! tensor is cut into the analysis' tasks, merged in task order). Two
//! passes read the values: the first takes the moments and each row's
//! range, the second the central moments and, with them, every value far
//! enough from the mean that it might be an outlier; a third, exact pass
//! is needed only when the first pass' estimate of σ was too rough for
//! that shortlist (see `OutlierShortlist`).

use std::ops::Range;

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

/// One task's first pass: the moments of its values, and the finite
/// (min, max) of each row it touches from row `first_row` on (a row cut by
/// the task's edges is joined with its other pieces afterwards).
struct FirstPass {
    moments: Moments,
    first_row: usize,
    rows: Vec<(f32, f32)>,
}

/// The shortlist's floor over the first pass' estimate of the limit: the
/// estimate is off by rounding only (cancellation when the mean dwarfs σ),
/// far less than this, and few values lie between the floor and 6σ.
const FLOOR_SHARE: f64 = 0.9;

/// One task's second pass: Σ(x − mean)², Σ(x − mean)⁴, and its shortlist.
struct SecondPass {
    m2: f64,
    m4: f64,
    shortlist: Shortlist,
}

/// |x − mean| of every finite value of a task beyond `floor`, a bound
/// below the outlier limit 6σ taken from the first pass' moments
/// (`FLOOR_SHARE` of 6·√(Σx²/n − mean²)). Once σ is known, the values
/// beyond it are counted from the list alone, with the very comparison the
/// full pass makes, so the count is the same; a floor found above the
/// limit, or a list that grew past an eighth of the task, leaves the count
/// to that full pass.
enum Shortlist {
    Far(Vec<f64>),
    TooMany,
    NoFloor,
}

/// The statistics of the finite values of a row-major tensor whose rows
/// (channels) are `cols` long, and their Σx².
pub fn tensor_stats(values: &[f32], cols: usize) -> (Stats, f64) {
    let cols = cols.max(1);
    let first = chunked(values, |span| FirstPass {
        moments: moments(&values[span.clone()]),
        first_row: span.start / cols,
        rows: row_extremes(&values[span.clone()], span.start % cols, cols),
    });
    let m = first.iter().fold(Moments::default(), |a, f| Moments {
        n: a.n + f.moments.n,
        sum: a.sum + f.moments.sum,
        sum_sq: a.sum_sq + f.moments.sum_sq,
        max_abs: a.max_abs.max(f.moments.max_abs),
    });
    let mean = if m.n > 0 { m.sum / m.n as f64 } else { 0.0 };
    let n = m.n.max(1) as f64;
    let estimate = m.sum_sq / n - mean * mean;
    let floor = (estimate > 0.0 && estimate.is_finite()).then(|| FLOOR_SHARE * OUTLIER_SIGMAS * estimate.sqrt());
    let second = chunked(values, |span| central(&values[span], mean, floor));
    let (m2, m4) = second.iter().fold((0.0, 0.0), |a, b| (a.0 + b.m2, a.1 + b.m4));
    let (var, m4) = (m2 / n, m4 / n);
    let std = var.sqrt();
    let limit = OUTLIER_SIGMAS * std;
    let outliers = match floor.filter(|&floor| limit >= floor).and_then(|_| shortlisted(&second, limit)) {
        Some(count) => count,
        None => chunked(values, |span| beyond(&values[span], mean, limit)).into_iter().sum(),
    };
    let kurtosis = if var > 0.0 { m4 / (var * var) - 3.0 } else { 0.0 };
    let stats = Stats {
        max_abs: m.max_abs,
        std,
        kurtosis,
        outlier_ratio: outliers as f64 / n,
        peak_to_sigma: (std > 0.0).then(|| m.max_abs / std),
        channel_range_spread: range_spread(&joined_ranges(&first)),
        non_finite: values.len() - m.n,
    };
    (stats, m.sum_sq)
}

/// The values beyond `limit` counted from the shortlists, if every task kept one.
fn shortlisted(second: &[SecondPass], limit: f64) -> Option<usize> {
    second.iter().try_fold(0, |count, task| match &task.shortlist {
        Shortlist::Far(far) => Some(count + far.iter().filter(|&&d| d > limit).count()),
        Shortlist::TooMany | Shortlist::NoFloor => None,
    })
}

/// The finite (min, max) of each row in `xs`, whose first value is at
/// `offset` in its row.
fn row_extremes(xs: &[f32], offset: usize, cols: usize) -> Vec<(f32, f32)> {
    let (head, rest) = xs.split_at((cols - offset).min(xs.len()));
    std::iter::once(head).filter(|h| !h.is_empty()).chain(rest.chunks(cols)).map(finite_extremes).collect()
}

/// Each row's max − min over its finite values, the tasks' pieces of a
/// row joined (min and max do not depend on the order); rows without a
/// finite value are left out.
fn joined_ranges(first: &[FirstPass]) -> Vec<f64> {
    let mut rows: Vec<(f32, f32)> = Vec::new();
    for task in first {
        let mut pieces = task.rows.iter().copied();
        // The task starts inside the row the one before it ended in.
        if rows.len() == task.first_row + 1
            && let (Some(last), Some((lo, hi))) = (rows.last_mut(), pieces.next())
        {
            *last = (last.0.min(lo), last.1.max(hi));
        }
        rows.extend(pieces);
    }
    rows.into_iter().filter(|(lo, hi)| lo <= hi).map(|(lo, hi)| f64::from(hi) - f64::from(lo)).collect()
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

/// `f` of each of the analysis' tasks (spans of the values), in task order.
fn chunked<R: Send>(values: &[f32], f: impl Fn(Range<usize>) -> R + Sync) -> Vec<R> {
    let tasks = weight_tasks(values.len());
    run_tasks(&tasks, threads_for(values.len()), || (), |_, span| f(span.clone())).0
}

use crate::compute::with_avx2;

/// Runs `$body` on each eight consecutive values `$c` of `$xs`, the last
/// ones padded with NaN: a padded lane is not finite, so it adds 0 and
/// counts nothing, as an absent value. Fixed-size chunks, and a body
/// written in place (a closure would be called per chunk), are what let
/// the lane loops vectorize.
macro_rules! each_eight {
    ($xs:expr, |$c:ident| $body:block) => {{
        let (chunks, rest) = $xs.as_chunks::<LANES>();
        for $c in chunks $body
        if !rest.is_empty() {
            let mut last = [f32::NAN; LANES];
            last[..rest.len()].copy_from_slice(rest);
            let $c = &last;
            $body
        }
    }};
}

/// `x.is_finite()` as a float comparison (x − x is 0 for a finite x, NaN
/// for ±Inf and NaN): `is_finite` compiles to integer operations on the
/// bits, which keep the lane loops from vectorizing.
#[inline(always)]
#[allow(clippy::eq_op)] // x − x is the test itself.
fn is_finite(x: f32) -> bool {
    x - x == 0.0
}

/// Each lane's value as f64 (0 where not finite) and whether it was finite.
#[inline(always)]
fn lanes(c: &[f32; LANES]) -> ([f64; LANES], [bool; LANES]) {
    let mut v = [0.0; LANES];
    let mut ok = [false; LANES];
    for l in 0..LANES {
        ok[l] = is_finite(c[l]);
        v[l] = if ok[l] { f64::from(c[l]) } else { 0.0 };
    }
    (v, ok)
}

with_avx2! {
    /// The finite min and max of `row` ((∞, −∞) when it has none): eight
    /// lanes of branch-free selects, which vectorize (every value of a
    /// checkpoint goes through here).
    fn finite_extremes(row: &[f32]) -> (f32, f32) {
        let (mut lo, mut hi) = ([f32::INFINITY; LANES], [f32::NEG_INFINITY; LANES]);
        let (chunks, rest) = row.as_chunks::<LANES>();
        for c in chunks {
            for l in 0..LANES {
                // A value not finite takes part as ∞ in the min, −∞ in the max.
                let finite = is_finite(c[l]);
                let below = if finite { c[l] } else { f32::INFINITY };
                let above = if finite { c[l] } else { f32::NEG_INFINITY };
                lo[l] = if below < lo[l] { below } else { lo[l] };
                hi[l] = if above > hi[l] { above } else { hi[l] };
            }
        }
        let finite = rest.iter().copied().filter(|x| x.is_finite());
        let lo = finite.clone().chain(lo).fold(f32::INFINITY, f32::min);
        let hi = finite.chain(hi).fold(f32::NEG_INFINITY, f32::max);
        (lo, hi)
    }
}

with_avx2! {
    fn moments(xs: &[f32]) -> Moments {
        // Counts in f64 lanes (exact below 2^53) keep every lane the same type, which the vectorizer needs.
        let (mut n, mut sum, mut sq, mut max) = ([0.0f64; LANES], [0.0; LANES], [0.0; LANES], [0.0f64; LANES]);
        each_eight!(xs, |c| {
            let (v, ok) = lanes(c);
            for l in 0..LANES {
                n[l] += if ok[l] { 1.0 } else { 0.0 };
                sum[l] += v[l];
                sq[l] += v[l] * v[l];
                // v is never NaN, so a select is `f64::max`.
                let a = v[l].abs();
                max[l] = if a > max[l] { a } else { max[l] };
            }
        });
        Moments { n: n.iter().sum::<f64>() as usize, sum: sum.iter().sum(), sum_sq: sq.iter().sum(), max_abs: max.iter().fold(0.0, |a, &b| a.max(b)) }
    }
}

with_avx2! {
    /// Σ(x − mean)² and Σ(x − mean)⁴, and the shortlist of values beyond
    /// `floor`: each block of values whose largest (x − mean)² reaches
    /// floor² is read again for it (|d| > floor ≥ 0 gives fl(d²) ≥
    /// fl(floor²), so none slips by), which keeps the lane loop free of
    /// branches. Blocks are whole lanes long: the lanes are the task's.
    fn central(xs: &[f32], mean: f64, floor: Option<f64>) -> SecondPass {
        const BLOCK: usize = 8 * LANES;
        let (mut m2, mut m4) = ([0.0; LANES], [0.0; LANES]);
        let mut shortlist = if floor.is_some() { Shortlist::Far(Vec::new()) } else { Shortlist::NoFloor };
        let floor = floor.unwrap_or(f64::INFINITY);
        let floor2 = floor * floor;
        let most = xs.len() / 8;
        for block in xs.chunks(BLOCK) {
            let mut top = [0.0f64; LANES];
            each_eight!(block, |c| {
                let (v, ok) = lanes(c);
                for l in 0..LANES {
                    let d2 = if ok[l] { (v[l] - mean) * (v[l] - mean) } else { 0.0 };
                    m2[l] += d2;
                    m4[l] += d2 * d2;
                    top[l] = if d2 > top[l] { d2 } else { top[l] };
                }
            });
            if top.iter().any(|&t| t >= floor2) && let Shortlist::Far(far) = &mut shortlist {
                let finite = block.iter().filter(|x| x.is_finite());
                far.extend(finite.map(|&x| (f64::from(x) - mean).abs()).filter(|&d| d > floor));
                if far.len() > most {
                    shortlist = Shortlist::TooMany;
                }
            }
        }
        SecondPass { m2: m2.iter().sum(), m4: m4.iter().sum(), shortlist }
    }
}

with_avx2! {
    /// How many finite values lie beyond `limit` of the mean.
    fn beyond(xs: &[f32], mean: f64, limit: f64) -> usize {
        let mut count = [0usize; LANES];
        each_eight!(xs, |c| {
            let (v, ok) = lanes(c);
            for l in 0..LANES {
                count[l] += usize::from(ok[l] && (v[l] - mean).abs() > limit);
            }
        });
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
        /// The lanes give the plain fold's min and max, NaN and ±inf left out.
        #[test]
        fn finite_extremes_are_the_plain_fold(picks in proptest::collection::vec(0usize..8, 0..40)) {
            const VALUES: [f32; 8] = [0.0, -0.0, 1.5, -2.25, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 7.0];
            let row: Vec<f32> = picks.iter().map(|&i| VALUES[i]).collect();
            let finite = row.iter().copied().filter(|x| x.is_finite());
            let lo = finite.clone().fold(f32::INFINITY, f32::min);
            let hi = finite.fold(f32::NEG_INFINITY, f32::max);
            let (l, h) = finite_extremes(&row);
            // ±0 compare equal: either may come out of a min of the two.
            proptest::prop_assert!(l == lo && h == hi, "{l} {h} against {lo} {hi}");
        }
    }

    /// Values with a spread, a mean away from 0, outliers and some NaN/Inf,
    /// from a seed (xorshift).
    fn values(len: usize, seed: u64, mean: f32, wild: u64) -> Vec<f32> {
        let mut s = seed | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let u = (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                match s % 1000 {
                    k if k < wild => f32::NAN,
                    k if k < 2 * wild => f32::INFINITY,
                    k if k < 3 * wild + 5 => mean + 40.0 * u,
                    _ => mean + u,
                }
            })
            .collect()
    }

    /// One value added to a task's lanes: (lanes, lane, value or 0, finite).
    type LaneStep<'a> = &'a dyn Fn(&mut [f64; 8], usize, f64, bool);

    /// The statistics as the four separate passes gave them before the
    /// passes were fused: each task's eight lanes (value i of the task in
    /// lane i mod 8, the lanes past its end adding 0), rows' ranges from
    /// whole rows. The fused passes must give these bits.
    fn four_passes(values: &[f32], cols: usize) -> (Stats, f64) {
        let tasks = weight_tasks(values.len());
        let lane_sums = |f: LaneStep| -> Vec<[f64; 8]> {
            tasks
                .iter()
                .map(|span| {
                    let mut acc = [0.0; 8];
                    for i in 0..span.len().next_multiple_of(8) {
                        let x = values.get(span.start + i).filter(|_| i < span.len()).copied().unwrap_or(f32::NAN);
                        let ok = x.is_finite();
                        f(&mut acc, i % 8, if ok { f64::from(x) } else { 0.0 }, ok);
                    }
                    acc
                })
                .collect()
        };
        let add = |sums: &[[f64; 8]]| sums.iter().fold(0.0, |a, lanes| a + lanes.iter().sum::<f64>());
        let n: usize = values.iter().filter(|x| x.is_finite()).count();
        let sum = add(&lane_sums(&|acc, l, v, _| acc[l] += v));
        let sum_sq = add(&lane_sums(&|acc, l, v, _| acc[l] += v * v));
        let max_abs = values.iter().filter(|x| x.is_finite()).fold(0.0f64, |a, &x| a.max(f64::from(x).abs()));
        let mean = if n > 0 { sum / n as f64 } else { 0.0 };
        let d2 = |v: f64, ok: bool| if ok { (v - mean) * (v - mean) } else { 0.0 };
        let m2 = add(&lane_sums(&|acc, l, v, ok| acc[l] += d2(v, ok)));
        let m4 = add(&lane_sums(&|acc, l, v, ok| acc[l] += d2(v, ok) * d2(v, ok)));
        let nf = n.max(1) as f64;
        let (var, m4) = (m2 / nf, m4 / nf);
        let std = var.sqrt();
        let far = values.iter().filter(|x| x.is_finite() && (f64::from(**x) - mean).abs() > OUTLIER_SIGMAS * std);
        let ranges: Vec<f64> = values
            .chunks(cols)
            .map(finite_extremes)
            .filter(|(lo, hi)| lo <= hi)
            .map(|(lo, hi)| f64::from(hi) - f64::from(lo))
            .collect();
        let stats = Stats {
            max_abs,
            std,
            kurtosis: if var > 0.0 { m4 / (var * var) - 3.0 } else { 0.0 },
            outlier_ratio: far.count() as f64 / nf,
            peak_to_sigma: (std > 0.0).then(|| max_abs / std),
            channel_range_spread: range_spread(&ranges),
            non_finite: values.len() - n,
        };
        (stats, sum_sq)
    }

    fn same_bits(a: &(Stats, f64), b: &(Stats, f64)) -> bool {
        let key = |(s, signal): &(Stats, f64)| {
            let opt = |x: Option<f64>| x.map(f64::to_bits);
            let figures = [s.max_abs, s.std, s.kurtosis, s.outlier_ratio, *signal].map(f64::to_bits);
            (figures, opt(s.peak_to_sigma), opt(s.channel_range_spread), s.non_finite)
        };
        key(a) == key(b)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Tensors over several tasks, rows that straddle them, a mean
        /// far from 0, NaN and Inf: the fused passes give the bits of the
        /// separate ones.
        #[test]
        fn the_fused_passes_give_the_bits_of_the_separate_ones(
            len in 1usize..300_000,
            cols in proptest::prop_oneof![1usize..10, 500usize..70_000],
            seed: u64,
            mean in proptest::prop_oneof![proptest::strategy::Just(0.0f32), -1e4f32..1e4],
            wild in 0u64..3,
        ) {
            let v = values(len, seed, mean, wild);
            let (fused, plain) = (tensor_stats(&v, cols), four_passes(&v, cols));
            proptest::prop_assert!(same_bits(&fused, &plain), "{fused:?}\n{plain:?}");
        }
    }

    #[test]
    fn a_task_full_of_far_values_falls_back_to_the_full_count() {
        // ±100 in a fifth of one task of ten, zeros elsewhere: σ = 100·√0.02
        // ≈ 14, so the floor (≈ 76) and 6σ (≈ 85) are both below 100; a
        // fifth of that task is past the floor, more than the list keeps.
        let task = weight_tasks(1 << 20)[0].len();
        let mut v = vec![0.0f32; 10 * task];
        let far = 3 * task..3 * task + task / 5;
        v[far.clone()].iter_mut().enumerate().for_each(|(i, x)| *x = if i % 2 == 0 { 100.0 } else { -100.0 });
        let second = central(&v[3 * task..4 * task], 0.0, Some(76.0));
        assert!(matches!(second.shortlist, Shortlist::TooMany));
        let st = tensor_stats(&v, 512);
        assert!(same_bits(&st, &four_passes(&v, 512)), "{st:?}");
        assert_eq!(st.0.outlier_ratio, far.len() as f64 / v.len() as f64, "every ±100 is past 6σ");
    }

    proptest::proptest! {
        /// Counted from the shortlist, the values past any limit at or
        /// above the floor are the full pass' count.
        #[test]
        fn the_shortlist_counts_what_the_full_pass_counts(
            len in 1usize..5000, seed: u64, floor in 0.01f64..30.0, above in 0.0f64..20.0,
        ) {
            let v = values(len, seed, 0.0, 2);
            let second = central(&v, 0.1, Some(floor));
            let limit = floor + above;
            if let Some(count) = shortlisted(std::slice::from_ref(&second), limit) {
                proptest::prop_assert_eq!(count, beyond(&v, 0.1, limit));
            }
        }
    }

    #[test]
    fn rows_cut_by_the_tasks_are_joined() {
        // More rows than one task holds, each cut somewhere: ranges in row order.
        let cols = 1000;
        let rows = weight_tasks(1 << 20)[0].len() / cols * 2 + 5;
        let v: Vec<f32> =
            (0..rows * cols).map(|i| ((i * 7919) % 1013) as f32 * if i % 3001 == 0 { 9.0 } else { 1.0 }).collect();
        let by_hand: Vec<f64> = v.chunks(cols).map(finite_extremes).map(|(lo, hi)| f64::from(hi - lo)).collect();
        assert_eq!(tensor_stats(&v, cols).0.channel_range_spread, range_spread(&by_hand));
        let first: Vec<FirstPass> = weight_tasks(v.len())
            .into_iter()
            .map(|span| FirstPass {
                moments: Moments::default(),
                first_row: span.start / cols,
                rows: row_extremes(&v[span.clone()], span.start % cols, cols),
            })
            .collect();
        assert_eq!(joined_ranges(&first), by_hand);
    }
}
