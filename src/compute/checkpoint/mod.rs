//! Whole checkpoints: a `.safetensors` file, a sharded checkpoint (its
//! `model.safetensors.index.json`) or a folder of `.safetensors` files,
//! listed from their headers and scanned one tensor at a time.
//!
//! Shards are memory-mapped (as `weights::load_file` maps its file) and a
//! tensor's bytes are decoded only when it is scanned, so memory is bounded
//! by the largest tensor, not by the checkpoint. Tests hand the shards'
//! bytes directly (`Checkpoint::from_bytes`).

pub mod against;
mod error;
mod header;
mod open;
pub mod recipe;
pub mod scan;
pub mod select;
mod stats;
pub mod write;

use std::ops::Deref;
use std::path::Path;

pub use error::CheckpointError;
pub use open::open;

use crate::compute::weights::{self, Weights};

/// One file of the checkpoint and its bytes (a memory map, or a buffer).
pub struct Shard {
    pub path: String,
    bytes: Box<dyn Deref<Target = [u8]> + Send + Sync>,
}

/// A tensor as the headers describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: String,
    pub shape: Vec<usize>,
    /// Lower case, as `weights` names them: `f32`, `bf16`, `i64`, …
    pub dtype: String,
    pub count: usize,
    /// Its index in `Checkpoint::shards`.
    pub shard: usize,
    /// Why it is not quantized (integer or bool, rank 1, a dtype not decoded).
    pub skipped: Option<String>,
}

/// An opened checkpoint: its files and every tensor, in file then data order.
pub struct Checkpoint {
    pub path: String,
    pub shards: Vec<Shard>,
    pub tensors: Vec<Entry>,
}

impl Checkpoint {
    /// A checkpoint of in-memory safetensors files `(name, bytes)`, no index.
    pub fn from_bytes(
        path: &str,
        files: Vec<(String, Vec<u8>)>,
        include_1d: bool,
    ) -> Result<Checkpoint, CheckpointError> {
        let shards = files.into_iter().map(|(path, bytes)| Shard { path, bytes: Box::new(bytes) as Box<_> }).collect();
        open::assemble(path.to_string(), shards, None, include_1d)
    }

    pub fn parameters(&self) -> usize {
        self.tensors.iter().map(|t| t.count).sum()
    }

    /// The tensor decoded to f32, through the same loader as `--weights`.
    pub fn load(&self, entry: &Entry) -> Result<Weights, CheckpointError> {
        let shard = &self.shards[entry.shard];
        Ok(weights::load_safetensors(Path::new(&shard.path), &shard.bytes, &entry.name)?)
    }
}

/// Why a tensor is listed but not quantized, if it is not.
fn skip_reason(dtype: &str, shape: &[usize], include_1d: bool) -> Option<String> {
    match dtype {
        "bool" => Some("bool: a mask or flag, not a weight".into()),
        d if d.starts_with('i') || d.starts_with('u') => {
            Some(format!("integer ({d}): an index or buffer, not a weight"))
        }
        d if weights::is_float_dtype(d) && shape.len() < 2 && !include_1d => {
            Some(format!("rank {}: a norm or bias, kept in its dtype (--include-1d quantizes it)", shape.len()))
        }
        d if weights::is_float_dtype(d) => None,
        d => Some(format!("{d}: this dtype is not decoded yet")),
    }
}

#[cfg(test)]
mod tests;
