//! The tensor picker: as wide as the names and the terminal allow, and
//! filtered by what is typed after `/`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, List, ListItem, ListState, Paragraph};

use super::theme::theme;
use super::widgets::{centered, fitting_title, panel, shorten_middle};
use crate::app::{App, Picker};
use crate::compute::weights::TensorInfo;
use crate::format;

/// The element types the quantizer reads; others are listed, marked.
const FLOATS: [&str; 4] = ["f32", "f64", "f16", "bf16"];
const NOT_FLOAT: &str = " not float";
const TITLES: [&str; 2] = ["Pick a tensor (/ filter, Enter choose, Esc cancel)", "Pick a tensor"];
/// The highlight symbol and the spaces between the columns.
const GAPS: usize = 2 + 1 + 1;

fn is_float(t: &TensorInfo) -> bool {
    FLOATS.contains(&t.dtype.as_str())
}

/// The widths of the shape and dtype columns, and of the longest name.
fn column_widths(tensors: &[TensorInfo]) -> (usize, usize, usize) {
    let widest = |width: fn(&TensorInfo) -> usize| tensors.iter().map(width).max().unwrap_or(0);
    let shape = widest(|t| format::shape(&t.shape).chars().count());
    let dtype = widest(|t| t.dtype.chars().count() + if is_float(t) { 0 } else { NOT_FLOAT.len() });
    let name = widest(|t| t.name.chars().count());
    (shape, dtype, name)
}

pub fn draw_picker(frame: &mut Frame, app: &App, picker: &Picker, area: Rect) {
    let tensors = app.context().tensors;
    let matches = picker.matches(tensors);
    let (shape_width, dtype_width, name_wanted) = column_widths(tensors);
    let fixed = 2 + GAPS + shape_width + dtype_width;
    let width = (fixed + name_wanted).max(TITLES[0].chars().count() + 4).min(area.width as usize);
    let name_width = width.saturating_sub(fixed).max(1);
    let height = (matches.len().max(1) as u16 + 3).min(area.height.saturating_sub(2)).max(4);
    let popup = centered(area, width as u16, height);
    let block = panel(fitting_title(&TITLES, popup.width));
    let [filter_area, list_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(block.inner(popup));
    frame.render_widget(Clear, popup);
    frame.render_widget(block, popup);
    frame.render_widget(filter_line(picker, matches.len(), tensors.len()), filter_area);
    if matches.is_empty() {
        let text = format!("no name contains {:?}", picker.filter);
        frame.render_widget(Paragraph::new(text).style(theme().muted), list_area);
        return;
    }
    let items: Vec<ListItem> =
        matches.iter().map(|&i| row(&tensors[i], name_width, shape_width)).map(ListItem::new).collect();
    let list = List::new(items).highlight_style(theme().selected).highlight_symbol("▶ ");
    let mut state = ListState::default().with_selected(Some(picker.highlighted(&matches)));
    frame.render_stateful_widget(list, list_area, &mut state);
}

/// "/filter▏" while typing, and how many names match.
fn filter_line(picker: &Picker, shown: usize, total: usize) -> Line<'static> {
    let filter = match (picker.typing, picker.filter.is_empty()) {
        (true, _) => Span::styled(format!("/{}▏", picker.filter), theme().value),
        (false, false) => Span::styled(format!("/{}", picker.filter), theme().value),
        (false, true) => Span::styled("/ filters", theme().muted),
    };
    Line::from(vec![filter, Span::styled(format!("   {shown} of {total}"), theme().label)])
}

/// A tensor's name (its middle elided when too long), shape and dtype; a
/// tensor that is not floating point is dimmed and says so.
fn row(t: &TensorInfo, name_width: usize, shape_width: usize) -> Line<'static> {
    let name = shorten_middle(&t.name, name_width);
    let text = format!("{name:<name_width$} {:>shape_width$} {}", format::shape(&t.shape), t.dtype);
    if is_float(t) {
        Line::raw(text)
    } else {
        Line::from(vec![Span::styled(text, theme().muted), Span::styled(NOT_FLOAT, theme().muted)])
    }
}
