//! Pieces shared by the panes.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Dataset, GraphType};

use super::theme::theme;

/// A bordered block with a title, as every panel has.
pub fn panel(title: &str) -> Block<'_> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme().border)
        .title(Span::styled(format!(" {title} "), theme().title))
}

/// The panes' two columns: controls and figures on the left, pictures on
/// the right; the left one narrows on a narrow terminal.
pub fn columns(area: Rect) -> [Rect; 2] {
    const LEFT: u16 = 46;
    const NARROW_LEFT: u16 = 40;
    const WIDE: u16 = 110;
    let left = if area.width >= WIDE { LEFT } else { NARROW_LEFT };
    Layout::horizontal([Constraint::Length(left), Constraint::Min(0)]).areas(area)
}

/// The height of a pane's control list: all of it when there is room, else
/// what is left after `reserve` rows (the list then scrolls), at least 3.
pub fn controls_height(count: usize, left: Rect, reserve: u16) -> u16 {
    (count as u16 + 2).min(left.height.saturating_sub(reserve)).max(3)
}

/// The first row a list or table of `visible` rows shows when `selected`
/// must be visible and it starts at the top (as ratatui scrolls a fresh state).
pub fn scroll_offset(selected: usize, visible: usize) -> usize {
    selected.saturating_sub(visible.saturating_sub(1))
}

/// A rectangle of at most `width` x `height`, centred in `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

/// "label  value" with the label padded to a column.
pub fn field<'a>(label: &str, width: usize, value: String) -> Line<'a> {
    Line::from(vec![Span::styled(format!("{label:<width$}"), theme().label), Span::styled(value, theme().value)])
}

/// A chart series: its name (with a glyph, so the legend does not rely on colour), look and points.
pub fn dataset<'a>(name: String, marker: Marker, kind: GraphType, style: Style, data: &'a [(f64, f64)]) -> Dataset<'a> {
    Dataset::default().name(name).marker(marker).graph_type(kind).style(style).data(data)
}

/// Which table columns to show in `width` cells: columns are dropped in
/// `drop_order` until the rest fit, so a narrow terminal shows fewer columns
/// rather than cut numbers.
pub fn fitting(width: u16, widths: &[u16], drop_order: &[usize]) -> Vec<bool> {
    let mut keep = vec![true; widths.len()];
    let need = |keep: &[bool]| widths.iter().zip(keep).filter(|(_, k)| **k).map(|(w, _)| w + 1).sum::<u16>();
    for &i in drop_order {
        if need(&keep) <= width {
            break;
        }
        keep[i] = false;
    }
    keep
}

/// Each column's width in characters: its widest cell, the header included
/// (every row as long as the first).
pub fn content_widths(rows: &[Vec<String>]) -> Vec<u16> {
    let columns = rows.first().map_or(0, Vec::len);
    (0..columns).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0) as u16).collect()
}

/// The first of `variants` (longest first) no wider than `width` cells, else
/// the last: a line that does not fit is said shorter, never cut mid-number.
pub fn fitting_line(width: u16, variants: Vec<Line<'_>>) -> Line<'_> {
    let n = variants.len();
    variants
        .into_iter()
        .enumerate()
        .find(|(i, l)| l.width() <= width as usize || i + 1 == n)
        .map(|(_, l)| l)
        .unwrap_or_default()
}

/// A table's column widths and the columns kept in `width` cells: every
/// column's content plus two cells of air, or one, when all fit so; else the
/// bare content, dropping columns in `drop_order` until the rest fit.
pub fn table_widths(width: u16, content: &[u16], drop_order: &[usize]) -> (Vec<u16>, Vec<bool>) {
    for air in [2, 1] {
        let airy: Vec<u16> = content.iter().map(|w| w + air).collect();
        if airy.iter().map(|w| w + 1).sum::<u16>() <= width {
            return (airy, vec![true; content.len()]);
        }
    }
    (content.to_vec(), fitting(width, content, drop_order))
}

/// The first of `titles` (longest first) that fits a panel `width` cells wide,
/// else the last: a title is shortened as a whole, never cut mid-number.
pub fn fitting_title(width: u16, titles: &[String]) -> String {
    let room = width.saturating_sub(4) as usize; // the corners and a space either side
    titles.iter().find(|t| t.chars().count() <= room).or(titles.last()).cloned().unwrap_or_default()
}

/// The items whose column is kept.
pub fn kept<T>(items: impl IntoIterator<Item = T>, keep: &[bool]) -> Vec<T> {
    items.into_iter().zip(keep).filter(|(_, k)| **k).map(|(item, _)| item).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_dropped_in_order_until_the_rest_fit() {
        let widths = [4, 8, 8, 6];
        assert_eq!(fitting(40, &widths, &[3, 1]), vec![true; 4]);
        assert_eq!(fitting(25, &widths, &[3, 1]), vec![true, true, true, false]);
        assert_eq!(fitting(12, &widths, &[3, 1]), vec![true, false, true, false]);
        assert_eq!(kept(["a", "b", "c", "d"], &[true, false, true, false]), vec!["a", "c"]);
    }

    #[test]
    fn widths_follow_the_content_and_titles_shorten_whole() {
        let rows = vec![vec!["#".to_string(), "size".into()], vec!["ens stacking".into(), "111.0 KiB".into()]];
        assert_eq!(content_widths(&rows), vec![12, 9]);
        let titles = ["By width (f32: 3.7 KiB)".to_string(), "f32 3.7 KiB".into()];
        assert_eq!(fitting_title(27, &titles), titles[0]);
        assert_eq!(fitting_title(26, &titles), titles[1]);
        let line = |t: &'static str| Line::raw(t);
        assert_eq!(fitting_line(10, vec![line("test 86.67% (26/30)"), line("86.67%")]), line("86.67%"));
        assert_eq!(fitting_line(30, vec![line("test 86.67% (26/30)"), line("86.67%")]), line("test 86.67% (26/30)"));
        assert_eq!(table_widths(30, &[4, 9], &[1]), (vec![6, 11], vec![true, true]));
        assert_eq!(table_widths(17, &[4, 9], &[1]), (vec![5, 10], vec![true, true]));
        assert_eq!(table_widths(12, &[4, 9], &[1]), (vec![4, 9], vec![true, false]));
    }
}
