//! What a headless command can fail on; `main` prints the text after `error: `.

use std::path::PathBuf;

use crate::compute::analysis::AnalysisError;
use crate::compute::checkpoint::CheckpointError;
use crate::compute::checkpoint::against::AgainstError;
use crate::compute::checkpoint::recipe::RecipeError;
use crate::compute::checkpoint::select::FormatListError;
use crate::compute::ensemble::EnsembleError;
use crate::compute::formats::FormatKind;
use crate::compute::quant::InvalidSetting;
use crate::compute::weights::WeightsError;
use crate::io::{StreamError, WriteError};
use crate::settings::SettingsError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Settings(#[from] SettingsError),

    #[error("invalid settings: {0}")]
    Invalid(InvalidSetting),

    #[error("--tensor {name} picks a tensor from a weights file, but the weights are synthetic; add --weights FILE")]
    TensorWithoutWeights { name: String },

    #[error(transparent)]
    Weights(#[from] WeightsError),

    /// `what` is the weights' file and tensor.
    #[error("cannot quantize {what}: {source}")]
    Quantize {
        what: String,
        #[source]
        source: AnalysisError,
    },

    /// `data` is the data's source: "iris" or the CSV path.
    #[error("cannot evaluate the ensemble on {data}: {source}")]
    Ensemble {
        data: String,
        #[source]
        source: EnsembleError,
    },

    #[error(
        "quantize needs --weights IN (a .npy or .safetensors file): usage: qmc-tui quantize [--config FILE] --weights IN [--tensor NAME] --out CODES.npy [--dequantized OUT.npy] [--params FILE.json]"
    )]
    NeedsWeights,

    #[error("{first} and {second} are both {path}; give different files")]
    SameOutput { first: &'static str, second: &'static str, path: String },

    #[error("cannot shape the {what} as {shape}: {source}")]
    Shape {
        what: &'static str,
        shape: String,
        #[source]
        source: ndarray::ShapeError,
    },

    /// `what`: "the parameters" or "the report".
    #[error("cannot write {what} as JSON: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    #[error("--packed: format {0} has no packed layout of its own; --out writes its codes")]
    NoPackedLayout(FormatKind),

    #[error(transparent)]
    Write(#[from] WriteError),

    #[error("cannot write to standard output: {0}")]
    Stdout(std::io::Error),

    #[error(transparent)]
    Formats(#[from] FormatListError),

    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),

    #[error(transparent)]
    Recipe(#[from] RecipeError),

    #[error(transparent)]
    Against(#[from] AgainstError),

    #[error(
        "--against {} compares a checkpoint with its quantized copy, but no checkpoint is open: give the original with --checkpoint ORIGINAL (or, headless, qmc-tui scan ORIGINAL --against QUANTIZED)", .quantized.display()
    )]
    AgainstWithoutCheckpoint { quantized: PathBuf },

    #[error("cannot read the recipe {path}: {source}")]
    RecipeRead {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "--recipe {path} fixes the candidates, the selection and every tensor's format; {flag} would change them: give one or the other"
    )]
    RecipeWith { path: String, flag: &'static str },

    #[error(
        "{flag} {} is the input file {}; writing it would destroy the checkpoint being read: give another path", .path.display(), .file.display()
    )]
    OntoInput { flag: &'static str, path: PathBuf, file: PathBuf },

    /// The writers' own sentence (a format GGUF cannot hold, a row that cuts a block, …).
    #[error("{0}")]
    Refused(String),

    #[error("cannot write {}: {reason}", .path.display())]
    Output { path: PathBuf, reason: String },

    #[error(transparent)]
    Stream(#[from] StreamError),

    #[error("cannot write the CSV: {0}")]
    Csv(String),

    #[error(
        "--tensor-types-out: format {format} (tensor {tensor}) has no llama.cpp type, so llama-quantize cannot make it; --packed OUT.safetensors writes it with its codes and scales"
    )]
    NoGgmlType { tensor: String, format: String },

    #[error("--tensor-types-out: tensor {tensor} is kept as {dtype}, which llama.cpp has no type for")]
    NoKeptType { tensor: String, dtype: String },
}
