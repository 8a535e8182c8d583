//! Every key binding, in one table that both the event loop and the help
//! overlay read, so the help can never disagree with what a key does.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    NextTab,
    PrevTab,
    GoTab(usize),
    Up,
    Down,
    Increase,
    Decrease,
    IncreaseCoarse,
    DecreaseCoarse,
    Edit,
    Reset,
    Export,
    Preset,
    PickTensor,
    ScrollDown,
    ScrollUp,
    AddMember,
    DeleteMember,
    CycleFusion,
}

/// Where a binding applies: everywhere, in every pane's controls, or in one pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Controls,
    Quantize,
    Ensemble,
    Deploy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

const fn key(code: KeyCode) -> Key {
    Key { code, mods: KeyModifiers::NONE }
}

const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

const fn shift(code: KeyCode) -> Key {
    Key { code, mods: KeyModifiers::SHIFT }
}

const fn ctrl(c: char) -> Key {
    Key { code: KeyCode::Char(c), mods: KeyModifiers::CONTROL }
}

pub struct Binding {
    pub scope: Scope,
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
}

const fn bind(scope: Scope, keys: &'static [Key], action: Action, help: &'static str) -> Binding {
    Binding { scope, keys, action, help }
}

use Action as A;
use Scope::{Controls, Ensemble, Global, Quantize};

pub const BINDINGS: &[Binding] = &[
    bind(Global, &[ch('q'), key(KeyCode::Esc), ctrl('c')], A::Quit, "quit"),
    bind(Global, &[ch('?')], A::Help, "show or hide this help"),
    bind(Global, &[key(KeyCode::Tab)], A::NextTab, "next pane"),
    bind(Global, &[key(KeyCode::BackTab), shift(KeyCode::BackTab)], A::PrevTab, "previous pane"),
    bind(Global, &[ch('1')], A::GoTab(0), "Quantize pane"),
    bind(Global, &[ch('2')], A::GoTab(1), "Ensemble pane"),
    bind(Global, &[ch('3')], A::GoTab(2), "Deploy pane"),
    bind(Global, &[ch('e')], A::Export, "export the settings (TOML, loadable with --config)"),
    bind(Controls, &[key(KeyCode::Up), ch('k')], A::Up, "select the previous control"),
    bind(Controls, &[key(KeyCode::Down), ch('j')], A::Down, "select the next control"),
    bind(Controls, &[key(KeyCode::Right), ch('l')], A::Increase, "increase / next value"),
    bind(Controls, &[key(KeyCode::Left), ch('h')], A::Decrease, "decrease / previous value"),
    bind(Controls, &[shift(KeyCode::Right), ch('L')], A::IncreaseCoarse, "increase in coarse steps"),
    bind(Controls, &[shift(KeyCode::Left), ch('H')], A::DecreaseCoarse, "decrease in coarse steps"),
    bind(Controls, &[key(KeyCode::Enter)], A::Edit, "type an exact value (Enter applies, Esc cancels)"),
    bind(Controls, &[ch('r')], A::Reset, "reset the control to its default"),
    bind(Quantize, &[ch('p')], A::Preset, "next preset (seed example, int8, int4 ...)"),
    bind(Quantize, &[ch('t')], A::PickTensor, "pick a tensor of a .safetensors file"),
    bind(Quantize, &[key(KeyCode::PageDown), ch(']')], A::ScrollDown, "scroll the per-channel table down"),
    bind(Quantize, &[key(KeyCode::PageUp), ch('[')], A::ScrollUp, "scroll the per-channel table up"),
    bind(Ensemble, &[ch('a')], A::AddMember, "add a member (a copy of the one selected, with a new seed)"),
    bind(Ensemble, &[ch('d')], A::DeleteMember, "delete the selected member"),
    bind(Ensemble, &[ch('f')], A::CycleFusion, "next fusion method (soft, hard, stacking, label-mean)"),
];

impl Key {
    fn matches(&self, ev: &KeyEvent) -> bool {
        // Terminals disagree on whether a typed capital also reports SHIFT.
        let mods = match ev.code {
            KeyCode::Char(_) => ev.modifiers - KeyModifiers::SHIFT,
            _ => ev.modifiers,
        };
        self.code == ev.code && self.mods == mods
    }

    pub fn label(&self) -> String {
        let name = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) if self.mods.contains(KeyModifiers::CONTROL) => c.to_ascii_uppercase().to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::BackTab => "Shift-Tab".to_string(),
            KeyCode::PageDown => "PgDn".to_string(),
            KeyCode::PageUp => "PgUp".to_string(),
            KeyCode::Up => "↑".to_string(),
            KeyCode::Down => "↓".to_string(),
            KeyCode::Left => "←".to_string(),
            KeyCode::Right => "→".to_string(),
            other => other.to_string(),
        };
        let prefix = if self.mods.contains(KeyModifiers::CONTROL) {
            "Ctrl-"
        } else if self.mods.contains(KeyModifiers::SHIFT) && self.code != KeyCode::BackTab {
            "Shift-"
        } else {
            ""
        };
        format!("{prefix}{name}")
    }
}

/// The scopes whose bindings hold in a pane, most specific first.
pub fn scopes(pane: Scope) -> [Scope; 3] {
    [pane, Controls, Global]
}

/// The action a key press means in a pane (its own bindings first, then
/// the controls', then the global ones); `Global` means outside any pane.
pub fn action_for(ev: &KeyEvent, pane: Scope) -> Option<Action> {
    let find = |s: Scope| BINDINGS.iter().filter(|b| b.scope == s).find(|b| b.keys.iter().any(|k| k.matches(ev)));
    let chain: &[Scope] = if pane == Global { &[Global] } else { &scopes(pane) };
    chain.iter().find_map(|&s| find(s)).map(|b| b.action)
}

/// "q / Esc / Ctrl-C": every key of a binding, for the help and the hint bar.
pub fn keys_label(b: &Binding) -> String {
    let mut labels: Vec<String> = Vec::new();
    for label in b.keys.iter().map(Key::label) {
        // BackTab arrives with or without SHIFT; both read "Shift-Tab".
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    labels.join(" / ")
}

/// The first key bound to an action, for short hints.
pub fn hint(action: Action) -> String {
    BINDINGS.iter().find(|b| b.action == action).map(|b| b.keys[0].label()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn keys_map_to_actions() {
        assert_eq!(action_for(&press(KeyCode::Char('q'), KeyModifiers::NONE), Quantize), Some(A::Quit));
        assert_eq!(action_for(&press(KeyCode::Char('c'), KeyModifiers::CONTROL), Quantize), Some(A::Quit));
        assert_eq!(action_for(&press(KeyCode::Char('c'), KeyModifiers::NONE), Quantize), None);
        assert_eq!(action_for(&press(KeyCode::Char('j'), KeyModifiers::NONE), Quantize), Some(A::Down));
        assert_eq!(action_for(&press(KeyCode::Right, KeyModifiers::SHIFT), Quantize), Some(A::IncreaseCoarse));
        assert_eq!(action_for(&press(KeyCode::Char('L'), KeyModifiers::SHIFT), Quantize), Some(A::IncreaseCoarse));
        assert_eq!(action_for(&press(KeyCode::BackTab, KeyModifiers::SHIFT), Quantize), Some(A::PrevTab));
        assert_eq!(action_for(&press(KeyCode::Char('1'), KeyModifiers::NONE), Quantize), Some(A::GoTab(0)));
        assert_eq!(action_for(&press(KeyCode::Char('j'), KeyModifiers::NONE), Ensemble), Some(A::Down));
        assert_eq!(action_for(&press(KeyCode::Char('a'), KeyModifiers::NONE), Ensemble), Some(A::AddMember));
        assert_eq!(action_for(&press(KeyCode::Char('a'), KeyModifiers::NONE), Quantize), None);
        assert_eq!(action_for(&press(KeyCode::Char('p'), KeyModifiers::NONE), Ensemble), None);
        assert_eq!(action_for(&press(KeyCode::Char('j'), KeyModifiers::NONE), Global), None);
    }

    #[test]
    fn no_key_is_bound_twice_in_one_scope() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                let clash = a.keys.iter().any(|k| b.keys.contains(k));
                let shared = a.scope == b.scope || [a.scope, b.scope].iter().any(|s| matches!(s, Global | Controls));
                assert!(!(clash && shared), "{:?} / {:?}", a.action, b.action);
            }
        }
    }

    #[test]
    fn labels_read_like_the_help() {
        let quit = BINDINGS.iter().find(|b| b.action == A::Quit).unwrap();
        assert_eq!(keys_label(quit), "q / Esc / Ctrl-C");
        assert_eq!(hint(A::Export), "e");
    }
}
