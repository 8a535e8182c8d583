//! What a headless command can fail on; `main` prints the text after `error: `.

use crate::compute::analysis::AnalysisError;
use crate::compute::ensemble::EnsembleError;
use crate::compute::formats::FormatKind;
use crate::compute::quant::InvalidSetting;
use crate::compute::weights::WeightsError;
use crate::io::WriteError;
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

    #[error("cannot encode the {what} as .npy: {source}")]
    Npy {
        what: &'static str,
        #[source]
        source: ndarray_npy::WriteNpyError,
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

    /// `scan`'s own text (its module says its errors as text).
    #[error("{0}")]
    Scan(String),
}
