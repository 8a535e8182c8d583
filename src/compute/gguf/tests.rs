//! The reader on files built here byte by byte, the decoders on blocks
//! worked out by hand and on our own quantizers' packed blocks, and the
//! reader fuzzed with arbitrary and mangled files.

use proptest::prelude::*;

use super::*;
use crate::compute::formats::{self, dequantized, packed};
use crate::compute::quant::QuantConfig;
use crate::compute::weights::{Distribution, SyntheticSpec, synthetic};

/// A metadata pair as stored: key, value type, the value's bytes.
pub(crate) type Kv = (&'static str, u32, Vec<u8>);

/// A tensor as stored: name, `ne` (innermost first), type id, data.
pub(crate) type RawTensor = (&'static str, Vec<u64>, u32, Vec<u8>);

fn gguf_str(s: &str) -> Vec<u8> {
    let mut out = (s.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(s.as_bytes());
    out
}

fn u32_kv(key: &'static str, v: u32) -> Kv {
    (key, 4, v.to_le_bytes().to_vec())
}

fn str_kv(key: &'static str, v: &str) -> Kv {
    (key, 8, gguf_str(v))
}

/// A GGUF file: the header, then each tensor's data at the next multiple
/// of `alignment` (also written as `general.alignment` when not 32).
pub(crate) fn gguf_file(version: u32, kvs: &[Kv], tensors: &[RawTensor], alignment: u64) -> Vec<u8> {
    let mut kvs = kvs.to_vec();
    if alignment != 32 {
        kvs.push(u32_kv("general.alignment", alignment as u32));
    }
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(kvs.len() as u64).to_le_bytes());
    for (key, ty, value) in &kvs {
        out.extend(gguf_str(key));
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(value);
    }
    let mut offset = 0u64;
    for (name, ne, ty, data) in tensors {
        out.extend(gguf_str(name));
        out.extend_from_slice(&(ne.len() as u32).to_le_bytes());
        ne.iter().for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        offset = (offset + data.len() as u64).next_multiple_of(alignment);
    }
    for (_, _, _, data) in tensors {
        out.resize((out.len() as u64).next_multiple_of(alignment) as usize, 0);
        out.extend_from_slice(data);
    }
    out
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f16_bytes(v: f32) -> [u8; 2] {
    half::f16::from_f32(v).to_le_bytes()
}

/// A small llama-like file: metadata of every kind, an f32 [2, 3] tensor
/// and a q8_0 [2, 32] one.
fn sample() -> Vec<u8> {
    let mut nested = 9u32.to_le_bytes().to_vec(); // an array of arrays of u8
    nested.extend_from_slice(&2u64.to_le_bytes());
    for inner in [[1u8, 2].as_slice(), &[3]] {
        nested.extend_from_slice(&0u32.to_le_bytes());
        nested.extend_from_slice(&(inner.len() as u64).to_le_bytes());
        nested.extend_from_slice(inner);
    }
    let mut strings = 8u32.to_le_bytes().to_vec();
    strings.extend_from_slice(&2u64.to_le_bytes());
    strings.extend(gguf_str("<s>"));
    strings.extend(gguf_str("</s>"));
    let kvs = [
        str_kv("general.architecture", "llama"),
        str_kv("general.name", "tiny"),
        u32_kv("general.file_type", 7),
        u32_kv("general.quantization_version", 2),
        u32_kv("llama.attention.head_count", 4),
        ("llama.attention.head_count_kv", 10, 2u64.to_le_bytes().to_vec()),
        ("llama.rope.freq_base", 6, 10000f32.to_le_bytes().to_vec()),
        ("tokenizer.ggml.tokens", 9, strings),
        ("test.nested", 9, nested),
        ("test.flag", 7, vec![1]),
    ];
    let mut q8 = Vec::new();
    for row in 0..2 {
        q8.extend_from_slice(&f16_bytes(0.5));
        q8.extend((0..32).map(|j| (j as i8 - 16 + row) as u8));
    }
    let tensors =
        [("a.weight", vec![3, 2], 0, f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])), ("b.weight", vec![32, 2], 8, q8)];
    gguf_file(3, &kvs, &tensors, 32)
}

#[test]
fn the_header_metadata_and_shapes_read_back() {
    let bytes = sample();
    let g = Gguf::parse("x.gguf", &bytes).unwrap();
    assert_eq!(g.header.version, 3);
    assert_eq!(g.architecture(), Some("llama"));
    assert_eq!(g.name(), Some("tiny"));
    assert_eq!((g.file_type(), g.quantization_version()), (Some(7), Some(2)));
    assert_eq!((g.head_count(), g.head_count_kv()), (Some(4), Some(2)));
    assert_eq!(g.metadata("llama.rope.freq_base"), Some(&Value::F32(10000.0)));
    assert_eq!(g.metadata("test.flag"), Some(&Value::Bool(true)));
    let tokens = Value::Array(vec![Value::Str("<s>".into()), Value::Str("</s>".into())]);
    assert_eq!(g.metadata("tokenizer.ggml.tokens"), Some(&tokens));
    let nested = Value::Array(vec![Value::Array(vec![Value::U8(1), Value::U8(2)]), Value::Array(vec![Value::U8(3)])]);
    assert_eq!(g.metadata("test.nested"), Some(&nested));
    assert_eq!(g.header.alignment, 32);
    assert_eq!(g.header.data_start % 32, 0);
    let a = g.tensor("a.weight").unwrap();
    // ne = [3, 2] is two rows of three.
    assert_eq!(
        (a.shape.as_slice(), a.values.as_slice()),
        ([2usize, 3].as_slice(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0].as_slice())
    );
    let b = g.tensor("b.weight").unwrap();
    assert_eq!((b.shape.clone(), b.dtype.as_str()), (vec![2, 32], "q8_0"));
    assert_eq!(b.values[0], -8.0);
    assert_eq!(b.values[32 + 31], 8.0);
    assert_eq!(g.header.tensors[1].len, Some(68));
}

#[test]
fn version_2_and_a_wider_alignment_read_too() {
    let tensors = [("t", vec![4], 0, f32_bytes(&[1.0, -1.0, 0.5, 2.0])), ("u", vec![2], 1, vec![0, 0x3C, 0, 0xC0])];
    let bytes = gguf_file(2, &[], &tensors, 256);
    let g = Gguf::parse("x.gguf", &bytes).unwrap();
    assert_eq!((g.header.version, g.header.alignment, g.header.data_start % 256), (2, 256, 0));
    assert_eq!(g.tensor("u").unwrap().values, [1.0, -2.0]);
    assert_eq!(g.header.tensors[1].start, g.header.data_start + 256);
}

fn parse_err(bytes: &[u8]) -> GgufError {
    parse("x.gguf", bytes).unwrap_err()
}

/// The sample with `at..at + 8` replaced by `v`.
fn patched_u64(mut bytes: Vec<u8>, at: usize, v: u64) -> Vec<u8> {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
    bytes
}

#[test]
fn absurd_counts_and_lengths_are_refused_naming_the_field() {
    let bytes = sample();
    let e = parse_err(&patched_u64(bytes.clone(), 8, 4_000_000_000));
    assert!(matches!(&e, GgufError::AbsurdCount { field, value: 4_000_000_000, .. } if field == "tensor count"), "{e}");
    assert!(e.to_string().starts_with("tensor count 4000000000 in x.gguf is more than the file's"), "{e}");
    let e = parse_err(&patched_u64(bytes.clone(), 16, u64::MAX));
    assert!(matches!(&e, GgufError::AbsurdCount { field, .. } if field == "metadata count"), "{e}");
    // The first key's length.
    let e = parse_err(&patched_u64(bytes.clone(), 24, 1 << 40));
    assert!(matches!(&e, GgufError::AbsurdCount { field, .. } if field == "the length of metadata key 0"), "{e}");
    // The tokens array's length: key at 24.., then type, then the array's item type.
    let at = find(&bytes, b"tokenizer.ggml.tokens") + 21 + 4 + 4;
    let e = parse_err(&patched_u64(bytes, at, 1 << 50));
    assert!(
        matches!(&e, GgufError::AbsurdCount { field, .. } if field == "the array length of metadata tokenizer.ggml.tokens"),
        "{e}"
    );
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap()
}

#[test]
fn truncation_bad_magic_and_versions_are_refused() {
    let bytes = sample();
    assert!(matches!(parse_err(&bytes[..3]), GgufError::CutShort { .. }));
    let header_end = Gguf::parse("x", &bytes).unwrap().header.data_start as usize;
    assert!(matches!(parse_err(&bytes[..header_end - 40]), GgufError::CutShort { .. }));
    let e = parse_err(&bytes[..header_end + 10]);
    assert!(matches!(&e, GgufError::DataPastEnd { name, .. } if name == "a.weight"), "{e}");
    assert!(matches!(parse_err(b"GGML\x03\0\0\0"), GgufError::BadMagic { .. }));
    let mut v1 = bytes.clone();
    v1[4] = 1;
    assert!(matches!(parse_err(&v1), GgufError::Version { version: 1, .. }));
}

#[test]
fn bad_alignments_offsets_blocks_and_types() {
    let t = |ne: Vec<u64>, ty: u32, data: Vec<u8>| [("t", ne, ty, data)];
    for bad in [0u32, 48, 1 << 20] {
        let bytes = gguf_file(3, &[u32_kv("general.alignment", bad)], &t(vec![1], 0, vec![0; 4]), 32);
        assert!(matches!(parse_err(&bytes), GgufError::Alignment { .. }), "{bad}");
    }
    let bytes = gguf_file(3, &[str_kv("general.alignment", "32")], &[], 32);
    assert!(matches!(parse_err(&bytes), GgufError::Alignment { kind: "value that is not a u32", .. }));
    // q4_0 rows of 48 values are not whole blocks of 32.
    let e = parse_err(&gguf_file(3, &[], &t(vec![48], 2, vec![0; 36]), 32));
    assert!(matches!(&e, GgufError::BlockMisfit { ne0: 48, block: 32, .. }), "{e}");
    let e = parse_err(&gguf_file(3, &[], &t(vec![1, 1, 1, 1, 1], 0, vec![0; 4]), 32));
    assert!(matches!(e, GgufError::Dims { n_dims: 5, .. }));
    let e = parse_err(&gguf_file(3, &[], &t(vec![1 << 40, 1 << 40], 0, vec![0; 4]), 32));
    assert!(matches!(e, GgufError::Overflow { .. }));
    // An offset past the end, and one off the alignment.
    let bytes = gguf_file(3, &[], &t(vec![1], 0, vec![0; 4]), 32);
    let at = find(&bytes, b"t") + 1 + 4 + 8 + 4;
    assert!(matches!(parse_err(&patched_u64(bytes.clone(), at, 1 << 30)), GgufError::DataPastEnd { .. }));
    assert!(matches!(parse_err(&patched_u64(bytes.clone(), at, u64::MAX - 7)), GgufError::Misaligned { .. }));
    assert!(matches!(parse_err(&patched_u64(bytes, at, !31u64)), GgufError::DataPastEnd { .. }));
    // An unknown type is listed, and refused when decoded.
    let bytes = gguf_file(3, &[], &t(vec![4], 99, vec![0; 4]), 32);
    let g = Gguf::parse("x.gguf", &bytes).unwrap();
    assert_eq!((g.header.tensors[0].len, type_label(99)), (None, "ggml type 99 (unknown)".to_string()));
    assert!(matches!(g.tensor("t"), Err(GgufError::UnknownType { type_id: 99, .. })));
    let e = parse_err(&gguf_file(3, &[], &t(vec![1 << 40], 99, vec![0; 4]), 32));
    assert!(matches!(e, GgufError::UnknownTooLarge { type_id: 99, .. }), "{e}");
    // An IQ type is listed with its size, and not decoded.
    let bytes = gguf_file(3, &[], &t(vec![32], 20, vec![0; 18]), 32);
    let g = Gguf::parse("x.gguf", &bytes).unwrap();
    let e = g.tensor("t").unwrap_err();
    assert!(matches!(&e, GgufError::NotDecoded { type_name, .. } if type_name == "iq4_nl"), "{e}");
}

#[test]
fn overlapping_tensors_duplicate_names_and_keys_are_refused() {
    let two = [("a", vec![8], 0, vec![0; 32]), ("b", vec![8], 0, vec![0; 32])];
    let bytes = gguf_file(3, &[], &two, 32);
    let at = find(&bytes, b"\x01\0\0\0\0\0\0\0b") + 9 + 4 + 8 + 4;
    let e = parse_err(&patched_u64(bytes, at, 0));
    assert!(matches!(&e, GgufError::Overlap { first, second, .. } if first == "a" && second == "b"), "{e}");
    let same = [("a", vec![1], 0, vec![0; 4]), ("a", vec![1], 0, vec![0; 4])];
    assert!(matches!(parse_err(&gguf_file(3, &[], &same, 32)), GgufError::DuplicateTensor { .. }));
    let kvs = [u32_kv("k", 1), u32_kv("k", 2)];
    assert!(matches!(parse_err(&gguf_file(3, &kvs, &[], 32)), GgufError::DuplicateKey { .. }));
    assert!(matches!(parse_err(&gguf_file(3, &[("k", 13, vec![0; 8])], &[], 32)), GgufError::ValueType { .. }));
}

#[test]
fn arrays_nested_too_deep_are_refused_without_recursing_further() {
    let mut value = Vec::new();
    for _ in 0..100 {
        value.extend_from_slice(&9u32.to_le_bytes());
        value.extend_from_slice(&1u64.to_le_bytes());
    }
    value.extend_from_slice(&0u32.to_le_bytes());
    value.extend_from_slice(&0u64.to_le_bytes());
    let e = parse_err(&gguf_file(3, &[("deep", 9, value)], &[], 32));
    assert!(matches!(e, GgufError::TooDeep { .. }), "{e}");
}

/// Decodes whole blocks of `ty` with its table entry.
fn decode_with(id: u32, bytes: &[u8]) -> Vec<f32> {
    let t = ggml_type(id).unwrap();
    let mut out = vec![0f32; bytes.len() / t.bytes * t.block];
    decode_blocks(t.decode.unwrap(), t.block, t.bytes, bytes, &mut out);
    out
}

#[test]
fn q2_k_by_hand() {
    // Scales: sc = 1, m = 2 everywhere; d = 1, dmin = 0.5; every byte of
    // qs holds the codes 0, 1, 2, 3 at shifts 0, 2, 4, 6: x = q - 1.
    let mut b = vec![0x21u8; 16];
    b.extend([0xE4u8; 64]);
    b.extend(f16_bytes(1.0));
    b.extend(f16_bytes(0.5));
    let want: Vec<f32> = (0..256).map(|i| ((i % 128) / 32) as f32 - 1.0).collect();
    assert_eq!(decode_with(10, &b), want);
}

#[test]
fn q3_k_by_hand() {
    // Every scale 33 (low nibble 1, top bits 2): 33 - 32 = 1; d = 2.
    let block = |hmask: u8| {
        let mut b = vec![hmask; 32];
        b.extend([0xE4u8; 64]);
        b.extend([0x11u8; 8]);
        b.extend([0xAAu8; 4]);
        b.extend(f16_bytes(2.0));
        b
    };
    let crumbs: Vec<f32> = (0..256).map(|i| ((i % 128) / 32) as f32).collect();
    assert_eq!(decode_with(11, &block(0xFF)), crumbs.iter().map(|q| 2.0 * q).collect::<Vec<_>>());
    // A clear hmask bit takes 4 off the code.
    assert_eq!(decode_with(11, &block(0)), crumbs.iter().map(|q| 2.0 * (q - 4.0)).collect::<Vec<_>>());
}

#[test]
fn q5_k_by_hand() {
    // sc = 1 and m = 3 for every sub-block; qh all set (+16); qs 0x21:
    // sub-blocks 0, 2, 4, 6 read 1, the others 2. d = 0.25, dmin = 1.
    let mut b = f16_bytes(0.25).to_vec();
    b.extend(f16_bytes(1.0));
    b.extend([1u8; 4]);
    b.extend([3u8; 4]);
    b.extend([0x31u8; 4]);
    b.extend([0xFFu8; 32]);
    b.extend([0x21u8; 128]);
    let want: Vec<f32> = (0..256).map(|i| 0.25 * (16 + 1 + (i / 32) % 2) as f32 - 3.0).collect();
    assert_eq!(decode_with(13, &b), want);
}

#[test]
fn tq1_0_by_hand() {
    // Byte 255 is five trits of 2 (+1), byte 0 five of 0 (-1), byte 128
    // (121 = 11111 in base 3, stored as (121 · 256 + 242) / 243) five of
    // 1 (0); qh's bytes are read for four trits each.
    let mut b = vec![255u8; 32];
    b.extend([0u8; 16]);
    b.extend([128u8; 4]);
    b.extend(f16_bytes(3.0));
    let mut want = vec![3.0f32; 160];
    want.extend([-3.0; 80]);
    want.extend([0.0; 16]);
    assert_eq!(decode_with(34, &b), want);
}

#[test]
fn bf16_f16_and_mxfp4_by_hand() {
    assert_eq!(decode_with(30, &[0x80, 0x3F, 0x00, 0xC0]), [1.0, -2.0]);
    assert_eq!(decode_with(1, &[0x00, 0x3C, 0x00, 0x80]), [1.0, -0.0]);
    // e = 128: the halved scale 2^0 = 1; nibbles 0x7 (12 → 6 · 2) and 0xF (-12).
    let mut b = vec![128u8];
    b.extend([0xF7u8; 16]);
    let mut want = vec![12.0f32; 16];
    want.extend([-12.0; 16]);
    assert_eq!(decode_with(39, &b), want);
    // e = 0 and 1 are float32 subnormals.
    assert_eq!(
        decode_with(39, &[0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])[0],
        f32::from_bits(0x0020_0000)
    );
}

/// The formats we write as ggml blocks and their type ids.
const WRITTEN: [(&str, u32); 9] = [
    ("q4_0", 2),
    ("q4_1", 3),
    ("q5_0", 6),
    ("q5_1", 7),
    ("q8_0", 8),
    ("q4_k", 12),
    ("q6_k", 14),
    ("tq2_0", 35),
    ("mxfp4", 39),
];

#[test]
fn decoding_our_own_packed_blocks_gives_our_quantizers_values() {
    let spec = SyntheticSpec {
        distribution: Distribution::StudentT,
        rows: 8,
        cols: 512,
        seed: 3,
        dof: 4.0,
        outlier_fraction: 0.0,
    };
    let w = synthetic(&spec).unwrap();
    for (format, id) in WRITTEN {
        let cfg = QuantConfig { format: formats::find(format).unwrap(), ..QuantConfig::default() };
        let bytes = packed(&w, &cfg).unwrap().unwrap();
        let (xhat, _) = dequantized(&w, &cfg).unwrap();
        let decoded = decode_with(id, &bytes);
        let same = decoded.iter().zip(&xhat).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same && decoded.len() == xhat.len(), "{format}");
    }
}

#[test]
fn the_write_table_agrees_with_the_read_table() {
    for q in &crate::compute::checkpoint::write::gguf::QUANTIZED {
        let t = ggml_type(q.id).unwrap();
        assert_eq!((t.dtype(), t.block), (q.format.to_string(), q.block), "{}", q.format);
        assert!(t.decode.is_some());
    }
    // Ids are unique and in order.
    assert!(GGML_TYPES.windows(2).all(|w| w[0].id < w[1].id));
}

#[test]
fn decoding_in_parallel_gives_the_serial_bits() {
    let bytes: Vec<u8> = (0..210 * 1024u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let t = ggml_type(14).unwrap();
    let parallel = decode_with(14, &bytes);
    let mut serial = vec![0f32; parallel.len()];
    for (b, o) in bytes.chunks_exact(t.bytes).zip(serial.chunks_exact_mut(t.block)) {
        (t.decode.unwrap())(b, o);
    }
    assert!(parallel.iter().zip(&serial).all(|(a, b)| a.to_bits() == b.to_bits()));
}

/// Parses and, when that succeeds, decodes every tensor: neither may panic.
fn read_everything(bytes: &[u8]) {
    if let Ok(g) = Gguf::parse("fuzz.gguf", bytes) {
        for t in &g.header.tensors {
            let _ = g.tensor(&t.name);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut with_magic = b"GGUF\x03\0\0\0".to_vec();
        with_magic.extend_from_slice(&bytes);
        read_everything(&bytes);
        read_everything(&with_magic);
    }

    #[test]
    fn mangled_files_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        insert in any::<prop::sample::Index>(),
        inserted in proptest::collection::vec(any::<u8>(), 0..16),
        mode in 0u8..3,
    ) {
        let mut bytes = sample();
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        match mode {
            0 => bytes.truncate(cut.index(bytes.len() + 1)),
            1 => {
                let at = insert.index(bytes.len() + 1);
                bytes.splice(at..at, inserted);
            }
            _ => {}
        }
        read_everything(&bytes);
    }
}

#[test]
fn a_header_read_from_a_prefix_asks_for_more_or_equals_the_whole_file_s() {
    let file = sample();
    let whole = parse("x.gguf", &file).unwrap();
    // Cut inside the metadata: more bytes are needed, nothing is refused.
    let cut = find(&file, b"tokenizer.ggml.tokens");
    assert!(matches!(parse_prefix("x.gguf", &file[..cut], file.len() as u64), Err(GgufError::CutShort { .. })));
    // Counts are checked against the file, not the prefix: a prefix that
    // ends after the counts does not make them look absurd.
    assert!(matches!(parse_prefix("x.gguf", &file[..24], file.len() as u64), Err(GgufError::CutShort { .. })));
    // Past the header, the prefix gives the whole file's header.
    let header_end = whole.data_start as usize;
    assert_eq!(parse_prefix("x.gguf", &file[..header_end], file.len() as u64).unwrap(), whole);
}

#[test]
fn a_header_larger_than_the_first_read_is_read_again_whole() {
    // A 9 MB string of metadata: more than the checkpoint's first read of the header.
    let kvs = [str_kv("general.architecture", "llama"), str_kv("test.big", &"x".repeat(9 << 20))];
    let tensors = [("a.weight", vec![3, 2], 0, f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))];
    let file = gguf_file(3, &kvs, &tensors, 32);
    let ck = crate::compute::checkpoint::Checkpoint::from_gguf_bytes("big.gguf", file).unwrap();
    assert_eq!(ck.tensors.len(), 1);
    assert_eq!(ck.load(&ck.tensors[0]).unwrap().values, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn a_length_pointing_far_into_a_large_file_stops_at_the_header_cap() {
    // A string claimed 300 MiB long in a file that long: its count passes
    // (the file could hold it), but the header is not read past 256 MiB.
    let mut file = b"GGUF".to_vec();
    file.extend_from_slice(&3u32.to_le_bytes());
    file.extend_from_slice(&0u64.to_le_bytes());
    file.extend_from_slice(&1u64.to_le_bytes());
    file.extend(gguf_str("general.name"));
    file.extend_from_slice(&8u32.to_le_bytes());
    file.extend_from_slice(&(300u64 << 20).to_le_bytes());
    file.resize((300 << 20) + 64, 0);
    let e = crate::compute::checkpoint::Checkpoint::from_gguf_bytes("huge.gguf", file).err().unwrap();
    assert!(e.to_string().contains("runs past its first 256.0 MiB while reading metadata general.name"), "{e}");
}
