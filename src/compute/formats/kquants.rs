//! llama.cpp's super-block formats of 256 values: Q4_K and Q6_K (K-quants)
//! and the ternary TQ2_0, as `ggml-quants.c`'s `quantize_row_*_ref`
//! compute them, operation for operation in float32 (Rust does not fuse
//! multiply-adds, so neither the search nor the sums drift from an
//! unfused build). x̂ is what the format's dequantizer (ggml's and
//! gguf-py's) computes from the stored block.

use std::marker::PhantomData;

use super::llama::{inverse, push_f16};
use super::{Grouping, NumberFormat, Packed, Quantized, TensorFacts, through_f16, whole_blocks};
use crate::compute::quant::{InvalidSetting, QuantConfig};

/// Values per super-block.
pub const QK_K: usize = 256;

/// ggml's `GROUP_MAX_EPS`: below it a group counts as all zero.
const GROUP_MAX_EPS: f32 = 1e-15;

/// Most sub-blocks of a super-block (Q6_K's 16 of 16 values).
const MAX_SUBS: usize = 16;

/// ggml's `nearest_int`: adding 1.5·2^23 leaves round-half-to-even of `x`
/// in the low mantissa bits. Kept bit for bit, also where it wraps (beyond
/// 2^22), so out-of-range inputs give the C's codes too.
#[inline]
fn nearest_int(x: f32) -> i32 {
    let bits = (x + 12582912.0f32).to_bits() as i32;
    (bits & 0x007f_ffff) - 0x0040_0000
}

/// A quantized super-block as the pipeline needs it: each value's code,
/// whether its codes could not reach it, and per sub-block the step and
/// offset of x̂ = step·(code − zero) − offset, the dequantizers' formula.
pub struct Coded {
    codes: [u8; QK_K],
    clipped: [bool; QK_K],
    sub_len: usize,
    zero: i32,
    step: [f32; MAX_SUBS],
    offset: [f32; MAX_SUBS],
}

impl Coded {
    fn new(codes: [u8; QK_K], sub_len: usize, zero: i32) -> Self {
        Coded { codes, clipped: [false; QK_K], sub_len, zero, step: [0.0; MAX_SUBS], offset: [0.0; MAX_SUBS] }
    }

    #[inline]
    fn level(&self, sub: usize, code: i32) -> f32 {
        level(self.step[sub], self.offset[sub], code - self.zero)
    }

    /// Sets sub-block `sub`'s step and offset and, unless the step is
    /// zero, requantizes its values with `code_of`, clamped to `range`. A
    /// zero step is ggml's `if (!d) continue`: the codes of the first fit
    /// stay, and every value but the one level they decode to is out of reach.
    #[inline(always)]
    fn requantize(
        &mut self,
        sub: usize,
        (step, offset): (f32, f32),
        xs: &[f32],
        (lo, hi): (i32, i32),
        code_of: impl Fn(f32) -> i32,
    ) {
        (self.step[sub], self.offset[sub]) = (step, offset);
        let span = sub * self.sub_len..(sub + 1) * self.sub_len;
        let (xs, codes, clipped) = (&xs[span.clone()], &mut self.codes[span.clone()], &mut self.clipped[span]);
        let zero = self.zero;
        if step == 0.0 {
            for ((&x, &c), clip) in xs.iter().zip(&*codes).zip(clipped) {
                *clip = level(step, offset, c as i32 - zero) != x;
            }
            return;
        }
        for ((&x, c), clip) in xs.iter().zip(codes).zip(clipped) {
            let l = code_of(x);
            *c = (l.clamp(lo, hi) + zero) as u8;
            *clip = l < lo || l > hi;
        }
    }

    /// x̂, the codes and whether each was out of reach, into `out`.
    fn write(&self, out: Quantized<'_>) {
        let subs = out.xhat.chunks_mut(self.sub_len).zip(self.codes.chunks(self.sub_len));
        for (sub, (xhat, codes)) in subs.enumerate() {
            for (xh, &c) in xhat.iter_mut().zip(codes) {
                *xh = self.level(sub, c as i32);
            }
        }
        for (o, &c) in out.codes.iter_mut().zip(&self.codes) {
            *o = c as u16;
        }
        out.clipped.copy_from_slice(&self.clipped[..out.clipped.len()]);
    }
}

/// The dequantizers' x̂ = step·q − offset of a code q less the zero point.
#[inline(always)]
fn level(step: f32, offset: f32, q: i32) -> f32 {
    step * q as f32 - offset
}

/// One super-block format: its quantizer, stored fields and GGUF layout.
pub trait SuperBlock: Sized {
    const BITS: u32;
    /// The codes the quantizer can give (TQ2_0 never uses its fourth).
    const CODES: i32;
    /// Bytes of one GGUF block.
    const BYTES: usize;
    /// Inlined into the free `quantize`, which compiles it twice.
    fn quantize(xs: &[f32]) -> Self;
    fn coded(&self) -> &Coded;
    fn params(&self) -> Vec<(&'static str, f64)>;
    fn pack(&self, out: &mut Vec<u8>);
}

pub struct KQuant<B> {
    name: &'static str,
    ggml: &'static str,
    summary: &'static str,
    block: PhantomData<fn() -> B>,
}

pub const Q4_K: KQuant<Q4K> = KQuant {
    name: "q4_k",
    ggml: "GGML_TYPE_Q4_K",
    summary: "llama.cpp Q4_K: super-blocks of 256 in 8 sub-blocks of 32, 4-bit codes, 6-bit scales and mins, fp16 d and dmin",
    block: PhantomData,
};
pub const Q6_K: KQuant<Q6K> = KQuant {
    name: "q6_k",
    ggml: "GGML_TYPE_Q6_K",
    summary: "llama.cpp Q6_K: super-blocks of 256 in 16 sub-blocks of 16, 6-bit codes, int8 scales, fp16 d",
    block: PhantomData,
};
pub const TQ2_0: KQuant<Tq2> = KQuant {
    name: "tq2_0",
    ggml: "GGML_TYPE_TQ2_0",
    summary: "llama.cpp TQ2_0: ternary blocks of 256 (-d, 0, d) in 2-bit codes, fp16 d = amax",
    block: PhantomData,
};

impl<B: SuperBlock> NumberFormat for KQuant<B> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn summary(&self) -> &'static str {
        self.summary
    }

    fn settings(&self) -> &'static [&'static str] {
        &[]
    }

    fn check(&self, _cfg: &QuantConfig, cols: Option<usize>) -> Result<(), InvalidSetting> {
        whole_blocks("quant.format", QK_K, cols, self.name)
    }

    fn grouping(&self, _cfg: &QuantConfig) -> Grouping {
        Grouping::Groups(QK_K)
    }

    fn code_bits(&self, _cfg: &QuantConfig) -> u32 {
        B::BITS
    }

    fn bits_per_weight(&self, _cfg: &QuantConfig, _rows: usize, _cols: usize) -> f64 {
        (B::BYTES * 8) as f64 / QK_K as f64
    }

    fn quantize(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32], out: Quantized<'_>) {
        quantize::<B>(xs).coded().write(out);
    }

    fn levels(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<f32> {
        let block = quantize::<B>(xs);
        let coded = block.coded();
        let subs = QK_K / coded.sub_len;
        let mut levels: Vec<f32> = (0..subs).flat_map(|s| (0..B::CODES).map(move |c| coded.level(s, c))).collect();
        levels.sort_by(f32::total_cmp);
        levels.dedup();
        levels
    }

    fn params(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<(&'static str, f64)> {
        quantize::<B>(xs).params()
    }

    fn ecosystem(&self, _cfg: &QuantConfig) -> String {
        self.ggml.into()
    }

    fn pack(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32], out: &mut Packed) -> bool {
        let out = out.blocks();
        quantize::<B>(xs).pack(out);
        true
    }
}

/// `B::quantize`, twice as wide on AVX2 (same bits: see `compute::has_avx2`).
fn quantize<B: SuperBlock>(xs: &[f32]) -> B {
    #[cfg(target_arch = "x86_64")]
    if crate::compute::has_avx2() {
        #[target_feature(enable = "avx2")]
        fn avx2<B: SuperBlock>(xs: &[f32]) -> B {
            B::quantize(xs)
        }
        // SAFETY: the CPU has AVX2.
        return unsafe { avx2::<B>(xs) };
    }
    B::quantize(xs)
}

/// Sub-blocks searched side by side, sub-block k of a tile in lane k: each
/// lane does the scalar search's float operations in its order, so the
/// sums within a sub-block are not reordered (and the loops over the
/// lanes become one AVX2 instruction each, same bits: see
/// `compute::has_avx2`).
const LANES: usize = 8;

/// One f32 of each of the `LANES` sub-blocks.
type Lanes = [f32; LANES];

#[inline(always)]
fn lanes(f: impl FnMut(usize) -> f32) -> Lanes {
    std::array::from_fn(f)
}

/// Value i of sub-block k of `xs` (sub-blocks of `N`) in `tile[i][k]`.
#[inline(always)]
fn transposed<const N: usize>(xs: &[f32]) -> [Lanes; N] {
    std::array::from_fn(|i| lanes(|k| xs[N * k + i]))
}

/// `nearest_int(t)` clamped to `lo..=hi`, as a float: the code of a value.
#[inline(always)]
fn code_of(t: f32, (lo, hi): (i32, i32)) -> f32 {
    nearest_int(t).clamp(lo, hi) as f32
}

/// The search of `make_qkx2_quants`: codes 0..=nmax, and the scales tried
/// at (rmin + rdelta·is + nmax) / (max − min) for is in 0..=nstep.
struct ScaleSearch {
    nmax: i32,
    rmin: f32,
    rdelta: f32,
    nstep: i32,
}

/// `quantize_row_q4_K_ref`'s call: `make_qkx2_quants(32, 15, …, -1.f, 0.1f, 20, false)`.
const Q4_K_SEARCH: ScaleSearch = ScaleSearch { nmax: 15, rmin: -1.0, rdelta: 0.1, nstep: 20 };

/// The values of a Q4_K sub-block.
const SUB: usize = 32;

/// ggml's `make_qkx2_quants` with `use_mad = false` of the 8 sub-blocks
/// of a Q4_K super-block, one per lane (`x[i][k]` is value i of sub-block
/// k): the weighted least-squares fit x ≈ scale·l − the_min (the_min ≥ 0)
/// over a few trial scales; writes the codes l of sub-block k to
/// `codes[SUB·k..]` and returns (scale, the_min) per sub-block.
///
/// A trial's scale depends on the best fit so far, so the trials of a
/// lane stay in order. Instead of each best trial's codes, a lane keeps
/// the scale and offset they were rounded with and rounds once at the
/// end, the same operations. Shortcut that cannot change the result: as
/// the error's terms are never negative, a trial's error sum stops once
/// every lane has reached its best (or cannot fit).
#[inline(always)]
fn make_qkx2_quants(s: &ScaleSearch, x: &[Lanes; SUB], w: &[Lanes; SUB], codes: &mut [u8; QK_K]) -> (Lanes, Lanes) {
    let (mut min, mut max, mut sum_w) = (x[0], x[0], w[0]);
    let mut sum_x = lanes(|k| w[0][k] * x[0][k]);
    for (x, w) in x.iter().zip(w).skip(1) {
        for k in 0..LANES {
            if x[k] < min[k] {
                min[k] = x[k];
            }
            if x[k] > max[k] {
                max[k] = x[k];
            }
            sum_w[k] += w[k];
            sum_x[k] += w[k] * x[k];
        }
    }
    for m in &mut min {
        if *m > 0.0 {
            *m = 0.0;
        }
    }
    // A flat sub-block gives (0, -min) and codes 0: its lane's search runs
    // on (1/0 = inf, codes 0, det 0, never a fit) and is ignored.
    let flat: [bool; LANES] = std::array::from_fn(|k| max[k] == min[k]);
    let flat_min = min;
    let range = (0, s.nmax);
    let nmax = s.nmax as f32;
    let mut iscale = lanes(|k| nmax / (max[k] - min[k]));
    let mut scale = lanes(|k| 1.0 / iscale[k]);
    let mut best_error = [0f32; LANES];
    for (x, w) in x.iter().zip(w) {
        for k in 0..LANES {
            let l = code_of(iscale[k] * (x[k] - min[k]), range);
            let diff = scale[k] * l + min[k] - x[k];
            best_error[k] += w[k] * (diff * diff);
        }
    }
    // The scale and offset the best codes were rounded with.
    let (mut code_iscale, mut code_min) = (iscale, min);
    let mut l = [[0f32; LANES]; SUB];
    for is in 0..=s.nstep {
        let trial = s.rmin + s.rdelta * is as f32 + nmax;
        iscale = lanes(|k| trial / (max[k] - min[k]));
        let (mut sum_l, mut sum_l2, mut sum_xl) = ([0f32; LANES], [0f32; LANES], [0f32; LANES]);
        for ((l, x), w) in l.iter_mut().zip(x).zip(w) {
            for k in 0..LANES {
                l[k] = code_of(iscale[k] * (x[k] - min[k]), range);
                let wl = w[k] * l[k];
                sum_l[k] += wl;
                sum_l2[k] += wl * l[k];
                sum_xl[k] += wl * x[k];
            }
        }
        let det = lanes(|k| sum_w[k] * sum_l2[k] - sum_l[k] * sum_l[k]);
        let mut this_scale = lanes(|k| (sum_w[k] * sum_xl[k] - sum_x[k] * sum_l[k]) / det[k]);
        let mut this_min = lanes(|k| (sum_l2[k] * sum_x[k] - sum_l[k] * sum_xl[k]) / det[k]);
        for k in 0..LANES {
            if this_min[k] > 0.0 {
                this_min[k] = 0.0;
                this_scale[k] = sum_xl[k] / sum_l2[k];
            }
        }
        let mut cur_error = [0f32; LANES];
        for ((l, x), w) in l.chunks(8).zip(x.chunks(8)).zip(w.chunks(8)) {
            for ((l, x), w) in l.iter().zip(x).zip(w) {
                for k in 0..LANES {
                    let diff = this_scale[k] * l[k] + this_min[k] - x[k];
                    cur_error[k] += w[k] * (diff * diff);
                }
            }
            if (0..LANES).all(|k| !(det[k] > 0.0) || cur_error[k] >= best_error[k]) {
                break;
            }
        }
        for k in 0..LANES {
            if det[k] > 0.0 && cur_error[k] < best_error[k] {
                best_error[k] = cur_error[k];
                scale[k] = this_scale[k];
                (code_iscale[k], code_min[k]) = (iscale[k], min[k]);
                min[k] = this_min[k];
            }
        }
    }
    for (i, x) in x.iter().enumerate() {
        for k in 0..LANES {
            let l = if flat[k] { 0.0 } else { code_of(code_iscale[k] * (x[k] - code_min[k]), range) };
            codes[SUB * k + i] = l as u8;
        }
    }
    for k in 0..LANES {
        if flat[k] {
            (scale[k], min[k]) = (0.0, flat_min[k]);
        }
    }
    (scale, lanes(|k| -min[k]))
}

/// Q4_K: d, dmin and per sub-block of 32 the 6-bit scale `sc` and min `m`:
/// x̂ = (d·sc)·q − dmin·m.
pub struct Q4K {
    coded: Coded,
    d: f32,
    dmin: f32,
    sc: [u8; 8],
    m: [u8; 8],
}

impl SuperBlock for Q4K {
    const BITS: u32 = 4;
    const CODES: i32 = 16;
    /// d, dmin, scales[12], qs[128].
    const BYTES: usize = 2 + 2 + 12 + QK_K / 2;

    #[inline(always)]
    fn quantize(xs: &[f32]) -> Self {
        let x: [Lanes; SUB] = transposed(xs);
        let mut sum_x2 = [0f32; LANES];
        for x in &x {
            for k in 0..LANES {
                sum_x2[k] += x[k] * x[k];
            }
        }
        let av_x = lanes(|k| (sum_x2[k] / 32.0).sqrt());
        let weights = x.map(|x| lanes(|k| av_x[k] + x[k].abs()));
        let mut codes = [0u8; QK_K];
        let (scales, mins) = make_qkx2_quants(&Q4_K_SEARCH, &x, &weights, &mut codes);
        let (mut max_scale, mut max_min) = (0f32, 0f32);
        for j in 0..8 {
            if scales[j] > max_scale {
                max_scale = scales[j];
            }
            if mins[j] > max_min {
                max_min = mins[j];
            }
        }
        let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
        let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
        // `uint8_t ls = nearest_int(…)` wraps as `as u8` does.
        let sc = std::array::from_fn(|j| (nearest_int(inv_scale * scales[j]) as u8).min(63));
        let m = std::array::from_fn(|j| (nearest_int(inv_min * mins[j]) as u8).min(63));
        let (d, dmin) = (through_f16(max_scale / 63.0), through_f16(max_min / 63.0));
        let mut coded = Coded::new(codes, 32, 0);
        for j in 0..8 {
            let (step, offset) = (d * sc[j] as f32, dmin * m[j] as f32);
            coded.requantize(j, (step, offset), xs, (0, 15), |x| nearest_int((x + offset) / step));
        }
        Q4K { coded, d, dmin, sc, m }
    }

    fn coded(&self) -> &Coded {
        &self.coded
    }

    fn params(&self) -> Vec<(&'static str, f64)> {
        let mut params = vec![("d", self.d as f64), ("dmin", self.dmin as f64)];
        params.extend(["sc0", "sc1", "sc2", "sc3"].into_iter().zip(self.sc.map(f64::from)));
        params.extend(["m0", "m1", "m2", "m3"].into_iter().zip(self.m.map(f64::from)));
        params
    }

    /// `block_q4_K`: d, dmin, the 6-bit scales and mins in
    /// `get_scale_min_k4`'s 12 bytes, then value j + l of each 64 in the
    /// low nibble of byte l, value j + 32 + l in the high one.
    fn pack(&self, out: &mut Vec<u8>) {
        push_f16(out, self.d);
        push_f16(out, self.dmin);
        let mut scales = [0u8; 12];
        for j in 0..8 {
            let (ls, lm) = (self.sc[j], self.m[j]);
            if j < 4 {
                scales[j] = ls;
                scales[j + 4] = lm;
            } else {
                scales[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
                scales[j - 4] |= (ls >> 4) << 6;
                scales[j] |= (lm >> 4) << 6;
            }
        }
        out.extend_from_slice(&scales);
        for half in self.coded.codes.chunks(64) {
            let (low, high) = half.split_at(32);
            out.extend(low.iter().zip(high).map(|(l, h)| l | (h << 4)));
        }
    }
}

/// The values of a Q6_K sub-block.
const SUB6: usize = 16;

/// ggml's `make_qx_quants` with `rmse_type = 1` and no weights (w = x²) of
/// 8 sub-blocks of 16, one per lane (`x[i][k]` is value i of sub-block k):
/// codes l + nmax for l in -nmax..nmax, the best of 19 trial scales by
/// weighted least squares; writes the codes of sub-block k to
/// `codes[SUB6·k..]` and returns the scales (x ≈ scale·l). The trials do
/// not depend on one another, only the choice among them; a lane keeps
/// the best trial's scale and rounds its codes once at the end.
#[inline(always)]
fn make_qx_quants(nmax: i32, x: &[Lanes; SUB6], codes: &mut [u8]) -> Lanes {
    let (mut max, mut amax) = ([0f32; LANES], [0f32; LANES]);
    for x in x {
        for k in 0..LANES {
            if x[k].abs() > amax[k] {
                (amax[k], max[k]) = (x[k].abs(), x[k]);
            }
        }
    }
    let range = (-nmax, nmax - 1);
    // sumlx adds w·x·l = ((x·x)·x)·l, suml2 w·l·l = ((x·x)·l)·l.
    let w = x.map(|x| lanes(|k| x[k] * x[k]));
    let wx = std::array::from_fn::<Lanes, SUB6, _>(|i| lanes(|k| w[i][k] * x[i][k]));
    let sums = |iscale: &Lanes| {
        let (mut sumlx, mut suml2) = ([0f32; LANES], [0f32; LANES]);
        for i in 0..SUB6 {
            for k in 0..LANES {
                let l = code_of(iscale[k] * x[i][k], range);
                sumlx[k] += wx[i][k] * l;
                suml2[k] += w[i][k] * l * l;
            }
        }
        (sumlx, suml2)
    };
    let mut best_iscale = lanes(|k| -(nmax as f32) / max[k]);
    let (sumlx, suml2) = sums(&best_iscale);
    let mut scale = lanes(|k| if suml2[k] != 0.0 { sumlx[k] / suml2[k] } else { 0.0 });
    let mut best = lanes(|k| scale[k] * sumlx[k]);
    for is in (-9..=9).filter(|&is| is != 0) {
        let iscale = lanes(|k| -(nmax as f32 + 0.1 * is as f32) / max[k]);
        let (sumlx, suml2) = sums(&iscale);
        for k in 0..LANES {
            if suml2[k] > 0.0 && sumlx[k] * sumlx[k] > best[k] * suml2[k] {
                best_iscale[k] = iscale[k];
                scale[k] = sumlx[k] / suml2[k];
                best[k] = scale[k] * sumlx[k];
            }
        }
    }
    // A lane of |x| below GROUP_MAX_EPS has codes 0 and scale 0 (its
    // search ran on 1/0 and is ignored).
    let zero: [bool; LANES] = std::array::from_fn(|k| amax[k] < GROUP_MAX_EPS);
    for (i, x) in x.iter().enumerate() {
        for k in 0..LANES {
            let l = code_of(best_iscale[k] * x[k], range) as i32 + nmax;
            codes[SUB6 * k + i] = if zero[k] { 0 } else { l as u8 };
        }
    }
    lanes(|k| if zero[k] { 0.0 } else { scale[k] })
}

/// Q6_K: d and per sub-block of 16 an int8 scale: x̂ = (d·scale)·(q − 32).
pub struct Q6K {
    coded: Coded,
    d: f32,
    scales: [i8; 16],
}

impl SuperBlock for Q6K {
    const BITS: u32 = 6;
    const CODES: i32 = 64;
    /// ql[128], qh[64], scales[16], d.
    const BYTES: usize = QK_K / 2 + QK_K / 4 + QK_K / 16 + 2;

    #[inline(always)]
    fn quantize(xs: &[f32]) -> Self {
        let mut codes = [0u8; QK_K];
        let mut sub_scales = [0f32; 16];
        let (mut max_scale, mut max_abs_scale) = (0f32, 0f32);
        for (tile, (scales, codes)) in sub_scales.chunks_mut(LANES).zip(codes.chunks_mut(LANES * SUB6)).enumerate() {
            let x = transposed::<SUB6>(&xs[LANES * SUB6 * tile..]);
            scales.copy_from_slice(&make_qx_quants(32, &x, codes));
        }
        for sub_scale in &sub_scales {
            if sub_scale.abs() > max_abs_scale {
                (max_abs_scale, max_scale) = (sub_scale.abs(), *sub_scale);
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            // The C clears the whole block: every code 0, d = 0.
            let mut coded = Coded::new([0; QK_K], 16, 32);
            for j in 0..16 {
                coded.requantize(j, (0.0, 0.0), xs, (-32, 31), |_| 0);
            }
            return Q6K { coded, d: 0.0, scales: [0; 16] };
        }
        let iscale = -128.0 / max_scale;
        let d = through_f16(1.0 / iscale);
        let scales = sub_scales.map(|s| nearest_int(iscale * s).min(127) as i8);
        let mut coded = Coded::new(codes, 16, 32);
        for (j, &scale) in scales.iter().enumerate() {
            let step = d * scale as f32;
            coded.requantize(j, (step, 0.0), xs, (-32, 31), |x| nearest_int(x / step));
        }
        Q6K { coded, d, scales }
    }

    fn coded(&self) -> &Coded {
        &self.coded
    }

    fn params(&self) -> Vec<(&'static str, f64)> {
        let mut params = vec![("d", self.d as f64)];
        params.extend(["sc0", "sc1", "sc2", "sc3"].into_iter().zip(self.scales.map(f64::from)));
        params
    }

    /// `block_q6_K`: of each 128 values, the low nibbles of values l and
    /// l + 64 in ql[l], of l + 32 and l + 96 in ql[l + 32], their top two
    /// bits in qh[l] (2 bits each, in that order); then the int8 scales and d.
    fn pack(&self, out: &mut Vec<u8>) {
        let codes = &self.coded.codes;
        for half in codes.chunks(128) {
            let q = |k: usize, l: usize| half[32 * k + l];
            out.extend((0..32).map(|l| (q(0, l) & 0xF) | (q(2, l) & 0xF) << 4));
            out.extend((0..32).map(|l| (q(1, l) & 0xF) | (q(3, l) & 0xF) << 4));
        }
        for half in codes.chunks(128) {
            let q = |k: usize, l: usize| half[32 * k + l] >> 4;
            out.extend((0..32).map(|l| q(0, l) | q(1, l) << 2 | q(2, l) << 4 | q(3, l) << 6));
        }
        out.extend(self.scales.map(|s| s as u8));
        push_f16(out, self.d);
    }
}

/// TQ2_0: d = amax and codes q + 1 for q = round(x/d) in {-1, 0, 1},
/// half away from zero (`lroundf`): x̂ = d·q.
pub struct Tq2 {
    coded: Coded,
    d: f32,
}

impl SuperBlock for Tq2 {
    const BITS: u32 = 2;
    const CODES: i32 = 3;
    /// qs[64], d.
    const BYTES: usize = QK_K / 4 + 2;

    #[inline(always)]
    fn quantize(xs: &[f32]) -> Self {
        let amax = xs.iter().fold(0f32, |m, x| m.max(x.abs()));
        let id = inverse(amax);
        let mut codes = [0u8; QK_K];
        for (c, &x) in codes.iter_mut().zip(xs) {
            *c = (super::llama::round_half_away(x * id) as i32 + 1) as u8;
        }
        let d = through_f16(amax);
        let mut coded = Coded::new(codes, QK_K, 1);
        // |x/amax| ≤ 1: no value is out of reach.
        coded.step[0] = d;
        Tq2 { coded, d }
    }

    fn coded(&self) -> &Coded {
        &self.coded
    }

    fn params(&self) -> Vec<(&'static str, f64)> {
        vec![("d", self.d as f64)]
    }

    /// `block_tq2_0`: of each 128 values, value 32·n + m in bits 2n of
    /// qs[m]; then d.
    fn pack(&self, out: &mut Vec<u8>) {
        for quarter in self.coded.codes.chunks(128) {
            out.extend((0..32).map(|m| (0..4).fold(0u8, |q, n| q | (quarter[32 * n + m] & 3) << (2 * n))));
        }
        push_f16(out, self.d);
    }
}

// A sibling of tests.rs rather than kquants/tests_kquants.rs.
#[cfg(test)]
#[path = "tests_kquants.rs"]
mod tests_kquants;
