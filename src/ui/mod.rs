//! Drawing only: every function here is a pure function of the `App`.

mod deploy;
mod ensemble;
mod help;
mod quant;
pub mod theme;
mod widgets;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::{App, Mode, Tab};
use crate::keymap::{Action, hint};
use theme::theme;

/// Below this the panes cannot be drawn legibly.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

const SPINNER: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        draw_too_small(frame, area);
        return;
    }
    let [tabs, body, status] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)]).areas(area);
    draw_tabs(frame, app, tabs);
    match app.tab {
        Tab::Quantize => quant::draw(frame, app, body),
        Tab::Ensemble => ensemble::draw(frame, app, body),
        Tab::Deploy => deploy::draw(frame, app, body),
    }
    draw_status(frame, app, status);
    match &app.mode {
        Mode::Help => help::draw_help(frame, app, area),
        Mode::PickTensor { selected } => help::draw_picker(frame, app, *selected, area),
        Mode::ConfirmQuit => help::draw_confirm_quit(frame, app, area),
        _ => {}
    }
}

fn draw_too_small(frame: &mut Frame, area: Rect) {
    let text = format!(
        "qmc-tui needs at least {MIN_WIDTH}×{MIN_HEIGHT}; this terminal is {}×{}. Enlarge it (q quits).",
        area.width, area.height
    );
    frame.render_widget(Paragraph::new(text).style(theme().warning).wrap(Wrap { trim: true }), area);
}

fn draw_tabs(frame: &mut Frame, app: &App, area: Rect) {
    let mut spans = vec![Span::styled(" qmc-tui ", theme().title)];
    for (i, tab) in Tab::ALL.iter().enumerate() {
        let style = if *tab == app.tab { theme().tab_active } else { theme().tab };
        spans.push(Span::raw(" "));
        spans.push(Span::styled(format!(" {} {} ", i + 1, tab.title()), style));
    }
    if app.busy() {
        let what = match app.training {
            Some((done, total)) => format!("training {done}/{total}"),
            None => "computing".into(),
        };
        spans.push(Span::styled(format!("  {} {what}", SPINNER[app.spinner % SPINNER.len()]), theme().muted));
    } else {
        let ms = match app.tab {
            Tab::Quantize => app.view.as_ref().map(|v| v.compute_ms),
            Tab::Ensemble | Tab::Deploy => app.ensemble.as_ref().map(|v| v.compute_ms),
        };
        if let Some(ms) = ms {
            spans.push(Span::styled(format!("  computed in {ms:.1} ms"), theme().muted));
        }
    }
    frame.render_widget(Line::from(spans), area);
}

fn draw_status(frame: &mut Frame, app: &App, area: Rect) {
    let line = if let Mode::Editing { control, text } = &app.mode {
        Line::from(vec![
            Span::styled(format!(" {} = ", control.key(app.context())), theme().label),
            Span::styled(format!("{text}▏"), theme().value),
            Span::styled("   Enter apply · Esc cancel · Ctrl-U clear", theme().muted),
        ])
    } else if !app.status.text.is_empty() {
        let (mark, style) = if app.status.error { ("✗ ", theme().error) } else { ("✓ ", theme().info) };
        Line::from(vec![Span::styled(format!(" {mark}{}", app.status.text), style)])
    } else {
        hints_line(app.tab)
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The one-line reminder of the most used keys.
fn hints_line(tab: Tab) -> Line<'static> {
    let mut pairs = vec![
        (format!("{}{}", hint(Action::Up), hint(Action::Down)), "select"),
        (format!("{}{}", hint(Action::Decrease), hint(Action::Increase)), "adjust"),
        (format!("Shift-{}{}", hint(Action::Decrease), hint(Action::Increase)), "coarse"),
        (hint(Action::Edit), "type"),
        (hint(Action::Reset), "reset"),
    ];
    match tab {
        Tab::Quantize => pairs.push((hint(Action::Preset), "preset")),
        Tab::Ensemble => pairs.extend([
            (hint(Action::AddMember), "add"),
            (hint(Action::DeleteMember), "delete"),
            (hint(Action::CycleFusion), "fusion"),
        ]),
        Tab::Deploy => {}
    }
    pairs.extend([(hint(Action::Export), "export"), (hint(Action::Help), "help"), (hint(Action::Quit), "quit")]);
    let mut spans = vec![Span::raw(" ")];
    for (keys, what) in pairs {
        spans.push(Span::styled(keys, theme().key));
        spans.push(Span::styled(format!(" {what}  "), theme().muted));
    }
    Line::from(spans)
}
