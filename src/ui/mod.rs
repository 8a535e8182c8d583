//! Drawing only: every function here is a pure function of the `App`.

pub(crate) mod checkpoint;
pub(crate) mod deploy;
pub(crate) mod ensemble;
pub(crate) mod formats;
mod help;
mod picker;
pub(crate) mod quant;
pub mod theme;
mod widgets;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::{App, HitMap, Mode, Tab, Target};
use crate::keymap::{Action, Scope, hint};
use theme::theme;

/// Below this the panes cannot be drawn legibly.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

const SPINNER: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// Draws the app and returns what it drew where, for the mouse.
pub fn draw(frame: &mut Frame, app: &App) -> HitMap {
    let mut hits = HitMap::default();
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        draw_too_small(frame, area);
        return hits;
    }
    let [tabs, body, status] = screen(app, area);
    draw_tabs(frame, app, tabs, &mut hits);
    (app.tab.pane().view)(frame, app, body, &mut hits);
    draw_status(frame, app, status);
    match &app.mode {
        Mode::Help => help::draw_help(frame, app, area),
        Mode::PickTensor(picker) => picker::draw_picker(frame, app, picker, area),
        Mode::ConfirmQuit => help::draw_confirm_quit(frame, app, area),
        _ => {}
    }
    hits
}

/// The tab line, the panes' body and the status line, which grows to three
/// rows for a message (an error is one paragraph) too long for one.
fn screen(app: &App, area: Rect) -> [Rect; 3] {
    let message = !app.status.text.is_empty() && !matches!(app.mode, Mode::Editing { .. } | Mode::TypeFormats { .. });
    // " ✓ " and the text, wrapped at the screen's width.
    let wanted = if message { (app.status.text.chars().count() + 3).div_ceil(area.width.max(1) as usize) } else { 1 };
    let rows = wanted.clamp(1, MAX_STATUS_ROWS) as u16;
    Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(rows)]).areas(area)
}

const MAX_STATUS_ROWS: usize = 3;

fn draw_too_small(frame: &mut Frame, area: Rect) {
    let text = format!(
        "qmc-tui needs at least {MIN_WIDTH}×{MIN_HEIGHT}; this terminal is {}×{}. Enlarge it (q quits).",
        area.width, area.height
    );
    frame.render_widget(Paragraph::new(text).style(theme().warning).wrap(Wrap { trim: true }), area);
}

fn draw_tabs(frame: &mut Frame, app: &App, area: Rect, hits: &mut HitMap) {
    let mut spans = vec![Span::styled(" qmc-tui ", theme().title)];
    let mut x = area.x + spans[0].width() as u16;
    for (i, tab) in Tab::all().enumerate() {
        let style = if tab == app.tab { theme().tab_active } else { theme().tab };
        let title = Span::styled(format!(" {} {} ", i + 1, tab.title()), style);
        let width = title.width() as u16;
        hits.add(Rect::new(x + 1, area.y, width, 1), Target::Tab(i));
        x += 1 + width;
        spans.push(Span::raw(" "));
        spans.push(title);
    }
    // Said shorter, or not at all, where it does not fit: never cut.
    let room = area.width.saturating_sub(x - area.x) as usize;
    let variants = if let Some(what) = app.activity() {
        let spinner = SPINNER[app.spinner % SPINNER.len()];
        vec![format!("  {spinner} {what} ..."), format!("  {spinner}")]
    } else {
        match finished_in(app) {
            Some((word, ms)) => {
                vec![format!("  {word} in {ms:.1} ms"), format!("  {ms:.1} ms"), format!(" {ms:.1} ms")]
            }
            None => Vec::new(),
        }
    };
    if let Some(text) = variants.into_iter().find(|t| Span::raw(t.as_str()).width() <= room) {
        spans.push(Span::styled(text, theme().muted));
    }
    frame.render_widget(Line::from(spans), area);
}

/// What the pane shows took how long: the scan for the Checkpoint pane, the
/// training for a pane that shows it (the Deploy pane's is the ensemble's),
/// else the analysis.
fn finished_in(app: &App) -> Option<(&'static str, f64)> {
    if app.tab.scope() == Scope::Checkpoint {
        return app.checkpoint.scan_ms.map(|ms| ("scanned", ms));
    }
    let ms = if app.tab.pane().shows_training {
        app.ensemble.as_ref().map(|v| v.compute_ms)
    } else {
        app.view.as_ref().map(|v| v.compute_ms)
    };
    ms.map(|ms| ("computed", ms))
}

fn draw_status(frame: &mut Frame, app: &App, area: Rect) {
    let line = if let Mode::Editing { control, text, selected } = &app.mode {
        // Selected pre-filled text is drawn reversed: typing replaces it.
        let text_style = if *selected { theme().value.add_modifier(Modifier::REVERSED) } else { theme().value };
        Line::from(vec![
            Span::styled(format!(" {} = ", control.key(app.context())), theme().label),
            Span::styled(text.clone(), text_style),
            Span::styled("▏", theme().value),
            Span::styled("   Enter apply · Esc cancel · Ctrl-U clear", theme().muted),
        ])
    } else if let Mode::TypeFormats { text, selected } = &app.mode {
        checkpoint::formats_input(text, *selected)
    } else if !app.status.text.is_empty() {
        let (mark, style) = if app.status.error { ("✗ ", theme().error) } else { ("✓ ", theme().info) };
        Line::from(vec![Span::styled(format!(" {mark}{}", app.status.text), style)])
    } else {
        hints_line(app, area.width)
    };
    frame.render_widget(Paragraph::new(line).wrap(Wrap { trim: false }), area);
}

/// The one-line reminder of the most used keys, as many as fit in `width`:
/// the first hints give way before help and quit, which always stay.
fn hints_line(app: &App, width: u16) -> Line<'static> {
    let tab = app.tab;
    let mut pairs = if tab.scope() == Scope::Checkpoint {
        // Its arrows and Enter mean other things than a control's.
        checkpoint::key_hints(&app.checkpoint)
    } else {
        let mut pairs = vec![
            (format!("{}{}", hint(Action::Up), hint(Action::Down)), "select"),
            (format!("{}{}", hint(Action::Decrease), hint(Action::Increase)), "adjust"),
            (format!("Shift-{}{}", hint(Action::Decrease), hint(Action::Increase)), "coarse"),
            (hint(Action::Edit), "type"),
            (hint(Action::Reset), "reset"),
        ];
        pairs.extend(tab.pane().hints.iter().map(|&(action, what)| (hint(action), what)));
        pairs
    };
    pairs.extend([(hint(Action::Export), "export"), (hint(Action::Help), "help"), (hint(Action::Quit), "quit")]);
    let shown =
        |pairs: &[(String, &str)]| 1 + pairs.iter().map(|(k, w)| k.chars().count() + w.len() + 3).sum::<usize>();
    // The coarse-step hint goes first (the help lists it), then the others in order.
    if shown(&pairs) > width as usize + 2 {
        pairs.retain(|(_, what)| *what != "coarse");
    }
    while shown(&pairs) > width as usize + 2 && pairs.len() > 2 {
        pairs.remove(0);
    }
    let mut spans = vec![Span::raw(" ")];
    for (keys, what) in pairs {
        spans.push(Span::styled(keys, theme().key));
        spans.push(Span::styled(format!(" {what}  "), theme().muted));
    }
    Line::from(spans)
}
