//! `binary` (XNOR-Net, Rastegari et al. 2016): x̂ = α·sign(x) with
//! α = mean |x|; `ternary` (Ternary Weight Networks, Li et al. 2016):
//! Δ = 0.7·mean |x|, α = mean of the |x| > Δ, x̂ = α·sign(x) where
//! |x| > Δ, else 0. One α per tensor or per channel.
//!
//! Means are sums in float64 in value order divided by the count, α then
//! rounded to float32: an order numpy's `cumsum` reproduces exactly, so
//! the cross-check can be bit for bit.

use super::pack::{pack_codes, push_f32};
use super::{Grouping, NumberFormat, Packed, Quantized, TensorFacts};
use crate::compute::quant::{Granularity, InvalidSetting, QuantConfig};

pub struct Binary;
pub struct Ternary;

/// The mean of |x| over the values `keep` selects (0 when none is). A value
/// left out adds +0.0, which leaves the sum (never -0.0) as it is: no
/// branch to mispredict.
fn mean_abs(xs: &[f32], keep: impl Fn(f64) -> bool) -> f64 {
    let (mut sum, mut n) = (0f64, 0usize);
    for x in xs {
        let a = x.abs() as f64;
        let kept = keep(a);
        sum += if kept { a } else { 0.0 };
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

fn xnor_alpha(xs: &[f32]) -> f32 {
    mean_abs(xs, |_| true) as f32
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
        let alpha = xnor_alpha(xs);
        for (i, &x) in xs.iter().enumerate() {
            // sign(0) = +1 (and -0.0 >= 0): every value gets ±α.
            let up = x >= 0.0;
            out.codes[i] = up as u16;
            out.xhat[i] = if up { alpha } else { -alpha };
            out.clipped[i] = false;
        }
    }

    fn levels(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<f32> {
        let alpha = xnor_alpha(xs);
        if alpha == 0.0 { vec![0.0] } else { vec![-alpha, alpha] }
    }

    fn params(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<(&'static str, f64)> {
        vec![("alpha", xnor_alpha(xs) as f64)]
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
        let delta = twn_delta(xs);
        let alpha = twn_alpha(xs, delta);
        for (i, &x) in xs.iter().enumerate() {
            // Codes 0, 1, 2 for -α, 0, +α.
            let code = if (x.abs() as f64) <= delta { 1 } else { 2 * (x > 0.0) as u16 };
            out.codes[i] = code;
            out.xhat[i] = [-alpha, 0.0, alpha][code as usize];
            out.clipped[i] = false;
        }
    }

    fn levels(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<f32> {
        let alpha = twn_alpha(xs, twn_delta(xs));
        if alpha == 0.0 { vec![0.0] } else { vec![-alpha, 0.0, alpha] }
    }

    fn params(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<(&'static str, f64)> {
        let delta = twn_delta(xs);
        vec![("delta", delta), ("alpha", twn_alpha(xs, delta) as f64)]
    }

    /// 2-bit codes LSB-first (0, 1, 2 for -α, 0, +α), then each group's fp32 α.
    fn pack(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], out: &mut Packed) -> bool {
        pack_codes(self, cfg, tensor, xs, out);
        push_f32(out.params(), twn_alpha(xs, twn_delta(xs)));
        true
    }

    fn ecosystem(&self, _cfg: &QuantConfig) -> String {
        "TWN ternary".into()
    }
}
