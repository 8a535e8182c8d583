//! Block-scaled FP8 and FP4: OCP microscaling (MXFP8, MXFP4: 32 elements
//! sharing a power-of-two E8M0 scale) and NVIDIA's NVFP4 (16 E2M1 elements
//! sharing an E4M3 scale, times one float32 scale of the tensor).

use super::float::{SCALE_BITS, Scale};
use super::minifloat::{E2M1, E4M3, Minifloat, Ties};
use super::nf4::absmax;
use super::pack::{pack_codes, push_f32};
use super::{Grouping, NumberFormat, Packed, Quantized, TensorFacts, whole_blocks, with_avx2};
use crate::compute::quant::{InvalidSetting, QuantConfig};

/// How a block's scale is found and stored.
#[derive(Clone, Copy, PartialEq)]
enum Scaling {
    /// OCP MX: 2^(floor(log2 amax) − emax_elem) stored as its biased
    /// exponent, one byte.
    E8M0,
    /// ModelOpt's NVFP4 (`NVFP4QTensor`):
    ///   g   = amax_tensor / (6 · 448)                     (fp32, 1 when 0)
    ///   s_b = cast_e4m3(amax_block / (6 · g))             (1 before the cast when 0)
    ///   x̂   = cast_e2m1(x / (s_b · g)) · s_b · g          (0 when s_b · g is 0)
    /// every step in float32. The codes and scales are ModelOpt's; x̂ takes
    /// one rounding (e2m1 · s_b is exact), as a tensor core applies s_b in
    /// the product and g after it, where ModelOpt's `dequantize` rounds
    /// s_b · g first (at most an ulp apart).
    Nvidia,
}

pub struct Microscaled {
    name: &'static str,
    summary: &'static str,
    ecosystem: &'static str,
    element: Minifloat,
    block: usize,
    scaling: Scaling,
    /// gguf-py's MXFP4 rule, bit for bit: the nearest of its kvalues with
    /// ties to the first (the smaller magnitude, not OCP's even one), every
    /// zero stored as code 0 (+0), and GGUF blocks as the packed layout.
    gguf: bool,
}

pub const MXFP8: Microscaled = Microscaled {
    name: "mxfp8",
    summary: "OCP MXFP8: blocks of 32 E4M3 elements sharing an E8M0 power-of-two scale",
    ecosystem: "OCP MXFP8 (E4M3)",
    element: E4M3,
    block: 32,
    scaling: Scaling::E8M0,
    gguf: false,
};
pub const MXFP4: Microscaled = Microscaled {
    name: "mxfp4",
    summary: "OCP MXFP4: blocks of 32 E2M1 elements sharing an E8M0 power-of-two scale (as GGML's MXFP4)",
    ecosystem: "OCP MXFP4 (GGML_TYPE_MXFP4)",
    element: E2M1,
    block: 32,
    scaling: Scaling::E8M0,
    gguf: true,
};
pub const NVFP4: Microscaled = Microscaled {
    name: "nvfp4",
    summary: "NVFP4: blocks of 16 E2M1 elements sharing an E4M3 scale, times an fp32 scale per tensor",
    ecosystem: "ModelOpt NVFP4",
    element: E2M1,
    block: 16,
    scaling: Scaling::Nvidia,
    gguf: false,
};

/// How a block's elements are scaled, and the scale's stored form.
struct BlockScale {
    scale: Scale,
    params: [(&'static str, f64); 2],
}

/// 2^(e − 127), the value of an E8M0 byte (e = 0 is float32's subnormal 2^-127).
fn e8m0_value(e: u8) -> f32 {
    if e == 0 { f32::from_bits(0x0040_0000) } else { f32::from_bits((e as u32) << 23) }
}

/// The E8M0 byte of a block of largest |x| `amax`: floor(log2 amax) as
/// gguf-py computes it, with numpy's float32 log2, which rounds an amax a
/// few ulps below 2^k up to k (so such a block gets the larger scale); 0
/// for an all-zero block.
#[inline(always)]
fn e8m0_of(amax: f32, element: &Minifloat) -> u8 {
    if amax <= 0.0 {
        return 0;
    }
    let emax_elem = (element.max.to_bits() >> 23) as i32 - 127;
    (floor_log2(amax) - emax_elem + 127).clamp(0, 254) as u8
}

/// `numpy_floor_log2` of a finite amax > 0 without the log for nearly all:
/// away from the top of its binade [2^k, 2^(k+1)) (and from the
/// subnormals) log2 amax rounds to a float32 in [k, k + 1), as half a
/// float32 step at k + 1 (|k + 1| <= 128) is at most 2^-18, which log2
/// covers within 44 steps of amax below 2^(k+1). `NEAR_TOP` keeps 1024
/// steps clear.
#[inline(always)]
fn floor_log2(amax: f32) -> i32 {
    const NEAR_TOP: u32 = 0x7F_FFFF - 1024;
    let bits = amax.to_bits();
    if bits >= f32::MIN_POSITIVE.to_bits() && bits & 0x7F_FFFF < NEAR_TOP {
        (bits >> 23) as i32 - 127
    } else {
        numpy_floor_log2(amax)
    }
}

/// floor of log2 amax computed in float64 and rounded to float32, as
/// numpy's float32 log2 gives it.
fn numpy_floor_log2(amax: f32) -> i32 {
    ((amax as f64).log2() as f32).floor() as i32
}

impl Microscaled {
    fn ties(&self) -> Ties {
        if self.gguf { Ties::TowardZero } else { Ties::Even }
    }

    #[inline(always)]
    fn block_scale(&self, tensor: &TensorFacts, xs: &[f32]) -> BlockScale {
        let amax = absmax(xs);
        match self.scaling {
            Scaling::E8M0 => {
                let e = e8m0_of(amax, &self.element);
                BlockScale {
                    scale: Scale::single(e8m0_value(e)),
                    params: [("e8m0", e as f64), ("scale", e8m0_value(e) as f64)],
                }
            }
            Scaling::Nvidia => {
                let top = self.element.max;
                let g = Some(tensor.amax / (top * E4M3.max)).filter(|&g| g > 0.0).unwrap_or(1.0);
                let raw = amax / (top * g);
                let block_scale = E4M3.cast(if raw == 0.0 { 1.0 } else { raw }, Ties::Even).value;
                BlockScale {
                    scale: Scale { divisor: block_scale * g, factors: [block_scale, g] },
                    params: [("block_scale", block_scale as f64), ("global_scale", g as f64)],
                }
            }
        }
    }

    /// `quantize` of whole blocks, for an element, tie rule, scaling and
    /// block size known where it is inlined (`mx_blocks`), so that the loop
    /// over the values is the cast's bit arithmetic and nothing else.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn cast_blocks(
        &self,
        element: &Minifloat,
        ties: Ties,
        scaling: Scaling,
        size: usize,
        tensor: &TensorFacts,
        xs: &[f32],
        xhat: &mut [f32],
        codes: &mut [u16],
        clipped: &mut [bool],
    ) {
        let outs = xhat.chunks_mut(size).zip(codes.chunks_mut(size)).zip(clipped.chunks_mut(size));
        for (block, ((xhat, codes), clipped)) in xs.chunks(size).zip(outs) {
            match scaling {
                Scaling::E8M0 => {
                    // x / 2^k is x · 2^-k bit for bit, and E8M0's 2^(e - 127)
                    // has its inverse among E8M0's values.
                    let e = e8m0_of(absmax(block), element);
                    let (s, inverse) = (e8m0_value(e), e8m0_value(254 - e));
                    cast_values(element, ties, self.gguf, block, |x| x * inverse, |v| v * s, xhat, codes, clipped);
                }
                Scaling::Nvidia => {
                    let scale = self.block_scale(tensor, block).scale;
                    if scale.divisor == 0.0 {
                        // A block scale flushed to 0: every x̂ is 0.
                        xhat.fill(0.0);
                        codes.fill(0);
                        clipped.fill(false);
                        continue;
                    }
                    let (to, from) = (|x: f32| x / scale.divisor, |v: f32| scale.apply(v));
                    cast_values(element, ties, self.gguf, block, to, from, xhat, codes, clipped);
                }
            }
        }
    }
}

/// Each value cast after `to_element`, its x̂ the element's value through
/// `from_element`; with `gguf`, -0 stored as +0 (code 0), as gguf-py does.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn cast_values(
    element: &Minifloat,
    ties: Ties,
    gguf: bool,
    xs: &[f32],
    to_element: impl Fn(f32) -> f32,
    from_element: impl Fn(f32) -> f32,
    xhat: &mut [f32],
    codes: &mut [u16],
    clipped: &mut [bool],
) {
    let negative_zero = 1 << (element.bits() - 1);
    for (&x, ((xh, c), cl)) in xs.iter().zip(xhat.iter_mut().zip(codes.iter_mut()).zip(clipped.iter_mut())) {
        let cast = element.cast(to_element(x), ties);
        let (value, code) = if gguf && cast.code == negative_zero { (0.0, 0) } else { (cast.value, cast.code) };
        (*xh, *c, *cl) = (from_element(value), code, cast.clipped);
    }
}

with_avx2! {
    /// `Microscaled::quantize`: the built-in formats' element, tie rule
    /// and scaling as constants in their loops (any other through the
    /// same code, read from `f`).
    fn mx_blocks(f: &Microscaled, tensor: &TensorFacts, xs: &[f32], xhat: &mut [f32], codes: &mut [u16], clipped: &mut [bool]) {
        let (element, ties, scaling, size) = (f.element, f.ties(), f.scaling, f.block);
        match (scaling, ties, size) {
            (Scaling::E8M0, Ties::TowardZero, 32) if element == E2M1 => {
                f.cast_blocks(&E2M1, Ties::TowardZero, Scaling::E8M0, 32, tensor, xs, xhat, codes, clipped)
            }
            (Scaling::E8M0, Ties::Even, 32) if element == E4M3 => {
                f.cast_blocks(&E4M3, Ties::Even, Scaling::E8M0, 32, tensor, xs, xhat, codes, clipped)
            }
            (Scaling::Nvidia, Ties::Even, 16) if element == E2M1 => {
                f.cast_blocks(&E2M1, Ties::Even, Scaling::Nvidia, 16, tensor, xs, xhat, codes, clipped)
            }
            _ => f.cast_blocks(&element, ties, scaling, size, tensor, xs, xhat, codes, clipped),
        }
    }
}

impl NumberFormat for Microscaled {
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
        whole_blocks("quant.format", self.block, cols, self.name)
    }

    fn grouping(&self, _cfg: &QuantConfig) -> Grouping {
        Grouping::Groups(self.block)
    }

    fn code_bits(&self, _cfg: &QuantConfig) -> u32 {
        self.element.bits()
    }

    fn bits_per_weight(&self, _cfg: &QuantConfig, rows: usize, cols: usize) -> f64 {
        let per_block = self.element.bits() as f64 + 8.0 / self.block as f64;
        match self.scaling {
            Scaling::E8M0 => per_block,
            Scaling::Nvidia => per_block + SCALE_BITS / (rows * cols).max(1) as f64,
        }
    }

    fn quantize(&self, _cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], out: Quantized<'_>) {
        mx_blocks(self, tensor, xs, out.xhat, out.codes, out.clipped);
    }

    fn levels(&self, _cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32]) -> Vec<f32> {
        self.block_scale(tensor, xs).scale.levels(&self.element)
    }

    fn params(&self, _cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32]) -> Vec<(&'static str, f64)> {
        self.block_scale(tensor, xs).params.to_vec()
    }

    fn ecosystem(&self, _cfg: &QuantConfig) -> String {
        self.ecosystem.into()
    }

    /// MXFP4 as a GGUF `block_mxfp4`: the E8M0 byte, then 16 bytes holding
    /// element j in the low nibble of byte j and element j + 16 in its high
    /// one. MXFP8 and NVFP4 in the generic layout (`pack.rs`), as torchao's
    /// and ModelOpt's tensors hold them: the element codes (E4M3 bytes; E2M1
    /// two to a byte, the first in the low nibble), each block's scale byte
    /// (E8M0, or NVFP4's E4M3), then NVFP4's fp32 tensor scale.
    fn pack(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], out: &mut Packed) -> bool {
        if self.gguf {
            self.pack_gguf(tensor, xs, out.blocks());
            return true;
        }
        pack_codes(self, cfg, tensor, xs, out);
        for block in xs.chunks(self.block) {
            match self.scaling {
                Scaling::E8M0 => out.params().push(e8m0_of(absmax(block), &self.element)),
                Scaling::Nvidia => {
                    let [block_scale, global] = self.block_scale(tensor, block).scale.factors;
                    out.params().push(E4M3.cast(block_scale, Ties::Even).code as u8);
                    out.tensor_params(|bytes| push_f32(bytes, global));
                }
            }
        }
        true
    }
}

impl Microscaled {
    fn pack_gguf(&self, tensor: &TensorFacts, xs: &[f32], out: &mut Vec<u8>) {
        const BLOCK: usize = 32;
        for block in xs.chunks(BLOCK) {
            let (mut xhat, mut codes, mut clipped) = ([0f32; BLOCK], [0u16; BLOCK], [false; BLOCK]);
            let n = block.len();
            mx_blocks(self, tensor, block, &mut xhat[..n], &mut codes[..n], &mut clipped[..n]);
            out.push(e8m0_of(absmax(block), &self.element));
            let half = BLOCK / 2;
            out.extend((0..half).map(|j| (codes[j] | codes[j + half] << 4) as u8));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_floor_log2(bits: u32) {
        let amax = f32::from_bits(bits);
        assert_eq!(floor_log2(amax), numpy_floor_log2(amax), "{amax:e} ({bits:#010x})");
    }

    #[test]
    fn floor_log2_is_numpy_s_near_every_power_of_two_and_on_a_stride() {
        // The shortcut's edges: the first and last 2^13 patterns of every
        // binade (the top is where log2 rounds up), the subnormals on a
        // stride, and a stride through all positive finite floats.
        let top = f32::MAX.to_bits();
        for binade in 1..255u32 {
            let (start, end) = (binade << 23, (binade << 23 | 0x7F_FFFF).min(top));
            (start..start + 8192).chain(end - 8191..=end).for_each(assert_floor_log2);
        }
        (1..0x0080_0000).step_by(97).for_each(assert_floor_log2);
        (1..=top).step_by(1021).for_each(assert_floor_log2);
    }

    /// Every positive finite float (`cargo test --release --lib
    /// every_positive_float -- --ignored`).
    #[test]
    #[ignore]
    fn floor_log2_is_numpy_s_on_every_positive_float() {
        (1..=f32::MAX.to_bits()).for_each(assert_floor_log2);
    }

    #[test]
    fn a_block_just_below_a_power_of_two_takes_the_larger_scale_as_numpy() {
        // 2^3 less one float32 step: log2 rounds to 3 in float32.
        let amax = 8f32.next_down();
        assert_eq!(floor_log2(amax), 3);
        assert_eq!(e8m0_of(amax, &E2M1), 127 + 3 - 2);
        assert_eq!(floor_log2(7.99), 2);
    }

    #[test]
    fn the_e8m0_inverse_is_exact() {
        for e in 0..=254u8 {
            assert_eq!(e8m0_value(e) as f64 * e8m0_value(254 - e) as f64, 1.0, "{e}");
        }
    }
}
