//! The Quantize pane's pipeline: calibrate, quantize, measure, picture.

use std::borrow::Cow;

use serde::Serialize;

use super::calibrate::{Target, calibrate, min_max};
use super::histogram::Histogram;
use super::quant::{Calibration, QParams, QuantConfig, Rounder, Scheme, bit_params, manual_params};
use super::weights::Weights;

pub const HIST_BINS: usize = 160;
const CURVE_POINTS: usize = 48;
const CURVE_SAMPLE: usize = 32_768;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalysisError {
    #[error("all {0} values are NaN or infinite: there is nothing to calibrate or measure")]
    NoFiniteValues(usize),
    #[error("{0}")]
    Invalid(#[from] super::quant::InvalidSetting),
}

/// Which channel each element of the row-major `[rows, cols]` view belongs to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Layout {
    PerTensor,
    Rows { rows: usize, cols: usize },
    Cols { rows: usize, cols: usize },
}

impl Layout {
    pub fn of(w: &Weights, cfg: &QuantConfig) -> Layout {
        let (rows, cols) = (w.rows, w.cols);
        match (cfg.per_channel(), cfg.channel_axis) {
            (false, _) => Layout::PerTensor,
            (true, 0) => Layout::Rows { rows, cols },
            (true, _) => Layout::Cols { rows, cols },
        }
    }

    pub fn channels(&self) -> usize {
        match *self {
            Layout::PerTensor => 1,
            Layout::Rows { rows, .. } => rows,
            Layout::Cols { cols, .. } => cols,
        }
    }

    #[inline]
    pub fn channel(&self, index: usize) -> usize {
        match *self {
            Layout::PerTensor => 0,
            Layout::Rows { cols, .. } => index / cols,
            Layout::Cols { cols, .. } => index % cols,
        }
    }

    /// The finite values of each channel, contiguous; borrowed when nothing needs copying.
    fn finite_channels<'a>(&self, values: &'a [f32], non_finite: usize) -> (Cow<'a, [f32]>, Vec<usize>) {
        if let (Layout::PerTensor | Layout::Rows { .. }, 0) = (self, non_finite) {
            let len = values.len() / self.channels();
            return (Cow::Borrowed(values), (0..=self.channels()).map(|c| c * len).collect());
        }
        let mut out = Vec::with_capacity(values.len() - non_finite);
        let mut offsets = vec![0];
        let mut push_finite = |it: &mut dyn Iterator<Item = f32>| {
            out.extend(it.filter(|x| x.is_finite()));
            offsets.push(out.len());
        };
        match *self {
            Layout::PerTensor => push_finite(&mut values.iter().copied()),
            Layout::Rows { cols, .. } => values.chunks(cols).for_each(|row| push_finite(&mut row.iter().copied())),
            Layout::Cols { cols, .. } => {
                (0..cols).for_each(|c| push_finite(&mut values.iter().skip(c).step_by(cols).copied()))
            }
        }
        (Cow::Owned(out), offsets)
    }
}

/// Quantizes every element in row-major order, with the parameters of its
/// channel, and hands each result to `visit(index, x, code, clipped)`.
/// The one place where weights become codes, so the codes the `quantize`
/// command writes are those the pane measured. Non-finite values map as
/// PyTorch maps them: NaN to the zero point, +-Inf to the ends of the range.
pub fn quantize_each(
    values: &[f32],
    layout: Layout,
    params: &[QParams],
    rounder: &mut Rounder,
    mut visit: impl FnMut(usize, f32, i32, bool),
) {
    let mut run = |i: usize, x: f32, p: &QParams| {
        if x.is_finite() {
            let (q, clipped) = rounder.quantize(p, x);
            visit(i, x, q, clipped);
        } else {
            let q = if x.is_nan() {
                p.zero_point
            } else if x > 0.0 {
                p.qmax
            } else {
                p.qmin
            };
            visit(i, x, q, false);
        }
    };
    match layout {
        Layout::PerTensor => values.iter().enumerate().for_each(|(i, &x)| run(i, x, &params[0])),
        Layout::Rows { cols, .. } | Layout::Cols { cols, .. } => {
            let by_row = matches!(layout, Layout::Rows { .. });
            for (r, row) in values.chunks(cols).enumerate() {
                for (c, &x) in row.iter().enumerate() {
                    run(r * cols + c, x, &params[if by_row { r } else { c }]);
                }
            }
        }
    }
}

/// The error figures of a set of values (a channel or the whole tensor).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub count: u64,
    pub mse: f64,
    pub rmse: f64,
    pub mae: f64,
    pub max_abs_error: f64,
    /// 10 log10(sum x^2 / sum e^2); infinite when the error is zero.
    pub sqnr_db: f64,
    pub cosine: f64,
    pub clip_rate: f64,
    pub clipped: u64,
    /// Distinct integer codes that occur.
    pub levels_used: u64,
    pub levels_available: u64,
    /// Mean of x - x_hat.
    pub bias: f64,
    /// Fraction of values whose x_hat is exactly 0.
    pub zero_rate: f64,
}

/// Running sums behind `Metrics`, one per channel, merged for the tensor.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    n: u64,
    clipped: u64,
    zeros: u64,
    err: f64,
    abs: f64,
    sq: f64,
    max_abs: f64,
    x2: f64,
    xh2: f64,
    xxh: f64,
}

impl Sums {
    #[inline]
    fn add(&mut self, x: f32, xh: f32, clipped: bool) {
        let (x, xh) = (x as f64, xh as f64);
        let e = x - xh;
        self.n += 1;
        self.clipped += clipped as u64;
        self.zeros += (xh == 0.0) as u64;
        self.err += e;
        self.abs += e.abs();
        self.sq += e * e;
        self.max_abs = self.max_abs.max(e.abs());
        self.x2 += x * x;
        self.xh2 += xh * xh;
        self.xxh += x * xh;
    }

    fn merge(&mut self, o: &Sums) {
        self.n += o.n;
        self.clipped += o.clipped;
        self.zeros += o.zeros;
        self.err += o.err;
        self.abs += o.abs;
        self.sq += o.sq;
        self.max_abs = self.max_abs.max(o.max_abs);
        self.x2 += o.x2;
        self.xh2 += o.xh2;
        self.xxh += o.xxh;
    }

    fn metrics(&self, levels_used: u64, levels_available: u64) -> Metrics {
        let n = self.n.max(1) as f64;
        let mse = self.sq / n;
        let cosine = match (self.x2 > 0.0, self.xh2 > 0.0) {
            (true, true) => self.xxh / (self.x2.sqrt() * self.xh2.sqrt()),
            (false, false) => 1.0,
            _ => 0.0,
        };
        Metrics {
            count: self.n,
            mse,
            rmse: mse.sqrt(),
            mae: self.abs / n,
            max_abs_error: self.max_abs,
            sqnr_db: if self.sq > 0.0 { 10.0 * (self.x2 / self.sq).log10() } else { f64::INFINITY },
            cosine,
            clip_rate: self.clipped as f64 / n,
            clipped: self.clipped,
            levels_used,
            levels_available,
            bias: self.err / n,
            zero_rate: self.zeros as f64 / n,
        }
    }
}

/// One channel's calibrated range, parameters and error figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Channel {
    /// The clip range calibration chose (the manual clip in manual mode).
    pub clip: (f32, f32),
    pub params: QParams,
    pub metrics: Metrics,
}

/// The error histogram, with clipped values kept apart from rounding error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorHistogram {
    pub rounding: Histogram,
    pub clipped: Histogram,
}

/// MSE against the width of the clip range, as a fraction of min-max:
/// small fractions clip much, large ones round coarsely.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MseCurve {
    /// (fraction of the min-max range, mse)
    pub points: Vec<(f64, f64)>,
    pub optimum: (f64, f64),
    pub current: (f64, f64),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Storage {
    pub bytes_fp32: u64,
    pub bytes_quantized: u64,
    pub compression: f64,
}

/// Everything the Quantize pane shows and `report` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub count: usize,
    pub non_finite: usize,
    pub data_range: (f32, f32),
    pub qmin: i32,
    pub qmax: i32,
    pub effective_bits: u32,
    pub channels: Vec<Channel>,
    pub metrics: Metrics,
    pub storage: Storage,
    pub weight_hist: Histogram,
    pub error_hist: ErrorHistogram,
    pub curve: MseCurve,
}

/// The calibrated ranges and parameters of each channel.
pub fn channel_params(w: &Weights, cfg: &QuantConfig) -> Result<Vec<((f32, f32), QParams)>, AnalysisError> {
    cfg.validate()?;
    if w.non_finite == w.values.len() {
        return Err(AnalysisError::NoFiniteValues(w.values.len()));
    }
    if cfg.scheme == Scheme::Manual {
        let [lo, hi] = cfg.clip.map(|v| v as f32);
        return Ok(vec![((lo, hi), manual_params(cfg.scale as f32, lo, hi)?)]);
    }
    let layout = Layout::of(w, cfg);
    let (finite, offsets) = layout.finite_channels(&w.values, w.non_finite);
    let target = Target::of(cfg, cfg.bits);
    let mut scratch = Vec::new();
    Ok(offsets
        .windows(2)
        .map(|span| {
            let values = &finite[span[0]..span[1]];
            // A channel that is all NaN still needs parameters; zero is as good as any.
            let clip =
                if values.is_empty() { (0.0, 0.0) } else { calibrate(values, cfg.calibration, &target, &mut scratch) };
            (clip, bit_params(cfg.scheme, cfg.bits, clip.0, clip.1))
        })
        .collect())
}

/// The whole pipeline for one setting of the quantizer.
pub fn analyze(w: &Weights, cfg: &QuantConfig) -> Result<Analysis, AnalysisError> {
    let chosen = channel_params(w, cfg)?;
    let layout = Layout::of(w, cfg);
    let params: Vec<QParams> = chosen.iter().map(|c| c.1).collect();
    let (qmin, qmax) =
        (params.iter().map(|p| p.qmin).min().unwrap_or(0), params.iter().map(|p| p.qmax).max().unwrap_or(0));

    let mut sums = vec![Sums::default(); params.len()];
    let mut codes = vec![0i32; w.values.len()];
    let mut errors = Vec::with_capacity(w.values.len() - w.non_finite);
    let (mut emin, mut emax) = (f32::INFINITY, f32::NEG_INFINITY);
    let mut rounder = Rounder::new(cfg.rounding, cfg.seed);
    quantize_each(&w.values, layout, &params, &mut rounder, |i, x, q, clipped| {
        codes[i] = q;
        if !x.is_finite() {
            return;
        }
        let ch = layout.channel(i);
        let xh = params[ch].dequantize(q);
        sums[ch].add(x, xh, clipped);
        let e = x - xh;
        emin = emin.min(e);
        emax = emax.max(e);
        errors.push((e, clipped));
    });

    let levels = levels_used(&codes, &w.values, layout, qmin, qmax);
    let available = (qmax as i64 - qmin as i64 + 1) as u64;
    let channels: Vec<Channel> = chosen
        .iter()
        .zip(&sums)
        .zip(&levels.per_channel)
        .map(|(((clip, p), s), &used)| Channel { clip: *clip, params: *p, metrics: s.metrics(used, p.levels() as u64) })
        .collect();
    let mut total = Sums::default();
    sums.iter().for_each(|s| total.merge(s));
    let metrics = total.metrics(levels.total, available);

    let data_range = data_range(&w.values);
    let mut weight_hist = Histogram::new(data_range.0, data_range.1, HIST_BINS);
    w.values.iter().filter(|x| x.is_finite()).for_each(|&x| weight_hist.add(x));
    let mut error_hist = ErrorHistogram {
        rounding: Histogram::new(emin, emax, HIST_BINS),
        clipped: Histogram::new(emin, emax, HIST_BINS),
    };
    for &(e, clipped) in &errors {
        if clipped { error_hist.clipped.add(e) } else { error_hist.rounding.add(e) }
    }
    let effective_bits = params.iter().map(QParams::effective_bits).max().unwrap_or(0);
    let curve = mse_curve(w, cfg, layout, &channels, effective_bits, metrics.mse);
    Ok(Analysis {
        count: w.values.len(),
        non_finite: w.non_finite,
        data_range,
        qmin,
        qmax,
        effective_bits,
        storage: storage(w.values.len(), effective_bits, channels.len()),
        channels,
        metrics,
        weight_hist,
        error_hist,
        curve,
    })
}

fn data_range(values: &[f32]) -> (f32, f32) {
    values
        .iter()
        .filter(|x| x.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

/// Bit-packed codes plus a float32 scale and an int32 zero point per channel.
pub fn storage(count: usize, bits: u32, channels: usize) -> Storage {
    let bytes_fp32 = count as u64 * 4;
    let bytes_quantized = (count as u64 * bits as u64).div_ceil(8) + channels as u64 * 8;
    Storage { bytes_fp32, bytes_quantized, compression: bytes_fp32 as f64 / bytes_quantized as f64 }
}

struct LevelsUsed {
    total: u64,
    per_channel: Vec<u64>,
}

/// Distinct codes of finite values, for the tensor and for each channel.
fn levels_used(codes: &[i32], values: &[f32], layout: Layout, qmin: i32, qmax: i32) -> LevelsUsed {
    let span = (qmax as i64 - qmin as i64 + 1) as usize;
    let mut all = vec![false; span];
    let mut seen = vec![false; span];
    let mut touched = Vec::new();
    let mut per_channel = vec![0u64; layout.channels()];
    let mut count_channel = |indices: &mut dyn Iterator<Item = usize>| {
        let mut used = 0;
        for i in indices.filter(|&i| values[i].is_finite()) {
            let slot = (codes[i] as i64 - qmin as i64) as usize;
            if !seen[slot] {
                seen[slot] = true;
                all[slot] = true;
                touched.push(slot);
                used += 1;
            }
        }
        touched.drain(..).for_each(|s| seen[s] = false);
        used
    };
    match layout {
        Layout::PerTensor => per_channel[0] = count_channel(&mut (0..codes.len())),
        Layout::Rows { cols, .. } => {
            for (r, used) in per_channel.iter_mut().enumerate() {
                *used = count_channel(&mut (r * cols..(r + 1) * cols));
            }
        }
        Layout::Cols { cols, .. } => {
            for (c, used) in per_channel.iter_mut().enumerate() {
                *used = count_channel(&mut (c..codes.len()).step_by(cols));
            }
        }
    }
    LevelsUsed { total: all.iter().filter(|&&b| b).count() as u64, per_channel }
}

/// MSE when every channel's min-max range is scaled by a fraction, on a
/// strided sample of at most `CURVE_SAMPLE` values (a picture, not a metric).
fn mse_curve(
    w: &Weights,
    cfg: &QuantConfig,
    layout: Layout,
    channels: &[Channel],
    bits: u32,
    current_mse: f64,
) -> MseCurve {
    let target = Target::of(cfg, bits);
    let stride = w.values.len().div_ceil(CURVE_SAMPLE).max(1);
    let sample: Vec<(usize, f32)> = (0..w.values.len())
        .step_by(stride)
        .map(|i| (layout.channel(i), w.values[i]))
        .filter(|(_, x)| x.is_finite())
        .collect();
    let ranges = channel_ranges(w, layout);
    let max_fraction = 1.0f64;
    let points: Vec<(f64, f64)> = (1..=CURVE_POINTS)
        .map(|k| {
            let t = max_fraction * k as f64 / CURVE_POINTS as f64;
            let params: Vec<QParams> = ranges
                .iter()
                .map(|&(lo, hi)| bit_params(target.scheme, target.bits, lo * t as f32, hi * t as f32))
                .collect();
            let mut r = Rounder::new(target.rounding, 0);
            let sq: f64 = sample
                .iter()
                .map(|&(ch, x)| {
                    let p = &params[ch];
                    let e = (x - p.dequantize(r.quantize(p, x).0)) as f64;
                    e * e
                })
                .sum();
            (t, sq / sample.len().max(1) as f64)
        })
        .collect();
    let optimum = points.iter().copied().fold((1.0, f64::INFINITY), |best, p| if p.1 < best.1 { p } else { best });
    let fractions: Vec<f64> = channels
        .iter()
        .zip(&ranges)
        .map(|(c, &(lo, hi))| if hi > lo { ((c.clip.1 - c.clip.0) / (hi - lo)) as f64 } else { 1.0 })
        .collect();
    let current = fractions.iter().sum::<f64>() / fractions.len().max(1) as f64;
    MseCurve { points, optimum, current: (current, current_mse) }
}

/// The min-max range of each channel's finite values.
fn channel_ranges(w: &Weights, layout: Layout) -> Vec<(f32, f32)> {
    let (finite, offsets) = layout.finite_channels(&w.values, w.non_finite);
    offsets.windows(2).map(|s| if s[0] == s[1] { (0.0, 0.0) } else { min_max(&finite[s[0]..s[1]]) }).collect()
}

/// The clip range every calibration method would pick for the whole tensor,
/// shown beside the chosen one.
pub fn alternatives(w: &Weights, cfg: &QuantConfig, manual_bits: u32) -> Vec<(Calibration, (f32, f32))> {
    let (finite, _) = Layout::PerTensor.finite_channels(&w.values, w.non_finite);
    if finite.is_empty() {
        return Vec::new();
    }
    let target = Target::of(cfg, manual_bits);
    let mut scratch = Vec::new();
    Calibration::ALL.iter().map(|&m| (m, calibrate(&finite, m, &target, &mut scratch))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::quant::{Granularity, Rounding};
    use crate::compute::weights::{Distribution, SyntheticSpec, synthetic};
    use proptest::prelude::*;

    fn tensor(values: Vec<f32>, rows: usize, cols: usize) -> Weights {
        let non_finite = values.iter().filter(|x| !x.is_finite()).count();
        Weights {
            values,
            rows,
            cols,
            shape: vec![rows, cols],
            dtype: "f32".into(),
            source: "test".into(),
            tensor: None,
            non_finite,
        }
    }

    fn seed_weights() -> Weights {
        synthetic(&SyntheticSpec {
            distribution: Distribution::Normal,
            rows: 1000,
            cols: 10,
            seed: 42,
            dof: 5.0,
            outlier_fraction: 0.0,
        })
        .unwrap()
    }

    #[test]
    fn hand_computed_per_tensor_metrics() {
        // Symmetric 2-bit on [-1, 1]: levels -1, 0, 1 with scale 1.
        let w = tensor(vec![-1.0, -0.25, 0.5, 0.75, 3.0, 1.0], 1, 6);
        let cfg = QuantConfig {
            bits: 2,
            scheme: Scheme::Symmetric,
            calibration: Calibration::Percentile,
            percentile: 100.0 * 4.0 / 5.0, // rank 4 of |x| sorted [0.25,0.5,0.75,1,1,3] -> 1.0
            ..QuantConfig::default()
        };
        let a = analyze(&w, &cfg).unwrap();
        let p = a.channels[0].params;
        assert_eq!((p.scale, p.zero_point, p.qmin, p.qmax), (1.0, 0, -1, 1));
        // x_hat = -1, 0, 0 (0.5 ties to even), 1, 1 (clipped), 1; errors 0, -0.25, 0.5, -0.25, 2, 0.
        let m = &a.metrics;
        let mse = (0.0625 + 0.25 + 0.0625 + 4.0) / 6.0;
        assert!((m.mse - mse).abs() < 1e-12);
        assert!((m.mae - 3.0 / 6.0).abs() < 1e-12);
        assert_eq!(m.max_abs_error, 2.0);
        assert!((m.bias - 2.0 / 6.0).abs() < 1e-12);
        assert_eq!((m.clipped, m.levels_used, m.levels_available), (1, 3, 3));
        assert!((m.clip_rate - 1.0 / 6.0).abs() < 1e-12);
        let x2 = 1.0 + 0.0625 + 0.25 + 0.5625 + 9.0 + 1.0;
        assert!((m.sqnr_db - 10.0 * (x2 / (mse * 6.0)).log10()).abs() < 1e-9);
        let cosine = (1.0 + 0.75 + 3.0 + 1.0) / (x2.sqrt() * 4f64.sqrt());
        assert!((m.cosine - cosine).abs() < 1e-12);
        assert_eq!(a.error_hist.clipped.total(), 1);
        assert_eq!(a.error_hist.rounding.total(), 5);
        assert_eq!(a.weight_hist.total(), 6);
    }

    #[test]
    fn seed_example_rounds_every_weight_to_zero() {
        let cfg = QuantConfig { scheme: Scheme::Manual, scale: 128.0, clip: [-128.0, 127.0], ..QuantConfig::default() };
        let a = analyze(&seed_weights(), &cfg).unwrap();
        assert_eq!(a.metrics.levels_used, 1);
        assert_eq!(a.metrics.levels_available, 2);
        assert_eq!(a.effective_bits, 1);
        assert_eq!(a.metrics.cosine, 0.0);
        assert!(a.metrics.sqnr_db.abs() < 1e-9, "x_hat = 0 means the error is the signal: 0 dB");
        assert_eq!(a.metrics.clipped, 0);
        assert_eq!(a.metrics.zero_rate, 1.0);
    }

    #[test]
    fn per_channel_rows_calibrate_each_row() {
        let w = tensor(vec![-1.0, 1.0, -4.0, 4.0], 2, 2);
        let cfg =
            QuantConfig { scheme: Scheme::Symmetric, granularity: Granularity::PerChannel, ..QuantConfig::default() };
        let a = analyze(&w, &cfg).unwrap();
        assert_eq!(a.channels.len(), 2);
        assert!((a.channels[0].params.scale - 1.0 / 127.0).abs() < 1e-9);
        assert!((a.channels[1].params.scale - 4.0 / 127.0).abs() < 1e-9);
        assert_eq!(a.metrics.mse, 0.0);
        assert_eq!(a.metrics.sqnr_db, f64::INFINITY);
    }

    #[test]
    fn per_channel_columns_calibrate_each_column() {
        let w = tensor(vec![-1.0, 8.0, 1.0, -2.0, 0.5, 4.0], 3, 2);
        let cfg = QuantConfig {
            scheme: Scheme::Symmetric,
            granularity: Granularity::PerChannel,
            channel_axis: 1,
            ..QuantConfig::default()
        };
        let a = analyze(&w, &cfg).unwrap();
        assert_eq!(a.channels.iter().map(|c| c.clip).collect::<Vec<_>>(), vec![(-1.0, 1.0), (-2.0, 8.0)]);
        assert_eq!(a.channels[0].metrics.count, 3);
    }

    #[test]
    fn non_finite_values_are_left_out() {
        let w = tensor(vec![f32::NAN, -1.0, f32::INFINITY, 1.0, 0.5, f32::NEG_INFINITY], 2, 3);
        let a = analyze(&w, &QuantConfig::default()).unwrap();
        assert_eq!(a.non_finite, 3);
        assert_eq!(a.metrics.count, 3);
        assert_eq!(a.channels[0].clip, (-1.0, 1.0));
        assert!(a.metrics.mse.is_finite());
        assert_eq!(a.weight_hist.total(), 3);
    }

    #[test]
    fn all_nan_is_an_error() {
        let w = tensor(vec![f32::NAN; 4], 2, 2);
        assert_eq!(analyze(&w, &QuantConfig::default()).unwrap_err(), AnalysisError::NoFiniteValues(4));
    }

    #[test]
    fn constant_tensor_has_finite_figures() {
        let w = tensor(vec![0.3; 100], 10, 10);
        for &m in Calibration::ALL {
            for scheme in [Scheme::Asymmetric, Scheme::Symmetric] {
                let cfg = QuantConfig { calibration: m, scheme, ..QuantConfig::default() };
                let a = analyze(&w, &cfg).unwrap();
                let p = a.channels[0].params;
                assert!(p.scale > 0.0 && p.scale.is_finite(), "{m:?} {scheme:?}");
                assert!(a.metrics.mse.is_finite() && a.metrics.mse < 1e-4, "{m:?} {scheme:?}: {}", a.metrics.mse);
            }
        }
        let zeros = tensor(vec![0.0; 100], 10, 10);
        let a = analyze(&zeros, &QuantConfig::default()).unwrap();
        assert_eq!(a.metrics.mse, 0.0);
        assert_eq!(a.metrics.cosine, 1.0);
    }

    #[test]
    fn storage_counts_packed_bits_and_parameters() {
        let s = storage(1000, 4, 10);
        assert_eq!((s.bytes_fp32, s.bytes_quantized), (4000, 500 + 80));
        assert!((s.compression - 4000.0 / 580.0).abs() < 1e-12);
    }

    #[test]
    fn quantize_each_maps_non_finite_values_like_pytorch() {
        let p = bit_params(Scheme::Asymmetric, 8, -1.0, 1.0);
        let mut got = Vec::new();
        let values = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
        quantize_each(&values, Layout::PerTensor, &[p], &mut Rounder::new(Rounding::HalfEven, 0), |_, _, q, _| {
            got.push(q)
        });
        assert_eq!(got, vec![p.zero_point, p.qmax, p.qmin]);
    }

    #[test]
    fn curve_marks_an_optimum_no_worse_than_min_max() {
        let cfg = QuantConfig { bits: 3, ..QuantConfig::default() };
        let a = analyze(&seed_weights(), &cfg).unwrap();
        let c = &a.curve;
        assert_eq!(c.points.len(), CURVE_POINTS);
        assert!(c.optimum.1 <= c.points.last().unwrap().1);
        assert!(c.optimum.0 < 1.0, "3-bit normal weights are best clipped");
        assert!((c.current.0 - 1.0).abs() < 1e-6, "min-max is the full range");
    }

    #[test]
    fn alternatives_cover_every_method() {
        let alts = alternatives(&seed_weights(), &QuantConfig::default(), 8);
        assert_eq!(alts.len(), Calibration::ALL.len());
        let (lo, hi) = alts[0].1;
        assert!(alts.iter().all(|(_, (l, h))| *l >= lo && *h <= hi && l < h));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// A uniform signal that fills the 2^b levels of a quantizer (half a
        /// step beyond the end levels) has SQNR = 20 log10(2^b) = 6.02 b dB.
        #[test]
        fn sqnr_of_a_full_scale_uniform_signal_is_six_db_per_bit(bits in 4u32..=16, scale in 1e-3f64..10.0, seed in 0u64..1000) {
            use rand::{Rng, SeedableRng};
            let (qmin, qmax) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let (lo, hi) = ((qmin as f64 - 0.5) * scale, (qmax as f64 + 0.5) * scale);
            let values: Vec<f32> = (0..100_000).map(|_| rng.gen_range(lo..hi) as f32).collect();
            let cfg = QuantConfig {
                scheme: Scheme::Manual,
                scale,
                clip: [(qmin as f64 - 0.25) * scale, (qmax as f64 + 0.25) * scale],
                ..QuantConfig::default()
            };
            let a = analyze(&tensor(values, 1, 100_000), &cfg).unwrap();
            prop_assert_eq!(a.effective_bits, bits);
            let expect = 6.02 * bits as f64;
            prop_assert!((a.metrics.sqnr_db - expect).abs() <= 0.3, "{} bits: {} dB vs {}", bits, a.metrics.sqnr_db, expect);
        }

        #[test]
        fn metrics_are_consistent(
            values in prop::collection::vec(-10f32..10.0, 2..400),
            bits in 2u32..=16,
            method in prop::sample::select(Calibration::ALL.to_vec()),
            per_channel in any::<bool>(),
        ) {
            let n = values.len() / 2 * 2;
            let w = tensor(values[..n].to_vec(), 2, n / 2);
            let cfg = QuantConfig {
                bits,
                calibration: method,
                granularity: if per_channel { Granularity::PerChannel } else { Granularity::PerTensor },
                ..QuantConfig::default()
            };
            let a = analyze(&w, &cfg).unwrap();
            let m = &a.metrics;
            prop_assert!(m.mse >= 0.0 && (m.rmse * m.rmse - m.mse).abs() <= 1e-9 * m.mse.max(1.0));
            prop_assert!(m.mae <= m.rmse + 1e-12 && m.rmse <= m.max_abs_error + 1e-12);
            prop_assert!(m.levels_used >= 1 && m.levels_used <= m.levels_available);
            prop_assert!((0.0..=1.0).contains(&m.clip_rate));
            prop_assert!(m.cosine <= 1.0 + 1e-9);
            prop_assert_eq!(a.weight_hist.total() as usize, n);
            prop_assert_eq!((a.error_hist.rounding.total() + a.error_hist.clipped.total()) as usize, n);
            prop_assert_eq!(a.error_hist.clipped.total(), m.clipped);
        }
    }
}
