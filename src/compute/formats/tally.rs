//! The figures of a pass over the groups: each piece's sums, errors and
//! their range (`run.rs` quantizes; this file adds up what it gave).

use super::{Scratch, Share, Want};
use crate::compute::kernel::Sums;

/// Adds one piece's figures to its share (`groups`, consecutive, from the
/// piece's start): sums in float32 lanes of blocks of 128 (as the int
/// kernel does), then in float64. Where every value is finite, the groups
/// are one run of blocks (a block may hold several small groups: a
/// 16-value group alone would pay a block's reduction and merge), and one
/// pass gives a block's sums, its errors and their range; a block with
/// clipped values then counts them, and its clipped errors are set apart.
/// In a part of a group (`in_part`) the blocks' sums are kept apart. A
/// non-finite value anywhere: every value is taken one by one, group by
/// group, the finite ones only.
pub(super) fn tally(
    share: &mut Share,
    xs: &[f32],
    scratch: &Scratch,
    groups: impl Iterator<Item = std::ops::Range<usize>>,
    all_finite: bool,
    want: Want,
    in_part: bool,
) {
    let everything = want == Want::Everything;
    if everything {
        // `seen` is 2^bits long and the codes below it: the mask only spares the bounds check.
        let mask = share.seen.len() - 1;
        scratch.codes.iter().for_each(|&c| share.seen[c as usize & mask] = true);
    }
    let lane_sums = if everything { lane_summer::<true>() } else { lane_summer::<false>() };
    let any_clipped = |c: &[bool]| c.iter().fold(false, |any, &c| any | c);
    let some_clipped = any_clipped(&scratch.clipped);
    let mut range = ErrorRange::default();
    let mut unkept = [0f32; LANE_BLOCK];
    let groups: Box<dyn Iterator<Item = std::ops::Range<usize>>> =
        if all_finite { Box::new(one_run(groups).into_iter()) } else { Box::new(groups) };
    for group in groups {
        let (xs, xhat, clipped) = (&xs[group.clone()], &scratch.xhat[group.clone()], &scratch.clipped[group]);
        if !all_finite {
            tally_one_by_one(share, (xs, xhat, clipped), &mut range, everything);
            continue;
        }
        let start = share.errors.len();
        if everything {
            share.errors.resize(start + xs.len(), 0.0);
        }
        let mut errors = share.errors[start..].chunks_mut(LANE_BLOCK);
        let blocks = xs.chunks(LANE_BLOCK).zip(xhat.chunks(LANE_BLOCK)).zip(clipped.chunks(LANE_BLOCK));
        for ((x, xh), c) in blocks {
            let errors = errors.next().unwrap_or(&mut unkept[..x.len()]);
            let mut block = lane_sums(x, xh, errors, &mut range);
            if some_clipped {
                block.clipped = c.iter().map(|&c| c as u64).sum();
            }
            if in_part { share.blocks.push(block) } else { share.sums.merge(&block) }
        }
        if everything && some_clipped && any_clipped(clipped) {
            set_apart_clipped(&mut share.errors, start, clipped, &mut share.clipped_errors);
        }
    }
    share.error_range = range.total();
}

/// Consecutive groups as one range (none for no groups).
fn one_run(mut groups: impl Iterator<Item = std::ops::Range<usize>>) -> Option<std::ops::Range<usize>> {
    let first = groups.next()?;
    Some(groups.fold(first, |run, g| {
        debug_assert_eq!(run.end, g.start, "a piece's groups are consecutive");
        run.start..g.end
    }))
}

/// The finite values of a group one by one, in float64.
fn tally_one_by_one(
    share: &mut Share,
    (xs, xhat, clipped): (&[f32], &[f32], &[bool]),
    range: &mut ErrorRange,
    everything: bool,
) {
    for ((&x, &xh), &c) in xs.iter().zip(xhat).zip(clipped) {
        if x.is_finite() {
            share.sums.add(x, xh, c);
            if everything {
                range.add(x - xh);
                if c { share.clipped_errors.push(x - xh) } else { share.errors.push(x - xh) }
            }
        }
    }
}

/// Moves the errors of the clipped values among `errors[start..]` (one
/// per flag of `clipped`) to `out`, the others closing up in order.
fn set_apart_clipped(errors: &mut Vec<f32>, start: usize, clipped: &[bool], out: &mut Vec<f32>) {
    let mut kept = start;
    for (i, &c) in clipped.iter().enumerate() {
        let e = errors[start + i];
        if c {
            out.push(e);
        } else {
            errors[kept] = e;
            kept += 1;
        }
    }
    errors.truncate(kept);
}

/// The least and the largest error and 0, in lanes (NaN ignored; the order
/// of a minimum does not matter, but for ±0, which fall in the same bins,
/// and the strict comparisons from +0 keep -0 out).
#[derive(Default)]
struct ErrorRange {
    lo: [f32; LANES],
    hi: [f32; LANES],
}

impl ErrorRange {
    #[inline(always)]
    fn add_lane(&mut self, l: usize, e: f32) {
        self.lo[l] = if e < self.lo[l] { e } else { self.lo[l] };
        self.hi[l] = if e > self.hi[l] { e } else { self.hi[l] };
    }

    fn add(&mut self, e: f32) {
        self.add_lane(0, e);
    }

    fn total(&self) -> (f32, f32) {
        let lo = self.lo.iter().fold(0f32, |m, &v| if v < m { v } else { m });
        let hi = self.hi.iter().fold(0f32, |m, &v| if v > m { v } else { m });
        (lo, hi)
    }
}

const LANE_BLOCK: usize = 128;
const LANES: usize = 8;

/// A block's sums as [`lanes`] takes them.
type LaneSums = fn(&[f32], &[f32], &mut [f32], &mut ErrorRange) -> Sums;

/// The sums of a block of finite values (its clipped ones counted by the caller), eight lanes
/// at a time (and twice as wide on AVX2, same bits: see `compute::has_avx2`);
/// the choice is made once per task. `KEEP`: write the errors and their
/// range too (else only the sums, the same bits).
fn lane_summer<const KEEP: bool>() -> LaneSums {
    #[cfg(target_arch = "x86_64")]
    if crate::compute::has_avx2() {
        #[target_feature(enable = "avx2")]
        fn avx2<const KEEP: bool>(xs: &[f32], xhs: &[f32], errors: &mut [f32], range: &mut ErrorRange) -> Sums {
            lanes::<KEEP>(xs, xhs, errors, range)
        }
        // SAFETY: the CPU has AVX2.
        return |xs, xhs, errors, range| unsafe { avx2::<KEEP>(xs, xhs, errors, range) };
    }
    lanes::<KEEP>
}

/// The sums of a block and, when `KEEP`, its errors x - x̂ written to
/// `errors` (as long as the block) and their range added to `range`.
#[inline(always)]
fn lanes<const KEEP: bool>(xs: &[f32], xhs: &[f32], errors: &mut [f32], range: &mut ErrorRange) -> Sums {
    let mut acc = [[0f32; LANES]; 7];
    let mut zeros = [0u32; LANES];
    let mut add = |l: usize, x: f32, h: f32, out: &mut f32| {
        let e = x - h;
        if KEEP {
            *out = e;
            range.add_lane(l, e);
        }
        let a = e.abs();
        acc[0][l] += e;
        acc[1][l] += a;
        acc[2][l] += e * e;
        acc[3][l] += x * x;
        acc[4][l] += h * h;
        acc[5][l] += x * h;
        acc[6][l] = if a > acc[6][l] { a } else { acc[6][l] };
        zeros[l] += (h == 0.0) as u32;
    };
    let (x8, h8, mut e8) = (xs.chunks_exact(LANES), xhs.chunks_exact(LANES), errors.chunks_exact_mut(LANES));
    let (xt, ht) = (x8.remainder(), h8.remainder());
    for ((x, h), e) in x8.zip(h8).zip(&mut e8) {
        for l in 0..LANES {
            add(l, x[l], h[l], &mut e[l]);
        }
    }
    for (l, ((&x, &h), e)) in xt.iter().zip(ht).zip(e8.into_remainder()).enumerate() {
        add(l, x, h, e);
    }
    let total = |v: &[f32; LANES]| v.iter().map(|&t| t as f64).sum::<f64>();
    Sums {
        n: xs.len() as u64,
        clipped: 0,
        zeros: zeros.iter().map(|&z| z as u64).sum(),
        err: total(&acc[0]),
        abs: total(&acc[1]),
        sq: total(&acc[2]),
        max_abs: acc[6].iter().fold(0f32, |m, &v| if v > m { v } else { m }) as f64,
        x2: total(&acc[3]),
        xh2: total(&acc[4]),
        xxh: total(&acc[5]),
    }
}
