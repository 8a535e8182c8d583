//! llama.cpp's super-block formats of 256 values: Q4_K and Q6_K (K-quants)
//! and the ternary TQ2_0, as `ggml-quants.c`'s `quantize_row_*_ref`
//! compute them, operation for operation in float32 (Rust does not fuse
//! multiply-adds, so neither the search nor the sums drift from an
//! unfused build). x̂ is what the format's dequantizer (ggml's and
//! gguf-py's) computes from the stored block.

use std::marker::PhantomData;

use self::lanes::{F8, Fx, LANES, Lanes, transposed};
use self::search::{Q4_K_SEARCH, Qkx2Choice, QxTile, SUB, SUB6, make_qkx2_quants, make_qx_quants};
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
    /// Inlined into the free `quantize`, which compiles it twice: its
    /// searches' lanes are `V`.
    fn quantize<V: Lanes<LANES>>(xs: &[f32]) -> Self;
    /// Two consecutive super-blocks (512 values), each as `quantize` gives
    /// it. Inlined into the AVX-512 twin of the free `quantize_two`, where
    /// Q4_K and Q6_K search both blocks at once in the 16 lanes of `W`; by
    /// default one block at a time.
    #[inline(always)]
    fn quantize_two<W: Lanes<16>>(xs: &[f32]) -> [Self; 2] {
        [Self::quantize::<F8>(&xs[..QK_K]), Self::quantize::<F8>(&xs[QK_K..])]
    }
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

    /// Two blocks at a time (`quantize_two`).
    fn quantize_each(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], size: usize, out: Quantized<'_>) {
        debug_assert_eq!(size, QK_K);
        let Quantized { xhat, codes, clipped } = out;
        let pairs = xs.chunks(2 * QK_K).zip(xhat.chunks_mut(2 * QK_K)).zip(codes.chunks_mut(2 * QK_K));
        for (((xs, xhat), codes), clipped) in pairs.zip(clipped.chunks_mut(2 * QK_K)) {
            if xs.len() < 2 * QK_K {
                // One block left (rows are whole blocks: `check`).
                let groups = xs.chunks(QK_K).zip(xhat.chunks_mut(QK_K)).zip(codes.chunks_mut(QK_K));
                for (((xs, xhat), codes), clipped) in groups.zip(clipped.chunks_mut(QK_K)) {
                    self.quantize(cfg, tensor, xs, Quantized { xhat, codes, clipped });
                }
                continue;
            }
            let ((xhat, codes), clipped) =
                ((xhat.split_at_mut(QK_K), codes.split_at_mut(QK_K)), clipped.split_at_mut(QK_K));
            let [first, second] = quantize_two::<B>(xs);
            first.coded().write(Quantized { xhat: xhat.0, codes: codes.0, clipped: clipped.0 });
            second.coded().write(Quantized { xhat: xhat.1, codes: codes.1, clipped: clipped.1 });
        }
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

/// `B::quantize`, in AVX registers where the CPU has AVX2 (same bits:
/// see `compute::has_avx2`).
fn quantize<B: SuperBlock>(xs: &[f32]) -> B {
    #[cfg(target_arch = "x86_64")]
    if crate::compute::has_avx2() {
        #[target_feature(enable = "avx2")]
        fn avx2<B: SuperBlock>(xs: &[f32]) -> B {
            B::quantize::<lanes::Avx8>(xs)
        }
        // SAFETY: the CPU has AVX2.
        return unsafe { avx2::<B>(xs) };
    }
    B::quantize::<F8>(xs)
}

/// `B::quantize_two` of 512 values, in AVX-512 registers where the CPU
/// has them, else `quantize` of each block (the same bits: see
/// `compute::has_avx512`).
fn quantize_two<B: SuperBlock>(xs: &[f32]) -> [B; 2] {
    #[cfg(target_arch = "x86_64")]
    if crate::compute::has_avx512() {
        #[target_feature(enable = "avx512f")]
        fn avx512<B: SuperBlock>(xs: &[f32]) -> [B; 2] {
            B::quantize_two::<lanes::Avx16>(xs)
        }
        // SAFETY: the CPU has AVX-512F.
        return unsafe { avx512::<B>(xs) };
    }
    [quantize::<B>(&xs[..QK_K]), quantize::<B>(&xs[QK_K..])]
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

/// `quantize_row_q4_K_ref`'s searches of `N` sub-blocks (one super-block
/// in 8 lanes, two in 16) side by side.
#[inline(always)]
fn q4_k_search<V: Lanes<N>, const N: usize>(xs: &[f32]) -> Qkx2Choice<N> {
    let x = V::transposed::<SUB>(xs);
    let mut sum_x2 = V::load(&Fx::default());
    for x in &x {
        sum_x2 = sum_x2 + V::load(x) * V::load(x);
    }
    // x/32 is x·2^-5, the same bits.
    let av_x = (sum_x2 * V::load(&Fx::splat(1.0 / 32.0))).sqrt();
    let mut weights = [Fx::default(); SUB];
    for (w, x) in weights.iter_mut().zip(&x) {
        *w = (av_x + V::load(x).abs()).store();
    }
    make_qkx2_quants::<V, N>(&Q4_K_SEARCH, &x, &weights)
}

impl Q4K {
    /// Block `b` of the two searched in 16 lanes (`xs` holds both).
    #[inline(always)]
    fn finish_lanes(chosen: &Qkx2Choice<16>, b: usize, xs: &[f32]) -> Q4K {
        // A function, not a closure over both blocks: LLVM declined to
        // inline that one, which then ran apart from the AVX-512 code.
        let fit = (chosen.scale.part::<LANES>(LANES * b).0, chosen.the_min.part::<LANES>(LANES * b).0);
        let codes = |j: usize, out: &mut [u8]| chosen.codes(LANES * b + j, &xs[SUB * (LANES * b + j)..], out);
        Q4K::finish(fit, &xs[QK_K * b..QK_K * (b + 1)], codes)
    }

    /// The block from its search's scales and mins per sub-block: the
    /// 6-bit scales and mins, fp16 d and dmin, and the codes requantized
    /// with them; `search_codes(j, out)` writes the search's codes of
    /// sub-block j, which only a sub-block of step 0 keeps (`requantize`).
    #[inline(always)]
    fn finish((scales, mins): ([f32; 8], [f32; 8]), xs: &[f32], search_codes: impl Fn(usize, &mut [u8])) -> Q4K {
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
        let steps: [f32; 8] = std::array::from_fn(|j| d * sc[j] as f32);
        let mut codes = [0u8; QK_K];
        for j in (0..8).filter(|&j| steps[j] == 0.0) {
            search_codes(j, &mut codes[SUB * j..SUB * (j + 1)]);
        }
        let mut coded = Coded::new(codes, 32, 0);
        for (j, &step) in steps.iter().enumerate() {
            let offset = dmin * m[j] as f32;
            coded.requantize(j, (step, offset), xs, (0, 15), |x| nearest_int((x + offset) / step));
        }
        Q4K { coded, d, dmin, sc, m }
    }
}

impl SuperBlock for Q4K {
    const BITS: u32 = 4;
    const CODES: i32 = 16;
    /// d, dmin, scales[12], qs[128].
    const BYTES: usize = 2 + 2 + 12 + QK_K / 2;

    #[inline(always)]
    fn quantize<V: Lanes<LANES>>(xs: &[f32]) -> Self {
        let chosen = q4_k_search::<V, LANES>(xs);
        let codes = |j: usize, out: &mut [u8]| chosen.codes(j, &xs[SUB * j..], out);
        Q4K::finish((chosen.scale.0, chosen.the_min.0), xs, codes)
    }

    /// The two blocks' 8 + 8 sub-blocks in the 16 lanes of one search.
    #[inline(always)]
    fn quantize_two<W: Lanes<16>>(xs: &[f32]) -> [Self; 2] {
        let chosen = q4_k_search::<W, 16>(xs);
        [Q4K::finish_lanes(&chosen, 0, xs), Q4K::finish_lanes(&chosen, 1, xs)]
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
    fn quantize<V: Lanes<LANES>>(xs: &[f32]) -> Self {
        let tiles = [QxTile::new(transposed(xs)), QxTile::new(transposed(&xs[LANES * SUB6..]))];
        let chosen = make_qx_quants::<V, LANES, 2>(32, &tiles);
        let mut sub_scales = [0f32; 16];
        for (scales, tile) in sub_scales.chunks_mut(LANES).zip(&chosen) {
            scales.copy_from_slice(&tile.scale.0);
        }
        Q6K::finish(sub_scales, xs, |j, codes| chosen[j / LANES].codes(&tiles[j / LANES], j % LANES, codes))
    }

    /// Each block's 16 sub-blocks in the 16 lanes of a tile, the two
    /// blocks' tiles side by side.
    #[inline(always)]
    fn quantize_two<W: Lanes<16>>(xs: &[f32]) -> [Self; 2] {
        let values = xs.split_at(QK_K);
        let tiles = [QxTile::new(W::transposed(values.0)), QxTile::new(W::transposed(values.1))];
        let chosen = make_qx_quants::<W, 16, 2>(32, &tiles);
        [
            Q6K::finish(chosen[0].scale.0, values.0, |j, codes| chosen[0].codes(&tiles[0], j, codes)),
            Q6K::finish(chosen[1].scale.0, values.1, |j, codes| chosen[1].codes(&tiles[1], j, codes)),
        ]
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

impl Q6K {
    /// The block from its search's scales per sub-block: the int8 scales,
    /// fp16 d, and the codes requantized with them; `search_codes(j, out)`
    /// writes the search's codes of sub-block j, which only a sub-block of
    /// step 0 keeps (`requantize`).
    #[inline(always)]
    fn finish(sub_scales: [f32; 16], xs: &[f32], search_codes: impl Fn(usize, &mut [u8])) -> Q6K {
        let (mut max_scale, mut max_abs_scale) = (0f32, 0f32);
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
        let steps = scales.map(|scale| d * scale as f32);
        let mut codes = [0u8; QK_K];
        for j in (0..16).filter(|&j| steps[j] == 0.0) {
            search_codes(j, &mut codes[SUB6 * j..SUB6 * (j + 1)]);
        }
        let mut coded = Coded::new(codes, 16, 32);
        for (j, &step) in steps.iter().enumerate() {
            coded.requantize(j, (step, 0.0), xs, (-32, 31), |x| nearest_int(x / step));
        }
        Q6K { coded, d, scales }
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
    fn quantize<V: Lanes<LANES>>(xs: &[f32]) -> Self {
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

// Siblings of the other formats' files rather than files under kquants/.
#[path = "kquant_lanes.rs"]
mod lanes;
#[path = "kquant_search.rs"]
mod search;

// A sibling of tests.rs rather than kquants/tests_kquants.rs.
#[cfg(test)]
#[path = "tests_kquants.rs"]
mod tests_kquants;
