//! `nf4`: bitsandbytes' 4-bit NormalFloat (QLoRA), as
//! `bnb.functional.quantize_4bit(quant_type="nf4")` stores it: the
//! flattened tensor cut into blocks of `block_size` (the last may be
//! short), each block's absmax kept in fp32, each value the code whose
//! NormalFloat value is nearest to x · (1 / absmax), x̂ = value · absmax.

use super::{Grouping, NumberFormat, Quantized, TensorFacts};
use crate::compute::quant::{InvalidSetting, QuantConfig};

/// The 16 NormalFloat values: `get_4bit_type("nf4")` in
/// bitsandbytes/functional.py (= `nf4_dequantization_lut` in csrc/kernels.cu).
#[allow(clippy::excessive_precision)]
pub const NF4_VALUES: [f32; 16] = [
    -1.0,
    -0.6961928009986877,
    -0.5250730514526367,
    -0.39491748809814453,
    -0.28444138169288635,
    -0.18477343022823334,
    -0.09105003625154495,
    0.0,
    0.07958029955625534,
    0.16093020141124725,
    0.24611230194568634,
    0.33791524171829224,
    0.44070982933044434,
    0.5626170039176941,
    0.7229568362236023,
    1.0,
];

/// The decision thresholds of csrc/kernels.cu `dQuantizeNF4`, as the
/// float literals it compares with: the midpoints of neighbouring values.
/// Code `c` is the number of thresholds strictly below x (the kernel's
/// `x > t`), so a value on a midpoint takes the lower code.
#[allow(clippy::excessive_precision)]
const NF4_THRESHOLDS: [f32; 15] = [
    -0.8480964004993439,
    -0.6106329262256622,
    -0.4599952697753906,
    -0.33967943489551544,
    -0.23460740596055984,
    -0.13791173323988914,
    -0.045525018125772476,
    0.03979014977812767,
    0.1202552504837513,
    0.2035212516784668,
    0.2920137718319893,
    0.3893125355243683,
    0.5016634166240692,
    0.6427869200706482,
    0.8614784181118011,
];

/// The block sizes bitsandbytes' kernels are built for.
const BLOCK_SIZES: std::ops::RangeInclusive<usize> = 32..=4096;

pub struct Nf4;

/// The code of a value already scaled by 1 / absmax (branch-free
/// `dQuantizeNF4`).
#[inline]
pub fn nf4_code(normalized: f32) -> u16 {
    NF4_THRESHOLDS.iter().map(|&t| (normalized > t) as u16).sum()
}

fn absmax(block: &[f32]) -> f32 {
    block.iter().fold(0f32, |m, x| m.max(x.abs()))
}

/// 1 / absmax as the kernel multiplies by it; an all-zero block (where
/// the kernel's 0 · 1/0 is NaN) takes the code of 0 instead, so x̂ = +0.
fn reciprocal(absmax: f32) -> f32 {
    if absmax > 0.0 { 1.0 / absmax } else { 0.0 }
}

impl NumberFormat for Nf4 {
    fn name(&self) -> &'static str {
        "nf4"
    }

    fn summary(&self) -> &'static str {
        "bitsandbytes NF4 (QLoRA): 16 normal-quantile codes, fp32 absmax per block of the flattened tensor"
    }

    fn settings(&self) -> &'static [&'static str] {
        &["block_size", "double_quant"]
    }

    fn check(&self, cfg: &QuantConfig, _cols: Option<usize>) -> Result<(), InvalidSetting> {
        let b = cfg.block_size;
        if !(b.is_power_of_two() && BLOCK_SIZES.contains(&b)) {
            return Err(InvalidSetting::new(
                "quant.block_size",
                format!(
                    "{b} is not a power of two from 32 to 4096 (the block sizes bitsandbytes' kernels are built for)"
                ),
            ));
        }
        if cfg.double_quant {
            return Err(InvalidSetting::new(
                "quant.double_quant",
                "nf4's double quantization (8-bit absmax, compress_statistics=True) is not implemented yet",
            ));
        }
        Ok(())
    }

    fn grouping(&self, cfg: &QuantConfig) -> Grouping {
        Grouping::Groups(cfg.block_size)
    }

    fn code_bits(&self, _cfg: &QuantConfig) -> u32 {
        4
    }

    fn bits_per_weight(&self, cfg: &QuantConfig, rows: usize, cols: usize) -> f64 {
        let count = (rows * cols).max(1);
        4.0 + 32.0 * count.div_ceil(cfg.block_size) as f64 / count as f64
    }

    fn quantize(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32], out: Quantized<'_>) {
        let amax = absmax(xs);
        let inv = reciprocal(amax);
        for (i, &x) in xs.iter().enumerate() {
            let code = nf4_code(x * inv);
            out.codes[i] = code;
            out.xhat[i] = NF4_VALUES[code as usize] * amax;
            // Every value is within ±absmax: nothing is clipped.
            out.clipped[i] = false;
        }
    }

    fn levels(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<f32> {
        let amax = absmax(xs);
        if amax == 0.0 {
            return vec![0.0];
        }
        NF4_VALUES.iter().map(|v| v * amax).collect()
    }

    fn params(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, xs: &[f32]) -> Vec<(&'static str, f64)> {
        vec![("absmax", absmax(xs) as f64)]
    }

    /// The block-size sweep: how bpw buys SQNR.
    fn compare_rows(&self, base: &QuantConfig) -> Vec<(String, QuantConfig)> {
        [32, 64, 128, 256]
            .iter()
            .map(|&n| (format!("nf4 b{n}"), QuantConfig { block_size: n, ..base.clone() }))
            .collect()
    }

    fn ecosystem(&self, _cfg: &QuantConfig) -> String {
        r#"bitsandbytes nf4 (quant_type="nf4")"#.into()
    }
}
