//! The Quantize pane's pipeline: calibrate, quantize, measure, picture.

use std::borrow::Cow;

use serde::Serialize;

use super::calibrate::{Target, calibrate, min_max};
pub use super::curve::{MseCurve, mse_curve};
use super::formats::{self, FormatSummary};
use super::histogram::Histogram;
use super::kernel::{ErrorBins, Output, Sums, Tally, clamp_code, quantize_run};
use super::parallel::{run_tasks, threads_for};
use super::quant::{Calibration, QParams, QuantConfig, Rounder, Rounding, Scheme, bit_params, manual_params};
use super::watch::{Cancelled, Watch};
use super::weights::Weights;

pub const HIST_BINS: usize = 160;

/// The largest |x| the pipeline takes: 2^59. Errors are summed in float32
/// lanes of 128 per block, and 128 * (2 * 2^59)^2 stays below f32::MAX, so
/// no square overflows; weights of real models are many orders smaller.
pub const MAX_MAGNITUDE: f32 = (1u64 << 59) as f32;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalysisError {
    #[error("all {0} values are NaN or infinite: there is nothing to calibrate or measure")]
    NoFiniteValues(usize),
    #[error(
        "the weights reach {0:e} in magnitude, beyond the {MAX_MAGNITUDE:e} (2^59) that float32 error sums can square without overflowing; divide the tensor by a power of two first (the error figures scale with it)"
    )]
    TooLarge(f32),
    #[error("{0}")]
    Invalid(#[from] super::quant::InvalidSetting),
    #[error("{0}")]
    Cancelled(#[from] Cancelled),
}

pub use super::layout::Layout;

pub use super::metrics::Metrics;
pub(crate) use super::metrics::metrics_of;

/// One channel's calibrated range, parameters and error figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Channel {
    /// The data range calibration chose (the manual clip in manual mode):
    /// what the grid is fitted to. The grid itself spans `clip()`.
    pub range: (f32, f32),
    /// Min and max of the channel's finite values.
    pub data_range: (f32, f32),
    pub params: QParams,
    pub metrics: Metrics,
}

impl Channel {
    /// The representable range of the grid, `[(qmin - zp) * s, (qmax - zp) * s]`:
    /// values beyond it are clipped.
    pub fn clip(&self) -> (f32, f32) {
        self.params.representable()
    }
}

/// The error histogram, with clipped values kept apart from rounding error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorHistogram {
    pub rounding: Histogram,
    pub clipped: Histogram,
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
    /// The format's own figures: name, bits per weight, levels, parameters.
    pub format: FormatSummary,
}

/// What calibration chose for one channel, and the channel's data range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelChoice {
    /// The calibrated range (the manual clip in manual mode).
    pub clip: (f32, f32),
    pub params: QParams,
    /// Min and max of the channel's finite values ((0, 0) if it has none).
    pub range: (f32, f32),
}

/// The weights channel after channel, as calibration and the kernel see them.
pub(super) struct Channels<'a> {
    layout: Layout,
    pub(super) values: Cow<'a, [f32]>,
    offsets: Vec<usize>,
    all_finite: bool,
}

impl<'a> Channels<'a> {
    pub(super) fn of(w: &'a Weights, cfg: &QuantConfig) -> Self {
        let layout = Layout::of(w, cfg);
        let (values, offsets) = layout.channel_major(&w.values);
        Channels { layout, values, offsets, all_finite: w.non_finite == 0 }
    }

    fn spans(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        self.offsets.windows(2).map(|s| s[0]..s[1])
    }

    /// Every channel cut into runs of at most `RUN` values: (channel, span).
    pub(super) fn runs(&self) -> Vec<(usize, std::ops::Range<usize>)> {
        self.spans()
            .enumerate()
            .flat_map(|(c, span)| {
                (span.start..span.end.max(span.start + 1)).step_by(RUN).map(move |s| (c, s..(s + RUN).min(span.end)))
            })
            .collect()
    }

    /// Each channel's finite values, borrowed when there is nothing to drop.
    pub(super) fn finite(&self, span: std::ops::Range<usize>, scratch: &mut Vec<f32>) -> Cow<'_, [f32]> {
        let values = &self.values[span];
        if self.all_finite {
            return Cow::Borrowed(values);
        }
        scratch.clear();
        scratch.extend(values.iter().filter(|x| x.is_finite()));
        Cow::Owned(scratch.clone())
    }
}

/// The calibrated range, parameters and data range of each channel.
pub fn channel_params(w: &Weights, cfg: &QuantConfig) -> Result<Vec<ChannelChoice>, AnalysisError> {
    choose(&Channels::of(w, cfg), w, cfg, min_max(&w.values), &Watch::NONE)
}

/// Refuses what the pipeline cannot measure: no finite value, or values
/// whose errors would overflow float32 sums.
pub(crate) fn check_magnitude(w: &Weights, range: (f32, f32)) -> Result<(), AnalysisError> {
    if w.non_finite == w.values.len() {
        return Err(AnalysisError::NoFiniteValues(w.values.len()));
    }
    let amax = range.0.abs().max(range.1.abs());
    if amax > MAX_MAGNITUDE { Err(AnalysisError::TooLarge(amax)) } else { Ok(()) }
}

/// Channels between two looks at `watch`: a look costs an atomic load.
const CHANNELS_PER_CHECK: usize = 64;

/// `range`: the whole tensor's finite min and max.
fn choose(
    ch: &Channels,
    w: &Weights,
    cfg: &QuantConfig,
    range: (f32, f32),
    watch: &Watch,
) -> Result<Vec<ChannelChoice>, AnalysisError> {
    cfg.validate()?;
    check_magnitude(w, range)?;
    let manual = (cfg.scheme == Scheme::Manual).then(|| cfg.clip.map(|v| v as f32));
    let manual_params = manual.map(|[lo, hi]| manual_params(cfg.scale as f32, lo, hi)).transpose()?;
    let target = Target::of(cfg, cfg.bits);
    let channels = ch.offsets.len() - 1;
    let one = |c: usize, (scratch, filtered): &mut (Vec<f32>, Vec<f32>)| {
        let values = ch.finite(ch.offsets[c]..ch.offsets[c + 1], filtered);
        // A channel that is all NaN still needs parameters; zero is as good as any.
        let range = match ch.layout {
            Layout::PerTensor => range,
            _ if values.is_empty() => (0.0, 0.0),
            _ => min_max(&values),
        };
        match (manual, manual_params) {
            (Some([lo, hi]), Some(params)) => ChannelChoice { clip: (lo, hi), params, range },
            _ => {
                let clip = match cfg.calibration {
                    _ if values.is_empty() => (0.0, 0.0),
                    Calibration::MinMax => range,
                    method => calibrate(&values, method, &target, scratch),
                };
                ChannelChoice { clip, params: bit_params(cfg.scheme, cfg.bits, clip.0, clip.1), range }
            }
        }
    };
    let slow = manual.is_none() && cfg.calibration != Calibration::MinMax;
    if !slow {
        let mut scratch = (Vec::new(), Vec::new());
        return Ok((0..channels).map(|c| one(c, &mut scratch)).collect());
    }
    // A slow calibration: chunks of channels on every core, each chunk
    // looking at `watch` first. Channels are independent, so the answer does
    // not depend on which thread calibrated which.
    let chunks: Vec<std::ops::Range<usize>> =
        (0..channels).step_by(CHANNELS_PER_CHECK).map(|s| s..(s + CHANNELS_PER_CHECK).min(channels)).collect();
    let started = std::sync::atomic::AtomicUsize::new(0);
    let threads = if channels > 1 { threads_for(ch.values.len()) } else { 1 };
    let (done, _) = run_tasks(&chunks, threads, Default::default, |scratch, chunk| {
        watch.check().ok()?;
        watch.progress(started.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed), channels);
        Some(chunk.clone().map(|c| one(c, scratch)).collect::<Vec<_>>())
    });
    let chunks: Vec<Vec<ChannelChoice>> = done.into_iter().collect::<Option<_>>().ok_or(Cancelled)?;
    Ok(chunks.into_iter().flatten().collect())
}

/// The integer codes of every weight, in row-major order: what the
/// `quantize` command writes, from the same loop the pane measures.
pub fn quantize_codes(w: &Weights, cfg: &QuantConfig, params: &[QParams]) -> Vec<i32> {
    let ch = Channels::of(w, cfg);
    let mut codes = vec![0i32; w.values.len()];
    let mut rounder = Rounder::new(cfg.rounding, cfg.seed);
    for (span, p) in ch.spans().zip(params) {
        let out = &mut codes[span.clone()];
        quantize_run(&ch.values[span], p, &mut rounder, ch.all_finite, Output::Codes(out));
        out.iter_mut().for_each(|c| *c = clamp_code(*c, p));
    }
    ch.layout.into_row_major(codes)
}

/// What depends on the weights alone, computed once per tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightStats {
    pub range: (f32, f32),
    pub hist: Histogram,
}

pub fn weight_stats(w: &Weights) -> WeightStats {
    let range = min_max(&w.values);
    let tasks = weight_tasks(w.values.len());
    let count =
        |hist: &mut Histogram, span: &std::ops::Range<usize>| hist.count(&w.values[span.clone()], w.non_finite == 0);
    let (_, counted) = run_tasks(&tasks, threads_for(w.values.len()), || weight_counter(range), count);
    WeightStats { range, hist: merge_counts(range, counted) }
}

/// The whole pipeline for one setting of the quantizer, from the raw weights.
pub fn analyze(w: &Weights, cfg: &QuantConfig) -> Result<Analysis, AnalysisError> {
    pipeline(w, min_max(&w.values), None, cfg, &Watch::NONE)
}

/// The pipeline with the weights' own statistics already known (the worker
/// keeps them while only quantizer settings change); `watch` can stop it
/// between channels of a slow calibration.
pub fn analyze_with(
    w: &Weights,
    stats: &WeightStats,
    cfg: &QuantConfig,
    watch: &Watch,
) -> Result<Analysis, AnalysisError> {
    pipeline(w, stats.range, Some(&stats.hist), cfg, watch)
}

/// An analysis's error sums and size alone: what the Formats table, `scan`
/// and the `--against` plan keep of each setting. The sums are the ones
/// [`analyze_with`] turns into its metrics, bit for bit; no histogram,
/// level count or format summary is made for them.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub sums: Sums,
    pub storage: Storage,
    /// Storage bits per weight, every scale and codebook counted.
    pub bpw: f64,
}

/// [`analyze_with`]'s sums and storage, without the rest of its work.
pub fn measure_with(
    w: &Weights,
    stats: &WeightStats,
    cfg: &QuantConfig,
    watch: &Watch,
) -> Result<Measured, AnalysisError> {
    if !uses_affine_kernel(cfg) {
        return formats::run::measure(w, stats.range, cfg, watch);
    }
    let ch = Channels::of(w, cfg);
    let chosen = choose(&ch, w, cfg, stats.range, watch)?;
    let params: Vec<QParams> = chosen.iter().map(|c| c.params).collect();
    let threads = if cfg.rounding == Rounding::Stochastic { 1 } else { threads_for(ch.values.len()) };
    let quantized = quantize_all(&ch, &params, cfg, None, None, threads);
    let effective_bits = params.iter().map(QParams::effective_bits).max().unwrap_or(0);
    Ok(Measured {
        sums: total_of(&quantized.sums),
        storage: storage(w.values.len(), effective_bits, params.len()),
        bpw: cfg.format.format().bits_per_weight(cfg, w.rows, w.cols),
    })
}

/// The channels' sums merged in channel order.
fn total_of(sums: &[Sums]) -> Sums {
    let mut total = Sums::default();
    sums.iter().for_each(|s| total.merge(s));
    total
}

/// `weight_hist`: the weights' histogram if known, else it is counted
/// along with the rest.
fn pipeline(
    w: &Weights,
    range: (f32, f32),
    weight_hist: Option<&Histogram>,
    cfg: &QuantConfig,
    watch: &Watch,
) -> Result<Analysis, AnalysisError> {
    if !uses_affine_kernel(cfg) {
        return formats::run::analyze(w, range, weight_hist, cfg, watch);
    }
    let ch = Channels::of(w, cfg);
    let chosen = choose(&ch, w, cfg, range, watch)?;
    let params: Vec<QParams> = chosen.iter().map(|c| c.params).collect();
    let qmin = params.iter().map(|p| p.qmin).min().unwrap_or(0);
    let qmax = params.iter().map(|p| p.qmax).max().unwrap_or(0);
    let effective_bits = params.iter().map(QParams::effective_bits).max().unwrap_or(0);
    let bins = error_bins(&chosen, cfg.rounding);
    // Stochastic rounding draws one stream in order: it stays on one thread.
    let threads = if cfg.rounding == Rounding::Stochastic { 1 } else { threads_for(ch.values.len()) };
    let quantized = quantize_all(&ch, &params, cfg, Some(bins), weight_hist.is_none().then_some(range), threads);
    let weight_hist = weight_hist.cloned().unwrap_or_else(|| merge_counts(range, quantized.weights));
    let (sums, levels, levels_total, error_hist) =
        (quantized.sums, quantized.levels, quantized.levels_total, quantized.errors.unwrap_or_else(|| no_errors(bins)));
    let total = total_of(&sums);
    let channels: Vec<Channel> = chosen
        .iter()
        .zip(&sums)
        .zip(&levels)
        .map(|((c, s), &used)| Channel {
            range: c.clip,
            data_range: c.range,
            params: c.params,
            metrics: metrics_of(s, used, c.params.levels() as u64),
        })
        .collect();
    let metrics = metrics_of(&total, levels_total, (qmax as i64 - qmin as i64 + 1) as u64);
    let format = int_summary(w, cfg, &channels);
    Ok(Analysis {
        count: w.values.len(),
        non_finite: w.non_finite,
        data_range: range,
        qmin,
        qmax,
        effective_bits,
        storage: storage(w.values.len(), effective_bits, channels.len()),
        channels,
        metrics,
        weight_hist,
        error_hist,
        format,
    })
}

/// Whether `cfg` runs in the affine kernel: `int` per tensor or per channel.
pub fn uses_affine_kernel(cfg: &QuantConfig) -> bool {
    cfg.format.is_int() && cfg.format.format().grouping(cfg) != formats::Grouping::Groups(cfg.group_size)
}

/// The format figures of an `int` analysis, from its channels.
fn int_summary(w: &Weights, cfg: &QuantConfig, channels: &[Channel]) -> FormatSummary {
    let format = cfg.format.format();
    let first = channels.first().map(|c| c.params);
    FormatSummary {
        name: cfg.format.name().to_string(),
        ecosystem: format.ecosystem(cfg),
        bpw: format.bits_per_weight(cfg, w.rows, w.cols),
        code_bits: first.map_or(cfg.bits, |p| p.effective_bits()),
        groups: channels.len(),
        group_size: w.values.len() / channels.len().max(1),
        levels: first.map_or_else(Vec::new, |p| {
            if p.levels() <= 1 << 16 { (p.qmin..=p.qmax).map(|q| p.dequantize(q)).collect() } else { Vec::new() }
        }),
        params: first.map_or_else(Vec::new, |p| {
            vec![("scale".to_string(), p.scale as f64), ("zero_point".to_string(), p.zero_point as f64)]
        }),
    }
}

/// Runs longer than this are cut, so that threads can share a channel.
/// The cut does not depend on the number of threads: neither do the sums.
const RUN: usize = 1 << 15;
/// Every channel quantized: its sums and the number of codes it uses, the
/// codes used over all channels, the error histogram of all of them, and
/// the weights' histograms (one per thread) when asked for.
#[derive(Debug, PartialEq)]
struct QuantizedAll {
    sums: Vec<Sums>,
    levels: Vec<u64>,
    levels_total: u64,
    /// Counted when the errors' bins were given.
    errors: Option<ErrorHistogram>,
    weights: Vec<Histogram>,
}

/// A share of the pipeline's work, for whichever thread is free.
enum Task {
    /// Runs `runs[i..j]` of the quantization.
    Quantize(std::ops::Range<usize>),
    /// Values `[i..j]`, into the weights' histogram.
    Weights(std::ops::Range<usize>),
}

enum Done {
    /// (channel, sums, end of its codes in `codes`) of each run, and the
    /// distinct codes of each run one after the other.
    Quantized {
        runs: Vec<(usize, Sums, usize)>,
        codes: Vec<u32>,
    },
    Counted,
}

/// What a thread keeps from task to task.
struct ThreadState {
    /// The error histogram and codes seen, when they are wanted.
    tally: Option<Tally>,
    rounder: Rounder,
    weights: Histogram,
}

/// `bins`: count the errors there and the codes used (else the sums alone);
/// `count_weights`: count the weights' histogram over `range` too.
fn quantize_all(
    ch: &Channels,
    params: &[QParams],
    cfg: &QuantConfig,
    bins: Option<ErrorBins>,
    count_weights: Option<(f32, f32)>,
    threads: usize,
) -> QuantizedAll {
    let runs = ch.runs();
    // The longest tasks first, so that the short ones even out the end.
    let mut tasks: Vec<Task> = groups(&runs).into_iter().map(Task::Quantize).collect();
    if count_weights.is_some() {
        tasks.extend(weight_tasks(ch.values.len()).into_iter().map(Task::Weights));
    }
    let new_state = || ThreadState {
        tally: bins.map(Tally::new),
        rounder: Rounder::new(cfg.rounding, cfg.seed),
        weights: weight_counter(count_weights.unwrap_or_default()),
    };
    let (done, states) = run_tasks(&tasks, threads, new_state, |state, task| match task {
        Task::Quantize(group) => {
            let mut codes = Vec::new();
            let runs = runs[group.clone()]
                .iter()
                .map(|(c, span)| {
                    let values = &ch.values[span.clone()];
                    let out = state.tally.as_mut().map_or(Output::None, Output::Tally);
                    let sums = quantize_run(values, &params[*c], &mut state.rounder, ch.all_finite, out);
                    if let Some(tally) = &mut state.tally {
                        tally.take_codes(&mut codes);
                    }
                    (*c, sums, codes.len())
                })
                .collect();
            Done::Quantized { runs, codes }
        }
        Task::Weights(span) => {
            state.weights.count(&ch.values[span.clone()], ch.all_finite);
            Done::Counted
        }
    });
    let mut quantized = merge_runs(&done, params, bins);
    for state in states {
        if let (Some(tally), Some(errors)) = (&state.tally, &mut quantized.errors) {
            let (rounding, clipped) = tally.counts();
            errors.rounding.add_counts(&rounding);
            errors.clipped.add_counts(&clipped);
        }
        quantized.weights.extend(count_weights.map(|_| state.weights));
    }
    quantized
}

/// The runs' results put together in run order, so that the sums are the
/// same whatever the number of threads.
fn merge_runs(done: &[Done], params: &[QParams], bins: Option<ErrorBins>) -> QuantizedAll {
    let channels = params.len();
    let qmin = params.iter().map(|p| p.qmin).min().unwrap_or(0);
    let qmax = params.iter().map(|p| p.qmax).max().unwrap_or(0);
    let mut seen = vec![false; (qmax as i64 - qmin as i64 + 1) as usize];
    let mut sums = vec![Sums::default(); channels];
    let mut levels = vec![0u64; channels];
    let quantized =
        || done.iter().filter_map(|d| if let Done::Quantized { runs, codes } = d { Some((runs, codes)) } else { None });
    let mut runs_of = vec![0u32; channels];
    quantized().flat_map(|(runs, _)| runs).for_each(|&(c, _, _)| runs_of[c] += 1);
    // The codes seen by channels cut into several runs, which may share codes.
    let mut split: Vec<Vec<bool>> = vec![Vec::new(); channels];
    for (runs, codes) in quantized() {
        let mut start = 0;
        for &(c, ref s, end) in runs {
            sums[c].merge(s);
            let run_codes = &codes[start..end];
            start = end;
            if runs_of[c] > 1 {
                let marks = &mut split[c];
                marks.resize(params[c].levels() as usize, false);
                run_codes.iter().for_each(|&k| levels[c] += !std::mem::replace(&mut marks[k as usize], true) as u64);
            } else {
                levels[c] = run_codes.len() as u64;
            }
            let offset = (params[c].qmin as i64 - qmin as i64) as usize;
            run_codes.iter().for_each(|&k| seen[offset + k as usize] = true);
        }
    }
    let levels_total = seen.iter().filter(|&&b| b).count() as u64;
    QuantizedAll { sums, levels, levels_total, errors: bins.map(no_errors), weights: Vec::new() }
}

/// An error histogram over `bins` with nothing counted yet.
fn no_errors(bins: ErrorBins) -> ErrorHistogram {
    let hi = bins.lo + bins.bins as f32 / bins.factor;
    let empty = Histogram::new(bins.lo, hi, bins.bins as usize);
    ErrorHistogram { rounding: empty.clone(), clipped: empty }
}

/// The weights cut into shares for the histogram.
pub(crate) fn weight_tasks(len: usize) -> Vec<std::ops::Range<usize>> {
    (0..len).step_by(2 * RUN).map(|s| s..(s + 2 * RUN).min(len)).collect()
}

/// An empty weights' histogram over `range`.
pub(crate) fn weight_counter(range: (f32, f32)) -> Histogram {
    Histogram::new(range.0, range.1, HIST_BINS)
}

/// Threads' histograms of the weights, added up.
pub(crate) fn merge_counts(range: (f32, f32), parts: Vec<Histogram>) -> Histogram {
    let mut total = weight_counter(range);
    parts.iter().for_each(|h| total.add_counts(&h.counts));
    total
}

/// Consecutive runs gathered into tasks of at least `RUN` values.
pub(crate) fn groups(runs: &[(usize, std::ops::Range<usize>)]) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let (mut start, mut len) = (0, 0);
    for (i, run) in runs.iter().enumerate() {
        len += run.1.len();
        if len >= RUN || i + 1 == runs.len() {
            groups.push(start..i + 1);
            (start, len) = (i + 1, 0);
        }
    }
    groups
}

/// Bins that hold every error before it is known: rounding errors stay
/// within a step, clipped ones within the data beyond the representable range.
fn error_bins(chosen: &[ChannelChoice], rounding: Rounding) -> ErrorBins {
    let (mut lo, mut hi) = (0f32, 0f32);
    for c in chosen {
        let s = c.params.scale;
        let (below, above) = match rounding {
            Rounding::HalfEven | Rounding::HalfAway => (s / 2.0, s / 2.0),
            Rounding::Floor => (0.0, s),
            Rounding::Trunc | Rounding::Stochastic => (s, s),
        };
        let (rlo, rhi) = c.params.representable();
        lo = lo.min(-below).min(c.range.0 - rlo);
        hi = hi.max(above).max(c.range.1 - rhi);
    }
    let hist = Histogram::new(lo, hi, HIST_BINS);
    ErrorBins { lo: hist.lo, factor: HIST_BINS as f32 / (hist.hi - hist.lo), bins: HIST_BINS as u32 }
}

/// Bit-packed codes plus a float32 scale and an int32 zero point per channel.
pub fn storage(count: usize, bits: u32, channels: usize) -> Storage {
    let bytes_fp32 = count as u64 * 4;
    let bytes_quantized = (count as u64 * bits as u64).div_ceil(8) + channels as u64 * 8;
    Storage { bytes_fp32, bytes_quantized, compression: bytes_fp32 as f64 / bytes_quantized as f64 }
}

/// The clip range every calibration method would pick for the whole tensor,
/// shown beside the chosen one.
pub fn alternatives(w: &Weights, cfg: &QuantConfig, manual_bits: u32) -> Vec<(Calibration, (f32, f32))> {
    let (finite, _) = Layout::PerTensor.finite_channels(&w.values, w.non_finite);
    // Calibration picks the clip range of the affine grid: other formats have none.
    if finite.is_empty() || !cfg.format.is_int() {
        return Vec::new();
    }
    let target = Target::of(cfg, manual_bits);
    // Each method is a task, the costliest first, so two cores finish
    // together; each is computed alone, so the threads change no bit.
    let costliest_first: Vec<Calibration> = COST_ORDER.iter().rev().copied().collect();
    let (found, _) = run_tasks(&costliest_first, threads_for(finite.len()), Vec::new, |scratch, &m| {
        (m, calibrate(&finite, m, &target, scratch))
    });
    Calibration::ALL.iter().map(|m| *found.iter().find(|(f, _)| f == m).expect("every method ran")).collect()
}

/// The calibrations from the cheapest to the costliest on a large tensor
/// (every method is in it: `alternatives_cover_every_method`).
const COST_ORDER: [Calibration; 5] =
    [Calibration::MinMax, Calibration::Sigma, Calibration::Entropy, Calibration::Percentile, Calibration::Mse];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::quant::Granularity;
    use crate::compute::weights::{Distribution, SyntheticSpec, synthetic};
    use proptest::prelude::*;

    fn tensor(values: Vec<f32>, rows: usize, cols: usize) -> Weights {
        Weights::in_memory(values, rows, cols)
    }

    fn seed_weights_of(rows: usize, cols: usize) -> Weights {
        let spec =
            SyntheticSpec { distribution: Distribution::Normal, rows, cols, seed: 42, dof: 5.0, outlier_fraction: 0.0 };
        synthetic(&spec).unwrap()
    }

    fn seed_weights() -> Weights {
        seed_weights_of(1000, 10)
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
        assert_eq!(a.channels.iter().map(|c| c.range).collect::<Vec<_>>(), vec![(-1.0, 1.0), (-2.0, 8.0)]);
        assert_eq!(a.channels[0].metrics.count, 3);
    }

    #[test]
    fn non_finite_values_are_left_out() {
        let w = tensor(vec![f32::NAN, -1.0, f32::INFINITY, 1.0, 0.5, f32::NEG_INFINITY], 2, 3);
        let a = analyze(&w, &QuantConfig::default()).unwrap();
        assert_eq!(a.non_finite, 3);
        assert_eq!(a.metrics.count, 3);
        assert_eq!(a.channels[0].range, (-1.0, 1.0));
        assert!(a.metrics.mse.is_finite());
        assert_eq!(a.weight_hist.total(), 3);
        assert_eq!(a.error_hist.rounding.total() + a.error_hist.clipped.total(), 3);
        // -1, 0.5 and 1 fall on three codes; NaN (the zero point) and the
        // infinities (the ends) are not counted.
        assert_eq!(a.metrics.levels_used, 3);
    }

    #[test]
    fn sixteen_bit_levels_are_counted_to_the_last() {
        // 65,536 levels, every one hit, clipping at both ends.
        let values: Vec<f32> = (0..70_000).map(|i| (i as f32 - 35_000.0) / 32_768.0).collect();
        let w = tensor(values, 7, 10_000);
        let cfg =
            QuantConfig { bits: 16, calibration: Calibration::Percentile, percentile: 99.0, ..QuantConfig::default() };
        let a = analyze(&w, &cfg).unwrap();
        let params = [a.channels[0].params];
        let codes = quantize_codes(&w, &cfg, &params);
        let distinct: std::collections::BTreeSet<i32> = codes.into_iter().collect();
        assert_eq!(a.metrics.levels_used, distinct.len() as u64);
        assert_eq!(a.metrics.levels_used, 65_536);
        assert!(a.metrics.clipped > 0);
    }

    #[test]
    fn tasks_come_back_in_order_whatever_the_threads() {
        let tasks: Vec<u64> = (0..200).collect();
        for threads in [1, 2, 7] {
            let (done, states) = run_tasks(
                &tasks,
                threads,
                || 0u64,
                |ran: &mut u64, &t| {
                    *ran += 1;
                    // Uneven work, so threads overtake each other.
                    std::thread::sleep(std::time::Duration::from_micros((t * 37) % 50));
                    t * t
                },
            );
            assert_eq!(done, tasks.iter().map(|t| t * t).collect::<Vec<_>>(), "{threads} threads");
            assert_eq!(states.len(), threads);
            assert_eq!(states.iter().sum::<u64>(), 200);
        }
    }

    #[test]
    fn the_pipeline_gives_the_same_bits_on_any_number_of_threads() {
        let mut w = seed_weights_of(300, 1000);
        w.values[12_345] = f32::NAN;
        w.non_finite = 1;
        for cfg in [
            QuantConfig::default(),
            QuantConfig { granularity: Granularity::PerChannel, bits: 4, ..QuantConfig::default() },
            QuantConfig { granularity: Granularity::PerChannel, channel_axis: 1, ..QuantConfig::default() },
        ] {
            let ch = Channels::of(&w, &cfg);
            let range = min_max(&w.values);
            let chosen = choose(&ch, &w, &cfg, range, &Watch::NONE).unwrap();
            let params: Vec<QParams> = chosen.iter().map(|c| c.params).collect();
            let bins = error_bins(&chosen, cfg.rounding);
            let run = |threads| {
                let mut q = quantize_all(&ch, &params, &cfg, Some(bins), Some(range), threads);
                // One histogram per thread: compare their sum.
                q.weights = vec![merge_counts(range, std::mem::take(&mut q.weights))];
                q
            };
            let one = run(1);
            assert_eq!(one.weights[0].total(), 299_999);
            assert_eq!(run(2), one);
            assert_eq!(run(5), one);
        }
    }

    #[test]
    fn counting_the_weights_along_the_way_equals_counting_them_first() {
        let w = seed_weights_of(1000, 300);
        let cfg = QuantConfig::default();
        assert_eq!(analyze(&w, &cfg).unwrap(), analyze_with(&w, &weight_stats(&w), &cfg, &Watch::NONE).unwrap());
    }

    #[test]
    fn levels_are_counted_exactly_for_codes_beyond_float_precision() {
        // Manual levels near 3e7, beyond 2^24 where f32 counts in steps of 2:
        // codes come from f32 arithmetic, so they and their slots stay exact.
        // 30000.0 lies below the clip and takes qmin.
        let values: Vec<f32> = (0..2000).map(|i| 30_000.0 + i as f32 / 2000.0).collect();
        let w = tensor(values, 2, 1000);
        let clip = [30_000.002, 30_001.0];
        let cfg = QuantConfig { scheme: Scheme::Manual, scale: 1e-3, clip, ..QuantConfig::default() };
        let a = analyze(&w, &cfg).unwrap();
        let p = a.channels[0].params;
        let codes = quantize_codes(&w, &cfg, &[p]);
        let distinct: std::collections::BTreeSet<i32> = codes.iter().copied().collect();
        assert_eq!((codes[0], p.qmin), (30_000_000, 30_000_000));
        assert!(a.metrics.clipped > 0);
        assert_eq!(a.metrics.levels_used, distinct.len() as u64);
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
    fn codes_map_non_finite_values_like_pytorch() {
        let w = tensor(vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.5, -1.0, 1.0], 2, 3);
        let cfg = QuantConfig::default();
        let params: Vec<QParams> = channel_params(&w, &cfg).unwrap().into_iter().map(|c| c.params).collect();
        let p = params[0];
        let codes = quantize_codes(&w, &cfg, &params);
        assert_eq!(&codes[..3], &[p.zero_point, p.qmax, p.qmin]);
    }

    #[test]
    fn codes_come_back_in_row_major_order_for_column_channels() {
        let w = tensor(vec![1.0, 100.0, -1.0, -100.0, 0.5, 50.0], 3, 2);
        let cfg = QuantConfig {
            scheme: Scheme::Symmetric,
            granularity: Granularity::PerChannel,
            channel_axis: 1,
            ..QuantConfig::default()
        };
        let params: Vec<QParams> = channel_params(&w, &cfg).unwrap().into_iter().map(|c| c.params).collect();
        assert_eq!(quantize_codes(&w, &cfg, &params), vec![127, 127, -127, -127, 64, 64]);
    }

    #[test]
    fn curve_marks_an_optimum_no_worse_than_min_max() {
        let cfg = QuantConfig { bits: 3, ..QuantConfig::default() };
        let w = seed_weights();
        let a = analyze(&w, &cfg).unwrap();
        let c = mse_curve(&w, &cfg, &a, &Watch::NONE).unwrap();
        assert_eq!(c.points.len(), super::super::curve::CURVE_POINTS);
        assert!(c.optimum.1 <= c.points.last().unwrap().1);
        assert!(c.optimum.0 < 1.0, "3-bit normal weights are best clipped");
        assert!((c.current.0 - 1.0).abs() < 1e-6, "min-max is the full range");
    }

    /// The mse of quantizing every value with each channel's min-max range
    /// shrunk to `t`, one value at a time in f64: the curve's definition.
    fn naive_curve_point(w: &Weights, cfg: &QuantConfig, t: f64) -> f64 {
        let layout = Layout::of(w, cfg);
        let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); layout.channels()];
        for (i, &x) in w.values.iter().enumerate().filter(|(_, x)| x.is_finite()) {
            let r = &mut ranges[layout.channel(i)];
            *r = (r.0.min(x), r.1.max(x));
        }
        let mut rounder = Rounder::new(cfg.rounding, 0);
        let (mut sq, mut n) = (0.0, 0usize);
        for (i, &x) in w.values.iter().enumerate().filter(|(_, x)| x.is_finite()) {
            let (lo, hi) = ranges[layout.channel(i)];
            let p = bit_params(cfg.scheme, cfg.bits, lo * t as f32, hi * t as f32);
            let (q, _) = rounder.quantize(&p, x);
            sq += (x as f64 - p.dequantize(q) as f64).powi(2);
            n += 1;
        }
        sq / n as f64
    }

    #[test]
    fn every_curve_point_is_the_mse_of_the_whole_tensor() {
        // The case a strided sample got wrong: 4096 x 64 Student-t, per
        // tensor, where a stride of 64 picked one column.
        let spec = SyntheticSpec {
            distribution: Distribution::StudentT,
            rows: 4096,
            cols: 64,
            seed: 7,
            dof: 3.0,
            outlier_fraction: 0.0,
        };
        let mut w = synthetic(&spec).unwrap();
        // A column of large values that a one-column sample would miss or over-weigh.
        for r in 0..w.rows {
            w.values[r * w.cols + 5] *= 8.0;
        }
        for cfg in [
            QuantConfig { bits: 4, ..QuantConfig::default() },
            QuantConfig {
                bits: 3,
                scheme: Scheme::Symmetric,
                granularity: Granularity::PerChannel,
                ..Default::default()
            },
        ] {
            let a = analyze(&w, &cfg).unwrap();
            let c = mse_curve(&w, &cfg, &a, &Watch::NONE).unwrap();
            for &(t, mse) in &c.points {
                let exact = naive_curve_point(&w, &cfg, t);
                assert!((mse - exact).abs() <= 1e-6 * exact, "at {t}: {mse} vs {exact}");
            }
            let at_one = c.points.last().unwrap().1;
            assert!((at_one - a.metrics.mse).abs() <= 1e-6 * at_one, "1x is min-max: {at_one} vs {}", a.metrics.mse);
        }
    }

    #[test]
    fn the_curve_stops_when_asked() {
        let w = seed_weights();
        let a = analyze(&w, &QuantConfig::default()).unwrap();
        let stop = || true;
        let watch = Watch::new(&stop, &|_, _| {});
        assert_eq!(mse_curve(&w, &QuantConfig::default(), &a, &watch), Err(Cancelled));
    }

    #[test]
    fn a_slow_calibration_stops_when_asked_and_reports_progress() {
        let w = seed_weights();
        let cfg =
            QuantConfig { granularity: Granularity::PerChannel, calibration: Calibration::Mse, ..Default::default() };
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let stop = || calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= 3;
        let seen = std::sync::Mutex::new(Vec::new());
        let progress = |done, total| seen.lock().unwrap().push((done, total));
        let err = analyze_with(&w, &weight_stats(&w), &cfg, &Watch::new(&stop, &progress)).unwrap_err();
        assert_eq!(err, AnalysisError::Cancelled(Cancelled));
        assert_eq!(*seen.lock().unwrap(), vec![(0, 1000), (64, 1000), (128, 1000)]);
    }

    #[test]
    fn extreme_finite_values_are_refused_with_a_reason() {
        let w = tensor(vec![-3e38, 0.5, 1.0, 3e38], 1, 4);
        let err = analyze(&w, &QuantConfig::default()).unwrap_err();
        assert!(matches!(err, AnalysisError::TooLarge(_)), "{err}");
        assert!(err.to_string().contains("3e38"), "{err}");
        // Just inside the limit everything is finite.
        let w = tensor(vec![-MAX_MAGNITUDE, 0.5, 1.0, MAX_MAGNITUDE], 1, 4);
        let a = analyze(&w, &QuantConfig::default()).unwrap();
        assert!(a.metrics.mse.is_finite() && a.metrics.cosine.is_finite(), "{:?}", a.metrics);
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
        fn levels_used_match_a_naive_count_of_the_codes(
            values in prop::collection::vec(-10f32..10.0, 2..300),
            holes in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
            bits in 2u32..=6,
            per_channel in any::<bool>(),
            axis in 0usize..=1,
            rounding in prop::sample::select(crate::compute::quant::Rounding::ALL.to_vec()),
        ) {
            let n = values.len() / 2 * 2;
            let mut values = values[..n].to_vec();
            holes.iter().for_each(|h| values[h.index(n)] = f32::NAN);
            prop_assume!(values.iter().any(|x| x.is_finite()));
            let w = tensor(values.clone(), 2, n / 2);
            let cfg = QuantConfig {
                bits,
                rounding,
                channel_axis: axis,
                calibration: Calibration::Percentile,
                percentile: 90.0,
                granularity: if per_channel { Granularity::PerChannel } else { Granularity::PerTensor },
                ..QuantConfig::default()
            };
            let a = analyze(&w, &cfg).unwrap();
            let params: Vec<QParams> = a.channels.iter().map(|c| c.params).collect();
            let codes = quantize_codes(&w, &cfg, &params);
            // Codes of non-finite values are written but not counted.
            let finite = |i: &usize| values[*i].is_finite();
            let distinct = |it: &mut dyn Iterator<Item = i32>| it.collect::<std::collections::BTreeSet<_>>().len() as u64;
            let mut all = (0..n).filter(finite).map(|i| codes[i]);
            prop_assert_eq!(a.metrics.levels_used, distinct(&mut all));
            let layout = Layout::of(&w, &cfg);
            for (c, channel) in a.channels.iter().enumerate() {
                let mut of_channel = (0..n).filter(finite).filter(|i| layout.channel(*i) == c).map(|i| codes[i]);
                prop_assert_eq!(channel.metrics.levels_used, distinct(&mut of_channel));
            }
            let binned = a.error_hist.rounding.total() + a.error_hist.clipped.total();
            prop_assert_eq!(binned, (0..n).filter(finite).count() as u64);
        }

        #[test]
        fn finite_values_of_any_magnitude_give_finite_figures_or_a_clear_refusal(
            values in proptest::collection::vec(proptest::num::f32::NORMAL | proptest::num::f32::SUBNORMAL | proptest::num::f32::ZERO, 1..300),
            bits in 2u32..=16,
            symmetric in any::<bool>(),
            per_channel in any::<bool>(),
        ) {
            let cols = values.len().min(7);
            let values: Vec<f32> = values[..values.len() / cols * cols].to_vec();
            let rows = values.len() / cols;
            let w = tensor(values, rows, cols);
            let cfg = QuantConfig {
                bits,
                scheme: if symmetric { Scheme::Symmetric } else { Scheme::Asymmetric },
                granularity: if per_channel { Granularity::PerChannel } else { Granularity::PerTensor },
                ..QuantConfig::default()
            };
            let amax = w.values.iter().fold(0f32, |m, x| m.max(x.abs()));
            match analyze(&w, &cfg) {
                Ok(a) => {
                    prop_assert!(amax <= MAX_MAGNITUDE);
                    let m = &a.metrics;
                    for v in [m.mse, m.mae, m.max_abs_error, m.cosine, m.bias, m.clip_rate] {
                        prop_assert!(v.is_finite(), "{m:?}");
                    }
                    prop_assert!(a.error_hist.rounding.total() + a.error_hist.clipped.total() == a.count as u64);
                    let c = mse_curve(&w, &cfg, &a, &Watch::NONE).unwrap();
                    prop_assert!(c.points.iter().all(|p| p.1.is_finite()));
                }
                Err(e) => prop_assert!(amax > MAX_MAGNITUDE && matches!(e, AnalysisError::TooLarge(_)), "{e}"),
            }
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
