//! Popups: the help (read from the keymap the event loop uses) and the quit question.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::theme::theme;
use super::widgets::{centered, panel};
use crate::app::{App, Tab};
use crate::keymap::{Scope, bindings, keys_label};

pub fn draw_help(frame: &mut Frame, app: &App, area: Rect) {
    let mut lines = Vec::new();
    let sections = [
        (app.tab.scope(), format!("{} pane", app.tab.title())),
        (Scope::Controls, format!("Controls ({})", controls_where())),
        (Scope::Global, "Everywhere".to_string()),
    ];
    for (scope, title) in sections {
        lines.push(Line::styled(title, theme().header));
        for b in bindings().iter().filter(|b| b.scope == scope) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<22}", keys_label(b)), theme().key),
                Span::styled(b.help, theme().value),
            ]));
        }
        lines.push(Line::raw(""));
    }
    lines.push(Line::styled("While typing a value: Enter applies, Esc cancels, Ctrl-U clears.", theme().muted));
    lines.push(Line::styled("Editing scale or clip in a bit-driven scheme switches to manual.", theme().muted));
    lines
        .push(Line::styled("Quitting with unexported changes asks first (y export, n quit, Esc stay).", theme().muted));
    lines.push(Line::styled("Any key closes this help.", theme().muted));
    let height = lines.len() as u16 + 2;
    let popup = centered(area, 76, height);
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(panel("Help")), popup);
}

/// Where the control keys work: every pane, named.
pub fn controls_where() -> String {
    let names: Vec<&str> = Tab::all().map(|t| t.title()).collect();
    format!("every pane: {}", names.join(", "))
}

pub fn draw_confirm_quit(frame: &mut Frame, app: &App, area: Rect) {
    let lines = vec![
        Line::styled("The settings changed since they were last exported.", theme().value),
        Line::styled(format!("Export them to {} before quitting?", app.export_path.display()), theme().label),
        Line::raw(""),
        Line::from(vec![
            Span::styled("  y ", theme().key),
            Span::styled("export, then quit   ", theme().label),
            Span::styled("n ", theme().key),
            Span::styled("quit without export   ", theme().label),
            Span::styled("Esc ", theme().key),
            Span::styled("stay", theme().label),
        ]),
    ];
    let popup = centered(area, 70, lines.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(panel("Quit")), popup);
}
