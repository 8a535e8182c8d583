//! The Ensemble pane: controls, the members table, accuracy gauges, the
//! confusion matrix, member accuracies beside the ensemble's, and diversity.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Stylize;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Cell, Gauge, Paragraph, Row, Table, TableState, Wrap};

use super::quant::draw_controls;
use super::theme::theme;
use super::widgets::{columns, controls_height, field, fitting, kept, panel};
use crate::app::App;
use crate::compute::ensemble::{EnsembleReport, Fusion, MemberKind};
use crate::format::{self, num};
use crate::worker::EnsembleView;

/// The members table: its rows, a header and the border, within limits.
pub fn members_height(members: usize) -> u16 {
    (members as u16 + 3).clamp(4, 14)
}

/// Rows the left column keeps for the data panel below the controls.
pub const RESERVED_ROWS: u16 = 8;

/// The disagreement matrix shows at most this many members.
const MATRIX_MEMBERS: u16 = 7;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let [left, right] = columns(area);
    let controls = app.controls();
    let controls_height = controls_height(controls.len(), left, RESERVED_ROWS);
    let members = app.ensemble.as_ref().map_or(0, |e| e.report.members.len()) as u16;
    let diversity_height = if members > 1 { members.min(MATRIX_MEMBERS) + 3 } else { 0 };
    let [controls_area, data_area, diversity_area, notes_area] = Layout::vertical([
        Constraint::Length(controls_height),
        Constraint::Length(6),
        Constraint::Length(diversity_height),
        Constraint::Min(0),
    ])
    .areas(left);
    draw_controls(frame, app, &controls, "Ensemble", controls_area);
    let Some(view) = &app.ensemble else {
        let text = if app.busy() { "training the members ..." } else { "no result yet" };
        frame.render_widget(Paragraph::new(text).style(theme().muted).block(panel("Result")), right);
        return;
    };
    let r = &view.report;
    draw_data(frame, view, data_area);
    if r.members.len() > 1 {
        draw_diversity(frame, r, diversity_area);
    }
    draw_notes(frame, r, notes_area);
    let members_height = members_height(r.members.len());
    let [members_area, gauges_area, scores_area, bottom] = Layout::vertical([
        Constraint::Length(members_height),
        Constraint::Length(3),
        Constraint::Length(4),
        Constraint::Min(0),
    ])
    .areas(right);
    draw_members(frame, app, r, members_area);
    draw_gauges(frame, view, gauges_area);
    draw_scores(frame, r, scores_area);
    let [confusion_area, bars_area] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(bottom);
    draw_confusion(frame, r, confusion_area);
    draw_bars(frame, r, bars_area);
}

fn draw_data(frame: &mut Frame, view: &EnsembleView, area: Rect) {
    let d = &view.data;
    const W: usize = 9;
    let lines = vec![
        field("data", W, format!("{} ({} rows × {} features)", d.source, d.rows, d.features)),
        field("classes", W, d.class_names.join(", ")),
        field(
            "split",
            W,
            format!("{} train / {} test, {}-fold cv", d.train_rows, d.test_rows, view.settings.data.folds),
        ),
        field(
            "trained",
            W,
            if view.trained == 0 {
                "nothing: every member cached".into()
            } else {
                format!("{} member(s)", view.trained)
            },
        ),
    ];
    frame.render_widget(Paragraph::new(lines).block(panel("Data")), area);
}

/// Pairwise disagreement on the test rows: members that never disagree add
/// nothing to a vote. The first `MATRIX_MEMBERS` members are shown.
fn draw_diversity(frame: &mut Frame, r: &EnsembleReport, area: Rect) {
    let n = r.members.len().min(MATRIX_MEMBERS as usize);
    let mut header = vec![Cell::from("")];
    header.extend((0..n).map(|j| Cell::from(format!("#{}", j + 1))));
    let rows = r.disagreement.iter().take(n).enumerate().map(|(i, row)| {
        let mut cells = vec![Cell::from(format!("#{}", i + 1))];
        cells.extend(
            row.iter()
                .take(n)
                .enumerate()
                .map(|(j, &d)| Cell::from(if i == j { "·".to_string() } else { format!("{:.0}%", 100.0 * d) })),
        );
        Row::new(cells)
    });
    let widths = vec![Constraint::Length(5); n + 1];
    let title = format!("Disagreement, mean {}", format::pct(r.mean_disagreement));
    let table = Table::new(rows, widths).header(Row::new(header).style(theme().header)).block(panel(&title));
    frame.render_widget(table, area);
}

/// What the user must not miss: fallbacks, the wrong fusion, the meta-learner.
fn draw_notes(frame: &mut Frame, r: &EnsembleReport, area: Rect) {
    let mut lines = Vec::new();
    if r.no_members {
        lines.push(Line::styled("⚠ no members: press a to add one", theme().warning));
    }
    if r.weights_fell_back {
        lines.push(Line::styled("⚠ every weight is 0: using equal weights", theme().warning));
    }
    if r.label_mean_invalid {
        lines.push(Line::styled(
            "⚠ label-mean averages class numbers (the seed's code): votes for 0 and 2 become 1. Not valid for class labels.",
            theme().warning,
        ));
        if let Some(soft) = r.soft_test_accuracy {
            lines.push(Line::styled(format!("  soft voting would score {}", format::pct(soft)), theme().note));
        }
    }
    for note in &r.notes {
        lines.push(Line::styled(format!("• {note}"), theme().note));
    }
    if let Some(influence) = &r.stacking_influence {
        let parts: Vec<String> =
            influence.iter().enumerate().map(|(i, v)| format!("#{} {}", i + 1, format::pct(*v))).collect();
        lines.push(Line::styled(format!("• meta-learner influence: {}", parts.join("  ")), theme().note));
    }
    if lines.is_empty() {
        lines.push(Line::styled("✓ nothing looks wrong", theme().info));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(panel("Notes")), area);
}

fn draw_members(frame: &mut Frame, app: &App, r: &EnsembleReport, area: Rect) {
    const WIDTHS: [u16; 8] = [4, 9, 6, 6, 7, 7, 8, 15];
    // Narrow: the share, the depth, the weight go first (the controls show them).
    let keep = fitting(area.width.saturating_sub(2), &WIDTHS, &[5, 3, 4, 2]);
    let rows = r.members.iter().enumerate().map(|(i, m)| {
        let marker = if i == app.member { "▶" } else { " " };
        let depth = match (m.kind, m.max_depth) {
            (MemberKind::Logistic, _) => "-".to_string(),
            (_, 0) => "∞".to_string(),
            (_, d) => d.to_string(),
        };
        let row = Row::new(kept(
            [
                Cell::from(format!("{marker}{}", i + 1)),
                Cell::from(m.kind.to_string()),
                Cell::from(if m.kind == MemberKind::Forest { m.trees.to_string() } else { "-".into() }),
                Cell::from(depth),
                Cell::from(num(m.weight)),
                Cell::from(format::pct(m.normalized_weight)),
                Cell::from(format::pct(m.test_accuracy)),
                Cell::from(format!("{} ±{}", format::pct(m.cv_accuracy_mean), format::pct(m.cv_accuracy_std))),
            ],
            &keep,
        ));
        if i == app.member { row.style(theme().selected) } else { row }
    });
    let header = Row::new(kept(["#", "kind", "trees", "depth", "weight", "share", "test", "cv mean ± std"], &keep))
        .style(theme().header);
    let widths = kept(WIDTHS.map(Constraint::Length), &keep);
    let title = format!("Members ({}), fusion {}", r.members.len(), r.fusion);
    // The table state scrolls the selected member into view.
    let mut state = TableState::default().with_selected(Some(app.member));
    frame.render_stateful_widget(Table::new(rows, widths).header(header).block(panel(&title)), area, &mut state);
}

fn draw_gauges(frame: &mut Frame, view: &EnsembleView, area: Rect) {
    let r = &view.report;
    let [test, cv] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let correct = (r.test_accuracy * view.data.test_rows as f64).round() as usize;
    let test_label = format!("test {} ({correct}/{})", format::pct(r.test_accuracy), view.data.test_rows);
    let cv_label = format!("cv {} ± {}", format::pct(r.cv_accuracy_mean), format::pct(r.cv_accuracy_std));
    let gauge = |label: String, ratio: f64, title: &'static str| {
        Gauge::default().block(panel(title)).gauge_style(theme().weights).ratio(ratio.clamp(0.0, 1.0)).label(label)
    };
    frame.render_widget(gauge(test_label, r.test_accuracy, "Test accuracy"), test);
    frame.render_widget(gauge(cv_label, r.cv_accuracy_mean, "Cross-validated"), cv);
}

fn draw_scores(frame: &mut Frame, r: &EnsembleReport, area: Rect) {
    let gain = 100.0 * r.gain;
    let gain_style = if gain > 0.0 {
        theme().info
    } else if gain < 0.0 {
        theme().warning
    } else {
        theme().value
    };
    let lines = vec![
        Line::from(vec![
            Span::styled("macro precision ", theme().label),
            Span::styled(format!("{:.3}", r.precision_macro), theme().value),
            Span::styled("  recall ", theme().label),
            Span::styled(format!("{:.3}", r.recall_macro), theme().value),
            Span::styled("  F1 ", theme().label),
            Span::styled(format!("{:.3}", r.f1_macro), theme().value),
        ]),
        Line::from(vec![
            Span::styled("gain over the best member ", theme().label),
            Span::styled(format!("{gain:+.2} points"), gain_style),
            Span::styled(format!("   (best member {})", format::pct(r.best_member_test_accuracy)), theme().label),
        ]),
    ];
    frame.render_widget(Paragraph::new(lines).block(panel("Scores (test split)")), area);
}

fn draw_confusion(frame: &mut Frame, r: &EnsembleReport, area: Rect) {
    // Class names as wide as the columns allow.
    let columns = r.class_names.len() as u16 + 1;
    let width = (area.width.saturating_sub(2) / columns.max(1)).saturating_sub(1).max(3) as usize;
    let short = |name: &String| name.chars().take(width).collect::<String>();
    let mut header = vec![Cell::from("true→pred")];
    header.extend(r.class_names.iter().map(|n| Cell::from(short(n))));
    let rows = r.confusion.iter().zip(&r.class_names).enumerate().map(|(i, (row, name))| {
        let mut cells = vec![Cell::from(short(name))];
        // The diagonal is right: marked with brackets, not only by colour.
        cells.extend(
            row.iter()
                .enumerate()
                .map(|(j, &n)| if i == j { Cell::from(format!("[{n}]")).bold() } else { Cell::from(n.to_string()) }),
        );
        Row::new(cells)
    });
    let widths = vec![Constraint::Length(width as u16); columns as usize];
    let table =
        Table::new(rows, widths).header(Row::new(header).style(theme().header)).block(panel("Confusion (test)"));
    frame.render_widget(table, area);
}

/// Accuracies differ by a few points: the bars start below the lowest one
/// (the scale is in the title) so the differences can be seen.
fn draw_bars(frame: &mut Frame, r: &EnsembleReport, area: Rect) {
    let all: Vec<f64> = r.members.iter().map(|m| m.test_accuracy).chain([r.test_accuracy]).collect();
    let lowest = all.iter().copied().fold(1.0, f64::min);
    let floor = ((lowest - 0.1).max(0.0) * 10.0).floor() / 10.0;
    let bar = |label: String, accuracy: f64, style| {
        Bar::default()
            .label(Line::from(label))
            .value((1000.0 * (accuracy - floor)).round().max(0.0) as u64)
            .text_value(format::pct(accuracy))
            .style(style)
    };
    let mut bars: Vec<Bar> = r
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| bar(format!("#{}", i + 1), m.test_accuracy, theme().weights))
        .collect();
    bars.push(bar("ens".into(), r.test_accuracy, theme().optimum));
    let width = (area.width.saturating_sub(2) / (bars.len() as u16).max(1)).saturating_sub(1).clamp(3, 9);
    let what = if r.fusion == Fusion::LabelMean { " (ens: label-mean!)" } else { "" };
    let title = format!("Test accuracy from {}{what}", format::pct(floor));
    let chart = BarChart::default()
        .block(panel(&title))
        .data(BarGroup::default().bars(&bars))
        .bar_width(width)
        .bar_gap(1)
        .max((1000.0 * (1.0 - floor)).round() as u64);
    frame.render_widget(chart, area);
}
