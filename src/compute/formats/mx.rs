//! Block-scaled FP8 and FP4: OCP microscaling (MXFP8, MXFP4: 32 elements
//! sharing a power-of-two E8M0 scale) and NVIDIA's NVFP4 (16 E2M1 elements
//! sharing an E4M3 scale, times one float32 scale of the tensor).

use super::float::{SCALE_BITS, Scale, amax, cast_scaled};
use super::minifloat::{E2M1, E4M3, Minifloat, Ties};
use super::pack::{pack_codes, push_f32};
use super::{Grouping, NumberFormat, Packed, Quantized, TensorFacts, whole_blocks};
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
fn e8m0_of(amax: f32, element: &Minifloat) -> u8 {
    if amax <= 0.0 {
        return 0;
    }
    let emax_elem = (element.max.to_bits() >> 23) as i32 - 127;
    let log2 = ((amax as f64).log2() as f32).floor() as i32;
    (log2 - emax_elem + 127).clamp(0, 254) as u8
}

impl Microscaled {
    fn ties(&self) -> Ties {
        if self.gguf { Ties::TowardZero } else { Ties::Even }
    }

    fn block_scale(&self, tensor: &TensorFacts, xs: &[f32]) -> BlockScale {
        let amax = amax(xs);
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

    /// Quantizes one block into `out` from `at`.
    fn quantize_block(&self, tensor: &TensorFacts, xs: &[f32], out: &mut Quantized<'_>, at: usize) {
        let s = self.block_scale(tensor, xs);
        cast_scaled(&self.element, self.ties(), s.scale, xs, out, at);
        if self.gguf {
            let sign = 1 << (self.element.bits() - 1);
            for k in at..at + xs.len() {
                if out.codes[k] == sign {
                    (out.xhat[k], out.codes[k]) = (0.0, 0);
                }
            }
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

    fn quantize(&self, _cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], mut out: Quantized<'_>) {
        for (i, block) in xs.chunks(self.block).enumerate() {
            self.quantize_block(tensor, block, &mut out, i * self.block);
        }
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
                Scaling::E8M0 => out.params().push(e8m0_of(amax(block), &self.element)),
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
            let mut q = Quantized { xhat: &mut xhat[..n], codes: &mut codes[..n], clipped: &mut clipped[..n] };
            self.quantize_block(tensor, block, &mut q, 0);
            out.push(e8m0_of(amax(block), &self.element));
            let half = BLOCK / 2;
            out.extend((0..half).map(|j| (codes[j] | codes[j + half] << 4) as u8));
        }
    }
}
