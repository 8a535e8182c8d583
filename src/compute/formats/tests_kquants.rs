//! Known answers of the super-block formats. The pinned bytes and values
//! are those of ggml-quants.c's reference quantizers (compiled as they
//! are) on the same inputs, dequantized by gguf-py.

use super::super::tests::{student_t_64x256, tensor};
use super::super::{BUILTIN_FORMATS, dequantized, find, packed};
use crate::compute::analysis::analyze;
use crate::compute::quant::QuantConfig;
use crate::compute::weights::Weights;

use super::lanes::{Fx, Lanes, transposed};
use super::search::{Q4_K_SEARCH, QxTile, SUB, SUB6, make_qx_quants};

fn cfg(name: &str) -> QuantConfig {
    QuantConfig { format: find(name).unwrap(), ..QuantConfig::default() }
}

fn block(values: impl Fn(usize) -> f32) -> Weights {
    tensor((0..256).map(values).collect(), 1, 256)
}

/// x̂, codes and GGUF bytes of `w` in format `name`.
fn run(name: &str, w: &Weights) -> (Vec<f32>, Vec<u16>, Vec<u8>) {
    let (xhat, codes) = dequantized(w, &cfg(name)).unwrap();
    (xhat, codes, packed(w, &cfg(name)).unwrap().expect("packs"))
}

fn f16_le(bytes: &[u8]) -> f32 {
    half::f16::from_le_bytes([bytes[0], bytes[1]]).to_f32()
}

fn all_bits(xs: &[f32], v: f32) -> bool {
    xs.iter().all(|x| x.to_bits() == v.to_bits())
}

#[test]
fn bits_per_weight_of_the_super_block_formats() {
    let bpw: Vec<f64> = ["q4_k", "q6_k", "tq2_0"]
        .iter()
        .map(|n| find(n).unwrap().format().bits_per_weight(&QuantConfig::default(), 4, 512))
        .collect();
    assert_eq!(bpw, [4.5, 6.5625, 2.0625]);
}

#[test]
fn packed_is_count_times_bpw_over_8_for_every_format_that_packs() {
    let w = tensor((0..4 * 512).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect(), 4, 512);
    let mut packing = Vec::new();
    for kind in BUILTIN_FORMATS {
        let c = QuantConfig { format: *kind, ..QuantConfig::default() };
        if let Some(bytes) = packed(&w, &c).unwrap() {
            let bpw = kind.format().bits_per_weight(&c, w.rows, w.cols);
            assert_eq!(bytes.len() as f64, w.values.len() as f64 * bpw / 8.0, "{kind}");
            packing.push(kind.name());
        }
    }
    assert_eq!(packing, BUILTIN_FORMATS.iter().map(|k| k.name()).collect::<Vec<_>>(), "every format packs");
}

#[test]
fn a_row_not_a_multiple_of_256_is_refused_naming_it() {
    let w = tensor(vec![1.0; 2 * 288], 2, 288);
    for name in ["q4_k", "q6_k", "tq2_0"] {
        let err = analyze(&w, &cfg(name)).unwrap_err().to_string();
        assert!(err.starts_with("quant.format") && err.contains("blocks of 256") && err.contains("288"), "{err}");
    }
}

#[test]
fn zeros_stay_zero_with_every_scale_zero() {
    let w = block(|_| 0.0);
    let (xhat, codes, bytes) = run("q4_k", &w);
    assert!(all_bits(&xhat, 0.0) && codes.iter().all(|&c| c == 0));
    assert!(bytes.iter().all(|&b| b == 0));
    // Q6_K's cleared block decodes to (0·0)·(0 − 32) = -0.0, as gguf-py's dequantizer.
    let (xhat, codes, bytes) = run("q6_k", &w);
    assert!(all_bits(&xhat, -0.0) && codes.iter().all(|&c| c == 0));
    assert!(bytes.iter().all(|&b| b == 0));
    let (xhat, codes, bytes) = run("tq2_0", &w);
    assert!(all_bits(&xhat, 0.0) && codes.iter().all(|&c| c == 1));
    assert!(bytes[..64].iter().all(|&b| b == 0b01_01_01_01) && bytes[64..] == [0, 0]);
}

#[test]
fn a_q6_k_sub_block_of_step_zero_keeps_the_searchs_codes() {
    // Sub-block 3 is a millionth of the others: its int8 scale rounds to
    // 0, so the C keeps the codes of its search (`if (!d) continue`).
    let v = |i: usize| ((i * 37 % 23) as f32 - 11.0) / 7.0;
    let w = block(|i| if i / 16 == 3 { v(i) * 1e-6 } else { v(i) });
    let (_, codes, bytes) = run("q6_k", &w);
    assert_eq!(bytes[192 + 3], 0, "sub-block 3's int8 scale");
    let mut want = [0u8; 16];
    scalar::make_qx_quants(32, &w.values[48..64], &mut want);
    assert!(want.iter().any(|&c| c != 32), "the search's codes are not all zero points: {want:?}");
    assert_eq!(codes[48..64], want.map(u16::from));
}

#[test]
fn a_q4_k_sub_block_of_step_zero_keeps_the_searchs_codes() {
    // Two blocks (searched side by side where AVX-512 runs), sub-block 3
    // of each a millionth of the others: its 6-bit scale rounds to 0, so
    // the C keeps the codes of its search (`if (!d) continue`).
    let v = |i: usize| ((i * 37 % 23) as f32 - 11.0) / 7.0 + if i >= 256 { 0.5 } else { 0.0 };
    let w = tensor((0..512).map(|i| if i % 256 / 32 == 3 { v(i) * 1e-6 } else { v(i) }).collect(), 2, 256);
    let (_, codes, bytes) = run("q4_k", &w);
    for b in 0..2 {
        assert_eq!(bytes[144 * b + 4 + 3] & 63, 0, "block {b}: sub-block 3's 6-bit scale");
        let x = &w.values[256 * b + 96..256 * b + 128];
        let mut want = [0u8; 32];
        scalar::make_qkx2_quants(&Q4_K_SEARCH, x, &q4_k_weights(x), &mut want);
        assert!(want.iter().any(|&c| c != 0), "block {b}: the search's codes are not all 0: {want:?}");
        assert_eq!(codes[256 * b + 96..256 * b + 128], want.map(u16::from), "block {b}");
    }
}

#[test]
fn all_equal_blocks() {
    let w = block(|_| 0.5);
    // Q4_K: every sub-block at its top code 15 with scale 63 and min 0.
    let (xhat, codes, bytes) = run("q4_k", &w);
    assert_eq!(bytes[..16], [86, 16, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0, 15, 15, 15, 15]);
    assert!(all_bits(&xhat, 0.500_178_34) && codes.iter().all(|&c| c == 15));
    assert_eq!(xhat[0], f16_le(&bytes[..2]) * 63.0 * 15.0);
    // Q6_K: sub-block scales -1/64 give int8 scales -128, d = 2^-13, code 0 (q = -32): exact.
    let (xhat, codes, bytes) = run("q6_k", &w);
    assert!(bytes[192..208].iter().all(|&s| s == 128) && bytes[208..] == [0, 8]);
    assert!(all_bits(&xhat, 0.5) && codes.iter().all(|&c| c == 0));
    let (xhat, codes, bytes) = run("tq2_0", &w);
    assert!(all_bits(&xhat, 0.5) && codes.iter().all(|&c| c == 2) && bytes[64..] == [0, 0x38]);
}

#[test]
fn negative_only_blocks() {
    // Q4_K of -0.5 everywhere: the scales round to 0, so ggml skips the
    // requantization and every value decodes to -dmin·63, beyond reach.
    let w = block(|_| -0.5);
    let (xhat, _, bytes) = run("q4_k", &w);
    assert_eq!(bytes[..16], [0, 0, 16, 32, 0, 0, 0, 0, 255, 255, 255, 255, 240, 240, 240, 240]);
    assert!(all_bits(&xhat, -0.499_877_93));
    assert_eq!(analyze(&w, &cfg("q4_k")).unwrap().metrics.clipped, 256);
    // A ramp from -1 to -2.
    let w = block(|i| -(1.0 + i as f32 / 256.0));
    let (xhat, _, bytes) = run("q4_k", &w);
    assert_eq!(bytes[..16], [16, 8, 13, 40, 255, 255, 255, 255, 227, 231, 235, 239, 63, 127, 191, 255]);
    let want = [-0.998_287_2, -1.006_097_8, -1.393_669_1, -1.993_743_9];
    assert_eq!([xhat[0], xhat[1], xhat[100], xhat[255]], want);
    let (xhat, _, bytes) = run("q6_k", &w);
    assert_eq!(
        bytes[192..210],
        [188, 184, 180, 176, 172, 168, 164, 160, 155, 151, 147, 143, 139, 135, 131, 128, 234, 143]
    );
    let want = [-0.985_393_5, -1.018_24, -1.377_618_8, -1.978_515_6];
    assert_eq!([xhat[0], xhat[1], xhat[100], xhat[255]], want);
    // TQ2_0: everything rounds to -1 (x/amax ≥ 0.5): x̂ = -fp16(amax).
    let (xhat, codes, _) = run("tq2_0", &w);
    assert!(all_bits(&xhat, -1.996_093_8) && codes.iter().all(|&c| c == 0));
}

#[test]
fn levels_are_ascending_and_hold_every_value_of_the_block() {
    let w = block(|i| ((i * 71 % 97) as f32 - 48.0) / 16.0);
    let facts = super::super::TensorFacts { rows: 1, cols: 256, amax: 3.0 };
    for name in ["q4_k", "q6_k", "tq2_0"] {
        let (c, format) = (cfg(name), find(name).unwrap().format());
        let levels = format.levels(&c, &facts, &w.values);
        assert!(levels.windows(2).all(|p| p[0] < p[1]), "{name}");
        let (xhat, _) = dequantized(&w, &c).unwrap();
        assert!(xhat.iter().all(|x| levels.contains(x)), "{name}");
        let params = format.params(&c, &facts, &w.values);
        assert_eq!(params[0].0, "d", "{name}");
    }
}

#[test]
fn tq2_0_is_a_fixed_point_and_the_k_quants_nearly() {
    let w = student_t_64x256();
    let sse = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>();
    for name in ["q4_k", "q6_k", "tq2_0"] {
        let (xhat, _) = dequantized(&w, &cfg(name)).unwrap();
        let (again, _) = dequantized(&tensor(xhat.clone(), w.rows, w.cols), &cfg(name)).unwrap();
        if name == "tq2_0" {
            assert_eq!(xhat, again, "x̂ = ±d or 0 with d = amax of x̂");
            continue;
        }
        // The K-quants' weighted scale search, 6-bit and fp16 roundings can
        // move a sub-block's grid when x̂ itself is quantized: few values
        // move, by far less than the first pass did.
        let moved = xhat.iter().zip(&again).filter(|(a, b)| a != b).count();
        assert!(moved * 100 < xhat.len(), "{name}: {moved} moved");
        assert!(sse(&xhat, &again) * 100.0 < sse(&w.values, &xhat), "{name}");
    }
}

/// The searches as they were written from ggml-quants.c, trial after
/// trial, with no shortcut: the fast ones must give their codes and scales
/// bit for bit.
mod scalar {
    use super::super::search::ScaleSearch;
    use super::super::{GROUP_MAX_EPS, nearest_int};

    pub fn make_qkx2_quants(s: &ScaleSearch, x: &[f32], weights: &[f32], codes: &mut [u8]) -> (f32, f32) {
        let n = x.len();
        let mut aux = vec![0u8; n];
        let (mut min, mut max) = (x[0], x[0]);
        let mut sum_w = weights[0];
        let mut sum_x = sum_w * x[0];
        for i in 1..n {
            if x[i] < min {
                min = x[i];
            }
            if x[i] > max {
                max = x[i];
            }
            let w = weights[i];
            sum_w += w;
            sum_x += w * x[i];
        }
        if min > 0.0 {
            min = 0.0;
        }
        if max == min {
            codes.fill(0);
            return (0.0, -min);
        }
        let nmax = s.nmax as f32;
        let iscale = nmax / (max - min);
        let mut scale = 1.0 / iscale;
        let mut best_error = 0f32;
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, s.nmax);
            codes[i] = l as u8;
            let diff = scale * l as f32 + min - x[i];
            best_error += weights[i] * (diff * diff);
        }
        for is in 0..=s.nstep {
            let iscale = (s.rmin + s.rdelta * is as f32 + nmax) / (max - min);
            let (mut sum_l, mut sum_l2, mut sum_xl) = (0f32, 0f32, 0f32);
            for i in 0..n {
                let l = nearest_int(iscale * (x[i] - min)).clamp(0, s.nmax);
                aux[i] = l as u8;
                let (w, l) = (weights[i], l as f32);
                sum_l += w * l;
                sum_l2 += w * l * l;
                sum_xl += w * l * x[i];
            }
            let det = sum_w * sum_l2 - sum_l * sum_l;
            if det > 0.0 {
                let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
                let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
                if this_min > 0.0 {
                    this_min = 0.0;
                    this_scale = sum_xl / sum_l2;
                }
                let mut cur_error = 0f32;
                for i in 0..n {
                    let diff = this_scale * aux[i] as f32 + this_min - x[i];
                    cur_error += weights[i] * (diff * diff);
                }
                if cur_error < best_error {
                    codes.copy_from_slice(&aux);
                    best_error = cur_error;
                    scale = this_scale;
                    min = this_min;
                }
            }
        }
        (scale, -min)
    }

    pub fn make_qx_quants(nmax: i32, x: &[f32], codes: &mut [u8]) -> f32 {
        let (mut max, mut amax) = (0f32, 0f32);
        for &v in x {
            if v.abs() > amax {
                (amax, max) = (v.abs(), v);
            }
        }
        if amax < GROUP_MAX_EPS {
            codes.fill(0);
            return 0.0;
        }
        let code = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-nmax, nmax - 1);
        let sums = |iscale: f32| {
            x.iter().fold((0f32, 0f32), |(sumlx, suml2), &v| {
                let (w, l) = (v * v, code(iscale, v) as f32);
                (sumlx + w * v * l, suml2 + w * l * l)
            })
        };
        let mut set_codes = |iscale: f32| {
            for (c, &v) in codes.iter_mut().zip(x) {
                *c = (code(iscale, v) + nmax) as u8;
            }
        };
        let iscale = -(nmax as f32) / max;
        set_codes(iscale);
        let (sumlx, suml2) = sums(iscale);
        let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
        let mut best = scale * sumlx;
        for is in (-9..=9).filter(|&is| is != 0) {
            let iscale = -(nmax as f32 + 0.1 * is as f32) / max;
            let (sumlx, suml2) = sums(iscale);
            if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
                set_codes(iscale);
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        scale
    }
}

/// Sub-blocks the searches meet: heavy-tailed, shifted to one sign,
/// scaled far down and up, coarsely rounded (ties), a few values repeated.
fn search_inputs() -> Vec<Vec<f32>> {
    let w = student_t_64x256();
    let mut blocks = Vec::new();
    for (i, chunk) in w.values.chunks(32).enumerate() {
        let shift = [0.0, 0.0, 1.5, -1.5][i % 4];
        let scale = [1.0, 1e-6, 1e4, 0.25][i / 4 % 4];
        let mut xs: Vec<f32> = chunk.iter().map(|&x| (x + shift) * scale).collect();
        if i % 5 == 0 {
            xs.iter_mut().for_each(|x| *x = (*x * 4.0).round() / 4.0);
        }
        if i % 7 == 0 {
            let repeated = xs[8];
            xs[..8].fill(repeated);
        }
        blocks.push(xs);
    }
    blocks
}

/// Q4_K's weights of a sub-block, as `quantize_row_q4_K_ref` takes them.
fn q4_k_weights(x: &[f32]) -> Vec<f32> {
    let av_x = (x.iter().fold(0f32, |s, &v| s + v * v) / x.len() as f32).sqrt();
    x.iter().map(|v| av_x + v.abs()).collect()
}

/// What the fast searches give for a super-block: Q4_K's scales, mins and
/// codes, Q6_K's scales and codes.
type Searched = ([f32; 8], [f32; 8], [u8; 256], [f32; 16], [u8; 256]);

/// Q4_K's search of `N` sub-blocks as `quantize` and `quantize_two` run
/// it (`q4_k_search`: the lanes' transpose and weights): the scales, the
/// mins and every sub-block's codes.
#[inline(always)]
fn q4_k_lanes<V: Lanes<N>, const N: usize>(xs: &[f32]) -> (Fx<N>, Fx<N>, Vec<u8>) {
    let chosen = super::q4_k_search::<V, N>(xs);
    let mut codes = vec![0u8; SUB * N];
    for (k, c) in codes.chunks_mut(SUB).enumerate() {
        chosen.codes(k, &xs[SUB * k..], c);
    }
    (chosen.scale, chosen.the_min, codes)
}

/// The fast searches of a super-block in 8 lanes of `V` (8 sub-blocks of
/// 32 for Q4_K, two tiles of 8 sub-blocks of 16 for Q6_K), as `quantize`.
#[inline(always)]
fn searches_in_8_lanes<V: Lanes<8>>(xs: &[f32]) -> Searched {
    let (Fx(scales), Fx(mins), q4_codes) = q4_k_lanes::<V, 8>(xs);
    let q4_codes = q4_codes.try_into().unwrap();
    let (mut q6_scales, mut q6_codes) = ([0f32; 16], [0u8; 256]);
    let tiles = [0, 1].map(|t| QxTile::new(V::transposed(&xs[8 * SUB6 * t..])));
    let chosen = make_qx_quants::<V, 8, 2>(32, &tiles);
    for (j, (s, c)) in q6_scales.iter_mut().zip(q6_codes.chunks_mut(SUB6)).enumerate() {
        *s = chosen[j / 8].scale.0[j % 8];
        chosen[j / 8].codes(&tiles[j / 8], j % 8, c);
    }
    (scales, mins, q4_codes, q6_scales, q6_codes)
}

/// The fast searches of two super-blocks (512 values) in 16 lanes of `W`
/// (Q4_K's 8 + 8 sub-blocks in one tile, each block's 16 sub-blocks of 16
/// in a tile of Q6_K's), as `quantize_two`.
#[inline(always)]
fn searches_in_16_lanes<W: Lanes<16>>(xs: &[f32]) -> [Searched; 2] {
    let (Fx(scales), Fx(mins), q4_codes) = q4_k_lanes::<W, 16>(xs);
    let tiles = [0, 1].map(|b| QxTile::new(W::transposed(&xs[256 * b..])));
    let chosen = make_qx_quants::<W, 16, 2>(32, &tiles);
    std::array::from_fn(|b| {
        let mut q6_codes = [0u8; 256];
        for (j, c) in q6_codes.chunks_mut(SUB6).enumerate() {
            chosen[b].codes(&tiles[b], j, c);
        }
        let (q4_scales, q4_mins) =
            (scales[8 * b..8 * (b + 1)].try_into().unwrap(), mins[8 * b..8 * (b + 1)].try_into());
        (q4_scales, q4_mins.unwrap(), q4_codes[256 * b..256 * (b + 1)].try_into().unwrap(), chosen[b].scale.0, q6_codes)
    })
}

/// The searches in AVX registers, as `kquants::quantize` runs them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn avx2_searches(xs: &[f32]) -> Searched {
    searches_in_8_lanes::<super::lanes::Avx8>(xs)
}

/// The searches in AVX-512 registers, as `kquants::quantize_two` runs them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn avx512_searches(xs: &[f32]) -> [Searched; 2] {
    searches_in_16_lanes::<super::lanes::Avx16>(xs)
}

/// The fast searches of two super-blocks, portable in 8 and 16 lanes and
/// (where the CPU has them) in AVX and AVX-512 registers, against the
/// scalar ones, sub-block by sub-block.
fn assert_search_agrees(xs: &[f32]) {
    assert_eq!(xs.len(), 512);
    let (first, second) = xs.split_at(256);
    let mut runs = vec![
        ("8 portable lanes", [searches_in_8_lanes::<Fx<8>>(first), searches_in_8_lanes::<Fx<8>>(second)]),
        ("16 portable lanes", searches_in_16_lanes::<Fx<16>>(xs)),
    ];
    #[cfg(target_arch = "x86_64")]
    if crate::compute::has_avx2() {
        // SAFETY: the CPU has AVX2.
        runs.push(("avx2", unsafe { [avx2_searches(first), avx2_searches(second)] }));
    }
    #[cfg(target_arch = "x86_64")]
    if crate::compute::has_avx512() {
        // SAFETY: the CPU has AVX-512F.
        runs.push(("avx512", unsafe { avx512_searches(xs) }));
    }
    for (lanes, blocks) in runs {
        for (b, (scales, mins, q4_codes, q6_scales, q6_codes)) in blocks.into_iter().enumerate() {
            let xs = &xs[256 * b..256 * (b + 1)];
            for (k, x) in xs.chunks(SUB).enumerate() {
                let mut scalar = [0u8; SUB];
                let want = scalar::make_qkx2_quants(&Q4_K_SEARCH, x, &q4_k_weights(x), &mut scalar);
                let got = (scales[k].to_bits(), mins[k].to_bits(), &q4_codes[SUB * k..SUB * (k + 1)]);
                let want = (want.0.to_bits(), want.1.to_bits(), &scalar[..]);
                assert_eq!(got, want, "{lanes}: block {b}, q4_k sub-block {k}: {x:?}");
            }
            for (k, x) in xs.chunks(SUB6).enumerate() {
                let mut scalar = [0u8; SUB6];
                let want = scalar::make_qx_quants(32, x, &mut scalar);
                let got = (q6_scales[k].to_bits(), &q6_codes[SUB6 * k..SUB6 * (k + 1)]);
                assert_eq!(got, (want.to_bits(), &scalar[..]), "{lanes}: block {b}, q6_k sub-block {k}: {x:?}");
            }
        }
    }
}

#[test]
fn the_fast_searches_give_the_scalar_searches_bits() {
    let blocks = search_inputs();
    assert_eq!(blocks.len(), 512);
    blocks.concat().chunks(512).for_each(assert_search_agrees);
}

/// Sub-block `k` of a proptest's block made adversarial by `kind`.
fn adversarial(kind: u8, x: &mut [f32]) {
    match kind {
        // Coarse grids: ties in the rounding and trials with equal codes.
        1 => x.iter_mut().for_each(|v| *v = v.round()),
        2 => x.iter_mut().for_each(|v| *v = (*v * 0.5).round() * 0.25),
        3 => x.fill(0.0),
        4 => x.fill(x[0]),
        5 => x.iter_mut().for_each(|v| *v = -v.abs() - 1.0),
        6 => x.iter_mut().for_each(|v| *v = v.abs() + 2.0),
        7 => x.iter_mut().for_each(|v| *v *= 1e-30),
        8 => x.iter_mut().for_each(|v| *v *= 1e10),
        9 => x[1..].fill(0.0),
        // Subnormals, and values whose range overflows (max − min = inf):
        // where the codes wrap as nearest_int's bits do.
        10 => x.iter_mut().for_each(|v| *v *= 1e-40),
        11 => x.iter_mut().for_each(|v| *v *= 4e37),
        _ => {}
    }
}

proptest::proptest! {
    #[test]
    fn the_fast_searches_give_the_scalar_searches_bits_on_any_blocks(
        mut x in proptest::collection::vec(-8.0f32..8.0, 512),
        kinds in proptest::collection::vec(0u8..14, 32),
    ) {
        // Each sub-block of 16 its own kind: lanes of every kind side by
        // side, within a block and across the two blocks of 16 lanes.
        for (x, &kind) in x.chunks_mut(16).zip(&kinds) {
            adversarial(kind, x);
        }
        assert_search_agrees(&x);
    }
}

#[test]
fn codes_in_float_arithmetic_are_nearest_ints_below_2_pow_21() {
    use super::lanes::F8;
    let mut ts: Vec<f32> =
        vec![0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -1.5, 14.5, 15.5, 16.0, 31.5, -32.5, 30.5, 1e-30, -1e-30];
    ts.extend((-400..400).map(|i| i as f32 * 0.125 + 0.0625));
    ts.extend([2097151.5, -2097151.5, 2097151.0, 1048576.5, -1048575.5, f32::NAN]);
    for chunk in ts.chunks(8) {
        let mut t = F8::default();
        t.0[..chunk.len()].copy_from_slice(chunk);
        for range in [(0, 15), (-32, 31)] {
            let mut runs = vec![("portable", t.codes_small(range).0, t.codes(range).0)];
            #[cfg(target_arch = "x86_64")]
            if crate::compute::has_avx2() {
                #[target_feature(enable = "avx2")]
                fn avx2(t: &F8, range: (i32, i32)) -> ([f32; 8], [f32; 8]) {
                    use super::lanes::Avx8;
                    (Avx8::load(t).codes_small(range).store().0, Avx8::load(t).codes(range).store().0)
                }
                // SAFETY: the CPU has AVX2.
                let (small, codes) = unsafe { avx2(&t, range) };
                runs.push(("avx2", small, codes));
            }
            // The portable and the AVX2 lanes agree bit for bit.
            for run in &runs[1..] {
                assert_eq!(run.1.map(f32::to_bits), runs[0].1.map(f32::to_bits), "{}: {:?} in {range:?}", run.0, t.0);
            }
            for (lanes, got, want) in runs {
                for k in 0..8 {
                    // NaN: both give 0 where the codes start at 0 (Q4_K's).
                    if t.0[k].is_nan() && range.0 != 0 {
                        continue;
                    }
                    // Bit for bit but for a zero's sign (a rounded -0.4 is -0
                    // where the codes go below 0), which the sums, from +0,
                    // never show (the searches' tests check their bits).
                    let same = got[k].to_bits() == want[k].to_bits() || (got[k] == 0.0 && want[k] == 0.0);
                    assert!(same, "{lanes}: {} in {range:?}: {} against {}", t.0[k], got[k], want[k]);
                    assert_eq!(want[k], (super::nearest_int(t.0[k]).clamp(range.0, range.1)) as f32);
                }
            }
        }
    }
}

#[test]
fn lane_compares_are_ieee_on_both_lane_types() {
    use super::lanes::F8;
    let (inf, nan) = (f32::INFINITY, f32::NAN);
    let a = Fx::<8>([nan, 1.0, -0.0, 0.0, inf, -inf, 2.0, 1.0]);
    let b = Fx::<8>([1.0, nan, 0.0, -0.0, inf, -inf, 1.0, 2.0]);
    // Lane k's bit, by Rust's own `>=` and `<` (false where either is NaN).
    let want = |f: fn(f32, f32) -> bool| (0..8).fold(0u32, |m, k| m | (f(a.0[k], b.0[k]) as u32) << k);
    let (at_least, below) = (want(|x, y| x >= y), want(|x, y| x < y));
    assert_eq!((at_least, below), (0b0111_1100, 0b1000_0000), "a hand count of the lanes");
    assert_eq!((a.at_least(b), a.below(b)), (at_least, below), "portable");
    #[cfg(target_arch = "x86_64")]
    if crate::compute::has_avx2() {
        #[target_feature(enable = "avx2")]
        fn avx2(a: &F8, b: &F8) -> (u32, u32) {
            use super::lanes::Avx8;
            (Avx8::load(a).at_least(Avx8::load(b)), Avx8::load(a).below(Avx8::load(b)))
        }
        // SAFETY: the CPU has AVX2.
        assert_eq!(unsafe { avx2(&a, &b) }, (at_least, below), "avx2");
    }
}

#[test]
fn a_q6_k_block_whose_d_is_0_in_fp16_keeps_every_searchs_codes() {
    // Scales near 5e-8 (above GROUP_MAX_EPS): d = max_scale / 128 is below
    // fp16's least subnormal, so every step is 0 and every sub-block keeps
    // the codes of its search.
    let w = block(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0 * 1e-6);
    let (xhat, codes, bytes) = run("q6_k", &w);
    assert_eq!(f16_le(&bytes[208..210]), 0.0, "d");
    for (j, x) in w.values.chunks(16).enumerate() {
        let mut want = [0u8; 16];
        scalar::make_qx_quants(32, x, &mut want);
        assert_eq!(codes[16 * j..16 * (j + 1)], want.map(u16::from), "sub-block {j}");
    }
    assert!(codes.iter().any(|&c| c != 0), "not the cleared block's codes");
    assert!(xhat.iter().all(|&x| x == 0.0));
}

#[test]
fn sixteen_avx512_lanes_give_the_portable_lanes_bits() {
    use super::lanes::F16;
    #[cfg(target_arch = "x86_64")]
    if crate::compute::has_avx512() {
        #[target_feature(enable = "avx512f")]
        fn avx512(t: &F16, o: &F16, range: (i32, i32)) -> ([u32; 16], [u32; 16], u32, u32) {
            use super::lanes::Avx16;
            let v = Avx16::load(t);
            let bits = |v: Avx16| v.store().0.map(f32::to_bits);
            (bits(v.codes_small(range)), bits(v.codes(range)), v.at_least(Avx16::load(o)), v.below(Avx16::load(o)))
        }
        let (inf, nan) = (f32::INFINITY, f32::NAN);
        let mut ts: Vec<f32> = vec![nan, 1.0, -0.0, 0.0, inf, -inf, 2.0, 1.0, 0.5, -0.5, 1.5, 2.5, -1.5, 14.5, 15.5];
        ts.extend((-400..400).map(|i| i as f32 * 0.125 + 0.0625));
        ts.extend([2097151.5, -2097151.5, 2097151.0, 1048576.5, -1048575.5, 1e-30, -1e-30, 3e9, -3e9]);
        let mut others = ts.clone();
        others.rotate_left(1);
        let mut compared = 0;
        for (chunk, other) in ts.chunks(16).zip(others.chunks(16)) {
            let (mut t, mut o) = (F16::default(), F16::default());
            t.0[..chunk.len()].copy_from_slice(chunk);
            o.0[..other.len()].copy_from_slice(other);
            for range in [(0, 15), (-32, 31)] {
                let want = (
                    Lanes::codes_small(t, range).0.map(f32::to_bits),
                    Lanes::codes(t, range).0.map(f32::to_bits),
                    t.at_least(o),
                    t.below(o),
                );
                // SAFETY: the CPU has AVX-512F.
                assert_eq!(unsafe { avx512(&t, &o, range) }, want, "{:?} against {:?} in {range:?}", t.0, o.0);
                compared += 1;
            }
        }
        assert_eq!(compared, 2 * ts.len().div_ceil(16));
    }
}

#[test]
fn avx512_transposes_as_the_portable_lanes_do() {
    use super::lanes::F16;
    #[cfg(target_arch = "x86_64")]
    if crate::compute::has_avx512() {
        #[target_feature(enable = "avx512f")]
        fn avx512(xs: &[f32]) -> ([F16; 16], [F16; 32]) {
            use super::lanes::Avx16;
            (Avx16::transposed::<16>(xs), Avx16::transposed::<32>(xs))
        }
        let xs: Vec<f32> = (0..512).map(|i| i as f32).collect();
        // SAFETY: the CPU has AVX-512F.
        let (sixteen, thirty_two) = unsafe { avx512(&xs) };
        let want_16: [F16; 16] = transposed(&xs);
        let want_32: [F16; 32] = transposed(&xs);
        assert_eq!(sixteen.map(|v| v.0), want_16.map(|v| v.0));
        assert_eq!(thirty_two.map(|v| v.0), want_32.map(|v| v.0));
        assert_eq!(thirty_two[5].0[3], (32 * 3 + 5) as f32, "value 5 of sub-block 3 in lane 3");
    }
}
