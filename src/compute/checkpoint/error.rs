//! What can go wrong opening or scanning a checkpoint, each naming the file.

use crate::compute::plan::PlanError;
use crate::compute::watch::Cancelled;
use crate::compute::weights::WeightsError;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "cannot scan {path}: expected a .safetensors file, a folder of them, a model.safetensors.index.json or a .gguf file"
    )]
    NotACheckpoint { path: String },

    #[error("{path} holds no .safetensors file, so there is nothing to scan")]
    EmptyFolder { path: String },

    #[error(
        "{path} is cut short: its header says {header} bytes, but the file has only {len}; the file was truncated (an interrupted download or copy?)"
    )]
    HeaderPastEnd { path: String, header: u64, len: u64 },

    #[error(
        "{path} is cut short: tensor {name} ends at byte {end} of the data, but the data has only {len} bytes; the file was truncated (an interrupted download or copy?)"
    )]
    CutShort { path: String, name: String, end: usize, len: usize },

    #[error("{path} is not a valid safetensors file: {reason}")]
    BadHeader { path: String, reason: String },

    #[error(
        "{path}: the data of tensors {first} and {second} overlap (offsets {a:?} and {b:?}); the header is corrupt"
    )]
    Overlap { path: String, first: String, second: String, a: [usize; 2], b: [usize; 2] },

    #[error(
        "{path}: tensor {name} has dtype {dtype:?}, which is not a safetensors dtype (F32, F16, BF16, F64, F8_E4M3, I64, BOOL, …)"
    )]
    UnknownDtype { path: String, name: String, dtype: String },

    #[error("{path}: tensor {name} has zero values (shape {shape:?}); a zero-size tensor cannot be scanned")]
    ZeroSize { path: String, name: String, shape: Vec<usize> },

    #[error(
        "{path}: tensor {name} of shape {shape:?} and dtype {dtype} needs {want} bytes, but its offsets span {have}"
    )]
    WrongSize { path: String, name: String, shape: Vec<usize>, dtype: String, want: usize, have: usize },

    #[error("{path} is not a valid index (model.safetensors.index.json): {reason}")]
    BadIndex { path: String, reason: String },

    #[error(
        "{index} names the shard {shard}, which is missing (tensor {tensor} is in it); download every shard the index lists"
    )]
    MissingShard { index: String, shard: String, tensor: String },

    #[error(
        "{path} is shorter than its header says: it may have been truncated while open (reading {len} bytes at byte {offset}, but the file has {size}); reopen it once whatever writes it has finished"
    )]
    ShortRead { path: String, offset: u64, len: usize, size: u64 },

    #[error(
        "{index} names the shard {shard:?} (for tensor {tensor}), which {reason}; an index may only name files inside its own folder, so it is refused"
    )]
    ShardOutside { index: String, shard: String, tensor: String, reason: String },

    #[error("{path} names tensor {name} twice; each tensor must be in one place only")]
    DuplicateTensor { path: String, name: String },

    #[error("{index} puts tensor {name} in {shard}, but that shard's header does not hold it")]
    NotInShard { index: String, shard: String, name: String },

    #[error("{0}")]
    Weights(#[from] WeightsError),

    #[error("{0}")]
    Gguf(#[from] crate::compute::gguf::GgufError),

    #[error("{flag} {glob:?} matches no tensor of {path}; `qmc-tui tensors FILE` lists the names")]
    GlobMatchesNothing { flag: &'static str, glob: String, path: String },

    #[error("the scan was stopped")]
    Cancelled(#[from] Cancelled),

    #[error(
        "cannot plan {path}: the budget of {budget_bpw:.3} bits per weight ({budget_mb:.2} MB) is below the smallest plan, {smallest_bpw:.3} bits per weight ({smallest_mb:.2} MB, every tensor at its smallest candidate); raise the budget or add a smaller candidate format"
    )]
    BudgetTooSmall { path: String, budget_bpw: f64, budget_mb: f64, smallest_bpw: f64, smallest_mb: f64 },

    #[error("cannot plan {path}: {source}")]
    Plan {
        path: String,
        #[source]
        source: PlanError,
    },
}
