//! Pieces shared by the panes.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Chart, Dataset, GraphType, Paragraph};

use super::theme::theme;
use crate::format;

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

/// A chart series without a legend entry (the panel's legend names it).
pub fn series<'a>(marker: Marker, kind: GraphType, style: Style, data: &'a [(f64, f64)]) -> Dataset<'a> {
    Dataset::default().marker(marker).graph_type(kind).style(style).data(data)
}

/// The first title that fits the top border of a panel `width` wide, else the last.
pub fn fitting_title<'a>(titles: &[&'a str], width: u16) -> &'a str {
    let room = width.saturating_sub(4) as usize;
    titles.iter().copied().find(|t| Span::raw(*t).width() <= room).or(titles.last().copied()).unwrap_or_default()
}

/// Draws `chart` in a panel with its legend beneath it, where it covers no
/// data: in the bottom border, and in rows above it when that is too narrow.
pub fn draw_chart(frame: &mut Frame, chart: Chart, title: &str, legend: &[Span<'static>], area: Rect) {
    let mut lines = legend_lines(legend, area.width.saturating_sub(4));
    let mut block = panel(title);
    if let Some(last) = lines.pop() {
        let mut spans = vec![Span::raw(" ")];
        spans.extend(last.spans);
        spans.push(Span::raw(" "));
        block = block.title_bottom(Line::from(spans));
    }
    let inner = block.inner(area);
    let [chart_area, rows] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(lines.len() as u16)]).areas(inner);
    frame.render_widget(block, area);
    frame.render_widget(chart, chart_area);
    frame.render_widget(Paragraph::new(lines), rows);
}

/// Legend entries in lines of at most `width` columns, two spaces apart;
/// an entry is never split.
pub fn legend_lines(entries: &[Span<'static>], width: u16) -> Vec<Line<'static>> {
    let mut lines: Vec<Line<'static>> = Vec::new();
    for entry in entries {
        match lines.last_mut() {
            Some(line) if line.width() + 2 + entry.width() <= width as usize => {
                line.spans.push(Span::raw("  "));
                line.spans.push(entry.clone());
            }
            _ => lines.push(Line::from(entry.clone())),
        }
    }
    lines
}

/// A label of a chart axis, written to fit the room the chart gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Tick {
    Num(f64),
    Count(u64),
    /// Shown whole or not at all.
    Text(String),
}

impl Tick {
    fn within(&self, width: u16) -> Option<String> {
        let width = width as usize;
        match self {
            Tick::Num(v) => format::fit(*v, width),
            Tick::Count(n) => format::fit_count(*n, width),
            Tick::Text(t) => (Span::raw(t.as_str()).width() <= width).then(|| t.clone()),
        }
    }
}

/// The x and y labels of a `Chart` drawn `width` columns wide, each written
/// to fit where ratatui puts it, so none is cut: the y labels and the first
/// x label share the columns left of the y axis (at most a third of the
/// width), the other x labels an equal share of the rest each. The middle x
/// labels go when the end ones would not fit beside them.
pub fn chart_labels(width: u16, x: &[Tick], y: &[Tick]) -> (Vec<Span<'static>>, Vec<Span<'static>>) {
    let left_max = width / 3;
    let y: Vec<String> = y.iter().map(|t| t.within(left_max).unwrap_or_default()).collect();
    let y_width = y.iter().map(|s| Span::raw(s.as_str()).width()).max().unwrap_or(0) as u16;
    let all = x_labels(width, left_max, y_width, x);
    let x = if all.iter().all(Option::is_some) || x.len() <= 2 {
        all
    } else {
        x_labels(width, left_max, y_width, &[x[0].clone(), x[x.len() - 1].clone()])
    };
    let spans = |labels: Vec<String>| labels.into_iter().map(Span::raw).collect();
    (spans(x.into_iter().map(Option::unwrap_or_default).collect()), spans(y))
}

/// The x labels at the widths ratatui's `Chart` gives them; `None` where one does not fit.
fn x_labels(width: u16, left_max: u16, y_width: u16, ticks: &[Tick]) -> Vec<Option<String>> {
    let Some((first, rest)) = ticks.split_first() else { return Vec::new() };
    let first = first.within(left_max + 1);
    let first_width = first.as_deref().map_or(0, |s| Span::raw(s).width() as u16);
    let left = y_width.max(first_width.saturating_sub(1)).min(left_max);
    let share = width.saturating_sub(left + 1) / ticks.len() as u16;
    let mut labels = vec![first];
    for (i, tick) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        labels.push(tick.within(if last { share } else { share.saturating_sub(1) }));
    }
    labels
}

/// `text` in at most `width` columns: whole, or with its middle replaced by
/// "…" so that both ends, which tell similar names apart, stay.
pub fn shorten_middle(text: &str, width: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let head = (width - 1) / 2;
    let tail = width - 1 - head;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
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
    fn long_names_lose_their_middle() {
        assert_eq!(shorten_middle("short", 10), "short");
        assert_eq!(shorten_middle("model.layers.10.self_attn.q_proj.weight", 20), "model.lay…roj.weight");
        assert_eq!(shorten_middle("abcdef", 5).chars().count(), 5);
        assert_eq!(shorten_middle("abcdef", 0), "");
    }

    #[test]
    fn legend_entries_are_packed_whole() {
        let entries = [Span::raw("⣿ rounding 10000"), Span::raw("█ clipped 1580")];
        let text = |lines: Vec<Line>| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        assert_eq!(text(legend_lines(&entries, 40)), ["⣿ rounding 10000  █ clipped 1580"]);
        assert_eq!(text(legend_lines(&entries, 20)), ["⣿ rounding 10000", "█ clipped 1580"]);
    }

    #[test]
    fn the_first_title_that_fits_is_chosen() {
        let titles = ["MSE (log) vs clip, × min-max", "MSE (log) vs clip"];
        assert_eq!(fitting_title(&titles, 40), titles[0]);
        assert_eq!(fitting_title(&titles, 20), titles[1]);
        assert_eq!(fitting_title(&titles, 5), titles[1]);
    }

    /// Draws a chart with fitted labels and returns its label row and its left column.
    fn drawn_labels(width: u16, x: &[Tick], y: &[Tick]) -> (String, String) {
        use ratatui::widgets::Axis;
        let (x, y) = chart_labels(width, x, y);
        let chart = Chart::new(vec![])
            .x_axis(Axis::default().bounds([0.0, 1.0]).labels(x))
            .y_axis(Axis::default().bounds([0.0, 1.0]).labels(y));
        let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, 8)).unwrap();
        terminal.draw(|f| f.render_widget(chart, f.area())).unwrap();
        let buffer = terminal.backend().buffer();
        let row = |y: u16| (0..width).map(|x| buffer[(x, y)].symbol()).collect::<String>();
        let left_of_axis = |y: u16| row(y).chars().take_while(|c| !"│└".contains(*c)).collect::<String>();
        (row(7), (0..7).map(left_of_axis).collect::<Vec<_>>().join(" "))
    }

    #[test]
    fn chart_labels_are_drawn_whole_at_any_width() {
        let x = [Tick::Num(-0.01467), Tick::Text("0".into()), Tick::Num(0.01467)];
        let y = [Tick::Count(0), Tick::Text("log".into()), Tick::Count(1_234_567)];
        for width in [14, 18, 20, 26, 36, 70] {
            let (row, left) = drawn_labels(width, &x, &y);
            let words: Vec<&str> = row.split_whitespace().collect();
            let (lo, hi) = (words[0], words[words.len() - 1]);
            assert!(lo.starts_with("-0.01") || lo.starts_with("-1"), "{width}: {row:?}");
            assert!(hi.starts_with("0.01") || hi.starts_with("1"), "{width}: {row:?}");
            for word in [lo, hi] {
                let v: f64 = word.parse().unwrap_or_else(|_| panic!("{width}: {word:?} in {row:?}"));
                assert!((v.abs() - 0.01467).abs() < 0.006, "{width}: {word} in {row:?}");
            }
            assert!(left.contains("log"), "{width}: {left:?}");
            let top = left.split_whitespace().next().unwrap();
            assert!(top == "1234567" || top.ends_with("e6"), "{width}: {top:?} of {left:?}");
        }
        let (wide, _) = drawn_labels(70, &x, &y);
        assert!(wide.contains("-0.01467") && wide.contains(" 0 ") && wide.trim_end().ends_with("0.01467"), "{wide}");
    }

    #[test]
    fn widths_follow_the_content_and_titles_shorten_whole() {
        let rows = vec![vec!["#".to_string(), "size".into()], vec!["ens stacking".into(), "111.0 KiB".into()]];
        assert_eq!(content_widths(&rows), vec![12, 9]);
        let titles = ["By width (f32: 3.7 KiB)", "f32 3.7 KiB"];
        assert_eq!(fitting_title(&titles, 27), titles[0]);
        assert_eq!(fitting_title(&titles, 26), titles[1]);
        let line = |t: &'static str| Line::raw(t);
        assert_eq!(fitting_line(10, vec![line("test 86.67% (26/30)"), line("86.67%")]), line("86.67%"));
        assert_eq!(fitting_line(30, vec![line("test 86.67% (26/30)"), line("86.67%")]), line("test 86.67% (26/30)"));
        assert_eq!(table_widths(30, &[4, 9], &[1]), (vec![6, 11], vec![true, true]));
        assert_eq!(table_widths(17, &[4, 9], &[1]), (vec![5, 10], vec![true, true]));
        assert_eq!(table_widths(12, &[4, 9], &[1]), (vec![4, 9], vec![true, false]));
    }
}
