//! The GGUF v3 container's bytes (gguf-py's `GGUFWriter`, llama.cpp's
//! `gguf.cpp`): the header, the metadata, every tensor's info, padded to
//! the alignment; the tensors' data follows, each padded in turn.

/// `general.alignment`: every tensor's data starts at a multiple of it.
pub const ALIGNMENT: usize = 32;

/// A llama.cpp type: our format, its `ggml_type`, the values of one block,
/// and the `general.file_type` (`llama_ftype`) of a model mostly in it.
pub struct GgmlType {
    pub format: &'static str,
    pub id: u32,
    pub block: usize,
    pub file_type: u32,
}

/// The formats whose packed blocks are ggml's (`ggml-common.h`).
pub const QUANTIZED: [GgmlType; 9] = [
    GgmlType { format: "q4_0", id: 2, block: 32, file_type: 2 },
    GgmlType { format: "q4_1", id: 3, block: 32, file_type: 3 },
    GgmlType { format: "q5_0", id: 6, block: 32, file_type: 8 },
    GgmlType { format: "q5_1", id: 7, block: 32, file_type: 9 },
    GgmlType { format: "q8_0", id: 8, block: 32, file_type: 7 },
    GgmlType { format: "q4_k", id: 12, block: 256, file_type: 15 },
    GgmlType { format: "q6_k", id: 14, block: 256, file_type: 18 },
    GgmlType { format: "tq2_0", id: 35, block: 256, file_type: 37 },
    GgmlType { format: "mxfp4", id: 39, block: 32, file_type: 38 },
];

/// The ggml type of a format, if it has one.
pub fn quantized_type(format: &str) -> Option<&'static GgmlType> {
    QUANTIZED.iter().find(|t| t.format == format)
}

/// The ggml type a tensor kept in its safetensors dtype is stored as.
pub fn kept_type(dtype: &str) -> Option<u32> {
    Some(match dtype {
        "f32" => 0,
        "f16" => 1,
        "i8" => 24,
        "i16" => 25,
        "i32" => 26,
        "i64" => 27,
        "f64" => 28,
        "bf16" => 30,
        _ => return None,
    })
}

/// A metadata value.
pub enum Value {
    U32(u32),
    Str(String),
}

/// One tensor's info: its name, its shape as the checkpoint gives it
/// (outermost first; GGUF stores it reversed, ne[0] the row length), its
/// ggml type and its data's length in bytes.
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub ggml_type: u32,
    pub len: usize,
}

/// The bytes zero-padding `len` to the alignment.
pub fn padding(len: usize) -> usize {
    len.next_multiple_of(ALIGNMENT) - len
}

/// Everything before the first tensor's data; the data then follows in
/// the order of `tensors`, each padded with [`padding`].
pub fn header(metadata: &[(&str, Value)], tensors: &[TensorInfo]) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (key, value) in metadata {
        push_str(&mut out, key);
        match value {
            Value::U32(v) => {
                out.extend_from_slice(&4u32.to_le_bytes());
                out.extend_from_slice(&v.to_le_bytes());
            }
            Value::Str(s) => {
                out.extend_from_slice(&8u32.to_le_bytes());
                push_str(&mut out, s);
            }
        }
    }
    let mut offset = 0u64;
    for t in tensors {
        push_str(&mut out, &t.name);
        out.extend_from_slice(&(t.shape.len().max(1) as u32).to_le_bytes());
        let dims: Vec<usize> = if t.shape.is_empty() { vec![1] } else { t.shape.iter().rev().copied().collect() };
        for d in dims {
            out.extend_from_slice(&(d as u64).to_le_bytes());
        }
        out.extend_from_slice(&t.ggml_type.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        offset += (t.len + padding(t.len)) as u64;
    }
    out.resize(out.len() + padding(out.len()), 0);
    out
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_gguf_v3_with_reversed_dims_and_aligned_offsets() {
        let tensors = [
            TensorInfo { name: "a".into(), shape: vec![2, 64], ggml_type: 2, len: 72 },
            TensorInfo { name: "b".into(), shape: vec![3], ggml_type: 0, len: 12 },
        ];
        let h = header(&[("general.alignment", Value::U32(32))], &tensors);
        assert_eq!(&h[..4], b"GGUF");
        assert_eq!(u32::from_le_bytes(h[4..8].try_into().unwrap()), 3);
        assert_eq!(h.len() % ALIGNMENT, 0);
        // "a": name, n_dims 2, ne = [64, 2], type 2, offset 0.
        let kv = 8 + 17 + 4 + 4;
        let a = 24 + kv;
        assert_eq!(&h[a..a + 9], b"\x01\0\0\0\0\0\0\0a");
        let dims = a + 9 + 4;
        assert_eq!(u64::from_le_bytes(h[dims..dims + 8].try_into().unwrap()), 64);
        assert_eq!(u64::from_le_bytes(h[dims + 8..dims + 16].try_into().unwrap()), 2);
        // "b" starts after a's 72 bytes padded to 96.
        let b_offset = a + 9 + 4 + 16 + 4 + 8 + 9 + 4 + 8 + 4;
        assert_eq!(u64::from_le_bytes(h[b_offset..b_offset + 8].try_into().unwrap()), 96);
    }
}
