//! GGUF decode speed per type on 1M values (pseudo-random blocks, every
//! scale a finite fp16) and parsing the header of a file with 300 tensors
//! and a 32k-token vocabulary, as `tensors FILE.gguf` does.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use qmc_tui::compute::gguf::{GGML_TYPES, decode_blocks, parse};

const VALUES: usize = 1 << 20;

/// Deterministic bytes (a multiplicative hash), with 0x3C00-ish fp16
/// scales where a block's high bytes land: finite for every type.
fn blocks(bytes: usize) -> Vec<u8> {
    (0..bytes as u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 & 0x3B).collect()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("gguf_decode_1m");
    for t in GGML_TYPES {
        let Some(decoder) = t.decode else { continue };
        let data = blocks(VALUES / t.block * t.bytes);
        let mut out = vec![0f32; VALUES];
        group.bench_function(t.dtype(), |b| {
            b.iter(|| decode_blocks(decoder, t.block, t.bytes, black_box(&data), &mut out));
        });
    }
    group.finish();
}

/// A header of 300 tensor infos and a 32k-string token array.
fn header_bytes() -> Vec<u8> {
    let push_str = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&300u64.to_le_bytes());
    out.extend_from_slice(&1u64.to_le_bytes());
    push_str(&mut out, "tokenizer.ggml.tokens");
    out.extend_from_slice(&9u32.to_le_bytes());
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&32000u64.to_le_bytes());
    for i in 0..32000 {
        push_str(&mut out, &format!("tok{i}"));
    }
    for i in 0..300u64 {
        push_str(&mut out, &format!("blk.{i}.ffn_up.weight"));
        out.extend_from_slice(&2u32.to_le_bytes());
        out.extend_from_slice(&32u64.to_le_bytes());
        out.extend_from_slice(&1u64.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(i * 128).to_le_bytes());
    }
    out.resize(out.len().next_multiple_of(32) + 300 * 128, 0);
    out
}

fn listing(c: &mut Criterion) {
    let bytes = header_bytes();
    c.bench_function("gguf_parse_300_tensors_32k_tokens", |b| {
        b.iter(|| parse("bench.gguf", black_box(&bytes)).unwrap())
    });
}

criterion_group!(benches, decode, listing);
criterion_main!(benches);
