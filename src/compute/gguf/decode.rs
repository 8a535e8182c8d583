//! ggml's block decoders, written to give gguf-py's `quants.dequantize`
//! bit for bit: every scale is read as fp16 (or E8M0, or bf16) and widened
//! to float32, and each value takes exactly the float32 operations numpy
//! does, in its order (`d * q + m` is a product rounded, then a sum
//! rounded; Rust never fuses them). Each decoder turns one block of bytes
//! into its values; `decode_blocks` runs one over a tensor.

/// Decodes one block: `bytes` is exactly one block, `out` its values.
pub type BlockDecoder = fn(bytes: &[u8], out: &mut [f32]);

fn f16_at(b: &[u8], at: usize) -> f32 {
    half::f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

pub(super) fn f32_block(b: &[u8], out: &mut [f32]) {
    out[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
}

pub(super) fn f16_block(b: &[u8], out: &mut [f32]) {
    out[0] = f16_at(b, 0);
}

pub(super) fn bf16_block(b: &[u8], out: &mut [f32]) {
    out[0] = f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16);
}

/// `block_q8_0` {d, qs[32] int8}: x = q · d.
pub(super) fn q8_0(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for (o, &q) in out.iter_mut().zip(&b[2..34]) {
        *o = q as i8 as f32 * d;
    }
}

/// The 4-bit code of value j of a 32-value block: the low nibble of
/// qs[j] for j < 16, the high nibble of qs[j - 16] after.
#[inline(always)]
fn nibble(qs: &[u8], j: usize) -> u8 {
    if j < 16 { qs[j] & 0x0F } else { qs[j - 16] >> 4 }
}

/// `block_q4_0` {d, qs[16]}: x = d · (q − 8).
pub(super) fn q4_0(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for (j, o) in out.iter_mut().enumerate() {
        *o = d * (nibble(&b[2..18], j) as i32 - 8) as f32;
    }
}

/// `block_q4_1` {d, m, qs[16]}: x = d · q + m.
pub(super) fn q4_1(b: &[u8], out: &mut [f32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    for (j, o) in out.iter_mut().enumerate() {
        *o = d * nibble(&b[4..20], j) as f32 + m;
    }
}

/// The 5-bit code of value j: its nibble and bit j of `qh` as bit 4.
#[inline(always)]
fn five_bits(qh: u32, qs: &[u8], j: usize) -> u8 {
    nibble(qs, j) | (((qh >> j) & 1) as u8) << 4
}

/// `block_q5_0` {d, qh[4], qs[16]}: x = d · (q − 16).
pub(super) fn q5_0(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    for (j, o) in out.iter_mut().enumerate() {
        *o = d * (five_bits(qh, &b[6..22], j) as i32 - 16) as f32;
    }
}

/// `block_q5_1` {d, m, qh[4], qs[16]}: x = d · q + m.
pub(super) fn q5_1(b: &[u8], out: &mut [f32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    for (j, o) in out.iter_mut().enumerate() {
        *o = d * five_bits(qh, &b[8..24], j) as f32 + m;
    }
}

/// The 2-bit code of value i of a 256-value block packed as Q2_K, Q3_K's
/// low bits and TQ2_0 pack them: 128 values per 32 bytes, value
/// 32·k + l of each half in bits 2k of byte l.
#[inline(always)]
fn crumb(qs: &[u8], i: usize) -> u8 {
    (qs[(i / 128) * 32 + i % 32] >> (2 * ((i % 128) / 32))) & 3
}

/// `block_q2_K` {scales[16], qs[64], d, dmin}: a 4-bit scale and a 4-bit
/// minimum per 16 values; x = (d · sc) · q − (dmin · m).
pub(super) fn q2_k(b: &[u8], out: &mut [f32]) {
    let (scales, qs) = (&b[..16], &b[16..80]);
    let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
    for (s, chunk) in out.chunks_exact_mut(16).enumerate() {
        let dl = d * (scales[s] & 0x0F) as f32;
        let ml = dmin * (scales[s] >> 4) as f32;
        for (l, o) in chunk.iter_mut().enumerate() {
            *o = dl * crumb(qs, s * 16 + l) as f32 - ml;
        }
    }
}

/// Q3_K's sixteen 6-bit scales from their 12 bytes: the low nibbles in
/// bytes 0..8 (value s in byte s % 8, high nibble for s ≥ 8), the top two
/// bits in bytes 8..12 (value s in byte 8 + s % 4, bits 2·(s / 4)).
fn q3_k_scales(packed: &[u8]) -> [f32; 16] {
    std::array::from_fn(|s| {
        let low = (packed[s % 8] >> (4 * (s / 8))) & 0x0F;
        let high = (packed[8 + s % 4] >> (2 * (s / 4))) & 0x03;
        ((low | high << 4) as i32 - 32) as f32
    })
}

/// `block_q3_K` {hmask[32], qs[64], scales[12], d}: x = (d · sc) · q,
/// q = low two bits less 4 where the value's hmask bit is clear.
pub(super) fn q3_k(b: &[u8], out: &mut [f32]) {
    let (hmask, qs) = (&b[..32], &b[32..96]);
    let scales = q3_k_scales(&b[96..108]);
    let d = f16_at(b, 108);
    for (s, chunk) in out.chunks_exact_mut(16).enumerate() {
        let dl = d * scales[s];
        for (l, o) in chunk.iter_mut().enumerate() {
            let i = s * 16 + l;
            let high = (hmask[i % 32] >> (i / 32)) & 1;
            *o = dl * (crumb(qs, i) as i32 - (((high ^ 1) as i32) << 2)) as f32;
        }
    }
}

/// The eight 6-bit scales and minimums of Q4_K and Q5_K from 12 bytes
/// (`get_scale_k4`): sub-blocks 0..4 in the low six bits of bytes 0..4
/// (scales) and 4..8 (minimums); 4..8 in the nibbles of bytes 8..12 and
/// the top two bits of bytes 0..8.
fn k4_scales(p: &[u8]) -> ([f32; 8], [f32; 8]) {
    let sc = std::array::from_fn(
        |j| { if j < 4 { p[j] & 0x3F } else { (p[j + 4] & 0x0F) | ((p[j - 4] >> 2) & 0x30) } } as f32,
    );
    let min = std::array::from_fn(
        |j| { if j < 4 { p[j + 4] & 0x3F } else { (p[j + 4] >> 4) | ((p[j] >> 2) & 0x30) } } as f32
    );
    (sc, min)
}

/// The 4-bit code of value i of a 256-value block packed as Q4_K and
/// Q5_K's low bits: sub-blocks 2c and 2c + 1 in the nibbles of bytes
/// 32c .. 32c + 32.
#[inline(always)]
fn k_nibble(qs: &[u8], i: usize) -> u8 {
    let s = i / 32;
    (qs[(s / 2) * 32 + i % 32] >> (4 * (s % 2))) & 0x0F
}

/// `block_q4_K` {d, dmin, scales[12], qs[128]}: x = (d · sc) · q − (dmin · m).
pub(super) fn q4_k(b: &[u8], out: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let (sc, min) = k4_scales(&b[4..16]);
    let qs = &b[16..144];
    for (s, chunk) in out.chunks_exact_mut(32).enumerate() {
        let (dl, ml) = (d * sc[s], dmin * min[s]);
        for (l, o) in chunk.iter_mut().enumerate() {
            *o = dl * k_nibble(qs, s * 32 + l) as f32 - ml;
        }
    }
}

/// `block_q5_K` {d, dmin, scales[12], qh[32], qs[128]}: Q4_K's nibbles
/// with bit 4 of value i in bit i / 32 of qh[i % 32].
pub(super) fn q5_k(b: &[u8], out: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let (sc, min) = k4_scales(&b[4..16]);
    let (qh, qs) = (&b[16..48], &b[48..176]);
    for (s, chunk) in out.chunks_exact_mut(32).enumerate() {
        let (dl, ml) = (d * sc[s], dmin * min[s]);
        for (l, o) in chunk.iter_mut().enumerate() {
            let high = ((qh[l] >> s) & 1) << 4;
            *o = dl * (k_nibble(qs, s * 32 + l) | high) as f32 - ml;
        }
    }
}

/// `block_q6_K` {ql[128], qh[64], scales[16] int8, d}: x = (d · sc) · (q − 32),
/// the low nibble of value i from ql (64 values per half in nibbles of 64
/// bytes), its top two bits from qh (as `crumb` packs them).
pub(super) fn q6_k(b: &[u8], out: &mut [f32]) {
    let (ql, qh, scales) = (&b[..128], &b[128..192], &b[192..208]);
    let d = f16_at(b, 208);
    for (s, chunk) in out.chunks_exact_mut(16).enumerate() {
        let dl = d * scales[s] as i8 as f32;
        for (l, o) in chunk.iter_mut().enumerate() {
            let i = s * 16 + l;
            let low = (ql[(i / 128) * 64 + i % 64] >> (4 * ((i % 128) / 64))) & 0x0F;
            let q = (low | crumb(qh, i) << 4) as i32 - 32;
            *o = dl * q as f32;
        }
    }
}

/// A base-3 digit of a TQ1_0 byte: multiplying by 3^k (mod 256) brings
/// digit k to the top, and (byte · 3) >> 8 reads it.
#[inline(always)]
fn trit(byte: u8, power: u8) -> f32 {
    ((((byte.wrapping_mul(power)) as u16 * 3) >> 8) as i32 - 1) as f32
}

const POWERS_OF_3: [u8; 5] = [1, 3, 9, 27, 81];

/// `block_tq1_0` {qs[48], qh[4], d}: five trits per byte of qs (values
/// 0..160 from bytes 0..32, 160..240 from 32..48, digit k of byte l at
/// 32k + l, resp. 16k + l), four per byte of qh (240..256); x = d · t.
pub(super) fn tq1_0(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 52);
    let (first, rest) = out.split_at_mut(160);
    let (second, last) = rest.split_at_mut(80);
    for (k, &p) in POWERS_OF_3.iter().enumerate() {
        for l in 0..32 {
            first[k * 32 + l] = d * trit(b[l], p);
        }
        for l in 0..16 {
            second[k * 16 + l] = d * trit(b[32 + l], p);
        }
    }
    for (k, &p) in POWERS_OF_3[..4].iter().enumerate() {
        for l in 0..4 {
            last[k * 4 + l] = d * trit(b[48 + l], p);
        }
    }
}

/// `block_tq2_0` {qs[64], d}: x = d · (q − 1), q packed as `crumb`.
pub(super) fn tq2_0(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 64);
    for (i, o) in out.iter_mut().enumerate() {
        *o = d * (crumb(&b[..64], i) as i32 - 1) as f32;
    }
}

/// ggml's MXFP4 values, doubled (its E8M0 scale is halved to match).
const MXFP4_VALUES: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// `ggml_e8m0_to_fp32_half`: 2^(e − 128), float32's subnormals for e < 2.
fn e8m0_half(e: u8) -> f32 {
    f32::from_bits(if e < 2 { 0x0020_0000 << e } else { ((e as u32) - 1) << 23 })
}

/// `block_mxfp4` {e, qs[16]}: x = d · kvalue[q], nibbles as Q4_0's.
pub(super) fn mxfp4(b: &[u8], out: &mut [f32]) {
    let d = e8m0_half(b[0]);
    for (j, o) in out.iter_mut().enumerate() {
        *o = d * MXFP4_VALUES[nibble(&b[1..17], j) as usize] as f32;
    }
}

/// Decodes whole blocks of `bytes` into `out` (as many values as the
/// blocks hold), in parallel over runs of blocks for large tensors; each
/// value depends on its block alone, so the thread count changes nothing.
pub fn decode_blocks(decode: BlockDecoder, block: usize, block_bytes: usize, bytes: &[u8], out: &mut [f32]) {
    debug_assert_eq!(bytes.len() / block_bytes * block, out.len());
    let threads = crate::compute::parallel::threads_for(out.len());
    let blocks = out.len() / block;
    let per_thread = blocks.div_ceil(threads.max(1)).max(1);
    let run = |bytes: &[u8], out: &mut [f32]| {
        for (b, o) in bytes.chunks_exact(block_bytes).zip(out.chunks_exact_mut(block)) {
            decode(b, o);
        }
    };
    if threads <= 1 {
        return run(bytes, out);
    }
    std::thread::scope(|scope| {
        let parts = bytes.chunks(per_thread * block_bytes).zip(out.chunks_mut(per_thread * block));
        for (b, o) in parts {
            scope.spawn(move || run(b, o));
        }
    });
}
