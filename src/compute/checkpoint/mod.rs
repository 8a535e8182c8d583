//! Whole checkpoints: a `.safetensors` file, a sharded checkpoint (its
//! `model.safetensors.index.json`), a folder of `.safetensors` files or a
//! `.gguf` file (`gguf.rs`),
//! listed from their headers and scanned one tensor at a time.
//!
//! Shards are never memory-mapped: a shard is an open file and its length
//! at open, and every byte taken from it goes through ONE method,
//! [`Shard::read_into`] (`offset`, a buffer of the length wanted), read with
//! pread ([`Shard::read`] allocates that buffer first). A header is read that way, and a tensor's bytes right before
//! they are decoded, so memory is bounded by the largest tensor, not by the
//! checkpoint, and a file cut short while open is a typed error
//! (`CheckpointError::ShortRead`), not a SIGBUS. `read` refuses a range past
//! the length at open before allocating. Tests hand the shards' bytes
//! directly (`Checkpoint::from_bytes`), read through the same method.

pub mod against;
mod error;
mod gguf;
mod header;
mod open;
pub mod recipe;
pub mod scan;
pub mod select;
mod stats;
pub mod write;

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;

pub use error::CheckpointError;
pub use open::{open, parse_index};

use crate::compute::parallel;
use crate::compute::weights::{self, Weights};

/// Bits per value of a tensor stored as `dtype`, as a kept tensor costs:
/// a safetensors dtype's width, or a GGUF type's blocks with their scales
/// (q4_0: 4.5, q4_1: 5.0); None for a type not known.
pub fn stored_bpw(dtype: &str) -> Option<f64> {
    let ggml = || crate::compute::gguf::GGML_TYPES.iter().find(|t| t.dtype() == dtype).map(|t| t.bits_per_weight());
    header::dtype_bits(dtype).map(|bits| bits as f64).or_else(ggml)
}

/// One file of the checkpoint, read a range at a time through [`Shard::read`].
pub struct Shard {
    pub path: String,
    source: Source,
}

enum Source {
    /// A file on disk and its length when it was opened.
    File { file: File, len: u64 },
    /// The bytes themselves (tests, `Checkpoint::from_bytes`).
    Memory(Vec<u8>),
}

impl Shard {
    /// Opens the file at `path` for reading (its length is taken now).
    pub fn open(path: &Path) -> Result<Shard, CheckpointError> {
        let io = |source| CheckpointError::Io { path: path.display().to_string(), source };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        Ok(Shard { path: path.display().to_string(), source: Source::File { file, len } })
    }

    /// A shard whose bytes are already in memory, named `path`.
    pub fn from_bytes(path: String, bytes: Vec<u8>) -> Shard {
        Shard { path, source: Source::Memory(bytes) }
    }

    /// Its length in bytes (a file's, when it was opened).
    pub fn len(&self) -> u64 {
        match &self.source {
            Source::File { len, .. } => *len,
            Source::Memory(bytes) => bytes.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `len` bytes from byte `offset`, in a buffer of exactly that size.
    /// A range past the length at open is refused before anything is
    /// allocated (so a header's absurd length never allocates), and a file
    /// that has become shorter since it was opened is `ShortRead`.
    pub fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, CheckpointError> {
        self.check_range(offset, len)?;
        let mut buf = vec![0u8; len];
        self.read_into(offset, &mut buf)?;
        Ok(buf)
    }

    /// `read` into the caller's `buf` (its length is the length read): the
    /// scan reuses one buffer per thread instead of faulting in fresh pages
    /// for every tensor. A large range is read in one piece per core.
    pub fn read_into(&self, offset: u64, buf: &mut [u8]) -> Result<(), CheckpointError> {
        let end = self.check_range(offset, buf.len())?;
        match &self.source {
            Source::Memory(bytes) => {
                buf.copy_from_slice(&bytes[offset as usize..end as usize]);
                Ok(())
            }
            Source::File { file, .. } => {
                let threads = if buf.len() >= SPLIT_READ_BYTES { parallel::threads_for(buf.len()) } else { 1 };
                if threads <= 1 {
                    return self.pread(file, offset, buf);
                }
                let piece = buf.len().div_ceil(threads);
                std::thread::scope(|scope| {
                    let reads: Vec<_> = buf
                        .chunks_mut(piece)
                        .enumerate()
                        .map(|(i, part)| scope.spawn(move || self.pread(file, offset + (i * piece) as u64, part)))
                        .collect();
                    reads.into_iter().try_for_each(|r| r.join().expect("a read thread panicked"))
                })
            }
        }
    }

    /// The end of `len` bytes from `offset`, if they lie within the length at open.
    fn check_range(&self, offset: u64, len: usize) -> Result<u64, CheckpointError> {
        let size = self.len();
        let short = CheckpointError::ShortRead { path: self.path.clone(), offset, len, size };
        offset.checked_add(len as u64).filter(|&end| end <= size).ok_or(short)
    }

    fn pread(&self, file: &File, offset: u64, buf: &mut [u8]) -> Result<(), CheckpointError> {
        file.read_exact_at(buf, offset).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => CheckpointError::ShortRead {
                path: self.path.clone(),
                offset,
                len: buf.len(),
                size: file.metadata().map_or(0, |m| m.len()),
            },
            _ => CheckpointError::Io { path: self.path.clone(), source: e },
        })
    }
}

/// A read this long or longer is split between the cores (a tensor of a
/// few MB is read while another is computed; only the large ones read alone).
const SPLIT_READ_BYTES: usize = 8 << 20;

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
    /// Where its bytes are in that shard (absolute offsets, as `Shard::read` takes them).
    pub data: Range<u64>,
    /// Why it is not quantized (integer or bool, rank 1, a dtype not decoded).
    pub skipped: Option<String>,
    /// A GGUF tensor's info (its ggml type and where its blocks are).
    pub gguf: Option<crate::compute::gguf::TensorInfo>,
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
        let shards = files.into_iter().map(|(path, bytes)| Shard::from_bytes(path, bytes)).collect();
        open::assemble(path.to_string(), shards, None, include_1d)
    }

    /// A checkpoint of one in-memory `.gguf` file.
    pub fn from_gguf_bytes(path: &str, bytes: Vec<u8>) -> Result<Checkpoint, CheckpointError> {
        gguf::assemble_gguf(path.to_string(), Shard::from_bytes(path.to_string(), bytes), false)
    }

    pub fn parameters(&self) -> usize {
        self.tensors.iter().map(|t| t.count).sum()
    }

    /// The bytes of `entry` as stored, read from its shard now.
    pub fn raw_bytes(&self, entry: &Entry) -> Result<Vec<u8>, CheckpointError> {
        let len = usize::try_from(entry.data.end - entry.data.start).unwrap_or(usize::MAX);
        self.shards[entry.shard].read(entry.data.start, len)
    }

    /// The tensor decoded to f32 (the same decoder as `--weights`); its raw
    /// bytes live only for this call.
    pub fn load(&self, entry: &Entry) -> Result<Weights, CheckpointError> {
        let mut buffers = Buffers::default();
        let dtype = self.values_into(entry, &mut buffers)?;
        let path = Path::new(&self.shards[entry.shard].path);
        let non_finite = buffers.values.iter().filter(|x| !x.is_finite()).count();
        let (shape, name) = (entry.shape.clone(), Some(entry.name.clone()));
        Ok(weights::counted_weights(path, buffers.values, shape, dtype, name, non_finite))
    }

    /// The tensor's values decoded into `buffers.values` (exactly as many
    /// as it holds), reading through `buffers.raw`, both kept for the next
    /// tensor; f32 safetensors data is read straight into the values. Gives
    /// the dtype the decoder names.
    pub fn values_into(&self, entry: &Entry, buffers: &mut Buffers) -> Result<String, CheckpointError> {
        let shard = &self.shards[entry.shard];
        if let Some(info) = &entry.gguf {
            return gguf::values_into(shard, info, buffers);
        }
        let len = usize::try_from(entry.data.end - entry.data.start).unwrap_or(usize::MAX);
        let path = Path::new(&shard.path);
        let n = weights::check_safetensors(path, &entry.name, &entry.dtype, &entry.shape, len)?;
        shard.check_range(entry.data.start, len)?;
        buffers.values.resize(n, 0.0);
        if entry.dtype == "f32" && cfg!(target_endian = "little") {
            shard.read_into(entry.data.start, f32_bytes(&mut buffers.values))?;
        } else {
            let raw = grown(&mut buffers.raw, len);
            shard.read_into(entry.data.start, raw)?;
            weights::decode_safetensors_into(&entry.dtype, raw, &mut buffers.values);
        }
        Ok(entry.dtype.clone())
    }
}

/// The buffers one scan thread reads and decodes every tensor into, so
/// that their pages are faulted in once, not once per tensor.
#[derive(Default)]
pub struct Buffers {
    raw: Vec<u8>,
    pub values: Vec<f32>,
}

/// The first `len` bytes of `raw`, grown if needed (their old contents are read over).
fn grown(raw: &mut Vec<u8>, len: usize) -> &mut [u8] {
    if raw.len() < len {
        raw.resize(len, 0);
    }
    &mut raw[..len]
}

/// The bytes of `values`, to read little-endian f32 data into.
fn f32_bytes(values: &mut [f32]) -> &mut [u8] {
    // SAFETY: the bytes are those of `values` (same start, four per value,
    // borrowed mutably for as long), u8 needs no alignment, and any four
    // bytes written there are a valid f32.
    unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(values)) }
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
