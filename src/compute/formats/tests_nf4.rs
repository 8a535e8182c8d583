//! nf4's double quantization: the dynamic map against bitsandbytes'
//! published values, the absmax compression by hand, its size and layout.

use super::super::tests::tensor;
use super::super::{dequantized, find, packed};
use super::{Compressed, NF4_THRESHOLDS, NF4_VALUES, compress, dynamic_map, nf4_block, nf4_blocks, nf4_code_and_value};
use crate::compute::quant::QuantConfig;

fn dq(block_size: usize) -> QuantConfig {
    QuantConfig { format: find("nf4").unwrap(), block_size, double_quant: true, ..QuantConfig::default() }
}

#[test]
#[allow(clippy::excessive_precision)]
fn the_dynamic_map_has_create_dynamic_map_s_values() {
    let map = dynamic_map();
    // Entries of `create_dynamic_map(signed=True)` as published (float32
    // printed by Python), among them those a float32 midpoint would miss.
    let published: [(usize, f32); 10] = [
        (0, -0.992968738079071),
        (1, -0.9789062738418579),
        (18, -0.7398437261581421),
        (36, -0.4867187738418579),
        (64, -0.09859374910593033),
        (67, -0.09015624970197678),
        (126, -5.499999815583578e-07),
        (127, 0.0),
        (190, 0.09859374910593033),
        (255, 1.0),
    ];
    for (i, v) in published {
        assert_eq!(map[i].to_bits(), v.to_bits(), "map[{i}] = {} not {v}", map[i]);
    }
    assert!(map.windows(2).all(|p| p[0] < p[1]), "ascending, no repeats");
    assert!((0..127).all(|i| map[i] == -map[254 - i]), "symmetric about 0 below the 1.0");
}

#[test]
fn absmaxes_less_their_mean_are_coded_on_the_map_per_256() {
    let map = dynamic_map();
    // Mean 2; centered -1, 0, 1; absmax2 1: the nearest entries are the
    // map's ends and its zero.
    let q = compress(&[1.0, 2.0, 3.0]);
    assert_eq!(q, Compressed { codes: vec![0, 127, 255], absmax2: vec![1.0], offset: 2.0 });
    assert_eq!(q.dequantized(), [map[0] + 2.0, 2.0, 3.0]);
    // 300 absmaxes: two blocks of the map, each with its own absmax2.
    let absmaxes: Vec<f32> = (0..300).map(|i| if i < 256 { 1.0 + (i % 2) as f32 } else { 10.0 }).collect();
    let q = compress(&absmaxes);
    let mean = (128.0 + 2.0 * 128.0 + 44.0 * 10.0) / 300.0;
    assert_eq!(q.offset, mean as f32);
    assert_eq!(q.absmax2, [(1.0 - mean as f32).abs(), 10.0 - mean as f32]);
    assert_eq!(q.codes[256..], [255; 44]);
    // A block of 256 equal absmaxes is all zeros once centered: code of 0.
    assert_eq!(compress(&[0.5; 256]).codes, vec![127; 256]);
}

#[test]
fn double_quant_counts_a_byte_a_block_an_absmax_per_256_blocks_and_the_mean() {
    let nf4 = find("nf4").unwrap().format();
    // 2048 values in 32 blocks of 64: 8·32 + 32·1 + 32 bits of statistics.
    assert_eq!(nf4.bits_per_weight(&dq(64), 4, 512), 4.0 + 320.0 / 2048.0);
    // 40000 values in 1250 blocks of 32: 5 blocks of the map.
    assert_eq!(nf4.bits_per_weight(&dq(32), 100, 400), 4.0 + (8.0 * 1250.0 + 32.0 * 5.0 + 32.0) / 40000.0);
}

#[test]
fn double_quant_keeps_the_codes_and_scales_x_hat_by_the_dequantized_absmax() {
    let xs: Vec<f32> = (0..4 * 96).map(|i| ((i * 37 % 101) as f32 - 50.0) / (1.0 + (i / 64) as f32)).collect();
    let w = tensor(xs.clone(), 4, 96);
    let single = QuantConfig { double_quant: false, ..dq(64) };
    let (_, codes) = dequantized(&w, &single).unwrap();
    let (xhat, dq_codes) = dequantized(&w, &dq(64)).unwrap();
    assert_eq!(dq_codes, codes, "the codes are those of the fp32 absmax");
    let absmaxes: Vec<f32> = xs.chunks(64).map(|b| b.iter().fold(0f32, |m, x| m.max(x.abs()))).collect();
    let stored = compress(&absmaxes).dequantized();
    for (i, (&c, &x)) in codes.iter().zip(&xhat).enumerate() {
        assert_eq!(x.to_bits(), (NF4_VALUES[c as usize] * stored[i / 64]).to_bits(), "value {i}");
    }
    // Packed: 192 code bytes, 6 absmax bytes, one absmax2, the mean.
    let bytes = packed(&w, &dq(64)).unwrap().unwrap();
    let q = compress(&absmaxes);
    assert_eq!(bytes.len(), 192 + 6 + 4 + 4);
    assert_eq!(bytes[0], (codes[0] << 4 | codes[1]) as u8);
    assert_eq!(bytes[192..198], q.codes[..]);
    assert_eq!(bytes[198..202], q.absmax2[0].to_le_bytes());
    assert_eq!(bytes[202..], q.offset.to_le_bytes());
}

/// Every float32 within 4096 steps of each threshold and each value, the
/// zeros, NaN, the infinities, and a stride through all patterns.
fn near_the_codes_boundaries() -> Vec<f32> {
    let centres = NF4_THRESHOLDS.iter().chain(&NF4_VALUES).copied().chain([-0.0, 1e-30, -1e-30]);
    let near = centres.flat_map(|c| (c.to_bits().saturating_sub(4096)..=c.to_bits() + 4096).map(f32::from_bits));
    let stride = (0..=u32::MAX).step_by(997).map(f32::from_bits);
    near.chain(stride).chain([0.0, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY]).collect()
}

#[cfg(target_arch = "x86_64")]
#[test]
fn the_avx2_tree_is_the_threshold_count() {
    use std::arch::x86_64::*;
    if !crate::compute::has_avx2() {
        return;
    }
    let mut xs = near_the_codes_boundaries();
    // Whole chunks of eight, the special values at the end included.
    while !xs.len().is_multiple_of(8) {
        xs.push(0.25);
    }
    for chunk in xs.chunks_exact(8) {
        // SAFETY: the CPU has AVX2, and the chunk holds eight floats.
        let (codes, values) = unsafe { super::avx2::code_and_value8(_mm256_loadu_ps(chunk.as_ptr())) };
        let (mut c, mut v) = ([0u32; 8], [0f32; 8]);
        // SAFETY: eight lanes each.
        unsafe {
            _mm256_storeu_si256(c.as_mut_ptr().cast(), codes);
            _mm256_storeu_ps(v.as_mut_ptr(), values);
        }
        for (l, &x) in chunk.iter().enumerate() {
            let (code, value) = nf4_code_and_value(x);
            assert_eq!((c[l], v[l].to_bits()), (code as u32, value.to_bits()), "{x:e} ({:#010x})", x.to_bits());
        }
    }
}

#[test]
fn the_block_loop_is_the_value_by_value_one_with_a_short_last_block() {
    // Blocks of 64 and a last one of 13 (the flattened tensor's end), so
    // both the eight-lane loop and its remainder run.
    let xs: Vec<f32> =
        near_the_codes_boundaries().into_iter().filter(|x| x.is_finite()).step_by(61).take(64 * 40 + 13).collect();
    let n = xs.len();
    let (mut xhat, mut codes, mut clipped) = (vec![0f32; n], vec![0u16; n], vec![true; n]);
    nf4_blocks(&xs, 64, None, &mut xhat, &mut codes, &mut clipped);
    let (mut want_xhat, mut want_codes) = (vec![0f32; n], vec![0u16; n]);
    for (i, block) in xs.chunks(64).enumerate() {
        let absmax = super::absmax(block);
        let span = i * 64..i * 64 + block.len();
        nf4_block(block, super::reciprocal(absmax), absmax, &mut want_xhat[span.clone()], &mut want_codes[span]);
        assert_eq!(absmax, block.iter().fold(0f32, |m, x| m.max(x.abs())), "the lanes' absmax is the fold's");
    }
    assert_eq!(codes, want_codes);
    assert_eq!(
        xhat.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        want_xhat.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    assert!(clipped.iter().all(|&c| !c));
}
