//! The application state and `update`: events in, jobs for the worker out.
//! Nothing here draws or computes; `ui` draws this state, `worker` computes.

use std::path::PathBuf;

use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::controls::{self, Context, Control};
use crate::keymap::{self, Action, Scope};
use crate::settings::{PRESETS, Settings};
use crate::worker::{Job, JobId, Output, QuantView, Worker};

/// Every event the loop handles, from the terminal or from the worker.
#[derive(Debug)]
pub enum AppEvent {
    Input(Event),
    Worker(Output),
    /// Animation while the worker is busy.
    Tick,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Quantize,
}

impl Tab {
    pub const ALL: &'static [Tab] = &[Tab::Quantize];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Quantize => "Quantize",
        }
    }

    fn scope(self) -> Scope {
        match self {
            Tab::Quantize => Scope::Quantize,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    Help,
    /// Typing an exact value for a control.
    Editing {
        control: Control,
        text: String,
    },
    PickTensor {
        selected: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

pub struct App {
    /// What the user has set; the pane shows it at once.
    pub settings: Settings,
    /// The settings of the last successful result: where an error rolls back to.
    applied: Option<Settings>,
    pub tab: Tab,
    pub selected: Control,
    pub channel_offset: usize,
    pub mode: Mode,
    pub status: Status,
    /// The latest result; it may lag `settings` while the worker computes.
    pub view: Option<QuantView>,
    next_job: JobId,
    latest_analysis: JobId,
    pub busy: bool,
    pub spinner: usize,
    pub export_path: PathBuf,
    pub should_quit: bool,
}

impl App {
    pub fn new(settings: Settings, export_path: PathBuf) -> App {
        App {
            settings,
            applied: None,
            tab: Tab::Quantize,
            selected: Control::Scheme,
            channel_offset: 0,
            mode: Mode::Normal,
            status: Status::default(),
            view: None,
            next_job: 0,
            latest_analysis: 0,
            busy: false,
            spinner: 0,
            export_path,
            should_quit: false,
        }
    }

    /// Runs jobs on this thread, as the worker thread would, and applies
    /// their results: for tests, benches and headless rendering.
    pub fn settle(&mut self, worker: &mut Worker, mut jobs: Vec<Job>) {
        while let Some(job) = jobs.pop() {
            let out = worker.handle(job);
            let follow = worker.follow_up(&out);
            jobs.extend(self.update(AppEvent::Worker(out)));
            if let Some(f) = follow {
                jobs.extend(self.update(AppEvent::Worker(f)));
            }
        }
    }

    /// The first job: analyse the starting settings.
    pub fn start(&mut self) -> Job {
        self.analysis_job()
    }

    pub fn controls(&self) -> Vec<Control> {
        controls::visible(&self.settings)
    }

    pub fn context(&self) -> Context<'_> {
        match &self.view {
            Some(v) => Context { analysis: Some(&v.analysis), tensors: &v.tensors },
            None => Context::default(),
        }
    }

    fn job_id(&mut self) -> JobId {
        self.next_job += 1;
        self.next_job
    }

    fn analysis_job(&mut self) -> Job {
        let id = self.job_id();
        self.latest_analysis = id;
        self.busy = true;
        Job::Analyze { id, settings: self.settings.clone() }
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
                if let Mode::Editing { text: t, .. } = &mut self.mode {
                    t.push_str(text.trim_end_matches(['\n', '\r']));
                }
                Vec::new()
            }
            AppEvent::Input(_) => Vec::new(),
            AppEvent::Worker(output) => {
                self.on_output(output);
                Vec::new()
            }
            AppEvent::Tick => {
                self.spinner = self.spinner.wrapping_add(1);
                Vec::new()
            }
        }
    }

    fn on_output(&mut self, output: Output) {
        match output {
            Output::Analyzed { id, result } if id == self.latest_analysis => match result {
                Ok(view) => {
                    self.applied = Some(view.settings.clone());
                    // Still busy until the slower calibrations arrive.
                    self.busy = view.alternatives.is_none();
                    self.view = Some(*view);
                    self.clamp_scroll();
                }
                Err(message) => {
                    self.busy = false;
                    self.error(message);
                    self.roll_back();
                }
            },
            Output::Alternatives { id, alternatives } if id == self.latest_analysis => {
                self.busy = false;
                if let Some(v) = &mut self.view {
                    v.alternatives = Some(alternatives);
                }
            }
            Output::Exported { result, .. } => match result {
                Ok(path) => self.info(format!("exported to {}", path.display())),
                Err(message) => self.error(format!("export failed, nothing was changed: {message}")),
            },
            // A result for settings that have changed since: stale.
            Output::Analyzed { .. } | Output::Alternatives { .. } => {}
        }
    }

    /// After a failed load the previous state stays: the settings go back
    /// to those of the last good result.
    fn roll_back(&mut self) {
        if let Some(good) = &self.applied {
            self.settings = good.clone();
            self.keep_selection_visible(0);
        } else if self.settings != Settings::default() {
            // Nothing worked yet (e.g. a bad file at start): fall back to defaults.
            self.settings.weights = Settings::default().weights;
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Job> {
        match self.mode.clone() {
            Mode::Editing { control, text } => self.on_edit_key(key, control, text),
            Mode::Help => {
                // Any key closes the help; quitting keys also quit.
                self.mode = Mode::Normal;
                if keymap::action_for(&key, Scope::Global) == Some(Action::Quit) && key.code != KeyCode::Esc {
                    self.should_quit = true;
                }
                Vec::new()
            }
            Mode::PickTensor { selected } => self.on_pick_key(key, selected),
            Mode::Normal => match keymap::action_for(&key, self.tab.scope()) {
                Some(action) => self.on_action(action),
                None => Vec::new(),
            },
        }
    }

    fn on_action(&mut self, action: Action) -> Vec<Job> {
        let controls = self.controls();
        let index = controls.iter().position(|c| *c == self.selected).unwrap_or(0);
        match action {
            Action::Quit => self.should_quit = true,
            Action::Help => self.mode = Mode::Help,
            Action::NextTab | Action::PrevTab => {
                let n = Tab::ALL.len();
                let i = Tab::ALL.iter().position(|t| *t == self.tab).unwrap_or(0);
                self.tab = Tab::ALL[if action == Action::NextTab { (i + 1) % n } else { (i + n - 1) % n }];
            }
            Action::GoTab(i) => {
                if let Some(t) = Tab::ALL.get(i) {
                    self.tab = *t;
                }
            }
            Action::Up => self.selected = controls[(index + controls.len() - 1) % controls.len()],
            Action::Down => self.selected = controls[(index + 1) % controls.len()],
            Action::Increase | Action::Decrease | Action::IncreaseCoarse | Action::DecreaseCoarse => {
                let steps = if matches!(action, Action::Increase | Action::IncreaseCoarse) { 1 } else { -1 };
                let coarse = matches!(action, Action::IncreaseCoarse | Action::DecreaseCoarse);
                let control = self.selected;
                return self.change(index, |s, ctx| control.adjust(s, steps, coarse, ctx));
            }
            Action::Edit => {
                if self.selected == Control::Tensor {
                    return self.open_picker();
                }
                let text = self.selected.edit_text(&self.settings, self.context());
                self.mode = Mode::Editing { control: self.selected, text };
            }
            Action::Reset => {
                let control = self.selected;
                return self.change(index, |s, _| {
                    control.reset(s);
                    Ok(())
                });
            }
            Action::Preset => return self.next_preset(index),
            Action::PickTensor => return self.open_picker(),
            Action::Export => return vec![self.export_job()],
            Action::ScrollDown => self.channel_offset += 10,
            Action::ScrollUp => self.channel_offset = self.channel_offset.saturating_sub(10),
        }
        self.clamp_scroll();
        Vec::new()
    }

    /// Applies an edit to a copy of the settings; only a valid result is
    /// kept, and only a real change starts a job.
    fn change(&mut self, index: usize, edit: impl FnOnce(&mut Settings, Context) -> Result<(), String>) -> Vec<Job> {
        let mut next = self.settings.clone();
        if let Err(message) = edit(&mut next, self.context()) {
            self.error(message);
            return Vec::new();
        }
        if next == self.settings {
            return Vec::new();
        }
        let switched = next.quant.scheme != self.settings.quant.scheme;
        self.settings = next;
        self.keep_selection_visible(index);
        if switched && self.selected != Control::Scheme {
            self.info(format!("scheme is now {}", self.settings.quant.scheme));
        } else {
            self.status = Status::default();
        }
        vec![self.analysis_job()]
    }

    fn keep_selection_visible(&mut self, index: usize) {
        let controls = self.controls();
        if !controls.contains(&self.selected) {
            self.selected = controls[index.min(controls.len() - 1)];
        }
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

    fn open_picker(&mut self) -> Vec<Job> {
        let tensors = self.context().tensors;
        if tensors.is_empty() {
            self.error("no tensors to pick: the source is not a .safetensors file (press Enter on source to open one)");
        } else {
            let selected =
                tensors.iter().position(|t| Some(&t.name) == self.settings.weights.tensor.as_ref()).unwrap_or(0);
            self.mode = Mode::PickTensor { selected };
        }
        Vec::new()
    }

    fn on_pick_key(&mut self, key: KeyEvent, selected: usize) -> Vec<Job> {
        let n = self.context().tensors.len().max(1);
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.mode = Mode::PickTensor { selected: (selected + n - 1) % n },
            KeyCode::Down | KeyCode::Char('j') => self.mode = Mode::PickTensor { selected: (selected + 1) % n },
            KeyCode::Enter => {
                self.mode = Mode::Normal;
                let name = self.context().tensors.get(selected).map(|t| t.name.clone());
                if let Some(name) = name {
                    let index = self.controls().iter().position(|c| *c == self.selected).unwrap_or(0);
                    return self.change(index, |s, _| {
                        s.weights.tensor = Some(name);
                        Ok(())
                    });
                }
            }
            KeyCode::Esc | KeyCode::Char('q') => self.mode = Mode::Normal,
            _ => {}
        }
        Vec::new()
    }

    fn on_edit_key(&mut self, key: KeyEvent, control: Control, mut text: String) -> Vec<Job> {
        match key.code {
            KeyCode::Esc => self.mode = Mode::Normal,
            KeyCode::Enter => {
                self.mode = Mode::Normal;
                let index = self.controls().iter().position(|c| *c == self.selected).unwrap_or(0);
                return self.change(index, |s, ctx| control.set(s, &text, ctx));
            }
            KeyCode::Backspace => {
                text.pop();
                self.mode = Mode::Editing { control, text };
            }
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => self.mode = Mode::Normal,
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.mode = Mode::Editing { control, text: String::new() };
            }
            KeyCode::Char(c) => {
                text.push(c);
                self.mode = Mode::Editing { control, text };
            }
            _ => {}
        }
        Vec::new()
    }

    fn export_job(&mut self) -> Job {
        let id = self.job_id();
        self.info(format!("exporting to {} ...", self.export_path.display()));
        Job::Export { id, settings: self.settings.clone(), path: self.export_path.clone() }
    }

    fn clamp_scroll(&mut self) {
        let channels = self.view.as_ref().map_or(1, |v| v.analysis.channels.len());
        self.channel_offset = self.channel_offset.min(channels.saturating_sub(1));
    }
}
