//! `nf4`: bitsandbytes' 4-bit NormalFloat (QLoRA), as
//! `bnb.functional.quantize_4bit(quant_type="nf4")` stores it: the
//! flattened tensor cut into blocks of `block_size` (the last may be
//! short), each block's absmax kept in fp32, each value the code whose
//! NormalFloat value is nearest to x · (1 / absmax), x̂ = value · absmax.
//!
//! `double_quant = true` is `compress_statistics=True`: the absmaxes less
//! their mean are quantized blockwise (blocks of 256) to bytes of the
//! dynamic 8-bit map, each 256-block with its fp32 absmax, the mean kept in
//! fp32; the codes are those of the fp32 absmax, x̂ = value · (map[q] ·
//! absmax2 + mean). The mean of every block's absmax makes the whole
//! tensor one group then.

use super::pack::push_f32;
use super::{Grouping, NumberFormat, Packed, Quantized, TensorFacts, with_avx2};
use crate::compute::quant::{InvalidSetting, QuantConfig};

/// The 16 NormalFloat values: `get_4bit_type("nf4")` in
/// bitsandbytes/functional.py (= `nf4_dequantization_lut` in csrc/kernels.cu).
#[allow(clippy::excessive_precision)]
pub const NF4_VALUES: [f32; 16] = [
    -1.0,
    -0.6961928009986877,
    -0.5250730514526367,
    -0.39491748809814453,
    -0.28444138169288635,
    -0.18477343022823334,
    -0.09105003625154495,
    0.0,
    0.07958029955625534,
    0.16093020141124725,
    0.24611230194568634,
    0.33791524171829224,
    0.44070982933044434,
    0.5626170039176941,
    0.7229568362236023,
    1.0,
];

/// The decision thresholds of csrc/kernels.cu `dQuantizeNF4`, as the
/// float literals it compares with: the midpoints of neighbouring values.
/// Code `c` is the number of thresholds strictly below x (the kernel's
/// `x > t`), so a value on a midpoint takes the lower code.
#[allow(clippy::excessive_precision)]
const NF4_THRESHOLDS: [f32; 15] = [
    -0.8480964004993439,
    -0.6106329262256622,
    -0.4599952697753906,
    -0.33967943489551544,
    -0.23460740596055984,
    -0.13791173323988914,
    -0.045525018125772476,
    0.03979014977812767,
    0.1202552504837513,
    0.2035212516784668,
    0.2920137718319893,
    0.3893125355243683,
    0.5016634166240692,
    0.6427869200706482,
    0.8614784181118011,
];

/// The block sizes bitsandbytes' kernels are built for.
const BLOCK_SIZES: std::ops::RangeInclusive<usize> = 32..=4096;

/// The absmaxes' block in double quantization (`quantize_blockwise(…, blocksize=256)`).
const ABSMAX_BLOCK: usize = 256;

pub struct Nf4;

/// The code of a value already scaled by 1 / absmax (branch-free
/// `dQuantizeNF4`).
#[inline(always)]
pub fn nf4_code(normalized: f32) -> u16 {
    nf4_code_and_value(normalized).0
}

/// The code and its NormalFloat value: the value is carried along the
/// comparisons (a select each, as the thresholds ascend the last one passed
/// decides), which vectorizes where a lookup by the code would not.
#[inline(always)]
fn nf4_code_and_value(normalized: f32) -> (u16, f32) {
    let (mut code, mut value) = (0u16, NF4_VALUES[0]);
    for (&t, &above) in NF4_THRESHOLDS.iter().zip(&NF4_VALUES[1..]) {
        let passed = normalized > t;
        code += passed as u16;
        value = if passed { above } else { value };
    }
    (code, value)
}

with_avx2! {
    /// Each block's codes and x̂ = value · its stored absmax: `stored`'s
    /// (double quantization), else the block's own absmax.
    fn nf4_blocks(xs: &[f32], size: usize, stored: Option<&[f32]>, xhat: &mut [f32], codes: &mut [u16], clipped: &mut [bool]) {
        let outs = xhat.chunks_mut(size).zip(codes.chunks_mut(size)).zip(clipped.chunks_mut(size));
        for (i, (block, ((xhat, codes), clipped))) in xs.chunks(size).zip(outs).enumerate() {
            let absmax = absmax(block);
            let (inv, stored) = (reciprocal(absmax), stored.map_or(absmax, |s| s[i]));
            // Every value is within ±absmax: nothing is clipped.
            clipped.fill(false);
            #[cfg(target_arch = "x86_64")]
            if crate::compute::has_avx2() {
                // SAFETY: the CPU has AVX2 (inside `with_avx2!`'s AVX2 copy
                // the call needs no `unsafe`, in the other it does).
                #[allow(unused_unsafe)]
                unsafe {
                    avx2::nf4_block(block, inv, stored, xhat, codes)
                };
                continue;
            }
            nf4_block(block, inv, stored, xhat, codes);
        }
    }
}

/// One block: each value's code and x̂, value by value.
#[inline(always)]
fn nf4_block(xs: &[f32], inv: f32, stored: f32, xhat: &mut [f32], codes: &mut [u16]) {
    for (&x, (xh, c)) in xs.iter().zip(xhat.iter_mut().zip(codes.iter_mut())) {
        let (code, value) = nf4_code_and_value(x * inv);
        (*xh, *c) = (value * stored, code);
    }
}

/// `nf4_block` eight values at a time by `dQuantizeNF4`'s own decision
/// tree: four comparisons, each with the threshold the bits found so far
/// pick (a lane permute), and the value picked by the code. As the
/// thresholds ascend the tree's code is the count of those below x, and
/// the products are the same IEEE ones, so the bits are `nf4_block`'s
/// (`the_avx2_tree_is_the_threshold_count`).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{NF4_THRESHOLDS as T, NF4_VALUES as V, nf4_block as by_value};

    /// The codes (in 32-bit lanes) and NormalFloat values of eight normalized values.
    #[target_feature(enable = "avx2")]
    pub(super) fn code_and_value8(x: __m256) -> (__m256i, __m256) {
        let table = |t: [f32; 8]| unsafe { _mm256_loadu_ps(t.as_ptr()) };
        // All ones in the lanes where x is above the lane's threshold (never for NaN).
        let above = |t: __m256| _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(x, t));
        let weight = |mask: __m256i, w: i32| _mm256_and_si256(mask, _mm256_set1_epi32(w));
        // code >= 8 iff x > T[7]; then code >= base + 4 iff x > T[base + 3],
        // code >= base + 2 iff x > T[base + 1], code >= base + 1 iff x > T[base].
        let top = above(_mm256_set1_ps(T[7]));
        let mut code = weight(top, 8);
        let fours = table([T[3], T[11], 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        code = _mm256_or_si256(code, weight(above(_mm256_permutevar8x32_ps(fours, _mm256_srli_epi32::<3>(code))), 4));
        let twos = table([T[1], T[5], T[9], T[13], 0.0, 0.0, 0.0, 0.0]);
        code = _mm256_or_si256(code, weight(above(_mm256_permutevar8x32_ps(twos, _mm256_srli_epi32::<2>(code))), 2));
        let ones = table([T[0], T[2], T[4], T[6], T[8], T[10], T[12], T[14]]);
        code = _mm256_or_si256(code, weight(above(_mm256_permutevar8x32_ps(ones, _mm256_srli_epi32::<1>(code))), 1));
        // The permutes read the low three bits of the code; bit 3 picks the half.
        let low = _mm256_permutevar8x32_ps(table(V[..8].try_into().unwrap()), code);
        let high = _mm256_permutevar8x32_ps(table(V[8..].try_into().unwrap()), code);
        (code, _mm256_blendv_ps(low, high, _mm256_castsi256_ps(top)))
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn nf4_block(xs: &[f32], inv: f32, stored: f32, xhat: &mut [f32], codes: &mut [u16]) {
        let whole = xs.len() / 8 * 8;
        let (inv8, stored8) = (_mm256_set1_ps(inv), _mm256_set1_ps(stored));
        let outs = xhat[..whole].chunks_exact_mut(8).zip(codes[..whole].chunks_exact_mut(8));
        for (x, (xh, c)) in xs[..whole].chunks_exact(8).zip(outs) {
            // SAFETY: each chunk holds eight floats.
            let x = _mm256_mul_ps(unsafe { _mm256_loadu_ps(x.as_ptr()) }, inv8);
            let (code, value) = code_and_value8(x);
            unsafe { _mm256_storeu_ps(xh.as_mut_ptr(), _mm256_mul_ps(value, stored8)) };
            // The codes (below 16) to 16 bits: packed within each 128-bit
            // half, then the two halves' low quadwords side by side.
            let packed = _mm256_permute4x64_epi64::<0b00_00_10_00>(_mm256_packus_epi32(code, code));
            unsafe { _mm_storeu_si128(c.as_mut_ptr().cast(), _mm256_castsi256_si128(packed)) };
        }
        by_value(&xs[whole..], inv, stored, &mut xhat[whole..], &mut codes[whole..]);
    }
}

/// The largest |x| of a block, in eight lanes so that it vectorizes (a
/// fold of `f32::max` keeps its order, for its NaN rule); the same value,
/// NaN ignored too.
#[inline(always)]
pub(super) fn absmax(xs: &[f32]) -> f32 {
    let larger = |m: f32, x: f32| if x.abs() > m { x.abs() } else { m };
    let mut lanes = [0f32; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        lanes.iter_mut().zip(chunk).for_each(|(m, &x)| *m = larger(*m, x));
    }
    lanes.iter_mut().zip(rest).for_each(|(m, &x)| *m = larger(*m, x));
    lanes.into_iter().fold(0f32, larger)
}

/// 1 / absmax as the kernel multiplies by it; an all-zero block (where
/// the kernel's 0 · 1/0 is NaN) takes the code of 0 instead, so x̂ = +0.
fn reciprocal(absmax: f32) -> f32 {
    if absmax > 0.0 { 1.0 / absmax } else { 0.0 }
}

impl NumberFormat for Nf4 {
    fn name(&self) -> &'static str {
        "nf4"
    }

    fn summary(&self) -> &'static str {
        "bitsandbytes NF4 (QLoRA): 16 normal-quantile codes, fp32 absmax per block of the flattened tensor"
    }

    fn settings(&self) -> &'static [&'static str] {
        &["block_size", "double_quant"]
    }

    fn check(&self, cfg: &QuantConfig, _cols: Option<usize>) -> Result<(), InvalidSetting> {
        let b = cfg.block_size;
        if !(b.is_power_of_two() && BLOCK_SIZES.contains(&b)) {
            return Err(InvalidSetting::new(
                "quant.block_size",
                format!(
                    "{b} is not a power of two from 32 to 4096 (the block sizes bitsandbytes' kernels are built for)"
                ),
            ));
        }
        Ok(())
    }

    fn grouping(&self, cfg: &QuantConfig) -> Grouping {
        if cfg.double_quant { Grouping::Tensor } else { Grouping::Groups(cfg.block_size) }
    }

    fn code_bits(&self, _cfg: &QuantConfig) -> u32 {
        4
    }

    /// 4 bits a value and an fp32 absmax a block; double quantized, a byte
    /// a block, an fp32 absmax per 256 blocks and the fp32 mean.
    fn bits_per_weight(&self, cfg: &QuantConfig, rows: usize, cols: usize) -> f64 {
        let count = (rows * cols).max(1);
        let blocks = count.div_ceil(cfg.block_size);
        let stats = if cfg.double_quant { 8 * blocks + 32 * blocks.div_ceil(ABSMAX_BLOCK) + 32 } else { 32 * blocks };
        4.0 + stats as f64 / count as f64
    }

    /// Without double quantization the stored absmax is the block's own,
    /// found in the loop (no list of them to allocate for each group).
    fn quantize(&self, cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32], out: Quantized<'_>) {
        let stored = cfg.double_quant.then(|| stored_absmaxes(cfg, xs).absmax);
        nf4_blocks(xs, cfg.block_size, stored.as_deref(), out.xhat, out.codes, out.clipped);
    }

    /// The levels of the first block.
    fn levels(&self, cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<f32> {
        let amax = stored_absmaxes(cfg, xs).absmax.first().copied().unwrap_or(0.0);
        if amax == 0.0 {
            return vec![0.0];
        }
        NF4_VALUES.iter().map(|v| v * amax).collect()
    }

    /// The first block's: its absmax as dequantized, and when double
    /// quantized, its byte, its 256-block's absmax and the mean.
    fn params(&self, cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<(&'static str, f64)> {
        let stored = stored_absmaxes(cfg, xs);
        let mut params = vec![("absmax", stored.absmax.first().copied().unwrap_or(0.0) as f64)];
        if let Some(q) = &stored.compressed {
            params.push(("absmax_code", q.codes.first().copied().unwrap_or(0) as f64));
            params.push(("state2.absmax", q.absmax2.first().copied().unwrap_or(0.0) as f64));
            params.push(("offset", q.offset as f64));
        }
        params
    }

    /// The block-size sweep: how bpw buys SQNR.
    fn compare_rows(&self, base: &QuantConfig) -> Vec<(String, QuantConfig)> {
        [32, 64, 128, 256]
            .iter()
            .map(|&n| (format!("nf4 b{n}"), QuantConfig { block_size: n, ..base.clone() }))
            .collect()
    }

    fn ecosystem(&self, cfg: &QuantConfig) -> String {
        let compressed = if cfg.double_quant { ", compress_statistics=True" } else { "" };
        format!(r#"bitsandbytes nf4 (quant_type="nf4"{compressed})"#)
    }

    /// As `quantize_4bit` stores it: the codes two to a byte, the first in
    /// the high nibble (an odd last one with a zero low nibble), then the
    /// fp32 absmax of each block; double quantized, each block's byte, each
    /// 256-block's fp32 absmax, then the fp32 mean.
    fn pack(&self, cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32], out: &mut Packed) -> bool {
        for block in xs.chunks(cfg.block_size) {
            let inv = reciprocal(absmax(block));
            let codes: Vec<u16> = block.iter().map(|&x| nf4_code(x * inv)).collect();
            let bytes: Vec<u16> = codes.chunks(2).map(|c| c[0] << 4 | c.get(1).copied().unwrap_or(0)).collect();
            out.codes(&bytes, 8);
        }
        let stored = stored_absmaxes(cfg, xs);
        match &stored.compressed {
            None => stored.absmax.iter().for_each(|&a| push_f32(out.params(), a)),
            Some(q) => {
                out.params().extend_from_slice(&q.codes);
                q.absmax2.iter().for_each(|&a| push_f32(out.params(), a));
                push_f32(out.params(), q.offset);
            }
        }
        true
    }
}

/// The absmaxes of a group's blocks as x̂ uses them, and their stored
/// 8-bit form when double quantized.
struct StoredAbsmaxes {
    absmax: Vec<f32>,
    compressed: Option<Compressed>,
}

fn stored_absmaxes(cfg: &QuantConfig, xs: &[f32]) -> StoredAbsmaxes {
    let absmaxes: Vec<f32> = xs.chunks(cfg.block_size.max(1)).map(absmax).collect();
    if !cfg.double_quant {
        return StoredAbsmaxes { absmax: absmaxes, compressed: None };
    }
    let compressed = compress(&absmaxes);
    StoredAbsmaxes { absmax: compressed.dequantized(), compressed: Some(compressed) }
}

/// `quantize_blockwise(absmax - absmax.mean(), blocksize=256)` and the mean.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Compressed {
    pub codes: Vec<u8>,
    pub absmax2: Vec<f32>,
    pub offset: f32,
}

/// The mean is summed in float64 and rounded once (torch's float32 mean
/// may differ by an ulp); each value's byte is the nearest entry of the
/// dynamic map to (a − mean) · (1 / absmax2) clamped to ±1, the lower on a
/// tie (`torch.argmin`), and a 256-block of zeros takes the byte of 0.
pub(super) fn compress(absmaxes: &[f32]) -> Compressed {
    let map = dynamic_map();
    let mean = absmaxes.iter().map(|&a| a as f64).sum::<f64>() / absmaxes.len().max(1) as f64;
    let offset = mean as f32;
    let centered: Vec<f32> = absmaxes.iter().map(|&a| a - offset).collect();
    let mut codes = Vec::with_capacity(centered.len());
    let mut absmax2 = Vec::with_capacity(centered.len().div_ceil(ABSMAX_BLOCK));
    for block in centered.chunks(ABSMAX_BLOCK) {
        let top = absmax(block);
        let inv = if top > 0.0 { 1.0 / top } else { 0.0 };
        codes.extend(block.iter().map(|&c| nearest_in_map(&map, (c * inv).clamp(-1.0, 1.0))));
        absmax2.push(top);
    }
    Compressed { codes, absmax2, offset }
}

impl Compressed {
    /// map[q] · absmax2 + mean, in float32 as `dequantize_blockwise` and
    /// `dequantize_4bit` compute it.
    pub fn dequantized(&self) -> Vec<f32> {
        let map = dynamic_map();
        let blocks = self.codes.chunks(ABSMAX_BLOCK).zip(&self.absmax2);
        blocks.flat_map(|(codes, &a2)| codes.iter().map(move |&q| map[q as usize] * a2 + self.offset)).collect()
    }
}

/// The index of the entry of `map` nearest to `x`, the first on a tie.
fn nearest_in_map(map: &[f32; 256], x: f32) -> u8 {
    let mut best = 0;
    for (i, &v) in map.iter().enumerate() {
        if (x - v).abs() < (x - map[best]).abs() {
            best = i;
        }
    }
    best as u8
}

/// bitsandbytes' `create_dynamic_map(signed=True, max_exponent_bits=7,
/// total_bits=8)`, ascending: for i in 0..7, the 2^i midpoints of
/// `linspace(0.1, 1, 2^i + 1)` (in float32) times 10^(i − 6), both signs,
/// then 0 and 1. Midpoints and products are taken in float64 and rounded
/// once to float32, which reproduces the published table entry for entry.
pub(super) fn dynamic_map() -> [f32; 256] {
    const DECADES: [f64; 7] = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0];
    let mut data = Vec::with_capacity(256);
    for (i, &decade) in DECADES.iter().enumerate() {
        let n = 1usize << i;
        let boundary = |k: usize| if k == n { 1f32 } else { (0.1 + k as f64 * ((1.0 - 0.1) / n as f64)) as f32 };
        for k in 0..n {
            let value = (decade * (boundary(k) as f64 + boundary(k + 1) as f64) / 2.0) as f32;
            data.extend([value, -value]);
        }
    }
    data.extend([0.0, 1.0]);
    data.sort_by(f32::total_cmp);
    data.try_into().expect("2 · 127 + 2 entries")
}

#[cfg(test)]
#[path = "tests_nf4.rs"]
mod tests_nf4;
