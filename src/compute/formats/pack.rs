//! The packed form of a tensor: what `quantize --packed` writes, and what
//! [`NumberFormat::pack`] appends each group to.
//!
//! A tensor's bytes are, in this order:
//! 1. its stream: the byte-aligned blocks of a format whose ecosystem
//!    interleaves codes and scales (GGUF's `block_q4_0`, …), or the codes
//!    bit-packed LSB-first (code i at bits i·b … i·b + b − 1 of the stream,
//!    b = `code_bits`), zero-padded to a whole byte once, at its end;
//! 2. the groups' parameters, group after group, each at its stored width
//!    (little-endian fp32, fp16, int32 or a byte);
//! 3. the tensor's own parameters (a per-tensor scale), once.
//!
//! Groups come in the order the pipeline cuts them: row-major, except per
//! channel along `channel_axis = 1`, column after column. So a format whose
//! `bits_per_weight` counts its codes and every parameter packs to exactly
//! ⌈count · bpw / 8⌉ bytes.

use super::{GroupFit, NumberFormat, Quantized, TensorFacts};
use crate::compute::analysis::{AnalysisError, channel_params, quantize_codes};
use crate::compute::layout::Layout;
use crate::compute::quant::{QParams, QuantConfig};
use crate::compute::weights::Weights;

/// A tensor's packed form while its groups are appended.
#[derive(Debug, Default)]
pub struct Packed {
    stream: Vec<u8>,
    /// Bits of the stream's last byte that codes already fill (0: aligned).
    used: u32,
    params: Vec<u8>,
    tensor: Option<Vec<u8>>,
}

impl Packed {
    pub fn new() -> Packed {
        Packed::default()
    }

    /// Where a format of byte-aligned blocks writes them.
    pub fn blocks(&mut self) -> &mut Vec<u8> {
        debug_assert_eq!(self.used, 0, "blocks after codes that end mid-byte");
        &mut self.stream
    }

    /// Appends `codes` at `bits` bits each, LSB-first.
    pub fn codes(&mut self, codes: &[u16], bits: u32) {
        for &code in codes {
            let (mut value, mut left) = (code as u32 & ((1 << bits) - 1), bits);
            while left > 0 {
                if self.used == 0 {
                    self.stream.push(0);
                }
                let take = left.min(8 - self.used);
                *self.stream.last_mut().expect("pushed above") |= ((value & ((1 << take) - 1)) << self.used) as u8;
                (value, left) = (value >> take, left - take);
                self.used = (self.used + take) % 8;
            }
        }
    }

    /// Where a group's parameters go.
    pub fn params(&mut self) -> &mut Vec<u8> {
        &mut self.params
    }

    /// Writes the tensor's own parameters on the first call only: every
    /// group of a per-tensor scale offers them, one is stored.
    pub fn tensor_params(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        if self.tensor.is_none() {
            let mut bytes = Vec::new();
            write(&mut bytes);
            self.tensor = Some(bytes);
        }
    }

    pub fn finish(self) -> Vec<u8> {
        let mut out = self.stream;
        out.extend(self.params);
        out.extend(self.tensor.unwrap_or_default());
        out
    }
}

/// Appends `v` as a little-endian fp32.
pub(super) fn push_f32(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// One group's codes, as the format's `quantize` gives them, or its
/// `quantize_part` of the whole group from the `fit` already made.
fn group_codes(
    format: &dyn NumberFormat,
    cfg: &QuantConfig,
    tensor: &TensorFacts,
    fit: Option<&GroupFit>,
    xs: &[f32],
) -> Vec<u16> {
    let n = xs.len();
    let (mut xhat, mut codes, mut clipped) = (vec![0f32; n], vec![0u16; n], vec![false; n]);
    let out = Quantized { xhat: &mut xhat, codes: &mut codes, clipped: &mut clipped };
    match fit {
        Some(fit) => format.quantize_part(cfg, tensor, fit, xs, out),
        None => format.quantize(cfg, tensor, xs, out),
    }
    codes
}

/// The generic layout's codes of one group: bit-packed at `code_bits`.
pub(super) fn pack_codes(
    format: &dyn NumberFormat,
    cfg: &QuantConfig,
    tensor: &TensorFacts,
    xs: &[f32],
    out: &mut Packed,
) {
    out.codes(&group_codes(format, cfg, tensor, None, xs), format.code_bits(cfg));
}

/// [`pack_codes`] for a format with a [`NumberFormat::fit`], from the fit
/// the caller also stores: the group is fitted once, not again by `quantize`.
pub(super) fn pack_fitted_codes(
    format: &dyn NumberFormat,
    cfg: &QuantConfig,
    tensor: &TensorFacts,
    fit: &GroupFit,
    xs: &[f32],
    out: &mut Packed,
) {
    out.codes(&group_codes(format, cfg, tensor, Some(fit), xs), format.code_bits(cfg));
}

/// An affine channel's stored parameters: fp32 scale, and int32 zero
/// point in the stored codes' own domain (code − qmin), so that
/// x̂ = (code − zero_point) · scale.
pub(super) fn push_affine(out: &mut Vec<u8>, p: &QParams) {
    push_f32(out, p.scale);
    out.extend_from_slice(&(p.zero_point - p.qmin).to_le_bytes());
}

/// `int` per tensor or per channel, from the affine kernel's own
/// parameters and codes (the ones `quantize --out` writes).
pub(super) fn affine(w: &Weights, cfg: &QuantConfig) -> Result<Vec<u8>, AnalysisError> {
    let params: Vec<QParams> = channel_params(w, cfg)?.iter().map(|c| c.params).collect();
    let row_major = quantize_codes(w, cfg, &params);
    let channel_major: Vec<i32> = match Layout::of(w, cfg) {
        Layout::Cols { cols, .. } => (0..cols).flat_map(|c| row_major.iter().skip(c).step_by(cols)).copied().collect(),
        _ => row_major,
    };
    let per_channel = (channel_major.len() / params.len().max(1)).max(1);
    let bits = cfg.format.format().code_bits(cfg);
    let mut out = Packed::new();
    for (channel, p) in channel_major.chunks(per_channel).zip(&params) {
        let codes: Vec<u16> = channel.iter().map(|&q| (q - p.qmin) as u16).collect();
        out.codes(&codes, bits);
        push_affine(out.params(), p);
    }
    Ok(out.finish())
}

#[cfg(test)]
#[path = "tests_pack.rs"]
mod tests_pack;
