//! The command line: flags that seed the TUI, and headless subcommands that
//! print (`report`, `tensors`) or write (`quantize`) what the panes compute,
//! so every figure on screen can be checked from a script.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{WritableElement, WriteNpyExt};
use serde::{Serialize, Serializer};

use crate::compute::analysis::{self, Analysis, ErrorHistogram, Layout, MseCurve, Storage};
use crate::compute::deploy::DeployReport;
use crate::compute::diagnose::{self, Finding};
use crate::compute::ensemble::{EnsembleReport, MemberKind};
use crate::compute::histogram::Histogram;
use crate::compute::quant::{Calibration, Granularity, QParams, QuantConfig, Rounding, Scheme};
use crate::compute::watch::Watch;
use crate::compute::weights::{self, Weights};
use crate::format;
use crate::settings::{self, Settings};
use crate::ui::theme::ThemeName;
use crate::worker::EnsembleWorker;

/// Channels the text report lists one by one; the rest are counted.
const LISTED_CHANNELS: usize = 20;

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
    /// Quantize this .npy / .safetensors file instead of synthetic weights
    #[arg(long, global = true, value_name = "PATH")]
    pub weights: Option<PathBuf>,
    /// The tensor to take from a .safetensors file
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
    /// pane: accuracies, confusion, members, disagreement) and `deploy` (the
    /// Deploy pane: the ensemble quantized at every width)
    Report {
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        /// Only these sections, comma-separated (default: all); a weights
        /// report alone (`quant`) trains no ensemble
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
    },
    /// List the tensors of a .npy / .safetensors file with shapes and dtypes
    Tensors {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Json,
    Text,
}

/// A part of `report`: one pane's numbers.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Quant,
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
pub fn initial_settings(cli: &Cli) -> Result<Settings, String> {
    let mut s = match &cli.config {
        Some(path) => Settings::load(path).map_err(|e| e.to_string())?,
        None => Settings::default(),
    };
    if let Some(path) = &cli.weights {
        s.weights.source = path.display().to_string();
        s.weights.tensor = None;
    }
    if let Some(name) = &cli.tensor {
        if s.weights.is_synthetic() {
            return Err(format!(
                "--tensor {name} picks a tensor from a weights file, but the weights are synthetic; add --weights FILE"
            ));
        }
        s.weights.tensor = Some(name.clone());
    }
    if let Some(path) = &cli.data {
        s.data.source = path.display().to_string();
        s.data.label = None;
    }
    s.validate().map_err(|e| format!("invalid settings: {e}"))?;
    Ok(s)
}

/// Runs a headless subcommand; every failure is one paragraph for `error: `.
pub fn run_command(cli: &Cli) -> Result<(), String> {
    match &cli.command {
        None => Ok(()),
        Some(Command::Report { format, only }) => report_command(cli, *format, only),
        Some(Command::Quantize { out, dequantized, params }) => {
            quantize_command(cli, out, dequantized.as_deref(), params.as_deref())
        }
        Some(Command::Tensors { file }) => tensors_command(file),
    }
}

/// Writes to stdout without panicking on a closed pipe (`| head`).
fn print(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|_| out.flush()).map_err(|e| format!("cannot write to standard output: {e}"))
}

/// Settings plus the weights they describe.
fn load(cli: &Cli) -> Result<(Settings, Weights), String> {
    let mut settings = initial_settings(cli)?;
    let w = load_weights(&mut settings)?;
    Ok((settings, w))
}

/// Opens the same tensor the TUI would (the largest float matrix when none
/// is named) and says on stderr which one that is.
fn load_weights(settings: &mut Settings) -> Result<Weights, String> {
    if let Some(note) = settings.weights.check().map_err(|e| e.to_string())? {
        eprintln!("note: {note}; --tensor NAME picks another");
    }
    settings.weights.load().map_err(|e| e.to_string())
}

/// The weights' file and tensor, for error context.
fn describe(w: &Weights) -> String {
    match &w.tensor {
        Some(t) => format!("{} (tensor {t})", w.source),
        None => w.source.clone(),
    }
}

// ---------------------------------------------------------------------------
// report
// ---------------------------------------------------------------------------

/// What `report` prints: a public contract for scripts. Keys are only ever
/// added, never renamed or removed; a section not asked for (`--only`) is
/// left out.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<WeightsReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quant: Option<QuantReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Vec<Finding>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<EnsembleSection>,
    /// The ensemble quantized with the quantizer settings: the Deploy pane.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantized_ensemble: Option<DeployReport>,
}

/// The Ensemble pane's figures: the data, then every field of the
/// ensemble report (fusion, accuracies, confusion, members, ...).
#[derive(Debug, Clone, Serialize)]
pub struct EnsembleSection {
    pub data: DataSection,
    #[serde(flatten)]
    pub report: EnsembleReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct DataSection {
    /// "iris" or the CSV path.
    pub source: String,
    pub rows: usize,
    pub features: usize,
    /// How many classes; their names are `ensemble.class_names`.
    pub classes: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct WeightsReport {
    /// "synthetic" or the file path.
    pub source: String,
    /// null for synthetic weights and .npy files.
    pub tensor: Option<String>,
    pub shape: Vec<usize>,
    pub dtype: String,
    pub count: usize,
    pub non_finite: usize,
    /// Smallest finite value.
    pub min: f32,
    /// Largest finite value.
    pub max: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuantReport {
    /// `quant.bits` as set (manual mode ignores it: see `effective_bits`).
    pub bits: u32,
    pub effective_bits: u32,
    pub scheme: Scheme,
    /// The granularity in effect: manual mode is always per-tensor, so the
    /// per-channel arrays below always have one element per channel.
    pub granularity: Granularity,
    pub channel_axis: usize,
    pub rounding: Rounding,
    pub calibration: Calibration,
    pub qmin: i32,
    pub qmax: i32,
    /// One per channel (one element when per-tensor).
    pub scale: Vec<f32>,
    pub zero_point: Vec<i32>,
    /// Each channel's clip: the representable range of its grid,
    /// `[(qmin - zp) * scale, (qmax - zp) * scale]`; values beyond it clip.
    pub clip: Vec<[f32; 2]>,
    /// Each channel's calibrated range `[lo, hi]`: the data range the grid
    /// was fitted to (the manual clip in manual mode).
    pub range: Vec<[f32; 2]>,
    pub metrics: MetricsReport,
    /// The per-channel table's figures, one element per channel.
    pub per_channel: PerChannelReport,
    pub storage: Storage,
    /// The pictures' numbers: both histograms and the MSE-vs-clip curve.
    pub pictures: PicturesReport,
    /// Method name -> the `[lo, hi]` it would pick for the whole tensor.
    #[serde(serialize_with = "calibrations_as_map")]
    pub calibrations: Vec<(Calibration, [f32; 2])>,
}

/// The whole tensor's error figures (finite values only).
#[derive(Debug, Clone, Serialize)]
pub struct MetricsReport {
    pub mse: f64,
    pub rmse: f64,
    pub mae: f64,
    pub max_abs_error: f64,
    /// null when the error is exactly 0: the SQNR is then infinite, and JSON
    /// has no infinity.
    pub sqnr_db: Option<f64>,
    pub cosine: f64,
    pub clip_rate: f64,
    pub clipped: u64,
    pub levels_used: u64,
    pub levels_available: u64,
    pub bias: f64,
    pub zero_rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PerChannelReport {
    pub mse: Vec<f64>,
    /// null where a channel's error is exactly 0.
    pub sqnr_db: Vec<Option<f64>>,
    pub clip_rate: Vec<f64>,
    pub levels_used: Vec<u64>,
    pub levels_available: Vec<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PicturesReport {
    /// `counts` of equal bins over `[lo, hi]`, the weights' finite values.
    pub weight_histogram: Histogram,
    /// x - x_hat over the same bins, rounding error and clipped values apart.
    pub error_histogram: ErrorHistogram,
    /// `points` are [fraction of the min-max range, mse]; `optimum` and
    /// `current` are marked on the curve.
    pub mse_curve: MseCurve,
}

/// Keeps `Calibration::ALL`'s order in the JSON object.
fn calibrations_as_map<S: Serializer>(v: &[(Calibration, [f32; 2])], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(v.iter().map(|(m, r)| (m.name(), r)))
}

impl Report {
    /// Every section: the Quantize pane's pipeline on `w`, then the ensemble.
    pub fn build(settings: &Settings, w: &Weights) -> Result<Report, String> {
        Report::build_sections(settings, Some(w), &[Section::Quant, Section::Ensemble, Section::Deploy])
    }

    /// The sections asked for; `w` is needed (and only read) for `quant`,
    /// and the ensemble is trained only for `ensemble` or `deploy`.
    pub fn build_sections(settings: &Settings, w: Option<&Weights>, sections: &[Section]) -> Result<Report, String> {
        let mut report =
            Report { weights: None, quant: None, diagnostics: None, ensemble: None, quantized_ensemble: None };
        if let Some(w) = w.filter(|_| sections.contains(&Section::Quant)) {
            let cfg = &settings.quant;
            let cannot = |e: &dyn std::fmt::Display| format!("cannot quantize {}: {e}", describe(w));
            let a = analysis::analyze(w, cfg).map_err(|e| cannot(&e))?;
            let curve = analysis::mse_curve(w, cfg, &a, &Watch::NONE).map_err(|e| cannot(&e))?;
            // Manual mode's alternatives are those of a quantizer with as many levels.
            let alternatives = analysis::alternatives(w, cfg, a.effective_bits);
            report.weights = Some(WeightsReport::new(w, &a));
            report.diagnostics = Some(diagnose::diagnose(&a));
            report.quant = Some(QuantReport::new(cfg, &a, curve, alternatives));
        }
        if sections.iter().any(|s| matches!(s, Section::Ensemble | Section::Deploy)) {
            let (ensemble, deploy) = EnsembleSection::build(settings)?;
            report.ensemble = sections.contains(&Section::Ensemble).then_some(ensemble);
            report.quantized_ensemble = sections.contains(&Section::Deploy).then_some(deploy);
        }
        Ok(report)
    }

    pub fn to_json(&self) -> Result<String, String> {
        serde_json::to_string_pretty(self).map_err(|e| format!("cannot write the report as JSON: {e}"))
    }

    /// The same figures as the JSON, laid out for reading.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if let Some(w) = &self.weights {
            w.write_text(&mut out);
        }
        if let Some(q) = &self.quant {
            q.write_text(&mut out);
        }
        if let Some(d) = &self.diagnostics {
            write_diagnostics(&mut out, d);
        }
        if let Some(e) = &self.ensemble {
            e.write_text(&mut out);
        }
        if let Some(d) = &self.quantized_ensemble {
            write_deploy(&mut out, d);
        }
        out.trim_start().trim_end().to_string()
    }
}

impl EnsembleSection {
    /// Trains every member and fuses, as the Ensemble pane does; also the
    /// Deploy pane's quantized ensemble.
    fn build(settings: &Settings) -> Result<(EnsembleSection, DeployReport), String> {
        let view = EnsembleWorker::default()
            .train(0, settings, &mut |_| true)
            .expect("nothing stops a headless training")
            .map_err(|e| format!("cannot evaluate the ensemble on {}: {e}", settings.data.source))?;
        let d = &view.data;
        let data =
            DataSection { source: d.source.clone(), rows: d.rows, features: d.features, classes: d.class_names.len() };
        Ok((EnsembleSection { data, report: (*view.report).clone() }, (*view.deploy).clone()))
    }

    fn write_text(&self, out: &mut String) {
        let (d, r) = (&self.data, &self.report);
        let _ = writeln!(out, "\nensemble           {} fusion of {} members", r.fusion, r.members.len());
        let _ = writeln!(
            out,
            "  data             {} ({} rows, {} features, {} classes)",
            d.source, d.rows, d.features, d.classes
        );
        let _ = writeln!(out, "  split            {} train / {} test", r.train_rows, r.test_rows);
        if r.no_members {
            let _ = writeln!(out, "  {NO_FIGURES}");
        } else {
            self.write_figures(out);
        }
        if r.label_mean_invalid {
            let _ =
                writeln!(out, "  warning: label-mean averages class numbers; it is not a valid fusion of class labels");
        }
        for note in &r.notes {
            let _ = writeln!(out, "  note: {note}");
        }
    }

    fn write_figures(&self, out: &mut String) {
        let r = &self.report;
        let _ = writeln!(out, "  test accuracy    {}", pct(r.test_accuracy));
        let _ = writeln!(out, "  cv accuracy      {} ± {}", pct(r.cv_accuracy_mean), pct(r.cv_accuracy_std));
        let score = |v: Option<f64>| v.map_or("null".into(), |v| format!("{v:.3}"));
        let _ = writeln!(
            out,
            "  macro P / R / F1 {} / {} / {}",
            score(r.precision_macro),
            score(r.recall_macro),
            score(r.f1_macro)
        );
        let gain = r.gain.map_or("null".into(), |g| format!("{:+.2}", 100.0 * g));
        let _ = writeln!(out, "  gain over best   {gain} points");
        let _ = writeln!(out, "  disagreement     {}", pct(r.mean_disagreement));
        let _ =
            writeln!(out, "  confusion        rows = true class, columns = predicted ({})", r.class_names.join(", "));
        for row in &r.confusion {
            let cells: Vec<String> = row.iter().map(|n| format!("{n:>4}")).collect();
            let _ = writeln!(out, "                  {}", cells.join(""));
        }
        let _ = writeln!(out, "  members          kind      trees depth weight  share   test    cv");
        for (i, m) in r.members.iter().enumerate() {
            let logistic = m.kind == MemberKind::Logistic;
            let solver = if logistic {
                let converged = if m.converged { "converged" } else { "did not converge" };
                format!("  c {}, max_iter {}, {converged}", format::num(m.c), m.max_iter)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "  {:<16} {:<9} {:>5} {:>5} {:>6}  {:>6}  {:>6}  {} ± {}{solver}",
                i + 1,
                m.kind.name(),
                if m.kind == MemberKind::Forest { m.trees.to_string() } else { "-".into() },
                if logistic { "-".into() } else { format::depth(m.max_depth) },
                format::num(m.weight),
                format::pct(m.normalized_weight),
                format::pct(m.test_accuracy),
                format::pct(m.cv_accuracy_mean),
                format::pct(m.cv_accuracy_std)
            );
        }
    }
}

/// What the text report says where the JSON has null figures.
const NO_FIGURES: &str = "no members: no figures (null in --format json); add an [[ensemble.members]] table";

/// A percentage, or null where there is no figure (as the JSON says).
fn pct(v: Option<f64>) -> String {
    v.map_or("null".into(), format::pct)
}

fn write_deploy(out: &mut String, d: &DeployReport) {
    let _ = writeln!(out, "\nquantized ensemble {} bits, {} fusion in float", d.bits, d.fusion);
    if d.members.is_empty() {
        let _ = writeln!(out, "  {NO_FIGURES}");
        return;
    }
    let e = &d.ensemble;
    let _ = writeln!(
        out,
        "  test accuracy    {} float, {} quantized",
        pct(e.float_test_accuracy),
        pct(e.quant_test_accuracy)
    );
    let _ = writeln!(
        out,
        "  cv accuracy      {} float, {} quantized",
        pct(e.float_cv_accuracy_mean),
        pct(e.quant_cv_accuracy_mean)
    );
    let _ = writeln!(
        out,
        "  size             {} float, {} quantized",
        format::bytes(d.ensemble.float_bytes),
        format::bytes(d.ensemble.quant_bytes)
    );
    let recommended = d.recommended_bits.map_or("none".to_string(), |b| format!("{b} bits"));
    let _ = writeln!(out, "  recommended      {recommended} (within {} points of float, cv)", format::num(d.tolerance));
    let _ = writeln!(out, "  by bits          bits  test    cv      size");
    for b in &d.by_bits {
        let _ = writeln!(
            out,
            "                   {:>4}  {:>6}  {:>6}  {}",
            b.bits,
            format::pct(b.test_accuracy),
            format::pct(b.cv_accuracy_mean),
            format::bytes(b.bytes)
        );
    }
    for note in &d.notes {
        let _ = writeln!(out, "  note: {note}");
    }
}

impl WeightsReport {
    fn new(w: &Weights, a: &Analysis) -> Self {
        WeightsReport {
            source: w.source.clone(),
            tensor: w.tensor.clone(),
            shape: w.shape.clone(),
            dtype: w.dtype.clone(),
            count: a.count,
            non_finite: a.non_finite,
            min: a.data_range.0,
            max: a.data_range.1,
        }
    }

    fn write_text(&self, out: &mut String) {
        let tensor = self.tensor.as_deref().map(|t| format!(" (tensor {t})")).unwrap_or_default();
        let _ = writeln!(out, "weights            {}{tensor}", self.source);
        let _ = writeln!(out, "  shape            {} {}", shape_text(&self.shape), self.dtype);
        let _ = writeln!(out, "  values           {} ({} non-finite)", self.count, self.non_finite);
        let _ = writeln!(out, "  range            {}", format::range(self.min, self.max));
    }
}

impl QuantReport {
    fn new(cfg: &QuantConfig, a: &Analysis, curve: MseCurve, calibrations: Vec<(Calibration, (f32, f32))>) -> Self {
        let granularity = if cfg.per_channel() { Granularity::PerChannel } else { Granularity::PerTensor };
        QuantReport {
            bits: cfg.bits,
            effective_bits: a.effective_bits,
            scheme: cfg.scheme,
            granularity,
            channel_axis: cfg.channel_axis,
            rounding: cfg.rounding,
            calibration: cfg.calibration,
            qmin: a.qmin,
            qmax: a.qmax,
            scale: a.channels.iter().map(|c| c.params.scale).collect(),
            zero_point: a.channels.iter().map(|c| c.params.zero_point).collect(),
            clip: a.channels.iter().map(|c| [c.clip().0, c.clip().1]).collect(),
            range: a.channels.iter().map(|c| [c.range.0, c.range.1]).collect(),
            metrics: MetricsReport::new(&a.metrics),
            per_channel: PerChannelReport {
                mse: a.channels.iter().map(|c| c.metrics.mse).collect(),
                sqnr_db: a.channels.iter().map(|c| finite(c.metrics.sqnr_db)).collect(),
                clip_rate: a.channels.iter().map(|c| c.metrics.clip_rate).collect(),
                levels_used: a.channels.iter().map(|c| c.metrics.levels_used).collect(),
                levels_available: a.channels.iter().map(|c| c.metrics.levels_available).collect(),
            },
            storage: a.storage.clone(),
            pictures: PicturesReport {
                weight_histogram: a.weight_hist.clone(),
                error_histogram: a.error_hist.clone(),
                mse_curve: curve,
            },
            calibrations: calibrations.into_iter().map(|(m, (lo, hi))| (m, [lo, hi])).collect(),
        }
    }

    fn write_text(&self, out: &mut String) {
        // Manual mode sets scale and clip by hand: bits and calibration do not apply.
        let what = match self.scheme {
            Scheme::Manual => format!("manual {}, {} rounding", self.granularity, self.rounding),
            s => format!(
                "{s} {}-bit {}, {} rounding, {} calibration",
                self.bits, self.granularity, self.rounding, self.calibration
            ),
        };
        let _ = writeln!(out, "\nquant              {what}");
        let _ =
            writeln!(out, "  codes            [{}, {}], effective bits {}", self.qmin, self.qmax, self.effective_bits);
        if self.scale.len() == 1 {
            let _ = writeln!(out, "  scale            {}", format::num(self.scale[0] as f64));
            let _ = writeln!(out, "  zero point       {}", self.zero_point[0]);
            let _ =
                writeln!(out, "  range            {} (calibrated)", format::range(self.range[0][0], self.range[0][1]));
            let _ = writeln!(out, "  clip             {} (the grid)", format::range(self.clip[0][0], self.clip[0][1]));
        } else {
            self.write_channels(out);
        }
        self.metrics.write_text(out);
        write_storage(out, &self.storage);
        self.write_pictures(out);
        self.write_calibrations(out);
    }

    /// What the pictures' titles and legends say.
    fn write_pictures(&self, out: &mut String) {
        let (w, e, c) = (&self.pictures.weight_histogram, &self.pictures.error_histogram, &self.pictures.mse_curve);
        let _ = writeln!(out, "\npictures");
        let bins = |h: &Histogram| format!("{} bins over {}", h.counts.len(), format::range(h.lo, h.hi));
        let _ = writeln!(out, "  weights          {}, tallest {}", bins(w), w.max_count());
        let (rounding, clipped) = (e.rounding.total(), e.clipped.total());
        let _ = writeln!(out, "  error            {}: rounding {rounding}, clipped {clipped}", bins(&e.rounding));
        let _ = writeln!(
            out,
            "  mse vs clip      now {:.2} x min-max (mse {}), best {:.2} (mse {})",
            c.current.0,
            format::num(c.current.1),
            c.optimum.0,
            format::num(c.optimum.1)
        );
    }

    /// A summary of every channel, then the first `LISTED_CHANNELS` of them.
    fn write_channels(&self, out: &mut String) {
        let axis = if self.channel_axis == 0 { "rows" } else { "columns" };
        let (smin, smax) = min_max(self.scale.iter().map(|&s| s as f64));
        let (zmin, zmax) = min_max(self.zero_point.iter().map(|&z| z as f64));
        let _ = writeln!(out, "  channels         {} ({axis}, axis {})", self.scale.len(), self.channel_axis);
        let _ = writeln!(out, "  scale            {} .. {}", format::num(smin), format::num(smax));
        let _ = writeln!(out, "  zero point       {zmin} .. {zmax}");
        let _ = writeln!(
            out,
            "  {:>7}  {:>10}  {:>10}  {:<22}  {:>10}  {:>9}  {:>7}  levels",
            "channel", "scale", "zero point", "range (calibrated)", "mse", "sqnr", "clipped"
        );
        let pc = &self.per_channel;
        for i in 0..self.scale.len().min(LISTED_CHANNELS) {
            let (c, sqnr) = (self.range[i], pc.sqnr_db[i].unwrap_or(f64::INFINITY));
            let _ = writeln!(
                out,
                "  {i:>7}  {:>10}  {:>10}  {:<22}  {:>10}  {:>9}  {:>7}  {} of {}",
                format::num(self.scale[i] as f64),
                self.zero_point[i],
                format::range(c[0], c[1]),
                format::num(pc.mse[i]),
                format::db(sqnr),
                format::pct(pc.clip_rate[i]),
                pc.levels_used[i],
                pc.levels_available[i]
            );
        }
        if self.scale.len() > LISTED_CHANNELS {
            let _ = writeln!(out, "  ... {} more", self.scale.len() - LISTED_CHANNELS);
        }
    }

    fn write_calibrations(&self, out: &mut String) {
        let _ = writeln!(out, "\ncalibrations       whole tensor, * = in use");
        for (m, [lo, hi]) in &self.calibrations {
            let mark = if *m == self.calibration && self.scheme != Scheme::Manual { '*' } else { ' ' };
            let _ = writeln!(out, "  {mark} {:<14} {}", m.name(), format::range(*lo, *hi));
        }
    }
}

impl MetricsReport {
    fn new(m: &analysis::Metrics) -> Self {
        MetricsReport {
            mse: m.mse,
            rmse: m.rmse,
            mae: m.mae,
            max_abs_error: m.max_abs_error,
            sqnr_db: finite(m.sqnr_db),
            cosine: m.cosine,
            clip_rate: m.clip_rate,
            clipped: m.clipped,
            levels_used: m.levels_used,
            levels_available: m.levels_available,
            bias: m.bias,
            zero_rate: m.zero_rate,
        }
    }

    fn write_text(&self, out: &mut String) {
        let sqnr = self.sqnr_db.unwrap_or(f64::INFINITY);
        let _ = writeln!(out, "\nmetrics");
        for (name, value) in [
            ("mse", format::num(self.mse)),
            ("rmse", format::num(self.rmse)),
            ("mae", format::num(self.mae)),
            ("max abs error", format::num(self.max_abs_error)),
            ("sqnr", format::db(sqnr)),
            ("cosine", format::cosine(self.cosine)),
            ("clip rate", format!("{} ({} values)", format::pct(self.clip_rate), self.clipped)),
            ("levels used", format!("{} of {}", self.levels_used, self.levels_available)),
            ("bias", format::num(self.bias)),
            ("zero rate", format::pct(self.zero_rate)),
        ] {
            let _ = writeln!(out, "  {name:<16} {value}");
        }
    }
}

fn write_storage(out: &mut String, s: &Storage) {
    let _ = writeln!(
        out,
        "  storage          {} fp32 -> {} quantized ({}x)",
        format::bytes(s.bytes_fp32),
        format::bytes(s.bytes_quantized),
        format::num(s.compression)
    );
}

fn write_diagnostics(out: &mut String, findings: &[Finding]) {
    if findings.is_empty() {
        let _ = writeln!(out, "\ndiagnostics        none");
        return;
    }
    let _ = writeln!(out, "\ndiagnostics");
    for f in findings {
        let _ = writeln!(out, "  {}: {}", f.severity.name(), f.message);
    }
}

/// JSON has no infinity: an infinite figure (an SQNR with no error) is null.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// The TUI's `1000×10`, with a name for the 0-d shape that would print as nothing.
fn shape_text(shape: &[usize]) -> String {
    if shape.is_empty() { "scalar".into() } else { format::shape(shape) }
}

fn report_command(cli: &Cli, fmt: ReportFormat, only: &[Section]) -> Result<(), String> {
    let sections = if only.is_empty() { &[Section::Quant, Section::Ensemble, Section::Deploy][..] } else { only };
    let mut settings = initial_settings(cli)?;
    let w = if sections.contains(&Section::Quant) { Some(load_weights(&mut settings)?) } else { None };
    let report = Report::build_sections(&settings, w.as_ref(), sections)?;
    match fmt {
        ReportFormat::Json => print(&report.to_json()?),
        ReportFormat::Text => print(&report.to_text()),
    }
}

// ---------------------------------------------------------------------------
// quantize
// ---------------------------------------------------------------------------

/// The narrowest integer dtype that holds every code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeDtype {
    Int8,
    Int16,
    Int32,
}

impl CodeDtype {
    fn fitting(qmin: i32, qmax: i32) -> Self {
        let fits = |lo: i32, hi: i32| qmin >= lo && qmax <= hi;
        if fits(i8::MIN.into(), i8::MAX.into()) {
            CodeDtype::Int8
        } else if fits(i16::MIN.into(), i16::MAX.into()) {
            CodeDtype::Int16
        } else {
            CodeDtype::Int32
        }
    }

    fn name(self) -> &'static str {
        match self {
            CodeDtype::Int8 => "int8",
            CodeDtype::Int16 => "int16",
            CodeDtype::Int32 => "int32",
        }
    }
}

/// `.npy` bytes of `values` in `shape`, built in memory so nothing half-written reaches disk.
fn npy_bytes<T: WritableElement>(values: Vec<T>, shape: &[usize], what: &str) -> Result<Vec<u8>, String> {
    let array = ArrayD::from_shape_vec(IxDyn(shape), values)
        .map_err(|e| format!("cannot shape the {what} as {}: {e}", shape_text(shape)))?;
    let mut buf = Vec::new();
    array.write_npy(&mut buf).map_err(|e| format!("cannot encode the {what} as .npy: {e}"))?;
    Ok(buf)
}

fn codes_npy(codes: &[i32], shape: &[usize], dtype: CodeDtype) -> Result<Vec<u8>, String> {
    // `fitting` chose a dtype that holds every code, so the casts are exact.
    match dtype {
        CodeDtype::Int8 => npy_bytes(codes.iter().map(|&q| q as i8).collect(), shape, "codes"),
        CodeDtype::Int16 => npy_bytes(codes.iter().map(|&q| q as i16).collect(), shape, "codes"),
        CodeDtype::Int32 => npy_bytes(codes.to_vec(), shape, "codes"),
    }
}

/// x_hat = (q - zero_point) * scale with each element's channel parameters.
fn dequantized_npy(w: &Weights, cfg: &QuantConfig, params: &[QParams], codes: &[i32]) -> Result<Vec<u8>, String> {
    let layout = Layout::of(w, cfg);
    let x_hat: Vec<f32> = codes.iter().enumerate().map(|(i, &q)| params[layout.channel(i)].dequantize(q)).collect();
    npy_bytes(x_hat, &w.shape, "dequantized weights")
}

/// Fails before anything is written when an output cannot be created.
fn check_outputs(out: &Path, others: &[(&str, Option<&Path>)]) -> Result<(), String> {
    let mut seen = vec![("--out", out)];
    for &(flag, path) in others {
        let Some(path) = path else { continue };
        if let Some((first, _)) = seen.iter().find(|(_, p)| *p == path) {
            return Err(format!("{first} and {flag} are both {}; give different files", path.display()));
        }
        seen.push((flag, path));
    }
    for (_, path) in seen {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(format!("cannot write {}: the directory {} does not exist", path.display(), dir.display()));
        }
    }
    Ok(())
}

/// `quantize` reads real weights: synthetic ones would be a surprise.
fn require_weights(cli: &Cli) -> Result<(), String> {
    if cli.weights.is_some() {
        return Ok(());
    }
    Err("quantize needs --weights IN (a .npy or .safetensors file): usage: qmc-tui quantize [--config FILE] --weights IN [--tensor NAME] --out CODES.npy [--dequantized OUT.npy] [--params FILE.json]".into())
}

/// The parameters `quantize` used, in PyTorch's names: one scale and zero
/// point per channel along `axis` (null when per-tensor).
#[derive(Debug, Serialize)]
struct ParamsFile<'a> {
    qscheme: &'a str,
    scale: Vec<f32>,
    zero_point: Vec<i32>,
    qmin: i32,
    qmax: i32,
    axis: Option<usize>,
    dtype: &'a str,
}

fn params_json(cfg: &QuantConfig, params: &[QParams], dtype: CodeDtype) -> Result<Vec<u8>, String> {
    let file = ParamsFile {
        qscheme: settings::qscheme(cfg),
        scale: params.iter().map(|p| p.scale).collect(),
        zero_point: params.iter().map(|p| p.zero_point).collect(),
        qmin: params.iter().map(|p| p.qmin).min().unwrap_or(0),
        qmax: params.iter().map(|p| p.qmax).max().unwrap_or(0),
        axis: cfg.per_channel().then_some(cfg.channel_axis),
        dtype: dtype.name(),
    };
    serde_json::to_vec_pretty(&file).map_err(|e| format!("cannot write the parameters as JSON: {e}"))
}

fn quantize_command(
    cli: &Cli,
    out: &Path,
    dequantized: Option<&Path>,
    params_out: Option<&Path>,
) -> Result<(), String> {
    require_weights(cli)?;
    check_outputs(out, &[("--dequantized", dequantized), ("--params", params_out)])?;
    let (settings, w) = load(cli)?;
    let cfg = &settings.quant;
    let chosen = analysis::channel_params(&w, cfg).map_err(|e| format!("cannot quantize {}: {e}", describe(&w)))?;
    let params: Vec<QParams> = chosen.iter().map(|c| c.params).collect();
    let codes = analysis::quantize_codes(&w, cfg, &params);
    let qmin = params.iter().map(|p| p.qmin).min().unwrap_or(0);
    let qmax = params.iter().map(|p| p.qmax).max().unwrap_or(0);
    let dtype = CodeDtype::fitting(qmin, qmax);
    let code_bytes = codes_npy(&codes, &w.shape, dtype)?;
    let dq = match dequantized {
        Some(path) => Some((path, dequantized_npy(&w, cfg, &params, &codes)?)),
        None => None,
    };
    let pj = match params_out {
        Some(path) => Some((path, params_json(cfg, &params, dtype)?)),
        None => None,
    };
    settings::write_atomic(out, &code_bytes)?;
    for (path, bytes) in dq.iter().chain(&pj) {
        settings::write_atomic(path, bytes)?;
    }
    print(&quantize_summary(&w, out, dequantized, params_out, dtype))
}

/// One line: what was written, and how non-finite inputs were mapped.
fn quantize_summary(
    w: &Weights,
    out: &Path,
    dequantized: Option<&Path>,
    params: Option<&Path>,
    dtype: CodeDtype,
) -> String {
    let nan = w.values.iter().filter(|x| x.is_nan()).count();
    let inf = w.non_finite - nan;
    let mut line =
        format!("wrote {} {} codes of {} to {}", shape_text(&w.shape), dtype.name(), describe(w), out.display());
    if let Some(path) = dequantized {
        let _ = write!(line, " and f32 x_hat to {}", path.display());
    }
    if let Some(path) = params {
        let _ = write!(line, " and the parameters to {}", path.display());
    }
    let _ = write!(line, "; {} non-finite values ({nan} NaN -> zero_point, {inf} +-Inf -> qmax/qmin)", w.non_finite);
    line
}

// ---------------------------------------------------------------------------
// tensors
// ---------------------------------------------------------------------------

fn tensors_command(file: &Path) -> Result<(), String> {
    let infos = weights::list_tensors(file).map_err(|e| e.to_string())?;
    let rows: Vec<[String; 3]> = infos.into_iter().map(|t| [t.name, shape_text(&t.shape), t.dtype]).collect();
    print(&aligned(&[["name".into(), "shape".into(), "dtype".into()]], &rows))
}

/// Left-aligned columns, two spaces apart, widths in characters (`×` is one).
fn aligned(header: &[[String; 3]], rows: &[[String; 3]]) -> String {
    let all: Vec<&[String; 3]> = header.iter().chain(rows).collect();
    let width = |c: usize| all.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let (w0, w1) = (width(0), width(1));
    all.iter()
        .map(|r| format!("{:<w0$}  {:<w1$}  {}", r[0], r[1], r[2]).trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
