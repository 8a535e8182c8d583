//! What can go wrong comparing a model with its quantized copy, each naming
//! the file and the tensor.

use crate::compute::checkpoint::CheckpointError;

#[derive(Debug, thiserror::Error)]
pub enum AgainstError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),

    #[error("cannot read the name map {path}: {source}")]
    MapRead {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the name map {path} is not valid TOML: {reason}; write one `\"original name\" = \"quantized name\"` line per tensor"
    )]
    MapNotToml { path: String, reason: String },

    #[error(
        "the name map {path} gives {key} the value {value}, which is not a string; write `\"{key}\" = \"its name in the quantized model\"`"
    )]
    MapNotString { path: String, key: String, value: String },

    #[error(
        "the name map {path} sends both {first} and {second} to {target}; a tensor of the quantized model stands for one original tensor only"
    )]
    MapTargetTwice { path: String, target: String, first: String, second: String },

    #[error(
        "no tensor of {original} matches one of {quantized} (architecture {architecture}): {original} has names like {original_example}, {quantized} like {quantized_example}; for an architecture other than llama, mistral or qwen2, give --map FILE with `\"original\" = \"quantized\"` lines"
    )]
    NothingMatched {
        original: String,
        quantized: String,
        architecture: String,
        original_example: String,
        quantized_example: String,
    },

    #[error(
        "no tensor of {original} can be compared with {quantized}: the names match but not the shapes ({tensor}: {reason}); {quantized} is not a quantized copy of this model"
    )]
    ShapesDiffer { original: String, quantized: String, tensor: String, reason: String },

    #[error(
        "{path}: tensor {tensor} has its rows reordered for rotary embeddings by llama.cpp's converter, and undoing that needs the head count {key} from the file's metadata, which it does not hold; the file was not made by convert_hf_to_gguf.py, or its metadata was stripped"
    )]
    NoHeadCount { path: String, tensor: String, key: String },

    #[error(
        "{path}: tensor {tensor} has {rows} rows, which do not split into {heads} heads ({key}) of two equal halves, so the converter's row order cannot be undone; the head count does not belong to this model"
    )]
    HeadsDoNotDivide { path: String, tensor: String, rows: usize, heads: usize, key: String },

    #[error("{path}: tensor {tensor} decoded to {got} values, but its shape {shape:?} holds {want}")]
    WrongCount { path: String, tensor: String, shape: Vec<usize>, got: usize, want: usize },
}
