//! `scan`: every tensor of a checkpoint measured with each format, the
//! model's totals, and under a budget the plan, as JSON, text or CSV.

use std::path::Path;

use super::{print, shape_text};
use crate::compute::checkpoint::scan::{self, Budget, Scan, TensorScan};
use crate::compute::checkpoint::{self, CheckpointError, select};
use crate::compute::plan::PlanError;
use crate::compute::watch::Watch;
use crate::format;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanFormat {
    Json,
    Text,
    Csv,
}

/// What `scan` was asked for.
pub(super) struct ScanArgs<'a> {
    pub path: &'a Path,
    pub formats: &'a str,
    pub include: &'a [String],
    pub exclude: &'a [String],
    pub include_1d: bool,
    pub budget: Option<Budget>,
    pub format: ScanFormat,
    pub write: &'a super::scan_write::WriteFlags,
}

pub(super) fn scan_command(args: &ScanArgs) -> Result<(), String> {
    let specs = select::parse_formats(args.formats).map_err(|e| e.to_string())?;
    super::scan_write::check(args.write, args.path, &specs, args.budget.is_some())?;
    let scan = run(args, &specs).map_err(|e| e.to_string())?;
    super::scan_write::write_outputs(args.write, args.path, args.include_1d, &scan, &specs)?;
    let text = match args.format {
        ScanFormat::Json => serde_json::to_string_pretty(&scan).map_err(|e| e.to_string())?,
        ScanFormat::Text => text(&scan),
        ScanFormat::Csv => csv(&scan)?,
    };
    print(&text)
}

fn run(args: &ScanArgs, specs: &[select::FormatSpec]) -> Result<Scan, CheckpointError> {
    let ck = checkpoint::open(args.path, args.include_1d)?;
    let names: Vec<&str> = ck.tensors.iter().map(|t| t.name.as_str()).collect();
    let selected = select::select(&names, args.include, args.exclude)
        .map_err(|(flag, glob)| CheckpointError::GlobMatchesNothing { flag, glob, path: ck.path.clone() })?;
    let mut result = scan::scan(&ck, &selected, specs, &Watch::NONE)?;
    if let Some(budget) = args.budget {
        let plan = scan::plan_scan(&result, budget).map_err(|source| plan_error(&ck.path, &result, source))?;
        result.plan = Some(plan);
    }
    Ok(result)
}

/// The planner's error in the units the user gave the budget in.
fn plan_error(path: &str, result: &Scan, source: PlanError) -> CheckpointError {
    let count = scan::planned_count(result).max(1.0);
    match source {
        PlanError::BudgetTooSmall { budget, smallest } => CheckpointError::BudgetTooSmall {
            path: path.to_string(),
            budget_bpw: budget / count,
            budget_mb: budget / 8e6,
            smallest_bpw: smallest / count,
            smallest_mb: smallest / 8e6,
        },
        source => CheckpointError::Plan { path: path.to_string(), source },
    }
}

/// The lowest SQNR of a tensor over its formats (skipped tensors last).
fn worst_sqnr(t: &TensorScan) -> f64 {
    let sqnrs = t.results.iter().filter_map(|r| r.figures.as_ref()).map(|f| f.sqnr_db.unwrap_or(f64::INFINITY));
    if t.skipped { f64::INFINITY } else { sqnrs.fold(f64::INFINITY, f64::min) }
}

fn text(scan: &Scan) -> String {
    let c = &scan.checkpoint;
    let mut out = format!(
        "checkpoint  {}\nfiles       {}\ntensors     {} ({} parameters)\n\n",
        c.path,
        c.files.join(", "),
        c.tensors,
        c.parameters
    );
    let formats: Vec<&str> = scan.totals.iter().map(|t| t.format.as_str()).collect();
    let mut header: Vec<String> =
        ["name", "shape", "dtype", "params", "max|x|", "std", "kurtosis", "outliers"].map(String::from).to_vec();
    header.extend(formats.iter().map(|f| format!("{f} sqnr")));
    let mut order: Vec<&TensorScan> = scan.tensors.iter().collect();
    order.sort_by(|a, b| worst_sqnr(a).total_cmp(&worst_sqnr(b)));
    let mut rows = vec![header];
    for t in order {
        let mut row = vec![t.name.clone(), shape_text(&t.shape), t.dtype.clone(), t.count.to_string()];
        match &t.stats {
            Some(s) => row.extend([
                format::num(s.max_abs),
                format::num(s.std),
                format::num(s.kurtosis),
                format::pct(s.outlier_ratio),
            ]),
            None => {
                // The reason goes last, so it does not widen a column.
                row.push("skipped".to_string());
                row.extend(std::iter::repeat_n("-".to_string(), 3 + formats.len()));
                row.push(t.skip_reason.clone().unwrap_or_default());
            }
        }
        row.extend(t.results.iter().map(|r| match (&r.figures, &r.error) {
            (Some(f), _) => format::db(f.sqnr_db.unwrap_or(f64::INFINITY)),
            _ => "n/a".to_string(),
        }));
        rows.push(row);
    }
    out.push_str(&aligned(&rows));
    out.push_str("\n\ntotals (worst SQNR first above; n/a: the format cannot apply, see --format json)\n");
    let mut totals = vec![["format", "bpw", "bytes", "sqnr", "tensors"].map(String::from).to_vec()];
    for t in &scan.totals {
        let sqnr = format::db(t.sqnr_db.unwrap_or(f64::INFINITY));
        totals.push(vec![t.format.clone(), format::num(t.bpw), format::bytes(t.bytes), sqnr, t.tensors.to_string()]);
    }
    out.push_str(&aligned(&totals));
    if let Some(p) = &scan.plan {
        let sqnr = format::db(p.sqnr_db.unwrap_or(f64::INFINITY));
        out.push_str(&format!(
            "\n\nplan        budget {} bpw: {} bpw, {}, {sqnr}\n",
            format::num(p.budget_bpw),
            format::num(p.bpw),
            format::bytes(p.bytes)
        ));
        let rows: Vec<Vec<String>> = p.assignments.iter().map(|(n, f)| vec![n.clone(), f.clone()]).collect();
        out.push_str(&aligned(&rows));
    }
    out.trim_end().to_string()
}

/// Left-aligned columns, two spaces apart (a skipped row may be shorter).
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width = |c: usize| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns).map(width).collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r.iter().zip(&widths).map(|(s, &w)| format!("{s:<w$}")).collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const CSV_HEADER: [&str; 17] = [
    "name",
    "shape",
    "dtype",
    "count",
    "skipped",
    "max_abs",
    "std",
    "kurtosis",
    "outlier_ratio",
    "format",
    "bpw",
    "mse",
    "rel_rmse",
    "sqnr_db",
    "max_abs_error",
    "clip_rate",
    "error",
];

/// One row per tensor and format; a skipped tensor has one row, its reason
/// in `error`. Numbers are written in full precision.
fn csv(scan: &Scan) -> Result<String, String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let fail = |e: ::csv::Error| format!("cannot write the CSV: {e}");
    w.write_record(CSV_HEADER).map_err(fail)?;
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for t in &scan.tensors {
        let shape: Vec<String> = t.shape.iter().map(usize::to_string).collect();
        let mut head =
            vec![t.name.clone(), shape.join("x"), t.dtype.clone(), t.count.to_string(), t.skipped.to_string()];
        let s = t.stats.as_ref();
        head.extend(
            [s.map(|s| s.max_abs), s.map(|s| s.std), s.map(|s| s.kurtosis), s.map(|s| s.outlier_ratio)].map(opt),
        );
        if t.skipped {
            let mut row = head.clone();
            row.extend(std::iter::repeat_n(String::new(), 7));
            row.push(t.skip_reason.clone().unwrap_or_default());
            w.write_record(&row).map_err(fail)?;
        }
        for r in &t.results {
            let f = r.figures.as_ref();
            let mut row = head.clone();
            row.push(r.format.clone());
            row.extend(
                [
                    f.map(|f| f.bpw),
                    f.map(|f| f.mse),
                    f.map(|f| f.rel_rmse),
                    f.and_then(|f| f.sqnr_db),
                    f.map(|f| f.max_abs_error),
                    f.map(|f| f.clip_rate),
                ]
                .map(opt),
            );
            row.push(r.error.clone().unwrap_or_default());
            w.write_record(&row).map_err(fail)?;
        }
    }
    let bytes = w.into_inner().map_err(|e| format!("cannot write the CSV: {e}"))?;
    String::from_utf8(bytes).map(|s| s.trim_end().to_string()).map_err(|e| e.to_string())
}
