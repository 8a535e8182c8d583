//! A `.gguf` file as a checkpoint: one shard, its tensors listed from the
//! GGUF header with their ggml type as the dtype (`q4_k`, `f16`), each
//! read (`Shard::read`, no memory map) and decoded to f32 when scanned.

use super::{Buffers, Checkpoint, CheckpointError, Entry, Shard, skip_reason};
use crate::compute::gguf::{self, GgufError, Header, TensorInfo};

/// How much of the file the first try at the header reads: most headers
/// fit (a 32k-token vocabulary takes about 1 MB); a larger one is read
/// again with four times as much, up to the whole file.
const FIRST_READ: u64 = 4 << 20;
/// The largest header read: a length in a corrupt header that points far
/// into a large file stops here instead of reading the file into memory.
const MAX_HEADER: u64 = 256 << 20;

/// Lists the GGUF file `shard` as a checkpoint.
pub(super) fn assemble_gguf(path: String, shard: Shard, include_1d: bool) -> Result<Checkpoint, CheckpointError> {
    let header = read_header(&shard)?;
    let tensors = header.tensors.into_iter().map(|info| entry(info, include_1d)).collect();
    Ok(Checkpoint { path, shards: vec![shard], tensors })
}

/// The header from the file's first bytes, read again with more while it runs past them.
pub(super) fn read_header(shard: &Shard) -> Result<Header, CheckpointError> {
    let most = MAX_HEADER.min(shard.len());
    let mut want = FIRST_READ.min(most);
    loop {
        let prefix = shard.read(0, want as usize)?;
        match gguf::parse_prefix(&shard.path, &prefix, shard.len()) {
            Err(GgufError::CutShort { .. }) if want < most => want = want.saturating_mul(4).min(most),
            Err(GgufError::CutShort { field, .. }) if want < shard.len() => {
                return Err(GgufError::HeaderTooLarge { path: shard.path.clone(), field, max: MAX_HEADER }.into());
            }
            header => return Ok(header?),
        }
    }
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
        data: info.start..info.start + info.len.unwrap_or(0),
        skipped,
        gguf: Some(info),
    }
}

/// One tensor of a GGUF shard read through `buffers.raw` and decoded into
/// `buffers.values`; gives the type's dtype name.
pub(super) fn values_into(shard: &Shard, info: &TensorInfo, buffers: &mut Buffers) -> Result<String, CheckpointError> {
    if info.count() > gguf::MAX_DECODED {
        // Refused before its bytes are read, not after.
        let (path, name, count) = (shard.path.clone(), info.name.clone(), info.count() as u64);
        return Err(GgufError::TooLarge { path, name, count, max: gguf::MAX_DECODED }.into());
    }
    let len = usize::try_from(info.len.unwrap_or(0)).unwrap_or(usize::MAX);
    shard.check_range(info.start, len)?;
    let bytes = super::grown(&mut buffers.raw, len);
    shard.read_into(info.start, bytes)?;
    // The bytes read are the tensor's alone: its data starts at 0 in them.
    let local = TensorInfo { start: 0, ..info.clone() };
    Ok(gguf::decode_tensor_into(&shard.path, bytes, &local, &mut buffers.values)?)
}
