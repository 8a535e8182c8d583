//! The Quantize pane's figures in the report: weights, parameters, metrics,
//! the pictures' numbers and the per-channel table.

use std::fmt::Write as _;

use serde::{Serialize, Serializer};

use crate::cli::shape_text;
use crate::compute::analysis::{self, Analysis, ErrorHistogram, MseCurve, Storage};
use crate::compute::diagnose::Finding;
use crate::compute::formats::FormatKind;
use crate::compute::histogram::Histogram;
use crate::compute::metrics::METRICS;
pub use crate::compute::metrics::MetricsJson as MetricsReport;
use crate::compute::quant::{Calibration, Granularity, QuantConfig, Rounding, Scheme};
use crate::format;

/// Channels the text report lists one by one; the rest are counted.
const LISTED_CHANNELS: usize = 20;

/// The weights as `report` prints them: the same figures as the pane.
pub use crate::compute::weights::WeightsSummary as WeightsReport;

#[derive(Debug, Clone, Serialize)]
pub struct QuantReport {
    /// The number format (`int` is the affine quantizer).
    pub format: FormatKind,
    /// Its name where it is deployed (`torch.per_tensor_affine`, `GGML_TYPE_Q4_0`, …).
    pub ecosystem: String,
    /// Storage bits per weight, every scale, zero point and codebook counted.
    pub bpw: f64,
    /// Groups of values that share parameters, and the values in the first.
    pub groups: usize,
    pub group_size: usize,
    /// The first group's parameters in the ecosystem's names.
    #[serde(serialize_with = "pairs_as_map")]
    pub format_params: Vec<(String, f64)>,
    /// `quant.bits` as set (manual mode ignores it: see `effective_bits`).
    pub bits: u32,
    pub effective_bits: u32,
    pub scheme: Scheme,
    /// The granularity in effect: manual mode is always per-tensor, so the
    /// per-channel arrays below always have one element per channel.
    pub granularity: Granularity,
    pub channel_axis: usize,
    pub rounding: Rounding,
    pub calibration: Calibration,
    pub qmin: i32,
    pub qmax: i32,
    /// One per channel (one element when per-tensor).
    pub scale: Vec<f32>,
    pub zero_point: Vec<i32>,
    /// Each channel's clip: the representable range of its grid,
    /// `[(qmin - zp) * scale, (qmax - zp) * scale]`; values beyond it clip.
    pub clip: Vec<[f32; 2]>,
    /// Each channel's calibrated range `[lo, hi]`: the data range the grid
    /// was fitted to (the manual clip in manual mode).
    pub range: Vec<[f32; 2]>,
    pub metrics: MetricsReport,
    /// The per-channel table's figures, one element per channel.
    pub per_channel: PerChannelReport,
    pub storage: Storage,
    /// The pictures' numbers: both histograms and the MSE-vs-clip curve.
    pub pictures: PicturesReport,
    /// Method name -> the `[lo, hi]` it would pick for the whole tensor.
    #[serde(serialize_with = "calibrations_as_map")]
    pub calibrations: Vec<(Calibration, [f32; 2])>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PerChannelReport {
    pub mse: Vec<f64>,
    /// null where a channel's error is exactly 0.
    pub sqnr_db: Vec<Option<f64>>,
    pub clip_rate: Vec<f64>,
    pub levels_used: Vec<u64>,
    pub levels_available: Vec<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PicturesReport {
    /// `counts` of equal bins over `[lo, hi]`, the weights' finite values.
    pub weight_histogram: Histogram,
    /// x - x_hat over the same bins, rounding error and clipped values apart.
    pub error_histogram: ErrorHistogram,
    /// `points` are [fraction of the min-max range, mse]; `optimum` and
    /// `current` are marked on the curve.
    pub mse_curve: MseCurve,
}

/// A list of (name, value) as a JSON object, in order.
fn pairs_as_map<S: Serializer>(v: &[(String, f64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(v.iter().map(|(k, x)| (k, x)))
}

/// Keeps `Calibration::ALL`'s order in the JSON object.
fn calibrations_as_map<S: Serializer>(v: &[(Calibration, [f32; 2])], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(v.iter().map(|(m, r)| (m.name(), r)))
}

/// The weights section of the text report.
pub(super) fn write_weights(out: &mut String, w: &WeightsReport) {
    let tensor = w.tensor.as_deref().map(|t| format!(" (tensor {t})")).unwrap_or_default();
    let _ = writeln!(out, "weights            {}{tensor}", w.source);
    let _ = writeln!(out, "  shape            {} {}", shape_text(&w.shape), w.dtype);
    let _ = writeln!(out, "  values           {} ({} non-finite)", w.count, w.non_finite);
    let _ = writeln!(out, "  range            {}", format::range(w.min, w.max));
    let _ = writeln!(out, "  stats            mean {}, std {}", format::num(w.mean), format::num(w.std));
}

impl QuantReport {
    pub(super) fn new(
        cfg: &QuantConfig,
        a: &Analysis,
        curve: MseCurve,
        calibrations: Vec<(Calibration, (f32, f32))>,
    ) -> Self {
        let granularity = match cfg.granularity {
            Granularity::PerGroup if !cfg.format.is_int() || cfg.scheme != Scheme::Manual => Granularity::PerGroup,
            _ if cfg.per_channel() => Granularity::PerChannel,
            _ => Granularity::PerTensor,
        };
        let f = &a.format;
        QuantReport {
            format: cfg.format,
            ecosystem: f.ecosystem.clone(),
            bpw: f.bpw,
            groups: f.groups,
            group_size: f.group_size,
            format_params: f.params.clone(),
            bits: cfg.bits,
            effective_bits: a.effective_bits,
            scheme: cfg.scheme,
            granularity,
            channel_axis: cfg.channel_axis,
            rounding: cfg.rounding,
            calibration: cfg.calibration,
            qmin: a.qmin,
            qmax: a.qmax,
            scale: a.channels.iter().map(|c| c.params.scale).collect(),
            zero_point: a.channels.iter().map(|c| c.params.zero_point).collect(),
            clip: a.channels.iter().map(|c| [c.clip().0, c.clip().1]).collect(),
            range: a.channels.iter().map(|c| [c.range.0, c.range.1]).collect(),
            metrics: MetricsReport(a.metrics.clone()),
            per_channel: PerChannelReport {
                mse: a.channels.iter().map(|c| c.metrics.mse).collect(),
                sqnr_db: a.channels.iter().map(|c| finite(c.metrics.sqnr_db)).collect(),
                clip_rate: a.channels.iter().map(|c| c.metrics.clip_rate).collect(),
                levels_used: a.channels.iter().map(|c| c.metrics.levels_used).collect(),
                levels_available: a.channels.iter().map(|c| c.metrics.levels_available).collect(),
            },
            storage: a.storage.clone(),
            pictures: PicturesReport {
                weight_histogram: a.weight_hist.clone(),
                error_histogram: a.error_hist.clone(),
                mse_curve: curve,
            },
            calibrations: calibrations.into_iter().map(|(m, (lo, hi))| (m, [lo, hi])).collect(),
        }
    }

    pub(super) fn write_text(&self, out: &mut String) {
        if !self.format.is_int() || self.granularity == Granularity::PerGroup {
            return self.write_format_text(out);
        }
        // Manual mode sets scale and clip by hand: bits and calibration do not apply.
        let what = match self.scheme {
            Scheme::Manual => format!("manual {}, {} rounding", self.granularity, self.rounding),
            s => format!(
                "{s} {}-bit {}, {} rounding, {} calibration",
                self.bits, self.granularity, self.rounding, self.calibration
            ),
        };
        let _ = writeln!(out, "\nquant              {what}");
        let _ =
            writeln!(out, "  codes            [{}, {}], effective bits {}", self.qmin, self.qmax, self.effective_bits);
        if self.scale.len() == 1 {
            let _ = writeln!(out, "  scale            {}", format::num(self.scale[0] as f64));
            let _ = writeln!(out, "  zero point       {}", self.zero_point[0]);
            let _ =
                writeln!(out, "  range            {} (calibrated)", format::range(self.range[0][0], self.range[0][1]));
            let _ = writeln!(out, "  clip             {} (the grid)", format::range(self.clip[0][0], self.clip[0][1]));
        } else {
            self.write_channels(out);
        }
        write_metrics(out, &self.metrics.0);
        write_storage(out, &self.storage);
        self.write_pictures(out);
        self.write_calibrations(out);
    }

    /// A format of the trait: what it is, its size and its first group.
    fn write_format_text(&self, out: &mut String) {
        let _ = writeln!(out, "\nquant              {} ({})", self.format, self.format.format().summary());
        let _ = writeln!(out, "  deployed as      {}", self.ecosystem);
        let _ = writeln!(out, "  bits per weight  {}", format::num(self.bpw));
        let _ = writeln!(out, "  groups           {} of {} values", self.groups, self.group_size);
        let params: Vec<String> =
            self.format_params.iter().map(|(k, v)| format!("{k} = {}", format::num(*v))).collect();
        let _ = writeln!(out, "  first group      {}", params.join(", "));
        write_metrics(out, &self.metrics.0);
        write_storage(out, &self.storage);
        self.write_pictures(out);
    }

    /// What the pictures' titles and legends say.
    fn write_pictures(&self, out: &mut String) {
        let (w, e, c) = (&self.pictures.weight_histogram, &self.pictures.error_histogram, &self.pictures.mse_curve);
        let _ = writeln!(out, "\npictures");
        let bins = |h: &Histogram| format!("{} bins over {}", h.counts.len(), format::range(h.lo, h.hi));
        let _ = writeln!(out, "  weights          {}, tallest {}", bins(w), w.max_count());
        let (rounding, clipped) = (e.rounding.total(), e.clipped.total());
        let _ = writeln!(out, "  error            {}: rounding {rounding}, clipped {clipped}", bins(&e.rounding));
        if c.points.is_empty() {
            let _ = writeln!(out, "  mse vs clip      none: each group is scaled to its own values, no clip to move");
            return;
        }
        let _ = writeln!(
            out,
            "  mse vs clip      now {:.2} x min-max (mse {}), best {:.2} (mse {})",
            c.current.0,
            format::num(c.current.1),
            c.optimum.0,
            format::num(c.optimum.1)
        );
    }

    /// A summary of every channel, then the first `LISTED_CHANNELS` of them.
    fn write_channels(&self, out: &mut String) {
        let axis = if self.channel_axis == 0 { "rows" } else { "columns" };
        let (smin, smax) = min_max(self.scale.iter().map(|&s| s as f64));
        let (zmin, zmax) = min_max(self.zero_point.iter().map(|&z| z as f64));
        let _ = writeln!(out, "  channels         {} ({axis}, axis {})", self.scale.len(), self.channel_axis);
        let _ = writeln!(out, "  scale            {} .. {}", format::num(smin), format::num(smax));
        let _ = writeln!(out, "  zero point       {zmin} .. {zmax}");
        let _ = writeln!(
            out,
            "  {:>7}  {:>10}  {:>10}  {:<22}  {:>10}  {:>9}  {:>7}  levels",
            "channel", "scale", "zero point", "range (calibrated)", "mse", "sqnr", "clipped"
        );
        let pc = &self.per_channel;
        for i in 0..self.scale.len().min(LISTED_CHANNELS) {
            let (c, sqnr) = (self.range[i], pc.sqnr_db[i].unwrap_or(f64::INFINITY));
            let _ = writeln!(
                out,
                "  {i:>7}  {:>10}  {:>10}  {:<22}  {:>10}  {:>9}  {:>7}  {} of {}",
                format::num(self.scale[i] as f64),
                self.zero_point[i],
                format::range(c[0], c[1]),
                format::num(pc.mse[i]),
                format::db(sqnr),
                format::pct(pc.clip_rate[i]),
                pc.levels_used[i],
                pc.levels_available[i]
            );
        }
        if self.scale.len() > LISTED_CHANNELS {
            let _ = writeln!(out, "  ... {} more", self.scale.len() - LISTED_CHANNELS);
        }
    }

    fn write_calibrations(&self, out: &mut String) {
        let _ = writeln!(out, "\ncalibrations       whole tensor, * = in use");
        for (m, [lo, hi]) in &self.calibrations {
            let mark = if *m == self.calibration && self.scheme != Scheme::Manual { '*' } else { ' ' };
            let _ = writeln!(out, "  {mark} {:<14} {}", m.name(), format::range(*lo, *hi));
        }
    }
}

/// The metrics section of the text report: every figure of the table with a text.
fn write_metrics(out: &mut String, m: &analysis::Metrics) {
    let _ = writeln!(out, "\nmetrics");
    for r in METRICS {
        if let Some(text) = r.text {
            let _ = writeln!(out, "  {:<16} {}", r.label, text(m));
        }
    }
}

fn write_storage(out: &mut String, s: &Storage) {
    let _ = writeln!(
        out,
        "  storage          {} fp32 -> {} quantized ({}x)",
        format::bytes(s.bytes_fp32),
        format::bytes(s.bytes_quantized),
        format::num(s.compression)
    );
}

pub(super) fn write_diagnostics(out: &mut String, findings: &[Finding]) {
    if findings.is_empty() {
        let _ = writeln!(out, "\ndiagnostics        none");
        return;
    }
    let _ = writeln!(out, "\ndiagnostics");
    for f in findings {
        let _ = writeln!(out, "  {}: {}", f.severity.name(), f.message);
    }
}

/// JSON has no infinity: an infinite figure (an SQNR with no error) is null.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}
