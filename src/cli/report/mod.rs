//! `report`: every number the panes show, as JSON for scripts or as text.

mod columns;
mod ensemble;
mod formats;
mod quant;

use serde::Serialize;

use super::{Cli, CliError, ReportFormat, Section, describe, initial_settings, load_weights, write_stdout};
use crate::compute::analysis;
use crate::compute::deploy::DeployReport;
use crate::compute::diagnose::{self, Finding};
use crate::compute::formats::table::{self, FormatRow};
use crate::compute::watch::Watch;
use crate::compute::weights::Weights;
use crate::settings::Settings;
use ensemble::write_deploy;
use quant::write_diagnostics;

pub use ensemble::{DataSection, EnsembleSection};
pub use quant::{MetricsReport, PerChannelReport, PicturesReport, QuantReport, WeightsReport};

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
    /// Every number format on the tensor: the Formats view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formats: Option<Vec<FormatRow>>,
}

impl Report {
    /// Every section: the Quantize pane's pipeline on `w`, then the ensemble.
    pub fn build(settings: &Settings, w: &Weights) -> Result<Report, CliError> {
        Report::build_sections(settings, Some(w), &[Section::Quant, Section::Ensemble, Section::Deploy])
    }

    /// The sections asked for; `w` is needed (and only read) for `quant`,
    /// and the ensemble is trained only for `ensemble` or `deploy`.
    pub fn build_sections(settings: &Settings, w: Option<&Weights>, sections: &[Section]) -> Result<Report, CliError> {
        let mut report = Report {
            weights: None,
            quant: None,
            diagnostics: None,
            ensemble: None,
            quantized_ensemble: None,
            formats: None,
        };
        if let Some(w) = w.filter(|_| sections.contains(&Section::Formats)) {
            let stats = analysis::weight_stats(w);
            let rows = table::table(w, &stats, &table::default_rows(), &Watch::NONE, |_| {})
                .expect("nothing stops a headless report");
            report.formats = Some(rows);
        }
        if let Some(w) = w.filter(|_| sections.contains(&Section::Quant)) {
            let cfg = &settings.quant;
            let cannot = |source| CliError::Quantize { what: describe(w), source };
            let a = analysis::analyze(w, cfg).map_err(cannot)?;
            let curve = analysis::mse_curve(w, cfg, &a, &Watch::NONE).map_err(|e| cannot(e.into()))?;
            // Manual mode's alternatives are those of a quantizer with as many levels.
            let alternatives = analysis::alternatives(w, cfg, a.effective_bits);
            report.weights = Some(WeightsReport::of(w));
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

    pub fn to_json(&self) -> Result<String, CliError> {
        serde_json::to_string_pretty(self).map_err(|source| CliError::Json { what: "the report", source })
    }

    /// The same figures as the JSON, laid out for reading.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if let Some(w) = &self.weights {
            quant::write_weights(&mut out, w);
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
        if let Some(rows) = &self.formats {
            formats::write_formats(&mut out, rows);
        }
        out.trim_start().trim_end().to_string()
    }
}

pub(super) fn report_command(cli: &Cli, fmt: ReportFormat, only: &[Section]) -> Result<(), CliError> {
    let sections = if only.is_empty() { &[Section::Quant, Section::Ensemble, Section::Deploy][..] } else { only };
    let mut settings = initial_settings(cli)?;
    let w = if sections.iter().any(|s| matches!(s, Section::Quant | Section::Formats)) {
        Some(load_weights(&mut settings)?)
    } else {
        None
    };
    let report = Report::build_sections(&settings, w.as_ref(), sections)?;
    match fmt {
        ReportFormat::Json => write_stdout(&report.to_json()?),
        ReportFormat::Text => write_stdout(&report.to_text()),
    }
}
