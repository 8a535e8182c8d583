//! The Quantize pane: controls, metrics, calibrations, findings, the three
//! pictures and the per-channel table.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, GraphType, List, ListItem, ListState, Paragraph, Row, Table, Wrap};

use super::theme::theme;
use super::widgets::{
    Tick, chart_labels, columns, controls_height, draw_chart, field, fitting, fitting_title, kept, panel, series,
    shorten_middle,
};
use crate::app::{App, HitMap, Target};
use crate::compute::analysis::{Analysis, Channel};
use crate::compute::diagnose::Severity;
use crate::compute::histogram::Histogram;
use crate::compute::metrics::metric;
use crate::compute::quant::Scheme;
use crate::controls::AnyControl;
use crate::format::{self, num};
use crate::worker::QuantView;

/// Quantization levels are drawn when there are at most this many.
const MAX_DRAWN_LEVELS: i64 = 64;
const METRICS_HEIGHT: u16 = 11;
/// Rows the left column keeps for the metrics below the controls.
const RESERVED_ROWS: u16 = METRICS_HEIGHT;

pub fn draw(frame: &mut Frame, app: &App, area: Rect, hits: &mut HitMap) {
    let [left, right] = columns(area);
    let controls = app.controls();
    let [controls_area, metrics_area, alternatives_area] = left_areas(controls.len(), left);
    draw_controls(frame, app, &controls, "Quantizer", controls_area, hits);
    let Some(view) = &app.view else {
        let text = if app.busy() { "loading the weights ..." } else { "no result yet" };
        frame.render_widget(Paragraph::new(text).style(theme().muted).block(panel("Result")), right);
        return;
    };
    draw_metrics(frame, view, metrics_area);
    draw_alternatives(frame, view, alternatives_area);
    let [weights_area, middle, findings_area, table_area] = right_areas(view, right);
    let [error_area, curve_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(middle);
    draw_weight_histogram(frame, app, view, weights_area);
    draw_error_histogram(frame, &view.analysis, error_area);
    draw_curve(frame, view, curve_area);
    draw_findings(frame, view, findings_area);
    if view.analysis.channels.len() > 1 {
        hits.channel_rows = table_rows(table_area);
        draw_channels(frame, app, &view.analysis, table_area);
    }
}

/// Controls, metrics and calibrations, top to bottom.
fn left_areas(controls: usize, left: Rect) -> [Rect; 3] {
    // On a short terminal the control list scrolls rather than pushing the metrics out.
    let controls_height = controls_height(controls, left, RESERVED_ROWS);
    Layout::vertical([Constraint::Length(controls_height), Constraint::Length(METRICS_HEIGHT), Constraint::Min(0)])
        .areas(left)
}

/// Weights, the two small charts, findings and (per channel) the table, top to bottom.
fn right_areas(view: &QuantView, right: Rect) -> [Rect; 4] {
    let text_width = right.width.saturating_sub(2).max(1) as usize;
    let wrapped: usize = view.findings.iter().map(|f| (f.message.chars().count() + 2).div_ceil(text_width)).sum();
    let findings = wrapped.clamp(1, 8) as u16 + 2;
    let per_channel = view.analysis.channels.len() > 1;
    Layout::vertical([
        Constraint::Percentage(if per_channel { 34 } else { 45 }),
        Constraint::Percentage(if per_channel { 33 } else { 55 }),
        Constraint::Length(findings),
        Constraint::Min(if per_channel { 5 } else { 0 }),
    ])
    .areas(right)
}

/// The rows of channels inside the table's border, below its header.
fn table_rows(table: Rect) -> usize {
    table.height.saturating_sub(3) as usize
}

/// A control's value in `room` columns: a note in parentheses ("(max of
/// ch.)") goes first, so a number is never cut; a long path or tensor name
/// then loses its middle, not its end.
fn fit_value(value: String, room: usize) -> String {
    if value.chars().count() <= room {
        return value;
    }
    match value.find(" (") {
        Some(i) if value[..i].chars().count() <= room => value[..i].to_string(),
        _ => shorten_middle(&value, room),
    }
}

/// The width of a control's label column.
const LABEL: usize = 14;

/// A pane's control list, each row a mouse target.
pub fn draw_controls(
    frame: &mut Frame,
    app: &App,
    controls: &[AnyControl],
    title: &str,
    area: Rect,
    hits: &mut HitMap,
) {
    let ctx = app.context();
    // Inside the border: the highlight symbol, the label and the arrows.
    let room = (area.width as usize).saturating_sub(2 + 2 + LABEL + 4);
    let items: Vec<ListItem> = controls
        .iter()
        .map(|&c| {
            let selected = c == app.selected();
            let value_style = if c.is_derived(&app.settings) { theme().derived } else { theme().value };
            let value = fit_value(c.value(&app.settings, ctx), room);
            ListItem::new(Line::from(vec![
                Span::styled(format!("{:<LABEL$}", c.label()), theme().label),
                Span::styled(if selected { format!("◀ {value} ▶") } else { format!("  {value}") }, value_style),
            ]))
        })
        .collect();
    let selected = controls.iter().position(|c| *c == app.selected());
    hits.add_rows(area, 0, selected.unwrap_or(0), controls.len(), Target::Control);
    let list = List::new(items).block(panel(title)).highlight_style(theme().selected).highlight_symbol("▶ ");
    frame.render_stateful_widget(list, area, &mut ListState::default().with_selected(selected));
}

/// The metric lines of the panel: each a figure with another beside it (keys of `METRICS`).
const PANE_METRICS: [(&str, &str); 5] = [
    ("mse", "rmse"),
    ("mae", "max_abs_error"),
    ("sqnr_db", "cosine"),
    ("clip_rate", "bias"),
    ("levels_used", "zero_rate"),
];

fn draw_metrics(frame: &mut Frame, view: &QuantView, area: Rect) {
    let a = &view.analysis;
    let m = &a.metrics;
    let w = &view.weights;
    const W: usize = 9;
    // What is left of a line after its label; parts that do not fit are left out whole.
    let room = (area.width.saturating_sub(2) as usize).saturating_sub(W);
    let line = |label: &str, parts: &[String], gap: &str| field(label, W, parts_that_fit(parts, gap, room));
    let codes = if view.settings.quant.scheme == Scheme::Manual { "manual, levels" } else { "codes" };
    let weights = format!("{} {}", format::shape(&w.shape), w.dtype);
    let source = short_source(&w.source, w.tensor.as_deref());
    let source = shorten_middle(&source, room.saturating_sub(weights.chars().count() + 1));
    let mut lines = vec![
        field("weights", W, format!("{weights} {source}")),
        line(
            "stats",
            &[format!("mean {}", num(w.mean)), format!("std {}", num(w.std)), format!("NaN/Inf {}", w.non_finite)],
            " ",
        ),
    ];
    lines.extend(PANE_METRICS.iter().map(|(first, second)| {
        let (first, second) = (metric(first), metric(second));
        line(first.short, &[first.pane_text(m), format!("{} {}", second.short, second.pane_text(m))], "   ")
    }));
    lines.extend([
        if a.channels.is_empty() {
            let f = &a.format;
            line("bits", &[format!("{} bpw", num(f.bpw)), format!("({}-bit codes, {})", f.code_bits, f.name)], " ")
        } else {
            line("bits", &[a.effective_bits.to_string(), format!("({codes} {}..{})", a.qmin, a.qmax)], " ")
        },
        line(
            "size",
            &[
                format!("{} → {}", format::bytes(a.storage.bytes_fp32), format::bytes(a.storage.bytes_quantized)),
                format!("({:.2}×)", a.storage.compression),
            ],
            "  ",
        ),
    ]);
    frame.render_widget(Paragraph::new(lines).block(panel("Metrics")), area);
}

/// The leading `parts` that fit in `width` columns, `gap` apart: a part is
/// shown whole or not at all.
fn parts_that_fit(parts: &[String], gap: &str, width: usize) -> String {
    let mut text = String::new();
    for part in parts {
        let next = if text.is_empty() { part.clone() } else { format!("{text}{gap}{part}") };
        if next.chars().count() > width {
            break;
        }
        text = next;
    }
    text
}

fn short_source(source: &str, tensor: Option<&str>) -> String {
    let name =
        std::path::Path::new(source).file_name().map_or(source.to_string(), |n| n.to_string_lossy().into_owned());
    match tensor {
        Some(t) => format!("{name}:{t}"),
        None => name,
    }
}

fn draw_alternatives(frame: &mut Frame, view: &QuantView, area: Rect) {
    let q = &view.settings.quant;
    let lines: Vec<Line> = match &view.alternatives {
        // Only the affine grid has a clip range to calibrate for the whole tensor.
        _ if view.analysis.channels.is_empty() && q.format.is_int() => {
            vec![Line::styled(format!("per group: {}", q.calibration), theme().muted)]
        }
        _ if view.analysis.channels.is_empty() => {
            vec![Line::styled("none: every group has its own scale", theme().muted)]
        }
        None => vec![Line::styled("computing every method ...", theme().muted)],
        Some(alts) => alts
            .iter()
            .map(|(method, (lo, hi))| {
                let chosen = *method == q.calibration && q.scheme != Scheme::Manual;
                let style = if chosen { theme().value } else { theme().label };
                Line::styled(
                    format!("{} {:<11} {}", if chosen { "▶" } else { " " }, method.name(), format::range(*lo, *hi)),
                    style,
                )
            })
            .collect(),
    };
    frame.render_widget(Paragraph::new(lines).block(panel("Calibrations (whole tensor)")), area);
}

fn draw_findings(frame: &mut Frame, view: &QuantView, area: Rect) {
    let lines: Vec<Line> = if view.findings.is_empty() {
        vec![Line::styled("✓ nothing looks wrong", theme().info)]
    } else {
        view.findings
            .iter()
            .map(|f| match f.severity {
                Severity::Warning => Line::styled(format!("⚠ {}", f.message), theme().warning),
                Severity::Note => Line::styled(format!("• {}", f.message), theme().note),
            })
            .collect()
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(panel("Findings")), area);
}

/// Chart points of a histogram: one bar per bin at its centre.
fn bars(h: &Histogram, transform: impl Fn(u64) -> f64) -> Vec<(f64, f64)> {
    h.counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, &c)| (h.center(i) as f64, transform(c))).collect()
}

fn vertical(x: f64, top: f64) -> Vec<(f64, f64)> {
    vec![(x, 0.0), (x, top)]
}

/// Ticks at both ends, and "0" in the middle when the range is centred on it.
fn x_ticks(lo: f64, hi: f64) -> Vec<Tick> {
    let mid = (lo + hi) / 2.0;
    if mid.abs() < 1e-2 * (hi - lo) {
        vec![Tick::Num(lo), Tick::Text("0".into()), Tick::Num(hi)]
    } else {
        vec![Tick::Num(lo), Tick::Num(hi)]
    }
}

/// The width inside a panel's border, where its chart is drawn.
fn inside(area: Rect) -> u16 {
    area.width.saturating_sub(2)
}

/// What the weight histogram marks: the clip lines, the levels, and whose they are.
struct Marks {
    clip: (f64, f64),
    levels: Vec<f64>,
    /// " ch 3", " group 0" or nothing.
    whose: String,
}

/// The grid of the channel at the top of the table, or of a format's first group.
fn marks(app: &App, a: &Analysis) -> Marks {
    let Some(last) = a.channels.len().checked_sub(1) else {
        let f = &a.format;
        let levels: Vec<f64> = f.levels.iter().map(|&l| l as f64).collect();
        let clip = (levels.first().copied().unwrap_or(0.0), levels.last().copied().unwrap_or(0.0));
        let whose = if f.groups > 1 { " group 0".to_string() } else { String::new() };
        return Marks { clip, levels, whose };
    };
    let channel = app.channel_offset.min(last);
    let ch = &a.channels[channel];
    let levels = if ch.params.levels() <= MAX_DRAWN_LEVELS {
        (ch.params.qmin..=ch.params.qmax).map(|q| ch.params.dequantize(q) as f64).collect()
    } else {
        Vec::new()
    };
    let whose = if a.channels.len() > 1 { format!(" ch {channel}") } else { String::new() };
    Marks { clip: (ch.clip().0 as f64, ch.clip().1 as f64), levels, whose }
}

fn draw_weight_histogram(frame: &mut Frame, app: &App, view: &QuantView, area: Rect) {
    let a = &view.analysis;
    let h = &a.weight_hist;
    // Per channel, the lines show the first channel of the table.
    let Marks { clip: (clip_lo, clip_hi), levels, whose: which } = marks(app, a);
    // The lines mark the grid's ends: values beyond them are clipped.
    // Widen the view to show the clip lines when they sit near the data; a
    // clip far outside (the seed example's [-128, 127]) is named, not drawn.
    let (data_lo, data_hi) = (h.lo as f64, h.hi as f64);
    let margin = data_hi - data_lo;
    let lo = if clip_lo < data_lo && clip_lo >= data_lo - margin { clip_lo } else { data_lo };
    let hi = if clip_hi > data_hi && clip_hi <= data_hi + margin { clip_hi } else { data_hi };
    let top = h.max_count().max(1) as f64;
    let hist = bars(h, |c| c as f64);
    let lo_line = vertical(clip_lo, top);
    let hi_line = vertical(clip_hi, top);
    let levels: Vec<(f64, f64)> = if levels.len() as i64 <= MAX_DRAWN_LEVELS {
        levels.iter().map(|&x| (x, top * 0.08)).filter(|(x, _)| (lo..=hi).contains(x)).collect()
    } else {
        Vec::new()
    };
    let off = |x: f64| if (lo..=hi).contains(&x) { "" } else { " off-chart" };
    let datasets = vec![
        series(Marker::Braille, GraphType::Bar, theme().weights, &hist),
        // Block lines: the legend can show the very glyph they are drawn with.
        series(Marker::Block, GraphType::Line, theme().clip_line, &lo_line),
        series(Marker::Block, GraphType::Line, theme().clip_line, &hi_line),
        series(Marker::Dot, GraphType::Bar, theme().levels, &levels),
    ];
    let mut legend = vec![
        Span::styled(format!("█ clip lo{which} {}{}", num(clip_lo), off(clip_lo)), theme().clip_line),
        Span::styled(format!("█ clip hi{which} {}{}", num(clip_hi), off(clip_hi)), theme().clip_line),
    ];
    if !levels.is_empty() {
        // The glyph the Dot marker draws the levels with.
        legend.push(Span::styled(format!("• {}", format::plural(levels.len(), "level")), theme().levels));
    }
    let (x_labels, y_labels) =
        chart_labels(inside(area), &x_ticks(lo, hi), &[Tick::Count(0), Tick::Count(h.max_count())]);
    let chart = Chart::new(datasets)
        .x_axis(Axis::default().bounds([lo, hi]).labels(x_labels).style(theme().muted))
        .y_axis(Axis::default().bounds([0.0, top]).labels(y_labels).style(theme().muted))
        .legend_position(None);
    draw_chart(frame, chart, "Weights (count per bin)", &legend, area);
}

fn draw_error_histogram(frame: &mut Frame, a: &Analysis, area: Rect) {
    let e = &a.error_hist;
    let (lo, hi) = (e.rounding.lo as f64, e.rounding.hi as f64);
    // Log counts: a handful of clipped values must stay visible next to a million rounded ones.
    let log = |c: u64| (1.0 + c as f64).log10();
    let most = e.rounding.max_count().max(e.clipped.max_count());
    let top = log(most.max(1));
    let rounding = bars(&e.rounding, log);
    let clipped = bars(&e.clipped, log);
    let datasets = vec![
        series(Marker::Braille, GraphType::Bar, theme().rounding, &rounding),
        series(Marker::Block, GraphType::Bar, theme().clipped, &clipped),
    ];
    // A count too long for the legend's line is rounded (1.17e7), never cut.
    let room = area.width.saturating_sub(4) as usize;
    let entry = |label: &str, n: u64| {
        let count = format::fit_count(n, room.saturating_sub(label.chars().count() + 1)).unwrap_or_default();
        format!("{label} {count}")
    };
    let legend = [
        Span::styled(entry("⣿ rounding", e.rounding.total()), theme().rounding),
        Span::styled(entry("█ clipped", e.clipped.total()), theme().clipped),
    ];
    // "log" halfway up names the scale without taking a row.
    let y_ticks = [Tick::Count(0), Tick::Text("log".into()), Tick::Count(most)];
    let (x_labels, y_labels) = chart_labels(inside(area), &x_ticks(lo, hi), &y_ticks);
    let chart = Chart::new(datasets)
        .x_axis(Axis::default().bounds([lo, hi]).labels(x_labels).style(theme().muted))
        .y_axis(Axis::default().bounds([0.0, top.max(0.1)]).labels(y_labels).style(theme().muted))
        .legend_position(None);
    let title = fitting_title(&["Error x−x̂ (count per bin)", "Error x−x̂"], area.width);
    draw_chart(frame, chart, title, &legend, area);
}

/// A format with no clip to move: in place of the curve, what it stores.
fn draw_format(frame: &mut Frame, view: &QuantView, area: Rect) {
    let f = &view.analysis.format;
    let summary = view.settings.quant.format.format().summary();
    let params: Vec<String> = f.params.iter().map(|(k, v)| format!("{k} {}", num(*v))).collect();
    // The figures first: on a short panel the summary is what goes.
    let lines = vec![
        field("size", 7, format!("{} bpw, {}-bit codes", num(f.bpw), f.code_bits)),
        field("as", 7, f.ecosystem.clone()),
        field("groups", 7, format!("{} of {}", f.groups, f.group_size)),
        field("first", 7, params.join(", ")),
        Line::styled(summary.to_string(), theme().label),
    ];
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(panel("Format")), area);
}

fn draw_curve(frame: &mut Frame, view: &QuantView, area: Rect) {
    let title = "MSE (log) vs clip, × min-max";
    let Some(c) = view.curve.as_deref() else {
        let text =
            format!("measuring 40 clip widths on all {} values ...", view.analysis.count - view.analysis.non_finite);
        let text = Paragraph::new(text).style(theme().muted).wrap(Wrap { trim: true });
        frame.render_widget(text.block(panel(title)), area);
        return;
    };
    if c.points.is_empty() {
        return draw_format(frame, view, area);
    }
    // log10 of the MSE; an exact zero is drawn at the floor of the chart.
    let floor = c.points.iter().map(|p| p.1).filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min).max(1e-30);
    let y = |v: f64| v.max(floor).log10();
    let points: Vec<(f64, f64)> = c.points.iter().map(|&(t, m)| (t, y(m))).collect();
    let (ymin, ymax) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let (ymin, ymax) = if ymin < ymax { (ymin, ymax) } else { (ymin - 1.0, ymin + 1.0) };
    let xmax = 1.0;
    let current_x = c.current.0.min(xmax);
    let current = vec![(current_x, ymin), (current_x, ymax)];
    let best = vec![(c.optimum.0, ymin), (c.optimum.0, ymax)];
    let off = if c.current.0 > xmax { " ▸" } else { "" };
    let datasets = vec![
        series(Marker::Braille, GraphType::Line, theme().curve, &points),
        series(Marker::HalfBlock, GraphType::Line, theme().current, &current),
        series(Marker::Dot, GraphType::Line, theme().optimum, &best),
    ];
    // The glyphs the markers draw: a full-height HalfBlock line is all █.
    let legend = [
        Span::styled(format!("█ now {:.2}{off}", c.current.0), theme().current),
        Span::styled(format!("• best {:.2}", c.optimum.0), theme().optimum),
    ];
    let power = |v: f64| Tick::Text(format!("1e{}", v.round() as i64));
    let x_ticks = ["0", "0.5", "1"].map(|t| Tick::Text(t.into()));
    let (x_labels, y_labels) = chart_labels(inside(area), &x_ticks, &[power(ymin), power(ymax)]);
    let chart = Chart::new(datasets)
        .x_axis(Axis::default().bounds([0.0, xmax]).labels(x_labels).style(theme().muted))
        .y_axis(Axis::default().bounds([ymin, ymax]).labels(y_labels).style(theme().muted))
        .legend_position(None);
    let title = fitting_title(&["MSE (log) vs clip, × min-max", "MSE (log) vs clip", "MSE (log)"], area.width);
    draw_chart(frame, chart, title, &legend, area);
}

/// The per-channel table's columns: header, and the width its figures are written in.
const CHANNEL_COLUMNS: [(&str, u16); 9] = [
    ("ch", 0),
    ("range lo", 9),
    ("range hi", 9),
    ("scale", 8),
    ("zp", 0),
    ("mse", 8),
    ("sqnr", 6),
    ("clipped", 7),
    ("levels", 0),
];
/// On a narrow terminal the columns go in this order, the range and scale last.
const CHANNEL_DROP_ORDER: [usize; 5] = [8, 4, 6, 7, 5];

/// The widths of the table's columns; the integer ones as wide as their widest value.
fn channel_widths(a: &Analysis) -> [u16; 9] {
    let digits = |n: &dyn ToString| n.to_string().chars().count() as u16;
    let levels = a.channels.iter().map(|c| c.metrics.levels_available).max().unwrap_or(0);
    let integer =
        [digits(&a.channels.len().saturating_sub(1)), digits(&a.qmin).max(digits(&a.qmax)), 2 * digits(&levels) + 1];
    let mut widths = CHANNEL_COLUMNS.map(|(header, width)| width.max(header.chars().count() as u16));
    for (column, width) in [0, 4, 8].into_iter().zip(integer) {
        widths[column] = widths[column].max(width);
    }
    widths
}

/// One channel's row, each figure written to fit its column.
fn channel_cells(index: usize, c: &Channel, widths: &[u16; 9]) -> [String; 9] {
    let m = &c.metrics;
    let fit = |v: f64, column: usize| format::fit(v, widths[column] as usize).unwrap_or_default();
    [
        index.to_string(),
        fit(c.range.0 as f64, 1),
        fit(c.range.1 as f64, 2),
        fit(c.params.scale as f64, 3),
        c.params.zero_point.to_string(),
        fit(m.mse, 5),
        fit(m.sqnr_db, 6),
        format::pct(m.clip_rate),
        format!("{}/{}", m.levels_used, m.levels_available),
    ]
}

fn draw_channels(frame: &mut Frame, app: &App, a: &Analysis, area: Rect) {
    // Only the visible rows are built: the table stays fast with 30,000 channels.
    let visible = table_rows(area);
    let start = app.channel_offset.min(a.channels.len().saturating_sub(1));
    let widths = channel_widths(a);
    let keep = fitting(inside(area), &widths, &CHANNEL_DROP_ORDER);
    let rows = a
        .channels
        .iter()
        .enumerate()
        .skip(start)
        .take(visible)
        .map(|(i, c)| Row::new(kept(channel_cells(i, c, &widths), &keep)));
    let header = Row::new(kept(CHANNEL_COLUMNS.map(|(h, _)| h), &keep)).style(theme().header);
    let shown = format!(
        "Channels {}–{} of {}",
        start,
        (start + visible).min(a.channels.len()).saturating_sub(1),
        a.channels.len()
    );
    let with_keys = format!("{shown} (PgUp/PgDn)");
    let title = fitting_title(&[&with_keys, &shown], area.width);
    let table = Table::new(rows, kept(widths.map(Constraint::Length), &keep)).header(header).block(panel(title));
    frame.render_widget(table, area);
}
