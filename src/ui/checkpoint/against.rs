//! The Checkpoint pane with `--against`: one row per original tensor
//! compared with its quantized copy (type, bpw, SQNR, relative RMSE,
//! max|e|, cosine and the plan's type at the same size), the file's totals,
//! the plan at the same size and every tensor not compared with its reason.
//! Each figure is one `scan --against --format json` prints.

use std::path::Path;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Cell, GraphType, Paragraph, Row, Table, TableState};

use super::{Points, draw_points, shorten_start};
use crate::app::{App, Comparison, Figure, Mode, SortKey};
use crate::compute::checkpoint::against::{Against, TensorAgainst, Unmatched};
use crate::format::{self, num};
use crate::ui::theme::theme;
use crate::ui::widgets::{content_widths, fitting_line, kept, panel, table_widths};

/// A column of the comparison's table.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Column {
    Name,
    /// The quantized file's name, shown only when some name differs.
    QuantizedName,
    Shape,
    Params,
    Type,
    Figure(Figure),
    /// The type the plan at the same size gives the tensor.
    Plan,
}

/// Narrow: the quantized names, the shape, the size, max|e|, the relative
/// RMSE (the SQNR says it too), the cosine, then bpw go before a number is cut.
const DROP_ORDER: [Column; 7] = [
    Column::QuantizedName,
    Column::Shape,
    Column::Params,
    Column::Figure(Figure::MaxError),
    Column::Figure(Figure::RelRmse),
    Column::Figure(Figure::Cosine),
    Column::Figure(Figure::Bpw),
];

/// The rows the table keeps at least when the tensors not compared are many.
const TABLE_MIN: u16 = 6;

pub(super) fn draw_table_and_totals(frame: &mut Frame, app: &App, c: &Comparison, area: Rect) {
    let width = area.width.saturating_sub(2);
    let (mut lines, unmatched) = totals_lines(c, width);
    // The tensors not compared take what the table can spare, the rest summed up.
    let room = area.height.saturating_sub(TABLE_MIN + 2 + lines.len() as u16) as usize;
    lines.extend(unmatched_lines(app, unmatched, width as usize, room));
    let footer = lines.len() as u16 + 2;
    let [table, totals] = Layout::vertical([Constraint::Min(0), Constraint::Length(footer)]).areas(area);
    draw_table(frame, app, c, table);
    let title = "This file, the plan at the same size, not compared";
    frame.render_widget(Paragraph::new(lines).block(panel(title)), totals);
}

fn columns(c: &Comparison) -> Vec<Column> {
    let renamed = c.rows.iter().any(|t| t.quantized_name != t.name);
    let mut out = vec![Column::Name];
    if renamed {
        out.push(Column::QuantizedName);
    }
    out.extend([Column::Shape, Column::Params, Column::Type]);
    out.extend([Figure::Bpw, Figure::Sqnr, Figure::RelRmse, Figure::MaxError, Figure::Cosine].map(Column::Figure));
    out.push(Column::Plan);
    out
}

fn title(column: Column, sort: SortKey, descending: bool) -> String {
    let (text, key) = match column {
        Column::Name => ("name".to_string(), Some(SortKey::Name)),
        Column::QuantizedName => ("in the file".into(), None),
        Column::Shape => ("shape".into(), None),
        Column::Params => ("params".into(), Some(SortKey::Params)),
        Column::Type => ("type".into(), None),
        Column::Figure(Figure::Sqnr) => ("dB".into(), Some(SortKey::Against(Figure::Sqnr))),
        Column::Figure(fig) => (fig.title().into(), Some(SortKey::Against(fig))),
        Column::Plan => ("plan".into(), None),
    };
    let mark = if descending { "▼" } else { "▲" };
    if key == Some(sort) { format!("{text}{mark}") } else { text }
}

/// One cell of a pair's row, as `scan --against` prints the figure.
fn cell(t: &TensorAgainst, column: Column, plan: Option<&str>, name_width: usize) -> String {
    match column {
        Column::Name => shorten_start(&t.name, name_width),
        Column::QuantizedName => shorten_start(&t.quantized_name, name_width),
        Column::Shape => format::shape(&t.shape),
        Column::Params => t.count.to_string(),
        Column::Type => t.type_name.clone(),
        Column::Figure(Figure::Sqnr) => t.sqnr_db.map_or("inf".into(), |db| format!("{db:.2}")),
        Column::Figure(Figure::RelRmse) => num(t.rel_rmse),
        Column::Figure(Figure::MaxError) => num(t.max_abs_error),
        Column::Figure(Figure::Cosine) => format::cosine(t.cosine),
        Column::Figure(Figure::Bpw) => num(t.bpw),
        Column::Plan => plan.unwrap_or("-").to_string(),
    }
}

fn draw_table(frame: &mut Frame, app: &App, c: &Comparison, area: Rect) {
    let pane = &app.checkpoint;
    let order = pane.order();
    let name_width = if area.width >= 120 { 36 } else { 24 };
    let columns = columns(c);
    let assignments = c.result.as_ref().and_then(|r| r.plan_at_same_size.as_ref()).map(|p| &p.assignments);
    let mut all = vec![columns.iter().map(|&col| title(col, pane.sort, pane.descending)).collect::<Vec<_>>()];
    all.extend(order.iter().map(|&i| {
        let t = &c.rows[i];
        let plan = assignments.and_then(|a| a.get(&t.name)).map(String::as_str);
        columns.iter().map(|&col| cell(t, col, plan, name_width)).collect()
    }));
    let drop: Vec<usize> = DROP_ORDER.iter().filter_map(|d| columns.iter().position(|col| col == d)).collect();
    let (widths, keep) = table_widths(area.width.saturating_sub(2), &content_widths(&all), &drop);
    let rows = all[1..].iter().zip(&order).map(|(cells, &i)| {
        let row = Row::new(kept(cells.iter().cloned().map(Cell::from), &keep));
        // Kept as it is by a scan (rank 1): compared, but not in the totals.
        if c.rows[i].in_totals { row } else { row.style(theme().muted) }
    });
    let head = Row::new(kept(all[0].iter().cloned().map(Cell::from), &keep)).style(theme().header);
    let widths = kept(widths.into_iter().map(Constraint::Length), &keep);
    let selected = (!order.is_empty()).then_some(pane.selected);
    let title = table_title(app, c, order.len());
    let widget = Table::new(rows, widths).header(head).block(panel(&title)).row_highlight_style(theme().selected);
    frame.render_stateful_widget(widget, area, &mut TableState::default().with_selected(selected));
}

/// The file's name alone: its folder is the command line's.
fn file_name(path: &str) -> String {
    Path::new(path).file_name().map_or(path.to_string(), |n| n.to_string_lossy().into_owned())
}

/// What the table shows: the copy, the progress or the count, the filter, the sort.
fn table_title(app: &App, c: &Comparison, shown: usize) -> String {
    let pane = &app.checkpoint;
    let copy = file_name(&c.source.quantized.display().to_string());
    let progress = if c.result.is_some() {
        format!("{} compared", c.rows.len())
    } else if c.total == 0 {
        "opening ...".to_string()
    } else {
        format!("{} of {} compared ...", c.rows.len(), c.total)
    };
    let filter = match (&app.mode, pane.filter.is_empty()) {
        (Mode::FilterTensors, _) => format!(", filter /{}▏", pane.filter),
        (_, false) => format!(", {shown} match {}", pane.filter),
        _ => String::new(),
    };
    format!("Tensors against {copy} ({progress}{filter}, by {})", pane.sort.title(&[]))
}

/// The file's totals and the plan at the same size, as `scan --against`
/// prints them; and the tensors not compared, once known.
fn totals_lines(c: &Comparison, width: u16) -> (Vec<Line<'static>>, &[Unmatched]) {
    let Some(result) = &c.result else {
        let planning = match c.planning {
            Some((done, total)) => format!("plan at the same size: scanning the original, {done} of {total} ..."),
            None => "plan at the same size: once every tensor is compared".into(),
        };
        let lines = vec![
            Line::styled("totals: once every tensor is compared", theme().muted),
            Line::styled(planning, theme().muted),
        ];
        return (lines, &[]);
    };
    let t = &result.totals;
    let copy = file_name(&result.path);
    let figures = format!("{}, {} bpw, {}", format::megabytes(t.bytes), num(t.bpw), sqnr_text(t.sqnr_db));
    // The totals are over the tensors a scan quantizes: the norms (rank 1) are left out.
    let variants = [
        format!("{copy}, its tensors of rank ≥ 2: {figures}"),
        format!("{copy}: {figures}"),
        format!("this file: {figures}"),
    ];
    let totals = fitting_line(width, variants.into_iter().map(|v| Line::styled(v, theme().value)).collect());
    (vec![totals, plan_line(result, width)], &result.unmatched)
}

fn sqnr_text(db: Option<f64>) -> String {
    format::db(db.unwrap_or(f64::INFINITY))
}

/// The plan at the same size: its figures and how many tensors get each type.
fn plan_line(result: &Against, width: u16) -> Line<'static> {
    let Some(p) = &result.plan_at_same_size else {
        let why = result.plan_note.as_deref().unwrap_or("none fits");
        return Line::styled(format!("plan at the same size: none: {why}"), theme().muted);
    };
    let figures = format!("{} bpw, {}", num(p.bpw), sqnr_text(p.sqnr_db));
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for f in p.assignments.values() {
        match counts.iter_mut().find(|(name, _)| name == f) {
            Some((_, n)) => *n += 1,
            None => counts.push((f, 1)),
        }
    }
    let counts: Vec<String> = counts.iter().map(|(f, n)| format!("{f} {n}")).collect();
    let variants = [
        format!("plan at the same size: {figures} ({})", counts.join(", ")),
        format!("plan at the same size: {figures}"),
        format!("plan: {figures}"),
    ];
    fitting_line(width, variants.into_iter().map(|v| Line::styled(v, theme().optimum)).collect())
}

/// The tensors not compared that pass the filter, "name: reason" wrapped
/// to `width` (never cut), in at most `room` lines: the last says how
/// many more there are when they do not all fit.
fn unmatched_lines(app: &App, unmatched: &[Unmatched], width: usize, room: usize) -> Vec<Line<'static>> {
    let shown: Vec<&Unmatched> = unmatched.iter().filter(|u| app.checkpoint.matches(&u.name)).collect();
    let mut lines = Vec::new();
    for (i, u) in shown.iter().enumerate() {
        let wrapped = wrap_words(&format!("not compared: {}: {}", u.name, u.reason), width);
        let rest = shown.len() - i;
        // Room for this one, and for the line saying how many more, if any follow.
        let needed = wrapped.len() + usize::from(rest > 1);
        if lines.len() + needed > room {
            if room > lines.len() {
                let more = format!("... {} more not compared (/ filters them)", rest);
                lines.push(Line::styled(wrap_words(&more, width).swap_remove(0), theme().muted));
            }
            break;
        }
        lines.extend(wrapped.into_iter().map(|l| Line::styled(l, theme().muted)));
    }
    lines
}

/// `text` in lines of at most `width` characters, broken at spaces (a word
/// longer than a line is broken where it must), continuations indented by two.
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    const INDENT: &str = "  ";
    let width = width.max(8);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut chars: Vec<char> = word.chars().collect();
        while !chars.is_empty() {
            let used = line.chars().count();
            let fresh = used == 0 || line == INDENT;
            let gap = usize::from(!fresh);
            if used + gap + chars.len() <= width {
                if !fresh {
                    line.push(' ');
                }
                line.extend(chars.drain(..));
            } else if !fresh {
                lines.push(std::mem::replace(&mut line, INDENT.into()));
            } else {
                line.extend(chars.drain(..width - used));
                lines.push(std::mem::replace(&mut line, INDENT.into()));
            }
        }
    }
    if !line.trim().is_empty() {
        lines.push(line);
    }
    lines
}

/// SQNR per tensor for the pictures: the pairs in the totals, with a finite SQNR.
pub(super) fn sqnrs(c: &Comparison) -> Vec<(&str, f64)> {
    c.rows.iter().filter(|t| t.in_totals).filter_map(|t| Some((t.name.as_str(), t.sqnr_db?))).collect()
}

/// The copy's name, for the pictures' titles.
pub(super) fn label(c: &Comparison) -> String {
    file_name(&c.source.quantized.display().to_string())
}

/// Model SQNR against bpw: this file and the plan at the same size.
pub(super) fn draw_pareto(frame: &mut Frame, c: &Comparison, area: Rect) {
    let result = c.result.as_deref();
    let file: Vec<(f64, f64)> = result.iter().filter_map(|r| Some((r.totals.bpw, r.totals.sqnr_db?))).collect();
    let plan: Vec<(f64, f64)> =
        result.and_then(|r| r.plan_at_same_size.as_ref()).iter().filter_map(|p| Some((p.bpw, p.sqnr_db?))).collect();
    let t = theme();
    let sets = [
        Points { name: "• this file", marker: Marker::Dot, kind: GraphType::Scatter, style: t.levels, data: &file },
        Points {
            name: "█ plan at the same size",
            marker: Marker::Block,
            kind: GraphType::Scatter,
            style: t.optimum,
            data: &plan,
        },
    ];
    draw_points(frame, area, "Model SQNR (dB) against bpw", &sets, "the totals once every tensor is compared");
}

#[cfg(test)]
mod tests {
    use super::wrap_words;

    #[test]
    fn words_wrap_at_spaces_and_nothing_is_lost() {
        let text = "not compared: position_ids: i64: not a float weight";
        assert_eq!(wrap_words(text, 80), [text]);
        let lines = wrap_words(text, 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert_eq!(lines[0], "not compared:");
        let joined: Vec<&str> = lines.iter().flat_map(|l| l.split_whitespace()).collect();
        assert_eq!(joined.join(" "), text);
        // A word longer than a line is broken, not cut.
        let long = wrap_words("a blk.0.a_very_long_tensor_name.weight", 12);
        assert!(long.iter().all(|l| l.chars().count() <= 12), "{long:?}");
        assert_eq!(long.concat().replace(' ', ""), "ablk.0.a_very_long_tensor_name.weight");
    }
}
