//! The panes' controls: which are shown, how each shows its value, and how
//! a key or typed text changes the settings. Each pane's controls are rows
//! of a table (`QUANT_CONTROLS`; the Ensemble pane's `ENSEMBLE_CONTROLS`,
//! `MEMBER_CONTROLS` and the member's kind). `AnyControl` lets the app and
//! the drawing treat them alike.

mod ensemble;
mod quant;

pub use ensemble::{EnsembleControl, visible_ensemble};
pub use quant::{Control, QUANT_CONTROLS, QuantControl, visible};

/// The Deploy pane's controls: the quantizer (shared with the Quantize
/// pane), the fusion (shared with the Ensemble pane), and the tolerance.
pub fn visible_deploy(s: &Settings) -> Vec<AnyControl> {
    use Control as C;
    let shared = [C::Scheme, C::Bits, C::Granularity, C::Rounding, C::Calibration, C::Percentile, C::SigmaK];
    let mut out: Vec<AnyControl> =
        visible(s).into_iter().filter(|c| shared.contains(c)).map(AnyControl::Quant).collect();
    out.extend([AnyControl::Ensemble(EnsembleControl::Fusion), AnyControl::Ensemble(EnsembleControl::Tolerance)]);
    out
}

use crate::compute::UnknownName;
use crate::compute::analysis::Analysis;
use crate::compute::quant::InvalidSetting;
use crate::compute::weights::TensorInfo;
use crate::settings::Settings;

/// Why a key press or typed text left a control as it was; the app shows
/// the text on the status line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControlError {
    #[error("{key}: {text:?} is not a valid {label}")]
    NotValid { key: String, text: String, label: &'static str },

    #[error("{text:?} is not on or off")]
    NotOnOff { text: String },

    #[error(transparent)]
    Unknown(#[from] UnknownName),

    /// The settings the change would give are refused.
    #[error(transparent)]
    Invalid(#[from] InvalidSetting),

    /// What the control needs is not there, or it is changed another way.
    #[error("{0}")]
    Unavailable(&'static str),

    #[error(
        "quant.format: no other format applies to this tensor with these settings (rows of {} values)",
        .cols.map_or("?".into(), |c| c.to_string())
    )]
    NoOtherFormat { cols: Option<usize> },

    #[error("no tensor named {name:?}; the file holds {}", .names.join(", "))]
    NoTensor { name: String, names: Vec<String> },

    #[error("no row named {name:?}; the rows are {}", .names.join(", "))]
    NoRow { name: String, names: Vec<String> },

    /// An error of the control whose settings key is `key`.
    #[error("{key}: {source}")]
    Keyed { key: String, source: Box<ControlError> },
}

impl ControlError {
    /// Named by the control's settings key, unless its text names it already.
    pub fn keyed(self, key: impl Into<String>) -> ControlError {
        let key = key.into();
        if self.to_string().contains(&key) { self } else { ControlError::Keyed { key, source: Box::new(self) } }
    }
}

/// What a control needs to know beyond the settings: the latest result
/// (derived scale and clip, the data range), the file's tensors, and the
/// ensemble member being edited.
#[derive(Default, Clone, Copy)]
pub struct Context<'a> {
    pub analysis: Option<&'a Analysis>,
    pub tensors: &'a [TensorInfo],
    /// The shape of the weights shown, once they are loaded.
    pub shape: Option<&'a [usize]>,
    pub member: usize,
    /// The Formats table of the tensor shown, and the column it is sorted by.
    pub formats: Option<&'a crate::app::FormatsTable>,
    pub formats_sort: crate::compute::formats::table::Column,
}

/// A control of either pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnyControl {
    Quant(Control),
    Ensemble(EnsembleControl),
}

impl AnyControl {
    pub fn label(self) -> &'static str {
        match self {
            AnyControl::Quant(c) => c.label(),
            AnyControl::Ensemble(c) => c.label(),
        }
    }

    /// The settings-file key, used in messages.
    pub fn key(self, ctx: Context) -> String {
        match self {
            AnyControl::Quant(c) => c.key().to_string(),
            AnyControl::Ensemble(c) => c.key(ctx.member),
        }
    }

    pub fn value(self, s: &Settings, ctx: Context) -> String {
        match self {
            AnyControl::Quant(c) => c.value(s, ctx),
            AnyControl::Ensemble(c) => c.value(s, ctx),
        }
    }

    /// Shown, not set: it follows from other settings.
    pub fn is_derived(self, s: &Settings) -> bool {
        match self {
            AnyControl::Quant(c) => c.is_derived(s),
            AnyControl::Ensemble(_) => false,
        }
    }

    pub fn adjust(self, s: &mut Settings, steps: i32, coarse: bool, ctx: Context) -> Result<(), ControlError> {
        match self {
            AnyControl::Quant(c) => c.adjust(s, steps, coarse, ctx),
            AnyControl::Ensemble(c) => c.adjust(s, steps, coarse, ctx),
        }
    }

    pub fn set(self, s: &mut Settings, text: &str, ctx: Context) -> Result<(), ControlError> {
        match self {
            AnyControl::Quant(c) => c.set(s, text, ctx),
            AnyControl::Ensemble(c) => c.set(s, text, ctx),
        }
    }

    pub fn reset(self, s: &mut Settings, ctx: Context) {
        match self {
            AnyControl::Quant(c) => c.reset(s, ctx),
            AnyControl::Ensemble(c) => c.reset(s, ctx),
        }
    }

    pub fn edit_text(self, s: &Settings, ctx: Context) -> String {
        match self {
            AnyControl::Quant(c) => c.edit_text(s, ctx),
            AnyControl::Ensemble(c) => c.edit_text(s, ctx),
        }
    }
}

fn parse<T: std::str::FromStr>(
    text: &str,
    key: impl std::fmt::Display,
    label: &'static str,
) -> Result<T, ControlError> {
    text.parse().map_err(|_| ControlError::NotValid { key: key.to_string(), text: text.to_string(), label })
}

/// A fraction typed as 0.001 or as 0.1%.
fn parse_fraction(text: &str, key: impl std::fmt::Display, label: &'static str) -> Result<f64, ControlError> {
    match text.strip_suffix('%') {
        Some(p) => Ok(parse::<f64>(p.trim(), key, label)? / 100.0),
        None => parse(text, key, label),
    }
}

/// A value shown as it prints.
fn text<T: ToString>(v: T) -> String {
    v.to_string()
}

fn multiply(v: f64, factor: f64, up: bool) -> f64 {
    if up { v * factor } else { v / factor }
}

/// A count moves by x1.25, or x2 coarse.
fn scale_count(n: usize, up: bool, coarse: bool, max: usize) -> usize {
    let factor = if coarse { 2.0 } else { 1.25 };
    let next = multiply(n as f64, factor, up).round() as usize;
    let next = if next == n { if up { n + 1 } else { n.saturating_sub(1) } } else { next };
    next.clamp(1, max.max(1))
}

fn step_seed(seed: u64, up: bool, coarse: bool) -> u64 {
    let step = if coarse { 100 } else { 1 };
    if up { seed.saturating_add(step).min(i64::MAX as u64) } else { seed.saturating_sub(step) }
}

/// The next value of a ladder above (or below) `v`; coarse moves two rungs
/// (10 trees -> 30, never straight to the end).
fn ladder(steps: &[f64], v: f64, up: bool, coarse: bool) -> f64 {
    let rungs = if coarse { 2 } else { 1 };
    let last = steps.len() - 1;
    if up {
        let next = steps.iter().position(|&x| x > v).unwrap_or(last);
        steps[(next + rungs - 1).min(last)]
    } else {
        let next = steps.iter().rposition(|&x| x < v).unwrap_or(0);
        steps[next.saturating_sub(rungs - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladders_and_counts_move_sensibly() {
        const PERCENTILES: &[f64] = &[90.0, 99.0, 99.9, 99.99, 100.0];
        assert_eq!(ladder(PERCENTILES, 99.99, true, false), 100.0);
        assert_eq!(ladder(PERCENTILES, 99.99, false, false), 99.9);
        assert_eq!(ladder(PERCENTILES, 99.95, false, false), 99.9);
        assert_eq!(ladder(PERCENTILES, 100.0, true, false), 100.0);
        // Coarse moves two rungs, never to the end of a long ladder.
        assert_eq!(ladder(PERCENTILES, 95.0, true, true), 99.9);
        assert_eq!(ladder(PERCENTILES, 99.95, true, true), 100.0);
        assert_eq!(ladder(PERCENTILES, 99.99, false, true), 99.0);
        const TREES: &[f64] = &[1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0, 200.0, 300.0, 500.0];
        assert_eq!(ladder(TREES, 10.0, true, true), 30.0);
        assert_eq!(ladder(TREES, 10.0, false, true), 3.0);
        assert_eq!(ladder(TREES, 300.0, true, true), 500.0);
        assert_eq!(scale_count(1000, true, false, 1 << 20), 1250);
        assert_eq!(scale_count(1, false, false, 100), 1);
        assert_eq!(scale_count(2, true, false, 100), 3);
        assert_eq!(scale_count(10, true, true, 50), 20);
        assert_eq!(scale_count(40, true, true, 50), 50);
        assert_eq!(step_seed(0, false, false), 0);
    }

    #[test]
    fn fractions_can_be_typed_as_percent() {
        assert_eq!(parse_fraction("0.5%", "k", "x"), Ok(0.005));
        assert_eq!(parse_fraction("0.25", "k", "x"), Ok(0.25));
        assert!(parse_fraction("lots", "k", "x").unwrap_err().to_string().starts_with("k: "));
    }
}
