//! Typing a value in the status line (a control's exact value, the
//! Checkpoint pane's formats): what each key does to the text.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key does to the text being typed.
pub enum Typed {
    /// Esc or Ctrl-C: leave it.
    Cancel,
    /// Enter: use it.
    Apply(String),
    /// The text now, and whether it is still the pre-filled text, selected.
    Edit(String, bool),
}

/// While the pre-filled text is selected, a character or Backspace replaces
/// it all; ← → / Home / End unselect it to edit its end.
pub fn typed(key: KeyEvent, mut text: String, selected: bool) -> Typed {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Esc => Typed::Cancel,
        KeyCode::Char('c') if ctrl => Typed::Cancel,
        KeyCode::Enter => Typed::Apply(text),
        KeyCode::Char('u') if ctrl => Typed::Edit(String::new(), false),
        KeyCode::Backspace if selected => Typed::Edit(String::new(), false),
        KeyCode::Backspace => {
            text.pop();
            Typed::Edit(text, false)
        }
        KeyCode::Char(c) => {
            if selected {
                text.clear();
            }
            text.push(c);
            Typed::Edit(text, false)
        }
        KeyCode::Left | KeyCode::Right | KeyCode::Home | KeyCode::End => Typed::Edit(text, false),
        _ => Typed::Edit(text, selected),
    }
}
