//! The application state and `update`: events in, jobs for the workers out.
//! Nothing here draws or computes; `ui` draws this state, `worker` computes.

use std::path::PathBuf;

use ratatui::crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
mod checkpoint;
mod ensemble;
mod feed;
mod formats;
mod hits;
mod picker;
mod typing;

pub use checkpoint::{
    AgainstSource, BUDGET_COARSE_STEP, BUDGET_STEP, CheckpointPane, Comparison, Figure, SortKey, compared_value,
    layer_index, role, sort_value,
};
pub use ensemble::{DiversityMatrix, EnsembleLower};
use feed::{Feed, Pending};
pub use formats::FormatsTable;
pub use hits::{HitMap, Target};
pub use picker::Picker;
use typing::Typed;

use crate::compute::ensemble::MemberConfig;
use crate::compute::formats::table::Column;
use crate::controls::{AnyControl, Context, Control, ControlError, EnsembleControl};
use crate::keymap::{self, Action, Scope};
use crate::panes::{PANES, Pane};
use crate::settings::{PRESETS, Settings};
use crate::worker::{EnsembleView, Job, JobId, Outcome, Output, QuantView, Workers};

/// Every event the loop handles, from the terminal or from the workers.
#[derive(Debug)]
pub enum AppEvent {
    Input(Event),
    Worker(Output),
    /// Animation while a worker is busy.
    Tick,
    /// SIGTERM, SIGHUP or SIGINT: quit now, without asking.
    Terminate,
}

/// A pane, by its place in `panes::PANES` (its tab's number, less one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tab(pub usize);

#[allow(non_upper_case_globals)]
impl Tab {
    /// The built-in panes by name, for the code and tests that need one.
    pub const Quantize: Tab = Tab(0);
    pub const Ensemble: Tab = Tab(1);
    pub const Deploy: Tab = Tab(2);
    pub const Checkpoint: Tab = Tab(4);

    pub fn all() -> impl Iterator<Item = Tab> {
        (0..PANES.len()).map(Tab)
    }

    pub fn pane(self) -> &'static Pane {
        &PANES[self.0]
    }

    pub fn title(self) -> &'static str {
        self.pane().title
    }

    pub fn scope(self) -> Scope {
        self.pane().scope
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    Help,
    /// Typing an exact value for a control. `selected`: the text is the
    /// value pre-filled and still selected, so the first key typed replaces it.
    Editing {
        control: AnyControl,
        text: String,
        selected: bool,
    },
    PickTensor(Picker),
    /// Quitting with settings not yet exported: y exports first, n quits, Esc stays.
    ConfirmQuit,
    /// Typing the Checkpoint pane's name filter.
    FilterTensors,
    /// Typing the Checkpoint pane's formats, a comma list (as `selected` in `Editing`).
    TypeFormats {
        text: String,
        selected: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

pub struct App {
    /// What the user has set; the panes show it at once.
    pub settings: Settings,
    /// The settings of the last successful result: where an error rolls back to.
    applied: Settings,
    pub tab: Tab,
    /// Each pane's selected control, as last left.
    remembered: Vec<AnyControl>,
    /// The ensemble member the Ensemble pane edits.
    pub member: usize,
    /// The Ensemble pane's lower right view and diversity matrix.
    pub ensemble_lower: EnsembleLower,
    pub diversity: DiversityMatrix,
    pub channel_offset: usize,
    pub mode: Mode,
    pub status: Status,
    /// The latest results; they may lag `settings` while a worker computes.
    pub view: Option<QuantView>,
    pub ensemble: Option<EnsembleView>,
    /// The Formats pane's table, as the worker streams it, and its order.
    formats: Option<FormatsTable>,
    pub formats_sort: Column,
    /// The Checkpoint pane: its checkpoint, the scan's rows, sort and filter.
    pub checkpoint: CheckpointPane,
    /// Members trained so far of the training under way.
    pub training: Option<(usize, usize)>,
    /// Channels calibrated so far of the analysis under way.
    pub calibrating: Option<(usize, usize)>,
    next_job: JobId,
    analysis: Pending,
    train: Pending,
    pub spinner: usize,
    /// What the last frame drew where, for the mouse and for paging.
    pub hits: HitMap,
    pub export_path: PathBuf,
    /// The settings as last exported (or as started with): quitting with
    /// others asks first.
    saved: Settings,
    /// An export job that, once written, quits.
    quit_after: Option<JobId>,
    /// The export job under way and the settings it writes.
    exporting: Vec<(JobId, Settings)>,
    pub should_quit: bool,
}

impl App {
    pub fn new(settings: Settings, export_path: PathBuf) -> App {
        App {
            applied: settings.clone(),
            saved: settings.clone(),
            settings,
            tab: Tab(0),
            remembered: PANES.iter().map(|p| p.first_control).collect(),
            member: 0,
            ensemble_lower: EnsembleLower::Confusion,
            diversity: DiversityMatrix::Disagreement,
            channel_offset: 0,
            mode: Mode::Normal,
            status: Status::default(),
            view: None,
            ensemble: None,
            formats: None,
            formats_sort: Column::Registry,
            checkpoint: CheckpointPane::default(),
            training: None,
            calibrating: None,
            next_job: 0,
            analysis: Pending::default(),
            train: Pending::default(),
            spinner: 0,
            hits: HitMap::default(),
            export_path,
            quit_after: None,
            exporting: Vec::new(),
            should_quit: false,
        }
    }

    /// Whether the settings differ from the last export (or the start).
    pub fn unsaved(&self) -> bool {
        self.settings != self.saved
    }

    /// Runs jobs on this thread, as the worker threads would, and applies
    /// their results: for tests, benches and headless rendering.
    pub fn settle(&mut self, workers: &mut Workers, mut jobs: Vec<Job>) {
        while let Some(job) = jobs.pop() {
            for out in workers.run(job) {
                jobs.extend(self.update(AppEvent::Worker(out)));
            }
        }
    }

    /// The first jobs: analyse and train the starting settings.
    pub fn start(&mut self) -> Vec<Job> {
        let mut jobs = vec![self.analysis_job(), self.train_job()];
        if self.checkpoint.path.is_some() {
            jobs.push(self.scan_job());
        }
        jobs
    }

    /// Whether a worker is computing something the panes wait for.
    pub fn busy(&self) -> bool {
        self.analysis.busy || self.train.busy || self.checkpoint.busy
    }

    /// What the workers are doing for this pane, in words, for the tab line:
    /// the Quantize pane waits for the analysis only, the Ensemble pane for
    /// the training, and the Deploy pane (the ensemble quantized) for both.
    pub fn activity(&self) -> Option<String> {
        if self.tab.scope() == Scope::Checkpoint {
            return self.scan_activity();
        }
        let (quantize, train) = (self.tab.pane().shows_analysis, self.tab.pane().shows_training);
        if let (true, Some((done, total))) = (train, self.training) {
            return Some(format!("training member {} of {total}", done + 1));
        }
        if !quantize {
            return self.train.busy.then(|| "fusing".into());
        }
        if let (true, Some((done, total))) = (self.analysis.busy, self.calibrating) {
            return Some(format!("calibrating channel {} of {total}", done + 1));
        }
        if self.analysis.busy {
            let loading = self.view.as_ref().is_none_or(|v| v.settings.weights != self.settings.weights);
            let quantizing = self.view.as_ref().is_some_and(|v| v.settings.quant != self.settings.quant);
            return Some(
                match (loading, quantizing) {
                    (true, _) => "loading the weights",
                    (false, true) => "quantizing",
                    (false, false) => "drawing the mse curve, comparing calibrations",
                }
                .into(),
            );
        }
        (train && self.train.busy).then(|| "fusing".into())
    }

    pub fn controls(&self) -> Vec<AnyControl> {
        (self.tab.pane().controls)(&self.settings, self.member)
    }

    /// The control `tab` had selected when last left (it may be hidden now).
    pub fn remembered(&self, tab: Tab) -> AnyControl {
        self.remembered[tab.0]
    }

    /// The control the current pane edits. A pane's remembered control can
    /// be hidden by a change made in another pane (the Deploy pane's bits
    /// after the Quantize pane switched to manual): then its first control.
    pub fn selected(&self) -> AnyControl {
        let remembered = self.remembered(self.tab);
        let controls = self.controls();
        if controls.contains(&remembered) { remembered } else { controls[0] }
    }

    fn select(&mut self, c: AnyControl) {
        self.remembered[self.tab.0] = c;
    }

    pub fn context(&self) -> Context<'_> {
        let mut ctx = match &self.view {
            Some(v) => Context {
                analysis: Some(&v.analysis),
                tensors: &v.tensors,
                shape: Some(&v.weights.shape),
                ..Context::default()
            },
            None => Context::default(),
        };
        ctx.member = self.member;
        ctx.formats = self.formats_table();
        ctx.formats_sort = self.formats_sort;
        ctx
    }

    fn job_id(&mut self) -> JobId {
        self.next_job += 1;
        self.next_job
    }

    fn analysis_job(&mut self) -> Job {
        let id = self.job_id();
        self.analysis = Pending { latest: id, busy: true };
        self.calibrating = None;
        Job::Analyze { id, settings: self.settings.clone() }
    }

    fn train_job(&mut self) -> Job {
        let id = self.job_id();
        self.train = Pending { latest: id, busy: true };
        Job::Train { id, settings: self.settings.clone() }
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.status = Status { text: text.into(), error: false };
    }

    fn error(&mut self, text: impl Into<String>) {
        self.status = Status { text: text.into(), error: true };
    }

    /// Handles one event; returns the jobs it starts.
    pub fn update(&mut self, event: AppEvent) -> Vec<Job> {
        match event {
            AppEvent::Input(Event::Key(key)) if key.kind == KeyEventKind::Press => self.on_key(key),
            AppEvent::Input(Event::Paste(text)) => {
                if let Mode::Editing { text: t, selected, .. } = &mut self.mode {
                    if std::mem::take(selected) {
                        t.clear();
                    }
                    t.push_str(text.trim_end_matches(['\n', '\r']));
                }
                Vec::new()
            }
            AppEvent::Input(Event::Mouse(m)) if self.mode == Mode::Normal => self.on_mouse(m),
            AppEvent::Input(_) => Vec::new(),
            AppEvent::Worker(output) => self.on_output(output),
            AppEvent::Tick => {
                self.spinner = self.spinner.wrapping_add(1);
                Vec::new()
            }
            AppEvent::Terminate => {
                self.should_quit = true;
                Vec::new()
            }
        }
    }

    /// Takes a worker's result; returns the jobs it makes necessary.
    fn on_output(&mut self, output: Output) -> Vec<Job> {
        let mut jobs = Vec::new();
        match output {
            Output::Analyzed { id, result } if id == self.analysis.latest => match result {
                Outcome::Done(view) => {
                    Feed::Analysis.copy_owned(&mut self.applied, &view.settings);
                    self.calibrating = None;
                    // Still busy until the curve and the other calibrations arrive.
                    self.analysis.busy = view.curve.is_none();
                    self.view = Some(*view);
                    self.clamp_scroll();
                }
                Outcome::Failed(e) => {
                    self.analysis.busy = false;
                    self.calibrating = None;
                    self.error(e.to_string());
                    // The previous state stays: the quantizer settings go back.
                    Feed::Analysis.copy_owned(&mut self.settings, &self.applied);
                    self.keep_selection_visible(0);
                    // The Deploy pane read the refused quantizer too: it is trained again
                    // on the settings that stay, or it would show the refused one.
                    if self.train.busy
                        || self.ensemble.as_ref().is_some_and(|v| Feed::Training.differs(&v.settings, &self.settings))
                    {
                        jobs.push(self.train_job());
                    }
                }
                // A stopped analysis sends nothing today; a newer one is on its way.
                Outcome::Cancelled => {}
            },
            Output::Alternatives { id, alternatives, curve, compute_ms } if id == self.analysis.latest => {
                self.analysis.busy = false;
                if let Some(v) = &mut self.view {
                    v.alternatives = Some(alternatives);
                    v.curve = Some(curve);
                    v.compute_ms += compute_ms;
                }
            }
            Output::FormatRows { id, rows, total } if id == self.analysis.latest => self.on_format_rows(rows, total),
            Output::Calibrating { id, done, total } if id == self.analysis.latest => {
                self.calibrating = Some((done, total))
            }
            Output::Training { id, done, total } if id == self.train.latest => self.training = Some((done, total)),
            Output::Trained { id, result } if id == self.train.latest => {
                self.train.busy = false;
                self.training = None;
                match result {
                    Outcome::Done(view) => {
                        Feed::Training.copy_owned(&mut self.applied, &view.settings);
                        self.ensemble = Some(*view);
                    }
                    Outcome::Cancelled => {}
                    Outcome::Failed(e) => {
                        self.error(e.to_string());
                        Feed::Training.copy_owned(&mut self.settings, &self.applied);
                        self.member = self.member.min(self.settings.ensemble.members.len().saturating_sub(1));
                        self.keep_selection_visible(0);
                    }
                }
            }
            Output::ScanRow { id, tensor, total, .. } => self.on_scan_row(id, *tensor, total),
            Output::Scanned { id, result } => self.on_scanned(id, result),
            Output::AgainstRow { id, tensor, total, .. } => self.on_against_row(id, *tensor, total),
            Output::Planning { id, done, total } => self.on_planning(id, done, total),
            Output::Compared { id, result } => self.on_compared(id, result),
            Output::Exported { id, result } => {
                let written = self.exporting.iter().position(|(j, _)| *j == id).map(|i| self.exporting.remove(i).1);
                match result {
                    Ok(path) => {
                        if let Some(s) = written {
                            self.saved = s;
                        }
                        self.info(format!("exported to {}", path.display()));
                        if self.quit_after == Some(id) {
                            self.should_quit = true;
                        }
                    }
                    Err(message) => {
                        self.quit_after = None;
                        self.error(format!("export failed, nothing was changed: {message}"));
                    }
                }
            }
            // A result for settings that have changed since: stale.
            Output::Analyzed { .. }
            | Output::Alternatives { .. }
            | Output::Calibrating { .. }
            | Output::FormatRows { .. }
            | Output::Training { .. }
            | Output::Trained { .. }
            | Output::ExportReady { .. } => {}
        }
        jobs
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Job> {
        match self.mode.clone() {
            Mode::Editing { control, text, selected } => self.on_edit_key(key, control, text, selected),
            Mode::Help => {
                // Any key closes the help; a quit key then quits as from the
                // main view, asking first when there are unexported changes.
                self.mode = Mode::Normal;
                if keymap::action_for(&key, Scope::Global) == Some(Action::Quit) {
                    return self.on_action(Action::Quit);
                }
                Vec::new()
            }
            Mode::PickTensor(picker) => self.on_pick_key(key, picker),
            Mode::ConfirmQuit => self.on_confirm_key(key),
            Mode::FilterTensors => self.on_filter_key(key),
            Mode::TypeFormats { text, selected } => self.on_formats_key(key, text, selected),
            Mode::Normal => match keymap::action_for(&key, self.tab.scope()) {
                Some(action) => self.on_action(action),
                None => Vec::new(),
            },
        }
    }

    fn index(&self) -> usize {
        let selected = self.selected();
        self.controls().iter().position(|c| *c == selected).unwrap_or(0)
    }

    fn on_action(&mut self, action: Action) -> Vec<Job> {
        if self.tab.scope() == Scope::Checkpoint
            && let Some(jobs) = self.on_checkpoint_action(action)
        {
            return jobs;
        }
        let controls = self.controls();
        let index = self.index();
        let selected = self.selected();
        match action {
            Action::Quit if self.unsaved() => self.mode = Mode::ConfirmQuit,
            Action::Quit => self.should_quit = true,
            Action::Help => self.mode = Mode::Help,
            Action::NextTab | Action::PrevTab => {
                let (n, i) = (PANES.len(), self.tab.0);
                self.tab = Tab(if action == Action::NextTab { (i + 1) % n } else { (i + n - 1) % n });
            }
            Action::GoTab(i) if i < PANES.len() => self.tab = Tab(i),
            Action::GoTab(_) => {}
            Action::Up => self.select(controls[(index + controls.len() - 1) % controls.len()]),
            Action::Down => self.select(controls[(index + 1) % controls.len()]),
            Action::Increase | Action::Decrease | Action::IncreaseCoarse | Action::DecreaseCoarse => {
                let steps = if matches!(action, Action::Increase | Action::IncreaseCoarse) { 1 } else { -1 };
                let coarse = matches!(action, Action::IncreaseCoarse | Action::DecreaseCoarse);
                if selected == AnyControl::Ensemble(EnsembleControl::Member) {
                    self.step_member(steps);
                    return Vec::new();
                }
                return self.change(index, |s, ctx| selected.adjust(s, steps, coarse, ctx));
            }
            Action::Edit => {
                if selected == AnyControl::Quant(Control::Tensor) {
                    return self.open_picker();
                }
                let text = selected.edit_text(&self.settings, self.context());
                self.mode = Mode::Editing { control: selected, text, selected: true };
            }
            Action::Reset => {
                return self.change(index, |s, ctx| {
                    selected.reset(s, ctx);
                    Ok(())
                });
            }
            Action::Preset => return self.next_preset(index),
            Action::PickTensor => return self.open_picker(),
            Action::Export => return vec![self.export_job()],
            Action::ScrollDown => self.channel_offset += self.hits.channel_rows.max(1),
            Action::ScrollUp => self.channel_offset = self.channel_offset.saturating_sub(self.hits.channel_rows.max(1)),
            Action::AddMember => return self.add_member(index),
            Action::DeleteMember => return self.delete_member(index),
            Action::SortFormats => self.next_sort_column(),
            // The Checkpoint pane's own keys (`on_checkpoint_action`).
            Action::SortTensors
            | Action::FlipOrder
            | Action::FilterTensors
            | Action::TogglePictures
            | Action::ChooseFormats => {}
            Action::CycleFusion => {
                return self.change(index, |s, _| {
                    s.ensemble.fusion = s.ensemble.fusion.cycle(true);
                    Ok(())
                });
            }
            Action::CycleWeights => {
                return self.change(index, |s, _| {
                    s.ensemble.weights = s.ensemble.weights.cycle(true);
                    Ok(())
                });
            }
            Action::CycleEnsembleView => self.ensemble_lower = self.ensemble_lower.cycle(true),
            Action::CycleDiversity => self.diversity = self.diversity.cycle(true),
        }
        self.clamp_scroll();
        Vec::new()
    }

    /// Applies an edit to a copy of the settings; only a valid result is
    /// kept, and only the panes whose settings changed get a job.
    fn change(
        &mut self,
        index: usize,
        edit: impl FnOnce(&mut Settings, Context) -> Result<(), ControlError>,
    ) -> Vec<Job> {
        let mut next = self.settings.clone();
        if let Err(e) = edit(&mut next, self.context()) {
            self.error(e.to_string());
            return Vec::new();
        }
        if next == self.settings {
            return Vec::new();
        }
        let quant_changed = Feed::Analysis.differs(&next, &self.settings);
        let ensemble_changed = Feed::Training.differs(&next, &self.settings);
        let switched = next.quant.scheme != self.settings.quant.scheme;
        self.settings = next;
        self.keep_selection_visible(index);
        // Said unless the scheme is what was changed, or the pane does not show it.
        if switched && self.selected() != AnyControl::Quant(Control::Scheme) && self.tab.pane().shows_analysis {
            self.info(format!("scheme is now {}", self.settings.quant.scheme));
        } else {
            self.status = Status::default();
        }
        let mut jobs = Vec::new();
        if quant_changed {
            jobs.push(self.analysis_job());
        }
        if ensemble_changed {
            jobs.push(self.train_job());
        }
        jobs
    }

    fn keep_selection_visible(&mut self, index: usize) {
        let controls = self.controls();
        if !controls.contains(&self.selected()) {
            self.select(controls[index.min(controls.len() - 1)]);
        }
    }

    fn step_member(&mut self, steps: i32) {
        let n = self.settings.ensemble.members.len();
        if n > 0 {
            self.member = if steps > 0 { (self.member + 1) % n } else { (self.member + n - 1) % n };
        }
    }

    /// A new member: a copy of the one selected (or of the default) with the
    /// next free seed, so it is not a clone of it.
    fn add_member(&mut self, index: usize) -> Vec<Job> {
        let template = self.settings.ensemble.members.get(self.member).cloned();
        let jobs = self.change(index, |s, _| {
            let seed = s.ensemble.members.iter().map(|m| m.seed + 1).max().unwrap_or(0);
            let base = template.unwrap_or_else(|| Settings::default().ensemble.members[0].clone());
            s.ensemble.members.push(MemberConfig { seed, ..base });
            Ok(())
        });
        if !jobs.is_empty() {
            self.member = self.settings.ensemble.members.len() - 1;
            self.keep_selection_visible(index);
            self.info(format!("added member {}", self.member + 1));
        }
        jobs
    }

    fn delete_member(&mut self, index: usize) -> Vec<Job> {
        if self.settings.ensemble.members.is_empty() {
            self.error("no member to delete");
            return Vec::new();
        }
        let member = self.member;
        let jobs = self.change(index, |s, _| {
            s.ensemble.members.remove(member);
            Ok(())
        });
        self.member = self.member.min(self.settings.ensemble.members.len().saturating_sub(1));
        self.keep_selection_visible(index);
        self.info(format!("deleted member {}", member + 1));
        jobs
    }

    fn next_preset(&mut self, index: usize) -> Vec<Job> {
        let current = self.settings.matching_preset();
        let i = PRESETS.iter().position(|p| Some(p.name) == current).map_or(0, |i| (i + 1) % PRESETS.len());
        let preset = &PRESETS[i];
        let weights_before = self.settings.weights.clone();
        let jobs = self.change(index, |s, _| {
            *s = s.with_preset(preset);
            Ok(())
        });
        let note =
            if self.settings.weights != weights_before { " (weights: synthetic normal 1000×10, seed 42)" } else { "" };
        self.info(format!("preset: {}{note}", preset.name));
        jobs
    }

    /// A click on a tab opens it, on a control or member selects it; the
    /// wheel over a control moves its value.
    fn on_mouse(&mut self, m: MouseEvent) -> Vec<Job> {
        let target = self.hits.at(m.column, m.row);
        match (m.kind, target) {
            (MouseEventKind::Down(MouseButton::Left), Some(Target::Tab(i))) => self.tab = Tab(i),
            (MouseEventKind::Down(MouseButton::Left), Some(Target::Control(i))) => self.select(self.controls()[i]),
            (MouseEventKind::Down(MouseButton::Left), Some(Target::Member(i))) => self.member = i,
            (MouseEventKind::ScrollUp | MouseEventKind::ScrollDown, Some(Target::Control(i))) => {
                self.select(self.controls()[i]);
                let up = m.kind == MouseEventKind::ScrollUp;
                return self.on_action(if up { Action::Increase } else { Action::Decrease });
            }
            _ => {}
        }
        Vec::new()
    }

    fn on_confirm_key(&mut self, key: KeyEvent) -> Vec<Job> {
        let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => {
                self.mode = Mode::Normal;
                let job = self.export_job();
                self.quit_after = Some(job.id());
                return vec![job];
            }
            // A second quit key means quit: the settings are not exported.
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Char('q') => self.should_quit = true,
            _ if ctrl_c => self.should_quit = true,
            KeyCode::Esc => self.mode = Mode::Normal,
            _ => {}
        }
        Vec::new()
    }

    /// Typing a value (`typing::typed`); Enter applies it to the control.
    fn on_edit_key(&mut self, key: KeyEvent, control: AnyControl, text: String, selected: bool) -> Vec<Job> {
        match typing::typed(key, text, selected) {
            Typed::Cancel => self.mode = Mode::Normal,
            Typed::Apply(text) => {
                self.mode = Mode::Normal;
                return self.change(self.index(), |s, ctx| control.set(s, &text, ctx));
            }
            Typed::Edit(text, selected) => self.mode = Mode::Editing { control, text, selected },
        }
        Vec::new()
    }

    fn export_job(&mut self) -> Job {
        let id = self.job_id();
        self.info(format!("exporting to {} ...", self.export_path.display()));
        // The ensemble's figures go along when they belong to these settings.
        let ensemble = self
            .ensemble
            .as_ref()
            .filter(|e| !Feed::Training.differs(&e.settings, &self.settings))
            .map(|e| std::sync::Arc::new(e.clone()));
        self.exporting.push((id, self.settings.clone()));
        Job::Export { id, settings: self.settings.clone(), path: self.export_path.clone(), ensemble }
    }

    fn clamp_scroll(&mut self) {
        let channels = self.view.as_ref().map_or(1, |v| v.analysis.channels.len());
        self.channel_offset = self.channel_offset.min(channels.saturating_sub(1));
    }
}
