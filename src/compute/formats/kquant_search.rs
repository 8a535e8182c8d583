//! The scale searches of Q4_K and Q6_K (`make_qkx2_quants`,
//! `make_qx_quants`) for several sub-blocks at once, sub-block k in lane
//! k: each lane does the scalar search's float operations in its order,
//! so no sum within a sub-block is reordered and the bits are ggml's. The
//! hot loops are generic over [`Lanes`]: 8 lanes in `Avx8` (one AVX
//! instruction per operation; LLVM's own vectorizing of the 8-lane arrays
//! split them into 4- and 2-wide pieces) where AVX2 runs, 16 lanes (two
//! super-blocks) in `Avx16` where AVX-512 runs, the [`Fx`] arrays
//! elsewhere: the same code and the same bits (see `compute::has_avx2`).

use super::lanes::{Fx, Lanes, SMALL, all_lanes};
use super::{GROUP_MAX_EPS, nearest_int};

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
        let below_small = |e: V| e.below(splat(SMALL)) & splat(-SMALL).below(e);
        let small = (flat | (below_small(ends[0]) & below_small(ends[1]))) == all_lanes::<N>();
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
