//! Plain-language findings about a quantization result, so that a mistake
//! like the seed document's (scale 128 on N(0,1) weights) is visible at a glance.

use serde::Serialize;

use super::analysis::Analysis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Note,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
}

const MOSTLY_ZERO: f64 = 0.5;
const HEAVY_CLIPPING: f64 = 0.01;
const LOW_SQNR_DB: f64 = 10.0;
const FEW_LEVELS: f64 = 0.25;
const BIASED: f64 = 0.25;

pub fn diagnose(a: &Analysis) -> Vec<Finding> {
    let m = &a.metrics;
    let mut out = Vec::new();
    let mut warn = |severity, message: String| out.push(Finding { severity, message });
    let (lo, hi) = a.data_range;
    let widest_step = a.channels.iter().map(|c| c.params.scale).fold(0f32, f32::max);
    if m.levels_used <= 1 && lo == hi && m.mse == 0.0 {
        // A constant tensor: one level is all it needs.
        warn(Severity::Note, format!("every weight equals {lo}: one level represents it exactly (mse 0)"));
    } else if m.levels_used <= 1 && lo == hi {
        warn(
            Severity::Warning,
            format!(
                "every weight equals {lo} and maps to one level, off by {:.4e}: no level of the grid sits on the value",
                m.max_abs_error
            ),
        );
    } else if m.levels_used <= 1 {
        let what = if m.zero_rate == 1.0 { "rounds to 0".to_string() } else { "maps to one level".to_string() };
        warn(
            Severity::Warning,
            format!("every weight {what}: the quantized tensor carries no signal (cosine {:.3})", m.cosine),
        );
    } else if m.zero_rate >= MOSTLY_ZERO {
        warn(Severity::Warning, format!("{:.1}% of the weights round to 0", 100.0 * m.zero_rate));
    }
    if hi > lo && widest_step >= hi - lo {
        let amax = lo.abs().max(hi.abs());
        warn(
            Severity::Warning,
            format!(
                "the step (scale {widest_step}) is wider than the whole data range [{lo:.4}, {hi:.4}]: scale is the distance between levels in weight units; to spread the data over [-128, 127] use scale = max|x| / 127 = {:.4}",
                amax / 127.0
            ),
        );
    }
    if m.clip_rate > HEAVY_CLIPPING {
        warn(
            Severity::Warning,
            format!("{:.2}% of the weights are clipped (largest error {:.4})", 100.0 * m.clip_rate, m.max_abs_error),
        );
    }
    if m.sqnr_db < LOW_SQNR_DB {
        warn(
            Severity::Warning,
            format!("SQNR is {:.1} dB: the error power is more than a tenth of the signal power", m.sqnr_db),
        );
    }
    if m.levels_available > 4 && (m.levels_used as f64) < FEW_LEVELS * m.levels_available as f64 && m.levels_used > 1 {
        warn(
            Severity::Note,
            format!(
                "only {} of {} levels are used: the clip range is much wider than the data",
                m.levels_used, m.levels_available
            ),
        );
    }
    if m.rmse > 0.0 && m.bias.abs() > BIASED * m.rmse {
        warn(
            Severity::Note,
            format!(
                "the error is biased: mean error {:.3e} is {:.0}% of the rmse",
                m.bias,
                100.0 * m.bias.abs() / m.rmse
            ),
        );
    }
    let dead = a.channels.iter().filter(|c| c.metrics.count > 0 && c.metrics.levels_used <= 1).count();
    if a.channels.len() > 1 && dead > 0 {
        warn(Severity::Note, format!("{dead} of {} channels use a single level", a.channels.len()));
    }
    if a.non_finite > 0 {
        warn(Severity::Note, format!("{} NaN/Inf values are left out of calibration and metrics", a.non_finite));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::analysis::analyze;
    use crate::compute::quant::{QuantConfig, Rounding, Scheme};
    use crate::compute::weights::{Distribution, SyntheticSpec, synthetic};

    fn normal() -> crate::compute::weights::Weights {
        let spec = SyntheticSpec {
            distribution: Distribution::Normal,
            rows: 1000,
            cols: 10,
            seed: 42,
            dof: 5.0,
            outlier_fraction: 0.0,
        };
        synthetic(&spec).unwrap()
    }

    fn messages(cfg: &QuantConfig) -> Vec<String> {
        diagnose(&analyze(&normal(), cfg).unwrap()).into_iter().map(|f| f.message).collect()
    }

    #[test]
    fn the_seed_example_is_called_out() {
        let cfg = QuantConfig { scheme: Scheme::Manual, scale: 128.0, clip: [-128.0, 127.0], ..QuantConfig::default() };
        let found = messages(&cfg);
        assert!(found.iter().any(|m| m.starts_with("every weight rounds to 0")), "{found:?}");
        assert!(found.iter().any(|m| m.contains("wider than the whole data range")), "{found:?}");
        assert!(found.iter().any(|m| m.starts_with("SQNR is 0.0 dB")), "{found:?}");
    }

    #[test]
    fn a_sensible_int8_quantizer_has_no_findings() {
        assert_eq!(messages(&QuantConfig::default()), Vec::<String>::new());
    }

    #[test]
    fn clipping_few_levels_and_bias_are_noted() {
        let clipped = QuantConfig { scheme: Scheme::Manual, scale: 0.01, clip: [-0.5, 0.5], ..QuantConfig::default() };
        assert!(messages(&clipped).iter().any(|m| m.contains("are clipped")));
        let wide = QuantConfig { scheme: Scheme::Manual, scale: 0.1, clip: [-100.0, 100.0], ..QuantConfig::default() };
        assert!(messages(&wide).iter().any(|m| m.starts_with("only ")));
        let floor = QuantConfig { bits: 3, rounding: Rounding::Floor, ..QuantConfig::default() };
        assert!(messages(&floor).iter().any(|m| m.starts_with("the error is biased")));
    }

    #[test]
    fn a_constant_tensor_is_said_to_be_exact_not_signal_free() {
        let w = crate::compute::weights::Weights {
            values: vec![0.5; 64],
            rows: 8,
            cols: 8,
            shape: vec![8, 8],
            dtype: "f32".into(),
            source: "test".into(),
            tensor: None,
            non_finite: 0,
        };
        let a = analyze(&w, &QuantConfig::default()).unwrap();
        assert_eq!(a.metrics.mse, 0.0);
        let f = diagnose(&a);
        assert!(f.iter().all(|f| !f.message.contains("no signal")), "{f:?}");
        assert!(f.iter().any(|f| f.severity == Severity::Note && f.message.contains("exactly (mse 0)")), "{f:?}");
    }
}
