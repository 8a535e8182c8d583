//! Known answers of the floating-point formats.

use super::super::minifloat::{E2M1, E4M3, E5M2, Ties};
use super::super::tests::tensor;
use super::super::*;
use crate::compute::analysis::analyze;
use crate::compute::quant::Granularity;
use crate::compute::weights::Weights;

const FLOATS: [&str; 6] = ["fp8-e4m3", "fp8-e5m2", "fp4-e2m1", "mxfp8", "mxfp4", "nvfp4"];

fn cfg(name: &str) -> QuantConfig {
    QuantConfig { format: find(name).unwrap(), ..QuantConfig::default() }
}

/// A 1 × 32 row holding `xs` then `top` (so amax = top) then zeros.
fn row(xs: &[f32], top: f32) -> Weights {
    let mut v = xs.to_vec();
    v.push(top);
    v.resize(32, 0.0);
    tensor(v, 1, 32)
}

#[test]
fn e4m3_rounds_ties_to_even_and_keeps_subnormals() {
    // amax 448: the scale is exactly 1.
    let xs =
        [1.0625, 1.1875, 2f32.powi(-9), 2f32.powi(-10), 3.0 * 2f32.powi(-10), -2f32.powi(-11), 7.0 * 2f32.powi(-9)];
    let (xhat, codes) = dequantized(&row(&xs, 448.0), &cfg("fp8-e4m3")).unwrap();
    assert_eq!(&xhat[..7], &[1.0, 1.25, 2f32.powi(-9), 0.0, 2f32.powi(-8), -0.0, 7.0 * 2f32.powi(-9)]);
    assert!(xhat[5].is_sign_negative(), "-0 kept, as ml_dtypes");
    assert_eq!(&codes[..8], &[0x38, 0x3A, 0x01, 0x00, 0x02, 0x80, 0x07, 0x7E]);
}

#[test]
fn e2m1_rounds_ties_to_even_on_its_grid() {
    let xs = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -5.0, 0.3];
    let (xhat, _) = dequantized(&row(&xs, 6.0), &cfg("fp4-e2m1")).unwrap();
    assert_eq!(&xhat[..9], &[0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, -4.0, 0.5]);
}

#[test]
fn mxfp4_rounds_ties_toward_zero_and_stores_zero_as_code_0_as_gguf() {
    // amax 6: E8M0 byte 127 + floor(log2 6) - 2 = 127, scale 1.
    let xs = [0.25, 0.75, 1.75, 2.5, 3.5, 5.0, -1.75, -0.1];
    let w = row(&xs, 6.0);
    let (xhat, codes) = dequantized(&w, &cfg("mxfp4")).unwrap();
    assert_eq!(&xhat[..8], &[0.0, 0.5, 1.5, 2.0, 3.0, 4.0, -1.5, 0.0]);
    assert!(xhat[7].is_sign_positive());
    assert_eq!(&codes[..9], &[0, 1, 3, 4, 5, 6, 11, 0, 7]);
    assert_eq!(analyze(&w, &cfg("mxfp4")).unwrap().format.params[0], ("e8m0".into(), 127.0));
}

#[test]
fn the_casts_saturate_at_their_max() {
    for (f, big, max) in [(E4M3, 464.0, 448.0), (E5M2, 61440.0, 57344.0), (E2M1, 100.0, 6.0)] {
        for sign in [1.0f32, -1.0] {
            let cast = f.cast(sign * big, Ties::Even);
            assert_eq!((cast.value, cast.clipped), (sign * max, true), "{f:?}");
        }
        assert!(!f.cast(max, Ties::Even).clipped);
    }
    assert_eq!(E5M2.cast(60000.0, Ties::Even).value, 57344.0);
}

#[test]
fn an_all_zero_tensor_is_zero_in_every_format() {
    for name in FLOATS {
        let w = tensor(vec![0.0; 64], 2, 32);
        let (xhat, _) = dequantized(&w, &cfg(name)).unwrap();
        assert!(xhat.iter().all(|x| x.to_bits() == 0), "{name}: {xhat:?}");
        let a = analyze(&w, &cfg(name)).unwrap();
        assert!(a.format.params.iter().all(|(_, v)| v.is_finite()), "{name}");
    }
}

#[test]
fn all_equal_blocks() {
    let w = tensor(vec![0.37; 64], 2, 32);
    // MX: 0.37 = 1.48 · 2^-2; mxfp8's scale 2^-10 gives 378.88 -> 384, mxfp4's 2^-4 gives 5.92 -> 6.
    for name in ["mxfp8", "mxfp4"] {
        assert!(dequantized(&w, &cfg(name)).unwrap().0.iter().all(|&x| x == 0.375), "{name}");
    }
    for name in ["fp8-e4m3", "fp8-e5m2", "fp4-e2m1", "nvfp4"] {
        let (xhat, _) = dequantized(&w, &cfg(name)).unwrap();
        assert!(xhat.iter().all(|&x| x == xhat[0] && (x - 0.37).abs() < 1e-6), "{name}: {}", xhat[0]);
    }
}

#[test]
fn a_negative_only_block() {
    let xs: Vec<f32> = (1..=32).map(|i| -(i as f32) / 8.0).collect();
    let (xhat, codes) = dequantized(&tensor(xs, 1, 32), &cfg("mxfp4")).unwrap();
    // amax 4: scale 1; -0.125 and the tie -0.25 go to +0, -0.375 to -0.5.
    assert_eq!((xhat[0].to_bits(), xhat[1].to_bits(), xhat[2], xhat[31]), (0, 0, -0.5, -4.0));
    assert!(codes[2..].iter().all(|&c| c & 8 != 0));
    let xs: Vec<f32> = (1..=32).map(|i| -(i as f32) / 8.0).collect();
    let (xhat, _) = dequantized(&tensor(xs.clone(), 1, 32), &cfg("fp8-e4m3")).unwrap();
    assert!(xhat.iter().zip(&xs).all(|(xh, x)| xh.is_sign_negative() && (xh - x).abs() <= x.abs() / 16.0));
}

#[test]
fn nvfp4_follows_modelopt_by_hand() {
    // Tensor amax 2688: g = 1. The second block's amax 3 gives s_b = 0.5.
    let mut xs = vec![0.0f32; 32];
    xs[0] = 2688.0;
    xs[16] = 3.0;
    xs[17] = 0.625; // 0.625 / 0.5 = 1.25 -> 1 (even)
    xs[18] = -0.01; // -0.02 -> -0
    let w = tensor(xs, 1, 32);
    let (xhat, _) = dequantized(&w, &cfg("nvfp4")).unwrap();
    assert_eq!((xhat[0], xhat[16], xhat[17]), (2688.0, 3.0, 0.5));
    assert!(xhat[18] == 0.0 && xhat[18].is_sign_negative());
    let a = analyze(&w, &cfg("nvfp4")).unwrap();
    assert_eq!(a.format.params, [("block_scale".into(), 448.0), ("global_scale".into(), 1.0)]);
}

#[test]
fn bits_per_weight_count_every_scale() {
    let bpw = |name: &str, granularity| {
        let c = QuantConfig { granularity, ..cfg(name) };
        c.format.format().bits_per_weight(&c, 4, 256)
    };
    let tensor_scale = 32.0 / 1024.0;
    assert_eq!(bpw("fp8-e4m3", Granularity::PerTensor), 8.0 + tensor_scale);
    assert_eq!(bpw("fp8-e5m2", Granularity::PerChannel), 8.0 + 4.0 * tensor_scale);
    assert_eq!(bpw("fp4-e2m1", Granularity::PerTensor), 4.0 + tensor_scale);
    assert_eq!(bpw("mxfp8", Granularity::PerTensor), 8.25);
    assert_eq!(bpw("mxfp4", Granularity::PerTensor), 4.25);
    assert_eq!(bpw("nvfp4", Granularity::PerTensor), 4.5 + tensor_scale);
}

#[test]
fn levels_are_the_element_values_times_the_scale() {
    let w = row(&[], 896.0);
    let a = analyze(&w, &cfg("fp8-e4m3")).unwrap();
    assert_eq!(a.format.levels.len(), 253);
    assert_eq!((a.format.levels[0], a.format.levels[252]), (-896.0, 896.0));
    assert!(a.format.levels.windows(2).all(|p| p[0] < p[1]));
    let a = analyze(&row(&[], 6.0), &cfg("mxfp4")).unwrap();
    assert_eq!(a.format.levels, [-6.0, -4.0, -3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]);
    assert_eq!(a.format.code_bits, 4);
}

#[test]
fn settings_they_cannot_use_are_refused_naming_the_key() {
    let w = tensor(vec![1.0; 40], 1, 40);
    for name in ["mxfp8", "mxfp4", "nvfp4"] {
        let err = analyze(&w, &cfg(name)).unwrap_err().to_string();
        assert!(err.starts_with("quant.format") && err.contains("40"), "{name}: {err}");
    }
    let c = QuantConfig { granularity: Granularity::PerGroup, ..cfg("fp8-e4m3") };
    assert!(analyze(&w, &c).unwrap_err().to_string().starts_with("quant.granularity"));
}

#[test]
fn mxfp4_packs_gguf_blocks() {
    let mut xs = vec![0.0f32; 32];
    xs[0] = 6.0;
    xs[16] = -1.0;
    let packed = packed(&tensor(xs, 1, 32), &cfg("mxfp4")).unwrap().unwrap();
    assert_eq!(packed.len(), 17);
    assert_eq!((packed[0], packed[1], packed[2]), (127, 0xA7, 0));
}

/// Quantizing x̂ again keeps every code. x̂ itself is kept where the scale
/// is: always for the power-of-two MX scales; the fp32 amax/max scales can
/// move by an ulp (fl(fl(448 s) / 448) ≠ s for some s), and x̂ with them.
#[test]
fn quantizing_x_hat_again_keeps_the_codes() {
    use crate::compute::weights::{Distribution, SyntheticSpec, synthetic};
    let spec = SyntheticSpec {
        distribution: Distribution::StudentT,
        rows: 32,
        cols: 256,
        seed: 3,
        dof: 3.0,
        outlier_fraction: 0.01,
    };
    let mut w = synthetic(&spec).unwrap();
    (w.values[5], w.values[300], w.non_finite) = (f32::NAN, f32::INFINITY, 2);
    for name in FLOATS {
        for granularity in [Granularity::PerTensor, Granularity::PerChannel] {
            let c = QuantConfig { granularity, ..cfg(name) };
            let (xhat, codes) = dequantized(&w, &c).unwrap();
            let again = tensor(xhat.clone(), w.rows, w.cols);
            let (xhat2, codes2) = dequantized(&again, &c).unwrap();
            assert_eq!(codes, codes2, "{name} {granularity:?}");
            let same_scales = analyze(&w, &c).unwrap().format.params == analyze(&again, &c).unwrap().format.params;
            if name.starts_with("mx") || same_scales {
                assert_eq!(xhat, xhat2, "{name} {granularity:?}");
            }
        }
    }
}
