//! The Checkpoint pane's state: the checkpoint opened, the rows its scan
//! has streamed so far, and how the table is sorted, filtered and selected.
//! Every figure shown is a field of the scan (`scan --format json`), and
//! the planner's plan is `scan --budget-bpw X`'s, re-planned from the
//! cached scan at each budget. With `--against` the rows are the
//! comparison's instead (`scan --against --format json`), streamed the same way.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use ratatui::crossterm::event::{KeyCode, KeyEvent};

mod against;

use against::AGAINST_IS_FIXED;
pub use against::{AgainstSource, Comparison, compared_value};

use super::typing::Typed;
use super::{App, Mode, Tab};
use crate::compute::checkpoint::CheckpointError;
use crate::compute::checkpoint::against::TensorAgainst;
use crate::compute::checkpoint::scan::{self, Budget, PlanReport, Scan, TensorScan};
use crate::compute::checkpoint::select::{DEFAULT_FORMATS, glob_match, parse_formats};
use crate::compute::format::num;
use crate::compute::plan::PlanError;
use crate::keymap::Action;
use crate::worker::{Job, JobId, Outcome};

/// A per-format figure of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    Sqnr,
    RelRmse,
    MaxError,
    Bpw,
    /// Of `--against` only: the scan's formats have no cosine column.
    Cosine,
}

impl Figure {
    /// A scanned format's columns.
    pub const ALL: [Figure; 4] = [Figure::Sqnr, Figure::RelRmse, Figure::MaxError, Figure::Bpw];
    /// The comparison's columns (`scan --against`), in the order `s` takes them.
    pub const AGAINST: [Figure; 5] = [Figure::Sqnr, Figure::RelRmse, Figure::MaxError, Figure::Cosine, Figure::Bpw];

    pub fn title(self) -> &'static str {
        match self {
            Figure::Sqnr => "sqnr",
            Figure::RelRmse => "rel",
            Figure::MaxError => "max|e|",
            Figure::Bpw => "bpw",
            Figure::Cosine => "cosine",
        }
    }
}

/// What the table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Params,
    /// max|x| / σ.
    Peak,
    Kurtosis,
    Outliers,
    /// The widest channel's range over the median channel's.
    Spread,
    /// A figure of the `n`th format.
    Format(usize, Figure),
    /// A figure of the comparison with `--against`.
    Against(Figure),
}

impl SortKey {
    pub fn title(self, formats: &[String]) -> String {
        match self {
            SortKey::Name => "name".into(),
            SortKey::Params => "params".into(),
            SortKey::Peak => "max|x|/σ".into(),
            SortKey::Kurtosis => "kurtosis".into(),
            SortKey::Outliers => "outliers".into(),
            SortKey::Spread => "channel range spread".into(),
            SortKey::Format(f, fig) => {
                format!("{} of {}", fig.title(), formats.get(f).map_or("?", String::as_str))
            }
            SortKey::Against(Figure::RelRmse) => "relative RMSE".into(),
            SortKey::Against(fig) => fig.title().into(),
        }
    }

    /// Every key, in the order `s` cycles through them: the formats' figures first.
    fn cycle(formats: usize) -> Vec<SortKey> {
        let figures = (0..formats).flat_map(|f| Figure::ALL.map(|fig| SortKey::Format(f, fig)));
        let stats = [SortKey::Peak, SortKey::Kurtosis, SortKey::Outliers, SortKey::Spread];
        figures.chain([SortKey::Name, SortKey::Params]).chain(stats).collect()
    }

    /// With `--against`: the comparison's figures, then the name and size.
    fn cycle_against() -> Vec<SortKey> {
        Figure::AGAINST.map(SortKey::Against).into_iter().chain([SortKey::Name, SortKey::Params]).collect()
    }
}

/// The pane's state.
#[derive(Debug, Clone)]
pub struct CheckpointPane {
    /// The checkpoint to scan (`--checkpoint`); None: the pane says how to open one.
    pub path: Option<PathBuf>,
    /// The formats measured, as `scan --formats` takes them.
    pub formats: String,
    /// The rows scanned so far, in the checkpoint's order.
    pub rows: Vec<TensorScan>,
    /// Rows there will be once the scan is done.
    pub total: usize,
    /// The finished scan (its totals), once done.
    pub scan: Option<Arc<Scan>>,
    pub error: Option<String>,
    pub sort: SortKey,
    /// Largest first; the default (smallest first) puts the worst SQNR on top.
    pub descending: bool,
    /// A glob (with * or ?) or a substring of the names shown.
    pub filter: String,
    /// The selected row, a place in `order()`.
    pub selected: usize,
    /// The pictures instead of the table (at widths where both do not fit).
    pub pictures: bool,
    latest: JobId,
    pub busy: bool,
    /// The planner's budget in bits per weight, once a scan is done.
    pub budget: Option<f64>,
    /// The plan within `budget`, from the finished scan.
    pub plan: Option<PlanReport>,
    /// Why there is no plan at all (a scan whose formats leave a tensor without one).
    pub plan_error: Option<String>,
    /// The plans' (bpw, SQNR) from the smallest uniform candidate to the
    /// largest, for the Pareto picture: each is a `scan --budget-bpw` plan.
    pub frontier: Vec<(f64, f64)>,
    /// When the scan under way started; how long the last one took.
    started: Option<Instant>,
    pub scan_ms: Option<f64>,
    /// With `--against`: the comparison, whose rows the table shows instead of the scan's.
    pub against: Option<Comparison>,
}

impl Default for CheckpointPane {
    fn default() -> Self {
        CheckpointPane {
            path: None,
            formats: DEFAULT_FORMATS.to_string(),
            rows: Vec::new(),
            total: 0,
            scan: None,
            error: None,
            sort: SortKey::Format(0, Figure::Sqnr),
            descending: false,
            filter: String::new(),
            selected: 0,
            pictures: false,
            latest: 0,
            busy: false,
            budget: None,
            plan: None,
            plan_error: None,
            frontier: Vec::new(),
            started: None,
            scan_ms: None,
            against: None,
        }
    }
}

impl CheckpointPane {
    /// The format labels, as the scan names them.
    pub fn format_labels(&self) -> Vec<String> {
        self.formats.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
    }

    /// The rows there are: the comparison's with `--against`, else the scan's.
    pub fn row_count(&self) -> usize {
        self.against.as_ref().map_or(self.rows.len(), |c| c.rows.len())
    }

    /// The tensor name of row `i` (an index into the rows, not the order).
    pub fn row_name(&self, i: usize) -> &str {
        match &self.against {
            Some(c) => &c.rows[i].name,
            None => &self.rows[i].name,
        }
    }

    fn row_value(&self, i: usize) -> Option<f64> {
        match &self.against {
            Some(c) => compared_value(&c.rows[i], self.sort),
            None => sort_value(&self.rows[i], self.sort),
        }
    }

    /// The rows shown, filtered and in the sorted order: indices into the
    /// rows. Rows without the value sorted by (skipped, or a format that
    /// cannot apply) come last either way.
    pub fn order(&self) -> Vec<usize> {
        let mut shown: Vec<usize> = (0..self.row_count()).filter(|&i| self.matches(self.row_name(i))).collect();
        shown.sort_by(|&a, &b| {
            let (na, nb) = (self.row_name(a), self.row_name(b));
            let by_key = match self.sort {
                SortKey::Name => Some(na.cmp(nb)),
                _ => match (self.row_value(a), self.row_value(b)) {
                    (Some(x), Some(y)) => Some(x.total_cmp(&y)),
                    (Some(_), None) => return Ordering::Less,
                    (None, Some(_)) => return Ordering::Greater,
                    (None, None) => None,
                },
            };
            let ord = by_key.unwrap_or(Ordering::Equal);
            let ord = if self.descending { ord.reverse() } else { ord };
            ord.then_with(|| na.cmp(nb))
        });
        shown
    }

    /// Whether a name passes the filter: a glob when it holds * or ?, else a substring.
    pub fn matches(&self, name: &str) -> bool {
        let f = self.filter.as_str();
        if f.contains(['*', '?']) { glob_match(f, name) } else { name.contains(f) }
    }

    /// The selected tensor, if any row of the scan is shown.
    pub fn selected_tensor(&self) -> Option<&TensorScan> {
        if self.against.is_some() {
            return None;
        }
        self.order().get(self.selected).map(|&i| &self.rows[i])
    }

    /// With `--against`: the selected pair, if any row is shown.
    pub fn selected_pair(&self) -> Option<&TensorAgainst> {
        let c = self.against.as_ref()?;
        self.order().get(self.selected).map(|&i| &c.rows[i])
    }

    /// Whether the scan (or the comparison) is finished.
    pub fn done(&self) -> bool {
        match &self.against {
            Some(c) => c.result.is_some(),
            None => self.scan.is_some(),
        }
    }

    pub(super) fn clamp_selection(&mut self) {
        self.selected = self.selected.min(self.order().len().saturating_sub(1));
    }

    /// Sorts by the next column.
    pub fn next_sort(&mut self) {
        let keys = match self.against {
            Some(_) => SortKey::cycle_against(),
            None => SortKey::cycle(self.format_labels().len()),
        };
        let i = keys.iter().position(|k| *k == self.sort).map_or(0, |i| (i + 1) % keys.len());
        self.sort = keys[i];
    }
}

/// The value a row sorts by; None when it has none.
pub fn sort_value(t: &TensorScan, key: SortKey) -> Option<f64> {
    let stats = t.stats.as_ref();
    match key {
        SortKey::Name => None,
        SortKey::Params => Some(t.count as f64),
        SortKey::Peak => stats.and_then(|s| s.peak_to_sigma),
        SortKey::Kurtosis => stats.map(|s| s.kurtosis),
        SortKey::Outliers => stats.map(|s| s.outlier_ratio),
        SortKey::Spread => stats.and_then(|s| s.channel_range_spread),
        SortKey::Format(f, fig) => {
            let figures = t.results.get(f)?.figures.as_ref()?;
            Some(match fig {
                // An exact format has no noise: the best, sorted after every finite SQNR.
                Figure::Sqnr => figures.sqnr_db.unwrap_or(f64::INFINITY),
                Figure::RelRmse => figures.rel_rmse,
                Figure::MaxError => figures.max_abs_error,
                Figure::Bpw => figures.bpw,
                Figure::Cosine => return None,
            })
        }
        SortKey::Against(_) => None,
    }
}

/// The layer a tensor belongs to, from `layers.N.`, `layer.N.`, `h.N.` or `blk.N.` in its name.
pub fn layer_index(name: &str) -> Option<usize> {
    let parts: Vec<&str> = name.split('.').collect();
    parts.windows(2).find(|w| matches!(w[0], "layers" | "layer" | "h" | "blk")).and_then(|w| w[1].parse().ok())
}

/// A tensor's role: what its name says after the layer index, without
/// `.weight`/`.bias` (`layers.3.mlp.down_proj.weight` is `mlp.down_proj`), so
/// BERT's three `dense` tensors of a layer are three roles, not one; a
/// name without a layer index gives its last such part.
pub fn role(name: &str) -> &str {
    let name = name.strip_suffix(".weight").or_else(|| name.strip_suffix(".bias")).unwrap_or(name);
    let parts: Vec<&str> = name.split('.').collect();
    let after_layer = parts
        .windows(2)
        .position(|w| matches!(w[0], "layers" | "layer" | "h" | "blk") && w[1].parse::<usize>().is_ok());
    match after_layer {
        Some(i) if i + 2 < parts.len() => {
            let start: usize = parts[..i + 2].iter().map(|p| p.len() + 1).sum();
            &name[start..]
        }
        _ => name.rsplit('.').next().unwrap_or(name),
    }
}

impl App {
    /// Opens a checkpoint in the Checkpoint pane: the scan job for it.
    pub fn open_checkpoint(&mut self, path: PathBuf) -> Job {
        self.checkpoint.path = Some(path);
        self.scan_job()
    }

    /// A scan of the pane's checkpoint (with `--against`, the comparison);
    /// the rows of an older one are dropped.
    pub(super) fn scan_job(&mut self) -> Job {
        let id = self.job_id();
        let pane = &mut self.checkpoint;
        (pane.latest, pane.busy, pane.started) = (id, true, Some(Instant::now()));
        (pane.rows, pane.total, pane.scan, pane.error) = (Vec::new(), 0, None, None);
        (pane.plan, pane.plan_error, pane.frontier) = (None, None, Vec::new());
        let path = pane.path.clone().unwrap_or_default();
        match &mut pane.against {
            Some(c) => {
                *c = Comparison::new(c.source.clone());
                let AgainstSource { quantized, map } = c.source.clone();
                Job::Against { id, original: path, quantized, map }
            }
            None => Job::Scan { id, path, formats: pane.formats.clone() },
        }
    }

    pub(super) fn on_scan_row(&mut self, id: JobId, tensor: TensorScan, total: usize) {
        if id == self.checkpoint.latest {
            self.checkpoint.rows.push(tensor);
            self.checkpoint.total = total;
        }
    }

    pub(super) fn on_scanned(&mut self, id: JobId, result: Outcome<Arc<Scan>>) {
        let pane = &mut self.checkpoint;
        if id != pane.latest {
            return;
        }
        pane.busy = false;
        match result {
            Outcome::Done(scan) => {
                pane.rows = scan.tensors.clone();
                pane.total = scan.tensors.len();
                pane.scan = Some(scan);
                pane.scan_ms = pane.started.map(|t| t.elapsed().as_secs_f64() * 1e3);
                pane.first_plan();
            }
            Outcome::Failed(e) => pane.error = Some(e.to_string()),
            Outcome::Cancelled => {}
        }
        pane.clamp_selection();
    }

    /// The scan's (or the comparison's) progress for the tab line.
    pub(super) fn scan_activity(&self) -> Option<String> {
        let pane = &self.checkpoint;
        if !pane.busy {
            return None;
        }
        Some(match (&pane.against, pane.total) {
            (Some(c), _) => match (c.planning, c.total) {
                (Some((done, n)), _) => format!("planning at the same size: scanned {done} of {n}"),
                (None, 0) => "opening both models".to_string(),
                (None, n) => format!("comparing tensor {} of {n}", (c.rows.len() + 1).min(n)),
            },
            (None, 0) => "opening the checkpoint".to_string(),
            (None, n) => format!("scanning tensor {} of {n}", (pane.rows.len() + 1).min(n)),
        })
    }

    /// The pane's own meaning of the keys; None leaves the key to the usual handling.
    pub(super) fn on_checkpoint_action(&mut self, action: Action) -> Option<Vec<Job>> {
        let pane = &mut self.checkpoint;
        let shown = pane.order().len();
        match action {
            Action::Up => pane.selected = pane.selected.saturating_sub(1),
            Action::Down => pane.selected = (pane.selected + 1).min(shown.saturating_sub(1)),
            Action::ScrollUp => pane.selected = pane.selected.saturating_sub(PAGE),
            Action::ScrollDown => pane.selected = (pane.selected + PAGE).min(shown.saturating_sub(1)),
            Action::SortTensors => {
                pane.next_sort();
                let title = pane.sort.title(&pane.format_labels());
                self.info(format!("tensors sorted by {title}"));
            }
            Action::FlipOrder => {
                pane.descending = !pane.descending;
                let way = if pane.descending { "largest" } else { "smallest" };
                self.info(format!("tensors sorted {way} first"));
            }
            Action::FilterTensors => self.mode = Mode::FilterTensors,
            Action::TogglePictures => pane.pictures = !pane.pictures,
            Action::Edit => return Some(self.drill_down()),
            Action::Increase
            | Action::Decrease
            | Action::IncreaseCoarse
            | Action::DecreaseCoarse
            | Action::Reset
            | Action::ChooseFormats
                if pane.against.is_some() =>
            {
                self.error(AGAINST_IS_FIXED)
            }
            Action::Increase => self.move_budget(BUDGET_STEP),
            Action::Decrease => self.move_budget(-BUDGET_STEP),
            Action::IncreaseCoarse => self.move_budget(BUDGET_COARSE_STEP),
            Action::DecreaseCoarse => self.move_budget(-BUDGET_COARSE_STEP),
            Action::Reset => self.reset_budget(),
            Action::ChooseFormats => {
                let text = pane.formats.clone();
                self.mode = Mode::TypeFormats { text, selected: true };
            }
            _ => return None,
        }
        Some(Vec::new())
    }

    /// Typing the filter: it applies as typed; Enter keeps it, Esc clears it.
    pub(super) fn on_filter_key(&mut self, key: KeyEvent) -> Vec<Job> {
        let pane = &mut self.checkpoint;
        match key.code {
            KeyCode::Esc => {
                pane.filter.clear();
                self.mode = Mode::Normal;
            }
            KeyCode::Enter => self.mode = Mode::Normal,
            KeyCode::Backspace => {
                pane.filter.pop();
            }
            KeyCode::Char(c) => pane.filter.push(c),
            _ => {}
        }
        self.checkpoint.selected = 0;
        Vec::new()
    }

    /// Enter on a row: that tensor in the Quantize pane, the quantizer kept
    /// (with `--against`, the original tensor, from the original's file).
    fn drill_down(&mut self) -> Vec<Job> {
        let pane = &self.checkpoint;
        let (name, file) = match (pane.selected_tensor(), pane.selected_pair()) {
            (Some(t), _) => match &t.skip_reason {
                Some(why) => {
                    self.error(format!("{} is not quantized ({why}): nothing to open", t.name));
                    return Vec::new();
                }
                None => (t.name.clone(), t.file.clone()),
            },
            (None, Some(t)) => (t.name.clone(), t.file.clone()),
            (None, None) => return Vec::new(),
        };
        let jobs = self.change(self.index(), |s, _| {
            s.weights.source = file.clone();
            s.weights.tensor = Some(name.clone());
            Ok(())
        });
        self.tab = Tab::Quantize;
        let back = crate::keymap::hint(Action::GoTab(Tab::Checkpoint.0));
        self.info(format!("{name} of {file} in the Quantize pane; {back} goes back to the table"));
        jobs
    }
}

/// The rows PgUp / PgDn move the selection by.
const PAGE: usize = 10;

/// How far ← / → and Shift-← / → move the budget, in bits per weight.
pub const BUDGET_STEP: f64 = 0.25;
pub const BUDGET_COARSE_STEP: f64 = 1.0;

/// The Pareto picture's curve is at most this many plans, plus one.
const FRONTIER_POINTS: usize = 32;

impl CheckpointPane {
    /// The plan `scan --budget-bpw budget` prints, from the finished scan.
    pub fn plan_at(&self, budget: f64) -> Option<Result<PlanReport, PlanError>> {
        self.scan.as_ref().map(|s| scan::plan_scan(s, Budget::Bpw(budget)))
    }

    /// The bpw of the smallest and the largest uniform candidate.
    fn uniform_range(&self) -> Option<(f64, f64)> {
        let totals = &self.scan.as_ref()?.totals;
        let bpws = totals.iter().filter(|t| t.tensors > 0).map(|t| t.bpw);
        let (lo, hi) = bpws.fold((f64::INFINITY, 0f64), |(lo, hi), b| (lo.min(b), hi.max(b)));
        (lo <= hi).then_some((lo, hi))
    }

    /// The budget a scan starts with: midway between the smallest and the
    /// largest uniform candidate, on the steps' grid; else the largest.
    pub fn default_budget(&self) -> Option<f64> {
        let (lo, hi) = self.uniform_range()?;
        let middle = ((lo + hi) / 2.0 / BUDGET_STEP).round() * BUDGET_STEP;
        [middle, (hi / BUDGET_STEP).ceil() * BUDGET_STEP]
            .into_iter()
            .find(|&b| b > 0.0 && matches!(self.plan_at(b), Some(Ok(_))))
    }

    /// A newly finished scan: the budget kept when it still fits, else the default.
    fn first_plan(&mut self) {
        let kept = self.budget.filter(|&b| matches!(self.plan_at(b), Some(Ok(_))));
        self.budget = kept.or_else(|| self.default_budget());
        self.frontier = self.frontier_plans();
        match self.budget.and_then(|b| self.plan_at(b)) {
            Some(Ok(plan)) => self.plan = Some(plan),
            Some(Err(e)) => self.plan_error = Some(e.to_string()),
            None => self.plan_error = self.highest_plan_error(),
        }
    }

    /// Plans at budgets evenly spaced over the uniform candidates' range.
    fn frontier_plans(&self) -> Vec<(f64, f64)> {
        let Some((lo, hi)) = self.uniform_range() else { return Vec::new() };
        let steps = ((hi - lo) / BUDGET_STEP).ceil().clamp(1.0, FRONTIER_POINTS as f64) as usize;
        let budgets = (0..=steps).map(|i| lo + (hi - lo) * i as f64 / steps as f64);
        budgets.filter_map(|b| self.plan_at(b)?.ok()).filter_map(|p| Some((p.bpw, p.sqnr_db?))).collect()
    }

    /// Why even the largest candidates give no plan, when a scan is done.
    fn highest_plan_error(&self) -> Option<String> {
        let largest = self.scan.as_ref()?.totals.iter().map(|t| t.bpw).fold(0f64, f64::max);
        match self.plan_at(largest.max(BUDGET_STEP))? {
            Err(e) => Some(e.to_string()),
            Ok(_) => None,
        }
    }
}

impl App {
    /// Moves the budget by `step` bpw and re-plans; a budget no plan fits is
    /// refused in the status line and the last good one kept.
    fn move_budget(&mut self, step: f64) {
        let Some(budget) = self.checkpoint.budget else {
            self.error("the planner needs a finished scan: the budget moves once the scan is done");
            return;
        };
        self.replan(((budget + step) / BUDGET_STEP).round() * BUDGET_STEP);
    }

    fn reset_budget(&mut self) {
        if let Some(budget) = self.checkpoint.default_budget() {
            self.replan(budget);
        }
    }

    fn replan(&mut self, budget: f64) {
        let pane = &mut self.checkpoint;
        match pane.plan_at(budget) {
            Some(Ok(plan)) => {
                (pane.budget, pane.plan, pane.plan_error) = (Some(budget), Some(plan), None);
                self.status = super::Status::default();
            }
            Some(Err(e)) => {
                let kept = pane.budget.map_or(String::new(), |b| format!("; the budget stays at {} bpw", num(b)));
                let why = self.budget_error(e);
                self.error(format!("{why}{kept}"));
            }
            None => {}
        }
    }

    /// The planner's refusal as `scan --budget-bpw` words it, in bits per weight.
    fn budget_error(&self, e: PlanError) -> String {
        let Some(scan) = &self.checkpoint.scan else { return e.to_string() };
        let count = scan::planned_count(scan).max(1.0);
        let path = scan.checkpoint.path.clone();
        let err = match e {
            PlanError::BudgetTooSmall { budget, smallest } => CheckpointError::BudgetTooSmall {
                path,
                budget_bpw: budget / count,
                budget_mb: budget / 8e6,
                smallest_bpw: smallest / count,
                smallest_mb: smallest / 8e6,
            },
            source => CheckpointError::Plan { path, source },
        };
        err.to_string()
    }

    /// Typing the format set (`typing::typed`). Enter re-scans with it when
    /// every name is known; else the error names the bad one and the last
    /// good set stays.
    pub(super) fn on_formats_key(&mut self, key: KeyEvent, text: String, selected: bool) -> Vec<Job> {
        match super::typing::typed(key, text, selected) {
            Typed::Cancel => self.mode = Mode::Normal,
            Typed::Apply(text) => {
                self.mode = Mode::Normal;
                return self.choose_formats(&text);
            }
            Typed::Edit(text, selected) => self.mode = Mode::TypeFormats { text, selected },
        }
        Vec::new()
    }

    fn choose_formats(&mut self, text: &str) -> Vec<Job> {
        let specs = match parse_formats(text) {
            Ok(specs) => specs,
            Err(e) => {
                self.error(format!("{e}; the formats stay {}", self.checkpoint.formats));
                return Vec::new();
            }
        };
        let list: Vec<&str> = specs.iter().map(|s| s.label.as_str()).collect();
        self.checkpoint.formats = list.join(",");
        if let SortKey::Format(f, _) = self.checkpoint.sort
            && f >= list.len()
        {
            self.checkpoint.sort = SortKey::Format(0, Figure::Sqnr);
        }
        self.info(format!("scanning with {}", self.checkpoint.formats));
        if self.checkpoint.path.is_none() {
            return Vec::new();
        }
        vec![self.scan_job()]
    }
}

#[cfg(test)]
mod role_tests {
    use super::{layer_index, role};

    #[test]
    fn a_role_is_the_name_after_its_layer() {
        assert_eq!(role("model.layers.3.mlp.down_proj.weight"), "mlp.down_proj");
        assert_eq!(role("encoder.layer.0.attention.output.dense.weight"), "attention.output.dense");
        assert_eq!(role("encoder.layer.0.output.dense.bias"), "output.dense");
        assert_eq!(role("blk.7.attn_q.weight"), "attn_q");
        assert_eq!(role("embeddings.word_embeddings.weight"), "word_embeddings");
        assert_eq!(role("lm_head"), "lm_head");
        assert_eq!(layer_index("encoder.layer.12.output.dense.weight"), Some(12));
    }
}
