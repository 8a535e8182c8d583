//! The pipeline for any [`NumberFormat`]: each group quantized by the
//! format, then the same metrics, histograms and storage figures the `int`
//! pipeline gives. Groups are independent and their results are merged in
//! order, so no figure depends on the number of threads.

use std::borrow::Cow;

use serde::Serialize;

use super::{FormatKind, Grouping, NumberFormat, Quantized, TensorFacts};
use crate::compute::analysis::{
    Analysis, AnalysisError, ErrorHistogram, HIST_BINS, Layout, Storage, check_magnitude, groups, merge_counts,
    metrics_of, weight_counter, weight_tasks,
};
use crate::compute::calibrate::min_max;
use crate::compute::histogram::Histogram;
use crate::compute::kernel::Sums;
use crate::compute::parallel::{run_tasks, threads_for};
use crate::compute::quant::QuantConfig;
use crate::compute::watch::{Cancelled, Watch};
use crate::compute::weights::Weights;

/// What the panes and the report say of the format itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormatSummary {
    pub name: String,
    /// Its name where it is deployed (`GGML_TYPE_Q4_0`, …).
    pub ecosystem: String,
    /// Storage bits per weight, every scale and codebook counted.
    pub bpw: f64,
    pub code_bits: u32,
    /// Groups that share parameters, and the values in the first.
    pub groups: usize,
    pub group_size: usize,
    /// The levels of the first group, ascending.
    pub levels: Vec<f32>,
    /// The first group's parameters in the ecosystem's names.
    pub params: Vec<(String, f64)>,
}

/// The values of `w`, group after group, and where each group starts.
struct Groups<'a> {
    layout: Layout,
    values: Cow<'a, [f32]>,
    offsets: Vec<usize>,
}

impl<'a> Groups<'a> {
    fn of(w: &'a Weights, cfg: &QuantConfig, format: &dyn NumberFormat) -> Self {
        let layout = match format.grouping(cfg) {
            Grouping::Tensor => Layout::PerTensor,
            Grouping::Channel => Layout::channels_of(w, cfg.channel_axis),
            Grouping::Groups(size) => Layout::Groups { len: w.values.len(), size: size.max(1) },
        };
        let (values, offsets) = layout.channel_major(&w.values);
        Groups { layout, values, offsets }
    }

    fn span(&self, g: usize) -> std::ops::Range<usize> {
        self.offsets[g]..self.offsets[g + 1]
    }

    fn count(&self) -> usize {
        self.offsets.len() - 1
    }
}

/// A group with its non-finite values replaced as the format is promised:
/// NaN by 0, ±Inf by ± the group's largest finite |x|.
fn finite_group<'a>(xs: &'a [f32], all_finite: bool) -> Cow<'a, [f32]> {
    if all_finite || xs.iter().all(|x| x.is_finite()) {
        return Cow::Borrowed(xs);
    }
    let amax = xs.iter().filter(|x| x.is_finite()).fold(0f32, |m, x| m.max(x.abs()));
    Cow::Owned(
        xs.iter()
            .map(|&x| {
                if x.is_nan() {
                    0.0
                } else if x.is_infinite() {
                    amax.copysign(x)
                } else {
                    x
                }
            })
            .collect(),
    )
}

/// One task's share: x̂, codes and clip marks of its groups, in order.
struct Share {
    xhat: Vec<f32>,
    codes: Vec<u16>,
    clipped: Vec<bool>,
    sums: Sums,
    /// The smallest and largest error of a finite value.
    errors: (f32, f32),
}

fn quantize_groups(
    g: &Groups,
    w: &Weights,
    cfg: &QuantConfig,
    format: &dyn NumberFormat,
    facts: &TensorFacts,
    watch: &Watch,
) -> Result<Vec<Share>, Cancelled> {
    let spans: Vec<(usize, std::ops::Range<usize>)> = (0..g.count()).map(|i| (i, g.span(i))).collect();
    let tasks = groups(&spans);
    let all_finite = w.non_finite == 0;
    let (done, _) = run_tasks(
        &tasks,
        threads_for(g.values.len()),
        || (),
        |_, task| {
            watch.check().ok()?;
            let range = spans[task.start].1.start..spans[task.end - 1].1.end;
            let len = range.len();
            let mut share = Share {
                xhat: vec![0.0; len],
                codes: vec![0; len],
                clipped: vec![false; len],
                sums: Sums::default(),
                errors: (0.0, 0.0),
            };
            for (_, span) in &spans[task.clone()] {
                let local = span.start - range.start..span.end - range.start;
                let xs = finite_group(&g.values[span.clone()], all_finite);
                let out = Quantized {
                    xhat: &mut share.xhat[local.clone()],
                    codes: &mut share.codes[local.clone()],
                    clipped: &mut share.clipped[local],
                };
                format.quantize(cfg, facts, &xs, out);
            }
            for (i, &x) in g.values[range].iter().enumerate() {
                if x.is_finite() {
                    let (xh, clipped) = (share.xhat[i], share.clipped[i]);
                    share.sums.add(x, xh, clipped);
                    let e = x - xh;
                    share.errors = (share.errors.0.min(e), share.errors.1.max(e));
                }
            }
            Some(share)
        },
    );
    done.into_iter().collect::<Option<Vec<_>>>().ok_or(Cancelled)
}

/// The facts of the tensor a format may use, from its finite range.
fn facts_of(w: &Weights, range: (f32, f32)) -> TensorFacts {
    TensorFacts { rows: w.rows, cols: w.cols, amax: range.0.abs().max(range.1.abs()) }
}

fn checked(w: &Weights, cfg: &QuantConfig, range: (f32, f32)) -> Result<(), AnalysisError> {
    cfg.validate()?;
    cfg.format.format().check(cfg, Some(w.cols))?;
    check_magnitude(w, range)
}

/// The whole pipeline for a format through the trait; `weight_hist` as in
/// `analysis::analyze_with`.
pub fn analyze(
    w: &Weights,
    range: (f32, f32),
    weight_hist: Option<&Histogram>,
    cfg: &QuantConfig,
    watch: &Watch,
) -> Result<Analysis, AnalysisError> {
    checked(w, cfg, range)?;
    let format = cfg.format.format();
    let facts = facts_of(w, range);
    let g = Groups::of(w, cfg, format);
    let shares = quantize_groups(&g, w, cfg, format, &facts, watch)?;
    let code_bits = format.code_bits(cfg);
    let mut total = Sums::default();
    let mut seen = vec![false; 1usize << code_bits.min(16)];
    let (mut lo, mut hi) = (0f32, 0f32);
    for s in &shares {
        total.merge(&s.sums);
        s.codes.iter().for_each(|&c| seen[c as usize] = true);
        (lo, hi) = (lo.min(s.errors.0), hi.max(s.errors.1));
    }
    let error_hist = error_histogram(&g, &shares, (lo, hi));
    let levels_used = seen.iter().filter(|&&b| b).count() as u64;
    let weight_hist = match weight_hist {
        Some(h) => h.clone(),
        None => count_weights(w, range),
    };
    let bpw = format.bits_per_weight(cfg, w.rows, w.cols);
    let bytes_fp32 = w.values.len() as u64 * 4;
    let bytes_quantized = (w.values.len() as f64 * bpw / 8.0).ceil() as u64;
    Ok(Analysis {
        count: w.values.len(),
        non_finite: w.non_finite,
        data_range: range,
        qmin: 0,
        qmax: ((1u64 << code_bits) - 1) as i32,
        effective_bits: code_bits,
        channels: Vec::new(),
        metrics: metrics_of(&total, levels_used, 1u64 << code_bits),
        storage: Storage {
            bytes_fp32,
            bytes_quantized,
            compression: bytes_fp32 as f64 / bytes_quantized.max(1) as f64,
        },
        weight_hist,
        error_hist,
        format: summary(cfg.format, cfg, &g, &facts, w),
    })
}

fn count_weights(w: &Weights, range: (f32, f32)) -> Histogram {
    let tasks = weight_tasks(w.values.len());
    let count = |h: &mut Histogram, span: &std::ops::Range<usize>| h.count(&w.values[span.clone()], w.non_finite == 0);
    let (_, counted) = run_tasks(&tasks, threads_for(w.values.len()), || weight_counter(range), count);
    merge_counts(range, counted)
}

/// The error histogram over `[lo, hi]`, clipped values apart.
fn error_histogram(g: &Groups, shares: &[Share], (lo, hi): (f32, f32)) -> ErrorHistogram {
    let empty = Histogram::new(lo, hi, HIST_BINS);
    let mut errors = ErrorHistogram { rounding: empty.clone(), clipped: empty };
    let bin = errors.rounding.binner();
    let mut start = 0;
    for s in shares {
        let xs = &g.values[start..start + s.xhat.len()];
        start += s.xhat.len();
        for ((&x, &xh), &clipped) in xs.iter().zip(&s.xhat).zip(&s.clipped) {
            if x.is_finite() {
                let hist = if clipped { &mut errors.clipped } else { &mut errors.rounding };
                hist.counts[bin(x - xh)] += 1;
            }
        }
    }
    errors
}

fn summary(kind: FormatKind, cfg: &QuantConfig, g: &Groups, facts: &TensorFacts, w: &Weights) -> FormatSummary {
    let format = kind.format();
    let first = finite_group(&g.values[g.span(0)], w.non_finite == 0);
    FormatSummary {
        name: kind.name().to_string(),
        ecosystem: format.ecosystem(cfg),
        bpw: format.bits_per_weight(cfg, w.rows, w.cols),
        code_bits: format.code_bits(cfg),
        groups: g.count(),
        group_size: first.len(),
        levels: format.levels(cfg, facts, &first),
        params: format.params(cfg, facts, &first).into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    }
}

/// Every group's bytes in the format's own layout, group after group (row
/// after row of blocks): `None` when the format has none.
pub fn packed(w: &Weights, cfg: &QuantConfig) -> Result<Option<Vec<u8>>, AnalysisError> {
    let range = min_max(&w.values);
    checked(w, cfg, range)?;
    let format = cfg.format.format();
    let g = Groups::of(w, cfg, format);
    let facts = facts_of(w, range);
    let mut out = Vec::new();
    for i in 0..g.count() {
        let xs = finite_group(&g.values[g.span(i)], w.non_finite == 0);
        if !format.pack(cfg, &facts, &xs, &mut out) {
            return Ok(None);
        }
    }
    Ok(Some(out))
}

/// x̂ of every weight in row-major order, and each value's code: what
/// `quantize --dequantized` writes for a format of the trait.
pub fn dequantized(w: &Weights, cfg: &QuantConfig) -> Result<(Vec<f32>, Vec<u16>), AnalysisError> {
    let range = min_max(&w.values);
    checked(w, cfg, range)?;
    let format = cfg.format.format();
    let g = Groups::of(w, cfg, format);
    let shares = quantize_groups(&g, w, cfg, format, &facts_of(w, range), &Watch::NONE)?;
    let (mut xhat, mut codes) = (Vec::with_capacity(w.values.len()), Vec::with_capacity(w.values.len()));
    for s in shares {
        xhat.extend(s.xhat);
        codes.extend(s.codes);
    }
    Ok((g.layout.into_row_major(xhat), g.layout.into_row_major(codes)))
}
