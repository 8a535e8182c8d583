//! The Deploy pane: the ensemble quantized with the Quantize pane's
//! settings, accuracy against bit width, and what each width costs.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Cell, Chart, GraphType, LegendPosition, Paragraph, Row, Table, Wrap};

use super::quant::draw_controls;
use super::theme::theme;
use super::widgets::{columns, controls_height, dataset, fitting, kept, panel};
use crate::app::App;
use crate::compute::deploy::DeployReport;
use crate::format;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let [left, right] = columns(area);
    let controls = app.controls();
    let [controls_area, notes_area] =
        Layout::vertical([Constraint::Length(controls_height(controls.len(), left, 0)), Constraint::Min(0)])
            .areas(left);
    draw_controls(frame, app, &controls, "Deploy", controls_area);
    let Some(view) = &app.ensemble else {
        let text = if app.busy() { "training the members ..." } else { "no result yet" };
        frame.render_widget(Paragraph::new(text).style(theme().muted).block(panel("Result")), right);
        return;
    };
    let d = &view.deploy;
    draw_notes(frame, d, notes_area);
    let table_height = (d.members.len() as u16 + 4).min(right.height / 2);
    let [table_area, bottom] = Layout::vertical([Constraint::Length(table_height), Constraint::Min(0)]).areas(right);
    let [chart_area, sizes_area] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(bottom);
    draw_table(frame, d, table_area);
    draw_chart(frame, d, chart_area);
    draw_sizes(frame, d, sizes_area);
}

fn points(v: f64) -> String {
    format!("{:+.2}", 100.0 * v)
}

/// Float against quantized, for every member and the ensemble.
fn draw_table(frame: &mut Frame, d: &DeployReport, area: Rect) {
    const WIDTHS: [u16; 8] = [11, 8, 8, 6, 8, 8, 6, 9];
    // Narrow: first the test-split differences, then the float test column.
    let keep = fitting(area.width.saturating_sub(2), &WIDTHS, &[3, 6, 1, 7]);
    let row = |name: String, ft: f64, qt: f64, fc: f64, qc: f64, qb: u64| {
        Row::new(kept(
            [
                Cell::from(name),
                Cell::from(format::pct(ft)),
                Cell::from(format::pct(qt)),
                Cell::from(points(qt - ft)),
                Cell::from(format::pct(fc)),
                Cell::from(format::pct(qc)),
                Cell::from(points(qc - fc)),
                Cell::from(format::bytes(qb)),
            ],
            &keep,
        ))
    };
    let mut rows: Vec<Row> = d
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            row(
                format!("#{}", i + 1),
                m.float_test_accuracy,
                m.quant_test_accuracy,
                m.float_cv_accuracy_mean,
                m.quant_cv_accuracy_mean,
                m.quant_bytes,
            )
        })
        .collect();
    rows.push(
        row(
            format!("ens {}", d.fusion),
            d.ensemble.float_test_accuracy,
            d.ensemble.quant_test_accuracy,
            d.ensemble.float_cv_accuracy_mean,
            d.ensemble.quant_cv_accuracy_mean,
            d.ensemble.quant_bytes,
        )
        .style(theme().value),
    );
    let header = Row::new(kept(["", "test f32", "test q", "Δ pts", "cv f32", "cv q", "Δ pts", "size q"], &keep))
        .style(theme().header);
    let widths = kept(WIDTHS.map(Constraint::Length), &keep);
    let title = format!("Float vs {}-bit quantized (f32 size {})", d.bits, format::bytes(d.ensemble.float_bytes));
    frame.render_widget(Table::new(rows, widths).header(header).block(panel(&title)), area);
}

/// Accuracy against width: the widths sit evenly on the x axis (2..8, 16).
fn draw_chart(frame: &mut Frame, d: &DeployReport, area: Rect) {
    let x = |i: usize| i as f64;
    let quant: Vec<(f64, f64)> =
        d.by_bits.iter().enumerate().map(|(i, b)| (x(i), 100.0 * b.cv_accuracy_mean)).collect();
    let last = x(d.by_bits.len().saturating_sub(1));
    let float =
        vec![(0.0, 100.0 * d.ensemble.float_cv_accuracy_mean), (last, 100.0 * d.ensemble.float_cv_accuracy_mean)];
    let lowest = quant.iter().map(|p| p.1).fold(100.0 * d.ensemble.float_cv_accuracy_mean, f64::min);
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
    let labels: Vec<Span> = d.by_bits.iter().map(|b| Span::raw(b.bits.to_string())).collect();
    let chart = Chart::new(datasets)
        .block(panel("CV accuracy (%) vs bits"))
        .x_axis(Axis::default().bounds([0.0, last]).labels(labels).style(theme().muted))
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

/// Every width's figures; the recommendation and the current width marked in words.
fn draw_sizes(frame: &mut Frame, d: &DeployReport, area: Rect) {
    const WIDTHS: [u16; 5] = [4, 7, 7, 8, 7];
    let keep = fitting(area.width.saturating_sub(2), &WIDTHS, &[1, 3]);
    let rows = d.by_bits.iter().map(|b| {
        let mut mark = String::new();
        if Some(b.bits) == d.recommended_bits {
            mark.push_str("◀ best");
        }
        if b.bits == d.bits {
            mark.push_str(if mark.is_empty() { "◀ now" } else { ", now" });
        }
        let row = Row::new(kept(
            [
                Cell::from(b.bits.to_string()),
                Cell::from(format::pct(b.test_accuracy)),
                Cell::from(format::pct(b.cv_accuracy_mean)),
                Cell::from(format::bytes(b.bytes)),
                Cell::from(mark),
            ],
            &keep,
        ));
        if Some(b.bits) == d.recommended_bits { row.style(theme().value) } else { row }
    });
    let header = Row::new(kept(["bits", "test", "cv", "size", ""], &keep)).style(theme().header);
    let widths = kept(WIDTHS.map(Constraint::Min), &keep);
    let title = format!("By width (f32: {})", format::bytes(d.ensemble.float_bytes));
    frame.render_widget(Table::new(rows, widths).header(header).block(panel(&title)), area);
}

fn draw_notes(frame: &mut Frame, d: &DeployReport, area: Rect) {
    let mut lines = vec![match d.recommended_bits {
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
    lines.push(Line::styled(
        "Features: one quantizer each, calibrated on the training rows; trees compare integer codes; fusion in float.",
        theme().muted,
    ));
    lines.extend(d.notes.iter().map(|n| Line::styled(format!("• {n}"), theme().note)));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(panel("Notes")), area);
}
