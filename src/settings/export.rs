//! The settings file text on export: every setting, then for the record
//! what the quantizer derived (PyTorch names) and the figures of the panes.

use std::fmt::Write as _;

use super::{Settings, member_keys};
use crate::compute::analysis::Analysis;
use crate::compute::deploy::DeployReport;
use crate::compute::ensemble::EnsembleReport;
use crate::compute::metrics::{Figure, METRICS};
use crate::compute::quant::{QuantConfig, Rounding, Scheme};

/// The first line of every export: how load knows a file the tool wrote.
pub const EXPORT_HEADER: &str = "# qmc-tui settings: `qmc-tui --config FILE` starts from them.";

impl Settings {
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
        let mut out = format!("{EXPORT_HEADER}\n");
        let mut table = toml::Table::try_from(&s).expect("settings always serialize");
        member_keys::drop_unread(&mut table, &s.ensemble.members);
        out += &toml::to_string(&table).expect("settings always serialize");
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

/// PyTorch's name of the quantization scheme.
pub fn qscheme(q: &QuantConfig) -> &'static str {
    match (q.per_channel(), q.scheme) {
        (true, Scheme::Symmetric) => "torch.per_channel_symmetric",
        (true, _) => "torch.per_channel_affine",
        (false, Scheme::Symmetric) => "torch.per_tensor_symmetric",
        (false, _) => "torch.per_tensor_affine",
    }
}

/// A format of the trait: its deployed name, size and first group, and the metrics.
fn format_toml(a: &Analysis) -> String {
    let f = &a.format;
    let mut out = String::from("\n# Derived on export and recomputed on load.\n[derived]\n");
    let _ = writeln!(out, "format = {:?}\necosystem = {:?}\nbpw = {}", f.name, f.ecosystem, f.bpw);
    let _ = writeln!(out, "groups = {}\ngroup_size = {}", f.groups, f.group_size);
    // A parameter's name may not be a bare TOML key (`level[0]`): quoted.
    for (k, v) in &f.params {
        let _ = writeln!(out, "{:?} = {}", format!("first_group_{k}"), toml_float(*v));
    }
    out + &metrics_toml(a)
}

/// PyTorch's view of the derived parameters, and the metrics at export time.
fn derived_toml(settings: &Settings, a: &Analysis) -> String {
    let q = &settings.quant;
    if a.channels.is_empty() {
        return format_toml(a);
    }
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
    out + &metrics_toml(a)
}

/// The `[metrics]` table of an export.
fn metrics_toml(a: &Analysis) -> String {
    let mut out = String::from("\n[metrics]\n");
    for r in METRICS {
        let value = match (r.value)(&a.metrics) {
            Figure::Real(v) => toml_float(v),
            Figure::Count(n) => n.to_string(),
        };
        let _ = writeln!(out, "{} = {value}", r.key);
    }
    let _ = writeln!(out, "compression = {}", toml_float(a.storage.compression));
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
