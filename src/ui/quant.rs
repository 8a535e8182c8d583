//! The Quantize pane: controls, metrics, calibrations, findings, the three
//! pictures and the per-channel table.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Cell, Chart, GraphType, LegendPosition, List, ListItem, ListState, Paragraph, Row, Table, Wrap,
};

use super::theme::theme;
use super::widgets::{columns, controls_height, dataset, field, panel};
use crate::app::App;
use crate::compute::analysis::Analysis;
use crate::compute::diagnose::Severity;
use crate::compute::histogram::Histogram;
use crate::compute::quant::Scheme;
use crate::controls::AnyControl;
use crate::format::{self, num};
use crate::worker::QuantView;

/// Quantization levels are drawn when there are at most this many.
const MAX_DRAWN_LEVELS: i64 = 64;
const METRICS_HEIGHT: u16 = 11;
/// Rows the left column keeps for the metrics below the controls.
pub const RESERVED_ROWS: u16 = METRICS_HEIGHT;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let [left, right] = columns(area);
    let controls = app.controls();
    // On a short terminal the control list scrolls rather than pushing the metrics out.
    let controls_height = controls_height(controls.len(), left, RESERVED_ROWS);
    let [controls_area, metrics_area, alternatives_area] =
        Layout::vertical([Constraint::Length(controls_height), Constraint::Length(METRICS_HEIGHT), Constraint::Min(0)])
            .areas(left);
    draw_controls(frame, app, &controls, "Quantizer", controls_area);
    let Some(view) = &app.view else {
        let text = if app.busy() { "loading the weights ..." } else { "no result yet" };
        frame.render_widget(Paragraph::new(text).style(theme().muted).block(panel("Result")), right);
        return;
    };
    draw_metrics(frame, view, metrics_area);
    draw_alternatives(frame, view, alternatives_area);
    let text_width = right.width.saturating_sub(2).max(1) as usize;
    let wrapped: usize = view.findings.iter().map(|f| (f.message.chars().count() + 2).div_ceil(text_width)).sum();
    let findings = wrapped.clamp(1, 8) as u16 + 2;
    let per_channel = view.analysis.channels.len() > 1;
    let [weights_area, middle, findings_area, table_area] = Layout::vertical([
        Constraint::Percentage(if per_channel { 34 } else { 45 }),
        Constraint::Percentage(if per_channel { 33 } else { 55 }),
        Constraint::Length(findings),
        Constraint::Min(if per_channel { 5 } else { 0 }),
    ])
    .areas(right);
    let [error_area, curve_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(middle);
    draw_weight_histogram(frame, app, view, weights_area);
    draw_error_histogram(frame, &view.analysis, error_area);
    draw_curve(frame, view, curve_area);
    draw_findings(frame, view, findings_area);
    if per_channel {
        draw_channels(frame, app, &view.analysis, table_area);
    }
}

pub fn draw_controls(frame: &mut Frame, app: &App, controls: &[AnyControl], title: &str, area: Rect) {
    let ctx = app.context();
    let items: Vec<ListItem> = controls
        .iter()
        .map(|&c| {
            let selected = c == app.selected();
            let value_style = if c.is_derived(&app.settings) { theme().derived } else { theme().value };
            let value = c.value(&app.settings, ctx);
            ListItem::new(Line::from(vec![
                Span::styled(format!("{:<14}", c.label()), theme().label),
                Span::styled(if selected { format!("◀ {value} ▶") } else { format!("  {value}") }, value_style),
            ]))
        })
        .collect();
    let selected = controls.iter().position(|c| *c == app.selected());
    let list = List::new(items).block(panel(title)).highlight_style(theme().selected).highlight_symbol("▶ ");
    frame.render_stateful_widget(list, area, &mut ListState::default().with_selected(selected));
}

fn draw_metrics(frame: &mut Frame, view: &QuantView, area: Rect) {
    let a = &view.analysis;
    let m = &a.metrics;
    let w = &view.weights;
    const W: usize = 9;
    let bits = if view.settings.quant.scheme == Scheme::Manual {
        format!("{} (manual, levels {}..{})", a.effective_bits, a.qmin, a.qmax)
    } else {
        format!("{} (codes {}..{})", a.effective_bits, a.qmin, a.qmax)
    };
    let lines = vec![
        field(
            "weights",
            W,
            format!("{} {} {}", format::shape(&w.shape), w.dtype, short_source(&w.source, w.tensor.as_deref())),
        ),
        field("stats", W, format!("mean {} std {} NaN/Inf {}", num(w.mean), num(w.std), w.non_finite)),
        field("mse", W, format!("{}   rmse {}", num(m.mse), num(m.rmse))),
        field("mae", W, format!("{}   max|e| {}", num(m.mae), num(m.max_abs_error))),
        field("sqnr", W, format!("{}   cosine {}", format::db(m.sqnr_db), format::cosine(m.cosine))),
        field("clipped", W, format!("{} ({})   bias {}", format::pct(m.clip_rate), m.clipped, num(m.bias))),
        field(
            "levels",
            W,
            format!("{} of {} used   zero {}", m.levels_used, m.levels_available, format::pct(m.zero_rate)),
        ),
        field("bits", W, bits),
        field(
            "size",
            W,
            format!(
                "{} → {}  ({:.2}×)",
                format::bytes(a.storage.bytes_fp32),
                format::bytes(a.storage.bytes_quantized),
                a.storage.compression
            ),
        ),
    ];
    frame.render_widget(Paragraph::new(lines).block(panel("Metrics")), area);
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

/// Labels at both ends, and "0" in the middle when the range is centred on it.
fn axis_labels(lo: f64, hi: f64) -> Vec<Span<'static>> {
    let mid = (lo + hi) / 2.0;
    if mid.abs() < 1e-2 * (hi - lo) {
        vec![Span::raw(num(lo)), Span::raw("0"), Span::raw(num(hi))]
    } else {
        vec![Span::raw(num(lo)), Span::raw(num(hi))]
    }
}

fn draw_weight_histogram(frame: &mut Frame, app: &App, view: &QuantView, area: Rect) {
    let a = &view.analysis;
    let h = &a.weight_hist;
    // Per channel, the lines show the first channel of the table.
    let channel = app.channel_offset.min(a.channels.len() - 1);
    let ch = &a.channels[channel];
    // The lines mark the grid's ends: values beyond them are clipped.
    let (clip_lo, clip_hi) = (ch.clip().0 as f64, ch.clip().1 as f64);
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
    let levels: Vec<(f64, f64)> = if ch.params.levels() <= MAX_DRAWN_LEVELS {
        (ch.params.qmin..=ch.params.qmax)
            .map(|q| (ch.params.dequantize(q) as f64, top * 0.08))
            .filter(|(x, _)| (lo..=hi).contains(x))
            .collect()
    } else {
        Vec::new()
    };
    let which = if a.channels.len() > 1 { format!(" ch {channel}") } else { String::new() };
    let off = |x: f64| if (lo..=hi).contains(&x) { "" } else { " off-chart" };
    let mut datasets = vec![
        dataset("weights".into(), Marker::Braille, GraphType::Bar, theme().weights, &hist),
        dataset(
            format!("⇤ clip lo{which} {}{}", num(clip_lo), off(clip_lo)),
            Marker::Braille,
            GraphType::Line,
            theme().clip_line,
            &lo_line,
        ),
        dataset(
            format!("⇥ clip hi{which} {}{}", num(clip_hi), off(clip_hi)),
            Marker::Braille,
            GraphType::Line,
            theme().clip_line,
            &hi_line,
        ),
    ];
    if !levels.is_empty() {
        datasets.push(dataset(
            format!("┆ {} levels", levels.len()),
            Marker::Dot,
            GraphType::Bar,
            theme().levels,
            &levels,
        ));
    }
    let chart = Chart::new(datasets)
        .block(panel("Weights (count per bin)"))
        .x_axis(Axis::default().bounds([lo, hi]).labels(axis_labels(lo, hi)).style(theme().muted))
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels([Span::raw("0"), Span::raw(format!("{}", top as u64))])
                .style(theme().muted),
        )
        .legend_position(Some(LegendPosition::TopRight))
        .hidden_legend_constraints((Constraint::Percentage(60), Constraint::Percentage(60)));
    frame.render_widget(chart, area);
}

fn draw_error_histogram(frame: &mut Frame, a: &Analysis, area: Rect) {
    let e = &a.error_hist;
    let (lo, hi) = (e.rounding.lo as f64, e.rounding.hi as f64);
    // Log counts: a handful of clipped values must stay visible next to a million rounded ones.
    let log = |c: u64| (1.0 + c as f64).log10();
    let top = log(e.rounding.max_count().max(e.clipped.max_count()).max(1));
    let rounding = bars(&e.rounding, log);
    let clipped = bars(&e.clipped, log);
    let datasets = vec![
        dataset(
            format!("⣿ rounding {}", e.rounding.total()),
            Marker::Braille,
            GraphType::Bar,
            theme().rounding,
            &rounding,
        ),
        dataset(format!("█ clipped {}", e.clipped.total()), Marker::Block, GraphType::Bar, theme().clipped, &clipped),
    ];
    // The legend sits in the title: a flat error histogram leaves no free corner.
    let title = format!("x−x̂ ⣿rounding {} █clipped {}", e.rounding.total(), e.clipped.total());
    let chart = Chart::new(datasets)
        .block(panel(&title))
        .x_axis(Axis::default().bounds([lo, hi]).labels(axis_labels(lo, hi)).style(theme().muted))
        .y_axis(
            Axis::default()
                .bounds([0.0, top.max(0.1)])
                .labels([Span::raw("0"), Span::raw(format!("1e{top:.1}"))])
                .style(theme().muted),
        )
        .legend_position(None);
    frame.render_widget(chart, area);
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
        dataset("mse".into(), Marker::Braille, GraphType::Line, theme().curve, &points),
        dataset(
            format!("▌ now {:.2}{off}", c.current.0),
            Marker::HalfBlock,
            GraphType::Line,
            theme().current,
            &current,
        ),
        dataset(format!("┆ best {:.2}", c.optimum.0), Marker::Dot, GraphType::Line, theme().optimum, &best),
    ];
    let chart = Chart::new(datasets)
        .block(panel(title))
        .x_axis(
            Axis::default()
                .bounds([0.0, xmax])
                .labels([Span::raw("0"), Span::raw("0.5"), Span::raw("1")])
                .style(theme().muted),
        )
        .y_axis(
            Axis::default()
                .bounds([ymin, ymax])
                .labels([
                    Span::raw(format!("1e{}", ymin.round() as i64)),
                    Span::raw(format!("1e{}", ymax.round() as i64)),
                ])
                .style(theme().muted),
        )
        // Small fractions clip hard, so the bottom-left corner is always free.
        .legend_position(Some(LegendPosition::BottomLeft))
        .hidden_legend_constraints((Constraint::Percentage(90), Constraint::Percentage(80)));
    frame.render_widget(chart, area);
}

fn draw_channels(frame: &mut Frame, app: &App, a: &Analysis, area: Rect) {
    // Only the visible rows are built: the table stays fast with 30,000 channels.
    let visible = area.height.saturating_sub(3) as usize;
    let start = app.channel_offset.min(a.channels.len().saturating_sub(1));
    let rows = a.channels.iter().enumerate().skip(start).take(visible).map(|(i, c)| {
        let m = &c.metrics;
        Row::new(vec![
            Cell::from(i.to_string()),
            Cell::from(num(c.range.0 as f64)),
            Cell::from(num(c.range.1 as f64)),
            Cell::from(num(c.params.scale as f64)),
            Cell::from(c.params.zero_point.to_string()),
            Cell::from(num(m.mse)),
            Cell::from(if m.sqnr_db.is_finite() { format!("{:.2}", m.sqnr_db) } else { "inf".into() }),
            Cell::from(format::pct(m.clip_rate)),
            Cell::from(format!("{}/{}", m.levels_used, m.levels_available)),
        ])
    });
    let header = Row::new(["ch", "range lo", "range hi", "scale", "zp", "mse", "sqnr", "clipped", "levels"])
        .style(theme().header);
    let widths = [6, 10, 10, 10, 5, 10, 10, 8, 9].map(Constraint::Length);
    let title = format!(
        "Channels {}–{} of {} (PgUp/PgDn)",
        start,
        (start + visible).min(a.channels.len()).saturating_sub(1),
        a.channels.len()
    );
    frame.render_widget(Table::new(rows, widths).header(header).block(panel(&title)), area);
}
