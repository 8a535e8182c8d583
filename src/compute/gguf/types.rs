//! Every ggml type a GGUF tensor can have (`ggml.h`'s `ggml_type`, gguf-py's
//! `GGML_QUANT_SIZES`): its id, name, values per block, bytes per block
//! and our decoder, if we have one. The write side's
//! `checkpoint::write::gguf::QUANTIZED` maps our formats onto the ids of
//! this table (a test checks they agree); it stays separate because it
//! carries what only writing needs (the format's name, `llama_ftype`).

use super::decode::{self, BlockDecoder};

/// A ggml type's layout and decoder.
pub struct GgmlType {
    pub id: u32,
    /// Upper case, as ggml and gguf-py spell it: `Q4_K`, `F16`.
    pub name: &'static str,
    /// Values per block.
    pub block: usize,
    /// Bytes per block.
    pub bytes: usize,
    /// None: listed but not decoded (the IQ family, integers, …).
    pub decode: Option<BlockDecoder>,
}

impl GgmlType {
    pub fn bits_per_weight(&self) -> f64 {
        (self.bytes * 8) as f64 / self.block as f64
    }

    /// The name in lower case, as a checkpoint's dtype: `q4_k`, `f16`.
    pub fn dtype(&self) -> String {
        self.name.to_ascii_lowercase()
    }
}

const fn t(id: u32, name: &'static str, block: usize, bytes: usize, decode: Option<BlockDecoder>) -> GgmlType {
    GgmlType { id, name, block, bytes, decode }
}

/// Values per super-block of the K and TQ types.
const QK: usize = 256;

/// In id order. Ids 4, 5 (Q4_2, Q4_3) and 31..33 were removed from ggml.
pub const GGML_TYPES: &[GgmlType] = &[
    t(0, "F32", 1, 4, Some(decode::f32_block)),
    t(1, "F16", 1, 2, Some(decode::f16_block)),
    t(2, "Q4_0", 32, 18, Some(decode::q4_0)),
    t(3, "Q4_1", 32, 20, Some(decode::q4_1)),
    t(6, "Q5_0", 32, 22, Some(decode::q5_0)),
    t(7, "Q5_1", 32, 24, Some(decode::q5_1)),
    t(8, "Q8_0", 32, 34, Some(decode::q8_0)),
    t(9, "Q8_1", 32, 40, None),
    t(10, "Q2_K", QK, 84, Some(decode::q2_k)),
    t(11, "Q3_K", QK, 110, Some(decode::q3_k)),
    t(12, "Q4_K", QK, 144, Some(decode::q4_k)),
    t(13, "Q5_K", QK, 176, Some(decode::q5_k)),
    t(14, "Q6_K", QK, 210, Some(decode::q6_k)),
    t(15, "Q8_K", QK, 292, None),
    t(16, "IQ2_XXS", QK, 66, None),
    t(17, "IQ2_XS", QK, 74, None),
    t(18, "IQ3_XXS", QK, 98, None),
    t(19, "IQ1_S", QK, 50, None),
    t(20, "IQ4_NL", 32, 18, None),
    t(21, "IQ3_S", QK, 110, None),
    t(22, "IQ2_S", QK, 82, None),
    t(23, "IQ4_XS", QK, 136, None),
    t(24, "I8", 1, 1, None),
    t(25, "I16", 1, 2, None),
    t(26, "I32", 1, 4, None),
    t(27, "I64", 1, 8, None),
    t(28, "F64", 1, 8, None),
    t(29, "IQ1_M", QK, 56, None),
    t(30, "BF16", 1, 2, Some(decode::bf16_block)),
    t(34, "TQ1_0", QK, 54, Some(decode::tq1_0)),
    t(35, "TQ2_0", QK, 66, Some(decode::tq2_0)),
    t(39, "MXFP4", 32, 17, Some(decode::mxfp4)),
    t(40, "NVFP4", 64, 36, None),
    t(41, "Q1_0", 128, 18, None),
];

/// The type of an id, if ggml has one.
pub fn ggml_type(id: u32) -> Option<&'static GgmlType> {
    GGML_TYPES.iter().find(|t| t.id == id)
}

/// How a type id reads in listings: its name, or "ggml type N (unknown)".
pub fn type_label(id: u32) -> String {
    ggml_type(id).map_or_else(|| format!("ggml type {id} (unknown)"), |t| t.dtype())
}
