//! The scale searches of Q4_K and Q6_K (`make_qkx2_quants`,
//! `make_qx_quants`) for several sub-blocks at once, sub-block k in lane
//! k: each lane does the scalar search's float operations in its order,
//! so no sum within a sub-block is reordered and the bits are ggml's. The
//! hot loops are generic over [`Lanes`]: 8 lanes in `Avx8` (one AVX
//! instruction per operation; LLVM's own vectorizing of the 8-lane arrays
//! split them into 4- and 2-wide pieces) where AVX2 runs, 16 lanes (two
//! super-blocks) in `Avx16` where AVX-512 runs, the [`Fx`] arrays
//! elsewhere: the same code and the same bits (see `compute::has_avx2`).

use std::ops::{Add, Div, Mul, Sub};

use super::{GROUP_MAX_EPS, nearest_int};

/// Sub-blocks side by side in one super-block's search.
pub(super) const LANES: usize = 8;

/// One f32 of each of `N` sub-blocks.
#[derive(Clone, Copy)]
pub struct Fx<const N: usize>(pub [f32; N]);

/// A super-block's sub-blocks side by side.
pub type F8 = Fx<LANES>;

/// Two super-blocks' sub-blocks side by side (Q4_K's 8 + 8, or Q6_K's 16).
pub type F16 = Fx<16>;

impl<const N: usize> Default for Fx<N> {
    #[inline(always)]
    fn default() -> Self {
        Fx([0.0; N])
    }
}

macro_rules! lane_by_lane {
    ($($op:ident $f:ident),*) => {$(
        impl<const N: usize> $op for Fx<N> {
            type Output = Fx<N>;
            #[inline(always)]
            fn $f(self, o: Fx<N>) -> Fx<N> {
                Fx::from_fn(|k| self.0[k].$f(o.0[k]))
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

impl<const N: usize> Fx<N> {
    // Loops rather than `std::array::from_fn` and `map`: those are not
    // `#[inline(always)]`, and where LLVM declines to inline them they and
    // their closures are compiled without AVX2, outside the caller's code.
    #[inline(always)]
    pub(super) fn from_fn(mut f: impl FnMut(usize) -> f32) -> Fx<N> {
        let mut v = [0.0; N];
        for (k, v) in v.iter_mut().enumerate() {
            *v = f(k);
        }
        Fx(v)
    }

    #[inline(always)]
    pub(super) fn splat(v: f32) -> Fx<N> {
        Fx([v; N])
    }

    #[inline(always)]
    fn lanes(self, f: impl Fn(f32) -> f32) -> Fx<N> {
        Fx::from_fn(|k| f(self.0[k]))
    }

    #[inline(always)]
    fn mask(self, o: Fx<N>, f: impl Fn(f32, f32) -> bool) -> [bool; N] {
        let mut m = [false; N];
        for (k, m) in m.iter_mut().enumerate() {
            *m = f(self.0[k], o.0[k]);
        }
        m
    }

    /// Lanes `from..from + M` (one super-block's of a pair).
    #[inline(always)]
    pub(super) fn part<const M: usize>(&self, from: usize) -> Fx<M> {
        Fx::from_fn(|k| self.0[from + k])
    }
}

/// The lane-by-lane operations of the searches' hot loops on `N` lanes:
/// [`Fx`] on any CPU, `Avx8` (8 lanes) where AVX2 runs and `Avx16` (16)
/// where AVX-512 does, one instruction each. All round every operation as
/// IEEE float32 does, so they give the same bits.
pub trait Lanes<const N: usize>: Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> {
    fn load(v: &Fx<N>) -> Self;
    fn store(self) -> Fx<N>;

    /// `nearest_int` of each lane clamped to `lo..=hi`, as a float, bit
    /// for bit also where it wraps.
    fn codes(self, range: (i32, i32)) -> Self;

    /// `codes` in float arithmetic, fewer operations: the same value for
    /// every lane below `SMALL` in magnitude, bit for bit but for a zero's
    /// sign where `lo` < 0 (and for NaN when `lo` is 0: both give 0).
    fn codes_small(self, range: (i32, i32)) -> Self;

    /// Bit k set where lane k is at least `o`'s (not for NaN).
    fn at_least(self, o: Self) -> u32;

    /// Bit k set where lane k is below `o`'s (not for NaN).
    fn below(self, o: Self) -> u32;

    /// Lane k of `new` where bit k of `mask` is set, else of `self`.
    fn select(self, mask: u32, new: Self) -> Self;

    /// |x| of each lane.
    fn abs(self) -> Self;

    /// The square root of each lane, correctly rounded as `f32::sqrt`.
    fn sqrt(self) -> Self;

    /// [`transposed`] (`Avx16` gathers, where LLVM's own code scatters).
    #[inline(always)]
    fn transposed<const S: usize>(xs: &[f32]) -> [Fx<N>; S] {
        transposed(xs)
    }
}

impl<const N: usize> Lanes<N> for Fx<N> {
    #[inline(always)]
    fn load(v: &Fx<N>) -> Fx<N> {
        *v
    }

    #[inline(always)]
    fn store(self) -> Fx<N> {
        self
    }

    #[inline(always)]
    fn codes(self, (lo, hi): (i32, i32)) -> Fx<N> {
        self.lanes(|t| nearest_int(t).clamp(lo, hi) as f32)
    }

    #[inline(always)]
    fn codes_small(self, (lo, hi): (i32, i32)) -> Fx<N> {
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
    fn at_least(self, o: Fx<N>) -> u32 {
        lane_mask(self.mask(o, |a, b| a >= b))
    }

    #[inline(always)]
    fn below(self, o: Fx<N>) -> u32 {
        lane_mask(self.mask(o, |a, b| a < b))
    }

    #[inline(always)]
    fn select(self, mask: u32, new: Fx<N>) -> Fx<N> {
        Fx::from_fn(|k| if mask >> k & 1 == 1 { new.0[k] } else { self.0[k] })
    }

    #[inline(always)]
    fn abs(self) -> Fx<N> {
        self.lanes(f32::abs)
    }

    #[inline(always)]
    fn sqrt(self) -> Fx<N> {
        self.lanes(f32::sqrt)
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use avx::{Avx8, Avx16};

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;
    use std::ops::{Add, Mul, Sub};

    use super::{F8, F16, Lanes, MAGIC};

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

    impl Lanes<8> for Avx8 {
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
        fn at_least(self, o: Avx8) -> u32 {
            // SAFETY: see Avx8.
            unsafe { _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(self.0, o.0)) as u32 }
        }

        #[inline(always)]
        fn below(self, o: Avx8) -> u32 {
            // SAFETY: see Avx8.
            unsafe { _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(self.0, o.0)) as u32 }
        }

        #[inline(always)]
        fn select(self, mask: u32, new: Avx8) -> Avx8 {
            // SAFETY: see Avx8.
            unsafe {
                // Lane k all ones where bit k of the mask is set.
                let bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
                let lanes = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(mask as i32), bits), bits);
                Avx8(_mm256_blendv_ps(self.0, new.0, _mm256_castsi256_ps(lanes)))
            }
        }

        #[inline(always)]
        fn abs(self) -> Avx8 {
            // SAFETY: see Avx8.
            Avx8(unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), self.0) })
        }

        #[inline(always)]
        fn sqrt(self) -> Avx8 {
            // SAFETY: see Avx8.
            Avx8(unsafe { _mm256_sqrt_ps(self.0) })
        }
    }

    /// [`F16`] in an AVX-512 register: as [`Avx8`], made only by the
    /// AVX-512 twin of `kquants::quantize_two`, run once `has_avx512()`
    /// said yes. The same instructions at twice the width: `vmaxps` and
    /// `vminps` compare as their AVX forms do, `vrndscaleps` with
    /// immediate 8 rounds half to even as `vroundps` does.
    #[derive(Clone, Copy)]
    pub(in super::super) struct Avx16(__m512);

    macro_rules! avx512_op {
        ($($op:ident $f:ident $intrinsic:ident),*) => {$(
            impl $op for Avx16 {
                type Output = Avx16;
                #[inline(always)]
                fn $f(self, o: Avx16) -> Avx16 {
                    // SAFETY: see Avx16.
                    Avx16(unsafe { $intrinsic(self.0, o.0) })
                }
            }
        )*};
    }
    avx512_op!(Add add _mm512_add_ps, Sub sub _mm512_sub_ps, Mul mul _mm512_mul_ps);

    impl Lanes<16> for Avx16 {
        #[inline(always)]
        fn load(v: &F16) -> Avx16 {
            // SAFETY: see Avx16; 16 floats are read.
            Avx16(unsafe { _mm512_loadu_ps(v.0.as_ptr()) })
        }

        #[inline(always)]
        fn store(self) -> F16 {
            let mut v = F16::default();
            // SAFETY: see Avx16; 16 floats are written.
            unsafe { _mm512_storeu_ps(v.0.as_mut_ptr(), self.0) };
            v
        }

        #[inline(always)]
        fn codes(self, (lo, hi): (i32, i32)) -> Avx16 {
            // SAFETY: see Avx16.
            unsafe {
                let bits = _mm512_castps_si512(_mm512_add_ps(self.0, _mm512_set1_ps(MAGIC)));
                let l = _mm512_sub_epi32(
                    _mm512_and_si512(bits, _mm512_set1_epi32(0x007f_ffff)),
                    _mm512_set1_epi32(0x0040_0000),
                );
                let l = _mm512_min_epi32(_mm512_max_epi32(l, _mm512_set1_epi32(lo)), _mm512_set1_epi32(hi));
                Avx16(_mm512_cvtepi32_ps(l))
            }
        }

        #[inline(always)]
        fn codes_small(self, (lo, hi): (i32, i32)) -> Avx16 {
            // SAFETY: see Avx16.
            unsafe {
                let r = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self.0);
                let r = _mm512_max_ps(r, _mm512_set1_ps(lo as f32));
                Avx16(_mm512_min_ps(r, _mm512_set1_ps(hi as f32)))
            }
        }

        #[inline(always)]
        fn at_least(self, o: Avx16) -> u32 {
            // SAFETY: see Avx16.
            unsafe { _mm512_cmp_ps_mask::<_CMP_GE_OQ>(self.0, o.0) as u32 }
        }

        #[inline(always)]
        fn below(self, o: Avx16) -> u32 {
            // SAFETY: see Avx16.
            unsafe { _mm512_cmp_ps_mask::<_CMP_LT_OQ>(self.0, o.0) as u32 }
        }

        #[inline(always)]
        fn select(self, mask: u32, new: Avx16) -> Avx16 {
            // SAFETY: see Avx16.
            Avx16(unsafe { _mm512_mask_blend_ps(mask as u16, self.0, new.0) })
        }

        #[inline(always)]
        fn abs(self) -> Avx16 {
            // SAFETY: see Avx16.
            Avx16(unsafe { _mm512_abs_ps(self.0) })
        }

        #[inline(always)]
        fn sqrt(self) -> Avx16 {
            // SAFETY: see Avx16.
            Avx16(unsafe { _mm512_sqrt_ps(self.0) })
        }

        #[inline(always)]
        fn transposed<const S: usize>(xs: &[f32]) -> [F16; S] {
            assert!(S.is_multiple_of(16) && xs.len() >= 16 * S);
            let mut tile = [F16::default(); S];
            for (half, tile) in tile.chunks_mut(16).enumerate() {
                // SAFETY: see Avx16; row k reads the 16 floats from
                // S·k + 16·half, within xs, and each store writes 16.
                unsafe {
                    let mut rows = [_mm512_setzero_ps(); 16];
                    for (k, row) in rows.iter_mut().enumerate() {
                        *row = _mm512_loadu_ps(xs.as_ptr().add(S * k + 16 * half));
                    }
                    for (v, column) in tile.iter_mut().zip(transpose_16(rows)) {
                        _mm512_storeu_ps(v.0.as_mut_ptr(), column);
                    }
                }
            }
            tile
        }
    }

    /// The 16×16 transpose of `rows` (column c of the rows in `out[c]`):
    /// pairs of rows interleaved by floats, then by float pairs, so that
    /// each 128-bit lane holds a 4×4 block transposed, then those lanes
    /// moved into place in two rounds; 64 shuffles.
    #[inline(always)]
    fn transpose_16(r: [__m512; 16]) -> [__m512; 16] {
        // Plain loops, no closures (see `Fx::from_fn`).
        // SAFETY: see Avx16 (register operations only).
        unsafe {
            // t[2p], t[2p + 1]: rows 2p and 2p + 1, floats 0–1 and 2–3 of
            // each lane interleaved.
            let mut t = [_mm512_setzero_ps(); 16];
            for p in 0..8 {
                t[2 * p] = _mm512_unpacklo_ps(r[2 * p], r[2 * p + 1]);
                t[2 * p + 1] = _mm512_unpackhi_ps(r[2 * p], r[2 * p + 1]);
            }
            // u[4g + j], lane L: column 4L + j of rows 4g..4g + 4.
            let mut u = [_mm512_setzero_ps(); 16];
            for g in 0..4 {
                for h in 0..2 {
                    let (a, b) = (_mm512_castps_pd(t[4 * g + h]), _mm512_castps_pd(t[4 * g + 2 + h]));
                    u[4 * g + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
                    u[4 * g + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
                }
            }
            // Column 4L + j: lanes 0, 2 (even L) or 1, 3 (odd L) of rows
            // 0–7 (v) and of rows 8–15 (w), then of those the first two
            // (L < 2) or the last two.
            let mut out = [_mm512_setzero_ps(); 16];
            for j in 0..4 {
                let v = [_mm512_shuffle_f32x4::<0x88>(u[j], u[4 + j]), _mm512_shuffle_f32x4::<0xdd>(u[j], u[4 + j])];
                let w = [
                    _mm512_shuffle_f32x4::<0x88>(u[8 + j], u[12 + j]),
                    _mm512_shuffle_f32x4::<0xdd>(u[8 + j], u[12 + j]),
                ];
                for odd in 0..2 {
                    out[4 * odd + j] = _mm512_shuffle_f32x4::<0x88>(v[odd], w[odd]);
                    out[8 + 4 * odd + j] = _mm512_shuffle_f32x4::<0xdd>(v[odd], w[odd]);
                }
            }
            out
        }
    }
}

/// Every lane's bit of a mask of `N` lanes.
const fn all_lanes<const N: usize>() -> u32 {
    (1 << N) - 1
}

/// The lane mask of `lanes`: bit k set where `lanes[k]` is.
#[inline(always)]
fn lane_mask<const N: usize>(lanes: [bool; N]) -> u32 {
    (0..N).fold(0, |bits, k| bits | (lanes[k] as u32) << k)
}

/// Value i of sub-block k of `xs` (sub-blocks of `S`) in lane k of `tile[i]`.
#[inline(always)]
pub(super) fn transposed<const S: usize, const N: usize>(xs: &[f32]) -> [Fx<N>; S] {
    let mut tile = [Fx::default(); S];
    for (i, v) in tile.iter_mut().enumerate() {
        *v = Fx::from_fn(|k| xs[S * k + i]);
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
/// values at `iscale` from `min`, and Σ w·l, Σ w·l·l, Σ w·l·x in value
/// order. (Keeping x − min between trials saves no time in 16 lanes, where
/// nearly every trial moves some lane's min.)
#[inline(always)]
fn qkx2_sums<V: Lanes<N>, const N: usize>(
    (x, w): (&[Fx<N>; SUB], &[Fx<N>; SUB]),
    (iscale, min): (Fx<N>, Fx<N>),
    l: &mut [Fx<N>; SUB],
    codes: impl Fn(V) -> V,
) -> (Fx<N>, Fx<N>, Fx<N>) {
    let (iscale, min, zero) = (V::load(&iscale), V::load(&min), V::load(&Fx::default()));
    let (mut sum_l, mut sum_l2, mut sum_xl) = (zero, zero, zero);
    for ((l, x), w) in l.iter_mut().zip(x).zip(w) {
        let (x, w) = (V::load(x), V::load(w));
        let code = codes(iscale * (x - min));
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
fn qkx2_error<V: Lanes<N>, const N: usize>(
    (x, w): (&[Fx<N>; SUB], &[Fx<N>; SUB]),
    l: &[Fx<N>; SUB],
    (scale, min): (Fx<N>, Fx<N>),
    (best, unfit): (&Fx<N>, u32),
) -> Fx<N> {
    let (scale, min) = (V::load(&scale), V::load(&min));
    let mut error = V::load(&Fx::default());
    for ((l, x), w) in l.chunks(8).zip(x.chunks(8)).zip(w.chunks(8)) {
        for ((l, x), w) in l.iter().zip(x).zip(w) {
            let diff = scale * V::load(l) + min - V::load(x);
            error = error + V::load(w) * (diff * diff);
        }
        if error.at_least(V::load(best)) | unfit == all_lanes::<N>() {
            break;
        }
    }
    error.store()
}

/// ggml's `make_qkx2_quants` with `use_mad = false` of `N` Q4_K
/// sub-blocks, one per lane (`x[i]` holds value i of each; 8 make a
/// super-block): the weighted least-squares fit x ≈ scale·l − the_min
/// (the_min ≥ 0) over a few trial scales; returns the choice per
/// sub-block, whose codes are rounded only when asked for
/// (`Qkx2Choice::codes`).
///
/// A trial's scale depends on the best fit so far, so a lane's trials stay
/// in order. Instead of each better trial's codes a lane keeps the scale
/// and offset they were rounded with, to round them again when asked, the
/// same operations. Shortcut that cannot change the result: as the error's
/// terms are never negative, a trial's error sum stops once every lane
/// has reached its best (or cannot fit).
#[inline(always)]
pub(super) fn make_qkx2_quants<V: Lanes<N>, const N: usize>(
    s: &ScaleSearch,
    x: &[Fx<N>; SUB],
    w: &[Fx<N>; SUB],
) -> Qkx2Choice<N> {
    let splat = |v: f32| V::load(&Fx::splat(v));
    let (mut min, mut max) = (V::load(&x[0]), V::load(&x[0]));
    let (mut sum_w, mut sum_x) = (V::load(&w[0]), V::load(&w[0]) * V::load(&x[0]));
    for (x, w) in x.iter().zip(w).skip(1) {
        let (x, w) = (V::load(x), V::load(w));
        min = min.select(x.below(min), x);
        max = max.select(max.below(x), x);
        sum_w = sum_w + w;
        sum_x = sum_x + w * x;
    }
    let (sum_w, sum_x, lowest) = (sum_w.store(), sum_x.store(), min.store());
    min = min.select(splat(0.0).below(min), splat(0.0));
    // A flat sub-block gives (0, -min) and codes 0: its lane's search runs
    // on 1/0 (codes 0, det 0: never a fit) and is set aside.
    let flat = max.at_least(min) & min.at_least(max);
    let (mut min, max) = (min.store(), max.store());
    let flat_min = min;
    let range = (0, s.nmax);
    let nmax = s.nmax as f32;
    let mut iscale = Fx::splat(nmax) / (max - min);
    let mut scale = Fx::splat(1.0) / iscale;
    let mut best_error = V::load(&Fx::default());
    for (x, w) in x.iter().zip(w) {
        let (x, w, min) = (V::load(x), V::load(w), V::load(&min));
        let diff = V::load(&scale) * (V::load(&iscale) * (x - min)).codes(range) + min - x;
        best_error = best_error + w * (diff * diff);
    }
    let mut best_error = best_error.store();
    // The scale and offset the best codes were rounded with.
    let (mut code_iscale, mut code_min) = (iscale, min);
    let mut l = [Fx::default(); SUB];
    for is in 0..=s.nstep {
        iscale = Fx::splat(s.rmin + s.rdelta * is as f32 + nmax) / (max - min);
        // Every scaled value lies between those of the lowest and the
        // highest (rounding is monotonic): are they small?
        let (scaled, from) = (V::load(&iscale), V::load(&min));
        let ends = [scaled * (V::load(&lowest) - from), scaled * (V::load(&max) - from)];
        let small = ends.iter().fold(flat, |m, &e| m | (e.below(splat(SMALL)) & splat(-SMALL).below(e)));
        let small = small == all_lanes::<N>();
        let (sum_l, sum_l2, sum_xl) = if small {
            qkx2_sums::<V, N>((x, w), (iscale, min), &mut l, |t| t.codes_small(range))
        } else {
            qkx2_sums::<V, N>((x, w), (iscale, min), &mut l, |t| t.codes(range))
        };
        let det = sum_w * sum_l2 - sum_l * sum_l;
        let this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
        let this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        let clamped = sum_xl / sum_l2;
        let positive_min = splat(0.0).below(V::load(&this_min));
        let this_scale = V::load(&this_scale).select(positive_min, V::load(&clamped)).store();
        let this_min = V::load(&this_min).select(positive_min, splat(0.0)).store();
        let unfit = !splat(0.0).below(V::load(&det)) & all_lanes::<N>();
        let cur_error = qkx2_error::<V, N>((x, w), &l, (this_scale, this_min), (&best_error, unfit));
        let better = V::load(&cur_error).below(V::load(&best_error)) & !unfit;
        if better != 0 {
            let pick = |old: Fx<N>, new: Fx<N>| V::load(&old).select(better, V::load(&new)).store();
            best_error = pick(best_error, cur_error);
            scale = pick(scale, this_scale);
            code_iscale = pick(code_iscale, iscale);
            code_min = pick(code_min, min);
            min = pick(min, this_min);
        }
    }
    for k in (0..N).filter(|&k| flat >> k & 1 == 1) {
        (scale.0[k], min.0[k]) = (0.0, flat_min.0[k]);
    }
    Qkx2Choice { scale, the_min: min.lanes(|m| -m), code_iscale, code_min, flat, nmax: s.nmax }
}

/// What `make_qkx2_quants` chose for `N` sub-blocks.
#[derive(Clone, Copy)]
pub(super) struct Qkx2Choice<const N: usize> {
    /// x ≈ scale·l − the_min.
    pub scale: Fx<N>,
    pub the_min: Fx<N>,
    /// The scale and offset the best trial's codes were rounded with.
    code_iscale: Fx<N>,
    code_min: Fx<N>,
    /// Bit k set where sub-block k is flat (codes 0).
    flat: u32,
    nmax: i32,
}

impl<const N: usize> Qkx2Choice<N> {
    /// The codes of sub-block `k` (its 32 values `xs`), as the best trial
    /// rounded them: `nearest_int` clamped, one value at a time (the
    /// lanes' `codes` give the same bits). Q4_K needs them only for a
    /// sub-block whose final step is zero; it requantizes the others.
    pub(super) fn codes(&self, k: usize, xs: &[f32], out: &mut [u8]) {
        let (iscale, min) = (self.code_iscale.0[k], self.code_min.0[k]);
        for (o, &x) in out.iter_mut().zip(xs) {
            let l = nearest_int(iscale * (x - min)).clamp(0, self.nmax);
            *o = if self.flat >> k & 1 == 1 { 0 } else { l as u8 };
        }
    }
}

/// The values of a Q6_K sub-block.
pub(super) const SUB6: usize = 16;

/// A trial of `make_qx_quants` in each lane of each of `T` tiles: Σ w·x·l
/// and Σ w·l·l in value order, `wx` holding w·x = (x·x)·x. The tiles'
/// sums are independent chains, side by side in one loop so that one
/// tile's additions wait less on the last. |iscale·x| is at most about
/// nmax + 1, so `codes_small` is `nearest_int`'s.
#[inline(always)]
fn qx_sums<V: Lanes<N>, const N: usize, const T: usize>(
    iscale: &[Fx<N>; T],
    tiles: &[QxTile<N>; T],
    range: (i32, i32),
) -> [(Fx<N>, Fx<N>); T] {
    // Plain loops, no array `map` or `from_fn` (see `Fx::from_fn`).
    let zero = V::load(&Fx::default());
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
    let mut sums = [(Fx::default(), Fx::default()); T];
    for t in 0..T {
        sums[t] = (sumlx[t].store(), suml2[t].store());
    }
    sums
}

/// `N` sub-blocks of 16 side by side (`x[i]` holds value i of each), with
/// the weights w = x² and w·x of `make_qx_quants`.
pub(super) struct QxTile<const N: usize> {
    x: [Fx<N>; SUB6],
    w: [Fx<N>; SUB6],
    wx: [Fx<N>; SUB6],
}

impl<const N: usize> QxTile<N> {
    #[inline(always)]
    pub(super) fn new(x: [Fx<N>; SUB6]) -> QxTile<N> {
        let mut tile = QxTile { x, w: [Fx::default(); SUB6], wx: [Fx::default(); SUB6] };
        for ((w, wx), &x) in tile.w.iter_mut().zip(&mut tile.wx).zip(&x) {
            *w = x * x;
            *wx = *w * x;
        }
        tile
    }
}

/// ggml's `make_qx_quants` with `rmse_type = 1` and no weights (w = x²) of
/// `T` tiles of `N` sub-blocks of 16, one per lane: codes l + nmax for l in
/// -nmax..nmax, the best of 19 trial scales by weighted least squares;
/// returns each tile's choice (x ≈ scale·l). The trials do not depend on
/// one another, only the choice among them; a lane keeps the best trial's
/// scale, and its codes are rounded only when asked for (`QxChoice::codes`).
/// The values must be finite.
#[inline(always)]
pub(super) fn make_qx_quants<V: Lanes<N>, const N: usize, const T: usize>(
    nmax: i32,
    tiles: &[QxTile<N>; T],
) -> [QxChoice<N>; T] {
    let (mut max, mut amax) = ([Fx::default(); T], [Fx::default(); T]);
    for t in 0..T {
        // Selects, not branches: LLVM makes them vector blends.
        for &x in &tiles[t].x {
            let a = x.lanes(f32::abs);
            max[t] = Fx::from_fn(|k| if a.0[k] > amax[t].0[k] { x.0[k] } else { max[t].0[k] });
            amax[t] = Fx::from_fn(|k| if a.0[k] > amax[t].0[k] { a.0[k] } else { amax[t].0[k] });
        }
    }
    let range = (-nmax, nmax - 1);
    let scales_at = |is: i32| {
        let mut iscale = [Fx::default(); T];
        for t in 0..T {
            iscale[t] = Fx::splat(-(nmax as f32 + 0.1 * is as f32)) / max[t];
        }
        iscale
    };
    let mut best_iscale = scales_at(0);
    let sums = qx_sums::<V, N, T>(&best_iscale, tiles, range);
    let (mut scale, mut best) = ([Fx::default(); T], [Fx::default(); T]);
    for t in 0..T {
        let (sumlx, suml2) = sums[t];
        scale[t] = Fx::from_fn(|k| if suml2.0[k] != 0.0 { sumlx.0[k] / suml2.0[k] } else { 0.0 });
        best[t] = scale[t] * sumlx;
    }
    for is in (-9..=9).filter(|&is| is != 0) {
        let iscale = scales_at(is);
        let sums = qx_sums::<V, N, T>(&iscale, tiles, range);
        for t in 0..T {
            let (sumlx, suml2) = sums[t];
            let (this_scale, gain) = (sumlx / suml2, sumlx * sumlx);
            let bound = best[t] * suml2;
            // suml2 > 0 and gain > bound, in lane operations.
            let zero = V::load(&Fx::default());
            let better = zero.below(V::load(&suml2)) & V::load(&bound).below(V::load(&gain));
            let pick = |old: Fx<N>, new: Fx<N>| V::load(&old).select(better, V::load(&new)).store();
            best_iscale[t] = pick(best_iscale[t], iscale[t]);
            scale[t] = pick(scale[t], this_scale);
            best[t] = pick(best[t], scale[t] * sumlx);
        }
    }
    let mut chosen = [QxChoice { scale: Fx::default(), iscale: Fx::default(), zero: [false; N], nmax }; T];
    for t in 0..T {
        // A lane of |x| below GROUP_MAX_EPS has codes 0 and scale 0 (its
        // search ran on 1/0 and is set aside).
        let zero = amax[t].mask(Fx::splat(GROUP_MAX_EPS), |a, eps| a < eps);
        let scale = Fx::from_fn(|k| if zero[k] { 0.0 } else { scale[t].0[k] });
        chosen[t] = QxChoice { scale, iscale: best_iscale[t], zero, nmax };
    }
    chosen
}

/// What `make_qx_quants` chose for the `N` sub-blocks of a tile.
#[derive(Clone, Copy)]
pub(super) struct QxChoice<const N: usize> {
    pub scale: Fx<N>,
    /// The trial's 1/scale, which the codes are rounded with.
    iscale: Fx<N>,
    /// Sub-blocks of |x| below `GROUP_MAX_EPS`: codes 0.
    zero: [bool; N],
    nmax: i32,
}

impl<const N: usize> QxChoice<N> {
    /// The codes of sub-block `k` of `tile` (16 values), as the search's
    /// best trial rounds them: `nearest_int` clamped, one value at a time
    /// (the lanes' `codes` give the same bits). Q6_K needs them only for
    /// a sub-block whose final step is zero; it requantizes the others.
    pub(super) fn codes(&self, tile: &QxTile<N>, k: usize, out: &mut [u8]) {
        let nmax = self.nmax;
        for (o, x) in out.iter_mut().zip(&tile.x) {
            let l = nearest_int(self.iscale.0[k] * x.0[k]).clamp(-nmax, nmax - 1);
            *o = if self.zero[k] { 0 } else { (l + nmax) as u8 };
        }
    }
}
