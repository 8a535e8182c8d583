//! `binary` (XNOR-Net, Rastegari et al. 2016): x̂ = α·sign(x) with
//! α = mean |x|; `ternary` (Ternary Weight Networks, Li et al. 2016):
//! Δ = 0.7·mean |x|, α = mean of the |x| > Δ, x̂ = α·sign(x) where
//! |x| > Δ, else 0. One α per tensor or per channel.
//!
//! Means are float64 sums divided by the count, α then rounded to float32.
//! A sum runs in eight lanes: lane l adds the |x| of values l, l + 8,
//! l + 16, … of the group in order, and the eight lane sums are then added
//! in lane order, (((s0 + s1) + s2) + …) + s7. An order fixed by the
//! values alone (not by threads), eight times shorter a chain than one
//! sum in value order, and one numpy reproduces exactly (`cumsum` down the
//! columns of the values laid out eight to a row, `scripts/refs_nonuniform.py`),
//! so the cross-check can be bit for bit.

use super::pack::{pack_fitted_codes, push_f32};
use super::{GroupFit, Grouping, NumberFormat, Packed, Quantized, TensorFacts, with_avx2};
use crate::compute::quant::{Granularity, InvalidSetting, QuantConfig};

pub struct Binary;
pub struct Ternary;

/// Lanes of the means' sums (see the module doc).
const LANES: usize = 8;

with_avx2! {
    /// The mean of the |x| above `threshold` (0 when none is), summed in
    /// lanes (see the module doc). A value left out adds +0.0, which leaves
    /// a sum (never -0.0) as it is; it is masked to +0.0 by its bits, so that
    /// no branch (mispredicted for half the values of TWN's threshold) holds
    /// up the additions.
    fn mean_abs_above(xs: &[f32], threshold: f64) -> f64 {
        let (mut sums, mut counts) = ([0f64; LANES], [0u64; LANES]);
        let mut add = |l: usize, x: f32| {
            let a = x.abs() as f64;
            let kept = a > threshold;
            sums[l] += f64::from_bits(a.to_bits() & (kept as u64).wrapping_neg());
            counts[l] += kept as u64;
        };
        let rows = xs.chunks_exact(LANES);
        let tail = rows.remainder();
        for row in rows {
            for (l, &x) in row.iter().enumerate() {
                add(l, x);
            }
        }
        for (l, &x) in tail.iter().enumerate() {
            add(l, x);
        }
        let sum = sums.iter().fold(0f64, |total, &s| total + s);
        let n: u64 = counts.iter().sum();
        if n == 0 { 0.0 } else { sum / n as f64 }
    }
}

/// The mean of all |x|.
fn mean_abs(xs: &[f32]) -> f64 {
    mean_abs_above(xs, f64::NEG_INFINITY)
}

/// TWN's threshold: 0.7 · mean |x| (the paper's approximation of the optimal Δ).
fn twn_delta(xs: &[f32]) -> f64 {
    0.7 * mean_abs(xs)
}

fn twn_alpha(xs: &[f32], delta: f64) -> f32 {
    mean_abs_above(xs, delta) as f32
}

/// TWN's Δ and α of a group.
fn twn(xs: &[f32]) -> (f64, f32) {
    let delta = twn_delta(xs);
    (delta, twn_alpha(xs, delta))
}

fn xnor_alpha(xs: &[f32]) -> f32 {
    mean_abs(xs) as f32
}

/// XNOR-Net's α of a group, with its levels.
fn binary_fit(xs: &[f32]) -> GroupFit {
    let alpha = xnor_alpha(xs);
    let levels = if alpha == 0.0 { vec![0.0] } else { vec![-alpha, alpha] };
    GroupFit { levels, params: vec![("alpha", alpha as f64)] }
}

/// TWN's Δ and α of a group, with its levels.
fn ternary_fit(xs: &[f32]) -> GroupFit {
    let (delta, alpha) = twn(xs);
    let levels = if alpha == 0.0 { vec![0.0] } else { vec![-alpha, 0.0, alpha] };
    GroupFit { levels, params: vec![("delta", delta), ("alpha", alpha as f64)] }
}

/// α as it was fitted: a float32 held in a float64, so the round trip is exact.
fn alpha_of(fit: &GroupFit) -> f32 {
    fit.param("alpha") as f32
}

/// The group's codes from its one fit, then the fit's fp32 α.
fn pack_alpha(
    format: &dyn NumberFormat,
    cfg: &QuantConfig,
    tensor: &TensorFacts,
    fit: &GroupFit,
    xs: &[f32],
    out: &mut Packed,
) -> bool {
    pack_fitted_codes(format, cfg, tensor, fit, xs, out);
    push_f32(out.params(), alpha_of(fit));
    true
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

    fn quantize(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], out: Quantized<'_>) {
        self.quantize_part(cfg, tensor, &binary_fit(xs), xs, out);
    }

    fn fit(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Option<GroupFit> {
        Some(binary_fit(xs))
    }

    fn quantize_part(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, fit: &GroupFit, xs: &[f32], out: Quantized<'_>) {
        binary_codes(xs, alpha_of(fit), out.xhat, out.codes, out.clipped);
    }

    fn levels(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<f32> {
        binary_fit(xs).levels
    }

    fn params(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<(&'static str, f64)> {
        binary_fit(xs).params
    }

    /// 1-bit codes LSB-first (1 for +α), then each group's fp32 α.
    fn pack(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], out: &mut Packed) -> bool {
        pack_alpha(self, cfg, tensor, &binary_fit(xs), xs, out)
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

    fn quantize(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], out: Quantized<'_>) {
        self.quantize_part(cfg, tensor, &ternary_fit(xs), xs, out);
    }

    fn fit(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Option<GroupFit> {
        Some(ternary_fit(xs))
    }

    fn quantize_part(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, fit: &GroupFit, xs: &[f32], out: Quantized<'_>) {
        ternary_codes(xs, fit.param("delta"), alpha_of(fit), out.xhat, out.codes, out.clipped);
    }

    fn levels(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<f32> {
        ternary_fit(xs).levels
    }

    fn params(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<(&'static str, f64)> {
        ternary_fit(xs).params
    }

    /// 2-bit codes LSB-first (0, 1, 2 for -α, 0, +α), then each group's fp32 α.
    fn pack(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], out: &mut Packed) -> bool {
        pack_alpha(self, cfg, tensor, &ternary_fit(xs), xs, out)
    }

    fn ecosystem(&self, _cfg: &QuantConfig) -> String {
        "TWN ternary".into()
    }
}
