//! Quantizer semantics: schemes, rounding modes, quantization parameters.
//!
//! The formulas follow PyTorch (`MinMaxObserver`, `per_tensor_affine`) for the
//! asymmetric scheme and TensorRT/ONNX narrow range for the symmetric one;
//! `manual` is the seed document's pipeline made consistent.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::formats::FormatKind;
use crate::named_enum;

named_enum! {
    /// How the clip range becomes a scale and a zero point.
    pub enum Scheme {
        Asymmetric => "asymmetric",
        Symmetric => "symmetric",
        Manual => "manual",
    }
}

named_enum! {
    /// How x / scale becomes an integer.
    pub enum Rounding {
        HalfEven => "half-even",
        HalfAway => "half-away",
        Floor => "floor",
        Trunc => "trunc",
        Stochastic => "stochastic",
    }
}

named_enum! {
    /// One set of parameters for the whole tensor, or one per channel.
    pub enum Granularity {
        PerTensor => "per-tensor",
        PerChannel => "per-channel",
        PerGroup => "per-group",
    }
}

named_enum! {
    /// How the clip range `[lo, hi]` is chosen from the data.
    pub enum Calibration {
        MinMax => "min-max",
        Percentile => "percentile",
        Sigma => "sigma",
        Mse => "mse",
        Entropy => "entropy",
    }
}

pub const MIN_BITS: u32 = 2;
pub const MAX_BITS: u32 = 16;
/// Manual mode may not need more levels than 16 bits hold: codes are written as int16.
pub const MAX_MANUAL_LEVELS: i64 = 1 << MAX_BITS;

/// Every quantization setting: the `[quant]` table of the settings file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuantConfig {
    /// The number format (see `formats`); `int` is the affine quantizer.
    pub format: FormatKind,
    pub bits: u32,
    pub scheme: Scheme,
    pub granularity: Granularity,
    /// 0 = rows (PyTorch's convention for `[out, in]` weights), 1 = columns.
    pub channel_axis: usize,
    pub rounding: Rounding,
    pub calibration: Calibration,
    /// The step of `manual` mode.
    pub scale: f64,
    /// The clip range of `manual` mode.
    pub clip: [f64; 2],
    pub percentile: f64,
    pub sigma_k: f64,
    /// Seed of stochastic rounding.
    pub seed: u64,
    /// Values per group of `int` in `per-group` granularity, along the rows.
    pub group_size: usize,
    /// Values per block of the formats that let it be chosen (`nf4`).
    pub block_size: usize,
    /// Quantize `nf4`'s absmax scales too, as bitsandbytes' double quantization.
    pub double_quant: bool,
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig {
            format: FormatKind::Int,
            bits: 8,
            scheme: Scheme::Asymmetric,
            granularity: Granularity::PerTensor,
            channel_axis: 0,
            rounding: Rounding::HalfEven,
            calibration: Calibration::MinMax,
            scale: 0.02,
            clip: [-3.0, 3.0],
            percentile: 99.99,
            sigma_k: 3.0,
            seed: 0,
            group_size: 128,
            block_size: 64,
            double_quant: false,
        }
    }
}

/// A setting that is out of range, named by its key in the settings file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct InvalidSetting {
    pub key: String,
    pub message: String,
}

impl InvalidSetting {
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        InvalidSetting { key: key.to_string(), message: message.into() }
    }
}

impl QuantConfig {
    /// Checks every range the formulas rely on; the error names the key.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if self.channel_axis > 1 {
            return Err(InvalidSetting::new(
                "quant.channel_axis",
                format!(
                    "{} is not an axis of the 2-D weight view [dim0, rest]; use 0 (rows) or 1 (columns)",
                    self.channel_axis
                ),
            ));
        }
        self.format.format().check(self, None)
    }

    /// Per-channel parameters only make sense for the bit-driven schemes:
    /// manual mode sets one step and one clip range for the whole tensor.
    pub fn per_channel(&self) -> bool {
        self.granularity == Granularity::PerChannel && self.scheme != Scheme::Manual
    }
}

/// The parameters that map floats to integer codes and back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QParams {
    pub scale: f32,
    pub zero_point: i32,
    pub qmin: i32,
    pub qmax: i32,
}

/// `(qmin, qmax)` of a bit-driven scheme.
pub fn code_range(scheme: Scheme, bits: u32) -> (i32, i32) {
    let half = 1i32 << (bits - 1);
    match scheme {
        Scheme::Symmetric => (-(half - 1), half - 1),
        _ => (-half, half - 1),
    }
}

/// Scale and zero point of a bit-driven scheme for the clip range `[lo, hi]`.
pub fn bit_params(scheme: Scheme, bits: u32, lo: f32, hi: f32) -> QParams {
    let (qmin, qmax) = code_range(scheme, bits);
    match scheme {
        Scheme::Symmetric => {
            let amax = lo.abs().max(hi.abs());
            let scale = (amax / qmax as f32).max(f32::EPSILON);
            QParams { scale, zero_point: 0, qmin, qmax }
        }
        _ => {
            let lo = lo.min(0.0);
            let hi = hi.max(0.0);
            let scale = ((hi - lo) / (qmax - qmin) as f32).max(f32::EPSILON);
            // PyTorch rounds the zero point with torch.round: half to even.
            let zero_point = (qmin as f32 - (lo / scale).round_ties_even()) as i64;
            let zero_point = zero_point.clamp(qmin as i64, qmax as i64) as i32;
            QParams { scale, zero_point, qmin, qmax }
        }
    }
}

/// Manual mode: the step and the clip range are set independently.
pub fn manual_params(scale: f32, lo: f32, hi: f32) -> Result<QParams, InvalidSetting> {
    let qmin = (lo / scale).ceil() as f64;
    let qmax = (hi / scale).floor() as f64;
    if qmin > qmax {
        return Err(InvalidSetting::new(
            "quant.clip",
            format!(
                "[{lo}, {hi}] holds no multiple of the scale {scale}: no quantization level is left; widen the clip or lower the scale"
            ),
        ));
    }
    let levels = qmax - qmin + 1.0;
    if levels > MAX_MANUAL_LEVELS as f64 || qmin < i32::MIN as f64 || qmax > i32::MAX as f64 {
        return Err(InvalidSetting::new(
            "quant.scale",
            format!(
                "scale {scale:e} with clip [{lo}, {hi}] needs {levels:.3e} levels, more than 16 bits hold; raise the scale or narrow the clip"
            ),
        ));
    }
    Ok(QParams { scale, zero_point: 0, qmin: qmin as i32, qmax: qmax as i32 })
}

impl QParams {
    pub fn levels(&self) -> i64 {
        self.qmax as i64 - self.qmin as i64 + 1
    }

    /// Bits needed to index the levels: ceil(log2(levels)).
    pub fn effective_bits(&self) -> u32 {
        let levels = self.levels() as u64;
        if levels <= 1 { 0 } else { 64 - (levels - 1).leading_zeros() }
    }

    /// The float range the codes can represent.
    pub fn representable(&self) -> (f32, f32) {
        (self.dequantize(self.qmin), self.dequantize(self.qmax))
    }

    #[inline]
    pub fn dequantize(&self, q: i32) -> f32 {
        (q - self.zero_point) as f32 * self.scale
    }
}

/// Applies a rounding mode; stochastic rounding draws from its own seeded stream.
pub struct Rounder {
    mode: Rounding,
    rng: ChaCha8Rng,
}

/// `v.round_ties_even()`, bit for bit, without the library call it is on
/// baseline x86-64 (it was a quarter of a checkpoint scan's time): adding
/// 1.5·2^23 to |v| < 2^22 leaves no bits below the unit, so the FPU's own
/// round-half-to-even does the work, and the sign is put back (-0.3 gives
/// -0.0). Larger |v|, and NaN, take the library's path.
#[inline]
pub fn round_half_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    let a = v.abs();
    if a < 4_194_304.0 { ((a + MAGIC) - MAGIC).copysign(v) } else { v.round_ties_even() }
}

impl Rounder {
    pub fn new(mode: Rounding, seed: u64) -> Self {
        Rounder { mode, rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    pub fn mode(&self) -> Rounding {
        self.mode
    }

    #[inline]
    pub fn round(&mut self, v: f32) -> f32 {
        match self.mode {
            Rounding::HalfEven => round_half_even(v),
            Rounding::HalfAway => v.round(),
            Rounding::Floor => v.floor(),
            Rounding::Trunc => v.trunc(),
            Rounding::Stochastic => {
                let floor = v.floor();
                if self.rng.r#gen::<f32>() < v - floor { floor + 1.0 } else { floor }
            }
        }
    }

    /// The code of `x` and whether clamping to `[qmin, qmax]` changed it.
    #[inline]
    pub fn quantize(&mut self, p: &QParams, x: f32) -> (i32, bool) {
        let unclamped = self.round(x / p.scale) + p.zero_point as f32;
        if unclamped < p.qmin as f32 {
            (p.qmin, true)
        } else if unclamped > p.qmax as f32 {
            (p.qmax, true)
        } else {
            (unclamped as i32, false)
        }
    }
}

/// The largest distance from x to x_hat inside the range for this rounding:
/// half a step for the round-to-nearest modes, a whole step otherwise.
pub fn max_rounding_error(mode: Rounding, scale: f32) -> f32 {
    match mode {
        Rounding::HalfEven | Rounding::HalfAway => scale / 2.0,
        _ => scale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(p: &QParams, mode: Rounding, x: f32) -> i32 {
        Rounder::new(mode, 0).quantize(p, x).0
    }

    #[test]
    fn round_half_even_is_the_library_one_at_the_edges() {
        let edges = [0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.49999997, 4_194_303.5, 4_194_304.5, 8_388_607.5, 1e30];
        for x in edges.into_iter().chain([f32::INFINITY, f32::NEG_INFINITY, f32::MIN_POSITIVE, -1e-40]) {
            assert_eq!(round_half_even(x).to_bits(), x.round_ties_even().to_bits(), "{x}");
        }
        assert!(round_half_even(f32::NAN).is_nan());
    }

    proptest! {
        #[test]
        fn round_half_even_is_the_library_one(bits in any::<u32>()) {
            let x = f32::from_bits(bits);
            prop_assume!(!x.is_nan());
            prop_assert_eq!(round_half_even(x).to_bits(), x.round_ties_even().to_bits(), "{}", x);
        }

        #[test]
        fn round_half_even_is_the_library_one_on_halves(n in -10_000_000i32..10_000_000) {
            let x = n as f32 + 0.5;
            prop_assert_eq!(round_half_even(x).to_bits(), x.round_ties_even().to_bits(), "{}", x);
        }
    }

    #[test]
    fn asymmetric_matches_pytorch_minmax_observer() {
        // lo = -1, hi = 3, 8 bits: scale = 4 / 255, zp = -128 - round(-1 / scale) = -128 + 64 = -64.
        let p = bit_params(Scheme::Asymmetric, 8, -1.0, 3.0);
        assert_eq!((p.qmin, p.qmax), (-128, 127));
        assert!((p.scale - 4.0 / 255.0).abs() < 1e-9);
        // -1 / (4/255) = -63.75 rounds to -64.
        assert_eq!(p.zero_point, -64);
        assert_eq!(q(&p, Rounding::HalfEven, 0.0), -64);
        assert_eq!(q(&p, Rounding::HalfEven, 3.0), 127); // 191.25 rounds to 191; 191 - 64 = 127
    }

    #[test]
    fn asymmetric_range_is_widened_to_hold_zero() {
        // All-positive data: lo' = 0, so the zero point sits at qmin.
        let p = bit_params(Scheme::Asymmetric, 4, 2.0, 6.0);
        assert!((p.scale - 6.0 / 15.0).abs() < 1e-7);
        assert_eq!(p.zero_point, -8);
        assert_eq!(p.dequantize(p.zero_point), 0.0);
    }

    #[test]
    fn symmetric_is_narrow_range_with_zero_point_zero() {
        let p = bit_params(Scheme::Symmetric, 8, -0.5, 2.54);
        assert_eq!((p.qmin, p.qmax, p.zero_point), (-127, 127, 0));
        assert!((p.scale - 0.02).abs() < 1e-7);
        assert_eq!(q(&p, Rounding::HalfEven, 0.03), 2); // 1.5 -> 2 (even)
        assert_eq!(q(&p, Rounding::HalfEven, 0.05), 2); // 2.5 -> 2 (even)
        assert_eq!(q(&p, Rounding::HalfAway, 0.05), 3);
        assert_eq!(q(&p, Rounding::HalfAway, -0.05), -3);
        assert_eq!(q(&p, Rounding::Floor, -0.01), -1);
        assert_eq!(q(&p, Rounding::Trunc, -0.039), -1);
        assert_eq!(q(&p, Rounding::HalfEven, 100.0), 127);
        assert_eq!(q(&p, Rounding::HalfEven, -100.0), -127);
    }

    #[test]
    fn constant_tensor_gets_a_positive_scale() {
        let p = bit_params(Scheme::Asymmetric, 8, 0.0, 0.0);
        assert_eq!(p.scale, f32::EPSILON);
        let s = bit_params(Scheme::Symmetric, 8, 0.0, 0.0);
        assert_eq!(s.scale, f32::EPSILON);
        assert!(p.scale.is_finite() && p.scale > 0.0);
    }

    #[test]
    fn seed_example_collapses_everything_to_zero() {
        // scale 128 and clip [-128, 127]: levels -1 and 0 (1 bit), and N(0,1) weights all round to 0.
        let p = manual_params(128.0, -128.0, 127.0).unwrap();
        assert_eq!((p.qmin, p.qmax), (-1, 0));
        assert_eq!(p.effective_bits(), 1);
        for x in [-3.0f32, -0.7, 0.0, 0.4, 2.9] {
            assert_eq!(q(&p, Rounding::HalfEven, x), 0);
        }
    }

    #[test]
    fn manual_mode_levels_and_bits() {
        let p = manual_params(0.25, -1.0, 1.0).unwrap();
        assert_eq!((p.qmin, p.qmax, p.levels(), p.effective_bits()), (-4, 4, 9, 4));
        assert_eq!(q(&p, Rounding::HalfEven, 0.3), 1);
        assert_eq!(q(&p, Rounding::HalfEven, 7.0), 4);
        let one = manual_params(1.0, -0.5, 0.5).unwrap();
        assert_eq!((one.levels(), one.effective_bits()), (1, 0));
    }

    #[test]
    fn manual_mode_refuses_empty_and_huge_ranges() {
        let err = manual_params(1.0, 0.1, 0.2).unwrap_err();
        assert_eq!(err.key, "quant.clip");
        let err = manual_params(1e-6, -1.0, 1.0).unwrap_err();
        assert_eq!(err.key, "quant.scale");
    }

    #[test]
    fn clamping_is_reported() {
        let p = bit_params(Scheme::Symmetric, 4, -1.0, 1.0);
        let mut r = Rounder::new(Rounding::HalfEven, 0);
        assert_eq!(r.quantize(&p, 1.0), (7, false));
        assert_eq!(r.quantize(&p, 1.2), (7, true));
        assert_eq!(r.quantize(&p, -1.2), (-7, true));
    }

    #[test]
    fn stochastic_rounding_is_seeded_and_unbiased() {
        let draw = |seed| {
            let mut r = Rounder::new(Rounding::Stochastic, seed);
            (0..10_000).map(|_| r.round(0.25)).collect::<Vec<f32>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let mean = draw(7).iter().sum::<f32>() / 10_000.0;
        assert!((mean - 0.25).abs() < 0.02, "mean {mean}");
        assert!(draw(7).iter().all(|&v| v == 0.0 || v == 1.0));
    }

    #[test]
    fn validation_names_the_key() {
        let bad = |f: fn(&mut QuantConfig)| {
            let mut c = QuantConfig::default();
            f(&mut c);
            c.validate().unwrap_err().key
        };
        assert_eq!(bad(|c| c.bits = 1), "quant.bits");
        assert_eq!(bad(|c| c.bits = 17), "quant.bits");
        assert_eq!(bad(|c| c.scale = 0.0), "quant.scale");
        assert_eq!(bad(|c| c.scale = -1.0), "quant.scale");
        assert_eq!(bad(|c| c.clip = [1.0, 1.0]), "quant.clip");
        assert_eq!(bad(|c| c.clip = [2.0, 1.0]), "quant.clip");
        assert_eq!(bad(|c| c.percentile = 0.0), "quant.percentile");
        assert_eq!(bad(|c| c.percentile = 100.5), "quant.percentile");
        assert_eq!(bad(|c| c.sigma_k = 0.0), "quant.sigma_k");
        assert_eq!(bad(|c| c.channel_axis = 2), "quant.channel_axis");
        assert!(QuantConfig::default().validate().is_ok());
        assert!(QuantConfig { percentile: 100.0, ..QuantConfig::default() }.validate().is_ok());
    }

    fn any_bit_params() -> impl Strategy<Value = (QParams, Rounding)> {
        (
            prop::sample::select(vec![Scheme::Asymmetric, Scheme::Symmetric]),
            2u32..=16,
            -100f32..0.0,
            0.001f32..100.0,
            prop::sample::select(vec![Rounding::HalfEven, Rounding::HalfAway]),
        )
            .prop_map(|(s, b, lo, hi, mode)| (bit_params(s, b, lo, hi), mode))
    }

    proptest! {
        #[test]
        fn error_inside_the_range_is_at_most_half_a_step(
            (p, mode) in any_bit_params(), t in 0f32..=1.0,
        ) {
            let (lo, hi) = p.representable();
            let x = lo + t * (hi - lo);
            let (code, clipped) = Rounder::new(mode, 0).quantize(&p, x);
            prop_assert!(!clipped);
            let err = (x - p.dequantize(code)).abs();
            // f32 arithmetic adds a few ulps of the operands to the exact bound.
            let slack = 4.0 * f32::EPSILON * x.abs().max(p.scale * p.qmax.abs().max(p.qmin.abs()) as f32);
            prop_assert!(err <= p.scale / 2.0 + slack, "err {} scale {}", err, p.scale);
        }

        #[test]
        fn quantizing_x_hat_again_changes_nothing(
            (p, mode) in any_bit_params(), x in -200f32..200.0,
        ) {
            let mut r = Rounder::new(mode, 0);
            let (code, _) = r.quantize(&p, x);
            let (again, clipped) = r.quantize(&p, p.dequantize(code));
            prop_assert_eq!(code, again);
            prop_assert!(!clipped);
        }

        #[test]
        fn symmetric_zero_point_is_zero(bits in 2u32..=16, lo in -1e3f32..1e3, w in 0f32..1e3) {
            let p = bit_params(Scheme::Symmetric, bits, lo, lo + w);
            prop_assert_eq!(p.zero_point, 0);
            prop_assert!(p.scale > 0.0 && p.scale.is_finite());
            prop_assert_eq!(p.qmin, -p.qmax);
        }

        #[test]
        fn asymmetric_zero_is_exactly_representable(bits in 2u32..=16, lo in -1e3f32..0.0, hi in 0f32..1e3) {
            let p = bit_params(Scheme::Asymmetric, bits, lo, hi);
            prop_assert!(p.zero_point >= p.qmin && p.zero_point <= p.qmax);
            prop_assert_eq!(p.dequantize(p.zero_point), 0.0);
        }
    }

    #[test]
    fn a_tiny_typed_scale_is_refused_in_a_short_message() {
        let err = manual_params(1e-30, -3.0, 3.0).unwrap_err().to_string();
        assert!(err.contains("scale 1e-30") && err.contains("6.000e30 levels"), "{err}");
        assert!(err.len() < 160, "one short line: {err}");
    }
}
