//! The inner loop: quantize a run of values with one set of parameters and
//! sum up the error, fast enough for a million weights per key press.
//!
//! The deterministic rounding modes are branch-free on `f32` lanes so the
//! compiler vectorizes them with plain SSE2 (no SSE4.1 `roundps` to rely
//! on), and with AVX2 where the CPU has it (see `has_avx2`); they are
//! exact for |t| < 2^22, which the clamp below guarantees.
//! Codes are written one step beyond the range when clamping changed them
//! (qmin - 1 or qmax + 1), so callers can tell clipping from rounding
//! without a second buffer; `clamp_code` gives the real code.

use super::histogram::BinCounter;
use super::quant::{QParams, Rounder, Rounding};

/// Above this |code| the magic-number rounding is no longer exact.
const EXACT_LIMIT: f32 = (1 << 22) as f32;
const LANES: usize = 8;
/// Lanes sum in f32 over blocks this long, then into f64: fast and accurate.
const BLOCK: usize = 1024;

trait Round {
    fn round(t: f32) -> f32;

    /// The same rounding of eight lanes, for values within +-2^22.
    ///
    /// # Safety
    /// The CPU has AVX2; only `squared_avx2` calls it, inlined.
    #[cfg(target_arch = "x86_64")]
    unsafe fn round8(t: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256;
}

struct HalfEven;
struct HalfAway;
struct Floor;
struct Trunc;

impl Round for HalfEven {
    #[inline(always)]
    fn round(t: f32) -> f32 {
        crate::compute::quant::round_half_even(t)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn round8(t: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        // SAFETY: the caller's CPU has AVX2.
        unsafe { _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(t) }
    }
}

impl Round for Trunc {
    #[inline(always)]
    fn round(t: f32) -> f32 {
        to_int(t) as f32
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn round8(t: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        // SAFETY: the caller's CPU has AVX2.
        unsafe { _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(t) }
    }
}

/// f32 to i32 without Rust's saturating `as`, which does not vectorize.
#[inline(always)]
fn to_int(t: f32) -> i32 {
    debug_assert!(t.abs() <= EXACT_LIMIT + 2.0);
    // SAFETY: every caller passes a finite value clamped to |t| <= 2^22 + 2
    // (`element` clamps to `Bounds`, which `quantize_run` checks against
    // EXACT_LIMIT), well inside i32.
    unsafe { t.to_int_unchecked::<i32>() }
}

/// min/max without the NaN rules of `f32::max`, which cost extra
/// instructions per lane; the fast path only ever sees finite values.
#[inline(always)]
fn clamp(v: f32, lo: f32, hi: f32) -> f32 {
    let v = if v < lo { lo } else { v };
    if v > hi { hi } else { v }
}

impl Round for Floor {
    #[inline(always)]
    fn round(t: f32) -> f32 {
        let r = Trunc::round(t);
        if r > t { r - 1.0 } else { r }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn round8(t: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
        // SAFETY: the caller's CPU has AVX2.
        unsafe { std::arch::x86_64::_mm256_floor_ps(t) }
    }
}

impl Round for HalfAway {
    #[inline(always)]
    fn round(t: f32) -> f32 {
        let r = Trunc::round(t);
        let d = t - r;
        if d >= 0.5 {
            r + 1.0
        } else if d <= -0.5 {
            r - 1.0
        } else {
            r
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn round8(t: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        // SAFETY: the caller's CPU has AVX2.
        unsafe {
            let r = Trunc::round8(t);
            let d = _mm256_sub_ps(t, r);
            let one = _mm256_set1_ps(1.0);
            let up = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(d, _mm256_set1_ps(0.5)), one);
            let down = _mm256_and_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(d, _mm256_set1_ps(-0.5)), one);
            _mm256_sub_ps(_mm256_add_ps(r, up), down)
        }
    }
}

/// Running sums of the error of a run of finite values.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sums {
    pub n: u64,
    pub clipped: u64,
    pub zeros: u64,
    pub err: f64,
    pub abs: f64,
    pub sq: f64,
    /// The largest |error| (0 when there are none).
    pub max_abs: f64,
    pub x2: f64,
    pub xh2: f64,
    pub xxh: f64,
}

impl Sums {
    pub fn merge(&mut self, o: &Sums) {
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

    #[inline]
    pub(crate) fn add(&mut self, x: f32, xh: f32, clipped: bool) {
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
}

/// The clamp bounds in code units relative to the zero point, one step wide
/// of the range so that clipping stays visible in the code.
#[derive(Clone, Copy)]
struct Bounds {
    lo: f32,
    hi: f32,
}

impl Bounds {
    fn of(p: &QParams) -> Bounds {
        Bounds { lo: (p.qmin - p.zero_point) as f32 - 1.0, hi: (p.qmax - p.zero_point) as f32 + 1.0 }
    }
}

/// The real code of a code written by `quantize_run`.
#[inline]
pub fn clamp_code(code: i32, p: &QParams) -> i32 {
    code.clamp(p.qmin, p.qmax)
}

#[inline]
pub fn is_clipped(code: i32, p: &QParams) -> bool {
    code < p.qmin || code > p.qmax
}

/// One element: the extended code (see module doc) relative to the zero
/// point, and x_hat.
#[inline(always)]
fn element<R: Round>(x: f32, scale: f32, b: Bounds) -> (f32, f32) {
    let r = R::round(clamp(x / scale, b.lo, b.hi));
    (r, clamp(r, b.lo + 1.0, b.hi - 1.0) * scale)
}

/// Where a run's per-element results go.
pub enum Output<'a> {
    /// Only the sums.
    None,
    /// Extended codes (see the module doc).
    Codes(&'a mut [i32]),
    /// The pane's error histogram and distinct codes, counted as the run goes.
    Tally(&'a mut Tally),
}

/// The error histogram's bins: `bins` over [lo, lo + bins / factor), and
/// clipped values counted apart in bins + bin.
#[derive(Debug, Clone, Copy)]
pub struct ErrorBins {
    pub lo: f32,
    pub factor: f32,
    pub bins: u32,
}

impl ErrorBins {
    #[inline(always)]
    fn of(self, e: f32, clipped: bool) -> u16 {
        let last = (self.bins - 1) as f32;
        // NaN (an error of an overflowing x_hat) fails `t > 0` and lands in bin 0.
        let t = (e - self.lo) * self.factor;
        let t = if t > 0.0 { t } else { 0.0 };
        let bin = to_int(if t < last { t } else { last }) as u32;
        (bin + if clipped { self.bins } else { 0 }) as u16
    }
}

/// Error bins counted: rounding and clipped ones, and one slot for
/// non-finite values, which are left out.
const ERROR_SLOTS: usize = 512;
const SKIPPED_ERROR: u16 = (ERROR_SLOTS - 1) as u16;
/// One slot per level of up to 16 bits.
const CODE_SLOTS: usize = 1 << 16;

/// Counts what the pane shows of a run, one channel at a time: the error
/// histogram (over all channels) and the distinct codes (per channel).
/// The kernel's lanes write a block of codes and error bins, then the
/// block is counted at once: scalar work on data still in L1.
pub struct Tally {
    bins: ErrorBins,
    counter: BinCounter<ERROR_SLOTS>,
    /// Slot k is code qmin + k of the current run.
    seen: Box<[bool; CODE_SLOTS]>,
    touched: Vec<u16>,
    /// The levels of the last run, when its codes are found by scanning.
    scanned: Option<usize>,
    codes: Box<[u16; BLOCK]>,
    errors: Box<[u16; BLOCK]>,
}

impl Tally {
    pub fn new(bins: ErrorBins) -> Tally {
        assert!(2 * (bins.bins as usize) < ERROR_SLOTS, "at most {} error bins", ERROR_SLOTS / 2 - 1);
        let seen = vec![false; CODE_SLOTS].into_boxed_slice().try_into().expect("CODE_SLOTS long");
        Tally {
            bins,
            counter: BinCounter::new(),
            seen,
            touched: Vec::new(),
            scanned: None,
            codes: Box::new([0; BLOCK]),
            errors: Box::new([0; BLOCK]),
        }
    }

    /// Appends the distinct codes of the last run (relative to its qmin,
    /// in no particular order) to `out`, then forgets them.
    pub fn take_codes(&mut self, out: &mut Vec<u32>) {
        if let Some(levels) = self.scanned.take() {
            self.touched.extend((0..levels).filter(|&k| self.seen[k]).map(|k| k as u16));
        }
        for k in self.touched.drain(..) {
            self.seen[k as usize] = false;
            out.push(k.into());
        }
    }

    /// (rounding, clipped) counts per bin.
    pub fn counts(&self) -> (Vec<u64>, Vec<u64>) {
        let mut total = self.counter.totals();
        let bins = self.bins.bins as usize;
        total.truncate(2 * bins);
        let clipped = total.split_off(bins);
        (total, clipped)
    }
}

/// Marks codes as seen, remembering new ones in `touched` unless the
/// levels are to be scanned afterwards.
#[inline]
fn mark(seen: &mut [bool; CODE_SLOTS], touched: &mut Vec<u16>, codes: impl Iterator<Item = u16>, scan_levels: bool) {
    if scan_levels {
        codes.for_each(|k| seen[k as usize] = true);
    } else {
        for k in codes {
            if !seen[k as usize] {
                seen[k as usize] = true;
                touched.push(k);
            }
        }
    }
}

trait Sink {
    /// One chunk of lanes starting at element `at`: codes relative to the
    /// zero point, errors, and clipping.
    fn lanes(&mut self, at: usize, r: &[f32; LANES], e: &[f32; LANES], clipped: &[bool; LANES]);
    /// One element; `r` is its code relative to the zero point.
    fn one(&mut self, at: usize, r: i32, e: f32, clipped: bool);
    fn non_finite(&mut self, at: usize, code: i32);
    /// Called after every `BLOCK` elements and at the end of a run.
    fn end_block(&mut self) {}
}

struct NoSink;

impl Sink for NoSink {
    #[inline(always)]
    fn lanes(&mut self, _: usize, _: &[f32; LANES], _: &[f32; LANES], _: &[bool; LANES]) {}
    #[inline(always)]
    fn one(&mut self, _: usize, _: i32, _: f32, _: bool) {}
    #[inline(always)]
    fn non_finite(&mut self, _: usize, _: i32) {}
}

struct CodeSink<'a> {
    out: &'a mut [i32],
    zp: i32,
}

impl Sink for CodeSink<'_> {
    #[inline(always)]
    fn lanes(&mut self, at: usize, r: &[f32; LANES], _: &[f32; LANES], _: &[bool; LANES]) {
        let codes: [i32; LANES] = std::array::from_fn(|l| to_int(r[l]) + self.zp);
        self.out[at..at + LANES].copy_from_slice(&codes);
    }
    #[inline(always)]
    fn one(&mut self, at: usize, r: i32, _: f32, _: bool) {
        self.out[at] = r + self.zp;
    }
    #[inline(always)]
    fn non_finite(&mut self, at: usize, code: i32) {
        self.out[at] = code;
    }
}

/// A `Tally` taken apart for one run, so that the loop keeps its
/// constants in registers instead of reloading them after every store.
struct TallySink<'a> {
    bins: ErrorBins,
    codes: &'a mut [u16; BLOCK],
    errors: &'a mut [u16; BLOCK],
    counter: &'a mut BinCounter<ERROR_SLOTS>,
    seen: &'a mut [bool; CODE_SLOTS],
    touched: &'a mut Vec<u16>,
    /// qmin and qmax relative to the zero point: code slots are counted from the first.
    lowest: f32,
    highest: f32,
    /// Find the codes used by scanning every level (when there are few) or
    /// by remembering each new one (when there are more levels than values).
    scan_levels: bool,
    filled: usize,
    /// Whether the block holds a non-finite value, to be left out.
    skipped: bool,
}

impl TallySink<'_> {
    /// The code slot of a code relative to the zero point; clipped codes
    /// count as the end level they became. Exact in f32: codes beyond 2^24
    /// (manual mode only) come from f32 arithmetic, so they are f32 values.
    #[inline(always)]
    fn slot(&self, r: f32) -> u16 {
        to_int(clamp(r, self.lowest, self.highest) - self.lowest) as u16
    }
}

impl Sink for TallySink<'_> {
    #[inline(always)]
    fn lanes(&mut self, at: usize, r: &[f32; LANES], e: &[f32; LANES], clipped: &[bool; LANES]) {
        let codes: [u16; LANES] = std::array::from_fn(|l| self.slot(r[l]));
        let errors: [u16; LANES] = std::array::from_fn(|l| self.bins.of(e[l], clipped[l]));
        let at = at % BLOCK;
        self.codes[at..at + LANES].copy_from_slice(&codes);
        self.errors[at..at + LANES].copy_from_slice(&errors);
        self.filled = at + LANES;
    }
    #[inline(always)]
    fn one(&mut self, at: usize, r: i32, e: f32, clipped: bool) {
        self.codes[at % BLOCK] = self.slot(r as f32);
        self.errors[at % BLOCK] = self.bins.of(e, clipped);
        self.filled = at % BLOCK + 1;
    }
    #[inline(always)]
    fn non_finite(&mut self, at: usize, _: i32) {
        self.errors[at % BLOCK] = SKIPPED_ERROR;
        self.filled = at % BLOCK + 1;
        self.skipped = true;
    }

    fn end_block(&mut self) {
        let (codes, errors) = (&self.codes[..self.filled], &self.errors[..self.filled]);
        self.counter.add(errors);
        let (seen, touched) = (&mut *self.seen, &mut *self.touched);
        if self.skipped {
            let counted = codes.iter().zip(errors).filter(|&(_, &e)| e != SKIPPED_ERROR);
            mark(seen, touched, counted.map(|(&k, _)| k), self.scan_levels);
        } else {
            mark(seen, touched, codes.iter().copied(), self.scan_levels);
        }
        self.filled = 0;
        self.skipped = false;
    }
}

/// Quantizes finite `xs`, handing each element's result to `sink`.
fn run_fast<R: Round, S: Sink>(xs: &[f32], p: &QParams, sink: &mut S) -> Sums {
    #[cfg(target_arch = "x86_64")]
    if super::has_avx2() {
        #[target_feature(enable = "avx2")]
        fn avx2<R: Round, S: Sink>(xs: &[f32], p: &QParams, sink: &mut S) -> Sums {
            run_lanes::<R, S>(xs, p, sink)
        }
        // SAFETY: the CPU has AVX2.
        return unsafe { avx2::<R, S>(xs, p, sink) };
    }
    run_lanes::<R, S>(xs, p, sink)
}

#[inline(always)]
fn run_lanes<R: Round, S: Sink>(xs: &[f32], p: &QParams, sink: &mut S) -> Sums {
    let b = Bounds::of(p);
    let scale = p.scale;
    let mut total = Sums { n: xs.len() as u64, ..Sums::default() };
    let mut max_abs = [0f32; LANES];
    for (block_index, block) in xs.chunks(BLOCK).enumerate() {
        let mut acc = [[0f32; LANES]; 7];
        let base = block_index * BLOCK;
        let lanes = block.chunks_exact(LANES);
        let tail = lanes.remainder();
        for (j, chunk) in lanes.enumerate() {
            let mut r_lanes = [0f32; LANES];
            let mut e_lanes = [0f32; LANES];
            let mut clipped_lanes = [false; LANES];
            for l in 0..LANES {
                let x = chunk[l];
                let (r, xh) = element::<R>(x, scale, b);
                let e = x - xh;
                let clipped = (r < b.lo + 1.0) | (r > b.hi - 1.0);
                (r_lanes[l], e_lanes[l], clipped_lanes[l]) = (r, e, clipped);
                acc[2][l] += e * e;
                acc[0][l] += e;
                let abs = e.abs();
                acc[1][l] += abs;
                acc[3][l] += x * x;
                acc[4][l] += xh * xh;
                acc[5][l] += x * xh;
                acc[6][l] += (clipped as i32 + (((xh == 0.0) as i32) << 16)) as f32;
                max_abs[l] = if abs > max_abs[l] { abs } else { max_abs[l] };
            }
            sink.lanes(base + j * LANES, &r_lanes, &e_lanes, &clipped_lanes);
        }
        let mut block_sums = Sums::default();
        for (k, &x) in tail.iter().enumerate() {
            let (r, xh) = element::<R>(x, scale, b);
            let clipped = (r < b.lo + 1.0) | (r > b.hi - 1.0);
            sink.one(base + block.len() - tail.len() + k, to_int(r), x - xh, clipped);
            block_sums.add(x, xh, clipped);
        }
        let sum = |a: &[f32; LANES]| a.iter().map(|&v| v as f64).sum::<f64>();
        block_sums.err += sum(&acc[0]);
        block_sums.abs += sum(&acc[1]);
        block_sums.sq += sum(&acc[2]);
        block_sums.x2 += sum(&acc[3]);
        block_sums.xh2 += sum(&acc[4]);
        block_sums.xxh += sum(&acc[5]);
        // Flags were packed as clipped + (zero << 16) per element; a block
        // holds at most 1024 of each, so the f32 sums stay exact.
        let flags: u64 = acc[6].iter().map(|&v| v as u64).sum();
        block_sums.clipped += flags & 0xffff;
        block_sums.zeros += flags >> 16;
        block_sums.max_abs = max_abs.iter().fold(block_sums.max_abs, |m, &v| m.max(v as f64));
        block_sums.n = 0;
        total.merge(&block_sums);
        sink.end_block();
    }
    total
}

/// The sum of squared errors alone, for the searches and the MSE curve.
///
/// Rounding is monotone and keeps integers, so clamping to the codes before
/// rounding equals clamping after: one clamp, no clip markers. Multiplying
/// by 1/scale costs a quarter of a division; x * (1/s) can differ from x / s
/// in the last bit, which moves a value across a rounding edge only at an
/// exact tie. The figures the pane shows divide, as PyTorch does.
fn squared_fast<R: Round>(xs: &[f32], p: &QParams) -> f64 {
    let (lo, hi) = ((p.qmin - p.zero_point) as f32, (p.qmax - p.zero_point) as f32);
    let (scale, inv) = (p.scale, 1.0 / p.scale);
    let mut total = 0.0;
    for block in xs.chunks(BLOCK) {
        let lanes = block.chunks_exact(LANES);
        let mut sum = 0.0;
        for &x in lanes.remainder() {
            let e = (x - R::round(clamp(x * inv, lo, hi)) * scale) as f64;
            sum += e * e;
        }
        let acc = squared_lanes::<R>(&block[..block.len() - block.len() % LANES], lo, hi, scale, inv);
        total += sum + acc.iter().map(|&v| v as f64).sum::<f64>();
    }
    total
}

/// Sums of squared errors by lane: lane l takes elements l, l + 8, l + 16,
/// ... in order, so the AVX2 path and the portable one give the same bits.
/// `xs` holds a multiple of eight values.
fn squared_lanes<R: Round>(xs: &[f32], lo: f32, hi: f32, scale: f32, inv: f32) -> [f32; LANES] {
    #[cfg(target_arch = "x86_64")]
    if super::has_avx2() {
        // SAFETY: the CPU has AVX2.
        return unsafe { squared_avx2::<R>(xs, lo, hi, scale, inv) };
    }
    let mut acc = [0f32; LANES];
    for chunk in xs.chunks_exact(LANES) {
        for l in 0..LANES {
            let e = chunk[l] - R::round(clamp(chunk[l] * inv, lo, hi)) * scale;
            acc[l] += e * e;
        }
    }
    acc
}

/// `squared_lanes` in AVX2 intrinsics: the compiler's own vectorization of
/// the portable loop runs at half this speed.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn squared_avx2<R: Round>(xs: &[f32], lo: f32, hi: f32, scale: f32, inv: f32) -> [f32; LANES] {
    use std::arch::x86_64::*;
    let (lo, hi, scale, inv) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi), _mm256_set1_ps(scale), _mm256_set1_ps(inv));
    let mut acc = _mm256_setzero_ps();
    for chunk in xs.chunks_exact(LANES) {
        // SAFETY: the chunk holds eight f32; an unaligned load reads exactly them.
        let x = unsafe { _mm256_loadu_ps(chunk.as_ptr()) };
        let t = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(x, inv), lo), hi);
        // SAFETY: this function runs with AVX2.
        let e = _mm256_sub_ps(x, _mm256_mul_ps(unsafe { R::round8(t) }, scale));
        acc = _mm256_add_ps(acc, _mm256_mul_ps(e, e));
    }
    let mut out = [0f32; LANES];
    // SAFETY: `out` holds eight f32.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), acc) };
    out
}

/// The general path: any rounding (stochastic draws from `rounder`), any
/// magnitude, and non-finite values, which are coded as PyTorch codes them
/// (NaN to the zero point, +-Inf to the ends) and left out of the sums.
fn run_general<S: Sink>(xs: &[f32], p: &QParams, rounder: &mut Rounder, sink: &mut S) -> Sums {
    let mut sums = Sums::default();
    for (i, &x) in xs.iter().enumerate() {
        if x.is_finite() {
            let (q, clipped) = rounder.quantize(p, x);
            let xh = p.dequantize(q);
            sums.add(x, xh, clipped);
            // Keep the clipping visible in the code, as the fast path does.
            let code = if clipped { if q == p.qmin { q - 1 } else { q + 1 } } else { q };
            sink.one(i, code - p.zero_point, x - xh, clipped);
        } else {
            let code = if x.is_nan() {
                p.zero_point
            } else if x > 0.0 {
                p.qmax
            } else {
                p.qmin
            };
            sink.non_finite(i, code);
        }
        if (i + 1) % BLOCK == 0 {
            sink.end_block();
        }
    }
    if !xs.len().is_multiple_of(BLOCK) {
        sink.end_block();
    }
    sums
}

fn dispatch<S: Sink>(xs: &[f32], p: &QParams, rounder: &mut Rounder, all_finite: bool, sink: &mut S) -> Sums {
    let fast = all_finite && is_exact(p);
    match rounder.mode() {
        Rounding::HalfEven if fast => run_fast::<HalfEven, S>(xs, p, sink),
        Rounding::HalfAway if fast => run_fast::<HalfAway, S>(xs, p, sink),
        Rounding::Floor if fast => run_fast::<Floor, S>(xs, p, sink),
        Rounding::Trunc if fast => run_fast::<Trunc, S>(xs, p, sink),
        _ => run_general(xs, p, rounder, sink),
    }
}

/// Quantizes a run of values that share `p`: the one place weights become
/// codes. `all_finite` lets the vectorized path run.
pub fn quantize_run(xs: &[f32], p: &QParams, rounder: &mut Rounder, all_finite: bool, out: Output) -> Sums {
    match out {
        Output::None => dispatch(xs, p, rounder, all_finite, &mut NoSink),
        Output::Codes(out) => dispatch(xs, p, rounder, all_finite, &mut CodeSink { out, zp: p.zero_point }),
        Output::Tally(tally) => {
            let levels = p.levels() as usize;
            assert!(levels <= CODE_SLOTS, "{levels} levels: more than 16 bits");
            let scan_levels = levels <= 4 * xs.len();
            tally.scanned = scan_levels.then_some(levels);
            let (lowest, highest) = ((p.qmin - p.zero_point) as f32, (p.qmax - p.zero_point) as f32);
            let Tally { bins, counter, seen, touched, codes, errors, .. } = tally;
            let mut sink = TallySink {
                bins: *bins,
                codes,
                errors,
                counter,
                seen,
                touched,
                lowest,
                highest,
                scan_levels,
                filled: 0,
                skipped: false,
            };
            dispatch(xs, p, rounder, all_finite, &mut sink)
        }
    }
}

/// Mean squared error of quantizing finite `xs` with `p`.
pub fn mse(xs: &[f32], p: &QParams, mode: Rounding) -> f64 {
    squared_error(xs, p, &mut Rounder::new(mode, 0)) / xs.len().max(1) as f64
}

/// The sum of squared errors of finite `xs`, and nothing else: the searches' and the
/// curve's inner loop. It multiplies by 1/scale (see `element`), so it can differ from
/// the metrics' sum only where a value sits exactly on a rounding edge.
pub fn squared_error(xs: &[f32], p: &QParams, rounder: &mut Rounder) -> f64 {
    match rounder.mode() {
        _ if !is_exact(p) => run_general(xs, p, rounder, &mut NoSink).sq,
        Rounding::HalfEven => squared_fast::<HalfEven>(xs, p),
        Rounding::HalfAway => squared_fast::<HalfAway>(xs, p),
        Rounding::Floor => squared_fast::<Floor>(xs, p),
        Rounding::Trunc => squared_fast::<Trunc>(xs, p),
        _ => run_general(xs, p, rounder, &mut NoSink).sq,
    }
}

/// Codes (with their clip markers) within the range where f32 holds every integer.
fn is_exact(p: &QParams) -> bool {
    let b = Bounds::of(p);
    b.lo > -EXACT_LIMIT && b.hi < EXACT_LIMIT
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::quant::{Scheme, bit_params, manual_params};
    use proptest::prelude::*;

    /// A run of values, bit-driven parameters for it, and a rounding mode.
    fn runs() -> impl Strategy<Value = (Vec<f32>, QParams, Rounding)> {
        let values = prop::collection::vec(-30f32..30.0, 0..2100);
        let params = (2u32..=16, -20f32..0.0, 0.01f32..20.0, any::<bool>()).prop_map(|(bits, lo, hi, symmetric)| {
            bit_params(if symmetric { Scheme::Symmetric } else { Scheme::Asymmetric }, bits, lo, hi)
        });
        (values, params, modes())
    }

    fn modes() -> impl Strategy<Value = Rounding> {
        prop::sample::select(vec![Rounding::HalfEven, Rounding::HalfAway, Rounding::Floor, Rounding::Trunc])
    }

    #[test]
    fn fast_rounding_matches_std_on_ties_and_edges() {
        for t in [-2.5f32, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -0.49999997, 3.0, -3.0, 1e6 + 0.5, -4194303.5] {
            assert_eq!(HalfEven::round(t), t.round_ties_even(), "{t}");
            assert_eq!(HalfAway::round(t), t.round(), "{t}");
            assert_eq!(Floor::round(t), t.floor(), "{t}");
            assert_eq!(Trunc::round(t), t.trunc(), "{t}");
        }
    }

    proptest! {
        /// The vectorized path and the scalar reference agree on every code
        /// and every sum, and the loop's AVX2 twin (where this CPU has one)
        /// gives the very bits of its baseline build.
        #[test]
        fn fast_path_equals_the_scalar_reference(
            (xs, p, mode) in runs(),
        ) {
            let mut fast_codes = vec![0; xs.len()];
            let mut slow_codes = vec![0; xs.len()];
            let fast = quantize_run(&xs, &p, &mut Rounder::new(mode, 0), true, Output::Codes(&mut fast_codes));
            let slow = run_general(&xs, &p, &mut Rounder::new(mode, 0), &mut CodeSink { out: &mut slow_codes, zp: p.zero_point });
            prop_assert_eq!(&fast_codes, &slow_codes);
            prop_assert_eq!((fast.n, fast.clipped, fast.zeros), (slow.n, slow.clipped, slow.zeros));
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1e-3);
            prop_assert!(close(fast.sq, slow.sq), "sq {} vs {}", fast.sq, slow.sq);
            prop_assert!(close(fast.err, slow.err) || (fast.err - slow.err).abs() < 1e-3);
            prop_assert!(close(fast.xxh, slow.xxh));
            prop_assert!((fast.max_abs - slow.max_abs).abs() < 1e-6);
            let mut base_codes = vec![0; xs.len()];
            let mut sink = CodeSink { out: &mut base_codes, zp: p.zero_point };
            let base = match mode {
                Rounding::HalfEven => run_lanes::<HalfEven, _>(&xs, &p, &mut sink),
                Rounding::HalfAway => run_lanes::<HalfAway, _>(&xs, &p, &mut sink),
                Rounding::Floor => run_lanes::<Floor, _>(&xs, &p, &mut sink),
                _ => run_lanes::<Trunc, _>(&xs, &p, &mut sink),
            };
            prop_assert_eq!(base_codes, fast_codes);
            prop_assert_eq!(base, fast);
        }

        /// The sums-only path (the searches, the MSE curve) gives the
        /// squared error of the full path, and its AVX2 intrinsics give the
        /// very bits of the portable loop.
        #[test]
        fn the_squared_error_alone_is_the_full_paths(
            (xs, p, mode) in runs(),
        ) {
            let full = quantize_run(&xs, &p, &mut Rounder::new(mode, 0), true, Output::None).sq;
            let alone = squared_error(&xs, &p, &mut Rounder::new(mode, 0));
            // x * (1/s) and x / s may differ in the last bit at a tie.
            prop_assert!((full - alone).abs() <= 1e-4 * full.max(1e-3), "{full} vs {alone}");
            let (qlo, qhi) = ((p.qmin - p.zero_point) as f32, (p.qmax - p.zero_point) as f32);
            let whole = &xs[..xs.len() / LANES * LANES];
            let portable = |xs: &[f32]| {
                let mut acc = [0f32; LANES];
                for chunk in xs.chunks_exact(LANES) {
                    for l in 0..LANES {
                        let t = clamp(chunk[l] * (1.0 / p.scale), qlo, qhi);
                        let r = match mode {
                            Rounding::HalfEven => HalfEven::round(t),
                            Rounding::HalfAway => HalfAway::round(t),
                            Rounding::Floor => Floor::round(t),
                            _ => Trunc::round(t),
                        };
                        let e = chunk[l] - r * p.scale;
                        acc[l] += e * e;
                    }
                }
                acc
            };
            let lanes = match mode {
                Rounding::HalfEven => squared_lanes::<HalfEven>(whole, qlo, qhi, p.scale, 1.0 / p.scale),
                Rounding::HalfAway => squared_lanes::<HalfAway>(whole, qlo, qhi, p.scale, 1.0 / p.scale),
                Rounding::Floor => squared_lanes::<Floor>(whole, qlo, qhi, p.scale, 1.0 / p.scale),
                _ => squared_lanes::<Trunc>(whole, qlo, qhi, p.scale, 1.0 / p.scale),
            };
            prop_assert_eq!(lanes, portable(whole));
        }
    }

    #[test]
    fn extended_codes_mark_clipping() {
        let p = bit_params(Scheme::Symmetric, 4, -1.0, 1.0);
        let mut codes = vec![0; 3];
        let s = quantize_run(
            &[2.0, -2.0, 0.6],
            &p,
            &mut Rounder::new(Rounding::HalfEven, 0),
            true,
            Output::Codes(&mut codes),
        );
        assert_eq!(codes, vec![8, -8, 4]); // 0.6 * 7 = 4.2
        assert_eq!(s.clipped, 2);
        assert!(is_clipped(codes[0], &p) && !is_clipped(codes[2], &p));
        assert_eq!(clamp_code(codes[0], &p), 7);
    }

    #[test]
    fn huge_codes_take_the_exact_path() {
        // Manual levels far from zero: |code| beyond 2^22.
        let p = manual_params(1e-3, 1e4, 1e4 + 1.0).unwrap();
        let mut codes = vec![0; 2];
        quantize_run(
            &[10_000.2, 10_000.7],
            &p,
            &mut Rounder::new(Rounding::HalfEven, 0),
            true,
            Output::Codes(&mut codes),
        );
        assert_eq!(codes, vec![10_000_200, 10_000_700]);
    }
}
