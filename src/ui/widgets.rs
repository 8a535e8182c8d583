//! Pieces shared by the panes.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType};

use super::theme::THEME;

/// A bordered block with a title, as every panel has.
pub fn panel(title: &str) -> Block<'_> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(THEME.border)
        .title(Span::styled(format!(" {title} "), THEME.title))
}

/// A rectangle of at most `width` x `height`, centred in `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

/// "label  value" with the label padded to a column.
pub fn field<'a>(label: &str, width: usize, value: String) -> Line<'a> {
    Line::from(vec![Span::styled(format!("{label:<width$}"), THEME.label), Span::styled(value, THEME.value)])
}
