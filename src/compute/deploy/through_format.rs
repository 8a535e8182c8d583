//! Fake quantization of the ensemble through the [`NumberFormat`] trait,
//! for every format but `int` per tensor or per channel (which keeps its
//! integer codes, see the parent module).
//!
//! A feature's training column, as a `[rows, 1]` tensor, is quantized by
//! the format with its own parameter rule. The values its codes can then
//! take (the format's `levels`) and where it sent each training value make
//! that feature's quantizer, a [`Grid`], which reads any value (a test row,
//! a tree threshold) the way the format read the training column. A format
//! whose parameters change along the column (one scale per block of
//! training rows) gives a feature no single quantizer: one sample at
//! inference cannot form a block of rows, so it is refused with its reason.

use std::cell::RefCell;

use ndarray::{Array2, ArrayView2, Axis};

use crate::compute::formats::{self, Grouping, NumberFormat, TensorFacts};
use crate::compute::quant::QuantConfig;
use crate::compute::weights::Weights;

use super::DeployError;

/// One feature's quantizer: the format's levels, and the cut between each
/// two neighbours. A cut sits at their midpoint (where a format that rounds
/// to nearest puts it), moved into the gap between the training values the
/// format sent to either side: so every training value reads as the format
/// read it, and a format with cuts of its own (TWN's Δ) keeps them as far
/// as the training column shows them.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Grid {
    /// Finite, ascending, distinct.
    levels: Vec<f32>,
    /// `cuts[k]` between `levels[k]` and `levels[k + 1]`: a value at or below goes down.
    cuts: Vec<f64>,
}

impl Grid {
    /// The grid of a format's `levels`, given its x̂ of training `values`.
    pub fn calibrated(levels: &[f32], values: &[f32], xhat: &[f32]) -> Grid {
        let mut levels: Vec<f32> = levels.iter().chain(xhat).copied().filter(|l| l.is_finite()).collect();
        levels.sort_by(f32::total_cmp);
        levels.dedup();
        let cuts = levels
            .windows(2)
            .map(|pair| {
                let (down, up) = (pair[0], pair[1]);
                let mid = (down as f64 + up as f64) / 2.0;
                let sent = values.iter().zip(xhat);
                let highest_down =
                    sent.clone().filter(|&(_, &h)| h <= down).fold(f32::NEG_INFINITY, |m, (&v, _)| m.max(v));
                let lowest_up = sent.filter(|&(_, &h)| h >= up).fold(f32::INFINITY, |m, (&v, _)| m.min(v));
                // Just below the lowest value sent up (every f32 below it is at or below the cut).
                let below_up = lowest_up as f64 - f64::from(ulp(lowest_up)) / 2.0;
                mid.max(highest_down as f64).min(below_up)
            })
            .collect();
        Grid { levels, cuts }
    }

    /// x̂ of `x`: the level between the cuts around it, saturating at the ends.
    pub fn xhat(&self, x: f64) -> f64 {
        let x = x as f32 as f64;
        let k = self.cuts.partition_point(|&c| c < x);
        self.levels.get(k).map_or(0.0, |&l| l as f64)
    }
}

/// The gap from |x| to the next f32 away from zero.
fn ulp(x: f32) -> f32 {
    if x.is_finite() { (f32::from_bits(x.abs().to_bits() + 1) - x.abs()).max(f32::MIN_POSITIVE) } else { 0.0 }
}

/// The per-feature quantizers and what their parameters cost.
pub(super) struct FeatureGrids {
    pub grids: Vec<Grid>,
    /// Bits of every feature's parameters (scales, codebooks), codes apart.
    pub param_bits: u64,
}

/// A column is one channel: per channel means one quantizer per feature.
fn column_config(q: &QuantConfig) -> QuantConfig {
    QuantConfig { channel_axis: 1, ..q.clone() }
}

/// The groups the format splits a column of `n` values into.
fn column_groups(format: &dyn NumberFormat, cfg: &QuantConfig, n: usize) -> usize {
    match format.grouping(cfg) {
        Grouping::Tensor | Grouping::Channel => n.max(1),
        Grouping::Groups(size) => size.max(1),
    }
}

/// Why a format with a scale per block of `block` values has no quantizer per feature.
fn blocks_refusal(q: &QuantConfig, features: usize, block: usize) -> DeployError {
    let along_features = match q.format.format().check(q, Some(features)) {
        Err(e) => e.to_string(),
        Ok(()) => format!("a scale per block of {features} features would be one per sample, not per feature"),
    };
    DeployError::Blocks { format: q.format, block, along_features }
}

/// One grid per column of `x` (the training rows), from the format's own
/// parameter rule on the column; an error says why the format cannot apply.
pub(super) fn feature_grids(x: ArrayView2<f64>, q: &QuantConfig) -> Result<FeatureGrids, DeployError> {
    let cfg = column_config(q);
    let format = cfg.format.format();
    let cannot = |e: &dyn std::fmt::Display| DeployError::Features { format: q.format, reason: e.to_string() };
    format.check(&cfg, None).map_err(|e| cannot(&e))?;
    // A column is a tensor of rows of one value: a format that needs whole
    // blocks along a row refuses it, and keeps a scale per block.
    if let Err(e) = format.check(&cfg, Some(1)) {
        return Err(match format.grouping(&cfg) {
            Grouping::Groups(size) => blocks_refusal(q, x.ncols(), size),
            _ => cannot(&e),
        });
    }
    let code_bits = format.code_bits(&cfg) as f64;
    let mut out = FeatureGrids { grids: Vec::with_capacity(x.ncols()), param_bits: 0 };
    for column in x.axis_iter(Axis(1)) {
        let values: Vec<f32> = column.iter().map(|&v| v as f32).collect();
        let n = values.len();
        let amax = values.iter().fold(0f32, |m, v| m.max(v.abs()));
        let facts = TensorFacts { rows: n, cols: 1, amax };
        let size = column_groups(format, &cfg, n);
        let mut chunks = values.chunks(size);
        let first = chunks.next().unwrap_or(&[]);
        let params = format.params(&cfg, &facts, first);
        if chunks.any(|chunk| format.params(&cfg, &facts, chunk) != params) {
            return Err(blocks_refusal(q, x.ncols(), size));
        }
        let (xhat, _) =
            formats::dequantized(&Weights::in_memory(values.clone(), n, 1), &cfg).map_err(|e| cannot(&e))?;
        out.grids.push(Grid::calibrated(&format.levels(&cfg, &facts, first), &values, &xhat));
        out.param_bits += ((format.bits_per_weight(&cfg, n, 1) - code_bits) * n as f64).round() as u64;
    }
    Ok(out)
}

/// x̂ of every value of `x`, feature by feature.
pub(super) fn dequantize_rows(x: ArrayView2<f64>, grids: &[Grid]) -> Array2<f64> {
    Array2::from_shape_fn(x.dim(), |(r, c)| grids[c].xhat(x[[r, c]]))
}

/// A logistic member's weights (features x classes) as one `[classes,
/// features]` tensor through the format (per channel: one set per class),
/// and dequantized; the parameter bits of every tensor quantized, and the
/// first refusal, are kept in `log`.
pub(super) struct WeightQuantizer {
    cfg: QuantConfig,
    pub log: RefCell<WeightLog>,
}

#[derive(Default)]
pub(super) struct WeightLog {
    pub param_bits: u64,
    pub error: Option<DeployError>,
}

impl WeightQuantizer {
    pub fn new(q: &QuantConfig) -> Self {
        WeightQuantizer { cfg: QuantConfig { channel_axis: 0, ..q.clone() }, log: RefCell::new(WeightLog::default()) }
    }

    pub fn quantize(&self, w: &Array2<f64>) -> Array2<f64> {
        let (features, classes) = w.dim();
        let values: Vec<f32> = w.t().iter().map(|&v| v as f32).collect();
        let t = Weights::in_memory(values, classes, features);
        let mut log = self.log.borrow_mut();
        match formats::dequantized(&t, &self.cfg) {
            Ok((xhat, _)) => {
                let format = self.cfg.format.format();
                let extra = format.bits_per_weight(&self.cfg, classes, features) - format.code_bits(&self.cfg) as f64;
                log.param_bits += (extra * (classes * features) as f64).round() as u64;
                Array2::from_shape_fn((features, classes), |(f, c)| xhat[c * features + f] as f64)
            }
            Err(e) => {
                log.error
                    .get_or_insert_with(|| DeployError::Weights { format: self.cfg.format, reason: e.to_string() });
                w.clone()
            }
        }
    }
}
