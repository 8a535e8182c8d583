//! Known answers of `nf4`, `binary`, `ternary` and `codebook`, and their invariants.

use proptest::prelude::*;

use super::{Nearest, Sorted, fit, fit_remembered, nearest, radix_sorted};
use crate::compute::analysis::analyze;
use crate::compute::formats::tests::tensor;
use crate::compute::formats::{dequantized, find, through_f16};
use crate::compute::quant::{Calibration, Granularity, QuantConfig, Scheme};

fn cfg(name: &str) -> QuantConfig {
    QuantConfig { format: find(name).unwrap(), ..QuantConfig::default() }
}

fn run(name: &str, xs: &[f32], rows: usize, cols: usize) -> (Vec<f32>, Vec<u16>) {
    dequantized(&tensor(xs.to_vec(), rows, cols), &cfg(name)).unwrap()
}

fn bits(xs: &[f32]) -> Vec<u32> {
    xs.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn nf4_codes_of_a_hand_made_block() {
    // absmax 1: x is its own normalized value; 0.03979015 is dQuantizeNF4's
    // first threshold (a tie between 0.0 and 0.0796: the lower code).
    let mut xs = vec![0.0f32; 64];
    let tie = 0.039_790_15f32;
    xs[..8].copy_from_slice(&[1.0, -1.0, 0.5, -0.3, tie, f32::from_bits(tie.to_bits() + 1), 0.85, -0.05]);
    let (xhat, codes) = run("nf4", &xs, 1, 64);
    assert_eq!(&codes[..8], &[15, 0, 12, 4, 7, 8, 14, 6]);
    assert_eq!(&xhat[..8], &[1.0, -1.0, 0.440_709_83, -0.284_441_38, 0.0, 0.079_580_3, 0.722_956_84, -0.091_050_036]);
    assert!(codes[8..].iter().all(|&c| c == 7), "zeros take the code of 0.0");
}

#[test]
fn nf4_scales_by_the_blocks_absmax_across_rows() {
    // 3 rows of 40 in blocks of 32: blocks straddle rows and the last holds 24.
    let xs: Vec<f32> = (0..120).map(|i| if i % 32 == 5 { (i / 32 + 1) as f32 } else { 0.01 }).collect();
    let c = QuantConfig { block_size: 32, ..cfg("nf4") };
    let w = tensor(xs, 3, 40);
    let (xhat, _) = dequantized(&w, &c).unwrap();
    for block in 0..4 {
        assert_eq!(xhat[block * 32 + 5], (block + 1) as f32, "block {block} keeps its absmax");
    }
    let a = analyze(&w, &c).unwrap();
    assert_eq!((a.format.groups, a.format.params[0].1), (4, 1.0));
    assert_eq!(a.format.bpw, 4.0 + 32.0 * 4.0 / 120.0);
    assert_eq!(cfg("nf4").format.format().bits_per_weight(&cfg("nf4"), 4, 256), 4.5);
}

#[test]
fn nf4_zero_equal_and_negative_blocks() {
    let (xhat, codes) = run("nf4", &[0.0; 64], 1, 64);
    assert!(codes.iter().all(|&c| c == 7) && bits(&xhat) == bits(&[0.0; 64]), "+0, not -0");
    let (xhat, codes) = run("nf4", &[0.37; 64], 1, 64);
    assert!(codes.iter().all(|&c| c == 15) && xhat.iter().all(|&x| x == 0.37));
    let negative: Vec<f32> = (0..64).map(|i| -(i as f32 + 1.0) / 64.0).collect();
    let (xhat, codes) = run("nf4", &negative, 1, 64);
    assert_eq!((codes[63], xhat[63]), (0, -1.0));
    assert!(codes.iter().all(|&c| c <= 7), "no positive code in a negative block");
}

#[test]
fn nf4_refuses_block_sizes_bitsandbytes_lacks() {
    for b in [16, 48, 100, 8192] {
        let c = QuantConfig { block_size: b, ..cfg("nf4") };
        assert_eq!(c.validate().unwrap_err().key, "quant.block_size", "{b}");
    }
    for b in [32, 64, 4096] {
        assert!(QuantConfig { block_size: b, ..cfg("nf4") }.validate().is_ok());
    }
}

#[test]
fn binary_sign_of_zero_is_plus() {
    // α = (0 + 0.5 + 1.5 + 1) / 4 = 0.75.
    let (xhat, codes) = run("binary", &[0.0, -0.5, 1.5, -1.0], 1, 4);
    assert_eq!(xhat, [0.75, -0.75, 0.75, -0.75]);
    assert_eq!(codes, [1, 0, 1, 0]);
}

#[test]
fn binary_per_channel_has_one_alpha_per_row() {
    let c = QuantConfig { granularity: Granularity::PerChannel, ..cfg("binary") };
    let w = tensor(vec![1.0, -3.0, 0.5, 0.5], 2, 2);
    assert_eq!(dequantized(&w, &c).unwrap().0, [2.0, -2.0, 0.5, 0.5]);
    assert_eq!(c.format.format().bits_per_weight(&c, 2, 2), 1.0 + 2.0 * 32.0 / 4.0);
}

#[test]
fn ternary_delta_and_alpha_by_hand() {
    // mean |x| = 3.8 / 6, Δ = 0.7 · 3.8 / 6 ≈ 0.4433: 1.0, -2.0, 0.5 pass, α = 3.5 / 3.
    let xs = [0.1, -0.2, 1.0, -2.0, 0.0, 0.5];
    let (xhat, codes) = run("ternary", &xs, 1, 6);
    let alpha = (3.5f64 / 3.0) as f32;
    assert_eq!(xhat, [0.0, 0.0, alpha, -alpha, 0.0, alpha]);
    assert_eq!(codes, [1, 1, 2, 0, 1, 2]);
    let a = analyze(&tensor(xs.to_vec(), 1, 6), &cfg("ternary")).unwrap();
    let delta = 0.7 * ((0.1f32 as f64 + 0.2f32 as f64 + 1.0 + 2.0 + 0.5) / 6.0);
    assert_eq!(a.format.params, [("delta".to_string(), delta), ("alpha".to_string(), alpha as f64)]);
    assert_eq!(a.format.levels, [-alpha, 0.0, alpha]);
}

/// The mean |x| is summed in eight lanes, then lane after lane: 2^53
/// then fifteen 1s sum to 2^53 + 14 (lane 0 holds 2^53 + 1 = 2^53 on the
/// tie, lanes 1 to 7 hold 2 each), where one sum in value order loses
/// every 1 to 2^53.
#[test]
fn the_mean_abs_is_summed_in_eight_lanes() {
    let mut xs = vec![1.0f32; 16];
    xs[0] = 2f32.powi(53);
    let a = analyze(&tensor(xs, 1, 16), &cfg("ternary")).unwrap();
    let mean = (2f64.powi(53) + 14.0) / 16.0;
    assert_eq!(a.format.params[0], ("delta".to_string(), 0.7 * mean));
    assert_ne!(0.7 * mean, 0.7 * 2f64.powi(53) / 16.0, "the order shows");
}

#[test]
fn binary_and_ternary_of_zeros_are_zeros() {
    for name in ["binary", "ternary"] {
        let (xhat, _) = run(name, &[0.0; 8], 2, 4);
        assert_eq!(bits(&xhat), bits(&[0.0; 8]), "{name}");
    }
}

#[test]
fn codebook_refuses_bits_and_groups_it_cannot_use() {
    for b in [0, 9, 16] {
        assert_eq!(QuantConfig { bits: b, ..cfg("codebook") }.validate().unwrap_err().key, "quant.bits");
    }
    let c = QuantConfig { granularity: Granularity::PerGroup, ..cfg("codebook") };
    assert_eq!(c.validate().unwrap_err().key, "quant.granularity");
    let c = QuantConfig { granularity: Granularity::PerGroup, ..cfg("ternary") };
    assert_eq!(c.validate().unwrap_err().key, "quant.granularity");
}

#[test]
fn codebook_keeps_few_values_exactly() {
    let xs = [0.5, -1.25, 0.5, 3.0, -1.25, 0.0];
    assert_eq!(fit(&xs, 2, 0), [-1.25, 0.0, 0.5, 3.0]);
    let (xhat, codes) = run("codebook", &xs, 2, 3);
    assert_eq!(xhat, xs);
    assert_eq!(codes, [2, 0, 2, 3, 0, 1]);
}

#[test]
fn codebook_bpw_counts_the_fp16_codebooks() {
    let c = QuantConfig { bits: 4, ..cfg("codebook") };
    let f = c.format.format();
    assert_eq!(f.bits_per_weight(&c, 16, 64), 4.0 + 16.0 * 16.0 / 1024.0);
    let c = QuantConfig { granularity: Granularity::PerChannel, ..c };
    assert_eq!(f.bits_per_weight(&c, 16, 64), 4.0 + 16.0 * 16.0 * 16.0 / 1024.0);
}

/// Heavy-tailed values of a few scales: x^3 of uniforms, times 10^e.
fn values() -> impl Strategy<Value = Vec<f32>> {
    (prop::collection::vec(-1f32..1.0, 64..1500), -2i32..=2, any::<bool>())
        .prop_map(|(xs, e, cube)| xs.into_iter().map(|x| if cube { x * x * x } else { x } * 10f32.powi(e)).collect())
}

/// A brute-force nearest level: the smallest distance, the lower on a tie.
fn nearest_by_scan(levels: &[f32], x: f32) -> usize {
    (0..levels.len()).fold(0, |best, i| if (x - levels[i]).abs() < (x - levels[best]).abs() { i } else { best })
}

#[test]
fn codebook_fit_is_a_fixed_point_of_lloyd_on_all_values() {
    let xs: Vec<f32> = (0..20_000).map(|i| ((i as f32 * 0.618_034).fract() - 0.5).powi(3)).collect();
    let levels = fit(&xs, 4, 7);
    assert_eq!(levels.len(), 16);
    for (i, &l) in levels.iter().enumerate() {
        let cell: Vec<f64> = xs.iter().filter(|&&x| nearest_by_scan(&levels, x) == i).map(|&x| x as f64).collect();
        assert!(!cell.is_empty(), "level {i} is used");
        let mean = cell.iter().sum::<f64>() / cell.len() as f64;
        assert_eq!(l, through_f16(mean as f32), "level {i} is the fp16 mean of its values");
    }
    assert_eq!(fit(&xs, 4, 7), levels, "deterministic for a seed");
}

/// Plain Lloyd on all values, each assigned by scanning every level: the
/// reference the sorted, prefix-summed fit must reach from the same start.
fn lloyd_by_scan(xs: &[f32], mut levels: Vec<f32>, snap: impl Fn(f64) -> f32) -> Vec<f32> {
    loop {
        let mut sums = vec![(0f64, 0usize); levels.len()];
        for &x in xs {
            let cell = &mut sums[nearest_by_scan(&levels, x)];
            (cell.0, cell.1) = (cell.0 + x as f64, cell.1 + 1);
        }
        let mut next: Vec<f32> =
            levels.iter().zip(&sums).map(|(&l, &(s, n))| if n > 0 { snap(s / n as f64) } else { l }).collect();
        next.sort_by(f32::total_cmp);
        next.dedup();
        if next == levels {
            return levels;
        }
        levels = next;
    }
}

#[test]
fn sorted_lloyd_reaches_the_fixed_point_of_plain_lloyd() {
    let xs: Vec<f32> = (0..30_000).map(|i| ((i as f32 * 0.618_034).fract() - 0.5).powi(3) * 4.0).collect();
    let sorted = Sorted::of(&xs);
    let (lo, hi) = (sorted.values[0], sorted.values[xs.len() - 1]);
    for (k, seed) in [(4, 1), (16, 2), (64, 3)] {
        for start in [sorted.kmeans_plus_plus(k, seed), super::uniform_grid(lo, hi, k)] {
            let ours = sorted.lloyd(start.clone(), |m| m as f32);
            let reference = lloyd_by_scan(&xs, start, |m| m as f32);
            assert_eq!(ours, reference, "{k} levels, f32");
            let stored: Vec<f32> = ours.iter().map(|&l| through_f16(l)).collect();
            let ours = sorted.lloyd(stored.clone(), |m| through_f16(m as f32));
            assert_eq!(ours, lloyd_by_scan(&xs, stored, |m| through_f16(m as f32)), "{k} levels, fp16");
        }
    }
}

#[test]
fn radix_sort_orders_as_a_comparison_sort() {
    let specials = [0.0, -0.0, f32::MIN_POSITIVE, -1e-40, 1e30, -1e30, 1.0, -1.0];
    let xs: Vec<f32> =
        (0..40_000u32).map(|i| specials[i as usize % 8] * ((i.wrapping_mul(2_654_435_761) >> 8) as f32)).collect();
    let keys: Vec<u32> = xs.iter().map(|&x| super::order_key(x)).collect();
    let mut expected = keys.clone();
    expected.sort_unstable();
    assert_eq!(radix_sorted(keys), expected);
    let values: Vec<f32> = Sorted::of(&xs).values;
    assert!(values.windows(2).all(|p| p[0].total_cmp(&p[1]).is_le()));
}

#[test]
fn a_remembered_fit_is_the_fit_of_those_very_values() {
    let xs: Vec<f32> = (0..70_000).map(|i| ((i as f32 * 0.618_034).fract() - 0.5).powi(3)).collect();
    let first = fit_remembered(&xs, 3, 5);
    assert_eq!(first, fit(&xs, 3, 5));
    assert_eq!(fit_remembered(&xs, 3, 5), first, "found again");
    let mut changed = xs.clone();
    changed[69_999] = 0.5;
    assert_eq!(fit_remembered(&changed, 3, 5), fit(&changed, 3, 5), "one value differs");
    assert_eq!(fit_remembered(&xs, 4, 5), fit(&xs, 4, 5), "other bits");
    assert_eq!(fit_remembered(&xs, 4, 6), fit(&xs, 4, 6), "other seed");
}

#[test]
#[ignore = "timing: run with --release"]
fn codebook_fit_of_a_million_values_is_quick() {
    let xs: Vec<f32> = (0..1_000_000).map(|i| ((i as f32 * 0.618_034).fract() - 0.5).powi(3)).collect();
    let start = std::time::Instant::now();
    fit(&xs, 8, 0);
    let took = start.elapsed();
    assert!(took.as_millis() <= 30, "{took:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn nearest_is_the_nearest_level(xs in values(), b in 1u32..=8) {
        let levels = fit(&xs, b, 1);
        prop_assert!(levels.len() <= 1 << b && levels.windows(2).all(|p| p[0] < p[1]));
        prop_assert!(levels.iter().all(|&l| through_f16(l) == l), "fp16 levels");
        let lookup = Nearest::new(&levels);
        // Ties half-way between levels and values beyond them, too.
        let between = levels.windows(2).map(|p| p[0] + (p[1] - p[0]) / 2.0);
        let beyond = [levels[0] - 1.0, levels[levels.len() - 1] + 1.0];
        for x in xs.iter().copied().chain(between).chain(beyond) {
            prop_assert_eq!(nearest(&levels, x), nearest_by_scan(&levels, x));
            prop_assert_eq!(lookup.of(x), nearest_by_scan(&levels, x), "{}", x);
        }
        // Where the scan's distances round to ties: the ends.
        for x in [f32::MAX, -f32::MAX, f32::INFINITY, f32::NEG_INFINITY] {
            prop_assert_eq!(lookup.of(x), nearest(&levels, x));
        }
    }

    #[test]
    fn codebook_is_never_worse_than_int(xs in values(), b in 1u32..=8, per_channel in any::<bool>()) {
        let granularity = if per_channel { Granularity::PerChannel } else { Granularity::PerTensor };
        let rows = if xs.len() % 2 == 0 { 2 } else { 1 };
        let w = tensor(xs.clone(), rows, xs.len() / rows);
        let ours = analyze(&w, &QuantConfig { bits: b, granularity, ..cfg("codebook") }).unwrap().metrics.mse;
        if b == 1 {
            // No int has one bit: the uniform grid of two levels is {min, max}.
            let (lo, hi) = crate::compute::calibrate::min_max(&xs);
            let grid = [lo, hi];
            let uniform = xs.iter().map(|&x| ((x - grid[nearest_by_scan(&grid, x)]) as f64).powi(2)).sum::<f64>();
            prop_assert!(ours <= uniform / xs.len() as f64, "1 bit: codebook {} > uniform grid", ours);
            return Ok(());
        }
        for scheme in [Scheme::Asymmetric, Scheme::Symmetric] {
            for calibration in [Calibration::MinMax, Calibration::Mse] {
                let c = QuantConfig { bits: b, scheme, calibration, granularity, ..QuantConfig::default() };
                let int = analyze(&w, &c).unwrap().metrics.mse;
                prop_assert!(ours <= int, "{} bits, {:?} {:?}: codebook {} > int {}", b, scheme, calibration, ours, int);
            }
        }
    }

    #[test]
    fn quantizing_x_hat_again_changes_nothing(xs in values(), b in 1u32..=8, per_channel in any::<bool>()) {
        let granularity = if per_channel { Granularity::PerChannel } else { Granularity::PerTensor };
        let rows = if xs.len() % 2 == 0 { 2 } else { 1 };
        for name in ["nf4", "binary", "ternary", "codebook"] {
            let c = QuantConfig { bits: b, granularity, block_size: 32, ..cfg(name) };
            let w = tensor(xs.clone(), rows, xs.len() / rows);
            let (xhat, _) = dequantized(&w, &c).unwrap();
            let again = dequantized(&tensor(xhat.clone(), w.rows, w.cols), &c).unwrap().0;
            prop_assert_eq!(bits(&xhat), bits(&again), "{}", name);
        }
    }
}
