//! A safetensors header, read and checked by hand so that each way a file
//! can be broken gets its own error naming the file and the tensor.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};

use super::{CheckpointError, Shard};

/// The safetensors crate refuses headers above 100 MB; so do we, up front.
const MAX_HEADER: u64 = 100_000_000;

/// One tensor of a header; `offsets` are relative to the data after it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RawTensor {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub count: usize,
    pub offsets: [usize; 2],
}

#[derive(Deserialize)]
struct RawInfo {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// A JSON object's entries in file order, repeated keys kept (serde_json's
/// maps would keep only the last, hiding a tensor named twice).
pub(super) struct Pairs<V>(pub Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Pairs<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PairsVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for PairsVisitor<V> {
            type Value = Pairs<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs<V>, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(PairsVisitor(std::marker::PhantomData))
    }
}

/// The first key seen twice.
pub(super) fn repeated<V>(pairs: &[(String, V)]) -> Option<&str> {
    let mut seen = std::collections::HashSet::new();
    pairs.iter().map(|(k, _)| k.as_str()).find(|k| !seen.insert(*k))
}

/// Bits per element of each safetensors dtype, by its lower-case name.
pub(super) fn dtype_bits(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "bool" | "u8" | "i8" | "f8_e5m2" | "f8_e4m3" | "f8_e8m0" => 8,
        "f4" => 4,
        "f6_e2m3" | "f6_e3m2" => 6,
        "i16" | "u16" | "f16" | "bf16" => 16,
        "i32" | "u32" | "f32" => 32,
        "i64" | "u64" | "f64" => 64,
        _ => return None,
    })
}

/// A shard's header: its tensors in data order, where the data starts,
/// and its `__metadata__` (string values only, as safetensors defines it).
pub(super) struct Header {
    pub tensors: Vec<RawTensor>,
    /// 8 + the header's length: tensor offsets count from here.
    pub data_start: u64,
    pub metadata: BTreeMap<String, String>,
}

/// Reads and checks `shard`'s header: its length against the file's before
/// reading it, every tensor's size against its shape, and the tensors
/// tiling the data up to the file's end.
pub(super) fn parse(shard: &Shard) -> Result<Header, CheckpointError> {
    let path = shard.path.as_str();
    let bad = |reason: String| CheckpointError::BadHeader { path: path.to_string(), reason };
    let len = shard.len();
    if len < 8 {
        return Err(bad(format!("it has {len} bytes, fewer than the 8 of the header length")));
    }
    let header = u64::from_le_bytes(shard.read(0, 8)?.try_into().expect("read gives 8 bytes"));
    if header > len - 8 {
        return Err(CheckpointError::HeaderPastEnd { path: path.to_string(), header, len });
    }
    if header > MAX_HEADER {
        return Err(bad(format!("its header of {header} bytes is above the {MAX_HEADER} safetensors allows")));
    }
    let json = shard.read(8, header as usize)?;
    let entries: Pairs<serde_json::Value> =
        serde_json::from_slice(&json).map_err(|e| bad(format!("its header is not a JSON object: {e}")))?;
    if let Some(name) = repeated(&entries.0) {
        return Err(CheckpointError::DuplicateTensor { path: path.to_string(), name: name.to_string() });
    }
    let mut tensors = Vec::with_capacity(entries.0.len());
    let mut metadata = BTreeMap::new();
    for (name, value) in entries.0 {
        if name == "__metadata__" {
            let meta: Option<BTreeMap<String, String>> = serde_json::from_value(value)
                .map_err(|e| bad(format!("its __metadata__ is not a map of strings: {e}")))?;
            metadata = meta.unwrap_or_default();
            continue;
        }
        let info: RawInfo =
            serde_json::from_value(value).map_err(|e| bad(format!("the entry of tensor {name} is invalid: {e}")))?;
        tensors.push(checked(path, name, info)?);
    }
    tensors.sort_by_key(|t| t.offsets);
    let data_start = 8 + header;
    check_layout(path, &tensors, usize::try_from(len - data_start).unwrap_or(usize::MAX))?;
    Ok(Header { tensors, data_start, metadata })
}

fn checked(path: &str, name: String, info: RawInfo) -> Result<RawTensor, CheckpointError> {
    let dtype = info.dtype.to_ascii_lowercase();
    let Some(bits) = dtype_bits(&dtype) else {
        return Err(CheckpointError::UnknownDtype { path: path.to_string(), name, dtype: info.dtype });
    };
    let count = info.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let [start, end] = info.data_offsets;
    let bad = |reason: String| CheckpointError::BadHeader { path: path.to_string(), reason };
    let count = count.ok_or_else(|| bad(format!("tensor {name} has a shape {:?} too large to count", info.shape)))?;
    if count == 0 {
        return Err(CheckpointError::ZeroSize { path: path.to_string(), name, shape: info.shape });
    }
    if end < start {
        return Err(bad(format!("tensor {name} ends (byte {end}) before it starts (byte {start})")));
    }
    let want = count.checked_mul(bits).map(|b| b.div_ceil(8));
    if want != Some(end - start) {
        return Err(CheckpointError::WrongSize {
            path: path.to_string(),
            name,
            shape: info.shape,
            dtype,
            want: want.unwrap_or(usize::MAX),
            have: end - start,
        });
    }
    Ok(RawTensor { name, dtype, shape: info.shape, count, offsets: info.data_offsets })
}

/// Tensors sorted by offset must tile the data exactly, as the format (and
/// the safetensors crate that decodes them later) requires.
fn check_layout(path: &str, tensors: &[RawTensor], data_len: usize) -> Result<(), CheckpointError> {
    let bad = |reason: String| CheckpointError::BadHeader { path: path.to_string(), reason };
    let mut at = 0;
    for (i, t) in tensors.iter().enumerate() {
        let [start, end] = t.offsets;
        if start < at {
            let prev = &tensors[i - 1];
            return Err(CheckpointError::Overlap {
                path: path.to_string(),
                first: prev.name.clone(),
                second: t.name.clone(),
                a: prev.offsets,
                b: t.offsets,
            });
        }
        if start > at {
            return Err(bad(format!("{} bytes of its data before tensor {} belong to no tensor", start - at, t.name)));
        }
        if end > data_len {
            return Err(CheckpointError::CutShort { path: path.to_string(), name: t.name.clone(), end, len: data_len });
        }
        at = end;
    }
    if at < data_len {
        return Err(bad(format!("{} bytes after the last tensor belong to no tensor", data_len - at)));
    }
    Ok(())
}
