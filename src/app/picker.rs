//! The tensor picker: a filter typed after `/`, over a checkpoint's tensors.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{App, Mode};
use crate::compute::weights::TensorInfo;
use crate::worker::Job;

/// The tensor picker's state: a filter typed after `/`, and the tensor highlighted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Picker {
    /// An index into the full tensor list, so clearing the filter keeps it.
    pub selected: usize,
    pub filter: String,
    /// Whether keys type into the filter.
    pub typing: bool,
}

impl Picker {
    /// The indices of the tensors whose names contain the filter, ignoring case.
    pub fn matches(&self, tensors: &[TensorInfo]) -> Vec<usize> {
        let filter = self.filter.to_lowercase();
        (0..tensors.len()).filter(|&i| tensors[i].name.to_lowercase().contains(&filter)).collect()
    }

    /// Where the highlighted tensor is among the matches (the first one when it is not one).
    pub fn highlighted(&self, matches: &[usize]) -> usize {
        matches.iter().position(|&i| i == self.selected).unwrap_or(0)
    }

    /// Highlights the match `steps` away, wrapping around.
    pub(super) fn step(&mut self, tensors: &[TensorInfo], steps: isize) {
        let matches = self.matches(tensors);
        if !matches.is_empty() {
            let n = matches.len() as isize;
            let at = (self.highlighted(&matches) as isize + steps).rem_euclid(n);
            self.selected = matches[at as usize];
        }
    }

    /// A changed filter highlights its first match unless the highlighted tensor still matches.
    pub(super) fn refilter(&mut self, tensors: &[TensorInfo]) {
        let matches = self.matches(tensors);
        if !matches.contains(&self.selected) {
            self.selected = matches.first().copied().unwrap_or(self.selected);
        }
    }
}

impl App {
    pub(super) fn open_picker(&mut self) -> Vec<Job> {
        let tensors = self.context().tensors;
        if tensors.is_empty() {
            self.error("no tensors to pick: the source is not a .safetensors file (press Enter on source to open one)");
        } else {
            let selected =
                tensors.iter().position(|t| Some(&t.name) == self.settings.weights.tensor.as_ref()).unwrap_or(0);
            self.mode = Mode::PickTensor(Picker { selected, ..Picker::default() });
        }
        Vec::new()
    }

    /// Arrows move; `/` starts a filter, typed until Enter or Esc; Enter
    /// picks the highlighted match; Esc clears the filter, then closes.
    pub(super) fn on_pick_key(&mut self, key: KeyEvent, mut picker: Picker) -> Vec<Job> {
        let tensors = self.context().tensors;
        match key.code {
            KeyCode::Up => picker.step(tensors, -1),
            KeyCode::Down => picker.step(tensors, 1),
            KeyCode::Char('k') if !picker.typing => picker.step(tensors, -1),
            KeyCode::Char('j') if !picker.typing => picker.step(tensors, 1),
            KeyCode::Char('/') if !picker.typing => picker.typing = true,
            KeyCode::Char('q') if !picker.typing => {
                self.mode = Mode::Normal;
                return Vec::new();
            }
            KeyCode::Char(c) if picker.typing && !key.modifiers.contains(KeyModifiers::CONTROL) => {
                picker.filter.push(c);
                picker.refilter(tensors);
            }
            KeyCode::Backspace if picker.typing => {
                picker.filter.pop();
                picker.refilter(tensors);
            }
            KeyCode::Esc if picker.typing || !picker.filter.is_empty() => {
                picker.filter.clear();
                picker.typing = false;
            }
            KeyCode::Esc => {
                self.mode = Mode::Normal;
                return Vec::new();
            }
            KeyCode::Enter => return self.pick(&picker),
            _ => {}
        }
        self.mode = Mode::PickTensor(picker);
        Vec::new()
    }

    /// Loads the highlighted match; with no match the picker stays open.
    fn pick(&mut self, picker: &Picker) -> Vec<Job> {
        let tensors = self.context().tensors;
        let matches = picker.matches(tensors);
        let Some(&index) = matches.get(picker.highlighted(&matches)) else {
            self.mode = Mode::PickTensor(picker.clone());
            return Vec::new();
        };
        let name = tensors[index].name.clone();
        self.mode = Mode::Normal;
        self.change(self.index(), |s, _| {
            s.weights.tensor = Some(name);
            Ok(())
        })
    }
}
