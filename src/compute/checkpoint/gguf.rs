//! A `.gguf` file as a checkpoint: one shard, its tensors listed from the
//! GGUF header with their ggml type as the dtype (`q4_k`, `f16`), each
//! decoded to f32 when scanned.

use std::path::Path;

use super::{Checkpoint, CheckpointError, Entry, Shard, skip_reason};
use crate::compute::gguf::{self, TensorInfo};
use crate::compute::weights::{self, Weights};

/// Lists the GGUF file `shard` (already mapped) as a checkpoint.
pub(super) fn assemble_gguf(path: String, shard: Shard, include_1d: bool) -> Result<Checkpoint, CheckpointError> {
    let header = gguf::parse(&shard.path, &shard.bytes)?;
    let tensors = header.tensors.into_iter().map(|info| entry(info, include_1d)).collect();
    Ok(Checkpoint { path, shards: vec![shard], tensors })
}

fn entry(info: TensorInfo, include_1d: bool) -> Entry {
    let dtype = gguf::type_label(info.type_id);
    let empty = (info.count() == 0).then(|| format!("shape {:?}: no values", info.shape));
    let skipped = empty
        .or_else(|| gguf::not_decoded_reason(info.type_id))
        .or_else(|| skip_reason(&dtype, &info.shape, include_1d));
    Entry {
        name: info.name.clone(),
        shape: info.shape.clone(),
        dtype,
        count: info.count(),
        shard: 0,
        skipped,
        gguf: Some(info),
    }
}

/// One tensor of a GGUF shard decoded, as `weights` presents a tensor.
pub(super) fn load(shard: &Shard, info: &TensorInfo) -> Result<Weights, CheckpointError> {
    let decoded = gguf::decode_tensor(&shard.path, &shard.bytes, info)?;
    Ok(weights::from_decoded(Path::new(&shard.path), decoded, &info.name))
}
