//! The Deploy pane: the ensemble quantized with the Quantize pane's
//! settings, accuracy against bit width, and what each width costs.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Cell, Chart, GraphType, LegendPosition, Paragraph, Row, Table, Wrap};

use super::ensemble::draw_no_members;
use super::quant::draw_controls;
use super::theme::theme;
use super::widgets::{columns, content_widths, controls_height, dataset, fitting_title, kept, panel, table_widths};
use crate::app::{App, HitMap};
use crate::compute::deploy::{Comparison, DeployReport};
use crate::format;

pub fn draw(frame: &mut Frame, app: &App, area: Rect, hits: &mut HitMap) {
    let [left, right] = columns(area);
    let controls = app.controls();
    let [controls_area, notes_area] =
        Layout::vertical([Constraint::Length(controls_height(controls.len(), left, 0)), Constraint::Min(0)])
            .areas(left);
    draw_controls(frame, app, &controls, "Deploy", controls_area, hits);
    let Some(view) = &app.ensemble else {
        let text = if app.busy() { "training the members ..." } else { "no result yet" };
        frame.render_widget(Paragraph::new(text).style(theme().muted).block(panel("Result")), right);
        return;
    };
    let d = &view.deploy;
    draw_notes(frame, d, notes_area);
    if d.members.is_empty() {
        draw_no_members(frame, right, NO_MEMBERS);
        return;
    }
    let table_height = (d.members.len() as u16 + 4).min(right.height / 2);
    let [table_area, bottom] = Layout::vertical([Constraint::Length(table_height), Constraint::Min(0)]).areas(right);
    let [chart_area, sizes_area] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(bottom);
    draw_table(frame, d, table_area);
    draw_chart(frame, d, chart_area);
    draw_sizes(frame, d, sizes_area);
}

const NO_MEMBERS: &str = "press 2, then a, to add one";

fn points(v: f64) -> String {
    format!("{:+.2}", 100.0 * v)
}

/// A figure of a table row; only an ensemble without members lacks them, and it has no table.
fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), format::pct)
}

fn delta(quantized: Option<f64>, float: Option<f64>) -> String {
    quantized.zip(float).map_or("-".into(), |(q, f)| points(q - f))
}

/// Float against quantized, for every member and the ensemble.
fn draw_table(frame: &mut Frame, d: &DeployReport, area: Rect) {
    let header = ["", "test f32", "test q", "Δ pts", "cv f32", "cv q", "Δ pts", "size q"].map(String::from);
    let row = |name: String, c: &Comparison| {
        vec![
            name,
            pct(c.float_test_accuracy),
            pct(c.quant_test_accuracy),
            delta(c.quant_test_accuracy, c.float_test_accuracy),
            pct(c.float_cv_accuracy_mean),
            pct(c.quant_cv_accuracy_mean),
            delta(c.quant_cv_accuracy_mean, c.float_cv_accuracy_mean),
            if d.error.is_some() { "-".into() } else { format::bytes(c.quant_bytes) },
        ]
    };
    let mut cells = vec![header.to_vec()];
    cells.extend(d.members.iter().enumerate().map(|(i, m)| row(format!("#{}", i + 1), m)));
    cells.push(row(format!("ens {}", d.fusion), &d.ensemble));
    // Narrow: first the test-split differences, then the float test column.
    let (widths, keep) = table_widths(area.width.saturating_sub(2), &content_widths(&cells), &[3, 6, 1, 7]);
    let last = cells.len() - 2;
    let rows = cells[1..].iter().enumerate().map(|(i, r)| {
        let row = Row::new(kept(r.iter().cloned().map(Cell::from), &keep));
        if i == last { row.style(theme().value) } else { row }
    });
    let header = Row::new(kept(cells[0].iter().cloned().map(Cell::from), &keep)).style(theme().header);
    let widths = kept(widths.into_iter().map(Constraint::Length), &keep);
    let f32_size = format::bytes(d.ensemble.float_bytes);
    let width = quantized_as(d);
    let titles = [
        format!("Float vs {width} quantized (f32 size {f32_size})"),
        format!("f32 ({f32_size}) vs {width}"),
        format!("f32 vs {width}"),
    ];
    let title = fitting_title(&titles.each_ref().map(String::as_str), area.width);
    frame.render_widget(Table::new(rows, widths).header(header).block(panel(title)), area);
}

/// What the quantized columns are: "8-bit" for int, the format's name for any other.
fn quantized_as(d: &DeployReport) -> String {
    if d.format.is_int() { format!("{}-bit", d.bits) } else { d.format.name().to_string() }
}

/// Accuracy against width: the widths sit evenly on the x axis (2..8, 16).
/// When the axis is too narrow for every width, only the ends are labelled.
fn draw_chart(frame: &mut Frame, d: &DeployReport, area: Rect) {
    let Some(float_cv) = d.ensemble.float_cv_accuracy_mean else { return };
    let x = |i: usize| i as f64;
    let quant: Vec<(f64, f64)> =
        d.by_bits.iter().enumerate().map(|(i, b)| (x(i), 100.0 * b.cv_accuracy_mean)).collect();
    // A format without `bits` has one row: its point sits at the left of a unit axis.
    let last = x(d.by_bits.len().saturating_sub(1)).max(1.0);
    let float = vec![(0.0, 100.0 * float_cv), (last, 100.0 * float_cv)];
    let lowest = quant.iter().map(|p| p.1).fold(100.0 * float_cv, f64::min);
    let (ymin, ymax) = ((lowest - 5.0).max(0.0).floor(), 100.0);
    let at = |bits: u32| d.by_bits.iter().position(|b| b.bits == bits).map(x);
    let current: Vec<(f64, f64)> = at(d.bits).map(|c| vec![(c, ymin), (c, ymax)]).unwrap_or_default();
    let recommended: Vec<(f64, f64)> =
        d.recommended_bits.and_then(at).map(|c| vec![(c, ymin), (c, ymax)]).unwrap_or_default();
    let mut datasets = vec![
        dataset("━ float".into(), Marker::Braille, GraphType::Line, theme().muted, &float),
        dataset("• quantized".into(), Marker::Braille, GraphType::Line, theme().curve, &quant),
        dataset("▌ current".into(), Marker::HalfBlock, GraphType::Line, theme().current, &current),
    ];
    if !recommended.is_empty() {
        datasets.push(dataset("┆ recommended".into(), Marker::Dot, GraphType::Line, theme().optimum, &recommended));
    }
    let title = fitting_title(&["CV accuracy (%) vs bits", "CV acc. (%)"], area.width);
    let chart = Chart::new(datasets)
        .block(panel(title))
        .x_axis(Axis::default().bounds([0.0, last]).labels(x_labels(d, area.width)).style(theme().muted))
        .y_axis(
            Axis::default()
                .bounds([ymin, ymax])
                .labels([Span::raw(format!("{ymin:.0}")), Span::raw(format!("{ymax:.0}"))])
                .style(theme().muted),
        )
        .legend_position(Some(LegendPosition::BottomRight))
        .hidden_legend_constraints((Constraint::Percentage(90), Constraint::Percentage(80)));
    frame.render_widget(chart, area);
}

/// Every width when each fits its slot on the axis, else the first and the
/// last. ratatui gives each of n labels `graph width / n` cells: the last is
/// right-aligned in a full slot, the others keep one cell free before them.
fn x_labels(d: &DeployReport, width: u16) -> Vec<Span<'static>> {
    let names: Vec<String> = d.by_bits.iter().map(|b| b.bits.to_string()).collect();
    // The borders and the y axis (its 3-character labels and its line) take six cells.
    let slot = width.saturating_sub(6) as usize / names.len().max(1);
    let last = names.last().map_or(0, String::len);
    let middle = names.iter().skip(1).rev().skip(1).map(String::len).max().unwrap_or(0);
    let shown: Vec<String> = if slot >= last.max(middle + 1) {
        names
    } else {
        [names.first(), names.last()].into_iter().flatten().cloned().collect()
    };
    shown.into_iter().map(Span::raw).collect()
}

/// Every width's figures; the recommendation and the current width marked in words.
fn draw_sizes(frame: &mut Frame, d: &DeployReport, area: Rect) {
    let room = area.width.saturating_sub(2);
    let cells_with = |both: &str| {
        let mut cells = vec![["bits", "test", "cv", "size", ""].map(String::from).to_vec()];
        cells.extend(d.by_bits.iter().map(|b| {
            let mark = match (Some(b.bits) == d.recommended_bits, b.bits == d.bits) {
                (true, true) => both,
                (true, false) => "◀ pick",
                (false, true) => "◀ now",
                (false, false) => "",
            };
            vec![
                b.bits.to_string(),
                format::pct(b.test_accuracy),
                format::pct(b.cv_accuracy_mean),
                format::bytes(b.bytes),
                mark.to_string(),
            ]
        }));
        let (widths, keep) = table_widths(room, &content_widths(&cells), &[1, 3]);
        let fits = kept(widths.iter(), &keep).into_iter().map(|w| w + 1).sum::<u16>() <= room + 1;
        (cells, widths, keep, fits)
    };
    // Where "◀ pick, now" would be cut, the row's highlight says "pick" and the mark "now".
    let (cells, widths, keep, fits) = cells_with("◀ pick, now");
    let (cells, widths, keep) = if fits {
        (cells, widths, keep)
    } else {
        let (c, w, k, _) = cells_with("◀ now");
        (c, w, k)
    };
    let rows = cells[1..].iter().zip(&d.by_bits).map(|(r, b)| {
        let row = Row::new(kept(r.iter().cloned().map(Cell::from), &keep));
        if Some(b.bits) == d.recommended_bits { row.style(theme().value) } else { row }
    });
    let header = Row::new(kept(cells[0].iter().cloned().map(Cell::from), &keep)).style(theme().header);
    let widths = kept(widths.into_iter().map(Constraint::Length), &keep);
    let f32_size = format::bytes(d.ensemble.float_bytes);
    let titles = [format!("By width (f32: {f32_size})"), "By width".into()];
    let title = fitting_title(&titles.each_ref().map(String::as_str), area.width);
    frame.render_widget(Table::new(rows, widths).header(header).block(panel(title)), area);
}

fn draw_notes(frame: &mut Frame, d: &DeployReport, area: Rect) {
    let mut lines = vec![match d.recommended_bits {
        _ if d.members.is_empty() => Line::styled(format!("⚠ no members: {NO_MEMBERS}"), theme().warning),
        _ if d.error.is_some() => {
            Line::styled(format!("⚠ {} cannot quantize the ensemble: no quantized figures", d.format), theme().warning)
        }
        // A format without bits has one row: nothing to pick between.
        Some(_) if d.by_bits.len() == 1 => Line::from(vec![
            Span::styled(format!("✓ {}", d.format), theme().value),
            Span::styled(format!(" is within {} points of float (CV)", format::num(d.tolerance)), theme().label),
        ]),
        Some(b) => Line::from(vec![
            Span::styled("✓ recommended: ", theme().info),
            Span::styled(format!("{b} bits"), theme().value),
            Span::styled(
                format!(", the smallest width within {} points of float (CV)", format::num(d.tolerance)),
                theme().label,
            ),
        ]),
        None => Line::styled(
            format!("⚠ no width is within {} points of float (CV)", format::num(d.tolerance)),
            theme().warning,
        ),
    }];
    let trees = if d.format.is_int() { "integer codes" } else { "x̂ of features and thresholds" };
    lines.push(Line::styled(
        format!(
            "Features: one quantizer each, calibrated on the training rows; trees compare {trees}; fusion in float."
        ),
        theme().muted,
    ));
    lines.extend(d.notes.iter().map(|n| Line::styled(format!("• {n}"), theme().note)));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(panel("Notes")), area);
}
