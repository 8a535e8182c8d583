//! The Formats pane: every number format on the tensor, one row each, and
//! SQNR against bits per weight with the Pareto front.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Cell, Chart, GraphType, Paragraph, Row, Table, TableState, Wrap};

use super::quant::draw_controls;
use super::theme::theme;
use super::widgets::{Tick, chart_labels, content_widths, draw_chart, kept, panel, series, table_widths};
use crate::app::{App, FormatsTable, HitMap};
use crate::compute::formats::table::{Column, FormatRow, pareto};
use crate::format::{self, num};

pub fn draw(frame: &mut Frame, app: &App, area: Rect, hits: &mut HitMap) {
    let Some(table) = app.formats_table() else {
        let text = if app.busy() || app.view.is_some() { "measuring every format ..." } else { "no result yet" };
        frame.render_widget(Paragraph::new(text).style(theme().muted).block(panel("Formats")), area);
        return;
    };
    let height = (table.total as u16 + 3).min(area.height * 3 / 5);
    let [top, bottom] = Layout::vertical([Constraint::Length(height), Constraint::Min(0)]).areas(area);
    let [left, right] = Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(bottom);
    let [controls_area, notes_area] = Layout::vertical([Constraint::Length(3), Constraint::Min(0)]).areas(left);
    let controls = app.controls();
    draw_controls(frame, app, &controls, "Make current", controls_area, hits);
    let current = table.current(&app.settings);
    draw_table(frame, app, table, current, top);
    draw_notes(frame, table, current, notes_area);
    draw_scatter(frame, table, current, right);
}

/// The cells of one row; a format that cannot apply says so in its mse cell.
fn cells(row: &FormatRow, front: bool) -> Vec<String> {
    let mark = if front { "*" } else { "" }.to_string();
    let m = &row.metrics;
    if row.error.is_some() {
        return vec![
            mark,
            row.name.clone(),
            num(row.bpw),
            "-".into(),
            "n/a".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
        ];
    }
    vec![
        mark,
        row.name.clone(),
        num(row.bpw),
        format::bytes(row.bytes),
        num(m.mse),
        format::db(m.sqnr_db.unwrap_or(f64::INFINITY)),
        num(m.max_abs_error),
        format::cosine(m.cosine),
        format::pct(m.clip_rate),
    ]
}

/// The header: the column sorted by is marked ▼.
fn header(sort: Column) -> Vec<String> {
    let titles = ["", "format", "bpw", "bytes", "mse", "sqnr", "max|e|", "cosine", "clip"];
    let sorted_at = Column::ALL.iter().position(|c| *c == sort).unwrap_or(0);
    titles
        .iter()
        .enumerate()
        .map(|(i, t)| if i == sorted_at && i > 0 { format!("{t}▼") } else { t.to_string() })
        .collect()
}

fn draw_table(frame: &mut Frame, app: &App, table: &FormatsTable, current: Option<usize>, area: Rect) {
    let front = pareto(&table.rows);
    let order = table.order(app.formats_sort);
    let mut all = vec![header(app.formats_sort)];
    all.extend(order.iter().map(|&i| cells(&table.rows[i], front[i])));
    // Narrow: the clip rate, then max|e|, bytes and cosine go before a number is cut.
    let (widths, keep) = table_widths(area.width.saturating_sub(2), &content_widths(&all), &[8, 6, 3, 7]);
    let rows = all[1..].iter().zip(&order).map(|(cells, &i)| {
        let row = Row::new(kept(cells.iter().cloned().map(Cell::from), &keep));
        if table.rows[i].error.is_some() { row.style(theme().muted) } else { row }
    });
    let head = Row::new(kept(all[0].iter().cloned().map(Cell::from), &keep)).style(theme().header);
    let widths = kept(widths.into_iter().map(Constraint::Length), &keep);
    let progress = if table.done() {
        format!("{} formats, * = Pareto front, s sorts", table.rows.len())
    } else {
        format!("{} of {} measured ...", table.rows.len(), table.total)
    };
    let title = format!("Every format on this tensor ({progress})");
    let selected = current.and_then(|c| order.iter().position(|&i| i == c));
    let widget = Table::new(rows, widths).header(head).block(panel(&title)).row_highlight_style(theme().selected);
    frame.render_stateful_widget(widget, area, &mut TableState::default().with_selected(selected));
}

/// The current row's settings, and why the rows that cannot apply do not.
fn draw_notes(frame: &mut Frame, table: &FormatsTable, current: Option<usize>, area: Rect) {
    let mut lines = vec![match current {
        Some(i) => {
            Line::styled(format!("{}: {}", table.rows[i].name, table.rows[i].format.format().summary()), theme().value)
        }
        None => Line::styled("the Quantize pane's settings match no row: ←→ picks one", theme().muted),
    }];
    for row in table.rows.iter().filter(|r| r.error.is_some()) {
        // The key is for settings files; here the row names what was tried.
        let why = row.error.as_deref().unwrap_or_default();
        let why = why.split_once(": ").filter(|(k, _)| k.starts_with("quant.")).map_or(why, |(_, m)| m);
        lines.push(Line::styled(format!("{}: {why}", row.name), theme().warning));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(panel("Notes")), area);
}

/// SQNR against bpw: every row a dot, the front a line, the current row a block.
fn draw_scatter(frame: &mut Frame, table: &FormatsTable, current: Option<usize>, area: Rect) {
    let measured: Vec<(usize, f64, f64)> = table
        .rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.error.is_none())
        .filter_map(|(i, r)| r.metrics.sqnr_db.map(|s| (i, r.bpw, s)))
        .collect();
    if measured.is_empty() {
        frame.render_widget(Paragraph::new("no figures yet").style(theme().muted).block(panel("SQNR vs bpw")), area);
        return;
    }
    let front = pareto(&table.rows);
    let dots: Vec<(f64, f64)> = measured.iter().map(|&(_, b, s)| (b, s)).collect();
    let mut line: Vec<(f64, f64)> = measured.iter().filter(|(i, _, _)| front[*i]).map(|&(_, b, s)| (b, s)).collect();
    line.sort_by(|a, b| a.0.total_cmp(&b.0));
    let here: Vec<(f64, f64)> =
        measured.iter().filter(|(i, _, _)| Some(*i) == current).map(|&(_, b, s)| (b, s)).collect();
    let (xmax, ymin, ymax) = measured
        .iter()
        .fold((0f64, f64::INFINITY, f64::NEG_INFINITY), |(x, lo, hi), p| (x.max(p.1), lo.min(p.2), hi.max(p.2)));
    let (ymin, ymax) = ((ymin - 2.0).floor(), (ymax + 2.0).ceil());
    let xmax = xmax.ceil().max(1.0);
    let datasets = vec![
        series(Marker::Braille, GraphType::Line, theme().optimum, &line),
        series(Marker::Dot, GraphType::Scatter, theme().curve, &dots),
        series(Marker::Block, GraphType::Scatter, theme().current, &here),
    ];
    let legend = [
        Span::styled("• format", theme().curve),
        Span::styled("⣀ Pareto front", theme().optimum),
        Span::styled("█ current", theme().current),
    ];
    let (x_labels, y_labels) = chart_labels(
        area.width.saturating_sub(2),
        &[Tick::Text("0".into()), Tick::Num(xmax / 2.0), Tick::Num(xmax)],
        &[Tick::Text(format!("{ymin:.0}")), Tick::Text(format!("{ymax:.0}"))],
    );
    let chart = Chart::new(datasets)
        .x_axis(Axis::default().bounds([0.0, xmax]).labels(x_labels).style(theme().muted))
        .y_axis(Axis::default().bounds([ymin, ymax]).labels(y_labels).style(theme().muted))
        .legend_position(None);
    draw_chart(frame, chart, "SQNR (dB) vs bits per weight", &legend, area);
}
