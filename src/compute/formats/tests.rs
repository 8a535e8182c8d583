//! Known answers of the formats, and the invariants every format keeps.

use super::*;
use crate::compute::analysis::analyze;
use crate::compute::quant::Granularity;
use crate::compute::weights::Weights;

pub(crate) fn tensor(values: Vec<f32>, rows: usize, cols: usize) -> Weights {
    Weights::in_memory(values, rows, cols)
}

/// A real-shaped tensor: heavy tails (Student t, 4 degrees of freedom), 64 x 256.
pub(crate) fn student_t_64x256() -> Weights {
    use crate::compute::weights::{Distribution, SyntheticSpec, synthetic};
    let spec = SyntheticSpec {
        distribution: Distribution::StudentT,
        rows: 64,
        cols: 256,
        seed: 9,
        dof: 4.0,
        outlier_fraction: 0.0,
    };
    synthetic(&spec).unwrap()
}

fn cfg(name: &str) -> QuantConfig {
    QuantConfig { format: find(name).unwrap(), ..QuantConfig::default() }
}

#[test]
fn q4_0_matches_the_reference_rule_by_hand() {
    // max |x| is -2.0 (first of largest |x|): d = -2 / -8 = 0.25, id = 4.
    let mut xs: Vec<f32> = (0..32).map(|i| (i as f32 - 16.0) / 8.0).collect();
    xs[0] = -2.0;
    let w = tensor(xs.clone(), 1, 32);
    let (xhat, codes) = dequantized(&w, &cfg("q4_0")).unwrap();
    // x = 1.875: 1.875 * -4 + 8.5 = 1.0 -> code 1 -> (1 - 8) * 0.25 = -1.75? No: d = 0.25 with sign of max.
    // d = max / -8 = -2 / -8 = 0.25; id = 4; x0 = 1.875 * 4 = 7.5; 7.5 + 8.5 = 16 -> min(15) = 15 -> (15 - 8) * 0.25 = 1.75.
    assert_eq!(codes[31], 15);
    assert_eq!(xhat[31], 1.75);
    // x = -2: -8 + 8.5 = 0.5 -> 0 -> -8 * 0.25 = -2.
    assert_eq!((codes[0], xhat[0]), (0, -2.0));
    // x = 0.125 (i = 17): 0.5 + 8.5 = 9 -> code 9 -> 0.25.
    assert_eq!((codes[17], xhat[17]), (9, 0.25));
}

#[test]
fn q8_0_rounds_half_away_and_stores_d_in_fp16() {
    let mut xs = vec![0.0f32; 32];
    xs[0] = 1.27;
    xs[1] = 0.005; // 0.005 / (1.27/127) = 0.5 -> 1 (away from zero)
    xs[2] = -0.005;
    let w = tensor(xs, 1, 32);
    let (xhat, codes) = dequantized(&w, &cfg("q8_0")).unwrap();
    let d16 = through_f16(1.27f32 / 127.0);
    assert_eq!((codes[0], xhat[0]), (255, 127.0 * d16));
    assert_eq!((codes[1], codes[2]), (129, 127));
    assert_eq!(xhat[3], 0.0);
}

#[test]
fn q4_1_all_equal_block_is_its_minimum() {
    let w = tensor(vec![0.3f32; 64], 2, 32);
    let (xhat, codes) = dequantized(&w, &cfg("q4_1")).unwrap();
    assert!(codes.iter().all(|&c| c == 0));
    assert!(xhat.iter().all(|&x| x == through_f16(0.3)));
}

#[test]
fn a_row_not_a_multiple_of_the_block_is_refused_naming_it() {
    let w = tensor(vec![1.0; 40], 1, 40);
    let err = analyze(&w, &cfg("q5_0")).unwrap_err().to_string();
    assert!(err.starts_with("quant.format") && err.contains("blocks of 32") && err.contains("40"), "{err}");
}

#[test]
fn int_groups_refuse_a_size_that_does_not_divide_the_rows() {
    let w = tensor(vec![1.0; 96], 1, 96);
    let c = QuantConfig { granularity: Granularity::PerGroup, group_size: 64, ..QuantConfig::default() };
    assert!(analyze(&w, &c).unwrap_err().to_string().starts_with("quant.group_size"));
    let c = QuantConfig { granularity: Granularity::PerGroup, group_size: 48, ..QuantConfig::default() };
    assert!(c.validate().unwrap_err().to_string().starts_with("quant.group_size"));
}

#[test]
fn int_groups_apply_the_asymmetric_formula_per_group() {
    // Two groups of 32: [0, 31] and [0, 3.1]; 4 bits, min-max: scales 31/15 and 3.1/15.
    let xs: Vec<f32> = (0..32).map(|i| i as f32).chain((0..32).map(|i| i as f32 / 10.0)).collect();
    let w = tensor(xs, 1, 64);
    let c = QuantConfig { bits: 4, granularity: Granularity::PerGroup, group_size: 32, ..QuantConfig::default() };
    let a = analyze(&w, &c).unwrap();
    assert_eq!(a.format.groups, 2);
    assert_eq!(a.format.params[0], ("scale".to_string(), (31.0f32 / 15.0) as f64));
    // Each group's error is at most half its own step.
    let (xhat, _) = dequantized(&w, &c).unwrap();
    for (i, (x, xh)) in w.values.iter().zip(&xhat).enumerate() {
        let step = if i < 32 { 31.0 / 15.0 } else { 3.1 / 15.0 };
        assert!((x - xh).abs() <= step / 2.0 + 1e-6, "{i}: {x} -> {xh}");
    }
    assert_eq!(a.format.bpw, 4.0 + 64.0 / 32.0);
}

#[test]
fn bits_per_weight_of_the_llama_formats() {
    let bpw: Vec<f64> = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1"]
        .iter()
        .map(|n| find(n).unwrap().format().bits_per_weight(&QuantConfig::default(), 4, 256))
        .collect();
    assert_eq!(bpw, [8.5, 4.5, 5.0, 5.5, 6.0]);
}

/// The formats whose scales are stored exactly (fp16, E8M0 or an int grid's
/// recomputed parameters): their x̂ must be an exact fixed point.
const EXACT_SCALE: &[&str] = &["int", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "tq2_0", "mxfp8", "mxfp4"];

#[test]
fn every_format_keeps_its_invariants_on_a_real_shaped_tensor() {
    let w = student_t_64x256();
    // Better than x̂ = 0 (a 1-bit format's error on this tensor is about 1).
    let mean_square = w.values.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / w.values.len() as f64;
    for kind in BUILTIN_FORMATS {
        let c = QuantConfig { format: *kind, ..QuantConfig::default() };
        let a = analyze(&w, &c).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(a.metrics.count as usize, w.values.len(), "{kind}");
        assert!(a.metrics.mse > 0.0 && a.metrics.mse < mean_square, "{kind}: mse {}", a.metrics.mse);
        assert!(a.metrics.levels_used <= a.metrics.levels_available, "{kind}");
        let hist: u64 = a.error_hist.rounding.total() + a.error_hist.clipped.total();
        assert_eq!(hist, w.values.len() as u64, "{kind}: every error counted once");
        // Quantizing x̂ again changes nothing, except where the reference
        // itself is not idempotent: the K-quants' scale search moves under 1%
        // of the values of a second pass, and an fp32 scale amax/max may not
        // survive the round trip (tests_floats.rs tests when it does).
        let (xhat, _) = dequantized(&w, &c).unwrap();
        let again = dequantized(&tensor(xhat.clone(), w.rows, w.cols), &c).unwrap().0;
        let moved = xhat.iter().zip(&again).filter(|(a, b)| a != b).count();
        let allowed = if kind.name().ends_with("_k") {
            xhat.len() / 100
        } else if EXACT_SCALE.contains(&kind.name()) {
            0
        } else {
            xhat.len() / 10
        };
        assert!(moved <= allowed, "{kind}: {moved} values of x̂ move on a second pass");
    }
}

proptest::proptest! {
    #[test]
    fn the_inline_roundf_is_roundf(bits in proptest::num::u32::ANY) {
        let v = f32::from_bits(bits);
        proptest::prop_assume!(v.is_finite());
        proptest::prop_assert_eq!(llama::round_half_away(v).to_bits(), v.round().to_bits());
    }
}

#[test]
fn the_inline_roundf_keeps_the_ties_and_signs_of_roundf() {
    for v in [0.5f32, -0.5, 1.5, -1.5, 2.5, 0.49999997, -0.49999997, 8388607.5, -0.0, 0.0, 126.5, -126.5] {
        assert_eq!(llama::round_half_away(v).to_bits(), v.round().to_bits(), "{v}");
    }
}

/// The groups of a row-major tensor as the pipeline cuts them (channels along rows).
fn groups_of(values: &[f32], cols: usize, grouping: Grouping) -> Vec<&[f32]> {
    match grouping {
        Grouping::Tensor => vec![values],
        Grouping::Channel => values.chunks(cols).collect(),
        Grouping::Groups(n) => values.chunks(n).collect(),
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Inside a group's range, x̂ is at most half the gap between the two
    /// levels around x away: the nearest level, up to the fp16 rounding of a
    /// stored scale (codes are computed with the float32 scale, as the
    /// references do), which moves the top code of q8_0 by 127·2^-11 of a step.
    /// The K-quants are left out (their levels are the union of eight
    /// sub-grids), and ternary: TWN's threshold 0.7·mean|x| is by design not
    /// the midpoint between 0 and α.
    #[test]
    fn inside_the_range_every_format_rounds_to_a_nearest_level(
        seed in 0u64..1000, scale in 0.01f32..10.0, heavy in proptest::bool::ANY,
    ) {
        use crate::compute::weights::{Distribution, SyntheticSpec, synthetic};
        let distribution = if heavy { Distribution::StudentT } else { Distribution::Normal };
        let spec = SyntheticSpec { distribution, rows: 4, cols: 256, seed, dof: 3.0, outlier_fraction: 0.0 };
        let mut w = synthetic(&spec).unwrap();
        w.values.iter_mut().for_each(|x| *x *= scale);
        let amax = w.values.iter().fold(0f32, |m, x| m.max(x.abs()));
        let facts = TensorFacts { rows: w.rows, cols: w.cols, amax };
        for kind in BUILTIN_FORMATS.iter().filter(|k| !k.name().ends_with("_k") && k.name() != "ternary") {
            let c = QuantConfig { format: *kind, ..QuantConfig::default() };
            let format = kind.format();
            let (xhat, _) = dequantized(&w, &c).unwrap();
            let groups = groups_of(&w.values, w.cols, format.grouping(&c));
            let mut start = 0;
            for g in groups {
                let levels = format.levels(&c, &facts, g);
                for (i, &x) in g.iter().enumerate() {
                    let xh = xhat[start + i];
                    let above = levels.partition_point(|&l| l < x);
                    if above == 0 || above == levels.len() {
                        continue; // beyond the range: clipped, not rounded
                    }
                    let gap = levels[above] - levels[above - 1];
                    let slack = gap * (127.0 / 2048.0) + 4.0 * f32::EPSILON * x.abs();
                    proptest::prop_assert!(
                        (x - xh).abs() <= gap / 2.0 + slack,
                        "{}: x {} -> {} between levels {} and {}", kind, x, xh, levels[above - 1], levels[above]
                    );
                }
                start += g.len();
            }
        }
    }
}

/// The legacy formats' block scale as `ggml-quants.c` loops for it (strict
/// comparisons, first of equal values kept), to check the vectorized scan.
fn reference_block_params(name: &str, xs: &[f32]) -> Vec<u32> {
    let bits = if name.starts_with("q5") { 5 } else { 4 };
    if name.ends_with("_0") {
        let (mut amax, mut max) = (0f32, 0f32);
        for &v in xs {
            if amax < v.abs() {
                (amax, max) = (v.abs(), v);
            }
        }
        vec![through_f16(max / -((1 << (bits - 1)) as f32)).to_bits()]
    } else {
        let (mut lo, mut hi) = (f32::MAX, -f32::MAX);
        for &v in xs {
            if v < lo {
                lo = v;
            }
            if v > hi {
                hi = v;
            }
        }
        vec![through_f16((hi - lo) / ((1u32 << bits) - 1) as f32).to_bits(), through_f16(lo).to_bits()]
    }
}

proptest::proptest! {
    /// Blocks drawn from a few values, ±0 among them, so ties and signed
    /// zeros are common: d and m are the reference loops' to the bit.
    #[test]
    fn legacy_block_scales_are_the_reference_loops(picks in proptest::collection::vec(0usize..7, 32)) {
        const VALUES: [f32; 7] = [0.0, -0.0, 1.5, -1.5, 0.25, -3.0, 3.0];
        let xs: Vec<f32> = picks.iter().map(|&i| VALUES[i]).collect();
        let facts = TensorFacts { rows: 1, cols: 32, amax: 3.0 };
        for name in ["q4_0", "q5_0", "q4_1", "q5_1"] {
            let c = cfg(name);
            let got: Vec<u32> = c.format.format().params(&c, &facts, &xs).iter().map(|(_, v)| (*v as f32).to_bits()).collect();
            proptest::prop_assert_eq!(&got, &reference_block_params(name, &xs), "{} on {:?}", name, xs);
        }
    }
}

proptest::proptest! {
    #[test]
    fn trunc_small_is_as_i32_below_2_pow_30(t in -1.0e9f32..1.0e9) {
        proptest::prop_assert_eq!(trunc_small(t), t as i32);
    }
}

#[test]
fn trunc_small_takes_any_float_without_failing() {
    for t in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3e38, -3e38] {
        assert!(trunc_small(t).abs() <= 1 << 30, "{t}");
    }
}

/// The buffers kept from one analysis for the next (`run::Spare`) change
/// no figure: a tensor analysed again after another, smaller or larger and
/// with clipped values, gives the same bits.
#[test]
fn an_analysis_after_others_gives_the_same_figures() {
    let big = student_t_64x256();
    let mut small_values: Vec<f32> = (0..32 * 64).map(|i| ((i * 37) % 101) as f32 / 10.0 - 5.0).collect();
    small_values[5] = f32::INFINITY;
    let small = tensor(small_values, 32, 64);
    for name in ["q4_0", "fp8-e4m3", "ternary", "nf4", "mxfp4"] {
        let cfg = QuantConfig { format: find(name).unwrap(), ..QuantConfig::default() };
        let first = analyze(&big, &cfg).unwrap();
        let other = analyze(&small, &cfg).unwrap();
        assert_eq!(analyze(&big, &cfg).unwrap(), first, "{name}");
        assert_eq!(analyze(&small, &cfg).unwrap(), other, "{name}");
    }
}

/// A tensor long enough that a per-tensor group is fitted once and cut
/// into parts (`run::PART`), 256 x 1024.
fn long_tensor() -> Weights {
    use crate::compute::weights::{Distribution, SyntheticSpec, synthetic};
    let spec = SyntheticSpec {
        distribution: Distribution::StudentT,
        rows: 256,
        cols: 1024,
        seed: 4,
        dof: 5.0,
        outlier_fraction: 0.0,
    };
    synthetic(&spec).unwrap()
}

fn with_non_finite(mut w: Weights) -> Weights {
    for (i, v) in [(5, f32::NAN), (700, f32::INFINITY), (9000, f32::NEG_INFINITY)] {
        w.values[i] = v;
    }
    w.non_finite = 3;
    w
}

/// The Formats table's path (`measure_with`: sums alone, no histogram)
/// gives `analyze_with`'s figures and sizes bit for bit, for every row of
/// every built-in format, with and without non-finite values, on a tensor
/// whose per-tensor groups are cut into parts.
#[test]
fn measuring_alone_gives_the_analysis_figures_bit_for_bit() {
    use crate::compute::analysis::{analyze_with, measure_with, metrics_of, weight_stats};
    use crate::compute::watch::Watch;
    for w in [student_t_64x256(), with_non_finite(student_t_64x256()), long_tensor(), with_non_finite(long_tensor())] {
        let stats = weight_stats(&w);
        for (name, cfg) in table::default_rows() {
            let full = analyze_with(&w, &stats, &cfg, &Watch::NONE);
            let alone = measure_with(&w, &stats, &cfg, &Watch::NONE);
            match (full, alone) {
                (Ok(a), Ok(m)) => {
                    let metrics = metrics_of(&m.sums, a.metrics.levels_used, a.metrics.levels_available);
                    assert_eq!(format!("{metrics:?}"), format!("{:?}", a.metrics), "{name}");
                    assert_eq!((m.storage, m.bpw.to_bits()), (a.storage, a.format.bpw.to_bits()), "{name}");
                }
                (Err(a), Err(m)) => assert_eq!(a, m, "{name}"),
                (a, m) => panic!("{name}: {:?} against {:?}", a.map(|a| a.metrics), m.map(|m| m.sums)),
            }
        }
    }
}

/// A built-in format with its fit hidden: the pipeline quantizes each of
/// its groups whole, as before groups were cut into parts.
struct Unfitted(&'static str);

impl Unfitted {
    fn of(&self) -> &'static dyn NumberFormat {
        find(self.0).unwrap().format()
    }
}

impl NumberFormat for Unfitted {
    fn name(&self) -> &'static str {
        self.of().name()
    }
    fn summary(&self) -> &'static str {
        self.of().summary()
    }
    fn settings(&self) -> &'static [&'static str] {
        self.of().settings()
    }
    fn check(&self, cfg: &QuantConfig, cols: Option<usize>) -> Result<(), crate::compute::quant::InvalidSetting> {
        self.of().check(cfg, cols)
    }
    fn grouping(&self, cfg: &QuantConfig) -> Grouping {
        self.of().grouping(cfg)
    }
    fn code_bits(&self, cfg: &QuantConfig) -> u32 {
        self.of().code_bits(cfg)
    }
    fn bits_per_weight(&self, cfg: &QuantConfig, rows: usize, cols: usize) -> f64 {
        self.of().bits_per_weight(cfg, rows, cols)
    }
    fn quantize(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], out: Quantized<'_>) {
        self.of().quantize(cfg, tensor, xs, out)
    }
    fn levels(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32]) -> Vec<f32> {
        self.of().levels(cfg, tensor, xs)
    }
    fn params(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32]) -> Vec<(&'static str, f64)> {
        self.of().params(cfg, tensor, xs)
    }
    fn ecosystem(&self, cfg: &QuantConfig) -> String {
        self.of().ecosystem(cfg)
    }
}

/// A fitted format that clips: x̂ = the nearest of ±1 and 0, beyond ±1.5
/// clipped. Its parts count their clipped values like any block does.
struct Clipping {
    fitted: bool,
}

impl NumberFormat for Clipping {
    fn name(&self) -> &'static str {
        "clipping"
    }
    fn summary(&self) -> &'static str {
        "a test format"
    }
    fn settings(&self) -> &'static [&'static str] {
        &[]
    }
    fn check(&self, _: &QuantConfig, _: Option<usize>) -> Result<(), crate::compute::quant::InvalidSetting> {
        Ok(())
    }
    fn grouping(&self, _: &QuantConfig) -> Grouping {
        Grouping::Tensor
    }
    fn code_bits(&self, _: &QuantConfig) -> u32 {
        2
    }
    fn bits_per_weight(&self, _: &QuantConfig, _: usize, _: usize) -> f64 {
        2.0
    }
    fn quantize(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], out: Quantized<'_>) {
        let fit = GroupFit { levels: self.levels(cfg, tensor, xs), params: Vec::new() };
        self.quantize_part(cfg, tensor, &fit, xs, out)
    }
    fn quantize_part(&self, _: &QuantConfig, _: &TensorFacts, _: &GroupFit, xs: &[f32], out: Quantized<'_>) {
        for (i, &x) in xs.iter().enumerate() {
            let code = x.round().clamp(-1.0, 1.0);
            (out.xhat[i], out.codes[i], out.clipped[i]) = (code, (code + 1.0) as u16, x.abs() > 1.5);
        }
    }
    fn fit(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32]) -> Option<GroupFit> {
        self.fitted.then(|| GroupFit { levels: self.levels(cfg, tensor, xs), params: Vec::new() })
    }
    fn levels(&self, _: &QuantConfig, _: &TensorFacts, _: &[f32]) -> Vec<f32> {
        vec![-1.0, 0.0, 1.0]
    }
    fn params(&self, _: &QuantConfig, _: &TensorFacts, _: &[f32]) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
    fn ecosystem(&self, _: &QuantConfig) -> String {
        "nowhere".into()
    }
}

/// Cutting a long fitted group into parts on every core changes no bit of
/// the analysis, x̂ or the codes: against the same format quantized whole
/// (its fit hidden), on one thread and on all, with a clipped value or none.
#[test]
fn a_group_cut_into_parts_gives_the_bits_of_the_whole_group() {
    use crate::compute::parallel::on_one_thread;
    static WHOLE: [Unfitted; 3] = [Unfitted("binary"), Unfitted("ternary"), Unfitted("codebook")];
    static CLIPPING: [Clipping; 2] = [Clipping { fitted: true }, Clipping { fitted: false }];
    let mut clipped = long_tensor();
    clipped.values.iter_mut().for_each(|x| *x = x.clamp(-1.4, 1.4));
    clipped.values[200_000] = 3.0;
    let cases = [
        (find("binary").unwrap(), FormatKind::new(&WHOLE[0]), long_tensor()),
        (find("ternary").unwrap(), FormatKind::new(&WHOLE[1]), long_tensor()),
        (find("codebook").unwrap(), FormatKind::new(&WHOLE[2]), long_tensor()),
        (FormatKind::new(&CLIPPING[0]), FormatKind::new(&CLIPPING[1]), clipped),
    ];
    for (fitted, whole, w) in cases {
        let cfg = |format| QuantConfig { format, bits: 3, ..QuantConfig::default() };
        let (a, b) = (analyze(&w, &cfg(fitted)).unwrap(), analyze(&w, &cfg(whole)).unwrap());
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{fitted}");
        assert_eq!(format!("{:?}", on_one_thread(|| analyze(&w, &cfg(fitted)).unwrap())), format!("{a:?}"), "{fitted}");
        assert_eq!(dequantized(&w, &cfg(fitted)).unwrap(), dequantized(&w, &cfg(whole)).unwrap(), "{fitted}");
    }
    // Rows long enough to be cut, beside one that holds a NaN: every row is
    // then tallied value by value, as when no group is cut.
    use crate::compute::weights::{Distribution, SyntheticSpec, synthetic};
    let spec = SyntheticSpec {
        distribution: Distribution::StudentT,
        rows: 3,
        cols: 70_000,
        seed: 5,
        dof: 5.0,
        outlier_fraction: 0.0,
    };
    let mut w = synthetic(&spec).unwrap();
    (w.values[7], w.non_finite) = (f32::NAN, 1);
    for (i, name) in ["binary", "ternary", "codebook"].iter().enumerate() {
        let cfg = |format| QuantConfig {
            format,
            bits: 3,
            granularity: Granularity::PerChannel,
            channel_axis: 0,
            ..QuantConfig::default()
        };
        let (a, b) =
            (analyze(&w, &cfg(find(name).unwrap())).unwrap(), analyze(&w, &cfg(FormatKind::new(&WHOLE[i]))).unwrap());
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{name} per channel with a NaN");
    }
}
