//! What can be wrong with a GGUF file, each naming the file, the field and
//! the value that gave it away.

use crate::compute::format::bytes;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GgufError {
    #[error("{path} is not a GGUF file: it starts with {found:?}, not the magic \"GGUF\"")]
    BadMagic { path: String, found: Vec<u8> },

    #[error(
        "{path} is GGUF version {version}; only versions 2 and 3 are read (version 1 files predate 2023-08 and are rare)"
    )]
    Version { path: String, version: u32 },

    #[error(
        "{path} is cut short: {field} at byte {at} needs {need} bytes, but the file ends at byte {len} (an interrupted download or copy?)"
    )]
    CutShort { path: String, field: String, at: usize, need: u64, len: usize },

    #[error(
        "{path}: the header runs past its first {} while reading {field}; a header that long is taken to be corrupt (a length in it points far into the file)",
        bytes(*max)
    )]
    HeaderTooLarge { path: String, field: String, max: u64 },

    #[error(
        "{field} {value} in {path} is more than the file's {} could hold (each takes at least {min} bytes, {left} bytes are left); the header is corrupt",
        bytes(*len as u64)
    )]
    AbsurdCount { path: String, field: String, value: u64, min: u64, left: usize, len: usize },

    #[error("{path}: {field} has value type {value_type}, which GGUF does not define (0..=12); the header is corrupt")]
    ValueType { path: String, field: String, value_type: u32 },

    #[error(
        "{path}: metadata {key} nests arrays {depth} deep, more than any real file (at most {max}); the header is corrupt"
    )]
    TooDeep { path: String, key: String, depth: usize, max: usize },

    #[error("{path}: metadata key {key:?} appears twice; the header is corrupt")]
    DuplicateKey { path: String, key: String },

    #[error("{path}: general.alignment is {value}, but it must be a power of two from 1 to {max} (a {kind})")]
    Alignment { path: String, value: String, kind: &'static str, max: u64 },

    #[error("{path}: tensor {name} has {n_dims} dimensions; ggml tensors have 1 to {max}")]
    Dims { path: String, name: String, n_dims: u32, max: u32 },

    #[error("{path}: tensor {name} has shape {shape:?} (ggml order), whose element count does not fit in 63 bits")]
    Overflow { path: String, name: String, shape: Vec<u64> },

    #[error(
        "{path}: tensor {name} of unknown ggml type {type_id} has {count} values, more than the file's {} could hold at one bit each; the header is corrupt",
        bytes(*len as u64)
    )]
    UnknownTooLarge { path: String, name: String, type_id: u32, count: u64, len: usize },

    #[error(
        "{path}: tensor {name} is {type_name}, whose blocks hold {block} values, but its rows hold {ne0} (ne[0]); the header is corrupt"
    )]
    BlockMisfit { path: String, name: String, type_name: String, block: usize, ne0: u64 },

    #[error(
        "{path}: tensor {name} starts at data offset {offset}, which is not a multiple of general.alignment {alignment}; the header is corrupt"
    )]
    Misaligned { path: String, name: String, offset: u64, alignment: u64 },

    #[error(
        "{path} is cut short: tensor {name} spans bytes {start}..{end} of the file, which ends at byte {len} (an interrupted download or copy?)"
    )]
    DataPastEnd { path: String, name: String, start: u64, end: u64, len: usize },

    #[error(
        "{path}: the data of tensors {first} and {second} overlap (data offsets {a:?} and {b:?}); the header is corrupt"
    )]
    Overlap { path: String, first: String, second: String, a: [u64; 2], b: [u64; 2] },

    #[error("{path}: tensor name {name:?} appears twice; the header is corrupt")]
    DuplicateTensor { path: String, name: String },

    #[error("{path} has no tensor named {name:?}")]
    NoTensor { path: String, name: String },

    #[error(
        "{path}: tensor {name} has ggml type {type_id}, which this version does not know, so its size and values are unknown"
    )]
    UnknownType { path: String, name: String, type_id: u32 },

    #[error("{path}: tensor {name} is {type_name}, which is listed but not decoded (decoded: {decoded})")]
    NotDecoded { path: String, name: String, type_name: String, decoded: String },

    #[error("{path}: tensor {name} has {count} values, more than the {max} the tool decodes at once")]
    TooLarge { path: String, name: String, count: u64, max: usize },
}
