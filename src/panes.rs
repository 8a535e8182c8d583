//! The panes, in tab order. A pane is its controls (`controls/`), its view
//! (`ui/`) and one entry here; its tab, number key, help section, hints,
//! mouse targets and the spinner follow from the entry.

use ratatui::Frame;
use ratatui::layout::Rect;

use crate::app::{App, HitMap};
use crate::controls::{self, AnyControl, Control, EnsembleControl};
use crate::keymap::{Action, Scope};
use crate::settings::Settings;
use crate::ui;

pub struct Pane {
    pub title: &'static str,
    /// Its own key bindings (besides the controls' and the global ones).
    pub scope: Scope,
    /// The results it shows: it waits for the analysis, the training, or both.
    pub shows_analysis: bool,
    pub shows_training: bool,
    /// The control selected when the pane first opens.
    pub first_control: AnyControl,
    /// Its controls for these settings and the member being edited.
    pub controls: fn(&Settings, usize) -> Vec<AnyControl>,
    /// Its own keys in the status line's reminder, with a word each.
    pub hints: &'static [(Action, &'static str)],
    /// Draws it into the body of the screen.
    pub view: fn(&mut Frame, &App, Rect, &mut HitMap),
}

pub static PANES: &[Pane] = &[
    Pane {
        title: "Quantize",
        scope: Scope::Quantize,
        shows_analysis: true,
        shows_training: false,
        first_control: AnyControl::Quant(Control::Scheme),
        controls: |s, _| controls::visible(s).into_iter().map(AnyControl::Quant).collect(),
        hints: &[(Action::Preset, "preset")],
        view: ui::quant::draw,
    },
    Pane {
        title: "Ensemble",
        scope: Scope::Ensemble,
        shows_analysis: false,
        shows_training: true,
        first_control: AnyControl::Ensemble(EnsembleControl::Fusion),
        controls: |s, member| controls::visible_ensemble(s, member).into_iter().map(AnyControl::Ensemble).collect(),
        hints: &[(Action::AddMember, "add"), (Action::DeleteMember, "delete"), (Action::CycleFusion, "fusion")],
        view: ui::ensemble::draw,
    },
    // The ensemble quantized: it waits for both.
    Pane {
        title: "Deploy",
        scope: Scope::Deploy,
        shows_analysis: true,
        shows_training: true,
        first_control: AnyControl::Quant(Control::Bits),
        controls: |s, _| controls::visible_deploy(s),
        hints: &[],
        view: ui::deploy::draw,
    },
    // Every format on the tensor: it waits for the analysis, then streams its rows.
    Pane {
        title: "Formats",
        scope: Scope::Formats,
        shows_analysis: true,
        shows_training: false,
        first_control: AnyControl::Quant(Control::FormatRow),
        controls: |_, _| vec![AnyControl::Quant(Control::FormatRow)],
        hints: &[(Action::SortFormats, "sort")],
        view: ui::formats::draw,
    },
    // A whole checkpoint, tensor by tensor: its own scan, not the analysis.
    Pane {
        title: "Checkpoint",
        scope: Scope::Checkpoint,
        shows_analysis: false,
        shows_training: false,
        first_control: AnyControl::Quant(Control::Tensor),
        // Its keys move the table's selection (`App::on_checkpoint_action`),
        // not a control; the tensor opened is the one it hands to Quantize.
        controls: |_, _| vec![AnyControl::Quant(Control::Tensor)],
        hints: &[
            (Action::SortTensors, "sort"),
            (Action::FlipOrder, "order"),
            (Action::FilterTensors, "filter"),
            (Action::TogglePictures, "pictures"),
            (Action::ChooseFormats, "formats"),
        ],
        view: ui::checkpoint::draw,
    },
];
