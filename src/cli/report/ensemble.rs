//! The Ensemble and Deploy panes' figures in the report.

use std::fmt::Write as _;

use serde::Serialize;

use crate::compute::deploy::DeployReport;
use crate::compute::ensemble::{EnsembleReport, MemberKind};
use crate::format;
use crate::settings::Settings;
use crate::worker::EnsembleWorker;

use super::columns::{Pad, Table};
use crate::cli::CliError;

/// The Deploy section's bits sweep: bits, test, cv, size (under its header's words).
const BY_BITS: Table = Table { gap: "  ", columns: &[Pad::Right(4), Pad::Right(6), Pad::Right(6), Pad::Left(0)] };
const BY_BITS_LEAD: &str = "                   ";

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

impl EnsembleSection {
    /// Trains every member and fuses, as the Ensemble pane does; also the
    /// Deploy pane's quantized ensemble.
    pub(super) fn build(settings: &Settings) -> Result<(EnsembleSection, DeployReport), CliError> {
        let view = EnsembleWorker::default()
            .train(0, settings, &mut |_| true)
            .expect("nothing stops a headless training")
            .map_err(|e| CliError::Ensemble { data: settings.data.source.clone(), source: e })?;
        let d = &view.data;
        let data =
            DataSection { source: d.source.clone(), rows: d.rows, features: d.features, classes: d.class_names.len() };
        Ok((EnsembleSection { data, report: (*view.report).clone() }, (*view.deploy).clone()))
    }

    pub(super) fn write_text(&self, out: &mut String) {
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
        if let Some(in_sample) = r.optimized_in_sample_cv_accuracy {
            let _ = writeln!(
                out,
                "  optimized cv     weights chosen inside each fold (above); chosen on all rows {} (optimistic)",
                format::pct(in_sample)
            );
        }
        let _ = writeln!(
            out,
            "  reference (cv)   best member {}, oracle {}",
            pct(r.best_member_accuracy),
            pct(r.oracle_accuracy)
        );
        let _ = writeln!(out, "  probabilities    {}", quality_text(r.log_loss, r.brier, r.ece));
        if let Some(lm) = &r.label_mean_permutations {
            let how = if lm.exhaustive { "all" } else { "a seeded sample of" };
            let _ = writeln!(
                out,
                "  relabelings      label-mean cv {} to {} over {how} {} class numberings (these numbers {})",
                format::pct(lm.min),
                format::pct(lm.max),
                lm.permutations,
                format::pct(lm.identity)
            );
        }
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
        let _ = writeln!(
            out,
            "  members          kind      trees depth weight  share   test    cv            log loss  brier  ece    contrib"
        );
        for (i, m) in r.members.iter().enumerate() {
            let logistic = m.kind == MemberKind::Logistic;
            let solver = if logistic {
                let converged = if m.converged { "converged" } else { "did not converge" };
                format!("  c {}, max_iter {}, {converged}", format::num(m.c), m.max_iter)
            } else {
                String::new()
            };
            let contribution = m.contribution.map_or("-".into(), |c| format!("{:+.2}", 100.0 * c));
            let _ = writeln!(
                out,
                "  {:<16} {:<9} {:>5} {:>5} {:>6}  {:>6}  {:>6}  {} ± {}  {:>8.4}  {:.4} {:.4} {contribution:>6}{solver}",
                i + 1,
                m.kind.name(),
                if m.kind == MemberKind::Forest { m.trees.to_string() } else { "-".into() },
                if logistic { "-".into() } else { format::depth(m.max_depth) },
                format::num(m.weight),
                format::pct(m.normalized_weight),
                format::pct(m.test_accuracy),
                format::pct(m.cv_accuracy_mean),
                format::pct(m.cv_accuracy_std),
                m.log_loss,
                m.brier,
                m.ece
            );
        }
        if let Some(w) = &r.optimized_weights {
            let shares: Vec<String> =
                w.iter().enumerate().map(|(i, w)| format!("#{} {}", i + 1, format::pct(*w))).collect();
            let _ = writeln!(
                out,
                "  optimized        {} (ensemble selection on the train split's out-of-fold rows)",
                shares.join(", ")
            );
        }
    }
}

/// The fused out-of-fold probabilities' figures, or why there are none.
fn quality_text(log_loss: Option<f64>, brier: Option<f64>, ece: Option<f64>) -> String {
    match (log_loss, brier, ece) {
        (Some(l), Some(b), Some(e)) => format!("log loss {l:.4}, Brier {b:.4}, ECE {e:.4} (out-of-fold)"),
        _ => "n/a: this fusion gives labels, not probabilities".into(),
    }
}

/// What the text report says where the JSON has null figures.
const NO_FIGURES: &str = "no members: no figures (null in --format json); add an [[ensemble.members]] table";

/// A percentage, or null where there is no figure (as the JSON says).
fn pct(v: Option<f64>) -> String {
    v.map_or("null".into(), format::pct)
}

pub(super) fn write_deploy(out: &mut String, d: &DeployReport) {
    let format = if d.format.is_int() { String::new() } else { format!(" {}", d.format) };
    let _ = writeln!(out, "\nquantized ensemble{format} {} bits, {} fusion in float", d.bits, d.fusion);
    if d.members.is_empty() {
        let _ = writeln!(out, "  {NO_FIGURES}");
        return;
    }
    if let Some(why) = &d.error {
        let _ = writeln!(out, "  error            {why}");
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
        let (test, cv, size) = (format::pct(b.test_accuracy), format::pct(b.cv_accuracy_mean), format::bytes(b.bytes));
        let _ = writeln!(out, "{}", BY_BITS.row(BY_BITS_LEAD, &[&b.bits, &test, &cv, &size]));
    }
    for note in &d.notes {
        let _ = writeln!(out, "  note: {note}");
    }
}
