//! Every key binding, in one table that both the event loop and the help
//! overlay read, so the help can never disagree with what a key does. The
//! defaults below can be changed per action from a config file (`[keys]`).

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
    CycleWeights,
    CycleEnsembleView,
    CycleDiversity,
    SortFormats,
    SortTensors,
    FlipOrder,
    FilterTensors,
    TogglePictures,
    ChooseFormats,
}

/// Where a binding applies: everywhere, in every pane's controls, or in one pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Controls,
    Quantize,
    Ensemble,
    Deploy,
    Formats,
    Checkpoint,
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

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub scope: Scope,
    pub keys: Vec<Key>,
    pub action: Action,
    pub help: &'static str,
}

/// A default binding, as written in the table below.
pub struct DefaultBinding {
    scope: Scope,
    keys: &'static [Key],
    action: Action,
    help: &'static str,
}

const fn bind(scope: Scope, keys: &'static [Key], action: Action, help: &'static str) -> DefaultBinding {
    DefaultBinding { scope, keys, action, help }
}

use Action as A;
use Scope::{Checkpoint, Controls, Ensemble, Formats, Global, Quantize};

pub const DEFAULTS: &[DefaultBinding] = &[
    // Esc only closes things (help, popups, edits); it never quits.
    bind(Global, &[ch('q'), ctrl('c')], A::Quit, "quit"),
    bind(Global, &[ch('?')], A::Help, "show or hide this help"),
    bind(Global, &[key(KeyCode::Tab)], A::NextTab, "next pane"),
    bind(Global, &[key(KeyCode::BackTab), shift(KeyCode::BackTab)], A::PrevTab, "previous pane"),
    bind(Global, &[ch('1')], A::GoTab(0), "Quantize pane"),
    bind(Global, &[ch('2')], A::GoTab(1), "Ensemble pane"),
    bind(Global, &[ch('3')], A::GoTab(2), "Deploy pane"),
    bind(Global, &[ch('4')], A::GoTab(3), "Formats pane"),
    bind(Global, &[ch('5')], A::GoTab(4), "Checkpoint pane"),
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
    bind(Quantize, &[ch('t')], A::PickTensor, "pick a tensor of a .safetensors file (/ filters)"),
    bind(Quantize, &[key(KeyCode::PageDown), ch(']')], A::ScrollDown, "scroll the per-channel table down a page"),
    bind(Quantize, &[key(KeyCode::PageUp), ch('[')], A::ScrollUp, "scroll the per-channel table up a page"),
    bind(Ensemble, &[ch('a')], A::AddMember, "add a member (a copy of the one selected, with a new seed)"),
    bind(Ensemble, &[ch('d')], A::DeleteMember, "delete the selected member"),
    bind(Ensemble, &[ch('f')], A::CycleFusion, "next fusion method (soft, hard, stacking, label-mean, mlp)"),
    bind(Ensemble, &[ch('w')], A::CycleWeights, "weights: the members' own or optimized (ensemble selection)"),
    bind(
        Ensemble,
        &[ch('v')],
        A::CycleEnsembleView,
        "lower right: confusion, reliability diagram, probability quality",
    ),
    bind(Ensemble, &[ch('m')], A::CycleDiversity, "diversity matrix: disagreement, double fault, Q statistic"),
    bind(Formats, &[ch('s')], A::SortFormats, "sort the table by the next column"),
    bind(Checkpoint, &[ch('s')], A::SortTensors, "sort the tensors by the next column (worst SQNR first to start)"),
    bind(Checkpoint, &[ch('o')], A::FlipOrder, "flip the order: smallest or largest first"),
    bind(Checkpoint, &[ch('/')], A::FilterTensors, "filter the names: a glob (* ?) or a substring; Esc clears"),
    bind(Checkpoint, &[ch('v')], A::TogglePictures, "the pictures (SQNR by layer, histogram, Pareto) or the table"),
    bind(Checkpoint, &[ch('f')], A::ChooseFormats, "type the formats, a comma list (Enter re-scans, Esc cancels)"),
    bind(Checkpoint, &[key(KeyCode::PageDown), ch(']')], A::ScrollDown, "move the selection a page down"),
    bind(Checkpoint, &[key(KeyCode::PageUp), ch('[')], A::ScrollUp, "move the selection a page up"),
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

static CURRENT: std::sync::OnceLock<Vec<Binding>> = std::sync::OnceLock::new();

/// The bindings in effect: the defaults with the user's changes.
pub fn bindings() -> &'static [Binding] {
    CURRENT.get_or_init(defaults)
}

fn defaults() -> Vec<Binding> {
    DEFAULTS.iter().map(|d| Binding { scope: d.scope, keys: d.keys.to_vec(), action: d.action, help: d.help }).collect()
}

/// Why a `[keys]` table or a key name is refused; each names the action or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    #[error("keys.{name}: no such action; the actions are {}", .actions.join(", "))]
    NoSuchAction { name: String, actions: Vec<String> },

    #[error("keys.{name}: give a list of key names, like [\"q\", \"ctrl-c\"]")]
    NotAList { name: String },

    /// `value` as the TOML file spells it.
    #[error("keys.{name}: {value} is not a key name")]
    NotAString { name: String, value: String },

    #[error("keys.{name}: {source}")]
    BadKey {
        name: String,
        #[source]
        source: KeyNameError,
    },

    #[error("keys.{name}: an action needs at least one key")]
    NoKeys { name: String },

    #[error("keys: {key} is bound to both {first} and {second}")]
    BoundTwice { key: String, first: String, second: String },

    #[error("the key bindings were already in use")]
    AlreadyInUse,
}

/// Why a text is not a key name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyNameError {
    #[error("{0:?} is not a key name: the modifiers are ctrl-, alt- and shift-")]
    Modifier(String),

    #[error("{0:?} is not a key name (try \"q\", \"ctrl-c\", \"shift-left\", \"pgdn\", \"f5\")")]
    Unknown(String),
}

/// Uses the defaults changed by a `[keys]` table (`action = ["key", ...]`)
/// for the rest of the run. An unknown action or key name, or a key bound
/// twice where both bindings hold, is an error that names it.
pub fn configure(keys: &toml::Table) -> Result<(), KeymapError> {
    let map = with_overrides(keys)?;
    CURRENT.set(map).map_err(|_| KeymapError::AlreadyInUse)
}

pub fn with_overrides(keys: &toml::Table) -> Result<Vec<Binding>, KeymapError> {
    let mut map = defaults();
    for (name, value) in keys {
        let name = name.clone();
        let Some(binding) = map.iter_mut().find(|b| action_name(b.action) == name) else {
            let actions = DEFAULTS.iter().map(|d| action_name(d.action)).collect();
            return Err(KeymapError::NoSuchAction { name, actions });
        };
        let Some(list) = value.as_array() else { return Err(KeymapError::NotAList { name }) };
        binding.keys = list
            .iter()
            .map(|v| {
                let k =
                    v.as_str().ok_or_else(|| KeymapError::NotAString { name: name.clone(), value: v.to_string() })?;
                parse_key(k).map_err(|source| KeymapError::BadKey { name: name.clone(), source })
            })
            .collect::<Result<_, _>>()?;
        if binding.keys.is_empty() {
            return Err(KeymapError::NoKeys { name });
        }
    }
    check_unique(&map)?;
    Ok(map)
}

/// No key may mean two things where both bindings hold.
fn check_unique(map: &[Binding]) -> Result<(), KeymapError> {
    for (i, a) in map.iter().enumerate() {
        for b in &map[i + 1..] {
            let shared = a.scope == b.scope || [a.scope, b.scope].iter().any(|s| matches!(s, Global | Controls));
            if let Some(k) = a.keys.iter().find(|k| shared && b.keys.contains(k)) {
                return Err(KeymapError::BoundTwice {
                    key: k.label(),
                    first: action_name(a.action),
                    second: action_name(b.action),
                });
            }
        }
    }
    Ok(())
}

/// The name of an action in the `[keys]` table.
pub fn action_name(action: Action) -> String {
    let name = match action {
        A::Quit => "quit",
        A::Help => "help",
        A::NextTab => "next_tab",
        A::PrevTab => "prev_tab",
        A::GoTab(i) => return format!("tab_{}", i + 1),
        A::Up => "up",
        A::Down => "down",
        A::Increase => "increase",
        A::Decrease => "decrease",
        A::IncreaseCoarse => "increase_coarse",
        A::DecreaseCoarse => "decrease_coarse",
        A::Edit => "edit",
        A::Reset => "reset",
        A::Export => "export",
        A::Preset => "preset",
        A::PickTensor => "pick_tensor",
        A::ScrollDown => "scroll_down",
        A::ScrollUp => "scroll_up",
        A::AddMember => "add_member",
        A::DeleteMember => "delete_member",
        A::CycleFusion => "cycle_fusion",
        A::CycleWeights => "cycle_weights",
        A::CycleEnsembleView => "cycle_ensemble_view",
        A::CycleDiversity => "cycle_diversity",
        A::SortFormats => "sort_formats",
        A::SortTensors => "sort_tensors",
        A::FlipOrder => "flip_order",
        A::FilterTensors => "filter_tensors",
        A::TogglePictures => "toggle_pictures",
        A::ChooseFormats => "choose_formats",
    };
    name.to_string()
}

/// "q", "ctrl-c", "shift-left", "pgdn", "f5", "space": a key by name.
pub fn parse_key(text: &str) -> Result<Key, KeyNameError> {
    let lower = text.trim().to_ascii_lowercase();
    let (mods, name) = match lower.split_once('-') {
        Some(("ctrl", rest)) if !rest.is_empty() => (KeyModifiers::CONTROL, rest),
        Some(("alt", rest)) if !rest.is_empty() => (KeyModifiers::ALT, rest),
        Some(("shift", rest)) if !rest.is_empty() => (KeyModifiers::SHIFT, rest),
        _ => (KeyModifiers::NONE, lower.as_str()),
    };
    let code = match name {
        "esc" | "escape" => KeyCode::Esc,
        "enter" | "return" => KeyCode::Enter,
        "tab" if mods == KeyModifiers::SHIFT => return Ok(Key { code: KeyCode::BackTab, mods }),
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "space" => KeyCode::Char(' '),
        "backspace" => KeyCode::Backspace,
        "delete" | "del" => KeyCode::Delete,
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "pgup" | "pageup" => KeyCode::PageUp,
        "pgdn" | "pagedown" => KeyCode::PageDown,
        f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) => {
            KeyCode::F(f[1..].parse().unwrap_or(1))
        }
        _ if mods == KeyModifiers::NONE && name.len() > 1 && name.contains('-') => {
            return Err(KeyNameError::Modifier(text.to_string()));
        }
        _ => {
            // A single character keeps its case: "H" is Shift-h.
            let original = text.trim();
            let c = if mods == KeyModifiers::NONE {
                original
            } else {
                &original[original.find('-').map_or(0, |i| i + 1)..]
            };
            let mut chars = c.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => {
                    KeyCode::Char(if mods == KeyModifiers::CONTROL { c.to_ascii_lowercase() } else { c })
                }
                _ => {
                    return Err(KeyNameError::Unknown(text.to_string()));
                }
            }
        }
    };
    Ok(Key { code, mods })
}

/// The action a key press means in a pane (its own bindings first, then
/// the controls', then the global ones); `Global` means outside any pane.
pub fn action_for(ev: &KeyEvent, pane: Scope) -> Option<Action> {
    let find = |s: Scope| bindings().iter().filter(|b| b.scope == s).find(|b| b.keys.iter().any(|k| k.matches(ev)));
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
    bindings().iter().find(|b| b.action == action).and_then(|b| b.keys.first()).map(Key::label).unwrap_or_default()
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
        check_unique(&defaults()).unwrap();
    }

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn the_users_keys_replace_an_actions_defaults() {
        let map = with_overrides(&table("quit = [\"x\", \"ctrl-q\"]\nincrease = [\"+\", \"right\"]")).unwrap();
        let quit = map.iter().find(|b| b.action == A::Quit).unwrap();
        assert_eq!(quit.keys, vec![ch('x'), ctrl('q')]);
        let help = map.iter().find(|b| b.action == A::Help).unwrap();
        assert_eq!(help.keys, vec![ch('?')], "untouched actions keep their defaults");
    }

    #[test]
    fn bad_names_and_clashes_are_refused_with_the_name() {
        let err = with_overrides(&table("quitt = [\"x\"]")).unwrap_err().to_string();
        assert!(err.contains("keys.quitt") && err.contains("export"), "{err}");
        let err = with_overrides(&table("quit = [\"ctrl-banana\"]")).unwrap_err().to_string();
        assert!(err.contains("keys.quit") && err.contains("ctrl-banana"), "{err}");
        let err = with_overrides(&table("quit = \"q\"")).unwrap_err().to_string();
        assert!(err.contains("list"), "{err}");
        let err = with_overrides(&table("export = [\"j\"]")).unwrap_err().to_string();
        assert!(err.contains("bound to both"), "{err}");
    }

    #[test]
    fn key_names_parse() {
        assert_eq!(parse_key("ctrl-C"), Ok(ctrl('c')));
        assert_eq!(parse_key("shift-left"), Ok(shift(KeyCode::Left)));
        assert_eq!(parse_key("shift-tab"), Ok(shift(KeyCode::BackTab)));
        assert_eq!(parse_key("PgDn"), Ok(key(KeyCode::PageDown)));
        assert_eq!(parse_key("f5"), Ok(key(KeyCode::F(5))));
        assert_eq!(parse_key("H"), Ok(ch('H')));
        assert_eq!(parse_key("space"), Ok(ch(' ')));
        assert!(parse_key("hyper-q").is_err());
        assert_eq!(parse_key("-"), Ok(ch('-')));
        assert_eq!(parse_key("ctrl--"), Ok(ctrl('-')));
        assert!(parse_key("").is_err());
    }

    #[test]
    fn labels_read_like_the_help() {
        let quit = bindings().iter().find(|b| b.action == A::Quit).unwrap();
        assert_eq!(keys_label(quit), "q / Ctrl-C");
        assert_eq!(hint(A::Export), "e");
    }
}
