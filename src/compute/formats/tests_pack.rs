//! The packed layouts: every format's size is what its bits per weight
//! say, and the generic layout decodes to the pipeline's codes and x̂.

use proptest::prelude::*;

use super::super::tests::tensor;
use super::super::{BUILTIN_FORMATS, FormatKind, Grouping, dequantized, find, packed};
use crate::compute::analysis::{channel_params, quantize_codes, uses_affine_kernel};
use crate::compute::layout::Layout;
use crate::compute::quant::{Granularity, QuantConfig, Scheme};
use crate::compute::weights::Weights;

/// The formats whose packed layout is their ecosystem's block, not the generic one.
const BLOCK_LAYOUTS: [&str; 10] = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q6_k", "tq2_0", "mxfp4", "nf4"];

/// The settings worth packing a format under: its granularities, sizes and options.
fn variants(kind: FormatKind) -> Vec<QuantConfig> {
    let base = QuantConfig { format: kind, ..QuantConfig::default() };
    let mut out = vec![base.clone()];
    for (granularity, axis) in [(Granularity::PerChannel, 0), (Granularity::PerChannel, 1), (Granularity::PerGroup, 0)]
    {
        out.push(QuantConfig { granularity, channel_axis: axis, group_size: 32, ..base.clone() });
    }
    for bits in [2, 3, 5] {
        out.push(QuantConfig { bits, ..base.clone() });
        out.push(QuantConfig {
            bits,
            scheme: Scheme::Symmetric,
            granularity: Granularity::PerGroup,
            group_size: 32,
            ..base.clone()
        });
    }
    out.push(QuantConfig { scheme: Scheme::Manual, scale: 0.1, clip: [-1.0, 2.0], ..base.clone() });
    out.push(QuantConfig { block_size: 32, double_quant: true, ..base.clone() });
    out.push(QuantConfig { double_quant: true, ..base });
    out
}

/// Every variant a format accepts for this shape, deduplicated.
fn accepted(kind: FormatKind, cols: usize) -> Vec<QuantConfig> {
    let mut out: Vec<QuantConfig> = Vec::new();
    for c in variants(kind) {
        if c.validate().is_ok() && kind.format().check(&c, Some(cols)).is_ok() && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// Code i of `bits` bits, LSB-first from `bytes`.
fn read_codes(bytes: &[u8], n: usize, bits: u32) -> Vec<u16> {
    let bit = |k: usize| (bytes[k / 8] >> (k % 8)) & 1;
    (0..n).map(|i| (0..bits as usize).fold(0u16, |c, b| c | (bit(i * bits as usize + b) as u16) << b)).collect()
}

/// The codes in the order the layout stores them: channel after channel
/// along axis 1, else row-major.
fn group_order(codes: Vec<u16>, w: &Weights, cfg: &QuantConfig) -> Vec<u16> {
    let by_columns = cfg.format.format().grouping(cfg) == Grouping::Channel && cfg.channel_axis == 1;
    if !by_columns {
        return codes;
    }
    (0..w.cols).flat_map(|c| codes.iter().skip(c).step_by(w.cols).copied().collect::<Vec<_>>()).collect()
}

/// The codes `quantize --out` writes, as the packed layout holds them.
fn expected_codes(w: &Weights, cfg: &QuantConfig) -> Vec<u16> {
    if uses_affine_kernel(cfg) {
        let params: Vec<_> = channel_params(w, cfg).unwrap().iter().map(|c| c.params).collect();
        let layout = Layout::of(w, cfg);
        let codes = quantize_codes(w, cfg, &params).into_iter().enumerate();
        return group_order(codes.map(|(i, q)| (q - params[layout.channel(i)].qmin) as u16).collect(), w, cfg);
    }
    group_order(dequantized(w, cfg).unwrap().1, w, cfg)
}

fn weights() -> impl Strategy<Value = Weights> {
    let cols = prop_oneof![1usize..40, (1usize..5).prop_map(|k| 32 * k), (1usize..3).prop_map(|k| 256 * k)];
    (1usize..4, cols).prop_flat_map(|(rows, cols)| {
        prop::collection::vec(-4.0f32..4.0, rows * cols).prop_map(move |xs| tensor(xs, rows, cols))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_format_packs_to_count_times_bpw_and_the_generic_layout_holds_the_codes(w in weights()) {
        let count = w.values.len();
        for &kind in BUILTIN_FORMATS {
            for c in accepted(kind, w.cols) {
                let bytes = packed(&w, &c).unwrap().expect("every built-in format packs");
                let bits = count as f64 * kind.format().bits_per_weight(&c, w.rows, w.cols);
                prop_assert!((bits - bits.round()).abs() < 1e-6, "{kind} {c:?}: {bits} bits is not whole");
                prop_assert_eq!(bytes.len(), (bits.round() as usize).div_ceil(8), "{} {:?}", kind, c);
                if !BLOCK_LAYOUTS.contains(&kind.name()) {
                    let code_bits = kind.format().code_bits(&c);
                    prop_assert_eq!(read_codes(&bytes, count, code_bits), expected_codes(&w, &c), "{} {:?}", kind, c);
                }
            }
        }
    }
}

fn cfg(name: &str) -> QuantConfig {
    QuantConfig { format: find(name).unwrap(), ..QuantConfig::default() }
}

fn f32_at(bytes: &[u8], at: usize) -> f32 {
    f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

#[test]
fn int_groups_decode_to_x_hat_from_their_scale_and_zero_point() {
    let w = tensor((0..2 * 64).map(|i| ((i * 29 % 83) as f32 - 40.0) / 13.0).collect(), 2, 64);
    let c = QuantConfig { bits: 4, granularity: Granularity::PerGroup, group_size: 32, ..cfg("int") };
    let bytes = packed(&w, &c).unwrap().unwrap();
    let codes = read_codes(&bytes, 128, 4);
    let (xhat, _) = dequantized(&w, &c).unwrap();
    for (g, chunk) in codes.chunks(32).enumerate() {
        let at = 64 + 8 * g;
        let (scale, zero) = (f32_at(&bytes, at), i32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()));
        for (i, &code) in chunk.iter().enumerate() {
            assert_eq!(((code as i32 - zero) as f32 * scale).to_bits(), xhat[32 * g + i].to_bits(), "group {g}");
        }
    }
}

#[test]
fn binary_and_ternary_store_their_alpha_after_the_codes() {
    let xs = vec![0.5, -1.5, 2.0, -0.1, 0.0, 3.0, -2.5, 1.0, 0.2];
    let w = tensor(xs.clone(), 1, 9);
    let mean_abs = xs.iter().map(|x| x.abs() as f64).sum::<f64>() / 9.0;
    let bytes = packed(&w, &cfg("binary")).unwrap().unwrap();
    // Signs of 0.5, -1.5, 2, -0.1, 0, 3, -2.5, 1 | 0.2: 0b1011_0101, then 1.
    assert_eq!(bytes[..2], [0b1011_0101, 0b1]);
    assert_eq!(f32_at(&bytes, 2), mean_abs as f32);
    let bytes = packed(&w, &cfg("ternary")).unwrap().unwrap();
    let (xhat, codes) = dequantized(&w, &cfg("ternary")).unwrap();
    assert_eq!(read_codes(&bytes, 9, 2), codes);
    let alpha = f32_at(&bytes, 3);
    assert!(codes.iter().zip(&xhat).all(|(&c, &x)| [-alpha, 0.0, alpha][c as usize] == x));
}

#[test]
fn a_codebook_decodes_through_its_fp16_levels() {
    let w = tensor((0..200).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect(), 4, 50);
    let c = QuantConfig { bits: 3, ..cfg("codebook") };
    let bytes = packed(&w, &c).unwrap().unwrap();
    let (xhat, codes) = dequantized(&w, &c).unwrap();
    let book: Vec<f32> = bytes[75..].chunks(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect();
    assert_eq!(book.len(), 8);
    let decoded: Vec<f32> = read_codes(&bytes, 200, 3).iter().map(|&q| book[q as usize]).collect();
    assert_eq!(decoded, xhat);
    assert_eq!(read_codes(&bytes, 200, 3), codes);
}

#[test]
fn fp8_per_tensor_stores_one_scale_at_the_end_and_nvfp4_its_block_scales_then_the_tensor_scale() {
    let w = tensor((0..64).map(|i| (i as f32 - 20.0) / 7.0).collect(), 2, 32);
    let bytes = packed(&w, &cfg("fp8-e4m3")).unwrap().unwrap();
    assert_eq!(bytes.len(), 64 + 4);
    assert_eq!(f32_at(&bytes, 64), (43.0f32 / 7.0) / 448.0);
    let bytes = packed(&w, &cfg("nvfp4")).unwrap().unwrap();
    // 32 bytes of E2M1 pairs, 4 E4M3 block scales, the fp32 global scale.
    assert_eq!(bytes.len(), 32 + 4 + 4);
    assert_eq!(f32_at(&bytes, 36), (43.0f32 / 7.0) / (6.0 * 448.0));
}

#[test]
fn nf4_packs_the_first_code_in_the_high_nibble_then_each_block_s_absmax() {
    let mut xs = vec![0.0f32; 33];
    (xs[0], xs[1], xs[2]) = (-2.0, 2.0, 1.0);
    xs[32] = -0.5;
    let w = tensor(xs, 1, 33);
    let c = QuantConfig { block_size: 32, ..cfg("nf4") };
    let bytes = packed(&w, &c).unwrap().unwrap();
    // Codes -1 → 0, 1 → 15, 0.5 → 12 (0.4407 is nearest), 0 → 7; the odd
    // last one (-0.5 / 0.5 = -1 → 0) with a zero low nibble.
    assert_eq!(bytes[..3], [0x0F, 0xC7, 0x77]);
    assert_eq!(bytes[16], 0x00);
    assert_eq!((f32_at(&bytes, 17), f32_at(&bytes, 21)), (2.0, 0.5));
    assert_eq!(bytes.len(), 17 + 8);
}

#[test]
fn int_per_channel_packs_the_codes_quantize_writes_along_either_axis() {
    let w = tensor((0..3 * 5).map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0).collect(), 3, 5);
    for axis in [0, 1] {
        let c = QuantConfig { bits: 3, granularity: Granularity::PerChannel, channel_axis: axis, ..cfg("int") };
        let bytes = packed(&w, &c).unwrap().unwrap();
        let channels = [3, 5][axis];
        assert_eq!(bytes.len(), (15 * 3usize).div_ceil(8) + 8 * channels);
        assert_eq!(read_codes(&bytes, 15, 3), expected_codes(&w, &c));
    }
}
