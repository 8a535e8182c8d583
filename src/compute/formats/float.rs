//! FP8 and FP4 with one float32 scale per tensor or per channel, as torch's
//! scaled `float8_e4m3fn` / `float8_e5m2` / `float4_e2m1fn_x2` weights:
//! s = amax / max, x̂ = cast(x / s) * s, the cast rounding to nearest even
//! and saturating at ±max.

use super::minifloat::{E2M1, E4M3, E5M2, Minifloat, Ties};
use super::pack::{pack_codes, push_f32};
use super::{Grouping, NumberFormat, Packed, Quantized, TensorFacts, with_avx2};
use crate::compute::quant::{Granularity, InvalidSetting, QuantConfig};

/// Values per task of a per-tensor scale: the scale is the tensor's, so the
/// groups only share out the work.
const TENSOR_CHUNK: usize = 4096;

/// Bits of one float32 scale.
pub(super) const SCALE_BITS: f64 = 32.0;

pub struct Scaled {
    name: &'static str,
    summary: &'static str,
    dtype: &'static str,
    element: Minifloat,
}

pub const FP8_E4M3: Scaled = Scaled {
    name: "fp8-e4m3",
    summary: "FP8 E4M3 (max 448, subnormals, no Inf) with an fp32 scale amax/448 per tensor or channel",
    dtype: "torch.float8_e4m3fn",
    element: E4M3,
};
pub const FP8_E5M2: Scaled = Scaled {
    name: "fp8-e5m2",
    summary: "FP8 E5M2 (max 57344, saturating) with an fp32 scale amax/57344 per tensor or channel",
    dtype: "torch.float8_e5m2",
    element: E5M2,
};
pub const FP4_E2M1: Scaled = Scaled {
    name: "fp4-e2m1",
    summary: "FP4 E2M1 (±0, 0.5, 1, 1.5, 2, 3, 4, 6) with an fp32 scale amax/6 per tensor or channel",
    dtype: "torch.float4_e2m1fn_x2",
    element: E2M1,
};

/// The largest |x| of a group.
pub(super) fn amax(xs: &[f32]) -> f32 {
    xs.iter().fold(0f32, |m, x| m.max(x.abs()))
}

/// How a group's elements are scaled: x / `divisor` is cast, and its value
/// times `factors[0]` then `factors[1]` is x̂.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Scale {
    pub divisor: f32,
    pub factors: [f32; 2],
}

impl Scale {
    /// One scale s: x̂ = cast(x / s) · s.
    pub fn single(s: f32) -> Scale {
        Scale { divisor: s, factors: [s, 1.0] }
    }

    #[inline(always)]
    pub fn apply(&self, value: f32) -> f32 {
        value * self.factors[0] * self.factors[1]
    }

    /// The values the element's codes stand for, ascending.
    pub fn levels(&self, element: &Minifloat) -> Vec<f32> {
        element.levels(|v| self.apply(v))
    }
}

/// x̂ = cast(x / divisor) · factors for each of `xs`, written to `out` from
/// `at`. A zero divisor (an NVFP4 block scale flushed to 0) gives 0.
pub(super) fn cast_scaled(
    element: &Minifloat,
    ties: Ties,
    scale: Scale,
    xs: &[f32],
    out: &mut Quantized<'_>,
    at: usize,
) {
    let span = at..at + xs.len();
    let (xhat, codes, clipped) = (&mut out.xhat[span.clone()], &mut out.codes[span.clone()], &mut out.clipped[span]);
    if scale.divisor == 0.0 {
        xhat.fill(0.0);
        codes.fill(0);
        clipped.fill(false);
        return;
    }
    match ties {
        Ties::Even => cast_even(element, scale, xs, xhat, codes, clipped),
        Ties::TowardZero => cast_toward_zero(element, scale, xs, xhat, codes, clipped),
    }
}

/// `cast_scaled`'s loop for ties known where it is inlined.
#[inline(always)]
fn cast_into(
    element: &Minifloat,
    ties: Ties,
    scale: Scale,
    xs: &[f32],
    xhat: &mut [f32],
    codes: &mut [u16],
    clipped: &mut [bool],
) {
    for (&x, ((xh, c), clip)) in xs.iter().zip(xhat.iter_mut().zip(codes.iter_mut()).zip(clipped.iter_mut())) {
        let cast = element.cast(x / scale.divisor, ties);
        (*xh, *c, *clip) = (scale.apply(cast.value), cast.code, cast.clipped);
    }
}

with_avx2! {
    fn cast_even(element: &Minifloat, scale: Scale, xs: &[f32], xhat: &mut [f32], codes: &mut [u16], clipped: &mut [bool]) {
        cast_into(element, Ties::Even, scale, xs, xhat, codes, clipped)
    }
}

with_avx2! {
    fn cast_toward_zero(
        element: &Minifloat,
        scale: Scale,
        xs: &[f32],
        xhat: &mut [f32],
        codes: &mut [u16],
        clipped: &mut [bool],
    ) {
        cast_into(element, Ties::TowardZero, scale, xs, xhat, codes, clipped)
    }
}

fn per_channel(cfg: &QuantConfig) -> bool {
    cfg.granularity == Granularity::PerChannel
}

impl Scaled {
    /// amax / max of the tensor or of the channel `xs`; 1 when that is 0
    /// (every x is then 0, and x / 0 would be NaN).
    fn scale(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32]) -> Scale {
        let amax = if per_channel(cfg) { amax(xs) } else { tensor.amax };
        let s = amax / self.element.max;
        Scale::single(if s > 0.0 { s } else { 1.0 })
    }
}

impl NumberFormat for Scaled {
    fn name(&self) -> &'static str {
        self.name
    }

    fn summary(&self) -> &'static str {
        self.summary
    }

    fn settings(&self) -> &'static [&'static str] {
        &["granularity", "channel_axis"]
    }

    fn check(&self, cfg: &QuantConfig, _cols: Option<usize>) -> Result<(), InvalidSetting> {
        if cfg.granularity == Granularity::PerGroup {
            return Err(InvalidSetting::new(
                "quant.granularity",
                format!(
                    "{} has one scale per tensor or per channel; for scales per block use mxfp8, mxfp4 or nvfp4",
                    self.name
                ),
            ));
        }
        Ok(())
    }

    fn grouping(&self, cfg: &QuantConfig) -> Grouping {
        if per_channel(cfg) { Grouping::Channel } else { Grouping::Groups(TENSOR_CHUNK) }
    }

    fn code_bits(&self, _cfg: &QuantConfig) -> u32 {
        self.element.bits()
    }

    fn bits_per_weight(&self, cfg: &QuantConfig, rows: usize, cols: usize) -> f64 {
        let scales = if per_channel(cfg) { [rows, cols][cfg.channel_axis.min(1)] } else { 1 };
        self.element.bits() as f64 + scales as f64 * SCALE_BITS / (rows * cols).max(1) as f64
    }

    fn quantize(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], mut out: Quantized<'_>) {
        let s = self.scale(cfg, tensor, xs);
        cast_scaled(&self.element, Ties::Even, s, xs, &mut out, 0);
    }

    fn levels(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32]) -> Vec<f32> {
        self.scale(cfg, tensor, xs).levels(&self.element)
    }

    fn params(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32]) -> Vec<(&'static str, f64)> {
        vec![("scale", self.scale(cfg, tensor, xs).divisor as f64)]
    }

    /// The element codes (fp8 bytes; fp4 two to a byte, the first in the
    /// low nibble, as `float4_e2m1fn_x2`), then the fp32 scale: one per
    /// channel, or one for the tensor at the end.
    fn pack(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], out: &mut Packed) -> bool {
        pack_codes(self, cfg, tensor, xs, out);
        let scale = self.scale(cfg, tensor, xs).divisor;
        if per_channel(cfg) {
            push_f32(out.params(), scale);
        } else {
            out.tensor_params(|bytes| push_f32(bytes, scale));
        }
        true
    }

    fn ecosystem(&self, cfg: &QuantConfig) -> String {
        let scale = if per_channel(cfg) { "per-channel" } else { "per-tensor" };
        format!("{} with a {scale} scale", self.dtype)
    }
}

#[cfg(test)]
#[path = "tests_floats.rs"]
mod tests_floats;
