//! Named starting points that `p` cycles through and a file may start from.

use super::{Settings, WeightsConfig};
use crate::compute::quant::{Calibration, Granularity, QuantConfig, Rounding, Scheme};

/// A named starting point that `p` cycles through.
pub struct Preset {
    pub name: &'static str,
    pub apply: fn(&mut Settings),
}

pub const PRESETS: &[Preset] = &[
    Preset { name: "seed example", apply: seed_example },
    Preset { name: "int8 per-tensor", apply: |s| s.quant = QuantConfig::default() },
    Preset {
        name: "int8 per-channel",
        apply: |s| {
            s.quant = QuantConfig {
                scheme: Scheme::Symmetric,
                granularity: Granularity::PerChannel,
                ..QuantConfig::default()
            }
        },
    },
    Preset {
        name: "int4 per-channel mse",
        apply: |s| {
            s.quant = QuantConfig {
                bits: 4,
                scheme: Scheme::Symmetric,
                granularity: Granularity::PerChannel,
                calibration: Calibration::Mse,
                ..QuantConfig::default()
            }
        },
    },
];

/// The seed's numbers: scale 128 and clip [-128, 127], on its
/// `np.random.randn(1000, 10)` unless the weights come from a file (a preset
/// never throws away the user's file).
fn seed_example(s: &mut Settings) {
    if s.weights.is_synthetic() {
        s.weights = WeightsConfig::default();
    }
    s.quant = QuantConfig {
        scheme: Scheme::Manual,
        scale: 128.0,
        clip: [-128.0, 127.0],
        rounding: Rounding::HalfEven,
        ..QuantConfig::default()
    };
}

pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}
