//! Every style in one place. Meaning is never carried by colour alone:
//! markers, glyphs and labels say the same thing for a monochrome terminal.

use ratatui::style::{Color, Modifier, Style};

pub struct Theme {
    pub title: Style,
    pub tab: Style,
    pub tab_active: Style,
    pub border: Style,
    pub label: Style,
    pub value: Style,
    pub derived: Style,
    pub selected: Style,
    pub muted: Style,
    pub key: Style,
    pub error: Style,
    pub info: Style,
    pub warning: Style,
    pub note: Style,
    pub weights: Style,
    pub rounding: Style,
    pub clipped: Style,
    pub clip_line: Style,
    pub levels: Style,
    pub curve: Style,
    pub current: Style,
    pub optimum: Style,
    pub header: Style,
}

/// Light text on a dark terminal: the default.
pub const DARK: Theme = Theme {
    title: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
    tab: Style::new().fg(Color::Gray),
    tab_active: Style::new().fg(Color::Black).bg(Color::Cyan).add_modifier(Modifier::BOLD),
    border: Style::new().fg(Color::DarkGray),
    label: Style::new().fg(Color::Gray),
    value: Style::new().fg(Color::White).add_modifier(Modifier::BOLD),
    derived: Style::new().fg(Color::Gray).add_modifier(Modifier::ITALIC),
    selected: Style::new().bg(Color::DarkGray).add_modifier(Modifier::BOLD),
    muted: Style::new().fg(Color::DarkGray),
    key: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
    error: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
    info: Style::new().fg(Color::Green),
    warning: Style::new().fg(Color::Yellow),
    note: Style::new().fg(Color::Gray),
    weights: Style::new().fg(Color::Cyan),
    rounding: Style::new().fg(Color::Green),
    clipped: Style::new().fg(Color::Red),
    clip_line: Style::new().fg(Color::Yellow),
    levels: Style::new().fg(Color::Magenta),
    curve: Style::new().fg(Color::Cyan),
    current: Style::new().fg(Color::Yellow),
    optimum: Style::new().fg(Color::Green),
    header: Style::new().fg(Color::Gray).add_modifier(Modifier::BOLD),
};

/// Dark text on a light terminal.
pub const LIGHT: Theme = Theme {
    title: Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD),
    tab: Style::new().fg(Color::DarkGray),
    tab_active: Style::new().fg(Color::White).bg(Color::Blue).add_modifier(Modifier::BOLD),
    border: Style::new().fg(Color::Gray),
    label: Style::new().fg(Color::DarkGray),
    value: Style::new().fg(Color::Black).add_modifier(Modifier::BOLD),
    derived: Style::new().fg(Color::DarkGray).add_modifier(Modifier::ITALIC),
    selected: Style::new().bg(Color::Gray).add_modifier(Modifier::BOLD),
    muted: Style::new().fg(Color::Gray),
    key: Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD),
    error: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
    info: Style::new().fg(Color::Green),
    warning: Style::new().fg(Color::Magenta),
    note: Style::new().fg(Color::DarkGray),
    weights: Style::new().fg(Color::Blue),
    rounding: Style::new().fg(Color::Green),
    clipped: Style::new().fg(Color::Red),
    clip_line: Style::new().fg(Color::Magenta),
    levels: Style::new().fg(Color::Cyan),
    curve: Style::new().fg(Color::Blue),
    current: Style::new().fg(Color::Magenta),
    optimum: Style::new().fg(Color::Green),
    header: Style::new().fg(Color::DarkGray).add_modifier(Modifier::BOLD),
};

/// No colour at all (NO_COLOR): emphasis by bold, italic and reverse video,
/// and the glyphs and words that every theme uses anyway.
pub const MONO: Theme = Theme {
    title: Style::new().add_modifier(Modifier::BOLD),
    tab: Style::new(),
    tab_active: Style::new().add_modifier(Modifier::REVERSED),
    border: Style::new(),
    label: Style::new(),
    value: Style::new().add_modifier(Modifier::BOLD),
    derived: Style::new().add_modifier(Modifier::ITALIC),
    selected: Style::new().add_modifier(Modifier::REVERSED),
    muted: Style::new(),
    key: Style::new().add_modifier(Modifier::BOLD),
    error: Style::new().add_modifier(Modifier::BOLD),
    info: Style::new(),
    warning: Style::new().add_modifier(Modifier::BOLD),
    note: Style::new(),
    weights: Style::new(),
    rounding: Style::new(),
    clipped: Style::new().add_modifier(Modifier::BOLD),
    clip_line: Style::new(),
    levels: Style::new(),
    curve: Style::new(),
    current: Style::new().add_modifier(Modifier::BOLD),
    optimum: Style::new(),
    header: Style::new().add_modifier(Modifier::BOLD),
};

pub use crate::config::ThemeName;

impl ThemeName {
    pub fn theme(self) -> &'static Theme {
        match self {
            ThemeName::Dark => &DARK,
            ThemeName::Light => &LIGHT,
            ThemeName::Mono => &MONO,
        }
    }
}

static CURRENT: std::sync::OnceLock<&'static Theme> = std::sync::OnceLock::new();

/// The theme in use: set once at start, dark until then.
pub fn theme() -> &'static Theme {
    CURRENT.get().copied().unwrap_or(&DARK)
}

/// Chooses the theme for the rest of the run (the first call wins).
pub fn set_theme(name: ThemeName) {
    let _ = CURRENT.set(name.theme());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_means_mono_unless_a_theme_is_named() {
        assert_eq!(ThemeName::choose(None, true, None), ThemeName::Mono);
        assert_eq!(ThemeName::choose(None, false, None), ThemeName::Dark);
        assert_eq!(ThemeName::choose(Some(ThemeName::Light), true, None), ThemeName::Light);
        assert_eq!(ThemeName::choose(None, true, Some(ThemeName::Light)), ThemeName::Mono);
        assert_eq!(ThemeName::choose(None, false, Some(ThemeName::Light)), ThemeName::Light);
    }

    #[test]
    fn mono_has_no_colour() {
        let m = &MONO;
        for style in [m.title, m.tab_active, m.selected, m.error, m.warning, m.weights, m.clipped, m.current, m.optimum]
        {
            assert_eq!((style.fg, style.bg), (None, None));
        }
    }
}
