//! The MSE-vs-clip curve of the Quantize pane and `report`'s `pictures.mse_curve`.

use serde::Serialize;

use super::analysis::{Analysis, Channel, Channels, groups, uses_affine_kernel};
use super::calibrate::Target;
use super::kernel::squared_error;
use super::parallel::{run_tasks, threads_for};
use super::quant::{QuantConfig, Rounder, bit_params};
use super::watch::{Cancelled, Watch};
use super::weights::Weights;

/// Points of the curve, from 1/40 of the min-max range to all of it.
pub const CURVE_POINTS: usize = 40;

/// MSE against the width of the clip range, as a fraction of min-max:
/// small fractions clip much, large ones round coarsely.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MseCurve {
    /// (fraction of the min-max range, mse)
    pub points: Vec<(f64, f64)>,
    pub optimum: (f64, f64),
    pub current: (f64, f64),
}

/// The MSE-vs-clip curve: point k of `CURVE_POINTS` fits the grid to each
/// channel's min-max range shrunk to k / `CURVE_POINTS`, and measures the
/// mse on every finite value of the tensor (a sample can miss the very
/// values that decide it). Slower than the analysis (40 passes over the
/// weights), so the worker sends it after the analysis; `watch` can stop it
/// between points.
pub fn mse_curve(w: &Weights, cfg: &QuantConfig, a: &Analysis, watch: &Watch) -> Result<MseCurve, Cancelled> {
    if !uses_affine_kernel(cfg) {
        return Ok(MseCurve::without_clip(a.metrics.mse));
    }
    let ch = Channels::of(w, cfg);
    let target = Target::of(cfg, a.effective_bits);
    let runs = ch.runs();
    // A task measures every point on its runs while they sit in cache: one
    // pass over memory, not forty. Its sums are added in task order, so the
    // curve does not depend on the number of threads.
    let tasks = groups(&runs);
    let measure = |scratch: &mut Vec<f32>, group: &std::ops::Range<usize>| -> Option<[f64; CURVE_POINTS]> {
        watch.check().ok()?;
        let mut sq = [0.0; CURVE_POINTS];
        let mut rounder = Rounder::new(target.rounding, 0);
        for (c, span) in &runs[group.clone()] {
            let values = ch.finite(span.clone(), scratch);
            let (lo, hi) = a.channels[*c].data_range;
            for (k, sum) in sq.iter_mut().enumerate() {
                let t = (k + 1) as f32 / CURVE_POINTS as f32;
                let p = bit_params(target.scheme, target.bits, lo * t, hi * t);
                *sum += squared_error(&values, &p, &mut rounder);
            }
        }
        Some(sq)
    };
    let (done, _) = run_tasks(&tasks, threads_for(ch.values.len()), Vec::new, measure);
    let mut total = [0.0; CURVE_POINTS];
    for sq in done {
        total.iter_mut().zip(sq.ok_or(Cancelled)?).for_each(|(t, s)| *t += s);
    }
    let finite = (a.count - a.non_finite).max(1) as f64;
    let points = total.iter().enumerate().map(|(k, sq)| ((k + 1) as f64 / CURVE_POINTS as f64, sq / finite)).collect();
    Ok(mark_curve(points, &a.channels, a.metrics.mse))
}

impl MseCurve {
    /// A format with no clip range to move (the block formats scale each
    /// block to its own maximum): no points, and the current mse.
    pub fn without_clip(mse: f64) -> MseCurve {
        MseCurve { points: Vec::new(), optimum: (1.0, mse), current: (1.0, mse) }
    }
}

/// The curve with its optimum and the current setting marked.
fn mark_curve(points: Vec<(f64, f64)>, channels: &[Channel], current_mse: f64) -> MseCurve {
    let optimum = points.iter().copied().fold((1.0, f64::INFINITY), |best, p| if p.1 < best.1 { p } else { best });
    let fractions: Vec<f64> = channels
        .iter()
        .map(|c| {
            let (r, d) = (c.range, c.data_range);
            if d.1 > d.0 { ((r.1 - r.0) / (d.1 - d.0)) as f64 } else { 1.0 }
        })
        .collect();
    let current = fractions.iter().sum::<f64>() / fractions.len().max(1) as f64;
    MseCurve { points, optimum, current: (current, current_mse) }
}
