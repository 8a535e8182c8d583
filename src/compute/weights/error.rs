//! What can go wrong loading or drawing weights, in the words users see.

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot load {path}: unsupported file type; use a .npy, .safetensors or .gguf file")]
    UnsupportedExtension { path: String },

    #[error("{0}")]
    Gguf(#[from] crate::compute::gguf::GgufError),

    #[error("{path} is not a valid {format} file: {reason}")]
    InvalidFile { path: String, format: &'static str, reason: String },

    #[error(
        "cannot load {path}: dtype {dtype} is not supported; use floating-point (f16, bf16, f32, f64) or integer weights"
    )]
    UnsupportedDtype { path: String, dtype: String },

    #[error(
        "tensor {name} of {path} is {dtype}, not floating point: integer and bool tensors of a checkpoint are indices and buffers, not weights; pick a float tensor (t)"
    )]
    NotFloat { path: String, name: String, dtype: String },

    #[error("cannot load {path}: the tensor is empty (shape {shape:?}), so there is nothing to quantize")]
    EmptyTensor { path: String, shape: Vec<usize> },

    #[error(
        "cannot load {path}: the tensor of shape {shape:?} has more than {max} elements, the most this tool handles"
    )]
    TooLarge { path: String, shape: Vec<usize>, max: usize },

    #[error("{path} has no tensor named {name:?}; it holds {}", few_names(.available))]
    TensorNotFound { path: String, name: String, available: Vec<String> },

    #[error(
        "{path} holds {}; choose one with --tensor",
        few_names(.available)
    )]
    TensorRequired { path: String, available: Vec<String> },

    #[error("{path} holds no tensors, so there is nothing to quantize")]
    NoTensors { path: String },

    /// A `.safetensors` file refused by the checkpoint reader (its header,
    /// or a read of its data), in that reader's words.
    #[error(transparent)]
    File(Box<crate::compute::checkpoint::CheckpointError>),

    #[error("invalid synthetic parameter {name} = {value}: it must be {allowed}")]
    InvalidParameter { name: &'static str, value: String, allowed: String },
}

impl WeightsError {
    /// The checkpoint reader's error, unwrapped when it was ours already.
    pub(super) fn from_checkpoint(e: crate::compute::checkpoint::CheckpointError) -> WeightsError {
        match e {
            crate::compute::checkpoint::CheckpointError::Weights(w) => w,
            other => WeightsError::File(Box::new(other)),
        }
    }
}

/// A checkpoint's names for an error message: all of a short list, else the
/// first few and where to see the rest, so the message stays one paragraph.
fn few_names(names: &[String]) -> String {
    const SHOWN: usize = 6;
    let n = names.len();
    if n <= SHOWN {
        let noun = if n == 1 { "tensor" } else { "tensors" };
        return format!("{n} {noun} ({})", names.join(", "));
    }
    let rest = n - SHOWN;
    format!("{n} tensors ({}, and {rest} more; `qmc-tui tensors FILE` lists them all)", names[..SHOWN].join(", "))
}
