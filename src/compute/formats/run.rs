//! The pipeline for any [`NumberFormat`]: each group quantized by the
//! format, then the same metrics, histograms and storage figures the `int`
//! pipeline gives. Groups are independent and their results are merged in
//! order, so no figure depends on the number of threads; a long group of a
//! format with a fit is fitted once and coded in parts on every core, the
//! parts' block sums merged in block order (`quantize_groups`).

use std::borrow::Cow;

use serde::Serialize;

use super::{FormatKind, GroupFit, Grouping, NumberFormat, Packed, Quantized, TensorFacts, pack};
use crate::compute::analysis::{
    Analysis, AnalysisError, ErrorHistogram, HIST_BINS, Layout, Measured, Storage, check_magnitude, groups,
    merge_counts, metrics_of, uses_affine_kernel, weight_counter, weight_tasks,
};
use crate::compute::calibrate::min_max;
use crate::compute::histogram::Histogram;
use crate::compute::kernel::Sums;
use crate::compute::parallel::{run_tasks, threads_for};
use crate::compute::quant::QuantConfig;
use crate::compute::watch::{Cancelled, Watch};
use crate::compute::weights::Weights;

use self::tally::tally;

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

/// One piece's share of the figures.
struct Share {
    sums: Sums,
    /// The sums of each block of 128 values, kept apart in a part of a
    /// group (`Piece::Part`), to be merged in order with the other parts'.
    blocks: Vec<Sums>,
    /// x - x̂ of its finite values, rounding errors and clipped ones apart.
    errors: Vec<f32>,
    clipped_errors: Vec<f32>,
    /// The least and the largest of both, with 0.
    error_range: (f32, f32),
    /// Which codes occur.
    seen: Vec<bool>,
}

/// A task's buffers, reused from task to task: x̂, codes and clip flags of
/// all its groups, one after the other (only the clip flags when the piece
/// writes x̂ and the codes to a sink).
#[derive(Default)]
struct Scratch {
    xhat: Vec<f32>,
    codes: Vec<u16>,
    clipped: Vec<bool>,
}

/// Buffers kept from one analysis for the next: a fresh page costs a fault
/// and its zeroing, more than the work done on it (a third of a per-tensor
/// format's time on a million values). Only buffers up to `SPARE_MAX`
/// values are kept, at most `SPARE_SCRATCH` task buffers (a few analyses
/// at once use a core's worth each) and `SPARE_ERRORS` error buffers, and
/// `SPARE_BYTES` in all.
struct Spare {
    scratch: Vec<Scratch>,
    errors: Vec<Vec<f32>>,
}

static SPARE: std::sync::Mutex<Spare> = std::sync::Mutex::new(Spare { scratch: Vec::new(), errors: Vec::new() });
const SPARE_MAX: usize = 1 << 22;
const SPARE_SCRATCH: usize = 8;
const SPARE_ERRORS: usize = 64;

fn spare() -> std::sync::MutexGuard<'static, Spare> {
    // A panic elsewhere while it was held leaves buffers that are still buffers.
    SPARE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn spare_scratch() -> Scratch {
    spare().scratch.pop().unwrap_or_default()
}

/// An empty buffer for `n` errors.
fn spare_errors(n: usize) -> Vec<f32> {
    let mut errors = spare().errors.pop().unwrap_or_default();
    errors.clear();
    errors.reserve(n);
    errors
}

/// All the kept buffers together stay under this: a pool of many large
/// buffers would keep their pages resident for the life of the process.
const SPARE_BYTES: usize = 64 << 20;

fn scratch_bytes(s: &Scratch) -> usize {
    s.xhat.capacity() * 4 + s.codes.capacity() * 2 + s.clipped.capacity()
}

fn keep_spares(scratch: Vec<Scratch>, shares: Vec<Share>) {
    let mut spare = spare();
    let mut held: usize = spare.scratch.iter().map(scratch_bytes).sum::<usize>()
        + spare.errors.iter().map(|e| e.capacity() * 4).sum::<usize>();
    let small = |n: usize| n <= SPARE_MAX;
    for s in scratch.into_iter().filter(|s| small(s.xhat.capacity().max(s.clipped.capacity()))) {
        if spare.scratch.len() < SPARE_SCRATCH && held + scratch_bytes(&s) <= SPARE_BYTES {
            held += scratch_bytes(&s);
            spare.scratch.push(s);
        }
    }
    for errors in shares.into_iter().flat_map(|s| [s.errors, s.clipped_errors]).filter(|e| small(e.capacity())) {
        if spare.errors.len() < SPARE_ERRORS && held + errors.capacity() * 4 <= SPARE_BYTES {
            held += errors.capacity() * 4;
            spare.errors.push(errors);
        }
    }
}

/// What a pass over the groups gives besides their sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Their errors and the codes seen, for the histograms and the levels used.
    Everything,
    /// The sums alone: the Formats table's figures.
    Sums,
    /// x̂ and the codes, for writing them; no figures.
    Values,
}

/// A group of at least twice this many finite values is fitted once, when
/// its format has a fit (`NumberFormat::fit`), and quantized in parts of
/// this many on every core. A multiple of `LANE_BLOCK`: the parts' blocks
/// are the group's, so the sums keep their bits.
const PART: usize = 1 << 15;

/// A share of the work: a task of whole groups (`analysis::groups`), or a
/// part of a task's one long fitted group (values from the group's start).
enum Piece<'a> {
    Whole(usize),
    Part { task: usize, fit: &'a GroupFit, span: std::ops::Range<usize> },
}

/// A piece's slices of x̂ and the codes of the whole tensor, channel-major
/// (`Want::Values`): the pieces write there, so nothing is copied after.
type Sink<'a> = (&'a mut [f32], &'a mut [u16]);

/// Where a piece writes x̂, the codes and the clip flags of `span` (values
/// from the piece's start): its sink when the values are kept, else the
/// task's scratch.
fn target<'b>(scratch: &'b mut Scratch, sink: &'b mut Option<Sink>, span: std::ops::Range<usize>) -> Quantized<'b> {
    match sink {
        Some((xhat, codes)) => Quantized {
            xhat: &mut xhat[span.clone()],
            codes: &mut codes[span.clone()],
            clipped: &mut scratch.clipped[span],
        },
        None => scratch.out(span),
    }
}

/// Every group quantized by the format.
struct Pass {
    /// Each piece's share, in order.
    shares: Vec<Share>,
    /// x̂ and the codes, channel-major, when `Want::Values`.
    values: Option<(Vec<f32>, Vec<u16>)>,
    /// The sums of all groups, merged task by task in task order.
    sums: Sums,
    /// The fit of the first group, when it was fitted apart.
    first_fit: Option<GroupFit>,
}

fn quantize_groups(
    g: &Groups,
    w: &Weights,
    cfg: &QuantConfig,
    format: &dyn NumberFormat,
    facts: &TensorFacts,
    watch: &Watch,
    want: Want,
) -> Result<Pass, Cancelled> {
    let spans: Vec<(usize, std::ops::Range<usize>)> = (0..g.count()).map(|i| (i, g.span(i))).collect();
    let tasks = groups(&spans);
    let all_finite = w.non_finite == 0;
    let threads = threads_for(g.values.len());
    // The long groups, each a task alone, are fitted once, when the tensor
    // is finite: with a non-finite value anywhere every group is tallied
    // value by value (`tally`'s `all_finite`), an order the parts' lane
    // sums would not reproduce.
    let long: Vec<(usize, &[f32])> = (0..tasks.len())
        .filter(|&t| all_finite && tasks[t].len() == 1 && spans[tasks[t].start].1.len() >= 2 * PART)
        .map(|t| (t, &g.values[spans[tasks[t].start].1.clone()]))
        .collect();
    let fits = fit_groups(&long, tasks.len(), cfg, format, facts, watch, threads)?;
    let levels = 1usize << format.code_bits(cfg).min(16);
    let new_share = |n: usize| Share {
        sums: Sums::default(),
        blocks: Vec::new(),
        errors: if want == Want::Everything { spare_errors(n) } else { Vec::new() },
        clipped_errors: Vec::new(),
        error_range: (0.0, 0.0),
        seen: vec![false; if want == Want::Everything { levels } else { 0 }],
    };
    let whole = |scratch: &mut Scratch, mut sink: Option<Sink>, t: usize| {
        let range = task_range(&spans, &tasks[t]);
        let spans = &spans[tasks[t].clone()];
        scratch.ready(range.len(), sink.is_none());
        // A fitted group is quantized in parts (`part`), never here.
        let size = spans[0].1.len();
        let last = spans[spans.len() - 1].1.len();
        let uniform = last <= size && spans.iter().rev().skip(1).all(|(_, s)| s.len() == size);
        if all_finite && uniform && size > 0 {
            let out = target(scratch, &mut sink, 0..range.len());
            format.quantize_each(cfg, facts, &g.values[range.clone()], size, out);
        } else {
            for (_, span) in spans {
                let xs = finite_group(&g.values[span.clone()], all_finite);
                let out = target(scratch, &mut sink, span.start - range.start..span.end - range.start);
                format.quantize(cfg, facts, &xs, out);
            }
        }
        let mut share = new_share(range.len());
        if want != Want::Values {
            let groups = spans.iter().map(|(_, s)| s.start - range.start..s.end - range.start);
            tally(&mut share, &g.values[range.clone()], scratch, groups, all_finite, want, false);
        }
        share
    };
    let part =
        |scratch: &mut Scratch, mut sink: Option<Sink>, task: usize, fit: &GroupFit, span: &std::ops::Range<usize>| {
            let start = spans[tasks[task].start].1.start;
            let xs = &g.values[start + span.start..start + span.end];
            scratch.ready(xs.len(), sink.is_none());
            format.quantize_part(cfg, facts, fit, xs, target(scratch, &mut sink, 0..xs.len()));
            let mut share = new_share(xs.len());
            if want != Want::Values {
                tally(&mut share, xs, scratch, std::iter::once(0..xs.len()), true, want, true);
            }
            share
        };
    let pieces: Vec<Piece> = (0..tasks.len())
        .flat_map(|t| match &fits[t] {
            Some(fit) => {
                let len = spans[tasks[t].start].1.len();
                (0..len).step_by(PART).map(|s| Piece::Part { task: t, fit, span: s..(s + PART).min(len) }).collect()
            }
            None => vec![Piece::Whole(t)],
        })
        .collect();
    // Writing x̂ and the codes is all `Want::Values` is for: each piece
    // fills its slice of the tensor's, in piece order (channel-major).
    let mut values = (want == Want::Values).then(|| (vec![0f32; g.values.len()], vec![0u16; g.values.len()]));
    let sinks: Vec<std::sync::Mutex<Option<Sink>>> = match &mut values {
        Some((xhat, codes)) => split_by(xhat, codes, pieces.iter().map(|p| piece_len(p, &spans, &tasks))),
        None => pieces.iter().map(|_| std::sync::Mutex::new(None)).collect(),
    };
    // Each sink is taken once, by its piece's task.
    let work: Vec<(&Piece, std::sync::Mutex<Option<Sink>>)> = pieces.iter().zip(sinks).collect();
    let (done, scratch) = run_tasks(&work, threads, spare_scratch, |scratch, (piece, sink)| {
        watch.check().ok()?;
        let sink = sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        Some(match piece {
            Piece::Whole(t) => whole(scratch, sink, *t),
            Piece::Part { task, fit, span } => part(scratch, sink, *task, fit, span),
        })
    });
    drop(work);
    let done: Vec<Share> = done.into_iter().collect::<Option<_>>().ok_or(Cancelled)?;
    // Task by task in order: a whole task's sums, or its parts' blocks
    // merged in order (the blocks the whole group would have summed).
    let (mut shares, mut sums) = (Vec::with_capacity(done.len()), Sums::default());
    let mut done = done.into_iter().zip(&pieces).peekable();
    while let Some((share, piece)) = done.next() {
        let &Piece::Part { task, .. } = piece else {
            sums.merge(&share.sums);
            shares.push(share);
            continue;
        };
        let mut task_sums = Sums::default();
        share.blocks.iter().for_each(|b| task_sums.merge(b));
        shares.push(share);
        while let Some((share, _)) = done.next_if(|(_, p)| matches!(p, Piece::Part { task: t, .. } if *t == task)) {
            share.blocks.iter().for_each(|b| task_sums.merge(b));
            shares.push(share);
        }
        sums.merge(&task_sums);
    }
    keep_spares(scratch, Vec::new());
    Ok(Pass { shares, values, sums, first_fit: fits.into_iter().next().flatten() })
}

/// The values of a task's groups, from the first's start to the last's end.
fn task_range(spans: &[(usize, std::ops::Range<usize>)], task: &std::ops::Range<usize>) -> std::ops::Range<usize> {
    spans[task.start].1.start..spans[task.end - 1].1.end
}

/// The values a piece covers.
fn piece_len(piece: &Piece, spans: &[(usize, std::ops::Range<usize>)], tasks: &[std::ops::Range<usize>]) -> usize {
    match piece {
        Piece::Whole(t) => task_range(spans, &tasks[*t]).len(),
        Piece::Part { span, .. } => span.len(),
    }
}

/// `xhat` and `codes` cut into consecutive slices of `lens`, one per piece.
fn split_by<'a>(
    mut xhat: &'a mut [f32],
    mut codes: &'a mut [u16],
    lens: impl Iterator<Item = usize>,
) -> Vec<std::sync::Mutex<Option<Sink<'a>>>> {
    let sinks = lens
        .map(|len| {
            let (x, x_rest) = std::mem::take(&mut xhat).split_at_mut(len);
            let (c, c_rest) = std::mem::take(&mut codes).split_at_mut(len);
            (xhat, codes) = (x_rest, c_rest);
            std::sync::Mutex::new(Some((x, c)))
        })
        .collect();
    debug_assert!(xhat.is_empty() && codes.is_empty(), "the pieces cover the tensor");
    sinks
}

/// The fits of `long` groups, (task, values), made once each (side by side
/// when there are several), as one entry per task of `tasks`: `None` for
/// every other task and for a format without a fit.
fn fit_groups(
    long: &[(usize, &[f32])],
    tasks: usize,
    cfg: &QuantConfig,
    format: &dyn NumberFormat,
    facts: &TensorFacts,
    watch: &Watch,
    threads: usize,
) -> Result<Vec<Option<GroupFit>>, Cancelled> {
    let mut fits = vec![None; tasks];
    let fit = |_: &mut (), &(_, xs): &(usize, &[f32])| {
        watch.check().ok()?;
        Some(format.fit(cfg, facts, xs))
    };
    let (fitted, _) = run_tasks(long, threads, || (), fit);
    for (&(t, _), fit) in long.iter().zip(fitted) {
        fits[t] = fit.ok_or(Cancelled)?;
    }
    Ok(fits)
}

impl Scratch {
    /// Room for `n` values' clip flags, cleared, and, unless they go to a
    /// sink, x̂ and codes.
    fn ready(&mut self, n: usize, values_too: bool) {
        if values_too {
            self.xhat.resize(n, 0.0);
            self.codes.resize(n, 0);
        }
        self.clipped.clear();
        self.clipped.resize(n, false);
    }

    fn out(&mut self, span: std::ops::Range<usize>) -> Quantized<'_> {
        Quantized {
            xhat: &mut self.xhat[span.clone()],
            codes: &mut self.codes[span.clone()],
            clipped: &mut self.clipped[span],
        }
    }
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
    let pass = quantize_groups(&g, w, cfg, format, &facts, watch, Want::Everything)?;
    let code_bits = format.code_bits(cfg);
    let mut seen = vec![false; 1usize << code_bits.min(16)];
    for s in &pass.shares {
        seen.iter_mut().zip(&s.seen).for_each(|(a, &b)| *a |= b);
    }
    let error_hist = error_histogram(&pass.shares);
    let levels_used = seen.iter().filter(|&&b| b).count() as u64;
    let weight_hist = match weight_hist {
        Some(h) => h.clone(),
        None => count_weights(w, range),
    };
    let format_summary = summary(cfg.format, cfg, &g, &facts, w, pass.first_fit);
    keep_spares(Vec::new(), pass.shares);
    Ok(Analysis {
        count: w.values.len(),
        non_finite: w.non_finite,
        data_range: range,
        qmin: 0,
        qmax: ((1u64 << code_bits) - 1) as i32,
        effective_bits: code_bits,
        channels: Vec::new(),
        metrics: metrics_of(&pass.sums, levels_used, 1u64 << code_bits),
        storage: storage_of(w, format.bits_per_weight(cfg, w.rows, w.cols)),
        weight_hist,
        error_hist,
        format: format_summary,
    })
}

/// `analyze`'s sums and storage alone (`analysis::measure_with`): no
/// errors kept, no codes marked, no histogram, no summary.
pub fn measure(w: &Weights, range: (f32, f32), cfg: &QuantConfig, watch: &Watch) -> Result<Measured, AnalysisError> {
    checked(w, cfg, range)?;
    let format = cfg.format.format();
    let g = Groups::of(w, cfg, format);
    let pass = quantize_groups(&g, w, cfg, format, &facts_of(w, range), watch, Want::Sums)?;
    keep_spares(Vec::new(), pass.shares);
    let bpw = format.bits_per_weight(cfg, w.rows, w.cols);
    Ok(Measured { sums: pass.sums, storage: storage_of(w, bpw), bpw })
}

/// The bytes of `w` at `bpw` bits per weight, against float32.
fn storage_of(w: &Weights, bpw: f64) -> Storage {
    let bytes_fp32 = w.values.len() as u64 * 4;
    let bytes_quantized = (w.values.len() as f64 * bpw / 8.0).ceil() as u64;
    Storage { bytes_fp32, bytes_quantized, compression: bytes_fp32 as f64 / bytes_quantized.max(1) as f64 }
}

fn count_weights(w: &Weights, range: (f32, f32)) -> Histogram {
    let tasks = weight_tasks(w.values.len());
    let count = |h: &mut Histogram, span: &std::ops::Range<usize>| h.count(&w.values[span.clone()], w.non_finite == 0);
    let (_, counted) = run_tasks(&tasks, threads_for(w.values.len()), || weight_counter(range), count);
    merge_counts(range, counted)
}

/// The error histogram over the errors' own range, clipped values apart,
/// counted in runs of values on every core (counts add up in any order).
fn error_histogram(shares: &[Share]) -> ErrorHistogram {
    let (lo, hi) = shares.iter().fold((0f32, 0f32), |(lo, hi), s| (lo.min(s.error_range.0), hi.max(s.error_range.1)));
    let empty = Histogram::new(lo, hi, HIST_BINS);
    let tasks: Vec<(&[f32], bool)> = shares
        .iter()
        .flat_map(|s| [(&s.errors[..], false), (&s.clipped_errors[..], true)])
        .flat_map(|(errors, clipped)| weight_tasks(errors.len()).into_iter().map(move |span| (&errors[span], clipped)))
        .collect();
    let total = tasks.iter().map(|t| t.0.len()).sum();
    let new_counts = || ErrorHistogram { rounding: empty.clone(), clipped: empty.clone() };
    let count = |h: &mut ErrorHistogram, &(errors, clipped): &(&[f32], bool)| {
        if clipped { h.clipped.count(errors, true) } else { h.rounding.count(errors, true) }
    };
    let (_, counted) = run_tasks(&tasks, threads_for(total), new_counts, count);
    let mut errors = new_counts();
    for h in counted {
        errors.rounding.add_counts(&h.rounding.counts);
        errors.clipped.add_counts(&h.clipped.counts);
    }
    errors
}

/// `first_fit`: the first group's fit, when the pass made it.
fn summary(
    kind: FormatKind,
    cfg: &QuantConfig,
    g: &Groups,
    facts: &TensorFacts,
    w: &Weights,
    first_fit: Option<GroupFit>,
) -> FormatSummary {
    let format = kind.format();
    let first = finite_group(&g.values[g.span(0)], w.non_finite == 0);
    let (levels, params) = match first_fit {
        Some(fit) => (fit.levels, fit.params),
        None => format.levels_and_params(cfg, facts, &first),
    };
    FormatSummary {
        name: kind.name().to_string(),
        ecosystem: format.ecosystem(cfg),
        bpw: format.bits_per_weight(cfg, w.rows, w.cols),
        code_bits: format.code_bits(cfg),
        groups: g.count(),
        group_size: first.len(),
        levels,
        params: params.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    }
}

/// The tensor in the format's packed layout (`pack.rs`), group after group
/// (row after row of blocks): `None` when the format has none.
pub fn packed(w: &Weights, cfg: &QuantConfig) -> Result<Option<Vec<u8>>, AnalysisError> {
    let range = min_max(&w.values);
    checked(w, cfg, range)?;
    if uses_affine_kernel(cfg) {
        return pack::affine(w, cfg).map(Some);
    }
    let format = cfg.format.format();
    let g = Groups::of(w, cfg, format);
    let facts = facts_of(w, range);
    let mut out = Packed::new();
    for i in 0..g.count() {
        let xs = finite_group(&g.values[g.span(i)], w.non_finite == 0);
        if !format.pack(cfg, &facts, &xs, &mut out) {
            return Ok(None);
        }
    }
    Ok(Some(out.finish()))
}

/// x̂ of every weight in row-major order, and each value's code: what
/// `quantize --dequantized` writes for a format of the trait.
pub fn dequantized(w: &Weights, cfg: &QuantConfig) -> Result<(Vec<f32>, Vec<u16>), AnalysisError> {
    let range = min_max(&w.values);
    checked(w, cfg, range)?;
    let format = cfg.format.format();
    let g = Groups::of(w, cfg, format);
    let pass = quantize_groups(&g, w, cfg, format, &facts_of(w, range), &Watch::NONE, Want::Values)?;
    let (xhat, codes) = pass.values.expect("Want::Values keeps x̂ and the codes");
    Ok((g.layout.into_row_major(xhat), g.layout.into_row_major(codes)))
}

// A sibling of run.rs rather than run/tally.rs.
#[path = "tally.rs"]
mod tally;
