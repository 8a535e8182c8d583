//! The lanes of the K-quant searches (`kquant_search.rs`): one f32 of
//! each of N sub-blocks side by side, in plain arrays ([`Fx`]) on any CPU,
//! in AVX registers (`Avx8`, 8 lanes) where AVX2 runs and in AVX-512 ones
//! (`Avx16`, 16 lanes) where AVX-512F does. Every operation rounds as
//! IEEE float32 does, so each gives the same bits (see `compute::has_avx2`).

use std::ops::{Add, Div, Mul, Sub};

use super::nearest_int;

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
pub(super) const SMALL: f32 = 2097152.0;

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
    pub(super) fn lanes(self, f: impl Fn(f32) -> f32) -> Fx<N> {
        Fx::from_fn(|k| f(self.0[k]))
    }

    #[inline(always)]
    pub(super) fn mask(self, o: Fx<N>, f: impl Fn(f32, f32) -> bool) -> [bool; N] {
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

    /// [`transposed`] (`Avx16` shuffles, where LLVM's own code scatters).
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
pub(super) const fn all_lanes<const N: usize>() -> u32 {
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
