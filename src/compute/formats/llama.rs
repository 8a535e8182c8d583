//! llama.cpp's legacy block formats, as `ggml-quants.c`'s
//! `quantize_row_q*_ref` compute them (and gguf-py's numpy port, which the
//! cross-check compares against): blocks of 32 values along the rows, the
//! scale `d` (and the minimum `m`) computed in float32 and stored as fp16,
//! the codes from the float32 scale, x̂ from the stored fp16 one.

use super::{
    Grouping, NumberFormat, Packed, Quantized, TensorFacts, through_f16, trunc_small, whole_blocks, with_avx2,
};
use crate::compute::quant::{InvalidSetting, QuantConfig};

/// Values per block of every legacy format.
pub const QK: usize = 32;

/// How a legacy format finds a block's scale.
#[derive(Clone, Copy, PartialEq)]
enum Rule {
    /// Q8_0: d = amax / 127, q = round(x / d) half away from zero.
    Amax,
    /// Q4_0, Q5_0: d = max / -2^(bits-1) where max is the value of largest
    /// |x|, q = trunc(x / d + 2^(bits-1) + 0.5) clamped to the codes.
    Signed,
    /// Q4_1, Q5_1: d = (max - min) / (2^bits - 1), m = min,
    /// q = trunc((x - min) / d + 0.5).
    Range,
}

pub struct Legacy {
    name: &'static str,
    ggml: &'static str,
    summary: &'static str,
    bits: u32,
    rule: Rule,
}

pub const Q8_0: Legacy = Legacy {
    name: "q8_0",
    ggml: "GGML_TYPE_Q8_0",
    summary: "llama.cpp Q8_0: blocks of 32, 8-bit codes, fp16 scale d = amax/127",
    bits: 8,
    rule: Rule::Amax,
};
pub const Q4_0: Legacy = Legacy {
    name: "q4_0",
    ggml: "GGML_TYPE_Q4_0",
    summary: "llama.cpp Q4_0: blocks of 32, 4-bit codes, fp16 scale d = max/-8",
    bits: 4,
    rule: Rule::Signed,
};
pub const Q4_1: Legacy = Legacy {
    name: "q4_1",
    ggml: "GGML_TYPE_Q4_1",
    summary: "llama.cpp Q4_1: blocks of 32, 4-bit codes, fp16 scale and minimum",
    bits: 4,
    rule: Rule::Range,
};
pub const Q5_0: Legacy = Legacy {
    name: "q5_0",
    ggml: "GGML_TYPE_Q5_0",
    summary: "llama.cpp Q5_0: blocks of 32, 5-bit codes, fp16 scale d = max/-16",
    bits: 5,
    rule: Rule::Signed,
};
pub const Q5_1: Legacy = Legacy {
    name: "q5_1",
    ggml: "GGML_TYPE_Q5_1",
    summary: "llama.cpp Q5_1: blocks of 32, 5-bit codes, fp16 scale and minimum",
    bits: 5,
    rule: Rule::Range,
};

/// ggml's `d ? 1.0f/d : 0.0f`: an all-zero block keeps code 0 (or its middle).
pub(super) fn inverse(d: f32) -> f32 {
    if d != 0.0 { 1.0 / d } else { 0.0 }
}

/// Appends `v` (already fp16-exact) as GGUF stores an `ggml_half`.
pub(super) fn push_f16(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&half::f16::from_f32(v).to_le_bytes());
}

/// One block's parameters: the float32 `d` the codes are computed with,
/// the fp16 `d` and `m` that are stored (and give x̂).
struct Block {
    d: f32,
    stored_d: f32,
    min: f32,
    stored_min: f32,
}

impl Legacy {
    #[inline(always)]
    fn block(&self, xs: &[f32]) -> Block {
        let half = (1i32 << (self.bits - 1)) as f32;
        let (d, min) = match self.rule {
            Rule::Amax => (xs.iter().fold(0f32, |m, x| m.max(x.abs())) / 127.0, 0.0),
            Rule::Signed => {
                // The first value of largest |x|, sign kept, as the reference's
                // strict `<` finds it (+0 when every |x| is 0): the largest |x|
                // in one pass that vectorizes, then the first value that has it.
                let amax = xs.iter().fold(0f32, |m, x| m.max(x.abs()));
                let max = if amax == 0.0 { 0.0 } else { xs.iter().copied().find(|v| v.abs() == amax).unwrap_or(0.0) };
                (max / -half, 0.0)
            }
            Rule::Range => {
                // The reference's strict comparisons keep the first of equal
                // values, which only tells ±0 apart (f32::min may pick either):
                // the extremes in one pass that vectorizes, then a zero's sign
                // from the first zero.
                let lo = xs.iter().fold(f32::MAX, |m, &v| m.min(v));
                let hi = xs.iter().fold(-f32::MAX, |m, &v| m.max(v));
                let first_zero = || xs.iter().copied().find(|&v| v == 0.0).unwrap_or(0.0);
                let (lo, hi) = (if lo == 0.0 { first_zero() } else { lo }, if hi == 0.0 { first_zero() } else { hi });
                ((hi - lo) / ((1u32 << self.bits) - 1) as f32, lo)
            }
        };
        Block { d, stored_d: through_f16(d), min, stored_min: through_f16(min) }
    }

    fn top(&self) -> i32 {
        (1i32 << self.bits) - 1
    }

    /// The code of `x` and whether the block's codes could not reach it.
    #[inline]
    fn code(&self, b: &Block, id: f32, x: f32) -> (i32, bool) {
        self.code_by(self.rule, b, id, x, |t| t as i32)
    }

    #[inline]
    fn value(&self, b: &Block, code: i32) -> f32 {
        self.value_by(self.rule, b, code)
    }

    /// `code` for a `rule` known where it is inlined, so that the match
    /// leaves the loop over the values; `to_int` is `as i32`, or
    /// `trunc_small` where the scaled values are known to be small.
    #[inline(always)]
    fn code_by(&self, rule: Rule, b: &Block, id: f32, x: f32, to_int: impl Fn(f32) -> i32) -> (i32, bool) {
        match rule {
            Rule::Amax => (to_int(round_half_away(x * id)) + 128, false),
            Rule::Signed => {
                let raw = to_int(x * id + ((1i32 << (self.bits - 1)) as f32 + 0.5));
                (raw.min(self.top()), raw > self.top())
            }
            Rule::Range => {
                let raw = to_int((x - b.min) * id + 0.5);
                (raw.min(self.top()), raw > self.top())
            }
        }
    }

    #[inline(always)]
    fn value_by(&self, rule: Rule, b: &Block, code: i32) -> f32 {
        match rule {
            Rule::Amax => code.wrapping_sub(128) as f32 * b.stored_d,
            Rule::Signed => code.wrapping_sub(1i32 << (self.bits - 1)) as f32 * b.stored_d,
            Rule::Range => b.stored_d * code as f32 + b.stored_min,
        }
    }

    /// `quantize` of one block for one rule (see `code_by`). With a finite
    /// 1/d every scaled value is within a few steps of the codes (the
    /// block's largest |x| scales to about 2^bits), so the loop converts
    /// with `trunc_small`, branch-free; an infinite 1/d (a subnormal d)
    /// takes `as`, whose saturation then decides the codes.
    #[inline(always)]
    fn quantize_block(&self, rule: Rule, xs: &[f32], xhat: &mut [f32], codes: &mut [u16], clipped: &mut [bool]) {
        let b = self.block(xs);
        let id = inverse(b.d);
        let outs = xhat.iter_mut().zip(codes.iter_mut()).zip(clipped.iter_mut());
        if id.is_finite() {
            for (&x, ((xh, c), cl)) in xs.iter().zip(outs) {
                let (code, clip) = self.code_by(rule, &b, id, x, trunc_small);
                (*xh, *c, *cl) = (self.value_by(rule, &b, code), code as u16, clip);
            }
        } else {
            for (&x, ((xh, c), cl)) in xs.iter().zip(outs) {
                let (code, clip) = self.code_by(rule, &b, id, x, |t| t as i32);
                (*xh, *c, *cl) = (self.value_by(rule, &b, code), code as u16, clip);
            }
        }
    }

    /// The codes of one block, as `quantize` gives them.
    fn block_codes(&self, b: &Block, xs: &[f32]) -> [u8; QK] {
        let id = inverse(b.d);
        let mut codes = [0u8; QK];
        for (c, &x) in codes.iter_mut().zip(xs) {
            *c = self.code(b, id, x).0 as u8;
        }
        codes
    }

    fn code_count(&self) -> i32 {
        match self.rule {
            // Q8_0's codes are -127..=127 (round(±amax/d) = ±127), stored as int8.
            Rule::Amax => 256,
            _ => self.top() + 1,
        }
    }
}

with_avx2! {
    /// `Legacy::quantize` of whole blocks, the rule's match outside the loops.
    fn legacy_blocks(f: &Legacy, xs: &[f32], xhat: &mut [f32], codes: &mut [u16], clipped: &mut [bool]) {
        let outs = xhat.chunks_mut(QK).zip(codes.chunks_mut(QK)).zip(clipped.chunks_mut(QK));
        for (block, ((xhat, codes), clipped)) in xs.chunks(QK).zip(outs) {
            match f.rule {
                Rule::Amax => f.quantize_block(Rule::Amax, block, xhat, codes, clipped),
                Rule::Signed => f.quantize_block(Rule::Signed, block, xhat, codes, clipped),
                Rule::Range => f.quantize_block(Rule::Range, block, xhat, codes, clipped),
            }
        }
    }
}

/// C's `roundf` (half away from zero), without the library call: `v - trunc(v)`
/// is exact, so the comparison with one half is too.
#[inline(always)]
pub(super) fn round_half_away(v: f32) -> f32 {
    let t = v.trunc();
    if (v - t).abs() >= 0.5 { t + 1f32.copysign(v) } else { t }
}

impl NumberFormat for Legacy {
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
        whole_blocks("quant.format", QK, cols, self.name)
    }

    fn grouping(&self, _cfg: &QuantConfig) -> Grouping {
        Grouping::Groups(QK)
    }

    fn code_bits(&self, _cfg: &QuantConfig) -> u32 {
        self.bits
    }

    fn bits_per_weight(&self, _cfg: &QuantConfig, _rows: usize, _cols: usize) -> f64 {
        let params = if self.rule == Rule::Range { 32.0 } else { 16.0 };
        self.bits as f64 + params / QK as f64
    }

    fn quantize(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32], out: Quantized<'_>) {
        legacy_blocks(self, xs, out.xhat, out.codes, out.clipped);
    }

    fn levels(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<f32> {
        let b = self.block(xs);
        let first = if self.rule == Rule::Amax { 1 } else { 0 };
        let mut levels: Vec<f32> = (first..self.code_count()).map(|c| self.value(&b, c)).collect();
        levels.sort_by(f32::total_cmp);
        levels.dedup();
        levels
    }

    fn params(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<(&'static str, f64)> {
        let b = self.block(xs);
        match self.rule {
            Rule::Range => vec![("d", b.stored_d as f64), ("m", b.stored_min as f64)],
            _ => vec![("d", b.stored_d as f64)],
        }
    }

    fn ecosystem(&self, _cfg: &QuantConfig) -> String {
        self.ggml.into()
    }

    /// `block_q8_0` {d, qs[32] as int8}, `block_q4_0` {d, qs[16]},
    /// `block_q4_1` {d, m, qs[16]}, `block_q5_0` {d, qh[4], qs[16]},
    /// `block_q5_1` {d, m, qh[4], qs[16]}: value j in the low nibble of
    /// qs[j], value j + 16 in the high one, bit 4 of value j in bit j of qh.
    fn pack(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32], out: &mut Packed) -> bool {
        let out = out.blocks();
        let b = self.block(xs);
        let codes = self.block_codes(&b, xs);
        push_f16(out, b.stored_d);
        if self.rule == Rule::Range {
            push_f16(out, b.stored_min);
        }
        if self.bits == 8 {
            // Codes are q + 128; int8 q is the same byte less 128.
            out.extend(codes.iter().map(|c| c.wrapping_sub(128)));
            return true;
        }
        if self.bits == 5 {
            let qh = codes.iter().enumerate().fold(0u32, |qh, (j, &c)| qh | (((c >> 4) & 1) as u32) << j);
            out.extend_from_slice(&qh.to_le_bytes());
        }
        let (low, high) = codes.split_at(QK / 2);
        out.extend(low.iter().zip(high).map(|(l, h)| (l & 0x0F) | (h & 0x0F) << 4));
        true
    }
}
