//! `int`: the affine quantizer (PyTorch's observers, TensorRT's narrow
//! range, the seed document's manual mode). Per tensor and per channel it
//! runs in `analysis.rs`'s fast kernel; in groups of `group_size` along the
//! rows (GPTQ/AWQ's layout) it runs here, group by group.

use super::pack::{pack_codes, push_affine};
use super::{Grouping, NumberFormat, Packed, Quantized, TensorFacts};
use crate::compute::calibrate::{Target, calibrate};
use crate::compute::quant::{
    Granularity, InvalidSetting, MAX_BITS, MIN_BITS, QParams, QuantConfig, Rounder, Rounding, Scheme, bit_params,
    manual_params,
};

pub struct Int;

/// The group sizes GPTQ, AWQ and the Formats view use.
pub const GROUP_SIZES: [usize; 4] = [32, 64, 128, 256];

/// Bits of a float32 scale and an int32 zero point: what a channel or a group adds.
const PARAMS_BITS: f64 = 64.0;

fn in_groups(cfg: &QuantConfig) -> bool {
    cfg.granularity == Granularity::PerGroup && cfg.scheme != Scheme::Manual
}

impl Int {
    /// The calibrated parameters of one group.
    fn group_params(cfg: &QuantConfig, xs: &[f32]) -> QParams {
        let mut scratch = Vec::new();
        let (lo, hi) = match cfg.calibration {
            _ if xs.is_empty() => (0.0, 0.0),
            method => calibrate(xs, method, &Target::of(cfg, cfg.bits), &mut scratch),
        };
        bit_params(cfg.scheme, cfg.bits, lo, hi)
    }
}

impl NumberFormat for Int {
    fn name(&self) -> &'static str {
        "int"
    }

    fn summary(&self) -> &'static str {
        "affine integers: scale and zero point per tensor, channel or group (PyTorch, GPTQ/AWQ groups)"
    }

    fn settings(&self) -> &'static [&'static str] {
        &[
            "bits",
            "scheme",
            "granularity",
            "group_size",
            "channel_axis",
            "rounding",
            "calibration",
            "scale",
            "clip",
            "percentile",
            "sigma_k",
            "seed",
        ]
    }

    fn check(&self, cfg: &QuantConfig, cols: Option<usize>) -> Result<(), InvalidSetting> {
        if !(MIN_BITS..=MAX_BITS).contains(&cfg.bits) {
            return Err(InvalidSetting::new("quant.bits", format!("{} is outside {MIN_BITS}..={MAX_BITS}", cfg.bits)));
        }
        if !(cfg.scale.is_finite() && cfg.scale > 0.0) {
            return Err(InvalidSetting::new("quant.scale", format!("{} must be a finite number > 0", cfg.scale)));
        }
        let [lo, hi] = cfg.clip;
        if !(lo.is_finite() && hi.is_finite()) || lo >= hi {
            return Err(InvalidSetting::new(
                "quant.clip",
                format!("[{lo}, {hi}] must be two finite numbers with lo < hi"),
            ));
        }
        if !(cfg.percentile > 0.0 && cfg.percentile <= 100.0) {
            return Err(InvalidSetting::new("quant.percentile", format!("{} is outside (0, 100]", cfg.percentile)));
        }
        if !(cfg.sigma_k.is_finite() && cfg.sigma_k > 0.0) {
            return Err(InvalidSetting::new("quant.sigma_k", format!("{} must be a finite number > 0", cfg.sigma_k)));
        }
        if cfg.scheme == Scheme::Manual {
            manual_params(cfg.scale as f32, lo as f32, hi as f32)?;
        }
        if in_groups(cfg) {
            if !GROUP_SIZES.contains(&cfg.group_size) {
                return Err(InvalidSetting::new(
                    "quant.group_size",
                    format!("{} is not one of 32, 64, 128, 256", cfg.group_size),
                ));
            }
            if cfg.rounding == Rounding::Stochastic {
                return Err(InvalidSetting::new(
                    "quant.rounding",
                    "stochastic rounding draws one stream in order, which groups would cut: use it per tensor or per channel",
                ));
            }
            if let Some(cols) = cols.filter(|c| c % cfg.group_size != 0) {
                return Err(InvalidSetting::new(
                    "quant.group_size",
                    format!(
                        "the rows hold {cols} values, not a multiple of the group size {}: groups run along rows and may not straddle two",
                        cfg.group_size
                    ),
                ));
            }
        }
        Ok(())
    }

    fn grouping(&self, cfg: &QuantConfig) -> Grouping {
        if in_groups(cfg) {
            Grouping::Groups(cfg.group_size)
        } else if cfg.per_channel() {
            Grouping::Channel
        } else {
            Grouping::Tensor
        }
    }

    fn code_bits(&self, cfg: &QuantConfig) -> u32 {
        match cfg.scheme {
            Scheme::Manual => manual_params(cfg.scale as f32, cfg.clip[0] as f32, cfg.clip[1] as f32)
                .map_or(cfg.bits, |p| p.effective_bits()),
            _ => cfg.bits,
        }
    }

    fn bits_per_weight(&self, cfg: &QuantConfig, rows: usize, cols: usize) -> f64 {
        let count = (rows * cols).max(1) as f64;
        let sets = match self.grouping(cfg) {
            Grouping::Tensor => 1.0,
            Grouping::Channel => [rows, cols][cfg.channel_axis.min(1)] as f64,
            Grouping::Groups(n) => (count / n as f64).ceil(),
        };
        self.code_bits(cfg) as f64 + sets * PARAMS_BITS / count
    }

    fn quantize(&self, cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32], out: Quantized<'_>) {
        let p = Self::group_params(cfg, xs);
        // Where every |x/scale| < 2^22 the rounding trick is exact (NaN fails the test).
        let bound = 4_194_304.0 * p.scale;
        if cfg.rounding == Rounding::HalfEven && xs.iter().all(|x| x.abs() < bound) {
            return quantize_half_even(&p, xs, out);
        }
        let mut rounder = Rounder::new(cfg.rounding, cfg.seed);
        for (i, &x) in xs.iter().enumerate() {
            let (code, clipped) = rounder.quantize(&p, x);
            out.xhat[i] = p.dequantize(code);
            out.codes[i] = (code - p.qmin) as u16;
            out.clipped[i] = clipped;
        }
    }

    fn levels(&self, cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<f32> {
        let p = Self::group_params(cfg, xs);
        (p.qmin..=p.qmax).map(|q| p.dequantize(q)).collect()
    }

    fn params(&self, cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<(&'static str, f64)> {
        let p = Self::group_params(cfg, xs);
        vec![("scale", p.scale as f64), ("zero_point", p.zero_point as f64)]
    }

    fn compare_rows(&self, base: &QuantConfig) -> Vec<(String, QuantConfig)> {
        let with = |bits, granularity, group_size| QuantConfig { bits, granularity, group_size, ..base.clone() };
        let mut rows = vec![
            ("int8".to_string(), with(8, Granularity::PerTensor, base.group_size)),
            ("int8 per-channel".to_string(), with(8, Granularity::PerChannel, base.group_size)),
            ("int4 per-channel".to_string(), with(4, Granularity::PerChannel, base.group_size)),
        ];
        rows.extend(GROUP_SIZES.iter().map(|&n| (format!("int4 g{n}"), with(4, Granularity::PerGroup, n))));
        rows
    }

    /// The codes (code − qmin) at `code_bits`, then each group's fp32 scale
    /// and int32 zero point in the codes' domain (`pack.rs`). Per tensor and
    /// per channel, `packed` takes them from the affine kernel instead.
    fn pack(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], out: &mut Packed) -> bool {
        pack_codes(self, cfg, tensor, xs, out);
        push_affine(out.params(), &Self::group_params(cfg, xs));
        true
    }

    fn ecosystem(&self, cfg: &QuantConfig) -> String {
        match self.grouping(cfg) {
            Grouping::Tensor => "torch.per_tensor_affine".into(),
            Grouping::Channel => "torch.per_channel_affine".into(),
            Grouping::Groups(n) => format!("GPTQ/AWQ int{} group_size={n}", cfg.bits),
        }
    }
}

/// `Rounder::quantize` in the default rounding for values with |x/scale| <
/// 2^22 (`quant::round_half_even` without its guard), with no per-value
/// match on the mode, so it vectorizes: the groups of a checkpoint scan
/// spent most of their time here.
fn quantize_half_even(p: &QParams, xs: &[f32], out: Quantized<'_>) {
    const MAGIC: f32 = 12_582_912.0;
    let (lo, hi, zero) = (p.qmin as f32, p.qmax as f32, p.zero_point as f32);
    let it = xs.iter().zip(out.xhat.iter_mut()).zip(out.codes.iter_mut()).zip(out.clipped.iter_mut());
    for (((&x, xhat), code), clipped) in it {
        let t = x / p.scale;
        let unclamped = ((t.abs() + MAGIC) - MAGIC).copysign(t) + zero;
        let q = if unclamped < lo {
            p.qmin
        } else if unclamped > hi {
            p.qmax
        } else {
            unclamped as i32
        };
        *clipped = !(lo..=hi).contains(&unclamped);
        *xhat = p.dequantize(q);
        *code = (q - p.qmin) as u16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn by_rounder(p: &QParams, xs: &[f32]) -> (Vec<f32>, Vec<u16>, Vec<bool>) {
        let mut r = Rounder::new(Rounding::HalfEven, 0);
        let q: Vec<(i32, bool)> = xs.iter().map(|&x| r.quantize(p, x)).collect();
        (
            q.iter().map(|c| p.dequantize(c.0)).collect(),
            q.iter().map(|c| (c.0 - p.qmin) as u16).collect(),
            q.iter().map(|c| c.1).collect(),
        )
    }

    proptest! {
        /// The vectorized loop gives `Rounder`'s codes, x̂ and clip marks, on
        /// ranges far from zero (|x/scale| near 2^22) and with clipping.
        #[test]
        fn the_half_even_loop_is_the_rounders(
            xs in proptest::collection::vec(-3.0f32..3.0, 1..64),
            offset in prop_oneof![Just(0.0f32), Just(1000.0), -1.0e4f32..1.0e4],
            (lo, hi) in (-2.0f32..0.0, 0.001f32..2.0),
            bits in 2u32..=8,
            scheme in prop_oneof![Just(Scheme::Asymmetric), Just(Scheme::Symmetric)],
        ) {
            let xs: Vec<f32> = xs.iter().map(|x| x + offset).collect();
            let p = bit_params(scheme, bits, lo + offset, hi + offset);
            let bound = 4_194_304.0 * p.scale;
            prop_assume!(xs.iter().all(|x| x.abs() < bound));
            let (mut xhat, mut codes, mut clipped) = (vec![0.0; xs.len()], vec![0; xs.len()], vec![false; xs.len()]);
            quantize_half_even(&p, &xs, Quantized { xhat: &mut xhat, codes: &mut codes, clipped: &mut clipped });
            let (want_xhat, want_codes, want_clipped) = by_rounder(&p, &xs);
            prop_assert_eq!(codes, want_codes);
            prop_assert_eq!(clipped, want_clipped);
            prop_assert_eq!(xhat.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), want_xhat.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        }
    }
}
