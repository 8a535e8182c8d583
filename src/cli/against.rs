//! `scan ORIGINAL --against QUANTIZED [--map FILE]`: the quantized model's
//! error against its original, as JSON, text or CSV.

use std::path::Path;

use serde::Serialize;

use super::scan::{ScanFormat, aligned};
use super::{CliError, write_stdout};
use crate::app::AgainstSource;
use crate::compute::checkpoint;
use crate::compute::checkpoint::against::{self, Against, AgainstError, NameMap, TensorAgainst, names};
use crate::compute::watch::Watch;
use crate::format;

/// What `scan --against` was asked for.
pub(super) struct AgainstArgs<'a> {
    pub original: &'a Path,
    pub quantized: &'a Path,
    pub map: Option<&'a Path>,
    pub include_1d: bool,
    pub plan: bool,
    pub format: ScanFormat,
}

pub(super) fn against_command(args: &AgainstArgs) -> Result<(), CliError> {
    let map = name_map(args.map)?;
    let original = checkpoint::open(args.original, args.include_1d)?;
    // Every float tensor of the quantized side is decoded, norms included.
    let quantized = checkpoint::open(args.quantized, true)?;
    let result = against::against(&original, &quantized, &map, args.plan, &Watch::NONE)?;
    let text = match args.format {
        ScanFormat::Json => {
            #[derive(Serialize)]
            struct Report<'a> {
                against: &'a Against,
            }
            serde_json::to_string_pretty(&Report { against: &result })
                .map_err(|source| CliError::Json { what: "the comparison", source })?
        }
        ScanFormat::Text => text(&original.path, &result),
        ScanFormat::Csv => csv(&result)?,
    };
    write_stdout(&text)
}

/// `--map FILE`'s names, or the automatic ones without it.
fn name_map(path: Option<&Path>) -> Result<NameMap, CliError> {
    Ok(match path {
        Some(path) => NameMap::File(read_map(path)?),
        None => NameMap::Auto,
    })
}

/// `--checkpoint ORIGINAL --against QUANTIZED [--map FILE]` for the pane:
/// both opened as `scan --against` opens them and paired up from their
/// headers (nothing decoded), so a file that is not a model, a bad map or
/// models with no tensor in common fail here, before the screen changes.
pub(super) fn tui_source(original: &Path, quantized: &Path, map: Option<&Path>) -> Result<AgainstSource, CliError> {
    let map = name_map(map)?;
    let opened = checkpoint::open(original, false)?;
    let copy = checkpoint::open(quantized, true)?;
    against::check_pairs(&opened, &copy, &map)?;
    Ok(AgainstSource { quantized: quantized.to_path_buf(), map })
}

fn read_map(path: &Path) -> Result<std::collections::BTreeMap<String, String>, AgainstError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| AgainstError::MapRead { path: shown.clone(), source })?;
    names::parse_map(&shown, &text)
}

fn sqnr_text(db: Option<f64>) -> String {
    format::db(db.unwrap_or(f64::INFINITY))
}

/// Worst SQNR first (an exact copy last).
fn worst_first(a: &Against) -> Vec<&TensorAgainst> {
    let mut order: Vec<&TensorAgainst> = a.tensors.iter().collect();
    order.sort_by(|x, y| x.sqnr_db.unwrap_or(f64::INFINITY).total_cmp(&y.sqnr_db.unwrap_or(f64::INFINITY)));
    order
}

fn text(original: &str, a: &Against) -> String {
    let mut out = format!("original    {original}\nquantized   {}\n\n", a.path);
    let mut rows =
        vec![["name", "quantized", "type", "bpw", "sqnr", "rel rmse", "max|e|", "cosine"].map(String::from).to_vec()];
    for t in worst_first(a) {
        let name = if t.in_totals { t.name.clone() } else { format!("{} (not in totals)", t.name) };
        rows.push(vec![
            name,
            t.quantized_name.clone(),
            t.type_name.clone(),
            format::num(t.bpw),
            sqnr_text(t.sqnr_db),
            format::num(t.rel_rmse),
            format::num(t.max_abs_error),
            format::cosine(t.cosine),
        ]);
    }
    out.push_str(&aligned(&rows));
    let t = &a.totals;
    out.push_str(&format!(
        "\n\ntotals      {}, {} bpw, {} (pooled over the tensors in the totals)\n",
        format::megabytes(t.bytes),
        format::num(t.bpw),
        sqnr_text(t.sqnr_db)
    ));
    match (&a.plan_at_same_size, &a.plan_note) {
        (Some(p), _) => {
            out.push_str(&format!(
                "plan        at the same size, llama.cpp types ({}): {} bpw, {}\n",
                against::plan_candidates().join(", "),
                format::num(p.bpw),
                sqnr_text(p.sqnr_db)
            ));
            let rows: Vec<Vec<String>> = p.assignments.iter().map(|(n, f)| vec![format!("  {n}"), f.clone()]).collect();
            out.push_str(&aligned(&rows));
        }
        (None, note) => out.push_str(&format!("plan        none: {}", note.as_deref().unwrap_or("not made"))),
    }
    if !a.unmatched.is_empty() {
        out.push_str("\n\nnot compared\n");
        let rows: Vec<Vec<String>> =
            a.unmatched.iter().map(|u| vec![format!("  {}", u.name), u.reason.clone()]).collect();
        out.push_str(&aligned(&rows));
    }
    out.trim_end().to_string()
}

const CSV_HEADER: [&str; 10] =
    ["name", "quantized_name", "type", "bpw", "sqnr_db", "rel_rmse", "max_abs_error", "cosine", "in_totals", "reason"];

/// One row per compared tensor, then one per tensor not compared (its reason
/// last). Numbers in full precision; an exact copy's sqnr_db is empty.
fn csv(a: &Against) -> Result<String, CliError> {
    let fail = |e: ::csv::Error| CliError::Csv(e.to_string());
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER).map_err(fail)?;
    for t in &a.tensors {
        let sqnr = t.sqnr_db.map(|v| v.to_string()).unwrap_or_default();
        w.write_record([
            t.name.clone(),
            t.quantized_name.clone(),
            t.type_name.clone(),
            t.bpw.to_string(),
            sqnr,
            t.rel_rmse.to_string(),
            t.max_abs_error.to_string(),
            t.cosine.to_string(),
            t.in_totals.to_string(),
            String::new(),
        ])
        .map_err(fail)?;
    }
    for u in &a.unmatched {
        let mut row = vec![u.name.clone()];
        row.extend(std::iter::repeat_n(String::new(), 8));
        row.push(u.reason.clone());
        w.write_record(&row).map_err(fail)?;
    }
    let bytes = w.into_inner().map_err(|e| CliError::Csv(e.to_string()))?;
    String::from_utf8(bytes).map(|s| s.trim_end().to_string()).map_err(|e| CliError::Csv(e.to_string()))
}
