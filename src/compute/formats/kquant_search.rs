//! The scale searches of Q4_K and Q6_K (`make_qkx2_quants`,
//! `make_qx_quants`) for several sub-blocks at once, sub-block k in lane
//! k: each lane does the scalar search's float operations in its order,
//! so no sum within a sub-block is reordered and the bits are ggml's. The
//! hot loops are generic over [`Lane8`]: `Avx8` (one AVX instruction per
//! operation; LLVM's own vectorizing of the 8-lane arrays split them into
//! 4- and 2-wide pieces) where AVX2 runs, the [`F8`] arrays elsewhere, the
//! same code and the same bits (see `compute::has_avx2`).

use std::ops::{Add, Div, Mul, Sub};

use super::{GROUP_MAX_EPS, QK_K, nearest_int};

/// Sub-blocks side by side.
pub(super) const LANES: usize = 8;

/// One f32 of each of `LANES` sub-blocks.
#[derive(Clone, Copy, Default)]
pub struct F8(pub [f32; LANES]);

macro_rules! lane_by_lane {
    ($($op:ident $f:ident),*) => {$(
        impl $op for F8 {
            type Output = F8;
            #[inline(always)]
            fn $f(self, o: F8) -> F8 {
                F8::from_fn(|k| self.0[k].$f(o.0[k]))
            }
        }
    )*};
}
lane_by_lane!(Add add, Sub sub, Mul mul, Div div);

/// 1.5·2^23: adding it leaves round-half-to-even of a float below 2^22 in
/// magnitude as the integer part of the sum (ggml's `nearest_int`).
const MAGIC: f32 = 12582912.0;

/// Below it in magnitude `codes_small` is `nearest_int`: 2^21 (the sum with
/// `MAGIC` stays within 2^23..2^24, where floats are the integers).
const SMALL: f32 = 2097152.0;

impl F8 {
    // Loops rather than `std::array::from_fn` and `map`: those are not
    // `#[inline(always)]`, and where LLVM declines to inline them they and
    // their closures are compiled without AVX2, outside the caller's code.
    #[inline(always)]
    pub(super) fn from_fn(mut f: impl FnMut(usize) -> f32) -> F8 {
        let mut v = [0.0; LANES];
        for (k, v) in v.iter_mut().enumerate() {
            *v = f(k);
        }
        F8(v)
    }

    #[inline(always)]
    fn splat(v: f32) -> F8 {
        F8([v; LANES])
    }

    #[inline(always)]
    fn lanes(self, f: impl Fn(f32) -> f32) -> F8 {
        F8::from_fn(|k| f(self.0[k]))
    }

    #[inline(always)]
    fn mask(self, o: F8, f: impl Fn(f32, f32) -> bool) -> [bool; LANES] {
        let mut m = [false; LANES];
        for (k, m) in m.iter_mut().enumerate() {
            *m = f(self.0[k], o.0[k]);
        }
        m
    }
}

/// The lane-by-lane operations of the searches' hot loops: [`F8`] on any
/// CPU, `Avx8` (one instruction each) where AVX2 runs. Both round every
/// operation as IEEE float32 does, so they give the same bits.
pub trait Lane8: Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> {
    fn load(v: &F8) -> Self;
    fn store(self) -> F8;

    /// `nearest_int` of each lane clamped to `lo..=hi`, as a float, bit
    /// for bit also where it wraps.
    fn codes(self, range: (i32, i32)) -> Self;

    /// `codes` in float arithmetic, fewer operations: the same value for
    /// every lane below `SMALL` in magnitude, bit for bit but for a zero's
    /// sign where `lo` < 0 (and for NaN when `lo` is 0: both give 0).
    fn codes_small(self, range: (i32, i32)) -> Self;

    /// Bit k set where lane k is at least `o`'s (not for NaN).
    fn at_least(self, o: &F8) -> u32;

    /// Bit k set where lane k is below `o`'s (not for NaN).
    fn below(self, o: &F8) -> u32;
}

impl Lane8 for F8 {
    #[inline(always)]
    fn load(v: &F8) -> F8 {
        *v
    }

    #[inline(always)]
    fn store(self) -> F8 {
        self
    }

    #[inline(always)]
    fn codes(self, (lo, hi): (i32, i32)) -> F8 {
        self.lanes(|t| nearest_int(t).clamp(lo, hi) as f32)
    }

    #[inline(always)]
    fn codes_small(self, (lo, hi): (i32, i32)) -> F8 {
        let (lo, hi) = (lo as f32, hi as f32);
        // The comparisons of x86's maxps and minps, as Avx8 takes them.
        // Below 2^22 in magnitude rounding half to even is `(t + MAGIC) -
        // MAGIC` but for the sign of a zero: max with lo = 0 (Q4_K) makes
        // it +0; with lo < 0 (Q6_K) a -0 stays, which only the sums see,
        // and adding ±0 to a sum from +0 changes no bit.
        self.lanes(|t| {
            let r = t.round_ties_even();
            let r = if r > lo { r } else { lo };
            if r < hi { r } else { hi }
        })
    }

    #[inline(always)]
    fn at_least(self, o: &F8) -> u32 {
        lane_mask(self.mask(*o, |a, b| a >= b))
    }

    #[inline(always)]
    fn below(self, o: &F8) -> u32 {
        lane_mask(self.mask(*o, |a, b| a < b))
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use avx::Avx8;

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;
    use std::ops::{Add, Mul, Sub};

    use super::{F8, Lane8, MAGIC};

    /// [`F8`] in an AVX register. Only the AVX2 twin of `kquants::quantize`
    /// (run once `has_avx2()` said yes) makes one, so every intrinsic below
    /// runs on a CPU that has it, inlined into that twin.
    #[derive(Clone, Copy)]
    pub(in super::super) struct Avx8(__m256);

    macro_rules! avx_op {
        ($($op:ident $f:ident $intrinsic:ident),*) => {$(
            impl $op for Avx8 {
                type Output = Avx8;
                #[inline(always)]
                fn $f(self, o: Avx8) -> Avx8 {
                    // SAFETY: see Avx8.
                    Avx8(unsafe { $intrinsic(self.0, o.0) })
                }
            }
        )*};
    }
    avx_op!(Add add _mm256_add_ps, Sub sub _mm256_sub_ps, Mul mul _mm256_mul_ps);

    impl Lane8 for Avx8 {
        #[inline(always)]
        fn load(v: &F8) -> Avx8 {
            // SAFETY: see Avx8; 8 floats are read.
            Avx8(unsafe { _mm256_loadu_ps(v.0.as_ptr()) })
        }

        #[inline(always)]
        fn store(self) -> F8 {
            let mut v = F8::default();
            // SAFETY: see Avx8; 8 floats are written.
            unsafe { _mm256_storeu_ps(v.0.as_mut_ptr(), self.0) };
            v
        }

        #[inline(always)]
        fn codes(self, (lo, hi): (i32, i32)) -> Avx8 {
            // SAFETY: see Avx8.
            unsafe {
                let bits = _mm256_castps_si256(_mm256_add_ps(self.0, _mm256_set1_ps(MAGIC)));
                let l = _mm256_sub_epi32(
                    _mm256_and_si256(bits, _mm256_set1_epi32(0x007f_ffff)),
                    _mm256_set1_epi32(0x0040_0000),
                );
                let l = _mm256_min_epi32(_mm256_max_epi32(l, _mm256_set1_epi32(lo)), _mm256_set1_epi32(hi));
                Avx8(_mm256_cvtepi32_ps(l))
            }
        }

        #[inline(always)]
        fn codes_small(self, (lo, hi): (i32, i32)) -> Avx8 {
            // SAFETY: see Avx8.
            unsafe {
                let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self.0);
                // maxps(r, lo) is r > lo ? r : lo; minps(r, hi) r < hi ? r : hi.
                let r = _mm256_max_ps(r, _mm256_set1_ps(lo as f32));
                Avx8(_mm256_min_ps(r, _mm256_set1_ps(hi as f32)))
            }
        }

        #[inline(always)]
        fn at_least(self, o: &F8) -> u32 {
            // SAFETY: see Avx8; 8 floats are read.
            unsafe { _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(self.0, _mm256_loadu_ps(o.0.as_ptr()))) as u32 }
        }

        #[inline(always)]
        fn below(self, o: &F8) -> u32 {
            // SAFETY: see Avx8; 8 floats are read.
            unsafe { _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(self.0, _mm256_loadu_ps(o.0.as_ptr()))) as u32 }
        }
    }
}

/// Every lane's bit of a lane mask.
const ALL_LANES: u32 = (1 << LANES) - 1;

/// The lane mask of `lanes`: bit k set where `lanes[k]` is.
#[inline(always)]
fn lane_mask(lanes: [bool; LANES]) -> u32 {
    (0..LANES).fold(0, |bits, k| bits | (lanes[k] as u32) << k)
}

/// Value i of sub-block k of `xs` (sub-blocks of `N`) in lane k of `tile[i]`.
#[inline(always)]
pub(super) fn transposed<const N: usize>(xs: &[f32]) -> [F8; N] {
    let mut tile = [F8::default(); N];
    for (i, v) in tile.iter_mut().enumerate() {
        *v = F8::from_fn(|k| xs[N * k + i]);
    }
    tile
}

/// The search of `make_qkx2_quants`: codes 0..=nmax, and the scales tried
/// at (rmin + rdelta·is + nmax) / (max − min) for is in 0..=nstep.
pub(super) struct ScaleSearch {
    pub nmax: i32,
    pub rmin: f32,
    pub rdelta: f32,
    pub nstep: i32,
}

/// `quantize_row_q4_K_ref`'s call: `make_qkx2_quants(32, 15, …, -1.f, 0.1f, 20, false)`.
pub(super) const Q4_K_SEARCH: ScaleSearch = ScaleSearch { nmax: 15, rmin: -1.0, rdelta: 0.1, nstep: 20 };

/// The values of a Q4_K sub-block.
pub(super) const SUB: usize = 32;

/// One trial of `make_qkx2_quants` in each lane: the codes `l` of the
/// values at `iscale` from the offset (`from_min` holds x − min), and Σ w·l,
/// Σ w·l·l, Σ w·l·x in value order.
#[inline(always)]
fn qkx2_sums<V: Lane8>(
    (x, from_min, w): (&[F8; SUB], &[F8; SUB], &[F8; SUB]),
    iscale: F8,
    l: &mut [F8; SUB],
    codes: impl Fn(V) -> V,
) -> (F8, F8, F8) {
    let (iscale, zero) = (V::load(&iscale), V::load(&F8::default()));
    let (mut sum_l, mut sum_l2, mut sum_xl) = (zero, zero, zero);
    for (((l, x), from_min), w) in l.iter_mut().zip(x).zip(from_min).zip(w) {
        let (x, w) = (V::load(x), V::load(w));
        let code = codes(iscale * V::load(from_min));
        *l = code.store();
        let wl = w * code;
        sum_l = sum_l + wl;
        sum_l2 = sum_l2 + wl * code;
        sum_xl = sum_xl + wl * x;
    }
    (sum_l.store(), sum_l2.store(), sum_xl.store())
}

/// A trial's error Σ w·(scale·l + min − x)² in each lane, in value order;
/// it stops (its terms are never negative) once every lane has reached
/// `best` or is in `unfit` (bit k for lane k).
#[inline(always)]
fn qkx2_error<V: Lane8>(
    (x, w): (&[F8; SUB], &[F8; SUB]),
    l: &[F8; SUB],
    (scale, min): (F8, F8),
    (best, unfit): (&F8, u32),
) -> F8 {
    let (scale, min) = (V::load(&scale), V::load(&min));
    let mut error = V::load(&F8::default());
    for ((l, x), w) in l.chunks(8).zip(x.chunks(8)).zip(w.chunks(8)) {
        for ((l, x), w) in l.iter().zip(x).zip(w) {
            let diff = scale * V::load(l) + min - V::load(x);
            error = error + V::load(w) * (diff * diff);
        }
        if error.at_least(best) | unfit == ALL_LANES {
            break;
        }
    }
    error.store()
}

/// ggml's `make_qkx2_quants` with `use_mad = false` of the 8 sub-blocks
/// of a Q4_K super-block, one per lane (`x[i]` holds value i of each):
/// the weighted least-squares fit x ≈ scale·l − the_min (the_min ≥ 0) over
/// a few trial scales; writes the codes l of sub-block k to `codes[SUB·k..]`
/// and returns (scale, the_min) per sub-block.
///
/// A trial's scale depends on the best fit so far, so a lane's trials stay
/// in order. Instead of each better trial's codes a lane keeps the scale
/// and offset they were rounded with, and rounds once at the end, the same
/// operations. Shortcut that cannot change the result: as the error's
/// terms are never negative, a trial's error sum stops once every lane
/// has reached its best (or cannot fit).
#[inline(always)]
pub(super) fn make_qkx2_quants<V: Lane8>(
    s: &ScaleSearch,
    x: &[F8; SUB],
    w: &[F8; SUB],
    codes: &mut [u8; QK_K],
) -> (F8, F8) {
    let (mut min, mut max, mut sum_w) = (x[0], x[0], w[0]);
    let mut sum_x = w[0] * x[0];
    for (&x, &w) in x.iter().zip(w).skip(1) {
        min = F8::from_fn(|k| if x.0[k] < min.0[k] { x.0[k] } else { min.0[k] });
        max = F8::from_fn(|k| if x.0[k] > max.0[k] { x.0[k] } else { max.0[k] });
        sum_w = sum_w + w;
        sum_x = sum_x + w * x;
    }
    let lowest = min;
    min = min.lanes(|m| if m > 0.0 { 0.0 } else { m });
    // A flat sub-block gives (0, -min) and codes 0: its lane's search runs
    // on 1/0 (codes 0, det 0: never a fit) and is set aside.
    let flat = max.mask(min, |a, b| a == b);
    let flat_min = min;
    let range = (0, s.nmax);
    let nmax = s.nmax as f32;
    let mut iscale = F8::splat(nmax) / (max - min);
    let mut scale = F8::splat(1.0) / iscale;
    let mut best_error = F8::default();
    for (&x, &w) in x.iter().zip(w) {
        let diff = scale * (iscale * (x - min)).codes(range) + min - x;
        best_error = best_error + w * (diff * diff);
    }
    // The scale and offset the best codes were rounded with.
    let (mut code_iscale, mut code_min) = (iscale, min);
    let mut l = [F8::default(); SUB];
    // x − min, the same bits as computing it in every trial; min changes
    // only with a better trial.
    let mut from_min = [F8::default(); SUB];
    let subtract_min = |from_min: &mut [F8; SUB], min: F8| from_min.iter_mut().zip(x).for_each(|(d, &x)| *d = x - min);
    subtract_min(&mut from_min, min);
    for is in 0..=s.nstep {
        iscale = F8::splat(s.rmin + s.rdelta * is as f32 + nmax) / (max - min);
        // Every scaled value lies between those of the lowest and the
        // highest (rounding is monotonic): are they small?
        let ends = [iscale * (lowest - min), iscale * (max - min)];
        let small = (0..LANES).all(|k| flat[k] || ends.iter().all(|e| e.0[k].abs() < SMALL));
        let (sum_l, sum_l2, sum_xl) = if small {
            qkx2_sums::<V>((x, &from_min, w), iscale, &mut l, |t| t.codes_small(range))
        } else {
            qkx2_sums::<V>((x, &from_min, w), iscale, &mut l, |t| t.codes(range))
        };
        let det = sum_w * sum_l2 - sum_l * sum_l;
        let this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
        let this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        let clamped = sum_xl / sum_l2;
        // Selects, not branches: LLVM makes them vector blends.
        let this_scale = F8::from_fn(|k| if this_min.0[k] > 0.0 { clamped.0[k] } else { this_scale.0[k] });
        let this_min = this_min.lanes(|m| if m > 0.0 { 0.0 } else { m });
        let unfit = !lane_mask(det.mask(F8::default(), |d, z| d > z)) & ALL_LANES;
        let cur_error = qkx2_error::<V>((x, w), &l, (this_scale, this_min), (&best_error, unfit));
        let better = V::load(&cur_error).below(&best_error) & !unfit;
        if better != 0 {
            let is_better = |k: usize| better >> k & 1 == 1;
            best_error = F8::from_fn(|k| if is_better(k) { cur_error.0[k] } else { best_error.0[k] });
            scale = F8::from_fn(|k| if is_better(k) { this_scale.0[k] } else { scale.0[k] });
            code_iscale = F8::from_fn(|k| if is_better(k) { iscale.0[k] } else { code_iscale.0[k] });
            code_min = F8::from_fn(|k| if is_better(k) { min.0[k] } else { code_min.0[k] });
            min = F8::from_fn(|k| if is_better(k) { this_min.0[k] } else { min.0[k] });
            subtract_min(&mut from_min, min);
        }
    }
    for (i, &x) in x.iter().enumerate() {
        let l = (code_iscale * (x - code_min)).codes(range);
        for k in 0..LANES {
            codes[SUB * k + i] = if flat[k] { 0 } else { l.0[k] as u8 };
        }
    }
    for k in (0..LANES).filter(|&k| flat[k]) {
        (scale.0[k], min.0[k]) = (0.0, flat_min.0[k]);
    }
    (scale, min.lanes(|m| -m))
}

/// The values of a Q6_K sub-block.
pub(super) const SUB6: usize = 16;

/// A trial of `make_qx_quants` in each lane of each of `T` tiles: Σ w·x·l
/// and Σ w·l·l in value order, `wx` holding w·x = (x·x)·x. The tiles'
/// sums are independent chains, side by side in one loop so that one
/// tile's additions wait less on the last. |iscale·x| is at most about
/// nmax + 1, so `codes_small` is `nearest_int`'s.
#[inline(always)]
fn qx_sums<V: Lane8, const T: usize>(iscale: &[F8; T], tiles: &[QxTile; T], range: (i32, i32)) -> [(F8, F8); T] {
    // Plain loops, no array `map` or `from_fn` (see `F8::from_fn`).
    let zero = V::load(&F8::default());
    let (mut scaled, mut sumlx, mut suml2) = ([zero; T], [zero; T], [zero; T]);
    for t in 0..T {
        scaled[t] = V::load(&iscale[t]);
    }
    for i in 0..SUB6 {
        for t in 0..T {
            let tile = &tiles[t];
            let l = (scaled[t] * V::load(&tile.x[i])).codes_small(range);
            sumlx[t] = sumlx[t] + V::load(&tile.wx[i]) * l;
            suml2[t] = suml2[t] + V::load(&tile.w[i]) * l * l;
        }
    }
    let mut sums = [(F8::default(), F8::default()); T];
    for t in 0..T {
        sums[t] = (sumlx[t].store(), suml2[t].store());
    }
    sums
}

/// 8 sub-blocks of 16 side by side (`x[i]` holds value i of each), with
/// the weights w = x² and w·x of `make_qx_quants`.
pub(super) struct QxTile {
    x: [F8; SUB6],
    w: [F8; SUB6],
    wx: [F8; SUB6],
}

impl QxTile {
    #[inline(always)]
    pub(super) fn new(x: [F8; SUB6]) -> QxTile {
        let mut tile = QxTile { x, w: [F8::default(); SUB6], wx: [F8::default(); SUB6] };
        for ((w, wx), &x) in tile.w.iter_mut().zip(&mut tile.wx).zip(&x) {
            *w = x * x;
            *wx = *w * x;
        }
        tile
    }
}

/// ggml's `make_qx_quants` with `rmse_type = 1` and no weights (w = x²) of
/// `T` tiles of 8 sub-blocks of 16, one per lane: codes l + nmax for l in
/// -nmax..nmax, the best of 19 trial scales by weighted least squares;
/// returns each tile's choice (x ≈ scale·l). The trials do not depend on
/// one another, only the choice among them; a lane keeps the best trial's
/// scale, and its codes are rounded only when asked for (`QxChoice::codes`).
/// The values must be finite.
#[inline(always)]
pub(super) fn make_qx_quants<V: Lane8, const T: usize>(nmax: i32, tiles: &[QxTile; T]) -> [QxChoice; T] {
    let (mut max, mut amax) = ([F8::default(); T], [F8::default(); T]);
    for t in 0..T {
        // Selects, not branches: LLVM makes them vector blends.
        for &x in &tiles[t].x {
            let a = x.lanes(f32::abs);
            max[t] = F8::from_fn(|k| if a.0[k] > amax[t].0[k] { x.0[k] } else { max[t].0[k] });
            amax[t] = F8::from_fn(|k| if a.0[k] > amax[t].0[k] { a.0[k] } else { amax[t].0[k] });
        }
    }
    let range = (-nmax, nmax - 1);
    let scales_at = |is: i32| {
        let mut iscale = [F8::default(); T];
        for t in 0..T {
            iscale[t] = F8::splat(-(nmax as f32 + 0.1 * is as f32)) / max[t];
        }
        iscale
    };
    let mut best_iscale = scales_at(0);
    let sums = qx_sums::<V, T>(&best_iscale, tiles, range);
    let (mut scale, mut best) = ([F8::default(); T], [F8::default(); T]);
    for t in 0..T {
        let (sumlx, suml2) = sums[t];
        scale[t] = F8::from_fn(|k| if suml2.0[k] != 0.0 { sumlx.0[k] / suml2.0[k] } else { 0.0 });
        best[t] = scale[t] * sumlx;
    }
    for is in (-9..=9).filter(|&is| is != 0) {
        let iscale = scales_at(is);
        let sums = qx_sums::<V, T>(&iscale, tiles, range);
        for t in 0..T {
            let (sumlx, suml2) = sums[t];
            let (this_scale, gain) = (sumlx / suml2, sumlx * sumlx);
            let bound = best[t] * suml2;
            let mut better = [false; LANES];
            for (k, better) in better.iter_mut().enumerate() {
                *better = suml2.0[k] > 0.0 && gain.0[k] > bound.0[k];
            }
            best_iscale[t] = F8::from_fn(|k| if better[k] { iscale[t].0[k] } else { best_iscale[t].0[k] });
            scale[t] = F8::from_fn(|k| if better[k] { this_scale.0[k] } else { scale[t].0[k] });
            let gained = scale[t] * sumlx;
            best[t] = F8::from_fn(|k| if better[k] { gained.0[k] } else { best[t].0[k] });
        }
    }
    let mut chosen = [QxChoice { scale: F8::default(), iscale: F8::default(), zero: [false; LANES], nmax }; T];
    for t in 0..T {
        // A lane of |x| below GROUP_MAX_EPS has codes 0 and scale 0 (its
        // search ran on 1/0 and is set aside).
        let zero = amax[t].mask(F8::splat(GROUP_MAX_EPS), |a, eps| a < eps);
        let scale = F8::from_fn(|k| if zero[k] { 0.0 } else { scale[t].0[k] });
        chosen[t] = QxChoice { scale, iscale: best_iscale[t], zero, nmax };
    }
    chosen
}

/// What `make_qx_quants` chose for the 8 sub-blocks of a tile.
#[derive(Clone, Copy)]
pub(super) struct QxChoice {
    pub scale: F8,
    /// The trial's 1/scale, which the codes are rounded with.
    iscale: F8,
    /// Sub-blocks of |x| below `GROUP_MAX_EPS`: codes 0.
    zero: [bool; LANES],
    nmax: i32,
}

impl QxChoice {
    /// The codes of sub-block `k` of `tile` (16 values), as the search's
    /// best trial rounds them: `nearest_int` clamped, one value at a time
    /// (the lanes' `codes` give the same bits). Q6_K needs them only for
    /// a sub-block whose final step is zero; it requantizes the others.
    pub(super) fn codes(&self, tile: &QxTile, k: usize, out: &mut [u8]) {
        let nmax = self.nmax;
        for (o, x) in out.iter_mut().zip(&tile.x) {
            let l = nearest_int(self.iscale.0[k] * x.0[k]).clamp(-nmax, nmax - 1);
            *o = if self.zero[k] { 0 } else { (l + nmax) as u8 };
        }
    }
}
