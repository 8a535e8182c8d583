//! `scan`: every tensor of a checkpoint measured with each format, the
//! model's totals, and under a budget the plan, as JSON, text or CSV.

use std::path::{Path, PathBuf};

use super::{CliError, shape_text, write_stdout};
use crate::compute::checkpoint::recipe::{self, KEEP, Pin, Recipe, RecipeError, RoleWeight};
use crate::compute::checkpoint::scan::{self, Budget, Overrides, Scan, TensorScan};
use crate::compute::checkpoint::select::FormatSpec;
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
    pub formats: Option<&'a str>,
    pub include: &'a [String],
    pub exclude: &'a [String],
    pub include_1d: bool,
    pub budget: Option<Budget>,
    pub pins: &'a [String],
    pub keep: &'a [String],
    pub weights: &'a [String],
    pub recipe: Option<&'a Path>,
    pub format: ScanFormat,
    pub write: &'a super::scan_write::WriteFlags,
}

/// What the scan measures and how it plans, from the flags or a recipe.
pub(super) struct Setup {
    /// The candidates an unpinned tensor chooses from (`--formats`).
    pub candidates: Vec<String>,
    /// Every format measured: the candidates, then the pins' and the recipe's others.
    pub specs: Vec<FormatSpec>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub include_1d: bool,
    pub budget: Option<Budget>,
    pub pins: Vec<Pin>,
    pub weights: Vec<RoleWeight>,
    /// The recipe read, and its file, when `--recipe` gave one.
    pub recipe: Option<(Recipe, PathBuf)>,
}

impl Setup {
    fn from_flags(args: &ScanArgs) -> Result<Setup, CliError> {
        let specs = select::parse_formats(args.formats.unwrap_or(select::DEFAULT_FORMATS))?;
        let mut pins: Vec<Pin> = args.pins.iter().map(|p| Pin::parse(p)).collect::<Result<_, _>>()?;
        pins.extend(args.keep.iter().map(|g| Pin::keep(g)));
        let weights = args.weights.iter().map(|w| RoleWeight::parse(w)).collect::<Result<_, _>>()?;
        let mut setup = Setup {
            candidates: specs.iter().map(|s| s.label.clone()).collect(),
            specs,
            include: args.include.to_vec(),
            exclude: args.exclude.to_vec(),
            include_1d: args.include_1d,
            budget: args.budget,
            pins,
            weights,
            recipe: None,
        };
        let pinned: Vec<String> = setup.pins.iter().map(|p| p.format.clone()).collect();
        for name in pinned.iter().filter(|n| *n != KEEP) {
            if !setup.specs.iter().any(|s| &s.label == name) {
                setup.specs.push(select::parse_format(name)?);
            }
        }
        Ok(setup)
    }

    /// Everything from the recipe; a flag that would change it is refused.
    fn from_recipe(args: &ScanArgs, path: &Path) -> Result<Setup, CliError> {
        let shown = path.display().to_string();
        let given = [
            ("--formats", args.formats.is_some()),
            ("--include", !args.include.is_empty()),
            ("--exclude", !args.exclude.is_empty()),
            ("--include-1d", args.include_1d),
            ("--budget-bpw/--budget-mb", args.budget.is_some()),
            ("--pin", !args.pins.is_empty()),
            ("--keep", !args.keep.is_empty()),
            ("--weight", !args.weights.is_empty()),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, on)| *on) {
            return Err(CliError::RecipeWith { path: shown, flag });
        }
        let text =
            std::fs::read_to_string(path).map_err(|source| CliError::RecipeRead { path: shown.clone(), source })?;
        let recipe = Recipe::from_toml(&shown, &text)?;
        let format_error = |source| RecipeError::Format { path: shown.clone(), source };
        let specs: Vec<FormatSpec> = recipe
            .measured_formats()
            .into_iter()
            .map(select::parse_format)
            .collect::<Result<_, _>>()
            .map_err(format_error)?;
        Ok(Setup {
            candidates: recipe.formats.clone(),
            specs,
            include: recipe.include.clone(),
            exclude: recipe.exclude.clone(),
            include_1d: recipe.include_1d,
            budget: recipe.budget(),
            pins: recipe.pins.clone(),
            weights: recipe.weights.clone(),
            recipe: Some((recipe, path.to_path_buf())),
        })
    }

    /// Whether the scan will have a plan, so the writers have one format per tensor.
    pub fn planned(&self) -> bool {
        self.budget.is_some() || self.recipe.is_some() || !self.pins.is_empty()
    }

    fn overrides(&self) -> Overrides<'_> {
        Overrides {
            candidates: Some(&self.candidates),
            pins: &self.pins,
            weights: &self.weights,
            fixed: self.recipe.as_ref().map(|(r, _)| &r.assignments),
        }
    }
}

pub(super) fn scan_command(args: &ScanArgs) -> Result<(), CliError> {
    let setup = match args.recipe {
        Some(path) => Setup::from_recipe(args, path)?,
        None => Setup::from_flags(args)?,
    };
    super::scan_write::check(args.write, args.path, &setup)?;
    let scan = run(args.path, &setup)?;
    super::scan_write::write_outputs(args.write, args.path, &setup, &scan)?;
    let text = match args.format {
        ScanFormat::Json => {
            serde_json::to_string_pretty(&scan).map_err(|source| CliError::Json { what: "the scan", source })?
        }
        ScanFormat::Text => text(&scan),
        ScanFormat::Csv => csv(&scan)?,
    };
    write_stdout(&text)
}

fn run(path: &Path, setup: &Setup) -> Result<Scan, CliError> {
    let ck = checkpoint::open(path, setup.include_1d)?;
    let names: Vec<&str> = ck.tensors.iter().map(|t| t.name.as_str()).collect();
    let nothing = |(flag, glob)| CheckpointError::GlobMatchesNothing { flag, glob, path: ck.path.clone() };
    let selected = select::select(&names, &setup.include, &setup.exclude).map_err(nothing)?;
    let pins = select::unmatched(&names, setup.pins.iter().map(|p| p.glob.as_str()));
    let weights = select::unmatched(&names, setup.weights.iter().map(|w| w.glob.as_str()));
    for (flag, glob) in [("--pin", pins), ("--weight", weights)] {
        if let Some(glob) = glob {
            return Err(nothing((flag, glob.to_string())).into());
        }
    }
    if let Some((recipe, file)) = &setup.recipe {
        recipe::check_against(recipe, &file.display().to_string(), &ck, &selected, &setup.specs)?;
    }
    let mut result = scan::scan(&ck, &selected, &setup.specs, &Watch::NONE)?;
    result.plan = scan::plan_scan_with(&result, setup.budget, &setup.overrides())
        .map_err(|source| plan_error(&ck.path, &result, source))?;
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
        ["name", "shape", "dtype", "params", "max|x|", "std", "kurtosis", "outliers", "peak/σ", "ch spread"]
            .map(String::from)
            .to_vec();
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
                s.peak_to_sigma.map_or("-".into(), format::num),
                s.channel_range_spread.map_or("-".into(), format::num),
            ]),
            None => {
                // The reason goes last, so it does not widen a column.
                row.push("skipped".to_string());
                row.extend(std::iter::repeat_n("-".to_string(), 5 + formats.len()));
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
        totals.push(vec![
            t.format.clone(),
            format::num(t.bpw),
            format::megabytes(t.bytes),
            sqnr,
            t.tensors.to_string(),
        ]);
    }
    out.push_str(&aligned(&totals));
    if let Some(p) = &scan.plan {
        let sqnr = format::db(p.sqnr_db.unwrap_or(f64::INFINITY));
        out.push_str(&format!(
            "\n\nplan        budget {} bpw: {} bpw, {}, {sqnr}\n",
            format::num(p.budget_bpw),
            format::num(p.bpw),
            format::megabytes(p.bytes)
        ));
        let rows: Vec<Vec<String>> = p.assignments.iter().map(|(n, f)| vec![n.clone(), f.clone()]).collect();
        out.push_str(&aligned(&rows));
    }
    out.trim_end().to_string()
}

/// Left-aligned columns, two spaces apart (a skipped row may be shorter).
pub(super) fn aligned(rows: &[Vec<String>]) -> String {
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

const CSV_HEADER: [&str; 19] = [
    "name",
    "shape",
    "dtype",
    "count",
    "skipped",
    "max_abs",
    "std",
    "kurtosis",
    "outlier_ratio",
    "peak_to_sigma",
    "channel_range_spread",
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
fn csv(scan: &Scan) -> Result<String, CliError> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let fail = |e: ::csv::Error| CliError::Csv(e.to_string());
    w.write_record(CSV_HEADER).map_err(fail)?;
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for t in &scan.tensors {
        let shape: Vec<String> = t.shape.iter().map(usize::to_string).collect();
        let mut head =
            vec![t.name.clone(), shape.join("x"), t.dtype.clone(), t.count.to_string(), t.skipped.to_string()];
        let s = t.stats.as_ref();
        head.extend(
            [
                s.map(|s| s.max_abs),
                s.map(|s| s.std),
                s.map(|s| s.kurtosis),
                s.map(|s| s.outlier_ratio),
                s.and_then(|s| s.peak_to_sigma),
                s.and_then(|s| s.channel_range_spread),
            ]
            .map(opt),
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
    let bytes = w.into_inner().map_err(|e| CliError::Csv(e.to_string()))?;
    String::from_utf8(bytes).map(|s| s.trim_end().to_string()).map_err(|e| CliError::Csv(e.to_string()))
}
