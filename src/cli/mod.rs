//! The command line: flags that seed the TUI, and headless subcommands that
//! print (`report`, `tensors`) or write (`quantize`) what the panes compute,
//! so every figure on screen can be checked from a script.

mod against;
mod error;
mod quantize;
mod report;
mod scan;
mod scan_write;
mod tensors;

use std::io::Write as _;
use std::path::PathBuf;

use crate::compute::weights::Weights;
use crate::config::ThemeName;
use crate::format;
use crate::settings::{self, Settings};

pub use error::CliError;
pub use report::{
    DataSection, EnsembleSection, MetricsReport, PerChannelReport, PicturesReport, QuantReport, Report, WeightsReport,
};

#[derive(clap::Parser, Debug)]
#[command(
    name = "qmc-tui",
    version,
    about = "Terminal dashboard for model quantization and model ensembling: explore the settings interactively, or report and quantize headlessly"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Start from a settings file (as written by `e` / --export)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where `e` writes the settings (default ./qmc-settings.toml)
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Quantize this .npy / .safetensors / .gguf file instead of synthetic weights
    #[arg(long, global = true, value_name = "PATH")]
    pub weights: Option<PathBuf>,
    /// Open this checkpoint in the Checkpoint pane (5): a .safetensors file,
    /// a folder of them, a model.safetensors.index.json or a .gguf file
    #[arg(long, value_name = "PATH")]
    pub checkpoint: Option<PathBuf>,
    /// With --checkpoint: compare it with this quantized copy (a .gguf, or a
    /// .safetensors of dequantized values) in the Checkpoint pane, as
    /// `scan ORIGINAL --against QUANTIZED` does
    #[arg(long, value_name = "QUANTIZED")]
    pub against: Option<PathBuf>,
    /// With --against: TOML `"original name" = "quantized name"` lines, for
    /// architectures other than llama, mistral and qwen2
    #[arg(long, value_name = "FILE.toml", requires = "against")]
    pub map: Option<PathBuf>,
    /// The tensor to take from a .safetensors or .gguf file
    #[arg(long, global = true, value_name = "NAME")]
    pub tensor: Option<String>,
    /// Classify this CSV (header row; the label is the last column) instead of iris
    #[arg(long, global = true, value_name = "FILE.csv")]
    pub data: Option<PathBuf>,
    /// Colours: dark, light or mono (mono is the default when NO_COLOR is set)
    #[arg(long, value_name = "THEME")]
    pub theme: Option<ThemeName>,
    /// Leave the mouse to the terminal (its own text selection)
    #[arg(long)]
    pub no_mouse: bool,
    /// Key bindings: a TOML file with a [keys] table (action = ["key", ...]),
    /// in place of the config file's (~/.config/qmc-tui/config.toml on Linux)
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print every number the panes show, for scripts: `quant` (the Quantize
    /// pane: weights, parameters, metrics, the pictures' numbers, the
    /// per-channel table, calibrations, diagnostics), `ensemble` (the Ensemble
    /// pane: accuracies, confusion, members, disagreement), `deploy` (the
    /// Deploy pane: the ensemble quantized at every width) and `formats` (the
    /// Formats pane: every number format on the tensor; not in the default)
    Report {
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        /// Only these sections, comma-separated (default: quant, ensemble and
        /// deploy); a weights report alone (`quant`, `formats`) trains no ensemble
        #[arg(long, value_enum, value_delimiter = ',', value_name = "SECTIONS")]
        only: Vec<Section>,
    },
    /// Write the integer codes (and optionally x_hat and the parameters) of
    /// --weights IN, quantized with --config FILE or the default settings
    Quantize {
        /// Where the integer codes go (.npy, the input's shape)
        #[arg(long, value_name = "CODES.npy")]
        out: PathBuf,
        /// Also write the dequantized weights x_hat as f32 .npy
        #[arg(long, value_name = "OUT.npy")]
        dequantized: Option<PathBuf>,
        /// Also write the parameters used (scale, zero_point, qmin, qmax, axis) as JSON
        #[arg(long, value_name = "FILE.json")]
        params: Option<PathBuf>,
        /// Also write the codes and parameters packed as the format's ecosystem
        /// stores them (GGUF blocks, bitsandbytes nf4, ...; README "Number formats")
        #[arg(long, value_name = "FILE.bin")]
        packed: Option<PathBuf>,
    },
    /// List the tensors of a .npy / .safetensors / .gguf file with shapes and
    /// dtypes (for GGUF: ggml type, bits per weight, bytes, totals per type)
    Tensors {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// GGUF only: also write every decoded tensor as F32 to this
        /// .safetensors file (in the original shape; types not decoded are left out)
        #[arg(long, value_name = "OUT.safetensors")]
        dequantized: Option<PathBuf>,
    },
    /// Measure every tensor of a checkpoint (a .safetensors file, a folder of
    /// them, a model.safetensors.index.json or a .gguf file) with each format, one tensor
    /// at a time; with a budget, plan one format per tensor (README "Whole
    /// checkpoints: scan")
    Scan {
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// Comma-separated formats: the names of `report --only formats`
        /// (q4_0, q8_0, nf4, ...) or int{bits}-{sym|asym}-{pt|pc|g{N}}
        /// [default: int8-sym-pc,int4-asym-g128]
        #[arg(long, value_name = "LIST")]
        formats: Option<String>,
        /// Only tensors whose name matches this glob (* and ?); repeatable
        #[arg(long, value_name = "GLOB")]
        include: Vec<String>,
        /// Leave out tensors whose name matches this glob; repeatable
        #[arg(long, value_name = "GLOB")]
        exclude: Vec<String>,
        /// Quantize rank-1 tensors (norms, biases) too, instead of keeping them
        #[arg(long)]
        include_1d: bool,
        /// Plan under this average bits per quantized weight
        #[arg(long, value_name = "X", conflicts_with = "budget_mb")]
        budget_bpw: Option<f64>,
        /// Plan under this size of the quantized tensors, in MB (10^6 bytes)
        #[arg(long, value_name = "Y")]
        budget_mb: Option<f64>,
        /// Tensors matching GLOB take FORMAT (a format name, or `keep`: stored
        /// as it is); repeatable, the first match wins
        #[arg(long, value_name = "GLOB=FORMAT")]
        pin: Vec<String>,
        /// Tensors matching GLOB are stored as they are (`--pin GLOB=keep`,
        /// after every --pin); repeatable
        #[arg(long, value_name = "GLOB")]
        keep: Vec<String>,
        /// The squared error of tensors matching GLOB counts X times in the
        /// plan (1 otherwise); repeatable, the first match wins
        #[arg(long, value_name = "GLOB=X")]
        weight: Vec<String>,
        /// Take every tensor's format from this recipe (as --recipe-out
        /// writes it) instead of planning
        #[arg(long, value_name = "FILE.toml")]
        recipe: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = scan::ScanFormat::Text)]
        format: scan::ScanFormat,
        #[command(flatten)]
        write: Box<scan_write::WriteFlags>,
        /// Compare with this quantized copy (a .gguf, or a .safetensors of
        /// dequantized values): each tensor's true error, the totals, and what
        /// the planner makes at the same size, llama.cpp types only
        #[arg(long, value_name = "QUANTIZED", conflicts_with_all = AGAINST_CONFLICTS)]
        against: Option<PathBuf>,
        /// With --against: TOML `"original name" = "quantized name"` lines,
        /// for architectures other than llama, mistral and qwen2
        #[arg(long, value_name = "FILE.toml", requires = "against")]
        map: Option<PathBuf>,
        /// With --against: leave out the plan at the same size (it scans the
        /// original with every llama.cpp type, most of the time taken)
        #[arg(long, requires = "against")]
        no_plan: bool,
    },
}

/// What --against measures is fixed: no choice of formats, tensors, plan or outputs.
const AGAINST_CONFLICTS: [&str; 14] = [
    "formats",
    "include",
    "exclude",
    "budget_bpw",
    "budget_mb",
    "pin",
    "keep",
    "weight",
    "recipe",
    "write",
    "dequantized",
    "packed",
    "recipe_out",
    "tensor_types_out",
];

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Json,
    Text,
}

/// A part of `report`: one pane's numbers.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Quant,
    /// Every number format on the tensor, side by side
    Formats,
    Ensemble,
    Deploy,
}

impl Cli {
    /// Where `e` exports the settings.
    pub fn export_path(&self) -> PathBuf {
        self.export.clone().unwrap_or_else(|| PathBuf::from(settings::DEFAULT_EXPORT))
    }
}

/// The settings to start from: the `--config` file or the defaults, with
/// `--weights` / `--tensor` on top (a new file drops the config's tensor name,
/// which belonged to the old file).
pub fn initial_settings(cli: &Cli) -> Result<Settings, CliError> {
    let mut s = match &cli.config {
        Some(path) => Settings::load(path)?,
        None => Settings::default(),
    };
    if let Some(path) = &cli.weights {
        s.weights.source = path.display().to_string();
        s.weights.tensor = None;
    }
    if let Some(name) = &cli.tensor {
        if s.weights.is_synthetic() {
            return Err(CliError::TensorWithoutWeights { name: name.clone() });
        }
        s.weights.tensor = Some(name.clone());
    }
    if let Some(path) = &cli.data {
        s.data.source = path.display().to_string();
        s.data.label = None;
    }
    s.validate().map_err(CliError::Invalid)?;
    Ok(s)
}

/// The Checkpoint pane's `--against` (None without it), checked before the
/// TUI starts: a checkpoint to compare, both files readable as models, the
/// map file, and at least one tensor that pairs up.
pub fn against_source(cli: &Cli) -> Result<Option<crate::app::AgainstSource>, CliError> {
    let Some(quantized) = &cli.against else { return Ok(None) };
    let Some(original) = &cli.checkpoint else {
        return Err(CliError::AgainstWithoutCheckpoint { quantized: quantized.clone() });
    };
    against::tui_source(original, quantized, cli.map.as_deref()).map(Some)
}

/// Runs a headless subcommand; every failure is one paragraph for `error: `.
pub fn run_command(cli: &Cli) -> Result<(), CliError> {
    match &cli.command {
        None => Ok(()),
        Some(Command::Report { format, only }) => report::report_command(cli, *format, only),
        Some(Command::Quantize { out, dequantized, params, packed }) => {
            let outputs = quantize::Outputs {
                codes: out,
                dequantized: dequantized.as_deref(),
                params: params.as_deref(),
                packed: packed.as_deref(),
            };
            quantize::quantize_command(cli, &outputs)
        }
        Some(Command::Tensors { file, dequantized }) => tensors::tensors_command(file, dequantized.as_deref()),
        Some(Command::Scan {
            path,
            formats,
            include,
            exclude,
            include_1d,
            budget_bpw,
            budget_mb,
            pin,
            keep,
            weight,
            recipe,
            format,
            write,
            against,
            map,
            no_plan,
        }) => {
            if let Some(quantized) = against {
                let args = against::AgainstArgs {
                    original: path,
                    quantized,
                    map: map.as_deref(),
                    include_1d: *include_1d,
                    plan: !*no_plan,
                    format: *format,
                };
                return against::against_command(&args);
            }
            use crate::compute::checkpoint::scan::Budget;
            let budget = budget_bpw.map(Budget::Bpw).or(budget_mb.map(Budget::Megabytes));
            let args = scan::ScanArgs {
                path,
                formats: formats.as_deref(),
                include,
                exclude,
                include_1d: *include_1d,
                budget,
                pins: pin,
                keep,
                weights: weight,
                recipe: recipe.as_deref(),
                format: *format,
                write,
            };
            scan::scan_command(&args)
        }
    }
}

/// Writes to stdout without panicking on a closed pipe (`| head`).
fn write_stdout(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|_| out.flush()).map_err(CliError::Stdout)
}

/// Settings plus the weights they describe.
fn load(cli: &Cli) -> Result<(Settings, Weights), CliError> {
    let mut settings = initial_settings(cli)?;
    let w = load_weights(&mut settings)?;
    Ok((settings, w))
}

/// Opens the same tensor the TUI would (the largest float matrix when none
/// is named) and says on stderr which one that is.
fn load_weights(settings: &mut Settings) -> Result<Weights, CliError> {
    if let Some(note) = settings.weights.check()? {
        eprintln!("note: {note}; --tensor NAME picks another");
    }
    Ok(settings.weights.load()?)
}

/// The weights' file and tensor, for error context.
fn describe(w: &Weights) -> String {
    match &w.tensor {
        Some(t) => format!("{} (tensor {t})", w.source),
        None => w.source.clone(),
    }
}

/// The TUI's `1000×10`, with a name for the 0-d shape that would print as nothing.
fn shape_text(shape: &[usize]) -> String {
    if shape.is_empty() { "scalar".into() } else { format::shape(shape) }
}
