//! GGUF files (llama.cpp's container), read from bytes handed in: the
//! header and metadata (`header.rs`), the table of ggml types
//! (`types.rs`) and our block decoders (`decode.rs`), which give
//! gguf-py's `quants.dequantize` values bit for bit
//! (`scripts/crosscheck_gguf_read.py` checks every decoded type).
//!
//! `Gguf::parse` checks the whole header against the file before anything
//! is decoded, so a tensor's bytes are known to lie inside the file.

mod decode;
mod error;
mod header;
mod types;

pub use decode::{BlockDecoder, decode_blocks};
pub use error::GgufError;
pub use header::{DEFAULT_ALIGNMENT, Header, MAX_ALIGNMENT, TensorInfo, Value, parse, parse_prefix};
pub use types::{GGML_TYPES, GgmlType, ggml_type, type_label};

/// The most values decoded at once (as `weights::MAX_ELEMENTS`).
pub const MAX_DECODED: usize = crate::compute::weights::MAX_ELEMENTS;

/// A GGUF file: its bytes and its checked header.
pub struct Gguf<'a> {
    pub path: String,
    pub header: Header,
    bytes: &'a [u8],
}

/// A tensor decoded to f32, in its original shape (outermost first).
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub values: Vec<f32>,
    pub shape: Vec<usize>,
    /// Its ggml type in lower case (`q4_k`).
    pub dtype: String,
}

impl<'a> Gguf<'a> {
    pub fn parse(path: &str, bytes: &'a [u8]) -> Result<Gguf<'a>, GgufError> {
        Ok(Gguf { path: path.to_string(), header: parse(path, bytes)?, bytes })
    }

    pub fn metadata(&self, key: &str) -> Option<&Value> {
        self.header.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn architecture(&self) -> Option<&str> {
        self.metadata("general.architecture").and_then(Value::as_str)
    }

    pub fn name(&self) -> Option<&str> {
        self.metadata("general.name").and_then(Value::as_str)
    }

    /// `general.file_type`, a `llama_ftype` (15 is mostly Q4_K_M).
    pub fn file_type(&self) -> Option<u64> {
        self.metadata("general.file_type").and_then(Value::as_u64)
    }

    pub fn quantization_version(&self) -> Option<u64> {
        self.metadata("general.quantization_version").and_then(Value::as_u64)
    }

    /// `<arch>.attention.head_count`.
    pub fn head_count(&self) -> Option<u64> {
        self.arch_u64("attention.head_count")
    }

    /// `<arch>.attention.head_count_kv` (grouped-query attention; llama.cpp
    /// takes `head_count` when it is absent).
    pub fn head_count_kv(&self) -> Option<u64> {
        self.arch_u64("attention.head_count_kv")
    }

    fn arch_u64(&self, suffix: &str) -> Option<u64> {
        let arch = self.architecture()?;
        self.metadata(&format!("{arch}.{suffix}")).and_then(Value::as_u64)
    }

    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.header.tensors.iter().find(|t| t.name == name)
    }

    /// One tensor decoded to f32 (for `--against` and `--weights`).
    pub fn tensor(&self, name: &str) -> Result<Decoded, GgufError> {
        let info = self
            .tensor_info(name)
            .ok_or_else(|| GgufError::NoTensor { path: self.path.clone(), name: name.to_string() })?;
        decode_tensor(&self.path, self.bytes, info)
    }
}

/// The lower-case names of the types we decode, for messages.
pub fn decoded_names() -> Vec<String> {
    GGML_TYPES.iter().filter(|t| t.decode.is_some()).map(GgmlType::dtype).collect()
}

/// Whether a dtype name (lower case) is a ggml type we decode.
pub fn is_decoded_dtype(dtype: &str) -> bool {
    GGML_TYPES.iter().any(|t| t.decode.is_some() && t.name.eq_ignore_ascii_case(dtype))
}

/// Why a tensor of this type cannot be decoded, if it cannot.
pub fn not_decoded_reason(type_id: u32) -> Option<String> {
    match ggml_type(type_id) {
        None => Some(format!("ggml type {type_id} (unknown): its layout is not known")),
        Some(t) if t.decode.is_none() => Some(format!("{}: listed but not decoded", t.dtype())),
        Some(_) => None,
    }
}

/// Decodes one tensor of the file `bytes` whose header gave `info`.
pub fn decode_tensor(path: &str, bytes: &[u8], info: &TensorInfo) -> Result<Decoded, GgufError> {
    let mut values = Vec::new();
    let dtype = decode_tensor_into(path, bytes, info, &mut values)?;
    Ok(Decoded { values, shape: info.shape.clone(), dtype })
}

/// `decode_tensor` into `out` (resized to the tensor's values, so a scan
/// reuses one buffer for every tensor), giving the tensor's dtype.
pub fn decode_tensor_into(
    path: &str,
    bytes: &[u8],
    info: &TensorInfo,
    out: &mut Vec<f32>,
) -> Result<String, GgufError> {
    let name = || info.name.clone();
    let t = ggml_type(info.type_id).ok_or_else(|| GgufError::UnknownType {
        path: path.to_string(),
        name: name(),
        type_id: info.type_id,
    })?;
    let Some(decode) = t.decode else {
        let (type_name, decoded) = (t.dtype(), decoded_names().join(", "));
        return Err(GgufError::NotDecoded { path: path.to_string(), name: name(), type_name, decoded });
    };
    let count = info.count();
    if count > MAX_DECODED {
        return Err(GgufError::TooLarge {
            path: path.to_string(),
            name: name(),
            count: count as u64,
            max: MAX_DECODED,
        });
    }
    // `parse` checked the range against the file; a header made by hand
    // without it is checked here instead of trusted.
    let (start, len) = (info.start as usize, info.len.unwrap_or(0) as usize);
    let data = bytes.get(start..start.saturating_add(len)).filter(|d| d.len() / t.bytes * t.block == count);
    let Some(data) = data else {
        let end = info.start.saturating_add(len as u64);
        return Err(GgufError::DataPastEnd {
            path: path.to_string(),
            name: name(),
            start: info.start,
            end,
            len: bytes.len(),
        });
    };
    out.resize(count, 0.0);
    decode_blocks(decode, t.block, t.bytes, data, out);
    Ok(t.dtype())
}

#[cfg(test)]
mod tests;
