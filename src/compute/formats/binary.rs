//! `binary` (XNOR-Net, Rastegari et al. 2016): x̂ = α·sign(x) with
//! α = mean |x|; `ternary` (Ternary Weight Networks, Li et al. 2016):
//! Δ = 0.7·mean |x|, α = mean of the |x| > Δ, x̂ = α·sign(x) where
//! |x| > Δ, else 0. One α per tensor or per channel.
//!
//! Means are sums in float64 in value order divided by the count, α then
//! rounded to float32: an order numpy's `cumsum` reproduces exactly, so
//! the cross-check can be bit for bit.

use super::pack::{pack_codes, push_f32};
use super::{Grouping, NumberFormat, Packed, Quantized, TensorFacts, with_avx2};
use crate::compute::quant::{Granularity, InvalidSetting, QuantConfig};

pub struct Binary;
pub struct Ternary;

/// The mean of |x| over the values `keep` selects (0 when none is). A value
/// left out adds +0.0, which leaves the sum (never -0.0) as it is; it is
/// masked to +0.0 by its bits, so that no branch (mispredicted for half the
/// values of TWN's threshold) holds up the sum's one chain of additions.
fn mean_abs(xs: &[f32], keep: impl Fn(f64) -> bool) -> f64 {
    let (mut sum, mut n) = (0f64, 0usize);
    for x in xs {
        let a = x.abs() as f64;
        let kept = keep(a);
        sum += f64::from_bits(a.to_bits() & (kept as u64).wrapping_neg());
        n += kept as usize;
    }
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// TWN's threshold: 0.7 · mean |x| (the paper's approximation of the optimal Δ).
fn twn_delta(xs: &[f32]) -> f64 {
    0.7 * mean_abs(xs, |_| true)
}

fn twn_alpha(xs: &[f32], delta: f64) -> f32 {
    mean_abs(xs, |a| a > delta) as f32
}

/// TWN's Δ and α of a group.
fn twn(xs: &[f32]) -> (f64, f32) {
    let delta = twn_delta(xs);
    (delta, twn_alpha(xs, delta))
}

fn xnor_alpha(xs: &[f32]) -> f32 {
    mean_abs(xs, |_| true) as f32
}

fn binary_levels(alpha: f32) -> Vec<f32> {
    if alpha == 0.0 { vec![0.0] } else { vec![-alpha, alpha] }
}

fn ternary_levels(alpha: f32) -> Vec<f32> {
    if alpha == 0.0 { vec![0.0] } else { vec![-alpha, 0.0, alpha] }
}

/// Per tensor or per channel: the only granularities with one α.
fn check_granularity(cfg: &QuantConfig, format: &str) -> Result<(), InvalidSetting> {
    if cfg.granularity == Granularity::PerGroup {
        return Err(InvalidSetting::new(
            "quant.granularity",
            format!("{format} has one α per tensor or per channel: use per-tensor or per-channel"),
        ));
    }
    Ok(())
}

fn grouping_of(cfg: &QuantConfig) -> Grouping {
    if cfg.granularity == Granularity::PerChannel { Grouping::Channel } else { Grouping::Tensor }
}

/// One α per tensor or channel (fp32): 32 bits per group.
fn bpw_of(cfg: &QuantConfig, code_bits: u32, rows: usize, cols: usize) -> f64 {
    let count = (rows * cols).max(1) as f64;
    let groups = match grouping_of(cfg) {
        Grouping::Channel => [rows, cols][cfg.channel_axis.min(1)] as f64,
        _ => 1.0,
    };
    code_bits as f64 + groups * 32.0 / count
}

const SETTINGS: &[&str] = &["granularity", "channel_axis"];

with_avx2! {
    /// ±α by sign, sign(0) = +1 (and -0.0 >= 0): every value gets ±α.
    fn binary_codes(xs: &[f32], alpha: f32, xhat: &mut [f32], codes: &mut [u16], clipped: &mut [bool]) {
        for (&x, ((xh, c), cl)) in xs.iter().zip(xhat.iter_mut().zip(codes.iter_mut()).zip(clipped.iter_mut())) {
            let up = x >= 0.0;
            (*xh, *c, *cl) = (if up { alpha } else { -alpha }, up as u16, false);
        }
    }
}

with_avx2! {
    /// Codes 0, 1, 2 for -α, 0 (|x| ≤ Δ), +α.
    fn ternary_codes(xs: &[f32], delta: f64, alpha: f32, xhat: &mut [f32], codes: &mut [u16], clipped: &mut [bool]) {
        for (&x, ((xh, c), cl)) in xs.iter().zip(xhat.iter_mut().zip(codes.iter_mut()).zip(clipped.iter_mut())) {
            let (zero, up) = ((x.abs() as f64) <= delta, x > 0.0);
            let code = if zero { 1 } else { 2 * up as u16 };
            (*xh, *c, *cl) = (if zero { 0.0 } else if up { alpha } else { -alpha }, code, false);
        }
    }
}

impl NumberFormat for Binary {
    fn name(&self) -> &'static str {
        "binary"
    }

    fn summary(&self) -> &'static str {
        "XNOR-Net binary: 1-bit sign codes, x̂ = α·sign(x) with α = mean |x| per tensor or channel"
    }

    fn settings(&self) -> &'static [&'static str] {
        SETTINGS
    }

    fn check(&self, cfg: &QuantConfig, _cols: Option<usize>) -> Result<(), InvalidSetting> {
        check_granularity(cfg, self.name())
    }

    fn grouping(&self, cfg: &QuantConfig) -> Grouping {
        grouping_of(cfg)
    }

    fn code_bits(&self, _cfg: &QuantConfig) -> u32 {
        1
    }

    fn bits_per_weight(&self, cfg: &QuantConfig, rows: usize, cols: usize) -> f64 {
        bpw_of(cfg, 1, rows, cols)
    }

    fn quantize(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32], out: Quantized<'_>) {
        binary_codes(xs, xnor_alpha(xs), out.xhat, out.codes, out.clipped);
    }

    fn levels(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<f32> {
        binary_levels(xnor_alpha(xs))
    }

    fn params(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<(&'static str, f64)> {
        vec![("alpha", xnor_alpha(xs) as f64)]
    }

    fn levels_and_params(
        &self,
        _cfg: &QuantConfig,
        _tensor: &TensorFacts,
        xs: &[f32],
    ) -> (Vec<f32>, Vec<(&'static str, f64)>) {
        let alpha = xnor_alpha(xs);
        (binary_levels(alpha), vec![("alpha", alpha as f64)])
    }

    /// 1-bit codes LSB-first (1 for +α), then each group's fp32 α.
    fn pack(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], out: &mut Packed) -> bool {
        pack_codes(self, cfg, tensor, xs, out);
        push_f32(out.params(), xnor_alpha(xs));
        true
    }

    fn ecosystem(&self, _cfg: &QuantConfig) -> String {
        "XNOR-Net binary".into()
    }
}

impl NumberFormat for Ternary {
    fn name(&self) -> &'static str {
        "ternary"
    }

    fn summary(&self) -> &'static str {
        "TWN ternary: 2-bit codes for -α, 0, +α; Δ = 0.7·mean |x|, α = mean of |x| > Δ per tensor or channel"
    }

    fn settings(&self) -> &'static [&'static str] {
        SETTINGS
    }

    fn check(&self, cfg: &QuantConfig, _cols: Option<usize>) -> Result<(), InvalidSetting> {
        check_granularity(cfg, self.name())
    }

    fn grouping(&self, cfg: &QuantConfig) -> Grouping {
        grouping_of(cfg)
    }

    fn code_bits(&self, _cfg: &QuantConfig) -> u32 {
        2
    }

    fn bits_per_weight(&self, cfg: &QuantConfig, rows: usize, cols: usize) -> f64 {
        bpw_of(cfg, 2, rows, cols)
    }

    fn quantize(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32], out: Quantized<'_>) {
        let (delta, alpha) = twn(xs);
        ternary_codes(xs, delta, alpha, out.xhat, out.codes, out.clipped);
    }

    fn levels(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<f32> {
        ternary_levels(twn(xs).1)
    }

    fn params(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<(&'static str, f64)> {
        let (delta, alpha) = twn(xs);
        vec![("delta", delta), ("alpha", alpha as f64)]
    }

    fn levels_and_params(
        &self,
        _cfg: &QuantConfig,
        _tensor: &TensorFacts,
        xs: &[f32],
    ) -> (Vec<f32>, Vec<(&'static str, f64)>) {
        let (delta, alpha) = twn(xs);
        (ternary_levels(alpha), vec![("delta", delta), ("alpha", alpha as f64)])
    }

    /// 2-bit codes LSB-first (0, 1, 2 for -α, 0, +α), then each group's fp32 α.
    fn pack(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], out: &mut Packed) -> bool {
        pack_codes(self, cfg, tensor, xs, out);
        push_f32(out.params(), twn(xs).1);
        true
    }

    fn ecosystem(&self, _cfg: &QuantConfig) -> String {
        "TWN ternary".into()
    }
}
