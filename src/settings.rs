//! The one model of all settings: the TUI edits it, `e` exports it,
//! `--config` and `report` load it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::compute::analysis::Analysis;
use crate::compute::deploy::{DeployConfig, DeployReport};
use crate::compute::ensemble::{DataConfig, EnsembleConfig, EnsembleReport};
use crate::compute::quant::{Calibration, Granularity, InvalidSetting, QuantConfig, Rounding, Scheme};
use crate::compute::weights::{self, Distribution, SyntheticSpec, Weights, WeightsError};

pub const DEFAULT_EXPORT: &str = "qmc-settings.toml";
pub const SYNTHETIC: &str = "synthetic";
/// The embedded iris data set, the ensemble lab's default.
pub const IRIS: &str = "iris";

/// What is quantized: the `[weights]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeightsConfig {
    /// "synthetic" or the path of a `.npy` / `.safetensors` file.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tensor: Option<String>,
    pub distribution: Distribution,
    pub rows: usize,
    pub cols: usize,
    pub seed: u64,
    pub dof: f64,
    pub outlier_fraction: f64,
}

impl Default for WeightsConfig {
    /// The seed document's weights: `np.random.randn(1000, 10)`.
    fn default() -> Self {
        WeightsConfig {
            source: SYNTHETIC.into(),
            tensor: None,
            distribution: Distribution::Normal,
            rows: 1000,
            cols: 10,
            seed: 42,
            dof: 5.0,
            outlier_fraction: 0.001,
        }
    }
}

impl WeightsConfig {
    pub fn is_synthetic(&self) -> bool {
        self.source == SYNTHETIC
    }

    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if !self.is_synthetic() {
            return Ok(());
        }
        let max = weights::MAX_ELEMENTS;
        if self.rows == 0 || self.cols == 0 || self.rows.saturating_mul(self.cols) > max {
            let key = if self.rows == 0 { "weights.rows" } else { "weights.cols" };
            return Err(InvalidSetting::new(
                key,
                format!("{} x {} must have at least one row and column and at most {max} values", self.rows, self.cols),
            ));
        }
        if !(self.dof.is_finite() && self.dof > 0.0) {
            return Err(InvalidSetting::new("weights.dof", format!("{} must be a finite number > 0", self.dof)));
        }
        if !(0.0..=1.0).contains(&self.outlier_fraction) {
            return Err(InvalidSetting::new(
                "weights.outlier_fraction",
                format!("{} is outside [0, 1]", self.outlier_fraction),
            ));
        }
        if self.seed > i64::MAX as u64 {
            return Err(InvalidSetting::new("weights.seed", format!("{} is larger than {}", self.seed, i64::MAX)));
        }
        Ok(())
    }

    /// Reads only the file's header: is it there, and which tensor will be
    /// used? With several tensors and none named, the largest 2-D float
    /// one, and a note that says so (the caller says how to pick another).
    pub fn check(&mut self) -> Result<Option<String>, WeightsError> {
        if self.is_synthetic() {
            return Ok(None);
        }
        let tensors = weights::list_tensors(Path::new(&self.source))?;
        match &self.tensor {
            Some(name) if !tensors.iter().any(|t| &t.name == name) => Err(WeightsError::TensorNotFound {
                path: self.source.clone(),
                name: name.clone(),
                available: tensors.iter().map(|t| t.name.clone()).collect(),
            }),
            None if tensors.len() > 1 => {
                let Some(chosen) = weights::default_tensor(&tensors) else {
                    return Err(WeightsError::NotFloat {
                        path: self.source.clone(),
                        name: tensors[0].name.clone(),
                        dtype: format!("{} (as is every tensor of the file)", tensors[0].dtype),
                    });
                };
                self.tensor = Some(chosen.name.clone());
                let file =
                    Path::new(&self.source).file_name().map_or(self.source.clone(), |f| f.to_string_lossy().into());
                Ok(Some(format!(
                    "opened tensor {:?}, the largest float matrix of the {} in {file}",
                    chosen.name,
                    tensors.len()
                )))
            }
            _ => Ok(None),
        }
    }

    /// Generates or reads the weights these settings describe.
    pub fn load(&self) -> Result<Weights, WeightsError> {
        if self.is_synthetic() {
            weights::synthetic(&SyntheticSpec {
                distribution: self.distribution,
                rows: self.rows,
                cols: self.cols,
                seed: self.seed,
                dof: self.dof,
                outlier_fraction: self.outlier_fraction,
            })
        } else {
            weights::load_file(Path::new(&self.source), self.tensor.as_deref())
        }
    }
}

/// Every setting of the tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Informational on export (the preset the settings equal); on load, the
    /// base that the file's other keys override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    pub weights: WeightsConfig,
    pub quant: QuantConfig,
    pub data: DataConfig,
    pub ensemble: EnsembleConfig,
    pub deploy: DeployConfig,
    /// Written on export for the record; recomputed, never read back.
    #[serde(skip_serializing)]
    derived: Ignored,
    #[serde(skip_serializing)]
    metrics: Ignored,
    #[serde(skip_serializing)]
    ensemble_metrics: Ignored,
    #[serde(skip_serializing)]
    deploy_metrics: Ignored,
}

/// A section accepted on load but not kept: it is derived from the settings.
#[derive(Debug, Clone, Copy, Default)]
struct Ignored;

impl PartialEq for Ignored {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<'de> Deserialize<'de> for Ignored {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Ignored)
    }
}

/// A named starting point that `p` cycles through.
pub struct Preset {
    pub name: &'static str,
    pub apply: fn(&mut Settings),
}

pub const PRESETS: &[Preset] = &[
    Preset { name: "seed example", apply: seed_example },
    Preset { name: "int8 per-tensor", apply: |s| s.quant = QuantConfig::default() },
    Preset {
        name: "int8 per-channel",
        apply: |s| {
            s.quant = QuantConfig {
                scheme: Scheme::Symmetric,
                granularity: Granularity::PerChannel,
                ..QuantConfig::default()
            }
        },
    },
    Preset {
        name: "int4 per-channel mse",
        apply: |s| {
            s.quant = QuantConfig {
                bits: 4,
                scheme: Scheme::Symmetric,
                granularity: Granularity::PerChannel,
                calibration: Calibration::Mse,
                ..QuantConfig::default()
            }
        },
    },
];

/// The seed's numbers: scale 128 and clip [-128, 127], on its
/// `np.random.randn(1000, 10)` unless the weights come from a file (a preset
/// never throws away the user's file).
fn seed_example(s: &mut Settings) {
    if s.weights.is_synthetic() {
        s.weights = WeightsConfig::default();
    }
    s.quant = QuantConfig {
        scheme: Scheme::Manual,
        scale: 128.0,
        clip: [-128.0, 127.0],
        rounding: Rounding::HalfEven,
        ..QuantConfig::default()
    };
}

pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// A settings file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{}{message}", .path.as_ref().map(|p| format!("settings file {}: ", p.display())).unwrap_or_default(), .line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct SettingsError {
    pub path: Option<PathBuf>,
    pub line: Option<usize>,
    pub message: String,
}

impl Settings {
    /// The preset these settings equal, if any.
    pub fn matching_preset(&self) -> Option<&'static str> {
        PRESETS.iter().find(|p| self.with_preset(p) == self.without_preset()).map(|p| p.name)
    }

    fn without_preset(&self) -> Settings {
        Settings { preset: None, ..self.clone() }
    }

    /// These settings with a preset applied on top.
    pub fn with_preset(&self, p: &Preset) -> Settings {
        let mut s = self.without_preset();
        (p.apply)(&mut s);
        s
    }

    pub fn validate(&self) -> Result<(), InvalidSetting> {
        self.weights.validate()?;
        self.quant.validate()?;
        self.data.validate()?;
        self.ensemble.validate()?;
        self.deploy.validate()
    }

    /// Parses a settings file; errors name the key and the line.
    pub fn parse(text: &str) -> Result<Settings, SettingsError> {
        let at = |line, message| SettingsError { path: None, line, message };
        let toml_error =
            |e: toml::de::Error| at(e.span().map(|s| line_of_offset(text, s.start)), e.message().trim().to_string());
        // Parsing into the typed model first catches syntax errors, unknown
        // keys and wrong types, each with its line.
        let direct: Settings = toml::from_str(text).map_err(toml_error)?;
        let settings = match &direct.preset {
            None => direct,
            Some(name) => {
                let p = preset(name).ok_or_else(|| {
                    let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
                    at(
                        line_of_key(text, "preset"),
                        format!("preset: unknown preset {name:?}; expected one of {}", names.join(", ")),
                    )
                })?;
                // The preset is the base; the keys the file gives override it.
                let mut base =
                    toml::Table::try_from(Settings::default().with_preset(p)).map_err(|e| at(None, e.to_string()))?;
                let given: toml::Table = text.parse().map_err(toml_error)?;
                merge(&mut base, given);
                base.try_into().map_err(toml_error)?
            }
        };
        settings.validate().map_err(|e| at(line_of_key(text, &e.key), e.to_string()))?;
        // The preset has done its work as the base; export names it again if it still matches.
        Ok(Settings { preset: None, ..settings })
    }

    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|e| SettingsError {
            path: Some(path.to_owned()),
            line: None,
            message: format!("cannot read it: {e}"),
        })?;
        let mut s = Settings::parse(&text).map_err(|e| SettingsError { path: Some(path.to_owned()), ..e })?;
        // A relative path means relative to the settings file, not to
        // wherever the tool is started.
        let base = path.parent().unwrap_or(Path::new(""));
        let anchor = |source: &mut String| {
            if Path::new(source.as_str()).is_relative() {
                *source = base.join(source.as_str()).display().to_string();
            }
        };
        if !s.weights.is_synthetic() {
            anchor(&mut s.weights.source);
        }
        if s.data.source != IRIS {
            anchor(&mut s.data.source);
        }
        Ok(s)
    }

    /// The settings as a file elsewhere must hold them: file paths absolute.
    pub fn portable(&self) -> Settings {
        let mut s = self.clone();
        let absolute = |source: &mut String| {
            if let Ok(abs) = std::path::absolute(source.as_str()) {
                *source = abs.display().to_string();
            }
        };
        if !s.weights.is_synthetic() {
            absolute(&mut s.weights.source);
        }
        if s.data.source != IRIS {
            absolute(&mut s.data.source);
        }
        s
    }

    /// The settings file text: every setting, then what the quantizer derived
    /// from them (PyTorch names) and the metrics, for the record.
    pub fn to_toml(
        &self,
        analysis: Option<&Analysis>,
        ensemble: Option<&EnsembleReport>,
        deploy: Option<&DeployReport>,
    ) -> String {
        let mut s = Settings { preset: self.matching_preset().map(String::from), ..self.without_preset() };
        if s.weights.is_synthetic() {
            s.weights.tensor = None;
        }
        let mut out = String::from("# qmc-tui settings: `qmc-tui --config FILE` starts from them.\n");
        out += &toml::to_string(&s).expect("settings always serialize");
        if let Some(a) = analysis {
            out += &derived_toml(self, a);
        }
        if let Some(r) = ensemble {
            out += &ensemble_toml(r);
        }
        if let Some(d) = deploy {
            out += &deploy_toml(d);
        }
        out
    }
}

/// Overrides `base` with every key of `over`, table by table.
pub fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line of `table.key` (or a top-level `key`) in a settings file, found
/// by reading table headers and `key =` lines; the n-th `[[array]]` table is
/// `array[n]` (as in `ensemble.members[2].c`).
fn line_of_key(text: &str, dotted: &str) -> Option<usize> {
    let (table, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let mut current = String::new();
    let mut arrays: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(array) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            let count = arrays.entry(array.trim().to_string()).or_default();
            current = format!("{}[{count}]", array.trim());
            *count += 1;
        } else if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = header.trim().to_string();
        } else if current == table && line.split('=').next().map(str::trim) == Some(key) && line.contains('=') {
            return Some(i + 1);
        }
    }
    None
}

/// PyTorch's name of the quantization scheme.
pub fn qscheme(q: &QuantConfig) -> &'static str {
    match (q.per_channel(), q.scheme) {
        (true, Scheme::Symmetric) => "torch.per_channel_symmetric",
        (true, _) => "torch.per_channel_affine",
        (false, Scheme::Symmetric) => "torch.per_tensor_symmetric",
        (false, _) => "torch.per_tensor_affine",
    }
}

/// PyTorch's view of the derived parameters, and the metrics at export time.
fn derived_toml(settings: &Settings, a: &Analysis) -> String {
    let q = &settings.quant;
    let per_channel = q.per_channel();
    let scales: Vec<f32> = a.channels.iter().map(|c| c.params.scale).collect();
    let zero_points: Vec<i32> = a.channels.iter().map(|c| c.params.zero_point).collect();
    let mut out = String::from("\n# Derived on export and recomputed on load. PyTorch conventions:\n");
    out += "# x_hat = (clamp(round_half_even(x / scale) + zero_point, quant_min, quant_max) - zero_point) * scale\n";
    out += "[derived]\n";
    let _ = writeln!(out, "qscheme = {:?}", qscheme(q));
    if a.qmin >= -128 && a.qmax <= 127 {
        let _ = writeln!(out, "torch_dtype = \"torch.qint8\"");
    }
    let _ = writeln!(out, "quant_min = {}\nquant_max = {}", a.qmin, a.qmax);
    let _ = writeln!(out, "effective_bits = {}", a.effective_bits);
    if per_channel {
        let _ = writeln!(out, "axis = {}", q.channel_axis);
    }
    let _ = writeln!(out, "scale = {}", toml_array(&scales));
    let _ = writeln!(out, "zero_point = {}", toml_array(&zero_points));
    let pairs = |f: fn(&crate::compute::analysis::Channel) -> (f32, f32)| {
        let v: Vec<String> = a.channels.iter().map(f).map(|(lo, hi)| format!("[{lo}, {hi}]")).collect();
        format!("[{}]", v.join(", "))
    };
    out +=
        "# clip: the grid's representable range [(quant_min - zero_point) * scale, (quant_max - zero_point) * scale]\n";
    let _ = writeln!(out, "clip = {}", pairs(|c| c.clip()));
    out += "# range: the data range calibration fitted the grid to\n";
    let _ = writeln!(out, "range = {}", pairs(|c| c.range));
    let call = if per_channel {
        format!(
            "torch.fake_quantize_per_channel_affine(w, torch.tensor(scale), torch.tensor(zero_point, dtype=torch.int32), {}, {}, {})",
            q.channel_axis, a.qmin, a.qmax
        )
    } else {
        format!("torch.fake_quantize_per_tensor_affine(w, {}, {}, {}, {})", scales[0], zero_points[0], a.qmin, a.qmax)
    };
    let _ = writeln!(out, "pytorch = {call:?}");
    if q.rounding != Rounding::HalfEven {
        let _ = writeln!(out, "# note: PyTorch rounds half to even; these codes use {} rounding", q.rounding);
    }
    let m = &a.metrics;
    out += "\n[metrics]\n";
    for (k, v) in [
        ("mse", m.mse),
        ("rmse", m.rmse),
        ("mae", m.mae),
        ("max_abs_error", m.max_abs_error),
        ("sqnr_db", m.sqnr_db),
        ("cosine", m.cosine),
        ("clip_rate", m.clip_rate),
        ("bias", m.bias),
        ("compression", a.storage.compression),
    ] {
        let _ = writeln!(out, "{k} = {}", toml_float(v));
    }
    let _ = writeln!(out, "levels_used = {}\nlevels_available = {}", m.levels_used, m.levels_available);
    let _ = writeln!(out, "bytes_fp32 = {}\nbytes_quantized = {}", a.storage.bytes_fp32, a.storage.bytes_quantized);
    out
}

/// The ensemble's figures at export time, for the record.
fn ensemble_toml(r: &EnsembleReport) -> String {
    let mut out = String::from("\n# The ensemble's figures at export time (recomputed on load).\n[ensemble_metrics]\n");
    for (k, v) in [
        ("test_accuracy", r.test_accuracy),
        ("cv_accuracy_mean", r.cv_accuracy_mean),
        ("cv_accuracy_std", r.cv_accuracy_std),
        ("precision_macro", r.precision_macro),
        ("recall_macro", r.recall_macro),
        ("f1_macro", r.f1_macro),
    ] {
        write_figure(&mut out, k, v);
    }
    let rows: Vec<String> = r.confusion.iter().map(|row| toml_array(row)).collect();
    let _ = writeln!(out, "confusion = [{}]", rows.join(", "));
    let member_acc: Vec<String> = r.members.iter().map(|m| toml_float(m.test_accuracy)).collect();
    let _ = writeln!(out, "member_test_accuracy = [{}]", member_acc.join(", "));
    out
}

/// The Deploy pane's table at export time, for the record.
fn deploy_toml(d: &DeployReport) -> String {
    let mut out = String::from("\n# The quantized ensemble at export time (recomputed on load).\n[deploy_metrics]\n");
    let _ = writeln!(out, "bits = {}", d.bits);
    for (k, v) in [
        ("float_test_accuracy", d.ensemble.float_test_accuracy),
        ("quant_test_accuracy", d.ensemble.quant_test_accuracy),
        ("float_cv_accuracy_mean", d.ensemble.float_cv_accuracy_mean),
        ("quant_cv_accuracy_mean", d.ensemble.quant_cv_accuracy_mean),
    ] {
        write_figure(&mut out, k, v);
    }
    let _ = writeln!(out, "float_bytes = {}\nquant_bytes = {}", d.ensemble.float_bytes, d.ensemble.quant_bytes);
    if let Some(b) = d.recommended_bits {
        let _ = writeln!(out, "recommended_bits = {b}");
    }
    for row in &d.by_bits {
        let _ = writeln!(
            out,
            "[[deploy_metrics.by_bits]]\nbits = {}\ntest_accuracy = {}\ncv_accuracy_mean = {}\nbytes = {}",
            row.bits,
            toml_float(row.test_accuracy),
            toml_float(row.cv_accuracy_mean),
            row.bytes
        );
    }
    out
}

/// `key = value`; TOML has no null, so a figure an empty ensemble lacks is a comment.
fn write_figure(out: &mut String, key: &str, v: Option<f64>) {
    let _ = match v {
        Some(v) => writeln!(out, "{key} = {}", toml_float(v)),
        None => writeln!(out, "# {key}: none (no members)"),
    };
}

fn toml_array<T: std::fmt::Display>(v: &[T]) -> String {
    let items: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", items.join(", "))
}

fn toml_float(v: f64) -> String {
    match v {
        v if v == f64::INFINITY => "inf".into(),
        v if v == f64::NEG_INFINITY => "-inf".into(),
        v if v.is_nan() => "nan".into(),
        v => format!("{v:?}"),
    }
}

/// Writes `text` to `path` atomically: a temporary file in the same
/// directory, then a rename, so a failure never leaves a half-written file
/// or loses the previous one.
pub fn write_atomic(path: &Path, text: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let fail = |what: &str, e: std::io::Error| format!("cannot write {}: {what}: {e}", path.display());
    if !dir.is_dir() {
        return Err(format!("cannot write {}: the directory {} does not exist", path.display(), dir.display()));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".qmc-tui-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| fail("cannot create a file in its directory", e))?;
    tmp.write_all(text).map_err(|e| fail("writing failed", e))?;
    // A temporary file is private (0600); the result should read like any
    // file the user writes: the old file's mode, or rw-r--r--.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map(|m| m.permissions().mode()).unwrap_or(0o644);
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| fail("setting permissions failed", e))?;
    }
    tmp.as_file().sync_all().map_err(|e| fail("flushing to disk failed", e))?;
    tmp.persist(path).map_err(|e| fail("renaming into place failed", e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::analysis::analyze;

    #[test]
    fn defaults_are_eight_bit_min_max() {
        let s = Settings::default();
        assert_eq!((s.quant.bits, s.quant.calibration, s.quant.scheme), (8, Calibration::MinMax, Scheme::Asymmetric));
        assert_eq!((s.weights.rows, s.weights.cols, s.weights.seed), (1000, 10, 42));
        assert_eq!(s.matching_preset(), Some("int8 per-tensor"));
    }

    #[test]
    fn every_preset_is_valid_and_recognised() {
        for p in PRESETS {
            let s = Settings::default().with_preset(p);
            s.validate().unwrap();
            assert_eq!(s.matching_preset(), Some(p.name));
        }
    }

    #[test]
    fn export_round_trips_exactly() {
        let mut s = Settings::default();
        s.quant.bits = 5;
        s.quant.scale = 0.1;
        s.quant.clip = [-0.30000001192092896, 2.7];
        s.quant.percentile = 99.95;
        s.weights.distribution = Distribution::StudentT;
        s.weights.dof = 2.5;
        let a = analyze(&s.weights.load().unwrap(), &s.quant).unwrap();
        let text = s.to_toml(Some(&a), None, None);
        let back = Settings::parse(&text).unwrap();
        assert_eq!(back.without_preset(), s.without_preset());
    }

    #[test]
    fn presets_keep_a_weights_file() {
        let mut s = Settings::default();
        s.weights.source = "w.npy".into();
        for p in PRESETS {
            assert_eq!(s.with_preset(p).weights.source, "w.npy", "{}", p.name);
        }
        s.weights.source = SYNTHETIC.into();
        s.weights.rows = 7;
        assert_eq!(s.with_preset(preset("seed example").unwrap()).weights.rows, 1000);
    }

    #[test]
    fn ensemble_settings_round_trip_exactly() {
        use crate::compute::ensemble::{Fusion, MemberKind};
        let mut s = Settings::default();
        s.data.test_fraction = 0.3;
        s.data.folds = 7;
        s.data.seed = 9;
        s.ensemble.fusion = Fusion::Stacking;
        s.ensemble.members[1].kind = MemberKind::Logistic;
        s.ensemble.members[2].weight = 0.35;
        s.ensemble.members[0].feature_fraction = 0.75;
        s.ensemble.members[1].c = 0.25;
        s.ensemble.members[1].max_iter = 500;
        s.ensemble.members.remove(0);
        let text = s.to_toml(None, None, None);
        assert!(text.contains("c = 0.25\nmax_iter = 500"), "{text}");
        let back = Settings::parse(&text).unwrap();
        assert_eq!(back, s);
        let e = Settings::parse("[[ensemble.members]]\nkind = \"logistic\"\nc = 0.0\n").unwrap_err();
        assert!(e.message.contains("ensemble.members[0].c") && e.line == Some(3), "{e}");
        let e = Settings::parse("[[ensemble.members]]\nkind = \"logistic\"\nmax_iter = 0\n").unwrap_err();
        assert!(e.message.contains("ensemble.members[0].max_iter") && e.line == Some(3), "{e}");
        let two = "[[ensemble.members]]\n[[ensemble.members]]\nkind = \"logistic\"\n\nc = -1.0\n";
        let e = Settings::parse(two).unwrap_err();
        assert!(e.message.contains("ensemble.members[1].c") && e.line == Some(5), "{e}");
        let e = Settings::parse("[[ensemble.members]]\nkind = \"forest\"\ntress = 3\n").unwrap_err();
        assert!(e.message.contains("tress") && e.line == Some(3), "{e}");
    }

    #[test]
    fn an_export_without_members_writes_no_figures() {
        use crate::compute::ensemble::{DataConfig, EnsembleConfig, Fusion, evaluate, prepare};
        let mut s = Settings::default();
        s.ensemble.members.clear();
        let p = prepare(crate::compute::data::iris(), &DataConfig::default()).unwrap();
        let r = evaluate(&p, &EnsembleConfig { fusion: Fusion::Soft, members: vec![] }, &[]);
        let text = s.to_toml(None, Some(&r), None);
        assert!(text.contains("# test_accuracy: none (no members)"), "{text}");
        let t: toml::Table = text.parse().unwrap();
        assert!(t["ensemble_metrics"].get("test_accuracy").is_none());
        assert_eq!(Settings::parse(&text).unwrap(), s);
    }

    #[test]
    fn a_preset_is_a_base_that_keys_override() {
        let s = Settings::parse("preset = \"int4 per-channel mse\"\n[quant]\nbits = 3\n").unwrap();
        assert_eq!(
            (s.quant.bits, s.quant.calibration, s.quant.granularity),
            (3, Calibration::Mse, Granularity::PerChannel)
        );
        let seed = Settings::parse("preset = \"seed example\"\n").unwrap();
        assert_eq!((seed.quant.scheme, seed.quant.scale), (Scheme::Manual, 128.0));
    }

    #[test]
    fn unknown_keys_are_refused_with_key_and_line() {
        let e = Settings::parse("[quant]\nbits = 8\nbitz = 4\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("bitz"), "{e}");
        let e = Settings::parse("[quantize]\nbits = 8\n").unwrap_err();
        assert!(e.message.contains("quantize"), "{e}");
    }

    #[test]
    fn out_of_range_values_are_refused_with_key_and_line() {
        let e = Settings::parse("[weights]\nrows = 10\n\n[quant]\nscheme = \"symmetric\"\nbits = 17\n").unwrap_err();
        assert_eq!(e.line, Some(6));
        assert!(e.message.contains("quant.bits") && e.message.contains("17"), "{e}");
        let e = Settings::parse("[quant]\nclip = [1.0, -1.0]\n").unwrap_err();
        assert!(e.message.contains("quant.clip"), "{e}");
        let e = Settings::parse("[quant]\npercentile = 0\n").unwrap_err();
        assert!(e.message.contains("quant.percentile"), "{e}");
        let e = Settings::parse("[weights]\nrows = 0\n").unwrap_err();
        assert_eq!((e.line, e.message.contains("weights.rows")), (Some(2), true), "{e}");
    }

    #[test]
    fn wrong_types_and_syntax_are_refused_with_the_line() {
        let e = Settings::parse("[quant]\nbits = \"eight\"\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = Settings::parse("[quant]\nscheme = \"sideways\"\n").unwrap_err();
        assert!(e.message.contains("sideways") || e.message.contains("variant"), "{e}");
        let e = Settings::parse("[quant\nbits = 8\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = Settings::parse("preset = \"int2\"\n").unwrap_err();
        assert!(e.message.contains("seed example"), "{e}");
    }

    #[test]
    fn relative_weights_paths_are_relative_to_the_settings_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(&file, "[weights]\nsource = \"w.npy\"\n").unwrap();
        let s = Settings::load(&file).unwrap();
        assert_eq!(Path::new(&s.weights.source), dir.path().join("w.npy"));
        let exported = Settings::parse(&s.portable().to_toml(None, None, None)).unwrap();
        assert!(Path::new(&exported.weights.source).is_absolute());
    }

    #[test]
    fn a_missing_weights_file_is_found_before_loading() {
        let mut w = WeightsConfig { source: "/no/such/w.safetensors".into(), ..WeightsConfig::default() };
        assert!(w.check().unwrap_err().to_string().contains("/no/such/w.safetensors"));
        assert_eq!(WeightsConfig::default().check().unwrap(), None);
    }

    #[test]
    fn error_message_names_the_file() {
        let e = Settings::load(Path::new("/no/such/settings.toml")).unwrap_err();
        assert!(e.to_string().starts_with("settings file /no/such/settings.toml: cannot read it"), "{e}");
    }

    #[test]
    fn derived_section_holds_pytorch_parameters() {
        let s = Settings::default();
        let a = analyze(&s.weights.load().unwrap(), &s.quant).unwrap();
        let text = s.to_toml(Some(&a), None, None);
        let t: toml::Table = text.parse().unwrap();
        let d = t["derived"].as_table().unwrap();
        assert_eq!(d["quant_min"].as_integer(), Some(-128));
        assert_eq!(d["qscheme"].as_str(), Some("torch.per_tensor_affine"));
        let scale = d["scale"].as_array().unwrap()[0].as_float().unwrap();
        assert_eq!(scale as f32, a.channels[0].params.scale);
        assert!(d["pytorch"].as_str().unwrap().starts_with("torch.fake_quantize_per_tensor_affine(w, "));
        assert!(t["metrics"]["mse"].as_float().unwrap() > 0.0);
    }

    #[test]
    fn atomic_write_keeps_the_old_file_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        write_atomic(&path, b"old").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
        }
        let missing = dir.path().join("nope").join("s.toml");
        let e = write_atomic(&missing, b"new").unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        // A directory in the way of the rename: the write fails, nothing is lost.
        let blocked = dir.path().join("sub");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("keep"), b"x").unwrap();
        assert!(write_atomic(&blocked, b"new").is_err());
        assert_eq!(std::fs::read(blocked.join("keep")).unwrap(), b"x");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
